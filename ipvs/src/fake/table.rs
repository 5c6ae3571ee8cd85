// SPDX-License-Identifier: MIT OR Apache-2.0
//! The table the fake keeps, and the kernel's operations on it, as
//! `net/netfilter/ipvs/ip_vs_ctl.c` and `ip_vs_sync.c` (6.12) write them:
//! each function here is named after the kernel function it reproduces and
//! checks what that function checks, in the same order, with the same
//! errno. No netlink here: the requests arrive parsed (`parse.rs`), and the
//! replies are rendered elsewhere (`reply.rs`).

use nix::errno::Errno;

use crate::stats::Stats;

/// `AF_INET`.
pub(super) const AF_INET: u16 = 2;
/// `AF_INET6`.
pub(super) const AF_INET6: u16 = 10;
/// `IPPROTO_TCP`: what a firewall-mark service's protocol is forced to.
const IPPROTO_TCP: u16 = 6;
/// `IP_VS_SVC_F_HASHED`: set by `ip_vs_svc_hash()` once a service is in
/// the table, so every dump reports it.
pub(super) const IP_VS_SVC_F_HASHED: u32 = 0x0002;
/// `IP_VS_CONN_F_FWD_MASK`: the forwarding method bits a destination keeps.
const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
/// `IP_VS_CONN_F_TUNNEL`: the only method a destination of another address
/// family than its service may use.
const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
/// `IP_VS_CONN_F_TUNNEL_TYPE_GUE`, which needs a port.
const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
/// `IP_VS_STATE_MASTER`.
pub(super) const IP_VS_STATE_MASTER: u32 = 1;
/// `IP_VS_STATE_BACKUP`.
pub(super) const IP_VS_STATE_BACKUP: u32 = 2;
/// `IP_VS_SYNC_GROUP`: 224.0.0.81, the default multicast group.
const IP_VS_SYNC_GROUP: [u8; 4] = [224, 0, 0, 81];
/// `IP_VS_SYNC_PORT`: the default multicast port.
const IP_VS_SYNC_PORT: u16 = 8848;

/// `CONFIG_HZ` of Debian's kernels: timeouts are stored in jiffies
/// (`timeout * HZ`) and reported divided by it.
pub(super) const HZ: u32 = 250;

/// Connection timeouts of a new namespace, in seconds (`tcp_timeouts[]`
/// of `ip_vs_proto_tcp.c`, `udp_timeouts[]` of `ip_vs_proto_udp.c`).
const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    tcp: 15 * 60,
    tcp_fin: 2 * 60,
    udp: 5 * 60,
};

/// A service as a request names it (`struct ip_vs_service_user_kern`'s
/// identifying fields, as `ip_vs_genl_parse_service()` fills them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ServiceId {
    /// `AF_INET` or `AF_INET6`.
    pub(super) af: u16,
    /// Any protocol number (netlink does not check it); TCP for a
    /// firewall-mark service.
    pub(super) protocol: u16,
    /// `union nf_inet_addr`; an IPv4 address uses the first 4 bytes.
    pub(super) addr: [u8; 16],
    /// Host order.
    pub(super) port: u16,
    /// Non-zero for a firewall-mark service.
    pub(super) fwmark: u32,
}

impl ServiceId {
    /// The identity of a firewall-mark service, as `ip_vs_genl_parse_service`
    /// builds it: protocol TCP, no address or port.
    pub(super) fn fwmark(af: u16, fwmark: u32) -> Self {
        Self {
            af,
            protocol: IPPROTO_TCP,
            addr: [0; 16],
            port: 0,
            fwmark,
        }
    }

    /// The identity as stored: `ip_vs_addr_copy()` copies an IPv4
    /// address's 4 bytes only, into a zeroed service.
    fn stored(mut self) -> Self {
        self.addr = stored_addr(self.af, self.addr);
        self
    }

    /// `__ip_vs_svc_fwm_find()` / `__ip_vs_service_find()`: a mark and
    /// family, or family, address, port and protocol.
    fn finds(&self, service: &ServiceId) -> bool {
        if self.fwmark != 0 {
            service.fwmark == self.fwmark && service.af == self.af
        } else {
            service.fwmark == 0
                && service.af == self.af
                && addr_equal(self.af, &service.addr, &self.addr)
                && service.port == self.port
                && service.protocol == self.protocol
        }
    }
}

/// What a full service request (`NEW_SERVICE`, `SET_SERVICE`) sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ServiceSettings {
    /// `IPVS_SVC_ATTR_SCHED_NAME`; `"none"` for no scheduler.
    pub(super) sched_name: String,
    /// `IPVS_SVC_ATTR_PE_NAME`, if sent (empty means none).
    pub(super) pe_name: Option<String>,
    /// `IPVS_SVC_ATTR_FLAGS`: flags and mask.
    pub(super) flags: u32,
    /// The mask of `flags` to apply.
    pub(super) mask: u32,
    /// Persistence timeout, seconds.
    pub(super) timeout: u32,
    /// `IPVS_SVC_ATTR_NETMASK`, as its 4 bytes read in host order.
    pub(super) netmask: u32,
}

/// A destination as a request names it (`struct ip_vs_dest_user_kern`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct DestUser {
    /// 0 until `ip_vs_genl_set_cmd()` gives it the service's family.
    pub(super) af: u16,
    pub(super) addr: [u8; 16],
    /// Host order.
    pub(super) port: u16,
    /// `IPVS_DEST_ATTR_FWD_METHOD & IP_VS_CONN_F_FWD_MASK`.
    pub(super) conn_flags: u32,
    /// Read into an `int`: 2^31 and above are negative.
    pub(super) weight: i32,
    pub(super) u_threshold: u32,
    pub(super) l_threshold: u32,
    pub(super) tun_type: u8,
    /// Host order.
    pub(super) tun_port: u16,
    pub(super) tun_flags: u16,
}

/// `struct ip_vs_timeout_user`: seconds, 0 leaves a value unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timeouts {
    pub(super) tcp: u32,
    pub(super) tcp_fin: u32,
    pub(super) udp: u32,
}

/// `struct ipvs_sync_daemon_cfg` as `ip_vs_genl_new_daemon()` fills it
/// and `start_sync_thread()` completes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DaemonConfig {
    pub(super) mcast_ifn: String,
    pub(super) syncid: u32,
    pub(super) sync_maxlen: u16,
    /// `AF_UNSPEC` (0) until a group is given or defaulted.
    pub(super) mcast_af: u16,
    /// An IPv4 group uses the first 4 bytes.
    pub(super) mcast_group: [u8; 16],
    pub(super) mcast_port: u16,
    pub(super) mcast_ttl: u8,
}

/// A destination of a service (`struct ip_vs_dest`, what a dump shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Dest {
    pub(super) af: u16,
    pub(super) addr: [u8; 16],
    pub(super) port: u16,
    /// The forwarding method (`conn_flags & IP_VS_CONN_F_FWD_MASK`).
    pub(super) fwd: u32,
    pub(super) weight: i32,
    pub(super) u_threshold: u32,
    pub(super) l_threshold: u32,
    pub(super) tun_type: u8,
    pub(super) tun_port: u16,
    pub(super) tun_flags: u16,
    /// Connection counts, set by the test (`FakeIpvs::set_connections`).
    pub(super) active_conns: u32,
    pub(super) inactive_conns: u32,
    pub(super) persistent_conns: u32,
    /// Counters and rates, set by the test, zeroed by `IPVS_CMD_ZERO`.
    pub(super) stats: Stats,
}

/// A virtual service (`struct ip_vs_service`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Service {
    pub(super) id: ServiceId,
    /// The bound scheduler's name; `None` is `"none"`.
    pub(super) scheduler: Option<String>,
    /// The bound persistence engine's name.
    pub(super) pe: Option<String>,
    /// `IP_VS_SVC_F_*`, `IP_VS_SVC_F_HASHED` included.
    pub(super) flags: u32,
    /// `timeout * HZ`, in 32 bits: a timeout above `u32::MAX / HZ` wraps,
    /// as in the kernel.
    pub(super) timeout_jiffies: u32,
    pub(super) netmask: u32,
    /// Newest first: `list_add_rcu(&dest->n_list, &svc->destinations)`.
    pub(super) dests: Vec<Dest>,
    pub(super) stats: Stats,
}

impl Service {
    /// The index of the destination `(af, addr, port)`:
    /// `ip_vs_lookup_dest()`.
    fn lookup_dest(&self, af: u16, addr: &[u8; 16], port: u16) -> Option<usize> {
        self.dests
            .iter()
            .position(|d| d.af == af && addr_equal(af, &d.addr, addr) && d.port == port)
    }
}

/// The modules and devices the namespace has, which decide what a request
/// may name.
#[derive(Clone, Debug)]
pub(super) struct Environment {
    /// Scheduler modules (`ip_vs_<name>`) the kernel can load.
    pub(super) schedulers: Vec<String>,
    /// Persistence-engine modules (`ip_vs_pe_<name>`).
    pub(super) engines: Vec<String>,
    /// Network devices of the namespace, with their MTU.
    pub(super) interfaces: Vec<(String, u32)>,
}

/// The IPVS state of one network namespace (`struct netns_ipvs`).
#[derive(Clone, Debug)]
pub(super) struct Table {
    /// In insertion order; see [`Table::dump_order`].
    services: Vec<Service>,
    timeouts: Timeouts,
    /// `ipvs->mcfg` while `sync_state & IP_VS_STATE_MASTER`.
    pub(super) master: Option<DaemonConfig>,
    /// `ipvs->bcfg` while `sync_state & IP_VS_STATE_BACKUP`.
    pub(super) backup: Option<DaemonConfig>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            timeouts: DEFAULT_TIMEOUTS,
            master: None,
            backup: None,
        }
    }
}

/// An IPv4 address keeps its first 4 bytes (`ip_vs_addr_copy()`).
pub(super) fn stored_addr(af: u16, addr: [u8; 16]) -> [u8; 16] {
    if af == AF_INET6 {
        addr
    } else {
        let mut v4 = [0; 16];
        v4[..4].copy_from_slice(&addr[..4]);
        v4
    }
}

/// `ip_vs_addr_equal()`: 16 bytes for IPv6, the first 4 otherwise.
fn addr_equal(af: u16, a: &[u8; 16], b: &[u8; 16]) -> bool {
    if af == AF_INET6 {
        a == b
    } else {
        a[..4] == b[..4]
    }
}

/// `ip_vs_is_af_valid()` (with IPv6 enabled).
pub(super) fn af_is_valid(af: u16) -> bool {
    af == AF_INET || af == AF_INET6
}

impl Table {
    /// The services in dump order: the kernel walks its table hashed by
    /// protocol, address and port, then its table hashed by mark
    /// (`ip_vs_genl_dump_services()`); within each, the fake keeps
    /// insertion order where the kernel follows its hash buckets.
    pub(super) fn dump_order(&self) -> impl Iterator<Item = &Service> {
        let by_addr = self.services.iter().filter(|s| s.id.fwmark == 0);
        by_addr.chain(self.services.iter().filter(|s| s.id.fwmark != 0))
    }

    /// The service a request names.
    pub(super) fn find(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| id.finds(&s.id))
    }

    fn find_mut(&mut self, id: &ServiceId) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| id.finds(&s.id))
    }

    /// The current timeouts (`__ip_vs_get_timeouts()`).
    pub(super) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// `ipvs->mixed_address_family_dests`: destinations whose family is
    /// not their service's.
    fn mixed_address_family_dests(&self) -> usize {
        self.services
            .iter()
            .map(|s| s.dests.iter().filter(|d| d.af != s.id.af).count())
            .sum()
    }

    /// `ipvs->sync_state != 0`.
    pub(super) fn sync_running(&self) -> bool {
        self.master.is_some() || self.backup.is_some()
    }

    /// `ip_vs_add_service()`: binds the scheduler and engine, checks an
    /// IPv6 netmask, and hashes the service (setting `HASHED`).
    pub(super) fn add_service(
        &mut self,
        id: ServiceId,
        settings: &ServiceSettings,
        env: &Environment,
    ) -> Result<(), Errno> {
        let (scheduler, pe) = bind_modules(id.af, settings, env)?;
        // `ip_vs_genl_parse_service()` merged the flags into 0 (no service).
        let flags = settings.flags & settings.mask;
        self.services.push(Service {
            id: id.stored(),
            scheduler,
            pe,
            // `svc->flags = u->flags & ~IP_VS_SVC_F_HASHED`, then
            // `ip_vs_svc_hash()` sets it.
            flags: flags | IP_VS_SVC_F_HASHED,
            timeout_jiffies: settings.timeout.wrapping_mul(HZ),
            netmask: settings.netmask,
            dests: Vec::new(),
            stats: Stats::default(),
        });
        Ok(())
    }

    /// `ip_vs_edit_service()`: rebinds the scheduler and engine and
    /// replaces flags, timeout and netmask (an absent engine is removed).
    pub(super) fn edit_service(
        &mut self,
        id: &ServiceId,
        settings: &ServiceSettings,
        env: &Environment,
    ) -> Result<(), Errno> {
        let service = self.find_mut(id).ok_or(Errno::ESRCH)?;
        let (scheduler, pe) = bind_modules(service.id.af, settings, env)?;
        service.scheduler = scheduler;
        service.pe = pe;
        // `usvc->flags = (svc->flags & ~flags.mask) | (flags.flags & flags.mask)`
        // then `svc->flags = u->flags | IP_VS_SVC_F_HASHED`.
        let merged = (service.flags & !settings.mask) | (settings.flags & settings.mask);
        service.flags = merged | IP_VS_SVC_F_HASHED;
        service.timeout_jiffies = settings.timeout.wrapping_mul(HZ);
        service.netmask = settings.netmask;
        Ok(())
    }

    /// `ip_vs_del_service()`: the service and its destinations go.
    pub(super) fn del_service(&mut self, id: &ServiceId) -> Result<(), Errno> {
        let at = self
            .services
            .iter()
            .position(|s| id.finds(&s.id))
            .ok_or(Errno::ESRCH)?;
        self.services.remove(at);
        Ok(())
    }

    /// `ip_vs_flush()`.
    pub(super) fn flush(&mut self) {
        self.services.clear();
    }

    /// `ip_vs_zero_all()`: every service's and destination's counters and
    /// rates (connection counts are not counters).
    pub(super) fn zero_all(&mut self) {
        for service in &mut self.services {
            zero_service(service);
        }
    }

    /// `ip_vs_zero_service()`.
    pub(super) fn zero_service(&mut self, id: &ServiceId) -> Result<(), Errno> {
        zero_service(self.find_mut(id).ok_or(Errno::ESRCH)?);
        Ok(())
    }

    /// `ip_vs_add_dest()` and `ip_vs_new_dest()`: a new destination goes
    /// first in the service's list.
    pub(super) fn add_dest(&mut self, id: &ServiceId, udest: &DestUser) -> Result<(), Errno> {
        check_dest(udest)?;
        let service = self.find_mut(id).ok_or(Errno::ESRCH)?;
        let addr = stored_addr(udest.af, udest.addr);
        if service.lookup_dest(udest.af, &addr, udest.port).is_some() {
            return Err(Errno::EEXIST);
        }
        // `ip_vs_new_dest()`: only a unicast (or local) address.
        if !dest_addr_is_unicast(udest.af, &addr) {
            return Err(Errno::EINVAL);
        }
        let mut dest = Dest {
            af: udest.af,
            addr,
            port: udest.port,
            fwd: 0,
            weight: 0,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: Stats::default(),
        };
        update_dest(&mut dest, udest);
        service.dests.insert(0, dest);
        Ok(())
    }

    /// `ip_vs_edit_dest()`.
    pub(super) fn edit_dest(&mut self, id: &ServiceId, udest: &DestUser) -> Result<(), Errno> {
        check_dest(udest)?;
        let service = self.find_mut(id).ok_or(Errno::ESRCH)?;
        let addr = stored_addr(udest.af, udest.addr);
        let at = service
            .lookup_dest(udest.af, &addr, udest.port)
            .ok_or(Errno::ENOENT)?;
        update_dest(&mut service.dests[at], udest);
        Ok(())
    }

    /// `ip_vs_del_dest()`.
    pub(super) fn del_dest(&mut self, id: &ServiceId, udest: &DestUser) -> Result<(), Errno> {
        let service = self.find_mut(id).ok_or(Errno::ESRCH)?;
        let addr = stored_addr(udest.af, udest.addr);
        let at = service
            .lookup_dest(udest.af, &addr, udest.port)
            .ok_or(Errno::ENOENT)?;
        service.dests.remove(at);
        Ok(())
    }

    /// `ip_vs_set_timeout()`: each value 0..=`INT_MAX / HZ` (read into an
    /// `int`), 0 leaving it unchanged.
    pub(super) fn set_timeout(&mut self, t: &Timeouts) -> Result<(), Errno> {
        let limit = i32::MAX as u32 / HZ;
        if [t.tcp, t.tcp_fin, t.udp].iter().any(|v| *v > limit) {
            return Err(Errno::EINVAL);
        }
        for (new, old) in [
            (t.tcp, &mut self.timeouts.tcp),
            (t.tcp_fin, &mut self.timeouts.tcp_fin),
            (t.udp, &mut self.timeouts.udp),
        ] {
            if new != 0 {
                *old = new;
            }
        }
        Ok(())
    }

    /// The mixed-family check of `ip_vs_genl_new_daemon()`, then
    /// `start_sync_thread()`: defaults, the device (`ENODEV`), the message
    /// size from its MTU, then one daemon per role (`EEXIST`).
    pub(super) fn start_daemon(
        &mut self,
        mut c: DaemonConfig,
        state: u32,
        env: &Environment,
    ) -> Result<(), Errno> {
        // "The synchronization protocol is incompatible with mixed family
        // services."
        if self.mixed_address_family_dests() > 0 {
            return Err(Errno::EINVAL);
        }
        if c.mcast_af == 0 {
            c.mcast_af = AF_INET;
            c.mcast_group = [0; 16];
            c.mcast_group[..4].copy_from_slice(&IP_VS_SYNC_GROUP);
        }
        if c.mcast_port == 0 {
            c.mcast_port = IP_VS_SYNC_PORT;
        }
        if c.mcast_ttl == 0 {
            c.mcast_ttl = 1;
        }
        let (_, dev_mtu) = env
            .interfaces
            .iter()
            .find(|(name, _)| *name == c.mcast_ifn)
            .ok_or(Errno::ENODEV)?;
        // IP + UDP headers.
        let hlen: u32 = if c.mcast_af == AF_INET6 {
            40 + 8
        } else {
            20 + 8
        };
        let (mtu, min_mtu) = if state == IP_VS_STATE_BACKUP {
            ((*dev_mtu).clamp(1500, 65535), 1024)
        } else {
            (1500, 1)
        };
        let maxlen = if c.sync_maxlen != 0 {
            u32::from(c.sync_maxlen).clamp(min_mtu, 65535 - hlen)
        } else {
            mtu - hlen
        };
        c.sync_maxlen = u16::try_from(maxlen).unwrap_or(u16::MAX);
        let slot = match state {
            IP_VS_STATE_MASTER => &mut self.master,
            IP_VS_STATE_BACKUP => &mut self.backup,
            _ => return Err(Errno::EINVAL),
        };
        if slot.is_some() {
            return Err(Errno::EEXIST);
        }
        *slot = Some(c);
        Ok(())
    }

    /// `stop_sync_thread()`.
    pub(super) fn stop_daemon(&mut self, state: u32) -> Result<(), Errno> {
        let slot = match state {
            IP_VS_STATE_MASTER => &mut self.master,
            IP_VS_STATE_BACKUP => &mut self.backup,
            _ => return Err(Errno::EINVAL),
        };
        slot.take().map(drop).ok_or(Errno::ESRCH)
    }

    /// The destination `addr:port` of a service, for the test's setters.
    pub(super) fn dest_mut(
        &mut self,
        id: &ServiceId,
        af: u16,
        addr: [u8; 16],
        port: u16,
    ) -> Option<&mut Dest> {
        let service = self.find_mut(id)?;
        let addr = stored_addr(af, addr);
        let at = service.lookup_dest(af, &addr, port)?;
        service.dests.get_mut(at)
    }

    /// A service, for the test's setters.
    pub(super) fn service_mut(&mut self, id: &ServiceId) -> Option<&mut Service> {
        self.find_mut(id)
    }
}

/// The scheduler and engine lookups of `ip_vs_add_service()` and
/// `ip_vs_edit_service()`, in their order: the scheduler (`ENOENT` when
/// `ip_vs_<name>` cannot be loaded; `"none"` is no scheduler), the engine
/// (`ENOENT`), then an IPv6 netmask outside 1..=128 (`EINVAL`).
fn bind_modules(
    af: u16,
    settings: &ServiceSettings,
    env: &Environment,
) -> Result<(Option<String>, Option<String>), Errno> {
    let scheduler = match settings.sched_name.as_str() {
        "none" => None,
        name if env.schedulers.iter().any(|s| s == name) => Some(name.to_owned()),
        _ => return Err(Errno::ENOENT),
    };
    let pe = match settings.pe_name.as_deref() {
        None | Some("") => None,
        Some(name) if env.engines.iter().any(|e| e == name) => Some(name.to_owned()),
        Some(_) => return Err(Errno::ENOENT),
    };
    if af == AF_INET6 && !(1..=128).contains(&settings.netmask) {
        return Err(Errno::EINVAL);
    }
    Ok((scheduler, pe))
}

/// The checks `ip_vs_add_dest()` and `ip_vs_edit_dest()` share, in order.
fn check_dest(udest: &DestUser) -> Result<(), Errno> {
    if udest.weight < 0 {
        // "server weight less than zero"
        return Err(Errno::ERANGE);
    }
    if udest.l_threshold > udest.u_threshold {
        // "lower threshold is higher than upper threshold"
        return Err(Errno::ERANGE);
    }
    if udest.u_threshold > i32::MAX as u32 {
        return Err(Errno::EINVAL);
    }
    if udest.tun_type == IP_VS_CONN_F_TUNNEL_TYPE_GUE && udest.tun_port == 0 {
        // "tunnel port is zero"
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `__ip_vs_update_dest()`: everything a request sets is replaced.
fn update_dest(dest: &mut Dest, udest: &DestUser) {
    dest.fwd = udest.conn_flags & IP_VS_CONN_F_FWD_MASK;
    dest.weight = udest.weight;
    dest.u_threshold = udest.u_threshold;
    dest.l_threshold = udest.l_threshold;
    dest.tun_type = udest.tun_type;
    dest.tun_port = udest.tun_port;
    dest.tun_flags = udest.tun_flags;
}

fn zero_service(service: &mut Service) {
    service.stats = Stats::default();
    for dest in &mut service.dests {
        dest.stats = Stats::default();
    }
}

/// The mixed-family rule of `ip_vs_genl_set_cmd()` for a destination
/// write other than a delete: no sync daemon may run (`EINVAL`), and only
/// tunnelling can reach another family (`EINVAL`).
pub(super) fn check_mixed_family(udest: &DestUser, sync_running: bool) -> Result<(), Errno> {
    if sync_running || udest.conn_flags != IP_VS_CONN_F_TUNNEL {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The address check of `ip_vs_new_dest()`, for a namespace whose only
/// addresses are the loopback's (127.0.0.1/8, ::1).
///
/// IPv4: `inet_addr_type()` must say `RTN_UNICAST` or `RTN_LOCAL`; it says
/// `RTN_BROADCAST` for 0.0.0.0 (`ipv4_is_zeronet()`: the rest of 0.0.0.0/8
/// is unicast since Linux 5.3), 255.255.255.255 and the loopback's
/// broadcast 127.255.255.255, and `RTN_MULTICAST` for 224.0.0.0/4.
/// IPv6: `ipv6_addr_type()` must say unicast and not link-local (unless the
/// address is local), which leaves out ::, ::ffff:0:0/96, fe80::/10 and
/// ff00::/8.
fn dest_addr_is_unicast(af: u16, addr: &[u8; 16]) -> bool {
    if af == AF_INET6 {
        let loopback = addr[..15].iter().all(|b| *b == 0) && addr[15] == 1;
        let any = addr.iter().all(|b| *b == 0);
        let mapped = addr[..10].iter().all(|b| *b == 0) && addr[10..12] == [0xff, 0xff];
        let multicast = addr[0] == 0xff;
        let link_local = addr[0] == 0xfe && addr[1] & 0xc0 == 0x80;
        loopback || !(any || mapped || multicast || link_local)
    } else {
        let [a, b, c, d] = [addr[0], addr[1], addr[2], addr[3]];
        let zeronet = [a, b, c, d] == [0; 4];
        let limited_broadcast = [a, b, c, d] == [255; 4];
        let loopback_broadcast = [a, b, c, d] == [127, 255, 255, 255];
        let multicast = a & 0xf0 == 0xe0;
        !(zeronet || limited_broadcast || loopback_broadcast || multicast)
    }
}

/// The multicast check of `ip_vs_genl_new_daemon()` for a group:
/// `ipv4_is_multicast()` or `ipv6_addr_type() & IPV6_ADDR_MULTICAST`.
pub(super) fn group_is_multicast(af: u16, group: &[u8; 16]) -> bool {
    if af == AF_INET6 {
        group[0] == 0xff
    } else {
        group[0] & 0xf0 == 0xe0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut out = [0; 16];
        out[..4].copy_from_slice(&a);
        out
    }

    fn env() -> Environment {
        Environment {
            schedulers: vec!["rr".into(), "wlc".into()],
            engines: vec!["sip".into()],
            interfaces: vec![("lo".into(), 65536), ("sync0".into(), 1500)],
        }
    }

    fn tcp(last: u8, port: u16) -> ServiceId {
        ServiceId {
            af: AF_INET,
            protocol: 6,
            addr: v4([203, 0, 113, last]),
            port,
            fwmark: 0,
        }
    }

    fn settings(sched: &str) -> ServiceSettings {
        ServiceSettings {
            sched_name: sched.into(),
            pe_name: None,
            flags: 0,
            mask: u32::MAX,
            timeout: 0,
            netmask: u32::MAX,
        }
    }

    fn dest(last: u8) -> DestUser {
        DestUser {
            af: AF_INET,
            addr: v4([198, 51, 100, last]),
            port: 80,
            weight: 1,
            ..DestUser::default()
        }
    }

    #[test]
    fn services_are_found_by_identity_and_hashed() {
        let mut t = Table::default();
        t.add_service(tcp(1, 80), &settings("rr"), &env()).unwrap();
        // An IPv4 address compares on its 4 bytes only.
        let mut noisy = tcp(1, 80);
        noisy.addr[9] = 7;
        let found = t.find(&noisy).unwrap();
        assert_eq!(found.flags, IP_VS_SVC_F_HASHED);
        assert_eq!(found.id.addr, v4([203, 0, 113, 1]));
        assert!(t.find(&tcp(1, 81)).is_none());
        assert_eq!(
            t.add_service(tcp(2, 80), &settings("nosuch"), &env()),
            Err(Errno::ENOENT)
        );
        let mut v6 = settings("none");
        v6.netmask = 129;
        let id6 = ServiceId {
            af: AF_INET6,
            ..tcp(3, 80)
        };
        assert_eq!(t.add_service(id6, &v6, &env()), Err(Errno::EINVAL));
        v6.netmask = 128;
        t.add_service(id6, &v6, &env()).unwrap();
        assert_eq!(t.find(&id6).unwrap().scheduler, None);
    }

    #[test]
    fn dump_order_lists_marks_after_addresses() {
        let mut t = Table::default();
        t.add_service(ServiceId::fwmark(AF_INET, 7), &settings("rr"), &env())
            .unwrap();
        t.add_service(tcp(1, 80), &settings("rr"), &env()).unwrap();
        let marks: Vec<u32> = t.dump_order().map(|s| s.id.fwmark).collect();
        assert_eq!(marks, [0, 7]);
    }

    #[test]
    fn destinations_go_first_and_are_checked_in_the_kernels_order() {
        let mut t = Table::default();
        let id = tcp(1, 80);
        t.add_service(id, &settings("rr"), &env()).unwrap();
        t.add_dest(&id, &dest(1)).unwrap();
        t.add_dest(&id, &dest(2)).unwrap();
        let order: Vec<u8> = t
            .find(&id)
            .unwrap()
            .dests
            .iter()
            .map(|d| d.addr[3])
            .collect();
        assert_eq!(order, [2, 1]);
        assert_eq!(t.add_dest(&id, &dest(1)), Err(Errno::EEXIST));
        let negative = DestUser {
            weight: -1,
            ..dest(1)
        };
        assert_eq!(
            t.add_dest(&id, &negative),
            Err(Errno::ERANGE),
            "before EEXIST"
        );
        let thresholds = DestUser {
            l_threshold: 2,
            u_threshold: 1,
            ..dest(3)
        };
        assert_eq!(t.add_dest(&id, &thresholds), Err(Errno::ERANGE));
        let gue = DestUser {
            tun_type: 1,
            ..dest(3)
        };
        assert_eq!(t.add_dest(&id, &gue), Err(Errno::EINVAL));
        for bad in [[0, 0, 0, 0], [127, 255, 255, 255], [224, 0, 0, 1]] {
            let udest = DestUser {
                addr: v4(bad),
                ..dest(3)
            };
            assert_eq!(t.add_dest(&id, &udest), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(t.edit_dest(&id, &dest(9)), Err(Errno::ENOENT));
        assert_eq!(t.del_dest(&id, &dest(9)), Err(Errno::ENOENT));
        t.edit_dest(
            &id,
            &DestUser {
                weight: 5,
                ..dest(1)
            },
        )
        .unwrap();
        assert_eq!(t.find(&id).unwrap().dests[1].weight, 5);
        t.del_dest(&id, &dest(2)).unwrap();
        assert_eq!(t.find(&id).unwrap().dests.len(), 1);
        // The rest of 0.0.0.0/8 is unicast since Linux 5.3.
        t.add_dest(
            &id,
            &DestUser {
                addr: v4([0, 1, 2, 3]),
                ..dest(3)
            },
        )
        .unwrap();
    }

    #[test]
    fn ipv6_destinations_must_be_unicast_and_not_link_local() {
        let addr = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        for (text, ok) in [
            ("2001:db8::1", true),
            ("::1", true),
            ("fc00::1", true),
            ("::", false),
            ("::ffff:198.51.100.1", false),
            ("fe80::1", false),
            ("ff02::1", false),
        ] {
            assert_eq!(dest_addr_is_unicast(AF_INET6, &addr(text)), ok, "{text}");
        }
    }

    #[test]
    fn timeouts_keep_zeroes_and_reject_what_overflows_jiffies() {
        let mut t = Table::default();
        t.set_timeout(&Timeouts {
            tcp: 10,
            tcp_fin: 0,
            udp: 0,
        })
        .unwrap();
        assert_eq!(
            t.timeouts(),
            Timeouts {
                tcp: 10,
                tcp_fin: 120,
                udp: 300
            }
        );
        let too_long = i32::MAX as u32 / HZ + 1;
        assert_eq!(
            t.set_timeout(&Timeouts {
                tcp: 0,
                tcp_fin: 0,
                udp: too_long
            }),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn daemons_default_their_group_and_size_their_messages() {
        let mut t = Table::default();
        let cfg = |ifn: &str, maxlen: u16| DaemonConfig {
            mcast_ifn: ifn.into(),
            sync_maxlen: maxlen,
            ..DaemonConfig::default()
        };
        assert_eq!(
            t.start_daemon(cfg("nosuch0", 0), IP_VS_STATE_MASTER, &env()),
            Err(Errno::ENODEV)
        );
        t.start_daemon(cfg("sync0", 0), IP_VS_STATE_MASTER, &env())
            .unwrap();
        let master = t.master.clone().unwrap();
        assert_eq!(
            (
                master.mcast_af,
                &master.mcast_group[..4],
                master.mcast_port,
                master.mcast_ttl
            ),
            (AF_INET, &[224, 0, 0, 81][..], 8848, 1)
        );
        assert_eq!(master.sync_maxlen, 1500 - 28);
        assert_eq!(
            t.start_daemon(cfg("sync0", 0), IP_VS_STATE_MASTER, &env()),
            Err(Errno::EEXIST)
        );
        // A backup sizes from the device's MTU, and takes at least 1024.
        t.start_daemon(cfg("lo", 100), IP_VS_STATE_BACKUP, &env())
            .unwrap();
        assert_eq!(t.backup.clone().unwrap().sync_maxlen, 1024);
        assert_eq!(t.stop_daemon(3), Err(Errno::EINVAL));
        t.stop_daemon(IP_VS_STATE_BACKUP).unwrap();
        assert_eq!(t.stop_daemon(IP_VS_STATE_BACKUP), Err(Errno::ESRCH));
        t.start_daemon(cfg("lo", 0), IP_VS_STATE_BACKUP, &env())
            .unwrap();
        assert_eq!(t.backup.clone().unwrap().sync_maxlen, 65535 - 28);
    }

    #[test]
    fn flags_merge_through_the_mask_and_stay_hashed() {
        let mut t = Table::default();
        let id = tcp(1, 80);
        let mut s = settings("rr");
        s.flags = 0x1 | 0x8;
        t.add_service(id, &s, &env()).unwrap();
        assert_eq!(t.find(&id).unwrap().flags, 0x1 | 0x8 | IP_VS_SVC_F_HASHED);
        s.flags = 0;
        s.mask = 0x8;
        t.edit_service(&id, &s, &env()).unwrap();
        assert_eq!(t.find(&id).unwrap().flags, 0x1 | IP_VS_SVC_F_HASHED);
    }
}
