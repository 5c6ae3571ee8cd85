// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pure-Rust wire codec for the Linux IPVS generic-netlink family: no FFI,
//! no `links`, no I/O.
//!
//! `ipvs-sys` turns bytes that `ipvsadm` sends or the kernel answers into
//! [`IpvsMessage`]s and back, losslessly: every command, every attribute of
//! every group, unknown attributes, flag bits and code points survive a
//! parse → emit round trip byte for byte. The typed, validating API lives
//! in the `ipvs` crate.
//!
//! # Message layout
//!
//! ```text
//!  0               4               8              12              16
//! +---------------+-------+-------+---------------+---------------+
//! | nlmsg_len     | type  | flags | nlmsg_seq     | nlmsg_pid     |  nlmsghdr
//! +-------+-------+-------+-------+---------------+---------------+
//! | cmd   |version|  reserved     |                                  genlmsghdr
//! +-------+-------+---------------+
//! | len   | IPVS_CMD_ATTR_SERVICE |  (| NLA_F_NESTED from ipvsadm)
//! |  +-------+-------------------+-------------------------------+
//! |  | len   | IPVS_SVC_ATTR_AF  | u16 (host order) + 2 pad      |
//! |  | len   | ..._PROTOCOL      | u16 (host order) + 2 pad      |
//! |  | len   | ..._ADDR          | 16 bytes (IPv4: 4 + 12 zero)  |
//! |  | len   | ..._PORT          | u16 (network order) + 2 pad   |
//! |  | ...   | SCHED_NAME, FLAGS {flags, mask}, TIMEOUT, NETMASK |
//! +--+-------+-------------------+-------------------------------+
//! | IPVS_CMD_ATTR_DEST { IPVS_DEST_ATTR_* } ...                    |
//! +---------------------------------------------------------------+
//! ```
//!
//! [`IpvsMessage`] is the part after the genl header: the command (taken
//! from the genl header) and the top-level [`IpvsAttribute`]s. Each nest
//! is a [`Nested`] list that remembers whether it carried `NLA_F_NESTED`:
//! ipvsadm's requests set it, the kernel's replies do not, and both
//! re-emit exactly.
//!
//! # Example
//!
//! Parse what `ipvsadm -A -t 192.0.2.1:80 -s rr` sends after the genl
//! header, look at it, and emit it again:
//!
//! ```
//! use ipvs_sys::{
//!     AddressFamily, IpvsAttribute, IpvsCmd, IpvsMessage, Protocol,
//!     ServiceAttribute,
//! };
//! use netlink_packet_core::{Emitable, ParseableParametrized};
//! use netlink_packet_generic::GenlHeader;
//!
//! let payload: Vec<u8> = [
//!     &[0x54, 0x00, 0x01, 0x80][..],          // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED
//!     &[0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00], // AF = AF_INET
//!     &[0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00], // PROTOCOL = TCP
//!     &[0x14, 0x00, 0x03, 0x00, 192, 0, 2, 1],           // ADDR
//!     &[0; 12],
//!     &[0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00], // PORT = 80 (be)
//!     &[0x07, 0x00, 0x06, 0x00, b'r', b'r', 0x00, 0x00], // SCHED_NAME "rr"
//!     &[0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // FLAGS
//!     &[0x08, 0x00, 0x08, 0x00, 0, 0, 0, 0],              // TIMEOUT
//!     &[0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff], // NETMASK
//! ]
//! .concat();
//!
//! let header = GenlHeader { cmd: 1, version: 1 };
//! let msg = IpvsMessage::parse_with_param(&payload, header)?;
//! assert_eq!(msg.cmd, IpvsCmd::NewService);
//! let IpvsAttribute::Service(service) = &msg.attributes[0] else {
//!     panic!("expected a service");
//! };
//! assert!(service.nested_flag);
//! assert_eq!(service[0], ServiceAttribute::Af(AddressFamily::Inet));
//! assert_eq!(service[1], ServiceAttribute::Protocol(Protocol::Tcp));
//! assert_eq!(service[3], ServiceAttribute::Port(80));
//! let ServiceAttribute::Addr(addr) = &service[2] else { panic!() };
//! assert_eq!(addr.to_ip(AddressFamily::Inet), Some("192.0.2.1".parse()?));
//!
//! let mut out = vec![0; msg.buffer_len()];
//! msg.emit(&mut out);
//! assert_eq!(out, payload);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Contract
//!
//! * **Parsing never panics**, whatever the bytes: only checked accessors
//!   are used on input (`NlasIterator`, `NlaBuffer::new_checked`,
//!   length-checked `parse_*` helpers, `get`). Malformed input is a
//!   [`DecodeError`](netlink_packet_core::DecodeError) whose text names the
//!   attribute that failed, e.g. "invalid IPVS_SVC_ATTR_PORT".
//!   When parsing a single attribute yourself, hand it an `NlaBuffer` from
//!   `NlasIterator` or `NlaBuffer::new_checked`: core's accessors panic on
//!   an unchecked `NlaBuffer::new` over short bytes.
//! * **Emitting** writes exactly [`Emitable::buffer_len`](netlink_packet_core::Emitable::buffer_len)
//!   bytes and panics only if the buffer is shorter, or if an attribute is
//!   longer than the u16 length field allows (see
//!   [`IpvsMessage::check_lengths`]).
//! * **Round trip**: for every message `m` that parses from bytes `b`,
//!   `parse(emit(m)) == m` (if `m` meets the length contract; only hostile
//!   input, such as a 65531-byte string without its NUL, can parse into a
//!   message that does not). For canonical bytes, which is what the kernel
//!   and ipvsadm produce (zero padding, padded nest lengths, one NUL after
//!   each string), `emit(parse(b)) == b` as well.
//! * **Lossless**: unknown attributes become `Other(DefaultNla)` with their
//!   type flags; unknown commands and code points become `Other(n)`;
//!   unknown flag bits are retained. A known attribute carrying an
//!   unexpected type flag (e.g. `NLA_F_NESTED` on a u32) is kept as
//!   `Other` too, rather than decoded and re-emitted without the flag.
//! * Nests parse with or without `NLA_F_NESTED`.
//! * Emit whole messages ([`IpvsMessage`]'s `Emitable`), not single
//!   attributes: `netlink-packet-core` 0.9's blanket `Emitable` for one
//!   `Nla` drops `NLA_F_NET_BYTEORDER` from a type that also has
//!   `NLA_F_NESTED` (only an `Other` attribute can carry both). This crate
//!   emits messages and nests with its own writer, which keeps both.
//!
//! Every attribute group enum ends with `Other(DefaultNla)`, and each
//! variant's doc names its uapi constant (`include/uapi/linux/ip_vs.h`).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod addr;
mod attribute;
mod codepoint;
mod daemon;
mod dest;
mod flags;
mod info;
mod message;
mod nested;
mod service;
mod stats;
mod wire;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(all(test, target_endian = "little"))]
mod tests;

/// The rust-netlink crates whose types this crate's API uses (`DefaultNla`,
/// `Emitable`, `GenlFamily`, ...), re-exported so that users name the same
/// version.
pub use {netlink_packet_core, netlink_packet_generic};

pub use self::{
    addr::{InetAddr, Netmask},
    attribute::IpvsAttribute,
    codepoint::{AddressFamily, ForwardMethod, Protocol, TunnelType},
    daemon::DaemonAttribute,
    dest::{DestAttribute, DestAttributeRef},
    flags::{DaemonState, FlagsMask, ServiceFlags, TunnelFlags},
    info::InfoAttribute,
    message::{AttributeTooLong, IpvsCmd, IpvsMessage},
    nested::{NestRef, Nested},
    service::{ServiceAttribute, ServiceAttributeRef},
    stats::{Counters, Stats64Attribute, StatsAttribute},
    wire::RawNla,
};

/// The crate's README, whose examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
