// SPDX-License-Identifier: MIT OR Apache-2.0
//! Safe typed API for Linux IPVS (work in progress).
