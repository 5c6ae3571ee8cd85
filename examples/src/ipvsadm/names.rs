// SPDX-License-Identifier: MIT OR Apache-2.0
//! Host and service names, as ipvsadm resolves them without `-n`.
//!
//! ipvsadm calls `gethostbyaddr`/`getservbyport` (and the forward
//! functions when parsing). This tool reads the same files the C library
//! reads first, `/etc/hosts` and `/etc/services`, and does not query DNS:
//! a listing never hangs on a resolver, and `-n` output is unaffected.

use std::net::IpAddr;

use super::model::Proto;

/// Resolves addresses and ports to names (and back).
pub trait Resolver {
    /// The host name of `addr`, if known.
    fn host(&self, addr: IpAddr) -> Option<String>;
    /// The service name of `port` for `proto`, if known.
    fn service(&self, port: u16, proto: Proto) -> Option<String>;
    /// The address of host `name` (first match).
    fn lookup_host(&self, name: &str) -> Option<IpAddr>;
    /// The port of service `name` for `proto`.
    fn lookup_service(&self, name: &str, proto: Proto) -> Option<u16>;
}

/// Resolves nothing (`-n`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Numeric;

impl Resolver for Numeric {
    fn host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: Proto) -> Option<String> {
        None
    }
    fn lookup_host(&self, _: &str) -> Option<IpAddr> {
        None
    }
    fn lookup_service(&self, _: &str, _: Proto) -> Option<u16> {
        None
    }
}

/// Resolves through the contents of `/etc/hosts` and `/etc/services`.
#[derive(Clone, Debug, Default)]
pub struct Files {
    hosts: Vec<(IpAddr, Vec<String>)>,
    services: Vec<(String, u16, String, Vec<String>)>,
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
        let strip = |l: &str| l.split('#').next().unwrap_or("").to_string();
        let hosts = hosts
            .lines()
            .filter_map(|l| {
                let l = strip(l);
                let mut it = l.split_whitespace();
                let addr: IpAddr = it.next()?.parse().ok()?;
                let names: Vec<String> = it.map(str::to_string).collect();
                (!names.is_empty()).then_some((addr, names))
            })
            .collect();
        let services = services
            .lines()
            .filter_map(|l| {
                let l = strip(l);
                let mut it = l.split_whitespace();
                let name = it.next()?.to_string();
                let (port, proto) = it.next()?.split_once('/')?;
                let port: u16 = port.parse().ok()?;
                Some((
                    name,
                    port,
                    proto.to_string(),
                    it.map(str::to_string).collect(),
                ))
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
            .and_then(|(_, n)| n.first().cloned())
    }

    fn service(&self, port: u16, proto: Proto) -> Option<String> {
        self.services
            .iter()
            .find(|(_, p, pr, _)| *p == port && pr == proto.services_name())
            .map(|(n, ..)| n.clone())
    }

    fn lookup_host(&self, name: &str) -> Option<IpAddr> {
        self.hosts
            .iter()
            .find(|(a, n)| a.is_ipv4() && n.iter().any(|x| x == name))
            .map(|(a, _)| *a)
    }

    fn lookup_service(&self, name: &str, proto: Proto) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _, pr, aliases)| {
                pr == proto.services_name() && (n == name || aliases.iter().any(|a| a == name))
            })
            .map(|(_, p, ..)| *p)
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
        assert_eq!(f.service(80, Proto::Tcp).as_deref(), Some("http"));
        assert_eq!(f.service(80, Proto::Udp), None);
        assert_eq!(f.lookup_service("www", Proto::Tcp), Some(80));
        assert_eq!(f.lookup_service("domain", Proto::Udp), Some(53));
    }
}
