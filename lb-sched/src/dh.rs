// SPDX-License-Identifier: MIT OR Apache-2.0
//! `dh`: destination hashing (`net/netfilter/ipvs/ip_vs_dh.c`, `ip_vs_dh_schedule`,
//! `ip_vs_dh_reassign`; `ipvsadm -s dh`).
//!
//! 256 buckets filled one per dest, cycling through the list (weights ignored),
//! on add and delete. The packet's **destination** address picks the bucket
//! (`hash_32(fold(daddr), 8)`); the dest is returned unless it has weight 0 or is
//! OVERLOAD. No fallback, no flags.

use crate::hash::{fold, hash_32};
use crate::{Change, DestId, Dests, Flow, Scheduler};

/// `IP_VS_DH_TAB_BITS`.
pub const DH_TAB_BITS: u32 = 8;
const DH_TAB_SIZE: usize = 1 << DH_TAB_BITS;

/// Destination hashing (`ipvsadm -s dh`).
#[derive(Clone, Debug)]
pub struct Dh {
    buckets: Box<[Option<DestId>; DH_TAB_SIZE]>,
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
            buckets: Box::new([None; DH_TAB_SIZE]),
        }
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        // The kernel has no upd_dest hook for dh; weights do not shape the table.
        if matches!(change, Change::Updated(_)) {
            return;
        }
        let list: Vec<DestId> = dests.iter().map(|(id, _)| id).collect();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            *b = if list.is_empty() {
                None
            } else {
                Some(list[i % list.len()])
            };
        }
    }

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        let id = self.buckets[hash_32(fold(flow.dst), DH_TAB_BITS) as usize]?;
        let d = dests.get(id)?;
        (d.weight > 0 && !d.overloaded).then_some(id)
    }
}
