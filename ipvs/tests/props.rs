// SPDX-License-Identifier: MIT OR Apache-2.0
//! Property tests: the ipvsadm notation round-trips, the datagram walker
//! and controller parser survive any bytes, and every valid service or
//! destination survives the trip through the kernel's wire shape (checked
//! through a fake kernel that echoes what it was sent).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use common::*;
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage, Nested};
use ipvs::{
    Destination, Forwarding, Ipvs, Persistence, PersistenceNetmask, Scheduler, SchedulerFlags,
    Service, ServiceKey, Tunnel, TunnelChecksum,
};
use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (1u8..=223, any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| IpAddr::V4(Ipv4Addr::new(
            a,
            b,
            c,
            d.max(1)
        ))),
        any::<[u16; 7]>().prop_map(|s| IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6].max(1)
        ))),
    ]
}

fn key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (ip(), 1u16.., 0..3).prop_map(|(ip, port, p)| {
            let addr = SocketAddr::new(ip, port);
            [
                ServiceKey::tcp(addr),
                ServiceKey::udp(addr),
                ServiceKey::sctp(addr),
            ][p as usize]
        }),
        (1u32.., any::<bool>()).prop_map(|(m, v6)| if v6 {
            ServiceKey::fwmark6(m)
        } else {
            ServiceKey::fwmark(m)
        }),
    ]
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop_oneof![
        prop::sample::select(vec![
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
            "twos", "none"
        ])
        .prop_map(Scheduler::from_name),
        "[a-z][a-z0-9_]{0,14}".prop_map(|n| Scheduler::from_name(&n)),
    ]
}

fn service() -> impl Strategy<Value = Service> {
    (
        key(),
        scheduler(),
        // Host masks (/32, /128) read back as "no netmask": not generated.
        prop::option::of((1u64..=ipvs::MAX_PERSISTENCE_TIMEOUT.as_secs(), any::<bool>(), 1u8..=127, 0u8..=31)),
        prop::option::of("[a-z]{1,15}"),
        any::<bool>(),
        0u32..8,
    )
        .prop_map(|(key, scheduler, persistence, pe, one_packet, flags)| {
            let mut svc = Service::new(key, scheduler)
                .with_one_packet(one_packet && !matches!(key, ServiceKey::Addr { protocol, .. } if protocol != ipvs::ipvs_sys::Protocol::Udp))
                .with_scheduler_flags(SchedulerFlags::from_bits_truncate(flags << 3));
            if let Some((timeout, masked, prefix6, prefix4)) = persistence {
                let mut p = Persistence::new(std::time::Duration::from_secs(timeout));
                if masked {
                    p = p.with_netmask(match key.family() {
                        ipvs::Family::Ipv4 => {
                            PersistenceNetmask::Ipv4(Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix4)).unwrap_or(0)))
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
        })
}

fn destination() -> impl Strategy<Value = (ServiceKey, Destination)> {
    (
        key(),
        ip(),
        any::<u16>(),
        0u32..=ipvs::MAX_WEIGHT,
        0u32..=ipvs::MAX_WEIGHT,
        0..6,
        1u16..,
        0..3,
    )
        .prop_map(|(key, ip, port, weight, upper, method, tun_port, csum)| {
            let checksum = [
                TunnelChecksum::None,
                TunnelChecksum::Checksum,
                TunnelChecksum::RemoteChecksum,
            ][csum as usize];
            let tunnel = [
                Forwarding::Tunnel(Tunnel::Ipip),
                Forwarding::Tunnel(Tunnel::Gue {
                    port: tun_port,
                    checksum,
                }),
                Forwarding::Tunnel(Tunnel::Gre {
                    checksum: if checksum == TunnelChecksum::RemoteChecksum {
                        TunnelChecksum::None
                    } else {
                        checksum
                    },
                }),
            ];
            let forwarding = match method {
                0 => Forwarding::Masquerade,
                1 => Forwarding::DirectRoute,
                2 => Forwarding::Local,
                n => tunnel[n as usize - 3],
            };
            // Another family than the service's is allowed only with tunnels.
            let ip = if ipvs::Family::of(ip) != key.family()
                && !matches!(forwarding, Forwarding::Tunnel(_))
            {
                match key.family() {
                    ipvs::Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
                    ipvs::Family::Ipv6 => "2001:db8::7".parse().unwrap(),
                }
            } else {
                ip
            };
            let dest = Destination::new(SocketAddr::new(ip, port), forwarding)
                .with_weight(weight)
                .with_thresholds(upper, upper / 2);
            (key, dest)
        })
}

/// A fake kernel that stores the service/dest nests it is sent and dumps
/// them back as the kernel would (without NLA_F_NESTED).
fn echo_kernel() -> Ipvs {
    let stored: Arc<Mutex<Vec<IpvsAttribute>>> = Arc::default();
    let kernel_side = FakeKernel::new(move |req, payload| {
        if req.message_type == 0x10 {
            return vec![kernel(ctrl_reply(req, FAMILY)), kernel(ack(req))];
        }
        let msg = IpvsMessage::parse_with_param(
            &payload[4..],
            GenlHeader {
                cmd: payload[0],
                version: payload[1],
            },
        )
        .unwrap();
        let mut stored = stored.lock().unwrap();
        let back = |cmd: IpvsCmd, attr: &IpvsAttribute| {
            let attr = match attr {
                IpvsAttribute::Service(n) => {
                    IpvsAttribute::Service(Nested::without_flag(n.attributes.clone()))
                }
                IpvsAttribute::Dest(n) => {
                    IpvsAttribute::Dest(Nested::without_flag(n.attributes.clone()))
                }
                other => other.clone(),
            };
            let m = IpvsMessage::new(cmd, vec![attr]);
            let mut p = vec![u8::from(cmd), 1, 0, 0];
            let mut body = vec![0; m.buffer_len()];
            m.emit(&mut body);
            p.extend(body);
            kernel(data(req, NLM_F_MULTI, &p))
        };
        match msg.cmd {
            IpvsCmd::NewService | IpvsCmd::NewDest => {
                stored.clear();
                stored.push(msg.attributes.last().unwrap().clone());
                vec![kernel(ack(req))]
            }
            IpvsCmd::GetService => {
                let mut out: Vec<_> = stored
                    .iter()
                    .map(|a| back(IpvsCmd::NewService, a))
                    .collect();
                out.push(kernel(done(req, 0)));
                out
            }
            IpvsCmd::GetDest => {
                let mut out: Vec<_> = stored.iter().map(|a| back(IpvsCmd::NewDest, a)).collect();
                out.push(kernel(done(req, 0)));
                out
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    Ipvs::with_transport(kernel_side).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn service_key_notation_round_trips(key in key()) {
        prop_assert_eq!(key.to_string().parse::<ServiceKey>().unwrap(), key);
    }

    #[test]
    fn valid_services_survive_the_wire(svc in service()) {
        prop_assume!(svc.validate().is_ok());
        let ipvs = echo_kernel();
        ipvs.add_service(&svc).unwrap();
        let back = ipvs.services().unwrap();
        prop_assert_eq!(back, vec![svc]);
    }

    #[test]
    fn valid_destinations_survive_the_wire((key, dest) in destination()) {
        dest.validate_for(&key).unwrap();
        let ipvs = echo_kernel();
        ipvs.add_destination(&key, &dest).unwrap();
        prop_assert_eq!(ipvs.destinations(&key).unwrap(), vec![dest]);
    }

    #[test]
    fn datagram_walker_and_ctrl_parser_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // The fuzz harnesses assert that the walk advances and ends.
        ipvs::fuzzing::datagram_walk(&bytes);
        ipvs::fuzzing::ctrl_reply(&bytes);
    }

    #[test]
    fn the_protocol_core_ends_every_request_once_and_routes_by_sequence(
        bytes in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        // The invariants are the fuzz harness's own assertions.
        ipvs::fuzzing::protocol(&bytes);
    }
}
