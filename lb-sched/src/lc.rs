// SPDX-License-Identifier: MIT OR Apache-2.0
//! `lc`: least connection (`net/netfilter/ipvs/ip_vs_lc.c`, `ip_vs_lc_schedule`;
//! `ipvsadm -s lc`).
//!
//! The kernel skips dests that are OVERLOAD or have weight 0 and keeps the one
//! with the least overhead `activeconns × 256 + inactconns`
//! (`ip_vs_dest_conn_overhead`; the file's comment still says `<< 5`); ties keep
//! the earlier dest (strict `<`). Weights are otherwise ignored.

use crate::dest::Record;
use crate::keyed::{Keyed, Rule, keyed_scheduler};

#[derive(Clone, Debug, Default)]
struct LcRule;
impl Rule for LcRule {
    type Key = u64;
    // An overhead is below 2⁴¹.
    const WORST: u64 = u64::MAX;
    fn key(d: &Record) -> Option<u64> {
        d.usable().then(|| d.overhead())
    }
}

/// Least connection (`ipvsadm -s lc`): a tournament tree on (overhead, list position).
#[derive(Clone, Debug, Default)]
pub struct Lc {
    idx: Keyed<LcRule>,
}

impl Lc {
    /// A new lc scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Lc, "lc");
