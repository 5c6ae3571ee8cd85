// SPDX-License-Identifier: MIT OR Apache-2.0
//! `setup_dr_director`: the document's LVS-DR director (which the document
//! admits it never tested; `tests/kernel_nat_dr.rs` does).
//!
//! Defaults reproduce it: director 172.26.20.111 holding the VIP
//! 172.26.20.110 as an alias, telnet balanced by wlc over three real
//! servers with direct routing:
//!
//! ```text
//! echo 1 > /proc/sys/net/ipv4/ip_forward
//! ip addr add 172.26.20.110/32 dev eth0          # with --vip-iface eth0
//! ipvsadm -A -t 172.26.20.110:23 -s wlc
//! ipvsadm -a -t 172.26.20.110:23 -r 172.26.20.112 -g
//! ipvsadm -a -t 172.26.20.110:23 -r 172.26.20.113 -g
//! ipvsadm -a -t 172.26.20.110:23 -r 172.26.20.114 -g
//! ```
//!
//! Each real server runs `setup_dr_real_server`.
//!
//! Flags: `--vip ADDR`, `--port N`, `--scheduler NAME`,
//! `--real-server ADDR[@WEIGHT]` (repeat; replaces the defaults),
//! `--vip-iface IFACE`, `--vip-prefix LEN` (default 32), `--replace`.
//!
//! Privileges: root, or CAP_NET_ADMIN in the initial user namespace plus
//! write access to /proc/sys; the `ip_vs` module. Acts on the network
//! namespace it runs in.

use std::process::ExitCode;

use ipvs_examples::director::args::{self, RealServer};
use ipvs_examples::director::setup::{self, DrDirector, VirtualService};

fn parse() -> Result<DrDirector, String> {
    let mut vip: std::net::IpAddr = "172.26.20.110".parse().expect("literal");
    let mut port = 23;
    let mut scheduler = "wlc".to_string();
    let mut servers: Vec<RealServer> = Vec::new();
    let mut vip_iface = None;
    let mut vip_prefix = 32u8;
    let mut replace = false;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::Long;
        match arg {
            Long("vip") => vip = args::value(&mut p, "--vip")?,
            Long("port") => port = args::value(&mut p, "--port")?,
            Long("scheduler") => scheduler = args::value(&mut p, "--scheduler")?,
            Long("real-server") => servers.push(args::value(&mut p, "--real-server")?),
            Long("vip-iface") => vip_iface = Some(args::value(&mut p, "--vip-iface")?),
            Long("vip-prefix") => vip_prefix = args::value(&mut p, "--vip-prefix")?,
            Long("replace") => replace = true,
            Long("help") => {
                println!(
                    "usage: setup_dr_director [--vip ADDR] [--port N] [--scheduler NAME]\n\
                     \x20      [--real-server ADDR[@WEIGHT]]... [--vip-iface IFACE [--vip-prefix LEN]] [--replace]"
                );
                std::process::exit(0);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let max = if vip.is_ipv4() { 32 } else { 128 };
    if vip_prefix > max {
        return Err(format!(
            "--vip-prefix {vip_prefix}: at most {max} for {vip}"
        ));
    }
    if servers.is_empty() {
        servers = ["172.26.20.112", "172.26.20.113", "172.26.20.114"]
            .iter()
            .map(|s| s.parse().expect("literal"))
            .collect();
    }
    Ok(DrDirector {
        service: VirtualService {
            vip,
            port,
            scheduler,
            real_servers: servers,
            replace,
        },
        vip_iface,
        vip_prefix,
    })
}

fn main() -> ExitCode {
    setup::director_main(
        "setup_dr_director",
        "LVS-DR",
        "route",
        parse(),
        setup::dr_director,
    )
}
