// SPDX-License-Identifier: MIT OR Apache-2.0
//! The worked encodings of ipvs-reference.md §6.3 (built by following the
//! libipvs attribute order, not captured), with `NLA_F_NESTED` on the nests
//! as libnl sets it. The kernel captures are in `captures.rs`.

use pretty_assertions::assert_eq;

use super::{emit, parse};
use crate::{
    AddressFamily, DestAttribute, FlagsMask, ForwardMethod, InetAddr, IpvsAttribute, IpvsCmd,
    IpvsMessage, Nested, Netmask, Protocol, ServiceAttribute, ServiceFlags, TunnelFlags,
    TunnelType,
};

/// `ipvsadm -A -t 207.175.44.110:80 -s rr`, after the genl header.
#[rustfmt::skip]
pub(crate) const NEW_SERVICE_TCP_RR: &[u8] = &[
    0x54, 0x00, 0x01, 0x80,                         // CMD_ATTR_SERVICE | NESTED, len 84
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = 2
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = 6
    0x14, 0x00, 0x03, 0x00, 0xcf, 0xaf, 0x2c, 0x6e, // ADDR 207.175.44.110
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80 (be)
    0x07, 0x00, 0x06, 0x00, 0x72, 0x72, 0x00, 0x00, // SCHED_NAME "rr"
    0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, // FLAGS {0,
    0xff, 0xff, 0xff, 0xff,                         //   0xffffffff}
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT 0
    0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK /32
];

/// `ipvsadm -a -t 207.175.44.110:80 -r 192.168.10.1 -m -w 2`.
#[rustfmt::skip]
pub(crate) const NEW_DEST_MASQ: &[u8] = &[
    0x54, 0x00, 0x01, 0x80,                         // CMD_ATTR_SERVICE | NESTED, len 84
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = 2
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = 6
    0x14, 0x00, 0x03, 0x00, 0xcf, 0xaf, 0x2c, 0x6e, // ADDR
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80
    0x05, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // SCHED_NAME ""
    0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, // FLAGS
    0xff, 0xff, 0xff, 0xff,
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT
    0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK
    0x60, 0x00, 0x02, 0x80,                         // CMD_ATTR_DEST | NESTED, len 96
    0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY = 2
    0x14, 0x00, 0x01, 0x00, 0xc0, 0xa8, 0x0a, 0x01, // ADDR 192.168.10.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x02, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // FWD_METHOD = MASQ
    0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, // WEIGHT = 2
    0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_TYPE = 0
    0x06, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_PORT = 0
    0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_FLAGS = 0
    0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // U_THRESH = 0
    0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // L_THRESH = 0
];

fn service_207(sched: &str) -> Vec<ServiceAttribute> {
    vec![
        ServiceAttribute::Af(AddressFamily::Inet),
        ServiceAttribute::Protocol(Protocol::Tcp),
        ServiceAttribute::Addr(InetAddr::from(std::net::Ipv4Addr::new(207, 175, 44, 110))),
        ServiceAttribute::Port(80),
        ServiceAttribute::SchedName(sched.into()),
        ServiceAttribute::Flags(FlagsMask::replace_all(ServiceFlags::empty())),
        ServiceAttribute::Timeout(0),
        ServiceAttribute::Netmask(Netmask::from_raw(u32::MAX)),
    ]
}

#[test]
fn new_service_parses_to_expected_and_re_emits() {
    let expected = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![IpvsAttribute::Service(Nested::new(service_207("rr")))],
    );
    let parsed = parse(1, NEW_SERVICE_TCP_RR);
    assert_eq!(parsed, expected);
    assert_eq!(emit(&expected), NEW_SERVICE_TCP_RR);
}

#[test]
fn new_dest_parses_to_expected_and_re_emits() {
    let expected = IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![
            IpvsAttribute::Service(Nested::new(service_207(""))),
            IpvsAttribute::Dest(Nested::new(vec![
                DestAttribute::AddrFamily(AddressFamily::Inet),
                DestAttribute::Addr(std::net::Ipv4Addr::new(192, 168, 10, 1).into()),
                DestAttribute::Port(80),
                DestAttribute::FwdMethod(ForwardMethod::Masq),
                DestAttribute::Weight(2),
                DestAttribute::TunType(TunnelType::Ipip),
                DestAttribute::TunPort(0),
                DestAttribute::TunFlags(TunnelFlags::empty()),
                DestAttribute::UpperThreshold(0),
                DestAttribute::LowerThreshold(0),
            ])),
        ],
    );
    assert_eq!(parse(5, NEW_DEST_MASQ), expected);
    assert_eq!(emit(&expected), NEW_DEST_MASQ);
}

#[test]
fn nest_without_flag_parses_and_re_emits_without_flag() {
    let mut raw = NEW_SERVICE_TCP_RR.to_vec();
    raw[3] = 0x00; // kernel style: no NLA_F_NESTED
    let parsed = parse(1, &raw);
    let IpvsAttribute::Service(service) = &parsed.attributes[0] else {
        panic!("not a service: {parsed:?}");
    };
    assert!(!service.nested_flag);
    assert_eq!(service.attributes, service_207("rr"));
    assert_eq!(emit(&parsed), raw);
}
