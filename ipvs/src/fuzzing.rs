// SPDX-License-Identifier: MIT OR Apache-2.0
//! Harnesses for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).
//! They live here so the stable test suite can replay inputs through the
//! same code.

use crate::datagram::{self, NLMSG_HDRLEN};
use crate::family;

/// Walks `data` as a received datagram and classifies every message.
///
/// Invariants checked: no panic, the walk ends, every accepted message is
/// at least a header long and lies inside the datagram, and the walk yields
/// at most one message per 16 bytes (plus one error).
pub fn datagram_walk(data: &[u8]) {
    let mut count = 0usize;
    for message in datagram::messages(data) {
        count += 1;
        assert!(
            count <= data.len() / NLMSG_HDRLEN + 1,
            "walk does not advance"
        );
        let Ok(message) = message else { continue };
        assert!(message.header.length as usize >= NLMSG_HDRLEN);
        assert!(message.payload.len() + NLMSG_HDRLEN <= data.len());
        let _ = datagram::classify(&message);
    }
}

/// Parses `data` as a controller (`CTRL_CMD_GETFAMILY`) reply payload.
/// Invariant: no panic; a successful parse names the requested family or
/// none.
pub fn ctrl_reply(data: &[u8]) {
    if let Ok(info) = family::parse_family_reply(data, family::ipvs_family_name()) {
        assert!(
            info.name
                .as_deref()
                .is_none_or(|n| n == family::ipvs_family_name())
        );
    }
}

/// Parses `data` (lossily decoded as UTF-8) as `/proc/net/ip_vs_conn` and
/// as `/proc/net/ip_vs_conn_sync`.
///
/// Invariants checked: no panic; an error names a line of the input; a
/// table that parses, written back line by line, parses to the same
/// connections.
pub fn conn_table(data: &[u8]) {
    use crate::conn;
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1);
    match conn::parse_connections(&text) {
        Ok(conns) => {
            let mut written = format!("{}\n", conn::HEADER);
            for c in &conns {
                written.push_str(&format!("{c}\n"));
            }
            assert_eq!(conn::parse_connections(&written).as_ref(), Ok(&conns));
        }
        Err(e) => assert!((1..=lines).contains(&e.line), "{e}"),
    }
    match conn::parse_sync_connections(&text) {
        Ok(conns) => {
            let mut written = format!("{}\n", conn::SYNC_HEADER);
            for c in &conns {
                written.push_str(&format!("{c}\n"));
            }
            assert_eq!(conn::parse_sync_connections(&written).as_ref(), Ok(&conns));
        }
        Err(e) => assert!((1..=lines).contains(&e.line), "{e}"),
    }
}
