// SPDX-License-Identifier: MIT OR Apache-2.0
//! The handles: [`Ipvs`] (blocking) and, with the `tokio` feature,
//! [`AsyncIpvs`]. Both are a shared [`Session`] and a call timeout; every
//! operation is declared once, in [`operations!`], which gives both handles
//! the same methods with the same documentation: lock the session, start
//! the call's deadline, run the session's operation.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Error, Op, Result};
use crate::family::FamilyInfo;
use crate::session::{CallOptions, DEFAULT_DUMP_ATTEMPTS, DEFAULT_TIMEOUT, Session};
use crate::socket::{Namespace, NetlinkSocket};
use crate::transport::{BlockingLink, Transport, block_on};

/// What the clones of a handle share: the session and the default call
/// options.
#[derive(Debug)]
struct Shared<S> {
    session: S,
    /// Nanoseconds.
    default_timeout: AtomicU64,
    dump_attempts: AtomicU32,
}

impl<S> Shared<S> {
    fn new(session: S) -> Self {
        Self {
            session,
            default_timeout: AtomicU64::new(nanos(DEFAULT_TIMEOUT)),
            dump_attempts: AtomicU32::new(DEFAULT_DUMP_ATTEMPTS),
        }
    }

    fn options(&self, timeout: Option<Duration>) -> CallOptions {
        CallOptions {
            timeout: timeout.unwrap_or_else(|| {
                Duration::from_nanos(self.default_timeout.load(Ordering::Relaxed))
            }),
            dump_attempts: self.dump_attempts.load(Ordering::Relaxed),
        }
    }
}

fn nanos(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX)
}

/// A handle on the kernel's IPVS table (of one network namespace), for
/// blocking code.
///
/// It owns one netlink socket, and a second one for listing services
/// (opened on the first list or snapshot: the kernel makes its dump
/// datagrams as large as a socket's largest read, and a service list wants
/// them large, everything else small). It is `Send + Sync`; clones share
/// the sockets (share them between threads by cloning). Calls take turns:
/// a call holds the sockets for its requests and whole replies, so replies
/// of concurrent calls never mix (a pool of sockets would buy parallelism
/// the kernel does not have: IPVS configuration runs under one global
/// mutex).
///
/// Every call takes at most the handle's timeout ([`Ipvs::timeout`], 10 s
/// unless set), counted from when it gets the socket; it then fails with
/// [`Error::Timeout`] and leaves the socket ready for the next call.
#[derive(Clone, Debug)]
pub struct Ipvs {
    shared: Arc<Shared<Mutex<Session<BlockingLink>>>>,
    timeout: Option<Duration>,
}

impl Ipvs {
    /// Opens a handle in the calling thread's network namespace and
    /// resolves the IPVS family (which makes the kernel load `ip_vs` if it
    /// can). [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub fn new() -> Result<Self> {
        Self::open(Namespace::current())
    }

    /// Opens a handle inside the named network namespace (`/run/netns/NAME`,
    /// as made by `ip netns add NAME`), without moving the calling thread.
    /// Equivalent to `ip netns exec NAME ipvsadm ...`.
    pub fn in_netns(name: &str) -> Result<Self> {
        Self::open(Namespace::named(name).map_err(open_error)?)
    }

    /// Opens a handle inside the network namespace `fd` refers to
    /// (`/proc/PID/ns/net`, a bind mount, ...), without moving the calling
    /// thread.
    pub fn in_netns_fd(fd: BorrowedFd<'_>) -> Result<Self> {
        Self::open(Namespace::of_fd(fd).map_err(open_error)?)
    }

    fn open(namespace: Namespace) -> Result<Self> {
        let socket = NetlinkSocket::open(namespace).map_err(open_error)?;
        Self::with_transport(socket)
    }

    /// A handle over any transport (tests use a scripted fake kernel); the
    /// family is resolved first.
    #[doc(hidden)]
    pub fn with_transport(transport: impl Transport + 'static) -> Result<Self> {
        let handle = Self::with_transport_unresolved(transport);
        handle.family()?;
        Ok(handle)
    }

    /// A handle over any transport that resolves the family on first use.
    #[doc(hidden)]
    pub fn with_transport_unresolved(transport: impl Transport + 'static) -> Self {
        let link: BlockingLink = Box::new(transport);
        Self {
            shared: Arc::new(Shared::new(Mutex::new(Session::new(link)))),
            timeout: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Session<BlockingLink>> {
        // A panic in another call cannot leave the session inconsistent: the
        // next call abandons what that one left open.
        self.shared
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The IPVS generic-netlink family as the kernel described it (id,
    /// version, max attribute), resolving it if needed.
    pub fn family(&self) -> Result<FamilyInfo> {
        let mut session = self.lock();
        session.start_call(self.shared.options(self.timeout));
        block_on(session.family(false))
    }
}

/// A handle on the kernel's IPVS table (of one network namespace), for
/// tokio (feature `tokio`). The same operations as [`Ipvs`], as `async fn`s.
///
/// It owns one netlink socket (and one for listing services, as [`Ipvs`]
/// does), registered with tokio's reactor; clones share them, so clone the
/// handle into tasks. Calls take turns on the sockets and their replies
/// never mix. A call's future may be dropped at any
/// point (cancelled, or timed out by `tokio::time::timeout`): the next call
/// first reads away whatever it left running, or replaces the socket, so
/// the handle stays usable.
///
/// Constructors need a tokio runtime with I/O and time enabled (their
/// error, not a panic, says so otherwise).
#[cfg(feature = "tokio")]
#[derive(Clone, Debug)]
pub struct AsyncIpvs {
    shared: Arc<Shared<tokio::sync::Mutex<Session<crate::socket::AsyncLink>>>>,
    timeout: Option<Duration>,
}

#[cfg(feature = "tokio")]
impl AsyncIpvs {
    /// Opens a handle in the calling thread's network namespace and
    /// resolves the IPVS family. See [`Ipvs::new`].
    pub async fn new() -> Result<Self> {
        Self::open(Namespace::current()).await
    }

    /// Opens a handle inside the named network namespace. See
    /// [`Ipvs::in_netns`].
    pub async fn in_netns(name: &str) -> Result<Self> {
        Self::open(Namespace::named(name).map_err(open_error)?).await
    }

    /// Opens a handle inside the network namespace `fd` refers to. See
    /// [`Ipvs::in_netns_fd`].
    pub async fn in_netns_fd(fd: BorrowedFd<'_>) -> Result<Self> {
        Self::open(Namespace::of_fd(fd).map_err(open_error)?).await
    }

    async fn open(namespace: Namespace) -> Result<Self> {
        let socket = crate::socket::TokioNetlinkSocket::open(namespace).map_err(open_error)?;
        let handle = Self::with_link(crate::socket::AsyncLink::Socket(socket));
        handle.family().await?;
        Ok(handle)
    }

    /// A handle over any transport (tests use fake kernels); the family is
    /// resolved first.
    #[doc(hidden)]
    pub async fn with_transport(
        transport: impl crate::transport::AsyncTransport + 'static,
    ) -> Result<Self> {
        let handle = Self::with_link(crate::socket::AsyncLink::Other(
            crate::socket::OtherTransport(Box::new(transport)),
        ));
        handle.family().await?;
        Ok(handle)
    }

    fn with_link(link: crate::socket::AsyncLink) -> Self {
        Self {
            shared: Arc::new(Shared::new(tokio::sync::Mutex::new(Session::new(link)))),
            timeout: None,
        }
    }

    /// The IPVS generic-netlink family as the kernel described it. See
    /// [`Ipvs::family`].
    pub async fn family(&self) -> Result<FamilyInfo> {
        let mut session = self.shared.session.lock().await;
        session.start_call(self.shared.options(self.timeout));
        session.family(false).await
    }
}

/// Call options, the same on both handles.
macro_rules! call_options {
    ($handle:ident) => {
        impl $handle {
            /// How long a call on this handle may take in all, from when it
            /// gets the socket, before [`Error::Timeout`].
            pub fn timeout(&self) -> Duration {
                self.shared.options(self.timeout).timeout
            }

            /// Sets the timeout of this handle and of the clones that share
            /// its default (not those made by `with_timeout`).
            pub fn set_timeout(&self, timeout: Duration) {
                self.shared
                    .default_timeout
                    .store(nanos(timeout), Ordering::Relaxed);
            }

            /// A handle on the same socket whose calls take at most
            /// `timeout`: a per-call deadline,
            /// `ipvs.with_timeout(Duration::from_secs(1)).snapshot()`.
            pub fn with_timeout(&self, timeout: Duration) -> Self {
                Self {
                    shared: Arc::clone(&self.shared),
                    timeout: Some(timeout),
                }
            }

            /// Sets how many times a dump interrupted by concurrent changes
            /// (`NLM_F_DUMP_INTR`) is read before
            /// [`Error::DumpInterrupted`] (at least 1; 4 unless set).
            pub fn set_dump_attempts(&self, attempts: u32) {
                self.shared
                    .dump_attempts
                    .store(attempts.max(1), Ordering::Relaxed);
            }
        }
    };
}

call_options!(Ipvs);
#[cfg(feature = "tokio")]
call_options!(AsyncIpvs);

/// Calls `$callback!` with the list of operations both handles have: each
/// one's documentation, name, arguments and return type. The handles are
/// made from it (`operations!` below), and so are test doubles that must
/// mirror them (the lab's `Handle`): the list exists once.
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_operation {
    ($callback:path) => {
        $callback! {
        /// IPVS version and connection table size. Equivalent to the first
        /// line of `ipvsadm -L` ("IP Virtual Server version 1.2.1 (size=4096)").
        fn info(&self) -> $crate::Info;

        /// All services, with their stats, in kernel order. Equivalent to
        /// `ipvsadm -Ln` (services only; see `destinations`).
        ///
        /// The service dump is read until two consecutive dumps agree: a dump
        /// that spans several datagrams can silently skip or repeat services
        /// while services of *any* network namespace are added or removed (the
        /// kernel's resume cursor counts them all and it never sets
        /// `NLM_F_DUMP_INTR`; `ipvsadm -Ln` has the same flaw). A list that
        /// fits one datagram costs two round trips; [`Error::DumpInterrupted`]
        /// if the list keeps changing.
        fn services(&self) -> Vec<$crate::Service>;

        /// One service. Equivalent to `ipvsadm -Ln -t ADDR:PORT` (or `-u`,
        /// `-f`). [`Error::NoSuchService`] if it does not exist.
        fn service(&self, key: &$crate::ServiceKey) -> $crate::Service;

        /// Adds a service. Equivalent to `ipvsadm -A -t ADDR:PORT -s SCHED
        /// [-p TIMEOUT [-M MASK]] [--pe NAME] [-o] [-b FLAGS]`.
        /// [`Error::ServiceExists`] if the key is taken.
        fn add_service(&self, service: &$crate::Service) -> ();

        /// Replaces a service's scheduler, persistence, engine and flags.
        /// Equivalent to `ipvsadm -E ...` with the same options as `-A`.
        /// Unset options are reset, not kept; [`Error::NoSuchService`] if
        /// absent.
        fn update_service(&self, service: &$crate::Service) -> ();

        /// Deletes a service and its destinations. Equivalent to
        /// `ipvsadm -D -t ADDR:PORT`. [`Error::NoSuchService`] if absent.
        fn delete_service(&self, key: &$crate::ServiceKey) -> ();

        /// The destinations of a service, in kernel order (newest first).
        /// Equivalent to the real-server lines of `ipvsadm -Ln -t ADDR:PORT`.
        /// [`Error::NoSuchService`] if the service does not exist (the kernel's
        /// dump alone cannot tell, so an empty dump is checked). A list the
        /// kernel wrote in more than one datagram, which skips or repeats a
        /// destination added or removed meanwhile, is read again until two
        /// readings agree ([`Error::DumpInterrupted`] if they keep changing).
        fn destinations(&self, key: &$crate::ServiceKey) -> Vec<$crate::Destination>;

        /// Adds a destination to a service. Equivalent to
        /// `ipvsadm -a -t ADDR:PORT -r RADDR:RPORT -m|-g|-i -w W [-x U -y L]`.
        /// [`Error::DestinationExists`] or [`Error::NoSuchService`].
        fn add_destination(&self, service: &$crate::ServiceKey, dest: &$crate::Destination) -> ();

        /// Replaces a destination's forwarding, weight and thresholds.
        /// Equivalent to `ipvsadm -e ...` with the options of `-a`.
        /// [`Error::NoSuchDestination`] or [`Error::NoSuchService`].
        fn update_destination(&self, service: &$crate::ServiceKey, dest: &$crate::Destination) -> ();

        /// Removes a destination. Equivalent to
        /// `ipvsadm -d -t ADDR:PORT -r RADDR:RPORT`.
        /// [`Error::NoSuchDestination`] or [`Error::NoSuchService`].
        fn delete_destination(&self, service: &$crate::ServiceKey, dest: std::net::SocketAddr) -> ();

        /// Deletes every service. Equivalent to `ipvsadm -C`.
        fn flush(&self) -> ();

        /// Zeroes all counters. Equivalent to `ipvsadm -Z`.
        fn zero_all(&self) -> ();

        /// Zeroes one service's counters and its destinations'. Equivalent to
        /// `ipvsadm -Z -t ADDR:PORT`. [`Error::NoSuchService`] if absent.
        fn zero_service(&self, key: &$crate::ServiceKey) -> ();

        /// Connection timeouts. Equivalent to `ipvsadm -L --timeout`.
        fn timeouts(&self) -> $crate::Timeouts;

        /// Sets the timeouts given; `None` fields stay unchanged. Equivalent
        /// to `ipvsadm --set TCP TCPFIN UDP` (where ipvsadm's 0 means
        /// unchanged).
        fn set_timeouts(&self, timeouts: &$crate::Timeouts) -> ();

        /// Starts a connection-sync daemon. Equivalent to
        /// `ipvsadm --start-daemon master|backup --mcast-interface IF --syncid ID
        /// [--sync-maxlen N] [--mcast-group G] [--mcast-port P] [--mcast-ttl T]`.
        /// [`Error::DaemonRunning`] if one in this role runs already.
        fn start_daemon(&self, daemon: &$crate::SyncDaemon) -> ();

        /// Stops the sync daemon in `role`. Equivalent to
        /// `ipvsadm --stop-daemon master|backup`. [`Error::NoDaemon`] if none
        /// runs.
        fn stop_daemon(&self, role: $crate::DaemonRole) -> ();

        /// The running sync daemons (master first). Equivalent to
        /// `ipvsadm -L --daemon`.
        fn daemons(&self) -> Vec<$crate::SyncDaemon>;

        /// Every service with its destinations, counters and connection
        /// counts: the table `ipvsadm -S -n` saves (plus what
        /// `ipvsadm -Ln --stats` shows), read in one go.
        ///
        /// The service list is read until two dumps agree (see `services`),
        /// then one `IPVS_CMD_GET_DEST` dump per service (the kernel has no
        /// dump of every destination; read again as `destinations` does
        /// when the kernel wrote it in more than one datagram), messages
        /// decoded straight from the receive buffer. The call holds the socket throughout, so other calls
        /// on the handle wait. Not atomic against other writers: a service
        /// deleted meanwhile shows no destinations. The whole read is one
        /// call, within one deadline: for tens of thousands of services on a
        /// slow machine, give it more time with `with_timeout`.
        fn snapshot(&self) -> $crate::Snapshot;

        /// Counters, rates and connection counts of every service and
        /// destination: `ipvsadm -Ln --stats --exact` for the whole table.
        /// Costs what `snapshot` costs (the kernel sends counters only with
        /// the full entries).
        fn stats_snapshot(&self) -> $crate::StatsSnapshot;

        /// Sends every request of `batch` and reports each one's result.
        ///
        /// Many requests travel in one `sendmsg`; each is acknowledged and its
        /// ACK or error is matched to it by sequence number. The requests in
        /// flight are bounded by the socket's receive queue (which this call
        /// enlarges the first time), so ACKs are not dropped for lack of room.
        /// A failing request does not stop the batch: the kernel carries on
        /// with the requests after it, and so does this call. It is as if each
        /// request were made with the single call, in order, without stopping
        /// at errors, all within one deadline: requests the deadline cuts off
        /// fail with [`Error::Timeout`] (sent, fate unknown) or
        /// [`Error::NotSent`]. `Err` only when the family cannot be resolved.
        /// Like the single calls, a batch is sent again when the `ip_vs`
        /// module was reloaded under a new family id.
        fn execute_batch(&self, batch: &$crate::Batch) -> $crate::BatchOutcome;

        /// Plans the writes that turn this namespace's table into `desired`
        /// (the complete table), from a fresh `snapshot`. Print the plan for
        /// a dry run; `apply_plan` applies it.
        fn plan(&self, desired: &[$crate::ServiceState], options: &$crate::ApplyOptions) -> $crate::Plan;

        /// Makes the table `desired`: `plan`, then `apply_plan`. Applying the
        /// same state again sends no writes. Equivalent to `ipvsadm -R` of the
        /// plan's lines, all or nothing.
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
        fn apply(&self, desired: &[$crate::ServiceState], options: &$crate::ApplyOptions) -> $crate::ApplyReport;

        /// Sends every step of `plan` as one batch. An empty plan sends
        /// nothing.
        ///
        /// If any step fails, every step that was or may have been applied
        /// (including steps after the failed one, which the kernel processes
        /// anyway, and steps whose reply was lost) is undone with the inverse
        /// steps, themselves one batch, and the result is
        /// [`Error::ApplyFailed`]: it names the first failed step (index in the
        /// plan and its ipvsadm line), why it failed, and whether the rollback
        /// restored the table. Counters of deleted and re-created entries are
        /// not restored.
        fn apply_plan(&self, plan: &$crate::Plan) -> $crate::ApplyReport;

        /// Escape hatch: sends any IPVS message (as a dump when `dump`, else
        /// acknowledged) and returns the decoded replies. Nothing is validated.
        /// Kernel errors are [`Error::Kernel`] with [`Op::Raw`] (only `EPERM`
        /// becomes [`Error::PermissionDenied`]), since the meaning of an errno
        /// depends on the command. Equivalent to no ipvsadm command: use it for
        /// what the typed API does not cover. An `IPVS_CMD_GET_SERVICE` dump
        /// runs on the handle's second socket, as [`Ipvs::services`] does.
        fn request(&self, message: &$crate::ipvs_sys::IpvsMessage, dump: bool) -> Vec<$crate::ipvs_sys::IpvsMessage>;
    }
    };
}

/// Gives both handles each operation of [`for_each_operation!`].
macro_rules! operations {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        impl Ipvs {
            $(
                $(#[$doc])*
                pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    let mut session = self.lock();
                    session.start_call(self.shared.options(self.timeout));
                    block_on(session.$name($($arg),*))
                }
            )*
        }

        #[cfg(feature = "tokio")]
        impl AsyncIpvs {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    let mut session = self.shared.session.lock().await;
                    session.start_call(self.shared.options(self.timeout));
                    session.$name($($arg),*).await
                }
            )*
        }
    };
}

crate::for_each_operation!(operations);

/// A socket or namespace that could not be opened: [`Error::Namespace`]
/// names the namespace.
fn open_error(source: std::io::Error) -> Error {
    Error::opening_socket(Op::ResolveFamily, source)
}
