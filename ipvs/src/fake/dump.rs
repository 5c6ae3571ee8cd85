// SPDX-License-Identifier: MIT OR Apache-2.0
//! Dumps as `netlink_dump()` (`net/netlink/af_netlink.c`) runs them, with
//! the IPVS dump callbacks of `ip_vs_ctl.c`.
//!
//! A dump belongs to its socket (one at a time: another dump request gets
//! `EBUSY`). Its first datagram is made when the request arrives, each
//! next one when the previous one is read, from the table as it is then,
//! resuming from a cursor (`cb->args[0]`) that counts the entries already
//! sent: a table changed in between makes the dump skip or repeat
//! entries, as in the kernel. A datagram holds as many entries as fit
//! its allocation; the callback that finds nothing left makes the
//! `NLMSG_DONE`, which therefore always comes alone, in the last datagram.

use ipvs_sys::{IpvsCmd, IpvsMessage};
use netlink_packet_core::NLM_F_MULTIPART;

use super::parse::{self, Genl};
use super::reply::{self, To};
use super::table::{IP_VS_STATE_BACKUP, IP_VS_STATE_MASTER, Table};

/// `NLMSG_GOODSIZE` with 4 KiB pages on x86-64 (`SKB_WITH_OVERHEAD(PAGE_SIZE)`):
/// the least a dump datagram may hold.
const NLMSG_GOODSIZE: usize = 4096 - 320;

/// `SKB_WITH_OVERHEAD(32768)`: `netlink_recvmsg()` caps the receive size
/// it remembers (`max_recvmsg_len`) here.
pub(super) const MAX_RECVMSG_LEN: usize = 32768 - 320;

/// The room of the next dump datagram, given the largest buffer the
/// socket has read with (`netlink_dump()`'s allocation).
pub(super) fn room(max_recvmsg_len: usize) -> usize {
    NLMSG_GOODSIZE.max(max_recvmsg_len.min(MAX_RECVMSG_LEN))
}

/// What is dumped.
#[derive(Clone, Debug)]
enum What {
    /// `ip_vs_genl_dump_services()`.
    Services,
    /// `ip_vs_genl_dump_dests()`, which parses its request again for each
    /// datagram: the request's genl payload.
    Dests { request: Vec<u8> },
    /// `ip_vs_genl_dump_daemons()`: the master, then the backup, each
    /// once (`cb->args[0]`, `cb->args[1]`).
    Daemons {
        master_sent: bool,
        backup_sent: bool,
    },
}

/// A dump running on a socket (`struct netlink_callback`).
#[derive(Clone, Debug)]
pub(super) struct Dump {
    what: What,
    to: To,
    /// `cb->args[0]` of the service and destination dumps: entries
    /// already passed.
    cursor: usize,
    /// The test asked for the dump to be shifted: after its first
    /// datagram, an entry joins the list ahead of the cursor.
    shift: bool,
}

impl Dump {
    /// A service dump; the test may have asked for it to be shifted.
    pub(super) fn services(to: To, shift: bool) -> Self {
        Self::new(What::Services, to, shift)
    }

    /// A destination dump for the request with genl payload `request`;
    /// the test may have asked for it to be shifted.
    pub(super) fn dests(to: To, request: &[u8], shift: bool) -> Self {
        let request = request.to_vec();
        Self::new(What::Dests { request }, to, shift)
    }

    /// A daemon dump.
    pub(super) fn daemons(to: To) -> Self {
        let what = What::Daemons {
            master_sent: false,
            backup_sent: false,
        };
        Self::new(what, to, false)
    }

    fn new(what: What, to: To, shift: bool) -> Self {
        Self {
            what,
            to,
            cursor: 0,
            shift,
        }
    }

    /// `netlink_dump()`: the next datagram, at most `room` bytes of
    /// entries, and whether it was the `NLMSG_DONE` that ends the dump.
    pub(super) fn next(&mut self, table: &Table, family: u16, room: usize) -> (Vec<u8>, bool) {
        let to = self.to;
        if self.shift && self.cursor > 0 {
            // An entry joined the list ahead of the cursor since the last
            // datagram: the count resumes one entry early.
            self.shift = false;
            self.cursor -= 1;
        }
        let mut datagram = Vec::new();
        // Adds an entry if it fits (`genlmsg_put()` and the fill function
        // succeed), as the callbacks do until one does not.
        let mut put = |entry: IpvsMessage| {
            let message = reply::ipvs(family, NLM_F_MULTIPART, to, &entry);
            let fits = datagram.len() + message.len() <= room;
            if fits {
                datagram.extend(message);
            }
            fits
        };
        match &mut self.what {
            What::Daemons {
                master_sent,
                backup_sent,
            } => {
                let daemon =
                    |state, c| IpvsMessage::new(IpvsCmd::NewDaemon, vec![reply::daemon(state, c)]);
                let mut room_left = true;
                if let (false, Some(master)) = (*master_sent, &table.master) {
                    room_left = put(daemon(IP_VS_STATE_MASTER, master));
                    *master_sent = room_left;
                }
                if let (true, false, Some(backup)) = (room_left, *backup_sent, &table.backup) {
                    *backup_sent = put(daemon(IP_VS_STATE_BACKUP, backup));
                }
            }
            what => {
                for entry in entries(what, table, self.cursor) {
                    if !put(entry) {
                        break;
                    }
                    self.cursor += 1;
                }
            }
        }
        if datagram.is_empty() {
            (reply::done(to), true)
        } else {
            (datagram, false)
        }
    }
}

/// The entries of a service or destination dump from the table as it is
/// now, past the first `skip` (the cursor), each made as it is taken.
fn entries<'t>(
    what: &'t What,
    table: &'t Table,
    skip: usize,
) -> Box<dyn Iterator<Item = IpvsMessage> + 't> {
    match what {
        What::Services => {
            let services = table.dump_order().skip(skip);
            Box::new(
                services.map(|s| IpvsMessage::new(IpvsCmd::NewService, vec![reply::service(s)])),
            )
        }
        What::Dests { request } => {
            // A request that does not parse, or names no service, dumps
            // nothing and no error.
            let service = Genl::of(request)
                .and_then(|genl| genl.ipvs_attrs().ok())
                .and_then(|attrs| parse::service(&attrs, false).ok())
                .and_then(|(id, _)| table.find(&id));
            let dests = service.into_iter().flat_map(|s| &s.dests).skip(skip);
            Box::new(dests.map(|d| IpvsMessage::new(IpvsCmd::NewDest, vec![reply::dest(d)])))
        }
        What::Daemons { .. } => Box::new(std::iter::empty()),
    }
}
