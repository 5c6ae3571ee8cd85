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
//! This implementation keeps that state exactly and answers each pick from one of
//! two structures, built lazily at the first pick after a change:
//!
//! - **No dest overloaded** (the common case): `Levels`. The pass at `cw`
//!   yields the dests with weight ≥ `cw` in list order, and that set only changes
//!   where `cw` crosses a weight that occurs, so the list of each such set is
//!   precomputed. A pick is then the next entry of the current list: O(1), no
//!   scan. (With nothing overloaded the kernel's scan never fails: the dest with
//!   the largest weight qualifies at every `cw` ≤ `mw`.)
//! - **Some dest overloaded**, or more than [`LEVELS_CAP_PER_DEST`] entries: the kernel's
//!   pass loop, each pass ("the first eligible dest after position p") one query
//!   on a `HierBits` of the dests whose weight ≥ `cw` that are not overloaded
//!   (O(log₆₄ n) instead of a scan; up to `SMALL` dests a plain scan).
//!   Membership grows as `cw` falls and is rebuilt when a cycle restarts; runs of
//!   passes that cannot find anything (the heaviest dests overloaded) are skipped
//!   arithmetically.
//!
//! Both read and write the same `{cl, cw}`, so a pick may switch between them at
//! any time (an OVERLOAD flip) and the sequence stays the kernel's.

use crate::bits::HierBits;
use crate::{Change, DestId, Dests, Flow, Hooks, Scheduler, gcd};

/// Default bound of the `Levels` table, in entries per dest (spread weights
/// 1..=100 need about 50), and at least 2¹⁶ entries in all. Beyond it picks use
/// the pass loop, whose memory is O(n). See [`Wrr::with_levels_cap`].
pub const LEVELS_CAP_PER_DEST: usize = 64;
const LEVELS_CAP_MIN: usize = 1 << 16;

/// The steady wrr passes with no dest overloaded, precomputed.
///
/// Invariant (for the dest list it was built from): `weights` holds the distinct
/// positive weights, descending; for each `k`, `ranks[start[k]..start[k + 1]]`
/// holds the ranks of the dests with weight ≥ `weights[k]` in list order
/// (descending rank). The pass at threshold `cw` (1 ≤ `cw` ≤ `weights[0]`) is
/// list `k` for the largest `k` with `weights[k]` ≥ `cw`. `ids[r]` is the handle
/// of the dest at rank `r`. Size: Σₖ |list k| ≤ n × (number of distinct weights).
#[derive(Clone, Debug, Default)]
struct Levels {
    weights: Vec<u32>,
    start: Vec<usize>,
    /// Per list `k`: its bounds in `ranks` and `floor` = `weights[k + 1]` (0 for
    /// the last list), so a pass that ends knows from one entry whether the
    /// next `cw` stays in this list (`cw > floor`).
    lists: Vec<List>,
    ranks: Vec<u32>,
    ids: Vec<DestId>,
}

#[derive(Clone, Copy, Debug, Default)]
struct List {
    start: usize,
    end: usize,
    floor: i64,
}

impl Levels {
    /// Builds the lists, or `None` when they would exceed `cap` entries.
    fn build(dests: &Dests, cap: usize) -> Option<Levels> {
        let n = dests.len();
        let mut weights: Vec<u32> = (0..n)
            .map(|r| dests.at_rank(r).1.weight)
            .filter(|&w| w > 0)
            .collect();
        weights.sort_unstable_by(|a, b| b.cmp(a));
        weights.dedup();
        let k = weights.len();
        // level[r]: index of the dest's weight in `weights`; it is in lists
        // level[r]..k. count[j]: dests whose weight is weights[j].
        let mut count = vec![0usize; k];
        let mut level = vec![usize::MAX; n];
        let mut total = 0usize;
        for (r, lv) in level.iter_mut().enumerate() {
            let w = dests.at_rank(r).1.weight;
            if w > 0 {
                let j = weights.partition_point(|&t| t > w);
                *lv = j;
                count[j] += 1;
                total += k - j;
                if total > cap {
                    return None;
                }
            }
        }
        let mut start = Vec::with_capacity(k + 1);
        let (mut at, mut size) = (0usize, 0usize);
        for c in &count {
            size += c;
            start.push(at);
            at += size;
        }
        start.push(at);
        let mut ranks = vec![0u32; total];
        let mut fill = start.clone();
        for r in (0..n).rev() {
            let j = level[r];
            for f in fill.iter_mut().take(k).skip(j) {
                ranks[*f] = r as u32;
                *f += 1;
            }
        }
        let ids = (0..n).map(|r| dests.at_rank(r).0).collect();
        let lists = (0..k)
            .map(|j| List {
                start: start[j],
                end: start[j + 1],
                floor: weights.get(j + 1).map_or(0, |&w| w as i64),
            })
            .collect();
        Some(Levels {
            weights,
            start,
            lists,
            ranks,
            ids,
        })
    }

    /// The list for threshold `cw` (see the invariant), `None` if `cw` is above
    /// every weight.
    fn list_for(&self, cw: i64) -> Option<usize> {
        self.weights
            .partition_point(|&t| t as i64 >= cw)
            .checked_sub(1)
    }
}

/// Where the next pick is in [`Levels`]: `ranks[pos]` of list `list`
/// (`pos == end` when the pass is exhausted). Valid for the `{cl, cw}` it was
/// derived from; any other writer of `cl` / `cw` drops it.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    list: usize,
    pos: usize,
    end: usize,
}

impl Cursor {
    /// The pick at this cursor, which it then passes: the next entry of the
    /// pass, or, at the pass's end, the first of the next pass (`cw` lowered
    /// by `di`, from `mw` again below 1). `None` only if `lv` is not the
    /// levels the cursor was derived from.
    #[inline]
    fn next(&mut self, lv: &Levels, cw: &mut i64, mw: i64, di: i64) -> Option<DestId> {
        if self.pos == self.end {
            // The scan from cl reaches the list end: cw drops by di, and below 1
            // the cycle restarts at mw (list 0: the dests of the largest weight).
            // Never the kernel's "all overloaded" exit: nothing is overloaded,
            // and the last pass's stop dest (cl) qualifies itself.
            *cw -= di;
            if *cw <= 0 {
                *cw = mw;
                self.list = 0;
            } else {
                while lv.lists.get(self.list).is_some_and(|l| *cw <= l.floor) {
                    self.list += 1;
                }
            }
            // Always Some: the loop stops at the last list (floor 0 < cw),
            // and list 0 exists while mw > 0.
            let l = lv.lists.get(self.list)?;
            (self.pos, self.end) = (l.start, l.end);
        }
        let r = *lv.ranks.get(self.pos)?;
        // cl is left stale: with a cursor, it is ranks[pos - 1] (see `cl`).
        self.pos += 1;
        lv.ids.get(r as usize).copied()
    }
}

/// Weighted round robin (`ipvsadm -s wrr`).
#[derive(Clone, Debug)]
pub struct Wrr {
    /// `mark->cl`: rank of the current dest, `None` = the list head. Ranks only
    /// change on add/delete, which reset `cl` to the head. While `cursor` is
    /// set, picks from [`Levels`] leave this stale (one store less per pick):
    /// the current dest is then `ranks[cursor.pos - 1]`, written back by
    /// `materialize_cl` before anything else reads `cl`.
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
    /// `by_weight` and `bits` reflect the current list (else built at the next
    /// pick that needs them).
    index_ready: bool,
    /// Number of dests with OVERLOAD set; [`Levels`] serve only when 0.
    overloaded: usize,
    /// The precomputed passes; `None` until built, or over the cap.
    levels: Option<Levels>,
    /// `levels` reflects the current list (else rebuilt at the next pick).
    levels_ready: bool,
    /// Position in `levels` for the current `{cl, cw}`.
    cursor: Option<Cursor>,
    /// Bound on `levels` entries (`None`: the default for the list length).
    levels_cap: Option<usize>,
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
            index_ready: false,
            overloaded: 0,
            levels: None,
            levels_ready: false,
            cursor: None,
            levels_cap: None,
        }
    }

    /// A wrr scheduler whose precomputed passes may hold at most `entries`
    /// entries (4 bytes each; the table needs Σ over dests of the number of
    /// distinct weights ≤ the dest's weight). Larger configurations, and
    /// `entries = 0`, use the pass loop for every pick. [`Wrr::new`] allows
    /// [`LEVELS_CAP_PER_DEST`] per dest.
    pub fn with_levels_cap(entries: usize) -> Self {
        Wrr {
            levels_cap: Some(entries),
            ..Wrr::new()
        }
    }

    fn levels_cap(&self, n: usize) -> usize {
        self.levels_cap
            .unwrap_or_else(|| n.saturating_mul(LEVELS_CAP_PER_DEST).max(LEVELS_CAP_MIN))
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
        self.overloaded = dests.iter().filter(|(_, d)| d.overloaded).count();
        // Both structures are rebuilt lazily, at the next pick that needs them.
        self.index_ready = false;
        self.levels_ready = false;
        self.cursor = None;
    }

    fn hooks(&self) -> Hooks {
        Hooks::OVERLOAD
    }

    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        let Some(d) = dests.get(id) else { return };
        if d.overloaded {
            self.overloaded += 1;
        } else {
            self.overloaded = self.overloaded.saturating_sub(1);
        }
        if self.small || !self.index_ready {
            return;
        }
        if (d.weight as i64) >= self.lvl {
            if d.overloaded {
                self.bits.clear(d.rank as usize);
            } else {
                self.bits.set(d.rank as usize);
            }
        }
    }

    #[inline]
    fn schedule(&mut self, dests: &Dests, _flow: &Flow) -> Option<DestId> {
        // The steady state, inlined into the caller: the cursor's pick, the
        // cursor advanced in place. A cursor exists only for levels that
        // reflect the list (`dest_changed` drops both), hence only while
        // `mw > 0`.
        if self.overloaded == 0
            && let (Some(c), Some(lv)) = (&mut self.cursor, &self.levels)
            && let Some(id) = c.next(lv, &mut self.cw, self.mw, self.di)
        {
            return Some(id);
        }
        self.schedule_slow(dests)
    }
}

impl Wrr {
    /// Every pick but the steady one: no cursor yet, a pass that ends,
    /// [`Levels`] to build, a dest overloaded, or no levels (over the cap).
    #[inline(never)]
    fn schedule_slow(&mut self, dests: &Dests) -> Option<DestId> {
        if self.mw == 0 {
            return None;
        }
        if self.overloaded == 0 {
            if !self.levels_ready {
                self.levels = Levels::build(dests, self.levels_cap(dests.len()));
                self.levels_ready = true;
            }
            if let Some(id) = self.pick_levels() {
                return Some(id);
            }
        }
        self.materialize_cl();
        self.pick_passes(dests)
    }

    /// Writes back the `cl` a [`Cursor`] stands for and drops the cursor, so
    /// that `{cl, cw}` alone is the kernel state again.
    fn materialize_cl(&mut self) {
        if let (Some(c), Some(lv)) = (self.cursor.take(), self.levels.as_ref()) {
            let last = c.pos.checked_sub(1).and_then(|p| lv.ranks.get(p));
            if let Some(&r) = last {
                self.cl = Some(r as usize);
            }
        }
    }

    /// The [`Cursor`] for the current `{cl, cw}`: the pass at cw continues with
    /// the first entry after cl in list order (a lower rank).
    #[inline(never)]
    fn derive_cursor(&self, lv: &Levels) -> Option<Cursor> {
        let list = lv.list_for(self.cw)?;
        let (s, end) = (lv.start[list], lv.start[list + 1]);
        let pos = match self.cl {
            None => s,
            Some(cl) => s + lv.ranks[s..end].partition_point(|&r| r as usize >= cl),
        };
        Some(Cursor { list, pos, end })
    }

    /// A pick from [`Levels`] (no dest overloaded), `None` when they are not
    /// available, in which case nothing was changed. (`schedule` inlines the
    /// common case: a cursor already derived.)
    fn pick_levels(&mut self) -> Option<DestId> {
        let lv = self.levels.as_ref()?;
        if self.cursor.is_none() {
            self.cursor = Some(self.derive_cursor(lv)?);
        }
        let c = self.cursor.as_mut()?;
        c.next(lv, &mut self.cw, self.mw, self.di)
    }

    /// The kernel's pass loop over the bitset index (or plain scans when small).
    fn pick_passes(&mut self, dests: &Dests) -> Option<DestId> {
        if !self.index_ready {
            self.build_index(dests);
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
            if stop.is_none() && self.cw - self.di > self.di {
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
    /// Builds `by_weight` and the (empty) bitset for the current list.
    fn build_index(&mut self, dests: &Dests) {
        self.by_weight.clear();
        self.by_weight
            .extend((0..dests.len()).map(|r| (dests.at_rank(r).1.weight, r as u32)));
        self.by_weight.sort_unstable_by(|a, b| b.cmp(a));
        self.small = dests.len() <= SMALL;
        self.bits = HierBits::new(if self.small { 0 } else { dests.len() });
        self.ptr = 0;
        self.lvl = i64::MAX;
        self.index_ready = true;
    }

    #[inline]
    fn found(&mut self, dests: &Dests, rank: usize) -> DestId {
        self.cl = Some(rank);
        dests.at_rank(rank).0
    }
}
