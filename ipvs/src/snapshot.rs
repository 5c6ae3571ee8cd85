// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Snapshot`]: every service with its destinations (and their counters)
//! read in one go; [`StatsSnapshot`]: just the counters.

use std::collections::HashSet;
use std::net::SocketAddr;

use ipvs_sys::{IpvsCmd, IpvsMessage};

use crate::destination::Destination;
use crate::engine::{Engine, ReplySink, Request, RequestKind, Transport};
use crate::error::{Error, Op, Result};
use crate::handle::Ipvs;
use crate::key::ServiceKey;
use crate::ops::{decode, destination_of, encode, service_nest, service_of, with_raw};
use crate::service::Service;
use crate::stats::Stats;

/// A service and its destinations: one entry of a [`Snapshot`], and the
/// unit of desired state for [`Ipvs::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceState {
    /// The service.
    pub service: Service,
    /// Its destinations (in kernel order, newest first, when read).
    pub destinations: Vec<Destination>,
}

impl ServiceState {
    /// A service with no destinations yet.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            destinations: Vec::new(),
        }
    }

    /// Adds a destination.
    pub fn with_destination(mut self, destination: Destination) -> Self {
        self.destinations.push(destination);
        self
    }
}

/// The whole IPVS table of a namespace: what `ipvsadm -S -n` saves, plus
/// counters, connection counts and rates (`ipvsadm -Ln --stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Every service in kernel order, with its destinations.
    pub services: Vec<ServiceState>,
}

impl From<Vec<ServiceState>> for Snapshot {
    /// A table given in full (for [`crate::Plan::new`] against a state
    /// read or built elsewhere).
    fn from(services: Vec<ServiceState>) -> Self {
        Self { services }
    }
}

impl Snapshot {
    /// The service with this key, if the snapshot has it.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceState> {
        self.services.iter().find(|s| s.service.key == *key)
    }

    /// Number of destinations over all services.
    pub fn destination_count(&self) -> usize {
        self.services.iter().map(|s| s.destinations.len()).sum()
    }
}

/// Counters of one destination in a [`StatsSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationStats {
    /// The destination's address.
    pub addr: SocketAddr,
    /// Active connections (`ActiveConn` of `ipvsadm -Ln`).
    pub active_connections: u32,
    /// Inactive connections (`InActConn`).
    pub inactive_connections: u32,
    /// Persistence templates.
    pub persistent_connections: u32,
    /// Counters and rates.
    pub stats: Stats,
}

/// Counters of one service and its destinations in a [`StatsSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// The service.
    pub key: ServiceKey,
    /// Counters and rates of the service.
    pub stats: Stats,
    /// Its destinations' counters, in kernel order.
    pub destinations: Vec<DestinationStats>,
}

/// Counters of every service and destination: `ipvsadm -Ln --stats --exact`
/// (and `--rate`) for the whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Every service in kernel order.
    pub services: Vec<ServiceStats>,
}

impl From<&Snapshot> for StatsSnapshot {
    fn from(snapshot: &Snapshot) -> Self {
        Self {
            services: snapshot
                .services
                .iter()
                .map(|state| ServiceStats {
                    key: state.service.key,
                    stats: state.service.stats,
                    destinations: state
                        .destinations
                        .iter()
                        .map(|d| DestinationStats {
                            addr: d.addr,
                            active_connections: d.active_connections,
                            inactive_connections: d.inactive_connections,
                            persistent_connections: d.persistent_connections,
                            stats: d.stats,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Decodes dump messages straight from the engine's receive buffer.
struct Decoded<'a, T> {
    decode: &'a dyn Fn(&IpvsMessage) -> Result<T>,
    op: Op,
    items: Vec<T>,
}

impl<T> ReplySink for Decoded<'_, T> {
    fn message(&mut self, payload: &[u8]) -> Result<(), Error> {
        let message = decode(self.op, payload)?;
        self.items.push(with_raw((self.decode)(&message), payload)?);
        Ok(())
    }

    fn restart(&mut self) {
        self.items.clear();
    }
}

/// One dump through `engine`, each message decoded by `decode`. Kernel
/// errors stay raw ([`Error::Kernel`]) for `Ipvs::with_engine` to explain.
fn dump<T: Transport, I>(
    engine: &mut Engine<T>,
    family: u16,
    op: Op,
    payload: &[u8],
    decode: &dyn Fn(&IpvsMessage) -> Result<I>,
) -> Result<Vec<I>> {
    let mut sink = Decoded {
        decode,
        op,
        items: Vec::new(),
    };
    engine.execute_with(
        &Request {
            op,
            message_type: family,
            kind: RequestKind::Dump,
            payload,
        },
        &mut sink,
    )?;
    Ok(sink.items)
}

/// Service-list dumps made at most, looking for two consecutive ones that
/// agree (see [`consistent_services`]).
const SERVICE_LIST_ATTEMPTS: u32 = 5;

/// The service list, read until two consecutive dumps agree.
///
/// The kernel resumes a multi-datagram `IPVS_CMD_GET_SERVICE` dump from a
/// count of the services it has passed in its global table, those of every
/// network namespace included, and never flags `NLM_F_DUMP_INTR`: a service
/// added or removed in *any* namespace while the dump runs shifts the count,
/// and the dump silently skips or repeats services (seen in the lab with
/// two namespaces programming 2000 services each; `ipvsadm -S` has the same
/// flaw). Two consecutive dumps with the same keys and no repeats are taken
/// as consistent; the second is returned. [`Error::DumpInterrupted`] after
/// [`SERVICE_LIST_ATTEMPTS`] dumps without agreement.
pub(crate) fn consistent_services<T: Transport>(
    engine: &mut Engine<T>,
    family: u16,
) -> Result<Vec<Service>> {
    let op = Op::ListServices;
    let list = encode(&IpvsMessage::new(IpvsCmd::GetService, vec![]))?;
    let mut previous: Option<HashSet<ServiceKey>> = None;
    for _ in 0..SERVICE_LIST_ATTEMPTS {
        let services = dump(engine, family, op, &list, &|m| service_of(op, m))?;
        let keys: HashSet<ServiceKey> = services.iter().map(|s| s.key).collect();
        let repeats = keys.len() != services.len();
        if !repeats && previous.as_ref() == Some(&keys) {
            return Ok(services);
        }
        log::debug!("{op}: service dump differs from the previous one; reading again");
        previous = (!repeats).then_some(keys);
    }
    Err(Error::DumpInterrupted {
        op,
        attempts: SERVICE_LIST_ATTEMPTS,
    })
}

impl<T: Transport> Ipvs<T> {
    /// Every service with its destinations, counters and connection counts:
    /// the table `ipvsadm -S -n` saves (plus what `ipvsadm -Ln --stats`
    /// shows), read in one go.
    ///
    /// `IPVS_CMD_GET_SERVICE` dumps until two agree (the kernel's service
    /// dump can skip or repeat services when any namespace changes
    /// meanwhile, and never says so), then one
    /// `IPVS_CMD_GET_DEST` dump per service (the kernel has no dump of
    /// every destination), all over
    /// this handle's socket with its reused receive buffer, messages
    /// decoded straight from it. The handle's lock is held throughout, so
    /// other threads' requests on this handle wait. Not atomic against
    /// other writers: a service deleted meanwhile shows no destinations.
    /// [`Error::DumpInterrupted`] if the service list keeps changing.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.with_engine(|engine, family| {
            let services = consistent_services(engine, family)?;
            let mut states = Vec::with_capacity(services.len());
            for service in services {
                let key = service.key;
                let request = encode(&IpvsMessage::new(
                    IpvsCmd::GetDest,
                    vec![service_nest(&key)],
                ))?;
                let destinations = dump(engine, family, Op::ListDestinations, &request, &|m| {
                    destination_of(Op::ListDestinations, &key, m)
                })?;
                states.push(ServiceState {
                    service,
                    destinations,
                });
            }
            Ok(Snapshot { services: states })
        })
    }

    /// Counters, rates and connection counts of every service and
    /// destination: `ipvsadm -Ln --stats --exact` for the whole table.
    /// Costs what [`Ipvs::snapshot`] costs (the kernel sends counters only
    /// with the full entries).
    pub fn stats_snapshot(&self) -> Result<StatsSnapshot> {
        Ok(StatsSnapshot::from(&self.snapshot()?))
    }
}
