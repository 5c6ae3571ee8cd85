// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nq`: never queue (`net/netfilter/ipvs/ip_vs_nq.c`, `ip_vs_nq_schedule`;
//! `ipvsadm -s nq`).
//!
//! Scanning in list order and skipping OVERLOAD and weight-0 dests, the first dest
//! with `activeconns == 0` is returned at once, whatever its weight. Otherwise the
//! sed rule applies: least `(activeconns + 1) / weight`, ties keep the earlier dest.
//! One ordered index on one key, see `NqRule`.

use crate::dest::Record;
use crate::keyed::{Keyed, Ratio, Rule, keyed_scheduler};

/// One key for both of the kernel's cases: the sed ratio
/// `(activeconns + 1) / weight` of a busy dest, and 0 for an idle one. Every
/// busy ratio is above 0, so the least key, earliest in the list on ties, is the
/// first idle dest if there is one, else the least sed ratio: what the kernel's
/// scan returns.
#[derive(Clone, Debug, Default)]
struct NqRule;
impl Rule for NqRule {
    type Key = Ratio;
    const WORST: Ratio = Ratio::WORST;
    fn key(d: &Record) -> Option<Ratio> {
        if !d.usable() {
            return None;
        }
        let busy = d.active != 0;
        Some(Ratio {
            num: if busy { u64::from(d.active) + 1 } else { 0 },
            den: u64::from(d.weight()),
        })
    }
}

/// Never queue (`ipvsadm -s nq`).
#[derive(Clone, Debug, Default)]
pub struct Nq {
    idx: Keyed<NqRule>,
}

impl Nq {
    /// A new nq scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

keyed_scheduler!(Nq, "nq");
