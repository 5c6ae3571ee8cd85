// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pure-Rust codec for the IPVS generic-netlink family (work in progress).
