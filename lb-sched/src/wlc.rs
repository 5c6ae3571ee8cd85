// SPDX-License-Identifier: MIT OR Apache-2.0
//! `wlc`: weighted least connection (`net/netfilter/ipvs/ip_vs_wlc.c`,
//! `ip_vs_wlc_schedule`; `ipvsadm -s wlc`, the ipvsadm default).
//!
//! The kernel takes the first dest that is not OVERLOAD and has weight > 0, then
//! replaces it by any later non-overloaded dest with `loh × w_dest > doh × w_least`
//! (strictly smaller overhead per weight; ties keep the earlier dest; a weight-0
//! dest can never win). That is the least `overhead / weight` over the eligible
//! dests, earliest in the list on ties, which this implementation keeps in an
//! index on that order (exact rational comparison, no division).

use crate::dest::Record;
use crate::keyed::{Keyed, Ratio, Rule, keyed_scheduler};

#[derive(Clone, Debug, Default)]
pub(crate) struct WlcRule;
impl Rule for WlcRule {
    type Key = Ratio;
    const WORST: Ratio = Ratio::WORST;
    fn key(d: &Record) -> Option<Ratio> {
        d.usable().then(|| Ratio {
            num: d.overhead(),
            den: u64::from(d.weight()),
        })
    }
}

/// Weighted least connection (`ipvsadm -s wlc`).
#[derive(Clone, Debug, Default)]
pub struct Wlc {
    idx: Keyed<WlcRule>,
}

impl Wlc {
    /// A new wlc scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Wlc, "wlc");
