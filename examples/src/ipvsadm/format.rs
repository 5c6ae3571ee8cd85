// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's listing (`-L`), save (`-S`), `--timeout` and `--daemon`
//! output, byte for byte (ipvsadm 1.31's `print_title`,
//! `print_service_entry`, `print_largenum`, `list_timeout`, `list_daemon`),
//! including its quirks: IPv4 names cut to the column width, the
//! wrapping `int` comparisons of its sort, K/M/G/T suffixes.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::model::{
    Daemon, Dest, Entry, Fwd, Netmask, Proto, SVC_F_ONEPACKET, SVC_F_SCHED1, SVC_F_SCHED2,
    SVC_F_SCHED3, Service, Stats, Svc, Table, Timeouts, TunType,
};
use super::names::Resolver;
use ipvs::conn::{self, Connection, Protocol};

/// Which listing ipvsadm's options select (its `FMT_*` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`
    pub numeric: bool,
    /// `-S` (the rule format)
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

/// `print_largenum`: a 9-wide column, K/M/G/T above 10^8 unless `--exact`.
pub fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let len = i.to_string().len();
        let width = if len <= 8 { 9 } else { len + 1 };
        return format!("{i:>width$}");
    }
    if i < 100_000_000 {
        format!("{i:>9}")
    } else if i < 1_000_000_000 {
        format!("{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        format!("{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        format!("{:>8}G", i / 1_000_000_000)
    } else {
        format!("{:>8}T", i / 1_000_000_000_000)
    }
}

/// `print_title`.
pub fn title(f: &ListFormat) -> String {
    if f.stats {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if f.rate {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if f.thresholds {
        format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if f.persistent_conn {
        format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if f.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".into()
    } else if !f.rule {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".into()
    } else {
        String::new()
    }
}

/// The version banner `list_all` prints before the table (not for `-S`).
pub fn banner(version: u32, size: u32) -> String {
    format!(
        "IP Virtual Server version {}.{}.{} (size={})\n",
        (version >> 16) & 0xff,
        (version >> 8) & 0xff,
        version & 0xff,
        size
    )
}

/// `list_all`: the banner (unless `-S`), the title and every service.
pub fn list_all(table: &Table, f: &ListFormat, names: &dyn Resolver) -> String {
    let mut out = String::new();
    if !f.rule {
        out.push_str(&banner(table.info.0, table.info.1));
    }
    let mut entries: Vec<&Entry> = table.entries.iter().collect();
    if !f.nosort {
        entries.sort_by(|a, b| cmp_services(&a.service, &b.service));
    }
    out.push_str(&title(f));
    for e in entries {
        out.push_str(&service_entry(e, f, names));
    }
    out
}

/// `list_service` (`-L -t ADDR:PORT`): the title and one service.
pub fn list_service(entry: &Entry, f: &ListFormat, names: &dyn Resolver) -> String {
    let mut out = title(f);
    out.push_str(&service_entry(entry, f, names));
    out
}

/// `list_timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp as i32, t.tcp_fin as i32, t.udp as i32
    )
}

/// `list_daemon`.
pub fn daemons(list: &[Daemon]) -> String {
    let mut out = String::new();
    for d in list {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.state.name(),
            d.mcast_ifn,
            d.syncid
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(group) = d.mcast_group {
            let _ = write!(out, ", group={group}");
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
    out
}

/// C's `(int)(a - b)` on unsigned values: ipvsadm's comparators wrap.
fn wrap(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn addr_words(addr: IpAddr) -> Vec<u32> {
    match addr {
        IpAddr::V4(a) => vec![u32::from(a)],
        IpAddr::V6(a) => a
            .octets()
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

fn cmp_addr(a: IpAddr, b: IpAddr, v6: bool) -> i32 {
    if v6 {
        let (wa, wb) = (addr_words(a), addr_words(b));
        let mut r = 0;
        for i in 0..4 {
            if r != 0 {
                break;
            }
            r = wrap(
                wa.get(i).copied().unwrap_or(0),
                wb.get(i).copied().unwrap_or(0),
            );
        }
        r
    } else {
        wrap(
            addr_words(a).first().copied().unwrap_or(0),
            addr_words(b).first().copied().unwrap_or(0),
        )
    }
}

fn to_ordering(r: i32) -> Ordering {
    r.cmp(&0)
}

/// libipvs `ipvs_cmp_services`: fwmark, af, protocol, address, port.
pub fn cmp_services(a: &Service, b: &Service) -> Ordering {
    fn parts(s: &Service) -> (u32, u32, u32, IpAddr, u16) {
        let af = if s.svc.is_ipv6() { 10 } else { 2 };
        match s.svc {
            Svc::Addr { proto, addr, port } => (0, af, u32::from(proto.number()), addr, port),
            Svc::Fwmark { mark, ipv6 } => {
                let zero = if ipv6 {
                    IpAddr::from([0u16; 8])
                } else {
                    IpAddr::from([0u8; 4])
                };
                (mark, af, 6, zero, 0)
            }
        }
    }
    let (fa, afa, pa, aa, pta) = parts(a);
    let (fb, afb, pb, ab, ptb) = parts(b);
    let mut r = wrap(fa, fb);
    if r == 0 {
        r = wrap(afa, afb);
    }
    if r == 0 {
        r = wrap(pa, pb);
    }
    if r == 0 {
        r = cmp_addr(aa, ab, a.svc.is_ipv6());
    }
    if r == 0 {
        r = i32::from(pta) - i32::from(ptb);
    }
    to_ordering(r)
}

/// libipvs `ipvs_cmp_dests`: address, then port.
pub fn cmp_dests(a: &Dest, b: &Dest) -> Ordering {
    let mut r = cmp_addr(a.addr, b.addr, a.addr.is_ipv6());
    if r == 0 {
        r = i32::from(a.port) - i32::from(b.port);
    }
    to_ordering(r)
}

/// `addrport_to_anyname`.
fn addrport(addr: IpAddr, port: u16, proto: Proto, f: &ListFormat, names: &dyn Resolver) -> String {
    let (open, close) = if addr.is_ipv6() { ("[", "]") } else { ("", "") };
    if f.numeric {
        format!("{open}{addr}{close}:{port}")
    } else {
        let host = names.host(addr).unwrap_or_else(|| addr.to_string());
        let service = names
            .service(port, proto)
            .unwrap_or_else(|| port.to_string());
        format!("{open}{host}{close}:{service}")
    }
}

/// Cuts at a byte count like ipvsadm's `buf[n] = '\0'` (at a char boundary).
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

fn sched_flags(s: &Service) -> String {
    let mut flags: Vec<&str> = Vec::new();
    match s.sched.as_str() {
        "sh" => {
            if s.flags & SVC_F_SCHED1 != 0 {
                flags.push("sh-fallback");
            }
            if s.flags & SVC_F_SCHED2 != 0 {
                flags.push("sh-port");
            }
        }
        "mh" => {
            if s.flags & SVC_F_SCHED1 != 0 {
                flags.push("mh-fallback");
            }
            if s.flags & SVC_F_SCHED2 != 0 {
                flags.push("mh-port");
            }
        }
        _ => {
            if s.flags & SVC_F_SCHED1 != 0 {
                flags.push("flag-1");
            }
            if s.flags & SVC_F_SCHED2 != 0 {
                flags.push("flag-2");
            }
            if s.flags & SVC_F_SCHED3 != 0 {
                flags.push("flag-3");
            }
        }
    }
    flags.join(",")
}

fn mask_text(s: &Service) -> Option<String> {
    match s.netmask {
        Netmask::V4(m) if !s.svc.is_ipv6() && !s.netmask.is_default() => Some(m.to_string()),
        Netmask::V6(p) if s.svc.is_ipv6() && p != 128 => Some(p.to_string()),
        _ => None,
    }
}

fn stats5(out: &mut String, st: [u64; 5], exact: bool) {
    for v in st {
        out.push_str(&largenum(v, exact));
    }
}

fn counters(s: &Stats) -> [u64; 5] {
    [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
}

fn rates(s: &Stats) -> [u64; 5] {
    [s.cps, s.inpps, s.outpps, s.inbps, s.outbps]
}

/// `print_service_entry`: one service line and its destinations.
pub fn service_entry(e: &Entry, f: &ListFormat, names: &dyn Resolver) -> String {
    let s = &e.service;
    let v6 = s.svc.is_ipv6();
    let proto = match s.svc {
        Svc::Addr { proto, .. } => proto,
        Svc::Fwmark { .. } => Proto::Tcp,
    };
    let svc_name = match s.svc {
        Svc::Fwmark { mark, ipv6 } => match (f.rule, ipv6) {
            (true, false) => format!("-f {mark}"),
            (true, true) => format!("-f {mark} -6"),
            (false, false) => format!("FWM  {mark}"),
            (false, true) => format!("FWM  {mark} IPv6"),
        },
        Svc::Addr { proto, addr, port } => {
            let vname = addrport(addr, port, proto, f, names);
            if f.rule {
                format!("{} {vname}", proto.option())
            } else {
                let n = format!("{:<4} {vname}", proto.name());
                if v6 { n } else { cut(n, 33) }
            }
        }
    };
    let sched_bits = s.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
    let mut out = String::new();
    if f.rule {
        let _ = write!(out, "-A {svc_name} -s {}", s.sched);
        if s.persistent() {
            let _ = write!(out, " -p {}", s.timeout);
            if let Some(m) = mask_text(s) {
                let _ = write!(out, " -M {m}");
            }
        }
        if !s.pe.is_empty() {
            let _ = write!(out, " --pe {}", s.pe);
        }
        if s.flags & SVC_F_ONEPACKET != 0 {
            out.push_str(" -o");
        }
        if sched_bits != 0 {
            let _ = write!(out, " -b {}", sched_flags(s));
        }
    } else if f.stats {
        let _ = write!(out, "{svc_name:<33}");
        stats5(&mut out, counters(&s.stats), f.exact);
    } else if f.rate {
        let _ = write!(out, "{svc_name:<33}");
        stats5(&mut out, rates(&s.stats), f.exact);
    } else {
        let _ = write!(out, "{svc_name} {}", s.sched);
        if sched_bits != 0 {
            let _ = write!(out, " ({})", sched_flags(s));
        }
        if s.persistent() {
            let _ = write!(out, " persistent {}", s.timeout);
            if let Some(m) = mask_text(s) {
                let _ = write!(out, " mask {m}");
            }
            if !s.pe.is_empty() {
                let _ = write!(out, " pe {}", s.pe);
            }
        }
        if s.flags & SVC_F_ONEPACKET != 0 {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    let mut dests: Vec<&Dest> = e.dests.iter().collect();
    if !f.nosort {
        dests.sort_by(|a, b| cmp_dests(a, b));
    }
    for d in dests {
        let mut dname = addrport(d.addr, d.port, proto, f, names);
        if !f.rule && !d.addr.is_ipv6() {
            dname = cut(dname, 28);
        }
        if f.rule {
            let _ = write!(
                out,
                "-a {svc_name} -r {dname} {} -w {}",
                d.fwd.switch(),
                d.weight as i32
            );
            if d.fwd == Fwd::Tunnel {
                match d.tun_type {
                    TunType::Gre => {
                        let _ = write!(out, " --tun-type gre {}", d.tun_csum.option());
                    }
                    TunType::Gue => {
                        let _ = write!(
                            out,
                            " --tun-type gue --tun-port {} {}",
                            d.tun_port,
                            d.tun_csum.option()
                        );
                    }
                    TunType::Ipip => out.push_str(" --tun-type ipip"),
                }
            }
            out.push('\n');
        } else if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            stats5(&mut out, counters(&d.stats), f.exact);
            out.push('\n');
        } else if f.rate {
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                d.stats.cps, d.stats.inpps, d.stats.outpps
            );
            out.push_str(&largenum(d.stats.inbps, f.exact));
            out.push_str(&largenum(d.stats.outbps, f.exact));
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.u_threshold, d.l_threshold, d.active, d.inactive
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight, d.persist, d.active, d.inactive
            );
        } else if f.tun_info {
            let info = if d.fwd == Fwd::Tunnel {
                match d.tun_type {
                    TunType::Ipip => "ipip".to_string(),
                    TunType::Gue => format!("gue:{}:{}", d.tun_port, d.tun_csum.short()),
                    TunType::Gre => format!("gre:{}", d.tun_csum.short()),
                }
            } else {
                "n/a".to_string()
            };
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {info:<13} {:<6} {:<10} {:<10}",
                d.fwd.name(),
                d.weight as i32,
                d.active,
                d.inactive
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                d.fwd.name(),
                d.weight as i32,
                d.active,
                d.inactive
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::*;
    use super::super::names::Numeric;
    use super::*;
    use pretty_assertions::assert_eq;
    use std::net::Ipv4Addr;

    fn tcp(a: &str, port: u16) -> Svc {
        Svc::Addr {
            proto: Proto::Tcp,
            addr: a.parse().unwrap(),
            port,
        }
    }

    fn nat_table() -> Table {
        let mut service = Service::new(tcp("207.175.44.110", 80));
        service.sched = "rr".into();
        let dests = (1..=2)
            .rev()
            .map(|i| {
                let mut d = Dest::new(format!("192.168.10.{i}").parse().unwrap(), 80);
                d.fwd = Fwd::Masq;
                d.weight = i;
                d
            })
            .collect();
        Table {
            info: (0x010201, 4096),
            entries: vec![Entry { service, dests }],
        }
    }

    fn numeric() -> ListFormat {
        ListFormat {
            numeric: true,
            ..Default::default()
        }
    }

    #[test]
    fn default_listing_matches_ipvsadm() {
        let out = list_all(&nat_table(), &numeric(), &Numeric);
        assert_eq!(
            out,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  207.175.44.110:80 rr\n\
             \x20 -> 192.168.10.1:80              Masq    1      0          0         \n\
             \x20 -> 192.168.10.2:80              Masq    2      0          0         \n"
        );
    }

    #[test]
    fn save_matches_ipvsadm() {
        let f = ListFormat {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            list_all(&nat_table(), &f, &Numeric),
            "-A -t 207.175.44.110:80 -s rr\n\
             -a -t 207.175.44.110:80 -r 192.168.10.1:80 -m -w 1\n\
             -a -t 207.175.44.110:80 -r 192.168.10.2:80 -m -w 2\n"
        );
    }

    #[test]
    fn persistent_fwmark_and_flags() {
        let mut s = Service::new(Svc::Fwmark {
            mark: 7,
            ipv6: false,
        });
        s.sched = "sh".into();
        s.flags = SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_ONEPACKET;
        s.timeout = 360;
        s.netmask = Netmask::V4(Ipv4Addr::new(255, 255, 255, 0));
        s.pe = "sip".into();
        let e = Entry {
            service: s,
            dests: vec![],
        };
        let rule = ListFormat {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            service_entry(&e, &rule, &Numeric),
            "-A -f 7 -s sh -p 360 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port\n"
        );
        assert_eq!(
            service_entry(&e, &numeric(), &Numeric),
            "FWM  7 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0 pe sip ops\n"
        );
    }

    #[test]
    fn stats_columns_and_suffixes() {
        assert_eq!(largenum(5, false), "        5");
        assert_eq!(largenum(123_456_789, false), "  123456K");
        assert_eq!(largenum(1_234_567_890, false), "    1234M");
        assert_eq!(largenum(1_234_567_890, true), " 1234567890");
        assert_eq!(largenum(5, true), "        5");
        let mut t = nat_table();
        t.entries[0].service.stats.conns = 12;
        let f = ListFormat {
            numeric: true,
            stats: true,
            ..Default::default()
        };
        let out = list_all(&t, &f, &Numeric);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
        );
        assert_eq!(
            lines[3],
            "TCP  207.175.44.110:80                  12        0        0        0        0"
        );
        assert_eq!(
            lines[4],
            "  -> 192.168.10.1:80                     0        0        0        0        0"
        );
    }

    #[test]
    fn ipv6_and_tunnels() {
        let mut s = Service::new(Svc::Addr {
            proto: Proto::Udp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 53,
        });
        s.flags = SVC_F_PERSISTENT;
        s.timeout = 60;
        s.netmask = Netmask::V6(64);
        let mut d = Dest::new("2001:db8::10".parse().unwrap(), 53);
        d.fwd = Fwd::Tunnel;
        d.tun_type = TunType::Gue;
        d.tun_port = 6080;
        d.tun_csum = TunCsum::RemCsum;
        let e = Entry {
            service: s,
            dests: vec![d],
        };
        let rule = ListFormat {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            service_entry(&e, &rule, &Numeric),
            "-A -u [2001:db8::1]:53 -s wlc -p 60 -M 64\n\
             -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n"
        );
        let ti = ListFormat {
            numeric: true,
            tun_info: true,
            ..Default::default()
        };
        assert_eq!(
            service_entry(&e, &ti, &Numeric),
            "UDP  [2001:db8::1]:53 wlc persistent 60 mask 64\n\
             \x20 -> [2001:db8::10]:53            Tunnel  gue:6080:r+c  1      0          0         \n"
        );
    }

    #[test]
    fn sort_follows_libipvs() {
        let a = Service::new(tcp("192.0.2.2", 80));
        let b = Service::new(tcp("192.0.2.1", 81));
        let f = Service::new(Svc::Fwmark {
            mark: 1,
            ipv6: false,
        });
        let u = Service::new(Svc::Addr {
            proto: Proto::Udp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 53,
        });
        let mut v = vec![&f, &u, &a, &b];
        v.sort_by(|x, y| cmp_services(x, y));
        assert_eq!(v, vec![&b, &a, &u, &f]);
    }

    #[test]
    fn timeouts_and_daemons() {
        assert_eq!(
            timeouts(&Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            }),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
        let d = Daemon {
            state: DaemonState::Master,
            mcast_ifn: "eth0".into(),
            syncid: 3,
            sync_maxlen: 1472,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 1,
        };
        assert_eq!(
            daemons(&[d]),
            "master sync daemon (mcast=eth0, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
    }
}

/// `list_conn` (`-L -c`): the connection table (parsed by
/// [`ipvs::conn`]) written the way ipvsadm prints it (addresses decoded,
/// expiry as mm:ss, PE columns with `--persistent-conn`).
pub fn connections(conns: &[Connection], f: &ListFormat, names: &dyn Resolver) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let (state, source, virt) = ("state", "source", "virtual");
    if f.persistent_conn {
        let (dest, pe) = ("destination", "pe name");
        let _ = writeln!(
            out,
            "pro expire {state:<11} {source:<18} {virt:<18} {dest:<18} {pe:<16} pe_data"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {state:<11} {source:<18} {virt:<18} destination"
        );
    }
    for c in conns {
        // ipvsadm resolves service names for TCP and UDP only.
        let proto = match c.protocol {
            Protocol::Tcp => Some(Proto::Tcp),
            Protocol::Udp => Some(Proto::Udp),
            _ => None,
        };
        let name = |a: std::net::SocketAddr| match proto {
            Some(pr) => addrport(a.ip(), a.port(), pr, f, names),
            None => {
                let host = if f.numeric { None } else { names.host(a.ip()) };
                let host = host.unwrap_or_else(|| a.ip().to_string());
                if a.is_ipv6() {
                    format!("[{host}]:{}", a.port())
                } else {
                    format!("{host}:{}", a.port())
                }
            }
        };
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
mod conn_tests {
    use super::super::names::Numeric;
    use super::*;

    #[test]
    fn connection_table_is_rewritten_like_ipvsadm() {
        let proc_text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
                         TCP CB007132 A5F0 CB00710A 0050 C000020B 0050 ESTABLISHED     899\n";
        let conns = ipvs::conn::parse_connections(proc_text).unwrap();
        let f = ListFormat {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(
            connections(&conns, &f, &Numeric),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             TCP 14:59  ESTABLISHED 203.0.113.50:42480 203.0.113.10:80    192.0.2.11:80\n"
        );
    }
}
