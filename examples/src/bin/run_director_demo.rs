// SPDX-License-Identifier: MIT OR Apache-2.0
//! `run_director_demo nat|dr|failover|ecmp`: the document's setups end to end, for
//! `cargo xtask demo`: builds a lab topology of network namespaces (one per
//! host), runs `setup_nat_director` / `setup_dr_director` (and
//! `setup_dr_real_server` on each DR real server), starts a `serve_name` per
//! real server, sends requests from this process's namespace (the client),
//! and prints the requests each real server answered next to
//! `ipvsadm -Ln --stats` and `ipvsadm-rs -Ln --stats` of the director.
//!
//! The topology itself (namespaces, veth pairs, a bridge) is lab
//! scaffolding built with `ip`; the director steps are the examples', which
//! use rtnetlink, /proc/sys, nftables and the `ipvs` crate.
//!
//! `failover`: two LVS-DR directors with connection sync (`failover_director`)
//! under keepalived (VRRP): connections opened through the master, the
//! backup's synced table, the master's keepalived killed, the backup winning
//! VRRP by itself, and every connection answering again from its real
//! server through the new master.
//!
//! `ecmp`: three directors (`ecmp_director`, `mh`, `sloppy_tcp`) announcing
//! one VIP over BGP to a router (BIRD) that spreads flows over them (ECMP):
//! connections from many client addresses, one director's BIRD stopped, and
//! the moved flows answering from their real servers through another
//! director.
//!
//! Run it as root in a fresh network namespace, on a kernel with IPVS and
//! only there: `unshare --net run_director_demo nat` (the lab VM does this).
//! Addresses are documentation ranges: client 203.0.113.2 / 192.0.2.50 /
//! 198.51.100.10..., VIP 203.0.113.10 (NAT) or 192.0.2.100 (DR), real
//! servers 192.0.2.11... or 203.0.113.141...
//! Flags: `--requests N` (default 20), `--scheduler NAME`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvs::conn::read_connections_in_netns;
use ipvs_examples::director::conf;
use socket2::{Domain, Socket, Type};

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running bash: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Lab {
    namespaces: Vec<String>,
    servers: Vec<Child>,
}

impl Lab {
    fn ns(&mut self, name: &str) -> Result<String, String> {
        let name = format!("demo-{name}");
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ))?;
        self.namespaces.push(name.clone());
        Ok(name)
    }

    fn serve(&mut self, ns: &str, port: u16, name: &str) -> Result<(), String> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(sibling("serve_name"))
            .arg("--echo")
            .arg("--listen")
            .arg(format!("0.0.0.0:{port}"))
            .args(["--name", name, "--max-seconds", "300"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting serve_name: {e}"))?;
        self.servers.push(child);
        sh(&format!(
            "for i in $(seq 100); do ip netns exec {ns} bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
        ))
        .map(|_| ())
        .map_err(|_| format!("serve_name in {ns} did not start"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn request(vip: SocketAddr) -> Result<String, String> {
    let s = TcpStream::connect_timeout(&vip, Duration::from_secs(10))
        .map_err(|e| format!("connecting to {vip}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| format!("reading from {vip}: {e}"))?;
    Ok(line.trim().to_string())
}

fn nat(lab: &mut Lab, sched: &str) -> Result<(String, SocketAddr), String> {
    let dir = lab.ns("dir")?;
    sh(&format!(
        "ip link add c0 type veth peer name ext netns {dir} && ip addr add 203.0.113.2/24 dev c0 && ip link set c0 up\n\
         ip -n {dir} addr add 203.0.113.1/24 dev ext && ip -n {dir} link set ext up\n\
         ip -n {dir} link add br0 type bridge && ip -n {dir} addr add 192.0.2.1/24 dev br0 && ip -n {dir} link set br0 up"
    ))?;
    let mut args = String::new();
    for i in 1..=5 {
        let rs = lab.ns(&format!("rs{i}"))?;
        sh(&format!(
            "ip -n {dir} link add rs{i} type veth peer name eth0 netns {rs}\n\
             ip -n {dir} link set rs{i} master br0 up\n\
             ip -n {rs} addr add 192.0.2.1{i}/24 dev eth0 && ip -n {rs} link set eth0 up\n\
             ip -n {rs} route add default via 192.0.2.1"
        ))?;
        lab.serve(&rs, 80, &format!("rs{i}"))?;
        args.push_str(&format!(" --real-server 192.0.2.1{i}"));
    }
    let cmd = format!(
        "ip netns exec {dir} {} --vip 203.0.113.10 --vip-iface ext --out-iface ext \
         --masquerade-from 192.0.2.0/24 --scheduler {sched}{args}",
        sibling("setup_nat_director").display()
    );
    println!("$ {cmd}");
    print!("{}", sh(&cmd)?);
    Ok((dir, "203.0.113.10:80".parse().expect("literal")))
}

fn dr(lab: &mut Lab, sched: &str) -> Result<(String, SocketAddr), String> {
    let sw = lab.ns("sw")?;
    let dir = lab.ns("dir")?;
    sh(&format!(
        "ip -n {sw} link add br0 type bridge && ip -n {sw} link set br0 up\n\
         ip link add c0 type veth peer name pc netns {sw} && ip -n {sw} link set pc master br0 up\n\
         ip addr add 192.0.2.50/24 dev c0 && ip link set c0 up\n\
         ip -n {sw} link add pd type veth peer name eth0 netns {dir} && ip -n {sw} link set pd master br0 up\n\
         ip -n {dir} addr add 192.0.2.1/24 dev eth0 && ip -n {dir} link set eth0 up"
    ))?;
    let mut args = String::new();
    for i in 1..=3 {
        let rs = lab.ns(&format!("rs{i}"))?;
        sh(&format!(
            "ip -n {sw} link add p{i} type veth peer name eth0 netns {rs} && ip -n {sw} link set p{i} master br0 up\n\
             ip -n {rs} addr add 192.0.2.1{i}/24 dev eth0 && ip -n {rs} link set eth0 up"
        ))?;
        let cmd = format!(
            "ip netns exec {rs} {} --vip 192.0.2.100 --iface eth0",
            sibling("setup_dr_real_server").display()
        );
        println!("$ {cmd}");
        print!("{}", sh(&cmd)?);
        lab.serve(&rs, 23, &format!("rs{i}"))?;
        args.push_str(&format!(" --real-server 192.0.2.1{i}"));
    }
    let cmd = format!(
        "ip netns exec {dir} {} --vip 192.0.2.100 --vip-iface eth0 --scheduler {sched}{args}",
        sibling("setup_dr_director").display()
    );
    println!("$ {cmd}");
    print!("{}", sh(&cmd)?);
    Ok((dir, "192.0.2.100:23".parse().expect("literal")))
}

/// Runs `cmd` after printing it.
fn show(cmd: &str) -> Result<(), String> {
    println!("$ {cmd}");
    print!("{}", sh(cmd)?);
    Ok(())
}

/// A held connection: its real server, and the line it answers `text` with.
fn talk(conn: &mut (TcpStream, BufReader<TcpStream>), text: &str) -> Result<String, String> {
    use std::io::Write;
    conn.0
        .write_all(format!("{text}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    match conn.1.read_line(&mut line) {
        Ok(0) => Err("closed".into()),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A daemon in its own process group (so that it and its children can be
/// killed at once), logging to `log`.
fn daemon(ns: &str, program: &str, args: &[&str], log: &Path) -> Result<Child, String> {
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {program} in {ns} (is it installed?): {e}"))
}

/// Kills `child`'s whole process group at once with `signal`.
fn kill_group(child: &mut Child, signal: &str) -> Result<(), String> {
    sh(&format!("kill -{signal} -- -{}", child.id()))?;
    let _ = child.wait();
    Ok(())
}

/// Polls `cond` every 100 ms for up to a minute; returns the seconds it took.
fn wait(what: &str, mut cond: impl FnMut() -> Result<bool, String>) -> Result<f64, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if cond()? {
            return Ok(start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{what}: not within 60 s"))
}

/// A scratch directory for the daemons' files.
fn scratch(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("run_director_demo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Two directors A (VRRP priority 150) and B (100) on the DR segment under
/// keepalived, four held connections, A's keepalived killed.
fn failover(lab: &mut Lab) -> Result<(), String> {
    let sw = lab.ns("sw")?;
    sh(&format!(
        "ip -n {sw} link add br0 type bridge mcast_snooping 0 && ip -n {sw} link set br0 up\n\
         ip link add c0 type veth peer name pc netns {sw} && ip -n {sw} link set pc master br0 up\n\
         ip addr add 192.0.2.50/24 dev c0 && ip link set c0 up"
    ))?;
    let mut dirs = Vec::new();
    for (n, host) in [(1, "a"), (2, "b")] {
        let d = lab.ns(host)?;
        sh(&format!(
            "ip -n {sw} link add p{host} type veth peer name eth0 netns {d} && ip -n {sw} link set p{host} master br0 up\n\
             ip -n {d} addr add 192.0.2.{n}/24 dev eth0 && ip -n {d} link set eth0 up"
        ))?;
        dirs.push(d);
    }
    let mut servers = String::new();
    for i in 1..=3 {
        let rs = lab.ns(&format!("rs{i}"))?;
        sh(&format!(
            "ip -n {sw} link add p{i} type veth peer name eth0 netns {rs} && ip -n {sw} link set p{i} master br0 up\n\
             ip -n {rs} addr add 192.0.2.1{i}/24 dev eth0 && ip -n {rs} link set eth0 up"
        ))?;
        sh(&format!(
            "ip netns exec {rs} {} --vip 192.0.2.100 --iface eth0",
            sibling("setup_dr_real_server").display()
        ))?;
        lab.serve(&rs, 23, &format!("rs{i}"))?;
        servers.push_str(&format!(" --real-server 192.0.2.1{i}"));
    }
    let (a, b) = (&dirs[0], &dirs[1]);
    let pair = sibling("failover_director");
    let dir = scratch("failover")?;
    let sync = "--sync-id 7 --mcast-group 239.0.0.81";
    for ns in [a, b] {
        show(&format!(
            "ip netns exec {ns} {} setup --vip 192.0.2.100 --scheduler rr{servers}",
            pair.display()
        ))?;
    }
    let mut keepalived = Vec::new();
    for (ns, host, priority) in [(a, "a", 150), (b, "b", 100)] {
        let text = conf::fill(
            conf::KEEPALIVED_PAIR,
            &[
                ("ROUTER_ID", &format!("director-{host}")),
                ("IFACE", "eth0"),
                ("VRID", "51"),
                ("PRIORITY", &priority.to_string()),
                ("ADVERT_INT", "1"),
                ("VIP", "192.0.2.100"),
                ("FAILOVER_DIRECTOR", &pair.to_string_lossy()),
                ("SYNC", sync),
            ],
        )
        .map_err(|e| e.to_string())?;
        let path = dir.join(format!("keepalived-{host}.conf"));
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        if host == "a" {
            println!(
                "\n== {} (examples/conf/keepalived-pair.conf, filled in) ==",
                path.display()
            );
            let lines = text.lines().filter(|l| !l.trim_start().starts_with('#'));
            let mut blank = true;
            for line in lines {
                // One blank line where comments stood between two blocks.
                if !(blank && line.trim().is_empty()) {
                    println!("{line}");
                }
                blank = line.trim().is_empty();
            }
        }
        let file = |ext: &str| {
            dir.join(format!("{host}.{ext}"))
                .to_string_lossy()
                .into_owned()
        };
        println!(
            "\n$ ip netns exec {ns} keepalived --vrrp --dont-fork --use-file {} ...",
            path.display()
        );
        keepalived.push(daemon(
            ns,
            "keepalived",
            &[
                "--vrrp",
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--no-syslog",
                "--use-file",
                &path.to_string_lossy(),
                "--pid",
                &file("pid"),
                "--vrrp_pid",
                &file("vrrp-pid"),
            ],
            &dir.join(format!("keepalived-{host}.log")),
        )?);
        let roles = |ns: &str| sh(&format!("ip netns exec {ns} {} status", pair.display()));
        let holds_vip = |ns: &str| -> Result<bool, String> {
            Ok(sh(&format!("ip -n {ns} -o addr show dev eth0"))?.contains("192.0.2.100/32"))
        };
        let took = if host == "a" {
            wait("A becomes master", || {
                Ok(holds_vip(ns)? && roles(ns)?.contains("master sync daemon"))
            })?
        } else {
            wait("B becomes backup", || {
                Ok(!holds_vip(ns)? && roles(ns)?.contains("backup sync daemon"))
            })?
        };
        let state = if host == "a" {
            "master, holds the VIP"
        } else {
            "backup"
        };
        println!(
            "{host}: VRRP {state} after {took:.1} s; its notify script started the sync daemon:"
        );
        print!("{}", roles(ns)?);
    }
    let vip: SocketAddr = "192.0.2.100:23".parse().expect("literal");
    let mut conns = Vec::new();
    println!("\nfour connections through A:");
    for i in 0..4 {
        let s = TcpStream::connect_timeout(&vip, Duration::from_secs(10))
            .map_err(|e| format!("connecting to {vip}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut greeting = String::new();
        r.read_line(&mut greeting).map_err(|e| e.to_string())?;
        let mut c = (s, r);
        println!(
            "  #{i} {:?}: {}",
            c.0.local_addr().ok(),
            talk(&mut c, "hello")?
        );
        conns.push(c);
    }
    // The master flushes its sync messages at least every 2 s.
    std::thread::sleep(Duration::from_secs(3));
    println!("\n== B, the backup: /proc/net/ip_vs_conn_sync (Origin SYNC: received from A) ==");
    print!(
        "{}",
        sh(&format!("ip netns exec {b} cat /proc/net/ip_vs_conn_sync"))?
    );
    println!("\nA's keepalived dies (kill -KILL: no goodbye advertisement); nothing else is done:");
    kill_group(&mut keepalived[0], "KILL")?;
    let took = wait("B becomes master", || {
        Ok(sh(&format!("ip -n {b} -o addr show dev eth0"))?.contains("192.0.2.100/32"))
    })?;
    println!("B took the VIP after {took:.1} s (3 missed adverts of 1 s, plus its skew)");
    print!(
        "{}",
        sh(&format!(
            "grep -h 'STATE\\|gratuitous' {}",
            dir.join("keepalived-b.log").display()
        ))?
    );
    wait("B's sync daemon becomes master", || {
        Ok(sh(&format!("ip netns exec {b} {} status", pair.display()))?.contains("master"))
    })?;
    show(&format!("ip netns exec {b} {} status", pair.display()))?;
    println!("\nthe same four connections, now through B:");
    for (i, c) in conns.iter_mut().enumerate() {
        println!("  #{i}: {}", talk(c, "still there?")?);
    }
    println!("\n== B: ipvsadm -Ln --stats ==");
    print!("{}", sh(&format!("ip netns exec {b} ipvsadm -Ln --stats"))?);
    for k in &mut keepalived {
        let _ = kill_group(k, "KILL");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Three directors behind a BGP/ECMP router (BIRD), `mh` and `sloppy_tcp`,
/// long-lived connections from many client addresses, one director's BIRD
/// stopped.
fn ecmp(lab: &mut Lab) -> Result<(), String> {
    const VIP: &str = "192.0.2.100";
    const CLIENTS: u8 = 24;
    let dir = scratch("ecmp")?;
    let rt = lab.ns("rt")?;
    sh(&format!(
        "set -e\n\
             ip netns exec {rt} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
         net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0\n\
         ip link add c0 type veth peer name cl netns {rt}\n\
         ip -n {rt} addr add 198.51.100.1/24 dev cl && ip -n {rt} link set cl up\n\
         ip link set c0 up\n\
         ip -n {rt} link add br0 address 02:00:00:00:01:29 type bridge \
             && ip -n {rt} addr add 203.0.113.129/25 dev br0 \
             && ip -n {rt} link set br0 up"
    ))?;
    for i in 0..CLIENTS {
        sh(&format!("ip addr add 198.51.100.{}/24 dev c0", 10 + i))?;
    }
    sh("ip route add default via 198.51.100.1")?;
    let mut servers = String::new();
    for n in 1..=3 {
        let rs = lab.ns(&format!("rs{n}"))?;
        sh(&format!(
            "ip -n {rt} link add r{n} type veth peer name eth0 netns {rs} && ip -n {rt} link set r{n} master br0 up\n\
             ip -n {rs} addr add 203.0.113.14{n}/25 dev eth0 && ip -n {rs} link set eth0 up\n\
             ip -n {rs} route add default via 203.0.113.129"
        ))?;
        sh(&format!(
            "ip netns exec {rs} {} --vip {VIP} --iface eth0",
            sibling("setup_dr_real_server").display()
        ))?;
        lab.serve(&rs, 80, &format!("rs{n}"))?;
        servers.push_str(&format!(" --real-server 203.0.113.14{n}"));
    }
    let mut birds = Vec::new();
    let start_bird = |ns: &str, name: &str, text: String| -> Result<Child, String> {
        let conf = dir.join(format!("bird-{name}.conf"));
        std::fs::write(&conf, text).map_err(|e| e.to_string())?;
        let file = |ext: &str| {
            dir.join(format!("bird-{name}.{ext}"))
                .to_string_lossy()
                .into_owned()
        };
        daemon(
            ns,
            "bird",
            &[
                "-f",
                "-c",
                &conf.to_string_lossy(),
                "-s",
                &file("ctl"),
                "-P",
                &file("pid"),
            ],
            &dir.join(format!("bird-{name}.log")),
        )
    };
    let mut directors = Vec::new();
    for n in 1..=3u8 {
        let d = lab.ns(&format!("d{n}"))?;
        let (router, own) = (4 * (n - 1) + 1, 4 * (n - 1) + 2);
        sh(&format!(
            "ip -n {rt} link add u{n} type veth peer name eth0 netns {d}\n\
             ip -n {rt} addr add 203.0.113.{router}/30 dev u{n} && ip -n {rt} link set u{n} up\n\
             ip -n {d} addr add 203.0.113.{own}/30 dev eth0 && ip -n {d} link set eth0 up\n\
             ip -n {d} route add default via 203.0.113.{router}\n\
             ip -n {rt} link add b{n} type veth peer name eth1 netns {d} && ip -n {rt} link set b{n} master br0 up\n\
             ip -n {d} addr add 203.0.113.13{n}/25 dev eth1 && ip -n {d} link set eth1 up"
        ))?;
        show(&format!(
            "ip netns exec {d} {} --vip {VIP} --port 80 --scheduler mh{servers}",
            sibling("ecmp_director").display()
        ))?;
        directors.push((d, format!("203.0.113.{router}"), format!("203.0.113.{own}")));
    }
    let text = conf::fill(
        conf::BIRD_ROUTER,
        &[
            ("ROUTER_ID", "198.51.100.1"),
            ("LOCAL_AS", "64500"),
            ("DIRECTOR_AS", "64501"),
            ("DIRECTOR_1", &directors[0].2),
            ("DIRECTOR_2", &directors[1].2),
            ("DIRECTOR_3", &directors[2].2),
        ],
    )
    .map_err(|e| e.to_string())?;
    birds.push(start_bird(&rt, "rt", text)?);
    for (i, (d, router, own)) in directors.iter().enumerate() {
        let text = conf::fill(
            conf::BIRD_DIRECTOR,
            &[
                ("ROUTER_ID", own),
                ("LOCAL_AS", "64501"),
                ("VIP", VIP),
                ("ROUTER", router),
                ("ROUTER_AS", "64500"),
            ],
        )
        .map_err(|e| e.to_string())?;
        birds.push(start_bird(d, &format!("d{}", i + 1), text)?);
    }
    println!(
        "\nBIRD on the router (examples/conf/bird-router.conf) and on each director (bird-director.conf)"
    );
    let next_hops = || -> Result<usize, String> {
        Ok(sh(&format!("ip -n {rt} route show {VIP}"))?
            .matches("nexthop via")
            .count())
    };
    let took = wait("three next hops", || Ok(next_hops()? == 3))?;
    println!("BGP up after {took:.1} s; the router's route to the VIP:");
    show(&format!("ip -n {rt} route show {VIP}"))?;
    show(&format!(
        "birdc -s {} show protocols",
        dir.join("bird-rt.ctl").display()
    ))?;

    let vip: SocketAddr = format!("{VIP}:80").parse().expect("literal");
    let mut conns = Vec::new();
    for i in 0..CLIENTS {
        let from: SocketAddr = format!("198.51.100.{}:0", 10 + i).parse().expect("literal");
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
        s.bind(&from.into()).map_err(|e| e.to_string())?;
        s.connect_timeout(&vip.into(), Duration::from_secs(10))
            .map_err(|e| format!("connecting {from} -> {vip}: {e}"))?;
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut greeting = String::new();
        r.read_line(&mut greeting).map_err(|e| e.to_string())?;
        conns.push((
            s.local_addr().map_err(|e| e.to_string())?,
            greeting.trim().to_string(),
            (s, r),
        ));
    }
    let holders = || -> Result<BTreeMap<SocketAddr, Vec<String>>, String> {
        let mut out: BTreeMap<SocketAddr, Vec<String>> = BTreeMap::new();
        for (n, (d, _, _)) in directors.iter().enumerate() {
            for c in read_connections_in_netns(d).map_err(|e| e.to_string())? {
                out.entry(c.client).or_default().push(format!("d{}", n + 1));
            }
        }
        Ok(out)
    };
    let before = holders()?;
    let mut table: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (local, rs, _) in &conns {
        let on = before.get(local).map(|v| v.join("+")).unwrap_or_default();
        *table.entry((on, rs.clone())).or_default() += 1;
    }
    println!(
        "\n{CLIENTS} long-lived connections from {CLIENTS} client addresses, by director and real server:"
    );
    for ((d, rs), n) in &table {
        println!("  {d} -> {rs}: {n}");
    }

    println!("\nd1's BIRD stops (its BGP session closes, the router withdraws d1):");
    kill_group(&mut birds[1], "TERM")?;
    let took = wait("two next hops", || Ok(next_hops()? == 2))?;
    println!("withdrawn after {took:.1} s:");
    show(&format!("ip -n {rt} route show {VIP}"))?;
    let mut kept = 0;
    for (_, rs, c) in &mut conns {
        if talk(c, "still there?")? == format!("{rs} still there?") {
            kept += 1;
        }
    }
    let after = holders()?;
    let mut moved = 0;
    let mut lines = Vec::new();
    for (local, rs, _) in &conns {
        let (was, now) = (&before[local], &after[local]);
        if now.len() > was.len() {
            moved += 1;
            lines.push(format!(
                "  {local}: {} -> {} (new entry, sloppy_tcp), still {rs}",
                was[0],
                now.iter()
                    .find(|d| !was.contains(d))
                    .map(String::as_str)
                    .unwrap_or("?")
            ));
        }
    }
    println!("{moved} of {CLIENTS} flows moved to another director:");
    for l in &lines {
        println!("{l}");
    }
    if lines.iter().any(|l| !l.contains(": d1 -> ")) {
        println!(
            "(not only d1's: the kernel's multipath route is hash-threshold, so withdrawing a next \
             hop also moves the boundary between the others)"
        );
    }
    println!(
        "{kept} of {CLIENTS} connections answered by the same real server (mh maps a client the same on every director)"
    );
    println!("\n== d2: ipvsadm -Lcn ==");
    print!(
        "{}",
        sh(&format!("ip netns exec {} ipvsadm -Lcn", directors[1].0))?
    );
    for b in &mut birds {
        let _ = kill_group(b, "KILL");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> ExitCode {
    let mut mode = None;
    let mut requests = 20usize;
    let mut sched = None;
    let mut p = lexopt::Parser::from_env();
    let parsed = (|| -> Result<(), String> {
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                lexopt::Arg::Value(v) => {
                    mode = Some(
                        v.into_string()
                            .map_err(|v| format!("mode {v:?} is not UTF-8"))?,
                    )
                }
                lexopt::Arg::Long("requests") => {
                    requests = ipvs_examples::director::args::value(&mut p, "--requests")?;
                    if !(1..=1000).contains(&requests) {
                        return Err(format!("--requests {requests}: 1..1000"));
                    }
                }
                lexopt::Arg::Long("scheduler") => {
                    sched = Some(ipvs_examples::director::args::value::<String>(
                        &mut p,
                        "--scheduler",
                    )?)
                }
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("run_director_demo: {e}");
        return ExitCode::from(2);
    }
    let mode = mode.unwrap_or_else(|| "nat".into());
    let mut lab = Lab {
        namespaces: Vec::new(),
        servers: Vec::new(),
    };
    let mut run = || -> Result<(), String> {
        match mode.as_str() {
            "failover" => return failover(&mut lab),
            "ecmp" => return ecmp(&mut lab),
            _ => {}
        }
        let (dir, vip) = match mode.as_str() {
            "nat" => nat(&mut lab, sched.as_deref().unwrap_or("rr"))?,
            "dr" => dr(&mut lab, sched.as_deref().unwrap_or("wlc"))?,
            other => return Err(format!("mode `{other}`: nat, dr, failover or ecmp")),
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..requests {
            *counts.entry(request(vip)?).or_default() += 1;
        }
        println!("\n{requests} requests to {vip} ({mode}):");
        println!("  {:<12} {:>8}", "real server", "requests");
        for (name, n) in &counts {
            println!("  {name:<12} {n:>8}");
        }
        // Let the estimator (every 2 s) fill in the rates.
        std::thread::sleep(Duration::from_secs(3));
        println!("\n== ipvsadm -Ln --stats (director) ==");
        print!(
            "{}",
            sh(&format!("ip netns exec {dir} ipvsadm -Ln --stats"))?
        );
        println!("\n== ipvsadm-rs -Ln --stats (director) ==");
        print!(
            "{}",
            sh(&format!(
                "ip netns exec {dir} {} -Ln --stats",
                sibling("ipvsadm-rs").display()
            ))?
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("run_director_demo: {e}");
            ExitCode::FAILURE
        }
    }
}
