// SPDX-License-Identifier: MIT OR Apache-2.0
//! Requests as the kernel reads them: attributes walked and checked
//! against the IPVS policies the way `lib/nlattr.c` does for a family that
//! asked for lenient parsing (`GENL_DONT_VALIDATE_STRICT`, so
//! `nla_parse_deprecated()`), then turned into the kernel's request
//! structs by the `ip_vs_genl_parse_*()` functions of `ip_vs_ctl.c`.
//!
//! The lenient rules, which an exact codec like `ipvs-sys` does not follow
//! (it decodes what is well formed, losslessly): attribute type bits
//! `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` are ignored; types above the
//! policy's maximum are ignored; a later attribute of a type replaces an
//! earlier one; a scalar longer than its type is read from its first bytes
//! (shorter is `ERANGE`); a truncated attribute ends the walk and is
//! ignored with whatever follows it. Nothing here panics: every read is
//! bounds-checked, whatever the bytes.

use nix::errno::Errno;

use super::table::{AF_INET, AF_INET6, group_is_multicast};
use super::table::{DaemonConfig, DestUser, ServiceId, ServiceSettings, Timeouts, af_is_valid};

/// `NLA_HDRLEN`.
const NLA_HDRLEN: usize = 4;
/// `NLA_TYPE_MASK`: the type without `NLA_F_NESTED` and
/// `NLA_F_NET_BYTEORDER`.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// What `nla_parse` checks an attribute against (`struct nla_policy`).
#[derive(Clone, Copy, Debug)]
enum Policy {
    /// No entry: anything goes.
    Unspec,
    U8,
    U16,
    U32,
    /// Empty, or at least one attribute header long.
    Nested,
    /// At most this many bytes.
    Binary(usize),
    /// NUL-terminated within `max + 1` bytes, at most `max` characters.
    NulString(usize),
    /// At least this many bytes (a policy with only `.len`).
    MinLen(usize),
}

/// `ip_vs_cmd_policy`: the top-level `IPVS_CMD_ATTR_*`.
const CMD_POLICY: [Policy; 7] = [
    Policy::Unspec,
    Policy::Nested, // SERVICE
    Policy::Nested, // DEST
    Policy::Nested, // DAEMON
    Policy::U32,    // TIMEOUT_TCP
    Policy::U32,    // TIMEOUT_TCP_FIN
    Policy::U32,    // TIMEOUT_UDP
];

/// `ip_vs_svc_policy`: `IPVS_SVC_ATTR_*`.
const SVC_POLICY: [Policy; 13] = [
    Policy::Unspec,
    Policy::U16,           // AF
    Policy::U16,           // PROTOCOL
    Policy::Binary(16),    // ADDR: sizeof(union nf_inet_addr)
    Policy::U16,           // PORT
    Policy::U32,           // FWMARK
    Policy::NulString(15), // SCHED_NAME: IP_VS_SCHEDNAME_MAXLEN - 1
    Policy::Binary(8),     // FLAGS: sizeof(struct ip_vs_flags)
    Policy::U32,           // TIMEOUT
    Policy::U32,           // NETMASK
    Policy::Nested,        // STATS
    Policy::NulString(16), // PE_NAME: IP_VS_PENAME_MAXLEN
    Policy::Unspec,        // STATS64 (output only)
];

/// `ip_vs_dest_policy`: `IPVS_DEST_ATTR_*`.
const DEST_POLICY: [Policy; 16] = [
    Policy::Unspec,
    Policy::Binary(16), // ADDR
    Policy::U16,        // PORT
    Policy::U32,        // FWD_METHOD
    Policy::U32,        // WEIGHT
    Policy::U32,        // U_THRESH
    Policy::U32,        // L_THRESH
    Policy::U32,        // ACTIVE_CONNS
    Policy::U32,        // INACT_CONNS
    Policy::U32,        // PERSIST_CONNS
    Policy::Nested,     // STATS
    Policy::U16,        // ADDR_FAMILY
    Policy::Unspec,     // STATS64 (output only)
    Policy::U8,         // TUN_TYPE
    Policy::U16,        // TUN_PORT
    Policy::U16,        // TUN_FLAGS
];

/// `ip_vs_daemon_policy`: `IPVS_DAEMON_ATTR_*`.
const DAEMON_POLICY: [Policy; 9] = [
    Policy::Unspec,
    Policy::U32,           // STATE
    Policy::NulString(15), // MCAST_IFN: IP_VS_IFNAME_MAXLEN - 1
    Policy::U32,           // SYNC_ID
    Policy::U16,           // SYNC_MAXLEN
    Policy::U32,           // MCAST_GROUP
    Policy::MinLen(16),    // MCAST_GROUP6: sizeof(struct in6_addr)
    Policy::U16,           // MCAST_PORT
    Policy::U8,            // MCAST_TTL
];

/// `ctrl_policy_family`: the controller's `CTRL_ATTR_FAMILY_*`.
const CTRL_POLICY: [Policy; 3] = [
    Policy::Unspec,
    Policy::U16,           // FAMILY_ID
    Policy::NulString(15), // FAMILY_NAME: GENL_NAMSIZ - 1
];

/// Why a request was refused: the errno, and the extended ACK the netlink
/// core sets when its policy check fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) errno: Errno,
    /// `NLMSGERR_ATTR_MSG` and `NLMSGERR_ATTR_OFFS` (bytes from the start
    /// of the netlink message).
    pub(super) ext_ack: Option<(&'static str, u32)>,
}

impl From<Errno> for Refusal {
    fn from(errno: Errno) -> Self {
        Self {
            errno,
            ext_ack: None,
        }
    }
}

/// One attribute as `nla_parse` keeps it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Nla<'a> {
    /// The attribute's payload.
    value: &'a [u8],
    /// Where the payload starts, from the start of the netlink message.
    offset: usize,
}

impl<'a> Nla<'a> {
    fn u8(self) -> u8 {
        self.value.first().copied().unwrap_or(0)
    }

    fn u16(self) -> u16 {
        u16::from_ne_bytes(self.array())
    }

    fn be16(self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    fn u32(self) -> u32 {
        u32::from_ne_bytes(self.array())
    }

    /// `nla_memcpy()` into `N` bytes: a shorter payload is zero-filled.
    fn array<const N: usize>(self) -> [u8; N] {
        let mut out = [0; N];
        let n = self.value.len().min(N);
        out[..n].copy_from_slice(&self.value[..n]);
        out
    }

    /// `nla_data()` read as a C string, cut at its NUL (which the policy
    /// guarantees).
    fn string(self) -> String {
        let text = self.value.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(text).into_owned()
    }
}

/// The attribute table `nla_parse` fills: the last attribute of each type.
#[derive(Debug)]
pub(super) struct Attrs<'a> {
    slots: [Option<Nla<'a>>; 16],
}

impl<'a> Attrs<'a> {
    fn get(&self, kind: u16) -> Option<Nla<'a>> {
        self.slots.get(usize::from(kind)).copied().flatten()
    }

    /// Whether an attribute of `kind` was sent.
    pub(super) fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }
}

/// `__nla_parse()` with `NL_VALIDATE_LIBERAL`: walks `bytes` (which start
/// `offset` bytes into the netlink message) and checks each attribute of a
/// known type against `policy`, stopping at the first that fails.
fn parse<'a>(bytes: &'a [u8], offset: usize, policy: &[Policy]) -> Result<Attrs<'a>, Refusal> {
    let mut attrs = Attrs { slots: [None; 16] };
    let mut at = 0;
    // `nla_ok()`: a whole header, a length covering it, within the rest.
    while let Some(header) = bytes.get(at..at + NLA_HDRLEN) {
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let Some(value) = bytes
            .get(at + NLA_HDRLEN..at + len)
            .filter(|_| len >= NLA_HDRLEN)
        else {
            break;
        };
        if let (Some(rule), true) = (policy.get(usize::from(kind)), kind != 0) {
            if let Err(errno) = validate(*rule, value) {
                return Err(Refusal {
                    errno,
                    ext_ack: Some(("Attribute failed policy validation", (offset + at) as u32)),
                });
            }
            if let Some(slot) = attrs.slots.get_mut(usize::from(kind)) {
                *slot = Some(Nla {
                    value,
                    offset: offset + at + NLA_HDRLEN,
                });
            }
        }
        at += (len + 3) & !3;
    }
    Ok(attrs)
}

/// `validate_nla()` for the policy types IPVS uses (lenient: a scalar may
/// be longer than its type).
fn validate(policy: Policy, value: &[u8]) -> Result<(), Errno> {
    let min = match policy {
        Policy::Unspec => 0,
        Policy::U8 => 1,
        Policy::U16 => 2,
        Policy::U32 => 4,
        Policy::MinLen(n) => n,
        Policy::Nested if value.is_empty() => 0,
        Policy::Nested => NLA_HDRLEN,
        Policy::Binary(max) => {
            return if value.len() > max {
                Err(Errno::ERANGE)
            } else {
                Ok(())
            };
        }
        Policy::NulString(max) => {
            // NLA_NUL_STRING: a NUL within the first `max + 1` bytes ...
            let window = value.len().min(max + 1);
            if window == 0 || !value[..window].contains(&0) {
                return Err(Errno::EINVAL);
            }
            // ... then NLA_STRING: at most `max` bytes before a final NUL.
            let len = value.len() - usize::from(value.last() == Some(&0));
            return if len > max {
                Err(Errno::ERANGE)
            } else {
                Ok(())
            };
        }
    };
    if value.len() < min {
        Err(Errno::ERANGE)
    } else {
        Ok(())
    }
}

/// The generic-netlink header's command and reserved field, and the
/// attributes after it.
pub(super) struct Genl<'a> {
    pub(super) cmd: u8,
    pub(super) reserved: u16,
    /// The attribute bytes (from offset 20 of the netlink message).
    pub(super) attributes: &'a [u8],
}

/// Offset of the attributes in a netlink message: `nlmsghdr` + `genlmsghdr`.
const ATTRIBUTES_OFFSET: usize = 16 + 4;

impl<'a> Genl<'a> {
    /// The genl header of a netlink message's payload; `None` when it is
    /// shorter than the header (`EINVAL` in `genl_family_rcv_msg()`).
    pub(super) fn of(payload: &'a [u8]) -> Option<Self> {
        let header = payload.get(..4)?;
        Some(Self {
            cmd: header[0],
            reserved: u16::from_ne_bytes([header[2], header[3]]),
            attributes: payload.get(4..).unwrap_or_default(),
        })
    }

    /// The top-level IPVS attributes, as the genl core parses them for a
    /// `doit` (and `ip_vs_genl_dump_dests()` for its dump).
    pub(super) fn ipvs_attrs(&self) -> Result<Attrs<'a>, Refusal> {
        parse(self.attributes, ATTRIBUTES_OFFSET, &CMD_POLICY)
    }

    /// The controller's attributes.
    pub(super) fn ctrl_attrs(&self) -> Result<Attrs<'a>, Refusal> {
        parse(self.attributes, ATTRIBUTES_OFFSET, &CTRL_POLICY)
    }
}

/// `IPVS_CMD_ATTR_*` numbers.
pub(super) mod cmd_attr {
    pub(in super::super) const SERVICE: u16 = 1;
    pub(in super::super) const DEST: u16 = 2;
    pub(in super::super) const DAEMON: u16 = 3;
    pub(in super::super) const TIMEOUT_TCP: u16 = 4;
    pub(in super::super) const TIMEOUT_TCP_FIN: u16 = 5;
    pub(in super::super) const TIMEOUT_UDP: u16 = 6;
}

/// The nested attributes of `nla`, parsed against `policy`; any failure is
/// `EINVAL`, as the callers of `nla_parse_nested_deprecated()` in
/// `ip_vs_ctl.c` return it (with the core's extended ACK only where the
/// caller passes `extack`: the daemon nest).
fn nested<'a>(
    nla: Option<Nla<'a>>,
    policy: &[Policy],
    ext_ack: bool,
) -> Result<Attrs<'a>, Refusal> {
    let nla = nla.ok_or(Errno::EINVAL)?;
    parse(nla.value, nla.offset, policy).map_err(|refusal| Refusal {
        errno: Errno::EINVAL,
        ext_ack: refusal.ext_ack.filter(|_| ext_ack),
    })
}

/// `ip_vs_genl_parse_service()`: the service a request names and, for a
/// full entry (`NEW_SERVICE`, `SET_SERVICE`), its settings.
pub(super) fn service(
    attrs: &Attrs<'_>,
    full: bool,
) -> Result<(ServiceId, Option<ServiceSettings>), Errno> {
    let svc = nested(attrs.get(cmd_attr::SERVICE), &SVC_POLICY, false).map_err(|r| r.errno)?;
    let (af, protocol, addr, port, fwmark) =
        (svc.get(1), svc.get(2), svc.get(3), svc.get(4), svc.get(5));
    let identified = fwmark.is_some() || (port.is_some() && protocol.is_some() && addr.is_some());
    let (Some(af), true) = (af, identified) else {
        return Err(Errno::EINVAL);
    };
    let af = af.u16();
    if !af_is_valid(af) {
        return Err(Errno::EAFNOSUPPORT);
    }
    let id = match (fwmark, protocol, addr, port) {
        (Some(mark), ..) => ServiceId::fwmark(af, mark.u32()),
        (None, Some(protocol), Some(addr), Some(port)) => ServiceId {
            af,
            protocol: protocol.u16(),
            addr: addr.array(),
            port: port.be16(),
            fwmark: 0,
        },
        _ => return Err(Errno::EINVAL),
    };
    if !full {
        return Ok((id, None));
    }
    let (Some(sched), Some(flags), Some(timeout), Some(netmask)) =
        (svc.get(6), svc.get(7), svc.get(8), svc.get(9))
    else {
        return Err(Errno::EINVAL);
    };
    let flags: [u8; 8] = flags.array();
    let settings = ServiceSettings {
        sched_name: sched.string(),
        pe_name: svc.get(11).map(Nla::string),
        flags: u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]),
        mask: u32::from_ne_bytes([flags[4], flags[5], flags[6], flags[7]]),
        timeout: timeout.u32(),
        netmask: netmask.u32(),
    };
    Ok((id, Some(settings)))
}

/// `ip_vs_genl_parse_dest()`: the destination a request names and, for a
/// full entry (`NEW_DEST`, `SET_DEST`), its settings. The family stays 0
/// when not sent.
pub(super) fn dest(attrs: &Attrs<'_>, full: bool) -> Result<DestUser, Errno> {
    let d = nested(attrs.get(cmd_attr::DEST), &DEST_POLICY, false).map_err(|r| r.errno)?;
    let (Some(addr), Some(port)) = (d.get(1), d.get(2)) else {
        return Err(Errno::EINVAL);
    };
    let mut udest = DestUser {
        af: d.get(11).map_or(0, Nla::u16),
        addr: addr.array(),
        port: port.be16(),
        ..DestUser::default()
    };
    if full {
        let (Some(fwd), Some(weight), Some(upper), Some(lower)) =
            (d.get(3), d.get(4), d.get(5), d.get(6))
        else {
            return Err(Errno::EINVAL);
        };
        udest.conn_flags = fwd.u32() & 0x7;
        udest.weight = as_int(weight.u32());
        udest.u_threshold = upper.u32();
        udest.l_threshold = lower.u32();
        udest.tun_type = d.get(13).map_or(0, Nla::u8);
        udest.tun_port = d.get(14).map_or(0, Nla::be16);
        udest.tun_flags = d.get(15).map_or(0, Nla::u16);
    }
    Ok(udest)
}

/// `udest->weight = nla_get_u32(...)` into an `int`.
fn as_int(raw: u32) -> i32 {
    i32::from_ne_bytes(raw.to_ne_bytes())
}

/// The daemon nest of `ip_vs_genl_set_daemon()`.
pub(super) fn daemon<'a>(attrs: &Attrs<'a>) -> Result<Attrs<'a>, Refusal> {
    nested(attrs.get(cmd_attr::DAEMON), &DAEMON_POLICY, true)
}

/// `IPVS_DAEMON_ATTR_STATE`, which `IPVS_CMD_DEL_DAEMON` needs (`EINVAL`).
pub(super) fn daemon_state(daemon: &Attrs<'_>) -> Result<u32, Errno> {
    daemon.get(1).map(Nla::u32).ok_or(Errno::EINVAL)
}

/// `ip_vs_genl_new_daemon()` up to its call of `start_sync_thread()`: the
/// configuration and the state, or `EINVAL` for a missing state, interface
/// or sync id, or a group that is not multicast.
pub(super) fn new_daemon(daemon: &Attrs<'_>) -> Result<(DaemonConfig, u32), Errno> {
    let (Some(state), Some(ifn), Some(syncid)) = (daemon.get(1), daemon.get(2), daemon.get(3))
    else {
        return Err(Errno::EINVAL);
    };
    let mut c = DaemonConfig {
        // strscpy into `char mcast_ifn[IP_VS_IFNAME_MAXLEN]`.
        mcast_ifn: ifn.string().chars().take(15).collect(),
        syncid: syncid.u32(),
        sync_maxlen: daemon.get(4).map_or(0, Nla::u16),
        ..DaemonConfig::default()
    };
    if let Some(group) = daemon.get(5) {
        c.mcast_af = AF_INET;
        c.mcast_group[..4].copy_from_slice(&group.array::<4>());
    } else if let Some(group) = daemon.get(6) {
        c.mcast_af = AF_INET6;
        c.mcast_group = group.array();
    }
    if c.mcast_af != 0 && !group_is_multicast(c.mcast_af, &c.mcast_group) {
        return Err(Errno::EINVAL);
    }
    c.mcast_port = daemon.get(7).map_or(0, Nla::u16);
    c.mcast_ttl = daemon.get(8).map_or(0, Nla::u8);
    Ok((c, state.u32()))
}

/// `ip_vs_genl_set_config()`: the timeouts sent, 0 for those not sent.
pub(super) fn timeouts(attrs: &Attrs<'_>) -> Timeouts {
    let get = |kind| attrs.get(kind).map_or(0, Nla::u32);
    Timeouts {
        tcp: get(cmd_attr::TIMEOUT_TCP),
        tcp_fin: get(cmd_attr::TIMEOUT_TCP_FIN),
        udp: get(cmd_attr::TIMEOUT_UDP),
    }
}

/// What a `CTRL_CMD_GETFAMILY` asks for: a family id, a name, or both (the
/// name wins).
pub(super) enum FamilyQuery {
    Id(u16),
    Name(String),
}

/// `ctrl_getfamily()`'s reading of its request: `EINVAL` without a name or
/// an id.
pub(super) fn family_query(attrs: &Attrs<'_>) -> Result<FamilyQuery, Errno> {
    match (attrs.get(2), attrs.get(1)) {
        (Some(name), _) => Ok(FamilyQuery::Name(name.string())),
        (None, Some(id)) => Ok(FamilyQuery::Id(id.u16())),
        (None, None) => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn service_attr(inner: &[Vec<u8>]) -> Vec<u8> {
        nla(cmd_attr::SERVICE | 0x8000, &inner.concat())
    }

    fn tcp_key() -> Vec<Vec<u8>> {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[192, 0, 2, 1]);
        vec![
            nla(1, &AF_INET.to_ne_bytes()),
            nla(2, &6u16.to_ne_bytes()),
            nla(3, &addr),
            nla(4, &80u16.to_be_bytes()),
        ]
    }

    #[test]
    fn a_service_is_read_leniently_the_last_attribute_winning() {
        let mut inner = tcp_key();
        inner.push(nla(4, &81u16.to_be_bytes()));
        // A u16 sent as 4 bytes is read from its first two.
        inner.push(nla(2, &17u32.to_ne_bytes()));
        let bytes = service_attr(&inner);
        let genl = Genl {
            cmd: 3,
            reserved: 0,
            attributes: &bytes,
        };
        let (id, settings) = service(&genl.ipvs_attrs().unwrap(), false).unwrap();
        assert_eq!((id.port, id.protocol, settings), (81, 17, None));
    }

    #[test]
    fn missing_or_bad_service_fields_are_the_kernels_errnos() {
        let read = |inner: &[Vec<u8>], full| {
            let bytes = service_attr(inner);
            let genl = Genl {
                cmd: 1,
                reserved: 0,
                attributes: &bytes,
            };
            service(&genl.ipvs_attrs().unwrap(), full).map(|_| ())
        };
        assert_eq!(read(&tcp_key()[..3], false), Err(Errno::EINVAL), "no port");
        let mut bad_af = tcp_key();
        bad_af[0] = nla(1, &7u16.to_ne_bytes());
        assert_eq!(read(&bad_af, false), Err(Errno::EAFNOSUPPORT));
        assert_eq!(read(&tcp_key(), true), Err(Errno::EINVAL), "no scheduler");
        let mut long_name = tcp_key();
        long_name.push(nla(6, b"sixteen_bytes_xx\0"));
        assert_eq!(read(&long_name, false), Err(Errno::EINVAL), "nested policy");
    }

    #[test]
    fn top_level_policy_failures_carry_the_cores_extended_ack() {
        let bytes = nla(cmd_attr::TIMEOUT_TCP, &[1, 2]);
        let genl = Genl {
            cmd: 12,
            reserved: 0,
            attributes: &bytes,
        };
        let refusal = genl.ipvs_attrs().unwrap_err();
        assert_eq!(refusal.errno, Errno::ERANGE);
        assert_eq!(
            refusal.ext_ack,
            Some(("Attribute failed policy validation", 20))
        );
    }

    #[test]
    fn strings_need_their_nul_and_respect_their_length() {
        assert_eq!(validate(Policy::NulString(15), b"rr\0"), Ok(()));
        assert_eq!(validate(Policy::NulString(15), b"rr"), Err(Errno::EINVAL));
        assert_eq!(validate(Policy::NulString(15), b""), Err(Errno::EINVAL));
        assert_eq!(
            validate(Policy::NulString(3), b"abcd\0"),
            Err(Errno::EINVAL)
        );
        assert_eq!(validate(Policy::NulString(4), b"abcd\0"), Ok(()));
        assert_eq!(validate(Policy::Binary(8), &[0; 9]), Err(Errno::ERANGE));
        assert_eq!(validate(Policy::Nested, &[0; 3]), Err(Errno::ERANGE));
    }

    #[test]
    fn any_bytes_parse_without_panicking() {
        let mut state = 0x2545_f491_u32;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state % 7) as u8 * 4
                })
                .collect();
            let genl = Genl {
                cmd: 1,
                reserved: 0,
                attributes: &bytes,
            };
            if let Ok(attrs) = genl.ipvs_attrs() {
                let _ = service(&attrs, true);
                let _ = dest(&attrs, true);
                if let Ok(d) = daemon(&attrs) {
                    let _ = new_daemon(&d);
                }
                let _ = timeouts(&attrs);
            }
        }
    }
}
