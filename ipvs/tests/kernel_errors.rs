// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel tests (run in the lab VM by `cargo xtask test`): errors the kernel
//! answers are named by what they are about.

use ipvs::{DaemonRole, Error, Ipvs, SyncDaemon};
use ipvs_lab::in_netns;

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn a_sync_daemon_on_a_missing_interface_is_no_such_interface() {
    in_netns(|| {
        let ipvs = Ipvs::new().unwrap();
        let daemon = SyncDaemon::new(DaemonRole::Master, "ipvsrs-none0", 1);
        let err = ipvs.start_daemon(&daemon).unwrap_err();
        assert!(matches!(err, Error::NoSuchInterface { .. }), "{err:?}");
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENODEV));
        assert!(ipvs.daemons().unwrap().is_empty());
    });
}
