// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Destination`]: a real server of a service, and how packets reach it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipvs_sys::netlink_packet_core::DecodeError;
use ipvs_sys::{DestAttribute, DestAttributeRef, ForwardMethod, InetAddr, TunnelFlags, TunnelType};

use crate::error::{Error, Op};
use crate::key::{Family, ServiceKey};
use crate::notation::ParseError;
use crate::notation::{Problem, Words, bounded, set_once};
use crate::stats::Stats;
use crate::unknown::UnknownAttribute;

/// Largest weight and upper threshold the kernel accepts (it stores them in
/// a signed int).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// Checksum mode of GUE/GRE encapsulation (`ipvsadm --tun-nocsum`,
/// `--tun-csum`, `--tun-remcsum`; `IPVS_DEST_ATTR_TUN_FLAGS`).
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
    /// Another flag combination reported by the kernel (written
    /// `--tun-flags N`, which ipvsadm does not have). Values 0, 1 and 2 are
    /// the named variants: `Other` of them reads back as those.
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

    /// The ipvsadm option: `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`,
    /// or `--tun-flags N`.
    fn write_option(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelChecksum::None => f.write_str(" --tun-nocsum"),
            TunnelChecksum::Checksum => f.write_str(" --tun-csum"),
            TunnelChecksum::RemoteChecksum => f.write_str(" --tun-remcsum"),
            TunnelChecksum::Other(bits) => write!(f, " --tun-flags {bits}"),
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
    /// A tunnel type this crate does not know, as the kernel reported it
    /// (written `--tun-type N`, which ipvsadm does not have).
    Other {
        /// `IPVS_DEST_ATTR_TUN_TYPE`.
        kind: u8,
        /// `IPVS_DEST_ATTR_TUN_PORT`.
        port: u16,
        /// `IPVS_DEST_ATTR_TUN_FLAGS`.
        checksum: TunnelChecksum,
    },
}

impl Tunnel {
    /// The tunnel the kernel describes with `IPVS_DEST_ATTR_TUN_TYPE`,
    /// `_TUN_PORT` and `_TUN_FLAGS` (IP-in-IP has neither port nor flags,
    /// GRE no port).
    fn from_wire(kind: TunnelType, port: u16, checksum: TunnelChecksum) -> Self {
        match kind {
            TunnelType::Ipip => Tunnel::Ipip,
            TunnelType::Gue => Tunnel::Gue { port, checksum },
            TunnelType::Gre => Tunnel::Gre { checksum },
            other => Tunnel::Other {
                kind: other.into(),
                port,
                checksum,
            },
        }
    }
}

/// How packets reach a destination (`ipvsadm -m|-g|-i`,
/// `IPVS_DEST_ATTR_FWD_METHOD`).
///
/// `Display` and `FromStr` use the forwarding options of `ipvsadm -S`:
/// `-m`, `-g`, `-i --tun-type ipip`, `-i --tun-type gue --tun-port 6080
/// --tun-csum`, `-i --tun-type gre --tun-nocsum`. What ipvsadm cannot
/// write has options of this crate, which ipvsadm rejects rather than
/// misreads: `--local-node` ([`Forwarding::Local`]), `--fwd-method N`,
/// `--tun-type N` and `--tun-flags N` (values only the kernel reports).
/// Parsing also takes ipvsadm's long names (`--masquerading`,
/// `--gatewaying`, `--ipip`) and `-i` alone for IP-in-IP; with no method it
/// is `-g`, ipvsadm's default.
///
/// ```
/// use ipvs::{Forwarding, Tunnel, TunnelChecksum};
/// let gue = Forwarding::Tunnel(Tunnel::Gue { port: 6080, checksum: TunnelChecksum::Checksum });
/// assert_eq!(gue.to_string(), "-i --tun-type gue --tun-port 6080 --tun-csum");
/// assert_eq!("-i --tun-type gue --tun-port 6080 --tun-csum".parse::<Forwarding>()?, gue);
/// assert_eq!("-m".parse::<Forwarding>()?, Forwarding::Masquerade);
/// assert!("-i --tun-type gue".parse::<Forwarding>().is_err()); // GUE needs its port
/// # Ok::<(), ipvs::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Forwarding {
    /// NAT (`-m`, `IP_VS_CONN_F_MASQ`).
    Masquerade,
    /// Direct routing (`-g`, `IP_VS_CONN_F_DROUTE`; ipvsadm's default).
    DirectRoute,
    /// Tunnelling (`-i`, `IP_VS_CONN_F_TUNNEL`) with its encapsulation.
    Tunnel(Tunnel),
    /// Local node (`IP_VS_CONN_F_LOCALNODE`): ipvsadm cannot set it and
    /// saves it as `-g`; this crate writes `--local-node`.
    Local,
    /// Another method number reported by the kernel (`--fwd-method N`).
    /// Numbers 0 to 3 are the named variants: `Other` of them reads back as
    /// those.
    Other(u32),
}

impl Forwarding {
    /// The method of `IPVS_DEST_ATTR_FWD_METHOD`, with the tunnel the
    /// kernel described.
    fn from_wire(method: ForwardMethod, tunnel: impl FnOnce() -> Tunnel) -> Self {
        match method {
            ForwardMethod::Masq => Forwarding::Masquerade,
            ForwardMethod::DirectRoute => Forwarding::DirectRoute,
            ForwardMethod::Local => Forwarding::Local,
            ForwardMethod::Tunnel => Forwarding::Tunnel(tunnel()),
            other => Forwarding::Other(other.into()),
        }
    }

    /// The method option, as `ipvsadm -S` writes it before `-w`.
    fn write_method(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forwarding::Masquerade => f.write_str("-m"),
            Forwarding::DirectRoute => f.write_str("-g"),
            Forwarding::Tunnel(_) => f.write_str("-i"),
            Forwarding::Local => f.write_str("--local-node"),
            Forwarding::Other(method) => write!(f, "--fwd-method {method}"),
        }
    }

    /// The tunnel options, as `ipvsadm -S` writes them after `-w`.
    fn write_tunnel(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Forwarding::Tunnel(tunnel) = self else {
            return Ok(());
        };
        match *tunnel {
            Tunnel::Ipip => f.write_str(" --tun-type ipip"),
            Tunnel::Gue { port, checksum } => {
                write!(f, " --tun-type gue --tun-port {port}")?;
                checksum.write_option(f)
            }
            Tunnel::Gre { checksum } => {
                f.write_str(" --tun-type gre")?;
                checksum.write_option(f)
            }
            Tunnel::Other {
                kind,
                port,
                checksum,
            } => {
                write!(f, " --tun-type {kind}")?;
                if port != 0 {
                    write!(f, " --tun-port {port}")?;
                }
                if checksum != TunnelChecksum::None {
                    checksum.write_option(f)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Forwarding {
    /// `-m`, `-g`, `-i --tun-type gue --tun-port 6080 --tun-csum`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_method(f)?;
        self.write_tunnel(f)
    }
}

/// What [`Forwarding`]'s `FromStr` reads, for messages.
const FORWARDING_NOTATION: &str =
    "forwarding options (-g, -m, -i [--tun-type ipip|gue|gre] [--tun-port P] [--tun-csum], ...)";

impl FromStr for Forwarding {
    type Err = ParseError;

    /// Reads what `Display` writes (see [`Forwarding`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut options = ForwardingOptions::default();
        let mut words = Words::new(s);
        while let Some(word) = words.next() {
            if !options
                .take(word, &mut words)
                .map_err(|e| e.at(s, FORWARDING_NOTATION))?
            {
                return Err(
                    Problem::new("forwarding", format!("unknown option {word:?}"))
                        .at(s, FORWARDING_NOTATION),
                );
            }
        }
        options.finish().map_err(|e| e.at(s, FORWARDING_NOTATION))
    }
}

/// The forwarding options of an ipvsadm line, gathered before they are
/// checked together.
#[derive(Default)]
struct ForwardingOptions {
    method: Option<ForwardMethod>,
    tunnel_type: Option<TunnelType>,
    tunnel_port: Option<u16>,
    checksum: Option<TunnelChecksum>,
}

impl ForwardingOptions {
    /// Takes `word` (and its value from `words`) if it is a forwarding
    /// option; `Ok(false)` if it is some other option.
    fn take(&mut self, word: &str, words: &mut Words<'_>) -> Result<bool, Problem> {
        let method = match word {
            "-m" | "--masquerading" => Some(ForwardMethod::Masq),
            "-g" | "--gatewaying" => Some(ForwardMethod::DirectRoute),
            "-i" | "--ipip" => Some(ForwardMethod::Tunnel),
            "--local-node" => Some(ForwardMethod::Local),
            "--fwd-method" => {
                let value = words.value("forwarding", word)?;
                Some(ForwardMethod::from(bounded::<u32>(
                    "forwarding",
                    value,
                    0..=u32::MAX.into(),
                )?))
            }
            _ => None,
        };
        if let Some(method) = method {
            if self.method.is_some() {
                return Err(Problem::new(
                    "forwarding",
                    format!("{word}: a second forwarding method"),
                ));
            }
            self.method = Some(method);
            return Ok(true);
        }
        match word {
            "--tun-type" => {
                let kind = match words.value("tunnel type", word)? {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    number => TunnelType::from(
                        bounded::<u8>("tunnel type", number, 0..=u8::MAX.into()).map_err(|_| {
                            Problem::new(
                                "tunnel type",
                                format!("{number:?} is not ipip, gue, gre or a number of 0..=255"),
                            )
                        })?,
                    ),
                };
                set_once(&mut self.tunnel_type, "tunnel type", word, kind)?;
            }
            "--tun-port" => {
                let value = words.value("tunnel port", word)?;
                let port = bounded("tunnel port", value, 1..=u16::MAX.into())?;
                set_once(&mut self.tunnel_port, "tunnel port", word, port)?;
            }
            "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" | "--tun-flags" => {
                let checksum = match word {
                    "--tun-nocsum" => TunnelChecksum::None,
                    "--tun-csum" => TunnelChecksum::Checksum,
                    "--tun-remcsum" => TunnelChecksum::RemoteChecksum,
                    _ => {
                        let value = words.value("tunnel checksum", word)?;
                        TunnelChecksum::from_wire(TunnelFlags::from_bits_retain(bounded(
                            "tunnel checksum",
                            value,
                            0..=u16::MAX.into(),
                        )?))
                    }
                };
                set_once(&mut self.checksum, "tunnel checksum", word, checksum)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The forwarding these options describe; `-g` when none is given.
    fn finish(self) -> Result<Forwarding, Problem> {
        let tunnel_options =
            self.tunnel_type.is_some() || self.tunnel_port.is_some() || self.checksum.is_some();
        let method = match self.method {
            Some(method) => method,
            None if tunnel_options => ForwardMethod::Tunnel,
            None => ForwardMethod::DirectRoute,
        };
        if method != ForwardMethod::Tunnel && tunnel_options {
            return Err(Problem::new(
                "forwarding",
                "tunnel options (--tun-*) need tunnel forwarding (-i)",
            ));
        }
        let kind = self.tunnel_type.unwrap_or(TunnelType::Ipip);
        let checksum = self.checksum.unwrap_or_default();
        let tunnel = match kind {
            TunnelType::Ipip if self.tunnel_port.is_some() => {
                return Err(Problem::new("tunnel port", "IP-in-IP has no port"));
            }
            TunnelType::Ipip if self.checksum.is_some() => {
                return Err(Problem::new(
                    "tunnel checksum",
                    "IP-in-IP has no checksum option",
                ));
            }
            TunnelType::Gue if self.tunnel_port.is_none() => {
                return Err(Problem::new(
                    "tunnel port",
                    "GUE needs --tun-port of 1..=65535",
                ));
            }
            TunnelType::Gre if self.tunnel_port.is_some() => {
                return Err(Problem::new("tunnel port", "GRE has no port"));
            }
            kind => Tunnel::from_wire(kind, self.tunnel_port.unwrap_or(0), checksum),
        };
        Ok(Forwarding::from_wire(method, || tunnel))
    }
}

/// A real server of a service (`ipvsadm -a`), and its counters.
///
/// `Display` writes the settings as `ipvsadm -S -n` writes them after the
/// service, plus the thresholds (`-x`, `-y`), which ipvsadm forgets to
/// save but reads back; `FromStr` reads that notation, with options in
/// any order and ipvsadm's defaults (`-g`, `-w 1`). The read-only counters
/// are not part of it: a parsed destination has none. Parsing refuses what
/// the kernel would never hold (weight above [`MAX_WEIGHT`], a lower
/// threshold above the upper one, a multicast address, GUE without its
/// port) with a [`ParseError`] naming the field;
/// [`Destination::validate_for`] adds the rules that need the service.
///
/// ```
/// use ipvs::{Destination, Forwarding};
/// let dest = Destination::new("198.51.100.10:8080".parse()?, Forwarding::Masquerade)
///     .with_weight(3)
///     .with_thresholds(100, 10);
/// assert_eq!(dest.to_string(), "-r 198.51.100.10:8080 -m -w 3 -x 100 -y 10");
/// assert_eq!(dest.to_string().parse::<Destination>()?, dest);
/// assert_eq!("-r 198.51.100.10:8080".parse::<Destination>()?.forwarding, Forwarding::DirectRoute);
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
    pub unknown_attributes: Vec<UnknownAttribute>,
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
        self.check_kernel_limits()
            .map_err(|p| Error::invalid(p.field, p.reason))?;
        let ip = self.addr.ip();
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

    /// The limits the kernel itself enforces on a destination of any
    /// service (`ip_vs_add_dest`, `ip_vs_edit_dest`): what parsing checks
    /// too, since the kernel never holds a destination that breaks them.
    pub(crate) fn check_kernel_limits(&self) -> Result<(), Problem> {
        for (field, value) in [
            ("weight", self.weight),
            ("upper threshold", self.upper_threshold),
        ] {
            if value > MAX_WEIGHT {
                return Err(Problem::new(
                    field,
                    format!("{value} is above the kernel's maximum {MAX_WEIGHT}"),
                ));
            }
        }
        if self.lower_threshold > self.upper_threshold {
            return Err(Problem::new(
                "lower threshold",
                format!(
                    "{} exceeds the upper threshold {} (set the upper one too)",
                    self.lower_threshold, self.upper_threshold
                ),
            ));
        }
        let ip = self.addr.ip();
        if !is_unicast(ip) {
            return Err(Problem::new(
                "address",
                format!("{ip} is not a unicast address"),
            ));
        }
        if let Forwarding::Tunnel(Tunnel::Gue { port: 0, .. }) = self.forwarding {
            return Err(Problem::new("tunnel port", "GUE needs a non-zero UDP port"));
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

    /// Decodes a destination nest of `service` from the kernel, its
    /// attributes as they are parsed (a malformed one fails the decode).
    /// The address family defaults to the service's (kernels before 3.18
    /// do not send it).
    pub(crate) fn from_attributes<'a>(
        op: Op,
        service: &ServiceKey,
        attrs: impl IntoIterator<Item = Result<DestAttributeRef<'a>, DecodeError>>,
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
            let a = a.map_err(|e| Error::Decode {
                op,
                reason: e.to_string(),
                raw: Vec::new(),
            })?;
            match a {
                DestAttributeRef::AddrFamily(v) => af = Some(v),
                DestAttributeRef::Addr(v) => addr = Some(v),
                DestAttributeRef::Port(v) => port = Some(v),
                DestAttributeRef::FwdMethod(v) => method = Some(v),
                DestAttributeRef::Weight(v) => dest.weight = v,
                DestAttributeRef::UpperThreshold(v) => dest.upper_threshold = v,
                DestAttributeRef::LowerThreshold(v) => dest.lower_threshold = v,
                DestAttributeRef::ActiveConns(v) => dest.active_connections = v,
                DestAttributeRef::InactiveConns(v) => dest.inactive_connections = v,
                DestAttributeRef::PersistentConns(v) => dest.persistent_connections = v,
                DestAttributeRef::TunType(v) => tun_type = Some(v),
                DestAttributeRef::TunPort(v) => tun_port = v,
                DestAttributeRef::TunFlags(v) => tun_flags = v,
                DestAttributeRef::Stats(v) => stats32 = Some(v),
                DestAttributeRef::Stats64(v) => stats64 = Some(v),
                DestAttributeRef::Other(nla) => dest
                    .unknown_attributes
                    .push(UnknownAttribute::from_raw(nla)),
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
        dest.forwarding = Forwarding::from_wire(method, || {
            Tunnel::from_wire(
                tun_type.unwrap_or(TunnelType::Ipip),
                tun_port,
                TunnelChecksum::from_wire(tun_flags),
            )
        });
        dest.stats = Stats::pick(stats64, stats32).map_err(|e| Error::Decode {
            op,
            reason: e.to_string(),
            raw: Vec::new(),
        })?;
        Ok(dest)
    }
}

/// Not the unspecified, a multicast or the broadcast address: what the
/// kernel takes as a destination.
fn is_unicast(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast() || ip == std::net::Ipv4Addr::BROADCAST)
}

impl fmt::Display for Destination {
    /// The destination as `ipvsadm -S -n` writes it after the service,
    /// plus the thresholds, which ipvsadm's `-S` leaves out (so that this
    /// reads back whole): `-r 198.51.100.10:80 -m -w 1`, `-r ... -i -w 1
    /// --tun-type gue --tun-port 6080 --tun-nocsum -x 100 -y 10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-r {} ", self.addr)?;
        self.forwarding.write_method(f)?;
        write!(f, " -w {}", self.weight)?;
        self.forwarding.write_tunnel(f)?;
        if self.upper_threshold != 0 || self.lower_threshold != 0 {
            write!(
                f,
                " -x {} -y {}",
                self.upper_threshold, self.lower_threshold
            )?;
        }
        Ok(())
    }
}

/// What [`Destination`]'s `FromStr` reads, for messages.
const DESTINATION_NOTATION: &str =
    "a destination (-r ADDR:PORT [-g|-m|-i [--tun-...]] [-w WEIGHT] [-x UPPER] [-y LOWER])";

impl FromStr for Destination {
    type Err = ParseError;

    /// Reads what `Display` writes (see [`Destination`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_destination(s).map_err(|p| p.at(s, DESTINATION_NOTATION))
    }
}

fn parse_destination(s: &str) -> Result<Destination, Problem> {
    let mut words = Words::new(s);
    if !matches!(words.next(), Some("-r" | "--real-server")) {
        return Err(Problem::new(
            "address",
            "the destination starts with -r ADDR:PORT",
        ));
    }
    let text = words.value("address", "-r")?;
    let addr: SocketAddr = text.parse().map_err(|_| {
        Problem::new(
            "address",
            format!("{text:?} is not ADDR:PORT (IPv6 in brackets: [2001:db8::10]:80)"),
        )
    })?;
    let mut forwarding = ForwardingOptions::default();
    let (mut weight, mut upper, mut lower) = (None, None, None);
    while let Some(word) = words.next() {
        if forwarding.take(word, &mut words)? {
            continue;
        }
        let (slot, field) = match word {
            "-w" | "--weight" => (&mut weight, "weight"),
            "-x" | "--u-threshold" => (&mut upper, "upper threshold"),
            "-y" | "--l-threshold" => (&mut lower, "lower threshold"),
            other => return Err(Problem::new("option", format!("unknown option {other:?}"))),
        };
        let value = bounded(field, words.value(field, word)?, 0..=MAX_WEIGHT.into())?;
        set_once(slot, field, word, value)?;
    }
    let dest = Destination::new(addr, forwarding.finish()?)
        .with_weight(weight.unwrap_or(1))
        .with_thresholds(upper.unwrap_or(0), lower.unwrap_or(0));
    dest.check_kernel_limits()?;
    Ok(dest)
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
            let back = crate::request::destination_of_attributes(
                Op::ListDestinations,
                &svc4(),
                d.to_attributes(),
            )
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
            crate::request::destination_of_attributes(Op::ListDestinations, &v6, attrs).unwrap(),
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

    #[test]
    fn what_ipvsadm_cannot_write_has_options_of_its_own() {
        let addr: SocketAddr = "198.51.100.2:80".parse().unwrap();
        for (forwarding, text) in [
            (Forwarding::Local, "-r 198.51.100.2:80 --local-node -w 1"),
            (
                Forwarding::Other(5),
                "-r 198.51.100.2:80 --fwd-method 5 -w 1",
            ),
            (
                Forwarding::Tunnel(Tunnel::Other {
                    kind: 7,
                    port: 9,
                    checksum: TunnelChecksum::Other(3),
                }),
                "-r 198.51.100.2:80 -i -w 1 --tun-type 7 --tun-port 9 --tun-flags 3",
            ),
            (
                Forwarding::Tunnel(Tunnel::Other {
                    kind: 3,
                    port: 0,
                    checksum: TunnelChecksum::None,
                }),
                "-r 198.51.100.2:80 -i -w 1 --tun-type 3",
            ),
        ] {
            let dest = Destination::new(addr, forwarding);
            assert_eq!(dest.to_string(), text);
            assert_eq!(text.parse::<Destination>().unwrap(), dest);
        }
        // Numbers of named methods and types read back as the names.
        assert_eq!(
            "--fwd-method 0".parse::<Forwarding>().unwrap(),
            Forwarding::Masquerade
        );
        assert_eq!(
            "-i --tun-type 2 --tun-flags 1"
                .parse::<Forwarding>()
                .unwrap(),
            Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Checksum
            })
        );
    }

    #[test]
    fn ipvsadm_long_names_and_defaults_parse() {
        let dest: Destination =
            "--real-server [2001:db8::2]:80 --weight 0 --u-threshold 10 --l-threshold 10 --ipip"
                .parse()
                .unwrap();
        assert_eq!(
            dest,
            Destination::new(
                "[2001:db8::2]:80".parse().unwrap(),
                Forwarding::Tunnel(Tunnel::Ipip)
            )
            .with_weight(0)
            .with_thresholds(10, 10)
        );
        assert_eq!("".parse::<Forwarding>().unwrap(), Forwarding::DirectRoute);
        assert_eq!(
            "--tun-type gre".parse::<Forwarding>().unwrap(),
            Forwarding::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::None
            })
        );
    }

    #[test]
    fn bad_destinations_name_the_field_and_the_limit() {
        for (text, field, reason) in [
            ("", "address", "the destination starts with -r ADDR:PORT"),
            ("-r", "address", "-r needs a value"),
            (
                "-r 198.51.100.2",
                "address",
                "\"198.51.100.2\" is not ADDR:PORT (IPv6 in brackets: [2001:db8::10]:80)",
            ),
            (
                "-r 224.0.0.1:80",
                "address",
                "224.0.0.1 is not a unicast address",
            ),
            (
                "-r 198.51.100.2:80 -w 2147483648",
                "weight",
                "2147483648 is above the maximum 2147483647",
            ),
            (
                "-r 198.51.100.2:80 -w -1",
                "weight",
                "\"-1\" is not a whole number of 0..=2147483647",
            ),
            (
                "-r 198.51.100.2:80 -w 1 -w 2",
                "weight",
                "-w is given twice",
            ),
            (
                "-r 198.51.100.2:80 -y 5",
                "lower threshold",
                "5 exceeds the upper threshold 0 (set the upper one too)",
            ),
            (
                "-r 198.51.100.2:80 -x 4294967296",
                "upper threshold",
                "4294967296 is above the maximum 2147483647",
            ),
            (
                "-r 198.51.100.2:80 -m -g",
                "forwarding",
                "-g: a second forwarding method",
            ),
            (
                "-r 198.51.100.2:80 -m --tun-csum",
                "forwarding",
                "tunnel options (--tun-*) need tunnel forwarding (-i)",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-type gue",
                "tunnel port",
                "GUE needs --tun-port of 1..=65535",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-type gue --tun-port 0",
                "tunnel port",
                "0 is below the minimum 1",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-port 5",
                "tunnel port",
                "IP-in-IP has no port",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-type gre --tun-port 5",
                "tunnel port",
                "GRE has no port",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-csum",
                "tunnel checksum",
                "IP-in-IP has no checksum option",
            ),
            (
                "-r 198.51.100.2:80 -i --tun-type vxlan",
                "tunnel type",
                "\"vxlan\" is not ipip, gue, gre or a number of 0..=255",
            ),
            (
                "-r 198.51.100.2:80 --fwd-method",
                "forwarding",
                "--fwd-method needs a value",
            ),
            ("-r 198.51.100.2:80 -q", "option", "unknown option \"-q\""),
        ] {
            let err = text.parse::<Destination>().unwrap_err();
            assert_eq!((err.field(), err.reason()), (field, reason), "{text}");
        }
        let err = "-m -x".parse::<Forwarding>().unwrap_err();
        assert_eq!(err.field(), "forwarding");
        assert_eq!(
            err.to_string(),
            "cannot parse \"-m -x\" as forwarding options (-g, -m, -i [--tun-type ipip|gue|gre] \
             [--tun-port P] [--tun-csum], ...): forwarding: unknown option \"-x\""
        );
    }
}
