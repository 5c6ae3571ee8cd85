// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sh`: source hashing (`net/netfilter/ipvs/ip_vs_sh.c`, `ip_vs_sh_schedule`,
//! `ip_vs_sh_reassign`, `ip_vs_sh_hashkey`; `ipvsadm -s sh`, flags
//! `-b sh-fallback,sh-port`).
//!
//! 256 buckets (`CONFIG_IP_VS_SH_TAB_BITS` = 8), filled on every add, delete and
//! edit by walking the list cyclically, each dest taking `weight` consecutive
//! buckets (at least one). A client lands in bucket
//! `hash_32(port + fold(addr), 8)`; the bucket's dest is returned unless it has
//! weight 0 or is OVERLOAD. With sh-fallback the other buckets are probed in a
//! deterministic order; with sh-port the client's source port joins the hash.

use crate::hash::{fold, hash_32};
use crate::{Change, DestId, Dests, Flow, Scheduler};

/// `IP_VS_SH_TAB_BITS`.
pub const SH_TAB_BITS: u32 = 8;
/// `IP_VS_SH_TAB_SIZE`.
pub const SH_TAB_SIZE: usize = 1 << SH_TAB_BITS;

/// `IP_VS_SVC_F_SCHED_SH_FALLBACK` (`IP_VS_SVC_F_SCHED1`, `-b sh-fallback`).
pub const SH_FALLBACK: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED_SH_PORT` (`IP_VS_SVC_F_SCHED2`, `-b sh-port`).
pub const SH_PORT: u32 = 0x0010;

/// Source hashing (`ipvsadm -s sh`).
///
/// The buckets are a pure function of the list, so a change only marks them
/// stale; they are refilled once, at the next pick (once per burst of changes).
#[derive(Clone, Debug)]
pub struct Sh {
    fallback: bool,
    port: bool,
    /// The slot of each bucket's dest ([`EMPTY`]: none).
    buckets: Box<[u32; SH_TAB_SIZE]>,
    /// The list changed since the buckets were filled.
    stale: bool,
}

/// A bucket with no dest (an empty list).
pub(crate) const EMPTY: u32 = u32::MAX;

impl Default for Sh {
    fn default() -> Self {
        Self::new(0)
    }
}

pub(crate) fn sh_hashkey(addr: u32, port: u16, offset: u32) -> usize {
    (offset.wrapping_add(hash_32((port as u32).wrapping_add(addr), SH_TAB_BITS)) as usize)
        & (SH_TAB_SIZE - 1)
}

impl Sh {
    /// An sh scheduler with the service flags `flags` ([`SH_FALLBACK`], [`SH_PORT`];
    /// other bits are ignored).
    pub fn new(flags: u32) -> Self {
        Sh {
            fallback: flags & SH_FALLBACK != 0,
            port: flags & SH_PORT != 0,
            buckets: Box::new([EMPTY; SH_TAB_SIZE]),
            stale: true,
        }
    }

    /// `ip_vs_sh_reassign`, if the list changed since the last time.
    #[inline]
    fn fill(&mut self, dests: &Dests) {
        if self.stale {
            self.reassign(dests);
        }
    }

    /// `ip_vs_sh_reassign`: walking the list cyclically, each dest takes
    /// `weight` consecutive buckets (at least one).
    #[cold]
    #[inline(never)]
    fn reassign(&mut self, dests: &Dests) {
        self.stale = false;
        let mut list = dests.records().cycle();
        let Some(mut d) = list.next() else {
            self.buckets.fill(EMPTY);
            return;
        };
        let mut d_count = 0u32;
        for b in self.buckets.iter_mut() {
            *b = d.0.slot();
            d_count += 1;
            if d_count >= d.1.weight() {
                d = list.next().unwrap_or(d);
                d_count = 0;
            }
        }
    }
}

/// The dest of a bucket if it may be chosen (weight > 0, not OVERLOAD).
#[inline]
pub(crate) fn available(dests: &Dests, slot: u32) -> Option<DestId> {
    let (id, d) = dests.at_slot(slot)?;
    d.usable().then_some(id)
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn dest_changed(&mut self, _dests: &Dests, change: Change<'_>) {
        // Positions are not what the buckets hold: a compaction changes nothing.
        if !matches!(change, Change::Compacted(_)) {
            self.stale = true;
        }
    }

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        self.fill(dests);
        let addr = fold(flow.src);
        let port = if self.port { flow.src_port } else { 0 };
        let ihash = sh_hashkey(addr, port, 0);
        let dest = self.buckets[ihash];
        if dest == EMPTY {
            return None;
        }
        if let Some(id) = available(dests, dest) {
            return Some(id);
        }
        if !self.fallback {
            return None;
        }
        for offset in 0..SH_TAB_SIZE {
            let roffset = ((offset + ihash) % SH_TAB_SIZE) as u32;
            let dest = self.buckets[sh_hashkey(addr, port, roffset)];
            if dest == EMPTY {
                return None;
            }
            if let Some(id) = available(dests, dest) {
                return Some(id);
            }
        }
        None
    }
}
