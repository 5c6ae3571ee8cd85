// SPDX-License-Identifier: MIT OR Apache-2.0
//! `lblcr`: locality-based least connection with replication
//! (`net/netfilter/ipvs/ip_vs_lblcr.c`, `ip_vs_lblcr_schedule`; `ipvsadm -s lblcr`).
//!
//! As lblc, but each destination address maps to a *set* of real servers:
//! - a hit takes the set's weighted least-connection member (skipping OVERLOAD,
//!   servers out of the list and weight 0; `ip_vs_dest_set_min`);
//! - a set with more than one member, unchanged for the expiration, then loses
//!   its weighted most-loaded member (`ip_vs_dest_set_max`, which does not
//!   skip servers out of the list or OVERLOAD);
//! - if there is no member to use, or it is "lblc-overloaded", wlc over the
//!   whole list picks a server, which joins the set (at its head) if new;
//! - a miss makes a new set of the wlc choice.
//!
//! Set members stay in sets after they leave the list, as the kernel's sets
//! hold the dests; a member freed here (removed, no connections left) is seen
//! with the weight it had and no connections, as the kernel's trashed dest.
//! The cache's collection and size limit are as in [`crate::Lblc`].

use std::collections::HashMap;
use std::net::IpAddr;

use crate::locality::{Cache, Cached, Clock, DEFAULT_EXPIRATION_MS, LastUse, Locality};
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler};

/// `struct ip_vs_dest_set` and its entry's `lastuse`.
#[derive(Clone, Debug)]
struct DestSet {
    /// Head first (`list_add_rcu`).
    members: Vec<Cached>,
    lastmod: u64,
    lastuse: u64,
}

impl LastUse for DestSet {
    fn lastuse(&self) -> u64 {
        self.lastuse
    }
    fn lastuse_mut(&mut self) -> &mut u64 {
        &mut self.lastuse
    }
}

/// What `ip_vs_dest_set_min` / `_max` read of a member.
#[derive(Clone, Copy, Debug)]
struct Member {
    id: Option<DestId>,
    weight: u64,
    overhead: u64,
    overloaded: bool,
    available: bool,
}

/// Locality-based least connection with replication (`ipvsadm -s lblcr`).
#[derive(Clone, Debug)]
pub struct Lblcr {
    cache: Cache<DestSet>,
    /// The weight of each removed dest, for members freed since.
    gone: HashMap<(IpAddr, u16), u32>,
    core: Locality,
}

impl Default for Lblcr {
    fn default() -> Self {
        Self::with_clock(Clock::new(), DEFAULT_EXPIRATION_MS)
    }
}

impl Lblcr {
    /// A new lblcr scheduler whose clock stands still (no entry expires, no set
    /// shrinks).
    pub fn new() -> Self {
        Self::default()
    }

    /// A new lblcr scheduler reading `clock`; `expiration` is sysctl
    /// `net.ipv4.vs.lblcr_expiration` in milliseconds (`sysctl` shows
    /// seconds): sets unchanged that long shrink, and full checks drop entries
    /// unused that long.
    pub fn with_clock(clock: Clock, expiration: u64) -> Self {
        Lblcr {
            cache: Cache::default(),
            gone: HashMap::new(),
            core: Locality::new(clock, expiration),
        }
    }

    /// The same scheduler with a cache table of 2^`bits` buckets: a kernel
    /// built with `IP_VS_LBLCR_TAB_BITS` = `bits` (10 by default). The maximum
    /// size is 16 entries per bucket. `None` outside 1..=20.
    pub fn with_tab_bits(mut self, bits: u32) -> Option<Self> {
        self.core = self.core.with_tab_bits(bits)?;
        Some(self)
    }

    /// Number of cached destination addresses (as of the last pick).
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The expiration (sysctl `lblcr_expiration`), in milliseconds.
    pub fn expiration(&self) -> u64 {
        self.core.expiration()
    }

    /// The clock this scheduler reads.
    pub fn clock(&self) -> &Clock {
        self.core.clock()
    }

    /// The servers cached for destination address `daddr`, head first (as of
    /// the last pick).
    pub fn set_of(&self, daddr: IpAddr) -> impl Iterator<Item = (IpAddr, u16)> + '_ {
        self.cache
            .get(&daddr)
            .into_iter()
            .flat_map(|s| s.members.iter().map(|m| m.key))
    }
}

fn member(m: &mut Cached, dests: &Dests, gone: &HashMap<(IpAddr, u16), u32>) -> Member {
    match m.resolve(dests) {
        Some((id, d)) => Member {
            id: Some(id),
            weight: u64::from(d.weight()),
            overhead: d.overhead(),
            overloaded: d.overloaded(),
            available: d.in_list(),
        },
        None => Member {
            id: None,
            weight: gone.get(&m.key).copied().unwrap_or(0) as u64,
            overhead: 0,
            overloaded: false,
            available: false,
        },
    }
}

/// `ip_vs_dest_set_min`: the first available, non-OVERLOAD member with a
/// positive weight, replaced by any later available non-OVERLOAD one with
/// strictly less overhead per weight.
fn set_min(set: &mut DestSet, dests: &Dests, gone: &HashMap<(IpAddr, u16), u32>) -> Option<DestId> {
    let mut least: Option<Member> = None;
    for m in &mut set.members {
        let v = member(m, dests, gone);
        if v.overloaded || !v.available {
            continue;
        }
        match least {
            None if v.weight > 0 => least = Some(v),
            Some(l)
                if l.overhead as u128 * v.weight as u128
                    > v.overhead as u128 * l.weight as u128 =>
            {
                least = Some(v)
            }
            _ => {}
        }
    }
    least.and_then(|l| l.id)
}

/// `ip_vs_dest_set_max`: the first member with weight > 0, replaced by any later
/// one with weight > 0 and strictly more overhead per weight; its position.
fn set_max(set: &mut DestSet, dests: &Dests, gone: &HashMap<(IpAddr, u16), u32>) -> Option<usize> {
    let mut most: Option<(usize, Member)> = None;
    for (i, m) in set.members.iter_mut().enumerate() {
        let v = member(m, dests, gone);
        if v.weight == 0 {
            continue;
        }
        match most {
            Some((_, mo))
                if mo.overhead as u128 * v.weight as u128
                    >= v.overhead as u128 * mo.weight as u128 => {}
            _ => most = Some((i, v)),
        }
    }
    most.map(|(i, _)| i)
}

impl Scheduler for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        self.core.dest_changed(dests, change);
        match change {
            Change::Removed(_, d) => {
                self.gone.insert((d.addr(), d.port()), d.weight());
            }
            Change::Compacted(_) => {}
            Change::Bound => {
                self.cache.clear();
                self.gone.clear();
            }
            Change::Added(id) | Change::Updated(id) => {
                if let Some(d) = dests.record(id) {
                    self.gone.remove(&(d.addr(), d.port()));
                }
            }
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
        let Some(set) = self.core.lookup(&mut self.cache, flow.dst, now) else {
            let (id, d) = self.core.wlc_pick(dests)?;
            // ip_vs_lblcr_new: no new entry once the cache is full.
            if self.core.has_room(self.cache.len()) {
                self.cache.insert(
                    flow.dst,
                    DestSet {
                        members: vec![Cached::of(id, d)],
                        lastmod: now,
                        lastuse: now,
                    },
                );
            }
            return Some(id);
        };
        let min = set_min(set, dests, &self.gone);
        if set.members.len() > 1
            && now > set.lastmod.saturating_add(self.core.expiration())
            && let Some(i) = set_max(set, dests, &self.gone)
        {
            set.members.remove(i);
            set.lastmod = now;
        }
        if let Some(id) = min
            && let Some(d) = dests.record(id)
            && !self.core.is_overloaded(dests, d)
        {
            return Some(id);
        }
        let (id, d) = self.core.wlc_pick(dests)?;
        // ip_vs_dest_set_insert(check = true)
        if !set.members.iter().any(|m| m.key == (d.addr(), d.port())) {
            set.members.insert(0, Cached::of(id, d));
            set.lastmod = now;
        }
        Some(id)
    }
}
