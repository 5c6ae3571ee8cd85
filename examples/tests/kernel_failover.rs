// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two LVS-DR directors with connection synchronisation, failing over with
//! live connections, inside the lab VM (`failover_director`, see
//! `src/director/failover.rs`).
//!
//! One L2 segment (a bridge in a "switch" namespace) holds the client (this
//! test's namespace, 192.0.2.50), director A (192.0.2.1, the master, holding
//! the VIP 192.0.2.100), director B (192.0.2.2, the backup) and three DR real
//! servers (192.0.2.11-13) running `serve_name --echo`. Both directors carry
//! the same two services (VIP:23 and VIP:80, rr); A runs the sync daemon as
//! master, B as backup.
//!
//! The client opens long-lived connections through A and talks on each;
//! B's connection table must then hold every one of them, with the same
//! real server, marked as created by the sync daemon (origin `SYNC` in
//! `/proc/net/ip_vs_conn_sync`, read with `ipvs::conn`). A "dies" (its link goes down), B is promoted (VIP, a
//! gratuitous ARP, daemons swapped), and every established connection must
//! go on answering from the same real server, through B; new connections
//! are scheduled by B (its own entries, origin `LOCAL`). A comes back and is
//! demoted to backup, and B's new connections then reach A's table.
//!
//! The same run without sync daemons shows what the test would catch: B has
//! no entries, and every established connection is reset at failover.
//!
//! Run with an IPv4 and an IPv6 multicast group (the daemon's transport;
//! the connections are IPv4 in both).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ipvs::conn::{ConnectionOrigin, ConnectionState, read_sync_connections_in_netns};
use ipvs::{DaemonRole, Ipvs};
use ipvs_lab::{in_netns, sh};

mod common;
use common::{Lab, Reply};

const PAIR: &str = env!("CARGO_BIN_EXE_failover_director");

const VIP: &str = "192.0.2.100";
const PORTS: [u16; 2] = [23, 80];
const SYNC_ID: u8 = 7;

/// The real server's name for its address (rsN is 192.0.2.1N).
fn rs_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) if (11..=13).contains(&a.octets()[3]) => {
            format!("rs{}", a.octets()[3] - 10)
        }
        other => format!("unexpected {other}"),
    }
}

/// A long-lived client connection and the real server that answered it.
struct Held {
    port: u16,
    local: SocketAddr,
    rs: String,
    out: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Held {
    fn open(port: u16) -> Held {
        let vip: SocketAddr = format!("{VIP}:{port}").parse().unwrap();
        let s = TcpStream::connect_timeout(&vip, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connecting to {vip}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let local = s.local_addr().unwrap();
        let mut lines = BufReader::new(s.try_clone().unwrap());
        let mut rs = String::new();
        lines
            .read_line(&mut rs)
            .unwrap_or_else(|e| panic!("reading the greeting on {local} -> {vip}: {e}"));
        Held {
            port,
            local,
            rs: rs.trim().to_string(),
            out: s,
            lines,
        }
    }

    /// Sends `text`, returns the answer line (or the error).
    fn say(&mut self, text: &str) -> std::io::Result<String> {
        self.out.write_all(format!("{text}\n").as_bytes())?;
        let mut line = String::new();
        match self.lines.read_line(&mut line)? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(line.trim().to_string()),
        }
    }

    /// Sends `text` and asserts the same real server answers it.
    fn say_ok(&mut self, text: &str) {
        let local = self.local;
        let got = self
            .say(text)
            .unwrap_or_else(|e| panic!("{local} -> {VIP}:{} ({}): {e}", self.port, self.rs));
        assert_eq!(got, format!("{} {text}", self.rs), "connection {local}");
    }
}

/// The connection table of namespace `ns` with each entry's origin
/// (`/proc/net/ip_vs_conn_sync`): client → (state, origin, real server).
fn table(ns: &str) -> BTreeMap<SocketAddr, (ConnectionState, ConnectionOrigin, String)> {
    read_sync_connections_in_netns(ns)
        .unwrap_or_else(|e| panic!("reading {ns}'s connection table: {e}"))
        .into_iter()
        .map(|c| {
            let conn = c.connection;
            (
                conn.client,
                (conn.state, c.origin, rs_name(conn.destination.ip())),
            )
        })
        .collect()
}

/// Polls `ns`'s table until every held connection is there, ESTABLISHED,
/// with its real server and the given origin (a master flushes its sync
/// messages at least every 2 s).
fn wait_for(
    ns: &str,
    held: &[&Held],
    origin: ConnectionOrigin,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let t = table(ns);
        let missing: Vec<String> = held
            .iter()
            .filter(|h| {
                t.get(&h.local) != Some(&(ConnectionState::Established, origin, h.rs.clone()))
            })
            .map(|h| format!("{} ({})", h.local, h.rs))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{missing:?} not in {ns}'s table as {}: {t:?}",
                origin.name()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The sync daemon flags of one run.
struct Sync {
    group: &'static str,
    mcast_port: u16,
}

impl Sync {
    fn args(&self) -> String {
        format!(
            "--sync-iface eth0 --sync-id {SYNC_ID} --sync-maxlen 1200 --mcast-group {} --mcast-port {} --mcast-ttl 1",
            self.group, self.mcast_port
        )
    }
}

/// Builds the segment; returns the namespaces of A and B.
fn topology(lab: &mut Lab) -> (String, String) {
    let sw = lab.ns("sw");
    // No multicast snooping: the bridge floods the sync group whatever MLD
    // or IGMP says (as a plain switch would).
    sh(&format!(
        "ip -n {sw} link add br0 type bridge mcast_snooping 0 && ip -n {sw} link set br0 up\n\
         ip link add c0 type veth peer name pc netns {sw} && ip -n {sw} link set pc master br0 up\n\
         ip addr add 192.0.2.50/24 dev c0 && ip link set c0 up"
    ));
    let mut dirs = Vec::new();
    for (i, host) in ["a", "b"].iter().enumerate() {
        let d = lab.ns(host);
        let n = i + 1;
        // An IPv6 address on the sync interface for the IPv6 group (nodad:
        // usable at once).
        sh(&format!(
            "ip -n {sw} link add p{host} type veth peer name eth0 netns {d} && ip -n {sw} link set p{host} master br0 up\n\
             ip -n {d} addr add 192.0.2.{n}/24 dev eth0 && ip -n {d} addr add 2001:db8::{n}/64 dev eth0 nodad\n\
             ip -n {d} link set eth0 up"
        ));
        dirs.push(d);
    }
    for i in 1..=3 {
        let rs = lab.dr_real_server(&sw, i, VIP);
        for port in PORTS {
            lab.serve(&rs, port, &format!("rs{i}"), Reply::Echo);
        }
    }
    let b = dirs.pop().unwrap();
    let a = dirs.pop().unwrap();
    (a, b)
}

fn setup_director(ns: &str, role: &str, sync: Option<&Sync>) -> String {
    let ports: String = PORTS.iter().map(|p| format!(" --port {p}")).collect();
    let sync_args = sync
        .map(Sync::args)
        .unwrap_or_else(|| format!("--sync-iface eth0 --sync-id {SYNC_ID}"));
    let out = sh(&format!(
        "ip netns exec {ns} {PAIR} setup --role {role} --vip {VIP} --vip-iface eth0 --scheduler rr{ports} \
         --real-server 192.0.2.11 --real-server 192.0.2.12 --real-server 192.0.2.13 {sync_args}"
    ));
    assert!(out.contains("LVS-DR pair member ready"), "{out}");
    if sync.is_none() {
        // The control run: the same directors without synchronisation.
        Ipvs::in_netns(ns)
            .unwrap()
            .stop_daemon(if role == "master" {
                DaemonRole::Master
            } else {
                DaemonRole::Backup
            })
            .unwrap();
    }
    out
}

fn mac(ns: &str) -> String {
    sh(&format!(
        "ip netns exec {ns} cat /sys/class/net/eth0/address"
    ))
    .trim()
    .to_string()
}

/// The whole story; `sync: None` is the control run without daemons.
fn failover(prefix: &str, sync: Option<Sync>) {
    let mut lab = Lab::new(prefix);
    let (a, b) = topology(&mut lab);
    setup_director(&a, "master", sync.as_ref());
    setup_director(&b, "backup", sync.as_ref());

    // The daemons run with the settings asked (the kernel fills in what
    // it computes, e.g. the clamped max length).
    if let Some(s) = &sync {
        for (ns, role) in [(&a, DaemonRole::Master), (&b, DaemonRole::Backup)] {
            let daemons = Ipvs::in_netns(ns).unwrap().daemons().unwrap();
            assert_eq!(daemons.len(), 1, "{ns}: {daemons:?}");
            let d = &daemons[0];
            assert_eq!(
                (d.role, d.interface.as_str(), d.sync_id),
                (role, "eth0", SYNC_ID)
            );
            assert_eq!(d.mcast_group, Some(s.group.parse().unwrap()));
            assert_eq!(
                (d.mcast_port, d.mcast_ttl, d.max_len),
                (Some(s.mcast_port), Some(1), Some(1200))
            );
            eprintln!("{ns}: {d:?}");
        }
    }

    // Long-lived connections through A: 3 per service, each talking (the
    // master syncs a connection on its 3rd packet: SYN, ACK, then data).
    let mut held: Vec<Held> = Vec::new();
    for port in PORTS {
        for _ in 0..3 {
            let mut h = Held::open(port);
            h.say_ok("before");
            held.push(h);
        }
    }
    let spread: BTreeMap<&str, usize> = held.iter().fold(BTreeMap::new(), |mut m, h| {
        *m.entry(h.rs.as_str()).or_default() += 1;
        m
    });
    assert_eq!(spread.len(), 3, "rr over three real servers: {spread:?}");
    let all: Vec<&Held> = held.iter().collect();
    wait_for(&a, &all, ConnectionOrigin::Local, Duration::from_secs(5)).expect("A schedules them");

    // The master flushes at least every 2 s: 4 s is plenty for "nothing".
    let within = Duration::from_secs(if sync.is_some() { 10 } else { 4 });
    let synced = wait_for(&b, &all, ConnectionOrigin::Sync, within);
    match &sync {
        Some(_) => synced.expect("the backup receives every connection"),
        None => {
            assert!(synced.is_err());
            assert!(
                table(&b).is_empty(),
                "no daemon, no entries: {:?}",
                table(&b)
            );
        }
    }

    // A dies; B takes over.
    sh(&format!("ip -n {a} link set eth0 down"));
    let sync_args = sync
        .as_ref()
        .map(Sync::args)
        .unwrap_or_else(|| format!("--sync-iface eth0 --sync-id {SYNC_ID}"));
    let out = sh(&format!(
        "ip netns exec {b} {PAIR} promote --vip {VIP} --vip-iface eth0 --announce 1 {sync_args}"
    ));
    assert!(out.contains("promoted"), "{out}");
    // The gratuitous ARP moved the client's neighbour entry to B.
    let neigh = sh(&format!("ip neigh show {VIP} dev c0"));
    assert!(
        neigh.contains(&mac(&b)),
        "client's entry for the VIP: {neigh}"
    );
    let ipvs_b = Ipvs::in_netns(&b).unwrap();
    let daemons = ipvs_b.daemons().unwrap();
    assert_eq!(
        daemons
            .iter()
            .map(|d| (d.role, d.sync_id))
            .collect::<Vec<_>>(),
        vec![(DaemonRole::Master, SYNC_ID)],
        "B is master now, with the pair's sync id"
    );

    // Every established connection goes on, same real server, through B.
    for h in &mut held {
        match &sync {
            Some(_) => h.say_ok("after"),
            None => {
                let e = h.say("after").expect_err("reset without sync");
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                    ),
                    "{}: {e}",
                    h.local
                );
            }
        }
    }

    // New connections are scheduled by B (its service counts them; the
    // synced ones it did not schedule are not counted).
    let mut fresh: Vec<Held> = (0..3)
        .map(|_| {
            let mut h = Held::open(PORTS[0]);
            h.say_ok("new");
            h
        })
        .collect();
    let key = format!("tcp:{VIP}:{}", PORTS[0]).parse().unwrap();
    let mut scheduled = 0;
    for _ in 0..10 {
        scheduled = ipvs_b.service(&key).unwrap().stats.connections;
        if scheduled >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(scheduled, 3, "B scheduled the new connections only");
    let fresh_refs: Vec<&Held> = fresh.iter().collect();
    wait_for(
        &b,
        &fresh_refs,
        ConnectionOrigin::Local,
        Duration::from_secs(5),
    )
    .expect("B's own entries");
    if sync.is_none() {
        return;
    }

    // A comes back and is demoted: it gives up the VIP and becomes the
    // backup, and B's new connections reach its table.
    sh(&format!("ip -n {a} link set eth0 up"));
    let out = sh(&format!(
        "ip netns exec {a} {PAIR} demote --vip {VIP} --vip-iface eth0 {sync_args}"
    ));
    assert!(out.contains("demoted"), "{out}");
    let addrs = sh(&format!("ip -n {a} -4 addr show dev eth0"));
    assert!(!addrs.contains(VIP), "A still holds the VIP: {addrs}");
    let mut late = Held::open(PORTS[1]);
    late.say_ok("late");
    late.say_ok("later");
    wait_for(
        &a,
        &[&late],
        ConnectionOrigin::Sync,
        Duration::from_secs(10),
    )
    .expect("A, now backup, receives B's");
    for h in held.iter_mut().chain(fresh.iter_mut()) {
        h.say_ok("end");
    }
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn failover_keeps_every_connection_with_an_ipv4_sync_group() {
    let _serial = common::serial();
    in_netns(|| {
        failover(
            "fo4",
            Some(Sync {
                group: "239.0.0.81",
                mcast_port: 8850,
            }),
        )
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn failover_keeps_every_connection_with_an_ipv6_sync_group() {
    let _serial = common::serial();
    in_netns(|| {
        failover(
            "fo6",
            Some(Sync {
                group: "ff02::81",
                mcast_port: 8852,
            }),
        )
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn without_sync_the_backup_resets_every_established_connection() {
    let _serial = common::serial();
    in_netns(|| failover("fo0", None));
}

/// What the kernel says when a sync daemon cannot start, and what it makes
/// of the settings it is given (no traffic: one namespace, a dummy link).
#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn sync_daemon_settings_and_refusals() {
    use ipvs::SyncDaemon;
    use ipvs_examples::director::failover;
    let _serial = common::serial();
    in_netns(|| {
        sh("ip link add sync0 type dummy && ip link set sync0 up");
        let ipvs = Ipvs::new().unwrap();
        // Stopping a daemon waits for its kernel threads to end
        // (kthread_stop); on the emulated CPUs of a busy CI run that once
        // took longer than the default 10 s, and twice longer than 60 s
        // with the host at load 4-5 (two VMs on two cores).
        ipvs.set_timeout(Duration::from_secs(180));
        let facts = |what: &str| {
            let d = ipvs.daemons().unwrap();
            eprintln!("{what}: {d:?}");
            d
        };
        // An unknown interface: ENODEV from the kernel.
        let r = ipvs.start_daemon(&SyncDaemon::new(DaemonRole::Master, "nosuch0", 1));
        assert!(
            matches!(r, Err(ipvs::Error::Kernel { errno: 19, .. })),
            "{r:?}"
        );
        // An IPv4 group on an interface without an IPv4 address: the kernel
        // starts it all the same. The kernel fills in what was not given.
        let v4 = SyncDaemon::new(DaemonRole::Master, "sync0", SYNC_ID)
            .with_mcast_group("239.0.0.81".parse().unwrap());
        ipvs.start_daemon(&v4).unwrap();
        let d = facts("IPv4 group, no IPv4 address, defaults");
        assert_eq!(
            (d[0].max_len, d[0].mcast_port, d[0].mcast_ttl),
            (Some(1472), Some(8848), Some(1)),
            "MTU 1500 - 28, the port and TTL defaults"
        );
        // Twice in one role: EEXIST; failover::restart_daemon replaces it.
        assert!(matches!(
            ipvs.start_daemon(&v4),
            Err(ipvs::Error::DaemonRunning)
        ));
        let v6 = failover::daemon_in_role(&v4, DaemonRole::Master)
            .with_mcast_group("ff02::81".parse().unwrap())
            .with_max_len(100);
        let r = failover::restart_daemon(&ipvs, &v6);
        eprintln!("restart, IPv6 group, max len 100: {r:?}");
        let d = facts("after the restart");
        // A backup beside the master, with a small max length.
        let backup = failover::daemon_in_role(&v4, DaemonRole::Backup).with_max_len(100);
        let rb = ipvs.start_daemon(&backup);
        eprintln!("backup, max len 100: {rb:?}");
        let both = facts("master and backup");
        r.unwrap();
        assert_eq!(
            (d[0].mcast_group, d[0].max_len),
            (Some("ff02::81".parse().unwrap()), Some(100)),
            "a master takes a small max length as given"
        );
        rb.unwrap();
        assert_eq!(both.len(), 2, "master and backup run side by side");
        assert_eq!(
            (both[1].role, both[1].max_len),
            (DaemonRole::Backup, Some(1024)),
            "a backup's max length (its receive buffer) is raised to 1024"
        );
        // Stopping what is not running: ESRCH.
        ipvs.stop_daemon(DaemonRole::Backup).unwrap();
        assert!(matches!(
            ipvs.stop_daemon(DaemonRole::Backup),
            Err(ipvs::Error::NoDaemon)
        ));
        assert!(!failover::stop_daemon(&ipvs, DaemonRole::Backup).unwrap());
        assert!(failover::stop_daemon(&ipvs, DaemonRole::Master).unwrap());
        assert!(ipvs.daemons().unwrap().is_empty());
    });
}
