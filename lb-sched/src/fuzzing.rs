// SPDX-License-Identifier: MIT OR Apache-2.0
//! Fuzzing entry points (feature `fuzzing`), called by `fuzz/fuzz_targets/sched_ops.rs`.

use crate::ConnState;
use crate::harness::{Op, run};

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
    let ops: Vec<Op> = rest.chunks(4).filter_map(decode).take(2000).collect();
    if let Err(e) = run(name, flags, &ops) {
        panic!("{e}");
    }
}

fn decode(c: &[u8]) -> Option<Op> {
    let [a, b, c2, d] = *c else { return None };
    let dest = b % 24;
    let st = if a & 0x80 != 0 {
        ConnState::Active
    } else {
        ConnState::Inactive
    };
    let weight = match c2 % 8 {
        0 => 0,
        1..=5 => u32::from(c2 >> 3) % 8,
        6 => u32::from(c2),
        _ => i32::MAX as u32 - u32::from(d),
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
        _ => Op::Pick {
            client: u16::from_le_bytes([b, c2]),
            port: u16::from(d),
            v6: a & 0x40 != 0,
            bind: a & 0x20 != 0,
        },
    })
}
