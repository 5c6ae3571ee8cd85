// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvs-demo`: the service round trip that `cargo xtask demo` shows in the lab VM.
//!
//! Resolves the IPVS generic-netlink family, asks the kernel for its version
//! and connection table size, adds a TCP service with round robin and one
//! masquerading real server, and lists both back. Equivalent commands:
//!
//! ```text
//! cat /proc/net/ip_vs                                   # version, table size
//! ipvsadm -A -t 203.0.113.1:80 -s rr
//! ipvsadm -a -t 203.0.113.1:80 -r 198.51.100.10:80 -m
//! ipvsadm -S -n
//! ```
//!
//! Needs CAP_NET_ADMIN and a kernel with IPVS (the `ip_vs` module); run it in
//! a scratch network namespace (`unshare --net`) so it leaves the host alone.
//! Arguments, all optional: `[SERVICE [REAL_SERVER]]`, e.g.
//! `tcp:203.0.113.1:80 198.51.100.10:80`.

use std::process::ExitCode;

use ipvs::{Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let key: ServiceKey = args
        .next()
        .as_deref()
        .unwrap_or("tcp:203.0.113.1:80")
        .parse()?;
    let real: std::net::SocketAddr = args
        .next()
        .as_deref()
        .unwrap_or("198.51.100.10:80")
        .parse()?;

    let ipvs = Ipvs::new()?;
    let family = ipvs.family()?;
    println!(
        "resolved generic-netlink family \"IPVS\": id {:#x}",
        family.id
    );
    let info = ipvs.info()?;
    println!(
        "IPVS version {} (connection table size {})",
        info.version, info.connection_table_size
    );

    let service = Service::new(key, Scheduler::RoundRobin);
    ipvs.add_service(&service)?;
    println!("added service      {service}");
    let dest = Destination::new(real, Forwarding::Masquerade);
    ipvs.add_destination(&key, &dest)?;
    println!("added destination  -a {} {dest}", key.ipvsadm_args());

    println!("\nread back from the kernel:");
    for service in ipvs.services()? {
        println!("{service}");
        for dest in ipvs.destinations(&service.key)? {
            println!("-a {} {dest}", service.key.ipvsadm_args());
        }
    }
    Ok(())
}
