//! What ktrace builds guests and container root file systems from, shared by `ktrace study`
//! (its OCI rootfs and microVM) and `cargo xtask vm` (the test guests):
//!
//! - [`kernel`]: Debian's distro kernel packages, found in the apt archive, downloaded once
//!   and unpacked under `/var/cache/ktrace/kernels`, with their modules and debug images;
//! - [`cpio`]: a writer for the "newc" cpio archives an initramfs is made of;
//! - [`program`]: a host program with the shared libraries and loader it needs, so that it
//!   runs unchanged inside a container or guest that has no libc of its own.
//!
//! Everything here runs host tools (`apt-get`, `dpkg`, the dynamic loader) synchronously.
pub mod cpio;
pub mod kernel;
pub mod program;

use std::process::Command;

use anyhow::{Context as _, bail};

/// Runs `cmd` and returns its stdout; fails with its stderr unless it exits 0.
pub fn output_of(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).with_context(|| format!("non-UTF-8 output from {cmd:?}"))
}
