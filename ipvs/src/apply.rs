// SPDX-License-Identifier: MIT OR Apache-2.0
//! Desired-state apply: compare the desired table with the kernel's (all of
//! it, or only the services a caller owns: [`Scope`]), plan the fewest
//! writes that turn one into the other ([`Plan`], printable as an
//! `ipvsadm -R` script), send them as one batch, and roll everything back
//! if the kernel rejects any of them.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState as FastHash;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::batch::{Batch, BatchOutcome};
use crate::destination::Destination;
use crate::error::{Error, Result, Rollback};
use crate::key::ServiceKey;
use crate::service::{PersistenceNetmask, Service};
use crate::session::Session;
use crate::snapshot::{ServiceState, Snapshot};
use crate::transport::Link;

/// How [`Ipvs::plan`](crate::Ipvs::plan) and [`Ipvs::apply`](crate::Ipvs::apply) treat what is to be removed,
/// and which services they may touch.
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
    /// The services the apply owns; every other service is left untouched
    /// (the whole table unless set).
    pub scope: Scope,
}

impl ApplyOptions {
    /// Options with graceful drain on or off.
    pub fn with_drain(mut self, drain: bool) -> Self {
        self.drain = drain;
        self
    }

    /// Options that reconcile only the services in `scope`.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }
}

/// Which services of the table an apply owns, the way keepalived owns only
/// its own virtual servers: an apply plans writes for those alone, and
/// leaves every other service (another controller's, an operator's) as it
/// is. Destinations are read only for the services owned.
///
/// ```
/// use ipvs::{ApplyOptions, Scope, ServiceKey};
///
/// let web: ServiceKey = "tcp:203.0.113.1:80".parse()?;
/// // The services this controller made (kept, say, in its own state file).
/// let options = ApplyOptions::default().with_scope(Scope::owned([web]));
/// // Or: every service on this controller's VIP.
/// let vip = "203.0.113.1".parse::<std::net::IpAddr>()?;
/// let by_vip = Scope::matching(move |key: &ServiceKey| match key {
///     ServiceKey::Addr { addr, .. } => addr.ip() == vip,
///     _ => false,
/// });
/// # let _ = (options, by_vip);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Scope {
    /// The whole table: services absent from the desired state are
    /// removed.
    #[default]
    All,
    /// The services with these keys, which this caller made. A desired
    /// service that is not in the set yet is new: it is added, unless the
    /// kernel already has a service with its key, which then belongs to
    /// someone else ([`Error::ForeignService`]: never a silent takeover).
    Owned(HashSet<ServiceKey>),
    /// The services whose key matches. Every desired service must match
    /// ([`Error::InvalidArgument`] otherwise).
    Matching(Arc<dyn Fn(&ServiceKey) -> bool + Send + Sync>),
}

impl Scope {
    /// [`Scope::Owned`] by these keys.
    pub fn owned(keys: impl IntoIterator<Item = ServiceKey>) -> Self {
        Scope::Owned(keys.into_iter().collect())
    }

    /// [`Scope::Matching`] this predicate.
    pub fn matching(predicate: impl Fn(&ServiceKey) -> bool + Send + Sync + 'static) -> Self {
        Scope::Matching(Arc::new(predicate))
    }

    /// Whether a service of the kernel's table with this key is owned.
    pub fn owns(&self, key: &ServiceKey) -> bool {
        match self {
            Scope::All => true,
            Scope::Owned(keys) => keys.contains(key),
            Scope::Matching(predicate) => predicate(key),
        }
    }

    /// Checks that a desired service may be applied: inside a predicate
    /// scope, and not another owner's service.
    fn admit(&self, key: &ServiceKey, in_kernel: bool) -> Result<()> {
        match self {
            Scope::All => Ok(()),
            Scope::Owned(keys) if in_kernel && !keys.contains(key) => {
                Err(Error::ForeignService { service: *key })
            }
            Scope::Owned(_) => Ok(()),
            Scope::Matching(predicate) if predicate(key) => Ok(()),
            Scope::Matching(_) => Err(Error::invalid(
                "desired services",
                format!("service {key} is outside the apply's scope"),
            )),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("All"),
            Scope::Owned(keys) => f.debug_tuple("Owned").field(keys).finish(),
            Scope::Matching(_) => f.write_str("Matching(..)"),
        }
    }
}

impl PartialEq for Scope {
    /// Key sets compare by content, predicates by identity.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scope::All, Scope::All) => true,
            (Scope::Owned(a), Scope::Owned(b)) => a == b,
            (Scope::Matching(a), Scope::Matching(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Scope {}

/// One write of a [`Plan`]. Each carries what it replaces, so that it can
/// be undone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
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
            } => write!(f, "-a {} {destination}", service.ipvsadm_args()),
            Step::UpdateDestination { service, to, .. } => {
                write!(f, "-e {} {to}", service.ipvsadm_args())
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
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Plan {
    steps: Vec<Step>,
    draining: Vec<(ServiceKey, SocketAddr)>,
}

impl Plan {
    /// Plans the writes that turn `current` into `desired`: the complete
    /// table, or within `options.scope` the services owned (owned services
    /// absent from `desired` are removed; the others are not touched).
    ///
    /// New destinations are added last listed first. The kernel puts each
    /// new destination at the head of its service's list, so a new
    /// service's destinations end in the order `desired` lists them (the
    /// order a [`Snapshot`] reads them in: applying a snapshot reproduces
    /// it), and new destinations of an existing service end before the
    /// ones it kept, in the order listed. The list's order is the order
    /// rr and wrr go round in and the order lc and wlc break ties by.
    ///
    /// Comparisons ignore counters, connection counts and what the kernel
    /// adds on its own (the hashed flag, the host netmask of a service
    /// without persistence netmask): a table read back from the kernel
    /// plans no writes against the same desired state.
    ///
    /// Fails with [`Error::InvalidArgument`] when `desired` holds an
    /// invalid service or destination, the same service twice, the same
    /// destination twice in a service, or a service outside a
    /// [`Scope::Matching`]; with [`Error::ForeignService`] when a desired
    /// service is another owner's.
    pub fn new(
        current: &Snapshot,
        desired: &[ServiceState],
        options: &ApplyOptions,
    ) -> Result<Plan> {
        let desired_keys = validate_desired(desired)?;
        Self::of_valid(current, desired, &desired_keys, options)
    }

    /// [`Plan::new`] of a desired state `validate_desired` has passed, with
    /// the keys it returned.
    fn of_valid(
        current: &Snapshot,
        desired: &[ServiceState],
        desired_keys: &KeySet,
        options: &ApplyOptions,
    ) -> Result<Plan> {
        let scope = &options.scope;
        let current_by_key: HashMap<ServiceKey, &ServiceState, FastHash> = current
            .services
            .iter()
            .map(|s| (s.service.key, s))
            .collect();
        // Once admitted, a desired service the table holds is owned: the
        // lookups by desired key below need no scope filter.
        for want in desired {
            let key = want.service.key;
            scope.admit(&key, current_by_key.contains_key(&key))?;
        }
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
            if desired_keys.contains(&key) || !scope.owns(&key) {
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
        // One pair of indexes for every service, refilled for each.
        let mut wanted = AddrIndex::default();
        let mut existing = AddrIndex::default();
        for want in desired {
            let key = want.service.key;
            // This service's destination adds, last listed first: each add
            // goes to the head of the kernel's list (newest first), so the
            // list ends in the order given (which rr and wrr follow, and
            // lc and wlc break ties by), and a snapshot applied reads back
            // as it was.
            let first_add = dest_adds.len();
            let Some(have) = current_by_key.get(&key) else {
                service_adds.push(Step::AddService(want.service.clone()));
                dest_adds.extend(
                    want.destinations
                        .iter()
                        .rev()
                        .map(|d| Step::AddDestination {
                            service: key,
                            destination: d.clone(),
                        }),
                );
                continue;
            };
            if !same_service_settings(&have.service, &want.service) {
                service_updates.push(Step::UpdateService {
                    from: have.service.clone(),
                    to: want.service.clone(),
                });
            }
            wanted.index(&want.destinations);
            for dest in &have.destinations {
                if wanted.get(&dest.addr).is_none() {
                    remove(&mut plan, &mut dest_updates, key, dest);
                }
            }
            existing.index(&have.destinations);
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
            dest_adds[first_add..].reverse();
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
    /// line) and wants [`Ipvs::apply_plan`](crate::Ipvs::apply_plan)'s all-or-nothing apply and
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

/// The desired services' keys, as `validate_desired` collects them.
type KeySet = HashSet<ServiceKey, FastHash>;

/// Checks every desired service and destination, and that no key or
/// address appears twice; returns the keys.
fn validate_desired(desired: &[ServiceState]) -> Result<KeySet> {
    let mut keys = HashSet::with_capacity_and_hasher(desired.len(), FastHash::default());
    // One index for every service, refilled for each.
    let mut addrs = AddrIndex::default();
    for state in desired {
        let key = state.service.key;
        state.service.validate()?;
        if !keys.insert(key) {
            return Err(Error::invalid(
                "desired services",
                format!("service {key} appears twice"),
            ));
        }
        for dest in &state.destinations {
            dest.validate_for(&key)?;
        }
        if let Some(addr) = addrs.index(&state.destinations) {
            return Err(Error::invalid(
                "desired destinations",
                format!("destination {addr} appears twice in service {key}"),
            ));
        }
    }
    Ok(keys)
}

/// One service's destinations by address: searched in place when they are
/// few (most services have a handful, where hashing costs more than
/// comparing), through a hash map when they are many.
#[derive(Default)]
struct AddrIndex<'a> {
    destinations: &'a [Destination],
    /// Filled when there are more than [`AddrIndex::SCANNED`].
    by_addr: HashMap<SocketAddr, &'a Destination, FastHash>,
}

impl<'a> AddrIndex<'a> {
    /// Up to this many destinations are searched in place.
    const SCANNED: usize = 16;

    /// Indexes `destinations` (forgetting the previous ones); returns the
    /// first address that appears twice, if any.
    fn index(&mut self, destinations: &'a [Destination]) -> Option<SocketAddr> {
        self.destinations = destinations;
        self.by_addr.clear();
        if destinations.len() <= Self::SCANNED {
            return destinations
                .iter()
                .enumerate()
                .find(|(i, d)| destinations[..*i].iter().any(|e| e.addr == d.addr))
                .map(|(_, d)| d.addr);
        }
        let mut twice = None;
        for dest in destinations {
            match self.by_addr.entry(dest.addr) {
                Entry::Vacant(entry) => {
                    entry.insert(dest);
                }
                Entry::Occupied(_) => {
                    twice = twice.or(Some(dest.addr));
                }
            }
        }
        twice
    }

    /// The first destination at `addr`.
    fn get(&self, addr: &SocketAddr) -> Option<&'a Destination> {
        if self.destinations.len() <= Self::SCANNED {
            self.destinations.iter().find(|d| d.addr == *addr)
        } else {
            self.by_addr.get(addr).copied()
        }
    }
}

/// What is known of a step after its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Acknowledged.
    Applied,
    /// Rejected by the kernel.
    Rejected,
    /// Unknown (its ACK was lost or late, or the transport failed).
    Unknown,
}

fn fates(outcome: &BatchOutcome) -> Vec<Fate> {
    outcome
        .results
        .iter()
        .map(|r| match r {
            Ok(()) => Fate::Applied,
            Err(e) if e.may_have_applied() => Fate::Unknown,
            Err(_) => Fate::Rejected,
        })
        .collect()
}

impl<L: Link> Session<L> {
    pub(crate) async fn plan(
        &mut self,
        desired: &[ServiceState],
        options: &ApplyOptions,
    ) -> Result<Plan> {
        let desired_keys = validate_desired(desired)?;
        // The destinations of services outside the scope are never
        // compared: a dump per foreign service would be wasted.
        let scope = &options.scope;
        let current = self.snapshot_of(|key| scope.owns(key)).await?;
        Plan::of_valid(&current, desired, &desired_keys, options)
    }

    pub(crate) async fn apply(
        &mut self,
        desired: &[ServiceState],
        options: &ApplyOptions,
    ) -> Result<ApplyReport> {
        let plan = self.plan(desired, options).await?;
        self.apply_plan(&plan).await
    }

    pub(crate) async fn apply_plan(&mut self, plan: &Plan) -> Result<ApplyReport> {
        let report = ApplyReport {
            applied: plan.len(),
            draining: plan.draining.clone(),
        };
        if plan.is_empty() {
            return Ok(report);
        }
        let batch = Plan::batch(&plan.steps)?;
        let outcome = self.execute_batch(&batch).await?;
        let fates = fates(&outcome);
        // The first failed step, taken by value for the error.
        let first_error = outcome
            .results
            .into_iter()
            .enumerate()
            .find_map(|(index, result)| result.err().map(|cause| (index, cause)));
        let Some((step, cause)) = first_error else {
            return Ok(report);
        };
        // A lost reply uses up the call's deadline; the rollback still has
        // to run, within a deadline of its own.
        self.renew_deadline();
        let rollback = self.roll_back(&plan.steps, &fates).await;
        Err(Error::ApplyFailed {
            step,
            command: plan.steps[step].to_string(),
            cause: Box::new(cause),
            rollback,
        })
    }

    /// Undoes the steps that were (or may have been) applied, newest first.
    async fn roll_back(&mut self, steps: &[Step], fates: &[Fate]) -> Rollback {
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
        let outcome = match Plan::batch(&inverse) {
            Ok(batch) => self.execute_batch(&batch).await,
            Err(e) => Err(e),
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(cause) => {
                return Rollback::Failed {
                    step: None,
                    cause: Box::new(cause),
                    left: inverse.iter().map(ToString::to_string).collect(),
                };
            }
        };
        let mut undone = 0;
        let mut first_failure = None;
        let mut left = Vec::new();
        for ((result, undo), uncertain) in outcome.results.into_iter().zip(&inverse).zip(uncertain)
        {
            match result {
                Ok(()) => undone += 1,
                // Undoing a step that was never applied: nothing to undo.
                Err(e) if uncertain && (e.is_not_found() || e.is_already_exists()) => {}
                Err(cause) => {
                    left.push(undo.to_string());
                    first_failure.get_or_insert((undo.to_string(), cause));
                }
            }
        }
        match first_failure {
            None => Rollback::Complete { undone },
            Some((step, cause)) => Rollback::Failed {
                step: Some(step),
                cause: Box::new(cause),
                left,
            },
        }
    }
}
