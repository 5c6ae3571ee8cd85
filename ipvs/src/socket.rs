// SPDX-License-Identifier: MIT OR Apache-2.0
//! The sockets under the two handles: a blocking `NETLINK_GENERIC` socket
//! ([`NetlinkSocket`], `poll` for the deadline) and, with the `tokio`
//! feature, the same socket registered with tokio's reactor
//! ([`TokioNetlinkSocket`]). Both are opened the same way, in a network
//! namespace they remember so that a socket can be replaced by a fresh one
//! in the same namespace (see [`crate::proto::Protocol::retire`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::netns;
use crate::transport::{Received, Transport};

/// How much a socket reads at a time decides how large the kernel makes
/// every dump datagram it sends that socket afterwards: `netlink_dump()`
/// allocates the larger of `NLMSG_GOODSIZE` and the largest read the socket
/// has ever made (`max_recvmsg_len`, capped at 32 KiB), and kernels built
/// with `init_on_alloc` (Debian's among them) zero all of it. A small dump
/// (one service's destinations, and the `NLMSG_DONE` after it) then costs
/// two zeroed 32 KiB buffers; read a page at a time, two slab objects. So
/// a handle's socket reads a page at a time ([`narrow_recv_len`]), and
/// service dumps, which the kernel resumes by walking its table from the
/// start for every datagram, run on a second socket that reads
/// [`WIDE_RECV_LEN`] (see `Session::services`).
pub(crate) const WIDE_RECV_LEN: usize = 64 * 1024;

/// The page size: never less than `NLMSG_GOODSIZE` (a page or 8 KiB less
/// the skb's overhead), the smallest datagram the kernel fills, so no reply
/// is ever truncated. [`WIDE_RECV_LEN`] if the page size is unknown. Asked
/// of the system once: every dump consults it ([`least_dump_room`]).
pub(crate) fn narrow_recv_len() -> usize {
    use nix::unistd::{SysconfVar, sysconf};
    static LEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LEN.get_or_init(|| match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(page)) => usize::try_from(page).unwrap_or(WIDE_RECV_LEN),
        _ => WIDE_RECV_LEN,
    })
}

/// More than `sizeof(struct skb_shared_info)` (320 bytes on x86-64),
/// which the kernel takes off every dump allocation for its own use.
const SHARED_INFO_BOUND: usize = 1024;

/// The least room the kernel had for a dump datagram that came `len` bytes
/// long to a socket that reads `recv_len` at a time. `netlink_dump()`
/// allocates either `NLMSG_GOODSIZE` (a page or 8 KiB, whichever is less,
/// less the shared info: never less than a 4 KiB page less it) or, when
/// larger and it can, the largest read the socket has made
/// (`max_recvmsg_len`, at most 32 KiB less the shared info), and fills no
/// more than that. A datagram longer than a page or 8 KiB can only have
/// come from the second.
pub(crate) fn least_dump_room(len: usize, recv_len: usize) -> usize {
    if len > narrow_recv_len().min(8192) {
        recv_len.min(32 * 1024).saturating_sub(SHARED_INFO_BOUND)
    } else {
        4096 - SHARED_INFO_BOUND
    }
}

/// The receive queue a socket asks for: room for a few of the largest dump
/// datagrams in flight (the kernel doubles it).
const RECEIVE_QUEUE: usize = 256 * 1024;

/// The network namespace a handle's socket lives in, kept open so that the
/// socket can be opened again there.
#[derive(Debug)]
pub(crate) struct Namespace {
    /// `None`: the namespace of whichever thread opens the socket (when the
    /// calling thread's namespace file could not be opened).
    file: Option<OwnedFd>,
}

impl Namespace {
    /// The calling thread's network namespace.
    pub(crate) fn current() -> Self {
        let file = File::open("/proc/thread-self/ns/net")
            .map_err(|e| log::debug!("cannot keep the current network namespace open: {e}"))
            .ok()
            .map(OwnedFd::from);
        Self { file }
    }

    /// The namespace `fd` refers to (a file under `/run/netns/`,
    /// `/proc/PID/ns/net`, ...).
    pub(crate) fn of_fd(fd: BorrowedFd<'_>) -> io::Result<Self> {
        Ok(Self {
            file: Some(fd.try_clone_to_owned()?),
        })
    }

    /// The namespace file at `path`.
    pub(crate) fn at_path(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: Some(netns::open_netns(path)?.into()),
        })
    }

    /// The same namespace, for a second socket.
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            file: self.file.as_ref().map(OwnedFd::try_clone).transpose()?,
        })
    }

    /// The named namespace `/run/netns/NAME` (as made by `ip netns add`).
    pub(crate) fn named(name: &str) -> io::Result<Self> {
        Self::at_path(&netns::named_netns_path(name)?)
    }

    /// Opens a configured generic-netlink socket in this namespace, without
    /// moving the calling thread; returns it and its port id. When the
    /// calling thread is in the namespace already, the socket is opened
    /// right here: entering a namespace (`setns`) needs `CAP_SYS_ADMIN`,
    /// which a handle in its own namespace must not require.
    fn open_socket(&self) -> io::Result<(Socket, u32)> {
        match &self.file {
            Some(file) if !Self::is_current(file.as_fd()) => {
                netns::run_in_netns_fd(file.as_fd(), open_socket)
            }
            _ => open_socket(),
        }
    }

    /// Whether `file` is the calling thread's network namespace (same
    /// device and inode as `/proc/thread-self/ns/net`).
    fn is_current(file: BorrowedFd<'_>) -> bool {
        let id = |stat: nix::sys::stat::FileStat| (stat.st_dev, stat.st_ino);
        match (
            nix::sys::stat::fstat(file),
            nix::sys::stat::stat("/proc/thread-self/ns/net"),
        ) {
            (Ok(ours), Ok(current)) => id(ours) == id(current),
            _ => false,
        }
    }
}

/// A generic-netlink socket connected to the kernel.
///
/// Opened with extended ACKs (`NETLINK_EXT_ACK`) so errors carry the
/// kernel's text, and capped ACKs (`NETLINK_CAP_ACK`) so an ACK does not
/// echo the whole request.
fn open_socket() -> io::Result<(Socket, u32)> {
    let mut socket = Socket::new(NETLINK_GENERIC)?;
    let address = socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // Both are optional kernel features (4.12+ / 4.3+); errors stay
    // readable without them.
    if let Err(e) = socket.set_ext_ack(true) {
        log::debug!("NETLINK_EXT_ACK unavailable: {e}");
    }
    if let Err(e) = socket.set_cap_ack(true) {
        log::debug!("NETLINK_CAP_ACK unavailable: {e}");
    }
    let rcvbuf = nix::libc::c_int::try_from(RECEIVE_QUEUE).unwrap_or(nix::libc::c_int::MAX);
    if let Err(e) = socket.set_rx_buf_sz(rcvbuf) {
        log::debug!("SO_RCVBUF: {e}");
    }
    Ok((socket, address.port_number()))
}

/// Receives one datagram if one is queued (`MSG_DONTWAIT`), with its real
/// length (`MSG_TRUNC`) and sender.
fn recv_now(socket: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut window: &mut [u8] = buf;
    let (len, from) =
        socket.recv_from(&mut window, nix::libc::MSG_TRUNC | nix::libc::MSG_DONTWAIT)?;
    Ok(Received {
        len,
        sender: from.port_number(),
    })
}

/// Sends one datagram, which must go whole.
fn send_whole(socket: &Socket, datagram: &[u8]) -> io::Result<()> {
    let sent = socket.send(datagram, 0)?;
    if sent != datagram.len() {
        return Err(io::Error::other(format!(
            "short netlink send: {sent} of {} bytes",
            datagram.len()
        )));
    }
    Ok(())
}

/// Makes the receive queue hold `wanted` bytes if it can and returns what
/// it really holds: `SO_RCVBUFFORCE` (CAP_NET_ADMIN, which IPVS needs
/// anyway) ignores `net.core.rmem_max`, `SO_RCVBUF` is capped by it; either
/// way the kernel doubles the value and `getsockopt` reports the doubled
/// size it charges skbs against.
fn reserve_receive_queue(socket: &Socket, wanted: usize) -> usize {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Err(e) = setsockopt(socket, sockopt::RcvBufForce, &wanted) {
        log::debug!("SO_RCVBUFFORCE: {e}; trying SO_RCVBUF");
        let _ = setsockopt(socket, sockopt::RcvBuf, &wanted);
    }
    socket.get_rx_buf_sz().unwrap_or_else(|e| {
        log::debug!("getsockopt(SO_RCVBUF): {e}");
        2 * RECEIVE_QUEUE
    })
}

/// The blocking socket of [`crate::Ipvs`]: receives with `poll` for the
/// deadline.
#[derive(Debug)]
pub(crate) struct NetlinkSocket {
    socket: Socket,
    port: u32,
    namespace: Namespace,
}

impl NetlinkSocket {
    /// Opens a socket in `namespace`.
    pub(crate) fn open(namespace: Namespace) -> io::Result<Self> {
        let (socket, port) = namespace.open_socket()?;
        Ok(Self {
            socket,
            port,
            namespace,
        })
    }
}

impl Transport for NetlinkSocket {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        send_whole(&self.socket, datagram)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>> {
        // Replies are usually queued already (the kernel answers inside
        // sendmsg): try first, and read the clock and poll only when the
        // queue is empty.
        let mut deadline = None;
        loop {
            match recv_now(&self.socket, buf) {
                Ok(received) => return Ok(Some(received)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            // Round up so a sub-millisecond remainder still waits.
            let millis = remaining.as_micros().div_ceil(1000);
            let wait = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => return Ok(None),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn local_port(&self) -> u32 {
        self.port
    }

    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        reserve_receive_queue(&self.socket, wanted)
    }

    fn reopen(&mut self) -> io::Result<()> {
        let (socket, port) = self.namespace.open_socket()?;
        // The old socket closes on drop, ending any dump running on it.
        self.socket = socket;
        self.port = port;
        Ok(())
    }

    fn sibling(&self) -> io::Result<Option<Box<dyn Transport>>> {
        Ok(Some(Box::new(Self::open(self.namespace.try_clone()?)?)))
    }
}

#[cfg(feature = "tokio")]
pub(crate) use self::tokio_socket::{AsyncLink, OtherTransport, TokioNetlinkSocket};

#[cfg(feature = "tokio")]
mod tokio_socket {
    use super::*;
    use crate::transport::{AsyncTransport, Link};
    use tokio::io::unix::AsyncFd;

    /// The socket of [`crate::AsyncIpvs`]: the same socket, non-blocking and
    /// registered with tokio's reactor. netlink-sys's own `TokioSocket`
    /// receives without `MSG_TRUNC`, which would hide a truncated datagram,
    /// so this wraps [`Socket`] in [`AsyncFd`] the same way, with the
    /// receive the blocking socket makes.
    #[derive(Debug)]
    pub(crate) struct TokioNetlinkSocket {
        fd: AsyncFd<Socket>,
        port: u32,
        namespace: Namespace,
    }

    impl TokioNetlinkSocket {
        /// Opens a socket in `namespace` and registers it with the current
        /// tokio runtime (an error, not a panic, outside one).
        pub(crate) fn open(namespace: Namespace) -> io::Result<Self> {
            let (fd, port) = Self::register(&namespace)?;
            Ok(Self {
                fd,
                port,
                namespace,
            })
        }

        fn register(namespace: &Namespace) -> io::Result<(AsyncFd<Socket>, u32)> {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(io::Error::other(
                    "AsyncIpvs needs a tokio runtime with I/O enabled",
                ));
            }
            let (socket, port) = namespace.open_socket()?;
            socket.set_non_blocking(true)?;
            // SAFETY: `Socket` owns its file descriptor and closes it only
            // on drop; nothing else closes or replaces it while the
            // `AsyncFd` owns the socket (the contract of `register`).
            #[allow(unsafe_code)]
            let fd = unsafe { AsyncFd::register(socket)? };
            Ok((fd, port))
        }

        pub(crate) fn local_port(&self) -> u32 {
            self.port
        }

        pub(crate) async fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            loop {
                let mut ready = self.fd.writable().await?;
                match ready.try_io(|fd| send_whole(fd.get_ref(), datagram)) {
                    Ok(result) => return result,
                    Err(_would_block) => continue,
                }
            }
        }

        pub(crate) async fn recv(
            &mut self,
            buf: &mut [u8],
            deadline: Option<Instant>,
        ) -> io::Result<Option<Received>> {
            loop {
                // Replies are usually queued already: try before waiting.
                match recv_now(self.fd.get_ref(), buf) {
                    Ok(received) => return Ok(Some(received)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                let Some(deadline) = deadline else {
                    return Ok(None);
                };
                let readable = tokio::time::timeout_at(deadline.into(), self.fd.readable()).await;
                let Ok(ready) = readable else {
                    return Ok(None);
                };
                match ready?.try_io(|fd| recv_now(fd.get_ref(), buf)) {
                    Ok(result) => return result.map(Some),
                    Err(_would_block) => continue,
                }
            }
        }

        pub(crate) fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
            reserve_receive_queue(self.fd.get_ref(), wanted)
        }

        pub(crate) fn reopen(&mut self) -> io::Result<()> {
            let (fd, port) = Self::register(&self.namespace)?;
            self.fd = fd;
            self.port = port;
            Ok(())
        }

        /// A second socket in the same namespace.
        pub(crate) fn sibling(&self) -> io::Result<Self> {
            Self::open(self.namespace.try_clone()?)
        }
    }

    /// The asynchronous driver: the tokio socket, or another transport.
    #[derive(Debug)]
    pub(crate) enum AsyncLink {
        Socket(TokioNetlinkSocket),
        Other(OtherTransport),
    }

    /// A boxed [`AsyncTransport`] (Debug for the handle's Debug).
    pub(crate) struct OtherTransport(pub(crate) Box<dyn AsyncTransport>);

    impl std::fmt::Debug for OtherTransport {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("AsyncTransport")
        }
    }

    impl Link for AsyncLink {
        fn local_port(&self) -> u32 {
            match self {
                AsyncLink::Socket(s) => s.local_port(),
                AsyncLink::Other(t) => t.0.local_port(),
            }
        }

        async fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            match self {
                AsyncLink::Socket(s) => s.send(datagram).await,
                AsyncLink::Other(t) => t.0.send(datagram).await,
            }
        }

        async fn recv(
            &mut self,
            buf: &mut [u8],
            deadline: Option<Instant>,
        ) -> io::Result<Option<Received>> {
            match self {
                AsyncLink::Socket(s) => s.recv(buf, deadline).await,
                AsyncLink::Other(t) => t.0.recv(buf, deadline).await,
            }
        }

        fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
            match self {
                AsyncLink::Socket(s) => s.reserve_receive_queue(wanted),
                AsyncLink::Other(t) => t.0.reserve_receive_queue(wanted),
            }
        }

        fn reopen(&mut self) -> io::Result<()> {
            match self {
                AsyncLink::Socket(s) => s.reopen(),
                AsyncLink::Other(t) => t.0.reopen(),
            }
        }

        fn sibling(&self) -> io::Result<Option<Self>> {
            match self {
                AsyncLink::Socket(s) => s.sibling().map(|s| Some(AsyncLink::Socket(s))),
                AsyncLink::Other(t) => {
                    Ok(t.0.sibling()?.map(|t| AsyncLink::Other(OtherTransport(t))))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_namespace_is_recognised_as_current() {
        let namespace = Namespace::current();
        let file = namespace.file.as_ref().expect("/proc is mounted");
        assert!(Namespace::is_current(file.as_fd()));
        // And a socket opens there without entering it (no CAP_SYS_ADMIN).
        NetlinkSocket::open(namespace).unwrap();
    }
}
