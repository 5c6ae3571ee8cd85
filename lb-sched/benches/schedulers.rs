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
//! The fast side runs twice: as `Service<S>` for the concrete scheduler type
//! (what a proxy with a fixed scheduler uses; the `ratio` line, against the
//! kernel scan) and as `Service<AnyScheduler>` (chosen by name at run time,
//! one enum dispatch per call; the `any-vs-concrete` line, paired with the
//! concrete type). The reference model dispatches on its state enum, as the
//! kernel calls through `svc->scheduler`.
//!
//! Weight profiles: `uniform` (1..=100) for every scheduler; `heavytail` for
//! wrr (a few weight-1000 dests among weights 1..=4: the kernel's wrr scans
//! the whole list in each high-`cw` pass); `sparse` for rr and wrr (one dest
//! in 256 has weight 1, the rest are drained to 0: the kernel walks past
//! every drained dest). With uniform weights the kernel's wrr finds a dest
//! every second check on average (a pass at `cw` picks the `(101 − cw)%` of
//! dests at or above it, so 100 passes of n checks give 50.5·n picks): its
//! scan is not linear per pick there, and no index can be 10× faster than two
//! checks plus the connection bookkeeping both sides do.
//!
//! lblc and lblcr key on the destination address: their connections cycle
//! over 256 addresses. Profile `ones` (every weight 1) keeps every server above
//! its weight in active connections, where the kernel's `is_overloaded` walks
//! the whole list on every cache hit looking for a server below half its weight.
//!
//! Before timing, both run in lockstep and must pick the same dest every time.
//! Criterion then times each side on its own (the thread's CPU time from
//! schedstat, the median of its samples), and the `ratio` lines print those
//! times. The ratio itself comes from paired rounds ([`paired_ratio`]): the
//! kernel scan and the fast side alternate every half millisecond, so both
//! see the same machine. Timed apart, seconds between them, the ratio of the
//! same code moved ±40 % at n = 2 on the shared 2-core machines; paired, the
//! rounds of one run agree within a few per cent. What remains is placement:
//! where the code and the heap land moves a small-n ratio by up to a third
//! between builds and runs (lc at n = 2 read 1.06× and 1.44×; lblc with
//! every weight 1 read 0.98× after the other groups, 1.31–1.37× alone).
//! The `any-vs-concrete` and `minimal` lines, whose sides differ by a few
//! instructions a step, spread each side over five instances at different
//! heap offsets and report the median ([`paired_over_placements`]).
//! Where the code lands is fixed by the build and no run averages it: the
//! two sides are different copies of the same instructions, and an
//! unrelated change moves a cell of `any-vs-concrete` by a fifth or more
//! either way (wrr at n = 2 read 1.01 and, once a function that wrr never
//! calls was inlined elsewhere, 1.18). To measure the code rather than its
//! placement, build with every function and branch target aligned:
//! `RUSTFLAGS="-C llvm-args=-align-all-functions=6 -C llvm-args=-align-all-nofallthru-blocks=5"`
//! (BENCHMARKS.md gives both builds' figures).
//!
//! Each `ratio` line also pairs the scan with [`FreePick`]: the same
//! bookkeeping after a pick that costs nothing (the scan's choices replayed).
//! That ratio is the most a faster pick can gain against the scan, the
//! bookkeeping being the model's. It bounds what a target can ask: rr, wrr,
//! lc, wlc, sed and nq at n = 2, and wrr with spread weights at n = 4096,
//! read about 2× or less there, since the scan's pick is about half its
//! step or less.
//!
//! Besides the picks, the bench measures what a control plane pays
//! ([`bench_build`], [`bench_remove`]), what a destination costs in heap
//! ([`bench_heap`], counted by the global allocator), lc and wlc against
//! the least-connection scan a user would write instead ([`MinimalScan`]),
//! and AnyScheduler against the concrete type (`any-vs-concrete`).
//!
//! `cargo bench -p lb-sched` prints `ratio` lines (reference time / fast time)
//! and the `heap`, `build`, `remove`, `minimal` and `any-vs-concrete` lines;
//! in test mode (`cargo test --benches`, `cargo bench -- --test`) only small n run.
//! `LB_SCHED_BENCH_SIZES=2,4096` runs (and verifies) only those sizes; a
//! name filter selects groups (see [`Filter`]): `-- "^wrr/|minimal/lc"`.

#![allow(missing_docs)]

use std::alloc::System;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use lb_sched::any::XorShift;
use lb_sched::reference::Model;
use lb_sched::{
    AnyScheduler, ConnState, DestConfig, DestId, Flow, Lblc, Lblcr, Lc, Mh, Nq, Rr, Scheduler, Sed,
    Service, Twos, Wlc, Wrr,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts the heap (for the `heap` lines). The timed paths allocate nothing.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Weight profiles.
#[derive(Clone, Copy)]
enum Weights {
    /// Weights 1..=100, spread evenly.
    Uniform,
    /// Heavy-tailed: most dests weight 1..=4, one in 1024 (and dest 0) weight
    /// 1000, a few big machines in a pool of small ones. Here the kernel's wrr
    /// scans the whole list in each of the ~1000 high-`cw` passes.
    HeavyTail,
    /// One dest in 256 (and dest 0) has weight 1, the rest weight 0: a pool
    /// drained for maintenance. The kernel's rr and wrr walk past each drained dest.
    Sparse,
    /// Every weight 1: with 8 connections open per dest, each is above its
    /// weight, so lblc's and lblcr's `is_overloaded` scans the list per hit.
    Ones,
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
                Weights::Sparse => u32::from(i % 256 == 0),
                Weights::Ones => 1,
            };
            DestConfig::new(addr, 8080, weight)
        })
        .collect()
}

/// The flows of a run: `None` for the schedulers that read none (they pick
/// `Flow::UNSPECIFIED`); for lblc and lblcr, one per destination address in
/// turn.
struct Flows {
    flows: Option<Vec<Flow>>,
    turn: usize,
}

/// How many destination addresses lblc and lblcr connections cycle over.
const DADDRS: u32 = 256;

impl Flows {
    fn for_scheduler(name: &str) -> Self {
        let flows = matches!(name, "lblc" | "lblcr").then(|| {
            (0..DADDRS)
                .map(|i| Flow {
                    dst: IpAddr::V4(Ipv4Addr::from(0xC633_6400u32 + i)), // 198.51.100.0 +
                    ..Flow::UNSPECIFIED
                })
                .collect()
        });
        Flows { flows, turn: 0 }
    }
    #[inline]
    fn next(&mut self) -> Option<&Flow> {
        let flows = self.flows.as_ref()?;
        self.turn = (self.turn + 1) % flows.len();
        flows.get(self.turn)
    }
}

struct Fast<S> {
    svc: Service<S>,
    open: VecDeque<DestId>,
    cap: usize,
    flows: Flows,
}

impl<S: Scheduler> Fast<S> {
    fn new(sched: S, cfgs: &[DestConfig]) -> Self {
        // Added first, bound once: the kernel's init_service on an existing
        // list, mirrored by Model::bound.
        let flows = Flows::for_scheduler(sched.name());
        Fast {
            svc: Service::with_dests(sched, cfgs.iter().copied()).unwrap(),
            open: VecDeque::new(),
            cap: 8 * cfgs.len(),
            flows,
        }
    }
    /// Steps until the oldest connections start to close, the steady state
    /// the timed steps run in.
    fn warmed(mut self) -> Self {
        for _ in 0..=self.cap {
            self.step();
        }
        self
    }
    #[inline]
    fn step(&mut self) -> Option<DestId> {
        let id = match self.flows.next() {
            None => self.svc.pick()?,
            Some(flow) => self.svc.pick_for(flow)?,
        };
        self.bind(id);
        Some(id)
    }
    /// [`Fast::step`] for a scheduler that reads no flow (lc, wlc): what
    /// the [`MinimalScan`] is measured against, which has no flow source
    /// either.
    #[inline]
    fn conn_step(&mut self) -> Option<DestId> {
        let id = self.svc.pick()?;
        self.bind(id);
        Some(id)
    }
    /// The connection bookkeeping of a step after its pick of `id`.
    #[inline(always)]
    fn bind(&mut self, id: DestId) {
        self.svc.conn_new(id, ConnState::Inactive).unwrap();
        self.svc.conn_established(id).unwrap();
        self.open.push_back(id);
        if self.open.len() > self.cap {
            let old = self.open.pop_front().unwrap();
            self.svc.conn_closed(old, ConnState::Active).unwrap();
        }
    }
}

struct Oracle {
    m: Model,
    open: VecDeque<usize>,
    cap: usize,
    flows: Flows,
}

impl Oracle {
    fn new(name: &str, cfgs: &[DestConfig]) -> Self {
        Oracle {
            m: Model::bound(name, 0, cfgs).unwrap(),
            open: VecDeque::new(),
            cap: 8 * cfgs.len(),
            flows: Flows::for_scheduler(name),
        }
    }
    fn step(&mut self) -> Option<usize> {
        let flow = self.flows.next().copied().unwrap_or(Flow::UNSPECIFIED);
        let i = self.m.pick_index(&flow)?;
        self.bind(i);
        Some(i)
    }
    /// The connection bookkeeping after a pick of list index `i`.
    #[inline]
    fn bind(&mut self, i: usize) {
        self.m.conn_new_at(i, ConnState::Inactive).unwrap();
        self.m.conn_move_at(i, ConnState::Active).unwrap();
        self.open.push_back(i);
        if self.open.len() > self.cap {
            let old = self.open.pop_front().unwrap();
            self.m.conn_closed_at(old, ConnState::Active).unwrap();
        }
    }
}

/// The kernel model's step with a pick that costs nothing: the scan's own
/// choices, recorded, replayed in a loop, with the same bookkeeping. The
/// scan's time over this one's is the most a faster pick could gain on the
/// scan, the bookkeeping being the model's: where the scan's pick is a small
/// part of its step (wrr with spread weights; rr, wrr, lc, wlc, sed and nq at
/// n = 2), no faster pick can reach a large ratio.
struct FreePick {
    oracle: Oracle,
    picks: Vec<usize>,
    next: usize,
}

impl FreePick {
    /// Records `8 × n` choices (at least 4096, at most 2²⁰), as list indices,
    /// from the fast side, which makes the scan's choices ([`verify`]) in a
    /// fraction of its time.
    fn record<S: Scheduler>(sched: S, name: &str, cfgs: &[DestConfig]) -> Self {
        let mut fast = Fast::new(sched, cfgs);
        let index: HashMap<DestId, usize> = fast
            .svc
            .dests()
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id, i))
            .collect();
        let len = (8 * cfgs.len()).clamp(4096, 1 << 20);
        let picks = (0..len)
            .map_while(|_| fast.step())
            .map(|id| index[&id])
            .collect();
        FreePick {
            oracle: Oracle::new(name, cfgs),
            picks,
            next: 0,
        }
    }
    #[inline]
    fn step(&mut self) -> Option<usize> {
        let i = *self.picks.get(self.next)?;
        // A compare, not `%`: a division would chain its latency from each
        // step into the next and understate the bound.
        self.next += 1;
        if self.next == self.picks.len() {
            self.next = 0;
        }
        self.oracle.bind(i);
        Some(i)
    }
}

/// Runs both in lockstep for `steps` picks and checks they choose the same dest.
fn verify<S: Scheduler>(sched: S, name: &str, cfgs: &[DestConfig], steps: usize) {
    let mut f = Fast::new(sched, cfgs);
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
            "{name} ({}) n={} step {s}: fast and kernel model differ",
            std::any::type_name::<S>(),
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

/// Per-iteration times of each sample criterion ran (warm-up included).
type Samples = Rc<RefCell<Vec<f64>>>;

fn timed(samples: &Samples, iters: u64, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    let c0 = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    let d = match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
        _ => t.elapsed(),
    };
    samples
        .borrow_mut()
        .push(d.as_secs_f64() / iters.max(1) as f64);
    d
}

/// The median sample: a neighbour's burst on the shared machine inflates a few
/// samples, which would move a mean but not the median.
fn per_iter(samples: &Samples) -> f64 {
    let mut v = samples.borrow().clone();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times one fast variant with criterion; returns seconds per iteration.
fn bench_fast<S: Scheduler>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    n: usize,
    fast: &mut Fast<S>,
) -> f64 {
    let t = Samples::default();
    group.bench_with_input(BenchmarkId::new(id, n), &n, |b, _| {
        b.iter_custom(|iters| {
            timed(&t, iters, || {
                black_box(fast.step());
            })
        })
    });
    per_iter(&t)
}

/// Seconds per call of `f` over `steps` calls, by the wall clock: CPU time
/// (schedstat) advances in scheduler ticks, too coarse for a round, and
/// [`paired_ratio`] drops a round that was preempted.
fn secs_per_step(steps: u64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..steps {
        f();
    }
    t.elapsed().as_secs_f64() / steps as f64
}

/// What [`paired_ratio`] measured.
struct Paired {
    /// The scan's time per step over the fast side's, over the rounds kept.
    ratio: f64,
    /// The quartiles of the rounds' own ratios: narrow when a step costs the
    /// same all along; wide for wrr, whose scan costs more in some passes
    /// than in others, so a round's ratio depends on where each side is in
    /// its cycle.
    low: f64,
    high: f64,
    /// Rounds dropped as preempted.
    dropped: usize,
}

/// How long each half of a paired round runs.
const ROUND_HALF: f64 = 500e-6;

/// Paired rounds per measurement, at least (11 in test mode).
const MIN_ROUNDS: usize = 201;

/// The scan side runs at least this many steps per destination over its
/// rounds, time allowing ([`COVER_CAP`]): wrr's scan is dear in its
/// high-weight passes and cheap in the others, and at n = 65536 one cycle is
/// 3.5·n picks, more than 201 short rounds of the scan reach.
const COVER_STEPS_PER_DEST: f64 = 8.0;

/// The most time the scan side's rounds are stretched to for that, in seconds.
const COVER_CAP: f64 = 2.0;

/// How many paired rounds cover `n` dests whose scan takes `scan_step` seconds.
fn rounds_for(n: usize, scan_step: f64, full: bool) -> usize {
    if !full {
        return 11;
    }
    let cover = (COVER_STEPS_PER_DEST * n as f64 * scan_step).min(COVER_CAP);
    MIN_ROUNDS.max((cover / ROUND_HALF).ceil() as usize)
}

/// The scan's time over the fast side's, measured in paired rounds: each
/// round runs one side for about [`ROUND_HALF`], then the other (which goes
/// first alternates). A clock-frequency change or a neighbour's burst on the
/// shared machine lasts longer than a round, so it slows both halves of the
/// rounds it touches alike; timed separately, seconds apart, the same code
/// moved ±40 % at n = 2. The ratio is of the total times per step, so
/// rounds taken at cheap and at dear points of a scheduler's cycle weigh as
/// they do in a long run; a round with a preempted half is dropped.
/// `scan_step` and `fast_step` are the seconds per step criterion measured,
/// which size the halves.
fn paired_ratio(
    rounds: usize,
    (scan_step, fast_step): (f64, f64),
    mut scan: impl FnMut(),
    mut fast: impl FnMut(),
) -> Paired {
    let steps = |per_step: f64| (ROUND_HALF / per_step.max(1e-9)).max(1.0) as u64;
    let (scan_steps, fast_steps) = (steps(scan_step), steps(fast_step));
    // Seconds per step of each side, per round.
    let times: Vec<(f64, f64)> = (0..rounds)
        .map(|r| {
            if r % 2 == 0 {
                let s = secs_per_step(scan_steps, &mut scan);
                (s, secs_per_step(fast_steps, &mut fast))
            } else {
                let f = secs_per_step(fast_steps, &mut fast);
                (secs_per_step(scan_steps, &mut scan), f)
            }
        })
        .collect();
    let own = |&(s, f): &(f64, f64)| s / f.max(1e-12);
    let mut ratios: Vec<f64> = times.iter().map(own).collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: usize| ratios[(ratios.len() - 1) * q / 4];
    // A half that took over twice as long per step as the same side in both
    // neighbouring rounds was preempted: its round is dropped. A dear phase
    // of a scheduler's cycle lasts longer than a round, so its rounds have
    // a dear neighbour and stay.
    let side_spikes = |i: usize, side: fn(&(f64, f64)) -> f64| {
        let around = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter_map(|j| times.get(j))
            .map(side)
            .fold(0.0, f64::max);
        around > 0.0 && side(&times[i]) > 2.0 * around
    };
    let kept: Vec<&(f64, f64)> = (0..times.len())
        .filter(|&i| !side_spikes(i, |t| t.0) && !side_spikes(i, |t| t.1))
        .map(|i| &times[i])
        .collect();
    let total = |side: fn(&(f64, f64)) -> f64| kept.iter().map(|t| side(t)).sum::<f64>();
    Paired {
        ratio: total(|t| t.0) / total(|t| t.1).max(1e-12),
        low: at(1),
        high: at(3),
        dropped: times.len() - kept.len(),
    }
}

/// How many instances of each side [`paired_over_placements`] spreads a
/// comparison over.
const PLACEMENTS: usize = 5;

/// [`PLACEMENTS`] values made by `make`, each boxed behind a spacer that
/// moves it, and what it allocates next, a different number of cache lines
/// into a page (the spacers are kept for the run, so the allocator does not
/// hand their room back to the next instance).
fn placements<T>(mut make: impl FnMut() -> T) -> Vec<Box<T>> {
    (0..PLACEMENTS)
        .map(|k| {
            std::mem::forget(black_box(vec![0u8; 64 * (1 + 17 * k)]));
            Box::new(make())
        })
        .collect()
}

/// [`paired_ratio`] of `a` over `b` for each placement of the two in turn
/// (instance k of one against instance k of the other, the rounds shared
/// out among them); the ratio is the median of the placements' ratios, and
/// `low` and `high` are the least and the greatest of them.
///
/// Where an instance and its buffers land decides whether the processor
/// takes a load for a dependency of an earlier store to an address 4 KiB
/// apart, or puts two hot lines in one cache set: a difference of a few
/// instructions a step, as the two sides of these comparisons have, can
/// then read as tens of per cent from one instance while the others agree
/// (`BENCHMARKS.md` has cases). The median over instances at different
/// offsets measures the code rather than one layout (Mytkowicz et al.,
/// "Producing wrong data without doing anything obviously wrong", ASPLOS
/// 2009); the range shows what the layouts did.
fn paired_over_placements<A, B>(
    rounds: usize,
    steps: (f64, f64),
    (a, step_a): (&mut [Box<A>], impl Fn(&mut A)),
    (b, step_b): (&mut [Box<B>], impl Fn(&mut B)),
) -> Paired {
    let each = rounds.div_ceil(a.len().min(b.len()).max(1));
    let per: Vec<Paired> = a
        .iter_mut()
        .zip(b.iter_mut())
        .map(|(a, b)| paired_ratio(each, steps, || step_a(a), || step_b(b)))
        .collect();
    let mut ratios: Vec<f64> = per.iter().map(|p| p.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    Paired {
        ratio: ratios.get(ratios.len() / 2).copied().unwrap_or(0.0),
        low: ratios.first().copied().unwrap_or(0.0),
        high: ratios.last().copied().unwrap_or(0.0),
        dropped: per.iter().map(|p| p.dropped).sum(),
    }
}

/// The concrete scheduler type for `name`, handed to `f` (a generic closure
/// cannot be written, hence the macro).
macro_rules! with_concrete {
    ($name:expr, |$s:ident| $body:expr) => {
        match $name {
            "rr" => {
                let $s = Rr::new();
                $body
            }
            "wrr" => {
                let $s = Wrr::new();
                $body
            }
            "lc" => {
                let $s = Lc::new();
                $body
            }
            "wlc" => {
                let $s = Wlc::new();
                $body
            }
            "sed" => {
                let $s = Sed::new();
                $body
            }
            "nq" => {
                let $s = Nq::new();
                $body
            }
            "twos" => {
                let $s = Twos::new(XorShift::DEFAULT);
                $body
            }
            "lblc" => {
                let $s = Lblc::new();
                $body
            }
            "lblcr" => {
                let $s = Lblcr::new();
                $body
            }
            other => panic!("no concrete type wired for {other}"),
        }
    };
}

/// [`paired_ratio`] of the kernel scan against `side`.
fn against_scan(
    rounds: usize,
    (oracle, scan): (&mut Oracle, f64),
    side_step: f64,
    side: impl FnMut(),
) -> Paired {
    paired_ratio(
        rounds,
        (scan, side_step),
        || {
            black_box(oracle.step());
        },
        side,
    )
}

/// Pairs `fast` (named `what` in the line) with the kernel scan and prints
/// one `ratio` line: criterion's times per iteration of each (`scan`,
/// `fast_time`), then the paired ratio, which is the figure to read, and,
/// when given, the scan's ratio over [`FreePick`] (the most a faster pick
/// could gain).
fn pair_and_print<S: Scheduler>(
    (kind, what): (&str, &str),
    label: &str,
    n: usize,
    rounds: usize,
    (oracle, scan): (&mut Oracle, f64),
    (fast, fast_time): (&mut Fast<S>, f64),
    free: Option<&mut FreePick>,
) {
    // Sized by the fast side's time: a free pick costs at most that.
    let ceiling = free.map(|free| {
        against_scan(rounds, (&mut *oracle, scan), fast_time, || {
            black_box(free.step());
        })
    });
    let p = against_scan(rounds, (oracle, scan), fast_time, || {
        black_box(fast.step());
    });
    let ceiling = ceiling.map_or(String::new(), |c| {
        format!("; a free pick {:.2}x ({} dropped)", c.ratio, c.dropped)
    });
    println!(
        "{kind} {label} n={n}: kernel-scan {:.1} ns / {what} {:.1} ns; paired {:.2}x (rounds {:.2}-{:.2}, {} dropped){ceiling}",
        scan * 1e9,
        fast_time * 1e9,
        p.ratio,
        p.low,
        p.high,
        p.dropped,
    );
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
    let any = || AnyScheduler::from_name(name, 0).unwrap();
    for &n in sizes {
        let cfgs = configs(n, w);
        let steps = if full { 3000 } else { 300 };
        with_concrete!(name, |s| verify(s, name, &cfgs, steps));
        verify(any(), name, &cfgs, steps);
        let mut oracle = Oracle::new(name, &cfgs);
        let mut fast_any = Fast::new(any(), &cfgs);
        let to = Samples::default();
        group.bench_with_input(BenchmarkId::new("kernel-scan", n), &n, |b, _| {
            b.iter_custom(|iters| {
                timed(&to, iters, || {
                    black_box(oracle.step());
                })
            })
        });
        let o = per_iter(&to);
        let fa = bench_fast(&mut group, "fast-any", n, &mut fast_any);
        let rounds = rounds_for(n, o, full);
        with_concrete!(name, |s| {
            let mut fast = Fast::new(s.clone(), &cfgs);
            let f = bench_fast(&mut group, "fast", n, &mut fast);
            if f == 0.0 || fa == 0.0 || o == 0.0 {
                continue; // filtered out on the command line
            }
            let mut free = FreePick::record(any(), name, &cfgs);
            pair_and_print(
                ("ratio", "fast"),
                label,
                n,
                rounds,
                (&mut oracle, o),
                (&mut fast, f),
                Some(&mut free),
            );
            // The enum's cost: AnyScheduler's time over the concrete type's.
            let mut anys = placements(|| Fast::new(any(), &cfgs).warmed());
            let mut concretes = placements(|| Fast::new(s.clone(), &cfgs).warmed());
            let p = paired_over_placements(
                rounds_for(0, 0.0, full),
                (fa, f),
                (&mut anys, |f: &mut Fast<AnyScheduler>| {
                    black_box(f.step());
                }),
                (&mut concretes, |f: &mut Fast<_>| {
                    black_box(f.step());
                }),
            );
            println!(
                "any-vs-concrete {label} n={n}: AnyScheduler / concrete {:.3}x (placements {:.3}-{:.3}, {} dropped)",
                p.ratio, p.low, p.high, p.dropped
            );
        });
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
    let filter = Filter::from_args(&args);
    let groups = [
        ("rr", Weights::Uniform, "rr"),
        ("wrr", Weights::Uniform, "wrr"),
        ("lc", Weights::Uniform, "lc"),
        ("wlc", Weights::Uniform, "wlc"),
        ("sed", Weights::Uniform, "sed"),
        ("nq", Weights::Uniform, "nq"),
        ("twos", Weights::Uniform, "twos"),
        ("lblc", Weights::Uniform, "lblc"),
        ("lblcr", Weights::Uniform, "lblcr"),
        ("lblc", Weights::Ones, "lblc-ones"),
        ("lblcr", Weights::Ones, "lblcr-ones"),
        ("wrr", Weights::HeavyTail, "wrr-heavytail"),
        ("rr", Weights::Sparse, "rr-sparse"),
        ("wrr", Weights::Sparse, "wrr-sparse"),
    ];
    for (name, w, label) in groups {
        if filter.wants(label) {
            bench_sched(&mut c, name, w, label, sizes, full);
        }
    }
    for name in ["lc", "wlc"] {
        if filter.wants(&format!("minimal/{name}")) {
            bench_minimal(name, sizes, full);
        }
    }
    for name in AnyScheduler::NAMES {
        if filter.wants(&format!("heap/{name}")) {
            bench_heap(name, sizes);
        }
    }
    for name in AnyScheduler::NAMES {
        if filter.wants(&format!("build/{name}")) {
            bench_build(name, sizes, full);
        }
    }
    let removal_sizes: &[usize] = if full { &[4096, 65536] } else { &[256] };
    for name in AnyScheduler::NAMES {
        if filter.wants(&format!("remove/{name}")) {
            bench_remove(name, removal_sizes, full);
        }
    }
    c.final_summary();
}

/// The name filter given on the command line (criterion's, a regex): a
/// group of lines runs when none is given, or when its name and a `/`
/// (`wrr-heavytail/`, `heap/mh/`, `build/wrr/`, `remove/lc/`,
/// `minimal/wlc/`) contains one of its `|` alternatives read as plain text,
/// or starts with one that starts with `^` (`^wrr/` is the group `wrr`
/// alone, for criterion too).
struct Filter(Vec<String>);

impl Filter {
    fn from_args(args: &[String]) -> Self {
        Filter(
            args.iter()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .flat_map(|a| a.split('|'))
                .map(str::to_string)
                .collect(),
        )
    }
    fn wants(&self, name: &str) -> bool {
        let name = format!("{name}/");
        self.0.is_empty()
            || self.0.iter().any(|f| match f.strip_prefix('^') {
                Some(prefix) => name.starts_with(prefix),
                None => name.contains(f.as_str()),
            })
    }
}

/// The scheduler `name` for `n` dests, as a proxy would choose it: mh with
/// the smallest kernel table that holds `n` (M = 4093 by default; a list of
/// 4096 needs `CONFIG_IP_VS_MH_TAB_INDEX` = 13, M = 8191).
fn sched_for(name: &str, n: usize) -> AnyScheduler {
    if name == "mh" {
        let index = (12..=17)
            .find(|&i| Mh::with_tab_index(0, i).is_some_and(|m| m.size() as usize >= n))
            .unwrap_or(17);
        return AnyScheduler::Mh(Mh::with_tab_index(0, index).expect("8..=17"));
    }
    AnyScheduler::from_name(name, 0).expect("a known name")
}

/// The heap a service holds, in bytes, while `f` builds and returns it.
fn heap_of<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let v = f();
    let c = region.change();
    // stats_alloc counts a realloc's growth in `bytes_allocated` (and its
    // shrinking in `bytes_deallocated`).
    let live = c.bytes_allocated as isize - c.bytes_deallocated as isize;
    (v, live)
}

/// Heap per destination: a service built by `with_dests` that has run 8·n
/// connections (so every index and lazy table is built, and lblc/lblcr have
/// cached their destination addresses), less the same service with no
/// destinations (the fixed tables of sh, dh and mh), over n. Weights 1..=100.
fn bench_heap(name: &str, sizes: &[usize]) {
    for &n in sizes {
        let cfgs = configs(n, Weights::Uniform);
        let (empty, fixed) = heap_of(|| {
            let mut s = Service::with_dests(sched_for(name, n), []).unwrap();
            black_box(s.pick_for(&Flow::UNSPECIFIED));
            s
        });
        let mut open = VecDeque::with_capacity(8 * n + 1);
        let mut flows = Flows::for_scheduler(name);
        let (svc, total) = heap_of(|| {
            let mut s = Service::with_dests(sched_for(name, n), cfgs.iter().copied()).unwrap();
            for _ in 0..8 * n {
                let flow = flows.next().copied().unwrap_or(Flow::UNSPECIFIED);
                if let Some(id) = s.pick_for(&flow) {
                    s.conn_new(id, ConnState::Inactive).unwrap();
                    open.push_back(id);
                }
            }
            s
        });
        let per = (total - fixed) as f64 / n as f64;
        println!("heap {name} n={n}: {per:.1} B/dest ({total} B; {fixed} B without dests)");
        drop((svc, empty));
    }
}

/// Seconds per round of `f`, over paired rounds with `g`: both run until
/// each has taken `budget` seconds and at least `min` rounds, alternating
/// which goes first. Returns (f's mean, g's mean).
fn paired_rounds(budget: f64, min: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let (mut tf, mut tg, mut rounds) = (0.0, 0.0, 0);
    while rounds < min || tf < budget || tg < budget {
        let time = |h: &mut dyn FnMut()| {
            let t = Instant::now();
            h();
            t.elapsed().as_secs_f64()
        };
        if rounds % 2 == 0 {
            tf += time(&mut f);
            tg += time(&mut g);
        } else {
            tg += time(&mut g);
            tf += time(&mut f);
        }
        rounds += 1;
    }
    (tf / rounds as f64, tg / rounds as f64)
}

/// A list of `n` built by one `add` each against `with_dests`, each followed
/// by one pick (which builds what is built lazily), in paired rounds.
fn bench_build(name: &str, sizes: &[usize], full: bool) {
    for &n in sizes {
        let cfgs = configs(n, Weights::Uniform);
        let (budget, min) = if full { (0.3, 5) } else { (0.0, 1) };
        let (inc, bulk) = paired_rounds(
            budget,
            min,
            || {
                let mut s = Service::new(sched_for(name, n));
                for c in &cfgs {
                    s.add(*c).unwrap();
                }
                black_box(s.pick_for(&Flow::UNSPECIFIED));
            },
            || {
                let mut s = Service::with_dests(sched_for(name, n), cfgs.iter().copied()).unwrap();
                black_box(s.pick_for(&Flow::UNSPECIFIED));
            },
        );
        println!(
            "build {name} n={n}: one add each {:.3} ms / with_dests {:.3} ms; {:.2}x",
            inc * 1e3,
            bulk * 1e3,
            inc / bulk
        );
    }
}

/// The oldest 10 % of a list of n (the first added), removed one by one:
/// the time per removal, and per removal followed by a pick (which pays any
/// rebuild a removal deferred). Rounds alternate between the sizes; the
/// figure is the median round's. Then the growth from the first size to
/// the last.
fn bench_remove(name: &str, sizes: &[usize], full: bool) {
    let rounds = if full { 7 } else { 1 };
    // sh, dh and mh rebuild their table at the first pick after a change,
    // by design once per burst: a pick after every removal is not timed.
    let tables = matches!(name, "sh" | "dh" | "mh");
    let variants: &[bool] = if tables { &[false] } else { &[false, true] };
    let mut per: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); sizes.len()];
    for _ in 0..rounds {
        for (k, &n) in sizes.iter().enumerate() {
            for &with_pick in variants {
                let cfgs = configs(n, Weights::Uniform);
                let mut s = Service::with_dests(sched_for(name, n), cfgs.iter().copied()).unwrap();
                black_box(s.pick_for(&Flow::UNSPECIFIED));
                let ids: Vec<DestId> = cfgs[..n / 10]
                    .iter()
                    .map(|c| s.find(c.addr, c.port).unwrap())
                    .collect();
                let t = Instant::now();
                for &id in &ids {
                    black_box(s.remove(id).unwrap());
                    if with_pick {
                        black_box(s.pick_for(&Flow::UNSPECIFIED));
                    }
                }
                let each = t.elapsed().as_secs_f64() / ids.len().max(1) as f64;
                if with_pick {
                    &mut per[k].1
                } else {
                    &mut per[k].0
                }
                .push(each);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = Vec::new();
    for (k, &n) in sizes.iter().enumerate() {
        let r = median(&mut per[k].0);
        let rp = (!tables).then(|| median(&mut per[k].1));
        let and_pick = rp.map_or("table rebuilt at the next pick".to_string(), |rp| {
            format!("{:.0} ns per removal and pick", rp * 1e9)
        });
        println!(
            "remove {name} n={n}: {:.0} ns per removal, {and_pick}",
            r * 1e9
        );
        medians.push((n, r, rp));
    }
    if let (Some(a), Some(b)) = (medians.first(), medians.last())
        && a.0 != b.0
    {
        let and_pick = match (a.2, b.2) {
            (Some(x), Some(y)) => format!(", removal and pick {:.2}x", y / x),
            _ => String::new(),
        };
        println!(
            "remove {name} growth n={}/{}: removal {:.2}x{and_pick}",
            b.0,
            a.0,
            b.1 / a.1
        );
    }
}

/// The least-connection scan a user would write in place of lc or wlc: no
/// thresholds and so no OVERLOAD, a dest is its index in the list (head
/// first), counters unchecked, wlc's products in u64. It makes the same
/// choices as lc / wlc on lists without thresholds. The reference line for
/// "no cost for unused features".
struct MinimalScan {
    dests: Vec<MinimalDest>,
    weighted: bool,
    open: VecDeque<usize>,
    cap: usize,
}

#[derive(Clone, Copy)]
struct MinimalDest {
    weight: u32,
    active: u32,
    inactive: u32,
}

impl MinimalScan {
    fn new(cfgs: &[DestConfig], weighted: bool) -> Self {
        let dests = cfgs
            .iter()
            .rev()
            .map(|c| MinimalDest {
                weight: c.weight,
                active: 0,
                inactive: 0,
            })
            .collect();
        MinimalScan {
            dests,
            weighted,
            open: VecDeque::new(),
            cap: 8 * cfgs.len(),
        }
    }
    /// See [`Fast::warmed`].
    fn warmed(mut self) -> Self {
        for _ in 0..=self.cap {
            self.step();
        }
        self
    }
    fn pick(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, d) in self.dests.iter().enumerate() {
            if d.weight == 0 {
                continue;
            }
            let oh = (u64::from(d.active) << 8) + u64::from(d.inactive);
            let better = match best {
                None => true,
                Some((_, b)) if !self.weighted => oh < b,
                Some((j, b)) => oh * u64::from(self.dests[j].weight) < b * u64::from(d.weight),
            };
            if better {
                best = Some((i, oh));
            }
        }
        best.map(|(i, _)| i)
    }
    /// The step of [`Fast::conn_step`]: pick, bind, establish, close the oldest.
    #[inline]
    fn step(&mut self) -> Option<usize> {
        let i = self.pick()?;
        self.dests[i].inactive += 1;
        self.dests[i].inactive -= 1;
        self.dests[i].active += 1;
        self.open.push_back(i);
        if self.open.len() > self.cap {
            let old = self.open.pop_front()?;
            self.dests[old].active -= 1;
        }
        Some(i)
    }
}

/// Seconds per call of `f`, over about 20 ms.
fn estimate(mut f: impl FnMut()) -> f64 {
    let mut steps = 1u64;
    loop {
        let t = secs_per_step(steps, &mut f);
        if t * steps as f64 > 0.02 {
            return t;
        }
        steps *= 4;
    }
}

/// lc and wlc (concrete types) against [`MinimalScan`], uniform weights, in
/// paired rounds; the choices are checked equal first.
fn bench_minimal(name: &str, sizes: &[usize], full: bool) {
    let weighted = name == "wlc";
    for &n in sizes {
        let cfgs = configs(n, Weights::Uniform);
        macro_rules! measure {
            ($s:expr) => {{
                let mut fast = Fast::new($s, &cfgs);
                // The list index of each handle, for the check.
                let index: HashMap<DestId, usize> = fast
                    .svc
                    .dests()
                    .iter()
                    .enumerate()
                    .map(|(i, (id, _))| (id, i))
                    .collect();
                let mut check = MinimalScan::new(&cfgs, weighted);
                for step in 0..3000 {
                    let a = fast.conn_step().map(|id| index[&id]);
                    assert_eq!(a, check.step(), "{name} n={n} step {step}: fast and the minimal scan differ");
                }
                let mut fasts = placements(|| Fast::new($s, &cfgs).warmed());
                let mut mins = placements(|| MinimalScan::new(&cfgs, weighted).warmed());
                let tm = estimate(|| {
                    black_box(mins[0].step());
                });
                let tf = estimate(|| {
                    black_box(fasts[0].conn_step());
                });
                let p = paired_over_placements(
                    rounds_for(0, 0.0, full),
                    (tm, tf),
                    (&mut mins, |m: &mut MinimalScan| {
                        black_box(m.step());
                    }),
                    (&mut fasts, |f: &mut Fast<_>| {
                        black_box(f.conn_step());
                    }),
                );
                println!(
                    "minimal {name} n={n}: minimal scan {:.1} ns / fast {:.1} ns; paired {:.2}x (placements {:.2}-{:.2}, {} dropped)",
                    tm * 1e9,
                    tf * 1e9,
                    p.ratio,
                    p.low,
                    p.high,
                    p.dropped
                );
            }};
        }
        if weighted {
            measure!(Wlc::new());
        } else {
            measure!(Lc::new());
        }
    }
}
