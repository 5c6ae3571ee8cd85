// SPDX-License-Identifier: MIT OR Apache-2.0
//! `twos`: weighted random "power of two choices" (`net/netfilter/ipvs/ip_vs_twos.c`,
//! `ip_vs_twos_schedule`; `ipvsadm -s twos`; 5.12+ by ipvs-reference §5.12. The
//! option exists in 6.1's Kconfig, but Debian's 6.1 kernel leaves
//! `CONFIG_IP_VS_TWOS` unset, so the lab VM has twos on 6.12 only).
//!
//! With T the sum of the weights of the dests that are not OVERLOAD and have
//! weight > 0, two numbers r1, r2 are drawn uniformly from `0..=T`
//! (`get_random_u32_below(T + 1)`); walking the eligible dests in list order and
//! subtracting each weight, choice1 is the first dest where r1 ≤ 0, choice2 the
//! first where r2 ≤ 0. choice2 wins if `w2 × overhead1 > w1 × overhead2`.
//!
//! The random numbers come from a caller-provided [`RandomSource`], so a pick is
//! reproducible: the same draws give the kernel's choice.

use crate::{Change, Dest, DestId, Dests, Flow, Scheduler};

/// Where twos gets its random numbers (the kernel's `get_random_u32_below`).
pub trait RandomSource {
    /// A uniform number in `0..bound` (`bound` ≥ 1).
    fn below(&mut self, bound: u32) -> u32;
}

impl<F: FnMut(u32) -> u32> RandomSource for F {
    fn below(&mut self, bound: u32) -> u32 {
        self(bound)
    }
}

/// Weighted "power of two choices" (`ipvsadm -s twos`).
///
/// The kernel walks the list twice per pick (once for the total weight, once
/// to find the two choices). Here the eligible weights sit in a Fenwick tree
/// over ranks, so the total is kept and each choice is one O(log n) descent;
/// the connection counters are read only for the two choices. The tree is
/// rebuilt at the first pick after a destination change, and updated in place
/// when OVERLOAD flips.
#[derive(Clone, Debug)]
pub struct Twos<R> {
    rng: R,
    weights: WeightTree,
}

impl<R: RandomSource> Twos<R> {
    /// A twos scheduler drawing from `rng`.
    pub fn new(rng: R) -> Self {
        Twos {
            rng,
            weights: WeightTree::default(),
        }
    }
}

/// The weights of the eligible dests (not OVERLOAD, weight > 0; 0 for the
/// others) by rank, as a Fenwick tree: prefix sums and "first rank whose
/// prefix reaches x" in O(log n).
#[derive(Clone, Debug, Default)]
struct WeightTree {
    /// `tree[i]` (1-based) = sum of `weight[i - lowbit(i) .. i]`.
    tree: Vec<u64>,
    /// The weight of each rank as counted in `tree`.
    weight: Vec<u64>,
    total: u64,
    /// Must be rebuilt before the next pick (the list changed).
    stale: bool,
}

impl WeightTree {
    fn eligible_weight(d: &crate::Dest) -> u64 {
        if !d.overloaded && d.weight > 0 {
            u64::from(d.weight)
        } else {
            0
        }
    }

    /// O(n): every node once, each adding itself to its parent.
    fn rebuild(&mut self, dests: &Dests) {
        let n = dests.len();
        self.weight.clear();
        self.weight
            .extend((0..n).map(|r| Self::eligible_weight(dests.at_rank(r).1)));
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for i in 1..=n {
            self.tree[i] += self.weight[i - 1];
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
        self.total = self.weight.iter().sum();
        self.stale = false;
    }

    /// Sets the weight of `rank`.
    fn set(&mut self, rank: usize, w: u64) {
        let Some(old) = self.weight.get_mut(rank) else {
            self.stale = true;
            return;
        };
        let (old, new) = (std::mem::replace(old, w), w);
        self.total = self.total - old + new;
        let mut i = rank + 1;
        while let Some(node) = self.tree.get_mut(i) {
            *node = *node - old + new;
            i += i & i.wrapping_neg();
        }
    }

    /// The smallest rank whose prefix sum (ranks `0..=rank`) is at least `x`
    /// (1 ≤ `x` ≤ `total`).
    fn lower_bound(&self, x: u64) -> Option<usize> {
        let n = self.tree.len().checked_sub(1)?;
        let (mut pos, mut rest) = (0usize, x);
        let mut step = if n == 0 { 0 } else { 1 << n.ilog2() };
        while step > 0 {
            if let Some(&node) = self.tree.get(pos + step)
                && node < rest
            {
                pos += step;
                rest -= node;
            }
            step >>= 1;
        }
        (pos < n).then_some(pos)
    }

    /// The dest the kernel's walk stops at for draw `r` (0 ≤ `r` ≤ total):
    /// the first eligible dest in list order (descending rank) whose weights
    /// from the list head on add up to at least `r` (`rweight -= weight;
    /// rweight <= 0`). `r` = 0 stops at the first eligible dest, as `r` = 1.
    fn choice(&self, r: u64) -> Option<usize> {
        let r = r.clamp(1, self.total);
        // The weights from rank k up to the top reach r exactly when the
        // prefix below k is at most total − r: the largest such k is the
        // smallest k whose prefix reaches total − r + 1.
        self.lower_bound(self.total - r + 1)
    }
}

impl<R: RandomSource> Scheduler for Twos<R> {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn dest_changed(&mut self, _dests: &Dests, _change: Change<'_>) {
        self.weights.stale = true;
    }

    fn hooks(&self) -> crate::Hooks {
        // Eligibility changes with OVERLOAD; the counters are read at pick time.
        crate::Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        if self.weights.stale {
            return;
        }
        match dests.get(id) {
            Some(d) => self
                .weights
                .set(d.rank as usize, WeightTree::eligible_weight(d)),
            None => self.weights.stale = true,
        }
    }

    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        if dests.len() <= SMALL {
            return self.schedule_by_walks(dests);
        }
        if self.weights.stale || self.weights.weight.len() != dests.len() {
            self.weights.rebuild(dests);
        }
        let (r1, r2) = self.draws(self.weights.total)?;
        let c1 = dests.get_at_rank(self.weights.choice(r1)?)?;
        let c2 = dests.get_at_rank(self.weights.choice(r2)?)?;
        Some(Self::better(c1, c2))
    }
}

/// Up to this many dests, a pick is the kernel's walk (faster than the tree).
const SMALL: usize = 8;

impl<R: RandomSource> Twos<R> {
    /// The two draws for `total` eligible weight, as the kernel makes them
    /// (`get_random_u32_below(total + 1)` twice); `None` when `total` is 0.
    fn draws(&mut self, total: u64) -> Option<(u64, u64)> {
        if total == 0 {
            return None;
        }
        let bound = u32::try_from(total + 1).unwrap_or(u32::MAX);
        let r1 = self.rng.below(bound).min(bound - 1);
        let r2 = self.rng.below(bound).min(bound - 1);
        Some((u64::from(r1), u64::from(r2)))
    }

    /// The kernel's pick for small lists: the total, then a walk per draw.
    fn schedule_by_walks(&mut self, dests: &Dests) -> Option<DestId> {
        let eligible = || dests.iter().filter(|(_, d)| !d.overloaded && d.weight > 0);
        let total = eligible().map(|(_, d)| u64::from(d.weight)).sum();
        let (r1, r2) = self.draws(total)?;
        // `rweight -= weight; if (rweight <= 0) choose`, unsigned. The walk
        // keeps the handle and the record, so `better` reads both choices
        // without going back to the list.
        let walk = |mut rest: u64| {
            eligible().find(|(_, d)| {
                let w = u64::from(d.weight);
                if rest <= w {
                    return true;
                }
                rest -= w;
                false
            })
        };
        Some(Self::better(walk(r1)?, walk(r2)?))
    }

    /// Choice 2 wins over choice 1 if `w2 × overhead1 > w1 × overhead2`.
    fn better((id1, d1): (DestId, &Dest), (id2, d2): (DestId, &Dest)) -> DestId {
        let (w1, w2) = (u128::from(d1.weight), u128::from(d2.weight));
        if w2 * u128::from(d1.overhead()) > w1 * u128::from(d2.overhead()) {
            id2
        } else {
            id1
        }
    }
}
