// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests: the typed API against a real kernel with IPVS, each test in
//! its own network namespace, cross-checked with `ipvsadm` in that
//! namespace. They run inside the lab VM (`cargo xtask test`); on a plain
//! host they are ignored. Inside the lab a missing IPVS fails them.

use std::net::SocketAddr;
use std::time::Duration;

use ipvs::{Destination, Forwarding, Scheduler, Service, ServiceKey};
use ipvs_lab::{DRIVERS, Handle, in_netns, sh, with_each_handle};

/// `ipvsadm -S -n`, run until two runs agree. Its multi-datagram service
/// dump skips or repeats services when a table of *any* namespace changes
/// meanwhile (the kernel flaw `Ipvs::services` reads around), and the tests
/// of this suite run side by side, each in a namespace of its own.
fn ipvsadm_save_settled() -> String {
    let mut last = sh("ipvsadm -S -n");
    for _ in 0..10 {
        let again = sh("ipvsadm -S -n");
        if again == last {
            return again;
        }
        last = again;
    }
    panic!("ipvsadm -S -n never printed the same table twice in a row")
}

/// What `ipvsadm -S -n` prints for the table as this crate reads it
/// (services and destinations in ipvsadm's sort order).
fn save_lines(ipvs: &Handle) -> String {
    let mut services = ipvs.services().expect("list services");
    services.sort_by_key(|s| sort_key(&s.key));
    let mut out = String::new();
    for service in services {
        out.push_str(&format!("{service}\n"));
        let mut dests = ipvs.destinations(&service.key).expect("list destinations");
        dests.sort_by_key(|d| (d.addr.ip(), d.addr.port()));
        for dest in dests {
            // ipvsadm -S forgets the thresholds, which Display writes.
            let dest = dest.with_thresholds(0, 0);
            out.push_str(&format!("-a {} {dest}\n", service.key.ipvsadm_args()));
        }
    }
    out
}

/// ipvsadm's service order: fwmark (0 first), family, protocol, address, port.
fn sort_key(key: &ServiceKey) -> (u32, u8, u16, Option<SocketAddr>) {
    match *key {
        ServiceKey::Addr { protocol, addr } => {
            (0, family_rank(addr.is_ipv6()), protocol.into(), Some(addr))
        }
        ServiceKey::Fwmark { mark, family } => {
            (mark, family_rank(family == ipvs::Family::Ipv6), 0, None)
        }
        _ => (u32::MAX, 0, 0, None),
    }
}

fn family_rank(v6: bool) -> u8 {
    u8::from(v6)
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn family_resolves_and_info_matches_proc() {
    with_each_handle(|ipvs| {
        let family = ipvs.family().unwrap();
        assert!(family.id >= 0x10, "dynamic family id, got {}", family.id);
        assert_eq!(family.version, Some(1));
        let info = ipvs.info().expect("GET_INFO");
        assert_eq!(info.version.to_string(), "1.2.1");
        // "IP Virtual Server version 1.2.1 (size=4096)"
        let header = sh("head -n1 /proc/net/ip_vs");
        let size: u32 = header
            .split("(size=")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no size in {header:?}"));
        assert_eq!(info.connection_table_size, size, "{header}");
        assert!(
            header.contains(&format!("version {}", info.version)),
            "{header}"
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn tcp_rr_service_with_masquerading_destination_round_trips_with_ipvsadm() {
    with_each_handle(|ipvs| {
        let key: ServiceKey = "tcp:203.0.113.1:80".parse().unwrap();
        let service = Service::new(key, Scheduler::RoundRobin);
        ipvs.add_service(&service)
            .expect("ipvsadm -A -t 203.0.113.1:80 -s rr");
        let dest = Destination::new("198.51.100.10:80".parse().unwrap(), Forwarding::Masquerade);
        ipvs.add_destination(&key, &dest)
            .expect("ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m");

        // We read back exactly what we wrote.
        let services = ipvs.services().unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].key, key);
        assert_eq!(services[0].scheduler, Scheduler::RoundRobin);
        assert_eq!(services[0].persistence, None);
        assert_eq!(ipvs.service(&key).unwrap().key, key);
        let dests = ipvs.destinations(&key).unwrap();
        assert_eq!(dests.len(), 1);
        assert_eq!(dests[0].addr, dest.addr);
        assert_eq!(dests[0].forwarding, Forwarding::Masquerade);
        assert_eq!(dests[0].weight, 1);

        // ipvsadm reads the same, in both of its formats.
        let saved = sh("ipvsadm -S -n");
        assert_eq!(
            saved,
            "-A -t 203.0.113.1:80 -s rr\n-a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 1\n"
        );
        assert_eq!(save_lines(ipvs), saved);
        let listed = sh("ipvsadm -Ln");
        assert!(listed.contains("TCP  203.0.113.1:80 rr"), "{listed}");
        assert!(
            listed.lines().any(|l| {
                let f: Vec<_> = l.split_whitespace().collect();
                f.len() >= 4
                    && f[0] == "->"
                    && f[1] == "198.51.100.10:80"
                    && f[2] == "Masq"
                    && f[3] == "1"
            }),
            "{listed}"
        );
    });
}

// ---- breadth: every feature, both directions ----

use std::net::IpAddr;

use ipvs::{
    DaemonRole, Error, Persistence, PersistenceNetmask, SchedulerFlags, SyncDaemon, Timeouts,
    Tunnel, TunnelChecksum,
};

fn svc(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A table using every feature, written through the crate.
fn write_every_feature(ipvs: &Handle) {
    let tcp = svc("tcp:203.0.113.1:80");
    ipvs.add_service(&Service::new(tcp, Scheduler::RoundRobin))
        .unwrap();
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("198.51.100.10:8080"), Forwarding::Masquerade).with_weight(3),
    )
    .unwrap();
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("203.0.113.20:80"), Forwarding::DirectRoute)
            .with_thresholds(100, 10),
    )
    .unwrap();
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("198.51.100.21:80"), Forwarding::Tunnel(Tunnel::Ipip)),
    )
    .unwrap();
    let gue = Tunnel::Gue {
        port: 6080,
        checksum: TunnelChecksum::Checksum,
    };
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("198.51.100.22:80"), Forwarding::Tunnel(gue)).with_weight(0),
    )
    .unwrap();
    let gre = Tunnel::Gre {
        checksum: TunnelChecksum::None,
    };
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("198.51.100.23:80"), Forwarding::Tunnel(gre)),
    )
    .unwrap();
    // A destination of the other family needs tunnel forwarding.
    ipvs.add_destination(
        &tcp,
        &Destination::new(addr("[2001:db8::23]:80"), Forwarding::Tunnel(Tunnel::Ipip)),
    )
    .unwrap();

    let udp6 = svc("udp:[2001:db8::1]:53");
    let persistence =
        Persistence::new(Duration::from_secs(300)).with_netmask(PersistenceNetmask::Ipv6(64));
    ipvs.add_service(
        &Service::new(udp6, Scheduler::WeightedRoundRobin)
            .with_persistence(persistence)
            .with_one_packet(true),
    )
    .unwrap();
    ipvs.add_destination(
        &udp6,
        &Destination::new(addr("[2001:db8::10]:53"), Forwarding::Masquerade).with_weight(7),
    )
    .unwrap();

    let mark = ServiceKey::fwmark(7);
    let persistence = Persistence::new(Duration::from_secs(120))
        .with_netmask(PersistenceNetmask::Ipv4("255.255.255.0".parse().unwrap()));
    ipvs.add_service(
        &Service::new(mark, Scheduler::SourceHashing)
            .with_persistence(persistence)
            .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT),
    )
    .unwrap();
    ipvs.add_destination(
        &mark,
        &Destination::new(addr("198.51.100.30:0"), Forwarding::DirectRoute),
    )
    .unwrap();

    let mark6 = ServiceKey::fwmark6(8);
    ipvs.add_service(
        &Service::new(mark6, Scheduler::MaglevHashing).with_scheduler_flags(SchedulerFlags::PORT),
    )
    .unwrap();

    let sctp = svc("sctp:192.0.2.1:9");
    ipvs.add_service(&Service::new(sctp, Scheduler::LeastConnection))
        .unwrap();

    let sip = svc("udp:192.0.2.2:5060");
    ipvs.add_service(
        &Service::new(sip, Scheduler::WeightedLeastConnection)
            .with_persistence(Persistence::new(Duration::from_secs(60)))
            .with_persistence_engine("sip"),
    )
    .unwrap();
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn every_feature_we_write_ipvsadm_reads_identically() {
    with_each_handle(|ipvs| {
        write_every_feature(ipvs);
        let saved = sh("ipvsadm -S -n");
        assert_eq!(save_lines(ipvs), saved);
        for expected in [
            "-A -t 203.0.113.1:80 -s rr",
            "-a -t 203.0.113.1:80 -r 198.51.100.22:80 -i -w 0 --tun-type gue --tun-port 6080 --tun-csum",
            "-a -t 203.0.113.1:80 -r 198.51.100.23:80 -i -w 1 --tun-type gre --tun-nocsum",
            "-a -t 203.0.113.1:80 -r [2001:db8::23]:80 -i -w 1 --tun-type ipip",
            "-A -u [2001:db8::1]:53 -s wrr -p 300 -M 64 -o",
            "-A -f 7 -s sh -p 120 -M 255.255.255.0 -b sh-fallback,sh-port",
            "-A -f 8 -6 -s mh -b mh-port",
            "-A --sctp-service 192.0.2.1:9 -s lc",
            "-A -u 192.0.2.2:5060 -s wlc -p 60 --pe sip",
        ] {
            assert!(
                saved.lines().any(|l| l == expected),
                "missing {expected:?} in\n{saved}"
            );
        }
        // Thresholds are not in -S: check them in -Ln --thresholds.
        let thresholds = sh("ipvsadm -Ln --thresholds -t 203.0.113.1:80");
        assert!(
            thresholds.lines().any(|l| {
                let f: Vec<_> = l.split_whitespace().collect();
                f.len() >= 4 && f[1] == "203.0.113.20:80" && f[2] == "100" && f[3] == "10"
            }),
            "{thresholds}"
        );
        let dests = ipvs.destinations(&svc("tcp:203.0.113.1:80")).unwrap();
        let dr = dests
            .iter()
            .find(|d| d.addr == addr("203.0.113.20:80"))
            .unwrap();
        assert_eq!((dr.upper_threshold, dr.lower_threshold), (100, 10));
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn every_feature_ipvsadm_writes_we_read_identically() {
    with_each_handle(|ipvs| {
        sh("set -e
            ipvsadm -A -t 203.0.113.1:80 -s wrr
            ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:8080 -m -w 4 -x 50 -y 5
            ipvsadm -a -t 203.0.113.1:80 -r 203.0.113.20:80 -g -w 2
            ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.21:80 -i --tun-type ipip
            ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.22:80 -i --tun-type gue --tun-port 6081 --tun-remcsum
            ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.23:80 -i --tun-type gre --tun-csum
            ipvsadm -A -u [2001:db8::1]:53 -s sh -b sh-fallback -p 600 -M 48 -o
            ipvsadm -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -m
            ipvsadm -A -f 9 -s mh -b mh-fallback,mh-port
            ipvsadm -a -f 9 -r 198.51.100.40 -g -w 9
            ipvsadm -A -f 10 -6 -s lblcr -p
            ipvsadm -A --sctp-service 192.0.2.1:9 -s dh
            ipvsadm -A -u 192.0.2.2:5060 -s rr -p 90 --pe sip -M 255.255.0.0
            ipvsadm -A -t 192.0.2.3:443 -s fo -b flag-3");
        assert_eq!(save_lines(ipvs), sh("ipvsadm -S -n"));

        let udp6 = ipvs.service(&svc("udp:[2001:db8::1]:53")).unwrap();
        assert_eq!(udp6.scheduler, Scheduler::SourceHashing);
        assert_eq!(
            udp6.persistence,
            Some(
                Persistence::new(Duration::from_secs(600))
                    .with_netmask(PersistenceNetmask::Ipv6(48))
            )
        );
        assert!(udp6.one_packet);
        assert_eq!(udp6.scheduler_flags, SchedulerFlags::FALLBACK);
        let sip = ipvs.service(&svc("udp:192.0.2.2:5060")).unwrap();
        assert_eq!(sip.persistence_engine.as_deref(), Some("sip"));
        assert_eq!(
            sip.persistence.unwrap().netmask,
            Some(PersistenceNetmask::Ipv4("255.255.0.0".parse().unwrap()))
        );
        let p = ipvs
            .service(&ServiceKey::fwmark6(10))
            .unwrap()
            .persistence
            .unwrap();
        assert_eq!(
            p.timeout,
            Duration::from_secs(360),
            "ipvsadm -p without a value sends 360"
        );
        assert_eq!(
            ipvs.service(&svc("tcp:192.0.2.3:443"))
                .unwrap()
                .scheduler_flags,
            SchedulerFlags::FLAG_3
        );

        let dests = ipvs.destinations(&svc("tcp:203.0.113.1:80")).unwrap();
        let find = |a: &str| {
            dests
                .iter()
                .find(|d| d.addr == addr(a))
                .unwrap_or_else(|| panic!("{a} in {dests:?}"))
        };
        let masq = find("198.51.100.10:8080");
        assert_eq!(
            (
                masq.forwarding,
                masq.weight,
                masq.upper_threshold,
                masq.lower_threshold
            ),
            (Forwarding::Masquerade, 4, 50, 5)
        );
        assert_eq!(
            find("198.51.100.21:80").forwarding,
            Forwarding::Tunnel(Tunnel::Ipip)
        );
        assert_eq!(
            find("198.51.100.22:80").forwarding,
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6081,
                checksum: TunnelChecksum::RemoteChecksum
            })
        );
        assert_eq!(
            find("198.51.100.23:80").forwarding,
            Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Checksum
            })
        );
        let fwm = ipvs.destinations(&ServiceKey::fwmark(9)).unwrap();
        assert_eq!((fwm[0].addr, fwm[0].weight), (addr("198.51.100.40:0"), 9));
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn update_delete_flush_and_zero() {
    with_each_handle(|ipvs| {
        let key = svc("tcp:203.0.113.1:80");
        ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        let dest = Destination::new(addr("198.51.100.10:80"), Forwarding::Masquerade);
        ipvs.add_destination(&key, &dest).unwrap();

        let updated = Service::new(key, Scheduler::WeightedLeastConnection)
            .with_persistence(Persistence::new(Duration::from_secs(30)));
        ipvs.update_service(&updated).unwrap();
        ipvs.update_destination(&key, &dest.clone().with_weight(5).with_thresholds(20, 2))
            .unwrap();
        assert_eq!(
            sh("ipvsadm -S -n"),
            "-A -t 203.0.113.1:80 -s wlc -p 30\n-a -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 5\n"
        );
        // Update replaces: dropping persistence really drops it.
        ipvs.update_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        assert_eq!(ipvs.service(&key).unwrap().persistence, None);

        ipvs.zero_service(&key).unwrap();
        ipvs.zero_all().unwrap();
        ipvs.delete_destination(&key, dest.addr).unwrap();
        assert_eq!(sh("ipvsadm -S -n"), "-A -t 203.0.113.1:80 -s rr\n");
        assert!(ipvs.destinations(&key).unwrap().is_empty());
        ipvs.delete_service(&key).unwrap();
        assert_eq!(sh("ipvsadm -S -n"), "");

        ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))
            .unwrap();
        ipvs.add_service(&Service::new(ServiceKey::fwmark(1), Scheduler::RoundRobin))
            .unwrap();
        ipvs.flush().unwrap();
        assert_eq!(sh("ipvsadm -S -n"), "");
        assert!(ipvs.services().unwrap().is_empty());
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_errors_are_typed_and_invalid_requests_change_nothing() {
    with_each_handle(|ipvs| {
        let key = svc("tcp:203.0.113.1:80");
        let service = Service::new(key, Scheduler::RoundRobin);
        let dest = Destination::new(addr("198.51.100.10:80"), Forwarding::Masquerade);
        let missing = svc("tcp:203.0.113.9:80");

        assert!(matches!(
            ipvs.delete_service(&key),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            ipvs.update_service(&service),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            ipvs.service(&key),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            ipvs.add_destination(&key, &dest),
            Err(Error::NoSuchService { .. })
        ));
        assert!(matches!(
            ipvs.destinations(&missing),
            Err(Error::NoSuchService { .. })
        ));

        ipvs.add_service(&service).unwrap();
        assert!(matches!(
            ipvs.add_service(&service),
            Err(Error::ServiceExists { .. })
        ));
        let err = ipvs
            .add_service(&Service::new(
                missing,
                Scheduler::Other("nosuchsched".into()),
            ))
            .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownSchedulerOrPe { scheduler, .. } if scheduler == "nosuchsched"),
            "{err:?}"
        );
        let err = ipvs
            .add_service(
                &Service::new(missing, Scheduler::RoundRobin)
                    .with_persistence(Persistence::new(Duration::from_secs(5)))
                    .with_persistence_engine("nosuchpe"),
            )
            .unwrap_err();
        assert!(matches!(err, Error::UnknownSchedulerOrPe { .. }), "{err:?}");

        ipvs.add_destination(&key, &dest).unwrap();
        assert!(matches!(
            ipvs.add_destination(&key, &dest),
            Err(Error::DestinationExists { .. })
        ));
        let other = addr("198.51.100.11:80");
        assert!(matches!(
            ipvs.delete_destination(&key, other),
            Err(Error::NoSuchDestination { .. })
        ));
        assert!(matches!(
            ipvs.update_destination(&key, &Destination::new(other, Forwarding::Masquerade)),
            Err(Error::NoSuchDestination { .. })
        ));
        assert!(matches!(
            ipvs.stop_daemon(DaemonRole::Backup),
            Err(Error::NoDaemon)
        ));

        // Invalid requests are refused before the kernel: the table is unchanged.
        let before = sh("ipvsadm -S -n");
        let v6 = Destination::new(addr("[2001:db8::5]:80"), Forwarding::Masquerade);
        assert!(matches!(
            ipvs.add_destination(&key, &v6),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            ipvs.update_destination(&key, &dest.clone().with_thresholds(1, 2)),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            ipvs.add_service(&Service::new(
                svc("tcp:203.0.113.2:0"),
                Scheduler::RoundRobin
            )),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(sh("ipvsadm -S -n"), before);
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn timeouts_round_trip_with_ipvsadm() {
    with_each_handle(|ipvs| {
        let start = ipvs.timeouts().unwrap();
        let shown = sh("ipvsadm -L --timeout");
        assert!(
            shown.contains(&format!(
                "Timeout (tcp tcpfin udp): {} {} {}",
                start.tcp.unwrap().as_secs(),
                start.tcp_fin.unwrap().as_secs(),
                start.udp.unwrap().as_secs()
            )),
            "{shown}"
        );
        let secs = Duration::from_secs;
        ipvs.set_timeouts(&Timeouts::new(Some(secs(901)), None, Some(secs(61))))
            .unwrap();
        let t = ipvs.timeouts().unwrap();
        assert_eq!(
            (t.tcp, t.tcp_fin, t.udp),
            (Some(secs(901)), start.tcp_fin, Some(secs(61))),
            "None leaves tcp_fin unchanged"
        );
        assert!(
            sh("ipvsadm -L --timeout")
                .contains(&format!("901 {} 61", start.tcp_fin.unwrap().as_secs()))
        );
        sh("ipvsadm --set 1000 100 10");
        assert_eq!(
            ipvs.timeouts().unwrap(),
            Timeouts::new(Some(secs(1000)), Some(secs(100)), Some(secs(10)))
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn sync_daemon_both_directions() {
    with_each_handle(|ipvs| {
        sh("ip link add sync0 type dummy && ip link set sync0 multicast on up");
        assert!(ipvs.daemons().unwrap().is_empty());
        let master = SyncDaemon::new(DaemonRole::Master, "sync0", 7)
            .with_mcast_group("239.1.2.3".parse().unwrap())
            .with_mcast_port(8850)
            .with_mcast_ttl(3)
            .with_max_len(1200);
        ipvs.start_daemon(&master).unwrap();
        assert!(matches!(
            ipvs.start_daemon(&master),
            Err(Error::DaemonRunning)
        ));
        let shown = sh("ipvsadm -L --daemon");
        assert!(
            shown.contains("master sync daemon (mcast=sync0, syncid=7, maxlen=1200, group=239.1.2.3, port=8850, ttl=3)"),
            "{shown}"
        );
        let read = ipvs.daemons().unwrap();
        assert_eq!(read, vec![master]);
        ipvs.stop_daemon(DaemonRole::Master).unwrap();
        assert!(sh("ipvsadm -L --daemon").trim().is_empty());

        sh(
            "ipvsadm --start-daemon backup --mcast-interface sync0 --syncid 200 --mcast-group ff02::1:3 --mcast-port 8851 --mcast-ttl 2",
        );
        let read = ipvs.daemons().unwrap();
        assert_eq!(read.len(), 1, "{read:?}");
        let backup = &read[0];
        assert_eq!(backup.role, DaemonRole::Backup);
        assert_eq!(backup.interface, "sync0");
        assert_eq!(backup.sync_id, 200);
        assert_eq!(
            backup.mcast_group,
            Some("ff02::1:3".parse::<IpAddr>().unwrap())
        );
        assert_eq!((backup.mcast_port, backup.mcast_ttl), (Some(8851), Some(2)));
        ipvs.stop_daemon(DaemonRole::Backup).unwrap();
        assert!(ipvs.daemons().unwrap().is_empty());
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn stats_move_with_real_traffic_and_zero_resets_them() {
    with_each_handle(|ipvs| {
        // This namespace is the director. Client namespace on 203.0.113.0/24,
        // real server namespace on 198.51.100.0/24; NAT through the VIP.
        let tag = std::process::id();
        let (client, server) = (format!("ipvsc{tag}"), format!("ipvss{tag}"));
        sh(&format!(
            "set -e
             ip netns add {client}; ip netns add {server}
             ip link add vc type veth peer name vc0 netns {client}
             ip link add vs type veth peer name vs0 netns {server}
             ip addr add 203.0.113.1/24 dev vc; ip link set vc up
             ip addr add 198.51.100.1/24 dev vs; ip link set vs up
             ip -n {client} addr add 203.0.113.2/24 dev vc0; ip -n {client} link set vc0 up; ip -n {client} link set lo up
             ip -n {server} addr add 198.51.100.10/24 dev vs0; ip -n {server} link set vs0 up; ip -n {server} link set lo up
             ip -n {server} route add default via 198.51.100.1
             sysctl -qw net.ipv4.ip_forward=1"
        ));
        let server_pid = sh(&format!(
            "ip netns exec {server} socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo hello-from-real-server' >/dev/null 2>&1 & echo $!"
        ));
        let server_pid = server_pid.trim().to_owned();
        let cleanup = || {
            let _ = ipvs_lab::sh_output(&format!(
                "kill {server_pid}; sleep 0.2; ip netns del {client}; ip netns del {server}"
            ));
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let key = svc("tcp:203.0.113.1:80");
            ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))
                .unwrap();
            ipvs.add_destination(
                &key,
                &Destination::new(addr("198.51.100.10:8080"), Forwarding::Masquerade),
            )
            .unwrap();
            sh(&format!(
                "ip netns exec {server} bash -c 'for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && exit 0; sleep 0.1; done; exit 1'"
            ));
            let requests = 5;
            for _ in 0..requests {
                let reply = sh(&format!(
                    "ip netns exec {client} timeout 20 bash -c 'exec 3<>/dev/tcp/203.0.113.1/80 && cat <&3'"
                ));
                assert_eq!(reply.trim(), "hello-from-real-server");
            }
            // Counters are published by the estimator every 2 s (6.12), and a
            // loaded VM may still deliver late FIN/ACK retransmissions: wait
            // until they show every connection and have not moved for three
            // reads 700 ms apart (longer than one estimator period).
            let mut unchanged = 0;
            let mut service = ipvs.service(&key).unwrap();
            for _ in 0..40 {
                std::thread::sleep(std::time::Duration::from_millis(700));
                let next = ipvs.service(&key).unwrap();
                unchanged = if next.stats == service.stats {
                    unchanged + 1
                } else {
                    0
                };
                service = next;
                if service.stats.connections == requests && unchanged >= 3 {
                    break;
                }
            }
            let dest = &ipvs.destinations(&key).unwrap()[0];
            for stats in [service.stats, dest.stats] {
                assert_eq!(stats.connections, requests, "{stats:?}");
                assert!(
                    stats.packets_in >= 3 * requests && stats.packets_out >= 2 * requests,
                    "{stats:?}"
                );
                assert!(
                    stats.bytes_in > 0 && stats.bytes_out > stats.packets_out * 40,
                    "{stats:?}"
                );
            }
            // ipvsadm reads the same counters. A read of ours on each side of
            // ipvsadm's proves nothing moved in between; retry if it did.
            let ipvsadm_counters = || {
                let listed = sh("ipvsadm -Ln --stats --exact -t 203.0.113.1:80");
                let line = listed.lines().find(|l| l.starts_with("TCP")).unwrap();
                let counters: Vec<u64> = line
                    .split_whitespace()
                    .skip(2)
                    .map(|n| n.parse().unwrap())
                    .collect();
                (counters, listed)
            };
            let ours = |s: ipvs::Stats| {
                vec![
                    s.connections,
                    s.packets_in,
                    s.packets_out,
                    s.bytes_in,
                    s.bytes_out,
                ]
            };
            let mut compared = false;
            for _ in 0..10 {
                let before = ipvs.service(&key).unwrap().stats;
                let (listed, text) = ipvsadm_counters();
                let after = ipvs.service(&key).unwrap().stats;
                if before == after {
                    assert_eq!(listed, ours(after), "{text}");
                    compared = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(700));
            }
            assert!(
                compared,
                "the counters never held still for one ipvsadm read"
            );

            ipvs.zero_service(&key).unwrap();
            let zeroed = ipvs.service(&key).unwrap().stats;
            assert_eq!(
                (zeroed.connections, zeroed.packets_in, zeroed.bytes_out),
                (0, 0, 0)
            );
        }));
        cleanup();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn threads_hammering_one_handle_never_mix_replies() {
    with_each_handle(|ipvs| {
        std::thread::scope(|scope| {
            for t in 0..6u16 {
                scope.spawn(move || {
                    let key = ServiceKey::tcp(SocketAddr::from(([203, 0, 113, 1], 1000 + t)));
                    ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))
                        .unwrap();
                    for i in 0..15u8 {
                        let dest =
                            SocketAddr::from(([198, 51, 100, 10 + t as u8], 2000 + u16::from(i)));
                        ipvs.add_destination(
                            &key,
                            &Destination::new(dest, Forwarding::Masquerade)
                                .with_weight(u32::from(i)),
                        )
                        .unwrap();
                        let dests = ipvs.destinations(&key).unwrap();
                        assert_eq!(dests.len(), usize::from(i) + 1);
                        assert!(
                            dests.iter().all(|d| d.addr.ip() == dest.ip()),
                            "another thread's reply: {dests:?}"
                        );
                        assert_eq!(ipvs.service(&key).unwrap().key, key);
                        let all = ipvs.services().unwrap();
                        assert!(all.iter().any(|s| s.key == key));
                    }
                });
            }
        });
        assert_eq!(save_lines(ipvs), sh("ipvsadm -S -n"));
        assert_eq!(ipvs.services().unwrap().len(), 6);
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn handle_opened_in_another_namespace_stays_there() {
    for driver in DRIVERS {
        in_netns(move || opened_in_another_namespace(driver));
    }
}

fn opened_in_another_namespace(driver: ipvs_lab::Driver) {
    {
        let name = format!("ipvsrs{}", std::process::id());
        sh(&format!("ip netns add {name}"));
        let result = std::panic::catch_unwind(|| {
            let there = Handle::in_netns(driver, &name).expect("open in the named namespace");
            there
                .add_service(&Service::new(
                    svc("udp:192.0.2.53:53"),
                    Scheduler::RoundRobin,
                ))
                .unwrap();
            assert_eq!(
                sh(&format!("ip netns exec {name} ipvsadm -S -n")),
                "-A -u 192.0.2.53:53 -s rr\n"
            );
            // Listing opens a second socket: there too.
            assert_eq!(there.services().unwrap().len(), 1);
            // The calling thread did not move: its own table is empty.
            assert_eq!(sh("ipvsadm -S -n"), "");
            let here = Handle::new(driver).unwrap();
            assert!(here.services().unwrap().is_empty());
            let file = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
            let by_fd = Handle::in_netns_fd(driver, std::os::fd::AsFd::as_fd(&file)).unwrap();
            assert_eq!(by_fd.services().unwrap().len(), 1);
            let missing = Handle::in_netns(driver, "no-such-netns-here");
            assert!(
                matches!(&missing, Err(Error::Namespace(e)) if e.namespace.contains("no-such-netns-here")),
                "{missing:?}"
            );
        });
        let _ = ipvs_lab::sh_output(&format!("ip netns del {name}"));
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn raw_request_escape_hatch() {
    with_each_handle(|ipvs| {
        use ipvs::ipvs_sys::{InfoAttribute, IpvsAttribute, IpvsCmd, IpvsMessage};
        let replies = ipvs
            .request(&IpvsMessage::new(IpvsCmd::GetInfo, vec![]), false)
            .unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].cmd, IpvsCmd::SetInfo);
        assert!(
            replies[0]
                .attributes
                .contains(&IpvsAttribute::Info(InfoAttribute::Version(0x010201)))
        );
        let err = ipvs
            .request(&IpvsMessage::new(IpvsCmd::Other(99), vec![]), false)
            .unwrap_err();
        assert!(
            matches!(err, Error::Kernel { errno, .. } if errno == 95),
            "EOPNOTSUPP: {err:?}"
        );
        // A service dump (which runs on the handle's second socket) and a
        // destination dump (on the first).
        let web = Service::new(svc("tcp:203.0.113.1:80"), Scheduler::RoundRobin);
        ipvs.add_service(&web).unwrap();
        let real = Destination::new(addr("198.51.100.10:80"), Forwarding::Masquerade);
        ipvs.add_destination(&web.key, &real).unwrap();
        let services = ipvs
            .request(&IpvsMessage::new(IpvsCmd::GetService, vec![]), true)
            .unwrap();
        assert_eq!(services.len(), 1, "{services:?}");
        assert_eq!(services[0].cmd, IpvsCmd::NewService);
        let [IpvsAttribute::Service(service)] = services[0].attributes.as_slice() else {
            panic!("{services:?}")
        };
        let destinations = ipvs
            .request(
                &IpvsMessage::new(
                    IpvsCmd::GetDest,
                    vec![IpvsAttribute::Service(service.clone())],
                ),
                true,
            )
            .unwrap();
        assert_eq!(destinations.len(), 1, "{destinations:?}");
        assert_eq!(destinations[0].cmd, IpvsCmd::NewDest);
        ipvs.delete_service(&web.key).unwrap();
    });
}

/// Set by [`permission_denied_without_cap_net_admin`] for the copy of this
/// binary it runs as an unprivileged user.
const UNPRIVILEGED_ENV: &str = "IPVS_RS_UNPRIVILEGED_CHILD";

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn permission_denied_without_cap_net_admin() {
    in_netns(|| {
        let exe = std::env::current_exe().unwrap();
        // The same binary, as nobody (no capabilities), in this namespace,
        // running only the child half below.
        let out = ipvs_lab::sh_output(&format!(
            "{UNPRIVILEGED_ENV}=1 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
             {} --ignored --exact unprivileged_child_reports_permission_denied --nocapture",
            exe.display()
        ));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("CHILD-SAW-PERMISSION-DENIED"), "{text}");
    });
}

/// The unprivileged half of [`permission_denied_without_cap_net_admin`]; a
/// no-op unless that test runs it.
#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn unprivileged_child_reports_permission_denied() {
    if std::env::var_os(UNPRIVILEGED_ENV).is_none() {
        return;
    }
    // Resolving the family needs no privilege; IPVS commands do.
    for driver in DRIVERS {
        unprivileged(&Handle::new(driver).expect("GETFAMILY works unprivileged"));
    }
    println!("CHILD-SAW-PERMISSION-DENIED");
}

fn unprivileged(ipvs: &Handle) {
    let err = ipvs.info().unwrap_err();
    assert!(
        matches!(
            err,
            Error::PermissionDenied {
                op: ipvs::Op::GetInfo
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("CAP_NET_ADMIN"));
    let err = ipvs
        .add_service(&Service::new(
            svc("tcp:192.0.2.1:80"),
            Scheduler::RoundRobin,
        ))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn destination_lists_stay_whole_while_the_service_changes() {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    with_each_handle(|ipvs| {
        let web = Service::new(svc("tcp:203.0.113.1:80"), Scheduler::RoundRobin);
        ipvs.add_service(&web).unwrap();
        // Destinations that stay, over many page-sized datagrams.
        let kept: BTreeSet<SocketAddr> = (1..=200)
            .map(|port| SocketAddr::from(([198, 51, 100, 10], port)))
            .collect();
        for addr in &kept {
            let dest = Destination::new(*addr, Forwarding::Masquerade);
            ipvs.add_destination(&web.key, &dest).unwrap();
        }
        let check = |listed: &[Destination]| {
            let listed: Vec<SocketAddr> = listed
                .iter()
                .map(|d| d.addr)
                .filter(|a| kept.contains(a))
                .collect();
            let distinct: BTreeSet<SocketAddr> = listed.iter().copied().collect();
            assert_eq!(listed.len(), distinct.len(), "a destination listed twice");
            let skipped: Vec<_> = kept.difference(&distinct).collect();
            assert!(skipped.is_empty(), "skipped {skipped:?}");
        };
        let (stop, done) = (AtomicBool::new(false), AtomicBool::new(false));
        /// Stops the writer however the readings end (a failed assertion
        /// would otherwise wait for it).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        std::thread::scope(|scope| {
            // Another writer, in this namespace (a thread inherits it):
            // one destination joins the head of the list and leaves again,
            // 30 times, shifting the kernel's count under every dump that
            // spans a change (without reading again, such a reading lists
            // one destination twice or skips one).
            scope.spawn(|| {
                let writer = ipvs::Ipvs::new().unwrap();
                let churn = Destination::new(addr("198.51.100.11:80"), Forwarding::Masquerade);
                for _ in 0..15 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    writer.add_destination(&web.key, &churn).unwrap();
                    std::thread::sleep(Duration::from_millis(40));
                    writer.delete_destination(&web.key, churn.addr).unwrap();
                    std::thread::sleep(Duration::from_millis(40));
                }
                done.store(true, Ordering::Relaxed);
            });
            let _stop = Stop(&stop);
            // Each reading that returns is whole; under changes this fast
            // some readings never agree, which is `DumpInterrupted`.
            let (mut readings, mut whole) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                match ipvs.destinations(&web.key) {
                    Ok(listed) => {
                        check(&listed);
                        whole += 1;
                    }
                    Err(Error::DumpInterrupted { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                readings += 1;
            }
            eprintln!("{whole} of {readings} readings during the changes agreed");
            assert!(readings >= 2, "only {readings} readings during the changes");
        });
        // The writer is done: the list reads whole at once.
        let listed = ipvs.destinations(&web.key).unwrap();
        check(&listed);
        assert_eq!(listed.len(), kept.len());
        ipvs.delete_service(&web.key).unwrap();
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn large_tables_are_dumped_across_many_datagrams() {
    with_each_handle(|ipvs| {
        // 500 services and 450 destinations: several 32 KiB dump datagrams
        // each (configuration only, no traffic).
        let mut rules = String::new();
        for port in 1..=500u16 {
            rules.push_str(&format!("-A -t 198.51.100.1:{port} -s wrr\n"));
        }
        rules.push_str("-A -u 192.0.2.1:53 -s rr\n");
        for host in 1..=150u8 {
            for port in [53u16, 5353, 8053] {
                rules.push_str(&format!(
                    "-a -u 192.0.2.1:53 -r 203.0.113.{host}:{port} -m -w {host}\n"
                ));
            }
        }
        sh(&format!("ipvsadm -R <<'RULES'\n{rules}RULES"));
        let services = ipvs.services().unwrap();
        assert_eq!(services.len(), 501);
        let dests = ipvs.destinations(&svc("udp:192.0.2.1:53")).unwrap();
        assert_eq!(dests.len(), 450);
        assert!(dests.iter().all(|d| d.weight
            == u32::from(match d.addr.ip() {
                IpAddr::V4(v4) => v4.octets()[3],
                IpAddr::V6(_) => 0,
            })));
        // The same lines as ipvsadm, compared as sets (one dest dump only).
        let saved = ipvsadm_save_settled();
        let mut theirs: Vec<&str> = saved.lines().collect();
        let mut ours: Vec<String> = services.iter().map(ToString::to_string).collect();
        ours.extend(dests.iter().map(|d| format!("-a -u 192.0.2.1:53 {d}")));
        theirs.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, theirs);
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn a_dump_abandoned_at_its_deadline_leaves_the_handle_usable() {
    with_each_handle(|ipvs| {
        // Enough services for a dump of several datagrams.
        let mut rules = String::new();
        for port in 1..=600u16 {
            rules.push_str(&format!("-A -t 198.51.100.1:{port} -s wrr\n"));
        }
        sh(&format!("ipvsadm -R <<'RULES'\n{rules}RULES"));
        // A deadline already past when the first datagram is queued: the
        // call gives up with the kernel's dump still running on the socket,
        // which would make the next dump fail with EBUSY.
        let hasty = ipvs.with_timeout(std::time::Duration::ZERO);
        for _ in 0..3 {
            assert!(
                matches!(hasty.services(), Err(Error::Timeout { .. })),
                "{:?}",
                ipvs.driver()
            );
            assert_eq!(ipvs.services().expect("the next dump works").len(), 600);
        }
        // The same after a batch and a snapshot cut short.
        let mut batch = ipvs::Batch::new();
        for port in 1..=50u16 {
            batch
                .delete_service(&svc(&format!("tcp:198.51.100.1:{port}")))
                .unwrap();
        }
        let outcome = hasty.execute_batch(&batch).unwrap();
        assert!(outcome.results.iter().all(|r| r.is_err()));
        assert!(matches!(hasty.snapshot(), Err(Error::Timeout { .. })));
        let left = ipvs.snapshot().unwrap().services.len();
        assert!((550..=600).contains(&left), "{left}");
        assert_eq!(save_lines(ipvs), ipvsadm_save_settled());
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn a_sync_daemon_on_a_missing_interface_is_no_such_interface_naming_it() {
    with_each_handle(|ipvs| {
        let daemon = SyncDaemon::new(DaemonRole::Master, "ipvsrs-none0", 1);
        let err = ipvs.start_daemon(&daemon).unwrap_err();
        assert!(
            matches!(&err, Error::NoSuchInterface { interface: Some(name) } if name == "ipvsrs-none0"),
            "{err:?}"
        );
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENODEV));
        assert!(err.to_string().contains("ipvsrs-none0"), "{err}");
        assert!(ipvs.daemons().unwrap().is_empty());
    });
}
