// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and any
//! crash artifacts (`fuzz/artifacts/<target>/*`) of the `restore_input`
//! and `command_line` targets through the harnesses the cargo-fuzz
//! targets call, on stable. The crate's dev-dependency on itself enables
//! `fuzzing`, so a plain `cargo test` runs them; each replay checks that
//! it read some seeds.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(
            result.is_ok(),
            "{target}: {} fails the harness",
            path.display()
        );
    }
    inputs.len()
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
