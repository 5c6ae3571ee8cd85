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
//!   takes a block's dests at `cw` as a bit mask. Each block keeps its 64
//!   offsets sorted by weight and the mask of its last query: the mask at the
//!   next threshold adds (or drops) only the dests whose weight lies between
//!   the two, so over a whole cycle of passes each dest enters and leaves its
//!   block's mask once.
//! - **A pick** takes the highest bit of the mask left from the last one (the
//!   dests of `cl`'s block after `cl` that the pass takes): O(1).
//! - **A pass that takes few dests** (at most 64, or one in 64 of a long
//!   list: a short list; the passes of a few heavy dests among light ones, or
//!   of a pool mostly drained, where the kernel scans the whole list for each
//!   of them) is kept as a list of positions, with the range of thresholds
//!   whose passes take the same dests (no available weight lies between
//!   them): the passes that follow reuse it, O(1) per pick again. A pass
//!   that does not fit is not collected again at a lower threshold (it only
//!   grows) until the weights change.
//!
//! Runs of passes that cannot find anything (the heaviest dests overloaded)
//! are skipped arithmetically.

use crate::{Change, DestId, Dests, Flow, Hooks, MAX_WEIGHT, Scheduler, gcd};

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
    /// Each block's offsets, by weight word (as `i32`, 0 past the end of
    /// `w`) from the largest: the dests a threshold takes are a prefix.
    sorted: Vec<[u8; BLOCK]>,
    /// Each block's mask at the threshold of its last query.
    taken: Vec<Taken>,
}

/// A block's dests at threshold `cw`: the prefix `sorted[..len]`, as a mask.
#[derive(Clone, Copy, Debug)]
struct Taken {
    mask: u64,
    /// `u32::MAX`, above every weight: none taken (the state after a change).
    cw: u32,
    len: u8,
}

impl Taken {
    const NONE: Taken = Taken {
        mask: 0,
        cw: u32::MAX,
        len: 0,
    };
}

impl Weights {
    /// Indexes every dest: O(n).
    fn rebuild(&mut self, dests: &Dests) {
        let blocks = dests.positions().div_ceil(BLOCK);
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
        self.sorted = self
            .w
            .chunks(BLOCK)
            .map(|c| {
                let mut order: [u8; BLOCK] = std::array::from_fn(|k| k as u8);
                order.sort_unstable_by_key(|&k| std::cmp::Reverse(Self::key(c, k)));
                order
            })
            .collect();
        self.taken = vec![Taken::NONE; blocks];
    }

    /// The weight words of block `b` (the last one may be short).
    #[inline]
    fn block(&self, b: usize) -> &[u32] {
        let (start, len) = (b * BLOCK, self.w.len());
        &self.w[start.min(len)..len.min(start + BLOCK)]
    }

    /// The weight word at offset `k` of `block` as the `i32` it is sorted
    /// and compared by: an OVERLOAD word is negative, one past the end 0.
    #[inline]
    fn key(block: &[u32], k: u8) -> i32 {
        block.get(usize::from(k)).map_or(0, |&ww| ww as i32)
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
        self.resort(i, p % BLOCK);
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
        let blocks = n.div_ceil(BLOCK).max(1);
        // New positions in the last block weigh 0, as they did past the end:
        // its order stands.
        self.w.resize(n.max(self.w.len()), 0);
        self.sorted.resize(blocks, std::array::from_fn(|k| k as u8));
        self.taken.resize(blocks, Taken::NONE);
        let mut need = blocks;
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

    /// Moves offset `k` of block `b`, whose weight changed, to its place in
    /// the block's order, and forgets the block's mask: O(64).
    fn resort(&mut self, b: usize, k: usize) {
        let (start, len) = (b * BLOCK, self.w.len());
        let w = &self.w[start.min(len)..len.min(start + BLOCK)];
        let order = &mut self.sorted[b];
        let key = |o: u8| Self::key(w, o);
        let mut i = order.iter().position(|&o| o as usize == k).unwrap_or(0);
        let own = key(order[i]);
        while i > 0 && key(order[i - 1]) < own {
            order[i] = order[i - 1];
            i -= 1;
        }
        while i + 1 < BLOCK && key(order[i + 1]) > own {
            order[i] = order[i + 1];
            i += 1;
        }
        order[i] = k as u8;
        self.taken[b] = Taken::NONE;
    }

    /// The positions of block `b` whose weight word reaches `cw` ≥ 1
    /// (OVERLOAD words never do), as bits: the mask of the block's last
    /// query, with the dests whose weight lies between the two thresholds
    /// added or dropped.
    #[inline]
    fn block_mask(&mut self, b: usize, cw: u32) -> u64 {
        let t = &mut self.taken[b];
        if t.cw != cw {
            let order = &self.sorted[b];
            let (start, n) = (b * BLOCK, self.w.len());
            let w = &self.w[start.min(n)..n.min(start + BLOCK)];
            // Weights and thresholds are below 2³¹: compared as i32, an
            // OVERLOAD word is negative.
            let reaches = |i: usize| Self::key(w, order[i]) >= cw as i32;
            let mut len = t.len as usize;
            if cw < t.cw {
                while len < BLOCK && reaches(len) {
                    t.mask |= 1 << order[len];
                    len += 1;
                }
            } else {
                while len > 0 && !reaches(len - 1) {
                    len -= 1;
                    t.mask &= !(1 << order[len]);
                }
            }
            t.len = len as u8;
            t.cw = cw;
        }
        t.mask
    }

    /// Collects into `pass` the pass at `cw` (≥ 1), if it takes at most
    /// [`Pass::cap`] dests: their positions, and the thresholds whose passes
    /// take the same ones. False if it takes more (`pass` is then partial).
    fn collect(&mut self, cw: i64, pass: &mut Pass) -> bool {
        pass.list.clear();
        pass.floor = 0;
        pass.ceil = i64::MAX;
        let Some(cw) = u32::try_from(cw).ok().filter(|&c| c <= MAX_WEIGHT) else {
            return true;
        };
        // Within the capacity reserved at the last change: a pick never
        // allocates (a clone's capacity may be less; it keeps fewer passes).
        let cap = Pass::cap(self.w.len()).min(pass.list.capacity());
        match self.levels.len().checked_sub(1) {
            Some(top) => self.visit(top, 0, cw, cap, pass),
            None => true,
        }
    }

    /// Adds what node `i` of level `l` holds to `pass`: its positions that
    /// reach `cw`, in order, and the largest available weight below `cw`
    /// (a node all below `cw` is one number). False once over `cap`.
    fn visit(&mut self, l: usize, i: usize, cw: u32, cap: usize, pass: &mut Pass) -> bool {
        let Some(&s) = self.levels[l].get(i) else {
            return true;
        };
        if s.max_avail < cw {
            pass.floor = pass.floor.max(i64::from(s.max_avail));
            return true;
        }
        if l > 0 {
            return (i * BLOCK..i * BLOCK + BLOCK).all(|c| self.visit(l - 1, c, cw, cap, pass));
        }
        // The block's mask at `cw` is a prefix of its order: the weight
        // after it is the largest below `cw`, the last in it the least
        // taken.
        let mut m = self.block_mask(i, cw);
        if m.count_ones() as usize > cap - pass.list.len() {
            return false;
        }
        let (order, taken) = (&self.sorted[i], self.taken[i].len as usize);
        let block = self.block(i);
        let weight = |j: usize| i64::from(Self::key(block, order[j]));
        if let Some(least) = taken.checked_sub(1) {
            pass.ceil = pass.ceil.min(weight(least));
        }
        if taken < BLOCK {
            pass.floor = pass.floor.max(weight(taken));
        }
        while m != 0 {
            pass.list.push((i * BLOCK) as u32 + m.trailing_zeros());
            m &= m - 1;
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
    fn find_below(&mut self, below: usize, cw: i64) -> Option<(usize, u64)> {
        let below = below.min(self.w.len());
        let cw32 = u32::try_from(cw).ok().filter(|&c| c <= MAX_WEIGHT)?;
        let b = below.checked_sub(1)? / BLOCK;
        let n = below - b * BLOCK;
        let low = if n == BLOCK { u64::MAX } else { (1 << n) - 1 };
        let mut m = self.block_mask(b, cw32) & low;
        let mut b = b;
        if m == 0 {
            b = self.node_below(0, b, cw32)?;
            m = self.block_mask(b, cw32);
        }
        let bit = 63 - m.leading_zeros() as usize;
        Some((b * BLOCK + bit, m & !(1 << bit)))
    }
}

/// `cl` at the list head.
const HEAD: usize = usize::MAX;

/// A pass that takes few dests, kept across passes: every threshold in
/// `(floor, ceil]` takes the dests at positions `list` (ascending). `ceil`
/// 0: none kept.
#[derive(Clone, Debug, Default)]
struct Pass {
    list: Vec<u32>,
    floor: i64,
    ceil: i64,
    /// A pass at this threshold or below takes more than [`Pass::cap`]
    /// dests (0: none known), so it is not collected.
    too_long: i64,
}

impl Pass {
    /// The most dests a kept pass lists, for `positions` positions: 64, or
    /// one in 64 (4 bytes for every 64 dests), and no more than there are.
    fn cap(positions: usize) -> usize {
        (positions / BLOCK).max(BLOCK).min(positions)
    }

    /// Forgets the pass (the weights changed), keeping the list's capacity.
    fn forget(&mut self) {
        self.list.clear();
        self.floor = 0;
        self.ceil = 0;
        self.too_long = 0;
    }

    fn covers(&self, cw: i64) -> bool {
        self.floor < cw && cw <= self.ceil
    }

    /// The first dest of the pass (the highest position) as an index into
    /// `list`, and the mask of the others in its window of 64 indexes.
    fn first(&self) -> Option<(usize, u64)> {
        let top = self.list.len().checked_sub(1)?;
        Some((top, (1u64 << (top % BLOCK)) - 1))
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
    /// `window`.
    mask: u64,
    /// `mask` is known (after a pick), not merely 0 (after anything else).
    exact: bool,
    /// `mask` indexes `window`.
    listed: bool,
    /// While `listed`: `pass.list[wbase..]`, 64 entries at most (all of a
    /// pass of 64 dests or fewer), where a pick reads them without a check.
    window: [u32; BLOCK],
    wbase: usize,
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
            window: [0; BLOCK],
            wbase: 0,
            pass: Pass::default(),
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
        self.pass.forget();
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
                self.pass.list.reserve(Pass::cap(dests.positions()));
                return;
            }
        }
        // Room for the longest pass kept, so that no pick allocates.
        self.pass.list.reserve(Pass::cap(dests.positions()));
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

    // Always inlined: the steady state is a few instructions, less than
    // a call's prologue and epilogue.
    #[inline(always)]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        // The steady state, inlined into the caller: the next dest of the
        // pass in `cl`'s block.
        if self.mask != 0 {
            let bit = 63 - self.mask.leading_zeros() as usize;
            self.mask &= !(1 << bit);
            self.cl = if self.listed {
                self.window[bit] as usize
            } else {
                (self.cl & !(BLOCK - 1)) | bit
            };
            return dests.id_at(self.cl);
        }
        // A kept pass of one window used up, and the next one the same (the
        // common pass change on short lists): see `next_listed_pass`.
        if self.exact && self.listed && self.pass.list.len() <= BLOCK {
            let cw = if self.cw > self.di {
                self.cw - self.di
            } else {
                self.mw
            };
            if self.pass.covers(cw)
                && let Some(top) = self.pass.list.len().checked_sub(1)
            {
                self.cw = cw;
                self.cl = self.window[top] as usize;
                self.mask = (1 << top) - 1;
                return dests.id_at(self.cl);
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
        if self.exact && self.listed {
            // A window of a long kept pass used up, and one below it (full).
            if self.wbase >= BLOCK {
                let top = self.wbase - 1;
                return self.found(dests, top, u64::MAX >> 1, true);
            }
            if let Some(id) = self.next_listed_pass(dests) {
                return Some(id);
            }
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
    /// most [`Pass::cap`] dests.
    fn keep_pass(&mut self, cw: i64) -> bool {
        if self.pass.covers(cw) {
            return true;
        }
        if cw <= self.pass.too_long {
            return false;
        }
        let too_long = self.pass.too_long;
        if self.weights.collect(cw, &mut self.pass) {
            self.pass.too_long = too_long;
            true
        } else {
            // Partial: keep nothing but the threshold it failed at.
            self.pass.forget();
            self.pass.too_long = cw;
            false
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
            self.pass.list.get(p).map_or(HEAD, |&q| q as usize)
        } else {
            p
        }
    }

    /// The pick of the hit `p` (see [`Wrr::position`]); `rest` becomes the
    /// mask (of `p`'s window, when `listed`).
    #[inline]
    fn found(&mut self, dests: &Dests, p: usize, rest: u64, listed: bool) -> Option<DestId> {
        self.cl = self.position(p, listed);
        if listed {
            self.wbase = p & !(BLOCK - 1);
            let entries = self.pass.list.get(self.wbase..).unwrap_or_default();
            for (to, &from) in self.window.iter_mut().zip(entries) {
                *to = from;
            }
        }
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

    /// A set of one weight word, or a `find_below` query.
    #[derive(Clone, Debug)]
    enum Op {
        Set(usize, u32),
        Find(usize, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let ww = prop_oneof![Just(0u32), 1u32..7, Just(12), Just(OVERLOADED | 4)];
        prop_oneof![
            (0usize..9000, ww).prop_map(|(p, ww)| Op::Set(p, ww)),
            (0usize..9100, 1i64..13).prop_map(|(b, cw)| Op::Find(b, cw)),
        ]
    }

    proptest! {
        /// After any sequence of sets (growing the positions past several
        /// levels) and queries in between (each block's mask moves from the
        /// last query's threshold), every node is the summary of its
        /// positions, every block's order is by weight, and `find_below`
        /// answers as a scan does.
        #[test]
        fn weights_match_a_plain_scan(ops in prop::collection::vec(op(), 1..300)) {
            let mut ws = Weights::default();
            let mut plain_w: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Set(p, ww) => {
                        ws.set(p, ww);
                        if p >= plain_w.len() { plain_w.resize(p + 1, 0); }
                        plain_w[p] = ww;
                    }
                    Op::Find(below, cw) => {
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
            prop_assert_eq!(&ws.w, &plain_w);
            let mut span = BLOCK;
            for level in &ws.levels {
                for (i, s) in level.iter().enumerate() {
                    prop_assert_eq!(*s, plain(&plain_w, i * span, (i + 1) * span));
                }
                span *= BLOCK;
            }
            if !plain_w.is_empty() {
                prop_assert_eq!(ws.levels.last().map(Vec::len), Some(1));
            }
            for (b, order) in ws.sorted.iter().enumerate() {
                let key = |k: u8| Weights::key(ws.block(b), k);
                prop_assert!(order.windows(2).all(|p| key(p[0]) >= key(p[1])));
                let mut seen = *order;
                seen.sort_unstable();
                prop_assert!(seen.iter().enumerate().all(|(i, &k)| i == k as usize));
            }
        }
    }
}
