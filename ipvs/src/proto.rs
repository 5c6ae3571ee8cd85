// SPDX-License-Identifier: MIT OR Apache-2.0
//! The netlink request protocol, free of I/O.
//!
//! [`Protocol`] turns requests into datagrams and received datagrams into
//! per-request [`Event`]s. It never touches a socket or a clock: its driver
//! (`session.rs`) sends what it packs, feeds it what arrives, and tells it
//! when the call's deadline passed or the receive queue overflowed. So every
//! path here is tested by feeding it bytes.
//!
//! An *exchange* is one call's requests, numbered consecutively: one dump,
//! or any number of acknowledged requests (a single call is a batch of one).
//! For each request exactly one [`Event::End`] is emitted (or the caller
//! [abandons](Protocol::abandon) it), and data messages reach only the
//! request whose sequence number and port id they carry.
//!
//! 1. [`Protocol::begin`] numbers the requests.
//! 2. [`Protocol::pack`] writes the next datagram to send. At most
//!    [`Protocol::window`] acknowledged requests are in flight: the kernel
//!    queues one ACK per request while it is still processing the rest of the
//!    `sendmsg`, and an ACK that does not fit the receive queue is lost
//!    (`ENOBUFS`). When ACKs are lost anyway, the window is halved.
//! 3. [`Protocol::receive`] walks a datagram and emits events: data, the end
//!    of a request (ACK, error with its extended ACK, `NLMSG_DONE` with its
//!    errno), `NLM_F_DUMP_INTR` noted on the dump's end. It skips what is not
//!    for this exchange: other senders than the kernel, other port ids, stale
//!    sequence numbers.
//! 4. [`Protocol::overrun`] (`ENOBUFS`, `NLMSG_OVERRUN`), then
//!    [`Protocol::settle_overrun`] once the queue is read, end what lost its
//!    reply; [`Protocol::expire`] ends what is left at the deadline.
//!
//! A dump that ends for its caller before its `NLMSG_DONE` (deadline,
//! refused message, overrun, truncation) is still running in the kernel, and
//! the kernel refuses another dump on the socket (`EBUSY`) until it is read to
//! its end. The protocol remembers it as *draining*: its messages are
//! consumed as they arrive and its `NLMSG_DONE` clears it. The driver reads
//! it away before the next exchange, or retires the socket
//! ([`Protocol::retire`]).

use std::ops::Range;

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};

use crate::datagram::{self, ExtAck, MalformedMessage, MessageHeader, NLMSG_HDRLEN, Reply};

/// Largest datagram `Protocol::pack` writes: several requests share one
/// `sendmsg` up to this size (the kernel refuses a datagram larger than its
/// send buffer, `SO_SNDBUF`, 208 KiB by default).
pub const MAX_DATAGRAM: usize = 64 * 1024;

/// Receive-queue space budgeted for one ACK in flight.
///
/// The kernel charges each queued skb its `truesize` (about 1 KiB for a
/// capped ACK, more for an error carrying extended-ACK text) against
/// `SO_RCVBUF`. Twice the usual truesize keeps error ACKs inside the budget.
pub const ACK_RECEIVE_BUDGET: usize = 2048;

/// Upper bound on acknowledged requests in flight, whatever the queue.
pub(crate) const MAX_WINDOW: usize = 4096;

/// How a request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `NLM_F_REQUEST | NLM_F_DUMP`: multipart messages until `NLMSG_DONE`.
    Dump,
    /// `NLM_F_REQUEST | NLM_F_ACK`: zero or more messages, then the ACK.
    Acked,
}

/// One request to send, as the protocol reads it: the caller's own request
/// type (the session's, which also names the operation), so an exchange
/// needs no list of its own.
pub(crate) trait Outgoing {
    /// Dump or acknowledged.
    fn kind(&self) -> Kind;
    /// Everything after the netlink header: the generic-netlink header and
    /// attributes.
    fn payload(&self) -> &[u8];
}

/// A request as its kind and payload (the tests' and the fuzz harness's).
impl Outgoing for (Kind, &[u8]) {
    fn kind(&self) -> Kind {
        self.0
    }

    fn payload(&self) -> &[u8] {
        self.1
    }
}

/// How a request ended well.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Completed {
    /// A message of the dump carried `NLM_F_DUMP_INTR`: the kernel's table
    /// changed while it was dumped, and the data may be inconsistent.
    pub(crate) interrupted: bool,
    /// The datagrams that carried the request's data.
    pub(crate) passes: Passes,
    /// Extended-ACK text on a successful ACK or `NLMSG_DONE` (a warning).
    pub(crate) warning: ExtAck,
}

/// The datagrams that carried a request's data. The kernel writes a dump
/// one datagram per call of the family's dump function (`netlink_dump()`),
/// each call resuming from a count of the entries passed so far; IPVS
/// never flags `NLM_F_DUMP_INTR`, so a dump written in more than one pass
/// silently skips or repeats entries when its list changed in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Passes {
    /// None did (an empty dump, or an ACK alone).
    #[default]
    None,
    /// One datagram, of `len` bytes, carried all of it.
    One {
        /// The datagram's length.
        len: usize,
    },
    /// More than one did.
    Many,
}

impl Passes {
    /// `self` after data arrived in datagram `datagram`, when the last
    /// data before it arrived in `last`.
    fn with_data(self, len: usize, datagram: u64, last: u64) -> Self {
        match self {
            Self::None => Self::One { len },
            Self::One { .. } if datagram == last => self,
            Self::One { .. } | Self::Many => Self::Many,
        }
    }
}

/// Where an open request stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Progress {
    /// A message carried `NLM_F_DUMP_INTR`.
    interrupted: bool,
    /// The datagrams that carried its data so far.
    passes: Passes,
    /// The number of the datagram its last data came in.
    last_datagram: u64,
}

/// Why a request failed, as the protocol saw it. The session gives each its
/// operation and the typed layer its meaning.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `NLMSG_ERROR`, or `NLMSG_DONE` with an errno.
    Kernel {
        /// Positive errno.
        errno: i32,
        /// The kernel's extended ACK.
        ext_ack: ExtAck,
    },
    /// Replies were lost (`ENOBUFS`, `NLMSG_OVERRUN`): a write may or may not
    /// have been applied.
    Overrun,
    /// A datagram for this request was larger than the receive buffer.
    Truncated {
        /// The datagram's real length.
        len: usize,
        /// The receive buffer's size.
        capacity: usize,
    },
    /// A datagram or message could not be decoded.
    Malformed {
        /// What was wrong.
        reason: MalformedMessage,
        /// The bytes (a message payload, or the whole datagram).
        raw: Vec<u8>,
    },
    /// The kernel answered with something the protocol does not allow here.
    Unexpected(&'static str),
    /// The deadline passed before the reply was complete.
    Timeout,
    /// The socket failed (the driver's error is given to the first request).
    Io,
    /// Never sent: the exchange stopped before this request's turn.
    NotSent,
}

/// What [`Protocol::receive`] and the other inputs emit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A data message for request `index` of the exchange.
    Data {
        /// The request.
        index: usize,
        /// The generic-netlink header and attributes.
        payload: &'a [u8],
    },
    /// Request `index` ended; no event for it follows.
    End {
        /// The request.
        index: usize,
        /// How.
        outcome: Result<Completed, Failure>,
    },
}

/// Where a request of the exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Not sent yet.
    Waiting,
    /// Sent, not yet answered in full.
    Open(Progress),
    /// Ended (or abandoned).
    Ended,
}

/// The protocol state of one netlink socket; see the module docs.
#[derive(Debug)]
pub(crate) struct Protocol {
    /// The socket's port id (`nl_pid`), which replies carry.
    port: u32,
    /// The last sequence number used.
    sequence: u32,
    /// Sequence number of request 0 of the exchange.
    first: u32,
    /// The `nlmsg_type` of the exchange's requests and data replies (the
    /// family id).
    message_type: u16,
    /// Each request's kind.
    kinds: Vec<Kind>,
    slots: Vec<Slot>,
    /// Requests packed so far (`slots[..packed]` were handed to the driver).
    packed: usize,
    /// Where the current window of acknowledged requests ends.
    window_end: usize,
    /// Requests packed and not yet ended.
    open: usize,
    /// Replies were lost in this window ([`Protocol::overrun`]).
    overrun: bool,
    /// Sequence number of a dump that ended for its caller but may still be
    /// running in the kernel.
    draining: Option<u32>,
    /// Acknowledged requests in flight at most; `None` until sized.
    window: Option<usize>,
    /// Datagrams received so far (numbers them for [`Passes`]).
    datagrams: u64,
}

impl Protocol {
    /// A protocol for the socket with port id `port`.
    pub(crate) fn new(port: u32) -> Self {
        Self {
            port,
            sequence: 0,
            first: 1,
            message_type: 0,
            kinds: Vec::new(),
            slots: Vec::new(),
            packed: 0,
            window_end: 0,
            open: 0,
            overrun: false,
            draining: None,
            window: None,
            datagrams: 0,
        }
    }

    /// Forgets everything of the old socket for a new one with port id
    /// `port` (the driver closed the old one, ending any dump running on
    /// it). Requests still open are abandoned; the window is kept.
    pub(crate) fn retire(&mut self, port: u32) {
        self.abandon_all();
        self.port = port;
        self.draining = None;
    }

    /// The dump being drained, if any: the driver reads it away, or
    /// retires the socket, before the next exchange.
    pub(crate) fn draining(&self) -> Option<u32> {
        self.draining
    }

    /// Acknowledged requests in flight at most, once sized.
    pub(crate) fn window(&self) -> Option<usize> {
        self.window
    }

    /// Sizes the window from the receive queue the socket really has
    /// (bytes): one ACK per [`ACK_RECEIVE_BUDGET`], within
    /// `1..=`[`MAX_WINDOW`].
    pub(crate) fn size_window(&mut self, receive_queue: usize) {
        self.window = Some((receive_queue / ACK_RECEIVE_BUDGET).clamp(1, MAX_WINDOW));
    }

    /// Starts an exchange of `requests`, in messages of type `message_type`
    /// (the family id); request `i` gets sequence number `first + i`. What
    /// the previous exchange left open is abandoned: its late replies are
    /// skipped, and an open dump is drained.
    ///
    /// A dump is alone in its exchange (the kernel runs one dump per socket
    /// at a time); the driver never asks otherwise.
    pub(crate) fn begin(&mut self, message_type: u16, requests: &[impl Outgoing]) {
        debug_assert!(requests.len() <= 1 || requests.iter().all(|r| r.kind() == Kind::Acked));
        self.abandon_all();
        self.first = self.sequence.wrapping_add(1);
        self.sequence = self.sequence.wrapping_add(requests.len() as u32);
        self.message_type = message_type;
        self.kinds.clear();
        self.kinds.extend(requests.iter().map(Outgoing::kind));
        self.slots.clear();
        self.slots.resize(requests.len(), Slot::Waiting);
        self.packed = 0;
        self.window_end = 0;
        self.open = 0;
        self.overrun = false;
    }

    /// True when every request of the exchange has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.open == 0 && self.packed == self.slots.len()
    }

    /// True after an overrun in this window: what is still queued arrived
    /// before the loss, so the driver reads without waiting, then calls
    /// [`Protocol::settle_overrun`].
    pub(crate) fn overrun_pending(&self) -> bool {
        self.overrun
    }

    /// Writes the next datagram to send into `out` (cleared first) and
    /// returns the requests it carries; `None` when nothing may be sent
    /// now (all sent, or the window is full until its replies are read).
    ///
    /// `requests` must be the slice given to [`Protocol::begin`]. A request
    /// longer than a netlink message can say is ended with
    /// [`Failure::NotSent`] instead (the typed layer never builds one).
    pub(crate) fn pack(
        &mut self,
        requests: &[impl Outgoing],
        out: &mut Vec<u8>,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Option<Range<usize>> {
        out.clear();
        if self.packed == self.window_end {
            if self.open > 0 || self.packed == self.slots.len() {
                return None;
            }
            // The previous window is answered in full: open the next one,
            // halved if it lost replies.
            let mut window = self.window.unwrap_or(1);
            if std::mem::take(&mut self.overrun) {
                window = (window / 2).max(1);
                log::debug!("replies were lost with {window} in flight; window halved");
                self.window = Some(window);
            }
            self.window_end = self.packed.saturating_add(window).min(self.slots.len());
        }
        let start = self.packed;
        while self.packed < self.window_end {
            let index = self.packed;
            let request = requests.get(index)?;
            let payload = request.payload();
            let length = NLMSG_HDRLEN + payload.len();
            let Ok(length_field) = u32::try_from(length) else {
                self.packed += 1;
                self.slots[index] = Slot::Ended;
                on(Event::End {
                    index,
                    outcome: Err(Failure::NotSent),
                });
                continue;
            };
            if !out.is_empty() && out.len() + datagram::nlmsg_align(length) > MAX_DATAGRAM {
                break;
            }
            let flags = NLM_F_REQUEST
                | match request.kind() {
                    Kind::Dump => NLM_F_DUMP,
                    Kind::Acked => NLM_F_ACK,
                };
            let at = out.len();
            out.resize(at + NLMSG_HDRLEN, 0);
            MessageHeader {
                length: length_field,
                message_type: self.message_type,
                flags,
                sequence: self.first.wrapping_add(index as u32),
                port: self.port,
            }
            .emit(&mut out[at..]);
            out.extend_from_slice(payload);
            out.resize(at + datagram::nlmsg_align(length), 0);
            self.slots[index] = Slot::Open(Progress::default());
            self.open += 1;
            self.packed += 1;
        }
        (self.packed > start && !out.is_empty()).then_some(start..self.packed)
    }

    /// Feeds one received datagram: `bytes` is what was stored, `len` its
    /// real length (larger when it did not fit: `MSG_TRUNC`), `sender` the
    /// sending port id (the kernel is 0).
    pub(crate) fn receive(
        &mut self,
        bytes: &[u8],
        len: usize,
        sender: u32,
        on: &mut dyn FnMut(Event<'_>),
    ) {
        if sender != 0 {
            log::debug!("ignoring a datagram from port {sender}");
            return;
        }
        if len > bytes.len() {
            // Only the first header is reliable.
            let Some(header) = MessageHeader::parse(bytes) else {
                return;
            };
            if let Some(index) = self.open_index(&header) {
                let failure = Failure::Truncated {
                    len,
                    capacity: bytes.len(),
                };
                self.end(index, Err(failure), false, on);
            }
            return;
        }
        self.datagrams += 1;
        let datagram_number = self.datagrams;
        for message in datagram::messages(bytes) {
            let message = match message {
                Ok(message) => message,
                Err(reason) => {
                    // Nothing after a broken header can be attributed.
                    let raw = bytes.to_vec();
                    self.end_all_open(on, || Failure::Malformed {
                        reason: reason.clone(),
                        raw: raw.clone(),
                    });
                    return;
                }
            };
            let header = message.header;
            if header.port != self.port {
                continue;
            }
            if self.draining == Some(header.sequence) {
                if matches!(header.message_type, netlink_packet_core::NLMSG_DONE)
                    || matches!(header.message_type, netlink_packet_core::NLMSG_ERROR)
                {
                    log::debug!("the abandoned dump {} ended", header.sequence);
                    self.draining = None;
                }
                continue;
            }
            let Some(index) = self.open_index(&header) else {
                log::debug!(
                    "skipping a message for seq {} (exchange: {}..+{})",
                    header.sequence,
                    self.first,
                    self.slots.len()
                );
                continue;
            };
            if let (true, Slot::Open(progress)) =
                (header.flags & NLM_F_DUMP_INTR != 0, &mut self.slots[index])
            {
                progress.interrupted = true;
            }
            let (kind, message_type) = (self.kinds[index], self.message_type);
            let reply = match datagram::classify(&message) {
                Ok(reply) => reply,
                Err(reason) => {
                    let raw = message.payload.to_vec();
                    self.end(index, Err(Failure::Malformed { reason, raw }), false, on);
                    continue;
                }
            };
            match reply {
                Reply::Noop => {}
                Reply::Overrun => self.overrun(on),
                Reply::Data {
                    message_type: got,
                    payload,
                } => {
                    if got == message_type {
                        if let Slot::Open(progress) = &mut self.slots[index] {
                            progress.passes = progress.passes.with_data(
                                bytes.len(),
                                datagram_number,
                                progress.last_datagram,
                            );
                            progress.last_datagram = datagram_number;
                        }
                        on(Event::Data { index, payload });
                    } else {
                        let failure = Failure::Unexpected("a message of another family");
                        self.end(index, Err(failure), false, on);
                    }
                }
                Reply::Error { errno, ext_ack } => {
                    self.end(index, Err(Failure::Kernel { errno, ext_ack }), true, on);
                }
                Reply::Ack(warning) => {
                    let outcome = match kind {
                        Kind::Acked => Ok(self.completed(index, warning)),
                        Kind::Dump => Err(Failure::Unexpected("an ACK instead of NLMSG_DONE")),
                    };
                    self.end(index, outcome, true, on);
                }
                Reply::Done { errno, ext_ack } => {
                    let outcome = match (kind, errno) {
                        (Kind::Dump, 0) => Ok(self.completed(index, ext_ack)),
                        (Kind::Dump, errno) => Err(Failure::Kernel { errno, ext_ack }),
                        (Kind::Acked, _) => {
                            Err(Failure::Unexpected("NLMSG_DONE instead of the ACK"))
                        }
                    };
                    self.end(index, outcome, true, on);
                }
            }
        }
    }

    /// Replies were lost: the receive queue overflowed (`ENOBUFS` from
    /// `recvmsg`, or `NLMSG_OVERRUN`). An open dump has lost data and ends
    /// with [`Failure::Overrun`]; acknowledged requests may still find their
    /// ACK in what is queued, so the driver reads on without waiting and
    /// then calls [`Protocol::settle_overrun`].
    pub(crate) fn overrun(&mut self, on: &mut dyn FnMut(Event<'_>)) {
        self.overrun = true;
        for index in 0..self.packed {
            if self.kinds[index] == Kind::Dump && self.is_open(index) {
                self.end(index, Err(Failure::Overrun), false, on);
            }
        }
    }

    /// The queue is read after an overrun: requests still unanswered lost
    /// their reply, and end with [`Failure::Overrun`] (applied or not,
    /// nobody knows). The next window is halved.
    pub(crate) fn settle_overrun(&mut self, on: &mut dyn FnMut(Event<'_>)) {
        self.end_all_open(on, || Failure::Overrun);
    }

    /// The call stops (deadline, or the socket failed): every request sent
    /// and unanswered ends with `failure`, every request not yet sent with
    /// [`Failure::NotSent`].
    pub(crate) fn expire(&mut self, failure: impl Fn() -> Failure, on: &mut dyn FnMut(Event<'_>)) {
        self.end_all_open(on, failure);
        for index in self.packed..self.slots.len() {
            self.slots[index] = Slot::Ended;
            on(Event::End {
                index,
                outcome: Err(Failure::NotSent),
            });
        }
        self.packed = self.slots.len();
    }

    /// The caller gives up on request `index` (it refused a message): no
    /// event for it follows. Returns false if it had ended already.
    pub(crate) fn abandon(&mut self, index: usize) -> bool {
        if !self.is_open(index) {
            return false;
        }
        self.close(index, false);
        true
    }

    /// Abandons every request still open: a caller that stopped early
    /// (its future dropped) left them. Their late replies are skipped, and
    /// an open dump is drained.
    pub(crate) fn abandon_all(&mut self) {
        for index in 0..self.packed {
            self.abandon(index);
        }
    }

    fn is_open(&self, index: usize) -> bool {
        matches!(self.slots.get(index), Some(Slot::Open(_)))
    }

    /// The open request a message header is addressed to.
    fn open_index(&self, header: &MessageHeader) -> Option<usize> {
        if header.port != self.port {
            return None;
        }
        let index = header.sequence.wrapping_sub(self.first) as usize;
        self.is_open(index).then_some(index)
    }

    fn completed(&self, index: usize, warning: ExtAck) -> Completed {
        let progress = match self.slots[index] {
            Slot::Open(progress) => progress,
            Slot::Waiting | Slot::Ended => Progress::default(),
        };
        Completed {
            interrupted: progress.interrupted,
            passes: progress.passes,
            warning,
        }
    }

    fn end_all_open(&mut self, on: &mut dyn FnMut(Event<'_>), failure: impl Fn() -> Failure) {
        for index in 0..self.packed {
            if self.is_open(index) {
                self.end(index, Err(failure()), false, on);
            }
        }
    }

    /// Ends open request `index`; `terminal` when the message that ended it
    /// also ended the kernel's side (`NLMSG_DONE`, `NLMSG_ERROR`).
    fn end(
        &mut self,
        index: usize,
        outcome: Result<Completed, Failure>,
        terminal: bool,
        on: &mut dyn FnMut(Event<'_>),
    ) {
        self.close(index, terminal);
        on(Event::End { index, outcome });
    }

    fn close(&mut self, index: usize, terminal: bool) {
        self.slots[index] = Slot::Ended;
        self.open -= 1;
        if self.kinds[index] == Kind::Dump && !terminal {
            self.draining = Some(self.first.wrapping_add(index as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{
        NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTIPART as NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR,
        NLMSG_OVERRUN,
    };

    const PORT: u32 = 4242;
    const FAMILY: u16 = 0x20;

    /// Everything emitted, owned.
    #[derive(Debug, Default)]
    struct Log {
        data: Vec<(usize, Vec<u8>)>,
        ends: Vec<(usize, Result<Completed, Failure>)>,
    }

    impl Log {
        fn on(&mut self) -> impl FnMut(Event<'_>) + '_ {
            |event| match event {
                Event::Data { index, payload } => self.data.push((index, payload.to_vec())),
                Event::End { index, outcome } => self.ends.push((index, outcome)),
            }
        }
    }

    fn message(message_type: u16, flags: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; NLMSG_HDRLEN];
        MessageHeader {
            length: (NLMSG_HDRLEN + payload.len()) as u32,
            message_type,
            flags,
            sequence,
            port: PORT,
        }
        .emit(&mut out);
        out.extend_from_slice(payload);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn data(sequence: u32, payload: &[u8]) -> Vec<u8> {
        message(FAMILY, NLM_F_MULTI, sequence, payload)
    }

    fn done(sequence: u32, errno: i32) -> Vec<u8> {
        message(NLMSG_DONE, NLM_F_MULTI, sequence, &(-errno).to_ne_bytes())
    }

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn error(sequence: u32, errno: i32, text: Option<&str>) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend([0; NLMSG_HDRLEN]);
        let mut flags = NLM_F_CAPPED;
        if let Some(text) = text {
            flags |= NLM_F_ACK_TLVS;
            payload.extend(tlv(1, format!("{text}\0").as_bytes()));
        }
        message(NLMSG_ERROR, flags, sequence, &payload)
    }

    fn ack(sequence: u32) -> Vec<u8> {
        error(sequence, 0, None)
    }

    type Request = (Kind, &'static [u8]);

    const DUMP: [Request; 1] = [(Kind::Dump, &[1, 1, 0, 0])];

    fn writes(n: usize) -> Vec<Request> {
        vec![(Kind::Acked, &[5, 1, 0, 0]); n]
    }

    /// A protocol with `requests` begun and packed; returns the datagrams.
    fn started(requests: &[Request]) -> (Protocol, Vec<Vec<u8>>) {
        let mut p = Protocol::new(PORT);
        p.size_window(1 << 20);
        p.begin(FAMILY, requests);
        let mut sent = Vec::new();
        let mut out = Vec::new();
        while p
            .pack(requests, &mut out, &mut |_| unreachable!())
            .is_some()
        {
            sent.push(out.clone());
        }
        (p, sent)
    }

    fn feed(p: &mut Protocol, datagram: &[u8], log: &mut Log) {
        p.receive(datagram, datagram.len(), 0, &mut log.on());
    }

    #[test]
    fn a_dump_collects_multipart_messages_across_datagrams_until_done() {
        let (mut p, sent) = started(&DUMP);
        let header = MessageHeader::parse(&sent[0]).unwrap();
        assert_eq!(header.flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(header.port, PORT);
        let seq = header.sequence;
        let mut log = Log::default();
        let mut first = data(seq, b"svc1");
        first.extend(data(seq, b"svc2.."));
        feed(&mut p, &first, &mut log);
        feed(&mut p, &data(seq, b"svc3"), &mut log);
        assert!(!p.is_finished());
        feed(&mut p, &done(seq, 0), &mut log);
        assert!(p.is_finished());
        assert_eq!(
            log.data,
            [
                (0, b"svc1".to_vec()),
                (0, b"svc2..".to_vec()),
                (0, b"svc3".to_vec())
            ]
        );
        let completed = Completed {
            passes: Passes::Many,
            ..Completed::default()
        };
        assert_eq!(log.ends, [(0, Ok(completed))]);
        assert_eq!(p.draining(), None);
    }

    #[test]
    fn done_with_an_errno_fails_the_dump_and_ends_it_in_the_kernel() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(&mut p, &data(1, b"partial"), &mut log);
        feed(&mut p, &done(1, 22), &mut log);
        assert!(matches!(
            &log.ends[..],
            [(0, Err(Failure::Kernel { errno: 22, .. }))]
        ));
        assert_eq!(p.draining(), None);
    }

    #[test]
    fn a_dumps_end_says_how_many_datagrams_carried_its_data() {
        let passes = |datagrams: &[Vec<u8>]| {
            let (mut p, _) = started(&DUMP);
            let mut log = Log::default();
            for datagram in datagrams {
                feed(&mut p, datagram, &mut log);
            }
            feed(&mut p, &done(1, 0), &mut log);
            match &log.ends[..] {
                [(0, Ok(completed))] => completed.passes,
                other => panic!("{other:?}"),
            }
        };
        let two = [data(1, b"a"), data(1, b"b")].concat();
        assert_eq!(passes(&[]), Passes::None);
        assert_eq!(
            passes(std::slice::from_ref(&two)),
            Passes::One { len: two.len() }
        );
        assert_eq!(passes(&[data(1, b"a"), data(1, b"b")]), Passes::Many);
        // A datagram of another request's, or of a stale one, is no pass.
        assert_eq!(
            passes(&[data(1, b"a"), data(7, b"b")]),
            Passes::One {
                len: data(1, b"a").len()
            }
        );
    }

    #[test]
    fn dump_intr_is_reported_on_the_dumps_end() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(
            &mut p,
            &message(FAMILY, NLM_F_MULTI | NLM_F_DUMP_INTR, 1, b"x"),
            &mut log,
        );
        feed(&mut p, &done(1, 0), &mut log);
        assert!(matches!(
            &log.ends[..],
            [(
                0,
                Ok(Completed {
                    interrupted: true,
                    ..
                })
            )]
        ));
    }

    #[test]
    fn an_acked_request_takes_its_data_then_requires_the_ack() {
        let (mut p, sent) = started(&writes(1));
        assert_eq!(
            MessageHeader::parse(&sent[0]).unwrap().flags,
            NLM_F_REQUEST | NLM_F_ACK
        );
        let mut log = Log::default();
        feed(&mut p, &data(1, b"info"), &mut log);
        assert!(log.ends.is_empty());
        feed(&mut p, &ack(1), &mut log);
        assert_eq!(log.data, [(0, b"info".to_vec())]);
        let completed = Completed {
            passes: Passes::One {
                len: data(1, b"info").len(),
            },
            ..Completed::default()
        };
        assert_eq!(log.ends, [(0, Ok(completed))]);
    }

    #[test]
    fn an_error_carries_its_errno_and_extended_ack_text() {
        let (mut p, _) = started(&writes(1));
        let mut log = Log::default();
        feed(&mut p, &error(1, 34, Some("weight out of range")), &mut log);
        let [(0, Err(Failure::Kernel { errno: 34, ext_ack }))] = &log.ends[..] else {
            panic!("{:?}", log.ends)
        };
        assert_eq!(ext_ack.message.as_deref(), Some("weight out of range"));
    }

    #[test]
    fn stale_sequences_foreign_ports_and_other_senders_are_skipped() {
        let (mut p, _) = started(&writes(1));
        let mut log = Log::default();
        feed(&mut p, &error(0, 17, None), &mut log); // a stale request's NACK
        let mut foreign = ack(1);
        foreign[12..16].copy_from_slice(&(PORT + 1).to_ne_bytes());
        feed(&mut p, &foreign, &mut log);
        p.receive(&ack(1), 16 + 20, 7, &mut log.on()); // not from the kernel
        assert!(log.ends.is_empty() && log.data.is_empty());
        feed(&mut p, &ack(1), &mut log);
        assert_eq!(log.ends, [(0, Ok(Completed::default()))]);
    }

    #[test]
    fn a_truncated_datagram_fails_its_request_only() {
        let (mut p, _) = started(&writes(2));
        let mut log = Log::default();
        let big = data(2, &[0; 100]);
        p.receive(&big[..40], big.len(), 0, &mut log.on());
        assert_eq!(
            log.ends,
            [(
                1,
                Err(Failure::Truncated {
                    len: 116,
                    capacity: 40
                })
            )]
        );
        // One for a stale request is skipped like any stale datagram.
        let stale = data(9, &[0; 100]);
        p.receive(&stale[..40], stale.len(), 0, &mut log.on());
        assert_eq!(log.ends.len(), 1);
    }

    #[test]
    fn a_malformed_datagram_fails_every_open_request() {
        let (mut p, _) = started(&writes(2));
        let mut log = Log::default();
        let mut bad = ack(1);
        bad.extend([0xff; 5]);
        feed(&mut p, &bad, &mut log);
        assert_eq!(log.ends[0], (0, Ok(Completed::default())));
        assert!(matches!(
            &log.ends[1..],
            [(
                1,
                Err(Failure::Malformed {
                    reason: MalformedMessage::ShortHeader { .. },
                    ..
                })
            )]
        ));
        assert!(p.is_finished());
    }

    #[test]
    fn protocol_violations_are_unexpected() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(&mut p, &ack(1), &mut log);
        assert_eq!(
            log.ends,
            [(0, Err(Failure::Unexpected("an ACK instead of NLMSG_DONE")))]
        );
        let (mut p, _) = started(&writes(1));
        let mut log = Log::default();
        feed(&mut p, &done(1, 0), &mut log);
        assert_eq!(
            log.ends,
            [(0, Err(Failure::Unexpected("NLMSG_DONE instead of the ACK")))]
        );
        let (mut p, _) = started(&writes(1));
        let mut log = Log::default();
        feed(&mut p, &message(FAMILY + 1, 0, 1, b"?"), &mut log);
        assert_eq!(
            log.ends,
            [(0, Err(Failure::Unexpected("a message of another family")))]
        );
    }

    #[test]
    fn sequence_numbers_advance_per_request_and_wrap() {
        let mut p = Protocol::new(PORT);
        p.sequence = u32::MAX - 1;
        let requests = writes(3);
        p.begin(FAMILY, &requests);
        p.size_window(1 << 20);
        let mut out = Vec::new();
        p.pack(&requests, &mut out, &mut |_| {});
        let seqs: Vec<u32> = datagram::messages(&out)
            .map(|m| m.unwrap().header.sequence)
            .collect();
        assert_eq!(seqs, [u32::MAX, 0, 1]);
        let mut log = Log::default();
        for seq in [1, u32::MAX, 0] {
            feed(&mut p, &ack(seq), &mut log);
        }
        let order: Vec<usize> = log.ends.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, [2, 0, 1]);
        assert!(p.is_finished());
    }

    #[test]
    fn the_window_bounds_requests_in_flight_and_datagrams_their_size() {
        let requests = writes(10);
        let mut p = Protocol::new(PORT);
        p.size_window(3 * ACK_RECEIVE_BUDGET);
        assert_eq!(p.window(), Some(3));
        p.begin(FAMILY, &requests);
        let mut out = Vec::new();
        assert_eq!(p.pack(&requests, &mut out, &mut |_| {}), Some(0..3));
        assert_eq!(p.pack(&requests, &mut out, &mut |_| {}), None);
        let mut log = Log::default();
        feed(&mut p, &ack(1), &mut log);
        feed(&mut p, &ack(2), &mut log);
        assert_eq!(
            p.pack(&requests, &mut out, &mut |_| {}),
            None,
            "one still in flight"
        );
        feed(&mut p, &ack(3), &mut log);
        assert_eq!(p.pack(&requests, &mut out, &mut |_| {}), Some(3..6));

        // A large request splits a window over several datagrams.
        let big = vec![0u8; MAX_DATAGRAM / 3];
        let requests = vec![(Kind::Acked, &big[..]); 4];
        let mut p = Protocol::new(PORT);
        p.size_window(1 << 20);
        p.begin(FAMILY, &requests);
        let mut sizes = Vec::new();
        while let Some(range) = p.pack(&requests, &mut out, &mut |_| {}) {
            assert!(out.len() <= MAX_DATAGRAM);
            sizes.push(range.len());
        }
        assert_eq!(sizes, [2, 2]);
    }

    #[test]
    fn lost_acks_end_their_requests_as_overrun_and_halve_the_window() {
        let requests = writes(8);
        let mut p = Protocol::new(PORT);
        p.size_window(4 * ACK_RECEIVE_BUDGET);
        p.begin(FAMILY, &requests);
        let mut out = Vec::new();
        assert_eq!(p.pack(&requests, &mut out, &mut |_| {}), Some(0..4));
        let mut log = Log::default();
        feed(&mut p, &ack(1), &mut log);
        p.overrun(&mut log.on());
        assert!(p.overrun_pending());
        feed(&mut p, &error(3, 17, None), &mut log); // queued before the loss
        p.settle_overrun(&mut log.on());
        assert!(matches!(
            log.ends[1],
            (2, Err(Failure::Kernel { errno: 17, .. }))
        ));
        assert_eq!(log.ends[2], (1, Err(Failure::Overrun)));
        assert_eq!(log.ends[3], (3, Err(Failure::Overrun)));
        assert_eq!(p.pack(&requests, &mut out, &mut |_| {}), Some(4..6));
        assert_eq!(p.window(), Some(2));
    }

    #[test]
    fn nlmsg_overrun_is_a_loss_too() {
        let (mut p, _) = started(&writes(2));
        let mut log = Log::default();
        feed(&mut p, &message(NLMSG_OVERRUN, 0, 1, &[]), &mut log);
        assert!(p.overrun_pending());
    }

    #[test]
    fn an_overrun_ends_a_dump_at_once_and_drains_it() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(&mut p, &data(1, b"a"), &mut log);
        p.overrun(&mut log.on());
        assert_eq!(log.ends, [(0, Err(Failure::Overrun))]);
        assert_eq!(p.draining(), Some(1));
    }

    #[test]
    fn expiry_ends_the_sent_with_the_failure_and_the_rest_as_not_sent() {
        let requests = writes(5);
        let mut p = Protocol::new(PORT);
        p.size_window(2 * ACK_RECEIVE_BUDGET);
        p.begin(FAMILY, &requests);
        let mut out = Vec::new();
        p.pack(&requests, &mut out, &mut |_| {});
        let mut log = Log::default();
        feed(&mut p, &ack(1), &mut log);
        p.expire(|| Failure::Timeout, &mut log.on());
        assert_eq!(
            log.ends,
            [
                (0, Ok(Completed::default())),
                (1, Err(Failure::Timeout)),
                (2, Err(Failure::NotSent)),
                (3, Err(Failure::NotSent)),
                (4, Err(Failure::NotSent)),
            ]
        );
        assert!(p.is_finished());
    }

    #[test]
    fn an_abandoned_dump_is_drained_by_its_sequence_until_its_done() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(&mut p, &data(1, b"first"), &mut log);
        p.expire(|| Failure::Timeout, &mut log.on());
        assert_eq!(p.draining(), Some(1));
        // The next exchange starts while the old dump still sends.
        let requests = writes(1);
        p.begin(FAMILY, &requests);
        let mut out = Vec::new();
        p.pack(&requests, &mut out, &mut |_| {});
        feed(&mut p, &data(1, b"second"), &mut log);
        feed(&mut p, &done(1, 0), &mut log);
        assert_eq!(p.draining(), None);
        feed(&mut p, &ack(2), &mut log);
        assert_eq!(
            log.data,
            [(0, b"first".to_vec())],
            "the old dump's data reached nobody"
        );
        assert_eq!(log.ends.last(), Some(&(0, Ok(Completed::default()))));
    }

    #[test]
    fn a_caller_that_refuses_a_message_abandons_its_dump_to_the_drain() {
        let (mut p, _) = started(&DUMP);
        let mut log = Log::default();
        feed(&mut p, &data(1, b"bad"), &mut log);
        assert!(p.abandon(0));
        assert!(!p.abandon(0), "once");
        assert!(p.is_finished());
        assert_eq!(p.draining(), Some(1));
        feed(&mut p, &data(1, b"more"), &mut log);
        assert_eq!(log.data.len(), 1);
        // A dropped caller: the next begin abandons what is open.
        let (mut p, _) = started(&DUMP);
        p.begin(FAMILY, &writes(1));
        assert_eq!(p.draining(), Some(1));
        p.retire(PORT + 1);
        assert_eq!((p.draining(), p.port), (None, PORT + 1));
    }

    #[test]
    fn a_finished_dump_needs_no_drain_and_an_acked_request_never_does() {
        let (mut p, _) = started(&writes(1));
        let mut log = Log::default();
        p.expire(|| Failure::Timeout, &mut log.on());
        assert_eq!(p.draining(), None);
        let (mut p, _) = started(&DUMP);
        feed(&mut p, &error(1, 16, None), &mut log); // EBUSY: the dump never started
        assert_eq!(p.draining(), None);
    }
}
