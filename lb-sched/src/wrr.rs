// SPDX-License-Identifier: MIT OR Apache-2.0
//! `wrr`: weighted round robin (`net/netfilter/ipvs/ip_vs_wrr.c`,
//! `ip_vs_wrr_schedule`, `ip_vs_wrr_dest_changed`; `ipvsadm -s wrr`).
//!
//! The kernel state is `{cl, cw, mw, di}`: the current dest (or the list head),
//! the current weight threshold, the maximum weight minus `di − 1`, and the gcd of
//! the positive weights. A pick scans forward from `cl` for the first dest that is
//! not OVERLOAD and has weight ≥ `cw`; at the list end `cw` drops by `di`, and
//! below 1 it restarts at `mw`. Every add, delete and edit resets `cl` to the
//! head and recomputes `di` and `mw` (`cw` is kept, clamped or rounded).
//!
//! This implementation runs the same state machine, but each pass ("the first
//! eligible dest after position p") is one query on a hierarchical bitset of the
//! dests whose weight ≥ the current `cw` and that are not overloaded: O(log₆₄ n)
//! instead of a scan. Membership grows as `cw` falls (dests sorted by weight are
//! added in order) and is rebuilt when a cycle restarts, so the upkeep is O(1)
//! amortised per pick. Runs of passes that cannot find anything (the heaviest
//! dests overloaded) are skipped arithmetically. Up to 24 dests a pass is the
//! kernel's plain scan, which is cheaper there.
//!
//! Cost: the kernel's scan costs about `max weight / mean weight` dest checks per
//! pick, amortised, so for evenly spread weights it is already cheap and this
//! index does not beat it; it wins when a few heavy dests make the high-`cw`
//! passes scan the whole list to pick a handful (see the benches).

use crate::{Change, DestId, Dests, Flow, Scheduler, gcd};

/// A bitset over `0..len` with summary levels: "highest set bit below i" in a few
/// word operations.
#[derive(Clone, Debug, Default)]
pub(crate) struct HierBits {
    levels: Vec<Vec<u64>>,
}

impl HierBits {
    pub(crate) fn new(len: usize) -> Self {
        let mut levels = Vec::new();
        let mut words = len.div_ceil(64).max(1);
        loop {
            levels.push(vec![0u64; words]);
            if words == 1 {
                break;
            }
            words = words.div_ceil(64);
        }
        HierBits { levels }
    }

    pub(crate) fn clear_all(&mut self) {
        for l in &mut self.levels {
            l.fill(0);
        }
    }

    pub(crate) fn set(&mut self, mut i: usize) {
        for l in &mut self.levels {
            let w = &mut l[i / 64];
            let was = *w;
            *w |= 1 << (i % 64);
            if was != 0 {
                return;
            }
            i /= 64;
        }
    }

    pub(crate) fn clear(&mut self, mut i: usize) {
        for l in &mut self.levels {
            let w = &mut l[i / 64];
            *w &= !(1 << (i % 64));
            if *w != 0 {
                return;
            }
            i /= 64;
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.levels.last().is_none_or(|l| l[0] == 0)
    }

    /// The highest set index strictly below `i` (`i` may exceed the length).
    #[inline]
    pub(crate) fn prev_below(&self, i: usize) -> Option<usize> {
        let mut idx = i;
        let mut level = 0;
        let found = loop {
            let words = self.levels.get(level)?;
            let (w, mask) = if idx / 64 >= words.len() {
                (words.len() - 1, u64::MAX)
            } else {
                (idx / 64, (1u64 << (idx % 64)) - 1)
            };
            let m = words[w] & mask;
            if m != 0 {
                break w * 64 + 63 - m.leading_zeros() as usize;
            }
            idx = w;
            level += 1;
        };
        let mut pos = found;
        for l in (0..level).rev() {
            let word = self.levels[l][pos];
            pos = pos * 64 + 63 - word.leading_zeros() as usize;
        }
        Some(pos)
    }
}

/// Weighted round robin (`ipvsadm -s wrr`).
#[derive(Clone, Debug)]
pub struct Wrr {
    /// `mark->cl`: rank of the current dest, `None` = the list head. Ranks only
    /// change on add/delete, which reset `cl` to the head.
    cl: Option<usize>,
    cw: i64,
    mw: i64,
    di: i64,
    /// (weight, rank), heaviest first (ties: higher rank first; order inside a
    /// weight does not matter).
    by_weight: Vec<(u32, u32)>,
    /// `by_weight[..ptr]` are the dests with weight ≥ `lvl`.
    ptr: usize,
    /// The `cw` that `bits` reflects (`i64::MAX`: none yet).
    lvl: i64,
    /// Ranks with weight ≥ `lvl` that are not overloaded.
    bits: HierBits,
    /// At most [`SMALL`] dests: passes are plain scans and no bitset is kept.
    small: bool,
}

/// Up to this many dests, a pass is the kernel's plain scan (faster there).
const SMALL: usize = 24;

impl Default for Wrr {
    fn default() -> Self {
        Self::new()
    }
}

impl Wrr {
    /// A wrr scheduler bound to an empty service (`ip_vs_wrr_init_svc`: di = 1,
    /// mw = 0, cw = 0).
    pub fn new() -> Self {
        Wrr {
            cl: None,
            cw: 0,
            mw: 0,
            di: 1,
            by_weight: Vec::new(),
            ptr: 0,
            lvl: i64::MAX,
            bits: HierBits::new(0),
            small: true,
        }
    }

    /// The kernel state `(cw, mw, di)`, for tests and diagnostics.
    pub fn state(&self) -> (i64, i64, i64) {
        (self.cw, self.mw, self.di)
    }

    /// Makes `bits` reflect `cw`.
    fn sync(&mut self, dests: &Dests, cw: i64) {
        if cw == self.lvl {
            return;
        }
        if cw > self.lvl {
            self.bits.clear_all();
            self.ptr = 0;
        }
        while let Some(&(w, r)) = self.by_weight.get(self.ptr) {
            if (w as i64) < cw {
                break;
            }
            if !dests.at_rank(r as usize).1.overloaded {
                self.bits.set(r as usize);
            }
            self.ptr += 1;
        }
        self.lvl = cw;
    }

    /// The largest weight of a dest that is not overloaded (0 if none).
    fn max_available_weight(&self, dests: &Dests) -> i64 {
        self.by_weight
            .iter()
            .find(|&&(_, r)| !dests.at_rank(r as usize).1.overloaded)
            .map_or(0, |&(w, _)| w as i64)
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        if let Change::Bound = change {
            // ip_vs_wrr_init_svc: cw = mw, which dest_changed gives from cw = 0.
            self.cw = 0;
        }
        // ip_vs_wrr_dest_changed
        self.cl = None;
        let mut g = 0u32;
        let mut max = 0u32;
        for (_, d) in dests.iter() {
            if d.weight > 0 {
                g = if g > 0 { gcd(d.weight, g) } else { d.weight };
            }
            max = max.max(d.weight);
        }
        self.di = if g == 0 { 1 } else { g as i64 };
        self.mw = max as i64 - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
        // Rebuild the index.
        self.by_weight.clear();
        self.by_weight
            .extend((0..dests.len()).map(|r| (dests.at_rank(r).1.weight, r as u32)));
        self.by_weight.sort_unstable_by(|a, b| b.cmp(a));
        self.small = dests.len() <= SMALL;
        self.bits = HierBits::new(if self.small { 0 } else { dests.len() });
        self.ptr = 0;
        self.lvl = i64::MAX;
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        if self.small {
            return;
        }
        let Some(d) = dests.get(id) else { return };
        if (d.weight as i64) >= self.lvl {
            if d.overloaded {
                self.bits.clear(d.rank as usize);
            } else {
                self.bits.set(d.rank as usize);
            }
        }
    }

    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        if self.mw == 0 {
            return None;
        }
        let n = dests.len();
        let last = self.cl;
        let mut from = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            let cw = self.cw;
            let below = from.unwrap_or(n);
            let hit = if self.small {
                (0..below).rev().find(|&r| {
                    let d = dests.at_rank(r).1;
                    !d.overloaded && d.weight as i64 >= cw
                })
            } else {
                self.sync(dests, cw);
                self.bits.prev_below(below)
            };
            match (hit, stop) {
                (Some(r), None) => return Some(self.found(dests, r)),
                (Some(r), Some(s)) if r >= s => return Some(self.found(dests, r)),
                (_, Some(s)) => {
                    // The scan reached `stop` without a hit: "all overloaded".
                    self.cl = Some(s);
                    return None;
                }
                (None, None) => {}
            }
            // At the list head: lower cw. Skip whole runs of passes that cannot
            // find anything and have no side effect (cw stays above di).
            if !self.small && stop.is_none() && self.cw - self.di > self.di {
                let t = self.max_available_weight(dests).max(self.di);
                if self.cw > t {
                    let k = (self.cw - t - 1) / self.di;
                    self.cw -= k * self.di;
                }
            }
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
            from = None;
        }
    }
}

impl Wrr {
    #[inline]
    fn found(&mut self, dests: &Dests, rank: usize) -> DestId {
        self.cl = Some(rank);
        dests.at_rank(rank).0
    }
}

#[cfg(test)]
mod tests {
    use super::HierBits;

    #[test]
    fn hierbits_prev_below_matches_a_plain_scan() {
        for len in [0usize, 1, 63, 64, 65, 4095, 4096, 4097, 70000] {
            let mut b = HierBits::new(len);
            let mut plain = vec![false; len];
            let mut x = 12345u64;
            for _ in 0..(len / 3).min(500) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (x >> 33) as usize % len.max(1);
                if len > 0 {
                    b.set(i);
                    plain[i] = true;
                }
            }
            for _ in 0..(len / 7).min(100) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (x >> 33) as usize % len.max(1);
                if len > 0 {
                    b.clear(i);
                    plain[i] = false;
                }
            }
            for q in (0..=len + 70).step_by(len / 50 + 1) {
                let want = (0..q.min(len)).rev().find(|&i| plain[i]);
                assert_eq!(b.prev_below(q), want, "len {len} q {q}");
            }
            assert_eq!(b.is_empty(), !plain.iter().any(|&p| p));
        }
    }
}
