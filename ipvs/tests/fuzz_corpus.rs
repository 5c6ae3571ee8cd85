// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and any
//! crash artifacts (`fuzz/artifacts/<target>/*`) of the `ipvs` targets
//! through the harnesses the cargo-fuzz targets call, on stable. Every
//! target has committed seeds, and each replay checks that it read some.

/// The workspace's `fuzz/` directory.
fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    ipvs::ipvs_sys::fuzzing::replay_corpus(&fuzz_dir(), target, harness)
}

#[test]
fn conn_table_corpus() {
    assert!(
        replay("conn_table", ipvs::fuzzing::conn_table) > 0,
        "the conn_table seeds are committed"
    );
}

#[test]
fn datagram_walk_corpus() {
    assert!(
        replay("datagram_walk", ipvs::fuzzing::datagram_walk) > 0,
        "the datagram_walk seeds are committed"
    );
}

#[test]
fn ctrl_reply_corpus() {
    assert!(
        replay("ctrl_reply", ipvs::fuzzing::ctrl_reply) > 0,
        "the ctrl_reply seeds are committed"
    );
}

#[test]
fn protocol_corpus() {
    assert!(
        replay("protocol", ipvs::fuzzing::protocol) > 0,
        "the protocol seeds are committed"
    );
}

#[test]
fn reply_corpus() {
    assert!(
        replay("reply", ipvs::fuzzing::reply) > 0,
        "the reply seeds are committed"
    );
}

#[test]
fn notation_corpus() {
    assert!(
        replay("notation", ipvs::fuzzing::notation) > 0,
        "the notation seeds are committed"
    );
}
