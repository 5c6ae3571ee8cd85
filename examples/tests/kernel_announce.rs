// SPDX-License-Identifier: MIT OR Apache-2.0
//! Announcing an IPv6 VIP at failover with an unsolicited neighbour
//! advertisement (RFC 4861 §7.2.6), inside the lab VM
//! (`failover::announce`, `failover_director promote`).
//!
//! One veth pair: a "director" (this test's namespace, 2001:db8::1) and a
//! "client" (2001:db8::50) whose neighbour entry for the VIP 2001:db8::100
//! still points at the old director (02:00:00:00:00:01, STALE), as it would
//! right after a failover. The director takes the VIP; only its
//! advertisement moves the client's entry to its MAC.

use std::time::{Duration, Instant};

use ipvs::{DaemonRole, Ipvs};
use ipvs_examples::director::failover::{self, FailoverError};
use ipvs_lab::{in_netns, sh};

mod common;
use common::Lab;

const PAIR: &str = env!("CARGO_BIN_EXE_failover_director");

const VIP: &str = "2001:db8::100";
/// The old director's MAC, as the client last learnt it.
const OLD_MAC: &str = "02:00:00:00:00:01";

/// The client's neighbour entry for `addr` (`ip -6 neigh show`), trimmed;
/// empty when it has none.
fn client_entry(client: &str, addr: &str) -> String {
    sh(&format!("ip -n {client} -6 neigh show {addr} dev eth0"))
        .trim()
        .to_string()
}

/// This namespace's MAC on eth0 (`link/ether X`; /sys/class/net would show
/// the VM's namespace, not this thread's).
fn director_mac() -> String {
    let out = sh("ip -o link show dev eth0");
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no link/ether in {out}"))
        .to_string()
}

/// The director's addresses on eth0 with their flags.
fn director_addresses() -> String {
    sh("ip -6 addr show dev eth0")
}

/// The director (this namespace) and the client on one link; returns the
/// client's namespace. The client's entry for the VIP points at the old
/// director.
fn topology(lab: &mut Lab) -> String {
    let c = lab.ns("client");
    sh(&format!(
        "ip link add eth0 type veth peer name eth0 netns {c}\n\
         ip addr add 2001:db8::1/64 dev eth0 nodad && ip link set eth0 up\n\
         ip -n {c} addr add 2001:db8::50/64 dev eth0 nodad && ip -n {c} link set eth0 up\n\
         ip -n {c} -6 neigh replace {VIP} lladdr {OLD_MAC} dev eth0 nud stale"
    ));
    let entry = client_entry(&c, VIP);
    assert!(entry.contains(OLD_MAC), "seeded entry: {entry}");
    c
}

fn promote(announce: u32) -> String {
    let out = sh(&format!(
        "{PAIR} promote --vip {VIP} --vip-iface eth0 --announce {announce} \
         --sync-iface eth0 --sync-id 7 --mcast-group ff02::81"
    ));
    assert!(out.contains("promoted"), "{out}");
    out
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn an_unsolicited_neighbour_advertisement_moves_the_client_to_the_director() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("na6");
        let c = topology(&mut lab);
        let mac = director_mac();
        assert_ne!(mac, OLD_MAC);

        // A VIP added without nodad is tentative during duplicate address
        // detection (made to last 5 s here: one probe, 5 s apart), and a
        // raw socket cannot bind to it: EADDRNOTAVAIL.
        sh(&format!(
            "sysctl -qw net.ipv6.neigh.eth0.retrans_time_ms=5000\n\
             ip addr add {VIP}/128 dev eth0"
        ));
        let addrs = director_addresses();
        assert!(addrs.contains("tentative"), "{addrs}");
        let e = failover::announce(VIP.parse().unwrap(), "eth0", 1).unwrap_err();
        eprintln!("announcing a tentative VIP: {e}");
        match &e {
            FailoverError::Advertise { step, source, .. } => {
                assert_eq!(*step, "binding to the VIP", "{e}");
                assert_eq!(source.raw_os_error(), Some(99), "EADDRNOTAVAIL: {e}");
            }
            other => panic!("expected an Advertise error: {other}"),
        }
        sh(&format!(
            "ip addr del {VIP}/128 dev eth0\n\
             sysctl -qw net.ipv6.neigh.eth0.retrans_time_ms=1000"
        ));

        // The control: taking the VIP (promote adds it with nodad, as a
        // /128 when no prefix is given) without announcing it leaves the
        // client on the old MAC.
        promote(0);
        let addrs = director_addresses();
        let vip_line = addrs
            .lines()
            .find(|l| l.contains(&format!("{VIP}/128")))
            .unwrap_or_else(|| panic!("no VIP: {addrs}"));
        assert!(vip_line.contains("nodad"), "{vip_line}");
        assert!(!vip_line.contains("tentative"), "{vip_line}");
        std::thread::sleep(Duration::from_secs(3));
        let entry = client_entry(&c, VIP);
        eprintln!("without the announcement: {entry}");
        assert!(entry.contains(OLD_MAC), "{entry}");

        // The announcement: two advertisements, one a second.
        let start = Instant::now();
        promote(2);
        let took = start.elapsed();
        assert!(took >= Duration::from_secs(1), "one a second: {took:?}");
        let entry = client_entry(&c, VIP);
        eprintln!("after the announcement ({took:?}): {entry}");
        assert!(entry.contains(&format!("lladdr {mac} ")), "{entry}");
        assert!(
            entry.ends_with("STALE"),
            "unsolicited: STALE, not REACHABLE: {entry}"
        );

        // An advertisement for an address the client has no entry for
        // creates none (accept_untracked_na=0, the default).
        sh("ip addr add 2001:db8::101/128 dev eth0 nodad");
        failover::announce("2001:db8::101".parse().unwrap(), "eth0", 1).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let untracked = client_entry(&c, "2001:db8::101");
        assert!(untracked.is_empty(), "untracked: {untracked}");

        // An interface that does not exist: the rtnetlink lookup says so.
        let e = failover::announce(VIP.parse().unwrap(), "nosuch0", 1).unwrap_err();
        assert!(matches!(e, FailoverError::Net(_)), "{e}");

        let ipvs = Ipvs::new().unwrap();
        ipvs.set_timeout(Duration::from_secs(60));
        assert!(failover::stop_daemon(&ipvs, DaemonRole::Master).unwrap());
    });
}
