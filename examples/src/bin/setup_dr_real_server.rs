// SPDX-License-Identifier: MIT OR Apache-2.0
//! `setup_dr_real_server`: the real-server side of LVS-DR.
//!
//! The document puts the VIP on `lo:0` as a /32 and hides it from ARP with
//! the 2.4-era `hidden` sysctl; today's kernels do it with `arp_ignore` and
//! `arp_announce`:
//!
//! ```text
//! sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
//! sysctl -w net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
//! sysctl -w net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
//! ip addr add 172.26.20.110/32 dev lo
//! ```
//!
//! `arp_ignore=1`: answer ARP only for addresses of the interface the
//! request arrived on (the VIP is on `lo`, so never). `arp_announce=2`:
//! never use the VIP as the source of this host's own ARP requests.
//! The sysctls are set before the address is added, so the VIP is never
//! announced, not even for a moment.
//!
//! Flags: `--vip ADDR` (default 172.26.20.110), `--iface IFACE` (the
//! interface facing the director; default eth0).
//!
//! Privileges: root, or CAP_NET_ADMIN plus write access to /proc/sys.
//! Acts on the network namespace it runs in.

use std::net::IpAddr;
use std::process::ExitCode;

use ipvs_examples::director::{args, setup};

fn main() -> ExitCode {
    let parse = || -> Result<(IpAddr, String), String> {
        let mut vip: IpAddr = "172.26.20.110".parse().expect("literal");
        let mut iface = "eth0".to_string();
        let mut p = lexopt::Parser::from_env();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                lexopt::Arg::Long("vip") => vip = args::value(&mut p, "--vip")?,
                lexopt::Arg::Long("iface") => iface = args::value(&mut p, "--iface")?,
                lexopt::Arg::Long("help") => {
                    println!("usage: setup_dr_real_server [--vip ADDR] [--iface IFACE]");
                    std::process::exit(0);
                }
                other => return Err(other.unexpected().to_string()),
            }
        }
        if iface.is_empty() || iface.len() > 15 || iface.contains('/') {
            return Err(format!(
                "--iface {iface:?}: an interface name has 1..15 characters and no '/'"
            ));
        }
        Ok((vip, iface))
    };
    let (vip, iface) = match parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("setup_dr_real_server: {e}");
            return ExitCode::from(2);
        }
    };
    match setup::dr_real_server(vip, &iface) {
        Ok(()) => {
            println!("LVS-DR real server ready: {vip}/32 on lo, hidden from ARP on {iface}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("setup_dr_real_server: {e}");
            ExitCode::FAILURE
        }
    }
}
