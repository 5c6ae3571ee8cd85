// SPDX-License-Identifier: MIT OR Apache-2.0
//! A scoped plan ([`ipvs::Scope`]) touches only the services it owns: it is
//! pure (`Plan::new` over a table read elsewhere), so no kernel is needed.

use ipvs::{
    ApplyOptions, Destination, Error, Forwarding, Plan, Scheduler, Scope, Service, ServiceKey,
    ServiceState, Snapshot, Step,
};

fn key(text: &str) -> ServiceKey {
    text.parse().unwrap()
}

fn state(k: &str, dests: &[&str]) -> ServiceState {
    dests.iter().fold(
        ServiceState::new(Service::new(key(k), Scheduler::RoundRobin)),
        |s, d| s.with_destination(Destination::new(d.parse().unwrap(), Forwarding::Masquerade)),
    )
}

/// The kernel's table: two services of ours, two of another owner's.
fn table() -> Snapshot {
    Snapshot::from(vec![
        state("tcp:203.0.113.1:80", &["198.51.100.1:80"]),
        state("tcp:203.0.113.1:443", &["198.51.100.1:443"]),
        state("tcp:192.0.2.9:80", &["198.51.100.9:80"]),
        state("udp:192.0.2.9:53", &[]),
    ])
}

fn ours() -> Scope {
    Scope::owned([key("tcp:203.0.113.1:80"), key("tcp:203.0.113.1:443")])
}

/// The keys each step is about.
fn touched(plan: &Plan) -> Vec<String> {
    plan.steps()
        .iter()
        .map(|step| match step {
            Step::AddService(s) => s.key.to_string(),
            Step::UpdateService { to, .. } => to.key.to_string(),
            Step::DeleteService(s) => s.service.key.to_string(),
            Step::AddDestination { service, .. }
            | Step::UpdateDestination { service, .. }
            | Step::DeleteDestination { service, .. } => service.to_string(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn an_owned_scope_reconciles_its_services_and_leaves_the_others() {
    // Desired: 80 gains a destination, 443 goes, 8080 is new.
    let desired = vec![
        state(
            "tcp:203.0.113.1:80",
            &["198.51.100.1:80", "198.51.100.2:80"],
        ),
        state("tcp:203.0.113.1:8080", &["198.51.100.1:8080"]),
    ];
    let options = ApplyOptions::default().with_scope(ours());
    let plan = Plan::new(&table(), &desired, &options).unwrap();
    print!("{plan}");
    let mut keys = touched(&plan);
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys,
        [
            "tcp:203.0.113.1:443",
            "tcp:203.0.113.1:80",
            "tcp:203.0.113.1:8080"
        ],
        "nothing of 192.0.2.9's services"
    );
    assert!(plan.steps().iter().any(
        |s| matches!(s, Step::DeleteService(d) if d.service.key == key("tcp:203.0.113.1:443"))
    ));
    // The whole-table apply would have deleted the other owner's services.
    let everything = Plan::new(&table(), &desired, &ApplyOptions::default()).unwrap();
    assert!(touched(&everything).contains(&"tcp:192.0.2.9:80".to_owned()));
}

#[test]
fn a_desired_service_that_is_another_owners_is_refused_not_taken_over() {
    let desired = vec![
        state("tcp:203.0.113.1:80", &["198.51.100.1:80"]),
        state("tcp:192.0.2.9:80", &["198.51.100.7:80"]),
    ];
    let options = ApplyOptions::default().with_scope(ours());
    let err = Plan::new(&table(), &desired, &options).unwrap_err();
    assert!(
        matches!(err, Error::ForeignService { service } if service == key("tcp:192.0.2.9:80")),
        "{err:?}"
    );
    assert!(err.to_string().contains("not taken over"), "{err}");
}

#[test]
fn a_matching_scope_owns_by_key_and_refuses_desired_services_outside_it() {
    let vip: std::net::IpAddr = "203.0.113.1".parse().unwrap();
    let scope = Scope::matching(
        move |k: &ServiceKey| matches!(k, ServiceKey::Addr { addr, .. } if addr.ip() == vip),
    );
    let options = ApplyOptions::default().with_scope(scope);
    let plan = Plan::new(
        &table(),
        &[state("tcp:203.0.113.1:80", &["198.51.100.1:80"])],
        &options,
    )
    .unwrap();
    assert_eq!(
        touched(&plan),
        ["tcp:203.0.113.1:443"],
        "only the owned service not desired goes"
    );
    let err = Plan::new(&table(), &[state("tcp:192.0.2.1:80", &[])], &options).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                field: "desired services",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn drain_works_within_a_scope_and_never_on_another_owners_destinations() {
    let mut current = table();
    for s in &mut current.services {
        for d in &mut s.destinations {
            d.active_connections = 3;
        }
    }
    // Nothing desired: our services go, but their busy destinations drain.
    let options = ApplyOptions::default().with_drain(true).with_scope(ours());
    let plan = Plan::new(&current, &[], &options).unwrap();
    let mut draining: Vec<String> = plan.draining().iter().map(|(k, _)| k.to_string()).collect();
    draining.sort();
    assert_eq!(draining, ["tcp:203.0.113.1:443", "tcp:203.0.113.1:80"]);
    assert!(
        plan.steps()
            .iter()
            .all(|s| matches!(s, Step::UpdateDestination { to, .. } if to.weight == 0))
    );
}

#[test]
fn a_scope_compares_by_its_keys_or_by_its_predicate() {
    assert_eq!(ours(), ours());
    assert_ne!(ours(), Scope::All);
    let predicate = Scope::matching(|_| true);
    assert_eq!(predicate, predicate.clone());
    assert_ne!(predicate, Scope::matching(|_| true));
    assert!(Scope::default().owns(&key("udp:192.0.2.9:53")));
}
