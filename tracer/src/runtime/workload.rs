//! What discovery finds: a [`Workload`], the [`Runtime`] that started it, its [`State`] and
//! its [`Placement`] in the cgroup v2 tree, and the [`Roots`] discovery reads.
use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::process::cgroup_of;

/// Where discovery looks: the host's directories, or a test's copy of them.
#[derive(Debug, Clone)]
pub struct Roots {
    /// Runtime state: `/run` (`/var/run` is a link to it on current distributions).
    pub run: PathBuf,
    /// Engine state: `/var/lib` (Docker's containers, Podman's storage).
    pub var_lib: PathBuf,
    /// `/proc`.
    pub proc: PathBuf,
    /// The cgroup v2 mount.
    pub cgroup2: PathBuf,
}

impl Roots {
    /// The live host's directories, with the cgroup v2 mount at `cgroup2`.
    pub fn host(cgroup2: &Path) -> Self {
        Self {
            run: PathBuf::from("/run"),
            var_lib: PathBuf::from("/var/lib"),
            proc: PathBuf::from("/proc"),
            cgroup2: cgroup2.to_owned(),
        }
    }
}

/// The software that started a workload, as users call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    Runc,
    Crun,
    Runsc,
    Docker,
    Podman,
    Containerd,
    Lxc,
    Libvirt,
    SystemdNspawn,
    Firecracker,
    Qemu,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runc => "runc",
            Self::Crun => "crun",
            Self::Runsc => "runsc",
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Containerd => "containerd",
            Self::Lxc => "lxc",
            Self::Libvirt => "libvirt",
            Self::SystemdNspawn => "systemd-nspawn",
            Self::Firecracker => "firecracker",
            Self::Qemu => "qemu",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime says about the workload's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Set up, its own program not started yet (`runc create`, `runsc create`).
    Created,
    Running,
    Paused,
    Stopped,
}

impl State {
    /// The OCI runtimes' words for their states (`runsc`'s `status`, `runc state`).
    pub(super) fn parse(status: &str) -> Self {
        match status {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            _ => Self::Stopped,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        })
    }
}

/// Which runtime's workload a traced cgroup is: carried into labels, reports and records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRef {
    pub runtime: Runtime,
    pub name: String,
    pub id: String,
}

/// Where a workload's processes are in the cgroup v2 tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Placement {
    /// A cgroup that holds the workload: its path below the v2 mount, e.g. `/docker/ID`.
    Own { cgroup: String },
    /// No cgroup of its own: why, and what to do about it.
    None { why: String, fix: String },
}

impl Placement {
    /// The cgroup below the v2 mount, if the workload has one of its own.
    pub fn cgroup(&self) -> Option<&str> {
        match self {
            Self::Own { cgroup } => Some(cgroup),
            Self::None { .. } => None,
        }
    }
}

/// A container, sandbox or VM that ktrace can trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub runtime: Runtime,
    /// What users call it: the container name, or the id where the runtime has no names.
    pub name: String,
    pub id: String,
    pub state: State,
    /// Its main processes as the runtime records them (init, sandbox, gofer, VM): their
    /// children belong to it too.
    pub pids: Vec<u32>,
    #[serde(flatten)]
    pub placement: Placement,
}

impl Workload {
    pub fn reference(&self) -> WorkloadRef {
        WorkloadRef { runtime: self.runtime, name: self.name.clone(), id: self.id.clone() }
    }

    /// Whether `spec` names it: its name or id.
    pub fn is_named(&self, spec: &str) -> bool {
        self.name == spec || self.id == spec
    }
}

/// Where the processes `pids` are, by their `0::` line: the ground truth, whatever the state
/// files say. `declared` is the cgroup the runtime says it made, for a workload that has no
/// process left; `in_root` says why a workload of this kind can be in the v2 root.
pub(super) fn place(
    roots: &Roots,
    pids: &[u32],
    declared: Option<&str>,
    in_root: &str,
) -> Placement {
    match pids.iter().find_map(|&pid| cgroup_of(&roots.proc, pid)) {
        Some(path) if path == "/" => Placement::None {
            why: format!(
                "its processes are in the cgroup v2 root with every other process: {in_root}"
            ),
            fix: "name it with --cgroup and ktrace moves its processes into a cgroup of their \
                  own for the trace (and back afterwards), or start it inside one with `ktrace \
                  run -- CMD`"
                .to_owned(),
        },
        Some(path) => Placement::Own { cgroup: path },
        None => match declared.filter(|d| roots.cgroup2.join(d.trim_start_matches('/')).is_dir()) {
            Some(path) => Placement::Own { cgroup: path.to_owned() },
            None => Placement::None {
                why: "it has no running process".to_owned(),
                fix:
                    "start it, or trace it from its start with `ktrace attach --wait --cgroup NAME`"
                        .to_owned(),
            },
        },
    }
}

/// Why a gVisor sandbox can be in the v2 root.
pub(super) const RUNSC_IN_ROOT: &str = "runsc uses only cgroup v1 on hybrid hosts";
