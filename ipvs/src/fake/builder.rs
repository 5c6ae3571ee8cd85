// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Builder`]: the kernel a [`FakeIpvs`] plays (its modules, devices,
//! privileges and limits).

use std::sync::{Arc, Mutex};

use super::table::{Environment, Table};
use super::{FakeIpvs, Kernel};

/// The scheduler modules of Debian's 6.12 kernel (`ip_vs_<name>`): the
/// fake's default.
pub const DEBIAN_6_12_SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// The scheduler modules of Debian's 6.1 kernel: those of 6.12 but `twos`,
/// which its configuration leaves out.
pub const DEBIAN_6_1_SCHEDULERS: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

/// The persistence-engine modules of Debian's kernels (`ip_vs_pe_<name>`).
pub const DEBIAN_PERSISTENCE_ENGINES: [&str; 1] = ["sip"];

/// The IPVS family id the fake's controller hands out unless set: the one
/// the lab's Debian kernels gave.
const DEFAULT_FAMILY_ID: u16 = 0x20;

/// Connection-table size a Debian kernel reports (`CONFIG_IP_VS_TAB_BITS=12`).
const DEFAULT_CONNECTION_TABLE_SIZE: u32 = 1 << 12;

/// The kernel a [`FakeIpvs`] plays: which scheduler and persistence-engine
/// modules it can load, which network devices the namespace has (for sync
/// daemons), whether the caller has `CAP_NET_ADMIN`, whether `ip_vs` is
/// there at all.
///
/// ```
/// use ipvs::fake::{Builder, DEBIAN_6_1_SCHEDULERS, FakeIpvs};
///
/// let fake: FakeIpvs = Builder::default()
///     .schedulers(DEBIAN_6_1_SCHEDULERS) // no `twos`
///     .interface("eth0", 1500) // for --start-daemon --mcast-interface eth0
///     .build();
/// # let _ = fake;
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    env: Environment,
    family: Option<u16>,
    privileged: bool,
    receive_queue: Option<usize>,
    connection_table_size: u32,
}

impl Default for Builder {
    /// Debian 6.12's modules, a namespace with `lo` only, privileged.
    fn default() -> Self {
        Self {
            env: Environment {
                schedulers: DEBIAN_6_12_SCHEDULERS.map(String::from).to_vec(),
                engines: DEBIAN_PERSISTENCE_ENGINES.map(String::from).to_vec(),
                interfaces: vec![("lo".into(), 65536)],
            },
            family: Some(DEFAULT_FAMILY_ID),
            privileged: true,
            receive_queue: None,
            connection_table_size: DEFAULT_CONNECTION_TABLE_SIZE,
        }
    }
}

impl Builder {
    /// The scheduler modules the kernel can load (any other name is
    /// `ENOENT`, [`Error::UnknownSchedulerOrPe`]); `none` is always there.
    ///
    /// [`Error::UnknownSchedulerOrPe`]: crate::Error::UnknownSchedulerOrPe
    pub fn schedulers<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.env.schedulers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The persistence-engine modules the kernel can load.
    pub fn persistence_engines<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.env.engines = names.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a network device with this MTU, which a sync daemon can use
    /// (an unknown one is `ENODEV`). The namespace has `lo` (MTU 65536).
    pub fn interface(mut self, name: impl Into<String>, mtu: u32) -> Self {
        self.env.interfaces.push((name.into(), mtu));
        self
    }

    /// The caller lacks `CAP_NET_ADMIN`: every IPVS command is `EPERM`
    /// ([`Error::PermissionDenied`]); the family still resolves.
    ///
    /// [`Error::PermissionDenied`]: crate::Error::PermissionDenied
    pub fn unprivileged(mut self) -> Self {
        self.privileged = false;
        self
    }

    /// The kernel has no `ip_vs`: the family does not resolve
    /// ([`Error::IpvsUnavailable`]).
    ///
    /// [`Error::IpvsUnavailable`]: crate::Error::IpvsUnavailable
    pub fn without_ipvs(mut self) -> Self {
        self.family = None;
        self
    }

    /// The IPVS family id the controller hands out (`0x20` unless set).
    pub fn family_id(mut self, id: u16) -> Self {
        self.family = Some(id);
        self
    }

    /// The receive queue, in bytes, a socket gets however much it asks
    /// for (the kernel's `SO_RCVBUF` as `getsockopt` reports it). Unless
    /// set, it gets twice what it asks, as `SO_RCVBUFFORCE` does. A batch
    /// keeps one ACK per 2 KiB of it in flight, so a small queue splits a
    /// batch into several datagrams.
    pub fn receive_queue(mut self, bytes: usize) -> Self {
        self.receive_queue = Some(bytes);
        self
    }

    /// The connection-table size `IPVS_CMD_GET_INFO` reports (4096 unless
    /// set).
    pub fn connection_table_size(mut self, size: u32) -> Self {
        self.connection_table_size = size;
        self
    }

    /// The fake kernel, with an empty table.
    pub fn build(self) -> FakeIpvs {
        FakeIpvs {
            kernel: Arc::new(Mutex::new(Kernel {
                table: Table::default(),
                env: self.env,
                family: self.family,
                privileged: self.privileged,
                receive_queue: self.receive_queue,
                connection_table_size: self.connection_table_size,
                faults: Default::default(),
                log: Vec::new(),
                next_port: FIRST_PORT,
            })),
        }
    }
}

/// The port id of the first socket (later ones count up).
const FIRST_PORT: u32 = 0x1000;
