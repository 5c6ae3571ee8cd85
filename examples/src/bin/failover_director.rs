// SPDX-License-Identifier: MIT OR Apache-2.0
//! `failover_director`: one director of an LVS-DR active/backup pair, with
//! connection synchronisation, under keepalived (VRRP only; see
//! `ipvs_examples::director::failover` and `examples/conf/keepalived-pair.conf`).
//!
//! ```text
//! failover_director setup SERVICE...
//!     # both directors: the same services, no VIP (keepalived holds it):
//!     # ipvsadm -A -t VIP:PORT -s SCHED, ipvsadm -a -t VIP:PORT -r RS -g ...
//! failover_director notify master|backup|fault SYNC...
//!     # keepalived's notify_master / notify_backup / notify_fault:
//!     # master: ipvsadm --stop-daemon backup, ipvsadm --start-daemon master ...
//!     # backup, fault: ipvsadm --stop-daemon master, ipvsadm --start-daemon backup ...
//! failover_director status
//!     # ipvsadm -L --daemon
//! ```
//!
//! SERVICE: `--vip ADDR` (default 192.0.2.100), `--port N` (repeat for
//! several services on the VIP; default 23), `--scheduler NAME` (default
//! wlc), `--real-server ADDR[@WEIGHT]` (repeat; required), `--replace`.
//! SYNC: `--sync-iface IFACE` (default eth0), `--sync-id N` (0..255,
//! default 1: a backup with sync id 0 would take every pair's messages),
//! `--sync-maxlen N`, `--mcast-group ADDR` (IPv4 or IPv6; default
//! 224.0.0.81), `--mcast-port N` (default 8848), `--mcast-ttl N` (default
//! 1). Both directors' notify scripts must give the same SYNC flags.
//!
//! `notify` prints nothing on success (keepalived discards a script's
//! output) and exits 1 with the reason on stderr otherwise; keepalived logs
//! the exit status.
//!
//! Privileges: root, or CAP_NET_ADMIN in the initial user namespace plus
//! write access to /proc/sys; the `ip_vs` module. Acts on the network
//! namespace it runs in.

use std::net::IpAddr;
use std::process::ExitCode;

use ipvs::{DaemonRole, Ipvs, SyncDaemon};
use ipvs_examples::director::args::{self, RealServer};
use ipvs_examples::director::failover::{self, VrrpState};
use ipvs_examples::director::setup::VirtualService;

const USAGE: &str = "usage: failover_director setup [--vip ADDR] [--port N]... [--scheduler NAME] \
--real-server ADDR[@WEIGHT]... [--replace]\n\
\x20      failover_director notify master|backup|fault SYNC\n\
\x20      failover_director status\n\
SYNC: [--sync-iface IFACE] [--sync-id N] [--sync-maxlen N] [--mcast-group ADDR] [--mcast-port N] [--mcast-ttl N]";

enum Cmd {
    Setup(Vec<VirtualService>),
    Notify(VrrpState, SyncDaemon),
    Status,
}

/// Every flag of every subcommand; each subcommand refuses the ones it
/// does not take.
struct Flags {
    vip: IpAddr,
    ports: Vec<u16>,
    scheduler: String,
    servers: Vec<RealServer>,
    replace: bool,
    sync_iface: String,
    sync_id: u8,
    max_len: Option<u16>,
    group: Option<IpAddr>,
    mcast_port: Option<u16>,
    ttl: Option<u8>,
    values: Vec<String>,
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
        vip: "192.0.2.100".parse().expect("literal"),
        ports: Vec::new(),
        scheduler: "wlc".into(),
        servers: Vec::new(),
        replace: false,
        sync_iface: "eth0".into(),
        sync_id: 1,
        max_len: None,
        group: None,
        mcast_port: None,
        ttl: None,
        values: Vec::new(),
        seen: Vec::new(),
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::{Long, Value};
        let flag: &'static str = match arg {
            Value(v) => {
                f.values
                    .push(v.into_string().map_err(|v| format!("{v:?} is not UTF-8"))?);
                continue;
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
            Long("sync-iface") => {
                f.sync_iface = args::value(&mut p, "--sync-iface")?;
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
    const SYNC: &[&str] = &[
        "sync-iface",
        "sync-id",
        "sync-maxlen",
        "mcast-group",
        "mcast-port",
        "mcast-ttl",
    ];
    let sync = || {
        let mut d = SyncDaemon::new(DaemonRole::Backup, f.sync_iface.clone(), f.sync_id);
        d.max_len = f.max_len;
        d.mcast_group = f.group;
        d.mcast_port = f.mcast_port;
        d.mcast_ttl = f.ttl;
        // The typed errors name the field and its limit.
        d.validate().map(|()| d).map_err(|e| e.to_string())
    };
    let values = |want: usize| -> Result<(), String> {
        if f.values.len() == want {
            Ok(())
        } else {
            Err(format!("{sub}: unexpected arguments {:?}", f.values))
        }
    };
    match sub.as_str() {
        "setup" => {
            only(&["vip", "port", "scheduler", "real-server", "replace"])?;
            values(0)?;
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
            Ok(Cmd::Setup(services))
        }
        "notify" => {
            only(SYNC)?;
            let state = match f.values.as_slice() {
                [state] => state.parse()?,
                _ => return Err("notify: one state is required: master, backup or fault".into()),
            };
            Ok(Cmd::Notify(state, sync()?))
        }
        "status" => {
            only(&[])?;
            values(0)?;
            Ok(Cmd::Status)
        }
        other => Err(format!(
            "unknown subcommand {other:?}: setup, notify or status"
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
    let ipvs = Ipvs::new().map_err(|e| format!("opening IPVS: {e}"))?;
    match cmd {
        Cmd::Setup(services) => {
            let keys = failover::setup_member(&ipvs, &services).map_err(|e| e.to_string())?;
            println!("LVS-DR pair member ready (keepalived's notify starts the sync daemon)");
            for key in keys {
                println!("  service {}", key.ipvsadm_args());
            }
            Ok(())
        }
        Cmd::Notify(state, sync) => failover::follow_vrrp(&ipvs, &sync, state)
            .map_err(|e| format!("notify {}: {e}", state.name())),
        Cmd::Status => print_daemons(&ipvs),
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
