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
//! With the `tokio` feature, [`AsyncIpvs`] has the same operations as
//! `async fn`s, on a socket registered with tokio's reactor:
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn example() -> ipvs::Result<()> {
//! let ipvs = ipvs::AsyncIpvs::new().await?; // Clone it into tasks
//! for service in ipvs.services().await? {
//!     println!("{service}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With the `fake` feature, [`fake::FakeIpvs`] is an in-memory IPVS for
//! tests without root or `ip_vs`: its handles are the same [`Ipvs`] and
//! [`AsyncIpvs`], and it answers their netlink requests as the kernel
//! does (same checks, errnos and replies, so the same typed errors), keeps
//! what `ipvsadm` manages, and plays faults (a refused write, a lost ACK,
//! a late reply) for testing what a program does when they happen.
//!
//! # Design
//!
//! - Every call has one deadline ([`Ipvs::timeout`], overridden per call
//!   with [`Ipvs::with_timeout`]); a call that stops early, or an async
//!   call whose future is dropped, leaves the handle ready for the next.
//! - Errors are typed by what they mean for the operation ([`Error`]).
//! - Requests are validated before they are sent: an invalid request never
//!   reaches the kernel.
//! - At scale: a [`Batch`] sends thousands of writes in a few `sendmsg`
//!   calls with one result per write ([`Ipvs::execute_batch`]);
//!   [`Ipvs::snapshot`] reads the whole table; [`Ipvs::apply`] makes the
//!   table a desired state with the fewest writes, all or nothing
//!   ([`Plan`] prints the dry run as an `ipvsadm -R` script).
//! - A controller reconciles only what it owns: [`ApplyOptions::scope`]
//!   ([`Scope::Owned`] keys, or [`Scope::Matching`] a predicate) leaves
//!   every other service alone, and a desired service whose key another
//!   owner holds is an error ([`Error::ForeignService`]), not a takeover.
//! - The wire format is `ipvs-sys`; [`Ipvs::request`] sends raw
//!   [`ipvs_sys::IpvsMessage`]s.
//! - Values convert as a Rust user expects: the ipvsadm notation that
//!   [`Service`], [`Destination`], [`Forwarding`] and [`ServiceKey`] print
//!   parses back (`FromStr`), timeouts are [`std::time::Duration`]s in the
//!   kernel's whole seconds, `later - earlier` of two [`Stats`] gives what
//!   the counters grew by (across a 32-bit wrap), and `?` turns every
//!   error of the crate into an [`Error`].
//!
//! A call runs one way through the crate, `add_service` for example:
//!
//! 1. `handle.rs`: [`Ipvs::add_service`] (or [`AsyncIpvs::add_service`])
//!    takes the handle's session and starts the call's deadline;
//! 2. `ops.rs`: the session builds the typed request
//!    (`request.rs`: validated, encoded, with what its errors are about);
//! 3. `session.rs`: the one receive path sends it over the socket
//!    (`socket.rs`) and reads until it ends or the deadline passes;
//! 4. `proto.rs`: the sans-I/O protocol numbers the request, packs the
//!    datagram and turns what arrives into its events (`datagram.rs` walks
//!    the bytes);
//! 5. back in `request.rs`, a kernel errno becomes the typed error
//!    ([`Error::ServiceExists`], ...), in one place (`error.rs`).
//!
//! # Desired state as JSON (feature `serde`)
//!
//! With the `serde` feature, [`Service`], [`Destination`], [`ServiceKey`],
//! [`Timeouts`], [`SyncDaemon`], [`Stats`], [`ServiceState`], [`Snapshot`]
//! and [`Plan`] (with its [`Step`]s) implement `Serialize` and
//! `Deserialize`, in the format a person writes in a desired-state file:
//! - ipvsadm notation where a type has one: keys (`"tcp:203.0.113.1:80"`),
//!   socket addresses, scheduler names (`"rr"`), forwarding (`"-m"`,
//!   `"-i --tun-type gue --tun-port 6080 --tun-nocsum"`), netmasks
//!   (`"255.255.255.0"`, or an IPv6 prefix length `64`), scheduler flags
//!   (`"sh-fallback,sh-port"`), daemon roles (`"master"`);
//! - plain fields otherwise, durations in whole seconds;
//! - a field at its default (ipvsadm's `-s wlc`, `-g`, `-w 1`, 360 s for
//!   `"persistence": {}`; none, zero, empty) may be left out, and is left
//!   out when written;
//! - an unknown field is refused, so a misspelt setting is an error rather
//!   than ignored;
//! - reading checks each value as parsing the notation does (ranges, whole
//!   seconds, names the kernel can load): an invalid value is an error
//!   naming the field and the limit, not a value that fails later. The
//!   checks that need context (a destination's family against its
//!   service's, a service listed twice) stay with `validate` and
//!   [`Plan::new`], which every write runs.
//!
#![cfg_attr(feature = "serde", doc = "```")]
#![cfg_attr(not(feature = "serde"), doc = "```ignore")]
//! use ipvs::{Destination, ServiceState, Timeouts};
//!
//! let desired: Vec<ServiceState> = serde_json::from_str(r#"[
//!   { "service": { "key": "tcp:203.0.113.1:80", "scheduler": "wrr",
//!                  "persistence": { "timeout": 300, "netmask": "255.255.255.0" } },
//!     "destinations": [
//!       { "addr": "198.51.100.10:80", "forwarding": "-m", "weight": 3 },
//!       { "addr": "198.51.100.11:80", "forwarding": "-m", "weight": 1,
//!         "upper_threshold": 100 } ] },
//!   { "service": { "key": "udp:[2001:db8::1]:53", "scheduler": "sh",
//!                  "scheduler_flags": "sh-port", "one_packet": true },
//!     "destinations": [
//!       { "addr": "[2001:db8::10]:53",
//!         "forwarding": "-i --tun-type gue --tun-port 6080 --tun-nocsum" } ] }
//! ]"#)?;
//! assert_eq!(desired[0].service.to_string(), "-A -t 203.0.113.1:80 -s wrr -p 300 -M 255.255.255.0");
//! assert_eq!(desired[1].destinations[0].weight, 1); // ipvsadm's default
//!
//! // Written back, it is the same file (defaults left out).
//! let written = serde_json::to_string(&desired[0].destinations[1])?;
//! assert_eq!(written, r#"{"addr":"198.51.100.11:80","forwarding":"-m","weight":1,"upper_threshold":100}"#);
//!
//! // Invalid values are refused when read, naming the field and the limit.
//! let heavy = r#"{ "addr": "198.51.100.10:80", "weight": 4294967295 }"#;
//! let err = serde_json::from_str::<Destination>(heavy).unwrap_err().to_string();
//! assert!(err.contains("expected weight: a whole number of 0..=2147483647"), "{err}");
//! let err = serde_json::from_str::<Timeouts>(r#"{ "tcp": 0.5 }"#).unwrap_err().to_string();
//! assert!(err.contains("expected tcp timeout: whole seconds of 1..=2147483"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod batch;
mod config;
pub mod conn;
mod datagram;
mod destination;
mod error;
mod family;
mod handle;
mod key;
mod netns;
mod notation;
mod ops;
mod proto;
mod request;
mod scheduler;
#[cfg(feature = "serde")]
mod serde_impl;
mod service;
mod session;
mod snapshot;
mod socket;
mod stats;
pub mod sysctl;
mod transport;
mod unknown;

#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use apply::{ApplyOptions, ApplyReport, Plan, Scope, Step};
pub use batch::{Batch, BatchOutcome};
pub use config::{DaemonRole, Info, MAX_INTERFACE_LEN, MAX_TIMEOUT, SyncDaemon, Timeouts, Version};
pub use datagram::ExtAck;
pub use destination::{Destination, Forwarding, MAX_WEIGHT, Tunnel, TunnelChecksum};
pub use error::{Error, Op, Result, Rollback};
pub use family::FamilyInfo;
#[cfg(feature = "tokio")]
pub use handle::AsyncIpvs;
pub use handle::Ipvs;
/// The wire codec, re-exported for [`Ipvs::request`].
pub use ipvs_sys;
pub use key::{Family, ServiceKey};
pub use netns::NamespaceError;
pub use notation::ParseError;
pub use scheduler::{MAX_NAME_LEN, Scheduler};
pub use service::{
    DEFAULT_PERSISTENCE_TIMEOUT, MAX_PERSISTENCE_TIMEOUT, Persistence, PersistenceNetmask,
    SchedulerFlags, Service,
};
pub use snapshot::{DestinationStats, ServiceState, ServiceStats, Snapshot, StatsSnapshot};
pub use stats::{CounterWidth, Rates, Stats, StatsDelta};
pub use unknown::UnknownAttribute;

/// The seam the crate's own integration tests and benches script fake
/// kernels through. Not part of the API: it may change in any release.
#[doc(hidden)]
pub mod testing {
    pub use crate::datagram::{MessageHeader, NLMSG_HDRLEN, messages};
    pub use crate::proto::{ACK_RECEIVE_BUDGET, MAX_DATAGRAM};
    #[cfg(feature = "tokio")]
    pub use crate::transport::AsyncTransport;
    pub use crate::transport::{Received, Transport};
}

/// The crate's README, whose examples are compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
