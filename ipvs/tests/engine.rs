// SPDX-License-Identifier: MIT OR Apache-2.0
//! The request engine against a scripted fake kernel: every path of the
//! protocol (dumps, DONE with errno, ACK/NACK, extended ACK, interrupted
//! dumps, stale and foreign replies, truncation, ENOBUFS, timeouts,
//! malformed datagrams). No root, no IPVS needed.

mod common;

use std::time::Duration;

use common::*;
use ipvs::datagram::{MessageHeader, NLMSG_HDRLEN};
use ipvs::engine::{Engine, RECV_BUFFER_LEN, Request, RequestKind};
use ipvs::{Error, Ipvs, Op};

fn dump<'a>(payload: &'a [u8]) -> Request<'a> {
    Request {
        op: Op::ListServices,
        message_type: FAMILY,
        kind: RequestKind::Dump,
        payload,
    }
}

fn acked<'a>(op: Op, payload: &'a [u8]) -> Request<'a> {
    Request {
        op,
        message_type: FAMILY,
        kind: RequestKind::Acked,
        payload,
    }
}

fn engine(
    script: impl FnMut(&MessageHeader, &[u8]) -> Vec<Delivery> + Send + 'static,
) -> Engine<FakeKernel> {
    let mut e = Engine::new(FakeKernel::new(script));
    e.set_timeout(Duration::from_millis(200));
    e
}

#[test]
fn multipart_dump_spans_datagrams_until_done() {
    let mut e = engine(|req, _| {
        assert_eq!(req.flags, NLM_F_REQUEST | NLM_F_DUMP);
        let mut first = data(req, NLM_F_MULTI, b"svc1");
        first.extend(data(req, NLM_F_MULTI, b"svc2..")); // two messages in one datagram
        vec![
            kernel(first),
            kernel(data(req, NLM_F_MULTI, b"svc3")),
            kernel(done(req, 0)),
        ]
    });
    let replies = e.execute(&dump(&[4, 1, 0, 0])).unwrap();
    assert_eq!(
        replies,
        vec![b"svc1".to_vec(), b"svc2..".to_vec(), b"svc3".to_vec()]
    );
    // The payload sent is exactly what was asked for.
    let sent = e.transport().requests.lock().unwrap()[0].clone();
    assert_eq!(&sent[NLMSG_HDRLEN..], &[4, 1, 0, 0]);
}

#[test]
fn done_carrying_an_errno_fails_the_dump() {
    let mut e = engine(|req, _| {
        vec![
            kernel(data(req, NLM_F_MULTI, b"partial")),
            kernel(done(req, nix_errno::EINVAL)),
        ]
    });
    let err = e.execute(&dump(&[])).unwrap_err();
    assert!(
        matches!(err, Error::Kernel { errno, op: Op::ListServices, .. } if errno == nix_errno::EINVAL),
        "{err:?}"
    );
}

#[test]
fn acked_request_returns_its_reply_and_requires_the_ack() {
    let mut e = engine(|req, _| {
        assert_eq!(req.flags, NLM_F_REQUEST | NLM_F_ACK);
        vec![kernel(data(req, 0, b"info")), kernel(ack(req))]
    });
    assert_eq!(
        e.execute(&acked(Op::GetInfo, &[15, 1, 0, 0])).unwrap(),
        vec![b"info".to_vec()]
    );

    // A reply without its ACK is not complete: it times out.
    let mut e = engine(|req, _| vec![kernel(data(req, 0, b"info"))]);
    assert!(matches!(
        e.execute(&acked(Op::GetInfo, &[])),
        Err(Error::Timeout {
            op: Op::GetInfo,
            ..
        })
    ));
}

#[test]
fn nack_carries_the_errno_and_extended_ack_text() {
    let mut e = engine(|req, _| {
        vec![kernel(error(
            req,
            nix_errno::ERANGE,
            Some("weight out of range"),
        ))]
    });
    let err = e
        .execute(&acked(Op::AddDestination, &[5, 1, 0, 0]))
        .unwrap_err();
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

#[test]
fn interrupted_dump_is_retried_then_succeeds() {
    let mut attempt = 0;
    let mut e = engine(move |req, _| {
        attempt += 1;
        let flags = if attempt == 1 {
            NLM_F_MULTI | NLM_F_DUMP_INTR
        } else {
            NLM_F_MULTI
        };
        vec![
            kernel(data(req, flags, format!("attempt{attempt}").as_bytes())),
            kernel(done(req, 0)),
        ]
    });
    assert_eq!(e.execute(&dump(&[])).unwrap(), vec![b"attempt2".to_vec()]);
    assert_eq!(e.transport().requests.lock().unwrap().len(), 2);
}

#[test]
fn interrupted_dump_gives_up_after_bounded_attempts() {
    let mut e = engine(|req, _| {
        // The flag may sit on DONE only.
        let mut d = done(req, 0);
        d[6..8].copy_from_slice(&(NLM_F_MULTI | NLM_F_DUMP_INTR).to_ne_bytes());
        vec![kernel(data(req, NLM_F_MULTI, b"x")), kernel(d)]
    });
    e.set_dump_attempts(3);
    let err = e.execute(&dump(&[])).unwrap_err();
    assert!(
        matches!(err, Error::DumpInterrupted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(e.transport().requests.lock().unwrap().len(), 3);
}

#[test]
fn stale_sequence_numbers_are_skipped() {
    let mut e = engine(|req, _| {
        let stale = req.sequence.wrapping_sub(1);
        vec![
            // A late reply to an earlier (timed-out) request, then ours.
            kernel(message(FAMILY, NLM_F_MULTI, stale, PORT, b"old")),
            kernel(message(
                NLMSG_DONE,
                NLM_F_MULTI,
                stale,
                PORT,
                &0i32.to_ne_bytes(),
            )),
            kernel(data(req, NLM_F_MULTI, b"new")),
            kernel(done(req, 0)),
        ]
    });
    assert_eq!(e.execute(&dump(&[])).unwrap(), vec![b"new".to_vec()]);
}

#[test]
fn foreign_port_ids_and_non_kernel_senders_are_skipped() {
    let mut e = engine(|req, _| {
        vec![
            kernel(message(
                FAMILY,
                NLM_F_MULTI,
                req.sequence,
                PORT + 1,
                b"not ours",
            )),
            Delivery::Datagram {
                bytes: data(req, NLM_F_MULTI, b"spoofed"),
                sender: 999,
            },
            kernel(data(req, NLM_F_MULTI, b"ours")),
            kernel(done(req, 0)),
        ]
    });
    assert_eq!(e.execute(&dump(&[])).unwrap(), vec![b"ours".to_vec()]);
}

#[test]
fn truncated_datagram_is_an_error() {
    let mut e = engine(|req, _| {
        vec![Delivery::Oversized {
            first: data(req, NLM_F_MULTI, &[0; 64]),
            len: RECV_BUFFER_LEN + 100,
        }]
    });
    let err = e.execute(&dump(&[])).unwrap_err();
    assert!(
        matches!(err, Error::Truncated { len, capacity, .. } if len == RECV_BUFFER_LEN + 100 && capacity == RECV_BUFFER_LEN),
        "{err:?}"
    );
}

#[test]
fn enobufs_abandons_the_request_and_the_next_one_works() {
    let mut calls = 0;
    let mut e = engine(move |req, _| {
        calls += 1;
        if calls == 1 {
            vec![
                kernel(data(req, NLM_F_MULTI, b"lost?")),
                Delivery::Fail(nix_errno::ENOBUFS),
                // The rest of the first dump arrives late.
                kernel(done(req, 0)),
            ]
        } else {
            vec![
                kernel(data(req, NLM_F_MULTI, b"fresh")),
                kernel(done(req, 0)),
            ]
        }
    });
    assert!(matches!(e.execute(&dump(&[])), Err(Error::Overrun { .. })));
    assert_eq!(e.execute(&dump(&[])).unwrap(), vec![b"fresh".to_vec()]);
}

#[test]
fn overrun_message_is_an_error() {
    let mut e = engine(|req, _| vec![kernel(message(NLMSG_OVERRUN, 0, req.sequence, PORT, &[]))]);
    assert!(matches!(e.execute(&dump(&[])), Err(Error::Overrun { .. })));
}

#[test]
fn silence_times_out() {
    let mut e = engine(|_, _| vec![]);
    let start = std::time::Instant::now();
    let err = e.execute(&acked(Op::Flush, &[17, 1, 0, 0])).unwrap_err();
    assert!(
        matches!(err, Error::Timeout { op: Op::Flush, after } if after == Duration::from_millis(200))
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn socket_timeout_is_bounded_in_real_time() {
    // A real socket that receives nothing: nobody replies to a message
    // sent to an unused family id. The call must give up on time.
    let socket = ipvs::NetlinkSocket::open().expect("netlink sockets work unprivileged");
    let mut e = Engine::new(socket);
    e.set_timeout(Duration::from_millis(300));
    let start = std::time::Instant::now();
    let result = e.execute(&Request {
        op: Op::Raw,
        message_type: 0xfff0,
        kind: RequestKind::Acked,
        payload: &[1, 1, 0, 0],
    });
    // The kernel answers an unknown family with ENOENT; either way the
    // answer comes quickly and never hangs.
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(result, Err(Error::Kernel { errno, .. }) if errno == nix_errno::ENOENT),
        "{result:?}"
    );
}

#[test]
fn malformed_datagrams_are_decode_errors_keeping_the_bytes() {
    // A header whose length is 0: must not loop, must not panic.
    let mut e = engine(|_, _| vec![kernel(vec![0; 32])]);
    let err = e.execute(&dump(&[])).unwrap_err();
    let Error::Decode { raw, reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(raw, &vec![0; 32]);
    assert!(reason.contains("less than its own header"), "{reason}");

    // An error message too short for its errno.
    let mut e = engine(|req, _| vec![kernel(message(NLMSG_ERROR, 0, req.sequence, PORT, &[1, 2]))]);
    assert!(matches!(
        e.execute(&acked(Op::Flush, &[])),
        Err(Error::Decode { .. })
    ));

    // Length running past the datagram.
    let mut e = engine(|req, _| {
        let mut d = data(req, NLM_F_MULTI, b"abcd");
        d[0..4].copy_from_slice(&500u32.to_ne_bytes());
        vec![kernel(d)]
    });
    assert!(matches!(e.execute(&dump(&[])), Err(Error::Decode { .. })));
}

#[test]
fn protocol_violations_are_unexpected_replies() {
    let mut e = engine(|req, _| vec![kernel(ack(req))]);
    assert!(matches!(
        e.execute(&dump(&[])),
        Err(Error::UnexpectedReply { .. })
    ));
    let mut e = engine(|req, _| vec![kernel(done(req, 0))]);
    assert!(matches!(
        e.execute(&acked(Op::Flush, &[])),
        Err(Error::UnexpectedReply { .. })
    ));
    let mut e = engine(|req, _| {
        vec![
            kernel(message(0x99, 0, req.sequence, PORT, b"x")),
            kernel(ack(req)),
        ]
    });
    assert!(matches!(
        e.execute(&acked(Op::GetInfo, &[])),
        Err(Error::UnexpectedReply { .. })
    ));
}

#[test]
fn sequence_numbers_advance_per_request() {
    let mut e = engine(|req, _| vec![kernel(ack(req))]);
    for _ in 0..3 {
        e.execute(&acked(Op::Flush, &[])).unwrap();
    }
    let seqs: Vec<u32> = e
        .transport()
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| MessageHeader::parse(r).unwrap().sequence)
        .collect();
    assert_eq!(seqs[1], seqs[0].wrapping_add(1));
    assert_eq!(seqs[2], seqs[1].wrapping_add(1));
}

// ---- family resolution through the handle ----

#[test]
fn family_is_resolved_once_through_the_controller() {
    let kernel_side = FakeKernel::new(|req, payload| {
        assert_eq!(req.message_type, 0x10, "GETFAMILY goes to the controller");
        assert_eq!(payload[0], 3, "CTRL_CMD_GETFAMILY");
        vec![kernel(ctrl_reply(req, 0x23)), kernel(ack(req))]
    });
    let requests = kernel_side.requests.clone();
    let ipvs = Ipvs::with_transport(kernel_side).unwrap();
    let family = ipvs.family().unwrap();
    assert_eq!(
        (family.id, family.version, family.max_attr),
        (0x23, Some(1), Some(6))
    );
    ipvs.family().unwrap();
    assert_eq!(
        requests.lock().unwrap().len(),
        1,
        "resolved once per handle"
    );
}

#[test]
fn missing_family_is_ipvs_unavailable() {
    let kernel_side = FakeKernel::new(|req, _| vec![kernel(error(req, nix_errno::ENOENT, None))]);
    let Err(err) = Ipvs::with_transport(kernel_side) else {
        panic!("resolved a missing family")
    };
    assert!(matches!(err, Error::IpvsUnavailable), "{err:?}");
    assert!(err.to_string().contains("modprobe ip_vs"));
}

#[test]
fn real_kernel_without_the_family_is_ipvs_unavailable_or_works() {
    // On a host without IPVS this is the "IPVS unavailable" path against a
    // real kernel; on a host with IPVS (or without permission to load it)
    // it must still not hang or panic.
    match Ipvs::new() {
        Ok(ipvs) => assert!(ipvs.family().unwrap().id >= 0x10),
        Err(Error::IpvsUnavailable) => {}
        Err(e) => panic!("unexpected: {e:?}"),
    }
}

#[test]
fn real_kernel_extended_ack_text_and_offset_are_surfaced() {
    // The generic-netlink controller validates attributes with extended
    // ACKs: a 1-byte CTRL_ATTR_FAMILY_ID (a u16) is rejected with a message
    // and the offset of the bad attribute. No IPVS or privilege needed.
    let socket = ipvs::NetlinkSocket::open().expect("netlink sockets work unprivileged");
    let mut e = Engine::new(socket);
    e.set_timeout(Duration::from_secs(5));
    let payload = [3, 1, 0, 0, 5, 0, 1, 0, 7, 0, 0, 0];
    let err = e
        .execute(&Request {
            op: Op::ResolveFamily,
            message_type: 0x10,
            kind: RequestKind::Acked,
            payload: &payload,
        })
        .unwrap_err();
    let Error::Kernel { errno, ext_ack, .. } = &err else {
        panic!("{err:?}")
    };
    // EINVAL or ERANGE depending on the kernel's policy checks.
    assert!(
        [nix_errno::EINVAL, nix_errno::ERANGE].contains(errno),
        "{err}"
    );
    assert!(ext_ack.message.is_some(), "kernel text expected: {err}");
    // The offset counts from the start of the netlink message: 16 + 4.
    assert_eq!(ext_ack.offset, Some(20), "{err}");
    assert!(
        err.to_string()
            .contains(ext_ack.message.as_deref().unwrap())
    );
}

#[test]
fn a_refused_message_fails_the_dump_only_after_reading_it_to_the_end() {
    struct Refuse(usize);
    impl ipvs::engine::ReplySink for Refuse {
        fn message(&mut self, payload: &[u8]) -> Result<(), Error> {
            self.0 += 1;
            Err(Error::Decode {
                op: Op::ListServices,
                reason: "refused".into(),
                raw: payload.to_vec(),
            })
        }
        fn restart(&mut self) {}
    }
    let mut e = engine(|req, _| {
        vec![
            kernel(data(req, NLM_F_MULTI, b"bad")),
            kernel(data(req, NLM_F_MULTI, b"more")),
            kernel(done(req, 0)),
        ]
    });
    let mut sink = Refuse(0);
    let err = e.execute_with(&dump(&[]), &mut sink).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { raw, .. } if raw == b"bad"),
        "{err:?}"
    );
    assert_eq!(sink.0, 1, "the sink is not called again after refusing");
    // The dump was read to its end: nothing is left for the next request,
    // which a real kernel would otherwise refuse with EBUSY.
    assert!(e.transport().queue.is_empty());
}
