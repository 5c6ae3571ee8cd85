// SPDX-License-Identifier: MIT OR Apache-2.0
//! The engine behind lc, wlc, sed, nq, fo and ovf.
//!
//! Each of these kernel schedulers scans the whole list and keeps the first dest
//! that is strictly better than the best so far. Since "better" is a total
//! preorder, the result is the least dest by `(key, list position)`, where an
//! earlier list position (a larger insertion sequence number) wins ties. This
//! engine keeps the eligible dests in a tournament tree on exactly that order:
//! one leaf per slot, each inner node the least of its two children, so a pick
//! reads the root and a connection event replays the matches on one path, log₂
//! of the slot count comparisons and no allocation. Below [`SMALL`] dests the
//! tree is not kept and a pick is the plain scan, which is faster there.

use std::cmp::{Ordering, Reverse};

use crate::{Dest, DestId, Dests};

/// Up to this many dests, pick by a linear scan and keep no index.
pub(crate) const SMALL: usize = 8;

/// A scheduler's ranking: `key(d)` is `None` when `d` is not eligible; among
/// eligible dests the least key wins, ties going to the earlier list entry.
pub(crate) trait Rule {
    type Key: Ord + Copy + std::fmt::Debug;
    fn key(d: &Dest) -> Option<Self::Key>;
}

/// `a / b` compared by cross-multiplication (`a × d` vs `c × b`), as the kernel's
/// `(__s64)loh * w > (__s64)doh * w_least` tests; `b` is never 0.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ratio {
    pub(crate) num: u64,
    pub(crate) den: u64,
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
    fn cmp(&self, o: &Self) -> Ordering {
        (self.num as u128 * o.den as u128).cmp(&(o.num as u128 * self.den as u128))
    }
}

type Entry<K> = (K, Reverse<u64>, u32);

/// The lesser of two entries, `None` (no eligible dest) losing to any.
#[inline]
fn least<K: Ord + Copy>(a: Option<Entry<K>>, b: Option<Entry<K>>) -> Option<Entry<K>> {
    match (a, b) {
        // (key, seq) orders them: seq is unique, the slot need not be read.
        (Some(x), Some(y)) => Some(if (y.0, y.1) < (x.0, x.1) { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// An index of the eligible dests under rule `R`.
#[derive(Clone, Debug)]
pub(crate) struct Keyed<R: Rule> {
    /// The tournament tree, heap-ordered: `nodes[1]` is the root, the
    /// children of `i` are `2i` and `2i + 1`, and the leaf of slot `s` is
    /// `nodes[leaves + s]`, where `leaves` (a power of two, at least the
    /// slot count when built) is half the length. Each inner node holds the
    /// least of its children. Empty while not indexed.
    nodes: Vec<Option<Entry<R::Key>>>,
    indexed: bool,
}

impl<R: Rule> Default for Keyed<R> {
    fn default() -> Self {
        Keyed {
            nodes: Vec::new(),
            indexed: false,
        }
    }
}

impl<R: Rule> Keyed<R> {
    fn entry(id: DestId, d: &Dest) -> Option<Entry<R::Key>> {
        R::key(d).map(|k| (k, Reverse(d.seq), id.slot()))
    }

    /// Recomputes one dest's entry.
    #[inline]
    pub(crate) fn update(&mut self, dests: &Dests, id: DestId) {
        if !self.indexed {
            return;
        }
        let new = dests.get(id).and_then(|d| Self::entry(id, d));
        self.put(dests, id.slot() as usize, new);
    }

    /// Sets the leaf of `slot` and replays the matches above it.
    fn put(&mut self, dests: &Dests, slot: usize, new: Option<Entry<R::Key>>) {
        let leaves = self.nodes.len() / 2;
        if slot >= leaves {
            // A slot past the tree (the slot vector grew): build it anew,
            // which reads the new entry from `dests`.
            self.build(dests);
            return;
        }
        let mut i = leaves + slot;
        let old = self.nodes[i];
        if old.map(|o| (o.0, o.1)) == new.map(|n| (n.0, n.1)) {
            return;
        }
        self.nodes[i] = new;
        // Up to the first match won by the same other dest as before: above
        // it nothing changes (most events change a dest that loses its first
        // match, and stop there). Only this slot's entry changed, so a match
        // is known unchanged by its winner's slot alone.
        let slot = Some(slot as u32);
        let slot_of = |e: &Option<Entry<R::Key>>| e.map(|(_, _, s)| s);
        let mut winner = new;
        while i > 1 {
            let rival = self.nodes[i ^ 1];
            i /= 2;
            winner = least(winner, rival);
            let before = slot_of(&self.nodes[i]);
            if before != slot && slot_of(&winner) == before {
                break;
            }
            self.nodes[i] = winner;
        }
    }

    /// Builds the tree from every dest in the list: O(slots).
    #[cold]
    #[inline(never)]
    fn build(&mut self, dests: &Dests) {
        let leaves = dests.slot_count().next_power_of_two().max(1);
        self.nodes.clear();
        self.nodes.resize(2 * leaves, None);
        for (id, d) in dests.iter() {
            self.nodes[leaves + id.slot() as usize] = Self::entry(id, d);
        }
        for i in (1..leaves).rev() {
            self.nodes[i] = least(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    /// A dest was removed: drop its entry (its slot may be reused).
    pub(crate) fn removed(&mut self, dests: &Dests, id: DestId) {
        if self.indexed {
            self.put(dests, id.slot() as usize, None);
        }
        self.resize(dests);
    }

    /// Forgets everything and indexes `dests` afresh (the scheduler was bound to
    /// a list it has not seen).
    pub(crate) fn rebuild(&mut self, dests: &Dests) {
        self.indexed = false;
        self.nodes.clear();
        self.resize(dests);
    }

    /// Switches between the index and the plain scan as the list grows or shrinks.
    pub(crate) fn resize(&mut self, dests: &Dests) {
        let n = dests.len();
        if !self.indexed && n > 2 * SMALL {
            self.indexed = true;
            self.build(dests);
        } else if self.indexed && n <= SMALL {
            self.indexed = false;
            self.nodes = Vec::new();
        }
    }

    /// Whether connection events must reach [`Keyed::update`] (only while the
    /// index is kept; the plain scan reads the counters directly).
    pub(crate) fn indexed(&self) -> bool {
        self.indexed
    }

    /// The least eligible dest.
    #[inline]
    pub(crate) fn first(&self, dests: &Dests) -> Option<DestId> {
        if self.indexed {
            return self.first_indexed(dests);
        }
        // The kernel's scan. It carries the handle of the best dest so far,
        // so the connection event that follows reaches its record from the
        // compare result directly, not through one more load.
        let mut best: Option<(R::Key, DestId)> = None;
        for (id, d) in dests.iter() {
            if let Some(k) = R::key(d)
                && best.is_none_or(|(bk, _)| k < bk)
            {
                best = Some((k, id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// [`Keyed::first`] from the index, out of line so that the small scan
    /// inlines into the pick.
    #[inline(never)]
    fn first_indexed(&self, dests: &Dests) -> Option<DestId> {
        let (_, _, slot) = (*self.nodes.get(1)?)?;
        dests.at_slot(slot).map(|(id, _)| id)
    }
}

/// Implements [`crate::Scheduler`] for a type wrapping one [`Keyed`] in field `idx`.
macro_rules! keyed_scheduler {
    ($ty:ident, $name:literal) => {
        impl $crate::Scheduler for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn dest_changed(&mut self, dests: &$crate::Dests, change: $crate::Change<'_>) {
                match change {
                    $crate::Change::Removed(id, _) => self.idx.removed(dests, id),
                    $crate::Change::Bound => self.idx.rebuild(dests),
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
            #[inline]
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
