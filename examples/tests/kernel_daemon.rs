// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the kernel says when a sync daemon cannot start, and what it makes
//! of the settings it is given, inside the lab VM (`failover::restart_daemon`,
//! `failover::stop_daemon`; no traffic: one namespace, a dummy link).
//!
//! A suite of its own, which `cargo xtask test` runs first: stopping a
//! daemon releases its multicast socket under the RTNL lock, which the
//! teardown of an earlier suite's namespaces (bridges, veths, sync daemons)
//! can hold for minutes on the emulated CPUs of a busy machine.

use std::time::Duration;

use ipvs::{DaemonRole, Ipvs};
use ipvs_lab::{in_netns, sh};

const SYNC_ID: u8 = 7;

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn sync_daemon_settings_and_refusals() {
    use ipvs::SyncDaemon;
    use ipvs_examples::director::failover;
    in_netns(|| {
        sh("ip link add sync0 type dummy && ip link set sync0 up");
        let ipvs = Ipvs::new().unwrap();
        // Stopping a daemon waits for its kernel threads to end
        // (kthread_stop), then releases their sockets under RTNL; on the
        // emulated CPUs of a busy CI run that once took longer than the
        // default 10 s, and twice longer than 60 s with the host at load
        // 4-5 (two VMs on two cores).
        ipvs.set_timeout(Duration::from_secs(180));
        let facts = |what: &str| {
            let d = ipvs.daemons().unwrap();
            eprintln!("{what}: {d:?}");
            d
        };
        // An unknown interface: ENODEV from the kernel; the error names it.
        let r = ipvs.start_daemon(&SyncDaemon::new(DaemonRole::Master, "nosuch0", 1));
        assert!(
            matches!(&r, Err(ipvs::Error::NoSuchInterface { interface: Some(i) }) if i == "nosuch0"),
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
