// SPDX-License-Identifier: MIT OR Apache-2.0
//! Batched writes against a scripted fake kernel: many requests per
//! datagram, each ACK or error attributed to its request by sequence
//! number, the in-flight window sized from the receive queue, and the
//! ENOBUFS and deadline paths, through both handles. No root needed.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use ipvs::ipvs_sys::{IpvsAttribute, IpvsCmd, ServiceAttribute};
use ipvs::testing::{ACK_RECEIVE_BUDGET, MAX_DATAGRAM, MessageHeader};
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
            ipvs::testing::messages(datagram)
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

/// `n` deletes of services 0..n.
fn deletes(n: u32) -> Batch {
    let mut batch = Batch::new();
    for i in 0..n {
        batch.delete_service(&key(i)).unwrap();
    }
    batch
}

/// A kernel acknowledging everything, with a receive queue of `window`
/// ACKs.
fn acking_all(window: usize) -> FakeKernel {
    let mut fake = ipvs_kernel(|req, _| vec![kernel(ack(req))]);
    fake.receive_queue = window * ACK_RECEIVE_BUDGET;
    fake
}

/// How many messages each IPVS datagram sent held (GETFAMILY left out).
fn messages_per_datagram(requests: &Requests) -> Vec<usize> {
    sent_messages(requests)
        .iter()
        .filter(|d| d[0].0.message_type == FAMILY)
        .map(Vec::len)
        .collect()
}

#[test]
fn window_from_the_receive_queue_bounds_acks_in_flight() {
    for (handle, requests) in Handle::both(|| acking_all(10), Duration::from_millis(200)) {
        let outcome = on!(handle, execute_batch(&deletes(35))).unwrap();
        assert_eq!(outcome.results.len(), 35);
        assert!(outcome.is_success(), "{}", handle.driver());
        // Every window drained before the next was sent: 10 + 10 + 10 + 5.
        assert_eq!(messages_per_datagram(&requests), vec![10, 10, 10, 5]);
    }
    // Never more ACKs queued than the window.
    let fake = acking_all(10);
    let max_queued = fake.max_queued.clone();
    let ipvs = ipvs::Ipvs::with_transport(fake).unwrap();
    ipvs.execute_batch(&deletes(35)).unwrap();
    assert_eq!(max_queued.load(Ordering::Relaxed), 10);
}

#[test]
fn a_tiny_receive_queue_still_makes_progress_one_by_one() {
    for (handle, requests) in Handle::both(|| acking_all(0), Duration::from_millis(200)) {
        assert!(
            on!(handle, execute_batch(&deletes(3)))
                .unwrap()
                .is_success()
        );
        assert_eq!(messages_per_datagram(&requests), vec![1, 1, 1]);
    }
}

#[test]
fn datagrams_never_exceed_the_size_cap() {
    for (handle, requests) in Handle::both(|| acking_all(4096), Duration::from_secs(5)) {
        assert!(
            on!(handle, execute_batch(&deletes(3000)))
                .unwrap()
                .is_success()
        );
        let datagrams = requests.lock().unwrap();
        let batch = &datagrams[1..];
        let bytes: usize = batch.iter().map(Vec::len).sum();
        assert!(
            bytes > 2 * MAX_DATAGRAM,
            "{bytes}: enough to need three datagrams"
        );
        assert!(batch.iter().all(|d| d.len() <= MAX_DATAGRAM));
        assert_eq!(
            batch.len(),
            bytes.div_ceil(MAX_DATAGRAM),
            "each datagram filled"
        );
        let total: usize = batch
            .iter()
            .map(|d| ipvs::testing::messages(d).count())
            .sum();
        assert_eq!(total, 3000);
    }
}

#[test]
fn acks_arriving_out_of_order_are_matched_by_sequence() {
    // The fake holds every ACK back and releases them newest first, with a
    // stale NACK of an older request mixed in; service 1 is missing.
    let make = || {
        let mut held = Vec::new();
        let mut fake = ipvs_kernel(move |req, message| {
            let reply = if port_of(&message) == 1001 {
                error(req, nix_errno::ESRCH, None)
            } else {
                ack(req)
            };
            held.push(kernel(reply));
            if port_of(&message) == 1003 {
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
        fake
    };
    for (handle, _) in Handle::both(make, Duration::from_secs(5)) {
        let outcome = on!(handle, execute_batch(&deletes(4))).unwrap();
        let r = &outcome.results;
        assert!(r[0].is_ok() && r[2].is_ok() && r[3].is_ok(), "{r:?}");
        assert!(
            matches!(&r[1], Err(Error::NoSuchService { op: Op::DeleteService, service: Some(k) }) if *k == key(1)),
            "{:?}",
            r[1]
        );
    }
}

#[test]
fn lost_acks_are_reported_per_request_and_shrink_the_window() {
    // First window of 8: ACKs 0..3 arrive, then the queue overflows and the
    // rest of that window's ACKs are dropped. Later windows are fine.
    let make = || {
        let mut seen = 0;
        let mut fake = ipvs_kernel(move |req, _| {
            seen += 1;
            match seen {
                1..=3 => vec![kernel(ack(req))],
                4 => vec![Delivery::Fail(nix_errno::ENOBUFS)],
                5..=8 => vec![],
                _ => vec![kernel(ack(req))],
            }
        });
        fake.receive_queue = 8 * ACK_RECEIVE_BUDGET;
        fake
    };
    for (handle, requests) in Handle::both(make, Duration::from_millis(200)) {
        let outcome = on!(handle, execute_batch(&deletes(20))).unwrap();
        for (i, r) in outcome.results.iter().enumerate() {
            if (3..8).contains(&i) {
                assert!(
                    matches!(r, Err(e @ Error::Overrun { op: Op::DeleteService }) if e.may_have_applied()),
                    "{i}: {r:?}"
                );
            } else {
                assert!(r.is_ok(), "{i}: {r:?}");
            }
        }
        assert_eq!(
            messages_per_datagram(&requests),
            vec![8, 4, 4, 4],
            "halved after the loss"
        );
    }
}

#[test]
fn a_silent_kernel_times_out_the_batch_blaming_the_unanswered_request() {
    // Request 1's ACK never comes; the window is 2, so requests 2 and 3
    // are never sent.
    let make = || {
        let mut seen = 0;
        let mut fake = ipvs_kernel(move |req, _| {
            seen += 1;
            if seen == 2 {
                vec![]
            } else {
                vec![kernel(ack(req))]
            }
        });
        fake.receive_queue = 2 * ACK_RECEIVE_BUDGET;
        fake
    };
    for (handle, _) in Handle::both(make, Duration::from_millis(100)) {
        let start = Instant::now();
        let outcome = on!(handle, execute_batch(&deletes(4))).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        let r = &outcome.results;
        assert!(r[0].is_ok(), "{r:?}");
        assert!(
            matches!(&r[1], Err(e @ Error::Timeout { after, .. }) if *after == Duration::from_millis(100) && e.may_have_applied()),
            "{r:?}"
        );
        assert!(
            matches!(&r[2], Err(e @ Error::NotSent { .. }) if !e.may_have_applied()),
            "{r:?}"
        );
        assert!(matches!(&r[3], Err(Error::NotSent { .. })), "{r:?}");
        assert_eq!(outcome.first_error().map(|(i, _)| i), Some(1));
        // The handle stays usable: the late ACK would be skipped as stale.
        on!(handle, flush()).unwrap();
    }
}

#[test]
fn a_stray_ack_storm_cannot_stretch_a_batch_past_its_deadline() {
    // After the first ACK, a stale ACK every 50 ms for 10 s, each already
    // queued when the reader gets to it, and never the second request's
    // ACK: the batch must end at its 300 ms deadline all the same.
    let make = || {
        let mut seen = 0;
        ipvs_kernel(move |req, _| {
            seen += 1;
            if seen > 1 {
                return vec![];
            }
            let mut stale = MessageHeader { ..*req };
            stale.sequence = req.sequence.wrapping_sub(7);
            let mut storm = vec![kernel(ack(req))];
            for _ in 0..200 {
                storm.push(Delivery::Slow(Duration::from_millis(50), ack(&stale)));
            }
            storm
        })
    };
    for (handle, _) in Handle::both(make, Duration::from_millis(300)) {
        let start = Instant::now();
        let outcome = on!(handle, execute_batch(&deletes(2))).unwrap();
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{}: {took:?}",
            handle.driver()
        );
        assert!(outcome.results[0].is_ok());
        assert!(
            matches!(outcome.results[1], Err(Error::Timeout { .. })),
            "{:?}",
            outcome.results
        );
    }
}

#[test]
fn an_empty_batch_sends_nothing() {
    for (handle, requests) in Handle::both(|| acking_all(8), Duration::from_secs(1)) {
        let before = requests.lock().unwrap().len();
        let outcome = on!(handle, execute_batch(&Batch::new())).unwrap();
        assert!(outcome.results.is_empty() && outcome.is_success());
        assert_eq!(requests.lock().unwrap().len(), before);
    }
}

#[test]
fn a_batch_to_a_vanished_family_id_is_resent_to_the_new_one() {
    let generation = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let kernel_side = reloadable_kernel(generation.clone());
    let requests = kernel_side.requests.clone();
    let ipvs = ipvs::Ipvs::with_transport(kernel_side).unwrap();
    *generation.lock().unwrap() = 1; // module reloaded: new id
    let outcome = ipvs.execute_batch(&deletes(2)).unwrap();
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

#[test]
fn an_apply_whose_third_ack_is_lost_blames_the_third_step_and_undoes_it() {
    // An empty table; the third write is applied but its ACK never comes.
    let make = || {
        let mut writes = 0;
        let mut fake = ipvs_kernel(move |req, message| match message.cmd {
            IpvsCmd::GetService | IpvsCmd::GetDest => vec![kernel(done(req, 0))],
            _ => {
                writes += 1;
                if writes == 3 {
                    vec![]
                } else {
                    vec![kernel(ack(req))]
                }
            }
        });
        fake.receive_queue = 64 * ACK_RECEIVE_BUDGET;
        fake
    };
    let desired: Vec<ipvs::ServiceState> = (0..4)
        .map(|n| ipvs::ServiceState::new(Service::new(key(n), Scheduler::RoundRobin)))
        .collect();
    for (handle, _) in Handle::both(make, Duration::from_millis(200)) {
        let err = on!(handle, apply(&desired, &ipvs::ApplyOptions::default())).unwrap_err();
        let Error::ApplyFailed {
            step,
            command,
            cause,
            rollback,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*step, 2, "{err}");
        assert_eq!(command, &format!("-A {} -s rr", key(2).ipvsadm_args()));
        assert!(matches!(**cause, Error::Timeout { .. }), "{cause:?}");
        // Steps 0, 1 and 3 were acknowledged, 2 may have been applied: all
        // four are undone.
        assert!(
            matches!(rollback, ipvs::Rollback::Complete { undone: 4 }),
            "{rollback}"
        );
    }
}
