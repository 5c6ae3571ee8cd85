// SPDX-License-Identifier: MIT OR Apache-2.0
//! Runs the `sched_ops` fuzz harness on stable: the committed corpus
//! (`fuzz/corpus/sched_ops/*`, `fuzz/artifacts/sched_ops/*`, when present) and a
//! batch of pseudo-random inputs. The crate's dev-dependency on itself
//! enables `fuzzing`, so a plain `cargo test` runs both.

#[test]
fn sched_ops_corpus_and_random_inputs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["corpus/sched_ops", "artifacts/sched_ops"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries.flatten() {
                let data = std::fs::read(e.path()).unwrap();
                lb_sched::fuzzing::sched_ops(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed > 0, "the sched_ops seeds are committed");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for case in 0..60u32 {
        let len = 1 + (case as usize * 37) % 400;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        lb_sched::fuzzing::sched_ops(&data);
    }
}
