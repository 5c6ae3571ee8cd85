// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Destination`]: a real server of a service, and how packets reach it.

use std::net::SocketAddr;

use ipvs_sys::{DestAttribute, ForwardMethod, InetAddr, TunnelFlags, TunnelType};
use netlink_packet_core::DefaultNla;

use crate::error::{Error, Op};
use crate::key::{Family, ServiceKey};
use crate::stats::Stats;

/// Largest weight and upper threshold the kernel accepts (it stores them in
/// a signed int).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// Checksum mode of GUE/GRE encapsulation (`ipvsadm --tun-nocsum`,
/// `--tun-csum`, `--tun-remcsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TunnelChecksum {
    /// No checksum (`IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM`).
    #[default]
    None,
    /// Outer UDP/GRE checksum (`IP_VS_TUNNEL_ENCAP_FLAG_CSUM`).
    Checksum,
    /// Remote checksum offload (`IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`, GUE only).
    RemoteChecksum,
    /// Another flag combination reported by the kernel.
    Other(u16),
}

impl TunnelChecksum {
    fn to_wire(self) -> TunnelFlags {
        TunnelFlags::from_bits_retain(match self {
            TunnelChecksum::None => 0,
            TunnelChecksum::Checksum => TunnelFlags::CSUM.bits(),
            TunnelChecksum::RemoteChecksum => TunnelFlags::REMCSUM.bits(),
            TunnelChecksum::Other(bits) => bits,
        })
    }

    fn from_wire(flags: TunnelFlags) -> Self {
        match flags.bits() {
            0 => TunnelChecksum::None,
            1 => TunnelChecksum::Checksum,
            2 => TunnelChecksum::RemoteChecksum,
            bits => TunnelChecksum::Other(bits),
        }
    }
}

/// Encapsulation of a tunnelled destination (`ipvsadm -i --tun-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tunnel {
    /// IP-in-IP (`--tun-type ipip`, the default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to `port` (`--tun-type gue --tun-port P`).
    Gue {
        /// Destination UDP port; the kernel requires a non-zero port.
        port: u16,
        /// Checksum mode.
        checksum: TunnelChecksum,
    },
    /// GRE (`--tun-type gre`).
    Gre {
        /// Checksum mode (`None` or `Checksum`).
        checksum: TunnelChecksum,
    },
    /// A tunnel type this crate does not know, as the kernel reported it.
    Other {
        /// `IPVS_DEST_ATTR_TUN_TYPE`.
        kind: u8,
        /// `IPVS_DEST_ATTR_TUN_PORT`.
        port: u16,
        /// `IPVS_DEST_ATTR_TUN_FLAGS`.
        checksum: TunnelChecksum,
    },
}

/// How packets reach a destination (`ipvsadm -m|-g|-i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Forwarding {
    /// NAT (`-m`, `IP_VS_CONN_F_MASQ`).
    Masquerade,
    /// Direct routing (`-g`, `IP_VS_CONN_F_DROUTE`; ipvsadm's default).
    DirectRoute,
    /// Tunnelling (`-i`, `IP_VS_CONN_F_TUNNEL`) with its encapsulation.
    Tunnel(Tunnel),
    /// Local node (`IP_VS_CONN_F_LOCALNODE`; ipvsadm shows it as `-g`).
    Local,
    /// Another method number reported by the kernel.
    Other(u32),
}

/// A real server of a service (`ipvsadm -a`), and its counters.
///
/// ```
/// use ipvs::{Destination, Forwarding};
/// let dest = Destination::new("198.51.100.10:8080".parse()?, Forwarding::Masquerade).with_weight(3);
/// assert_eq!(dest.to_string(), "-r 198.51.100.10:8080 -m -w 3");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Destination {
    /// Real server address and port. Its family may differ from the
    /// service's only with tunnel forwarding.
    pub addr: SocketAddr,
    /// Forwarding method.
    pub forwarding: Forwarding,
    /// Weight, 0..=[`MAX_WEIGHT`]; 0 takes the server out of rotation.
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub lower_threshold: u32,
    /// Active connections (read-only).
    pub active_connections: u32,
    /// Inactive connections (read-only).
    pub inactive_connections: u32,
    /// Persistence templates (read-only).
    pub persistent_connections: u32,
    /// Counters and rates (read-only).
    pub stats: Stats,
    /// Attributes from a newer kernel, kept as received (read-only).
    pub unknown_attributes: Vec<DefaultNla>,
}

impl Destination {
    /// A destination with weight 1 (ipvsadm's default) and no thresholds.
    pub fn new(addr: SocketAddr, forwarding: Forwarding) -> Self {
        Self {
            addr,
            forwarding,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            active_connections: 0,
            inactive_connections: 0,
            persistent_connections: 0,
            stats: Stats::default(),
            unknown_attributes: Vec::new(),
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the connection thresholds (`-x upper -y lower`).
    pub fn with_thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }

    /// Checks the kernel's and ipvsadm's rules for a destination of
    /// `service`, so an invalid destination never reaches the kernel.
    pub fn validate_for(&self, service: &ServiceKey) -> Result<(), Error> {
        if self.weight > MAX_WEIGHT {
            return Err(Error::invalid(
                "weight",
                format!("{}: at most {MAX_WEIGHT}", self.weight),
            ));
        }
        if self.upper_threshold > MAX_WEIGHT {
            return Err(Error::invalid(
                "upper threshold",
                format!("{}: at most {MAX_WEIGHT}", self.upper_threshold),
            ));
        }
        if self.lower_threshold > self.upper_threshold {
            return Err(Error::invalid(
                "lower threshold",
                format!(
                    "{} exceeds the upper threshold {} (set the upper one too)",
                    self.lower_threshold, self.upper_threshold
                ),
            ));
        }
        let ip = self.addr.ip();
        if ip.is_unspecified() || ip.is_multicast() || ip == std::net::Ipv4Addr::BROADCAST {
            return Err(Error::invalid(
                "address",
                format!("{ip} is not a unicast address"),
            ));
        }
        if Family::of(ip) != service.family() && !matches!(self.forwarding, Forwarding::Tunnel(_)) {
            return Err(Error::invalid(
                "forwarding",
                format!(
                    "destination {} is {:?} but the service is {:?}: mixing families needs tunnel forwarding",
                    self.addr,
                    Family::of(ip),
                    service.family()
                ),
            ));
        }
        match self.forwarding {
            Forwarding::Tunnel(Tunnel::Gue { port: 0, .. }) => {
                return Err(Error::invalid(
                    "tunnel port",
                    "GUE needs a non-zero UDP port",
                ));
            }
            Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::RemoteChecksum,
            }) => {
                return Err(Error::invalid(
                    "tunnel checksum",
                    "GRE does not support remote checksum",
                ));
            }
            Forwarding::Tunnel(Tunnel::Gue {
                checksum: TunnelChecksum::Other(_),
                ..
            })
            | Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Other(_),
            }) => {
                return Err(Error::invalid(
                    "tunnel checksum",
                    "choose one checksum mode",
                ));
            }
            Forwarding::Tunnel(Tunnel::Other { .. }) | Forwarding::Other(_) => {
                return Err(Error::invalid(
                    "forwarding",
                    "unknown forwarding method or tunnel type: only values read from the kernel",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// The identifying attributes: ADDR_FAMILY, ADDR, PORT.
    pub(crate) fn id_attributes(addr: SocketAddr) -> Vec<DestAttribute> {
        vec![
            DestAttribute::AddrFamily(Family::of(addr.ip()).to_wire()),
            DestAttribute::Addr(InetAddr::from(addr.ip())),
            DestAttribute::Port(addr.port()),
        ]
    }

    /// The dest nest of `IPVS_CMD_NEW_DEST`/`SET_DEST`, in ipvsadm's order.
    /// Tunnel attributes are sent only for tunnels (older kernels ignore
    /// them anyway).
    pub(crate) fn to_attributes(&self) -> Vec<DestAttribute> {
        let mut out = Self::id_attributes(self.addr);
        let method = match self.forwarding {
            Forwarding::Masquerade => ForwardMethod::Masq,
            Forwarding::DirectRoute => ForwardMethod::DirectRoute,
            Forwarding::Tunnel(_) => ForwardMethod::Tunnel,
            Forwarding::Local => ForwardMethod::Local,
            Forwarding::Other(n) => ForwardMethod::Other(n),
        };
        out.push(DestAttribute::FwdMethod(method));
        out.push(DestAttribute::Weight(self.weight));
        if let Forwarding::Tunnel(tunnel) = self.forwarding {
            let (kind, port, checksum) = match tunnel {
                Tunnel::Ipip => (TunnelType::Ipip, 0, TunnelChecksum::None),
                Tunnel::Gue { port, checksum } => (TunnelType::Gue, port, checksum),
                Tunnel::Gre { checksum } => (TunnelType::Gre, 0, checksum),
                Tunnel::Other {
                    kind,
                    port,
                    checksum,
                } => (TunnelType::Other(kind), port, checksum),
            };
            out.push(DestAttribute::TunType(kind));
            out.push(DestAttribute::TunPort(port));
            out.push(DestAttribute::TunFlags(checksum.to_wire()));
        }
        out.push(DestAttribute::UpperThreshold(self.upper_threshold));
        out.push(DestAttribute::LowerThreshold(self.lower_threshold));
        out
    }

    /// Decodes a dest nest from the kernel; the address family defaults to
    /// the service's (kernels before 3.18 do not send it).
    pub(crate) fn from_attributes(
        op: Op,
        service: &ServiceKey,
        attrs: &[DestAttribute],
    ) -> Result<Self, Error> {
        let mut af = None;
        let mut addr = None;
        let mut port = None;
        let mut method = None;
        let mut tun_type = None;
        let mut tun_port = 0;
        let mut tun_flags = TunnelFlags::empty();
        let mut stats32 = None;
        let mut stats64 = None;
        let mut dest =
            Destination::new(SocketAddr::from(([0, 0, 0, 0], 0)), Forwarding::DirectRoute);
        for a in attrs {
            match a {
                DestAttribute::AddrFamily(v) => af = Some(*v),
                DestAttribute::Addr(v) => addr = Some(*v),
                DestAttribute::Port(v) => port = Some(*v),
                DestAttribute::FwdMethod(v) => method = Some(*v),
                DestAttribute::Weight(v) => dest.weight = *v,
                DestAttribute::UpperThreshold(v) => dest.upper_threshold = *v,
                DestAttribute::LowerThreshold(v) => dest.lower_threshold = *v,
                DestAttribute::ActiveConns(v) => dest.active_connections = *v,
                DestAttribute::InactiveConns(v) => dest.inactive_connections = *v,
                DestAttribute::PersistentConns(v) => dest.persistent_connections = *v,
                DestAttribute::TunType(v) => tun_type = Some(*v),
                DestAttribute::TunPort(v) => tun_port = *v,
                DestAttribute::TunFlags(v) => tun_flags = *v,
                DestAttribute::Stats(v) => stats32 = Some(v),
                DestAttribute::Stats64(v) => stats64 = Some(v),
                DestAttribute::Other(nla) => dest.unknown_attributes.push(nla.clone()),
                other => log::debug!("{op}: ignoring destination attribute {other:?}"),
            }
        }
        let bad = |reason: String| Error::Decode {
            op,
            reason: format!("destination: {reason}"),
            raw: Vec::new(),
        };
        let af = af.unwrap_or_else(|| service.family().to_wire());
        let ip = addr
            .and_then(|a| a.to_ip(af))
            .ok_or_else(|| bad(format!("no valid IPVS_DEST_ATTR_ADDR for {af:?}")))?;
        let port = port.ok_or_else(|| bad("no IPVS_DEST_ATTR_PORT".into()))?;
        dest.addr = SocketAddr::new(ip, port);
        let method = method.ok_or_else(|| bad("no IPVS_DEST_ATTR_FWD_METHOD".into()))?;
        let checksum = TunnelChecksum::from_wire(tun_flags);
        dest.forwarding = match method {
            ForwardMethod::Masq => Forwarding::Masquerade,
            ForwardMethod::DirectRoute => Forwarding::DirectRoute,
            ForwardMethod::Local => Forwarding::Local,
            ForwardMethod::Tunnel => {
                Forwarding::Tunnel(match tun_type.unwrap_or(TunnelType::Ipip) {
                    TunnelType::Ipip => Tunnel::Ipip,
                    TunnelType::Gue => Tunnel::Gue {
                        port: tun_port,
                        checksum,
                    },
                    TunnelType::Gre => Tunnel::Gre { checksum },
                    other => Tunnel::Other {
                        kind: other.into(),
                        port: tun_port,
                        checksum,
                    },
                })
            }
            other => Forwarding::Other(other.into()),
        };
        dest.stats = Stats::pick(stats64, stats32);
        Ok(dest)
    }
}

impl std::fmt::Display for Destination {
    /// The destination as `ipvsadm -S -n` prints it after the service:
    /// `-r 198.51.100.10:80 -m -w 1`, plus the tunnel options.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.forwarding {
            Forwarding::Masquerade => "-m",
            Forwarding::Tunnel(_) => "-i",
            _ => "-g",
        };
        write!(f, "-r {} {method} -w {}", self.addr, self.weight)?;
        let csum = |c: TunnelChecksum| match c {
            TunnelChecksum::Checksum => " --tun-csum",
            TunnelChecksum::RemoteChecksum => " --tun-remcsum",
            _ => " --tun-nocsum",
        };
        match self.forwarding {
            Forwarding::Tunnel(Tunnel::Ipip) => write!(f, " --tun-type ipip")?,
            Forwarding::Tunnel(Tunnel::Gue { port, checksum }) => {
                write!(f, " --tun-type gue --tun-port {port}{}", csum(checksum))?
            }
            Forwarding::Tunnel(Tunnel::Gre { checksum }) => {
                write!(f, " --tun-type gre{}", csum(checksum))?
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc4() -> ServiceKey {
        ServiceKey::tcp("192.0.2.1:80".parse().unwrap())
    }

    #[test]
    fn attributes_round_trip() {
        for forwarding in [
            Forwarding::Masquerade,
            Forwarding::DirectRoute,
            Forwarding::Tunnel(Tunnel::Ipip),
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::RemoteChecksum,
            }),
            Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Checksum,
            }),
        ] {
            let d = Destination::new("198.51.100.2:80".parse().unwrap(), forwarding)
                .with_thresholds(100, 10);
            d.validate_for(&svc4()).unwrap();
            let back =
                Destination::from_attributes(Op::ListDestinations, &svc4(), &d.to_attributes())
                    .unwrap();
            assert_eq!(back, d);
        }
    }

    #[test]
    fn missing_address_family_falls_back_to_the_service() {
        let v6 = ServiceKey::tcp("[2001:db8::1]:80".parse().unwrap());
        let d = Destination::new("[2001:db8::2]:80".parse().unwrap(), Forwarding::Masquerade);
        let attrs: Vec<_> = d
            .to_attributes()
            .into_iter()
            .filter(|a| !matches!(a, DestAttribute::AddrFamily(_)))
            .collect();
        assert_eq!(
            Destination::from_attributes(Op::ListDestinations, &v6, &attrs).unwrap(),
            d
        );
    }

    #[test]
    fn validation_rejects_what_the_kernel_would() {
        let base = Destination::new("198.51.100.2:80".parse().unwrap(), Forwarding::Masquerade);
        let cases = [
            base.clone().with_weight(MAX_WEIGHT + 1),
            base.clone().with_thresholds(MAX_WEIGHT + 1, 0),
            base.clone().with_thresholds(10, 11),
            Destination::new("[2001:db8::2]:80".parse().unwrap(), Forwarding::Masquerade),
            Destination::new(
                "198.51.100.2:80".parse().unwrap(),
                Forwarding::Tunnel(Tunnel::Gue {
                    port: 0,
                    checksum: TunnelChecksum::None,
                }),
            ),
            Destination::new("224.0.0.1:80".parse().unwrap(), Forwarding::Masquerade),
        ];
        for bad in cases {
            assert!(
                matches!(
                    bad.validate_for(&svc4()),
                    Err(Error::InvalidArgument { .. })
                ),
                "{bad:?}"
            );
        }
        base.clone()
            .with_weight(MAX_WEIGHT)
            .validate_for(&svc4())
            .unwrap();
        Destination::new(
            "[2001:db8::2]:80".parse().unwrap(),
            Forwarding::Tunnel(Tunnel::Ipip),
        )
        .validate_for(&svc4())
        .unwrap();
    }

    #[test]
    fn display_matches_ipvsadm_save() {
        let d = Destination::new(
            "198.51.100.2:80".parse().unwrap(),
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::Checksum,
            }),
        );
        assert_eq!(
            d.to_string(),
            "-r 198.51.100.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum"
        );
    }
}
