// SPDX-License-Identifier: MIT OR Apache-2.0
//! Statistics nests: `IPVS_SVC_ATTR_STATS`/`IPVS_DEST_ATTR_STATS` (32-bit
//! counters, except the byte counters) and `..._STATS64` (all 64-bit).

use crate::wire::{parse_u32, parse_u64};
use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, Parseable, emit_u32, emit_u64,
};

use crate::wire::{ParseRaw, RawNla};

/// `IPVS_STATS_ATTR_CONNS`
const IPVS_STATS_ATTR_CONNS: u16 = 1;
/// `IPVS_STATS_ATTR_INPKTS`
const IPVS_STATS_ATTR_INPKTS: u16 = 2;
/// `IPVS_STATS_ATTR_OUTPKTS`
const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
/// `IPVS_STATS_ATTR_INBYTES`
const IPVS_STATS_ATTR_INBYTES: u16 = 4;
/// `IPVS_STATS_ATTR_OUTBYTES`
const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
/// `IPVS_STATS_ATTR_CPS`
const IPVS_STATS_ATTR_CPS: u16 = 6;
/// `IPVS_STATS_ATTR_INPPS`
const IPVS_STATS_ATTR_INPPS: u16 = 7;
/// `IPVS_STATS_ATTR_OUTPPS`
const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
/// `IPVS_STATS_ATTR_INBPS`
const IPVS_STATS_ATTR_INBPS: u16 = 9;
/// `IPVS_STATS_ATTR_OUTBPS`
const IPVS_STATS_ATTR_OUTBPS: u16 = 10;
/// `IPVS_STATS_ATTR_PAD`
const IPVS_STATS_ATTR_PAD: u16 = 11;

/// An attribute of the 32-bit statistics nest (`IPVS_SVC_ATTR_STATS`,
/// `IPVS_DEST_ATTR_STATS`): the kernel truncates every counter and rate to
/// u32 except `INBYTES`/`OUTBYTES`, which are u64. Prefer
/// [`Stats64Attribute`] when the kernel sends both (since 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttribute {
    /// `IPVS_STATS_ATTR_CONNS`: connections scheduled.
    Conns(u32),
    /// `IPVS_STATS_ATTR_INPKTS`: incoming packets.
    InPkts(u32),
    /// `IPVS_STATS_ATTR_OUTPKTS`: outgoing packets.
    OutPkts(u32),
    /// `IPVS_STATS_ATTR_INBYTES`: incoming bytes (u64 even here).
    InBytes(u64),
    /// `IPVS_STATS_ATTR_OUTBYTES`: outgoing bytes (u64 even here).
    OutBytes(u64),
    /// `IPVS_STATS_ATTR_CPS`: connections per second.
    Cps(u32),
    /// `IPVS_STATS_ATTR_INPPS`: incoming packets per second.
    InPps(u32),
    /// `IPVS_STATS_ATTR_OUTPPS`: outgoing packets per second.
    OutPps(u32),
    /// `IPVS_STATS_ATTR_INBPS`: incoming bytes (not bits) per second.
    InBps(u32),
    /// `IPVS_STATS_ATTR_OUTBPS`: outgoing bytes (not bits) per second.
    OutBps(u32),
    /// `IPVS_STATS_ATTR_PAD`: alignment padding for the u64 that follows;
    /// carries no data. Kept (with its bytes, normally none) so the
    /// message re-emits exactly; skip it when reading.
    Pad(Vec<u8>),
    /// Any other attribute, kept verbatim.
    Other(DefaultNla),
}

/// An attribute of the 64-bit statistics nest (`IPVS_SVC_ATTR_STATS64`,
/// `IPVS_DEST_ATTR_STATS64`): every counter and rate is u64.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stats64Attribute {
    /// `IPVS_STATS_ATTR_CONNS`: connections scheduled.
    Conns(u64),
    /// `IPVS_STATS_ATTR_INPKTS`: incoming packets.
    InPkts(u64),
    /// `IPVS_STATS_ATTR_OUTPKTS`: outgoing packets.
    OutPkts(u64),
    /// `IPVS_STATS_ATTR_INBYTES`: incoming bytes.
    InBytes(u64),
    /// `IPVS_STATS_ATTR_OUTBYTES`: outgoing bytes.
    OutBytes(u64),
    /// `IPVS_STATS_ATTR_CPS`: connections per second.
    Cps(u64),
    /// `IPVS_STATS_ATTR_INPPS`: incoming packets per second.
    InPps(u64),
    /// `IPVS_STATS_ATTR_OUTPPS`: outgoing packets per second.
    OutPps(u64),
    /// `IPVS_STATS_ATTR_INBPS`: incoming bytes (not bits) per second.
    InBps(u64),
    /// `IPVS_STATS_ATTR_OUTBPS`: outgoing bytes (not bits) per second.
    OutBps(u64),
    /// `IPVS_STATS_ATTR_PAD`: alignment padding; see
    /// [`StatsAttribute::Pad`].
    Pad(Vec<u8>),
    /// Any other attribute, kept verbatim.
    Other(DefaultNla),
}

impl Nla for StatsAttribute {
    fn value_len(&self) -> usize {
        match self {
            Self::InBytes(_) | Self::OutBytes(_) => 8,
            Self::Conns(_)
            | Self::InPkts(_)
            | Self::OutPkts(_)
            | Self::Cps(_)
            | Self::InPps(_)
            | Self::OutPps(_)
            | Self::InBps(_)
            | Self::OutBps(_) => 4,
            Self::Pad(bytes) => bytes.len(),
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Conns(_) => IPVS_STATS_ATTR_CONNS,
            Self::InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            Self::OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            Self::InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            Self::OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Self::Cps(_) => IPVS_STATS_ATTR_CPS,
            Self::InPps(_) => IPVS_STATS_ATTR_INPPS,
            Self::OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            Self::InBps(_) => IPVS_STATS_ATTR_INBPS,
            Self::OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Self::Pad(_) => IPVS_STATS_ATTR_PAD,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::InBytes(v) | Self::OutBytes(v) => emit_u64(buffer, *v).unwrap(),
            Self::Conns(v)
            | Self::InPkts(v)
            | Self::OutPkts(v)
            | Self::Cps(v)
            | Self::InPps(v)
            | Self::OutPps(v)
            | Self::InBps(v)
            | Self::OutBps(v) => emit_u32(buffer, *v).unwrap(),
            Self::Pad(bytes) => buffer.copy_from_slice(bytes),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsAttribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for StatsAttribute {
    #[inline]
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        if !nla.is_plain() {
            return Ok(Self::Other(nla.to_default()));
        }
        Ok(match nla.kind() {
            IPVS_STATS_ATTR_CONNS => {
                Self::Conns(parse_u32(payload).context("invalid IPVS_STATS_ATTR_CONNS")?)
            }
            IPVS_STATS_ATTR_INPKTS => {
                Self::InPkts(parse_u32(payload).context("invalid IPVS_STATS_ATTR_INPKTS")?)
            }
            IPVS_STATS_ATTR_OUTPKTS => {
                Self::OutPkts(parse_u32(payload).context("invalid IPVS_STATS_ATTR_OUTPKTS")?)
            }
            IPVS_STATS_ATTR_INBYTES => {
                Self::InBytes(parse_u64(payload).context("invalid IPVS_STATS_ATTR_INBYTES")?)
            }
            IPVS_STATS_ATTR_OUTBYTES => {
                Self::OutBytes(parse_u64(payload).context("invalid IPVS_STATS_ATTR_OUTBYTES")?)
            }
            IPVS_STATS_ATTR_CPS => {
                Self::Cps(parse_u32(payload).context("invalid IPVS_STATS_ATTR_CPS")?)
            }
            IPVS_STATS_ATTR_INPPS => {
                Self::InPps(parse_u32(payload).context("invalid IPVS_STATS_ATTR_INPPS")?)
            }
            IPVS_STATS_ATTR_OUTPPS => {
                Self::OutPps(parse_u32(payload).context("invalid IPVS_STATS_ATTR_OUTPPS")?)
            }
            IPVS_STATS_ATTR_INBPS => {
                Self::InBps(parse_u32(payload).context("invalid IPVS_STATS_ATTR_INBPS")?)
            }
            IPVS_STATS_ATTR_OUTBPS => {
                Self::OutBps(parse_u32(payload).context("invalid IPVS_STATS_ATTR_OUTBPS")?)
            }
            IPVS_STATS_ATTR_PAD => Self::Pad(payload.to_vec()),
            _ => Self::Other(nla.to_default()),
        })
    }
}

impl Nla for Stats64Attribute {
    fn value_len(&self) -> usize {
        match self {
            Self::Pad(bytes) => bytes.len(),
            Self::Other(nla) => nla.value_len(),
            _ => 8,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Conns(_) => IPVS_STATS_ATTR_CONNS,
            Self::InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            Self::OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            Self::InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            Self::OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Self::Cps(_) => IPVS_STATS_ATTR_CPS,
            Self::InPps(_) => IPVS_STATS_ATTR_INPPS,
            Self::OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            Self::InBps(_) => IPVS_STATS_ATTR_INBPS,
            Self::OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Self::Pad(_) => IPVS_STATS_ATTR_PAD,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Conns(v)
            | Self::InPkts(v)
            | Self::OutPkts(v)
            | Self::InBytes(v)
            | Self::OutBytes(v)
            | Self::Cps(v)
            | Self::InPps(v)
            | Self::OutPps(v)
            | Self::InBps(v)
            | Self::OutBps(v) => emit_u64(buffer, *v).unwrap(),
            Self::Pad(bytes) => buffer.copy_from_slice(bytes),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for Stats64Attribute {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        Self::parse_raw(RawNla::of(buf))
    }
}

impl ParseRaw for Stats64Attribute {
    #[inline]
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError> {
        let payload = nla.value;
        if !nla.is_plain() {
            return Ok(Self::Other(nla.to_default()));
        }
        let value =
            |name: &'static str| parse_u64(payload).with_context(|| format!("invalid {name}"));
        Ok(match nla.kind() {
            IPVS_STATS_ATTR_CONNS => Self::Conns(value("IPVS_STATS_ATTR_CONNS (64-bit)")?),
            IPVS_STATS_ATTR_INPKTS => Self::InPkts(value("IPVS_STATS_ATTR_INPKTS (64-bit)")?),
            IPVS_STATS_ATTR_OUTPKTS => Self::OutPkts(value("IPVS_STATS_ATTR_OUTPKTS (64-bit)")?),
            IPVS_STATS_ATTR_INBYTES => Self::InBytes(value("IPVS_STATS_ATTR_INBYTES (64-bit)")?),
            IPVS_STATS_ATTR_OUTBYTES => Self::OutBytes(value("IPVS_STATS_ATTR_OUTBYTES (64-bit)")?),
            IPVS_STATS_ATTR_CPS => Self::Cps(value("IPVS_STATS_ATTR_CPS (64-bit)")?),
            IPVS_STATS_ATTR_INPPS => Self::InPps(value("IPVS_STATS_ATTR_INPPS (64-bit)")?),
            IPVS_STATS_ATTR_OUTPPS => Self::OutPps(value("IPVS_STATS_ATTR_OUTPPS (64-bit)")?),
            IPVS_STATS_ATTR_INBPS => Self::InBps(value("IPVS_STATS_ATTR_INBPS (64-bit)")?),
            IPVS_STATS_ATTR_OUTBPS => Self::OutBps(value("IPVS_STATS_ATTR_OUTBPS (64-bit)")?),
            IPVS_STATS_ATTR_PAD => Self::Pad(payload.to_vec()),
            _ => Self::Other(nla.to_default()),
        })
    }
}
