// SPDX-License-Identifier: MIT OR Apache-2.0
//! The engine behind lc, wlc, sed, nq, fo and ovf.
//!
//! Each of these kernel schedulers scans the whole list and keeps the first dest
//! that is strictly better than the best so far. Since "better" is a total
//! preorder, the result is the least dest by `(key, list position)`, where an
//! earlier list position (a larger position) wins ties. This
//! engine keeps the eligible dests in a tournament tree on exactly that order:
//! one leaf per slot, each inner node the slot of the least of its two
//! children (4 bytes a slot), so a pick reads the root and a connection event
//! replays the matches on one path, log₂ of the slot count comparisons of keys
//! read from the records, and no allocation. Below [`SMALL`] dests the
//! tree is not kept and a pick is the plain scan, which is faster there.

use std::cmp::Ordering;
use std::marker::PhantomData;

use crate::dest::Record;
use crate::{DestId, Dests};

/// Up to this many dests, pick by a linear scan and keep no index.
pub(crate) const SMALL: usize = 8;

/// A scheduler's ranking: `key(d)` is `None` when `d` is not eligible; among
/// eligible dests the least key wins, ties going to the earlier list entry.
pub(crate) trait Rule {
    type Key: Ord + Copy + std::fmt::Debug;
    /// A key above every eligible dest's and below none: where a scan
    /// starts, and what the scan reads for a dest that is not eligible
    /// (which so never wins, with one compare and no test of its own).
    const WORST: Self::Key;
    fn key(d: &Record) -> Option<Self::Key>;
}

/// `a / b` compared by cross-multiplication (`a × d` vs `c × b`), as the kernel's
/// `(__s64)loh * w > (__s64)doh * w_least` tests; `b` is never 0 but in
/// [`Ratio::WORST`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ratio {
    pub(crate) num: u64,
    pub(crate) den: u64,
}

impl Ratio {
    /// 1 / 0, above every ratio of a positive weight: `k < WORST` reads
    /// `k.num × 0 < 1 × k.den`.
    pub(crate) const WORST: Ratio = Ratio { num: 1, den: 0 };
}

impl PartialEq for Ratio {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ratio {}
impl PartialOrd for Ratio {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ratio {
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        // Denominators are weights (< 2³¹): with numerators below 2³² the
        // products fit in 64 bits, the common case by far (2²⁴ active
        // connections per dest).
        if (self.num | o.num) >> 32 == 0 {
            return (self.num * o.den).cmp(&(o.num * self.den));
        }
        (self.num as u128 * o.den as u128).cmp(&(o.num as u128 * self.den as u128))
    }
}

/// No slot: an empty subtree, or one without an eligible dest.
const NONE: u32 = u32::MAX;

/// A contender in a match: its slot, its key and its position (a higher
/// position is earlier in the list and wins ties). `None`: nobody eligible.
type Entry<K> = Option<(K, u32, u32)>;

/// An index of the eligible dests under rule `R`.
#[derive(Clone, Debug)]
pub(crate) struct Keyed<R: Rule> {
    /// The inner nodes of a tournament tree over the slots, heap-ordered:
    /// `nodes[1]` is the root, the children of `i` are `2i` and `2i + 1`, and
    /// the leaf of slot `s` is index `leaves + s`, where `leaves` is the
    /// length (a power of two, at least the slot count when built; `nodes[0]`
    /// is unused). Leaves are not stored: a leaf is its slot. Each node holds
    /// the slot of the least dest below it ([`NONE`] if none is eligible), so
    /// the tree costs 4 bytes per slot; keys are read from the records. Empty
    /// while not indexed.
    nodes: Vec<u32>,
    indexed: bool,
    /// Not indexed, and the list in slot order ([`Dests::in_slot_order`]):
    /// a pick scans the records themselves. Set with `indexed` at every
    /// change of the list ([`Keyed::resize`]), so a pick tests one flag.
    slot_scan: bool,
    rule: PhantomData<R>,
}

impl<R: Rule> Default for Keyed<R> {
    fn default() -> Self {
        Keyed {
            nodes: Vec::new(),
            indexed: false,
            slot_scan: false,
            rule: PhantomData,
        }
    }
}

impl<R: Rule> Keyed<R> {
    /// The contender of slot `s` (`NONE` or a dest out of the list: nobody).
    #[inline]
    fn entry(dests: &Dests, s: u32) -> Entry<R::Key> {
        let (_, r) = dests.at_slot(s)?;
        R::key(r).map(|k| (k, r.pos, s))
    }

    /// The winner of a match: the lesser key, ties to the higher position.
    #[inline]
    fn least(a: Entry<R::Key>, b: Entry<R::Key>) -> Entry<R::Key> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if (y.0, x.1) < (x.0, y.1) { y } else { x }),
            (x, None) => x,
            (None, y) => y,
        }
    }

    /// The slot standing at tree index `i` (a leaf or an inner node).
    #[inline]
    fn at(&self, i: usize) -> u32 {
        let leaves = self.nodes.len();
        if i >= leaves {
            (i - leaves) as u32
        } else {
            self.nodes[i]
        }
    }

    /// Recomputes one dest's entry.
    #[inline]
    pub(crate) fn update(&mut self, dests: &Dests, id: DestId) {
        if self.indexed {
            self.put(dests, id.slot());
        }
    }

    /// Replays the matches above the leaf of `slot`, whose key changed.
    fn put(&mut self, dests: &Dests, slot: u32) {
        let leaves = self.nodes.len();
        if slot as usize >= leaves {
            // A slot past the tree (the slot vector grew): build it anew, twice
            // the size, which reads the new entry from `dests`.
            self.build(dests);
            return;
        }
        let mut i = leaves + slot as usize;
        let mut winner = Self::entry(dests, slot);
        let slot_of = |e: &Entry<R::Key>| e.map_or(NONE, |(_, _, s)| s);
        // Up to the first match won by the same other dest as before: above
        // it nothing changes (most events change a dest that loses its first
        // match, and stop there). Only this slot's key changed, so a match is
        // known unchanged by its winner's slot alone.
        while i > 1 {
            let rival = Self::entry(dests, self.at(i ^ 1));
            i /= 2;
            winner = Self::least(winner, rival);
            let (before, now) = (self.nodes[i], slot_of(&winner));
            if before != slot && now == before {
                break;
            }
            self.nodes[i] = now;
        }
    }

    /// Builds the tree from every dest in the list: O(slots).
    #[cold]
    #[inline(never)]
    fn build(&mut self, dests: &Dests) {
        let leaves = dests.slot_count().next_power_of_two().max(2);
        self.nodes.clear();
        self.nodes.resize(leaves, NONE);
        for i in (1..leaves).rev() {
            let (a, b) = (self.at(2 * i), self.at(2 * i + 1));
            let w = Self::least(Self::entry(dests, a), Self::entry(dests, b));
            self.nodes[i] = w.map_or(NONE, |(_, _, s)| s);
        }
    }

    /// A dest was removed: drop its entry (its slot may be reused).
    pub(crate) fn removed(&mut self, dests: &Dests, id: DestId) {
        self.update(dests, id);
        self.resize(dests);
    }

    /// Forgets everything and indexes `dests` afresh (the scheduler was bound to
    /// a list it has not seen).
    pub(crate) fn rebuild(&mut self, dests: &Dests) {
        self.indexed = false;
        self.nodes.clear();
        self.resize(dests);
    }

    /// Switches between the index and the plain scan as the list grows or
    /// shrinks. Called at every change of the list: removals and slot reuse
    /// end its slot order.
    pub(crate) fn resize(&mut self, dests: &Dests) {
        let n = dests.len();
        if !self.indexed && n > 2 * SMALL {
            self.indexed = true;
            self.build(dests);
        } else if self.indexed && n <= SMALL {
            self.indexed = false;
            self.nodes = Vec::new();
        }
        self.slot_scan = !self.indexed && dests.in_slot_order();
    }

    /// Whether connection events must reach [`Keyed::update`] (only while the
    /// index is kept; the plain scan reads the counters directly).
    pub(crate) fn indexed(&self) -> bool {
        self.indexed
    }

    /// The least eligible dest. Always inlined: below [`SMALL`] dests this
    /// is the kernel's scan, which costs less than a call at n = 2.
    #[inline(always)]
    pub(crate) fn first(&self, dests: &Dests) -> Option<DestId> {
        dests.id_of_slot(self.first_slot(dests)?)
    }

    /// The slot of [`Keyed::first`].
    #[inline(always)]
    pub(crate) fn first_slot(&self, dests: &Dests) -> Option<u32> {
        // `?` on each side, not one `Option` out of both: the merge is then
        // of the slot alone, with no "is there one" flag carried past it.
        let s = if self.slot_scan {
            Self::scan_slots(dests)?
        } else {
            self.first_elsewhere(dests)?
        };
        Some(s)
    }

    /// The kernel's scan over the records in reverse slot order, which is the
    /// list order while [`Dests::in_slot_order`]. It carries the best slot so
    /// far, and starts from the head, or from a key above every dest's when
    /// the head is not eligible: one compare per other dest, and no test for
    /// "none yet".
    #[inline(always)]
    fn scan_slots(dests: &Dests) -> Option<u32> {
        debug_assert!(dests.in_slot_order());
        let slots = dests.slots();
        let head = slots.len().checked_sub(1)?;
        // usize::MAX: no slot (`NONE` once cast), if nothing is eligible.
        let mut best = match R::key(&slots[head]) {
            Some(k) => (k, head),
            None => (R::WORST, usize::MAX),
        };
        for s in (0..head).rev() {
            let k = R::key(&slots[s]).unwrap_or(R::WORST);
            if k < best.0 {
                best = (k, s);
            }
        }
        Some(best.1 as u32)
    }

    /// The kernel's scan over the list in list order, for a list that is not
    /// in slot order (after a removal).
    fn scan_list(dests: &Dests) -> Option<u32> {
        let mut best: Option<(R::Key, DestId)> = None;
        for (id, d) in dests.records() {
            if let Some(k) = R::key(d)
                && best.is_none_or(|(bk, _)| k < bk)
            {
                best = Some((k, id));
            }
        }
        best.map(|(_, id)| id.slot())
    }

    /// The slot of [`Keyed::first`] from the index, or by a scan in list
    /// order; out of line so that the small scan inlines into the pick.
    #[inline(never)]
    fn first_elsewhere(&self, dests: &Dests) -> Option<u32> {
        if !self.indexed {
            return Self::scan_list(dests);
        }
        let s = *self.nodes.get(1)?;
        dests.at_slot(s).map(|_| s)
    }
}

/// Implements [`crate::Scheduler`] for a type wrapping one [`Keyed`] in field `idx`.
macro_rules! keyed_scheduler {
    ($ty:ident, $name:literal) => {
        impl $ty {
            /// The slot of the dest [`crate::Scheduler::schedule`] picks.
            #[inline(always)]
            pub(crate) fn schedule_slot(&self, dests: &$crate::Dests) -> Option<u32> {
                self.idx.first_slot(dests)
            }
        }
        impl $crate::Scheduler for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn dest_changed(&mut self, dests: &$crate::Dests, change: $crate::Change<'_>) {
                match change {
                    $crate::Change::Removed(id, _) => self.idx.removed(dests, id),
                    $crate::Change::Bound => self.idx.rebuild(dests),
                    // Positions keep their order: every match stands.
                    $crate::Change::Compacted(_) => {}
                    $crate::Change::Added(id) | $crate::Change::Updated(id) => {
                        self.idx.resize(dests);
                        self.idx.update(dests, id);
                    }
                }
            }
            fn hooks(&self) -> $crate::Hooks {
                // An overload flip comes with a load event, which rekeys the dest.
                $crate::Hooks {
                    load: self.idx.indexed(),
                    overload: false,
                }
            }
            #[inline]
            fn load_changed(&mut self, dests: &$crate::Dests, id: $crate::DestId) {
                self.idx.update(dests, id);
            }
            #[inline(always)]
            fn schedule(
                &mut self,
                dests: &$crate::Dests,
                _flow: &$crate::Flow,
            ) -> Option<$crate::DestId> {
                self.idx.first(dests)
            }
        }
    };
}
pub(crate) use keyed_scheduler;
