// SPDX-License-Identifier: MIT OR Apache-2.0
//! Service attributes `IPVS_SVC_ATTR_*`, nested in `IPVS_CMD_ATTR_SERVICE`.

use crate::wire::Context as _;
use crate::wire::{parse_u16, parse_u16_be, parse_u32};
use netlink_packet_core::{
    DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u16, emit_u16_be, emit_u32,
};

use crate::{
    AddressFamily, FlagsMask, InetAddr, Nested, Netmask, Protocol, Stats64Attribute,
    StatsAttribute,
    nested::NestRef,
    wire::{ParseRaw, RawNla},
    wire::{emit_string, name_str, string_len},
};

/// `IPVS_SVC_ATTR_AF`
const IPVS_SVC_ATTR_AF: u16 = 1;
/// `IPVS_SVC_ATTR_PROTOCOL`
const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
/// `IPVS_SVC_ATTR_ADDR`
const IPVS_SVC_ATTR_ADDR: u16 = 3;
/// `IPVS_SVC_ATTR_PORT`
const IPVS_SVC_ATTR_PORT: u16 = 4;
/// `IPVS_SVC_ATTR_FWMARK`
const IPVS_SVC_ATTR_FWMARK: u16 = 5;
/// `IPVS_SVC_ATTR_SCHED_NAME`
const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
/// `IPVS_SVC_ATTR_FLAGS`
const IPVS_SVC_ATTR_FLAGS: u16 = 7;
/// `IPVS_SVC_ATTR_TIMEOUT`
const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
/// `IPVS_SVC_ATTR_NETMASK`
const IPVS_SVC_ATTR_NETMASK: u16 = 9;
/// `IPVS_SVC_ATTR_STATS`
const IPVS_SVC_ATTR_STATS: u16 = 10;
/// `IPVS_SVC_ATTR_PE_NAME`
const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
/// `IPVS_SVC_ATTR_STATS64`
const IPVS_SVC_ATTR_STATS64: u16 = 12;

/// A service attribute `IPVS_SVC_ATTR_*` (the contents of
/// `IPVS_CMD_ATTR_SERVICE`).
///
/// Scalars are decoded only when the attribute's type field has neither
/// `NLA_F_NESTED` nor `NLA_F_NET_BYTEORDER`; nests only without
/// `NLA_F_NET_BYTEORDER`. Anything else, and any unknown type, is kept in
/// [`ServiceAttribute::Other`] so it re-emits byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAttribute {
    /// `IPVS_SVC_ATTR_AF` (u16): the service's address family (ipvsadm
    /// `-6` selects `AF_INET6`).
    Af(AddressFamily),
    /// `IPVS_SVC_ATTR_PROTOCOL` (u16): ipvsadm `-t`/`-u`/`--sctp-service`.
    Protocol(Protocol),
    /// `IPVS_SVC_ATTR_ADDR` (16 bytes): the virtual address.
    Addr(InetAddr),
    /// `IPVS_SVC_ATTR_PORT` (u16, network byte order): the virtual port.
    Port(u16),
    /// `IPVS_SVC_ATTR_FWMARK` (u32): firewall mark, ipvsadm `-f`.
    Fwmark(u32),
    /// `IPVS_SVC_ATTR_SCHED_NAME` (NUL-terminated string): ipvsadm `-s`.
    /// A name that is not UTF-8 is kept verbatim in `Other` instead.
    SchedName(String),
    /// `IPVS_SVC_ATTR_FLAGS` (`struct ip_vs_flags`): service flags and
    /// the mask of flags to change.
    Flags(FlagsMask),
    /// `IPVS_SVC_ATTR_TIMEOUT` (u32 seconds): persistence timeout,
    /// ipvsadm `-p`.
    Timeout(u32),
    /// `IPVS_SVC_ATTR_NETMASK` (u32): persistence granularity, ipvsadm
    /// `-M`; see [`Netmask`] for the per-family encoding.
    Netmask(Netmask),
    /// `IPVS_SVC_ATTR_STATS` (nest): 32-bit statistics (output only).
    Stats(Nested<StatsAttribute>),
    /// `IPVS_SVC_ATTR_PE_NAME` (NUL-terminated string): persistence
    /// engine, ipvsadm `--pe`. Not UTF-8: kept in `Other`.
    PeName(String),
    /// `IPVS_SVC_ATTR_STATS64` (nest): 64-bit statistics (output only,
    /// kernel 4.1+).
    Stats64(Nested<Stats64Attribute>),
    /// Any other attribute, kept verbatim (type flags included).
    Other(DefaultNla),
}

impl Nla for ServiceAttribute {
    #[inline]
    fn value_len(&self) -> usize {
        match self {
            Self::Af(_) | Self::Protocol(_) | Self::Port(_) => 2,
            Self::Fwmark(_) | Self::Timeout(_) | Self::Netmask(_) => 4,
            Self::Addr(addr) => addr.as_bytes().len(),
            Self::SchedName(s) | Self::PeName(s) => string_len(s),
            Self::Flags(flags) => flags.buffer_len(),
            Self::Stats(nest) => nest.value_len(),
            Self::Stats64(nest) => nest.value_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }

    #[inline]
    fn kind(&self) -> u16 {
        match self {
            Self::Af(_) => IPVS_SVC_ATTR_AF,
            Self::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Self::Addr(_) => IPVS_SVC_ATTR_ADDR,
            Self::Port(_) => IPVS_SVC_ATTR_PORT,
            Self::Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            Self::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Self::Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Self::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Self::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Self::Stats(nest) => nest.kind(IPVS_SVC_ATTR_STATS),
            Self::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Self::Stats64(nest) => nest.kind(IPVS_SVC_ATTR_STATS64),
            Self::Other(nla) => nla.kind(),
        }
    }

    #[inline]
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Af(af) => emit_u16(buffer, (*af).into()).unwrap(),
            Self::Protocol(p) => emit_u16(buffer, (*p).into()).unwrap(),
            Self::Addr(addr) => buffer.copy_from_slice(addr.as_bytes()),
            Self::Port(port) => emit_u16_be(buffer, *port).unwrap(),
            Self::Fwmark(v) | Self::Timeout(v) => emit_u32(buffer, *v).unwrap(),
            Self::Netmask(mask) => emit_u32(buffer, mask.raw()).unwrap(),
            Self::SchedName(s) | Self::PeName(s) => emit_string(buffer, s),
            Self::Flags(flags) => flags.emit(buffer),
            Self::Stats(nest) => nest.emit_value(buffer),
            Self::Stats64(nest) => nest.emit_value(buffer),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl ServiceAttribute {
    /// Parses the attributes of a service nest's value one at a time, as
    /// they are read, without collecting them. The first malformed
    /// attribute is an error and ends the walk. To read a dump into values
    /// of one's own without allocating, see [`ServiceAttributeRef::parse_each`].
    pub fn parse_each<'a>(nest: &'a [u8]) -> impl Iterator<Item = Result<Self, DecodeError>> + 'a {
        crate::nested::parse_each(nest, "invalid IPVS_CMD_ATTR_SERVICE", Self::parse_raw)
    }

    /// Whether an attribute of this type identifies a service: what the
    /// kernel reads to look one up (`ip_vs_genl_parse_service` without
    /// `full_entry`): `IPVS_SVC_ATTR_AF`, `_PROTOCOL`, `_ADDR`, `_PORT`,
    /// `_FWMARK`.
    pub(crate) fn is_identity(kind: u16) -> bool {
        matches!(
            kind,
            IPVS_SVC_ATTR_AF
                | IPVS_SVC_ATTR_PROTOCOL
                | IPVS_SVC_ATTR_ADDR
                | IPVS_SVC_ATTR_PORT
                | IPVS_SVC_ATTR_FWMARK
        )
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceAttribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for ServiceAttribute {
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        ServiceAttributeRef::parse(nla)?.to_attribute()
    }
}

/// A service attribute as it lies in a message, borrowed: what
/// [`ServiceAttribute`] holds, with names as `&str`, the statistics nests
/// parsed only as they are read, and any other attribute as its bytes. The
/// allocation-free way to read a dump into values of one's own
/// ([`ServiceAttributeRef::parse_each`]); [`ServiceAttributeRef::to_attribute`]
/// makes the owned attribute. The same flag rule decides what is decoded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServiceAttributeRef<'a> {
    /// `IPVS_SVC_ATTR_AF`: see [`ServiceAttribute::Af`].
    Af(AddressFamily),
    /// `IPVS_SVC_ATTR_PROTOCOL`: see [`ServiceAttribute::Protocol`].
    Protocol(Protocol),
    /// `IPVS_SVC_ATTR_ADDR`: see [`ServiceAttribute::Addr`].
    Addr(InetAddr),
    /// `IPVS_SVC_ATTR_PORT`: see [`ServiceAttribute::Port`].
    Port(u16),
    /// `IPVS_SVC_ATTR_FWMARK`: see [`ServiceAttribute::Fwmark`].
    Fwmark(u32),
    /// `IPVS_SVC_ATTR_SCHED_NAME`, without its NUL (not UTF-8: `Other`).
    SchedName(&'a str),
    /// `IPVS_SVC_ATTR_FLAGS`: see [`ServiceAttribute::Flags`].
    Flags(FlagsMask),
    /// `IPVS_SVC_ATTR_TIMEOUT`: see [`ServiceAttribute::Timeout`].
    Timeout(u32),
    /// `IPVS_SVC_ATTR_NETMASK`: see [`ServiceAttribute::Netmask`].
    Netmask(Netmask),
    /// `IPVS_SVC_ATTR_STATS`: the 32-bit statistics nest.
    Stats(NestRef<'a, StatsAttribute>),
    /// `IPVS_SVC_ATTR_PE_NAME`, without its NUL (not UTF-8: `Other`).
    PeName(&'a str),
    /// `IPVS_SVC_ATTR_STATS64`: the 64-bit statistics nest.
    Stats64(NestRef<'a, Stats64Attribute>),
    /// Any other attribute, as it lies in the message.
    Other(RawNla<'a>),
}

impl<'a> ServiceAttributeRef<'a> {
    /// Parses the attributes of a service nest's value one at a time, as
    /// they are read (the nest from
    /// [`IpvsMessage::service_nest`](crate::IpvsMessage::service_nest)).
    /// The first malformed attribute is an error and ends the walk.
    #[inline]
    pub fn parse_each(nest: &'a [u8]) -> impl Iterator<Item = Result<Self, DecodeError>> + 'a {
        crate::nested::parse_each(nest, "invalid IPVS_CMD_ATTR_SERVICE", Self::parse)
    }

    /// Parses only the attributes of a service nest's value that identify
    /// the service (`IPVS_SVC_ATTR_AF`, `_PROTOCOL`, `_ADDR`, `_PORT`,
    /// `_FWMARK`: what the kernel reads to look one up), skipping the rest
    /// unparsed: the cheap way to read the keys of a dump. A malformed
    /// header, or a malformed attribute this reads, is an error.
    #[inline]
    pub fn parse_identity(nest: &'a [u8]) -> impl Iterator<Item = Result<Self, DecodeError>> + 'a {
        crate::wire::attributes(nest)
            .filter(|nla| {
                nla.as_ref().map_or(true, |nla| {
                    nla.is_plain() && ServiceAttribute::is_identity(nla.kind())
                })
            })
            .map(|nla| {
                nla.and_then(Self::parse)
                    .context("invalid IPVS_CMD_ATTR_SERVICE")
            })
    }

    /// Parses one attribute.
    #[inline]
    pub fn parse(nla: RawNla<'a>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        let plain = nla.is_plain();
        Ok(match nla.kind() {
            IPVS_SVC_ATTR_AF if plain => Self::Af(
                parse_u16(payload)
                    .context("invalid IPVS_SVC_ATTR_AF")?
                    .into(),
            ),
            IPVS_SVC_ATTR_PROTOCOL if plain => Self::Protocol(
                parse_u16(payload)
                    .context("invalid IPVS_SVC_ATTR_PROTOCOL")?
                    .into(),
            ),
            IPVS_SVC_ATTR_ADDR if plain => {
                Self::Addr(InetAddr::parse(payload).context("invalid IPVS_SVC_ATTR_ADDR")?)
            }
            IPVS_SVC_ATTR_PORT if plain => {
                Self::Port(parse_u16_be(payload).context("invalid IPVS_SVC_ATTR_PORT")?)
            }
            IPVS_SVC_ATTR_FWMARK if plain => {
                Self::Fwmark(parse_u32(payload).context("invalid IPVS_SVC_ATTR_FWMARK")?)
            }
            IPVS_SVC_ATTR_SCHED_NAME if plain => match name_str(payload) {
                Some(name) => Self::SchedName(name),
                None => Self::Other(nla),
            },
            IPVS_SVC_ATTR_FLAGS if plain => {
                Self::Flags(FlagsMask::parse(payload).context("invalid IPVS_SVC_ATTR_FLAGS")?)
            }
            IPVS_SVC_ATTR_TIMEOUT if plain => {
                Self::Timeout(parse_u32(payload).context("invalid IPVS_SVC_ATTR_TIMEOUT")?)
            }
            IPVS_SVC_ATTR_NETMASK if plain => Self::Netmask(Netmask::from_raw(
                parse_u32(payload).context("invalid IPVS_SVC_ATTR_NETMASK")?,
            )),
            IPVS_SVC_ATTR_STATS if nla.is_nest() => {
                Self::Stats(NestRef::of(nla, "invalid IPVS_SVC_ATTR_STATS"))
            }
            IPVS_SVC_ATTR_PE_NAME if plain => match name_str(payload) {
                Some(name) => Self::PeName(name),
                None => Self::Other(nla),
            },
            IPVS_SVC_ATTR_STATS64 if nla.is_nest() => {
                Self::Stats64(NestRef::of(nla, "invalid IPVS_SVC_ATTR_STATS64"))
            }
            _ => Self::Other(nla),
        })
    }

    /// The owned attribute (its statistics nests parsed: a malformed one
    /// is an error).
    pub fn to_attribute(&self) -> Result<ServiceAttribute, DecodeError> {
        Ok(match self {
            Self::Af(v) => ServiceAttribute::Af(*v),
            Self::Protocol(v) => ServiceAttribute::Protocol(*v),
            Self::Addr(v) => ServiceAttribute::Addr(*v),
            Self::Port(v) => ServiceAttribute::Port(*v),
            Self::Fwmark(v) => ServiceAttribute::Fwmark(*v),
            Self::SchedName(v) => ServiceAttribute::SchedName((*v).to_owned()),
            Self::Flags(v) => ServiceAttribute::Flags(v.clone()),
            Self::Timeout(v) => ServiceAttribute::Timeout(*v),
            Self::Netmask(v) => ServiceAttribute::Netmask(*v),
            Self::Stats(nest) => ServiceAttribute::Stats(nest.to_nested()?),
            Self::PeName(v) => ServiceAttribute::PeName((*v).to_owned()),
            Self::Stats64(nest) => ServiceAttribute::Stats64(nest.to_nested()?),
            Self::Other(nla) => ServiceAttribute::Other(nla.to_default()),
        })
    }
}
