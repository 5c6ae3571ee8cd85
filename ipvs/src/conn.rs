// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS connection table, `/proc/net/ip_vs_conn` (what `ipvsadm -L -c -n`
//! prints), parsed into typed entries.
//!
//! IPVS offers the table only as text, one line per connection, written by
//! `ip_vs_conn_seq_show` in the kernel's `net/netfilter/ipvs/ip_vs_conn.c`:
//!
//! ```text
//! Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//! TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 ESTABLISHED     899
//! UDP 2001:0db8:0000:0000:0000:0000:0000:0064 D431 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0001:0000:0000:0000:0000:000a 0035 UDP             299
//! ```
//!
//! IPv4 addresses are 8 hex digits in host order (`%08X`), IPv6 addresses
//! the uncompressed `%pI6` form; ports are hex (`%04X`); the destination
//! may be of the other family than the client and virtual address (an IPv4
//! service with an IPv6 tunnel destination). Expires counts whole seconds.
//! When a persistence engine (`ipvsadm --pe sip`) attached data, the line
//! ends with the engine's name and its data.
//!
//! The companion file `/proc/net/ip_vs_conn_sync` (`ip_vs_conn_sync_seq_show`)
//! has no PE columns but an `Origin` column (`LOCAL`, or `SYNC` for entries
//! the backup sync daemon created); [`parse_sync_connections`] reads it.
//!
//! Both files show the connections of the network namespace that *opened*
//! them. `/proc/net` is a link to `/proc/self/net`, the namespace of the
//! process's main thread, so this module reads `/proc/thread-self/net/…`:
//! [`read_connections`] sees the calling thread's namespace, which is what
//! the rest of this crate means by "the current namespace".
//!
//! ```no_run
//! for conn in ipvs::conn::read_connections()? {
//!     println!(
//!         "{} -> {} -> {} {} ({}s left)",
//!         conn.client,
//!         conn.virtual_addr,
//!         conn.destination,
//!         conn.state,
//!         conn.expires.as_secs()
//!     );
//! }
//! # Ok::<(), ipvs::conn::ConnReadError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::str::FromStr;
use std::time::Duration;

/// The transport protocol of a connection (`TCP`, `UDP`, `SCTP`; the kernel
/// prints `IP`, `ICMP`, `ICMPv6` or `IP_<number>` for others, which parse as
/// `Protocol::Other(number)`).
pub use ipvs_sys::Protocol;

use crate::netns;

/// The connection table of the calling thread's network namespace.
pub const CONN_TABLE_PATH: &str = "/proc/thread-self/net/ip_vs_conn";

/// The sync-origin view of the same table (see [`parse_sync_connections`]).
pub const CONN_SYNC_TABLE_PATH: &str = "/proc/thread-self/net/ip_vs_conn_sync";

/// One IPVS connection: a line of `/proc/net/ip_vs_conn`, a line of
/// `ipvsadm -L -c -n`.
///
/// `Display` writes the line the kernel writes (without a newline), so
/// `parse_connections(&format!("{HEADER}\n{conn}\n"))` gives `conn` back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The transport protocol (column `Pro`).
    pub protocol: Protocol,
    /// The client's address and port (`FromIP`, `FPrt`; ipvsadm's
    /// "source"). Port 0 in a persistence template.
    pub client: SocketAddr,
    /// The virtual service address and port (`ToIP`, `TPrt`; ipvsadm's
    /// "virtual").
    pub virtual_addr: SocketAddr,
    /// The real server the connection goes to (`DestIP`, `DPrt`; ipvsadm's
    /// "destination"). May be of the other IP family than `client`.
    pub destination: SocketAddr,
    /// The protocol state (`State`).
    pub state: ConnectionState,
    /// Time left until the entry expires, in whole seconds (`Expires`;
    /// ipvsadm's "expire", printed as mm:ss).
    pub expires: Duration,
    /// The persistence engine that attached data to the entry (`PEName`,
    /// e.g. `sip`), if any.
    pub pe_name: Option<String>,
    /// The engine's data (`PEData`, e.g. the SIP Call-ID), if any: the rest
    /// of the line after the engine's name.
    pub pe_data: Option<String>,
}

/// A line of `/proc/net/ip_vs_conn_sync`: a connection without PE columns,
/// and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncedConnection {
    /// The connection (`pe_name` and `pe_data` are always `None`: this
    /// table has no PE columns).
    pub connection: Connection,
    /// Whether this director scheduled it or the sync daemon created it.
    pub origin: ConnectionOrigin,
}

/// Where a connection entry came from (column `Origin` of
/// `/proc/net/ip_vs_conn_sync`, the kernel's `ip_vs_origin_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionOrigin {
    /// `LOCAL`: this director scheduled it.
    Local,
    /// `SYNC`: received from the master by the backup sync daemon
    /// (`IP_VS_CONN_F_SYNC`).
    Sync,
}

impl ConnectionOrigin {
    /// The kernel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionOrigin::Local => "LOCAL",
            ConnectionOrigin::Sync => "SYNC",
        }
    }
}

/// The state of a connection, by the name the kernel prints (each
/// protocol's `state_name` table in `net/netfilter/ipvs/ip_vs_proto_*.c`,
/// and `ip_vs_ctpl_state_name_table` for persistence templates).
///
/// Names are shared where the kernel shares them: `NONE` is the initial
/// TCP/SCTP state and an unassured template, `ESTABLISHED` is TCP's and
/// SCTP's. A name this crate does not know (including the kernel's `ERR!`,
/// `BUG!` and `?`) is kept in [`ConnectionState::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// `NONE` (`IP_VS_TCP_S_NONE`, `IP_VS_SCTP_S_NONE`, `IP_VS_CTPL_S_NONE`).
    None,
    /// `ESTABLISHED` (TCP and SCTP).
    Established,
    /// TCP `SYN_SENT`.
    SynSent,
    /// TCP `SYN_RECV`.
    SynRecv,
    /// TCP `FIN_WAIT`.
    FinWait,
    /// TCP `TIME_WAIT`.
    TimeWait,
    /// TCP `CLOSE`.
    Close,
    /// TCP `CLOSE_WAIT`.
    CloseWait,
    /// TCP `LAST_ACK`.
    LastAck,
    /// TCP `LISTEN`.
    Listen,
    /// TCP `SYNACK`.
    SynAck,
    /// `UDP`: UDP's only state (`IP_VS_UDP_S_NORMAL`).
    Udp,
    /// SCTP `INIT1`.
    Init1,
    /// SCTP `INIT`.
    Init,
    /// SCTP `C-SENT` (`IP_VS_SCTP_S_COOKIE_SENT`).
    CookieSent,
    /// SCTP `C-REPLIED`.
    CookieReplied,
    /// SCTP `C-WAIT`.
    CookieWait,
    /// SCTP `COOKIE`.
    Cookie,
    /// SCTP `C-ECHOED`.
    CookieEchoed,
    /// SCTP `S-SENT` (`IP_VS_SCTP_S_SHUTDOWN_SENT`).
    ShutdownSent,
    /// SCTP `S-RECEIVED`.
    ShutdownReceived,
    /// SCTP `S-ACK-SENT`.
    ShutdownAckSent,
    /// SCTP `REJECTED`.
    Rejected,
    /// SCTP `CLOSED`.
    Closed,
    /// `ASSURED`: a persistence template that saw traffic
    /// (`IP_VS_CTPL_S_ASSURED`).
    Assured,
    /// A name this crate does not know, as printed. Never one of the names
    /// above.
    Other(String),
}

impl ConnectionState {
    /// Every named state, for parsing.
    const NAMED: [ConnectionState; 25] = [
        ConnectionState::None,
        ConnectionState::Established,
        ConnectionState::SynSent,
        ConnectionState::SynRecv,
        ConnectionState::FinWait,
        ConnectionState::TimeWait,
        ConnectionState::Close,
        ConnectionState::CloseWait,
        ConnectionState::LastAck,
        ConnectionState::Listen,
        ConnectionState::SynAck,
        ConnectionState::Udp,
        ConnectionState::Init1,
        ConnectionState::Init,
        ConnectionState::CookieSent,
        ConnectionState::CookieReplied,
        ConnectionState::CookieWait,
        ConnectionState::Cookie,
        ConnectionState::CookieEchoed,
        ConnectionState::ShutdownSent,
        ConnectionState::ShutdownReceived,
        ConnectionState::ShutdownAckSent,
        ConnectionState::Rejected,
        ConnectionState::Closed,
        ConnectionState::Assured,
    ];

    /// The name the kernel prints.
    pub fn name(&self) -> &str {
        match self {
            ConnectionState::None => "NONE",
            ConnectionState::Established => "ESTABLISHED",
            ConnectionState::SynSent => "SYN_SENT",
            ConnectionState::SynRecv => "SYN_RECV",
            ConnectionState::FinWait => "FIN_WAIT",
            ConnectionState::TimeWait => "TIME_WAIT",
            ConnectionState::Close => "CLOSE",
            ConnectionState::CloseWait => "CLOSE_WAIT",
            ConnectionState::LastAck => "LAST_ACK",
            ConnectionState::Listen => "LISTEN",
            ConnectionState::SynAck => "SYNACK",
            ConnectionState::Udp => "UDP",
            ConnectionState::Init1 => "INIT1",
            ConnectionState::Init => "INIT",
            ConnectionState::CookieSent => "C-SENT",
            ConnectionState::CookieReplied => "C-REPLIED",
            ConnectionState::CookieWait => "C-WAIT",
            ConnectionState::Cookie => "COOKIE",
            ConnectionState::CookieEchoed => "C-ECHOED",
            ConnectionState::ShutdownSent => "S-SENT",
            ConnectionState::ShutdownReceived => "S-RECEIVED",
            ConnectionState::ShutdownAckSent => "S-ACK-SENT",
            ConnectionState::Rejected => "REJECTED",
            ConnectionState::Closed => "CLOSED",
            ConnectionState::Assured => "ASSURED",
            ConnectionState::Other(name) => name,
        }
    }

    /// The state named `name`; [`ConnectionState::Other`] for a name this
    /// crate does not know.
    pub fn from_name(name: &str) -> Self {
        Self::NAMED
            .into_iter()
            .find(|state| state.name() == name)
            .unwrap_or_else(|| ConnectionState::Other(name.to_owned()))
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The kernel's name for a protocol in the connection table
/// (`ip_vs_proto_name` in `net/netfilter/ipvs/ip_vs_core.c`): `TCP`, `UDP`,
/// `SCTP`, `IP` (0), `ICMP` (1), `ICMPv6` (58), otherwise `IP_<number>`.
pub fn protocol_name(protocol: Protocol) -> Cow<'static, str> {
    match u16::from(protocol) {
        IPPROTO_IP => "IP".into(),
        IPPROTO_ICMP => "ICMP".into(),
        IPPROTO_TCP => "TCP".into(),
        IPPROTO_UDP => "UDP".into(),
        IPPROTO_ICMPV6 => "ICMPv6".into(),
        IPPROTO_SCTP => "SCTP".into(),
        number => format!("IP_{number}").into(),
    }
}

const IPPROTO_IP: u16 = 0;
const IPPROTO_ICMP: u16 = 1;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
const IPPROTO_ICMPV6: u16 = 58;
const IPPROTO_SCTP: u16 = 132;

/// The inverse of [`protocol_name`].
fn parse_protocol(name: &str) -> Option<Protocol> {
    let number = match name {
        "IP" => IPPROTO_IP,
        "ICMP" => IPPROTO_ICMP,
        "TCP" => IPPROTO_TCP,
        "UDP" => IPPROTO_UDP,
        "ICMPv6" => IPPROTO_ICMPV6,
        "SCTP" => IPPROTO_SCTP,
        other => parse_decimal(other.strip_prefix("IP_")?)?,
    };
    Some(Protocol::from(number))
}

/// A column of the connection tables, named as in their header lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// The header line itself.
    Header,
    /// `Pro`: the protocol.
    Pro,
    /// `FromIP`: the client address.
    FromIp,
    /// `FPrt`: the client port.
    FromPort,
    /// `ToIP`: the virtual address.
    ToIp,
    /// `TPrt`: the virtual port.
    ToPort,
    /// `DestIP`: the real server's address.
    DestIp,
    /// `DPrt`: the real server's port.
    DestPort,
    /// `State`.
    State,
    /// `Origin` (`ip_vs_conn_sync` only).
    Origin,
    /// `Expires`: seconds left.
    Expires,
    /// `PEName` (`ip_vs_conn` only).
    PeName,
}

impl Column {
    /// The name in the kernel's header line.
    pub fn name(self) -> &'static str {
        match self {
            Column::Header => "header",
            Column::Pro => "Pro",
            Column::FromIp => "FromIP",
            Column::FromPort => "FPrt",
            Column::ToIp => "ToIP",
            Column::ToPort => "TPrt",
            Column::DestIp => "DestIP",
            Column::DestPort => "DPrt",
            Column::State => "State",
            Column::Origin => "Origin",
            Column::Expires => "Expires",
            Column::PeName => "PEName",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The header line of `/proc/net/ip_vs_conn`.
pub const HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData";

/// The header line of `/proc/net/ip_vs_conn_sync`.
pub const SYNC_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires";

/// Why a connection table did not parse: where (1-based line, the column)
/// and what was found there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection table line {line}, column {column}: {problem}")]
pub struct ConnParseError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// The column at fault.
    pub column: Column,
    /// What is wrong there.
    #[source]
    pub problem: ConnProblem,
}

/// What is wrong in a [`ConnParseError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnProblem {
    /// The text is empty: not even the header line.
    #[error("no header line")]
    NoHeader,
    /// The first line is not the header this table has.
    #[error("expected the header {expected:?}, found {found:?}")]
    UnexpectedHeader {
        /// The header of the table being parsed.
        expected: &'static str,
        /// What the first line holds (cut to 80 characters).
        found: String,
    },
    /// The line ends before this column.
    #[error("missing")]
    Missing,
    /// The column holds something it cannot.
    #[error("{found:?} is not {expected}")]
    Invalid {
        /// What the column holds (cut to 80 characters).
        found: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// Text after the last column of a table that has nothing there.
    #[error("unexpected {found:?} after the last column")]
    Trailing {
        /// The extra text (cut to 80 characters).
        found: String,
    },
}

/// Parses the text of `/proc/net/ip_vs_conn`: the header line, then one
/// [`Connection`] per line.
///
/// Never panics; any text that is not such a table, including a line cut
/// short, gives an error naming the line and column.
///
/// ```
/// use ipvs::conn::{ConnectionState, parse_connections};
/// let table = "\
/// Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
/// TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 ESTABLISHED     899
/// ";
/// let conns = parse_connections(table)?;
/// assert_eq!(conns[0].client, "192.0.2.100:42480".parse()?);
/// assert_eq!(conns[0].virtual_addr, "203.0.113.10:80".parse()?);
/// assert_eq!(conns[0].destination, "198.51.100.10:80".parse()?);
/// assert_eq!(conns[0].state, ConnectionState::Established);
/// assert_eq!(conns[0].expires.as_secs(), 899);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_connections(text: &str) -> Result<Vec<Connection>, ConnParseError> {
    parse_table(text, HEADER, |line, fields| {
        let connection = parse_common(line, fields)?;
        let expires = parse_expires(line, fields)?;
        let pe_name = fields.next().map(str::to_owned);
        let pe_data = Some(fields.rest()).filter(|data| !data.is_empty());
        Ok(Connection {
            expires,
            pe_name,
            pe_data: pe_data.map(str::to_owned),
            ..connection
        })
    })
}

/// Parses the text of `/proc/net/ip_vs_conn_sync`: like
/// [`parse_connections`], with the `Origin` column and no PE columns.
pub fn parse_sync_connections(text: &str) -> Result<Vec<SyncedConnection>, ConnParseError> {
    parse_table(text, SYNC_HEADER, |line, fields| {
        let connection = parse_common(line, fields)?;
        let origin = match fields.require(line, Column::Origin)? {
            "LOCAL" => ConnectionOrigin::Local,
            "SYNC" => ConnectionOrigin::Sync,
            other => return Err(invalid(line, Column::Origin, other, "LOCAL or SYNC")),
        };
        let expires = parse_expires(line, fields)?;
        let rest = fields.rest();
        if !rest.is_empty() {
            return Err(ConnParseError {
                line,
                column: Column::Expires,
                problem: ConnProblem::Trailing { found: cut(rest) },
            });
        }
        Ok(SyncedConnection {
            connection: Connection {
                expires,
                ..connection
            },
            origin,
        })
    })
}

/// Why a connection table could not be read: names the file, or the
/// namespace it was to be read in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnReadError {
    /// The file could not be read: `NotFound` when the kernel has no IPVS
    /// loaded in the namespace (the file appears with the `ip_vs` module).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The file's text is not a connection table.
    #[error("{}: {source}", .path.unwrap_or("connection table text"))]
    Parse {
        /// The file (`None` for text given to [`parse_connections`]).
        path: Option<&'static str>,
        /// Where and what.
        #[source]
        source: ConnParseError,
    },
    /// The network namespace could not be opened or entered; names it.
    #[error(transparent)]
    Namespace(#[from] crate::NamespaceError),
}

impl ConnReadError {
    /// The kind of the underlying system error (`InvalidData` for text that
    /// does not parse), as the readers' former `io::Error` had it.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ConnReadError::Read { source, .. } => source.kind(),
            ConnReadError::Parse { .. } => io::ErrorKind::InvalidData,
            ConnReadError::Namespace(e) => e.source.kind(),
        }
    }
}

/// Text that is not a connection table, read from no file.
impl From<ConnParseError> for ConnReadError {
    fn from(source: ConnParseError) -> Self {
        ConnReadError::Parse { path: None, source }
    }
}

/// Reads and parses the connection table of the calling thread's network
/// namespace ([`CONN_TABLE_PATH`]); `ipvsadm -L -c -n`.
///
/// # Errors
/// [`ConnReadError::Read`] (kind `NotFound`) when the kernel has no IPVS
/// loaded; [`ConnReadError::Parse`] when the text does not parse. Both name
/// the file. Bytes that are not UTF-8 (PE data is the client's) are
/// replaced by U+FFFD.
pub fn read_connections() -> Result<Vec<Connection>, ConnReadError> {
    parse_file(CONN_TABLE_PATH, parse_connections)
}

/// [`read_connections`] in the named network namespace (`/run/netns/NAME`,
/// `ip netns exec NAME ipvsadm -L -c -n`), read from a short-lived thread
/// that enters it. Needs `CAP_SYS_ADMIN`.
pub fn read_connections_in_netns(name: &str) -> Result<Vec<Connection>, ConnReadError> {
    netns::run_in_named_netns(name, read_connections)
}

/// [`read_connections`] in the network namespace `fd` refers to (a file
/// under `/run/netns/`, `/proc/PID/ns/net`, ...).
pub fn read_connections_in_netns_fd(fd: BorrowedFd<'_>) -> Result<Vec<Connection>, ConnReadError> {
    netns::run_in_netns_fd(fd, read_connections)
}

/// Reads and parses [`CONN_SYNC_TABLE_PATH`] of the calling thread's network
/// namespace; errors as [`read_connections`].
pub fn read_sync_connections() -> Result<Vec<SyncedConnection>, ConnReadError> {
    parse_file(CONN_SYNC_TABLE_PATH, parse_sync_connections)
}

/// [`read_sync_connections`] in the named network namespace.
pub fn read_sync_connections_in_netns(name: &str) -> Result<Vec<SyncedConnection>, ConnReadError> {
    netns::run_in_named_netns(name, read_sync_connections)
}

/// [`read_sync_connections`] in the network namespace `fd` refers to.
pub fn read_sync_connections_in_netns_fd(
    fd: BorrowedFd<'_>,
) -> Result<Vec<SyncedConnection>, ConnReadError> {
    netns::run_in_netns_fd(fd, read_sync_connections)
}

fn parse_file<T>(
    path: &'static str,
    parse: fn(&str) -> Result<Vec<T>, ConnParseError>,
) -> Result<Vec<T>, ConnReadError> {
    let bytes = std::fs::read(path).map_err(|source| ConnReadError::Read { path, source })?;
    parse(&String::from_utf8_lossy(&bytes)).map_err(|source| ConnReadError::Parse {
        path: Some(path),
        source,
    })
}

impl fmt::Display for Connection {
    /// The line `ip_vs_conn_seq_show` writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_common(f)?;
        write!(f, " {:>7}", self.expires.as_secs())?;
        if let Some(name) = &self.pe_name {
            write!(f, " {name}")?;
            if let Some(data) = &self.pe_data {
                write!(f, " {data}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for SyncedConnection {
    /// The line `ip_vs_conn_sync_seq_show` writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.connection.write_common(f)?;
        write!(
            f,
            " {:<6} {:>7}",
            self.origin.name(),
            self.connection.expires.as_secs()
        )
    }
}

impl Connection {
    /// Pro to State, as both tables write them (`%-3s %08X %04X ... %-11s`).
    fn write_common(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<3}", protocol_name(self.protocol))?;
        for addr in [self.client, self.virtual_addr, self.destination] {
            write!(f, " {} {:04X}", ProcAddr(addr.ip()), addr.port())?;
        }
        write!(f, " {:<11}", self.state)
    }
}

/// An address as the kernel prints it: `%08X` (IPv4, host order) or `%pI6`
/// (eight 4-digit groups).
struct ProcAddr(IpAddr);

impl fmt::Display for ProcAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{:08X}", u32::from(ip)),
            IpAddr::V6(ip) => {
                let [a, b, c, d, e, g, h, i] = ip.segments();
                write!(
                    f,
                    "{a:04x}:{b:04x}:{c:04x}:{d:04x}:{e:04x}:{g:04x}:{h:04x}:{i:04x}"
                )
            }
        }
    }
}

/// Checks the header, then parses every further line with `parse_line`.
fn parse_table<T>(
    text: &str,
    header: &'static str,
    parse_line: impl Fn(usize, &mut Fields<'_>) -> Result<T, ConnParseError>,
) -> Result<Vec<T>, ConnParseError> {
    let mut lines = text.lines();
    let first = lines.next().ok_or(ConnParseError {
        line: 1,
        column: Column::Header,
        problem: ConnProblem::NoHeader,
    })?;
    if !first.split_whitespace().eq(header.split_whitespace()) {
        return Err(ConnParseError {
            line: 1,
            column: Column::Header,
            problem: ConnProblem::UnexpectedHeader {
                expected: header,
                found: cut(first),
            },
        });
    }
    lines
        .enumerate()
        .map(|(index, line)| parse_line(index + 2, &mut Fields(line)))
        .collect()
}

/// Pro, FromIP, FPrt, ToIP, TPrt, DestIP, DPrt and State: the columns both
/// tables start with. Expires and the PE columns are left unset.
fn parse_common(line: usize, fields: &mut Fields<'_>) -> Result<Connection, ConnParseError> {
    let pro = fields.require(line, Column::Pro)?;
    let protocol = parse_protocol(pro).ok_or_else(|| {
        invalid(
            line,
            Column::Pro,
            pro,
            "a protocol name (TCP, UDP, SCTP, IP_<n>)",
        )
    })?;
    let client = parse_socket_addr(line, fields, Column::FromIp, Column::FromPort)?;
    let virtual_addr = parse_socket_addr(line, fields, Column::ToIp, Column::ToPort)?;
    let destination = parse_socket_addr(line, fields, Column::DestIp, Column::DestPort)?;
    let state = ConnectionState::from_name(fields.require(line, Column::State)?);
    Ok(Connection {
        protocol,
        client,
        virtual_addr,
        destination,
        state,
        expires: Duration::ZERO,
        pe_name: None,
        pe_data: None,
    })
}

fn parse_socket_addr(
    line: usize,
    fields: &mut Fields<'_>,
    ip_column: Column,
    port_column: Column,
) -> Result<SocketAddr, ConnParseError> {
    let text = fields.require(line, ip_column)?;
    let ip = parse_ip(text).ok_or_else(|| {
        invalid(
            line,
            ip_column,
            text,
            "an address (8 hex digits for IPv4, %pI6 for IPv6)",
        )
    })?;
    let text = fields.require(line, port_column)?;
    let port = parse_hex(text, 4)
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| invalid(line, port_column, text, "a port (4 hex digits)"))?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_expires(line: usize, fields: &mut Fields<'_>) -> Result<Duration, ConnParseError> {
    let text = fields.require(line, Column::Expires)?;
    let seconds = parse_decimal::<u64>(text)
        .ok_or_else(|| invalid(line, Column::Expires, text, "a number of seconds"))?;
    Ok(Duration::from_secs(seconds))
}

/// `%08X` (IPv4 in host order) or `%pI6`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else if text.len() == 8 {
        let bits = parse_hex(text, 8)?;
        Some(IpAddr::V4(Ipv4Addr::from(bits)))
    } else {
        None
    }
}

/// 1 to `max_digits` hex digits, nothing else (no sign, no `0x`).
fn parse_hex(text: &str, max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Decimal digits only (no sign), in range for `T`.
fn parse_decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn invalid(line: usize, column: Column, found: &str, expected: &'static str) -> ConnParseError {
    ConnParseError {
        line,
        column,
        problem: ConnProblem::Invalid {
            found: cut(found),
            expected,
        },
    }
}

/// At most 80 characters of `text`, for error messages.
fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The rest of a line, consumed one whitespace-separated field at a time.
struct Fields<'a>(&'a str);

impl<'a> Fields<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start();
        if rest.is_empty() {
            self.0 = rest;
            return None;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (field, rest) = rest.split_at(end);
        self.0 = rest;
        Some(field)
    }

    fn require(&mut self, line: usize, column: Column) -> Result<&'a str, ConnParseError> {
        self.next().ok_or(ConnParseError {
            line,
            column,
            problem: ConnProblem::Missing,
        })
    }

    /// Everything not consumed yet, without surrounding whitespace.
    fn rest(&self) -> &'a str {
        self.0.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    #[test]
    fn read_errors_name_the_file_or_the_namespace() {
        let missing = "/proc/thread-self/net/ipvs-rs-no-such-table";
        let err = parse_file(missing, parse_connections).unwrap_err();
        assert!(
            matches!(&err, ConnReadError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        assert_eq!(
            err.to_string(),
            format!("cannot read {missing}: No such file or directory (os error 2)")
        );
        let not_a_table = "/proc/self/status";
        let err = parse_file(not_a_table, parse_connections).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .starts_with("/proc/self/status: connection table line 1"),
            "{err}"
        );
        let err = read_connections_in_netns("ipvs-rs-no-such-namespace").unwrap_err();
        assert!(
            err.to_string()
                .contains("/run/netns/ipvs-rs-no-such-namespace"),
            "{err}"
        );
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Lines as 6.12 wrote them in the lab (`cat /proc/net/ip_vs_conn`).
    const TABLE: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 ESTABLISHED     899
UDP 2001:0db8:0000:0000:0000:0000:0000:0064 D431 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0001:0000:0000:0000:0000:000a 0035 UDP             299
IP  C0000264 0000 CB00710A 0000 C633640A 0000 ASSURED         359
UDP C0000264 13C4 CB00710A 13C4 C633640A 13C4 UDP             179 sip a84b4c76e66710@pc33.example.com
SCTP C0000264 0F1C CB00710A 0F1C 2001:0db8:0001:0000:0000:0000:0000:000a 0F1C C-ECHOED         61
";

    #[test]
    fn parses_every_column_of_both_families() {
        let conns = parse_connections(TABLE).unwrap();
        assert_eq!(
            conns[0],
            Connection {
                protocol: Protocol::Tcp,
                client: addr("192.0.2.100:42480"),
                virtual_addr: addr("203.0.113.10:80"),
                destination: addr("198.51.100.10:80"),
                state: ConnectionState::Established,
                expires: Duration::from_secs(899),
                pe_name: None,
                pe_data: None,
            }
        );
        assert_eq!(conns[1].protocol, Protocol::Udp);
        assert_eq!(conns[1].client, addr("[2001:db8::64]:54321"));
        assert_eq!(conns[1].virtual_addr, addr("[2001:db8::1]:53"));
        assert_eq!(conns[1].destination, addr("[2001:db8:1::a]:53"));
        assert_eq!(conns[1].state, ConnectionState::Udp);
        assert_eq!(conns[2].protocol, Protocol::Other(0));
        assert_eq!(conns[2].state, ConnectionState::Assured);
        assert_eq!(conns[3].pe_name.as_deref(), Some("sip"));
        assert_eq!(
            conns[3].pe_data.as_deref(),
            Some("a84b4c76e66710@pc33.example.com")
        );
        // An IPv4 service with an IPv6 destination (mixed-family tunnel).
        assert_eq!(conns[4].protocol, Protocol::Sctp);
        assert_eq!(conns[4].destination, addr("[2001:db8:1::a]:3868"));
        assert_eq!(conns[4].state, ConnectionState::CookieEchoed);
    }

    #[test]
    fn display_writes_the_kernel_line() {
        let conns = parse_connections(TABLE).unwrap();
        let rendered: Vec<String> = conns.iter().map(ToString::to_string).collect();
        let expected: Vec<&str> = TABLE.lines().skip(1).collect();
        assert_eq!(rendered, expected);
    }

    #[test]
    fn sync_table_has_origin_and_no_pe() {
        let text = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 ESTABLISHED SYNC       899
";
        let conns = parse_sync_connections(text).unwrap();
        assert_eq!(conns[0].origin, ConnectionOrigin::Sync);
        assert_eq!(conns[0].connection.expires, Duration::from_secs(899));
        assert_eq!(conns[0].to_string(), text.lines().nth(1).unwrap());
        // The other table's header is refused, not misread.
        let err = parse_connections(text).unwrap_err();
        assert_eq!((err.line, err.column), (1, Column::Header));
        let err = parse_sync_connections(TABLE).unwrap_err();
        assert_eq!((err.line, err.column), (1, Column::Header));
    }

    #[test]
    fn header_only_is_an_empty_table() {
        assert_eq!(parse_connections(&format!("{HEADER}\n")).unwrap(), vec![]);
        let err = parse_connections("").unwrap_err();
        assert_eq!(err.problem, ConnProblem::NoHeader);
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("TCP C0000264 A5F0", Column::ToIp, "missing"),
            (
                "TCP C00002 A5F0 CB00710A 0050 C633640A 0050 NONE 1",
                Column::FromIp,
                "\"C00002\" is not",
            ),
            (
                "TCP C0000264 A5F0 CB00710A 10050 C633640A 0050 NONE 1",
                Column::ToPort,
                "\"10050\"",
            ),
            (
                "TCP C0000264 +5F0 CB00710A 0050 C633640A 0050 NONE 1",
                Column::FromPort,
                "\"+5F0\"",
            ),
            (
                "XTP C0000264 A5F0 CB00710A 0050 C633640A 0050 NONE 1",
                Column::Pro,
                "\"XTP\"",
            ),
            (
                "TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 NONE -1",
                Column::Expires,
                "\"-1\"",
            ),
            (
                "TCP C0000264 A5F0 CB00710A 0050 2001:db8::zz 0050 NONE 1",
                Column::DestIp,
                "2001:db8::zz",
            ),
            (
                "TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 NONE",
                Column::Expires,
                "missing",
            ),
        ];
        for (line, column, text) in cases {
            let err = parse_connections(&format!("{HEADER}\n{TABLE_LINE}\n{line}\n")).unwrap_err();
            assert_eq!((err.line, err.column), (3, column), "{line}: {err}");
            let message = err.to_string();
            assert!(message.contains(text), "{message}");
            assert!(
                message.starts_with("connection table line 3, column"),
                "{message}"
            );
        }
    }

    const TABLE_LINE: &str = "TCP C0000264 A5F0 CB00710A 0050 C633640A 0050 ESTABLISHED     899";

    #[test]
    fn every_named_state_round_trips_and_unknown_names_are_kept() {
        for state in ConnectionState::NAMED {
            assert_eq!(ConnectionState::from_name(state.name()), state);
        }
        assert_eq!(
            ConnectionState::from_name("ERR!"),
            ConnectionState::Other("ERR!".into())
        );
    }

    #[test]
    fn protocol_names_follow_ip_vs_proto_name() {
        for (name, number) in [
            ("IP", 0),
            ("ICMP", 1),
            ("ICMPv6", 58),
            ("IP_50", 50),
            ("SCTP", 132),
        ] {
            assert_eq!(parse_protocol(name), Some(Protocol::from(number)));
            assert_eq!(protocol_name(Protocol::from(number)), name);
        }
        assert_eq!(parse_protocol("IP_+6"), None);
        assert_eq!(parse_protocol("IP_70000"), None);
    }

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
    }

    fn arb_state() -> impl Strategy<Value = ConnectionState> {
        prop_oneof![
            (0..ConnectionState::NAMED.len()).prop_map(|i| ConnectionState::NAMED[i].clone()),
            "[A-Z?!_-]{1,11}".prop_map(|s| ConnectionState::from_name(&s)),
        ]
    }

    prop_compose! {
        fn arb_connection()(
            protocol in any::<u16>().prop_map(Protocol::from),
            family_v6 in any::<bool>(),
            ips in (arb_ip(), arb_ip(), arb_ip()),
            ports in any::<(u16, u16, u16)>(),
            state in arb_state(),
            expires in any::<u32>(),
            pe in proptest::option::of(("[a-z]{1,15}", proptest::option::of("[!-~]{1,20}( [!-~]{1,5})?"))),
        ) -> Connection {
            // The client and virtual address share a family; the destination need not.
            let same_family = |ip: IpAddr| match (family_v6, ip) {
                (false, IpAddr::V6(v6)) => IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32)),
                (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
                (_, ip) => ip,
            };
            Connection {
                protocol,
                client: SocketAddr::new(same_family(ips.0), ports.0),
                virtual_addr: SocketAddr::new(same_family(ips.1), ports.1),
                destination: SocketAddr::new(ips.2, ports.2),
                state,
                expires: Duration::from_secs(expires.into()),
                pe_name: pe.as_ref().map(|(name, _)| name.clone()),
                pe_data: pe.and_then(|(_, data)| data),
            }
        }
    }

    proptest! {
        #[test]
        fn written_tables_parse_back(conns in proptest::collection::vec(arb_connection(), 0..8)) {
            let mut text = format!("{HEADER}\n");
            for conn in &conns {
                text.push_str(&format!("{conn}\n"));
            }
            prop_assert_eq!(parse_connections(&text).unwrap(), conns);
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC*", table_line in any::<bool>()) {
            let text = if table_line { format!("{HEADER}\n{text}") } else { text };
            let _ = parse_connections(&text);
            let _ = parse_sync_connections(&text);
        }

        #[test]
        fn every_prefix_of_a_table_parses_or_fails_cleanly(cut_at in 0..TABLE.len()) {
            if let Some(Err(err)) = TABLE.get(..cut_at).map(parse_connections) {
                prop_assert!(err.line >= 1 && err.line <= TABLE.lines().count());
            }
        }
    }
}
