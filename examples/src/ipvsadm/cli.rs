// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's command line: the same options, the same defaults, the same
//! command-versus-option table (`commands_v_options` in ipvsadm.c), and
//! errors that say what is wrong and what was probably meant.
//!
//! Tokenising (short-option clusters like `-Ln`, `--opt=value`, attached
//! values like `-p360`) is done by `lexopt`; ipvsadm's rules on top of it
//! are here, as pure functions with unit tests.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::format::ListFormat;
use super::model::{
    DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, Daemon, DaemonState, Dest, Fwd, MAX_TIMEOUT,
    Netmask, Proto, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3,
    Service, Svc, Timeouts, TunCsum, TunType,
};
use super::names::Resolver;

/// A command line ipvsadm would not accept, with a suggestion when one can
/// be made. ipvsadm exits with status 2 for these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
    /// What was probably meant.
    pub hint: Option<String>,
}

impl UsageError {
    fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UsageError {}

/// What `-L` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListTarget {
    /// The whole table.
    All,
    /// One service (`-L -t ADDR:PORT`).
    Service(Svc),
    /// `--timeout`
    Timeouts,
    /// `--daemon`
    Daemons,
    /// `-c` (connections, from `/proc/net/ip_vs_conn`)
    Connections,
}

/// One ipvsadm command, with ipvsadm's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `-A`
    AddService(Service),
    /// `-E`
    EditService(Service),
    /// `-D`
    DeleteService(Svc),
    /// `-C`
    Flush,
    /// `-L` / `-l` (and no arguments at all)
    List(ListTarget, ListFormat),
    /// `-S`
    Save(ListFormat),
    /// `-R`
    Restore,
    /// `-a`
    AddDest(Svc, Dest),
    /// `-e`
    EditDest(Svc, Dest),
    /// `-d`
    DeleteDest(Svc, IpAddr, u16),
    /// `-Z`
    Zero(Option<Svc>),
    /// `--set TCP TCPFIN UDP`
    SetTimeouts(Timeouts),
    /// `--start-daemon`
    StartDaemon(Daemon),
    /// `--stop-daemon`
    StopDaemon(DaemonState),
    /// `-h`
    Help,
    /// `-v`
    Version,
}

impl Command {
    /// True for commands that change the kernel's table (allowed in `-R`).
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Command::List(..)
                | Command::Save(_)
                | Command::Restore
                | Command::Help
                | Command::Version
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddSrv,
    DelSrv,
    EditSrv,
    Timeout,
    StartD,
    StopD,
    Restore,
    Save,
    Zero,
}

const CMD_NAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

const CMD_SWITCH: [&str; 14] = [
    "-A",
    "-E",
    "-D",
    "-C",
    "-L",
    "-a",
    "-d",
    "-e",
    "--set",
    "--start-daemon",
    "--stop-daemon",
    "-R",
    "-S",
    "-Z",
];

// Option indices, as ipvsadm's OPTC_* (the table's columns).
const O_NUMERIC: usize = 0;
const O_CONNECTION: usize = 1;
const O_SERVICE: usize = 2;
const O_SCHEDULER: usize = 3;
const O_PERSISTENT: usize = 4;
const O_NETMASK: usize = 5;
const O_SERVER: usize = 6;
const O_FORWARD: usize = 7;
const O_WEIGHT: usize = 8;
const O_UTHRESHOLD: usize = 9;
const O_LTHRESHOLD: usize = 10;
const O_MCAST: usize = 11;
const O_TIMEOUT: usize = 12;
const O_DAEMON: usize = 13;
const O_STATS: usize = 14;
const O_RATE: usize = 15;
const O_THRESHOLDS: usize = 16;
const O_PERSISTENTCONN: usize = 17;
const O_NOSORT: usize = 18;
const O_SYNCID: usize = 19;
const O_EXACT: usize = 20;
const O_ONEPACKET: usize = 21;
const O_PE: usize = 22;
const O_SCHED_FLAGS: usize = 23;
const O_MCAST_GROUP: usize = 24;
const O_MCAST_PORT: usize = 25;
const O_MCAST_TTL: usize = 26;
const O_SYNC_MAXLEN: usize = 27;
const O_TUN_INFO: usize = 28;
const O_TUN_TYPE: usize = 29;
const O_TUN_PORT: usize = 30;
const O_TUN_NOCSUM: usize = 31;
const O_TUN_CSUM: usize = 32;
const O_TUN_REMCSUM: usize = 33;

const OPT_NAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// ipvsadm's `commands_v_options`: '+' compulsory, 'x' illegal, '1'
/// exclusive, ' ' optional. One row per command, one column per option.
const TABLE: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // del
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
];

/// How each option is spelled, for messages and the table check.
fn option_spelling(idx: usize) -> &'static str {
    match idx {
        O_NUMERIC => "-n",
        O_CONNECTION => "-c",
        O_SERVICE => "-t|-u|--sctp-service|-f",
        O_SCHEDULER => "-s",
        O_PERSISTENT => "-p",
        O_NETMASK => "-M",
        O_SERVER => "-r",
        O_FORWARD => "-g|-i|-m",
        O_WEIGHT => "-w",
        O_UTHRESHOLD => "-x",
        O_LTHRESHOLD => "-y",
        O_EXACT => "--exact",
        O_ONEPACKET => "-o",
        O_SCHED_FLAGS => "-b",
        _ => "",
    }
}

fn opt_label(idx: usize) -> String {
    let spelled = option_spelling(idx);
    if spelled.is_empty() {
        format!("'{}' (--{})", OPT_NAMES[idx], OPT_NAMES[idx])
    } else {
        format!("'{}' ({spelled})", OPT_NAMES[idx])
    }
}

/// Every option ipvsadm knows: (short, long, takes a value).
const OPTIONS: &[(Option<char>, &str, Arity)] = &[
    (Some('A'), "add-service", Arity::None),
    (Some('E'), "edit-service", Arity::None),
    (Some('D'), "delete-service", Arity::None),
    (Some('C'), "clear", Arity::None),
    (Some('L'), "list", Arity::None),
    (Some('l'), "list", Arity::None),
    (Some('Z'), "zero", Arity::None),
    (Some('a'), "add-server", Arity::None),
    (Some('e'), "edit-server", Arity::None),
    (Some('d'), "delete-server", Arity::None),
    (None, "set", Arity::None),
    (Some('h'), "help", Arity::None),
    (Some('v'), "version", Arity::None),
    (Some('R'), "restore", Arity::None),
    (Some('S'), "save", Arity::None),
    (None, "start-daemon", Arity::One),
    (None, "stop-daemon", Arity::One),
    (Some('t'), "tcp-service", Arity::One),
    (Some('u'), "udp-service", Arity::One),
    (None, "sctp-service", Arity::One),
    (Some('f'), "fwmark-service", Arity::One),
    (Some('s'), "scheduler", Arity::One),
    (Some('p'), "persistent", Arity::Optional),
    (Some('M'), "netmask", Arity::One),
    (Some('r'), "real-server", Arity::One),
    (Some('m'), "masquerading", Arity::None),
    (Some('i'), "ipip", Arity::None),
    (Some('g'), "gatewaying", Arity::None),
    (Some('w'), "weight", Arity::One),
    (Some('x'), "u-threshold", Arity::One),
    (Some('y'), "l-threshold", Arity::One),
    (Some('n'), "numeric", Arity::None),
    (Some('c'), "connection", Arity::None),
    (None, "mcast-interface", Arity::One),
    (None, "syncid", Arity::One),
    (None, "timeout", Arity::None),
    (None, "daemon", Arity::None),
    (None, "stats", Arity::None),
    (None, "rate", Arity::None),
    (None, "thresholds", Arity::None),
    (None, "persistent-conn", Arity::None),
    (None, "nosort", Arity::None),
    (None, "sort", Arity::None),
    (Some('X'), "exact", Arity::None),
    (Some('6'), "ipv6", Arity::None),
    (Some('o'), "ops", Arity::None),
    (None, "pe", Arity::One),
    (Some('b'), "sched-flags", Arity::One),
    (None, "mcast-group", Arity::One),
    (None, "mcast-port", Arity::One),
    (None, "mcast-ttl", Arity::One),
    (None, "sync-maxlen", Arity::One),
    (None, "tun-info", Arity::None),
    (None, "tun-type", Arity::One),
    (None, "tun-port", Arity::One),
    (None, "tun-nocsum", Arity::None),
    (None, "tun-csum", Arity::None),
    (None, "tun-remcsum", Arity::None),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arity {
    None,
    One,
    Optional,
}

fn command_of(long: &str) -> Option<Cmd> {
    Some(match long {
        "add-service" => Cmd::Add,
        "edit-service" => Cmd::Edit,
        "delete-service" => Cmd::Del,
        "clear" => Cmd::Flush,
        "list" => Cmd::List,
        "zero" => Cmd::Zero,
        "add-server" => Cmd::AddSrv,
        "edit-server" => Cmd::EditSrv,
        "delete-server" => Cmd::DelSrv,
        "set" => Cmd::Timeout,
        "restore" => Cmd::Restore,
        "save" => Cmd::Save,
        "start-daemon" => Cmd::StartD,
        "stop-daemon" => Cmd::StopD,
        _ => return None,
    })
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest_long(name: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .map(|(_, l, _)| (*l, distance(name, l)))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(l, _)| l)
}

/// The raw, in-order result of tokenising.
struct Raw {
    cmd: Option<(Cmd, String)>,
    items: Vec<(String, Option<String>)>,
    positionals: Vec<String>,
}

fn os(s: OsString) -> Result<String, UsageError> {
    s.into_string()
        .map_err(|s| UsageError::new(format!("argument {s:?} is not valid UTF-8")))
}

fn looks_like_address(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
        || s.starts_with('[')
        || s.rsplit_once(':')
            .is_some_and(|(h, _)| h.parse::<Ipv4Addr>().is_ok())
}

/// Why a second command is probably a typo, and what was meant.
fn second_command_hint(first: Cmd, second_switch: &str, next: Option<&str>) -> Option<String> {
    let lower = match second_switch {
        "-R" => Some(("-r", "--real-server", "a real server's address")),
        "-S" => Some(("-s", "--scheduler", "a scheduler name")),
        "-L" | "-C" => None,
        _ => None,
    };
    if let Some((short, long, what)) = lower {
        let arg = next.map(|n| format!(" {n}")).unwrap_or_default();
        return Some(format!(
            "did you mean `{short}{arg}` ({long}, {what})? `{second_switch}` is the {} command",
            CMD_NAMES[command_of(match second_switch {
                "-R" => "restore",
                _ => "save",
            })
            .map(|c| c as usize)
            .unwrap_or(0)]
        ));
    }
    let pair = match (first, second_switch) {
        (Cmd::Add, "-a") | (Cmd::AddSrv, "-A") => {
            Some("-A adds a virtual service, -a adds a real server to one")
        }
        (Cmd::Edit, "-e") | (Cmd::EditSrv, "-E") => {
            Some("-E edits a virtual service, -e edits a real server")
        }
        (Cmd::Del, "-d") | (Cmd::DelSrv, "-D") => {
            Some("-D deletes a virtual service, -d deletes a real server")
        }
        _ => None,
    };
    pair.map(|p| format!("give one command per line: {p}"))
}

fn tokenize(args: &[String]) -> Result<Raw, UsageError> {
    let mut p = lexopt::Parser::from_args(args.iter().cloned());
    let mut raw = Raw {
        cmd: None,
        items: Vec::new(),
        positionals: Vec::new(),
    };
    while let Some(arg) = p.next().map_err(|e| UsageError::new(e.to_string()))? {
        let (entry, spelled) = match arg {
            lexopt::Arg::Short(c) => {
                let e = OPTIONS
                    .iter()
                    .find(|(s, _, _)| *s == Some(c))
                    .ok_or_else(|| {
                        let mut err = UsageError::new(format!("invalid option `-{c}'"));
                        let swapped = if c.is_ascii_uppercase() {
                            c.to_ascii_lowercase()
                        } else {
                            c.to_ascii_uppercase()
                        };
                        if let Some((_, long, _)) =
                            OPTIONS.iter().find(|(s, _, _)| *s == Some(swapped))
                        {
                            err = err.hint(format!("did you mean `-{swapped}` (--{long})?"));
                        }
                        err
                    })?;
                (e, format!("-{c}"))
            }
            lexopt::Arg::Long(l) => {
                let l = l.to_string();
                let e = OPTIONS
                    .iter()
                    .find(|(_, long, _)| *long == l)
                    .ok_or_else(|| {
                        let err = UsageError::new(format!("invalid option `--{l}'"));
                        match closest_long(&l) {
                            Some(c) => err.hint(format!("did you mean `--{c}`?")),
                            None => err,
                        }
                    })?;
                (e, format!("--{l}"))
            }
            lexopt::Arg::Value(v) => {
                raw.positionals.push(os(v)?);
                continue;
            }
        };
        let (_, long, arity) = *entry;
        let value = match arity {
            Arity::None => None,
            Arity::One => Some(os(p.value().map_err(|_| {
                UsageError::new(format!("option `{spelled}' (--{long}) needs a value"))
            })?)?),
            Arity::Optional => match p.optional_value() {
                Some(v) => Some(os(v)?),
                None => p
                    .try_raw_args()
                    .and_then(|mut r| {
                        r.next_if(|a| {
                            a.to_str().is_some_and(|s| {
                                !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
                            })
                        })
                    })
                    .map(os)
                    .transpose()?,
            },
        };
        if let Some(cmd) = command_of(long) {
            if let Some((first, first_spelled)) = &raw.cmd {
                let next = p
                    .try_raw_args()
                    .and_then(|r| r.peek().and_then(|s| s.to_str().map(str::to_string)));
                let next = next.filter(|n| looks_like_address(n));
                let mut err = UsageError::new(format!(
                    "multiple commands specified: `{first_spelled}' ({}) and `{spelled}' ({})",
                    CMD_NAMES[*first as usize], CMD_NAMES[cmd as usize]
                ));
                if let Some(h) = second_command_hint(*first, &spelled, next.as_deref()) {
                    err = err.hint(h);
                }
                return Err(err);
            }
            raw.cmd = Some((cmd, spelled.clone()));
            if let Some(v) = value {
                raw.items.push((long.to_string(), Some(v)));
            }
            continue;
        }
        raw.items.push((long.to_string(), value));
    }
    Ok(raw)
}

fn number(s: &str, min: i64, max: i64, what: &str) -> Result<i64, UsageError> {
    match s.trim_start().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(UsageError::new(format!(
            "illegal {what} specified: `{s}' (expected an integer {min}..{max})"
        ))),
    }
}

fn timeout(s: &str, min: i64) -> Result<u32, UsageError> {
    match s.trim_start().parse::<i64>() {
        Ok(n) if (min..=i64::from(MAX_TIMEOUT)).contains(&n) => Ok(n as u32),
        _ => Err(UsageError::new(format!(
            "invalid timeout value `{s}' specified (expected {min}..{MAX_TIMEOUT} seconds, 31 days)"
        ))),
    }
}

/// ipvsadm's `parse_service`: `host[:port]`, `[v6]:port`, a bare IPv6.
/// Returns the address and the port if one was given.
pub fn parse_addr_port(
    s: &str,
    proto: Proto,
    names: &dyn Resolver,
) -> Result<(IpAddr, Option<u16>), String> {
    if s.is_empty() || s.chars().all(|c| c.is_ascii_digit()) {
        return Err("expected host[:port], not a bare number".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("`[' without `]': write IPv6 as [ADDR]:PORT")?;
        let port = after
            .strip_prefix(':')
            .ok_or("IPv6 in brackets needs a port: [ADDR]:PORT")?;
        let addr: IpAddr = h
            .parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("`{h}' is not an IPv6 address"))?;
        (addr, Some(port))
    } else if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
        (IpAddr::V6(a), None)
    } else {
        let (h, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let addr = match h.parse::<Ipv4Addr>() {
            Ok(a) => IpAddr::V4(a),
            Err(_) => names
                .lookup_host(h)
                .ok_or_else(|| format!("`{h}' is neither an IPv4 address nor a known host name"))?,
        };
        (addr, port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => names.lookup_service(p, proto).ok_or_else(|| {
                format!("`{p}' is neither a port number (0..65535) nor a known service name")
            })?,
        }),
    };
    Ok((host, port))
}

/// Parses one ipvsadm command line (without the program name).
pub fn parse(args: &[String], names: &dyn Resolver) -> Result<Command, UsageError> {
    if args.is_empty() {
        return Ok(Command::List(ListTarget::All, ListFormat::default()));
    }
    let raw = tokenize(args)?;
    let Some((cmd, cmd_spelled)) = raw.cmd else {
        return Err(UsageError::new("no command given")
            .hint("start with one of -A -E -D -C -a -e -d -L -Z -S -R --set --start-daemon --stop-daemon (see -h)"));
    };
    let mut options: u64 = 0;
    let mut set = |idx: usize, spelled: &str| -> Result<(), UsageError> {
        if options & (1 << idx) != 0 {
            return Err(UsageError::new(format!(
                "multiple '{}' options specified (`{spelled}')",
                OPT_NAMES[idx]
            )));
        }
        options |= 1 << idx;
        Ok(())
    };
    let mut proto = Proto::Tcp;
    let mut svc_text: Option<(String, Proto)> = None;
    let mut fwmark: Option<u32> = None;
    let mut ipv6 = false;
    let mut sched: Option<String> = None;
    let mut persistent: Option<u32> = None;
    let mut netmask_text: Option<String> = None;
    let mut server_text: Option<String> = None;
    let mut fwd = Fwd::Route;
    let mut weight = 1u32;
    let mut uth = 0u32;
    let mut lth = 0u32;
    let mut format = ListFormat::default();
    let mut onepacket = false;
    let mut pe = String::new();
    let mut sched_flags_text: Option<String> = None;
    let mut daemon_state = None;
    let mut mcast_ifn: Option<String> = None;
    let mut syncid = 0u8;
    let mut mcast_group = None;
    let mut mcast_port = 0u16;
    let mut mcast_ttl = 0u8;
    let mut sync_maxlen = 0u16;
    let mut tun_type = TunType::Ipip;
    let mut tun_port = 0u16;
    let mut tun_csum = TunCsum::NoCsum;
    let mut help = false;
    let mut version = false;

    for (long, value) in &raw.items {
        let v = value.as_deref().unwrap_or("");
        match long.as_str() {
            "start-daemon" | "stop-daemon" => {
                daemon_state = Some(match v {
                    "master" => DaemonState::Master,
                    "backup" => DaemonState::Backup,
                    _ => {
                        return Err(UsageError::new(format!(
                            "illegal {long} parameter `{v}' specified"
                        ))
                        .hint("the sync daemon is `master` or `backup`"));
                    }
                })
            }
            "tcp-service" | "udp-service" | "sctp-service" => {
                set(O_SERVICE, long)?;
                proto = match long.as_str() {
                    "tcp-service" => Proto::Tcp,
                    "udp-service" => Proto::Udp,
                    _ => Proto::Sctp,
                };
                svc_text = Some((v.to_string(), proto));
            }
            "fwmark-service" => {
                set(O_SERVICE, "-f")?;
                match v.parse::<u64>() {
                    Ok(n) if (1..=u64::from(u32::MAX)).contains(&n) => fwmark = Some(n as u32),
                    _ => {
                        return Err(UsageError::new(format!(
                            "invalid fwmark value `{v}' specified (expected 1..4294967295)"
                        )));
                    }
                }
            }
            "ipv6" => {
                if fwmark.is_none() {
                    return Err(UsageError::new("-6 used before -f")
                        .hint("-6 marks a firewall-mark service as IPv6: write `-f MARK -6`; addresses carry their own family"));
                }
                ipv6 = true;
            }
            "scheduler" => {
                set(O_SCHEDULER, "-s")?;
                if v.is_empty() || v.len() > 15 {
                    return Err(UsageError::new(format!(
                        "illegal scheduler `{v}' (a name of 1..15 characters, e.g. rr wrr lc wlc sh dh sed nq mh fo ovf lblc lblcr twos)"
                    )));
                }
                sched = Some(v.to_string());
            }
            "persistent" => {
                set(O_PERSISTENT, "-p")?;
                persistent = Some(match value {
                    None => DEFAULT_PERSISTENT_TIMEOUT,
                    Some(t) => timeout(t, 1)?,
                });
            }
            "netmask" => {
                set(O_NETMASK, "-M")?;
                netmask_text = Some(v.to_string());
            }
            "real-server" => {
                set(O_SERVER, "-r")?;
                server_text = Some(v.to_string());
            }
            "masquerading" | "ipip" | "gatewaying" => {
                set(O_FORWARD, long)?;
                fwd = match long.as_str() {
                    "masquerading" => Fwd::Masq,
                    "ipip" => Fwd::Tunnel,
                    _ => Fwd::Route,
                };
            }
            "weight" => {
                set(O_WEIGHT, "-w")?;
                weight = number(v, 0, 65535, "weight")? as u32;
            }
            "u-threshold" => {
                set(O_UTHRESHOLD, "-x")?;
                uth = number(v, 0, i64::from(i32::MAX), "u_threshold")? as u32;
            }
            "l-threshold" => {
                set(O_LTHRESHOLD, "-y")?;
                lth = number(v, 0, i64::from(i32::MAX), "l_threshold")? as u32;
            }
            "numeric" => {
                set(O_NUMERIC, "-n")?;
                format.numeric = true;
            }
            "connection" => set(O_CONNECTION, "-c")?,
            "mcast-interface" => {
                set(O_MCAST, "--mcast-interface")?;
                if v.is_empty() || v.len() > 15 {
                    return Err(UsageError::new(format!(
                        "illegal mcast-interface `{v}' (an interface name of 1..15 characters)"
                    )));
                }
                mcast_ifn = Some(v.to_string());
            }
            "syncid" => {
                set(O_SYNCID, "--syncid")?;
                syncid = number(v, 0, 255, "syncid")? as u8;
            }
            "timeout" => set(O_TIMEOUT, "--timeout")?,
            "daemon" => set(O_DAEMON, "--daemon")?,
            "stats" => {
                set(O_STATS, "--stats")?;
                format.stats = true;
            }
            "rate" => {
                set(O_RATE, "--rate")?;
                format.rate = true;
            }
            "thresholds" => {
                set(O_THRESHOLDS, "--thresholds")?;
                format.thresholds = true;
            }
            "persistent-conn" => {
                set(O_PERSISTENTCONN, "--persistent-conn")?;
                format.persistent_conn = true;
            }
            "nosort" => {
                set(O_NOSORT, "--nosort")?;
                format.nosort = true;
            }
            "sort" => {}
            "exact" => {
                set(O_EXACT, "--exact")?;
                format.exact = true;
            }
            "ops" => {
                set(O_ONEPACKET, "-o")?;
                onepacket = true;
            }
            "pe" => {
                set(O_PE, "--pe")?;
                if v.len() > 31 {
                    return Err(UsageError::new(format!(
                        "illegal persistence engine `{v}' (at most 31 characters; the kernel has `sip`)"
                    )));
                }
                pe = v.to_string();
            }
            "sched-flags" => {
                set(O_SCHED_FLAGS, "-b")?;
                sched_flags_text = Some(v.to_string());
            }
            "mcast-group" => {
                set(O_MCAST_GROUP, "--mcast-group")?;
                let g: IpAddr = v.parse().map_err(|_| {
                    UsageError::new(format!(
                        "invalid mcast-group `{v}' (an IPv4 or IPv6 multicast address)"
                    ))
                })?;
                if !g.is_multicast() {
                    return Err(UsageError::new(format!(
                        "invalid {} mcast-group `{v}': not a multicast address",
                        if g.is_ipv4() { "IPv4" } else { "IPv6" }
                    )));
                }
                mcast_group = Some(g);
            }
            "mcast-port" => {
                set(O_MCAST_PORT, "--mcast-port")?;
                mcast_port = number(v, 1, 65535, "mcast-port")? as u16;
            }
            "mcast-ttl" => {
                set(O_MCAST_TTL, "--mcast-ttl")?;
                mcast_ttl = number(v, 1, 255, "mcast-ttl")? as u8;
            }
            "sync-maxlen" => {
                set(O_SYNC_MAXLEN, "--sync-maxlen")?;
                sync_maxlen = number(v, 1, 65535 - 20 - 8, "sync-maxlen")? as u16;
            }
            "tun-info" => {
                set(O_TUN_INFO, "--tun-info")?;
                format.tun_info = true;
            }
            "tun-type" => {
                set(O_TUN_TYPE, "--tun-type")?;
                tun_type = match v {
                    "ipip" => TunType::Ipip,
                    "gue" => TunType::Gue,
                    "gre" => TunType::Gre,
                    _ => {
                        return Err(UsageError::new(format!(
                            "illegal tunnel type `{v}' specified (one of ipip, gue, gre)"
                        )));
                    }
                };
            }
            "tun-port" => {
                set(O_TUN_PORT, "--tun-port")?;
                tun_port = number(v, 1, 65535, "tunnel port")? as u16;
            }
            "tun-nocsum" => {
                set(O_TUN_NOCSUM, "--tun-nocsum")?;
                tun_csum = TunCsum::NoCsum;
            }
            "tun-csum" => {
                set(O_TUN_CSUM, "--tun-csum")?;
                tun_csum = TunCsum::Csum;
            }
            "tun-remcsum" => {
                set(O_TUN_REMCSUM, "--tun-remcsum")?;
                tun_csum = TunCsum::RemCsum;
            }
            "help" => help = true,
            "version" => version = true,
            other => return Err(UsageError::new(format!("invalid option `--{other}'"))),
        }
    }
    if help {
        return Ok(Command::Help);
    }
    if version {
        return Ok(Command::Version);
    }

    // --set takes three positionals; anything else is unexpected.
    let mut timeouts = None;
    let mut positionals = raw.positionals.as_slice();
    if cmd == Cmd::Timeout {
        if positionals.len() < 3 {
            return Err(UsageError::new("--set option requires 3 timeout values")
                .hint("--set TCP TCPFIN UDP, in seconds; 0 keeps a value as it is"));
        }
        timeouts = Some(Timeouts {
            tcp: timeout(&positionals[0], 0)?,
            tcp_fin: timeout(&positionals[1], 0)?,
            udp: timeout(&positionals[2], 0)?,
        });
        positionals = &positionals[3..];
    }
    if let Some(extra) = positionals.first() {
        let mut err = UsageError::new(format!("unexpected argument `{extra}'"));
        if looks_like_address(extra) {
            err = err.hint(match cmd {
                Cmd::Restore => format!(
                    "`-R` (--restore) reads rules from stdin and takes no address; to name a real server use `-r {extra}`"
                ),
                Cmd::AddSrv | Cmd::EditSrv | Cmd::DelSrv => format!("name the real server with `-r {extra}`"),
                _ => format!("name the service with `-t {extra}` (or -u, --sctp-service)"),
            });
        }
        return Err(err);
    }

    generic_check(cmd, &cmd_spelled, options)?;

    let names_proto = svc_text.as_ref().map(|(_, p)| *p).unwrap_or(proto);
    let svc = match (&svc_text, fwmark) {
        (Some((text, p)), _) => {
            let (addr, port) = parse_addr_port(text, *p, names).map_err(|why| {
                UsageError::new(format!(
                    "illegal virtual server address[:port] specified: `{text}': {why}"
                ))
            })?;
            Some(Svc::Addr {
                proto: *p,
                addr,
                port: port.unwrap_or(0),
            })
        }
        (None, Some(mark)) => Some(Svc::Fwmark { mark, ipv6 }),
        (None, None) => None,
    };

    let build_service = |svc: Svc| -> Result<Service, UsageError> {
        let mut s = Service::new(svc);
        s.sched = sched.clone().unwrap_or_else(|| DEFAULT_SCHEDULER.into());
        if let Some(t) = persistent {
            s.flags |= SVC_F_PERSISTENT;
            s.timeout = t;
        }
        if onepacket {
            s.flags |= SVC_F_ONEPACKET;
        }
        if let Some(m) = &netmask_text {
            s.netmask = if svc.is_ipv6() {
                match m.parse::<u32>() {
                    Ok(p) if (1..=128).contains(&p) => Netmask::V6(p),
                    _ => {
                        return Err(UsageError::new(format!(
                            "illegal ipv6 netmask `{m}' specified (a prefix length 1..128)"
                        )));
                    }
                }
            } else {
                Netmask::V4(m.parse::<Ipv4Addr>().map_err(|_| {
                    UsageError::new(format!(
                        "illegal virtual server persistent mask `{m}' specified (a dotted IPv4 mask like 255.255.255.0)"
                    ))
                })?)
            };
        }
        s.pe = pe.clone();
        if let Some(text) = &sched_flags_text {
            s.flags |= parse_sched_flags(&s.sched, text)?;
        }
        if !matches!(svc, Svc::Fwmark { .. }) && svc.port() == 0 && !s.persistent() {
            return Err(
                UsageError::new("Zero port specified for non-persistent service")
                    .hint("give the service a port (-t ADDR:PORT), or make it persistent with -p"),
            );
        }
        if onepacket
            && !matches!(
                svc,
                Svc::Fwmark { .. }
                    | Svc::Addr {
                        proto: Proto::Udp,
                        ..
                    }
            )
        {
            return Err(
                UsageError::new("One-Packet Scheduling is only for UDP virtual services")
                    .hint("-o applies to -u or -f services"),
            );
        }
        Ok(s)
    };

    let build_dest = |svc: Svc| -> Result<Dest, UsageError> {
        let text = server_text.clone().unwrap_or_default();
        let (addr, port) = parse_addr_port(&text, names_proto, names).map_err(|why| {
            UsageError::new(format!(
                "illegal real server address[:port] specified: `{text}': {why}"
            ))
        })?;
        let mut d = Dest::new(addr, port.unwrap_or(svc.port()));
        d.fwd = fwd;
        d.weight = weight;
        d.u_threshold = uth;
        d.l_threshold = lth;
        d.tun_type = tun_type;
        d.tun_port = tun_port;
        d.tun_csum = tun_csum;
        if !matches!(svc, Svc::Fwmark { .. }) && matches!(fwd, Fwd::Tunnel | Fwd::Route) {
            d.port = svc.port();
        }
        if addr.is_ipv6() != svc.is_ipv6() && fwd != Fwd::Tunnel {
            return Err(UsageError::new(
                "Different address family is allowed only for tunneling servers",
            )
            .hint("use -i to reach an IPv4/IPv6 real server of a service of the other family"));
        }
        let tun_opts = options
            & ((1 << O_TUN_TYPE)
                | (1 << O_TUN_PORT)
                | (1 << O_TUN_NOCSUM)
                | (1 << O_TUN_CSUM)
                | (1 << O_TUN_REMCSUM));
        if tun_opts != 0 && fwd != Fwd::Tunnel {
            return Err(
                UsageError::new("Tunnel options conflict with forward method")
                    .hint("--tun-* options need -i (--ipip)"),
            );
        }
        tunnel_check(tun_type, options)?;
        if lth > uth && uth != 0 {
            return Err(UsageError::new(format!(
                "l_threshold {lth} is above u_threshold {uth}: the kernel rejects this (ERANGE)"
            )));
        }
        Ok(d)
    };

    Ok(match cmd {
        Cmd::Add | Cmd::Edit => {
            let s = build_service(svc.expect("table requires a service"))?;
            if cmd == Cmd::Add {
                Command::AddService(s)
            } else {
                Command::EditService(s)
            }
        }
        Cmd::Del => Command::DeleteService(svc.expect("table requires a service")),
        Cmd::Flush => Command::Flush,
        Cmd::List => {
            if options & ((1 << O_CONNECTION) | (1 << O_TIMEOUT) | (1 << O_DAEMON)) != 0
                && options & ((1 << O_STATS) | (1 << O_RATE) | (1 << O_THRESHOLDS)) != 0
                || options & ((1 << O_TIMEOUT) | (1 << O_DAEMON)) != 0
                    && options & (1 << O_PERSISTENTCONN) != 0
            {
                return Err(UsageError::new("options conflicts in the list command")
                    .hint("--stats, --rate, --thresholds and --persistent-conn describe services; -c, --timeout and --daemon list other things"));
            }
            let target = if options & (1 << O_CONNECTION) != 0 {
                ListTarget::Connections
            } else if let Some(s) = svc {
                ListTarget::Service(s)
            } else if options & (1 << O_TIMEOUT) != 0 {
                ListTarget::Timeouts
            } else if options & (1 << O_DAEMON) != 0 {
                ListTarget::Daemons
            } else {
                ListTarget::All
            };
            Command::List(target, format)
        }
        Cmd::AddSrv | Cmd::EditSrv => {
            let svc = svc.expect("table requires a service");
            let d = build_dest(svc)?;
            if cmd == Cmd::AddSrv {
                Command::AddDest(svc, d)
            } else {
                Command::EditDest(svc, d)
            }
        }
        Cmd::DelSrv => {
            let svc = svc.expect("table requires a service");
            let d = build_dest(svc)?;
            Command::DeleteDest(svc, d.addr, d.port)
        }
        Cmd::Timeout => Command::SetTimeouts(timeouts.unwrap_or_default()),
        Cmd::StartD => Command::StartDaemon(Daemon {
            state: daemon_state.unwrap_or(DaemonState::Master),
            mcast_ifn: mcast_ifn.unwrap_or_else(|| "eth0".into()),
            syncid,
            sync_maxlen,
            mcast_group,
            mcast_port,
            mcast_ttl,
        }),
        Cmd::StopD => Command::StopDaemon(daemon_state.unwrap_or(DaemonState::Master)),
        Cmd::Restore => Command::Restore,
        Cmd::Save => {
            format.rule = true;
            Command::Save(format)
        }
        Cmd::Zero => Command::Zero(svc),
    })
}

fn parse_sched_flags(sched: &str, text: &str) -> Result<u32, UsageError> {
    let mut flags = 0;
    for flag in text.split(',').filter(|f| !f.is_empty()) {
        let (bit, needs) = match flag {
            "flag-1" => (SVC_F_SCHED1, None),
            "flag-2" => (SVC_F_SCHED2, None),
            "flag-3" => (SVC_F_SCHED3, None),
            "sh-fallback" => (SVC_F_SCHED1, Some("sh")),
            "sh-port" => (SVC_F_SCHED2, Some("sh")),
            "mh-fallback" => (SVC_F_SCHED1, Some("mh")),
            "mh-port" => (SVC_F_SCHED2, Some("mh")),
            _ => {
                return Err(
                    UsageError::new(format!("invalid scheduler flag `{flag}'")).hint(
                        "one of flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback, mh-port",
                    ),
                );
            }
        };
        if let Some(n) = needs
            && sched != n
        {
            return Err(
                UsageError::new(format!("incompatible scheduler flag `{flag}'")).hint(format!(
                    "`{flag}` needs `-s {n}` (the scheduler is `{sched}`)"
                )),
            );
        }
        flags |= bit;
    }
    Ok(flags)
}

fn generic_check(cmd: Cmd, spelled: &str, options: u64) -> Result<(), UsageError> {
    let row = TABLE[cmd as usize];
    let mut first_exclusive: Option<usize> = None;
    for (j, rule) in row.iter().enumerate() {
        let given = options & (1 << j) != 0;
        match (*rule, given) {
            (b'+', false) => {
                let mut err = UsageError::new(format!(
                    "You need to supply the {} option for the '{}' command ({spelled})",
                    opt_label(j),
                    CMD_NAMES[cmd as usize]
                ));
                if j == O_SERVER {
                    err = err.hint("name the real server with -r ADDR[:PORT]");
                } else if j == O_SERVICE {
                    err = err.hint("name the service with -t ADDR:PORT, -u ADDR:PORT, --sctp-service ADDR:PORT or -f MARK");
                }
                return Err(err);
            }
            (b'x', true) => {
                return Err(UsageError::new(format!(
                    "Illegal {} option with the '{}' command ({spelled})",
                    opt_label(j),
                    CMD_NAMES[cmd as usize]
                ))
                .hint(format!("see `{} ...` in -h", CMD_SWITCH[cmd as usize])));
            }
            (b'1', true) => match first_exclusive {
                None => first_exclusive = Some(j),
                Some(last) => {
                    return Err(UsageError::new(format!(
                        "The option {} conflicts with the {} option in the '{}' command",
                        opt_label(j),
                        opt_label(last),
                        CMD_NAMES[cmd as usize]
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

fn tunnel_check(t: TunType, options: u64) -> Result<(), UsageError> {
    // Columns: tun-port, nocsum, csum, remcsum.
    let row: &[u8; 4] = match t {
        TunType::Ipip => b"xxxx",
        TunType::Gue => b"+111",
        TunType::Gre => b"x11x",
    };
    let opts = [O_TUN_PORT, O_TUN_NOCSUM, O_TUN_CSUM, O_TUN_REMCSUM];
    let mut first: Option<usize> = None;
    for (j, rule) in row.iter().enumerate() {
        let k = opts[j];
        let given = options & (1 << k) != 0;
        match (*rule, given) {
            (b'+', false) => {
                return Err(UsageError::new(format!(
                    "You need to supply the '{}' option for the '{}' tunnel type",
                    OPT_NAMES[k],
                    t.name()
                ))
                .hint("gue tunnels need --tun-port PORT"));
            }
            (b'x', true) => {
                return Err(UsageError::new(format!(
                    "Illegal '{}' option with the '{}' tunnel type",
                    OPT_NAMES[k],
                    t.name()
                )));
            }
            (b'1', true) => match first {
                None => first = Some(k),
                Some(last) => {
                    return Err(UsageError::new(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' tunnel type",
                        OPT_NAMES[k],
                        OPT_NAMES[last],
                        t.name()
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// Splits one line of `-R` input like ipvsadm's `config_stream`: `#` starts
/// a comment, tokens are whitespace-separated, a leading `ipvsadm` is
/// dropped. Returns `None` for an empty line.
pub fn restore_tokens(line: &str) -> Option<Vec<String>> {
    let line = line.split('#').next().unwrap_or("");
    let mut tokens: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if tokens
        .first()
        .is_some_and(|t| t == "ipvsadm" || t.ends_with("/ipvsadm"))
    {
        tokens.remove(0);
    }
    (!tokens.is_empty()).then_some(tokens)
}

/// The usage text (`-h`), as ipvsadm's, naming this program.
pub fn usage(program: &str) -> String {
    let p = program;
    format!(
        "Usage:\n\
  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n\
  {p} -D virtual-service\n\
  {p} -C\n\
  {p} -R\n\
  {p} -S [-n]\n\
  {p} -a|e virtual-service -r server-address [options]\n\
  {p} -d virtual-service -r server-address\n\
  {p} -L|l [virtual-service] [options]\n\
  {p} -Z [virtual-service]\n\
  {p} --set tcp tcpfin udp\n\
  {p} --start-daemon {{master|backup}} [daemon-options]\n\
  {p} --stop-daemon {{master|backup}}\n\
  {p} -h\n\n\
virtual-service:\n\
  --tcp-service|-t  service-address   service-address is host[:port]\n\
  --udp-service|-u  service-address   service-address is host[:port]\n\
  --sctp-service    service-address   service-address is host[:port]\n\
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n\n\
Options: -6 -s -p -M --pe -b -o -r -g -i -m -w -x -y --tun-type --tun-port\n\
  --tun-nocsum --tun-csum --tun-remcsum -n -c --timeout --daemon --stats --rate\n\
  --exact --thresholds --persistent-conn --tun-info --sort --nosort\n\
Daemon options: --syncid --sync-maxlen --mcast-interface --mcast-group --mcast-port --mcast-ttl\n\n\
Unlike ipvsadm, -R checks its whole input before changing anything and\n\
applies it all or nothing.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::super::names::{Files, Numeric};
    use super::*;
    use pretty_assertions::assert_eq;

    fn p(line: &str) -> Result<Command, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&args, &Numeric)
    }

    fn tcp(a: &str, port: u16) -> Svc {
        Svc::Addr {
            proto: Proto::Tcp,
            addr: a.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn add_service_defaults_to_wlc() {
        let Command::AddService(s) = p("-A -t 192.0.2.1:80").unwrap() else {
            panic!()
        };
        assert_eq!(s, Service::new(tcp("192.0.2.1", 80)));
        assert_eq!(s.sched, "wlc");
    }

    #[test]
    fn persistent_with_and_without_value() {
        let Command::AddService(s) = p("-A -t 192.0.2.1:80 -s rr -p").unwrap() else {
            panic!()
        };
        assert_eq!((s.persistent(), s.timeout), (true, 360));
        let Command::AddService(s) = p("-A -t 192.0.2.1:80 -p 600 -M 255.255.255.0").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.timeout, 600);
        assert_eq!(s.netmask, Netmask::V4("255.255.255.0".parse().unwrap()));
        let Command::AddService(s) = p("-A -t 192.0.2.1:80 -p60").unwrap() else {
            panic!()
        };
        assert_eq!(s.timeout, 60);
        let Command::AddService(s) =
            p("-A -t 192.0.2.1:0 -p -s sh -b sh-port,sh-fallback").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.flags, SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2);
    }

    #[test]
    fn add_dest_defaults_and_forced_port() {
        let Command::AddDest(svc, d) =
            p("-a -t 207.175.44.110:80 -r 192.168.10.1 -m -w 2").unwrap()
        else {
            panic!()
        };
        assert_eq!(svc, tcp("207.175.44.110", 80));
        assert_eq!((d.port, d.fwd, d.weight), (80, Fwd::Masq, 2));
        // -g forces the service port.
        let Command::AddDest(_, d) = p("-a -t 192.0.2.1:80 -r 192.0.2.2:8080 -g").unwrap() else {
            panic!()
        };
        assert_eq!((d.port, d.fwd), (80, Fwd::Route));
        // -m keeps it.
        let Command::AddDest(_, d) = p("-a -t 192.0.2.1:80 -r 192.0.2.2:8080 -m").unwrap() else {
            panic!()
        };
        assert_eq!(d.port, 8080);
    }

    #[test]
    fn list_options_cluster() {
        assert_eq!(
            p("-Ln").unwrap(),
            Command::List(
                ListTarget::All,
                ListFormat {
                    numeric: true,
                    ..Default::default()
                }
            )
        );
        assert_eq!(
            p("-L -n --stats --exact").unwrap(),
            Command::List(
                ListTarget::All,
                ListFormat {
                    numeric: true,
                    stats: true,
                    exact: true,
                    ..Default::default()
                }
            )
        );
        assert_eq!(
            p("-L --timeout").unwrap(),
            Command::List(ListTarget::Timeouts, ListFormat::default())
        );
        assert_eq!(
            p("-Sn").unwrap(),
            Command::Save(ListFormat {
                numeric: true,
                rule: true,
                ..Default::default()
            })
        );
        assert!(p("-L --timeout --stats").is_err());
        assert!(p("-L --daemon --timeout").is_err());
    }

    #[test]
    fn set_needs_three_values() {
        assert_eq!(
            p("--set 900 120 300").unwrap(),
            Command::SetTimeouts(Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            })
        );
        assert!(p("--set 900 120").is_err());
        assert!(p("--set 900 120 x").is_err());
    }

    #[test]
    fn the_documents_typo_gets_a_hint() {
        let e = p("-a -t 192.168.0.1:80 -R 192.168.0.11:80 -m").unwrap_err();
        assert!(e.message.contains("multiple commands"), "{e}");
        let hint = e.hint.unwrap();
        assert!(hint.contains("-r 192.168.0.11:80"), "{hint}");
    }

    #[test]
    fn table_rules_and_messages() {
        let e = p("-a -t 192.0.2.1:80").unwrap_err();
        assert!(e.message.contains("'real-server'"), "{e}");
        let e = p("-A -t 192.0.2.1:80 -w 3").unwrap_err();
        assert!(e.message.contains("Illegal 'weight'"), "{e}");
        let e = p("-A -t 192.0.2.1").unwrap_err();
        assert!(e.message.contains("Zero port"), "{e}");
        let e = p("-A -t 192.0.2.1:80 -o").unwrap_err();
        assert!(e.message.contains("One-Packet"), "{e}");
        assert!(p("-A -u 192.0.2.1:53 -o").is_ok());
        let e = p("-a -t 192.0.2.1:80 -r 192.0.2.2 -w 70000").unwrap_err();
        assert!(
            e.message.contains("weight") && e.message.contains("0..65535"),
            "{e}"
        );
        let e = p("-a -t 192.0.2.1:80 -r 2001:db8::1 -m").unwrap_err();
        assert!(e.message.contains("Different address family"), "{e}");
        assert!(p("-a -t 192.0.2.1:80 -r [2001:db8::1]:80 -i").is_ok());
        let e = p("-A -t 192.0.2.1:80 -s rr -b sh-port").unwrap_err();
        assert!(e.message.contains("incompatible"), "{e}");
        let e = p("-A -f 1 -t 192.0.2.1:80").unwrap_err();
        assert!(e.message.contains("multiple 'service-address'"), "{e}");
        let e = p("-A -6 -f 1").unwrap_err();
        assert!(e.message.contains("-6 used before -f"), "{e}");
        let e = p("-L --stat").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `--stats`?"));
        let e = p("-x 5").unwrap_err();
        assert!(e.message.contains("no command"), "{e}");
    }

    #[test]
    fn tunnels() {
        let Command::AddDest(_, d) =
            p("-a -t 192.0.2.1:80 -r 192.0.2.2 -i --tun-type gue --tun-port 6080 --tun-remcsum")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (d.tun_type, d.tun_port, d.tun_csum),
            (TunType::Gue, 6080, TunCsum::RemCsum)
        );
        assert!(p("-a -t 192.0.2.1:80 -r 192.0.2.2 -i --tun-type gue").is_err());
        assert!(p("-a -t 192.0.2.1:80 -r 192.0.2.2 -i --tun-type gre --tun-remcsum").is_err());
        assert!(p("-a -t 192.0.2.1:80 -r 192.0.2.2 -m --tun-type gre").is_err());
        assert!(p("-a -t 192.0.2.1:80 -r 192.0.2.2 -i --tun-type ipip --tun-csum").is_err());
    }

    #[test]
    fn ipv6_and_fwmark() {
        let Command::AddService(s) = p("-A -f 7 -6 -p -M 64").unwrap() else {
            panic!()
        };
        assert_eq!(
            s.svc,
            Svc::Fwmark {
                mark: 7,
                ipv6: true
            }
        );
        assert_eq!(s.netmask, Netmask::V6(64));
        let Command::AddService(s) = p("-A -u [2001:db8::1]:53 -s rr").unwrap() else {
            panic!()
        };
        assert!(s.svc.is_ipv6());
        assert!(p("-A -t [2001:db8::1] -s rr").is_err());
        assert!(p("-A -f 0").is_err());
    }

    #[test]
    fn names_resolve_through_files() {
        let files = Files::from_texts("192.0.2.7 web\n", "http 80/tcp\n");
        let args: Vec<String> = "-A -t web:http".split(' ').map(str::to_string).collect();
        let Command::AddService(s) = parse(&args, &files).unwrap() else {
            panic!()
        };
        assert_eq!(s.svc, tcp("192.0.2.7", 80));
    }

    #[test]
    fn restore_lines() {
        assert_eq!(restore_tokens("  # nothing"), None);
        assert_eq!(
            restore_tokens("ipvsadm -A -t 192.0.2.1:80 # web").unwrap(),
            vec!["-A", "-t", "192.0.2.1:80"]
        );
        let e = p("-R 192.0.2.1").unwrap_err();
        assert!(e.hint.unwrap().contains("-r 192.0.2.1"));
    }
}
