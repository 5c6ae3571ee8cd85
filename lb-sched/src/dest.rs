// SPDX-License-Identifier: MIT OR Apache-2.0
//! The destination set of one virtual service, in the kernel's list order, with
//! the connection counters and the OVERLOAD flag the kernel keeps per real server.
//!
//! Kernel sources: `struct ip_vs_dest` (`include/net/ip_vs.h`), `__ip_vs_update_dest`
//! (`net/netfilter/ipvs/ip_vs_ctl.c`), `ip_vs_bind_dest` / `ip_vs_unbind_dest`
//! (`net/netfilter/ipvs/ip_vs_conn.c`).

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::{NonZeroU32, NonZeroU64};

use hashbrown::HashTable;

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
    fn generation(self) -> u32 {
        self.0.get() as u32
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

/// One real server as it is now: what [`Service::dest`](crate::Service::dest)
/// and [`Dests::iter`] report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    addr: IpAddr,
    port: u16,
    weight: u32,
    last_weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    active: u32,
    inactive: u32,
    overloaded: bool,
    in_list: bool,
    position: u32,
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
        (u64::from(self.active) << 8) + u64::from(self.inactive)
    }
    /// Whether the destination is in the service's list (`IP_VS_DEST_F_AVAILABLE`).
    /// False for a removed destination that still has connections: the kernel
    /// keeps it in its trash, and no scheduler sees it until it is added again.
    pub fn in_list(&self) -> bool {
        self.in_list
    }
    /// Its place in the list: of two destinations in the list, the one with
    /// the larger position is nearer the head (added later). Removals leave
    /// positions unused; when they outnumber the destinations, the positions
    /// are renumbered, in the same order ([`Change::Compacted`](crate::Change::Compacted)).
    /// Meaningless for a removed destination.
    pub fn position(&self) -> u32 {
        self.position
    }
}

/// Bit 31 of [`Record::ww`]: `IP_VS_DEST_F_OVERLOAD`.
const OVERLOADED: u32 = 1 << 31;

/// [`Record::flags`]: the address is IPv6.
const V6: u8 = 1;
/// [`Record::flags`]: out of the list, a removed dest kept for its
/// connections (the kernel's `dest_trash`) or a freed slot; clear while in
/// the list (`IP_VS_DEST_F_AVAILABLE`).
const OUT_OF_LIST: u8 = 2;
/// [`Record::flags`]: `u_threshold ≠ 0`, so a new connection may set
/// OVERLOAD; OVERLOAD is never set without it.
const LIMITED: u8 = 4;
/// The flags that send a connection event past the counting: a connection
/// event on a dest with neither is the counting alone.
const EVENT_SLOW_PATH: u8 = LIMITED | OUT_OF_LIST;

/// One destination as the schedulers read it: 40 bytes.
///
/// The hot words come first. The weight and OVERLOAD share one word ([`Record::ww`]),
/// so "weight > 0 and not OVERLOAD", the test every scheduler makes, is one
/// signed comparison, and a service whose dests have no thresholds pays nothing
/// for OVERLOAD. Thresholds and the last non-zero weight, read only where
/// thresholds are set and by mh, live in [`Dests`]'s side table.
#[derive(Clone, Debug)]
// In this order: what a connection event reads (the generation its
// handle is checked against, the counters, the flags) is the first 20
// bytes, so that far fewer records than with the 40 bytes spread
// straddle two cache lines there.
#[repr(C)]
pub(crate) struct Record {
    /// Odd while the slot holds a destination, even once freed: a handle only
    /// ever carries an odd generation, so it never matches a freed record.
    generation: NonZeroU32,
    /// The weight, with OVERLOAD in bit 31: as an `i32`, > 0 exactly when a
    /// scheduler may choose the dest (`weight > 0` and not OVERLOAD).
    pub(crate) ww: u32,
    /// `activeconns`.
    pub(crate) active: u32,
    /// `activeconns + inactconns`: each event then writes one counter (a
    /// new connection `conns`, ESTABLISHED `active`), so the two events a
    /// connection starts with do not wait on each other's store, and their
    /// total is at most `u32::MAX` ([`Error::CounterOverflow`]).
    conns: u32,
    flags: u8,
    port: u16,
    /// Position in the list while in it (see [`Dest::position`]); for a freed
    /// slot, the next free slot.
    pub(crate) pos: u32,
    /// IPv4 in the first 4 bytes, or IPv6 ([`V6`]).
    addr: [u8; 16],
}

impl Record {
    /// The weight (without OVERLOAD).
    #[inline]
    pub(crate) fn weight(&self) -> u32 {
        self.ww & !OVERLOADED
    }
    /// `IP_VS_DEST_F_OVERLOAD`.
    #[inline]
    pub(crate) fn overloaded(&self) -> bool {
        self.ww & OVERLOADED != 0
    }
    /// Weight > 0 and not OVERLOAD: what every scheduler requires.
    #[inline]
    pub(crate) fn usable(&self) -> bool {
        (self.ww as i32) > 0
    }
    /// `inactconns`.
    #[inline]
    pub(crate) fn inactive(&self) -> u32 {
        self.conns - self.active
    }
    /// `ip_vs_dest_conn_overhead()`: `activeconns × 256 + inactconns`.
    #[inline]
    pub(crate) fn overhead(&self) -> u64 {
        (u64::from(self.active) << 8) + u64::from(self.inactive())
    }
    #[inline]
    fn total(&self) -> u64 {
        u64::from(self.conns)
    }
    #[inline]
    pub(crate) fn in_list(&self) -> bool {
        self.flags & OUT_OF_LIST == 0
    }
    #[inline]
    fn live(&self) -> bool {
        self.generation.get() % 2 == 1
    }
    pub(crate) fn addr(&self) -> IpAddr {
        if self.flags & V6 != 0 {
            IpAddr::V6(Ipv6Addr::from(self.addr))
        } else {
            let [a, b, c, d, ..] = self.addr;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
    }
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
    fn key(&self) -> Key {
        (self.addr, self.flags & V6, self.port)
    }
    #[inline]
    pub(crate) fn id(&self, slot: u32) -> DestId {
        DestId::new(slot, self.generation)
    }
}

/// What identifies a destination in its service: address (with family) and port.
type Key = ([u8; 16], u8, u16);

fn key_of(addr: IpAddr, port: u16) -> Key {
    match addr {
        IpAddr::V4(a) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&a.octets());
            (b, 0, port)
        }
        IpAddr::V6(a) => (a.octets(), V6, port),
    }
}

/// Thresholds and the last non-zero weight of one slot: what only thresholds
/// and mh read.
#[derive(Clone, Copy, Debug, Default)]
struct Limits {
    u_threshold: u32,
    l_threshold: u32,
    last_weight: u32,
}

/// The destinations of a service in the kernel's list order (new ones at the head).
///
/// Records live in a slot table indexed by [`DestId::index`], so a connection
/// event is one bounds check and one generation comparison. `order` holds the
/// handles by position: a new destination takes the next position, a removed
/// one leaves a hole, and the positions are renumbered (in order) once the
/// holes outnumber the destinations, so a change costs O(1) amortised and no
/// position ever needs a shift.
///
/// Removing a destination that still has connections does not free it: like
/// the kernel's `dest_trash` (`ip_vs_del_dest` → `__ip_vs_del_dest`), the
/// record leaves the list but keeps its handle and counters, and adding the
/// same address and port brings it back (`ip_vs_trash_get_dest`). Trashed
/// records without connections are freed at the next add or remove; the
/// kernel frees them after `IP_VS_DEST_TRASH_PERIOD` (2 minutes), which only a
/// re-add with weight 0 could tell apart (mh reads the kept `last_weight`).
#[derive(Clone, Debug)]
pub struct Dests {
    /// Records by slot. A freed record's `pos` links the free slots.
    slots: Vec<Record>,
    /// Live handles by position; `None` is a hole. The last entry is never a hole.
    order: Vec<Option<DestId>>,
    holes: usize,
    /// Every slot holds the dest at the position of the same number: the
    /// list has only ever grown (no removal, no slot reused), so a scan can
    /// walk the records themselves (see [`Dests::slots`]).
    in_slot_order: bool,
    /// The first free slot ([`NO_SLOT`]: none).
    free: u32,
    /// Every live record (in the list or trashed) by address and port.
    by_addr: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Trashed dests whose last connection closed, to free at the next change.
    idle_trash: Vec<DestId>,
    /// [`Limits`] by slot; empty until some dest has a threshold or a last
    /// weight other than its weight.
    limits: Vec<Limits>,
}

const NO_SLOT: u32 = u32::MAX;

impl Default for Dests {
    fn default() -> Self {
        Dests {
            slots: Vec::new(),
            order: Vec::new(),
            holes: 0,
            in_slot_order: true,
            free: NO_SLOT,
            by_addr: HashTable::new(),
            hasher: Default::default(),
            idle_trash: Vec::new(),
            limits: Vec::new(),
        }
    }
}

/// The new positions once the holes removals left are closed up, for
/// schedulers that keep positions ([`Change::Compacted`](crate::Change::Compacted)).
#[derive(Debug)]
pub struct Compaction {
    /// `below[p]`: how many destinations sat below old position `p`.
    below: Vec<u32>,
}

impl Compaction {
    /// The new position of what was at old position `p`; for a position that
    /// was a hole or past the end, the number of destinations below it (so
    /// "the destinations below" stay the same ones).
    pub fn new_position(&self, p: u32) -> u32 {
        let last = self.below.len().saturating_sub(1);
        self.below[(p as usize).min(last)]
    }
}

impl Dests {
    /// Number of destinations in the list.
    #[inline]
    pub fn len(&self) -> usize {
        self.order.len() - self.holes
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The destination behind a handle: in the list, or removed with
    /// connections left ([`Dest::in_list`] tells which).
    pub fn get(&self, id: DestId) -> Option<Dest> {
        self.record(id).map(|r| self.snapshot(id.slot(), r))
    }
    /// The handle of the destination in the list with this address and port.
    pub fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.lookup(addr, port)
            .filter(|&id| self.slots[id.index()].in_list())
    }
    /// The handle of the removed destination with this address and port that
    /// still has connections.
    pub fn find_removed(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.lookup(addr, port)
            .filter(|&id| !self.slots[id.index()].in_list())
    }
    /// The removed destinations that still have connections (in no particular order).
    pub fn removed(&self) -> impl Iterator<Item = (DestId, Dest)> + '_ {
        (0..self.slots.len() as u32).filter_map(|s| {
            let r = &self.slots[s as usize];
            (r.live() && !r.in_list()).then(|| (r.id(s), self.snapshot(s, r)))
        })
    }
    /// The destinations in list order (head first), with their handles.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (DestId, Dest)> + '_ {
        self.records()
            .map(|(id, r)| (id, self.snapshot(id.slot(), r)))
    }

    fn snapshot(&self, slot: u32, r: &Record) -> Dest {
        let l = self.limits_of(slot, r);
        Dest {
            addr: r.addr(),
            port: r.port,
            weight: r.weight(),
            last_weight: l.last_weight,
            u_threshold: l.u_threshold,
            l_threshold: l.l_threshold,
            active: r.active,
            inactive: r.inactive(),
            overloaded: r.overloaded(),
            in_list: r.in_list(),
            position: r.pos,
        }
    }

    fn limits_of(&self, slot: u32, r: &Record) -> Limits {
        self.limits.get(slot as usize).copied().unwrap_or(Limits {
            last_weight: r.weight(),
            ..Limits::default()
        })
    }

    /// The last non-zero weight of a record (mh's input).
    pub(crate) fn last_weight(&self, slot: u32, r: &Record) -> u32 {
        self.limits_of(slot, r).last_weight
    }

    fn hash(&self, key: &Key) -> u64 {
        self.hasher.hash_one(key)
    }

    fn lookup(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        let key = key_of(addr, port);
        let slots = &self.slots;
        let &s = self
            .by_addr
            .find(self.hash(&key), |&s| slots[s as usize].key() == key)?;
        Some(slots[s as usize].id(s))
    }

    /// The record behind a handle (in the list or trashed).
    #[inline]
    pub(crate) fn record(&self, id: DestId) -> Option<&Record> {
        let r = self.slots.get(id.index())?;
        (r.generation.get() == id.generation()).then_some(r)
    }
    #[inline]
    fn record_mut(&mut self, id: DestId) -> Result<&mut Record, Error> {
        match self.slots.get_mut(id.index()) {
            Some(r) if r.generation.get() == id.generation() => Ok(r),
            _ => Err(Error::UnknownDest),
        }
    }
    /// Whether `id` (a valid handle) is in the list.
    #[inline]
    pub(crate) fn in_list(&self, id: DestId) -> bool {
        self.record(id).is_some_and(Record::in_list)
    }
    /// The records in list order (head first), with their handles.
    #[inline]
    pub(crate) fn records(
        &self,
    ) -> impl DoubleEndedIterator<Item = (DestId, &Record)> + Clone + '_ {
        self.order
            .iter()
            .rev()
            .flatten()
            .map(|&id| (id, &self.slots[id.index()]))
    }
    /// Whether the list has only ever grown (no removal, no slot reused):
    /// then [`Dests::slots`], in reverse, is the list order.
    #[inline]
    pub(crate) fn in_slot_order(&self) -> bool {
        self.in_slot_order
    }
    /// The records by slot: in reverse, the list order (head first) while
    /// [`Dests::in_slot_order`], with one load and one test less per dest
    /// than [`Dests::records`] (what the small scans of lc and friends walk).
    #[inline]
    pub(crate) fn slots(&self) -> &[Record] {
        &self.slots
    }

    /// The handle at position `p`, if a destination is there. In slot
    /// order it is built from the record itself, which the connection event
    /// after a pick reads next, rather than read from `order`.
    #[inline]
    pub(crate) fn id_at(&self, p: usize) -> Option<DestId> {
        if self.in_slot_order {
            return self.slots.get(p).map(|r| r.id(p as u32));
        }
        self.order.get(p).copied().flatten()
    }
    /// The destination at position `p`, if any.
    #[inline]
    pub(crate) fn at(&self, p: usize) -> Option<(DestId, &Record)> {
        let id = self.id_at(p)?;
        Some((id, &self.slots[id.index()]))
    }
    /// One past the highest position (the list head's position + 1).
    #[inline]
    pub(crate) fn positions(&self) -> usize {
        self.order.len()
    }
    /// The handle of the record in slot `s`, if there is one (for a slot a
    /// scheduler chose: a dest in the list). A pick that builds its handle
    /// here, from the slot it chose, and in no other place lets the
    /// connection event that a caller makes next, inlined after it, find
    /// the record from that slot rather than from the handle's bits (which
    /// wait on the load of the generation); the compiler then sees that the
    /// event's handle check is this one.
    #[inline]
    pub(crate) fn id_of_slot(&self, s: u32) -> Option<DestId> {
        self.slots.get(s as usize).map(|r| r.id(s))
    }
    /// The destination in the list in slot `s`, if any.
    #[inline]
    pub(crate) fn at_slot(&self, s: u32) -> Option<(DestId, &Record)> {
        let r = self.slots.get(s as usize)?;
        (r.live() && r.in_list()).then(|| (r.id(s), r))
    }
    /// Whether some destination in the list satisfies `pred`: a pass over the
    /// records in slot order, with no handle to follow per destination.
    #[inline]
    pub(crate) fn any_in_list(&self, pred: impl Fn(&Record) -> bool) -> bool {
        self.slots
            .iter()
            .any(|r| r.live() && r.in_list() && pred(r))
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
        if self.order.len() >= NO_SLOT as usize - 1 {
            return Err(Error::TooManyDests);
        }
        let pos = self.order.len() as u32;
        let id = match self.lookup(cfg.addr, cfg.port) {
            Some(id) if self.slots[id.index()].in_list() => return Err(Error::Exists),
            Some(id) => {
                self.in_slot_order = false;
                self.reconfigure(id.slot(), cfg.weight, cfg.u_threshold, cfg.l_threshold);
                let r = &mut self.slots[id.index()];
                r.flags &= !OUT_OF_LIST;
                r.pos = pos;
                id
            }
            None => self.insert(cfg, pos)?,
        };
        self.order.push(Some(id));
        self.free_idle_trash();
        Ok(id)
    }

    /// A new record for `cfg` at position `pos`, in a free slot or a new one.
    fn insert(&mut self, cfg: &DestConfig, pos: u32) -> Result<DestId, Error> {
        let (addr, v6, port) = key_of(cfg.addr, cfg.port);
        let record = |generation| Record {
            ww: cfg.weight,
            active: 0,
            conns: 0,
            pos,
            generation,
            port,
            flags: v6,
            addr,
        };
        let slot = if self.free != NO_SLOT {
            self.in_slot_order = false;
            let slot = self.free;
            let r = &mut self.slots[slot as usize];
            self.free = r.pos;
            // Freed generations are even (see `free_slot`), live ones odd:
            // a reused slot hands out an old handle's generation only after
            // 2³¹ reuses.
            *r = record(NonZeroU32::MIN | r.generation.get().wrapping_add(1));
            slot
        } else {
            let slot = u32::try_from(self.slots.len()).map_err(|_| Error::TooManyDests)?;
            self.slots.push(record(NonZeroU32::MIN));
            if !self.limits.is_empty() {
                self.limits.push(Limits::default());
            }
            slot
        };
        if !self.limits.is_empty() {
            self.limits[slot as usize] = Limits {
                last_weight: cfg.weight,
                ..Limits::default()
            };
        }
        self.set_limits(slot, cfg.u_threshold, cfg.l_threshold);
        let key = self.slots[slot as usize].key();
        let hash = self.hash(&key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_addr
            .insert_unique(hash, slot, |&s| hasher.hash_one(slots[s as usize].key()));
        Ok(self.slots[slot as usize].id(slot))
    }

    /// `ip_vs_del_dest`: unlinks a destination in the list; one that still has
    /// connections goes to the trash, the others are freed.
    pub(crate) fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        let r = self.record_mut(id)?;
        if !r.in_list() {
            return Err(Error::UnknownDest);
        }
        r.flags |= OUT_OF_LIST;
        let (pos, idle) = (r.pos as usize, r.total() == 0);
        self.in_slot_order = false;
        let dest = self.snapshot(id.slot(), &self.slots[id.index()]);
        self.order[pos] = None;
        self.holes += 1;
        while self.order.last() == Some(&None) {
            self.order.pop();
            self.holes -= 1;
        }
        if idle {
            self.free_slot(id);
        }
        self.free_idle_trash();
        Ok(dest)
    }

    /// Whether the holes left by removals outnumber the destinations, so that
    /// [`Dests::compact`] is due.
    pub(crate) fn needs_compaction(&self) -> bool {
        self.holes > self.len()
    }

    /// Renumbers the positions without holes, keeping their order: O(positions),
    /// due once the holes outnumber the destinations, so O(1) per removal.
    pub(crate) fn compact(&mut self) -> Compaction {
        let mut below = Vec::with_capacity(self.order.len() + 1);
        let mut live = 0u32;
        for p in 0..self.order.len() {
            below.push(live);
            if let Some(id) = self.order[p] {
                self.slots[id.index()].pos = live;
                self.order[live as usize] = Some(id);
                live += 1;
            }
        }
        below.push(live);
        self.order.truncate(live as usize);
        self.holes = 0;
        Compaction { below }
    }

    /// Frees a trashed or removed record: its handle stops working and its
    /// address may be added anew.
    fn free_slot(&mut self, id: DestId) {
        let slot = id.slot();
        let key = self.slots[slot as usize].key();
        let hash = self.hash(&key);
        if let Ok(e) = self.by_addr.find_entry(hash, |&s| s == slot) {
            e.remove();
        }
        let r = &mut self.slots[slot as usize];
        // The next even number, 2 after u32::MAX (0 is no generation).
        let freed = r.generation.get().wrapping_add(1) & !1;
        r.generation = NonZeroU32::new(freed).unwrap_or(NonZeroU32::MIN.saturating_add(1));
        r.flags = OUT_OF_LIST;
        r.pos = self.free;
        self.free = slot;
    }

    /// Frees the trashed records whose connections have all ended.
    fn free_idle_trash(&mut self) {
        while let Some(id) = self.idle_trash.pop() {
            if self
                .record(id)
                .is_some_and(|r| !r.in_list() && r.total() == 0)
            {
                self.free_slot(id);
            }
        }
    }

    /// Allocates the side table of [`Limits`] on first use.
    fn ensure_limits(&mut self) {
        if self.limits.is_empty() {
            self.limits = self
                .slots
                .iter()
                .map(|r| Limits {
                    last_weight: r.weight(),
                    ..Limits::default()
                })
                .collect();
        }
    }

    /// Sets a slot's thresholds and its [`LIMITED`] flag.
    fn set_limits(&mut self, slot: u32, u_threshold: u32, l_threshold: u32) {
        if u_threshold != 0 || l_threshold != 0 {
            self.ensure_limits();
        }
        if let Some(l) = self.limits.get_mut(slot as usize) {
            (l.u_threshold, l.l_threshold) = (u_threshold, l_threshold);
        }
        let r = &mut self.slots[slot as usize];
        if u_threshold != 0 {
            r.flags |= LIMITED;
        } else {
            r.flags &= !LIMITED;
        }
    }

    /// The part of `__ip_vs_update_dest` the schedulers see, for an edit and
    /// for a dest brought back from the trash: weight and thresholds replaced
    /// (the latest non-zero weight kept), OVERLOAD cleared when the new upper
    /// threshold is 0 or larger than the old one.
    fn reconfigure(&mut self, slot: u32, weight: u32, u_threshold: u32, l_threshold: u32) {
        let r = &self.slots[slot as usize];
        let old = self.limits_of(slot, r);
        if weight == 0 && old.last_weight != 0 {
            self.ensure_limits();
        }
        if let Some(l) = self.limits.get_mut(slot as usize)
            && weight != 0
        {
            l.last_weight = weight;
        }
        let r = &mut self.slots[slot as usize];
        let keep = r.overloaded() && u_threshold != 0 && u_threshold <= old.u_threshold;
        r.ww = weight | if keep { OVERLOADED } else { 0 };
        self.set_limits(slot, u_threshold, l_threshold);
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
        let r = self.record_mut(id)?;
        if !r.in_list() {
            return Err(Error::UnknownDest);
        }
        DestConfig {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            weight,
            u_threshold,
            l_threshold,
        }
        .validate()?;
        self.reconfigure(id.slot(), weight, u_threshold, l_threshold);
        Ok(())
    }

    /// The upper and lower thresholds of a slot (0 when it has none).
    #[cold]
    fn thresholds(&self, slot: u32) -> (u64, u64) {
        self.limits.get(slot as usize).map_or((0, 0), |l| {
            (u64::from(l.u_threshold), u64::from(l.l_threshold))
        })
    }

    /// `ip_vs_bind_dest`, the counting: `Ok(true)` when that is all there is
    /// to it (a dest in the list without an upper threshold, the common
    /// case, inlined into the event); `Ok(false)` when [`Dests::bind_overload`]
    /// must follow.
    #[inline]
    pub(crate) fn conn_new(&mut self, id: DestId, state: ConnState) -> Result<bool, Error> {
        let r = self.record_mut(id)?;
        r.conns = r.conns.checked_add(1).ok_or(Error::CounterOverflow)?;
        if state == ConnState::Active {
            // Below `conns`, which did not overflow.
            r.active += 1;
        }
        Ok(r.flags & EVENT_SLOW_PATH == 0)
    }

    /// The rest of `ip_vs_bind_dest` after [`Dests::conn_new`] of `id` (a
    /// valid handle) answered `false`: sets OVERLOAD when the total reaches
    /// the upper threshold. Returns whether OVERLOAD changed.
    #[inline]
    pub(crate) fn bind_overload(&mut self, id: DestId) -> bool {
        if self.slots[id.index()].flags & LIMITED == 0 {
            return false;
        }
        let (u, _) = self.thresholds(id.slot());
        let r = &mut self.slots[id.index()];
        let flips = !r.overloaded() && r.total() >= u;
        if flips {
            r.ww |= OVERLOADED;
        }
        flips
    }

    /// A state change of a bound connection (`set_tcp_state`): moves one connection
    /// between the counters. OVERLOAD is not re-evaluated, as in the kernel.
    #[inline]
    pub(crate) fn conn_move(&mut self, id: DestId, to: ConnState) -> Result<(), Error> {
        let r = self.record_mut(id)?;
        // The total stays: only `active` moves, and `conns` is read for
        // the check alone.
        r.active = match to {
            ConnState::Active if r.active < r.conns => r.active + 1,
            ConnState::Inactive if r.active > 0 => r.active - 1,
            _ => return Err(Error::NoSuchConn),
        };
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
    ///
    /// This is the counting: `Ok(true)` when that is all there is to it (a
    /// dest in the list without an upper threshold, the common case, inlined
    /// into the event); `Ok(false)` when [`Dests::unbind_overload`] must follow.
    #[inline]
    pub(crate) fn conn_closed(&mut self, id: DestId, state: ConnState) -> Result<bool, Error> {
        let r = self.record_mut(id)?;
        match state {
            ConnState::Active if r.active > 0 => r.active -= 1,
            ConnState::Inactive if r.active < r.conns => {}
            _ => return Err(Error::NoSuchConn),
        }
        // Above `active` (before it dropped) or above 0.
        r.conns -= 1;
        // Only a set flag can be cleared, only a dest with an upper
        // threshold has it set, and only a trashed dest is freed: the
        // common case tests the flags, as a new connection does.
        Ok(r.flags & EVENT_SLOW_PATH == 0)
    }

    /// The rest of `ip_vs_unbind_dest` after [`Dests::conn_closed`] of `id` (a
    /// valid handle) answered `false`: clears OVERLOAD by the lower-threshold
    /// rule, and marks a trashed dest left without connections to be freed.
    /// Returns whether OVERLOAD changed.
    #[inline]
    pub(crate) fn unbind_overload(&mut self, id: DestId) -> bool {
        let (u, l) = self.thresholds(id.slot());
        let r = &mut self.slots[id.index()];
        if !r.in_list() && r.total() == 0 {
            self.idle_trash.push(id);
        }
        if !r.overloaded() {
            return false;
        }
        let total = r.total();
        let flips = if l != 0 {
            total < l
        } else if u != 0 {
            total * 4 < u * 3
        } else {
            true
        };
        if flips {
            r.ww &= !OVERLOADED;
        }
        flips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(i: u8) -> DestConfig {
        DestConfig::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, i)), 80, 1)
    }

    /// `conn_new` and `conn_closed` report a flip only when OVERLOAD changes:
    /// the schedulers that index OVERLOAD (rr, wrr, twos) rely on it.
    #[test]
    fn overload_flips_are_reported_once() {
        let mut dests = Dests::default();
        let id = dests.add(&cfg(1).thresholds(2, 1)).unwrap();
        let new =
            |d: &mut Dests| !d.conn_new(id, ConnState::Active).unwrap() && d.bind_overload(id);
        let closed =
            |d: &mut Dests| !d.conn_closed(id, ConnState::Active).unwrap() && d.unbind_overload(id);
        assert!(!new(&mut dests)); // 1 < 2
        assert!(new(&mut dests)); // 2 ≥ 2: set
        assert!(!new(&mut dests)); // already set
        assert!(!closed(&mut dests)); // 2, not < 1
        assert!(!closed(&mut dests)); // 1, not < 1
        assert!(closed(&mut dests)); // 0 < 1: cleared
        assert!(!new(&mut dests) && !closed(&mut dests)); // below again, stays clear
        assert!(!dests.get(id).unwrap().overloaded());
    }

    /// A record is 40 bytes: the heap a destination costs starts here.
    #[test]
    fn a_record_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 40);
    }

    /// Positions: removals leave holes (a removed head is popped), and
    /// compaction renumbers in order once holes outnumber destinations.
    #[test]
    fn positions_keep_list_order_through_holes_and_compaction() {
        let mut dests = Dests::default();
        let ids: Vec<DestId> = (0..6).map(|i| dests.add(&cfg(i)).unwrap()).collect();
        let pos = |d: &Dests, id| d.get(id).unwrap().position();
        dests.remove(ids[5]).unwrap(); // the head: popped, no hole
        assert_eq!((dests.positions(), dests.len()), (5, 5));
        for &id in &ids[..3] {
            dests.remove(id).unwrap();
        }
        assert_eq!((dests.positions(), dests.len()), (5, 2));
        assert!(dests.needs_compaction());
        let c = dests.compact();
        assert_eq!(
            (dests.positions(), pos(&dests, ids[3]), pos(&dests, ids[4])),
            (2, 0, 1)
        );
        assert_eq!(
            (0..6).map(|p| c.new_position(p)).collect::<Vec<_>>(),
            [0, 0, 0, 0, 1, 2]
        );
        let listed: Vec<DestId> = dests.iter().map(|(id, _)| id).collect();
        assert_eq!(listed, [ids[4], ids[3]]);
        // A new dest goes above both; an address freed can come back.
        let again = dests.add(&cfg(0)).unwrap();
        assert_eq!(pos(&dests, again), 2);
        assert_ne!(again, ids[0]);
    }

    /// Thresholds and a kept last weight live in the side table, allocated on
    /// first use; a dest without them reads zeros and its weight.
    #[test]
    fn limits_are_kept_apart_and_read_back() {
        let mut dests = Dests::default();
        let a = dests.add(&cfg(1)).unwrap();
        assert!(dests.limits.is_empty());
        dests.update(a, 0, 0, 0).unwrap();
        let d = dests.get(a).unwrap();
        assert_eq!((d.weight(), d.last_weight()), (0, 1));
        let b = dests.add(&cfg(2).thresholds(5, 2)).unwrap();
        let d = dests.get(b).unwrap();
        assert_eq!(
            (d.u_threshold(), d.l_threshold(), d.last_weight()),
            (5, 2, 1)
        );
        dests.update(b, 7, 0, 0).unwrap();
        let d = dests.get(b).unwrap();
        assert_eq!(
            (d.u_threshold(), d.l_threshold(), d.last_weight()),
            (0, 0, 7)
        );
        assert_eq!(dests.get(a).unwrap().last_weight(), 1);
    }
}
