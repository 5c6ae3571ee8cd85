// SPDX-License-Identifier: MIT OR Apache-2.0
//! Destination (real server) attributes `IPVS_DEST_ATTR_*`, nested in
//! `IPVS_CMD_ATTR_DEST`.

use crate::wire::Context as _;
use crate::wire::{parse_u8, parse_u16, parse_u16_be, parse_u32};
use netlink_packet_core::{
    DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u16, emit_u16_be, emit_u32,
};

use crate::{
    AddressFamily, ForwardMethod, InetAddr, Nested, Stats64Attribute, StatsAttribute, TunnelFlags,
    TunnelType,
    nested::NestRef,
    wire::{ParseRaw, RawNla},
};

/// `IPVS_DEST_ATTR_ADDR`
const IPVS_DEST_ATTR_ADDR: u16 = 1;
/// `IPVS_DEST_ATTR_PORT`
const IPVS_DEST_ATTR_PORT: u16 = 2;
/// `IPVS_DEST_ATTR_FWD_METHOD`
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
/// `IPVS_DEST_ATTR_WEIGHT`
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
/// `IPVS_DEST_ATTR_U_THRESH`
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
/// `IPVS_DEST_ATTR_L_THRESH`
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
/// `IPVS_DEST_ATTR_ACTIVE_CONNS`
const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
/// `IPVS_DEST_ATTR_INACT_CONNS`
const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
/// `IPVS_DEST_ATTR_PERSIST_CONNS`
const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
/// `IPVS_DEST_ATTR_STATS`
const IPVS_DEST_ATTR_STATS: u16 = 10;
/// `IPVS_DEST_ATTR_ADDR_FAMILY`
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
/// `IPVS_DEST_ATTR_STATS64`
const IPVS_DEST_ATTR_STATS64: u16 = 12;
/// `IPVS_DEST_ATTR_TUN_TYPE`
const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
/// `IPVS_DEST_ATTR_TUN_PORT`
const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
/// `IPVS_DEST_ATTR_TUN_FLAGS`
const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

/// A destination attribute `IPVS_DEST_ATTR_*` (the contents of
/// `IPVS_CMD_ATTR_DEST`).
///
/// Decoding follows the same flag rule as
/// [`ServiceAttribute`](crate::ServiceAttribute): anything not decodable
/// exactly is kept in [`DestAttribute::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttribute {
    /// `IPVS_DEST_ATTR_ADDR` (16 bytes): the real server address, ipvsadm
    /// `-r`; interpret with [`DestAttribute::AddrFamily`] (or the
    /// service's family when absent).
    Addr(InetAddr),
    /// `IPVS_DEST_ATTR_PORT` (u16, network byte order): the real port.
    Port(u16),
    /// `IPVS_DEST_ATTR_FWD_METHOD` (u32): ipvsadm `-m`/`-i`/`-g`.
    FwdMethod(ForwardMethod),
    /// `IPVS_DEST_ATTR_WEIGHT` (u32; the kernel rejects values above
    /// `i32::MAX`): ipvsadm `-w`.
    Weight(u32),
    /// `IPVS_DEST_ATTR_U_THRESH` (u32): upper connection threshold, ipvsadm
    /// `-x`; 0 means none.
    UpperThreshold(u32),
    /// `IPVS_DEST_ATTR_L_THRESH` (u32): lower connection threshold, ipvsadm
    /// `-y`.
    LowerThreshold(u32),
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS` (u32, output only).
    ActiveConns(u32),
    /// `IPVS_DEST_ATTR_INACT_CONNS` (u32, output only).
    InactiveConns(u32),
    /// `IPVS_DEST_ATTR_PERSIST_CONNS` (u32, output only): persistence
    /// templates.
    PersistentConns(u32),
    /// `IPVS_DEST_ATTR_STATS` (nest, output only): 32-bit statistics.
    Stats(Nested<StatsAttribute>),
    /// `IPVS_DEST_ATTR_ADDR_FAMILY` (u16): the destination's family when
    /// it differs from the service's (kernel 3.18+).
    AddrFamily(AddressFamily),
    /// `IPVS_DEST_ATTR_STATS64` (nest, output only): 64-bit statistics.
    Stats64(Nested<Stats64Attribute>),
    /// `IPVS_DEST_ATTR_TUN_TYPE` (u8): ipvsadm `--tun-type` (kernel 5.2+).
    TunType(TunnelType),
    /// `IPVS_DEST_ATTR_TUN_PORT` (u16, network byte order): ipvsadm
    /// `--tun-port`, required for GUE.
    TunPort(u16),
    /// `IPVS_DEST_ATTR_TUN_FLAGS` (u16): ipvsadm `--tun-nocsum`/
    /// `--tun-csum`/`--tun-remcsum` (kernel 5.3+).
    TunFlags(TunnelFlags),
    /// Any other attribute, kept verbatim (type flags included).
    Other(DefaultNla),
}

impl Nla for DestAttribute {
    fn value_len(&self) -> usize {
        match self {
            Self::TunType(_) => 1,
            Self::Port(_) | Self::AddrFamily(_) | Self::TunPort(_) | Self::TunFlags(_) => 2,
            Self::FwdMethod(_)
            | Self::Weight(_)
            | Self::UpperThreshold(_)
            | Self::LowerThreshold(_)
            | Self::ActiveConns(_)
            | Self::InactiveConns(_)
            | Self::PersistentConns(_) => 4,
            Self::Addr(addr) => addr.as_bytes().len(),
            Self::Stats(nest) => nest.value_len(),
            Self::Stats64(nest) => nest.value_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Addr(_) => IPVS_DEST_ATTR_ADDR,
            Self::Port(_) => IPVS_DEST_ATTR_PORT,
            Self::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Self::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            Self::UpperThreshold(_) => IPVS_DEST_ATTR_U_THRESH,
            Self::LowerThreshold(_) => IPVS_DEST_ATTR_L_THRESH,
            Self::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            Self::InactiveConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            Self::PersistentConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Self::Stats(nest) => nest.kind(IPVS_DEST_ATTR_STATS),
            Self::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Self::Stats64(nest) => nest.kind(IPVS_DEST_ATTR_STATS64),
            Self::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            Self::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            Self::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Self::Other(nla) => nla.kind(),
        }
    }

    #[allow(clippy::indexing_slicing)] // Nla emit contract: exact length
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Addr(addr) => buffer.copy_from_slice(addr.as_bytes()),
            Self::Port(port) | Self::TunPort(port) => emit_u16_be(buffer, *port).unwrap(),
            Self::FwdMethod(m) => emit_u32(buffer, (*m).into()).unwrap(),
            Self::Weight(v)
            | Self::UpperThreshold(v)
            | Self::LowerThreshold(v)
            | Self::ActiveConns(v)
            | Self::InactiveConns(v)
            | Self::PersistentConns(v) => emit_u32(buffer, *v).unwrap(),
            Self::Stats(nest) => nest.emit_value(buffer),
            Self::AddrFamily(af) => emit_u16(buffer, (*af).into()).unwrap(),
            Self::Stats64(nest) => nest.emit_value(buffer),
            Self::TunType(t) => buffer[0] = (*t).into(),
            Self::TunFlags(f) => emit_u16(buffer, f.bits()).unwrap(),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl DestAttribute {
    /// Parses the attributes of a destination nest's value one at a time,
    /// as they are read, without collecting them (the nest from
    /// [`IpvsMessage::dest_nest`](crate::IpvsMessage::dest_nest)). The first
    /// malformed attribute is an error and ends the walk.
    pub fn parse_each<'a>(nest: &'a [u8]) -> impl Iterator<Item = Result<Self, DecodeError>> + 'a {
        crate::nested::parse_each(nest, "invalid IPVS_CMD_ATTR_DEST", Self::parse_raw)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for DestAttribute {
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        DestAttributeRef::parse(nla)?.to_attribute()
    }
}

/// A destination attribute as it lies in a message, borrowed: what
/// [`DestAttribute`] holds, with the statistics nests parsed only as they
/// are read and any other attribute as its bytes (see
/// [`ServiceAttributeRef`](crate::ServiceAttributeRef)).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DestAttributeRef<'a> {
    /// `IPVS_DEST_ATTR_ADDR`: see [`DestAttribute::Addr`].
    Addr(InetAddr),
    /// `IPVS_DEST_ATTR_PORT`: see [`DestAttribute::Port`].
    Port(u16),
    /// `IPVS_DEST_ATTR_FWD_METHOD`: see [`DestAttribute::FwdMethod`].
    FwdMethod(ForwardMethod),
    /// `IPVS_DEST_ATTR_WEIGHT`: see [`DestAttribute::Weight`].
    Weight(u32),
    /// `IPVS_DEST_ATTR_U_THRESH`: see [`DestAttribute::UpperThreshold`].
    UpperThreshold(u32),
    /// `IPVS_DEST_ATTR_L_THRESH`: see [`DestAttribute::LowerThreshold`].
    LowerThreshold(u32),
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS`: see [`DestAttribute::ActiveConns`].
    ActiveConns(u32),
    /// `IPVS_DEST_ATTR_INACT_CONNS`: see [`DestAttribute::InactiveConns`].
    InactiveConns(u32),
    /// `IPVS_DEST_ATTR_PERSIST_CONNS`: see [`DestAttribute::PersistentConns`].
    PersistentConns(u32),
    /// `IPVS_DEST_ATTR_STATS`: the 32-bit statistics nest.
    Stats(NestRef<'a, StatsAttribute>),
    /// `IPVS_DEST_ATTR_ADDR_FAMILY`: see [`DestAttribute::AddrFamily`].
    AddrFamily(AddressFamily),
    /// `IPVS_DEST_ATTR_STATS64`: the 64-bit statistics nest.
    Stats64(NestRef<'a, Stats64Attribute>),
    /// `IPVS_DEST_ATTR_TUN_TYPE`: see [`DestAttribute::TunType`].
    TunType(TunnelType),
    /// `IPVS_DEST_ATTR_TUN_PORT`: see [`DestAttribute::TunPort`].
    TunPort(u16),
    /// `IPVS_DEST_ATTR_TUN_FLAGS`: see [`DestAttribute::TunFlags`].
    TunFlags(TunnelFlags),
    /// Any other attribute, as it lies in the message.
    Other(RawNla<'a>),
}

impl<'a> DestAttributeRef<'a> {
    /// Parses the attributes of a destination nest's value one at a time,
    /// as they are read (the nest from
    /// [`IpvsMessage::dest_nest`](crate::IpvsMessage::dest_nest)). The first
    /// malformed attribute is an error and ends the walk.
    #[inline]
    pub fn parse_each(nest: &'a [u8]) -> impl Iterator<Item = Result<Self, DecodeError>> + 'a {
        crate::nested::parse_each(nest, "invalid IPVS_CMD_ATTR_DEST", Self::parse)
    }

    /// Parses one attribute.
    #[inline]
    pub fn parse(nla: RawNla<'a>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        let plain = nla.is_plain();
        Ok(match nla.kind() {
            IPVS_DEST_ATTR_ADDR if plain => {
                Self::Addr(InetAddr::parse(payload).context("invalid IPVS_DEST_ATTR_ADDR")?)
            }
            IPVS_DEST_ATTR_PORT if plain => {
                Self::Port(parse_u16_be(payload).context("invalid IPVS_DEST_ATTR_PORT")?)
            }
            IPVS_DEST_ATTR_FWD_METHOD if plain => Self::FwdMethod(
                parse_u32(payload)
                    .context("invalid IPVS_DEST_ATTR_FWD_METHOD")?
                    .into(),
            ),
            IPVS_DEST_ATTR_WEIGHT if plain => {
                Self::Weight(parse_u32(payload).context("invalid IPVS_DEST_ATTR_WEIGHT")?)
            }
            IPVS_DEST_ATTR_U_THRESH if plain => {
                Self::UpperThreshold(parse_u32(payload).context("invalid IPVS_DEST_ATTR_U_THRESH")?)
            }
            IPVS_DEST_ATTR_L_THRESH if plain => {
                Self::LowerThreshold(parse_u32(payload).context("invalid IPVS_DEST_ATTR_L_THRESH")?)
            }
            IPVS_DEST_ATTR_ACTIVE_CONNS if plain => Self::ActiveConns(
                parse_u32(payload).context("invalid IPVS_DEST_ATTR_ACTIVE_CONNS")?,
            ),
            IPVS_DEST_ATTR_INACT_CONNS if plain => Self::InactiveConns(
                parse_u32(payload).context("invalid IPVS_DEST_ATTR_INACT_CONNS")?,
            ),
            IPVS_DEST_ATTR_PERSIST_CONNS if plain => Self::PersistentConns(
                parse_u32(payload).context("invalid IPVS_DEST_ATTR_PERSIST_CONNS")?,
            ),
            IPVS_DEST_ATTR_STATS if nla.is_nest() => {
                Self::Stats(NestRef::of(nla, "invalid IPVS_DEST_ATTR_STATS"))
            }
            IPVS_DEST_ATTR_ADDR_FAMILY if plain => Self::AddrFamily(
                parse_u16(payload)
                    .context("invalid IPVS_DEST_ATTR_ADDR_FAMILY")?
                    .into(),
            ),
            IPVS_DEST_ATTR_STATS64 if nla.is_nest() => {
                Self::Stats64(NestRef::of(nla, "invalid IPVS_DEST_ATTR_STATS64"))
            }
            IPVS_DEST_ATTR_TUN_TYPE if plain => Self::TunType(
                parse_u8(payload)
                    .context("invalid IPVS_DEST_ATTR_TUN_TYPE")?
                    .into(),
            ),
            IPVS_DEST_ATTR_TUN_PORT if plain => {
                Self::TunPort(parse_u16_be(payload).context("invalid IPVS_DEST_ATTR_TUN_PORT")?)
            }
            IPVS_DEST_ATTR_TUN_FLAGS if plain => Self::TunFlags(TunnelFlags::from_bits_retain(
                parse_u16(payload).context("invalid IPVS_DEST_ATTR_TUN_FLAGS")?,
            )),
            _ => Self::Other(nla),
        })
    }

    /// The owned attribute (its statistics nests parsed: a malformed one
    /// is an error).
    pub fn to_attribute(&self) -> Result<DestAttribute, DecodeError> {
        Ok(match self {
            Self::Addr(v) => DestAttribute::Addr(*v),
            Self::Port(v) => DestAttribute::Port(*v),
            Self::FwdMethod(v) => DestAttribute::FwdMethod(*v),
            Self::Weight(v) => DestAttribute::Weight(*v),
            Self::UpperThreshold(v) => DestAttribute::UpperThreshold(*v),
            Self::LowerThreshold(v) => DestAttribute::LowerThreshold(*v),
            Self::ActiveConns(v) => DestAttribute::ActiveConns(*v),
            Self::InactiveConns(v) => DestAttribute::InactiveConns(*v),
            Self::PersistentConns(v) => DestAttribute::PersistentConns(*v),
            Self::Stats(nest) => DestAttribute::Stats(nest.to_nested()?),
            Self::AddrFamily(v) => DestAttribute::AddrFamily(*v),
            Self::Stats64(nest) => DestAttribute::Stats64(nest.to_nested()?),
            Self::TunType(v) => DestAttribute::TunType(*v),
            Self::TunPort(v) => DestAttribute::TunPort(*v),
            Self::TunFlags(v) => DestAttribute::TunFlags(*v),
            Self::Other(nla) => DestAttribute::Other(nla.to_default()),
        })
    }
}
