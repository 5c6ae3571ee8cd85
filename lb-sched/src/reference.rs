// SPDX-License-Identifier: MIT OR Apache-2.0
//! The oracle: a plain transcription of the kernel's schedulers, linear scans
//! over a `Vec` in list order (index 0 = the list head), with the kernel's own
//! state variables. It shares no code with the fast implementations except the
//! hash primitives, and exists to be obviously the kernel's algorithm, not to be
//! fast. The differential tests drive both with the same operations.
//!
//! Sources: `net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sed,nq,fo,ovf,sh,dh,mh,twos,lblc,lblcr}.c`,
//! `ip_vs_bind_dest` / `ip_vs_unbind_dest` (`ip_vs_conn.c`), `__ip_vs_update_dest`
//! (`ip_vs_ctl.c`), `ip_vs_dest_conn_overhead` (`include/net/ip_vs.h`).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::any::XorShift;
use crate::hash::{fold, hash_32, hsiphash_u32};
use crate::{CHECK_EXPIRE_INTERVAL_MS, DEFAULT_EXPIRATION_MS, DEFAULT_TAB_BITS, ENTRY_TIMEOUT_MS};
use crate::{ConnState, DestConfig, Error, Flow, RandomSource};

/// A destination key: address and port (the kernel's identity within a service).
pub type Key = (IpAddr, u16);

/// A destination of the model (`struct ip_vs_dest`, the fields schedulers read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefDest {
    /// Address and port.
    pub key: Key,
    /// `weight`.
    pub weight: i64,
    /// `last_weight`.
    pub last_weight: i64,
    /// `u_threshold`.
    pub u_threshold: i64,
    /// `l_threshold`.
    pub l_threshold: i64,
    /// `activeconns`.
    pub active: i64,
    /// `inactconns`.
    pub inactive: i64,
    /// `IP_VS_DEST_F_OVERLOAD`.
    pub overloaded: bool,
}

impl RefDest {
    fn overhead(&self) -> i64 {
        (self.active << 8) + self.inactive
    }
    fn total(&self) -> i64 {
        self.active + self.inactive
    }
}

#[derive(Clone, Debug)]
enum State {
    /// `svc->sched_data`: index of the saved dest, `None` = the list head.
    Rr(Option<usize>),
    /// `struct ip_vs_wrr_mark`; `cl` as an index into the list, `None` = head.
    Wrr {
        cl: Option<usize>,
        cw: i64,
        mw: i64,
        di: i64,
    },
    Lc,
    Wlc,
    Sed,
    Nq,
    Fo,
    Ovf,
    Sh {
        fallback: bool,
        port: bool,
        buckets: Vec<Option<Key>>,
    },
    Dh {
        buckets: Vec<Option<Key>>,
    },
    /// `lookup.len()` is the table size M; `tab_bits` is `IP_VS_MH_TAB_BITS`.
    Mh {
        fallback: bool,
        port: bool,
        lookup: Vec<Option<Key>>,
        tab_bits: i64,
    },
    Twos,
    /// `struct ip_vs_lblc_table`: daddr → (dest, `lastuse`).
    Lblc(Table<(Key, u64)>),
    /// `struct ip_vs_lblcr_table`: daddr → dest set.
    Lblcr(Table<RefSet>),
}

/// `struct ip_vs_lblc_table` / `ip_vs_lblcr_table` with its timer.
#[derive(Clone, Debug)]
struct Table<V> {
    /// The hash buckets, each head first (`hlist_add_head_rcu`).
    bucket: Vec<Vec<(IpAddr, V)>>,
    entries: usize,
    max_size: usize,
    rover: usize,
    counter: u32,
    tab_bits: u32,
    /// sysctl `lblc_expiration` / `lblcr_expiration`.
    expiration: u64,
    /// When `periodic_timer` fires.
    timer: u64,
}

/// An entry's `lastuse`.
trait Used {
    fn lastuse(&self) -> u64;
}

impl Used for (Key, u64) {
    fn lastuse(&self) -> u64 {
        self.1
    }
}

impl Used for RefSet {
    fn lastuse(&self) -> u64 {
        self.lastuse
    }
}

impl<V: Used> Table<V> {
    /// `ip_vs_lblc_init_svc` at time 0.
    fn new(tab_bits: u32, expiration: u64) -> Self {
        Table {
            bucket: (0..1usize << tab_bits).map(|_| Vec::new()).collect(),
            entries: 0,
            max_size: (1 << tab_bits) * 16,
            rover: 0,
            counter: 1,
            tab_bits,
            expiration,
            timer: CHECK_EXPIRE_INTERVAL_MS,
        }
    }

    /// `ip_vs_lblc_hashkey`.
    fn hashkey(&self, addr: IpAddr) -> usize {
        hash_32(fold(addr), self.tab_bits) as usize
    }

    /// `ip_vs_lblc_get`.
    fn get(&mut self, addr: IpAddr) -> Option<&mut V> {
        let h = self.hashkey(addr);
        self.bucket[h]
            .iter_mut()
            .find(|(a, _)| *a == addr)
            .map(|(_, v)| v)
    }

    /// `ip_vs_lblc_hash`.
    fn hash(&mut self, addr: IpAddr, v: V) {
        let h = self.hashkey(addr);
        self.bucket[h].insert(0, (addr, v));
        self.entries += 1;
    }

    /// `ip_vs_lblc_del` with the caller's `atomic_dec(&tbl->entries)`.
    fn del(&mut self, addr: IpAddr) {
        let h = self.hashkey(addr);
        self.bucket[h].retain(|(a, _)| *a != addr);
        self.entries -= 1;
    }

    /// The timer fires at each `CHECK_EXPIRE_INTERVAL` up to `now`.
    fn run_timer(&mut self, now: u64) {
        while self.timer <= now {
            self.check_expire(self.timer);
            self.timer += CHECK_EXPIRE_INTERVAL_MS;
        }
    }

    /// `ip_vs_lblc_full_check`.
    fn full_check(&mut self, now: u64) {
        let mask = self.bucket.len() - 1;
        let mut j = self.rover;
        for _ in 0..self.bucket.len() {
            j = (j + 1) & mask;
            let before = self.bucket[j].len();
            let expiration = self.expiration;
            // time_before(now, lastuse + expiration): keep.
            self.bucket[j].retain(|(_, e)| now < e.lastuse().saturating_add(expiration));
            self.entries -= before - self.bucket[j].len();
        }
        self.rover = j;
    }

    /// `ip_vs_lblc_check_expire`.
    fn check_expire(&mut self, now: u64) {
        if self.counter.is_multiple_of(30) {
            self.full_check(now);
            self.counter = 1;
            return;
        }
        if self.entries <= self.max_size {
            self.counter += 1;
            return;
        }
        let mut goal = (self.entries as i64 - self.max_size as i64) * 4 / 3;
        if goal > self.max_size as i64 / 2 {
            goal = self.max_size as i64 / 2;
        }
        let mask = self.bucket.len() - 1;
        let mut j = self.rover;
        for _ in 0..self.bucket.len() {
            j = (j + 1) & mask;
            let mut k = 0;
            while k < self.bucket[j].len() {
                if now
                    < self.bucket[j][k]
                        .1
                        .lastuse()
                        .saturating_add(ENTRY_TIMEOUT_MS)
                {
                    k += 1;
                    continue;
                }
                self.bucket[j].remove(k);
                self.entries -= 1;
                goal -= 1;
            }
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }
}

/// `struct ip_vs_dest_set` with its entry's `lastuse`.
#[derive(Clone, Debug)]
struct RefSet {
    /// Head first.
    members: Vec<Key>,
    lastmod: u64,
    lastuse: u64,
}

/// The model of one service: the kernel list and the scheduler's state.
pub struct Model {
    /// The destination list, head first.
    pub list: Vec<RefDest>,
    /// `ipvs->dest_trash`: removed dests that still have connections.
    pub trash: Vec<RefDest>,
    /// The weight each removed dest had: what lblcr reads of a set member the
    /// trash has freed (the kernel keeps it while the set holds it).
    gone: HashMap<Key, i64>,
    /// `jiffies`, for lblc and lblcr.
    now: u64,
    state: State,
    rng: Box<dyn RandomSource>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("list", &self.list)
            .field("trash", &self.trash)
            .field("state", &self.state)
            .finish()
    }
}

/// `primes[]` of `ip_vs_mh.c`, indexed by `CONFIG_IP_VS_MH_TAB_INDEX − 8`.
const MH_PRIMES: [usize; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
/// The default `CONFIG_IP_VS_MH_TAB_INDEX` (M = 4093).
const MH_TAB_INDEX: usize = 12;
const MH_KEY1: [u64; 2] = [2_654_435_761, 2_654_435_761];
const MH_KEY2: [u64; 2] = [2_654_446_892, 2_654_446_892];

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Model {
    /// A service bound to scheduler `name` with service flags `flags`; twos draws
    /// from the same default generator as [`crate::AnyScheduler::from_name`].
    pub fn new(name: &str, flags: u32) -> Result<Self, Error> {
        Self::with_rng(name, flags, Box::new(XorShift::DEFAULT))
    }

    /// As [`Model::new`], twos drawing from `rng`.
    pub fn with_rng(name: &str, flags: u32, rng: Box<dyn RandomSource>) -> Result<Self, Error> {
        let fallback = flags & 0x0008 != 0;
        let port = flags & 0x0010 != 0;
        let state = match name {
            "rr" => State::Rr(None),
            // ip_vs_wrr_init_svc on an empty list: di = 1, mw = 0, cw = 0.
            "wrr" => State::Wrr {
                cl: None,
                cw: 0,
                mw: 0,
                di: 1,
            },
            "lc" => State::Lc,
            "wlc" => State::Wlc,
            "sed" => State::Sed,
            "nq" => State::Nq,
            "fo" => State::Fo,
            "ovf" => State::Ovf,
            "sh" => State::Sh {
                fallback,
                port,
                buckets: vec![None; 256],
            },
            "dh" => State::Dh {
                buckets: vec![None; 256],
            },
            "mh" => State::Mh {
                fallback,
                port,
                lookup: vec![None; MH_PRIMES[MH_TAB_INDEX - 8]],
                tab_bits: MH_TAB_INDEX as i64 / 2,
            },
            "twos" => State::Twos,
            "lblc" => State::Lblc(Table::new(DEFAULT_TAB_BITS, DEFAULT_EXPIRATION_MS)),
            "lblcr" => State::Lblcr(Table::new(DEFAULT_TAB_BITS, DEFAULT_EXPIRATION_MS)),
            _ => return Err(Error::UnknownScheduler),
        };
        Ok(Model {
            list: Vec::new(),
            trash: Vec::new(),
            gone: HashMap::new(),
            now: 0,
            state,
            rng,
        })
    }

    /// An lblc or lblcr service with sysctl `lblc_expiration` /
    /// `lblcr_expiration` = `expiration` (milliseconds, the unit of
    /// [`Model::advance`]) on a kernel built with `IP_VS_LBLC_TAB_BITS` /
    /// `IP_VS_LBLCR_TAB_BITS` = `tab_bits`.
    pub fn locality(name: &str, expiration: u64, tab_bits: u32) -> Result<Self, Error> {
        let mut m = Self::new(name, 0)?;
        match &mut m.state {
            State::Lblc(t) => *t = Table::new(tab_bits, expiration),
            State::Lblcr(t) => *t = Table::new(tab_bits, expiration),
            _ => return Err(Error::UnknownScheduler),
        }
        Ok(m)
    }

    /// Moves `jiffies` forward by `dt` milliseconds; the lblc/lblcr timer
    /// fires on the way.
    pub fn advance(&mut self, dt: u64) {
        self.now += dt;
        match &mut self.state {
            State::Lblc(t) => t.run_timer(self.now),
            State::Lblcr(t) => t.run_timer(self.now),
            _ => {}
        }
    }

    /// The number of lblc/lblcr cache entries (`tbl->entries`).
    pub fn cache_len(&self) -> Option<usize> {
        match &self.state {
            State::Lblc(t) => Some(t.entries),
            State::Lblcr(t) => Some(t.entries),
            _ => None,
        }
    }

    /// An mh service for a kernel built with `CONFIG_IP_VS_MH_TAB_INDEX = index`
    /// (8..=17: M = `primes[index − 8]`, `IP_VS_MH_TAB_BITS` = index / 2), the
    /// counterpart of [`crate::Mh::with_tab_index`]; `None` for other indexes.
    pub fn mh_with_tab_index(flags: u32, index: u32) -> Option<Self> {
        let m = *MH_PRIMES.get((index as usize).checked_sub(8)?)?;
        let mut model = Self::new("mh", flags).ok()?;
        if let State::Mh {
            lookup, tab_bits, ..
        } = &mut model.state
        {
            *lookup = vec![None; m];
            *tab_bits = index as i64 / 2;
        }
        Some(model)
    }

    /// A service whose dests were added in `added` order before the scheduler was
    /// bound (`init_service` on an existing list, as `ipvsadm -E -s NAME` does);
    /// the counterpart of [`crate::Service::rebind`]. O(n), for large benchmarks.
    pub fn bound(name: &str, flags: u32, added: &[DestConfig]) -> Result<Self, Error> {
        let mut m = Self::new(name, flags)?;
        let mut seen = std::collections::HashSet::new();
        for cfg in added.iter().rev() {
            Self::check(cfg.weight, cfg.u_threshold, cfg.l_threshold)?;
            if !seen.insert((cfg.addr, cfg.port)) {
                return Err(Error::Exists);
            }
            m.list.push(RefDest {
                key: (cfg.addr, cfg.port),
                weight: cfg.weight as i64,
                last_weight: cfg.weight as i64,
                u_threshold: cfg.u_threshold as i64,
                l_threshold: cfg.l_threshold as i64,
                active: 0,
                inactive: 0,
                overloaded: false,
            });
        }
        m.changed(false);
        Ok(m)
    }

    fn pos(&self, key: Key) -> Result<usize, Error> {
        self.list
            .iter()
            .position(|d| d.key == key)
            .ok_or(Error::UnknownDest)
    }

    /// The destination with this key.
    pub fn get(&self, key: Key) -> Option<&RefDest> {
        self.list.iter().find(|d| d.key == key)
    }

    /// The dest with this key in the list, else in the trash: connections keep
    /// their dest after `ip_vs_del_dest`.
    fn dest_mut(&mut self, key: Key) -> Result<&mut RefDest, Error> {
        self.list
            .iter_mut()
            .chain(self.trash.iter_mut())
            .find(|d| d.key == key)
            .ok_or(Error::UnknownDest)
    }

    /// Frees trashed dests without connections (the kernel does after
    /// `IP_VS_DEST_TRASH_PERIOD`; the fast side at every add and remove).
    fn free_idle_trash(&mut self) {
        self.trash.retain(|d| d.total() > 0);
    }

    fn check(weight: u32, u: u32, l: u32) -> Result<(), Error> {
        if weight > i32::MAX as u32 {
            return Err(Error::WeightOutOfRange(weight));
        }
        if l > u {
            return Err(Error::ThresholdOrder { upper: u, lower: l });
        }
        if u > i32::MAX as u32 {
            return Err(Error::ThresholdOutOfRange(u));
        }
        Ok(())
    }

    /// `ip_vs_add_dest`: insert at the head, then the `add_dest` hook.
    pub fn add(&mut self, cfg: DestConfig) -> Result<(), Error> {
        Self::check(cfg.weight, cfg.u_threshold, cfg.l_threshold)?;
        let key = (cfg.addr, cfg.port);
        if self.get(key).is_some() {
            return Err(Error::Exists);
        }
        if let State::Mh { lookup, .. } = &self.state
            && self.list.len() + 1 > lookup.len()
        {
            return Err(Error::TooManyDests);
        }
        if let State::Rr(Some(p)) = &mut self.state {
            *p += 1; // the saved dest moved one place down the list
        }
        // ip_vs_trash_get_dest: the same address and port comes back with its
        // counters, updated by __ip_vs_update_dest as for an edit.
        let dest = match self.trash.iter().position(|d| d.key == key) {
            Some(t) => {
                let mut d = self.trash.remove(t);
                Self::update_dest(&mut d, cfg.weight, cfg.u_threshold, cfg.l_threshold);
                d
            }
            None => RefDest {
                key,
                weight: cfg.weight as i64,
                last_weight: cfg.weight as i64,
                u_threshold: cfg.u_threshold as i64,
                l_threshold: cfg.l_threshold as i64,
                active: 0,
                inactive: 0,
                overloaded: false,
            },
        };
        self.list.insert(0, dest);
        self.gone.remove(&key);
        self.free_idle_trash();
        self.changed(false);
        Ok(())
    }

    /// `ip_vs_del_dest`: unlink (to the trash while connections remain), then
    /// the `del_dest` hook.
    pub fn remove(&mut self, key: Key) -> Result<(), Error> {
        let i = self.pos(key)?;
        let d = self.list.remove(i);
        self.gone.insert(key, d.weight);
        self.trash.push(d);
        self.free_idle_trash();
        // ip_vs_rr_del_dest: if the saved position is the removed dest, move it to
        // the removed dest's predecessor (or the head).
        if let State::Rr(pos) = &mut self.state {
            match *pos {
                Some(p) if p == i => *pos = i.checked_sub(1),
                Some(p) if p > i => *pos = Some(p - 1),
                _ => {}
            }
        }
        self.changed(false);
        Ok(())
    }

    /// `ip_vs_edit_dest`: replace weight and thresholds, then the `upd_dest` hook.
    pub fn edit(&mut self, key: Key, weight: u32, u: u32, l: u32) -> Result<(), Error> {
        let i = self.pos(key)?;
        Self::check(weight, u, l)?;
        Self::update_dest(&mut self.list[i], weight, u, l);
        self.changed(true);
        Ok(())
    }

    /// `__ip_vs_update_dest`, the fields schedulers read.
    fn update_dest(d: &mut RefDest, weight: u32, u: u32, l: u32) {
        if weight != 0 {
            d.last_weight = weight as i64;
        }
        d.weight = weight as i64;
        if u == 0 || u as i64 > d.u_threshold {
            d.overloaded = false;
        }
        d.u_threshold = u as i64;
        d.l_threshold = l as i64;
    }

    /// `ip_vs_bind_dest`.
    pub fn conn_new(&mut self, key: Key, state: ConnState) -> Result<(), Error> {
        Self::bind(self.dest_mut(key)?, state)
    }

    /// [`Model::conn_new`] for the dest at list index `i` (O(1), as in the kernel).
    pub fn conn_new_at(&mut self, i: usize, state: ConnState) -> Result<(), Error> {
        Self::bind(self.list.get_mut(i).ok_or(Error::UnknownDest)?, state)
    }

    fn bind(d: &mut RefDest, state: ConnState) -> Result<(), Error> {
        // lb-sched's bound (the kernel has none): the total fits a u32.
        if d.total() >= u32::MAX as i64 {
            return Err(Error::CounterOverflow);
        }
        let c = match state {
            ConnState::Active => &mut d.active,
            ConnState::Inactive => &mut d.inactive,
        };
        *c += 1;
        if d.u_threshold != 0 && d.total() >= d.u_threshold {
            d.overloaded = true;
        }
        Ok(())
    }

    /// TCP state change: move a connection between the counters.
    pub fn conn_move(&mut self, key: Key, to: ConnState) -> Result<(), Error> {
        Self::move_conn(self.dest_mut(key)?, to)
    }

    /// [`Model::conn_move`] for the dest at list index `i`.
    pub fn conn_move_at(&mut self, i: usize, to: ConnState) -> Result<(), Error> {
        Self::move_conn(self.list.get_mut(i).ok_or(Error::UnknownDest)?, to)
    }

    fn move_conn(d: &mut RefDest, to: ConnState) -> Result<(), Error> {
        let (from, to) = match to {
            ConnState::Active => (&mut d.inactive, &mut d.active),
            ConnState::Inactive => (&mut d.active, &mut d.inactive),
        };
        // The total stays, so it stays within lb-sched's bound.
        if *from == 0 {
            return Err(Error::NoSuchConn);
        }
        *from -= 1;
        *to += 1;
        Ok(())
    }

    /// `ip_vs_unbind_dest`.
    pub fn conn_closed(&mut self, key: Key, state: ConnState) -> Result<(), Error> {
        Self::unbind(self.dest_mut(key)?, state)
    }

    /// [`Model::conn_closed`] for the dest at list index `i`.
    pub fn conn_closed_at(&mut self, i: usize, state: ConnState) -> Result<(), Error> {
        Self::unbind(self.list.get_mut(i).ok_or(Error::UnknownDest)?, state)
    }

    fn unbind(d: &mut RefDest, state: ConnState) -> Result<(), Error> {
        let c = match state {
            ConnState::Active => &mut d.active,
            ConnState::Inactive => &mut d.inactive,
        };
        if *c == 0 {
            return Err(Error::NoSuchConn);
        }
        *c -= 1;
        if d.l_threshold != 0 {
            if d.total() < d.l_threshold {
                d.overloaded = false;
            }
        } else if d.u_threshold != 0 {
            if d.total() * 4 < d.u_threshold * 3 {
                d.overloaded = false;
            }
        } else {
            d.overloaded = false;
        }
        Ok(())
    }

    /// The add/del/upd hooks.
    fn changed(&mut self, is_update: bool) {
        let list = &self.list;
        match &mut self.state {
            State::Wrr { cl, cw, mw, di } => {
                // ip_vs_wrr_dest_changed
                *cl = None;
                let mut g = 0;
                for d in list {
                    if d.weight > 0 {
                        g = if g > 0 { gcd(d.weight, g) } else { d.weight };
                    }
                }
                *di = if g > 0 { g } else { 1 };
                let mut maxw = 0;
                for d in list {
                    if d.weight > maxw {
                        maxw = d.weight;
                    }
                }
                *mw = maxw - (*di - 1);
                if *cw > *mw || *cw == 0 {
                    *cw = *mw;
                } else if *di > 1 {
                    *cw = (*cw / *di) * *di + 1;
                }
            }
            State::Sh { buckets, .. } => {
                // ip_vs_sh_reassign
                let mut p = 0usize;
                let mut d_count = 0i64;
                for b in buckets.iter_mut() {
                    if list.is_empty() {
                        *b = None;
                    } else {
                        if p == list.len() {
                            p = 0;
                        }
                        *b = Some(list[p].key);
                        d_count += 1;
                        if d_count >= list[p].weight {
                            p += 1;
                            d_count = 0;
                        }
                    }
                }
            }
            // ip_vs_dh_reassign; dh has no upd_dest hook.
            State::Dh { buckets } if !is_update => {
                let mut p = 0usize;
                for b in buckets.iter_mut() {
                    if list.is_empty() {
                        *b = None;
                    } else {
                        if p == list.len() {
                            p = 0;
                        }
                        *b = Some(list[p].key);
                        p += 1;
                    }
                }
            }
            State::Mh {
                lookup, tab_bits, ..
            } => mh_reassign(list, lookup, *tab_bits),
            _ => {}
        }
    }

    /// `schedule()` for `flow` (connection schedulers ignore it).
    pub fn pick(&mut self, flow: &Flow) -> Option<Key> {
        let i = self.pick_index(flow)?;
        Some(self.list[i].key)
    }

    /// [`Model::pick`], as an index into [`Model::list`].
    pub fn pick_index(&mut self, flow: &Flow) -> Option<usize> {
        let list = &self.list;
        let index_of = |k: Key| list.iter().position(|d| d.key == k);
        let (trash, gone, now) = (&self.trash, &self.gone, self.now);
        match &mut self.state {
            State::Rr(pos) => {
                // ip_vs_rr_schedule. `p` = index of the saved dest, n = head.
                let n = list.len();
                let p = pos.unwrap_or(n);
                let last = p;
                let mut dest = p;
                let mut pass = 0;
                loop {
                    // list_for_each_entry_continue: from the entry after `dest`.
                    let mut i = if dest == n { 0 } else { dest + 1 };
                    while i < n {
                        let d = &list[i];
                        if !d.overloaded && d.weight > 0 {
                            *pos = Some(i);
                            return Some(i);
                        }
                        if i == last {
                            return None;
                        }
                        i += 1;
                    }
                    dest = n;
                    pass += 1;
                    if !(pass < 2 && p != n) {
                        return None;
                    }
                }
            }
            State::Wrr { cl, cw, mw, di } => {
                // ip_vs_wrr_schedule
                let n = list.len();
                let mut dest = cl.unwrap_or(n);
                if *mw == 0 {
                    return None;
                }
                let last = dest;
                let mut stop: Option<usize> = None;
                let mut last_pass = false;
                let mut restarted = false;
                loop {
                    let mut i = if dest == n { 0 } else { dest + 1 };
                    while i < n {
                        let d = &list[i];
                        if !d.overloaded && d.weight >= *cw {
                            *cl = Some(i);
                            return Some(i);
                        }
                        if stop == Some(i) {
                            *cl = Some(i);
                            return None;
                        }
                        i += 1;
                    }
                    dest = n;
                    *cw -= *di;
                    if *cw <= 0 {
                        *cw = *mw;
                        if last_pass || last == n {
                            *cl = None;
                            return None;
                        }
                        restarted = true;
                    }
                    last_pass = *cw <= *di;
                    if last_pass && restarted && last != n {
                        stop = Some(last);
                    }
                }
            }
            State::Lc => {
                // ip_vs_lc_schedule
                let mut least: Option<(usize, i64)> = None;
                for (i, d) in list.iter().enumerate() {
                    if d.overloaded || d.weight == 0 {
                        continue;
                    }
                    let doh = d.overhead();
                    if least.is_none_or(|(_, loh)| doh < loh) {
                        least = Some((i, doh));
                    }
                }
                least.map(|(i, _)| i)
            }
            State::Wlc => wlc(list, RefDest::overhead),
            // ip_vs_sed_schedule: wlc on activeconns + 1
            State::Sed => wlc(list, |d| d.active + 1),
            State::Nq => {
                // ip_vs_nq_schedule
                let mut least: Option<(usize, i64)> = None;
                for (i, d) in list.iter().enumerate() {
                    if d.overloaded || d.weight == 0 {
                        continue;
                    }
                    let doh = d.active + 1;
                    if d.active == 0 {
                        return Some(i);
                    }
                    if least.is_none_or(|(l, loh)| {
                        loh as i128 * d.weight as i128 > doh as i128 * list[l].weight as i128
                    }) {
                        least = Some((i, doh));
                    }
                }
                least.map(|(i, _)| i)
            }
            State::Fo => {
                // ip_vs_fo_schedule
                let mut hw = 0;
                let mut h = None;
                for (i, d) in list.iter().enumerate() {
                    if !d.overloaded && d.weight > hw {
                        h = Some(i);
                        hw = d.weight;
                    }
                }
                h
            }
            State::Ovf => {
                // ip_vs_ovf_schedule
                let mut h: Option<usize> = None;
                for (i, d) in list.iter().enumerate() {
                    let w = d.weight;
                    if d.overloaded || d.active > w || w == 0 {
                        continue;
                    }
                    if h.is_none_or(|h| w > list[h].weight) {
                        h = Some(i);
                    }
                }
                h
            }
            State::Sh {
                fallback,
                port,
                buckets,
            } => {
                let a = fold(flow.src);
                let port = if *port { flow.src_port } else { 0 } as u32;
                let hashkey = |offset: u32| {
                    (offset.wrapping_add(hash_32(port.wrapping_add(a), 8)) & 255) as usize
                };
                let unavailable = |k: Key| {
                    let d = list.iter().find(|d| d.key == k).expect("table holds dests");
                    d.weight <= 0 || d.overloaded
                };
                let ihash = hashkey(0);
                let k = buckets[ihash]?;
                if !unavailable(k) {
                    return index_of(k);
                }
                if !*fallback {
                    return None;
                }
                for offset in 0..256u32 {
                    let roffset = (offset + ihash as u32) % 256;
                    let k = buckets[hashkey(roffset)]?;
                    if !unavailable(k) {
                        return index_of(k);
                    }
                }
                None
            }
            State::Dh { buckets } => {
                let k = buckets[hash_32(fold(flow.dst), 8) as usize]?;
                let d = list.iter().find(|d| d.key == k)?;
                (d.weight > 0 && !d.overloaded).then(|| index_of(k))?
            }
            State::Mh {
                fallback,
                port,
                lookup,
                ..
            } => {
                let m = lookup.len() as u32;
                let a = fold(flow.src);
                let port = if *port { flow.src_port } else { 0 } as u32;
                let hashkey =
                    |offset: u32| hsiphash_u32(offset.wrapping_add(port).wrapping_add(a), MH_KEY1);
                let unavailable = |k: Key| {
                    let d = list.iter().find(|d| d.key == k).expect("table holds dests");
                    d.weight <= 0 || d.overloaded
                };
                let ihash = hashkey(0) % m;
                let k = lookup[ihash as usize]?;
                if !unavailable(k) {
                    return index_of(k);
                }
                if !*fallback {
                    return None;
                }
                for offset in 0..m {
                    let roffset = (offset + ihash) % m;
                    let k = lookup[(hashkey(roffset) % m) as usize]?;
                    if !unavailable(k) {
                        return index_of(k);
                    }
                }
                None
            }
            State::Twos => {
                // ip_vs_twos_schedule
                let mut total: i64 = 0;
                let mut any = false;
                for d in list {
                    if !d.overloaded && d.weight > 0 {
                        total += d.weight;
                        any = true;
                    }
                }
                if !any {
                    return None;
                }
                total += 1;
                let bound = u32::try_from(total).unwrap_or(u32::MAX);
                let mut rw1 = self.rng.below(bound).min(bound - 1) as i64;
                let mut rw2 = self.rng.below(bound).min(bound - 1) as i64;
                let (mut c1, mut c2): (Option<usize>, Option<usize>) = (None, None);
                for (i, d) in list.iter().enumerate() {
                    if d.overloaded || d.weight <= 0 {
                        continue;
                    }
                    rw1 -= d.weight;
                    rw2 -= d.weight;
                    if rw1 <= 0 && c1.is_none() {
                        c1 = Some(i);
                    }
                    if rw2 <= 0 && c2.is_none() {
                        c2 = Some(i);
                    }
                    if c1.is_some() && c2.is_some() {
                        break;
                    }
                }
                let i1 = c1?;
                let (d1, c2) = (&list[i1], c2.map(|i| (i, &list[i])));
                match c2 {
                    Some((i2, d2))
                        if d2.weight as i128 * d1.overhead() as i128
                            > d1.weight as i128 * d2.overhead() as i128 =>
                    {
                        Some(i2)
                    }
                    _ => Some(i1),
                }
            }
            State::Lblc(tbl) => {
                // ip_vs_lblc_schedule
                if let Some(en) = tbl.get(flow.dst) {
                    en.1 = now;
                    // Only a dest in the list is AVAILABLE; OVERLOAD is not checked.
                    if let Some(i) = index_of(en.0)
                        && list[i].weight > 0
                        && !is_overloaded(list, &list[i])
                    {
                        return Some(i);
                    }
                }
                // __ip_vs_lblc_schedule
                let i = wlc(list, RefDest::overhead)?;
                // ip_vs_lblc_new
                if let Some(en) = tbl.get(flow.dst) {
                    if en.0 == list[i].key {
                        return Some(i);
                    }
                    tbl.del(flow.dst);
                }
                if tbl.entries >= tbl.max_size * 3 / 2 {
                    return Some(i);
                }
                tbl.hash(flow.dst, (list[i].key, now));
                Some(i)
            }
            State::Lblcr(tbl) => {
                // ip_vs_lblcr_schedule
                let expiration = tbl.expiration;
                let Some(set) = tbl.get(flow.dst) else {
                    let i = wlc(list, RefDest::overhead)?;
                    // ip_vs_lblcr_new
                    if tbl.entries >= tbl.max_size * 3 / 2 {
                        return Some(i);
                    }
                    let set = RefSet {
                        members: vec![list[i].key],
                        lastmod: now,
                        lastuse: now,
                    };
                    tbl.hash(flow.dst, set);
                    return Some(i);
                };
                set.lastuse = now;
                // What the set functions read of a member: the dest in the list,
                // in the trash, or freed (no connections, its last weight).
                let view = |k: Key| -> (i64, i64, bool, Option<usize>) {
                    if let Some(i) = index_of(k) {
                        let d = &list[i];
                        (d.weight, d.overhead(), d.overloaded, Some(i))
                    } else if let Some(d) = trash.iter().find(|d| d.key == k) {
                        (d.weight, d.overhead(), d.overloaded, None)
                    } else {
                        (gone.get(&k).copied().unwrap_or(0), 0, false, None)
                    }
                };
                // ip_vs_dest_set_min
                let mut least: Option<(i64, i64, usize)> = None;
                for &k in &set.members {
                    let (w, oh, overloaded, avail) = view(k);
                    if overloaded {
                        continue;
                    }
                    let Some(i) = avail else { continue };
                    match least {
                        None if w > 0 => least = Some((w, oh, i)),
                        Some((lw, loh, _)) if loh as i128 * w as i128 > oh as i128 * lw as i128 => {
                            least = Some((w, oh, i))
                        }
                        _ => {}
                    }
                }
                if set.members.len() > 1 && now > set.lastmod.saturating_add(expiration) {
                    // ip_vs_dest_set_max, then ip_vs_dest_set_erase
                    let mut most: Option<(i64, i64, usize)> = None;
                    for (p, &k) in set.members.iter().enumerate() {
                        let (w, oh, _, _) = view(k);
                        match most {
                            None if w > 0 => most = Some((w, oh, p)),
                            Some((mw, moh, _))
                                if (moh as i128 * w as i128) < oh as i128 * mw as i128 && w > 0 =>
                            {
                                most = Some((w, oh, p))
                            }
                            _ => {}
                        }
                    }
                    if let Some((_, _, p)) = most {
                        set.members.remove(p);
                        set.lastmod = now;
                    }
                }
                if let Some((_, _, i)) = least
                    && !is_overloaded(list, &list[i])
                {
                    return Some(i);
                }
                let i = wlc(list, RefDest::overhead)?;
                // ip_vs_dest_set_insert(check = true)
                if !set.members.contains(&list[i].key) {
                    set.members.insert(0, list[i].key);
                    set.lastmod = now;
                }
                Some(i)
            }
        }
    }
}

/// `ip_vs_wlc_schedule` with overhead function `oh` (also `__ip_vs_lblc_schedule`
/// and `__ip_vs_lblcr_schedule`): the first dest that is not OVERLOAD with
/// weight > 0, replaced by any later non-OVERLOAD one with `loh × w > doh × lw`.
fn wlc(list: &[RefDest], oh: impl Fn(&RefDest) -> i64) -> Option<usize> {
    let first = list.iter().position(|d| !d.overloaded && d.weight > 0)?;
    let mut least = first;
    let mut loh = oh(&list[first]);
    for (i, d) in list.iter().enumerate().skip(first + 1) {
        if d.overloaded {
            continue;
        }
        let doh = oh(d);
        if loh as i128 * d.weight as i128 > doh as i128 * list[least].weight as i128 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// `is_overloaded` of lblc and lblcr: more active connections than weight while
/// some dest in the list has `activeconns × 2 < weight`.
fn is_overloaded(list: &[RefDest], dest: &RefDest) -> bool {
    dest.active > dest.weight && list.iter().any(|d| d.active * 2 < d.weight)
}

/// `ip_vs_mh_reassign`: gcd, shift, permutation, populate (M = `lookup.len()`,
/// `IP_VS_MH_TAB_BITS` = `tab_bits`).
fn mh_reassign(list: &[RefDest], lookup: &mut [Option<Key>], tab_bits: i64) {
    let m = lookup.len() as u32;
    let mut g = 0;
    for d in list {
        if d.last_weight > 0 {
            g = if g > 0 {
                gcd(d.last_weight, g)
            } else {
                d.last_weight
            };
        }
    }
    if g < 1 {
        lookup.fill(None);
        return;
    }
    let mut maxw = 0;
    for d in list {
        if d.last_weight > maxw {
            maxw = d.last_weight;
        }
    }
    let mwg = maxw / g;
    let fls = 64 - (mwg as u64).leading_zeros() as i64;
    let rshift = (fls - tab_bits).max(0);
    // (skip, perm, turns) per dest in list order
    let mut ds: Vec<(u32, u32, i64)> = list
        .iter()
        .map(|d| {
            let a = fold(d.key.0);
            let v = (d.key.1 as u32).wrapping_add(a);
            let offset = hsiphash_u32(v, MH_KEY1) % m;
            let skip = hsiphash_u32(v, MH_KEY2) % (m - 1) + 1;
            let lw = d.last_weight;
            let t = (lw / g) >> rshift;
            (skip, offset, if t != 0 { t } else { (lw != 0) as i64 })
        })
        .collect();
    let mut table = vec![false; m as usize];
    let mut n = 0;
    let mut dt_count = 0;
    // p: index into the list, list.len() = the head.
    let head = list.len();
    let mut p = head;
    while n < m {
        if p == head {
            p = 0;
        }
        let mut i = 0; // ds index
        while p != head {
            if ds[i].2 < 1 {
                p += 1;
                i += 1;
                continue;
            }
            let mut c = ds[i].1;
            while table[c as usize] {
                ds[i].1 += ds[i].0;
                if ds[i].1 >= m {
                    ds[i].1 -= m;
                }
                c = ds[i].1;
            }
            table[c as usize] = true;
            lookup[c as usize] = Some(list[p].key);
            n += 1;
            if n == m {
                return;
            }
            dt_count += 1;
            if dt_count >= ds[i].2 {
                dt_count = 0;
                p += 1;
                i += 1;
            }
        }
    }
}
