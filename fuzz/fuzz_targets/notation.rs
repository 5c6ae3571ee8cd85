// SPDX-License-Identifier: MIT OR Apache-2.0
//! Text in ipvsadm notation through every `FromStr` of `ipvs`
//! (`ipvs::fuzzing::notation`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvs::fuzzing::notation(data));
