// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Service`]: a virtual service, its scheduler, persistence and flags.

use std::net::{Ipv4Addr, SocketAddr};

use bitflags::bitflags;
use ipvs_sys::{FlagsMask, Netmask, Protocol, ServiceAttribute, ServiceFlags};
use netlink_packet_core::DefaultNla;

use crate::error::{Error, Op};
use crate::key::{Family, ServiceKey};
use crate::scheduler::{Scheduler, validate_name};
use crate::stats::Stats;

/// Default persistence timeout of `ipvsadm -p` without a value (seconds).
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;

/// Longest persistence timeout accepted: the kernel stores `timeout × HZ`
/// in 32 bits, and HZ is at most 1000.
pub const MAX_PERSISTENCE_TIMEOUT: u32 = u32::MAX / 1000;

/// Which client addresses share a persistent destination (`ipvsadm -M`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistenceNetmask {
    /// An IPv4 netmask such as 255.255.255.0 (IPv4 services).
    Ipv4(Ipv4Addr),
    /// An IPv6 prefix length 1..=128 (IPv6 services).
    Ipv6(u8),
}

impl PersistenceNetmask {
    /// The default for `family`: each client address on its own (/32, /128).
    pub fn host(family: Family) -> Self {
        match family {
            Family::Ipv4 => PersistenceNetmask::Ipv4(Ipv4Addr::BROADCAST),
            Family::Ipv6 => PersistenceNetmask::Ipv6(128),
        }
    }

    fn to_wire(self) -> Netmask {
        match self {
            PersistenceNetmask::Ipv4(mask) => Netmask::from_ipv4_mask(mask),
            PersistenceNetmask::Ipv6(prefix) => Netmask::from_ipv6_prefix_len(prefix),
        }
    }

    fn from_wire(raw: Netmask, family: Family) -> Option<Self> {
        Some(match family {
            Family::Ipv4 => PersistenceNetmask::Ipv4(raw.to_ipv4_mask()),
            Family::Ipv6 => PersistenceNetmask::Ipv6(u8::try_from(raw.ipv6_prefix_len()).ok()?),
        })
    }
}

/// Persistence (`ipvsadm -p TIMEOUT -M NETMASK`): connections from the same
/// client network go to the same destination for `timeout` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Persistence {
    /// Seconds, 1..=[`MAX_PERSISTENCE_TIMEOUT`].
    pub timeout: u32,
    /// Client grouping; `None` means one client address per group. A host
    /// mask (255.255.255.255 or /128) is the same thing and reads back as
    /// `None`.
    pub netmask: Option<PersistenceNetmask>,
}

impl Persistence {
    /// Persistence for `timeout` seconds, per client address.
    pub fn new(timeout: u32) -> Self {
        Self {
            timeout,
            netmask: None,
        }
    }

    /// Groups clients by `netmask`.
    pub fn with_netmask(mut self, netmask: PersistenceNetmask) -> Self {
        self.netmask = Some(netmask);
        self
    }
}

impl Default for Persistence {
    /// 360 s per client address, what `ipvsadm -p` sends.
    fn default() -> Self {
        Self::new(DEFAULT_PERSISTENCE_TIMEOUT)
    }
}

bitflags! {
    /// Scheduler flags (`ipvsadm -b`). Their meaning depends on the
    /// scheduler: `sh` and `mh` read `FALLBACK` and `PORT`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SchedulerFlags: u32 {
        /// `IP_VS_SVC_F_SCHED1`: `sh-fallback` / `mh-fallback` / `flag-1`.
        const FALLBACK = ServiceFlags::SCHED1.bits();
        /// `IP_VS_SVC_F_SCHED2`: `sh-port` / `mh-port` / `flag-2`.
        const PORT = ServiceFlags::SCHED2.bits();
        /// `IP_VS_SVC_F_SCHED3`: `flag-3`.
        const FLAG_3 = ServiceFlags::SCHED3.bits();
    }
}

/// A virtual service: what `ipvsadm -A` creates and `ipvsadm -Ln` lists.
///
/// Build one with [`Service::new`] and the `with_*` methods; fields are
/// public for reading and adjusting. `stats` and `unknown_attributes` are
/// read from the kernel and ignored when writing.
///
/// ```
/// use ipvs::{Persistence, Scheduler, Service, ServiceKey};
/// let svc = Service::new(ServiceKey::tcp("203.0.113.1:80".parse()?), Scheduler::RoundRobin)
///     .with_persistence(Persistence::new(300));
/// assert_eq!(svc.to_string(), "-A -t 203.0.113.1:80 -s rr -p 300");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Service {
    /// What identifies the service.
    pub key: ServiceKey,
    /// The scheduler.
    pub scheduler: Scheduler,
    /// Persistence, if enabled (`IP_VS_SVC_F_PERSISTENT`).
    pub persistence: Option<Persistence>,
    /// Persistence engine, e.g. `"sip"` (`ipvsadm --pe NAME`).
    pub persistence_engine: Option<String>,
    /// One-packet scheduling for UDP (`ipvsadm -o`).
    pub one_packet: bool,
    /// Scheduler flags (`ipvsadm -b`).
    pub scheduler_flags: SchedulerFlags,
    /// Flag bits this crate does not name, as the kernel reported them.
    pub unknown_flags: u32,
    /// Counters and rates (read-only).
    pub stats: Stats,
    /// Attributes from a newer kernel that this crate does not know, kept
    /// as received (read-only: not sent back).
    pub unknown_attributes: Vec<DefaultNla>,
}

impl Service {
    /// A service with `scheduler` and no persistence or flags.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Self {
            key,
            scheduler,
            persistence: None,
            persistence_engine: None,
            one_packet: false,
            scheduler_flags: SchedulerFlags::empty(),
            unknown_flags: 0,
            stats: Stats::default(),
            unknown_attributes: Vec::new(),
        }
    }

    /// Enables persistence.
    pub fn with_persistence(mut self, persistence: Persistence) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// Sets a persistence engine (such as `"sip"`).
    pub fn with_persistence_engine(mut self, name: impl Into<String>) -> Self {
        self.persistence_engine = Some(name.into());
        self
    }

    /// Enables one-packet scheduling.
    pub fn with_one_packet(mut self, on: bool) -> Self {
        self.one_packet = on;
        self
    }

    /// Sets the scheduler flags.
    pub fn with_scheduler_flags(mut self, flags: SchedulerFlags) -> Self {
        self.scheduler_flags = flags;
        self
    }

    /// Checks the kernel's and ipvsadm's rules, so an invalid service never
    /// reaches the kernel.
    pub fn validate(&self) -> Result<(), Error> {
        self.key.validate()?;
        self.scheduler.validate()?;
        if let Some(pe) = &self.persistence_engine {
            validate_name("persistence engine", pe)?;
        }
        if let Some(p) = &self.persistence {
            if p.timeout == 0 || p.timeout > MAX_PERSISTENCE_TIMEOUT {
                return Err(Error::invalid(
                    "persistence timeout",
                    format!(
                        "{} s: must be 1..={MAX_PERSISTENCE_TIMEOUT} seconds",
                        p.timeout
                    ),
                ));
            }
            match (p.netmask, self.key.family()) {
                (None, _) | (Some(PersistenceNetmask::Ipv4(_)), Family::Ipv4) => {}
                (Some(PersistenceNetmask::Ipv6(prefix)), Family::Ipv6) => {
                    if !(1..=128).contains(&prefix) {
                        return Err(Error::invalid(
                            "persistence netmask",
                            format!("IPv6 prefix /{prefix}: must be 1..=128"),
                        ));
                    }
                }
                (Some(mask), family) => {
                    return Err(Error::invalid(
                        "persistence netmask",
                        format!("{mask:?} does not match the {family:?} service"),
                    ));
                }
            }
        }
        if let ServiceKey::Addr { protocol, addr } = self.key {
            if addr.port() == 0 && self.persistence.is_none() {
                return Err(Error::invalid(
                    "port",
                    "a service on port 0 (all ports) must be persistent, as ipvsadm requires",
                ));
            }
            if self.one_packet && protocol != Protocol::Udp {
                return Err(Error::invalid(
                    "one-packet",
                    "one-packet scheduling applies to UDP and firewall-mark services only",
                ));
            }
        }
        if self.unknown_flags & known_flag_bits() != 0 {
            return Err(Error::invalid(
                "unknown_flags",
                "carries bits that have named fields (persistence, one_packet, scheduler_flags)",
            ));
        }
        Ok(())
    }

    fn wire_flags(&self) -> ServiceFlags {
        let mut flags =
            ServiceFlags::from_bits_retain(self.scheduler_flags.bits() | self.unknown_flags);
        flags.set(ServiceFlags::PERSISTENT, self.persistence.is_some());
        flags.set(ServiceFlags::ONE_PACKET, self.one_packet);
        flags
    }

    /// The full service nest of `IPVS_CMD_NEW_SERVICE`/`SET_SERVICE`, in
    /// ipvsadm's order. Call [`Service::validate`] first.
    pub(crate) fn to_attributes(&self) -> Vec<ServiceAttribute> {
        let family = self.key.family();
        let mut out = self.key.to_attributes();
        out.push(ServiceAttribute::SchedName(
            self.scheduler.name().to_owned(),
        ));
        if let Some(pe) = &self.persistence_engine {
            out.push(ServiceAttribute::PeName(pe.clone()));
        }
        out.push(ServiceAttribute::Flags(FlagsMask::replace_all(
            self.wire_flags(),
        )));
        let timeout = self.persistence.map_or(0, |p| p.timeout);
        out.push(ServiceAttribute::Timeout(timeout));
        // The kernel requires NETMASK even without persistence, and rejects
        // an IPv6 value outside 1..=128: send the per-family default.
        let netmask = self
            .persistence
            .and_then(|p| p.netmask)
            .unwrap_or_else(|| PersistenceNetmask::host(family));
        out.push(ServiceAttribute::Netmask(netmask.to_wire()));
        out
    }

    /// Decodes a service nest from the kernel.
    pub(crate) fn from_attributes(op: Op, attrs: &[ServiceAttribute]) -> Result<Self, Error> {
        let mut af = None;
        let mut protocol = None;
        let mut addr = None;
        let mut port = None;
        let mut fwmark = None;
        let mut sched = None;
        let mut pe = None;
        let mut flags = ServiceFlags::empty();
        let mut timeout = 0;
        let mut netmask = None;
        let mut stats32 = None;
        let mut stats64 = None;
        let mut unknown = Vec::new();
        for a in attrs {
            match a {
                ServiceAttribute::Af(v) => af = Some(*v),
                ServiceAttribute::Protocol(v) => protocol = Some(*v),
                ServiceAttribute::Addr(v) => addr = Some(*v),
                ServiceAttribute::Port(v) => port = Some(*v),
                ServiceAttribute::Fwmark(v) => fwmark = Some(*v),
                ServiceAttribute::SchedName(v) => sched = Some(v.clone()),
                ServiceAttribute::PeName(v) => pe = Some(v.clone()).filter(|s| !s.is_empty()),
                ServiceAttribute::Flags(v) => flags = v.flags,
                ServiceAttribute::Timeout(v) => timeout = *v,
                ServiceAttribute::Netmask(v) => netmask = Some(*v),
                ServiceAttribute::Stats(v) => stats32 = Some(v),
                ServiceAttribute::Stats64(v) => stats64 = Some(v),
                ServiceAttribute::Other(nla) => unknown.push(nla.clone()),
                other => log::debug!("{op}: ignoring service attribute {other:?}"),
            }
        }
        let bad = |reason: &str| Error::Decode {
            op,
            reason: format!("service: {reason}"),
            raw: Vec::new(),
        };
        let af = af.ok_or_else(|| bad("no IPVS_SVC_ATTR_AF"))?;
        let family =
            Family::from_wire(af).ok_or_else(|| bad(&format!("unknown address family {af:?}")))?;
        let key = match fwmark.filter(|m| *m != 0) {
            Some(mark) => ServiceKey::Fwmark { mark, family },
            None => {
                let protocol = protocol.ok_or_else(|| bad("no IPVS_SVC_ATTR_PROTOCOL"))?;
                let ip = addr
                    .and_then(|a| a.to_ip(af))
                    .ok_or_else(|| bad("no valid IPVS_SVC_ATTR_ADDR"))?;
                let port = port.ok_or_else(|| bad("no IPVS_SVC_ATTR_PORT"))?;
                ServiceKey::Addr {
                    protocol,
                    addr: SocketAddr::new(ip, port),
                }
            }
        };
        let persistence = flags
            .contains(ServiceFlags::PERSISTENT)
            .then(|| Persistence {
                timeout,
                netmask: netmask
                    .and_then(|m| PersistenceNetmask::from_wire(m, family))
                    .filter(|m| *m != PersistenceNetmask::host(family)),
            });
        Ok(Service {
            key,
            scheduler: Scheduler::from_name(sched.as_deref().unwrap_or("none")),
            persistence,
            persistence_engine: pe,
            one_packet: flags.contains(ServiceFlags::ONE_PACKET),
            scheduler_flags: SchedulerFlags::from_bits_truncate(flags.bits()),
            unknown_flags: flags.bits() & !known_flag_bits() & !ServiceFlags::HASHED.bits(),
            stats: Stats::pick(stats64, stats32),
            unknown_attributes: unknown,
        })
    }

    /// The scheduler flags as ipvsadm names them for this scheduler
    /// (`sh-fallback,sh-port`, `mh-port`, `flag-1,flag-3`): the value of
    /// `-b` in `ipvsadm -S`, in parentheses in `ipvsadm -L`. `None` without
    /// flags.
    pub fn scheduler_flags_text(&self) -> Option<String> {
        if self.scheduler_flags.is_empty() {
            return None;
        }
        let prefix = match self.scheduler {
            Scheduler::SourceHashing => Some("sh"),
            Scheduler::MaglevHashing => Some("mh"),
            _ => None,
        };
        let mut names = Vec::new();
        for (flag, generic, suffix) in [
            (SchedulerFlags::FALLBACK, "flag-1", "fallback"),
            (SchedulerFlags::PORT, "flag-2", "port"),
            (SchedulerFlags::FLAG_3, "flag-3", ""),
        ] {
            if self.scheduler_flags.contains(flag) {
                names.push(match prefix {
                    Some(p) if !suffix.is_empty() => format!("{p}-{suffix}"),
                    _ => generic.to_owned(),
                });
            }
        }
        Some(names.join(","))
    }
}

fn known_flag_bits() -> u32 {
    ServiceFlags::PERSISTENT.bits() | ServiceFlags::ONE_PACKET.bits() | SchedulerFlags::all().bits()
}

impl std::fmt::Display for Service {
    /// The service as `ipvsadm -S -n` prints it:
    /// `-A -t 192.0.2.1:80 -s rr -p 300 -M 255.255.255.0 --pe sip -o -b sh-port`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "-A {} -s {}", self.key.ipvsadm_args(), self.scheduler)?;
        if let Some(p) = &self.persistence {
            write!(f, " -p {}", p.timeout)?;
            match p.netmask {
                Some(PersistenceNetmask::Ipv4(mask)) if mask != Ipv4Addr::BROADCAST => {
                    write!(f, " -M {mask}")?
                }
                Some(PersistenceNetmask::Ipv6(prefix)) if prefix != 128 => {
                    write!(f, " -M {prefix}")?
                }
                _ => {}
            }
        }
        if let Some(pe) = &self.persistence_engine {
            write!(f, " --pe {pe}")?;
        }
        if self.one_packet {
            write!(f, " -o")?;
        }
        if let Some(flags) = self.scheduler_flags_text() {
            write!(f, " -b {flags}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> ServiceKey {
        ServiceKey::tcp(s.parse().unwrap())
    }

    #[test]
    fn attributes_round_trip_through_the_kernel_shape() {
        let svc = Service::new(tcp("[2001:db8::1]:443"), Scheduler::SourceHashing)
            .with_persistence(Persistence::new(300).with_netmask(PersistenceNetmask::Ipv6(64)))
            .with_persistence_engine("sip")
            .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT);
        svc.validate().unwrap();
        let mut attrs = svc.to_attributes();
        // What a dump adds: the HASHED bit and an unknown attribute.
        for a in &mut attrs {
            if let ServiceAttribute::Flags(f) = a {
                f.flags |= ServiceFlags::HASHED;
            }
        }
        attrs.push(ServiceAttribute::Other(DefaultNla::new(
            99,
            vec![1, 2, 3, 4],
        )));
        let back = Service::from_attributes(Op::ListServices, &attrs).unwrap();
        assert_eq!(
            back.unknown_attributes,
            vec![DefaultNla::new(99, vec![1, 2, 3, 4])]
        );
        assert_eq!(
            Service {
                unknown_attributes: vec![],
                ..back
            },
            svc
        );
    }

    #[test]
    fn netmask_is_sent_per_family() {
        let v6 = Service::new(tcp("[2001:db8::1]:80"), Scheduler::RoundRobin);
        assert!(
            v6.to_attributes()
                .contains(&ServiceAttribute::Netmask(Netmask::from_raw(128)))
        );
        let v4 = Service::new(tcp("192.0.2.1:80"), Scheduler::RoundRobin);
        assert!(
            v4.to_attributes()
                .contains(&ServiceAttribute::Netmask(Netmask::from_raw(u32::MAX)))
        );
    }

    #[test]
    fn validation_rejects_what_the_kernel_or_ipvsadm_would() {
        let ok = Service::new(tcp("192.0.2.1:80"), Scheduler::RoundRobin);
        ok.validate().unwrap();
        let cases = [
            Service::new(
                tcp("192.0.2.1:80"),
                Scheduler::Other("a_very_long_name".into()),
            ),
            ok.clone().with_persistence_engine("sixteen_bytes_xx"),
            ok.clone().with_persistence(Persistence::new(0)),
            ok.clone()
                .with_persistence(Persistence::new(10).with_netmask(PersistenceNetmask::Ipv6(64))),
            Service::new(tcp("[2001:db8::1]:80"), Scheduler::RoundRobin)
                .with_persistence(Persistence::new(10).with_netmask(PersistenceNetmask::Ipv6(0))),
            Service::new(tcp("[2001:db8::1]:80"), Scheduler::RoundRobin)
                .with_persistence(Persistence::new(10).with_netmask(PersistenceNetmask::Ipv6(129))),
            Service::new(tcp("192.0.2.1:0"), Scheduler::RoundRobin),
            ok.clone().with_one_packet(true),
            Service::new(ServiceKey::fwmark(0), Scheduler::RoundRobin),
        ];
        for bad in cases {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
        Service::new(ServiceKey::fwmark(1), Scheduler::RoundRobin)
            .with_one_packet(true)
            .validate()
            .unwrap();
    }

    #[test]
    fn display_matches_ipvsadm_save() {
        let svc = Service::new(tcp("192.0.2.1:80"), Scheduler::MaglevHashing)
            .with_persistence(
                Persistence::new(300)
                    .with_netmask(PersistenceNetmask::Ipv4(Ipv4Addr::new(255, 255, 255, 0))),
            )
            .with_persistence_engine("sip")
            .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT);
        assert_eq!(
            svc.to_string(),
            "-A -t 192.0.2.1:80 -s mh -p 300 -M 255.255.255.0 --pe sip -b mh-fallback,mh-port"
        );
        assert_eq!(
            svc.scheduler_flags_text().as_deref(),
            Some("mh-fallback,mh-port")
        );
        let v6 = Service::new(ServiceKey::fwmark6(5), Scheduler::WeightedRoundRobin)
            .with_one_packet(true);
        assert_eq!(v6.to_string(), "-A -f 5 -6 -s wrr -o");
    }
}
