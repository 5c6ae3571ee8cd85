// SPDX-License-Identifier: MIT OR Apache-2.0
//! Small emit helpers shared by the attribute groups.

use std::fmt::Display;

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, NLA_ALIGNTO, NLA_F_NESTED, NLA_F_NET_BYTEORDER,
    NLA_HEADER_SIZE, NLA_TYPE_MASK, Nla, NlaBuffer, nla_align,
};

/// The scalar readers of the attribute groups: `netlink-packet-core`'s
/// `parse_u16`, `parse_u32`, ... (the same checks, the same errors), inlined
/// into the parsers: a dump message holds a few dozen scalars, and the
/// out-of-line calls were a good part of reading one.
macro_rules! scalar_readers {
    ($($name:ident: $ty:ty, $from:ident;)*) => {$(
        #[doc = concat!("Reads a `", stringify!($ty), "` (`", stringify!($from), "`); any other length is an error.")]
        #[inline]
        pub(crate) fn $name(payload: &[u8]) -> Result<$ty, DecodeError> {
            match <[u8; size_of::<$ty>()]>::try_from(payload) {
                Ok(bytes) => Ok(<$ty>::$from(bytes)),
                Err(_) => Err(DecodeError::invalid_number(size_of::<$ty>(), payload.len())),
            }
        }
    )*};
}

scalar_readers! {
    parse_u8: u8, from_ne_bytes;
    parse_u16: u16, from_ne_bytes;
    parse_u16_be: u16, from_be_bytes;
    parse_u32: u32, from_ne_bytes;
    parse_u64: u64, from_ne_bytes;
}

/// `netlink-packet-core`'s `ErrorContext` (the same messages), with the
/// happy path inlined: the parsers give every attribute they read its
/// context, and the out-of-line call, which moved each parsed value
/// through it, was a good part of reading one.
pub(crate) trait Context: Sized {
    /// Adds `msg` to an error.
    fn context<M: Display>(self, msg: M) -> Self;
    /// Adds the message `msg` makes, only on an error.
    fn with_context<M: Display>(self, msg: impl FnOnce() -> M) -> Self;
}

impl<T> Context for Result<T, DecodeError> {
    #[inline(always)]
    fn context<M: Display>(self, msg: M) -> Self {
        match self {
            Ok(value) => Ok(value),
            Err(e) => Err(add_context(e, msg)),
        }
    }

    #[inline(always)]
    fn with_context<M: Display>(self, msg: impl FnOnce() -> M) -> Self {
        match self {
            Ok(value) => Ok(value),
            Err(e) => Err(add_context(e, msg())),
        }
    }
}

impl Context for DecodeError {
    fn context<M: Display>(self, msg: M) -> Self {
        add_context(self, msg)
    }

    fn with_context<M: Display>(self, msg: impl FnOnce() -> M) -> Self {
        add_context(self, msg())
    }
}

#[cold]
fn add_context<M: Display>(e: DecodeError, msg: M) -> DecodeError {
    ErrorContext::context(e, msg)
}

/// A NUL-terminated name (`SCHED_NAME`, `PE_NAME`, `MCAST_IFN`) as a
/// `String`, dropping one trailing NUL; `None` if it is not UTF-8. The
/// kernel does not require UTF-8 (an interface name may hold any bytes), so
/// callers keep such an attribute verbatim in `Other` instead of failing
/// the whole message.
pub(crate) fn name_string(payload: &[u8]) -> Option<String> {
    name_str(payload).map(str::to_owned)
}

/// [`name_string`], borrowed.
#[inline]
pub(crate) fn name_str(payload: &[u8]) -> Option<&str> {
    let name = payload.strip_suffix(&[0]).unwrap_or(payload);
    std::str::from_utf8(name).ok()
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

/// One attribute as it lies in a byte run: its type field exactly as on the
/// wire (flags included) and its value, borrowed. The parsers of every
/// attribute group read attributes through this view: `netlink-packet-core`'s
/// `NlaBuffer` re-reads and re-checks the header through out-of-line helpers
/// on every accessor, which made it most of a dump's decoding time. The
/// borrowed attribute views ([`ServiceAttributeRef::Other`](crate::ServiceAttributeRef::Other),
/// ...) hold an attribute they do not decode as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawNla<'a> {
    /// `nla_type`, `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` included.
    pub(crate) kind_field: u16,
    /// The value, without padding.
    pub(crate) value: &'a [u8],
}

impl<'a> RawNla<'a> {
    /// The view of a checked `NlaBuffer` (as the `Parseable` impls get).
    pub(crate) fn of<T: AsRef<[u8]> + ?Sized>(buf: &'a NlaBuffer<&'a T>) -> Self {
        let mut kind_field = buf.kind();
        if buf.nested_flag() {
            kind_field |= NLA_F_NESTED;
        }
        if buf.network_byte_order_flag() {
            kind_field |= NLA_F_NET_BYTEORDER;
        }
        Self {
            kind_field,
            value: buf.value(),
        }
    }

    /// The attribute type, flags masked off.
    #[inline]
    pub fn kind(&self) -> u16 {
        self.kind_field & NLA_TYPE_MASK
    }

    /// The type field as on the wire: `NLA_F_NESTED` and
    /// `NLA_F_NET_BYTEORDER` included.
    #[inline]
    pub fn kind_field(&self) -> u16 {
        self.kind_field
    }

    /// The value, without padding.
    #[inline]
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Neither `NLA_F_NESTED` nor `NLA_F_NET_BYTEORDER`: only such
    /// attributes are decoded as scalars; anything else is kept verbatim in
    /// an `Other(DefaultNla)` so that its flag bits survive.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.kind_field & (NLA_F_NESTED | NLA_F_NET_BYTEORDER) == 0
    }

    /// `NLA_F_NET_BYTEORDER` clear: nests decode with or without
    /// `NLA_F_NESTED`.
    #[inline]
    pub(crate) fn is_nest(&self) -> bool {
        self.kind_field & NLA_F_NET_BYTEORDER == 0
    }

    /// Whether the type field carries `NLA_F_NESTED`.
    #[inline]
    pub(crate) fn nested_flag(&self) -> bool {
        self.kind_field & NLA_F_NESTED != 0
    }

    /// The attribute kept verbatim, flags included (what
    /// `DefaultNla::parse` makes of it).
    pub fn to_default(self) -> DefaultNla {
        DefaultNla::new(self.kind_field, self.value.to_vec())
    }
}

/// The attributes of a byte run (a nest's value, a message's payload), with
/// `NlasIterator`'s rules: each step advances by the padded length; the
/// first malformed header yields an error (the same errors) and ends the
/// walk; trailing bytes too short for a header are an error.
pub(crate) fn attributes(bytes: &[u8]) -> Attributes<'_> {
    Attributes { rest: bytes }
}

/// See [`attributes`].
pub(crate) struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<RawNla<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let header = match rest {
            [l0, l1, k0, k1, ..] => Some((
                usize::from(u16::from_ne_bytes([*l0, *l1])),
                u16::from_ne_bytes([*k0, *k1]),
            )),
            _ => None,
        };
        let checked = match header {
            None => Err(DecodeError::nla_buffer_too_small(
                rest.len(),
                NLA_HEADER_SIZE,
            )),
            Some((length, _)) if rest.len() < length => {
                Err(DecodeError::nla_length_mismatch(rest.len(), length))
            }
            Some((length, _)) if length < NLA_HEADER_SIZE => {
                Err(DecodeError::nla_invalid_length(rest.len(), length))
            }
            Some((length, kind_field)) => Ok((length, kind_field)),
        };
        match checked {
            Ok((length, kind_field)) => {
                self.rest = rest.get(nla_align!(length)..).unwrap_or_default();
                Some(Ok(RawNla {
                    kind_field,
                    value: rest.get(NLA_HEADER_SIZE..length).unwrap_or_default(),
                }))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A group of attributes parsed from the [`RawNla`] view (each group's
/// `Parseable<NlaBuffer>` impl delegates here).
pub(crate) trait ParseRaw: Sized {
    /// Parses one attribute of the group.
    fn parse_raw(nla: RawNla<'_>) -> Result<Self, DecodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NlasIterator;

    /// The walker agrees with `NlasIterator` on every byte run, errors
    /// included.
    #[test]
    fn attributes_walk_as_nlas_iterator_does() {
        let mut runs: Vec<Vec<u8>> = vec![
            vec![],
            vec![8, 0, 1, 0, 1, 0, 0, 0, 0xff, 0xff],
            vec![5, 0, 2, 0x80, 7, 0, 0, 0, 4, 0, 3, 0x40],
            vec![3, 0, 1, 0],
            vec![12, 0, 1, 0, 1, 2],
            vec![6, 0, 1, 0, 9, 9],
        ];
        // Every prefix of a well-formed run too.
        let full = [
            8u8, 0, 1, 0, 1, 2, 3, 4, 6, 0, 0xff, 0xff, 5, 6, 0, 0, 4, 0, 2, 0,
        ];
        runs.extend((0..=full.len()).map(|n| full[..n].to_vec()));
        for run in runs {
            let ours: Vec<_> = attributes(&run)
                .map(|r| {
                    r.map(|nla| (nla.kind_field, nla.value.to_vec()))
                        .map_err(|e| e.to_string())
                })
                .collect();
            let theirs: Vec<_> = NlasIterator::new(&run[..])
                .map(|r| {
                    r.map(|b| (RawNla::of(&b).kind_field, b.value().to_vec()))
                        .map_err(|e| e.to_string())
                })
                .collect();
            assert_eq!(ours, theirs, "{run:?}");
        }
    }
}
