// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-bench-kernel`: the issue-7 benchmarks against a real kernel, each
//! beside the `ipvsadm` command that does the same job, on the same kernel
//! in the same run. `cargo xtask bench-kernel` runs it in the lab VM.
//!
//! | benchmark | ipvs-rs | baseline | target |
//! |---|---|---|---|
//! | program S×4 from empty | one [`Batch`] through `execute_batch` | `ipvsadm -R` of the same rules | ≥ 10× faster |
//! | snapshot S×1 and S×4 | `Ipvs::snapshot` | the floor (below) | ≤ 1.15× (S×1) |
//! | no-op apply of S×4 | `Ipvs::apply` of the state already there | one `Ipvs::snapshot` | ≤ 1.2× |
//! | each of the three, async | `AsyncIpvs`, the same call | `Ipvs` | ≤ 1.1× |
//!
//! The *floor* of a snapshot is the least any snapshot can cost on a kernel
//! without a dump of every destination: the same `IPVS_CMD_GET_SERVICE`
//! dump and one `IPVS_CMD_GET_DEST` dump per service, sent from prebuilt
//! bytes over bare netlink sockets, each datagram read into one buffer and
//! only walked for its `NLMSG_DONE`, nothing decoded. Like a handle, it
//! reads the service dump 64 KiB at a time on one socket and the
//! destination dumps a page at a time on another (the kernel sizes, and
//! zeroes, each dump datagram by the largest read its socket has made).
//! The snapshot rows also print `ipvsadm -Sn` against the floor, the most
//! any snapshot could gain over ipvsadm, and the one-socket floor (every
//! dump read 64 KiB at a time) against the floor.
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

use ipvs::ipvs_sys::{
    AddressFamily, IpvsAttribute, IpvsCmd, IpvsMessage, Nested, Protocol, ServiceAttribute,
};
use ipvs::{
    ApplyOptions, AsyncIpvs, Batch, Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey,
    ServiceState,
};

/// How long one call of the handles may take here.
const CALL_TIMEOUT: Duration = Duration::from_secs(900);

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

/// The parts of a run, for `--only`.
const PARTS: [&str; 3] = ["program", "snapshot", "apply"];

struct Options {
    runs: usize,
    scale: usize,
    /// `--only program|snapshot|apply`: one part of the run.
    only: Option<String>,
}

impl Options {
    fn runs_part(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }
}

fn options() -> Result<Options> {
    let mut options = Options {
        runs: 5,
        scale: 1,
        only: None,
    };
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
            "--only" => {
                options.only = Some(
                    args.next()
                        .filter(|part| PARTS.contains(&part.as_str()))
                        .ok_or("--only takes program, snapshot or apply")?,
                );
            }
            other => {
                return Err(format!(
                    "unexpected argument {other:?}: ipvs-bench-kernel [--runs N] [--smoke | --scale N] [--only program|snapshot|apply]"
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
    let mut rows = Vec::new();
    if options.runs_part("program") {
        program_rows(&options, &mut rows)?;
    }
    if options.runs_part("snapshot") {
        snapshot_rows(&options, &mut rows)?;
    }
    if options.runs_part("apply") {
        apply_rows(&options, &mut rows)?;
    }
    print!("{}", render(&rows));
    Ok(rows.iter().all(Row::met))
}

/// (a) Programming from empty, each run in a fresh namespace, the two
/// tools alternating so background work (the previous namespace's
/// teardown) falls on both alike.
fn program_rows(options: &Options, rows: &mut Vec<Row>) -> Result<()> {
    let size = |n: usize| n / options.scale;
    let (services, dests) = (size(10_000), 4);
    let state = table(services, dests);
    let rules = restore_rules(&state);
    let (mut ours, mut ours_async, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        ours.push(in_fresh_netns(|handles| {
            let batch = batch_for(&state)?;
            let start = Instant::now();
            let outcome = handles
                .ipvs
                .execute_batch(&batch)
                .map_err(|e| e.to_string())?;
            let elapsed = start.elapsed();
            if let Some((index, e)) = outcome.first_error() {
                return Err(format!("batch request {index}: {e}"));
            }
            check_table(&handles.ipvs, services, dests)?;
            Ok(elapsed)
        })?);
        ours_async.push(in_fresh_netns(|handles| {
            let batch = batch_for(&state)?;
            let start = Instant::now();
            let outcome = handles
                .run(|ipvs| ipvs.execute_batch(&batch))
                .map_err(|e| e.to_string())?;
            let elapsed = start.elapsed();
            if let Some((index, e)) = outcome.first_error() {
                return Err(format!("batch request {index}: {e}"));
            }
            check_table(&handles.ipvs, services, dests)?;
            Ok(elapsed)
        })?);
        theirs.push(in_fresh_netns(|handles| {
            let elapsed = timed_ipvsadm(&["-R"], Some(&rules))?;
            check_table(&handles.ipvs, services, dests)?;
            Ok(elapsed)
        })?);
    }
    let (ours, ours_async, theirs) = (median_of(ours), median_of(ours_async), median_of(theirs));
    report(
        rows,
        Row::faster(
            format!("program {services}x{dests} (execute_batch vs ipvsadm -R)"),
            ours,
            theirs,
            10.0,
        ),
    );
    report(
        rows,
        Row::at_most(
            format!("program {services}x{dests} (AsyncIpvs vs Ipvs)"),
            ours_async,
            ours,
            1.1,
        ),
    );

    Ok(())
}

/// (b) Snapshots, against their floor and ipvsadm; the four take turns
/// within each run.
fn snapshot_rows(options: &Options, rows: &mut Vec<Row>) -> Result<()> {
    let size = |n: usize| n / options.scale;
    for (services, dests) in [(size(16_000), 1), (size(1_000), 4)] {
        let [ours, ours_async, floor, theirs, list, one_socket] = in_fresh_netns(|handles| {
            let state = table(services, dests);
            program(&handles.ipvs, &state)?;
            let family = handles.ipvs.family().map_err(|e| e.to_string())?.id;
            let floor_requests = FloorRequests::new(family, &state)?;
            let check = |snapshot: ipvs::Result<ipvs::Snapshot>| match snapshot {
                Ok(s) if s.services.len() == services => Ok(()),
                Ok(s) => Err(format!("snapshot saw {} services", s.services.len())),
                Err(e) => Err(e.to_string()),
            };
            let mut times: [Vec<Duration>; 6] = Default::default();
            for _ in 0..options.runs {
                times[0].push(timed(|| check(handles.ipvs.snapshot()))?);
                times[1].push(timed(|| check(handles.run(|ipvs| ipvs.snapshot())))?);
                times[2].push(floor_requests.run()?);
                times[3].push(timed_ipvsadm(&["-Sn"], None)?);
                times[4].push(floor_requests.list()?);
                times[5].push(floor_requests.run_on_one_socket()?);
            }
            Ok(times.map(median_of))
        })?;
        let name = format!("snapshot {services}x{dests}");
        report(
            rows,
            Row::at_most(format!("{name} (snapshot vs floor)"), ours, floor, 1.15),
        );
        report(
            rows,
            Row::at_most(format!("{name} (AsyncIpvs vs Ipvs)"), ours_async, ours, 1.1),
        );
        report(
            rows,
            Row::faster(
                format!("{name} (snapshot vs ipvsadm -Sn)"),
                ours,
                theirs,
                3.0,
            ),
        );
        report(
            rows,
            Row::reference(format!("{name} (ipvsadm -Sn vs floor)"), theirs, floor),
        );
        report(
            rows,
            Row::reference(
                format!("{name} (the floor's service dump vs floor)"),
                list,
                floor,
            ),
        );
        report(
            rows,
            Row::reference(
                format!("{name} (the one-socket floor vs floor)"),
                one_socket,
                floor,
            ),
        );
    }

    Ok(())
}

/// (c) A no-op apply against one snapshot of the same table.
fn apply_rows(options: &Options, rows: &mut Vec<Row>) -> Result<()> {
    let size = |n: usize| n / options.scale;
    let (services, dests) = (size(10_000), 4);
    let state = table(services, dests);
    let [apply, apply_async, snapshot] = in_fresh_netns(|handles| {
        program(&handles.ipvs, &state)?;
        let check = |report: ipvs::Result<ipvs::ApplyReport>| match report {
            Ok(r) if r.applied == 0 => Ok(()),
            Ok(r) => Err(format!("the no-op apply sent {} writes", r.applied)),
            Err(e) => Err(e.to_string()),
        };
        let options_ = ApplyOptions::default();
        let mut times: [Vec<Duration>; 3] = Default::default();
        for _ in 0..options.runs {
            times[0].push(timed(|| check(handles.ipvs.apply(&state, &options_)))?);
            times[1].push(timed(|| {
                check(handles.run(|ipvs| ipvs.apply(&state, &options_)))
            })?);
            times[2].push(timed(|| {
                handles.ipvs.snapshot().map(drop).map_err(|e| e.to_string())
            })?);
        }
        Ok(times.map(median_of))
    })?;
    report(
        rows,
        Row {
            name: format!("no-op apply {services}x{dests} (apply vs one snapshot)"),
            ours: apply,
            theirs: snapshot,
            ratio: apply.as_secs_f64() / snapshot.as_secs_f64(),
            target: Target::AtMost(1.2),
        },
    );
    report(
        rows,
        Row::at_most(
            format!("no-op apply {services}x{dests} (AsyncIpvs vs Ipvs)"),
            apply_async,
            apply,
            1.1,
        ),
    );
    Ok(())
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

/// Both handles on one namespace.
struct Handles {
    ipvs: Ipvs,
    async_ipvs: AsyncIpvs,
    runtime: tokio::runtime::Runtime,
}

impl Handles {
    /// Runs one call of the async handle to completion.
    fn run<'a, F, T>(&'a self, call: impl FnOnce(&'a AsyncIpvs) -> F) -> T
    where
        F: std::future::Future<Output = T> + 'a,
    {
        self.runtime.block_on(call(&self.async_ipvs))
    }
}

/// Runs `body` on a thread of its own in a new network namespace (with
/// `lo` up: without it the kernel refuses every destination), with both
/// handles opened there; `ipvsadm` started from that thread runs there too.
/// The namespace goes when the thread ends.
fn in_fresh_netns<T: Send>(body: impl FnOnce(&Handles) -> Result<T> + Send) -> Result<T> {
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
                // One call covers a whole batch or snapshot of tens of
                // thousands of entries: far longer than the 10 s default
                // under software emulation.
                let ipvs = Ipvs::new().map_err(|e| format!("opening IPVS: {e}"))?;
                ipvs.set_timeout(CALL_TIMEOUT);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("tokio: {e}"))?;
                let async_ipvs = runtime
                    .block_on(AsyncIpvs::new())
                    .map_err(|e| format!("opening IPVS (async): {e}"))?;
                async_ipvs.set_timeout(CALL_TIMEOUT);
                body(&Handles {
                    ipvs,
                    async_ipvs,
                    runtime,
                })
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

/// How long `once` takes (it fails the run if it fails).
fn timed(once: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    once()?;
    Ok(start.elapsed())
}

/// The snapshot's floor: its requests, prebuilt, and bare sockets.
struct FloorRequests {
    /// Reads the service dump 64 KiB at a time.
    wide: netlink_sys::Socket,
    /// Reads the destination dumps a page at a time.
    narrow: netlink_sys::Socket,
    /// Reads every dump 64 KiB at a time: the one-socket floor.
    single: netlink_sys::Socket,
    list: Vec<u8>,
    destinations: Vec<Vec<u8>>,
}

/// 64 KiB: what the wide sockets read at a time.
const WIDE_READ: usize = 64 * 1024;

/// A page: what the narrow socket reads at a time.
fn narrow_read() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|page| usize::try_from(page).ok())
        .unwrap_or(WIDE_READ)
}

impl FloorRequests {
    /// The `GET_SERVICE` dump and a `GET_DEST` dump for each service of
    /// `state` (TCP, IPv4), as datagrams for family id `family`.
    fn new(family: u16, state: &[ServiceState]) -> Result<Self> {
        let socket = || {
            let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_GENERIC)
                .map_err(|e| format!("netlink socket: {e}"))?;
            socket.bind_auto().map_err(|e| format!("bind: {e}"))?;
            Ok::<_, String>(socket)
        };
        let dump = |attributes: Vec<IpvsAttribute>| {
            let message = IpvsMessage::new(
                if attributes.is_empty() {
                    IpvsCmd::GetService
                } else {
                    IpvsCmd::GetDest
                },
                attributes,
            );
            use ipvs::ipvs_sys::netlink_packet_core::Emitable as _;
            use ipvs::ipvs_sys::netlink_packet_generic::GenlFamily as _;
            let length = 16 + 4 + message.buffer_len();
            let mut out = vec![0u8; length];
            out[0..4].copy_from_slice(&(length as u32).to_ne_bytes());
            out[4..6].copy_from_slice(&family.to_ne_bytes());
            out[6..8].copy_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // REQUEST | DUMP
            out[16] = message.command();
            out[17] = message.version();
            message.emit(&mut out[20..]);
            out
        };
        let destinations = state
            .iter()
            .map(|s| {
                let ServiceKey::Addr { addr, .. } = s.service.key else {
                    return Err("the floor covers address services only".to_owned());
                };
                let IpAddr::V4(ip) = addr.ip() else {
                    return Err("the floor covers IPv4 services only".to_owned());
                };
                Ok(dump(vec![IpvsAttribute::Service(Nested::new(vec![
                    ServiceAttribute::Af(AddressFamily::Inet),
                    ServiceAttribute::Protocol(Protocol::Tcp),
                    ServiceAttribute::Addr(ip.into()),
                    ServiceAttribute::Port(addr.port()),
                ]))]))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            wide: socket()?,
            narrow: socket()?,
            single: socket()?,
            list: dump(Vec::new()),
            destinations,
        })
    }

    /// Sends every dump and reads each to its end.
    fn run(&self) -> Result<Duration> {
        let mut buffer = vec![0u8; WIDE_READ];
        let narrow = narrow_read().min(WIDE_READ);
        let start = Instant::now();
        dump(&self.wide, &self.list, &mut buffer)?;
        for request in &self.destinations {
            dump(&self.narrow, request, &mut buffer[..narrow])?;
        }
        Ok(start.elapsed())
    }

    /// The same dumps, all on one socket that reads 64 KiB at a time.
    fn run_on_one_socket(&self) -> Result<Duration> {
        let mut buffer = vec![0u8; WIDE_READ];
        let start = Instant::now();
        dump(&self.single, &self.list, &mut buffer)?;
        for request in &self.destinations {
            dump(&self.single, request, &mut buffer)?;
        }
        Ok(start.elapsed())
    }

    /// The service dump alone: the part of the floor a snapshot's
    /// service-list check repeats.
    fn list(&self) -> Result<Duration> {
        let mut buffer = vec![0u8; WIDE_READ];
        timed(|| dump(&self.wide, &self.list, &mut buffer))
    }
}

/// One dump: send, then read datagrams (each at most `buffer`'s length)
/// until one holds `NLMSG_DONE`.
fn dump(socket: &netlink_sys::Socket, request: &[u8], buffer: &mut [u8]) -> Result<()> {
    let kernel = netlink_sys::SocketAddr::new(0, 0);
    socket
        .send_to(request, &kernel, 0)
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let mut window: &mut [u8] = buffer;
        let len = socket
            .recv(&mut window, 0)
            .map_err(|e| format!("recv: {e}"))?;
        let mut at = 0;
        while at + 16 <= len {
            let length = u32::from_ne_bytes(buffer[at..at + 4].try_into().unwrap_or_default());
            match u16::from_ne_bytes([buffer[at + 4], buffer[at + 5]]) {
                3 => return Ok(()),                                  // NLMSG_DONE
                2 => return Err("the kernel refused a dump".into()), // NLMSG_ERROR
                _ => {}
            }
            at += (length as usize).max(16).next_multiple_of(4);
        }
    }
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
    /// No target: a ratio for reference.
    None,
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

    /// `ours` at most `limit` times `theirs`.
    fn at_most(name: String, ours: Duration, theirs: Duration, limit: f64) -> Row {
        Row {
            name,
            ours,
            theirs,
            ratio: ours.as_secs_f64() / theirs.as_secs_f64(),
            target: Target::AtMost(limit),
        }
    }

    /// A ratio printed for reference, with no target.
    fn reference(name: String, ours: Duration, theirs: Duration) -> Row {
        Row {
            name,
            ours,
            theirs,
            ratio: ours.as_secs_f64() / theirs.as_secs_f64(),
            target: Target::None,
        }
    }

    fn met(&self) -> bool {
        match self.target {
            Target::AtLeastFaster(factor) => self.ratio >= factor,
            Target::AtMost(limit) => self.ratio <= limit,
            Target::None => true,
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
        Target::None => (format!("{:.2}x", row.ratio), "-".to_owned()),
    };
    format!(
        "{:<58} {:>8.1} ms {:>8.1} ms {:>8}  {:<13} {}\n",
        row.name,
        row.ours.as_secs_f64() * 1e3,
        row.theirs.as_secs_f64() * 1e3,
        ratio,
        target,
        match (&row.target, row.met()) {
            (Target::None, _) => "reference",
            (_, true) => "met",
            (_, false) => "MISSED",
        }
    )
}
