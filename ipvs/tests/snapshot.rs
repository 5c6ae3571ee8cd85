// SPDX-License-Identifier: MIT OR Apache-2.0
//! Snapshots against `ipvs::fake`: one service dump, one destination dump
//! per service, everything decoded. No root needed.

mod common;

use common::dumps;
use ipvs::fake::FakeIpvs;
use ipvs::{Destination, Forwarding, Scheduler, Service, ServiceKey, StatsSnapshot};

#[test]
fn snapshot_reads_every_service_with_its_destinations() {
    let fake = FakeIpvs::new();
    let ipvs = fake.handle().unwrap();
    let a: ServiceKey = "tcp:203.0.113.1:80".parse().unwrap();
    let b: ServiceKey = "udp:[2001:db8::1]:53".parse().unwrap();
    let c = ServiceKey::fwmark(7);
    ipvs.add_service(&Service::new(a, Scheduler::RoundRobin))
        .unwrap();
    ipvs.add_service(&Service::new(b, Scheduler::WeightedLeastConnection))
        .unwrap();
    ipvs.add_service(&Service::new(c, Scheduler::SourceHashing))
        .unwrap();
    let d1 = Destination::new("198.51.100.1:80".parse().unwrap(), Forwarding::Masquerade);
    let d2 = Destination::new("198.51.100.2:80".parse().unwrap(), Forwarding::DirectRoute)
        .with_weight(3);
    let d6 = Destination::new("[2001:db8::10]:53".parse().unwrap(), Forwarding::Masquerade);
    ipvs.add_destination(&a, &d1).unwrap();
    ipvs.add_destination(&a, &d2).unwrap();
    ipvs.add_destination(&b, &d6).unwrap();
    assert!(fake.set_connections(&b, d6.addr, 4, 2));
    let dumps_before = dumps(&fake);

    let snapshot = ipvs.snapshot().unwrap();
    assert_eq!(
        dumps(&fake) - dumps_before,
        1 + 3,
        "one service dump (a table this small is written in one walk) and one destination dump per service"
    );
    let keys: Vec<ServiceKey> = snapshot.services.iter().map(|s| s.service.key).collect();
    assert_eq!(keys, vec![a, b, c]);
    assert_eq!(snapshot.destination_count(), 3);
    // Kernel order: newest destination first.
    assert_eq!(snapshot.services[0].destinations, vec![d2, d1]);
    assert!(snapshot.services[2].destinations.is_empty());
    let v6 = &snapshot.service(&b).unwrap().destinations[0];
    assert_eq!((v6.active_connections, v6.inactive_connections), (4, 2));
    // The same as the single calls read.
    let services = ipvs.services().unwrap();
    for (state, service) in snapshot.services.iter().zip(&services) {
        assert_eq!(&state.service, service);
        assert_eq!(state.destinations, ipvs.destinations(&service.key).unwrap());
    }

    let stats = ipvs.stats_snapshot().unwrap();
    assert_eq!(stats, StatsSnapshot::from(&snapshot));
    assert_eq!(stats.services.len(), 3);
    assert_eq!(stats.services[1].destinations[0].active_connections, 4);
}

#[test]
fn snapshot_of_an_empty_table_is_one_dump() {
    let fake = FakeIpvs::new();
    let ipvs = fake.handle().unwrap();
    assert!(ipvs.snapshot().unwrap().services.is_empty());
    assert_eq!(dumps(&fake), 1);
}

#[test]
fn a_service_dump_shifted_by_another_namespace_is_read_again() {
    let fake = FakeIpvs::new();
    let ipvs = fake.handle().unwrap();
    let a: ServiceKey = "tcp:203.0.113.1:80".parse().unwrap();
    let b: ServiceKey = "tcp:203.0.113.2:80".parse().unwrap();
    ipvs.add_service(&Service::new(a, Scheduler::RoundRobin))
        .unwrap();
    ipvs.add_service(&Service::new(b, Scheduler::RoundRobin))
        .unwrap();

    // The first two dumps repeat a service: the third is written in one
    // walk.
    fake.shift_service_dumps(2);
    let before = dumps(&fake);
    let snapshot = ipvs.snapshot().unwrap();
    let keys: Vec<ServiceKey> = snapshot.services.iter().map(|s| s.service.key).collect();
    assert_eq!(keys, vec![a, b]);
    assert_eq!(dumps(&fake) - before, 3 + 2);

    // services() reads the list the same way.
    fake.shift_service_dumps(2);
    let before = dumps(&fake);
    let listed: Vec<ServiceKey> = ipvs.services().unwrap().iter().map(|s| s.key).collect();
    assert_eq!(listed, vec![a, b]);
    assert_eq!(dumps(&fake) - before, 3);

    // A list that never settles is an error, not a wrong snapshot or list.
    fake.shift_service_dumps(usize::MAX);
    for err in [ipvs.snapshot().unwrap_err(), ipvs.services().unwrap_err()] {
        assert!(
            matches!(
                err,
                ipvs::Error::DumpInterrupted {
                    op: ipvs::Op::ListServices,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn a_service_list_longer_than_a_datagram_is_checked_by_a_second_dump() {
    let fake = FakeIpvs::new();
    let ipvs = fake.handle().unwrap();
    let keys: Vec<ServiceKey> = (1..=200)
        .map(|port| format!("tcp:203.0.113.1:{port}").parse().unwrap())
        .collect();
    for key in &keys {
        ipvs.add_service(&Service::new(*key, Scheduler::RoundRobin))
            .unwrap();
    }
    let listed = |ipvs: &ipvs::Ipvs| {
        let mut listed: Vec<ServiceKey> = ipvs.services().unwrap().iter().map(|s| s.key).collect();
        listed.sort_by_key(|k| k.to_string());
        listed
    };
    let mut expected = keys.clone();
    expected.sort_by_key(|k| k.to_string());

    // The full dump, then one for the keys, which agrees.
    let before = dumps(&fake);
    assert_eq!(listed(&ipvs), expected);
    assert_eq!(dumps(&fake) - before, 2);

    // A shifted full dump repeats a service: a second full dump, then
    // the keys, which agree.
    fake.shift_service_dumps(1);
    let before = dumps(&fake);
    assert_eq!(listed(&ipvs), expected);
    assert_eq!(dumps(&fake) - before, 3);
}
