// SPDX-License-Identifier: MIT OR Apache-2.0
//! Batched writes against a scripted fake kernel: many requests per
//! datagram, each ACK or error attributed to its request by sequence
//! number, the in-flight window sized from the receive queue, and the
//! ENOBUFS and timeout paths. No root needed.

mod common;

use std::time::Duration;

use common::*;
use ipvs::datagram::{MessageHeader, NLMSG_HDRLEN};
use ipvs::engine::{ACK_RECEIVE_BUDGET, Engine, MAX_BATCH_DATAGRAM, Request, RequestKind};
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, ServiceAttribute};
use ipvs::{Batch, Destination, Error, Forwarding, Op, Scheduler, Service, ServiceKey};

fn key(n: u32) -> ServiceKey {
    ServiceKey::tcp(std::net::SocketAddr::from((
        [203, 0, 113, 1],
        1000 + n as u16,
    )))
}

/// The messages of every datagram sent, as (header, payload) per datagram.
fn sent_messages(requests: &Requests) -> Vec<Vec<(MessageHeader, Vec<u8>)>> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|datagram| {
            ipvs::datagram::messages(datagram)
                .map(|m| {
                    let m = m.unwrap();
                    (m.header, m.payload.to_vec())
                })
                .collect()
        })
        .collect()
}

/// The port a service request names.
fn port_of(message: &ipvs::ipvs_sys::IpvsMessage) -> u16 {
    message
        .attributes
        .iter()
        .find_map(|a| match a {
            IpvsAttribute::Service(nest) => nest.iter().find_map(|s| match s {
                ServiceAttribute::Port(p) => Some(*p),
                _ => None,
            }),
            _ => None,
        })
        .expect("a service nest with a port")
}

#[test]
fn each_error_is_attributed_to_the_request_that_caused_it() {
    // The kernel refuses the service on port 1002 (exists) and the
    // destination of port 1004 (no such service); everything else is ACKed.
    let (ipvs, requests) = handle(|req, message| match (message.cmd, port_of(&message)) {
        (IpvsCmd::NewService, 1002) => vec![kernel(error(req, nix_errno::EEXIST, None))],
        (IpvsCmd::NewDest, 1004) => {
            vec![kernel(error(
                req,
                nix_errno::ESRCH,
                Some("service not found"),
            ))]
        }
        _ => vec![kernel(ack(req))],
    });
    let dest = Destination::new("198.51.100.10:80".parse().unwrap(), Forwarding::Masquerade);
    let mut batch = Batch::new();
    for n in 0..4 {
        batch
            .add_service(&Service::new(key(n), Scheduler::RoundRobin))
            .unwrap();
    }
    batch.add_destination(&key(4), &dest).unwrap();
    batch.delete_service(&key(0)).unwrap();
    assert_eq!(batch.len(), 6);

    let outcome = ipvs.execute_batch(&batch).unwrap();
    assert_eq!(outcome.results.len(), 6);
    assert!(!outcome.is_success());
    assert_eq!(outcome.succeeded(), 4);
    let (index, first) = outcome.first_error().unwrap();
    assert_eq!(index, 2);
    assert!(
        matches!(first, Error::ServiceExists { service: Some(k) } if *k == key(2)),
        "{first:?}"
    );
    assert!(
        matches!(&outcome.results[4], Err(Error::NoSuchService { op: Op::AddDestination, service: Some(k) }) if *k == key(4)),
        "{:?}",
        outcome.results[4]
    );
    for ok in [0, 1, 3, 5] {
        assert!(
            outcome.results[ok].is_ok(),
            "{ok}: {:?}",
            outcome.results[ok]
        );
    }
    // One GETFAMILY, then the whole batch in a single datagram with
    // consecutive sequence numbers and NLM_F_ACK on every message.
    let datagrams = sent_messages(&requests);
    assert_eq!(datagrams.len(), 2);
    let batch_messages = &datagrams[1];
    assert_eq!(batch_messages.len(), 6);
    for pair in batch_messages.windows(2) {
        assert_eq!(pair[1].0.sequence, pair[0].0.sequence.wrapping_add(1));
    }
    assert!(
        batch_messages
            .iter()
            .all(|(h, _)| h.flags == NLM_F_REQUEST | NLM_F_ACK && h.message_type == FAMILY)
    );
}

#[test]
fn batch_requests_are_the_single_calls_requests() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    let service = Service::new(key(1), Scheduler::WeightedRoundRobin);
    let dest = Destination::new("198.51.100.10:80".parse().unwrap(), Forwarding::DirectRoute)
        .with_weight(7);
    ipvs.add_service(&service).unwrap();
    ipvs.update_destination(&key(1), &dest).unwrap();
    ipvs.delete_destination(&key(1), dest.addr).unwrap();
    let singles: Vec<Vec<u8>> = sent_messages(&requests)[1..]
        .iter()
        .map(|d| d[0].1.clone())
        .collect();
    let mut batch = Batch::new();
    batch.add_service(&service).unwrap();
    batch.update_destination(&key(1), &dest).unwrap();
    batch.delete_destination(&key(1), dest.addr).unwrap();
    assert!(ipvs.execute_batch(&batch).unwrap().is_success());
    let batched: Vec<Vec<u8>> = sent_messages(&requests)
        .last()
        .unwrap()
        .iter()
        .map(|(_, payload)| payload.clone())
        .collect();
    assert_eq!(batched, singles);
}

#[test]
fn invalid_requests_are_refused_when_added() {
    let mut batch = Batch::new();
    let err = batch
        .add_destination(
            &key(1),
            &Destination::new("198.51.100.10:80".parse().unwrap(), Forwarding::Masquerade)
                .with_weight(u32::MAX),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "weight",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(batch.is_empty());
    assert!(
        batch
            .add_service(&Service::new(ServiceKey::fwmark(0), Scheduler::RoundRobin))
            .is_err()
    );
    assert!(batch.is_empty());
}

fn engine_acking_all(window: usize) -> Engine<FakeKernel> {
    let mut fake = FakeKernel::new(|req, _| vec![kernel(ack(req))]);
    fake.receive_queue = window * ACK_RECEIVE_BUDGET;
    let mut engine = Engine::new(fake);
    engine.set_timeout(Duration::from_millis(200));
    engine
}

fn writes(payload: &[u8], n: usize) -> Vec<Request<'_>> {
    (0..n)
        .map(|_| Request {
            op: Op::AddDestination,
            message_type: FAMILY,
            kind: RequestKind::Acked,
            payload,
        })
        .collect()
}

#[test]
fn window_from_the_receive_queue_bounds_acks_in_flight() {
    let mut engine = engine_acking_all(10);
    assert_eq!(engine.batch_window(), 10);
    let payload = [5u8, 1, 0, 0];
    let results = engine.execute_batch(&writes(&payload, 35)).unwrap();
    assert_eq!(results.len(), 35);
    assert!(results.iter().all(Result::is_ok));
    // Never more ACKs queued than the window, and every window drained
    // before the next was sent: 10 + 10 + 10 + 5.
    assert_eq!(engine.transport().max_queued, 10);
    let sizes = messages_per_datagram(engine.transport());
    assert_eq!(sizes, vec![10, 10, 10, 5]);
    assert!(engine.transport().queue.is_empty());
}

#[test]
fn a_tiny_receive_queue_still_makes_progress_one_by_one() {
    let mut engine = engine_acking_all(0);
    assert_eq!(engine.batch_window(), 1);
    let payload = [5u8, 1, 0, 0];
    let results = engine.execute_batch(&writes(&payload, 3)).unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(engine.transport().requests.lock().unwrap().len(), 3);
}

#[test]
fn datagrams_never_exceed_the_size_cap() {
    let mut engine = engine_acking_all(4096);
    let payload = vec![5u8; 1000];
    let results = engine.execute_batch(&writes(&payload, 300)).unwrap();
    assert_eq!(results.len(), 300);
    let requests = engine.transport().requests.lock().unwrap();
    assert!(requests.len() >= 300 * (NLMSG_HDRLEN + 1000) / MAX_BATCH_DATAGRAM);
    assert!(requests.iter().all(|d| d.len() <= MAX_BATCH_DATAGRAM));
    let total: usize = requests
        .iter()
        .map(|d| ipvs::datagram::messages(d).count())
        .sum();
    assert_eq!(total, 300);
}

#[test]
fn acks_arriving_out_of_order_are_matched_by_sequence() {
    // The fake holds every ACK back and releases them newest first, with a
    // stale ACK of an older request mixed in.
    let mut held = Vec::new();
    let mut fake = FakeKernel::new(move |req, payload| {
        let reply = if payload[0] == 7 {
            error(req, nix_errno::ENOENT, None)
        } else {
            ack(req)
        };
        held.push(kernel(reply));
        if payload[1] == 9 {
            let mut stale = MessageHeader { ..*req };
            stale.sequence = req.sequence.wrapping_sub(100);
            held.push(kernel(error(&stale, nix_errno::EINVAL, None)));
            held.reverse();
            std::mem::take(&mut held)
        } else {
            vec![]
        }
    });
    fake.receive_queue = 64 * ACK_RECEIVE_BUDGET;
    let mut engine = Engine::new(fake);
    let payloads: Vec<[u8; 4]> = vec![[5, 1, 0, 0], [7, 1, 0, 0], [5, 1, 0, 0], [5, 9, 0, 0]];
    let requests: Vec<Request<'_>> = payloads
        .iter()
        .map(|p| Request {
            op: Op::DeleteDestination,
            message_type: FAMILY,
            kind: RequestKind::Acked,
            payload: p,
        })
        .collect();
    let results = engine.execute_batch(&requests).unwrap();
    assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
    assert!(
        matches!(&results[1], Err(Error::Kernel { errno, op: Op::DeleteDestination, .. }) if *errno == nix_errno::ENOENT),
        "{:?}",
        results[1]
    );
}

#[test]
fn lost_acks_are_reported_per_request_and_shrink_the_window() {
    // First window of 8: ACKs 0..3 arrive, then the queue overflows and the
    // rest of that window's ACKs are dropped. Later windows are fine.
    let mut seen = 0;
    let mut fake = FakeKernel::new(move |req, _| {
        seen += 1;
        match seen {
            1..=3 => vec![kernel(ack(req))],
            4 => vec![Delivery::Fail(nix_errno::ENOBUFS)],
            5..=8 => vec![],
            _ => vec![kernel(ack(req))],
        }
    });
    fake.receive_queue = 8 * ACK_RECEIVE_BUDGET;
    let mut engine = Engine::new(fake);
    engine.set_timeout(Duration::from_millis(200));
    let payload = [5u8, 1, 0, 0];
    let results = engine.execute_batch(&writes(&payload, 20)).unwrap();
    assert_eq!(results.len(), 20);
    for (i, r) in results.iter().enumerate() {
        if (3..8).contains(&i) {
            assert!(
                matches!(
                    r,
                    Err(Error::Overrun {
                        op: Op::AddDestination
                    })
                ),
                "{i}: {r:?}"
            );
        } else {
            assert!(r.is_ok(), "{i}: {r:?}");
        }
    }
    assert_eq!(engine.batch_window(), 4, "halved after the loss");
    let sizes = messages_per_datagram(engine.transport());
    assert_eq!(sizes, vec![8, 4, 4, 4]);
}

#[test]
fn a_silent_kernel_fails_the_batch_with_a_timeout() {
    let mut seen = 0;
    let mut fake = FakeKernel::new(move |req, _| {
        seen += 1;
        if seen == 2 {
            vec![]
        } else {
            vec![kernel(ack(req))]
        }
    });
    fake.receive_queue = 8 * ACK_RECEIVE_BUDGET;
    let mut engine = Engine::new(fake);
    engine.set_timeout(Duration::from_millis(100));
    let payload = [5u8, 1, 0, 0];
    let start = std::time::Instant::now();
    let err = engine.execute_batch(&writes(&payload, 4)).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    // The engine stays usable: the next request gets a fresh number and
    // the leftover ACKs of the failed batch are skipped as stale.
    let next = engine
        .execute(&Request {
            op: Op::Flush,
            message_type: FAMILY,
            kind: RequestKind::Acked,
            payload: &[17, 1, 0, 0],
        })
        .unwrap();
    assert!(next.is_empty());
}

#[test]
fn an_empty_batch_sends_nothing() {
    let (ipvs, requests) = handle(|req, _| vec![kernel(ack(req))]);
    let before = requests.lock().unwrap().len();
    let outcome = ipvs.execute_batch(&Batch::new()).unwrap();
    assert!(outcome.results.is_empty() && outcome.is_success());
    assert_eq!(requests.lock().unwrap().len(), before);
}

#[test]
fn a_batch_to_a_vanished_family_id_is_resent_to_the_new_one() {
    let generation = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let kernel_side = reloadable_kernel(generation.clone());
    let requests = kernel_side.requests.clone();
    let ipvs = ipvs::Ipvs::with_transport(kernel_side).unwrap();
    *generation.lock().unwrap() = 1; // module reloaded: new id
    let mut batch = Batch::new();
    batch.delete_service(&key(1)).unwrap();
    batch.delete_service(&key(2)).unwrap();
    let outcome = ipvs.execute_batch(&batch).unwrap();
    assert!(outcome.is_success(), "{:?}", outcome.results);
    let types: Vec<u16> = sent_messages(&requests)
        .iter()
        .map(|d| d[0].0.message_type)
        .collect();
    assert_eq!(types, vec![0x10, FAMILY, 0x10, FAMILY + 1]);

    // With the same id, ENOENT keeps its meaning and nothing is resent.
    let mut batch = Batch::new();
    batch
        .add_service(&Service::new(key(3), Scheduler::Other("nope".into())))
        .unwrap();
    let (ipvs, requests) = handle(|req, _| vec![kernel(error(req, nix_errno::ENOENT, None))]);
    let outcome = ipvs.execute_batch(&batch).unwrap();
    assert!(
        matches!(&outcome.results[0], Err(Error::UnknownSchedulerOrPe { scheduler, .. }) if scheduler == "nope"),
        "{:?}",
        outcome.results
    );
    let ipvs_datagrams = sent_messages(&requests)
        .iter()
        .filter(|d| d[0].0.message_type == FAMILY)
        .count();
    assert_eq!(ipvs_datagrams, 1);
}

/// How many messages each datagram the fake kernel received held.
fn messages_per_datagram(kernel: &FakeKernel) -> Vec<usize> {
    kernel
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|d| ipvs::datagram::messages(d).count())
        .collect()
}
