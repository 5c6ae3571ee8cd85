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

use crate::dest::Record;
use crate::{Change, DestId, Dests, Flow, Scheduler};

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
/// over positions, so the total is kept and each choice is one O(log n)
/// descent; the connection counters are read only for the two choices. Every
/// change and OVERLOAD flip updates the tree in O(log n).
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
/// others and for holes) by position, as a Fenwick tree: prefix sums and
/// "first position whose prefix reaches x" in O(log n), 8 bytes a position.
#[derive(Clone, Debug, Default)]
struct WeightTree {
    /// `tree[i]` (1-based) = sum of the weights at positions `i - lowbit(i) .. i`.
    tree: Vec<u64>,
    total: u64,
}

impl WeightTree {
    fn eligible_weight(d: &Record) -> u64 {
        if d.in_list() && d.usable() {
            u64::from(d.weight())
        } else {
            0
        }
    }

    /// O(n): every node once, each adding itself to its parent.
    fn rebuild(&mut self, dests: &Dests) {
        let n = dests.positions();
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for (_, d) in dests.records() {
            self.tree[d.pos as usize + 1] = Self::eligible_weight(d);
        }
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
        self.total = self.prefix(n);
    }

    /// The sum of the weights at positions `0..p`.
    fn prefix(&self, mut p: usize) -> u64 {
        let mut sum = 0;
        while p > 0 {
            sum += self.tree.get(p).copied().unwrap_or(0);
            p &= p - 1;
        }
        sum
    }

    /// Positions up to `n`: a new position's node sums its own weight (0)
    /// and the nodes of the range it covers.
    fn grow(&mut self, n: usize) {
        while self.tree.len() <= n {
            let i = self.tree.len();
            let low = i & i.wrapping_neg();
            let mut sum = 0;
            let mut j = i - 1;
            while j > i - low {
                sum += self.tree[j];
                j &= j - 1;
            }
            self.tree.push(sum);
        }
    }

    /// Sets the weight at position `p` to `w`.
    fn set(&mut self, p: usize, w: u64) {
        let old = self.prefix(p + 1) - self.prefix(p);
        if old == w {
            return;
        }
        self.total = self.total - old + w;
        let mut i = p + 1;
        while let Some(node) = self.tree.get_mut(i) {
            *node = *node - old + w;
            i += i & i.wrapping_neg();
        }
    }

    /// The smallest position whose prefix sum (positions `0..=p`) is at least
    /// `x` (1 ≤ `x` ≤ `total`).
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
    /// the first eligible dest in list order (descending position) whose
    /// weights from the list head on add up to at least `r` (`rweight -=
    /// weight; rweight <= 0`). `r` = 0 stops at the first eligible dest, as
    /// `r` = 1.
    fn choice(&self, r: u64) -> Option<usize> {
        let r = r.clamp(1, self.total);
        // The weights from position k up to the top reach r exactly when the
        // prefix below k is at most total − r: the largest such k is the
        // smallest k whose prefix reaches total − r + 1.
        self.lower_bound(self.total - r + 1)
    }
}

impl<R: RandomSource> Scheduler for Twos<R> {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        let w = &mut self.weights;
        match change {
            Change::Bound | Change::Compacted(_) => w.rebuild(dests),
            Change::Added(id) | Change::Updated(id) => {
                if let Some(d) = dests.record(id) {
                    w.grow(d.pos as usize + 1);
                    w.set(d.pos as usize, WeightTree::eligible_weight(d));
                }
            }
            // Positions popped past the list head keep their nodes, which
            // sum zeros from there on: a valid tree of a longer list.
            Change::Removed(_, d) => w.set(d.position() as usize, 0),
        }
    }

    fn hooks(&self) -> crate::Hooks {
        // Eligibility changes with OVERLOAD; the counters are read at pick time.
        crate::Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        if let Some(d) = dests.record(id) {
            self.weights
                .set(d.pos as usize, WeightTree::eligible_weight(d));
        }
    }

    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        if dests.len() <= SMALL {
            return self.schedule_by_walks(dests);
        }
        let (r1, r2) = self.draws(self.weights.total)?;
        let c1 = dests.at(self.weights.choice(r1)?)?;
        let c2 = dests.at(self.weights.choice(r2)?)?;
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
        let eligible = || dests.records().filter(|(_, d)| d.usable());
        let total = eligible().map(|(_, d)| u64::from(d.weight())).sum();
        let (r1, r2) = self.draws(total)?;
        // `rweight -= weight; if (rweight <= 0) choose`, unsigned. The walk
        // keeps the handle and the record, so `better` reads both choices
        // without going back to the list.
        let walk = |mut rest: u64| {
            eligible().find(|(_, d)| {
                let w = u64::from(d.weight());
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
    fn better((id1, d1): (DestId, &Record), (id2, d2): (DestId, &Record)) -> DestId {
        let (w1, w2) = (u128::from(d1.weight()), u128::from(d2.weight()));
        if w2 * u128::from(d1.overhead()) > w1 * u128::from(d2.overhead()) {
            id2
        } else {
            id1
        }
    }
}
