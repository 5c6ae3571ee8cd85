// SPDX-License-Identifier: MIT OR Apache-2.0
//! The document's two setups, proven with traffic inside the lab VM: one
//! network namespace per host, a `serve_name` per real server answering
//! with its own name, a client in the test's own namespace. Traffic uses
//! documentation addresses only (192.0.2.0/24, 203.0.113.0/24).
//!
//! - NAT, rr over five real servers: an exactly even split.
//! - NAT, wrr and wlc with one weight-2 server: twice the share (wlc with
//!   the connections held open, so they stay active).
//! - DR: every request answered, replies bypass the director (its outbound
//!   counters stay zero), and only the director answers ARP for the VIP.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use ipvs::Ipvs;
use ipvs_lab::{in_netns, sh};

mod common;
use common::{Lab, Reply};

const NAT: &str = env!("CARGO_BIN_EXE_setup_nat_director");
const DR: &str = env!("CARGO_BIN_EXE_setup_dr_director");

/// One request: connect, read the name; the stream is returned so the
/// caller can hold the connection open.
fn request(vip: SocketAddr) -> (String, TcpStream) {
    let s = TcpStream::connect_timeout(&vip, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connecting to {vip}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading the name from {vip}: {e}"));
    (line.trim().to_string(), s)
}

/// `n` requests, each closed before the next; the count per name.
fn split(vip: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let (name, s) = request(vip);
        drop(s);
        *counts.entry(name).or_default() += 1;
    }
    counts
}

/// Client (this test's namespace) — director — bridge — real servers
/// 192.0.2.11.. (default route via the director at 192.0.2.1). The VIP
/// 203.0.113.10 sits on the director's client-side link 203.0.113.0/24.
fn nat_topology(lab: &mut Lab, servers: usize, port: u16, director_args: &str) -> String {
    let dir = lab.ns("dir");
    sh(&format!(
        "ip link add c0 type veth peer name ext netns {dir} && ip addr add 203.0.113.2/24 dev c0 && ip link set c0 up\n\
         ip -n {dir} addr add 203.0.113.1/24 dev ext && ip -n {dir} link set ext up\n\
         ip -n {dir} link add br0 type bridge && ip -n {dir} addr add 192.0.2.1/24 dev br0 && ip -n {dir} link set br0 up"
    ));
    for i in 1..=servers {
        let rs = lab.ns(&format!("rs{i}"));
        sh(&format!(
            "ip -n {dir} link add rs{i} type veth peer name eth0 netns {rs}\n\
             ip -n {dir} link set rs{i} master br0 up\n\
             ip -n {rs} addr add 192.0.2.1{i}/24 dev eth0 && ip -n {rs} link set eth0 up\n\
             ip -n {rs} route add default via 192.0.2.1"
        ));
        lab.serve(&rs, port, &format!("rs{i}"), Reply::Name);
    }
    let out = sh(&format!(
        "ip netns exec {dir} {NAT} --vip 203.0.113.10 --port {port} --vip-iface ext \
         --out-iface ext --masquerade-from 192.0.2.0/24 {director_args}"
    ));
    assert!(out.contains("LVS-NAT director ready"), "{out}");
    // The masquerading rule is really there (nftables, not iptables).
    let rules = sh(&format!(
        "ip netns exec {dir} nft list table ip ipvs_rs_nat"
    ));
    assert!(rules.contains("masquerade"), "{rules}");
    dir
}

fn servers_args(n: usize, weights: &[(usize, u32)]) -> String {
    (1..=n)
        .map(|i| {
            let w = weights
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, w)| *w)
                .unwrap_or(1);
            format!(" --real-server 192.0.2.1{i}@{w}")
        })
        .collect()
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn nat_rr_over_five_servers_splits_exactly_evenly() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("nrr");
        let args = format!("--scheduler rr{}", servers_args(5, &[]));
        nat_topology(&mut lab, 5, 80, &args);
        let got = split("203.0.113.10:80".parse().unwrap(), 15);
        assert_eq!(
            got,
            counts(&[("rs1", 3), ("rs2", 3), ("rs3", 3), ("rs4", 3), ("rs5", 3)])
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn nat_wrr_gives_the_weight_2_server_twice_the_share() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("nwrr");
        let args = format!("--scheduler wrr{}", servers_args(2, &[(2, 2)]));
        nat_topology(&mut lab, 2, 80, &args);
        let got = split("203.0.113.10:80".parse().unwrap(), 12);
        assert_eq!(got, counts(&[("rs1", 4), ("rs2", 8)]));
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn nat_wlc_with_connections_held_open_gives_twice_the_share() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("nwlc");
        // The document's first setup: wlc, one real server with -w 2.
        let args = format!("--preset wlc{}", servers_args(2, &[(2, 2)]));
        let dir = nat_topology(&mut lab, 2, 80, &args);
        let vip: SocketAddr = "203.0.113.10:80".parse().unwrap();
        let mut held = Vec::new();
        let mut got = BTreeMap::new();
        for _ in 0..9 {
            let (name, s) = request(vip);
            *got.entry(name).or_insert(0usize) += 1;
            held.push(s);
        }
        assert_eq!(got, counts(&[("rs1", 3), ("rs2", 6)]));
        // IPVS counts them as active connections, 3 and 6.
        let ipvs = Ipvs::in_netns(&dir).expect("IPVS in the director's namespace");
        let svc = ipvs.services().unwrap();
        assert_eq!(svc[0].scheduler.name(), "wlc");
        let mut active: Vec<(String, u32, u32)> = ipvs
            .destinations(&svc[0].key)
            .unwrap()
            .iter()
            .map(|d| (d.addr.to_string(), d.weight, d.active_connections))
            .collect();
        active.sort();
        assert_eq!(
            active,
            vec![
                ("192.0.2.11:80".to_string(), 1, 3),
                ("192.0.2.12:80".to_string(), 2, 6)
            ]
        );
        // The connection table as ipvsadm -Lnc shows it (ipvsadm-rs's
        // listing of it is compared in ipvsadm-rs/tests/kernel_ipvsadm.rs).
        let table = sh(&format!("ip netns exec {dir} ipvsadm -Lnc"));
        assert_eq!(
            table.lines().filter(|l| l.contains("ESTABLISHED")).count(),
            9
        );
        drop(held);
    });
}

/// An ARP probe from the client: who answers "who has VIP?" (sender MACs).
const ARP_PROBE: &str = r#"
import socket, struct, sys, time
ifname, src, target = sys.argv[1:4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0))
mac = s.getsockname()[4]
req = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
       + mac + socket.inet_aton(src) + b"\x00" * 6 + socket.inet_aton(target))
s.settimeout(0.2)
seen = set()
for _ in range(3):
    s.send(req)
    end = time.time() + 1.0
    while time.time() < end:
        try:
            data = s.recv(128)
        except socket.timeout:
            continue
        if (data[12:14] == b"\x08\x06" and data[20:22] == b"\x00\x02"
                and data[28:32] == socket.inet_aton(target)):
            seen.add(data[22:28].hex(":"))
print(" ".join(sorted(seen)))
"#;

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn dr_delivers_every_request_replies_bypass_the_director_and_only_it_answers_arp() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("dr");
        // One L2 segment (a bridge in its own "switch" namespace): client
        // 192.0.2.50, director 192.0.2.1 with the VIP 192.0.2.100 as an
        // alias, real servers 192.0.2.11-13 with the VIP on lo.
        let sw = lab.ns("sw");
        let dir = lab.ns("dir");
        sh(&format!(
            "ip -n {sw} link add br0 type bridge && ip -n {sw} link set br0 up\n\
             ip link add c0 type veth peer name pc netns {sw} && ip -n {sw} link set pc master br0 up\n\
             ip addr add 192.0.2.50/24 dev c0 && ip link set c0 up\n\
             ip -n {sw} link add pd type veth peer name eth0 netns {dir} && ip -n {sw} link set pd master br0 up\n\
             ip -n {dir} addr add 192.0.2.1/24 dev eth0 && ip -n {dir} link set eth0 up"
        ));
        for i in 1..=3 {
            let rs = lab.dr_real_server(&sw, i, "192.0.2.100");
            lab.serve(&rs, 23, &format!("rs{i}"), Reply::Name);
        }
        let out = sh(&format!(
            "ip netns exec {dir} {DR} --vip 192.0.2.100 --vip-iface eth0 \
             --real-server 192.0.2.11 --real-server 192.0.2.12 --real-server 192.0.2.13"
        ));
        assert!(out.contains("LVS-DR director ready"), "{out}");

        // Only the director answers ARP for the VIP.
        let director_mac = sh(&format!(
            "ip netns exec {dir} cat /sys/class/net/eth0/address"
        ));
        let answers = Command::new("python3")
            .args(["-c", ARP_PROBE, "c0", "192.0.2.50", "192.0.2.100"])
            .output()
            .expect("python3 ARP probe");
        let answers = String::from_utf8_lossy(&answers.stdout).trim().to_string();
        assert_eq!(answers, director_mac.trim(), "ARP answers for the VIP");

        // Every request is answered by a real server (wlc, the document's).
        let n = 9;
        let got = split("192.0.2.100:23".parse().unwrap(), n);
        assert_eq!(got.values().sum::<usize>(), n, "{got:?}");
        assert!(
            got.keys()
                .all(|k| ["rs1", "rs2", "rs3"].contains(&k.as_str())),
            "{got:?}"
        );

        // The director saw the requests and none of the replies. Counters
        // are summed from per-CPU values by the 2-second estimator on newer
        // kernels (6.12): poll until all connections are counted.
        let ipvs = Ipvs::in_netns(&dir).expect("IPVS in the director's namespace");
        let mut svc = ipvs.services().unwrap().remove(0);
        for _ in 0..10 {
            if svc.stats.connections >= n as u64 {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            svc = ipvs.services().unwrap().remove(0);
        }
        assert_eq!(svc.scheduler.name(), "wlc");
        let diag = || {
            sh(&format!(
                "ip neigh; ip netns exec {dir} ipvsadm -Lnc; ip netns exec {dir} ipvsadm -Ln --stats"
            ))
        };
        assert_eq!(
            svc.stats.connections,
            n as u64,
            "{:?}\n{got:?}\n{}",
            svc.stats,
            diag()
        );
        assert!(svc.stats.packets_in >= 3 * n as u64, "{:?}", svc.stats);
        assert_eq!(
            (svc.stats.packets_out, svc.stats.bytes_out),
            (0, 0),
            "{:?}",
            svc.stats
        );
    });
}
