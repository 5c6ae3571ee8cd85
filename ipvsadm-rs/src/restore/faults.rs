// SPDX-License-Identifier: MIT OR Apache-2.0
//! `-R` on `ipvs::fake` with injected faults: the paths of [`run`] that
//! only a kernel failing at the wrong moment reaches. Each test checks the
//! state left behind and what the run prints (stderr is the [`Failure`]'s
//! text, the exit status its `status`, as `main` prints them). No root.

use std::time::Duration;

use ipvs::fake::{FakeIpvs, Fault, When};
use ipvs::ipvs_sys::IpvsCmd;
use ipvs::testing::ACK_RECEIVE_BUDGET;
use ipvs::{Error, Snapshot, SyncDaemon, Timeouts};

use super::{ALL_UNDONE, State, parse_input, plan, run};
use crate::failure::{EXIT_REFUSED, Failure};
use crate::list;
use crate::names::Numeric;

/// The handles' deadline: how long a lost reply is waited for.
const TIMEOUT: Duration = Duration::from_millis(300);

const ENOENT: i32 = 2;
const EIO: i32 = 5;
const ENOMEM: i32 = 12;

/// What `-R` changes, as the fake holds it.
#[derive(Debug, PartialEq, Eq)]
struct Kernel {
    /// The table, as `ipvsadm -Sn` prints it.
    table: String,
    /// What `-Sn` leaves out: each destination's thresholds
    /// (`SERVICE -r ADDR -x U -y L`), where not 0.
    thresholds: Vec<String>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
}

/// The table the tests start from, with timeouts and a daemon.
const BEFORE: &str = "\
-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 3
-a -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 1
-A -u 192.0.2.2:53 -s rr
-a -u 192.0.2.2:53 -r 192.0.2.20:53 -m -w 1
--set 900 120 300
--start-daemon master --mcast-interface sync0
";

/// Four changes of the table, steps 0 to 3 on lines 2 to 5.
const TABLE: &str = "\
# 0 edits a destination, 1 deletes a service, 2 and 3 add one
-e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 5
-D -u 192.0.2.2:53
-A -t 192.0.2.3:443 -s lc
-a -t 192.0.2.3:443 -r 192.0.2.30:443 -m
";

/// A change of the table (write 0), then settings (writes 1 to 3).
const SETTINGS: &str = "\
-e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 5
--set 60 30 20
--stop-daemon master
--start-daemon backup --mcast-interface sync0
";

/// A fake holding [`BEFORE`], and that state.
fn prepared() -> (FakeIpvs, Kernel) {
    prepared_on(FakeIpvs::builder())
}

fn prepared_on(builder: ipvs::fake::Builder) -> (FakeIpvs, Kernel) {
    let fake = builder.interface("sync0", 1500).build();
    restore(&fake, BEFORE).unwrap_or_else(|f| panic!("{f}"));
    let state = read(&fake);
    (fake, state)
}

/// `ipvsadm-rs -R` with `input` on stdin, on the fake.
fn restore(fake: &FakeIpvs, input: &str) -> Result<(), Failure> {
    run(input, "ipvsadm", &Numeric, || {
        let ipvs = fake.handle().map_err(|e| Failure::init(&e))?;
        ipvs.set_timeout(TIMEOUT);
        Ok(ipvs)
    })
}

/// The fake's state: the table read directly, the settings through a
/// handle of their own, after the faults not met are forgotten.
fn read(fake: &FakeIpvs) -> Kernel {
    fake.clear_faults();
    let ipvs = fake.handle().unwrap();
    let snapshot = fake.snapshot();
    Kernel {
        table: list::saved_numeric(&snapshot.services),
        thresholds: thresholds(&snapshot),
        timeouts: ipvs.timeouts().unwrap(),
        daemons: ipvs.daemons().unwrap(),
    }
}

fn thresholds(snapshot: &Snapshot) -> Vec<String> {
    let mut lines: Vec<String> = snapshot
        .services
        .iter()
        .flat_map(|s| {
            s.destinations
                .iter()
                .filter(|d| (d.upper_threshold, d.lower_threshold) != (0, 0))
                .map(|d| {
                    format!(
                        "{} -r {} -x {} -y {}",
                        s.service.key.ipvsadm_args(),
                        d.addr,
                        d.upper_threshold,
                        d.lower_threshold
                    )
                })
        })
        .collect();
    lines.sort();
    lines
}

/// What a failed run prints on stderr, line by line, and its exit status.
fn stderr(result: Result<(), Failure>) -> (Vec<String>, u8) {
    let failure = result.expect_err("the restore fails");
    let lines = failure.to_string().lines().map(str::to_owned).collect();
    (lines, failure.status)
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|&line| line.to_owned()).collect()
}

/// The writes the fake received after those that made [`BEFORE`] (one a
/// line), with the errno each was answered with, whether or not the
/// answer arrived.
fn writes(fake: &FakeIpvs) -> Vec<(IpvsCmd, i32)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.is_write())
        .skip(BEFORE.lines().count())
        .filter_map(|r| Some((r.command?, r.errno)))
        .collect()
}

/// What a restore does before its batch: opens IPVS and reads the state.
fn open_and_read(fake: &FakeIpvs) -> bool {
    fake.handle().is_ok_and(|ipvs| State::read(&ipvs).is_ok())
}

/// How many requests a restore sends before its batch.
fn requests_before_the_batch(fake: &FakeIpvs) -> usize {
    let logged = fake.requests().len();
    assert!(open_and_read(fake));
    fake.requests().len() - logged
}

/// How many datagrams a restore sends before its batch: the first `n` for
/// which the `n`th failing to send goes unnoticed.
fn datagrams_before_the_batch(fake: &FakeIpvs) -> usize {
    let unnoticed = |n| {
        fake.fail_send(n, EIO);
        let read = open_and_read(fake);
        fake.clear_faults();
        read
    };
    (0..).find(|&n| unnoticed(n)).unwrap()
}

#[test]
fn a_refused_step_is_undone_with_every_step_before_it() {
    let (fake, before) = prepared();
    fake.inject(When::Write(2), Fault::Refuse(ENOMEM));
    let (stderr, status) = stderr(restore(&fake, TABLE));
    assert_eq!(
        stderr,
        lines(&[
            "Memory allocation problem",
            "kernel error adding a service (ipvsadm -A): Cannot allocate memory (os error 12)",
            "line 4: -A -t 192.0.2.3:443 -s lc",
            ALL_UNDONE,
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    assert_eq!(read(&fake), before);
    use IpvsCmd::*;
    assert_eq!(
        writes(&fake),
        [
            // Steps 0 and 1 applied, 2 refused, 3 refused without its service.
            (SetDest, 0),
            (DelService, 0),
            (NewService, ENOMEM),
            (NewDest, 3),
            // 1 and 0 undone, newest first.
            (NewService, 0),
            (NewDest, 0),
            (SetDest, 0),
        ]
    );
}

#[test]
fn a_step_whose_reply_never_came_is_undone_too() {
    for (fault, first) in [
        (
            Fault::LoseReply,
            ["timed out after 300ms adding a service (ipvsadm -A)"].as_slice(),
        ),
        // Late, but in time for the undo, whose deadline is TIMEOUT
        // after the batch's: the late replies, and those of the undo
        // queued behind them, arrive half a TIMEOUT before it.
        (
            Fault::Delay(TIMEOUT * 3 / 2),
            &["timed out after 300ms adding a service (ipvsadm -A)"],
        ),
        (
            Fault::Overrun,
            &[
                "No buffer space available",
                "netlink receive queue overflowed adding a service (ipvsadm -A); \
                 replies were lost, the request was abandoned",
            ],
        ),
    ] {
        let (fake, before) = prepared();
        fake.inject(When::Write(2), fault.clone());
        let (stderr, status) = stderr(restore(&fake, TABLE));
        let mut expected = lines(first);
        expected.extend(lines(&["line 4: -A -t 192.0.2.3:443 -s lc", ALL_UNDONE]));
        assert_eq!(stderr, expected, "{fault:?}");
        assert_eq!(status, EXIT_REFUSED);
        // The fake applied step 2 (and 3 after it): left alone, they would
        // leave 192.0.2.3:443 in the table.
        let log = writes(&fake);
        assert_eq!(log[2..4], [(IpvsCmd::NewService, 0), (IpvsCmd::NewDest, 0)]);
        assert_eq!(read(&fake), before, "{fault:?}");
    }
}

#[test]
fn an_undo_whose_replies_never_came_is_not_called_done() {
    let (fake, before) = prepared();
    // Step 2's replies, and every reply queued behind them, arrive long
    // after the undo and the read back have given up on theirs. (The read
    // back lists the services on the handle's second socket, which the late
    // replies do not hold up, and gives up on the destinations.)
    fake.inject(When::Write(2), Fault::Delay(TIMEOUT * 100));
    let (stderr, status) = stderr(restore(&fake, TABLE));
    assert_eq!(
        stderr,
        lines(&[
            "timed out after 300ms adding a service (ipvsadm -A)",
            "line 4: -A -t 192.0.2.3:443 -s lc",
            "undoing the changes failed at `-d -t 192.0.2.3:443 -r 192.0.2.30:443`: \
             timed out after 300ms deleting a destination (ipvsadm -d)",
            "the table could not be read back: timed out after 300ms listing destinations (ipvsadm -L)",
            "the undo left these -R lines to run:",
            "  -d -t 192.0.2.3:443 -r 192.0.2.30:443",
            "  -D -t 192.0.2.3:443",
            "  -A -u 192.0.2.2:53 -s rr",
            "  -a -u 192.0.2.2:53 -r 192.0.2.20:53 -m -w 1",
            "  -e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 3",
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    // The fake applied every write at once, the undo's too: the report
    // could not know it, and did not claim it.
    assert_eq!(read(&fake), before);
}

#[test]
fn an_undo_that_fails_is_reported_with_what_is_left() {
    let (fake, before) = prepared();
    // Step 3 is refused; undoing 2, 1 (re-adding the UDP service, then its
    // destination) and 0, the re-add is refused too.
    fake.inject(When::Write(3), Fault::Refuse(ENOMEM));
    fake.inject(When::Write(5), Fault::Refuse(ENOMEM));
    let (stderr, status) = stderr(restore(&fake, TABLE));
    let left = [
        "-A -u 192.0.2.2:53 -s rr",
        "-a -u 192.0.2.2:53 -r 192.0.2.20:53 -m -w 1",
    ];
    assert_eq!(
        stderr,
        lines(&[
            "Memory allocation problem",
            "kernel error adding a destination (ipvsadm -a): Cannot allocate memory (os error 12)",
            "line 5: -a -t 192.0.2.3:443 -r 192.0.2.30:443 -m",
            "undoing the changes failed at `-A -u 192.0.2.2:53 -s rr`: \
             kernel error adding a service (ipvsadm -A): Cannot allocate memory (os error 12)",
            "these -R lines would put the table back as it was:",
            &format!("  {}", left[0]),
            &format!("  {}", left[1]),
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    let now = read(&fake);
    assert_ne!(now, before);
    assert!(!now.table.contains("-u 192.0.2.2:53"), "{}", now.table);
    // The lines given finish the undo.
    restore(&fake, &(left.join("\n") + "\n")).unwrap();
    assert_eq!(read(&fake), before);
}

#[test]
fn a_failed_setting_puts_back_the_settings_before_it_and_the_table() {
    let (fake, before) = prepared();
    fake.inject(When::Write(3), Fault::Refuse(ENOMEM));
    let (stderr, status) = stderr(restore(&fake, SETTINGS));
    assert_eq!(
        stderr,
        lines(&[
            "Memory allocation problem",
            "kernel error starting the sync daemon (ipvsadm --start-daemon): \
             Cannot allocate memory (os error 12)",
            "line 4: --start-daemon backup --mcast-interface sync0",
            ALL_UNDONE,
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    assert_eq!(read(&fake), before);
    use IpvsCmd::*;
    assert_eq!(
        writes(&fake),
        [
            (SetDest, 0),
            (SetConfig, 0),
            (DelDaemon, 0),
            (NewDaemon, ENOMEM),
            // Undone newest first: the backup never ran (ESRCH: as it
            // should be), the master again, the timeouts, the table.
            (DelDaemon, 3),
            (NewDaemon, 0),
            (SetConfig, 0),
            (SetDest, 0),
        ]
    );
}

#[test]
fn a_setting_whose_reply_never_came_is_put_back_too() {
    let (fake, before) = prepared();
    fake.inject(When::Write(3), Fault::LoseReply);
    let (stderr, _) = stderr(restore(&fake, SETTINGS));
    assert_eq!(
        stderr[0],
        "timed out after 300ms starting the sync daemon (ipvsadm --start-daemon)"
    );
    assert_eq!(stderr.last().unwrap(), ALL_UNDONE);
    // The backup started: stopping it is part of the undo.
    assert_eq!(
        writes(&fake)[3..5],
        [(IpvsCmd::NewDaemon, 0), (IpvsCmd::DelDaemon, 0)]
    );
    assert_eq!(read(&fake), before);
}

#[test]
fn a_setting_that_cannot_be_put_back_is_reported_with_the_line_that_would() {
    // Undo writes: 4 stops the backup, 5 starts the master, 6 sets the
    // timeouts back, 7 puts the table back.
    for (undo, not_back) in [
        (
            6,
            "not put back: line 2: --set 60 30 20 (kernel error setting timeouts \
             (ipvsadm --set): Cannot allocate memory (os error 12)); \
             `--set 900 120 300` would put it back",
        ),
        (
            5,
            "not put back: line 3: --stop-daemon master (kernel error starting the sync \
             daemon (ipvsadm --start-daemon): Cannot allocate memory (os error 12)); \
             `--start-daemon master --mcast-interface sync0 --syncid 0 --sync-maxlen 1472 \
             --mcast-group 224.0.0.81 --mcast-port 8848 --mcast-ttl 1` would put it back",
        ),
    ] {
        let (fake, before) = prepared();
        fake.inject(When::Write(3), Fault::Refuse(ENOMEM));
        fake.inject(When::Write(undo), Fault::Refuse(ENOMEM));
        let (stderr, status) = stderr(restore(&fake, SETTINGS));
        assert_eq!(
            stderr[2..],
            lines(&[
                "line 4: --start-daemon backup --mcast-interface sync0",
                not_back,
                "the table is as it was",
            ])
        );
        assert_eq!(status, EXIT_REFUSED);
        let now = read(&fake);
        assert_eq!(now.table, before.table);
        assert_ne!(now, before);
        // The line given puts it back.
        let line = not_back.split('`').nth(1).unwrap();
        restore(&fake, &format!("{line}\n")).unwrap();
        assert_eq!(read(&fake), before);
    }
}

#[test]
fn a_table_that_cannot_be_put_back_after_a_failed_setting_is_reported() {
    let (fake, before) = prepared();
    fake.inject(When::Write(3), Fault::Refuse(ENOMEM));
    fake.inject(When::Write(7), Fault::Refuse(ENOMEM));
    let (stderr, status) = stderr(restore(&fake, SETTINGS));
    assert_eq!(
        stderr[2..],
        lines(&[
            "line 4: --start-daemon backup --mcast-interface sync0",
            "the settings were put back",
            "putting the table back failed at `-e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 3`: \
             kernel error editing a destination (ipvsadm -e): Cannot allocate memory (os error 12)",
            "these -R lines would put the table back as it was:",
            "  -e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 3",
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    let now = read(&fake);
    assert_eq!(
        (&now.timeouts, &now.daemons),
        (&before.timeouts, &before.daemons)
    );
    assert!(
        now.table.contains("-r 192.0.2.10:80 -m -w 5"),
        "{}",
        now.table
    );
}

#[test]
fn a_failed_zero_puts_back_the_settings_and_the_table() {
    let (fake, before) = prepared();
    fake.inject(When::Write(2), Fault::Refuse(ENOMEM));
    let input = "-e -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 5\n-Z\n--set 60 30 20\n";
    let (stderr, status) = stderr(restore(&fake, input));
    assert_eq!(
        stderr,
        lines(&[
            "Memory allocation problem",
            "kernel error zeroing counters (ipvsadm -Z): Cannot allocate memory (os error 12)",
            "line 2: -Z",
            ALL_UNDONE,
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    assert_eq!(read(&fake), before);
}

#[test]
fn a_transport_failure_mid_batch_blames_the_line_of_the_first_step_cut_off() {
    // A receive queue of two ACKs: the batch goes in datagrams of steps
    // [0, 1] (line 2's -C), [2, 3] (lines 4 and 5), [4] (line 6).
    let input = "\
# the table again, from the start
-C

-A -t 192.0.2.5:80 -s rr
-a -t 192.0.2.5:80 -r 192.0.2.50:80 -m
-a -t 192.0.2.5:80 -r 192.0.2.51:80 -m
";
    for (datagram, cut_off, blamed) in [
        (0, "deleting a service (ipvsadm -D)", "line 2: -C"),
        (
            1,
            "adding a service (ipvsadm -A)",
            "line 4: -A -t 192.0.2.5:80 -s rr",
        ),
        (
            2,
            "adding a destination (ipvsadm -a)",
            "line 6: -a -t 192.0.2.5:80 -r 192.0.2.51:80 -m",
        ),
    ] {
        let queue = FakeIpvs::builder().receive_queue(2 * ACK_RECEIVE_BUDGET);
        let (fake, before) = prepared_on(queue);
        fake.fail_send(datagrams_before_the_batch(&fake) + datagram, EIO);
        let (stderr, status) = stderr(restore(&fake, input));
        assert_eq!(
            stderr,
            lines(&[
                "Input/output error",
                &format!("I/O error {cut_off}: Input/output error (os error 5)"),
                blamed,
                ALL_UNDONE,
            ])
        );
        assert_eq!(status, EXIT_REFUSED);
        // The datagrams before it were applied.
        let sent = writes(&fake);
        assert!(sent[..2 * datagram].iter().all(|&(_, errno)| errno == 0));
        assert_eq!(read(&fake), before);
    }
}

#[test]
fn a_batch_that_fails_as_a_whole_is_read_back_and_put_back() {
    // Step 0 meets ENOENT, which may mean that ip_vs was reloaded: the
    // handle looks the family up again, and that fails. The batch fails
    // as a whole, with steps 1 to 3 applied and not rolled back.
    let (fake, before) = prepared();
    let requests = requests_before_the_batch(&fake);
    fake.inject(When::Write(0), Fault::Refuse(ENOENT));
    fake.inject(When::Request(requests + 4), Fault::Refuse(ENOMEM));
    let (stderr, status) = stderr(restore(&fake, TABLE));
    assert_eq!(
        stderr,
        lines(&[
            "Memory allocation problem",
            "kernel error resolving the IPVS netlink family: Cannot allocate memory (os error 12)",
            ALL_UNDONE,
        ])
    );
    assert_eq!(status, EXIT_REFUSED);
    assert_eq!(read(&fake), before);
}

/// The bug the test above works around, in `ipvs` itself.
#[test]
#[ignore = "ipvs bug: apply_plan neither rolls back nor reports the steps of a \
            batch whose family look-up after ENOENT fails"]
fn ipvs_apply_plan_rolls_back_a_batch_whose_family_look_up_fails() {
    let (fake, before) = prepared();
    let ipvs = fake.handle().unwrap();
    let restore = plan(
        State::read(&ipvs).unwrap(),
        &parse_input(TABLE, "ipvsadm", &Numeric).unwrap(),
    )
    .unwrap();
    fake.inject(When::Write(0), Fault::Refuse(ENOENT));
    fake.inject(When::Request(4), Fault::Refuse(ENOMEM));
    let error = ipvs.apply_plan(&restore.plan).unwrap_err();
    assert!(
        matches!(error, Error::ApplyFailed { step: 0, .. }),
        "{error:?}"
    );
    assert_eq!(read(&fake), before);
}

#[test]
fn a_saved_table_restores_exactly() {
    let dump = "\
-A -t 192.0.2.1:80 -s wrr -p 300
-a -t 192.0.2.1:80 -r 192.0.2.10:80 -m -w 100000
-a -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 0 -x 100 -y 10
-A -u 192.0.2.2:53 -s sh -o -b sh-fallback,sh-port
-a -u 192.0.2.2:53 -r 192.0.2.20:53 -g -w 1
-a -u 192.0.2.2:53 -r 192.0.2.21:53 -i -w 2 --tun-type gue --tun-port 6080 --tun-nocsum
-A -t [2001:db8::1]:443 -s lc -p 60 --pe sip
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -m -w 1
-A -f 7 -s mh -p 3600 -M 255.255.255.0
-a -f 7 -r 192.0.2.30:0 -g -w 1
";
    // What -S writes back: the same, without the thresholds.
    let saved = dump.replace(" -x 100 -y 10", "");
    let thresholds = ["-t 192.0.2.1:80 -r 192.0.2.11:8080 -x 100 -y 10"];
    let fake = FakeIpvs::new();
    restore(&fake, dump).unwrap_or_else(|f| panic!("{f}"));
    let snapshot = fake.snapshot();
    assert_eq!(list::saved_numeric(&snapshot.services), saved);
    assert_eq!(self::thresholds(&snapshot), thresholds);
    // Over another table, cleared first, and with settings.
    let (fake, before) = prepared();
    let input = format!("-C\n{dump}--set 60 30 20\n--stop-daemon master\n");
    restore(&fake, &input).unwrap_or_else(|f| panic!("{f}"));
    let now = read(&fake);
    assert_eq!(now.table, saved);
    assert_eq!(now.thresholds, thresholds);
    assert_eq!(
        now.timeouts,
        Timeouts::new(Some(secs(60)), Some(secs(30)), Some(secs(20)))
    );
    assert!(now.daemons.is_empty() && !before.daemons.is_empty());
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
