// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-group unit tests: kernel-style replies (no `NLA_F_NESTED`), every
//! attribute of each group, and `Other` round trips.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DefaultNla, NLA_F_NESTED, NLA_F_NET_BYTEORDER};
use pretty_assertions::assert_eq;

use super::{emit, parse};
use crate::{
    DaemonAttribute, DaemonState, DestAttribute, ForwardMethod, InfoAttribute, IpvsAttribute,
    IpvsCmd, IpvsMessage, Nested, ServiceAttribute, Stats64Attribute, StatsAttribute, TunnelFlags,
    TunnelType,
};

/// A GET_DEST dump entry as the kernel builds it (attribute order of
/// `ip_vs_genl_fill_dest`), with a PAD and an unknown attribute.
#[rustfmt::skip]
const DEST_REPLY: &[u8] = &[
    0xe4, 0x00, 0x02, 0x00,                         // CMD_ATTR_DEST, len 228, no flag
    0x14, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8, // ADDR 2001:db8::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02,
    0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, // PORT 8080
    0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, // FWD_METHOD TUNNEL
    0x08, 0x00, 0x04, 0x00, 0x07, 0x00, 0x00, 0x00, // WEIGHT 7
    0x05, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, // TUN_TYPE GUE
    0x06, 0x00, 0x0e, 0x00, 0x17, 0xc1, 0x00, 0x00, // TUN_PORT 6081
    0x06, 0x00, 0x0f, 0x00, 0x03, 0x00, 0x00, 0x00, // TUN_FLAGS CSUM|REMCSUM
    0x08, 0x00, 0x05, 0x00, 0x64, 0x00, 0x00, 0x00, // U_THRESH 100
    0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00, // L_THRESH 10
    0x08, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, // ACTIVE 1
    0x08, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, // INACTIVE 2
    0x08, 0x00, 0x09, 0x00, 0x03, 0x00, 0x00, 0x00, // PERSIST 3
    0x06, 0x00, 0x0b, 0x00, 0x0a, 0x00, 0x00, 0x00, // ADDR_FAMILY AF_INET6
    0x30, 0x00, 0x0a, 0x00,                         // STATS, len 48
      0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00,   // CONNS 5
      0x04, 0x00, 0x0b, 0x00,                           // PAD
      0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,   // INBYTES 2^32
      0x01, 0x00, 0x00, 0x00,
      0x0c, 0x00, 0x05, 0x00, 0x10, 0x00, 0x00, 0x00,   // OUTBYTES 16
      0x00, 0x00, 0x00, 0x00,
      0x08, 0x00, 0x0a, 0x00, 0x09, 0x00, 0x00, 0x00,   // OUTBPS 9
    0x34, 0x00, 0x0c, 0x00,                         // STATS64, len 52
      0x0c, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00,   // CONNS 5
      0x00, 0x00, 0x00, 0x00,
      0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,   // INBYTES 2^32
      0x01, 0x00, 0x00, 0x00,
      0x0c, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,   // CPS u64::MAX
      0xff, 0xff, 0xff, 0xff,
      0x0c, 0x00, 0x63, 0x00, 0xaa, 0xbb, 0xcc, 0xdd,   // unknown 99
      0xee, 0xff, 0x00, 0x11,
    0x08, 0x00, 0x10, 0x00, 0x2a, 0x00, 0x00, 0x00, // unknown DEST attr 16
];

/// A GET_DAEMON dump entry (order of `ip_vs_genl_fill_daemon`).
#[rustfmt::skip]
const DAEMON_REPLY: &[u8] = &[
    0x54, 0x00, 0x03, 0x00,                         // CMD_ATTR_DAEMON, len 84
    0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // STATE BACKUP
    0x09, 0x00, 0x02, 0x00, 0x65, 0x74, 0x68, 0x30, // MCAST_IFN "eth0"
    0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, // SYNC_ID 7
    0x06, 0x00, 0x04, 0x00, 0xdc, 0x05, 0x00, 0x00, // SYNC_MAXLEN 1500
    0x06, 0x00, 0x07, 0x00, 0x90, 0x22, 0x00, 0x00, // MCAST_PORT 8848 (host)
    0x05, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, // MCAST_TTL 1
    0x08, 0x00, 0x05, 0x00, 0xe0, 0x00, 0x00, 0x51, // MCAST_GROUP 224.0.0.81
    0x14, 0x00, 0x06, 0x00, 0xff, 0x02, 0x00, 0x00, // MCAST_GROUP6 ff02::51
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x51,
];

/// The GET_INFO reply (cmd SET_INFO): version 1.2.1, table size 4096.
#[rustfmt::skip]
const INFO_REPLY: &[u8] = &[
    0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00, // VERSION 0x010201
    0x08, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, // CONN_TAB_SIZE 4096
];

/// The GET_CONFIG reply (cmd SET_CONFIG): 900 / 120 / 300 seconds.
#[rustfmt::skip]
const CONFIG_REPLY: &[u8] = &[
    0x08, 0x00, 0x04, 0x00, 0x84, 0x03, 0x00, 0x00, // TIMEOUT_TCP 900
    0x08, 0x00, 0x05, 0x00, 0x78, 0x00, 0x00, 0x00, // TIMEOUT_TCP_FIN 120
    0x08, 0x00, 0x06, 0x00, 0x2c, 0x01, 0x00, 0x00, // TIMEOUT_UDP 300
];

/// (cmd, payload) of the vectors above, for the malformed-input walk.
pub(crate) const REPLY_VECTORS: &[(u8, &[u8])] = &[
    (5, DEST_REPLY),
    (9, DAEMON_REPLY),
    (14, INFO_REPLY),
    (12, CONFIG_REPLY),
];

#[test]
fn dest_reply_every_attribute() {
    let expected = IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![IpvsAttribute::Dest(Nested::without_flag(vec![
            DestAttribute::Addr("2001:db8::2".parse::<Ipv6Addr>().unwrap().into()),
            DestAttribute::Port(8080),
            DestAttribute::FwdMethod(ForwardMethod::Tunnel),
            DestAttribute::Weight(7),
            DestAttribute::TunType(TunnelType::Gue),
            DestAttribute::TunPort(6081),
            DestAttribute::TunFlags(TunnelFlags::CSUM | TunnelFlags::REMCSUM),
            DestAttribute::UpperThreshold(100),
            DestAttribute::LowerThreshold(10),
            DestAttribute::ActiveConns(1),
            DestAttribute::InactiveConns(2),
            DestAttribute::PersistentConns(3),
            DestAttribute::AddrFamily(crate::AddressFamily::Inet6),
            DestAttribute::Stats(Nested::without_flag(vec![
                StatsAttribute::Conns(5),
                StatsAttribute::Pad(vec![]),
                StatsAttribute::InBytes(1 << 32),
                StatsAttribute::OutBytes(16),
                StatsAttribute::OutBps(9),
            ])),
            DestAttribute::Stats64(Nested::without_flag(vec![
                Stats64Attribute::Conns(5),
                Stats64Attribute::InBytes(1 << 32),
                Stats64Attribute::Cps(u64::MAX),
                Stats64Attribute::Other(DefaultNla::new(
                    99,
                    vec![0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11],
                )),
            ])),
            DestAttribute::Other(DefaultNla::new(16, vec![42, 0, 0, 0])),
        ]))],
    );
    assert_eq!(parse(5, DEST_REPLY), expected);
    assert_eq!(emit(&expected), DEST_REPLY);
}

#[test]
fn daemon_reply_every_attribute() {
    let expected = IpvsMessage::new(
        IpvsCmd::NewDaemon,
        vec![IpvsAttribute::Daemon(Nested::without_flag(vec![
            DaemonAttribute::State(DaemonState::BACKUP),
            DaemonAttribute::McastIfn("eth0".into()),
            DaemonAttribute::SyncId(7),
            DaemonAttribute::SyncMaxlen(1500),
            DaemonAttribute::McastPort(8848),
            DaemonAttribute::McastTtl(1),
            DaemonAttribute::McastGroup(Ipv4Addr::new(224, 0, 0, 81)),
            DaemonAttribute::McastGroup6("ff02::51".parse().unwrap()),
        ]))],
    );
    assert_eq!(parse(9, DAEMON_REPLY), expected);
    assert_eq!(emit(&expected), DAEMON_REPLY);
}

#[test]
fn info_reply_uses_the_info_table_by_command() {
    let expected = IpvsMessage::new(
        IpvsCmd::SetInfo,
        vec![
            IpvsAttribute::Info(InfoAttribute::Version(0x0001_0201)),
            IpvsAttribute::Info(InfoAttribute::ConnTabSize(4096)),
        ],
    );
    assert_eq!(parse(14, INFO_REPLY), expected);
    assert_eq!(emit(&expected), INFO_REPLY);
    // The same bytes under another command are CMD_ATTR_SERVICE/DEST
    // nests holding 4 bytes that are not an attribute: an error.
    assert!(
        <IpvsMessage as netlink_packet_core::ParseableParametrized<
            [u8],
            netlink_packet_generic::GenlHeader,
        >>::parse_with_param(
            INFO_REPLY,
            netlink_packet_generic::GenlHeader { cmd: 1, version: 1 },
        )
        .is_err()
    );
}

#[test]
fn config_reply_timeouts() {
    let expected = IpvsMessage::new(
        IpvsCmd::SetConfig,
        vec![
            IpvsAttribute::TimeoutTcp(900),
            IpvsAttribute::TimeoutTcpFin(120),
            IpvsAttribute::TimeoutUdp(300),
        ],
    );
    assert_eq!(parse(12, CONFIG_REPLY), expected);
    assert_eq!(emit(&expected), CONFIG_REPLY);
}

#[test]
fn unexpected_type_flags_keep_the_attribute_verbatim() {
    // TIMEOUT_TCP with NLA_F_NESTED, TIMEOUT_UDP with NLA_F_NET_BYTEORDER,
    // and SERVICE with NLA_F_NET_BYTEORDER: all kept as Other.
    #[rustfmt::skip]
    let raw: &[u8] = &[
        0x08, 0x00, 0x04, 0x80, 0x01, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x06, 0x40, 0x02, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x01, 0x40, 0x01, 0x02, 0x03, 0x04,
    ];
    let parsed = parse(12, raw);
    assert_eq!(
        parsed.attributes,
        vec![
            IpvsAttribute::Other(DefaultNla::new(4 | NLA_F_NESTED, vec![1, 0, 0, 0])),
            IpvsAttribute::Other(DefaultNla::new(6 | NLA_F_NET_BYTEORDER, vec![2, 0, 0, 0])),
            IpvsAttribute::Other(DefaultNla::new(1 | NLA_F_NET_BYTEORDER, vec![1, 2, 3, 4])),
        ]
    );
    assert_eq!(emit(&parsed), raw);
}

#[test]
fn unknown_commands_attributes_and_code_points_survive() {
    #[rustfmt::skip]
    let raw: &[u8] = &[
        0x2c, 0x00, 0x01, 0x00,                         // SERVICE
        0x06, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00, // AF 7
        0x06, 0x00, 0x02, 0x00, 0xff, 0x00, 0x00, 0x00, // PROTOCOL 255
        0x0c, 0x00, 0x07, 0x00, 0x40, 0x00, 0x00, 0x80, // FLAGS unknown bits
        0x40, 0x00, 0x00, 0x80,
        0x0a, 0x00, 0x0d, 0x00, 0x01, 0x02, 0x03, 0x04, // unknown SVC 13
        0x05, 0x06, 0x00, 0x00,
        0x08, 0x00, 0x07, 0x00, 0x09, 0x00, 0x00, 0x00, // unknown top 7
    ];
    let parsed = parse(200, raw);
    assert_eq!(parsed.cmd, IpvsCmd::Other(200));
    let IpvsAttribute::Service(svc) = &parsed.attributes[0] else {
        panic!("{parsed:?}");
    };
    assert_eq!(svc[0], ServiceAttribute::Af(crate::AddressFamily::Other(7)));
    assert_eq!(
        svc[1],
        ServiceAttribute::Protocol(crate::Protocol::Other(255))
    );
    let ServiceAttribute::Flags(f) = &svc[2] else {
        panic!()
    };
    assert_eq!(f.flags.bits(), 0x8000_0040);
    assert_eq!(
        svc[3],
        ServiceAttribute::Other(DefaultNla::new(13, vec![1, 2, 3, 4, 5, 6]))
    );
    assert_eq!(
        parsed.attributes[1],
        IpvsAttribute::Other(DefaultNla::new(7, vec![9, 0, 0, 0]))
    );
    assert_eq!(emit(&parsed), raw);
}

#[test]
fn oversized_attribute_is_reported_and_emit_panics() {
    let msg = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::new(vec![
            ServiceAttribute::SchedName("x".repeat(70_000)),
        ]))],
    );
    let err = msg.check_lengths().unwrap_err();
    assert_eq!(err.kind, 1 | NLA_F_NESTED);
    let result = std::panic::catch_unwind(|| emit(&msg));
    assert!(result.is_err());
    let fits = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::new(vec![
            ServiceAttribute::SchedName("x".repeat(65_000)),
        ]))],
    );
    assert!(fits.check_lengths().is_ok());
}

/// Both type flags at once, at the top level and inside a nest: kept and
/// re-emitted (netlink-packet-core's own emit would drop
/// `NLA_F_NET_BYTEORDER` here; found by fuzzing).
#[test]
fn both_type_flags_survive() {
    #[rustfmt::skip]
    let raw: &[u8] = &[
        0x08, 0x00, 0x05, 0xfb, 0xd5, 0x00, 0x00, 0x00, // type 0x3b05 | both
        0x10, 0x00, 0x01, 0x00,                         // SERVICE
        0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, //   AF
        0x04, 0x00, 0xfb, 0xff,                         //   type 0x3ffb | both
    ];
    let parsed = parse(1, raw);
    assert_eq!(
        parsed.attributes[0],
        IpvsAttribute::Other(DefaultNla::new(0xfb05, vec![0xd5, 0, 0, 0]))
    );
    let IpvsAttribute::Service(svc) = &parsed.attributes[1] else {
        panic!()
    };
    assert_eq!(
        svc[1],
        ServiceAttribute::Other(DefaultNla::new(0xfffb, vec![]))
    );
    assert_eq!(emit(&parsed), raw);
}

/// Names that are not UTF-8 (an interface may be named with any bytes) are
/// kept verbatim instead of failing the whole message.
#[test]
fn non_utf8_names_are_kept_verbatim() {
    #[rustfmt::skip]
    let raw: &[u8] = &[
        0x0c, 0x00, 0x03, 0x00,                         // DAEMON
        0x07, 0x00, 0x02, 0x00, 0xff, 0xfe, 0x00, 0x00, //   MCAST_IFN "\xff\xfe"
        0x0c, 0x00, 0x01, 0x00,                         // SERVICE
        0x06, 0x00, 0x06, 0x00, 0xc3, 0x00, 0x00, 0x00, //   SCHED_NAME "\xc3"
    ];
    let parsed = parse(9, raw);
    let IpvsAttribute::Daemon(daemon) = &parsed.attributes[0] else {
        panic!()
    };
    assert_eq!(
        daemon[0],
        DaemonAttribute::Other(DefaultNla::new(2, vec![0xff, 0xfe, 0]))
    );
    let IpvsAttribute::Service(svc) = &parsed.attributes[1] else {
        panic!()
    };
    assert_eq!(
        svc[0],
        ServiceAttribute::Other(DefaultNla::new(6, vec![0xc3, 0]))
    );
    assert_eq!(emit(&parsed), raw);
}
