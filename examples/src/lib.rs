// SPDX-License-Identifier: MIT OR Apache-2.0
//! Director examples (LVS-NAT, LVS-DR), built on the `ipvs` crate. Not
//! published. (The `ipvsadm`-compatible tool is the `ipvsadm-rs` package.)
//!
//! - [`director`]: the plumbing around IPVS on a director or real server:
//!   addresses, routes and links over rtnetlink, sysctls through
//!   `/proc/sys`, masquerading through nftables.
//! - [`reconciler`]: the controller behind `ipvs-reconciler`, which keeps
//!   the services of a JSON desired-state file in the table and touches no
//!   other.
//! - [`scaling`]: how much of the client → real server mapping `mh` and
//!   `sh` move when a real server comes or goes (the `lb-sched` model).

pub mod director;
pub mod reconciler;
pub mod scaling;

/// The workspace README, whose examples are compiled (and, where they need
/// no kernel, run) as doc tests of this package, which depends on every
/// crate they use.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
