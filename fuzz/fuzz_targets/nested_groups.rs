// SPDX-License-Identifier: MIT OR Apache-2.0
//! Each IPVS attribute table over arbitrary attribute runs, selected by the
//! first byte; asserts the round-trip law (`ipvs_sys::fuzzing::nested_groups`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvs_sys::fuzzing::nested_groups(data));
