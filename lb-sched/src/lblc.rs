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
//! Not modelled: the periodic garbage collection. An entry unused for the
//! expiration is dropped here when it is next looked up; the kernel drops it at
//! its next full check (every 30 minutes), and above 16 × 1024 entries it also
//! drops entries unused for 6 minutes. The cache grows by one entry per new
//! destination address, so only a pick for a new address can allocate.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::locality::{Cached, Clock, DEFAULT_EXPIRATION_MS, LastUse, Locality};
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
    cache: HashMap<IpAddr, Entry>,
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

    /// A new lblc scheduler reading `clock`; entries unused for `expiration`
    /// (sysctl `net.ipv4.vs.lblc_expiration`, in the clock's unit) expire.
    pub fn with_clock(clock: Clock, expiration: u64) -> Self {
        Lblc {
            cache: HashMap::new(),
            core: Locality::new(clock, expiration),
        }
    }

    /// The clock this scheduler reads.
    pub fn clock(&self) -> &Clock {
        self.core.clock()
    }

    /// The server (address, port) cached for destination address `daddr`.
    pub fn cached(&self, daddr: IpAddr) -> Option<(IpAddr, u16)> {
        self.cache.get(&daddr).map(|e| e.dest.key)
    }

    /// Number of cached destination addresses.
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
        if let Some(e) = self.core.live_entry(&mut self.cache, flow.dst, now)
            && let Some((id, d)) = e.dest.resolve(dests)
            && d.in_list
            && d.weight > 0
            && !self.core.is_overloaded(dests, d)
        {
            return Some(id);
        }
        let (id, d) = self.core.wlc_pick(dests)?;
        // ip_vs_lblc_new: keep an entry that already names this dest, else
        // replace it; either way it was just used.
        self.cache.insert(
            flow.dst,
            Entry {
                dest: Cached::of(id, d),
                lastuse: now,
            },
        );
        Some(id)
    }
}
