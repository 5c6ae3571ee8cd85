// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-bench-kernel`: the issue-7 benchmarks against a real kernel, each
//! beside the `ipvsadm` command that does the same job, on the same kernel
//! in the same run. `cargo xtask bench-kernel` runs it in the lab VM.
//!
//! | benchmark | ipvs-rs | baseline | target |
//! |---|---|---|---|
//! | program S×4 from empty | one [`Batch`] through `execute_batch` | `ipvsadm -R` of the same rules | ≥ 10× faster |
//! | snapshot S×1 and S×4 | `Ipvs::snapshot` | `ipvsadm -Sn > /dev/null` | ≥ 3× faster |
//! | no-op apply of S×4 | `Ipvs::apply` of the state already there | one `Ipvs::snapshot` | ≤ 1.2× |
//!
//! Each figure is the median of `--runs N` runs (default 5). `--smoke`
//! divides every size by 10 (`--scale N` by N). Needs CAP_SYS_ADMIN and
//! CAP_NET_ADMIN, IPVS and `ipvsadm`. Configuration only, no traffic: the
//! services use documentation addresses (203.0.113.0/24, real servers in
//! 198.51.100.0/24).
//!
//! Every programming run starts in a network namespace of its own, the
//! two tools' runs alternating. Flushing instead would not give an empty
//! start: the kernel keeps each deleted destination on the namespace's
//! `dest_trash` list for two minutes or more, and every `IPVS_CMD_NEW_DEST`
//! walks that list (`ip_vs_trash_get_dest`) to revive a match, so after a
//! flush of 40 000 destinations each add costs a 40 000-entry walk, and the
//! run measures the trash rather than the tool.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvs::{
    ApplyOptions, Batch, Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey,
    ServiceState,
};

/// Virtual addresses per port: service `i` is 203.0.113.(1 + i % 250) on
/// port 1000 + i / 250, so 16 000 services fit the documentation range.
const VIPS: usize = 250;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("ipvs-bench-kernel: at least one target missed");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("ipvs-bench-kernel: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

struct Options {
    runs: usize,
    scale: usize,
}

fn options() -> Result<Options> {
    let mut options = Options { runs: 5, scale: 1 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                options.runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("--runs takes a number from 1")?;
            }
            "--smoke" => options.scale = 10,
            "--scale" => {
                options.scale = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("--scale takes a divisor from 1")?;
            }
            other => {
                return Err(format!(
                    "unexpected argument {other:?}: ipvs-bench-kernel [--runs N] [--smoke | --scale N]"
                ));
            }
        }
    }
    Ok(options)
}

fn run() -> Result<bool> {
    let options = options()?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "ipvs-bench-kernel: kernel {}, medians of {} runs{}",
        kernel.trim(),
        options.runs,
        if options.scale > 1 {
            format!(", sizes divided by {}", options.scale)
        } else {
            String::new()
        }
    );
    let size = |n: usize| n / options.scale;
    let mut rows = Vec::new();

    // (a) Programming from empty, each run in a fresh namespace, the two
    // tools alternating so background work (the previous namespace's
    // teardown) falls on both alike.
    let (services, dests) = (size(10_000), 4);
    let state = table(services, dests);
    let rules = restore_rules(&state);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        ours.push(in_fresh_netns(|ipvs| {
            let batch = batch_for(&state)?;
            let start = Instant::now();
            let outcome = ipvs.execute_batch(&batch).map_err(|e| e.to_string())?;
            let elapsed = start.elapsed();
            if let Some((index, e)) = outcome.first_error() {
                return Err(format!("batch request {index}: {e}"));
            }
            check_table(ipvs, services, dests)?;
            Ok(elapsed)
        })?);
        theirs.push(in_fresh_netns(|ipvs| {
            let elapsed = timed_ipvsadm(&["-R"], Some(&rules))?;
            check_table(ipvs, services, dests)?;
            Ok(elapsed)
        })?);
    }
    let (ours, theirs) = (median_of(ours), median_of(theirs));
    report(
        &mut rows,
        Row::faster(
            format!("program {services}x{dests} (execute_batch vs ipvsadm -R)"),
            ours,
            theirs,
            10.0,
        ),
    );

    // (b) Snapshots.
    for (services, dests) in [(size(16_000), 1), (size(1_000), 4)] {
        let (ours, theirs) = in_fresh_netns(|ipvs| {
            program(ipvs, &table(services, dests))?;
            let ours = median(options.runs, || {
                let start = Instant::now();
                let snapshot = ipvs.snapshot().map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                if snapshot.services.len() != services {
                    return Err(format!("snapshot saw {} services", snapshot.services.len()));
                }
                Ok(elapsed)
            })?;
            let theirs = median(options.runs, || timed_ipvsadm(&["-Sn"], None))?;
            Ok((ours, theirs))
        })?;
        report(
            &mut rows,
            Row::faster(
                format!("snapshot {services}x{dests} (snapshot vs ipvsadm -Sn)"),
                ours,
                theirs,
                3.0,
            ),
        );
    }

    // (c) A no-op apply against one snapshot of the same table.
    let (services, dests) = (size(10_000), 4);
    let state = table(services, dests);
    let (apply, snapshot) = in_fresh_netns(|ipvs| {
        program(ipvs, &state)?;
        let apply = median(options.runs, || {
            let start = Instant::now();
            let report = ipvs
                .apply(&state, &ApplyOptions::default())
                .map_err(|e| e.to_string())?;
            let elapsed = start.elapsed();
            if report.applied != 0 {
                return Err(format!("the no-op apply sent {} writes", report.applied));
            }
            Ok(elapsed)
        })?;
        let snapshot = median(options.runs, || {
            let start = Instant::now();
            ipvs.snapshot().map_err(|e| e.to_string())?;
            Ok(start.elapsed())
        })?;
        Ok((apply, snapshot))
    })?;
    report(
        &mut rows,
        Row {
            name: format!("no-op apply {services}x{dests} (apply vs one snapshot)"),
            ours: apply,
            theirs: snapshot,
            ratio: apply.as_secs_f64() / snapshot.as_secs_f64(),
            target: Target::AtMost(1.2),
        },
    );
    print!("{}", render(&rows));
    Ok(rows.iter().all(Row::met))
}

/// `services` services with `dests` masquerading destinations each.
fn table(services: usize, dests: usize) -> Vec<ServiceState> {
    (0..services)
        .map(|i| {
            let vip = Ipv4Addr::new(203, 0, 113, 1 + (i % VIPS) as u8);
            let port = 1000 + (i / VIPS) as u16;
            let key = ServiceKey::tcp(SocketAddr::new(IpAddr::V4(vip), port));
            (0..dests).fold(
                ServiceState::new(Service::new(key, Scheduler::RoundRobin)),
                |state, d| {
                    let rs = SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + d as u8)),
                        8080,
                    );
                    state.with_destination(Destination::new(rs, Forwarding::Masquerade))
                },
            )
        })
        .collect()
}

fn batch_for(state: &[ServiceState]) -> Result<Batch> {
    let mut batch = Batch::new();
    for s in state {
        batch.add_service(&s.service).map_err(|e| e.to_string())?;
        for d in &s.destinations {
            batch
                .add_destination(&s.service.key, d)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(batch)
}

/// The same table as `ipvsadm -R` input.
fn restore_rules(state: &[ServiceState]) -> String {
    let mut rules = String::new();
    for s in state {
        let key = s.service.key.ipvsadm_args();
        let _ = writeln!(rules, "-A {key} -s rr");
        for d in &s.destinations {
            let _ = writeln!(rules, "-a {key} -r {} -m -w 1", d.addr);
        }
    }
    rules
}

/// Runs `body` on a thread of its own in a new network namespace (with
/// `lo` up: without it the kernel refuses every destination), with a
/// handle opened there; `ipvsadm` started from that thread runs there too.
/// The namespace goes when the thread ends.
fn in_fresh_netns<T: Send>(body: impl FnOnce(&Ipvs) -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
                let up = Command::new("ip")
                    .args(["link", "set", "lo", "up"])
                    .status()
                    .map_err(|e| format!("ip link set lo up: {e}"))?;
                if !up.success() {
                    return Err(format!("ip link set lo up: {up}"));
                }
                let ipvs = Ipvs::new().map_err(|e| format!("opening IPVS: {e}"))?;
                body(&ipvs)
            })
            .join()
            .unwrap_or_else(|_| Err("the benchmark thread panicked".into()))
    })
}

/// Programs `state` into an empty table (untimed set-up).
fn program(ipvs: &Ipvs, state: &[ServiceState]) -> Result<()> {
    let outcome = ipvs
        .execute_batch(&batch_for(state)?)
        .map_err(|e| e.to_string())?;
    match outcome.first_error() {
        Some((index, e)) => Err(format!("set-up request {index}: {e}")),
        None => Ok(()),
    }
}

fn check_table(ipvs: &Ipvs, services: usize, dests: usize) -> Result<()> {
    let snapshot = ipvs.snapshot().map_err(|e| e.to_string())?;
    if snapshot.services.len() != services || snapshot.destination_count() != services * dests {
        return Err(format!(
            "expected {services} services and {} destinations, found {} and {}",
            services * dests,
            snapshot.services.len(),
            snapshot.destination_count()
        ));
    }
    Ok(())
}

/// Runs `ipvsadm ARGS` (stdin from `input`, stdout discarded) and times it,
/// process start included: that is what using ipvsadm costs.
fn timed_ipvsadm(args: &[&str], input: Option<&str>) -> Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("ipvsadm: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("feeding ipvsadm: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("ipvsadm: {e}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("ipvsadm {}: {status}", args.join(" ")));
    }
    Ok(elapsed)
}

/// The median of `runs` timings.
fn median(runs: usize, mut once: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let times = (0..runs).map(|_| once()).collect::<Result<Vec<_>>>()?;
    Ok(median_of(times))
}

/// The median of at least one timing.
fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

enum Target {
    /// ipvs-rs at least this many times faster than the baseline.
    AtLeastFaster(f64),
    /// ipvs-rs at most this multiple of the baseline.
    AtMost(f64),
}

struct Row {
    name: String,
    ours: Duration,
    theirs: Duration,
    ratio: f64,
    target: Target,
}

impl Row {
    fn faster(name: String, ours: Duration, theirs: Duration, factor: f64) -> Row {
        Row {
            name,
            ours,
            theirs,
            ratio: theirs.as_secs_f64() / ours.as_secs_f64(),
            target: Target::AtLeastFaster(factor),
        }
    }

    fn met(&self) -> bool {
        match self.target {
            Target::AtLeastFaster(factor) => self.ratio >= factor,
            Target::AtMost(limit) => self.ratio <= limit,
        }
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<58} {:>11} {:>11} {:>8}  {:<13} {}\n",
        "benchmark", "ipvs-rs", "baseline", "ratio", "target", "result"
    );
    for row in rows {
        out.push_str(&render_row(row));
    }
    out
}

/// Keeps `row` for the final table and shows it at once on stderr: a full
/// run takes tens of minutes in the emulated VM.
fn report(rows: &mut Vec<Row>, row: Row) {
    eprint!("ipvs-bench-kernel: {}", render_row(&row));
    rows.push(row);
}

fn render_row(row: &Row) -> String {
    let (ratio, target) = match row.target {
        Target::AtLeastFaster(f) => (format!("{:.1}x", row.ratio), format!(">= {f}x faster")),
        Target::AtMost(m) => (format!("{:.2}x", row.ratio), format!("<= {m}x")),
    };
    format!(
        "{:<58} {:>8.1} ms {:>8.1} ms {:>8}  {:<13} {}\n",
        row.name,
        row.ours.as_secs_f64() * 1e3,
        row.theirs.as_secs_f64() * 1e3,
        ratio,
        target,
        if row.met() { "met" } else { "MISSED" }
    )
}
