// SPDX-License-Identifier: MIT OR Apache-2.0
//! Small shared argument helpers for the director examples (lexopt-based).

use std::net::IpAddr;

/// A real server given on the command line: `ADDR[:PORT][@WEIGHT]`
/// (`192.168.0.12:80@2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// Its address.
    pub addr: IpAddr,
    /// Its port, if not the service's.
    pub port: Option<u16>,
    /// Its weight (1 if not given).
    pub weight: u32,
}

impl std::str::FromStr for RealServer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (hostport, weight) = match s.split_once('@') {
            Some((h, w)) => (
                h,
                w.parse::<u32>()
                    .ok()
                    .filter(|w| *w <= 65535)
                    .ok_or_else(|| format!("weight `{w}' must be 0..65535"))?,
            ),
            None => (s, 1),
        };
        let (addr, port) = if let Ok(a) = hostport.parse::<IpAddr>() {
            (a, None)
        } else if let Ok(sa) = hostport.parse::<std::net::SocketAddr>() {
            (sa.ip(), Some(sa.port()))
        } else {
            return Err("expected ADDR[:PORT][@WEIGHT] (IPv6 as [ADDR]:PORT)".into());
        };
        Ok(RealServer { addr, port, weight })
    }
}

/// Parses `VALUE` of option `name` with `FromStr`, naming both on error.
pub fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v = p
        .value()
        .map_err(|e| format!("{name}: {e}"))?
        .into_string()
        .map_err(|v| format!("{name}: {v:?} is not UTF-8"))?;
    v.parse::<T>().map_err(|e| format!("{name} {v}: {e}"))
}

/// An address with an optional prefix (`192.168.0.0/24`).
pub fn prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let addr: IpAddr = a.parse().map_err(|_| format!("{s}: not an address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = if l.is_empty() {
        max
    } else {
        l.parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("{s}: prefix length must be 0..{max}"))?
    };
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_servers_parse() {
        let r: RealServer = "192.168.0.12:8080@2".parse().unwrap();
        assert_eq!((r.port, r.weight), (Some(8080), 2));
        let r: RealServer = "192.168.0.11".parse().unwrap();
        assert_eq!((r.port, r.weight), (None, 1));
        let r: RealServer = "[2001:db8::1]:80".parse().unwrap();
        assert!(r.addr.is_ipv6());
        assert!("192.168.0.11@70000".parse::<RealServer>().is_err());
        assert!("nope".parse::<RealServer>().is_err());
        assert_eq!(prefix("192.168.0.0/24").unwrap().1, 24);
        assert!(prefix("192.168.0.0/33").is_err());
    }
}
