// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Stats`]: 64-bit counters and rates of a service or destination.

use ipvs_sys::{Nested, Stats64Attribute, StatsAttribute};

/// Counters and rates, as `ipvsadm -Ln --stats` / `--rate` show them.
///
/// Read from `IPVS_*_ATTR_STATS64` (kernel 4.1+) when present, else from
/// the 32-bit `IPVS_*_ATTR_STATS` (whose byte counters are 64-bit anyway).
/// Rates are computed by the kernel's estimator every 2 seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Connections scheduled.
    pub connections: u64,
    /// Packets in (client → destination).
    pub packets_in: u64,
    /// Packets out (destination → client; 0 for DR/tunnel).
    pub packets_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Connections per second.
    pub connections_per_second: u64,
    /// Packets per second in.
    pub packets_in_per_second: u64,
    /// Packets per second out.
    pub packets_out_per_second: u64,
    /// Bytes per second in.
    pub bytes_in_per_second: u64,
    /// Bytes per second out.
    pub bytes_out_per_second: u64,
}

impl Stats {
    pub(crate) fn from_stats64(attrs: &Nested<Stats64Attribute>) -> Self {
        let mut s = Stats::default();
        for a in attrs.iter() {
            match a {
                Stats64Attribute::Conns(v) => s.connections = *v,
                Stats64Attribute::InPkts(v) => s.packets_in = *v,
                Stats64Attribute::OutPkts(v) => s.packets_out = *v,
                Stats64Attribute::InBytes(v) => s.bytes_in = *v,
                Stats64Attribute::OutBytes(v) => s.bytes_out = *v,
                Stats64Attribute::Cps(v) => s.connections_per_second = *v,
                Stats64Attribute::InPps(v) => s.packets_in_per_second = *v,
                Stats64Attribute::OutPps(v) => s.packets_out_per_second = *v,
                Stats64Attribute::InBps(v) => s.bytes_in_per_second = *v,
                Stats64Attribute::OutBps(v) => s.bytes_out_per_second = *v,
                _ => {}
            }
        }
        s
    }

    pub(crate) fn from_stats32(attrs: &Nested<StatsAttribute>) -> Self {
        let mut s = Stats::default();
        for a in attrs.iter() {
            match a {
                StatsAttribute::Conns(v) => s.connections = (*v).into(),
                StatsAttribute::InPkts(v) => s.packets_in = (*v).into(),
                StatsAttribute::OutPkts(v) => s.packets_out = (*v).into(),
                StatsAttribute::InBytes(v) => s.bytes_in = *v,
                StatsAttribute::OutBytes(v) => s.bytes_out = *v,
                StatsAttribute::Cps(v) => s.connections_per_second = (*v).into(),
                StatsAttribute::InPps(v) => s.packets_in_per_second = (*v).into(),
                StatsAttribute::OutPps(v) => s.packets_out_per_second = (*v).into(),
                StatsAttribute::InBps(v) => s.bytes_in_per_second = (*v).into(),
                StatsAttribute::OutBps(v) => s.bytes_out_per_second = (*v).into(),
                _ => {}
            }
        }
        s
    }

    /// Picks STATS64 over STATS.
    pub(crate) fn pick(
        stats64: Option<&Nested<Stats64Attribute>>,
        stats32: Option<&Nested<StatsAttribute>>,
    ) -> Self {
        match (stats64, stats32) {
            (Some(s), _) => Self::from_stats64(s),
            (None, Some(s)) => Self::from_stats32(s),
            (None, None) => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats64_wins_and_is_not_truncated() {
        let big = u64::from(u32::MAX) + 5;
        let s64 = Nested::without_flag(vec![
            Stats64Attribute::Conns(big),
            Stats64Attribute::Pad(vec![]),
        ]);
        let s32 = Nested::without_flag(vec![StatsAttribute::Conns(4)]);
        assert_eq!(Stats::pick(Some(&s64), Some(&s32)).connections, big);
        assert_eq!(Stats::pick(None, Some(&s32)).connections, 4);
        assert_eq!(Stats::pick(None, None), Stats::default());
    }
}
