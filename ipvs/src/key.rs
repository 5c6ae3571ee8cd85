// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`ServiceKey`]: what identifies a virtual service, in ipvsadm notation.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipvs_sys::{AddressFamily, InetAddr, Protocol, ServiceAttribute, ServiceAttributeRef};

use crate::notation::{ParseError, Problem};

/// An IP version, for firewall-mark services (which have no address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub(crate) fn to_wire(self) -> AddressFamily {
        match self {
            Family::Ipv4 => AddressFamily::Inet,
            Family::Ipv6 => AddressFamily::Inet6,
        }
    }

    pub(crate) fn from_wire(af: AddressFamily) -> Option<Self> {
        match af {
            AddressFamily::Inet => Some(Family::Ipv4),
            AddressFamily::Inet6 => Some(Family::Ipv6),
            _ => None,
        }
    }
}

/// What identifies a virtual service: a protocol and a socket address
/// (`ipvsadm -t|-u|--sctp-service ADDR:PORT`), or a firewall mark and a
/// family (`ipvsadm -f MARK [-6]`).
///
/// `Display`/`FromStr` use ipvsadm's notation with the protocol as a prefix:
/// `tcp:203.0.113.1:80`, `udp:[2001:db8::1]:53`, `sctp:192.0.2.1:9`,
/// `fwmark:7` (IPv4) and `fwmark6:7` (IPv6).
///
/// ```
/// use ipvs::ServiceKey;
/// let key: ServiceKey = "tcp:203.0.113.1:80".parse()?;
/// assert_eq!(key, ServiceKey::tcp("203.0.113.1:80".parse()?));
/// assert_eq!(key.to_string(), "tcp:203.0.113.1:80");
/// assert_eq!("fwmark:7".parse::<ServiceKey>()?, ServiceKey::fwmark(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceKey {
    /// A protocol and virtual address/port.
    Addr {
        /// TCP, UDP or SCTP (another number only if the kernel reported it).
        protocol: Protocol,
        /// The virtual IP and port.
        addr: SocketAddr,
    },
    /// A firewall mark (`iptables -j MARK`) and the family it applies to.
    Fwmark {
        /// The mark; never 0.
        mark: u32,
        /// IPv4 or IPv6.
        family: Family,
    },
}

impl ServiceKey {
    /// A TCP service (`ipvsadm -t ADDR:PORT`).
    pub fn tcp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr,
        }
    }

    /// A UDP service (`ipvsadm -u ADDR:PORT`).
    pub fn udp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr,
        }
    }

    /// An SCTP service (`ipvsadm --sctp-service ADDR:PORT`).
    pub fn sctp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr,
        }
    }

    /// An IPv4 firewall-mark service (`ipvsadm -f MARK`).
    pub fn fwmark(mark: u32) -> Self {
        ServiceKey::Fwmark {
            mark,
            family: Family::Ipv4,
        }
    }

    /// An IPv6 firewall-mark service (`ipvsadm -f MARK -6`).
    pub fn fwmark6(mark: u32) -> Self {
        ServiceKey::Fwmark {
            mark,
            family: Family::Ipv6,
        }
    }

    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The ipvsadm options naming this service (`-t 192.0.2.1:80`,
    /// `-f 7 -6`), as `ipvsadm -S -n` prints them.
    pub fn ipvsadm_args(&self) -> String {
        match self {
            ServiceKey::Addr { protocol, addr } => {
                let flag = match protocol {
                    Protocol::Tcp => "-t".to_owned(),
                    Protocol::Udp => "-u".to_owned(),
                    Protocol::Sctp => "--sctp-service".to_owned(),
                    other => format!("--protocol-{}", u16::from(*other)),
                };
                format!("{flag} {addr}")
            }
            ServiceKey::Fwmark { mark, family } => match family {
                Family::Ipv4 => format!("-f {mark}"),
                Family::Ipv6 => format!("-f {mark} -6"),
            },
        }
    }

    /// What the kernel accepts as a key; the crate's [`crate::Error`]
    /// turns the problem into `InvalidArgument`.
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        match self {
            ServiceKey::Fwmark { mark: 0, .. } => Err(Problem::new(
                "fwmark",
                "a firewall-mark service needs a mark of 1..=4294967295 (0 means \"no mark\")",
            )),
            ServiceKey::Addr { protocol, .. }
                if !matches!(protocol, Protocol::Tcp | Protocol::Udp | Protocol::Sctp) =>
            {
                Err(Problem::new(
                    "protocol",
                    format!("{protocol:?}: IPVS services are TCP, UDP or SCTP"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The identifying attributes, in ipvsadm's order: AF, then FWMARK or
    /// PROTOCOL + ADDR + PORT.
    pub(crate) fn to_attributes(self) -> Vec<ServiceAttribute> {
        let mut attributes = Vec::with_capacity(4);
        self.each_identity(|attribute| attributes.push(attribute.clone()));
        attributes
    }

    /// Shows each of [`ServiceKey::to_attributes`] to `each`, in order (a
    /// request that names a service writes them as they come).
    #[inline]
    pub(crate) fn each_identity(self, mut each: impl FnMut(&ServiceAttribute)) {
        each(&ServiceAttribute::Af(self.family().to_wire()));
        match self {
            ServiceKey::Addr { protocol, addr } => {
                each(&ServiceAttribute::Protocol(protocol));
                each(&ServiceAttribute::Addr(InetAddr::from(addr.ip())));
                each(&ServiceAttribute::Port(addr.port()));
            }
            ServiceKey::Fwmark { mark, .. } => each(&ServiceAttribute::Fwmark(mark)),
        }
    }
}

/// The identifying attributes of a service nest (address family, then
/// firewall mark, or protocol, address and port), gathered as they are
/// read.
#[derive(Default)]
pub(crate) struct KeyParts {
    af: Option<AddressFamily>,
    protocol: Option<Protocol>,
    addr: Option<InetAddr>,
    port: Option<u16>,
    fwmark: Option<u32>,
}

impl KeyParts {
    /// Takes `attribute` if it identifies the service; says whether it did.
    pub(crate) fn absorb(&mut self, attribute: &ServiceAttributeRef<'_>) -> bool {
        match attribute {
            ServiceAttributeRef::Af(v) => self.af = Some(*v),
            ServiceAttributeRef::Protocol(v) => self.protocol = Some(*v),
            ServiceAttributeRef::Addr(v) => self.addr = Some(*v),
            ServiceAttributeRef::Port(v) => self.port = Some(*v),
            ServiceAttributeRef::Fwmark(v) => self.fwmark = Some(*v),
            _ => return false,
        }
        true
    }

    /// The key they name, and its family; the reason when they name none.
    pub(crate) fn key(self) -> Result<(ServiceKey, Family), String> {
        let af = self.af.ok_or("no IPVS_SVC_ATTR_AF")?;
        let family =
            Family::from_wire(af).ok_or_else(|| format!("unknown address family {af:?}"))?;
        let key = match self.fwmark.filter(|m| *m != 0) {
            Some(mark) => ServiceKey::Fwmark { mark, family },
            None => {
                let protocol = self.protocol.ok_or("no IPVS_SVC_ATTR_PROTOCOL")?;
                let ip = self
                    .addr
                    .and_then(|a| a.to_ip(af))
                    .ok_or("no valid IPVS_SVC_ATTR_ADDR")?;
                let port = self.port.ok_or("no IPVS_SVC_ATTR_PORT")?;
                ServiceKey::Addr {
                    protocol,
                    addr: SocketAddr::new(ip, port),
                }
            }
        };
        Ok((key, family))
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr } => match protocol {
                Protocol::Tcp => write!(f, "tcp:{addr}"),
                Protocol::Udp => write!(f, "udp:{addr}"),
                Protocol::Sctp => write!(f, "sctp:{addr}"),
                other => write!(f, "proto{}:{addr}", u16::from(*other)),
            },
            ServiceKey::Fwmark { mark, family } => match family {
                Family::Ipv4 => write!(f, "fwmark:{mark}"),
                Family::Ipv6 => write!(f, "fwmark6:{mark}"),
            },
        }
    }
}

/// What [`ServiceKey`]'s `FromStr` reads, for messages.
const KEY_NOTATION: &str =
    "a service key (tcp:ADDR:PORT, udp:ADDR:PORT, sctp:ADDR:PORT, fwmark:MARK, fwmark6:MARK)";

impl FromStr for ServiceKey {
    type Err = ParseError;

    /// Reads what `Display` writes: `tcp:203.0.113.1:80`,
    /// `udp:[2001:db8::1]:53`, `sctp:...`, `fwmark:7`, `fwmark6:7`, and
    /// `protoN:ADDR:PORT` for another protocol number the kernel reported.
    /// The kind is case-insensitive; `fwm:` is `fwmark:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |field, reason: String| ParseError::new(s, KEY_NOTATION, field, reason);
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| err("kind", "missing the \"kind:\" prefix".into()))?;
        let kind = kind.to_ascii_lowercase();
        let addr = || -> Result<SocketAddr, ParseError> {
            rest.parse().map_err(|_| {
                err(
                    "address",
                    format!("{rest:?} is not ADDR:PORT (IPv6 in brackets: [2001:db8::1]:443)"),
                )
            })
        };
        let mark = || -> Result<u32, ParseError> {
            match rest.parse() {
                Ok(0) | Err(_) => Err(err(
                    "fwmark",
                    format!("{rest:?} is not a mark of 1..=4294967295"),
                )),
                Ok(mark) => Ok(mark),
            }
        };
        Ok(match kind.as_str() {
            "tcp" => ServiceKey::tcp(addr()?),
            "udp" => ServiceKey::udp(addr()?),
            "sctp" => ServiceKey::sctp(addr()?),
            "fwmark" | "fwm" => ServiceKey::fwmark(mark()?),
            "fwmark6" => ServiceKey::fwmark6(mark()?),
            other => {
                let number = other
                    .strip_prefix("proto")
                    .and_then(|n| n.parse::<u16>().ok())
                    .ok_or_else(|| {
                        err(
                            "kind",
                            format!(
                                "unknown kind {other:?} (tcp, udp, sctp, fwmark, fwmark6 or protoN)"
                            ),
                        )
                    })?;
                ServiceKey::Addr {
                    protocol: Protocol::from(number),
                    addr: addr()?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notation::MAX_QUOTED_INPUT;

    #[test]
    fn ipvsadm_notation_round_trips() {
        for text in [
            "tcp:203.0.113.1:80",
            "udp:[2001:db8::1]:53",
            "sctp:192.0.2.1:9",
            "fwmark:7",
            "fwmark6:4294967295",
        ] {
            let key: ServiceKey = text.parse().unwrap();
            assert_eq!(key.to_string(), text);
        }
        assert_eq!(
            "tcp:[2001:db8::1]:443"
                .parse::<ServiceKey>()
                .unwrap()
                .family(),
            Family::Ipv6
        );
    }

    #[test]
    fn bad_notation_names_the_field() {
        for (text, field) in [
            ("", "kind"),
            ("tcp", "kind"),
            ("tcp:1.2.3.4", "address"),
            ("tcp:2001:db8::1:80", "address"),
            ("fwmark:0", "fwmark"),
            ("fwmark:x", "fwmark"),
            ("icmp:1.2.3.4:0", "kind"),
            ("proto65536:1.2.3.4:0", "kind"),
        ] {
            let err = text.parse::<ServiceKey>().unwrap_err();
            assert_eq!(err.field(), field, "{text}: {err}");
            assert_eq!(err.input(), text);
        }
        let long = format!("tcp:{}", "9".repeat(500));
        let err = long.parse::<ServiceKey>().unwrap_err();
        assert_eq!(err.input().chars().count(), MAX_QUOTED_INPUT + 1);
        assert!(err.input().ends_with('…'));
    }

    #[test]
    fn another_protocol_the_kernel_reports_round_trips() {
        let key = ServiceKey::Addr {
            protocol: Protocol::from(41),
            addr: "192.0.2.1:0".parse().unwrap(),
        };
        assert_eq!(key.to_string(), "proto41:192.0.2.1:0");
        assert_eq!(key.to_string().parse::<ServiceKey>().unwrap(), key);
        assert_eq!(
            "proto6:192.0.2.1:80".parse::<ServiceKey>().unwrap(),
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap())
        );
    }

    #[test]
    fn ipvsadm_args_match_save_format() {
        assert_eq!(
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap()).ipvsadm_args(),
            "-t 192.0.2.1:80"
        );
        assert_eq!(
            ServiceKey::udp("[2001:db8::1]:53".parse().unwrap()).ipvsadm_args(),
            "-u [2001:db8::1]:53"
        );
        assert_eq!(ServiceKey::fwmark6(3).ipvsadm_args(), "-f 3 -6");
    }
}
