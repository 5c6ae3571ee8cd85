// SPDX-License-Identifier: MIT OR Apache-2.0
//! Doing one thing inside another network namespace without moving the
//! calling thread: a short-lived thread enters the namespace (`setns`), does
//! the work and ends. Whatever it opened (a netlink socket, a `/proc` file)
//! stays bound to that namespace.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Where `ip netns add NAME` puts its namespaces.
pub(crate) const NAMED_NETNS_DIR: &str = "/run/netns";

/// Runs `work` on a new thread that first enters the network namespace `fd`
/// refers to (a file under `/run/netns/`, `/proc/PID/ns/net`, ...). Needs
/// `CAP_SYS_ADMIN`. A failure to enter comes back as `E::from(io::Error)`.
pub(crate) fn run_in_netns_fd<T: Send, E: Send + From<io::Error>>(
    fd: BorrowedFd<'_>,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked").into()))
    })
}

/// [`run_in_netns_fd`] for the namespace file at `path`.
pub(crate) fn run_in_netns_path<T: Send, E: Send + From<io::Error>>(
    path: &Path,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    let file = File::open(path)?;
    run_in_netns_fd(file.as_fd(), work)
}

/// [`run_in_netns_fd`] for the named namespace `/run/netns/NAME` (as created
/// by `ip netns add NAME`).
pub(crate) fn run_in_named_netns<T: Send, E: Send + From<io::Error>>(
    name: &str,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    run_in_netns_path(&named_netns_path(name)?, work)
}

/// `/run/netns/NAME`; a name that is not a single path component is
/// refused with `InvalidInput`.
pub(crate) fn named_netns_path(name: &str) -> io::Result<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid network namespace name {name:?}"),
        ));
    }
    Ok(Path::new(NAMED_NETNS_DIR).join(name))
}
