// SPDX-License-Identifier: MIT OR Apache-2.0
//! Global settings: [`Info`] (version, connection table size), [`Timeouts`]
//! and the connection-sync daemon ([`SyncDaemon`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipvs_sys::{DaemonAttribute, DaemonState};

use crate::error::{Error, Op};
use crate::notation::{ParseError, Problem};

/// IPVS version as the kernel reports it (`IP_VS_VERSION_CODE`, "1.2.1").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct Version {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
    /// Patch number.
    pub patch: u8,
}

impl Version {
    /// A version.
    pub fn new(major: u8, minor: u8, patch: u8) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Decodes `IPVS_INFO_ATTR_VERSION` (`0x010201` is 1.2.1).
    pub fn from_code(code: u32) -> Self {
        let [_, major, minor, patch] = code.to_be_bytes();
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `IPVS_CMD_GET_INFO` reports; the header line of `ipvsadm -L`:
/// "IP Virtual Server version 1.2.1 (size=4096)".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Info {
    /// The IPVS version.
    pub version: Version,
    /// Size of the connection hash table (`ip_vs_conn_tab_bits`).
    pub connection_table_size: u32,
}

/// Longest connection timeout accepted (`ipvsadm --set`): the kernel
/// stores `seconds × HZ` in an int and rejects more (`ip_vs_set_timeout`);
/// HZ is at most 1000, so 2147483 s.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(i32::MAX as u64 / 1000);

/// The whole seconds of `duration`, which must be 1 s..=`max`: the kernel
/// keeps timeouts in whole seconds, so a fraction is refused, not rounded.
pub(crate) fn whole_seconds(
    field: &'static str,
    duration: Duration,
    max: Duration,
) -> Result<u32, Problem> {
    let range = || format!("1..={} s", max.as_secs());
    if duration.subsec_nanos() != 0 {
        return Err(Problem::new(
            field,
            format!(
                "{duration:?} is not a whole number of seconds, which IPVS keeps ({})",
                range()
            ),
        ));
    }
    if duration.is_zero() || duration > max {
        return Err(Problem::new(
            field,
            format!("{duration:?} is outside {}", range()),
        ));
    }
    u32::try_from(duration.as_secs()).map_err(|_| Problem::new(field, range()))
}

/// A timeout the kernel reports in seconds.
pub(crate) fn seconds(value: u32) -> Duration {
    Duration::from_secs(value.into())
}

/// Connection timeouts (`ipvsadm --set TCP TCPFIN UDP`,
/// `IPVS_CMD_ATTR_TIMEOUT_TCP`, `_TCP_FIN`, `_UDP`), global to the network
/// namespace, in whole seconds.
///
/// When reading, `None` means the kernel did not report the value (the
/// protocol is not built in). When writing, `None` leaves the value
/// unchanged; each given value must be whole seconds of
/// 1 s..=[`MAX_TIMEOUT`]: zero (ipvsadm's "unchanged"), a fraction or more
/// is refused with [`Error::InvalidArgument`], never rounded.
///
/// ```
/// use std::time::Duration;
/// let t = ipvs::Timeouts::default()
///     .with_tcp(Duration::from_secs(900))
///     .with_udp(Duration::from_secs(60)); // ipvsadm --set 900 0 60
/// assert_eq!(t.tcp_fin, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Timeouts {
    /// Established TCP connections (`IPVS_CMD_ATTR_TIMEOUT_TCP`).
    pub tcp: Option<Duration>,
    /// TCP connections after FIN (`IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`).
    pub tcp_fin: Option<Duration>,
    /// UDP (`IPVS_CMD_ATTR_TIMEOUT_UDP`).
    pub udp: Option<Duration>,
}

impl Timeouts {
    /// Only the values given will change.
    pub fn new(tcp: Option<Duration>, tcp_fin: Option<Duration>, udp: Option<Duration>) -> Self {
        Self { tcp, tcp_fin, udp }
    }

    /// Sets the TCP timeout.
    pub fn with_tcp(mut self, timeout: Duration) -> Self {
        self.tcp = Some(timeout);
        self
    }

    /// Sets the TCP FIN timeout.
    pub fn with_tcp_fin(mut self, timeout: Duration) -> Self {
        self.tcp_fin = Some(timeout);
        self
    }

    /// Sets the UDP timeout.
    pub fn with_udp(mut self, timeout: Duration) -> Self {
        self.udp = Some(timeout);
        self
    }

    /// Each given value in whole seconds, checked: `(tcp, tcp_fin, udp)`
    /// as the kernel takes them.
    pub(crate) fn to_wire(self) -> Result<[Option<u32>; 3], Error> {
        let wire = |field, value: Option<Duration>| {
            value
                .map(|v| whole_seconds(field, v, MAX_TIMEOUT))
                .transpose()
                .map_err(|p| {
                    Error::invalid(p.field, format!("{} (None leaves it unchanged)", p.reason))
                })
        };
        Ok([
            wire("tcp timeout", self.tcp)?,
            wire("tcp_fin timeout", self.tcp_fin)?,
            wire("udp timeout", self.udp)?,
        ])
    }
}

/// Role of a connection-sync daemon (`IPVS_DAEMON_ATTR_STATE`).
///
/// `Display`/`FromStr` use ipvsadm's words: `master`, `backup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonRole {
    /// Sends connection state (`--start-daemon master`,
    /// `IP_VS_STATE_MASTER`).
    Master,
    /// Receives it (`--start-daemon backup`, `IP_VS_STATE_BACKUP`).
    Backup,
}

impl DaemonRole {
    pub(crate) fn to_wire(self) -> DaemonState {
        match self {
            DaemonRole::Master => DaemonState::MASTER,
            DaemonRole::Backup => DaemonState::BACKUP,
        }
    }
}

impl fmt::Display for DaemonRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        })
    }
}

impl FromStr for DaemonRole {
    type Err = ParseError;

    /// `master` or `backup`, as `ipvsadm --start-daemon` takes them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "master" => Ok(DaemonRole::Master),
            "backup" => Ok(DaemonRole::Backup),
            _ => Err(ParseError::new(
                s,
                "a sync daemon role",
                "role",
                "expected master or backup",
            )),
        }
    }
}

/// Longest interface name (`IFNAMSIZ - 1`).
pub const MAX_INTERFACE_LEN: usize = 15;

/// A connection-sync daemon (`ipvsadm --start-daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: DaemonRole,
    /// Multicast interface (`--mcast-interface`).
    pub interface: String,
    /// Sync id (`--syncid`), 0..=255.
    pub sync_id: u8,
    /// Maximum sync message payload (`--sync-maxlen`); kernel default if None.
    pub max_len: Option<u16>,
    /// Multicast group (`--mcast-group`), IPv4 or IPv6; 224.0.0.81 if None.
    pub mcast_group: Option<IpAddr>,
    /// Multicast UDP port (`--mcast-port`); 8848 if None.
    pub mcast_port: Option<u16>,
    /// Multicast TTL (`--mcast-ttl`), 1..=255; 1 if None.
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with kernel defaults for the optional settings.
    pub fn new(role: DaemonRole, interface: impl Into<String>, sync_id: u8) -> Self {
        Self {
            role,
            interface: interface.into(),
            sync_id,
            max_len: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }

    /// Sets the multicast group.
    pub fn with_mcast_group(mut self, group: IpAddr) -> Self {
        self.mcast_group = Some(group);
        self
    }

    /// Sets the multicast port.
    pub fn with_mcast_port(mut self, port: u16) -> Self {
        self.mcast_port = Some(port);
        self
    }

    /// Sets the multicast TTL.
    pub fn with_mcast_ttl(mut self, ttl: u8) -> Self {
        self.mcast_ttl = Some(ttl);
        self
    }

    /// Sets the maximum sync message length.
    pub fn with_max_len(mut self, max_len: u16) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Checks the kernel's and ipvsadm's rules.
    pub fn validate(&self) -> Result<(), Error> {
        let name = &self.interface;
        if name.is_empty() || name.len() > MAX_INTERFACE_LEN {
            return Err(Error::invalid(
                "interface",
                format!("{name:?}: an interface name is 1..={MAX_INTERFACE_LEN} bytes"),
            ));
        }
        if name
            .bytes()
            .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
        {
            return Err(Error::invalid(
                "interface",
                format!("{name:?} contains NUL, '/', ':' or whitespace"),
            ));
        }
        if let Some(group) = self.mcast_group
            && !group.is_multicast()
        {
            return Err(Error::invalid(
                "mcast group",
                format!("{group} is not a multicast address"),
            ));
        }
        if self.mcast_port == Some(0) {
            return Err(Error::invalid("mcast port", "must be 1..=65535"));
        }
        if self.mcast_ttl == Some(0) {
            return Err(Error::invalid("mcast ttl", "must be 1..=255"));
        }
        if self.max_len == Some(0) {
            return Err(Error::invalid(
                "max len",
                "must be at least 1 (None for the kernel default)",
            ));
        }
        Ok(())
    }

    pub(crate) fn to_attributes(&self) -> Vec<DaemonAttribute> {
        let mut out = vec![
            DaemonAttribute::State(self.role.to_wire()),
            DaemonAttribute::McastIfn(self.interface.clone()),
            DaemonAttribute::SyncId(self.sync_id.into()),
        ];
        if let Some(v) = self.max_len {
            out.push(DaemonAttribute::SyncMaxlen(v));
        }
        match self.mcast_group {
            Some(IpAddr::V4(g)) => out.push(DaemonAttribute::McastGroup(g)),
            Some(IpAddr::V6(g)) => out.push(DaemonAttribute::McastGroup6(g)),
            None => {}
        }
        if let Some(v) = self.mcast_port {
            out.push(DaemonAttribute::McastPort(v));
        }
        if let Some(v) = self.mcast_ttl {
            out.push(DaemonAttribute::McastTtl(v));
        }
        out
    }

    pub(crate) fn from_attributes(op: Op, attrs: &[DaemonAttribute]) -> Result<Self, Error> {
        let bad = |reason: String| Error::Decode {
            op,
            reason: format!("sync daemon: {reason}"),
            raw: Vec::new(),
        };
        let mut state = None;
        let mut daemon = SyncDaemon::new(DaemonRole::Master, "", 0);
        for a in attrs {
            match a {
                DaemonAttribute::State(s) => state = Some(*s),
                DaemonAttribute::McastIfn(s) => daemon.interface = s.clone(),
                DaemonAttribute::SyncId(v) => {
                    daemon.sync_id =
                        u8::try_from(*v).map_err(|_| bad(format!("sync id {v} above 255")))?;
                }
                DaemonAttribute::SyncMaxlen(v) => daemon.max_len = Some(*v),
                DaemonAttribute::McastGroup(g) => daemon.mcast_group = Some((*g).into()),
                DaemonAttribute::McastGroup6(g) => daemon.mcast_group = Some((*g).into()),
                DaemonAttribute::McastPort(v) => daemon.mcast_port = Some(*v),
                DaemonAttribute::McastTtl(v) => daemon.mcast_ttl = Some(*v),
                other => log::debug!("{op}: ignoring daemon attribute {other:?}"),
            }
        }
        daemon.role = match state {
            Some(s) if s == DaemonState::MASTER => DaemonRole::Master,
            Some(s) if s == DaemonState::BACKUP => DaemonRole::Backup,
            other => return Err(bad(format!("state {other:?}"))),
        };
        Ok(daemon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_code_decodes() {
        assert_eq!(Version::from_code(0x010201).to_string(), "1.2.1");
    }

    #[test]
    fn timeouts_are_whole_seconds_within_the_kernel_range() {
        let secs = Duration::from_secs;
        assert_eq!(
            Timeouts::new(Some(secs(900)), None, Some(MAX_TIMEOUT))
                .to_wire()
                .unwrap(),
            [Some(900), None, Some(2_147_483)]
        );
        for (bad, field, reason) in [
            (
                Timeouts::default().with_tcp(Duration::ZERO),
                "tcp timeout",
                "0ns is outside 1..=2147483 s (None leaves it unchanged)",
            ),
            (
                Timeouts::default().with_tcp_fin(MAX_TIMEOUT + secs(1)),
                "tcp_fin timeout",
                "2147484s is outside 1..=2147483 s (None leaves it unchanged)",
            ),
            (
                Timeouts::default().with_udp(Duration::from_millis(1500)),
                "udp timeout",
                "1.5s is not a whole number of seconds, which IPVS keeps (1..=2147483 s) \
                 (None leaves it unchanged)",
            ),
        ] {
            match bad.to_wire() {
                Err(Error::InvalidArgument {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!((f, r.as_str()), (field, reason));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn daemon_roles_use_ipvsadm_words() {
        for role in [DaemonRole::Master, DaemonRole::Backup] {
            assert_eq!(role.to_string().parse::<DaemonRole>(), Ok(role));
        }
        assert_eq!("Master".parse::<DaemonRole>().unwrap_err().field(), "role");
    }

    #[test]
    fn daemon_validation_and_round_trip() {
        let d = SyncDaemon::new(DaemonRole::Backup, "eth0", 9)
            .with_mcast_group("ff02::81".parse().unwrap())
            .with_mcast_port(8849)
            .with_mcast_ttl(2)
            .with_max_len(1400);
        d.validate().unwrap();
        assert_eq!(
            SyncDaemon::from_attributes(Op::ListDaemons, &d.to_attributes()).unwrap(),
            d
        );
        for bad in [
            SyncDaemon::new(DaemonRole::Master, "", 0),
            SyncDaemon::new(DaemonRole::Master, "sixteen_bytes_xx", 0),
            SyncDaemon::new(DaemonRole::Master, "eth0", 0)
                .with_mcast_group("192.0.2.1".parse().unwrap()),
            SyncDaemon::new(DaemonRole::Master, "eth0", 0).with_mcast_ttl(0),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
