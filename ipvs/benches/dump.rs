// SPDX-License-Identifier: MIT OR Apache-2.0
//! Throughput of the codec at issue-7 scale, in MB/s (`Throughput::Bytes`):
//!
//! - `parse_10000_service_dump`: the GET_SERVICE dump of 10 000 services as
//!   the kernel sends it — 32 KiB datagrams of `NLM_F_MULTI` messages, each
//!   service with both stats nests — walked message by message
//!   (the crate's own walker, `ipvs::testing::messages`) and decoded
//!   (`IpvsMessage`), as a snapshot does.
//! - `encode_10000x4_requests`: the 50 000 NEW_SERVICE / NEW_DEST requests
//!   that program 10 000 services × 4 destinations, each emitted with its
//!   netlink and generic-netlink headers into one reused buffer, as a batch
//!   fills its `sendmsg` buffers.
//!
//! - `snapshot_1600x1_blocking` / `_async`: `snapshot()` of 1600 services
//!   with one destination each through each handle, over a fake kernel that
//!   replays prebuilt dump datagrams: everything a snapshot costs in user
//!   space (the service list read twice, one destination dump per service,
//!   every message decoded), without the kernel's share.
//!
//! `cargo xtask test` runs these once in criterion's test mode; for figures
//! run `cargo bench -p ipvs --bench dump`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipvs::ipvs_sys::{
    AddressFamily, DestAttribute, FlagsMask, ForwardMethod, IpvsAttribute, IpvsCmd, IpvsMessage,
    Nested, Netmask, Protocol, ServiceAttribute, ServiceFlags, Stats64Attribute, StatsAttribute,
    TunnelFlags, TunnelType,
};
use ipvs::testing::{MessageHeader, NLMSG_HDRLEN, messages};
use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

const SERVICES: u32 = 10_000;
const DESTS_PER_SERVICE: u8 = 4;
/// The dynamic family id the lab kernels assigned IPVS.
const FAMILY_ID: u16 = 0x20;
/// A dump datagram's size: netlink_dump fills up to 32 KiB per skb.
const DATAGRAM_LEN: usize = 32 * 1024;
const GENL_HDRLEN: usize = 4;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;

/// `NLMSG_ALIGN`.
fn nlmsg_align(len: usize) -> usize {
    len.next_multiple_of(4)
}

/// Service `i`: 203.0.113.(1 + i % 250), port 1000 + i / 250.
fn service_attributes(i: u32) -> Vec<ServiceAttribute> {
    vec![
        ServiceAttribute::Af(AddressFamily::Inet),
        ServiceAttribute::Protocol(Protocol::Tcp),
        ServiceAttribute::Addr(Ipv4Addr::new(203, 0, 113, 1 + (i % 250) as u8).into()),
        ServiceAttribute::Port(1000 + (i / 250) as u16),
        ServiceAttribute::SchedName("wrr".into()),
        ServiceAttribute::Flags(FlagsMask::replace_all(ServiceFlags::HASHED)),
        ServiceAttribute::Timeout(0),
        ServiceAttribute::Netmask(Netmask::from_raw(u32::MAX)),
    ]
}

/// Counters as the kernel dumps them.
fn stats() -> Nested<StatsAttribute> {
    Nested::without_flag(vec![
        StatsAttribute::Conns(5),
        StatsAttribute::InPkts(30),
        StatsAttribute::OutPkts(30),
        StatsAttribute::InBytes(1980),
        StatsAttribute::OutBytes(6530),
        StatsAttribute::Cps(0),
        StatsAttribute::InPps(1),
        StatsAttribute::OutPps(1),
        StatsAttribute::InBps(62),
        StatsAttribute::OutBps(204),
    ])
}

/// 64-bit counters as the kernel dumps them.
fn stats64() -> Nested<Stats64Attribute> {
    Nested::without_flag(vec![
        Stats64Attribute::Conns(5),
        Stats64Attribute::InPkts(30),
        Stats64Attribute::OutPkts(30),
        Stats64Attribute::InBytes(1980),
        Stats64Attribute::OutBytes(6530),
        Stats64Attribute::Cps(0),
        Stats64Attribute::InPps(1),
        Stats64Attribute::OutPps(1),
        Stats64Attribute::InBps(62),
        Stats64Attribute::OutBps(204),
    ])
}

/// One dump entry, kernel style: no `NLA_F_NESTED`, both stats nests.
fn dump_entry(i: u32) -> IpvsMessage {
    let mut attributes = service_attributes(i);
    attributes.push(ServiceAttribute::Stats(stats()));
    attributes.push(ServiceAttribute::Stats64(stats64()));
    IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::without_flag(attributes))],
    )
}

/// A NEW_DEST request as the `ipvs` crate sends it.
fn new_dest(i: u32, d: u8) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![
            IpvsAttribute::Service(Nested::new(service_attributes(i))),
            IpvsAttribute::Dest(Nested::new(vec![
                DestAttribute::AddrFamily(AddressFamily::Inet),
                DestAttribute::Addr(Ipv4Addr::new(198, 51, 100, 10 + d).into()),
                DestAttribute::Port(8080),
                DestAttribute::FwdMethod(ForwardMethod::Masq),
                DestAttribute::Weight(1),
                DestAttribute::TunType(TunnelType::Ipip),
                DestAttribute::TunPort(0),
                DestAttribute::TunFlags(TunnelFlags::empty()),
                DestAttribute::UpperThreshold(0),
                DestAttribute::LowerThreshold(0),
            ])),
        ],
    )
}

fn new_service(i: u32) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::new(service_attributes(i)))],
    )
}

/// Writes `message` with its netlink and generic-netlink headers at the
/// end of `out` (NLMSG-aligned); returns the bytes written.
fn append(out: &mut Vec<u8>, message: &IpvsMessage, flags: u16, sequence: u32) -> usize {
    let start = out.len();
    let length = NLMSG_HDRLEN + GENL_HDRLEN + message.buffer_len();
    out.resize(start + nlmsg_align(length), 0);
    let header = MessageHeader {
        length: length as u32,
        message_type: FAMILY_ID,
        flags,
        sequence,
        port: 0,
    };
    header.emit(&mut out[start..]);
    out[start + NLMSG_HDRLEN] = message.command();
    out[start + NLMSG_HDRLEN + 1] = message.version();
    message.emit(&mut out[start + NLMSG_HDRLEN + GENL_HDRLEN..start + length]);
    out.len() - start
}

/// The dump, packed into datagrams the way the kernel fills them.
fn dump_datagrams() -> Vec<Vec<u8>> {
    let mut datagrams = vec![Vec::with_capacity(DATAGRAM_LEN)];
    for i in 0..SERVICES {
        let message = dump_entry(i);
        let needed = nlmsg_align(NLMSG_HDRLEN + GENL_HDRLEN + message.buffer_len());
        if datagrams
            .last()
            .is_some_and(|d| d.len() + needed > DATAGRAM_LEN)
        {
            datagrams.push(Vec::with_capacity(DATAGRAM_LEN));
        }
        let last = datagrams.last_mut().expect("one datagram at least");
        append(last, &message, NLM_F_MULTI, 1);
    }
    datagrams
}

fn parse_dump(c: &mut Criterion) {
    let datagrams = dump_datagrams();
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("dump");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse_10000_service_dump", |b| {
        b.iter(|| {
            let mut services = 0u32;
            for datagram in &datagrams {
                for message in messages(black_box(datagram)) {
                    let payload = message.expect("well-formed").payload;
                    let header = GenlHeader {
                        cmd: payload[0],
                        version: payload[1],
                    };
                    let parsed = IpvsMessage::parse_with_param(&payload[GENL_HDRLEN..], header)
                        .expect("a service");
                    black_box(parsed);
                    services += 1;
                }
            }
            assert_eq!(services, SERVICES);
        })
    });
    group.finish();
}

fn encode_requests(c: &mut Criterion) {
    let requests: Vec<IpvsMessage> = (0..SERVICES)
        .flat_map(|i| {
            std::iter::once(new_service(i))
                .chain((0..DESTS_PER_SERVICE).map(move |d| new_dest(i, d)))
        })
        .collect();
    let mut buffer = Vec::new();
    let bytes: usize = requests
        .iter()
        .enumerate()
        .map(|(seq, m)| append(&mut buffer, m, NLM_F_REQUEST_ACK, seq as u32))
        .sum();
    let mut group = c.benchmark_group("requests");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("encode_10000x4_requests", |b| {
        b.iter(|| {
            buffer.clear();
            for (seq, request) in requests.iter().enumerate() {
                append(
                    &mut buffer,
                    black_box(request),
                    NLM_F_REQUEST_ACK,
                    seq as u32,
                );
            }
            black_box(&buffer);
        })
    });
    group.finish();
}

/// A fake kernel that answers GETFAMILY, the service dump (prebuilt
/// datagrams) and each destination dump (one prebuilt datagram), renumbered
/// for each request.
struct Replay {
    services: Vec<Vec<u8>>,
    destination: Vec<u8>,
    queue: std::collections::VecDeque<Vec<u8>>,
}

const PORT: u32 = 4242;

/// Which prebuilt datagram to answer with.
enum Answer {
    Service(usize),
    Destination,
}

impl Replay {
    fn new(services: u32) -> Self {
        let mut datagrams = vec![Vec::new()];
        for i in 0..services {
            let message = dump_entry(i);
            let needed = nlmsg_align(NLMSG_HDRLEN + GENL_HDRLEN + message.buffer_len());
            if datagrams
                .last()
                .is_some_and(|d| d.len() + needed > DATAGRAM_LEN)
            {
                datagrams.push(Vec::new());
            }
            let last = datagrams.last_mut().expect("one datagram at least");
            append(last, &message, NLM_F_MULTI, 0);
        }
        let mut destination = Vec::new();
        append(&mut destination, &dest_entry(), NLM_F_MULTI, 0);
        let at = destination.len();
        destination.resize(at + NLMSG_HDRLEN + 4, 0);
        MessageHeader {
            length: (NLMSG_HDRLEN + 4) as u32,
            message_type: 3, // NLMSG_DONE
            flags: NLM_F_MULTI,
            sequence: 0,
            port: 0,
        }
        .emit(&mut destination[at..]);
        datagrams
            .last_mut()
            .expect("one datagram at least")
            .extend_from_slice(&destination[at..]);
        Self {
            services: datagrams,
            destination,
            queue: Default::default(),
        }
    }

    /// A prebuilt datagram with every message renumbered for `request`.
    fn answer(&mut self, answer: Answer, request: &MessageHeader) {
        let datagram = match answer {
            Answer::Service(index) => &self.services[index],
            Answer::Destination => &self.destination,
        };
        let mut out = datagram.clone();
        let mut at = 0;
        while at + NLMSG_HDRLEN <= out.len() {
            let mut header = MessageHeader::parse(&out[at..]).expect("a header");
            header.sequence = request.sequence;
            header.port = PORT;
            header.emit(&mut out[at..]);
            at += nlmsg_align(header.length as usize);
        }
        self.queue.push_back(out);
    }
}

impl ipvs::testing::Transport for Replay {
    fn send(&mut self, datagram: &[u8]) -> std::io::Result<()> {
        for message in messages(datagram) {
            let message = message.expect("well-formed requests");
            let header = message.header;
            if header.message_type == 0x10 {
                let mut reply = vec![1, 2, 0, 0];
                reply.extend([6, 0, 1, 0, 0x20, 0, 0, 0, 9, 0, 2, 0]);
                reply.extend(b"IPVS\0\0\0\0");
                let mut out = vec![0; NLMSG_HDRLEN];
                out.extend(&reply);
                MessageHeader {
                    length: out.len() as u32,
                    message_type: 0x10,
                    flags: 0,
                    sequence: header.sequence,
                    port: PORT,
                }
                .emit(&mut out);
                let mut ack = vec![0u8; NLMSG_HDRLEN + 4 + NLMSG_HDRLEN];
                MessageHeader {
                    length: ack.len() as u32,
                    message_type: 2,
                    flags: 0x100,
                    sequence: header.sequence,
                    port: PORT,
                }
                .emit(&mut ack);
                out.extend(ack);
                self.queue.push_back(out);
            } else if message.payload[0] == u8::from(IpvsCmd::GetService) {
                for index in 0..self.services.len() {
                    self.answer(Answer::Service(index), &header);
                }
            } else {
                self.answer(Answer::Destination, &header);
            }
        }
        Ok(())
    }

    fn recv(
        &mut self,
        buf: &mut [u8],
        _timeout: std::time::Duration,
    ) -> std::io::Result<Option<ipvs::testing::Received>> {
        Ok(self.queue.pop_front().map(|datagram| {
            // MSG_TRUNC: the real length; what does not fit is lost.
            let stored = datagram.len().min(buf.len());
            buf[..stored].copy_from_slice(&datagram[..stored]);
            ipvs::testing::Received {
                len: datagram.len(),
                sender: 0,
            }
        }))
    }

    fn local_port(&self) -> u32 {
        PORT
    }

    /// The service dumps' socket, as a handle on the kernel has one.
    fn sibling(&self) -> std::io::Result<Option<Box<dyn ipvs::testing::Transport>>> {
        Ok(Some(Box::new(Replay {
            services: self.services.clone(),
            destination: self.destination.clone(),
            queue: Default::default(),
        })))
    }
}

/// The one destination of a service, as the kernel dumps it.
fn dest_entry() -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![IpvsAttribute::Dest(Nested::without_flag(vec![
            DestAttribute::AddrFamily(AddressFamily::Inet),
            DestAttribute::Addr(Ipv4Addr::new(198, 51, 100, 10).into()),
            DestAttribute::Port(8080),
            DestAttribute::FwdMethod(ForwardMethod::Masq),
            DestAttribute::Weight(1),
            DestAttribute::TunType(TunnelType::Ipip),
            DestAttribute::TunPort(0),
            DestAttribute::TunFlags(TunnelFlags::empty()),
            DestAttribute::UpperThreshold(0),
            DestAttribute::LowerThreshold(0),
            DestAttribute::ActiveConns(0),
            DestAttribute::InactiveConns(0),
            DestAttribute::PersistentConns(0),
            DestAttribute::Stats(stats()),
            DestAttribute::Stats64(stats64()),
        ]))],
    )
}

fn snapshot(c: &mut Criterion) {
    const SERVICES: u32 = 1600;
    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Elements(u64::from(SERVICES)));
    let blocking = ipvs::Ipvs::with_transport(Replay::new(SERVICES)).expect("family");
    group.bench_function("snapshot_1600x1_blocking", |b| {
        b.iter(|| {
            assert_eq!(
                blocking.snapshot().unwrap().services.len(),
                SERVICES as usize
            )
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let asynchronous = runtime
        .block_on(ipvs::AsyncIpvs::with_transport(Replay::new(SERVICES)))
        .expect("family");
    group.bench_function("snapshot_1600x1_async", |b| {
        b.iter(|| {
            let snapshot = runtime.block_on(asynchronous.snapshot()).unwrap();
            assert_eq!(snapshot.services.len(), SERVICES as usize);
        })
    });
    group.finish();
}

criterion_group!(benches, parse_dump, encode_requests, snapshot);
criterion_main!(benches);
