// SPDX-License-Identifier: MIT OR Apache-2.0
//! The three roles of the document's two setups, each a function of a
//! plain configuration: an LVS-NAT director, an LVS-DR director, and an
//! LVS-DR real server. The `setup_*` binaries parse flags into these.

use std::net::{IpAddr, SocketAddr};

use ipvs::{Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey};

use super::args::RealServer;
use super::masq;
use super::net::Net;
use super::sysctl;

/// A virtual service and its real servers.
#[derive(Clone, Debug)]
pub struct VirtualService {
    /// The virtual IP.
    pub vip: IpAddr,
    /// The virtual port.
    pub port: u16,
    /// The scheduler name (`rr`, `wlc`, ...).
    pub scheduler: String,
    /// The real servers.
    pub real_servers: Vec<RealServer>,
    /// Delete an existing service with the same address first.
    pub replace: bool,
}

/// Adds the service and its real servers with `forwarding`
/// (`ipvsadm -A -t VIP:PORT -s SCHED`, then `-a ... -r RS -m|-g -w W`).
pub fn add_service(
    ipvs: &Ipvs,
    vs: &VirtualService,
    forwarding: Forwarding,
) -> Result<ServiceKey, String> {
    let key = ServiceKey::tcp(SocketAddr::new(vs.vip, vs.port));
    if vs.replace {
        match ipvs.delete_service(&key) {
            Ok(()) | Err(ipvs::Error::NoSuchService { .. }) => {}
            Err(e) => return Err(format!("deleting the old service {key}: {e}")),
        }
    }
    ipvs.add_service(&Service::new(key, Scheduler::from_name(&vs.scheduler)))
        .map_err(|e| {
            format!(
                "adding service {} -s {}: {e}",
                key.ipvsadm_args(),
                vs.scheduler
            )
        })?;
    for rs in &vs.real_servers {
        let port = match forwarding {
            // DR and tunnels keep the service port (ipvsadm forces it too).
            Forwarding::Masquerade => rs.port.unwrap_or(vs.port),
            _ => vs.port,
        };
        let dest =
            Destination::new(SocketAddr::new(rs.addr, port), forwarding).with_weight(rs.weight);
        ipvs.add_destination(&key, &dest).map_err(|e| {
            format!(
                "adding real server {} to {}: {e}",
                dest.addr,
                key.ipvsadm_args()
            )
        })?;
    }
    Ok(key)
}

/// An LVS-NAT director.
#[derive(Clone, Debug)]
pub struct NatDirector {
    /// The service.
    pub service: VirtualService,
    /// Put the VIP on this interface (`ip addr add VIP/32 dev IFACE`).
    pub vip_iface: Option<String>,
    /// Masquerade traffic from this prefix leaving through `out_iface`.
    pub masquerade: Option<(String, Option<(IpAddr, u8)>)>,
}

/// Sets up an LVS-NAT director in the calling thread's namespace:
///
/// ```text
/// echo 1 > /proc/sys/net/ipv4/ip_forward
/// ip addr add VIP/32 dev VIP_IFACE                      # if asked
/// nft ... oifname OUT ip saddr RS_NET masquerade       # if asked (see masq)
/// ipvsadm -A -t VIP:PORT -s SCHED
/// ipvsadm -a -t VIP:PORT -r RS:PORT -m -w W            # each real server
/// ```
pub fn nat_director(ipvs: &Ipvs, cfg: &NatDirector) -> Result<ServiceKey, String> {
    sysctl::enable_forwarding(cfg.service.vip.is_ipv6()).map_err(|e| e.to_string())?;
    if let Some(iface) = &cfg.vip_iface {
        let net = Net::new().map_err(|e| format!("opening rtnetlink: {e}"))?;
        let len = if cfg.service.vip.is_ipv4() { 32 } else { 128 };
        net.add_address(iface, cfg.service.vip, len)
            .map_err(|e| e.to_string())?;
    }
    if let Some((out, source)) = &cfg.masquerade {
        masq::masquerade(out, *source)?;
    }
    add_service(ipvs, &cfg.service, Forwarding::Masquerade)
}

/// An LVS-DR director.
#[derive(Clone, Debug)]
pub struct DrDirector {
    /// The service.
    pub service: VirtualService,
    /// The interface that holds the VIP as an alias.
    pub vip_iface: Option<String>,
    /// The VIP's prefix length there (32: answer ARP for it, route nothing).
    pub vip_prefix: u8,
}

/// Sets up an LVS-DR director in the calling thread's namespace:
///
/// ```text
/// echo 1 > /proc/sys/net/ipv4/ip_forward
/// ip addr add VIP/32 dev VIP_IFACE        # the document's eth0:0 alias
/// ipvsadm -A -t VIP:PORT -s SCHED
/// ipvsadm -a -t VIP:PORT -r RS -g -w W    # each real server
/// ```
pub fn dr_director(ipvs: &Ipvs, cfg: &DrDirector) -> Result<ServiceKey, String> {
    sysctl::enable_forwarding(cfg.service.vip.is_ipv6()).map_err(|e| e.to_string())?;
    if let Some(iface) = &cfg.vip_iface {
        let net = Net::new().map_err(|e| format!("opening rtnetlink: {e}"))?;
        net.add_address(iface, cfg.service.vip, cfg.vip_prefix)
            .map_err(|e| e.to_string())?;
    }
    add_service(ipvs, &cfg.service, Forwarding::DirectRoute)
}

/// Sets up an LVS-DR real server in the calling thread's namespace: the
/// VIP on `lo` as a /32 (so the server accepts packets for it), hidden
/// from ARP (so only the director answers for it):
///
/// ```text
/// ip addr add VIP/32 dev lo
/// sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
/// sysctl -w net.ipv4.conf.IFACE.arp_ignore=1 net.ipv4.conf.IFACE.arp_announce=2
/// sysctl -w net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2
/// ```
pub fn dr_real_server(vip: IpAddr, iface: &str) -> Result<(), String> {
    // The sysctls first: the VIP must never be announced, not even briefly.
    sysctl::hide_vip_from_arp(iface).map_err(|e| e.to_string())?;
    sysctl::hide_vip_from_arp("lo").map_err(|e| e.to_string())?;
    let net = Net::new().map_err(|e| format!("opening rtnetlink: {e}"))?;
    net.link_up("lo").map_err(|e| e.to_string())?;
    let len = if vip.is_ipv4() { 32 } else { 128 };
    net.add_address("lo", vip, len).map_err(|e| e.to_string())
}

/// The `main` of a director setup binary (`setup_nat_director`,
/// `setup_dr_director`): an argument error exits 2, as ipvsadm's usage errors
/// do; a setup error exits 1; on success it prints the service and its real
/// servers (`method` is the forwarding word shown beside each).
pub fn director_main<C>(
    bin: &str,
    label: &str,
    method: &str,
    parsed: Result<C, String>,
    setup: impl FnOnce(&Ipvs, &C) -> Result<ServiceKey, String>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let cfg = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{bin}: {e}");
            return ExitCode::from(2);
        }
    };
    let run = || -> Result<(), String> {
        let ipvs = Ipvs::new().map_err(|e| format!("opening IPVS: {e}"))?;
        let key = setup(&ipvs, &cfg)?;
        println!("{label} director ready: {}", key.ipvsadm_args());
        for d in ipvs.destinations(&key).map_err(|e| e.to_string())? {
            println!("  -> {} {method} weight {}", d.addr, d.weight);
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bin}: {e}");
            ExitCode::FAILURE
        }
    }
}
