// SPDX-License-Identifier: MIT OR Apache-2.0
//! The worked examples of ipvs-reference.md §5 (each checked there against a
//! line-by-line transcription of the kernel code), run against both the fast
//! schedulers and the reference model.

use std::net::{IpAddr, Ipv4Addr};

use lb_sched::reference::Model;
use lb_sched::{
    AnyScheduler, Clock, ConnState, DEFAULT_EXPIRATION_MS, DestConfig, DestId, Error, Flow, Fo,
    Lblc, Lblcr, Lc, Nq, Ovf, Rr, Scheduler, Sed, Service, Wlc, Wrr,
};

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

/// Adds dests named 'A', 'B', ... with the given weights, in this order.
fn service<S: Scheduler>(sched: S, weights: &[(char, u32)]) -> (Service<S>, Vec<(char, DestId)>) {
    let mut svc = Service::new(sched);
    let ids = weights
        .iter()
        .map(|&(c, w)| (c, svc.add(DestConfig::new(ip(c as u8), 80, w)).unwrap()))
        .collect();
    (svc, ids)
}

fn name_of(ids: &[(char, DestId)], id: Option<DestId>) -> char {
    match id {
        None => '-',
        Some(id) => ids.iter().find(|(_, i)| *i == id).unwrap().0,
    }
}

fn picks<S: Scheduler>(svc: &mut Service<S>, ids: &[(char, DestId)], n: usize) -> String {
    (0..n).map(|_| name_of(ids, svc.pick())).collect()
}

/// The same sequence from the reference model, for dests added in `weights` order.
fn model_picks(name: &str, weights: &[(char, u32)], n: usize) -> String {
    let mut m = Model::new(name, 0).unwrap();
    for &(c, w) in weights {
        m.add(DestConfig::new(ip(c as u8), 80, w)).unwrap();
    }
    (0..n)
        .map(|_| match m.pick(&Flow::UNSPECIFIED) {
            None => '-',
            Some((IpAddr::V4(a), _)) => a.octets()[3] as char,
            Some(_) => unreachable!(),
        })
        .collect()
}

/// Sets `active` established and `inactive` inactive connections on a dest.
fn load<S: Scheduler>(svc: &mut Service<S>, id: DestId, active: u32, inactive: u32) {
    for _ in 0..active {
        svc.conn_new(id, ConnState::Inactive).unwrap();
        svc.conn_established(id).unwrap();
    }
    for _ in 0..inactive {
        svc.conn_new(id, ConnState::Inactive).unwrap();
    }
}

#[test]
fn rr_starts_at_the_most_recently_added_and_cycles_in_list_order() {
    let w = [('A', 1), ('B', 1), ('C', 1)];
    let (mut svc, ids) = service(Rr::new(), &w);
    assert_eq!(picks(&mut svc, &ids, 6), "CBACBA");
    assert_eq!(model_picks("rr", &w, 6), "CBACBA");
}

#[test]
fn rr_skips_weight_zero() {
    let (mut svc, ids) = service(Rr::new(), &[('A', 1), ('B', 1), ('C', 1)]);
    svc.set_weight(ids[1].1, 0).unwrap();
    assert_eq!(picks(&mut svc, &ids, 4), "CACA");
}

#[test]
fn rr_continues_after_a_removed_position() {
    let (mut svc, ids) = service(Rr::new(), &[('A', 1), ('B', 1), ('C', 1)]);
    assert_eq!(picks(&mut svc, &ids, 2), "CB");
    svc.remove(ids[1].1).unwrap();
    assert_eq!(picks(&mut svc, &ids, 3), "ACA");
}

#[test]
fn wrr_fresh_bind_on_existing_list() {
    // List A, B, C (so added C, B, A), scheduler bound afterwards: cw = mw.
    let mut svc2 = Service::new(Wrr::new());
    for (c, w) in [('C', 2), ('B', 3), ('A', 4)] {
        svc2.add(DestConfig::new(ip(c as u8), 80, w)).unwrap();
    }
    svc2.rebind(Wrr::new()).unwrap();
    let ids2: Vec<_> = ['A', 'B', 'C']
        .iter()
        .map(|&c| (c, svc2.find(ip(c as u8), 80).unwrap()))
        .collect();
    assert_eq!(picks(&mut svc2, &ids2, 9), "AABABCABC");
}

#[test]
fn wrr_added_one_by_one() {
    let w = [('A', 4), ('B', 3), ('C', 2)];
    let (mut svc, ids) = service(Wrr::new(), &w);
    assert_eq!(picks(&mut svc, &ids, 9), "CBAABACBA");
    assert_eq!(picks(&mut svc, &ids, 9), "CBAABACBA");
    assert_eq!(model_picks("wrr", &w, 18), "CBAABACBACBAABACBA");
}

#[test]
fn wrr_weights_one_and_two() {
    let w = [('A', 1), ('B', 2)];
    let (mut svc, ids) = service(Wrr::new(), &w);
    assert_eq!(picks(&mut svc, &ids, 9), "BABBABBAB");
    assert_eq!(model_picks("wrr", &w, 9), "BABBABBAB");

    let w = [('B', 2), ('A', 1)];
    let (mut svc, ids) = service(Wrr::new(), &w);
    assert_eq!(picks(&mut svc, &ids, 9), "ABBABBABB");
    assert_eq!(model_picks("wrr", &w, 9), "ABBABBABB");

    // Fresh bind on list A(1), B(2).
    let (mut svc, ids) = service(Wrr::new(), &[('B', 2), ('A', 1)]);
    svc.rebind(Wrr::new()).unwrap();
    assert_eq!(picks(&mut svc, &ids, 6), "BABBAB");
}

#[test]
fn wrr_gcd_steps() {
    let (mut svc, ids) = service(Wrr::new(), &[('B', 2), ('A', 4)]);
    svc.rebind(Wrr::new()).unwrap();
    assert_eq!(svc.scheduler().state(), (3, 3, 2));
    assert_eq!(picks(&mut svc, &ids, 6), "AABAAB");
}

#[test]
fn wrr_reacts_to_a_delete() {
    let (mut svc, ids) = service(Wrr::new(), &[('C', 2), ('B', 3), ('A', 4)]);
    svc.rebind(Wrr::new()).unwrap();
    assert_eq!(picks(&mut svc, &ids, 4), "AABA");
    assert_eq!(svc.scheduler().state().0, 2);
    svc.remove(ids[1].1).unwrap();
    assert_eq!(svc.scheduler().state(), (3, 3, 2));
    assert_eq!(picks(&mut svc, &ids, 8), "AACAACAA");
}

/// The largest weights, where the kernel model is too slow to be the oracle:
/// with the heaviest dest overloaded, every pick walks ~2³¹ passes in the
/// kernel (and in `Model`), and the fast wrr skips them arithmetically.
#[test]
fn wrr_largest_weights_and_an_overloaded_heavy_dest() {
    let max = lb_sched::MAX_WEIGHT;
    let weights = [('C', 1), ('B', max - 1), ('A', max)];
    // Nothing overloaded: the model is fast enough here, and agrees.
    let (mut svc, ids) = service(Wrr::new(), &weights);
    assert_eq!(picks(&mut svc, &ids, 8), model_picks("wrr", &weights, 8));

    // A (max) and B (max - 1) overloaded: only C (1) is eligible. From any
    // state the kernel lowers cw pass by pass until 1, picks C, and wraps
    // to mw again at the next pick: always C, and cw = 1 after each pick.
    let (mut svc, ids) = service(Wrr::new(), &weights);
    svc.rebind(Wrr::new()).unwrap();
    for &(_, id) in &ids[1..] {
        svc.edit(id, svc.dest(id).unwrap().weight(), 1, 0).unwrap();
        svc.conn_new(id, ConnState::Inactive).unwrap();
        assert!(svc.dest(id).unwrap().overloaded());
    }
    assert_eq!(picks(&mut svc, &ids, 6), "CCCCCC");
    assert_eq!(svc.scheduler().state(), (1, max as i64, 1));
}

#[test]
fn wrr_weight_zero_and_empty() {
    let (mut svc, ids) = service(Wrr::new(), &[('A', 0), ('B', 0)]);
    assert_eq!(picks(&mut svc, &ids, 3), "---");
    svc.set_weight(ids[0].1, 5).unwrap();
    assert_eq!(picks(&mut svc, &ids, 3), "AAA");
    let mut empty = Service::new(Wrr::new());
    assert_eq!(empty.pick(), None);
}

#[test]
fn lc_and_wlc_differ_on_weight() {
    for lc in [true, false] {
        let sched: Box<dyn Scheduler> = if lc {
            Box::new(Lc::new())
        } else {
            Box::new(Wlc::new())
        };
        let mut svc = Service::new(sched);
        // list order [A, B, C]: add C, B, A
        let c = svc.add(DestConfig::new(ip(3), 80, 3)).unwrap();
        let b = svc.add(DestConfig::new(ip(2), 80, 2)).unwrap();
        let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
        load(&mut svc, a, 1, 0);
        load(&mut svc, b, 1, 10);
        load(&mut svc, c, 2, 0);
        assert_eq!(svc.pick(), Some(if lc { a } else { b }));
    }
}

#[test]
fn wlc_tie_keeps_the_earlier_dest() {
    let mut svc = Service::new(Wlc::new());
    let b = svc.add(DestConfig::new(ip(2), 80, 2)).unwrap();
    let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
    load(&mut svc, a, 1, 0);
    load(&mut svc, b, 2, 0);
    assert_eq!(svc.pick(), Some(a));
}

#[test]
fn sed_examples() {
    let mut svc = Service::new(Sed::new());
    let b = svc.add(DestConfig::new(ip(2), 80, 2)).unwrap();
    let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
    load(&mut svc, a, 1, 0);
    load(&mut svc, b, 2, 0);
    assert_eq!(svc.pick(), Some(b));

    let mut svc = Service::new(Sed::new());
    let c = svc.add(DestConfig::new(ip(3), 80, 3)).unwrap();
    let b = svc.add(DestConfig::new(ip(2), 80, 2)).unwrap();
    let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
    load(&mut svc, a, 1, 0);
    load(&mut svc, b, 1, 10);
    load(&mut svc, c, 2, 0);
    assert_eq!(svc.pick(), Some(b));
}

#[test]
fn nq_returns_the_first_idle_dest() {
    let mut svc = Service::new(Nq::new());
    let b = svc.add(DestConfig::new(ip(2), 80, 5)).unwrap();
    let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
    load(&mut svc, a, 0, 50);
    assert_eq!(svc.pick(), Some(a));
    load(&mut svc, a, 1, 0);
    assert_eq!(svc.pick(), Some(b));
}

#[test]
fn fo_and_ovf_examples() {
    let build = |s: AnyScheduler, loads: &[(u32, u32)]| {
        let mut svc = Service::new(s);
        let mut ids = Vec::new();
        for (i, &(w, act)) in loads.iter().enumerate().rev() {
            let id = svc.add(DestConfig::new(ip(i as u8 + 1), 80, w)).unwrap();
            load(&mut svc, id, act, 0);
            ids.push(id);
        }
        ids.reverse();
        let got = svc.pick();
        ids.iter().position(|&i| Some(i) == got)
    };
    let l1 = [(100, 120), (100, 5), (50, 10)];
    assert_eq!(build(AnyScheduler::Fo(Fo::new()), &l1), Some(0));
    assert_eq!(build(AnyScheduler::Ovf(Ovf::new()), &l1), Some(1));
    assert_eq!(
        build(AnyScheduler::Ovf(Ovf::new()), &[(2, 2), (3, 4), (1, 0)]),
        Some(0)
    );
}

#[test]
fn overload_upper_and_lower_thresholds() {
    let mut svc = Service::new(Rr::new());
    let b = svc.add(DestConfig::new(ip(2), 80, 1)).unwrap();
    let a = svc
        .add(DestConfig::new(ip(1), 80, 1).thresholds(4, 2))
        .unwrap();
    for _ in 0..3 {
        svc.conn_new(a, ConnState::Inactive).unwrap();
    }
    assert!(!svc.dest(a).unwrap().overloaded());
    svc.conn_new(a, ConnState::Active).unwrap(); // total 4 = u_threshold
    assert!(svc.dest(a).unwrap().overloaded());
    assert_eq!(svc.pick(), Some(b));
    assert_eq!(svc.pick(), Some(b));
    svc.conn_closed(a, ConnState::Inactive).unwrap(); // 3, not < 2
    assert!(svc.dest(a).unwrap().overloaded());
    svc.conn_closed(a, ConnState::Inactive).unwrap(); // 2, not < 2
    assert!(svc.dest(a).unwrap().overloaded());
    svc.conn_closed(a, ConnState::Inactive).unwrap(); // 1 < 2: cleared
    assert!(!svc.dest(a).unwrap().overloaded());
    // l_threshold 0: cleared below 3/4 of u_threshold.
    svc.edit(a, 1, 4, 0).unwrap();
    for _ in 0..3 {
        svc.conn_new(a, ConnState::Inactive).unwrap();
    }
    assert!(svc.dest(a).unwrap().overloaded()); // 4 total
    svc.conn_closed(a, ConnState::Active).unwrap(); // 3: 12 < 12 false
    assert!(svc.dest(a).unwrap().overloaded());
    svc.conn_closed(a, ConnState::Inactive).unwrap(); // 2: 8 < 12
    assert!(!svc.dest(a).unwrap().overloaded());
    // Edit: a larger upper threshold clears the flag, a smaller one does not.
    svc.edit(a, 1, 2, 0).unwrap();
    svc.conn_new(a, ConnState::Inactive).unwrap(); // 3 >= 2
    assert!(svc.dest(a).unwrap().overloaded());
    svc.edit(a, 1, 1, 0).unwrap();
    assert!(svc.dest(a).unwrap().overloaded());
    svc.edit(a, 1, 5, 0).unwrap();
    assert!(!svc.dest(a).unwrap().overloaded());
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let mut svc = Service::new(Wlc::new());
    assert_eq!(
        svc.add(DestConfig::new(ip(1), 80, 1 << 31)),
        Err(Error::WeightOutOfRange(1 << 31))
    );
    assert_eq!(
        svc.add(DestConfig::new(ip(1), 80, 1).thresholds(1, 2)),
        Err(Error::ThresholdOrder { upper: 1, lower: 2 })
    );
    let a = svc.add(DestConfig::new(ip(1), 80, 1)).unwrap();
    assert_eq!(svc.add(DestConfig::new(ip(1), 80, 3)), Err(Error::Exists));
    assert_eq!(
        svc.conn_closed(a, ConnState::Active),
        Err(Error::NoSuchConn)
    );
    assert_eq!(svc.conn_established(a), Err(Error::NoSuchConn));
    svc.remove(a).unwrap();
    assert_eq!(svc.remove(a).map(|_| ()), Err(Error::UnknownDest));
    assert_eq!(svc.conn_new(a, ConnState::Active), Err(Error::UnknownDest));
    // The slot is reused, the stale handle still refused.
    let b = svc.add(DestConfig::new(ip(2), 80, 1)).unwrap();
    assert_eq!(a.index(), b.index());
    assert_eq!(svc.set_weight(a, 3), Err(Error::UnknownDest));
    assert_eq!(
        AnyScheduler::from_name("lbx", 0).map(|_| ()),
        Err(Error::UnknownScheduler)
    );
}

#[test]
fn rebinding_a_used_scheduler_starts_it_fresh() {
    // A wlc index built for one list must not leak into another service.
    let mut a = Service::new(AnyScheduler::from_name("wlc", 0).unwrap());
    for i in 0..40u8 {
        a.add(DestConfig::new(ip(i), 80, 1)).unwrap();
    }
    let used = a.rebind(AnyScheduler::from_name("rr", 0).unwrap()).unwrap();
    let (mut b, ids) = service(Rr::new(), &[('A', 1), ('B', 3)]);
    b.rebind(Rr::new()).unwrap();
    let mut b2 = Service::new(used);
    for (c, w) in [('A', 1), ('B', 3)] {
        b2.add(DestConfig::new(ip(c as u8), 80, w)).unwrap();
    }
    let mut picked = b2.pick().unwrap();
    assert_eq!(b2.dest(picked).unwrap().weight(), 3);
    // The same for wrr: a used state is reset to cw = mw on bind.
    let mut w = Service::new(Wrr::new());
    for (c, wt) in [('B', 2), ('A', 4)] {
        w.add(DestConfig::new(ip(c as u8), 80, wt)).unwrap();
    }
    let _ = w.pick();
    let old = w.rebind(Wrr::new()).unwrap();
    let mut w2 = Service::new(Wrr::new());
    for (c, wt) in [('B', 2), ('A', 4)] {
        w2.add(DestConfig::new(ip(c as u8), 80, wt)).unwrap();
    }
    w2.rebind(old).unwrap();
    assert_eq!(w2.scheduler().state(), (3, 3, 2));
    picked = b.pick().unwrap();
    assert_eq!(name_of(&ids, Some(picked)), 'B');
}

#[test]
fn rr_removed_head_position_then_add_starts_at_the_new_head() {
    // Found by the differential proptest: removing the saved dest when it is the
    // list head moves the position to the head sentinel, which comes *before* a
    // dest added afterwards (ip_vs_rr_del_dest).
    let (mut svc, mut ids) = service(Rr::new(), &[('A', 1), ('B', 1), ('C', 1)]);
    assert_eq!(picks(&mut svc, &ids, 1), "C");
    svc.remove(ids[2].1).unwrap();
    ids.push(('D', svc.add(DestConfig::new(ip(b'D'), 80, 1)).unwrap()));
    assert_eq!(picks(&mut svc, &ids, 4), "DBAD");
    assert_eq!(
        {
            let mut m = Model::new("rr", 0).unwrap();
            for c in ['A', 'B', 'C'] {
                m.add(DestConfig::new(ip(c as u8), 80, 1)).unwrap();
            }
            m.pick(&Flow::UNSPECIFIED);
            m.remove((ip(b'C'), 80)).unwrap();
            m.add(DestConfig::new(ip(b'D'), 80, 1)).unwrap();
            m.pick(&Flow::UNSPECIFIED)
        },
        Some((ip(b'D'), 80))
    );
}

/// Picks `n` connections and binds each (inactive, then established), as the
/// kernel does for TCP.
fn connect<S: Scheduler>(svc: &mut Service<S>, ids: &[(char, DestId)], n: usize) -> String {
    (0..n)
        .map(|_| {
            let id = svc.pick();
            if let Some(id) = id {
                svc.conn_new(id, ConnState::Inactive).unwrap();
                svc.conn_established(id).unwrap();
            }
            name_of(ids, id)
        })
        .collect()
}

#[test]
fn a_removed_dest_with_connections_comes_back_with_them() {
    // Seen in the lab VM (6.1 and 6.12, kernel_differential lc :82): the kernel
    // keeps a removed dest in its trash while connections hold it, and adding
    // the same address again revives it, counters and all.
    let (mut svc, ids) = service(Lc::new(), &[('A', 1), ('B', 1), ('C', 1)]);
    assert_eq!(connect(&mut svc, &ids, 6), "CBACBA");
    let b = ids[1].1;
    svc.remove(b).unwrap();
    assert_eq!(svc.find(ip(b'B'), 80), None);
    assert_eq!(svc.find_removed(ip(b'B'), 80), Some(b));
    assert!(!svc.dest(b).unwrap().in_list());
    assert_eq!(connect(&mut svc, &ids, 2), "CA");
    // Its connections still count: one is closing, one ends.
    svc.conn_closing(b).unwrap();
    svc.conn_closed(b, ConnState::Inactive).unwrap();
    assert_eq!(svc.set_weight(b, 2), Err(Error::UnknownDest));
    assert_eq!(svc.remove(b).map(|_| ()), Err(Error::UnknownDest));
    // Back at the head with the same handle and one active connection: it
    // takes two picks to reach the others' three, then wins the tie.
    assert_eq!(svc.add(DestConfig::new(ip(b'B'), 80, 1)), Ok(b));
    assert_eq!(svc.dest(b).unwrap().active(), 1);
    assert_eq!(connect(&mut svc, &ids, 5), "BBBCA");
    assert_eq!(svc.find_removed(ip(b'B'), 80), None);
}

#[test]
fn a_removed_dest_is_forgotten_once_its_connections_end() {
    let (mut svc, ids) = service(Wlc::new(), &[('A', 1), ('B', 1)]);
    let a = ids[0].1;
    assert_eq!(connect(&mut svc, &ids, 2), "BA");
    // Without connections, removing frees it at once.
    let b = ids[1].1;
    svc.conn_closed(b, ConnState::Active).unwrap();
    svc.remove(b).unwrap();
    assert_eq!(svc.dest(b), None);
    assert_eq!(svc.conn_new(b, ConnState::Active), Err(Error::UnknownDest));
    // With one, it stays until the connection ends and the list next changes.
    svc.remove(a).unwrap();
    svc.conn_closed(a, ConnState::Active).unwrap();
    assert!(svc.dest(a).is_some());
    let c = svc.add(DestConfig::new(ip(b'C'), 80, 1)).unwrap();
    assert_eq!(svc.dest(a), None);
    assert_eq!(svc.find_removed(ip(b'A'), 80), None);
    // A re-add is a new destination with a new handle.
    let a2 = svc.add(DestConfig::new(ip(b'A'), 80, 1)).unwrap();
    assert_ne!(a2, a);
    assert_eq!(svc.dest(a2).unwrap().active(), 0);
    assert_ne!(a2, c);
}

/// A flow to destination address `n` (what lblc and lblcr key their cache on).
fn to(n: u8) -> Flow {
    Flow {
        src: ip(200),
        src_port: 40000,
        dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)),
        dst_port: 80,
    }
}

/// Picks for `flow` and binds an established connection; the chosen name.
fn connect_to<S: Scheduler>(svc: &mut Service<S>, ids: &[(char, DestId)], flow: &Flow) -> char {
    let id = svc.pick_for(flow);
    if let Some(id) = id {
        svc.conn_new(id, ConnState::Inactive).unwrap();
        svc.conn_established(id).unwrap();
    }
    name_of(ids, id)
}

#[test]
fn lblc_keeps_an_address_on_its_server_until_it_is_lblc_overloaded() {
    let (mut svc, mut ids) = service(Lblc::new(), &[('A', 1), ('B', 1)]);
    // Misses go to wlc: B (the list head) first, then A.
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'B');
    assert_eq!(connect_to(&mut svc, &ids, &to(2)), 'A');
    // A hit keeps the cached server even with more load than the other.
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'B');
    // B has more active connections than weight, but no server is below half
    // its weight: still B. With C (weight 10, idle) it is lblc-overloaded.
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'B');
    ids.push(('C', svc.add(DestConfig::new(ip(b'C'), 80, 10)).unwrap()));
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    // A keeps address 2 (1 active, not above its weight).
    assert_eq!(connect_to(&mut svc, &ids, &to(2)), 'A');
    assert_eq!(svc.scheduler().cached(to(1).dst), Some((ip(b'C'), 80)));
    assert_eq!(svc.scheduler().cache_len(), 2);
}

#[test]
fn lblc_cache_stops_growing_and_its_timer_shrinks_it() {
    let clock = Clock::new();
    let lblc = Lblc::with_clock(clock.clone(), DEFAULT_EXPIRATION_MS)
        .with_tab_bits(1)
        .unwrap();
    let (mut svc, _) = service(lblc, &[('A', 1), ('B', 1)]);
    // A table of 2 buckets: a maximum size of 32, and no new entry at 48.
    for n in 1..=60 {
        assert!(svc.pick_for(&to(n)).is_some());
    }
    assert_eq!(svc.scheduler().cache_len(), 48);
    assert_eq!(svc.scheduler().cached(to(60).dst), None);
    // Over its size, the timer's run each minute drops entries unused for 6
    // minutes: none yet.
    clock.set(6 * 60 * 1000 - 1);
    svc.pick_for(&to(60));
    assert_eq!(svc.scheduler().cache_len(), 48);
    // Now all are: whole buckets go until (48 − 32) × 4/3, at most 16, have.
    clock.set(6 * 60 * 1000);
    svc.pick_for(&to(61));
    let left = svc.scheduler().cache_len();
    assert!((2..=33).contains(&left), "{left} entries left");
    assert!(svc.scheduler().cached(to(61).dst).is_some());
}

#[test]
fn lblcr_grows_a_set_and_shrinks_it_after_the_expiration() {
    let clock = Clock::new();
    let (mut svc, mut ids) = service(
        Lblcr::with_clock(clock.clone(), 1000),
        &[('A', 1), ('B', 1)],
    );
    let set = |svc: &Service<Lblcr>| -> Vec<IpAddr> {
        svc.scheduler().set_of(to(1).dst).map(|(a, _)| a).collect()
    };
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'B');
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'B');
    // B is lblc-overloaded once C (weight 10) is idle: C joins the set at its
    // head and, as its least loaded member, takes the next ones.
    ids.push(('C', svc.add(DestConfig::new(ip(b'C'), 80, 10)).unwrap()));
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    assert_eq!(set(&svc), [ip(b'C'), ip(b'B')]);
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    // In use but unchanged for longer than the expiration: the most loaded
    // member per weight (B: 2 active for weight 1) leaves the set. (Unused that
    // long, the whole entry would expire instead.)
    clock.advance(600);
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    assert_eq!(set(&svc), [ip(b'C'), ip(b'B')]);
    clock.advance(600);
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    assert_eq!(set(&svc), [ip(b'C')]);
    // Unused for longer than the expiration, the entry is still used: only
    // the collection timer's full check drops it, at its 30th run (30 minutes
    // after the service was made).
    clock.advance(5000);
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'C');
    clock.set(30 * 60 * 1000);
    assert_eq!(connect_to(&mut svc, &ids, &to(1)), 'A');
    assert_eq!(set(&svc), [ip(b'A')]);
}
