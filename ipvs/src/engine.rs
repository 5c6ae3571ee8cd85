// SPDX-License-Identifier: MIT OR Apache-2.0
//! The one request engine every operation goes through.
//!
//! A request is one netlink message (the engine writes its header, sequence
//! number and flags); the reply is the list of data-message payloads that
//! belong to it. The engine:
//!
//! - numbers requests with a wrapping sequence counter, and drops any message
//!   whose sequence or port id is not this request's (stale replies of a
//!   timed-out request, other traffic), and any datagram not sent by the
//!   kernel (sender port id 0);
//! - walks each datagram with [`crate::datagram::messages`] (never panics);
//! - for dumps, collects multipart messages until `NLMSG_DONE`, honours an
//!   errno carried in `NLMSG_DONE`, and retries a dump the kernel flagged
//!   `NLM_F_DUMP_INTR` a bounded number of times;
//! - sends every other request with `NLM_F_ACK` and requires that ACK: a
//!   reply is complete only when the ACK (or an error) arrives;
//! - surfaces extended-ACK text; reports a datagram bigger than the buffer
//!   (`MSG_TRUNC`) and `ENOBUFS` as errors, abandoning the request;
//! - waits at most [`Engine::timeout`] for each datagram of the request,
//!   so no call ever blocks forever.

use std::io;
use std::time::{Duration, Instant};

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};

use crate::datagram::{self, ExtAck, MessageHeader, NLMSG_HDRLEN, Reply};
use crate::error::{Error, Op};

/// Size of the reusable receive buffer. The kernel caps dump datagrams at
/// 32 KiB; twice that leaves room and is above any page size in use.
pub const RECV_BUFFER_LEN: usize = 64 * 1024;

/// Default time to wait for each datagram of a reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of attempts for a dump the kernel keeps flagging
/// `NLM_F_DUMP_INTR`.
pub const DEFAULT_DUMP_ATTEMPTS: u32 = 4;

/// A received datagram, as reported by [`Transport::recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The datagram's real length (`MSG_TRUNC` semantics): may exceed the
    /// buffer, in which case only the buffer's length was stored.
    pub len: usize,
    /// Port id of the sender; the kernel is 0.
    pub sender: u32,
}

/// What the engine needs from a netlink socket. Implemented by
/// [`crate::NetlinkSocket`] and by scripted fakes in tests.
pub trait Transport: Send {
    /// Sends one datagram.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Waits at most `timeout` for one datagram and stores it in `buf`.
    ///
    /// Returns `Ok(None)` when nothing arrived in time. The returned length
    /// is the datagram's real length even when it did not fit `buf`.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>>;
    /// The socket's own port id (`nl_pid`), which replies carry.
    fn local_port(&self) -> u32;
}

/// How a request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `NLM_F_REQUEST | NLM_F_DUMP`: multipart messages until `NLMSG_DONE`.
    Dump,
    /// `NLM_F_REQUEST | NLM_F_ACK`: zero or more messages, then the ACK.
    Acked,
}

/// One request: `payload` (generic-netlink header and attributes) is sent
/// in a message of type `message_type` (the family id).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The operation, for errors.
    pub op: Op,
    /// `nlmsg_type`: the generic-netlink family id.
    pub message_type: u16,
    /// Dump or acknowledged request.
    pub kind: RequestKind,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

/// The engine: a transport, its receive buffer, and the sequence counter.
///
/// It is `&mut self` throughout: one request at a time per engine. The
/// handle shares one engine between threads behind a mutex held for a whole
/// request and its reply, so replies never mix.
#[derive(Debug)]
pub struct Engine<T> {
    transport: T,
    buffer: Vec<u8>,
    sequence: u32,
    timeout: Duration,
    dump_attempts: u32,
}

impl<T: Transport> Engine<T> {
    /// An engine over `transport` with the default timeout and retry limit.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            buffer: vec![0; RECV_BUFFER_LEN],
            sequence: 0,
            timeout: DEFAULT_TIMEOUT,
            dump_attempts: DEFAULT_DUMP_ATTEMPTS,
        }
    }

    /// How long to wait for each datagram of a reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets how long to wait for each datagram of a reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sets how many times a dump flagged `NLM_F_DUMP_INTR` is attempted
    /// before [`Error::DumpInterrupted`] (at least 1).
    pub fn set_dump_attempts(&mut self, attempts: u32) {
        self.dump_attempts = attempts.max(1);
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably (tests script fakes through it).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Sends `request` and returns the payloads of the data messages that
    /// answer it, in order.
    ///
    /// Kernel errors come back as raw [`Error::Kernel`]; giving the errno a
    /// meaning is the caller's job (it knows the operation's arguments).
    pub fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Vec<u8>>, Error> {
        match request.kind {
            RequestKind::Acked => self.exchange(request).map(|(messages, _)| messages),
            RequestKind::Dump => {
                for _ in 0..self.dump_attempts {
                    let (messages, interrupted) = self.exchange(request)?;
                    if !interrupted {
                        return Ok(messages);
                    }
                    log::debug!(
                        "{}: dump interrupted by a concurrent change, retrying",
                        request.op
                    );
                }
                Err(Error::DumpInterrupted {
                    op: request.op,
                    attempts: self.dump_attempts,
                })
            }
        }
    }

    /// One send and its complete reply. Returns the data payloads and
    /// whether any message was flagged `NLM_F_DUMP_INTR`.
    fn exchange(&mut self, request: &Request<'_>) -> Result<(Vec<Vec<u8>>, bool), Error> {
        let op = request.op;
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let port = self.transport.local_port();
        let flags = NLM_F_REQUEST
            | match request.kind {
                RequestKind::Dump => NLM_F_DUMP,
                RequestKind::Acked => NLM_F_ACK,
            };
        let length = NLMSG_HDRLEN + request.payload.len();
        let length_u32 = u32::try_from(length).map_err(|_| {
            Error::invalid(
                "request",
                format!("{length} bytes exceeds a netlink message"),
            )
        })?;
        let mut datagram = vec![0; length];
        MessageHeader {
            length: length_u32,
            message_type: request.message_type,
            flags,
            sequence,
            port,
        }
        .emit(&mut datagram);
        datagram[NLMSG_HDRLEN..].copy_from_slice(request.payload);
        self.transport
            .send(&datagram)
            .map_err(|source| Error::Io { op, source })?;

        let mut replies = Vec::new();
        let mut interrupted = false;
        let mut deadline = Instant::now() + self.timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout {
                    op,
                    after: self.timeout,
                });
            }
            let received = match self.transport.recv(&mut self.buffer, remaining) {
                Ok(Some(received)) => received,
                Ok(None) => {
                    return Err(Error::Timeout {
                        op,
                        after: self.timeout,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    return Err(Error::Overrun { op });
                }
                Err(source) => return Err(Error::Io { op, source }),
            };
            if received.sender != 0 {
                log::debug!("{op}: ignoring a datagram from port {}", received.sender);
                continue;
            }
            let stored = received.len.min(self.buffer.len());
            let bytes = &self.buffer[..stored];
            let ours = |h: &MessageHeader| h.sequence == sequence && h.port == port;
            if received.len > self.buffer.len() {
                // Only the first header is reliable; a truncated datagram for
                // another request is skipped like any stale one.
                if MessageHeader::parse(bytes).is_some_and(|h| !ours(&h)) {
                    continue;
                }
                return Err(Error::Truncated {
                    op,
                    len: received.len,
                    capacity: self.buffer.len(),
                });
            }
            let mut progressed = false;
            for message in datagram::messages(bytes) {
                let message = message.map_err(|e| Error::malformed(op, e, bytes))?;
                if !ours(&message.header) {
                    log::debug!(
                        "{op}: skipping a message for seq {} port {} (expected seq {sequence} port {port})",
                        message.header.sequence,
                        message.header.port
                    );
                    continue;
                }
                progressed = true;
                interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
                let reply = datagram::classify(&message)
                    .map_err(|e| Error::malformed(op, e, message.payload))?;
                match reply {
                    Reply::Noop => {}
                    Reply::Overrun => return Err(Error::Overrun { op }),
                    Reply::Data {
                        message_type,
                        payload,
                    } => {
                        if message_type != request.message_type {
                            return Err(Error::UnexpectedReply {
                                op,
                                detail: format!(
                                    "message type {message_type}, expected {}",
                                    request.message_type
                                ),
                            });
                        }
                        replies.push(payload.to_vec());
                    }
                    Reply::Error { errno, ext_ack } => {
                        return Err(Error::Kernel { op, errno, ext_ack });
                    }
                    Reply::Ack(ext_ack) => {
                        warn_ext_ack(op, &ext_ack);
                        return match request.kind {
                            RequestKind::Acked => Ok((replies, interrupted)),
                            RequestKind::Dump => Err(Error::UnexpectedReply {
                                op,
                                detail: "an ACK instead of NLMSG_DONE ending a dump".into(),
                            }),
                        };
                    }
                    Reply::Done { errno, ext_ack } => {
                        if errno != 0 {
                            return Err(Error::Kernel { op, errno, ext_ack });
                        }
                        return match request.kind {
                            RequestKind::Dump => Ok((replies, interrupted)),
                            RequestKind::Acked => Err(Error::UnexpectedReply {
                                op,
                                detail: "NLMSG_DONE instead of the requested ACK".into(),
                            }),
                        };
                    }
                }
            }
            if progressed {
                // The kernel is answering: each datagram gets a full timeout.
                deadline = Instant::now() + self.timeout;
            }
        }
    }
}

fn warn_ext_ack(op: Op, ext_ack: &ExtAck) {
    if !ext_ack.is_empty() {
        log::warn!("{op}: kernel warning: {ext_ack}");
    }
}
