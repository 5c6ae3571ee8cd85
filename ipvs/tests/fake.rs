// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs::fake` through both handles, as a downstream test uses it: what
//! it keeps and how it reports it, the kernel's errors as typed errors,
//! raw requests it refuses like the kernel, and each fault. No root, no
//! IPVS needed. (Its faithfulness to the kernel is `kernel_fake.rs`, run
//! in the lab.)

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Handle, fake_handles};
use ipvs::fake::{DEBIAN_6_1_SCHEDULERS, FakeIpvs, Fault, When};
use ipvs::ipvs_sys::netlink_packet_core::DefaultNla;
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage, Nested, ServiceAttribute, ServiceFlags};
use ipvs::{
    Batch, DaemonRole, Destination, Error, Forwarding, Op, Persistence, PersistenceNetmask,
    Scheduler, SchedulerFlags, Service, ServiceKey, Stats, SyncDaemon, Timeouts, Tunnel,
    TunnelChecksum,
};

const TIMEOUT: Duration = Duration::from_millis(100);

fn key(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn web() -> Service {
    Service::new(key("tcp:203.0.113.1:80"), Scheduler::RoundRobin)
}

fn masq(text: &str) -> Destination {
    Destination::new(addr(text), Forwarding::Masquerade)
}

/// `call` through each driver on a fresh fake.
fn each_driver(call: impl Fn(&FakeIpvs, &Handle)) {
    for_each(FakeIpvs::new, call);
}

fn for_each(make: impl Fn() -> FakeIpvs, call: impl Fn(&FakeIpvs, &Handle)) {
    for index in 0..2 {
        let fake = make();
        let handles = fake_handles(&fake, TIMEOUT);
        let handle = &handles[index];
        eprintln!("driver: {}", handle.driver());
        call(&fake, handle);
    }
}

fn kernel_errno(result: Result<impl std::fmt::Debug, Error>) -> i32 {
    match result {
        Err(Error::Kernel { errno, .. }) => errno,
        other => panic!("a kernel error expected, got {other:?}"),
    }
}

#[test]
fn the_family_info_and_timeouts_read_as_on_debian() {
    each_driver(|_, h| {
        let family = on!(h, family()).unwrap();
        assert_eq!(
            (family.id, family.version, family.max_attr),
            (0x20, Some(1), Some(6))
        );
        let info = on!(h, info()).unwrap();
        assert_eq!(
            (info.version.to_string(), info.connection_table_size),
            ("1.2.1".into(), 4096)
        );
        assert_eq!(
            on!(h, timeouts()).unwrap(),
            Timeouts::new(
                Some(Duration::from_secs(900)),
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(300))
            )
        );
        on!(
            h,
            set_timeouts(&Timeouts::new(
                Some(Duration::from_secs(1000)),
                None,
                Some(Duration::from_secs(10))
            ))
        )
        .unwrap();
        assert_eq!(
            on!(h, timeouts()).unwrap(),
            Timeouts::new(
                Some(Duration::from_secs(1000)),
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(10))
            )
        );
    });
}

#[test]
fn what_is_written_reads_back_as_written() {
    each_driver(|fake, h| {
        let udp6 = Service::new(key("udp:[2001:db8::1]:53"), Scheduler::WeightedRoundRobin)
            .with_persistence(
                Persistence::new(Duration::from_secs(300))
                    .with_netmask(PersistenceNetmask::Ipv6(64)),
            )
            .with_one_packet(true);
        let sip = Service::new(key("udp:192.0.2.2:5060"), Scheduler::None)
            .with_persistence(Persistence::new(Duration::from_secs(60)))
            .with_persistence_engine("sip");
        let mark = Service::new(ServiceKey::fwmark(7), Scheduler::SourceHashing)
            .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT);
        for service in [&web(), &udp6, &sip, &mark] {
            on!(h, add_service(service)).unwrap();
        }
        let gue = Destination::new(
            addr("198.51.100.22:80"),
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::RemoteChecksum,
            }),
        )
        .with_weight(0);
        let v6 = Destination::new(addr("[2001:db8::23]:80"), Forwarding::Tunnel(Tunnel::Ipip));
        let thresholds = masq("198.51.100.10:8080")
            .with_weight(3)
            .with_thresholds(100, 10);
        for dest in [&thresholds, &gue, &v6] {
            on!(h, add_destination(&web().key, dest)).unwrap();
        }
        for service in [web(), udp6, sip, mark] {
            assert_eq!(on!(h, service(&service.key)).unwrap(), service);
        }
        // Newest first, as the kernel lists them.
        assert_eq!(
            on!(h, destinations(&web().key)).unwrap(),
            vec![v6, gue, thresholds]
        );
        // The dump order: address services as added, then marks.
        let keys: Vec<String> = fake
            .snapshot()
            .services
            .iter()
            .map(|s| s.service.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "tcp:203.0.113.1:80",
                "udp:[2001:db8::1]:53",
                "udp:192.0.2.2:5060",
                "fwmark:7"
            ]
        );
        assert_eq!(fake.snapshot(), on!(h, snapshot()).unwrap());
    });
}

#[test]
fn reported_services_carry_the_kernels_hashed_flag_and_full_mask() {
    each_driver(|_, h| {
        on!(h, add_service(&web())).unwrap();
        let get = IpvsMessage::new(
            IpvsCmd::GetService,
            vec![IpvsAttribute::Service(Nested::new(vec![
                ServiceAttribute::Af(ipvs::ipvs_sys::AddressFamily::Inet),
                ServiceAttribute::Fwmark(0),
            ]))],
        );
        // Mark 0 names the TCP service at 0.0.0.0:0, which does not exist.
        assert_eq!(kernel_errno(on!(h, request(&get, false))), 3, "ESRCH");
        let replies = on!(
            h,
            request(&IpvsMessage::new(IpvsCmd::GetService, vec![]), true)
        )
        .unwrap();
        let [
            IpvsMessage {
                cmd: IpvsCmd::NewService,
                attributes,
                ..
            },
        ] = &replies[..]
        else {
            panic!("{replies:?}")
        };
        let IpvsAttribute::Service(nest) = &attributes[0] else {
            panic!()
        };
        assert!(!nest.nested_flag, "the kernel's nests lack NLA_F_NESTED");
        let flags = nest.iter().find_map(|a| match a {
            ServiceAttribute::Flags(f) => Some(f.clone()),
            _ => None,
        });
        let flags = flags.unwrap();
        assert_eq!(
            (flags.flags, flags.mask),
            (ServiceFlags::HASHED, ServiceFlags::all())
        );
    });
}

#[test]
fn the_kernels_errors_arrive_typed() {
    each_driver(|_, h| {
        let service = web();
        let key = service.key;
        let dest = masq("198.51.100.10:80");
        assert!(matches!(
            on!(h, delete_service(&key)),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            on!(h, update_service(&service)),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            on!(h, service(&key)),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            on!(h, add_destination(&key, &dest)),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            on!(h, destinations(&key)),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            on!(h, zero_service(&key)),
            Err(Error::NoSuchService { .. })
        ));
        on!(h, add_service(&service)).unwrap();
        assert!(matches!(
            on!(h, add_service(&service)),
            Err(Error::ServiceExists { .. })
        ));
        let unknown = Service::new(key, Scheduler::Other("nosuch".into()));
        let err = on!(h, update_service(&unknown)).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownSchedulerOrPe { scheduler, .. } if scheduler == "nosuch")
        );
        let pe = web()
            .with_persistence(Persistence::new(Duration::from_secs(5)))
            .with_persistence_engine("nosuchpe");
        assert!(matches!(
            on!(h, update_service(&pe)),
            Err(Error::UnknownSchedulerOrPe { .. })
        ));
        on!(h, add_destination(&key, &dest)).unwrap();
        assert!(matches!(
            on!(h, add_destination(&key, &dest)),
            Err(Error::DestinationExists { .. })
        ));
        let other = addr("198.51.100.11:80");
        assert!(matches!(
            on!(h, delete_destination(&key, other)),
            Err(Error::NoSuchDestination { .. })
        ));
        assert!(matches!(
            on!(h, update_destination(&key, &masq("198.51.100.11:80"))),
            Err(Error::NoSuchDestination { .. })
        ));
        // Addresses the client lets through and the kernel refuses.
        // (The loopback's broadcast; the rest of 0.0.0.0/8 is unicast.)
        let broadcast = masq("127.255.255.255:80");
        assert_eq!(kernel_errno(on!(h, add_destination(&key, &broadcast))), 22);
        on!(h, add_destination(&key, &masq("0.1.2.3:80"))).unwrap();
        let link_local = Destination::new(addr("[fe80::1]:80"), Forwarding::Tunnel(Tunnel::Ipip));
        assert_eq!(kernel_errno(on!(h, add_destination(&key, &link_local))), 22);
        assert!(matches!(
            on!(h, stop_daemon(DaemonRole::Backup)),
            Err(Error::NoDaemon)
        ));
    });
}

#[test]
fn sync_daemons_get_the_kernels_defaults_and_rules() {
    let make = || FakeIpvs::builder().interface("sync0", 1500).build();
    for_each(make, |_, h| {
        let missing = SyncDaemon::new(DaemonRole::Master, "nosuch0", 1);
        let err = on!(h, start_daemon(&missing)).unwrap_err();
        assert!(
            matches!(&err, Error::NoSuchInterface { interface: Some(i) } if i == "nosuch0"),
            "ENODEV: {err:?}"
        );
        on!(
            h,
            start_daemon(&SyncDaemon::new(DaemonRole::Master, "sync0", 7))
        )
        .unwrap();
        assert!(matches!(
            on!(
                h,
                start_daemon(&SyncDaemon::new(DaemonRole::Master, "sync0", 8))
            ),
            Err(Error::DaemonRunning)
        ));
        let backup = SyncDaemon::new(DaemonRole::Backup, "lo", 9)
            .with_mcast_group("ff02::1:3".parse().unwrap())
            .with_max_len(100);
        on!(h, start_daemon(&backup)).unwrap();
        let daemons = on!(h, daemons()).unwrap();
        let expected_master = SyncDaemon::new(DaemonRole::Master, "sync0", 7)
            .with_mcast_group("224.0.0.81".parse().unwrap())
            .with_mcast_port(8848)
            .with_mcast_ttl(1)
            .with_max_len(1500 - 28);
        // A backup's messages hold at least 1024 bytes.
        let expected_backup = backup
            .with_mcast_port(8848)
            .with_mcast_ttl(1)
            .with_max_len(1024);
        assert_eq!(daemons, vec![expected_master, expected_backup]);
        // No destination of another family while a daemon runs.
        on!(h, add_service(&web())).unwrap();
        let v6 = Destination::new(addr("[2001:db8::5]:80"), Forwarding::Tunnel(Tunnel::Ipip));
        assert_eq!(kernel_errno(on!(h, add_destination(&web().key, &v6))), 22);
        on!(h, stop_daemon(DaemonRole::Master)).unwrap();
        on!(h, stop_daemon(DaemonRole::Backup)).unwrap();
        on!(h, add_destination(&web().key, &v6)).unwrap();
        // ... nor a daemon while there is one.
        let again = SyncDaemon::new(DaemonRole::Master, "sync0", 7);
        assert_eq!(kernel_errno(on!(h, start_daemon(&again))), 22);
    });
}

#[test]
fn raw_requests_meet_the_kernels_parsing() {
    each_driver(|_, h| {
        let raw = |cmd, attributes| IpvsMessage::new(cmd, attributes);
        // A service command without its service.
        assert_eq!(
            kernel_errno(on!(h, request(&raw(IpvsCmd::NewService, vec![]), false))),
            22
        );
        // GET_DEST has no doit, GET_INFO no dumpit, 30 is no command.
        assert_eq!(
            kernel_errno(on!(h, request(&raw(IpvsCmd::GetDest, vec![]), false))),
            95
        );
        assert_eq!(
            kernel_errno(on!(h, request(&raw(IpvsCmd::GetInfo, vec![]), true))),
            95
        );
        assert_eq!(
            kernel_errno(on!(h, request(&raw(IpvsCmd::Other(30), vec![]), false))),
            95
        );
        // A 2-byte timeout fails the genl core's policy, with its text.
        let short = IpvsAttribute::Other(DefaultNla::new(4, vec![1, 2]));
        let err = on!(h, request(&raw(IpvsCmd::SetConfig, vec![short]), false)).unwrap_err();
        let Error::Kernel {
            errno: 34, ext_ack, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            ext_ack.message.as_deref(),
            Some("Attribute failed policy validation")
        );
        assert_eq!(ext_ack.offset, Some(20));
        // A destination dump of no service is empty, not an error.
        assert!(
            on!(h, request(&raw(IpvsCmd::GetDest, vec![]), true))
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn counters_and_connections_are_the_tests_to_set_and_zero_clears_counters() {
    each_driver(|fake, h| {
        let key = web().key;
        let dest = masq("198.51.100.10:80");
        on!(h, add_service(&web())).unwrap();
        on!(h, add_destination(&key, &dest)).unwrap();
        let mut stats = Stats::default();
        stats.connections = u64::from(u32::MAX) + 2;
        stats.bytes_in = 1 << 40;
        assert!(fake.set_stats(&key, None, stats));
        assert!(fake.set_stats(&key, Some(dest.addr), stats));
        assert!(fake.set_connections(&key, dest.addr, 3, 4));
        assert!(!fake.set_connections(&key, addr("198.51.100.99:80"), 1, 1));
        let read = on!(h, stats_snapshot()).unwrap();
        assert_eq!(
            read.services[0].stats, stats,
            "64-bit counters, not truncated"
        );
        let d = read.services[0].destinations[0];
        assert_eq!(
            (d.stats, d.active_connections, d.inactive_connections),
            (stats, 3, 4)
        );
        on!(h, zero_all()).unwrap();
        let read = on!(h, stats_snapshot()).unwrap();
        assert_eq!(read.services[0].stats, Stats::default());
        let d = read.services[0].destinations[0];
        assert_eq!((d.stats, d.active_connections), (Stats::default(), 3));
    });
}

#[test]
fn a_batch_is_answered_request_by_request() {
    each_driver(|fake, h| {
        let mut batch = Batch::new();
        batch.add_service(&web()).unwrap();
        batch.add_service(&web()).unwrap();
        batch
            .add_destination(&web().key, &masq("198.51.100.1:80"))
            .unwrap();
        batch
            .add_destination(&web().key, &masq("127.255.255.255:80"))
            .unwrap();
        batch.delete_service(&key("tcp:203.0.113.9:80")).unwrap();
        let outcome = on!(h, execute_batch(&batch)).unwrap();
        let results: Vec<String> = outcome
            .results
            .iter()
            .map(|r| match r {
                Ok(()) => "ok".into(),
                Err(e) => format!("{:?}", std::mem::discriminant(e)),
            })
            .collect();
        assert!(
            outcome.results[0].is_ok() && outcome.results[2].is_ok(),
            "{results:?}"
        );
        assert!(matches!(
            outcome.results[1],
            Err(Error::ServiceExists { .. })
        ));
        assert!(
            matches!(outcome.results[3], Err(Error::Kernel { errno: 22, .. })),
            "{:?}",
            outcome.results[3]
        );
        assert!(matches!(
            outcome.results[4],
            Err(Error::NoSuchService { .. })
        ));
        assert_eq!(fake.snapshot().destination_count(), 1);
        let writes = fake.requests().iter().filter(|r| r.is_write()).count();
        assert_eq!(writes, 5);
    });
}

#[test]
fn a_refused_write_is_the_errno_chosen_and_changes_nothing() {
    each_driver(|fake, h| {
        fake.inject(When::Write(1), Fault::Refuse(12));
        on!(h, add_service(&web())).unwrap();
        let second = Service::new(key("tcp:203.0.113.2:80"), Scheduler::RoundRobin);
        assert_eq!(kernel_errno(on!(h, add_service(&second))), 12);
        assert_eq!(fake.snapshot().services.len(), 1);
        let log = fake.requests();
        assert_eq!(log.last().unwrap().fault, Some(Fault::Refuse(12)));
    });
}

#[test]
fn a_lost_ack_times_out_at_the_deadline_with_the_write_applied() {
    each_driver(|fake, h| {
        fake.inject(When::Write(0), Fault::LoseReply);
        let start = Instant::now();
        let err = on!(h, add_service(&web())).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    op: Op::AddService,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(start.elapsed() >= TIMEOUT);
        assert!(err.may_have_applied());
        assert_eq!(fake.snapshot().services.len(), 1);
        // The handle goes on.
        assert_eq!(on!(h, services()).unwrap().len(), 1);
    });
}

#[test]
fn a_late_reply_times_the_call_out_and_the_next_call_skips_it() {
    each_driver(|fake, h| {
        on!(h, add_service(&web())).unwrap();
        fake.inject(When::Request(0), Fault::Delay(TIMEOUT * 2));
        assert!(matches!(
            on!(h, service(&web().key)),
            Err(Error::Timeout { .. })
        ));
        std::thread::sleep(TIMEOUT * 2);
        // The late reply is queued first; the next call reads past it.
        assert_eq!(on!(h, service(&web().key)).unwrap(), web());
    });
}

#[test]
fn a_dump_abandoned_by_its_deadline_does_not_make_the_next_one_busy() {
    each_driver(|fake, h| {
        for n in 0..200 {
            let service = Service::new(ServiceKey::fwmark(n + 1), Scheduler::RoundRobin);
            on!(h, add_service(&service)).unwrap();
        }
        fake.inject(When::Request(0), Fault::Delay(TIMEOUT * 3));
        assert!(matches!(on!(h, services()), Err(Error::Timeout { .. })));
        assert_eq!(on!(h, services()).unwrap().len(), 200);
    });
}

#[test]
fn an_overrun_loses_the_ack_and_says_so() {
    each_driver(|fake, h| {
        fake.inject(When::Write(0), Fault::Overrun);
        let err = on!(h, add_service(&web())).unwrap_err();
        assert!(matches!(err, Error::Overrun { .. }), "{err:?}");
        assert_eq!(fake.snapshot().services.len(), 1, "applied all the same");
    });
}

#[test]
fn a_failed_send_is_an_io_error_and_never_reaches_the_table() {
    each_driver(|fake, h| {
        fake.fail_send(0, 105);
        let err = on!(h, add_service(&web())).unwrap_err();
        assert!(matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(105)));
        assert!(fake.snapshot().services.is_empty());
        on!(h, add_service(&web())).unwrap();
    });
}

#[test]
fn service_dumps_read_wide_on_a_second_socket_and_the_rest_a_page_at_a_time() {
    each_driver(|fake, h| {
        on!(h, add_service(&web())).unwrap();
        on!(h, add_destination(&web().key, &masq("192.0.2.10:80"))).unwrap();
        let first = fake.requests().len();
        on!(h, snapshot()).unwrap();
        // The second snapshot: both sockets have read before.
        let second = fake.requests().len();
        on!(h, snapshot()).unwrap();
        let log = fake.requests();
        let main = log[first - 1].port;
        let dumps_of = |command| {
            log[second..]
                .iter()
                .filter(move |r| r.dump && r.command == Some(command))
        };
        let wide = 32768 - 320;
        // One: a table this small is written in one walk.
        assert_eq!(dumps_of(IpvsCmd::GetService).count(), 1);
        for dump in dumps_of(IpvsCmd::GetService) {
            assert_ne!(dump.port, main, "{dump:?}");
            assert_eq!(dump.dump_datagram_room, wide, "{dump:?}");
        }
        assert_eq!(dumps_of(IpvsCmd::GetDest).count(), 1);
        for dump in dumps_of(IpvsCmd::GetDest) {
            assert_eq!(dump.port, main, "{dump:?}");
            assert!(dump.dump_datagram_room < wide, "{dump:?}");
        }
        assert!(
            log[first..second]
                .iter()
                .all(|r| r.command.is_some() || r.port == main),
            "the second socket knows the family from the first"
        );
    });
}

#[test]
fn raw_service_dumps_read_wide_too() {
    each_driver(|fake, h| {
        on!(h, add_service(&web())).unwrap();
        on!(h, add_destination(&web().key, &masq("192.0.2.10:80"))).unwrap();
        on!(h, info()).unwrap();
        let first = fake.requests().len();
        let main = fake.requests()[first - 1].port;
        let services = IpvsMessage::new(IpvsCmd::GetService, Vec::new());
        // Twice: the kernel sizes a dump's first datagram before the
        // socket has read anything.
        for _ in 0..2 {
            assert_eq!(on!(h, request(&services, true)).unwrap().len(), 1);
        }
        let destinations = IpvsMessage::new(
            IpvsCmd::GetDest,
            vec![IpvsAttribute::Service(Nested::new(vec![
                ServiceAttribute::Af(ipvs::ipvs_sys::AddressFamily::Inet),
                ServiceAttribute::Protocol(ipvs::ipvs_sys::Protocol::Tcp),
                ServiceAttribute::Addr(std::net::Ipv4Addr::new(203, 0, 113, 1).into()),
                ServiceAttribute::Port(80),
            ]))],
        );
        assert_eq!(on!(h, request(&destinations, true)).unwrap().len(), 1);
        let log = fake.requests();
        let [services, destinations] = [IpvsCmd::GetService, IpvsCmd::GetDest].map(|command| {
            log[first..]
                .iter()
                .rfind(|r| r.dump && r.command == Some(command))
                .unwrap()
        });
        assert_ne!(services.port, main, "{services:?}");
        assert_eq!(services.dump_datagram_room, 32768 - 320, "{services:?}");
        assert_eq!(destinations.port, main, "{destinations:?}");
    });
}

/// `web()` with `count` masquerading destinations on 192.0.2.10.
fn web_with(h: &Handle, count: u16) -> Vec<SocketAddr> {
    on!(h, add_service(&web())).unwrap();
    let addrs: Vec<SocketAddr> = (1..=count)
        .map(|port| SocketAddr::from(([192, 0, 2, 10], port)))
        .collect();
    for addr in &addrs {
        let dest = Destination::new(*addr, Forwarding::Masquerade);
        on!(h, add_destination(&web().key, &dest)).unwrap();
    }
    addrs
}

/// The destination dumps logged from `first` on, with their ports.
fn destination_dumps(fake: &FakeIpvs, first: usize) -> Vec<u32> {
    fake.requests()[first..]
        .iter()
        .filter(|r| r.dump && r.command == Some(IpvsCmd::GetDest))
        .map(|r| r.port)
        .collect()
}

#[test]
fn a_destination_dump_written_in_one_walk_is_read_once() {
    each_driver(|fake, h| {
        web_with(h, 3);
        let first = fake.requests().len();
        assert_eq!(on!(h, destinations(&web().key)).unwrap().len(), 3);
        assert_eq!(destination_dumps(fake, first).len(), 1);
        // A destination added after its one datagram makes the dump list
        // one again, in a second: read again.
        fake.shift_destination_dumps(1);
        let first = fake.requests().len();
        assert_eq!(on!(h, destinations(&web().key)).unwrap().len(), 3);
        assert_eq!(destination_dumps(fake, first).len(), 2);
    });
}

#[test]
fn destination_dumps_shifted_between_datagrams_are_read_again() {
    each_driver(|fake, h| {
        // 40 destinations take several page-sized datagrams.
        let addrs = web_with(h, 40);
        // The second socket sizes its datagrams once it has read (the
        // kernel makes the first datagram of a fresh socket's dump small).
        on!(h, services()).unwrap();
        let ours = |destinations: &[Destination]| -> Vec<SocketAddr> {
            let mut listed: Vec<SocketAddr> = destinations.iter().map(|d| d.addr).collect();
            listed.sort();
            listed
        };
        for read in ["destinations", "snapshot"] {
            fake.shift_destination_dumps(1);
            let first = fake.requests().len();
            let destinations = match read {
                "destinations" => on!(h, destinations(&web().key)).unwrap(),
                _ => on!(h, snapshot()).unwrap().services.remove(0).destinations,
            };
            assert_eq!(ours(&destinations), addrs, "{read}: each once");
            // The shifted dump, then one on the second socket, which
            // holds them all in one datagram.
            let dumps = destination_dumps(fake, first);
            assert_eq!(dumps.len(), 2, "{read}: {dumps:?}");
            assert_ne!(dumps[0], dumps[1], "{read}: {dumps:?}");
        }
    });
}

#[test]
fn destination_dumps_that_never_agree_are_an_interrupted_dump() {
    each_driver(|fake, h| {
        // 150 destinations take several datagrams even on the second socket.
        let addrs = web_with(h, 150);
        fake.shift_destination_dumps(5);
        let err = on!(h, destinations(&web().key)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DumpInterrupted {
                    op: Op::ListDestinations,
                    attempts: 5
                }
            ),
            "{err:?}"
        );
        fake.shift_destination_dumps(1);
        let first = fake.requests().len();
        assert_eq!(on!(h, destinations(&web().key)).unwrap().len(), addrs.len());
        // The shifted dump, then two that agree.
        assert_eq!(destination_dumps(fake, first).len(), 3);
    });
}

#[test]
fn shifted_service_dumps_are_read_again() {
    each_driver(|fake, h| {
        on!(h, add_service(&web())).unwrap();
        fake.shift_service_dumps(2);
        assert_eq!(on!(h, services()).unwrap(), vec![web()]);
        let dumps = fake.requests().iter().filter(|r| r.dump).count();
        assert_eq!(dumps, 3, "two shifted dumps, then one written in one walk");
    });
}

#[test]
fn privileges_modules_and_reloads_are_the_builders_and_the_tests() {
    let unprivileged = FakeIpvs::builder().unprivileged().build();
    let h = unprivileged.handle().unwrap();
    assert!(matches!(h.services(), Err(Error::PermissionDenied { .. })));
    let absent = FakeIpvs::builder().without_ipvs().build();
    assert!(matches!(absent.handle(), Err(Error::IpvsUnavailable)));
    let old = FakeIpvs::builder()
        .schedulers(DEBIAN_6_1_SCHEDULERS)
        .build();
    let h = old.handle().unwrap();
    let twos = Service::new(key("tcp:203.0.113.1:80"), Scheduler::TwoChoices);
    assert!(matches!(
        h.add_service(&twos),
        Err(Error::UnknownSchedulerOrPe { .. })
    ));

    let fake = FakeIpvs::new();
    let h = fake.handle().unwrap();
    h.add_service(&web()).unwrap();
    let before = h.family().unwrap().id;
    fake.reload_module();
    // The next request meets ENOENT, resolves the family again, is sent again.
    assert!(h.services().unwrap().is_empty());
    assert_ne!(h.family().unwrap().id, before);
}

#[test]
fn clones_and_handles_share_one_table() {
    let fake = FakeIpvs::new();
    let a = fake.handle().unwrap();
    let b = fake.clone().handle().unwrap();
    a.add_service(&web()).unwrap();
    assert_eq!(b.services().unwrap(), vec![web()]);
    let threads: Vec<_> = (0..8u16)
        .map(|n| {
            let h = fake.handle().unwrap();
            std::thread::spawn(move || {
                let key = ServiceKey::tcp(SocketAddr::from(([203, 0, 113, 2], 1000 + n)));
                h.add_service(&Service::new(key, Scheduler::RoundRobin))
                    .unwrap();
                h.service(&key).unwrap()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.services().unwrap().len(), 9);
}

#[test]
fn a_cancelled_async_call_leaves_the_handle_usable() {
    let fake = FakeIpvs::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let h = fake.async_handle().await.unwrap();
        h.add_service(&web()).await.unwrap();
        fake.inject(When::Request(0), Fault::Delay(Duration::from_secs(60)));
        let cancelled = tokio::time::timeout(Duration::from_millis(20), h.services()).await;
        assert!(cancelled.is_err(), "still waiting when dropped");
        assert_eq!(h.services().await.unwrap(), vec![web()]);
    });
}
