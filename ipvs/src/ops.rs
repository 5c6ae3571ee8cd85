// SPDX-License-Identifier: MIT OR Apache-2.0
//! The single operations: one typed request each, sent through the
//! session, its reply decoded. Both handles call these (`handle.rs`).

use std::net::SocketAddr;

use ipvs_sys::{InfoAttribute, IpvsAttribute, IpvsCmd, IpvsMessage};

use crate::config::{DaemonRole, Info, SyncDaemon, Timeouts, Version, seconds};
use crate::destination::Destination;
use crate::error::{Error, Op, Result};
use crate::key::ServiceKey;
use crate::proto::{Kind, Passes};
use crate::request::{
    Decoded, Request, decode as decode_message, destination_of, service_key_of, service_of,
};
use crate::service::Service;
use crate::session::{NoData, ReplySink, Session};
use crate::transport::Link;

impl<L: Link> Session<L> {
    /// Sends `request`, its data to `sink`; errors get their meaning.
    /// Returns how the kernel wrote the data.
    pub(crate) async fn run(
        &mut self,
        request: &Request,
        sink: &mut dyn ReplySink,
    ) -> Result<Passes> {
        let outbound = request.outbound();
        let result = match request.kind {
            Kind::Dump => self.dump(outbound, sink).await,
            Kind::Acked => self.acked(outbound, sink).await,
        };
        result.map_err(|e| request.explain(e))
    }

    /// Sends a write, which is answered by its ACK alone.
    pub(crate) async fn write(&mut self, request: Result<Request>) -> Result<()> {
        self.run(&request?, &mut NoData).await.map(drop)
    }

    /// Sends `request` and decodes each reply message with `decode`.
    async fn read<T: Send>(
        &mut self,
        request: Result<Request>,
        mut decode: impl FnMut(&IpvsMessage, &mut Vec<T>) -> Result<()> + Send,
    ) -> Result<Vec<T>> {
        let request = request?;
        let op = request.op;
        let mut sink = Decoded::new(|payload: &[u8], out: &mut Vec<T>| {
            decode(&decode_message(op, payload)?, out)
        });
        self.run(&request, &mut sink).await?;
        Ok(sink.items)
    }

    /// Sends `request` and decodes each reply message (its generic-netlink
    /// payload, straight from the receive buffer) into one item.
    async fn read_each<T: Send>(
        &mut self,
        request: Result<Request>,
        decode: impl FnMut(&[u8]) -> Result<T> + Send,
    ) -> Result<Vec<T>> {
        Ok(self.read_each_passes(request, decode).await?.0)
    }

    /// [`Session::read_each`], with how the kernel wrote the replies.
    async fn read_each_passes<T: Send>(
        &mut self,
        request: Result<Request>,
        mut decode: impl FnMut(&[u8]) -> Result<T> + Send,
    ) -> Result<(Vec<T>, Passes)> {
        let request = request?;
        let mut sink = Decoded::new(|payload: &[u8], out: &mut Vec<T>| {
            out.push(decode(payload)?);
            Ok(())
        });
        let passes = self.run(&request, &mut sink).await?;
        Ok((sink.items, passes))
    }

    /// A raw request; a service dump runs on the wide session, as
    /// [`Session::services`] does, so that it is not quadratic in the
    /// kernel.
    pub(crate) async fn request(
        &mut self,
        message: &IpvsMessage,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>> {
        let kind = if dump { Kind::Dump } else { Kind::Acked };
        if !(dump && message.cmd == IpvsCmd::GetService) {
            return self.raw_request(message, kind).await;
        }
        self.on_wide(async |session| session.raw_request(message, kind).await)
            .await
    }

    async fn raw_request(&mut self, message: &IpvsMessage, kind: Kind) -> Result<Vec<IpvsMessage>> {
        self.read(Request::raw(message, kind), |m, out| {
            out.push(m.clone());
            Ok(())
        })
        .await
    }

    pub(crate) async fn info(&mut self) -> Result<Info> {
        let op = Op::GetInfo;
        let infos = self
            .read(Request::get_info(), |m, out| {
                let mut version = None;
                let mut size = None;
                for a in &m.attributes {
                    match a {
                        IpvsAttribute::Info(InfoAttribute::Version(v)) => {
                            version = Some(Version::from_code(*v));
                        }
                        IpvsAttribute::Info(InfoAttribute::ConnTabSize(v)) => size = Some(*v),
                        _ => {}
                    }
                }
                let (Some(version), Some(connection_table_size)) = (version, size) else {
                    return Err(Error::Decode {
                        op,
                        reason: "GET_INFO reply lacks IPVS_INFO_ATTR_VERSION or CONN_TAB_SIZE"
                            .into(),
                        raw: Vec::new(),
                    });
                };
                out.push(Info {
                    version,
                    connection_table_size,
                });
                Ok(())
            })
            .await?;
        infos
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnexpectedReply {
                op,
                detail: "no GET_INFO reply before the ACK".into(),
            })
    }

    pub(crate) async fn service(&mut self, key: &ServiceKey) -> Result<Service> {
        let op = Op::GetService;
        let services = self
            .read_each(Request::get_service(key), |payload| service_of(op, payload))
            .await?;
        services
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnexpectedReply {
                op,
                detail: "no service in the reply".into(),
            })
    }

    /// One `IPVS_CMD_GET_SERVICE` dump, and how the kernel wrote it (see
    /// `snapshot.rs` for the list the handles return).
    pub(crate) async fn service_dump(&mut self) -> Result<(Vec<Service>, Passes)> {
        let op = Op::ListServices;
        self.read_each_passes(Request::list_services(), |payload| service_of(op, payload))
            .await
    }

    /// One `IPVS_CMD_GET_SERVICE` dump read for its keys alone (see
    /// `snapshot.rs`: the second of the two dumps that must agree).
    pub(crate) async fn service_key_dump(&mut self) -> Result<Vec<ServiceKey>> {
        let op = Op::ListServices;
        self.read_each(Request::list_services(), |payload| {
            service_key_of(op, payload)
        })
        .await
    }

    /// One `IPVS_CMD_GET_DEST` dump, and how the kernel wrote it (see
    /// `snapshot.rs` for the list the handles return, read again when the
    /// kernel wrote it in more than one pass).
    pub(crate) async fn destination_dump(
        &mut self,
        key: &ServiceKey,
    ) -> Result<(Vec<Destination>, Passes)> {
        let op = Op::ListDestinations;
        self.read_each_passes(Request::list_destinations(key), |payload| {
            destination_of(op, key, payload)
        })
        .await
    }

    /// The destinations of a service; [`Error::NoSuchService`] if it does
    /// not exist (the kernel's dump alone cannot tell: an empty dump is
    /// checked).
    pub(crate) async fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let destinations = self.consistent_destinations(key).await?;
        if destinations.is_empty() {
            self.service(key).await.map_err(|e| match e {
                Error::NoSuchService { service, .. } => Error::NoSuchService {
                    op: Op::ListDestinations,
                    service,
                },
                other => other,
            })?;
        }
        Ok(destinations)
    }

    pub(crate) async fn add_service(&mut self, service: &Service) -> Result<()> {
        self.write(Request::add_service(service)).await
    }

    pub(crate) async fn update_service(&mut self, service: &Service) -> Result<()> {
        self.write(Request::update_service(service)).await
    }

    pub(crate) async fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.write(Request::delete_service(key)).await
    }

    pub(crate) async fn add_destination(
        &mut self,
        key: &ServiceKey,
        dest: &Destination,
    ) -> Result<()> {
        self.write(Request::add_destination(key, dest)).await
    }

    pub(crate) async fn update_destination(
        &mut self,
        key: &ServiceKey,
        dest: &Destination,
    ) -> Result<()> {
        self.write(Request::update_destination(key, dest)).await
    }

    pub(crate) async fn delete_destination(
        &mut self,
        key: &ServiceKey,
        dest: SocketAddr,
    ) -> Result<()> {
        self.write(Request::delete_destination(key, dest)).await
    }

    pub(crate) async fn flush(&mut self) -> Result<()> {
        self.write(Request::flush()).await
    }

    pub(crate) async fn zero_all(&mut self) -> Result<()> {
        self.write(Request::zero(None)).await
    }

    pub(crate) async fn zero_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.write(Request::zero(Some(key))).await
    }

    pub(crate) async fn timeouts(&mut self) -> Result<Timeouts> {
        let replies = self
            .read(Request::get_timeouts(), |m, out| {
                out.push(m.attributes.clone());
                Ok(())
            })
            .await?;
        let mut t = Timeouts::default();
        for attribute in replies.iter().flatten() {
            match attribute {
                IpvsAttribute::TimeoutTcp(v) => t.tcp = Some(seconds(*v)),
                IpvsAttribute::TimeoutTcpFin(v) => t.tcp_fin = Some(seconds(*v)),
                IpvsAttribute::TimeoutUdp(v) => t.udp = Some(seconds(*v)),
                _ => {}
            }
        }
        Ok(t)
    }

    pub(crate) async fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<()> {
        match Request::set_timeouts(timeouts)? {
            Some(request) => self.write(Ok(request)).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<()> {
        self.write(Request::start_daemon(daemon)).await
    }

    pub(crate) async fn stop_daemon(&mut self, role: DaemonRole) -> Result<()> {
        self.write(Request::stop_daemon(role)).await
    }

    pub(crate) async fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        let op = Op::ListDaemons;
        self.read(Request::list_daemons(), |m, out| {
            for a in &m.attributes {
                if let IpvsAttribute::Daemon(nest) = a {
                    out.push(SyncDaemon::from_attributes(op, nest)?);
                }
            }
            Ok(())
        })
        .await
    }
}
