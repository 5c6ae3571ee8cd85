// SPDX-License-Identifier: MIT OR Apache-2.0
//! Info attributes `IPVS_INFO_ATTR_*`: the top-level attributes of the
//! `IPVS_CMD_GET_INFO` reply (command `IPVS_CMD_SET_INFO`).

use crate::wire::Context as _;
use crate::wire::parse_u32;
use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u32};

use crate::wire::{ParseRaw, RawNla};

/// `IPVS_INFO_ATTR_VERSION`
const IPVS_INFO_ATTR_VERSION: u16 = 1;
/// `IPVS_INFO_ATTR_CONN_TAB_SIZE`
const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

/// An info attribute `IPVS_INFO_ATTR_*` (ipvsadm `--version`, and the
/// header line of `ipvsadm -L`).
///
/// These numbers overlap with `IPVS_CMD_ATTR_SERVICE`/`_DEST`, so
/// [`IpvsMessage`](crate::IpvsMessage) parses top-level attributes with
/// this table only when the command is
/// [`IpvsCmd::SetInfo`](crate::IpvsCmd::SetInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoAttribute {
    /// `IPVS_INFO_ATTR_VERSION` (u32): `IP_VS_VERSION_CODE`, e.g.
    /// 0x010201 for "1.2.1".
    Version(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (u32): connection hash table size.
    ConnTabSize(u32),
    /// Any other attribute, kept verbatim (type flags included).
    Other(DefaultNla),
}

impl Nla for InfoAttribute {
    fn value_len(&self) -> usize {
        match self {
            Self::Version(_) | Self::ConnTabSize(_) => 4,
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Version(_) => IPVS_INFO_ATTR_VERSION,
            Self::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Version(v) | Self::ConnTabSize(v) => emit_u32(buffer, *v).unwrap(),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for InfoAttribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for InfoAttribute {
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        if !nla.is_plain() {
            return Ok(Self::Other(nla.to_default()));
        }
        Ok(match nla.kind() {
            IPVS_INFO_ATTR_VERSION => {
                Self::Version(parse_u32(payload).context("invalid IPVS_INFO_ATTR_VERSION")?)
            }
            IPVS_INFO_ATTR_CONN_TAB_SIZE => Self::ConnTabSize(
                parse_u32(payload).context("invalid IPVS_INFO_ATTR_CONN_TAB_SIZE")?,
            ),
            _ => Self::Other(nla.to_default()),
        })
    }
}
