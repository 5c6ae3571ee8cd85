// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and any
//! crash artifacts (`fuzz/artifacts/<target>/*`) through the same harnesses
//! the cargo-fuzz targets call, on stable. Every target has committed
//! seeds, and each replay checks that it read some.

/// The workspace's `fuzz/` directory.
fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    ipvs_sys::fuzzing::replay_corpus(&fuzz_dir(), target, harness)
}

#[test]
fn genl_message_corpus() {
    assert!(
        replay("genl_message", ipvs_sys::fuzzing::genl_message) > 0,
        "the genl_message seeds are committed"
    );
}

#[test]
fn nested_groups_corpus() {
    assert!(
        replay("nested_groups", ipvs_sys::fuzzing::nested_groups) > 0,
        "the nested_groups seeds are committed"
    );
}
