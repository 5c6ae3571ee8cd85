// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests of the lab itself: IPVS is really there, and every test gets a
//! network namespace of its own (IPVS state is per namespace).

use ipvs_lab::{in_netns, sh};

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn ipvs_is_loaded_and_reports_its_version() {
    let header = in_netns(|| sh("head -n1 /proc/net/ip_vs"));
    assert!(
        header.starts_with("IP Virtual Server version 1.2.1 (size="),
        "unexpected /proc/net/ip_vs header: {header:?}"
    );
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn each_test_sees_only_its_own_namespace() {
    // Two namespaces one after the other on fresh threads: the second must not
    // see the service the first added.
    let first = in_netns(|| {
        sh("ipvsadm -A -t 192.0.2.10:80 -s rr");
        sh("ipvsadm -S -n")
    });
    assert!(
        first.contains("-A -t 192.0.2.10:80 -s rr"),
        "service not added: {first}"
    );
    let second = in_netns(|| sh("ipvsadm -S -n"));
    assert_eq!(
        second.trim(),
        "",
        "a fresh namespace must start with no services"
    );
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn the_caller_thread_keeps_its_namespace() {
    let inode = |p: &str| std::fs::read_link(p).expect("readlink netns");
    let before = inode("/proc/thread-self/ns/net");
    let inside = in_netns(move || inode("/proc/thread-self/ns/net"));
    assert_ne!(before, inside, "the test body must run in a new namespace");
    assert_eq!(
        before,
        inode("/proc/thread-self/ns/net"),
        "the caller must not move"
    );
}
