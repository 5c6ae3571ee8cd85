// SPDX-License-Identifier: MIT OR Apache-2.0
//! `mapping_movement`: how many clients change real server when one is
//! added or removed, for `mh` (maglev) and `sh` (source hashing), in the
//! `lb-sched` model of the kernel's schedulers (see
//! `ipvs_examples::scaling`). No kernel, no privileges.
//!
//! ```text
//! mapping_movement                       # the README's table (10 000 clients, 5 → 6, 5 → 4)
//! mapping_movement --clients 50000 --from 8 --to 9
//! ```

use std::process::ExitCode;

use ipvs_examples::director::args;
use ipvs_examples::scaling::{self, Movement};

const HEADER: &str = "| scheduler | real servers | clients | moved | ideal | moved needlessly |\n|---|---|---|---|---|---|";

fn main() -> ExitCode {
    let parse = || -> Result<Option<(usize, usize, usize)>, String> {
        let (mut clients, mut from, mut to) = (None, None, None);
        let mut p = lexopt::Parser::from_env();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                lexopt::Arg::Long("clients") => clients = Some(args::value(&mut p, "--clients")?),
                lexopt::Arg::Long("from") => from = Some(args::value(&mut p, "--from")?),
                lexopt::Arg::Long("to") => to = Some(args::value(&mut p, "--to")?),
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(match (clients, from, to) {
            (None, None, None) => None,
            (c, f, t) => Some((c.unwrap_or(10_000), f.unwrap_or(5), t.unwrap_or(6))),
        })
    };
    let rows: Result<Vec<Movement>, String> = match parse() {
        Err(e) => {
            eprintln!(
                "mapping_movement: {e}\nusage: mapping_movement [--clients N] [--from N] [--to N]"
            );
            return ExitCode::from(2);
        }
        Ok(None) => scaling::readme_table().map_err(|e| e.to_string()),
        Ok(Some((clients, from, to))) => [
            scaling::movement(lb_sched::Mh::new(0), clients, from, to),
            scaling::movement(lb_sched::Sh::new(0), clients, from, to),
        ]
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string()),
    };
    match rows {
        Ok(rows) => {
            println!("{HEADER}");
            for m in rows {
                println!("{}", m.markdown_row());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mapping_movement: {e}");
            ExitCode::FAILURE
        }
    }
}
