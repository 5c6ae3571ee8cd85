// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running commands: announced, streamed, and optionally captured.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::Result;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// A printable form of `cmd`, for "running: ..." lines.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&shell_quote(&a.to_string_lossy()));
    }
    s
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio and returns its exit code (signals count as 1).
pub fn status(cmd: &mut Command) -> Result<i32> {
    eprintln!("xtask: running: {}", describe(cmd));
    let st = cmd
        .status()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    Ok(st.code().unwrap_or(1))
}

/// Runs `cmd` and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    match status(cmd)? {
        0 => Ok(()),
        code => Err(format!("`{}` exited with status {code}", describe(cmd))),
    }
}

/// Runs `cmd` quietly and returns its stdout if it exits 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `cmd`, streaming its stdout to ours line by line while keeping a copy;
/// its stderr is forwarded to ours. Returns the exit code and the captured stdout.
///
/// Both streams go through pipes, never our own descriptors: virtme-ng reopens
/// the files behind its stdout/stderr for writing, which truncated a log file
/// that both were redirected to (seen in the lab).
pub fn tee(cmd: &mut Command) -> Result<(i32, String)> {
    eprintln!("xtask: running: {}", describe(cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    let stderr_forwarder = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::stderr());
        })
    });
    let mut captured = String::new();
    if let Some(stdout) = child.stdout.take() {
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.map_err(|e| format!("reading output: {e}"))?;
            let text = String::from_utf8_lossy(&line);
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
            captured.push_str(&text);
            captured.push('\n');
        }
    }
    let st = child
        .wait()
        .map_err(|e| format!("waiting for {}: {e}", describe(cmd)))?;
    if let Some(forwarder) = stderr_forwarder {
        let _ = forwarder.join();
    }
    Ok((st.code().unwrap_or(1), captured))
}
