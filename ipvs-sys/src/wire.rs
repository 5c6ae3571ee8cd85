// SPDX-License-Identifier: MIT OR Apache-2.0
//! Small emit helpers shared by the attribute groups.

use netlink_packet_core::{NLA_ALIGNTO, NLA_HEADER_SIZE, Nla, nla_align};

/// A NUL-terminated name (`SCHED_NAME`, `PE_NAME`, `MCAST_IFN`) as a
/// `String`, dropping one trailing NUL; `None` if it is not UTF-8. The
/// kernel does not require UTF-8 (an interface name may hold any bytes), so
/// callers keep such an attribute verbatim in `Other` instead of failing
/// the whole message.
pub(crate) fn name_string(payload: &[u8]) -> Option<String> {
    let name = payload.strip_suffix(&[0]).unwrap_or(payload);
    String::from_utf8(name.to_vec()).ok()
}

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

/// Total emitted length of `attrs`: each a 4-byte header plus its value,
/// padded to 4 bytes.
pub(crate) fn attributes_len<T: Nla>(attrs: &[T]) -> usize {
    attrs
        .iter()
        .map(|a| NLA_HEADER_SIZE + nla_align!(a.value_len()))
        .sum()
}

/// Emits `attrs` back to back, writing each type field exactly as
/// [`Nla::kind`] returns it (flags included) and zero padding.
///
/// This replaces `netlink-packet-core`'s blanket `Emitable` for attribute
/// lists, which writes the type with `set_kind` and then adds the flags one
/// at a time; its `set_nested_flag` re-reads the masked type and so drops
/// `NLA_F_NET_BYTEORDER` when `NLA_F_NESTED` is set too (found by the
/// `genl_message` fuzz target; netlink-packet-core 0.9.0).
///
/// # Panics
///
/// If `buffer` is shorter than [`attributes_len`], or an attribute is
/// longer than the u16 length field allows (see
/// [`IpvsMessage::check_lengths`](crate::IpvsMessage::check_lengths)).
#[allow(clippy::indexing_slicing)] // emit contract: caller sized the buffer
pub(crate) fn emit_attributes<T: Nla>(attrs: &[T], buffer: &mut [u8]) {
    let mut offset = 0;
    for attr in attrs {
        let value_len = attr.value_len();
        let len = u16::try_from(NLA_HEADER_SIZE + value_len)
            .expect("netlink attribute longer than 65535 bytes");
        let total = NLA_HEADER_SIZE + nla_align!(value_len);
        let out = &mut buffer[offset..offset + total];
        out[0..2].copy_from_slice(&len.to_ne_bytes());
        out[2..4].copy_from_slice(&attr.kind().to_ne_bytes());
        attr.emit_value(&mut out[NLA_HEADER_SIZE..NLA_HEADER_SIZE + value_len]);
        out[NLA_HEADER_SIZE + value_len..].fill(0);
        offset += total;
    }
}
