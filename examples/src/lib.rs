// SPDX-License-Identifier: MIT OR Apache-2.0
//! Director examples (LVS-NAT, LVS-DR) and an `ipvsadm`-compatible tool,
//! built on the `ipvs` crate. Not published.
//!
//! - [`director`]: the plumbing around IPVS on a director or real server:
//!   addresses, routes and links over rtnetlink, sysctls through
//!   `/proc/sys`, masquerading through nftables.
//! - [`ipvsadm`]: ipvsadm's syntax and output formats as pure functions,
//!   and a restore that validates everything before it changes anything.
//! - [`scaling`]: how much of the client → real server mapping `mh` and
//!   `sh` move when a real server comes or goes (the `lb-sched` model).

pub mod director;
pub mod ipvsadm;
pub mod scaling;
