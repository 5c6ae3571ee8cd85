// SPDX-License-Identifier: MIT OR Apache-2.0
//! Sync daemon attributes `IPVS_DAEMON_ATTR_*`, nested in
//! `IPVS_CMD_ATTR_DAEMON`.

use crate::wire::Context as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{parse_u8, parse_u16, parse_u32};
use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u16, emit_u32};

use crate::{
    DaemonState,
    wire::{ParseRaw, RawNla},
    wire::{emit_string, name_string, string_len},
};

/// `IPVS_DAEMON_ATTR_STATE`
const IPVS_DAEMON_ATTR_STATE: u16 = 1;
/// `IPVS_DAEMON_ATTR_MCAST_IFN`
const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
/// `IPVS_DAEMON_ATTR_SYNC_ID`
const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
/// `IPVS_DAEMON_ATTR_SYNC_MAXLEN`
const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
/// `IPVS_DAEMON_ATTR_MCAST_GROUP`
const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
/// `IPVS_DAEMON_ATTR_MCAST_GROUP6`
const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
/// `IPVS_DAEMON_ATTR_MCAST_PORT`
const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
/// `IPVS_DAEMON_ATTR_MCAST_TTL`
const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

/// A sync daemon attribute `IPVS_DAEMON_ATTR_*` (the contents of
/// `IPVS_CMD_ATTR_DAEMON`).
///
/// Decoding follows the same flag rule as
/// [`ServiceAttribute`](crate::ServiceAttribute): anything not decodable
/// exactly is kept in [`DaemonAttribute::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttribute {
    /// `IPVS_DAEMON_ATTR_STATE` (u32): master and/or backup, ipvsadm
    /// `--start-daemon master|backup`.
    State(DaemonState),
    /// `IPVS_DAEMON_ATTR_MCAST_IFN` (NUL-terminated string): ipvsadm
    /// `--mcast-interface`. An interface name may be any bytes: one that
    /// is not UTF-8 is kept verbatim in `Other` instead.
    McastIfn(String),
    /// `IPVS_DAEMON_ATTR_SYNC_ID` (u32): ipvsadm `--syncid`.
    SyncId(u32),
    /// `IPVS_DAEMON_ATTR_SYNC_MAXLEN` (u16): maximum sync message size,
    /// ipvsadm `--sync-maxlen` (kernel 4.3+).
    SyncMaxlen(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP` (4 bytes, network byte order):
    /// ipvsadm `--mcast-group` with an IPv4 group (kernel 4.3+).
    McastGroup(Ipv4Addr),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP6` (16 bytes): ipvsadm `--mcast-group`
    /// with an IPv6 group (kernel 4.3+).
    McastGroup6(Ipv6Addr),
    /// `IPVS_DAEMON_ATTR_MCAST_PORT` (u16, **host** byte order): ipvsadm
    /// `--mcast-port` (kernel 4.3+).
    McastPort(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_TTL` (u8): ipvsadm `--mcast-ttl` (kernel
    /// 4.3+).
    McastTtl(u8),
    /// Any other attribute, kept verbatim (type flags included).
    Other(DefaultNla),
}

impl Nla for DaemonAttribute {
    fn value_len(&self) -> usize {
        match self {
            Self::McastTtl(_) => 1,
            Self::SyncMaxlen(_) | Self::McastPort(_) => 2,
            Self::State(_) | Self::SyncId(_) | Self::McastGroup(_) => 4,
            Self::McastGroup6(_) => 16,
            Self::McastIfn(s) => string_len(s),
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::State(_) => IPVS_DAEMON_ATTR_STATE,
            Self::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            Self::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            Self::SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            Self::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            Self::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            Self::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            Self::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Self::Other(nla) => nla.kind(),
        }
    }

    #[allow(clippy::indexing_slicing)] // Nla emit contract: exact length
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::State(s) => emit_u32(buffer, s.bits()).unwrap(),
            Self::McastIfn(s) => emit_string(buffer, s),
            Self::SyncId(v) => emit_u32(buffer, *v).unwrap(),
            Self::SyncMaxlen(v) | Self::McastPort(v) => emit_u16(buffer, *v).unwrap(),
            Self::McastGroup(g) => buffer.copy_from_slice(&g.octets()),
            Self::McastGroup6(g) => buffer.copy_from_slice(&g.octets()),
            Self::McastTtl(t) => buffer[0] = *t,
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for DaemonAttribute {
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        if !nla.is_plain() {
            return Ok(Self::Other(nla.to_default()));
        }
        Ok(match nla.kind() {
            IPVS_DAEMON_ATTR_STATE => Self::State(DaemonState::from_bits_retain(
                parse_u32(payload).context("invalid IPVS_DAEMON_ATTR_STATE")?,
            )),
            IPVS_DAEMON_ATTR_MCAST_IFN => match name_string(payload) {
                Some(name) => Self::McastIfn(name),
                None => Self::Other(nla.to_default()),
            },
            IPVS_DAEMON_ATTR_SYNC_ID => {
                Self::SyncId(parse_u32(payload).context("invalid IPVS_DAEMON_ATTR_SYNC_ID")?)
            }
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => Self::SyncMaxlen(
                parse_u16(payload).context("invalid IPVS_DAEMON_ATTR_SYNC_MAXLEN")?,
            ),
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                let octets: [u8; 4] = payload.try_into().map_err(|_| {
                    DecodeError::invalid_ip_address(payload.len())
                        .context("invalid IPVS_DAEMON_ATTR_MCAST_GROUP")
                })?;
                Self::McastGroup(Ipv4Addr::from(octets))
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let octets: [u8; 16] = payload.try_into().map_err(|_| {
                    DecodeError::invalid_ip_address(payload.len())
                        .context("invalid IPVS_DAEMON_ATTR_MCAST_GROUP6")
                })?;
                Self::McastGroup6(Ipv6Addr::from(octets))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                Self::McastPort(parse_u16(payload).context("invalid IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => {
                Self::McastTtl(parse_u8(payload).context("invalid IPVS_DAEMON_ATTR_MCAST_TTL")?)
            }
            _ => Self::Other(nla.to_default()),
        })
    }
}
