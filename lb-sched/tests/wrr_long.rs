// SPDX-License-Identifier: MIT OR Apache-2.0
//! wrr on lists longer than 64 × 64 positions against the reference model:
//! there a kept pass may list more than 64 dests (one in 64 of the list),
//! read 64 at a time, which the differential proptests on at most 255 dests
//! never reach. A few heavy dests among many light (or quiesced) ones, with
//! edits and removals between runs of picks. `PROPTEST_CASES` (default 8)
//! sets the number of cases.

use std::net::{IpAddr, Ipv4Addr};

use lb_sched::reference::Model;
use lb_sched::{DestConfig, Flow, Service, Wrr};
use proptest::prelude::*;

/// Dest `i`: `203.0.113.(i % 256)`, port 1000 + i / 256.
fn key(i: usize) -> (IpAddr, u16) {
    let host = u8::try_from(i % 256).unwrap_or_default();
    let port = u16::try_from(1000 + i / 256).unwrap_or(u16::MAX);
    (IpAddr::V4(Ipv4Addr::new(203, 0, 113, host)), port)
}

#[derive(Clone, Debug)]
enum Step {
    Picks(usize),
    Edit(usize, u32),
    Remove(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1usize..2500).prop_map(Step::Picks),
        2 => (any::<prop::sample::Index>(), prop_oneof![0u32..2, 2u32..7]).prop_map(|(i, w)| Step::Edit(i.index(1 << 20), w)),
        1 => any::<prop::sample::Index>().prop_map(|i| Step::Remove(i.index(1 << 20))),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    #[test]
    fn wrr_with_passes_longer_than_64_matches_the_kernel_model(
        n in 4100usize..8400,
        heavy in 1usize..300,
        light in 0u32..2,
        heavy_weights in prop::collection::vec(2u32..7, 1..4),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let mut fast = Service::new(Wrr::new());
        let mut model = Model::new("wrr", 0).unwrap();
        // The heavy dests spread over the list.
        let stride = n / heavy;
        for i in 0..n {
            let weight = if i % stride == 0 { heavy_weights[i / stride % heavy_weights.len()] } else { light };
            let (a, p) = key(i);
            let cfg = DestConfig::new(a, p, weight);
            prop_assert_eq!(fast.add(cfg).map(|_| ()), model.add(cfg));
        }
        let mut present: Vec<usize> = (0..n).collect();
        let flow = Flow::from_client(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 1);
        for (s, step) in steps.into_iter().enumerate() {
            match step {
                Step::Picks(k) => {
                    for pick in 0..k {
                        let got = fast.pick().and_then(|id| fast.dest(id)).map(|d| (d.addr(), d.port()));
                        let want = model.pick(&flow);
                        prop_assert_eq!(got, want, "step {} pick {}", s, pick);
                    }
                }
                Step::Edit(i, weight) => {
                    let (a, p) = key(present[i % present.len()]);
                    let id = fast.find(a, p).unwrap();
                    prop_assert_eq!(fast.edit(id, weight, 0, 0), model.edit((a, p), weight, 0, 0));
                }
                Step::Remove(i) => {
                    let d = present.swap_remove(i % present.len());
                    let (a, p) = key(d);
                    let id = fast.find(a, p).unwrap();
                    prop_assert_eq!(fast.remove(id).map(|_| ()), model.remove((a, p)));
                }
            }
        }
    }
}
