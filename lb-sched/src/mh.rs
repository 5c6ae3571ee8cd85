// SPDX-License-Identifier: MIT OR Apache-2.0
//! `mh`: maglev hashing (`net/netfilter/ipvs/ip_vs_mh.c`, `ip_vs_mh_schedule`,
//! `ip_vs_mh_permutate`, `ip_vs_mh_populate`, `ip_vs_mh_hashkey`;
//! `ipvsadm -s mh`, flags `-b mh-fallback,mh-port`; kernel 4.18+).
//!
//! The lookup table has a prime number of slots M (4093 with the default
//! `CONFIG_IP_VS_MH_TAB_INDEX` = 12). Each dest, in list order, gets
//! `offset = hash1(addr, port) mod M` and `skip = hash2(addr, port) mod (M − 1) + 1`
//! from the kernel's fixed hsiphash keys, and a number of turns from its
//! **last non-zero weight** (divided by the gcd, shifted right so the largest fits
//! in `TAB_BITS` bits). The table is filled round by round, each dest claiming
//! `turns` free slots along its permutation. A client lands in slot
//! `hash1(client addr [+ port]) mod M`; its dest is returned unless it has weight 0
//! or is OVERLOAD (then `None`, or the fallback probe with mh-fallback). Because the
//! table depends only on the configuration, directors with the same configuration
//! agree on every client without sharing state: here, too.

use crate::dest::Record;
use crate::hash::{fold, hsiphash_u32};
use crate::sh::{EMPTY, available};
use crate::{Change, DestId, Dests, Error, Flow, Scheduler, gcd};

/// `IP_VS_SVC_F_SCHED_MH_FALLBACK` (`IP_VS_SVC_F_SCHED1`, `-b mh-fallback`).
pub const MH_FALLBACK: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED_MH_PORT` (`IP_VS_SVC_F_SCHED2`, `-b mh-port`).
pub const MH_PORT: u32 = 0x0010;

/// `primes[]` in `ip_vs_mh.c`, indexed by `CONFIG_IP_VS_MH_TAB_INDEX − 8`.
pub const PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];

/// `generate_hash_secret`: hash1's key (both words 2654435761).
pub const HASH1_KEY: [u64; 2] = [2_654_435_761, 2_654_435_761];
/// `generate_hash_secret`: hash2's key (both words 2654446892).
pub const HASH2_KEY: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// `ip_vs_mh_hashkey`: `hsiphash(offset + port + fold(addr))`.
pub(crate) fn mh_hashkey(addr: u32, port: u16, key: [u64; 2], offset: u32) -> u32 {
    let v = offset.wrapping_add(port as u32).wrapping_add(addr);
    hsiphash_u32(v, key)
}

/// Maglev hashing (`ipvsadm -s mh`).
///
/// The table is a pure function of the list, so a change only marks it
/// stale; it is rebuilt once, at the next pick (once per burst of changes).
#[derive(Clone, Debug)]
pub struct Mh {
    fallback: bool,
    port: bool,
    size: u32,
    tab_bits: u32,
    /// The slot of each entry's dest ([`EMPTY`]: none), 4 bytes an entry.
    lookup: Vec<u32>,
    /// The permutations of the last rebuild, kept (with room for every dest)
    /// so that the rebuild at a pick allocates nothing.
    setup: Vec<Setup>,
    /// The list changed since the table was built.
    stale: bool,
}

impl Default for Mh {
    fn default() -> Self {
        Self::new(0)
    }
}

/// Per-dest permutation state (`struct ip_vs_mh_dest_setup`) and the dest's slot.
#[derive(Clone, Debug)]
struct Setup {
    skip: u32,
    perm: u32,
    turns: u32,
    slot: u32,
}

/// `fls()`: 1-based index of the most significant set bit, 0 for 0.
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

impl Mh {
    /// An mh scheduler with the default table (M = 4093) and service flags `flags`
    /// ([`MH_FALLBACK`], [`MH_PORT`]; other bits are ignored).
    pub fn new(flags: u32) -> Self {
        Self::with_tab_index(flags, 12).expect("12 is a valid index")
    }

    /// As [`Mh::new`] for a kernel built with `CONFIG_IP_VS_MH_TAB_INDEX = index`
    /// (8..=17).
    pub fn with_tab_index(flags: u32, index: u32) -> Option<Self> {
        let size = *PRIMES.get(index.checked_sub(8)? as usize)?;
        Some(Mh {
            fallback: flags & MH_FALLBACK != 0,
            port: flags & MH_PORT != 0,
            size,
            tab_bits: index / 2,
            lookup: vec![EMPTY; size as usize],
            setup: Vec::new(),
            stale: true,
        })
    }

    /// The table size M.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// `ip_vs_mh_reassign` with `ip_vs_mh_gcd_weight` / `ip_vs_mh_shift_weight`.
    #[cold]
    #[inline(never)]
    fn reassign(&mut self, dests: &Dests) {
        self.stale = false;
        let m = self.size;
        let last_weight = |(id, d): (DestId, &Record)| dests.last_weight(id.slot(), d);
        let mut g = 0u32;
        let mut maxw = 0u32;
        for lw in dests.records().map(last_weight) {
            if lw > 0 {
                g = if g > 0 { gcd(lw, g) } else { lw };
            }
            maxw = maxw.max(lw);
        }
        self.lookup.fill(EMPTY);
        if g < 1 {
            // ip_vs_mh_populate with gcd < 1: ip_vs_mh_reset empties the table.
            return;
        }
        let rshift = (fls(maxw / g) as i32 - self.tab_bits as i32).max(0) as u32;
        self.setup.clear();
        self.setup.extend(dests.records().map(|(id, d)| {
            let a = fold(d.addr());
            let offset = mh_hashkey(a, d.port(), HASH1_KEY, 0) % m;
            let skip = mh_hashkey(a, d.port(), HASH2_KEY, 0) % (m - 1) + 1;
            let lw = last_weight((id, d));
            let t = (lw / g) >> rshift;
            let turns = if t != 0 { t } else { u32::from(lw != 0) };
            Setup {
                skip,
                perm: offset,
                turns,
                slot: id.slot(),
            }
        }));
        // ip_vs_mh_populate; an entry is taken once it holds a slot.
        let mut n = 0u32;
        let mut dt_count = 0u32;
        'fill: while n < m {
            for ds in self.setup.iter_mut() {
                // The kernel's inner walk advances to the next dest only after
                // `turns` claims, so a dest may claim several slots in a row.
                if ds.turns < 1 {
                    continue;
                }
                loop {
                    let mut c = ds.perm;
                    while self.lookup[c as usize] != EMPTY {
                        ds.perm += ds.skip;
                        if ds.perm >= m {
                            ds.perm -= m;
                        }
                        c = ds.perm;
                    }
                    self.lookup[c as usize] = ds.slot;
                    n += 1;
                    if n == m {
                        break 'fill;
                    }
                    dt_count += 1;
                    if dt_count >= ds.turns {
                        dt_count = 0;
                        break;
                    }
                }
            }
        }
    }

    fn get(&self, dests: &Dests, idx: u32) -> Result<DestId, bool> {
        // Ok(available dest), Err(true) = unavailable dest, Err(false) = empty slot.
        match self.lookup[idx as usize] {
            EMPTY => Err(false),
            slot => available(dests, slot).ok_or(true),
        }
    }
}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn check_len(&self, new_len: usize) -> Result<(), Error> {
        if new_len > self.size as usize {
            return Err(Error::TooManyDests);
        }
        Ok(())
    }

    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        // Positions are not what the table holds: a compaction changes nothing.
        if matches!(change, Change::Compacted(_)) {
            return;
        }
        self.stale = true;
        // Room for every dest's permutation now, at the change, not at the pick.
        self.setup
            .reserve(dests.len().saturating_sub(self.setup.len()));
    }

    fn hooks(&self) -> crate::Hooks {
        // Reads the counters at pick time; keeps no index of them.
        crate::Hooks::NONE
    }

    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        if self.stale {
            self.reassign(dests);
        }
        let m = self.size;
        let addr = fold(flow.src);
        let port = if self.port { flow.src_port } else { 0 };
        let ihash = mh_hashkey(addr, port, HASH1_KEY, 0) % m;
        match self.get(dests, ihash) {
            Ok(id) => return Some(id),
            Err(false) => return None,
            Err(true) if !self.fallback => return None,
            Err(true) => {}
        }
        for offset in 0..m {
            let roffset = (offset + ihash) % m;
            let hash = mh_hashkey(addr, port, HASH1_KEY, roffset) % m;
            match self.get(dests, hash) {
                Ok(id) => return Some(id),
                Err(false) => return None,
                Err(true) => {}
            }
        }
        None
    }
}
