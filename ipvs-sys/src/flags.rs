// SPDX-License-Identifier: MIT OR Apache-2.0
//! Flag sets: service flags and their `{flags, mask}` struct, tunnel
//! checksum flags and the sync daemon state. Unknown bits are retained.

use crate::wire::parse_u32;
use bitflags::bitflags;
use netlink_packet_core::{DecodeError, emit_u32};

bitflags! {
    /// Service flags `IP_VS_SVC_F_*` (host-order u32), the `flags` and
    /// `mask` of `IPVS_SVC_ATTR_FLAGS`. Bits without a name are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ServiceFlags: u32 {
        /// `IP_VS_SVC_F_PERSISTENT` (0x1): persistent service, ipvsadm `-p`.
        const PERSISTENT = 0x0001;
        /// `IP_VS_SVC_F_HASHED` (0x2): kernel-internal "in the hash table";
        /// ignored on input, set in every dump.
        const HASHED = 0x0002;
        /// `IP_VS_SVC_F_ONEPACKET` (0x4): one-packet scheduling, ipvsadm
        /// `-o`.
        const ONE_PACKET = 0x0004;
        /// `IP_VS_SVC_F_SCHED1` (0x8): scheduler flag 1, ipvsadm
        /// `-b flag-1` (`sh-fallback`/`mh-fallback`).
        const SCHED1 = 0x0008;
        /// `IP_VS_SVC_F_SCHED2` (0x10): scheduler flag 2, ipvsadm
        /// `-b flag-2` (`sh-port`/`mh-port`).
        const SCHED2 = 0x0010;
        /// `IP_VS_SVC_F_SCHED3` (0x20): scheduler flag 3, ipvsadm
        /// `-b flag-3`.
        const SCHED3 = 0x0020;
        /// `IP_VS_SVC_F_SCHED_SH_FALLBACK` (= `SCHED1`), ipvsadm
        /// `-b sh-fallback`.
        const SH_FALLBACK = 0x0008;
        /// `IP_VS_SVC_F_SCHED_SH_PORT` (= `SCHED2`), ipvsadm `-b sh-port`.
        const SH_PORT = 0x0010;
        /// `IP_VS_SVC_F_SCHED_MH_FALLBACK` (= `SCHED1`), ipvsadm
        /// `-b mh-fallback`.
        const MH_FALLBACK = 0x0008;
        /// `IP_VS_SVC_F_SCHED_MH_PORT` (= `SCHED2`), ipvsadm `-b mh-port`.
        const MH_PORT = 0x0010;
        const _ = !0;
    }
}

bitflags! {
    /// Tunnel encapsulation flags `IP_VS_TUNNEL_ENCAP_FLAG_*` of
    /// `IPVS_DEST_ATTR_TUN_FLAGS` (host-order u16). The empty set is
    /// `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM` (ipvsadm `--tun-nocsum`). Bits
    /// without a name are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TunnelFlags: u16 {
        /// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM` (1 << 0), ipvsadm `--tun-csum`.
        const CSUM = 1 << 0;
        /// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM` (1 << 1), ipvsadm
        /// `--tun-remcsum`.
        const REMCSUM = 1 << 1;
        const _ = !0;
    }
}

bitflags! {
    /// Sync daemon state `IP_VS_STATE_*` of `IPVS_DAEMON_ATTR_STATE`
    /// (host-order u32). Bits without a name are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DaemonState: u32 {
        /// `IP_VS_STATE_MASTER` (1), ipvsadm `--start-daemon master`.
        const MASTER = 1;
        /// `IP_VS_STATE_BACKUP` (2), ipvsadm `--start-daemon backup`.
        const BACKUP = 2;
        const _ = !0;
    }
}

/// `struct ip_vs_flags { __u32 flags; __u32 mask; }`, the value of
/// `IPVS_SVC_ATTR_FLAGS`, both fields in host order.
///
/// The kernel replaces the service flags selected by `mask` with the bits of
/// `flags`; ipvsadm and the kernel's dumps always send `mask = 0xffffffff`.
/// The kernel's policy allows at most 8 bytes; bytes after the first 8 are
/// kept in `tail` only so that re-emitting reproduces the input exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FlagsMask {
    /// `ip_vs_flags.flags`: the new values of the selected bits.
    pub flags: ServiceFlags,
    /// `ip_vs_flags.mask`: which bits to change.
    pub mask: ServiceFlags,
    /// Bytes received after the 8-byte struct (normally none).
    pub tail: Vec<u8>,
}

/// Size of `struct ip_vs_flags`.
const IP_VS_FLAGS_LEN: usize = 8;

impl FlagsMask {
    /// `{flags, mask}` with no tail.
    pub fn new(flags: ServiceFlags, mask: ServiceFlags) -> Self {
        Self {
            flags,
            mask,
            tail: Vec::new(),
        }
    }

    /// `{flags, 0xffffffff}`: replace all flags, as ipvsadm does.
    pub fn replace_all(flags: ServiceFlags) -> Self {
        Self::new(flags, ServiceFlags::all())
    }

    /// Parses the attribute value: at least 8 bytes, host order.
    #[inline]
    pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (Some(flags), Some(mask), Some(tail)) = (
            payload.get(0..4),
            payload.get(4..IP_VS_FLAGS_LEN),
            payload.get(IP_VS_FLAGS_LEN..),
        ) else {
            return Err(DecodeError::buffer_too_small(
                payload.len(),
                IP_VS_FLAGS_LEN,
            ));
        };
        Ok(Self {
            flags: ServiceFlags::from_bits_retain(parse_u32(flags)?),
            mask: ServiceFlags::from_bits_retain(parse_u32(mask)?),
            tail: tail.to_vec(),
        })
    }

    /// Length of the emitted value.
    pub fn buffer_len(&self) -> usize {
        IP_VS_FLAGS_LEN + self.tail.len()
    }

    /// Writes the value into `buffer`.
    ///
    /// # Panics
    ///
    /// If `buffer` is not exactly [`FlagsMask::buffer_len`] bytes long.
    #[allow(clippy::indexing_slicing)] // documented emit contract
    pub fn emit(&self, buffer: &mut [u8]) {
        assert_eq!(buffer.len(), self.buffer_len(), "FlagsMask::emit");
        emit_u32(&mut buffer[0..4], self.flags.bits()).unwrap();
        emit_u32(&mut buffer[4..8], self.mask.bits()).unwrap();
        buffer[IP_VS_FLAGS_LEN..].copy_from_slice(&self.tail);
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn flags_mask_parses_host_order_and_keeps_unknown_bits() {
        let raw = [0x05, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0xff];
        let parsed = FlagsMask::parse(&raw).unwrap();
        assert_eq!(
            parsed.flags,
            ServiceFlags::PERSISTENT
                | ServiceFlags::ONE_PACKET
                | ServiceFlags::from_bits_retain(0x8000_0000)
        );
        assert_eq!(parsed.mask.bits(), 0xffff_ffff);
        let mut out = [0u8; 8];
        parsed.emit(&mut out);
        assert_eq!(out, raw);
    }

    #[test]
    fn flags_mask_keeps_tail_and_rejects_short() {
        let raw = [1, 0, 0, 0, 2, 0, 0, 0, 9, 9];
        let parsed = FlagsMask::parse(&raw).unwrap();
        assert_eq!(parsed.tail, vec![9, 9]);
        let mut out = vec![0u8; parsed.buffer_len()];
        parsed.emit(&mut out);
        assert_eq!(out, raw);
        for len in 0..8 {
            assert!(FlagsMask::parse(&raw[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn scheduler_aliases_share_bits() {
        assert_eq!(ServiceFlags::SH_FALLBACK, ServiceFlags::SCHED1);
        assert_eq!(ServiceFlags::MH_PORT, ServiceFlags::SCHED2);
        assert_eq!(ServiceFlags::all().bits(), u32::MAX);
        assert_eq!(TunnelFlags::from_bits_retain(0x8003).bits(), 0x8003);
        assert_eq!(DaemonState::from_bits_retain(6).bits(), 6);
    }
}
