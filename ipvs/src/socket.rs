// SPDX-License-Identifier: MIT OR Apache-2.0
//! The real transport: a blocking `NETLINK_GENERIC` socket, with `poll` for
//! the receive deadline, and opening it inside another network namespace.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::engine::{RECV_BUFFER_LEN, Received, Transport};
use crate::netns;

/// A generic-netlink socket connected to the kernel.
///
/// Opened with extended ACKs (`NETLINK_EXT_ACK`) so errors carry the kernel's
/// text, and capped ACKs (`NETLINK_CAP_ACK`) so an ACK does not echo the
/// whole request. The socket belongs to the network namespace it was
/// created in, for its whole life.
#[derive(Debug)]
pub struct NetlinkSocket {
    socket: Socket,
    port: u32,
}

impl NetlinkSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
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
        // Room for a few dump datagrams in flight (the kernel doubles it).
        let rcvbuf =
            nix::libc::c_int::try_from(4 * RECV_BUFFER_LEN).unwrap_or(nix::libc::c_int::MAX);
        if let Err(e) = socket.set_rx_buf_sz(rcvbuf) {
            log::debug!("SO_RCVBUF: {e}");
        }
        Ok(Self {
            port: address.port_number(),
            socket,
        })
    }

    /// Opens a socket inside the network namespace `fd` refers to (a file
    /// under `/run/netns/`, `/proc/PID/ns/net`, ...), without moving the
    /// calling thread: a short-lived thread enters the namespace and creates
    /// the socket, which stays in that namespace. Needs `CAP_SYS_ADMIN`.
    pub fn open_in_netns_fd(fd: BorrowedFd<'_>) -> io::Result<Self> {
        netns::run_in_netns_fd(fd, Self::open)
    }

    /// Opens a socket inside the network namespace at `path`; see
    /// [`NetlinkSocket::open_in_netns_fd`].
    pub fn open_in_netns_path(path: &Path) -> io::Result<Self> {
        netns::run_in_netns_path(path, Self::open)
    }

    /// Opens a socket inside the named network namespace
    /// (`/run/netns/NAME`, as created by `ip netns add NAME`).
    pub fn open_in_netns(name: &str) -> io::Result<Self> {
        netns::run_in_named_netns(name, Self::open)
    }
}

impl Transport for NetlinkSocket {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let sent = self.socket.send(datagram, 0)?;
        if sent != datagram.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {sent} of {} bytes",
                datagram.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>> {
        let deadline = std::time::Instant::now() + timeout;
        // Replies are usually queued already (the kernel answers inside
        // sendmsg): try first, poll only when the queue is empty.
        let mut ready = true;
        loop {
            if ready {
                let mut window: &mut [u8] = buf;
                match self
                    .socket
                    .recv_from(&mut window, nix::libc::MSG_TRUNC | nix::libc::MSG_DONTWAIT)
                {
                    Ok((len, from)) => {
                        return Ok(Some(Received {
                            len,
                            sender: from.port_number(),
                        }));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            // Round up so a sub-millisecond remainder still waits.
            let millis = remaining.as_micros().div_ceil(1000);
            let wait = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => return Ok(None),
                Ok(_) => ready = true,
                Err(nix::errno::Errno::EINTR) => ready = false,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        // SO_RCVBUFFORCE (CAP_NET_ADMIN, which IPVS needs anyway) ignores
        // net.core.rmem_max; SO_RCVBUF is capped by it. Either way the
        // kernel doubles the value for its bookkeeping overhead, and
        // getsockopt reports the doubled size it charges skbs against.
        use nix::sys::socket::{setsockopt, sockopt};
        if let Err(e) = setsockopt(&self.socket, sockopt::RcvBufForce, &wanted) {
            log::debug!("SO_RCVBUFFORCE: {e}; trying SO_RCVBUF");
            let _ = setsockopt(&self.socket, sockopt::RcvBuf, &wanted);
        }
        match self.socket.get_rx_buf_sz() {
            Ok(size) => size,
            Err(e) => {
                log::debug!("getsockopt(SO_RCVBUF): {e}");
                2 * RECV_BUFFER_LEN
            }
        }
    }

    fn local_port(&self) -> u32 {
        self.port
    }
}
