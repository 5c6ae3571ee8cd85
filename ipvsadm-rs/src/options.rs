// SPDX-License-Identifier: MIT OR Apache-2.0
//! The options pass: ipvsadm's `parse_options` and `generic_opt_check`.
//!
//! lexopt splits the arguments (`-Ln`, `-p360`, `--netmask=64`, `-t=ADDR`);
//! on top of it this pass keeps popt's rules as ipvsadm 1.31 meets them:
//! the first option must be the command, an option's value may begin with
//! `-` (but `-p`'s optional one may not), and each failure has ipvsadm's
//! words and status, in the order ipvsadm finds them: while reading, each
//! option is checked for repeats and its value for range and syntax; then
//! come `--set`'s three values, stray arguments, `-b`'s flags, and the
//! table of options each command allows.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs::ipvs_sys::Protocol;
use ipvs::{
    DaemonRole, Destination, Family, Forwarding, PersistenceNetmask, SchedulerFlags, ServiceKey,
    SyncDaemon, Tunnel,
};

use crate::failure::Failure;
use crate::names::{Resolver, protocol_name};
use crate::value::{self, FlagError};

/// ipvsadm's `MAX_TIMEOUT`: 31 days, the limit of `-p` and `--set`.
pub const IPVSADM_MAX_TIMEOUT: i64 = 86400 * 31;
/// The limit of weights and thresholds: the kernel keeps them in an `int`.
const INT_MAX: i64 = i32::MAX as i64;
/// `IPVS_SVC_PERSISTENT_TIMEOUT`: `-p` without a value.
const DEFAULT_PERSISTENCE: u32 = 360;
/// `IP_VS_SCHEDNAME_MAXLEN - 1`, `IP_VS_IFNAME_MAXLEN - 1`: ipvsadm cuts
/// longer scheduler and interface names (`strncpy`).
const NAME_MAX: usize = 15;

/// ipvsadm's commands (`CMD_*`), in the order of its table's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `-A`
    AddService,
    /// `-E`
    EditService,
    /// `-D`
    DeleteService,
    /// `-C`
    Flush,
    /// `-L`, `-l`
    List,
    /// `-a` (ipvsadm's "add-server")
    AddDestination,
    /// `-d`
    DeleteDestination,
    /// `-e`
    EditDestination,
    /// `--set`
    SetTimeouts,
    /// `--start-daemon`
    StartDaemon,
    /// `--stop-daemon`
    StopDaemon,
    /// `-R`
    Restore,
    /// `-S`
    Save,
    /// `-Z`
    Zero,
}

impl Cmd {
    /// ipvsadm's name for it in messages (`cmdnames`).
    pub fn name(self) -> &'static str {
        [
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
        ][self as usize]
    }
}

/// The options ipvsadm tracks (`OPTC_*`), in the order of its table's
/// columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    McastInterface,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    SyncId,
    Exact,
    OnePacket,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
}

/// ipvsadm's names of the options in messages (`optnames`), by column.
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

/// ipvsadm's `commands_v_options`, a row per command, a column per option:
/// `+` compulsory, `x` illegal, `1` at most one of these, ` ` optional.
const COMMAND_TABLE: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // -A
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // -E
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // -D
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // -C
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // -L
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // -a
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // -d
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // -e
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // --set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // --start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // --stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // -R
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // -S
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // -Z
];

/// ipvsadm's `tunnel_types_v_options` (ipip, gue, gre) over `--tun-port`,
/// `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
const TUNNEL_TABLE: [(&str, &[u8; 4]); 3] = [("ipip", b"xxxx"), ("gue", b"+111"), ("gre", b"x11x")];
const TUNNEL_OPTS: [Opt; 4] = [Opt::TunPort, Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum];

/// The options given: ipvsadm's `options` bit set, a bit per [`Opt`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Given(u64);

impl Given {
    /// True if `opt` was given.
    pub fn has(self, opt: Opt) -> bool {
        self.has_column(opt as usize)
    }

    fn has_column(self, column: usize) -> bool {
        self.0 & (1 << column) != 0
    }

    /// ipvsadm's `set_option`: each option at most once.
    fn insert(&mut self, opt: Opt) -> Result<(), Failure> {
        if self.has(opt) {
            return Err(Failure::usage(format!(
                "multiple '{}' options specified",
                OPT_NAMES[opt as usize]
            )));
        }
        self.0 |= 1 << opt as usize;
        Ok(())
    }
}

/// What an option of ipvsadm's popt table does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Command(Cmd),
    Help,
    Version,
    /// `-t`, `-u`, `--sctp-service`.
    Service(Protocol),
    /// `-f`
    Fwmark,
    /// `-m`, `-g`, `-i`
    Forward(Forwarding),
    /// `-6`
    Ipv6,
    /// `--sort`: accepted and ignored, as ipvsadm does.
    Sort,
    /// Any other: the option of that column.
    Opt(Opt),
}

impl Key {
    /// The column `set_option` marks for it.
    fn column(self) -> Option<Opt> {
        match self {
            Key::Service(_) | Key::Fwmark => Some(Opt::Service),
            Key::Forward(_) => Some(Opt::Forward),
            Key::Opt(opt) => Some(opt),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arity {
    Flag,
    Value,
    /// `-p [timeout]`
    OptionalValue,
}

/// One entry of ipvsadm's popt table.
struct Spec {
    short: Option<char>,
    long: &'static str,
    arity: Arity,
    key: Key,
}

const fn spec(short: Option<char>, long: &'static str, arity: Arity, key: Key) -> Spec {
    Spec {
        short,
        long,
        arity,
        key,
    }
}

use Arity::{Flag, OptionalValue, Value};

/// ipvsadm's popt table.
const SPECS: &[Spec] = &[
    spec(
        Some('A'),
        "add-service",
        Flag,
        Key::Command(Cmd::AddService),
    ),
    spec(
        Some('E'),
        "edit-service",
        Flag,
        Key::Command(Cmd::EditService),
    ),
    spec(
        Some('D'),
        "delete-service",
        Flag,
        Key::Command(Cmd::DeleteService),
    ),
    spec(Some('C'), "clear", Flag, Key::Command(Cmd::Flush)),
    spec(Some('L'), "list", Flag, Key::Command(Cmd::List)),
    spec(Some('l'), "list", Flag, Key::Command(Cmd::List)),
    spec(Some('Z'), "zero", Flag, Key::Command(Cmd::Zero)),
    spec(
        Some('a'),
        "add-server",
        Flag,
        Key::Command(Cmd::AddDestination),
    ),
    spec(
        Some('e'),
        "edit-server",
        Flag,
        Key::Command(Cmd::EditDestination),
    ),
    spec(
        Some('d'),
        "delete-server",
        Flag,
        Key::Command(Cmd::DeleteDestination),
    ),
    spec(None, "set", Flag, Key::Command(Cmd::SetTimeouts)),
    spec(Some('h'), "help", Flag, Key::Help),
    spec(Some('v'), "version", Flag, Key::Version),
    spec(Some('R'), "restore", Flag, Key::Command(Cmd::Restore)),
    spec(Some('S'), "save", Flag, Key::Command(Cmd::Save)),
    spec(None, "start-daemon", Value, Key::Command(Cmd::StartDaemon)),
    spec(None, "stop-daemon", Value, Key::Command(Cmd::StopDaemon)),
    spec(Some('t'), "tcp-service", Value, Key::Service(Protocol::Tcp)),
    spec(Some('u'), "udp-service", Value, Key::Service(Protocol::Udp)),
    spec(None, "sctp-service", Value, Key::Service(Protocol::Sctp)),
    spec(Some('f'), "fwmark-service", Value, Key::Fwmark),
    spec(Some('s'), "scheduler", Value, Key::Opt(Opt::Scheduler)),
    spec(
        Some('p'),
        "persistent",
        OptionalValue,
        Key::Opt(Opt::Persistent),
    ),
    spec(Some('M'), "netmask", Value, Key::Opt(Opt::Netmask)),
    spec(Some('r'), "real-server", Value, Key::Opt(Opt::RealServer)),
    spec(
        Some('m'),
        "masquerading",
        Flag,
        Key::Forward(Forwarding::Masquerade),
    ),
    spec(
        Some('i'),
        "ipip",
        Flag,
        Key::Forward(Forwarding::Tunnel(Tunnel::Ipip)),
    ),
    spec(
        Some('g'),
        "gatewaying",
        Flag,
        Key::Forward(Forwarding::DirectRoute),
    ),
    spec(Some('w'), "weight", Value, Key::Opt(Opt::Weight)),
    spec(Some('x'), "u-threshold", Value, Key::Opt(Opt::UThreshold)),
    spec(Some('y'), "l-threshold", Value, Key::Opt(Opt::LThreshold)),
    spec(Some('n'), "numeric", Flag, Key::Opt(Opt::Numeric)),
    spec(Some('c'), "connection", Flag, Key::Opt(Opt::Connection)),
    spec(
        None,
        "mcast-interface",
        Value,
        Key::Opt(Opt::McastInterface),
    ),
    spec(None, "syncid", Value, Key::Opt(Opt::SyncId)),
    spec(None, "timeout", Flag, Key::Opt(Opt::Timeout)),
    spec(None, "daemon", Flag, Key::Opt(Opt::Daemon)),
    spec(None, "stats", Flag, Key::Opt(Opt::Stats)),
    spec(None, "rate", Flag, Key::Opt(Opt::Rate)),
    spec(None, "thresholds", Flag, Key::Opt(Opt::Thresholds)),
    spec(None, "persistent-conn", Flag, Key::Opt(Opt::PersistentConn)),
    spec(None, "nosort", Flag, Key::Opt(Opt::NoSort)),
    spec(None, "sort", Flag, Key::Sort),
    spec(Some('X'), "exact", Flag, Key::Opt(Opt::Exact)),
    spec(Some('6'), "ipv6", Flag, Key::Ipv6),
    spec(Some('o'), "ops", Flag, Key::Opt(Opt::OnePacket)),
    spec(None, "pe", Value, Key::Opt(Opt::Pe)),
    spec(Some('b'), "sched-flags", Value, Key::Opt(Opt::SchedFlags)),
    spec(None, "mcast-group", Value, Key::Opt(Opt::McastGroup)),
    spec(None, "mcast-port", Value, Key::Opt(Opt::McastPort)),
    spec(None, "mcast-ttl", Value, Key::Opt(Opt::McastTtl)),
    spec(None, "sync-maxlen", Value, Key::Opt(Opt::SyncMaxlen)),
    spec(None, "tun-info", Flag, Key::Opt(Opt::TunInfo)),
    spec(None, "tun-type", Value, Key::Opt(Opt::TunType)),
    spec(None, "tun-port", Value, Key::Opt(Opt::TunPort)),
    spec(None, "tun-nocsum", Flag, Key::Opt(Opt::TunNoCsum)),
    spec(None, "tun-csum", Flag, Key::Opt(Opt::TunCsum)),
    spec(None, "tun-remcsum", Flag, Key::Opt(Opt::TunRemCsum)),
];

/// One command line as ipvsadm reads it, value by value, with ipvsadm's
/// defaults where an option was not given.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The command (the first option).
    pub command: Cmd,
    /// Which options were given.
    pub given: Given,
    /// `-t`/`-u`/`--sctp-service ADDR[:PORT]` or `-f MARK [-6]`.
    pub service: Option<ServiceKey>,
    /// `-s`, cut to 15 bytes; empty if not given (ipvsadm then uses wlc).
    pub scheduler: String,
    /// `-p [TIMEOUT]`.
    pub persistence: Option<u32>,
    /// `-M`; `None` is the host mask (/32, /128).
    pub netmask: Option<PersistenceNetmask>,
    /// `--pe`.
    pub persistence_engine: Option<String>,
    /// `-b`.
    pub scheduler_flags: SchedulerFlags,
    /// `-r`, its port defaulting to the service's.
    pub real_server: Option<SocketAddr>,
    /// The real server's settings: `-m`, `-g` (the default) or `-i` (its
    /// tunnel filled in from `--tun-*` by the builder), `-w` (1 by
    /// default), `-x`, `-y`. Its address is a placeholder: `-r`'s is
    /// `real_server`.
    pub destination: Destination,
    /// `--tun-type`: ipip (the default), gue or gre, before its port and
    /// checksum are filled in.
    pub tunnel: Tunnel,
    /// `--tun-port`.
    pub tunnel_port: u16,
    /// The sync daemon: the role given to `--start-daemon` or
    /// `--stop-daemon` (master for other commands), `--mcast-interface`
    /// cut to 15 bytes (empty if not given: the builder makes it eth0),
    /// `--syncid` (0 by default), `--mcast-group`, `--mcast-port`,
    /// `--mcast-ttl`, `--sync-maxlen`.
    pub daemon: SyncDaemon,
    /// `--set TCP TCPFIN UDP`, seconds (0: unchanged).
    pub timeouts: [u32; 3],
    /// `-b`'s text, read once the scheduler is known.
    sched_flags_text: Option<String>,
}

/// What a command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// `-h`: ipvsadm prints its usage and ignores the rest.
    Help,
    /// `-v`: likewise, the version.
    Version,
    /// Any command, with its options.
    Options(Box<Options>),
}

/// Reads one command line (without the program name). `program` names the
/// program in `Try ... -h`, as ipvsadm's `argv[0]` does.
pub fn parse(args: Vec<OsString>, program: &str, names: &dyn Resolver) -> Result<Parsed, Failure> {
    let mut args = Args::new(args);
    let mut leftovers = Vec::new();
    let (command, role) = match command(&mut args, &mut leftovers, program)? {
        First::Command(command, role) => (command, role),
        First::Help => return Ok(Parsed::Help),
        First::Version => return Ok(Parsed::Version),
    };
    let mut options = Options::new(command, role.as_deref())?;
    while let Some(item) = args.next()? {
        let spec = match item {
            Item::Value(arg) => {
                leftovers.push(arg);
                continue;
            }
            Item::Option(spelled, None) => {
                let failure = Failure::refused(format!("{}: unknown option", args.token));
                return Err(match unknown_hint(&spelled) {
                    Some(hint) => failure.detail(hint),
                    None => failure,
                });
            }
            Item::Option(_, Some(spec)) => spec,
        };
        let value = match spec.arity {
            Flag => None,
            Value => Some(args.value()?),
            OptionalValue => args.optional_value(),
        };
        match spec.key {
            Key::Command(_) | Key::Help | Key::Version => {
                let hint = misplaced_command_hint(spec, args.peek());
                let failure = Failure::usage(format!("invalid option `{}'", args.token));
                return Err(failure.detail(hint));
            }
            key => options.take(key, value.as_deref(), names)?,
        }
    }
    options.finish(leftovers)?;
    Ok(Parsed::Options(Box::new(options)))
}

/// What the first option says.
enum First {
    Help,
    Version,
    /// The command, and the argument of `--start-daemon`/`--stop-daemon`.
    Command(Cmd, Option<String>),
}

/// ipvsadm's first `poptGetNextOpt`: the first option must be the command
/// (or `-h`, `-v`); anything else, or an error of popt's, is `Try ... -h`.
/// Arguments before it are kept as leftovers, as popt keeps them.
fn command(args: &mut Args, leftovers: &mut Vec<String>, program: &str) -> Result<First, Failure> {
    let try_help = || {
        Failure::try_help(program).detail(
            "the command comes first: one of -A -E -D -C -L -a -e -d -Z -R -S --set \
             --start-daemon --stop-daemon, or -h",
        )
    };
    loop {
        let spec = match args.next().map_err(|_| try_help())? {
            None => return Err(try_help()),
            Some(Item::Value(arg)) => {
                leftovers.push(arg);
                continue;
            }
            Some(Item::Option(_, spec)) => spec.ok_or_else(try_help)?,
        };
        return match (spec.key, spec.arity) {
            (Key::Help, _) => Ok(First::Help),
            (Key::Version, _) => Ok(First::Version),
            (Key::Command(cmd), Value) => {
                let role = args.value().map_err(|_| try_help())?;
                Ok(First::Command(cmd, Some(role)))
            }
            (Key::Command(cmd), _) => Ok(First::Command(cmd, None)),
            _ => Err(try_help()),
        };
    }
}

impl Options {
    fn new(command: Cmd, role: Option<&str>) -> Result<Self, Failure> {
        let role = match (command, role) {
            (_, None | Some("master")) => DaemonRole::Master,
            (_, Some("backup")) => DaemonRole::Backup,
            (Cmd::StartDaemon, _) => {
                return Err(Failure::usage("illegal start-daemon parameter specified"));
            }
            _ => return Err(Failure::usage("illegal start_daemon specified")),
        };
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Ok(Options {
            command,
            given: Given::default(),
            service: None,
            scheduler: String::new(),
            persistence: None,
            netmask: None,
            persistence_engine: None,
            scheduler_flags: SchedulerFlags::empty(),
            real_server: None,
            destination: Destination::new(unspecified, Forwarding::DirectRoute),
            tunnel: Tunnel::Ipip,
            tunnel_port: 0,
            daemon: SyncDaemon::new(role, "", 0),
            timeouts: [0; 3],
            sched_flags_text: None,
        })
    }

    /// One option after the command, as ipvsadm's loop takes it: a repeat
    /// is refused first, then the value.
    fn take(&mut self, key: Key, value: Option<&str>, names: &dyn Resolver) -> Result<(), Failure> {
        if let Some(column) = key.column() {
            self.given.insert(column)?;
        }
        let text = value.unwrap_or_default();
        match key {
            Key::Service(protocol) => self.service_address(protocol, text, names),
            Key::Fwmark => {
                let mark = value::number(text, 1, u32::MAX.into()).ok_or_else(|| {
                    Failure::usage(format!("invalid fwmark value `{text}' specified"))
                })?;
                self.service = Some(ServiceKey::fwmark(mark as u32));
                Ok(())
            }
            Key::Forward(forwarding) => {
                self.destination.forwarding = forwarding;
                Ok(())
            }
            Key::Ipv6 => match self.service {
                Some(ServiceKey::Fwmark { mark, .. }) => {
                    self.service = Some(ServiceKey::fwmark6(mark));
                    self.netmask = None;
                    Ok(())
                }
                _ => Err(Failure::usage("-6 used before -f")),
            },
            Key::Opt(opt) => self.take_value(opt, value, names),
            Key::Sort | Key::Command(_) | Key::Help | Key::Version => Ok(()),
        }
    }

    /// `-t`, `-u`, `--sctp-service`: an IPv6 address resets the netmask to
    /// /128, as ipvsadm's `parse_service` does.
    fn service_address(
        &mut self,
        protocol: Protocol,
        text: &str,
        names: &dyn Resolver,
    ) -> Result<(), Failure> {
        let parsed = value::host_port(text, protocol_name(protocol), names)
            .ok_or_else(|| Failure::usage("illegal virtual server address[:port] specified"))?;
        let port = parsed.port.unwrap_or_else(|| self.service_port());
        if parsed.addr.is_ipv6() {
            self.netmask = None;
        }
        self.service = Some(ServiceKey::Addr {
            protocol,
            addr: SocketAddr::new(parsed.addr, port),
        });
        Ok(())
    }

    /// The service's port so far (0 for none or a fwmark).
    fn service_port(&self) -> u16 {
        match self.service {
            Some(ServiceKey::Addr { addr, .. }) => addr.port(),
            _ => 0,
        }
    }

    /// The service's protocol so far, for port names (ipvsadm gives a
    /// fwmark service TCP).
    fn service_protocol(&self) -> Option<&'static str> {
        match self.service {
            Some(ServiceKey::Addr { protocol, .. }) => protocol_name(protocol),
            Some(_) => Some("tcp"),
            None => None,
        }
    }

    fn service_is_ipv6(&self) -> bool {
        self.service.is_some_and(|s| s.family() == Family::Ipv6)
    }

    /// An option of the checked columns other than the service and the
    /// forwarding method.
    fn take_value(
        &mut self,
        opt: Opt,
        value: Option<&str>,
        names: &dyn Resolver,
    ) -> Result<(), Failure> {
        let text = value.unwrap_or_default();
        let ranged = |min: i64, max: i64, what: &str| {
            value::number(text, min, max)
                .ok_or_else(|| Failure::usage(format!("illegal {what} specified")))
        };
        match opt {
            Opt::Scheduler => self.scheduler = cut(text),
            Opt::Persistent => {
                self.persistence = Some(match value {
                    None => DEFAULT_PERSISTENCE,
                    Some(text) => timeout(text, 1)?,
                })
            }
            Opt::Netmask => self.netmask = Some(self.netmask(text, names)?),
            Opt::RealServer => {
                let parsed =
                    value::host_port(text, self.service_protocol(), names).ok_or_else(|| {
                        Failure::usage("illegal real server address[:port] specified")
                    })?;
                let port = parsed.port.unwrap_or_else(|| self.service_port());
                self.real_server = Some(SocketAddr::new(parsed.addr, port));
            }
            Opt::Weight => self.destination.weight = ranged(0, INT_MAX, "weight")? as u32,
            Opt::UThreshold => {
                self.destination.upper_threshold = ranged(0, INT_MAX, "u_threshold")? as u32
            }
            Opt::LThreshold => {
                self.destination.lower_threshold = ranged(0, INT_MAX, "l_threshold")? as u32
            }
            Opt::McastInterface => self.daemon.interface = cut(text),
            Opt::SyncId => self.daemon.sync_id = ranged(0, 255, "syncid")? as u8,
            Opt::Pe => self.persistence_engine = Some(text.to_owned()),
            Opt::SchedFlags => self.sched_flags_text = Some(text.to_owned()),
            Opt::McastGroup => self.daemon.mcast_group = Some(mcast_group(text)?),
            Opt::McastPort => self.daemon.mcast_port = Some(ranged(1, 65535, "mcast-port")? as u16),
            Opt::McastTtl => self.daemon.mcast_ttl = Some(ranged(1, 255, "mcast-ttl")? as u8),
            Opt::SyncMaxlen => {
                // The largest UDP payload: 65535 less the IP and UDP headers.
                self.daemon.max_len = Some(ranged(1, 65535 - 20 - 8, "sync-maxlen")? as u16)
            }
            Opt::TunType => {
                self.tunnel = match text {
                    "ipip" => Tunnel::Ipip,
                    "gue" => Tunnel::Gue {
                        port: 0,
                        checksum: Default::default(),
                    },
                    "gre" => Tunnel::Gre {
                        checksum: Default::default(),
                    },
                    _ => return Err(Failure::usage("illegal tunnel type specified")),
                }
            }
            Opt::TunPort => self.tunnel_port = ranged(1, 65535, "tunnel port")? as u16,
            // Flags whose meaning is that they were given.
            _ => {}
        }
        Ok(())
    }

    /// `-M`: an IPv6 prefix length (read by `atoi`) if the service so far
    /// is IPv6, else an IPv4 mask.
    fn netmask(&self, text: &str, names: &dyn Resolver) -> Result<PersistenceNetmask, Failure> {
        if self.service_is_ipv6() {
            u8::try_from(value::atoi(text))
                .ok()
                .filter(|prefix| (1..=128).contains(prefix))
                .map(PersistenceNetmask::Ipv6)
                .ok_or_else(|| Failure::usage("illegal ipv6 netmask specified"))
        } else {
            value::netmask4(text, names)
                .map(PersistenceNetmask::Ipv4)
                .ok_or_else(|| Failure::usage("illegal virtual server persistent mask specified"))
        }
    }

    /// What ipvsadm checks after reading every option: `--set`'s values,
    /// stray arguments, `-b`, then the command's table row.
    fn finish(&mut self, leftovers: Vec<String>) -> Result<(), Failure> {
        let mut leftovers = leftovers.into_iter();
        if self.command == Cmd::SetTimeouts {
            let values: Vec<String> = leftovers.by_ref().take(3).collect();
            if values.len() < 3 {
                return Err(Failure::usage("--set option requires 3 timeout values"));
            }
            for (slot, text) in self.timeouts.iter_mut().zip(&values) {
                *slot = timeout(text, 0)?;
            }
        }
        if let Some(extra) = leftovers.next() {
            return Err(Failure::usage(format!("unexpected argument {extra}")));
        }
        if let Some(text) = self.sched_flags_text.take().filter(|t| !t.is_empty()) {
            let scheduler = if self.scheduler.is_empty() {
                "wlc"
            } else {
                &self.scheduler
            };
            self.scheduler_flags = value::sched_flags(scheduler, &text).map_err(|e| {
                Failure::usage(match e {
                    FlagError::Invalid(flag) => format!("invalid scheduler flag `{flag}'"),
                    FlagError::Incompatible(flag) => {
                        format!("incompatible scheduler flag `{flag}'")
                    }
                })
            })?;
        }
        let row = COMMAND_TABLE[self.command as usize];
        let what = format!("'{}' command", self.command.name());
        check_rules(row, &what, |j| (self.given.has_column(j), OPT_NAMES[j]))
    }

    /// ipvsadm's `tunnel_opt_check`: the `--tun-*` options the tunnel type
    /// needs and allows.
    pub fn check_tunnel_options(&self) -> Result<(), Failure> {
        let kind = match self.tunnel {
            Tunnel::Gue { .. } => 1,
            Tunnel::Gre { .. } => 2,
            _ => 0,
        };
        let (name, row) = TUNNEL_TABLE[kind];
        let what = format!("'{name}' tunnel type");
        check_rules(row, &what, |j| {
            let opt = TUNNEL_OPTS[j];
            (self.given.has(opt), OPT_NAMES[opt as usize])
        })
    }
}

/// Checks a row of one of ipvsadm's option tables; `column(j)` says whether
/// the option of column `j` was given, and its name.
fn check_rules(
    row: &[u8],
    what: &str,
    column: impl Fn(usize) -> (bool, &'static str),
) -> Result<(), Failure> {
    let mut exclusive = None;
    for (j, rule) in row.iter().enumerate() {
        let (given, name) = column(j);
        match (rule, given) {
            (b'+', false) => {
                return Err(Failure::usage(format!(
                    "You need to supply the '{name}' option for the {what}"
                )));
            }
            (b'x', true) => {
                return Err(Failure::usage(format!(
                    "Illegal '{name}' option with the {what}"
                )));
            }
            (b'1', true) => match exclusive {
                None => exclusive = Some(name),
                Some(first) => {
                    return Err(Failure::usage(format!(
                        "The option '{name}' conflicts with the '{first}' option in the {what}"
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// What an option ipvsadm does not know was probably meant to be: the
/// other case of a short option, or a long name a letter or two away.
fn unknown_hint(spelled: &Spelled) -> Option<String> {
    match spelled {
        Spelled::Short(c) => {
            let other = if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            let spec = SPECS.iter().find(|s| s.short == Some(other))?;
            Some(format!("did you mean `-{other}` (--{})?", spec.long))
        }
        Spelled::Long(name) => {
            let (distance, closest) = SPECS
                .iter()
                .map(|s| (edit_distance(name, s.long), s.long))
                .min()?;
            (distance <= 2).then(|| format!("did you mean `--{closest}`?"))
        }
    }
}

/// Why a command among the options is refused, and what was probably
/// meant: `-R` for `-r`, `-S` for `-s`, or a second command.
fn misplaced_command_hint(spec: &Spec, next: Option<String>) -> String {
    let lower = spec.short.filter(|c| c.is_ascii_uppercase()).and_then(|c| {
        SPECS
            .iter()
            .find(|s| s.short == Some(c.to_ascii_lowercase()) && s.arity == Value)
    });
    match (lower, spec.short) {
        (Some(meant), Some(given)) => format!(
            "did you mean `-{}{}` (--{})? `-{given}` is the {} command, and the command comes first",
            meant.short.unwrap_or(given),
            next.map(|n| format!(" {n}")).unwrap_or_default(),
            meant.long,
            spec.long,
        ),
        (_, Some(given)) => format!(
            "`-{given}` (--{}) is a command: a command line holds one, and it comes first",
            spec.long
        ),
        (_, None) => format!(
            "`--{}` is a command: a command line holds one, and it comes first",
            spec.long
        ),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            row.push(substitute.min(previous[j + 1] + 1).min(row[j] + 1));
        }
        previous = row;
    }
    previous[b.len()]
}

/// ipvsadm's `parse_timeout` for `-p` (from 1) and `--set` (from 0).
fn timeout(text: &str, min: i64) -> Result<u32, Failure> {
    value::number(text, min, IPVSADM_MAX_TIMEOUT)
        .map(|t| t as u32)
        .ok_or_else(|| Failure::usage(format!("invalid timeout value `{text}' specified")))
}

/// `--mcast-group`: IPv6 if it has a colon, else IPv4 (`inet_pton`, not
/// `inet_aton`); multicast either way.
fn mcast_group(text: &str) -> Result<IpAddr, Failure> {
    let (group, family): (Option<IpAddr>, _) = if text.contains(':') {
        (text.parse::<Ipv6Addr>().ok().map(IpAddr::from), "IPv6")
    } else {
        (text.parse::<Ipv4Addr>().ok().map(IpAddr::from), "IPv4")
    };
    group
        .filter(IpAddr::is_multicast)
        .ok_or_else(|| Failure::usage(format!("invalid {family} mcast-group `{text}'")))
}

/// `strncpy` into ipvsadm's 16-byte name buffers: at most 15 bytes.
fn cut(text: &str) -> String {
    let mut end = text.len().min(NAME_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// lexopt's parser, remembering the argument popt would name: the one the
/// current option came from (`-LQ: unknown option`), or the value it took
/// from the next argument (invalid option `master').
struct Args {
    parser: lexopt::Parser,
    token: String,
}

enum Item {
    /// An option, and its entry in ipvsadm's table if it has one.
    Option(Spelled, Option<&'static Spec>),
    /// An argument that is not an option.
    Value(String),
}

/// How an option was written: `-x` or `--name`.
enum Spelled {
    Short(char),
    Long(String),
}

fn lossy(arg: OsString) -> String {
    arg.to_string_lossy().into_owned()
}

impl Args {
    fn new(args: Vec<OsString>) -> Self {
        Args {
            parser: lexopt::Parser::from_args(args),
            token: String::new(),
        }
    }

    /// Notes the next argument as the current one, unless the parser is
    /// still inside the current one (`-Ln`, `--opt=value`).
    fn note_token(&mut self) {
        if let Some(next) = self
            .parser
            .try_raw_args()
            .and_then(|raw| raw.peek().map(|a| a.to_owned()))
        {
            self.token = lossy(next);
        }
    }

    fn next(&mut self) -> Result<Option<Item>, Failure> {
        self.note_token();
        match self.parser.next() {
            Ok(None) => Ok(None),
            Ok(Some(lexopt::Arg::Value(arg))) => Ok(Some(Item::Value(lossy(arg)))),
            Ok(Some(lexopt::Arg::Short(c))) => {
                let spec = SPECS.iter().find(|s| s.short == Some(c));
                Ok(Some(Item::Option(Spelled::Short(c), spec)))
            }
            Ok(Some(lexopt::Arg::Long(name))) => {
                let spec = SPECS.iter().find(|s| s.long == name);
                Ok(Some(Item::Option(Spelled::Long(name.to_owned()), spec)))
            }
            Err(_) => Err(Failure::refused(format!(
                "{}: option does not take an argument",
                self.token
            ))),
        }
    }

    /// The value of an option that needs one: attached, or the next
    /// argument whatever it looks like.
    fn value(&mut self) -> Result<String, Failure> {
        self.note_token();
        self.parser
            .value()
            .map(lossy)
            .map_err(|_| Failure::refused(format!("{}: missing argument", self.token)))
    }

    /// The next argument, if the current one is done with.
    fn peek(&mut self) -> Option<String> {
        let raw = self.parser.try_raw_args()?;
        raw.peek().map(|arg| arg.to_string_lossy().into_owned())
    }

    /// `-p`'s value: attached, or the next argument unless it begins with
    /// `-`.
    fn optional_value(&mut self) -> Option<String> {
        if let Some(attached) = self.parser.optional_value() {
            return Some(lossy(attached));
        }
        let mut raw = self.parser.try_raw_args()?;
        let next = raw.next_if(|arg| !arg.as_encoded_bytes().starts_with(b"-"))?;
        self.token = lossy(next);
        Some(self.token.clone())
    }
}
