// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two LVS-DR directors for one VIP, with connection synchronisation: the
//! active/backup pair, keepalived deciding which director is active.
//!
//! Who does what:
//!
//! - **keepalived** runs VRRP only (`keepalived --vrrp`, with
//!   `examples/conf/keepalived-pair.conf`): it elects the active director
//!   (the *master*), adds the VIP there and announces it with gratuitous
//!   ARPs, and removes it from a director that leaves the master state.
//! - [`setup_member`] (`failover_director setup`) programs the same virtual
//!   services on both directors through `ipvs`.
//! - [`follow_vrrp`] (`failover_director notify master|backup|fault`, which
//!   keepalived's `notify_master`, `notify_backup` and `notify_fault` run)
//!   starts the kernel's connection-sync daemon in the director's new role
//!   and stops the other role's. The master multicasts the state of the
//!   connections it schedules; the backup writes what it receives into its
//!   own connection table, so that when it becomes master the established
//!   connections find their entries there and keep their real servers. In
//!   an LVS-DR pair that is all keepalived does not do itself: the director
//!   keeps no other state. (keepalived's own `lvs_sync_daemon` makes the
//!   same switch from its IPVS support, which this example leaves out, IPVS
//!   being ours.)
//!
//! ```text
//! # both directors: the same services and real servers (-g), no VIP
//! ipvsadm -A -t VIP:PORT -s SCHED ; ipvsadm -a -t VIP:PORT -r RS -g ...
//! keepalived --vrrp -f keepalived-pair.conf
//! # notify_master: keepalived has added the VIP and sent its gratuitous ARPs
//! ipvsadm --stop-daemon backup
//! ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7 \
//!         [--sync-maxlen N] [--mcast-group G] [--mcast-port P] [--mcast-ttl T]
//! # notify_backup, notify_fault: keepalived has removed the VIP (if it held it)
//! ipvsadm --stop-daemon master
//! ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 7 ...
//! ```
//!
//! # Why LVS-DR
//!
//! The real servers answer the client directly, so nothing but IPVS's
//! connection entry decides where a client's next packet goes. A backup
//! *without* that entry sees a mid-stream TCP segment for the VIP, does not
//! schedule it (IPVS schedules only a SYN unless `net.ipv4.vs.sloppy_tcp`
//! is set), delivers it to its own stack, which holds the VIP but no socket,
//! and the client gets a RST. So a DR pair shows directly whether the
//! synchronisation worked. (With NAT the replies also cross the director,
//! and its conntrack state would have to be synchronised as well:
//! `conntrackd`, not IPVS.)
//!
//! # The kernel's sync daemon (`net/netfilter/ipvs/ip_vs_sync.c`)
//!
//! - Messages go to the multicast group (`IPVS_DAEMON_ATTR_MCAST_GROUP` or
//!   `..._GROUP6`, default 224.0.0.81) on UDP port `MCAST_PORT` (default
//!   8848) out of `MCAST_IFN`, with TTL `MCAST_TTL` (default 1). The
//!   group's family is independent of the connections': an IPv6 group
//!   carries IPv4 connections (sync protocol version 1,
//!   `net.ipv4.vs.sync_version=1`, the default; version 0 carries IPv4
//!   only).
//! - Defaults the kernel fills in (and `daemons()` reports): port 8848,
//!   TTL 1, max length MTU minus IP and UDP headers (1472 on a 1500-byte
//!   link, IPv4 group). A master takes a smaller max length as given; a
//!   backup's (its receive buffer) is raised to at least 1024. Seen on 6.1
//!   and 6.12 in `tests/kernel_daemon.rs`.
//! - An unknown interface: ENODEV. An IPv4 group on an interface without an
//!   IPv4 address: the daemon starts all the same (the kernel binds the
//!   master's socket to the interface's primary address when there is one).
//! - A master and a backup daemon can run side by side in one namespace.
//! - The sync id (`SYNC_ID`) is written into every message; a backup with a
//!   non-zero sync id drops messages with another one, a backup with sync id
//!   0 takes all. Several pairs can share a segment and group that way.
//! - A master syncs a TCP connection when it is ESTABLISHED (or closing) and
//!   its incoming packet count `pkts` satisfies `pkts % period == threshold`
//!   for `net.ipv4.vs.sync_threshold = "threshold period"` (default `3 50`):
//!   on the 3rd packet, then every 50 (unless `sync_refresh_period` is set).
//!   An idle connection that has seen fewer packets is not synced yet.
//! - The master batches messages up to `SYNC_MAXLEN` bytes and sends
//!   them at the latest every 2 s
//!   (`IPVS_SYNC_FLUSH_TIME`), so a backup's table lags by up to that.
//! - A backup running the daemon still forwards (unless
//!   `net.ipv4.vs.backup_only=1`); it simply holds no VIP until it is master.
//! - Starting a daemon fails with EEXIST when one in that role runs, EINVAL
//!   while a destination of another family than its service exists.

use std::net::IpAddr;

use ipvs::{DaemonRole, Ipvs, ServiceKey, SyncDaemon};

use super::setup::{self, DrDirector, VirtualService};

/// Why a pair operation failed: the step, and the cause.
#[derive(Debug)]
pub enum FailoverError {
    /// A request was refused before anything changed.
    InvalidArgument {
        /// The field at fault (`"vip"`, `"services"`).
        field: &'static str,
        /// The rule it broke, with the limit.
        reason: String,
    },
    /// An IPVS request failed.
    Ipvs {
        /// What was being done (`starting the master sync daemon`).
        what: String,
        /// The `ipvs` crate's error.
        source: ipvs::Error,
    },
    /// The service setup failed.
    Setup(String),
}

impl std::fmt::Display for FailoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailoverError::InvalidArgument { field, reason } => {
                write!(f, "invalid {field}: {reason}")
            }
            FailoverError::Ipvs { what, source } => write!(f, "{what}: {source}"),
            FailoverError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for FailoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FailoverError::Ipvs { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn ipvs_err(what: impl Into<String>) -> impl FnOnce(ipvs::Error) -> FailoverError {
    let what = what.into();
    move |source| FailoverError::Ipvs { what, source }
}

fn role_name(role: DaemonRole) -> &'static str {
    match role {
        DaemonRole::Master => "master",
        DaemonRole::Backup => "backup",
    }
}

/// The sync daemon settings a pair shares, as a [`SyncDaemon`] in `role`.
/// Only the role differs between the two directors (and between before and
/// after a failover); everything else, the sync id above all, must match.
pub fn daemon_in_role(sync: &SyncDaemon, role: DaemonRole) -> SyncDaemon {
    let mut d = sync.clone();
    d.role = role;
    d
}

/// Stops the sync daemon in `role` (`ipvsadm --stop-daemon ROLE`);
/// `Ok(false)` if none was running.
pub fn stop_daemon(ipvs: &Ipvs, role: DaemonRole) -> Result<bool, FailoverError> {
    match ipvs.stop_daemon(role) {
        Ok(()) => Ok(true),
        Err(ipvs::Error::NoDaemon) => Ok(false),
        Err(e) => Err(ipvs_err(format!(
            "stopping the {} sync daemon",
            role_name(role)
        ))(e)),
    }
}

/// (Re)starts the sync daemon `daemon` (`ipvsadm --start-daemon ROLE
/// --mcast-interface IF --syncid ID ...`): one already running in that role
/// is stopped first, so the settings given are the ones in force.
pub fn restart_daemon(ipvs: &Ipvs, daemon: &SyncDaemon) -> Result<(), FailoverError> {
    let what = format!(
        "starting the {} sync daemon on {} (sync id {})",
        role_name(daemon.role),
        daemon.interface,
        daemon.sync_id
    );
    daemon.validate().map_err(ipvs_err(what.clone()))?;
    stop_daemon(ipvs, daemon.role)?;
    ipvs.start_daemon(daemon).map_err(ipvs_err(what))
}

/// Checks that the pair has services and that they share one VIP (the one
/// keepalived moves).
fn the_vip(services: &[VirtualService]) -> Result<IpAddr, FailoverError> {
    let first = services
        .first()
        .ok_or_else(|| FailoverError::InvalidArgument {
            field: "services",
            reason: "a director pair needs at least one virtual service".into(),
        })?;
    if let Some(other) = services.iter().find(|s| s.vip != first.vip) {
        return Err(FailoverError::InvalidArgument {
            field: "vip",
            reason: format!(
                "{} and {}: the pair moves one VIP, so every service must use it",
                first.vip, other.vip
            ),
        });
    }
    Ok(first.vip)
}

/// Sets up one director of the pair in the calling thread's namespace: the
/// LVS-DR services, all on one VIP (see [`setup::dr_director`]), without the
/// VIP itself, which is keepalived's. No sync daemon yet: keepalived's first
/// notification starts it in the director's role. Returns the service keys.
pub fn setup_member(
    ipvs: &Ipvs,
    services: &[VirtualService],
) -> Result<Vec<ServiceKey>, FailoverError> {
    the_vip(services)?;
    let mut keys = Vec::new();
    for service in services {
        let dr = DrDirector {
            service: service.clone(),
            vip_iface: None,
            vip_prefix: if service.vip.is_ipv4() { 32 } else { 128 },
        };
        keys.push(setup::dr_director(ipvs, &dr).map_err(FailoverError::Setup)?);
    }
    Ok(keys)
}

/// The VRRP state keepalived reports to a notify script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpState {
    /// `notify_master`: this director holds the VIP.
    Master,
    /// `notify_backup`: another director holds it.
    Backup,
    /// `notify_fault`: this director cannot take part (its interface is
    /// down, or a tracked script failed).
    Fault,
}

impl VrrpState {
    /// keepalived's word for it (`master`, `backup`, `fault`).
    pub fn name(self) -> &'static str {
        match self {
            VrrpState::Master => "master",
            VrrpState::Backup => "backup",
            VrrpState::Fault => "fault",
        }
    }

    /// The sync daemon role a director in this state runs: master only
    /// while it holds the VIP; a backup, or a director in fault, receives
    /// (once its link is back), so that it can take over later.
    pub fn daemon_role(self) -> DaemonRole {
        match self {
            VrrpState::Master => DaemonRole::Master,
            VrrpState::Backup | VrrpState::Fault => DaemonRole::Backup,
        }
    }
}

impl std::str::FromStr for VrrpState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "master" => Ok(VrrpState::Master),
            "backup" => Ok(VrrpState::Backup),
            "fault" => Ok(VrrpState::Fault),
            other => Err(format!("VRRP state {other:?}: master, backup or fault")),
        }
    }
}

/// Whether `running` (as `daemons()` reports it) is `wanted`: the same role,
/// interface and sync id, and the same group, port and TTL where `wanted`
/// gives them (the kernel fills in the others). The max length is left out:
/// the kernel raises a backup's to 1024.
fn runs_as(running: &SyncDaemon, wanted: &SyncDaemon) -> bool {
    fn given<T: PartialEq>(wanted: Option<T>, running: Option<T>) -> bool {
        wanted.is_none() || wanted == running
    }
    running.role == wanted.role
        && running.interface == wanted.interface
        && running.sync_id == wanted.sync_id
        && given(wanted.mcast_group, running.mcast_group)
        && given(wanted.mcast_port, running.mcast_port)
        && given(wanted.mcast_ttl, running.mcast_ttl)
}

/// Switches the sync daemon of the calling thread's namespace to the role
/// of VRRP `state` (see [`VrrpState::daemon_role`]): stops the daemon of
/// the other role, if one runs, and starts this role's with the pair's
/// settings (keepalived's `lvs_sync_daemon` does the same), unless it
/// already runs with them: keepalived repeats a state (a director back from
/// fault is told `backup` again), and restarting a backup daemon would drop
/// the sync messages that arrive meanwhile. A daemon in this role with
/// other settings is restarted with these.
///
/// Entering master, the backup daemon is stopped only now, after
/// keepalived took the VIP: the connections synced so far are served from
/// the first packet, and no update is missed in between.
pub fn follow_vrrp(ipvs: &Ipvs, sync: &SyncDaemon, state: VrrpState) -> Result<(), FailoverError> {
    let role = state.daemon_role();
    let daemon = daemon_in_role(sync, role);
    daemon.validate().map_err(ipvs_err(format!(
        "checking the {} sync daemon",
        role_name(role)
    )))?;
    let other = match role {
        DaemonRole::Master => DaemonRole::Backup,
        DaemonRole::Backup => DaemonRole::Master,
    };
    stop_daemon(ipvs, other)?;
    let running = ipvs
        .daemons()
        .map_err(ipvs_err("listing the sync daemons"))?;
    if running.iter().any(|d| runs_as(d, &daemon)) {
        return Ok(());
    }
    restart_daemon(ipvs, &daemon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(vip: &str, port: u16) -> VirtualService {
        VirtualService {
            vip: vip.parse().unwrap(),
            port,
            scheduler: "rr".into(),
            real_servers: vec![],
            replace: false,
        }
    }

    #[test]
    fn roles_swap_and_nothing_else_does() {
        let sync = SyncDaemon::new(DaemonRole::Backup, "eth0", 7)
            .with_mcast_group("ff02::81".parse().unwrap())
            .with_mcast_port(8850)
            .with_mcast_ttl(1)
            .with_max_len(1400);
        let m = daemon_in_role(&sync, DaemonRole::Master);
        assert_eq!(m.role, DaemonRole::Master);
        assert_eq!(daemon_in_role(&m, DaemonRole::Backup), sync);
    }

    #[test]
    fn a_pair_moves_one_vip() {
        assert!(the_vip(&[vs("192.0.2.100", 23), vs("192.0.2.100", 80)]).is_ok());
        let e = the_vip(&[vs("192.0.2.100", 23), vs("192.0.2.101", 80)]).unwrap_err();
        assert!(
            matches!(e, FailoverError::InvalidArgument { field: "vip", .. }),
            "{e}"
        );
        let e = the_vip(&[]).unwrap_err();
        assert!(matches!(
            e,
            FailoverError::InvalidArgument {
                field: "services",
                ..
            }
        ));
    }

    #[test]
    fn only_a_master_sends() {
        for (word, state, role) in [
            ("master", VrrpState::Master, DaemonRole::Master),
            ("backup", VrrpState::Backup, DaemonRole::Backup),
            ("fault", VrrpState::Fault, DaemonRole::Backup),
        ] {
            let parsed: VrrpState = word.parse().unwrap();
            assert_eq!(
                (parsed, parsed.name(), parsed.daemon_role()),
                (state, word, role)
            );
        }
        let e = "MASTER".parse::<VrrpState>().unwrap_err();
        assert!(e.contains("master, backup or fault"), "{e}");
    }

    #[test]
    fn a_daemon_already_running_with_the_settings_is_kept() {
        let wanted = SyncDaemon::new(DaemonRole::Backup, "eth0", 7)
            .with_mcast_group("239.0.0.81".parse().unwrap())
            .with_max_len(1000);
        // What the kernel reports: the defaults filled in, a backup's max
        // length raised.
        let running = wanted
            .clone()
            .with_mcast_port(8848)
            .with_mcast_ttl(1)
            .with_max_len(1024);
        assert!(runs_as(&running, &wanted));
        let mut other_id = running.clone();
        other_id.sync_id = 8;
        for other in [
            daemon_in_role(&running, DaemonRole::Master),
            SyncDaemon::new(DaemonRole::Backup, "eth1", 7),
            running
                .clone()
                .with_mcast_group("239.0.0.82".parse().unwrap()),
            other_id,
        ] {
            assert!(!runs_as(&other, &wanted), "{other:?}");
        }
        assert!(!runs_as(&running, &wanted.clone().with_mcast_port(8850)));
    }
}
