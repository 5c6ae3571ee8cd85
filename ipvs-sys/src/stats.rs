// SPDX-License-Identifier: MIT OR Apache-2.0
//! Statistics nests: `IPVS_SVC_ATTR_STATS`/`IPVS_DEST_ATTR_STATS` (32-bit
//! counters, except the byte counters) and `..._STATS64` (all 64-bit).

use crate::wire::Context as _;
use crate::wire::{parse_u32, parse_u64};
use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable, emit_u32, emit_u64};

use crate::NestRef;
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

/// The ten counters and rates of a statistics nest, as `struct
/// ip_vs_kstats` holds them: what [`NestRef::counters`] reads from an
/// `IPVS_*_ATTR_STATS64` or `IPVS_*_ATTR_STATS` nest in one pass, with no
/// allocation. A counter the nest lacks reads 0; a 32-bit one is widened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counters {
    /// `IPVS_STATS_ATTR_CONNS`: connections scheduled.
    pub conns: u64,
    /// `IPVS_STATS_ATTR_INPKTS`: incoming packets.
    pub in_pkts: u64,
    /// `IPVS_STATS_ATTR_OUTPKTS`: outgoing packets.
    pub out_pkts: u64,
    /// `IPVS_STATS_ATTR_INBYTES`: incoming bytes.
    pub in_bytes: u64,
    /// `IPVS_STATS_ATTR_OUTBYTES`: outgoing bytes.
    pub out_bytes: u64,
    /// `IPVS_STATS_ATTR_CPS`: connections per second.
    pub cps: u64,
    /// `IPVS_STATS_ATTR_INPPS`: incoming packets per second.
    pub in_pps: u64,
    /// `IPVS_STATS_ATTR_OUTPPS`: outgoing packets per second.
    pub out_pps: u64,
    /// `IPVS_STATS_ATTR_INBPS`: incoming bytes per second.
    pub in_bps: u64,
    /// `IPVS_STATS_ATTR_OUTBPS`: outgoing bytes per second.
    pub out_bps: u64,
}

/// Number of counter attributes: `IPVS_STATS_ATTR_CONNS` (1) ..=
/// `IPVS_STATS_ATTR_OUTBPS` (10), numbered consecutively.
const COUNTERS: usize = 10;

impl Counters {
    /// The counters indexed by attribute type minus one (`CONNS` first).
    #[inline]
    fn from_array(c: [u64; COUNTERS]) -> Self {
        const _: () =
            assert!(IPVS_STATS_ATTR_CONNS == 1 && IPVS_STATS_ATTR_OUTBPS as usize == COUNTERS);
        let [
            conns,
            in_pkts,
            out_pkts,
            in_bytes,
            out_bytes,
            cps,
            in_pps,
            out_pps,
            in_bps,
            out_bps,
        ] = c;
        Self {
            conns,
            in_pkts,
            out_pkts,
            in_bytes,
            out_bytes,
            cps,
            in_pps,
            out_pps,
            in_bps,
            out_bps,
        }
    }
}

/// The index of counter attribute `kind` in [`Counters::from_array`]'s
/// array, if it is a counter.
#[inline]
fn counter_index(kind: u16) -> Option<usize> {
    let index = usize::from(kind).wrapping_sub(usize::from(IPVS_STATS_ATTR_CONNS));
    (index < COUNTERS).then_some(index)
}

/// Whether counter `kind` is a u64 in the 32-bit nest (`INBYTES`,
/// `OUTBYTES`; the others are u32 there). Every counter of the 64-bit nest
/// is a u64.
fn is_u64_in_stats32(kind: u16) -> bool {
    matches!(kind, IPVS_STATS_ATTR_INBYTES | IPVS_STATS_ATTR_OUTBYTES)
}

/// Reads the counters of a nest's value: `u64_only` for the 64-bit nest.
/// What the attribute parsers decode as a counter is read the same way
/// (same flag rule, same length checks, same errors); anything else
/// (`PAD`, unknown types, flagged attributes) is skipped.
#[inline]
pub(crate) fn read_counters(
    value: &[u8],
    u64_only: bool,
    what: &'static str,
) -> Result<Counters, DecodeError> {
    let mut counters = [0; COUNTERS];
    for nla in crate::wire::attributes(value) {
        let nla = nla.context(what)?;
        if !nla.is_plain() {
            continue;
        }
        let kind = nla.kind();
        let Some(field) = counter_index(kind).and_then(|i| counters.get_mut(i)) else {
            continue;
        };
        let value = if u64_only || is_u64_in_stats32(kind) {
            parse_u64(nla.value)
        } else {
            parse_u32(nla.value).map(u64::from)
        };
        match value {
            Ok(value) => *field = value,
            Err(e) => return Err(e.context(format!("invalid counter {kind}")).context(what)),
        }
    }
    Ok(Counters::from_array(counters))
}

impl NestRef<'_, Stats64Attribute> {
    /// The nest's counters, read in one pass (see [`Counters`]); a
    /// malformed attribute is an error, as [`NestRef::attributes`] reports.
    #[inline]
    pub fn counters(&self) -> Result<Counters, DecodeError> {
        read_counters(self.value(), true, self.what())
    }
}

impl NestRef<'_, StatsAttribute> {
    /// The nest's counters, read in one pass, the 32-bit ones widened (see
    /// [`Counters`]).
    #[inline]
    pub fn counters(&self) -> Result<Counters, DecodeError> {
        read_counters(self.value(), false, self.what())
    }
}

#[cfg(test)]
mod counter_tests {
    use super::*;
    use crate::wire::attributes;

    /// What the attribute parser makes of one attribute, as a counter.
    fn by_enum64(attribute: &Stats64Attribute) -> Option<(u16, u64)> {
        use Stats64Attribute::*;
        Some(match *attribute {
            Conns(v) => (1, v),
            InPkts(v) => (2, v),
            OutPkts(v) => (3, v),
            InBytes(v) => (4, v),
            OutBytes(v) => (5, v),
            Cps(v) => (6, v),
            InPps(v) => (7, v),
            OutPps(v) => (8, v),
            InBps(v) => (9, v),
            OutBps(v) => (10, v),
            _ => return None,
        })
    }

    fn by_enum32(attribute: &StatsAttribute) -> Option<(u16, u64)> {
        use StatsAttribute::*;
        Some(match *attribute {
            Conns(v) => (1, v.into()),
            InPkts(v) => (2, v.into()),
            OutPkts(v) => (3, v.into()),
            InBytes(v) => (4, v),
            OutBytes(v) => (5, v),
            Cps(v) => (6, v.into()),
            InPps(v) => (7, v.into()),
            OutPps(v) => (8, v.into()),
            InBps(v) => (9, v.into()),
            OutBps(v) => (10, v.into()),
            _ => return None,
        })
    }

    /// Each counter attribute lands in its own field.
    #[test]
    fn each_counter_is_read_into_its_field() {
        let mut nest = Vec::new();
        for kind in 1u16..=10 {
            nest.extend(12u16.to_ne_bytes());
            nest.extend(kind.to_ne_bytes());
            nest.extend((u64::from(kind) * 11).to_ne_bytes());
        }
        let read = read_counters(&nest, true, "nest").unwrap();
        let fields = [
            read.conns,
            read.in_pkts,
            read.out_pkts,
            read.in_bytes,
            read.out_bytes,
            read.cps,
            read.in_pps,
            read.out_pps,
            read.in_bps,
            read.out_bps,
        ];
        assert_eq!(fields, [11, 22, 33, 44, 55, 66, 77, 88, 99, 110]);
    }

    /// Every type 0..=12, with and without flags, at lengths 0..=9: the
    /// one-pass reader reads what the attribute parsers decode, fails
    /// where they fail, and skips the rest.
    #[test]
    fn counters_agree_with_the_attribute_parsers() {
        for flags in [0u16, 0x8000, 0x4000] {
            for kind in 0u16..=12 {
                for len in 0usize..=9 {
                    let mut nla = vec![0u8; 4 + len.next_multiple_of(4)];
                    nla[0..2].copy_from_slice(&((4 + len) as u16).to_ne_bytes());
                    nla[2..4].copy_from_slice(&(kind | flags).to_ne_bytes());
                    for (i, b) in nla[4..4 + len].iter_mut().enumerate() {
                        *b = 0x11 * (i as u8 + 1);
                    }
                    let raw = attributes(&nla).next().unwrap().unwrap();
                    // What the parser decodes as a counter (or its error),
                    // against the one-pass reader, for each nest width.
                    let parsed64 = Stats64Attribute::parse_raw(raw).map(|a| by_enum64(&a));
                    let parsed32 = StatsAttribute::parse_raw(raw).map(|a| by_enum32(&a));
                    for (width, u64_only, parsed) in [(64, true, parsed64), (32, false, parsed32)] {
                        let mut expected = [0; COUNTERS];
                        if let Ok(Some((k, v))) = parsed {
                            expected[counter_index(k).unwrap()] = v;
                        }
                        let expected = Counters::from_array(expected);
                        let read = read_counters(&nla, u64_only, "nest");
                        assert_eq!(read.is_ok(), parsed.is_ok(), "{width} {kind} {flags} {len}");
                        if let Ok(read) = read {
                            assert_eq!(read, expected, "{width} {kind} {flags} {len}");
                        }
                    }
                }
            }
        }
    }
}
