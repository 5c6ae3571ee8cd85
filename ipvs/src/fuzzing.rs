// SPDX-License-Identifier: MIT OR Apache-2.0
//! Harnesses for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).
//! They live here so the stable test suite can replay inputs through the
//! same code.

use crate::datagram::{self, NLMSG_HDRLEN};
use crate::error::Op;
use crate::family;
use crate::key::ServiceKey;
use crate::request;

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

/// Drives the protocol core (`proto::Protocol`) with an arbitrary
/// script: an exchange of up to 16 requests (one dump, or acknowledged
/// requests) with a window of 1 to 8, then operations read from `data`:
/// pack, datagrams (built from messages addressed to any request, stale or
/// foreign, or arbitrary bytes, truncated or not, from the kernel or not),
/// overruns, expiry, abandoning a request. At the end the exchange expires.
///
/// Invariants checked:
/// - every request ends exactly once (an `End` event, or `abandon` that
///   returns true), and no event follows its end;
/// - a data payload reaches only the request whose sequence number and port
///   id its message header carries;
/// - at the end the exchange is finished, and once the socket is retired
///   nothing is left draining.
pub fn protocol(data: &[u8]) {
    use crate::proto::{Event, Failure, Kind, Protocol};

    const PORT: u32 = 77;
    const FAMILY: u16 = 0x20;
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let Some(shape) = next() else { return };
    let dump = shape & 0x80 != 0;
    let count = if dump { 1 } else { usize::from(shape % 16) + 1 };
    let window = usize::from(next().unwrap_or(0) % 8) + 1;
    let kind = if dump { Kind::Dump } else { Kind::Acked };
    let payload = [1u8, 1, 0, 0];
    let requests = vec![(kind, &payload[..]); count];
    let mut protocol = Protocol::new(PORT);
    protocol.size_window(window * crate::proto::ACK_RECEIVE_BUDGET);
    protocol.begin(FAMILY, &requests);

    // Sequence number of each request, learnt from what was packed.
    let mut sequences: Vec<Option<u32>> = vec![None; count];
    let mut ended = vec![false; count];
    let mut out = Vec::new();
    let check =
        |ended: &mut Vec<bool>, sequences: &[Option<u32>], datagram: &[u8], event: Event<'_>| {
            match event {
                Event::Data { index, payload } => {
                    assert!(!ended[index], "data for request {index} after its end");
                    // The message header sits right before the payload.
                    let offset = payload.as_ptr() as usize - datagram.as_ptr() as usize;
                    let header = offset
                        .checked_sub(NLMSG_HDRLEN)
                        .and_then(|at| datagram::MessageHeader::parse(&datagram[at..]))
                        .expect("a payload follows its header");
                    assert_eq!(
                        Some(header.sequence),
                        sequences[index],
                        "routed by sequence"
                    );
                    assert_eq!(header.port, PORT, "routed by port id");
                }
                Event::End { index, .. } => {
                    assert!(!ended[index], "request {index} ended twice");
                    ended[index] = true;
                }
            }
        };
    let mut pack =
        |protocol: &mut Protocol, ended: &mut Vec<bool>, sequences: &mut Vec<Option<u32>>| {
            let mut events = Vec::new();
            if let Some(range) = protocol.pack(&requests, &mut out, &mut |e| {
                if let Event::End { index, .. } = e {
                    events.push(index);
                }
            }) {
                for (index, message) in range.zip(datagram::messages(&out)) {
                    sequences[index] = Some(
                        message
                            .expect("packed messages are well formed")
                            .header
                            .sequence,
                    );
                }
            }
            for index in events {
                check(
                    ended,
                    sequences,
                    &[],
                    Event::End {
                        index,
                        outcome: Err(Failure::NotSent),
                    },
                );
            }
        };

    while let Some(op) = next() {
        match op % 8 {
            0 => pack(&mut protocol, &mut ended, &mut sequences),
            1 | 2 => {
                // A datagram of up to 4 messages addressed by the script.
                let mut datagram = Vec::new();
                for _ in 0..(next().unwrap_or(0) % 4 + 1) {
                    let target = next().unwrap_or(0);
                    let shape = next().unwrap_or(0);
                    let base = sequences.iter().flatten().next().copied().unwrap_or(1);
                    let sequence = base.wrapping_add(u32::from(target % 20)).wrapping_sub(2);
                    let port = if shape & 0x80 != 0 { PORT + 1 } else { PORT };
                    let flags = if shape & 0x40 != 0 { 0x12 } else { 0x02 };
                    let (message_type, body): (u16, Vec<u8>) = match shape % 8 {
                        0 | 1 => (FAMILY, vec![1, 1, 0, 0, target]),
                        2 => (2, [0i32.to_ne_bytes(), [0; 4]].concat()),
                        3 => (2, [(-17i32).to_ne_bytes(), [0; 4]].concat()),
                        4 => (3, 0i32.to_ne_bytes().to_vec()),
                        5 => (3, (-16i32).to_ne_bytes().to_vec()),
                        6 => (1, Vec::new()),
                        _ => (FAMILY + 1, vec![target]),
                    };
                    let at = datagram.len();
                    datagram.resize(at + NLMSG_HDRLEN, 0);
                    datagram::MessageHeader {
                        length: (NLMSG_HDRLEN + body.len()) as u32,
                        message_type,
                        flags,
                        sequence,
                        port,
                    }
                    .emit(&mut datagram[at..]);
                    datagram.extend(body);
                    datagram.resize(datagram.len().next_multiple_of(4), 0);
                }
                let stored = if op % 8 == 2 {
                    datagram.len() / 2
                } else {
                    datagram.len()
                };
                protocol.receive(&datagram[..stored], datagram.len(), 0, &mut |e| {
                    check(&mut ended, &sequences, &datagram, e)
                });
            }
            3 => {
                // Arbitrary bytes, from the kernel or not.
                let len = usize::from(next().unwrap_or(0) % 64);
                let raw: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                let sender = u32::from(next().unwrap_or(0) % 2);
                protocol.receive(&raw, raw.len(), sender, &mut |e| {
                    check(&mut ended, &sequences, &raw, e)
                });
            }
            4 => protocol.overrun(&mut |e| check(&mut ended, &sequences, &[], e)),
            5 => protocol.settle_overrun(&mut |e| check(&mut ended, &sequences, &[], e)),
            6 => {
                let index = usize::from(next().unwrap_or(0)) % count;
                let was_open = !ended[index] && sequences[index].is_some();
                assert_eq!(protocol.abandon(index), was_open, "abandon {index}");
                ended[index] |= was_open;
            }
            _ => protocol.expire(|| Failure::Timeout, &mut |e| {
                check(&mut ended, &sequences, &[], e)
            }),
        }
    }
    protocol.expire(|| Failure::Timeout, &mut |e| {
        check(&mut ended, &sequences, &[], e)
    });
    assert!(protocol.is_finished());
    assert!(ended.iter().all(|e| *e), "every request ended: {ended:?}");
    protocol.retire(PORT + 1);
    assert_eq!(protocol.draining(), None);
}

/// Decodes `data` as the generic-netlink payload of a dump message, as a
/// snapshot reads one: a service (`GET_SERVICE`), its key alone (the
/// verification dump), and a destination (`GET_DEST`) of an IPv4 and an
/// IPv6 service.
///
/// Invariants checked: no panic; when the service decodes, the key-only
/// read names the same key.
pub fn reply(data: &[u8]) {
    let service = request::service_of(Op::ListServices, data);
    let key = request::service_key_of(Op::ListServices, data);
    if let Ok(service) = &service {
        assert_eq!(key.as_ref().ok(), Some(&service.key), "{service:?}");
    }
    for addr in ["192.0.2.1:80", "[2001:db8::1]:80"] {
        let service = ServiceKey::tcp(addr.parse().expect("a socket address"));
        let _ = request::destination_of(Op::ListDestinations, &service, data);
    }
}

/// Reads `data` (lossily decoded as UTF-8) in ipvsadm notation as every
/// type whose `FromStr` takes it: [`crate::ServiceKey`], [`crate::Service`],
/// [`crate::Destination`], [`crate::Forwarding`],
/// [`crate::PersistenceNetmask`], [`crate::Scheduler`] and
/// [`crate::DaemonRole`].
///
/// Invariants checked: no panic; an error names a field and a reason; a
/// value that parses prints (`Display`) to text that parses back to it.
pub fn notation(data: &[u8]) {
    use crate::{DaemonRole, Destination, Forwarding, PersistenceNetmask, Scheduler, Service};
    let text = String::from_utf8_lossy(data);
    parses_stably::<ServiceKey>(&text);
    parses_stably::<Service>(&text);
    parses_stably::<Destination>(&text);
    parses_stably::<Forwarding>(&text);
    parses_stably::<PersistenceNetmask>(&text);
    parses_stably::<Scheduler>(&text);
    parses_stably::<DaemonRole>(&text);
}

/// [`notation`]'s invariants for one type.
fn parses_stably<T>(text: &str)
where
    T: std::str::FromStr<Err = crate::ParseError> + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    match text.parse::<T>() {
        Ok(value) => {
            let printed = value.to_string();
            assert_eq!(
                printed.parse::<T>().as_ref(),
                Ok(&value),
                "{text:?} prints as {printed:?}"
            );
        }
        Err(e) => assert!(!e.field().is_empty() && !e.reason().is_empty(), "{e:?}"),
    }
}
