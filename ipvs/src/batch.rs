// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Batch`]: many writes sent together, each acknowledged and answered on
//! its own ([`crate::Ipvs::execute_batch`]).

use std::net::SocketAddr;

use crate::destination::Destination;
use crate::error::{Error, Op, Result};
use crate::key::ServiceKey;
use crate::request::Request;
use crate::service::Service;
use crate::session::{NoData, Outbound, Session};
use crate::transport::Link;

/// Write requests to send together with [`Ipvs::execute_batch`](crate::Ipvs::execute_batch), in order.
///
/// Each request is validated when it is added, exactly as the single calls
/// validate ([`Ipvs::add_service`](crate::Ipvs::add_service), ...), so a batch never carries a request
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
    writes: Vec<Request>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `ipvsadm -A ...` ([`Ipvs::add_service`](crate::Ipvs::add_service)).
    pub fn add_service(&mut self, service: &Service) -> Result<()> {
        self.push(Request::add_service(service))
    }

    /// Adds `ipvsadm -E ...` ([`Ipvs::update_service`](crate::Ipvs::update_service)).
    pub fn update_service(&mut self, service: &Service) -> Result<()> {
        self.push(Request::update_service(service))
    }

    /// Adds `ipvsadm -D ...` ([`Ipvs::delete_service`](crate::Ipvs::delete_service)).
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.push(Request::delete_service(key))
    }

    /// Adds `ipvsadm -a ...` ([`Ipvs::add_destination`](crate::Ipvs::add_destination)).
    pub fn add_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.push(Request::add_destination(service, dest))
    }

    /// Adds `ipvsadm -e ...` ([`Ipvs::update_destination`](crate::Ipvs::update_destination)).
    pub fn update_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.push(Request::update_destination(service, dest))
    }

    /// Adds `ipvsadm -d ...` ([`Ipvs::delete_destination`](crate::Ipvs::delete_destination)).
    pub fn delete_destination(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.push(Request::delete_destination(service, dest))
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

    fn push(&mut self, write: Result<Request>) -> Result<()> {
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
    /// names its service and destination. Whether a failed request was
    /// applied is told by [`Error::may_have_applied`]: [`Error::Overrun`] (its
    /// ACK was lost) and [`Error::Timeout`] (the call's deadline passed
    /// first) leave it unknown; a kernel error, or [`Error::NotSent`], means
    /// it was not.
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

impl<L: Link> Session<L> {
    /// Sends every request of `batch` in one exchange and reports each
    /// one's result, typed as its single call would type it.
    pub(crate) async fn execute_batch(&mut self, batch: &Batch) -> Result<BatchOutcome> {
        if batch.is_empty() {
            return Ok(BatchOutcome {
                results: Vec::new(),
            });
        }
        let requests: Vec<Outbound<'_>> = batch.writes.iter().map(Request::outbound).collect();
        let results = self.call(&requests, &mut NoData).await?;
        Ok(BatchOutcome {
            results: results
                .into_iter()
                .zip(&batch.writes)
                .map(|(result, write)| result.map(drop).map_err(|e| write.explain(e)))
                .collect(),
        })
    }
}
