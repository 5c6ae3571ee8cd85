// SPDX-License-Identifier: MIT OR Apache-2.0
//! A scripted fake kernel for the no-root tests of the protocol (where
//! each test writes the kernel's bytes itself; tests of what the kernel
//! keeps use `ipvs::fake`), message builders, and [`Handle`]: either
//! handle over a fake kernel, so that a test runs the same calls through
//! the blocking and the async driver.
#![allow(dead_code)] // each test binary uses a subset

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipvs::testing::{AsyncTransport, MessageHeader, NLMSG_HDRLEN, Received, Transport};

pub const PORT: u32 = 4242;
pub const FAMILY: u16 = 0x20;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_MULTI: u16 = 2;
pub const NLM_F_ACK: u16 = 4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// What the fake kernel does with one `recv`.
pub enum Delivery {
    Datagram {
        bytes: Vec<u8>,
        sender: u32,
    },
    /// A datagram whose real length exceeds what is delivered.
    Oversized {
        first: Vec<u8>,
        len: usize,
    },
    Fail(i32),
    /// Nothing arrives for this long (a kernel that stalls).
    Stall(Duration),
    /// A datagram the socket has queued, which the reader takes this long
    /// to get to, whatever its deadline (a busy or descheduled reader).
    Slow(Duration, Vec<u8>),
}

enum Front {
    Stall(Duration),
    Ready(io::Result<Option<Received>>),
}

pub type Script = Box<dyn FnMut(&MessageHeader, &[u8]) -> Vec<Delivery> + Send>;

/// A scripted kernel: each request is answered by `script`, whose
/// deliveries are queued; `recv` on an empty queue is a timeout.
pub struct FakeKernel {
    pub script: Script,
    pub queue: VecDeque<Delivery>,
    /// Every datagram sent, as sent.
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    /// What `reserve_receive_queue` grants (bytes).
    pub receive_queue: usize,
    /// The most deliveries ever queued and unread right after a send: the
    /// replies in flight.
    pub max_queued: Arc<AtomicUsize>,
    /// The socket's port id; `reopen` changes it.
    pub port: u32,
    /// Sockets opened in all (`reopen` opens one more).
    pub sockets: Arc<Mutex<usize>>,
    /// Answer a dump request with EBUSY while another dump's replies are
    /// still queued, as the kernel does.
    pub busy_dumps: bool,
}

impl FakeKernel {
    pub fn new(
        script: impl FnMut(&MessageHeader, &[u8]) -> Vec<Delivery> + Send + 'static,
    ) -> Self {
        Self {
            script: Box::new(script),
            queue: VecDeque::new(),
            requests: Arc::default(),
            receive_queue: 1 << 20,
            max_queued: Arc::default(),
            port: PORT,
            sockets: Arc::new(Mutex::new(1)),
            busy_dumps: true,
        }
    }

    /// The front of the queue: a stall still to wait out, or what `recv`
    /// returns (the delivery is taken).
    fn front(&mut self, buf: &mut [u8]) -> Front {
        if let Some(Delivery::Stall(stall)) = self.queue.front() {
            return Front::Stall(*stall);
        }
        Front::Ready(match self.queue.pop_front() {
            None => Ok(None),
            Some(Delivery::Stall(_)) => unreachable!("handled above"),
            Some(Delivery::Fail(errno)) => Err(io::Error::from_raw_os_error(errno)),
            Some(Delivery::Datagram { bytes, sender }) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(Some(Received {
                    len: bytes.len(),
                    sender,
                }))
            }
            Some(Delivery::Oversized { first, len }) => {
                let n = first.len().min(buf.len());
                buf[..n].copy_from_slice(&first[..n]);
                Ok(Some(Received { len, sender: 0 }))
            }
            Some(Delivery::Slow(delay, bytes)) => {
                std::thread::sleep(delay);
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(Some(Received {
                    len: bytes.len(),
                    sender: 0,
                }))
            }
        })
    }

    /// `waited` of the stall at the front has passed.
    fn stalled(&mut self, waited: Duration) {
        if let Some(Delivery::Stall(stall)) = self.queue.front_mut() {
            *stall = stall.saturating_sub(waited);
            if stall.is_zero() {
                self.queue.pop_front();
            }
        }
    }

    /// Whether a dump's replies are still queued.
    fn dump_running(&self) -> bool {
        self.queue.iter().any(|d| match d {
            Delivery::Datagram { bytes, .. } => ipvs::testing::messages(bytes)
                .flatten()
                .any(|m| m.header.flags & NLM_F_MULTI != 0 && m.header.port == self.port),
            Delivery::Stall(_) => true,
            _ => false,
        })
    }
}

impl Transport for FakeKernel {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.requests.lock().unwrap().push(datagram.to_vec());
        // Like the kernel, answer each message of the datagram in turn.
        for message in ipvs::testing::messages(datagram) {
            let message = message.expect("requests are well-formed");
            assert_eq!(message.header.port, self.port, "requests carry our port id");
            if self.busy_dumps
                && message.header.flags & NLM_F_DUMP == NLM_F_DUMP
                && self.dump_running()
            {
                self.queue
                    .push_back(kernel(error(&message.header, nix_errno::EBUSY, None)));
                continue;
            }
            let deliveries = (self.script)(&message.header, message.payload);
            self.queue.extend(deliveries);
        }
        self.max_queued
            .fetch_max(self.queue.len(), Ordering::Relaxed);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<Received>> {
        let mut left = timeout;
        loop {
            match self.front(buf) {
                Front::Ready(result) => return result,
                Front::Stall(stall) => {
                    let wait = stall.min(left);
                    std::thread::sleep(wait);
                    self.stalled(wait);
                    left -= wait;
                    if wait < stall {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn local_port(&self) -> u32 {
        self.port
    }

    fn reserve_receive_queue(&mut self, _wanted: usize) -> usize {
        self.receive_queue
    }

    fn reopen(&mut self) -> io::Result<()> {
        // Closing the socket drops what was queued for it.
        self.queue.clear();
        self.port += 1;
        *self.sockets.lock().unwrap() += 1;
        Ok(())
    }
}

/// A fake kernel for the async handle whose stalls really wait (on tokio's
/// clock), so that a call can be cancelled while it waits.
pub struct AsyncFake(pub FakeKernel);

impl AsyncTransport for AsyncFake {
    fn send<'a>(
        &'a mut self,
        datagram: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>> {
        Box::pin(std::future::ready(Transport::send(&mut self.0, datagram)))
    }

    fn recv<'a>(
        &'a mut self,
        buf: &'a mut [u8],
        deadline: Option<Instant>,
    ) -> Pin<Box<dyn Future<Output = io::Result<Option<Received>>> + Send + 'a>> {
        Box::pin(async move {
            loop {
                match self.0.front(buf) {
                    Front::Ready(result) => return result,
                    Front::Stall(stall) => {
                        let left = deadline.map_or(Duration::ZERO, |d| {
                            d.saturating_duration_since(Instant::now())
                        });
                        let wait = stall.min(left);
                        // A dropped future stops here, the stall unchanged.
                        tokio::time::sleep(wait).await;
                        self.0.stalled(wait);
                        if wait < stall {
                            return Ok(None);
                        }
                    }
                }
            }
        })
    }

    fn local_port(&self) -> u32 {
        self.0.port
    }

    fn reserve_receive_queue(&mut self, _wanted: usize) -> usize {
        self.0.receive_queue
    }

    fn reopen(&mut self) -> io::Result<()> {
        Transport::reopen(&mut self.0)
    }
}

pub fn message(message_type: u16, flags: u16, sequence: u32, port: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0; NLMSG_HDRLEN];
    MessageHeader {
        length: (NLMSG_HDRLEN + payload.len()) as u32,
        message_type,
        flags,
        sequence,
        port,
    }
    .emit(&mut out);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

pub fn data(req: &MessageHeader, flags: u16, payload: &[u8]) -> Vec<u8> {
    message(req.message_type, flags, req.sequence, req.port, payload)
}

pub fn done(req: &MessageHeader, errno: i32) -> Vec<u8> {
    message(
        NLMSG_DONE,
        NLM_F_MULTI,
        req.sequence,
        req.port,
        &(-errno).to_ne_bytes(),
    )
}

pub fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// NLMSG_ERROR with a capped echo and optional extended-ACK text.
pub fn error(req: &MessageHeader, errno: i32, text: Option<&str>) -> Vec<u8> {
    let mut payload = (-errno).to_ne_bytes().to_vec();
    let mut echoed = vec![0; NLMSG_HDRLEN];
    req.emit(&mut echoed);
    payload.extend(echoed);
    let mut flags = NLM_F_CAPPED;
    if let Some(text) = text {
        flags |= NLM_F_ACK_TLVS;
        payload.extend(tlv(1, format!("{text}\0").as_bytes()));
        payload.extend(tlv(2, &24u32.to_ne_bytes()));
    }
    message(NLMSG_ERROR, flags, req.sequence, req.port, &payload)
}

pub fn ack(req: &MessageHeader) -> Vec<u8> {
    error(req, 0, None)
}

pub fn kernel(bytes: Vec<u8>) -> Delivery {
    Delivery::Datagram { bytes, sender: 0 }
}

/// A controller reply describing the IPVS family with id `id`.
pub fn ctrl_reply(req: &MessageHeader, id: u16) -> Vec<u8> {
    let mut payload = vec![1, 2, 0, 0];
    payload.extend(tlv(1, &id.to_ne_bytes()));
    payload.extend(tlv(2, b"IPVS\0"));
    payload.extend(tlv(3, &1u32.to_ne_bytes()));
    payload.extend(tlv(5, &6u32.to_ne_bytes()));
    payload.extend(tlv(6, &[6, 0, 8, 0, 1, 0, 0, 0])); // the attr that panics upstream
    message(0x10, 0, req.sequence, req.port, &payload)
}

/// A fake kernel whose IPVS family id is `FAMILY + *generation`: bumping
/// the generation is the module being reloaded under a new id. Requests to
/// any other id get ENOENT (unknown family); IPVS requests are ACKed.
pub fn reloadable_kernel(generation: Arc<Mutex<u16>>) -> FakeKernel {
    FakeKernel::new(move |req, _| {
        let id = FAMILY + *generation.lock().unwrap();
        if req.message_type == 0x10 {
            return vec![kernel(ctrl_reply(req, id)), kernel(ack(req))];
        }
        if req.message_type != id {
            return vec![kernel(error(req, nix_errno::ENOENT, None))]; // unknown family id
        }
        vec![kernel(ack(req))]
    })
}

/// errno values used by the tests (Linux).
pub mod nix_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EEXIST: i32 = 17;
    pub const EBUSY: i32 = 16;
    pub const ENOTDIR: i32 = 20;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const ENOBUFS: i32 = 105;
}

// ---- a handle over the fake kernel, speaking IPVS messages ----

use ipvs::Ipvs;
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage};
use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;

pub type Requests = Arc<Mutex<Vec<Vec<u8>>>>;

/// A fake kernel that resolves the family to `FAMILY` and answers IPVS
/// requests with `script(header, decoded request)`.
pub fn ipvs_kernel(
    mut script: impl FnMut(&MessageHeader, IpvsMessage) -> Vec<Delivery> + Send + 'static,
) -> FakeKernel {
    FakeKernel::new(move |req, payload| {
        if req.message_type == 0x10 {
            return vec![kernel(ctrl_reply(req, FAMILY)), kernel(ack(req))];
        }
        script(req, parse(payload))
    })
}

/// A handle on [`ipvs_kernel`]`(script)`.
pub fn handle(
    script: impl FnMut(&MessageHeader, IpvsMessage) -> Vec<Delivery> + Send + 'static,
) -> (Ipvs, Requests) {
    let kernel_side = ipvs_kernel(script);
    let requests = kernel_side.requests.clone();
    let ipvs = Ipvs::with_transport(kernel_side).expect("family resolves");
    (ipvs, requests)
}

/// Either handle over a fake kernel: tests run their calls through both
/// drivers with [`on!`].
pub enum Handle {
    Blocking(Ipvs),
    Async(ipvs::AsyncIpvs, tokio::runtime::Runtime),
}

impl Handle {
    /// Which driver, for assertion messages.
    pub fn driver(&self) -> &'static str {
        match self {
            Handle::Blocking(_) => "blocking",
            Handle::Async(..) => "async",
        }
    }

    /// A handle of each driver, each over its own `make()` kernel, with the
    /// family resolved and the timeout set.
    pub fn both(make: impl Fn() -> FakeKernel, timeout: Duration) -> [(Handle, Requests); 2] {
        let blocking = make();
        let blocking_requests = blocking.requests.clone();
        let ipvs = Ipvs::with_transport(blocking).expect("family resolves");
        ipvs.set_timeout(timeout);
        let asynchronous = make();
        let async_requests = asynchronous.requests.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime
            .block_on(ipvs::AsyncIpvs::with_transport(AsyncFake(asynchronous)))
            .expect("family resolves");
        handle.set_timeout(timeout);
        [
            (Handle::Blocking(ipvs), blocking_requests),
            (Handle::Async(handle, runtime), async_requests),
        ]
    }
}

/// Write requests `fake` has received.
pub fn writes(fake: &ipvs::fake::FakeIpvs) -> usize {
    fake.requests().iter().filter(|r| r.is_write()).count()
}

/// Dump requests `fake` has received.
pub fn dumps(fake: &ipvs::fake::FakeIpvs) -> usize {
    fake.requests().iter().filter(|r| r.dump).count()
}

/// A handle of each driver on `fake` (each its own socket on the shared
/// table), with the timeout set.
pub fn fake_handles(fake: &ipvs::fake::FakeIpvs, timeout: Duration) -> [Handle; 2] {
    let blocking = fake.handle().expect("the fake's family resolves");
    blocking.set_timeout(timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let asynchronous = runtime
        .block_on(fake.async_handle())
        .expect("the fake's family resolves");
    asynchronous.set_timeout(timeout);
    [
        Handle::Blocking(blocking),
        Handle::Async(asynchronous, runtime),
    ]
}

/// Calls `method(args)` on either handle, waiting for the async one.
#[macro_export]
macro_rules! on {
    ($handle:expr, $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$handle {
            $crate::common::Handle::Blocking(ipvs) => ipvs.$method($($arg),*),
            $crate::common::Handle::Async(ipvs, runtime) => runtime.block_on(ipvs.$method($($arg),*)),
        }
    };
}

pub fn parse(payload: &[u8]) -> IpvsMessage {
    let header = GenlHeader {
        cmd: payload[0],
        version: payload[1],
    };
    assert_eq!(header.version, 1, "IPVS genl version");
    IpvsMessage::parse_with_param(&payload[4..], header).expect("request decodes")
}

/// A kernel reply message carrying `cmd` and `attributes`.
pub fn reply(
    req: &MessageHeader,
    flags: u16,
    cmd: IpvsCmd,
    attributes: Vec<IpvsAttribute>,
) -> Vec<u8> {
    let msg = IpvsMessage::new(cmd, attributes);
    let mut payload = vec![u8::from(cmd), 1, 0, 0];
    let mut body = vec![0; msg.buffer_len()];
    msg.emit(&mut body);
    payload.extend(body);
    data(req, flags, &payload)
}

/// The identifying and scheduler attributes of `service`, as a kernel's
/// GET_SERVICE reply carries them (enough to decode).
pub fn service_attributes(service: &ipvs::Service) -> Vec<ipvs::ipvs_sys::ServiceAttribute> {
    use ipvs::ipvs_sys::{AddressFamily, InetAddr, Protocol, ServiceAttribute};
    let ipvs::ServiceKey::Addr { addr, .. } = service.key else {
        panic!("an address service")
    };
    vec![
        ServiceAttribute::Af(if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        }),
        ServiceAttribute::Protocol(Protocol::Tcp),
        ServiceAttribute::Addr(InetAddr::from(addr.ip())),
        ServiceAttribute::Port(addr.port()),
        ServiceAttribute::SchedName(service.scheduler.to_string()),
    ]
}
