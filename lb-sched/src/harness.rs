// SPDX-License-Identifier: MIT OR Apache-2.0
//! The differential driver shared by the proptests and the fuzz target: it applies
//! one sequence of operations to a fast [`Service`] and to the [`reference`]
//! model and reports the first disagreement.
//!
//! [`reference`]: mod@crate::reference

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::reference::{Model, RefDest};
use crate::{
    AnyScheduler, ConnState, Dest, DestConfig, DestId, Error, Flow, Scheduler, Service, Update,
};

/// One operation on a service. Destinations are named by a small index mapped to
/// an address (`198.51.100.<i>`, port 80 + i % 3), so sequences hit the same dests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ipvsadm -a` with weight and thresholds.
    Add {
        /// Destination index.
        dest: u8,
        /// Weight.
        weight: u32,
        /// Upper threshold.
        upper: u32,
        /// Lower threshold.
        lower: u32,
    },
    /// `ipvsadm -d`.
    Remove(u8),
    /// `ipvsadm -e`.
    Edit {
        /// Destination index.
        dest: u8,
        /// Weight.
        weight: u32,
        /// Upper threshold.
        upper: u32,
        /// Lower threshold.
        lower: u32,
    },
    /// A new connection bound to a dest.
    Connect(u8, ConnState),
    /// inactive → active.
    Establish(u8),
    /// active → inactive.
    Closing(u8),
    /// A connection expires.
    Close(u8, ConnState),
    /// Schedule a connection from client `198.51.100.x` / `2001:db8::x`, port,
    /// to `192.0.2.dst`.
    Pick {
        /// Client index.
        client: u16,
        /// Destination address index (the address dh, lblc and lblcr read).
        dst: u8,
        /// Client port.
        port: u16,
        /// IPv6 client.
        v6: bool,
        /// Bind a connection to the chosen dest (as the kernel does).
        bind: bool,
    },
    /// Time passes, in milliseconds (lblc and lblcr read it).
    Advance(u32),
}

/// The address of destination index `i`.
pub fn dest_addr(i: u8) -> (IpAddr, u16) {
    (
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, i)),
        80 + (i % 3) as u16,
    )
}

fn flow(client: u16, dst: u8, port: u16, v6: bool) -> Flow {
    let src = if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, client, 1))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 51, (client >> 8) as u8, client as u8))
    };
    Flow {
        src,
        src_port: port,
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, dst)),
        dst_port: 80,
    }
}

/// Applies `ops` to scheduler `name` (with service `flags`) and to the model;
/// `Err` describes the first operation where they disagree (result or state).
pub fn run(name: &str, flags: u32, ops: &[Op]) -> Result<(), String> {
    let fast = AnyScheduler::from_name(name, flags).map_err(|e| e.to_string())?;
    let model = Model::new(name, flags).map_err(|e| e.to_string())?;
    run_with(fast, model, ops)
}

/// As [`run`], for a scheduler and a model built by the caller (the same
/// configuration, e.g. [`crate::Mh::with_tab_index`] and
/// [`Model::mh_with_tab_index`]).
pub fn run_with(sched: AnyScheduler, model: Model, ops: &[Op]) -> Result<(), String> {
    run_mode(sched, model, ops, false)
}

/// As [`run_with`], each run of consecutive adds, removes and edits applied
/// in one [`Service::update`] (the model applies them one by one, as the
/// kernel does), and the states compared after the run.
pub fn run_batched(sched: AnyScheduler, model: Model, ops: &[Op]) -> Result<(), String> {
    run_mode(sched, model, ops, true)
}

/// Where the harness sends a change: the service, or a burst of [`Service::update`].
trait Changes {
    fn add(&mut self, cfg: DestConfig) -> Result<DestId, Error>;
    fn remove(&mut self, id: DestId) -> Result<Dest, Error>;
    fn edit(&mut self, id: DestId, weight: u32, upper: u32, lower: u32) -> Result<(), Error>;
    fn find(&self, addr: IpAddr, port: u16) -> Option<DestId>;
}

impl<S: Scheduler> Changes for Service<S> {
    fn add(&mut self, cfg: DestConfig) -> Result<DestId, Error> {
        Service::add(self, cfg)
    }
    fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        Service::remove(self, id)
    }
    fn edit(&mut self, id: DestId, weight: u32, upper: u32, lower: u32) -> Result<(), Error> {
        Service::edit(self, id, weight, upper, lower)
    }
    fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        Service::find(self, addr, port)
    }
}

impl<S: Scheduler> Changes for Update<'_, S> {
    fn add(&mut self, cfg: DestConfig) -> Result<DestId, Error> {
        Update::add(self, cfg)
    }
    fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        Update::remove(self, id)
    }
    fn edit(&mut self, id: DestId, weight: u32, upper: u32, lower: u32) -> Result<(), Error> {
        Update::edit(self, id, weight, upper, lower)
    }
    fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        Update::find(self, addr, port)
    }
}

fn is_change(op: &Op) -> bool {
    matches!(op, Op::Add { .. } | Op::Remove(_) | Op::Edit { .. })
}

/// Applies one add, remove or edit to both; `Err` if their results differ.
fn change(fast: &mut impl Changes, model: &mut Model, op: Op) -> Result<(), String> {
    let (r1, r2) = match op {
        Op::Add {
            dest,
            weight,
            upper,
            lower,
        } => {
            let (a, p) = dest_addr(dest);
            let cfg = DestConfig::new(a, p, weight).thresholds(upper, lower);
            (fast.add(cfg).map(|_| ()), model.add(cfg))
        }
        Op::Remove(dest) => {
            let (a, p) = dest_addr(dest);
            let r1 = match fast.find(a, p) {
                Some(id) => fast.remove(id).map(|_| ()),
                None => Err(Error::UnknownDest),
            };
            (r1, model.remove((a, p)))
        }
        Op::Edit {
            dest,
            weight,
            upper,
            lower,
        } => {
            let (a, p) = dest_addr(dest);
            let r1 = match fast.find(a, p) {
                Some(id) => fast.edit(id, weight, upper, lower),
                None => Err(Error::UnknownDest),
            };
            (r1, model.edit((a, p), weight, upper, lower))
        }
        _ => return Ok(()),
    };
    if r1 != r2 {
        return Err(format!("fast {r1:?} model {r2:?}"));
    }
    Ok(())
}

fn run_mode(
    sched: AnyScheduler,
    mut model: Model,
    ops: &[Op],
    batched: bool,
) -> Result<(), String> {
    let name = sched.name();
    let mut fast = Service::new(sched);
    let mut step = 0;
    while step < ops.len() {
        let (at, op) = (step, &ops[step]);
        let fail = |what: String| Err(format!("{name} step {at} {op:?}: {what}"));
        if batched && is_change(op) {
            let burst = ops[step..].iter().take_while(|o| is_change(o)).count();
            let r = fast.update(|u| {
                ops[step..step + burst]
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, &op)| {
                        change(u, &mut model, op).map_err(|e| {
                            format!("{name} step {} {op:?} (in a burst): {e}", step + i)
                        })
                    })
            });
            r?;
            step += burst;
            compare_states(&fast, &model).or_else(&fail)?;
            continue;
        }
        step += 1;
        match *op {
            Op::Add { .. } | Op::Remove(_) | Op::Edit { .. } => {
                change(&mut fast, &mut model, *op).or_else(&fail)?;
            }
            Op::Connect(dest, st) | Op::Close(dest, st) => {
                let (a, p) = dest_addr(dest);
                let connect = matches!(op, Op::Connect(..));
                let r1 = match fast.find(a, p).or(fast.find_removed(a, p)) {
                    Some(id) if connect => fast.conn_new(id, st),
                    Some(id) => fast.conn_closed(id, st),
                    None => Err(Error::UnknownDest),
                };
                let r2 = if connect {
                    model.conn_new((a, p), st)
                } else {
                    model.conn_closed((a, p), st)
                };
                if r1 != r2 {
                    return fail(format!("fast {r1:?} model {r2:?}"));
                }
            }
            Op::Establish(dest) | Op::Closing(dest) => {
                let (a, p) = dest_addr(dest);
                let to = if matches!(op, Op::Establish(_)) {
                    ConnState::Active
                } else {
                    ConnState::Inactive
                };
                let r1 = match fast.find(a, p).or(fast.find_removed(a, p)) {
                    Some(id) if to == ConnState::Active => fast.conn_established(id),
                    Some(id) => fast.conn_closing(id),
                    None => Err(Error::UnknownDest),
                };
                let r2 = model.conn_move((a, p), to);
                if r1 != r2 {
                    return fail(format!("fast {r1:?} model {r2:?}"));
                }
            }
            Op::Advance(dt) => {
                if let Some(clock) = fast.scheduler().clock() {
                    clock.advance(dt.into());
                }
                model.advance(dt.into());
            }
            Op::Pick {
                client,
                dst,
                port,
                v6,
                bind,
            } => {
                let f = flow(client, dst, port, v6);
                let got = fast.pick_for(&f);
                let got_key = got
                    .and_then(|id| fast.dest(id))
                    .map(|d| (d.addr(), d.port()));
                let want = model.pick(&f);
                if got_key != want {
                    return fail(format!("fast picked {got_key:?}, kernel model {want:?}"));
                }
                // lblc's cache hit alone skips the OVERLOAD test (ipvs-reference §5.1).
                if let Some(d) = got.and_then(|id| fast.dest(id))
                    && (d.weight() == 0 || (d.overloaded() && name != "lblc"))
                {
                    return fail(format!("picked a weight-0 or overloaded dest {d:?}"));
                }
                // The lblc/lblcr caches, collected alike.
                let (c1, c2) = (fast.scheduler().cache_len(), model.cache_len());
                if c1 != c2 {
                    return fail(format!("cache sizes differ: fast {c1:?} model {c2:?}"));
                }
                if bind && let (Some(id), Some(k)) = (got, want) {
                    let r1 = fast.conn_new(id, ConnState::Inactive);
                    let r2 = model.conn_new(k, ConnState::Inactive);
                    if r1 != r2 {
                        return fail(format!("bind: fast {r1:?} model {r2:?}"));
                    }
                }
            }
        }
        compare_states(&fast, &model).or_else(&fail)?;
    }
    Ok(())
}

/// The counters and flags in list order, and the removed dests kept for
/// their connections (in no order), must agree.
fn compare_states(fast: &Service<AnyScheduler>, model: &Model) -> Result<(), String> {
    let fast_row =
        |(_, d): (DestId, Dest)| (d.addr(), d.port(), d.active(), d.inactive(), d.overloaded());
    let model_row = |d: &RefDest| {
        let (active, inactive) = (d.active as u32, d.inactive as u32);
        (d.key.0, d.key.1, active, inactive, d.overloaded)
    };
    let a: Vec<_> = fast.dests().iter().map(fast_row).collect();
    let b: Vec<_> = model.list.iter().map(model_row).collect();
    if a != b {
        return Err(format!("state differs:\nfast  {a:?}\nmodel {b:?}"));
    }
    let mut a: Vec<_> = fast.dests().removed().map(fast_row).collect();
    let mut b: Vec<_> = model.trash.iter().map(model_row).collect();
    a.sort();
    b.sort();
    if a != b {
        return Err(format!("trash differs:\nfast  {a:?}\nmodel {b:?}"));
    }
    Ok(())
}
