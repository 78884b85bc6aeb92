//! Containers, sandboxes and VMs by name: which workloads run on this host, under which
//! runtime, and in which cgroup v2 directory their processes are.
//!
//! Discovery is daemonless. Each runtime leaves state files behind (runc's `state.json`, gVisor's
//! `.state` files, Docker's `config.v2.json`, Podman's `containers.json`, systemd-machined's
//! machine files) or names its cgroups (LXC's `lxc.payload.NAME`, the Firecracker jailer's
//! `firecracker/ID`); bare QEMU and Firecracker processes are found in `/proc`. The state
//! files say which processes belong to a workload; the `0::` line of `/proc/PID/cgroup` says
//! where those processes really are, and that is what ktrace traces.
//!
//! On hybrid hosts some runtimes put their processes in no v2 cgroup of their own: gVisor's
//! `runsc` uses only cgroup v1 and leaves its sandbox in the v2 root, and QEMU never moves
//! itself. Such a workload is listed with why it has no cgroup and what to do about it.
//!
//! Every function takes its [`Roots`], so that tests can point discovery at a directory tree
//! of captured state files instead of the live host.
mod cgroup_names;
mod engines;
mod launch;
mod machines;
mod process;
mod runc;
mod runsc;
mod vms;
mod workload;

use std::collections::BTreeSet;

pub use self::{
    launch::creates_its_own_cgroup,
    process::{Processes, cgroup_of},
    workload::{Placement, Roots, Runtime, State, Workload, WorkloadRef},
};

/// Every workload found under `roots`, sorted by runtime and name. Engines (Docker, Podman)
/// come before the OCI runtimes they drive, so a container appears once, under the name its
/// user gave it.
pub fn discover(roots: &Roots) -> Vec<Workload> {
    let processes = Processes::read(&roots.proc);
    let mut found = engines::docker(roots, &processes);
    let podman_names = engines::podman_names(roots);
    for workload in runc::discover(roots, &processes).into_iter().chain(runsc::discover(roots)) {
        let workload = match podman_names.get(&workload.id) {
            Some(name) => Workload { runtime: Runtime::Podman, name: name.clone(), ..workload },
            None => workload,
        };
        add(&mut found, workload);
    }
    for workload in cgroup_names::discover(roots)
        .into_iter()
        .chain(machines::discover(roots, &processes))
        .chain(vms::discover(roots, &processes))
    {
        add(&mut found, workload);
    }
    found.sort_by(|a, b| (a.runtime, &a.name).cmp(&(b.runtime, &b.name)));
    found
}

/// Adds `workload`, or merges its processes into the one already found with the same id or
/// one of the same processes: Docker's containers are also in runc's or runsc's state (which
/// knows the gofer), libvirt's QEMU is also a QEMU process. The first found names it.
fn add(found: &mut Vec<Workload>, workload: Workload) {
    let same =
        |w: &Workload| w.id == workload.id || w.pids.iter().any(|p| workload.pids.contains(p));
    match found.iter_mut().find(|w| same(w)) {
        Some(known) => {
            let pids: BTreeSet<u32> = known.pids.iter().chain(&workload.pids).copied().collect();
            known.pids = pids.into_iter().collect();
        }
        None => found.push(workload),
    }
}

/// The workloads `spec` names: by name or id, else by a unique id prefix (as Docker accepts).
pub fn named<'a>(workloads: &'a [Workload], spec: &str) -> Vec<&'a Workload> {
    let exact: Vec<_> = workloads.iter().filter(|w| w.is_named(spec)).collect();
    if !exact.is_empty() {
        return exact;
    }
    workloads.iter().filter(|w| w.id.starts_with(spec)).collect()
}

#[cfg(test)]
mod tests;
