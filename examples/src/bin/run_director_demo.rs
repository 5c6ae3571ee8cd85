// SPDX-License-Identifier: MIT OR Apache-2.0
//! `run_director_demo nat|dr|failover`: the document's setups end to end, for
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
//! `failover`: two LVS-DR directors with connection sync (`failover_director`):
//! connections opened through the master, the backup's synced table, the
//! master's link cut, the backup promoted, and every connection answering
//! again from its real server through the new master.
//!
//! Run it as root in a fresh network namespace, on a kernel with IPVS and
//! only there: `unshare --net run_director_demo nat` (the lab VM does this).
//! Addresses are documentation ranges: client 203.0.113.2 / 192.0.2.50,
//! VIP 203.0.113.10 (NAT) or 192.0.2.100 (DR), real servers 192.0.2.11...
//! Flags: `--requests N` (default 20), `--scheduler NAME`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

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

/// Two directors A (master, VIP) and B (backup) on the DR segment, four
/// held connections, A's link cut, B promoted.
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
    let sync = "--sync-id 7 --mcast-group 239.0.0.81";
    for (ns, role) in [(a, "master"), (b, "backup")] {
        show(&format!(
            "ip netns exec {ns} {} setup --role {role} --vip 192.0.2.100 --scheduler rr{servers} {sync}",
            pair.display()
        ))?;
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
    println!("\nA fails:");
    show(&format!("ip -n {a} link set eth0 down"))?;
    show(&format!(
        "ip netns exec {b} {} promote --vip 192.0.2.100 --announce 1 {sync}",
        pair.display()
    ))?;
    println!("\nthe same four connections, now through B:");
    for (i, c) in conns.iter_mut().enumerate() {
        println!("  #{i}: {}", talk(c, "still there?")?);
    }
    println!("\n== B: ipvsadm -Ln --stats ==");
    print!("{}", sh(&format!("ip netns exec {b} ipvsadm -Ln --stats"))?);
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
        if mode == "failover" {
            return failover(&mut lab);
        }
        let (dir, vip) = match mode.as_str() {
            "nat" => nat(&mut lab, sched.as_deref().unwrap_or("rr"))?,
            "dr" => dr(&mut lab, sched.as_deref().unwrap_or("wlc"))?,
            other => return Err(format!("mode `{other}`: nat, dr or failover")),
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
