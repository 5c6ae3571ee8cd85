// SPDX-License-Identifier: MIT OR Apache-2.0
//! A whole netlink message carrying an IPVS genl message: parse, re-emit,
//! assert the round-trip law (`ipvs_sys::fuzzing::genl_message`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvs_sys::fuzzing::genl_message(data));
