// SPDX-License-Identifier: MIT OR Apache-2.0
//! Two LVS-DR directors with connection synchronisation under keepalived
//! (Debian's, VRRP only), failing over with live connections, inside the
//! lab VM (`failover_director`, `src/director/failover.rs`,
//! `conf/keepalived-pair.conf`).
//!
//! One L2 segment (a bridge in a "switch" namespace) holds the client (this
//! test's namespace, 192.0.2.50), director A (192.0.2.1, VRRP priority 150),
//! director B (192.0.2.2, priority 100) and three DR real servers
//! (192.0.2.11-13) running `serve_name --echo`. Both directors carry the
//! same two services (VIP:23 and VIP:80, rr), programmed by
//! `failover_director setup`; each runs its own keepalived, whose notify
//! scripts run `failover_director notify master|backup|fault`, which starts
//! the sync daemon in that role. keepalived moves the VIP 192.0.2.100.
//!
//! The story, with no step of the test starting a promotion: A wins the
//! first election; long-lived connections run through A and reach B's
//! table (origin `SYNC` in `/proc/net/ip_vs_conn_sync`). A's keepalived is
//! killed (SIGKILL, no goodbye): B wins VRRP on its own, every established
//! connection answers again from the same real server through B, and new
//! ones are scheduled by B. A's keepalived comes back and A stays backup,
//! receiving B's connections. Then B's link goes down: A wins, B goes to
//! fault; every connection, A's old ones and B's synced ones, answers from
//! its real server through A. B's link comes back, and B stays backup,
//! receiving A's connections.
//!
//! The control runs the same pair with notify scripts that start no sync
//! daemon: B has no entries, and every established connection is reset
//! when A's keepalived is killed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipvs::conn::{ConnectionOrigin, ConnectionState, read_sync_connections_in_netns};
use ipvs::{DaemonRole, Ipvs};
use ipvs_examples::director::conf;
use ipvs_lab::{in_netns, sh};

mod common;
use common::{Daemon, Held, Lab, Reply, poll};

const PAIR: &str = env!("CARGO_BIN_EXE_failover_director");

const VIP: &str = "192.0.2.100";
const PORTS: [u16; 2] = [23, 80];
const SYNC_ID: u8 = 7;
/// The sync daemon flags both directors' notify scripts pass.
fn sync_flags() -> String {
    format!(
        "--sync-iface eth0 --sync-id {SYNC_ID} --sync-maxlen 1200 \
         --mcast-group 239.0.0.81 --mcast-port 8850 --mcast-ttl 1"
    )
}
/// VRRP advertisement interval, seconds: a master is declared gone after
/// 3 of them plus a skew (under a second).
const ADVERT_INT: u32 = 1;
/// Longest wait for a VRRP transition and its notify script, on the
/// emulated CPUs of a busy CI machine.
const VRRP_WAIT: Duration = Duration::from_secs(60);

/// The real server's name for its address (rsN is 192.0.2.1N).
fn rs_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) if (11..=13).contains(&a.octets()[3]) => {
            format!("rs{}", a.octets()[3] - 10)
        }
        other => format!("unexpected {other}"),
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

/// One director: its namespace and its keepalived.
struct Director {
    ns: String,
    host: &'static str,
    priority: u8,
    conf: String,
    keepalived: Option<Daemon>,
}

impl Director {
    /// Writes this director's keepalived configuration from the shipped
    /// template. `sync: false` is the control: notify scripts that do
    /// nothing.
    fn new(lab: &mut Lab, ns: String, host: &'static str, priority: u8, sync: bool) -> Director {
        let (notify, sync_args) = if sync {
            (PAIR, sync_flags())
        } else {
            ("/bin/true", String::new())
        };
        let text = conf::fill(
            conf::KEEPALIVED_PAIR,
            &[
                ("ROUTER_ID", &format!("director-{host}")),
                ("IFACE", "eth0"),
                ("VRID", "51"),
                ("PRIORITY", &priority.to_string()),
                ("ADVERT_INT", &ADVERT_INT.to_string()),
                ("VIP", VIP),
                ("FAILOVER_DIRECTOR", notify),
                ("SYNC", &sync_args),
            ],
        )
        .expect("the template fills in");
        let conf = lab.scratch().join(format!("keepalived-{host}.conf"));
        std::fs::write(&conf, text).expect("writing the keepalived configuration");
        Director {
            ns,
            host,
            priority,
            conf: conf.to_string_lossy().into_owned(),
            keepalived: None,
        }
    }

    /// Starts keepalived (VRRP only, in the foreground, logging to the
    /// lab's scratch directory).
    fn start_keepalived(&mut self, lab: &mut Lab) {
        let dir = lab.scratch();
        let file = |name: &str| dir.join(format!("{name}-{}", self.host));
        let (pid, vrrp_pid, log) = (file("pid"), file("vrrp-pid"), file("keepalived-log"));
        eprintln!(
            "starting keepalived in {} (priority {})",
            self.ns, self.priority
        );
        self.keepalived = Some(Daemon::start(
            &self.ns,
            "keepalived",
            &[
                "--vrrp",
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--no-syslog",
                "--use-file",
                &self.conf,
                "--pid",
                &pid.to_string_lossy(),
                "--vrrp_pid",
                &vrrp_pid.to_string_lossy(),
            ],
            &log,
        ));
    }

    fn keepalived_log(&self) -> String {
        self.keepalived
            .as_ref()
            .map(Daemon::log)
            .unwrap_or_default()
    }

    fn holds_vip(&self) -> bool {
        sh(&format!("ip -n {} -4 -o addr show dev eth0", self.ns)).contains(&format!("{VIP}/32"))
    }

    /// The roles of the sync daemons running here.
    fn roles(&self) -> Vec<DaemonRole> {
        Ipvs::in_netns(&self.ns)
            .and_then(|i| i.daemons())
            .unwrap_or_else(|e| panic!("{}'s daemons: {e}", self.ns))
            .into_iter()
            .map(|d| d.role)
            .collect()
    }

    fn mac(&self) -> String {
        sh(&format!(
            "ip netns exec {} cat /sys/class/net/eth0/address",
            self.ns
        ))
        .trim()
        .to_string()
    }
}

/// The pair and everything it needs.
struct Pair {
    a: Director,
    b: Director,
    lab: Lab,
}

impl Pair {
    /// Waits until `cond` holds, or fails with both keepalived logs.
    fn wait(&self, what: &str, cond: impl FnMut() -> bool) -> Duration {
        let took = poll(VRRP_WAIT, cond).unwrap_or_else(|| {
            let tails: Vec<String> = [&self.a, &self.b]
                .iter()
                .filter_map(|d| d.keepalived.as_ref().map(|k| k.tail(30)))
                .collect();
            panic!("{what}: not within {VRRP_WAIT:?}\n{}", tails.join("\n"))
        });
        eprintln!("{what}: {took:?}");
        took
    }

    /// `d` is VRRP master: it holds the VIP and (with sync) runs the master
    /// daemon.
    fn wait_master(&self, d: &Director, sync: bool, what: &str) -> Duration {
        let want = if sync {
            vec![DaemonRole::Master]
        } else {
            vec![]
        };
        self.wait(what, || d.holds_vip() && d.roles() == want)
    }

    /// `d` is VRRP backup (keepalived says so, after `since` log bytes),
    /// holds no VIP and runs the backup daemon.
    fn wait_backup(&self, d: &Director, since: usize, what: &str) -> Duration {
        self.wait(what, || {
            d.keepalived_log()
                .get(since..)
                .is_some_and(|l| l.contains("Entering BACKUP STATE"))
                && !d.holds_vip()
                && d.roles() == [DaemonRole::Backup]
        })
    }
}

impl Drop for Pair {
    /// Stops keepalived, then the sync daemons, before the lab goes: a
    /// daemon left to the namespace's teardown releases its socket under
    /// RTNL while the teardown's device unregistrations contend for it.
    fn drop(&mut self) {
        for d in [&mut self.a, &mut self.b] {
            if let Some(k) = d.keepalived.as_mut() {
                k.stop("KILL");
            }
            if let Ok(ipvs) = Ipvs::in_netns(&d.ns) {
                ipvs.set_timeout(Duration::from_secs(180));
                for role in [DaemonRole::Master, DaemonRole::Backup] {
                    let _ = ipvs.stop_daemon(role);
                }
            }
        }
    }
}

/// Builds the segment, sets up both directors and starts keepalived on A,
/// then on B once A is master.
fn pair(prefix: &str, sync: bool) -> Pair {
    let mut lab = Lab::new(prefix);
    let sw = lab.ns("sw");
    // No multicast snooping: the bridge floods VRRP and the sync group
    // whatever IGMP says (as a plain switch would).
    sh(&format!(
        "ip -n {sw} link add br0 type bridge mcast_snooping 0 && ip -n {sw} link set br0 up\n\
         ip link add c0 type veth peer name pc netns {sw} && ip -n {sw} link set pc master br0 up\n\
         ip addr add 192.0.2.50/24 dev c0 && ip link set c0 up"
    ));
    let mut dirs = Vec::new();
    for (n, host, priority) in [(1, "a", 150), (2, "b", 100)] {
        let ns = lab.ns(host);
        sh(&format!(
            "ip -n {sw} link add p{host} type veth peer name eth0 netns {ns} && ip -n {sw} link set p{host} master br0 up\n\
             ip -n {ns} addr add 192.0.2.{n}/24 dev eth0 && ip -n {ns} link set eth0 up"
        ));
        let ports: String = PORTS.iter().map(|p| format!(" --port {p}")).collect();
        let out = sh(&format!(
            "ip netns exec {ns} {PAIR} setup --vip {VIP} --scheduler rr{ports} \
             --real-server 192.0.2.11 --real-server 192.0.2.12 --real-server 192.0.2.13"
        ));
        assert!(out.contains("LVS-DR pair member ready"), "{out}");
        dirs.push(Director::new(&mut lab, ns, host, priority, sync));
    }
    for i in 1..=3 {
        let rs = lab.dr_real_server(&sw, i, VIP);
        for port in PORTS {
            lab.serve(&rs, port, &format!("rs{i}"), Reply::Echo);
        }
    }
    let b = dirs.pop().unwrap();
    let a = dirs.pop().unwrap();
    let mut pair = Pair { a, b, lab };
    assert!(pair.a.roles().is_empty(), "no daemon before keepalived");

    pair.a.start_keepalived(&mut pair.lab);
    pair.wait_master(&pair.a, sync, "A wins the first election");
    pair.b.start_keepalived(&mut pair.lab);
    if sync {
        pair.wait_backup(&pair.b, 0, "B comes up as backup");
        assert_eq!(pair.a.roles(), [DaemonRole::Master]);
        // The daemons run with the settings the notify scripts gave (the
        // kernel keeps a master's small max length as given).
        let d = &Ipvs::in_netns(&pair.a.ns).unwrap().daemons().unwrap()[0];
        assert_eq!(
            (
                d.interface.as_str(),
                d.sync_id,
                d.max_len,
                d.mcast_port,
                d.mcast_ttl
            ),
            ("eth0", SYNC_ID, Some(1200), Some(8850), Some(1))
        );
        assert_eq!(d.mcast_group, Some("239.0.0.81".parse().unwrap()));
    } else {
        pair.wait("B comes up as backup", || {
            pair.b.keepalived_log().contains("Entering BACKUP STATE")
        });
    }
    pair
}

/// Opens `n` connections per port, each greeted and answering `text`.
fn open(ports: &[u16], n: usize, text: &str) -> Vec<Held> {
    let mut held = Vec::new();
    for &port in ports {
        for _ in 0..n {
            let vip = SocketAddr::new(VIP.parse().unwrap(), port);
            let mut h = Held::open(vip, None, Duration::from_secs(10));
            h.say_ok(text);
            held.push(h);
        }
    }
    held
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn keepalived_fails_over_twice_and_every_connection_keeps_its_real_server() {
    let _serial = common::serial();
    in_netns(|| {
        let start = Instant::now();
        let mut p = pair("ka", true);

        // Long-lived connections through A, synced to B.
        let mut h1 = open(&PORTS, 3, "before");
        let spread: BTreeMap<&str, usize> = h1.iter().fold(BTreeMap::new(), |mut m, h| {
            *m.entry(h.rs.as_str()).or_default() += 1;
            m
        });
        assert_eq!(spread.len(), 3, "rr over three real servers: {spread:?}");
        let refs: Vec<&Held> = h1.iter().collect();
        wait_for(
            &p.a.ns,
            &refs,
            ConnectionOrigin::Local,
            Duration::from_secs(10),
        )
        .expect("A schedules them");
        wait_for(
            &p.b.ns,
            &refs,
            ConnectionOrigin::Sync,
            Duration::from_secs(10),
        )
        .expect("the backup receives every connection");

        // 1. A's keepalived dies without a word. B wins on its own.
        p.a.keepalived.as_mut().unwrap().stop("KILL");
        let took = p.wait_master(&p.b, true, "B wins VRRP after A's keepalived is killed");
        assert!(
            took >= Duration::from_secs(3 * ADVERT_INT as u64 - 1),
            "{took:?}"
        );
        // Nothing took the VIP away from A: a killed keepalived leaves it.
        assert!(p.a.holds_vip(), "A still holds the VIP");
        // keepalived's gratuitous ARP moved the client to B.
        let b_mac = p.b.mac();
        p.wait("the client's entry for the VIP moves to B", || {
            sh(&format!("ip neigh show {VIP} dev c0")).contains(&b_mac)
        });
        for h in &mut h1 {
            h.say_ok("after A's keepalived died");
        }

        // A's keepalived comes back: it removes the VIP it left at start,
        // stays backup (nopreempt), and A receives B's new connections.
        let since = p.a.keepalived_log().len();
        p.a.start_keepalived(&mut p.lab);
        p.wait_backup(&p.a, since, "A comes back as backup");
        assert!(p.b.holds_vip(), "B is still master");
        let mut h2 = open(&PORTS[..1], 3, "new");
        let key = format!("tcp:{VIP}:{}", PORTS[0]).parse().unwrap();
        // (6.12 adds the counters up every 2 s.)
        let ipvs_b = Ipvs::in_netns(&p.b.ns).unwrap();
        let scheduled = || ipvs_b.service(&key).unwrap().stats.connections;
        poll(Duration::from_secs(10), || scheduled() >= 3);
        assert_eq!(
            scheduled(),
            3,
            "B scheduled the new connections, and only those"
        );
        let refs: Vec<&Held> = h2.iter().collect();
        wait_for(
            &p.b.ns,
            &refs,
            ConnectionOrigin::Local,
            Duration::from_secs(10),
        )
        .expect("B's own entries");
        wait_for(
            &p.a.ns,
            &refs,
            ConnectionOrigin::Sync,
            Duration::from_secs(10),
        )
        .expect("A, backup again, receives B's connections");

        // 2. B's link goes down. A wins on its own; B goes to fault.
        let since = p.b.keepalived_log().len();
        sh(&format!("ip -n {} link set eth0 down", p.b.ns));
        p.wait_master(&p.a, true, "A wins VRRP after B's link went down");
        p.wait("B enters fault and runs the backup daemon", || {
            p.b.keepalived_log()
                .get(since..)
                .is_some_and(|l| l.contains("Entering FAULT STATE"))
                && p.b.roles() == [DaemonRole::Backup]
        });
        for h in h1.iter_mut().chain(h2.iter_mut()) {
            h.say_ok("after B's link went down");
        }
        let mut h3 = open(&PORTS[1..], 3, "newer");
        let refs: Vec<&Held> = h3.iter().collect();
        wait_for(
            &p.a.ns,
            &refs,
            ConnectionOrigin::Local,
            Duration::from_secs(10),
        )
        .expect("A schedules the new connections");

        // B's link comes back: B stays backup and receives A's connections.
        let since = p.b.keepalived_log().len();
        sh(&format!("ip -n {} link set eth0 up", p.b.ns));
        p.wait_backup(&p.b, since, "B comes back as backup");
        assert!(p.a.holds_vip(), "A is still master");
        let mut h4 = open(&PORTS[..1], 2, "last");
        let refs: Vec<&Held> = h4.iter().collect();
        wait_for(
            &p.b.ns,
            &refs,
            ConnectionOrigin::Sync,
            Duration::from_secs(10),
        )
        .expect("B, backup again, receives A's connections");
        for h in h1.iter_mut().chain(&mut h2).chain(&mut h3).chain(&mut h4) {
            h.say_ok("end");
        }
        eprintln!("keepalived pair: {:?} in all", start.elapsed());
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn without_sync_keepalived_fails_over_and_every_connection_is_reset() {
    let _serial = common::serial();
    in_netns(|| {
        let mut p = pair("ka0", false);
        let mut held = open(&PORTS, 3, "before");
        let refs: Vec<&Held> = held.iter().collect();
        wait_for(
            &p.a.ns,
            &refs,
            ConnectionOrigin::Local,
            Duration::from_secs(10),
        )
        .expect("A schedules them");
        // A master flushes at least every 2 s: 4 s is plenty for "nothing".
        std::thread::sleep(Duration::from_secs(4));
        assert!(
            p.b.roles().is_empty() && p.a.roles().is_empty(),
            "no daemon"
        );
        assert!(
            table(&p.b.ns).is_empty(),
            "no daemon, no entries: {:?}",
            table(&p.b.ns)
        );

        p.a.keepalived.as_mut().unwrap().stop("KILL");
        p.wait_master(&p.b, false, "B wins VRRP after A's keepalived is killed");
        let b_mac = p.b.mac();
        p.wait("the client's entry for the VIP moves to B", || {
            sh(&format!("ip neigh show {VIP} dev c0")).contains(&b_mac)
        });
        for h in &mut held {
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
    });
}
