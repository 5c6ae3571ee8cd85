// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Request`]: every IPVS command, validated and encoded once, with what
//! its kernel errors are about; and the decoding of replies into the typed
//! values. Single calls, batches and snapshots all build their requests
//! here.

use std::net::SocketAddr;

use ipvs_sys::{
    DaemonAttribute, DestAttributeRef, IpvsAttribute, IpvsCmd, IpvsMessage, Nested,
    ServiceAttributeRef,
};
use netlink_packet_core::{DecodeError, Emitable, NlaBuffer, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader, constants::GENL_HDRLEN};

use crate::config::{DaemonRole, SyncDaemon, Timeouts};
use crate::destination::Destination;
use crate::error::{Error, Op, Result, Subject};
use crate::key::{KeyParts, ServiceKey};
use crate::proto::Kind;
use crate::service::Service;
use crate::session::{Outbound, ReplySink};

/// One validated, encoded IPVS command and what its errors are about.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) kind: Kind,
    /// Generic-netlink header and attributes.
    payload: Payload,
    subject: Subject,
}

/// A request's generic-netlink header and attributes: in place when they
/// are as short as a request that only names a service (a snapshot sends
/// one `GET_DEST` per service, and allocates nothing for it).
#[derive(Clone, Debug)]
enum Payload {
    /// The first `len` bytes of `bytes`.
    Short {
        bytes: [u8; SHORT_PAYLOAD],
        len: usize,
    },
    Long(Vec<u8>),
}

/// The longest payload kept in place: the generic-netlink header, the
/// service nest's header, and the longest identity (AF, PROTOCOL, a 16-byte
/// ADDR and PORT), 52 bytes, rounded up.
const SHORT_PAYLOAD: usize = 64;

impl Payload {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Short { bytes, len } => bytes.get(..*len).unwrap_or_default(),
            Payload::Long(bytes) => bytes,
        }
    }
}

impl Request {
    fn new(op: Op, kind: Kind, cmd: IpvsCmd, attributes: Vec<IpvsAttribute>) -> Result<Self> {
        Ok(Self {
            op,
            kind,
            payload: Payload::Long(encode(&IpvsMessage::new(cmd, attributes))?),
            subject: Subject::default(),
        })
    }

    /// A command about `service`: its identifying nest first, then `rest`.
    fn about(
        op: Op,
        kind: Kind,
        cmd: IpvsCmd,
        service: &ServiceKey,
        rest: Vec<IpvsAttribute>,
    ) -> Result<Self> {
        service.validate()?;
        let mut attributes = vec![service_nest(service)];
        attributes.extend(rest);
        let mut request = Self::new(op, kind, cmd, attributes)?;
        request.subject.service = Some(*service);
        Ok(request)
    }

    /// A command that names `service` and nothing else (`GET_DEST`,
    /// `GET_SERVICE`, `DEL_SERVICE`, `ZERO`).
    fn naming(op: Op, kind: Kind, cmd: IpvsCmd, service: &ServiceKey) -> Result<Self> {
        service.validate()?;
        Ok(Self {
            op,
            kind,
            payload: identity_payload(cmd, service),
            subject: Subject {
                service: Some(*service),
                ..Subject::default()
            },
        })
    }

    /// `ipvsadm -A`: `IPVS_CMD_NEW_SERVICE` with the full service nest.
    pub(crate) fn add_service(service: &Service) -> Result<Self> {
        Self::service(Op::AddService, IpvsCmd::NewService, service)
    }

    /// `ipvsadm -E`: `IPVS_CMD_SET_SERVICE` with the full service nest.
    pub(crate) fn update_service(service: &Service) -> Result<Self> {
        Self::service(Op::UpdateService, IpvsCmd::SetService, service)
    }

    fn service(op: Op, cmd: IpvsCmd, service: &Service) -> Result<Self> {
        service.validate()?;
        let nest = IpvsAttribute::Service(Nested::new(service.to_attributes()));
        let mut request = Self::new(op, Kind::Acked, cmd, vec![nest])?;
        request.subject = Subject {
            service: Some(service.key),
            destination: None,
            interface: None,
            names: Some((
                service.scheduler.name().to_owned(),
                service.persistence_engine.clone(),
            )),
        };
        Ok(request)
    }

    /// `ipvsadm -D`: `IPVS_CMD_DEL_SERVICE`.
    pub(crate) fn delete_service(key: &ServiceKey) -> Result<Self> {
        Self::naming(Op::DeleteService, Kind::Acked, IpvsCmd::DelService, key)
    }

    /// `ipvsadm -L -t ...`: `IPVS_CMD_GET_SERVICE` for one service.
    pub(crate) fn get_service(key: &ServiceKey) -> Result<Self> {
        Self::naming(Op::GetService, Kind::Acked, IpvsCmd::GetService, key)
    }

    /// `ipvsadm -L`: the `IPVS_CMD_GET_SERVICE` dump.
    pub(crate) fn list_services() -> Result<Self> {
        Self::new(Op::ListServices, Kind::Dump, IpvsCmd::GetService, vec![])
    }

    /// `ipvsadm -a`: `IPVS_CMD_NEW_DEST`.
    pub(crate) fn add_destination(service: &ServiceKey, dest: &Destination) -> Result<Self> {
        Self::destination(Op::AddDestination, IpvsCmd::NewDest, service, dest)
    }

    /// `ipvsadm -e`: `IPVS_CMD_SET_DEST`.
    pub(crate) fn update_destination(service: &ServiceKey, dest: &Destination) -> Result<Self> {
        Self::destination(Op::UpdateDestination, IpvsCmd::SetDest, service, dest)
    }

    fn destination(op: Op, cmd: IpvsCmd, service: &ServiceKey, dest: &Destination) -> Result<Self> {
        service.validate()?;
        dest.validate_for(service)?;
        let nest = IpvsAttribute::Dest(Nested::new(dest.to_attributes()));
        let mut request = Self::about(op, Kind::Acked, cmd, service, vec![nest])?;
        request.subject.destination = Some(dest.addr);
        Ok(request)
    }

    /// `ipvsadm -d`: `IPVS_CMD_DEL_DEST` with the identifying attributes.
    pub(crate) fn delete_destination(service: &ServiceKey, dest: SocketAddr) -> Result<Self> {
        let nest = IpvsAttribute::Dest(Nested::new(Destination::id_attributes(dest)));
        let mut request = Self::about(
            Op::DeleteDestination,
            Kind::Acked,
            IpvsCmd::DelDest,
            service,
            vec![nest],
        )?;
        request.subject.destination = Some(dest);
        Ok(request)
    }

    /// `ipvsadm -L -t ...` destinations: the `IPVS_CMD_GET_DEST` dump.
    pub(crate) fn list_destinations(service: &ServiceKey) -> Result<Self> {
        Self::naming(Op::ListDestinations, Kind::Dump, IpvsCmd::GetDest, service)
    }

    /// `ipvsadm -C`: `IPVS_CMD_FLUSH`.
    pub(crate) fn flush() -> Result<Self> {
        Self::new(Op::Flush, Kind::Acked, IpvsCmd::Flush, vec![])
    }

    /// `ipvsadm -Z [-t ...]`: `IPVS_CMD_ZERO`, for one service or all.
    pub(crate) fn zero(service: Option<&ServiceKey>) -> Result<Self> {
        match service {
            Some(key) => Self::naming(Op::Zero, Kind::Acked, IpvsCmd::Zero, key),
            None => Self::new(Op::Zero, Kind::Acked, IpvsCmd::Zero, vec![]),
        }
    }

    /// `ipvsadm --version`: `IPVS_CMD_GET_INFO`.
    pub(crate) fn get_info() -> Result<Self> {
        Self::new(Op::GetInfo, Kind::Acked, IpvsCmd::GetInfo, vec![])
    }

    /// `ipvsadm -L --timeout`: `IPVS_CMD_GET_CONFIG`.
    pub(crate) fn get_timeouts() -> Result<Self> {
        Self::new(Op::GetTimeouts, Kind::Acked, IpvsCmd::GetConfig, vec![])
    }

    /// `ipvsadm --set`: `IPVS_CMD_SET_CONFIG` with the timeouts given;
    /// `None` when there is nothing to set.
    pub(crate) fn set_timeouts(timeouts: &Timeouts) -> Result<Option<Self>> {
        let [tcp, tcp_fin, udp] = timeouts.to_wire()?;
        let attributes: Vec<IpvsAttribute> = [
            tcp.map(IpvsAttribute::TimeoutTcp),
            tcp_fin.map(IpvsAttribute::TimeoutTcpFin),
            udp.map(IpvsAttribute::TimeoutUdp),
        ]
        .into_iter()
        .flatten()
        .collect();
        if attributes.is_empty() {
            return Ok(None);
        }
        Self::new(Op::SetTimeouts, Kind::Acked, IpvsCmd::SetConfig, attributes).map(Some)
    }

    /// `ipvsadm --start-daemon`: `IPVS_CMD_NEW_DAEMON`.
    pub(crate) fn start_daemon(daemon: &SyncDaemon) -> Result<Self> {
        daemon.validate()?;
        let nest = IpvsAttribute::Daemon(Nested::new(daemon.to_attributes()));
        let mut request = Self::new(Op::StartDaemon, Kind::Acked, IpvsCmd::NewDaemon, vec![nest])?;
        request.subject.interface = Some(daemon.interface.clone());
        Ok(request)
    }

    /// `ipvsadm --stop-daemon`: `IPVS_CMD_DEL_DAEMON`.
    pub(crate) fn stop_daemon(role: DaemonRole) -> Result<Self> {
        let nest = IpvsAttribute::Daemon(Nested::new(vec![DaemonAttribute::State(role.to_wire())]));
        Self::new(Op::StopDaemon, Kind::Acked, IpvsCmd::DelDaemon, vec![nest])
    }

    /// `ipvsadm -L --daemon`: the `IPVS_CMD_GET_DAEMON` dump.
    pub(crate) fn list_daemons() -> Result<Self> {
        Self::new(Op::ListDaemons, Kind::Dump, IpvsCmd::GetDaemon, vec![])
    }

    /// Any message, unvalidated (the escape hatch).
    pub(crate) fn raw(message: &IpvsMessage, kind: Kind) -> Result<Self> {
        Ok(Self {
            op: Op::Raw,
            kind,
            payload: Payload::Long(encode(message)?),
            subject: Subject::default(),
        })
    }

    /// The request as the session sends it.
    pub(crate) fn outbound(&self) -> Outbound<'_> {
        Outbound {
            op: self.op,
            kind: self.kind,
            payload: self.payload.as_slice(),
        }
    }

    /// Gives an error of this request its meaning: a raw kernel errno
    /// becomes the typed error for this operation, naming the service,
    /// destination, scheduler and engine involved.
    pub(crate) fn explain(&self, error: Error) -> Error {
        error.explained(&self.subject)
    }
}

/// Encodes `message` as a generic-netlink payload (header + attributes).
pub(crate) fn encode(message: &IpvsMessage) -> Result<Vec<u8>> {
    message
        .check_lengths()
        .map_err(|e| Error::invalid("request", e.to_string()))?;
    let mut payload = vec![0; GENL_HDRLEN + message.buffer_len()];
    payload[0] = message.command();
    payload[1] = message.version();
    message.emit(&mut payload[GENL_HDRLEN..]);
    Ok(payload)
}

/// The payload of a command that names a service and nothing else
/// (`GET_DEST`, `GET_SERVICE`, `DEL_SERVICE`, `ZERO`), written in place: a
/// snapshot sends one `GET_DEST` per service. The same bytes as [`encode`]
/// makes of the message, by the same emitters: the nest is written empty,
/// its attributes after it, and then its length.
fn identity_payload(cmd: IpvsCmd, service: &ServiceKey) -> Payload {
    let mut bytes = [0; SHORT_PAYLOAD];
    bytes[0] = cmd.into();
    bytes[1] = IpvsMessage::new(cmd, Vec::new()).version();
    let nest = IpvsAttribute::Service(Nested::new(Vec::new()));
    let nest_at = GENL_HDRLEN;
    let mut len = nest_at + nest.buffer_len();
    nest.emit(&mut bytes[nest_at..len]);
    // Every identity attribute fits (see SHORT_PAYLOAD).
    service.each_identity(|attribute| {
        let end = len + attribute.buffer_len();
        if let Some(out) = bytes.get_mut(len..end) {
            attribute.emit(out);
            len = end;
        }
    });
    // A few dozen bytes: the length fits.
    let nest_len = u16::try_from(len - nest_at).unwrap_or(u16::MAX);
    NlaBuffer::new(&mut bytes[nest_at..len]).set_length(nest_len);
    Payload::Short { bytes, len }
}

/// Decodes one reply payload (generic-netlink header + attributes).
pub(crate) fn decode(op: Op, raw: &[u8]) -> Result<IpvsMessage> {
    let (Some(&cmd), Some(&version), Some(attributes)) =
        (raw.first(), raw.get(1), raw.get(GENL_HDRLEN..))
    else {
        return Err(Error::Decode {
            op,
            reason: "reply shorter than the generic-netlink header".into(),
            raw: raw.to_vec(),
        });
    };
    IpvsMessage::parse_with_param(attributes, GenlHeader { cmd, version }).map_err(|e| {
        Error::Decode {
            op,
            reason: e.to_string(),
            raw: raw.to_vec(),
        }
    })
}

/// Decodes each data message of a reply into items, straight from the
/// receive buffer: `decode` gets the message's generic-netlink payload.
pub(crate) struct Decoded<T, F> {
    decode: F,
    pub(crate) items: Vec<T>,
}

impl<T, F> Decoded<T, F>
where
    F: FnMut(&[u8], &mut Vec<T>) -> Result<()>,
{
    /// `decode` adds what one message holds to the list.
    pub(crate) fn new(decode: F) -> Self {
        Self {
            decode,
            items: Vec::new(),
        }
    }
}

impl<T: Send, F> ReplySink for Decoded<T, F>
where
    F: FnMut(&[u8], &mut Vec<T>) -> Result<()> + Send,
{
    fn message(&mut self, _index: usize, payload: &[u8]) -> Result<()> {
        (self.decode)(payload, &mut self.items).map_err(|e| with_raw(e, payload))
    }

    fn restart(&mut self) {
        self.items.clear();
    }
}

/// The key of the service a `GET_SERVICE` reply or dump message names,
/// read from its identifying attributes only (its counters and settings
/// are not parsed).
pub(crate) fn service_key_of(op: Op, payload: &[u8]) -> Result<ServiceKey> {
    let nest = nest_of(
        op,
        payload,
        IpvsMessage::service_nest,
        "IPVS_CMD_ATTR_SERVICE",
    )?;
    let decode_error = |reason: String| Error::Decode {
        op,
        reason,
        raw: Vec::new(),
    };
    let mut parts = KeyParts::default();
    for attribute in ServiceAttributeRef::parse_identity(nest) {
        parts.absorb(&attribute.map_err(|e| decode_error(e.to_string()))?);
    }
    parts
        .key()
        .map(|(key, _)| key)
        .map_err(|reason| decode_error(format!("service: {reason}")))
}

/// Attaches the raw reply to a decode error raised by a typed conversion.
fn with_raw(error: Error, raw: &[u8]) -> Error {
    match error {
        Error::Decode { op, reason, raw: r } if r.is_empty() => Error::Decode {
            op,
            reason,
            raw: raw.to_vec(),
        },
        other => other,
    }
}

pub(crate) fn service_nest(key: &ServiceKey) -> IpvsAttribute {
    IpvsAttribute::Service(Nested::new(key.to_attributes()))
}

/// The service of a `GET_SERVICE` reply or dump message (its
/// generic-netlink payload), decoded as its attributes are parsed.
pub(crate) fn service_of(op: Op, payload: &[u8]) -> Result<Service> {
    let nest = nest_of(
        op,
        payload,
        IpvsMessage::service_nest,
        "IPVS_CMD_ATTR_SERVICE",
    )?;
    Service::from_attributes(op, ServiceAttributeRef::parse_each(nest))
}

/// The destination of `service` in a `GET_DEST` dump message.
pub(crate) fn destination_of(op: Op, service: &ServiceKey, payload: &[u8]) -> Result<Destination> {
    let nest = nest_of(op, payload, IpvsMessage::dest_nest, "IPVS_CMD_ATTR_DEST")?;
    Destination::from_attributes(op, service, DestAttributeRef::parse_each(nest))
}

/// A service from attributes held rather than received (the fake kernel's
/// table, tests): emitted as a reply, then decoded as one.
#[cfg(any(test, feature = "fake"))]
pub(crate) fn service_of_attributes(
    op: Op,
    attributes: Vec<ipvs_sys::ServiceAttribute>,
) -> Result<Service> {
    let nest = IpvsAttribute::Service(Nested::without_flag(attributes));
    service_of(
        op,
        &encode(&IpvsMessage::new(IpvsCmd::NewService, vec![nest]))?,
    )
}

/// A destination of `service` from attributes held rather than received
/// (see [`service_of_attributes`]).
#[cfg(any(test, feature = "fake"))]
pub(crate) fn destination_of_attributes(
    op: Op,
    service: &ServiceKey,
    attributes: Vec<ipvs_sys::DestAttribute>,
) -> Result<Destination> {
    let nest = IpvsAttribute::Dest(Nested::without_flag(attributes));
    destination_of(
        op,
        service,
        &encode(&IpvsMessage::new(IpvsCmd::NewDest, vec![nest]))?,
    )
}

/// How the codec finds a nest among a message's attributes
/// (`IpvsMessage::service_nest`, `dest_nest`).
type FindNest = fn(&[u8]) -> std::result::Result<Option<&[u8]>, DecodeError>;

/// The nest `find` finds in a message's attributes, or a decode error
/// naming what is missing.
fn nest_of<'a>(op: Op, payload: &'a [u8], find: FindNest, what: &str) -> Result<&'a [u8]> {
    let decode_error = |reason: String| Error::Decode {
        op,
        reason,
        raw: Vec::new(),
    };
    let attributes = payload
        .get(GENL_HDRLEN..)
        .ok_or_else(|| decode_error("reply shorter than the generic-netlink header".into()))?;
    find(attributes)
        .map_err(|e| decode_error(e.to_string()))?
        .ok_or_else(|| decode_error(format!("message without {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity payload is what the general encoder makes of the same
    /// message, for each kind of key.
    #[test]
    fn identity_payloads_match_the_encoder() {
        let keys = [
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap()),
            ServiceKey::udp("[2001:db8::1]:53".parse().unwrap()),
            ServiceKey::Fwmark {
                mark: 7,
                family: crate::key::Family::Ipv6,
            },
        ];
        for key in keys {
            for cmd in [IpvsCmd::GetDest, IpvsCmd::DelService, IpvsCmd::Zero] {
                let general = encode(&IpvsMessage::new(cmd, vec![service_nest(&key)])).unwrap();
                assert_eq!(
                    identity_payload(cmd, &key).as_slice(),
                    general,
                    "{cmd:?} {key:?}"
                );
            }
        }
    }
}
