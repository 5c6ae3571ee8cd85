// SPDX-License-Identifier: MIT OR Apache-2.0
//! A pick and a connection event allocate nothing, for every scheduler, in
//! the scan modes and the indexed ones, with thresholds flipping OVERLOAD;
//! nor does the first pick after an add, where sh, dh and mh rebuild their
//! tables. The global allocator counts every allocation of this test binary,
//! which runs without libtest's harness (`harness = false`): no other thread
//! runs, so every allocation counted is the schedulers'.

use std::alloc::System;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use lb_sched::{AnyScheduler, ConnState, DestConfig, DestId, Flow, Service};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// `n` dests with weights 1..=7, every third with thresholds (upper 3, lower 1).
fn configs(n: usize) -> Vec<DestConfig> {
    (0..n)
        .map(|i| {
            let addr = IpAddr::V4(Ipv4Addr::from(0xCB00_7100u32 + i as u32));
            let cfg = DestConfig::new(addr, 8080, 1 + i as u32 % 7);
            if i % 3 == 0 {
                cfg.thresholds(3, 1)
            } else {
                cfg
            }
        })
        .collect()
}

/// The flow of step `i`: 64 clients to 16 destination addresses.
fn flow(i: usize) -> Flow {
    Flow {
        src: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 64) as u8)),
        src_port: 1024 + (i % 7) as u16,
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 16) as u8)),
        dst_port: 80,
    }
}

/// One connection: a pick, bound and established, and once `cap` are open
/// the oldest closed.
fn step(svc: &mut Service<AnyScheduler>, open: &mut VecDeque<DestId>, cap: usize, i: usize) {
    if let Some(id) = svc.pick_for(&flow(i)) {
        svc.conn_new(id, ConnState::Inactive).unwrap();
        svc.conn_established(id).unwrap();
        open.push_back(id);
    }
    if open.len() > cap
        && let Some(old) = open.pop_front()
    {
        svc.conn_closing(old).unwrap();
        svc.conn_closed(old, ConnState::Inactive).unwrap();
    }
}

fn main() {
    picks_and_connection_events_allocate_nothing();
    println!("picks and connection events allocate nothing: ok");
}

fn picks_and_connection_events_allocate_nothing() {
    for name in AnyScheduler::NAMES {
        for n in [2, 16, 300] {
            let sched = AnyScheduler::from_name(name, 0x08).unwrap();
            let mut svc = Service::with_dests(sched, configs(n)).unwrap();
            let cap = 2 * n;
            let mut open = VecDeque::with_capacity(cap + 1);
            // Warm up: lblc and lblcr cache every destination address and
            // grow their sets.
            for i in 0..4000 {
                step(&mut svc, &mut open, cap, i);
            }
            let region = Region::new(GLOBAL);
            for i in 4000..8000 {
                step(&mut svc, &mut open, cap, i);
            }
            let used = region.change();
            assert_eq!(
                (used.allocations, used.reallocations),
                (0, 0),
                "{name} n={n}: picks and connection events allocated"
            );
            // A change that grows the list, then the first pick after it. The
            // new dest is quiesced (weight 0), so no choice changes: lblc and
            // lblcr allocate when a pick grows their cache or a set, as the
            // kernel does (`kmalloc` in `ip_vs_lblc_new`,
            // `ip_vs_dest_set_insert`).
            let more = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 250));
            svc.add(DestConfig::new(more, 8080, 0)).unwrap();
            let region = Region::new(GLOBAL);
            step(&mut svc, &mut open, cap, 8000);
            let used = region.change();
            assert_eq!(
                (used.allocations, used.reallocations),
                (0, 0),
                "{name} n={n}: the first pick after a change allocated"
            );
        }
    }
}
