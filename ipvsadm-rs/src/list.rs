// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's listings, byte for byte: `-L` in each format, `-S`,
//! `--timeout`, `--daemon` and `-c` (ipvsadm 1.31's `list_all`,
//! `print_title`, `print_service_entry`, `print_largenum`, `list_timeout`,
//! `list_daemon`, `list_conn`), quirks included: IPv4 names cut to the
//! column, the wrapping `int` comparisons of libipvs's sort, K/M/G/T
//! suffixes.
//!
//! `-S` lines are the `ipvs` crate's own `Display` of a service and a
//! destination (which is `ipvsadm -S -n`'s notation), with the address
//! named when `-n` is not given. The columns, rates and sorting of `-L`
//! live here.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use ipvs::conn::{self, Connection};
use ipvs::ipvs_sys::Protocol;
use ipvs::{
    DaemonRole, Destination, Family, Forwarding, Info, PersistenceNetmask, ServiceKey,
    ServiceState, Stats, SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};

use crate::names::{Resolver, protocol_name};

/// Which listing the options select (ipvsadm's `FMT_*` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`
    pub numeric: bool,
    /// `-S`: the rule format.
    pub rule: bool,
    /// `--stats`
    pub stats: bool,
    /// `--rate`
    pub rate: bool,
    /// `--thresholds`
    pub thresholds: bool,
    /// `--persistent-conn`
    pub persistent_conn: bool,
    /// `--nosort`
    pub nosort: bool,
    /// `--exact`
    pub exact: bool,
    /// `--tun-info`
    pub tun_info: bool,
}

/// The version line `list_all` prints before the table (not for `-S`).
pub fn banner(info: &Info) -> String {
    format!(
        "IP Virtual Server version {} (size={})\n",
        info.version, info.connection_table_size
    )
}

/// `list_all` after the version line: the title and every service, sorted
/// as libipvs sorts unless `--nosort`.
pub fn table(services: &[ServiceState], f: &ListFormat, names: &dyn Resolver) -> String {
    let mut services: Vec<&ServiceState> = services.iter().collect();
    if !f.nosort {
        services.sort_by(|a, b| cmp_services(&a.service.key, &b.service.key));
    }
    let mut out = title(f);
    for state in services {
        out.push_str(&service_entry(state, f, names));
    }
    out
}

/// The table as `ipvsadm -Sn` prints it: what the `-R` tests and fuzz
/// harness compare.
#[cfg(any(test, feature = "fuzzing"))]
pub fn saved_numeric(services: &[ServiceState]) -> String {
    let format = ListFormat {
        rule: true,
        numeric: true,
        ..ListFormat::default()
    };
    table(services, &format, &crate::names::Numeric)
}

/// `list_service` (`-L -t ADDR:PORT`): the title and one service.
pub fn service(state: &ServiceState, f: &ListFormat, names: &dyn Resolver) -> String {
    format!("{}{}", title(f), service_entry(state, f, names))
}

/// `list_timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    let seconds = |v: Option<std::time::Duration>| v.map_or(0, |d| d.as_secs());
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        seconds(t.tcp),
        seconds(t.tcp_fin),
        seconds(t.udp)
    )
}

/// `list_daemon`.
pub fn daemons(daemons: &[SyncDaemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        let role = match d.role {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        };
        let _ = write!(
            out,
            "{role} sync daemon (mcast={}, syncid={}",
            d.interface, d.sync_id
        );
        if let Some(len) = d.max_len.filter(|&l| l != 0) {
            let _ = write!(out, ", maxlen={len}");
        }
        if let Some(group) = d.mcast_group {
            let _ = write!(out, ", group={group}");
        }
        if let Some(port) = d.mcast_port.filter(|&p| p != 0) {
            let _ = write!(out, ", port={port}");
        }
        if let Some(ttl) = d.mcast_ttl.filter(|&t| t != 0) {
            let _ = write!(out, ", ttl={ttl}");
        }
        out.push_str(")\n");
    }
    out
}

/// `print_largenum`: a 9-wide column, K/M/G/T from 10^8 on unless
/// `--exact`.
fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let width = i.to_string().len().max(8) + 1;
        return format!("{i:>width$}");
    }
    match i {
        0..100_000_000 => format!("{i:>9}"),
        100_000_000..1_000_000_000 => format!("{:>8}K", i / 1_000),
        1_000_000_000..100_000_000_000 => format!("{:>8}M", i / 1_000_000),
        100_000_000_000..100_000_000_000_000 => format!("{:>8}G", i / 1_000_000_000),
        _ => format!("{:>8}T", i / 1_000_000_000_000),
    }
}

/// `print_title`.
fn title(f: &ListFormat) -> String {
    let local = "Prot LocalAddress:Port";
    let remote = "  -> RemoteAddress:Port";
    let columns = |names: [&str; 5]| {
        format!(
            "{local:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{remote}\n",
            names[0], names[1], names[2], names[3], names[4]
        )
    };
    let left = |names: [&str; 4], widths: [usize; 4]| {
        let mut line = format!("{local:<33}");
        for (name, width) in names.iter().zip(widths) {
            let _ = write!(line, " {name:<width$}");
        }
        format!("{line}\n{remote}\n")
    };
    if f.stats {
        columns(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"])
    } else if f.rate {
        columns(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"])
    } else if f.thresholds {
        left(
            ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"],
            [10; 4],
        )
    } else if f.persistent_conn {
        left(
            ["Weight", "PersistConn", "ActiveConn", "InActConn"],
            [9, 11, 10, 10],
        )
    } else if f.tun_info {
        format!(
            "{local} Scheduler Flags\n{remote}           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        )
    } else if !f.rule {
        format!("{local} Scheduler Flags\n{remote}           Forward Weight ActiveConn InActConn\n")
    } else {
        String::new()
    }
}

/// C's `(int)(a - b)` on unsigned values: libipvs's comparisons wrap.
fn wrapping(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// An address as libipvs compares it: host-order 32-bit words.
fn words(addr: IpAddr) -> Vec<u32> {
    match addr {
        IpAddr::V4(a) => vec![u32::from(a)],
        IpAddr::V6(a) => a
            .octets()
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

/// libipvs's address comparison: word by word, wrapping.
fn cmp_addrs(a: IpAddr, b: IpAddr) -> i32 {
    words(a)
        .into_iter()
        .zip(words(b))
        .map(|(x, y)| wrapping(x, y))
        .find(|&r| r != 0)
        .unwrap_or(0)
}

/// libipvs's `ipvs_cmp_services`: fwmark, family, protocol, address, port
/// (a fwmark service has protocol 0, address and port unset).
fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    fn parts(key: &ServiceKey) -> (u32, u32, u32, Option<SocketAddr>) {
        let af = match key.family() {
            Family::Ipv4 => 2,
            Family::Ipv6 => 10,
        };
        match *key {
            ServiceKey::Addr { protocol, addr } => (0, af, u16::from(protocol).into(), Some(addr)),
            ServiceKey::Fwmark { mark, .. } => (mark, af, 0, None),
            _ => (0, af, 0, None),
        }
    }
    let (mark_a, af_a, proto_a, addr_a) = parts(a);
    let (mark_b, af_b, proto_b, addr_b) = parts(b);
    let (addr_order, port_order) = match (addr_a, addr_b) {
        (Some(x), Some(y)) => (
            cmp_addrs(x.ip(), y.ip()),
            i32::from(x.port()) - i32::from(y.port()),
        ),
        _ => (0, 0),
    };
    [
        wrapping(mark_a, mark_b),
        wrapping(af_a, af_b),
        wrapping(proto_a, proto_b),
        addr_order,
        port_order,
    ]
    .into_iter()
    .find(|&r| r != 0)
    .unwrap_or(0)
    .cmp(&0)
}

/// libipvs's `ipvs_cmp_dests`: address, then port.
fn cmp_dests(a: &Destination, b: &Destination) -> Ordering {
    let r = match cmp_addrs(a.addr.ip(), b.addr.ip()) {
        0 => i32::from(a.addr.port()) - i32::from(b.addr.port()),
        r => r,
    };
    r.cmp(&0)
}

/// `addrport_to_anyname`: `host:port`, IPv6 in brackets, named unless `-n`
/// (ports only for TCP, UDP and SCTP services).
fn addrport(
    addr: SocketAddr,
    protocol: Option<&str>,
    f: &ListFormat,
    names: &dyn Resolver,
) -> String {
    let (host, port) = if f.numeric {
        (None, None)
    } else {
        (
            names.host(addr.ip()),
            protocol.and_then(|p| names.service(addr.port(), p)),
        )
    };
    let host = host.unwrap_or_else(|| addr.ip().to_string());
    let port = port.unwrap_or_else(|| addr.port().to_string());
    match addr {
        SocketAddr::V4(_) => format!("{host}:{port}"),
        SocketAddr::V6(_) => format!("[{host}]:{port}"),
    }
}

/// Cut at a byte count, as ipvsadm's `buf[n] = '\0'` (at a char boundary).
fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `line` with its leading `numeric` part written as `named`: a `-S` line
/// of the crate's `Display` with the address named.
fn renamed(line: String, numeric: &str, named: &str) -> String {
    match line.strip_prefix(numeric) {
        Some(rest) => format!("{named}{rest}"),
        None => line,
    }
}

/// The service's protocol name for port names (none for a fwmark service:
/// libipvs leaves its protocol 0).
fn service_protocol(key: &ServiceKey) -> Option<&'static str> {
    match key {
        ServiceKey::Addr { protocol, .. } => protocol_name(*protocol),
        _ => None,
    }
}

/// How the service is named on its line: `-t host:port` / `-f 7 -6` for
/// `-S`, `TCP  host:port` / `FWM  7 IPv6` for `-L`.
fn service_name(key: &ServiceKey, f: &ListFormat, names: &dyn Resolver) -> String {
    match *key {
        ServiceKey::Addr { protocol, addr } => {
            let vname = addrport(addr, service_protocol(key), f, names);
            if f.rule {
                let option = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                    _ => "--xxx-service",
                };
                format!("{option} {vname}")
            } else {
                let proto = match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                    _ => "?",
                };
                let line = format!("{proto:<4} {vname}");
                if addr.is_ipv6() { line } else { cut(line, 33) }
            }
        }
        ServiceKey::Fwmark { mark, family } => match (f.rule, family) {
            (true, _) => key.ipvsadm_args(),
            (false, Family::Ipv4) => format!("FWM  {mark}"),
            (false, Family::Ipv6) => format!("FWM  {mark} IPv6"),
        },
        _ => key.ipvsadm_args(),
    }
}

/// The counters `--stats` shows.
fn counters(s: &Stats) -> [u64; 5] {
    [
        s.connections,
        s.packets_in,
        s.packets_out,
        s.bytes_in,
        s.bytes_out,
    ]
}

/// The rates `--rate` shows.
fn rates(s: &Stats) -> [u64; 5] {
    [
        s.connections_per_second,
        s.packets_in_per_second,
        s.packets_out_per_second,
        s.bytes_in_per_second,
        s.bytes_out_per_second,
    ]
}

fn push_largenums(out: &mut String, values: &[u64], exact: bool) {
    for &v in values {
        out.push_str(&largenum(v, exact));
    }
}

/// The service's own line of `-L` (without its destinations).
fn service_line(state: &ServiceState, svc_name: &str, f: &ListFormat) -> String {
    let s = &state.service;
    let mut out = String::new();
    if f.stats || f.rate {
        let _ = write!(out, "{svc_name:<33}");
        let values = if f.stats {
            counters(&s.stats)
        } else {
            rates(&s.stats)
        };
        push_largenums(&mut out, &values, f.exact);
        return out;
    }
    let _ = write!(out, "{svc_name} {}", s.scheduler);
    if let Some(flags) = s.scheduler_flags_text() {
        let _ = write!(out, " ({flags})");
    }
    if let Some(p) = &s.persistence {
        let _ = write!(out, " persistent {}", p.timeout.as_secs());
        match p.netmask {
            Some(PersistenceNetmask::Ipv4(mask)) if !mask.is_broadcast() => {
                let _ = write!(out, " mask {mask}");
            }
            Some(PersistenceNetmask::Ipv6(prefix)) if prefix != 128 => {
                let _ = write!(out, " mask {prefix}");
            }
            _ => {}
        }
        if let Some(pe) = &s.persistence_engine {
            let _ = write!(out, " pe {pe}");
        }
    }
    if s.one_packet {
        out.push_str(" ops");
    }
    out
}

/// ipvsadm's name of a forwarding method (`fwd_name`).
fn forwarding_name(forwarding: &Forwarding) -> &'static str {
    match forwarding {
        Forwarding::Masquerade => "Masq",
        Forwarding::Local => "Local",
        Forwarding::Tunnel(_) => "Tunnel",
        Forwarding::DirectRoute => "Route",
        _ => "(null)",
    }
}

/// `--tun-info`'s column (`fwd_tun_info`).
fn tunnel_info(forwarding: &Forwarding) -> String {
    let csum = |c: &TunnelChecksum| match c {
        TunnelChecksum::None => "-c",
        TunnelChecksum::Checksum => "+c",
        TunnelChecksum::RemoteChecksum => "r+c",
        _ => "?",
    };
    match forwarding {
        Forwarding::Tunnel(Tunnel::Ipip) => "ipip".into(),
        Forwarding::Tunnel(Tunnel::Gue { port, checksum }) => {
            format!("gue:{port}:{}", csum(checksum))
        }
        Forwarding::Tunnel(Tunnel::Gre { checksum }) => format!("gre:{}", csum(checksum)),
        _ => "n/a".into(),
    }
}

/// One destination's line of `-L` in format `f`.
fn destination_line(d: &Destination, dname: &str, f: &ListFormat) -> String {
    let mut out = String::new();
    if f.stats {
        let _ = write!(out, "  -> {dname:<28}");
        push_largenums(&mut out, &counters(&d.stats), f.exact);
    } else if f.rate {
        let s = &d.stats;
        let _ = write!(
            out,
            "  -> {dname:<28} {:>8} {:>8} {:>8}",
            s.connections_per_second, s.packets_in_per_second, s.packets_out_per_second
        );
        push_largenums(
            &mut out,
            &[s.bytes_in_per_second, s.bytes_out_per_second],
            f.exact,
        );
    } else if f.thresholds {
        let _ = write!(
            out,
            "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
            d.upper_threshold, d.lower_threshold, d.active_connections, d.inactive_connections
        );
    } else if f.persistent_conn {
        let _ = write!(
            out,
            "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
            d.weight, d.persistent_connections, d.active_connections, d.inactive_connections
        );
    } else {
        let _ = write!(
            out,
            "  -> {dname:<28} {:<7} ",
            forwarding_name(&d.forwarding)
        );
        if f.tun_info {
            let _ = write!(out, "{:<13} ", tunnel_info(&d.forwarding));
        }
        let _ = write!(
            out,
            "{:<6} {:<10} {:<10}",
            d.weight as i32, d.active_connections, d.inactive_connections
        );
    }
    out.push('\n');
    out
}

/// `print_service_entry`: a service and its destinations.
fn service_entry(state: &ServiceState, f: &ListFormat, names: &dyn Resolver) -> String {
    let key = &state.service.key;
    let svc_name = service_name(key, f, names);
    let mut out = if f.rule {
        let numeric = format!("-A {}", key.ipvsadm_args());
        renamed(
            state.service.to_string(),
            &numeric,
            &format!("-A {svc_name}"),
        )
    } else {
        service_line(state, &svc_name, f)
    };
    out.push('\n');
    let mut dests: Vec<&Destination> = state.destinations.iter().collect();
    if !f.nosort {
        dests.sort_by(|a, b| cmp_dests(a, b));
    }
    for d in dests {
        let dname = addrport(d.addr, service_protocol(key), f, names);
        if f.rule {
            // ipvsadm 1.31's `-S` writes no `-x`/`-y` (so its `-S | -R`
            // drops thresholds); the crate's `Display` keeps them.
            let mut saved = d.clone();
            (saved.upper_threshold, saved.lower_threshold) = (0, 0);
            let line = renamed(
                saved.to_string(),
                &format!("-r {}", d.addr),
                &format!("-r {dname}"),
            );
            let _ = writeln!(out, "-a {svc_name} {line}");
        } else {
            let dname = if d.addr.is_ipv6() {
                dname
            } else {
                cut(dname, 28)
            };
            out.push_str(&destination_line(d, &dname, f));
        }
    }
    out
}

/// `list_conn` (`-L -c`): the connection table, read by [`ipvs::conn`],
/// printed as ipvsadm prints it (expiry as mm:ss, the persistence engine's
/// columns with `--persistent-conn`).
pub fn connections(conns: &[Connection], f: &ListFormat, names: &dyn Resolver) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let (state, source, virt, dest) = ("state", "source", "virtual", "destination");
    if f.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {state:<11} {source:<18} {virt:<18} {dest:<18} {:<16} pe_data",
            "pe name"
        );
    } else {
        let _ = writeln!(out, "pro expire {state:<11} {source:<18} {virt:<18} {dest}");
    }
    for c in conns {
        let name = |a: SocketAddr| addrport(a, protocol_name(c.protocol), f, names);
        let (src, v, d) = (name(c.client), name(c.virtual_addr), name(c.destination));
        let expires = c.expires.as_secs();
        let expire = format!("{:02}:{:02}", expires / 60, expires % 60);
        let pro = conn::protocol_name(c.protocol);
        match (&c.pe_name, &c.pe_data) {
            (Some(pe_name), Some(pe_data)) if f.persistent_conn => {
                let _ = writeln!(
                    out,
                    "{pro:<3} {expire:<6} {:<11} {src:<18} {v:<18} {d:<16} {pe_name:<18} {pe_data}",
                    c.state
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{pro:<3} {expire:<6} {:<11} {src:<18} {v:<18} {d}",
                    c.state
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> std::time::Duration {
        std::time::Duration::from_secs(n)
    }
    use crate::names::{Files, Numeric};
    use ipvs::{Persistence, Scheduler, SchedulerFlags, Service};

    fn key(text: &str) -> ServiceKey {
        text.parse().unwrap()
    }

    fn numeric() -> ListFormat {
        ListFormat {
            numeric: true,
            ..Default::default()
        }
    }

    fn rule() -> ListFormat {
        ListFormat {
            rule: true,
            ..numeric()
        }
    }

    /// The man page's NAT example, its destinations added in reverse.
    fn nat() -> Vec<ServiceState> {
        let mut state = ServiceState::new(Service::new(
            key("tcp:207.175.44.110:80"),
            Scheduler::RoundRobin,
        ));
        for i in (1..=2).rev() {
            let addr = format!("192.168.10.{i}:80").parse().unwrap();
            state
                .destinations
                .push(Destination::new(addr, Forwarding::Masquerade).with_weight(i));
        }
        vec![state]
    }

    #[test]
    fn the_default_listing_is_ipvsadms() {
        assert_eq!(
            table(&nat(), &numeric(), &Numeric),
            "Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  207.175.44.110:80 rr\n\
             \x20 -> 192.168.10.1:80              Masq    1      0          0         \n\
             \x20 -> 192.168.10.2:80              Masq    2      0          0         \n"
        );
    }

    #[test]
    fn save_is_the_crates_display_named_or_not() {
        assert_eq!(
            table(&nat(), &rule(), &Numeric),
            "-A -t 207.175.44.110:80 -s rr\n\
             -a -t 207.175.44.110:80 -r 192.168.10.1:80 -m -w 1\n\
             -a -t 207.175.44.110:80 -r 192.168.10.2:80 -m -w 2\n"
        );
        let files = Files::from_texts("207.175.44.110 www\n192.168.10.1 rs1\n", "http 80/tcp\n");
        let named = ListFormat {
            numeric: false,
            ..rule()
        };
        assert_eq!(
            table(&nat(), &named, &files),
            "-A -t www:http -s rr\n\
             -a -t www:http -r rs1:http -m -w 1\n\
             -a -t www:http -r 192.168.10.2:http -m -w 2\n"
        );
    }

    #[test]
    fn save_writes_no_thresholds_as_ipvsadm() {
        let mut state = nat();
        state[0].destinations[0].upper_threshold = 100;
        state[0].destinations[0].lower_threshold = 50;
        assert_eq!(
            table(&state, &rule(), &Numeric),
            "-A -t 207.175.44.110:80 -s rr\n\
             -a -t 207.175.44.110:80 -r 192.168.10.1:80 -m -w 1\n\
             -a -t 207.175.44.110:80 -r 192.168.10.2:80 -m -w 2\n"
        );
    }

    #[test]
    fn a_persistent_fwmark_service_with_flags() {
        let mut service = Service::new(ServiceKey::fwmark(7), Scheduler::SourceHashing)
            .with_persistence(
                Persistence::new(secs(360))
                    .with_netmask(PersistenceNetmask::Ipv4("255.255.255.0".parse().unwrap())),
            )
            .with_persistence_engine("sip")
            .with_scheduler_flags(SchedulerFlags::FALLBACK | SchedulerFlags::PORT);
        service.one_packet = true;
        let state = ServiceState::new(service);
        assert_eq!(
            service_entry(&state, &rule(), &Numeric),
            "-A -f 7 -s sh -p 360 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port\n"
        );
        assert_eq!(
            service_entry(&state, &numeric(), &Numeric),
            "FWM  7 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0 pe sip ops\n"
        );
    }

    #[test]
    fn counters_fill_their_columns_with_suffixes() {
        assert_eq!(largenum(5, false), "        5");
        assert_eq!(largenum(123_456_789, false), "  123456K");
        assert_eq!(largenum(1_234_567_890, false), "    1234M");
        assert_eq!(largenum(1_234_567_890, true), " 1234567890");
        assert_eq!(largenum(5, true), "        5");
        let mut services = nat();
        services[0].service.stats.connections = 12;
        let f = ListFormat {
            stats: true,
            ..numeric()
        };
        let out = table(&services, &f, &Numeric);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
        );
        assert_eq!(
            lines[2],
            "TCP  207.175.44.110:80                  12        0        0        0        0"
        );
        assert_eq!(
            lines[3],
            "  -> 192.168.10.1:80                     0        0        0        0        0"
        );
    }

    #[test]
    fn ipv6_and_tunnels() {
        let service = Service::new(
            key("udp:[2001:db8::1]:53"),
            Scheduler::WeightedLeastConnection,
        )
        .with_persistence(Persistence::new(secs(60)).with_netmask(PersistenceNetmask::Ipv6(64)));
        let tunnel = Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            checksum: TunnelChecksum::RemoteChecksum,
        });
        let mut state = ServiceState::new(service);
        state.destinations.push(Destination::new(
            "[2001:db8::10]:53".parse().unwrap(),
            tunnel,
        ));
        assert_eq!(
            service_entry(&state, &rule(), &Numeric),
            "-A -u [2001:db8::1]:53 -s wlc -p 60 -M 64\n\
             -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n"
        );
        let f = ListFormat {
            tun_info: true,
            ..numeric()
        };
        assert_eq!(
            service_entry(&state, &f, &Numeric),
            "UDP  [2001:db8::1]:53 wlc persistent 60 mask 64\n\
             \x20 -> [2001:db8::10]:53            Tunnel  gue:6080:r+c  1      0          0         \n"
        );
    }

    #[test]
    fn the_sort_is_libipvss() {
        let keys = [
            "fwmark:1",
            "udp:192.0.2.1:53",
            "tcp:192.0.2.2:80",
            "tcp:192.0.2.1:81",
            "tcp:[2001:db8::1]:80",
        ];
        let mut sorted: Vec<ServiceKey> = keys.iter().map(|k| key(k)).collect();
        sorted.sort_by(cmp_services);
        let sorted: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            [
                "tcp:192.0.2.1:81",
                "tcp:192.0.2.2:80",
                "udp:192.0.2.1:53",
                "tcp:[2001:db8::1]:80",
                "fwmark:1"
            ]
        );
    }

    #[test]
    fn timeouts_and_daemons() {
        assert_eq!(
            timeouts(&Timeouts::new(
                Some(secs(900)),
                Some(secs(120)),
                Some(secs(300))
            )),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
        let d = SyncDaemon::new(DaemonRole::Master, "eth0", 3)
            .with_max_len(1472)
            .with_mcast_group("224.0.0.81".parse().unwrap())
            .with_mcast_port(8848)
            .with_mcast_ttl(1);
        assert_eq!(
            daemons(&[d]),
            "master sync daemon (mcast=eth0, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
    }

    #[test]
    fn the_connection_table_is_written_as_ipvsadm_writes_it() {
        let proc_text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
                         TCP CB007132 A5F0 CB00710A 0050 C000020B 0050 ESTABLISHED     899\n";
        let conns = conn::parse_connections(proc_text).unwrap();
        assert_eq!(
            connections(&conns, &numeric(), &Numeric),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             TCP 14:59  ESTABLISHED 203.0.113.50:42480 203.0.113.10:80    192.0.2.11:80\n"
        );
    }
}
