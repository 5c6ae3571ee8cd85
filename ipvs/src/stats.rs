// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Stats`]: counters and rates of a service or destination; [`StatsDelta`]
//! and [`Rates`]: what two samples of them say.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

use ipvs_sys::netlink_packet_core::DecodeError;
use ipvs_sys::{Counters, NestRef, Stats64Attribute, StatsAttribute};

/// Counters and rates, as `ipvsadm -Ln --stats` / `--rate` show them.
///
/// Read from `IPVS_*_ATTR_STATS64` (kernel 4.1+) when present, else from
/// the 32-bit `IPVS_*_ATTR_STATS`; [`Stats::counter_width`] says which.
/// Rates are computed by the kernel's estimator every 2 seconds.
///
/// Subtracting an earlier sample gives what the counters grew by
/// ([`StatsDelta`], correct across a 32-bit wrap), and
/// [`Stats::rates_since`] the rates over the time between the samples:
///
/// ```
/// use std::time::Duration;
/// # let (earlier, later) = (ipvs::Stats::default(), ipvs::Stats::default());
/// // let earlier = ipvs.service(&key)?.stats; ... let later = ipvs.service(&key)?.stats;
/// let delta = later - earlier;
/// println!("{} new connections", delta.connections);
/// if let Some(rates) = later.rates_since(&earlier, Duration::from_secs(10)) {
///     println!("{:.1} packets/s in", rates.packets_in);
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Connections scheduled (`IPVS_STATS_ATTR_CONNS`).
    pub connections: u64,
    /// Packets in, client → destination (`IPVS_STATS_ATTR_INPKTS`).
    pub packets_in: u64,
    /// Packets out, destination → client; 0 for DR/tunnel
    /// (`IPVS_STATS_ATTR_OUTPKTS`).
    pub packets_out: u64,
    /// Bytes in (`IPVS_STATS_ATTR_INBYTES`).
    pub bytes_in: u64,
    /// Bytes out (`IPVS_STATS_ATTR_OUTBYTES`).
    pub bytes_out: u64,
    /// Connections per second (`IPVS_STATS_ATTR_CPS`).
    pub connections_per_second: u64,
    /// Packets per second in (`IPVS_STATS_ATTR_INPPS`).
    pub packets_in_per_second: u64,
    /// Packets per second out (`IPVS_STATS_ATTR_OUTPPS`).
    pub packets_out_per_second: u64,
    /// Bytes per second in (`IPVS_STATS_ATTR_INBPS`).
    pub bytes_in_per_second: u64,
    /// Bytes per second out (`IPVS_STATS_ATTR_OUTBPS`).
    pub bytes_out_per_second: u64,
    /// Where the counters wrap: at 2^64, or at 2^32 for the connection
    /// and packet counters of a kernel without `STATS64`.
    pub counter_width: CounterWidth,
}

/// How wide the kernel's connection and packet counters are in a
/// [`Stats`], which decides where they wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CounterWidth {
    /// Read from `IPVS_*_ATTR_STATS64` (`struct ip_vs_kstats`, kernel
    /// 4.1+): every counter is 64-bit and in practice never wraps (2^64
    /// bytes take 46 years at 100 Gbit/s).
    #[default]
    Bits64,
    /// Read from `IPVS_*_ATTR_STATS` alone (`struct ip_vs_stats_user`, a
    /// kernel before 4.1): `connections`, `packets_in` and `packets_out`
    /// are 32-bit and wrap at 2^32 (in 7 minutes at 10 Mpps); the byte
    /// counters are 64-bit.
    Bits32,
}

impl Stats {
    /// The counters of a statistics nest, 64-bit or 32-bit.
    fn from_counters(c: Counters, counter_width: CounterWidth) -> Self {
        Stats {
            connections: c.conns,
            packets_in: c.in_pkts,
            packets_out: c.out_pkts,
            bytes_in: c.in_bytes,
            bytes_out: c.out_bytes,
            connections_per_second: c.cps,
            packets_in_per_second: c.in_pps,
            packets_out_per_second: c.out_pps,
            bytes_in_per_second: c.in_bps,
            bytes_out_per_second: c.out_bps,
            counter_width,
        }
    }

    /// Picks STATS64 over STATS.
    pub(crate) fn pick(
        stats64: Option<NestRef<'_, Stats64Attribute>>,
        stats32: Option<NestRef<'_, StatsAttribute>>,
    ) -> Result<Self, DecodeError> {
        match (stats64, stats32) {
            (Some(s), _) => Ok(Self::from_counters(s.counters()?, CounterWidth::Bits64)),
            (None, Some(s)) => Ok(Self::from_counters(s.counters()?, CounterWidth::Bits32)),
            (None, None) => Ok(Self::default()),
        }
    }

    /// What each counter grew by since `earlier`, a sample of the same
    /// service or destination; also `self - earlier`.
    ///
    /// A counter that went down either wrapped or was reset
    /// (`ipvsadm -Z`, or the entry was deleted and added again), which
    /// the two samples cannot tell apart. A 32-bit counter (see
    /// [`CounterWidth::Bits32`]; `self`'s width decides) is taken to have
    /// wrapped once, as SNMP managers read a Counter32: the delta is modulo
    /// 2^32. A 64-bit counter cannot wrap in practice, so it is taken to
    /// have been reset: the delta is its new value, what it counted since.
    pub fn delta_since(&self, earlier: &Stats) -> StatsDelta {
        let wrapping32 = self.counter_width == CounterWidth::Bits32;
        let small = |later: u64, earlier: u64| {
            if wrapping32 {
                later.wrapping_sub(earlier) & u64::from(u32::MAX)
            } else {
                grown(later, earlier)
            }
        };
        StatsDelta {
            connections: small(self.connections, earlier.connections),
            packets_in: small(self.packets_in, earlier.packets_in),
            packets_out: small(self.packets_out, earlier.packets_out),
            bytes_in: grown(self.bytes_in, earlier.bytes_in),
            bytes_out: grown(self.bytes_out, earlier.bytes_out),
        }
    }

    /// The mean rates between `earlier` and this sample, taken `elapsed`
    /// apart: [`Stats::delta_since`] per second. `None` when `elapsed` is
    /// zero. Unlike the kernel's own rates (an estimate smoothed over
    /// about a minute) these are exact over the interval.
    pub fn rates_since(&self, earlier: &Stats, elapsed: Duration) -> Option<Rates> {
        self.delta_since(earlier).per_second(elapsed)
    }
}

/// A 64-bit counter's growth; a reset when it went down.
fn grown(later: u64, earlier: u64) -> u64 {
    later.checked_sub(earlier).unwrap_or(later)
}

impl Sub for Stats {
    type Output = StatsDelta;

    /// [`Stats::delta_since`]: `later - earlier`.
    fn sub(self, earlier: Stats) -> StatsDelta {
        self.delta_since(&earlier)
    }
}

/// What the counters of a [`Stats`] grew by between two samples
/// (`later - earlier`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StatsDelta {
    /// Connections scheduled.
    pub connections: u64,
    /// Packets in.
    pub packets_in: u64,
    /// Packets out.
    pub packets_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
}

impl StatsDelta {
    /// These counts spread over `elapsed`; `None` when `elapsed` is zero.
    pub fn per_second(&self, elapsed: Duration) -> Option<Rates> {
        if elapsed.is_zero() {
            return None;
        }
        let seconds = elapsed.as_secs_f64();
        // Counts above 2^53 lose their last bits as f64, far below a rate's
        // precision.
        let rate = |count: u64| count as f64 / seconds;
        Some(Rates {
            connections: rate(self.connections),
            packets_in: rate(self.packets_in),
            packets_out: rate(self.packets_out),
            bytes_in: rate(self.bytes_in),
            bytes_out: rate(self.bytes_out),
        })
    }
}

impl Add for StatsDelta {
    type Output = StatsDelta;

    /// The sum of two intervals' (or two entries') growth, saturating.
    fn add(self, other: StatsDelta) -> StatsDelta {
        StatsDelta {
            connections: self.connections.saturating_add(other.connections),
            packets_in: self.packets_in.saturating_add(other.packets_in),
            packets_out: self.packets_out.saturating_add(other.packets_out),
            bytes_in: self.bytes_in.saturating_add(other.bytes_in),
            bytes_out: self.bytes_out.saturating_add(other.bytes_out),
        }
    }
}

impl AddAssign for StatsDelta {
    fn add_assign(&mut self, other: StatsDelta) {
        *self = *self + other;
    }
}

/// Mean rates per second between two samples ([`Stats::rates_since`]):
/// what `ipvsadm -Ln --rate` estimates, measured instead.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Rates {
    /// Connections per second.
    pub connections: f64,
    /// Packets in per second.
    pub packets_in: f64,
    /// Packets out per second.
    pub packets_out: f64,
    /// Bytes in per second.
    pub bytes_in: f64,
    /// Bytes out per second.
    pub bytes_out: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    use ipvs_sys::netlink_packet_core::Emitable;
    use ipvs_sys::{Nested, ServiceAttribute, ServiceAttributeRef};

    #[test]
    fn stats64_wins_and_is_not_truncated() {
        let big = u64::from(u32::MAX) + 5;
        let nests = [
            ServiceAttribute::Stats64(Nested::without_flag(vec![
                Stats64Attribute::Conns(big),
                Stats64Attribute::Pad(vec![]),
            ])),
            ServiceAttribute::Stats(Nested::without_flag(vec![StatsAttribute::Conns(4)])),
        ];
        let mut bytes = vec![0; nests.as_slice().buffer_len()];
        nests.as_slice().emit(&mut bytes);
        let (mut s64, mut s32) = (None, None);
        for attribute in ServiceAttributeRef::parse_each(&bytes) {
            match attribute.unwrap() {
                ServiceAttributeRef::Stats64(nest) => s64 = Some(nest),
                ServiceAttributeRef::Stats(nest) => s32 = Some(nest),
                other => panic!("{other:?}"),
            }
        }
        let picked = Stats::pick(s64, s32).unwrap();
        assert_eq!(picked.connections, big);
        assert_eq!(picked.counter_width, CounterWidth::Bits64);
        let old = Stats::pick(None, s32).unwrap();
        assert_eq!(old.connections, 4);
        assert_eq!(old.counter_width, CounterWidth::Bits32);
        assert_eq!(Stats::pick(None, None).unwrap(), Stats::default());
    }

    fn sample(width: CounterWidth, counters: u64, bytes: u64) -> Stats {
        Stats {
            connections: counters,
            packets_in: counters,
            packets_out: counters,
            bytes_in: bytes,
            bytes_out: bytes,
            counter_width: width,
            ..Stats::default()
        }
    }

    #[test]
    fn a_32_bit_counter_wraps_at_2_pow_32() {
        let max = u64::from(u32::MAX);
        let before = sample(CounterWidth::Bits32, max - 2, u64::MAX - 1);
        let after = sample(CounterWidth::Bits32, 4, u64::MAX);
        let delta = after - before;
        // u32::MAX - 2 -> u32::MAX -> 0 -> 4: 7 steps.
        assert_eq!(
            (delta.connections, delta.packets_in, delta.packets_out),
            (7, 7, 7)
        );
        assert_eq!((delta.bytes_in, delta.bytes_out), (1, 1));
        // Exactly at the boundary.
        let at_max = sample(CounterWidth::Bits32, max, 0);
        assert_eq!((sample(CounterWidth::Bits32, 0, 0) - at_max).connections, 1);
        assert_eq!(
            (at_max - sample(CounterWidth::Bits32, max - 1, 0)).connections,
            1
        );
        assert_eq!((at_max - at_max).connections, 0);
    }

    #[test]
    fn a_64_bit_counter_that_went_down_was_reset() {
        let before = sample(CounterWidth::Bits64, 1_000, 1 << 40);
        let after = sample(CounterWidth::Bits64, 3, 10);
        let delta = after - before;
        assert_eq!((delta.connections, delta.packets_out), (3, 3));
        assert_eq!(delta.bytes_in, 10);
        // Past 2^32 a 64-bit counter just grows.
        let low = sample(CounterWidth::Bits64, u64::from(u32::MAX), 0);
        let high = sample(CounterWidth::Bits64, u64::from(u32::MAX) + 10, 0);
        assert_eq!((high - low).connections, 10);
        assert_eq!(high - high, StatsDelta::default());
    }

    #[test]
    fn rates_are_the_delta_per_second_of_the_interval() {
        let before = sample(CounterWidth::Bits64, 100, 1_000);
        let after = sample(CounterWidth::Bits64, 150, 6_000);
        let rates = after
            .rates_since(&before, Duration::from_millis(2_500))
            .unwrap();
        assert_eq!(rates.connections, 20.0);
        assert_eq!(rates.bytes_in, 2_000.0);
        assert_eq!(after.rates_since(&before, Duration::ZERO), None);
    }

    #[test]
    fn deltas_add_up_and_saturate() {
        let one = StatsDelta {
            connections: 1,
            bytes_in: u64::MAX,
            ..StatsDelta::default()
        };
        let mut sum = one;
        sum += one;
        assert_eq!(sum.connections, 2);
        assert_eq!(sum.bytes_in, u64::MAX);
    }
}
