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

use crate::keyed::Keyed;
use crate::locality::{Cached, Clock, DEFAULT_EXPIRATION_MS, Underloaded, expired};
use crate::wlc::WlcRule;
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler};

#[derive(Clone, Debug)]
struct Entry {
    dest: Cached,
    lastuse: u64,
}

/// Locality-based least connection (`ipvsadm -s lblc`).
#[derive(Clone, Debug)]
pub struct Lblc {
    cache: HashMap<IpAddr, Entry>,
    wlc: Keyed<WlcRule>,
    under: Underloaded,
    clock: Clock,
    expiration: u64,
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
            wlc: Keyed::default(),
            under: Underloaded::default(),
            clock,
            expiration,
        }
    }

    /// The clock this scheduler reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
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
        match change {
            Change::Removed(id, _) => {
                self.wlc.removed(dests, id);
                self.under.removed(id);
            }
            Change::Bound => {
                self.wlc.rebuild(dests);
                self.under.rebuild(dests);
                self.cache.clear();
            }
            Change::Added(id) | Change::Updated(id) => {
                self.wlc.resize(dests);
                self.wlc.update(dests, id);
                self.under.update(dests, id);
            }
        }
    }

    fn hooks(&self) -> Hooks {
        // Every connection event can change `activeconns × 2 < weight`.
        Hooks {
            load: true,
            overload: false,
        }
    }

    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        self.wlc.update(dests, id);
        self.under.update(dests, id);
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        let now = self.clock.now();
        if self
            .cache
            .get(&flow.dst)
            .is_some_and(|e| expired(e.lastuse, self.expiration, now))
        {
            self.cache.remove(&flow.dst);
        }
        if let Some(e) = self.cache.get_mut(&flow.dst) {
            e.lastuse = now;
            if let Some((id, d)) = e.dest.resolve(dests)
                && d.in_list
                && d.weight > 0
                && !self.under.is_overloaded(d)
            {
                return Some(id);
            }
        }
        let id = self.wlc.first(dests)?;
        let d = dests.get(id)?;
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
