// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's hash primitives used by sh, dh and mh.

use std::net::IpAddr;

/// `GOLDEN_RATIO_32` (`include/linux/hash.h`).
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32(val, bits)` (`include/linux/hash.h`, the generic multiplicative hash
/// used by sh/dh since 4.18): the top `bits` bits of `val × 0x61C88647`.
pub fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// The address fold of `ip_vs_sh_hashkey` / `ip_vs_dh_hashkey` / `ip_vs_mh_hashkey`,
/// as a host-order value (`ntohl(addr_fold)`): IPv4 as is, IPv6 the XOR of its four
/// 32-bit words.
pub(crate) fn fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            // XOR of big-endian words, then ntohl: the same as XOR of host-order words.
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// `hsiphash(&v, 4, key)` as a 64-bit little-endian kernel computes it
/// (`lib/siphash.c`, `BITS_PER_LONG == 64`): there hsiphash is SipHash-1-3 on a
/// 64-bit state, keyed by the two `unsigned long` words of `hsiphash_key_t`; the
/// four input bytes are `v` in native (little-endian) order.
pub fn hsiphash_u32(v: u32, key: [u64; 2]) -> u32 {
    let mut s = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    // len = 4: no full 8-byte block; the tail goes into b with len << 56.
    let b: u64 = (4u64 << 56) | u64::from(v);
    s[3] ^= b;
    sipround(&mut s);
    s[0] ^= b;
    s[2] ^= 0xff;
    sipround(&mut s);
    sipround(&mut s);
    sipround(&mut s);
    (s[0] ^ s[1] ^ s[2] ^ s[3]) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_32_is_the_top_bits_of_the_golden_ratio_product() {
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hash_32(1, 32), 0x61C8_8647);
        // 192.0.2.1 = 0xC0000201
        assert_eq!(
            hash_32(0xC000_0201, 8),
            0xC000_0201u32.wrapping_mul(0x61C8_8647) >> 24
        );
    }

    #[test]
    fn fold_xors_ipv6_words() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(fold(a), 0x2001_0db8 ^ 1);
        let b: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(fold(b), 0xC000_0207);
    }

    /// SipHash-1-3 differs from the reference SipHash-2-4 vectors, so check the
    /// structure instead: the key and input both change the output, and the
    /// function is a pure function of them.
    #[test]
    fn hsiphash_depends_on_key_and_input() {
        let k1 = [2_654_435_761, 2_654_435_761];
        let k2 = [2_654_446_892, 2_654_446_892];
        assert_eq!(hsiphash_u32(7, k1), hsiphash_u32(7, k1));
        assert_ne!(hsiphash_u32(7, k1), hsiphash_u32(7, k2));
        assert_ne!(hsiphash_u32(7, k1), hsiphash_u32(8, k1));
    }
}
