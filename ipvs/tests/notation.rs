// SPDX-License-Identifier: MIT OR Apache-2.0
//! The ipvsadm notation read back: `parse(display(x)) == x` for every
//! service, destination, forwarding and key the kernel can hold, and no
//! input, however malformed, makes a parser panic; what parses prints
//! back to itself.

mod values;

use ipvs::{Destination, Forwarding, ParseError, PersistenceNetmask, Service, ServiceKey};
use proptest::prelude::*;
use values::*;

/// Words of the notation and values near its limits, for inputs that get
/// past the first word.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "-A",
            "-t",
            "-u",
            "--sctp-service",
            "--protocol-41",
            "-f",
            "-6",
            "-s",
            "rr",
            "sh",
            "mh",
            "-p",
            "-M",
            "--pe",
            "sip",
            "-o",
            "-b",
            "sh-port",
            "flag-1,flag-3",
            "mh-fallback",
            "--svc-flags",
            "-r",
            "-m",
            "-g",
            "-i",
            "--local-node",
            "--fwd-method",
            "--tun-type",
            "ipip",
            "gue",
            "gre",
            "--tun-port",
            "--tun-nocsum",
            "--tun-csum",
            "--tun-remcsum",
            "--tun-flags",
            "-w",
            "-x",
            "-y",
            "0",
            "1",
            "3",
            "64",
            "128",
            "129",
            "360",
            "65535",
            "65536",
            "2147483647",
            "2147483648",
            "4294967",
            "4294967295",
            "4294967296",
            "-1",
            "255.255.255.0",
            "192.0.2.1:80",
            "[2001:db8::1]:443",
            "224.0.0.1:80",
            "0.0.0.0:1",
            "192.0.2.1",
            "tcp:192.0.2.1:80",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// A line of `words`.
fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..12).prop_map(|words| words.join(" "))
}

/// Parsing `text` never panics; when it succeeds, the value prints as
/// text that parses back to it, and a failure names a field.
fn parses_stably<T>(text: &str) -> Result<(), TestCaseError>
where
    T: std::str::FromStr<Err = ParseError> + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    match text.parse::<T>() {
        Ok(value) => {
            let again = value.to_string();
            prop_assert_eq!(
                again.parse::<T>().ok(),
                Some(value),
                "{:?} -> {:?}",
                text,
                again
            );
        }
        Err(e) => {
            prop_assert!(!e.field().is_empty());
            prop_assert!(!e.reason().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn keys_read_back(key in key()) {
        prop_assert_eq!(key.to_string().parse::<ServiceKey>(), Ok(key));
    }

    #[test]
    fn services_read_back(service in service()) {
        let text = service.to_string();
        prop_assert_eq!(text.parse::<Service>(), Ok(service), "{}", text);
    }

    #[test]
    fn destinations_read_back(dest in destination()) {
        let text = dest.to_string();
        prop_assert_eq!(text.parse::<Destination>(), Ok(dest), "{}", text);
    }

    #[test]
    fn forwarding_reads_back(forwarding in forwarding()) {
        prop_assert_eq!(forwarding.to_string().parse::<Forwarding>(), Ok(forwarding));
    }

    #[test]
    fn netmasks_read_back(mask in prop_oneof![
        any::<u32>().prop_map(|m| PersistenceNetmask::Ipv4(m.into())),
        (1u8..=128).prop_map(PersistenceNetmask::Ipv6),
    ]) {
        prop_assert_eq!(mask.to_string().parse::<PersistenceNetmask>(), Ok(mask));
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parses_stably::<ServiceKey>(&text)?;
        parses_stably::<Service>(&text)?;
        parses_stably::<Destination>(&text)?;
        parses_stably::<Forwarding>(&text)?;
        parses_stably::<PersistenceNetmask>(&text)?;
    }

    #[test]
    fn near_miss_lines_never_panic_and_what_parses_is_stable(text in line()) {
        parses_stably::<Service>(&text)?;
        parses_stably::<Service>(&format!("-A -t 192.0.2.1:80 {text}"))?;
        parses_stably::<Destination>(&text)?;
        parses_stably::<Destination>(&format!("-r 192.0.2.1:80 {text}"))?;
        parses_stably::<Forwarding>(&text)?;
    }
}
