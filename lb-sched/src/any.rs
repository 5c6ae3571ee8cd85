// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`AnyScheduler`]: every scheduler behind one type, chosen by its `ipvsadm -s`
//! name at run time (as `IPVS_SVC_ATTR_SCHED_NAME` chooses it in the kernel).

use crate::{
    Change, Clock, DestId, Dests, Dh, Error, Flow, Fo, Hooks, Lblc, Lblcr, Lc, Mh, Nq, Ovf,
    RandomSource, Rr, Scheduler, Sed, Sh, Twos, Wlc, Wrr,
};

/// A small xorshift generator, the default [`RandomSource`] of
/// [`AnyScheduler::from_name`] for twos (not cryptographic, like the kernel's use).
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The generator [`AnyScheduler::from_name`] gives twos, and
    /// `reference::Model::new` too, so the two draw the same numbers.
    pub const DEFAULT: XorShift = XorShift(0x9E37_79B9_7F4A_7C15);
}

impl RandomSource for XorShift {
    fn below(&mut self, bound: u32) -> u32 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (((x >> 32) * bound as u64) >> 32) as u32
    }
}

/// One of the schedulers, chosen by name.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
// A service holds one, and every pick goes through it: boxing wrr's state to
// even out the variant sizes would add a pointer chase to each pick.
#[allow(clippy::large_enum_variant)]
// A tag byte of its own: without it the tag hides in a niche of wrr's state,
// and every dispatch decodes it first (six instructions per pick).
#[repr(u8)]
pub enum AnyScheduler {
    Rr(Rr),
    Wrr(Wrr),
    Lc(Lc),
    Wlc(Wlc),
    Sed(Sed),
    Nq(Nq),
    Fo(Fo),
    Ovf(Ovf),
    Sh(Sh),
    Dh(Dh),
    Mh(Mh),
    Twos(Twos<XorShift>),
    Lblc(Lblc),
    Lblcr(Lblcr),
}

impl AnyScheduler {
    /// The scheduler `ipvsadm -s NAME -b FLAGS` would bind; `flags` are the service
    /// flags (only sh and mh read them: `SCHED1` = fallback, `SCHED2` = port).
    pub fn from_name(name: &str, flags: u32) -> Result<Self, Error> {
        Ok(match name {
            "rr" => AnyScheduler::Rr(Rr::new()),
            "wrr" => AnyScheduler::Wrr(Wrr::new()),
            "lc" => AnyScheduler::Lc(Lc::new()),
            "wlc" => AnyScheduler::Wlc(Wlc::new()),
            "sed" => AnyScheduler::Sed(Sed::new()),
            "nq" => AnyScheduler::Nq(Nq::new()),
            "fo" => AnyScheduler::Fo(Fo::new()),
            "ovf" => AnyScheduler::Ovf(Ovf::new()),
            "sh" => AnyScheduler::Sh(Sh::new(flags)),
            "dh" => AnyScheduler::Dh(Dh::new()),
            "mh" => AnyScheduler::Mh(Mh::new(flags)),
            "twos" => AnyScheduler::Twos(Twos::new(XorShift::DEFAULT)),
            "lblc" => AnyScheduler::Lblc(Lblc::new()),
            "lblcr" => AnyScheduler::Lblcr(Lblcr::new()),
            _ => return Err(Error::UnknownScheduler),
        })
    }

    /// The clock of lblc and lblcr; `None` for the others, which read no time.
    pub fn clock(&self) -> Option<&Clock> {
        match self {
            AnyScheduler::Lblc(s) => Some(s.clock()),
            AnyScheduler::Lblcr(s) => Some(s.clock()),
            _ => None,
        }
    }

    /// The expiration of lblc and lblcr, in milliseconds; `None` for the
    /// others.
    pub fn expiration(&self) -> Option<u64> {
        match self {
            AnyScheduler::Lblc(s) => Some(s.expiration()),
            AnyScheduler::Lblcr(s) => Some(s.expiration()),
            _ => None,
        }
    }

    /// The number of cache entries of lblc and lblcr (as of the last pick);
    /// `None` for the others, which keep no cache.
    pub fn cache_len(&self) -> Option<usize> {
        match self {
            AnyScheduler::Lblc(s) => Some(s.cache_len()),
            AnyScheduler::Lblcr(s) => Some(s.cache_len()),
            _ => None,
        }
    }

    /// The `ipvsadm -s` names this crate implements.
    pub const NAMES: [&'static str; 14] = [
        "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "sh", "dh", "mh", "twos", "lblc",
        "lblcr",
    ];
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyScheduler::Rr($s) => $e,
            AnyScheduler::Wrr($s) => $e,
            AnyScheduler::Lc($s) => $e,
            AnyScheduler::Wlc($s) => $e,
            AnyScheduler::Sed($s) => $e,
            AnyScheduler::Nq($s) => $e,
            AnyScheduler::Fo($s) => $e,
            AnyScheduler::Ovf($s) => $e,
            AnyScheduler::Sh($s) => $e,
            AnyScheduler::Dh($s) => $e,
            AnyScheduler::Mh($s) => $e,
            AnyScheduler::Twos($s) => $e,
            AnyScheduler::Lblc($s) => $e,
            AnyScheduler::Lblcr($s) => $e,
        }
    };
}

impl Scheduler for AnyScheduler {
    fn name(&self) -> &'static str {
        dispatch!(self, s => s.name())
    }
    fn check_len(&self, new_len: usize) -> Result<(), Error> {
        dispatch!(self, s => s.check_len(new_len))
    }
    fn dest_changed(&mut self, dests: &Dests, change: Change<'_>) {
        dispatch!(self, s => s.dest_changed(dests, change))
    }
    fn hooks(&self) -> Hooks {
        dispatch!(self, s => s.hooks())
    }
    // Always inlined, as `schedule` is: their caller is
    // `Service::run_counter_hooks`, itself inlined into the connection
    // events' out-of-line slow paths, and left to itself the compiler
    // keeps the dispatch a call of its own, one call per event more than
    // the concrete type pays.
    #[inline(always)]
    fn load_changed(&mut self, dests: &Dests, id: DestId) {
        dispatch!(self, s => s.load_changed(dests, id))
    }
    #[inline(always)]
    fn overload_changed(&mut self, dests: &Dests, id: DestId) {
        dispatch!(self, s => s.overload_changed(dests, id))
    }
    // Always inlined: called out of line, the dispatch pays a prologue and
    // epilogue that cost as much as a whole pick at small n. The handle is
    // built again from its slot after the dispatch, in one place for every
    // scheduler (see `Dests::id_of_slot`): the compiler folds each
    // scheduler's handle into its slot, and the connection event after the
    // pick reaches its record from the slot without waiting on the handle.
    #[inline(always)]
    fn schedule(&mut self, dests: &Dests, flow: &Flow) -> Option<DestId> {
        // The lc family hands over its slot itself, without a handle to
        // build and take apart in its arm.
        let s = match self {
            AnyScheduler::Lc(s) => s.schedule_slot(dests),
            AnyScheduler::Wlc(s) => s.schedule_slot(dests),
            AnyScheduler::Sed(s) => s.schedule_slot(dests),
            AnyScheduler::Nq(s) => s.schedule_slot(dests),
            AnyScheduler::Fo(s) => s.schedule_slot(dests),
            AnyScheduler::Ovf(s) => s.schedule_slot(dests),
            other => dispatch!(other, s => s.schedule(dests, flow)).map(DestId::slot),
        };
        dests.id_of_slot(s?)
    }
}
