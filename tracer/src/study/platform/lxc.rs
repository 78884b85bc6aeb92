//! An LXC application container, the seed study's container platform: `lxc-execute` runs the
//! benchmark's shell in a container of the study's root file system (behind LXC's own
//! `init.lxc.static`), with LXC's monitor and the container in cgroups below the run's
//! (`lxc.cgroup.dir.monitor`, `lxc.cgroup.dir.container`), so that both are traced. The
//! container has no network device, except in the network benchmark, where it shares the
//! network namespace lxc-execute is started in: the client end of the veth pair.
//!
//! LXC leaves behind the run cgroup's name in every cgroup v1 hierarchy of a hybrid host, and
//! `lxc.pivot`, where its monitor moves to clean up; both are removed after the run.
use std::{
    ffi::OsStr,
    fs,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::Context as _;

use super::{Job, command_line, output};
use crate::{cgroup, study::rootfs};

#[derive(Debug)]
pub struct Lxc {
    execute: PathBuf,
    version: String,
    rootfs: PathBuf,
}

impl Lxc {
    pub fn prepare() -> anyhow::Result<Self> {
        let execute = tracer_images::program::find("lxc-execute")?;
        let version = super::first_line(&execute, &["--version"])?;
        Ok(Self { execute, version, rootfs: rootfs::prepare()? })
    }

    pub fn describe(&self) -> String {
        format!("LXC {}, lxc-execute (application container), unconfined by AppArmor", self.version)
    }

    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        let root = job.scratch.join("rootfs");
        rootfs::copy(&self.rootfs, &root)?;
        let config = job.scratch.join("config");
        let net = if job.network.is_some() { "none" } else { "empty" };
        let name = job.name;
        let text = format!(
            "lxc.uts.name = {name}\n\
             lxc.rootfs.path = dir:{}\n\
             lxc.net.0.type = {net}\n\
             lxc.cgroup.dir.container = {name}/payload\n\
             lxc.cgroup.dir.monitor = {name}/monitor\n\
             lxc.apparmor.profile = unconfined\n\
             lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n",
            root.display()
        );
        fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let container = Container { name: name.to_owned(), lxcpath: job.scratch.join("lxc") };
        fs::create_dir_all(&container.lxcpath)
            .with_context(|| format!("creating {}", container.lxcpath.display()))?;
        let script = job.script(rootfs::BENCH_DIR);
        let args: [&OsStr; 11] = [
            self.execute.as_os_str(),
            "--name".as_ref(),
            name.as_ref(),
            "--lxcpath".as_ref(),
            container.lxcpath.as_os_str(),
            "--rcfile".as_ref(),
            config.as_os_str(),
            "--".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
        ];
        let argv = command_line(job.network, &args);
        output(job.cgroup, &argv, &format!("lxc-execute ({} benchmark)", job.benchmark)).await
    }
}

/// The container of a run; dropping it stops what still runs and removes the cgroups LXC
/// leaves behind.
struct Container {
    name: String,
    lxcpath: PathBuf,
}

impl Drop for Container {
    fn drop(&mut self) {
        // Quiet: a container that exited is no longer there to stop.
        let _ = Command::new("lxc-stop")
            .args(["--kill", "--name", &self.name, "--lxcpath"])
            .arg(&self.lxcpath)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for hierarchy in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let hierarchy = hierarchy.path();
            // cgroup v1 hierarchies have `tasks`; in v2 these are the run's own cgroups.
            if hierarchy.join("tasks").is_file() {
                let run = hierarchy.join(&self.name);
                for dir in [run.join("payload"), run.join("monitor"), run] {
                    if let Err(e) = cgroup::remove_when_empty(&dir) {
                        eprintln!("ktrace: warning: removing LXC's cgroup: {e:#}");
                    }
                }
            }
            // Shared with other LXC containers: removed once empty, by whoever comes last.
            let _ = fs::remove_dir(hierarchy.join("lxc.pivot"));
        }
    }
}
