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
//!   so no call ever blocks forever;
//! - sends batches of acknowledged requests ([`Engine::execute_batch`]):
//!   many messages per `sendmsg`, each ACK or error matched to its request
//!   by sequence number, with at most [`Engine::batch_window`] requests in
//!   flight so the ACKs always fit the socket's receive queue.

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

/// Receive-queue space budgeted for one ACK of a batch.
///
/// The kernel answers every `NLM_F_ACK` request with its own skb, queued on
/// our socket while it is still processing the rest of the `sendmsg`; an
/// skb is charged its `truesize` (about 1 KiB for a capped ACK, more for an
/// error carrying extended-ACK text) against `SO_RCVBUF`, and an ACK that
/// does not fit is dropped (`ENOBUFS` on our next `recvmsg`). Twice the
/// usual truesize keeps error ACKs inside the budget.
pub const ACK_RECEIVE_BUDGET: usize = 2048;

/// Receive queue a batching engine asks for (`SO_RCVBUFFORCE`, else
/// `SO_RCVBUF` up to `net.core.rmem_max`); the kernel doubles the value.
pub const BATCH_RECEIVE_BUFFER: usize = 1024 * 1024;

/// Upper bound on batch requests in flight, whatever the receive queue.
pub const MAX_BATCH_WINDOW: usize = 4096;

/// Largest datagram a batch sends: several requests are packed into one
/// `sendmsg` up to this size (the kernel refuses a datagram larger than
/// its send buffer, `SO_SNDBUF`, 208 KiB by default).
pub const MAX_BATCH_DATAGRAM: usize = 64 * 1024;

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
    /// Makes the receive queue hold at least `wanted` bytes if it can, and
    /// returns the size it really has (`getsockopt(SO_RCVBUF)`), which
    /// bounds how many ACKs a batch may have in flight.
    ///
    /// The default (for transports without a kernel queue) grants `wanted`.
    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        wanted
    }
}

/// Receives the data messages of a reply as they are read, straight from
/// the receive buffer (no copy): see [`Engine::execute_with`].
pub trait ReplySink {
    /// One data message's payload (generic-netlink header and attributes).
    fn message(&mut self, payload: &[u8]) -> Result<(), Error>;
    /// The dump is starting over (the kernel flagged `NLM_F_DUMP_INTR`):
    /// forget every message received so far.
    fn restart(&mut self);
}

/// Collects copies of the payloads.
impl ReplySink for Vec<Vec<u8>> {
    fn message(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.push(payload.to_vec());
        Ok(())
    }

    fn restart(&mut self) {
        self.clear();
    }
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
    /// Batch requests in flight at most; sized from the receive queue on
    /// the first batch.
    batch_window: Option<usize>,
    /// Reused for the datagrams of batches.
    send_buffer: Vec<u8>,
}

/// How one request of a batch ended, as the engine saw it.
///
/// Kernel errors are raw [`Error::Kernel`]; giving them a meaning is the
/// caller's job, as for [`Engine::execute`].
pub type BatchResult = Result<(), Error>;

impl<T: Transport> Engine<T> {
    /// An engine over `transport` with the default timeout and retry limit.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            buffer: vec![0; RECV_BUFFER_LEN],
            sequence: 0,
            timeout: DEFAULT_TIMEOUT,
            dump_attempts: DEFAULT_DUMP_ATTEMPTS,
            batch_window: None,
            send_buffer: Vec::new(),
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
        let mut replies = Vec::new();
        self.execute_with(request, &mut replies)?;
        Ok(replies)
    }

    /// Like [`Engine::execute`], but hands each data payload to `sink`
    /// straight from the receive buffer instead of copying it.
    pub fn execute_with(
        &mut self,
        request: &Request<'_>,
        sink: &mut dyn ReplySink,
    ) -> Result<(), Error> {
        match request.kind {
            RequestKind::Acked => self.exchange(request, sink).map(drop),
            RequestKind::Dump => {
                for attempt in 0..self.dump_attempts {
                    if attempt > 0 {
                        sink.restart();
                    }
                    let interrupted = self.exchange(request, sink)?;
                    if !interrupted {
                        return Ok(());
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

    /// How many requests of a batch may be in flight: the receive queue the
    /// transport grants (asked for [`BATCH_RECEIVE_BUFFER`]) divided by
    /// [`ACK_RECEIVE_BUDGET`], within 1..=[`MAX_BATCH_WINDOW`]. Sized on
    /// first use; halved whenever ACKs are lost anyway.
    pub fn batch_window(&mut self) -> usize {
        *self.batch_window.get_or_insert_with(|| {
            let queue = self.transport.reserve_receive_queue(BATCH_RECEIVE_BUFFER);
            (queue / ACK_RECEIVE_BUDGET).clamp(1, MAX_BATCH_WINDOW)
        })
    }

    /// Sends `requests` as one batch and returns one result per request, in
    /// order. Every request is sent as [`RequestKind::Acked`] (a batch holds
    /// writes; their kind is not consulted).
    ///
    /// Requests are packed many to a datagram (up to
    /// [`MAX_BATCH_DATAGRAM`] bytes) and numbered consecutively; each ACK or
    /// error is matched to its request by sequence number. The kernel runs
    /// a whole `sendmsg` before returning and queues one ACK per request, so
    /// at most [`Engine::batch_window`] requests are sent before every ACK
    /// they caused has been read: back-pressure instead of `ENOBUFS`.
    ///
    /// A failed request does not stop the batch (the kernel goes on with the
    /// rest of the datagram anyway): each result says what happened to its
    /// request. If ACKs are lost regardless (`ENOBUFS`), the unanswered
    /// requests of that window get [`Error::Overrun`] (they may or may not
    /// have been applied), the window is halved, and the batch goes on.
    ///
    /// `Err` only when the transport fails: a send error, or no datagram
    /// within the timeout while ACKs are due (the kernel's progress is then
    /// unknown); or on a bug in this crate ([`Error::Internal`]).
    pub fn execute_batch(&mut self, requests: &[Request<'_>]) -> Result<Vec<BatchResult>, Error> {
        let mut results: Vec<Option<BatchResult>> = Vec::new();
        results.resize_with(requests.len(), || None);
        let port = self.transport.local_port();
        // Request i carries sequence number `first + i`.
        let first = self.sequence.wrapping_add(1);
        let mut next = 0;
        while next < requests.len() {
            let window = self.batch_window();
            let end = next.saturating_add(window).min(requests.len());
            let mut index = next;
            while index < end {
                self.send_buffer.clear();
                while index < end {
                    let request = &requests[index];
                    let length = NLMSG_HDRLEN + request.payload.len();
                    let full = self.send_buffer.len() + datagram::nlmsg_align(length);
                    if !self.send_buffer.is_empty() && full > MAX_BATCH_DATAGRAM {
                        break;
                    }
                    self.sequence = self.sequence.wrapping_add(1);
                    append_message(
                        &mut self.send_buffer,
                        request,
                        NLM_F_REQUEST | NLM_F_ACK,
                        self.sequence,
                        port,
                    )?;
                    index += 1;
                }
                let op = requests[index - 1].op;
                self.transport
                    .send(&self.send_buffer)
                    .map_err(|source| Error::Io { op, source })?;
            }
            let lost = self.collect_acks(requests, first, next..end, &mut results)?;
            if lost {
                let halved = (window / 2).max(1);
                log::debug!("batch: ACKs were lost with {window} in flight; window now {halved}");
                self.batch_window = Some(halved);
            }
            next = end;
        }
        // `collect_acks` fills every slot of its window (an answer, or
        // `Overrun` once ACKs were lost); an empty slot would be a bug here,
        // and fails the whole batch, as a transport failure would: no
        // request's fate is then claimed.
        results
            .into_iter()
            .map(|r| {
                r.ok_or(Error::Internal {
                    what: "collect_acks answers every request of its window",
                })
            })
            .collect()
    }

    /// Reads ACKs until every request in `window` has its result. Returns
    /// whether ACKs were lost (`ENOBUFS`/`NLMSG_OVERRUN`): then what is
    /// still queued is read without waiting (it arrived before the loss)
    /// and the requests left unanswered get [`Error::Overrun`].
    fn collect_acks(
        &mut self,
        requests: &[Request<'_>],
        first: u32,
        window: std::ops::Range<usize>,
        results: &mut [Option<BatchResult>],
    ) -> Result<bool, Error> {
        let port = self.transport.local_port();
        let op = requests[window.start].op;
        let timeout = || Error::Timeout {
            op,
            after: self.timeout,
        };
        let mut pending = window.len();
        let mut deadline = Instant::now() + self.timeout;
        let mut lost = false;
        while pending > 0 {
            let wait = if lost {
                Duration::ZERO
            } else {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(timeout());
                }
                remaining
            };
            let received = match self.transport.recv(&mut self.buffer, wait) {
                Ok(Some(received)) => received,
                Ok(None) if lost => break,
                Ok(None) => return Err(timeout()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    lost = true;
                    continue;
                }
                Err(source) => return Err(Error::Io { op, source }),
            };
            if received.sender != 0 {
                continue;
            }
            // ACKs are small; a truncated datagram can only be a stray one.
            let bytes = &self.buffer[..received.len.min(self.buffer.len())];
            for message in datagram::messages(bytes) {
                let message = message.map_err(|e| Error::malformed(op, e, bytes))?;
                let index = message.header.sequence.wrapping_sub(first) as usize;
                if message.header.port != port
                    || !window.contains(&index)
                    || results[index].is_some()
                {
                    continue;
                }
                let op = requests[index].op;
                let result = match datagram::classify(&message)
                    .map_err(|e| Error::malformed(op, e, message.payload))?
                {
                    Reply::Ack(ext_ack) => {
                        warn_ext_ack(op, &ext_ack);
                        Ok(())
                    }
                    Reply::Error { errno, ext_ack } => Err(Error::Kernel { op, errno, ext_ack }),
                    Reply::Done { .. } => Err(Error::UnexpectedReply {
                        op,
                        detail: "NLMSG_DONE instead of the requested ACK".into(),
                    }),
                    Reply::Overrun => {
                        lost = true;
                        continue;
                    }
                    Reply::Noop | Reply::Data { .. } => continue,
                };
                results[index] = Some(result);
                pending -= 1;
            }
            deadline = Instant::now() + self.timeout;
        }
        if lost {
            for index in window {
                results[index].get_or_insert_with(|| {
                    Err(Error::Overrun {
                        op: requests[index].op,
                    })
                });
            }
        }
        Ok(lost)
    }

    /// One send and its complete reply, whose data payloads go to `sink`.
    /// Returns whether any message was flagged `NLM_F_DUMP_INTR`.
    fn exchange(&mut self, request: &Request<'_>, sink: &mut dyn ReplySink) -> Result<bool, Error> {
        let op = request.op;
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let port = self.transport.local_port();
        let flags = NLM_F_REQUEST
            | match request.kind {
                RequestKind::Dump => NLM_F_DUMP,
                RequestKind::Acked => NLM_F_ACK,
            };
        let mut datagram = Vec::new();
        append_message(&mut datagram, request, flags, sequence, port)?;
        self.transport
            .send(&datagram)
            .map_err(|source| Error::Io { op, source })?;

        let mut interrupted = false;
        // A message the sink refuses fails the request, but only once the
        // reply is complete: an abandoned dump keeps running on the socket
        // and the next dump request would get EBUSY.
        let mut refused = None;
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
                        if refused.is_none() {
                            refused = sink.message(payload).err();
                        }
                    }
                    Reply::Error { errno, ext_ack } => {
                        return Err(Error::Kernel { op, errno, ext_ack });
                    }
                    Reply::Ack(ext_ack) => {
                        warn_ext_ack(op, &ext_ack);
                        return match request.kind {
                            RequestKind::Acked => refused.map_or(Ok(interrupted), Err),
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
                            RequestKind::Dump => refused.map_or(Ok(interrupted), Err),
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

/// Appends `request` as one netlink message (header, payload, padding to
/// `NLMSG_ALIGN`) to `out`.
fn append_message(
    out: &mut Vec<u8>,
    request: &Request<'_>,
    flags: u16,
    sequence: u32,
    port: u32,
) -> Result<(), Error> {
    let length = NLMSG_HDRLEN + request.payload.len();
    let length_u32 = u32::try_from(length).map_err(|_| {
        Error::invalid(
            "request",
            format!("{length} bytes exceeds a netlink message"),
        )
    })?;
    let start = out.len();
    out.resize(start + NLMSG_HDRLEN, 0);
    MessageHeader {
        length: length_u32,
        message_type: request.message_type,
        flags,
        sequence,
        port,
    }
    .emit(&mut out[start..]);
    out.extend_from_slice(request.payload);
    out.resize(start + datagram::nlmsg_align(length), 0);
    Ok(())
}

fn warn_ext_ack(op: Op, ext_ack: &ExtAck) {
    if !ext_ack.is_empty() {
        log::warn!("{op}: kernel warning: {ext_ack}");
    }
}
