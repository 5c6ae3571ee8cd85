// SPDX-License-Identifier: MIT OR Apache-2.0
//! The table as ipvsadm sees it: services, destinations, counters, in the
//! units ipvsadm prints. Kept apart from the `ipvs` crate's types so that
//! parsing and formatting are pure functions, tested without a kernel.

use std::net::{IpAddr, Ipv4Addr};

/// `IP_VS_SVC_F_PERSISTENT`.
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// `IP_VS_SVC_F_ONEPACKET`.
pub const SVC_F_ONEPACKET: u32 = 0x0004;
/// `IP_VS_SVC_F_SCHED1` (`flag-1`, `sh-fallback`, `mh-fallback`).
pub const SVC_F_SCHED1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2` (`flag-2`, `sh-port`, `mh-port`).
pub const SVC_F_SCHED2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED3` (`flag-3`).
pub const SVC_F_SCHED3: u32 = 0x0020;

/// The default persistence timeout ipvsadm sends for `-p` without a value
/// (`IPVS_SVC_PERSISTENT_TIMEOUT`, 6 minutes; the man page says 300).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;
/// The largest timeout ipvsadm accepts (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// A virtual service's transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// `-t`
    Tcp,
    /// `-u`
    Udp,
    /// `--sctp-service`
    Sctp,
}

impl Proto {
    /// The IP protocol number (ipvsadm sorts by it).
    pub fn number(self) -> u16 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }

    /// The option ipvsadm's save format uses.
    pub fn option(self) -> &'static str {
        match self {
            Proto::Tcp => "-t",
            Proto::Udp => "-u",
            Proto::Sctp => "--sctp-service",
        }
    }

    /// The name ipvsadm's listing uses.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Sctp => "SCTP",
        }
    }

    /// The protocol name in `/etc/services`.
    pub fn services_name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Svc {
    /// A protocol, an address and a port.
    Addr {
        /// TCP, UDP or SCTP.
        proto: Proto,
        /// The virtual address.
        addr: IpAddr,
        /// The virtual port (0 only for persistent services).
        port: u16,
    },
    /// A firewall mark.
    Fwmark {
        /// 1..=u32::MAX
        mark: u32,
        /// `-6`
        ipv6: bool,
    },
}

impl Svc {
    /// True for IPv6 services (and `-f MARK -6`).
    pub fn is_ipv6(&self) -> bool {
        match self {
            Svc::Addr { addr, .. } => addr.is_ipv6(),
            Svc::Fwmark { ipv6, .. } => *ipv6,
        }
    }

    /// The port (0 for fwmark services).
    pub fn port(&self) -> u16 {
        match self {
            Svc::Addr { port, .. } => *port,
            Svc::Fwmark { .. } => 0,
        }
    }

    /// The ipvsadm options naming this service, numerically
    /// (`-t 192.0.2.1:80`, `-f 3 -6`).
    pub fn args(&self) -> String {
        match self {
            Svc::Addr { proto, addr, port } => {
                format!("{} {}", proto.option(), addr_port(*addr, *port))
            }
            Svc::Fwmark { mark, ipv6: false } => format!("-f {mark}"),
            Svc::Fwmark { mark, ipv6: true } => format!("-f {mark} -6"),
        }
    }
}

/// `ADDR:PORT`, IPv6 in brackets, as ipvsadm prints and reads it.
pub fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The persistence granularity: an IPv4 mask or an IPv6 prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Netmask {
    /// `-M 255.255.255.0`
    V4(Ipv4Addr),
    /// `-M 64`
    V6(u32),
}

impl Netmask {
    /// The default for the family: /32 or /128.
    pub fn default_for(ipv6: bool) -> Self {
        if ipv6 {
            Netmask::V6(128)
        } else {
            Netmask::V4(Ipv4Addr::BROADCAST)
        }
    }

    /// True if this is the family default (ipvsadm then prints nothing).
    pub fn is_default(&self) -> bool {
        matches!(self, Netmask::V4(m) if *m == Ipv4Addr::BROADCAST)
            || matches!(self, Netmask::V6(128))
    }
}

/// Counters and rates of a service or destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A virtual service with its settings (and, when read from the kernel, its
/// counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// What identifies it.
    pub svc: Svc,
    /// Scheduler name.
    pub sched: String,
    /// `IP_VS_SVC_F_*` (without `HASHED`).
    pub flags: u32,
    /// Persistence timeout, seconds.
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine, empty if none.
    pub pe: String,
    /// Counters.
    pub stats: Stats,
}

impl Service {
    /// A service with ipvsadm's defaults (wlc, not persistent).
    pub fn new(svc: Svc) -> Self {
        Service {
            svc,
            sched: DEFAULT_SCHEDULER.into(),
            flags: 0,
            timeout: 0,
            netmask: Netmask::default_for(svc.is_ipv6()),
            pe: String::new(),
            stats: Stats::default(),
        }
    }

    /// True if `-p` was given.
    pub fn persistent(&self) -> bool {
        self.flags & SVC_F_PERSISTENT != 0
    }

    /// The settings (everything `-E` can change), without counters.
    pub fn same_settings(&self, other: &Service) -> bool {
        self.svc == other.svc
            && self.sched == other.sched
            && self.flags == other.flags
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe == other.pe
    }
}

/// How packets reach a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fwd {
    /// `-m`, shown as `Masq`.
    Masq,
    /// The kernel's own choice for a local address, shown as `Local`.
    Local,
    /// `-i`, shown as `Tunnel`.
    Tunnel,
    /// `-g` (the default), shown as `Route`.
    Route,
}

impl Fwd {
    /// `IP_VS_CONN_F_*` forwarding value.
    pub fn value(self) -> u32 {
        match self {
            Fwd::Masq => 0,
            Fwd::Local => 1,
            Fwd::Tunnel => 2,
            Fwd::Route => 3,
        }
    }

    /// From `conn_flags & IP_VS_CONN_F_FWD_MASK`.
    pub fn from_value(v: u32) -> Option<Self> {
        Some(match v & 7 {
            0 => Fwd::Masq,
            1 => Fwd::Local,
            2 => Fwd::Tunnel,
            3 => Fwd::Route,
            _ => return None,
        })
    }

    /// The listing's name.
    pub fn name(self) -> &'static str {
        match self {
            Fwd::Masq => "Masq",
            Fwd::Local => "Local",
            Fwd::Tunnel => "Tunnel",
            Fwd::Route => "Route",
        }
    }

    /// The save format's switch (LOCALNODE is saved as `-g`).
    pub fn switch(self) -> &'static str {
        match self {
            Fwd::Masq => "-m",
            Fwd::Tunnel => "-i",
            Fwd::Local | Fwd::Route => "-g",
        }
    }
}

/// Tunnel encapsulation (`--tun-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TunType {
    /// `ipip` (the default)
    #[default]
    Ipip,
    /// `gue` (needs `--tun-port`)
    Gue,
    /// `gre`
    Gre,
}

impl TunType {
    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    pub fn value(self) -> u8 {
        match self {
            TunType::Ipip => 0,
            TunType::Gue => 1,
            TunType::Gre => 2,
        }
    }

    /// From the kernel's value.
    pub fn from_value(v: u8) -> Option<Self> {
        Some(match v {
            0 => TunType::Ipip,
            1 => TunType::Gue,
            2 => TunType::Gre,
            _ => return None,
        })
    }

    /// ipvsadm's name.
    pub fn name(self) -> &'static str {
        match self {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        }
    }
}

/// Tunnel checksum mode (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TunCsum {
    /// `--tun-nocsum` (the default)
    #[default]
    NoCsum,
    /// `--tun-csum`
    Csum,
    /// `--tun-remcsum`
    RemCsum,
}

impl TunCsum {
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    pub fn value(self) -> u16 {
        match self {
            TunCsum::NoCsum => 0,
            TunCsum::Csum => 1,
            TunCsum::RemCsum => 2,
        }
    }

    /// From the kernel's flags.
    pub fn from_value(v: u16) -> Option<Self> {
        Some(match v {
            0 => TunCsum::NoCsum,
            1 => TunCsum::Csum,
            2 => TunCsum::RemCsum,
            _ => return None,
        })
    }

    /// The save format's option.
    pub fn option(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::RemCsum => "--tun-remcsum",
        }
    }

    /// The `--tun-info` listing's short form.
    pub fn short(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "-c",
            TunCsum::Csum => "+c",
            TunCsum::RemCsum => "r+c",
        }
    }
}

/// A real server of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: Fwd,
    /// Weight (0 = quiescent).
    pub weight: u32,
    /// `-x`
    pub u_threshold: u32,
    /// `-y`
    pub l_threshold: u32,
    /// Tunnel type.
    pub tun_type: TunType,
    /// Tunnel port (gue).
    pub tun_port: u16,
    /// Tunnel checksum mode.
    pub tun_csum: TunCsum,
    /// Active connections (read only).
    pub active: u32,
    /// Inactive connections (read only).
    pub inactive: u32,
    /// Persistent connections (read only).
    pub persist: u32,
    /// Counters (read only).
    pub stats: Stats,
}

impl Dest {
    /// A destination with ipvsadm's defaults (`-g -w 1`).
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Dest {
            addr,
            port,
            fwd: Fwd::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: TunCsum::NoCsum,
            active: 0,
            inactive: 0,
            persist: 0,
            stats: Stats::default(),
        }
    }

    /// The settings (everything `-e` can change), without counters.
    pub fn same_settings(&self, other: &Dest) -> bool {
        self.addr == other.addr
            && self.port == other.port
            && self.fwd == other.fwd
            && self.weight == other.weight
            && self.u_threshold == other.u_threshold
            && self.l_threshold == other.l_threshold
            && self.tun_type == other.tun_type
            && self.tun_port == other.tun_port
            && self.tun_csum == other.tun_csum
    }
}

/// A service and its real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The service.
    pub service: Service,
    /// Its real servers.
    pub dests: Vec<Dest>,
}

/// Global connection timeouts (`--set`, `-L --timeout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP established.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Sync daemon role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonState {
    /// `master`
    Master,
    /// `backup`
    Backup,
}

impl DaemonState {
    /// ipvsadm's name.
    pub fn name(self) -> &'static str {
        match self {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
        }
    }
}

/// A sync daemon (`--start-daemon`, `-L --daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    /// master or backup.
    pub state: DaemonState,
    /// `--mcast-interface` (default `eth0`).
    pub mcast_ifn: String,
    /// `--syncid`
    pub syncid: u8,
    /// `--sync-maxlen`, 0 if unset.
    pub sync_maxlen: u16,
    /// `--mcast-group`
    pub mcast_group: Option<IpAddr>,
    /// `--mcast-port`, 0 if unset.
    pub mcast_port: u16,
    /// `--mcast-ttl`, 0 if unset.
    pub mcast_ttl: u8,
}

/// The whole table as read from the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// `(version, conn_tab_size)` from GET_INFO.
    pub info: (u32, u32),
    /// Services with their dests, in kernel order.
    pub entries: Vec<Entry>,
}
