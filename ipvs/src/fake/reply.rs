// SPDX-License-Identifier: MIT OR Apache-2.0
//! Replies as the kernel frames them: the netlink messages (`netlink_ack()`
//! of `net/netlink/af_netlink.c`, `NLMSG_DONE`, `genlmsg_put()`), and the
//! entries of IPVS replies as `ip_vs_genl_fill_*()` of `ip_vs_ctl.c` shape
//! them, emitted through `ipvs-sys`.
//!
//! The fake's sockets behave as the crate opens its own: with
//! `NETLINK_CAP_ACK` (an error echoes only the request's header) and
//! `NETLINK_EXT_ACK` (errors carry the core's text and offset). Nests are
//! emitted without `NLA_F_NESTED`, as `nla_nest_start_noflag()` does, and
//! 64-bit counters without `IPVS_STATS_ATTR_PAD`, as on x86-64 (which has
//! efficient unaligned access, so `nla_put_u64_64bit()` never pads).

use ipvs_sys::{
    AddressFamily, DaemonAttribute, DaemonState, DestAttribute, FlagsMask, ForwardMethod, InetAddr,
    IpvsAttribute, IpvsMessage, Nested, Netmask, Protocol, ServiceAttribute, ServiceFlags,
    Stats64Attribute, StatsAttribute, TunnelFlags, TunnelType,
};
use netlink_packet_core::{
    Emitable, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTIPART, NLMSG_DONE, NLMSG_ERROR,
};
use netlink_packet_generic::constants::{
    CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_HDRSIZE, CTRL_ATTR_MAXATTR,
    CTRL_ATTR_OP_FLAGS, CTRL_ATTR_OP_ID, CTRL_ATTR_OPS, CTRL_ATTR_VERSION, CTRL_CMD_NEWFAMILY,
    GENL_ID_CTRL,
};

use super::table::{AF_INET6, DaemonConfig, Dest, HZ, Service};
use crate::datagram::{MessageHeader, NLMSG_HDRLEN, nlmsg_align};
use crate::stats::Stats;

/// `NLMSGERR_ATTR_MSG`.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`.
const NLMSGERR_ATTR_OFFS: u16 = 2;
/// `IPVS_GENL_VERSION`, which every IPVS reply's genl header carries.
const IPVS_GENL_VERSION: u8 = 1;
/// The controller family's version (`genl_ctrl.version`).
const CTRL_VERSION: u8 = 2;

/// Where a reply goes: the request's sequence number, and the port id of
/// the socket it came from (`NETLINK_CB(skb).portid`, whatever the
/// request's own `nlmsg_pid` said).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct To {
    pub(super) seq: u32,
    pub(super) port: u32,
}

/// One netlink message, padded to 4 bytes (`nlmsg_put()`).
pub(super) fn message(message_type: u16, flags: u16, to: To, payload: &[u8]) -> Vec<u8> {
    let length = NLMSG_HDRLEN + payload.len();
    let mut out = vec![0; NLMSG_HDRLEN];
    MessageHeader {
        length: u32::try_from(length).unwrap_or(u32::MAX),
        message_type,
        flags,
        sequence: to.seq,
        port: to.port,
    }
    .emit(&mut out);
    out.extend_from_slice(payload);
    out.resize(nlmsg_align(length), 0);
    out
}

/// `netlink_ack()`: `NLMSG_ERROR` with `errno` (0 for an ACK) and the
/// request's header (capped), then the extended-ACK text and offset of a
/// policy failure.
pub(super) fn ack(
    request: &MessageHeader,
    port: u32,
    errno: i32,
    ext_ack: Option<(&str, u32)>,
) -> Vec<u8> {
    let mut payload = (-errno).to_ne_bytes().to_vec();
    let mut echoed = [0; NLMSG_HDRLEN];
    request.emit(&mut echoed);
    payload.extend_from_slice(&echoed);
    let mut flags = NLM_F_CAPPED;
    if let Some((text, offset)) = ext_ack.filter(|_| errno != 0) {
        flags |= NLM_F_ACK_TLVS;
        let mut text = text.as_bytes().to_vec();
        text.push(0);
        payload.extend(tlv(NLMSGERR_ATTR_MSG, &text));
        payload.extend(tlv(NLMSGERR_ATTR_OFFS, &offset.to_ne_bytes()));
    }
    let to = To {
        seq: request.sequence,
        port,
    };
    message(NLMSG_ERROR, flags, to, &payload)
}

/// The `NLMSG_DONE` that ends a dump (`netlink_dump_done()`): errno 0,
/// alone in its datagram.
pub(super) fn done(to: To) -> Vec<u8> {
    message(NLMSG_DONE, NLM_F_MULTIPART, to, &0i32.to_ne_bytes())
}

/// An IPVS message (`genlmsg_put()` with the IPVS family): `flags` is
/// `NLM_F_MULTI` in a dump, 0 in a `doit`'s reply.
pub(super) fn ipvs(family: u16, flags: u16, to: To, message: &IpvsMessage) -> Vec<u8> {
    let mut payload = vec![u8::from(message.cmd), IPVS_GENL_VERSION, 0, 0];
    let at = payload.len();
    payload.resize(at + message.buffer_len(), 0);
    message.emit(&mut payload[at..]);
    self::message(family, flags, to, &payload)
}

/// One attribute, padded (`nla_put()`).
fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = u16::try_from(len)
        .unwrap_or(u16::MAX)
        .to_ne_bytes()
        .to_vec();
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(nlmsg_align(len), 0);
    out
}

/// The controller's `CTRL_CMD_NEWFAMILY` reply describing the IPVS family
/// (`ctrl_fill_info()`): name, id, version, header size, highest
/// attribute, and each operation with its flags.
pub(super) fn family(id: u16, ops: &[(u8, u32)], to: To) -> Vec<u8> {
    let mut payload = vec![CTRL_CMD_NEWFAMILY, CTRL_VERSION, 0, 0];
    payload.extend(tlv(CTRL_ATTR_FAMILY_NAME, b"IPVS\0"));
    payload.extend(tlv(CTRL_ATTR_FAMILY_ID, &id.to_ne_bytes()));
    payload.extend(tlv(
        CTRL_ATTR_VERSION,
        &u32::from(IPVS_GENL_VERSION).to_ne_bytes(),
    ));
    payload.extend(tlv(CTRL_ATTR_HDRSIZE, &0u32.to_ne_bytes()));
    // IPVS_CMD_ATTR_MAX
    payload.extend(tlv(CTRL_ATTR_MAXATTR, &6u32.to_ne_bytes()));
    let mut list = Vec::new();
    for (index, (cmd, flags)) in (1u16..).zip(ops) {
        let mut op = tlv(CTRL_ATTR_OP_ID, &u32::from(*cmd).to_ne_bytes());
        op.extend(tlv(CTRL_ATTR_OP_FLAGS, &flags.to_ne_bytes()));
        list.extend(tlv(index, &op));
    }
    payload.extend(tlv(CTRL_ATTR_OPS, &list));
    message(GENL_ID_CTRL, 0, to, &payload)
}

/// `ip_vs_genl_fill_service()`: family, then mark or protocol, address
/// and port, scheduler (`"none"` without one), engine if any, flags with
/// a full mask, timeout in seconds, netmask, then both stats nests.
pub(super) fn service(service: &Service) -> IpvsAttribute {
    IpvsAttribute::Service(Nested::without_flag(service_attributes(service)))
}

/// The contents of [`service`]'s nest.
pub(super) fn service_attributes(service: &Service) -> Vec<ServiceAttribute> {
    let id = &service.id;
    let mut nest = vec![ServiceAttribute::Af(AddressFamily::from(id.af))];
    if id.fwmark != 0 {
        nest.push(ServiceAttribute::Fwmark(id.fwmark));
    } else {
        nest.push(ServiceAttribute::Protocol(Protocol::from(id.protocol)));
        nest.push(ServiceAttribute::Addr(address(&id.addr)));
        nest.push(ServiceAttribute::Port(id.port));
    }
    let scheduler = service.scheduler.as_deref().unwrap_or("none");
    nest.push(ServiceAttribute::SchedName(scheduler.to_owned()));
    if let Some(pe) = &service.pe {
        nest.push(ServiceAttribute::PeName(pe.clone()));
    }
    nest.push(ServiceAttribute::Flags(FlagsMask::new(
        ServiceFlags::from_bits_retain(service.flags),
        ServiceFlags::from_bits_retain(!0),
    )));
    nest.push(ServiceAttribute::Timeout(service.timeout_jiffies / HZ));
    nest.push(ServiceAttribute::Netmask(Netmask::from_raw(
        service.netmask,
    )));
    nest.push(ServiceAttribute::Stats(stats32(&service.stats)));
    nest.push(ServiceAttribute::Stats64(stats64(&service.stats)));
    nest
}

/// `ip_vs_genl_fill_dest()`: address, port, method, weight, the tunnel's
/// type, port and flags (always, tunnel or not), thresholds, connection
/// counts, family, then both stats nests.
pub(super) fn dest(dest: &Dest) -> IpvsAttribute {
    IpvsAttribute::Dest(Nested::without_flag(dest_attributes(dest)))
}

/// The contents of [`dest`]'s nest.
pub(super) fn dest_attributes(dest: &Dest) -> Vec<DestAttribute> {
    vec![
        DestAttribute::Addr(address(&dest.addr)),
        DestAttribute::Port(dest.port),
        DestAttribute::FwdMethod(ForwardMethod::from(dest.fwd)),
        DestAttribute::Weight(u32::from_ne_bytes(dest.weight.to_ne_bytes())),
        DestAttribute::TunType(TunnelType::from(dest.tun_type)),
        DestAttribute::TunPort(dest.tun_port),
        DestAttribute::TunFlags(TunnelFlags::from_bits_retain(dest.tun_flags)),
        DestAttribute::UpperThreshold(dest.u_threshold),
        DestAttribute::LowerThreshold(dest.l_threshold),
        DestAttribute::ActiveConns(dest.active_conns),
        DestAttribute::InactiveConns(dest.inactive_conns),
        DestAttribute::PersistentConns(dest.persistent_conns),
        DestAttribute::AddrFamily(AddressFamily::from(dest.af)),
        DestAttribute::Stats(stats32(&dest.stats)),
        DestAttribute::Stats64(stats64(&dest.stats)),
    ]
}

/// `ip_vs_genl_fill_daemon()`: state, interface, sync id, message size,
/// port, TTL, then the group of its family.
pub(super) fn daemon(state: u32, c: &DaemonConfig) -> IpvsAttribute {
    let mut nest = vec![
        DaemonAttribute::State(DaemonState::from_bits_retain(state)),
        DaemonAttribute::McastIfn(c.mcast_ifn.clone()),
        DaemonAttribute::SyncId(c.syncid),
        DaemonAttribute::SyncMaxlen(c.sync_maxlen),
        DaemonAttribute::McastPort(c.mcast_port),
        DaemonAttribute::McastTtl(c.mcast_ttl),
    ];
    if c.mcast_af == AF_INET6 {
        nest.push(DaemonAttribute::McastGroup6(c.mcast_group.into()));
    } else {
        let [a, b, x, y, ..] = c.mcast_group;
        nest.push(DaemonAttribute::McastGroup([a, b, x, y].into()));
    }
    IpvsAttribute::Daemon(Nested::without_flag(nest))
}

/// The 16-byte `union nf_inet_addr` as `nla_put()` copies it.
fn address(addr: &[u8; 16]) -> InetAddr {
    InetAddr::from_bytes(addr).unwrap_or_else(|| std::net::Ipv6Addr::UNSPECIFIED.into())
}

/// `ip_vs_genl_fill_stats()`: packet and connection counters and rates
/// truncated to 32 bits, byte counters in 64.
fn stats32(s: &Stats) -> Nested<StatsAttribute> {
    let low = |v: u64| v as u32;
    Nested::without_flag(vec![
        StatsAttribute::Conns(low(s.connections)),
        StatsAttribute::InPkts(low(s.packets_in)),
        StatsAttribute::OutPkts(low(s.packets_out)),
        StatsAttribute::InBytes(s.bytes_in),
        StatsAttribute::OutBytes(s.bytes_out),
        StatsAttribute::Cps(low(s.connections_per_second)),
        StatsAttribute::InPps(low(s.packets_in_per_second)),
        StatsAttribute::OutPps(low(s.packets_out_per_second)),
        StatsAttribute::InBps(low(s.bytes_in_per_second)),
        StatsAttribute::OutBps(low(s.bytes_out_per_second)),
    ])
}

/// `ip_vs_genl_fill_stats64()`.
fn stats64(s: &Stats) -> Nested<Stats64Attribute> {
    Nested::without_flag(vec![
        Stats64Attribute::Conns(s.connections),
        Stats64Attribute::InPkts(s.packets_in),
        Stats64Attribute::OutPkts(s.packets_out),
        Stats64Attribute::InBytes(s.bytes_in),
        Stats64Attribute::OutBytes(s.bytes_out),
        Stats64Attribute::Cps(s.connections_per_second),
        Stats64Attribute::InPps(s.packets_in_per_second),
        Stats64Attribute::OutPps(s.packets_out_per_second),
        Stats64Attribute::InBps(s.bytes_in_per_second),
        Stats64Attribute::OutBps(s.bytes_out_per_second),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{ExtAck, Reply, classify, messages};

    const TO: To = To { seq: 7, port: 4242 };

    #[test]
    fn an_error_echoes_the_header_capped_with_the_cores_text() {
        let request = MessageHeader {
            length: 60,
            message_type: 0x20,
            flags: 5,
            sequence: 7,
            port: 99,
        };
        let bytes = ack(
            &request,
            4242,
            34,
            Some(("Attribute failed policy validation", 20)),
        );
        let message = messages(&bytes).next().unwrap().unwrap();
        assert_eq!(
            message.header.port, 4242,
            "the socket's port, not the request's"
        );
        assert_eq!(message.header.flags, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(MessageHeader::parse(&message.payload[4..]), Some(request));
        let Ok(Reply::Error { errno: 34, ext_ack }) = classify(&message) else {
            panic!("{message:?}")
        };
        assert_eq!(
            ext_ack.message.as_deref(),
            Some("Attribute failed policy validation")
        );
        assert_eq!(ext_ack.offset, Some(20));
        let ok = ack(&request, 4242, 0, Some(("ignored", 1)));
        let message = messages(&ok).next().unwrap().unwrap();
        assert_eq!(classify(&message), Ok(Reply::Ack(ExtAck::default())));
    }

    #[test]
    fn done_is_multipart_with_errno_zero() {
        let bytes = done(TO);
        let message = messages(&bytes).next().unwrap().unwrap();
        assert_eq!(message.header.flags, NLM_F_MULTIPART);
        assert!(matches!(
            classify(&message),
            Ok(Reply::Done { errno: 0, .. })
        ));
    }

    #[test]
    fn the_family_reply_parses_as_the_crate_resolves_it() {
        let bytes = family(0x20, &[(1, 0x0b), (8, 0x0d)], TO);
        let message = messages(&bytes).next().unwrap().unwrap();
        let info = crate::family::parse_family_reply(message.payload, "IPVS").unwrap();
        assert_eq!(
            (info.id, info.version, info.max_attr),
            (0x20, Some(1), Some(6))
        );
    }
}
