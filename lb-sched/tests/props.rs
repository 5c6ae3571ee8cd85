// SPDX-License-Identifier: MIT OR Apache-2.0
//! Property tests: the fast schedulers against the reference model on random
//! operation sequences (differential), and deterministic laws.
//! `PROPTEST_CASES` (default 256) sets the number of cases.

use std::net::{IpAddr, Ipv4Addr};

use lb_sched::harness::{Op, run, run_batched, run_with};
use lb_sched::reference::Model;
use lb_sched::{
    AnyScheduler, Clock, ConnState, DEFAULT_EXPIRATION_MS, DestConfig, DestId, Lblc, Lblcr,
    Service, Wrr,
};
use proptest::prelude::*;

mod strategies {
    use super::*;

    prop_compose! {
        fn weight()(kind in 0u8..10, small in 0u32..6, big in 0u32..1000) -> u32 {
            match kind { 0 => 0, 1..=6 => small, 7 | 8 => big, _ => small * 12 }
        }
    }

    prop_compose! {
        fn thresholds()(t in prop::option::weighted(0.3, (1u32..8, 0u32..8))) -> (u32, u32) {
            match t { None => (0, 0), Some((u, l)) => (u, if l > u { 0 } else { l }) }
        }
    }

    fn conn_state() -> impl Strategy<Value = ConnState> {
        prop_oneof![Just(ConnState::Inactive), Just(ConnState::Active)]
    }

    /// Operations over `ndests` dest indexes; picks are the most frequent.
    pub fn op(ndests: u8) -> impl Strategy<Value = Op> {
        let d = 0..ndests;
        prop_oneof![
            3 => (d.clone(), weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| Op::Add { dest, weight, upper, lower }),
            1 => d.clone().prop_map(Op::Remove),
            1 => (d.clone(), weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| Op::Edit { dest, weight, upper, lower }),
            2 => (d.clone(), conn_state()).prop_map(|(a, s)| Op::Connect(a, s)),
            1 => d.clone().prop_map(Op::Establish),
            1 => d.clone().prop_map(Op::Closing),
            2 => (d.clone(), conn_state()).prop_map(|(a, s)| Op::Close(a, s)),
            6 => (0u16..300, 0u8..7, 0u16..4, any::<bool>(), any::<bool>())
                .prop_map(|(client, dst, port, v6, bind)| Op::Pick { client, dst, port, v6, bind }),
            1 => (1u32..60000).prop_map(Op::Advance),
        ]
    }

    /// Operations for the lblc/lblcr caches: picks to 7 destination addresses
    /// (cache hits) or to any of 256 (enough to fill a small table past its
    /// maximum size), and time steps of up to 40 minutes, so the timer's runs
    /// over an oversized cache and its full checks both happen.
    pub fn locality_ops(ndests: u8) -> impl Strategy<Value = Vec<Op>> {
        let d = 0..ndests;
        let op = prop_oneof![
            2 => (d.clone(), weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| Op::Add { dest, weight, upper, lower }),
            1 => d.clone().prop_map(Op::Remove),
            1 => (d.clone(), weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| Op::Edit { dest, weight, upper, lower }),
            2 => (d.clone(), conn_state()).prop_map(|(a, s)| Op::Connect(a, s)),
            2 => (d.clone(), conn_state()).prop_map(|(a, s)| Op::Close(a, s)),
            14 => (0u16..300, prop_oneof![0u8..7, any::<u8>()], any::<bool>())
                .prop_map(|(client, dst, bind)| Op::Pick { client, dst, port: 0, v6: false, bind }),
            // Whole minutes too, so entries fall due exactly at a timer run.
            1 => prop_oneof![
                1u32..60_000,
                60_000u32..400_000,
                400_000u32..2_400_000,
                (1u32..40).prop_map(|m| m * 60_000),
            ].prop_map(Op::Advance),
        ];
        (
            prop::collection::vec(
                (0..ndests, weight()).prop_map(|(dest, weight)| Op::Add {
                    dest,
                    weight,
                    upper: 0,
                    lower: 0,
                }),
                1..(ndests as usize),
            ),
            prop::collection::vec(op, 0..400),
        )
            .prop_map(|(mut a, b)| {
                a.extend(b);
                a
            })
    }

    /// Weights that share divisors (so removing one can raise wrr's gcd) or
    /// are heavy (so removing one can lower its maximum).
    fn gcd_weight() -> impl Strategy<Value = u32> {
        prop_oneof![
            1 => Just(0u32),
            2 => 1u32..6,
            2 => (1u32..8).prop_map(|k| 2 * k),
            2 => (1u32..8).prop_map(|k| 12 * k),
            1 => (1u32..4).prop_map(|k| 1000 * k),
        ]
    }

    /// A burst of changes: adds, removes and edits mixed, or many adds, or
    /// many removes (enough for the holes to outnumber the dests).
    fn burst(ndests: u8) -> impl Strategy<Value = Vec<Op>> {
        let d = 0..ndests;
        let add = (d.clone(), gcd_weight(), thresholds())
            .prop_map(|(dest, weight, (upper, lower))| Op::Add {
                dest,
                weight,
                upper,
                lower,
            })
            .boxed();
        let edit =
            (d.clone(), gcd_weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| {
                Op::Edit {
                    dest,
                    weight,
                    upper,
                    lower,
                }
            });
        let remove = d.clone().prop_map(Op::Remove).boxed();
        let mixed = prop_oneof![4 => add.clone(), 3 => remove.clone(), 2 => edit];
        prop_oneof![
            2 => prop::collection::vec(mixed, 1..40),
            1 => prop::collection::vec(add, 20..150),
            1 => prop::collection::vec(remove, 20..250),
        ]
    }

    /// Traffic between bursts: picks that bind, and connection events.
    fn traffic(ndests: u8) -> impl Strategy<Value = Vec<Op>> {
        let d = 0..ndests;
        let op = prop_oneof![
            6 => (0u16..300, 0u8..7, 0u16..4).prop_map(|(client, dst, port)| Op::Pick { client, dst, port, v6: false, bind: true }),
            1 => d.clone().prop_map(Op::Establish),
            1 => (d.clone(), conn_state()).prop_map(|(a, s)| Op::Close(a, s)),
        ];
        prop::collection::vec(op, 0..40)
    }

    /// Rounds of a burst of changes, then traffic.
    pub fn bursts(ndests: u8) -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec((burst(ndests), traffic(ndests)), 1..12).prop_map(|rounds| {
            rounds
                .into_iter()
                .flat_map(|(changes, traffic)| changes.into_iter().chain(traffic))
                .collect()
        })
    }

    /// A sequence that first builds a list of up to `ndests` dests (so the
    /// indexed modes are exercised), then mixes everything.
    pub fn ops(ndests: u8) -> impl Strategy<Value = Vec<Op>> {
        (
            prop::collection::vec(
                (0..ndests, weight(), thresholds()).prop_map(|(dest, weight, (upper, lower))| {
                    Op::Add {
                        dest,
                        weight,
                        upper,
                        lower,
                    }
                }),
                0..(ndests as usize),
            ),
            prop::collection::vec(op(ndests), 0..300),
        )
            .prop_map(|(mut a, b)| {
                a.extend(b);
                a
            })
    }
}

/// `PROPTEST_CASES` when set, else `default` (the table-building schedulers
/// rebuild a 4093-slot table on every change, so they default to fewer cases).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

macro_rules! differential {
    ($test:ident, $name:literal, $flags:expr) => {
        differential!($test, $name, $flags, 40);
    };
    ($test:ident, $name:literal, $flags:expr, $ndests:expr) => {
        differential!($test, $name, $flags, $ndests, 256);
    };
    ($test:ident, $name:literal, $flags:expr, $ndests:expr, $cases:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases($cases)))]
            #[test]
            fn $test(ops in strategies::ops($ndests)) {
                if let Err(e) = run($name, $flags, &ops) {
                    prop_assert!(false, "{}", e);
                }
            }
        }
    };
}

differential!(rr_matches_the_kernel_model, "rr", 0);
differential!(wrr_matches_the_kernel_model, "wrr", 0);
// Enough dests for the indexed (non-small) modes of wrr and the keyed schedulers.
differential!(wrr_large_matches_the_kernel_model, "wrr", 0, 120);
differential!(wlc_large_matches_the_kernel_model, "wlc", 0, 120);
differential!(rr_large_matches_the_kernel_model, "rr", 0, 120);
differential!(lc_matches_the_kernel_model, "lc", 0);
differential!(wlc_matches_the_kernel_model, "wlc", 0);
differential!(sed_matches_the_kernel_model, "sed", 0);
differential!(nq_matches_the_kernel_model, "nq", 0);
differential!(fo_matches_the_kernel_model, "fo", 0);
differential!(ovf_matches_the_kernel_model, "ovf", 0);
differential!(sh_matches_the_kernel_model, "sh", 0, 40, 32);
differential!(
    sh_fallback_port_matches_the_kernel_model,
    "sh",
    0x18,
    40,
    32
);
differential!(dh_matches_the_kernel_model, "dh", 0, 40, 32);
differential!(mh_matches_the_kernel_model, "mh", 0, 40, 32);
differential!(
    mh_fallback_port_matches_the_kernel_model,
    "mh",
    0x18,
    40,
    32
);
differential!(twos_matches_the_kernel_model, "twos", 0);
differential!(lblc_matches_the_kernel_model, "lblc", 0);
differential!(lblc_large_matches_the_kernel_model, "lblc", 0, 120);
differential!(lblcr_matches_the_kernel_model, "lblcr", 0);
differential!(lblcr_large_matches_the_kernel_model, "lblcr", 0, 120);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    /// lblc and lblcr with an expiration that the Advance ops pass: cache
    /// entries expire and lblcr drops the most-loaded member of old sets.
    #[test]
    fn locality_schedulers_with_a_short_expiration_match_the_kernel_model(
        ops in strategies::ops(40),
        lblcr in any::<bool>(),
    ) {
        let clock = Clock::new();
        let (sched, name) = if lblcr {
            (AnyScheduler::Lblcr(Lblcr::with_clock(clock, 100_000)), "lblcr")
        } else {
            (AnyScheduler::Lblc(Lblc::with_clock(clock, 100_000)), "lblc")
        };
        let model = Model::locality(name, 100_000, lb_sched::DEFAULT_TAB_BITS).unwrap();
        if let Err(e) = run_with(sched, model, &ops) {
            prop_assert!(false, "{}", e);
        }
    }

    /// lblc and lblcr caches on small tables (at most 32 or 64 entries, no new
    /// ones past 48 or 96) over hours: the timer's runs over an oversized
    /// cache, bucket by bucket from the rover, and its full checks drop the
    /// entries the kernel's would, and the size limit refuses the same ones.
    #[test]
    fn locality_caches_are_collected_as_the_kernel_does(
        ops in strategies::locality_ops(40),
        lblcr in any::<bool>(),
        expiration in prop_oneof![
            Just(100_000u64),
            Just(120_000),
            Just(1_000_000),
            Just(1_800_000),
            Just(DEFAULT_EXPIRATION_MS),
        ],
        tab_bits in 1u32..=2,
    ) {
        let clock = Clock::new();
        let (sched, name) = if lblcr {
            let s = Lblcr::with_clock(clock, expiration).with_tab_bits(tab_bits).unwrap();
            (AnyScheduler::Lblcr(s), "lblcr")
        } else {
            let s = Lblc::with_clock(clock, expiration).with_tab_bits(tab_bits).unwrap();
            (AnyScheduler::Lblc(s), "lblc")
        };
        let model = Model::locality(name, expiration, tab_bits).unwrap();
        if let Err(e) = run_with(sched, model, &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Bursts of changes between runs of traffic, on up to 255 dests: the
/// changes go through `Service::update`, so tables rebuilt lazily (sh, dh,
/// mh) are rebuilt once per burst; wrr keeps its gcd and largest weight
/// through weights that are all multiples of one another; the removals leave
/// holes in the positions and, once they outnumber the dests, renumber them
/// (rr's position and wrr's current dest move with it).
macro_rules! bursts {
    ($test:ident, $name:literal, $flags:expr, $cases:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases($cases)))]
            #[test]
            fn $test(ops in strategies::bursts(255)) {
                let sched = AnyScheduler::from_name($name, $flags).unwrap();
                let model = Model::new($name, $flags).unwrap();
                if let Err(e) = run_batched(sched, model, &ops) {
                    prop_assert!(false, "{}", e);
                }
            }
        }
    };
}

bursts!(rr_bursts_match_the_kernel_model, "rr", 0, 128);
bursts!(wrr_bursts_match_the_kernel_model, "wrr", 0, 256);
bursts!(lc_bursts_match_the_kernel_model, "lc", 0, 64);
bursts!(wlc_bursts_match_the_kernel_model, "wlc", 0, 64);
bursts!(sed_bursts_match_the_kernel_model, "sed", 0, 32);
bursts!(nq_bursts_match_the_kernel_model, "nq", 0, 32);
bursts!(fo_bursts_match_the_kernel_model, "fo", 0, 32);
bursts!(ovf_bursts_match_the_kernel_model, "ovf", 0, 32);
bursts!(twos_bursts_match_the_kernel_model, "twos", 0, 64);
bursts!(sh_bursts_match_the_kernel_model, "sh", 0x08, 32);
bursts!(dh_bursts_match_the_kernel_model, "dh", 0, 32);
bursts!(mh_bursts_match_the_kernel_model, "mh", 0x08, 16);
bursts!(lblc_bursts_match_the_kernel_model, "lblc", 0, 32);
bursts!(lblcr_bursts_match_the_kernel_model, "lblcr", 0, 32);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]
    /// The same bursts, each change made alone (rr and wrr, whose state moves
    /// with every change).
    #[test]
    fn rr_and_wrr_changes_one_by_one_match_the_kernel_model(
        ops in strategies::bursts(255),
        wrr in any::<bool>(),
    ) {
        let name = if wrr { "wrr" } else { "rr" };
        if let Err(e) = run(name, 0, &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]
    /// mh with the smallest kernel table (CONFIG_IP_VS_MH_TAB_INDEX = 8, M = 251,
    /// TAB_BITS = 4), as the fuzz target runs it, with fallback and port flags.
    #[test]
    fn mh_small_table_matches_the_kernel_model(ops in strategies::ops(40), flags in prop::sample::select(vec![0u32, 0x08, 0x18])) {
        let sched = lb_sched::AnyScheduler::Mh(lb_sched::Mh::with_tab_index(flags, 8).unwrap());
        let model = Model::mh_with_tab_index(flags, 8).unwrap();
        if let Err(e) = run_with(sched, model, &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

fn ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

proptest! {
    /// One full wrr cycle (sum of weight/gcd picks, once the first partial pass
    /// is over) gives each dest exactly weight/gcd picks; weight 0 is never picked.
    #[test]
    fn wrr_cycle_gives_each_dest_weight_over_gcd(weights in prop::collection::vec(0u32..12, 1..20)) {
        let mut svc = Service::new(Wrr::new());
        let ids: Vec<DestId> = weights.iter().enumerate()
            .map(|(i, &w)| svc.add(DestConfig::new(ip(i), 80, w)).unwrap())
            .collect();
        // Rebind: a fresh state starts a cycle at cw = mw.
        svc.rebind(Wrr::new()).unwrap();
        let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        if g == 0 {
            prop_assert_eq!(svc.pick(), None);
            return Ok(());
        }
        let cycle: u32 = weights.iter().map(|w| w / g).sum();
        for _round in 0..2 {
            let mut count = vec![0u32; weights.len()];
            for _ in 0..cycle {
                let id = svc.pick().expect("positive weights exist");
                count[ids.iter().position(|&i| i == id).unwrap()] += 1;
            }
            let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
            prop_assert_eq!(count, want);
        }
    }

    /// An empty or all-zero-weight service picks nothing, for every scheduler.
    #[test]
    fn zero_weights_pick_nothing(n in 0usize..20, name in prop::sample::select(lb_sched::AnyScheduler::NAMES.to_vec())) {
        let mut svc = Service::new(lb_sched::AnyScheduler::from_name(name, 0x08).unwrap());
        for i in 0..n {
            svc.add(DestConfig::new(ip(i), 80, 0)).unwrap();
        }
        for c in 0..5u8 {
            let f = lb_sched::Flow::from_client(IpAddr::V4(Ipv4Addr::new(198, 51, 100, c)), 1000);
            prop_assert_eq!(svc.pick_for(&f), None);
        }
    }
}

proptest! {
    /// `Service::with_dests` reaches the state of one `add` per entry followed
    /// by a rebind: the same picks, with connections bound to each pick.
    #[test]
    fn with_dests_equals_adding_one_by_one(
        weights in prop::collection::vec(0u32..20, 0..40),
        name in prop::sample::select(lb_sched::AnyScheduler::NAMES.to_vec()),
    ) {
        let cfgs: Vec<DestConfig> = weights.iter().enumerate()
            .map(|(i, &w)| DestConfig::new(ip(i), 80, w))
            .collect();
        let any = || lb_sched::AnyScheduler::from_name(name, 0x08).unwrap();
        let mut one_by_one = Service::new(any());
        for c in &cfgs {
            one_by_one.add(*c).unwrap();
        }
        one_by_one.rebind(any()).unwrap();
        let mut bulk = Service::with_dests(any(), cfgs.iter().copied()).unwrap();
        for c in 0..100u8 {
            let f = lb_sched::Flow::from_client(IpAddr::V4(Ipv4Addr::new(198, 51, 100, c)), 1000);
            let (a, b) = (one_by_one.pick_for(&f), bulk.pick_for(&f));
            prop_assert_eq!(a, b);
            if let Some(id) = a {
                one_by_one.conn_new(id, ConnState::Active).unwrap();
                bulk.conn_new(id, ConnState::Active).unwrap();
            }
        }
    }
}
