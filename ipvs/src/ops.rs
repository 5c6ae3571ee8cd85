// SPDX-License-Identifier: MIT OR Apache-2.0
//! The typed operations of [`Ipvs`]: one method per ipvsadm command.

use std::net::SocketAddr;

use ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage, Nested};
use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader, constants::GENL_HDRLEN};

use crate::batch::WriteRequest;
use crate::config::{DaemonRole, Info, SyncDaemon, Timeouts, Version, seconds};
use crate::destination::Destination;
use crate::engine::{RequestKind, Transport};
use crate::error::{Error, Op, Result};
use crate::handle::Ipvs;
use crate::key::ServiceKey;
use crate::service::Service;

/// Encodes `message` as a genl payload (header + attributes).
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

/// Decodes one reply payload (genl header + attributes).
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

/// Attaches the raw reply to a decode error raised by a typed conversion.
pub(crate) fn with_raw<T>(result: Result<T>, raw: &[u8]) -> Result<T> {
    result.map_err(|e| match e {
        Error::Decode { op, reason, raw: r } if r.is_empty() => Error::Decode {
            op,
            reason,
            raw: raw.to_vec(),
        },
        other => other,
    })
}

pub(crate) fn service_nest(key: &ServiceKey) -> IpvsAttribute {
    IpvsAttribute::Service(Nested::new(key.to_attributes()))
}

impl<T: Transport> Ipvs<T> {
    /// Sends `message` and decodes the replies.
    fn exchange(
        &self,
        op: Op,
        kind: RequestKind,
        message: &IpvsMessage,
        names: Option<(&str, Option<&str>)>,
    ) -> Result<Vec<(IpvsMessage, Vec<u8>)>> {
        let payload = encode(message)?;
        self.call(op, kind, &payload, names)?
            .into_iter()
            .map(|raw| decode(op, &raw).map(|m| (m, raw)))
            .collect()
    }

    /// Sends a request that only needs its ACK.
    fn command(&self, op: Op, cmd: IpvsCmd, attributes: Vec<IpvsAttribute>) -> Result<()> {
        self.exchange(
            op,
            RequestKind::Acked,
            &IpvsMessage::new(cmd, attributes),
            None,
        )
        .map(drop)
    }

    /// Escape hatch: sends any IPVS message (as a dump when `dump`, else
    /// acknowledged) and returns the decoded replies. Nothing is validated.
    /// Kernel errors are [`Error::Kernel`] with [`Op::Raw`] (only `EPERM`
    /// becomes [`Error::PermissionDenied`]), since the meaning of an errno
    /// depends on the command. Equivalent to no ipvsadm command: use it for
    /// what the typed API does not cover.
    pub fn request(&self, message: &IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>> {
        let kind = if dump {
            RequestKind::Dump
        } else {
            RequestKind::Acked
        };
        Ok(self
            .exchange(Op::Raw, kind, message, None)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// IPVS version and connection table size. Equivalent to the first
    /// line of `ipvsadm -L` ("IP Virtual Server version 1.2.1 (size=4096)").
    pub fn info(&self) -> Result<Info> {
        let op = Op::GetInfo;
        let replies = self.exchange(
            op,
            RequestKind::Acked,
            &IpvsMessage::new(IpvsCmd::GetInfo, vec![]),
            None,
        )?;
        let (message, raw) = replies.first().ok_or_else(|| Error::UnexpectedReply {
            op,
            detail: "no GET_INFO reply before the ACK".into(),
        })?;
        let mut version = None;
        let mut size = None;
        for a in &message.attributes {
            if let IpvsAttribute::Info(info) = a {
                match info {
                    ipvs_sys::InfoAttribute::Version(v) => version = Some(Version::from_code(*v)),
                    ipvs_sys::InfoAttribute::ConnTabSize(v) => size = Some(*v),
                    _ => {}
                }
            }
        }
        match (version, size) {
            (Some(version), Some(connection_table_size)) => Ok(Info {
                version,
                connection_table_size,
            }),
            _ => Err(Error::Decode {
                op,
                reason: "GET_INFO reply lacks IPVS_INFO_ATTR_VERSION or CONN_TAB_SIZE".into(),
                raw: raw.clone(),
            }),
        }
    }

    /// All services, with their stats, in kernel order. Equivalent to
    /// `ipvsadm -Ln` (services only; see [`Ipvs::destinations`]).
    ///
    /// The service dump is read until two consecutive dumps agree: a dump
    /// that spans several datagrams can silently skip or repeat services
    /// while services of *any* network namespace are added or removed (the
    /// kernel's resume cursor counts them all and it never sets
    /// `NLM_F_DUMP_INTR`; `ipvsadm -Ln` has the same flaw). A list that fits
    /// one datagram costs two round trips; [`Error::DumpInterrupted`] if the
    /// list keeps changing.
    pub fn services(&self) -> Result<Vec<Service>> {
        self.with_engine(crate::snapshot::consistent_services)
    }

    /// One service. Equivalent to `ipvsadm -Ln -t ADDR:PORT` (or `-u`, `-f`).
    /// [`Error::NoSuchService`] if it does not exist.
    pub fn service(&self, key: &ServiceKey) -> Result<Service> {
        let op = Op::GetService;
        key.validate()?;
        let message = IpvsMessage::new(IpvsCmd::GetService, vec![service_nest(key)]);
        let replies = self
            .exchange(op, RequestKind::Acked, &message, None)
            .map_err(|e| e.about(key, None))?;
        let (m, raw) = replies.first().ok_or_else(|| Error::UnexpectedReply {
            op,
            detail: "no service in the reply".into(),
        })?;
        with_raw(service_of(op, m), raw)
    }

    /// Adds a service. Equivalent to `ipvsadm -A -t ADDR:PORT -s SCHED
    /// [-p TIMEOUT [-M MASK]] [--pe NAME] [-o] [-b FLAGS]`.
    /// [`Error::ServiceExists`] if the key is taken.
    pub fn add_service(&self, service: &Service) -> Result<()> {
        self.write(&WriteRequest::add_service(service)?)
    }

    /// Replaces a service's scheduler, persistence, engine and flags.
    /// Equivalent to `ipvsadm -E ...` with the same options as `-A`.
    /// Unset options are reset, not kept; [`Error::NoSuchService`] if absent.
    pub fn update_service(&self, service: &Service) -> Result<()> {
        self.write(&WriteRequest::update_service(service)?)
    }

    /// Sends one write and waits for its ACK.
    fn write(&self, write: &WriteRequest) -> Result<()> {
        self.call(write.op, RequestKind::Acked, &write.payload, write.names())
            .map(drop)
            .map_err(|e| write.explain(e))
    }

    /// Deletes a service and its destinations. Equivalent to
    /// `ipvsadm -D -t ADDR:PORT`. [`Error::NoSuchService`] if absent.
    pub fn delete_service(&self, key: &ServiceKey) -> Result<()> {
        self.write(&WriteRequest::delete_service(key)?)
    }

    /// The destinations of a service, in kernel order (newest first).
    /// Equivalent to the real-server lines of `ipvsadm -Ln -t ADDR:PORT`.
    /// [`Error::NoSuchService`] if the service does not exist (the kernel's
    /// dump alone cannot tell, so an empty dump is checked).
    pub fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let op = Op::ListDestinations;
        key.validate()?;
        let message = IpvsMessage::new(IpvsCmd::GetDest, vec![service_nest(key)]);
        let replies = self.exchange(op, RequestKind::Dump, &message, None)?;
        if replies.is_empty() {
            self.service(key).map_err(|e| match e {
                Error::NoSuchService { service, .. } => Error::NoSuchService { op, service },
                other => other,
            })?;
        }
        replies
            .iter()
            .map(|(m, raw)| with_raw(destination_of(op, key, m), raw))
            .collect()
    }

    /// Adds a destination to a service. Equivalent to
    /// `ipvsadm -a -t ADDR:PORT -r RADDR:RPORT -m|-g|-i -w W [-x U -y L]`.
    /// [`Error::DestinationExists`] or [`Error::NoSuchService`].
    pub fn add_destination(&self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.write(&WriteRequest::add_destination(service, dest)?)
    }

    /// Replaces a destination's forwarding, weight and thresholds.
    /// Equivalent to `ipvsadm -e ...` with the options of `-a`.
    /// [`Error::NoSuchDestination`] or [`Error::NoSuchService`].
    pub fn update_destination(&self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.write(&WriteRequest::update_destination(service, dest)?)
    }

    /// Removes a destination. Equivalent to
    /// `ipvsadm -d -t ADDR:PORT -r RADDR:RPORT`.
    /// [`Error::NoSuchDestination`] or [`Error::NoSuchService`].
    pub fn delete_destination(&self, service: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.write(&WriteRequest::delete_destination(service, dest)?)
    }

    /// Deletes every service. Equivalent to `ipvsadm -C`.
    pub fn flush(&self) -> Result<()> {
        self.command(Op::Flush, IpvsCmd::Flush, vec![])
    }

    /// Zeroes all counters. Equivalent to `ipvsadm -Z`.
    pub fn zero_all(&self) -> Result<()> {
        self.command(Op::Zero, IpvsCmd::Zero, vec![])
    }

    /// Zeroes one service's counters and its destinations'. Equivalent to
    /// `ipvsadm -Z -t ADDR:PORT`. [`Error::NoSuchService`] if absent.
    pub fn zero_service(&self, key: &ServiceKey) -> Result<()> {
        key.validate()?;
        self.command(Op::Zero, IpvsCmd::Zero, vec![service_nest(key)])
            .map_err(|e| e.about(key, None))
    }

    /// Connection timeouts. Equivalent to `ipvsadm -L --timeout`.
    pub fn timeouts(&self) -> Result<Timeouts> {
        let op = Op::GetTimeouts;
        let replies = self.exchange(
            op,
            RequestKind::Acked,
            &IpvsMessage::new(IpvsCmd::GetConfig, vec![]),
            None,
        )?;
        let mut t = Timeouts::default();
        for (m, _) in &replies {
            for a in &m.attributes {
                match a {
                    IpvsAttribute::TimeoutTcp(v) => t.tcp = Some(seconds(*v)),
                    IpvsAttribute::TimeoutTcpFin(v) => t.tcp_fin = Some(seconds(*v)),
                    IpvsAttribute::TimeoutUdp(v) => t.udp = Some(seconds(*v)),
                    _ => {}
                }
            }
        }
        Ok(t)
    }

    /// Sets the timeouts given; `None` fields stay unchanged. Equivalent to
    /// `ipvsadm --set TCP TCPFIN UDP` (where ipvsadm's 0 means unchanged).
    pub fn set_timeouts(&self, timeouts: &Timeouts) -> Result<()> {
        let [tcp, tcp_fin, udp] = timeouts.to_wire()?;
        let mut attributes = Vec::new();
        if let Some(v) = tcp {
            attributes.push(IpvsAttribute::TimeoutTcp(v));
        }
        if let Some(v) = tcp_fin {
            attributes.push(IpvsAttribute::TimeoutTcpFin(v));
        }
        if let Some(v) = udp {
            attributes.push(IpvsAttribute::TimeoutUdp(v));
        }
        if attributes.is_empty() {
            return Ok(());
        }
        self.command(Op::SetTimeouts, IpvsCmd::SetConfig, attributes)
    }

    /// Starts a connection-sync daemon. Equivalent to
    /// `ipvsadm --start-daemon master|backup --mcast-interface IF --syncid ID
    /// [--sync-maxlen N] [--mcast-group G] [--mcast-port P] [--mcast-ttl T]`.
    /// [`Error::DaemonRunning`] if one in this role runs already.
    pub fn start_daemon(&self, daemon: &SyncDaemon) -> Result<()> {
        daemon.validate()?;
        self.command(
            Op::StartDaemon,
            IpvsCmd::NewDaemon,
            vec![IpvsAttribute::Daemon(Nested::new(daemon.to_attributes()))],
        )
    }

    /// Stops the sync daemon in `role`. Equivalent to
    /// `ipvsadm --stop-daemon master|backup`. [`Error::NoDaemon`] if none runs.
    pub fn stop_daemon(&self, role: DaemonRole) -> Result<()> {
        self.command(
            Op::StopDaemon,
            IpvsCmd::DelDaemon,
            vec![IpvsAttribute::Daemon(Nested::new(vec![
                ipvs_sys::DaemonAttribute::State(role.to_wire()),
            ]))],
        )
    }

    /// The running sync daemons (master first). Equivalent to
    /// `ipvsadm -L --daemon`.
    pub fn daemons(&self) -> Result<Vec<SyncDaemon>> {
        let op = Op::ListDaemons;
        let replies = self.exchange(
            op,
            RequestKind::Dump,
            &IpvsMessage::new(IpvsCmd::GetDaemon, vec![]),
            None,
        )?;
        let mut out = Vec::new();
        for (m, raw) in &replies {
            for a in &m.attributes {
                if let IpvsAttribute::Daemon(nest) = a {
                    out.push(with_raw(SyncDaemon::from_attributes(op, nest), raw)?);
                }
            }
        }
        Ok(out)
    }
}

pub(crate) fn service_of(op: Op, message: &IpvsMessage) -> Result<Service> {
    let nest = message
        .attributes
        .iter()
        .find_map(|a| match a {
            IpvsAttribute::Service(nest) => Some(nest),
            _ => None,
        })
        .ok_or_else(|| Error::Decode {
            op,
            reason: "service message without IPVS_CMD_ATTR_SERVICE".into(),
            raw: Vec::new(),
        })?;
    Service::from_attributes(op, nest)
}

/// The destination in a `GET_DEST` dump message of `service`.
pub(crate) fn destination_of(
    op: Op,
    service: &ServiceKey,
    message: &IpvsMessage,
) -> Result<Destination> {
    let nest = message
        .attributes
        .iter()
        .find_map(|a| match a {
            IpvsAttribute::Dest(nest) => Some(nest),
            _ => None,
        })
        .ok_or_else(|| Error::Decode {
            op,
            reason: "dest message without IPVS_CMD_ATTR_DEST".into(),
            raw: Vec::new(),
        })?;
    Destination::from_attributes(op, service, nest)
}
