// SPDX-License-Identifier: MIT OR Apache-2.0
//! The destination set of one virtual service, in the kernel's list order, with
//! the connection counters and the OVERLOAD flag the kernel keeps per real server.
//!
//! Kernel sources: `struct ip_vs_dest` (`include/net/ip_vs.h`), `__ip_vs_update_dest`
//! (`net/netfilter/ipvs/ip_vs_ctl.c`), `ip_vs_bind_dest` / `ip_vs_unbind_dest`
//! (`net/netfilter/ipvs/ip_vs_conn.c`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};

use crate::Error;

/// Largest weight or threshold the kernel accepts (`INT_MAX`: weights ≥ 2^31 are
/// rejected with `ERANGE`, upper thresholds with `EINVAL`).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// A handle to a destination of a [`Service`](crate::Service).
///
/// Handles are never reused for another destination. A removed destination
/// that still has connections keeps its handle, as the kernel keeps the dest in
/// its trash: connection events on it still count, and adding the same address
/// and port again brings it back with that handle and its counters. Once a
/// removed destination has no connections, its handle is reported as
/// [`Error::UnknownDest`].
///
/// One non-zero word, slot in the high half and generation (never zero) in the
/// low half: `Option<DestId>` is 8 bytes, a pick returns in one register, and
/// checking a handle is one comparison. (A 12-byte return goes through memory,
/// and reading it back whole stalls store forwarding: about 5 ns per pick.)
/// Ordered by slot, then generation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(NonZeroU64);

impl DestId {
    #[inline]
    pub(crate) fn new(slot: u32, generation: NonZeroU32) -> Self {
        DestId(NonZeroU64::from(generation) | (u64::from(slot) << 32))
    }
    /// The slot index (dense, reused after removal; unique among live destinations).
    #[inline]
    pub fn index(self) -> usize {
        self.slot() as usize
    }
    #[inline]
    pub(crate) fn slot(self) -> u32 {
        (self.0.get() >> 32) as u32
    }
    #[inline]
    pub(crate) fn generation(self) -> NonZeroU32 {
        NonZeroU32::new(self.0.get() as u32).unwrap_or(NonZeroU32::MIN)
    }
}

impl std::fmt::Debug for DestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestId")
            .field("slot", &self.slot())
            .field("generation", &self.generation())
            .finish()
    }
}

/// What a destination is configured with: `ipvsadm -a|-e -t VIP -r ADDR:PORT -w WEIGHT -x U -y L`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConfig {
    /// Real server address (`IPVS_DEST_ATTR_ADDR`).
    pub addr: IpAddr,
    /// Real server port (`IPVS_DEST_ATTR_PORT`); mh hashes it into the dest's permutation.
    pub port: u16,
    /// Weight (`IPVS_DEST_ATTR_WEIGHT`, `ipvsadm -w`), 0..=`i32::MAX`. 0 quiesces the dest.
    pub weight: u32,
    /// Upper connection threshold (`IPVS_DEST_ATTR_U_THRESH`, `ipvsadm -x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`IPVS_DEST_ATTR_L_THRESH`, `ipvsadm -y`), 0 = none.
    pub l_threshold: u32,
}

impl DestConfig {
    /// A destination with the given weight and no thresholds.
    pub fn new(addr: IpAddr, port: u16, weight: u32) -> Self {
        DestConfig {
            addr,
            port,
            weight,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    /// Sets the upper and lower thresholds (`ipvsadm -x U -y L`).
    pub fn thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.u_threshold = upper;
        self.l_threshold = lower;
        self
    }

    /// The checks of `ip_vs_add_dest` / `ip_vs_edit_dest`, in the kernel's order.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.weight > MAX_WEIGHT {
            return Err(Error::WeightOutOfRange(self.weight));
        }
        if self.l_threshold > self.u_threshold {
            return Err(Error::ThresholdOrder {
                upper: self.u_threshold,
                lower: self.l_threshold,
            });
        }
        if self.u_threshold > MAX_WEIGHT {
            return Err(Error::ThresholdOutOfRange(self.u_threshold));
        }
        Ok(())
    }
}

/// The state of one connection as the kernel counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// Counted in `inactconns` (a new TCP connection before ESTABLISHED, closing
    /// connections, UDP "connections").
    Inactive,
    /// Counted in `activeconns` (TCP ESTABLISHED).
    Active,
}

/// One real server, as the schedulers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) weight: u32,
    pub(crate) last_weight: u32,
    pub(crate) u_threshold: u32,
    pub(crate) l_threshold: u32,
    pub(crate) active: u32,
    pub(crate) inactive: u32,
    pub(crate) overloaded: bool,
    /// Insertion sequence number: a larger value is closer to the list head.
    pub(crate) seq: u64,
    /// Index in `Dests::order` (insertion order; the kernel list is its reverse);
    /// meaningless while `!in_list`.
    pub(crate) rank: u32,
    /// In the service's list; false for a removed destination that still has
    /// connections (`IP_VS_DEST_F_AVAILABLE` cleared, the dest on `dest_trash`).
    pub(crate) in_list: bool,
    /// This destination's handle.
    pub(crate) id: DestId,
}

impl Dest {
    /// Real server address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// Real server port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Current weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }
    /// Latest non-zero weight (`dest->last_weight`; mh builds its table from it).
    pub fn last_weight(&self) -> u32 {
        self.last_weight
    }
    /// Upper threshold (0 = none).
    pub fn u_threshold(&self) -> u32 {
        self.u_threshold
    }
    /// Lower threshold (0 = none).
    pub fn l_threshold(&self) -> u32 {
        self.l_threshold
    }
    /// `activeconns`.
    pub fn active(&self) -> u32 {
        self.active
    }
    /// `inactconns`.
    pub fn inactive(&self) -> u32 {
        self.inactive
    }
    /// `IP_VS_DEST_F_OVERLOAD`.
    pub fn overloaded(&self) -> bool {
        self.overloaded
    }
    /// `ip_vs_dest_conn_overhead()`: `activeconns × 256 + inactconns`.
    pub fn overhead(&self) -> u64 {
        ((self.active as u64) << 8) + self.inactive as u64
    }
    /// Insertion sequence number; a larger value is closer to the list head.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// Whether the destination is in the service's list (`IP_VS_DEST_F_AVAILABLE`).
    /// False for a removed destination that still has connections: the kernel
    /// keeps it in its trash, and no scheduler sees it until it is added again.
    pub fn in_list(&self) -> bool {
        self.in_list
    }
    pub(crate) fn total(&self) -> u64 {
        self.active as u64 + self.inactive as u64
    }
    /// The part of `__ip_vs_update_dest` the schedulers see, for an edit and for
    /// a dest brought back from the trash: weight and thresholds replaced (the
    /// latest non-zero weight kept), OVERLOAD cleared when the new upper
    /// threshold is 0 or larger than the old one.
    fn reconfigure(&mut self, weight: u32, u_threshold: u32, l_threshold: u32) {
        self.weight = weight;
        if weight != 0 {
            self.last_weight = weight;
        }
        if u_threshold == 0 || u_threshold > self.u_threshold {
            self.overloaded = false;
        }
        self.u_threshold = u_threshold;
        self.l_threshold = l_threshold;
    }
}

/// The destinations of a service in the kernel's list order (new ones at the head).
///
/// Records live in a slot table indexed by [`DestId::index`], so a connection
/// event is one bounds check and one handle comparison; `order` holds the
/// handles by rank (insertion order; the kernel list is its reverse).
///
/// A live record's generation is odd, a freed one's even: a handle is only
/// ever issued with an odd generation, so it can never match a freed record
/// (not even a handle from another service), and freeing a destination makes
/// every handle to it stale.
///
/// Removing a destination that still has connections does not free it: like
/// the kernel's `dest_trash` (`ip_vs_del_dest` → `__ip_vs_del_dest`), the
/// record leaves the list but keeps its handle and counters, and adding the
/// same address and port brings it back (`ip_vs_trash_get_dest`). Trashed
/// records without connections are freed at the next add or remove; the
/// kernel frees them after `IP_VS_DEST_TRASH_PERIOD` (2 minutes), which only a
/// re-add with weight 0 could tell apart (mh reads the kept `last_weight`).
#[derive(Clone, Debug, Default)]
pub struct Dests {
    /// Records by slot. Invariant: `slots[s].id.slot() == s`.
    slots: Vec<Dest>,
    /// Live handles by rank. Invariant: `slots[order[r].slot()]` is live, its
    /// `id` is `order[r]` and its `rank` is `r`.
    order: Vec<DestId>,
    free: Vec<u32>,
    next_seq: u64,
    by_addr: HashMap<(IpAddr, u16), DestId>,
    /// Removed destinations kept for their connections, by address and port.
    trash: HashMap<(IpAddr, u16), DestId>,
}

/// The generation of a slot's first destination (odd: live).
const FIRST_GENERATION: NonZeroU32 = NonZeroU32::MIN;

/// The next generation of a slot, flipping between live (odd) and removed
/// (even). `u32::MAX` is odd, so wrapping goes to 2 (removed).
fn next_generation(g: NonZeroU32) -> NonZeroU32 {
    g.checked_add(1)
        .unwrap_or(NonZeroU32::MIN.saturating_add(1))
}

impl Dests {
    /// Number of destinations.
    #[inline]
    pub fn len(&self) -> usize {
        self.order.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// The destination behind a handle: in the list, or removed with
    /// connections left ([`Dest::in_list`] tells which).
    #[inline]
    pub fn get(&self, id: DestId) -> Option<&Dest> {
        let d = self.slots.get(id.slot() as usize)?;
        (d.id == id).then_some(d)
    }
    #[inline]
    pub(crate) fn get_mut(&mut self, id: DestId) -> Result<&mut Dest, Error> {
        match self.slots.get_mut(id.slot() as usize) {
            Some(d) if d.id == id => Ok(d),
            _ => Err(Error::UnknownDest),
        }
    }
    /// The handle of the destination in the list with this address and port.
    pub fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.by_addr.get(&(addr, port)).copied()
    }
    /// The handle of the removed destination with this address and port that
    /// still has connections.
    pub fn find_removed(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.trash.get(&(addr, port)).copied()
    }
    /// The removed destinations that still have connections (no order).
    pub fn removed(&self) -> impl Iterator<Item = (DestId, &Dest)> + '_ {
        self.trash.values().map(|&id| self.at_slot_live(id))
    }
    /// Whether `id` (a valid handle) is in the list.
    #[inline]
    pub(crate) fn in_list(&self, id: DestId) -> bool {
        self.get(id).is_some_and(|d| d.in_list)
    }
    /// The destinations in list order (head first), with their handles.
    #[inline]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (DestId, &Dest)> + '_ {
        self.order.iter().rev().map(|&id| self.at_slot_live(id))
    }
    #[inline]
    fn at_slot_live(&self, id: DestId) -> (DestId, &Dest) {
        (id, &self.slots[id.slot() as usize])
    }
    /// The destination at `rank` (index in insertion order: the list head has the
    /// highest rank).
    #[inline]
    pub(crate) fn at_rank(&self, rank: usize) -> (DestId, &Dest) {
        self.at_slot_live(self.order[rank])
    }
    /// The destination at `rank`, if there is one.
    #[inline]
    pub(crate) fn get_at_rank(&self, rank: usize) -> Option<(DestId, &Dest)> {
        self.order.get(rank).map(|&id| self.at_slot_live(id))
    }
    /// The handle at `rank`: what rr's pick needs, without the record's
    /// bounds check that [`Dests::get_at_rank`] pays.
    #[inline]
    pub(crate) fn id_at_rank(&self, rank: usize) -> Option<DestId> {
        self.order.get(rank).copied()
    }
    /// The destination in the list in slot `s`, if any.
    #[inline]
    pub(crate) fn at_slot(&self, s: u32) -> Option<(DestId, &Dest)> {
        let d = self.slots.get(s as usize)?;
        (d.id.generation().get() % 2 == 1 && d.in_list).then_some((d.id, d))
    }
    /// Whether some destination in the list satisfies `pred`: a pass over the
    /// records in slot order, with no handle to follow per destination (a
    /// removed or freed record is out of the list).
    #[inline]
    pub(crate) fn any_in_list(&self, pred: impl Fn(&Dest) -> bool) -> bool {
        self.slots.iter().any(|d| d.in_list && pred(d))
    }
    /// Number of slots (an upper bound for [`DestId::index`]).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// `ip_vs_add_dest`: a removed destination with this address and port that
    /// still has connections comes back from the trash with its handle and
    /// counters, updated as by an edit; otherwise a new record. Either way it
    /// goes to the list head.
    pub(crate) fn add(&mut self, cfg: &DestConfig) -> Result<DestId, Error> {
        cfg.validate()?;
        let key = (cfg.addr, cfg.port);
        if self.by_addr.contains_key(&key) {
            return Err(Error::Exists);
        }
        if self.order.len() >= u32::MAX as usize - 1 {
            return Err(Error::TooManyDests);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let rank = self.order.len() as u32;
        let id = if let Some(id) = self.trash.remove(&key) {
            let d = &mut self.slots[id.slot() as usize];
            d.reconfigure(cfg.weight, cfg.u_threshold, cfg.l_threshold);
            (d.seq, d.rank, d.in_list) = (seq, rank, true);
            id
        } else {
            let id = match self.free.pop() {
                Some(slot) => DestId::new(
                    slot,
                    next_generation(self.slots[slot as usize].id.generation()),
                ),
                None => DestId::new(self.slots.len() as u32, FIRST_GENERATION),
            };
            let dest = Dest {
                addr: cfg.addr,
                port: cfg.port,
                weight: cfg.weight,
                last_weight: cfg.weight,
                u_threshold: cfg.u_threshold,
                l_threshold: cfg.l_threshold,
                active: 0,
                inactive: 0,
                overloaded: false,
                seq,
                rank,
                in_list: true,
                id,
            };
            match self.slots.get_mut(id.slot() as usize) {
                Some(d) => *d = dest,
                None => self.slots.push(dest),
            }
            id
        };
        self.order.push(id);
        self.by_addr.insert(key, id);
        self.free_idle_trash();
        Ok(id)
    }

    /// `ip_vs_del_dest`: unlinks a destination in the list; one that still has
    /// connections goes to the trash, the others are freed.
    pub(crate) fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        let d = self.get_mut(id)?;
        if !d.in_list {
            return Err(Error::UnknownDest);
        }
        d.in_list = false;
        let dest = d.clone();
        let rank = dest.rank as usize;
        self.order.remove(rank);
        for r in rank..self.order.len() {
            self.slots[self.order[r].slot() as usize].rank = r as u32;
        }
        let key = (dest.addr, dest.port);
        self.by_addr.remove(&key);
        self.trash.insert(key, id);
        self.free_idle_trash();
        Ok(dest)
    }

    /// Frees the trashed records that have no connections left.
    fn free_idle_trash(&mut self) {
        let slots = &mut self.slots;
        let free = &mut self.free;
        self.trash.retain(|_, id| {
            let d = &mut slots[id.slot() as usize];
            if d.total() > 0 {
                return true;
            }
            d.id = DestId::new(id.slot(), next_generation(id.generation()));
            free.push(id.slot());
            false
        });
    }

    /// `__ip_vs_update_dest` for an edit: weight and thresholds replaced; OVERLOAD
    /// cleared when the new upper threshold is 0 or larger than the old one.
    pub(crate) fn update(
        &mut self,
        id: DestId,
        weight: u32,
        u_threshold: u32,
        l_threshold: u32,
    ) -> Result<(), Error> {
        let d = self.get_mut(id)?;
        if !d.in_list {
            return Err(Error::UnknownDest);
        }
        DestConfig {
            addr: d.addr,
            port: d.port,
            weight,
            u_threshold,
            l_threshold,
        }
        .validate()?;
        d.reconfigure(weight, u_threshold, l_threshold);
        Ok(())
    }

    /// `ip_vs_bind_dest`: count a new connection, then set OVERLOAD when the
    /// total reaches the upper threshold.
    /// Returns whether OVERLOAD changed.
    #[inline]
    pub(crate) fn conn_new(&mut self, id: DestId, state: ConnState) -> Result<bool, Error> {
        let d = self.get_mut(id)?;
        let c = match state {
            ConnState::Active => &mut d.active,
            ConnState::Inactive => &mut d.inactive,
        };
        *c = c.checked_add(1).ok_or(Error::CounterOverflow)?;
        let flips = d.u_threshold != 0 && !d.overloaded && d.total() >= d.u_threshold as u64;
        if flips {
            d.overloaded = true;
        }
        Ok(flips)
    }

    /// A state change of a bound connection (`set_tcp_state`): moves one connection
    /// between the counters. OVERLOAD is not re-evaluated, as in the kernel.
    #[inline]
    pub(crate) fn conn_move(&mut self, id: DestId, to: ConnState) -> Result<(), Error> {
        let d = self.get_mut(id)?;
        let (from, to) = match to {
            ConnState::Active => (&mut d.inactive, &mut d.active),
            ConnState::Inactive => (&mut d.active, &mut d.inactive),
        };
        // Check both before touching either, so an error changes nothing.
        let moved_from = from.checked_sub(1).ok_or(Error::NoSuchConn)?;
        let moved_to = to.checked_add(1).ok_or(Error::CounterOverflow)?;
        (*from, *to) = (moved_from, moved_to);
        Ok(())
    }

    /// `ip_vs_unbind_dest`: uncount a connection, then clear OVERLOAD by the
    /// lower-threshold rule (l_threshold, else 75 % of u_threshold, else always).
    ///
    /// This is the classic rule that 6.1 and 6.12 run (the kernel differential
    /// test checks the upper-threshold and edit behaviour on both). ipvs-reference
    /// §5.1 also describes a rework (`__ip_vs_dest_update_overload`, flag
    /// recomputed on threshold edits); in the kernel sources read for this crate
    /// that exists only as a proposed patch, so it is not modelled.
    /// Returns whether OVERLOAD changed.
    #[inline]
    pub(crate) fn conn_closed(&mut self, id: DestId, state: ConnState) -> Result<bool, Error> {
        let d = self.get_mut(id)?;
        let c = match state {
            ConnState::Active => &mut d.active,
            ConnState::Inactive => &mut d.inactive,
        };
        *c = c.checked_sub(1).ok_or(Error::NoSuchConn)?;
        // Only a set flag can be cleared: the common case reads one byte.
        if !d.overloaded {
            return Ok(false);
        }
        let total = d.total();
        let flips = if d.l_threshold != 0 {
            total < d.l_threshold as u64
        } else if d.u_threshold != 0 {
            total * 4 < d.u_threshold as u64 * 3
        } else {
            true
        };
        if flips {
            d.overloaded = false;
        }
        Ok(flips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// `conn_new` and `conn_closed` report a flip only when OVERLOAD changes:
    /// the schedulers that count overloaded dests (wrr) rely on it.
    #[test]
    fn overload_flips_are_reported_once() {
        let mut dests = Dests::default();
        let cfg = DestConfig::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 80, 1);
        let id = dests.add(&cfg.thresholds(2, 1)).unwrap();
        let new = |d: &mut Dests| d.conn_new(id, ConnState::Active).unwrap();
        let closed = |d: &mut Dests| d.conn_closed(id, ConnState::Active).unwrap();
        assert!(!new(&mut dests)); // 1 < 2
        assert!(new(&mut dests)); // 2 ≥ 2: set
        assert!(!new(&mut dests)); // already set
        assert!(!closed(&mut dests)); // 2, not < 1
        assert!(!closed(&mut dests)); // 1, not < 1
        assert!(closed(&mut dests)); // 0 < 1: cleared
        assert!(!new(&mut dests) && !closed(&mut dests)); // below again, stays clear
        assert!(!dests.get(id).unwrap().overloaded);
    }
}
