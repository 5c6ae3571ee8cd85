// SPDX-License-Identifier: MIT OR Apache-2.0
//! Director examples built on the `ipvs` crate.
