// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Linux IPVS schedulers in userspace (work in progress).
