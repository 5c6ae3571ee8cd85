// SPDX-License-Identifier: MIT OR Apache-2.0
//! Codec throughput: parsing a 100-service dump (each service with both
//! stats nests, as the kernel sends them) and emitting a NEW_DEST request.
//! CI runs this in test mode only (`cargo test --benches`).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipvs_sys::{
    AddressFamily, DestAttribute, FlagsMask, ForwardMethod, InetAddr, IpvsAttribute, IpvsCmd,
    IpvsMessage, Nested, Netmask, Protocol, ServiceAttribute, ServiceFlags, Stats64Attribute,
    StatsAttribute, TunnelFlags, TunnelType,
};
use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;

/// One GET_SERVICE dump entry, kernel style (no `NLA_F_NESTED`).
fn service_entry(i: u8) -> IpvsMessage {
    let stats = Nested::without_flag(vec![
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
    ]);
    let stats64 = Nested::without_flag(vec![
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
    ]);
    IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::without_flag(vec![
            ServiceAttribute::Af(AddressFamily::Inet),
            ServiceAttribute::Protocol(Protocol::Tcp),
            ServiceAttribute::Addr(InetAddr::from(Ipv4Addr::new(203, 0, 113, i))),
            ServiceAttribute::Port(80),
            ServiceAttribute::SchedName("wrr".into()),
            ServiceAttribute::Flags(FlagsMask::replace_all(ServiceFlags::HASHED)),
            ServiceAttribute::Timeout(0),
            ServiceAttribute::Netmask(Netmask::from_raw(u32::MAX)),
            ServiceAttribute::Stats(stats),
            ServiceAttribute::Stats64(stats64),
        ]))],
    )
}

fn emit(msg: &IpvsMessage) -> Vec<u8> {
    let mut out = vec![0u8; msg.buffer_len()];
    msg.emit(&mut out);
    out
}

fn codec(c: &mut Criterion) {
    let dump: Vec<Vec<u8>> = (0..100).map(|i| emit(&service_entry(i))).collect();
    let header = GenlHeader { cmd: 1, version: 1 };
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(dump.len() as u64));
    group.bench_function("parse_100_service_dump", |b| {
        b.iter(|| {
            for payload in &dump {
                black_box(IpvsMessage::parse_with_param(black_box(payload), header).unwrap());
            }
        })
    });
    group.finish();

    let new_dest = IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![
            IpvsAttribute::Service(Nested::new(vec![
                ServiceAttribute::Af(AddressFamily::Inet),
                ServiceAttribute::Protocol(Protocol::Tcp),
                ServiceAttribute::Addr(Ipv4Addr::new(203, 0, 113, 10).into()),
                ServiceAttribute::Port(80),
                ServiceAttribute::SchedName(String::new()),
                ServiceAttribute::Flags(FlagsMask::replace_all(ServiceFlags::empty())),
                ServiceAttribute::Timeout(0),
                ServiceAttribute::Netmask(Netmask::from_raw(u32::MAX)),
            ])),
            IpvsAttribute::Dest(Nested::new(vec![
                DestAttribute::AddrFamily(AddressFamily::Inet),
                DestAttribute::Addr(Ipv4Addr::new(192, 0, 2, 2).into()),
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
    );
    let mut buf = vec![0u8; new_dest.buffer_len()];
    c.bench_function("codec/emit_new_dest", |b| {
        b.iter(|| black_box(&new_dest).emit(black_box(&mut buf)))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
