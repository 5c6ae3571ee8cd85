// SPDX-License-Identifier: MIT OR Apache-2.0
//! Project automation (`cargo xtask ...`, see `.cargo/config.toml`).
//!
//! - `cargo xtask lab [--kernel 6.1|6.12] -- CMD...`: boot a real Debian LTS
//!   kernel with IPVS in a VM over this machine's own filesystem, run CMD as
//!   root inside, stream its output and exit with its status.
//! - `cargo xtask test [--host-kernel] [--kernel 6.1|6.12] [--only STAGE[,STAGE]]`:
//!   the one test command (format, clippy, unit tests, kernel tests in the VM on
//!   both kernels, docs, benches in test mode, fuzz smoke), with a summary.
//! - `cargo xtask demo [--kernel 6.1|6.12]`: the main job, shown in the lab VM.
//! - `cargo xtask bench-kernel [--kernel 6.1|6.12] [--runs N] [--smoke]`: the
//!   scale benchmarks in the lab VM, against ipvsadm.
//! - `cargo xtask public-api [--bless] [CRATE...]`: check (or rewrite) the
//!   listing of each library crate's public API.
//!
//! Everything this needs that the machine lacks is installed on first use
//! (`lab.rs` says what and where), so a fresh machine needs only Rust.

mod bench_kernel;
mod demo;
mod lab;
mod modules;
mod process;
mod public_api;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage:
  cargo xtask lab [--kernel 6.1|6.12] [--no-ipvs] -- CMD...
                                                   run CMD as root in the lab VM (ip_vs loaded
                                                   first unless --no-ipvs)
  cargo xtask test [--host-kernel] [--kernel K] [--only STAGES] [--fuzz-seconds N]
                                                   the one test command
  cargo xtask demo [nat|dr] [--kernel 6.1|6.12]    the main job in the lab VM: the service round
                                                   trip, then the NAT and DR directors with traffic
  cargo xtask bench-kernel [--kernel 6.1|6.12] [--runs N] [--smoke]
                                                   issue 7's benchmarks in the lab VM, against
                                                   ipvsadm -R / -Sn, with ratios and targets

  cargo xtask public-api [--bless] [CRATE...]
                                                   check (or with --bless, rewrite) CRATE/public-api.txt,
                                                   the listing of each library crate's public API

test stages: fmt, clippy, deps, api, unit, kernel, doc, package, bench, fuzz (comma-separated with --only)
--host-kernel: run the kernel tests directly on this host (its own kernel must have IPVS)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("lab") => lab::main(&args[1..]),
        Some("test") => test::main(&args[1..]),
        Some("demo") => demo::main(&args[1..]),
        Some("bench-kernel") => bench_kernel::main(&args[1..]),
        Some("public-api") => public_api::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(0)
        }
        _ => {
            eprintln!("{USAGE}");
            Ok(2)
        }
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Error type of the xtask: a message for the person at the terminal.
pub type Result<T> = std::result::Result<T, String>;

/// Takes `--name VALUE` out of `args`, if present.
fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => Err(format!("{name} needs a value")),
    }
}

/// Takes the flag `name` out of `args`; true if it was there.
fn take_flag(args: &mut Vec<String>, name: &str) -> bool {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    }
}
