// SPDX-License-Identifier: MIT OR Apache-2.0
//! Both handles, blocking and async, against a scripted fake kernel: every
//! fault path of the protocol as a call sees it (dumps, DONE with errno,
//! ACK/NACK, extended ACK, interrupted dumps, stale and foreign replies,
//! truncation, ENOBUFS, deadlines, malformed datagrams), what an abandoned
//! call leaves behind, and many tasks sharing one async handle. The
//! protocol's own tests (`src/proto.rs`) feed it the same bytes without any
//! handle. No root, no IPVS needed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage, Nested, ServiceAttribute};
use ipvs::testing::MessageHeader;
use ipvs::{AsyncIpvs, Destination, Error, Forwarding, Ipvs, Op, Scheduler, Service, ServiceKey};

const TIMEOUT: Duration = Duration::from_millis(300);

/// A data message carrying the marker `n` (as `IPVS_CMD_ATTR_TIMEOUT_TCP`),
/// for raw dumps.
fn marked(req: &MessageHeader, flags: u16, n: u32) -> Vec<u8> {
    reply(
        req,
        flags,
        IpvsCmd::NewService,
        vec![IpvsAttribute::TimeoutTcp(n)],
    )
}

fn markers(messages: Vec<IpvsMessage>) -> Vec<u32> {
    messages
        .iter()
        .flat_map(|m| &m.attributes)
        .filter_map(|a| match a {
            IpvsAttribute::TimeoutTcp(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// A raw `IPVS_CMD_GET_SERVICE` dump through `handle`: the markers read.
fn dump(handle: &Handle) -> Result<Vec<u32>, Error> {
    let request = IpvsMessage::new(IpvsCmd::GetService, vec![]);
    on!(handle, request(&request, true)).map(markers)
}

/// Handles of both drivers over `ipvs_kernel(script)`.
fn both(
    script: impl Fn() -> Box<dyn FnMut(&MessageHeader, IpvsMessage) -> Vec<Delivery> + Send>,
) -> [(Handle, Requests); 2] {
    Handle::both(
        || {
            let mut s = script();
            ipvs_kernel(move |req, m| s(req, m))
        },
        TIMEOUT,
    )
}

macro_rules! script {
    (|$req:pat_param, $msg:pat_param| $body:expr) => {
        || Box::new(move |$req: &MessageHeader, $msg: IpvsMessage| $body)
    };
}

/// IPVS requests sent (GETFAMILY left out).
fn ipvs_requests(requests: &Requests) -> Vec<MessageHeader> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|d| MessageHeader::parse(d).unwrap())
        .filter(|h| h.message_type == FAMILY)
        .collect()
}

#[test]
fn a_multipart_dump_spans_datagrams_until_done() {
    for (handle, requests) in both(script!(|req, _| {
        assert_eq!(req.flags, NLM_F_REQUEST | NLM_F_DUMP);
        let mut first = marked(req, NLM_F_MULTI, 1);
        first.extend(marked(req, NLM_F_MULTI, 2)); // two messages in one datagram
        vec![
            kernel(first),
            kernel(marked(req, NLM_F_MULTI, 3)),
            kernel(done(req, 0)),
        ]
    })) {
        assert_eq!(dump(&handle).unwrap(), [1, 2, 3], "{}", handle.driver());
        assert_eq!(ipvs_requests(&requests).len(), 1);
    }
}

#[test]
fn done_carrying_an_errno_fails_the_dump() {
    for (handle, _) in both(script!(|req, _| vec![
        kernel(marked(req, NLM_F_MULTI, 1)),
        kernel(done(req, nix_errno::EINVAL)),
    ])) {
        let err = dump(&handle).unwrap_err();
        assert!(
            matches!(err, Error::Kernel { errno, op: Op::Raw, .. } if errno == nix_errno::EINVAL),
            "{err:?}"
        );
    }
}

#[test]
fn an_acked_request_returns_its_reply_and_requires_the_ack() {
    let info = |req: &MessageHeader| {
        reply(
            req,
            0,
            IpvsCmd::SetInfo,
            vec![
                IpvsAttribute::Info(ipvs::ipvs_sys::InfoAttribute::Version(0x010201)),
                IpvsAttribute::Info(ipvs::ipvs_sys::InfoAttribute::ConnTabSize(4096)),
            ],
        )
    };
    for (handle, _) in both(script!(|req, _| {
        assert_eq!(req.flags, NLM_F_REQUEST | NLM_F_ACK);
        vec![kernel(info(req)), kernel(ack(req))]
    })) {
        assert_eq!(on!(handle, info()).unwrap().connection_table_size, 4096);
    }
    // A reply without its ACK is not complete: it times out.
    for (handle, _) in both(script!(|req, _| vec![kernel(info(req))])) {
        assert!(matches!(
            on!(handle, info()),
            Err(Error::Timeout { op: Op::GetInfo, after }) if after == TIMEOUT
        ));
    }
}

#[test]
fn a_nack_carries_the_errno_and_extended_ack_text() {
    for (handle, _) in both(script!(|req, _| vec![kernel(error(
        req,
        nix_errno::ERANGE,
        Some("weight out of range"),
    ))])) {
        let dest = Destination::new("198.51.100.10:80".parse().unwrap(), Forwarding::Masquerade);
        let key: ServiceKey = "tcp:192.0.2.1:80".parse().unwrap();
        let err = on!(handle, add_destination(&key, &dest)).unwrap_err();
        let Error::Kernel { errno, ext_ack, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*errno, nix_errno::ERANGE);
        assert_eq!(ext_ack.message.as_deref(), Some("weight out of range"));
        assert_eq!(ext_ack.offset, Some(24));
        let text = err.to_string();
        assert!(
            text.contains("weight out of range") && text.contains("ipvsadm -a"),
            "{text}"
        );
    }
}

#[test]
fn an_interrupted_dump_is_read_again_then_succeeds() {
    for (handle, requests) in both(|| {
        let mut attempt = 0;
        Box::new(move |req: &MessageHeader, _| {
            attempt += 1;
            let flags = if attempt == 1 {
                NLM_F_MULTI | NLM_F_DUMP_INTR
            } else {
                NLM_F_MULTI
            };
            vec![kernel(marked(req, flags, attempt)), kernel(done(req, 0))]
        })
    }) {
        assert_eq!(dump(&handle).unwrap(), [2], "only the second dump's data");
        assert_eq!(ipvs_requests(&requests).len(), 2);
    }
}

#[test]
fn an_interrupted_dump_gives_up_after_bounded_attempts() {
    for (handle, requests) in both(script!(|req, _| {
        // The flag may sit on DONE only.
        let mut d = done(req, 0);
        d[6..8].copy_from_slice(&(NLM_F_MULTI | NLM_F_DUMP_INTR).to_ne_bytes());
        vec![kernel(marked(req, NLM_F_MULTI, 1)), kernel(d)]
    })) {
        match &handle {
            Handle::Blocking(ipvs) => ipvs.set_dump_attempts(3),
            Handle::Async(ipvs, _) => ipvs.set_dump_attempts(3),
        }
        let err = dump(&handle).unwrap_err();
        assert!(
            matches!(err, Error::DumpInterrupted { attempts: 3, .. }),
            "{err:?}"
        );
        assert_eq!(ipvs_requests(&requests).len(), 3);
    }
}

#[test]
fn stale_sequence_numbers_foreign_ports_and_other_senders_are_skipped() {
    for (handle, _) in both(script!(|req, _| {
        let mut stale = MessageHeader { ..*req };
        stale.sequence = req.sequence.wrapping_sub(1);
        let mut foreign = MessageHeader { ..*req };
        foreign.port = req.port + 1;
        vec![
            // A late reply to an earlier (timed-out) request, then ours.
            kernel(marked(&stale, NLM_F_MULTI, 1)),
            kernel(done(&stale, 0)),
            kernel(marked(&foreign, NLM_F_MULTI, 2)),
            Delivery::Datagram {
                bytes: marked(req, NLM_F_MULTI, 3),
                sender: 999,
            },
            kernel(marked(req, NLM_F_MULTI, 4)),
            kernel(done(req, 0)),
        ]
    })) {
        assert_eq!(dump(&handle).unwrap(), [4]);
    }
}

#[test]
fn a_truncated_datagram_is_an_error_and_the_next_call_works() {
    for (handle, _) in both(|| {
        let mut calls = 0;
        Box::new(move |req: &MessageHeader, _| {
            calls += 1;
            if calls == 1 {
                vec![Delivery::Oversized {
                    first: marked(req, NLM_F_MULTI, 1),
                    len: 200_000,
                }]
            } else {
                vec![kernel(marked(req, NLM_F_MULTI, 2)), kernel(done(req, 0))]
            }
        })
    }) {
        let err = dump(&handle).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    len: 200_000,
                    capacity,
                    ..
                } if capacity < 200_000
            ),
            "{err:?}"
        );
        assert_eq!(dump(&handle).unwrap(), [2]);
    }
}

#[test]
fn enobufs_abandons_the_dump_and_the_next_one_works() {
    for (handle, _) in both(|| {
        let mut calls = 0;
        Box::new(move |req: &MessageHeader, _| {
            calls += 1;
            if calls == 1 {
                vec![
                    kernel(marked(req, NLM_F_MULTI, 1)),
                    Delivery::Fail(nix_errno::ENOBUFS),
                    // The rest of the first dump arrives late.
                    kernel(done(req, 0)),
                ]
            } else {
                vec![kernel(marked(req, NLM_F_MULTI, 2)), kernel(done(req, 0))]
            }
        })
    }) {
        assert!(matches!(dump(&handle), Err(Error::Overrun { .. })));
        assert_eq!(dump(&handle).unwrap(), [2]);
    }
}

#[test]
fn an_overrun_message_is_an_error() {
    for (handle, _) in both(script!(|req, _| vec![kernel(message(
        NLMSG_OVERRUN,
        0,
        req.sequence,
        req.port,
        &[]
    ))])) {
        assert!(matches!(dump(&handle), Err(Error::Overrun { .. })));
    }
}

#[test]
fn silence_times_out_at_the_deadline() {
    for (handle, _) in both(script!(|_, _| vec![])) {
        let start = Instant::now();
        let err = on!(handle, flush()).unwrap_err();
        assert!(matches!(err, Error::Timeout { op: Op::Flush, after } if after == TIMEOUT));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn a_per_call_timeout_overrides_the_handles() {
    let fake = ipvs_kernel(|_, _| vec![]);
    let ipvs = Ipvs::with_transport(fake).unwrap();
    let short = ipvs.with_timeout(Duration::from_millis(50));
    assert_eq!(ipvs.timeout(), Duration::from_secs(10));
    assert!(matches!(
        short.flush(),
        Err(Error::Timeout { after, .. }) if after == Duration::from_millis(50)
    ));
    ipvs.set_timeout(Duration::from_millis(80));
    assert_eq!(
        ipvs.clone().timeout(),
        Duration::from_millis(80),
        "clones share the default"
    );
    assert_eq!(short.timeout(), Duration::from_millis(50));
}

#[test]
fn malformed_datagrams_are_decode_errors_keeping_the_bytes() {
    // A header whose length is 0: must not loop, must not panic.
    for (handle, _) in both(script!(|_, _| vec![kernel(vec![0; 32])])) {
        let err = dump(&handle).unwrap_err();
        let Error::Decode { raw, reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(raw, &vec![0; 32]);
        assert!(reason.contains("less than its own header"), "{reason}");
    }
    // An error message too short for its errno.
    for (handle, _) in both(script!(|req, _| vec![kernel(message(
        NLMSG_ERROR,
        0,
        req.sequence,
        req.port,
        &[1, 2]
    ))])) {
        assert!(matches!(on!(handle, flush()), Err(Error::Decode { .. })));
    }
    // Length running past the datagram.
    for (handle, _) in both(script!(|req, _| {
        let mut d = marked(req, NLM_F_MULTI, 1);
        d[0..4].copy_from_slice(&500u32.to_ne_bytes());
        vec![kernel(d)]
    })) {
        assert!(matches!(dump(&handle), Err(Error::Decode { .. })));
    }
}

#[test]
fn protocol_violations_are_unexpected_replies() {
    for (handle, _) in both(script!(|req, _| vec![kernel(ack(req))])) {
        assert!(matches!(dump(&handle), Err(Error::UnexpectedReply { .. })));
    }
    for (handle, _) in both(script!(|req, _| vec![kernel(done(req, 0))])) {
        assert!(matches!(
            on!(handle, flush()),
            Err(Error::UnexpectedReply { .. })
        ));
    }
    for (handle, _) in both(script!(|req, _| vec![
        kernel(message(0x99, 0, req.sequence, req.port, b"x")),
        kernel(ack(req)),
    ])) {
        assert!(matches!(
            on!(handle, info()),
            Err(Error::UnexpectedReply { .. })
        ));
    }
}

#[test]
fn sequence_numbers_advance_per_request() {
    for (handle, requests) in both(script!(|req, _| vec![kernel(ack(req))])) {
        for _ in 0..3 {
            on!(handle, flush()).unwrap();
        }
        let seqs: Vec<u32> = ipvs_requests(&requests)
            .iter()
            .map(|h| h.sequence)
            .collect();
        assert_eq!(seqs[1], seqs[0].wrapping_add(1));
        assert_eq!(seqs[2], seqs[1].wrapping_add(1));
    }
}

#[test]
fn the_family_is_resolved_once_through_the_controller() {
    let make = || {
        FakeKernel::new(|req, payload| {
            assert_eq!(req.message_type, 0x10, "GETFAMILY goes to the controller");
            assert_eq!(payload[0], 3, "CTRL_CMD_GETFAMILY");
            vec![kernel(ctrl_reply(req, 0x23)), kernel(ack(req))]
        })
    };
    for (handle, requests) in Handle::both(make, TIMEOUT) {
        let family = on!(handle, family()).unwrap();
        assert_eq!(
            (family.id, family.version, family.max_attr),
            (0x23, Some(1), Some(6))
        );
        on!(handle, family()).unwrap();
        assert_eq!(
            requests.lock().unwrap().len(),
            1,
            "resolved once per handle"
        );
    }
}

#[test]
fn a_missing_family_is_ipvs_unavailable() {
    let make = || FakeKernel::new(|req, _| vec![kernel(error(req, nix_errno::ENOENT, None))]);
    let Err(err) = Ipvs::with_transport(make()) else {
        panic!("resolved a missing family")
    };
    assert!(matches!(err, Error::IpvsUnavailable), "{err:?}");
    assert!(err.to_string().contains("modprobe ip_vs"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(AsyncIpvs::with_transport(AsyncFake(make())));
    assert!(matches!(result, Err(Error::IpvsUnavailable)), "{result:?}");
}

#[test]
fn a_dump_abandoned_by_its_deadline_is_followed_by_a_good_dump() {
    // The first dump stalls for 2 s after its first datagram of three. A
    // kernel refuses a new dump while one runs (EBUSY), so the next call
    // must end the old one first: here by replacing the socket.
    for (handle, _) in both(|| {
        let mut calls = 0;
        Box::new(move |req: &MessageHeader, _| {
            calls += 1;
            if calls == 1 {
                vec![
                    kernel(marked(req, NLM_F_MULTI, 1)),
                    Delivery::Stall(Duration::from_secs(2)),
                    kernel(marked(req, NLM_F_MULTI, 2)),
                    kernel(marked(req, NLM_F_MULTI, 3)),
                    kernel(done(req, 0)),
                ]
            } else {
                vec![
                    kernel(marked(req, NLM_F_MULTI, 10 + calls)),
                    kernel(done(req, 0)),
                ]
            }
        })
    }) {
        let start = Instant::now();
        assert!(
            matches!(dump(&handle), Err(Error::Timeout { .. })),
            "{}",
            handle.driver()
        );
        assert_eq!(dump(&handle).unwrap(), [12], "{}", handle.driver());
        assert_eq!(dump(&handle).unwrap(), [13]);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "nobody waited for the stall"
        );
    }
}

#[test]
fn a_dump_abandoned_mid_way_is_read_away_without_a_new_socket() {
    // The caller refuses the first message (it does not decode); the rest
    // of the dump is queued, and the next call reads it away.
    let make = || {
        let mut calls = 0;
        ipvs_kernel(move |req, _| {
            calls += 1;
            if calls == 1 {
                vec![
                    kernel(data(req, NLM_F_MULTI, &[1, 1, 0, 0, 200, 0, 1, 0])),
                    kernel(marked(req, NLM_F_MULTI, 2)),
                    kernel(done(req, 0)),
                ]
            } else {
                vec![kernel(marked(req, NLM_F_MULTI, 3)), kernel(done(req, 0))]
            }
        })
    };
    let fake = make();
    let sockets = fake.sockets.clone();
    let ipvs = Ipvs::with_transport(fake).unwrap();
    let request = IpvsMessage::new(IpvsCmd::GetService, vec![]);
    let err = ipvs.request(&request, true).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { raw, .. } if raw.len() == 8),
        "{err:?}"
    );
    assert_eq!(markers(ipvs.request(&request, true).unwrap()), [3]);
    assert_eq!(*sockets.lock().unwrap(), 1, "the same socket");
    for (handle, _) in Handle::both(make, TIMEOUT) {
        assert!(matches!(dump(&handle), Err(Error::Decode { .. })));
        assert_eq!(dump(&handle).unwrap(), [3]);
    }
}

#[test]
fn a_dropped_async_call_leaves_the_handle_usable() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let fake = ipvs_kernel(move |req, _| {
        let call = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if call == 1 {
            vec![
                kernel(marked(req, NLM_F_MULTI, 1)),
                Delivery::Stall(Duration::from_secs(3600)),
                kernel(done(req, 0)),
            ]
        } else {
            vec![
                kernel(marked(req, NLM_F_MULTI, 100 + call)),
                kernel(done(req, 0)),
            ]
        }
    });
    let sockets = fake.sockets.clone();
    runtime.block_on(async {
        let ipvs = AsyncIpvs::with_transport(AsyncFake(fake)).await.unwrap();
        let request = IpvsMessage::new(IpvsCmd::GetService, vec![]);
        // Cancelled mid-dump, by the caller's own timeout.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(100), ipvs.request(&request, true)).await;
        assert!(cancelled.is_err(), "the call was still waiting");
        assert_eq!(markers(ipvs.request(&request, true).await.unwrap()), [102]);
        assert_eq!(
            *sockets.lock().unwrap(),
            2,
            "the stalled dump's socket was replaced"
        );
        // A write whose future is dropped before its ACK is read.
        let flush = ipvs.flush();
        drop(flush);
        assert_eq!(markers(ipvs.request(&request, true).await.unwrap()), [103]);
    });
}

#[test]
fn many_tasks_share_one_async_handle_and_never_mix_replies() {
    // The fake answers GET_SERVICE with the port asked for, after a short
    // stall now and then, so that tasks interleave.
    let asked = Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    let fake = ipvs_kernel(move |req, msg| {
        let IpvsAttribute::Service(nest) = &msg.attributes[0] else {
            panic!("{msg:?}")
        };
        let port = nest
            .iter()
            .find_map(|a| match a {
                ServiceAttribute::Port(p) => Some(*p),
                _ => None,
            })
            .unwrap();
        let service = Service::new(
            ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port))),
            Scheduler::RoundRobin,
        );
        let mut deliveries = Vec::new();
        if counter.fetch_add(1, Ordering::Relaxed).is_multiple_of(7) {
            deliveries.push(Delivery::Stall(Duration::from_millis(1)));
        }
        deliveries.push(kernel(reply(
            req,
            0,
            IpvsCmd::NewService,
            vec![IpvsAttribute::Service(Nested::without_flag(
                service_attributes(&service),
            ))],
        )));
        deliveries.push(kernel(ack(req)));
        deliveries
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ipvs = AsyncIpvs::with_transport(AsyncFake(fake)).await.unwrap();
        let tasks: Vec<_> = (1..=64u16)
            .map(|t| {
                let ipvs = ipvs.clone();
                tokio::spawn(async move {
                    for i in 0..50u16 {
                        let port = t * 100 + i;
                        let key =
                            ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
                        assert_eq!(ipvs.service(&key).await.unwrap().key, key);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(asked.load(Ordering::Relaxed), 64 * 50);
}

#[test]
fn a_real_kernel_without_the_family_is_ipvs_unavailable_or_works() {
    // On a host without IPVS this is the "IPVS unavailable" path against a
    // real kernel; on a host with IPVS (or without permission to load it)
    // it must still not hang or panic.
    match Ipvs::new() {
        Ok(ipvs) => assert!(ipvs.family().unwrap().id >= 0x10),
        Err(Error::IpvsUnavailable) => {}
        Err(e) => panic!("unexpected: {e:?}"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(AsyncIpvs::new()) {
        Ok(ipvs) => assert!(runtime.block_on(ipvs.family()).unwrap().id >= 0x10),
        Err(Error::IpvsUnavailable) => {}
        Err(e) => panic!("unexpected: {e:?}"),
    }
}
