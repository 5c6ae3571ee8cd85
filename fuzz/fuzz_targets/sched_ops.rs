// SPDX-License-Identifier: MIT OR Apache-2.0
//! lb-sched: arbitrary add/remove/edit/connect/close/pick sequences against the
//! reference model of the kernel's schedulers (`lb_sched::fuzzing::sched_ops`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lb_sched::fuzzing::sched_ops(data));
