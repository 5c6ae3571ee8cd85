// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cargo xtask test`: the one test command. `.ci/run` runs exactly this.
//!
//! Stages, in order (each runs even when an earlier one failed, so one run
//! shows everything that is wrong):
//!
//! | stage | what |
//! |---|---|
//! | fmt | `cargo fmt --all -- --check` |
//! | clippy | `cargo clippy --workspace --all-targets -- -D warnings` |
//! | deps | `cargo tree -d`: no rust-netlink crate in two versions; no module of `ipvs` imports in a circle |
//! | api | each library's public API against its `public-api.txt` (`cargo xtask public-api`) |
//! | unit | `cargo test --workspace` (kernel tests are `#[ignore]`d on the host) |
//! | kernel | the `kernel*` test targets, run with `--ignored` inside the lab VM, one boot per kernel (6.1 and 6.12); or on this host with `--host-kernel` |
//! | doc | `cargo doc --workspace --no-deps --all-features` with warnings denied |
//! | package | `cargo package` of the published crates, each built from its tarball |
//! | bench | `cargo test --workspace --benches`: every benchmark once, in test mode |
//! | fuzz | each cargo-fuzz target for a few seconds (nightly) |
//!
//! Inside the VM a missing IPVS fails the run; a kernel stage that executed no
//! test fails too, so a VM that cannot boot can never pass as "skipped".

use std::path::PathBuf;
use std::process::Command;

use crate::lab::{Kernel, Lab};
use crate::process::{self, workspace_root};
use crate::{Result, take_flag, take_option};

const STAGES: [&str; 10] = [
    "fmt", "clippy", "deps", "api", "unit", "kernel", "doc", "package", "bench", "fuzz",
];

/// The crates published to crates.io, in dependency order.
const PUBLISHED: [&str; 4] = ["ipvs-sys", "ipvs", "lb-sched", "ipvsadm-rs"];

/// Watchdog for one VM boot running the kernel suites.
const KERNEL_STAGE_TIMEOUT_SECS: u32 = 40 * 60;

/// What one stage (or one kernel's run) produced.
struct Outcome {
    stage: String,
    ok: bool,
    passed: u64,
    failed: u64,
    ignored: u64,
    note: String,
    /// What failed, one line each (`suite: test`), printed after the table
    /// so that the end of a log names them.
    failures: Vec<String>,
}

impl Outcome {
    fn new(stage: impl Into<String>) -> Self {
        Outcome {
            stage: stage.into(),
            ok: true,
            passed: 0,
            failed: 0,
            ignored: 0,
            note: String::new(),
            failures: Vec::new(),
        }
    }

    fn fail(mut self, note: impl Into<String>) -> Self {
        self.ok = false;
        self.note = note.into();
        self
    }
}

/// `cargo xtask test [...]`
pub fn main(args: &[String]) -> Result<i32> {
    let mut args = args.to_vec();
    let host_kernel = take_flag(&mut args, "--host-kernel");
    let kernels: Vec<Kernel> = match take_option(&mut args, "--kernel")? {
        Some(k) => vec![Kernel::parse(&k)?],
        None => Kernel::ALL.to_vec(),
    };
    let only: Vec<String> = match take_option(&mut args, "--only")? {
        Some(s) => s.split(',').map(str::to_string).collect(),
        None => STAGES.iter().map(|s| s.to_string()).collect(),
    };
    let fuzz_seconds: u32 = take_option(&mut args, "--fuzz-seconds")?
        .map(|s| {
            s.parse()
                .map_err(|_| format!("--fuzz-seconds: not a number: {s}"))
        })
        .transpose()?
        .unwrap_or(10);
    if let Some(bad) = only.iter().find(|s| !STAGES.contains(&s.as_str())) {
        return Err(format!(
            "unknown stage {bad:?}; stages: {}",
            STAGES.join(",")
        ));
    }
    if !args.is_empty() {
        return Err(format!("unexpected arguments {args:?}"));
    }

    let mut outcomes = Vec::new();
    for stage in STAGES.iter().filter(|s| only.iter().any(|o| o == *s)) {
        eprintln!("\nxtask: ===== stage {stage} =====");
        match *stage {
            "fmt" => outcomes.push(simple(
                "fmt",
                cargo().args(["fmt", "--all", "--", "--check"]),
            )),
            "clippy" => outcomes.push(simple(
                "clippy",
                cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
            )),
            "deps" => outcomes.push(duplicate_netlink_crates()),
            "api" => outcomes.push(public_api()),
            "unit" => outcomes.push(libtest("unit", cargo().args(["test", "--workspace"]))),
            "kernel" => outcomes.extend(kernel_stage(&kernels, host_kernel)),
            "doc" => outcomes.push(simple(
                "doc",
                // Every feature, as docs.rs builds them.
                cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                    "doc",
                    "--workspace",
                    "--no-deps",
                    "--all-features",
                ]),
            )),
            "package" => outcomes.push(package_stage()),
            "bench" => outcomes.push(benches()),
            "fuzz" => outcomes.push(fuzz_smoke(fuzz_seconds)),
            _ => unreachable!("stage list is checked above"),
        }
    }
    Ok(print_summary(&outcomes))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// `cargo package` of the published crates, verified as crates.io would
/// build them.
///
/// One invocation: cargo packages the crates that depend on each other (not
/// yet on crates.io) against a local registry of the others' tarballs. A dirty
/// tree is allowed: the stage checks what the crates would publish, not the
/// developer's checkout.
///
/// Cargo unpacks that local registry's crates under
/// `$CARGO_HOME/registry/src/-HASH/`, HASH being the registry's path, and
/// never unpacks a crate again once its directory is there; and it never
/// rebuilds a registry crate whose version it has built before. A second run
/// from the same checkout path therefore verifies `ipvs` against the
/// *previous* run's `ipvs-sys` of the same version (it failed CI once, on
/// items added since). The stage removes those unpacked copies and our
/// crates' build artifacts first.
fn package_stage() -> Outcome {
    if let Err(e) = forget_unpacked_local_crates() {
        return Outcome::new("package").fail(e);
    }
    let clean = simple(
        "package",
        cargo()
            .args(["clean", "--quiet"])
            .args(PUBLISHED.iter().flat_map(|p| ["--package", p])),
    );
    if !clean.ok {
        return clean;
    }
    simple(
        "package",
        cargo()
            .args(["package", "--allow-dirty"])
            .args(PUBLISHED.iter().flat_map(|p| ["--package", p])),
    )
}

/// Removes `$CARGO_HOME/registry/src/-*/CRATE-VERSION` for each published
/// crate: the copies cargo unpacked from `cargo package`'s local registries
/// (their directory names start with `-`: a local registry has no host).
/// crates.io's copies (`index.crates.io-*`) are never touched.
fn forget_unpacked_local_crates() -> Result<()> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cargo"),
            None => return Ok(()),
        },
    };
    let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for unpacked in crates.flatten() {
            let name = unpacked.file_name().to_string_lossy().into_owned();
            if PUBLISHED.iter().any(|p| is_unpacked_copy_of(&name, p)) {
                std::fs::remove_dir_all(unpacked.path())
                    .map_err(|e| format!("removing {}: {e}", unpacked.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Whether `dir` is cargo's unpacked `CRATE-VERSION` directory of `krate`
/// (`ipvs-sys-0.2.0` is ipvs-sys's, not ipvs's).
fn is_unpacked_copy_of(dir: &str, krate: &str) -> bool {
    dir.strip_prefix(krate)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
}

/// A stage judged by its exit status alone.
fn simple(stage: &str, cmd: &mut Command) -> Outcome {
    match process::status(cmd) {
        Ok(0) => Outcome::new(stage),
        Ok(code) => Outcome::new(stage).fail(format!("exit status {code}")),
        Err(e) => Outcome::new(stage).fail(e),
    }
}

/// A stage that runs libtest binaries: counts their `test result:` lines.
fn libtest(stage: &str, cmd: &mut Command) -> Outcome {
    match process::tee(cmd) {
        Ok((code, out)) => {
            let mut o = Outcome::new(stage);
            count_test_results(&out, &mut o);
            if code != 0 {
                o = o.fail(format!("exit status {code}"));
            }
            o
        }
        Err(e) => Outcome::new(stage).fail(e),
    }
}

/// Adds up libtest's `test result: ok. 3 passed; 0 failed; 1 ignored; ...`
/// lines, and names each `test NAME ... FAILED` and each kernel suite that
/// exited abnormally (`xtask-lab: suite NAME exited N`), under the suite
/// (`xtask-lab: suite NAME`) it ran in.
fn count_test_results(output: &str, into: &mut Outcome) {
    let mut suite = "";
    for line in output.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("xtask-lab: suite ") {
            if name.contains(" exited ") {
                into.failures.push(name.to_string());
            } else {
                suite = name;
            }
            continue;
        }
        if let Some(test) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... FAILED"))
        {
            into.failures.push(if suite.is_empty() {
                test.to_string()
            } else {
                format!("{suite}: {test}")
            });
            continue;
        }
        let Some(rest) = line.strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => into.passed += n,
                "failed" => into.failed += n,
                "ignored" => into.ignored += n,
                _ => {}
            }
        }
    }
}

/// Every listed crate's public API matches its committed listing.
fn public_api() -> Outcome {
    let mut outcome = Outcome::new("api");
    for name in crate::public_api::CRATES {
        match crate::public_api::check(name, false) {
            Ok(true) => outcome.passed += 1,
            Ok(false) => {
                outcome.failed += 1;
                outcome = outcome.fail(format!("{name}/public-api.txt differs (see above)"));
            }
            Err(e) => outcome = outcome.fail(e),
        }
    }
    outcome
}

fn duplicate_netlink_crates() -> Outcome {
    let out = process::output(cargo().args([
        "tree",
        "--workspace",
        "-d",
        "-e",
        "normal,build,dev",
        "--depth",
        "0",
        "--prefix",
        "none",
    ]));
    match out {
        Err(e) => Outcome::new("deps").fail(e),
        Ok(tree) => {
            let mut dups: Vec<&str> = tree.lines().filter(|l| l.starts_with("netlink-")).collect();
            dups.sort();
            dups.dedup();
            if !dups.is_empty() {
                return Outcome::new("deps")
                    .fail(format!("duplicate netlink crates: {}", dups.join(", ")));
            }
            eprintln!("xtask: deps: one rust-netlink generation (no duplicate netlink crate)");
            match crate::modules::circles(&workspace_root().join("ipvs").join("src")) {
                Err(e) => Outcome::new("deps").fail(e),
                Ok(circles) if circles.is_empty() => {
                    eprintln!("xtask: deps: the ipvs modules import one way");
                    Outcome::new("deps")
                }
                Ok(circles) => Outcome::new("deps")
                    .fail(format!("ipvs modules importing in a circle: {circles:?}")),
            }
        }
    }
}

/// A kernel test binary: a `kernel*` integration-test target of a workspace package.
struct KernelSuite {
    package: String,
    target: String,
    executable: String,
    package_dir: PathBuf,
}

fn kernel_suites() -> Result<Vec<KernelSuite>> {
    let json = process::output(cargo().args([
        "test",
        "--workspace",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]))?;
    let mut suites = Vec::new();
    for line in json.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let target = &msg["target"];
        let is_test = target["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "test"));
        let name = target["name"].as_str().unwrap_or_default();
        let (Some(exe), true) = (
            msg["executable"].as_str(),
            is_test && name.starts_with("kernel"),
        ) else {
            continue;
        };
        let src = PathBuf::from(target["src_path"].as_str().unwrap_or_default());
        // <package>/tests/<name>.rs → <package>
        let package_dir = src
            .ancestors()
            .nth(2)
            .map(PathBuf::from)
            .unwrap_or_else(workspace_root);
        let package = msg["package_id"].as_str().unwrap_or_default();
        let package = package_name(package);
        suites.push(KernelSuite {
            package,
            target: name.to_string(),
            executable: exe.to_string(),
            package_dir,
        });
    }
    suites.sort_by(|a, b| {
        let first = |s: &KernelSuite| !RUN_FIRST.contains(&s.target.as_str());
        (first(a), &a.package, &a.target).cmp(&(first(b), &b.package, &b.target))
    });
    Ok(suites)
}

/// Kernel suites that run before all others in the VM. Stopping a sync
/// daemon releases its multicast sockets under the RTNL lock, which the
/// kernel also takes while it tears down the namespaces earlier suites left
/// behind, in the background. Run after `kernel_scale` and
/// `kernel_unavailable`, a stop in `kernel_daemon` once waited past its
/// 180 s on 6.12 (it takes under 4 s when the suite runs on a quiet kernel).
const RUN_FIRST: [&str; 1] = ["kernel_daemon"];

/// `path+file:///work/main/ipvs#0.1.0` or `path+file:///x#name@0.1.0` → the name.
fn package_name(id: &str) -> String {
    let tail = id.rsplit('#').next().unwrap_or(id);
    match tail.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => id
            .rsplit('/')
            .next()
            .unwrap_or(id)
            .split('#')
            .next()
            .unwrap_or(id)
            .to_string(),
    }
}

/// The guest script: load IPVS (a failure here fails the run), then every
/// suite with `--ignored`, each between markers the host parses.
fn kernel_script(suites: &[KernelSuite]) -> String {
    let mut s = String::from(
        "set -u\n\
         if ! modprobe ip_vs || ! test -e /proc/net/ip_vs; then\n\
         \x20 echo 'xtask-lab: FATAL: IPVS is not available in this kernel'; exit 90\n\
         fi\n\
         echo \"xtask-lab: kernel $(uname -r): $(head -n1 /proc/net/ip_vs)\"\n\
         export IPVS_RS_LAB=1 RUST_BACKTRACE=1\n\
         rc=0\n",
    );
    for suite in suites {
        let label = format!("{}/{}", suite.package, suite.target);
        s.push_str(&format!(
            "echo 'xtask-lab: suite {label}'\n\
             (cd {dir} && {exe} --ignored) || {{ echo \"xtask-lab: suite {label} exited $?\"; rc=1; }}\n",
            dir = process::shell_quote(&suite.package_dir.to_string_lossy()),
            exe = process::shell_quote(&suite.executable),
        ));
    }
    s.push_str("exit $rc\n");
    s
}

fn kernel_stage(kernels: &[Kernel], host_kernel: bool) -> Vec<Outcome> {
    let suites = match kernel_suites() {
        Ok(s) if s.is_empty() => {
            return vec![Outcome::new("kernel").fail("no kernel* test targets found")];
        }
        Ok(s) => s,
        Err(e) => return vec![Outcome::new("kernel").fail(format!("building kernel tests: {e}"))],
    };
    for s in &suites {
        eprintln!(
            "xtask: kernel suite {}/{} ({})",
            s.package, s.target, s.executable
        );
    }
    let script = kernel_script(&suites);
    let script_path = workspace_root()
        .join("target")
        .join("lab")
        .join("kernel-tests.sh");
    if let Err(e) = std::fs::create_dir_all(script_path.parent().unwrap_or(&workspace_root()))
        .and_then(|()| std::fs::write(&script_path, &script))
    {
        return vec![
            Outcome::new("kernel").fail(format!("writing {}: {e}", script_path.display())),
        ];
    }
    let run_line = format!(
        "bash {}",
        process::shell_quote(&script_path.to_string_lossy())
    );

    if host_kernel {
        let result = process::tee(Command::new("bash").arg(&script_path));
        return vec![judge_kernel_run("kernel (host)", result)];
    }
    let lab = match Lab::prepare() {
        Ok(lab) => lab,
        Err(e) => return vec![Outcome::new("kernel").fail(format!("preparing the lab: {e}"))],
    };
    kernels
        .iter()
        .map(|&k| {
            let result = lab.run_captured_with_timeout(k, &run_line, KERNEL_STAGE_TIMEOUT_SECS);
            judge_kernel_run(&format!("kernel {}", k.name()), result)
        })
        .collect()
}

fn judge_kernel_run(stage: &str, result: Result<(i32, String)>) -> Outcome {
    let (code, out) = match result {
        Ok(r) => r,
        Err(e) => return Outcome::new(stage).fail(e),
    };
    let mut o = Outcome::new(stage);
    count_test_results(&out, &mut o);
    if !out.contains("xtask-lab: kernel ") {
        return o.fail(format!(
            "the VM did not boot or IPVS is missing (exit status {code})"
        ));
    }
    if code != 0 {
        return o.fail(format!("exit status {code}"));
    }
    if o.passed == 0 {
        return o.fail("no kernel test executed");
    }
    o
}

fn benches() -> Outcome {
    match process::tee(cargo().args(["test", "--workspace", "--benches"])) {
        Err(e) => Outcome::new("bench").fail(e),
        Ok((code, out)) => {
            let mut o = Outcome::new("bench");
            // criterion in test mode prints "Testing <id>" then "Success" per benchmark.
            o.passed = out.lines().filter(|l| l.trim() == "Success").count() as u64;
            count_test_results(&out, &mut o);
            if code != 0 {
                o.fail(format!("exit status {code}"))
            } else {
                o
            }
        }
    }
}

fn fuzz_smoke(seconds: u32) -> Outcome {
    let fuzz_dir = workspace_root().join("fuzz");
    if !has_cargo_fuzz() {
        eprintln!("xtask: fuzz: installing cargo-fuzz from crates.io");
        if let Err(e) = process::run(cargo().args(["install", "cargo-fuzz", "--locked"])) {
            return Outcome::new("fuzz").fail(e);
        }
    }
    let targets = match process::output(
        Command::new("cargo")
            .args(["+nightly", "fuzz", "list"])
            .current_dir(&fuzz_dir),
    ) {
        Ok(list) => list
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>(),
        Err(e) => return Outcome::new("fuzz").fail(e),
    };
    if targets.is_empty() {
        return Outcome::new("fuzz").fail("no fuzz targets");
    }
    let mut o = Outcome::new("fuzz");
    let mut notes = Vec::new();
    for target in &targets {
        // New inputs go to a scratch corpus under target/; the committed corpus is read-only seed.
        let scratch = workspace_root()
            .join("target")
            .join("fuzz-corpus")
            .join(target);
        let _ = std::fs::create_dir_all(&scratch);
        let seed = fuzz_dir.join("corpus").join(target);
        let mut cmd = Command::new("sh");
        cmd.current_dir(&fuzz_dir)
            .args([
                "-c",
                "exec \"$@\" 2>&1",
                "sh",
                "cargo",
                "+nightly",
                "fuzz",
                "run",
                target,
            ])
            .arg(&scratch);
        if seed.is_dir() {
            cmd.arg(&seed);
        }
        cmd.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=2048",
        ]);
        match process::tee(&mut cmd) {
            Ok((0, out)) => {
                o.passed += 1;
                let runs = out
                    .lines()
                    .rev()
                    .find_map(|l| {
                        l.strip_prefix("Done ")
                            .and_then(|r| r.split_whitespace().next())
                    })
                    .unwrap_or("?")
                    .to_string();
                notes.push(format!("{target}: {runs} runs"));
            }
            Ok((code, _)) => {
                o.failed += 1;
                notes.push(format!("{target}: FAILED (exit {code})"));
            }
            Err(e) => {
                o.failed += 1;
                notes.push(format!("{target}: {e}"));
            }
        }
    }
    o.note = notes.join("; ");
    if o.failed > 0 {
        o.ok = false;
    }
    o
}

fn has_cargo_fuzz() -> bool {
    process::output(Command::new("cargo").args(["+nightly", "fuzz", "--version"])).is_ok()
}

/// Prints the per-stage table and the closing `N passed, N failed` line;
/// returns the exit status of the whole run.
fn print_summary(outcomes: &[Outcome]) -> i32 {
    println!("\n===== cargo xtask test: summary =====");
    println!(
        "{:<14} {:<6} {:>7} {:>7} {:>8}  note",
        "stage", "result", "passed", "failed", "ignored"
    );
    for o in outcomes {
        println!(
            "{:<14} {:<6} {:>7} {:>7} {:>8}  {}",
            o.stage,
            if o.ok { "ok" } else { "FAILED" },
            o.passed,
            o.failed,
            o.ignored,
            o.note
        );
    }
    let passed: u64 = outcomes.iter().map(|o| o.passed).sum();
    let failed: u64 = outcomes.iter().map(|o| o.failed).sum();
    let failed_stages = outcomes.iter().filter(|o| !o.ok).count();
    for o in outcomes {
        for failure in &o.failures {
            println!("failed in {}: {failure}", o.stage);
        }
    }
    if failed_stages > 0 {
        println!("{failed_stages} stage(s) failed");
    }
    println!("summary: {passed} passed, {failed} failed");
    if failed_stages == 0 { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_libtest_result_lines() {
        let out = "running 3 tests\n\
                   test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                   xtask-lab: suite ipvs/kernel\n                   test a_dump ... FAILED\n                   test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n                   xtask-lab: suite ipvs/kernel exited 101\n";
        let mut o = Outcome::new("x");
        count_test_results(out, &mut o);
        assert_eq!((o.passed, o.failed, o.ignored), (4, 2, 1));
        assert_eq!(
            o.failures,
            ["ipvs/kernel: a_dump", "ipvs/kernel exited 101"]
        );
    }

    #[test]
    fn kernel_run_without_boot_marker_fails() {
        let o = judge_kernel_run("kernel 6.1", Ok((0, "nothing".into())));
        assert!(!o.ok);
        let o = judge_kernel_run(
            "kernel 6.1",
            Ok((0, "xtask-lab: kernel 6.1.0: IP Virtual Server\ntest result: ok. 0 passed; 0 failed; 3 ignored\n".into())),
        );
        assert!(!o.ok, "a run that executed no test must fail");
        let o = judge_kernel_run(
            "kernel 6.1",
            Ok((0, "xtask-lab: kernel 6.1.0: IP Virtual Server\ntest result: ok. 2 passed; 0 failed; 0 ignored\n".into())),
        );
        assert!(o.ok);
    }

    #[test]
    fn unpacked_copies_are_told_apart_by_crate() {
        assert!(is_unpacked_copy_of("ipvs-0.2.0", "ipvs"));
        assert!(!is_unpacked_copy_of("ipvs-sys-0.2.0", "ipvs"));
        assert!(is_unpacked_copy_of("ipvs-sys-0.2.0", "ipvs-sys"));
        assert!(!is_unpacked_copy_of("ipvsadm-rs-0.2.0", "ipvs"));
        assert!(!is_unpacked_copy_of("ipvs", "ipvs"));
    }

    #[test]
    fn package_names_from_ids() {
        assert_eq!(package_name("path+file:///work/main/ipvs#0.1.0"), "ipvs");
        assert_eq!(
            package_name("path+file:///work/main/lb-sched#lb-sched@0.1.0"),
            "lb-sched"
        );
    }
}
