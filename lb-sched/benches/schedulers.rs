// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pick + connection bookkeeping, fast schedulers vs the reference model's linear
//! scans (the kernel's algorithm), at n = 2, 16, 256, 4096, 65536 destinations.
//!
//! One iteration = one pick, the new connection bound to the chosen dest and
//! moved to ESTABLISHED, and, once `8 × n` connections are open, the oldest one
//! closed: the bookkeeping a proxy does per connection. The reference's events
//! are O(1) (by list index, as the kernel has a pointer to the dest), so the
//! comparison is pick cost against pick cost plus index upkeep.
//!
//! Before timing, both run in lockstep and must pick the same dest every time.
//! Times are the thread's CPU time (schedstat), not wall time: the machines are
//! shared and wall time there measures the neighbours.
//! `cargo bench -p lb-sched` prints `ratio` lines (reference time / fast time);
//! in test mode (`cargo test --benches`, `cargo bench -- --test`) only small n run.
//! `LB_SCHED_BENCH_SIZES=2,4096` runs (and verifies) only those sizes.

#![allow(missing_docs)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lb_sched::reference::Model;
use lb_sched::{AnyScheduler, ConnState, DestConfig, DestId, Flow, Rr, Service};

/// Weight profiles.
#[derive(Clone, Copy)]
enum Weights {
    /// Weights 1..=100, spread evenly.
    Uniform,
    /// Heavy-tailed: most dests weight 1..=4, one in 1024 (and dest 0) weight
    /// 1000, a few big machines in a pool of small ones. Here the kernel's wrr
    /// scans the whole list in each of the ~1000 high-`cw` passes.
    HeavyTail,
}

fn configs(n: usize, w: Weights) -> Vec<DestConfig> {
    (0..n)
        .map(|i| {
            let addr = IpAddr::V4(Ipv4Addr::from(0xCB00_7100u32 + i as u32)); // 203.0.113.0 +
            let weight = match w {
                Weights::Uniform => 1 + (i as u32).wrapping_mul(2_654_435_761) % 100,
                Weights::HeavyTail => {
                    if i % 1024 == 0 {
                        1000
                    } else {
                        1 + i as u32 % 4
                    }
                }
            };
            DestConfig::new(addr, 8080, weight)
        })
        .collect()
}

struct Fast {
    svc: Service<AnyScheduler>,
    open: VecDeque<DestId>,
    cap: usize,
}

impl Fast {
    fn new(name: &str, cfgs: &[DestConfig]) -> Self {
        // Add under rr (no per-add work), then bind the scheduler once: the
        // kernel's init_service on an existing list, mirrored by Model::bound.
        let mut tmp = Service::new(AnyScheduler::Rr(Rr::new()));
        for c in cfgs {
            tmp.add(*c).unwrap();
        }
        tmp.rebind(AnyScheduler::from_name(name, 0).unwrap())
            .unwrap();
        Fast {
            svc: tmp,
            open: VecDeque::new(),
            cap: 8 * cfgs.len(),
        }
    }
    fn step(&mut self) -> Option<DestId> {
        let id = self.svc.pick()?;
        self.svc.conn_new(id, ConnState::Inactive).unwrap();
        self.svc.conn_established(id).unwrap();
        self.open.push_back(id);
        if self.open.len() > self.cap {
            let old = self.open.pop_front().unwrap();
            self.svc.conn_closed(old, ConnState::Active).unwrap();
        }
        Some(id)
    }
}

struct Oracle {
    m: Model,
    open: VecDeque<usize>,
    cap: usize,
}

impl Oracle {
    fn new(name: &str, cfgs: &[DestConfig]) -> Self {
        Oracle {
            m: Model::bound(name, 0, cfgs).unwrap(),
            open: VecDeque::new(),
            cap: 8 * cfgs.len(),
        }
    }
    fn step(&mut self) -> Option<usize> {
        let i = self.m.pick_index(&Flow::UNSPECIFIED)?;
        self.m.conn_new_at(i, ConnState::Inactive).unwrap();
        self.m.conn_move_at(i, ConnState::Active).unwrap();
        self.open.push_back(i);
        if self.open.len() > self.cap {
            let old = self.open.pop_front().unwrap();
            self.m.conn_closed_at(old, ConnState::Active).unwrap();
        }
        Some(i)
    }
}

/// Runs both in lockstep for `steps` picks and checks they choose the same dest.
fn verify(name: &str, cfgs: &[DestConfig], steps: usize) {
    let mut f = Fast::new(name, cfgs);
    let mut o = Oracle::new(name, cfgs);
    for s in 0..steps {
        let a = f.step().map(|id| {
            let d = f.svc.dest(id).unwrap();
            (d.addr(), d.port())
        });
        let b = o.step().map(|i| o.m.list[i].key);
        assert_eq!(
            a,
            b,
            "{name} n={} step {s}: fast and kernel model differ",
            cfgs.len()
        );
    }
}

/// CPU time of this thread in ns (`/proc/thread-self/schedstat`, first field).
/// The machines this runs on are shared, so wall time mostly measures the
/// neighbours; CPU time measures the code. `None` off Linux.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn timed(total: &Rc<RefCell<(Duration, u64)>>, iters: u64, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    let c0 = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    let d = match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
        _ => t.elapsed(),
    };
    let mut s = total.borrow_mut();
    s.0 += d;
    s.1 += iters;
    d
}

fn per_iter(t: &Rc<RefCell<(Duration, u64)>>) -> f64 {
    let (d, n) = *t.borrow();
    d.as_secs_f64() / n.max(1) as f64
}

fn bench_sched(
    c: &mut Criterion,
    name: &str,
    w: Weights,
    label: &str,
    sizes: &[usize],
    full: bool,
) {
    let mut group = c.benchmark_group(label);
    group.throughput(Throughput::Elements(1));
    if full {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_millis(1500));
    }
    for &n in sizes {
        let cfgs = configs(n, w);
        verify(name, &cfgs, if full { 3000 } else { 300 });
        let tf = Rc::new(RefCell::new((Duration::ZERO, 0)));
        let to = Rc::new(RefCell::new((Duration::ZERO, 0)));
        let mut fast = Fast::new(name, &cfgs);
        group.bench_with_input(BenchmarkId::new("fast", n), &n, |b, _| {
            b.iter_custom(|iters| {
                timed(&tf, iters, || {
                    black_box(fast.step());
                })
            })
        });
        let mut oracle = Oracle::new(name, &cfgs);
        group.bench_with_input(BenchmarkId::new("kernel-scan", n), &n, |b, _| {
            b.iter_custom(|iters| {
                timed(&to, iters, || {
                    black_box(oracle.step());
                })
            })
        });
        let (f, o) = (per_iter(&tf), per_iter(&to));
        if f == 0.0 || o == 0.0 {
            continue; // filtered out on the command line
        }
        println!(
            "ratio {label} n={n}: kernel-scan {:.1} ns / fast {:.1} ns = {:.2}x",
            o * 1e9,
            f * 1e9,
            o / f
        );
    }
    group.finish();
}

fn main() {
    // `cargo bench` passes --bench; `cargo bench -- --test` adds --test, and
    // `cargo test --benches` passes neither: those only smoke-test small n.
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    let default: &[usize] = if full {
        &[2, 16, 256, 4096, 65536]
    } else {
        &[2, 16, 256]
    };
    let chosen: Option<Vec<usize>> = std::env::var("LB_SCHED_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let sizes = chosen.as_deref().unwrap_or(default);
    for name in ["rr", "wrr", "lc", "wlc", "sed", "nq"] {
        bench_sched(&mut c, name, Weights::Uniform, name, sizes, full);
    }
    bench_sched(
        &mut c,
        "wrr",
        Weights::HeavyTail,
        "wrr-heavytail",
        sizes,
        full,
    );
    c.final_summary();
}
