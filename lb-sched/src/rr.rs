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
//! Here the pointer is the saved dest's insertion sequence number: "the entries
//! after it" are the ones with a smaller sequence number. A pick is O(1) when the
//! next entry is eligible (the saved rank is revalidated, and found again by
//! binary search only after a removal shifted the ranks).

use crate::{Change, DestId, Dests, Flow, Scheduler};

/// Round robin (`ipvsadm -s rr`).
#[derive(Clone, Debug, Default)]
pub struct Rr {
    /// Sequence number of the saved dest; `None` = the list head.
    pos: Option<u64>,
    /// Cached rank of the saved dest (valid when `order[rank].seq == pos`).
    rank: usize,
}

impl Rr {
    /// A round-robin scheduler positioned at the list head (`ip_vs_rr_init_svc`).
    pub fn new() -> Self {
        Rr::default()
    }

    /// Number of ranks strictly "after" the saved position in list order, i.e.
    /// with a smaller sequence number.
    #[inline]
    fn start(&self, dests: &Dests) -> usize {
        let Some(pos) = self.pos else {
            return dests.len();
        };
        if self.rank < dests.len() && dests.at_rank(self.rank).1.seq == pos {
            return self.rank;
        }
        // The saved dest was removed (or ranks shifted): binary search by seq.
        let (mut lo, mut hi) = (0, dests.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if dests.at_rank(mid).1.seq < pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        if let Change::Bound = change {
            // ip_vs_rr_init_svc
            *self = Rr::new();
            return;
        }
        // ip_vs_rr_del_dest: the position moves to the removed dest's predecessor
        // in list order (the next higher rank, now at the removed rank), or to the
        // head. (Keeping the stale position would differ once a dest is added at
        // the head: the head sentinel comes before it, a stale position after it.)
        if let Change::Removed(_, d) = change
            && self.pos == Some(d.seq)
        {
            let r = d.rank as usize;
            self.pos = (r < dests.len()).then(|| dests.at_rank(r).1.seq);
            self.rank = r;
        }
    }

    #[inline]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        let n = dests.len();
        let start = self.start(dests);
        // Entries after the position: ranks start-1 down to 0, then wrap from the
        // head (rank n-1) down to `start` (the saved entry, examined last).
        let eligible = |r: usize| {
            let d = dests.at_rank(r).1;
            !d.overloaded && d.weight > 0
        };
        let hit = (0..start)
            .rev()
            .find(|&r| eligible(r))
            .or_else(|| (start..n).rev().find(|&r| eligible(r)))?;
        let (id, d) = dests.at_rank(hit);
        self.pos = Some(d.seq);
        self.rank = hit;
        Some(id)
    }
}
