// SPDX-License-Identifier: MIT OR Apache-2.0
//! The rollback paths of `apply`, which only faults reach, played by
//! `ipvs::fake` through both handles: a rollback that fails itself, a step
//! whose fate is unknown, a transport that fails mid-batch. No root needed.

mod common;

use std::time::Duration;

use common::{Handle, fake_handles, writes};
use ipvs::fake::{FakeIpvs, Fault, When};
use ipvs::testing::ACK_RECEIVE_BUDGET;
use ipvs::{
    ApplyOptions, Destination, Error, Forwarding, Plan, Rollback, Scheduler, Service, ServiceKey,
    ServiceState, Snapshot,
};

const TIMEOUT: Duration = Duration::from_millis(200);

fn key(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn dest(text: &str) -> Destination {
    Destination::new(text.parse().unwrap(), Forwarding::Masquerade)
}

/// The table the tests start from.
fn before() -> Vec<ServiceState> {
    vec![
        ServiceState::new(Service::new(
            key("tcp:203.0.113.1:80"),
            Scheduler::RoundRobin,
        ))
        .with_destination(dest("198.51.100.1:80"))
        .with_destination(dest("198.51.100.2:80")),
        ServiceState::new(Service::new(
            key("udp:203.0.113.1:53"),
            Scheduler::RoundRobin,
        ))
        .with_destination(dest("198.51.100.1:53")),
    ]
}

/// What they apply: five steps, in plan order
/// 0 `-d -t 203.0.113.1:80 -r 198.51.100.2:80`,
/// 1 `-D -u 203.0.113.1:53`,
/// 2 `-E -t 203.0.113.1:80 -s wlc`,
/// 3 `-A -t 203.0.113.2:443 -s lc`,
/// 4 `-a -t 203.0.113.2:443 -r 198.51.100.9:443 -m -w 1`.
fn after() -> Vec<ServiceState> {
    vec![
        ServiceState::new(Service::new(
            key("tcp:203.0.113.1:80"),
            Scheduler::WeightedLeastConnection,
        ))
        .with_destination(dest("198.51.100.1:80")),
        ServiceState::new(Service::new(
            key("tcp:203.0.113.2:443"),
            Scheduler::LeastConnection,
        ))
        .with_destination(dest("198.51.100.9:443")),
    ]
}

/// The table in a fixed order, to compare.
fn sorted(mut snapshot: Snapshot) -> Snapshot {
    snapshot.services.sort_by_key(|s| s.service.key.to_string());
    for state in &mut snapshot.services {
        state.destinations.sort_by_key(|d| d.addr);
    }
    snapshot
}

/// A fake holding `before()` (set up through the blocking handle), and the
/// plan from it to `after()`.
fn prepared(fake: &FakeIpvs) -> (Snapshot, Plan) {
    let ipvs = fake.handle().unwrap();
    ipvs.apply(&before(), &ApplyOptions::default()).unwrap();
    let plan = ipvs.plan(&after(), &ApplyOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "-d -t 203.0.113.1:80 -r 198.51.100.2:80\n\
         -D -u 203.0.113.1:53\n\
         -E -t 203.0.113.1:80 -s wlc\n\
         -A -t 203.0.113.2:443 -s lc\n\
         -a -t 203.0.113.2:443 -r 198.51.100.9:443 -m -w 1\n"
    );
    (sorted(fake.snapshot()), plan)
}

fn each_driver(make: impl Fn() -> FakeIpvs, test: impl Fn(&FakeIpvs, &Handle, Snapshot, Plan)) {
    for index in 0..2 {
        let fake = make();
        let (table, plan) = prepared(&fake);
        let handles = fake_handles(&fake, TIMEOUT);
        eprintln!("driver: {}", handles[index].driver());
        test(&fake, &handles[index], table, plan);
    }
}

#[test]
fn a_rollback_that_fails_names_the_inverse_step_and_why() {
    each_driver(FakeIpvs::new, |fake, h, table, plan| {
        // Step 3 (-A) is refused; the rollback undoes 2, 1 (re-adding the
        // service, then its destination) and 0, newest first, as one batch:
        // its second write, re-adding the deleted service, is refused too.
        fake.inject(When::Write(3), Fault::Refuse(12));
        fake.inject(When::Write(plan.len() + 1), Fault::Refuse(28));
        let err = on!(h, apply_plan(&plan)).unwrap_err();
        let Error::ApplyFailed {
            step,
            command,
            cause,
            rollback,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (*step, command.as_str()),
            (3, "-A -t 203.0.113.2:443 -s lc")
        );
        assert!(
            matches!(**cause, Error::Kernel { errno: 12, .. }),
            "{cause:?}"
        );
        let Rollback::Failed {
            step: Some(undo),
            cause,
            left,
        } = rollback
        else {
            panic!("{rollback:?}")
        };
        assert_eq!(undo, "-A -u 203.0.113.1:53 -s rr");
        assert!(
            matches!(**cause, Error::Kernel { errno: 28, .. }),
            "{cause:?}"
        );
        // What is left to undo: the refused re-add, and the re-add of its
        // destination, which failed without its service.
        assert_eq!(
            left,
            &[
                "-A -u 203.0.113.1:53 -s rr",
                "-a -u 203.0.113.1:53 -r 198.51.100.1:53 -m -w 1",
            ]
        );
        assert!(!rollback.is_complete());
        assert!(
            err.to_string()
                .contains("ROLLBACK FAILED at `-A -u 203.0.113.1:53 -s rr`")
        );
        // The table is in neither state: the deleted service is gone, and
        // the rest of the rollback (sent in the same batch) was applied,
        // its destination's re-add failing without its service.
        let now = sorted(fake.snapshot());
        assert_ne!(now, table);
        assert!(now.service(&key("udp:203.0.113.1:53")).is_none());
        assert_eq!(
            now.service(&key("tcp:203.0.113.1:80"))
                .unwrap()
                .service
                .scheduler,
            Scheduler::RoundRobin
        );
    });
}

#[test]
fn a_step_whose_ack_overran_is_undone_and_the_table_is_as_it_was() {
    each_driver(FakeIpvs::new, |fake, h, table, plan| {
        // Step 2 (-E) is applied and its ACK lost to an overrun: unknown
        // fate. Step 4 is refused, so the apply fails and rolls back.
        fake.inject(When::Write(2), Fault::Overrun);
        fake.inject(When::Write(4), Fault::Refuse(12));
        let err = on!(h, apply_plan(&plan)).unwrap_err();
        let Error::ApplyFailed {
            step,
            cause,
            rollback,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*step, 2, "the first step that failed is the overrun one");
        assert!(matches!(**cause, Error::Overrun { .. }), "{cause:?}");
        assert!(cause.may_have_applied());
        // Undone: 3 (-A), 2 (-E, whose fate was unknown), 1 (-A and -a), 0.
        assert!(
            matches!(rollback, Rollback::Complete { undone: 5 }),
            "{rollback:?}"
        );
        assert_eq!(sorted(fake.snapshot()), table);
    });
}

#[test]
fn a_step_of_unknown_fate_that_never_happened_is_no_rollback_failure() {
    each_driver(FakeIpvs::new, |fake, h, table, plan| {
        // Step 3 (-A) is refused, but its reply is lost to an overrun on
        // the way: unknown fate, though it never happened. Undoing it
        // (-D) finds nothing, which for a step of unknown fate is no
        // failure.
        fake.inject(When::Write(3), Fault::Refuse(12));
        fake.inject(When::Write(3), Fault::Overrun);
        fake.inject(When::Write(4), Fault::Refuse(12));
        let err = on!(h, apply_plan(&plan)).unwrap_err();
        let Error::ApplyFailed { step, rollback, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*step, 3);
        assert!(rollback.is_complete(), "{rollback:?}");
        assert_eq!(sorted(fake.snapshot()), table);
    });
}

/// The lost ACK uses up the call's deadline; the rollback runs within a
/// deadline of its own, so it completes.
#[test]
fn a_step_whose_ack_was_lost_is_undone_and_the_table_is_as_it_was() {
    each_driver(FakeIpvs::new, |fake, h, table, plan| {
        // Step 2 (-E) is applied and its ACK lost: the batch waits for it
        // until the deadline, then rolls back every step, that one too.
        fake.inject(When::Write(2), Fault::LoseReply);
        let err = on!(h, apply_plan(&plan)).unwrap_err();
        let Error::ApplyFailed {
            step,
            cause,
            rollback,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*step, 2);
        assert!(matches!(**cause, Error::Timeout { .. }), "{cause:?}");
        assert!(
            matches!(rollback, Rollback::Complete { undone: 6 }),
            "{rollback:?}"
        );
        assert_eq!(sorted(fake.snapshot()), table);
    });
}

#[test]
fn a_transport_failure_mid_batch_blames_the_first_step_it_cut_off() {
    // A receive queue of two ACKs: the plan goes in datagrams of steps
    // [0, 1], [2, 3], [4]. The second fails to send: 0 and 1 were applied,
    // 2 and 3 never reached the kernel (though the call cannot know), 4
    // was never sent.
    let small = || {
        FakeIpvs::builder()
            .receive_queue(2 * ACK_RECEIVE_BUDGET)
            .build()
    };
    each_driver(small, |fake, h, table, plan| {
        let writes_before = writes(fake);
        fake.fail_send(1, 5);
        let err = on!(h, apply_plan(&plan)).unwrap_err();
        let Error::ApplyFailed {
            step,
            command,
            cause,
            rollback,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (*step, command.as_str()),
            (2, "-E -t 203.0.113.1:80 -s wlc"),
            "not step 0"
        );
        assert!(
            matches!(&**cause, Error::Io { source, .. } if source.raw_os_error() == Some(5)),
            "{cause:?}"
        );
        // Undone: 3 finds nothing to delete (no failure, its fate being
        // unknown); 2 is edited back, harmlessly; 1 (-A and -a) and 0.
        assert!(
            matches!(rollback, Rollback::Complete { undone: 4 }),
            "{rollback:?}"
        );
        assert_eq!(sorted(fake.snapshot()), table);
        // Two steps reached the kernel, then the rollback's five writes.
        assert_eq!(writes(fake) - writes_before, 2 + 5);
    });
}
