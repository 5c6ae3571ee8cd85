// SPDX-License-Identifier: MIT OR Apache-2.0
//! `-R` done all or nothing.
//!
//! ipvsadm's restore runs each line as it reads it: a bad line 40 leaves
//! lines 1–39 applied, and only the last line's status is returned. Here:
//!
//! 1. every line is parsed first; any syntax error stops the restore before
//!    the kernel is touched, with every bad line reported;
//! 2. the lines are then simulated against a snapshot of the kernel's table
//!    ([`State`]), so that "service already exists", "no such destination"
//!    and the like are found before anything is changed;
//! 3. only then are they applied, each with its inverse computed from the
//!    simulated state; if the kernel still refuses one (a scheduler module
//!    that does not exist, say), the applied steps are undone in reverse
//!    order and the table is as it was.
//!
//! What cannot be undone is said up front: `-Z` zeroes counters (the old
//! values are gone), and deleting a service or destination drops its
//! connection entries; re-adding it restores the configuration, not the
//! connections.

use std::net::IpAddr;

use super::cli::{self, Command, UsageError};
use super::model::{Daemon, DaemonState, Dest, Entry, Service, Svc, Timeouts};
use super::names::Resolver;

/// A parsed `-R` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The line as read.
    pub text: String,
    /// The command on it.
    pub command: Command,
}

/// A line that cannot be restored, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub number: usize,
    /// The line as read.
    pub text: String,
    /// What is wrong.
    pub error: UsageError,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {}\n  {}",
            self.number,
            self.text.trim(),
            self.error
        )
    }
}

/// Parses every line; returns all the bad ones if there are any.
pub fn parse_input(input: &str, names: &dyn Resolver) -> Result<Vec<Line>, Vec<LineError>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let Some(tokens) = cli::restore_tokens(text) else {
            continue;
        };
        let number = i + 1;
        match cli::parse(&tokens, names) {
            Ok(command) if command.is_change() => lines.push(Line {
                number,
                text: text.to_string(),
                command,
            }),
            Ok(_) => errors.push(LineError {
                number,
                text: text.to_string(),
                error: UsageError {
                    message: "only commands that change the table belong in -R input".into(),
                    hint: Some("-A -E -D -C -a -e -d -Z --set --start-daemon --stop-daemon".into()),
                },
            }),
            Err(error) => errors.push(LineError {
                number,
                text: text.to_string(),
                error,
            }),
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

/// The kernel's configuration, as far as `-R` can change it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Services and their destinations (settings only; counters ignored).
    pub entries: Vec<Entry>,
    /// Global timeouts.
    pub timeouts: Timeouts,
    /// Running sync daemons.
    pub daemons: Vec<Daemon>,
}

impl State {
    fn find(&self, svc: &Svc) -> Option<usize> {
        self.entries.iter().position(|e| e.service.svc == *svc)
    }

    /// Applies `cmd` like the kernel would, or says why the kernel would
    /// refuse it (in libipvs's words).
    pub fn apply(&mut self, cmd: &Command) -> Result<(), String> {
        match cmd {
            Command::AddService(s) => {
                if self.find(&s.svc).is_some() {
                    return Err("Service already exists".into());
                }
                self.entries.push(Entry {
                    service: s.clone(),
                    dests: Vec::new(),
                });
            }
            Command::EditService(s) => {
                let i = self.find(&s.svc).ok_or("No such service")?;
                self.entries[i].service = s.clone();
            }
            Command::DeleteService(svc) => {
                let i = self.find(svc).ok_or("No such service")?;
                self.entries.remove(i);
            }
            Command::Flush => self.entries.clear(),
            Command::AddDest(svc, d) => {
                let i = self.find(svc).ok_or("Service not defined")?;
                let dests = &mut self.entries[i].dests;
                if dests.iter().any(|x| x.addr == d.addr && x.port == d.port) {
                    return Err("Destination already exists".into());
                }
                dests.insert(0, d.clone());
            }
            Command::EditDest(svc, d) => {
                let i = self.find(svc).ok_or("Service not defined")?;
                let x = self.entries[i]
                    .dests
                    .iter_mut()
                    .find(|x| x.addr == d.addr && x.port == d.port)
                    .ok_or("No such destination")?;
                *x = d.clone();
            }
            Command::DeleteDest(svc, addr, port) => {
                let i = self.find(svc).ok_or("Service not defined")?;
                let dests = &mut self.entries[i].dests;
                let j = dests
                    .iter()
                    .position(|x| x.addr == *addr && x.port == *port)
                    .ok_or("No such destination")?;
                dests.remove(j);
            }
            Command::Zero(Some(svc)) => {
                self.find(svc).ok_or("No such service")?;
            }
            Command::Zero(None) => {}
            Command::SetTimeouts(t) => {
                let keep = |new: u32, old: u32| if new == 0 { old } else { new };
                self.timeouts = Timeouts {
                    tcp: keep(t.tcp, self.timeouts.tcp),
                    tcp_fin: keep(t.tcp_fin, self.timeouts.tcp_fin),
                    udp: keep(t.udp, self.timeouts.udp),
                };
            }
            Command::StartDaemon(d) => {
                if self.daemons.iter().any(|x| x.state == d.state) {
                    return Err("Daemon has already run".into());
                }
                self.daemons.push(d.clone());
            }
            Command::StopDaemon(state) => {
                let i = self
                    .daemons
                    .iter()
                    .position(|x| x.state == *state)
                    .ok_or("No daemon is running")?;
                self.daemons.remove(i);
            }
            Command::List(..)
            | Command::Save(_)
            | Command::Restore
            | Command::Help
            | Command::Version => {
                return Err("not a change".into());
            }
        }
        Ok(())
    }

    /// The commands that undo `cmd`, computed on the state before it.
    fn inverse(&self, cmd: &Command) -> Vec<Command> {
        let readd = |e: &Entry| -> Vec<Command> {
            let mut v = vec![Command::AddService(e.service.clone())];
            // Dests are listed newest first; re-add oldest first.
            v.extend(
                e.dests
                    .iter()
                    .rev()
                    .map(|d| Command::AddDest(e.service.svc, d.clone())),
            );
            v
        };
        let entry = |svc: &Svc| self.find(svc).map(|i| &self.entries[i]);
        let dest = |svc: &Svc, addr: IpAddr, port: u16| -> Option<Dest> {
            entry(svc).and_then(|e| {
                e.dests
                    .iter()
                    .find(|d| d.addr == addr && d.port == port)
                    .cloned()
            })
        };
        match cmd {
            Command::AddService(s) => vec![Command::DeleteService(s.svc)],
            Command::EditService(s) => entry(&s.svc)
                .map(|e| vec![Command::EditService(e.service.clone())])
                .unwrap_or_default(),
            Command::DeleteService(svc) => entry(svc).map(readd).unwrap_or_default(),
            Command::Flush => self.entries.iter().flat_map(readd).collect(),
            Command::AddDest(svc, d) => vec![Command::DeleteDest(*svc, d.addr, d.port)],
            Command::EditDest(svc, d) => dest(svc, d.addr, d.port)
                .map(|old| vec![Command::EditDest(*svc, old)])
                .unwrap_or_default(),
            Command::DeleteDest(svc, addr, port) => dest(svc, *addr, *port)
                .map(|old| vec![Command::AddDest(*svc, old)])
                .unwrap_or_default(),
            Command::SetTimeouts(_) => vec![Command::SetTimeouts(self.timeouts)],
            Command::StartDaemon(d) => vec![Command::StopDaemon(d.state)],
            Command::StopDaemon(state) => self
                .daemons
                .iter()
                .find(|d| d.state == *state)
                .map(|d| vec![Command::StartDaemon(d.clone())])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// One step of a restore: a line's command and what undoes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The line it came from.
    pub line: usize,
    /// What to send.
    pub command: Command,
    /// What undoes it, in order.
    pub undo: Vec<Command>,
}

/// Simulates every line on `state`; fails at the first line the kernel
/// would refuse, before anything is sent.
pub fn plan(state: &State, lines: &[Line]) -> Result<Vec<Step>, LineError> {
    let mut sim = state.clone();
    let mut steps = Vec::new();
    for l in lines {
        let undo = sim.inverse(&l.command);
        sim.apply(&l.command).map_err(|why| LineError {
            number: l.number,
            text: l.text.clone(),
            error: UsageError {
                message: why,
                hint: Some("nothing was changed: the whole input is checked against the current table first".into()),
            },
        })?;
        steps.push(Step {
            line: l.number,
            command: l.command.clone(),
            undo,
        });
    }
    Ok(steps)
}

/// Something that carries out commands (the kernel, or a fake in tests).
pub trait Backend {
    /// Carries out one change.
    fn run(&mut self, cmd: &Command) -> Result<(), String>;
}

/// How an apply ended when it did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError {
    /// The line the kernel refused.
    pub line: usize,
    /// The kernel's reason.
    pub error: String,
    /// Undo steps that themselves failed (empty: the table is as it was).
    pub rollback_failures: Vec<String>,
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)?;
        if self.rollback_failures.is_empty() {
            write!(
                f,
                "\n  every earlier change was undone: the table is as it was"
            )
        } else {
            write!(f, "\n  undoing the earlier changes failed too:")?;
            for r in &self.rollback_failures {
                write!(f, "\n    {r}")?;
            }
            Ok(())
        }
    }
}

/// Runs `steps`; on the first failure undoes what was done, newest first.
pub fn apply(backend: &mut dyn Backend, steps: &[Step]) -> Result<(), ApplyError> {
    for (i, step) in steps.iter().enumerate() {
        if let Err(error) = backend.run(&step.command) {
            let mut rollback_failures = Vec::new();
            for done in steps[..i].iter().rev() {
                for u in &done.undo {
                    if let Err(e) = backend.run(u) {
                        rollback_failures.push(format!("undoing line {}: {e}", done.line));
                    }
                }
            }
            return Err(ApplyError {
                line: step.line,
                error,
                rollback_failures,
            });
        }
    }
    Ok(())
}

/// Daemon states present, for messages.
pub fn daemon_names(states: &[DaemonState]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Settings-only copy of a service (counters dropped), for [`State`].
pub fn settings(s: &Service) -> Service {
    let mut s = s.clone();
    s.stats = Default::default();
    s
}

#[cfg(test)]
mod tests {
    use super::super::names::Numeric;
    use super::*;
    use pretty_assertions::assert_eq;

    struct Fake {
        state: State,
        fail_on: Option<String>,
        log: Vec<String>,
    }

    impl Backend for Fake {
        fn run(&mut self, cmd: &Command) -> Result<(), String> {
            let text = format!("{cmd:?}");
            self.log.push(text.clone());
            if self
                .fail_on
                .as_ref()
                .is_some_and(|f| text.contains(f.as_str()))
            {
                return Err("Scheduler or persistence engine not found".into());
            }
            self.state.apply(cmd)
        }
    }

    const INPUT: &str = "\
# the man page's example 1, in restore form
-A -t 207.175.44.110:80 -s rr
-a -t 207.175.44.110:80 -r 192.168.10.1:80 -m
-a -t 207.175.44.110:80 -r 192.168.10.2:80 -m
ipvsadm -D -t 192.0.2.1:80
-e -t 192.0.2.2:80 -r 192.0.2.20 -w 5
-A -u 192.0.2.3:53 -s nosuch
--set 0 60 0
";

    fn start() -> State {
        let mut st = State {
            timeouts: Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            },
            ..Default::default()
        };
        for cmd in [
            "-A -t 192.0.2.1:80 -s wrr",
            "-a -t 192.0.2.1:80 -r 192.0.2.10 -w 3",
            "-a -t 192.0.2.1:80 -r 192.0.2.11",
            "-A -t 192.0.2.2:80",
            "-a -t 192.0.2.2:80 -r 192.0.2.20 -m",
        ] {
            let args: Vec<String> = cmd.split(' ').map(str::to_string).collect();
            st.apply(&cli::parse(&args, &Numeric).unwrap()).unwrap();
        }
        st
    }

    #[test]
    fn syntax_errors_are_all_reported_before_anything_runs() {
        let errs = parse_input(
            "-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -R 192.0.2.9 -m\n-L\n",
            &Numeric,
        )
        .unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.number).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(
            errs[0]
                .error
                .hint
                .as_ref()
                .unwrap()
                .contains("-r 192.0.2.9")
        );
    }

    #[test]
    fn conflicts_with_the_table_are_found_in_simulation() {
        let lines = parse_input("-A -t 192.0.2.9:80\n-A -t 192.0.2.1:80\n", &Numeric).unwrap();
        let e = plan(&start(), &lines).unwrap_err();
        assert_eq!(e.number, 2);
        assert_eq!(e.error.message, "Service already exists");
    }

    #[test]
    fn a_kernel_refusal_rolls_everything_back() {
        let lines = parse_input(INPUT, &Numeric).unwrap();
        let before = start();
        let steps = plan(&before, &lines).unwrap();
        let mut fake = Fake {
            state: before.clone(),
            fail_on: Some("nosuch".into()),
            log: vec![],
        };
        let err = apply(&mut fake, &steps).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.rollback_failures.is_empty());
        // Same services, same dests, same settings (dest order may differ
        // after a delete/re-add, as it would in the kernel).
        let norm = |s: &State| {
            let mut e = s.entries.clone();
            e.sort_by_key(|x| format!("{:?}", x.service.svc));
            for x in &mut e {
                x.dests.sort_by_key(|d| (d.addr, d.port));
            }
            (e, s.timeouts)
        };
        assert_eq!(norm(&fake.state), norm(&before));
    }

    #[test]
    fn success_applies_everything() {
        let input = INPUT.replace("nosuch", "rr");
        let lines = parse_input(&input, &Numeric).unwrap();
        let steps = plan(&start(), &lines).unwrap();
        let mut fake = Fake {
            state: start(),
            fail_on: None,
            log: vec![],
        };
        apply(&mut fake, &steps).unwrap();
        assert_eq!(fake.state.entries.len(), 3);
        assert_eq!(fake.state.timeouts.tcp_fin, 60);
        assert_eq!(fake.state.timeouts.tcp, 900);
    }
}
