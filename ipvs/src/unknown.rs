// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`UnknownAttribute`]: what a newer kernel sends that this crate does not
//! know, kept so that nothing read is lost.

use ipvs_sys::RawNla;

/// An attribute of a service or destination that this crate does not know
/// (a newer kernel's), kept as received.
///
/// The codec (`ipvs-sys`) keeps such attributes as its `Other` variants;
/// this is the same thing in the typed API, without the netlink crates'
/// types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnknownAttribute {
    /// The attribute's type field as received: its number, with
    /// `NLA_F_NESTED` (0x8000) and `NLA_F_NET_BYTEORDER` (0x4000) if set.
    pub kind: u16,
    /// Its value, without padding.
    pub value: Vec<u8>,
}

impl UnknownAttribute {
    /// An attribute of type field `kind` holding `value`.
    pub fn new(kind: u16, value: Vec<u8>) -> Self {
        Self { kind, value }
    }

    /// The attribute as it lies in a message.
    pub(crate) fn from_raw(nla: RawNla<'_>) -> Self {
        Self {
            kind: nla.kind_field(),
            value: nla.value().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_field_keeps_its_flags() {
        let bytes = [7, 0, 0x63, 0x80, 1, 2, 3, 0];
        let nla = ipvs_sys::ServiceAttributeRef::parse_each(&bytes)
            .next()
            .unwrap()
            .unwrap();
        let ipvs_sys::ServiceAttributeRef::Other(nla) = nla else {
            panic!("{nla:?}");
        };
        assert_eq!(
            UnknownAttribute::from_raw(nla),
            UnknownAttribute::new(0x8063, vec![1, 2, 3])
        );
    }
}
