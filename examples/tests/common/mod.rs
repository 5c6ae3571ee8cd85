// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the traffic tests share: named namespaces and `serve_name`
//! processes that are removed on drop, and one topology at a time.

// Each test target uses its own part of this module.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use ipvs_lab::sh;

const SERVE: &str = env!("CARGO_BIN_EXE_serve_name");
const DR_RS: &str = env!("CARGO_BIN_EXE_setup_dr_real_server");

/// One topology at a time: the VM has two slow (emulated) CPUs.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the topology lock for a test's lifetime (a panicking test does not
/// poison it for the next).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a real server's `serve_name` answers.
#[derive(Clone, Copy)]
pub enum Reply {
    /// Its name, then it closes the connection.
    Name,
    /// `NAME LINE` for every line, keeping the connection open (`--echo`).
    Echo,
}

/// Named namespaces and server processes, removed on drop (even on panic).
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    servers: Vec<Child>,
}

impl Lab {
    pub fn new(prefix: &str) -> Self {
        Lab {
            prefix: prefix.into(),
            namespaces: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// Creates the namespace `PREFIX-host` with its loopback up.
    pub fn ns(&mut self, host: &str) -> String {
        let name = format!("{}-{host}", self.prefix);
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        self.namespaces.push(name.clone());
        name
    }

    /// Creates DR real server `rsN` (192.0.2.1N/24) on the bridge `br0` of
    /// namespace `sw`, with `vip` on its loopback (`setup_dr_real_server`).
    pub fn dr_real_server(&mut self, sw: &str, n: u8, vip: &str) -> String {
        let rs = self.ns(&format!("rs{n}"));
        sh(&format!(
            "ip -n {sw} link add p{n} type veth peer name eth0 netns {rs} && ip -n {sw} link set p{n} master br0 up\n\
             ip -n {rs} addr add 192.0.2.1{n}/24 dev eth0 && ip -n {rs} link set eth0 up"
        ));
        let out = sh(&format!(
            "ip netns exec {rs} {DR_RS} --vip {vip} --iface eth0"
        ));
        assert!(out.contains("real server ready"), "{out}");
        rs
    }

    /// Runs `program args...` in `ns` until the lab is dropped (no wait:
    /// the caller checks that it is ready).
    pub fn spawn(&mut self, ns: &str, program: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program} in {ns}: {e}"));
        self.servers.push(child);
    }

    /// Starts `serve_name` in `ns` and waits until it accepts connections.
    pub fn serve(&mut self, ns: &str, port: u16, name: &str, reply: Reply) {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, SERVE]);
        if let Reply::Echo = reply {
            command.arg("--echo");
        }
        let child = command
            .arg("--listen")
            .arg(format!("0.0.0.0:{port}"))
            .args(["--name", name, "--max-seconds", "300"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn serve_name");
        self.servers.push(child);
        sh(&format!(
            "for i in $(seq 100); do ip netns exec {ns} bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
        ));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}
