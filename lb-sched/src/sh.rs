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
#[derive(Clone, Debug)]
pub struct Sh {
    fallback: bool,
    port: bool,
    buckets: Box<[Option<DestId>; SH_TAB_SIZE]>,
}

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
            buckets: Box::new([None; SH_TAB_SIZE]),
        }
    }

    /// The bucket table (`s->buckets`), for tests and diagnostics.
    pub fn buckets(&self) -> &[Option<DestId>] {
        &self.buckets[..]
    }
}

fn available(dests: &Dests, id: DestId) -> bool {
    dests.get(id).is_some_and(|d| d.weight > 0 && !d.overloaded)
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn dest_changed(&mut self, dests: &Dests, _change: Change<'_>) {
        // ip_vs_sh_reassign
        let list: Vec<_> = dests.iter().map(|(id, d)| (id, d.weight)).collect();
        if list.is_empty() {
            self.buckets.fill(None);
            return;
        }
        let mut p = 0;
        let mut d_count = 0u32;
        for b in self.buckets.iter_mut() {
            let (id, w) = list[p];
            *b = Some(id);
            d_count += 1;
            if d_count >= w {
                p = (p + 1) % list.len();
                d_count = 0;
            }
        }
    }

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        let addr = fold(flow.src);
        let port = if self.port { flow.src_port } else { 0 };
        let ihash = sh_hashkey(addr, port, 0);
        let dest = self.buckets[ihash]?;
        if available(dests, dest) {
            return Some(dest);
        }
        if !self.fallback {
            return None;
        }
        for offset in 0..SH_TAB_SIZE {
            let roffset = ((offset + ihash) % SH_TAB_SIZE) as u32;
            let hash = sh_hashkey(addr, port, roffset);
            let dest = self.buckets[hash]?;
            if available(dests, dest) {
                return Some(dest);
            }
        }
        None
    }
}
