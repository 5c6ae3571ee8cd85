// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-reconciler`'s controller against `ipvs::fake`: no root, no
//! `ip_vs`, so these run with a plain `cargo test` anywhere. The lines
//! asserted are what the binary prints. (`kernel_reconciler.rs` runs the
//! binary against a real kernel, with traffic.)

use std::path::PathBuf;
use std::time::Duration;

use ipvs::fake::{FakeIpvs, Fault, When};
use ipvs::{
    ApplyOptions, Destination, Error, Forwarding, Plan, Rollback, Scheduler, Service, ServiceKey,
    ServiceState,
};
use ipvs_examples::reconciler::{DesiredError, Event, Reconciler, parse_desired};
use serde_json::json;

const WEB: &str = "tcp:203.0.113.1:80";
const DNS: &str = "udp:203.0.113.1:53";
const A: &str = "198.51.100.10:80";
const B: &str = "198.51.100.11:80";

/// A fake IPVS and a folder for the desired-state and state files.
struct Setup {
    fake: FakeIpvs,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Setup {
            fake: FakeIpvs::new(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn desired(&self) -> PathBuf {
        self.dir.path().join("desired.json")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("owned.json")
    }

    fn write(&self, contents: &str) {
        std::fs::write(self.desired(), contents).expect("write the desired file");
    }

    /// A reconciler on the fake, as the binary starts one.
    async fn reconciler(&self) -> Reconciler {
        let ipvs = self
            .fake
            .async_handle()
            .await
            .expect("a handle on the fake");
        Reconciler::new(ipvs, self.desired(), self.state())
            .await
            .expect("the state file reads")
    }

    /// The owned services the state file lists.
    fn owned_on_disk(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state()).expect("the state file");
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["owned"].clone()
    }

    /// True when the fake's whole table is the file `json` describes
    /// (counters and connection counts aside).
    fn table_is(&self, json: &str) -> bool {
        let desired = parse_desired(json.as_bytes()).expect("a valid file");
        Plan::new(&self.fake.snapshot(), &desired, &ApplyOptions::default())
            .expect("a plan")
            .is_empty()
    }

    /// True when no request since the `since`th changed the table.
    fn no_write_since(&self, since: usize) -> bool {
        self.fake.requests()[since..].iter().all(|r| !r.is_write())
    }
}

/// A desired-state file: each service round robin, with these
/// masqueraded destinations (`ADDR:PORT` or `ADDR:PORT@WEIGHT`).
fn file(services: &[(&str, &[&str])]) -> String {
    let services: Vec<_> = services
        .iter()
        .map(|(key, dests)| {
            let dests: Vec<_> = dests
                .iter()
                .map(|d| {
                    let (addr, weight) = d.split_once('@').unwrap_or((d, "1"));
                    json!({ "addr": addr, "forwarding": "-m", "weight": weight.parse::<u32>().unwrap() })
                })
                .collect();
            json!({ "service": { "key": key, "scheduler": "rr" }, "destinations": dests })
        })
        .collect();
    json!({ "services": services }).to_string()
}

fn lines(events: &[Event]) -> Vec<String> {
    events.iter().map(ToString::to_string).collect()
}

fn key(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_first_poll_applies_the_file_and_owns_its_services() {
    let setup = Setup::new();
    setup.write(
        r#"{ "services": [
          { "service": { "key": "tcp:203.0.113.1:80", "scheduler": "wrr" },
            "destinations": [
              { "addr": "198.51.100.10:80", "forwarding": "-m", "weight": 3 },
              { "addr": "198.51.100.11:80", "forwarding": "-m" } ] },
          { "service": { "key": "udp:203.0.113.1:53", "scheduler": "rr" } } ] }"#,
    );
    let mut reconciler = setup.reconciler().await;
    assert_eq!(
        lines(&reconciler.poll().await),
        [
            format!("loaded {}: 2 services", setup.desired().display()),
            "ipvsadm -A -t 203.0.113.1:80 -s wrr".into(),
            "ipvsadm -A -u 203.0.113.1:53 -s rr".into(),
            // The last listed first: the kernel's list ends in the file's order.
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1".into(),
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 3".into(),
        ]
    );
    let web = setup.fake.snapshot().service(&key(WEB)).unwrap().clone();
    assert_eq!(web.destinations.len(), 2);
    assert_eq!(setup.owned_on_disk(), json!([WEB, DNS]));

    // The same file again: nothing to read, nothing to do.
    assert!(reconciler.poll().await.is_empty());
    assert_eq!(lines(&reconciler.reconcile().await), ["no change"]);
}

#[tokio::test]
async fn a_changed_file_is_applied_again() {
    let setup = Setup::new();
    setup.write(&file(&[(WEB, &[A])]));
    let mut reconciler = setup.reconciler().await;
    reconciler.poll().await;

    let changed = file(&[(WEB, &["198.51.100.10:80@2", B])]);
    setup.write(&changed);
    assert_eq!(
        lines(&reconciler.poll().await)[1..],
        [
            "ipvsadm -e -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 2",
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1",
        ]
    );
    assert!(setup.table_is(&changed));
}

#[tokio::test]
async fn a_removed_destination_drains_while_it_has_connections_then_goes() {
    let setup = Setup::new();
    setup.write(&file(&[(WEB, &[A, B])]));
    let mut reconciler = setup.reconciler().await;
    reconciler.poll().await;
    assert!(
        setup
            .fake
            .set_connections(&key(WEB), B.parse().unwrap(), 2, 1)
    );

    setup.write(&file(&[(WEB, &[A])]));
    let draining =
        "draining -t 203.0.113.1:80 -r 198.51.100.11:80: 2 active, 1 inactive connections";
    assert_eq!(
        lines(&reconciler.poll().await)[1..],
        [
            "ipvsadm -e -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 0",
            draining,
        ]
    );
    assert!(setup.table_is(&file(&[(WEB, &[A, "198.51.100.11:80@0"])])));
    assert_eq!(
        lines(&reconciler.reconcile().await),
        ["no change", draining],
        "kept while it has connections"
    );

    assert!(
        setup
            .fake
            .set_connections(&key(WEB), B.parse().unwrap(), 0, 0)
    );
    assert_eq!(
        lines(&reconciler.reconcile().await),
        ["ipvsadm -d -t 203.0.113.1:80 -r 198.51.100.11:80"]
    );
    assert!(setup.table_is(&file(&[(WEB, &[A])])));
}

#[tokio::test]
async fn a_service_removed_from_the_file_stays_owned_until_it_has_drained() {
    let setup = Setup::new();
    setup.write(&file(&[(WEB, &[A]), (DNS, &["198.51.100.10:53"])]));
    let mut reconciler = setup.reconciler().await;
    reconciler.poll().await;
    assert!(
        setup
            .fake
            .set_connections(&key(DNS), "198.51.100.10:53".parse().unwrap(), 0, 4)
    );

    setup.write(&file(&[(WEB, &[A])]));
    assert_eq!(
        lines(&reconciler.poll().await)[1..],
        [
            "ipvsadm -e -u 203.0.113.1:53 -r 198.51.100.10:53 -m -w 0",
            "draining -u 203.0.113.1:53 -r 198.51.100.10:53: 0 active, 4 inactive connections",
        ]
    );
    assert_eq!(setup.owned_on_disk(), json!([WEB, DNS]), "still its own");

    assert!(
        setup
            .fake
            .set_connections(&key(DNS), "198.51.100.10:53".parse().unwrap(), 0, 0)
    );
    assert_eq!(
        lines(&reconciler.reconcile().await),
        ["ipvsadm -D -u 203.0.113.1:53"]
    );
    assert_eq!(setup.owned_on_disk(), json!([WEB]));
}

#[tokio::test]
async fn foreign_services_are_left_untouched() {
    let setup = Setup::new();
    let operator = setup.fake.handle().unwrap();
    // Another owner's services, one on the same address as ours.
    for foreign in ["tcp:203.0.113.1:8080", "tcp:192.0.2.1:80"] {
        let key = key(foreign);
        operator
            .add_service(&Service::new(key, Scheduler::WeightedLeastConnection))
            .unwrap();
        let dest = Destination::new(
            "198.51.100.20:8080".parse().unwrap(),
            Forwarding::DirectRoute,
        );
        operator.add_destination(&key, &dest).unwrap();
    }
    let theirs = || -> Vec<ServiceState> {
        let mut table = setup.fake.snapshot().services;
        table.retain(|s| s.service.key.to_string() != WEB && s.service.key.to_string() != DNS);
        table
    };
    let foreign = theirs();

    let mut reconciler = setup.reconciler().await;
    for desired in [
        file(&[(WEB, &[A, B]), (DNS, &[])]),
        file(&[(WEB, &["198.51.100.10:80@5"])]),
        file(&[]),
    ] {
        setup.write(&desired);
        let events = reconciler.poll().await;
        assert!(
            !events.iter().any(|e| matches!(e, Event::Failed(_))),
            "{events:?}"
        );
        assert_eq!(theirs(), foreign, "after {desired}");
    }
    assert_eq!(setup.owned_on_disk(), json!([]));
    assert_eq!(setup.fake.snapshot().services, foreign, "theirs alone");
}

#[tokio::test]
async fn a_file_naming_a_foreign_service_is_refused_and_reported() {
    let setup = Setup::new();
    let operator = setup.fake.handle().unwrap();
    operator
        .add_service(&Service::new(key(WEB), Scheduler::RoundRobin))
        .unwrap();
    let table = setup.fake.snapshot();
    let requests = setup.fake.requests().len();

    setup.write(&file(&[(WEB, &[A]), (DNS, &[])]));
    let mut reconciler = setup.reconciler().await;
    let events = reconciler.poll().await;
    assert!(
        matches!(&events[..], [Event::Loaded { .. }, Event::Failed(Error::ForeignService { service })] if *service == key(WEB)),
        "{events:?}"
    );
    assert!(
        events[1].to_string().starts_with(
            "error: service tcp:203.0.113.1:80 exists but is not among the services this apply owns"
        ),
        "{}",
        events[1]
    );
    // All or nothing: not even the other service of the file.
    assert!(setup.no_write_since(requests));
    assert_eq!(setup.fake.snapshot(), table);
    assert!(reconciler.owned().is_empty());
    assert!(!setup.state().exists());
}

#[tokio::test]
async fn a_bad_file_keeps_the_last_good_state_and_leaves_the_kernel_alone() {
    let setup = Setup::new();
    let good = file(&[(WEB, &[A])]);
    setup.write(&good);
    let mut reconciler = setup.reconciler().await;
    reconciler.poll().await;
    let requests = setup.fake.requests().len();
    let path = setup.desired().display().to_string();

    let twice = file(&[(WEB, &[A]), (WEB, &[B])]);
    let bad = [
        // Not JSON.
        (
            "{ \"services\": [\n  { \"service\": { \"key\": \"tcp:203.0.113.1:80\" }, }\n] }",
            "trailing comma at line 2 column 49",
        ),
        // A value out of range.
        (
            r#"{ "services": [ { "service": { "key": "tcp:203.0.113.1:80" }, "destinations": [ { "addr": "198.51.100.10:80", "weight": -1 } ] } ] }"#,
            "expected weight: a whole number of 0..=2147483647 at line 1 column 122",
        ),
        // Valid values, not a valid state.
        (
            twice.as_str(),
            "invalid desired services: service tcp:203.0.113.1:80 appears twice",
        ),
        // `{}` is not "no services".
        ("{}", "missing field `services` at line 1 column 2"),
    ];
    for (contents, why) in bad {
        setup.write(contents);
        let events = reconciler.poll().await;
        let [Event::Rejected { error, .. }] = &events[..] else {
            panic!("{contents}: {events:?}");
        };
        assert!(
            matches!(error, DesiredError::Json(_) | DesiredError::Invalid(_)),
            "{error:?}"
        );
        let line = events[0].to_string();
        assert!(
            line.starts_with(&format!("rejected {path}: ")) && line.contains(why),
            "{line}"
        );
        assert!(line.ends_with("; keeping the last good state"), "{line}");
        assert_eq!(setup.fake.requests().len(), requests, "kernel not asked");
    }
    std::fs::remove_file(setup.desired()).unwrap();
    let events = reconciler.poll().await;
    assert!(
        matches!(&events[..], [Event::Rejected { error: DesiredError::Read(e), .. }] if e.kind() == std::io::ErrorKind::NotFound),
        "{events:?}"
    );
    assert!(reconciler.poll().await.is_empty(), "reported once");
    assert_eq!(setup.fake.requests().len(), requests);

    // The last good state is still what a resync applies.
    assert!(setup.table_is(&good));
    assert_eq!(lines(&reconciler.reconcile().await), ["no change"]);
    setup.write(&file(&[(WEB, &[B])]));
    assert!(
        lines(&reconciler.poll().await)
            .contains(&"ipvsadm -d -t 203.0.113.1:80 -r 198.51.100.10:80".into())
    );
}

#[tokio::test]
async fn a_restart_deletes_a_service_removed_from_the_file_while_it_was_down() {
    let setup = Setup::new();
    setup.write(&file(&[(WEB, &[A]), (DNS, &[])]));
    setup.reconciler().await.poll().await;

    // Down; meanwhile DNS leaves the file.
    setup.write(&file(&[(WEB, &[A])]));
    let mut restarted = setup.reconciler().await;
    assert_eq!(
        lines(&restarted.poll().await)[1..],
        ["ipvsadm -D -u 203.0.113.1:53"]
    );
    assert!(setup.table_is(&file(&[(WEB, &[A])])));

    // Without its state file, a reconciler cannot tell its services from
    // another owner's, and takes none over.
    std::fs::remove_file(setup.state()).unwrap();
    let events = setup.reconciler().await.poll().await;
    assert!(
        matches!(&events[1], Event::Failed(Error::ForeignService { service }) if *service == key(WEB)),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_refused_write_is_rolled_back_and_reported() {
    let setup = Setup::new();
    let first = file(&[(WEB, &[A])]);
    setup.write(&first);
    let mut reconciler = setup.reconciler().await;
    reconciler.poll().await;

    // The second write of the next apply is refused with ENOMEM.
    setup.fake.inject(When::Write(1), Fault::Refuse(12));
    let second = file(&[(WEB, &[A, B]), (DNS, &[])]);
    setup.write(&second);
    let events = reconciler.poll().await;
    let [
        Event::Loaded { .. },
        Event::Failed(Error::ApplyFailed {
            step: 1, rollback, ..
        }),
    ] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert!(
        matches!(rollback, Rollback::Complete { undone: 1 }),
        "{rollback:?}"
    );
    assert_eq!(
        events[1].to_string(),
        "error: apply failed at step 1 `-a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1`: \
         kernel error adding a destination (ipvsadm -a): Cannot allocate memory (os error 12); \
         rolled back (1 inverse steps): the table is as before"
    );
    assert!(setup.table_is(&first));
    assert_eq!(setup.owned_on_disk(), json!([WEB]), "as before");

    // The next resync applies it.
    assert_eq!(lines(&reconciler.reconcile().await).len(), 2);
    assert!(setup.table_is(&second));
}

#[tokio::test]
async fn a_failed_rollback_leaves_what_it_may_have_made_owned() {
    let setup = Setup::new();
    let desired = file(&[(WEB, &[A, B])]);
    setup.write(&desired);
    let mut reconciler = setup.reconciler().await;
    // Writes: -A web, -a B, -a A (refused; the last listed is added
    // first); the rollback: -d B, -D web (refused too), so web stays in
    // the table.
    setup.fake.inject(When::Write(2), Fault::Refuse(12));
    setup.fake.inject(When::Write(4), Fault::Refuse(12));
    let events = reconciler.poll().await;
    let [_, Event::Failed(Error::ApplyFailed { rollback, .. })] = &events[..] else {
        panic!("{events:?}");
    };
    assert!(
        matches!(rollback, Rollback::Failed { left, .. } if left == &["-D -t 203.0.113.1:80"]),
        "{rollback:?}"
    );
    assert!(
        events[1].to_string().contains("ROLLBACK FAILED"),
        "{}",
        events[1]
    );
    assert!(setup.fake.snapshot().service(&key(WEB)).is_some());
    // Web stays its own (not another owner's), so the next resync finishes.
    assert_eq!(setup.owned_on_disk(), json!([WEB]));
    assert_eq!(
        lines(&reconciler.reconcile().await),
        [
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1",
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 1",
        ]
    );
    assert!(setup.table_is(&desired));
}

#[tokio::test]
async fn run_applies_each_change_of_the_file_until_shut_down() {
    let setup = Setup::new();
    setup.write(&file(&[(WEB, &[A])]));
    let reconciler = setup.reconciler().await;
    let mut printed = Vec::new();
    let wait_for = |desired: String| {
        let setup = &setup;
        async move {
            tokio::time::timeout(Duration::from_secs(20), async {
                while !setup.table_is(&desired) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("never applied: {desired}"));
        }
    };
    // The test runs as the shutdown future: `run` returns when it is done.
    let driver = async {
        wait_for(file(&[(WEB, &[A])])).await;
        setup.write(&file(&[(WEB, &[B])]));
        wait_for(file(&[(WEB, &[B])])).await;
        // A change by hand to an owned service is repaired by a resync.
        let ipvs = setup.fake.handle().unwrap();
        ipvs.delete_destination(&key(WEB), B.parse().unwrap())
            .unwrap();
        wait_for(file(&[(WEB, &[B])])).await;
        "done"
    };
    let poll = Duration::from_millis(10);
    let resync = Duration::from_millis(30);
    let out = reconciler
        .run(poll, resync, driver, |e| printed.push(e.to_string()))
        .await;
    assert_eq!(out, "done");
    let applied: Vec<&String> = printed
        .iter()
        .filter(|l| l.starts_with("ipvsadm"))
        .collect();
    assert_eq!(
        applied,
        [
            "ipvsadm -A -t 203.0.113.1:80 -s rr",
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 1",
            "ipvsadm -d -t 203.0.113.1:80 -r 198.51.100.10:80",
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1",
            "ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.11:80 -m -w 1",
        ],
        "{printed:#?}"
    );
}

#[test]
fn the_readme_shows_a_file_it_takes() {
    let readme = include_str!("../README.md");
    let section = &readme[readme
        .find("## `ipvs-reconciler`")
        .expect("the reconciler's section")..];
    let start = section.find("```json\n").expect("its file format") + "```json\n".len();
    let json = &section[start..][..section[start..].find("```").unwrap()];
    let services = parse_desired(json.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(services.len(), 2);
}
