// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Scheduler`]: the kernel's scheduler names as a type.

use std::fmt;
use std::str::FromStr;

use crate::notation::ParseError;

/// Longest scheduler or persistence-engine name the kernel accepts
/// (`IP_VS_SCHEDNAME_MAXLEN - 1`, `IP_VS_PENAME_MAXLEN - 1`).
pub const MAX_NAME_LEN: usize = 15;

/// A service's scheduler (`ipvsadm -s NAME`). Each kernel scheduler is the
/// module `ip_vs_<name>`, loaded on first use.
///
/// ```
/// use ipvs::Scheduler;
/// assert_eq!("wrr".parse::<Scheduler>().unwrap(), Scheduler::WeightedRoundRobin);
/// assert_eq!(Scheduler::MaglevHashing.to_string(), "mh");
/// assert_eq!("mine".parse::<Scheduler>().unwrap(), Scheduler::Other("mine".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheduler {
    /// `rr`: round robin.
    RoundRobin,
    /// `wrr`: weighted round robin.
    WeightedRoundRobin,
    /// `lc`: least connection.
    LeastConnection,
    /// `wlc`: weighted least connection (ipvsadm's default).
    WeightedLeastConnection,
    /// `lblc`: locality-based least connection.
    LocalityBasedLeastConnection,
    /// `lblcr`: locality-based least connection with replication.
    LocalityBasedLeastConnectionReplicated,
    /// `dh`: destination hashing.
    DestinationHashing,
    /// `sh`: source hashing (flags: `sh-fallback`, `sh-port`).
    SourceHashing,
    /// `sed`: shortest expected delay.
    ShortestExpectedDelay,
    /// `nq`: never queue.
    NeverQueue,
    /// `fo`: weighted failover (3.18+).
    WeightedFailover,
    /// `ovf`: weighted overflow (4.3+).
    WeightedOverflow,
    /// `mh`: maglev hashing (4.18+; flags: `mh-fallback`, `mh-port`).
    MaglevHashing,
    /// `twos`: weighted random twos choice (5.12+).
    TwoChoices,
    /// `none`: no scheduler; the service accepts no new connections.
    None,
    /// Any other scheduler module `ip_vs_<name>`.
    Other(String),
}

const NAMES: [(Scheduler, &str); 15] = [
    (Scheduler::RoundRobin, "rr"),
    (Scheduler::WeightedRoundRobin, "wrr"),
    (Scheduler::LeastConnection, "lc"),
    (Scheduler::WeightedLeastConnection, "wlc"),
    (Scheduler::LocalityBasedLeastConnection, "lblc"),
    (Scheduler::LocalityBasedLeastConnectionReplicated, "lblcr"),
    (Scheduler::DestinationHashing, "dh"),
    (Scheduler::SourceHashing, "sh"),
    (Scheduler::ShortestExpectedDelay, "sed"),
    (Scheduler::NeverQueue, "nq"),
    (Scheduler::WeightedFailover, "fo"),
    (Scheduler::WeightedOverflow, "ovf"),
    (Scheduler::MaglevHashing, "mh"),
    (Scheduler::TwoChoices, "twos"),
    (Scheduler::None, "none"),
];

impl Scheduler {
    /// The kernel's name (`IPVS_SVC_ATTR_SCHED_NAME`).
    pub fn name(&self) -> &str {
        if let Scheduler::Other(name) = self {
            return name;
        }
        NAMES
            .iter()
            .find(|(s, _)| s == self)
            .map_or("", |(_, name)| name)
    }

    /// The scheduler with kernel name `name` (known names map to their
    /// variant, anything else to [`Scheduler::Other`]).
    pub fn from_name(name: &str) -> Self {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Scheduler::Other(name.to_owned()), |(s, _)| s.clone())
    }
}

/// What is wrong with a scheduler or PE name, if anything: the kernel
/// copies at most [`MAX_NAME_LEN`] bytes and looks the module up by name.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "{name:?} is {} bytes, the kernel allows at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    // The kernel loads the module ip_vs_<name>: printable ASCII, no '/'.
    if name.bytes().any(|b| !b.is_ascii_graphic() || b == b'/') {
        return Some(format!(
            "{name:?} is not a module name (printable ASCII without '/' or spaces)"
        ));
    }
    None
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = ParseError;

    /// A kernel scheduler name (`ipvsadm -s NAME`), at most
    /// [`MAX_NAME_LEN`] bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match name_problem(s) {
            Some(reason) => Err(ParseError::new(s, "a scheduler name", "scheduler", reason)),
            None => Ok(Scheduler::from_name(s)),
        }
    }
}

impl Default for Scheduler {
    /// `wlc`, ipvsadm's default.
    fn default() -> Self {
        Scheduler::WeightedLeastConnection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips() {
        for (scheduler, name) in NAMES {
            assert_eq!(scheduler.name(), name);
            assert_eq!(Scheduler::from_name(name), scheduler);
        }
        assert_eq!(Scheduler::from_name("xyz"), Scheduler::Other("xyz".into()));
    }

    #[test]
    fn names_are_limited_to_15_bytes() {
        assert!("fifteen_bytes_x".parse::<Scheduler>().is_ok());
        assert!("sixteen_bytes_xx".parse::<Scheduler>().is_err());
        assert!("".parse::<Scheduler>().is_err());
        for bad in ["a\0b", "a b", "a/b", "r\u{a0}r", "é"] {
            assert!(bad.parse::<Scheduler>().is_err(), "{bad:?}");
        }
    }
}
