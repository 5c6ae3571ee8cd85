// SPDX-License-Identifier: MIT OR Apache-2.0
//! The fake's netlink socket: what a handle sends goes through the kernel
//! at once (the kernel answers inside `sendmsg`), and what it answers
//! waits in the socket's receive queue, in order, until read. A running
//! dump makes its next datagram as the previous one is read
//! (`netlink_recvmsg()`). Faults act here, around the kernel.
//!
//! [`FakeSocket`] is a blocking [`Transport`] (it sleeps for what is late,
//! up to the call's deadline); [`AsyncFakeSocket`] waits on tokio's clock
//! instead, so a call waiting on it can be cancelled.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipvs_sys::IpvsCmd;
use netlink_packet_core::NLM_F_DUMP;
use nix::errno::Errno;

use super::dump::{self, Dump};
use super::fault::Fault;
use super::genl::{self, Answer};
use super::parse::{Genl, Refusal};
use super::{Kernel, LoggedRequest};
use crate::datagram::{RawMessage, messages};
use crate::transport::{Received, Transport};

/// A datagram in the receive queue.
#[derive(Debug)]
struct Queued {
    bytes: Vec<u8>,
    /// Not readable before this (a [`Fault::Delay`]).
    ready_at: Option<Instant>,
}

/// One netlink socket on the fake kernel.
#[derive(Debug)]
pub(super) struct FakeSocket {
    kernel: Arc<Mutex<Kernel>>,
    port: u32,
    queue: VecDeque<Queued>,
    /// The dump running on this socket.
    dump: Option<Dump>,
    /// `nlk->max_recvmsg_len`: the largest receive buffer seen.
    max_recvmsg_len: usize,
    /// `sk->sk_err`, which the next receive reports (`ENOBUFS` after an
    /// overrun).
    error: Option<Errno>,
}

/// What a receive finds now.
enum Step {
    /// A datagram, an error, or nothing ever to come.
    Ready(io::Result<Option<Received>>),
    /// Nothing yet; something may be readable at this instant (`None`:
    /// nothing will come but what the deadline cuts off).
    Wait(Option<Instant>),
}

/// Locks the kernel, whatever a panicking test thread left behind (every
/// change to it is complete before the lock is released).
pub(super) fn lock(kernel: &Mutex<Kernel>) -> MutexGuard<'_, Kernel> {
    kernel
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeSocket {
    /// A socket bound to a fresh port id (`bind_auto`).
    pub(super) fn open(kernel: &Arc<Mutex<Kernel>>) -> Self {
        let port = lock(kernel).allocate_port();
        Self {
            kernel: Arc::clone(kernel),
            port,
            queue: VecDeque::new(),
            dump: None,
            max_recvmsg_len: 0,
            error: None,
        }
    }

    /// `sendmsg()`: a planned send failure, or each message of the
    /// datagram through the kernel (`netlink_rcv_skb()` stops at a
    /// malformed header), with the faults planned for it.
    fn deliver(&mut self, datagram: &[u8]) -> io::Result<()> {
        let kernel = Arc::clone(&self.kernel);
        let mut kernel = lock(&kernel);
        if let Some(errno) = kernel.faults.on_send() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        for message in messages(datagram) {
            let Ok(message) = message else { break };
            self.process(&mut kernel, &message);
        }
        Ok(())
    }

    fn process(&mut self, kernel: &mut Kernel, message: &RawMessage<'_>) {
        let header = message.header;
        let command = (Some(header.message_type) == kernel.family)
            .then(|| Genl::of(message.payload).map(|g| IpvsCmd::from(g.cmd)))
            .flatten();
        let dump = header.flags & NLM_F_DUMP == NLM_F_DUMP;
        let write = command.is_some_and(genl::is_write) && !dump;
        let fault = kernel.faults.on_request(write);
        let answer = match &fault {
            Some(Fault::Refuse(errno)) => {
                Answer::refused(&header, self.port, &Refusal::from(Errno::from_raw(*errno)))
            }
            _ => {
                let socket = genl::Socket {
                    port: self.port,
                    dumping: self.dump.is_some(),
                    room: dump::room(self.max_recvmsg_len),
                };
                genl::receive(kernel, message, &socket)
            }
        };
        kernel.log.push(LoggedRequest {
            command,
            dump,
            errno: answer.errno,
            fault: fault.clone(),
            port: self.port,
            dump_datagram_room: dump::room(self.max_recvmsg_len),
        });
        let ready_at = match fault {
            Some(Fault::LoseReply) => return,
            Some(Fault::Overrun) => {
                self.error = Some(Errno::ENOBUFS);
                return;
            }
            Some(Fault::Delay(delay)) => Instant::now().checked_add(delay),
            _ => None,
        };
        if answer.dump.is_some() {
            self.dump = answer.dump;
        }
        self.queue.extend(
            answer
                .datagrams
                .into_iter()
                .map(|bytes| Queued { bytes, ready_at }),
        );
    }

    /// One receive into `buf`, without waiting.
    fn step(&mut self, buf: &mut [u8]) -> Step {
        self.max_recvmsg_len = self
            .max_recvmsg_len
            .max(buf.len())
            .min(dump::MAX_RECVMSG_LEN);
        if let Some(errno) = self.error.take() {
            return Step::Ready(Err(io::Error::from_raw_os_error(errno as i32)));
        }
        let now = Instant::now();
        match self.queue.front() {
            None => return Step::Wait(None),
            Some(Queued {
                ready_at: Some(at), ..
            }) if *at > now => return Step::Wait(Some(*at)),
            Some(_) => {}
        }
        let Some(Queued { bytes, .. }) = self.queue.pop_front() else {
            return Step::Wait(None);
        };
        // MSG_TRUNC: the datagram's real length; what does not fit is lost.
        let stored = bytes.len().min(buf.len());
        buf[..stored].copy_from_slice(&bytes[..stored]);
        self.continue_dump();
        Step::Ready(Ok(Some(Received {
            len: bytes.len(),
            sender: 0,
        })))
    }

    /// `netlink_recvmsg()`: a datagram was read, so a running dump makes
    /// its next one.
    fn continue_dump(&mut self) {
        let Some(dump) = self.dump.as_mut() else {
            return;
        };
        let kernel = lock(&self.kernel);
        let family = kernel.family.unwrap_or_default();
        let (bytes, done) = dump.next(&kernel.table, family, dump::room(self.max_recvmsg_len));
        drop(kernel);
        self.queue.push_back(Queued {
            bytes,
            ready_at: None,
        });
        if done {
            self.dump = None;
        }
    }

    /// A fresh socket in place of this one: what was queued, and the dump,
    /// go with the old one.
    fn replace(&mut self) {
        *self = Self::open(&self.kernel);
    }

    /// What a socket asked for `wanted` bytes of receive queue holds.
    fn receive_queue(&self, wanted: usize) -> usize {
        lock(&self.kernel).receive_queue(wanted)
    }
}

impl Transport for FakeSocket {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.deliver(datagram)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>> {
        // A timeout too long to add is a wait without end, as `poll(-1)`.
        let deadline = Instant::now().checked_add(timeout.min(FOREVER));
        loop {
            let until = match self.step(buf) {
                Step::Ready(result) => return result,
                Step::Wait(at) => earliest(at, deadline),
            };
            let now = Instant::now();
            match until {
                Some(until) if until > now => std::thread::sleep(until - now),
                _ => return Ok(None),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // One last look: what became ready at the deadline counts.
                return match self.step(buf) {
                    Step::Ready(result) => result,
                    Step::Wait(_) => Ok(None),
                };
            }
        }
    }

    fn local_port(&self) -> u32 {
        self.port
    }

    fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
        self.receive_queue(wanted)
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.replace();
        Ok(())
    }

    fn sibling(&self) -> io::Result<Option<Box<dyn Transport>>> {
        Ok(Some(Box::new(Self::open(&self.kernel))))
    }
}

/// Longer than any test waits.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// The earlier of two instants, `None` being "never".
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(feature = "tokio")]
pub(super) use self::asynchronous::AsyncFakeSocket;

#[cfg(feature = "tokio")]
mod asynchronous {
    use super::*;
    use crate::transport::AsyncTransport;
    use std::future::Future;
    use std::pin::Pin;

    /// The fake's socket for [`crate::AsyncIpvs`]: it waits on tokio's
    /// clock, so a call waiting on it can be cancelled.
    #[derive(Debug)]
    pub(in super::super) struct AsyncFakeSocket(pub(in super::super) FakeSocket);

    type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    impl AsyncTransport for AsyncFakeSocket {
        fn send<'a>(&'a mut self, datagram: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
            Box::pin(std::future::ready(self.0.deliver(datagram)))
        }

        fn recv<'a>(
            &'a mut self,
            buf: &'a mut [u8],
            deadline: Option<Instant>,
        ) -> BoxFuture<'a, io::Result<Option<Received>>> {
            Box::pin(async move {
                loop {
                    let until = match self.0.step(buf) {
                        Step::Ready(result) => return result,
                        // Without a deadline, nothing is waited for.
                        Step::Wait(at) => earliest(at, deadline).filter(|_| deadline.is_some()),
                    };
                    let Some(until) = until.filter(|u| *u > Instant::now()) else {
                        return Ok(None);
                    };
                    // A dropped future stops here; the queue is unchanged.
                    tokio::time::sleep_until(until.into()).await;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return match self.0.step(buf) {
                            Step::Ready(result) => result,
                            Step::Wait(_) => Ok(None),
                        };
                    }
                }
            })
        }

        fn local_port(&self) -> u32 {
            self.0.port
        }

        fn reserve_receive_queue(&mut self, wanted: usize) -> usize {
            self.0.receive_queue(wanted)
        }

        fn reopen(&mut self) -> io::Result<()> {
            self.0.replace();
            Ok(())
        }

        fn sibling(&self) -> io::Result<Option<Box<dyn AsyncTransport>>> {
            Ok(Some(Box::new(AsyncFakeSocket(FakeSocket::open(
                &self.0.kernel,
            )))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{MessageHeader, classify};
    use crate::fake::FakeIpvs;
    use ipvs_sys::{IpvsAttribute, IpvsMessage, Nested, ServiceAttribute};
    use netlink_packet_core::{NLM_F_ACK, NLM_F_MULTIPART, NLM_F_REQUEST};
    use netlink_packet_generic::constants::GENL_ID_CTRL;

    const FAMILY: u16 = 0x20;

    fn socket(fake: &FakeIpvs) -> FakeSocket {
        FakeSocket::open(&fake.kernel)
    }

    fn request(message_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        crate::fake::reply::message(
            message_type,
            flags,
            crate::fake::reply::To { seq, port: 0 },
            payload,
        )
    }

    fn ipvs(message: IpvsMessage) -> Vec<u8> {
        crate::request::encode(&message).unwrap()
    }

    /// Every datagram the socket has, without waiting.
    fn drain(socket: &mut FakeSocket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        while let Some(received) = Transport::recv(socket, &mut buf, Duration::ZERO).unwrap() {
            out.push(buf[..received.len].to_vec());
        }
        out
    }

    fn replies(datagram: &[u8]) -> Vec<(MessageHeader, String)> {
        messages(datagram)
            .map(|m| {
                let m = m.unwrap();
                (m.header, format!("{:?}", classify(&m).unwrap()))
            })
            .collect()
    }

    fn add_services(socket: &mut FakeSocket, count: u32) {
        let mut datagram = Vec::new();
        for n in 0..count {
            let service = crate::Service::new(
                crate::ServiceKey::fwmark(n + 1),
                crate::Scheduler::RoundRobin,
            );
            let add = crate::request::Request::add_service(&service).unwrap();
            let payload = add.outbound().payload;
            datagram.extend(request(FAMILY, NLM_F_REQUEST | NLM_F_ACK, n + 10, payload));
        }
        Transport::send(socket, &datagram).unwrap();
        assert_eq!(drain(socket).len(), count as usize, "one ACK each");
    }

    #[test]
    fn the_controller_describes_the_family_then_acks() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        let payload = crate::family::getfamily_request("IPVS");
        Transport::send(
            &mut s,
            &request(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, 1, &payload),
        )
        .unwrap();
        let datagrams = drain(&mut s);
        assert_eq!(
            datagrams.len(),
            2,
            "the reply and the ACK, each its own datagram"
        );
        let reply = messages(&datagrams[0]).next().unwrap().unwrap();
        assert_eq!(
            (reply.header.sequence, reply.header.port),
            (1, s.local_port())
        );
        let info = crate::family::parse_family_reply(reply.payload, "IPVS").unwrap();
        assert_eq!(info.id, FAMILY);
        assert!(replies(&datagrams[1])[0].1.starts_with("Ack"));
        let payload = crate::family::getfamily_request("nosuch");
        Transport::send(&mut s, &request(GENL_ID_CTRL, NLM_F_REQUEST, 2, &payload)).unwrap();
        assert!(
            replies(&drain(&mut s)[0])[0].1.contains("errno: 2"),
            "ENOENT"
        );
    }

    #[test]
    fn a_dump_spans_datagrams_made_as_they_are_read_and_ends_with_done_alone() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        add_services(&mut s, 300);
        let dump = request(
            FAMILY,
            NLM_F_REQUEST | NLM_F_DUMP,
            7,
            &ipvs(IpvsMessage::new(IpvsCmd::GetService, vec![])),
        );
        Transport::send(&mut s, &dump).unwrap();
        assert_eq!(s.queue.len(), 1, "only the first datagram is made at once");
        let datagrams = drain(&mut s);
        assert!(datagrams.len() > 2, "{} datagrams", datagrams.len());
        let mut services = 0;
        for datagram in &datagrams[..datagrams.len() - 1] {
            assert!(datagram.len() <= dump::room(64 * 1024));
            for (header, reply) in replies(datagram) {
                assert_eq!((header.flags, header.sequence), (NLM_F_MULTIPART, 7));
                assert!(reply.starts_with("Data"));
                services += 1;
            }
        }
        assert_eq!(services, 300);
        let last = replies(datagrams.last().unwrap());
        assert_eq!(last.len(), 1);
        assert!(last[0].1.starts_with("Done { errno: 0"), "{last:?}");
    }

    #[test]
    fn a_second_dump_while_one_runs_is_ebusy_and_a_new_socket_ends_it() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        add_services(&mut s, 100);
        let dump = |seq| {
            request(
                FAMILY,
                NLM_F_REQUEST | NLM_F_DUMP,
                seq,
                &ipvs(IpvsMessage::new(IpvsCmd::GetService, vec![])),
            )
        };
        Transport::send(&mut s, &dump(1)).unwrap();
        Transport::send(&mut s, &dump(2)).unwrap();
        let datagrams = drain(&mut s);
        let busy = datagrams
            .iter()
            .flat_map(|d| replies(d))
            .find(|(h, _)| h.sequence == 2)
            .unwrap();
        assert!(busy.1.contains("errno: 16"), "EBUSY: {busy:?}");
        Transport::send(&mut s, &dump(3)).unwrap();
        let port = s.local_port();
        s.reopen().unwrap();
        assert_ne!(s.local_port(), port);
        assert!(drain(&mut s).is_empty(), "the old socket's queue is gone");
        Transport::send(&mut s, &dump(4)).unwrap();
        assert!(drain(&mut s).len() > 1);
    }

    #[test]
    fn what_is_not_a_request_is_acked_only_if_asked_and_bad_headers_end_the_datagram() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        let mut datagram = request(FAMILY, NLM_F_ACK, 1, &[15, 1, 0, 0]); // no NLM_F_REQUEST
        datagram.extend(request(3, NLM_F_REQUEST, 2, &[])); // a control type, no ACK asked
        datagram.extend(request(
            FAMILY,
            NLM_F_REQUEST | NLM_F_ACK,
            3,
            &[99, 1, 0, 0],
        ));
        datagram.extend([0xff; 7]); // a broken header: the rest is ignored
        Transport::send(&mut s, &datagram).unwrap();
        let answers: Vec<_> = drain(&mut s).iter().flat_map(|d| replies(d)).collect();
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert!(answers[0].1.starts_with("Ack"));
        assert!(
            answers[1].1.contains("errno: 95"),
            "EOPNOTSUPP for command 99"
        );
    }

    #[test]
    fn any_datagram_gets_an_answer_and_never_a_panic() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        let mut state = 0x9e37_79b9_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..2000 {
            // A genl header with a real command, then random attributes.
            let cmd = (next() % 20) as u8;
            let mut payload = vec![cmd, 1, 0, 0];
            for _ in 0..next() % 12 {
                let kind = (next() % 8) as u16 | if next() % 4 == 0 { 0x8000 } else { 0 };
                let len = (next() % 24) as usize;
                let value: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                payload.extend(((4 + len) as u16).to_ne_bytes());
                payload.extend(kind.to_ne_bytes());
                payload.extend(value);
                payload.resize(payload.len().next_multiple_of(4), 0);
            }
            if next() % 5 == 0 {
                payload.truncate((next() as usize) % (payload.len() + 1));
            }
            let flags = NLM_F_REQUEST
                | if next() % 3 == 0 {
                    NLM_F_DUMP
                } else {
                    NLM_F_ACK
                };
            Transport::send(&mut s, &request(FAMILY, flags, 1, &payload)).unwrap();
            for datagram in drain(&mut s) {
                for message in messages(&datagram) {
                    let message = message.unwrap();
                    assert!(classify(&message).is_ok(), "{message:?}");
                }
            }
        }
        // Whatever it made of that, the table reads back.
        let _ = fake.snapshot();
    }

    #[test]
    fn a_service_request_with_a_nest_of_garbage_is_einval() {
        let fake = FakeIpvs::new();
        let mut s = socket(&fake);
        let message = IpvsMessage::new(
            IpvsCmd::NewService,
            vec![IpvsAttribute::Service(Nested::new(vec![
                ServiceAttribute::Other(netlink_packet_core::DefaultNla::new(6, b"rr".to_vec())),
            ]))],
        );
        Transport::send(
            &mut s,
            &request(FAMILY, NLM_F_REQUEST | NLM_F_ACK, 1, &ipvs(message)),
        )
        .unwrap();
        let answer = replies(&drain(&mut s)[0]);
        assert!(answer[0].1.contains("errno: 22"), "{answer:?}");
    }
}
