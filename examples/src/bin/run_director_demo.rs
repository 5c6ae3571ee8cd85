// SPDX-License-Identifier: MIT OR Apache-2.0
//! `run_director_demo nat|dr`: the document's setups end to end, for
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
        let (dir, vip) = match mode.as_str() {
            "nat" => nat(&mut lab, sched.as_deref().unwrap_or("rr"))?,
            "dr" => dr(&mut lab, sched.as_deref().unwrap_or("wlc"))?,
            other => return Err(format!("mode `{other}`: nat or dr")),
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
