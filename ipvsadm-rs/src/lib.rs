// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvsadm-rs`: ipvsadm, the administration tool of Linux IPVS, on the
//! `ipvs` crate.
//!
//! The same options, defaults, range checks and exit statuses as ipvsadm
//! 1.31; on stderr the first line of every error is ipvsadm's own message
//! (later lines explain); `-L` and `-S` output is byte for byte ipvsadm's.
//! `-R` is all or nothing. The package's README lists every place where
//! this tool differs from ipvsadm on purpose.
//!
//! Privileges: `CAP_NET_ADMIN` in the initial user namespace, and the
//! `ip_vs` module (the kernel loads it when the IPVS family is resolved).
//!
//! This library is the tool itself: the binary's `main` calls [`main`].
//! It has no other public API; it exists so that the fuzz targets in
//! `fuzz/` can reach the parsers (`fuzzing`, behind the feature of that
//! name).

mod command;
mod failure;
mod list;
mod names;
mod options;
mod restore;
mod usage;
mod value;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use ipvs::{Info, Ipvs, Op, ServiceState};

use command::{Command, ListTarget};
use failure::{EXIT_LISTING, Failure};
use list::ListFormat;
use names::{Files, Numeric, Resolver};

/// The `ipvsadm-rs` command: reads the process's arguments (and stdin
/// for `-R`), runs the command, prints what ipvsadm prints, and returns
/// ipvsadm's exit status.
pub fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ipvsadm-rs".into());
    let args: Vec<OsString> = args.collect();
    let names = Files::system();
    let command = if args.is_empty() {
        // ipvsadm without arguments lists the table.
        Ok(Command::List(ListTarget::All, ListFormat::default()))
    } else {
        command::parse(args, &program, &names)
    };
    match command.and_then(|command| run(command, &program, &names)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.status)
        }
    }
}

fn run(command: Command, program: &str, names: &Files) -> Result<(), Failure> {
    match command {
        Command::Help => print(&usage::help(program)),
        Command::Version => print(&usage::version()),
        Command::Restore => restore(program, names),
        Command::List(target, format) => {
            let (ipvs, info) = open()?;
            list(&ipvs, &info, target, &format, resolver(&format, names))
        }
        Command::Save(format) => {
            let (ipvs, info) = open()?;
            list(
                &ipvs,
                &info,
                ListTarget::All,
                &format,
                resolver(&format, names),
            )
        }
        change => change_ipvs(&open()?.0, &change),
    }
}

/// Opens IPVS as ipvsadm's `ipvs_init` does: the family, then GET_INFO.
fn open() -> Result<(Ipvs, Info), Failure> {
    let ipvs = Ipvs::new().map_err(|e| Failure::init(&e))?;
    let info = ipvs.info().map_err(|e| Failure::init(&e))?;
    Ok((ipvs, info))
}

fn resolver<'a>(format: &ListFormat, names: &'a Files) -> &'a dyn Resolver {
    if format.numeric { &Numeric } else { names }
}

/// Writes `text` to stdout; a reader that went away ends the run quietly.
fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::usage(format!("writing the output: {e}")).with_status(EXIT_LISTING))
        }
        _ => Ok(()),
    }
}

/// `-L` and `-S`; a read that fails exits 1, as ipvsadm's listings do.
fn list(
    ipvs: &Ipvs,
    info: &Info,
    target: ListTarget,
    format: &ListFormat,
    names: &dyn Resolver,
) -> Result<(), Failure> {
    let failed = |op: Op| move |e: ipvs::Error| Failure::kernel(op, &e).with_status(EXIT_LISTING);
    let text = match target {
        ListTarget::All => {
            let snapshot = ipvs.snapshot().map_err(failed(Op::ListServices))?;
            let table = list::table(&snapshot.services, format, names);
            if format.rule {
                table
            } else {
                list::banner(info) + &table
            }
        }
        ListTarget::Service(key) => {
            let service = ipvs.service(&key).map_err(failed(Op::GetService))?;
            let mut state = ServiceState::new(service);
            state.destinations = ipvs
                .destinations(&key)
                .map_err(failed(Op::ListDestinations))?;
            list::service(&state, format, names)
        }
        ListTarget::Timeouts => list::timeouts(&ipvs.timeouts().map_err(failed(Op::GetTimeouts))?),
        ListTarget::Daemons => list::daemons(&ipvs.daemons().map_err(failed(Op::ListDaemons))?),
        ListTarget::Connections => {
            let conns = ipvs::conn::read_connections().map_err(|e| {
                Failure::usage(format!("cannot open file {}", ipvs::conn::CONN_TABLE_PATH))
                    .with_status(EXIT_LISTING)
                    .detail(e.to_string())
            })?;
            list::connections(&conns, format, names)
        }
    };
    print(&text)
}

/// A change: one request, ipvsadm's words if the kernel refuses it.
fn change_ipvs(ipvs: &Ipvs, command: &Command) -> Result<(), Failure> {
    let (op, result) = match command {
        Command::AddService(s) => (Op::AddService, ipvs.add_service(s)),
        Command::EditService(s) => (Op::UpdateService, ipvs.update_service(s)),
        Command::DeleteService(key) => (Op::DeleteService, ipvs.delete_service(key)),
        Command::Flush => (Op::Flush, ipvs.flush()),
        Command::AddDestination(key, d) => (Op::AddDestination, ipvs.add_destination(key, d)),
        Command::EditDestination(key, d) => {
            (Op::UpdateDestination, ipvs.update_destination(key, d))
        }
        Command::DeleteDestination(key, addr) => {
            (Op::DeleteDestination, ipvs.delete_destination(key, *addr))
        }
        Command::Zero(Some(key)) => (Op::Zero, ipvs.zero_service(key)),
        Command::Zero(None) => (Op::Zero, ipvs.zero_all()),
        Command::SetTimeouts(t) => (Op::SetTimeouts, ipvs.set_timeouts(t)),
        Command::StartDaemon(d) => (Op::StartDaemon, ipvs.start_daemon(d)),
        Command::StopDaemon(role) => (Op::StopDaemon, ipvs.stop_daemon(*role)),
        Command::List(..)
        | Command::Save(_)
        | Command::Restore
        | Command::Help
        | Command::Version => {
            return Ok(());
        }
    };
    result.map_err(|e| Failure::kernel(op, &e))
}

/// `-R`: stdin, checked in full, then applied all or nothing.
fn restore(program: &str, names: &Files) -> Result<(), Failure> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::usage(format!("reading the rules from stdin: {e}")))?;
    restore::run(&String::from_utf8_lossy(&input), program, names, || {
        open().map(|(ipvs, _)| ipvs)
    })
}
