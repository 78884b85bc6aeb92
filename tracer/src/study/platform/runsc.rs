//! A gVisor sandbox: `runsc run` in the foreground, started inside the run's cgroup so that
//! the sandbox (sentry), the gofer and the platform's stubs all land there and stay: this
//! runsc release places itself only in cgroup v1 hierarchies, and moving its processes after
//! `runsc create` would leave the stubs that do the work behind. `--ignore-cgroups` keeps it
//! from creating v1 cgroups of its own.
//!
//! The platform is systrap where this runsc has it, else ptrace (the kvm platform needs
//! virtualisation the machines ktrace is tested on lack). Networking: none, except in the
//! network benchmark, where the sandbox runs gVisor's own TCP/IP stack (netstack,
//! `--network=sandbox`, gVisor's default) on the client end of the veth pair, taking the
//! link's address over. Two quirks of this runsc release: it refuses netstack when it sees
//! `/proc/sys/net/core/rmem_default`, which it takes for a sign of the host's root network
//! namespace but every namespace has on current kernels, so it starts in a private mount
//! namespace with an empty `/proc/sys/net`; and its hostinet (`--network=host`) loses the
//! control connection of iperf3 ("unable to receive results") most of the time. File I/O
//! runs in `/bench` of the rootfs, which the gofer serves from the host (gVisor's `/tmp` is
//! its own memory).
use std::{ffi::OsStr, path::PathBuf};

use super::{
    Job,
    oci::{self, Container, Spec},
    output,
};
use crate::study::rootfs;

/// Runs its arguments with an empty /proc/sys/net (in the private mount namespace `unshare
/// --mount` made), where this runsc release then sees no root network namespace.
const HIDE_NET_SYSCTLS: &str = r#"mount -t tmpfs ktrace-study /proc/sys/net && exec "$@""#;

#[derive(Debug)]
pub struct Runsc {
    runsc: PathBuf,
    version: String,
    /// systrap or ptrace.
    platform: &'static str,
    rootfs: PathBuf,
}

impl Runsc {
    pub fn prepare() -> anyhow::Result<Self> {
        let runsc = tracer_images::program::find("runsc")?;
        let version = super::first_line(&runsc, &["--version"])?;
        // `runsc flags` describes -platform with the platforms this release has.
        let flags = tracer_images::output_of(std::process::Command::new(&runsc).arg("flags"))?;
        let platform_help = flags.split("-platform ").nth(1).unwrap_or_default();
        let platform = match platform_help.lines().nth(1) {
            Some(help) if help.contains("systrap") => "systrap",
            _ => "ptrace",
        };
        Ok(Self { runsc, version, platform, rootfs: rootfs::prepare()? })
    }

    pub fn describe(&self) -> String {
        format!(
            "{}, {} platform, netstack (--network=sandbox) in the network benchmark, file I/O \
             through the gofer",
            self.version, self.platform
        )
    }

    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        let bundle = job.scratch.join("bundle");
        let spec = Spec {
            script: &job.script(rootfs::BENCH_DIR),
            cgroups_path: None,
            // netstack takes over the interfaces of the namespace the spec names.
            network_namespace: job.network.map(|n| n.platform_namespace()),
        };
        oci::bundle(&self.runsc, &self.rootfs, &bundle, &spec)?;
        let container = Container {
            runtime: self.runsc.clone(),
            root: job.scratch.join("runsc"),
            id: job.name.to_owned(),
            // Its control socket is in the namespace it was started in.
            network_namespace: job.network.map(|n| n.platform_namespace()),
        };
        let network = if job.network.is_some() { "--network=sandbox" } else { "--network=none" };
        let platform = format!("--platform={}", self.platform);
        let mut args: Vec<&OsStr> = Vec::new();
        if job.network.is_some() {
            args.extend::<[&OsStr; 6]>([
                "unshare".as_ref(),
                "--mount".as_ref(),
                "sh".as_ref(),
                "-c".as_ref(),
                HIDE_NET_SYSCTLS.as_ref(),
                "sh".as_ref(),
            ]);
        }
        args.extend::<[&OsStr; 10]>([
            self.runsc.as_os_str(),
            "--root".as_ref(),
            container.root.as_os_str(),
            platform.as_ref(),
            network.as_ref(),
            "--ignore-cgroups".as_ref(),
            "run".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            container.id.as_ref(),
        ]);
        // Every runsc command of a networked sandbox runs in its namespace.
        let argv = super::command_line(job.network, &args);
        output(job.cgroup, &argv, &format!("runsc run ({} benchmark)", job.benchmark)).await
    }
}
