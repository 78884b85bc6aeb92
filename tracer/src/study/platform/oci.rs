//! OCI bundles and container state, shared by runc and runsc: a private writable copy of the
//! study's root file system with the runtime's own default `config.json` (`RUNTIME spec`)
//! changed to run the benchmark, and a [`Container`] that removes the container's state when
//! it is dropped, whatever happened to the container.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::study::rootfs;

/// What the container runs and where.
pub struct Spec<'a> {
    pub script: &'a str,
    /// `linux.cgroupsPath`: where runc puts the container (relative to the cgroup mounts).
    pub cgroups_path: Option<String>,
    /// A network namespace to join instead of a new one.
    pub network_namespace: Option<PathBuf>,
}

/// Creates the bundle in `dir`: `rootfs/`, a copy of `rootfs`, and `config.json`.
pub fn bundle(runtime: &Path, rootfs: &Path, dir: &Path, spec: &Spec<'_>) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    rootfs::copy(rootfs, &dir.join("rootfs"))?;
    let status = Command::new(runtime)
        .arg("spec")
        .arg("--bundle")
        .arg(dir)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} spec", runtime.display()))?;
    if !status.success() {
        bail!("{} spec --bundle {} failed: {status}", runtime.display(), dir.display());
    }
    let path = dir.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    configure(&mut config, spec);
    fs::write(&path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// The runtime's default config, running `spec` with no terminal on a writable root.
fn configure(config: &mut Value, spec: &Spec<'_>) {
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/sh", "-c", spec.script]);
    config["process"]["cwd"] = json!("/");
    config["root"] = json!({"path": "rootfs", "readonly": false});
    if let Some(path) = &spec.cgroups_path {
        config["linux"]["cgroupsPath"] = json!(path);
    }
    if let Some(namespace) = &spec.network_namespace
        && let Some(namespaces) = config["linux"]["namespaces"].as_array_mut()
    {
        for ns in namespaces.iter_mut().filter(|ns| ns["type"] == "network") {
            ns["path"] = json!(namespace);
        }
    }
}

/// A container or sandbox a runtime keeps state for under `root`; dropping it deletes it
/// (`RUNTIME --root ROOT delete --force ID`, in `network_namespace` if given), which kills
/// what still runs and removes the runtime's state and cgroups.
pub struct Container {
    pub runtime: PathBuf,
    pub root: PathBuf,
    pub id: String,
    pub network_namespace: Option<PathBuf>,
}

impl Drop for Container {
    fn drop(&mut self) {
        // `run` removes a container that exited: then there is nothing to delete.
        let Ok(entries) = fs::read_dir(&self.root) else { return };
        if entries.count() == 0 {
            return;
        }
        let mut command = match &self.network_namespace {
            Some(namespace) => {
                let mut nsenter = Command::new("nsenter");
                nsenter.arg(format!("--net={}", namespace.display())).arg(&self.runtime);
                nsenter
            }
            None => Command::new(&self.runtime),
        };
        let out = command
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "ktrace: warning: {} delete --force {}: {}",
                self.runtime.display(),
                self.id,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("ktrace: warning: running {}: {e}", self.runtime.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_runs_the_script_in_the_given_namespace() {
        let mut config = json!({
            "process": {"terminal": true, "args": ["sh"], "cwd": "/"},
            "root": {"path": "rootfs", "readonly": true},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}
        });
        let spec = Spec {
            script: "exec sysbench cpu run",
            cgroups_path: Some("/ktrace-study-1-runc-cpu".to_owned()),
            network_namespace: Some(PathBuf::from("/var/run/netns/x-cli")),
        };
        configure(&mut config, &spec);
        assert_eq!(config["process"]["args"], json!(["/bin/sh", "-c", "exec sysbench cpu run"]));
        assert_eq!(config["process"]["terminal"], false);
        assert_eq!(config["root"]["readonly"], false);
        assert_eq!(config["linux"]["cgroupsPath"], "/ktrace-study-1-runc-cpu");
        assert_eq!(
            config["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x-cli"}])
        );
    }
}
