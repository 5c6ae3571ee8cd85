// SPDX-License-Identifier: MIT OR Apache-2.0
//! `fo`: weighted failover (`net/netfilter/ipvs/ip_vs_fo.c`, `ip_vs_fo_schedule`;
//! `ipvsadm -s fo`, kernel 3.18+).
//!
//! Among dests that are not OVERLOAD, the highest weight (> 0) wins; ties keep the
//! earlier dest. Connection counts do not matter.

use std::cmp::Reverse;

use crate::dest::Record;
use crate::keyed::{Keyed, Rule, keyed_scheduler};

#[derive(Clone, Debug, Default)]
struct FoRule;
impl Rule for FoRule {
    type Key = Reverse<u32>;
    // An eligible dest's weight is at least 1.
    const WORST: Reverse<u32> = Reverse(0);
    fn key(d: &Record) -> Option<Reverse<u32>> {
        d.usable().then_some(Reverse(d.weight()))
    }
}

/// Weighted failover (`ipvsadm -s fo`).
#[derive(Clone, Debug, Default)]
pub struct Fo {
    idx: Keyed<FoRule>,
}

impl Fo {
    /// A new fo scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Fo, "fo");
