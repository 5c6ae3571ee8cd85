// SPDX-License-Identifier: MIT OR Apache-2.0
//! Host and service names, as ipvsadm resolves them without `-n`.
//!
//! ipvsadm calls `gethostbyname`/`getservbyname` when parsing and
//! `gethostbyaddr`/`getservbyport` when listing. This tool reads the files
//! the C library reads first, `/etc/hosts` and `/etc/services`, and never
//! asks DNS: a listing never hangs on a resolver.

use std::net::IpAddr;

use ipvs::ipvs_sys::Protocol;

/// Resolves addresses and ports to names, and names back.
pub trait Resolver {
    /// The host name of `addr`, if known.
    fn host(&self, addr: IpAddr) -> Option<String>;
    /// The name of `port` for `protocol` (`tcp`, `udp`, `sctp`), if known.
    fn service(&self, port: u16, protocol: &str) -> Option<String>;
    /// The IPv4 address of host `name` (`gethostbyname`: first match).
    fn lookup_host(&self, name: &str) -> Option<IpAddr>;
    /// The port of service `name` for `protocol`.
    fn lookup_service(&self, name: &str, protocol: &str) -> Option<u16>;
}

/// The name `/etc/services` uses for a service's protocol; `None` for
/// protocols ipvsadm resolves no port names for.
pub fn protocol_name(protocol: Protocol) -> Option<&'static str> {
    match protocol {
        Protocol::Tcp => Some("tcp"),
        Protocol::Udp => Some("udp"),
        Protocol::Sctp => Some("sctp"),
        _ => None,
    }
}

/// Resolves nothing (`-n`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Numeric;

impl Resolver for Numeric {
    fn host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: &str) -> Option<String> {
        None
    }
    fn lookup_host(&self, _: &str) -> Option<IpAddr> {
        None
    }
    fn lookup_service(&self, _: &str, _: &str) -> Option<u16> {
        None
    }
}

/// One line of `/etc/services`: name, port, protocol, aliases.
type ServiceLine = (String, u16, String, Vec<String>);

/// Resolves through the contents of `/etc/hosts` and `/etc/services`.
#[derive(Clone, Debug, Default)]
pub struct Files {
    hosts: Vec<(IpAddr, Vec<String>)>,
    services: Vec<ServiceLine>,
}

impl Files {
    /// Reads `/etc/hosts` and `/etc/services` (a missing file is empty).
    pub fn system() -> Self {
        Self::from_texts(
            &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            &std::fs::read_to_string("/etc/services").unwrap_or_default(),
        )
    }

    /// Parses the two files' texts.
    pub fn from_texts(hosts: &str, services: &str) -> Self {
        let fields = |line: &str| -> Vec<String> {
            let content = line.split('#').next().unwrap_or("");
            content.split_whitespace().map(str::to_owned).collect()
        };
        let hosts = hosts
            .lines()
            .filter_map(|line| {
                let mut fields = fields(line).into_iter();
                let addr = fields.next()?.parse().ok()?;
                let names: Vec<String> = fields.collect();
                (!names.is_empty()).then_some((addr, names))
            })
            .collect();
        let services = services
            .lines()
            .filter_map(|line| {
                let mut fields = fields(line).into_iter();
                let name = fields.next()?;
                let port_proto = fields.next()?;
                let (port, proto) = port_proto.split_once('/')?;
                Some((name, port.parse().ok()?, proto.to_owned(), fields.collect()))
            })
            .collect();
        Files { hosts, services }
    }
}

impl Resolver for Files {
    fn host(&self, addr: IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(a, _)| *a == addr)
            .and_then(|(_, names)| names.first().cloned())
    }

    fn service(&self, port: u16, protocol: &str) -> Option<String> {
        self.services
            .iter()
            .find(|(_, p, proto, _)| *p == port && proto == protocol)
            .map(|(name, ..)| name.clone())
    }

    fn lookup_host(&self, name: &str) -> Option<IpAddr> {
        self.hosts
            .iter()
            .find(|(a, names)| a.is_ipv4() && names.iter().any(|n| n == name))
            .map(|(a, _)| *a)
    }

    fn lookup_service(&self, name: &str, protocol: &str) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _, proto, aliases)| {
                proto == protocol && (n == name || aliases.iter().any(|a| a == name))
            })
            .map(|(_, port, ..)| *port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_resolve_both_ways() {
        let f = Files::from_texts(
            "127.0.0.1 localhost\n192.0.2.10 web1 www # comment\n",
            "http 80/tcp www # WorldWideWeb\ndomain 53/udp\n",
        );
        assert_eq!(
            f.host("192.0.2.10".parse().unwrap()).as_deref(),
            Some("web1")
        );
        assert_eq!(f.lookup_host("www"), Some("192.0.2.10".parse().unwrap()));
        assert_eq!(f.service(80, "tcp").as_deref(), Some("http"));
        assert_eq!(f.service(80, "udp"), None);
        assert_eq!(f.lookup_service("www", "tcp"), Some(80));
        assert_eq!(f.lookup_service("domain", "udp"), Some(53));
    }
}
