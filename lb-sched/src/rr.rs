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
//! Here the pointer is the saved dest's position (list order is descending
//! position, so "the entries after it" are the lower positions), and the
//! eligible dests are a `HierBits` over positions. A pick is "the highest
//! eligible position below the saved one, else the highest eligible
//! position": one or two word operations per bitset level, O(1) for any
//! number of ineligible dests in between (weight 0, OVERLOAD), where the
//! kernel walks past each of them.
//!
//! When the saved dest is removed, the pointer keeps its position, now a
//! hole: the dests below it are those after the kernel's new pointer (its
//! predecessor), and a scan that wraps from the head reaches the predecessor
//! last, as the kernel's does. Every change is O(1) (O(n) when the bitset
//! doubles, or when the positions are renumbered).

use crate::bits::HierBits;
use crate::dest::Record;
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler};

/// Round robin (`ipvsadm -s rr`).
#[derive(Clone, Debug, Default)]
pub struct Rr {
    /// Position of the saved dest, or the hole a removed saved dest left;
    /// `None` = the list head.
    pos: Option<u32>,
    /// Bit `p` set ⇔ the dest at position `p` has weight > 0 and is not OVERLOAD.
    eligible: HierBits,
}

impl Rr {
    /// A round-robin scheduler positioned at the list head (`ip_vs_rr_init_svc`).
    pub fn new() -> Self {
        Rr::default()
    }

    /// Indexes every dest, in a bitset with room for twice the positions.
    fn rebuild(&mut self, dests: &Dests) {
        let n = dests.positions();
        self.eligible = HierBits::new(n.next_power_of_two().max(64));
        for (_, d) in dests.records() {
            if d.usable() {
                self.eligible.set(d.pos as usize);
            }
        }
    }

    /// Re-reads one dest's eligibility into the bitset.
    fn refresh(&mut self, d: &Record) {
        if d.in_list() && d.usable() {
            self.eligible.set(d.pos as usize);
        } else {
            self.eligible.clear(d.pos as usize);
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
                self.rebuild(dests);
            }
            // A new dest takes the highest position: the pointer stays.
            Change::Added(_) if dests.positions() > self.eligible.capacity() => {
                self.rebuild(dests);
            }
            Change::Added(id) | Change::Updated(id) => {
                if let Some(d) = dests.record(id) {
                    self.refresh(d);
                }
            }
            Change::Removed(_, d) => {
                self.eligible.clear(d.position() as usize);
                // ip_vs_rr_del_dest: the pointer of a removed saved dest moves
                // to its predecessor; of the list head, to the head. Here it
                // stays on the hole (see the module docs), unless nothing is
                // left above it: then it is the head.
                if self.pos.is_some_and(|p| p as usize >= dests.positions()) {
                    self.pos = None;
                }
            }
            Change::Compacted(c) => {
                self.pos = self.pos.map(|p| c.new_position(p));
                self.rebuild(dests);
            }
        }
    }

    fn hooks(&self) -> Hooks {
        // Eligibility changes with OVERLOAD, not with the counters.
        Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        if let Some(d) = dests.record(id) {
            self.refresh(d);
        }
    }

    // Always inlined: a call would cost as much as the pick at small n.
    #[inline(always)]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        // The entries after the position are the positions below it, the
        // nearest first; then the scan wraps to the head (the highest
        // position) and ends at the saved entry itself, examined last.
        let start = self.pos.map_or(usize::MAX, |p| p as usize);
        let hit = self
            .eligible
            .prev_below(start)
            .or_else(|| self.eligible.prev_below(usize::MAX))?;
        // Always Some while the bitset holds only positions of dests.
        let id = dests.id_at(hit)?;
        self.pos = Some(hit as u32);
        Some(id)
    }
}
