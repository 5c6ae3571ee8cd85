// SPDX-License-Identifier: MIT OR Apache-2.0
//! An `ipvsadm`-compatible front end: its command line ([`cli`]), its
//! output formats ([`mod@format`]), an all-or-nothing `-R` ([`restore`]),
//! over a model of the table ([`model`]) that `kernel` fills from and
//! applies to the `ipvs` crate.

pub mod cli;
pub mod format;
pub mod kernel;
pub mod model;
pub mod names;
pub mod restore;
