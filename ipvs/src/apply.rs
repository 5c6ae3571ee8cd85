// SPDX-License-Identifier: MIT OR Apache-2.0
//! Desired-state apply: compare the full desired table with the kernel's,
//! plan the fewest writes that turn one into the other ([`Plan`], printable
//! as an `ipvsadm -R` script), send them as one batch, and roll everything
//! back if the kernel rejects any of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;

use crate::batch::{Batch, BatchOutcome};
use crate::destination::Destination;
use crate::engine::Transport;
use crate::error::{Error, Result, Rollback};
use crate::handle::Ipvs;
use crate::key::ServiceKey;
use crate::service::{PersistenceNetmask, Service};
use crate::snapshot::{ServiceState, Snapshot};

/// How [`Ipvs::plan`] and [`Ipvs::apply`] treat what is to be removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Graceful drain: a destination to be removed that still has
    /// connections (active + inactive > 0) gets weight 0 instead, so it
    /// takes no new connections, and is deleted by a later apply once it
    /// has none. A service to be removed whose destinations still have
    /// connections is kept (its busy destinations drained, the idle ones
    /// deleted) until they are all gone.
    pub drain: bool,
}

impl ApplyOptions {
    /// Options with graceful drain on or off.
    pub fn with_drain(mut self, drain: bool) -> Self {
        self.drain = drain;
        self
    }
}

/// One write of a [`Plan`]. Each carries what it replaces, so that it can
/// be undone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `ipvsadm -A`.
    AddService(Service),
    /// `ipvsadm -E`: scheduler, persistence, engine or flags change.
    UpdateService {
        /// The service as it is.
        from: Service,
        /// The service as it is to be.
        to: Service,
    },
    /// `ipvsadm -D`; the service's destinations go with it.
    DeleteService(ServiceState),
    /// `ipvsadm -a`.
    AddDestination {
        /// The service.
        service: ServiceKey,
        /// The new destination.
        destination: Destination,
    },
    /// `ipvsadm -e`: forwarding, weight or threshold change (weight 0 to
    /// drain).
    UpdateDestination {
        /// The service.
        service: ServiceKey,
        /// The destination as it is.
        from: Destination,
        /// The destination as it is to be.
        to: Destination,
    },
    /// `ipvsadm -d`.
    DeleteDestination {
        /// The service.
        service: ServiceKey,
        /// The destination as it was.
        destination: Destination,
    },
}

impl Step {
    /// Adds this step's request to `batch`.
    fn add_to(&self, batch: &mut Batch) -> Result<()> {
        match self {
            Step::AddService(service) => batch.add_service(service),
            Step::UpdateService { to, .. } => batch.update_service(to),
            Step::DeleteService(state) => batch.delete_service(&state.service.key),
            Step::AddDestination {
                service,
                destination,
            } => batch.add_destination(service, destination),
            Step::UpdateDestination { service, to, .. } => batch.update_destination(service, to),
            Step::DeleteDestination {
                service,
                destination,
            } => batch.delete_destination(service, destination.addr),
        }
    }

    /// The steps that undo this one, in order.
    fn inverse(&self) -> Vec<Step> {
        match self {
            Step::AddService(service) => {
                vec![Step::DeleteService(ServiceState::new(service.clone()))]
            }
            Step::UpdateService { from, to } => vec![Step::UpdateService {
                from: to.clone(),
                to: from.clone(),
            }],
            Step::DeleteService(state) => {
                let mut steps = vec![Step::AddService(state.service.clone())];
                // Re-added oldest first, so the kernel's list order (newest
                // first) comes back as it was.
                steps.extend(
                    state
                        .destinations
                        .iter()
                        .rev()
                        .map(|d| Step::AddDestination {
                            service: state.service.key,
                            destination: d.clone(),
                        }),
                );
                steps
            }
            Step::AddDestination {
                service,
                destination,
            } => vec![Step::DeleteDestination {
                service: *service,
                destination: destination.clone(),
            }],
            Step::UpdateDestination { service, from, to } => vec![Step::UpdateDestination {
                service: *service,
                from: to.clone(),
                to: from.clone(),
            }],
            Step::DeleteDestination {
                service,
                destination,
            } => vec![Step::AddDestination {
                service: *service,
                destination: destination.clone(),
            }],
        }
    }
}

impl fmt::Display for Step {
    /// The step as an `ipvsadm` command line without the program name, as
    /// `ipvsadm -R` reads it: `-A -t 203.0.113.1:80 -s rr`,
    /// `-e -t 203.0.113.1:80 -r 198.51.100.10:80 -m -w 0`, `-D -t ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thresholds = |d: &Destination| {
            if d.upper_threshold == 0 && d.lower_threshold == 0 {
                String::new()
            } else {
                format!(" -x {} -y {}", d.upper_threshold, d.lower_threshold)
            }
        };
        match self {
            Step::AddService(service) => write!(f, "{service}"),
            Step::UpdateService { to, .. } => {
                let line = to.to_string();
                write!(f, "-E {}", line.strip_prefix("-A ").unwrap_or(&line))
            }
            Step::DeleteService(state) => write!(f, "-D {}", state.service.key.ipvsadm_args()),
            Step::AddDestination {
                service,
                destination,
            } => write!(
                f,
                "-a {} {destination}{}",
                service.ipvsadm_args(),
                thresholds(destination)
            ),
            Step::UpdateDestination { service, to, .. } => {
                write!(f, "-e {} {to}{}", service.ipvsadm_args(), thresholds(to))
            }
            Step::DeleteDestination {
                service,
                destination,
            } => write!(f, "-d {} -r {}", service.ipvsadm_args(), destination.addr),
        }
    }
}

/// The writes that turn the kernel's table into a desired one, in the
/// order they are sent: destination deletes, service deletes, service
/// updates, service adds, destination updates, destination adds (so a
/// service exists before its destinations and loses them before it goes).
///
/// `Display` prints it as a dry run, one `ipvsadm` command per line (a
/// script `ipvsadm -R` accepts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<Step>,
    draining: Vec<(ServiceKey, SocketAddr)>,
}

impl Plan {
    /// Plans the writes that turn `current` into `desired` (the complete
    /// table: services absent from it are removed).
    ///
    /// Comparisons ignore counters, connection counts and what the kernel
    /// adds on its own (the hashed flag, the host netmask of a service
    /// without persistence netmask): a table read back from the kernel
    /// plans no writes against the same desired state.
    ///
    /// Fails with [`Error::InvalidArgument`] when `desired` holds an
    /// invalid service or destination, the same service twice, or the
    /// same destination twice in a service.
    pub fn new(
        current: &Snapshot,
        desired: &[ServiceState],
        options: &ApplyOptions,
    ) -> Result<Plan> {
        validate_desired(desired)?;
        let current_by_key: HashMap<ServiceKey, &ServiceState> = current
            .services
            .iter()
            .map(|s| (s.service.key, s))
            .collect();
        let desired_keys: HashSet<ServiceKey> = desired.iter().map(|s| s.service.key).collect();
        let busy = |d: &Destination| {
            options.drain && u64::from(d.active_connections) + u64::from(d.inactive_connections) > 0
        };

        let mut plan = Plan::default();
        let mut dest_deletes = Vec::new();
        let mut service_deletes = Vec::new();
        let mut service_updates = Vec::new();
        let mut service_adds = Vec::new();
        let mut dest_updates = Vec::new();
        let mut dest_adds = Vec::new();
        // Removes `dest` of `service`, or drains it if it is busy.
        let mut remove = |plan: &mut Plan,
                          dest_updates: &mut Vec<Step>,
                          service: ServiceKey,
                          dest: &Destination| {
            if busy(dest) {
                if dest.weight != 0 {
                    dest_updates.push(Step::UpdateDestination {
                        service,
                        from: dest.clone(),
                        to: dest.clone().with_weight(0),
                    });
                }
                plan.draining.push((service, dest.addr));
            } else {
                dest_deletes.push(Step::DeleteDestination {
                    service,
                    destination: dest.clone(),
                });
            }
        };

        for state in &current.services {
            let key = state.service.key;
            if desired_keys.contains(&key) {
                continue;
            }
            if state.destinations.iter().any(busy) {
                // Kept until its busy destinations have drained.
                for dest in &state.destinations {
                    remove(&mut plan, &mut dest_updates, key, dest);
                }
            } else {
                service_deletes.push(Step::DeleteService(state.clone()));
            }
        }
        for want in desired {
            let key = want.service.key;
            let Some(have) = current_by_key.get(&key) else {
                service_adds.push(Step::AddService(want.service.clone()));
                dest_adds.extend(want.destinations.iter().map(|d| Step::AddDestination {
                    service: key,
                    destination: d.clone(),
                }));
                continue;
            };
            if !same_service_settings(&have.service, &want.service) {
                service_updates.push(Step::UpdateService {
                    from: have.service.clone(),
                    to: want.service.clone(),
                });
            }
            let wanted: HashMap<SocketAddr, &Destination> =
                want.destinations.iter().map(|d| (d.addr, d)).collect();
            for dest in &have.destinations {
                if !wanted.contains_key(&dest.addr) {
                    remove(&mut plan, &mut dest_updates, key, dest);
                }
            }
            let existing: HashMap<SocketAddr, &Destination> =
                have.destinations.iter().map(|d| (d.addr, d)).collect();
            for dest in &want.destinations {
                match existing.get(&dest.addr) {
                    None => dest_adds.push(Step::AddDestination {
                        service: key,
                        destination: dest.clone(),
                    }),
                    Some(old) if !same_destination_settings(old, dest) => {
                        dest_updates.push(Step::UpdateDestination {
                            service: key,
                            from: (*old).clone(),
                            to: dest.clone(),
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        plan.steps = [
            dest_deletes,
            service_deletes,
            service_updates,
            service_adds,
            dest_updates,
            dest_adds,
        ]
        .concat();
        Ok(plan)
    }

    /// A plan of exactly `steps`, sent in this order, for a caller that
    /// decides the writes itself (an `ipvsadm -R` script: one step per
    /// line) and wants [`Ipvs::apply_plan`]'s all-or-nothing apply and
    /// rollback. Each step carries what it replaces, which is what undoes
    /// it; nothing is compared with the kernel's table, and each step is
    /// validated when the plan is applied.
    pub fn from_steps(steps: Vec<Step>) -> Plan {
        Plan {
            steps,
            draining: Vec::new(),
        }
    }

    /// The steps, in the order they are sent.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// True when the kernel already has the desired state: applying sends
    /// nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Destinations kept at weight 0 until their connections end (with
    /// [`ApplyOptions::drain`]), whether this plan sets the weight or it
    /// was 0 already. A later apply deletes each once it is idle.
    pub fn draining(&self) -> &[(ServiceKey, SocketAddr)] {
        &self.draining
    }

    fn batch(steps: &[Step]) -> Result<Batch> {
        let mut batch = Batch::new();
        for step in steps {
            step.add_to(&mut batch)?;
        }
        Ok(batch)
    }
}

impl fmt::Display for Plan {
    /// One `ipvsadm` command per line (see [`Step`]'s `Display`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyReport {
    /// Writes sent (all acknowledged); 0 when the state was already there.
    pub applied: usize,
    /// Destinations left at weight 0 until their connections end (see
    /// [`Plan::draining`]).
    pub draining: Vec<(ServiceKey, SocketAddr)>,
}

/// Scheduler, persistence, engine and flags equal, after normalising what
/// the kernel reports on its own.
fn same_service_settings(have: &Service, want: &Service) -> bool {
    let family = want.key.family();
    let netmask = |s: &Service| {
        s.persistence.map(|p| {
            (
                p.timeout,
                p.netmask
                    .unwrap_or_else(|| PersistenceNetmask::host(family)),
            )
        })
    };
    let engine = |s: &Service| s.persistence_engine.clone().filter(|pe| !pe.is_empty());
    have.scheduler.name() == want.scheduler.name()
        && netmask(have) == netmask(want)
        && engine(have) == engine(want)
        && have.one_packet == want.one_packet
        && have.scheduler_flags == want.scheduler_flags
        && have.unknown_flags == want.unknown_flags
}

/// Forwarding (with its tunnel), weight and thresholds equal.
fn same_destination_settings(have: &Destination, want: &Destination) -> bool {
    have.forwarding == want.forwarding
        && have.weight == want.weight
        && have.upper_threshold == want.upper_threshold
        && have.lower_threshold == want.lower_threshold
}

fn validate_desired(desired: &[ServiceState]) -> Result<()> {
    let mut keys = HashSet::new();
    for state in desired {
        let key = state.service.key;
        state.service.validate()?;
        if !keys.insert(key) {
            return Err(Error::invalid(
                "desired services",
                format!("service {key} appears twice"),
            ));
        }
        let mut addrs = HashSet::new();
        for dest in &state.destinations {
            dest.validate_for(&key)?;
            if !addrs.insert(dest.addr) {
                return Err(Error::invalid(
                    "desired destinations",
                    format!("destination {} appears twice in service {key}", dest.addr),
                ));
            }
        }
    }
    Ok(())
}

/// What is known of a step after its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Acknowledged.
    Applied,
    /// Rejected by the kernel.
    Rejected,
    /// Unknown (its ACK was lost, or the transport failed).
    Unknown,
}

fn fates(outcome: &BatchOutcome) -> Vec<Fate> {
    outcome
        .results
        .iter()
        .map(|r| match r {
            Ok(()) => Fate::Applied,
            Err(Error::Overrun { .. } | Error::Timeout { .. }) => Fate::Unknown,
            Err(_) => Fate::Rejected,
        })
        .collect()
}

impl<T: Transport> Ipvs<T> {
    /// Plans the writes that turn this namespace's table into `desired`
    /// (the complete table), from a fresh [`Ipvs::snapshot`]. Print the
    /// plan for a dry run; [`Ipvs::apply_plan`] applies it.
    pub fn plan(&self, desired: &[ServiceState], options: &ApplyOptions) -> Result<Plan> {
        Plan::new(&self.snapshot()?, desired, options)
    }

    /// Makes the table `desired`: [`Ipvs::plan`], then
    /// [`Ipvs::apply_plan`]. Applying the same state again sends no
    /// writes. Equivalent to `ipvsadm -R` of the plan's lines, all or
    /// nothing.
    ///
    /// ```no_run
    /// use ipvs::{ApplyOptions, Destination, Forwarding, Ipvs, Scheduler, Service, ServiceState};
    ///
    /// let ipvs = Ipvs::new()?;
    /// let desired = vec![
    ///     ServiceState::new(Service::new("tcp:203.0.113.1:80".parse()?, Scheduler::RoundRobin))
    ///         .with_destination(Destination::new("198.51.100.10:80".parse()?, Forwarding::Masquerade))
    ///         .with_destination(Destination::new("198.51.100.11:80".parse()?, Forwarding::Masquerade)),
    /// ];
    /// let options = ApplyOptions::default().with_drain(true);
    /// print!("{}", ipvs.plan(&desired, &options)?); // dry run: "-A -t 203.0.113.1:80 -s rr" ...
    /// let report = ipvs.apply(&desired, &options)?; // all or nothing
    /// assert_eq!(ipvs.apply(&desired, &options)?.applied, 0); // idempotent
    /// # let _ = report;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&self, desired: &[ServiceState], options: &ApplyOptions) -> Result<ApplyReport> {
        let plan = self.plan(desired, options)?;
        self.apply_plan(&plan)
    }

    /// Sends every step of `plan` as one batch. An empty plan sends
    /// nothing.
    ///
    /// If the kernel rejects any step, every step already applied
    /// (including steps after the failed one, which the kernel processes
    /// anyway) is undone with the inverse steps, themselves one batch, and
    /// the result is [`Error::ApplyFailed`]: it names the first rejected
    /// step (index in the plan and its ipvsadm line), the kernel's reason,
    /// and whether the rollback restored the table. Counters of deleted
    /// and re-created entries are not restored.
    pub fn apply_plan(&self, plan: &Plan) -> Result<ApplyReport> {
        let report = ApplyReport {
            applied: plan.len(),
            draining: plan.draining.clone(),
        };
        if plan.is_empty() {
            return Ok(report);
        }
        let batch = Plan::batch(&plan.steps)?;
        let (fates, failure) = match self.execute_batch(&batch) {
            Ok(outcome) => {
                let fates = fates(&outcome);
                // The first rejected step, taken by value for the error.
                let first_error = outcome
                    .results
                    .into_iter()
                    .enumerate()
                    .find_map(|(index, result)| result.err().map(|cause| (index, cause)));
                let Some(failure) = first_error else {
                    return Ok(report);
                };
                (fates, failure)
            }
            // Nothing is known of any step.
            Err(cause) => (vec![Fate::Unknown; plan.len()], (0, cause)),
        };
        let rollback = self.roll_back(&plan.steps, &fates);
        let (step, cause) = failure;
        Err(Error::ApplyFailed {
            step,
            command: plan.steps[step].to_string(),
            cause: Box::new(cause),
            rollback,
        })
    }

    /// Undoes the steps that were (or may have been) applied, newest first.
    fn roll_back(&self, steps: &[Step], fates: &[Fate]) -> Rollback {
        let mut inverse = Vec::new();
        // Whether each inverse step undoes a step of unknown fate: then
        // "not found" / "already exists" just means it was never applied.
        let mut uncertain = Vec::new();
        for (step, fate) in steps.iter().zip(fates).rev() {
            if *fate == Fate::Rejected {
                continue;
            }
            for undo in step.inverse() {
                inverse.push(undo);
                uncertain.push(*fate == Fate::Unknown);
            }
        }
        if inverse.is_empty() {
            return Rollback::Complete { undone: 0 };
        }
        let outcome = match Plan::batch(&inverse).and_then(|batch| self.execute_batch(&batch)) {
            Ok(outcome) => outcome,
            Err(cause) => {
                return Rollback::Failed {
                    step: None,
                    cause: Box::new(cause),
                };
            }
        };
        let mut undone = 0;
        for ((result, undo), uncertain) in outcome.results.into_iter().zip(&inverse).zip(uncertain)
        {
            match result {
                Ok(()) => undone += 1,
                Err(e) if uncertain && (e.is_not_found() || e.is_already_exists()) => {}
                Err(cause) => {
                    return Rollback::Failed {
                        step: Some(undo.to_string()),
                        cause: Box::new(cause),
                    };
                }
            }
        }
        Rollback::Complete { undone }
    }
}
