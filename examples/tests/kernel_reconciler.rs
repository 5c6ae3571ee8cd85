// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-reconciler` (the binary) on a real kernel, with traffic, inside
//! the lab VM: an LVS-NAT director whose web service the reconciler keeps,
//! beside a service an operator added by hand.
//!
//! ```text
//! client 203.0.113.2 ── ext 203.0.113.1 [dir] br0 192.0.2.1 ── rs1 192.0.2.11, rs2 192.0.2.12
//! ```
//!
//! A held connection pins a real server; that server leaves the file. It is
//! drained (weight 0, still in the table) while the connection lives, new
//! connections go to the other, the held one keeps working; once it is
//! closed and IPVS forgets it, the next resync deletes the server. The
//! hand-made service is never touched.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use ipvs::Ipvs;
use ipvs_lab::{in_netns, sh};

mod common;
use common::{Lab, Reply};

const RECONCILER: &str = env!("CARGO_BIN_EXE_ipvs-reconciler");
const VIP: &str = "203.0.113.1:80";
const FOREIGN: &str = "203.0.113.1:8080";

/// The reconciler running in a namespace, its stdout line by line; killed
/// on drop if still running.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(ns: &str, desired: &Path, state: &Path) -> Self {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, RECONCILER, "--desired"])
            .arg(desired)
            .arg("--state")
            .arg(state)
            .args(["--poll-interval", "0.2", "--resync-interval", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn ipvs-reconciler");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `within`) for a line that starts with `start`, and
    /// returns it; panics with every line printed so far.
    fn wait_for(&mut self, start: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    println!("ipvs-reconciler: {line}");
                    self.seen.push(line.clone());
                    if line.starts_with(start) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line starting {start:?} within {within:?}; printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the desired file in one step (a reader never sees half of it).
fn write_desired(path: &Path, real_servers: &[&str]) {
    let destinations: Vec<String> = real_servers
        .iter()
        .map(|rs| format!(r#"{{ "addr": "{rs}", "forwarding": "-m" }}"#))
        .collect();
    let json = format!(
        r#"{{ "services": [ {{ "service": {{ "key": "tcp:{VIP}", "scheduler": "rr" }},
                              "destinations": [ {} ] }} ] }}"#,
        destinations.join(", ")
    );
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, json).expect("write the desired file");
    std::fs::rename(&temporary, path).expect("replace the desired file");
}

/// Connects to the VIP and reads the name of the real server answering;
/// the connection stays open.
fn connect() -> (String, TcpStream) {
    let vip: SocketAddr = VIP.parse().unwrap();
    let stream = TcpStream::connect_timeout(&vip, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connect {vip}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut name = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut name)
        .unwrap_or_else(|e| panic!("the real server's name through {vip}: {e}"));
    (name.trim().to_owned(), stream)
}

/// The lines of `ipvsadm -S -n` about the hand-made service.
fn foreign_service(dir: &str) -> Vec<String> {
    sh(&format!("ip netns exec {dir} ipvsadm -S -n"))
        .lines()
        .filter(|line| line.contains(FOREIGN))
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn a_destination_removed_from_the_file_drains_while_a_held_connection_lives() {
    let _serial = common::serial();
    in_netns(|| {
        let mut lab = Lab::new("rcl");
        let dir = lab.ns("dir");
        sh(&format!(
            "ip link add c0 type veth peer name ext netns {dir}\n\
             ip addr add 203.0.113.2/24 dev c0 && ip link set c0 up\n\
             ip -n {dir} addr add 203.0.113.1/24 dev ext && ip -n {dir} link set ext up\n\
             ip -n {dir} link add br0 type bridge && ip -n {dir} addr add 192.0.2.1/24 dev br0\n\
             ip -n {dir} link set br0 up\n\
             ip netns exec {dir} sysctl -qw net.ipv4.ip_forward=1"
        ));
        for i in 1..=2 {
            let rs = lab.ns(&format!("rs{i}"));
            sh(&format!(
                "ip -n {dir} link add rs{i} type veth peer name eth0 netns {rs}\n\
                 ip -n {dir} link set rs{i} master br0 up\n\
                 ip -n {rs} addr add 192.0.2.1{i}/24 dev eth0 && ip -n {rs} link set eth0 up\n\
                 ip -n {rs} route add default via 192.0.2.1"
            ));
            lab.serve(&rs, 80, &format!("rs{i}"), Reply::Echo);
        }
        // An operator's service, by hand, on the same address.
        sh(&format!(
            "ip netns exec {dir} ipvsadm -A -t {FOREIGN} -s wlc\n\
             ip netns exec {dir} ipvsadm -a -t {FOREIGN} -r 192.0.2.12:8080 -m -w 3"
        ));
        let foreign = foreign_service(&dir);
        assert_eq!(foreign.len(), 2, "{foreign:?}");

        let files = tempfile::tempdir().expect("a temporary folder");
        let desired = files.path().join("desired.json");
        let state: PathBuf = files.path().join("owned.json");
        write_desired(&desired, &["192.0.2.11:80", "192.0.2.12:80"]);
        let mut reconciler = Running::start(&dir, &desired, &state);
        let boot = Duration::from_secs(30);
        reconciler.wait_for("ipvsadm -A -t 203.0.113.1:80 -s rr", boot);
        reconciler.wait_for("ipvsadm -a -t 203.0.113.1:80 -r 192.0.2.12:80", boot);

        // A held connection, and the file without its real server.
        let (held_by, mut held) = connect();
        let (drained, kept) = match held_by.as_str() {
            "rs1" => ("192.0.2.11:80", "rs2"),
            "rs2" => ("192.0.2.12:80", "rs1"),
            other => panic!("answered by {other:?}"),
        };
        let other = if kept == "rs1" {
            "192.0.2.11:80"
        } else {
            "192.0.2.12:80"
        };
        write_desired(&desired, &[other]);
        let step = Duration::from_secs(20);
        reconciler.wait_for(
            &format!("ipvsadm -e -t 203.0.113.1:80 -r {drained} -m -w 0"),
            step,
        );
        reconciler.wait_for(
            &format!("draining -t 203.0.113.1:80 -r {drained}: 1 active"),
            step,
        );
        // Still drained at the next resync, still in the table at weight 0.
        reconciler.wait_for("no change", step);
        reconciler.wait_for(&format!("draining -t 203.0.113.1:80 -r {drained}"), step);
        let ipvs = Ipvs::in_netns(&dir).expect("IPVS in the director's namespace");
        let web = "tcp:203.0.113.1:80".parse().unwrap();
        let dest = ipvs
            .destinations(&web)
            .unwrap()
            .into_iter()
            .find(|d| d.addr.to_string() == drained)
            .expect("the drained destination is still there");
        assert_eq!((dest.weight, dest.active_connections), (0, 1));

        // New connections go to the other real server; the held one works.
        for _ in 0..3 {
            assert_eq!(connect().0, kept, "a new connection");
        }
        held.write_all(b"still there\n").unwrap();
        let mut echo = String::new();
        BufReader::new(held.try_clone().unwrap())
            .read_line(&mut echo)
            .unwrap();
        assert_eq!(echo, format!("{held_by} still there\n"));

        // Closed with a reset, the connection is forgotten after IPVS's
        // CLOSE timeout (10 s; one closed with FIN would stay in TIME_WAIT
        // for 2 minutes, counted as inactive); the next resync deletes the
        // real server.
        socket2::SockRef::from(&held)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(held);
        reconciler.wait_for(
            &format!("ipvsadm -d -t 203.0.113.1:80 -r {drained}"),
            Duration::from_secs(60),
        );
        let left: Vec<String> = ipvs
            .destinations(&web)
            .unwrap()
            .iter()
            .map(|d| d.addr.to_string())
            .collect();
        assert_eq!(left, [other]);
        assert_eq!(foreign_service(&dir), foreign, "the operator's service");
        let owned = std::fs::read_to_string(&state).unwrap();
        assert!(
            owned.contains("tcp:203.0.113.1:80") && !owned.contains("8080"),
            "{owned}"
        );

        sh(&format!("kill -TERM {}", reconciler.child.id()));
        reconciler.wait_for("stopped by SIGTERM", step);
        let status = reconciler.child.wait().unwrap();
        assert!(status.success(), "{status}");
    });
}
