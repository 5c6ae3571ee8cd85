// SPDX-License-Identifier: MIT OR Apache-2.0
//! The README's "Scaling out" section shows what the examples ship and
//! compute: its movement table is the model's output, row for row (if
//! `lb-sched`'s mh or sh changes, or the table is edited by hand, this
//! fails; regenerate it with `cargo run -p ipvs-examples --bin
//! mapping_movement`), and its keepalived configuration is the shipped
//! template's.

use ipvs_examples::director::conf;
use ipvs_examples::scaling;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the workspace README")
}

#[test]
fn readme_movement_table_is_what_the_model_computes() {
    let readme = readme();
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

#[test]
fn readme_keepalived_configuration_is_the_shipped_template() {
    let lines: Vec<&str> = conf::KEEPALIVED_PAIR
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let block = format!("```text\n{}\n```", lines.join("\n"));
    assert!(
        readme().contains(&block),
        "README.md lacks examples/conf/keepalived-pair.conf without its comments:\n{block}"
    );
}
