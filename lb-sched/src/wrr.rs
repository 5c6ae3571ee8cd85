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
//! This implementation keeps that state exactly. Its index, `Weights`, holds
//! each dest's weight by position (4 bytes a dest), OVERLOAD in the sign bit so
//! that an overloaded dest never reaches a threshold, in blocks of 64, under a
//! 64-ary tree whose nodes hold the largest weight, the largest weight that is
//! not OVERLOAD, and the gcd of the positive weights below them:
//!
//! - **A change** rewrites one weight and the summaries above it, O(log₆₄ n)
//!   nodes of 64 children (most stop early: a gcd of 1 is final, an unchanged
//!   node ends the climb); the root then gives `mw` and `di` as the kernel
//!   recomputes them over the whole list.
//! - **A pass** ("the first dest after position p with weight ≥ `cw`") skips
//!   every block and subtree whose largest available weight is below `cw`, and
//!   compares a block's 64 weights with `cw` at once into a bit mask.
//! - **A pick** takes the highest bit of the mask left from the last one (the
//!   dests of `cl`'s block after `cl` that the pass takes): O(1). With weights
//!   spread evenly, a block's weights are compared once per pass, a few
//!   instructions per pick.
//! - **A pass that takes at most 64 dests** (a short list; the passes of a
//!   few heavy dests among light ones, where the kernel scans the whole list
//!   for each of them) is kept as a list of positions, with the range of
//!   thresholds whose passes take the same dests (no available weight lies
//!   between them): the passes that follow reuse it, O(1) per pick again.
//!
//! Runs of passes that cannot find anything (the heaviest dests overloaded)
//! are skipped arithmetically.

use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler, gcd};

/// Bit 31 of a weight word: OVERLOAD (as in [`crate::dest::Record`]).
const OVERLOADED: u32 = 1 << 31;

/// Positions per block, and children per summary node: one bit each in a `u64`.
const BLOCK: usize = 64;

/// What a subtree of [`Weights`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    /// The largest weight (OVERLOAD or not).
    max: u32,
    /// The largest weight of a dest that is not OVERLOAD.
    max_avail: u32,
    /// The gcd of the positive weights (0: none).
    gcd: u32,
}

impl Summary {
    /// Folds `other` in. The gcd stops at 1, where it stays.
    #[inline]
    fn add(&mut self, other: Summary) {
        self.max = self.max.max(other.max);
        self.max_avail = self.max_avail.max(other.max_avail);
        if self.gcd != 1 && other.gcd != 0 {
            self.gcd = if self.gcd == 0 {
                other.gcd
            } else {
                gcd(self.gcd, other.gcd)
            };
        }
    }

    /// The summary of one weight word.
    #[inline]
    fn of(ww: u32) -> Summary {
        let w = ww & !OVERLOADED;
        Summary {
            max: w,
            max_avail: if ww & OVERLOADED == 0 { w } else { 0 },
            gcd: w,
        }
    }
}

/// The weights by position and the summary tree over them (see the module
/// docs). Positions past the list head hold 0.
#[derive(Clone, Debug, Default)]
struct Weights {
    /// The weight word of each position (0 for a hole).
    w: Vec<u32>,
    /// `levels[0][b]` summarises `w[64b..64b + 64]`; `levels[l + 1][g]`
    /// summarises `levels[l][64g..64g + 64]`. The last level is one node, the
    /// whole list.
    levels: Vec<Vec<Summary>>,
}

impl Weights {
    /// Indexes every dest: O(n).
    fn rebuild(&mut self, dests: &Dests) {
        self.w = vec![0; dests.positions()];
        for (_, d) in dests.records() {
            self.w[d.pos as usize] = d.ww;
        }
        self.levels.clear();
        let mut below: Vec<Summary> = self
            .w
            .chunks(BLOCK)
            .map(|c| Self::summarize(c.iter().map(|&ww| Summary::of(ww))))
            .collect();
        loop {
            let up: Vec<Summary> = below
                .chunks(BLOCK)
                .map(|c| Self::summarize(c.iter().copied()))
                .collect();
            let top = below.len() <= 1;
            self.levels.push(below);
            if top {
                break;
            }
            below = up;
        }
    }

    fn summarize(parts: impl Iterator<Item = Summary>) -> Summary {
        parts.fold(Summary::default(), |mut s, p| {
            s.add(p);
            s
        })
    }

    /// The whole list's summary.
    fn root(&self) -> Summary {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// Sets the weight word at position `p` and the summaries above it.
    fn set(&mut self, p: usize, ww: u32) {
        if p >= self.w.len() {
            self.grow(p + 1);
        }
        self.w[p] = ww;
        let mut i = p / BLOCK;
        let start = i * BLOCK;
        let mut s = Self::summarize(
            self.w[start..self.w.len().min(start + BLOCK)]
                .iter()
                .map(|&ww| Summary::of(ww)),
        );
        for l in 0..self.levels.len() {
            if self.levels[l][i] == s {
                return;
            }
            self.levels[l][i] = s;
            if l + 1 == self.levels.len() {
                return;
            }
            let start = i / BLOCK * BLOCK;
            let level = &self.levels[l];
            s = Self::summarize(level[start..level.len().min(start + BLOCK)].iter().copied());
            i /= BLOCK;
        }
    }

    /// Room for `n` positions: the new ones hold 0, and the tree grows nodes
    /// (and levels) to cover them. Amortised O(1) per position.
    fn grow(&mut self, n: usize) {
        self.w.resize(n, 0);
        let mut need = n.div_ceil(BLOCK).max(1);
        for l in 0.. {
            if l == self.levels.len() {
                // A new top, over the level below (none yet: nothing held).
                let level = match l.checked_sub(1) {
                    None => Vec::new(),
                    Some(below) => self.levels[below]
                        .chunks(BLOCK)
                        .map(|c| Self::summarize(c.iter().copied()))
                        .collect(),
                };
                self.levels.push(level);
            }
            let level = &mut self.levels[l];
            if level.len() < need {
                level.resize(need, Summary::default());
            }
            if need == 1 {
                return;
            }
            need = need.div_ceil(BLOCK);
        }
    }

    /// The positions of block `b` whose weight word reaches `cw` (OVERLOAD
    /// words never do), as bits.
    #[inline]
    fn block_mask(&self, b: usize, cw: i32) -> u64 {
        let start = b * BLOCK;
        let words = &self.w[start..self.w.len().min(start + BLOCK)];
        let mut m = 0u64;
        // Eight compares into the bytes of a word, then one multiply
        // gathers byte k's low bit into bit k of the top byte.
        for (j, chunk) in words.chunks(8).enumerate() {
            let mut bytes = [0u8; 8];
            for (byte, &ww) in bytes.iter_mut().zip(chunk) {
                *byte = u8::from(ww as i32 >= cw);
            }
            let gathered = u64::from_le_bytes(bytes).wrapping_mul(0x0102_0408_1020_4080) >> 56;
            m |= gathered << (8 * j);
        }
        m
    }

    /// The pass at `cw` if it takes at most [`Pass::CAP`] dests: their
    /// positions, and the thresholds whose passes take the same ones.
    fn collect(&self, cw: i64) -> Option<Pass> {
        let mut pass = Pass {
            list: [0; Pass::CAP],
            len: 0,
            floor: 0,
            ceil: i64::MAX,
        };
        let top = self.levels.len().checked_sub(1)?;
        self.visit(top, 0, cw, &mut pass).then_some(pass)
    }

    /// Adds what node `i` of level `l` holds to `pass`: its positions that
    /// reach `cw`, in order, and the largest available weight below `cw`
    /// (a node all below `cw` is one number). False once over the cap.
    fn visit(&self, l: usize, i: usize, cw: i64, pass: &mut Pass) -> bool {
        let Some(&s) = self.levels[l].get(i) else {
            return true;
        };
        if i64::from(s.max_avail) < cw {
            pass.floor = pass.floor.max(i64::from(s.max_avail));
            return true;
        }
        if l > 0 {
            return (i * BLOCK..i * BLOCK + BLOCK).all(|c| self.visit(l - 1, c, cw, pass));
        }
        let start = i * BLOCK;
        for (k, &ww) in self.w[start..self.w.len().min(start + BLOCK)]
            .iter()
            .enumerate()
        {
            let w = i64::from(ww as i32);
            if w >= cw {
                let Some(slot) = pass.list.get_mut(pass.len) else {
                    return false;
                };
                *slot = (start + k) as u32;
                pass.len += 1;
                pass.ceil = pass.ceil.min(w);
            } else if w > 0 {
                pass.floor = pass.floor.max(w);
            }
        }
        true
    }

    /// The highest index below `i` on level `l` whose subtree holds a dest
    /// that is not OVERLOAD with weight ≥ `cw`.
    fn node_below(&self, l: usize, i: usize, cw: u32) -> Option<usize> {
        let level = self.levels.get(l)?;
        let group = i / BLOCK * BLOCK;
        if let Some(j) = (group..i.min(level.len()))
            .rev()
            .find(|&j| level[j].max_avail >= cw)
        {
            return Some(j);
        }
        // None among its siblings: the highest qualifying child of the
        // nearest qualifying node to the left on the level above.
        let g = self.node_below(l + 1, i / BLOCK, cw)?;
        let children = g * BLOCK..level.len().min(g * BLOCK + BLOCK);
        children.rev().find(|&j| level[j].max_avail >= cw)
    }

    /// The highest position below `below` whose dest is not OVERLOAD and has
    /// weight ≥ `cw` (≥ 1), with the mask of the others in its block below it.
    #[inline]
    fn find_below(&self, below: usize, cw: i64) -> Option<(usize, u64)> {
        let below = below.min(self.w.len());
        let cw32 = i32::try_from(cw).ok()?;
        let b = below.checked_sub(1)? / BLOCK;
        let n = below - b * BLOCK;
        let low = if n == BLOCK { u64::MAX } else { (1 << n) - 1 };
        let mut m = self.block_mask(b, cw32) & low;
        let mut b = b;
        if m == 0 {
            b = self.node_below(0, b, cw32 as u32)?;
            m = self.block_mask(b, cw32);
        }
        let bit = 63 - m.leading_zeros() as usize;
        Some((b * BLOCK + bit, m & !(1 << bit)))
    }
}

/// `cl` at the list head.
const HEAD: usize = usize::MAX;

/// A pass that takes few dests, kept across passes: every threshold in
/// `(floor, ceil]` takes the dests at positions `list[..len]` (ascending).
/// `ceil` 0: none kept.
#[derive(Clone, Copy, Debug)]
struct Pass {
    list: [u32; Pass::CAP],
    len: usize,
    floor: i64,
    ceil: i64,
}

impl Pass {
    /// The most dests a kept pass lists: one bit each in a mask.
    const CAP: usize = 64;
    const NONE: Pass = Pass {
        list: [0; Pass::CAP],
        len: 0,
        floor: 0,
        ceil: 0,
    };

    fn covers(&self, cw: i64) -> bool {
        self.floor < cw && cw <= self.ceil
    }

    /// The first dest of the pass (the highest position), and the mask of
    /// the others.
    fn first(&self) -> Option<(usize, u64)> {
        let top = self.len.checked_sub(1)?;
        Some((top, (1u64 << top) - 1))
    }
}

/// Weighted round robin (`ipvsadm -s wrr`).
#[derive(Clone, Debug)]
pub struct Wrr {
    /// `mark->cl`: position of the current dest, [`HEAD`] = the list head.
    cl: usize,
    cw: i64,
    mw: i64,
    di: i64,
    /// What the pass at `cw` takes after `cl`, when `exact` (else 0): bits
    /// of positions in `cl`'s block, or, while `listed`, of indexes into
    /// `pass.list`.
    mask: u64,
    /// `mask` is known (after a pick), not merely 0 (after anything else).
    exact: bool,
    /// `mask` indexes `pass.list`.
    listed: bool,
    /// The last pass that took few dests (see [`Wrr::next_listed_pass`]).
    pass: Pass,
    weights: Weights,
}

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
            cl: HEAD,
            cw: 0,
            mw: 0,
            di: 1,
            mask: 0,
            exact: false,
            listed: false,
            pass: Pass::NONE,
            weights: Weights::default(),
        }
    }

    /// The kernel state `(cw, mw, di)`, for tests and diagnostics.
    pub fn state(&self) -> (i64, i64, i64) {
        (self.cw, self.mw, self.di)
    }

    /// Forgets the mask and the kept pass: the next pick computes them.
    fn forget_mask(&mut self) {
        self.mask = 0;
        self.exact = false;
        self.listed = false;
        self.pass = Pass::NONE;
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        self.forget_mask();
        match change {
            Change::Bound => {
                // ip_vs_wrr_init_svc: cw = mw, which dest_changed gives from cw = 0.
                self.cw = 0;
                self.weights.rebuild(dests);
            }
            Change::Added(id) | Change::Updated(id) => {
                if let Some(d) = dests.record(id) {
                    self.weights.set(d.pos as usize, d.ww);
                }
            }
            Change::Removed(_, d) => self.weights.set(d.position() as usize, 0),
            Change::Compacted(_) => {
                // Not a kernel event: the state stays. It comes right after a
                // removal, which put `cl` at the head, so no position is kept.
                debug_assert_eq!(self.cl, HEAD);
                self.weights.rebuild(dests);
                return;
            }
        }
        // ip_vs_wrr_dest_changed, over the root's summary of the whole list.
        let root = self.weights.root();
        self.cl = HEAD;
        self.di = if root.gcd == 0 {
            1
        } else {
            i64::from(root.gcd)
        };
        self.mw = i64::from(root.max) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    fn hooks(&self) -> Hooks {
        Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        if let Some(d) = dests.record(id) {
            self.weights.set(d.pos as usize, d.ww);
            self.forget_mask();
        }
    }

    #[inline]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        // The steady state, inlined into the caller: the next dest of the
        // pass in `cl`'s block.
        if self.mask != 0 {
            let bit = 63 - self.mask.leading_zeros() as usize;
            self.mask &= !(1 << bit);
            self.cl = if self.listed {
                self.pass.list[bit] as usize
            } else {
                (self.cl & !(BLOCK - 1)) | bit
            };
            return dests.id_at(self.cl);
        }
        // A kept pass used up, and the next one the same (the common pass
        // change on short lists and sparse passes): see `next_listed_pass`.
        if self.exact && self.listed {
            let cw = if self.cw > self.di {
                self.cw - self.di
            } else {
                self.mw
            };
            if self.pass.covers(cw)
                && let Some((i, rest)) = self.pass.first()
            {
                self.cw = cw;
                return self.found(dests, i, rest, true);
            }
        }
        self.schedule_slow(dests)
    }
}

impl Wrr {
    /// The kernel's pass loop, each pass one [`Weights::find_below`]: every
    /// pick but the steady one (a block used up, a pass that ends, a mask
    /// forgotten).
    #[inline(never)]
    fn schedule_slow(&mut self, dests: &Dests) -> Option<DestId> {
        if self.mw == 0 {
            return None;
        }
        if self.exact
            && self.listed
            && let Some(id) = self.next_listed_pass(dests)
        {
            return Some(id);
        }
        let last = self.cl;
        // Where the scan goes on: below cl, or below cl's block when its
        // mask is known to be used up (a used-up list also leaves nothing
        // below cl).
        let mut below = match last {
            HEAD => usize::MAX,
            cl if self.exact => cl & !(BLOCK - 1),
            cl => cl,
        };
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // A pass is worth collecting where one ends and the next begins:
        // its cost is then spread over the picks of the passes that reuse
        // it. Right after a change (`cl` at the head) the first pass is
        // scanned, so a pick after each change costs no collection.
        let mut may_collect = last != HEAD;
        loop {
            let (hit, listed) = if below == usize::MAX
                && (self.pass.covers(self.cw) || (may_collect && self.keep_pass(self.cw)))
            {
                (self.pass.first(), true)
            } else {
                (self.weights.find_below(below, self.cw), false)
            };
            may_collect = true;
            match (hit, stop) {
                (Some((p, rest)), None) => return self.found(dests, p, rest, listed),
                (Some((p, rest)), Some(s)) if self.position(p, listed) >= s => {
                    return self.found(dests, p, rest, listed);
                }
                (_, Some(s)) => {
                    // The scan reached `stop` without a hit: "all overloaded".
                    self.cl = s;
                    self.forget_mask();
                    return None;
                }
                (None, None) => {}
            }
            // At the list head: lower cw. Skip whole runs of passes that cannot
            // find anything and have no side effect (cw stays above di).
            if stop.is_none() && self.cw - self.di > self.di {
                let t = i64::from(self.weights.root().max_avail).max(self.di);
                if self.cw > t {
                    let k = (self.cw - t - 1) / self.di;
                    self.cw -= k * self.di;
                }
            }
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last == HEAD {
                    self.cl = HEAD;
                    self.forget_mask();
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last != HEAD {
                stop = Some(last);
            }
            below = usize::MAX;
        }
    }

    /// Whether `pass` holds the pass at `cw`, collecting it if it takes at
    /// most [`Pass::CAP`] dests.
    fn keep_pass(&mut self, cw: i64) -> bool {
        if self.pass.covers(cw) {
            return true;
        }
        match self.weights.collect(cw) {
            Some(pass) => {
                self.pass = pass;
                true
            }
            None => false,
        }
    }

    /// The kernel's step to the next pass when a kept pass is used up (the
    /// last pick took a dest at `cw`, and none is left after it): `cw` drops
    /// by `di` (from `mw` again below 1), and the next pass runs from the
    /// head. `None`, with nothing changed, for a pass that takes nothing
    /// (the general loop decides).
    ///
    /// A dest was taken at `cw`, so `cw` is not above every available
    /// weight: the kernel skips no passes here. After a restart at `mw ≤ di`
    /// (all weights equal, `mw` = 1) its last pass stops at `cl`; but `cl`
    /// takes that pass too (nothing changed since it was taken), so the
    /// pass's first dest is at or before `cl`, as for an unbounded pass.
    fn next_listed_pass(&mut self, dests: &Dests) -> Option<DestId> {
        let mut cw = self.cw - self.di;
        if cw <= 0 {
            cw = self.mw;
        }
        let (p, rest, listed) = if self.keep_pass(cw) {
            let (i, rest) = self.pass.first()?;
            (i, rest, true)
        } else {
            let (p, rest) = self.weights.find_below(usize::MAX, cw)?;
            (p, rest, false)
        };
        self.cw = cw;
        self.found(dests, p, rest, listed)
    }

    /// The position of a hit: `p` itself, or the listed position at index `p`.
    fn position(&self, p: usize, listed: bool) -> usize {
        if listed {
            self.pass.list[p] as usize
        } else {
            p
        }
    }

    /// The pick of the hit `p` (see [`Wrr::position`]); `rest` becomes the mask.
    #[inline]
    fn found(&mut self, dests: &Dests, p: usize, rest: u64, listed: bool) -> Option<DestId> {
        self.cl = self.position(p, listed);
        self.mask = rest;
        self.exact = true;
        self.listed = listed;
        dests.id_at(self.cl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The summary of positions `lo..hi` by a plain pass.
    fn plain(w: &[u32], lo: usize, hi: usize) -> Summary {
        Weights::summarize(w[lo..hi.min(w.len())].iter().map(|&x| Summary::of(x)))
    }

    proptest! {
        /// After any sequence of sets (growing the positions past several
        /// levels), every node is the summary of its positions, and
        /// `find_below` answers as a scan does.
        #[test]
        fn weights_match_a_plain_scan(
            sets in prop::collection::vec((0usize..9000, prop_oneof![Just(0u32), 1u32..7, Just(12), Just(OVERLOADED | 4)]), 1..200),
            queries in prop::collection::vec((0usize..9100, 1i64..13), 1..40),
        ) {
            let mut ws = Weights::default();
            let mut plain_w: Vec<u32> = Vec::new();
            for &(p, ww) in &sets {
                ws.set(p, ww);
                if p >= plain_w.len() { plain_w.resize(p + 1, 0); }
                plain_w[p] = ww;
            }
            prop_assert_eq!(&ws.w, &plain_w);
            let mut span = BLOCK;
            for level in &ws.levels {
                for (i, s) in level.iter().enumerate() {
                    prop_assert_eq!(*s, plain(&plain_w, i * span, (i + 1) * span));
                }
                span *= BLOCK;
            }
            prop_assert_eq!(ws.levels.last().map(Vec::len), Some(1));
            for (below, cw) in queries {
                let want = (0..below.min(plain_w.len())).rev().find(|&p| plain_w[p] as i32 >= cw as i32);
                let got = ws.find_below(below, cw);
                prop_assert_eq!(got.map(|g| g.0), want);
                if let Some((p, rest)) = got {
                    let b = p / BLOCK * BLOCK;
                    let want_rest = (b..p).filter(|&q| plain_w[q] as i32 >= cw as i32)
                        .fold(0u64, |m, q| m | 1 << (q - b));
                    prop_assert_eq!(rest, want_rest);
                }
            }
        }
    }
}
