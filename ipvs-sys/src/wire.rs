// SPDX-License-Identifier: MIT OR Apache-2.0
//! Small emit helpers shared by the attribute groups.

/// Length of `s` emitted as a NUL-terminated string.
pub(crate) fn string_len(s: &str) -> usize {
    s.len() + 1
}

/// Writes `s` and one terminating NUL.
///
/// # Panics
///
/// If `buffer` is not exactly [`string_len`] bytes long (the `Nla` emit
/// contract).
#[allow(clippy::indexing_slicing)] // documented emit contract
pub(crate) fn emit_string(buffer: &mut [u8], s: &str) {
    assert_eq!(buffer.len(), string_len(s), "string attribute buffer");
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}
