//! Container engines that name the containers their OCI runtime runs: Docker
//! (`/var/lib/docker/containers/<id>/config.v2.json`: `.Name`, `.State`; `hostconfig.json`:
//! `.Runtime`) and Podman (`/var/lib/containers/storage/overlay-containers/containers.json`:
//! `.names`). Neither daemon needs to be asked.
use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    process::Processes,
    runc::{read_json, subdirs},
    workload::{RUNSC_IN_ROOT, Roots, Runtime, State, Workload, place},
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfig {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    state: DockerState,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerState {
    running: bool,
    paused: bool,
    pid: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerHostConfig {
    #[serde(default)]
    runtime: String,
}

#[derive(Deserialize)]
struct PodmanContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

/// Docker's containers, running or not, by the name their user gave them.
pub fn docker(roots: &Roots, processes: &Processes) -> Vec<Workload> {
    subdirs(&roots.var_lib.join("docker/containers"))
        .iter()
        .filter_map(|dir| {
            let config: DockerConfig = read_json(&dir.join("config.v2.json"))?;
            let runtime = read_json::<DockerHostConfig>(&dir.join("hostconfig.json"))
                .map(|h| h.runtime)
                .unwrap_or_default();
            let alive = config.state.running && processes.is_alive(config.state.pid);
            let pids = if alive { vec![config.state.pid] } else { Vec::new() };
            let state = match (alive, config.state.paused) {
                (false, _) => State::Stopped,
                (true, true) => State::Paused,
                (true, false) => State::Running,
            };
            let in_root = if runtime == "runsc" {
                RUNSC_IN_ROOT
            } else {
                "its runtime did not make a cgroup v2 directory for it"
            };
            // The cgroupfs driver's default parent; the processes' own line decides.
            let declared = format!("/docker/{}", config.id);
            Some(Workload {
                runtime: Runtime::Docker,
                name: config.name.trim_start_matches('/').to_owned(),
                id: config.id,
                state,
                placement: place(roots, &pids, Some(&declared), in_root),
                pids,
            })
        })
        .collect()
}

/// Podman's container names by container id; its runtime (runc or crun) has the rest.
pub fn podman_names(roots: &Roots) -> BTreeMap<String, String> {
    let path = roots.var_lib.join("containers/storage/overlay-containers/containers.json");
    read_json::<Vec<PodmanContainer>>(&path)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| Some((c.id, c.names.into_iter().next()?)))
        .collect()
}
