// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests of the `/proc` side of IPVS: the typed sysctls
//! (`/proc/sys/net/ipv4/vs/*`) and the connection table
//! (`/proc/net/ip_vs_conn`), each test in its own network namespace, checked
//! against `sysctl` and `ipvsadm -Lcn`. They run inside the lab VM
//! (`cargo xtask test`); on a plain host they are ignored.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use ipvs::conn::{self, Connection, ConnectionOrigin, ConnectionState, Protocol};
use ipvs::sysctl::{Limit, Sysctl, SysctlError, SysctlValue, Sysctls};
use ipvs_lab::{in_netns, sh};

/// `6.1.0-56-amd64` → (6, 1).
fn kernel_version() -> (u32, u32) {
    let release = sh("uname -r");
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// What `sysctl -n` prints, as this crate writes values (tabs as spaces).
fn sysctl_n(sysctl: Sysctl) -> String {
    sh(&format!("sysctl -n net.ipv4.vs.{}", sysctl.name()))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A valid value other than `current`, for a write round trip.
fn another_value(sysctl: Sysctl, current: &SysctlValue) -> SysctlValue {
    let candidates = match sysctl.limit() {
        Limit::Int => vec![SysctlValue::Int(7), SysctlValue::Int(8)],
        Limit::Range { min, max } => vec![SysctlValue::Int(min), SysctlValue::Int(max)],
        Limit::PowerOfTwo => vec![SysctlValue::Int(4), SysctlValue::Int(8)],
        Limit::UnsignedLong => vec![
            SysctlValue::UnsignedLong(12_345),
            SysctlValue::UnsignedLong(54_321),
        ],
        Limit::SyncThreshold => vec![
            SysctlValue::SyncThreshold {
                threshold: 4,
                period: 60,
            },
            SysctlValue::SyncThreshold {
                threshold: 5,
                period: 0,
            },
        ],
        Limit::CpuList => vec![
            SysctlValue::CpuList("0".into()),
            SysctlValue::CpuList("0-1".into()),
        ],
        other => panic!("{sysctl}: no test values for {other:?}"),
    };
    candidates
        .into_iter()
        .find(|v| v != current)
        .expect("two distinct candidates")
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn every_sysctl_round_trips_and_matches_sysctl_n() {
    in_netns(|| {
        let sysctls = Sysctls::current();
        let all = sysctls.get_all().expect("read every IPVS sysctl");
        // What this kernel offers, by the directory listing.
        let listed: Vec<String> = sh("ls /proc/sys/net/ipv4/vs")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for name in &listed {
            let sysctl = Sysctl::from_name(name)
                .unwrap_or_else(|| panic!("the kernel offers {name}, which this crate lacks"));
            assert!(all.contains_key(&sysctl), "{sysctl} missing from get_all");
        }
        assert_eq!(all.len(), listed.len(), "{all:?}");

        // 6.2 brought the estimator kthreads' est_cpulist and est_nice.
        let has_estimator_threads = kernel_version() >= (6, 2);
        for (sysctl, valid) in [
            (Sysctl::EstCpulist, SysctlValue::CpuList("0".into())),
            (Sysctl::EstNice, SysctlValue::Int(0)),
        ] {
            assert_eq!(all.contains_key(&sysctl), has_estimator_threads, "{sysctl}");
            if !has_estimator_threads {
                assert!(
                    matches!(sysctls.get(sysctl), Err(SysctlError::Unsupported { sysctl: s }) if s == sysctl)
                );
                let err = sysctls.set(sysctl, valid).unwrap_err();
                assert!(matches!(err, SysctlError::Unsupported { .. }), "{err}");
            }
        }

        for (&sysctl, value) in &all {
            assert_eq!(sysctl_n(sysctl), value.to_string(), "{sysctl} read");
            let new = another_value(sysctl, value);
            sysctls
                .set(sysctl, new.clone())
                .unwrap_or_else(|e| panic!("{sysctl} <- {new}: {e}"));
            assert_eq!(sysctls.get(sysctl).unwrap(), new, "{sysctl} read back");
            assert_eq!(sysctl_n(sysctl), new.to_string(), "{sysctl} by sysctl -n");
            sysctls.set(sysctl, value.clone()).unwrap();
            assert_eq!(&sysctls.get(sysctl).unwrap(), value, "{sysctl} restored");
        }
    });
}

/// Named namespaces, deleted on drop (even on panic).
struct NamedNetns(Vec<String>);

impl NamedNetns {
    fn add(&mut self, name: &str) -> String {
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        self.0.push(name.to_owned());
        name.to_owned()
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn sysctls_are_per_namespace() {
    in_netns(|| {
        let mut namespaces = NamedNetns(Vec::new());
        let other = namespaces.add("ipvs-rs-sysctl-other");
        let here = Sysctls::current();
        let there = Sysctls::in_netns(&other).unwrap();
        let there_by_fd = {
            let file = std::fs::File::open(format!("/run/netns/{other}")).unwrap();
            Sysctls::in_netns_fd(file.as_fd()).unwrap()
        };

        let reuse = Sysctl::ConnReuseMode;
        assert_eq!(there.get(reuse).unwrap(), SysctlValue::Int(1), "default");
        here.set(reuse, SysctlValue::Int(0)).unwrap();
        there.set(reuse, SysctlValue::Int(2)).unwrap();
        assert_eq!(here.get(reuse).unwrap(), SysctlValue::Int(0));
        assert_eq!(there.get(reuse).unwrap(), SysctlValue::Int(2));
        assert_eq!(there_by_fd.get(reuse).unwrap(), SysctlValue::Int(2));
        assert_eq!(
            sh(&format!(
                "ip netns exec {other} sysctl -n net.ipv4.vs.conn_reuse_mode"
            ))
            .trim(),
            "2"
        );
        assert_eq!(sysctl_n(reuse), "0");

        let threshold = SysctlValue::SyncThreshold {
            threshold: 10,
            period: 100,
        };
        there_by_fd
            .set(Sysctl::SyncThreshold, threshold.clone())
            .unwrap();
        assert_eq!(there.get(Sysctl::SyncThreshold).unwrap(), threshold);
        assert_eq!(
            sysctl_n(Sysctl::SyncThreshold),
            "3 50",
            "this namespace untouched"
        );

        assert!(matches!(
            Sysctls::in_netns("ipvs-rs-no-such-netns"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        ));
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn out_of_range_values_are_refused_and_nothing_is_written() {
    in_netns(|| {
        let sysctls = Sysctls::current();
        let mut refused = vec![
            (Sysctl::DropEntry, SysctlValue::Int(4)),
            (Sysctl::DropPacket, SysctlValue::Int(-1)),
            (Sysctl::SecureTcp, SysctlValue::Int(4)),
            (Sysctl::SyncVersion, SysctlValue::Int(2)),
            (Sysctl::SyncRetries, SysctlValue::Int(4)),
            (Sysctl::SyncPorts, SysctlValue::Int(3)),
            (Sysctl::SyncPorts, SysctlValue::Int(0)),
            (
                Sysctl::SyncThreshold,
                SysctlValue::SyncThreshold {
                    threshold: 50,
                    period: 50,
                },
            ),
            (
                Sysctl::SyncThreshold,
                SysctlValue::SyncThreshold {
                    threshold: -1,
                    period: 50,
                },
            ),
            (Sysctl::SyncQlenMax, SysctlValue::Int(5)),
            (Sysctl::ConnReuseMode, SysctlValue::UnsignedLong(5)),
        ];
        if kernel_version() >= (6, 2) {
            refused.push((Sysctl::EstNice, SysctlValue::Int(20)));
            refused.push((Sysctl::EstCpulist, SysctlValue::CpuList("x".into())));
        }
        for (sysctl, value) in refused {
            let before = sysctl_n(sysctl);
            let err = sysctls.set(sysctl, value.clone()).unwrap_err();
            match &err {
                SysctlError::OutOfRange {
                    sysctl: s,
                    value: v,
                    limit,
                } => {
                    assert_eq!((*s, v), (sysctl, &value));
                    assert_eq!(*limit, sysctl.limit());
                }
                other => panic!("{sysctl} <- {value}: {other}"),
            }
            let message = err.to_string();
            assert!(
                message.contains(sysctl.name()) && message.contains(&sysctl.limit().to_string()),
                "{message}"
            );
            assert_eq!(sysctl_n(sysctl), before, "{sysctl} unchanged");
        }
    });
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn kernel_refusals_are_typed_and_leave_the_value() {
    in_netns(|| {
        let sysctls = Sysctls::current();
        // proc_dointvec_jiffies takes at most INT_MAX / HZ seconds.
        let before = sysctls.get(Sysctl::SyncRefreshPeriod).unwrap();
        let err = sysctls
            .set(Sysctl::SyncRefreshPeriod, SysctlValue::Int(i32::MAX))
            .unwrap_err();
        match &err {
            SysctlError::Refused { sysctl, source, .. } => {
                assert_eq!(*sysctl, Sysctl::SyncRefreshPeriod);
                assert_eq!(source.raw_os_error(), Some(nix::libc::EINVAL), "{err}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(sysctls.get(Sysctl::SyncRefreshPeriod).unwrap(), before);
        // cpulist_parse refuses a CPU the machine does not have.
        if kernel_version() >= (6, 2) {
            let before = sysctls.get(Sysctl::EstCpulist).unwrap();
            let err = sysctls
                .set(Sysctl::EstCpulist, SysctlValue::CpuList("9999".into()))
                .unwrap_err();
            assert!(
                matches!(&err, SysctlError::Refused { source, .. } if source.raw_os_error() == Some(nix::libc::ERANGE)),
                "{err}"
            );
            assert_eq!(sysctls.get(Sysctl::EstCpulist).unwrap(), before);
        }
        // debug_level needs CONFIG_IP_VS_DEBUG, which Debian leaves out.
        if !Sysctl::DebugLevel.path().exists() {
            assert!(matches!(
                sysctls.get(Sysctl::DebugLevel),
                Err(SysctlError::Unsupported {
                    sysctl: Sysctl::DebugLevel
                })
            ));
        }
    });
}

/// `ipvsadm -Lcn` in namespace `ns`, as (protocol, source) → (expire
/// seconds, state, virtual, destination); addresses as `-n` prints them,
/// which is how `SocketAddr` displays them.
fn ipvsadm_connections(ns: &str) -> BTreeMap<(String, String), (u64, String, String, String)> {
    let out = sh(&format!("ip netns exec {ns} ipvsadm -Lcn"));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("IPVS connection entries"));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("pro expire state"))
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "{line}");
            let (min, sec) = f[1].split_once(':').unwrap();
            let expire = min.parse::<u64>().unwrap() * 60 + sec.parse::<u64>().unwrap();
            (
                (f[0].to_owned(), f[3].to_owned()),
                (expire, f[2].to_owned(), f[4].to_owned(), f[5].to_owned()),
            )
        })
        .collect()
}

/// The client (this test's namespace) — director `dir` — real server `rs`,
/// NAT for TCP over IPv4 and IPv6 and for UDP over IPv4: held TCP
/// connections and a UDP flow, then the table as this crate reads it,
/// field by field against `ipvsadm -Lcn`.
#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn connection_table_matches_ipvsadm_with_real_traffic() {
    in_netns(|| {
        let mut namespaces = NamedNetns(Vec::new());
        let dir = namespaces.add("ipvs-rs-conn-dir");
        let rs = namespaces.add("ipvs-rs-conn-rs");
        ipvs_lab::wire_nat_client_director_real_server(&dir, &rs);
        sh(&format!(
            "set -e
             ip netns exec {dir} ipvsadm -A -t 203.0.113.1:80 -s rr
             ip netns exec {dir} ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:8080 -m
             ip netns exec {dir} ipvsadm -A -t [2001:db8:c::1]:80 -s rr
             ip netns exec {dir} ipvsadm -a -t [2001:db8:c::1]:80 -r [2001:db8:d::10]:8080 -m
             ip netns exec {dir} ipvsadm -A -u 203.0.113.1:53 -s rr
             ip netns exec {dir} ipvsadm -a -u 203.0.113.1:53 -r 198.51.100.10:5353 -m"
        ));
        let mut servers = Vec::new();
        for listen in [
            "TCP4-LISTEN:8080,fork,reuseaddr",
            "TCP6-LISTEN:8080,ipv6only=1,fork,reuseaddr",
            "UDP4-LISTEN:5353,fork,reuseaddr",
        ] {
            servers.push(
                Command::new("ip")
                    .args([
                        "netns", "exec", &rs, "timeout", "300", "socat", listen, "EXEC:cat",
                    ])
                    .spawn()
                    .expect("socat"),
            );
        }
        struct Kill(Vec<std::process::Child>);
        impl Drop for Kill {
            fn drop(&mut self) {
                for c in &mut self.0 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let _servers = Kill(servers);
        sh(&format!(
            "for i in $(seq 100); do [ $(ip netns exec {rs} ss -ltnH 'sport = :8080' | wc -l) -ge 2 ] && \
             [ $(ip netns exec {rs} ss -lunH 'sport = :5353' | wc -l) -ge 1 ] && exit 0; sleep 0.1; done; exit 1"
        ));

        // Held TCP connections, each proven by an echo through the director.
        let echo = ipvs_lab::tcp_echo;
        let held = [
            echo("203.0.113.1:80"),
            echo("203.0.113.1:80"),
            echo("[2001:db8:c::1]:80"),
        ];
        let udp = UdpSocket::bind("203.0.113.2:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        udp.send_to(b"ping", "203.0.113.1:53").unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = udp
            .recv_from(&mut buf)
            .expect("UDP echo through the director");
        assert_eq!(&buf[..n], b"ping");

        let ours = conn::read_connections_in_netns(&dir).expect("read the director's table");
        let theirs = ipvsadm_connections(&dir);

        let mut expected: Vec<(Protocol, SocketAddr, SocketAddr, SocketAddr)> = held
            .iter()
            .map(|s| {
                let virtual_addr = s.peer_addr().unwrap();
                let destination: SocketAddr = if virtual_addr.is_ipv6() {
                    "[2001:db8:d::10]:8080".parse().unwrap()
                } else {
                    "198.51.100.10:8080".parse().unwrap()
                };
                (
                    Protocol::Tcp,
                    s.local_addr().unwrap(),
                    virtual_addr,
                    destination,
                )
            })
            .collect();
        expected.push((
            Protocol::Udp,
            udp.local_addr().unwrap(),
            "203.0.113.1:53".parse().unwrap(),
            "198.51.100.10:5353".parse().unwrap(),
        ));
        let mut seen: Vec<(Protocol, SocketAddr, SocketAddr, SocketAddr)> = ours
            .iter()
            .map(|c| (c.protocol, c.client, c.virtual_addr, c.destination))
            .collect();
        expected.sort_by_key(|e| format!("{e:?}"));
        seen.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(seen, expected, "{ours:#?}");

        assert_eq!(ours.len(), theirs.len(), "{ours:#?}\n{theirs:#?}");
        for c in &ours {
            let key = (
                conn::protocol_name(c.protocol).into_owned(),
                c.client.to_string(),
            );
            let (expire, state, virt, dest) = theirs
                .get(&key)
                .unwrap_or_else(|| panic!("ipvsadm lacks {c}"));
            assert_eq!(state, c.state.name(), "{c}");
            assert_eq!(virt, &c.virtual_addr.to_string(), "{c}");
            assert_eq!(dest, &c.destination.to_string(), "{c}");
            // Read a moment apart: the kernel's clock moved on in between.
            assert!(
                c.expires.as_secs().abs_diff(*expire) <= 10,
                "{c} vs {expire}"
            );
            assert_eq!((&c.pe_name, &c.pe_data), (&None, &None));
            let (state, timeout) = match c.protocol {
                Protocol::Tcp => (ConnectionState::Established, 900),
                _ => (ConnectionState::Udp, 300),
            };
            assert_eq!(c.state, state, "{c}");
            assert!(
                c.expires <= Duration::from_secs(timeout)
                    && c.expires > Duration::from_secs(timeout - 120),
                "{c}"
            );
        }

        // The sync view of the same table: the same entries, all LOCAL.
        let synced = conn::read_sync_connections_in_netns(&dir).unwrap();
        let mut plain: Vec<Connection> = synced
            .iter()
            .inspect(|s| assert_eq!(s.origin, ConnectionOrigin::Local, "{s}"))
            .map(|s| s.connection.clone())
            .collect();
        let key = |c: &Connection| (c.client, u16::from(c.protocol));
        plain.sort_by_key(key);
        let mut ours = ours;
        ours.sort_by_key(key);
        for (a, b) in plain.iter().zip(&ours) {
            assert_eq!(
                (a.client, a.virtual_addr, a.destination),
                (b.client, b.virtual_addr, b.destination)
            );
            assert_eq!(a.state, b.state);
        }
        assert_eq!(plain.len(), ours.len());

        // This test's own namespace (the client) has IPVS but no connections.
        assert_eq!(conn::read_connections().unwrap(), vec![]);
        drop(held);
    });
}
