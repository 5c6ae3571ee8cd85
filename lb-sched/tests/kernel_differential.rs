// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel differential test: the same service configured in IPVS (with `ipvsadm`)
//! and in lb-sched; real TCP connections go through IPVS, and the sequence of real
//! servers the kernel chose must equal lb-sched's choices.
//!
//! Topology (LVS-NAT, all inside the lab VM, documentation ranges only):
//!
//! ```text
//!  client netns            director (the test's netns)          real server netns (one each)
//!  198.51.100.2, .10-.33 ── 198.51.100.1    VIP 192.0.2.1 (lo)    203.0.113.4i+1 ── 203.0.113.4i+2:8080
//! ```
//!
//! Each real server runs a tiny python3 TCP server that sends its name and holds the
//! connection until the client closes it. A python3 client driver in the client
//! netns opens connections one at a time (each waits for the server's name, so the
//! connection is ESTABLISHED in IPVS before the next SYN) and keeps them open, so
//! lc/wlc counts build up; closing the oldest ones makes the kernel count them
//! inactive. lb-sched sees the same events: a pick, the connection bound
//! inactive, then moved to active, and `conn_closing` on a close.
//!
//! Every scheduler lb-sched implements is covered. twos draws from the
//! kernel's `get_random_u32`, so its test compares chances, not choices (see
//! `kernel_twos_draws_as_lb_sched_does`). dh, lblc and lblcr run on a
//! firewall-mark service so that one service sees many destination addresses. A pick of no dest is
//! compared too: the kernel then refuses the connection (ICMP port unreachable).
//!
//! Run by `cargo xtask test` in the VM (`--ignored`, `IPVS_RS_LAB=1`).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ipvs_lab::{in_netns, sh, sh_output};
use lb_sched::{
    AnyScheduler, Clock, ConnState, DestConfig, DestId, Dests, Flow, Lblc, Lblcr, Scheduler,
    Service, Twos,
};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PY: &str = "/usr/bin/python3";

const SERVER: &str = r#"
import socket, sys, threading
name = sys.argv[1]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(512)
print("ready", flush=True)
def serve(c):
    try:
        c.sendall((name + "\n").encode())
        while c.recv(4096):
            pass
    except Exception:
        pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

const CLIENT: &str = r#"
import errno, socket, sys
held = []

def connect(src, sport, dst, dport):
    s = socket.socket()
    try:
        s.settimeout(20)
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport))
        s.connect((dst, dport))
    except BaseException:
        s.close()
        raise
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            break
        data += chunk
    held.append(s)
    return data.decode().strip() or "EOF"

print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "c":
        src, sport, dst, dport = cmd[1], int(cmd[2]), cmd[3], int(cmd[4])
        # A port the kernel picks (sport 0) at bind time may still be in
        # TIME_WAIT towards this destination: connect then fails before
        # any SYN leaves, so the director has scheduled nothing and a new
        # socket (a new port) is a clean retry. A given port is the test's
        # own, never retried.
        for attempt in range(8):
            try:
                print(connect(src, sport, dst, dport), flush=True)
            except ConnectionRefusedError:
                print("REFUSED", flush=True)
            except OSError as e:
                if sport == 0 and attempt < 7 and e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                    continue
                print("ERR " + repr(e), flush=True)
            except Exception as e:
                print("ERR " + repr(e), flush=True)
            break
    elif cmd[0] == "k":
        n = int(cmd[1])
        for s in held[:n]:
            s.close()
        del held[:n]
        print("OK", flush=True)
    elif cmd[0] == "x":
        for s in held:
            s.close()
        held.clear()
        print("OK", flush=True)
"#;

/// The namespaces, servers and client driver of one test; torn down on drop.
struct Lab {
    tag: String,
    nrs: usize,
    servers: Vec<Child>,
    client: Child,
    to_client: ChildStdin,
    from_client: BufReader<ChildStdout>,
}

fn rs_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, (4 * i + 2) as u8)
}

fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, (10 + i) as u8)
}

const CLIENT_ADDRS: usize = 24;

fn spawn_in(ns: &str, args: &[&str]) -> Child {
    Command::new("timeout")
        .arg("600")
        .args(["ip", "netns", "exec", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn in {ns}: {e}"))
}

fn read_line(r: &mut BufReader<ChildStdout>, what: &str) -> String {
    let mut l = String::new();
    let n = r.read_line(&mut l).unwrap_or(0);
    assert!(n > 0, "{what}: process ended without output");
    l.trim().to_string()
}

impl Lab {
    fn new(tag: &str, nrs: usize) -> Lab {
        let tag = format!("{tag}{}", std::process::id() % 10000);
        let c = format!("{tag}c");
        let mut script = format!(
            "set -e
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.icmp_ratelimit=0
ip addr add {VIP}/32 dev lo
ip netns add {c}
ip link add lbc0 type veth peer name eth0 netns {c}
ip addr add 198.51.100.1/24 dev lbc0
ip link set lbc0 up
ip -n {c} link set lo up
ip -n {c} addr add 198.51.100.2/24 dev eth0
ip -n {c} link set eth0 up
ip -n {c} route add default via 198.51.100.1
"
        );
        for i in 0..CLIENT_ADDRS {
            script += &format!("ip -n {c} addr add {}/24 dev eth0\n", client_addr(i));
        }
        for i in 0..nrs {
            let r = format!("{tag}r{i}");
            let gw = Ipv4Addr::new(203, 0, 113, (4 * i + 1) as u8);
            script += &format!(
                "ip netns add {r}
ip link add lbr{i} type veth peer name eth0 netns {r}
ip addr add {gw}/30 dev lbr{i}
ip link set lbr{i} up
ip -n {r} link set lo up
ip -n {r} addr add {}/30 dev eth0
ip -n {r} link set eth0 up
ip -n {r} route add default via {gw}
",
                rs_addr(i)
            );
        }
        sh(&script);
        let mut servers = Vec::new();
        for i in 0..nrs {
            let r = format!("{tag}r{i}");
            let name = format!("rs{i}");
            let mut child = spawn_in(&r, &[PY, "-c", SERVER, &name]);
            let mut out = BufReader::new(child.stdout.take().unwrap());
            assert_eq!(read_line(&mut out, &name), "ready");
            servers.push(child);
        }
        let mut client = spawn_in(&c, &[PY, "-u", "-c", CLIENT]);
        let to_client = client.stdin.take().unwrap();
        let mut from_client = BufReader::new(client.stdout.take().unwrap());
        assert_eq!(read_line(&mut from_client, "client"), "ready");
        Lab {
            tag,
            nrs,
            servers,
            client,
            to_client,
            from_client,
        }
    }

    /// Opens a connection from `src`:`sport` (0: any port) to `dst`:`dport`;
    /// returns the index of the real server that answered, or `None` when the
    /// director refused it (no dest: `ip_vs_leave` sends ICMP port unreachable).
    fn connect(&mut self, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Option<usize> {
        let l = self.command(&format!("c {src} {sport} {dst} {dport}"));
        if l == "REFUSED" {
            return None;
        }
        let i = l
            .strip_prefix("rs")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("connection {src}:{sport} -> {dst}:{dport} failed: {l}"));
        assert!(i < self.nrs);
        Some(i)
    }

    /// Closes the `n` oldest open connections (the client sends FIN).
    fn close_oldest(&mut self, n: usize) {
        assert_eq!(self.command(&format!("k {n}")), "OK");
    }

    fn close_all(&mut self) {
        assert_eq!(self.command("x"), "OK");
    }

    /// Sends one command line to the client driver; returns its answer.
    fn command(&mut self, line: &str) -> String {
        writeln!(self.to_client, "{line}").unwrap();
        self.to_client.flush().unwrap();
        read_line(&mut self.from_client, "client")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.client.wait();
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = sh_output(&format!("ip netns del {}c", self.tag));
        for i in 0..self.nrs {
            let _ = sh_output(&format!("ip netns del {}r{i}", self.tag));
        }
    }
}

/// One step of a scenario, applied to both IPVS and lb-sched.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `ipvsadm -a` real server i with weight, upper and lower threshold.
    Add(usize, u32, u32, u32),
    /// `ipvsadm -e` real server i with a new weight.
    Weight(usize, u32),
    /// `ipvsadm -e` real server i with weight, upper and lower threshold.
    Edit(usize, u32, u32, u32),
    /// `ipvsadm -d` real server i.
    Del(usize),
    /// `n` connections from the client's main address (connection schedulers).
    Conns(usize),
    /// Closes the `n` oldest open connections: the kernel counts them inactive
    /// (FIN_WAIT, then TIME_WAIT: 2 minutes, longer than a scenario) and
    /// lb-sched sees `conn_closing`.
    Close(usize),
    /// One connection from each client address (hashing schedulers).
    Clients,
    /// One connection from each client address, each from its own source port
    /// (`sh-port`, `mh-port`); rounds use different ports.
    PortClients(u16),
    /// One connection to each address of the virtual service (dh).
    Dsts,
    /// `n` seconds pass: the test sleeps, and lb-sched's clock moves as much.
    Sleep(u64),
}

/// A virtual service: how `ipvsadm` names it and the addresses a client reaches
/// it at (one for a TCP service; several for a firewall-mark service).
struct Virtual {
    spec: String,
    addrs: Vec<(Ipv4Addr, u16)>,
}

impl Virtual {
    /// One firewall-mark service for the 24 VIPs 192.0.2.1..=24, for the
    /// schedulers that read the destination address (dh, lblc, lblcr): the
    /// director owns 192.0.2.0/24 and nftables marks the client's packets to it.
    fn fwmark_vips() -> Virtual {
        sh("ip route add local 192.0.2.0/24 dev lo
nft add table ip lbmark
nft add chain ip lbmark pre '{ type filter hook prerouting priority -150; }'
nft add rule ip lbmark pre ip daddr 192.0.2.0/24 meta mark set 7");
        Virtual {
            spec: "-f 7".to_string(),
            addrs: (1..=24)
                .map(|h| (Ipv4Addr::new(192, 0, 2, h), 80))
                .collect(),
        }
    }

    /// The TCP service VIP:`vport`.
    fn tcp(vport: u16) -> Virtual {
        Virtual {
            spec: format!("-t {VIP}:{vport}"),
            addrs: vec![(VIP, vport)],
        }
    }
}

/// The source port of client address `c` in round `round` of [`Step::PortClients`].
fn client_port(c: usize, round: u16) -> u16 {
    40000 + 1009 * c as u16 + round
}

/// Runs `steps` on a new TCP service VIP:`vport`; see [`scenario_on`].
fn scenario(lab: &mut Lab, name: &str, flags: &str, vport: u16, steps: &[Step]) {
    scenario_on(lab, name, flags, &Virtual::tcp(vport), steps);
}

/// Runs `steps` on the new virtual service `virt` with scheduler `name` and
/// service flags (`-b`), in IPVS and in lb-sched, and asserts the same choices.
fn scenario_on(lab: &mut Lab, name: &str, flags: &str, virt: &Virtual, steps: &[Step]) {
    let sched = AnyScheduler::from_name(name, service_flags(flags)).unwrap();
    scenario_with(lab, sched, flags, virt, steps);
}

/// An lblc or lblcr scenario with sysctl `lblc_expiration` /
/// `lblcr_expiration` = `secs` seconds in the kernel and in lb-sched.
///
/// lb-sched's clock moves only at [`Step::Sleep`], the kernel's all the time:
/// the steps between two sleeps must take less than the expiration, or the two
/// could see different ages. The scenario asserts that they do.
fn locality_scenario(lab: &mut Lab, name: &str, virt: &Virtual, secs: u64, steps: &[Step]) {
    // The sysctl exists once the module is loaded.
    sh(&format!(
        "modprobe ip_vs_{name}\nsysctl -qw net.ipv4.vs.{name}_expiration={secs}"
    ));
    let clock = Clock::new();
    let sched = match name {
        "lblc" => AnyScheduler::Lblc(Lblc::with_clock(clock, secs * 1000)),
        "lblcr" => AnyScheduler::Lblcr(Lblcr::with_clock(clock, secs * 1000)),
        other => panic!("{other} has no expiration"),
    };
    scenario_with(lab, sched, "", virt, steps);
}

/// The `-b` flags as `IP_VS_SVC_F_SCHED*` bits.
fn service_flags(flags: &str) -> u32 {
    flags
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| match f {
            "flag-1" => 0x08,
            "flag-2" => 0x10,
            other => panic!("flag {other}"),
        })
        .fold(0, |a, b| a | b)
}

/// Runs `steps` on the new virtual service `virt` with lb-sched scheduler
/// `sched` (IPVS gets the scheduler of the same name) and service flags (`-b`),
/// and asserts the same choices.
fn scenario_with(lab: &mut Lab, sched: AnyScheduler, flags: &str, virt: &Virtual, steps: &[Step]) {
    let name = sched.name();
    let b = if flags.is_empty() {
        String::new()
    } else {
        format!("-b {flags}")
    };
    let spec = &virt.spec;
    sh(&format!("ipvsadm -A {spec} -s {name} {b}"));
    let mut svc = Service::new(sched);
    // The steps since the last sleep (see `locality_scenario`).
    let mut since_sleep = Instant::now();
    let check_phase = |since: Instant, svc: &Service<AnyScheduler>| {
        if let Some(e) = svc.scheduler().expiration() {
            let took = since.elapsed();
            assert!(
                took.as_millis() < u128::from(e),
                "steps between sleeps took {took:?}, longer than the expiration ({e} ms): \
                 the kernel's clock and lb-sched's may disagree; lengthen the expiration"
            );
        }
    };
    let mut ids: Vec<Option<DestId>> = vec![None; lab.nrs];
    let (mut kernel, mut ours) = (Vec::new(), Vec::new());
    // lb-sched's open connections, oldest first.
    let mut open: Vec<DestId> = Vec::new();
    let mut connect = |lab: &mut Lab,
                       svc: &mut Service<AnyScheduler>,
                       open: &mut Vec<DestId>,
                       ids: &[Option<DestId>],
                       (src, src_port): (Ipv4Addr, u16),
                       (dst, dst_port): (Ipv4Addr, u16)| {
        let k = lab.connect(src, src_port, dst, dst_port);
        let flow = Flow {
            src: IpAddr::V4(src),
            src_port,
            dst: IpAddr::V4(dst),
            dst_port,
        };
        let o = svc.pick_for(&flow);
        if let Some(id) = o {
            svc.conn_new(id, ConnState::Inactive).unwrap();
            svc.conn_established(id).unwrap();
            open.push(id);
        }
        kernel.push(k.map_or("none".to_string(), |k| format!("rs{k}")));
        ours.push(match o {
            Some(id) => format!("rs{}", ids.iter().position(|&x| x == Some(id)).unwrap()),
            None => "none".to_string(),
        });
    };
    let main = (Ipv4Addr::new(198, 51, 100, 2), 0);
    let to = virt.addrs[0];
    for &step in steps {
        match step {
            Step::Add(i, w, u, l) => {
                sh(&format!(
                    "ipvsadm -a {spec} -r {}:8080 -m -w {w} -x {u} -y {l}",
                    rs_addr(i)
                ));
                let cfg = DestConfig::new(IpAddr::V4(rs_addr(i)), 8080, w).thresholds(u, l);
                ids[i] = Some(svc.add(cfg).unwrap());
            }
            Step::Weight(i, w) => {
                sh(&format!(
                    "ipvsadm -e {spec} -r {}:8080 -m -w {w}",
                    rs_addr(i)
                ));
                svc.set_weight(ids[i].unwrap(), w).unwrap();
            }
            Step::Edit(i, w, u, l) => {
                sh(&format!(
                    "ipvsadm -e {spec} -r {}:8080 -m -w {w} -x {u} -y {l}",
                    rs_addr(i)
                ));
                svc.edit(ids[i].unwrap(), w, u, l).unwrap();
            }
            Step::Del(i) => {
                sh(&format!("ipvsadm -d {spec} -r {}:8080", rs_addr(i)));
                svc.remove(ids[i].take().unwrap()).unwrap();
            }
            Step::Conns(n) => {
                for _ in 0..n {
                    connect(lab, &mut svc, &mut open, &ids, main, to);
                }
            }
            Step::Close(n) => {
                lab.close_oldest(n);
                for id in open.drain(..n) {
                    // The director drops every packet of a connection whose
                    // server was deleted ("the destination server is not
                    // available", expire_nodest_conn = 0) until the server is
                    // added again; when a retransmitted FIN then gets through
                    // is up to TCP's timers, so scenarios do not close those.
                    assert!(
                        svc.dest(id).unwrap().in_list(),
                        "closing a deleted server's connection"
                    );
                    svc.conn_closing(id).unwrap();
                }
                wait_for_counts(spec, svc.dests());
            }
            Step::Clients => {
                for c in 0..CLIENT_ADDRS {
                    connect(lab, &mut svc, &mut open, &ids, (client_addr(c), 0), to);
                }
            }
            Step::PortClients(round) => {
                for c in 0..CLIENT_ADDRS {
                    let from = (client_addr(c), client_port(c, round));
                    connect(lab, &mut svc, &mut open, &ids, from, to);
                }
            }
            Step::Dsts => {
                for &dst in &virt.addrs {
                    connect(lab, &mut svc, &mut open, &ids, main, dst);
                }
            }
            Step::Sleep(secs) => {
                check_phase(since_sleep, &svc);
                std::thread::sleep(Duration::from_secs(secs));
                svc.scheduler()
                    .clock()
                    .expect("Sleep is for lblc and lblcr")
                    .advance(secs * 1000);
                since_sleep = Instant::now();
            }
        }
    }
    check_phase(since_sleep, &svc);
    lab.close_all();
    eprintln!(
        "{name} {flags} {spec}: {} connections\n  kernel   {}\n  lb-sched {}",
        kernel.len(),
        kernel.join(" "),
        ours.join(" ")
    );
    assert_eq!(
        kernel,
        ours,
        "{name} {flags}: the kernel's choices (left) differ from lb-sched's (right); steps {steps:?}\n{}",
        sh("ipvsadm -Ln")
    );
    let _ = svc.scheduler().name();
}

/// Waits until the kernel counts as many active and inactive connections over
/// the real servers of `spec` (`ipvsadm -Ln`'s ActiveConn and InActConn
/// columns) as lb-sched over `dests`: the client's FINs have passed the director.
fn wait_for_counts(spec: &str, dests: &Dests) {
    let (active, inactive) = dests.iter().fold((0, 0), |(a, i), (_, d)| {
        (a + d.active() as usize, i + d.inactive() as usize)
    });
    let mut last = String::new();
    for _ in 0..100 {
        last = sh(&format!("ipvsadm -Ln {spec}"));
        let (mut a, mut i) = (0, 0);
        for line in last.lines().filter(|l| l.trim_start().starts_with("->")) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // The column header also starts with "->"; its last two fields are words.
            if let [.., act, inact] = cols[..]
                && let (Ok(act), Ok(inact)) = (act.parse::<usize>(), inact.parse::<usize>())
            {
                a += act;
                i += inact;
            }
        }
        if (a, i) == (active, inactive) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the kernel never counted {active} active and {inactive} inactive connections:\n{last}");
}

use Step::*;

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_rr_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kr", 4);
        // ipvs-reference §5.2: list C, B, A; delete the saved position; add at the head.
        scenario(
            &mut lab,
            "rr",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 1, 0, 0),
                Add(2, 1, 0, 0),
                Conns(5),
                Del(1),
                Conns(4),
                Add(3, 1, 0, 0),
                Conns(5),
                Weight(0, 0),
                Conns(4),
                Weight(0, 2),
                Conns(3),
            ],
        );
        // OVERLOAD: rs0 takes at most 2 connections (upper threshold 2), rs2 3;
        // raising rs0's upper threshold clears its flag (`__ip_vs_update_dest`),
        // lowering rs2's keeps it set.
        scenario(
            &mut lab,
            "rr",
            "",
            81,
            &[
                Add(0, 1, 2, 0),
                Add(1, 1, 0, 0),
                Add(2, 1, 3, 1),
                Conns(9),
                Edit(0, 1, 4, 0),
                Edit(2, 1, 2, 0),
                Conns(6),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_wrr_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kw", 4);
        scenario(
            &mut lab,
            "wrr",
            "",
            80,
            &[Add(0, 4, 0, 0), Add(1, 3, 0, 0), Add(2, 2, 0, 0), Conns(18)],
        );
        scenario(
            &mut lab,
            "wrr",
            "",
            81,
            &[Add(0, 1, 0, 0), Add(1, 2, 0, 0), Conns(9)],
        );
        // gcd 2, a weight change mid-sequence, a delete and an add.
        scenario(
            &mut lab,
            "wrr",
            "",
            82,
            &[
                Add(0, 4, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 6, 0, 0),
                Conns(7),
                Weight(0, 3),
                Conns(8),
                Del(2),
                Conns(5),
                Add(3, 5, 0, 0),
                Conns(8),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_lc_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kl", 4);
        scenario(
            &mut lab,
            "lc",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 5, 0, 0),
                Add(2, 1, 0, 0),
                Conns(7),
                Add(3, 1, 0, 0),
                Conns(6),
                Weight(2, 0),
                Conns(4),
            ],
        );
        // A deleted server keeps its connections in the kernel's trash; added
        // again, it comes back with them.
        scenario(
            &mut lab,
            "lc",
            "",
            82,
            &[
                Add(0, 1, 0, 0),
                Add(1, 1, 0, 0),
                Add(2, 1, 0, 0),
                Conns(6),
                Del(1),
                Conns(2),
                Close(1),
                Add(1, 1, 0, 0),
                Conns(5),
            ],
        );
        // Closed connections count 1, open ones 256 (`ip_vs_dest_conn_overhead`).
        scenario(
            &mut lab,
            "lc",
            "",
            81,
            &[
                Add(0, 1, 0, 0),
                Add(1, 1, 0, 0),
                Add(2, 1, 0, 0),
                Conns(6),
                Close(1),
                Conns(3),
                Close(2),
                Conns(4),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_wlc_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kc", 4);
        scenario(
            &mut lab,
            "wlc",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 3, 0, 0),
                Conns(12),
                Add(3, 4, 0, 0),
                Conns(8),
                Weight(1, 6),
                Conns(5),
            ],
        );
        scenario(
            &mut lab,
            "wlc",
            "",
            81,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 3, 0, 0),
                Conns(12),
                Close(5),
                Conns(6),
                Weight(0, 3),
                Conns(4),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_sed_matches() {
    in_netns(|| {
        let mut lab = Lab::new("ke", 4);
        // sed counts only active connections: (active + 1) / weight.
        scenario(
            &mut lab,
            "sed",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 5, 0, 0),
                Conns(12),
                Close(4),
                Conns(6),
                Weight(1, 4),
                Conns(5),
                Add(3, 2, 0, 0),
                Conns(4),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_nq_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kn", 4);
        // nq: the first idle server, else sed; closing makes servers idle again.
        scenario(
            &mut lab,
            "nq",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 5, 0, 0),
                Conns(10),
                Close(4),
                Conns(6),
                Weight(2, 0),
                Conns(3),
                Add(3, 1, 0, 0),
                Conns(3),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_fo_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kf", 4);
        // The first of the heaviest servers until it overloads (upper threshold
        // 3); raising the threshold clears OVERLOAD; a heavier server takes over.
        scenario(
            &mut lab,
            "fo",
            "",
            80,
            &[
                Add(0, 2, 0, 0),
                Add(1, 5, 0, 0),
                Add(2, 5, 3, 1),
                Add(3, 1, 0, 0),
                Conns(5),
                Edit(2, 5, 6, 0),
                Conns(4),
                Weight(0, 9),
                Conns(3),
                Del(0),
                Conns(2),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_ovf_matches() {
    in_netns(|| {
        let mut lab = Lab::new("ko", 4);
        // The heaviest server while active <= weight; when every server is over
        // its weight the director refuses; closing makes room again.
        scenario(
            &mut lab,
            "ovf",
            "",
            80,
            &[
                Add(0, 3, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Conns(9),
                Close(3),
                Conns(4),
                Weight(2, 4),
                Conns(3),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_dh_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kd", 4);
        // dh hashes the destination address, so one firewall-mark service takes
        // the client to 24 VIPs.
        let virt = Virtual::fwmark_vips();
        // A quiesced server's VIPs are refused (dh has no fallback); a delete
        // rebuilds the table.
        scenario_on(
            &mut lab,
            "dh",
            "",
            &virt,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                Dsts,
                Weight(1, 0),
                Dsts,
                Del(2),
                Dsts,
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_sh_matches() {
    in_netns(|| {
        let mut lab = Lab::new("ks", 4);
        scenario(
            &mut lab,
            "sh",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                Clients,
            ],
        );
        // sh-fallback: a quiesced server's clients are re-hashed elsewhere.
        scenario(
            &mut lab,
            "sh",
            "flag-1",
            81,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                Weight(3, 0),
                Clients,
            ],
        );
        // sh-port: the source port is hashed too.
        scenario(
            &mut lab,
            "sh",
            "flag-2",
            82,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                PortClients(0),
            ],
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_mh_matches() {
    in_netns(|| {
        let mut lab = Lab::new("km", 4);
        scenario(
            &mut lab,
            "mh",
            "",
            80,
            &[
                Add(0, 1, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                Clients,
            ],
        );
        // mh-fallback with a quiesced server (its slots stay, lookups fall back).
        scenario(
            &mut lab,
            "mh",
            "flag-1",
            81,
            &[
                Add(0, 5, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                Weight(0, 0),
                Clients,
            ],
        );
        // mh-port with mh-fallback.
        scenario(
            &mut lab,
            "mh",
            "flag-1,flag-2",
            82,
            &[
                Add(0, 5, 0, 0),
                Add(1, 2, 0, 0),
                Add(2, 1, 0, 0),
                Add(3, 3, 0, 0),
                PortClients(0),
                Weight(1, 0),
                PortClients(1),
            ],
        );
    });
}

/// The steps of the locality tests: a cache filled and hit; a heavy new server
/// that makes every busy cached server "lblc-overloaded" (some server is below
/// half its weight); the first rounds' connections closed; the new server
/// quiesced, which sends lblc to wlc's choice but lblcr back to the older
/// member of each set; another quiesced and a deleted cached server.
const LOCALITY_STEPS: &[Step] = &[
    Add(0, 1, 0, 0),
    Add(1, 2, 0, 0),
    Add(2, 1, 0, 0),
    Dsts,
    Dsts,
    Add(3, 20, 0, 0),
    Dsts,
    Close(48),
    Dsts,
    Weight(3, 0),
    Dsts,
    Weight(1, 0),
    Dsts,
    Del(2),
    Dsts,
];

/// The steps of the timed locality tests, with an expiration of
/// [`LOCALITY_EXPIRATION_SECS`]:
/// - a cache filled, its connections closed (so no server is
///   "lblc-overloaded"), and rs0's weight raised, so that wlc would now send
///   most addresses to rs0;
/// - hits after the entries are older than the expiration: the kernel still
///   uses them (only its timer's full check, 30 minutes after the service was
///   made, drops them; lb-sched dropped them at lookup before it modelled the
///   timer);
/// - a heavy new server, which grows lblcr's sets;
/// - hits after another sleep, each dropping its set's most loaded member;
/// - the new server quiesced: a set left with only it has no member to use,
///   so wlc picks.
const LOCALITY_TIMED_STEPS: &[Step] = &[
    Add(0, 1, 0, 0),
    Add(1, 2, 0, 0),
    Add(2, 1, 0, 0),
    Dsts,
    Close(24),
    Weight(0, 4),
    Sleep(LOCALITY_EXPIRATION_SECS + 2),
    Dsts,
    Add(3, 20, 0, 0),
    Dsts,
    Sleep(LOCALITY_EXPIRATION_SECS + 2),
    Dsts,
    Weight(3, 0),
    Dsts,
];

/// `lblc_expiration` / `lblcr_expiration` of the timed tests, in seconds:
/// longer than the steps between two sleeps take, with room for a loaded
/// machine (under emulation, with both lab kernels running, those steps have
/// taken up to 7 s).
const LOCALITY_EXPIRATION_SECS: u64 = 12;

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_lblc_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kb", 4);
        scenario_on(
            &mut lab,
            "lblc",
            "",
            &Virtual::fwmark_vips(),
            LOCALITY_STEPS,
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_lblcr_matches() {
    in_netns(|| {
        let mut lab = Lab::new("kR", 4);
        // Sets grow as the cached servers overload; none shrinks (that takes
        // lblcr_expiration, 24 hours; kernel_lblcr_shrinks_sets_after_the_expiration
        // shortens it).
        scenario_on(
            &mut lab,
            "lblcr",
            "",
            &Virtual::fwmark_vips(),
            LOCALITY_STEPS,
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_lblc_uses_entries_older_than_the_expiration() {
    in_netns(|| {
        let mut lab = Lab::new("kt", 4);
        locality_scenario(
            &mut lab,
            "lblc",
            &Virtual::fwmark_vips(),
            LOCALITY_EXPIRATION_SECS,
            LOCALITY_TIMED_STEPS,
        );
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_lblcr_shrinks_sets_after_the_expiration() {
    in_netns(|| {
        let mut lab = Lab::new("kT", 4);
        locality_scenario(
            &mut lab,
            "lblcr",
            &Virtual::fwmark_vips(),
            LOCALITY_EXPIRATION_SECS,
            LOCALITY_TIMED_STEPS,
        );
    });
}

/// twos against the kernel. Its two draws come from the kernel's
/// `get_random_u32`, so its choices cannot be replayed; instead lb-sched
/// follows them (each connection is bound to the server the kernel chose) and,
/// before each connection, works out the exact chance of each server: its pick
/// for every pair of draws. Each kernel choice must be one lb-sched can make,
/// and each server's count must be within 5 standard deviations of the sum of
/// its chances (a false alarm about once in 10⁶ runs per server).
///
/// twos exists since 5.12, but Debian's 6.1 kernel is built without
/// `CONFIG_IP_VS_TWOS`; there the test checks that the module is absent.
#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_twos_draws_as_lb_sched_does() {
    in_netns(|| {
        if !sh_output("modprobe ip_vs_twos").status.success() {
            // Only a kernel built without CONFIG_IP_VS_TWOS (Debian's 6.1)
            // may lack it.
            let release = sh("uname -r");
            let modules = sh("ls /lib/modules/$(uname -r)/kernel/net/netfilter/ipvs/");
            assert!(
                modules.contains("ip_vs_wlc") && !modules.contains("ip_vs_twos"),
                "kernel {release} has an ip_vs_twos module that does not load: {modules}"
            );
            eprintln!("twos: kernel {} has no twos module", release.trim());
            return;
        }
        let mut lab = Lab::new("k2", 3);
        let spec = format!("-t {VIP}:80");
        sh(&format!("ipvsadm -A {spec} -s twos"));
        // The draws lb-sched's twos takes: scripted, and the bound they were
        // asked for.
        let draws: Rc<RefCell<(Vec<u32>, u32)>> = Rc::default();
        let source = {
            let draws = draws.clone();
            move |bound: u32| {
                let mut d = draws.borrow_mut();
                d.1 = bound;
                d.0.pop().unwrap_or(0)
            }
        };
        let mut svc = Service::new(Twos::new(source));
        let mut ids = Vec::new();
        for (i, w) in [1, 2, 4].into_iter().enumerate() {
            sh(&format!(
                "ipvsadm -a {spec} -r {}:8080 -m -w {w}",
                rs_addr(i)
            ));
            ids.push(
                svc.add(DestConfig::new(IpAddr::V4(rs_addr(i)), 8080, w))
                    .unwrap(),
            );
        }
        let main = (Ipv4Addr::new(198, 51, 100, 2), 0);
        let (mut expected, mut variance, mut seen) = ([0f64; 3], [0f64; 3], [0u32; 3]);
        let mut open = Vec::new();
        let mut connect = |lab: &mut Lab, svc: &mut Service<Twos<_>>, open: &mut Vec<DestId>| {
            // lb-sched's pick for each pair of draws in 0..bound.
            draws.borrow_mut().0 = vec![0, 0];
            svc.pick();
            let bound = draws.borrow().1;
            let mut count = [0u32; 3];
            for r1 in 0..bound {
                for r2 in 0..bound {
                    draws.borrow_mut().0 = vec![r2, r1];
                    let id = svc.pick().expect("a server to pick");
                    count[ids.iter().position(|&x| x == id).unwrap()] += 1;
                }
            }
            let p = count.map(|c| f64::from(c) / f64::from(bound * bound));
            let k = lab
                .connect(main.0, main.1, VIP, 80)
                .expect("the kernel picks");
            assert!(
                p[k] > 0.0,
                "the kernel chose rs{k}, which twos cannot pick now (chances {p:?})"
            );
            for i in 0..3 {
                expected[i] += p[i];
                variance[i] += p[i] * (1.0 - p[i]);
            }
            seen[k] += 1;
            svc.conn_new(ids[k], ConnState::Inactive).unwrap();
            svc.conn_established(ids[k]).unwrap();
            open.push(ids[k]);
        };
        for _ in 0..150 {
            connect(&mut lab, &mut svc, &mut open);
        }
        // Closed connections count 1 where active ones count 256; then rs0
        // becomes the heaviest.
        lab.close_oldest(75);
        for id in open.drain(..75) {
            svc.conn_closing(id).unwrap();
        }
        wait_for_counts(&spec, svc.dests());
        sh(&format!("ipvsadm -e {spec} -r {}:8080 -m -w 6", rs_addr(0)));
        svc.set_weight(ids[0], 6).unwrap();
        for _ in 0..150 {
            connect(&mut lab, &mut svc, &mut open);
        }
        lab.close_all();
        eprintln!("twos: kernel chose {seen:?}, expected {expected:.1?}");
        for i in 0..3 {
            let z = (f64::from(seen[i]) - expected[i]) / variance[i].sqrt();
            assert!(
                z.abs() < 5.0,
                "rs{i}: the kernel chose it {} times, lb-sched's chances add up to {:.1} \
                 (z = {z:.1}); all: {seen:?} against {expected:.1?}",
                seen[i],
                expected[i]
            );
        }
    });
}
