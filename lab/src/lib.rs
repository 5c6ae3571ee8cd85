// SPDX-License-Identifier: MIT OR Apache-2.0
//! Support for the project's **kernel tests**: tests that talk to a real Linux
//! kernel with IPVS, run inside the lab VM by `cargo xtask test`.
//!
//! Conventions (every crate follows them):
//! - Kernel tests live in integration-test targets whose name starts with
//!   `kernel` (`ipvs/tests/kernel.rs`, `lb-sched/tests/kernel_differential.rs`).
//! - Every kernel test carries `#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]`,
//!   so a plain `cargo test` on a host without IPVS stays fast and green.
//!   `cargo xtask test` runs these binaries inside the VM with `--ignored` and
//!   `IPVS_RS_LAB=1`.
//! - Every kernel test body runs through [`in_netns`], which gives it a fresh
//!   network namespace of its own, so tests never see each other's services.
//! - Inside the lab a missing IPVS is a failure, never a skip: [`in_netns`]
//!   panics when the `ip_vs` module cannot be loaded.
//! - Tests of the `ipvs` API run through both of its handles, blocking and
//!   tokio: [`with_each_handle`] gives the body a [`Handle`] of each, each
//!   in a namespace of its own.

use std::process::{Command, Stdio};

mod handle;

pub use handle::{DRIVERS, Driver, Handle, with_each_handle};

/// Environment variable set by `cargo xtask test` (in the VM, or with
/// `--host-kernel` on a host whose own kernel has IPVS).
pub const LAB_ENV: &str = "IPVS_RS_LAB";

/// True when running under `cargo xtask test` in the lab (or on an IPVS host).
pub fn in_lab() -> bool {
    std::env::var_os(LAB_ENV).is_some_and(|v| v == "1")
}

/// Runs `body` on a new thread that first moves into a brand-new network
/// namespace (`unshare(CLONE_NEWNET)`) with `lo` up and IPVS loaded.
///
/// Only that thread changes namespace; processes it spawns (`ipvsadm`, `ip`)
/// inherit it. A panic in `body` is re-raised on the caller's thread, so the
/// test fails with the original message.
///
/// # Panics
/// When not in the lab (see [`LAB_ENV`]), when the namespace cannot be created
/// (not root), or when the `ip_vs` module cannot be loaded: inside the lab a
/// missing IPVS is a failure, never a skip.
pub fn in_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    assert!(
        in_lab(),
        "kernel tests run inside the lab VM: use `cargo xtask test` (or set {LAB_ENV}=1 on a host whose kernel has IPVS)"
    );
    let handle = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            enter_new_netns();
            require_ipvs();
            body()
        })
        .expect("spawn test thread");
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Moves the calling thread into a new network namespace and brings `lo` up.
pub fn enter_new_netns() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET): kernel tests must run as root in the lab VM");
    sh("ip link set lo up");
}

/// Modules every kernel test may need, loaded once per test process before
/// the first namespace is created.
///
/// Loading a module on demand while another test creates a namespace can
/// deadlock the kernel: IPVS asks for `ip_vs_<scheduler>` while holding its
/// configuration mutex, and some of those modules (lblc, lblcr) register
/// per-namespace state, which waits for namespace creation to finish. Seen in
/// the lab on 6.1 with two tests in parallel; loading everything first avoids
/// it.
pub const PRELOADED_MODULES: &[&str] = &[
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_mh",
    "ip_vs_pe_sip",
    "dummy",
    "veth",
    "nlmon",
];

/// Modules loaded when the kernel has them (`ip_vs_twos` arrived in 6.12).
pub const OPTIONAL_MODULES: &[&str] = &["ip_vs_twos"];

/// Loads IPVS and every module in [`PRELOADED_MODULES`] (once per process) and
/// checks that the kernel offers IPVS; panics otherwise.
pub fn require_ipvs() {
    static PRELOAD: std::sync::Once = std::sync::Once::new();
    PRELOAD.call_once(|| {
        for module in PRELOADED_MODULES {
            assert!(
                modprobe(module),
                "modprobe {module} failed: in the lab a missing IPVS is a failure, not a skip"
            );
        }
        for module in OPTIONAL_MODULES {
            let _ = modprobe(module);
        }
    });
    // The module may have been unloaded since (a test that proves "IPVS
    // unavailable" does that), so load it again if need be.
    assert!(
        modprobe("ip_vs") && std::path::Path::new("/proc/net/ip_vs").exists(),
        "IPVS is not available in this kernel (modprobe ip_vs failed or /proc/net/ip_vs missing): \
         in the lab this is a failure, not a skip"
    );
}

fn modprobe(module: &str) -> bool {
    Command::new("modprobe")
        .arg(module)
        .stderr(Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `script` with `bash -c` in the calling thread's namespace and returns
/// its stdout; panics (with stderr) when it exits non-zero.
pub fn sh(script: &str) -> String {
    let out = sh_output(script);
    assert!(
        out.status.success(),
        "command failed ({}): {script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `script` with `bash -c` and returns the full output, whatever its status.
pub fn sh_output(script: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash for `{script}`: {e}"))
}

/// Wires the calling thread's namespace (the client) to a LVS-NAT director
/// in namespace `dir` and a real server in namespace `rs`, both existing:
///
/// ```text
/// client c0 203.0.113.2, 2001:db8:c::2 ── ext 203.0.113.1, 2001:db8:c::1  [dir]
/// [dir] int 198.51.100.1, 2001:db8:d::1 ── r0 198.51.100.10, 2001:db8:d::10  [rs]
/// ```
///
/// The real server routes back through the director, which forwards both
/// families; IPv6 addresses skip DAD so they are usable at once. Services
/// are the caller's.
pub fn wire_nat_client_director_real_server(dir: &str, rs: &str) {
    sh(&format!(
        "set -e
         ip link add c0 type veth peer name ext netns {dir}
         ip addr add 203.0.113.2/24 dev c0 && ip -6 addr add 2001:db8:c::2/64 dev c0 nodad
         ip link set c0 up
         ip -n {dir} addr add 203.0.113.1/24 dev ext && ip -n {dir} -6 addr add 2001:db8:c::1/64 dev ext nodad
         ip -n {dir} link set ext up
         ip -n {dir} link add int type veth peer name r0 netns {rs}
         ip -n {dir} addr add 198.51.100.1/24 dev int && ip -n {dir} -6 addr add 2001:db8:d::1/64 dev int nodad
         ip -n {dir} link set int up
         ip -n {rs} addr add 198.51.100.10/24 dev r0 && ip -n {rs} -6 addr add 2001:db8:d::10/64 dev r0 nodad
         ip -n {rs} link set r0 up
         ip -n {rs} route add default via 198.51.100.1 && ip -n {rs} -6 route add default via 2001:db8:d::1
         ip netns exec {dir} sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"
    ));
}

/// Connects to `addr` (an `ip:port` or `[ip6]:port`) and proves the path
/// with one line echoed back; returns the connection, held open. Waits at
/// most 20 s for each step; panics with what failed.
pub fn tcp_echo(addr: &str) -> std::net::TcpStream {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Duration;
    let addr: std::net::SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("{addr}: not an address: {e}"));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("read timeout on {addr}: {e}"));
    s.write_all(b"ping\n")
        .unwrap_or_else(|e| panic!("send through {addr}: {e}"));
    let mut line = String::new();
    let reader = s
        .try_clone()
        .unwrap_or_else(|e| panic!("clone {addr}: {e}"));
    BufReader::new(reader)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("echo through {addr}: {e}"));
    assert_eq!(line, "ping\n", "echo through {addr}");
    s
}
