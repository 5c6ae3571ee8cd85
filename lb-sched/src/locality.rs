// SPDX-License-Identifier: MIT OR Apache-2.0
//! What lblc and lblcr share: the caller's clock, the cache's garbage
//! collection, the "lblc-overloaded" test and the view of a cached destination
//! that may have left the list.
//!
//! Kernel sources: `net/netfilter/ipvs/ip_vs_lblc.c`, `ip_vs_lblcr.c`
//! (`is_overloaded`, `ip_vs_lblc_check_expire`, `ip_vs_lblc_full_check`,
//! `sysctl_lblc_expiration`, `sysctl_lblcr_expiration`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dest::Record;
use crate::hash::{fold, hash_32};
use crate::keyed::Keyed;
use crate::wlc::WlcRule;
use crate::{Change, DestId, Dests, Hooks};

/// The default `lblc_expiration` / `lblcr_expiration` (`DEFAULT_EXPIRATION`,
/// 24 hours), in milliseconds, the unit of [`Clock`].
pub const DEFAULT_EXPIRATION_MS: u64 = 24 * 60 * 60 * 1000;

/// `CHECK_EXPIRE_INTERVAL`: the period of the cache's collection timer (60 s).
pub const CHECK_EXPIRE_INTERVAL_MS: u64 = 60 * 1000;

/// `ENTRY_TIMEOUT`: while the cache holds more than its maximum size, a
/// collection run drops entries unused for this long (6 minutes).
pub const ENTRY_TIMEOUT_MS: u64 = 6 * 60 * 1000;

/// `COUNT_FOR_FULL_EXPIRATION`: every 30th run of the timer that did not
/// shrink an oversized cache is a full check, which drops every entry unused for
/// the expiration.
const COUNT_FOR_FULL_EXPIRATION: u32 = 30;

/// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS`: the kernel's cache has
/// 2¹⁰ buckets and a maximum size of 16 entries per bucket.
pub const DEFAULT_TAB_BITS: u32 = 10;

/// The time lblc and lblcr read (the kernel's `jiffies`), in milliseconds,
/// set by the caller.
///
/// Clones share one counter, so a proxy keeps a clone and moves it forward
/// (`clock.set(elapsed_ms)`) while the scheduler sits inside a
/// [`Service`](crate::Service). A clock that is never moved stops time: lblcr
/// never shrinks a set and the cache's collection timer never runs.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// A clock at 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// The current time.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets the current time (it should not go backwards).
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::Relaxed);
    }
    /// Moves the time forward by `dt`.
    pub fn advance(&self, dt: u64) {
        self.0.fetch_add(dt, Ordering::Relaxed);
    }
}

/// The lblc/lblcr cache: destination address → entry. The key is what a
/// client chooses (any address a firewall-mark service covers), so the hasher
/// is seeded at random per map, as std's is; foldhash hashes an address in a
/// few instructions where SipHash takes most of a cache hit's time.
pub(crate) type Cache<V> = HashMap<IpAddr, V, foldhash::fast::RandomState>;

/// A cache entry's `lastuse`.
pub(crate) trait LastUse {
    fn lastuse(&self) -> u64;
    fn lastuse_mut(&mut self) -> &mut u64;
}

/// What lblc and lblcr keep besides their caches: wlc's index for a miss
/// (`__ip_vs_lblc_schedule` and `__ip_vs_lblcr_schedule` are wlc over the whole
/// list), the count behind `is_overloaded`, the clock and the expiration.
///
/// Most picks are cache hits, which never read the wlc index, so connection
/// events only mark their dest stale and the index catches up at the next
/// miss: a busy dest costs one index update per miss, not one per event.
/// Up to the wlc index threshold (16 dests) nothing is kept: a miss and
/// `is_overloaded` scan the list as the kernel does, and connection events
/// cost nothing here.
#[derive(Clone, Debug)]
pub(crate) struct Locality {
    wlc: Keyed<WlcRule>,
    /// Slots whose wlc entry may be stale, and a flag per slot.
    stale: Vec<u32>,
    is_stale: Vec<bool>,
    under: Underloaded,
    clock: Clock,
    collector: Collector,
}

impl Locality {
    /// Connection events matter only to the index and the count, kept above
    /// the threshold; an OVERLOAD flip comes with a load event.
    pub(crate) fn hooks(&self) -> Hooks {
        Hooks {
            load: self.wlc.indexed(),
            overload: false,
        }
    }

    pub(crate) fn new(clock: Clock, expiration: u64) -> Self {
        let collector = Collector::new(expiration, clock.now());
        Locality {
            wlc: Keyed::default(),
            stale: Vec::new(),
            is_stale: Vec::new(),
            under: Underloaded::default(),
            clock,
            collector,
        }
    }

    /// Sets `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS`; `None` outside
    /// 1..=20.
    pub(crate) fn with_tab_bits(mut self, bits: u32) -> Option<Self> {
        self.collector = self.collector.with_tab_bits(bits)?;
        Some(self)
    }

    /// sysctl `lblc_expiration` / `lblcr_expiration`, in milliseconds.
    pub(crate) fn expiration(&self) -> u64 {
        self.collector.expiration
    }

    /// Whether a cache of `len` entries may take a new one.
    pub(crate) fn has_room(&self, len: usize) -> bool {
        self.collector.has_room(len)
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The start of `ip_vs_lblc_schedule` / `ip_vs_lblcr_schedule`: the
    /// collection runs due by now (the kernel's timer fires between packets;
    /// nothing a run reads changes between picks, so running them here, each at
    /// its own time, is the same), then the cache entry for `daddr`, stamped as
    /// used. An entry is used however old it is until a run drops it.
    #[inline]
    pub(crate) fn lookup<'c, V: LastUse>(
        &mut self,
        cache: &'c mut Cache<V>,
        daddr: IpAddr,
        now: u64,
    ) -> Option<&'c mut V> {
        self.collector.run_due(cache, now);
        let v = cache.get_mut(&daddr)?;
        *v.lastuse_mut() = now;
        Some(v)
    }

    pub(crate) fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        self.refresh(dests);
        // Room for every slot, so that connection events allocate nothing.
        let slots = dests.slot_count();
        if self.is_stale.len() < slots {
            self.is_stale.resize(slots, false);
            self.stale.reserve(slots - self.stale.len());
            self.under.by_slot.resize(slots, false);
        }
        let was_indexed = self.wlc.indexed();
        if let Change::Bound = change {
            // init_service: a new table and a new timer.
            self.collector.restart(self.clock.now());
        }
        match change {
            Change::Removed(id, _) => {
                self.wlc.removed(dests, id);
                self.under.removed(id);
            }
            // Neither index holds positions.
            Change::Compacted(_) => {}
            Change::Bound => {
                self.wlc.rebuild(dests);
                self.under.rebuild(dests);
            }
            Change::Added(id) | Change::Updated(id) => {
                self.wlc.resize(dests);
                self.wlc.update(dests, id);
                self.under.update(dests, id);
            }
        }
        // Below the threshold no event reached the count: recount on the way up.
        if self.wlc.indexed() && !was_indexed {
            self.under.rebuild(dests);
        }
    }

    pub(crate) fn load_changed(&mut self, dests: &Dests, id: DestId) {
        self.under.update(dests, id);
        let slot = id.index();
        // Every slot has a flag (see `dest_changed`).
        if let Some(flag) = self.is_stale.get_mut(slot)
            && !std::mem::replace(flag, true)
        {
            self.stale.push(slot as u32);
        }
    }

    /// Brings the wlc index up to date with the counters.
    fn refresh(&mut self, dests: &Dests) {
        for slot in self.stale.drain(..) {
            self.is_stale[slot as usize] = false;
            // A dest that left the list since is dropped by `Change::Removed`.
            if let Some((id, _)) = dests.at_slot(slot) {
                self.wlc.update(dests, id);
            }
        }
    }

    /// `is_overloaded(dest, svc)`: more active connections than weight while
    /// some dest in the list has fewer than half its weight.
    pub(crate) fn is_overloaded(&self, dests: &Dests, d: &Record) -> bool {
        d.active > d.weight()
            && if self.wlc.indexed() {
                self.under.count > 0
            } else {
                dests.any_in_list(Underloaded::holds)
            }
    }

    /// The wlc choice over the whole list, for a miss or an unusable entry.
    pub(crate) fn wlc_pick<'d>(&mut self, dests: &'d Dests) -> Option<(DestId, &'d Record)> {
        self.refresh(dests);
        let id = self.wlc.first(dests)?;
        dests.record(id).map(|d| (id, d))
    }
}

/// The cache's size limits and its garbage collection: `max_size`, `rover`,
/// `counter` and `periodic_timer` of `struct ip_vs_lblc_table` /
/// `ip_vs_lblcr_table`, and `ip_vs_lblc_check_expire`.
///
/// The cache itself is a `HashMap`; the kernel's bucket of an entry,
/// `hash_32(fold(daddr), tab_bits)`, matters only to which entries a run over
/// an oversized cache drops first, and is computed then. Within a bucket a run
/// drops every idle entry before it tests its goal, so the order inside a
/// bucket never matters.
#[derive(Clone, Debug)]
pub(crate) struct Collector {
    tab_bits: u32,
    /// sysctl `lblc_expiration` / `lblcr_expiration`, in milliseconds.
    expiration: u64,
    /// When the timer fires next.
    next_check: u64,
    counter: u32,
    rover: u32,
}

impl Collector {
    fn new(expiration: u64, now: u64) -> Self {
        let mut c = Collector {
            tab_bits: DEFAULT_TAB_BITS,
            expiration,
            next_check: 0,
            counter: 1,
            rover: 0,
        };
        c.restart(now);
        c
    }

    /// Sets `IP_VS_LBLC_TAB_BITS`; `None` outside 1..=20.
    fn with_tab_bits(mut self, bits: u32) -> Option<Self> {
        (1..=20).contains(&bits).then(|| {
            self.tab_bits = bits;
            self
        })
    }

    /// `init_service`: counter 1, rover 0, the first run a minute from now.
    fn restart(&mut self, now: u64) {
        self.counter = 1;
        self.rover = 0;
        self.next_check = now.saturating_add(CHECK_EXPIRE_INTERVAL_MS);
    }

    /// `max_size`: 16 entries per bucket.
    fn max_size(&self) -> usize {
        16 << self.tab_bits
    }

    /// `ip_vs_lblc_new` / `ip_vs_lblcr_new` make no new entry once the cache
    /// holds `max_size × 3 / 2` (the scheduler still returns its choice).
    fn has_room(&self, len: usize) -> bool {
        len < self.max_size() * 3 / 2
    }

    fn mask(&self) -> u32 {
        (1 << self.tab_bits) - 1
    }

    /// The runs of `ip_vs_lblc_check_expire` due by `now`, each at its time.
    ///
    /// While the cache is within its maximum size, the only runs that drop
    /// anything are full checks at or after the first `lastuse + expiration`;
    /// the runs before one only move the counter, so they are counted, not
    /// run: a clock moved by days costs one pass per full check that drops
    /// something.
    #[inline]
    pub(crate) fn run_due<V: LastUse>(&mut self, cache: &mut Cache<V>, now: u64) {
        // A timer at u64::MAX is past the end of time: it never fires.
        if self.next_check <= now && self.next_check != u64::MAX {
            self.run_due_now(cache, now);
        }
    }

    /// [`Collector::run_due`] once a run is due (once a minute at most).
    fn run_due_now<V: LastUse>(&mut self, cache: &mut Cache<V>, now: u64) {
        while self.next_check <= now && self.next_check != u64::MAX {
            let due = (now - self.next_check) / CHECK_EXPIRE_INTERVAL_MS + 1;
            if cache.len() > self.max_size() {
                self.check_expire(cache, self.next_check);
                self.skip(0, 1);
                continue;
            }
            // Runs that drop nothing: those before the next full check (every
            // 30th), and full checks before the first entry expires.
            let full = u64::from(COUNT_FOR_FULL_EXPIRATION);
            let mut quiet = u64::from((full as u32 - self.counter % full as u32) % full as u32);
            if quiet < due {
                let first_expiry = cache
                    .values()
                    .map(|e| e.lastuse().saturating_add(self.expiration))
                    .min();
                let at = self
                    .next_check
                    .saturating_add(quiet.saturating_mul(CHECK_EXPIRE_INTERVAL_MS));
                match first_expiry {
                    None => quiet = due,
                    Some(t) if at < t => {
                        let period = full * CHECK_EXPIRE_INTERVAL_MS;
                        let periods = (t - at).div_ceil(period);
                        quiet = quiet.saturating_add(periods.saturating_mul(full));
                    }
                    Some(_) => {}
                }
            }
            if quiet >= due {
                self.skip(due, due);
                return;
            }
            self.skip(quiet, quiet);
            self.check_expire(cache, self.next_check);
            self.skip(0, 1);
        }
    }

    /// Moves the counter by `runs` runs that drop nothing (a full check resets
    /// it to 1, any other run adds 1) and the timer by `ticks` periods.
    fn skip(&mut self, runs: u64, ticks: u64) {
        let full = u64::from(COUNT_FOR_FULL_EXPIRATION);
        self.counter = ((u64::from(self.counter - 1) + runs) % full) as u32 + 1;
        self.next_check = self
            .next_check
            .saturating_add(ticks.saturating_mul(CHECK_EXPIRE_INTERVAL_MS));
    }

    /// One run of `ip_vs_lblc_check_expire` at time `now`.
    fn check_expire<V: LastUse>(&mut self, cache: &mut Cache<V>, now: u64) {
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            // ip_vs_lblc_full_check; its walk over every bucket leaves the
            // rover where it was.
            let expiration = self.expiration;
            cache.retain(|_, e| now < e.lastuse().saturating_add(expiration));
            self.counter = 1;
            return;
        }
        let max = self.max_size();
        if cache.len() <= max {
            self.counter += 1;
            return;
        }
        let mut goal = ((cache.len() - max) * 4 / 3).min(max / 2);
        // The idle entries in the order the walk from rover + 1 meets their
        // buckets; it drops a whole bucket, then stops once the goal is met.
        let (mask, start) = (self.mask(), self.rover.wrapping_add(1));
        let mut idle: Vec<(u32, IpAddr)> = cache
            .iter()
            .filter(|(_, e)| now >= e.lastuse().saturating_add(ENTRY_TIMEOUT_MS))
            .map(|(&a, _)| {
                (
                    hash_32(fold(a), self.tab_bits).wrapping_sub(start) & mask,
                    a,
                )
            })
            .collect();
        idle.sort_unstable_by_key(|&(walk, _)| walk);
        for bucket in idle.chunk_by(|a, b| a.0 == b.0) {
            for (_, a) in bucket {
                cache.remove(a);
            }
            goal = goal.saturating_sub(bucket.len());
            if goal == 0 {
                self.rover = start.wrapping_add(bucket[0].0) & mask;
                return;
            }
        }
        // The walk went round the whole table: the rover is back where it was.
    }
}

/// Counts the dests in the list with `activeconns × 2 < weight`, the second half
/// of `is_overloaded`, so that test is O(1) instead of a list scan.
#[derive(Clone, Debug, Default)]
struct Underloaded {
    by_slot: Vec<bool>,
    count: usize,
}

impl Underloaded {
    fn holds(d: &Record) -> bool {
        d.in_list() && u64::from(d.active) * 2 < u64::from(d.weight())
    }

    fn set(&mut self, slot: usize, v: bool) {
        if slot >= self.by_slot.len() {
            self.by_slot.resize(slot + 1, false);
        }
        let old = std::mem::replace(&mut self.by_slot[slot], v);
        match (old, v) {
            (false, true) => self.count += 1,
            (true, false) => self.count -= 1,
            _ => {}
        }
    }

    /// Recomputes one dest (after a connection event or a change).
    fn update(&mut self, dests: &Dests, id: DestId) {
        let v = dests.record(id).is_some_and(Self::holds);
        self.set(id.index(), v);
    }

    /// Forgets a removed dest.
    fn removed(&mut self, id: DestId) {
        self.set(id.index(), false);
    }

    /// Recomputes every dest.
    fn rebuild(&mut self, dests: &Dests) {
        self.by_slot.clear();
        self.count = 0;
        for (id, d) in dests.records() {
            self.set(id.index(), Self::holds(d));
        }
    }
}

/// A cached destination: its address and port (the kernel holds the dest
/// itself, which a re-add brings back from the trash) and the handle it had.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cached {
    pub(crate) key: (IpAddr, u16),
    pub(crate) id: DestId,
}

impl Cached {
    pub(crate) fn of(id: DestId, d: &Record) -> Self {
        Cached {
            key: (d.addr(), d.port()),
            id,
        }
    }

    /// The cached dest as it is now: in the list (`IP_VS_DEST_F_AVAILABLE`), or
    /// removed and kept for its connections, or `None` once freed (the kernel's
    /// trashed dest then has no connections and no OVERLOAD). Follows a re-add
    /// that gave the address a new handle, in the list or removed again since:
    /// the kernel revives the trashed dest its sets hold, so an address is one
    /// dest to them throughout.
    pub(crate) fn resolve<'d>(&mut self, dests: &'d Dests) -> Option<(DestId, &'d Record)> {
        if let Some(d) = dests.record(self.id) {
            return Some((self.id, d));
        }
        let (addr, port) = self.key;
        let id = dests
            .find(addr, port)
            .or_else(|| dests.find_removed(addr, port))?;
        self.id = id;
        dests.record(id).map(|d| (id, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Used(u64);

    impl LastUse for Used {
        fn lastuse(&self) -> u64 {
            self.0
        }
        fn lastuse_mut(&mut self) -> &mut u64 {
            &mut self.0
        }
    }

    fn cache(lastuse: impl IntoIterator<Item = u64>) -> Cache<Used> {
        lastuse
            .into_iter()
            .enumerate()
            .map(|(i, t)| (IpAddr::from([192, 0, 2, i as u8]), Used(t)))
            .collect()
    }

    #[test]
    fn full_checks_come_every_30_minutes_and_drop_what_has_expired() {
        let mut c = Collector::new(10_000, 0);
        let mut m = cache([0, 1_799_999]);
        c.run_due(&mut m, 1_799_999);
        assert_eq!(m.len(), 2, "no full check before the 30th run");
        c.run_due(&mut m, 1_800_000);
        assert_eq!(m.len(), 1, "the 30th run drops what expired");
        c.run_due(&mut m, 3_599_999);
        assert_eq!(m.len(), 1);
        c.run_due(&mut m, 3_600_000);
        assert!(m.is_empty());
    }

    #[test]
    fn a_clock_moved_by_years_or_to_its_end_costs_little() {
        let mut c = Collector::new(DEFAULT_EXPIRATION_MS, 0);
        let mut m = cache((0..200).map(|i| i * 3_600_000));
        let year = 365 * DEFAULT_EXPIRATION_MS;
        c.run_due(&mut m, 10 * year);
        assert!(m.is_empty());
        // The counter kept its place: full checks still fall on whole half
        // hours, so an entry used at a full check goes exactly a day later.
        m = cache([10 * year]);
        c.run_due(&mut m, 10 * year + DEFAULT_EXPIRATION_MS - 1);
        assert_eq!(m.len(), 1);
        c.run_due(&mut m, 10 * year + DEFAULT_EXPIRATION_MS);
        assert!(m.is_empty());
        m = cache([0]);
        c.run_due(&mut m, u64::MAX);
        c.run_due(&mut m, u64::MAX);
        assert!(m.is_empty());
    }
}
