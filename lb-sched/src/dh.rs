// SPDX-License-Identifier: MIT OR Apache-2.0
//! `dh`: destination hashing (`net/netfilter/ipvs/ip_vs_dh.c`, `ip_vs_dh_schedule`,
//! `ip_vs_dh_reassign`; `ipvsadm -s dh`).
//!
//! 256 buckets filled one per dest, cycling through the list (weights ignored),
//! after an add or a delete. The packet's **destination** address picks the bucket
//! (`hash_32(fold(daddr), 8)`); the dest is returned unless it has weight 0 or is
//! OVERLOAD. No fallback, no flags.

use crate::hash::{fold, hash_32};
use crate::sh::{EMPTY, available};
use crate::{Change, DestId, Dests, Flow, Scheduler};

/// `IP_VS_DH_TAB_BITS`.
pub const DH_TAB_BITS: u32 = 8;
const DH_TAB_SIZE: usize = 1 << DH_TAB_BITS;

/// Destination hashing (`ipvsadm -s dh`).
///
/// The buckets are a pure function of the list, refilled once at the next
/// pick after an add or a delete.
#[derive(Clone, Debug)]
pub struct Dh {
    /// The slot of each bucket's dest ([`EMPTY`]: none).
    buckets: Box<[u32; DH_TAB_SIZE]>,
    /// The list changed since the buckets were filled.
    stale: bool,
}

impl Default for Dh {
    fn default() -> Self {
        Self::new()
    }
}

impl Dh {
    /// A new dh scheduler.
    pub fn new() -> Self {
        Dh {
            buckets: Box::new([EMPTY; DH_TAB_SIZE]),
            stale: true,
        }
    }

    /// `ip_vs_dh_reassign`: one bucket per dest, cycling through the list.
    #[cold]
    #[inline(never)]
    fn reassign(&mut self, dests: &Dests) {
        self.stale = false;
        let mut list = dests.records().map(|(id, _)| id.slot()).cycle();
        for b in self.buckets.iter_mut() {
            *b = list.next().unwrap_or(EMPTY);
        }
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn dest_changed(&mut self, _dests: &Dests, change: Change<'_>) {
        // The kernel has no upd_dest hook for dh (weights do not shape the
        // table), and positions are not what the buckets hold.
        if !matches!(change, Change::Updated(_) | Change::Compacted(_)) {
            self.stale = true;
        }
    }

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        if self.stale {
            self.reassign(dests);
        }
        available(
            dests,
            self.buckets[hash_32(fold(flow.dst), DH_TAB_BITS) as usize],
        )
    }
}
