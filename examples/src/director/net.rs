// SPDX-License-Identifier: MIT OR Apache-2.0
//! Links, addresses and routes over rtnetlink (`ip link`, `ip addr`,
//! `ip route`), synchronously: one rtnetlink connection driven by a
//! current-thread tokio runtime owned by [`Net`].
//!
//! The netlink socket is opened in the calling thread's network namespace.

use std::io;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use netlink_packet_route::route::{RouteMessage, RouteScope};
use nix::libc::EEXIST;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

/// A failed rtnetlink request, with what was being done.
#[derive(Debug)]
pub struct NetError {
    /// What was being done (`adding 192.0.2.1/24 to eth0`).
    pub what: String,
    /// The kernel's or the library's error.
    pub source: rtnetlink::Error,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The errno of a netlink error reply, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A synchronous rtnetlink client.
pub struct Net {
    rt: tokio::runtime::Runtime,
    handle: Handle,
}

impl Net {
    /// Opens an rtnetlink connection in the calling thread's namespace.
    pub fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(conn);
            Ok::<_, io::Error>(handle)
        })?;
        Ok(Net { rt, handle })
    }

    fn err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
        let what = what.into();
        move |source| NetError { what, source }
    }

    /// `ip link set NAME up`.
    pub fn link_up(&self, name: &str) -> Result<(), NetError> {
        let index = self.link_index(name)?;
        let h = self.handle.clone();
        self.rt
            .block_on(async move {
                h.link()
                    .set(LinkUnspec::new_with_index(index).up().build())
                    .execute()
                    .await
            })
            .map_err(Self::err(format!("setting {name} up")))
    }

    /// `ip addr add ADDR/PREFIX dev NAME`; an address already there is fine.
    pub fn add_address(&self, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetError> {
        let index = self.link_index(name)?;
        let h = self.handle.clone();
        let r = self
            .rt
            .block_on(async move { h.address().add(index, addr, prefix).execute().await });
        match r {
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            other => other.map_err(Self::err(format!("adding {addr}/{prefix} to {name}"))),
        }
    }

    /// The index of link `name` (`ip link show NAME`).
    pub fn link_index(&self, name: &str) -> Result<u32, NetError> {
        let h = self.handle.clone();
        self.rt
            .block_on(async move {
                let mut links = h.link().get().match_name(name.to_string()).execute();
                match links.try_next().await? {
                    Some(l) => Ok(l.header.index),
                    None => Err(rtnetlink::Error::RequestFailed),
                }
            })
            .map_err(Self::err(format!("finding link {name}")))
    }

    /// The addresses on link `name`.
    pub fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, NetError> {
        use netlink_packet_route::address::AddressAttribute;
        let index = self.link_index(name)?;
        let h = self.handle.clone();
        self.rt
            .block_on(async move {
                let mut out = Vec::new();
                let mut s = h.address().get().set_link_index_filter(index).execute();
                while let Some(m) = s.try_next().await? {
                    for a in m.attributes {
                        if let AddressAttribute::Address(ip) = a {
                            out.push(ip);
                        }
                    }
                }
                Ok(out)
            })
            .map_err(Self::err(format!("listing addresses of {name}")))
    }

    /// `ip route add DEST/PREFIX via GATEWAY` (or `default via GATEWAY`
    /// with prefix 0); a route already there is fine.
    pub fn add_route_via(&self, dest: IpAddr, prefix: u8, gateway: IpAddr) -> Result<(), NetError> {
        let msg = match (dest, gateway) {
            (IpAddr::V4(d), IpAddr::V4(g)) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(d, prefix)
                .gateway(g)
                .build(),
            (IpAddr::V6(d), IpAddr::V6(g)) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(d, prefix)
                .gateway(g)
                .build(),
            _ => {
                return Err(NetError {
                    what: format!("route {dest}/{prefix} via {gateway}: families differ"),
                    source: rtnetlink::Error::RequestFailed,
                });
            }
        };
        self.add_route(msg, format!("adding route {dest}/{prefix} via {gateway}"))
    }

    /// `ip route add DEST/PREFIX dev NAME` (a link-scope route).
    pub fn add_route_dev(&self, dest: IpAddr, prefix: u8, name: &str) -> Result<(), NetError> {
        let index = self.link_index(name)?;
        let msg = match dest {
            IpAddr::V4(d) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(d, prefix)
                .output_interface(index)
                .scope(RouteScope::Link)
                .build(),
            IpAddr::V6(d) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(d, prefix)
                .output_interface(index)
                .build(),
        };
        self.add_route(msg, format!("adding route {dest}/{prefix} dev {name}"))
    }

    /// `ip route add`, where a route that already exists counts as added.
    fn add_route(&self, msg: RouteMessage, what: String) -> Result<(), NetError> {
        let h = self.handle.clone();
        let r = self
            .rt
            .block_on(async move { h.route().add(msg).execute().await });
        match r {
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            other => other.map_err(Self::err(what)),
        }
    }
}
