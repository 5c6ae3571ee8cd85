// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `serde` feature: every value the kernel can hold survives a trip
//! through JSON, reading refuses invalid values naming the field and the
//! limit, and no input makes it panic.
#![cfg(feature = "serde")]

mod values;

use std::collections::HashSet;
use std::time::Duration;

use ipvs::{
    ApplyOptions, Destination, Plan, Service, ServiceKey, ServiceState, Snapshot, Stats,
    SyncDaemon, Timeouts,
};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use values::*;

/// `value` written as JSON and read back.
fn json_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, value, "{}", text);
    Ok(())
}

/// The valid part of `states`, as a desired state [`Plan::new`] takes:
/// services that validate, once each, with the destinations that validate
/// for them, once each.
fn valid_desired(states: Vec<ServiceState>) -> Vec<ServiceState> {
    let mut keys = HashSet::new();
    states
        .into_iter()
        .filter(|s| s.service.validate().is_ok() && keys.insert(s.service.key))
        .map(|mut s| {
            let key = s.service.key;
            let mut addrs = HashSet::new();
            s.destinations
                .retain(|d| d.validate_for(&key).is_ok() && addrs.insert(d.addr));
            s
        })
        .collect()
}

/// The error of reading `json` as a `T`.
fn error<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
    serde_json::from_str::<T>(json)
        .map(|v| panic!("{json} read as {v:?}"))
        .unwrap_err()
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn keys_round_trip(key in key()) {
        json_round_trip(&key)?;
    }

    #[test]
    fn services_round_trip(service in read_service()) {
        json_round_trip(&service)?;
    }

    #[test]
    fn destinations_round_trip(dest in read_destination()) {
        json_round_trip(&dest)?;
    }

    #[test]
    fn stats_round_trip(stats in stats()) {
        json_round_trip(&stats)?;
    }

    #[test]
    fn timeouts_round_trip(timeouts in timeouts()) {
        json_round_trip(&timeouts)?;
    }

    #[test]
    fn daemons_round_trip(daemon in daemon()) {
        json_round_trip(&daemon)?;
    }

    #[test]
    fn snapshots_round_trip(snapshot in snapshot()) {
        json_round_trip(&snapshot)?;
    }

    #[test]
    fn plans_round_trip(current in snapshot(), desired in snapshot(), drain in any::<bool>()) {
        let desired = valid_desired(desired.services);
        let plan = Plan::new(&current, &desired, &ApplyOptions::default().with_drain(drain))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        json_round_trip(&plan)?;
    }

    #[test]
    fn no_text_makes_reading_panic(text in any::<String>()) {
        let _ = serde_json::from_str::<Snapshot>(&text);
        let _ = serde_json::from_str::<Plan>(&text);
        let _ = serde_json::from_str::<Timeouts>(&text);
        let _ = serde_json::from_str::<SyncDaemon>(&text);
    }

    #[test]
    fn no_edit_of_a_snapshot_makes_reading_panic(
        snapshot in snapshot(),
        at in any::<prop::sample::Index>(),
        insert in prop::sample::select(vec![
            "", "-", "0", "-1", "1.5", "4294967296", "\"", "null", "[]", "{}", ",", "}",
            "\"tcp:", "\"-i --tun-type gue\"", "99999999999999999999",
        ]),
        cut in 0usize..4,
    ) {
        let text = serde_json::to_string(&snapshot).unwrap();
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let end = (at + cut).min(text.len());
        let end = (end..=text.len()).find(|&e| text.is_char_boundary(e)).unwrap_or(text.len());
        let edited = format!("{}{insert}{}", &text[..at], &text[end..]);
        if let Ok(read) = serde_json::from_str::<Snapshot>(&edited) {
            // Whatever reads is a table that writes and reads back.
            json_round_trip(&read)?;
        }
    }
}

#[test]
fn invalid_values_are_refused_naming_the_field_and_the_limit() {
    let dest = |fields: &str| format!(r#"{{ "addr": "198.51.100.10:80", {fields} }}"#);
    for (json, expected) in [
        (
            dest(r#""weight": 2147483648"#),
            "expected weight: a whole number of 0..=2147483647",
        ),
        (
            dest(r#""weight": -1"#),
            "expected weight: a whole number of 0..=2147483647",
        ),
        (
            dest(r#""weight": "3""#),
            "expected weight: a whole number of 0..=2147483647",
        ),
        (
            dest(r#""upper_threshold": 10, "lower_threshold": 11"#),
            "invalid lower threshold: 11 exceeds the upper threshold 10",
        ),
        (
            dest(r#""forwarding": "-i --tun-type gue""#),
            "tunnel port: GUE needs --tun-port of 1..=65535",
        ),
        (dest(r#""wieght": 3"#), "unknown field `wieght`"),
        (
            r#"{ "addr": "224.0.0.1:80" }"#.to_owned(),
            "invalid address: 224.0.0.1 is not a unicast address",
        ),
        (
            r#"{ "addr": "198.51.100.10" }"#.to_owned(),
            "expected address: an address such as \"198.51.100.10:80\"",
        ),
    ] {
        let err = error::<Destination>(&json);
        assert!(err.contains(expected), "{json}: {err}");
    }

    let service = |fields: &str| format!(r#"{{ "key": "tcp:203.0.113.1:80", {fields} }}"#);
    for (json, expected) in [
        (
            service(r#""persistence": { "timeout": 0 }"#),
            "expected persistence timeout: whole seconds of 1..=4294967",
        ),
        (
            service(r#""persistence": { "timeout": 4294968 }"#),
            "expected persistence timeout: whole seconds of 1..=4294967",
        ),
        (
            service(r#""persistence": { "timeout": 1.5 }"#),
            "expected persistence timeout: whole seconds of 1..=4294967",
        ),
        (
            service(r#""persistence": { "timeout": 60, "netmask": 64 }"#),
            "invalid persistence netmask: 64 is not a netmask of the Ipv4 service",
        ),
        (
            service(r#""scheduler": "sixteen_bytes_xx""#),
            "scheduler: \"sixteen_bytes_xx\" is 16 bytes, the kernel allows at most 15",
        ),
        (
            service(r#""scheduler": "rr", "scheduler_flags": "sh-port""#),
            "invalid scheduler flags: \"sh-port\" is not a flag of scheduler rr",
        ),
        (
            service(r#""unknown_flags": 1"#),
            "invalid unknown_flags: 0x1 carries bits that have fields of their own",
        ),
        (
            r#"{ "key": "tcp:203.0.113.1" }"#.to_owned(),
            "address: \"203.0.113.1\" is not ADDR:PORT",
        ),
        (
            r#"{ "key": "fwmark:0" }"#.to_owned(),
            "fwmark: \"0\" is not a mark",
        ),
        (r#"{ "scheduler": "rr" }"#.to_owned(), "missing field `key`"),
    ] {
        let err = error::<Service>(&json);
        assert!(err.contains(expected), "{json}: {err}");
    }

    for (json, expected) in [
        (
            r#"{ "udp": 2147484 }"#,
            "expected udp timeout: whole seconds of 1..=2147483",
        ),
        (
            r#"{ "tcp_fin": 0 }"#,
            "expected tcp_fin timeout: whole seconds of 1..=2147483",
        ),
    ] {
        let err = error::<Timeouts>(json);
        assert!(err.contains(expected), "{json}: {err}");
    }

    for (json, expected) in [
        (
            r#"{ "role": "leader", "interface": "eth0" }"#,
            "role: expected master or backup",
        ),
        (
            r#"{ "role": "master", "interface": "eth0", "sync_id": 256 }"#,
            "expected sync id: a whole number of 0..=255",
        ),
        (
            r#"{ "role": "master", "interface": "eth0", "mcast_group": "192.0.2.1" }"#,
            "invalid mcast group: 192.0.2.1 is not a multicast address",
        ),
        (
            r#"{ "role": "master", "interface": "sixteen_bytes_xx" }"#,
            "invalid interface",
        ),
    ] {
        let err = error::<SyncDaemon>(json);
        assert!(err.contains(expected), "{json}: {err}");
    }

    let err = error::<Stats>(r#"{ "connections": 4294967296, "counter_width": 32 }"#);
    assert!(
        err.contains("invalid connections: 4294967296 does not fit the 32 bits"),
        "{err}"
    );
    let err = error::<Stats>(r#"{ "counter_width": 48 }"#);
    assert!(err.contains("counter_width: 32 or 64"), "{err}");
}

#[test]
fn a_desired_state_file_reads_with_ipvsadm_defaults() {
    let state: ServiceState = serde_json::from_str(
        r#"{ "service": { "key": "fwmark6:7", "persistence": {} },
             "destinations": [ { "addr": "[2001:db8::10]:0" } ] }"#,
    )
    .unwrap();
    assert_eq!(state.service.to_string(), "-A -f 7 -6 -s wlc -p 360");
    assert_eq!(
        state.destinations[0].to_string(),
        "-r [2001:db8::10]:0 -g -w 1"
    );
    // A service without destinations may leave them out.
    let bare: ServiceState =
        serde_json::from_str(r#"{ "service": { "key": "udp:192.0.2.1:53" } }"#).unwrap();
    assert!(bare.destinations.is_empty());
    assert_eq!(
        bare.service.key,
        "udp:192.0.2.1:53".parse::<ServiceKey>().unwrap()
    );
}

#[test]
fn a_plan_reads_as_its_steps() {
    let current = Snapshot::default();
    let desired: Vec<ServiceState> = serde_json::from_str(
        r#"[{ "service": { "key": "tcp:203.0.113.1:80", "scheduler": "rr" },
              "destinations": [ { "addr": "198.51.100.10:80", "forwarding": "-m" } ] }]"#,
    )
    .unwrap();
    let plan = Plan::new(&current, &desired, &ApplyOptions::default()).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "steps": [
                { "add_service": { "key": "tcp:203.0.113.1:80", "scheduler": "rr" } },
                { "add_destination": {
                    "service": "tcp:203.0.113.1:80",
                    "destination": { "addr": "198.51.100.10:80", "forwarding": "-m", "weight": 1 }
                } }
            ],
            "draining": []
        })
    );
}

#[test]
fn a_duration_the_kernel_cannot_keep_is_not_written() {
    let timeouts = Timeouts::default().with_tcp(Duration::from_millis(1500));
    let err = serde_json::to_string(&timeouts).unwrap_err().to_string();
    assert!(
        err.contains("1.5s is not a whole number of seconds"),
        "{err}"
    );
}
