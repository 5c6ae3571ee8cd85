// SPDX-License-Identifier: MIT OR Apache-2.0
//! Safe, typed access to Linux IPVS, the kernel's layer-4 load balancer
//! (what `ipvsadm` and keepalived drive), over generic netlink.
//!
//! ```no_run
//! use ipvs::{Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey};
//!
//! let ipvs = Ipvs::new()?; // needs CAP_NET_ADMIN and the ip_vs module
//! println!("IPVS {}", ipvs.info()?.version);
//! let key: ServiceKey = "tcp:203.0.113.1:80".parse()?;
//! ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))?; // ipvsadm -A -t 203.0.113.1:80 -s rr
//! let dest = Destination::new("198.51.100.10:80".parse()?, Forwarding::Masquerade);
//! ipvs.add_destination(&key, &dest)?; // ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m
//! for service in ipvs.services()? {
//!     println!("{service}");
//!     for dest in ipvs.destinations(&service.key)? {
//!         println!("  {dest}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! - [`Ipvs`] is the handle: one netlink socket, `Send + Sync`, every
//!   method named after the ipvsadm command it mirrors.
//! - Every request goes through one [`engine`], which checks sequence
//!   numbers and senders, walks datagrams safely, finishes dumps and ACKs,
//!   and never waits longer than the handle's timeout.
//! - Errors are typed by what they mean for the operation ([`Error`]).
//! - Requests are validated before they are sent: an invalid request never
//!   reaches the kernel.
//! - At scale: a [`Batch`] sends thousands of writes in a few `sendmsg`
//!   calls with one result per write ([`Ipvs::execute_batch`]);
//!   [`Ipvs::snapshot`] reads the whole table; [`Ipvs::apply`] makes the
//!   table a desired state with the fewest writes, all or nothing
//!   ([`Plan`] prints the dry run as an `ipvsadm -R` script).
//! - The wire format is `ipvs-sys`; [`Ipvs::request`] sends raw
//!   [`ipvs_sys::IpvsMessage`]s.

mod apply;
mod batch;
mod config;
pub mod conn;
pub mod datagram;
mod destination;
pub mod engine;
mod error;
pub mod family;
mod handle;
mod key;
mod netns;
mod notation;
mod ops;
mod scheduler;
mod service;
mod snapshot;
mod socket;
mod stats;
pub mod sysctl;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use apply::{ApplyOptions, ApplyReport, Plan, Step};
pub use batch::{Batch, BatchOutcome};
pub use config::{DaemonRole, Info, MAX_INTERFACE_LEN, MAX_TIMEOUT, SyncDaemon, Timeouts, Version};
pub use datagram::ExtAck;
pub use destination::{Destination, Forwarding, MAX_WEIGHT, Tunnel, TunnelChecksum};
pub use error::{Error, Op, Result, Rollback};
pub use handle::Ipvs;
/// The wire codec, re-exported for [`Ipvs::request`].
pub use ipvs_sys;
pub use key::{Family, ParseError, ServiceKey};
pub use netns::NamespaceError;
pub use scheduler::{MAX_NAME_LEN, Scheduler};
pub use service::{
    DEFAULT_PERSISTENCE_TIMEOUT, MAX_PERSISTENCE_TIMEOUT, Persistence, PersistenceNetmask,
    SchedulerFlags, Service,
};
pub use snapshot::{DestinationStats, ServiceState, ServiceStats, Snapshot, StatsSnapshot};
pub use socket::NetlinkSocket;
pub use stats::{CounterWidth, Rates, Stats, StatsDelta};
