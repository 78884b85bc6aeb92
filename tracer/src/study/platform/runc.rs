//! A runc container: `runc run` in the foreground, with the runc process itself in the run's
//! cgroup and `linux.cgroupsPath` naming that same cgroup for the container, so that the
//! runtime's own work and the container's are both traced. In the network benchmark the
//! container joins the client namespace of a veth pair.
//!
//! The run's cgroup sits directly below the v2 root: on hosts with cgroup v1 controllers
//! beside v2 (hybrid), runc also creates the path in every v1 hierarchy and removes only its
//! last component, so a nested path would leave its parents behind.
use std::{ffi::OsStr, path::PathBuf};

use super::{
    Job,
    oci::{self, Container, Spec},
    output,
};
use crate::study::rootfs;

#[derive(Debug)]
pub struct Runc {
    runc: PathBuf,
    version: String,
    rootfs: PathBuf,
}

impl Runc {
    pub fn prepare() -> anyhow::Result<Self> {
        let runc = tracer_images::program::find("runc")?;
        let version = super::first_line(&runc, &["--version"])?;
        Ok(Self { runc, version, rootfs: rootfs::prepare()? })
    }

    pub fn describe(&self) -> String {
        format!("{}, the runtime's default spec", self.version)
    }

    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        let bundle = job.scratch.join("bundle");
        let spec = Spec {
            script: &job.script(rootfs::BENCH_DIR),
            cgroups_path: Some(format!("/{}", job.name)),
            network_namespace: job.network.map(|n| n.platform_namespace()),
        };
        oci::bundle(&self.runc, &self.rootfs, &bundle, &spec)?;
        let container = Container {
            runtime: self.runc.clone(),
            root: job.scratch.join("runc"),
            id: job.name.to_owned(),
            network_namespace: None,
        };
        let argv = [
            self.runc.as_os_str(),
            "--root".as_ref(),
            container.root.as_os_str(),
            "run".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            container.id.as_ref(),
        ]
        .map(OsStr::to_os_string);
        output(job.cgroup, &argv, &format!("runc run ({} benchmark)", job.benchmark)).await
    }
}
