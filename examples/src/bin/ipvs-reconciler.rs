// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-reconciler`: a small controller that keeps the services of a JSON
//! desired-state file in this network namespace's IPVS table, and leaves
//! every other service alone (see `ipvs_examples::reconciler`).
//!
//! ```text
//! ipvs-reconciler --desired /etc/ipvs/desired.json --state /var/lib/ipvs-reconciler/owned.json \
//!     [--poll-interval 1] [--resync-interval 10]
//! ```
//!
//! It reads the desired file every `--poll-interval` seconds and applies it
//! when its contents change, with drain: a destination removed from the
//! file stays at weight 0 (`ipvsadm -e ... -w 0`) while it has
//! connections. Every `--resync-interval` seconds it applies the last good
//! file again, which deletes drained destinations and undoes changes made
//! by hand to its services. It prints one line per write (in `ipvsadm`
//! notation), per draining destination, per rejected file and per error,
//! and "no change" when there was nothing to do. SIGINT or SIGTERM stops
//! it after the apply under way. The file format is in examples/README.md.
//!
//! Privileges: CAP_NET_ADMIN in the initial user namespace and the `ip_vs`
//! module (loaded on demand). Acts on the network namespace it runs in
//! (`ip netns exec NAME ipvs-reconciler ...`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ipvs::AsyncIpvs;
use ipvs_examples::director::args;
use ipvs_examples::reconciler::Reconciler;
use tokio::signal::unix::{SignalKind, signal};

struct Options {
    desired: PathBuf,
    state: PathBuf,
    poll: Duration,
    resync: Duration,
}

fn parse() -> Result<Options, String> {
    let mut desired = None;
    let mut state = None;
    let mut poll = Duration::from_secs(1);
    let mut resync = Duration::from_secs(10);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        use lexopt::Arg::Long;
        match arg {
            Long("desired") => desired = Some(args::value(&mut p, "--desired")?),
            Long("state") => state = Some(args::value(&mut p, "--state")?),
            Long("poll-interval") => poll = seconds(&mut p, "--poll-interval")?,
            Long("resync-interval") => resync = seconds(&mut p, "--resync-interval")?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Options {
        desired: desired.ok_or("--desired FILE is required")?,
        state: state.ok_or("--state FILE is required (the services it owns)")?,
        poll,
        resync,
    })
}

/// A positive number of seconds (`0.5`).
fn seconds(p: &mut lexopt::Parser, name: &str) -> Result<Duration, String> {
    let secs: f64 = args::value(p, name)?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{name} {secs}: expected a positive number of seconds"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ipvs-reconciler: {e}");
            return ExitCode::from(2);
        }
    };
    let ipvs = match AsyncIpvs::new().await {
        Ok(ipvs) => ipvs,
        Err(e) => {
            eprintln!("ipvs-reconciler: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reconciler = match Reconciler::new(ipvs, &options.desired, &options.state).await {
        Ok(reconciler) => reconciler,
        Err(e) => {
            eprintln!(
                "ipvs-reconciler: state file {}: {e}",
                options.state.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // Caught from now on, so that the first line printed means it is.
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("ipvs-reconciler: cannot catch SIGINT and SIGTERM");
        return ExitCode::FAILURE;
    };
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    };
    println!(
        "watching {} every {:?}, resync every {:?}; {} owned services in {}",
        options.desired.display(),
        options.poll,
        options.resync,
        reconciler.owned().len(),
        options.state.display()
    );
    let signal = reconciler
        .run(options.poll, options.resync, stop, |event| {
            println!("{event}")
        })
        .await;
    println!("stopped by {signal}");
    ExitCode::SUCCESS
}
