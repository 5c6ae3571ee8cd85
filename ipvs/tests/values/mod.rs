// SPDX-License-Identifier: MIT OR Apache-2.0
//! Proptest strategies for every value the kernel can hold: what the
//! notation and serde round trips are proven over.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipvs::ipvs_sys::Protocol;
use ipvs::{
    CounterWidth, DaemonRole, Destination, Forwarding, MAX_PERSISTENCE_TIMEOUT, MAX_TIMEOUT,
    MAX_WEIGHT, Persistence, PersistenceNetmask, Scheduler, SchedulerFlags, Service, ServiceKey,
    ServiceState, Snapshot, Stats, SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};
use proptest::prelude::*;

/// Any address, IPv4 or IPv6.
pub fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

/// A unicast address, IPv4 or IPv6: what the kernel takes as a destination.
pub fn unicast_ip() -> impl Strategy<Value = IpAddr> {
    any_ip().prop_filter("unicast", |ip| {
        !(ip.is_unspecified() || ip.is_multicast() || *ip == Ipv4Addr::BROADCAST)
    })
}

/// Every kind of service key: TCP, UDP, SCTP, another protocol the kernel
/// reported, IPv4 and IPv6 firewall marks.
pub fn key() -> impl Strategy<Value = ServiceKey> {
    let addr = || (any_ip(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port));
    prop_oneof![
        (addr(), 0..3).prop_map(|(addr, p)| {
            [ServiceKey::tcp, ServiceKey::udp, ServiceKey::sctp][p as usize](addr)
        }),
        (addr(), any::<u16>())
            .prop_filter("another protocol", |(_, n)| ![6, 17, 132].contains(n))
            .prop_map(|(addr, n)| ServiceKey::Addr {
                protocol: Protocol::from(n),
                addr,
            }),
        (1u32.., any::<bool>()).prop_map(|(mark, v6)| if v6 {
            ServiceKey::fwmark6(mark)
        } else {
            ServiceKey::fwmark(mark)
        }),
    ]
}

/// The kernel's schedulers and any other module name.
pub fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop_oneof![
        prop::sample::select(vec![
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
            "twos", "none"
        ])
        .prop_map(Scheduler::from_name),
        name().prop_map(|n| Scheduler::from_name(&n)),
    ]
}

/// A scheduler or persistence-engine name: 1 to 15 printable ASCII bytes
/// without '/'.
pub fn name() -> impl Strategy<Value = String> {
    "[!-.0-~]{1,15}"
}

/// Whole seconds of 1..=`max`, the limits included.
pub fn whole_seconds(max: Duration) -> impl Strategy<Value = Duration> {
    prop_oneof![Just(1), Just(max.as_secs()), 1..=max.as_secs()].prop_map(Duration::from_secs)
}

/// Every service the kernel can hold: persistence with any netmask of its
/// family (host masks read back as none and are not generated), engines,
/// one-packet, every scheduler flag, flag bits only the kernel names.
pub fn service() -> impl Strategy<Value = Service> {
    (
        key(),
        scheduler(),
        prop::option::of((
            whole_seconds(MAX_PERSISTENCE_TIMEOUT),
            prop::option::of((
                prop_oneof![Just(0), Just(u32::MAX - 1), Just(0xffff_ff00), any::<u32>()],
                prop_oneof![Just(1), Just(127), 1u8..=127],
            )),
        )),
        prop::option::of(name()),
        any::<bool>(),
        0u32..8,
        prop_oneof![Just(0u32), any::<u32>().prop_map(|bits| bits & !0x3f)],
    )
        .prop_map(
            |(key, scheduler, persistence, pe, one_packet, flags, unknown)| {
                let mut svc = Service::new(key, scheduler)
                    .with_one_packet(one_packet)
                    .with_scheduler_flags(SchedulerFlags::from_bits_truncate(flags << 3));
                svc.unknown_flags = unknown;
                if let Some((timeout, mask)) = persistence {
                    let mut p = Persistence::new(timeout);
                    if let Some((mask4, prefix6)) = mask {
                        p = p.with_netmask(match key.family() {
                            ipvs::Family::Ipv4 => {
                                PersistenceNetmask::Ipv4(Ipv4Addr::from(mask4.min(u32::MAX - 1)))
                            }
                            ipvs::Family::Ipv6 => PersistenceNetmask::Ipv6(prefix6),
                        });
                    }
                    svc = svc.with_persistence(p);
                }
                if let Some(pe) = pe {
                    svc = svc.with_persistence_engine(pe);
                }
                svc
            },
        )
}

/// Every checksum mode, flag bits only the kernel names included (0 to 2
/// are the named modes).
pub fn checksum() -> impl Strategy<Value = TunnelChecksum> {
    prop_oneof![
        Just(TunnelChecksum::None),
        Just(TunnelChecksum::Checksum),
        Just(TunnelChecksum::RemoteChecksum),
        (3u16..).prop_map(TunnelChecksum::Other),
    ]
}

/// Every forwarding method and tunnel the kernel can hold.
pub fn forwarding() -> impl Strategy<Value = Forwarding> {
    prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Local),
        (4u32..).prop_map(Forwarding::Other),
        Just(Forwarding::Tunnel(Tunnel::Ipip)),
        (1u16.., checksum())
            .prop_map(|(port, checksum)| Forwarding::Tunnel(Tunnel::Gue { port, checksum })),
        checksum().prop_map(|checksum| Forwarding::Tunnel(Tunnel::Gre { checksum })),
        (3u8.., any::<u16>(), checksum()).prop_map(|(kind, port, checksum)| {
            Forwarding::Tunnel(Tunnel::Other {
                kind,
                port,
                checksum,
            })
        }),
    ]
}

/// Every destination the kernel can hold: weights and thresholds up to
/// its maximum, lower threshold at most the upper.
pub fn destination() -> impl Strategy<Value = Destination> {
    (
        unicast_ip(),
        any::<u16>(),
        forwarding(),
        prop_oneof![Just(0), Just(1), Just(MAX_WEIGHT), 0..=MAX_WEIGHT],
        prop_oneof![Just(0), Just(MAX_WEIGHT), 0..=MAX_WEIGHT],
        any::<u32>(),
    )
        .prop_map(|(ip, port, forwarding, weight, upper, lower)| {
            Destination::new(SocketAddr::new(ip, port), forwarding)
                .with_weight(weight)
                .with_thresholds(upper, lower.checked_rem(upper + 1).unwrap_or(0))
        })
}

/// Counters as the kernel reports them (STATS64, or STATS with 32-bit
/// connection and packet counters).
pub fn stats() -> impl Strategy<Value = Stats> {
    (any::<[u64; 10]>(), any::<bool>()).prop_map(|(v, wide)| {
        let mut s = Stats::default();
        let narrow = |x: u64| if wide { x } else { x & u64::from(u32::MAX) };
        s.connections = narrow(v[0]);
        s.packets_in = narrow(v[1]);
        s.packets_out = narrow(v[2]);
        s.bytes_in = v[3];
        s.bytes_out = v[4];
        s.connections_per_second = narrow(v[5]);
        s.packets_in_per_second = narrow(v[6]);
        s.packets_out_per_second = narrow(v[7]);
        s.bytes_in_per_second = narrow(v[8]);
        s.bytes_out_per_second = narrow(v[9]);
        if !wide {
            s.counter_width = CounterWidth::Bits32;
        }
        s
    })
}

/// Attributes of a newer kernel, kept as received.
pub fn unknown_attributes() -> impl Strategy<Value = Vec<ipvs::UnknownAttribute>> {
    prop::collection::vec(
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(kind, value)| ipvs::UnknownAttribute::new(kind, value)),
        0..2,
    )
}

/// A service as read from the kernel: settings, counters, unknown
/// attributes.
pub fn read_service() -> impl Strategy<Value = Service> {
    (service(), stats(), unknown_attributes()).prop_map(|(mut svc, stats, unknown)| {
        svc.stats = stats;
        svc.unknown_attributes = unknown;
        svc
    })
}

/// A destination as read from the kernel: settings, connection counts,
/// counters, unknown attributes.
pub fn read_destination() -> impl Strategy<Value = Destination> {
    (
        destination(),
        any::<[u32; 3]>(),
        stats(),
        unknown_attributes(),
    )
        .prop_map(|(mut dest, conns, stats, unknown)| {
            dest.active_connections = conns[0];
            dest.inactive_connections = conns[1];
            dest.persistent_connections = conns[2];
            dest.stats = stats;
            dest.unknown_attributes = unknown;
            dest
        })
}

/// A service with its destinations, as read from the kernel.
pub fn service_state() -> impl Strategy<Value = ServiceState> {
    (
        read_service(),
        prop::collection::vec(read_destination(), 0..4),
    )
        .prop_map(|(service, destinations)| {
            destinations
                .into_iter()
                .fold(ServiceState::new(service), ServiceState::with_destination)
        })
}

/// A table as read from the kernel.
pub fn snapshot() -> impl Strategy<Value = Snapshot> {
    prop::collection::vec(service_state(), 0..4).prop_map(Snapshot::from)
}

/// Timeouts, each given or not.
pub fn timeouts() -> impl Strategy<Value = Timeouts> {
    let one = || prop::option::of(whole_seconds(MAX_TIMEOUT));
    (one(), one(), one()).prop_map(|(tcp, tcp_fin, udp)| Timeouts::new(tcp, tcp_fin, udp))
}

/// A sync daemon as ipvsadm starts one.
pub fn daemon() -> impl Strategy<Value = SyncDaemon> {
    (
        any::<bool>(),
        "[a-z][a-z0-9.-]{0,14}",
        any::<u8>(),
        prop::option::of(1u16..),
        prop::option::of(prop_oneof![
            (224u8..=239, any::<[u8; 3]>())
                .prop_map(|(a, [b, c, d])| IpAddr::V4(Ipv4Addr::new(a, b, c, d))),
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a | (0xff << 120)))),
        ]),
        prop::option::of(1u16..),
        prop::option::of(1u8..),
    )
        .prop_map(|(master, interface, id, max_len, group, port, ttl)| {
            let role = if master {
                DaemonRole::Master
            } else {
                DaemonRole::Backup
            };
            let mut daemon = SyncDaemon::new(role, interface, id);
            daemon.max_len = max_len;
            daemon.mcast_group = group;
            daemon.mcast_port = port;
            daemon.mcast_ttl = ttl;
            daemon
        })
}
