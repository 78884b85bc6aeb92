//! The isolation platforms a study compares, one file each: a bare process ([`bare`]), a runc
//! container ([`runc`]), a gVisor sandbox ([`runsc`]), a QEMU VM ([`qemu`]) and an LXC
//! container ([`lxc`]).
//!
//! A platform is prepared once per study ([`Platform::prepare`]: its programs are installed,
//! its artefacts are built or found in ktrace's cache), then runs one benchmark script per
//! [`Job`] from its own start to its end ([`Platform::run`]) with every process it starts
//! inside the job's cgroup v2 directory, which is what ktrace traces. What a run leaves behind
//! (container state, a sandbox) is removed when the run ends or when its future is dropped
//! (Ctrl-C); processes are killed with the job's cgroup.
mod bare;
mod lxc;
mod oci;
mod qemu;
mod runc;
mod runsc;

use std::{
    ffi::{OsStr, OsString},
    fmt,
    path::Path,
    process::Stdio,
    str::FromStr,
};

use anyhow::{Context as _, bail};

use super::{
    benchmark::Benchmark,
    network::{self, Link, Network},
};
use crate::{cgroup::OwnedCgroup, child};

/// The platforms ktrace knows, whether or not it can drive them here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Bare,
    Runc,
    Lxc,
    Runsc,
    Qemu,
    Firecracker,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Bare, Kind::Runc, Kind::Lxc, Kind::Runsc, Kind::Qemu, Kind::Firecracker];

    /// Whether the study can run it; the others are listed as skipped in every report.
    fn driven(self) -> bool {
        self != Self::Firecracker
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Runc => "runc",
            Self::Runsc => "runsc",
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
            Self::Firecracker => "firecracker",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    /// A platform the study can drive; Firecracker is known but refused.
    fn from_str(s: &str) -> Result<Self, String> {
        let driven = || {
            let names: Vec<_> = Self::ALL.iter().filter(|k| k.driven()).map(|k| k.name()).collect();
            names.join(", ")
        };
        match Self::ALL.into_iter().find(|k| k.name() == s) {
            Some(kind) if kind.driven() => Ok(kind),
            Some(kind) => {
                Err(format!("ktrace study does not drive {kind} yet; it drives {}", driven()))
            }
            None => Err(format!("unknown platform `{s}`; the platforms are {}", driven())),
        }
    }
}

/// A platform ready to run benchmarks.
#[derive(Debug)]
pub enum Platform {
    Bare(bare::Bare),
    Runc(runc::Runc),
    Runsc(runsc::Runsc),
    Qemu(qemu::Qemu),
    Lxc(lxc::Lxc),
}

impl Platform {
    /// Checks that `kind` can run here and builds or finds what it needs; the error says why
    /// it cannot.
    pub async fn prepare(kind: Kind) -> anyhow::Result<Self> {
        Ok(match kind {
            Kind::Bare => Self::Bare(bare::Bare),
            Kind::Runc => Self::Runc(runc::Runc::prepare()?),
            Kind::Runsc => Self::Runsc(runsc::Runsc::prepare()?),
            Kind::Qemu => Self::Qemu(qemu::Qemu::prepare().await?),
            Kind::Lxc => Self::Lxc(lxc::Lxc::prepare()?),
            Kind::Firecracker => bail!(
                "ktrace study does not drive firecracker yet (it is not packaged for Debian; \
                 the qemu platform stands in for it)"
            ),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Bare(_) => Kind::Bare,
            Self::Runc(_) => Kind::Runc,
            Self::Runsc(_) => Kind::Runsc,
            Self::Qemu(_) => Kind::Qemu,
            Self::Lxc(_) => Kind::Lxc,
        }
    }

    /// What ran, for the report: versions and the settings that shape the results.
    pub fn describe(&self) -> String {
        match self {
            Self::Bare(b) => b.describe(),
            Self::Runc(r) => r.describe(),
            Self::Runsc(r) => r.describe(),
            Self::Qemu(q) => q.describe(),
            Self::Lxc(l) => l.describe(),
        }
    }

    /// How the platform is attached to a network benchmark's private network.
    pub fn link(&self) -> Link {
        match self {
            Self::Qemu(_) => Link::Tap,
            Self::Bare(_) | Self::Runc(_) | Self::Runsc(_) | Self::Lxc(_) => Link::Veth,
        }
    }

    /// Runs the job's benchmark from the platform's start to its end; what the benchmark
    /// printed.
    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        match self {
            Self::Bare(b) => b.run(job).await,
            Self::Runc(r) => r.run(job).await,
            Self::Runsc(r) => r.run(job).await,
            Self::Qemu(q) => q.run(job).await,
            Self::Lxc(l) => l.run(job).await,
        }
    }
}

/// One benchmark run on one platform.
pub struct Job<'a> {
    /// Unique on the host: the run's cgroup (directly below the v2 root), its container or
    /// sandbox, and its network namespaces are named after it.
    pub name: &'a str,
    /// Everything the platform starts joins it.
    pub cgroup: &'a OwnedCgroup,
    pub benchmark: Benchmark,
    pub seconds: u32,
    /// A directory of the run's own, removed after it: bundles, disks, benchmark files.
    pub scratch: &'a Path,
    /// The network benchmark's private network.
    pub network: Option<&'a Network>,
}

impl Job<'_> {
    /// The benchmark's script, running its file I/O in `workdir` (a path on the platform).
    fn script(&self, workdir: &str) -> String {
        self.benchmark.script(self.seconds, workdir, network::SERVER)
    }
}

/// The first line `program ARGS` prints, e.g. its version.
fn first_line(program: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tracer_images::output_of(std::process::Command::new(program).args(args))?;
    Ok(out.lines().next().unwrap_or_default().trim().to_owned())
}

/// The command line `args`; with a network, run in its platform namespace (`nsenter
/// --net=NS`).
fn command_line(network: Option<&Network>, args: &[&OsStr]) -> Vec<OsString> {
    let mut argv = Vec::new();
    if let Some(network) = network {
        let mut net = OsString::from("--net=");
        net.push(network.platform_namespace());
        argv.extend([OsString::from("nsenter"), net]);
    }
    argv.extend(args.iter().map(|a| a.to_os_string()));
    argv
}

/// Runs `argv` inside `cgroup` to its end and returns its stdout; an error with the end of
/// its stderr if it fails. It runs in a process group of its own, so that a Ctrl-C at the
/// terminal reaches ktrace alone, which then stops the run itself; and it is killed if the
/// run's future is dropped.
async fn output(cgroup: &OwnedCgroup, argv: &[OsString], what: &str) -> anyhow::Result<String> {
    let mut command = child::command(argv)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = child::spawn_command_in(cgroup, None, command)
        .with_context(|| format!("cannot start {what}"))?;
    let out = child.wait_with_output().await.with_context(|| format!("waiting for {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail = |text: &str| {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            lines[lines.len().saturating_sub(5)..].join("\n  ")
        };
        bail!(
            "{what} failed ({}):\n  {}",
            out.status,
            match tail(&stderr) {
                t if t.is_empty() => tail(&stdout),
                t => t,
            }
        );
    }
    Ok(stdout)
}
