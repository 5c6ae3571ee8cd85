// SPDX-License-Identifier: MIT OR Apache-2.0
//! One director of an active/active tier behind an ECMP router: every
//! director announces the same VIP over BGP (BIRD 2, with
//! `examples/conf/bird-director.conf`), the router holds one next hop per
//! director and spreads flows over them by their L4 hash
//! (`net.ipv4.fib_multipath_hash_policy=1`, with
//! `examples/conf/bird-router.conf`), and each director runs the same
//! LVS-DR services.
//!
//! The directors share no state. When one withdraws (its BGP daemon stops,
//! or its link goes down), the router sends its flows, and with the
//! kernel's hash-threshold multipath (RFC 2992) possibly some of a
//! neighbour's, to a director that has no connection entry for them. Two
//! settings make that director send them to the same real server:
//!
//! - a hashing scheduler, `mh` (maglev hashing, kernel 4.18+), which maps a
//!   client address to a real server from the service's destinations alone:
//!   the same on every director whose service is the same (same real
//!   servers, added in the same order, same weights). `sh` does too, but
//!   any change of the real servers remaps most clients under `sh` and about
//!   the unavoidable share under `mh` (see [`crate::scaling`]);
//! - `net.ipv4.vs.sloppy_tcp=1`, so that a director creates a connection
//!   entry from a mid-stream TCP segment, not only from a SYN (otherwise it
//!   would hand the segment to its own stack, which answers with a RST).
//!
//! ```text
//! sysctl -w net.ipv4.vs.sloppy_tcp=1
//! ip addr add VIP/32 dev lo                 # IPVS sees the VIP as local
//! ipvsadm -A -t VIP:PORT -s mh
//! ipvsadm -a -t VIP:PORT -r RS -g ...       # the same, in the same order, everywhere
//! bird -c bird-director.conf                # announce VIP/32 to the router
//! ```
//!
//! The VIP sits on `lo`, not on the link: the router reaches it through the
//! BGP next hop, never by ARP, and nothing else on the link asks for it.

use ipvs::sysctl::{Sysctl, SysctlValue, Sysctls};
use ipvs::{Ipvs, ServiceKey};

use super::setup::{self, DrDirector, VirtualService};

/// Sets up one service of a director of the tier in the calling thread's
/// namespace: `sloppy_tcp`, the VIP on `lo`, and the service as an LVS-DR
/// director (see [`setup::dr_director`]; run once per service, the VIP and
/// the sysctl being idempotent). Returns the service key.
pub fn setup_member(ipvs: &Ipvs, service: &VirtualService) -> Result<ServiceKey, String> {
    Sysctls::current()
        .set(Sysctl::SloppyTcp, SysctlValue::Int(1))
        .map_err(|e| format!("setting net.ipv4.vs.sloppy_tcp=1: {e}"))?;
    let dr = DrDirector {
        service: service.clone(),
        vip_iface: Some("lo".to_string()),
        vip_prefix: if service.vip.is_ipv4() { 32 } else { 128 },
    };
    setup::dr_director(ipvs, &dr)
}
