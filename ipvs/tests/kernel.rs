// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests: the typed API against a real kernel with IPVS, each test in
//! its own network namespace, cross-checked with `ipvsadm` in that
//! namespace. They run inside the lab VM (`cargo xtask test`); on a plain
//! host they are ignored. Inside the lab a missing IPVS fails them.

use std::net::SocketAddr;

use ipvs::{Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey};
use ipvs_lab::{in_netns, sh};

/// What `ipvsadm -S -n` prints for the table as this crate reads it
/// (services and destinations in ipvsadm's sort order).
fn save_lines(ipvs: &Ipvs) -> String {
    let mut services = ipvs.services().expect("list services");
    services.sort_by_key(|s| sort_key(&s.key));
    let mut out = String::new();
    for service in services {
        out.push_str(&format!("{service}\n"));
        let mut dests = ipvs.destinations(&service.key).expect("list destinations");
        dests.sort_by_key(|d| (d.addr.ip(), d.addr.port()));
        for dest in dests {
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
    in_netns(|| {
        let ipvs = Ipvs::new().expect("open a handle and resolve the IPVS family");
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
    in_netns(|| {
        let ipvs = Ipvs::new().unwrap();
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
        assert_eq!(save_lines(&ipvs), saved);
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
