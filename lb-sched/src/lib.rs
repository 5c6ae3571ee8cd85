// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Linux IPVS schedulers in userspace, choice for choice.
//!
//! `lb-sched` picks exactly the real server the kernel's IPVS scheduler would
//! pick, connection by connection, for the same configuration and the same
//! sequence of connection events; where the kernel scans its destination list
//! linearly, the fast implementations here use indexed structures instead.
//!
//! | `ipvsadm -s` | type | kernel source |
//! |---|---|---|
//! | `rr` | [`Rr`] | `net/netfilter/ipvs/ip_vs_rr.c` |
//! | `wrr` | [`Wrr`] | `ip_vs_wrr.c` |
//! | `lc` | [`Lc`] | `ip_vs_lc.c` |
//! | `wlc` | [`Wlc`] | `ip_vs_wlc.c` |
//! | `sed` | [`Sed`] | `ip_vs_sed.c` |
//! | `nq` | [`Nq`] | `ip_vs_nq.c` |
//! | `fo` | [`Fo`] | `ip_vs_fo.c` |
//! | `ovf` | [`Ovf`] | `ip_vs_ovf.c` |
//! | `sh` | [`Sh`] | `ip_vs_sh.c` |
//! | `dh` | [`Dh`] | `ip_vs_dh.c` |
//! | `mh` | [`Mh`] | `ip_vs_mh.c` |
//! | `twos` | [`Twos`] | `ip_vs_twos.c` |
//! | `lblc` | [`Lblc`] | `ip_vs_lblc.c` |
//! | `lblcr` | [`Lblcr`] | `ip_vs_lblcr.c` |
//!
//! ```
//! use lb_sched::{Service, Wrr, DestConfig, ConnState};
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let ip = |n| IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
//! let mut svc = Service::new(Wrr::new());
//! // `ipvsadm -a` A (w4), then B (w3), then C (w2): the kernel list is C, B, A.
//! let a = svc.add(DestConfig::new(ip(1), 80, 4)).unwrap();
//! let b = svc.add(DestConfig::new(ip(2), 80, 3)).unwrap();
//! let c = svc.add(DestConfig::new(ip(3), 80, 2)).unwrap();
//! let picks: Vec<_> = (0..9).map(|_| svc.pick().unwrap()).collect();
//! assert_eq!(picks, [c, b, a, a, b, a, c, b, a]);
//! // The proxy reports what happens to the connection it opened:
//! svc.conn_new(a, ConnState::Inactive).unwrap(); // bound (SYN)
//! svc.conn_established(a).unwrap(); // ESTABLISHED: inactive → active
//! svc.conn_closed(a, ConnState::Active).unwrap();
//! ```
//!
//! # Model
//! - A [`Service`] holds the destinations in the kernel's list order: a new
//!   destination goes to the **head** (`list_add_rcu`), so the list is the reverse
//!   of the insertion order, and every tie-break "earlier in the list" means
//!   "added later".
//! - Connection events keep `activeconns` / `inactconns` and the OVERLOAD flag
//!   exactly as `ip_vs_bind_dest` / `ip_vs_unbind_dest` do (see [`Service::conn_new`]).
//! - Hashing schedulers (sh, dh, mh) and the locality schedulers (lblc, lblcr)
//!   pick by [`Flow`] ([`Service::pick_for`]); lblc and lblcr read the
//!   caller's [`Clock`] (milliseconds) for lblcr's set expiration and for
//!   their cache's collection timer, which runs as the kernel's does: every
//!   minute from the service's start, dropping idle entries only while the
//!   cache is over its maximum size, and in a full check every 30 minutes.
//! - A removed destination that still has connections stays behind its handle,
//!   as the kernel keeps it in `dest_trash`: its connection events still count,
//!   and adding the same address and port again brings it back with its
//!   counters (`ip_vs_trash_get_dest`), so lc and friends see those connections.
//! - No method panics on bad input: they return [`Error`]. Picks and connection
//!   events allocate nothing (but a pick of lblc or lblcr that grows its cache
//!   or a set, as the kernel allocates there too).
//!
//! [`mod@reference`] holds plain transcriptions of the kernel's code (linear scans),
//! kept as the oracle the fast implementations are tested against.
//! `tests/kernel_differential.rs` checks the choices against IPVS itself: real
//! TCP connections through a kernel in the lab VM (6.1 and 6.12), choice for
//! choice for every scheduler but twos. twos draws from the kernel's
//! `get_random_u32`, so there lb-sched follows the kernel's choices and checks
//! that each is one it could make and that each server's count fits the
//! chances lb-sched computes (6.12; Debian's 6.1 is built without twos).
//!
//! # Performance
//! Where the kernel scans its list per pick, the schedulers here keep an
//! index: lc, wlc, sed and nq a tournament tree on their key (a connection
//! event replays at most log₂ n matches, a pick reads the root), rr a bitset
//! of the eligible dests, wrr the weights in blocks of 64 under a tree of
//! their maxima and gcds (a pick takes the next bit of a block's mask, and
//! a pass of at most 64 dests is kept for the passes that take the same
//! ones), twos a Fenwick tree of the eligible weights. Up to 16 dests, lc and
//! friends scan, as the kernel does. Every change (`add`, `remove`,
//! `set_weight`, `edit`) costs O(log n), amortised; tables that are a pure
//! function of the list (sh, dh, mh) are rebuilt once per burst of changes,
//! at the next pick ([`Service::update`]). A destination costs about 60
//! bytes of heap with rr, wrr, lc or wlc: a 40-byte record, its place in the
//! list order and in the address index, and the scheduler's share. Neither a
//! pick nor a connection event allocates (lblc and lblcr excepted where
//! their cache or a set grows, as the kernel's do), and a service without
//! thresholds pays nothing for OVERLOAD: it shares a word with the weight.
//! `cargo bench -p lb-sched` measures all of this against the kernel's own
//! algorithms in the same run; the figures are in the repository's
//! `BENCHMARKS.md`, section "lb-sched".

#![forbid(unsafe_code)]

mod bits;
mod dest;
mod hash;
mod keyed;
mod locality;

#[doc(hidden)]
pub mod harness;

pub mod any;
pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod reference;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::net::{IpAddr, Ipv4Addr};

pub use any::AnyScheduler;
pub use dest::{Compaction, ConnState, Dest, DestConfig, DestId, Dests, MAX_WEIGHT};
pub use dh::Dh;
pub use fo::Fo;
pub use hash::{hash_32, hsiphash_u32};
pub use lblc::Lblc;
pub use lblcr::Lblcr;
pub use lc::Lc;
pub use locality::{
    CHECK_EXPIRE_INTERVAL_MS, Clock, DEFAULT_EXPIRATION_MS, DEFAULT_TAB_BITS, ENTRY_TIMEOUT_MS,
};
pub use mh::Mh;
pub use nq::Nq;
pub use ovf::Ovf;
pub use rr::Rr;
pub use sed::Sed;
pub use sh::Sh;
pub use twos::{RandomSource, Twos};
pub use wlc::Wlc;
pub use wrr::Wrr;

/// Why an operation was refused. Nothing here panics on bad input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Weight ≥ 2^31 (the kernel's `ERANGE`, "server weight less than zero").
    #[error("weight {0} out of range (0..=2147483647)")]
    WeightOutOfRange(u32),
    /// Lower threshold above the upper one (the kernel's `ERANGE`).
    #[error("lower threshold {lower} above upper threshold {upper}")]
    ThresholdOrder {
        /// Upper threshold given.
        upper: u32,
        /// Lower threshold given.
        lower: u32,
    },
    /// Upper threshold ≥ 2^31 (the kernel's `EINVAL`).
    #[error("upper threshold {0} out of range (0..=2147483647)")]
    ThresholdOutOfRange(u32),
    /// A destination with this address and port already exists (`EEXIST`).
    #[error("destination already exists")]
    Exists,
    /// The handle names no destination (`ENOENT`): never issued, or removed
    /// and without connections left. Editing or removing a removed destination
    /// that still has connections is refused the same way.
    #[error("no such destination")]
    UnknownDest,
    /// A close or state change for a connection the counters do not hold.
    #[error("no such connection on this destination (counter would go below zero)")]
    NoSuchConn,
    /// A destination's connections, active and inactive together, would
    /// exceed `u32::MAX` (the kernel's counters are unchecked `atomic_t`s).
    #[error("connection counter overflow")]
    CounterOverflow,
    /// More destinations than the scheduler's table can hold (mh: more than its
    /// table size, the kernel's `EINVAL` from `ip_vs_mh_reassign`).
    #[error("too many destinations for this scheduler")]
    TooManyDests,
    /// No scheduler by this name (`ENOENT` from the kernel).
    #[error("unknown scheduler name")]
    UnknownScheduler,
}

/// The addresses of the packet being scheduled: what sh, dh and mh hash.
///
/// sh and mh hash the client (source) address, plus the source port with the
/// `sh-port` / `mh-port` flag; dh hashes the destination address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Client address (`iph->saddr`).
    pub src: IpAddr,
    /// Client port (TCP/UDP/SCTP source port; 0 for other protocols).
    pub src_port: u16,
    /// Destination address (`iph->daddr`: the VIP, or any address for fwmark services).
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
}

impl Flow {
    /// A flow with every field zero (IPv4): what [`Service::pick`] schedules.
    pub const UNSPECIFIED: Flow = Flow {
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_port: 0,
    };

    /// A flow from a client address and port; the destination is unspecified.
    pub fn from_client(src: IpAddr, src_port: u16) -> Self {
        Flow {
            src,
            src_port,
            ..Flow::UNSPECIFIED
        }
    }
}

/// What a destination-set change was, for [`Scheduler::dest_changed`].
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// A destination was added at the list head (the kernel's `add_dest` hook).
    Added(DestId),
    /// A destination was unlinked (`del_dest`); the snapshot is its last state,
    /// with the position it had.
    Removed(DestId, Dest),
    /// Weight or thresholds were edited (`upd_dest`).
    Updated(DestId),
    /// The scheduler was bound to a list that may already hold dests
    /// (`init_service`, e.g. `ipvsadm -E -s NAME` on an existing service).
    Bound,
    /// The positions were renumbered without the holes removals left (not a
    /// kernel event: the list and its order are unchanged). A scheduler that
    /// keeps positions maps them with [`Compaction::new_position`].
    Compacted(&'a Compaction),
}

/// Which of the counter hooks ([`Scheduler::load_changed`],
/// [`Scheduler::overload_changed`]) a scheduler needs in its current state.
/// [`Service`] asks after every destination-set change and skips the calls a
/// scheduler does not need, so a proxy's connection events cost only the counter
/// update for schedulers that keep no index (rr needs only overload flips; lc
/// below its index threshold needs neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hooks {
    /// Call [`Scheduler::load_changed`] on every connection event.
    pub load: bool,
    /// Call [`Scheduler::overload_changed`] when OVERLOAD flips.
    pub overload: bool,
}

impl Hooks {
    /// Every hook (the default, always correct).
    pub const ALL: Hooks = Hooks {
        load: true,
        overload: true,
    };
    /// No counter hook.
    pub const NONE: Hooks = Hooks {
        load: false,
        overload: false,
    };
    /// Only [`Scheduler::overload_changed`].
    pub const OVERLOAD: Hooks = Hooks {
        load: false,
        overload: true,
    };
}

/// An IPVS scheduler: the hooks of `struct ip_vs_scheduler`, plus a hook for
/// counter changes that the fast implementations use to keep their indexes.
pub trait Scheduler {
    /// The `ipvsadm -s` name.
    fn name(&self) -> &'static str;
    /// Checks whether the destination set may grow to `new_len` (mh refuses more
    /// than its table size). Called before an add.
    fn check_len(&self, new_len: usize) -> Result<(), Error> {
        let _ = new_len;
        Ok(())
    }
    /// The destination list changed (`add_dest` / `del_dest` / `upd_dest` hooks).
    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>);
    /// The counter hooks this scheduler needs until the next
    /// [`Scheduler::dest_changed`]; the default, [`Hooks::ALL`], is always correct.
    fn hooks(&self) -> Hooks {
        Hooks::ALL
    }
    /// The connection counters of `id` changed (connection events).
    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        let _ = (dests, id);
    }
    /// The OVERLOAD flag of `id` flipped (called after [`Scheduler::load_changed`]).
    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        let _ = (dests, id);
    }
    /// `schedule()`: the destination for a new connection, or `None`.
    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId>;
}

impl<S: Scheduler + ?Sized> Scheduler for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn check_len(&self, new_len: usize) -> Result<(), Error> {
        (**self).check_len(new_len)
    }
    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        (**self).dest_changed(dests, change)
    }
    fn hooks(&self) -> Hooks {
        (**self).hooks()
    }
    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        (**self).load_changed(dests, id)
    }
    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        (**self).overload_changed(dests, id)
    }
    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        (**self).schedule(dests, flow)
    }
}

/// One virtual service: its destinations and its scheduler
/// (`ipvsadm -A -t VIP -s NAME`).
#[derive(Clone, Debug)]
pub struct Service<S> {
    dests: Dests,
    sched: S,
    /// `sched.hooks()`, refreshed after every `dest_changed`.
    hooks: Hooks,
}

impl<S: Scheduler> Service<S> {
    /// A service with no destinations (the scheduler is bound to an empty list,
    /// as `ipvsadm -A` does).
    pub fn new(mut sched: S) -> Self {
        let dests = Dests::default();
        // init_service on an empty list, so a scheduler taken from another
        // service starts fresh too.
        sched.dest_changed(&dests, Change::Bound);
        let hooks = sched.hooks();
        Service {
            dests,
            sched,
            hooks,
        }
    }

    /// A service with these destinations, added in this order (the last one
    /// ends up at the list head), and the scheduler bound once at the end: the
    /// state [`Service::rebind`] gives after the adds (`ipvsadm -E -s NAME` on
    /// an existing list), without the scheduler's per-add work (sh and mh
    /// rebuild their tables on every add). Not always the state of adding under
    /// the scheduler: wrr's `init_service` starts at `cw = mw`, while its
    /// `add_dest` hook keeps a current weight that is not above the new maximum.
    /// Fails like [`Service::add`] on the first bad entry.
    pub fn with_dests(
        sched: S,
        dests: impl IntoIterator<Item = DestConfig>,
    ) -> Result<Self, Error> {
        let mut list = Dests::default();
        for cfg in dests {
            list.add(&cfg)?;
        }
        sched.check_len(list.len())?;
        let mut svc = Service {
            dests: list,
            sched,
            hooks: Hooks::ALL,
        };
        svc.sched.dest_changed(&svc.dests, Change::Bound);
        svc.hooks = svc.sched.hooks();
        Ok(svc)
    }

    /// Binds a scheduler to the existing destinations (`ipvsadm -E -s NAME`: the
    /// scheduler starts from its `init_service` state, whatever it held before)
    /// and returns the old one.
    pub fn rebind(&mut self, sched: S) -> Result<S, Error> {
        sched.check_len(self.dests.len())?;
        let old = std::mem::replace(&mut self.sched, sched);
        self.sched.dest_changed(&self.dests, Change::Bound);
        self.hooks = self.sched.hooks();
        Ok(old)
    }

    /// The destinations, in list order via [`Dests::iter`].
    pub fn dests(&self) -> &Dests {
        &self.dests
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &S {
        &self.sched
    }

    /// The destination behind a handle: in the list, or removed with
    /// connections left ([`Dest::in_list`] tells which).
    pub fn dest(&self, id: DestId) -> Option<Dest> {
        self.dests.get(id)
    }

    /// The handle of the destination in the list with this address and port.
    pub fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.dests.find(addr, port)
    }

    /// The handle of the removed destination with this address and port that
    /// still has connections.
    pub fn find_removed(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.dests.find_removed(addr, port)
    }

    /// `ipvsadm -a`: adds a destination at the head of the list. A removed
    /// destination with the same address and port that still has connections
    /// comes back with its handle and counters (`ip_vs_trash_get_dest`), so
    /// least-connection schedulers count its connections again.
    pub fn add(&mut self, cfg: DestConfig) -> Result<DestId, Error> {
        cfg.validate()?;
        self.sched.check_len(self.dests.len() + 1)?;
        let id = self.dests.add(&cfg)?;
        self.sched.dest_changed(&self.dests, Change::Added(id));
        self.hooks = self.sched.hooks();
        Ok(id)
    }

    /// `ipvsadm -d`: removes a destination from the list; no scheduler picks it
    /// again. If it still has connections, it stays behind its handle for
    /// their events until they end or it is added again (the kernel's
    /// `dest_trash`); [`Service::find_removed`] finds it.
    ///
    /// A kernel director drops every packet of those connections while the
    /// destination is out of the list (unless sysctl `expire_nodest_conn` is
    /// set), so their TCP state stops changing until their timers expire or
    /// the destination is added again.
    pub fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        let d = self.dests.remove(id)?;
        self.sched.dest_changed(&self.dests, Change::Removed(id, d));
        if self.dests.needs_compaction() {
            let c = self.dests.compact();
            self.sched.dest_changed(&self.dests, Change::Compacted(&c));
        }
        self.hooks = self.sched.hooks();
        Ok(d)
    }

    /// `ipvsadm -e`: replaces weight and thresholds (address and port stay).
    pub fn edit(
        &mut self,
        id: DestId,
        weight: u32,
        u_threshold: u32,
        l_threshold: u32,
    ) -> Result<(), Error> {
        self.dests.update(id, weight, u_threshold, l_threshold)?;
        self.sched.dest_changed(&self.dests, Change::Updated(id));
        self.hooks = self.sched.hooks();
        Ok(())
    }

    /// `ipvsadm -e -w`: changes only the weight.
    pub fn set_weight(&mut self, id: DestId, weight: u32) -> Result<(), Error> {
        let d = self.dests.get(id).ok_or(Error::UnknownDest)?;
        self.edit(id, weight, d.u_threshold(), d.l_threshold())
    }

    /// Applies a burst of changes: `f` gets an [`Update`] with [`Service::add`],
    /// [`Service::remove`], [`Service::edit`] and [`Service::set_weight`], and
    /// no pick can come in between.
    ///
    /// The result is that of making the same changes one by one, as the kernel
    /// does for each `ipvsadm` command (wrr's weight threshold and rr's
    /// position move with every change, so the choices afterwards are the
    /// kernel's). Each change costs O(log n) (amortised: a removal leaves a
    /// hole, and the holes are closed up in one O(n) pass once they outnumber
    /// the destinations). What is a pure function of the list is rebuilt once
    /// per burst, at the next pick: sh's and dh's buckets and mh's lookup
    /// table. Changes made before an error stay made.
    ///
    /// ```
    /// use lb_sched::{DestConfig, Error, Mh, Service};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let ip = |n| IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
    /// let mut svc = Service::new(Mh::new(0));
    /// // One table build for the 100 adds, at the first pick.
    /// svc.update(|u| -> Result<(), Error> {
    ///     for n in 1..=100 {
    ///         u.add(DestConfig::new(ip(n), 80, 1))?;
    ///     }
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert!(svc.pick().is_some());
    /// ```
    pub fn update<T>(&mut self, f: impl FnOnce(&mut Update<'_, S>) -> T) -> T {
        f(&mut Update { svc: self })
    }

    /// A new connection bound to `id` (`ip_vs_bind_dest`). The kernel binds a fresh
    /// TCP connection as [`ConnState::Inactive`] and moves it to active when it
    /// reaches ESTABLISHED ([`Service::conn_established`]). Sets OVERLOAD when
    /// `u_threshold ≠ 0` and active + inactive ≥ `u_threshold`.
    #[inline]
    pub fn conn_new(&mut self, id: DestId, state: ConnState) -> Result<(), Error> {
        // The common case (a dest in the list without an upper threshold,
        // under a scheduler that keeps no index on the counters) is the
        // counting alone, with no call on its path: the next event on the
        // same dest then finds the counters in registers.
        if !self.dests.conn_new(id, state)? || self.hooks.load {
            self.conn_new_rest(id);
        }
        Ok(())
    }

    /// [`Service::conn_new`] after the counting, when there is more to do:
    /// OVERLOAD, and the scheduler's hooks.
    #[inline(never)]
    fn conn_new_rest(&mut self, id: DestId) {
        let flipped = self.dests.bind_overload(id);
        self.run_counter_hooks(id, flipped);
    }

    /// The hooks after an event that may have flipped OVERLOAD, if `id` is in
    /// the list (a removed dest's counters matter only once it is added
    /// again, and [`Scheduler::dest_changed`] then sees it whole).
    ///
    /// Always inlined into its three callers, which are out of line
    /// already: for [`AnyScheduler`](crate::any::AnyScheduler) it holds two
    /// dispatches over every scheduler, and left to itself the compiler
    /// keeps it a call of its own, one more call per connection event than
    /// the concrete type pays (lblcr read 6-14 % slower for it).
    #[inline(always)]
    fn run_counter_hooks(&mut self, id: DestId, flipped: bool) {
        if !self.dests.in_list(id) {
            return;
        }
        if self.hooks.load {
            self.sched.load_changed(&self.dests, id);
        }
        if flipped && self.hooks.overload {
            self.sched.overload_changed(&self.dests, id);
        }
    }

    /// The load hook after a move between the counters, out of the event's
    /// line (see [`Service::conn_new`]).
    #[inline(never)]
    fn load_hook(&mut self, id: DestId) {
        self.run_counter_hooks(id, false);
    }

    /// A connection of `id` became ESTABLISHED: inactive → active.
    #[inline]
    pub fn conn_established(&mut self, id: DestId) -> Result<(), Error> {
        self.dests.conn_move(id, ConnState::Active)?;
        if self.hooks.load {
            self.load_hook(id);
        }
        Ok(())
    }

    /// A connection of `id` left ESTABLISHED (FIN, RST...): active → inactive.
    #[inline]
    pub fn conn_closing(&mut self, id: DestId) -> Result<(), Error> {
        self.dests.conn_move(id, ConnState::Inactive)?;
        if self.hooks.load {
            self.load_hook(id);
        }
        Ok(())
    }

    /// A connection of `id` in `state` expired (`ip_vs_unbind_dest`): it is
    /// uncounted and OVERLOAD is cleared when the total falls below `l_threshold`,
    /// or below 3/4 of `u_threshold` when `l_threshold` is 0, or always when both are 0.
    #[inline]
    pub fn conn_closed(&mut self, id: DestId, state: ConnState) -> Result<(), Error> {
        // As in `conn_new`: the common case is the counting alone.
        if !self.dests.conn_closed(id, state)? || self.hooks.load {
            self.conn_closed_rest(id);
        }
        Ok(())
    }

    /// [`Service::conn_closed`] after the counting, when there is more to
    /// do: OVERLOAD, the trash, and the scheduler's hooks.
    #[inline(never)]
    fn conn_closed_rest(&mut self, id: DestId) {
        let flipped = self.dests.unbind_overload(id);
        self.run_counter_hooks(id, flipped);
    }

    /// Schedules a new connection (connection schedulers); hashing schedulers
    /// hash [`Flow::UNSPECIFIED`].
    #[inline]
    pub fn pick(&mut self) -> Option<DestId> {
        self.sched.schedule(&self.dests, &Flow::UNSPECIFIED)
    }

    /// Schedules a new connection of `flow` (what sh, dh and mh hash).
    #[inline]
    pub fn pick_for(&mut self, flow: &Flow) -> Option<DestId> {
        self.sched.schedule(&self.dests, flow)
    }
}

/// A burst of changes to a [`Service`]: see [`Service::update`].
#[derive(Debug)]
pub struct Update<'a, S> {
    svc: &'a mut Service<S>,
}

impl<S: Scheduler> Update<'_, S> {
    /// [`Service::add`].
    pub fn add(&mut self, cfg: DestConfig) -> Result<DestId, Error> {
        self.svc.add(cfg)
    }
    /// [`Service::remove`].
    pub fn remove(&mut self, id: DestId) -> Result<Dest, Error> {
        self.svc.remove(id)
    }
    /// [`Service::edit`].
    pub fn edit(
        &mut self,
        id: DestId,
        weight: u32,
        u_threshold: u32,
        l_threshold: u32,
    ) -> Result<(), Error> {
        self.svc.edit(id, weight, u_threshold, l_threshold)
    }
    /// [`Service::set_weight`].
    pub fn set_weight(&mut self, id: DestId, weight: u32) -> Result<(), Error> {
        self.svc.set_weight(id, weight)
    }
    /// The destinations so far.
    pub fn dests(&self) -> &Dests {
        &self.svc.dests
    }
    /// [`Service::find`].
    pub fn find(&self, addr: IpAddr, port: u16) -> Option<DestId> {
        self.svc.find(addr, port)
    }
}

/// Greatest common divisor (`lib/math/gcd.c`).
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// The crate's README, whose example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
