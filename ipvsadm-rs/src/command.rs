// SPDX-License-Identifier: MIT OR Apache-2.0
//! One builder per command: from the options ipvsadm read
//! ([`options::parse`]) to the `ipvs` crate's types, with ipvsadm's
//! defaults and the checks ipvsadm makes per command after reading its
//! options (`process_options`).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use ipvs::ipvs_sys::Protocol;
use ipvs::{
    DaemonRole, Destination, Family, Forwarding, Persistence, Scheduler, Service, ServiceKey,
    SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};

use crate::failure::Failure;
use crate::list::ListFormat;
use crate::names::Resolver;
use crate::options::{self, Cmd, Opt, Options, Parsed};

/// What `-L` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListTarget {
    /// The whole table.
    All,
    /// One service (`-L -t ADDR:PORT`).
    Service(ServiceKey),
    /// `--timeout`
    Timeouts,
    /// `--daemon`
    Daemons,
    /// `-c`: the connections (`/proc/net/ip_vs_conn`).
    Connections,
}

/// One ipvsadm command, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `-A`
    AddService(Service),
    /// `-E`
    EditService(Service),
    /// `-D`
    DeleteService(ServiceKey),
    /// `-C`
    Flush,
    /// `-a`
    AddDestination(ServiceKey, Destination),
    /// `-e`
    EditDestination(ServiceKey, Destination),
    /// `-d`
    DeleteDestination(ServiceKey, SocketAddr),
    /// `-Z`, of one service or all.
    Zero(Option<ServiceKey>),
    /// `--set TCP TCPFIN UDP` (0 leaves a value as it is).
    SetTimeouts(Timeouts),
    /// `--start-daemon`
    StartDaemon(SyncDaemon),
    /// `--stop-daemon`
    StopDaemon(DaemonRole),
    /// `-L`, `-l`, and no arguments at all.
    List(ListTarget, ListFormat),
    /// `-S`
    Save(ListFormat),
    /// `-R`
    Restore,
    /// `-h`
    Help,
    /// `-v`
    Version,
}

impl Command {
    /// True for the commands that change IPVS (what `-R` input holds).
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Command::List(..)
                | Command::Save(_)
                | Command::Restore
                | Command::Help
                | Command::Version
        )
    }
}

/// Reads one command line (without the program name) as ipvsadm would.
pub fn parse(args: Vec<OsString>, program: &str, names: &dyn Resolver) -> Result<Command, Failure> {
    let o = match options::parse(args, program, names)? {
        Parsed::Help => return Ok(Command::Help),
        Parsed::Version => return Ok(Command::Version),
        Parsed::Options(o) => o,
    };
    Ok(match o.command {
        Cmd::AddService => Command::AddService(service(&o)?),
        Cmd::EditService => Command::EditService(service(&o)?),
        Cmd::DeleteService => Command::DeleteService(service_key(&o)?),
        Cmd::Flush => Command::Flush,
        Cmd::List => list(&o)?,
        Cmd::AddDestination => {
            let (key, dest) = destination(&o)?;
            Command::AddDestination(key, dest)
        }
        Cmd::EditDestination => {
            let (key, dest) = destination(&o)?;
            Command::EditDestination(key, dest)
        }
        Cmd::DeleteDestination => Command::DeleteDestination(service_key(&o)?, real_server(&o)?),
        Cmd::SetTimeouts => {
            let unless_zero = |t: u32| (t != 0).then(|| Duration::from_secs(t.into()));
            let [tcp, tcp_fin, udp] = o.timeouts.map(unless_zero);
            Command::SetTimeouts(Timeouts::new(tcp, tcp_fin, udp))
        }
        Cmd::StartDaemon => Command::StartDaemon(daemon(&o)),
        Cmd::StopDaemon => Command::StopDaemon(o.daemon.role),
        Cmd::Restore => Command::Restore,
        Cmd::Save => Command::Save(ListFormat {
            rule: true,
            ..list_format(&o)
        }),
        Cmd::Zero => Command::Zero(o.service),
    })
}

/// The service option, which ipvsadm's table makes compulsory where this
/// is called.
fn service_key(o: &Options) -> Result<ServiceKey, Failure> {
    o.service
        .ok_or_else(|| missing("service-address", o.command))
}

/// The real server, likewise.
fn real_server(o: &Options) -> Result<SocketAddr, Failure> {
    o.real_server
        .ok_or_else(|| missing("real-server", o.command))
}

fn missing(option: &str, command: Cmd) -> Failure {
    Failure::usage(format!(
        "You need to supply the '{option}' option for the '{}' command",
        command.name()
    ))
}

/// `-A`, `-E`: scheduler wlc unless `-s`; a port-0 service must be
/// persistent, and one-packet scheduling is for UDP (and fwmark) services.
fn service(o: &Options) -> Result<Service, Failure> {
    let key = service_key(o)?;
    let one_packet = o.given.has(Opt::OnePacket);
    if let ServiceKey::Addr { protocol, addr } = key {
        if addr.port() == 0 && o.persistence.is_none() {
            return Err(Failure::usage(
                "Zero port specified for non-persistent service",
            ));
        }
        if one_packet && protocol != Protocol::Udp {
            return Err(Failure::usage(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
    }
    let scheduler = match o.scheduler.as_str() {
        "" => Scheduler::default(),
        name => Scheduler::from_name(name),
    };
    let mut service = Service::new(key, scheduler)
        .with_one_packet(one_packet)
        .with_scheduler_flags(o.scheduler_flags);
    if let Some(timeout) = o.persistence {
        let mut persistence = Persistence::new(Duration::from_secs(timeout.into()));
        if let Some(mask) = o.netmask.filter(|m| family_of_mask(m) == key.family()) {
            persistence = persistence.with_netmask(mask);
        }
        service = service.with_persistence(persistence);
    }
    match o.persistence_engine.as_deref() {
        None | Some("") => Ok(service),
        Some(pe) => Ok(service.with_persistence_engine(pe)),
    }
}

fn family_of_mask(mask: &ipvs::PersistenceNetmask) -> Family {
    match mask {
        ipvs::PersistenceNetmask::Ipv4(_) => Family::Ipv4,
        ipvs::PersistenceNetmask::Ipv6(_) => Family::Ipv6,
    }
}

/// `-a`, `-e`: direct routing and tunnels keep the service's port (except
/// for a fwmark service); only a tunnel may cross address families or take
/// `--tun-*` options, and those the tunnel type allows.
fn destination(o: &Options) -> Result<(ServiceKey, Destination), Failure> {
    let key = service_key(o)?;
    let mut addr = real_server(o)?;
    let mut dest = o.destination.clone();
    let tunnel = matches!(dest.forwarding, Forwarding::Tunnel(_));
    if let ServiceKey::Addr { addr: vip, .. } = key
        && (tunnel || dest.forwarding == Forwarding::DirectRoute)
    {
        addr.set_port(vip.port());
    }
    if Family::of(addr.ip()) != key.family() && !tunnel {
        return Err(Failure::usage(
            "Different address family is allowed only for tunneling servers",
        ));
    }
    let tunnel_options = [
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
    ];
    if tunnel_options.iter().any(|&opt| o.given.has(opt)) && !tunnel {
        return Err(Failure::usage(
            "Tunnel options conflict with forward method",
        ));
    }
    o.check_tunnel_options()?;
    dest.addr = addr;
    if tunnel {
        dest.forwarding = Forwarding::Tunnel(tunnel_of(o));
    }
    Ok((key, dest))
}

/// `--tun-type` with its `--tun-port` and checksum option.
fn tunnel_of(o: &Options) -> Tunnel {
    let checksum = if o.given.has(Opt::TunCsum) {
        TunnelChecksum::Checksum
    } else if o.given.has(Opt::TunRemCsum) {
        TunnelChecksum::RemoteChecksum
    } else {
        TunnelChecksum::None
    };
    match o.tunnel {
        Tunnel::Gue { .. } => Tunnel::Gue {
            port: o.tunnel_port,
            checksum,
        },
        Tunnel::Gre { .. } => Tunnel::Gre { checksum },
        other => other,
    }
}

/// `-L`: what to list, and how.
fn list(o: &Options) -> Result<Command, Failure> {
    let given = |opts: &[Opt]| opts.iter().any(|&opt| o.given.has(opt));
    if (given(&[Opt::Connection, Opt::Timeout, Opt::Daemon])
        && given(&[Opt::Stats, Opt::Rate, Opt::Thresholds]))
        || (given(&[Opt::Timeout, Opt::Daemon]) && given(&[Opt::PersistentConn]))
    {
        return Err(Failure::usage("options conflicts in the list command"));
    }
    let target = if given(&[Opt::Connection]) {
        ListTarget::Connections
    } else if let Some(key) = o.service {
        ListTarget::Service(key)
    } else if given(&[Opt::Timeout]) {
        ListTarget::Timeouts
    } else if given(&[Opt::Daemon]) {
        ListTarget::Daemons
    } else {
        ListTarget::All
    };
    Ok(Command::List(target, list_format(o)))
}

fn list_format(o: &Options) -> ListFormat {
    let has = |opt| o.given.has(opt);
    ListFormat {
        numeric: has(Opt::Numeric),
        rule: false,
        stats: has(Opt::Stats),
        rate: has(Opt::Rate),
        thresholds: has(Opt::Thresholds),
        persistent_conn: has(Opt::PersistentConn),
        nosort: has(Opt::NoSort),
        exact: has(Opt::Exact),
        tun_info: has(Opt::TunInfo),
    }
}

/// `--start-daemon`: interface eth0 unless given, the kernel's defaults
/// for what is not.
fn daemon(o: &Options) -> SyncDaemon {
    let mut daemon = o.daemon.clone();
    if daemon.interface.is_empty() {
        daemon.interface = "eth0".into();
    }
    daemon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> std::time::Duration {
        std::time::Duration::from_secs(n)
    }
    use crate::names::{Files, Numeric};
    use ipvs::{PersistenceNetmask, SchedulerFlags};

    fn p(line: &str) -> Result<Command, Failure> {
        let args = line.split_whitespace().map(OsString::from).collect();
        parse(args, "ipvsadm", &Numeric)
    }

    fn ok(line: &str) -> Command {
        p(line).unwrap_or_else(|f| panic!("{line}: {f}"))
    }

    fn key(text: &str) -> ServiceKey {
        text.parse().unwrap()
    }

    /// Every row of the table the kernel test also runs against ipvsadm:
    /// the first line and the exit status are ipvsadm's.
    #[test]
    fn refused_lines_fail_with_ipvsadms_words_and_status() {
        let table = include_str!("../tests/data/usage_errors.txt");
        let mut rows = 0;
        for row in table
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut fields = row.splitn(3, " | ");
            let (Some(status), Some(message), Some(line)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed row {row:?}");
            };
            let failure = match p(line) {
                Err(f) => f,
                Ok(c) => panic!("{line}: accepted as {c:?}"),
            };
            assert_eq!(
                (
                    failure.status.to_string().as_str(),
                    failure.message.as_str()
                ),
                (status, message),
                "{line}"
            );
            rows += 1;
        }
        assert!(rows >= 40, "{rows} rows");
    }

    #[test]
    fn a_service_gets_ipvsadms_defaults() {
        let Command::AddService(s) = ok("-A -t 192.0.2.1:80") else {
            panic!()
        };
        assert_eq!(s.to_string(), "-A -t 192.0.2.1:80 -s wlc");
        let Command::AddService(s) = ok("-A -t 192.0.2.1:80 -s rr -p") else {
            panic!()
        };
        assert_eq!(s.to_string(), "-A -t 192.0.2.1:80 -s rr -p 360");
        let Command::EditService(s) = ok("-E -t 192.0.2.1:80 -p60 -M 255.255.255.0 --pe sip")
        else {
            panic!()
        };
        assert_eq!(
            s.to_string(),
            "-A -t 192.0.2.1:80 -s wlc -p 60 -M 255.255.255.0 --pe sip"
        );
        let Command::AddService(s) = ok("-A -t 192.0.2.1:0 -p -s sh -b sh-port,sh-fallback") else {
            panic!()
        };
        assert_eq!(
            s.scheduler_flags,
            SchedulerFlags::PORT | SchedulerFlags::FALLBACK
        );
        let Command::AddService(s) = ok("-A -f 7 -6 -p -M 64 -o") else {
            panic!()
        };
        assert_eq!(s.to_string(), "-A -f 7 -6 -s wlc -p 360 -M 64 -o");
        // inet_aton's short forms, and a scheduler name cut as strncpy cuts it.
        let Command::AddService(s) = ok("-A -t 1.2.3:80 -s a_very_long_scheduler_name") else {
            panic!()
        };
        assert_eq!(s.to_string(), "-A -t 1.2.0.3:80 -s a_very_long_sch");
    }

    #[test]
    fn an_ipv6_service_after_m_resets_it_as_ipvsadm_does() {
        let Command::AddService(s) = ok("-A -M 64 -t [2001:db8::1]:80 -p 10") else {
            panic!()
        };
        assert_eq!(s.persistence.unwrap().netmask, None);
        let Command::AddService(s) = ok("-A -t [2001:db8::1]:80 -p 10 -M 64abc") else {
            panic!()
        };
        assert_eq!(
            s.persistence.unwrap().netmask,
            Some(PersistenceNetmask::Ipv6(64))
        );
        let Command::AddService(s) = ok("-A -t 192.0.2.1:80 -p 10 -M 24") else {
            panic!()
        };
        assert_eq!(s.to_string(), "-A -t 192.0.2.1:80 -s wlc -p 10 -M 0.0.0.24");
    }

    #[test]
    fn destinations_follow_the_forwarding_methods_port_rule() {
        let dest = |line| match ok(line) {
            Command::AddDestination(k, d) | Command::EditDestination(k, d) => (k, d.to_string()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            dest("-a -t 192.0.2.1:80 -r 192.0.2.2:8080"),
            (key("tcp:192.0.2.1:80"), "-r 192.0.2.2:80 -g -w 1".into())
        );
        assert_eq!(
            dest("-a -t 192.0.2.1:80 -r 192.0.2.2:8080 -m -w 100000").1,
            "-r 192.0.2.2:8080 -m -w 100000"
        );
        assert_eq!(
            dest("-e -t 192.0.2.1:80 -r 192.0.2.2 -m").1,
            "-r 192.0.2.2:80 -m -w 1"
        );
        assert_eq!(
            dest("-a -f 1 -r 192.0.2.2:8080").1,
            "-r 192.0.2.2:8080 -g -w 1"
        );
        assert_eq!(
            dest("-a -t 192.0.2.1:80 -r [2001:db8::2]:80 -i --tun-type gue --tun-port 6080 --tun-remcsum").1,
            "-r [2001:db8::2]:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum"
        );
        let Command::AddDestination(_, d) = ok("-a -t 192.0.2.1:80 -r 192.0.2.2 -x 5 -y 10") else {
            panic!()
        };
        assert_eq!((d.upper_threshold, d.lower_threshold), (5, 10));
        assert_eq!(
            ok("-d -t 192.0.2.1:80 -r 192.0.2.2"),
            Command::DeleteDestination(key("tcp:192.0.2.1:80"), "192.0.2.2:80".parse().unwrap())
        );
    }

    #[test]
    fn listings_and_their_formats() {
        let numeric = ListFormat {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(ok("-Ln"), Command::List(ListTarget::All, numeric));
        assert_eq!(
            ok("-L -n --stats --exact"),
            Command::List(
                ListTarget::All,
                ListFormat {
                    stats: true,
                    exact: true,
                    ..numeric
                }
            )
        );
        assert_eq!(
            ok("-l --timeout"),
            Command::List(ListTarget::Timeouts, ListFormat::default())
        );
        assert_eq!(
            ok("-L -n -f 8 -6"),
            Command::List(ListTarget::Service(ServiceKey::fwmark6(8)), numeric)
        );
        assert_eq!(
            ok("-Lcn --persistent-conn"),
            Command::List(
                ListTarget::Connections,
                ListFormat {
                    persistent_conn: true,
                    ..numeric
                }
            )
        );
        assert_eq!(
            ok("-Sn"),
            Command::Save(ListFormat {
                rule: true,
                ..numeric
            })
        );
        assert_eq!(
            ok("-L --sort --sort"),
            Command::List(ListTarget::All, ListFormat::default())
        );
    }

    #[test]
    fn the_other_commands() {
        assert_eq!(
            ok("--set 900 0 300"),
            Command::SetTimeouts(Timeouts::new(Some(secs(900)), None, Some(secs(300))))
        );
        assert_eq!(
            ok(
                "--start-daemon backup --syncid 6 --mcast-group 239.1.2.3 --mcast-port 9999 --mcast-ttl 3 --sync-maxlen 1000"
            ),
            Command::StartDaemon(
                SyncDaemon::new(DaemonRole::Backup, "eth0", 6)
                    .with_mcast_group("239.1.2.3".parse().unwrap())
                    .with_mcast_port(9999)
                    .with_mcast_ttl(3)
                    .with_max_len(1000)
            )
        );
        assert_eq!(
            ok("--start-daemon=master --mcast-interface averyveryverylongname0"),
            Command::StartDaemon(SyncDaemon::new(DaemonRole::Master, "averyveryverylo", 0))
        );
        assert_eq!(
            ok("--stop-daemon backup"),
            Command::StopDaemon(DaemonRole::Backup)
        );
        assert_eq!(ok("-Z"), Command::Zero(None));
        assert_eq!(ok("-C"), Command::Flush);
        assert_eq!(ok("-R"), Command::Restore);
        // -h and -v end the reading, as in ipvsadm.
        assert_eq!(ok("-h --bogus"), Command::Help);
        assert_eq!(ok("--version -Q"), Command::Version);
        // popt's spellings.
        assert_eq!(
            ok("-At192.0.2.1:80 -srr -p360"),
            ok("-A -t 192.0.2.1:80 -s rr -p 360")
        );
        assert_eq!(
            ok("-A -t=192.0.2.1:80 -p=60"),
            ok("-A -t 192.0.2.1:80 -p 60")
        );
        assert_eq!(ok("-A -t 192.0.2.1:80 --"), ok("-A -t 192.0.2.1:80"));
    }

    #[test]
    fn names_resolve_through_the_files() {
        let files = Files::from_texts("192.0.2.7 web\n", "http 80/tcp\ndomain 53/udp\n");
        let parse_with = |line: &str| {
            let args = line.split_whitespace().map(OsString::from).collect();
            parse(args, "ipvsadm", &files).unwrap()
        };
        let Command::AddService(s) = parse_with("-A -t web:http") else {
            panic!()
        };
        assert_eq!(s.key, key("tcp:192.0.2.7:80"));
        let Command::AddDestination(_, d) = parse_with("-a -u 192.0.2.1:domain -r web -m") else {
            panic!()
        };
        assert_eq!(d.addr, "192.0.2.7:53".parse().unwrap());
    }
}
