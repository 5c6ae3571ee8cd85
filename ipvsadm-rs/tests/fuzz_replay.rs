// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and any
//! crash artifacts (`fuzz/artifacts/<target>/*`) of the `restore_input`
//! and `command_line` targets through the harnesses the cargo-fuzz
//! targets call, on stable. The crate's dev-dependency on itself enables
//! `fuzzing`, so a plain `cargo test` runs them; each replay checks that
//! it read some seeds.

/// The workspace's `fuzz/` directory.
fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    ipvs::ipvs_sys::fuzzing::replay_corpus(&fuzz_dir(), target, harness)
}

#[test]
fn restore_input_corpus() {
    assert!(
        replay("restore_input", ipvsadm_rs::fuzzing::restore_input) > 0,
        "the restore_input seeds are committed"
    );
}

#[test]
fn command_line_corpus() {
    assert!(
        replay("command_line", ipvsadm_rs::fuzzing::command_line) > 0,
        "the command_line seeds are committed"
    );
}
