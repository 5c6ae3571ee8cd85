// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel lab: a real Debian LTS kernel with IPVS, booted under qemu by
//! virtme-ng over this machine's own root filesystem.
//!
//! The machines this project is developed and tested on run a kernel without
//! IPVS, so every kernel-facing claim is shown in this VM. What it installs on
//! first use, and where:
//!
//! | what | from | where |
//! |---|---|---|
//! | qemu-system-x86, kmod, busybox-static, udev | Debian packages (`apt-get install`) | the system |
//! | ipvsadm, iproute2, nftables, tcpdump, socat, keepalived, bird2, python3-venv | Debian packages | the system (tests run them inside the VM) |
//! | virtme-ng (pinned) | PyPI, in a venv | `target/lab/venv` |
//! | the kernels | `apt-get download` of the package the Debian meta package names, unpacked with `dpkg -x` | `target/lab/kernels/` (never /boot) |
//!
//! Facts this rests on (`../shared/docs/kernel-lab.md`): KVM does not boot a
//! stock kernel on these machines, so qemu runs in software (TCG); the generic
//! flavour is needed (the cloud one lacks 9p); virtme-ng needs `modprobe` and
//! busybox on the host to build its initramfs and udev in the guest for its
//! console ports. The VM has no network device.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{self, workspace_root};
use crate::{Result, take_option};

/// virtme-ng release the lab is pinned to (seen booting both kernels here).
const VIRTME_NG_VERSION: &str = "1.42";

/// Debian packages the lab needs on the host: `(package, why)`.
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86", "the emulator that boots the kernel"),
    ("kmod", "virtme-ng builds its initramfs with modprobe"),
    ("busybox-static", "the initramfs shell of virtme-ng"),
    (
        "udev",
        "the guest finds virtme-ng's console ports through udev",
    ),
    (
        "ipvsadm",
        "the reference tool the kernel tests compare against",
    ),
    ("iproute2", "namespaces, veth and addresses in kernel tests"),
    ("nftables", "masquerading in the NAT examples"),
    ("tcpdump", "nlmon captures of golden vectors"),
    ("socat", "small TCP servers and clients in traffic tests"),
    (
        "keepalived",
        "VRRP for the active/backup director pair (kernel_failover, demo failover)",
    ),
    (
        "bird2",
        "BGP for the ECMP router and its directors (kernel_ecmp, demo ecmp)",
    ),
    ("python3-venv", "the virtme-ng venv"),
];

/// Guest shell prefix that loads IPVS, failing the run (status 90) if it cannot.
const LOAD_IPVS: &str = "{ modprobe ip_vs || { echo 'xtask lab: modprobe ip_vs failed: no IPVS in this kernel' >&2; exit 90; }; } &&";

/// A Debian LTS kernel series the lab can boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Debian 12's own kernel, 6.1 LTS.
    V6_1,
    /// Debian 12's 6.12 LTS kernel (bookworm updates/security).
    V6_12,
}

impl Kernel {
    /// Every series, in the order the test command runs them.
    pub const ALL: [Kernel; 2] = [Kernel::V6_1, Kernel::V6_12];

    /// The series as users write it (`6.1`, `6.12`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::V6_1 => "6.1",
            Kernel::V6_12 => "6.12",
        }
    }

    /// Parses `6.1` / `6.12`.
    pub fn parse(s: &str) -> Result<Kernel> {
        match s {
            "6.1" => Ok(Kernel::V6_1),
            "6.12" => Ok(Kernel::V6_12),
            other => Err(format!("unknown kernel {other:?}: use 6.1 or 6.12")),
        }
    }

    /// Takes `--kernel K` out of `args`; 6.12 when absent.
    pub fn take_option(args: &mut Vec<String>) -> Result<Kernel> {
        take_option(args, "--kernel")?
            .map(|k| Kernel::parse(&k))
            .transpose()
            .map(|k| k.unwrap_or(Kernel::V6_12))
    }

    /// The Debian meta package whose dependency names the current image, and
    /// the prefix that image's package name must have.
    fn meta_package(self) -> (&'static str, &'static str) {
        match self {
            // bookworm's default kernel is the 6.1 series.
            Kernel::V6_1 => ("linux-image-amd64", "linux-image-6.1.0-"),
            Kernel::V6_12 => ("linux-image-6.12-amd64", "linux-image-6.12."),
        }
    }
}

/// A kernel unpacked under `target/lab/kernels`, ready to boot.
pub struct BootableKernel {
    /// The `vmlinuz` path; virtme-ng finds `lib/modules/<version>` beside it.
    pub vmlinuz: PathBuf,
    /// The Debian package it came from.
    pub package: String,
}

/// `cargo xtask lab [--kernel K] -- CMD...`
pub fn main(args: &[String]) -> Result<i32> {
    let (ours, cmd) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args.to_vec(), Vec::new()),
    };
    let mut ours = ours;
    let kernel = Kernel::take_option(&mut ours)?;
    let load_ipvs = !crate::take_flag(&mut ours, "--no-ipvs");
    if !ours.is_empty() {
        return Err(format!(
            "unexpected arguments {ours:?}; put the command after `--`"
        ));
    }
    if cmd.is_empty() {
        return Err("no command given: cargo xtask lab [--kernel 6.1|6.12] -- CMD...".into());
    }
    let words: Vec<String> = cmd.iter().map(|a| process::shell_quote(a)).collect();
    let mut script = words.join(" ");
    if load_ipvs {
        script = format!("{LOAD_IPVS} {script}");
    }
    let lab = Lab::prepare()?;
    lab.run(kernel, &script)
}

/// The provisioned lab: host packages present, virtme-ng installed.
pub struct Lab {
    dir: PathBuf,
}

impl Lab {
    /// Installs what is missing (and says so); cheap when all is in place.
    pub fn prepare() -> Result<Lab> {
        let dir = workspace_root().join("target").join("lab");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        ensure_host_packages()?;
        let lab = Lab { dir };
        lab.ensure_virtme_ng()?;
        Ok(lab)
    }

    fn venv_bin(&self) -> PathBuf {
        self.dir.join("venv").join("bin")
    }

    fn ensure_virtme_ng(&self) -> Result<()> {
        let vng = self.venv_bin().join("vng");
        let stamp = self
            .dir
            .join("venv")
            .join(format!("virtme-ng-{VIRTME_NG_VERSION}"));
        if vng.exists() && stamp.exists() {
            return Ok(());
        }
        eprintln!(
            "xtask: lab: installing virtme-ng {VIRTME_NG_VERSION} into target/lab/venv (PyPI)"
        );
        let venv = self.dir.join("venv");
        process::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        process::run(
            Command::new(self.venv_bin().join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("virtme-ng=={VIRTME_NG_VERSION}")),
        )?;
        std::fs::write(&stamp, "").map_err(|e| format!("writing {}: {e}", stamp.display()))?;
        Ok(())
    }

    /// Makes sure `kernel` is unpacked under `target/lab/kernels` and returns it.
    pub fn kernel(&self, kernel: Kernel) -> Result<BootableKernel> {
        let kernels = self.dir.join("kernels");
        let resolved = kernels.join(format!("{}.package", kernel.name()));
        // Reuse the cache without asking apt when it is complete.
        if let Ok(package) = std::fs::read_to_string(&resolved) {
            let package = package.trim().to_string();
            if let Some(vmlinuz) = find_vmlinuz(&kernels.join(&package)) {
                return Ok(BootableKernel { vmlinuz, package });
            }
        }
        let package = resolve_kernel_package(kernel)?;
        let root = kernels.join(&package);
        if find_vmlinuz(&root).is_none() {
            eprintln!(
                "xtask: lab: downloading Debian package {package} (kernel {}) into target/lab/kernels",
                kernel.name()
            );
            let debs = self.dir.join("debs");
            std::fs::create_dir_all(&debs).map_err(|e| format!("creating debs dir: {e}"))?;
            process::run(
                Command::new("apt-get")
                    .arg("download")
                    .arg(&package)
                    .current_dir(&debs),
            )?;
            let deb = std::fs::read_dir(&debs)
                .map_err(|e| format!("reading {}: {e}", debs.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
                    })
                })
                .ok_or_else(|| format!("apt-get download left no {package}_*.deb"))?;
            std::fs::create_dir_all(&kernels).map_err(|e| format!("creating kernels dir: {e}"))?;
            let partial = kernels.join(format!("{package}.partial"));
            let _ = std::fs::remove_dir_all(&partial);
            process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&partial))?;
            std::fs::rename(&partial, &root)
                .map_err(|e| format!("moving kernel into place: {e}"))?;
            let _ = std::fs::remove_file(&deb);
        }
        let vmlinuz =
            find_vmlinuz(&root).ok_or_else(|| format!("{package} holds no boot/vmlinuz-*"))?;
        std::fs::write(&resolved, &package)
            .map_err(|e| format!("writing {}: {e}", resolved.display()))?;
        Ok(BootableKernel { vmlinuz, package })
    }

    /// Boots `kernel`, runs `script` (a shell command line) as root inside,
    /// streaming its output; returns the command's exit status.
    pub fn run(&self, kernel: Kernel, script: &str) -> Result<i32> {
        let mut cmd = self.command(kernel, script)?;
        Ok(process::tee(&mut cmd)?.0)
    }

    /// Like [`Lab::run`], also returning a copy of the guest's stdout, and
    /// killing the VM after `timeout_secs` (a watchdog for unattended runs).
    pub fn run_captured_with_timeout(
        &self,
        kernel: Kernel,
        script: &str,
        timeout_secs: u32,
    ) -> Result<(i32, String)> {
        let vng = self.command(kernel, script)?;
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "30", &timeout_secs.to_string()])
            .arg(vng.get_program())
            .args(vng.get_args());
        for (k, v) in vng.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        process::tee(&mut cmd)
    }

    fn command(&self, kernel: Kernel, script: &str) -> Result<Command> {
        let k = self.kernel(kernel)?;
        eprintln!(
            "xtask: lab: booting {} ({}) under qemu (software emulation, no network device)",
            kernel.name(),
            k.package
        );
        let path = format!(
            "{}:{}",
            self.venv_bin().display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let mut cmd = Command::new(self.venv_bin().join("vng"));
        cmd.env("PATH", path)
            .arg("--run")
            .arg(&k.vmlinuz)
            .args([
                "--disable-kvm",
                "--force-9p",
                "--cpus",
                "2",
                "--memory",
                "2G",
            ])
            .arg("--cwd")
            .arg(workspace_root())
            .arg("--exec")
            .arg(script);
        Ok(cmd)
    }
}

fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
}

/// Asks apt which image package the meta package currently depends on (old
/// point releases leave the archive, so the name is never hard-coded).
fn resolve_kernel_package(kernel: Kernel) -> Result<String> {
    let (meta, prefix) = kernel.meta_package();
    let lookup = || -> Result<String> {
        let deps = process::output(Command::new("apt-cache").arg("depends").arg(meta))?;
        deps.lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(str::trim)
            .find(|p| p.starts_with(prefix) && p.ends_with("-amd64") && !p.contains("cloud"))
            .map(String::from)
            .ok_or_else(|| format!("{meta} depends on no {prefix}*-amd64 package"))
    };
    match lookup() {
        Ok(p) => Ok(p),
        Err(first) => {
            eprintln!("xtask: lab: apt does not know {meta} yet ({first}); running apt-get update");
            process::run(Command::new("apt-get").args(["update", "-q"]))?;
            lookup()
        }
    }
}

fn ensure_host_packages() -> Result<()> {
    let missing: Vec<&(&str, &str)> = HOST_PACKAGES
        .iter()
        .filter(|(p, _)| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    for (p, why) in &missing {
        eprintln!("xtask: lab: installing Debian package {p} ({why})");
    }
    process::run(Command::new("apt-get").args(["update", "-q"]))?;
    process::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(missing.iter().map(|(p, _)| *p)),
    )
}

fn dpkg_installed(package: &str) -> bool {
    process::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_ok_and(|s| s.contains("install ok installed"))
}
