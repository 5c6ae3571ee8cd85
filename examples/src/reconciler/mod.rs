// SPDX-License-Identifier: MIT OR Apache-2.0
//! The controller behind `ipvs-reconciler`: keeps the services a
//! desired-state file names in the kernel's IPVS table, and touches no
//! other service.
//!
//! It owns the services it made, not the services the file names: a file
//! naming a service that someone else made must not take it over. The
//! owned keys live in a state file, so that a restart still knows them and
//! deletes a service removed from the file while it was down.
//!
//! A reconcile:
//! 1. reads the table ([`AsyncIpvs::snapshot`]);
//! 2. plans the writes that make the owned services the file's
//!    ([`Plan::new`] with [`Scope::Owned`] and drain): a service the file
//!    names that the table has and this reconciler does not own is
//!    another's, and the plan fails with [`Error::ForeignService`];
//! 3. adds what the writes may create to the state file before writing (a
//!    crash in between leaves those services owned, not foreign);
//! 4. applies the plan, all or nothing ([`AsyncIpvs::apply_plan`]);
//! 5. saves what it owns now: the file's services, and those it keeps at
//!    weight 0 until their last connections end.
//!
//! [`Reconciler::run`] reconciles when the file's contents change and at an
//! interval (which finishes drains and repairs changes made by hand), and
//! reports each thing it did as an [`Event`].
//!
//! [`Error::ForeignService`]: ipvs::Error::ForeignService

mod files;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipvs::{ApplyOptions, AsyncIpvs, Error, Plan, Scope, ServiceKey, ServiceState, Step};
use tokio::time::{Instant, MissedTickBehavior, interval, interval_at};

pub use files::{DesiredError, load_owned, parse_desired, save_owned};

/// One thing the reconciler did or met; `Display` is the line
/// `ipvs-reconciler` prints for it.
#[derive(Debug)]
pub enum Event {
    /// The desired-state file changed and was taken.
    Loaded {
        /// The file.
        path: PathBuf,
        /// How many services it names.
        services: usize,
    },
    /// The desired-state file changed and was not taken: the last good
    /// state stays, and the kernel is not touched.
    Rejected {
        /// The file.
        path: PathBuf,
        /// Why.
        error: DesiredError,
    },
    /// A write, acknowledged by the kernel.
    Applied(Box<Step>),
    /// A destination no longer desired, kept at weight 0 while it has
    /// connections.
    Draining {
        /// Its service.
        service: ServiceKey,
        /// The destination.
        destination: SocketAddr,
        /// Its active connections when the table was read.
        active: u32,
        /// Its inactive connections (`InActConn`) then.
        inactive: u32,
    },
    /// The owned services were already as desired.
    NoChange,
    /// The reconcile failed; the error says what the table was left as
    /// (an apply is all or nothing, see [`Error::ApplyFailed`]).
    Failed(Error),
    /// The state file could not be written (no write to the table follows
    /// a failed save).
    StateNotSaved {
        /// The state file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Loaded { path, services } => {
                let s = if *services == 1 { "" } else { "s" };
                write!(f, "loaded {}: {services} service{s}", path.display())
            }
            Event::Rejected { path, error } => write!(
                f,
                "rejected {}: {error}; keeping the last good state",
                path.display()
            ),
            Event::Applied(step) => write!(f, "ipvsadm {step}"),
            Event::Draining {
                service,
                destination,
                active,
                inactive,
            } => write!(
                f,
                "draining {} -r {destination}: {active} active, {inactive} inactive connections",
                service.ipvsadm_args()
            ),
            Event::NoChange => f.write_str("no change"),
            Event::Failed(error) => write!(f, "error: {error}"),
            Event::StateNotSaved { path, error } => write!(
                f,
                "error: cannot save the owned services to {}: {error}; not applying",
                path.display()
            ),
        }
    }
}

/// What the desired-state file held when last read.
enum Seen {
    Contents(Vec<u8>),
    Unreadable(io::ErrorKind),
}

impl Seen {
    /// Whether a read of the file found the same again.
    fn is(&self, read: &io::Result<Vec<u8>>) -> bool {
        match (self, read) {
            (Seen::Contents(seen), Ok(bytes)) => seen == bytes,
            (Seen::Unreadable(kind), Err(e)) => *kind == e.kind(),
            _ => false,
        }
    }
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Contents(bytes) => write!(f, "Contents({} bytes)", bytes.len()),
            Seen::Unreadable(kind) => write!(f, "Unreadable({kind})"),
        }
    }
}

/// Keeps the services of a desired-state file in an IPVS table; see the
/// [module docs](self).
#[derive(Debug)]
pub struct Reconciler {
    ipvs: AsyncIpvs,
    desired_path: PathBuf,
    state_path: PathBuf,
    /// The services this reconciler made and has not deleted yet.
    owned: HashSet<ServiceKey>,
    /// The last good desired state; `None` until the file first parses.
    desired: Option<Vec<ServiceState>>,
    seen: Option<Seen>,
}

impl Reconciler {
    /// A reconciler of the table `ipvs` manages, for the desired-state
    /// file `desired`, owning the services listed in the state file `state`
    /// (none if it does not exist yet). Reads nothing else yet.
    pub async fn new(
        ipvs: AsyncIpvs,
        desired: impl Into<PathBuf>,
        state: impl Into<PathBuf>,
    ) -> io::Result<Self> {
        let state_path = state.into();
        let owned = load_owned(&state_path).await?;
        Ok(Self {
            ipvs,
            desired_path: desired.into(),
            state_path,
            owned,
            desired: None,
            seen: None,
        })
    }

    /// The services this reconciler owns.
    pub fn owned(&self) -> &HashSet<ServiceKey> {
        &self.owned
    }

    /// Reads the desired-state file and, when its contents changed and
    /// parse, reconciles with them. Nothing when they did not change.
    pub async fn poll(&mut self) -> Vec<Event> {
        let read = tokio::fs::read(&self.desired_path).await;
        if self.seen.as_ref().is_some_and(|seen| seen.is(&read)) {
            return Vec::new();
        }
        let (seen, parsed) = match read {
            Ok(bytes) => {
                let parsed = parse_desired(&bytes);
                (Seen::Contents(bytes), parsed)
            }
            Err(e) => (Seen::Unreadable(e.kind()), Err(DesiredError::Read(e))),
        };
        self.seen = Some(seen);
        let path = self.desired_path.clone();
        match parsed {
            Ok(services) => {
                let mut events = vec![Event::Loaded {
                    path,
                    services: services.len(),
                }];
                self.desired = Some(services);
                events.extend(self.reconcile().await);
                events
            }
            Err(error) => vec![Event::Rejected { path, error }],
        }
    }

    /// Makes the owned services the last good desired state (nothing
    /// before the file first parses). See the [module docs](self) for the
    /// steps.
    pub async fn reconcile(&mut self) -> Vec<Event> {
        let Some(desired) = &self.desired else {
            return Vec::new();
        };
        let before = self.owned.clone();
        let options = ApplyOptions::default()
            .with_drain(true)
            .with_scope(Scope::Owned(before.clone()));
        let current = match self.ipvs.snapshot().await {
            Ok(current) => current,
            Err(e) => return vec![Event::Failed(e)],
        };
        let plan = match Plan::new(&current, desired, &options) {
            Ok(plan) => plan,
            Err(e) => return vec![Event::Failed(e)],
        };
        // Owned once the plan is applied: the file's services, and the
        // services it keeps while their destinations drain.
        let after: HashSet<ServiceKey> = desired
            .iter()
            .map(|s| s.service.key)
            .chain(plan.draining().iter().map(|(service, _)| *service))
            .collect();

        let mut events = Vec::new();
        if plan.is_empty() {
            events.push(Event::NoChange);
        } else {
            let intent: HashSet<ServiceKey> = before.union(&after).copied().collect();
            if intent != before
                && let Err(event) = self.save(intent).await
            {
                return vec![event];
            }
            if let Err(e) = self.ipvs.apply_plan(&plan).await {
                // Rolled back: the table is as it was, and so is what is
                // owned. Otherwise the plan's services may be in the table:
                // they stay owned.
                let restored =
                    matches!(&e, Error::ApplyFailed { rollback, .. } if rollback.is_complete());
                events.push(Event::Failed(e));
                if restored {
                    events.extend(self.save(before).await.err());
                }
                return events;
            }
            events.extend(
                plan.steps()
                    .iter()
                    .map(|step| Event::Applied(Box::new(step.clone()))),
            );
        }
        for &(service, destination) in plan.draining() {
            let dest = current
                .service(&service)
                .and_then(|s| s.destinations.iter().find(|d| d.addr == destination));
            events.push(Event::Draining {
                service,
                destination,
                active: dest.map_or(0, |d| d.active_connections),
                inactive: dest.map_or(0, |d| d.inactive_connections),
            });
        }
        if after != self.owned {
            events.extend(self.save(after).await.err());
        }
        events
    }

    /// Writes `owned` to the state file, then takes it as the owned set.
    async fn save(&mut self, owned: HashSet<ServiceKey>) -> Result<(), Event> {
        match save_owned(&self.state_path, &owned).await {
            Ok(()) => {
                self.owned = owned;
                Ok(())
            }
            Err(error) => Err(Event::StateNotSaved {
                path: self.state_path.clone(),
                error,
            }),
        }
    }

    /// Reads the desired-state file every `poll` (reconciling when it
    /// changed) and reconciles every `resync`, handing each event to
    /// `report`, until `shutdown` completes; returns its output. A
    /// reconcile under way finishes first: a table is never left half
    /// written.
    pub async fn run<T>(
        mut self,
        poll: Duration,
        resync: Duration,
        shutdown: impl Future<Output = T>,
        mut report: impl FnMut(&Event),
    ) -> T {
        let mut poll_timer = interval(poll);
        let mut resync_timer = interval_at(Instant::now() + resync, resync);
        poll_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        resync_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let events = tokio::select! {
                done = &mut shutdown => return done,
                _ = poll_timer.tick() => self.poll().await,
                _ = resync_timer.tick() => self.reconcile().await,
            };
            events.iter().for_each(&mut report);
        }
    }
}
