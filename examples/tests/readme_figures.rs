// SPDX-License-Identifier: MIT OR Apache-2.0
//! The README's "Scaling out" table is the model's output, row for row: if
//! `lb-sched`'s mh or sh changes, or the table is edited by hand, this
//! fails (regenerate it with `cargo run -p ipvs-examples --bin mapping_movement`).

use ipvs_examples::scaling;

#[test]
fn readme_movement_table_is_what_the_model_computes() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the workspace README");
    let rows = scaling::readme_table().expect("the model runs");
    assert_eq!(rows.len(), 4);
    for m in rows {
        let row = m.markdown_row();
        assert!(
            readme.lines().any(|l| l == row),
            "README.md lacks the row\n{row}\n(regenerate: cargo run -p ipvs-examples --bin mapping_movement)"
        );
    }
}
