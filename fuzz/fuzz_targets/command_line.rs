// SPDX-License-Identifier: MIT OR Apache-2.0
//! An `ipvsadm-rs` command line and the name files it resolves through
//! (`ipvsadm_rs::fuzzing::command_line`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvsadm_rs::fuzzing::command_line(data));
