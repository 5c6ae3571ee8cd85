// SPDX-License-Identifier: MIT OR Apache-2.0
//! An in-memory IPVS for tests that cannot reach a kernel's (no root, no
//! `ip_vs`, a laptop or a CI machine): [`FakeIpvs`], feature `fake`.
//!
//! ```
//! use ipvs::fake::FakeIpvs;
//! use ipvs::{Destination, Error, Forwarding, Scheduler, Service, ServiceKey};
//!
//! let fake = FakeIpvs::new();
//! let ipvs = fake.handle()?; // an ordinary `Ipvs`
//! let key: ServiceKey = "tcp:203.0.113.1:80".parse()?;
//! ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))?;
//! ipvs.add_destination(&key, &Destination::new("198.51.100.10:80".parse()?, Forwarding::Masquerade))?;
//! let again = ipvs.add_service(&Service::new(key, Scheduler::RoundRobin));
//! assert!(matches!(again, Err(Error::ServiceExists { .. })), "EEXIST, as the kernel says");
//! assert_eq!(fake.snapshot().destination_count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A kernel at the netlink level
//!
//! The handles it gives are the crate's own [`Ipvs`] and `AsyncIpvs`,
//! over a socket that reaches the fake instead of the kernel. The fake
//! receives their datagrams and answers with the datagrams Linux 6.12
//! would send: the family resolved through the controller, ACKs, errors
//! with the kernel's errnos and extended ACKs, replies, dumps that span
//! datagrams and end with `NLMSG_DONE`, `EBUSY` for a second dump on a
//! socket. So everything above the socket runs as it does against a
//! kernel: the protocol, the session and its deadlines, the typed
//! requests, the errno meanings, snapshots, batches and apply.
//!
//! The table is what `ipvsadm` manages: services (scheduler, persistence,
//! engine, flags), destinations (forwarding, tunnel, weight, thresholds),
//! connection timeouts and sync daemons, with the kernel's checks and
//! shaping: the `HASHED` flag in every reported service, the defaults a
//! daemon gets, newest destinations first. The clones of a `FakeIpvs`
//! share one table, as handles on one namespace do.
//!
//! For tests, the fake also sets what only traffic makes
//! ([`FakeIpvs::set_connections`], [`FakeIpvs::set_stats`]), reads the
//! table directly ([`FakeIpvs::snapshot`]), lists the requests it received
//! ([`FakeIpvs::requests`]), and plays faults: a refused write, a lost
//! ACK, a late reply, an overflowed receive queue ([`FakeIpvs::inject`]),
//! a failing `send` ([`FakeIpvs::fail_send`]). A [`Builder`] sets its
//! modules, devices and privileges.
//!
//! A call waits for what does not come until its deadline, as on a real
//! socket: give the handle a short timeout ([`Ipvs::set_timeout`]) in
//! tests that lose replies.
//!
//! # Where the fake knowingly differs from the kernel
//!
//! `tests/kernel_fake.rs` runs random sequences of calls against the fake
//! and Linux 6.1 and 6.12 in the lab and requires the same results and the
//! same tables. What it cannot require, and why:
//!
//! - **Service order.** The kernel lists services by the buckets of two
//!   hash tables, address-keyed ones first, then firewall marks, the hash
//!   seeded by the namespace's address in memory: an order no program can
//!   predict. The fake lists address-keyed services, then marks, each in
//!   the order they were added. Destinations are in the kernel's order
//!   (newest first).
//! - **Modules.** The kernel loads `ip_vs_<scheduler>` and `ip_vs_pe_<engine>`
//!   on demand, from whatever its build has: `twos` exists on Debian's 6.12
//!   and not on 6.1. The fake has a fixed set, Debian 6.12's unless the
//!   [`Builder`] says otherwise ([`DEBIAN_6_1_SCHEDULERS`]).
//! - **Addresses and devices.** The kernel checks a new destination's
//!   address against the namespace's routes; the fake's namespace has only
//!   the loopback's (no destination at 0.0.0.0, 127.255.255.255,
//!   255.255.255.255 or a multicast address, at ::, in ::ffff:0:0/96, or
//!   at a link-local or multicast IPv6 address). A device is there or not:
//!   its state is not modelled, where the kernel can refuse a daemon on a
//!   device that is down or lacks an address.
//! - **Counters and rates** are what the test sets; no traffic moves them
//!   and no estimator runs. `IPVS_CMD_ZERO` zeroes them.
//! - **The destination trash.** The kernel keeps a deleted destination for
//!   about two minutes and revives it, counters included, when it is added
//!   again; the fake starts it afresh.
//! - **Other namespaces.** The kernel's service dump counts the services of
//!   every namespace to resume between datagrams, so a change elsewhere can
//!   make it repeat or skip one; the fake has one namespace, and shows that
//!   effect only when asked ([`FakeIpvs::shift_service_dumps`]).
//! - **A sync daemon stopped before its thread first ran.** The kernel
//!   stops it and answers nothing: `kthread_stop()` returns `-EINTR`, which
//!   `stop_sync_thread()` passes up and `netlink_rcv_skb()` takes for a dump
//!   under way, so the call times out. (Seen in the lab, where a new thread
//!   can wait seconds for its first run.) The fake answers.
//! - **The receive queue** overflows only when asked ([`Fault::Overrun`]).
//! - **The controller** answers `CTRL_CMD_GETFAMILY` for IPVS only: other
//!   families do not exist, other controller commands are `EOPNOTSUPP`.
//! - **Extended ACKs** carry the text and offset of a policy failure, not
//!   the `NLMSGERR_ATTR_POLICY` nest newer kernels add.
//! - **A module reload** ([`FakeIpvs::reload_module`]) empties the table and
//!   changes the family id in one step.
//! - Like Debian's kernels: `HZ` is 250 (a persistence timeout above
//!   `u32::MAX / 250` seconds wraps), 64-bit counters are not padded (as
//!   on x86-64), and sockets have `NETLINK_CAP_ACK` and `NETLINK_EXT_ACK`
//!   set, as this crate sets them.
//!
//! [`Ipvs`]: crate::Ipvs
//! [`Ipvs::set_timeout`]: crate::Ipvs::set_timeout

mod builder;
mod dump;
mod fault;
mod genl;
mod parse;
mod reply;
mod socket;
mod table;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use ipvs_sys::IpvsCmd;

pub use self::builder::{
    Builder, DEBIAN_6_1_SCHEDULERS, DEBIAN_6_12_SCHEDULERS, DEBIAN_PERSISTENCE_ENGINES,
};
use self::fault::FaultPlan;
pub use self::fault::{Fault, When};
use self::socket::{FakeSocket, lock};
use self::table::{AF_INET, AF_INET6, Environment, ServiceId, Table};
use crate::error::{Op, Result};
use crate::handle::Ipvs;
use crate::key::{Family, ServiceKey};
use crate::request::{destination_of_attributes, service_of_attributes};
use crate::snapshot::{ServiceState, Snapshot};
use crate::stats::Stats;

/// An in-memory IPVS; see the [module docs](self). Cheap to clone: the
/// clones share one table.
#[derive(Clone, Debug)]
pub struct FakeIpvs {
    kernel: Arc<Mutex<Kernel>>,
}

/// One request the fake received ([`FakeIpvs::requests`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The IPVS command; `None` for the controller (the family look-up)
    /// or another family.
    pub command: Option<IpvsCmd>,
    /// Sent as a dump (`NLM_F_DUMP`).
    pub dump: bool,
    /// The errno it was answered with (0: success), whether or not the
    /// answer arrived.
    pub errno: i32,
    /// The fault it met, if any.
    pub fault: Option<Fault>,
    /// The port id (`nl_pid`) of the socket that sent it: a handle reads
    /// service dumps on a second socket.
    pub port: u32,
    /// How large the kernel makes the dump datagrams of that socket: the
    /// largest read it has made, from `NLMSG_GOODSIZE` up to 32 KiB
    /// (`netlink_dump()`'s allocation, which a real kernel may zero whole).
    pub dump_datagram_room: usize,
}

impl LoggedRequest {
    /// A request that changes the table or the settings
    /// ([`When::Write`] counts these).
    pub fn is_write(&self) -> bool {
        !self.dump && self.command.is_some_and(genl::is_write)
    }
}

/// The fake kernel behind every socket and clone.
#[derive(Debug)]
struct Kernel {
    table: Table,
    env: Environment,
    /// The IPVS family id; `None` without `ip_vs`.
    family: Option<u16>,
    /// The caller has `CAP_NET_ADMIN`.
    privileged: bool,
    /// What every socket's receive queue holds, if fixed.
    receive_queue: Option<usize>,
    connection_table_size: u32,
    faults: FaultPlan,
    log: Vec<LoggedRequest>,
    next_port: u32,
}

impl Kernel {
    fn allocate_port(&mut self) -> u32 {
        let port = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(1);
        port
    }

    fn receive_queue(&self, wanted: usize) -> usize {
        self.receive_queue.unwrap_or(wanted.saturating_mul(2))
    }
}

impl Default for FakeIpvs {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeIpvs {
    /// A fake of Debian's 6.12 kernel with an empty table (see
    /// [`Builder`] for another).
    pub fn new() -> Self {
        Builder::default().build()
    }

    /// A builder, to choose modules, devices and privileges.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A blocking handle on the fake, its family resolved: what
    /// [`Ipvs::new`] is to the kernel, and fails as it does
    /// ([`Error::IpvsUnavailable`] for a fake built
    /// [`without_ipvs`](Builder::without_ipvs)). Each handle has its own
    /// socket; its clones share it.
    ///
    /// [`Error::IpvsUnavailable`]: crate::Error::IpvsUnavailable
    pub fn handle(&self) -> Result<Ipvs> {
        Ipvs::with_transport(FakeSocket::open(&self.kernel))
    }

    /// An async handle on the fake (feature `tokio`), its family resolved:
    /// what `AsyncIpvs::new` is to the kernel. Needs a tokio runtime with
    /// time enabled, as a handle waits on tokio's clock for late replies.
    #[cfg(feature = "tokio")]
    pub async fn async_handle(&self) -> Result<crate::AsyncIpvs> {
        let socket = socket::AsyncFakeSocket(FakeSocket::open(&self.kernel));
        crate::AsyncIpvs::with_transport(socket).await
    }

    /// The table as a dump would show it (services in the fake's order,
    /// destinations newest first), read directly: no request is made, so
    /// no fault is met and nothing is logged.
    pub fn snapshot(&self) -> Snapshot {
        let kernel = lock(&self.kernel);
        let services = kernel.table.dump_order().filter_map(|entry| {
            let attrs = reply::service_attributes(entry);
            let service = service_of_attributes(Op::ListServices, attrs).ok()?;
            let destinations = entry
                .dests
                .iter()
                .filter_map(|d| {
                    let attrs = reply::dest_attributes(d);
                    destination_of_attributes(Op::ListDestinations, &service.key, attrs).ok()
                })
                .collect();
            Some(ServiceState {
                service,
                destinations,
            })
        });
        Snapshot::from(services.collect::<Vec<_>>())
    }

    /// Sets the connection counts a destination reports, as traffic would
    /// (what [`ApplyOptions::drain`](crate::ApplyOptions::drain) looks at).
    /// False when the service has no such destination.
    #[must_use = "false means there is no such destination"]
    pub fn set_connections(
        &self,
        service: &ServiceKey,
        destination: SocketAddr,
        active: u32,
        inactive: u32,
    ) -> bool {
        let mut kernel = lock(&self.kernel);
        let (af, addr) = address(destination.ip());
        let dest = kernel
            .table
            .dest_mut(&service_id(service), af, addr, destination.port());
        dest.map(|d| {
            d.active_conns = active;
            d.inactive_conns = inactive;
        })
        .is_some()
    }

    /// Sets the counters and rates a service (`destination` `None`) or one
    /// of its destinations reports, as traffic and the estimator would.
    /// False when there is no such service or destination.
    #[must_use = "false means there is no such service or destination"]
    pub fn set_stats(
        &self,
        service: &ServiceKey,
        destination: Option<SocketAddr>,
        stats: Stats,
    ) -> bool {
        let mut kernel = lock(&self.kernel);
        let id = service_id(service);
        let target = match destination {
            None => kernel.table.service_mut(&id).map(|s| &mut s.stats),
            Some(d) => {
                let (af, addr) = address(d.ip());
                kernel
                    .table
                    .dest_mut(&id, af, addr, d.port())
                    .map(|d| &mut d.stats)
            }
        };
        target.map(|s| *s = stats).is_some()
    }

    /// Plans `fault` for the request `when` says, counted from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipvs::fake::{FakeIpvs, Fault, When};
    /// use ipvs::{Error, Scheduler, Service};
    ///
    /// let fake = FakeIpvs::new();
    /// let ipvs = fake.handle()?;
    /// ipvs.set_timeout(Duration::from_millis(50));
    /// fake.inject(When::Write(0), Fault::LoseReply);
    /// let service = Service::new("tcp:203.0.113.1:80".parse()?, Scheduler::RoundRobin);
    /// let lost = ipvs.add_service(&service);
    /// assert!(matches!(lost, Err(Error::Timeout { .. })));
    /// assert_eq!(fake.snapshot().services.len(), 1, "applied all the same");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inject(&self, when: When, fault: Fault) {
        lock(&self.kernel).faults.inject(when, fault);
    }

    /// Makes the `nth` datagram sent from now (0: the next) fail to send
    /// with `errno`: the kernel never sees it, and the call fails with
    /// [`Error::Io`](crate::Error::Io).
    pub fn fail_send(&self, nth: usize, errno: i32) {
        lock(&self.kernel).faults.fail_send(nth, errno);
    }

    /// Makes each of the next `count` service dumps resume one service
    /// early after its first datagram, so that it lists the last service
    /// of that datagram again, as the kernel's dump does when a service of
    /// any namespace joins its table ahead of the dump after the first
    /// datagram (the kernel resumes from a count of every namespace's
    /// services; even a dump whose first datagram held them all is
    /// shifted, by the call that would have written `NLMSG_DONE`).
    pub fn shift_service_dumps(&self, count: usize) {
        lock(&self.kernel).faults.shift_service_dumps(count);
    }

    /// Makes each of the next `count` destination dumps resume one
    /// destination early after its first datagram, so that it lists the
    /// last destination of that datagram again, as the kernel's dump does
    /// when a destination joins the head of the service's list after its
    /// first datagram (even one that held them all: the call that would
    /// have written `NLMSG_DONE` finds the repeated one instead).
    pub fn shift_destination_dumps(&self, count: usize) {
        lock(&self.kernel).faults.shift_destination_dumps(count);
    }

    /// Forgets every fault planned and not yet met.
    pub fn clear_faults(&self) {
        lock(&self.kernel).faults.clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.kernel).log.clone()
    }

    /// Unloads and loads `ip_vs` again: the table, timeouts and daemons
    /// start afresh, and the family gets a new id, so a handle's next
    /// request meets `ENOENT` and resolves the family again.
    pub fn reload_module(&self) {
        let mut kernel = lock(&self.kernel);
        kernel.table = Table::default();
        // The controller hands out the next free id.
        kernel.family = kernel.family.map(|id| id.wrapping_add(1).max(0x10 + 1));
    }
}

/// The identity a request for `key` carries.
fn service_id(key: &ServiceKey) -> ServiceId {
    match *key {
        ServiceKey::Addr { protocol, addr } => {
            let (af, bytes) = address(addr.ip());
            ServiceId {
                af,
                protocol: protocol.into(),
                addr: bytes,
                port: addr.port(),
                fwmark: 0,
            }
        }
        ServiceKey::Fwmark { mark, family } => {
            let af = if family == Family::Ipv6 {
                AF_INET6
            } else {
                AF_INET
            };
            ServiceId::fwmark(af, mark)
        }
    }
}

/// An address as a request carries it: its family and 16 bytes.
fn address(ip: IpAddr) -> (u16, [u8; 16]) {
    match ip {
        IpAddr::V4(v4) => {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&v4.octets());
            (AF_INET, bytes)
        }
        IpAddr::V6(v6) => (AF_INET6, v6.octets()),
    }
}
