// SPDX-License-Identifier: MIT OR Apache-2.0
//! `serve_name`: the smallest real server: answers every TCP connection on
//! `--listen ADDR:PORT` with `--name NAME` and a newline, then keeps the
//! connection open until the client closes it (so a test can hold
//! connections open for wlc). Used by the kernel tests and the demo.
//!
//! With `--echo` it also answers every line the client sends with
//! `NAME LINE`: a long-lived connection that shows, line after line, which
//! real server still holds it (the failover test sends lines through one
//! director, then through the other).
//!
//! ```text
//! serve_name --listen 0.0.0.0:80 --name rs1 [--echo]
//! ```
//!
//! Privileges: none beyond binding the port (root for ports below 1024).
//! It stops accepting after `--max-seconds` (default 600), and drops a
//! connection idle for as long.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ipvs_examples::director::args;

fn main() -> ExitCode {
    let parse = || -> Result<(SocketAddr, String, u64, bool), String> {
        let mut listen = None;
        let mut name = None;
        let mut max = 600u64;
        let mut echo = false;
        let mut p = lexopt::Parser::from_env();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                lexopt::Arg::Long("listen") => listen = Some(args::value(&mut p, "--listen")?),
                lexopt::Arg::Long("name") => name = Some(args::value(&mut p, "--name")?),
                lexopt::Arg::Long("max-seconds") => max = args::value(&mut p, "--max-seconds")?,
                lexopt::Arg::Long("echo") => echo = true,
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok((
            listen.ok_or("--listen ADDR:PORT is required")?,
            name.ok_or("--name NAME is required")?,
            max,
            echo,
        ))
    };
    let (listen, name, max, echo) = match parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("serve_name: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("serve_name: binding {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(max);
    let _ = listener.set_nonblocking(true);
    let reply = format!("{name}\n");
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let reply = reply.clone();
                let name = name.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.write_all(reply.as_bytes());
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(max)));
                    if echo {
                        answer_lines(stream, &name);
                    } else {
                        let mut buf = [0u8; 64];
                        // Hold the connection until the client closes it.
                        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!("serve_name: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    ExitCode::SUCCESS
}

/// `--echo`: answers each line with `NAME LINE` until the client closes.
fn answer_lines(stream: std::net::TcpStream, name: &str) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        if out
            .write_all(format!("{name} {line}\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}
