// SPDX-License-Identifier: MIT OR Apache-2.0
//! A scripted fake kernel for the no-root tests, and message builders.
#![allow(dead_code)] // each test binary uses a subset

pub mod model;

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipvs::datagram::{MessageHeader, NLMSG_HDRLEN};
use ipvs::engine::{Received, Transport};

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
    pub max_queued: usize,
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
            max_queued: 0,
        }
    }
}

impl Transport for FakeKernel {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.requests.lock().unwrap().push(datagram.to_vec());
        // Like the kernel, answer each message of the datagram in turn.
        for message in ipvs::datagram::messages(datagram) {
            let message = message.expect("requests are well-formed");
            assert_eq!(message.header.port, PORT, "requests carry our port id");
            let deliveries = (self.script)(&message.header, message.payload);
            self.queue.extend(deliveries);
        }
        self.max_queued = self.max_queued.max(self.queue.len());
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<Option<Received>> {
        match self.queue.pop_front() {
            None => Ok(None),
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
        }
    }

    fn local_port(&self) -> u32 {
        PORT
    }

    fn reserve_receive_queue(&mut self, _wanted: usize) -> usize {
        self.receive_queue
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
    message(req.message_type, flags, req.sequence, PORT, payload)
}

pub fn done(req: &MessageHeader, errno: i32) -> Vec<u8> {
    message(
        NLMSG_DONE,
        NLM_F_MULTI,
        req.sequence,
        PORT,
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
    message(NLMSG_ERROR, flags, req.sequence, PORT, &payload)
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
    message(0x10, 0, req.sequence, PORT, &payload)
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

/// A handle on a fake kernel that resolves the family to `FAMILY` and
/// answers IPVS requests with `script(header, decoded request)`.
pub fn handle(
    mut script: impl FnMut(&MessageHeader, IpvsMessage) -> Vec<Delivery> + Send + 'static,
) -> (Ipvs<FakeKernel>, Requests) {
    let kernel_side = FakeKernel::new(move |req, payload| {
        if req.message_type == 0x10 {
            return vec![kernel(ctrl_reply(req, FAMILY)), kernel(ack(req))];
        }
        script(req, parse(payload))
    });
    let requests = kernel_side.requests.clone();
    let ipvs = Ipvs::with_transport(kernel_side).expect("family resolves");
    (ipvs, requests)
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
