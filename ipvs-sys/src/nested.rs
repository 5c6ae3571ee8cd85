// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Nested`]: the attribute list of a nested attribute, plus whether its
//! header carried `NLA_F_NESTED`.

use crate::wire::Context as _;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use netlink_packet_core::{DecodeError, Nla};

use crate::wire::{ParseRaw, RawNla};

/// The attributes inside one nested attribute (`IPVS_CMD_ATTR_SERVICE`,
/// `IPVS_SVC_ATTR_STATS`, ...), and whether the nest's type field carried
/// `NLA_F_NESTED` (0x8000).
///
/// # Why the flag is stored
///
/// Both forms are on the wire: ipvsadm (through libnl) sets `NLA_F_NESTED`
/// on every nest of its requests, while the kernel builds its replies with
/// `nla_nest_start_noflag` and never sets it. The kernel accepts either.
/// Keeping the flag per nest makes the codec lossless: a captured request
/// and a captured reply both re-emit byte for byte, and nothing has to be
/// guessed from context. Parsing accepts both forms.
///
/// A `Nested` built with [`Nested::new`] or `From<Vec<T>>` sets the flag,
/// which is what ipvsadm sends; [`Nested::without_flag`] builds the kernel's
/// form. `Nested<T>` dereferences to `Vec<T>`, so it can be iterated,
/// searched and pushed to like the list it is.
///
/// ```
/// use ipvs_sys::{IpvsAttribute, Nested, ServiceAttribute};
///
/// let request = IpvsAttribute::Service(Nested::new(vec![ServiceAttribute::Fwmark(42)]));
/// let IpvsAttribute::Service(service) = &request else { unreachable!() };
/// assert!(service.nested_flag); // what ipvsadm sends
/// assert!(service.contains(&ServiceAttribute::Fwmark(42)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nested<T> {
    /// The nested attributes, in wire order.
    pub attributes: Vec<T>,
    /// Whether the nest's type field has `NLA_F_NESTED` set.
    pub nested_flag: bool,
}

impl<T> Nested<T> {
    /// A nest with `NLA_F_NESTED` set, as ipvsadm/libnl send requests.
    pub fn new(attributes: Vec<T>) -> Self {
        Self {
            attributes,
            nested_flag: true,
        }
    }

    /// A nest without `NLA_F_NESTED`, as the kernel sends replies.
    pub fn without_flag(attributes: Vec<T>) -> Self {
        Self {
            attributes,
            nested_flag: false,
        }
    }

    /// The attribute list, dropping the flag.
    pub fn into_vec(self) -> Vec<T> {
        self.attributes
    }
}

impl<T> Default for Nested<T> {
    /// An empty nest with `NLA_F_NESTED` set (the request form).
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl<T> From<Vec<T>> for Nested<T> {
    /// Same as [`Nested::new`]: `NLA_F_NESTED` is set.
    fn from(attributes: Vec<T>) -> Self {
        Self::new(attributes)
    }
}

impl<T> FromIterator<T> for Nested<T> {
    /// Collects into a nest with `NLA_F_NESTED` set.
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl<T> Deref for Nested<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.attributes
    }
}

impl<T> DerefMut for Nested<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.attributes
    }
}

impl<T> IntoIterator for Nested<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.attributes.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Nested<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.attributes.iter()
    }
}

impl<T: Nla> Nested<T> {
    /// Length of the nest's value: the emitted, padded inner attributes.
    pub(crate) fn value_len(&self) -> usize {
        crate::wire::attributes_len(&self.attributes)
    }

    /// Emits the inner attributes into the nest's value.
    pub(crate) fn emit_value(&self, buffer: &mut [u8]) {
        crate::wire::emit_attributes(&self.attributes, buffer)
    }

    /// `kind` with `NLA_F_NESTED` added when the flag is set.
    pub(crate) fn kind(&self, kind: u16) -> u16 {
        if self.nested_flag {
            kind | netlink_packet_core::NLA_F_NESTED
        } else {
            kind
        }
    }
}

/// Parses every attribute of a byte run (the value of a nest, or the
/// payload of a message) with `parse`. Fails on the first malformed header
/// or attribute; trailing bytes too short for an attribute header are an
/// error.
pub(crate) fn parse_attributes<T>(
    payload: &[u8],
    mut parse: impl FnMut(RawNla<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    // One walk to count them first: growing the list one push at a time
    // cost more than all the parsing (measured on a service dump).
    let mut out = Vec::with_capacity(crate::wire::attributes(payload).count());
    for nla in crate::wire::attributes(payload) {
        out.push(parse(nla?)?);
    }
    Ok(out)
}

/// Parses the attributes of a byte run one at a time, as they are read
/// (see [`crate::ServiceAttributeRef::parse_each`]); the first malformed one
/// is an error, with `what` as context, and ends the walk.
pub(crate) fn parse_each<'a, T: 'a>(
    bytes: &'a [u8],
    what: &'static str,
    parse: impl Fn(RawNla<'a>) -> Result<T, DecodeError> + 'a,
) -> impl Iterator<Item = Result<T, DecodeError>> + 'a {
    let mut failed = false;
    crate::wire::attributes(bytes).map_while(move |nla| {
        if failed {
            return None;
        }
        let parsed = nla.and_then(&parse).context(what);
        failed = parsed.is_err();
        Some(parsed)
    })
}

/// Parses the value of a nested attribute as a list of `T`, remembering
/// whether the nest had `NLA_F_NESTED`.
pub(crate) fn parse_nested<T: ParseRaw>(
    nla: RawNla<'_>,
    what: &'static str,
) -> Result<Nested<T>, DecodeError> {
    let attributes = parse_attributes(nla.value, T::parse_raw).context(what)?;
    Ok(Nested {
        attributes,
        nested_flag: nla.nested_flag(),
    })
}

/// A nest as it lies in a message, borrowed: its attributes are parsed
/// as they are iterated, and nothing is allocated until they are collected
/// into a [`Nested`]. The borrowed attribute views hold their statistics
/// nests this way ([`ServiceAttributeRef::Stats`](crate::ServiceAttributeRef::Stats),
/// ...), so a reader that folds the counters into a value of its own pays
/// for no list.
pub struct NestRef<'a, T> {
    value: &'a [u8],
    nested_flag: bool,
    /// The context of a decode error (`invalid IPVS_SVC_ATTR_STATS`).
    what: &'static str,
    attribute: PhantomData<fn() -> T>,
}

impl<'a, T> NestRef<'a, T> {
    /// The nest `nla` (its value, and whether it had `NLA_F_NESTED`).
    pub(crate) fn of(nla: RawNla<'a>, what: &'static str) -> Self {
        Self {
            value: nla.value,
            nested_flag: nla.nested_flag(),
            what,
            attribute: PhantomData,
        }
    }

    /// The nest's value: its attributes, unparsed.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Whether the nest's type field had `NLA_F_NESTED`.
    pub fn nested_flag(&self) -> bool {
        self.nested_flag
    }

    /// The context of this nest's decode errors.
    pub(crate) fn what(&self) -> &'static str {
        self.what
    }
}

/// The reading methods of `NestRef<T>` for each attribute group `T` found
/// in nests (statically dispatched: a counter read is a few instructions).
macro_rules! nest_ref_reading {
    ($($group:ty),*) => {$(
        impl<'a> NestRef<'a, $group> {
            /// The nest's attributes, parsed as they are read; the first
            /// malformed one is an error and ends the walk.
            #[inline]
            pub fn attributes(&self) -> impl Iterator<Item = Result<$group, DecodeError>> + 'a {
                parse_each(self.value, self.what, <$group as ParseRaw>::parse_raw)
            }

            /// The nest's attributes, collected (what the owned attribute
            /// holds).
            pub fn to_nested(&self) -> Result<Nested<$group>, DecodeError> {
                let attributes = parse_attributes(self.value, <$group as ParseRaw>::parse_raw)
                    .context(self.what)?;
                Ok(Nested {
                    attributes,
                    nested_flag: self.nested_flag,
                })
            }
        }
    )*};
}

nest_ref_reading!(crate::StatsAttribute, crate::Stats64Attribute);

impl<T> Clone for NestRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for NestRef<'_, T> {}

impl<T> std::fmt::Debug for NestRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NestRef")
            .field("value", &self.value)
            .field("nested_flag", &self.nested_flag)
            .finish()
    }
}
