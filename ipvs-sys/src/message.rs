// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS generic-netlink message: command plus top-level attributes.

use crate::wire::Context as _;
use netlink_packet_core::{DecodeError, Emitable, NLA_HEADER_SIZE, Nla, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use crate::attribute::{IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE};
use crate::wire::ParseRaw;
use crate::{
    InfoAttribute, IpvsAttribute, ServiceAttribute, ServiceAttributeRef, nested::parse_attributes,
};

/// `IPVS_GENL_NAME`
const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`
const IPVS_GENL_VERSION: u8 = 1;

/// An IPVS generic-netlink command `IPVS_CMD_*` (the `cmd` of the genl
/// header). Unknown values are kept in [`IpvsCmd::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpvsCmd {
    /// `IPVS_CMD_UNSPEC` (0).
    Unspec,
    /// `IPVS_CMD_NEW_SERVICE` (1): ipvsadm `-A`; also the command of every
    /// service in a GET_SERVICE reply.
    NewService,
    /// `IPVS_CMD_SET_SERVICE` (2): ipvsadm `-E`.
    SetService,
    /// `IPVS_CMD_DEL_SERVICE` (3): ipvsadm `-D`.
    DelService,
    /// `IPVS_CMD_GET_SERVICE` (4): ipvsadm `-L` (dump, or one service).
    GetService,
    /// `IPVS_CMD_NEW_DEST` (5): ipvsadm `-a`; also the command of every
    /// destination in a GET_DEST dump.
    NewDest,
    /// `IPVS_CMD_SET_DEST` (6): ipvsadm `-e`.
    SetDest,
    /// `IPVS_CMD_DEL_DEST` (7): ipvsadm `-d`.
    DelDest,
    /// `IPVS_CMD_GET_DEST` (8): destinations of a service (dump only).
    GetDest,
    /// `IPVS_CMD_NEW_DAEMON` (9): ipvsadm `--start-daemon`; also the
    /// command of GET_DAEMON dump entries.
    NewDaemon,
    /// `IPVS_CMD_DEL_DAEMON` (10): ipvsadm `--stop-daemon`.
    DelDaemon,
    /// `IPVS_CMD_GET_DAEMON` (11): ipvsadm `-L --daemon` (dump only).
    GetDaemon,
    /// `IPVS_CMD_SET_CONFIG` (12, ipvsadm's header: `IPVS_CMD_SET_TIMEOUT`):
    /// ipvsadm `--set`; also the command of the GET_CONFIG reply.
    SetConfig,
    /// `IPVS_CMD_GET_CONFIG` (13, `IPVS_CMD_GET_TIMEOUT`): ipvsadm
    /// `-L --timeout`.
    GetConfig,
    /// `IPVS_CMD_SET_INFO` (14): only the command of the GET_INFO reply,
    /// whose attributes are [`InfoAttribute`]s.
    SetInfo,
    /// `IPVS_CMD_GET_INFO` (15): ipvsadm `--version`.
    GetInfo,
    /// `IPVS_CMD_ZERO` (16): ipvsadm `-Z`.
    Zero,
    /// `IPVS_CMD_FLUSH` (17): ipvsadm `-C`.
    Flush,
    /// A command this crate has no name for, kept as received.
    Other(u8),
}

impl From<u8> for IpvsCmd {
    fn from(value: u8) -> Self {
        match value {
            0 => Self::Unspec,
            1 => Self::NewService,
            2 => Self::SetService,
            3 => Self::DelService,
            4 => Self::GetService,
            5 => Self::NewDest,
            6 => Self::SetDest,
            7 => Self::DelDest,
            8 => Self::GetDest,
            9 => Self::NewDaemon,
            10 => Self::DelDaemon,
            11 => Self::GetDaemon,
            12 => Self::SetConfig,
            13 => Self::GetConfig,
            14 => Self::SetInfo,
            15 => Self::GetInfo,
            16 => Self::Zero,
            17 => Self::Flush,
            other => Self::Other(other),
        }
    }
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> Self {
        match cmd {
            IpvsCmd::Unspec => 0,
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            IpvsCmd::NewDaemon => 9,
            IpvsCmd::DelDaemon => 10,
            IpvsCmd::GetDaemon => 11,
            IpvsCmd::SetConfig => 12,
            IpvsCmd::GetConfig => 13,
            IpvsCmd::SetInfo => 14,
            IpvsCmd::GetInfo => 15,
            IpvsCmd::Zero => 16,
            IpvsCmd::Flush => 17,
            IpvsCmd::Other(other) => other,
        }
    }
}

/// One IPVS generic-netlink message (family `IPVS_GENL_NAME` = "IPVS",
/// version `IPVS_GENL_VERSION` = 1): the command and the top-level
/// attributes, in wire order. Wrap it in
/// [`GenlMessage`](netlink_packet_generic::GenlMessage) and
/// [`NetlinkMessage`](netlink_packet_core::NetlinkMessage) to send it.
///
/// # Emit contract
///
/// A netlink attribute's length is a u16, so every top-level attribute
/// must emit to at most 65535 bytes (header included); nested attributes
/// are then within bounds too. [`IpvsMessage::check_lengths`] reports a
/// violation; [`Emitable::emit`] **panics** on one instead of writing a
/// wrapped length, and, like every `Emitable`, panics if the buffer is
/// shorter than [`Emitable::buffer_len`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpvsMessage {
    /// The genl command.
    pub cmd: IpvsCmd,
    /// The top-level attributes, in wire order.
    pub attributes: Vec<IpvsAttribute>,
}

/// An attribute too long for the u16 netlink length field (see the emit
/// contract of [`IpvsMessage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttributeTooLong {
    /// Type of the offending top-level attribute (flags included).
    pub kind: u16,
    /// Its length with header, without padding.
    pub len: usize,
}

impl std::fmt::Display for AttributeTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IPVS attribute type {:#06x} is {} bytes long, more than a \
             netlink attribute can hold ({})",
            self.kind,
            self.len,
            u16::MAX
        )
    }
}

impl std::error::Error for AttributeTooLong {}

impl IpvsMessage {
    /// A message with command `cmd` and `attributes`.
    pub fn new(cmd: IpvsCmd, attributes: Vec<IpvsAttribute>) -> Self {
        Self { cmd, attributes }
    }

    /// Checks the emit contract: every top-level attribute (and therefore
    /// every nested one) fits the u16 netlink length field.
    pub fn check_lengths(&self) -> Result<(), AttributeTooLong> {
        for attr in &self.attributes {
            let len = attr.value_len() + NLA_HEADER_SIZE;
            if len > usize::from(u16::MAX) {
                return Err(AttributeTooLong {
                    kind: attr.kind(),
                    len,
                });
            }
        }
        Ok(())
    }

    /// The value of the `IPVS_CMD_ATTR_SERVICE` nest among the attributes of
    /// a message (`payload`: what follows the generic-netlink header), not
    /// parsed: for a caller that reads a dump into values of its own with
    /// [`ServiceAttributeRef::parse_each`] (borrowed, allocation-free) or
    /// [`ServiceAttribute::parse_each`], instead of lists of attributes.
    /// `None` when the message has no such nest.
    #[inline]
    pub fn service_nest(payload: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
        nest_value(payload, IPVS_CMD_ATTR_SERVICE)
    }

    /// The value of the `IPVS_CMD_ATTR_DEST` nest, as
    /// [`IpvsMessage::service_nest`] finds the service's (parse it with
    /// [`DestAttributeRef::parse_each`](crate::DestAttributeRef::parse_each)
    /// or [`DestAttribute::parse_each`](crate::DestAttribute::parse_each)).
    #[inline]
    pub fn dest_nest(payload: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
        nest_value(payload, IPVS_CMD_ATTR_DEST)
    }

    /// Parses only what identifies the service in the attributes of a
    /// `GET_SERVICE` reply or dump message (`payload`: what follows the
    /// generic-netlink header): the `IPVS_CMD_ATTR_SERVICE` nest's
    /// address family, protocol, address, port and firewall mark, the
    /// attributes the kernel reads to look a service up. Everything else,
    /// counters included, is skipped unparsed: the cheap way to list the
    /// keys of a dump. Empty when the message carries no service nest.
    ///
    /// A malformed attribute that this reads is an error; one it skips is
    /// not looked at (the full parse, `parse_with_param`, reports those).
    pub fn parse_service_identity(payload: &[u8]) -> Result<Vec<ServiceAttribute>, DecodeError> {
        let mut identity = Vec::new();
        for attribute in crate::wire::attributes(payload) {
            let attribute = attribute?;
            if attribute.kind() != IPVS_CMD_ATTR_SERVICE || !attribute.is_nest() {
                continue;
            }
            for inner in ServiceAttributeRef::parse_identity(attribute.value) {
                identity.push(inner?.to_attribute()?);
            }
        }
        Ok(identity)
    }
}

/// The value of the first nest of type `kind` among the top-level
/// attributes of `payload` (a nest: `NLA_F_NET_BYTEORDER` clear).
#[inline]
fn nest_value(payload: &[u8], kind: u16) -> Result<Option<&[u8]>, DecodeError> {
    for attribute in crate::wire::attributes(payload) {
        let attribute = attribute?;
        if attribute.kind() == kind && attribute.is_nest() {
            return Ok(Some(attribute.value));
        }
    }
    Ok(None)
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        crate::wire::attributes_len(&self.attributes)
    }

    /// # Panics
    ///
    /// If an attribute breaks the length contract
    /// ([`IpvsMessage::check_lengths`]) or `buffer` is too short.
    fn emit(&self, buffer: &mut [u8]) {
        if let Err(e) = self.check_lengths() {
            panic!("{e}");
        }
        crate::wire::emit_attributes(&self.attributes, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    /// Parses the attributes after the genl header. With command
    /// `IPVS_CMD_SET_INFO` (the GET_INFO reply) every top-level attribute
    /// is parsed as an [`InfoAttribute`]; otherwise as `IPVS_CMD_ATTR_*`.
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        let attributes = if cmd == IpvsCmd::SetInfo {
            parse_attributes(buf, |nla| {
                InfoAttribute::parse_raw(nla).map(IpvsAttribute::Info)
            })
        } else {
            parse_attributes(buf, IpvsAttribute::parse_raw)
        }
        .with_context(|| format!("invalid IPVS message (cmd {cmd:?})"))?;
        Ok(Self { cmd, attributes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_number_round_trips() {
        for n in 0..=u8::MAX {
            let cmd = IpvsCmd::from(n);
            assert_eq!(u8::from(cmd), n);
            assert_eq!(matches!(cmd, IpvsCmd::Other(_)), n > 17, "{n}");
        }
        assert_eq!(IpvsCmd::from(14), IpvsCmd::SetInfo);
        assert_eq!(IpvsCmd::from(17), IpvsCmd::Flush);
    }

    #[test]
    fn the_identity_of_a_service_message_is_its_key_attributes_only() {
        use crate::{AddressFamily, Nested, Protocol, StatsAttribute};
        let nest = vec![
            ServiceAttribute::Af(AddressFamily::Inet),
            ServiceAttribute::Protocol(Protocol::Tcp),
            ServiceAttribute::Addr(std::net::Ipv4Addr::new(203, 0, 113, 1).into()),
            ServiceAttribute::Port(80),
            ServiceAttribute::SchedName("wrr".into()),
            ServiceAttribute::Stats(Nested::without_flag(vec![StatsAttribute::Conns(5)])),
        ];
        let message = IpvsMessage::new(
            IpvsCmd::NewService,
            vec![
                IpvsAttribute::TimeoutTcp(7),
                IpvsAttribute::Service(Nested::without_flag(nest.clone())),
            ],
        );
        let mut payload = vec![0; message.buffer_len()];
        message.emit(&mut payload);
        assert_eq!(
            IpvsMessage::parse_service_identity(&payload).unwrap(),
            nest[..4].to_vec()
        );
        assert!(IpvsMessage::parse_service_identity(&[]).unwrap().is_empty());
        assert!(IpvsMessage::parse_service_identity(&payload[..payload.len() - 3]).is_err());
    }

    #[test]
    fn family_is_ipvs_version_1() {
        let msg = IpvsMessage::new(IpvsCmd::Flush, vec![]);
        assert_eq!(IpvsMessage::family_name(), "IPVS");
        assert_eq!(msg.version(), 1);
        assert_eq!(msg.command(), 17);
        assert_eq!(msg.buffer_len(), 0);
    }
}
