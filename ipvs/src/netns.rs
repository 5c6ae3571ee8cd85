// SPDX-License-Identifier: MIT OR Apache-2.0
//! Doing one thing inside another network namespace without moving the
//! calling thread: a short-lived thread enters the namespace (`setns`), does
//! the work and ends. Whatever it opened (a netlink socket, a `/proc` file)
//! stays bound to that namespace.
//!
//! A failure to open or enter the namespace is a [`NamespaceError`] naming
//! it; where the caller's error is an `io::Error`, that error carries the
//! [`NamespaceError`] (same kind, same message).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Where `ip netns add NAME` puts its namespaces.
pub(crate) const NAMED_NETNS_DIR: &str = "/run/netns";

/// A network namespace could not be opened or entered: `ip netns exec NAME`
/// failing before it runs anything. Names the namespace (its file, or the
/// descriptor it was given by) and keeps the system error as its source.
///
/// ```
/// let err = ipvs::Ipvs::in_netns("ipvs-rs-no-such-namespace").unwrap_err();
/// assert!(err.to_string().contains("/run/netns/ipvs-rs-no-such-namespace"), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} the network namespace {namespace}: {source}")]
#[non_exhaustive]
pub struct NamespaceError {
    /// The namespace: its file (`/run/netns/NAME`, `/proc/PID/ns/net`) or
    /// `"of file descriptor N"` when it was given as a descriptor.
    pub namespace: String,
    /// What failed: `"open"` (the file) or `"enter"` (`setns`, which needs
    /// `CAP_SYS_ADMIN`).
    pub action: &'static str,
    /// The system error (`ENOENT` for a namespace that does not exist).
    #[source]
    pub source: io::Error,
}

impl NamespaceError {
    fn new(namespace: String, action: &'static str, source: io::Error) -> Self {
        Self {
            namespace,
            action,
            source,
        }
    }

    /// Takes the `NamespaceError` out of an `io::Error` made from one; the
    /// `io::Error` itself when it is something else.
    pub(crate) fn from_io(e: io::Error) -> Result<Self, io::Error> {
        if !e
            .get_ref()
            .is_some_and(|inner| inner.is::<NamespaceError>())
        {
            return Err(e);
        }
        let kind = e.kind();
        match e
            .into_inner()
            .map(|inner| inner.downcast::<NamespaceError>())
        {
            Some(Ok(namespace)) => Ok(*namespace),
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(io::Error::from(kind)),
        }
    }
}

/// Keeps the kind of the system error; the message names the namespace.
impl From<NamespaceError> for io::Error {
    fn from(e: NamespaceError) -> Self {
        io::Error::new(e.source.kind(), e)
    }
}

/// Runs `work` on a new thread that first enters the network namespace `fd`
/// refers to (a file under `/run/netns/`, `/proc/PID/ns/net`, ...). Needs
/// `CAP_SYS_ADMIN`.
pub(crate) fn run_in_netns_fd<T: Send, E: Send + From<NamespaceError>>(
    fd: BorrowedFd<'_>,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    run_in(
        fd,
        || format!("of file descriptor {}", fd.as_raw_fd()),
        work,
    )
}

/// [`run_in_netns_fd`] for the namespace file at `path`.
pub(crate) fn run_in_netns_path<T: Send, E: Send + From<NamespaceError>>(
    path: &Path,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    let file = open_netns(path)?;
    run_in(file.as_fd(), || path.display().to_string(), work)
}

/// [`run_in_netns_fd`] for the named namespace `/run/netns/NAME` (as created
/// by `ip netns add NAME`).
pub(crate) fn run_in_named_netns<T: Send, E: Send + From<NamespaceError>>(
    name: &str,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    run_in_netns_path(&named_netns_path(name)?, work)
}

/// Opens the namespace file at `path`.
pub(crate) fn open_netns(path: &Path) -> Result<File, NamespaceError> {
    File::open(path).map_err(|e| NamespaceError::new(path.display().to_string(), "open", e))
}

/// `/run/netns/NAME`; a name that is not a single path component is
/// refused with `InvalidInput`.
pub(crate) fn named_netns_path(name: &str) -> Result<PathBuf, NamespaceError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(NamespaceError::new(
            format!("{name:?}"),
            "open",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a namespace name is one path component under /run/netns",
            ),
        ));
    }
    Ok(Path::new(NAMED_NETNS_DIR).join(name))
}

/// Runs `work` on a thread that has entered `fd`'s namespace; `describe`
/// names the namespace for an error.
fn run_in<T: Send, E: Send + From<NamespaceError>>(
    fd: BorrowedFd<'_>,
    describe: impl FnOnce() -> String,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    let entered = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| ("enter", io::Error::from(e)))?;
                Ok(work())
            })
            .join()
            .unwrap_or_else(|_| {
                Err((
                    "work in",
                    io::Error::other("the thread working there panicked"),
                ))
            })
    });
    match entered {
        Ok(result) => result,
        Err((action, source)) => Err(NamespaceError::new(describe(), action, source).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_named_and_keeps_its_errno() {
        let err = run_in_named_netns("ipvs-rs-no-such-namespace", || Ok::<_, NamespaceError>(()))
            .unwrap_err();
        assert_eq!(err.namespace, "/run/netns/ipvs-rs-no-such-namespace");
        assert_eq!(err.source.raw_os_error(), Some(nix::libc::ENOENT));
        assert_eq!(
            err.to_string(),
            "cannot open the network namespace /run/netns/ipvs-rs-no-such-namespace: \
             No such file or directory (os error 2)"
        );
    }

    #[test]
    fn an_io_error_carries_the_namespace_and_gives_it_back() {
        let io_err: io::Error =
            run_in_named_netns("ipvs-rs-no-such-namespace", || Ok::<_, io::Error>(())).unwrap_err();
        assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
        assert!(
            io_err
                .to_string()
                .contains("/run/netns/ipvs-rs-no-such-namespace")
        );
        let back = NamespaceError::from_io(io_err).unwrap();
        assert_eq!(back.action, "open");
        let other = NamespaceError::from_io(io::Error::other("x")).unwrap_err();
        assert_eq!(other.to_string(), "x");
    }

    #[test]
    fn a_name_with_a_slash_is_refused() {
        let err = named_netns_path("../etc").unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"../etc\""), "{err}");
    }
}
