// SPDX-License-Identifier: MIT OR Apache-2.0
//! What lblc and lblcr share: the caller's clock, the "lblc-overloaded" test and
//! the view of a cached destination that may have left the list.
//!
//! Kernel sources: `net/netfilter/ipvs/ip_vs_lblc.c`, `ip_vs_lblcr.c`
//! (`is_overloaded`, `sysctl_lblc_expiration`, `sysctl_lblcr_expiration`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Dest, DestId, Dests};

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

/// Whether an entry last used at `lastuse` has expired at `now`: the kernel's
/// full check drops it once `lastuse + expiration` is not after `now`.
pub(crate) fn expired(lastuse: u64, expiration: u64, now: u64) -> bool {
    lastuse.saturating_add(expiration) <= now
}

/// Counts the dests in the list with `activeconns × 2 < weight`, the second half
/// of `is_overloaded`, so that test is O(1) instead of a list scan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Underloaded {
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
    pub(crate) fn update(&mut self, dests: &Dests, id: DestId) {
        let v = dests.get(id).is_some_and(Self::holds);
        self.set(id.index(), v);
    }

    /// Forgets a removed dest.
    pub(crate) fn removed(&mut self, id: DestId) {
        self.set(id.index(), false);
    }

    /// Recomputes every dest.
    pub(crate) fn rebuild(&mut self, dests: &Dests) {
        self.by_slot.clear();
        self.count = 0;
        for (id, d) in dests.iter() {
            self.set(id.index(), Self::holds(d));
        }
    }

    /// `is_overloaded(dest, svc)`: more active connections than weight while
    /// some dest in the list has fewer than half its weight.
    pub(crate) fn is_overloaded(&self, d: &Dest) -> bool {
        d.active > d.weight && self.count > 0
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
