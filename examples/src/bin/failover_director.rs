// SPDX-License-Identifier: MIT OR Apache-2.0
//! `failover_director`: one director of an LVS-DR active/backup pair, with
//! connection synchronisation (see `ipvs_examples::director::failover`).
//!
//! ```text
//! failover_director setup --role master|backup SERVICE... SYNC...
//!     # both directors: the same services; the VIP only on the master;
//!     # ipvsadm -A/-a ... -g, ipvsadm --start-daemon ROLE --mcast-interface IF --syncid ID ...
//! failover_director promote VIP... SYNC... [--announce N]
//!     # the backup takes over: ip addr add VIP dev IF, arping -U -c N -I IF VIP
//!     # (IPv6: ip addr add VIP/128 dev IF nodad, N unsolicited neighbour
//!     # advertisements to ff02::1, RFC 4861 7.2.6),
//!     # ipvsadm --stop-daemon backup, ipvsadm --start-daemon master ... (same sync id)
//! failover_director demote VIP... SYNC...
//!     # the old master, if alive: ip addr del VIP dev IF,
//!     # ipvsadm --stop-daemon master, ipvsadm --start-daemon backup ...
//! failover_director status
//!     # ipvsadm -L --daemon
//! ```
//!
//! SERVICE: `--vip ADDR` (default 192.0.2.100), `--port N` (repeat for
//! several services on the VIP; default 23), `--scheduler NAME` (default
//! wlc), `--real-server ADDR[@WEIGHT]` (repeat; required), `--replace`.
//! VIP: `--vip ADDR` (IPv4 or IPv6), `--vip-iface IFACE` (default eth0),
//! `--vip-prefix LEN` (default 32 for IPv4, 128 for IPv6: the address alone,
//! no route). `--announce N` (default 3, at most 20): gratuitous ARPs for an
//! IPv4 VIP, unsolicited neighbour advertisements for an IPv6 one, one a
//! second.
//! SYNC: `--sync-iface IFACE` (default: the VIP interface), `--sync-id N`
//! (0..255, default 1: a backup with sync id 0 would take every pair's
//! messages), `--sync-maxlen N`, `--mcast-group ADDR` (IPv4 or IPv6;
//! default 224.0.0.81), `--mcast-port N` (default 8848), `--mcast-ttl N`
//! (default 1).
//!
//! Privileges: root, or CAP_NET_ADMIN in the initial user namespace plus
//! write access to /proc/sys; the `ip_vs` module; `arping` (iputils-arping)
//! to announce an IPv4 VIP, CAP_NET_RAW (a raw ICMPv6 socket) to announce an
//! IPv6 one. Acts on the network namespace it runs in.

use std::net::IpAddr;
use std::process::ExitCode;

use ipvs::{DaemonRole, Ipvs, SyncDaemon};
use ipvs_examples::director::args::{self, RealServer};
use ipvs_examples::director::failover::{self, Handover, PairMember};
use ipvs_examples::director::setup::VirtualService;

const USAGE: &str = "usage: failover_director setup --role master|backup [--vip ADDR] [--port N]... \
[--scheduler NAME] --real-server ADDR[@WEIGHT]... [--replace] VIP SYNC\n\
\x20      failover_director promote [--announce N] VIP SYNC\n\
\x20      failover_director demote VIP SYNC\n\
\x20      failover_director status\n\
VIP:  [--vip ADDR] [--vip-iface IFACE] [--vip-prefix LEN (default 32, IPv6 128)]\n\
      --announce N: gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6), default 3\n\
SYNC: [--sync-iface IFACE] [--sync-id N] [--sync-maxlen N] [--mcast-group ADDR] [--mcast-port N] [--mcast-ttl N]";

enum Cmd {
    Setup(PairMember),
    Promote(Handover),
    Demote(Handover),
    Status,
}

/// Every flag of every subcommand; each subcommand refuses the ones it
/// does not take.
struct Flags {
    role: Option<DaemonRole>,
    vip: IpAddr,
    ports: Vec<u16>,
    scheduler: String,
    servers: Vec<RealServer>,
    replace: bool,
    vip_iface: String,
    vip_prefix: Option<u8>,
    sync_iface: Option<String>,
    sync_id: u8,
    max_len: Option<u16>,
    group: Option<IpAddr>,
    mcast_port: Option<u16>,
    ttl: Option<u8>,
    announce: u32,
    seen: Vec<&'static str>,
}

fn parse() -> Result<Cmd, String> {
    let mut p = lexopt::Parser::from_env();
    let sub = match p.next().map_err(|e| e.to_string())? {
        Some(lexopt::Arg::Value(v)) => v.into_string().map_err(|v| format!("{v:?}"))?,
        Some(lexopt::Arg::Long("help")) | None => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => return Err(other.unexpected().to_string()),
    };
    let mut f = Flags {
        role: None,
        vip: "192.0.2.100".parse().expect("literal"),
        ports: Vec::new(),
        scheduler: "wlc".into(),
        servers: Vec::new(),
        replace: false,
        vip_iface: "eth0".into(),
        vip_prefix: None,
        sync_iface: None,
        sync_id: 1,
        max_len: None,
        group: None,
        mcast_port: None,
        ttl: None,
        announce: 3,
        seen: Vec::new(),
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::Long;
        let flag: &'static str = match arg {
            Long("role") => {
                f.role = Some(match args::value::<String>(&mut p, "--role")?.as_str() {
                    "master" => DaemonRole::Master,
                    "backup" => DaemonRole::Backup,
                    other => return Err(format!("--role {other}: master or backup")),
                });
                "role"
            }
            Long("vip") => {
                f.vip = args::value(&mut p, "--vip")?;
                "vip"
            }
            Long("port") => {
                f.ports.push(args::value(&mut p, "--port")?);
                "port"
            }
            Long("scheduler") => {
                f.scheduler = args::value(&mut p, "--scheduler")?;
                "scheduler"
            }
            Long("real-server") => {
                f.servers.push(args::value(&mut p, "--real-server")?);
                "real-server"
            }
            Long("replace") => {
                f.replace = true;
                "replace"
            }
            Long("vip-iface") => {
                f.vip_iface = args::value(&mut p, "--vip-iface")?;
                "vip-iface"
            }
            Long("vip-prefix") => {
                f.vip_prefix = Some(args::value(&mut p, "--vip-prefix")?);
                "vip-prefix"
            }
            Long("sync-iface") => {
                f.sync_iface = Some(args::value(&mut p, "--sync-iface")?);
                "sync-iface"
            }
            Long("sync-id") => {
                f.sync_id = args::value(&mut p, "--sync-id")?;
                "sync-id"
            }
            Long("sync-maxlen") => {
                f.max_len = Some(args::value(&mut p, "--sync-maxlen")?);
                "sync-maxlen"
            }
            Long("mcast-group") => {
                f.group = Some(args::value(&mut p, "--mcast-group")?);
                "mcast-group"
            }
            Long("mcast-port") => {
                f.mcast_port = Some(args::value(&mut p, "--mcast-port")?);
                "mcast-port"
            }
            Long("mcast-ttl") => {
                f.ttl = Some(args::value(&mut p, "--mcast-ttl")?);
                "mcast-ttl"
            }
            Long("announce") => {
                f.announce = args::value(&mut p, "--announce")?;
                "announce"
            }
            other => return Err(other.unexpected().to_string()),
        };
        f.seen.push(flag);
    }
    let only = |allowed: &[&str]| -> Result<(), String> {
        match f.seen.iter().find(|s| !allowed.contains(s)) {
            Some(s) => Err(format!("{sub}: --{s} does not apply")),
            None => Ok(()),
        }
    };
    const VIP: &[&str] = &["vip", "vip-iface", "vip-prefix"];
    // The VIP alone: a host prefix of its family unless told otherwise.
    let vip_prefix = f
        .vip_prefix
        .unwrap_or(if f.vip.is_ipv4() { 32 } else { 128 });
    const SYNC: &[&str] = &[
        "sync-iface",
        "sync-id",
        "sync-maxlen",
        "mcast-group",
        "mcast-port",
        "mcast-ttl",
    ];
    let sync = |role| {
        let mut d = SyncDaemon::new(
            role,
            f.sync_iface.clone().unwrap_or_else(|| f.vip_iface.clone()),
            f.sync_id,
        );
        d.max_len = f.max_len;
        d.mcast_group = f.group;
        d.mcast_port = f.mcast_port;
        d.mcast_ttl = f.ttl;
        // The typed errors name the field and its limit.
        d.validate().map(|()| d).map_err(|e| e.to_string())
    };
    match sub.as_str() {
        "setup" => {
            only(
                &[
                    VIP,
                    SYNC,
                    &["role", "port", "scheduler", "real-server", "replace"],
                ]
                .concat(),
            )?;
            let role = f.role.ok_or("setup: --role master|backup is required")?;
            if f.servers.is_empty() {
                return Err("setup: at least one --real-server is required".into());
            }
            let ports = if f.ports.is_empty() {
                vec![23]
            } else {
                f.ports.clone()
            };
            let services = ports
                .iter()
                .map(|&port| VirtualService {
                    vip: f.vip,
                    port,
                    scheduler: f.scheduler.clone(),
                    real_servers: f.servers.clone(),
                    replace: f.replace,
                })
                .collect();
            Ok(Cmd::Setup(PairMember {
                services,
                role,
                vip_iface: f.vip_iface.clone(),
                vip_prefix,
                sync: sync(role)?,
            }))
        }
        "promote" | "demote" => {
            let promote = sub == "promote";
            if promote {
                only(&[VIP, SYNC, &["announce"]].concat())?;
            } else {
                only(&[VIP, SYNC].concat())?;
            }
            let role = if promote {
                DaemonRole::Master
            } else {
                DaemonRole::Backup
            };
            let h = Handover {
                vip: f.vip,
                vip_iface: f.vip_iface.clone(),
                vip_prefix,
                sync: sync(role)?,
                announcements: if promote { f.announce } else { 0 },
            };
            Ok(if promote {
                Cmd::Promote(h)
            } else {
                Cmd::Demote(h)
            })
        }
        "status" => {
            only(&[])?;
            Ok(Cmd::Status)
        }
        other => Err(format!(
            "unknown subcommand {other:?}: setup, promote, demote or status"
        )),
    }
}

fn print_daemons(ipvs: &Ipvs) -> Result<(), String> {
    let daemons = ipvs.daemons().map_err(|e| e.to_string())?;
    if daemons.is_empty() {
        println!("no sync daemon");
    }
    for d in daemons {
        let role = match d.role {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        };
        let group = d.mcast_group.map(|g| g.to_string()).unwrap_or_default();
        println!(
            "{role} sync daemon: mcast={} syncid={} maxlen={} group={group} port={} ttl={}",
            d.interface,
            d.sync_id,
            d.max_len.unwrap_or(0),
            d.mcast_port.unwrap_or(0),
            d.mcast_ttl.unwrap_or(0),
        );
    }
    Ok(())
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Setup(member) => {
            let ipvs = Ipvs::new().map_err(|e| format!("opening IPVS: {e}"))?;
            let keys = failover::setup_member(&ipvs, &member).map_err(|e| e.to_string())?;
            let role = match member.role {
                DaemonRole::Master => "master (holds the VIP)",
                DaemonRole::Backup => "backup",
            };
            println!("LVS-DR pair member ready: {role}");
            for key in keys {
                println!("  service {}", key.ipvsadm_args());
            }
            print_daemons(&ipvs)
        }
        Cmd::Promote(h) => {
            failover::promote(&h).map_err(|e| e.to_string())?;
            println!("promoted: {} on {}", h.vip, h.vip_iface);
            print_daemons(&Ipvs::new().map_err(|e| e.to_string())?)
        }
        Cmd::Demote(h) => {
            failover::demote(&h).map_err(|e| e.to_string())?;
            println!("demoted: {} given up", h.vip);
            print_daemons(&Ipvs::new().map_err(|e| e.to_string())?)
        }
        Cmd::Status => print_daemons(&Ipvs::new().map_err(|e| e.to_string())?),
    }
}

fn main() -> ExitCode {
    let cmd = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("failover_director: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover_director: {e}");
            ExitCode::FAILURE
        }
    }
}
