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
//! (what a proxy with a fixed scheduler uses; the `ratio` line) and as
//! `Service<AnyScheduler>` (chosen by name at run time, one enum dispatch per
//! call; the `ratio-any` line). The reference model dispatches on its state
//! enum, as the kernel calls through `svc->scheduler`.
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
//!
//! Each `ratio` line also pairs the scan with [`FreePick`]: the same
//! bookkeeping after a pick that costs nothing (the scan's choices replayed).
//! That ratio is the most a faster pick can gain against the scan, the
//! bookkeeping being the model's. It bounds what a target can ask: rr, wrr,
//! lc, wlc, sed and nq at n = 2, and wrr with spread weights at n = 4096,
//! read about 2× or less there, since the scan's pick is about half its
//! step or less.
//!
//! `cargo bench -p lb-sched` prints `ratio` lines (reference time / fast time);
//! in test mode (`cargo test --benches`, `cargo bench -- --test`) only small n run.
//! `LB_SCHED_BENCH_SIZES=2,4096` runs (and verifies) only those sizes.

#![allow(missing_docs)]

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
    AnyScheduler, ConnState, DestConfig, DestId, Flow, Lblc, Lblcr, Lc, Nq, Rr, Scheduler, Sed,
    Service, Twos, Wlc, Wrr,
};

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
    #[inline]
    fn step(&mut self) -> Option<DestId> {
        let id = match self.flows.next() {
            None => self.svc.pick()?,
            Some(flow) => self.svc.pick_for(flow)?,
        };
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
            let mut fast = Fast::new(s, &cfgs);
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
        });
        pair_and_print(
            ("ratio-any", "AnyScheduler"),
            label,
            n,
            rounds,
            (&mut oracle, o),
            (&mut fast_any, fa),
            None,
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
    for name in [
        "rr", "wrr", "lc", "wlc", "sed", "nq", "twos", "lblc", "lblcr",
    ] {
        bench_sched(&mut c, name, Weights::Uniform, name, sizes, full);
    }
    bench_sched(&mut c, "lblc", Weights::Ones, "lblc-ones", sizes, full);
    bench_sched(&mut c, "lblcr", Weights::Ones, "lblcr-ones", sizes, full);
    bench_sched(
        &mut c,
        "wrr",
        Weights::HeavyTail,
        "wrr-heavytail",
        sizes,
        full,
    );
    bench_sched(&mut c, "rr", Weights::Sparse, "rr-sparse", sizes, full);
    bench_sched(&mut c, "wrr", Weights::Sparse, "wrr-sparse", sizes, full);
    c.final_summary();
}
