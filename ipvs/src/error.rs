// SPDX-License-Identifier: MIT OR Apache-2.0
//! The crate's error type, and the one place where a kernel errno is given a
//! meaning (which depends on the operation that failed).

use std::fmt;
use std::time::Duration;

use std::net::SocketAddr;

use crate::conn::ConnReadError;
use crate::datagram::ExtAck;
use crate::key::ServiceKey;
use crate::netns::NamespaceError;
use crate::notation::{ParseError, Problem};
use crate::sysctl::SysctlError;

/// The operation a request performed; decides what a kernel errno means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Resolving the "IPVS" generic-netlink family (`CTRL_CMD_GETFAMILY`).
    ResolveFamily,
    /// `IPVS_CMD_GET_INFO`.
    GetInfo,
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService,
    /// `IPVS_CMD_SET_SERVICE`.
    UpdateService,
    /// `IPVS_CMD_DEL_SERVICE`.
    DeleteService,
    /// `IPVS_CMD_GET_SERVICE` (one service).
    GetService,
    /// `IPVS_CMD_GET_SERVICE` dump.
    ListServices,
    /// `IPVS_CMD_NEW_DEST`.
    AddDestination,
    /// `IPVS_CMD_SET_DEST`.
    UpdateDestination,
    /// `IPVS_CMD_DEL_DEST`.
    DeleteDestination,
    /// `IPVS_CMD_GET_DEST` dump.
    ListDestinations,
    /// `IPVS_CMD_FLUSH`.
    Flush,
    /// `IPVS_CMD_ZERO`.
    Zero,
    /// `IPVS_CMD_GET_CONFIG`.
    GetTimeouts,
    /// `IPVS_CMD_SET_CONFIG`.
    SetTimeouts,
    /// `IPVS_CMD_NEW_DAEMON`.
    StartDaemon,
    /// `IPVS_CMD_DEL_DAEMON`.
    StopDaemon,
    /// `IPVS_CMD_GET_DAEMON` dump.
    ListDaemons,
    /// A raw request sent through the escape hatch.
    Raw,
}

impl Op {
    /// The `ipvsadm` invocation (or kernel command) this operation matches,
    /// for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Op::ResolveFamily => "resolving the IPVS netlink family",
            Op::GetInfo => "reading IPVS info (ipvsadm --version)",
            Op::AddService => "adding a service (ipvsadm -A)",
            Op::UpdateService => "editing a service (ipvsadm -E)",
            Op::DeleteService => "deleting a service (ipvsadm -D)",
            Op::GetService => "reading a service (ipvsadm -L -t|-u|-f ...)",
            Op::ListServices => "listing services (ipvsadm -L)",
            Op::AddDestination => "adding a destination (ipvsadm -a)",
            Op::UpdateDestination => "editing a destination (ipvsadm -e)",
            Op::DeleteDestination => "deleting a destination (ipvsadm -d)",
            Op::ListDestinations => "listing destinations (ipvsadm -L)",
            Op::Flush => "flushing the table (ipvsadm -C)",
            Op::Zero => "zeroing counters (ipvsadm -Z)",
            Op::GetTimeouts => "reading timeouts (ipvsadm -L --timeout)",
            Op::SetTimeouts => "setting timeouts (ipvsadm --set)",
            Op::StartDaemon => "starting the sync daemon (ipvsadm --start-daemon)",
            Op::StopDaemon => "stopping the sync daemon (ipvsadm --stop-daemon)",
            Op::ListDaemons => "listing sync daemons (ipvsadm -L --daemon)",
            Op::Raw => "sending a raw IPVS request",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Everything that can go wrong talking to IPVS.
///
/// The kernel answers with bare errnos whose meaning depends on the command
/// (`EEXIST` means "service exists" for `ipvsadm -A` but "destination exists"
/// for `ipvsadm -a`); this type names the meaning. Errnos with no specific
/// meaning stay [`Error::Kernel`], with the kernel's extended-ACK text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `EEXIST` on add-service: a service with this key already exists.
    #[error("service {} already exists (update it instead, or delete it first)", subject(.service))]
    ServiceExists {
        /// The service, when the failing call named one.
        service: Option<ServiceKey>,
    },
    /// `ESRCH`: no service with this key.
    #[error("no such service {} ({op})", subject(.service))]
    NoSuchService {
        /// The operation that needed the service.
        op: Op,
        /// The service, when the failing call named one.
        service: Option<ServiceKey>,
    },
    /// A scoped apply ([`crate::Scope::Owned`]) was asked for a service
    /// whose key the kernel's table already has, and which the caller does
    /// not own: another owner's service is never taken over silently.
    #[error(
        "service {service} exists but is not among the services this apply owns: another owner's service is not taken over (add it to the owned set if it is yours)"
    )]
    ForeignService {
        /// The service.
        service: ServiceKey,
    },
    /// `EEXIST` on add-destination.
    #[error(
        "destination {} already exists in service {} (update it, or delete it first)",
        subject(.destination), subject(.service)
    )]
    DestinationExists {
        /// The service.
        service: Option<ServiceKey>,
        /// The destination.
        destination: Option<SocketAddr>,
    },
    /// `ENOENT` on update/delete-destination.
    #[error("no such destination {} in service {} ({op})", subject(.destination), subject(.service))]
    NoSuchDestination {
        /// The operation that needed the destination.
        op: Op,
        /// The service.
        service: Option<ServiceKey>,
        /// The destination.
        destination: Option<SocketAddr>,
    },
    /// `ENOENT` on add/update-service: the kernel has no scheduler (module
    /// `ip_vs_<name>`) or persistence engine (`ip_vs_pe_<name>`) by that name.
    #[error(
        "unknown scheduler {scheduler:?}{}: the kernel has no module ip_vs_{scheduler}{}",
        pe.as_deref().map(|pe| format!(" or persistence engine {pe:?}")).unwrap_or_default(),
        pe.as_deref().map(|pe| format!(" or ip_vs_pe_{pe}")).unwrap_or_default()
    )]
    UnknownSchedulerOrPe {
        /// The scheduler name that was sent.
        scheduler: String,
        /// The persistence engine name that was sent, if any.
        pe: Option<String>,
    },
    /// `EEXIST` on start-daemon.
    #[error("a sync daemon in this state (master/backup) is already running")]
    DaemonRunning,
    /// `ENODEV` on start-daemon: the namespace has no network interface by
    /// the daemon's name (`ipvsadm --mcast-interface`).
    #[error(
        "no network interface {} in this network namespace for the sync daemon (--mcast-interface)",
        subject(.interface)
    )]
    NoSuchInterface {
        /// The interface name, when the failing call named one.
        interface: Option<String>,
    },
    /// `ESRCH` on stop-daemon.
    #[error("no sync daemon in this state is running")]
    NoDaemon,
    /// `EPERM`/`EACCES`: IPVS commands need `CAP_NET_ADMIN` in the initial
    /// user namespace.
    #[error(
        "permission denied {op}: IPVS needs CAP_NET_ADMIN in the initial user namespace (run as root or grant the capability)"
    )]
    PermissionDenied {
        /// The operation refused.
        op: Op,
    },
    /// The kernel has no "IPVS" generic-netlink family.
    #[error(
        "IPVS is unavailable: the kernel has no \"IPVS\" netlink family (load it with `modprobe ip_vs`, or the kernel was built without CONFIG_IP_VS)"
    )]
    IpvsUnavailable,
    /// A request was rejected before reaching the kernel.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field at fault (for example `"weight"`).
        field: &'static str,
        /// The rule it broke, with the limit.
        reason: String,
    },
    /// Text in ipvsadm notation did not parse ([`ParseError::field`] names
    /// the field at fault): what `?` on `"...".parse::<ServiceKey>()` gives
    /// in a function returning [`Result`].
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A network namespace could not be opened or entered
    /// ([`crate::Ipvs::in_netns`], `ip netns exec NAME`); it names the
    /// namespace.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// Reading or writing an IPVS sysctl failed ([`crate::sysctl`]).
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// Reading the connection table failed ([`crate::conn`]).
    #[error(transparent)]
    ConnectionTable(#[from] ConnReadError),
    /// No complete reply arrived in time. The request may or may not have been
    /// applied; late replies are discarded.
    #[error("timed out after {after:?} {op}")]
    Timeout {
        /// The operation that timed out.
        op: Op,
        /// The configured timeout.
        after: Duration,
    },
    /// A reply could not be decoded. `raw` keeps the bytes for a bug report.
    #[error("cannot decode the kernel's reply {op}: {reason} (raw reply: {} bytes)", raw.len())]
    Decode {
        /// The operation whose reply failed to decode.
        op: Op,
        /// What was wrong.
        reason: String,
        /// The undecodable bytes (a message payload or whole datagram).
        raw: Vec<u8>,
    },
    /// A dump kept being interrupted by concurrent changes (`NLM_F_DUMP_INTR`,
    /// or readings of a list that never agreed: see [`Ipvs::snapshot`](crate::Ipvs::snapshot)).
    #[error("{op} was interrupted by concurrent changes {attempts} times in a row; retry later")]
    DumpInterrupted {
        /// The dump.
        op: Op,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A datagram was larger than the receive buffer.
    #[error("a {len}-byte reply did not fit the {capacity}-byte receive buffer {op}")]
    Truncated {
        /// The operation.
        op: Op,
        /// The datagram's real length.
        len: usize,
        /// The receive buffer's size.
        capacity: usize,
    },
    /// `ENOBUFS`/`NLMSG_OVERRUN`: the socket's receive queue overflowed and
    /// replies were lost. The request was abandoned; retrying is safe for
    /// reads, and for writes should start by reading the state back.
    #[error("netlink receive queue overflowed {op}; replies were lost, the request was abandoned")]
    Overrun {
        /// The operation.
        op: Op,
    },
    /// The kernel answered with something the protocol does not allow here.
    #[error("unexpected reply {op}: {detail}")]
    UnexpectedReply {
        /// The operation.
        op: Op,
        /// What was unexpected.
        detail: String,
    },
    /// Any other kernel errno.
    #[error("kernel error {op}: {}{}", std::io::Error::from_raw_os_error(*.errno), ext(.ext_ack))]
    Kernel {
        /// The operation.
        op: Op,
        /// Positive errno.
        errno: i32,
        /// Extended-ACK text and offset, when the kernel gave them.
        ext_ack: ExtAck,
    },
    /// A desired-state apply ([`crate::Ipvs::apply`]) failed: the kernel
    /// rejected a step, or the transport failed mid-batch (then `step` is
    /// the first step whose reply never came, and `cause` the transport's
    /// error). Every step that was, or may have been, applied was rolled
    /// back, as `rollback` tells.
    #[error("apply failed at step {step} `{command}`: {cause}; {rollback}")]
    ApplyFailed {
        /// Index in the plan of the first step that failed.
        step: usize,
        /// That step as an ipvsadm command line (`-a -t ... -r ... -m -w 1`).
        command: String,
        /// Why it failed: the step's typed kernel error (or the transport's);
        /// also [`std::error::Error::source`] (there a `Box<Error>`, which
        /// `downcast_ref::<Box<ipvs::Error>>()` finds).
        #[source]
        cause: Box<Error>,
        /// Whether the table was restored.
        rollback: Rollback,
    },
    /// The request was never sent: an earlier failure (the deadline, the
    /// socket) stopped its batch before its turn. The kernel never saw it.
    #[error("not sent {op}: the batch stopped before this request")]
    NotSent {
        /// The operation.
        op: Op,
    },
    /// A broken internal invariant: a bug in ipvs-rs, never a kernel or
    /// caller error. Returned instead of panicking; the request's effect on
    /// the kernel is unknown, so read the table back.
    #[error("internal error in ipvs-rs: {what} does not hold; this is a bug, please report it")]
    Internal {
        /// The invariant that broke.
        what: &'static str,
    },
    /// A socket or namespace system call failed.
    #[error("I/O error {op}: {source}")]
    Io {
        /// The operation.
        op: Op,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

/// How the rollback of a failed apply ended ([`Error::ApplyFailed`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Rollback {
    /// Every step that had been applied was undone (`undone` inverse
    /// steps): the table is as it was before the apply, counters of
    /// re-created entries aside.
    Complete {
        /// Inverse steps sent and acknowledged (0: nothing had been applied).
        undone: usize,
    },
    /// Undoing failed: the table is neither the old state nor the desired
    /// one. `left` says what is still to undo.
    Failed {
        /// The first inverse step that failed, as an ipvsadm line (`None`
        /// when the rollback could not be sent at all).
        step: Option<String>,
        /// Why.
        cause: Box<Error>,
        /// Every inverse step not known to be done, in the order to apply
        /// them, as ipvsadm lines: an `ipvsadm -R` script that would finish
        /// the rollback. Each failed, or its fate is unknown.
        left: Vec<String>,
    },
}

impl Rollback {
    /// True when the table was restored.
    pub fn is_complete(&self) -> bool {
        matches!(self, Rollback::Complete { .. })
    }
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::Complete { undone: 0 } => f.write_str("nothing had been applied"),
            Rollback::Complete { undone } => {
                write!(
                    f,
                    "rolled back ({undone} inverse steps): the table is as before"
                )
            }
            Rollback::Failed { step, cause, left } => {
                match step {
                    Some(step) => write!(f, "ROLLBACK FAILED at `{step}`: {cause}")?,
                    None => write!(f, "ROLLBACK FAILED: {cause}")?,
                }
                write!(
                    f,
                    "; the table is in neither state, {} inverse steps left undone",
                    left.len()
                )?;
                for line in left {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
        }
    }
}

fn subject<T: fmt::Display>(what: &Option<T>) -> String {
    what.as_ref()
        .map_or_else(|| "(unnamed)".to_owned(), ToString::to_string)
}

fn ext(ext_ack: &ExtAck) -> String {
    if ext_ack.is_empty() {
        String::new()
    } else {
        format!(" ({ext_ack})")
    }
}

/// What a request is about, for its errors: the service, destination,
/// scheduler and persistence engine it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) service: Option<ServiceKey>,
    pub(crate) destination: Option<SocketAddr>,
    /// Scheduler and persistence-engine names of a service write, which
    /// explain `ENOENT`.
    pub(crate) names: Option<(String, Option<String>)>,
    /// The sync daemon's interface, which explains `ENODEV`.
    pub(crate) interface: Option<String>,
}

impl Error {
    /// The one place a kernel errno gets its meaning: by the operation that
    /// received it ([`Error::Kernel`] stays for errnos with no specific
    /// meaning), naming what `subject` says the request was about.
    pub(crate) fn explained(self, subject: &Subject) -> Self {
        let error = match self {
            Error::Kernel { op, errno, ext_ack } => Self::from_kernel(op, errno, ext_ack, subject),
            other => other,
        };
        let error = match &subject.interface {
            Some(interface) => error.about_interface(interface),
            None => error,
        };
        match subject.service {
            Some(key) => error.about(&key, subject.destination),
            None => error,
        }
    }

    fn from_kernel(op: Op, errno: i32, ext_ack: ExtAck, subject: &Subject) -> Self {
        use nix::errno::Errno;
        match (Errno::from_raw(errno), op) {
            (Errno::EPERM | Errno::EACCES, _) => Error::PermissionDenied { op },
            (Errno::EEXIST, Op::AddService) => Error::ServiceExists { service: None },
            (Errno::EEXIST, Op::AddDestination) => Error::DestinationExists {
                service: None,
                destination: None,
            },
            (Errno::EEXIST, Op::StartDaemon) => Error::DaemonRunning,
            (Errno::ENODEV, Op::StartDaemon) => Error::NoSuchInterface { interface: None },
            (Errno::ESRCH, Op::StopDaemon) => Error::NoDaemon,
            (
                Errno::ESRCH,
                Op::UpdateService
                | Op::DeleteService
                | Op::GetService
                | Op::Zero
                | Op::AddDestination
                | Op::UpdateDestination
                | Op::DeleteDestination,
            ) => Error::NoSuchService { op, service: None },
            (Errno::ENOENT, Op::AddService | Op::UpdateService) => {
                let (scheduler, pe) = subject
                    .names
                    .as_ref()
                    .map_or(("", None), |(s, pe)| (s.as_str(), pe.as_deref()));
                Error::UnknownSchedulerOrPe {
                    scheduler: scheduler.to_owned(),
                    pe: pe.map(str::to_owned),
                }
            }
            (Errno::ENOENT, Op::UpdateDestination | Op::DeleteDestination) => {
                Error::NoSuchDestination {
                    op,
                    service: None,
                    destination: None,
                }
            }
            (Errno::ENOENT, Op::ResolveFamily) => Error::IpvsUnavailable,
            _ => Error::Kernel { op, errno, ext_ack },
        }
    }

    /// The kernel errno behind this error, when it came from the kernel
    /// (`ServiceExists` gives `EEXIST`, ...).
    pub fn raw_os_error(&self) -> Option<i32> {
        use nix::errno::Errno;
        let errno = match self {
            Error::ServiceExists { .. }
            | Error::DestinationExists { .. }
            | Error::DaemonRunning => Errno::EEXIST,
            Error::NoSuchService { .. } | Error::NoDaemon => Errno::ESRCH,
            Error::NoSuchDestination { .. } | Error::UnknownSchedulerOrPe { .. } => Errno::ENOENT,
            Error::NoSuchInterface { .. } => Errno::ENODEV,
            Error::PermissionDenied { .. } => Errno::EPERM,
            Error::Overrun { .. } => Errno::ENOBUFS,
            Error::Kernel { errno, .. } => return Some(*errno),
            Error::Io { source, .. } => return source.raw_os_error(),
            Error::Namespace(e) => return e.source.raw_os_error(),
            _ => return None,
        };
        Some(errno as i32)
    }

    /// Whether the request that failed may have changed the kernel's table
    /// anyway: true when its fate is unknown (its reply was lost or late,
    /// or could not be read), false when the kernel refused it, the crate
    /// refused it before sending, or it was never sent. What a rollback
    /// must undo.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Overrun { .. }
                | Error::Truncated { .. }
                | Error::Decode { .. }
                | Error::UnexpectedReply { .. }
                | Error::Io { .. }
                | Error::Internal { .. }
        )
    }

    /// True for "the thing is not there" errors (no such service or
    /// destination, no daemon): what delete-if-exists callers ignore.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::NoSuchService { .. } | Error::NoSuchDestination { .. } | Error::NoDaemon
        )
    }

    /// True for "already exists" errors.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            Error::ServiceExists { .. } | Error::DestinationExists { .. } | Error::DaemonRunning
        )
    }

    /// The extended-ACK text the kernel attached, if any.
    pub fn ext_ack(&self) -> Option<&ExtAck> {
        match self {
            Error::Kernel { ext_ack, .. } if !ext_ack.is_empty() => Some(ext_ack),
            _ => None,
        }
    }

    /// Names the service and destination a kernel error is about, for the
    /// message.
    fn about(mut self, key: &ServiceKey, dest: Option<SocketAddr>) -> Self {
        match &mut self {
            Error::ServiceExists { service } | Error::NoSuchService { service, .. } => {
                *service = Some(*key)
            }
            Error::DestinationExists {
                service,
                destination,
            }
            | Error::NoSuchDestination {
                service,
                destination,
                ..
            } => {
                *service = Some(*key);
                *destination = dest;
            }
            _ => {}
        }
        self
    }

    /// Names the sync daemon's interface in [`Error::NoSuchInterface`].
    pub(crate) fn about_interface(mut self, name: &str) -> Self {
        if let Error::NoSuchInterface { interface } = &mut self {
            *interface = Some(name.to_owned());
        }
        self
    }

    /// An error opening the netlink socket for `op`: [`Error::Namespace`]
    /// when the namespace could not be opened or entered (the socket
    /// constructors carry it inside their `io::Error`), [`Error::Io`]
    /// otherwise.
    pub(crate) fn opening_socket(op: Op, source: std::io::Error) -> Self {
        match NamespaceError::from_io(source) {
            Ok(namespace) => Error::Namespace(namespace),
            Err(source) => Error::Io { op, source },
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

/// A value the kernel would refuse, found before anything was sent.
impl From<Problem> for Error {
    fn from(problem: Problem) -> Self {
        Error::InvalidArgument {
            field: problem.field,
            reason: problem.reason,
        }
    }
}

/// A connection table given as text did not parse
/// ([`crate::conn::parse_connections`]).
impl From<crate::conn::ConnParseError> for Error {
    fn from(e: crate::conn::ConnParseError) -> Self {
        Error::ConnectionTable(e.into())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    fn map(op: Op, errno: Errno) -> Error {
        let subject = Subject {
            names: Some(("nope".into(), None)),
            ..Subject::default()
        };
        Error::from_kernel(op, errno as i32, ExtAck::default(), &subject)
    }

    #[test]
    fn errno_meaning_depends_on_the_operation() {
        assert!(matches!(
            map(Op::AddService, Errno::EEXIST),
            Error::ServiceExists { .. }
        ));
        assert!(matches!(
            map(Op::AddDestination, Errno::EEXIST),
            Error::DestinationExists { .. }
        ));
        assert!(matches!(
            map(Op::AddService, Errno::ENOENT),
            Error::UnknownSchedulerOrPe { scheduler, pe: None } if scheduler == "nope"
        ));
        assert!(matches!(
            map(Op::DeleteDestination, Errno::ENOENT),
            Error::NoSuchDestination { .. }
        ));
        assert!(matches!(
            map(Op::AddDestination, Errno::ESRCH),
            Error::NoSuchService { .. }
        ));
        assert!(matches!(map(Op::StopDaemon, Errno::ESRCH), Error::NoDaemon));
        assert!(matches!(
            map(Op::StartDaemon, Errno::EEXIST),
            Error::DaemonRunning
        ));
        assert!(matches!(
            map(Op::Flush, Errno::EPERM),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(
            map(Op::ResolveFamily, Errno::ENOENT),
            Error::IpvsUnavailable
        ));
        assert!(matches!(
            map(Op::AddService, Errno::EINVAL),
            Error::Kernel { errno, .. } if errno == Errno::EINVAL as i32
        ));
    }

    #[test]
    fn typed_errors_keep_their_errno() {
        for (op, errno) in [
            (Op::AddService, Errno::EEXIST),
            (Op::DeleteDestination, Errno::ENOENT),
            (Op::DeleteService, Errno::ESRCH),
            (Op::SetTimeouts, Errno::EINVAL),
        ] {
            assert_eq!(map(op, errno).raw_os_error(), Some(errno as i32));
        }
    }

    #[test]
    fn internal_error_names_the_invariant_and_asks_for_a_report() {
        let text = Error::Internal {
            what: "the protocol ends every request of an exchange",
        }
        .to_string();
        assert_eq!(
            text,
            "internal error in ipvs-rs: the protocol ends every request of an exchange \
             does not hold; this is a bug, please report it"
        );
    }

    #[test]
    fn kernel_error_message_includes_ext_ack() {
        let e = Error::from_kernel(
            Op::AddDestination,
            Errno::ERANGE as i32,
            ExtAck {
                message: Some("weight out of range".into()),
                offset: Some(40),
                missing_type: None,
            },
            &Subject::default(),
        );
        let text = e.to_string();
        assert!(text.contains("adding a destination (ipvsadm -a)"), "{text}");
        assert!(text.contains("weight out of range, at byte 40"), "{text}");
    }

    #[test]
    fn enodev_on_start_daemon_names_the_interface() {
        let e = map(Op::StartDaemon, Errno::ENODEV);
        assert!(matches!(e, Error::NoSuchInterface { interface: None }));
        let e = e.about_interface("eth9");
        assert_eq!(
            e.to_string(),
            "no network interface eth9 in this network namespace for the sync daemon \
             (--mcast-interface)"
        );
        assert_eq!(e.raw_os_error(), Some(Errno::ENODEV as i32));
        // ENODEV means something else elsewhere.
        assert!(matches!(
            map(Op::AddDestination, Errno::ENODEV),
            Error::Kernel { .. }
        ));
    }

    #[test]
    fn a_socket_that_could_not_enter_its_namespace_is_a_namespace_error() {
        let io: std::io::Error =
            crate::netns::run_in_named_netns("ipvs-rs-no-such-namespace", || {
                Ok::<_, std::io::Error>(())
            })
            .unwrap_err();
        let e = Error::opening_socket(Op::ResolveFamily, io);
        let Error::Namespace(namespace) = &e else {
            panic!("{e:?}");
        };
        assert_eq!(namespace.namespace, "/run/netns/ipvs-rs-no-such-namespace");
        assert_eq!(e.raw_os_error(), Some(Errno::ENOENT as i32));
        let plain = Error::opening_socket(Op::ResolveFamily, std::io::Error::other("x"));
        assert!(matches!(plain, Error::Io { .. }));
    }

    /// The messages of `e` and of every error below it.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(cause) = next {
            out.push(cause.to_string());
            next = cause.source();
        }
        out
    }

    #[test]
    fn wrapped_causes_are_sources() {
        let kernel = Error::from_kernel(
            Op::AddService,
            Errno::EINVAL as i32,
            ExtAck::default(),
            &Subject::default(),
        );
        let kernel_text = kernel.to_string();
        let apply = Error::ApplyFailed {
            step: 2,
            command: "-A -t 203.0.113.1:80 -s rr".into(),
            cause: Box::new(kernel),
            rollback: Rollback::Complete { undone: 1 },
        };
        let links = chain(&apply);
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!(links[1], kernel_text);
        let cause = std::error::Error::source(&apply)
            .and_then(|cause| cause.downcast_ref::<Box<Error>>())
            .expect("the cause is the typed kernel error");
        assert_eq!(cause.raw_os_error(), Some(Errno::EINVAL as i32));

        let io = Error::Io {
            op: Op::Flush,
            source: std::io::Error::from_raw_os_error(Errno::EBADF as i32),
        };
        let source = std::error::Error::source(&io).unwrap();
        let io_source = source.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io_source.raw_os_error(), Some(Errno::EBADF as i32));

        // A wrapped crate error shows its own message and keeps its cause.
        let namespace: Error =
            crate::netns::run_in_named_netns("ipvs-rs-no-such-namespace", || {
                Ok::<_, crate::NamespaceError>(())
            })
            .unwrap_err()
            .into();
        let links = chain(&namespace);
        assert_eq!(
            links,
            [
                "cannot open the network namespace /run/netns/ipvs-rs-no-such-namespace: \
                 No such file or directory (os error 2)",
                "No such file or directory (os error 2)"
            ]
        );
    }

    #[test]
    fn question_mark_converts_the_crate_s_errors() {
        fn key(text: &str) -> Result<ServiceKey> {
            Ok(text.parse::<ServiceKey>()?)
        }
        match key("tcp:203.0.113.1") {
            Err(Error::Parse(e)) => assert_eq!(e.field(), "address"),
            other => panic!("{other:?}"),
        }
        fn table(text: &str) -> Result<usize> {
            Ok(crate::conn::parse_connections(text)?.len())
        }
        assert!(matches!(table(""), Err(Error::ConnectionTable(_))));
        fn sysctl() -> Result<()> {
            crate::sysctl::Sysctls::current().set(
                crate::sysctl::Sysctl::DropPacket,
                crate::sysctl::SysctlValue::Int(7),
            )?;
            Ok(())
        }
        assert!(matches!(sysctl(), Err(Error::Sysctl(_))));
    }
}
