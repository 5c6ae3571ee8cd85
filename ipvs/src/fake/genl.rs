// SPDX-License-Identifier: MIT OR Apache-2.0
//! One request message through the kernel: `netlink_rcv_skb()`, the
//! generic-netlink core (`genl_rcv_msg()`: the family, the operation, the
//! permission, `doit` or `dumpit`), the controller's `CTRL_CMD_GETFAMILY`,
//! and the IPVS handlers `ip_vs_genl_set_cmd()`, `ip_vs_genl_get_cmd()`
//! and `ip_vs_genl_set_daemon()`, which check in the kernel's order.

use ipvs_sys::{InfoAttribute, IpvsAttribute, IpvsCmd, IpvsMessage};
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_generic::constants::{CTRL_CMD_GETFAMILY, GENL_ID_CTRL};
use nix::errno::Errno;

use super::Kernel;
use super::dump::Dump;
use super::parse::{self, Attrs, FamilyQuery, Genl, Refusal, cmd_attr};
use super::reply::{self, To};
use super::table::{Table, af_is_valid, check_mixed_family};
use crate::datagram::{MessageHeader, RawMessage};

/// `NLMSG_MIN_TYPE`: types below are control messages, which the kernel
/// does not hand to a family.
const NLMSG_MIN_TYPE: u16 = 0x10;
/// `resv_start_op` of the IPVS family (`IPVS_CMD_FLUSH + 1`): commands from
/// here on must leave the genl header's reserved field 0.
const RESV_START_OP: u8 = 18;
/// `IP_VS_VERSION_CODE`: 1.2.1.
const IP_VS_VERSION_CODE: u32 = 0x0001_0201;

/// `GENL_ADMIN_PERM`, `GENL_CMD_CAP_DO`, `GENL_CMD_CAP_DUMP`,
/// `GENL_CMD_CAP_HASPOL`: the operation flags the controller reports.
const GENL_ADMIN_PERM: u32 = 0x01;
const GENL_CMD_CAP_DO: u32 = 0x02;
const GENL_CMD_CAP_DUMP: u32 = 0x04;
const GENL_CMD_CAP_HASPOL: u32 = 0x08;

/// `ip_vs_genl_ops`: each command and whether it has a `doit` and a
/// `dumpit`; all need `CAP_NET_ADMIN` (`GENL_ADMIN_PERM`).
const OPS: [(IpvsCmd, bool, bool); 16] = [
    (IpvsCmd::NewService, true, false),
    (IpvsCmd::SetService, true, false),
    (IpvsCmd::DelService, true, false),
    (IpvsCmd::GetService, true, true),
    (IpvsCmd::NewDest, true, false),
    (IpvsCmd::SetDest, true, false),
    (IpvsCmd::DelDest, true, false),
    (IpvsCmd::GetDest, false, true),
    (IpvsCmd::NewDaemon, true, false),
    (IpvsCmd::DelDaemon, true, false),
    (IpvsCmd::GetDaemon, false, true),
    (IpvsCmd::SetConfig, true, false),
    (IpvsCmd::GetConfig, true, false),
    (IpvsCmd::GetInfo, true, false),
    (IpvsCmd::Zero, true, false),
    (IpvsCmd::Flush, true, false),
];

/// The commands that change the table or the settings.
pub(super) fn is_write(cmd: IpvsCmd) -> bool {
    matches!(
        cmd,
        IpvsCmd::NewService
            | IpvsCmd::SetService
            | IpvsCmd::DelService
            | IpvsCmd::NewDest
            | IpvsCmd::SetDest
            | IpvsCmd::DelDest
            | IpvsCmd::NewDaemon
            | IpvsCmd::DelDaemon
            | IpvsCmd::SetConfig
            | IpvsCmd::Zero
            | IpvsCmd::Flush
    )
}

/// What the kernel does with one message.
#[derive(Debug, Default)]
pub(super) struct Answer {
    /// The datagrams it queues on the socket, in order.
    pub(super) datagrams: Vec<Vec<u8>>,
    /// A dump it started, whose next datagrams come as the socket reads.
    pub(super) dump: Option<Dump>,
    /// The errno it answered (0: success).
    pub(super) errno: i32,
}

impl Answer {
    /// `NLMSG_ERROR` with `errno`, and the extended ACK of a policy failure.
    pub(super) fn refused(request: &MessageHeader, port: u32, refusal: &Refusal) -> Self {
        let errno = refusal.errno as i32;
        Self {
            datagrams: vec![reply::ack(request, port, errno, refusal.ext_ack)],
            dump: None,
            errno,
        }
    }
}

/// What a request the family handled produced.
enum Handled {
    /// A `doit`: its reply messages, if any.
    Done(Vec<Vec<u8>>),
    /// A dump started.
    Dump(Dump),
}

/// Where a message of the datagram is received.
pub(super) struct Socket {
    /// The socket's port id.
    pub(super) port: u32,
    /// A dump is running on it.
    pub(super) dumping: bool,
    /// The room of its next dump datagram.
    pub(super) room: usize,
}

/// `netlink_rcv_skb()` for one message: what is not a request, or is a
/// control message, is only acknowledged if asked; a request goes to its
/// family; an error is always answered, success only with `NLM_F_ACK`; a
/// dump is never acknowledged.
pub(super) fn receive(kernel: &mut Kernel, message: &RawMessage<'_>, socket: &Socket) -> Answer {
    let header = message.header;
    let port = socket.port;
    let to = To {
        seq: header.sequence,
        port,
    };
    let wants_ack = header.flags & NLM_F_ACK != 0;
    if header.flags & NLM_F_REQUEST == 0 || header.message_type < NLMSG_MIN_TYPE {
        let datagrams = if wants_ack {
            vec![reply::ack(&header, port, 0, None)]
        } else {
            Vec::new()
        };
        return Answer {
            datagrams,
            ..Answer::default()
        };
    }
    match genl_rcv_msg(kernel, message, socket, to) {
        Ok(Handled::Done(mut datagrams)) => {
            if wants_ack {
                datagrams.push(reply::ack(&header, port, 0, None));
            }
            Answer {
                datagrams,
                ..Answer::default()
            }
        }
        Ok(Handled::Dump(mut dump)) => {
            let family = kernel.family.unwrap_or_default();
            let (first, done) = dump.next(&kernel.table, family, socket.room);
            Answer {
                datagrams: vec![first],
                dump: (!done).then_some(dump),
                errno: 0,
            }
        }
        Err(refusal) => Answer::refused(&header, port, &refusal),
    }
}

/// `genl_rcv_msg()` and `genl_family_rcv_msg()`: the family by message
/// type (`ENOENT` for none), the header (`EINVAL` if short, or a reserved
/// field set on a command past `resv_start_op`), the operation in the
/// asked form (`EOPNOTSUPP`), the permission (`EPERM`), then the handler.
fn genl_rcv_msg(
    kernel: &mut Kernel,
    message: &RawMessage<'_>,
    socket: &Socket,
    to: To,
) -> Result<Handled, Refusal> {
    let header = message.header;
    let dump = header.flags & NLM_F_DUMP == NLM_F_DUMP;
    if header.message_type == GENL_ID_CTRL {
        return ctrl_rcv(kernel, message.payload, dump, to);
    }
    if Some(header.message_type) != kernel.family {
        return Err(Errno::ENOENT.into());
    }
    let genl = Genl::of(message.payload).ok_or(Errno::EINVAL)?;
    if genl.cmd >= RESV_START_OP && genl.reserved != 0 {
        return Err(Errno::EINVAL.into());
    }
    let cmd = IpvsCmd::from(genl.cmd);
    let supported = OPS
        .iter()
        .any(|(op, doit, dumpit)| *op == cmd && if dump { *dumpit } else { *doit });
    if !supported {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if !kernel.privileged {
        return Err(Errno::EPERM.into());
    }
    if dump {
        if socket.dumping {
            // `__netlink_dump_start()`: one dump per socket at a time.
            return Err(Errno::EBUSY.into());
        }
        return Ok(Handled::Dump(match cmd {
            IpvsCmd::GetService => Dump::services(to, kernel.faults.on_service_dump()),
            IpvsCmd::GetDest => {
                Dump::dests(to, message.payload, kernel.faults.on_destination_dump())
            }
            _ => Dump::daemons(to),
        }));
    }
    // The genl core parses a `doit`'s attributes against the family policy.
    let attrs = genl.ipvs_attrs()?;
    let family = kernel.family.unwrap_or_default();
    match cmd {
        IpvsCmd::GetService | IpvsCmd::GetConfig | IpvsCmd::GetInfo => {
            let reply = get_cmd(&kernel.table, kernel.connection_table_size, cmd, &attrs)?;
            Ok(Handled::Done(vec![reply::ipvs(family, 0, to, &reply)]))
        }
        IpvsCmd::NewDaemon | IpvsCmd::DelDaemon => {
            set_daemon(kernel, cmd, &attrs)?;
            Ok(Handled::Done(Vec::new()))
        }
        _ => {
            set_cmd(kernel, cmd, &attrs)?;
            Ok(Handled::Done(Vec::new()))
        }
    }
}

/// `ip_vs_genl_set_cmd()`.
fn set_cmd(kernel: &mut Kernel, cmd: IpvsCmd, attrs: &Attrs<'_>) -> Result<(), Errno> {
    let Kernel { table, env, .. } = kernel;
    match cmd {
        IpvsCmd::Flush => {
            table.flush();
            return Ok(());
        }
        IpvsCmd::SetConfig => return table.set_timeout(&parse::timeouts(attrs)),
        IpvsCmd::Zero if !attrs.has(cmd_attr::SERVICE) => {
            table.zero_all();
            return Ok(());
        }
        _ => {}
    }
    // Every other command names a service, in full to add or edit one.
    let full = matches!(cmd, IpvsCmd::NewService | IpvsCmd::SetService);
    let (id, settings) = parse::service(attrs, full)?;
    let existing_af = table.find(&id).map(|s| s.id.af);
    if cmd != IpvsCmd::NewService && existing_af.is_none() {
        return Err(Errno::ESRCH);
    }
    let mut udest = Default::default();
    if matches!(cmd, IpvsCmd::NewDest | IpvsCmd::SetDest | IpvsCmd::DelDest) {
        let service_af = existing_af.unwrap_or_default();
        udest = parse::dest(attrs, cmd != IpvsCmd::DelDest)?;
        // "Old protocols did not allow the user to specify address family."
        if udest.af == 0 {
            udest.af = service_af;
        }
        if !af_is_valid(udest.af) {
            return Err(Errno::EAFNOSUPPORT);
        }
        if udest.af != service_af && cmd != IpvsCmd::DelDest {
            check_mixed_family(&udest, table.sync_running())?;
        }
    }
    match (cmd, settings) {
        (IpvsCmd::NewService, Some(settings)) => {
            if table.find(&id).is_some() {
                return Err(Errno::EEXIST);
            }
            table.add_service(id, &settings, env)
        }
        (IpvsCmd::SetService, Some(settings)) => table.edit_service(&id, &settings, env),
        (IpvsCmd::DelService, _) => table.del_service(&id),
        (IpvsCmd::NewDest, _) => table.add_dest(&id, &udest),
        (IpvsCmd::SetDest, _) => table.edit_dest(&id, &udest),
        (IpvsCmd::DelDest, _) => table.del_dest(&id, &udest),
        (IpvsCmd::Zero, _) => table.zero_service(&id),
        _ => Err(Errno::EINVAL),
    }
}

/// `ip_vs_genl_set_daemon()`: the daemon nest (`EINVAL` if missing or
/// malformed), then `ip_vs_genl_new_daemon()` or `ip_vs_genl_del_daemon()`.
fn set_daemon(kernel: &mut Kernel, cmd: IpvsCmd, attrs: &Attrs<'_>) -> Result<(), Refusal> {
    let daemon = parse::daemon(attrs)?;
    let result = if cmd == IpvsCmd::NewDaemon {
        let (config, state) = parse::new_daemon(&daemon)?;
        kernel.table.start_daemon(config, state, &kernel.env)
    } else {
        let state = parse::daemon_state(&daemon)?;
        kernel.table.stop_daemon(state)
    };
    result.map_err(Refusal::from)
}

/// `ip_vs_genl_get_cmd()`: the reply to `GET_SERVICE` (`ESRCH` when the
/// service does not exist), `GET_CONFIG` or `GET_INFO`.
fn get_cmd(
    table: &Table,
    connection_table_size: u32,
    cmd: IpvsCmd,
    attrs: &Attrs<'_>,
) -> Result<IpvsMessage, Errno> {
    Ok(match cmd {
        IpvsCmd::GetService => {
            let (id, _) = parse::service(attrs, false)?;
            let service = table.find(&id).ok_or(Errno::ESRCH)?;
            IpvsMessage::new(IpvsCmd::NewService, vec![reply::service(service)])
        }
        IpvsCmd::GetConfig => {
            let t = table.timeouts();
            IpvsMessage::new(
                IpvsCmd::SetConfig,
                vec![
                    IpvsAttribute::TimeoutTcp(t.tcp),
                    IpvsAttribute::TimeoutTcpFin(t.tcp_fin),
                    IpvsAttribute::TimeoutUdp(t.udp),
                ],
            )
        }
        _ => IpvsMessage::new(
            IpvsCmd::SetInfo,
            vec![
                IpvsAttribute::Info(InfoAttribute::Version(IP_VS_VERSION_CODE)),
                IpvsAttribute::Info(InfoAttribute::ConnTabSize(connection_table_size)),
            ],
        ),
    })
}

/// The controller (`genl_ctrl`): only `CTRL_CMD_GETFAMILY`'s `doit`, which
/// describes the IPVS family by name or id (`ENOENT` for any other, or
/// when `ip_vs` is not loaded; `EINVAL` with neither).
fn ctrl_rcv(kernel: &Kernel, payload: &[u8], dump: bool, to: To) -> Result<Handled, Refusal> {
    let genl = Genl::of(payload).ok_or(Errno::EINVAL)?;
    if genl.cmd != CTRL_CMD_GETFAMILY || dump {
        return Err(Errno::EOPNOTSUPP.into());
    }
    let attrs = genl.ctrl_attrs()?;
    let found = match (parse::family_query(&attrs)?, kernel.family) {
        (FamilyQuery::Name(name), Some(id)) if name == crate::family::ipvs_family_name() => id,
        (FamilyQuery::Id(asked), Some(id)) if asked == id => id,
        _ => return Err(Errno::ENOENT.into()),
    };
    let ops: Vec<(u8, u32)> = OPS
        .iter()
        .map(|(cmd, doit, dumpit)| {
            let mut flags = GENL_ADMIN_PERM | GENL_CMD_CAP_HASPOL;
            if *doit {
                flags |= GENL_CMD_CAP_DO;
            }
            if *dumpit {
                flags |= GENL_CMD_CAP_DUMP;
            }
            (u8::from(*cmd), flags)
        })
        .collect();
    Ok(Handled::Done(vec![reply::family(found, &ops, to)]))
}
