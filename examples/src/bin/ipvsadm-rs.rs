// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvsadm-rs`: ipvsadm's command line on the `ipvs` crate.
//!
//! Same options, same defaults, same output for `-L`/`-l` (with `-n`,
//! `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--exact`,
//! `--sort`/`--nosort`, `--tun-info`, `--timeout`, `--daemon`) and `-S`,
//! byte for byte. Differences, all on purpose:
//!
//! - `-R` reads all of stdin first, checks every line (syntax, then against
//!   the current table), and only then applies it; if the kernel refuses a
//!   line anyway, everything applied before it is undone. ipvsadm applies
//!   line by line and stops (or carries on) half-way.
//! - Errors name what is wrong and what was probably meant (`-R` written
//!   for `-r`, `--stat` for `--stats`, ...).
//! - Names (without `-n`) come from `/etc/hosts` and `/etc/services` only,
//!   never from DNS.
//! - One netlink socket for the whole run (ipvsadm opens one per request).
//!
//! Privileges: CAP_NET_ADMIN in the initial user namespace, and the
//! `ip_vs` module (the kernel loads it when the IPVS family is resolved).
//! Exit status: 0, 1 for a kernel error, 2 for a usage error (as ipvsadm).

use std::io::{Read, Write};
use std::process::ExitCode;

use ipvs::Ipvs;
use ipvs_examples::ipvsadm::cli::{self, Command, ListTarget};
use ipvs_examples::ipvsadm::format::{self, ListFormat};
use ipvs_examples::ipvsadm::kernel::{self, Kernel};
use ipvs_examples::ipvsadm::names::{Files, Numeric, Resolver};
use ipvs_examples::ipvsadm::restore::{self, Backend};

const PROGRAM: &str = "ipvsadm-rs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files = Files::system();
    let cmd = match cli::parse(&args, &files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            eprintln!("Try `{PROGRAM} -h' or '{PROGRAM} --help' for more information.");
            return ExitCode::from(2);
        }
    };
    match run(cmd, &files) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}

fn open() -> Result<Ipvs, (u8, String)> {
    Ipvs::new().map_err(|e| {
        (
            2,
            format!(
                "Can't initialize ipvs: {e}\nAre you sure that IP Virtual Server is built in the kernel or as module?"
            ),
        )
    })
}

fn out(text: &str) -> Result<(), (u8, String)> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| (1, format!("writing the output: {e}")))
}

fn names_for(f: &ListFormat, files: &Files) -> Box<dyn Resolver> {
    if f.numeric {
        Box::new(Numeric)
    } else {
        Box::new(files.clone())
    }
}

fn run(cmd: Command, files: &Files) -> Result<(), (u8, String)> {
    let kerr = |e: String| (1u8, e);
    match cmd {
        Command::Help => out(&cli::usage(PROGRAM)),
        Command::Version => out(&format!(
            "{PROGRAM} {} (ipvsadm v1.31 compatible, on the ipvs crate)\n",
            env!("CARGO_PKG_VERSION")
        )),
        Command::List(target, f) => {
            let ipvs = open()?;
            let names = names_for(&f, files);
            match target {
                ListTarget::All => {
                    let table = kernel::read_table(&ipvs).map_err(kerr)?;
                    out(&format::list_all(&table, &f, names.as_ref()))
                }
                ListTarget::Service(svc) => {
                    let s = ipvs
                        .service(&kernel::key(&svc))
                        .map_err(|e| (1, e.to_string()))?;
                    let entry = kernel::read_entry(&ipvs, &s).map_err(kerr)?;
                    out(&format::list_service(&entry, &f, names.as_ref()))
                }
                ListTarget::Timeouts => out(&format::timeouts(
                    &kernel::read_timeouts(&ipvs).map_err(kerr)?,
                )),
                ListTarget::Daemons => {
                    let d = ipvs.daemons().map_err(|e| (1, e.to_string()))?;
                    let d: Vec<_> = d.iter().map(kernel::daemon_from).collect();
                    out(&format::daemons(&d))
                }
                ListTarget::Connections => {
                    let conns = ipvs::conn::read_connections().map_err(|e| (1, e.to_string()))?;
                    out(&format::connections(&conns, &f, names.as_ref()))
                }
            }
        }
        Command::Save(f) => {
            let ipvs = open()?;
            let names = names_for(&f, files);
            let table = kernel::read_table(&ipvs).map_err(kerr)?;
            out(&format::list_all(&table, &f, names.as_ref()))
        }
        Command::Restore => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| (2, format!("reading the rules from stdin: {e}")))?;
            let lines = restore::parse_input(&input, files).map_err(|errs| {
                let mut msg = format!(
                    "{PROGRAM}: -R: {} bad line(s); nothing was changed",
                    errs.len()
                );
                for e in errs {
                    msg.push_str(&format!("\n{e}"));
                }
                (2, msg)
            })?;
            let ipvs = open()?;
            let state = kernel::read_state(&ipvs).map_err(kerr)?;
            let steps =
                restore::plan(&state, &lines).map_err(|e| (1, format!("{PROGRAM}: -R: {e}")))?;
            restore::apply(&mut Kernel(&ipvs), &steps)
                .map_err(|e| (1, format!("{PROGRAM}: -R: {e}")))
        }
        change => {
            let ipvs = open()?;
            Kernel(&ipvs).run(&change).map_err(kerr)
        }
    }
}
