// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ipvsadm-rs`: ipvsadm on the `ipvs` crate; the tool is the library's
//! [`ipvsadm_rs::main`].

fn main() -> std::process::ExitCode {
    ipvsadm_rs::main()
}
