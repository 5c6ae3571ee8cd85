// SPDX-License-Identifier: MIT OR Apache-2.0
//! A fake kernel that keeps an IPVS table: writes change it (with the
//! kernel's errnos), dumps read it back the way the kernel shapes them
//! (the hashed flag set). Enough to test snapshot, plan and apply without
//! root.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ipvs::Ipvs;
use ipvs::ipvs_sys::{
    DestAttribute, InetAddr, IpvsAttribute, IpvsCmd, IpvsMessage, Nested, ServiceAttribute,
    ServiceFlags,
};
use ipvs::testing::MessageHeader;

use super::*;

/// One service: its nest as last written, and its destinations' nests.
#[derive(Clone, Debug, Default)]
pub struct ModelService {
    pub nest: Vec<ServiceAttribute>,
    pub dests: Vec<Vec<DestAttribute>>,
}

#[derive(Debug, Default)]
pub struct Model {
    pub services: Vec<ModelService>,
    /// Write requests received (NEW/SET/DEL of services and dests).
    pub writes: usize,
    /// Dump requests received.
    pub dumps: usize,
    /// Scheduler names the "kernel" has no module for (ENOENT).
    pub unknown_schedulers: Vec<String>,
    /// How many of the next service dumps repeat their first service, as
    /// the kernel's does when another namespace changes during the dump.
    pub shifted_dumps: usize,
}

fn service_id(nest: &[ServiceAttribute]) -> Vec<ServiceAttribute> {
    nest.iter()
        .filter(|a| {
            matches!(
                a,
                ServiceAttribute::Af(_)
                    | ServiceAttribute::Protocol(_)
                    | ServiceAttribute::Addr(_)
                    | ServiceAttribute::Port(_)
                    | ServiceAttribute::Fwmark(_)
            )
        })
        .cloned()
        .collect()
}

fn dest_id(nest: &[DestAttribute]) -> Vec<DestAttribute> {
    nest.iter()
        .filter(|a| {
            matches!(
                a,
                DestAttribute::AddrFamily(_) | DestAttribute::Addr(_) | DestAttribute::Port(_)
            )
        })
        .cloned()
        .collect()
}

fn connections(nest: &[DestAttribute]) -> Vec<DestAttribute> {
    nest.iter()
        .filter(|a| {
            matches!(
                a,
                DestAttribute::ActiveConns(_) | DestAttribute::InactiveConns(_)
            )
        })
        .cloned()
        .collect()
}

impl Model {
    fn find(&self, nest: &[ServiceAttribute]) -> Option<usize> {
        let id = service_id(nest);
        self.services.iter().position(|s| service_id(&s.nest) == id)
    }

    /// Sets the connection counts the dumps report for destination `addr`
    /// (in every service that has it).
    pub fn set_connections(&mut self, addr: SocketAddr, active: u32, inactive: u32) {
        let address = DestAttribute::Addr(InetAddr::from(addr.ip()));
        let port = DestAttribute::Port(addr.port());
        for service in &mut self.services {
            for dest in &mut service.dests {
                if dest.contains(&address) && dest.contains(&port) {
                    dest.retain(|a| connections(std::slice::from_ref(a)).is_empty());
                    dest.push(DestAttribute::ActiveConns(active));
                    dest.push(DestAttribute::InactiveConns(inactive));
                }
            }
        }
    }

    fn answer(&mut self, req: &MessageHeader, message: IpvsMessage) -> Vec<Delivery> {
        let service = message.attributes.iter().find_map(|a| match a {
            IpvsAttribute::Service(n) => Some(n.iter().cloned().collect::<Vec<_>>()),
            _ => None,
        });
        let dest = message.attributes.iter().find_map(|a| match a {
            IpvsAttribute::Dest(n) => Some(n.iter().cloned().collect::<Vec<_>>()),
            _ => None,
        });
        let found = service.as_deref().and_then(|s| self.find(s));
        let fail = |errno| vec![kernel(error(req, errno, None))];
        match message.cmd {
            IpvsCmd::GetService if req.flags & NLM_F_DUMP == 0 => match found {
                None => fail(nix_errno::ESRCH),
                Some(i) => vec![
                    kernel(reply(
                        req,
                        0,
                        IpvsCmd::NewService,
                        vec![IpvsAttribute::Service(Nested::new(
                            self.services[i].nest.clone(),
                        ))],
                    )),
                    kernel(ack(req)),
                ],
            },
            IpvsCmd::GetService => {
                self.dumps += 1;
                let mut listed = self.services.clone();
                if self.shifted_dumps > 0 && !listed.is_empty() {
                    self.shifted_dumps -= 1;
                    listed.push(listed[0].clone());
                }
                let mut out: Vec<Delivery> = listed
                    .iter()
                    .map(|s| {
                        let mut nest = s.nest.clone();
                        for a in &mut nest {
                            if let ServiceAttribute::Flags(f) = a {
                                f.flags |= ServiceFlags::HASHED;
                            }
                        }
                        kernel(reply(
                            req,
                            NLM_F_MULTI,
                            IpvsCmd::NewService,
                            vec![IpvsAttribute::Service(Nested::new(nest))],
                        ))
                    })
                    .collect();
                out.push(kernel(done(req, 0)));
                out
            }
            IpvsCmd::GetDest => {
                self.dumps += 1;
                let mut out: Vec<Delivery> = found
                    .map(|i| self.services[i].dests.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| {
                        kernel(reply(
                            req,
                            NLM_F_MULTI,
                            IpvsCmd::NewDest,
                            vec![IpvsAttribute::Dest(Nested::new(d))],
                        ))
                    })
                    .collect();
                out.push(kernel(done(req, 0)));
                out
            }
            cmd => {
                self.writes += 1;
                let service = service.expect("writes carry a service");
                match (cmd, found) {
                    (IpvsCmd::NewService | IpvsCmd::SetService, _)
                        if service.iter().any(|a| {
                            matches!(a, ServiceAttribute::SchedName(n) if self.unknown_schedulers.contains(n))
                        }) =>
                    {
                        return fail(nix_errno::ENOENT);
                    }
                    (IpvsCmd::NewService, Some(_)) => return fail(nix_errno::EEXIST),
                    (IpvsCmd::NewService, None) => self.services.push(ModelService {
                        nest: service,
                        dests: vec![],
                    }),
                    (_, None) => return fail(nix_errno::ESRCH),
                    (IpvsCmd::SetService, Some(i)) => self.services[i].nest = service,
                    (IpvsCmd::DelService, Some(i)) => {
                        self.services.remove(i);
                    }
                    (IpvsCmd::NewDest | IpvsCmd::SetDest | IpvsCmd::DelDest, Some(i)) => {
                        let dest = dest.expect("dest writes carry a dest");
                        let dests = &mut self.services[i].dests;
                        let at = dests.iter().position(|d| dest_id(d) == dest_id(&dest));
                        match (cmd, at) {
                            (IpvsCmd::NewDest, Some(_)) => return fail(nix_errno::EEXIST),
                            // New destinations go first, as in the kernel.
                            (IpvsCmd::NewDest, None) => dests.insert(0, dest),
                            (_, None) => return fail(nix_errno::ENOENT),
                            (IpvsCmd::SetDest, Some(j)) => {
                                let mut dest = dest;
                                dest.extend(connections(&dests[j]));
                                dests[j] = dest;
                            }
                            (_, Some(j)) => {
                                dests.remove(j);
                            }
                        }
                    }
                    other => panic!("the model does not handle {other:?}"),
                }
                vec![kernel(ack(req))]
            }
        }
    }
}

/// A fake kernel keeping `model`.
pub fn model_kernel(model: Arc<Mutex<Model>>) -> FakeKernel {
    ipvs_kernel(move |req, message| model.lock().unwrap().answer(req, message))
}

/// A handle on a fake kernel keeping `model`.
pub fn model_handle(model: Arc<Mutex<Model>>) -> Ipvs {
    Ipvs::with_transport(model_kernel(model)).expect("family resolves")
}
