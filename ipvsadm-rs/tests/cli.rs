// SPDX-License-Identifier: MIT OR Apache-2.0
//! The binary without a kernel: what ipvsadm-rs answers before it opens
//! IPVS (help, version, refused command lines, `-R` input without changes)
//! needs no IPVS and no privileges, so it is checked on any host.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ipvsadm-rs");

/// Runs the tool named `ipvsadm` with `args` and `stdin`.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg0("ipvsadm")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipvsadm-rs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for ipvsadm-rs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_exit_0_with_the_usage_or_version() {
    for flag in ["-h", "--help"] {
        let out = run(&[flag], "");
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert!(stdout.starts_with("ipvsadm-rs "), "{flag}: {stdout}");
        assert!(
            stdout.contains("\nUsage:\n  ipvsadm -A|E virtual-service"),
            "{stdout}"
        );
        assert!(out.stderr.is_empty(), "{flag}: {out:?}");
    }
    for flag in ["-v", "--version"] {
        let out = run(&[flag], "");
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert_eq!(
            text(&out.stdout),
            format!(
                "ipvsadm-rs {} (ipvsadm v1.31 compatible, on the ipvs crate)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}

/// The same rows the unit tests and the kernel test check, through the
/// binary: ipvsadm's status, ipvsadm's words on the first line, and an
/// explanation only after it.
#[test]
fn refused_command_lines_exit_with_ipvsadms_status_and_first_line() {
    let table = include_str!("data/usage_errors.txt");
    for row in table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut fields = row.splitn(3, " | ");
        let (status, message, args) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let args: Vec<&str> = args.split_whitespace().collect();
        let out = run(&args, "");
        let stderr = text(&out.stderr);
        assert_eq!(
            (
                out.status.code().map(|c| c.to_string()),
                stderr.lines().next()
            ),
            (Some(status.to_owned()), Some(message)),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn restore_input_without_changes_needs_no_ipvs() {
    for input in ["", "\n\n", "# a comment only\n", "   # indented\n\t\n"] {
        let out = run(&["-R"], input);
        assert_eq!(out.status.code(), Some(0), "{input:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{input:?}: {out:?}");
    }
}

#[test]
fn restore_refuses_bad_input_before_it_opens_ipvs() {
    let out = run(
        &["-R"],
        "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.2 -w 2147483648\n",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("illegal weight specified\n"), "{stderr}");
    assert!(stderr.contains("line 2:"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
}
