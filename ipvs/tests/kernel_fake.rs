// SPDX-License-Identifier: MIT OR Apache-2.0
//! The fake against the kernel: random sequences of calls, valid and
//! invalid, go to `ipvs::fake` and to the lab's kernel alike, and after
//! every call both must have answered the same (the same result, or the
//! same error down to its errno) and must hold the same table (services
//! compared as a set, since only the kernel's hash orders them;
//! destinations in order), daemons and timeouts. Raw requests of every
//! shape, right and wrong, check the parsing (each errno) and the replies
//! (attribute by attribute) as well.
//!
//! What only the kernel can explain is set aside, as the fake's docs list
//! it: the fake is built for the kernel at hand (its scheduler modules are
//! probed, Debian's 6.1 having no `twos`; its devices are the test
//! namespace's), and services are compared as a set (only the kernel's
//! hash orders them). Nothing else is excluded. A call the client refuses
//! before sending is compared by its error alone (it sends nothing), and
//! the daemons and timeouts are read back after the calls that change
//! them and at the end of each sequence: the lab is slow, and each read
//! is a dozen round trips.
//!
//! Run in the lab VM by `cargo xtask test`, with a fixed seed so that CI
//! runs the same sequences every time; `IPVS_FAKE_SEED=N` runs others
//! (`IPVS_FAKE_SEED=random` a fresh seed, printed for replay).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::net::IpAddr;

use ipvs::fake::{DEBIAN_6_1_SCHEDULERS, DEBIAN_6_12_SCHEDULERS, FakeIpvs};
use ipvs::ipvs_sys::netlink_packet_core::DefaultNla;
use ipvs::ipvs_sys::{
    AddressFamily, DaemonAttribute, DaemonState, DestAttribute, FlagsMask, ForwardMethod, InetAddr,
    IpvsAttribute, IpvsCmd, IpvsMessage, Nested, Netmask, Protocol, ServiceAttribute, ServiceFlags,
    TunnelFlags, TunnelType,
};
use ipvs::{
    ApplyOptions, Batch, DaemonRole, Destination, Error, Forwarding, Ipvs, MAX_WEIGHT, Persistence,
    PersistenceNetmask, Rollback, Scheduler, SchedulerFlags, Service, ServiceKey, ServiceState,
    Snapshot, SyncDaemon, Timeouts, Tunnel, TunnelChecksum,
};
use ipvs_lab::{in_netns, sh};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// The seed CI runs with (see the module docs).
const FIXED_SEED: u64 = 0x1905_2026;

/// Sequences per run, and calls per sequence.
const SEQUENCES: u32 = 200;
const STEPS: usize = 20;

/// How long the kernel may take for a call: a sync daemon's thread can
/// take seconds to stop under the lab's emulation. (The fake never times
/// out, so a kernel timeout would be a mismatch.)
const KERNEL_TIMEOUT: Duration = Duration::from_secs(120);

/// A call slower than this is reported.
const SLOW_CALL: Duration = Duration::from_secs(2);

/// The sync daemons' device: a dummy, up, with an IPv6 address that needs
/// no duplicate detection (a master on an IPv6 group needs a source
/// address at once).
const SYNC_DEVICE: &str = "sync0";

/// One call of a sequence.
#[derive(Clone, Debug)]
enum Call {
    AddService(Service),
    UpdateService(Service),
    DeleteService(ServiceKey),
    AddDestination(ServiceKey, Destination),
    UpdateDestination(ServiceKey, Destination),
    DeleteDestination(ServiceKey, SocketAddr),
    ZeroAll,
    ZeroService(ServiceKey),
    Flush,
    SetTimeouts(Timeouts),
    StartDaemon(SyncDaemon),
    StopDaemon(DaemonRole),
    Batch(Vec<Call>),
    Apply(Vec<ServiceState>),
    /// A message of any shape through the escape hatch, as a dump or not.
    Raw(IpvsMessage, bool),
}

/// Services that collide on purpose: two protocols on one address, one
/// mark in both families.
fn keys() -> [ServiceKey; 6] {
    [
        "tcp:203.0.113.1:80",
        "udp:203.0.113.1:80",
        "tcp:[2001:db8::1]:443",
        "sctp:192.0.2.1:9",
        "fwmark:7",
        "fwmark6:7",
    ]
    .map(|k| k.parse().unwrap())
}

fn key() -> impl Strategy<Value = ServiceKey> {
    prop::sample::select(keys().to_vec())
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop::sample::select(vec![
        Scheduler::RoundRobin,
        Scheduler::WeightedRoundRobin,
        Scheduler::WeightedLeastConnection,
        Scheduler::SourceHashing,
        Scheduler::MaglevHashing,
        Scheduler::TwoChoices,
        Scheduler::None,
        Scheduler::Other("nosuch".into()),
    ])
}

fn service() -> impl Strategy<Value = Service> {
    (
        key(),
        scheduler(),
        prop::option::of((1u32..2000, any::<bool>())),
        prop::sample::select(vec![None, Some("sip"), Some("nosuchpe")]),
        any::<bool>(),
        0u32..8,
    )
        .prop_map(|(key, scheduler, persistence, pe, one_packet, flags)| {
            let mut service = Service::new(key, scheduler)
                .with_one_packet(one_packet)
                .with_scheduler_flags(SchedulerFlags::from_bits_truncate(flags << 3));
            if let Some((timeout, grouped)) = persistence {
                let mut p = Persistence::new(Duration::from_secs(timeout.into()));
                if grouped {
                    p = p.with_netmask(match key.family() {
                        ipvs::Family::Ipv4 => {
                            PersistenceNetmask::Ipv4("255.255.255.0".parse().unwrap())
                        }
                        _ => PersistenceNetmask::Ipv6(64),
                    });
                }
                service = service.with_persistence(p);
            }
            if let Some(pe) = pe {
                service = service.with_persistence_engine(pe);
            }
            service
        })
}

/// Addresses of both families, some of which the kernel refuses as
/// destinations (the loopback's broadcast, link-local and mapped IPv6)
/// though the client lets them through.
fn destination_addr() -> impl Strategy<Value = SocketAddr> {
    prop::sample::select(
        [
            "198.51.100.1:80",
            "198.51.100.2:80",
            "198.51.100.2:8080",
            "198.51.100.3:0",
            "127.0.0.1:80",
            "0.1.2.3:80",
            "127.255.255.255:80",
            "[2001:db8::10]:80",
            "[2001:db8::11]:80",
            "[::1]:80",
            "[fe80::1]:80",
            "[::ffff:198.51.100.1]:80",
        ]
        .map(|a| a.parse().unwrap())
        .to_vec(),
    )
}

fn forwarding() -> impl Strategy<Value = Forwarding> {
    let checksum = prop::sample::select(vec![
        TunnelChecksum::None,
        TunnelChecksum::Checksum,
        TunnelChecksum::RemoteChecksum,
    ]);
    prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Tunnel(Tunnel::Ipip)),
        (0u16..3, checksum.clone())
            .prop_map(|(port, checksum)| Forwarding::Tunnel(Tunnel::Gue { port, checksum })),
        checksum.prop_map(|checksum| Forwarding::Tunnel(Tunnel::Gre { checksum })),
    ]
}

fn destination() -> impl Strategy<Value = Destination> {
    (
        destination_addr(),
        forwarding(),
        prop::sample::select(vec![0, 1, 3, MAX_WEIGHT]),
        prop::sample::select(vec![(0, 0), (100, 10), (10, 10)]),
    )
        .prop_map(|(addr, forwarding, weight, (upper, lower))| {
            Destination::new(addr, forwarding)
                .with_weight(weight)
                .with_thresholds(upper, lower)
        })
}

fn daemon() -> impl Strategy<Value = SyncDaemon> {
    (
        prop::sample::select(vec![DaemonRole::Master, DaemonRole::Backup]),
        prop::sample::select(vec![SYNC_DEVICE, "nosuch0"]),
        any::<u8>(),
        prop::option::of(prop::sample::select(vec![100u16, 1200, 1500, 65535])),
        prop::option::of(prop::sample::select(vec![
            "239.1.2.3",
            "224.0.0.81",
            "ff02::1:3",
        ])),
        prop::option::of(1u16..9000),
        prop::option::of(1u8..4),
    )
        .prop_map(|(role, interface, id, max_len, group, port, ttl)| {
            let mut d = SyncDaemon::new(role, interface, id);
            d.max_len = max_len;
            d.mcast_group = group.map(|g| g.parse().unwrap());
            d.mcast_port = port;
            d.mcast_ttl = ttl;
            d
        })
}

fn timeouts() -> impl Strategy<Value = Timeouts> {
    let value = prop::option::of(1u32..3000);
    (value.clone(), value.clone(), value).prop_map(|(tcp, fin, udp)| {
        let secs = |v: Option<u32>| v.map(|s| Duration::from_secs(s.into()));
        Timeouts::new(secs(tcp), secs(fin), secs(udp))
    })
}

/// Writes a batch may hold.
fn write() -> impl Strategy<Value = Call> {
    prop_oneof![
        service().prop_map(Call::AddService),
        service().prop_map(Call::UpdateService),
        key().prop_map(Call::DeleteService),
        (key(), destination()).prop_map(|(k, d)| Call::AddDestination(k, d)),
        (key(), destination()).prop_map(|(k, d)| Call::UpdateDestination(k, d)),
        (key(), destination_addr()).prop_map(|(k, a)| Call::DeleteDestination(k, a)),
    ]
}

fn desired() -> impl Strategy<Value = Vec<ServiceState>> {
    let state = (service(), prop::collection::vec(destination(), 0..3)).prop_map(|(s, dests)| {
        dests
            .into_iter()
            .fold(ServiceState::new(s), ServiceState::with_destination)
    });
    prop::collection::vec(state, 0..3)
}

/// One attribute of a raw nest: one of `right` nine times in ten, else one
/// of `wrong` (`None`: the attribute is missing).
fn field<T: Clone + std::fmt::Debug + 'static>(
    right: Vec<T>,
    wrong: Vec<Option<T>>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![
        9 => prop::sample::select(right).prop_map(Some),
        1 => prop::sample::select(wrong),
    ]
}

fn ip(text: &str) -> InetAddr {
    InetAddr::from(text.parse::<IpAddr>().unwrap())
}

/// A service nest for raw requests, field by field: usually right;
/// sometimes missing, of another family, too short or too long for the
/// kernel's policy, a name without its NUL; now and then a field twice
/// (the last one counts).
fn raw_service_nest() -> impl Strategy<Value = IpvsAttribute> {
    use ServiceAttribute as S;
    let other = |kind, value: &[u8]| Some(S::Other(DefaultNla::new(kind, value.to_vec())));
    let af = field(
        vec![S::Af(AddressFamily::Inet), S::Af(AddressFamily::Inet6)],
        vec![Some(S::Af(AddressFamily::Other(7))), None],
    );
    let by_address = (
        field(
            vec![S::Protocol(Protocol::Tcp), S::Protocol(Protocol::Udp)],
            vec![Some(S::Protocol(Protocol::Other(99))), None],
        ),
        field(
            vec![S::Addr(ip("203.0.113.1")), S::Addr(ip("2001:db8::1"))],
            vec![other(3, &[203, 0, 113, 1]), other(3, &[1; 17]), None],
        ),
        field(vec![S::Port(80), S::Port(443)], vec![other(4, &[0]), None]),
    )
        .prop_map(|(a, b, c)| vec![a, b, c]);
    let identity = prop_oneof![
        3 => by_address,
        1 => prop::sample::select(vec![S::Fwmark(7), S::Fwmark(0)]).prop_map(|m| vec![Some(m)]),
    ];
    let scheduler = field(
        ["rr", "wlc", "none"]
            .map(|n| S::SchedName(n.into()))
            .to_vec(),
        vec![
            Some(S::SchedName("nosuch".into())),
            other(6, b"rr"),
            other(6, b"sixteen_bytes_xx\0"),
            None,
        ],
    );
    let engine = prop::sample::select(vec![
        None,
        None,
        None,
        Some(S::PeName("sip".into())),
        Some(S::PeName("nosuchpe".into())),
    ]);
    let flags = field(
        vec![
            S::Flags(FlagsMask::replace_all(ServiceFlags::empty())),
            S::Flags(FlagsMask::replace_all(ServiceFlags::PERSISTENT)),
            S::Flags(FlagsMask::new(
                ServiceFlags::from_bits_retain(0x8000_0009),
                ServiceFlags::from_bits_retain(0x8000_00ff),
            )),
        ],
        vec![other(7, &[1, 0, 0, 0]), other(7, &[0; 9]), None],
    );
    let timeout = field(
        vec![S::Timeout(0), S::Timeout(300), S::Timeout(u32::MAX)],
        vec![None],
    );
    let netmask = field(
        [u32::MAX, 128, 64]
            .map(|m| S::Netmask(Netmask::from_raw(m)))
            .to_vec(),
        vec![Some(S::Netmask(Netmask::from_raw(200))), None],
    );
    let again = prop::sample::select(vec![
        None,
        None,
        None,
        None,
        Some(S::Af(AddressFamily::Inet6)),
        Some(S::Port(81)),
    ]);
    (
        af,
        identity,
        (scheduler, engine, flags, timeout, netmask, again),
    )
        .prop_map(
            |(af, identity, (scheduler, engine, flags, timeout, netmask, again))| {
                let attrs = [af].into_iter().chain(identity);
                let attrs = attrs.chain([scheduler, engine, flags, timeout, netmask, again]);
                IpvsAttribute::Service(Nested::new(attrs.flatten().collect()))
            },
        )
}

/// A destination nest for raw requests, field by field.
fn raw_dest_nest() -> impl Strategy<Value = IpvsAttribute> {
    use DestAttribute as D;
    let identity = (
        prop::sample::select(vec![
            Some(D::AddrFamily(AddressFamily::Inet)),
            Some(D::AddrFamily(AddressFamily::Inet6)),
            Some(D::AddrFamily(AddressFamily::Other(7))),
            None,
        ]),
        field(
            ["198.51.100.1", "198.51.100.2", "2001:db8::10"]
                .map(|a| D::Addr(ip(a)))
                .to_vec(),
            vec![Some(D::Addr(ip("fe80::1"))), None],
        ),
        field(
            vec![D::Port(80), D::Port(8080)],
            vec![Some(D::Other(DefaultNla::new(2, vec![0]))), None],
        ),
    );
    let settings = (
        field(
            [
                ForwardMethod::Masq,
                ForwardMethod::DirectRoute,
                ForwardMethod::Tunnel,
            ]
            .map(D::FwdMethod)
            .to_vec(),
            vec![Some(D::FwdMethod(ForwardMethod::Other(15))), None],
        ),
        field(
            vec![D::Weight(1), D::Weight(0)],
            vec![Some(D::Weight(u32::MAX)), None],
        ),
        field(
            vec![D::UpperThreshold(0), D::UpperThreshold(10)],
            vec![Some(D::UpperThreshold(u32::MAX)), None],
        ),
        field(
            vec![D::LowerThreshold(0), D::LowerThreshold(5)],
            vec![Some(D::LowerThreshold(20)), None],
        ),
        prop::sample::select(vec![
            None,
            None,
            Some(D::TunType(TunnelType::Gue)),
            Some(D::TunType(TunnelType::Gre)),
            Some(D::TunType(TunnelType::Other(9))),
        ]),
        prop::sample::select(vec![None, Some(D::TunPort(0)), Some(D::TunPort(6080))]),
        prop::sample::select(vec![
            None,
            Some(D::TunFlags(TunnelFlags::from_bits_retain(1))),
            Some(D::TunFlags(TunnelFlags::from_bits_retain(7))),
        ]),
    );
    (identity, settings).prop_map(|((af, addr, port), settings)| {
        let (fwd, weight, upper, lower, tun_type, tun_port, tun_flags) = settings;
        let attrs = [
            af, addr, port, fwd, weight, upper, lower, tun_type, tun_port, tun_flags,
        ];
        IpvsAttribute::Dest(Nested::new(attrs.into_iter().flatten().collect()))
    })
}

/// A daemon nest for raw requests, field by field.
fn raw_daemon_nest() -> impl Strategy<Value = IpvsAttribute> {
    use DaemonAttribute as M;
    (
        field(
            vec![M::State(DaemonState::MASTER), M::State(DaemonState::BACKUP)],
            vec![Some(M::State(DaemonState::from_bits_retain(3))), None],
        ),
        field(
            vec![M::McastIfn(SYNC_DEVICE.into())],
            vec![
                Some(M::McastIfn("nosuch0".into())),
                Some(M::Other(DefaultNla::new(
                    2,
                    SYNC_DEVICE.as_bytes().to_vec(),
                ))),
                None,
            ],
        ),
        field(vec![M::SyncId(5)], vec![Some(M::SyncId(300)), None]),
        prop::sample::select(vec![
            None,
            Some(M::SyncMaxlen(100)),
            Some(M::SyncMaxlen(1500)),
        ]),
        prop::sample::select(vec![
            None,
            Some(M::McastGroup("239.1.2.3".parse().unwrap())),
            Some(M::McastGroup("192.0.2.1".parse().unwrap())),
            Some(M::McastGroup6("ff02::1".parse().unwrap())),
            Some(M::McastGroup6("2001:db8::1".parse().unwrap())),
            Some(M::Other(DefaultNla::new(6, vec![0xff; 8]))),
        ]),
        prop::sample::select(vec![None, Some(M::McastPort(9000))]),
        prop::sample::select(vec![None, Some(M::McastTtl(2))]),
    )
        .prop_map(|(state, ifn, id, maxlen, group, port, ttl)| {
            let attrs = [state, ifn, id, maxlen, group, port, ttl];
            IpvsAttribute::Daemon(Nested::new(attrs.into_iter().flatten().collect()))
        })
}

/// A raw request: a command (some without a doit or a dumpit, one
/// unknown), and top-level attributes of every sort.
fn raw() -> impl Strategy<Value = Call> {
    let command = prop::sample::select(vec![
        IpvsCmd::NewService,
        IpvsCmd::SetService,
        IpvsCmd::DelService,
        IpvsCmd::GetService,
        IpvsCmd::NewDest,
        IpvsCmd::SetDest,
        IpvsCmd::DelDest,
        IpvsCmd::GetDest,
        IpvsCmd::NewDaemon,
        IpvsCmd::DelDaemon,
        IpvsCmd::GetDaemon,
        IpvsCmd::SetConfig,
        IpvsCmd::GetConfig,
        IpvsCmd::GetInfo,
        IpvsCmd::Zero,
        IpvsCmd::Other(30),
    ]);
    let maybe = |p, attribute: BoxedStrategy<IpvsAttribute>| prop::option::weighted(p, attribute);
    let timeouts = prop_oneof![
        Just(IpvsAttribute::TimeoutTcp(100)),
        Just(IpvsAttribute::TimeoutUdp(u32::MAX)),
        Just(IpvsAttribute::Other(DefaultNla::new(5, vec![1, 2]))),
    ];
    let attributes = (
        maybe(0.8, raw_service_nest().boxed()),
        maybe(0.5, raw_dest_nest().boxed()),
        maybe(0.3, raw_daemon_nest().boxed()),
        maybe(0.3, timeouts.boxed()),
    )
        .prop_map(|(a, b, c, d)| [a, b, c, d].into_iter().flatten().collect::<Vec<_>>());
    (command, attributes, prop::bool::weighted(0.1))
        .prop_map(|(cmd, attributes, dump)| Call::Raw(IpvsMessage::new(cmd, attributes), dump))
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => write(),
        1 => Just(Call::ZeroAll),
        1 => key().prop_map(Call::ZeroService),
        1 => Just(Call::Flush),
        1 => timeouts().prop_map(Call::SetTimeouts),
        2 => daemon().prop_map(Call::StartDaemon),
        1 => prop::sample::select(vec![DaemonRole::Master, DaemonRole::Backup]).prop_map(Call::StopDaemon),
        2 => prop::collection::vec(write(), 1..6).prop_map(Call::Batch),
        2 => desired().prop_map(Call::Apply),
        3 => raw(),
    ]
}

/// An error as the comparison sees it: its variant and fields, a kernel
/// error by its errno (extended-ACK text aside), an apply by its step,
/// cause and rollback.
fn describe(error: &Error) -> String {
    match error {
        Error::Kernel { op, errno, .. } => format!("Kernel {{ {op:?}, errno {errno} }}"),
        Error::ApplyFailed {
            step,
            command,
            cause,
            rollback,
        } => {
            let rollback = match rollback {
                Rollback::Failed { step, cause, left } => {
                    format!("Failed at {step:?}: {}, left {left:?}", describe(cause))
                }
                complete => format!("{complete:?}"),
            };
            format!(
                "ApplyFailed at {step} `{command}`: {}; {rollback}",
                describe(cause)
            )
        }
        other => format!("{other:?}"),
    }
}

fn outcome<T>(result: Result<T, Error>) -> String {
    result.map_or_else(|e| describe(&e), |_| "ok".into())
}

/// Makes `call` on `ipvs`; the result as compared.
fn make(ipvs: &Ipvs, call: &Call) -> String {
    match call {
        Call::AddService(s) => outcome(ipvs.add_service(s)),
        Call::UpdateService(s) => outcome(ipvs.update_service(s)),
        Call::DeleteService(k) => outcome(ipvs.delete_service(k)),
        Call::AddDestination(k, d) => outcome(ipvs.add_destination(k, d)),
        Call::UpdateDestination(k, d) => outcome(ipvs.update_destination(k, d)),
        Call::DeleteDestination(k, a) => outcome(ipvs.delete_destination(k, *a)),
        Call::ZeroAll => outcome(ipvs.zero_all()),
        Call::ZeroService(k) => outcome(ipvs.zero_service(k)),
        Call::Flush => outcome(ipvs.flush()),
        Call::SetTimeouts(t) => outcome(ipvs.set_timeouts(t)),
        Call::StartDaemon(d) => outcome(ipvs.start_daemon(d)),
        Call::StopDaemon(role) => outcome(ipvs.stop_daemon(*role)),
        Call::Batch(writes) => {
            let mut batch = Batch::new();
            let mut refused = Vec::new();
            for write in writes {
                let added = match write {
                    Call::AddService(s) => batch.add_service(s),
                    Call::UpdateService(s) => batch.update_service(s),
                    Call::DeleteService(k) => batch.delete_service(k),
                    Call::AddDestination(k, d) => batch.add_destination(k, d),
                    Call::UpdateDestination(k, d) => batch.update_destination(k, d),
                    Call::DeleteDestination(k, a) => batch.delete_destination(k, *a),
                    _ => Ok(()),
                };
                refused.push(outcome(added));
            }
            match ipvs.execute_batch(&batch) {
                Ok(done) => {
                    let results: Vec<String> = done.results.into_iter().map(outcome).collect();
                    format!("refused before sending: {refused:?}; results: {results:?}")
                }
                Err(e) => describe(&e),
            }
        }
        Call::Apply(desired) => match ipvs.apply(desired, &ApplyOptions::default()) {
            Ok(report) => format!("applied {}", report.applied),
            Err(e) => describe(&e),
        },
        Call::Raw(message, dump) => match ipvs.request(message, *dump) {
            // Every reply, attribute by attribute; services in a set.
            Ok(mut replies) => {
                if message.cmd == IpvsCmd::GetService && *dump {
                    replies.sort_by_key(|m| format!("{m:?}"));
                }
                format!("{replies:?}")
            }
            Err(e) => describe(&e),
        },
    }
}

/// What a handle reads back after a call.
type State = Result<(Snapshot, Option<(Vec<SyncDaemon>, Timeouts)>), String>;

/// What the handle reads: the table (services in key order), and with
/// `settings` the daemons and the timeouts.
fn observe(ipvs: &Ipvs, settings: bool) -> State {
    let read = || -> Result<_, Error> {
        let mut snapshot = ipvs.snapshot()?;
        snapshot.services.sort_by_key(|s| s.service.key.to_string());
        let settings = match settings {
            true => Some((ipvs.daemons()?, ipvs.timeouts()?)),
            false => None,
        };
        Ok((snapshot, settings))
    };
    read().map_err(|e| describe(&e))
}

/// Whether `call` can change the daemons or the timeouts.
fn touches_settings(call: &Call) -> bool {
    matches!(
        call,
        Call::SetTimeouts(_) | Call::StartDaemon(_) | Call::StopDaemon(_)
    )
}

/// The kernel's namespace back to a fresh one's state.
fn reset(kernel: &Ipvs) {
    kernel.flush().unwrap();
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        let _ = kernel.stop_daemon(role);
    }
    kernel
        .set_timeouts(&Timeouts::new(
            Some(Duration::from_secs(900)),
            Some(Duration::from_secs(120)),
            Some(Duration::from_secs(300)),
        ))
        .unwrap();
}

/// The fake for this kernel: its scheduler modules (probed: `twos` is on
/// 6.12, not on Debian's 6.1) and the test's sync device.
fn fake_for(kernel: &Ipvs) -> impl Fn() -> FakeIpvs + use<> {
    let probe = Service::new(
        "tcp:198.51.100.200:1".parse().unwrap(),
        Scheduler::TwoChoices,
    );
    let has_twos = kernel.add_service(&probe).is_ok();
    reset(kernel);
    move || {
        let builder = FakeIpvs::builder().interface(SYNC_DEVICE, 1500);
        if has_twos {
            builder.schedulers(DEBIAN_6_12_SCHEDULERS).build()
        } else {
            builder.schedulers(DEBIAN_6_1_SCHEDULERS).build()
        }
    }
}

/// How long a daemon may take to stop: seconds under the lab's emulation.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Stops a daemon on the kernel, which may do so without answering.
///
/// A sync thread stopped before it first ran makes `kthread_stop()` return
/// `-EINTR`, which `stop_sync_thread()` passes up and `netlink_rcv_skb()`
/// answers with nothing (it takes `-EINTR` for a dump under way): the
/// daemon is stopped and the call times out. Under the lab's emulation a
/// new thread can wait seconds for its first run. When the call times out
/// and the daemon is gone, the stop counts as answered.
fn stop_on_kernel(kernel: &Ipvs, role: DaemonRole) -> String {
    match kernel.with_timeout(STOP_TIMEOUT).stop_daemon(role) {
        Err(Error::Timeout { .. })
            if !kernel
                .daemons()
                .is_ok_and(|d| d.iter().any(|d| d.role == role)) =>
        {
            eprintln!("kernel_fake: the kernel stopped the {role:?} daemon without answering");
            "ok".into()
        }
        result => outcome(result),
    }
}

/// The kernel's module loader, `/bin/false` while this lives: the kernel
/// runs it for every unknown scheduler or engine name a call sends, and
/// under the lab's emulation each run takes seconds. What the test uses is
/// loaded already; an unknown name stays `ENOENT`.
struct NoModuleLoading {
    previous: String,
}

const MODPROBE: &str = "/proc/sys/kernel/modprobe";

impl NoModuleLoading {
    fn new() -> Self {
        let previous = std::fs::read_to_string(MODPROBE).expect("read kernel.modprobe");
        std::fs::write(MODPROBE, "/bin/false").expect("set kernel.modprobe");
        Self { previous }
    }
}

impl Drop for NoModuleLoading {
    fn drop(&mut self) {
        let _ = std::fs::write(MODPROBE, self.previous.trim());
    }
}

fn run_sequence(kernel: &Ipvs, fake: &FakeIpvs, calls: &[Call]) -> Result<(), TestCaseError> {
    reset(kernel);
    let twin = fake
        .handle()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (index, call) in calls.iter().enumerate() {
        let start = Instant::now();
        let theirs = match call {
            Call::StopDaemon(role) => stop_on_kernel(kernel, *role),
            _ => make(kernel, call),
        };
        let took = start.elapsed();
        if took > SLOW_CALL {
            eprintln!("kernel_fake: the kernel took {took:.1?} for {call:?}");
        }
        let ours = make(&twin, call);
        if theirs != ours {
            return Err(TestCaseError::fail(format!(
                "call {index} {call:?}:\n  kernel: {theirs}\n  fake:   {ours}"
            )));
        }
        // Refused before it was sent, it changed nothing (the lab is slow:
        // each read-back costs a dozen round trips on both sides).
        let last = index + 1 == calls.len();
        if theirs.starts_with("InvalidArgument") && !last {
            continue;
        }
        let settings = touches_settings(call) || last;
        let (theirs, ours) = (observe(kernel, settings), observe(&twin, settings));
        if theirs != ours {
            return Err(TestCaseError::fail(format!(
                "after call {index} {call:?}, the state differs:\n  kernel: {theirs:#?}\n  fake:   {ours:#?}"
            )));
        }
    }
    Ok(())
}

/// The harness without the lab: the fake against itself agrees (and the
/// strategies make calls that run).
#[test]
fn the_harness_agrees_fake_against_fake() {
    let other = FakeIpvs::builder().interface(SYNC_DEVICE, 1500).build();
    let kernel = other.handle().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 20,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop::collection::vec(call(), STEPS);
    let make_fake = || FakeIpvs::builder().interface(SYNC_DEVICE, 1500).build();
    let start = Instant::now();
    runner
        .run(&strategy, |calls| {
            run_sequence(&kernel, &make_fake(), &calls)
        })
        .unwrap();
    eprintln!("20 sequences in {:?}", start.elapsed());
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn the_fake_answers_random_sequences_as_the_kernel_does() {
    in_netns(|| {
        sh(&format!(
            "ip link add {SYNC_DEVICE} type dummy && ip link set {SYNC_DEVICE} multicast on up \
             && ip addr add 2001:db8:ff::1/64 dev {SYNC_DEVICE} nodad"
        ));
        let _loader = NoModuleLoading::new();
        let kernel = Ipvs::new().expect("IPVS in the lab");
        kernel.set_timeout(KERNEL_TIMEOUT);
        let make_fake = fake_for(&kernel);
        let seed = match std::env::var("IPVS_FAKE_SEED").as_deref() {
            Err(_) => FIXED_SEED,
            Ok("random") => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64)
            }
            Ok(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("IPVS_FAKE_SEED={text}: not a number nor `random`")),
        };
        eprintln!("kernel_fake: IPVS_FAKE_SEED={seed}");
        let mut runner = TestRunner::new(Config {
            cases: SEQUENCES,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            max_shrink_iters: 100,
            ..Config::default()
        });
        let start = Instant::now();
        let strategy = prop::collection::vec(call(), STEPS);
        let result = runner.run(&strategy, |calls| {
            run_sequence(&kernel, &make_fake(), &calls)
        });
        let elapsed = start.elapsed();
        if let Err(failure) = result {
            panic!("IPVS_FAKE_SEED={seed}: {failure}");
        }
        eprintln!(
            "kernel_fake: {SEQUENCES} sequences of {STEPS} calls agreed on {} in {elapsed:.1?}",
            sh("uname -r").trim()
        );
    });
}
