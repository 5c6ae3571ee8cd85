// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nq`: never queue (`net/netfilter/ipvs/ip_vs_nq.c`, `ip_vs_nq_schedule`;
//! `ipvsadm -s nq`).
//!
//! Scanning in list order and skipping OVERLOAD and weight-0 dests, the first dest
//! with `activeconns == 0` is returned at once, whatever its weight. Otherwise the
//! sed rule applies: least `(activeconns + 1) / weight`, ties keep the earlier dest.
//! One ordered index on the key `(busy, sed ratio)`, see `NqRule`.

use crate::Dest;
use crate::keyed::{Keyed, Ratio, Rule, keyed_scheduler};

/// One key for both of the kernel's cases: `(busy, (activeconns + 1) / weight)`,
/// with every idle dest keyed `(false, 0)`. The least key, earliest in the list
/// on ties, is then the first idle dest if there is one, else the least sed
/// ratio: what the kernel's scan returns.
#[derive(Clone, Debug, Default)]
struct NqRule;
impl Rule for NqRule {
    type Key = (bool, Ratio);
    fn key(d: &Dest) -> Option<(bool, Ratio)> {
        if d.overloaded || d.weight == 0 {
            return None;
        }
        Some(if d.active == 0 {
            (false, Ratio { num: 0, den: 1 })
        } else {
            (
                true,
                Ratio {
                    num: d.active as u64 + 1,
                    den: d.weight as u64,
                },
            )
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
