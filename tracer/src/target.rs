//! What a trace of existing workloads counts: the cgroups that `--cgroup` and `--pid` name,
//! found now or, with `--wait`, as soon as they appear; and the processes ktrace moves into a
//! cgroup of its own because they have none (`--move`, or a named sandbox in the v2 root).
//!
//! `--wait` watches the v2 tree and the runtimes' state directories with inotify and looks
//! again after every change, so counting starts within one attach of the cgroup's creation.
//! runc creates a container's cgroup in `runc create`, before the container's program runs:
//! with `create` then `start` (what Docker and containerd do) everything the container
//! itself runs is counted; with `runc run` ktrace races runc's own setup.
use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::io::unix::AsyncFd;

use crate::{
    cgroup::{Cgroup, Found, Hierarchy, MovedProcesses, ROOT_SPEC},
    runtime::{self, Roots, Workload, WorkloadRef},
};

/// What the user asked to trace.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--cgroup`: paths, workload names or ids, directory names.
    pub cgroups: Vec<String>,
    /// `--pid`: processes whose cgroup to trace.
    pub pids: Vec<u32>,
    /// `--wait`: wait for `cgroups` that do not exist yet.
    pub wait: bool,
    /// `--move`: move `pids` that are in the v2 root into a cgroup of their own.
    pub move_processes: bool,
}

/// The cgroups to trace, in argument order (`--cgroup`s, then `--pid`s), and the processes
/// moved for the trace; dropping it moves them back.
#[derive(Debug)]
pub struct Targets {
    pub cgroups: Vec<Cgroup>,
    moved: Vec<MovedProcesses>,
}

/// How long `--wait` sleeps between looks when inotify reports nothing (a runtime whose
/// state directory did not exist when the watch began).
const RELOOK: Duration = Duration::from_millis(500);

/// Resolves `request` on the host; with `wait`, until every `--cgroup` exists.
pub async fn resolve(hierarchy: &Hierarchy, request: &Request) -> anyhow::Result<Targets> {
    let roots = Roots::host(hierarchy.root());
    let mut found: Vec<Option<Found>> = vec![None; request.cgroups.len()];
    let mut watch = None;
    loop {
        let workloads = runtime::discover(&roots);
        for (spec, slot) in request.cgroups.iter().zip(&mut found) {
            if slot.is_none() {
                *slot = match request.wait {
                    true => hierarchy.lookup(spec, &workloads)?,
                    false => Some(hierarchy.resolve(spec, &workloads)?),
                };
            }
        }
        let missing: Vec<&str> = request
            .cgroups
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(s, _)| s.as_str())
            .collect();
        if missing.is_empty() {
            let found = found.into_iter().flatten().collect();
            return into_cgroups(hierarchy, &roots, found, &workloads, request);
        }
        let watch = match &mut watch {
            Some(watch) => watch,
            None => {
                eprintln!("ktrace: waiting for {} to appear", missing.join(", "));
                watch.insert(Watch::new()?)
            }
        };
        // Again each time: cgroups and state directories made since the last look.
        watch.add(&watch_dirs(&roots))?;
        watch.changed(RELOOK).await?;
    }
}

/// Turns what was found into cgroups: workloads without a cgroup, and `--pid`s in the root
/// with `--move`, are moved into one of their own.
fn into_cgroups(
    hierarchy: &Hierarchy,
    roots: &Roots,
    found: Vec<Found>,
    workloads: &[Workload],
    request: &Request,
) -> anyhow::Result<Targets> {
    // The spelling of each target, for the message naming a cgroup given twice.
    let spelled: Vec<String> = request
        .cgroups
        .iter()
        .map(|spec| format!("--cgroup {spec}"))
        .chain(request.pids.iter().map(|pid| format!("--pid {pid}")))
        .collect();
    refuse_repeats(
        &spelled,
        found.iter().map(|f| match f {
            Found::Cgroup(c) => Identity::Cgroup(c.id),
            Found::Unplaced(w) => Identity::Unplaced(w.reference()),
        }),
    )?;
    let mut targets = Targets { cgroups: Vec::new(), moved: Vec::new() };
    for found in found {
        match found {
            Found::Cgroup(cgroup) => {
                if cgroup.label == ROOT_SPEC {
                    eprintln!(
                        "ktrace: --cgroup / is the cgroup v2 root {}: it traces every task on \
                         the host",
                        cgroup.path.display()
                    );
                }
                targets.cgroups.push(cgroup);
            }
            Found::Unplaced(workload) => {
                let (moved, mut cgroup) =
                    move_for_trace(hierarchy, roots, &workload.name, &workload.pids)?;
                cgroup.workload = Some(workload.reference());
                eprintln!(
                    "ktrace: {} `{}` has no cgroup v2 directory of its own; moved its {} \
                     processes from {} into {} for the trace: they go back when it ends",
                    workload.runtime,
                    workload.name,
                    moved.count(),
                    moved.origin(),
                    moved.path().display()
                );
                targets.cgroups.push(cgroup);
                targets.moved.push(moved);
            }
        }
    }
    for &pid in &request.pids {
        let workload = workloads.iter().find(|w| w.pids.contains(&pid));
        let label = workload.map_or_else(|| format!("pid:{pid}"), |w| w.name.clone());
        let in_root = runtime::cgroup_of(&roots.proc, pid).is_some_and(|c| c == "/");
        let mut cgroup = if in_root && request.move_processes {
            let (moved, cgroup) = move_for_trace(hierarchy, roots, &label, &[pid])?;
            eprintln!(
                "ktrace: moved process {pid} and its descendants ({} processes) from the cgroup \
                 v2 root into {} for the trace: they go back when it ends",
                moved.count(),
                moved.path().display()
            );
            targets.moved.push(moved);
            cgroup
        } else {
            hierarchy.of_process(&roots.proc, pid, &label)?
        };
        cgroup.workload = workload.map(Workload::reference);
        targets.cgroups.push(cgroup);
    }
    refuse_repeats(&spelled, targets.cgroups.iter().map(|c| Identity::Cgroup(c.id)))?;
    Ok(targets)
}

/// What makes two targets the same: a cgroup's id, or the workload ktrace would move.
#[derive(Debug, PartialEq)]
enum Identity {
    Cgroup(u64),
    Unplaced(WorkloadRef),
}

/// Refuses a cgroup given twice (`./x`, `x`, its full path, its workload's name, a `--pid` in
/// it): it would be counted in two columns. `spelled` names the targets in order.
fn refuse_repeats(
    spelled: &[String],
    identities: impl Iterator<Item = Identity>,
) -> anyhow::Result<()> {
    let identities: Vec<Identity> = identities.collect();
    for (i, identity) in identities.iter().enumerate() {
        if let Some(first) = identities[..i].iter().position(|other| other == identity) {
            let what = match identity {
                Identity::Cgroup(id) => format!("the same cgroup (id {id})"),
                Identity::Unplaced(w) => format!("the same {} `{}`", w.runtime, w.name),
            };
            bail!("{} and {} are {what}: give it once", spelled[first], spelled[i]);
        }
    }
    Ok(())
}

fn move_for_trace(
    hierarchy: &Hierarchy,
    roots: &Roots,
    label: &str,
    pids: &[u32],
) -> anyhow::Result<(MovedProcesses, Cgroup)> {
    let first = pids.first().copied().unwrap_or_default();
    let name = format!("ktrace-move-{}-{first}", std::process::id());
    hierarchy.move_into_new(&name, label, pids, &roots.proc)
}

/// Where a workload's appearance shows: the cgroup tree, and the runtimes' state directories
/// (and their parents, for a runtime that has not made its directory yet).
fn watch_dirs(roots: &Roots) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    cgroup_dirs(&roots.cgroup2, &mut dirs);
    for dir in [
        "",
        "runc",
        "crun",
        "runsc",
        "docker/runtime-runc/moby",
        "containerd/runc",
        "systemd/machines",
    ] {
        dirs.push(roots.run.join(dir));
    }
    dirs.push(roots.var_lib.join("docker/containers"));
    dirs.push(roots.var_lib.join("containers/storage/overlay-containers"));
    dirs
}

fn cgroup_dirs(dir: &Path, dirs: &mut Vec<PathBuf>) {
    dirs.push(dir.to_owned());
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if sub.file_type().is_ok_and(|t| t.is_dir()) {
            cgroup_dirs(&sub.path(), dirs);
        }
    }
}

/// An inotify instance watching directories for entries created, moved in or written.
struct Watch {
    fd: AsyncFd<OwnedFd>,
}

impl Watch {
    fn new() -> anyhow::Result<Self> {
        // SAFETY: inotify_init1 takes flags only.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("creating an inotify instance");
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is valid, and owned by the AsyncFd for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
            .context("registering the inotify descriptor")?;
        Ok(Self { fd })
    }

    /// Watches `dirs` that exist; a directory watched already keeps its watch.
    fn add(&self, dirs: &[PathBuf]) -> anyhow::Result<()> {
        let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE;
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else { continue };
            // SAFETY: `path` is a NUL-terminated string that outlives the call.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), mask) };
            if wd < 0 {
                let e = io::Error::last_os_error();
                // Removed since it was listed: cgroups come and go.
                if e.kind() != io::ErrorKind::NotFound {
                    bail!("watching {} for new entries: {e}", dir.display());
                }
            }
        }
        Ok(())
    }

    /// Completes when a watched directory changed, or after `timeout`.
    async fn changed(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let readable = async {
            let mut guard = self.fd.readable().await.context("waiting on inotify")?;
            // Drain the events: which one does not matter, the caller looks again.
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: `buf` is writable for its whole length.
                let n = unsafe {
                    libc::read(self.fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n <= 0 {
                    break;
                }
            }
            guard.clear_ready();
            anyhow::Ok(())
        };
        match tokio::time::timeout(timeout, readable).await {
            Ok(result) => result,
            Err(_elapsed) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--cgroup ./x --cgroup x` (or the full path, or the workload's name) used to give two
    /// columns counting the same tasks.
    #[test]
    fn a_cgroup_given_twice_is_refused_naming_both_spellings() {
        let spelled: Vec<String> =
            ["--cgroup ./x", "--cgroup y", "--cgroup x", "--pid 7"].map(String::from).to_vec();
        let ids = |ids: &[u64]| ids.iter().map(|&id| Identity::Cgroup(id)).collect::<Vec<_>>();
        let err = refuse_repeats(&spelled, ids(&[40, 41, 40]).into_iter()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--cgroup ./x and --cgroup x are the same cgroup (id 40): give it once"
        );
        let err = refuse_repeats(&spelled, ids(&[40, 41, 42, 41]).into_iter()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--cgroup y and --pid 7 are the same cgroup (id 41): give it once"
        );
        refuse_repeats(&spelled, ids(&[40, 41, 42, 43]).into_iter()).unwrap();
        let sandbox = WorkloadRef {
            runtime: runtime::Runtime::Runsc,
            name: "gv".to_owned(),
            id: "abc".to_owned(),
        };
        let unplaced = [Identity::Unplaced(sandbox.clone()), Identity::Unplaced(sandbox)];
        let err = refuse_repeats(&spelled, unplaced.into_iter()).unwrap_err();
        assert!(err.to_string().starts_with("--cgroup ./x and --cgroup y are the same "), "{err}");
    }
}
