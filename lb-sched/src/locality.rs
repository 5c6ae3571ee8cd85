// SPDX-License-Identifier: MIT OR Apache-2.0
//! What lblc and lblcr share: the caller's clock, the "lblc-overloaded" test and
//! the view of a cached destination that may have left the list.
//!
//! Kernel sources: `net/netfilter/ipvs/ip_vs_lblc.c`, `ip_vs_lblcr.c`
//! (`is_overloaded`, `sysctl_lblc_expiration`, `sysctl_lblcr_expiration`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::keyed::Keyed;
use crate::wlc::WlcRule;
use crate::{Change, Dest, DestId, Dests, Hooks};

/// The default `lblc_expiration` / `lblcr_expiration` (24 hours), in
/// milliseconds, the unit [`Clock`] is meant to count in.
pub const DEFAULT_EXPIRATION_MS: u64 = 24 * 60 * 60 * 1000;

/// The time lblc and lblcr read (the kernel's `jiffies`), set by the caller.
///
/// Clones share one counter, so a proxy keeps a clone and moves it forward
/// (`clock.set(elapsed_ms)`) while the scheduler sits inside a
/// [`Service`](crate::Service). A clock that is never moved stops time: cache
/// entries then never expire and lblcr never shrinks a set, which is the
/// kernel's behaviour for the first 24 hours of each entry.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// A clock at 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// The current time.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets the current time (it should not go backwards).
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::Relaxed);
    }
    /// Moves the time forward by `dt`.
    pub fn advance(&self, dt: u64) {
        self.0.fetch_add(dt, Ordering::Relaxed);
    }
}

/// A cache entry's `lastuse`.
pub(crate) trait LastUse {
    fn lastuse(&self) -> u64;
    fn lastuse_mut(&mut self) -> &mut u64;
}

/// What lblc and lblcr keep besides their caches: wlc's index for a miss
/// (`__ip_vs_lblc_schedule` and `__ip_vs_lblcr_schedule` are wlc over the whole
/// list), the count behind `is_overloaded`, the clock and the expiration.
///
/// Most picks are cache hits, which never read the wlc index, so connection
/// events only mark their dest stale and the index catches up at the next
/// miss: a busy dest costs one index update per miss, not one per event.
/// Up to the wlc index threshold (16 dests) nothing is kept: a miss and
/// `is_overloaded` scan the list as the kernel does, and connection events
/// cost nothing here.
#[derive(Clone, Debug)]
pub(crate) struct Locality {
    wlc: Keyed<WlcRule>,
    /// Slots whose wlc entry may be stale, and a flag per slot.
    stale: Vec<u32>,
    is_stale: Vec<bool>,
    under: Underloaded,
    clock: Clock,
    /// sysctl `lblc_expiration` / `lblcr_expiration`, in the clock's unit.
    pub(crate) expiration: u64,
}

impl Locality {
    /// Connection events matter only to the index and the count, kept above
    /// the threshold; an OVERLOAD flip comes with a load event.
    pub(crate) fn hooks(&self) -> Hooks {
        Hooks {
            load: self.wlc.indexed(),
            overload: false,
        }
    }

    pub(crate) fn new(clock: Clock, expiration: u64) -> Self {
        Locality {
            wlc: Keyed::default(),
            stale: Vec::new(),
            is_stale: Vec::new(),
            under: Underloaded::default(),
            clock,
            expiration,
        }
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The cache entry for `daddr`, stamped as used at `now`; `None` if there is
    /// none or it has expired, which drops it (the kernel's full check drops an
    /// entry once `lastuse + expiration` is not after `now`). One hash lookup.
    pub(crate) fn live_entry<'c, V: LastUse>(
        &self,
        cache: &'c mut HashMap<IpAddr, V>,
        daddr: IpAddr,
        now: u64,
    ) -> Option<&'c mut V> {
        match cache.entry(daddr) {
            Entry::Vacant(_) => None,
            Entry::Occupied(o) if o.get().lastuse().saturating_add(self.expiration) <= now => {
                o.remove();
                None
            }
            Entry::Occupied(o) => {
                let v = o.into_mut();
                *v.lastuse_mut() = now;
                Some(v)
            }
        }
    }

    pub(crate) fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        self.refresh(dests);
        let was_indexed = self.wlc.indexed();
        match change {
            Change::Removed(id, _) => {
                self.wlc.removed(dests, id);
                self.under.removed(id);
            }
            Change::Bound => {
                self.wlc.rebuild(dests);
                self.under.rebuild(dests);
            }
            Change::Added(id) | Change::Updated(id) => {
                self.wlc.resize(dests);
                self.wlc.update(dests, id);
                self.under.update(dests, id);
            }
        }
        // Below the threshold no event reached the count: recount on the way up.
        if self.wlc.indexed() && !was_indexed {
            self.under.rebuild(dests);
        }
    }

    pub(crate) fn load_changed(&mut self, dests: &Dests, id: DestId) {
        self.under.update(dests, id);
        let slot = id.index();
        if slot >= self.is_stale.len() {
            self.is_stale.resize(slot + 1, false);
        }
        if !std::mem::replace(&mut self.is_stale[slot], true) {
            self.stale.push(slot as u32);
        }
    }

    /// Brings the wlc index up to date with the counters.
    fn refresh(&mut self, dests: &Dests) {
        for slot in self.stale.drain(..) {
            self.is_stale[slot as usize] = false;
            // A dest that left the list since is dropped by `Change::Removed`.
            if let Some((id, _)) = dests.at_slot(slot) {
                self.wlc.update(dests, id);
            }
        }
    }

    /// `is_overloaded(dest, svc)`: more active connections than weight while
    /// some dest in the list has fewer than half its weight.
    pub(crate) fn is_overloaded(&self, dests: &Dests, d: &Dest) -> bool {
        d.active > d.weight
            && if self.wlc.indexed() {
                self.under.count > 0
            } else {
                dests.iter().any(|(_, d)| Underloaded::holds(d))
            }
    }

    /// The wlc choice over the whole list, for a miss or an unusable entry.
    pub(crate) fn wlc_pick<'d>(&mut self, dests: &'d Dests) -> Option<(DestId, &'d Dest)> {
        self.refresh(dests);
        let id = self.wlc.first(dests)?;
        dests.get(id).map(|d| (id, d))
    }
}

/// Counts the dests in the list with `activeconns × 2 < weight`, the second half
/// of `is_overloaded`, so that test is O(1) instead of a list scan.
#[derive(Clone, Debug, Default)]
struct Underloaded {
    by_slot: Vec<bool>,
    count: usize,
}

impl Underloaded {
    fn holds(d: &Dest) -> bool {
        d.in_list && (d.active as u64) * 2 < d.weight as u64
    }

    fn set(&mut self, slot: usize, v: bool) {
        if slot >= self.by_slot.len() {
            self.by_slot.resize(slot + 1, false);
        }
        let old = std::mem::replace(&mut self.by_slot[slot], v);
        match (old, v) {
            (false, true) => self.count += 1,
            (true, false) => self.count -= 1,
            _ => {}
        }
    }

    /// Recomputes one dest (after a connection event or a change).
    fn update(&mut self, dests: &Dests, id: DestId) {
        let v = dests.get(id).is_some_and(Self::holds);
        self.set(id.index(), v);
    }

    /// Forgets a removed dest.
    fn removed(&mut self, id: DestId) {
        self.set(id.index(), false);
    }

    /// Recomputes every dest.
    fn rebuild(&mut self, dests: &Dests) {
        self.by_slot.clear();
        self.count = 0;
        for (id, d) in dests.iter() {
            self.set(id.index(), Self::holds(d));
        }
    }
}

/// A cached destination: its address and port (the kernel holds the dest
/// itself, which a re-add brings back from the trash) and the handle it had.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cached {
    pub(crate) key: (IpAddr, u16),
    pub(crate) id: DestId,
}

impl Cached {
    pub(crate) fn of(id: DestId, d: &Dest) -> Self {
        Cached {
            key: (d.addr, d.port),
            id,
        }
    }

    /// The cached dest as it is now: in the list (`IP_VS_DEST_F_AVAILABLE`), or
    /// removed and kept for its connections, or `None` once freed (the kernel's
    /// trashed dest then has no connections and no OVERLOAD). Follows a re-add
    /// that gave the address a new handle.
    pub(crate) fn resolve<'d>(&mut self, dests: &'d Dests) -> Option<(DestId, &'d Dest)> {
        if let Some(d) = dests.get(self.id) {
            return Some((self.id, d));
        }
        let id = dests.find(self.key.0, self.key.1)?;
        self.id = id;
        dests.get(id).map(|d| (id, d))
    }
}
