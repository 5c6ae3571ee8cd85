// SPDX-License-Identifier: MIT OR Apache-2.0
//! Desired-state apply against `ipvs::fake`: minimal plans in the
//! documented order, no writes when nothing changed, graceful drain, and
//! rollback when the kernel rejects a step. No root needed.

mod common;

use std::time::Duration;

use ipvs::fake::FakeIpvs;
use ipvs::{
    ApplyOptions, Destination, Error, Forwarding, Persistence, PersistenceNetmask, Plan, Rollback,
    Scheduler, Service, ServiceKey, ServiceState, Snapshot, Step,
};

fn key(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn dest(addr: &str, weight: u32) -> Destination {
    Destination::new(addr.parse().unwrap(), Forwarding::Masquerade).with_weight(weight)
}

fn web() -> ServiceKey {
    key("tcp:203.0.113.1:80")
}

fn dns() -> ServiceKey {
    key("udp:[2001:db8::1]:53")
}

fn desired() -> Vec<ServiceState> {
    vec![
        ServiceState::new(Service::new(web(), Scheduler::RoundRobin))
            .with_destination(dest("198.51.100.1:80", 1))
            .with_destination(dest("198.51.100.2:80", 2))
            .with_destination(dest("198.51.100.3:80", 3)),
        ServiceState::new(
            Service::new(dns(), Scheduler::WeightedRoundRobin).with_persistence(
                Persistence::new(Duration::from_secs(300))
                    .with_netmask(PersistenceNetmask::Ipv6(128)),
            ),
        )
        .with_destination(dest("[2001:db8::10]:53", 5)),
        ServiceState::new(Service::new(
            ServiceKey::fwmark(7),
            Scheduler::SourceHashing,
        )),
    ]
}

fn setup() -> (FakeIpvs, ipvs::Ipvs) {
    let fake = FakeIpvs::new();
    let ipvs = fake.handle().expect("the fake's family resolves");
    (fake, ipvs)
}

/// The snapshot with services and destinations in a fixed order.
fn sorted(mut snapshot: Snapshot) -> Snapshot {
    snapshot.services.sort_by_key(|s| s.service.key.to_string());
    for state in &mut snapshot.services {
        state.destinations.sort_by_key(|d| d.addr);
    }
    snapshot
}

fn writes(fake: &FakeIpvs) -> usize {
    common::writes(fake)
}

#[test]
fn apply_from_empty_then_again_sends_no_writes() {
    let (fake, ipvs) = setup();
    let options = ApplyOptions::default();
    let plan = ipvs.plan(&desired(), &options).unwrap();
    assert_eq!(
        plan.to_string(),
        "-A -t 203.0.113.1:80 -s rr\n\
         -A -u [2001:db8::1]:53 -s wrr -p 300\n\
         -A -f 7 -s sh\n\
         -a -t 203.0.113.1:80 -r 198.51.100.3:80 -m -w 3\n\
         -a -t 203.0.113.1:80 -r 198.51.100.2:80 -m -w 2\n\
         -a -t 203.0.113.1:80 -r 198.51.100.1:80 -m -w 1\n\
         -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -m -w 5\n"
    );
    let report = ipvs.apply_plan(&plan).unwrap();
    assert_eq!(report.applied, 7);
    assert_eq!(writes(&fake), 7);

    // Read back from the "kernel" (hashed flag, host netmask dropped...),
    // the same desired state plans nothing and sends nothing.
    let again = ipvs.plan(&desired(), &options).unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(again.len(), 0);
    let report = ipvs.apply(&desired(), &options).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(writes(&fake), 7, "a second apply writes nothing");
}

/// Each service's destination addresses, in list order.
fn lists(snapshot: &Snapshot) -> Vec<(ServiceKey, Vec<std::net::SocketAddr>)> {
    let mut lists: Vec<_> = snapshot
        .services
        .iter()
        .map(|s| {
            let addrs = s.destinations.iter().map(|d| d.addr).collect();
            (s.service.key, addrs)
        })
        .collect();
    lists.sort_by_key(|(key, _)| key.to_string());
    lists
}

#[test]
fn destinations_end_in_the_order_given_and_a_snapshot_applied_reads_back_as_it_was() {
    let (fake, ipvs) = setup();
    let options = ApplyOptions::default();
    let desired = Snapshot::from(desired());
    ipvs.apply(&desired.services, &options).unwrap();
    let read = ipvs.snapshot().unwrap();
    assert_eq!(lists(&read), lists(&desired));

    // The snapshot as the desired state of an empty table.
    let (copy, copy_ipvs) = setup();
    copy_ipvs.apply(&read.services, &options).unwrap();
    assert_eq!(lists(&copy.snapshot()), lists(&read));

    // New destinations of a service that has some go before them, in
    // the order given.
    let mut more = desired.services.clone();
    let web = &mut more[0].destinations;
    web.insert(0, dest("198.51.100.5:80", 1));
    web.insert(1, dest("198.51.100.4:80", 1));
    ipvs.apply(&more, &options).unwrap();
    assert_eq!(lists(&fake.snapshot()), lists(&Snapshot::from(more)));
}

#[test]
fn changes_become_minimal_steps_in_order() {
    let (fake, ipvs) = setup();
    let options = ApplyOptions::default();
    ipvs.apply(&desired(), &options).unwrap();
    let before = writes(&fake);

    let mut changed = desired();
    // web: scheduler change, one weight change, one destination removed,
    // one added; dns: removed; a new service with a destination.
    changed[0].service.scheduler = Scheduler::WeightedLeastConnection;
    changed[0].destinations[1].weight = 9;
    changed[0].destinations.remove(2);
    changed[0]
        .destinations
        .push(dest("198.51.100.4:80", 1).with_thresholds(100, 10));
    changed.remove(1);
    changed.push(
        ServiceState::new(Service::new(
            key("tcp:203.0.113.2:443"),
            Scheduler::LeastConnection,
        ))
        .with_destination(Destination::new(
            "198.51.100.9:443".parse().unwrap(),
            Forwarding::DirectRoute,
        )),
    );
    let plan = ipvs.plan(&changed, &options).unwrap();
    assert_eq!(
        plan.to_string(),
        "-d -t 203.0.113.1:80 -r 198.51.100.3:80\n\
         -D -u [2001:db8::1]:53\n\
         -E -t 203.0.113.1:80 -s wlc\n\
         -A -t 203.0.113.2:443 -s lc\n\
         -e -t 203.0.113.1:80 -r 198.51.100.2:80 -m -w 9\n\
         -a -t 203.0.113.1:80 -r 198.51.100.4:80 -m -w 1 -x 100 -y 10\n\
         -a -t 203.0.113.2:443 -r 198.51.100.9:443 -g -w 1\n"
    );
    ipvs.apply_plan(&plan).unwrap();
    assert_eq!(writes(&fake) - before, 7);
    assert!(ipvs.plan(&changed, &options).unwrap().is_empty());
    assert_eq!(ipvs.snapshot().unwrap().services.len(), 3);
}

#[test]
fn drain_sets_weight_zero_then_deletes_once_idle() {
    let (fake, ipvs) = setup();
    let drain = ApplyOptions::default().with_drain(true);
    ipvs.apply(&desired(), &drain).unwrap();
    // 198.51.100.3 has connections; dns's only destination too.
    let busy_web = "198.51.100.3:80".parse().unwrap();
    let busy_dns = "[2001:db8::10]:53".parse().unwrap();
    assert!(fake.set_connections(&web(), busy_web, 0, 2));
    assert!(fake.set_connections(&dns(), busy_dns, 1, 0));
    let mut smaller = desired();
    smaller[0].destinations.truncate(1); // .2 idle → deleted, .3 busy → drained
    smaller.remove(1); // dns busy → kept, drained
    let plan = ipvs.plan(&smaller, &drain).unwrap();
    assert_eq!(
        plan.to_string(),
        "-d -t 203.0.113.1:80 -r 198.51.100.2:80\n\
         -e -u [2001:db8::1]:53 -r [2001:db8::10]:53 -m -w 0\n\
         -e -t 203.0.113.1:80 -r 198.51.100.3:80 -m -w 0\n"
    );
    let report = ipvs.apply_plan(&plan).unwrap();
    assert_eq!(report.draining.len(), 2);
    // Still busy: nothing to do, but still draining.
    let plan = ipvs.plan(&smaller, &drain).unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(plan.draining().len(), 2);
    // Idle now: deleted (the drained service with it).
    assert!(fake.set_connections(&web(), busy_web, 0, 0));
    assert!(fake.set_connections(&dns(), busy_dns, 0, 0));
    let plan = ipvs.plan(&smaller, &drain).unwrap();
    assert_eq!(
        plan.to_string(),
        "-d -t 203.0.113.1:80 -r 198.51.100.3:80\n-D -u [2001:db8::1]:53\n"
    );
    ipvs.apply_plan(&plan).unwrap();
    // Without drain the busy ones would have gone at once.
    assert!(
        ipvs.plan(&smaller, &ApplyOptions::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_rejected_step_rolls_back_everything_applied() {
    let (_fake, ipvs) = setup();
    let options = ApplyOptions::default();
    ipvs.apply(&desired(), &options).unwrap();
    // The fake has no scheduler module "nosuch" (ENOENT).
    let before = ipvs.snapshot().unwrap();

    let mut changed = desired();
    changed[0].destinations.remove(0); // -d (applied, then undone)
    changed.remove(1); // -D (applied, then undone with its destination)
    changed[1].service.scheduler = Scheduler::Other("nosuch".into()); // -E rejected
    changed.push(ServiceState::new(Service::new(
        key("tcp:203.0.113.2:443"),
        Scheduler::LeastConnection,
    ))); // -A after the failure: applied by the kernel anyway, undone
    changed[0].destinations[0].weight = 20; // -e, undone
    let err = ipvs.apply(&changed, &options).unwrap_err();
    let Error::ApplyFailed {
        step,
        command,
        cause,
        rollback,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*step, 2);
    assert_eq!(command, "-E -f 7 -s nosuch");
    assert!(
        matches!(**cause, Error::UnknownSchedulerOrPe { ref scheduler, .. } if scheduler == "nosuch"),
        "{cause:?}"
    );
    assert!(
        matches!(rollback, Rollback::Complete { undone: 5 }),
        "{rollback:?}"
    );
    assert!(rollback.is_complete());
    let text = err.to_string();
    assert!(
        text.contains("step 2")
            && text.contains("-E -f 7 -s nosuch")
            && text.contains("rolled back"),
        "{text}"
    );
    // The same table (list order aside: a re-added entry goes first).
    assert_eq!(
        sorted(ipvs.snapshot().unwrap()),
        sorted(before),
        "the table is as before"
    );
}

#[test]
fn a_plan_of_explicit_steps_is_sent_as_given_and_rolled_back_as_a_whole() {
    let (_fake, ipvs) = setup();
    // What a script says line by line (`ipvsadm -R`), not a desired state.
    let steps = vec![
        Step::AddService(Service::new(web(), Scheduler::RoundRobin)),
        Step::AddDestination {
            service: web(),
            destination: dest("198.51.100.1:80", 1),
        },
    ];
    let plan = Plan::from_steps(steps.clone());
    assert_eq!(plan.steps(), &steps[..]);
    assert_eq!(
        plan.to_string(),
        "-A -t 203.0.113.1:80 -s rr\n-a -t 203.0.113.1:80 -r 198.51.100.1:80 -m -w 1\n"
    );
    assert_eq!(ipvs.apply_plan(&plan).unwrap().applied, 2);
    let before = ipvs.snapshot().unwrap();

    // The fake, like the kernel, has no scheduler "nosuch".
    let failing = Plan::from_steps(vec![
        Step::DeleteDestination {
            service: web(),
            destination: dest("198.51.100.1:80", 1),
        },
        Step::AddService(Service::new(dns(), Scheduler::Other("nosuch".into()))),
    ]);
    let err = ipvs.apply_plan(&failing).unwrap_err();
    assert!(
        matches!(&err, Error::ApplyFailed { step: 1, rollback, .. } if rollback.is_complete()),
        "{err:?}"
    );
    assert_eq!(sorted(ipvs.snapshot().unwrap()), sorted(before));
}

#[test]
fn many_destinations_are_compared_as_a_few_are() {
    let options = ApplyOptions::default();
    // A service's destinations are searched in place up to 16, hashed above.
    for n in [4u8, 40] {
        let service = || ServiceState::new(Service::new(web(), Scheduler::RoundRobin));
        let have: Vec<Destination> = (1..=n)
            .map(|i| dest(&format!("198.51.100.{i}:80"), 1))
            .collect();
        let mut want = have.clone();
        want.remove(0);
        want[0] = want[0].clone().with_weight(5);
        want.push(dest("198.51.100.250:80", 1));
        let with = |dests: &[Destination]| {
            dests
                .iter()
                .cloned()
                .fold(service(), ServiceState::with_destination)
        };
        let current = Snapshot::from(vec![with(&have)]);
        let plan = Plan::new(&current, &[with(&want)], &options).unwrap();
        let steps: Vec<String> = plan
            .steps()
            .iter()
            .map(|step| match step {
                Step::DeleteDestination { destination, .. } => format!("-{}", destination.addr),
                Step::UpdateDestination { to, .. } => format!("~{} {}", to.addr, to.weight),
                Step::AddDestination { destination, .. } => format!("+{}", destination.addr),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            steps,
            [
                "-198.51.100.1:80",
                "~198.51.100.2:80 5",
                "+198.51.100.250:80"
            ],
            "n = {n}"
        );
        want.push(want[n as usize / 2].clone());
        let err = Plan::new(&current, &[with(&want)], &options).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::InvalidArgument {
                    field: "desired destinations",
                    reason,
                } if reason.contains(&format!("198.51.100.{}:80 appears twice", n / 2 + 2))
            ),
            "n = {n}: {err:?}"
        );
    }
}

#[test]
fn desired_state_is_validated_before_anything_is_read_or_sent() {
    let current = Snapshot::default();
    let options = ApplyOptions::default();
    let twice = vec![desired()[0].clone(), desired()[0].clone()];
    let err = Plan::new(&current, &twice, &options).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "desired services",
                ..
            }
        ),
        "{err:?}"
    );
    let mut dup = desired();
    dup[0].destinations.push(dest("198.51.100.1:80", 4));
    let err = Plan::new(&current, &dup, &options).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "desired destinations",
                ..
            }
        ),
        "{err:?}"
    );
    let mut bad = desired();
    bad[0].destinations[0].weight = u32::MAX;
    assert!(matches!(
        Plan::new(&current, &bad, &options),
        Err(Error::InvalidArgument {
            field: "weight",
            ..
        })
    ));
}

#[test]
fn what_the_kernel_adds_or_normalises_is_not_a_change() {
    // A service as the kernel reports it: host netmask dropped, stats and
    // connection counts set, a persistence engine of "" for none.
    let want = ServiceState::new(
        Service::new(web(), Scheduler::RoundRobin).with_persistence(
            Persistence::new(Duration::from_secs(60))
                .with_netmask(PersistenceNetmask::Ipv4("255.255.255.255".parse().unwrap())),
        ),
    )
    .with_destination(dest("198.51.100.1:80", 1));
    let mut have = want.clone();
    have.service.persistence = Some(Persistence::new(Duration::from_secs(60)));
    have.service.persistence_engine = Some(String::new());
    have.service.stats.connections = 99;
    have.destinations[0].active_connections = 3;
    have.destinations[0].stats.bytes_in = 1234;
    let current = Snapshot::from(vec![have]);
    let plan = Plan::new(&current, &[want], &ApplyOptions::default()).unwrap();
    assert!(plan.is_empty(), "{plan}");
}

/// Tables over a few services and destinations, so that a current and a
/// desired one share some of each: every destination list without
/// repeats, in a random order.
fn table() -> impl proptest::strategy::Strategy<Value = Vec<ServiceState>> {
    use proptest::prelude::*;
    let keys = [
        "tcp:203.0.113.1:80",
        "tcp:203.0.113.2:80",
        "udp:203.0.113.1:53",
    ];
    // A random subset of eight addresses, in a random order.
    let addrs = proptest::sample::subsequence((1..=8u8).collect::<Vec<_>>(), 0..=8).prop_shuffle();
    let service = (0..keys.len(), addrs, 0..4u32);
    proptest::collection::vec(service, 0..=3).prop_map(move |services| {
        let mut seen = std::collections::HashSet::new();
        services
            .into_iter()
            .filter(|(k, ..)| seen.insert(*k))
            .map(|(k, addrs, weight)| {
                let service = Service::new(key(keys[k]), Scheduler::RoundRobin);
                let mut state = ServiceState::new(service);
                state.destinations = addrs
                    .into_iter()
                    .map(|a| dest(&format!("198.51.100.{a}:80"), weight))
                    .collect();
                state
            })
            .collect()
    })
}

proptest::proptest! {
    /// Where [`Plan::new`] says each destination ends: a new service's
    /// in the order given; for a service that stays, its new destinations
    /// first, in the order given, then the ones it kept, in their old
    /// order. Whatever the table was, the desired one is reached.
    #[test]
    fn each_list_ends_in_the_documented_order(current in table(), desired in table()) {
        let (fake, ipvs) = setup();
        let options = ApplyOptions::default();
        ipvs.apply(&current, &options).unwrap();
        let before = fake.snapshot();
        ipvs.apply(&desired, &options).unwrap();
        let after = fake.snapshot();
        for want in &desired {
            let key = want.service.key;
            let kept: Vec<_> = before
                .service(&key)
                .map(|s| &s.destinations[..])
                .unwrap_or_default()
                .iter()
                .map(|d| d.addr)
                .filter(|a| want.destinations.iter().any(|d| d.addr == *a))
                .collect();
            let mut expected: Vec<_> = want
                .destinations
                .iter()
                .map(|d| d.addr)
                .filter(|a| !kept.contains(a))
                .collect();
            expected.extend(kept);
            let read: Vec<_> = after.service(&key).unwrap().destinations
                .iter()
                .map(|d| d.addr)
                .collect();
            proptest::prop_assert_eq!(read, expected, "{}", key);
        }
        proptest::prop_assert_eq!(after.services.len(), desired.len());
        proptest::prop_assert!(ipvs.plan(&desired, &options).unwrap().is_empty());
    }
}
