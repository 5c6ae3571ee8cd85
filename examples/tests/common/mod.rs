// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the traffic tests share: named namespaces, `serve_name` processes
//! and daemons (keepalived, BIRD) that are removed on drop, a scratch
//! directory for their files, one topology at a time, and long-lived
//! client connections ([`Held`]).

// Each test target uses its own part of this module.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipvs_lab::sh;
use socket2::{Domain, SockAddr, Socket, Type};

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

/// A long-lived client connection to a service whose real servers run
/// `serve_name` with [`Reply::Echo`]: the service it reached, its own
/// address and the real server that greeted it.
pub struct Held {
    pub vip: SocketAddr,
    pub local: SocketAddr,
    pub rs: String,
    out: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Held {
    /// Connects to `vip` (from `from`, if given) within 10 s and reads the
    /// greeting; each later answer is waited for up to `answer_within`.
    pub fn open(vip: SocketAddr, from: Option<IpAddr>, answer_within: Duration) -> Held {
        let s = Socket::new(Domain::for_address(vip), Type::STREAM, None).unwrap();
        if let Some(from) = from {
            s.bind(&SockAddr::from(SocketAddr::new(from, 0))).unwrap();
        }
        s.connect_timeout(&SockAddr::from(vip), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connecting {from:?} -> {vip}: {e}"));
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(answer_within)).unwrap();
        let local = s.local_addr().unwrap();
        let mut lines = BufReader::new(s.try_clone().unwrap());
        let mut rs = String::new();
        lines
            .read_line(&mut rs)
            .unwrap_or_else(|e| panic!("reading the greeting on {local} -> {vip}: {e}"));
        Held {
            vip,
            local,
            rs: rs.trim().to_string(),
            out: s,
            lines,
        }
    }

    /// Sends `text` and returns the answer line, trimmed; a connection
    /// closed before it answers is [`io::ErrorKind::UnexpectedEof`].
    pub fn say(&mut self, text: &str) -> io::Result<String> {
        self.out.write_all(format!("{text}\n").as_bytes())?;
        let mut line = String::new();
        match self.lines.read_line(&mut line)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(line.trim().to_string()),
        }
    }

    /// The service port it reached.
    pub fn port(&self) -> u16 {
        self.vip.port()
    }

    /// What the real server that greeted this connection answers to `text`.
    pub fn echo_of(&self, text: &str) -> String {
        format!("{} {text}", self.rs)
    }

    /// Sends `text` and asserts that the same real server answers it.
    pub fn say_ok(&mut self, text: &str) {
        let (local, vip) = (self.local, self.vip);
        let got = self
            .say(text)
            .unwrap_or_else(|e| panic!("{local} -> {vip} ({}): {e}", self.rs));
        assert_eq!(got, self.echo_of(text), "connection {local}");
    }
}

/// Named namespaces and server processes, removed on drop (even on panic).
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    servers: Vec<Child>,
    scratch: Option<PathBuf>,
}

impl Lab {
    pub fn new(prefix: &str) -> Self {
        Lab {
            prefix: prefix.into(),
            namespaces: Vec::new(),
            servers: Vec::new(),
            scratch: None,
        }
    }

    /// A directory for this lab's configuration files, logs and sockets,
    /// removed on drop.
    pub fn scratch(&mut self) -> PathBuf {
        let prefix = &self.prefix;
        self.scratch
            .get_or_insert_with(|| {
                let dir =
                    std::env::temp_dir().join(format!("ipvs-rs-{prefix}-{}", std::process::id()));
                std::fs::create_dir_all(&dir)
                    .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
                dir
            })
            .clone()
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
            .args(["--name", name, "--max-seconds", "600"])
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
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A daemon (keepalived, bird) running in a namespace in the foreground,
/// in a process group of its own, so that it and its children can be
/// signalled at once; its output goes to a log file. Killed on drop.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `program args...` in `ns`, logging to `log` (appended to, so
    /// that a restart keeps the earlier run's lines).
    /// A missing program fails the test at once: tests never skip in the VM.
    pub fn start(ns: &str, program: &str, args: &[&str], log: &Path) -> Daemon {
        let path = std::env::var("PATH").unwrap_or_default();
        assert!(
            std::env::split_paths(&path).any(|dir| dir.join(program).is_file()),
            "{program} is not installed (`cargo xtask lab` installs its Debian package)"
        );
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let err = out.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} in {ns} (is it installed?): {e}"));
        Daemon {
            name: format!("{program} in {ns}"),
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// Sends `signal` (`KILL`, `TERM`) to the daemon's whole process group
    /// at once, and waits for the daemon to end.
    pub fn stop(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log's last `n` lines, headed by its name (for failure messages).
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- {} ({}), last {n} lines:\n{}",
            self.name,
            self.log.display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop("KILL");
    }
}

/// Polls `done` every 100 ms until it holds or `within` has passed;
/// returns how long it took, or `None` on timeout.
pub fn poll(within: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if done() {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
