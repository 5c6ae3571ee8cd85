// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rr`: round robin (`net/netfilter/ipvs/ip_vs_rr.c`, `ip_vs_rr_schedule`,
//! `ipvsadm -s rr`).
//!
//! The kernel keeps a pointer into the destination list and, on each pick, walks
//! forward circularly from the entry after it to the first dest that has weight > 0
//! and is not OVERLOAD; the saved entry itself is examined last. When the saved
//! dest is removed, the pointer moves to its predecessor (`ip_vs_rr_del_dest`), so
//! the next pick is the dest that followed the removed one.
//!
//! Here the pointer is the saved dest's rank (its index in insertion order; list
//! order is descending rank, so "the entries after it" are the lower ranks), and
//! the eligible dests are a `HierBits` over ranks. A pick is "the highest
//! eligible rank below the saved one, else the highest eligible rank": one or two
//! word operations per bitset level, O(1) for any number of ineligible dests in
//! between (weight 0, OVERLOAD), where the kernel walks past each of them.

use crate::bits::HierBits;
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler};

/// Round robin (`ipvsadm -s rr`).
#[derive(Clone, Debug, Default)]
pub struct Rr {
    /// Rank of the saved dest; `None` = the list head. Kept exact across
    /// removals (ranks above a removed dest shift down by one).
    pos: Option<usize>,
    /// Bit `r` set ⇔ the dest at rank `r` has weight > 0 and is not OVERLOAD.
    /// Valid unless `stale`.
    eligible: HierBits,
    /// `eligible` must be rebuilt before the next pick (after a removal shifted
    /// ranks, or a bind to a list never seen).
    stale: bool,
}

impl Rr {
    /// A round-robin scheduler positioned at the list head (`ip_vs_rr_init_svc`).
    pub fn new() -> Self {
        Rr::default()
    }

    fn rebuild(&mut self, dests: &Dests) {
        let n = dests.len();
        if self.eligible.capacity() < n {
            self.eligible = HierBits::new(n.next_power_of_two().max(64));
        } else {
            self.eligible.clear_all();
        }
        for r in 0..n {
            if Self::is_eligible(dests.at_rank(r).1) {
                self.eligible.set(r);
            }
        }
        self.stale = false;
    }

    #[inline]
    fn is_eligible(d: &crate::Dest) -> bool {
        !d.overloaded && d.weight > 0
    }

    /// Re-reads one dest's eligibility into the bitset.
    fn refresh(&mut self, dests: &Dests, id: DestId) {
        if self.stale {
            return;
        }
        let Some(d) = dests.get(id) else { return };
        let r = d.rank as usize;
        if r >= self.eligible.capacity() {
            // Grown past the bitset: rebuild (doubling) at the next pick.
            self.stale = true;
        } else if Self::is_eligible(d) {
            self.eligible.set(r);
        } else {
            self.eligible.clear(r);
        }
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        match change {
            Change::Bound => {
                // ip_vs_rr_init_svc
                self.pos = None;
                self.stale = true;
            }
            // A new dest takes the highest rank: no rank moves, the position stays.
            Change::Added(id) | Change::Updated(id) => self.refresh(dests, id),
            Change::Removed(_, d) => {
                let r = d.rank as usize;
                // ip_vs_rr_del_dest: if the saved dest is removed, the position
                // moves to its predecessor in list order, the next higher rank,
                // which now sits at rank `r`; if it was the head entry, to the
                // head. Removing another dest moves no pointer, but a lower rank
                // shifts the saved dest's rank down by one.
                self.pos = match self.pos {
                    Some(p) if p == r => (r < dests.len()).then_some(r),
                    Some(p) if p > r => Some(p - 1),
                    p => p,
                };
                self.stale = true;
            }
        }
    }

    fn hooks(&self) -> Hooks {
        // Eligibility changes with OVERLOAD, not with the counters.
        Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        self.refresh(dests, id);
    }

    // Always inlined: a call would cost as much as the pick at small n.
    #[inline(always)]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        if self.stale {
            self.rebuild(dests);
        }
        // The entries after the position are the ranks below it, the nearest
        // first; then the scan wraps to the head (the highest rank) and ends at
        // the saved entry itself, examined last.
        let start = self.pos.unwrap_or(usize::MAX);
        let hit = self
            .eligible
            .prev_below(start)
            .or_else(|| self.eligible.prev_below(usize::MAX))?;
        let Some(id) = dests.id_at_rank(hit) else {
            // Unreachable while the bitset invariant holds; never panic.
            self.stale = true;
            return None;
        };
        self.pos = Some(hit);
        Some(id)
    }
}
