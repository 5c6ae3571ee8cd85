// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) and any
//! crash artifacts (`fuzz/artifacts/<target>/*`) through the same harnesses
//! the cargo-fuzz targets call, on stable. A missing directory replays
//! nothing.

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

fn replay(target: &str, harness: fn(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(
            result.is_ok(),
            "{target}: {} fails the harness",
            path.display()
        );
    }
}

#[test]
fn genl_message_corpus() {
    replay("genl_message", ipvs_sys::fuzzing::genl_message);
}

#[test]
fn nested_groups_corpus() {
    replay("nested_groups", ipvs_sys::fuzzing::nested_groups);
}
