// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's value syntax, read the way ipvsadm 1.31 reads it: numbers by
//! `strtol` (`string_to_number`), IPv4 addresses by `inet_aton` (so
//! `1.2.3` is 1.2.0.3 and `0x7f.1` is 127.0.0.1), `host[:port]` with IPv6
//! in brackets (`parse_service`), netmasks and scheduler flags. Each
//! returns `None` (or the offending flag) where ipvsadm fails; the options
//! pass words the failure as ipvsadm does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipvs::SchedulerFlags;

use crate::names::Resolver;

/// `isspace` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `string_to_number`: `strtol(text, 10)` must read the whole text (blanks
/// and a sign may lead) without overflow, and the value be in `min..=max`.
pub fn number(text: &str, min: i64, max: i64) -> Option<i64> {
    let body = text.trim_start_matches(is_c_space);
    let digits = body.strip_prefix(['+', '-']).unwrap_or(body);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = body.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

/// `atoi`: the number at the start of `text`, 0 if there is none (how
/// ipvsadm reads an IPv6 netmask: `64abc` is 64).
pub fn atoi(text: &str) -> i64 {
    let body = text.trim_start_matches(is_c_space);
    let (sign, rest) = match body.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, body.strip_prefix('+').unwrap_or(body)),
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    sign * rest[..end].parse::<i64>().unwrap_or(0)
}

/// `strtoul(text, &end, 0)` on a part that starts with a digit: decimal,
/// octal after `0`, hex after `0x`; the value and the unread rest.
fn c_unsigned(text: &str) -> Option<(u64, &str)> {
    let (radix, digits) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if hex.starts_with(|c: char| c.is_ascii_hexdigit()) => (16, hex),
        _ if text.starts_with('0') => (8, text),
        _ => (10, text),
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let value = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((value, &digits[end..]))
}

/// glibc's `inet_aton`: `a.b.c.d`, `a.b.c` (c is 16 bits), `a.b` (b is 24
/// bits) or `a` (32 bits), each part decimal, octal or hex; blanks may
/// follow.
pub fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let mut rest = text;
    loop {
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let (value, after) = c_unsigned(rest)?;
        if value > u64::from(u32::MAX) {
            return None;
        }
        parts.push(value);
        match after.strip_prefix('.') {
            Some(next) if parts.len() < 4 => rest = next,
            Some(_) => return None,
            None => {
                rest = after;
                break;
            }
        }
    }
    if !rest.is_empty() && !rest.starts_with(is_c_space) {
        return None;
    }
    let (last, leading) = parts.split_last()?;
    // The last part fills the bytes the leading ones did not.
    let last_bits = 8 * (4 - leading.len() as u32);
    if leading.iter().any(|&p| p > 0xff) || *last >= 1u64 << last_bits {
        return None;
    }
    let word = leading
        .iter()
        .enumerate()
        .fold(*last as u32, |word, (i, &p)| {
            word | ((p as u32) << (24 - 8 * i))
        });
    Some(Ipv4Addr::from(word))
}

/// An address and, if one was written, a port: what ipvsadm's
/// `parse_service` reads from `-t`, `-u`, `--sctp-service` and `-r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// The address.
    pub addr: IpAddr,
    /// The port, if one followed the address.
    pub port: Option<u16>,
}

/// ipvsadm's `parse_service`: `host[:port]`, `[ipv6]:port` or a bare IPv6
/// address. The host is an IPv6 address, an `inet_aton` IPv4 address or an
/// IPv4 host name; the port a number or a service name of `protocol`
/// (`tcp`, `udp`, `sctp`; none before a service option).
///
/// Its quirks are kept: a bare IPv6 address takes no port
/// (`2001:db8::1:80` is one address), and an IPv4 address in brackets
/// loses its port (`[192.0.2.1]:80` has none).
pub fn host_port(text: &str, protocol: Option<&str>, names: &dyn Resolver) -> Option<HostPort> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, bracket_port) = match text.strip_prefix('[') {
        Some(inner) => {
            let (host, after) = inner.split_once(']')?;
            (host, Some(after.strip_prefix(':')?))
        }
        None => (text, None),
    };
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        let port = match bracket_port {
            Some(text) => Some(port(text, protocol, names)?),
            None => None,
        };
        return Some(HostPort {
            addr: v6.into(),
            port,
        });
    }
    let (host, port_text) = match host.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host, None),
    };
    let addr = inet_aton(host)
        .map(IpAddr::from)
        .or_else(|| names.lookup_host(host))?;
    let port = match port_text {
        Some(text) => Some(port(text, protocol, names)?),
        None => None,
    };
    Some(HostPort { addr, port })
}

/// A port number, or a service name of `protocol`.
fn port(text: &str, protocol: Option<&str>, names: &dyn Resolver) -> Option<u16> {
    match number(text, 0, 65535) {
        Some(n) => u16::try_from(n).ok(),
        None => names.lookup_service(text, protocol?),
    }
}

/// ipvsadm's `parse_netmask` for an IPv4 service: `inet_aton`, or a host
/// name's address.
pub fn netmask4(text: &str, names: &dyn Resolver) -> Option<Ipv4Addr> {
    inet_aton(text).or_else(|| match names.lookup_host(text)? {
        IpAddr::V4(mask) => Some(mask),
        IpAddr::V6(_) => None,
    })
}

/// Why `-b` is refused: the flag, and whether it is unknown or belongs to
/// another scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagError {
    /// `invalid scheduler flag `X'`.
    Invalid(String),
    /// `incompatible scheduler flag `X'` (`sh-port` without `-s sh`, ...).
    Incompatible(String),
}

/// ipvsadm's `parse_sched_flags`: comma-separated names, the `sh-`/`mh-`
/// ones only for that scheduler.
pub fn sched_flags(scheduler: &str, text: &str) -> Result<SchedulerFlags, FlagError> {
    let mut flags = SchedulerFlags::empty();
    for flag in text.split(',').filter(|f| !f.is_empty()) {
        let (bit, only_for) = match flag {
            "flag-1" => (SchedulerFlags::FALLBACK, None),
            "flag-2" => (SchedulerFlags::PORT, None),
            "flag-3" => (SchedulerFlags::FLAG_3, None),
            "sh-fallback" => (SchedulerFlags::FALLBACK, Some("sh")),
            "sh-port" => (SchedulerFlags::PORT, Some("sh")),
            "mh-fallback" => (SchedulerFlags::FALLBACK, Some("mh")),
            "mh-port" => (SchedulerFlags::PORT, Some("mh")),
            _ => return Err(FlagError::Invalid(flag.to_owned())),
        };
        if only_for.is_some_and(|s| s != scheduler) {
            return Err(FlagError::Incompatible(flag.to_owned()));
        }
        flags |= bit;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{Files, Numeric};

    #[test]
    fn numbers_read_as_strtol() {
        assert_eq!(number("65536", 0, i64::from(i32::MAX)), Some(65536));
        assert_eq!(number(" +7", 0, 10), Some(7));
        assert_eq!(number("-1", 0, 10), None);
        assert_eq!(number("7 ", 0, 10), None);
        assert_eq!(number("0x10", 0, 100), None);
        assert_eq!(number("", 0, 10), None);
        assert_eq!(number("99999999999999999999", 0, i64::MAX), None);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(" -5"), -5);
    }

    #[test]
    fn addresses_read_as_inet_aton() {
        let a = |s: &str| inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("1.2.3").as_deref(), Some("1.2.0.3"));
        assert_eq!(a("1.2").as_deref(), Some("1.0.0.2"));
        assert_eq!(a("16909060").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(a("010.0.0.1").as_deref(), Some("8.0.0.1"));
        assert_eq!(a("1.2.65535").as_deref(), Some("1.2.255.255"));
        for bad in [
            "",
            "256.0.0.1",
            "1.2.65536",
            "1.2.3.4.5",
            "08",
            "0x",
            "1..2",
            "a.b",
            "1.2.3.4x",
        ] {
            assert_eq!(inet_aton(bad), None, "{bad}");
        }
    }

    #[test]
    fn host_port_keeps_ipvsadms_quirks() {
        let hp = |s: &str| host_port(s, Some("tcp"), &Numeric);
        let v4 = |a: &str, port| {
            Some(HostPort {
                addr: a.parse().unwrap(),
                port,
            })
        };
        assert_eq!(hp("192.0.2.1:80"), v4("192.0.2.1", Some(80)));
        assert_eq!(hp("1.2.3:80"), v4("1.2.0.3", Some(80)));
        assert_eq!(hp("192.0.2.1"), v4("192.0.2.1", None));
        assert_eq!(hp("[192.0.2.1]:80"), v4("192.0.2.1", None));
        assert_eq!(hp("[2001:db8::1]:443"), v4("2001:db8::1", Some(443)));
        assert_eq!(hp("2001:db8::1:80"), v4("2001:db8::1:80", None));
        for bad in [
            "80",
            "",
            "[2001:db8::1]",
            "[2001:db8::1]80",
            "192.0.2.1:65536",
            "192.0.2.1:http",
            "host:80",
        ] {
            assert_eq!(hp(bad), None, "{bad}");
        }
        let files = Files::from_texts("192.0.2.7 web\n", "http 80/tcp\n");
        assert_eq!(
            host_port("web:http", Some("tcp"), &files),
            v4("192.0.2.7", Some(80))
        );
        assert_eq!(host_port("web:http", None, &files), None);
    }

    #[test]
    fn scheduler_flags_belong_to_their_scheduler() {
        assert_eq!(
            sched_flags("sh", "sh-port,sh-fallback"),
            Ok(SchedulerFlags::PORT | SchedulerFlags::FALLBACK)
        );
        assert_eq!(sched_flags("rr", "flag-3"), Ok(SchedulerFlags::FLAG_3));
        assert_eq!(
            sched_flags("rr", "sh-port"),
            Err(FlagError::Incompatible("sh-port".into()))
        );
        assert_eq!(
            sched_flags("sh", "flag-1,bogus"),
            Err(FlagError::Invalid("bogus".into()))
        );
    }
}
