// SPDX-License-Identifier: MIT OR Apache-2.0
//! `lblc`: locality-based least connection (`net/netfilter/ipvs/ip_vs_lblc.c`,
//! `ip_vs_lblc_schedule`; `ipvsadm -s lblc`).
//!
//! A cache maps each destination address (the packet's `daddr`: lblc is for
//! cache clusters, where the address names the content) to the real server
//! that served it last. A cached server is used while it is in the list, has
//! weight > 0 and is not "lblc-overloaded" (more active connections than its
//! weight while some server has fewer than half its weight); the OVERLOAD flag
//! is **not** checked on a hit. Otherwise wlc picks a server and the cache
//! remembers it.
//!
//! The cache is collected as the kernel's timer does it, on the caller's
//! [`Clock`] (milliseconds), starting a minute after the scheduler is bound to
//! its service:
//! - every minute, while the cache holds more than its maximum size (16 × 1024
//!   entries), entries unused for 6 minutes go, a bucket at a time, until the
//!   excess × 4/3 is gone;
//! - after every 29 runs that found the cache within that size, a full check
//!   drops every entry unused for the expiration (sysctl `lblc_expiration`, 24
//!   hours by default): every 30 minutes while the cache stays small.
//!
//! Until then an entry is used however old it is. The runs due happen at the
//! next pick. A new destination address gets no entry while the cache holds
//! 1.5 × its maximum size. The cache grows by one entry per new destination
//! address, so only a pick for a new address can allocate.

use std::collections::hash_map::Entry as Slot;
use std::net::IpAddr;

use crate::locality::{Cache, Cached, Clock, DEFAULT_EXPIRATION_MS, LastUse, Locality};
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler};

#[derive(Clone, Debug)]
struct Entry {
    dest: Cached,
    lastuse: u64,
}

impl LastUse for Entry {
    fn lastuse(&self) -> u64 {
        self.lastuse
    }
    fn lastuse_mut(&mut self) -> &mut u64 {
        &mut self.lastuse
    }
}

/// Locality-based least connection (`ipvsadm -s lblc`).
#[derive(Clone, Debug)]
pub struct Lblc {
    cache: Cache<Entry>,
    core: Locality,
}

impl Default for Lblc {
    fn default() -> Self {
        Self::with_clock(Clock::new(), DEFAULT_EXPIRATION_MS)
    }
}

impl Lblc {
    /// A new lblc scheduler whose clock stands still (no entry expires).
    pub fn new() -> Self {
        Self::default()
    }

    /// A new lblc scheduler reading `clock`; the full checks drop entries
    /// unused for `expiration` milliseconds (sysctl
    /// `net.ipv4.vs.lblc_expiration`, which `sysctl` shows in seconds).
    pub fn with_clock(clock: Clock, expiration: u64) -> Self {
        Lblc {
            cache: Cache::default(),
            core: Locality::new(clock, expiration),
        }
    }

    /// The same scheduler with a cache table of 2^`bits` buckets: a kernel
    /// built with `IP_VS_LBLC_TAB_BITS` = `bits` (10 by default). The maximum
    /// size is 16 entries per bucket. `None` outside 1..=20.
    pub fn with_tab_bits(mut self, bits: u32) -> Option<Self> {
        self.core = self.core.with_tab_bits(bits)?;
        Some(self)
    }

    /// The expiration (sysctl `lblc_expiration`), in milliseconds.
    pub fn expiration(&self) -> u64 {
        self.core.expiration()
    }

    /// The clock this scheduler reads.
    pub fn clock(&self) -> &Clock {
        self.core.clock()
    }

    /// The server (address, port) cached for destination address `daddr`
    /// (as of the last pick: collection runs due since happen at the next).
    pub fn cached(&self, daddr: IpAddr) -> Option<(IpAddr, u16)> {
        self.cache.get(&daddr).map(|e| e.dest.key)
    }

    /// Number of cached destination addresses (as of the last pick).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }
}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        self.core.dest_changed(dests, change);
        if let Change::Bound = change {
            self.cache.clear();
        }
    }

    fn hooks(&self) -> Hooks {
        self.core.hooks()
    }

    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        self.core.load_changed(dests, id);
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        let now = self.core.now();
        if let Some(e) = self.core.lookup(&mut self.cache, flow.dst, now)
            && let Some((id, d)) = e.dest.resolve(dests)
            && d.in_list()
            && d.weight() > 0
            && !self.core.is_overloaded(dests, d)
        {
            return Some(id);
        }
        let (id, d) = self.core.wlc_pick(dests)?;
        // ip_vs_lblc_new: keep an entry that already names this dest (it was
        // just used); else delete it and, if the cache has room, add a new one.
        let len = self.cache.len();
        let entry = Entry {
            dest: Cached::of(id, d),
            lastuse: now,
        };
        match self.cache.entry(flow.dst) {
            Slot::Occupied(o) if o.get().dest.key == entry.dest.key => {}
            Slot::Occupied(mut o) if self.core.has_room(len - 1) => {
                o.insert(entry);
            }
            Slot::Occupied(o) => {
                o.remove();
            }
            Slot::Vacant(v) if self.core.has_room(len) => {
                v.insert(entry);
            }
            Slot::Vacant(_) => {}
        }
        Some(id)
    }
}
