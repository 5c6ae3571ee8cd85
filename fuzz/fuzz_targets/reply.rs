// SPDX-License-Identifier: MIT OR Apache-2.0
//! A dump message's payload through the typed decoders a snapshot uses
//! (`ipvs::fuzzing::reply`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvs::fuzzing::reply(data));
