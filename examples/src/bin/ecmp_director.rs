// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ecmp_director`: one service of one director of an active/active tier
//! behind an ECMP router (see `ipvs_examples::director::ecmp`): every
//! director runs the same services and announces the VIP over BGP (BIRD 2,
//! `examples/conf/bird-director.conf`).
//!
//! ```text
//! sysctl -w net.ipv4.vs.sloppy_tcp=1
//! ip addr add 192.0.2.100/32 dev lo
//! ipvsadm -A -t 192.0.2.100:80 -s mh
//! ipvsadm -a -t 192.0.2.100:80 -r RS -g      # each --real-server, in order
//! ```
//!
//! Flags: `--vip ADDR` (default 192.0.2.100), `--port N` (default 80),
//! `--scheduler NAME` (default mh), `--real-server ADDR[@WEIGHT]` (repeat;
//! required; give the same list in the same order on every director),
//! `--replace`. Run it once per service.
//!
//! Privileges: root, or CAP_NET_ADMIN in the initial user namespace plus
//! write access to /proc/sys; the `ip_vs` module. Acts on the network
//! namespace it runs in.

use std::process::ExitCode;

use ipvs_examples::director::args::{self, RealServer};
use ipvs_examples::director::ecmp;
use ipvs_examples::director::setup::{self, VirtualService};

const USAGE: &str = "usage: ecmp_director [--vip ADDR] [--port N] [--scheduler NAME] \
--real-server ADDR[@WEIGHT]... [--replace]";

fn parse() -> Result<VirtualService, String> {
    let mut vip: std::net::IpAddr = "192.0.2.100".parse().expect("literal");
    let mut port = 80;
    let mut scheduler = "mh".to_string();
    let mut servers: Vec<RealServer> = Vec::new();
    let mut replace = false;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::Long;
        match arg {
            Long("vip") => vip = args::value(&mut p, "--vip")?,
            Long("port") => port = args::value(&mut p, "--port")?,
            Long("scheduler") => scheduler = args::value(&mut p, "--scheduler")?,
            Long("real-server") => servers.push(args::value(&mut p, "--real-server")?),
            Long("replace") => replace = true,
            Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if servers.is_empty() {
        return Err(format!("at least one --real-server is required\n{USAGE}"));
    }
    Ok(VirtualService {
        vip,
        port,
        scheduler,
        real_servers: servers,
        replace,
    })
}

fn main() -> ExitCode {
    setup::director_main(
        "ecmp_director",
        "ECMP tier LVS-DR",
        "route",
        parse(),
        ecmp::setup_member,
    )
}
