// SPDX-License-Identifier: MIT OR Apache-2.0
//! How much of the client → real server mapping moves when a real server
//! is added or removed, in the `lb-sched` model of the kernel's hashing
//! schedulers: the number behind "several directors behind ECMP with `mh`".
//!
//! Directors behind an ECMP router share no state: each packet of a flow may
//! reach any of them (after a router or director change). With a hashing
//! scheduler every director computes the same real server from the client
//! address alone, so they agree without talking. What matters then is how
//! much of that mapping a change of the real-server set disturbs: a moved
//! client's established connection breaks (its new real server has no
//! socket for it). Maglev hashing (`mh`, `ip_vs_mh.c`) moves about the
//! unavoidable share; source hashing (`sh`, `ip_vs_sh.c`, 256 buckets dealt
//! out round-robin in list order) reshuffles almost everything.
//!
//! Clients are `n` consecutive addresses from 198.18.0.0/15 (the
//! benchmarking range; the model sends no packet), hashed without the port
//! (neither `mh-port` nor `sh-port`); real servers 192.0.2.11, .12, ...,
//! port 80, weight 1, added in that order.

use std::net::{IpAddr, Ipv4Addr};

use lb_sched::{DestConfig, DestId, Flow, Scheduler, Service};

/// Most clients [`movement`] models (all of 198.18.0.0/15).
pub const MAX_CLIENTS: usize = 1 << 17;
/// Most real servers [`movement`] models (192.0.2.11..=192.0.2.254).
pub const MAX_SERVERS: usize = 244;

/// What a change of the real-server set did to the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Movement {
    /// The scheduler (`mh`, `sh`).
    pub scheduler: &'static str,
    /// Clients modelled.
    pub clients: usize,
    /// Real servers before.
    pub from: usize,
    /// Real servers after.
    pub to: usize,
    /// Clients whose real server changed.
    pub moved: usize,
    /// Clients that moved although neither their old server was removed nor
    /// their new one added: the disruption beyond the unavoidable.
    pub needless: usize,
}

impl Movement {
    /// The fraction of clients that moved.
    pub fn fraction(&self) -> f64 {
        self.moved as f64 / self.clients as f64
    }

    /// The unavoidable fraction: the share of the servers that came or went
    /// (1/6 for 5 → 6, 1/5 for 5 → 4).
    pub fn ideal(&self) -> f64 {
        let (small, large) = (self.from.min(self.to), self.from.max(self.to));
        (large - small) as f64 / large as f64
    }

    /// One row of the README's table.
    pub fn markdown_row(&self) -> String {
        format!(
            "| `{}` | {} → {} | {} | {} ({:.1} %) | {:.1} % | {} |",
            self.scheduler,
            self.from,
            self.to,
            self.clients,
            self.moved,
            100.0 * self.fraction(),
            100.0 * self.ideal(),
            self.needless
        )
    }
}

/// Why a model could not run.
#[derive(Debug, PartialEq, Eq)]
pub enum MovementError {
    /// A count out of range.
    InvalidArgument {
        /// `"clients"`, `"from"` or `"to"`.
        field: &'static str,
        /// The rule, with the limit.
        reason: String,
    },
    /// The model refused a destination (mh: more than its table holds).
    Sched(lb_sched::Error),
}

impl std::fmt::Display for MovementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MovementError::InvalidArgument { field, reason } => {
                write!(f, "invalid {field}: {reason}")
            }
            MovementError::Sched(e) => write!(f, "lb-sched: {e}"),
        }
    }
}

impl std::error::Error for MovementError {}

fn server(i: usize) -> IpAddr {
    // i < MAX_SERVERS, checked by the caller.
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11 + i as u8))
}

fn client(i: usize) -> Flow {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    Flow::from_client(IpAddr::V4(Ipv4Addr::from(base + i as u32)), 0)
}

/// Models `clients` clients over `from` real servers, then over `to`: the
/// servers `from+1..=to` added (`ipvsadm -a`), or the last `from-to` added
/// removed (`ipvsadm -d`), and counts whose real server changed.
pub fn movement<S: Scheduler>(
    sched: S,
    clients: usize,
    from: usize,
    to: usize,
) -> Result<Movement, MovementError> {
    if clients == 0 || clients > MAX_CLIENTS {
        return Err(MovementError::InvalidArgument {
            field: "clients",
            reason: format!("{clients}: must be 1..={MAX_CLIENTS}"),
        });
    }
    for (field, n) in [("from", from), ("to", to)] {
        if n == 0 || n > MAX_SERVERS {
            return Err(MovementError::InvalidArgument {
                field,
                reason: format!("{n}: must be 1..={MAX_SERVERS} real servers"),
            });
        }
    }
    let scheduler = sched.name();
    let mut svc = Service::new(sched);
    let mut ids: Vec<DestId> = Vec::new();
    for i in 0..from {
        ids.push(
            svc.add(DestConfig::new(server(i), 80, 1))
                .map_err(MovementError::Sched)?,
        );
    }
    let before: Vec<Option<DestId>> = (0..clients).map(|c| svc.pick_for(&client(c))).collect();
    let mut changed: Vec<DestId> = Vec::new();
    for i in from..to {
        let id = svc
            .add(DestConfig::new(server(i), 80, 1))
            .map_err(MovementError::Sched)?;
        changed.push(id);
    }
    for _ in to..from {
        if let Some(id) = ids.pop() {
            svc.remove(id).map_err(MovementError::Sched)?;
            changed.push(id);
        }
    }
    let mut moved = 0;
    let mut needless = 0;
    for (c, old) in before.into_iter().enumerate() {
        let new = svc.pick_for(&client(c));
        if new != old {
            moved += 1;
            let forced = [old, new]
                .iter()
                .any(|d| d.is_some_and(|d| changed.contains(&d)));
            if !forced {
                needless += 1;
            }
        }
    }
    Ok(Movement {
        scheduler,
        clients,
        from,
        to,
        moved,
        needless,
    })
}

/// The README's table: `mh` and `sh`, 10 000 clients, a sixth server added
/// to five, and the fifth of five removed.
pub fn readme_table() -> Result<Vec<Movement>, MovementError> {
    let mut rows = Vec::new();
    for (from, to) in [(5, 6), (5, 4)] {
        rows.push(movement(lb_sched::Mh::new(0), 10_000, from, to)?);
        rows.push(movement(lb_sched::Sh::new(0), 10_000, from, to)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_changes_nothing_moves() {
        let m = movement(lb_sched::Mh::new(0), 1000, 5, 5).unwrap();
        assert_eq!((m.moved, m.needless, m.ideal()), (0, 0, 0.0));
    }

    #[test]
    fn bad_counts_are_refused_with_their_limit() {
        let e = movement(lb_sched::Mh::new(0), 0, 5, 6).unwrap_err();
        assert!(e.to_string().contains("clients"), "{e}");
        let e = movement(lb_sched::Sh::new(0), 10, 5, MAX_SERVERS + 1).unwrap_err();
        assert!(
            matches!(e, MovementError::InvalidArgument { field: "to", .. }),
            "{e}"
        );
    }

    #[test]
    fn mh_moves_about_the_unavoidable_share_and_sh_far_more() {
        let rows = readme_table().unwrap();
        for m in &rows {
            match m.scheduler {
                // Maglev: within a few points of the ideal.
                "mh" => {
                    assert!(m.fraction() < m.ideal() + 0.05, "{m:?}");
                    assert!(m.fraction() >= m.ideal() - 0.02, "{m:?}");
                }
                // Source hashing: most clients move.
                "sh" => assert!(m.fraction() > 0.5, "{m:?}"),
                other => panic!("{other}"),
            }
        }
    }
}
