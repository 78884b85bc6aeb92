//! gVisor's `runsc`: one `<sandbox id>_sandbox:<container id>.state` JSON file per container
//! in its root (`/var/run/runsc`, or Docker's runc root when Docker runs it).
//!
//! A sandbox is the sentry process (`.sandbox.pid`, with the ptrace platform's stub processes
//! as its children) and the gofer that serves its files (`.goferPid`, a sibling). On hybrid
//! hosts runsc makes cgroup v1 groups only, so both stay in the v2 cgroup they were started
//! from: the root, unless a launcher started runsc inside a cgroup of its own.
use std::path::Path;

use serde::Deserialize;

use super::{
    runc::read_json,
    workload::{RUNSC_IN_ROOT, Roots, Runtime, State, Workload, place},
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunscState {
    id: String,
    status: String,
    #[serde(default)]
    gofer_pid: u32,
    sandbox: Option<Sandbox>,
}

#[derive(Deserialize)]
struct Sandbox {
    pid: u32,
}

/// The containers of every sandbox whose state is under `roots.run`.
pub fn discover(roots: &Roots) -> Vec<Workload> {
    [roots.run.join("runsc"), roots.run.join("docker/runtime-runc/moby")]
        .iter()
        .flat_map(|root| state_files(root))
        .filter_map(|path| container(roots, &path))
        .collect()
}

fn state_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "state"))
        .collect();
    files.sort();
    files
}

fn container(roots: &Roots, path: &Path) -> Option<Workload> {
    let state: RunscState = read_json(path)?;
    // 0 stands for a process that was never started or is gone.
    let pids: Vec<u32> = state
        .sandbox
        .iter()
        .map(|s| s.pid)
        .chain([state.gofer_pid])
        .filter(|&pid| pid != 0 && roots.proc.join(pid.to_string()).exists())
        .collect();
    let state_word = if pids.is_empty() { State::Stopped } else { State::parse(&state.status) };
    Some(Workload {
        runtime: Runtime::Runsc,
        name: state.id.clone(),
        id: state.id,
        state: state_word,
        placement: place(roots, &pids, None, RUNSC_IN_ROOT),
        pids,
    })
}
