// SPDX-License-Identifier: MIT OR Apache-2.0
//! `nq`: never queue (`net/netfilter/ipvs/ip_vs_nq.c`, `ip_vs_nq_schedule`;
//! `ipvsadm -s nq`).
//!
//! Scanning in list order and skipping OVERLOAD and weight-0 dests, the first dest
//! with `activeconns == 0` is returned at once, whatever its weight. Otherwise the
//! sed rule applies: least `(activeconns + 1) / weight`, ties keep the earlier dest.
//! Two ordered indexes: the idle eligible dests by list position, and the sed order.

use crate::keyed::{Keyed, Rule};
use crate::sed::SedRule;
use crate::{Change, Dest, DestId, Dests, Flow, Hooks, Scheduler};

#[derive(Clone, Debug, Default)]
struct IdleRule;
impl Rule for IdleRule {
    type Key = ();
    fn key(d: &Dest) -> Option<()> {
        (!d.overloaded && d.weight > 0 && d.active == 0).then_some(())
    }
}

/// Never queue (`ipvsadm -s nq`).
#[derive(Clone, Debug, Default)]
pub struct Nq {
    idle: Keyed<IdleRule>,
    sed: Keyed<SedRule>,
}

impl Nq {
    /// A new nq scheduler.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }
    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        match change {
            Change::Removed(id, _) => {
                self.idle.removed(dests, id);
                self.sed.removed(dests, id);
            }
            Change::Bound => {
                self.idle.rebuild(dests);
                self.sed.rebuild(dests);
            }
            Change::Added(id) | Change::Updated(id) => {
                self.idle.resize(dests);
                self.sed.resize(dests);
                self.idle.update(dests, id);
                self.sed.update(dests, id);
            }
        }
    }
    fn hooks(&self) -> Hooks {
        Hooks {
            load: self.idle.indexed() || self.sed.indexed(),
            overload: false,
        }
    }
    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        self.idle.update(dests, id);
        self.sed.update(dests, id);
    }
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        self.idle.first(dests).or_else(|| self.sed.first(dests))
    }
}
