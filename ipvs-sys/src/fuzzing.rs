// SPDX-License-Identifier: MIT OR Apache-2.0
//! Fuzz harnesses (feature `fuzzing`), shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and the stable corpus replay in
//! `tests/fuzz_corpus.rs`. Not a stable API.
//!
//! Each harness asserts the round-trip law, not only "no panic":
//!
//! 1. `parse(emit(m)) == m` for every `m` that parses from the input;
//! 2. `emit(parse(emit(m))) == emit(m)`: emission is canonical, so emitting
//!    what was parsed from canonical bytes gives back the same bytes.
//!
//! A parsed message whose re-emission would break the emit length contract
//! (possible only for hostile input, e.g. a 65531-byte string without its
//! NUL) is skipped, as the contract allows.

use std::fmt::Debug;

use netlink_packet_core::{
    Emitable, NLA_HEADER_SIZE, NetlinkMessage, NetlinkPayload, Nla, NlaBuffer, NlasIterator,
    Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlHeader, GenlMessage};

use crate::{
    DaemonAttribute, DestAttribute, InfoAttribute, IpvsMessage, ServiceAttribute, Stats64Attribute,
    StatsAttribute,
};

/// Target `genl_message`: a whole netlink message carrying an IPVS genl
/// message, parsed with `NetlinkMessage::<GenlMessage<IpvsMessage>>`.
pub fn genl_message(data: &[u8]) {
    type Msg = NetlinkMessage<GenlMessage<IpvsMessage>>;
    let Ok(first) = Msg::deserialize(data) else {
        return;
    };
    let NetlinkPayload::InnerMessage(genl) = &first.payload else {
        return;
    };
    if genl.payload.check_lengths().is_err() {
        return;
    }
    let mut canonical = first.clone();
    canonical.finalize();
    let bytes = emit(&canonical);
    let second =
        Msg::deserialize(&bytes).unwrap_or_else(|e| panic!("re-parse of emitted message: {e}"));
    assert_eq!(second.payload, first.payload, "payload changed");
    assert_eq!(second.header, canonical.header, "header changed");
    assert_eq!(emit(&second), bytes, "emission is not canonical");
}

/// Target `nested_groups`: the first byte selects an attribute table, the
/// rest is a run of attributes parsed with it.
///
/// 0: top-level, with the genl command in the second byte; 1: service;
/// 2: destination; 3: daemon; 4: 32-bit stats; 5: 64-bit stats; 6: info.
pub fn nested_groups(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 7 {
        0 => {
            let Some((&cmd, payload)) = rest.split_first() else {
                return;
            };
            genl_payload(cmd, payload);
        }
        1 => {
            attribute_run::<ServiceAttribute>(rest);
            identity_agrees(rest);
        }
        2 => attribute_run::<DestAttribute>(rest),
        3 => attribute_run::<DaemonAttribute>(rest),
        4 => {
            attribute_run::<StatsAttribute>(rest);
            counters_agree(rest, false);
        }
        5 => {
            attribute_run::<Stats64Attribute>(rest);
            counters_agree(rest, true);
        }
        _ => attribute_run::<InfoAttribute>(rest),
    }
}

/// The one-pass counter reader reads a statistics nest's value as its
/// attribute parser does: it fails when the parser fails, and otherwise
/// finds the counters the parsed attributes hold.
fn counters_agree(value: &[u8], u64_only: bool) {
    let read = crate::stats::read_counters(value, u64_only, "fuzz");
    let parsed = if u64_only {
        parse_run::<Stats64Attribute>(value).map(|attrs| emit_run(&attrs))
    } else {
        parse_run::<StatsAttribute>(value).map(|attrs| emit_run(&attrs))
    };
    match (read, parsed) {
        (Ok(read), Some(canonical)) => {
            let again = crate::stats::read_counters(&canonical, u64_only, "fuzz")
                .unwrap_or_else(|e| panic!("counters of the re-emitted nest: {e}"));
            assert_eq!(read, again, "counters differ from the parsed attributes'");
        }
        (Err(_), None) => {}
        (read, parsed) => panic!(
            "the counter reader and the parser disagree: {read:?}, parsed: {}",
            parsed.is_some()
        ),
    }
}

/// `ServiceAttributeRef::parse_identity` yields what `parse_each` yields
/// for the identifying attributes, whenever the whole run parses.
fn identity_agrees(value: &[u8]) {
    let Ok(all) = crate::ServiceAttributeRef::parse_each(value)
        .map(|a| a.and_then(|a| a.to_attribute()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let identity: Vec<ServiceAttribute> = crate::ServiceAttributeRef::parse_identity(value)
        .map(|a| a.and_then(|a| a.to_attribute()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("identity of a run that parses: {e}"));
    let expected: Vec<ServiceAttribute> = all.into_iter().filter(identifies_the_service).collect();
    assert_eq!(identity, expected, "identity attributes differ");
}

/// Whether a parsed attribute is one the identity parse reads.
fn identifies_the_service(attribute: &ServiceAttribute) -> bool {
    matches!(
        attribute,
        ServiceAttribute::Af(_)
            | ServiceAttribute::Protocol(_)
            | ServiceAttribute::Addr(_)
            | ServiceAttribute::Port(_)
            | ServiceAttribute::Fwmark(_)
    )
}

/// The round-trip law for the part of a genl message after its header.
/// Returns the canonical emission if `payload` parsed.
pub fn genl_payload(cmd: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let header = GenlHeader { cmd, version: 1 };
    let identity = IpvsMessage::parse_service_identity(payload);
    let first = IpvsMessage::parse_with_param(payload, header).ok()?;
    if cmd != u8::from(crate::IpvsCmd::SetInfo) {
        // What a full parse reads, the identity parse reads the same.
        let expected: Vec<ServiceAttribute> = first
            .attributes
            .iter()
            .filter_map(|a| match a {
                crate::IpvsAttribute::Service(nest) => Some(nest.iter()),
                _ => None,
            })
            .flatten()
            .filter(|a| identifies_the_service(a))
            .cloned()
            .collect();
        match identity {
            Ok(identity) => assert_eq!(identity, expected, "identity parse"),
            Err(e) => panic!("the identity parse failed where the full one did not: {e}"),
        }
    }
    first.check_lengths().ok()?;
    let bytes = emit(&first);
    let second = IpvsMessage::parse_with_param(&bytes, header)
        .unwrap_or_else(|e| panic!("re-parse of emitted message: {e}"));
    assert_eq!(second, first, "message changed");
    assert_eq!(emit(&second), bytes, "emission is not canonical");
    Some(bytes)
}

/// The round-trip law for a run of attributes of one table.
pub fn attribute_run<T>(data: &[u8])
where
    T: Nla + Debug + PartialEq + for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    let Some(first) = parse_run::<T>(data) else {
        return;
    };
    if first
        .iter()
        .any(|a| a.value_len() + NLA_HEADER_SIZE > usize::from(u16::MAX))
    {
        return;
    }
    let bytes = emit_run(&first);
    let second = parse_run::<T>(&bytes).expect("re-parse of emitted run");
    assert_eq!(second, first, "attributes changed");
    assert_eq!(emit_run(&second), bytes, "emission not canonical");
}

fn parse_run<T>(data: &[u8]) -> Option<Vec<T>>
where
    T: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    NlasIterator::new(data)
        .map(|nla| nla.ok().and_then(|nla| T::parse(&nla).ok()))
        .collect()
}

fn emit_run<T: Nla>(attrs: &[T]) -> Vec<u8> {
    let mut out = vec![0u8; crate::wire::attributes_len(attrs)];
    crate::wire::emit_attributes(attrs, &mut out);
    out
}

fn emit<E: Emitable>(value: &E) -> Vec<u8> {
    let mut out = vec![0u8; value.buffer_len()];
    value.emit(&mut out);
    out
}

/// Replays the committed corpus (`<fuzz_dir>/corpus/<target>/*`) and any
/// crash artifacts (`<fuzz_dir>/artifacts/<target>/*`) of a cargo-fuzz
/// target through `harness`, in file-name order: the stable tests of every
/// crate with fuzz targets call it (`tests/fuzz_corpus.rs`,
/// `tests/fuzz_replay.rs`). Panics naming the first input that fails the
/// harness; returns how many inputs it read, so that a test can insist on
/// committed seeds. A missing directory holds no inputs.
pub fn replay_corpus(fuzz_dir: &std::path::Path, target: &str, harness: fn(&[u8])) -> usize {
    let mut inputs = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(dir).join(target)) else {
            continue;
        };
        inputs.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{target}: reading {}: {e}", path.display()));
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(
            result.is_ok(),
            "{target}: {} fails the harness",
            path.display()
        );
    }
    inputs.len()
}
