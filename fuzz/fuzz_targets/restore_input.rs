// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvsadm-rs -R` input, parsed, planned and played on `ipvs::fake`
//! (`ipvsadm_rs::fuzzing::restore_input`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvsadm_rs::fuzzing::restore_input(data));
