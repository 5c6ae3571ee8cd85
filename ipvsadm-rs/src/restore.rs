// SPDX-License-Identifier: MIT OR Apache-2.0
//! `-R`, all or nothing.
//!
//! ipvsadm runs each line as it reads it: a refused line 40 leaves lines
//! 1–39 applied (and a kernel error mid-way lets it carry on). Here:
//!
//! 1. every line is parsed first; a bad line stops the restore before IPVS
//!    is touched (and input without a change never opens IPVS at all);
//! 2. the lines are played against the current table, read once, so that
//!    what the kernel would refuse ("Service already exists", "No such
//!    destination", ...) is found before anything is sent, and each change
//!    learns what it replaces;
//! 3. the table's changes, one [`Step`] per line in input order, go to
//!    [`ipvs::Ipvs::apply_plan`] as one batch: if the kernel refuses one,
//!    every step applied, or whose fate is unknown, is undone by the
//!    crate, which says whether the undo succeeded (a batch that fails as
//!    a whole, without step outcomes, is checked by reading the table back
//!    and putting it back);
//! 4. then `--set`, `--start-daemon` and `--stop-daemon` lines, in input
//!    order, and `-Z` lines last; if one of them fails, the settings
//!    already made are put back and the table is made the old one again
//!    ([`ipvs::Ipvs::apply`]).
//!
//! Whenever an undo fails, the report says so and lists what is left: each
//! setting not put back, with the line that would put it back, and the
//! changes that would still turn the table back, as `-R` lines planned
//! from the table read back. "Every change of this input was undone" is
//! said only when every undo succeeded.

use std::collections::HashMap;
use std::net::SocketAddr;

use ipvs::{
    ApplyOptions, DaemonRole, Destination, Error, Ipvs, Op, Plan, Rollback, Service, ServiceKey,
    ServiceState, Step, SyncDaemon, Timeouts,
};

use crate::command::{self, Command};
use crate::failure::Failure;
use crate::names::Resolver;

/// A line of `-R` input that holds a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The line as read.
    pub text: String,
    /// Its command.
    pub command: Command,
}

impl Line {
    /// `line N: TEXT`, for messages.
    fn quoted(&self) -> String {
        quote(self.number, &self.text)
    }
}

fn quote(number: usize, text: &str) -> String {
    format!("line {number}: {}", text.trim())
}

/// The words of one line of `-R` input, as ipvsadm's `config_stream_read`
/// splits it (on blanks, dropping every `ipvsadm` word), and, unlike
/// ipvsadm, without a `#` comment.
pub fn words(line: &str) -> Vec<&str> {
    let content = line.split('#').next().unwrap_or_default();
    content
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty() && *w != "ipvsadm")
        .collect()
}

/// `-R` on `input`: every line parsed, then planned against the table
/// read from the IPVS `open` gives (opened only when the input holds a
/// change), then applied all or nothing.
pub fn run(
    input: &str,
    program: &str,
    names: &dyn Resolver,
    open: impl FnOnce() -> Result<Ipvs, Failure>,
) -> Result<(), Failure> {
    let lines = parse_input(input, program, names)?;
    if lines.is_empty() {
        return Ok(());
    }
    let ipvs = open()?;
    let before = State::read(&ipvs)?;
    plan(before, &lines)?.apply(&ipvs)
}

/// Parses every line. On any bad line the failure is the first one's
/// (ipvsadm's words and status), followed by every bad line and why.
pub fn parse_input(input: &str, program: &str, names: &dyn Resolver) -> Result<Vec<Line>, Failure> {
    let mut lines = Vec::new();
    let mut bad: Vec<(String, Failure)> = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let words = words(text);
        if words.is_empty() {
            continue;
        }
        let quoted = quote(i + 1, text);
        let args = words.into_iter().map(Into::into).collect();
        match command::parse(args, program, names) {
            Ok(command) if command.is_change() => lines.push(Line {
                number: i + 1,
                text: text.to_owned(),
                command,
            }),
            Ok(_) => bad.push((
                quoted,
                Failure::usage("only changes belong in -R input")
                    .detail("-L, -S, -R, -h and -v are not run from it"),
            )),
            Err(failure) => bad.push((quoted, failure)),
        }
    }
    let Some((_, first)) = bad.first() else {
        return Ok(lines);
    };
    let mut failure = Failure {
        details: Vec::new(),
        ..first.clone()
    };
    for (quoted, why) in &bad {
        failure = failure
            .detail(quoted.clone())
            .detail(format!("  {why}").replace('\n', "\n  "));
    }
    Err(failure.detail("nothing was changed"))
}

/// What `-R` can change: the table, the timeouts and the sync daemons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Services with their destinations.
    pub services: Vec<ServiceState>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Running sync daemons.
    pub daemons: Vec<SyncDaemon>,
}

impl State {
    /// Reads it from IPVS.
    pub fn read(ipvs: &Ipvs) -> Result<State, Failure> {
        Ok(State {
            services: ipvs
                .snapshot()
                .map_err(|e| Failure::kernel(Op::ListServices, &e))?
                .services,
            timeouts: ipvs
                .timeouts()
                .map_err(|e| Failure::kernel(Op::GetTimeouts, &e))?,
            daemons: ipvs
                .daemons()
                .map_err(|e| Failure::kernel(Op::ListDaemons, &e))?,
        })
    }
}

/// A change outside the table, made after the table's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Setting {
    /// `--set`, and the timeouts it replaces.
    Timeouts { set: Timeouts, before: Timeouts },
    /// `--start-daemon`.
    StartDaemon(SyncDaemon),
    /// `--stop-daemon`, with the daemon as it ran.
    StopDaemon(SyncDaemon),
}

impl Setting {
    fn op(&self) -> Op {
        match self {
            Setting::Timeouts { .. } => Op::SetTimeouts,
            Setting::StartDaemon(_) => Op::StartDaemon,
            Setting::StopDaemon(_) => Op::StopDaemon,
        }
    }

    fn make(&self, ipvs: &Ipvs) -> Result<(), Error> {
        match self {
            Setting::Timeouts { set, .. } => ipvs.set_timeouts(set),
            Setting::StartDaemon(daemon) => ipvs.start_daemon(daemon),
            Setting::StopDaemon(daemon) => ipvs.stop_daemon(daemon.role),
        }
    }

    /// The `-R` line that [`Setting::undo`] amounts to.
    fn undo_line(&self) -> String {
        match self {
            Setting::Timeouts { before, .. } => {
                let secs = |t: Option<std::time::Duration>| t.map_or(0, |d| d.as_secs());
                format!(
                    "--set {} {} {}",
                    secs(before.tcp),
                    secs(before.tcp_fin),
                    secs(before.udp)
                )
            }
            Setting::StartDaemon(daemon) => format!("--stop-daemon {}", daemon.role),
            Setting::StopDaemon(daemon) => {
                let mut line = format!(
                    "--start-daemon {} --mcast-interface {} --syncid {}",
                    daemon.role, daemon.interface, daemon.sync_id
                );
                let options = [
                    ("--sync-maxlen", daemon.max_len.map(|v| v.to_string())),
                    ("--mcast-group", daemon.mcast_group.map(|v| v.to_string())),
                    ("--mcast-port", daemon.mcast_port.map(|v| v.to_string())),
                    ("--mcast-ttl", daemon.mcast_ttl.map(|v| v.to_string())),
                ];
                for (option, value) in options {
                    if let Some(value) = value {
                        line += &format!(" {option} {value}");
                    }
                }
                line
            }
        }
    }

    /// Puts back what it changed. Made also for a setting that failed, whose
    /// fate may be unknown: a daemon already stopped, or already running
    /// again, is as it should be.
    fn undo(&self, ipvs: &Ipvs) -> Result<(), Error> {
        let result = match self {
            Setting::Timeouts { before, .. } => ipvs.set_timeouts(before),
            Setting::StartDaemon(daemon) => ipvs.stop_daemon(daemon.role),
            Setting::StopDaemon(daemon) => ipvs.start_daemon(daemon),
        };
        match result {
            Err(Error::NoDaemon | Error::DaemonRunning) => Ok(()),
            other => other,
        }
    }
}

/// A restore, planned: what to send, and what it replaces.
#[derive(Clone, Debug)]
pub struct Restore {
    /// The table's changes, one step per line (`-C` a delete per service).
    plan: Plan,
    /// The line of each step.
    step_lines: Vec<Line>,
    /// The settings, in input order, with their lines.
    settings: Vec<(Line, Setting)>,
    /// The counters to zero at the end: all (`None`) or a service's.
    zero: Vec<(Line, Option<ServiceKey>)>,
    /// The state before.
    before: State,
}

/// The table, timeouts and daemons as the lines so far leave them.
struct Simulation {
    state: State,
    /// Where each service is in `state.services`: a restore of a saved
    /// table looks a service up for each of its destinations.
    index: HashMap<ServiceKey, usize>,
}

/// What one line does.
enum Effect {
    Table(Vec<Step>),
    Setting(Setting),
    Zero(Option<ServiceKey>),
}

impl Simulation {
    fn new(state: State) -> Self {
        let index = state
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.service.key, i))
            .collect();
        Simulation { state, index }
    }

    fn position(&self, key: &ServiceKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Takes the service at `i` out (the last one takes its place).
    fn remove(&mut self, i: usize) -> ServiceState {
        let removed = self.state.services.swap_remove(i);
        self.index.remove(&removed.service.key);
        if let Some(moved) = self.state.services.get(i) {
            self.index.insert(moved.service.key, i);
        }
        removed
    }

    /// Where service `key` is, for request `op`, or the kernel's refusal.
    fn index(&self, op: Op, key: &ServiceKey) -> Result<usize, (Op, Error)> {
        self.position(key).ok_or((
            op,
            Error::NoSuchService {
                op,
                service: Some(*key),
            },
        ))
    }

    /// The service `key`, for request `op`, or the kernel's refusal.
    fn service_mut(&mut self, op: Op, key: &ServiceKey) -> Result<&mut ServiceState, (Op, Error)> {
        let i = self.index(op, key)?;
        Ok(&mut self.state.services[i])
    }

    /// Plays one command as the kernel would, or says why the kernel would
    /// refuse it.
    fn play(&mut self, command: &Command) -> Result<Effect, (Op, Error)> {
        match command {
            Command::AddService(s) => self.add_service(s),
            Command::EditService(s) => {
                s.validate().map_err(|e| (Op::UpdateService, e))?;
                let state = self.service_mut(Op::UpdateService, &s.key)?;
                let from = std::mem::replace(&mut state.service, s.clone());
                Ok(Effect::Table(vec![Step::UpdateService {
                    from,
                    to: s.clone(),
                }]))
            }
            Command::DeleteService(key) => {
                let i = self.index(Op::DeleteService, key)?;
                Ok(Effect::Table(vec![Step::DeleteService(self.remove(i))]))
            }
            Command::Flush => {
                self.index.clear();
                let all = self.state.services.drain(..);
                Ok(Effect::Table(all.map(Step::DeleteService).collect()))
            }
            Command::AddDestination(key, d) => self.add_destination(key, d),
            Command::EditDestination(key, d) => self.edit_destination(key, d),
            Command::DeleteDestination(key, addr) => self.delete_destination(key, *addr),
            Command::Zero(key) => {
                if let Some(key) = key {
                    self.index(Op::Zero, key)?;
                }
                Ok(Effect::Zero(*key))
            }
            Command::SetTimeouts(set) => self.set_timeouts(set),
            Command::StartDaemon(daemon) => {
                daemon.validate().map_err(|e| (Op::StartDaemon, e))?;
                if self.state.daemons.iter().any(|d| d.role == daemon.role) {
                    return Err((Op::StartDaemon, Error::DaemonRunning));
                }
                self.state.daemons.push(daemon.clone());
                Ok(Effect::Setting(Setting::StartDaemon(daemon.clone())))
            }
            Command::StopDaemon(role) => self.stop_daemon(*role),
            Command::List(..)
            | Command::Save(_)
            | Command::Restore
            | Command::Help
            | Command::Version => Ok(Effect::Table(Vec::new())),
        }
    }

    fn add_service(&mut self, s: &Service) -> Result<Effect, (Op, Error)> {
        let op = Op::AddService;
        s.validate().map_err(|e| (op, e))?;
        if self.position(&s.key).is_some() {
            return Err((
                op,
                Error::ServiceExists {
                    service: Some(s.key),
                },
            ));
        }
        self.index.insert(s.key, self.state.services.len());
        self.state.services.push(ServiceState::new(s.clone()));
        Ok(Effect::Table(vec![Step::AddService(s.clone())]))
    }

    fn add_destination(
        &mut self,
        key: &ServiceKey,
        d: &Destination,
    ) -> Result<Effect, (Op, Error)> {
        let op = Op::AddDestination;
        d.validate_for(key).map_err(|e| (op, e))?;
        let state = self.service_mut(op, key)?;
        if state.destinations.iter().any(|x| x.addr == d.addr) {
            let exists = Error::DestinationExists {
                service: Some(*key),
                destination: Some(d.addr),
            };
            return Err((op, exists));
        }
        // The kernel lists the newest first.
        state.destinations.insert(0, d.clone());
        Ok(Effect::Table(vec![Step::AddDestination {
            service: *key,
            destination: d.clone(),
        }]))
    }

    fn edit_destination(
        &mut self,
        key: &ServiceKey,
        d: &Destination,
    ) -> Result<Effect, (Op, Error)> {
        let op = Op::UpdateDestination;
        d.validate_for(key).map_err(|e| (op, e))?;
        let state = self.service_mut(op, key)?;
        let old = state
            .destinations
            .iter_mut()
            .find(|x| x.addr == d.addr)
            .ok_or_else(|| (op, no_such_destination(op, key, d.addr)))?;
        let from = std::mem::replace(old, d.clone());
        Ok(Effect::Table(vec![Step::UpdateDestination {
            service: *key,
            from,
            to: d.clone(),
        }]))
    }

    fn delete_destination(
        &mut self,
        key: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<Effect, (Op, Error)> {
        let op = Op::DeleteDestination;
        let state = self.service_mut(op, key)?;
        let i = state
            .destinations
            .iter()
            .position(|x| x.addr == addr)
            .ok_or_else(|| (op, no_such_destination(op, key, addr)))?;
        Ok(Effect::Table(vec![Step::DeleteDestination {
            service: *key,
            destination: state.destinations.remove(i),
        }]))
    }

    fn set_timeouts(&mut self, set: &Timeouts) -> Result<Effect, (Op, Error)> {
        let values = [set.tcp, set.tcp_fin, set.udp];
        if let Some(v) = values
            .into_iter()
            .flatten()
            .find(|&v| v > ipvs::MAX_TIMEOUT)
        {
            let too_long = Error::InvalidArgument {
                field: "timeout",
                reason: format!(
                    "{} s: at most {} s",
                    v.as_secs(),
                    ipvs::MAX_TIMEOUT.as_secs()
                ),
            };
            return Err((Op::SetTimeouts, too_long));
        }
        let before = self.state.timeouts;
        let now = &mut self.state.timeouts;
        for (value, new) in [&mut now.tcp, &mut now.tcp_fin, &mut now.udp]
            .into_iter()
            .zip(values)
        {
            *value = new.or(*value);
        }
        Ok(Effect::Setting(Setting::Timeouts { set: *set, before }))
    }

    fn stop_daemon(&mut self, role: DaemonRole) -> Result<Effect, (Op, Error)> {
        let i = self
            .state
            .daemons
            .iter()
            .position(|d| d.role == role)
            .ok_or((Op::StopDaemon, Error::NoDaemon))?;
        Ok(Effect::Setting(Setting::StopDaemon(
            self.state.daemons.remove(i),
        )))
    }
}

fn no_such_destination(op: Op, key: &ServiceKey, addr: SocketAddr) -> Error {
    Error::NoSuchDestination {
        op,
        service: Some(*key),
        destination: Some(addr),
    }
}

/// Plays every line against `before`; fails at the first line the kernel
/// would refuse, before anything is sent.
pub fn plan(before: State, lines: &[Line]) -> Result<Restore, Failure> {
    let mut sim = Simulation::new(before.clone());
    let (mut steps, mut step_lines, mut settings, mut zero) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        let effect = sim.play(&line.command).map_err(|(op, error)| {
            Failure::kernel(op, &error).detail(line.quoted()).detail(
                "nothing was changed: the whole input is checked against the current table first",
            )
        })?;
        match effect {
            Effect::Table(new) => {
                step_lines.extend(new.iter().map(|_| line.clone()));
                steps.extend(new);
            }
            Effect::Setting(setting) => settings.push((line.clone(), setting)),
            Effect::Zero(key) => zero.push((line.clone(), key)),
        }
    }
    // Zeroed last: a service deleted after its -Z line has no counters left.
    zero.retain(|(_, key)| key.is_none_or(|k| sim.position(&k).is_some()));
    Ok(Restore {
        plan: Plan::from_steps(steps),
        step_lines,
        settings,
        zero,
        before,
    })
}

pub(crate) const ALL_UNDONE: &str = "every change of this input was undone: the table is as it was";

impl Restore {
    /// Sends the table's plan, then the settings, then the zeroing.
    pub fn apply(&self, ipvs: &Ipvs) -> Result<(), Failure> {
        if let Err(error) = ipvs.apply_plan(&self.plan) {
            return Err(self.table_refused(ipvs, error));
        }
        for (i, (line, setting)) in self.settings.iter().enumerate() {
            if let Err(error) = setting.make(ipvs) {
                let failure = Failure::kernel(setting.op(), &error).detail(line.quoted());
                return Err(self.undo(ipvs, &self.settings[..=i], failure));
            }
        }
        for (line, key) in &self.zero {
            let zeroed = match key {
                Some(key) => ipvs.zero_service(key),
                None => ipvs.zero_all(),
            };
            if let Err(error) = zeroed {
                let failure = Failure::kernel(Op::Zero, &error).detail(line.quoted());
                return Err(self.undo(ipvs, &self.settings, failure));
            }
        }
        Ok(())
    }

    /// The table's plan failed. [`Error::ApplyFailed`] names the step and
    /// says how the crate's rollback went. Any other error stopped the
    /// batch as a whole: mostly before anything was sent, but not always
    /// (the family looked up again after a first write refused with
    /// `ENOENT`, and failing, loses the other writes' outcomes), so the
    /// table is read back and put back if it changed.
    fn table_refused(&self, ipvs: &Ipvs, error: Error) -> Failure {
        let Error::ApplyFailed {
            step,
            cause,
            rollback,
            ..
        } = error
        else {
            let failure = Failure::kernel(Op::Raw, &error);
            return match self.put_table_back(ipvs) {
                Ok(false) => failure.detail("nothing was changed"),
                Ok(true) => failure.detail(ALL_UNDONE),
                Err(why) => self.what_is_left(ipvs, failure.detail(why), &[]),
            };
        };
        let op = self.plan.steps().get(step).map_or(Op::Raw, step_op);
        let mut failure = Failure::kernel(op, &cause);
        if let Some(line) = self.step_lines.get(step) {
            failure = failure.detail(line.quoted());
        }
        match rollback {
            Rollback::Complete { .. } => failure.detail(ALL_UNDONE),
            Rollback::Failed { step, cause, left } => {
                let at = step.map(|s| format!(" at `{s}`")).unwrap_or_default();
                let failure = failure.detail(format!("undoing the changes failed{at}: {cause}"));
                self.what_is_left(ipvs, failure, &left)
            }
            other => {
                let failure = failure.detail(format!("undoing the changes failed: {other}"));
                self.what_is_left(ipvs, failure, &[])
            }
        }
    }

    /// Puts back `settings` (newest first), then the table; reports what
    /// could not be put back.
    fn undo(&self, ipvs: &Ipvs, settings: &[(Line, Setting)], mut failure: Failure) -> Failure {
        let mut settings_back = true;
        for (line, setting) in settings.iter().rev() {
            if let Err(e) = setting.undo(ipvs) {
                settings_back = false;
                failure = failure.detail(format!(
                    "not put back: {} ({e}); `{}` would put it back",
                    line.quoted(),
                    setting.undo_line()
                ));
            }
        }
        let table = if self.plan.is_empty() {
            Ok(false)
        } else {
            self.put_table_back(ipvs)
        };
        match table {
            Ok(_) if settings_back => failure.detail(ALL_UNDONE),
            Ok(_) => failure.detail("the table is as it was"),
            Err(why) => {
                if settings_back && !settings.is_empty() {
                    failure = failure.detail("the settings were put back");
                }
                self.what_is_left(ipvs, failure.detail(why), &[])
            }
        }
    }

    /// Makes the table the one read before, planned from what the kernel
    /// holds now (so a change of unknown fate is covered too): `Ok(true)`
    /// when that took a change, or why it failed.
    fn put_table_back(&self, ipvs: &Ipvs) -> Result<bool, String> {
        match ipvs.apply(&self.before.services, &ApplyOptions::default()) {
            Ok(report) => Ok(report.applied > 0),
            // Its own rollback's outcome is left out: what_is_left reads
            // the table as it ended.
            Err(Error::ApplyFailed { command, cause, .. }) => Err(format!(
                "putting the table back failed at `{command}`: {cause}"
            )),
            Err(e) => Err(format!("putting the table back failed: {e}")),
        }
    }

    /// After a failed undo: the changes that would still turn the table
    /// back, planned from the table read now; if it cannot be read, `left`,
    /// what the crate's rollback did not undo.
    fn what_is_left(&self, ipvs: &Ipvs, failure: Failure, left: &[String]) -> Failure {
        let listed = |failure: Failure, heading: &str, lines: Vec<String>| {
            lines.into_iter().fold(failure.detail(heading), |f, line| {
                f.detail(format!("  {line}"))
            })
        };
        match ipvs.plan(&self.before.services, &ApplyOptions::default()) {
            Ok(plan) if plan.is_empty() => failure.detail("the table read back is as it was"),
            Ok(plan) => listed(
                failure,
                "these -R lines would put the table back as it was:",
                plan.steps().iter().map(ToString::to_string).collect(),
            ),
            Err(e) => {
                let failure = failure.detail(format!("the table could not be read back: {e}"));
                if left.is_empty() {
                    failure
                } else {
                    listed(
                        failure,
                        "the undo left these -R lines to run:",
                        left.to_vec(),
                    )
                }
            }
        }
    }
}

/// The request a table step sends.
fn step_op(step: &Step) -> Op {
    match step {
        Step::AddService(_) => Op::AddService,
        Step::UpdateService { .. } => Op::UpdateService,
        Step::DeleteService(_) => Op::DeleteService,
        Step::AddDestination { .. } => Op::AddDestination,
        Step::UpdateDestination { .. } => Op::UpdateDestination,
        Step::DeleteDestination { .. } => Op::DeleteDestination,
        _ => Op::Raw,
    }
}

#[cfg(test)]
mod faults;

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> std::time::Duration {
        std::time::Duration::from_secs(n)
    }
    use crate::names::Numeric;

    fn lines(input: &str) -> Vec<Line> {
        parse_input(input, "ipvsadm", &Numeric).unwrap_or_else(|f| panic!("{f}"))
    }

    /// A table of two services, timeouts and a master daemon.
    fn start() -> State {
        let mut sim = Simulation::new(State {
            timeouts: Timeouts::new(Some(secs(900)), Some(secs(120)), Some(secs(300))),
            ..Default::default()
        });
        for line in lines(
            "-A -t 192.0.2.1:80 -s wrr\n\
             -a -t 192.0.2.1:80 -r 192.0.2.10 -w 3\n\
             -a -t 192.0.2.1:80 -r 192.0.2.11\n\
             -A -t 192.0.2.2:80\n\
             -a -t 192.0.2.2:80 -r 192.0.2.20 -m\n\
             --start-daemon master --mcast-interface sync0\n",
        ) {
            sim.play(&line.command)
                .unwrap_or_else(|(_, e)| panic!("{e}"));
        }
        sim.state
    }

    #[test]
    fn input_is_split_as_ipvsadm_splits_it_and_comments_are_dropped() {
        assert_eq!(
            words("ipvsadm -A\t-t 192.0.2.1:80 ipvsadm\r"),
            ["-A", "-t", "192.0.2.1:80"]
        );
        assert!(words("  # a comment").is_empty());
        assert_eq!(words("-C # flush"), ["-C"]);
        assert!(lines("\n# only comments\n\n").is_empty());
    }

    #[test]
    fn bad_lines_are_all_reported_with_the_first_ones_words() {
        let failure = parse_input(
            "-A -t 192.0.2.9:80\n-a -t 192.0.2.9:80 -R 192.0.2.10 -m\n-L -n\n--bogus\n",
            "ipvsadm",
            &Numeric,
        )
        .unwrap_err();
        assert_eq!(failure.message, "invalid option `-R'");
        assert_eq!(failure.status, 2);
        let text = failure.to_string();
        for expected in [
            "line 2:",
            "line 3:",
            "only changes",
            "line 4:",
            "Try `ipvsadm -h'",
            "nothing was changed",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }

    #[test]
    fn what_the_kernel_would_refuse_is_found_before_anything_is_sent() {
        for (input, words) in [
            (
                "-A -t 192.0.2.9:80\n-A -t 192.0.2.1:80\n",
                "Service already exists",
            ),
            ("-E -t 192.0.2.9:80\n", "No such service"),
            (
                "-D -t 192.0.2.1:80\n-Z -t 192.0.2.1:80\n",
                "No such service",
            ),
            ("-a -t 192.0.2.9:80 -r 192.0.2.30\n", "Service not defined"),
            (
                "-a -t 192.0.2.1:80 -r 192.0.2.11\n",
                "Destination already exists",
            ),
            ("-e -t 192.0.2.1:80 -r 192.0.2.30\n", "No such destination"),
            (
                "-d -t 192.0.2.1:80 -r 192.0.2.11\n-d -t 192.0.2.1:80 -r 192.0.2.11\n",
                "No such destination",
            ),
            (
                "--start-daemon master --mcast-interface sync0\n",
                "Daemon has already run",
            ),
            ("--stop-daemon backup\n", "No daemon is running"),
            (
                "-a -t 192.0.2.1:80 -r 192.0.2.30 -x 5 -y 10\n",
                "Numerical result out of range",
            ),
            (
                "--set 2147484 0 0\n",
                "Invalid operation.  Possibly wrong module version, address not unicast, ...",
            ),
        ] {
            let failure = plan(start(), &lines(input)).unwrap_err();
            assert_eq!(
                (failure.message.as_str(), failure.status),
                (words, 255),
                "{input}"
            );
            assert!(
                failure.to_string().contains("nothing was changed"),
                "{failure}"
            );
        }
    }

    #[test]
    fn each_line_becomes_a_step_that_knows_what_it_replaces() {
        let r = plan(
            start(),
            &lines(
                "-e -t 192.0.2.1:80 -r 192.0.2.10 -w 5\n\
                 -D -t 192.0.2.2:80\n\
                 -A -t 192.0.2.2:80 -s rr\n\
                 --set 0 60 0\n\
                 -Z -t 192.0.2.2:80\n\
                 -Z -t 192.0.2.1:80\n\
                 -D -t 192.0.2.1:80\n\
                 --stop-daemon master\n",
            ),
        )
        .unwrap();
        assert_eq!(
            r.plan.to_string(),
            "-e -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 5\n\
             -D -t 192.0.2.2:80\n\
             -A -t 192.0.2.2:80 -s rr\n\
             -D -t 192.0.2.1:80\n"
        );
        let Step::UpdateDestination { from, .. } = &r.plan.steps()[0] else {
            panic!()
        };
        assert_eq!(from.weight, 3);
        let Step::DeleteService(gone) = &r.plan.steps()[1] else {
            panic!()
        };
        assert_eq!(gone.destinations.len(), 1, "deleted with its destination");
        assert_eq!(
            r.step_lines.iter().map(|l| l.number).collect::<Vec<_>>(),
            [1, 2, 3, 7]
        );
        assert_eq!(
            r.settings[0].1,
            Setting::Timeouts {
                set: Timeouts::new(None, Some(secs(60)), None),
                before: Timeouts::new(Some(secs(900)), Some(secs(120)), Some(secs(300))),
            }
        );
        assert!(matches!(&r.settings[1].1, Setting::StopDaemon(d) if d.interface == "sync0"));
        // 192.0.2.1:80 is deleted after its -Z line: nothing to zero.
        assert_eq!(r.zero.len(), 1);
        assert_eq!(r.zero[0].0.number, 5);
    }

    #[test]
    fn services_are_found_after_others_are_deleted() {
        let r = plan(
            start(),
            &lines(
                "-D -t 192.0.2.1:80\n\
                 -a -t 192.0.2.2:80 -r 192.0.2.21 -m\n\
                 -A -t 192.0.2.1:80\n\
                 -D -t 192.0.2.2:80\n\
                 -e -t 192.0.2.1:80 -r 192.0.2.10 -w 2\n",
            ),
        );
        let failure = r.unwrap_err();
        assert_eq!(failure.message, "No such destination", "{failure}");
        assert!(failure.to_string().contains("line 5:"), "{failure}");
        let r = plan(
            start(),
            &lines("-D -t 192.0.2.1:80\n-a -t 192.0.2.2:80 -r 192.0.2.21 -m\n-A -t 192.0.2.1:80\n-Z -t 192.0.2.2:80\n"),
        )
        .unwrap();
        assert_eq!(r.plan.len(), 3);
        assert_eq!(r.zero.len(), 1);
    }

    #[test]
    fn a_flush_deletes_each_service_with_its_destinations() {
        let r = plan(start(), &lines("-C\n-A -t 192.0.2.1:80 -s rr\n")).unwrap();
        assert_eq!(
            r.plan.to_string(),
            "-D -t 192.0.2.1:80\n-D -t 192.0.2.2:80\n-A -t 192.0.2.1:80 -s rr\n"
        );
        let Step::DeleteService(first) = &r.plan.steps()[0] else {
            panic!()
        };
        assert_eq!(first.destinations.len(), 2);
    }
}
