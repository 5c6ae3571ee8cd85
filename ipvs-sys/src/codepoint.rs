// SPDX-License-Identifier: MIT OR Apache-2.0
//! Enumerated code points: address family, protocol, forwarding method and
//! tunnel type. Each has an `Other` variant, so unknown values round-trip.

/// Defines a code-point enum with `Other(repr)` and `From` both ways.
macro_rules! code_point {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate has no name for, kept as received.
            ///
            /// `Other` holding a named value (e.g. `Other(2)` for a known
            /// code point) emits that value and parses back as the named
            /// variant.
            Other($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )*
                    other => Self::Other(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Other(other) => other,
                }
            }
        }
    };
}

code_point! {
    /// Address family (`IPVS_SVC_ATTR_AF`, `IPVS_DEST_ATTR_ADDR_FAMILY`), a
    /// host-order u16 on the wire.
    pub enum AddressFamily: u16 {
        /// `AF_INET` (2).
        Inet = 2,
        /// `AF_INET6` (10).
        Inet6 = 10,
    }
}

code_point! {
    /// Transport protocol of a service (`IPVS_SVC_ATTR_PROTOCOL`), a
    /// host-order u16 on the wire. ipvsadm `-t`/`-u`/`--sctp-service`.
    pub enum Protocol: u16 {
        /// `IPPROTO_TCP` (6).
        Tcp = 6,
        /// `IPPROTO_UDP` (17).
        Udp = 17,
        /// `IPPROTO_SCTP` (132).
        Sctp = 132,
    }
}

code_point! {
    /// Forwarding method of a destination (`IPVS_DEST_ATTR_FWD_METHOD`, the
    /// `IP_VS_CONN_F_FWD_MASK` bits of the connection flags), a host-order
    /// u32 on the wire.
    pub enum ForwardMethod: u32 {
        /// `IP_VS_CONN_F_MASQ` (0): NAT, ipvsadm `-m`.
        Masq = 0,
        /// `IP_VS_CONN_F_LOCALNODE` (1): deliver locally.
        Local = 1,
        /// `IP_VS_CONN_F_TUNNEL` (2): IP-in-IP/GUE/GRE tunnel, ipvsadm `-i`.
        Tunnel = 2,
        /// `IP_VS_CONN_F_DROUTE` (3): direct routing, ipvsadm `-g`.
        DirectRoute = 3,
        /// `IP_VS_CONN_F_BYPASS` (4): cache bypass (kernel-internal).
        Bypass = 4,
    }
}

code_point! {
    /// Tunnel encapsulation of a tunnel destination
    /// (`IPVS_DEST_ATTR_TUN_TYPE`, `IP_VS_CONN_F_TUNNEL_TYPE_*`), a u8 on
    /// the wire. ipvsadm `--tun-type`.
    pub enum TunnelType: u8 {
        /// `IP_VS_CONN_F_TUNNEL_TYPE_IPIP` (0).
        Ipip = 0,
        /// `IP_VS_CONN_F_TUNNEL_TYPE_GUE` (1).
        Gue = 1,
        /// `IP_VS_CONN_F_TUNNEL_TYPE_GRE` (2).
        Gre = 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_map_to_names_and_back() {
        assert_eq!(AddressFamily::from(2), AddressFamily::Inet);
        assert_eq!(AddressFamily::from(10), AddressFamily::Inet6);
        assert_eq!(Protocol::from(132), Protocol::Sctp);
        assert_eq!(ForwardMethod::from(3), ForwardMethod::DirectRoute);
        assert_eq!(ForwardMethod::from(4), ForwardMethod::Bypass);
        assert_eq!(TunnelType::from(2), TunnelType::Gre);
        assert_eq!(u32::from(ForwardMethod::Masq), 0);
        assert_eq!(u16::from(Protocol::Udp), 17);
    }

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(AddressFamily::from(7), AddressFamily::Other(7));
        assert_eq!(u16::from(AddressFamily::Other(7)), 7);
        assert_eq!(ForwardMethod::from(7), ForwardMethod::Other(7));
        assert_eq!(u32::from(ForwardMethod::Other(0x2003)), 0x2003);
        assert_eq!(TunnelType::from(255), TunnelType::Other(255));
        assert_eq!(u8::from(TunnelType::Other(3)), 3);
    }
}
