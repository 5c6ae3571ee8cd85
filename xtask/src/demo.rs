// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cargo xtask demo`: the main job, shown in the lab VM.
//!
//! Boots the lab once and, each in a fresh network namespace:
//! 1. `ipvs-demo`: GET_INFO, add a TCP service with `rr` and one masquerading
//!    destination, list both back, with `ipvsadm -Ln` beside it;
//! 2. `run_director_demo nat`: the LVS-NAT director of the LVS document, with
//!    real traffic between namespaces (documentation addresses only);
//! 3. `run_director_demo dr`: the LVS-DR director, likewise.
//!
//! `cargo xtask demo nat` or `cargo xtask demo dr` runs only that director.
//! Two more are not part of the default run:
//! - `cargo xtask demo failover`: the LVS-DR director pair with connection
//!   sync under keepalived (VRRP), the master's keepalived killed with live
//!   connections;
//! - `cargo xtask demo ecmp`: three directors announcing one VIP over BGP
//!   (BIRD) to an ECMP router, `mh` and `sloppy_tcp`, one director
//!   withdrawn with live connections.

use std::process::Command;

use crate::Result;
use crate::lab::{Kernel, Lab};
use crate::process::{self, workspace_root};

/// `cargo xtask demo [nat|dr|failover|ecmp] [--kernel K]`: everything, or one setup.
pub fn main(args: &[String]) -> Result<i32> {
    let mut args = args.to_vec();
    let kernel = Kernel::take_option(&mut args)?;
    let only = match args.as_slice() {
        [] => None,
        [mode] if ["nat", "dr", "failover", "ecmp"].contains(&mode.as_str()) => Some(mode.clone()),
        _ => {
            return Err(format!(
                "unexpected arguments {args:?}: cargo xtask demo [nat|dr|failover|ecmp] [--kernel 6.1|6.12]"
            ));
        }
    };
    process::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            // run_director_demo lists the director's table with ipvsadm-rs too.
            .args(["build", "--quiet", "--package", "ipvs-examples"])
            .args(["--package", "ipvsadm-rs", "--bins"]),
    )?;
    let bin = |name: &str| {
        let path = workspace_root().join("target").join("debug").join(name);
        process::shell_quote(&path.to_string_lossy())
    };
    if let Some(mode) = only {
        let script = format!(
            "set -e; modprobe ip_vs; unshare --net {director} {mode}",
            director = bin("run_director_demo")
        );
        return Lab::prepare()?.run(kernel, &script);
    }
    let script = format!(
        r#"set -e
modprobe ip_vs
echo '===== 1. the service round trip (ipvs-demo) ====='
unshare --net bash -c 'ip link set lo up; {demo}; echo; echo "== ipvsadm -Ln (same namespace) =="; ipvsadm -Ln'
echo
echo '===== 2. LVS-NAT director with traffic (run_director_demo nat) ====='
unshare --net {director} nat
echo
echo '===== 3. LVS-DR director with traffic (run_director_demo dr) ====='
unshare --net {director} dr
"#,
        demo = bin("ipvs-demo"),
        director = bin("run_director_demo"),
    );
    Lab::prepare()?.run(kernel, &script)
}
