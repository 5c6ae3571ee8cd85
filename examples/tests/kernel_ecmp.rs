// SPDX-License-Identifier: MIT OR Apache-2.0
//! An active/active director tier behind an ECMP router, inside the lab VM
//! (`ecmp_director`, `src/director/ecmp.rs`, `conf/bird-router.conf`,
//! `conf/bird-director.conf`; BIRD 2 from Debian).
//!
//! The client (this test's namespace) has 48 addresses, 198.51.100.10-57;
//! the router `rt` (198.51.100.1) runs BIRD with one eBGP session per
//! director over point-to-point links (203.0.113.0/30, .4/30, .8/30), merges
//! their routes for the VIP 192.0.2.100/32 into one multipath route and
//! hashes flows over it by their L4 header
//! (`net.ipv4.fib_multipath_hash_policy=1`). Directors d1-d3 each run BIRD
//! announcing the VIP, `sloppy_tcp`, and two LVS-DR services with the same
//! real servers in the same order: VIP:80 with `mh`, VIP:81 with `sh`. The
//! real servers (203.0.113.141-144) share a bridge in the router with the
//! directors' second links and answer the client through the router.
//!
//! Every client address opens one connection to each service. Which
//! director holds a flow is read from the directors' connection tables.
//!
//! 1. The flows spread over all three directors.
//! 2. d1's BIRD stops: the router withdraws d1. The flows the router now
//!    sends elsewhere (d1's, and with the kernel's hash-threshold multipath
//!    also some of a neighbour's) reach a director without an entry for
//!    them, which schedules the mid-stream segment (`sloppy_tcp`) with the
//!    same table: every established connection, `mh` and `sh` alike,
//!    answers from its real server. New connections are scheduled by d2 and
//!    d3 only.
//! 3. d1 comes back. New connections are opened; then a fourth real server
//!    joins every director (a scale-out), and d2's link goes down. A moved
//!    flow keeps its real server only where its scheduler maps its client
//!    to the same server with four servers as with three, which the
//!    `lb-sched` model of the kernel's schedulers predicts flow by flow:
//!    most moved `mh` flows keep theirs, most moved `sh` flows are reset.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipvs::conn::read_connections_in_netns;
use ipvs::{Destination, Forwarding, Ipvs, ServiceKey};
use ipvs_examples::director::conf;
use ipvs_lab::{in_netns, sh};
use lb_sched::{DestConfig, Flow, Scheduler};

mod common;
use common::{Daemon, Held, Lab, Reply, poll};

const ECMP: &str = env!("CARGO_BIN_EXE_ecmp_director");
const DR_RS: &str = env!("CARGO_BIN_EXE_setup_dr_real_server");

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The services: port and scheduler.
const SERVICES: [(u16, &str); 2] = [(80, "mh"), (81, "sh")];
/// Client addresses 198.51.100.10 onwards.
const CLIENTS: u8 = 48;
const ROUTER_AS: u32 = 64500;
const DIRECTOR_AS: u32 = 64501;
/// Longest wait for BGP to converge on the emulated CPUs of a busy machine.
const BGP_WAIT: Duration = Duration::from_secs(60);

/// Real server `n`'s address on the backend bridge (203.0.113.14N).
fn rs_addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 140 + n)
}

/// Director `n`'s (1-3) link to the router: (router's address, its own).
fn uplink(n: u8) -> (Ipv4Addr, Ipv4Addr) {
    let base = 4 * (n - 1);
    (
        Ipv4Addr::new(203, 0, 113, base + 1),
        Ipv4Addr::new(203, 0, 113, base + 2),
    )
}

/// A connection from client address `from` to service `port`, each answer
/// waited for up to 15 s.
fn connect(from: Ipv4Addr, port: u16) -> Held {
    let vip = SocketAddr::from((VIP, port));
    Held::open(vip, Some(IpAddr::V4(from)), Duration::from_secs(15))
}

/// Sends `text` on `h`: whether the same real server answers it, or the
/// connection was reset (or closed). A connection that stays silent, or
/// that another server answers, is an error.
fn still_served(h: &mut Held, text: &str) -> Result<bool, String> {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match h.say(text) {
        Ok(line) if line == h.echo_of(text) => Ok(true),
        Ok(line) => Err(format!("{} answered by another server: {line:?}", h.rs)),
        Err(e) if matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe) => Ok(false),
        Err(e) => Err(format!("{} (port {}): {e}", h.rs, h.port())),
    }
}

/// One connection per client address to each service.
fn open_all() -> Vec<Held> {
    let mut held = Vec::new();
    for i in 0..CLIENTS {
        for (port, _) in SERVICES {
            held.push(connect(Ipv4Addr::new(198, 51, 100, 10 + i), port));
        }
    }
    held
}

/// The tier.
struct Tier {
    lab: Lab,
    rt: String,
    directors: Vec<String>,
    bird: Vec<Daemon>,
}

impl Tier {
    fn build() -> Tier {
        let mut lab = Lab::new("ecmp");
        let rt = lab.ns("rt");
        // The router: forwarding, the L4 hash, no reverse-path filter (the
        // real servers' replies come from the VIP through the backend). The
        // backend bridge gets a MAC of its own: by default a bridge takes
        // its ports' lowest, so the fourth real server's port could change
        // it, and the real servers would send their replies to the old one
        // until their neighbour entry for the router went stale.
        sh(&format!(
            "set -e\n\
             ip netns exec {rt} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
             net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0\n\
             ip link add c0 type veth peer name cl netns {rt}\n\
             ip -n {rt} addr add 198.51.100.1/24 dev cl && ip -n {rt} link set cl up\n\
             ip link set c0 up\n\
             ip -n {rt} link add br0 address 02:00:00:00:01:29 type bridge \
             && ip -n {rt} addr add 203.0.113.129/25 dev br0 \
             && ip -n {rt} link set br0 up"
        ));
        let mut addrs = String::new();
        for i in 0..CLIENTS {
            addrs.push_str(&format!("address add 198.51.100.{}/24 dev c0\n", 10 + i));
        }
        let batch = lab.scratch().join("client-addresses");
        std::fs::write(&batch, addrs).unwrap();
        sh(&format!(
            "ip -batch {} && ip route add default via 198.51.100.1",
            batch.display()
        ));
        let mut directors = Vec::new();
        for n in 1..=3u8 {
            let d = lab.ns(&format!("d{n}"));
            let (router, own) = uplink(n);
            sh(&format!(
                "ip -n {rt} link add u{n} type veth peer name eth0 netns {d}\n\
                 ip -n {rt} addr add {router}/30 dev u{n} && ip -n {rt} link set u{n} up\n\
                 ip -n {d} addr add {own}/30 dev eth0 && ip -n {d} link set eth0 up\n\
                 ip -n {d} route add default via {router}\n\
                 ip -n {rt} link add b{n} type veth peer name eth1 netns {d} && ip -n {rt} link set b{n} master br0 up\n\
                 ip -n {d} addr add 203.0.113.13{n}/25 dev eth1 && ip -n {d} link set eth1 up"
            ));
            directors.push(d);
        }
        let mut tier = Tier {
            lab,
            rt,
            directors,
            bird: Vec::new(),
        };
        for n in 1..=3 {
            tier.real_server(n);
        }
        for d in tier.directors.clone() {
            for (port, sched) in SERVICES {
                let servers: String = (1..=3)
                    .map(|n| format!(" --real-server {}", rs_addr(n)))
                    .collect();
                let out = sh(&format!(
                    "ip netns exec {d} {ECMP} --vip {VIP} --port {port} --scheduler {sched}{servers}"
                ));
                assert!(out.contains("director ready"), "{out}");
            }
        }
        tier.start_bird_router();
        for n in 1..=3 {
            tier.start_bird_director(n);
        }
        tier.wait_next_hops(3, "BGP up: three next hops for the VIP");
        tier
    }

    /// Real server `n`: on the backend bridge, the VIP on `lo`, answering
    /// both services.
    fn real_server(&mut self, n: u8) {
        let rt = &self.rt;
        let rs = self.lab.ns(&format!("rs{n}"));
        sh(&format!(
            "ip -n {rt} link add r{n} type veth peer name eth0 netns {rs} && ip -n {rt} link set r{n} master br0 up\n\
             ip -n {rs} addr add {}/25 dev eth0 && ip -n {rs} link set eth0 up\n\
             ip -n {rs} route add default via 203.0.113.129",
            rs_addr(n)
        ));
        let out = sh(&format!(
            "ip netns exec {rs} {DR_RS} --vip {VIP} --iface eth0"
        ));
        assert!(out.contains("real server ready"), "{out}");
        for (port, _) in SERVICES {
            self.lab.serve(&rs, port, &format!("rs{n}"), Reply::Echo);
        }
    }

    fn bird(&mut self, ns: &str, name: &str, text: String) -> Daemon {
        let dir = self.lab.scratch();
        let conf = dir.join(format!("bird-{name}.conf"));
        std::fs::write(&conf, text).unwrap();
        let path = |ext: &str| {
            dir.join(format!("bird-{name}.{ext}"))
                .to_string_lossy()
                .into_owned()
        };
        Daemon::start(
            ns,
            "bird",
            &[
                "-f",
                "-c",
                &conf.to_string_lossy(),
                "-s",
                &path("ctl"),
                "-P",
                &path("pid"),
            ],
            &dir.join(format!("bird-{name}.log")),
        )
    }

    fn start_bird_router(&mut self) {
        let next_hops: Vec<String> = (1..=3).map(|n| uplink(n).1.to_string()).collect();
        let text = conf::fill(
            conf::BIRD_ROUTER,
            &[
                ("ROUTER_ID", "198.51.100.1"),
                ("LOCAL_AS", &ROUTER_AS.to_string()),
                ("DIRECTOR_AS", &DIRECTOR_AS.to_string()),
                ("DIRECTOR_1", &next_hops[0]),
                ("DIRECTOR_2", &next_hops[1]),
                ("DIRECTOR_3", &next_hops[2]),
            ],
        )
        .unwrap();
        let rt = self.rt.clone();
        let daemon = self.bird(&rt, "rt", text);
        self.bird.push(daemon);
    }

    /// Starts director `n`'s BIRD (again).
    fn start_bird_director(&mut self, n: u8) {
        let (router, own) = uplink(n);
        let text = conf::fill(
            conf::BIRD_DIRECTOR,
            &[
                ("ROUTER_ID", &own.to_string()),
                ("LOCAL_AS", &DIRECTOR_AS.to_string()),
                ("VIP", &VIP.to_string()),
                ("ROUTER", &router.to_string()),
                ("ROUTER_AS", &ROUTER_AS.to_string()),
            ],
        )
        .unwrap();
        let d = self.directors[n as usize - 1].clone();
        let daemon = self.bird(&d, &format!("d{n}"), text);
        match self.bird.get_mut(n as usize) {
            Some(slot) => *slot = daemon,
            None => self.bird.push(daemon),
        }
    }

    /// The router's next hops for the VIP.
    fn next_hops(&self) -> usize {
        sh(&format!("ip -n {} route show {VIP}", self.rt))
            .matches("nexthop via")
            .count()
    }

    fn wait_next_hops(&self, n: usize, what: &str) {
        let took = poll(BGP_WAIT, || self.next_hops() == n).unwrap_or_else(|| {
            let logs: Vec<String> = self.bird.iter().map(|b| b.tail(15)).collect();
            panic!(
                "{what}: not within {BGP_WAIT:?}: {}\n{}",
                sh(&format!("ip -n {} route show {VIP}", self.rt)),
                logs.join("\n")
            )
        });
        eprintln!("{what}: {took:?}");
    }

    /// Sends `text` on `h`: whether its real server still answers; a silent
    /// connection fails the test with where the tier has it.
    fn served(&self, h: &mut Held, text: &str) -> bool {
        still_served(h, text).unwrap_or_else(|e| {
            let on = self.holders().remove(&h.local).unwrap_or_default();
            panic!(
                "{}: {e}; entries on directors {on:?} (0-based); the router: {}",
                h.local,
                sh(&format!("ip -n {} route show {VIP}", self.rt))
            )
        })
    }

    /// Which directors (0-2) hold an entry for each client address:port.
    fn holders(&self) -> BTreeMap<SocketAddr, BTreeSet<usize>> {
        let mut out: BTreeMap<SocketAddr, BTreeSet<usize>> = BTreeMap::new();
        for (i, d) in self.directors.iter().enumerate() {
            for c in read_connections_in_netns(d).unwrap() {
                out.entry(c.client).or_default().insert(i);
            }
        }
        out
    }
}

/// Where each held connection is: the one director holding its entry.
fn placement(tier: &Tier, held: &[Held]) -> Vec<usize> {
    let holders = tier.holders();
    held.iter()
        .map(|h| {
            let on = holders.get(&h.local).cloned().unwrap_or_default();
            assert_eq!(on.len(), 1, "{} is on directors {on:?}", h.local);
            *on.first().unwrap()
        })
        .collect()
}

/// The connections of `held` that reached a director other than `before`
/// said, after traffic.
fn moved(tier: &Tier, held: &[Held], before: &[usize]) -> Vec<bool> {
    let holders = tier.holders();
    held.iter()
        .zip(before)
        .map(|(h, &was)| {
            holders
                .get(&h.local)
                .is_some_and(|on| on.iter().any(|&d| d != was))
        })
        .collect()
}

/// The `lb-sched` model: whether `sched` maps client `addr` to the same
/// real server with rs1-rs4 as with rs1-rs3 (added in that order, as the
/// directors did).
fn model_keeps(sched: &str, port: u16, addr: IpAddr) -> bool {
    fn keeps<S: Scheduler>(s: S, port: u16, addr: IpAddr) -> bool {
        let mut svc = lb_sched::Service::new(s);
        for n in 1..=3 {
            svc.add(DestConfig::new(IpAddr::V4(rs_addr(n)), port, 1))
                .unwrap();
        }
        let flow = Flow::from_client(addr, 0);
        let before = svc.pick_for(&flow);
        svc.add(DestConfig::new(IpAddr::V4(rs_addr(4)), port, 1))
            .unwrap();
        before.is_some() && svc.pick_for(&flow) == before
    }
    match sched {
        "mh" => keeps(lb_sched::Mh::new(0), port, addr),
        "sh" => keeps(lb_sched::Sh::new(0), port, addr),
        other => panic!("no model for {other}"),
    }
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn ecmp_tier_keeps_moved_flows_on_their_real_servers_with_mh_and_sloppy_tcp() {
    let _serial = common::serial();
    in_netns(|| {
        let start = Instant::now();
        let mut tier = Tier::build();

        // 1. Spread.
        let mut first = open_all();
        let on = placement(&tier, &first);
        let mut per_director = [0usize; 3];
        for &d in &on {
            per_director[d] += 1;
        }
        eprintln!(
            "ECMP: {} flows over d1/d2/d3: {per_director:?}",
            first.len()
        );
        assert!(
            per_director.iter().all(|&n| n > 0),
            "every director gets flows: {per_director:?}"
        );

        // 2. d1's daemon stops.
        tier.bird[1].stop("TERM");
        tier.wait_next_hops(2, "d1 withdrawn (BIRD stopped)");
        for h in &mut first {
            assert!(
                tier.served(h, "after d1 left"),
                "{} ({} on :{}) lost its real server",
                h.local,
                h.rs,
                h.port()
            );
        }
        let moved1 = moved(&tier, &first, &on);
        let of_d1 = on.iter().filter(|&&d| d == 0).count();
        let moved_of_d1 = on
            .iter()
            .zip(&moved1)
            .filter(|&(&d, &m)| d == 0 && m)
            .count();
        let moved_others = on
            .iter()
            .zip(&moved1)
            .filter(|&(&d, &m)| d != 0 && m)
            .count();
        eprintln!(
            "ECMP withdrawal, d1's BIRD stopped: {} of {} flows moved: {moved_of_d1} of d1's {of_d1}, \
             {moved_others} of the other {}; every moved connection kept its real server \
             (mh {}, sh {})",
            moved1.iter().filter(|&&m| m).count(),
            first.len(),
            first.len() - of_d1,
            first
                .iter()
                .zip(&moved1)
                .filter(|(h, m)| **m && h.port() == 80)
                .count(),
            first
                .iter()
                .zip(&moved1)
                .filter(|(h, m)| **m && h.port() == 81)
                .count(),
        );
        assert_eq!(moved_of_d1, of_d1, "every flow of d1 moved");
        // New connections go to d2 and d3 only.
        let fresh: Vec<Held> = (0..8)
            .map(|i| {
                connect(
                    Ipv4Addr::new(198, 51, 100, 10 + i),
                    SERVICES[i as usize % 2].0,
                )
            })
            .collect();
        let fresh_on = placement(&tier, &fresh);
        assert!(!fresh_on.contains(&0), "new flows avoid d1: {fresh_on:?}");

        // 3. d1 comes back; new connections; a fourth real server joins
        // everywhere; d2's link goes down.
        tier.start_bird_director(1);
        tier.wait_next_hops(3, "d1 back");
        let mut second = open_all();
        let on = placement(&tier, &second);
        tier.real_server(4);
        for d in &tier.directors {
            let ipvs = Ipvs::in_netns(d).unwrap();
            for (port, _) in SERVICES {
                let key = ServiceKey::tcp(SocketAddr::from((VIP, port)));
                let dest = Destination::new(
                    SocketAddr::from((rs_addr(4), port)),
                    Forwarding::DirectRoute,
                );
                ipvs.add_destination(&key, &dest).unwrap();
            }
        }
        sh(&format!("ip -n {} link set eth0 down", tier.directors[1]));
        tier.wait_next_hops(2, "d2 withdrawn (link down)");
        let served: Vec<bool> = second
            .iter_mut()
            .map(|h| tier.served(h, "after d2 left"))
            .collect();
        let moved2 = moved(&tier, &second, &on);
        let mut figures = Vec::new();
        for (port, sched) in SERVICES {
            let (mut moved_n, mut kept, mut predicted) = (0, 0, 0);
            for ((h, &m), &ok) in second.iter().zip(&moved2).zip(&served) {
                if h.port() != port {
                    continue;
                }
                if !m {
                    assert!(ok, "{} did not move and lost its real server", h.local);
                    continue;
                }
                moved_n += 1;
                let model = model_keeps(sched, port, h.local.ip());
                assert_eq!(
                    ok, model,
                    "{} ({sched}, was {}): kept {ok}, the model says {model}",
                    h.local, h.rs
                );
                kept += ok as usize;
                predicted += model as usize;
            }
            figures.push(format!(
                "{sched} {kept} of {moved_n} kept (model {predicted})"
            ));
        }
        let of_d2 = on.iter().filter(|&&d| d == 1).count();
        eprintln!(
            "ECMP withdrawal after rs4 joined, d2's link down: {} of {} flows moved ({of_d2} were d2's); \
             moved connections: {}",
            moved2.iter().filter(|&&m| m).count(),
            second.len(),
            figures.join(", ")
        );
        assert_eq!(
            on.iter()
                .zip(&moved2)
                .filter(|&(&d, &m)| d == 1 && m)
                .count(),
            of_d2,
            "every flow of d2 moved"
        );
        eprintln!("ECMP tier: {:?} in all", start.elapsed());
    });
}
