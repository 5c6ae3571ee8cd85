// SPDX-License-Identifier: MIT OR Apache-2.0
//! Property round trips for every attribute group: for generated values,
//! `parse(emit(x)) == x` and emission is canonical (`emit(parse(emit(x)))
//! == emit(x)`). Honours `PROPTEST_CASES` (default 256).

use std::fmt::Debug;

use ipvs_sys::{
    AddressFamily, DaemonAttribute, DaemonState, DestAttribute, FlagsMask, ForwardMethod, InetAddr,
    InfoAttribute, IpvsAttribute, IpvsCmd, IpvsMessage, Nested, Netmask, Protocol,
    ServiceAttribute, ServiceFlags, Stats64Attribute, StatsAttribute, TunnelFlags, TunnelType,
};
use netlink_packet_core::{
    DefaultNla, Emitable, NLA_F_NESTED, NLA_F_NET_BYTEORDER, Nla, NlaBuffer, NlasIterator,
    Parseable, ParseableParametrized,
};
use netlink_packet_generic::GenlHeader;
use proptest::prelude::*;

fn emit<E: Emitable>(value: &E) -> Vec<u8> {
    let mut out = vec![0u8; value.buffer_len()];
    value.emit(&mut out);
    out
}

/// Emits a run of attributes writing each type field exactly as `kind()`
/// returns it. (netlink-packet-core 0.9's `Emitable for &[T]` drops
/// `NLA_F_NET_BYTEORDER` when `NLA_F_NESTED` is also set; `IpvsMessage`
/// uses its own writer, and so does this test.)
fn emit_run<T: Nla>(attrs: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for attr in attrs {
        let len = attr.value_len();
        out.extend_from_slice(&u16::try_from(len + 4).unwrap().to_ne_bytes());
        out.extend_from_slice(&attr.kind().to_ne_bytes());
        let start = out.len();
        out.resize(start + len, 0);
        attr.emit_value(&mut out[start..]);
        out.resize(out.len() + (4 - len % 4) % 4, 0);
    }
    out
}

fn round_trip<T>(attrs: &[T])
where
    T: Nla + Debug + PartialEq + for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    let bytes = emit_run(attrs);
    if let Some(last) = attrs.last() {
        // The writer above agrees with the core's for attributes without
        // both type flags.
        if last.kind() & 0xc000 != 0xc000 {
            assert_eq!(emit(last), bytes[bytes.len() - last.buffer_len()..]);
        }
    }
    let parsed: Vec<T> = NlasIterator::new(&bytes[..])
        .map(|nla| T::parse(&nla.unwrap()).unwrap())
        .collect();
    assert_eq!(parsed, attrs);
    assert_eq!(emit_run(&parsed), bytes);
}

/// An attribute with a type no table knows (100..0x3fff), with any
/// combination of `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
fn other_nla() -> impl Strategy<Value = DefaultNla> {
    (
        100u16..0x3fff,
        prop::sample::select(vec![
            0,
            NLA_F_NET_BYTEORDER,
            NLA_F_NESTED,
            NLA_F_NESTED | NLA_F_NET_BYTEORDER,
        ]),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(kind, flags, value)| DefaultNla::new(kind | flags, value))
}

fn name() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,16}"
}

fn inet_addr() -> impl Strategy<Value = InetAddr> {
    prop::collection::vec(any::<u8>(), 0..=16).prop_map(|b| InetAddr::from_bytes(&b).unwrap())
}

fn nested<T: Debug>(
    item: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = Nested<T>> {
    (prop::collection::vec(item, 0..max), any::<bool>()).prop_map(|(attributes, flag)| {
        if flag {
            Nested::new(attributes)
        } else {
            Nested::without_flag(attributes)
        }
    })
}

fn stats() -> impl Strategy<Value = StatsAttribute> {
    prop_oneof![
        any::<u32>().prop_map(StatsAttribute::Conns),
        any::<u32>().prop_map(StatsAttribute::InPkts),
        any::<u32>().prop_map(StatsAttribute::OutPkts),
        any::<u64>().prop_map(StatsAttribute::InBytes),
        any::<u64>().prop_map(StatsAttribute::OutBytes),
        any::<u32>().prop_map(StatsAttribute::Cps),
        any::<u32>().prop_map(StatsAttribute::InPps),
        any::<u32>().prop_map(StatsAttribute::OutPps),
        any::<u32>().prop_map(StatsAttribute::InBps),
        any::<u32>().prop_map(StatsAttribute::OutBps),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(StatsAttribute::Pad),
        other_nla().prop_map(StatsAttribute::Other),
    ]
}

fn stats64() -> impl Strategy<Value = Stats64Attribute> {
    prop_oneof![
        any::<u64>().prop_map(Stats64Attribute::Conns),
        any::<u64>().prop_map(Stats64Attribute::InPkts),
        any::<u64>().prop_map(Stats64Attribute::OutPkts),
        any::<u64>().prop_map(Stats64Attribute::InBytes),
        any::<u64>().prop_map(Stats64Attribute::OutBytes),
        any::<u64>().prop_map(Stats64Attribute::Cps),
        any::<u64>().prop_map(Stats64Attribute::InPps),
        any::<u64>().prop_map(Stats64Attribute::OutPps),
        any::<u64>().prop_map(Stats64Attribute::InBps),
        any::<u64>().prop_map(Stats64Attribute::OutBps),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Stats64Attribute::Pad),
        other_nla().prop_map(Stats64Attribute::Other),
    ]
}

fn service() -> impl Strategy<Value = ServiceAttribute> {
    prop_oneof![
        any::<u16>().prop_map(|v| ServiceAttribute::Af(AddressFamily::from(v))),
        any::<u16>().prop_map(|v| ServiceAttribute::Protocol(Protocol::from(v))),
        inet_addr().prop_map(ServiceAttribute::Addr),
        any::<u16>().prop_map(ServiceAttribute::Port),
        any::<u32>().prop_map(ServiceAttribute::Fwmark),
        name().prop_map(ServiceAttribute::SchedName),
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..6)
        )
            .prop_map(|(f, m, tail)| {
                let mut flags = FlagsMask::new(
                    ServiceFlags::from_bits_retain(f),
                    ServiceFlags::from_bits_retain(m),
                );
                flags.tail = tail;
                ServiceAttribute::Flags(flags)
            }),
        any::<u32>().prop_map(ServiceAttribute::Timeout),
        any::<u32>().prop_map(|v| ServiceAttribute::Netmask(Netmask::from_raw(v))),
        nested(stats(), 6).prop_map(ServiceAttribute::Stats),
        name().prop_map(ServiceAttribute::PeName),
        nested(stats64(), 6).prop_map(ServiceAttribute::Stats64),
        other_nla().prop_map(ServiceAttribute::Other),
    ]
}

fn dest() -> impl Strategy<Value = DestAttribute> {
    prop_oneof![
        inet_addr().prop_map(DestAttribute::Addr),
        any::<u16>().prop_map(DestAttribute::Port),
        any::<u32>().prop_map(|v| DestAttribute::FwdMethod(ForwardMethod::from(v))),
        any::<u32>().prop_map(DestAttribute::Weight),
        any::<u32>().prop_map(DestAttribute::UpperThreshold),
        any::<u32>().prop_map(DestAttribute::LowerThreshold),
        any::<u32>().prop_map(DestAttribute::ActiveConns),
        any::<u32>().prop_map(DestAttribute::InactiveConns),
        any::<u32>().prop_map(DestAttribute::PersistentConns),
        nested(stats(), 6).prop_map(DestAttribute::Stats),
        any::<u16>().prop_map(|v| DestAttribute::AddrFamily(AddressFamily::from(v))),
        nested(stats64(), 6).prop_map(DestAttribute::Stats64),
        any::<u8>().prop_map(|v| DestAttribute::TunType(TunnelType::from(v))),
        any::<u16>().prop_map(DestAttribute::TunPort),
        any::<u16>().prop_map(|v| DestAttribute::TunFlags(TunnelFlags::from_bits_retain(v))),
        other_nla().prop_map(DestAttribute::Other),
    ]
}

fn daemon() -> impl Strategy<Value = DaemonAttribute> {
    prop_oneof![
        any::<u32>().prop_map(|v| DaemonAttribute::State(DaemonState::from_bits_retain(v))),
        name().prop_map(DaemonAttribute::McastIfn),
        any::<u32>().prop_map(DaemonAttribute::SyncId),
        any::<u16>().prop_map(DaemonAttribute::SyncMaxlen),
        any::<[u8; 4]>().prop_map(|b| DaemonAttribute::McastGroup(b.into())),
        any::<[u8; 16]>().prop_map(|b| DaemonAttribute::McastGroup6(b.into())),
        any::<u16>().prop_map(DaemonAttribute::McastPort),
        any::<u8>().prop_map(DaemonAttribute::McastTtl),
        other_nla().prop_map(DaemonAttribute::Other),
    ]
}

fn info() -> impl Strategy<Value = InfoAttribute> {
    prop_oneof![
        any::<u32>().prop_map(InfoAttribute::Version),
        any::<u32>().prop_map(InfoAttribute::ConnTabSize),
        other_nla().prop_map(InfoAttribute::Other),
    ]
}

fn top_level() -> impl Strategy<Value = IpvsAttribute> {
    prop_oneof![
        nested(service(), 8).prop_map(IpvsAttribute::Service),
        nested(dest(), 8).prop_map(IpvsAttribute::Dest),
        nested(daemon(), 8).prop_map(IpvsAttribute::Daemon),
        any::<u32>().prop_map(IpvsAttribute::TimeoutTcp),
        any::<u32>().prop_map(IpvsAttribute::TimeoutTcpFin),
        any::<u32>().prop_map(IpvsAttribute::TimeoutUdp),
        other_nla().prop_map(IpvsAttribute::Other),
    ]
}

/// A message: the info table under `SET_INFO`, the command table otherwise.
fn message() -> impl Strategy<Value = IpvsMessage> {
    prop_oneof![
        (
            any::<u8>().prop_filter("not SET_INFO", |c| *c != 14),
            prop::collection::vec(top_level(), 0..4)
        )
            .prop_map(|(cmd, attrs)| IpvsMessage::new(IpvsCmd::from(cmd), attrs)),
        prop::collection::vec(info().prop_map(IpvsAttribute::Info), 0..4)
            .prop_map(|attrs| IpvsMessage::new(IpvsCmd::SetInfo, attrs)),
    ]
}

proptest! {
    #[test]
    fn stats_round_trip(attrs in prop::collection::vec(stats(), 0..12)) {
        round_trip(&attrs);
    }

    #[test]
    fn stats64_round_trip(attrs in prop::collection::vec(stats64(), 0..12)) {
        round_trip(&attrs);
    }

    #[test]
    fn service_round_trip(attrs in prop::collection::vec(service(), 0..14)) {
        round_trip(&attrs);
    }

    #[test]
    fn dest_round_trip(attrs in prop::collection::vec(dest(), 0..16)) {
        round_trip(&attrs);
    }

    #[test]
    fn daemon_round_trip(attrs in prop::collection::vec(daemon(), 0..10)) {
        round_trip(&attrs);
    }

    #[test]
    fn info_round_trip(attrs in prop::collection::vec(info(), 0..4)) {
        round_trip(&attrs);
    }

    #[test]
    fn top_level_round_trip(attrs in prop::collection::vec(top_level(), 0..4)) {
        round_trip(&attrs);
    }

    #[test]
    fn message_round_trip(msg in message()) {
        let header = GenlHeader { cmd: msg.cmd.into(), version: 1 };
        let bytes = emit(&msg);
        let parsed = IpvsMessage::parse_with_param(&bytes, header).unwrap();
        prop_assert_eq!(&parsed, &msg);
        prop_assert_eq!(emit(&parsed), bytes.clone());
        // The fuzz harness agrees.
        prop_assert_eq!(ipvs_sys::fuzzing::genl_payload(header.cmd, &bytes), Some(bytes));
    }

    /// Arbitrary bytes never panic, and whatever parses obeys the law.
    #[test]
    fn arbitrary_bytes_obey_the_law(data in prop::collection::vec(any::<u8>(), 0..256)) {
        ipvs_sys::fuzzing::nested_groups(&data);
        ipvs_sys::fuzzing::genl_message(&data);
    }
}
