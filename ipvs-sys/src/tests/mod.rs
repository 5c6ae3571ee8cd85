// SPDX-License-Identifier: MIT OR Apache-2.0
//! Byte-vector tests. The vectors are little-endian host order, so this
//! module only builds on little-endian targets.

mod captures;
mod groups;
mod malformed;
mod vectors;

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;

use crate::IpvsMessage;

/// Parses `payload` (after the genl header) with command `cmd`.
pub(crate) fn parse(cmd: u8, payload: &[u8]) -> IpvsMessage {
    IpvsMessage::parse_with_param(payload, GenlHeader { cmd, version: 1 })
        .unwrap_or_else(|e| panic!("parse failed: {e}"))
}

/// Emits any `Emitable` into a fresh buffer.
pub(crate) fn emit<E: Emitable>(value: &E) -> Vec<u8> {
    let mut out = vec![0u8; value.buffer_len()];
    value.emit(&mut out);
    out
}
