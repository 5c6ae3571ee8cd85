// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two LVS-DR directors for one VIP: connection synchronisation and
//! failover, the active/backup pair that keepalived runs.
//!
//! Both directors carry the same virtual services and real servers. The
//! active one (the *master*) holds the VIP and runs the kernel's sync daemon
//! as master: it multicasts the state of the connections it schedules. The
//! other runs the daemon as backup and writes what it receives into its own
//! connection table. When the VRRP speaker decides the master is gone, the
//! backup is *promoted*: it takes the VIP, announces it (gratuitous ARP for
//! an IPv4 VIP, an unsolicited neighbour advertisement for an IPv6 one), and
//! swaps its daemon from backup to master; the established connections find
//! their entries there and keep their real servers.
//!
//! ```text
//! # on both directors (same services, same real servers, -g)
//! ipvsadm -A -t VIP:PORT -s SCHED ; ipvsadm -a -t VIP:PORT -r RS -g ...
//! # master
//! ip addr add VIP/32 dev eth0
//! ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7 \
//!         [--sync-maxlen N] [--mcast-group G] [--mcast-port P] [--mcast-ttl T]
//! # backup
//! ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 7 ...
//! # promote the backup (keepalived: `notify_master`, `lvs_sync_daemon eth0 VI_1`)
//! ip addr add VIP/32 dev eth0
//! arping -U -c 3 -I eth0 VIP
//! #   an IPv6 VIP: ip -6 addr add VIP/128 dev eth0 nodad, then 3 unsolicited
//! #   neighbour advertisements to ff02::1 (no iputils tool; see `announce`)
//! ipvsadm --stop-daemon backup
//! ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7 ...
//! # demote the old master, if it is alive
//! ip addr del VIP/32 dev eth0
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
//!   and 6.12 in `tests/kernel_failover.rs`.
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
//!   `net.ipv4.vs.backup_only=1`); it simply holds no VIP until promoted.
//! - Starting a daemon fails with EEXIST when one in that role runs, EINVAL
//!   while a destination of another family than its service exists.
//!
//! # Announcing an IPv6 VIP (RFC 4861 §7.2.6)
//!
//! IPv6 has no ARP: [`announce`] sends the neighbour discovery equivalent
//! of a gratuitous ARP itself, over a raw ICMPv6 socket (what keepalived
//! does for its IPv6 VIPs). What Linux makes of it (`net/ipv6/ndisc.c`;
//! the entry update, the untracked address, the tentative bind and the
//! control without an advertisement are checked on 6.1 and 6.12 in
//! `tests/kernel_announce.rs`, the hop limit and checksum only in that the
//! advertisement is accepted):
//!
//! - A receiver drops any neighbour discovery message whose hop limit is
//!   not 255 (proof it was not routed), so the socket sends with
//!   `IPV6_MULTICAST_HOPS` 255.
//! - It updates only an entry it already has for the target (unless
//!   `net.ipv6.conf.IF.accept_untracked_na` is set, 5.19+): the client and
//!   the router that talked to the VIP are the ones that have one. With
//!   Override set, the entry takes the new MAC at once (state STALE, so it
//!   is confirmed on next use); there is no `locktime` as for ARP.
//! - The source is the VIP, and a raw socket can only bind to an address
//!   that is no longer *tentative*: a new IPv6 address stays tentative for
//!   duplicate address detection (1-2 s by default) and `bind` fails with
//!   EADDRNOTAVAIL meanwhile. [`promote`] therefore adds an IPv6 VIP with
//!   `nodad` (`IFA_F_NODAD`), as keepalived does: DAD would only find the
//!   old master, if it still answers, and then mark the VIP `dadfailed`,
//!   unusable, which is the opposite of a takeover.
//! - Taking the address does not announce it by itself (unless
//!   `net.ipv6.conf.IF.ndisc_notify` is set): without the advertisement the
//!   client keeps sending to the old MAC until its entry is probed.
//! - The kernel fills in the ICMPv6 checksum of a raw `IPPROTO_ICMPV6`
//!   socket (`IPV6_CHECKSUM` is fixed at offset 2 there).
//!
//! The VRRP side (deciding *when* to promote) is keepalived's job and is not
//! reimplemented here: [`promote`] and [`demote`] are what its
//! `notify_master` / `notify_backup` scripts (or its built-in
//! `lvs_sync_daemon`) do.

use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::process::Command;
use std::time::Duration;

use nix::libc::{EADDRNOTAVAIL, EPERM};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use ipvs::{DaemonRole, Ipvs, ServiceKey, SyncDaemon};

use super::net::{Net, NetError};
use super::setup::{self, DrDirector, VirtualService};

/// Most announcements (gratuitous ARPs or unsolicited neighbour
/// advertisements) [`announce`] sends (keepalived's
/// `vrrp_garp_master_repeat` default is 5).
pub const MAX_ANNOUNCEMENTS: u32 = 20;

/// Why a pair operation failed: the step, and the cause.
#[derive(Debug)]
pub enum FailoverError {
    /// A request was refused before anything changed.
    InvalidArgument {
        /// The field at fault (`"vip"`, `"announcements"`).
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
    /// An rtnetlink request failed (the VIP's address).
    Net(NetError),
    /// Opening rtnetlink failed.
    Io(std::io::Error),
    /// The other director steps (service setup) failed.
    Setup(String),
    /// `arping` could not run or failed.
    Announce {
        /// The command line.
        command: String,
        /// What went wrong (its stderr, or why it could not start).
        reason: String,
    },
    /// An unsolicited neighbour advertisement for an IPv6 VIP could not be
    /// sent.
    Advertise {
        /// The VIP.
        vip: Ipv6Addr,
        /// The interface.
        iface: String,
        /// The step that failed (`binding to the VIP`).
        step: &'static str,
        /// The socket error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for FailoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailoverError::InvalidArgument { field, reason } => {
                write!(f, "invalid {field}: {reason}")
            }
            FailoverError::Ipvs { what, source } => write!(f, "{what}: {source}"),
            FailoverError::Net(e) => e.fmt(f),
            FailoverError::Io(e) => write!(f, "opening rtnetlink: {e}"),
            FailoverError::Setup(e) => f.write_str(e),
            FailoverError::Announce { command, reason } => {
                write!(
                    f,
                    "announcing the VIP (`{command}`, package iputils-arping): {reason}"
                )
            }
            FailoverError::Advertise {
                vip,
                iface,
                step,
                source,
            } => {
                write!(
                    f,
                    "announcing {vip} on {iface} with an unsolicited neighbour advertisement: \
                     {step}: {source}"
                )?;
                match source.raw_os_error() {
                    Some(EADDRNOTAVAIL) => write!(
                        f,
                        " ({vip} must be on {iface} and not tentative: add it with `nodad`)"
                    ),
                    Some(EPERM) => f.write_str(" (a raw socket needs CAP_NET_RAW)"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for FailoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FailoverError::Ipvs { source, .. } => Some(source),
            FailoverError::Net(e) => Some(e),
            FailoverError::Io(e) => Some(e),
            FailoverError::Advertise { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<NetError> for FailoverError {
    fn from(e: NetError) -> Self {
        FailoverError::Net(e)
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
/// after a promotion); everything else, the sync id above all, must match.
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

/// One director of a pair.
#[derive(Clone, Debug)]
pub struct PairMember {
    /// The virtual services, identical on both directors (LVS-DR).
    pub services: Vec<VirtualService>,
    /// Master (holds the VIP) or backup.
    pub role: DaemonRole,
    /// The interface that holds the VIP when this director is active.
    pub vip_iface: String,
    /// The VIP's prefix length there (32 or 128: answer ARP, route nothing).
    pub vip_prefix: u8,
    /// The sync daemon settings shared by the pair (its role is ignored).
    pub sync: SyncDaemon,
}

/// Checks that all services share one VIP (the one the pair moves) and
/// that the prefix fits its family.
fn the_vip(services: &[VirtualService], prefix: u8) -> Result<IpAddr, FailoverError> {
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
    check_prefix(first.vip, prefix)?;
    Ok(first.vip)
}

fn check_prefix(vip: IpAddr, prefix: u8) -> Result<(), FailoverError> {
    let max = if vip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(FailoverError::InvalidArgument {
            field: "vip prefix",
            reason: format!("{prefix}: at most {max} for {vip}"),
        });
    }
    Ok(())
}

/// Sets up one director of the pair in the calling thread's namespace: the
/// LVS-DR services (see [`setup::dr_director`]), the VIP only on the
/// master, and the sync daemon in this director's role. Returns the
/// service keys.
pub fn setup_member(ipvs: &Ipvs, cfg: &PairMember) -> Result<Vec<ServiceKey>, FailoverError> {
    the_vip(&cfg.services, cfg.vip_prefix)?;
    let mut keys = Vec::new();
    for (i, service) in cfg.services.iter().enumerate() {
        let dr = DrDirector {
            service: service.clone(),
            // The VIP once, and only where the pair is active: a backup
            // holding it would answer ARP for it too.
            vip_iface: (i == 0 && cfg.role == DaemonRole::Master).then(|| cfg.vip_iface.clone()),
            vip_prefix: cfg.vip_prefix,
        };
        keys.push(setup::dr_director(ipvs, &dr).map_err(FailoverError::Setup)?);
    }
    restart_daemon(ipvs, &daemon_in_role(&cfg.sync, cfg.role))?;
    Ok(keys)
}

/// What moves on a promotion or demotion.
#[derive(Clone, Debug)]
pub struct Handover {
    /// The VIP.
    pub vip: IpAddr,
    /// The interface that holds it.
    pub vip_iface: String,
    /// Its prefix length there.
    pub vip_prefix: u8,
    /// The pair's sync daemon settings (the role is set by the operation).
    pub sync: SyncDaemon,
    /// Announcements to send after taking the VIP (0: none), one a
    /// second: gratuitous ARPs for IPv4, unsolicited neighbour
    /// advertisements for IPv6 (see [`announce`]); at most
    /// [`MAX_ANNOUNCEMENTS`].
    pub announcements: u32,
}

/// Checks a number of announcements (0: none).
fn check_announcements(count: u32) -> Result<(), FailoverError> {
    if count > MAX_ANNOUNCEMENTS {
        return Err(FailoverError::InvalidArgument {
            field: "announcements",
            reason: format!("{count}: at most {MAX_ANNOUNCEMENTS}"),
        });
    }
    Ok(())
}

/// Announces `vip` on `iface` with `count` announcements, one a second
/// (nothing for 0), so that neighbours that have an entry for the VIP (the
/// client, the router) replace the old director's MAC with this one at
/// once, instead of when their entry goes stale (tens of seconds):
///
/// - IPv4: gratuitous ARP requests, `arping -U -c COUNT -I IFACE VIP`
///   (iputils-arping). Linux updates an existing entry from a gratuitous
///   ARP even with `arp_accept=0` and within `locktime`.
/// - IPv6: unsolicited neighbour advertisements (RFC 4861 §7.2.6), sent
///   here over a raw ICMPv6 socket (iputils has no such tool; keepalived
///   sends them itself): ICMPv6 type 136 (`ND_NEIGHBOR_ADVERT`), code 0,
///   Override set, Solicited and Router clear, target the VIP, a Target
///   Link-Layer Address option (`ND_OPT_TARGET_LINKADDR`, 2) with `iface`'s
///   MAC; from the VIP to all nodes (ff02::1) on `iface`, hop limit 255.
///   The VIP must be on `iface` and not tentative (see [`promote`], which
///   adds it with `nodad`); needs CAP_NET_RAW. See the module docs for
///   what Linux does with it.
pub fn announce(vip: IpAddr, iface: &str, count: u32) -> Result<(), FailoverError> {
    check_announcements(count)?;
    if count == 0 {
        return Ok(());
    }
    match vip {
        IpAddr::V4(_) => gratuitous_arp(vip, iface, count),
        IpAddr::V6(vip) => advertise(vip, iface, count),
    }
}

/// `arping -q -U -c COUNT -I IFACE VIP`.
fn gratuitous_arp(vip: IpAddr, iface: &str, count: u32) -> Result<(), FailoverError> {
    let args = [
        "-q".to_string(),
        "-U".to_string(),
        "-c".to_string(),
        count.to_string(),
        "-I".to_string(),
        iface.to_string(),
        vip.to_string(),
    ];
    let command = format!("arping {}", args.join(" "));
    let out = Command::new("arping")
        .args(&args)
        .output()
        .map_err(|e| FailoverError::Announce {
            command: command.clone(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(FailoverError::Announce {
            command,
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Checks an interface name (`IFNAMSIZ` is 16 with the NUL, so at most 15
/// bytes; no `/`, no whitespace), before asking the kernel for it.
fn check_iface(iface: &str) -> Result<(), FailoverError> {
    const MAX: usize = 15;
    let reason = if iface.is_empty() {
        "an interface name is required".to_string()
    } else if iface.len() > MAX {
        format!(
            "{iface:?}: {} bytes, at most {MAX} (IFNAMSIZ - 1)",
            iface.len()
        )
    } else if iface.contains(|c: char| c == '/' || c.is_whitespace() || c == '\0') {
        format!("{iface:?}: no '/', whitespace or NUL in an interface name")
    } else {
        return Ok(());
    };
    Err(FailoverError::InvalidArgument {
        field: "vip iface",
        reason,
    })
}

/// ICMPv6 Neighbor Advertisement (`ND_NEIGHBOR_ADVERT`, RFC 4861 §4.4).
const ND_NEIGHBOR_ADVERT: u8 = 136;
/// The Override flag (`ND_NA_FLAG_OVERRIDE`): the first byte after the
/// checksum holds Router (0x80), Solicited (0x40) and Override (0x20).
const ND_NA_FLAG_OVERRIDE: u8 = 0x20;
/// The Target Link-Layer Address option (`ND_OPT_TARGET_LINKADDR`, RFC 4861
/// §4.6.1).
const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// The hop limit every neighbour discovery message carries (RFC 4861 §7.1.2:
/// receivers drop any other).
const ND_HOP_LIMIT: u32 = 255;
/// All nodes on the link.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The ICMPv6 message of an unsolicited neighbour advertisement for
/// `target` at `mac` (RFC 4861 §4.4, §7.2.6): type 136, code 0, the
/// checksum left 0 (the kernel fills it in), Override only, the target, and
/// a Target Link-Layer Address option of length 1 (8 bytes).
pub fn unsolicited_neighbour_advertisement(target: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = ND_NEIGHBOR_ADVERT;
    // m[1]: code 0; m[2..4]: checksum.
    m[4] = ND_NA_FLAG_OVERRIDE;
    // m[5..8]: reserved.
    m[8..24].copy_from_slice(&target.octets());
    m[24] = ND_OPT_TARGET_LINKADDR;
    m[25] = 1; // in units of 8 bytes: type, length, the 6-byte MAC
    m[26..32].copy_from_slice(&mac);
    m
}

/// Sends `count` unsolicited neighbour advertisements for `vip` on `iface`,
/// one a second (see [`announce`]).
fn advertise(vip: Ipv6Addr, iface: &str, count: u32) -> Result<(), FailoverError> {
    check_iface(iface)?;
    let net = Net::new().map_err(FailoverError::Io)?;
    let (index, mac) = net.link_index_and_address(iface)?;
    let mac: [u8; 6] = mac
        .as_slice()
        .try_into()
        .map_err(|_| FailoverError::InvalidArgument {
            field: "vip iface",
            reason: format!(
                "{iface} has a {}-byte link-layer address: a neighbour advertisement \
                 needs an Ethernet (6-byte) one",
                mac.len()
            ),
        })?;
    let message = unsolicited_neighbour_advertisement(vip, mac);
    let fail = |step| {
        let iface = iface.to_string();
        move |source| FailoverError::Advertise {
            vip,
            iface,
            step,
            source,
        }
    };
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
        .map_err(fail("opening a raw ICMPv6 socket"))?;
    socket
        .set_multicast_hops_v6(ND_HOP_LIMIT)
        .map_err(fail("setting the hop limit to 255"))?;
    socket
        .set_multicast_if_v6(index)
        .map_err(fail("choosing the interface"))?;
    // Not to ourselves: our own stack would only see its address advertised.
    socket
        .set_multicast_loop_v6(false)
        .map_err(fail("turning multicast loopback off"))?;
    socket
        .bind(&SockAddr::from(SocketAddrV6::new(vip, 0, 0, index)))
        .map_err(fail("binding to the VIP"))?;
    let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, index));
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        socket
            .send_to(&message, &to)
            .map_err(fail("sending to ff02::1"))?;
    }
    Ok(())
}

/// Promotes this director (the backup) to active, in the calling thread's
/// namespace: takes the VIP (an IPv6 one with `nodad`, see the module
/// docs), announces it (see [`announce`]), stops the
/// backup sync daemon and starts the master daemon with the same settings
/// and sync id, so this director now tells the other (once it is back, as
/// backup) about its connections. Idempotent: promoting an active director
/// changes nothing but restarting its master daemon.
///
/// The VIP comes first: the connections already synced here are served from
/// the moment packets arrive, and the backup daemon is stopped only after,
/// so no update is missed in between.
pub fn promote(cfg: &Handover) -> Result<(), FailoverError> {
    check_prefix(cfg.vip, cfg.vip_prefix)?;
    check_announcements(cfg.announcements)?;
    let master = daemon_in_role(&cfg.sync, DaemonRole::Master);
    master
        .validate()
        .map_err(ipvs_err("checking the master sync daemon"))?;
    let ipvs = Ipvs::new().map_err(ipvs_err("opening IPVS"))?;
    let net = Net::new().map_err(FailoverError::Io)?;
    // `nodad` for IPv6: the announcement binds to the VIP at once, which
    // fails while it is tentative, and DAD would only find the old master.
    net.add_address_nodad(&cfg.vip_iface, cfg.vip, cfg.vip_prefix)?;
    announce(cfg.vip, &cfg.vip_iface, cfg.announcements)?;
    stop_daemon(&ipvs, DaemonRole::Backup)?;
    restart_daemon(&ipvs, &master)
}

/// Demotes this director (the old master, if it is alive) to backup, in
/// the calling thread's namespace: gives up the VIP, stops the master sync
/// daemon and starts the backup daemon with the same settings, so it
/// receives the new master's connections. Idempotent.
pub fn demote(cfg: &Handover) -> Result<(), FailoverError> {
    let backup = daemon_in_role(&cfg.sync, DaemonRole::Backup);
    backup
        .validate()
        .map_err(ipvs_err("checking the backup sync daemon"))?;
    let ipvs = Ipvs::new().map_err(ipvs_err("opening IPVS"))?;
    let net = Net::new().map_err(FailoverError::Io)?;
    net.remove_address(&cfg.vip_iface, cfg.vip)?;
    stop_daemon(&ipvs, DaemonRole::Master)?;
    restart_daemon(&ipvs, &backup)
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
        assert!(the_vip(&[vs("192.0.2.100", 23), vs("192.0.2.100", 80)], 32).is_ok());
        let e = the_vip(&[vs("192.0.2.100", 23), vs("192.0.2.101", 80)], 32).unwrap_err();
        assert!(
            matches!(e, FailoverError::InvalidArgument { field: "vip", .. }),
            "{e}"
        );
        let e = the_vip(&[], 32).unwrap_err();
        assert!(matches!(
            e,
            FailoverError::InvalidArgument {
                field: "services",
                ..
            }
        ));
        let e = the_vip(&[vs("192.0.2.100", 23)], 33).unwrap_err();
        assert!(e.to_string().contains("at most 32"), "{e}");
    }

    #[test]
    fn announcements_are_bounded() {
        for vip in ["192.0.2.100", "2001:db8::100"] {
            let e = announce(vip.parse().unwrap(), "eth0", MAX_ANNOUNCEMENTS + 1).unwrap_err();
            assert!(
                matches!(
                    e,
                    FailoverError::InvalidArgument {
                        field: "announcements",
                        ..
                    }
                ),
                "{e}"
            );
            // None asked, none sent (and no arping or raw socket needed).
            announce(vip.parse().unwrap(), "eth0", 0).unwrap();
        }
    }

    #[test]
    fn an_ipv6_announcement_checks_the_interface_name_first() {
        let vip: IpAddr = "2001:db8::100".parse().unwrap();
        for (iface, says) in [
            ("", "required"),
            ("a-name-of-16-byt", "at most 15"),
            ("eth/0", "no '/'"),
            ("eth 0", "whitespace"),
        ] {
            let e = announce(vip, iface, 1).unwrap_err();
            assert!(
                matches!(
                    e,
                    FailoverError::InvalidArgument {
                        field: "vip iface",
                        ..
                    }
                ),
                "{iface:?}: {e}"
            );
            assert!(e.to_string().contains(says), "{iface:?}: {e}");
        }
        // 15 bytes is a valid name.
        assert!(check_iface("a-name-of-15-by").is_ok());
    }

    #[test]
    fn the_neighbour_advertisement_is_rfc_4861_unsolicited() {
        let m = unsolicited_neighbour_advertisement(
            "2001:db8::100".parse().unwrap(),
            [0x02, 0x00, 0x5e, 0x10, 0x20, 0xaa],
        );
        #[rustfmt::skip]
        let want: [u8; 32] = [
            136, 0, 0, 0,           // type NA, code 0, checksum (the kernel's)
            0x20, 0, 0, 0,          // R=0 S=0 O=1, reserved
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target
            2, 1,                   // Target Link-Layer Address, 8 bytes
            0x02, 0x00, 0x5e, 0x10, 0x20, 0xaa,
        ];
        assert_eq!(m, want);
    }

    #[test]
    fn an_advertise_error_says_what_to_do() {
        let e = FailoverError::Advertise {
            vip: "2001:db8::100".parse().unwrap(),
            iface: "eth0".into(),
            step: "binding to the VIP",
            source: std::io::Error::from_raw_os_error(EADDRNOTAVAIL),
        };
        let text = e.to_string();
        assert!(text.contains("binding to the VIP"), "{text}");
        assert!(text.contains("nodad"), "{text}");
        assert!(std::error::Error::source(&e).is_some());
        let e = FailoverError::Advertise {
            vip: "2001:db8::100".parse().unwrap(),
            iface: "eth0".into(),
            step: "opening a raw ICMPv6 socket",
            source: std::io::Error::from_raw_os_error(EPERM),
        };
        assert!(e.to_string().contains("CAP_NET_RAW"), "{e}");
    }

    #[test]
    fn promote_refuses_bad_input_before_changing_anything() {
        let cfg = Handover {
            vip: "192.0.2.100".parse().unwrap(),
            vip_iface: "eth0".into(),
            vip_prefix: 32,
            sync: SyncDaemon::new(DaemonRole::Backup, "eth0", 7),
            announcements: MAX_ANNOUNCEMENTS + 1,
        };
        // No namespace, no IPVS needed: refused up front.
        assert!(matches!(
            promote(&cfg),
            Err(FailoverError::InvalidArgument {
                field: "announcements",
                ..
            })
        ));
        let bad_iface = Handover {
            announcements: 1,
            sync: SyncDaemon::new(DaemonRole::Backup, "", 7),
            ..cfg
        };
        assert!(matches!(
            promote(&bad_iface),
            Err(FailoverError::Ipvs {
                source: ipvs::Error::InvalidArgument {
                    field: "interface",
                    ..
                },
                ..
            })
        ));
    }
}
