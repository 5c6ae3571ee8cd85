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

use std::process::{Command, Stdio};

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

/// Loads `ip_vs` and checks that the kernel offers IPVS; panics otherwise.
pub fn require_ipvs() {
    let loaded = Command::new("modprobe")
        .arg("ip_vs")
        .stderr(Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        loaded && std::path::Path::new("/proc/net/ip_vs").exists(),
        "IPVS is not available in this kernel (modprobe ip_vs failed or /proc/net/ip_vs missing): \
         in the lab this is a failure, not a skip"
    );
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
