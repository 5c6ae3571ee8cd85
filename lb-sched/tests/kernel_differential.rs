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
//! lc/wlc counts build up. lb-sched sees the same events: a pick, the connection
//! bound inactive, then moved to active.
//!
//! Run by `cargo xtask test` in the VM (`--ignored`, `IPVS_RS_LAB=1`).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use ipvs_lab::{in_netns, sh, sh_output};
use lb_sched::{AnyScheduler, ConnState, DestConfig, DestId, Flow, Scheduler, Service};

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
import socket, sys
held = []
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "c":
        try:
            s = socket.socket()
            s.settimeout(20)
            s.bind((cmd[1], 0))
            s.connect((cmd[2], int(cmd[3])))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
            held.append(s)
            print(data.decode().strip() or "EOF", flush=True)
        except Exception as e:
            print("ERR " + repr(e), flush=True)
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

    /// Opens a connection from `src` to VIP:`vport`; returns the index of the real
    /// server that answered.
    fn connect(&mut self, src: Ipv4Addr, vport: u16) -> usize {
        writeln!(self.to_client, "c {src} {VIP} {vport}").unwrap();
        self.to_client.flush().unwrap();
        let l = read_line(&mut self.from_client, "client");
        let i = l
            .strip_prefix("rs")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("connection {src} -> {VIP}:{vport} failed: {l}"));
        assert!(i < self.nrs);
        i
    }

    fn close_all(&mut self) {
        writeln!(self.to_client, "x").unwrap();
        self.to_client.flush().unwrap();
        assert_eq!(read_line(&mut self.from_client, "client"), "OK");
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
    /// One connection from each client address (hashing schedulers).
    Clients,
}

/// Runs `steps` on a new service VIP:`vport` with scheduler `name` and service
/// flags (`-b`), in IPVS and in lb-sched, and asserts the same choices.
fn scenario(lab: &mut Lab, name: &str, flags: &str, vport: u16, steps: &[Step]) {
    let bits = flags
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| match f {
            "flag-1" => 0x08,
            "flag-2" => 0x10,
            other => panic!("flag {other}"),
        })
        .fold(0, |a, b| a | b);
    let b = if flags.is_empty() {
        String::new()
    } else {
        format!("-b {flags}")
    };
    sh(&format!("ipvsadm -A -t {VIP}:{vport} -s {name} {b}"));
    let mut svc = Service::new(AnyScheduler::from_name(name, bits).unwrap());
    let mut ids: Vec<Option<DestId>> = vec![None; lab.nrs];
    let (mut kernel, mut ours) = (Vec::new(), Vec::new());
    let mut connect =
        |lab: &mut Lab, svc: &mut Service<AnyScheduler>, ids: &[Option<DestId>], src: Ipv4Addr| {
            let k = lab.connect(src, vport);
            let flow = Flow {
                src: IpAddr::V4(src),
                src_port: 0,
                dst: IpAddr::V4(VIP),
                dst_port: vport,
            };
            let o = svc.pick_for(&flow);
            if let Some(id) = o {
                svc.conn_new(id, ConnState::Inactive).unwrap();
                svc.conn_established(id).unwrap();
            }
            kernel.push(format!("rs{k}"));
            ours.push(match o {
                Some(id) => format!("rs{}", ids.iter().position(|&x| x == Some(id)).unwrap()),
                None => "none".to_string(),
            });
        };
    for &step in steps {
        match step {
            Step::Add(i, w, u, l) => {
                sh(&format!(
                    "ipvsadm -a -t {VIP}:{vport} -r {}:8080 -m -w {w} -x {u} -y {l}",
                    rs_addr(i)
                ));
                let cfg = DestConfig::new(IpAddr::V4(rs_addr(i)), 8080, w).thresholds(u, l);
                ids[i] = Some(svc.add(cfg).unwrap());
            }
            Step::Weight(i, w) => {
                sh(&format!(
                    "ipvsadm -e -t {VIP}:{vport} -r {}:8080 -m -w {w}",
                    rs_addr(i)
                ));
                svc.set_weight(ids[i].unwrap(), w).unwrap();
            }
            Step::Edit(i, w, u, l) => {
                sh(&format!(
                    "ipvsadm -e -t {VIP}:{vport} -r {}:8080 -m -w {w} -x {u} -y {l}",
                    rs_addr(i)
                ));
                svc.edit(ids[i].unwrap(), w, u, l).unwrap();
            }
            Step::Del(i) => {
                sh(&format!(
                    "ipvsadm -d -t {VIP}:{vport} -r {}:8080",
                    rs_addr(i)
                ));
                svc.remove(ids[i].take().unwrap()).unwrap();
            }
            Step::Conns(n) => {
                for _ in 0..n {
                    connect(lab, &mut svc, &ids, Ipv4Addr::new(198, 51, 100, 2));
                }
            }
            Step::Clients => {
                for c in 0..CLIENT_ADDRS {
                    connect(lab, &mut svc, &ids, client_addr(c));
                }
            }
        }
    }
    lab.close_all();
    eprintln!(
        "{name} {flags} :{vport}: {} connections\n  kernel  {}\n  lb-sched {}",
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
    });
}
