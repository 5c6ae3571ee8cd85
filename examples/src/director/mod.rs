// SPDX-License-Identifier: MIT OR Apache-2.0
//! The plumbing a director (or a DR real server) needs besides IPVS.

pub mod args;
pub mod conf;
pub mod ecmp;
pub mod failover;
pub mod masq;
pub mod net;
pub mod setup;
pub mod sysctl;
