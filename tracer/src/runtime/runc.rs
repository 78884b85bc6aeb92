//! OCI runtimes that keep one state directory per container: runc's `<root>/<id>/state.json`
//! (also under Docker's and containerd's runc roots) and crun's `<root>/<id>/status`.
//!
//! runc records the init process with its start time (a dead container's pid may have been
//! reused) and the cgroup it made for every hierarchy; `cgroup_paths[""]` is the v2 one. A
//! container whose init waits for `runc start` still has its `exec.fifo`.
use std::{fs, path::Path};

use serde::Deserialize;

use super::{
    process::Processes,
    workload::{Roots, Runtime, State, Workload, place},
};

#[derive(Deserialize)]
struct RuncState {
    id: String,
    init_process_pid: u32,
    init_process_start: u64,
    #[serde(default)]
    cgroup_paths: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct CrunStatus {
    pid: u32,
    #[serde(rename = "process-start-time", default)]
    process_start_time: Option<u64>,
    #[serde(rename = "cgroup-path", default)]
    cgroup_path: Option<String>,
}

/// The containers in every runc and crun root under `roots.run`.
pub fn discover(roots: &Roots, processes: &Processes) -> Vec<Workload> {
    let mut roots_found = vec![
        (roots.run.join("runc"), Runtime::Runc),
        (roots.run.join("crun"), Runtime::Crun),
        (roots.run.join("docker/runtime-runc/moby"), Runtime::Docker),
    ];
    // containerd keeps one runc root per namespace (k8s.io, default, ...).
    for namespace in subdirs(&roots.run.join("containerd/runc")) {
        roots_found.push((namespace, Runtime::Containerd));
    }
    let mut found = Vec::new();
    for (root, runtime) in roots_found {
        for dir in subdirs(&root) {
            let workload = match runtime {
                Runtime::Crun => crun(roots, &dir, processes),
                _ => runc(roots, runtime, &dir, processes),
            };
            found.extend(workload);
        }
    }
    found
}

fn runc(roots: &Roots, runtime: Runtime, dir: &Path, processes: &Processes) -> Option<Workload> {
    let state: RuncState = read_json(&dir.join("state.json"))?;
    let alive = processes.started_at(state.init_process_pid, state.init_process_start);
    let pids = if alive { vec![state.init_process_pid] } else { Vec::new() };
    let declared = state.cgroup_paths.get("").and_then(|p| below(&roots.cgroup2, p));
    Some(Workload {
        runtime,
        name: state.id.clone(),
        id: state.id,
        state: life(alive, dir),
        placement: place(roots, &pids, declared.as_deref(), IN_ROOT),
        pids,
    })
}

fn crun(roots: &Roots, dir: &Path, processes: &Processes) -> Option<Workload> {
    let status: CrunStatus = read_json(&dir.join("status"))?;
    let id = dir.file_name()?.to_string_lossy().into_owned();
    let alive = match status.process_start_time {
        Some(start) => processes.started_at(status.pid, start),
        None => processes.is_alive(status.pid),
    };
    let pids = if alive { vec![status.pid] } else { Vec::new() };
    Some(Workload {
        runtime: Runtime::Crun,
        name: id.clone(),
        id,
        state: life(alive, dir),
        placement: place(roots, &pids, status.cgroup_path.as_deref(), IN_ROOT),
        pids,
    })
}

/// A live container whose init still waits on `exec.fifo` for `start` is only created.
fn life(alive: bool, dir: &Path) -> State {
    match (alive, dir.join("exec.fifo").exists()) {
        (false, _) => State::Stopped,
        (true, true) => State::Created,
        (true, false) => State::Running,
    }
}

/// runc and crun always make a cgroup; a container in the root was started with a
/// `cgroupsPath` of `/`.
const IN_ROOT: &str = "its config.json sets linux.cgroupsPath to the root";

/// `path` (absolute, under the v2 mount) as a path below the mount, e.g. `/web`.
fn below(cgroup2: &Path, path: &str) -> Option<String> {
    let relative = Path::new(path).strip_prefix(cgroup2).ok()?;
    Some(format!("/{}", relative.display()))
}

/// The directories in `dir`, sorted; none if it does not exist.
pub(super) fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// A JSON state file, or `None` if it is missing or not what was expected (a runtime may be
/// writing it right now; the next look will see it whole).
pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}
