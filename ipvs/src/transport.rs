// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the session needs from a socket ([`Link`]), and the two drivers that
//! provide it: blocking, over any [`Transport`] (the real socket, or a fake
//! kernel in tests), and with the `tokio` feature asynchronous, over any
//! [`AsyncTransport`] (the tokio socket's link is in `socket.rs`).
//!
//! The session's code is written once, as `async` code generic over
//! [`Link`]. Under the blocking driver every step completes when first
//! polled (the transport blocks inside the call), so the blocking handle
//! runs it with [`block_on`], no runtime involved.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A received datagram, as a transport reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The datagram's real length (`MSG_TRUNC` semantics): may exceed the
    /// buffer, of which only the buffer's length was stored.
    pub len: usize,
    /// Port id of the sender; the kernel is 0.
    pub sender: u32,
}

/// A blocking netlink transport: the real socket, or a scripted fake kernel.
/// A test seam, hidden from the docs: handles are made over one with
/// `Ipvs::with_transport`.
pub trait Transport: Send {
    /// Sends one datagram.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Waits at most `timeout` (zero: not at all) for one datagram and
    /// stores it in `buf`; `Ok(None)` when nothing arrived in time.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>>;
    /// The socket's own port id (`nl_pid`), which replies carry.
    fn local_port(&self) -> u32;
    /// Makes the receive queue hold at least `wanted` bytes if it can and
    /// returns the size it really has, which bounds the ACKs in flight.
    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        wanted
    }
    /// Replaces the socket by a fresh one in the same namespace (a new port
    /// id), closing the old one and any dump running on it.
    fn reopen(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// A second socket in the same namespace, for the session's service
    /// dumps; `None` (the default: fakes) runs them on this one.
    fn sibling(&self) -> io::Result<Option<Box<dyn Transport>>> {
        Ok(None)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        (**self).send(datagram)
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>> {
        (**self).recv(buf, timeout)
    }
    fn local_port(&self) -> u32 {
        (**self).local_port()
    }
    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        (**self).reserve_receive_queue(wanted)
    }
    fn reopen(&mut self) -> io::Result<()> {
        (**self).reopen()
    }
    fn sibling(&self) -> io::Result<Option<Box<dyn Transport>>> {
        (**self).sibling()
    }
}

/// What the session needs from a socket.
pub(crate) trait Link: Send {
    /// The socket's port id.
    fn local_port(&self) -> u32;
    /// Sends one datagram.
    fn send(&mut self, datagram: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Waits until `deadline` (`None`: not at all) for one datagram.
    fn recv(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> impl Future<Output = io::Result<Option<Received>>> + Send;
    /// See [`Transport::reserve_receive_queue`].
    fn reserve_receive_queue(&mut self, wanted: usize) -> usize;
    /// See [`Transport::reopen`].
    fn reopen(&mut self) -> io::Result<()>;
    /// See [`Transport::sibling`].
    fn sibling(&self) -> io::Result<Option<Self>>
    where
        Self: Sized;
}

/// The blocking driver: a [`Transport`]; each step completes when called.
pub(crate) type BlockingLink = Box<dyn Transport>;

impl std::fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transport(port {})", self.local_port())
    }
}

impl Link for BlockingLink {
    fn local_port(&self) -> u32 {
        Transport::local_port(self)
    }

    fn send(&mut self, datagram: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Transport::send(self, datagram))
    }

    fn recv(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> impl Future<Output = io::Result<Option<Received>>> + Send {
        let timeout = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        std::future::ready(Transport::recv(self, buf, timeout))
    }

    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        Transport::reserve_receive_queue(self, wanted)
    }

    fn reopen(&mut self) -> io::Result<()> {
        Transport::reopen(self)
    }

    fn sibling(&self) -> io::Result<Option<Self>> {
        Transport::sibling(&**self)
    }
}

/// Runs session code over the blocking driver, where nothing ever waits to
/// be woken: one poll finishes it. Anything else would be a bug here, and
/// is reported as one rather than hanging.
pub(crate) fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let future = pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => Err(Error::Internal {
            what: "the blocking driver completes every step when first polled",
        }),
    }
}

#[cfg(feature = "tokio")]
pub use self::asynchronous::AsyncTransport;
#[cfg(feature = "tokio")]
#[cfg(feature = "tokio")]
mod asynchronous {
    use super::*;
    use std::pin::Pin;

    /// A future a transport returns, boxed so the trait is object safe.
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// An asynchronous netlink transport, for fakes that must make a call
    /// wait (a test seam, hidden from the docs). Every blocking
    /// [`Transport`] is one too: it answers at once.
    pub trait AsyncTransport: Send {
        /// Sends one datagram.
        fn send<'a>(&'a mut self, datagram: &'a [u8]) -> BoxFuture<'a, io::Result<()>>;
        /// Waits until `deadline` (`None`: not at all) for one datagram.
        fn recv<'a>(
            &'a mut self,
            buf: &'a mut [u8],
            deadline: Option<Instant>,
        ) -> BoxFuture<'a, io::Result<Option<Received>>>;
        /// The socket's own port id.
        fn local_port(&self) -> u32;
        /// See [`Transport::reserve_receive_queue`].
        fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
            wanted
        }
        /// See [`Transport::reopen`].
        fn reopen(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::Unsupported.into())
        }
        /// See [`Transport::sibling`].
        fn sibling(&self) -> io::Result<Option<Box<dyn AsyncTransport>>> {
            Ok(None)
        }
    }

    impl<T: Transport> AsyncTransport for T {
        fn send<'a>(&'a mut self, datagram: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
            Box::pin(std::future::ready(Transport::send(self, datagram)))
        }
        fn recv<'a>(
            &'a mut self,
            buf: &'a mut [u8],
            deadline: Option<Instant>,
        ) -> BoxFuture<'a, io::Result<Option<Received>>> {
            let timeout = deadline.map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            Box::pin(std::future::ready(Transport::recv(self, buf, timeout)))
        }
        fn local_port(&self) -> u32 {
            Transport::local_port(self)
        }
        fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
            Transport::reserve_receive_queue(self, wanted)
        }
        fn reopen(&mut self) -> io::Result<()> {
            Transport::reopen(self)
        }
        fn sibling(&self) -> io::Result<Option<Box<dyn AsyncTransport>>> {
            Ok(Transport::sibling(self)?.map(|t| Box::new(t) as Box<dyn AsyncTransport>))
        }
    }
}
