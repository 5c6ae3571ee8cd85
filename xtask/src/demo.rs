// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cargo xtask demo`: the main job, shown in the lab VM.
//!
//! For now: boot the lab, then in a fresh network namespace run the
//! `ipvs-demo` example (GET_INFO, add a TCP service with `rr` and one
//! masquerading destination, list both back) and show `ipvsadm -Ln` beside it.

use std::process::Command;

use crate::lab::{Kernel, Lab};
use crate::process::{self, workspace_root};
use crate::{Result, take_option};

/// `cargo xtask demo [--kernel K]`
pub fn main(args: &[String]) -> Result<i32> {
    let mut args = args.to_vec();
    let kernel = take_option(&mut args, "--kernel")?
        .map(|k| Kernel::parse(&k))
        .transpose()?
        .unwrap_or(Kernel::V6_12);
    if !args.is_empty() {
        return Err(format!("unexpected arguments {args:?}"));
    }
    process::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "--package",
                "ipvs-examples",
                "--bin",
                "ipvs-demo",
            ]),
    )?;
    let bin = workspace_root()
        .join("target")
        .join("debug")
        .join("ipvs-demo");
    let script = format!(
        "set -e; modprobe ip_vs; unshare --net bash -c 'ip link set lo up; {bin}; echo; echo \"== ipvsadm -Ln (same namespace) ==\"; ipvsadm -Ln'",
        bin = process::shell_quote(&bin.to_string_lossy())
    );
    Lab::prepare()?.run(kernel, &script)
}
