// SPDX-License-Identifier: MIT OR Apache-2.0
//! The bridge between ipvsadm's model ([`super::model`]) and the `ipvs`
//! crate: reading the table, and carrying out commands.

use std::net::SocketAddr;
use std::time::Duration;

use ipvs::ipvs_sys::Protocol;
use ipvs::{
    DaemonRole, Destination, Forwarding, Ipvs, Persistence, PersistenceNetmask, Scheduler,
    SchedulerFlags, ServiceKey, SyncDaemon, Tunnel, TunnelChecksum,
};

use super::cli::Command;
use super::model::{
    Daemon, DaemonState, Dest, Entry, Fwd, Netmask, Proto, SVC_F_ONEPACKET, SVC_F_PERSISTENT,
    SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, Service, Stats, Svc, Table, Timeouts, TunCsum,
    TunType,
};
use super::restore::{Backend, State};

/// `IP_VS_SVC_F_HASHED`: reported by the kernel, never shown by ipvsadm.
const SVC_F_HASHED: u32 = 0x0002;

/// A service key of the `ipvs` crate.
pub fn key(svc: &Svc) -> ServiceKey {
    match *svc {
        Svc::Addr { proto, addr, port } => {
            let sa = SocketAddr::new(addr, port);
            match proto {
                Proto::Tcp => ServiceKey::tcp(sa),
                Proto::Udp => ServiceKey::udp(sa),
                Proto::Sctp => ServiceKey::sctp(sa),
            }
        }
        Svc::Fwmark { mark, ipv6: false } => ServiceKey::fwmark(mark),
        Svc::Fwmark { mark, ipv6: true } => ServiceKey::fwmark6(mark),
    }
}

/// The model's service identity, or why the kernel's cannot be shown.
pub fn svc(key: &ServiceKey) -> Result<Svc, String> {
    match *key {
        ServiceKey::Addr { protocol, addr } => {
            let proto = match protocol {
                Protocol::Tcp => Proto::Tcp,
                Protocol::Udp => Proto::Udp,
                Protocol::Sctp => Proto::Sctp,
                other => return Err(format!("service {key} has protocol {other:?}")),
            };
            Ok(Svc::Addr {
                proto,
                addr: addr.ip(),
                port: addr.port(),
            })
        }
        ServiceKey::Fwmark { mark, family } => Ok(Svc::Fwmark {
            mark,
            ipv6: family == ipvs::Family::Ipv6,
        }),
        _ => Err(format!("service {key}: unknown kind")),
    }
}

fn stats(s: &ipvs::Stats) -> Stats {
    Stats {
        conns: s.connections,
        inpkts: s.packets_in,
        outpkts: s.packets_out,
        inbytes: s.bytes_in,
        outbytes: s.bytes_out,
        cps: s.connections_per_second,
        inpps: s.packets_in_per_second,
        outpps: s.packets_out_per_second,
        inbps: s.bytes_in_per_second,
        outbps: s.bytes_out_per_second,
    }
}

/// The model's view of a kernel service.
pub fn service_from(s: &ipvs::Service) -> Result<Service, String> {
    let svc = svc(&s.key)?;
    let mut flags = s.unknown_flags & !SVC_F_HASHED & !(SVC_F_PERSISTENT | SVC_F_ONEPACKET);
    flags |= s.scheduler_flags.bits() & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
    if s.one_packet {
        flags |= SVC_F_ONEPACKET;
    }
    let (timeout, netmask) = match &s.persistence {
        Some(p) => {
            flags |= SVC_F_PERSISTENT;
            (secs(p.timeout), p.netmask)
        }
        None => (0, None),
    };
    let netmask = match netmask {
        Some(PersistenceNetmask::Ipv4(m)) => Netmask::V4(m),
        Some(PersistenceNetmask::Ipv6(p)) => Netmask::V6(u32::from(p)),
        None => Netmask::default_for(svc.is_ipv6()),
    };
    Ok(Service {
        svc,
        sched: s.scheduler.name().to_string(),
        flags,
        timeout,
        netmask,
        pe: s.persistence_engine.clone().unwrap_or_default(),
        stats: stats(&s.stats),
    })
}

/// The `ipvs` crate's service for a model service.
pub fn service_to(s: &Service) -> ipvs::Service {
    let mut out = ipvs::Service::new(key(&s.svc), Scheduler::from_name(&s.sched));
    if s.persistent() {
        let mask = match s.netmask {
            Netmask::V4(m) => PersistenceNetmask::Ipv4(m),
            Netmask::V6(p) => PersistenceNetmask::Ipv6(p.min(128) as u8),
        };
        out = out.with_persistence(
            Persistence::new(Duration::from_secs(s.timeout.into())).with_netmask(mask),
        );
    }
    if !s.pe.is_empty() {
        out = out.with_persistence_engine(s.pe.clone());
    }
    out.with_one_packet(s.flags & SVC_F_ONEPACKET != 0)
        .with_scheduler_flags(SchedulerFlags::from_bits_truncate(
            s.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3),
        ))
}

fn csum_from(c: TunnelChecksum) -> TunCsum {
    match c {
        TunnelChecksum::Checksum => TunCsum::Csum,
        TunnelChecksum::RemoteChecksum => TunCsum::RemCsum,
        _ => TunCsum::NoCsum,
    }
}

fn csum_to(c: TunCsum) -> TunnelChecksum {
    match c {
        TunCsum::NoCsum => TunnelChecksum::None,
        TunCsum::Csum => TunnelChecksum::Checksum,
        TunCsum::RemCsum => TunnelChecksum::RemoteChecksum,
    }
}

/// The model's view of a kernel destination.
pub fn dest_from(d: &Destination) -> Dest {
    let mut out = Dest::new(d.addr.ip(), d.addr.port());
    out.fwd = match d.forwarding {
        Forwarding::Masquerade => Fwd::Masq,
        Forwarding::Local => Fwd::Local,
        Forwarding::Tunnel(t) => {
            match t {
                Tunnel::Gue { port, checksum } => {
                    out.tun_type = TunType::Gue;
                    out.tun_port = port;
                    out.tun_csum = csum_from(checksum);
                }
                Tunnel::Gre { checksum } => {
                    out.tun_type = TunType::Gre;
                    out.tun_csum = csum_from(checksum);
                }
                _ => out.tun_type = TunType::Ipip,
            }
            Fwd::Tunnel
        }
        Forwarding::Other(v) => Fwd::from_value(v).unwrap_or(Fwd::Route),
        _ => Fwd::Route,
    };
    out.weight = d.weight;
    out.u_threshold = d.upper_threshold;
    out.l_threshold = d.lower_threshold;
    out.active = d.active_connections;
    out.inactive = d.inactive_connections;
    out.persist = d.persistent_connections;
    out.stats = stats(&d.stats);
    out
}

/// The `ipvs` crate's destination for a model destination.
pub fn dest_to(d: &Dest) -> Destination {
    let forwarding = match d.fwd {
        Fwd::Masq => Forwarding::Masquerade,
        Fwd::Route => Forwarding::DirectRoute,
        Fwd::Local => Forwarding::Local,
        Fwd::Tunnel => Forwarding::Tunnel(match d.tun_type {
            TunType::Ipip => Tunnel::Ipip,
            TunType::Gue => Tunnel::Gue {
                port: d.tun_port,
                checksum: csum_to(d.tun_csum),
            },
            TunType::Gre => Tunnel::Gre {
                checksum: csum_to(d.tun_csum),
            },
        }),
    };
    Destination::new(SocketAddr::new(d.addr, d.port), forwarding)
        .with_weight(d.weight)
        .with_thresholds(d.u_threshold, d.l_threshold)
}

fn role(s: DaemonState) -> DaemonRole {
    match s {
        DaemonState::Master => DaemonRole::Master,
        DaemonState::Backup => DaemonRole::Backup,
    }
}

/// The `ipvs` crate's sync daemon for a model daemon.
pub fn daemon_to(d: &Daemon) -> SyncDaemon {
    let mut out = SyncDaemon::new(role(d.state), d.mcast_ifn.clone(), d.syncid);
    if d.sync_maxlen != 0 {
        out = out.with_max_len(d.sync_maxlen);
    }
    if let Some(g) = d.mcast_group {
        out = out.with_mcast_group(g);
    }
    if d.mcast_port != 0 {
        out = out.with_mcast_port(d.mcast_port);
    }
    if d.mcast_ttl != 0 {
        out = out.with_mcast_ttl(d.mcast_ttl);
    }
    out
}

/// The model's view of a kernel sync daemon.
pub fn daemon_from(d: &SyncDaemon) -> Daemon {
    Daemon {
        state: match d.role {
            DaemonRole::Master => DaemonState::Master,
            DaemonRole::Backup => DaemonState::Backup,
        },
        mcast_ifn: d.interface.clone(),
        syncid: d.sync_id,
        sync_maxlen: d.max_len.unwrap_or(0),
        mcast_group: d.mcast_group,
        mcast_port: d.mcast_port.unwrap_or(0),
        mcast_ttl: d.mcast_ttl.unwrap_or(0),
    }
}

/// Reads one service with its destinations.
pub fn read_entry(ipvs: &Ipvs, s: &ipvs::Service) -> Result<Entry, String> {
    let service = service_from(s)?;
    let dests = ipvs
        .destinations(&s.key)
        .map_err(|e| e.to_string())?
        .iter()
        .map(dest_from)
        .collect();
    Ok(Entry { service, dests })
}

/// Reads the whole table (GET_INFO, the service dump, one dest dump per
/// service).
pub fn read_table(ipvs: &Ipvs) -> Result<Table, String> {
    let info = ipvs.info().map_err(|e| e.to_string())?;
    let v = info.version;
    let code = (u32::from(v.major) << 16) | (u32::from(v.minor) << 8) | u32::from(v.patch);
    let mut entries = Vec::new();
    for s in ipvs.services().map_err(|e| e.to_string())? {
        entries.push(read_entry(ipvs, &s)?);
    }
    Ok(Table {
        info: (code, info.connection_table_size),
        entries,
    })
}

/// Reads the timeouts.
pub fn read_timeouts(ipvs: &Ipvs) -> Result<Timeouts, String> {
    let t = ipvs.timeouts().map_err(|e| e.to_string())?;
    Ok(Timeouts {
        tcp: t.tcp.map_or(0, secs),
        tcp_fin: t.tcp_fin.map_or(0, secs),
        udp: t.udp.map_or(0, secs),
    })
}

/// A timeout the kernel reported, in its whole seconds.
fn secs(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX)
}

/// Reads everything `-R` can change.
pub fn read_state(ipvs: &Ipvs) -> Result<State, String> {
    Ok(State {
        entries: read_table(ipvs)?.entries,
        timeouts: read_timeouts(ipvs)?,
        daemons: ipvs
            .daemons()
            .map_err(|e| e.to_string())?
            .iter()
            .map(daemon_from)
            .collect(),
    })
}

/// Carries out commands on the kernel through an [`Ipvs`] handle.
pub struct Kernel<'a>(pub &'a Ipvs);

impl Backend for Kernel<'_> {
    fn run(&mut self, cmd: &Command) -> Result<(), String> {
        let ipvs = self.0;
        let opt = |v: u32| (v != 0).then(|| Duration::from_secs(v.into()));
        let r = match cmd {
            Command::AddService(s) => ipvs.add_service(&service_to(s)),
            Command::EditService(s) => ipvs.update_service(&service_to(s)),
            Command::DeleteService(s) => ipvs.delete_service(&key(s)),
            Command::Flush => ipvs.flush(),
            Command::AddDest(s, d) => ipvs.add_destination(&key(s), &dest_to(d)),
            Command::EditDest(s, d) => ipvs.update_destination(&key(s), &dest_to(d)),
            Command::DeleteDest(s, addr, port) => {
                ipvs.delete_destination(&key(s), SocketAddr::new(*addr, *port))
            }
            Command::Zero(None) => ipvs.zero_all(),
            Command::Zero(Some(s)) => ipvs.zero_service(&key(s)),
            Command::SetTimeouts(t) => {
                ipvs.set_timeouts(&ipvs::Timeouts::new(opt(t.tcp), opt(t.tcp_fin), opt(t.udp)))
            }
            Command::StartDaemon(d) => ipvs.start_daemon(&daemon_to(d)),
            Command::StopDaemon(s) => ipvs.stop_daemon(role(*s)),
            other => return Err(format!("{other:?} does not change the table")),
        };
        r.map_err(|e| e.to_string())
    }
}
