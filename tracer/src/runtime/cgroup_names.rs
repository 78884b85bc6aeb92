//! Runtimes whose cgroup directory names the workload: LXC (`lxc.payload.NAME`; its monitor
//! sits beside it in `lxc.monitor.NAME` and is not the container) and the Firecracker jailer
//! (`firecracker/ID`, its default parent).
use std::{fs, path::Path};

use super::{
    runc::subdirs,
    workload::{Placement, Roots, Runtime, State, Workload},
};

const LXC_PAYLOAD: &str = "lxc.payload.";
const JAILER_PARENT: &str = "firecracker";

pub fn discover(roots: &Roots) -> Vec<Workload> {
    let mut found = Vec::new();
    lxc(roots, &roots.cgroup2, &mut found);
    for dir in subdirs(&roots.cgroup2.join(JAILER_PARENT)) {
        found.extend(workload(roots, Runtime::Firecracker, &dir, None));
    }
    found
}

/// LXC containers anywhere in the tree (`lxc.cgroup.dir.*` can move them below the root).
fn lxc(roots: &Roots, dir: &Path, found: &mut Vec<Workload>) {
    for sub in subdirs(dir) {
        let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match name.strip_prefix(LXC_PAYLOAD) {
            Some(container) => found.extend(workload(roots, Runtime::Lxc, &sub, Some(container))),
            None => lxc(roots, &sub, found),
        }
    }
}

/// The workload whose cgroup is `dir`; its processes are the ones in the directory.
fn workload(roots: &Roots, runtime: Runtime, dir: &Path, name: Option<&str>) -> Option<Workload> {
    let id =
        name.map_or_else(|| dir.file_name().map(|n| n.to_string_lossy()), |n| Some(n.into()))?;
    let pids: Vec<u32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let relative = dir.strip_prefix(&roots.cgroup2).ok()?;
    Some(Workload {
        runtime,
        name: id.to_string(),
        id: id.to_string(),
        state: if pids.is_empty() { State::Stopped } else { State::Running },
        pids,
        placement: Placement::Own { cgroup: format!("/{}", relative.display()) },
    })
}
