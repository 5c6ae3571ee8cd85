// SPDX-License-Identifier: MIT OR Apache-2.0
//! `setup_nat_director`: the document's LVS-NAT director.
//!
//! Defaults reproduce the document's second example, round robin over five
//! real servers:
//!
//! ```text
//! echo 1 > /proc/sys/net/ipv4/ip_forward
//! ipvsadm -A -t 207.175.44.110:80 -s rr
//! ipvsadm -a -t 207.175.44.110:80 -r 192.168.10.1:80 -m
//! ...                                     (192.168.10.2 .. 192.168.10.5)
//! ```
//!
//! `--preset wlc` is its first example instead (one server twice as heavy):
//!
//! ```text
//! ipvsadm -A -t 207.175.44.110:80 -s wlc
//! ipvsadm -a -t 207.175.44.110:80 -r 192.168.0.11:80 -m
//! ipvsadm -a -t 207.175.44.110:80 -r 192.168.0.12:80 -m -w 2
//! ```
//!
//! With `--out-iface eth0 [--masquerade-from 192.168.10.0/24]` it also
//! masquerades the real servers' own outbound traffic, the nftables form of
//! `iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE`. With
//! `--vip-iface IFACE` it puts the VIP on that interface
//! (`ip addr add VIP/32 dev IFACE`).
//!
//! Flags: `--vip ADDR`, `--port N`, `--scheduler NAME`,
//! `--real-server ADDR[:PORT][@WEIGHT]` (repeat; replaces the defaults),
//! `--replace` (delete an existing service of that address first).
//!
//! Privileges: root, or CAP_NET_ADMIN in the initial user namespace (IPVS,
//! rtnetlink, nftables) plus write access to /proc/sys; the `ip_vs` module
//! (loaded on demand); `nft` for masquerading. Acts on the network
//! namespace it runs in (use `ip netns exec NAME setup_nat_director ...`).

use std::process::ExitCode;

use ipvs_examples::director::args::{self, RealServer};
use ipvs_examples::director::setup::{self, NatDirector, VirtualService};

fn parse() -> Result<NatDirector, String> {
    let mut vip: std::net::IpAddr = "207.175.44.110".parse().expect("literal");
    let mut port = 80;
    let mut scheduler: Option<String> = None;
    let mut servers: Vec<RealServer> = Vec::new();
    let mut preset = "rr".to_string();
    let mut vip_iface = None;
    let mut out_iface = None;
    let mut from = None;
    let mut replace = false;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::Long;
        match arg {
            Long("vip") => vip = args::value(&mut p, "--vip")?,
            Long("port") => port = args::value(&mut p, "--port")?,
            Long("scheduler") => scheduler = Some(args::value(&mut p, "--scheduler")?),
            Long("real-server") => servers.push(args::value(&mut p, "--real-server")?),
            Long("preset") => preset = args::value(&mut p, "--preset")?,
            Long("vip-iface") => vip_iface = Some(args::value(&mut p, "--vip-iface")?),
            Long("out-iface") => out_iface = Some(args::value::<String>(&mut p, "--out-iface")?),
            Long("masquerade-from") => {
                let v: String = args::value(&mut p, "--masquerade-from")?;
                from = Some(args::prefix(&v).map_err(|e| format!("--masquerade-from {e}"))?);
            }
            Long("replace") => replace = true,
            Long("help") => {
                println!(
                    "usage: setup_nat_director [--preset rr|wlc] [--vip ADDR] [--port N] [--scheduler NAME]\n\
                     \x20      [--real-server ADDR[:PORT][@WEIGHT]]... [--vip-iface IFACE]\n\
                     \x20      [--out-iface IFACE [--masquerade-from PREFIX]] [--replace]"
                );
                std::process::exit(0);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let (default_sched, default_servers): (&str, Vec<&str>) = match preset.as_str() {
        "rr" => (
            "rr",
            vec![
                "192.168.10.1",
                "192.168.10.2",
                "192.168.10.3",
                "192.168.10.4",
                "192.168.10.5",
            ],
        ),
        "wlc" => ("wlc", vec!["192.168.0.11", "192.168.0.12@2"]),
        other => {
            return Err(format!(
                "--preset {other}: the document's setups are `rr` and `wlc`"
            ));
        }
    };
    if servers.is_empty() {
        servers = default_servers
            .iter()
            .map(|s| s.parse().expect("literal"))
            .collect();
    }
    Ok(NatDirector {
        service: VirtualService {
            vip,
            port,
            scheduler: scheduler.unwrap_or_else(|| default_sched.into()),
            real_servers: servers,
            replace,
        },
        vip_iface,
        masquerade: out_iface.map(|o| (o, from)),
    })
}

fn main() -> ExitCode {
    setup::director_main(
        "setup_nat_director",
        "LVS-NAT",
        "masq",
        parse(),
        setup::nat_director,
    )
}
