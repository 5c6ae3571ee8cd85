// SPDX-License-Identifier: MIT OR Apache-2.0
//! Sysctls through `/proc/sys`, as `sysctl -w` does (it writes the same
//! files). They apply to the network namespace of the calling thread.
//!
//! - `net.ipv4.ip_forward=1` on a director (NAT and DR).
//! - `net.ipv4.conf.{all,IFACE}.arp_ignore=1` and `arp_announce=2` on a
//!   DR real server: answer ARP only for addresses on the interface the
//!   request came in on (so not for the VIP on `lo`), and never use the VIP
//!   as the source of an ARP request. These replace the 2.4-era `hidden`
//!   sysctl that the classic LVS-DR recipe used.

use std::io;
use std::path::PathBuf;

/// The `/proc/sys` file of a dotted sysctl name (`net.ipv4.ip_forward`).
/// Interface names with dots (`eth0.100`) are written with `/` in sysctl's
/// own syntax, as here: `net/ipv4/conf/eth0.100/arp_ignore`.
pub fn path(name: &str) -> PathBuf {
    let rel = if name.contains('/') {
        name.to_string()
    } else {
        name.replace('.', "/")
    };
    PathBuf::from("/proc/sys").join(rel)
}

/// Reads a sysctl (trimmed).
pub fn get(name: &str) -> io::Result<String> {
    let p = path(name);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", p.display())))
}

/// Writes a sysctl (`sysctl -w name=value`).
pub fn set(name: &str, value: &str) -> io::Result<()> {
    let p = path(name);
    std::fs::write(&p, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value} to {}: {e}", p.display())))
}

/// `net.ipv4.ip_forward=1` (and IPv6 forwarding when `ipv6`).
pub fn enable_forwarding(ipv6: bool) -> io::Result<()> {
    set("net.ipv4.ip_forward", "1")?;
    if ipv6 {
        set("net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

/// `arp_ignore=1`, `arp_announce=2` on `all` and on `iface`: the LVS-DR
/// real-server settings that keep it from answering ARP for the VIP.
pub fn hide_vip_from_arp(iface: &str) -> io::Result<()> {
    for scope in ["all", iface] {
        set(&format!("net/ipv4/conf/{scope}/arp_ignore"), "1")?;
        set(&format!("net/ipv4/conf/{scope}/arp_announce"), "2")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_proc_files() {
        assert_eq!(
            path("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            path("net/ipv4/conf/eth0.100/arp_ignore"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/arp_ignore")
        );
    }
}
