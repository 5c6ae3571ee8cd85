// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`HierBits`]: a bitset with summary levels, the skip structure behind rr
//! ("the next eligible dest after position p" without scanning the dests in
//! between).

/// A bitset over `0..capacity()` with summary levels: "highest set index below
/// `i`" in one word operation per level (⌈log₆₄ capacity⌉ levels: 3 for 2¹⁸).
///
/// Invariant: `lower[0]` holds the bits themselves; bit `j` of word `w` on
/// `lower[l + 1]` (or of `top`, above the last of `lower`) is set exactly when
/// word `64·w + j` of `lower[l]` is non-zero. The single top word is kept inline,
/// so up to 64 indexes (`lower` empty, `top` the bits) a query touches no heap.
#[derive(Clone, Debug, Default)]
pub(crate) struct HierBits {
    lower: Vec<Vec<u64>>,
    top: u64,
}

impl HierBits {
    /// An empty set over `0..len` (rounded up to whole words).
    pub(crate) fn new(len: usize) -> Self {
        let mut lower = Vec::new();
        let mut words = len.div_ceil(64).max(1);
        while words > 1 {
            lower.push(vec![0u64; words]);
            words = words.div_ceil(64);
        }
        HierBits { lower, top: 0 }
    }

    /// Indexes that fit: `set` and `clear` accept `0..capacity()`.
    pub(crate) fn capacity(&self) -> usize {
        self.lower.first().map_or(64, |l| l.len() * 64)
    }

    /// Sets bit `i`; indexes beyond [`HierBits::capacity`] are ignored.
    pub(crate) fn set(&mut self, mut i: usize) {
        if i >= self.capacity() {
            return;
        }
        for l in &mut self.lower {
            let Some(w) = l.get_mut(i / 64) else { return };
            let was = *w;
            *w |= 1 << (i % 64);
            if was != 0 {
                return;
            }
            i /= 64;
        }
        self.top |= 1 << (i % 64);
    }

    /// Clears bit `i`; indexes beyond [`HierBits::capacity`] are ignored.
    pub(crate) fn clear(&mut self, mut i: usize) {
        if i >= self.capacity() {
            return;
        }
        for l in &mut self.lower {
            let Some(w) = l.get_mut(i / 64) else { return };
            *w &= !(1 << (i % 64));
            if *w != 0 {
                return;
            }
            i /= 64;
        }
        self.top &= !(1 << (i % 64));
    }

    /// Whether no bit is set.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.top == 0
    }

    /// The highest set index strictly below `i` (`i` may exceed the capacity).
    #[inline]
    pub(crate) fn prev_below(&self, i: usize) -> Option<usize> {
        if self.lower.is_empty() {
            // Up to 64 indexes: the top word is the set.
            let m = self.top & below_mask(i);
            return (m != 0).then(|| 63 - m.leading_zeros() as usize);
        }
        // Most queries find a bit in the leaf word of `i` itself (rr over a
        // pool with few drained dests): answered here, inlined.
        if let Some(&word) = self.lower[0].get(i / 64) {
            let m = word & below_mask(i % 64);
            if m != 0 {
                return Some(i / 64 * 64 + 63 - m.leading_zeros() as usize);
            }
        }
        // Up to 4096 indexes the top word sums up the leaf words: a sparse
        // set (rr over a pool with most dests drained) misses the leaf word
        // on nearly every query, and is answered here too, without a call.
        if let [leaf] = self.lower.as_slice() {
            let m = self.top & below_mask(i / 64);
            if m == 0 {
                return None;
            }
            let w = 63 - m.leading_zeros() as usize;
            let word = *leaf.get(w)?;
            return Some(w * 64 + 63 - word.leading_zeros() as usize);
        }
        self.prev_below_deep(i)
    }

    /// [`HierBits::prev_below`] with summary levels between the leaf words
    /// and the top word: reached only above 4096 indexes, where the query
    /// missed the leaf word of `i`.
    #[inline(never)]
    fn prev_below_deep(&self, i: usize) -> Option<usize> {
        // Climb until a word holds a set bit below the position.
        let mut idx = i;
        let mut level = 0;
        let found = loop {
            let Some(words) = self.lower.get(level) else {
                let m = self.top & below_mask(idx);
                if m == 0 {
                    return None;
                }
                break 63 - m.leading_zeros() as usize;
            };
            let (w, m) = if idx / 64 >= words.len() {
                let w = words.len().checked_sub(1)?;
                (w, words[w])
            } else {
                (idx / 64, words[idx / 64] & below_mask(idx % 64))
            };
            if m != 0 {
                break w * 64 + 63 - m.leading_zeros() as usize;
            }
            idx = w;
            level += 1;
        };
        // Descend along the highest set bits.
        let mut pos = found;
        for l in (0..level).rev() {
            let word = *self.lower[l].get(pos)?;
            pos = pos * 64 + 63 - word.leading_zeros() as usize;
        }
        Some(pos)
    }
}

/// The bits strictly below `idx` (all 64 when `idx` ≥ 64).
#[inline]
fn below_mask(idx: usize) -> u64 {
    if idx >= 64 {
        u64::MAX
    } else {
        (1u64 << idx) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::HierBits;
    use proptest::prelude::*;

    #[test]
    fn prev_below_matches_a_plain_scan() {
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

    proptest! {
        /// Any sequence of sets and clears (some out of range) leaves a set whose
        /// `prev_below` answers every query as a scan of a `Vec<bool>` does.
        #[test]
        fn prev_below_after_random_edits(
            len in 0usize..5000,
            edits in prop::collection::vec((any::<bool>(), 0usize..5100), 0..300),
            queries in prop::collection::vec(0usize..5200, 1..50),
        ) {
            let mut b = HierBits::new(len);
            let cap = b.capacity();
            prop_assert!(cap >= len);
            let mut plain = vec![false; cap];
            for (on, i) in edits {
                if on { b.set(i) } else { b.clear(i) }
                if i < cap { plain[i] = on; }
            }
            for q in queries {
                let want = (0..q.min(cap)).rev().find(|&i| plain[i]);
                prop_assert_eq!(b.prev_below(q), want, "query {}", q);
            }
            prop_assert_eq!(b.is_empty(), !plain.iter().any(|&p| p));
        }
    }
}
