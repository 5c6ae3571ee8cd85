// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Ipvs`]: the handle. One netlink socket, the request engine behind a
//! mutex, and the resolved family id.

use std::os::fd::BorrowedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use netlink_packet_generic::constants::GENL_ID_CTRL;

use crate::engine::{BatchResult, Engine, Request, RequestKind, Transport};
use crate::error::{Error, Op, Result};
use crate::family::{self, FamilyInfo};
use crate::socket::NetlinkSocket;

/// A handle on the kernel's IPVS table (of one network namespace).
///
/// It owns one netlink socket. It is `Send + Sync`: share it with `Arc`
/// between threads. Requests are serialised by a mutex held for a request
/// and its whole reply, so replies of concurrent calls never mix (a pool of
/// sockets would buy parallelism the kernel does not have anyway: IPVS
/// configuration runs under one global mutex).
///
/// Every call waits at most [`Ipvs::timeout`] for each reply datagram.
#[derive(Debug)]
pub struct Ipvs<T: Transport = NetlinkSocket> {
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    engine: Engine<T>,
    family: Option<FamilyInfo>,
}

impl Ipvs<NetlinkSocket> {
    /// Opens a handle in the calling thread's network namespace and resolves
    /// the IPVS family (which makes the kernel load `ip_vs` if it can).
    ///
    /// Fails with [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub fn new() -> Result<Self> {
        let socket = NetlinkSocket::open().map_err(|source| Error::Io {
            op: Op::ResolveFamily,
            source,
        })?;
        Self::with_transport(socket)
    }

    /// Opens a handle inside the named network namespace (`/run/netns/NAME`,
    /// as made by `ip netns add NAME`), without moving the calling thread.
    /// Equivalent to `ip netns exec NAME ipvsadm ...`.
    pub fn in_netns(name: &str) -> Result<Self> {
        let socket = NetlinkSocket::open_in_netns(name).map_err(|source| Error::Io {
            op: Op::ResolveFamily,
            source,
        })?;
        Self::with_transport(socket)
    }

    /// Opens a handle inside the network namespace `fd` refers to
    /// (`/proc/PID/ns/net`, a bind mount, ...), without moving the calling
    /// thread.
    pub fn in_netns_fd(fd: BorrowedFd<'_>) -> Result<Self> {
        let socket = NetlinkSocket::open_in_netns_fd(fd).map_err(|source| Error::Io {
            op: Op::ResolveFamily,
            source,
        })?;
        Self::with_transport(socket)
    }
}

impl<T: Transport> Ipvs<T> {
    /// A handle over any [`Transport`] (tests use a scripted fake kernel).
    /// Resolves the IPVS family first.
    pub fn with_transport(transport: T) -> Result<Self> {
        let handle = Self::with_transport_unresolved(transport);
        handle.family()?;
        Ok(handle)
    }

    /// A handle that resolves the family on first use instead.
    pub fn with_transport_unresolved(transport: T) -> Self {
        Self {
            inner: Mutex::new(Inner {
                engine: Engine::new(transport),
                family: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic elsewhere cannot leave the engine inconsistent: every
        // request starts with a fresh sequence number.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long a call waits for each reply datagram before
    /// [`Error::Timeout`].
    pub fn timeout(&self) -> Duration {
        self.lock().engine.timeout()
    }

    /// Sets how long a call waits for each reply datagram.
    pub fn set_timeout(&self, timeout: Duration) {
        self.lock().engine.set_timeout(timeout);
    }

    /// Sets how many times a dump interrupted by concurrent changes is
    /// attempted before [`Error::DumpInterrupted`].
    pub fn set_dump_attempts(&self, attempts: u32) {
        self.lock().engine.set_dump_attempts(attempts);
    }

    /// How many requests of a batch are in flight at most (see
    /// [`Ipvs::execute_batch`]): sized from the socket's receive queue,
    /// which the first call enlarges.
    pub fn batch_window(&self) -> usize {
        self.lock().engine.batch_window()
    }

    /// The IPVS generic-netlink family as the kernel described it (id,
    /// version, max attribute), resolving it if needed.
    pub fn family(&self) -> Result<FamilyInfo> {
        let mut inner = self.lock();
        inner.family(false)
    }

    /// Sends `payload` (a genl header and attributes) to the IPVS family and
    /// returns the payloads of the reply messages. Kernel errnos are named
    /// by `op`; `names` (scheduler, PE) explain `ENOENT` on service writes.
    pub(crate) fn call(
        &self,
        op: Op,
        kind: RequestKind,
        payload: &[u8],
        names: Option<(&str, Option<&str>)>,
    ) -> Result<Vec<Vec<u8>>> {
        let mut inner = self.lock();
        let family = inner.family(false)?.id;
        let result = inner.engine.execute(&Request {
            op,
            message_type: family,
            kind,
            payload,
        });
        // ENOENT also means "no family with this id": the module was unloaded
        // (and maybe reloaded with a new id). Re-resolve; retry once if the
        // id changed, since the kernel never saw the request.
        let family_gone =
            matches!(&result, Err(Error::Kernel { errno, .. }) if *errno == nix::libc::ENOENT);
        let result = if family_gone {
            let fresh = inner.family(true)?.id;
            if fresh == family {
                result
            } else {
                log::info!("IPVS family id changed from {family} to {fresh}; retrying {op}");
                inner.engine.execute(&Request {
                    op,
                    message_type: fresh,
                    kind,
                    payload,
                })
            }
        } else {
            result
        };
        result.map_err(|e| match e {
            Error::Kernel { op, errno, ext_ack } => Error::from_kernel(op, errno, ext_ack, names),
            other => other,
        })
    }

    /// Runs `body`, a sequence of reads, with the engine and the IPVS family
    /// id, holding the handle's lock throughout: several requests in a row
    /// that no other thread's requests interleave with. As in
    /// [`Ipvs::call`], `ENOENT` may mean the module was unloaded: the family
    /// is resolved again ([`Error::IpvsUnavailable`] if it is gone) and
    /// `body` runs once more if its id changed, which is why it must only
    /// read. Kernel errors come back explained ([`Error::from_kernel`]).
    pub(crate) fn with_engine<R>(
        &self,
        body: impl Fn(&mut Engine<T>, u16) -> Result<R>,
    ) -> Result<R> {
        let mut inner = self.lock();
        let family = inner.family(false)?.id;
        let mut result = body(&mut inner.engine, family);
        let family_gone =
            matches!(&result, Err(Error::Kernel { errno, .. }) if *errno == nix::libc::ENOENT);
        if family_gone {
            let fresh = inner.family(true)?.id;
            if fresh != family {
                log::info!("IPVS family id changed from {family} to {fresh}; reading again");
                result = body(&mut inner.engine, fresh);
            }
        }
        result.map_err(|e| match e {
            Error::Kernel { op, errno, ext_ack } => Error::from_kernel(op, errno, ext_ack, None),
            other => other,
        })
    }

    /// Sends acknowledged requests (`op`, genl payload) to the IPVS family
    /// as one batch ([`Engine::execute_batch`]); kernel errors stay raw
    /// [`Error::Kernel`] for the caller to explain per request.
    pub(crate) fn call_batch(&self, requests: &[(Op, &[u8])]) -> Result<Vec<BatchResult>> {
        let mut inner = self.lock();
        let batch = |family: u16| -> Vec<Request<'_>> {
            requests
                .iter()
                .map(|&(op, payload)| Request {
                    op,
                    message_type: family,
                    kind: RequestKind::Acked,
                    payload,
                })
                .collect()
        };
        let family = inner.family(false)?.id;
        let results = inner.engine.execute_batch(&batch(family))?;
        // As in `call`: ENOENT on the first request may mean the module was
        // reloaded under a new family id, in which case no request reached
        // IPVS and the batch is sent again to the new id.
        let family_gone = matches!(results.first(),
            Some(Err(Error::Kernel { errno, .. })) if *errno == nix::libc::ENOENT);
        if family_gone {
            let fresh = inner.family(true)?.id;
            if fresh != family {
                log::info!("IPVS family id changed from {family} to {fresh}; resending the batch");
                return inner.engine.execute_batch(&batch(fresh));
            }
        }
        Ok(results)
    }
}

impl<T: Transport> Inner<T> {
    fn family(&mut self, refresh: bool) -> Result<FamilyInfo> {
        if let (Some(family), false) = (&self.family, refresh) {
            return Ok(family.clone());
        }
        self.family = None;
        let op = Op::ResolveFamily;
        let replies = self
            .engine
            .execute(&Request {
                op,
                message_type: GENL_ID_CTRL,
                kind: RequestKind::Acked,
                payload: &family::getfamily_request(family::ipvs_family_name()),
            })
            .map_err(|e| match e {
                Error::Kernel { op, errno, ext_ack } => {
                    Error::from_kernel(op, errno, ext_ack, None)
                }
                other => other,
            })?;
        let reply = replies.first().ok_or_else(|| Error::UnexpectedReply {
            op,
            detail: "the controller acknowledged GETFAMILY without describing the family".into(),
        })?;
        let info = family::parse_family_reply(reply, family::ipvs_family_name()).map_err(|e| {
            Error::Decode {
                op,
                reason: e.to_string(),
                raw: reply.clone(),
            }
        })?;
        log::debug!("resolved the IPVS family: {info:?}");
        self.family = Some(info.clone());
        Ok(info)
    }
}
