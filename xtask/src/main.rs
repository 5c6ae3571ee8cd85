// SPDX-License-Identifier: MIT OR Apache-2.0
//! Project automation.
fn main() {}
