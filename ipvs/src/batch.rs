// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Batch`]: many writes sent together, each acknowledged and answered on
//! its own ([`Ipvs::execute_batch`]); and [`WriteRequest`], the one encoding
//! of a write that single calls and batches share.

use std::net::SocketAddr;

use ipvs_sys::{IpvsAttribute, IpvsCmd, IpvsMessage, Nested};

use crate::destination::Destination;
use crate::engine::Transport;
use crate::error::{Error, Op, Result};
use crate::handle::Ipvs;
use crate::key::ServiceKey;
use crate::ops::encode;
use crate::service::Service;

/// One validated, encoded write (`IPVS_CMD_NEW_SERVICE` ... `DEL_DEST`) and
/// what its kernel errors are about.
#[derive(Clone, Debug)]
pub(crate) struct WriteRequest {
    pub(crate) op: Op,
    /// Generic-netlink header and attributes.
    pub(crate) payload: Vec<u8>,
    service: ServiceKey,
    destination: Option<SocketAddr>,
    /// Scheduler and persistence-engine names of a service write, which
    /// explain `ENOENT`.
    names: Option<(String, Option<String>)>,
}

impl WriteRequest {
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
        let message = IpvsMessage::new(
            cmd,
            vec![IpvsAttribute::Service(Nested::new(service.to_attributes()))],
        );
        Ok(Self {
            op,
            payload: encode(&message)?,
            service: service.key,
            destination: None,
            names: Some((
                service.scheduler.name().to_owned(),
                service.persistence_engine.clone(),
            )),
        })
    }

    /// `ipvsadm -D`: `IPVS_CMD_DEL_SERVICE` with the identifying attributes.
    pub(crate) fn delete_service(key: &ServiceKey) -> Result<Self> {
        key.validate()?;
        Self::about_service(Op::DeleteService, IpvsCmd::DelService, key, vec![])
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
        let mut write = Self::about_service(
            op,
            cmd,
            service,
            vec![IpvsAttribute::Dest(Nested::new(dest.to_attributes()))],
        )?;
        write.destination = Some(dest.addr);
        Ok(write)
    }

    /// `ipvsadm -d`: `IPVS_CMD_DEL_DEST` with the identifying attributes.
    pub(crate) fn delete_destination(service: &ServiceKey, dest: SocketAddr) -> Result<Self> {
        service.validate()?;
        let mut write = Self::about_service(
            Op::DeleteDestination,
            IpvsCmd::DelDest,
            service,
            vec![IpvsAttribute::Dest(Nested::new(
                Destination::id_attributes(dest),
            ))],
        )?;
        write.destination = Some(dest);
        Ok(write)
    }

    /// A command on `service` (identifying nest first, then `rest`).
    fn about_service(
        op: Op,
        cmd: IpvsCmd,
        service: &ServiceKey,
        rest: Vec<IpvsAttribute>,
    ) -> Result<Self> {
        let mut attributes = vec![IpvsAttribute::Service(Nested::new(service.to_attributes()))];
        attributes.extend(rest);
        Ok(Self {
            op,
            payload: encode(&IpvsMessage::new(cmd, attributes))?,
            service: *service,
            destination: None,
            names: None,
        })
    }

    /// The scheduler and PE names, as [`Ipvs::call`] takes them.
    pub(crate) fn names(&self) -> Option<(&str, Option<&str>)> {
        self.names
            .as_ref()
            .map(|(scheduler, pe)| (scheduler.as_str(), pe.as_deref()))
    }

    /// Gives an error of this request its meaning: a raw kernel errno
    /// becomes the typed error for this operation, naming the service and
    /// destination.
    pub(crate) fn explain(&self, error: Error) -> Error {
        let error = match error {
            Error::Kernel { op, errno, ext_ack } => {
                Error::from_kernel(op, errno, ext_ack, self.names())
            }
            other => other,
        };
        error.about(&self.service, self.destination)
    }
}

/// Write requests to send together with [`Ipvs::execute_batch`], in order.
///
/// Each request is validated when it is added, exactly as the single calls
/// validate ([`Ipvs::add_service`], ...), so a batch never carries a request
/// the crate would refuse.
///
/// ```no_run
/// use ipvs::{Batch, Destination, Forwarding, Ipvs, Scheduler, Service, ServiceKey};
///
/// let ipvs = Ipvs::new()?;
/// let key: ServiceKey = "tcp:203.0.113.1:80".parse()?;
/// let mut batch = Batch::new();
/// batch.add_service(&Service::new(key, Scheduler::RoundRobin))?; // ipvsadm -A -t 203.0.113.1:80 -s rr
/// for last in 10..14 {
///     let dest = Destination::new(format!("198.51.100.{last}:80").parse()?, Forwarding::Masquerade);
///     batch.add_destination(&key, &dest)?; // ipvsadm -a -t 203.0.113.1:80 -r ... -m
/// }
/// let outcome = ipvs.execute_batch(&batch)?;
/// if let Some((index, error)) = outcome.first_error() {
///     eprintln!("request {index} failed: {error}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Batch {
    writes: Vec<WriteRequest>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `ipvsadm -A ...` ([`Ipvs::add_service`]).
    pub fn add_service(&mut self, service: &Service) -> Result<()> {
        self.push(WriteRequest::add_service(service))
    }

    /// Adds `ipvsadm -E ...` ([`Ipvs::update_service`]).
    pub fn update_service(&mut self, service: &Service) -> Result<()> {
        self.push(WriteRequest::update_service(service))
    }

    /// Adds `ipvsadm -D ...` ([`Ipvs::delete_service`]).
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.push(WriteRequest::delete_service(key))
    }

    /// Adds `ipvsadm -a ...` ([`Ipvs::add_destination`]).
    pub fn add_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.push(WriteRequest::add_destination(service, dest))
    }

    /// Adds `ipvsadm -e ...` ([`Ipvs::update_destination`]).
    pub fn update_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.push(WriteRequest::update_destination(service, dest))
    }

    /// Adds `ipvsadm -d ...` ([`Ipvs::delete_destination`]).
    pub fn delete_destination(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.push(WriteRequest::delete_destination(service, dest))
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True when the batch holds no request.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The operation of each request, in order.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.writes.iter().map(|w| w.op)
    }

    fn push(&mut self, write: Result<WriteRequest>) -> Result<()> {
        self.writes.push(write?);
        Ok(())
    }
}

/// What happened to each request of a batch.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchOutcome {
    /// One result per request, in the batch's order. An error is typed as
    /// the single call would type it ([`Error::ServiceExists`], ...) and
    /// names its service and destination. [`Error::Overrun`] means the
    /// ACK was lost: that request may or may not have been applied.
    pub results: Vec<Result<(), Error>>,
}

impl BatchOutcome {
    /// The first failed request: its index in the batch and its error.
    pub fn first_error(&self) -> Option<(usize, &Error)> {
        self.results
            .iter()
            .enumerate()
            .find_map(|(index, r)| r.as_ref().err().map(|e| (index, e)))
    }

    /// True when every request was acknowledged.
    pub fn is_success(&self) -> bool {
        self.results.iter().all(Result::is_ok)
    }

    /// Number of requests acknowledged.
    pub fn succeeded(&self) -> usize {
        self.results.iter().filter(|r| r.is_ok()).count()
    }
}

impl<T: Transport> Ipvs<T> {
    /// Sends every request of `batch` and reports each one's result.
    ///
    /// Many requests travel in one `sendmsg`; each is acknowledged and its
    /// ACK or error is matched to it by sequence number. At most
    /// [`crate::engine::Engine::batch_window`] requests are in flight (sized
    /// from the socket's receive queue, which this call enlarges the first
    /// time), so ACKs are never dropped for lack of room. A failing request
    /// does not stop the batch: the kernel carries on with the requests
    /// after it, and so does this call. It is as if each request were made
    /// with the single call, in order, without stopping at errors.
    ///
    /// `Err` only for a transport failure (socket error, timeout, family
    /// resolution) or a bug in this crate ([`crate::Error::Internal`]),
    /// after which the kernel's progress is unknown: read the table back. Like the single calls, a batch is sent again when the
    /// `ip_vs` module was reloaded under a new family id.
    pub fn execute_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        let requests: Vec<_> = batch
            .writes
            .iter()
            .map(|w| (w.op, w.payload.as_slice()))
            .collect();
        let results = self.call_batch(&requests)?;
        Ok(BatchOutcome {
            results: results
                .into_iter()
                .zip(&batch.writes)
                .map(|(result, write)| result.map_err(|e| write.explain(e)))
                .collect(),
        })
    }
}
