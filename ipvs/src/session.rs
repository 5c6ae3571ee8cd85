// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Session`]: one socket ([`Link`]), its [`Protocol`] state, its buffers and
//! the resolved IPVS family, driven through one receive path,
//! [`Session::exchange`], whatever is asked: a single request, a dump or a
//! batch. Service dumps run on a second session of the same kind, on a
//! second socket that reads more at a time ([`Session::take_wide`]).
//!
//! A call has one deadline for all of it ([`Session::start_call`]). A call
//! that stops early (deadline, error, or a dropped future under the async
//! handle) leaves the protocol knowing what was left open; the next call
//! first reads away a dump that may still be running, or replaces the
//! socket ([`Session::settle`]), so an abandoned dump never makes the next
//! one fail with `EBUSY`.
//!
//! Kernel errors leave here raw ([`Error::Kernel`]): the typed layer
//! (`request.rs`) knows what each is about.

use std::io;
use std::time::{Duration, Instant};

use netlink_packet_generic::constants::GENL_ID_CTRL;

use crate::error::{Error, Op, Result, Subject};
use crate::family::{self, FamilyInfo};
use crate::proto::{Completed, Event, Failure, Kind, Outgoing, Passes, Protocol};
use crate::socket::{WIDE_RECV_LEN, least_dump_room, narrow_recv_len};
use crate::transport::Link;

/// Default time a call may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of attempts for a dump the kernel keeps flagging
/// `NLM_F_DUMP_INTR`.
pub(crate) const DEFAULT_DUMP_ATTEMPTS: u32 = 4;

/// Receive queue a batching session asks for (`SO_RCVBUFFORCE`, else
/// `SO_RCVBUF` up to `net.core.rmem_max`); the kernel doubles the value.
pub(crate) const BATCH_RECEIVE_BUFFER: usize = 1024 * 1024;

/// One request as the session sends it: the generic-netlink payload, how
/// it is answered, and the operation (for errors).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outbound<'a> {
    /// The operation, for errors.
    pub(crate) op: Op,
    /// Dump or acknowledged.
    pub(crate) kind: Kind,
    /// Generic-netlink header and attributes.
    pub(crate) payload: &'a [u8],
}

impl Outgoing for Outbound<'_> {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn payload(&self) -> &[u8] {
        self.payload
    }
}

/// Receives the data messages of an exchange, straight from the receive
/// buffer.
pub(crate) trait ReplySink: Send {
    /// A data message for request `index` (generic-netlink header and
    /// attributes). An error abandons that request.
    fn message(&mut self, index: usize, payload: &[u8]) -> Result<()>;
    /// The dump is read again (it was interrupted, or sent again to a new
    /// family id): forget every message received so far.
    fn restart(&mut self);
}

/// Collects copies of the payloads.
impl ReplySink for Vec<Vec<u8>> {
    fn message(&mut self, _index: usize, payload: &[u8]) -> Result<()> {
        self.push(payload.to_vec());
        Ok(())
    }

    fn restart(&mut self) {
        self.clear();
    }
}

/// For requests answered by an ACK alone: data is ignored.
pub(crate) struct NoData;

impl ReplySink for NoData {
    fn message(&mut self, _index: usize, _payload: &[u8]) -> Result<()> {
        Ok(())
    }

    fn restart(&mut self) {}
}

/// What a handle sets for each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// How long the whole call may take.
    pub(crate) timeout: Duration,
    /// Attempts at a dump the kernel keeps flagging `NLM_F_DUMP_INTR`.
    pub(crate) dump_attempts: u32,
}

/// The call in progress.
#[derive(Clone, Copy, Debug)]
struct Call {
    deadline: Instant,
    options: CallOptions,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Session<L> {
    link: L,
    protocol: Protocol,
    /// Its length is what the socket reads at a time, which sizes the
    /// kernel's dump datagrams (see [`crate::socket::WIDE_RECV_LEN`]).
    buffer: Vec<u8>,
    outgoing: Vec<u8>,
    /// How each request of the exchange ended (kept for its capacity).
    ends: Vec<End>,
    /// The results of the last exchange, one per request (kept for its
    /// capacity).
    results: Vec<Result<Completed>>,
    family: Option<FamilyInfo>,
    call: Call,
    /// The session on a second socket that reads service dumps, opened on
    /// the first one ([`Session::take_wide`]).
    wide: Wide<L>,
}

/// The session for service dumps, if any.
#[derive(Debug)]
enum Wide<L> {
    /// Not opened yet (or dropped with a call it was in).
    Closed,
    Open(Box<Session<L>>),
    /// This session's link cannot open a second socket, or is the second
    /// socket: service dumps run here.
    Unavailable,
}

impl<L: Link> Session<L> {
    /// A session over `link` that reads a page at a time; the family is
    /// resolved on first use.
    pub(crate) fn new(link: L) -> Self {
        Self::reading(link, narrow_recv_len(), Wide::Closed)
    }

    fn reading(link: L, recv_len: usize, wide: Wide<L>) -> Self {
        let port = link.local_port();
        Self {
            link,
            protocol: Protocol::new(port),
            buffer: vec![0; recv_len],
            outgoing: Vec::new(),
            ends: Vec::new(),
            results: Vec::new(),
            family: None,
            wide,
            call: Call {
                deadline: Instant::now(),
                options: CallOptions {
                    timeout: DEFAULT_TIMEOUT,
                    dump_attempts: DEFAULT_DUMP_ATTEMPTS,
                },
            },
        }
    }

    /// Whether the kernel wrote a dump this session read as `passes` in one
    /// walk of its list, whose entries are at most `largest_entry` bytes:
    /// all of it in one datagram with room left for another entry, so the
    /// call that wrote it reached the end of the list (the next call,
    /// which writes `NLMSG_DONE`, resumes past it and finds nothing). A
    /// dump written in more passes may skip or repeat entries if its list
    /// changed between them, and so may one whose single datagram was
    /// full: that pass stopped for room, and entries removed before the
    /// next can hide the rest.
    pub(crate) fn one_walk(&self, passes: Passes, largest_entry: usize) -> bool {
        match passes {
            Passes::None => true,
            Passes::One { len } => len + largest_entry <= least_dump_room(len, self.buffer.len()),
            Passes::Many => false,
        }
    }

    /// Starts a call: its deadline is `options.timeout` from now.
    pub(crate) fn start_call(&mut self, options: CallOptions) {
        self.call = Call {
            deadline: Instant::now()
                .checked_add(options.timeout)
                .unwrap_or_else(far_future),
            options,
        };
    }

    /// The session for service dumps, taken out of this one for the call
    /// in progress (its deadline, its options and the family as this
    /// session knows it): a session on a second socket, opened in the same
    /// namespace on first use, that reads [`WIDE_RECV_LEN`] at a time.
    /// `None` when the link cannot open one: the dumps then run on this
    /// session. Give it back with [`Session::restore_wide`], which keeps
    /// what it learnt of the family; a call dropped in between drops it,
    /// and with it any dump it left running.
    pub(crate) fn take_wide(&mut self) -> Option<Box<Session<L>>> {
        if matches!(self.wide, Wide::Closed) {
            self.wide = match self.link.sibling() {
                Ok(Some(link)) => Wide::Open(Box::new(Self::reading(
                    link,
                    WIDE_RECV_LEN,
                    Wide::Unavailable,
                ))),
                Ok(None) => Wide::Unavailable,
                Err(e) => {
                    log::debug!(
                        "cannot open a second socket for service dumps ({e}); using this one"
                    );
                    Wide::Closed
                }
            };
        }
        match std::mem::replace(&mut self.wide, Wide::Closed) {
            Wide::Open(mut wide) => {
                wide.call = self.call;
                wide.family.clone_from(&self.family);
                Some(wide)
            }
            other => {
                self.wide = other;
                None
            }
        }
    }

    /// Runs `f` on the session for service dumps ([`Session::take_wide`]),
    /// or on this one when the link cannot open it, and gives it back.
    pub(crate) async fn on_wide<T>(&mut self, f: impl AsyncFnOnce(&mut Self) -> T) -> T {
        let mut wide = self.take_wide();
        let out = match wide.as_deref_mut() {
            Some(wide) => f(wide).await,
            None => f(self).await,
        };
        self.restore_wide(wide);
        out
    }

    /// Gives back what [`Session::take_wide`] took.
    pub(crate) fn restore_wide(&mut self, wide: Option<Box<Session<L>>>) {
        if let Some(wide) = wide {
            if wide.family.is_some() {
                self.family.clone_from(&wide.family);
            }
            self.wide = Wide::Open(wide);
        }
    }

    /// Gives the call a fresh deadline, as long as its first: for a part of
    /// the call that must run even when the first part used up its time
    /// (the rollback of an apply whose reply was lost).
    pub(crate) fn renew_deadline(&mut self) {
        self.start_call(self.call.options);
    }

    /// The IPVS family as the controller describes it, resolved once (or
    /// again, with `refresh`).
    pub(crate) async fn family(&mut self, refresh: bool) -> Result<FamilyInfo> {
        if let (Some(family), false) = (&self.family, refresh) {
            return Ok(family.clone());
        }
        self.family = None;
        let op = Op::ResolveFamily;
        let payload = family::getfamily_request(family::ipvs_family_name());
        let request = Outbound {
            op,
            kind: Kind::Acked,
            payload: &payload,
        };
        let mut replies = Vec::new();
        self.exchange(GENL_ID_CTRL, &[request], &mut replies)
            .await
            .pop()
            .unwrap_or(Err(Error::Internal {
                what: "an exchange answers every request",
            }))
            .map_err(|e| e.explained(&Subject::default()))?;
        let reply = replies.first().ok_or_else(|| Error::UnexpectedReply {
            op,
            detail: "the controller acknowledged GETFAMILY without describing the family".into(),
        })?;
        let info = family::parse_family_reply(reply, family::ipvs_family_name()).map_err(|e| {
            Error::Decode {
                op,
                reason: e.to_string(),
                raw: reply.clone(),
            }
        })?;
        log::debug!("resolved the IPVS family: {info:?}");
        self.family = Some(info.clone());
        Ok(info)
    }

    /// Sends `requests` to the IPVS family and returns one result per
    /// request, in order; data goes to `sink`.
    ///
    /// `ENOENT` on the first request may also mean that the `ip_vs` module
    /// was unloaded (and maybe loaded again under a new family id): the
    /// family is resolved again ([`Error::IpvsUnavailable`] if it is gone),
    /// and if its id changed, the kernel never saw the requests and they are
    /// sent again.
    pub(crate) async fn call(
        &mut self,
        requests: &[Outbound<'_>],
        sink: &mut dyn ReplySink,
    ) -> Result<std::vec::Drain<'_, Result<Completed>>> {
        let family = match &self.family {
            Some(family) => family.id,
            None => self.family(false).await?.id,
        };
        let results = self.exchange(family, requests, sink).await;
        let family_gone = matches!(results.first(),
            Some(Err(Error::Kernel { errno, .. })) if *errno == nix::libc::ENOENT);
        if family_gone {
            // Resolving the family is an exchange of its own.
            let results = std::mem::take(&mut self.results);
            let fresh = self.family(true).await?.id;
            if fresh == family {
                self.results = results;
            } else {
                log::info!("IPVS family id changed from {family} to {fresh}; sending again");
                sink.restart();
                self.exchange(fresh, requests, sink).await;
            }
        }
        Ok(self.results.drain(..))
    }

    /// One acknowledged request.
    pub(crate) async fn acked(
        &mut self,
        request: Outbound<'_>,
        sink: &mut dyn ReplySink,
    ) -> Result<Passes> {
        let result = self.call(&[request], sink).await?.next();
        result
            .unwrap_or(Err(Error::Internal {
                what: "an exchange answers every request",
            }))
            .map(|completed| completed.passes)
    }

    /// One dump, read again while the kernel flags it `NLM_F_DUMP_INTR`
    /// (at most [`CallOptions::dump_attempts`] times); returns how the
    /// kernel wrote the reading that counts.
    pub(crate) async fn dump(
        &mut self,
        request: Outbound<'_>,
        sink: &mut dyn ReplySink,
    ) -> Result<Passes> {
        let attempts = self.call.options.dump_attempts.max(1);
        for attempt in 0..attempts {
            if attempt > 0 {
                sink.restart();
                log::debug!(
                    "{}: dump interrupted by a concurrent change, reading again",
                    request.op
                );
            }
            let result = self.call(&[request], sink).await?.next();
            match result {
                Some(Ok(Completed {
                    interrupted: false,
                    passes,
                    ..
                })) => return Ok(passes),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Internal {
                        what: "an exchange answers every request",
                    });
                }
            }
        }
        Err(Error::DumpInterrupted {
            op: request.op,
            attempts,
        })
    }

    /// The one receive path: sends `requests` (one dump, or acknowledged
    /// requests) to `message_type`, and reads until each has ended or the
    /// call's deadline passed. Data goes to `sink`; kernel errors stay raw.
    /// Returns one result per request, in order (the session's, until its
    /// next exchange).
    pub(crate) async fn exchange(
        &mut self,
        message_type: u16,
        requests: &[Outbound<'_>],
        sink: &mut dyn ReplySink,
    ) -> &mut Vec<Result<Completed>> {
        self.settle().await;
        if requests.len() > 1 && self.protocol.window().is_none() {
            let queue = self.link.reserve_receive_queue(BATCH_RECEIVE_BUFFER);
            self.protocol.size_window(queue);
        }
        self.protocol.begin(message_type, requests);
        let Self {
            link,
            protocol,
            buffer,
            outgoing: datagram,
            ends,
            results,
            call,
            ..
        } = self;
        let mut ends = Ends::new(ends, requests.len(), sink);
        let mut io_error = None;
        'exchange: loop {
            while protocol
                .pack(requests, datagram, &mut |e| ends.on(e))
                .is_some()
            {
                if let Err(e) = link.send(datagram).await {
                    protocol.expire(|| Failure::Io, &mut |e| ends.on(e));
                    io_error = Some(e);
                    break 'exchange;
                }
            }
            if protocol.is_finished() {
                break;
            }
            let overrun = protocol.overrun_pending();
            if !overrun && Instant::now() >= call.deadline {
                // Checked on every datagram: a stream of stray ones cannot
                // stretch the call.
                protocol.expire(|| Failure::Timeout, &mut |e| ends.on(e));
                continue;
            }
            // After an overrun, what is queued arrived before the loss:
            // read it without waiting.
            let wait = (!overrun).then_some(call.deadline);
            match link.recv(buffer, wait).await {
                Ok(Some(received)) => {
                    let stored = received.len.min(buffer.len());
                    protocol.receive(&buffer[..stored], received.len, received.sender, &mut |e| {
                        ends.on(e)
                    });
                    if let Some(index) = ends.refused_index() {
                        protocol.abandon(index);
                    }
                }
                Ok(None) if overrun => protocol.settle_overrun(&mut |e| ends.on(e)),
                Ok(None) => protocol.expire(|| Failure::Timeout, &mut |e| ends.on(e)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    protocol.overrun(&mut |e| ends.on(e));
                }
                Err(e) => {
                    protocol.expire(|| Failure::Io, &mut |e| ends.on(e));
                    io_error = Some(e);
                }
            }
        }
        ends.into_results(requests, call.options.timeout, io_error, results);
        results
    }

    /// Replaces the socket by a fresh one in the same namespace: closing
    /// the old one ends any dump running on it.
    fn replace_socket(&mut self) -> io::Result<()> {
        self.link.reopen()?;
        self.protocol.retire(self.link.local_port());
        Ok(())
    }

    /// Before an exchange: reads away a dump an earlier call abandoned (it
    /// may still be running in the kernel, which would refuse a new dump
    /// with `EBUSY`). The kernel makes each datagram of a dump as the
    /// previous one is read, so its rest is read without waiting; if it
    /// does not come, the socket is replaced by a fresh one, which ends the
    /// dump. A transport that cannot be replaced (a test fake) is waited
    /// for until the call's deadline.
    async fn settle(&mut self) {
        self.protocol.abandon_all();
        if self.protocol.draining().is_none() {
            return;
        }
        let mut wait = None;
        loop {
            let received = self.link.recv(&mut self.buffer, wait).await;
            match received {
                Ok(Some(received)) => {
                    let stored = received.len.min(self.buffer.len());
                    self.protocol.receive(
                        &self.buffer[..stored],
                        received.len,
                        received.sender,
                        &mut |_| {},
                    );
                    if self.protocol.draining().is_none() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(None) | Err(_) if wait.is_none() => match self.replace_socket() {
                    Ok(()) => {
                        log::debug!("replaced the socket to end an abandoned dump");
                        return;
                    }
                    Err(e) => {
                        log::debug!("cannot replace the socket ({e}); waiting for the dump");
                        wait = Some(self.call.deadline);
                    }
                },
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// How a request of an exchange ended, once it has.
type End = Option<Result<Completed, Failure>>;

/// How each request of an exchange ended, as events arrive.
struct Ends<'s> {
    ends: &'s mut Vec<End>,
    sink: &'s mut dyn ReplySink,
    /// The first message the sink refused, and why.
    refused: Option<(usize, Error)>,
}

impl<'s> Ends<'s> {
    /// For `len` requests, in `ends` (cleared first).
    fn new(ends: &'s mut Vec<End>, len: usize, sink: &'s mut dyn ReplySink) -> Self {
        ends.clear();
        ends.resize_with(len, || None);
        Self {
            ends,
            sink,
            refused: None,
        }
    }

    fn on(&mut self, event: Event<'_>) {
        match event {
            Event::Data { index, payload } => {
                if self.refused.is_none()
                    && let Err(e) = self.sink.message(index, payload)
                {
                    self.refused = Some((index, e));
                }
            }
            Event::End { index, outcome } => {
                if let Some(slot) = self.ends.get_mut(index) {
                    *slot = Some(outcome);
                }
            }
        }
    }

    fn refused_index(&self) -> Option<usize> {
        self.refused.as_ref().map(|(index, _)| *index)
    }

    /// One result per request, into `results` (cleared first): kernel
    /// errors raw, other failures as this crate's errors for the request's
    /// operation.
    fn into_results(
        self,
        requests: &[Outbound<'_>],
        timeout: Duration,
        mut io_error: Option<io::Error>,
        results: &mut Vec<Result<Completed>>,
    ) {
        let mut refused = self.refused;
        results.clear();
        let ends = self
            .ends
            .drain(..)
            .zip(requests)
            .enumerate()
            .map(|(index, (end, request))| {
                let op = request.op;
                if refused.as_ref().is_some_and(|(i, _)| *i == index) {
                    return Err(refused.take().map(|(_, e)| e).unwrap_or(Error::Internal {
                        what: "a refused request has its error",
                    }));
                }
                match end {
                    Some(Ok(completed)) => {
                        if !completed.warning.is_empty() {
                            log::warn!("{op}: kernel warning: {}", completed.warning);
                        }
                        Ok(completed)
                    }
                    Some(Err(failure)) => Err(error_of(op, failure, timeout, &mut io_error)),
                    None => Err(Error::Internal {
                        what: "the protocol ends every request of an exchange",
                    }),
                }
            });
        results.extend(ends);
    }
}

/// A protocol failure as this crate's error for `op`.
fn error_of(
    op: Op,
    failure: Failure,
    timeout: Duration,
    io_error: &mut Option<io::Error>,
) -> Error {
    match failure {
        Failure::Kernel { errno, ext_ack } => Error::Kernel { op, errno, ext_ack },
        Failure::Overrun => Error::Overrun { op },
        Failure::Truncated { len, capacity } => Error::Truncated { op, len, capacity },
        Failure::Malformed { reason, raw } => Error::Decode {
            op,
            reason: reason.to_string(),
            raw,
        },
        Failure::Unexpected(detail) => Error::UnexpectedReply {
            op,
            detail: detail.into(),
        },
        Failure::Timeout => Error::Timeout { op, after: timeout },
        Failure::Io => Error::Io {
            op,
            // The first request gets the error itself, the others a copy.
            source: match io_error.take() {
                Some(e) => {
                    let copy = copy_io_error(&e);
                    *io_error = Some(copy);
                    e
                }
                None => io::Error::other("the netlink socket failed"),
            },
        },
        Failure::NotSent => Error::NotSent { op },
    }
}

fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// A deadline for a timeout too long to add to now.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    //! The session over a real netlink socket of this machine's kernel: no
    //! IPVS or privilege needed. The fake-kernel tests are in
    //! `tests/drivers.rs`.
    use super::*;
    use crate::socket::{Namespace, NetlinkSocket};
    use crate::transport::{BlockingLink, block_on};

    fn blocking() -> Session<BlockingLink> {
        let socket =
            NetlinkSocket::open(Namespace::current()).expect("netlink sockets work unprivileged");
        Session::new(Box::new(socket))
    }

    fn options(timeout: Duration) -> CallOptions {
        CallOptions {
            timeout,
            dump_attempts: DEFAULT_DUMP_ATTEMPTS,
        }
    }

    /// A GETFAMILY whose 1-byte `CTRL_ATTR_FAMILY_ID` (a u16) the
    /// controller's policy rejects, with extended-ACK text and offset.
    const BAD_GETFAMILY: [u8; 12] = [3, 1, 0, 0, 5, 0, 1, 0, 7, 0, 0, 0];

    fn check_ext_ack(result: &Result<Completed>) {
        let Err(Error::Kernel { errno, ext_ack, .. }) = result else {
            panic!("{result:?}")
        };
        // EINVAL or ERANGE depending on the kernel's policy checks.
        assert!(
            [nix::libc::EINVAL, nix::libc::ERANGE].contains(errno),
            "{result:?}"
        );
        assert!(
            ext_ack.message.is_some(),
            "kernel text expected: {result:?}"
        );
        // The offset counts from the start of the netlink message: 16 + 4.
        assert_eq!(ext_ack.offset, Some(20), "{result:?}");
    }

    async fn unknown_family_and_bad_getfamily<L: Link>(session: &mut Session<L>) {
        // Nobody has family id 0xfff0: the kernel answers ENOENT at once,
        // and the call never waits past its deadline either way.
        session.start_call(options(Duration::from_millis(300)));
        let request = Outbound {
            op: Op::Raw,
            kind: Kind::Acked,
            payload: &[1, 1, 0, 0],
        };
        let start = Instant::now();
        let result = session.exchange(0xfff0, &[request], &mut NoData).await;
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(
            matches!(&result[..], [Err(Error::Kernel { errno, .. })] if *errno == nix::libc::ENOENT),
            "{result:?}"
        );
        session.start_call(options(Duration::from_secs(5)));
        let request = Outbound {
            op: Op::ResolveFamily,
            kind: Kind::Acked,
            payload: &BAD_GETFAMILY,
        };
        let result = session
            .exchange(GENL_ID_CTRL, &[request], &mut NoData)
            .await;
        check_ext_ack(&result[0]);
    }

    #[test]
    fn a_real_socket_answers_within_the_deadline_with_extended_acks() {
        let mut session = blocking();
        block_on(async {
            unknown_family_and_bad_getfamily(&mut session).await;
            Ok(())
        })
        .unwrap();
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn the_tokio_socket_answers_within_the_deadline_with_extended_acks() {
        use crate::socket::AsyncLink;
        use crate::socket::TokioNetlinkSocket;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let socket = TokioNetlinkSocket::open(Namespace::current()).unwrap();
            let mut session = Session::new(AsyncLink::Socket(socket));
            unknown_family_and_bad_getfamily(&mut session).await;
        });
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn the_tokio_socket_outside_a_runtime_is_an_error_not_a_panic() {
        let result = crate::socket::TokioNetlinkSocket::open(Namespace::current());
        assert!(result.is_err());
    }

    #[test]
    fn a_real_socket_is_replaced_with_a_new_port() {
        let mut session = blocking();
        let old = session.link.local_port();
        session.replace_socket().unwrap();
        assert_ne!(session.link.local_port(), old);
        block_on(async {
            unknown_family_and_bad_getfamily(&mut session).await;
            Ok(())
        })
        .unwrap();
    }
}
