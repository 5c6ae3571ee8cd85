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
#[derive(Clone, Debug)]
pub struct Twos<R> {
    rng: R,
}

impl<R: RandomSource> Twos<R> {
    /// A twos scheduler drawing from `rng`.
    pub fn new(rng: R) -> Self {
        Twos { rng }
    }
}

/// The twos choice for the draws `r1`, `r2` (each in `0..=total`), as
/// `ip_vs_twos_schedule` makes it. Shared by [`Twos`] and the reference model.
pub(crate) fn choose<'a, I>(dests: I, r1: u32, r2: u32) -> Option<usize>
where
    I: Iterator<Item = (usize, u32, u64)> + 'a,
{
    // items: (index, weight, overhead) of the eligible dests in list order
    let (mut rw1, mut rw2) = (r1 as i64, r2 as i64);
    let mut c1: Option<(usize, u64, u64)> = None;
    let mut c2: Option<(usize, u64, u64)> = None;
    for (i, w, oh) in dests {
        rw1 -= w as i64;
        rw2 -= w as i64;
        if rw1 <= 0 && c1.is_none() {
            c1 = Some((i, w as u64, oh));
        }
        if rw2 <= 0 && c2.is_none() {
            c2 = Some((i, w as u64, oh));
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (i1, w1, oh1) = c1?;
    match c2 {
        Some((i2, w2, oh2)) if w2 as u128 * oh1 as u128 > w1 as u128 * oh2 as u128 => Some(i2),
        _ => Some(i1),
    }
}

impl<R: RandomSource> Scheduler for Twos<R> {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn dest_changed(&mut self, _dests: &Dests, _change: Change<'_>) {}

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        let eligible = || {
            dests
                .iter()
                .enumerate()
                .filter(|(_, (_, d))| !d.overloaded && d.weight > 0)
                .map(|(i, (_, d))| (i, d.weight, d.overhead()))
        };
        let total: u64 = eligible().map(|(_, w, _)| w as u64).sum();
        if total == 0 {
            return None;
        }
        let bound = u32::try_from(total + 1).unwrap_or(u32::MAX);
        let r1 = self.rng.below(bound).min(bound - 1);
        let r2 = self.rng.below(bound).min(bound - 1);
        let i = choose(eligible(), r1, r2)?;
        dests.iter().nth(i).map(|(id, _)| id)
    }
}
