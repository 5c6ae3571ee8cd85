// SPDX-License-Identifier: MIT OR Apache-2.0
//! Malformed input: every truncation of every vector is an error (never a
//! panic), bad lengths are errors, and errors name the attribute.

use netlink_packet_core::ParseableParametrized;
use netlink_packet_generic::GenlHeader;

use super::vectors::{NEW_DEST_MASQ, NEW_SERVICE_TCP_RR};
use crate::IpvsMessage;

fn try_parse(cmd: u8, payload: &[u8]) -> Result<IpvsMessage, netlink_packet_core::DecodeError> {
    IpvsMessage::parse_with_param(payload, GenlHeader { cmd, version: 1 })
}

/// All (cmd, payload) vectors the truncation test walks.
pub(crate) fn vectors() -> Vec<(u8, Vec<u8>)> {
    let mut all = vec![
        (1, NEW_SERVICE_TCP_RR.to_vec()),
        (5, NEW_DEST_MASQ.to_vec()),
    ];
    all.extend(
        super::groups::REPLY_VECTORS
            .iter()
            .map(|(c, v)| (*c, v.to_vec())),
    );
    all
}

/// A prefix of a genl payload is an error, except when it ends exactly at
/// a top-level attribute boundary: then it is a shorter, valid message
/// holding the first attributes (the netlink header's length is what makes
/// such a truncation detectable; see `every_truncated_netlink_message`).
#[test]
fn every_truncated_prefix_is_an_error_or_a_whole_attribute_prefix() {
    use netlink_packet_core::Emitable;
    for (cmd, raw) in vectors() {
        let whole = try_parse(cmd, &raw).unwrap();
        let mut boundaries = vec![0usize];
        for attr in &whole.attributes {
            boundaries.push(boundaries.last().unwrap() + attr.buffer_len());
        }
        for len in 1..raw.len() {
            match (
                try_parse(cmd, &raw[..len]),
                boundaries.iter().position(|b| *b == len),
            ) {
                (Err(_), None) => {}
                (Ok(prefix), Some(k)) => {
                    assert_eq!(prefix.attributes, whole.attributes[..k]);
                }
                (result, _) => panic!("cmd {cmd}: prefix of {len}/{} bytes: {result:?}", raw.len()),
            }
        }
    }
}

/// With a netlink header, every truncated message is an error.
#[test]
fn every_truncated_netlink_message_is_an_error() {
    use netlink_packet_core::NetlinkMessage;
    use netlink_packet_generic::GenlMessage;
    for (cmd, raw) in vectors() {
        let mut msg = vec![0u8; 16];
        let total = u32::try_from(16 + 4 + raw.len()).unwrap();
        msg[0..4].copy_from_slice(&total.to_ne_bytes());
        msg[4..6].copy_from_slice(&0x20u16.to_ne_bytes()); // family id
        msg.extend_from_slice(&[cmd, 1, 0, 0]);
        msg.extend_from_slice(&raw);
        type Msg = NetlinkMessage<GenlMessage<IpvsMessage>>;
        assert!(Msg::deserialize(&msg).is_ok());
        for len in 0..msg.len() {
            assert!(Msg::deserialize(&msg[..len]).is_err(), "cmd {cmd}, {len}");
        }
    }
}

#[test]
fn empty_payload_is_an_empty_message() {
    assert!(try_parse(17, &[]).unwrap().attributes.is_empty());
}

#[test]
fn nla_shorter_than_its_header_is_an_error() {
    for bad in [
        &[0x03, 0x00, 0x04, 0x00][..],       // len 3 < 4
        &[0x08, 0x00, 0x04, 0x00, 0x00][..], // len 8 > 5 bytes
        &[0x04, 0x00][..],                   // half a header
    ] {
        assert!(try_parse(12, bad).is_err(), "{bad:?}");
    }
}

#[test]
fn wrong_scalar_sizes_are_errors_naming_the_attribute() {
    let cases: &[(u8, &[u8], &str)] = &[
        // SERVICE { PORT with 4 bytes }
        (
            1,
            &[0x0c, 0, 1, 0, 0x08, 0, 4, 0, 0, 0x50, 0, 0],
            "IPVS_SVC_ATTR_PORT",
        ),
        // SERVICE { AF with 1 byte }
        (
            1,
            &[0x0c, 0, 1, 0, 0x05, 0, 1, 0, 2, 0, 0, 0],
            "IPVS_SVC_ATTR_AF",
        ),
        // SERVICE { ADDR with 20 bytes }
        (
            1,
            &[
                0x1c, 0, 1, 0, 0x18, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0,
            ],
            "IPVS_SVC_ATTR_ADDR",
        ),
        // SERVICE { FLAGS with 4 bytes }
        (
            1,
            &[0x0c, 0, 1, 0, 0x08, 0, 7, 0, 1, 0, 0, 0],
            "IPVS_SVC_ATTR_FLAGS",
        ),
        // DEST { WEIGHT with 2 bytes }
        (
            5,
            &[0x0c, 0, 2, 0, 0x06, 0, 4, 0, 1, 0, 0, 0],
            "IPVS_DEST_ATTR_WEIGHT",
        ),
        // DEST { TUN_TYPE with 2 bytes }
        (
            5,
            &[0x0c, 0, 2, 0, 0x06, 0, 13, 0, 1, 0, 0, 0],
            "IPVS_DEST_ATTR_TUN_TYPE",
        ),
        // DAEMON { MCAST_GROUP with 2 bytes }
        (
            9,
            &[0x0c, 0, 3, 0, 0x06, 0, 5, 0, 1, 0, 0, 0],
            "IPVS_DAEMON_ATTR_MCAST_GROUP",
        ),
        // TIMEOUT_TCP with 2 bytes
        (
            12,
            &[0x06, 0, 4, 0, 1, 0, 0, 0],
            "IPVS_CMD_ATTR_TIMEOUT_TCP",
        ),
        // INFO VERSION with 2 bytes
        (14, &[0x06, 0, 1, 0, 1, 0, 0, 0], "IPVS_INFO_ATTR_VERSION"),
        // SERVICE { STATS { INBYTES with 4 bytes } }
        (
            1,
            &[0x10, 0, 1, 0, 0x0c, 0, 10, 0, 0x08, 0, 4, 0, 1, 0, 0, 0],
            "IPVS_STATS_ATTR_INBYTES",
        ),
        // DEST { PORT with 1 byte }
        (
            5,
            &[0x0c, 0, 2, 0, 0x05, 0, 2, 0, 1, 0, 0, 0],
            "IPVS_DEST_ATTR_PORT",
        ),
    ];
    for (cmd, raw, name) in cases {
        let err = try_parse(*cmd, raw).expect_err(name).to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
}
