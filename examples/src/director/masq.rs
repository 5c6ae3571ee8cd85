// SPDX-License-Identifier: MIT OR Apache-2.0
//! Masquerading the real servers' own outbound traffic through nftables,
//! the modern form of the document's
//! `iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE`:
//!
//! ```text
//! nft add table ip ipvs_rs_nat
//! nft add chain ip ipvs_rs_nat postrouting '{ type nat hook postrouting priority 100; }'
//! nft add rule ip ipvs_rs_nat postrouting ip saddr 192.168.0.0/24 oifname "eth0" masquerade
//! ```
//!
//! (LVS-NAT itself needs no rule: IPVS rewrites the replies of the
//! connections it balanced. The rule is for connections the real servers
//! open themselves.)
//!
//! Why the `nftables` crate: it builds the ruleset as typed Rust values
//! and hands it to libnftables through `nft -j -f -` in one transaction.
//! The pure-Rust netlink alternatives were checked and do not fit:
//! `rustables` (the only maintained pure-netlink nf_tables crate) is
//! GPL-3.0-or-later, which this MIT OR Apache-2.0 workspace cannot take,
//! and needs bindgen/libclang at build time; `nftnl` binds the C library
//! libnftnl (FFI). Needs `nft` (package nftables) on the host, and
//! CAP_NET_ADMIN.

use std::borrow::Cow;
use std::net::IpAddr;

use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainType, NfFamily, NfHook};

/// The table this module owns (one per family).
pub const TABLE: &str = "ipvs_rs_nat";

/// The ruleset that masquerades traffic from `source` (a prefix, if any)
/// leaving through `out_iface`. Re-applying it replaces the previous rule.
pub fn ruleset(out_iface: &str, source: Option<(IpAddr, u8)>) -> Nftables<'static> {
    let ipv6 = source.is_some_and(|(a, _)| a.is_ipv6());
    let family = if ipv6 { NfFamily::IP6 } else { NfFamily::IP };
    let table = Table {
        family,
        name: TABLE.into(),
        ..Default::default()
    };
    let chain = Chain {
        family,
        table: TABLE.into(),
        name: "postrouting".into(),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        prio: Some(100),
        ..Default::default()
    };
    let mut expr = Vec::new();
    if let Some((addr, len)) = source {
        expr.push(Statement::Match(Match {
            left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                PayloadField {
                    protocol: Cow::Borrowed(if ipv6 { "ip6" } else { "ip" }),
                    field: Cow::Borrowed("saddr"),
                },
            ))),
            right: Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(Expression::String(addr.to_string().into())),
                len: u32::from(len),
            })),
            op: Operator::EQ,
        }));
    }
    expr.push(Statement::Match(Match {
        left: Expression::Named(NamedExpression::Meta(Meta {
            key: MetaKey::Oifname,
        })),
        right: Expression::String(out_iface.to_string().into()),
        op: Operator::EQ,
    }));
    expr.push(Statement::Masquerade(None));
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table.clone()));
    batch.add_cmd(NfCmd::Flush(FlushObject::Table(table)));
    batch.add(NfListObject::Chain(chain));
    batch.add(NfListObject::Rule(Rule {
        family,
        table: TABLE.into(),
        chain: "postrouting".into(),
        expr: expr.into(),
        ..Default::default()
    }));
    batch.to_nftables()
}

/// Installs the masquerading rule (see [`ruleset`]).
pub fn masquerade(out_iface: &str, source: Option<(IpAddr, u8)>) -> Result<(), String> {
    if out_iface.is_empty() || out_iface.len() > 15 {
        return Err(format!(
            "out interface {out_iface:?}: an interface name has 1..15 characters"
        ));
    }
    nftables::helper::apply_ruleset(&ruleset(out_iface, source))
        .map_err(|e| format!("applying the nftables masquerade rule (nft -j): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_is_the_documented_rule() {
        let json =
            serde_json::to_string(&ruleset("eth0", Some(("192.168.0.0".parse().unwrap(), 24))))
                .unwrap();
        for needle in [
            r#"{"add":{"table":{"family":"ip","name":"ipvs_rs_nat"}}}"#,
            r#"{"flush":{"table":{"family":"ip","name":"ipvs_rs_nat"}}}"#,
            r#""type":"nat","hook":"postrouting","prio":100"#,
            r#"{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"192.168.0.0","len":24}},"op":"=="}}"#,
            r#"{"match":{"left":{"meta":{"key":"oifname"}},"right":"eth0","op":"=="}}"#,
            r#"{"masquerade":null}"#,
        ] {
            assert!(json.contains(needle), "{needle} missing in {json}");
        }
    }
}
