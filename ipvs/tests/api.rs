// SPDX-License-Identifier: MIT OR Apache-2.0
//! The typed API against a scripted fake kernel: what each operation sends,
//! how replies decode, what each errno becomes, family re-resolution, and
//! that invalid requests are never sent. No root needed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ipvs::ipvs_sys::{
    AddressFamily, DestAttribute, ForwardMethod, InetAddr, InfoAttribute, IpvsAttribute, IpvsCmd,
    IpvsMessage, Nested, Protocol, ServiceAttribute, Stats64Attribute, StatsAttribute,
};
use ipvs::testing::{MessageHeader, NLMSG_HDRLEN};
use ipvs::{
    Destination, Error, Forwarding, Ipvs, Op, Persistence, PersistenceNetmask, Scheduler, Service,
    ServiceKey, SyncDaemon, Timeouts,
};
use netlink_packet_core::DefaultNla;

fn ipvs_requests(requests: &Requests) -> Vec<(MessageHeader, IpvsMessage)> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| (MessageHeader::parse(r).unwrap(), r.clone()))
        .filter(|(h, _)| h.message_type == FAMILY)
        .map(|(h, r)| (h, parse(&r[NLMSG_HDRLEN..])))
        .collect()
}

fn key() -> ServiceKey {
    "tcp:207.175.44.110:80".parse().unwrap()
}

#[test]
fn add_service_sends_what_ipvsadm_sends() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    ipvs.add_service(&Service::new(key(), Scheduler::RoundRobin))
        .unwrap();
    let raw = requests.lock().unwrap().last().unwrap().clone();
    // ipvs-reference.md §6.3: `ipvsadm -A -t 207.175.44.110:80 -s rr`, with
    // NLA_F_NESTED on the nest as libnl sets it.
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0x01, 0x01, 0x00, 0x00][..],
        &[0x54, 0x00, 0x01, 0x80],
        &[0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00],
        &[0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00],
        &[0x14, 0x00, 0x03, 0x00, 0xcf, 0xaf, 0x2c, 0x6e], &[0; 12],
        &[0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00],
        &[0x07, 0x00, 0x06, 0x00, b'r', b'r', 0x00, 0x00],
        &[0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        &[0x08, 0x00, 0x08, 0x00, 0, 0, 0, 0],
        &[0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff],
    ]
    .concat();
    assert_eq!(&raw[NLMSG_HDRLEN..], &expected[..]);
    let header = MessageHeader::parse(&raw).unwrap();
    assert_eq!(
        header.flags,
        NLM_F_REQUEST | NLM_F_ACK,
        "mutations ask for an ACK"
    );
    assert_eq!(header.message_type, FAMILY);
}

#[test]
fn add_destination_sends_family_address_and_weight() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    let dest =
        Destination::new("192.168.10.1:80".parse().unwrap(), Forwarding::Masquerade).with_weight(2);
    ipvs.add_destination(&key(), &dest).unwrap();
    let (_, msg) = ipvs_requests(&requests).pop().unwrap();
    assert_eq!(msg.cmd, IpvsCmd::NewDest);
    let IpvsAttribute::Dest(nest) = &msg.attributes[1] else {
        panic!("{msg:?}")
    };
    assert_eq!(
        nest.attributes,
        vec![
            DestAttribute::AddrFamily(AddressFamily::Inet),
            DestAttribute::Addr(InetAddr::from(
                "192.168.10.1".parse::<std::net::IpAddr>().unwrap()
            )),
            DestAttribute::Port(80),
            DestAttribute::FwdMethod(ForwardMethod::Masq),
            DestAttribute::Weight(2),
            DestAttribute::UpperThreshold(0),
            DestAttribute::LowerThreshold(0),
        ]
    );
}

#[test]
fn errnos_are_named_by_operation() {
    let (ipvs, _) = handle(|req, msg| {
        let errno = match msg.cmd {
            IpvsCmd::NewService => nix_errno::EEXIST,
            IpvsCmd::NewDest => nix_errno::EEXIST,
            IpvsCmd::DelService => nix_errno::ESRCH,
            IpvsCmd::Flush => nix_errno::EPERM,
            _ => nix_errno::EINVAL,
        };
        vec![kernel(error(req, errno, None))]
    });
    let svc = Service::new(key(), Scheduler::RoundRobin);
    assert!(matches!(
        ipvs.add_service(&svc),
        Err(Error::ServiceExists { .. })
    ));
    let dest = Destination::new("192.0.2.7:80".parse().unwrap(), Forwarding::DirectRoute);
    let err = ipvs.add_destination(&key(), &dest).unwrap_err();
    assert!(matches!(err, Error::DestinationExists { .. }));
    assert_eq!(
        err.to_string(),
        "destination 192.0.2.7:80 already exists in service tcp:207.175.44.110:80 (update it, or delete it first)"
    );
    let err = ipvs.delete_service(&key()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoSuchService { op: Op::DeleteService, service: Some(k) } if k == key()
        ),
        "{err:?}"
    );
    assert!(err.is_not_found());
    let err = ipvs.flush().unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }));
    assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
    assert!(
        matches!(ipvs.zero_all(), Err(Error::Kernel { errno, .. }) if errno == nix_errno::EINVAL)
    );
}

#[test]
fn enoent_with_an_unchanged_family_is_the_operations_meaning() {
    // ENOENT triggers a re-resolution; the id is the same, so the errno
    // keeps its meaning for the operation.
    let (ipvs, requests) = handle(|req, _| vec![kernel(error(req, nix_errno::ENOENT, None))]);
    let svc = Service::new(key(), Scheduler::Other("nope".into())).with_persistence_engine("pex");
    let err = ipvs.add_service(&svc).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownSchedulerOrPe { scheduler, pe: Some(pe) } if scheduler == "nope" && pe == "pex"),
        "{err:?}"
    );
    assert!(err.to_string().contains("ip_vs_nope"), "{err}");
    let err = ipvs
        .delete_destination(&key(), "192.0.2.7:80".parse().unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::NoSuchDestination { .. }), "{err:?}");
    // Not retried: the kernel did see these requests.
    assert_eq!(ipvs_requests(&requests).len(), 2);
}

#[test]
fn family_gone_and_back_with_a_new_id_is_re_resolved_and_retried() {
    let generation = Arc::new(Mutex::new(0u16));
    let kernel_side = reloadable_kernel(generation.clone());
    let requests = kernel_side.requests.clone();
    let ipvs = Ipvs::with_transport(kernel_side).unwrap();
    *generation.lock().unwrap() = 1; // module reloaded: new id
    ipvs.flush().expect("re-resolved and retried");
    let types: Vec<u16> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| MessageHeader::parse(r).unwrap().message_type)
        .collect();
    assert_eq!(types, vec![0x10, FAMILY, 0x10, FAMILY + 1]);
    assert_eq!(ipvs.family().unwrap().id, FAMILY + 1);
}

#[test]
fn family_gone_for_good_is_ipvs_unavailable() {
    let resolved = Arc::new(Mutex::new(false));
    let r = resolved.clone();
    let kernel_side = FakeKernel::new(move |req, _| {
        let mut r = r.lock().unwrap();
        if req.message_type == 0x10 && !*r {
            *r = true;
            return vec![kernel(ctrl_reply(req, FAMILY)), kernel(ack(req))];
        }
        vec![kernel(error(req, nix_errno::ENOENT, None))]
    });
    let ipvs = Ipvs::with_transport(kernel_side).unwrap();
    assert!(matches!(ipvs.services(), Err(Error::IpvsUnavailable)));
}

#[test]
fn invalid_requests_never_reach_the_kernel() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    let v6 = ServiceKey::tcp("[2001:db8::1]:80".parse().unwrap());
    let bad_service = Service::new(v6, Scheduler::RoundRobin).with_persistence(
        Persistence::new(Duration::from_secs(60)).with_netmask(PersistenceNetmask::Ipv6(0)),
    );
    assert!(matches!(
        ipvs.add_service(&bad_service),
        Err(Error::InvalidArgument {
            field: "persistence netmask",
            ..
        })
    ));
    let bad_dest = Destination::new("192.0.2.7:80".parse().unwrap(), Forwarding::Masquerade);
    let err = ipvs.add_destination(&v6, &bad_dest).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "forwarding",
                ..
            }
        ),
        "{err:?}"
    );
    let heavy = Destination::new("[2001:db8::7]:80".parse().unwrap(), Forwarding::Masquerade)
        .with_weight(u32::MAX);
    assert!(matches!(
        ipvs.update_destination(&v6, &heavy),
        Err(Error::InvalidArgument {
            field: "weight",
            ..
        })
    ));
    let bad_daemon = SyncDaemon::new(ipvs::DaemonRole::Master, "eth0", 1)
        .with_mcast_group("192.0.2.1".parse().unwrap());
    assert!(matches!(
        ipvs.start_daemon(&bad_daemon),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        ipvs.set_timeouts(&Timeouts::new(Some(Duration::ZERO), None, None)),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(ipvs_requests(&requests).is_empty(), "nothing was sent");
}

#[test]
fn info_decodes_version_and_table_size() {
    let (ipvs, _) = handle(|req, msg| {
        assert_eq!(msg.cmd, IpvsCmd::GetInfo);
        vec![
            kernel(reply(
                req,
                0,
                IpvsCmd::SetInfo,
                vec![
                    IpvsAttribute::Info(InfoAttribute::Version(0x010201)),
                    IpvsAttribute::Info(InfoAttribute::ConnTabSize(4096)),
                ],
            )),
            kernel(ack(req)),
        ]
    });
    let info = ipvs.info().unwrap();
    assert_eq!(info.version.to_string(), "1.2.1");
    assert_eq!(info.connection_table_size, 4096);
}

/// A dumped UDP service on 203.0.113.5:`port` (a real dump never repeats a key).
fn dumped_service(port: u16, stats64: bool) -> IpvsAttribute {
    let mut attrs = vec![
        ServiceAttribute::Af(AddressFamily::Inet),
        ServiceAttribute::Protocol(Protocol::Udp),
        ServiceAttribute::Addr(InetAddr::from(
            "203.0.113.5".parse::<std::net::IpAddr>().unwrap(),
        )),
        ServiceAttribute::Port(port),
        ServiceAttribute::SchedName("wrr".into()),
        ServiceAttribute::Flags(ipvs::ipvs_sys::FlagsMask::replace_all(
            ipvs::ipvs_sys::ServiceFlags::PERSISTENT | ipvs::ipvs_sys::ServiceFlags::HASHED,
        )),
        ServiceAttribute::Timeout(300),
        ServiceAttribute::Netmask(ipvs::ipvs_sys::Netmask::from_ipv4_prefix_len(24).unwrap()),
        ServiceAttribute::Stats(Nested::without_flag(vec![StatsAttribute::Conns(7)])),
    ];
    if stats64 {
        attrs.push(ServiceAttribute::Stats64(Nested::without_flag(vec![
            Stats64Attribute::Conns(1 << 40),
        ])));
    }
    attrs.push(ServiceAttribute::Other(DefaultNla::new(
        42,
        vec![9, 9, 9, 9],
    )));
    IpvsAttribute::Service(Nested::without_flag(attrs))
}

#[test]
fn service_dump_decodes_persistence_stats64_and_keeps_unknown_attributes() {
    let (ipvs, requests) = handle(|req, _| {
        vec![
            kernel(reply(
                req,
                NLM_F_MULTI,
                IpvsCmd::NewService,
                vec![dumped_service(53, true)],
            )),
            kernel(reply(
                req,
                NLM_F_MULTI,
                IpvsCmd::NewService,
                vec![dumped_service(54, false)],
            )),
            kernel(done(req, 0)),
        ]
    });
    let services = ipvs.services().unwrap();
    assert_eq!(services.len(), 2);
    let s = &services[0];
    assert_eq!(
        s.to_string(),
        "-A -u 203.0.113.5:53 -s wrr -p 300 -M 255.255.255.0"
    );
    assert_eq!(s.stats.connections, 1 << 40, "STATS64 preferred");
    assert_eq!(services[1].stats.connections, 7, "STATS as fallback");
    assert_eq!(
        s.unknown_attributes,
        vec![ipvs::UnknownAttribute::new(42, vec![9, 9, 9, 9])]
    );
    assert_eq!(s.unknown_flags, 0, "HASHED is masked off");
    let (header, _) = ipvs_requests(&requests).pop().unwrap();
    assert_eq!(header.flags, NLM_F_REQUEST | NLM_F_DUMP);
}

#[test]
fn empty_destination_dump_of_a_missing_service_is_no_such_service() {
    let (ipvs, _) = handle(|req, msg| match msg.cmd {
        IpvsCmd::GetDest => vec![kernel(done(req, 0))],
        IpvsCmd::GetService => vec![kernel(error(req, nix_errno::ESRCH, None))],
        other => panic!("unexpected {other:?}"),
    });
    let err = ipvs.destinations(&key()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoSuchService { op: Op::ListDestinations, service: Some(k) } if k == key()
        ),
        "{err:?}"
    );
}

#[test]
fn undecodable_reply_keeps_its_bytes() {
    let (ipvs, _) = handle(|req, _| {
        // A service nest without AF.
        let bad = IpvsAttribute::Service(Nested::without_flag(vec![ServiceAttribute::Port(1)]));
        vec![
            kernel(reply(req, NLM_F_MULTI, IpvsCmd::NewService, vec![bad])),
            kernel(done(req, 0)),
        ]
    });
    let err = ipvs.services().unwrap_err();
    let Error::Decode { raw, reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("AF"), "{reason}");
    assert_eq!(
        raw[0],
        u8::from(IpvsCmd::NewService),
        "the raw genl payload is kept"
    );
}

#[test]
fn set_timeouts_sends_only_what_changes() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    ipvs.set_timeouts(&Timeouts::new(None, Some(Duration::from_secs(120)), None))
        .unwrap();
    let (_, msg) = ipvs_requests(&requests).pop().unwrap();
    assert_eq!(msg.cmd, IpvsCmd::SetConfig);
    assert_eq!(msg.attributes, vec![IpvsAttribute::TimeoutTcpFin(120)]);
}

#[test]
fn threads_sharing_a_handle_each_get_their_own_reply() {
    // The fake answers GET_SERVICE with the port that was asked for.
    let (ipvs, _) = handle(|req, msg| {
        let IpvsAttribute::Service(nest) = &msg.attributes[0] else {
            panic!()
        };
        let port = nest
            .iter()
            .find_map(|a| {
                if let ServiceAttribute::Port(p) = a {
                    Some(*p)
                } else {
                    None
                }
            })
            .unwrap();
        let key = ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
        let svc = Service::new(key, Scheduler::RoundRobin);
        let mut attrs = vec![
            ServiceAttribute::Af(AddressFamily::Inet),
            ServiceAttribute::Protocol(Protocol::Tcp),
            ServiceAttribute::Addr(InetAddr::from(std::net::IpAddr::from([192, 0, 2, 1]))),
            ServiceAttribute::Port(port),
        ];
        attrs.push(ServiceAttribute::SchedName(svc.scheduler.to_string()));
        vec![
            kernel(reply(
                req,
                0,
                IpvsCmd::NewService,
                vec![IpvsAttribute::Service(Nested::without_flag(attrs))],
            )),
            kernel(ack(req)),
        ]
    });
    let ipvs = Arc::new(ipvs);
    let threads: Vec<_> = (1..=8u16)
        .map(|t| {
            let ipvs = ipvs.clone();
            std::thread::spawn(move || {
                for i in 0..200u16 {
                    let port = t * 1000 + i;
                    let key = ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
                    assert_eq!(ipvs.service(&key).unwrap().key, key);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
