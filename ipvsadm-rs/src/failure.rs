// SPDX-License-Identifier: MIT OR Apache-2.0
//! How a run fails: ipvsadm's exit status and ipvsadm's own words for the
//! case on the first line of stderr (scripts grep for them), then what this
//! tool adds on the lines after.

use std::fmt;

use ipvs::{Error, Op};

/// ipvsadm's `fail(2, ...)`: a command line it refuses, or IPVS that
/// cannot be opened.
pub const EXIT_USAGE: u8 = 2;
/// ipvsadm's `return -1` (255): popt's own errors, `Try ... -h`, and a
/// change the kernel refused.
pub const EXIT_REFUSED: u8 = 255;
/// ipvsadm's `exit(1)` when a listing cannot be read.
pub const EXIT_LISTING: u8 = 1;

/// The Linux errno values ipvsadm words specially (`asm-generic/errno*.h`).
mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const ENOMEM: i32 = 12;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EMSGSIZE: i32 = 90;
    pub const ENOPROTOOPT: i32 = 92;
    pub const EOPNOTSUPP: i32 = 95;
    pub const EAFNOSUPPORT: i32 = 97;
}
use errno::*;

/// A failed run: the exit status, ipvsadm's message, and the explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The exit status ipvsadm has for the same case.
    pub status: u8,
    /// ipvsadm's message, verbatim: the first line on stderr.
    pub message: String,
    /// What went wrong and what to do, one line each, after the message.
    pub details: Vec<String>,
}

impl Failure {
    /// A command line ipvsadm refuses with `fail(2, message)`.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, message)
    }

    /// An error ipvsadm reports and then returns -1 for (exit status 255).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(EXIT_REFUSED, message)
    }

    /// ipvsadm's `tryhelp_exit`: the first option is not a command.
    pub fn try_help(program: &str) -> Self {
        Self::refused(format!(
            "Try `{program} -h' or '{program} --help' for more information."
        ))
    }

    /// The kernel refused request `op` with `error` (or `ipvs` refused it
    /// before sending it, for a reason the kernel has too): libipvs's words
    /// for the errno, then the crate's explanation. Status 255, as ipvsadm
    /// returns for a refused change; listings set [`EXIT_LISTING`].
    pub fn kernel(op: Op, error: &Error) -> Self {
        let message = match kernel_errno(error) {
            Some(errno) => ipvsadm_words(op, errno),
            None => error.to_string(),
        };
        let failure = Self::refused(message);
        match error {
            Error::InvalidArgument { .. } => failure
                .detail(error.to_string())
                .detail("(refused before it was sent: the kernel refuses it too)"),
            _ if kernel_errno(error).is_some() => failure.detail(error.to_string()),
            _ => failure,
        }
    }

    /// IPVS could not be opened: ipvsadm's `ipvs_init` failure (status 2).
    pub fn init(error: &Error) -> Self {
        let cause = match error {
            // libipvs falls back to the sockopt interface, which says this.
            Error::IpvsUnavailable => "Protocol not available".to_owned(),
            other => match kernel_errno(other) {
                Some(errno) => ipvsadm_words(Op::ResolveFamily, errno),
                None => other.to_string(),
            },
        };
        Self::usage(format!("Can't initialize ipvs: {cause}"))
            .detail("Are you sure that IP Virtual Server is built in the kernel or as module?")
            .detail(error.to_string())
    }

    /// Adds a line of explanation.
    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    /// The same failure with another exit status.
    pub fn with_status(mut self, status: u8) -> Self {
        self.status = status;
        self
    }

    fn new(status: u8, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for line in &self.details {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}

/// The errno the kernel gave for `error`, or would have given for a request
/// `ipvs` refused before sending it.
fn kernel_errno(error: &Error) -> Option<i32> {
    match error {
        Error::InvalidArgument { field, .. } => Some(match *field {
            // ip_vs_add_dest / ip_vs_edit_dest: l_threshold > u_threshold.
            "lower threshold" => ERANGE,
            // start_sync_thread: no interface by that name.
            "interface" => ENODEV,
            // No module ip_vs_<name> / ip_vs_pe_<name> to load.
            "scheduler" | "persistence engine" => ENOENT,
            // Not unicast, a timeout over INT_MAX / HZ, ...
            _ => EINVAL,
        }),
        other => other.raw_os_error(),
    }
}

/// libipvs's `ipvs_strerror`: ipvsadm's words for `errno` from the call
/// behind `op`, else the C library's `strerror`.
pub fn ipvsadm_words(op: Op, errno: i32) -> String {
    use Op::*;
    let words = match (op, errno) {
        (AddService, EEXIST) => "Service already exists",
        (AddService | UpdateService, ENOENT) => "Scheduler or persistence engine not found",
        (
            UpdateService | DeleteService | Zero | GetService | ListServices | ListDestinations,
            ESRCH,
        ) => "No such service",
        (AddDestination | UpdateDestination | DeleteDestination, ESRCH) => "Service not defined",
        (AddDestination, EEXIST) => "Destination already exists",
        (UpdateDestination | DeleteDestination, ENOENT) => "No such destination",
        (StartDaemon, EEXIST) => "Daemon has already run",
        (StopDaemon, ESRCH) => "No daemon is running",
        (_, EPERM) => "Permission denied (you must be root)",
        (_, EINVAL) => {
            "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        }
        (_, ENOPROTOOPT) => "Protocol not available",
        (_, ENOMEM) => "Memory allocation problem",
        (_, EOPNOTSUPP) => "Operation not supported with IPv6",
        (_, EAFNOSUPPORT) => "Operation not supported with specified address family",
        (_, EMSGSIZE) => "Module is wrong version",
        _ => return strerror(errno),
    };
    words.to_owned()
}

/// The C library's `strerror` text (what Rust's `io::Error` shows before
/// " (os error N)").
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_errno_means_what_the_call_makes_it_mean() {
        assert_eq!(
            ipvsadm_words(Op::AddService, EEXIST),
            "Service already exists"
        );
        assert_eq!(
            ipvsadm_words(Op::AddDestination, EEXIST),
            "Destination already exists"
        );
        assert_eq!(ipvsadm_words(Op::DeleteService, ESRCH), "No such service");
        assert_eq!(
            ipvsadm_words(Op::DeleteDestination, ESRCH),
            "Service not defined"
        );
        assert_eq!(ipvsadm_words(Op::StopDaemon, ESRCH), "No daemon is running");
        assert_eq!(
            ipvsadm_words(Op::AddDestination, ERANGE),
            "Numerical result out of range"
        );
        assert_eq!(ipvsadm_words(Op::StartDaemon, ENODEV), "No such device");
        assert_eq!(
            ipvsadm_words(Op::Flush, ENOMEM),
            "Memory allocation problem"
        );
    }

    #[test]
    fn a_request_ipvs_refuses_gets_the_kernels_words() {
        let refused = Error::InvalidArgument {
            field: "lower threshold",
            reason: "10 exceeds the upper threshold 5".into(),
        };
        let f = Failure::kernel(Op::AddDestination, &refused);
        assert_eq!(f.message, "Numerical result out of range");
        assert_eq!(f.status, EXIT_REFUSED);
        assert!(f.details[0].contains("10 exceeds"), "{f}");
        let exists = Error::ServiceExists { service: None };
        let f = Failure::kernel(Op::AddService, &exists);
        assert_eq!(f.to_string().lines().next(), Some("Service already exists"));
    }

    #[test]
    fn init_failures_read_as_ipvsadms() {
        let f = Failure::init(&Error::IpvsUnavailable);
        assert_eq!(f.status, EXIT_USAGE);
        assert_eq!(f.message, "Can't initialize ipvs: Protocol not available");
        assert_eq!(
            f.details[0],
            "Are you sure that IP Virtual Server is built in the kernel or as module?"
        );
    }
}
