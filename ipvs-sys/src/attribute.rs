// SPDX-License-Identifier: MIT OR Apache-2.0
//! Top-level attributes `IPVS_CMD_ATTR_*` (and the GET_INFO reply's
//! `IPVS_INFO_ATTR_*`, which reuse the same numbers).

use crate::wire::Context as _;
use crate::wire::parse_u32;
use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u32};

use crate::{
    DaemonAttribute, DestAttribute, InfoAttribute, Nested, ServiceAttribute,
    nested::parse_nested,
    wire::{ParseRaw, RawNla},
};

/// `IPVS_CMD_ATTR_SERVICE`
pub(crate) const IPVS_CMD_ATTR_SERVICE: u16 = 1;
/// `IPVS_CMD_ATTR_DEST`
pub(crate) const IPVS_CMD_ATTR_DEST: u16 = 2;
/// `IPVS_CMD_ATTR_DAEMON`
const IPVS_CMD_ATTR_DAEMON: u16 = 3;
/// `IPVS_CMD_ATTR_TIMEOUT_TCP`
const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
/// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`
const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
/// `IPVS_CMD_ATTR_TIMEOUT_UDP`
const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

/// A top-level attribute of an IPVS message: `IPVS_CMD_ATTR_*`, or, in the
/// reply to `IPVS_CMD_GET_INFO` (command `IPVS_CMD_SET_INFO`),
/// `IPVS_INFO_ATTR_*`.
///
/// Nests keep whether they carried `NLA_F_NESTED` (see [`Nested`]).
/// Scalars are decoded only without type flags; anything else is kept in
/// [`IpvsAttribute::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsAttribute {
    /// `IPVS_CMD_ATTR_SERVICE` (nest of `IPVS_SVC_ATTR_*`).
    Service(Nested<ServiceAttribute>),
    /// `IPVS_CMD_ATTR_DEST` (nest of `IPVS_DEST_ATTR_*`).
    Dest(Nested<DestAttribute>),
    /// `IPVS_CMD_ATTR_DAEMON` (nest of `IPVS_DAEMON_ATTR_*`).
    Daemon(Nested<DaemonAttribute>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP` (u32 seconds): ipvsadm `--set tcp ...`.
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN` (u32 seconds): ipvsadm
    /// `--set ... tcpfin ...`.
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP` (u32 seconds): ipvsadm
    /// `--set ... ... udp`.
    TimeoutUdp(u32),
    /// An `IPVS_INFO_ATTR_*` attribute: only in messages whose command is
    /// [`IpvsCmd::SetInfo`](crate::IpvsCmd::SetInfo), where the parser
    /// uses the info table for every top-level attribute.
    Info(InfoAttribute),
    /// Any other attribute, kept verbatim (type flags included).
    Other(DefaultNla),
}

impl Nla for IpvsAttribute {
    fn value_len(&self) -> usize {
        match self {
            Self::Service(nest) => nest.value_len(),
            Self::Dest(nest) => nest.value_len(),
            Self::Daemon(nest) => nest.value_len(),
            Self::TimeoutTcp(_) | Self::TimeoutTcpFin(_) | Self::TimeoutUdp(_) => 4,
            Self::Info(info) => info.value_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }

    #[inline]
    fn kind(&self) -> u16 {
        match self {
            Self::Service(nest) => nest.kind(IPVS_CMD_ATTR_SERVICE),
            Self::Dest(nest) => nest.kind(IPVS_CMD_ATTR_DEST),
            Self::Daemon(nest) => nest.kind(IPVS_CMD_ATTR_DAEMON),
            Self::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            Self::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            Self::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            Self::Info(info) => info.kind(),
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Service(nest) => nest.emit_value(buffer),
            Self::Dest(nest) => nest.emit_value(buffer),
            Self::Daemon(nest) => nest.emit_value(buffer),
            Self::TimeoutTcp(v) | Self::TimeoutTcpFin(v) | Self::TimeoutUdp(v) => {
                emit_u32(buffer, *v).unwrap()
            }
            Self::Info(info) => info.emit_value(buffer),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for IpvsAttribute {
    /// Parses with the `IPVS_CMD_ATTR_*` table; never yields
    /// [`IpvsAttribute::Info`] (the message parser does that by command).
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for IpvsAttribute {
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        let plain = nla.is_plain();
        Ok(match nla.kind() {
            IPVS_CMD_ATTR_SERVICE if nla.is_nest() => {
                Self::Service(parse_nested(nla, "invalid IPVS_CMD_ATTR_SERVICE")?)
            }
            IPVS_CMD_ATTR_DEST if nla.is_nest() => {
                Self::Dest(parse_nested(nla, "invalid IPVS_CMD_ATTR_DEST")?)
            }
            IPVS_CMD_ATTR_DAEMON if nla.is_nest() => {
                Self::Daemon(parse_nested(nla, "invalid IPVS_CMD_ATTR_DAEMON")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP if plain => {
                Self::TimeoutTcp(parse_u32(payload).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN if plain => Self::TimeoutTcpFin(
                parse_u32(payload).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?,
            ),
            IPVS_CMD_ATTR_TIMEOUT_UDP if plain => {
                Self::TimeoutUdp(parse_u32(payload).context("invalid IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => Self::Other(nla.to_default()),
        })
    }
}
