// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cargo xtask bench-kernel [--kernel 6.1|6.12] [--runs N] [--smoke | --scale N]`: the
//! issue-7 benchmarks in the lab VM.
//!
//! Builds `ipvs-bench-kernel` (release) and runs it in the booted kernel
//! (it makes a fresh network namespace for each measurement): programming 10 000 services × 4
//! destinations (`execute_batch` vs `ipvsadm -R`), snapshots of 16 000 × 1
//! and 1000 × 4 (`snapshot` vs `ipvsadm -Sn`), and a no-op `apply` of the
//! 10 000-service state against one snapshot. It prints the medians, the
//! ratios and whether each target is met; the exit status is 3 when one is
//! missed. `--smoke` divides every size by 10, `--scale N` by N.
//!
//! The VM is software-emulated (TCG): absolute times are far slower than on
//! hardware, and ipvsadm's per-request costs (a socket and a family lookup
//! per rule) are inflated with them; the ratios are the figures to read.

use std::process::Command;
use std::time::Instant;

use crate::lab::{Kernel, Lab};
use crate::process::{self, workspace_root};
use crate::{Result, take_flag, take_option};

/// `cargo xtask bench-kernel [--kernel K] [--runs N] [--smoke]`.
pub fn main(args: &[String]) -> Result<i32> {
    let mut args = args.to_vec();
    let kernel = Kernel::take_option(&mut args)?;
    let runs = take_option(&mut args, "--runs")?
        .map(|n| {
            n.parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("--runs: not a number from 1: {n}"))
        })
        .transpose()?
        .unwrap_or(5);
    let smoke = take_flag(&mut args, "--smoke");
    let scale = take_option(&mut args, "--scale")?
        .map(|n| {
            n.parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("--scale: not a divisor from 1: {n}"))
        })
        .transpose()?
        .unwrap_or(if smoke { 10 } else { 1 });
    if !args.is_empty() {
        return Err(format!(
            "unexpected arguments {args:?}: cargo xtask bench-kernel [--kernel 6.1|6.12] [--runs N] [--smoke | --scale N]"
        ));
    }
    run(kernel, runs, scale)
}

/// Builds the bench binary and runs it in the VM; returns its exit status.
pub fn run(kernel: Kernel, runs: u32, scale: u32) -> Result<i32> {
    process::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "--release",
                "--package",
                "ipvs-examples",
            ])
            .args(["--bin", "ipvs-bench-kernel"]),
    )?;
    let bin = workspace_root()
        .join("target")
        .join("release")
        .join("ipvs-bench-kernel");
    // lo up first: with no route at all in the namespace the kernel has no
    // FIB table to classify a real server's address and refuses every
    // destination with EINVAL.
    let script = format!(
        "set -e; modprobe ip_vs; {bin} --runs {runs} --scale {scale}",
        bin = process::shell_quote(&bin.to_string_lossy()),
    );
    let start = Instant::now();
    let status = Lab::prepare()?.run(kernel, &script)?;
    eprintln!(
        "xtask: bench-kernel: {} took {:.0} s, VM boot included",
        kernel.name(),
        start.elapsed().as_secs_f64()
    );
    Ok(status)
}
