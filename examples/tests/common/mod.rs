// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the traffic tests share: named namespaces and `serve_name`
//! processes that are removed on drop, and one topology at a time.

// Each test target uses its own part of this module.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use ipvs_lab::sh;

const SERVE: &str = env!("CARGO_BIN_EXE_serve_name");

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
