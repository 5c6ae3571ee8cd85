// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sed`: shortest expected delay (`net/netfilter/ipvs/ip_vs_sed.c`,
//! `ip_vs_sed_schedule`; `ipvsadm -s sed`).
//!
//! The wlc rule with overhead `activeconns + 1` (`ip_vs_sed_dest_overhead`):
//! inactive connections are ignored. Ties keep the earlier dest.

use crate::dest::Record;
use crate::keyed::{Keyed, Ratio, Rule, keyed_scheduler};

#[derive(Clone, Debug, Default)]
struct SedRule;
impl Rule for SedRule {
    type Key = Ratio;
    const WORST: Ratio = Ratio::WORST;
    fn key(d: &Record) -> Option<Ratio> {
        d.usable().then(|| Ratio {
            num: u64::from(d.active) + 1,
            den: u64::from(d.weight()),
        })
    }
}

/// Shortest expected delay (`ipvsadm -s sed`).
#[derive(Clone, Debug, Default)]
pub struct Sed {
    idx: Keyed<SedRule>,
}

impl Sed {
    /// A new sed scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Sed, "sed");
