// SPDX-License-Identifier: MIT OR Apache-2.0
//! Harnesses for the cargo-fuzz targets `restore_input` and `command_line`
//! in `fuzz/` (feature `fuzzing`). They live here so that the stable test
//! suite replays the committed corpus through the same code
//! (`tests/fuzz_replay.rs`). Both run on `ipvs::fake`: no kernel, no root.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use ipvs::fake::{FakeIpvs, Fault, When};
use ipvs::{Ipvs, ServiceState, SyncDaemon, Timeouts};

use crate::command::{self, Command};
use crate::failure::Failure;
use crate::list::{self, ListFormat};
use crate::names::{Files, Numeric, Resolver};
use crate::restore;

/// The program name messages quote.
const PROGRAM: &str = "ipvsadm";

/// The sync daemons' interface on every fake.
const SYNC_INTERFACE: &str = "sync0";

/// The table, timeouts and daemon each `-R` input is played against.
const BEFORE: &str = "\
-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 3
-a -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 1 -x 50 -y 10
-A -u 192.0.2.2:53 -s rr -p 60
-a -u 192.0.2.2:53 -r 192.0.2.20:53 -m -w 1
-A -f 7 -6 -s sh -b sh-port
-a -f 7 -6 -r [2001:db8::10]:0 -g -w 2
--set 900 120 300
--start-daemon master --mcast-interface sync0
";

/// `/etc/hosts` and `/etc/services` for the `-R` inputs: host and service
/// names resolve as they do on a real system.
const HOSTS: &str = "192.0.2.1 www www.example\n192.0.2.10 web1\n2001:db8::1 v6only\n";
const SERVICES: &str = "http 80/tcp www\ndomain 53/udp\nhttps 443/tcp\nhttps 443/sctp\n";

/// More lines than this are parsed but not played: a run stays short.
const MAX_PLAYED_LINES: usize = 200;

/// What a restore can change, as the fake holds it.
#[derive(Debug, PartialEq, Eq)]
struct Kernel {
    /// Every service with its destinations in list order (which rr and
    /// wrr follow), services ordered by key: where a service sits in the
    /// kernel's dump is its hash bucket's business, not the table's.
    services: Vec<ServiceState>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
}

fn fake() -> FakeIpvs {
    FakeIpvs::builder().interface(SYNC_INTERFACE, 1500).build()
}

fn handle(fake: &FakeIpvs) -> Result<Ipvs, Failure> {
    let ipvs = fake.handle().map_err(|e| Failure::init(&e))?;
    ipvs.set_timeout(Duration::from_secs(5));
    Ok(ipvs)
}

fn read(fake: &FakeIpvs) -> Kernel {
    let mut services = fake.snapshot().services;
    services.sort_by_cached_key(|s| s.service.key.to_string());
    let ipvs = fake.handle().expect("the fake opens");
    Kernel {
        services,
        timeouts: ipvs.timeouts().expect("the fake's timeouts"),
        daemons: ipvs.daemons().expect("the fake's daemons"),
    }
}

/// What a failed restore says when it changed nothing, or when the table
/// is back as it was.
const NOTHING_CHANGED: &str = "nothing was changed";
const TABLE_BACK: &str = "the table is as it was";

/// The fault a first line `#fault N refuse` or `#fault N overrun` (a
/// comment to `-R`) asks for: the `N`th write of the restore is refused
/// with `ENOMEM`, or applied with its reply lost to an overrun.
fn injected_fault(text: &str) -> Option<(usize, Fault)> {
    let mut words = text
        .lines()
        .next()?
        .strip_prefix("#fault ")?
        .split_whitespace();
    let write = words.next()?.parse().ok()?;
    let fault = match words.next()? {
        "refuse" => Fault::Refuse(12),
        "overrun" => Fault::Overrun,
        _ => return None,
    };
    Some((write, fault))
}

/// Every listing format a table can be printed in.
fn formats() -> impl Iterator<Item = ListFormat> {
    (0u16..1 << 9).step_by(7).map(|bits| {
        let bit = |i: u16| bits & (1 << i) != 0;
        ListFormat {
            numeric: bit(0),
            rule: bit(1),
            stats: bit(2),
            rate: bit(3),
            thresholds: bit(4),
            persistent_conn: bit(5),
            nosort: bit(6),
            exact: bit(7),
            tun_info: bit(8),
        }
    })
}

/// Reads `data` (lossily decoded as UTF-8) as `ipvsadm-rs -R` input and
/// plays it against a fake holding `BEFORE`.
///
/// A first line `#fault N refuse` or `#fault N overrun` injects a fault
/// into the restore's `N`th write (`injected_fault`).
///
/// Invariants checked: no panic; input refused while parsing says so
/// ("nothing was changed") with a failing status; a restore that fails
/// without a fault leaves every service and destination (thresholds and
/// list order included), the timeouts and the daemons exactly as they
/// were (all or nothing), and so does one with a fault whenever it says
/// that nothing was changed or everything was undone (and the table alone
/// when it says the table is as it was); the table a restore leaves,
/// saved with `-Sn` and restored onto an empty fake, saves to the same
/// text; and every listing format prints it.
pub fn restore_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let names = Files::from_texts(HOSTS, SERVICES);
    let lines = match restore::parse_input(&text, PROGRAM, &names) {
        Ok(lines) => lines,
        Err(failure) => {
            assert_ne!(failure.status, 0, "{failure}");
            assert_eq!(
                failure.details.last().map(String::as_str),
                Some(NOTHING_CHANGED),
                "{failure}"
            );
            return;
        }
    };
    if lines.len() > MAX_PLAYED_LINES {
        return;
    }
    let fake = fake();
    restore::run(BEFORE, PROGRAM, &names, || handle(&fake))
        .unwrap_or_else(|f| panic!("the starting table restores: {f}"));
    let before = read(&fake);
    let fault = injected_fault(&text);
    let faulted = fault.is_some();
    if let Some((write, fault)) = fault {
        fake.inject(When::Write(write), fault);
    }
    let result = restore::run(&text, PROGRAM, &names, || handle(&fake));
    fake.clear_faults();
    let after = read(&fake);
    if let Err(failure) = result {
        assert_ne!(failure.status, 0, "{failure}");
        let said = failure.to_string();
        if !faulted || said.contains(restore::ALL_UNDONE) || said.contains(NOTHING_CHANGED) {
            assert_eq!(after, before, "a failed -R changed IPVS: {failure}");
        } else if said.contains(TABLE_BACK) {
            assert_eq!(after.services, before.services, "{failure}");
        }
        return;
    }
    let snapshot = fake.snapshot();
    let saved = list::saved_numeric(&snapshot.services);
    let again = self::fake();
    restore::run(&saved, PROGRAM, &Numeric, || handle(&again))
        .unwrap_or_else(|f| panic!("what -Sn prints does not restore: {f}\n{saved}"));
    assert_eq!(
        list::saved_numeric(&again.snapshot().services),
        saved,
        "-Sn, -R, -Sn differ"
    );
    for format in formats() {
        list::table(&snapshot.services, &format, &names);
    }
}

/// Reads `data` as a command line and the name files it resolves through:
/// split at NUL bytes, the first piece is `/etc/hosts`, the second
/// `/etc/services` (both lossily decoded), and each later piece one
/// argument, as raw bytes. A change that parses is sent to an empty fake.
///
/// Invariants checked: no panic; a refused command line has a failing
/// status and says something; a refused change leaves the fake's table
/// empty (every change here needs a service, and there is none, or adds
/// one whole).
pub fn command_line(data: &[u8]) {
    let mut pieces = data.split(|&b| b == 0);
    let hosts = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let services = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let names = Files::from_texts(&hosts, &services);
    let args: Vec<OsString> = pieces.map(|p| OsString::from_vec(p.to_vec())).collect();
    let command = match command::parse(args, PROGRAM, &names) {
        Ok(command) => command,
        Err(failure) => {
            assert_ne!(failure.status, 0, "{failure}");
            assert!(!failure.to_string().trim().is_empty());
            return;
        }
    };
    // The names resolve both ways without a panic, whatever the files hold.
    for (addr, port) in [("192.0.2.1", 80), ("2001:db8::1", 443)] {
        names.host(addr.parse().expect("an address"));
        names.service(port, "tcp");
    }
    if !command.is_change() {
        return;
    }
    let fake = fake();
    let ipvs = handle(&fake).expect("the fake opens");
    let refused = crate::change_ipvs(&ipvs, &command).is_err();
    let services = fake.snapshot().services;
    match command {
        Command::AddService(_) if !refused => assert_eq!(services.len(), 1),
        _ => assert!(services.is_empty(), "{command:?}: {services:?}"),
    }
}
