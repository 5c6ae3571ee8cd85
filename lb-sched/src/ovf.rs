// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ovf`: weighted overflow (`net/netfilter/ipvs/ip_vs_ovf.c`, `ip_vs_ovf_schedule`;
//! `ipvsadm -s ovf`, kernel 4.3+).
//!
//! Skips dests that are OVERLOAD, have weight 0, or have `activeconns > weight`
//! (equal is still eligible); the highest weight wins, ties keep the earlier dest.

use std::cmp::Reverse;

use crate::dest::Record;
use crate::keyed::{Keyed, Rule, keyed_scheduler};

#[derive(Clone, Debug, Default)]
struct OvfRule;
impl Rule for OvfRule {
    type Key = Reverse<u32>;
    // An eligible dest's weight is at least 1.
    const WORST: Reverse<u32> = Reverse(0);
    fn key(d: &Record) -> Option<Reverse<u32>> {
        (d.usable() && d.active <= d.weight()).then_some(Reverse(d.weight()))
    }
}

/// Weighted overflow (`ipvsadm -s ovf`).
#[derive(Clone, Debug, Default)]
pub struct Ovf {
    idx: Keyed<OvfRule>,
}

impl Ovf {
    /// A new ovf scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Ovf, "ovf");
