// SPDX-License-Identifier: MIT OR Apache-2.0
//! Typed IPVS sysctls, `/proc/sys/net/ipv4/vs/*` (the kernel's `vs_vars`
//! table in `net/netfilter/ipvs/ip_vs_ctl.c`), read and written per network
//! namespace.
//!
//! ```no_run
//! use ipvs::sysctl::{Sysctl, Sysctls, SysctlValue};
//!
//! let sysctls = Sysctls::in_netns("lb")?; // ip netns exec lb sysctl ...
//! // sysctl -w net.ipv4.vs.conn_reuse_mode=0
//! sysctls.set(Sysctl::ConnReuseMode, SysctlValue::Int(0))?;
//! // sysctl net.ipv4.vs.sync_threshold
//! let threshold = sysctls.get(Sysctl::SyncThreshold)?;
//! // A value outside the kernel's range is refused before anything is written.
//! assert!(sysctls.set(Sysctl::DropEntry, SysctlValue::Int(4)).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each namespace has its own copy of every IPVS sysctl, created with the
//! namespace's IPVS state. `/proc/sys/net` resolves in the network namespace
//! of the thread that opens a file there, so [`Sysctls::current`] acts on
//! the calling thread's namespace and [`Sysctls::in_netns`] opens the files
//! from a short-lived thread that enters the other one.
//!
//! Which sysctls exist depends on the kernel: `est_cpulist` and `est_nice`
//! arrived in 6.2 (absent on Debian's 6.1, present on 6.12), `conntrack`
//! needs `CONFIG_IP_VS_NFCT` and `debug_level` `CONFIG_IP_VS_DEBUG` (Debian
//! builds have the first, not the second), and `lblc_expiration` /
//! `lblcr_expiration` appear with the `ip_vs_lblc` / `ip_vs_lblcr` scheduler
//! modules. Acting on one the kernel lacks gives [`SysctlError::Unsupported`].
//!
//! Ranges are the kernel's, as its handlers enforce them (checked in the
//! lab on 6.1 and 6.12): most are `proc_dointvec` and take any `int`; the
//! exceptions are listed on each [`Sysctl`] and in [`Limit`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::netns;

/// Where the IPVS sysctls live (in the opening thread's network namespace).
pub const SYSCTL_DIR: &str = "/proc/sys/net/ipv4/vs";

/// Defines [`Sysctl`] with its file name, value kind and limit in one table.
macro_rules! sysctls {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $limit:expr; )*) => {
        /// An IPVS sysctl: a file under [`SYSCTL_DIR`],
        /// `sysctl net.ipv4.vs.NAME`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Sysctl {
            $( $(#[$doc])* $variant, )*
        }

        impl Sysctl {
            /// Every IPVS sysctl this crate knows, in the kernel's table order.
            pub const ALL: &'static [Sysctl] = &[$( Sysctl::$variant, )*];

            /// The file name under [`SYSCTL_DIR`] (the `NAME` in
            /// `net.ipv4.vs.NAME`).
            pub fn name(self) -> &'static str {
                match self { $( Sysctl::$variant => $name, )* }
            }

            /// The values the kernel accepts.
            pub fn limit(self) -> Limit {
                match self { $( Sysctl::$variant => $limit, )* }
            }
        }
    };
}

sysctls! {
    /// `amemthresh`: free memory (pages) below which the defense strategies
    /// (`drop_entry`, `drop_packet`, `secure_tcp`) switch on. Any `int`.
    Amemthresh = "amemthresh", Limit::Int;
    /// `am_droprate`: drop 1 of this many packets in `drop_packet` mode 3.
    /// Any `int`.
    AmDroprate = "am_droprate", Limit::Int;
    /// `drop_entry`: defense strategy, randomly drop connection entries
    /// (0 off, 1 automatic, 2 automatic now active, 3 always). 0 to 3.
    DropEntry = "drop_entry", Limit::Range { min: 0, max: 3 };
    /// `drop_packet`: defense strategy, drop 1/rate of packets (modes as
    /// `drop_entry`). 0 to 3.
    DropPacket = "drop_packet", Limit::Range { min: 0, max: 3 };
    /// `conntrack`: keep netfilter conntrack entries for IPVS connections
    /// (needs `CONFIG_IP_VS_NFCT`). Any `int`, 0 off.
    Conntrack = "conntrack", Limit::Int;
    /// `secure_tcp`: defense strategy, the stricter TCP state table (modes as
    /// `drop_entry`). 0 to 3.
    SecureTcp = "secure_tcp", Limit::Range { min: 0, max: 3 };
    /// `snat_reroute`: re-route replies of NAT connections after SNAT. Any
    /// `int`, 0 off.
    SnatReroute = "snat_reroute", Limit::Int;
    /// `sync_version`: the sync protocol version the master sends. 0 or 1.
    SyncVersion = "sync_version", Limit::Range { min: 0, max: 1 };
    /// `sync_ports`: sync threads/ports, a power of two from 1 (`proc_do_sync_ports`).
    SyncPorts = "sync_ports", Limit::PowerOfTwo;
    /// `sync_persist_mode`: sync only persistence templates. Any `int`, 0 off.
    SyncPersistMode = "sync_persist_mode", Limit::Int;
    /// `sync_qlen_max`: most sync messages queued (an `unsigned long`; the
    /// default depends on the machine's memory).
    SyncQlenMax = "sync_qlen_max", Limit::UnsignedLong;
    /// `sync_sock_size`: the sync socket's buffer size (0: the system's).
    /// Any `int`.
    SyncSockSize = "sync_sock_size", Limit::Int;
    /// `cache_bypass`: forward to the original destination when no real
    /// server is available. Any `int`, 0 off.
    CacheBypass = "cache_bypass", Limit::Int;
    /// `expire_nodest_conn`: expire connections to a deleted destination at
    /// once. Any `int`, 0 off.
    ExpireNodestConn = "expire_nodest_conn", Limit::Int;
    /// `sloppy_tcp`: create connections from any TCP packet, not only SYN.
    /// Any `int`, 0 off.
    SloppyTcp = "sloppy_tcp", Limit::Int;
    /// `sloppy_sctp`: create connections from any SCTP packet, not only INIT.
    /// Any `int`, 0 off.
    SloppySctp = "sloppy_sctp", Limit::Int;
    /// `expire_quiescent_template`: expire persistence templates of a
    /// weight-0 destination. Any `int`, 0 off.
    ExpireQuiescentTemplate = "expire_quiescent_template", Limit::Int;
    /// `sync_threshold`: sync a connection after `threshold` packets, then
    /// every `period` packets (`proc_do_sync_threshold`).
    SyncThreshold = "sync_threshold", Limit::SyncThreshold;
    /// `sync_refresh_period`: seconds between syncs of an unchanged
    /// connection (0: by `sync_threshold`). Any `int` up to `INT_MAX / HZ`
    /// (`proc_dointvec_jiffies`; the kernel refuses more).
    SyncRefreshPeriod = "sync_refresh_period", Limit::Int;
    /// `sync_retries`: resends of a sync message with no reply. 0 to 3.
    SyncRetries = "sync_retries", Limit::Range { min: 0, max: 3 };
    /// `nat_icmp_send`: send ICMP errors for NAT packets with no connection.
    /// Any `int`, 0 off.
    NatIcmpSend = "nat_icmp_send", Limit::Int;
    /// `pmtu_disc`: path-MTU discovery for tunnelled packets (DF set). Any
    /// `int`, 0 off.
    PmtuDisc = "pmtu_disc", Limit::Int;
    /// `backup_only`: only act as a sync backup, no load balancing. Any
    /// `int`, 0 off.
    BackupOnly = "backup_only", Limit::Int;
    /// `conn_reuse_mode`: what a new connection reusing the ports of an old
    /// one does (0 reuse the old destination; bit 1 reschedule; bit 2 also
    /// with conntrack). Any `int`.
    ConnReuseMode = "conn_reuse_mode", Limit::Int;
    /// `schedule_icmp`: schedule ICMP packets that belong to no connection.
    /// Any `int`, 0 off.
    ScheduleIcmp = "schedule_icmp", Limit::Int;
    /// `ignore_tunneled`: leave packets that arrived through a tunnel to the
    /// stack. Any `int`, 0 off.
    IgnoreTunneled = "ignore_tunneled", Limit::Int;
    /// `run_estimation`: compute the rate estimates (`ipvsadm --rate`). Any
    /// `int`, 0 off.
    RunEstimation = "run_estimation", Limit::Int;
    /// `est_cpulist`: the CPUs the estimator kthreads run on (6.2+); CPUs
    /// the writer may not use are dropped by the kernel.
    EstCpulist = "est_cpulist", Limit::CpuList;
    /// `est_nice`: the estimator kthreads' nice value (6.2+). -20 to 19.
    EstNice = "est_nice", Limit::Range { min: -20, max: 19 };
    /// `debug_level`: IPVS debug messages (needs `CONFIG_IP_VS_DEBUG`). Any
    /// `int`.
    DebugLevel = "debug_level", Limit::Int;
    /// `lblc_expiration`: seconds before the lblc scheduler forgets an unused
    /// destination (default 86400; `proc_dointvec_jiffies` in `ip_vs_lblc.c`,
    /// present while the `ip_vs_lblc` module is loaded).
    LblcExpiration = "lblc_expiration", Limit::Int;
    /// `lblcr_expiration`: the same for lblcr (`ip_vs_lblcr.c`, present while
    /// the `ip_vs_lblcr` module is loaded).
    LblcrExpiration = "lblcr_expiration", Limit::Int;
}

impl Sysctl {
    /// The sysctl whose file is `name`.
    pub fn from_name(name: &str) -> Option<Sysctl> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Its file in the opening thread's namespace.
    pub fn path(self) -> PathBuf {
        Path::new(SYSCTL_DIR).join(self.name())
    }
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net.ipv4.vs.{}", self.name())
    }
}

/// The values a [`Sysctl`] accepts, as the kernel's handler checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Any `int` ([`SysctlValue::Int`], `proc_dointvec`).
    Int,
    /// An `int` from `min` to `max` ([`SysctlValue::Int`]).
    Range {
        /// The least value.
        min: i32,
        /// The greatest value.
        max: i32,
    },
    /// A power of two from 1 ([`SysctlValue::Int`]).
    PowerOfTwo,
    /// Any `unsigned long` ([`SysctlValue::UnsignedLong`]).
    UnsignedLong,
    /// Two `int`s, neither negative, the first below the second unless the
    /// second is 0 ([`SysctlValue::SyncThreshold`]).
    SyncThreshold,
    /// A CPU list such as `0-3,8`, or empty ([`SysctlValue::CpuList`]);
    /// the kernel refuses CPUs it does not have (`ERANGE`).
    CpuList,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Int => f.write_str("an int"),
            Limit::Range { min, max } => write!(f, "an int from {min} to {max}"),
            Limit::PowerOfTwo => f.write_str("a power of two from 1"),
            Limit::UnsignedLong => f.write_str("an unsigned long"),
            Limit::SyncThreshold => f.write_str(
                "two non-negative ints, the threshold below the period unless the period is 0",
            ),
            Limit::CpuList => f.write_str("a CPU list such as 0-3,8"),
        }
    }
}

impl Limit {
    /// Whether the kernel accepts `value`.
    pub fn allows(self, value: &SysctlValue) -> bool {
        match (self, value) {
            (Limit::Int, SysctlValue::Int(_)) => true,
            (Limit::Range { min, max }, SysctlValue::Int(v)) => (min..=max).contains(v),
            (Limit::PowerOfTwo, SysctlValue::Int(v)) => *v >= 1 && v.count_ones() == 1,
            (Limit::UnsignedLong, SysctlValue::UnsignedLong(_)) => true,
            (Limit::SyncThreshold, SysctlValue::SyncThreshold { threshold, period }) => {
                *threshold >= 0 && *period >= 0 && (threshold < period || *period == 0)
            }
            (Limit::CpuList, SysctlValue::CpuList(list)) => is_cpu_list(list),
            _ => false,
        }
    }

    /// Parses the text the kernel reads back for a sysctl with this limit.
    fn parse(self, text: &str) -> Option<SysctlValue> {
        let text = text.trim_end_matches('\n');
        match self {
            Limit::Int | Limit::Range { .. } | Limit::PowerOfTwo => {
                text.trim().parse().ok().map(SysctlValue::Int)
            }
            Limit::UnsignedLong => text.trim().parse().ok().map(SysctlValue::UnsignedLong),
            Limit::SyncThreshold => {
                let mut ints = text.split_whitespace().map(str::parse);
                match (ints.next(), ints.next(), ints.next()) {
                    (Some(Ok(threshold)), Some(Ok(period)), None) => {
                        Some(SysctlValue::SyncThreshold { threshold, period })
                    }
                    _ => None,
                }
            }
            Limit::CpuList => Some(SysctlValue::CpuList(text.trim().to_owned())),
        }
    }
}

/// `cpulist_parse`'s syntax: `N`, `N-M` or `N-M:USED/GROUP`, comma-separated;
/// empty is the empty set (6.12 takes it).
fn is_cpu_list(list: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    list.is_empty()
        || list.split(',').all(|item| {
            let (range, stride) = match item.split_once(':') {
                Some((range, stride)) => (range, Some(stride)),
                None => (item, None),
            };
            let range_ok = match range.split_once('-') {
                Some((first, last)) => number(first) && number(last),
                None => number(range),
            };
            let stride_ok = stride.is_none_or(|s| {
                s.split_once('/')
                    .is_some_and(|(used, group)| number(used) && number(group))
            });
            range_ok && stride_ok
        })
}

/// A sysctl's value, of the kind its [`Limit`] names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SysctlValue {
    /// An `int`: every sysctl but the ones below.
    Int(i32),
    /// An `unsigned long`: `sync_qlen_max`.
    UnsignedLong(u64),
    /// `sync_threshold`'s two ints.
    SyncThreshold {
        /// Packets before the first sync.
        threshold: i32,
        /// Packets between later syncs (0: only the first).
        period: i32,
    },
    /// `est_cpulist`: a CPU list in the kernel's notation (`0-3,8`).
    CpuList(String),
}

impl SysctlValue {
    /// The `int`, if this is one.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            SysctlValue::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl From<i32> for SysctlValue {
    fn from(value: i32) -> Self {
        SysctlValue::Int(value)
    }
}

impl fmt::Display for SysctlValue {
    /// What `sysctl -w` takes (and, but for the tab in `sync_threshold`,
    /// what the kernel prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlValue::Int(v) => write!(f, "{v}"),
            SysctlValue::UnsignedLong(v) => write!(f, "{v}"),
            SysctlValue::SyncThreshold { threshold, period } => write!(f, "{threshold} {period}"),
            SysctlValue::CpuList(list) => f.write_str(list),
        }
    }
}

/// Why a sysctl could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysctlError {
    /// The value is outside what the kernel accepts for this sysctl;
    /// nothing was written.
    #[error("{sysctl}: {value} is out of range: the kernel takes {limit}")]
    OutOfRange {
        /// The sysctl.
        sysctl: Sysctl,
        /// The refused value.
        value: SysctlValue,
        /// What the kernel accepts.
        limit: Limit,
    },
    /// This kernel has no such sysctl (see the module docs for which
    /// kernels have which).
    #[error("{sysctl}: not offered by this kernel (no {})", .sysctl.path().display())]
    Unsupported {
        /// The sysctl.
        sysctl: Sysctl,
    },
    /// The namespace has no IPVS sysctls at all: the `ip_vs` module is not
    /// loaded (or the namespace belongs to an unprivileged user namespace,
    /// to which the kernel does not show them).
    #[error("no IPVS sysctls in this network namespace (no {SYSCTL_DIR}): is ip_vs loaded?")]
    IpvsUnavailable,
    /// The kernel refused the write (`EINVAL` for a value its handler
    /// rejects, `EPERM`/`EACCES` without `CAP_NET_ADMIN`); the value is
    /// unchanged.
    #[error("{sysctl}: the kernel refused {value} written to {}: {source}", .sysctl.path().display())]
    Refused {
        /// The sysctl.
        sysctl: Sysctl,
        /// The refused value.
        value: SysctlValue,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// The kernel printed something this crate cannot read.
    #[error("{sysctl}: unexpected value text {text:?} in {}", .sysctl.path().display())]
    Unparsable {
        /// The sysctl.
        sysctl: Sysctl,
        /// What the file held.
        text: String,
    },
    /// Opening or reading the sysctl's file failed.
    #[error(
        "{}: {source}",
        .sysctl.map_or_else(|| SYSCTL_DIR.to_owned(), |s| s.path().display().to_string())
    )]
    Io {
        /// The sysctl, if the error concerns one.
        sysctl: Option<Sysctl>,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The network namespace could not be opened or entered; names it.
    #[error(transparent)]
    Namespace(#[from] netns::NamespaceError),
}

/// The IPVS sysctls of one network namespace.
///
/// [`Sysctls::current`] acts on the namespace of the thread that calls each
/// method; [`Sysctls::in_netns`] and [`Sysctls::in_netns_fd`] hold the
/// namespace and enter it on a short-lived thread for each call (entering
/// needs `CAP_SYS_ADMIN`; writing needs `CAP_NET_ADMIN` over it).
#[derive(Debug)]
pub struct Sysctls {
    netns: Option<OwnedFd>,
}

impl Sysctls {
    /// The calling thread's namespace (`sysctl net.ipv4.vs.*`).
    pub fn current() -> Self {
        Sysctls { netns: None }
    }

    /// The named namespace (`ip netns exec NAME sysctl net.ipv4.vs.*`).
    /// An error names the namespace ([`crate::NamespaceError`] inside the
    /// `io::Error`).
    pub fn in_netns(name: &str) -> io::Result<Self> {
        let path = netns::named_netns_path(name)?;
        Ok(Sysctls {
            netns: Some(netns::open_netns(&path)?.into()),
        })
    }

    /// The namespace `fd` refers to (a file under `/run/netns/`,
    /// `/proc/PID/ns/net`, ...); the descriptor is duplicated.
    pub fn in_netns_fd(fd: BorrowedFd<'_>) -> io::Result<Self> {
        Ok(Sysctls {
            netns: Some(fd.try_clone_to_owned()?),
        })
    }

    /// Reads one sysctl (`sysctl net.ipv4.vs.NAME`).
    pub fn get(&self, sysctl: Sysctl) -> Result<SysctlValue, SysctlError> {
        self.run(move || read(sysctl))
    }

    /// Writes one sysctl (`sysctl -w net.ipv4.vs.NAME=VALUE`), after
    /// checking `value` against [`Sysctl::limit`]: an out-of-range value is
    /// refused with [`SysctlError::OutOfRange`] and never written.
    pub fn set(&self, sysctl: Sysctl, value: SysctlValue) -> Result<(), SysctlError> {
        let limit = sysctl.limit();
        if !limit.allows(&value) {
            return Err(SysctlError::OutOfRange {
                sysctl,
                value,
                limit,
            });
        }
        self.run(move || write(sysctl, value))
    }

    /// Reads every IPVS sysctl this kernel offers (`sysctl net.ipv4.vs`);
    /// the ones it lacks are left out.
    pub fn get_all(&self) -> Result<BTreeMap<Sysctl, SysctlValue>, SysctlError> {
        self.run(|| {
            let mut values = BTreeMap::new();
            for &sysctl in Sysctl::ALL {
                match read(sysctl) {
                    Ok(value) => {
                        values.insert(sysctl, value);
                    }
                    Err(SysctlError::Unsupported { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(values)
        })
    }

    /// Runs `work` in this namespace: here, or on a thread that enters it.
    fn run<T: Send>(
        &self,
        work: impl FnOnce() -> Result<T, SysctlError> + Send,
    ) -> Result<T, SysctlError> {
        match &self.netns {
            None => work(),
            Some(fd) => netns::run_in_netns_fd(fd.as_fd(), work),
        }
    }
}

/// An I/O error about no particular sysctl.
impl From<io::Error> for SysctlError {
    fn from(source: io::Error) -> Self {
        SysctlError::Io {
            sysctl: None,
            source,
        }
    }
}

/// Reads `sysctl` in the calling thread's namespace.
fn read(sysctl: Sysctl) -> Result<SysctlValue, SysctlError> {
    let text = std::fs::read_to_string(sysctl.path()).map_err(|e| file_error(sysctl, e))?;
    sysctl
        .limit()
        .parse(&text)
        .ok_or(SysctlError::Unparsable { sysctl, text })
}

/// Writes `value` (already checked) in the calling thread's namespace, in
/// one `write(2)` as the handlers expect.
fn write(sysctl: Sysctl, value: SysctlValue) -> Result<(), SysctlError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(sysctl.path())
        .map_err(|e| file_error(sysctl, e))?;
    file.write_all(format!("{value}\n").as_bytes())
        .map_err(|source| SysctlError::Refused {
            sysctl,
            value,
            source,
        })
}

/// A missing file means this kernel lacks the sysctl, or IPVS is absent.
fn file_error(sysctl: Sysctl, e: io::Error) -> SysctlError {
    if e.kind() != io::ErrorKind::NotFound {
        return SysctlError::Io {
            sysctl: Some(sysctl),
            source: e,
        };
    }
    if Path::new(SYSCTL_DIR).is_dir() {
        SysctlError::Unsupported { sysctl }
    } else {
        SysctlError::IpvsUnavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for &sysctl in Sysctl::ALL {
            assert_eq!(Sysctl::from_name(sysctl.name()), Some(sysctl));
        }
        assert_eq!(Sysctl::from_name("no_such"), None);
        assert_eq!(
            Sysctl::ConnReuseMode.to_string(),
            "net.ipv4.vs.conn_reuse_mode"
        );
    }

    #[test]
    fn limits_follow_the_kernel_handlers() {
        let int = SysctlValue::Int;
        // proc_do_defense_mode
        assert!(Sysctl::DropEntry.limit().allows(&int(3)));
        assert!(!Sysctl::DropEntry.limit().allows(&int(4)));
        assert!(!Sysctl::SecureTcp.limit().allows(&int(-1)));
        // proc_do_sync_ports
        for ok in [1, 2, 1024, 1 << 30] {
            assert!(Sysctl::SyncPorts.limit().allows(&int(ok)), "{ok}");
        }
        for bad in [0, 3, -2, i32::MIN] {
            assert!(!Sysctl::SyncPorts.limit().allows(&int(bad)), "{bad}");
        }
        // proc_dointvec_minmax 0..1, 0..3; MIN_NICE..MAX_NICE
        assert!(!Sysctl::SyncVersion.limit().allows(&int(2)));
        assert!(Sysctl::SyncRetries.limit().allows(&int(3)));
        assert!(Sysctl::EstNice.limit().allows(&int(-20)));
        assert!(!Sysctl::EstNice.limit().allows(&int(20)));
        // proc_dointvec: anything
        assert!(Sysctl::ConnReuseMode.limit().allows(&int(-1)));
        // proc_do_sync_threshold
        let threshold = |threshold, period| SysctlValue::SyncThreshold { threshold, period };
        let limit = Sysctl::SyncThreshold.limit();
        assert!(limit.allows(&threshold(3, 50)));
        assert!(limit.allows(&threshold(5, 0)));
        assert!(!limit.allows(&threshold(50, 50)));
        assert!(!limit.allows(&threshold(-1, 50)));
        // The wrong kind is never in range.
        assert!(!Sysctl::SyncQlenMax.limit().allows(&int(5)));
        assert!(
            Sysctl::SyncQlenMax
                .limit()
                .allows(&SysctlValue::UnsignedLong(u64::MAX))
        );
        assert!(!Sysctl::AmDroprate.limit().allows(&threshold(1, 2)));
    }

    #[test]
    fn cpu_lists_use_cpulist_parse_syntax() {
        for ok in ["", "0", "0-3", "0,2,4-7", "0-9:2/5"] {
            assert!(is_cpu_list(ok), "{ok}");
        }
        for bad in ["x", "0-", "-1", "0,,1", "0:2", "0-3:2", "1 2"] {
            assert!(!is_cpu_list(bad), "{bad}");
        }
    }

    #[test]
    fn values_parse_as_the_kernel_prints_them() {
        assert_eq!(Limit::Int.parse("-1\n"), Some(SysctlValue::Int(-1)));
        assert_eq!(
            Limit::SyncThreshold.parse("3\t50\n"),
            Some(SysctlValue::SyncThreshold {
                threshold: 3,
                period: 50
            })
        );
        assert_eq!(Limit::SyncThreshold.parse("3\n"), None);
        assert_eq!(
            Limit::UnsignedLong.parse("18446744073709551615\n"),
            Some(SysctlValue::UnsignedLong(u64::MAX))
        );
        assert_eq!(
            Limit::CpuList.parse("0-1\n"),
            Some(SysctlValue::CpuList("0-1".into()))
        );
        assert_eq!(Limit::Int.parse("many\n"), None);
    }

    #[test]
    fn io_errors_name_the_file_or_the_namespace() {
        let err = SysctlError::Io {
            sysctl: Some(Sysctl::ConnReuseMode),
            source: io::Error::from_raw_os_error(nix::libc::EACCES),
        };
        assert_eq!(
            err.to_string(),
            "/proc/sys/net/ipv4/vs/conn_reuse_mode: Permission denied (os error 13)"
        );
        let err = Sysctls::in_netns("ipvs-rs-no-such-namespace").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .contains("/run/netns/ipvs-rs-no-such-namespace"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_names_the_sysctl_and_the_limit() {
        let err = Sysctls::current()
            .set(Sysctl::DropPacket, SysctlValue::Int(7))
            .unwrap_err();
        assert!(matches!(
            err,
            SysctlError::OutOfRange {
                sysctl: Sysctl::DropPacket,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "net.ipv4.vs.drop_packet: 7 is out of range: the kernel takes an int from 0 to 3"
        );
    }
}
