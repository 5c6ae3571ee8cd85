// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Service`]: a virtual service, its scheduler, persistence and flags.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use bitflags::bitflags;
use ipvs_sys::netlink_packet_core::DecodeError;
use ipvs_sys::{FlagsMask, Netmask, Protocol, ServiceAttribute, ServiceAttributeRef, ServiceFlags};

use crate::config::{seconds, whole_seconds};
use crate::error::{Error, Op};
use crate::key::{Family, KeyParts, ServiceKey};
use crate::notation::{ParseError, Problem, Words, bounded, set_once};
use crate::scheduler::{Scheduler, name_problem};
use crate::stats::Stats;
use crate::unknown::UnknownAttribute;

/// Persistence timeout of `ipvsadm -p` without a value: 360 s
/// (`IPVS_SVC_PERSISTENT_TIMEOUT` of libipvs).
pub const DEFAULT_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(360);

/// Longest persistence timeout accepted (`IPVS_SVC_ATTR_TIMEOUT`): the
/// kernel stores `seconds × HZ` in 32 bits, and HZ is at most 1000, so
/// 4294967 s.
pub const MAX_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(u32::MAX as u64 / 1000);

/// Which client addresses share a persistent destination (`ipvsadm -M`,
/// `IPVS_SVC_ATTR_NETMASK`).
///
/// `Display`/`FromStr` use ipvsadm's notation: a dotted mask for IPv4
/// (`255.255.255.0`), a prefix length for IPv6 (`64`).
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

    /// The address family this netmask is for.
    pub fn family(&self) -> Family {
        match self {
            PersistenceNetmask::Ipv4(_) => Family::Ipv4,
            PersistenceNetmask::Ipv6(_) => Family::Ipv6,
        }
    }
}

impl fmt::Display for PersistenceNetmask {
    /// `255.255.255.0` or `64`, as `ipvsadm -S` writes `-M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistenceNetmask::Ipv4(mask) => write!(f, "{mask}"),
            PersistenceNetmask::Ipv6(prefix) => write!(f, "{prefix}"),
        }
    }
}

impl FromStr for PersistenceNetmask {
    type Err = ParseError;

    /// A dotted IPv4 mask, or an IPv6 prefix length of 1..=128 (what the
    /// kernel takes).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_netmask(s).map_err(|p| p.at(s, "a persistence netmask (255.255.255.0, or 1..=128)"))
    }
}

fn parse_netmask(s: &str) -> Result<PersistenceNetmask, Problem> {
    if s.contains('.') {
        let mask = s.parse().map_err(|_| {
            Problem::new(
                "persistence netmask",
                format!("{s:?} is not a dotted IPv4 netmask"),
            )
        })?;
        return Ok(PersistenceNetmask::Ipv4(mask));
    }
    Ok(PersistenceNetmask::Ipv6(bounded(
        "persistence netmask",
        s,
        1..=128,
    )?))
}

/// Persistence (`ipvsadm -p TIMEOUT -M NETMASK`): connections from the same
/// client network go to the same destination for `timeout`.
///
/// ```
/// use std::time::Duration;
/// use ipvs::{Persistence, PersistenceNetmask};
/// let p = Persistence::new(Duration::from_secs(300))
///     .with_netmask(PersistenceNetmask::Ipv4("255.255.255.0".parse()?));
/// # let _ = p;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Persistence {
    /// Whole seconds of 1 s..=[`MAX_PERSISTENCE_TIMEOUT`]
    /// (`IPVS_SVC_ATTR_TIMEOUT`): [`Service::validate`] refuses a fraction
    /// or more rather than rounding it.
    pub timeout: Duration,
    /// Client grouping; `None` means one client address per group. A host
    /// mask (255.255.255.255 or /128) is the same thing and reads back as
    /// `None`.
    pub netmask: Option<PersistenceNetmask>,
}

impl Persistence {
    /// Persistence for `timeout` (whole seconds), per client address.
    pub fn new(timeout: Duration) -> Self {
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
/// `Display` writes the settings as `ipvsadm -S -n` does; `FromStr` reads
/// them back (see its docs), so `parse(display(s)) == s` for every service
/// the kernel can hold, counters aside.
///
/// ```
/// use std::time::Duration;
/// use ipvs::{Persistence, Scheduler, Service, ServiceKey};
/// let svc = Service::new(ServiceKey::tcp("203.0.113.1:80".parse()?), Scheduler::RoundRobin)
///     .with_persistence(Persistence::new(Duration::from_secs(300)));
/// assert_eq!(svc.to_string(), "-A -t 203.0.113.1:80 -s rr -p 300");
/// assert_eq!(svc.to_string().parse::<Service>()?, svc);
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
    pub unknown_attributes: Vec<UnknownAttribute>,
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
        self.check_kernel_limits()
            .map_err(|p| Error::invalid(p.field, p.reason))?;
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
        Ok(())
    }

    /// The limits the kernel itself enforces on a service of any key
    /// (names it can load, persistence it keeps, flag bits that are not
    /// another field's): what parsing checks too, since the kernel never
    /// holds a service that breaks them.
    pub(crate) fn check_kernel_limits(&self) -> Result<(), Problem> {
        if let Some(reason) = name_problem(self.scheduler.name()) {
            return Err(Problem::new("scheduler", reason));
        }
        if let Some(reason) = self.persistence_engine.as_deref().and_then(name_problem) {
            return Err(Problem::new("persistence engine", reason));
        }
        self.check_persistence()?;
        if self.unknown_flags & (known_flag_bits() | ServiceFlags::HASHED.bits()) != 0 {
            return Err(Problem::new(
                "unknown_flags",
                format!(
                    "{:#x} carries bits that have fields of their own (persistence, one_packet, \
                     scheduler_flags) or are the kernel's (HASHED)",
                    self.unknown_flags
                ),
            ));
        }
        Ok(())
    }

    /// The persistence timeout in whole seconds and the netmask, as the
    /// kernel takes them (`IPVS_SVC_ATTR_TIMEOUT`, `_NETMASK`): what
    /// parsing checks too.
    fn check_persistence(&self) -> Result<(), Problem> {
        let Some(p) = &self.persistence else {
            return Ok(());
        };
        whole_seconds("persistence timeout", p.timeout, MAX_PERSISTENCE_TIMEOUT)?;
        match (p.netmask, self.key.family()) {
            (None, _) | (Some(PersistenceNetmask::Ipv4(_)), Family::Ipv4) => Ok(()),
            (Some(PersistenceNetmask::Ipv6(prefix)), Family::Ipv6)
                if (1..=128).contains(&prefix) =>
            {
                Ok(())
            }
            (Some(PersistenceNetmask::Ipv6(prefix)), Family::Ipv6) => Err(Problem::new(
                "persistence netmask",
                format!("IPv6 prefix /{prefix}: must be 1..=128"),
            )),
            (Some(mask), family) => Err(Problem::new(
                "persistence netmask",
                format!("{mask} is not a netmask of the {family:?} service"),
            )),
        }
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
        // Whole seconds in range once validated; 0 without persistence.
        let timeout = self.persistence.map_or(0, |p| {
            u32::try_from(p.timeout.as_secs()).unwrap_or(u32::MAX)
        });
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

    /// Decodes a service nest from the kernel, its attributes as they are
    /// parsed (a malformed one fails the decode).
    pub(crate) fn from_attributes<'a>(
        op: Op,
        attrs: impl IntoIterator<Item = Result<ServiceAttributeRef<'a>, DecodeError>>,
    ) -> Result<Self, Error> {
        let decode_error = |reason: String| Error::Decode {
            op,
            reason,
            raw: Vec::new(),
        };
        let mut parts = KeyParts::default();
        let mut sched = None;
        let mut pe = None;
        let mut flags = ServiceFlags::empty();
        let mut timeout = 0;
        let mut netmask = None;
        let mut stats32 = None;
        let mut stats64 = None;
        let mut unknown = Vec::new();
        for a in attrs {
            let a = a.map_err(|e| decode_error(e.to_string()))?;
            if parts.absorb(&a) {
                continue;
            }
            match a {
                ServiceAttributeRef::SchedName(v) => sched = Some(v),
                ServiceAttributeRef::PeName(v) => pe = Some(v).filter(|s| !s.is_empty()),
                ServiceAttributeRef::Flags(v) => flags = v.flags,
                ServiceAttributeRef::Timeout(v) => timeout = v,
                ServiceAttributeRef::Netmask(v) => netmask = Some(v),
                ServiceAttributeRef::Stats(v) => stats32 = Some(v),
                ServiceAttributeRef::Stats64(v) => stats64 = Some(v),
                ServiceAttributeRef::Other(nla) => unknown.push(UnknownAttribute::from_raw(nla)),
                other => log::debug!("{op}: ignoring service attribute {other:?}"),
            }
        }
        let (key, family) = parts
            .key()
            .map_err(|reason| decode_error(format!("service: {reason}")))?;
        let persistence = flags
            .contains(ServiceFlags::PERSISTENT)
            .then(|| Persistence {
                timeout: seconds(timeout),
                netmask: netmask
                    .and_then(|m| PersistenceNetmask::from_wire(m, family))
                    .filter(|m| *m != PersistenceNetmask::host(family)),
            });
        Ok(Service {
            key,
            scheduler: Scheduler::from_name(sched.unwrap_or("none")),
            persistence,
            persistence_engine: pe.map(str::to_owned),
            one_packet: flags.contains(ServiceFlags::ONE_PACKET),
            scheduler_flags: SchedulerFlags::from_bits_truncate(flags.bits()),
            unknown_flags: flags.bits() & !known_flag_bits() & !ServiceFlags::HASHED.bits(),
            stats: Stats::pick(stats64, stats32).map_err(|e| decode_error(e.to_string()))?,
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
        let prefix = scheduler_flag_prefix(&self.scheduler);
        let names: Vec<String> = FLAG_NAMES
            .iter()
            .filter(|(flag, ..)| self.scheduler_flags.contains(*flag))
            .map(|&(_, generic, suffix)| match (prefix, suffix) {
                (Some(prefix), Some(suffix)) => format!("{prefix}-{suffix}"),
                _ => generic.to_owned(),
            })
            .collect();
        Some(names.join(","))
    }
}

/// Each scheduler flag: its generic `-b` name, and the suffix `sh` and
/// `mh` give it (`sh-fallback`, `mh-port`).
const FLAG_NAMES: [(SchedulerFlags, &str, Option<&str>); 3] = [
    (SchedulerFlags::FALLBACK, "flag-1", Some("fallback")),
    (SchedulerFlags::PORT, "flag-2", Some("port")),
    (SchedulerFlags::FLAG_3, "flag-3", None),
];

/// The scheduler whose own names the flags take (`sh-port`), if any.
fn scheduler_flag_prefix(scheduler: &Scheduler) -> Option<&'static str> {
    match scheduler {
        Scheduler::SourceHashing => Some("sh"),
        Scheduler::MaglevHashing => Some("mh"),
        _ => None,
    }
}

/// Reads a `-b` value: `flag-1,flag-2,flag-3` for any scheduler,
/// `sh-fallback,sh-port` for `sh` and `mh-...` for `mh`, as ipvsadm does.
pub(crate) fn parse_scheduler_flags(
    text: &str,
    scheduler: &Scheduler,
) -> Result<SchedulerFlags, Problem> {
    let prefix = scheduler_flag_prefix(scheduler);
    let mut flags = SchedulerFlags::empty();
    for name in text.split(',') {
        let flag = FLAG_NAMES.iter().find_map(|&(flag, generic, suffix)| {
            let own = prefix.zip(suffix).is_some_and(|(p, s)| {
                name.strip_prefix(p).and_then(|rest| rest.strip_prefix('-')) == Some(s)
            });
            (name == generic || own).then_some(flag)
        });
        flags |= flag.ok_or_else(|| {
            Problem::new(
                "scheduler flags",
                format!(
                    "{name:?} is not a flag of scheduler {scheduler} (flag-1, flag-2, flag-3{})",
                    prefix.map_or_else(String::new, |p| format!(", {p}-fallback, {p}-port"))
                ),
            )
        })?;
    }
    Ok(flags)
}

fn known_flag_bits() -> u32 {
    ServiceFlags::PERSISTENT.bits() | ServiceFlags::ONE_PACKET.bits() | SchedulerFlags::all().bits()
}

impl fmt::Display for Service {
    /// The service as `ipvsadm -S -n` writes it:
    /// `-A -t 192.0.2.1:80 -s rr -p 300 -M 255.255.255.0 --pe sip -o -b sh-port`,
    /// and `--svc-flags N` for flag bits only the kernel reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-A {} -s {}", self.key.ipvsadm_args(), self.scheduler)?;
        if let Some(p) = &self.persistence {
            f.write_str(" -p ")?;
            write_seconds(f, p.timeout)?;
            match p.netmask {
                Some(mask) if mask != PersistenceNetmask::host(mask.family()) => {
                    write!(f, " -M {mask}")?
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
        if self.unknown_flags != 0 {
            write!(f, " --svc-flags {}", self.unknown_flags)?;
        }
        Ok(())
    }
}

/// Seconds as ipvsadm writes them; a fraction (which
/// [`Service::validate`] refuses) is written out rather than hidden.
fn write_seconds(f: &mut fmt::Formatter<'_>, duration: Duration) -> fmt::Result {
    write!(f, "{}", duration.as_secs())?;
    let nanos = duration.subsec_nanos();
    if nanos != 0 {
        write!(f, ".{}", format!("{nanos:09}").trim_end_matches('0'))?;
    }
    Ok(())
}

/// What [`Service`]'s `FromStr` reads, for messages.
const SERVICE_NOTATION: &str = "a service ([-A] -t|-u|--sctp-service ADDR:PORT | -f MARK [-6], \
     [-s SCHED] [-p [TIMEOUT]] [-M NETMASK] [--pe NAME] [-o] [-b FLAGS])";

impl FromStr for Service {
    type Err = ParseError;

    /// Reads what `Display` writes: an `ipvsadm -A` line with or without
    /// its `-A`, options in any order, long option names too
    /// (`--tcp-service`, `--scheduler`, `--persistent`, ...), and ipvsadm's
    /// defaults (`-s wlc`; `-p` alone is 360 s). The counters are not part
    /// of it: a parsed service has none. Parsing refuses what the kernel
    /// would never hold (a persistence timeout outside
    /// 1..=[`MAX_PERSISTENCE_TIMEOUT`], a netmask of the other family, a
    /// scheduler name over 15 bytes, ...) with a [`ParseError`] naming the
    /// field; [`Service::validate`] adds ipvsadm's own rules.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_service(s).map_err(|p| p.at(s, SERVICE_NOTATION))
    }
}

fn parse_service(s: &str) -> Result<Service, Problem> {
    let mut words = Words::new(s);
    let (mut key, mut ipv6, mut scheduler, mut timeout, mut netmask) =
        (None, false, None, None, None);
    let (mut pe, mut one_packet, mut flags, mut unknown_flags) = (None, false, None, None);
    let mut first = true;
    while let Some(word) = words.next() {
        let add = std::mem::replace(&mut first, false) && matches!(word, "-A" | "--add-service");
        let protocol = match word {
            "-t" | "--tcp-service" => Some(Protocol::Tcp),
            "-u" | "--udp-service" => Some(Protocol::Udp),
            "--sctp-service" => Some(Protocol::Sctp),
            other => other
                .strip_prefix("--protocol-")
                .and_then(|n| n.parse::<u16>().ok())
                .map(Protocol::from),
        };
        match (word, protocol) {
            _ if add => {}
            (_, Some(protocol)) => {
                let text = words.value("service", word)?;
                let addr: SocketAddr = text.parse().map_err(|_| {
                    Problem::new(
                        "address",
                        format!("{text:?} is not ADDR:PORT (IPv6 in brackets: [2001:db8::1]:443)"),
                    )
                })?;
                set_once(
                    &mut key,
                    "service",
                    word,
                    ServiceKey::Addr { protocol, addr },
                )?;
            }
            ("-f" | "--fwmark-service", None) => {
                let mark = bounded("fwmark", words.value("fwmark", word)?, 1..=u32::MAX.into())?;
                set_once(&mut key, "service", word, ServiceKey::fwmark(mark))?;
            }
            ("-6" | "--ipv6", None) => ipv6 = true,
            ("-s" | "--scheduler", None) => {
                let name = words.value("scheduler", word)?;
                set_once(
                    &mut scheduler,
                    "scheduler",
                    word,
                    Scheduler::from_name(name),
                )?;
            }
            ("-p" | "--persistent", None) => {
                let value = match words.optional_value() {
                    Some(text) => seconds(bounded(
                        "persistence timeout",
                        text,
                        1..=MAX_PERSISTENCE_TIMEOUT.as_secs(),
                    )?),
                    None => DEFAULT_PERSISTENCE_TIMEOUT,
                };
                set_once(&mut timeout, "persistence timeout", word, value)?;
            }
            ("-M" | "--netmask", None) => {
                let mask = parse_netmask(words.value("persistence netmask", word)?)?;
                set_once(&mut netmask, "persistence netmask", word, mask)?;
            }
            ("--pe", None) => {
                let name = words.value("persistence engine", word)?;
                set_once(&mut pe, "persistence engine", word, name.to_owned())?;
            }
            ("-o" | "--ops", None) => one_packet = true,
            ("-b" | "--sched-flags", None) => {
                let text = words.value("scheduler flags", word)?;
                set_once(&mut flags, "scheduler flags", word, text)?;
            }
            ("--svc-flags", None) => {
                let bits = bounded(
                    "unknown_flags",
                    words.value("unknown_flags", word)?,
                    0..=u32::MAX.into(),
                )?;
                set_once(&mut unknown_flags, "unknown_flags", word, bits)?;
            }
            (other, None) => {
                return Err(Problem::new("option", format!("unknown option {other:?}")));
            }
        }
    }
    let key = match (key, ipv6) {
        (None, _) => {
            return Err(Problem::new(
                "service",
                "no service: -t|-u|--sctp-service ADDR:PORT or -f MARK",
            ));
        }
        (Some(ServiceKey::Fwmark { mark, .. }), true) => ServiceKey::fwmark6(mark),
        (Some(ServiceKey::Addr { .. }), true) => {
            return Err(Problem::new("service", "-6 applies to -f services only"));
        }
        (Some(key), false) => key,
    };
    let scheduler = scheduler.unwrap_or_default();
    let netmask = netmask.filter(|m| *m != PersistenceNetmask::host(key.family()));
    let persistence = match (timeout, netmask) {
        (Some(timeout), netmask) => Some(Persistence { timeout, netmask }),
        (None, Some(_)) => {
            return Err(Problem::new(
                "persistence netmask",
                "-M needs persistence (-p)",
            ));
        }
        (None, None) => None,
    };
    let service = Service {
        scheduler_flags: flags
            .map(|text| parse_scheduler_flags(text, &scheduler))
            .transpose()?
            .unwrap_or_default(),
        persistence,
        persistence_engine: pe,
        one_packet,
        unknown_flags: unknown_flags.unwrap_or(0),
        ..Service::new(key, scheduler)
    };
    service.check_kernel_limits()?;
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> ServiceKey {
        ServiceKey::tcp(s.parse().unwrap())
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn attributes_round_trip_through_the_kernel_shape() {
        let svc = Service::new(tcp("[2001:db8::1]:443"), Scheduler::SourceHashing)
            .with_persistence(
                Persistence::new(secs(300)).with_netmask(PersistenceNetmask::Ipv6(64)),
            )
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
        attrs.push(ServiceAttribute::Other(
            netlink_packet_core::DefaultNla::new(99, vec![1, 2, 3, 4]),
        ));
        let back = crate::request::service_of_attributes(Op::ListServices, attrs).unwrap();
        assert_eq!(
            back.unknown_attributes,
            vec![UnknownAttribute::new(99, vec![1, 2, 3, 4])]
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
            ok.clone().with_persistence(Persistence::new(secs(0))),
            ok.clone().with_persistence(
                Persistence::new(secs(10)).with_netmask(PersistenceNetmask::Ipv6(64)),
            ),
            Service::new(tcp("[2001:db8::1]:80"), Scheduler::RoundRobin).with_persistence(
                Persistence::new(secs(10)).with_netmask(PersistenceNetmask::Ipv6(0)),
            ),
            Service::new(tcp("[2001:db8::1]:80"), Scheduler::RoundRobin).with_persistence(
                Persistence::new(secs(10)).with_netmask(PersistenceNetmask::Ipv6(129)),
            ),
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
                Persistence::new(secs(300))
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

    #[test]
    fn persistence_timeouts_are_whole_seconds_never_rounded() {
        let svc = |timeout| {
            Service::new(tcp("192.0.2.1:80"), Scheduler::RoundRobin)
                .with_persistence(Persistence::new(timeout))
        };
        for (timeout, reason) in [
            (
                Duration::from_millis(300_500),
                "300.5s is not a whole number of seconds, which IPVS keeps (1..=4294967 s)",
            ),
            (Duration::ZERO, "0ns is outside 1..=4294967 s"),
            (
                MAX_PERSISTENCE_TIMEOUT + Duration::from_secs(1),
                "4294968s is outside 1..=4294967 s",
            ),
        ] {
            match svc(timeout).validate() {
                Err(Error::InvalidArgument { field, reason: r }) => {
                    assert_eq!((field, r.as_str()), ("persistence timeout", reason));
                }
                other => panic!("{timeout:?}: {other:?}"),
            }
        }
        let max = svc(MAX_PERSISTENCE_TIMEOUT);
        max.validate().unwrap();
        assert!(
            max.to_attributes()
                .contains(&ServiceAttribute::Timeout(4_294_967))
        );
        // A fraction is shown, not hidden, and does not parse back.
        let text = svc(Duration::from_millis(300_500)).to_string();
        assert_eq!(text, "-A -t 192.0.2.1:80 -s rr -p 300.5");
        assert_eq!(
            text.parse::<Service>().unwrap_err().field(),
            "persistence timeout"
        );
    }

    #[test]
    fn ipvsadm_lines_parse_with_defaults_and_long_names() {
        let parsed: Service = "-t 192.0.2.1:80".parse().unwrap();
        assert_eq!(
            parsed,
            Service::new(tcp("192.0.2.1:80"), Scheduler::WeightedLeastConnection)
        );
        let parsed: Service = "--add-service --udp-service [2001:db8::1]:53 --scheduler sh \
                               --persistent -M 64 --sched-flags sh-port,flag-1 --ops"
            .parse()
            .unwrap();
        assert_eq!(
            parsed,
            Service::new(
                ServiceKey::udp("[2001:db8::1]:53".parse().unwrap()),
                Scheduler::SourceHashing
            )
            .with_persistence(
                Persistence::new(DEFAULT_PERSISTENCE_TIMEOUT)
                    .with_netmask(PersistenceNetmask::Ipv6(64))
            )
            .with_scheduler_flags(SchedulerFlags::PORT | SchedulerFlags::FALLBACK)
            .with_one_packet(true)
        );
        // A host mask is no mask, as the kernel reads it back.
        let host: Service = "-A -f 7 -6 -s rr -p 60 -M 128".parse().unwrap();
        assert_eq!(host.key, ServiceKey::fwmark6(7));
        assert_eq!(host.persistence, Some(Persistence::new(secs(60))));
    }

    #[test]
    fn bad_lines_name_the_field() {
        for (text, field) in [
            ("", "service"),
            ("-s rr", "service"),
            ("-t 192.0.2.1", "address"),
            ("-t 192.0.2.1:80 -u 192.0.2.1:80", "service"),
            ("-t 192.0.2.1:80 -6", "service"),
            ("-f 0", "fwmark"),
            ("-f 4294967296", "fwmark"),
            ("-t 192.0.2.1:80 -s sixteen_bytes_xx", "scheduler"),
            ("-t 192.0.2.1:80 -s", "scheduler"),
            ("-t 192.0.2.1:80 -p 0", "persistence timeout"),
            ("-t 192.0.2.1:80 -p 4294968", "persistence timeout"),
            ("-t 192.0.2.1:80 -p 10 -p 20", "persistence timeout"),
            ("-t 192.0.2.1:80 -M 255.255.255.0", "persistence netmask"),
            ("-t 192.0.2.1:80 -p 10 -M 64", "persistence netmask"),
            (
                "-t [2001:db8::1]:80 -p 10 -M 255.255.255.0",
                "persistence netmask",
            ),
            ("-t [2001:db8::1]:80 -p 10 -M 129", "persistence netmask"),
            ("-t 192.0.2.1:80 --pe a/b", "persistence engine"),
            ("-t 192.0.2.1:80 -s rr -b sh-port", "scheduler flags"),
            ("-t 192.0.2.1:80 -s sh -b mh-port", "scheduler flags"),
            ("-t 192.0.2.1:80 -b flag-1,", "scheduler flags"),
            ("-t 192.0.2.1:80 --svc-flags 1", "unknown_flags"),
            ("-t 192.0.2.1:80 -x 1", "option"),
            ("-A -A -t 192.0.2.1:80", "option"),
        ] {
            let err = text.parse::<Service>().unwrap_err();
            assert_eq!(err.field(), field, "{text}: {err}");
        }
    }
}
