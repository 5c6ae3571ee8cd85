// SPDX-License-Identifier: MIT OR Apache-2.0
//! Fuzzing entry points (feature `fuzzing`), called by `fuzz/fuzz_targets/sched_ops.rs`.

use crate::harness::{Op, run_with};
use crate::reference::Model;
use crate::{AnyScheduler, Clock, ConnState, Lblc, Lblcr, Mh};

/// At most this many operations per input. Each op is checked against the
/// reference model (whose mh pick with fallback may probe the whole 4093-slot
/// table, scanning the list for each probe) and followed by a full state
/// comparison, so ~2000 ops cost ~150 ms under ASan and made corpus replay ignore
/// `-max_total_time`. Bugs here need a few dests and a few dozen events; 128 ops
/// keep an input to a few ms.
pub const MAX_OPS: usize = 128;

/// `CONFIG_IP_VS_MH_TAB_INDEX` of the mh inputs (M = 251).
pub const MH_FUZZ_TAB_INDEX: u32 = 8;

/// Destination indexes per input (`0..MAX_DESTS`): few, so adds, removes and
/// edits hit the same dests often, but more than 16 so lc/wlc/sed/nq/fo/ovf
/// switch to their tournament tree (above `2 × keyed::SMALL` dests).
pub const MAX_DESTS: u8 = 24;

/// The "largest weight" class of wrr inputs: up to this, not `i32::MAX`. With
/// the heaviest dests overloaded, the reference model (like the kernel) walks
/// one pass per `cw` step down to the largest available weight, ~2³¹ passes
/// per pick at full size: one such input took 214 s of a CI run. The fast wrr
/// skips those passes arithmetically; its largest weights are checked by the
/// test `wrr_largest_weights_and_an_overloaded_heavy_dest` instead.
pub const WRR_FUZZ_MAX_WEIGHT: u32 = 1024;

/// The `lblc_expiration` / `lblcr_expiration` of the lblc and lblcr inputs
/// (milliseconds): a few Advance ops pass it.
pub const LOCALITY_FUZZ_EXPIRATION: u64 = 100_000;

/// The `IP_VS_LBLC_TAB_BITS` of the lblc and lblcr inputs: a cache of at most
/// 32 entries (refusing new ones at 48), which the picks of one input can fill.
pub const LOCALITY_FUZZ_TAB_BITS: u32 = 1;

/// Decodes `data` into a scheduler choice and an operation sequence, runs it
/// against the fast implementation and the reference model, and panics on the
/// first disagreement (or on a panic inside either).
pub fn sched_ops(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let names = crate::AnyScheduler::NAMES;
    let name = names[head as usize % names.len()];
    let flags = u32::from(head >> 4 & 0x3) << 3; // SCHED1 / SCHED2
    let big = if name == "wrr" {
        WRR_FUZZ_MAX_WEIGHT
    } else {
        i32::MAX as u32
    };
    let ops: Vec<Op> = rest
        .chunks(4)
        .filter_map(|c| decode(c, big))
        .take(MAX_OPS)
        .collect();
    let (sched, model) = if name == "lblc" || name == "lblcr" {
        // A short expiration and a small table, so that Advance ops make lblcr
        // shrink its sets and the collection runs drop entries.
        let (e, bits) = (LOCALITY_FUZZ_EXPIRATION, LOCALITY_FUZZ_TAB_BITS);
        let s = if name == "lblc" {
            Lblc::with_clock(Clock::new(), e)
                .with_tab_bits(bits)
                .map(AnyScheduler::Lblc)
        } else {
            Lblcr::with_clock(Clock::new(), e)
                .with_tab_bits(bits)
                .map(AnyScheduler::Lblcr)
        };
        let (Some(s), Ok(m)) = (s, Model::locality(name, e, bits)) else {
            return;
        };
        (s, m)
    } else if name == "mh" {
        // Every change rebuilds the maglev table in both implementations, and a
        // fallback pick may probe all of it: the smallest table the kernel
        // offers (CONFIG_IP_VS_MH_TAB_INDEX = 8, M = 251) keeps inputs fast; the
        // default M = 4093 is covered by the proptests and the kernel test.
        let (Some(m), Some(r)) = (
            Mh::with_tab_index(flags, MH_FUZZ_TAB_INDEX),
            Model::mh_with_tab_index(flags, MH_FUZZ_TAB_INDEX),
        ) else {
            return;
        };
        (AnyScheduler::Mh(m), r)
    } else {
        let (Ok(s), Ok(m)) = (
            AnyScheduler::from_name(name, flags),
            Model::new(name, flags),
        ) else {
            return;
        };
        (s, m)
    };
    if let Err(e) = run_with(sched, model, &ops) {
        panic!("{e}");
    }
}

/// One op from 4 bytes; `big` is the top of the largest weight class.
fn decode(c: &[u8], big: u32) -> Option<Op> {
    let [a, b, c2, d] = *c else { return None };
    let dest = b % MAX_DESTS;
    let st = if a & 0x80 != 0 {
        ConnState::Active
    } else {
        ConnState::Inactive
    };
    let weight = match c2 % 8 {
        0 => 0,
        1..=5 => u32::from(c2 >> 3) % 8,
        6 => u32::from(c2),
        _ => big - u32::from(d),
    };
    let upper = u32::from(d % 6);
    let lower = u32::from((d >> 3) % 4).min(upper);
    Some(match a & 0x7 {
        0 => Op::Add {
            dest,
            weight,
            upper,
            lower,
        },
        1 => Op::Remove(dest),
        2 => Op::Edit {
            dest,
            weight,
            upper,
            lower,
        },
        3 => Op::Connect(dest, st),
        4 => Op::Establish(dest),
        5 => Op::Close(dest, st),
        6 => Op::Closing(dest),
        // Milliseconds to hours: the lblc/lblcr timer runs every minute.
        _ if a & 0x10 != 0 => Op::Advance(u32::from(u16::from_le_bytes([c2, d])) << (b % 4 * 3)),
        _ => Op::Pick {
            client: u16::from_le_bytes([b, c2]),
            // Mostly 7 addresses, so caches hit; sometimes any of 256.
            dst: if a & 0x8 != 0 {
                d
            } else {
                (u16::from_le_bytes([b, c2]) % 7) as u8
            },
            port: u16::from(d),
            v6: a & 0x40 != 0,
            bind: a & 0x20 != 0,
        },
    })
}
