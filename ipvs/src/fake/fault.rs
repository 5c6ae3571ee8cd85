// SPDX-License-Identifier: MIT OR Apache-2.0
//! The fault plan: what the test asked to go wrong, and when.

use std::time::Duration;

/// What happens to a request instead of the kernel's answer
/// ([`FakeIpvs::inject`](super::FakeIpvs::inject)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The kernel refuses the request with this errno (an `NLMSG_ERROR`),
    /// without applying it: `Refuse(12)` (`ENOMEM`) is a write that failed
    /// for a reason the test chose.
    Refuse(i32),
    /// The request is applied, and whatever it would send back (its ACK,
    /// its reply, a dump) is lost: the call sees [`Error::Timeout`]
    /// after its deadline.
    ///
    /// [`Error::Timeout`]: crate::Error::Timeout
    LoseReply,
    /// The request is applied at once, and its replies arrive only after
    /// this long; everything queued after them on the socket waits too
    /// (netlink delivers in order). Longer than the call's timeout, the
    /// call times out and the late replies reach the next call, which
    /// skips them.
    Delay(Duration),
    /// The socket's receive queue overflows: the request is applied, its
    /// replies are dropped, and the next receive fails with `ENOBUFS`
    /// (the call sees [`Error::Overrun`]).
    ///
    /// [`Error::Overrun`]: crate::Error::Overrun
    Overrun,
}

/// Which request a [`Fault`] hits, counted from when it is injected (0 is
/// the next one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum When {
    /// The `n`th write: a request that changes the table or the settings
    /// (`IPVS_CMD_NEW_*`, `SET_*`, `DEL_*`, `ZERO`, `FLUSH`), whatever its
    /// outcome.
    Write(usize),
    /// The `n`th request of any kind, reads, dumps and family look-ups
    /// included.
    Request(usize),
}

/// The faults still to come.
#[derive(Clone, Debug, Default)]
pub(super) struct FaultPlan {
    /// Each fault and how many matching requests pass before it.
    requests: Vec<(When, Fault)>,
    /// Each failing `send` and how many pass before it.
    sends: Vec<(usize, i32)>,
    /// Service dumps still to shift.
    shifted_service_dumps: usize,
    /// Destination dumps still to shift.
    shifted_destination_dumps: usize,
}

impl FaultPlan {
    pub(super) fn inject(&mut self, when: When, fault: Fault) {
        self.requests.push((when, fault));
    }

    pub(super) fn fail_send(&mut self, nth: usize, errno: i32) {
        self.sends.push((nth, errno));
    }

    pub(super) fn shift_destination_dumps(&mut self, count: usize) {
        self.shifted_destination_dumps = count;
    }

    pub(super) fn shift_service_dumps(&mut self, count: usize) {
        self.shifted_service_dumps = count;
    }

    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// A request arrives (a write when `write`): the fault planned for it,
    /// if any (the first injected, when several are due), and one less to
    /// wait for every other.
    pub(super) fn on_request(&mut self, write: bool) -> Option<Fault> {
        let mut due = None;
        self.requests.retain_mut(|(when, fault)| {
            let left = match when {
                When::Request(n) => n,
                When::Write(n) if write => n,
                When::Write(_) => return true,
            };
            if *left > 0 {
                *left -= 1;
                return true;
            }
            due.get_or_insert_with(|| fault.clone());
            false
        });
        due
    }

    /// A datagram is sent: the errno its `send` fails with, if planned.
    pub(super) fn on_send(&mut self) -> Option<i32> {
        let mut due = None;
        self.sends.retain_mut(|(left, errno)| {
            if *left > 0 {
                *left -= 1;
                return true;
            }
            due.get_or_insert(*errno);
            false
        });
        due
    }

    /// A service dump starts: whether it is to be shifted.
    pub(super) fn on_service_dump(&mut self) -> bool {
        count_down(&mut self.shifted_service_dumps)
    }

    /// A destination dump starts: whether it is to be shifted.
    pub(super) fn on_destination_dump(&mut self) -> bool {
        count_down(&mut self.shifted_destination_dumps)
    }
}

/// Whether one of `left` is still to come, taking it.
fn count_down(left: &mut usize) -> bool {
    let due = *left > 0;
    *left = left.saturating_sub(1);
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_requests_count_down_separately() {
        let mut plan = FaultPlan::default();
        plan.inject(When::Write(1), Fault::LoseReply);
        plan.inject(When::Request(0), Fault::Refuse(5));
        assert_eq!(plan.on_request(false), Some(Fault::Refuse(5)));
        assert_eq!(plan.on_request(false), None, "a read is no write");
        assert_eq!(plan.on_request(true), None);
        assert_eq!(plan.on_request(true), Some(Fault::LoseReply));
        assert_eq!(plan.on_request(true), None);
    }

    #[test]
    fn sends_fail_once_in_turn() {
        let mut plan = FaultPlan::default();
        plan.fail_send(1, 105);
        assert_eq!(plan.on_send(), None);
        assert_eq!(plan.on_send(), Some(105));
        assert_eq!(plan.on_send(), None);
    }

    #[test]
    fn shifted_dumps_run_out() {
        let mut plan = FaultPlan::default();
        plan.shift_service_dumps(2);
        assert!(plan.on_service_dump() && plan.on_service_dump());
        assert!(!plan.on_service_dump());
    }
}
