// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kernel test: what a handle says when IPVS is not (or no longer) in the
//! kernel. It unloads the `ip_vs` modules and blocks their auto-loading for
//! a moment, so it lives in its own test binary: `cargo xtask test` runs the
//! kernel binaries one after another, so nothing else uses IPVS meanwhile.
//! It restores both before returning, even when it fails.

use ipvs::{Error, Ipvs, Scheduler, Service, ServiceKey};
use ipvs_lab::{enter_new_netns, in_lab, sh, sh_output};

const MODPROBE_PATH: &str = "/proc/sys/kernel/modprobe";

/// Puts the kernel's module loader and `ip_vs` back on drop.
struct Restore {
    modprobe: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(MODPROBE_PATH, &self.modprobe);
        let _ = sh_output("modprobe ip_vs");
    }
}

/// Unloads every `ip_vs*` module (schedulers and engines first).
fn unload_ipvs() {
    for _ in 0..50 {
        let out = sh_output(
            "for m in $(awk '$1 ~ /^ip_vs_/ {print $1}' /proc/modules); do rmmod $m; done; \
             grep -q '^ip_vs ' /proc/modules && rmmod ip_vs; ! grep -q '^ip_vs' /proc/modules",
        );
        if out.status.success() {
            return;
        }
        // Namespaces of earlier tests may still be dismantling their tables.
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!(
        "cannot unload ip_vs: {}",
        sh("grep ^ip_vs /proc/modules || true")
    );
}

#[test]
#[ignore = "kernel test: cargo xtask test runs it in the lab VM"]
fn missing_module_is_ipvs_unavailable_and_a_stale_family_is_re_resolved() {
    assert!(
        in_lab(),
        "kernel tests run inside the lab VM: use `cargo xtask test`"
    );
    let body = std::thread::spawn(|| {
        enter_new_netns();
        sh("modprobe ip_vs");
        let restore = Restore {
            modprobe: std::fs::read_to_string(MODPROBE_PATH)
                .unwrap()
                .trim()
                .to_owned(),
        };
        let key: ServiceKey = "tcp:192.0.2.1:80".parse().unwrap();

        // A handle opened while IPVS is there...
        let ipvs = Ipvs::new().expect("IPVS loaded");
        let old_id = ipvs.family().unwrap().id;
        assert!(ipvs.services().unwrap().is_empty());

        // ...then the module goes away and cannot come back: the stale family
        // id gets ENOENT, re-resolution finds no family, and the call says so.
        unload_ipvs();
        std::fs::write(MODPROBE_PATH, "/bin/false").unwrap();
        let err = ipvs.services().unwrap_err();
        assert!(matches!(err, Error::IpvsUnavailable), "{err:?}");
        assert!(err.to_string().contains("modprobe ip_vs"), "{err}");
        // A new handle fails up front, not at its first use.
        assert!(matches!(Ipvs::new(), Err(Error::IpvsUnavailable)));

        // The module comes back (maybe under another id): the same handle
        // re-resolves and works again.
        std::fs::write(MODPROBE_PATH, &restore.modprobe).unwrap();
        sh("modprobe ip_vs");
        ipvs.add_service(&Service::new(key, Scheduler::RoundRobin))
            .expect("works after reload");
        assert_eq!(ipvs.services().unwrap()[0].key, key);
        let new_id = ipvs.family().unwrap().id;
        eprintln!("IPVS family id {old_id:#x} before unload, {new_id:#x} after reload");
        ipvs.flush().unwrap();
        drop(restore);
    });
    if let Err(panic) = body.join() {
        std::panic::resume_unwind(panic);
    }
}
