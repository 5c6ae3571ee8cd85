// SPDX-License-Identifier: MIT OR Apache-2.0
//! Addresses and netmasks as the wire carries them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use crate::AddressFamily;

/// `union nf_inet_addr`: the maximum length of an address attribute.
const NF_INET_ADDR_LEN: usize = 16;

/// An address attribute (`IPVS_SVC_ATTR_ADDR`, `IPVS_DEST_ATTR_ADDR`)
/// holding exactly the bytes received: normally 16 (`union nf_inet_addr`;
/// an IPv4 address is the first 4 bytes followed by 12 zero bytes).
///
/// The bytes alone do not say which family they hold: interpret them with
/// the sibling address-family attribute ([`InetAddr::to_ip`]).
///
/// ```
/// use ipvs_sys::{AddressFamily, InetAddr};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let vip = InetAddr::from(Ipv4Addr::new(192, 0, 2, 1));
/// assert_eq!(vip.as_bytes(), &[192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(vip.to_ip(AddressFamily::Inet), Some(IpAddr::from([192, 0, 2, 1])));
/// // The same bytes read as IPv6 are a different address: the family decides.
/// assert_eq!(vip.to_ip(AddressFamily::Inet6), Some("c000:201::".parse()?));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InetAddr {
    bytes: [u8; NF_INET_ADDR_LEN],
    len: u8,
}

impl InetAddr {
    /// The attribute value `bytes`; `None` if longer than 16 bytes (the
    /// kernel's policy limit).
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut out = [0u8; NF_INET_ADDR_LEN];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            bytes: out,
            len: u8::try_from(bytes.len()).ok()?,
        })
    }

    #[inline]
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        Self::from_bytes(payload).ok_or_else(|| {
            DecodeError::from(format!(
                "address of {} bytes, at most {NF_INET_ADDR_LEN}",
                payload.len()
            ))
        })
    }

    /// The bytes as received (or as built: 16 for [`From<IpAddr>`]).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The first 4 bytes as an IPv4 address; `None` if fewer were received.
    #[inline]
    pub fn to_ipv4(&self) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.as_bytes().get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// The 16 bytes as an IPv6 address; `None` unless exactly 16 were
    /// received.
    #[inline]
    pub fn to_ipv6(&self) -> Option<Ipv6Addr> {
        let b: [u8; 16] = self.as_bytes().try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// The address interpreted with its family: IPv4 for
    /// [`AddressFamily::Inet`], IPv6 for [`AddressFamily::Inet6`], `None`
    /// for any other family or too few bytes.
    #[inline]
    pub fn to_ip(&self, family: AddressFamily) -> Option<IpAddr> {
        match family {
            AddressFamily::Inet => self.to_ipv4().map(IpAddr::V4),
            AddressFamily::Inet6 => self.to_ipv6().map(IpAddr::V6),
            _ => None,
        }
    }
}

impl std::fmt::Debug for InetAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InetAddr(")?;
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                write!(f, "_")?;
            }
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl From<IpAddr> for InetAddr {
    /// 16 bytes: IPv4 is zero-padded, as ipvsadm and the kernel send it.
    #[inline]
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => v4.into(),
            IpAddr::V6(v6) => v6.into(),
        }
    }
}

impl From<Ipv4Addr> for InetAddr {
    /// 16 bytes: the 4 address bytes and 12 zero bytes.
    #[inline]
    fn from(ip: Ipv4Addr) -> Self {
        let mut bytes = [0u8; NF_INET_ADDR_LEN];
        for (dst, src) in bytes.iter_mut().zip(ip.octets()) {
            *dst = src;
        }
        Self { bytes, len: 16 }
    }
}

impl From<Ipv6Addr> for InetAddr {
    #[inline]
    fn from(ip: Ipv6Addr) -> Self {
        Self {
            bytes: ip.octets(),
            len: 16,
        }
    }
}

/// `IPVS_SVC_ATTR_NETMASK`, a u32 whose meaning depends on the service's
/// family:
///
/// * IPv4: the 4 mask bytes in network order (ipvsadm `-M 255.255.255.0`),
///   read by the kernel with `nla_get_be32`.
/// * IPv6: a prefix length 1..=128 as a host-order integer (ipvsadm
///   `-M 64`), read with `nla_get_u32`.
///
/// `raw` is the value read in host order (`u32::from_ne_bytes` of the 4
/// wire bytes), so the wire bytes are reproduced exactly either way.
///
/// ```
/// use ipvs_sys::Netmask;
/// use std::net::Ipv4Addr;
///
/// let v4 = Netmask::from_ipv4_prefix_len(24).unwrap();
/// assert_eq!(v4.to_ipv4_mask(), Ipv4Addr::new(255, 255, 255, 0));
/// assert_eq!(v4.raw().to_ne_bytes(), [255, 255, 255, 0]); // the wire bytes
/// let v6 = Netmask::from_ipv6_prefix_len(64);
/// assert_eq!(v6.raw(), 64); // a host-order integer on the wire
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Netmask {
    raw: u32,
}

impl Netmask {
    /// From the host-order value (what `nla_get_u32` would return).
    #[inline]
    pub fn from_raw(raw: u32) -> Self {
        Self { raw }
    }

    /// The host-order value (what `nla_get_u32` would return).
    #[inline]
    pub fn raw(self) -> u32 {
        self.raw
    }

    /// An IPv4 mask such as 255.255.255.0.
    pub fn from_ipv4_mask(mask: Ipv4Addr) -> Self {
        Self {
            raw: u32::from_ne_bytes(mask.octets()),
        }
    }

    /// An IPv4 mask of `prefix_len` leading ones; `None` above 32.
    pub fn from_ipv4_prefix_len(prefix_len: u8) -> Option<Self> {
        let bits = match prefix_len {
            0 => 0,
            1..=32 => u32::MAX << (32 - u32::from(prefix_len)),
            _ => return None,
        };
        Some(Self::from_ipv4_mask(Ipv4Addr::from(bits)))
    }

    /// An IPv6 prefix length (the kernel accepts 1..=128).
    pub fn from_ipv6_prefix_len(prefix_len: u8) -> Self {
        Self {
            raw: u32::from(prefix_len),
        }
    }

    /// The value read as an IPv4 mask (network-order bytes).
    pub fn to_ipv4_mask(self) -> Ipv4Addr {
        Ipv4Addr::from(self.raw.to_ne_bytes())
    }

    /// The IPv4 prefix length, if the mask is contiguous leading ones.
    pub fn ipv4_prefix_len(self) -> Option<u8> {
        let bits = u32::from(self.to_ipv4_mask());
        let ones = bits.leading_ones();
        (bits.checked_shl(ones).unwrap_or(0) == 0)
            .then(|| u8::try_from(ones).ok())
            .flatten()
    }

    /// The value read as an IPv6 prefix length (host order); not checked
    /// against 1..=128.
    pub fn ipv6_prefix_len(self) -> u32 {
        self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_zero_padded_to_16_bytes() {
        let a = InetAddr::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(a.as_bytes().len(), 16);
        assert_eq!(&a.as_bytes()[..4], &[192, 0, 2, 1]);
        assert!(a.as_bytes()[4..].iter().all(|b| *b == 0));
        assert_eq!(a.to_ipv4(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            a.to_ip(AddressFamily::Inet),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_round_trips_and_short_addresses_are_kept() {
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let a = InetAddr::from(v6);
        assert_eq!(a.to_ipv6(), Some(v6));
        let short = InetAddr::from_bytes(&[10, 0, 0, 1]).unwrap();
        assert_eq!(short.as_bytes(), &[10, 0, 0, 1]);
        assert_eq!(short.to_ipv6(), None);
        assert_eq!(short.to_ip(AddressFamily::Inet6), None);
        assert_eq!(short.to_ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(InetAddr::from_bytes(&[0; 17]).is_none());
        assert_eq!(InetAddr::from_bytes(&[]).unwrap().to_ipv4(), None);
    }

    #[test]
    fn netmask_ipv4_is_network_order_ipv6_is_host_order() {
        let m = Netmask::from_ipv4_mask(Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(m.raw().to_ne_bytes(), [255, 255, 255, 0]);
        assert_eq!(m.ipv4_prefix_len(), Some(24));
        assert_eq!(Netmask::from_ipv4_prefix_len(24), Some(m));
        assert_eq!(Netmask::from_ipv4_prefix_len(0).unwrap().raw(), 0);
        assert_eq!(Netmask::from_ipv4_prefix_len(33), None);
        let v6 = Netmask::from_ipv6_prefix_len(64);
        assert_eq!(v6.raw(), 64);
        assert_eq!(v6.ipv6_prefix_len(), 64);
        let holes = Netmask::from_ipv4_mask(Ipv4Addr::new(255, 0, 255, 0));
        assert_eq!(holes.ipv4_prefix_len(), None);
        let all = Netmask::from_ipv4_mask(Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(all.ipv4_prefix_len(), Some(32));
    }
}
