// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests at scale: batched writes, snapshots and desired-state apply
//! against a real kernel, each test in its own network namespace and
//! cross-checked with `ipvsadm -S -n`. They run inside the lab VM
//! (`cargo xtask test`); on a plain host they are ignored.
//!
//! They run one at a time ([`serial`]): the kernel's service dump resumes
//! from a position in its global service table, every namespace included,
//! so thousands of services added in one namespace make a concurrent
//! `ipvsadm -S` in another skip services (our snapshot detects and retries
//! it; ipvsadm does not).

use std::net::SocketAddr;
use std::time::Duration;

use ipvs::{
    Batch, Destination, Error, Forwarding, Ipvs, Op, Scheduler, Scope, Service, ServiceKey,
};
use ipvs_lab::{Handle, sh, with_each_handle};

/// Held by every test of this file for its whole run.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn svc(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// `ipvsadm -S -n` as a sorted list of lines (its own order is a sort we
/// need not reproduce to compare contents).
fn ipvsadm_lines() -> Vec<String> {
    let mut lines: Vec<String> = sh("ipvsadm -S -n").lines().map(str::to_owned).collect();
    lines.sort_unstable();
    lines
}

/// The service key of service number `n` of the big tables.
fn nth_key(n: u32) -> ServiceKey {
    let port = u16::try_from(1 + n % 60_000).unwrap();
    let host = u8::try_from(1 + n / 60_000).unwrap();
    ServiceKey::tcp(SocketAddr::from(([203, 0, 113, host], port)))
}

/// `services` × `dests` destinations, as ipvsadm -S -n lines (sorted) and
/// as a batch that creates them.
fn big_table(services: u32, dests: u8) -> (Batch, Vec<String>) {
    let mut batch = Batch::new();
    let mut lines = Vec::new();
    for n in 0..services {
        let key = nth_key(n);
        let service = Service::new(key, Scheduler::WeightedRoundRobin);
        batch.add_service(&service).unwrap();
        lines.push(service.to_string());
        for d in 1..=dests {
            let dest = Destination::new(
                SocketAddr::from(([198, 51, 100, d], 8080)),
                Forwarding::Masquerade,
            )
            .with_weight(n % 7 + u32::from(d));
            batch.add_destination(&key, &dest).unwrap();
            lines.push(format!("-a {} {dest}", key.ipvsadm_args()));
        }
    }
    lines.sort_unstable();
    (batch, lines)
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn batch_of_2000_services_with_4_destinations_lands_and_matches_ipvsadm() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        let (batch, expected) = big_table(2000, 4);
        assert_eq!(batch.len(), 10_000);
        let start = std::time::Instant::now();
        let outcome = ipvs.execute_batch(&batch).unwrap();
        println!("batch of {} requests in {:?}", batch.len(), start.elapsed());
        assert!(outcome.is_success(), "{:?}", outcome.first_error());
        assert_eq!(outcome.results.len(), 10_000);
        assert_eq!(ipvsadm_lines(), expected);
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn batch_errors_are_attributed_to_the_failing_requests_and_the_rest_applies() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        let a = svc("tcp:203.0.113.1:80");
        let b = svc("tcp:203.0.113.2:80");
        let missing = svc("tcp:203.0.113.9:80");
        let dest = Destination::new(addr("198.51.100.10:80"), Forwarding::Masquerade);
        let mut batch = Batch::new();
        batch
            .add_service(&Service::new(a, Scheduler::RoundRobin))
            .unwrap(); // 0
        batch
            .add_service(&Service::new(a, Scheduler::RoundRobin))
            .unwrap(); // 1: EEXIST
        batch.add_destination(&missing, &dest).unwrap(); // 2: ESRCH
        batch
            .add_service(&Service::new(b, Scheduler::Other("nosuch".into())))
            .unwrap(); // 3: ENOENT
        batch.add_destination(&a, &dest).unwrap(); // 4
        batch
            .update_destination(&a, &dest.clone().with_weight(5))
            .unwrap(); // 5
        batch
            .delete_destination(&a, addr("198.51.100.99:80"))
            .unwrap(); // 6: ENOENT
        batch
            .add_service(&Service::new(b, Scheduler::LeastConnection))
            .unwrap(); // 7
        let outcome = ipvs.execute_batch(&batch).unwrap();
        let r = &outcome.results;
        assert!(
            r[0].is_ok() && r[4].is_ok() && r[5].is_ok() && r[7].is_ok(),
            "{r:?}"
        );
        assert!(
            matches!(&r[1], Err(Error::ServiceExists { service: Some(k) }) if *k == a),
            "{:?}",
            r[1]
        );
        assert!(
            matches!(&r[2], Err(Error::NoSuchService { op: Op::AddDestination, service: Some(k) }) if *k == missing),
            "{:?}",
            r[2]
        );
        assert!(
            matches!(&r[3], Err(Error::UnknownSchedulerOrPe { scheduler, .. }) if scheduler == "nosuch"),
            "{:?}",
            r[3]
        );
        assert!(
            matches!(&r[6], Err(Error::NoSuchDestination { op: Op::DeleteDestination, destination: Some(d), .. }) if *d == addr("198.51.100.99:80")),
            "{:?}",
            r[6]
        );
        assert_eq!(outcome.first_error().map(|(i, _)| i), Some(1));
        // Every request after a failure in the same datagram was applied.
        assert_eq!(
            sh("ipvsadm -S -n"),
            "-A -t 203.0.113.1:80 -s rr\n\
             -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 5\n\
             -A -t 203.0.113.2:80 -s lc\n"
        );
    });
}

/// The snapshot as `ipvsadm -S -n` lines, sorted.
fn snapshot_lines(snapshot: &ipvs::Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for state in &snapshot.services {
        lines.push(state.service.to_string());
        for dest in &state.destinations {
            // ipvsadm -S forgets the thresholds, which Display writes.
            let dest = dest.clone().with_thresholds(0, 0);
            lines.push(format!("-a {} {dest}", state.service.key.ipvsadm_args()));
        }
    }
    lines.sort_unstable();
    lines
}

/// Services and destinations using most features, through `ipvsadm -R`.
const VARIED_RULES: &str = "\
-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 198.51.100.10:8080 -m -w 3
-a -t 192.0.2.1:80 -r 192.0.2.20:80 -g -w 1
-a -t 192.0.2.1:80 -r 198.51.100.21:80 -i -w 1
-A -u [2001:db8::1]:53 -s wrr -p 300 -M 64 -o
-a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -m -w 7
-A -f 7 -s sh -p 120 -M 255.255.255.0 -b sh-fallback,sh-port
-a -f 7 -r 198.51.100.30:0 -g -w 1
-A -f 8 -6 -s mh -b mh-port
-A -u 192.0.2.2:5060 -s wlc -p 60 --pe sip
";

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn snapshot_equals_the_single_calls_and_ipvsadm() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        sh(&format!("ipvsadm -R <<'RULES'\n{VARIED_RULES}RULES"));
        let (batch, _) = big_table(1000, 4);
        assert!(ipvs.execute_batch(&batch).unwrap().is_success());

        let start = std::time::Instant::now();
        let snapshot = ipvs.snapshot().unwrap();
        let ours = start.elapsed();
        let start = std::time::Instant::now();
        let theirs = ipvsadm_lines();
        println!(
            "snapshot of 1005 services / 4005 destinations: {ours:?}; ipvsadm -S -n: {:?}",
            start.elapsed()
        );
        assert_eq!(snapshot.services.len(), 1005);
        assert_eq!(snapshot.destination_count(), 4005);
        assert_eq!(snapshot_lines(&snapshot), theirs);

        // Exactly what the single calls read (no traffic: counters stay 0).
        let services = ipvs.services().unwrap();
        assert_eq!(services.len(), snapshot.services.len());
        for (state, service) in snapshot.services.iter().zip(&services) {
            assert_eq!(&state.service, service);
            assert_eq!(state.destinations, ipvs.destinations(&service.key).unwrap());
        }

        let stats = ipvs.stats_snapshot().unwrap();
        assert_eq!(stats.services.len(), 1005);
        assert_eq!(
            stats
                .services
                .iter()
                .map(|s| s.destinations.len())
                .sum::<usize>(),
            4005
        );
    });
}

// ---- desired-state apply ----

use ipvs::{
    ApplyOptions, Persistence, PersistenceNetmask, Rollback, SchedulerFlags, ServiceState, Tunnel,
    TunnelChecksum,
};

/// A desired table using most features.
fn varied_desired() -> Vec<ServiceState> {
    let gue = Tunnel::Gue {
        port: 6080,
        checksum: TunnelChecksum::Checksum,
    };
    vec![
        ServiceState::new(Service::new(svc("tcp:192.0.2.1:80"), Scheduler::RoundRobin))
            .with_destination(
                Destination::new(addr("198.51.100.10:8080"), Forwarding::Masquerade).with_weight(3),
            )
            .with_destination(
                Destination::new(addr("192.0.2.20:80"), Forwarding::DirectRoute)
                    .with_thresholds(100, 10),
            )
            .with_destination(Destination::new(
                addr("198.51.100.21:80"),
                Forwarding::Tunnel(Tunnel::Ipip),
            ))
            .with_destination(
                Destination::new(addr("198.51.100.22:80"), Forwarding::Tunnel(gue)).with_weight(0),
            )
            .with_destination(Destination::new(
                addr("[2001:db8::23]:80"),
                Forwarding::Tunnel(Tunnel::Ipip),
            )),
        ServiceState::new(
            Service::new(svc("udp:[2001:db8::1]:53"), Scheduler::WeightedRoundRobin)
                .with_persistence(
                    Persistence::new(Duration::from_secs(300))
                        .with_netmask(PersistenceNetmask::Ipv6(64)),
                )
                .with_one_packet(true),
        )
        .with_destination(
            Destination::new(addr("[2001:db8::10]:53"), Forwarding::Masquerade).with_weight(7),
        ),
        ServiceState::new(
            Service::new(ServiceKey::fwmark(7), Scheduler::SourceHashing)
                .with_persistence(
                    Persistence::new(Duration::from_secs(120))
                        .with_netmask(PersistenceNetmask::Ipv4("255.255.255.0".parse().unwrap())),
                )
                .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT),
        )
        .with_destination(Destination::new(
            addr("198.51.100.30:0"),
            Forwarding::DirectRoute,
        )),
        ServiceState::new(
            Service::new(ServiceKey::fwmark6(8), Scheduler::MaglevHashing)
                .with_scheduler_flags(SchedulerFlags::PORT),
        ),
        // Host netmasks and a default persistence timeout, spelled out.
        ServiceState::new(
            Service::new(
                svc("udp:192.0.2.2:5060"),
                Scheduler::WeightedLeastConnection,
            )
            .with_persistence(
                Persistence::new(ipvs::DEFAULT_PERSISTENCE_TIMEOUT)
                    .with_netmask(PersistenceNetmask::Ipv4("255.255.255.255".parse().unwrap())),
            )
            .with_persistence_engine("sip"),
        ),
        ServiceState::new(Service::new(
            svc("sctp:192.0.2.3:9"),
            Scheduler::LeastConnection,
        )),
    ]
}

/// The desired table as sorted `ipvsadm -S -n` lines.
fn desired_lines(desired: &[ServiceState]) -> Vec<String> {
    snapshot_lines(&ipvs::Snapshot::from(desired.to_vec()))
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn apply_from_empty_again_and_changed_matches_ipvsadm() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        let options = ApplyOptions::default();
        let desired = varied_desired();
        let report = ipvs.apply(&desired, &options).unwrap();
        assert_eq!(report.applied, 6 + 7);
        assert_eq!(ipvsadm_lines(), desired_lines(&desired));
        // Each service's list in the order given (rr's order): the kernel
        // puts each new destination at the head, and the plan adds the
        // last listed first.
        for state in &desired {
            let listed: Vec<SocketAddr> = state.destinations.iter().map(|d| d.addr).collect();
            let read: Vec<SocketAddr> = ipvs
                .destinations(&state.service.key)
                .unwrap()
                .iter()
                .map(|d| d.addr)
                .collect();
            assert_eq!(read, listed, "{}", state.service.key);
        }

        // What the kernel reads back is what was asked for: no writes.
        let again = ipvs.plan(&desired, &options).unwrap();
        assert!(
            again.is_empty(),
            "the kernel reads back differently:\n{again}"
        );
        assert_eq!(ipvs.apply(&desired, &options).unwrap().applied, 0);

        // Scheduler change, weight change, destination removed, service
        // removed, service added; persistence and flags changed.
        let mut changed = desired.clone();
        changed[0].service.scheduler = Scheduler::WeightedLeastConnection;
        changed[0].destinations[0].weight = 9;
        changed[0].destinations.remove(2);
        changed.remove(1);
        changed[1].service.persistence = Some(Persistence::new(Duration::from_secs(30)));
        changed[2].service.scheduler_flags = SchedulerFlags::empty();
        changed.push(
            ServiceState::new(Service::new(
                svc("tcp:192.0.2.4:443"),
                Scheduler::NeverQueue,
            ))
            .with_destination(Destination::new(
                addr("198.51.100.40:443"),
                Forwarding::Masquerade,
            )),
        );
        let plan = ipvs.plan(&changed, &options).unwrap();
        println!("{plan}");
        assert_eq!(
            plan.to_string(),
            "-d -t 192.0.2.1:80 -r 198.51.100.21:80\n\
             -D -u [2001:db8::1]:53\n\
             -E -t 192.0.2.1:80 -s wlc\n\
             -E -f 7 -s sh -p 30 -b sh-fallback,sh-port\n\
             -E -f 8 -6 -s mh\n\
             -A -t 192.0.2.4:443 -s nq\n\
             -e -t 192.0.2.1:80 -r 198.51.100.10:8080 -m -w 9\n\
             -a -t 192.0.2.4:443 -r 198.51.100.40:443 -m -w 1\n"
        );
        assert_eq!(ipvs.apply_plan(&plan).unwrap().applied, 8);
        assert_eq!(ipvsadm_lines(), desired_lines(&changed));
        assert!(ipvs.plan(&changed, &options).unwrap().is_empty());

        // The dry run is an ipvsadm script: ipvsadm -R of it from the old
        // state reaches the same table.
        sh("ipvsadm -C");
        ipvs.apply(&desired, &options).unwrap();
        sh(&format!("ipvsadm -R <<'RULES'\n{plan}RULES"));
        assert_eq!(ipvsadm_lines(), desired_lines(&changed));
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn apply_of_2000_services_then_a_no_op_apply() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        let desired: Vec<ServiceState> = (0..2000)
            .map(|n| {
                let mut state =
                    ServiceState::new(Service::new(nth_key(n), Scheduler::WeightedRoundRobin));
                for d in 1..=4u8 {
                    state = state.with_destination(
                        Destination::new(
                            SocketAddr::from(([198, 51, 100, d], 8080)),
                            Forwarding::Masquerade,
                        )
                        .with_weight(n % 7 + u32::from(d)),
                    );
                }
                state
            })
            .collect();
        let options = ApplyOptions::default();
        let start = std::time::Instant::now();
        assert_eq!(ipvs.apply(&desired, &options).unwrap().applied, 10_000);
        let programmed = start.elapsed();
        let start = std::time::Instant::now();
        assert_eq!(ipvs.apply(&desired, &options).unwrap().applied, 0);
        let no_op = start.elapsed();
        println!("apply 2000x4 from empty: {programmed:?}; no-op apply: {no_op:?}");
        let (_, expected) = big_table(2000, 4);
        assert_eq!(ipvsadm_lines(), expected);
    });
}

/// Applies `changed` (which the kernel must reject at `failing`) over
/// `desired` and checks that `ipvsadm -S -n` is byte-identical afterwards.
fn rejected_apply_leaves_the_table_as_it_was(
    ipvs: &Handle,
    changed: &[ServiceState],
    failing: &str,
) -> Error {
    let before = sh("ipvsadm -S -n");
    let plan = ipvs.plan(changed, &ApplyOptions::default()).unwrap();
    println!("{plan}");
    let err = ipvs.apply_plan(&plan).unwrap_err();
    println!("{err}");
    let Error::ApplyFailed {
        step,
        command,
        rollback,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(command, failing);
    assert_eq!(plan.steps()[*step].to_string(), *failing);
    assert!(*step > 0 && *step + 1 < plan.len(), "a failure mid-way");
    assert!(
        matches!(rollback, Rollback::Complete { undone } if *undone > 0),
        "{rollback:?}"
    );
    assert_eq!(
        sh("ipvsadm -S -n"),
        before,
        "the table is exactly as before"
    );
    err
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn injected_failures_mid_way_are_rolled_back_completely() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        let desired = varied_desired();
        ipvs.apply(&desired, &ApplyOptions::default()).unwrap();

        // Deletes and updates before the failing step, adds after it (which
        // the kernel applies anyway): all undone.
        let mut changed = desired.clone();
        changed[0].destinations.remove(1); // -d
        changed[0].destinations[0].weight = 42; // -e (after the failure)
        changed.remove(1); // -D of a persistent IPv6 service and its dest
        changed[0].service.scheduler = Scheduler::LeastConnection; // -E
        changed[1].service.scheduler = Scheduler::Other("nosuch".into()); // -E: ENOENT
        changed.push(
            ServiceState::new(Service::new(
                svc("tcp:192.0.2.4:443"),
                Scheduler::RoundRobin,
            ))
            .with_destination(Destination::new(
                addr("198.51.100.40:443"),
                Forwarding::Masquerade,
            )),
        ); // -A, -a (after the failure)
        let err = rejected_apply_leaves_the_table_as_it_was(
            ipvs,
            &changed,
            "-E -f 7 -s nosuch -p 120 -M 255.255.255.0 -b flag-1,flag-2",
        );
        let Error::ApplyFailed { cause, .. } = &err else {
            unreachable!()
        };
        assert!(
            matches!(**cause, Error::UnknownSchedulerOrPe { ref scheduler, .. } if scheduler == "nosuch"),
            "{cause:?}"
        );
        assert!(err.to_string().contains("rolled back"), "{err}");

        // An unknown persistence engine on a new service.
        let mut changed = desired.clone();
        changed.remove(5); // -D sctp
        changed.push(ServiceState::new(
            Service::new(svc("udp:192.0.2.5:5060"), Scheduler::RoundRobin)
                .with_persistence(Persistence::new(Duration::from_secs(60)))
                .with_persistence_engine("nosuchpe"),
        )); // -A: ENOENT
        changed.push(ServiceState::new(Service::new(
            svc("udp:192.0.2.6:53"),
            Scheduler::RoundRobin,
        ))); // -A after it
        let err = rejected_apply_leaves_the_table_as_it_was(
            ipvs,
            &changed,
            "-A -u 192.0.2.5:5060 -s rr -p 60 --pe nosuchpe",
        );
        let Error::ApplyFailed { cause, .. } = &err else {
            unreachable!()
        };
        assert!(
            matches!(**cause, Error::UnknownSchedulerOrPe { pe: Some(ref pe), .. } if pe == "nosuchpe"),
            "{cause:?}"
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn drain_keeps_a_destination_with_a_held_connection_until_it_ends() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        // This namespace is the director (NAT): client on 203.0.113.0/24,
        // real servers .10 and .11 on 198.51.100.0/24 in one namespace.
        let tag = std::process::id();
        let (client, server) = (format!("drainc{tag}"), format!("drains{tag}"));
        sh(&format!(
            "set -e
             ip netns add {client}; ip netns add {server}
             ip link add vc type veth peer name vc0 netns {client}
             ip link add vs type veth peer name vs0 netns {server}
             ip addr add 203.0.113.1/24 dev vc; ip link set vc up
             ip addr add 198.51.100.1/24 dev vs; ip link set vs up
             ip -n {client} addr add 203.0.113.2/24 dev vc0; ip -n {client} link set vc0 up
             ip -n {server} addr add 198.51.100.10/24 dev vs0; ip -n {server} addr add 198.51.100.11/24 dev vs0
             ip -n {server} link set vs0 up; ip -n {server} link set lo up
             ip -n {server} route add default via 198.51.100.1
             sysctl -qw net.ipv4.ip_forward=1"
        ));
        // The server greets and keeps the connection open.
        let server_pid = sh(&format!(
            "ip netns exec {server} socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo hello; sleep 600' >/dev/null 2>&1 & echo $!"
        ));
        let server_pid = server_pid.trim().to_owned();
        let mut client_pid = String::new();
        let cleanup = |client_pid: &str| {
            let _ = ipvs_lab::sh_output(&format!(
                "kill -9 {client_pid} {server_pid}; sleep 0.2; ip netns del {client}; ip netns del {server}"
            ));
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let drain = ApplyOptions::default().with_drain(true);
            let key = svc("tcp:203.0.113.1:80");
            let old = Destination::new(addr("198.51.100.10:8080"), Forwarding::Masquerade);
            let new = Destination::new(addr("198.51.100.11:8080"), Forwarding::Masquerade);
            let service = Service::new(key, Scheduler::RoundRobin);
            let first = [ServiceState::new(service.clone()).with_destination(old.clone())];
            ipvs.apply(&first, &drain).unwrap();
            sh(&format!(
                "ip netns exec {server} bash -c 'for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && exit 0; sleep 0.1; done; exit 1'"
            ));
            // A client holds a connection through the VIP without reading
            // the greeting (so killing it resets the connection).
            client_pid = sh(&format!(
                "ip netns exec {client} bash -c 'exec 3<>/dev/tcp/203.0.113.1/80; exec sleep 600' >/dev/null 2>&1 & echo $!"
            ))
            .trim()
            .to_owned();
            let connections = |ipvs: &Handle| {
                let snapshot = ipvs.snapshot().unwrap();
                snapshot.services[0]
                    .destinations
                    .iter()
                    .find(|d| d.addr == old.addr)
                    .map(|d| d.active_connections + d.inactive_connections)
            };
            let mut held = None;
            for _ in 0..100 {
                held = connections(ipvs).filter(|n| *n > 0);
                if held.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert!(
                held.is_some(),
                "the connection never showed: {}",
                sh("ipvsadm -Ln")
            );

            // Replace the destination: the busy one is drained, not deleted.
            let second = [ServiceState::new(service.clone()).with_destination(new.clone())];
            let plan = ipvs.plan(&second, &drain).unwrap();
            assert_eq!(
                plan.to_string(),
                "-e -t 203.0.113.1:80 -r 198.51.100.10:8080 -m -w 0\n\
                 -a -t 203.0.113.1:80 -r 198.51.100.11:8080 -m -w 1\n"
            );
            assert_eq!(plan.draining(), &[(key, old.addr)]);
            ipvs.apply_plan(&plan).unwrap();
            let listed = sh("ipvsadm -S -n");
            assert!(
                listed.contains("-a -t 203.0.113.1:80 -r 198.51.100.10:8080 -m -w 0"),
                "{listed}"
            );
            // While the connection lives, applying again writes nothing.
            let again = ipvs.plan(&second, &drain).unwrap();
            assert!(again.is_empty(), "{again}");
            assert_eq!(again.draining().len(), 1);

            // The client dies; the reset connection expires (CLOSE state,
            // 10 s); the next apply deletes the idle destination.
            sh(&format!("kill -9 {client_pid}"));
            let mut plan = None;
            for _ in 0..120 {
                let candidate = ipvs.plan(&second, &drain).unwrap();
                if !candidate.is_empty() {
                    plan = Some(candidate);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            let plan = plan.expect("the connection never expired");
            assert_eq!(
                plan.to_string(),
                "-d -t 203.0.113.1:80 -r 198.51.100.10:8080\n"
            );
            assert!(plan.draining().is_empty());
            ipvs.apply_plan(&plan).unwrap();
            assert_eq!(
                sh("ipvsadm -S -n"),
                "-A -t 203.0.113.1:80 -s rr\n-a -t 203.0.113.1:80 -r 198.51.100.11:8080 -m -w 1\n"
            );
        }));
        cleanup(&client_pid);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn snapshot_and_service_list_stay_whole_while_another_namespace_changes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _serial = serial();
    with_each_handle(|ipvs| {
        let (batch, expected) = big_table(1000, 1);
        assert!(ipvs.execute_batch(&batch).unwrap().is_success());

        // Another namespace keeps adding and removing 300 services.
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let writer = std::thread::spawn(move || {
            ipvs_lab::enter_new_netns();
            let other = Ipvs::new().unwrap();
            let keys: Vec<ServiceKey> = (0..300)
                .map(|n| svc(&format!("udp:192.0.2.9:{}", 1 + n)))
                .collect();
            let mut add = Batch::new();
            let mut delete = Batch::new();
            for key in &keys {
                add.add_service(&Service::new(*key, Scheduler::RoundRobin))
                    .unwrap();
                delete.delete_service(key).unwrap();
            }
            let mut rounds = 0;
            while !stopped.load(Ordering::Relaxed) {
                assert!(other.execute_batch(&add).unwrap().is_success());
                std::thread::sleep(std::time::Duration::from_millis(20));
                assert!(other.execute_batch(&delete).unwrap().is_success());
                std::thread::sleep(std::time::Duration::from_millis(20));
                rounds += 1;
            }
            rounds
        });

        let mut whole = 0;
        let mut listed = 0;
        for _ in 0..6 {
            // services() reads the list the same way: whole, or refused.
            match ipvs.services() {
                Ok(services) => {
                    assert_eq!(services.len(), 1000);
                    listed += 1;
                }
                Err(Error::DumpInterrupted { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            match ipvs.snapshot() {
                Ok(snapshot) => {
                    assert_eq!(snapshot_lines(&snapshot), expected);
                    whole += 1;
                }
                Err(Error::DumpInterrupted { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = writer.join().unwrap();
        println!(
            "{whole} whole snapshots and {listed} whole service lists of 6; \
             the other namespace changed {rounds} times"
        );
        // Whether one settles while the churn goes on is a matter of
        // timing; once it stops, the next must.
        let settled = ipvs.snapshot().expect("a snapshot once the churn stopped");
        assert_eq!(snapshot_lines(&settled), expected);
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn a_scoped_apply_leaves_foreign_services_alone_and_never_takes_one_over() {
    let _serial = serial();
    with_each_handle(|ipvs| {
        // Another owner's services, made with ipvsadm.
        sh("set -e
            ipvsadm -A -u 192.0.2.9:53 -s rr
            ipvsadm -a -u 192.0.2.9:53 -r 198.51.100.9:53 -m
            ipvsadm -A -t 192.0.2.9:80 -s wlc
            ipvsadm -a -t 192.0.2.9:80 -r 198.51.100.9:80 -m -w 3");
        let foreign = || {
            sh("ipvsadm -S -n")
                .lines()
                .filter(|l| l.contains("192.0.2.9"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let theirs = foreign();
        let web = svc("tcp:203.0.113.1:80");
        let tls = svc("tcp:203.0.113.1:443");
        let service = |key| {
            ServiceState::new(Service::new(key, Scheduler::RoundRobin)).with_destination(
                Destination::new(addr("198.51.100.1:80"), Forwarding::Masquerade),
            )
        };
        // Nothing owned yet: our two services are new.
        let scoped = |owned: &[ServiceKey]| {
            ApplyOptions::default().with_scope(Scope::owned(owned.iter().copied()))
        };
        ipvs.apply(&[service(web), service(tls)], &scoped(&[]))
            .unwrap();
        assert_eq!(foreign(), theirs);
        assert_eq!(ipvs.services().unwrap().len(), 4);
        // Dropping one of ours deletes it, and only it.
        let report = ipvs.apply(&[service(web)], &scoped(&[web, tls])).unwrap();
        assert_eq!(report.applied, 1);
        assert_eq!(foreign(), theirs);
        assert!(matches!(
            ipvs.service(&tls),
            Err(Error::NoSuchService { .. })
        ));
        // Another owner's key among the desired services: refused, nothing sent.
        let before = sh("ipvsadm -S -n");
        let clash = [service(web), service(svc("tcp:192.0.2.9:80"))];
        let err = ipvs.apply(&clash, &scoped(&[web])).unwrap_err();
        assert!(matches!(err, Error::ForeignService { .. }), "{err:?}");
        assert_eq!(sh("ipvsadm -S -n"), before);
        // A step the kernel refuses mid-way: rolled back, foreign untouched.
        let mut broken = service(svc("tcp:203.0.113.1:8080"));
        broken.service.scheduler = Scheduler::Other("nosuch".into());
        let changed = [
            service(web).with_destination(Destination::new(
                addr("198.51.100.2:80"),
                Forwarding::Masquerade,
            )),
            broken,
        ];
        let err = ipvs.apply(&changed, &scoped(&[web])).unwrap_err();
        let Error::ApplyFailed { rollback, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(rollback.is_complete(), "{err}");
        assert_eq!(sh("ipvsadm -S -n"), before);
    });
}
