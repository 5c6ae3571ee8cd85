// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Snapshot`]: every service with its destinations (and their counters)
//! read in one go; [`StatsSnapshot`]: just the counters.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::destination::Destination;
use crate::error::{Error, Op, Result};
use crate::key::ServiceKey;
use crate::service::Service;
use crate::session::Session;
use crate::stats::Stats;
use crate::transport::Link;

/// A service and its destinations: one entry of a [`Snapshot`], and the
/// unit of desired state for [`Ipvs::apply`](crate::Ipvs::apply).
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
    /// The service with this key, if the snapshot has it (a linear search:
    /// index [`Snapshot::services`] by key to look up many).
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

/// The keys of a service dump.
type KeySet = HashSet<ServiceKey, foldhash::fast::RandomState>;

/// Whether `again` lists the keys of `services` (whose set is `keys`, with
/// no repeats), each once, in any order. An unchanged table dumps in the
/// same order, so that is checked first.
fn same_keys(services: &[Service], keys: &KeySet, again: &[ServiceKey]) -> bool {
    if again.len() != services.len() {
        return false;
    }
    if services.iter().map(|s| &s.key).eq(again) {
        return true;
    }
    // As many keys, all of them known and none repeated: the same set.
    let mut seen = KeySet::with_capacity_and_hasher(again.len(), Default::default());
    again
        .iter()
        .all(|key| keys.contains(key) && seen.insert(*key))
}

/// Whether `again` lists the destinations of `previous` in the same order,
/// none of them twice: an unchanged list dumps in the same order.
fn same_addresses(previous: &[Destination], again: &[Destination]) -> bool {
    let mut seen = HashSet::<SocketAddr, foldhash::fast::RandomState>::with_capacity_and_hasher(
        again.len(),
        Default::default(),
    );
    previous
        .iter()
        .map(|d| d.addr)
        .eq(again.iter().map(|d| d.addr))
        && again.iter().all(|d| seen.insert(d.addr))
}

/// Dumps of one list made at most, looking for two consecutive ones that
/// agree (see [`Session::services`] and [`Session::consistent_destinations`]).
const LIST_ATTEMPTS: u32 = 5;

/// More than any one `IPVS_CMD_NEW_SERVICE` message takes: about 380 bytes
/// with every attribute `ip_vs_genl_fill_service()` writes (6.12), both
/// statistics nests and the longest scheduler and engine names included.
const LARGEST_SERVICE_MESSAGE: usize = 512;

/// More than any one `IPVS_CMD_NEW_DEST` message takes: about 360 bytes
/// with every attribute `ip_vs_genl_fill_dest()` writes (6.12), both
/// statistics nests included.
const LARGEST_DESTINATION_MESSAGE: usize = 512;

impl<L: Link> Session<L> {
    /// The service list, as one walk of the kernel's table or read until
    /// two consecutive dumps agree.
    ///
    /// The kernel resumes a multi-datagram `IPVS_CMD_GET_SERVICE` dump from
    /// a count of the services it has passed in its global table, those of
    /// every network namespace included, and never flags `NLM_F_DUMP_INTR`:
    /// a service added or removed in *any* namespace while the dump runs
    /// shifts the count, and the dump silently skips or repeats services
    /// (seen in the lab with two namespaces programming 2000 services each;
    /// `ipvsadm -S` has the same flaw). A dump the kernel wrote in one walk
    /// of its table ([`Session::one_walk`]: up to about 80 services, once
    /// the second socket has read) is taken as it is. Any other list is
    /// dumped again for its keys alone (nothing else parsed); when both
    /// have the same keys and no repeats, the full one is returned.
    /// [`Error::DumpInterrupted`] after [`LIST_ATTEMPTS`] dumps
    /// without agreement.
    ///
    /// The dumps run on the session's second socket, which reads 64 KiB at
    /// a time: the kernel walks its table from the start for every
    /// datagram of a service dump, so fewer, larger datagrams cost less
    /// (see [`crate::socket::WIDE_RECV_LEN`]).
    pub(crate) async fn services(&mut self) -> Result<Vec<Service>> {
        self.on_wide(Self::consistent_services).await
    }

    /// [`Session::services`], on this session.
    async fn consistent_services(&mut self) -> Result<Vec<Service>> {
        let mut dumps = 0;
        let mut full: Option<(Vec<Service>, KeySet)> = None;
        while dumps < LIST_ATTEMPTS {
            dumps += 1;
            let Some((services, keys)) = full.take() else {
                let (services, passes) = self.service_dump().await?;
                if self.one_walk(passes, LARGEST_SERVICE_MESSAGE) {
                    return Ok(services);
                }
                let keys: KeySet = services.iter().map(|s| s.key).collect();
                if keys.len() == services.len() {
                    full = Some((services, keys));
                }
                continue;
            };
            let again = self.service_key_dump().await?;
            if same_keys(&services, &keys, &again) {
                return Ok(services);
            }
            log::debug!("the service dump differs from the previous one; reading again");
        }
        Err(Error::DumpInterrupted {
            op: Op::ListServices,
            attempts: LIST_ATTEMPTS,
        })
    }

    /// The destinations of a service, consistent as a list as far as the
    /// kernel allows.
    ///
    /// The kernel resumes a multi-datagram `IPVS_CMD_GET_DEST` dump from a
    /// count of the destinations it has passed, and never flags
    /// `NLM_F_DUMP_INTR`: a destination added to or removed from the
    /// service between two datagrams makes the dump repeat or silently
    /// skip one. A dump the kernel wrote in one walk of the list
    /// ([`Session::one_walk`]: a service with a few destinations, the
    /// common case, or up to about 80 on the second socket) is taken as it
    /// is. Any other is read again, on the two sockets in turn, until two
    /// consecutive readings list the same destinations in the same order,
    /// none twice, or one is written in one walk; [`Error::DumpInterrupted`]
    /// after [`LIST_ATTEMPTS`] readings without agreement. The sockets
    /// alternate because their datagrams differ in size: two readings that
    /// agree were cut at different places, so a change that hit both
    /// would have to hit two gaps that hold the same destination. That is
    /// unlikely, not impossible: no read of a list longer than a datagram
    /// is atomic (`ipvsadm -L` has the same flaw, without the re-reading).
    pub(crate) async fn consistent_destinations(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Vec<Destination>> {
        let (mut previous, passes) = self.destination_dump(key).await?;
        if self.one_walk(passes, LARGEST_DESTINATION_MESSAGE) {
            return Ok(previous);
        }
        let mut wide = self.take_wide();
        let mut agreed = Err(Error::DumpInterrupted {
            op: Op::ListDestinations,
            attempts: LIST_ATTEMPTS,
        });
        for reading in 1..LIST_ATTEMPTS {
            let session = match (reading % 2, wide.as_deref_mut()) {
                (1, Some(wide)) => wide,
                _ => &mut *self,
            };
            let (again, passes) = match session.destination_dump(key).await {
                Ok(reading) => reading,
                Err(e) => {
                    agreed = Err(e);
                    break;
                }
            };
            if session.one_walk(passes, LARGEST_DESTINATION_MESSAGE)
                || same_addresses(&previous, &again)
            {
                agreed = Ok(again);
                break;
            }
            log::debug!(
                "the destination dump of {key} differs from the previous one; reading again"
            );
            previous = again;
        }
        self.restore_wide(wide);
        agreed
    }

    /// Every service with its destinations: the consistent service list,
    /// then one `IPVS_CMD_GET_DEST` dump per service (the kernel has no dump
    /// of every destination, and runs one dump per socket at a time).
    pub(crate) async fn snapshot(&mut self) -> Result<Snapshot> {
        self.snapshot_of(|_| true).await
    }

    /// The consistent service list, with the destinations of the services
    /// `read_destinations` selects (the others listed without theirs: what
    /// a scoped apply needs, which must not pay a dump per foreign service).
    pub(crate) async fn snapshot_of(
        &mut self,
        read_destinations: impl Fn(&ServiceKey) -> bool + Send,
    ) -> Result<Snapshot> {
        let services = self.services().await?;
        let mut states = Vec::with_capacity(services.len());
        for service in services {
            let destinations = if read_destinations(&service.key) {
                self.consistent_destinations(&service.key).await?
            } else {
                Vec::new()
            };
            states.push(ServiceState {
                service,
                destinations,
            });
        }
        Ok(Snapshot { services: states })
    }

    pub(crate) async fn stats_snapshot(&mut self) -> Result<StatsSnapshot> {
        Ok(StatsSnapshot::from(&self.snapshot().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::Scheduler;

    fn key(i: u16) -> ServiceKey {
        ServiceKey::tcp(SocketAddr::from(([192, 0, 2, 1], i)))
    }

    #[test]
    fn two_dumps_agree_on_the_same_keys_each_once_in_any_order() {
        let services: Vec<Service> = (1..=3)
            .map(|i| Service::new(key(i), Scheduler::RoundRobin))
            .collect();
        let keys: KeySet = services.iter().map(|s| s.key).collect();
        let agree = |again: &[u16]| {
            let again: Vec<ServiceKey> = again.iter().map(|&i| key(i)).collect();
            same_keys(&services, &keys, &again)
        };
        assert!(agree(&[1, 2, 3]));
        assert!(agree(&[3, 1, 2]));
        assert!(!agree(&[1, 2]), "one skipped");
        assert!(!agree(&[1, 2, 3, 3]), "one repeated");
        assert!(!agree(&[1, 2, 2]), "one repeated, one skipped");
        assert!(!agree(&[1, 2, 4]), "one replaced");
    }
}
