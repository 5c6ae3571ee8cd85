// SPDX-License-Identifier: MIT OR Apache-2.0
//! The engine behind lc, wlc, sed, nq, fo and ovf.
//!
//! Each of these kernel schedulers scans the whole list and keeps the first dest
//! that is strictly better than the best so far. Since "better" is a total
//! preorder, the result is the least dest by `(key, list position)`, where an
//! earlier list position (a larger insertion sequence number) wins ties. This
//! engine keeps the eligible dests in an ordered set on exactly that order, so a
//! pick is the set's first element and a connection event is one O(log n) update.
//! Below [`SMALL`] dests the set is not kept and a pick is the plain scan, which is
//! faster there.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeSet;

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

/// An ordered index of the eligible dests under rule `R`.
#[derive(Clone, Debug)]
pub(crate) struct Keyed<R: Rule> {
    set: BTreeSet<Entry<R::Key>>,
    /// The entry of each slot currently in `set`.
    keys: Vec<Option<Entry<R::Key>>>,
    indexed: bool,
}

impl<R: Rule> Default for Keyed<R> {
    fn default() -> Self {
        Keyed {
            set: BTreeSet::new(),
            keys: Vec::new(),
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
        self.put(id.slot() as usize, new);
    }

    fn put(&mut self, slot: usize, new: Option<Entry<R::Key>>) {
        if slot >= self.keys.len() {
            self.keys.resize(slot + 1, None);
        }
        let old = self.keys[slot];
        if old.map(|o| (o.0, o.1)) == new.map(|n| (n.0, n.1)) {
            return;
        }
        if let Some(o) = old {
            self.set.remove(&o);
        }
        if let Some(n) = new {
            self.set.insert(n);
        }
        self.keys[slot] = new;
    }

    /// A dest was removed: drop its entry (its slot may be reused).
    pub(crate) fn removed(&mut self, dests: &Dests, id: DestId) {
        if self.indexed {
            self.put(id.slot() as usize, None);
        }
        self.resize(dests);
    }

    /// Forgets everything and indexes `dests` afresh (the scheduler was bound to
    /// a list it has not seen).
    pub(crate) fn rebuild(&mut self, dests: &Dests) {
        self.indexed = false;
        self.set.clear();
        self.keys.clear();
        self.resize(dests);
    }

    /// Switches between the index and the plain scan as the list grows or shrinks.
    pub(crate) fn resize(&mut self, dests: &Dests) {
        let n = dests.len();
        if !self.indexed && n > 2 * SMALL {
            self.indexed = true;
            self.set.clear();
            self.keys.clear();
            self.keys.resize(dests.slot_count(), None);
            for (id, d) in dests.iter() {
                if let Some(e) = Self::entry(id, d) {
                    self.set.insert(e);
                    self.keys[id.slot() as usize] = Some(e);
                }
            }
        } else if self.indexed && n <= SMALL {
            self.indexed = false;
            self.set.clear();
            self.keys.clear();
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
        let &(_, _, slot) = self.set.first()?;
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
