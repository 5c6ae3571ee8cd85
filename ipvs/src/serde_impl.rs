// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `serde` feature: `Serialize` and `Deserialize` for the configuration
//! types, the counters, the table and the plan (derived where it is
//! defined), in the format the crate docs describe. Each type goes through
//! a private `...Fields` struct that mirrors the file format; reading it
//! back checks what parsing the notation checks.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

use crate::config::{DaemonRole, MAX_TIMEOUT, SyncDaemon, Timeouts};
use crate::destination::{Destination, Forwarding, MAX_WEIGHT};
use crate::key::ServiceKey;
use crate::notation::ParseError;
use crate::notation::Problem;
use crate::scheduler::Scheduler;
use crate::service::{
    DEFAULT_PERSISTENCE_TIMEOUT, MAX_PERSISTENCE_TIMEOUT, Persistence, PersistenceNetmask, Service,
    parse_scheduler_flags,
};
use crate::snapshot::{ServiceState, Snapshot};
use crate::stats::{CounterWidth, Stats};
use crate::unknown::UnknownAttribute;

/// Types written as their ipvsadm notation (`Display`) and read with
/// `FromStr`, whose error names the field at fault.
macro_rules! as_notation {
    ($($ty:ty: $expecting:literal;)*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(Notation::<$ty>::new($expecting))
            }
        }
    )*};
}

as_notation! {
    ServiceKey: "a service key such as \"tcp:203.0.113.1:80\" or \"fwmark:7\"";
    Scheduler: "a scheduler name such as \"rr\"";
    Forwarding: "forwarding options such as \"-m\", \"-g\" or \"-i --tun-type ipip\"";
    DaemonRole: "\"master\" or \"backup\"";
}

/// Reads a string in ipvsadm notation.
struct Notation<T> {
    expecting: &'static str,
    parsed: PhantomData<T>,
}

impl<T> Notation<T> {
    fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            parsed: PhantomData,
        }
    }
}

impl<T: FromStr<Err = ParseError>> Visitor<'_> for Notation<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

/// A dotted IPv4 mask is a string; an IPv6 prefix length a number (or a
/// string holding one).
impl Serialize for PersistenceNetmask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PersistenceNetmask::Ipv4(_) => serializer.collect_str(self),
            PersistenceNetmask::Ipv6(prefix) => serializer.serialize_u8(*prefix),
        }
    }
}

impl<'de> Deserialize<'de> for PersistenceNetmask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NetmaskVisitor)
    }
}

struct NetmaskVisitor;

impl Visitor<'_> for NetmaskVisitor {
    type Value = PersistenceNetmask;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("persistence netmask: \"255.255.255.0\", or an IPv6 prefix length of 1..=128")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, prefix: u64) -> Result<Self::Value, E> {
        match u8::try_from(prefix) {
            Ok(prefix @ 1..=128) => Ok(PersistenceNetmask::Ipv6(prefix)),
            _ => Err(E::invalid_value(Unexpected::Unsigned(prefix), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, prefix: i64) -> Result<Self::Value, E> {
        u64::try_from(prefix)
            .map_err(|_| E::invalid_value(Unexpected::Signed(prefix), &self))
            .and_then(|prefix| self.visit_u64(prefix))
    }
}

/// A whole number of `low..=high` for `field`, which errors name with the
/// range.
#[derive(Clone, Copy)]
struct Whole {
    field: &'static str,
    what: &'static str,
    low: u64,
    high: u64,
}

impl Whole {
    fn read<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
        self,
        deserializer: D,
    ) -> Result<T, D::Error> {
        let value = deserializer.deserialize_u64(self)?;
        T::try_from(value).map_err(|_| de::Error::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn read_option<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
        self,
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        deserializer
            .deserialize_option(Optional(self))?
            .map(|value| {
                T::try_from(value)
                    .map_err(|_| de::Error::invalid_value(Unexpected::Unsigned(value), &self))
            })
            .transpose()
    }
}

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {}..={}",
            self.field, self.what, self.low, self.high
        )
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        if (self.low..=self.high).contains(&value) {
            Ok(value)
        } else {
            Err(E::invalid_value(Unexpected::Unsigned(value), &self))
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value)
            .map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
            .and_then(|value| self.visit_u64(value))
    }
}

/// [`Whole`], or nothing (`null`).
struct Optional(Whole);

impl<'de> Visitor<'de> for Optional {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(", or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_u64(self.0).map(Some)
    }
}

/// Deserializers of number fields, each naming its field and range.
macro_rules! number_fields {
    ($($name:ident: $ty:ty = $field:literal, $what:expr, $low:expr, $high:expr;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
            Whole { field: $field, what: $what, low: $low, high: $high }.read(deserializer)
        }
    )*};
}

/// Deserializers of optional number fields, each naming its field and
/// range.
macro_rules! optional_number_fields {
    ($($name:ident: $ty:ty = $field:literal, $what:expr, $low:expr, $high:expr;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<$ty>, D::Error> {
            Whole { field: $field, what: $what, low: $low, high: $high }.read_option(deserializer)
        }
    )*};
}

const WHOLE: &str = "a whole number";
const SECONDS: &str = "whole seconds";
const MAX_WEIGHT_64: u64 = MAX_WEIGHT as u64;

number_fields! {
    weight: u32 = "weight", WHOLE, 0, MAX_WEIGHT_64;
    upper_threshold: u32 = "upper threshold", WHOLE, 0, MAX_WEIGHT_64;
    lower_threshold: u32 = "lower threshold", WHOLE, 0, MAX_WEIGHT_64;
    unknown_flags: u32 = "unknown_flags", WHOLE, 0, u32::MAX as u64;
    persistence_seconds: u64 = "persistence timeout", SECONDS, 1, MAX_PERSISTENCE_TIMEOUT.as_secs();
    sync_id: u8 = "sync id", WHOLE, 0, u8::MAX as u64;
    counter_bits: u8 = "counter_width", "32 or 64, the bits", 32, 64;
}

optional_number_fields! {
    tcp_seconds: u64 = "tcp timeout", SECONDS, 1, MAX_TIMEOUT.as_secs();
    tcp_fin_seconds: u64 = "tcp_fin timeout", SECONDS, 1, MAX_TIMEOUT.as_secs();
    udp_seconds: u64 = "udp timeout", SECONDS, 1, MAX_TIMEOUT.as_secs();
    max_len: u16 = "max len", WHOLE, 1, u16::MAX as u64;
    mcast_port: u16 = "mcast port", WHOLE, 1, u16::MAX as u64;
    mcast_ttl: u8 = "mcast ttl", WHOLE, 1, u8::MAX as u64;
}

fn persistence_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    persistence_seconds(deserializer).map(Duration::from_secs)
}

fn tcp_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    tcp_seconds(deserializer).map(|seconds| seconds.map(Duration::from_secs))
}

fn tcp_fin_timeout<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    tcp_fin_seconds(deserializer).map(|seconds| seconds.map(Duration::from_secs))
}

fn udp_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    udp_seconds(deserializer).map(|seconds| seconds.map(Duration::from_secs))
}

/// A duration as whole seconds; a fraction, which the kernel cannot keep,
/// is an error rather than rounded.
fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    if duration.subsec_nanos() != 0 {
        return Err(ser::Error::custom(format!(
            "{duration:?} is not a whole number of seconds, which IPVS keeps"
        )));
    }
    serializer.serialize_u64(duration.as_secs())
}

fn optional_seconds<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => seconds(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// An address as text (`"198.51.100.10:80"`, `"ff02::81"`), in every
/// format.
fn as_text<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn optional_as_text<T: fmt::Display, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// Reads an address for `field`.
struct Address<T> {
    field: &'static str,
    example: &'static str,
    parsed: PhantomData<T>,
}

impl<T: FromStr> Visitor<'_> for Address<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: an address such as {:?}", self.field, self.example)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse()
            .map_err(|_| E::invalid_value(Unexpected::Str(text), &self))
    }
}

fn destination_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    deserializer.deserialize_str(Address {
        field: "address",
        example: "198.51.100.10:80",
        parsed: PhantomData,
    })
}

fn mcast_group<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<IpAddr>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| {
            Address {
                field: "mcast group",
                example: "224.0.0.81",
                parsed: PhantomData,
            }
            .visit_str(&text)
        })
        .transpose()
}

/// The error of a value that breaks `problem`'s rule.
fn invalid<E: de::Error>(problem: Problem) -> E {
    E::custom(format!("invalid {}: {}", problem.field, problem.reason))
}

fn is_false(value: &bool) -> bool {
    !value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_no_stats(stats: &Stats) -> bool {
    *stats == Stats::default()
}

/// An attribute of a newer kernel (`unknown_attributes`): its type number
/// and its value as hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnknownAttributeText {
    kind: u16,
    value: String,
}

impl From<&UnknownAttribute> for UnknownAttributeText {
    fn from(attribute: &UnknownAttribute) -> Self {
        Self {
            kind: attribute.kind,
            value: attribute.value.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl UnknownAttributeText {
    fn into_attribute<E: de::Error>(self) -> Result<UnknownAttribute, E> {
        let text = self.value.as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err(E::custom(
                "unknown attribute value: an even number of hex digits",
            ));
        }
        let value = text
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| E::custom("unknown attribute value: hex digits only"))
            })
            .collect::<Result<Vec<u8>, E>>()?;
        Ok(UnknownAttribute::new(self.kind, value))
    }
}

fn unknown_attributes(attributes: &[UnknownAttribute]) -> Vec<UnknownAttributeText> {
    attributes.iter().map(UnknownAttributeText::from).collect()
}

fn into_attributes<E: de::Error>(
    attributes: Vec<UnknownAttributeText>,
) -> Result<Vec<UnknownAttribute>, E> {
    attributes
        .into_iter()
        .map(UnknownAttributeText::into_attribute)
        .collect()
}

fn default_scheduler() -> Scheduler {
    Scheduler::default()
}

fn default_persistence_timeout() -> Duration {
    DEFAULT_PERSISTENCE_TIMEOUT
}

fn default_forwarding() -> Forwarding {
    Forwarding::DirectRoute
}

fn default_weight() -> u32 {
    1
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFields {
    key: ServiceKey,
    #[serde(default = "default_scheduler")]
    scheduler: Scheduler,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    persistence: Option<PersistenceFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    persistence_engine: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    one_packet: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scheduler_flags: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "unknown_flags"
    )]
    unknown_flags: u32,
    #[serde(default, skip_serializing_if = "is_no_stats")]
    stats: Stats,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unknown_attributes: Vec<UnknownAttributeText>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersistenceFields {
    #[serde(
        default = "default_persistence_timeout",
        serialize_with = "seconds",
        deserialize_with = "persistence_timeout"
    )]
    timeout: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netmask: Option<PersistenceNetmask>,
}

impl Serialize for Service {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ServiceFields {
            key: self.key,
            scheduler: self.scheduler.clone(),
            persistence: self.persistence.map(|p| PersistenceFields {
                timeout: p.timeout,
                netmask: p.netmask,
            }),
            persistence_engine: self.persistence_engine.clone(),
            one_packet: self.one_packet,
            scheduler_flags: self.scheduler_flags_text().unwrap_or_default(),
            unknown_flags: self.unknown_flags,
            stats: self.stats,
            unknown_attributes: unknown_attributes(&self.unknown_attributes),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = ServiceFields::deserialize(deserializer)?;
        let family = fields.key.family();
        let scheduler_flags = if fields.scheduler_flags.is_empty() {
            Default::default()
        } else {
            parse_scheduler_flags(&fields.scheduler_flags, &fields.scheduler).map_err(invalid)?
        };
        let mut service = Service::new(fields.key, fields.scheduler)
            .with_scheduler_flags(scheduler_flags)
            .with_one_packet(fields.one_packet);
        service.persistence = fields.persistence.map(|p| Persistence {
            timeout: p.timeout,
            // A host mask is no mask, as the kernel reads it back.
            netmask: p
                .netmask
                .filter(|mask| *mask != PersistenceNetmask::host(family)),
        });
        service.persistence_engine = fields.persistence_engine;
        service.unknown_flags = fields.unknown_flags;
        service.stats = fields.stats;
        service.unknown_attributes = into_attributes(fields.unknown_attributes)?;
        service.check_kernel_limits().map_err(invalid)?;
        Ok(service)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationFields {
    #[serde(serialize_with = "as_text", deserialize_with = "destination_address")]
    addr: SocketAddr,
    #[serde(default = "default_forwarding")]
    forwarding: Forwarding,
    #[serde(default = "default_weight", deserialize_with = "weight")]
    weight: u32,
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "upper_threshold"
    )]
    upper_threshold: u32,
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "lower_threshold"
    )]
    lower_threshold: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    active_connections: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    inactive_connections: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    persistent_connections: u32,
    #[serde(default, skip_serializing_if = "is_no_stats")]
    stats: Stats,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unknown_attributes: Vec<UnknownAttributeText>,
}

impl Serialize for Destination {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DestinationFields {
            addr: self.addr,
            forwarding: self.forwarding,
            weight: self.weight,
            upper_threshold: self.upper_threshold,
            lower_threshold: self.lower_threshold,
            active_connections: self.active_connections,
            inactive_connections: self.inactive_connections,
            persistent_connections: self.persistent_connections,
            stats: self.stats,
            unknown_attributes: unknown_attributes(&self.unknown_attributes),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = DestinationFields::deserialize(deserializer)?;
        let mut dest = Destination::new(fields.addr, fields.forwarding)
            .with_weight(fields.weight)
            .with_thresholds(fields.upper_threshold, fields.lower_threshold);
        dest.active_connections = fields.active_connections;
        dest.inactive_connections = fields.inactive_connections;
        dest.persistent_connections = fields.persistent_connections;
        dest.stats = fields.stats;
        dest.unknown_attributes = into_attributes(fields.unknown_attributes)?;
        dest.check_kernel_limits().map_err(invalid)?;
        Ok(dest)
    }
}

/// The bits of the connection and packet counters: 32 or 64.
impl Serialize for CounterWidth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(match self {
            CounterWidth::Bits64 => 64,
            CounterWidth::Bits32 => 32,
        })
    }
}

impl<'de> Deserialize<'de> for CounterWidth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match counter_bits(deserializer)? {
            64 => Ok(CounterWidth::Bits64),
            32 => Ok(CounterWidth::Bits32),
            bits => Err(de::Error::invalid_value(
                Unexpected::Unsigned(bits.into()),
                &"counter_width: 32 or 64, the bits",
            )),
        }
    }
}

fn is_64_bits(width: &CounterWidth) -> bool {
    *width == CounterWidth::Bits64
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StatsFields {
    connections: u64,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    connections_per_second: u64,
    packets_in_per_second: u64,
    packets_out_per_second: u64,
    bytes_in_per_second: u64,
    bytes_out_per_second: u64,
    #[serde(skip_serializing_if = "is_64_bits")]
    counter_width: CounterWidth,
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StatsFields {
            connections: self.connections,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            connections_per_second: self.connections_per_second,
            packets_in_per_second: self.packets_in_per_second,
            packets_out_per_second: self.packets_out_per_second,
            bytes_in_per_second: self.bytes_in_per_second,
            bytes_out_per_second: self.bytes_out_per_second,
            counter_width: self.counter_width,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Stats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = StatsFields::deserialize(deserializer)?;
        if f.counter_width == CounterWidth::Bits32 {
            // What IPVS_*_ATTR_STATS carries in 32 bits.
            for (field, value) in [
                ("connections", f.connections),
                ("packets_in", f.packets_in),
                ("packets_out", f.packets_out),
                ("connections_per_second", f.connections_per_second),
                ("packets_in_per_second", f.packets_in_per_second),
                ("packets_out_per_second", f.packets_out_per_second),
                ("bytes_in_per_second", f.bytes_in_per_second),
                ("bytes_out_per_second", f.bytes_out_per_second),
            ] {
                if value > u64::from(u32::MAX) {
                    return Err(invalid(Problem::new(
                        field,
                        format!("{value} does not fit the 32 bits of counter_width 32"),
                    )));
                }
            }
        }
        Ok(Stats {
            connections: f.connections,
            packets_in: f.packets_in,
            packets_out: f.packets_out,
            bytes_in: f.bytes_in,
            bytes_out: f.bytes_out,
            connections_per_second: f.connections_per_second,
            packets_in_per_second: f.packets_in_per_second,
            packets_out_per_second: f.packets_out_per_second,
            bytes_in_per_second: f.bytes_in_per_second,
            bytes_out_per_second: f.bytes_out_per_second,
            counter_width: f.counter_width,
        })
    }
}

#[derive(Serialize)]
struct ServiceStateRef<'a> {
    service: &'a Service,
    destinations: &'a [Destination],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceStateFields {
    service: Service,
    #[serde(default)]
    destinations: Vec<Destination>,
}

/// `{"service": {...}, "destinations": [...]}`; the destinations may be
/// left out.
impl Serialize for ServiceState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ServiceStateRef {
            service: &self.service,
            destinations: &self.destinations,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ServiceState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = ServiceStateFields::deserialize(deserializer)?;
        let mut state = ServiceState::new(fields.service);
        state.destinations = fields.destinations;
        Ok(state)
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    services: &'a [ServiceState],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFields {
    #[serde(default)]
    services: Vec<ServiceState>,
}

/// `{"services": [...]}`.
impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            services: &self.services,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Snapshot::from(
            SnapshotFields::deserialize(deserializer)?.services,
        ))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsFields {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_seconds",
        deserialize_with = "tcp_timeout"
    )]
    tcp: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_seconds",
        deserialize_with = "tcp_fin_timeout"
    )]
    tcp_fin: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_seconds",
        deserialize_with = "udp_timeout"
    )]
    udp: Option<Duration>,
}

/// `{"tcp": 900, "tcp_fin": 120, "udp": 300}` in whole seconds; a timeout
/// left out is `None`.
impl Serialize for Timeouts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TimeoutsFields {
            tcp: self.tcp,
            tcp_fin: self.tcp_fin,
            udp: self.udp,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Timeouts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = TimeoutsFields::deserialize(deserializer)?;
        Ok(Timeouts::new(fields.tcp, fields.tcp_fin, fields.udp))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncDaemonFields {
    role: DaemonRole,
    interface: String,
    #[serde(default, deserialize_with = "sync_id")]
    sync_id: u8,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "max_len"
    )]
    max_len: Option<u16>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_as_text",
        deserialize_with = "mcast_group"
    )]
    mcast_group: Option<IpAddr>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "mcast_port"
    )]
    mcast_port: Option<u16>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "mcast_ttl"
    )]
    mcast_ttl: Option<u8>,
}

/// `{"role": "backup", "interface": "eth0", "sync_id": 9, ...}`, the
/// optional settings left out when unset.
impl Serialize for SyncDaemon {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SyncDaemonFields {
            role: self.role,
            interface: self.interface.clone(),
            sync_id: self.sync_id,
            max_len: self.max_len,
            mcast_group: self.mcast_group,
            mcast_port: self.mcast_port,
            mcast_ttl: self.mcast_ttl,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SyncDaemon {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = SyncDaemonFields::deserialize(deserializer)?;
        let mut daemon = SyncDaemon::new(f.role, f.interface, f.sync_id);
        daemon.max_len = f.max_len;
        daemon.mcast_group = f.mcast_group;
        daemon.mcast_port = f.mcast_port;
        daemon.mcast_ttl = f.mcast_ttl;
        daemon.validate().map_err(de::Error::custom)?;
        Ok(daemon)
    }
}
