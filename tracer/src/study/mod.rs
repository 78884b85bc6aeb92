//! `ktrace study`: the seed study's question (how much of the host kernel do containers,
//! gVisor and microVMs exercise, and how) answered in one command, without a gcov kernel.
//!
//! Every platform ([`platform`]) runs every benchmark ([`benchmark`]), one run at a time, each
//! in a cgroup v2 directory of its own that is traced ([`trace`]) from the platform's start to
//! its end: syscalls always, kernel functions counted where the kernel allows it, sampled
//! where it does not. Each run is saved as a record (`DIR/<platform>-<benchmark>.json`, the
//! format of `ktrace record`) and listed with its benchmark score in `DIR/study.json`
//! ([`manifest`]); the report ([`report`]) is made from those files alone.
//!
//! The study owns everything it starts: the runs' cgroups (named `ktrace-study-<pid>-...`,
//! directly below the v2 root), the network namespaces of the network benchmark, containers
//! and sandboxes (their state lives in a scratch directory under /var/tmp), the iperf3 servers
//! (in a cgroup of their own). Each is removed when the run ends, fails or is interrupted:
//! Ctrl-C or SIGTERM stop the study at once and leave none of them behind.
mod benchmark;
mod manifest;
pub(crate) mod network;
pub(crate) mod platform;
mod report;
mod rootfs;
mod trace;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, anyhow, bail};

pub(crate) use self::report::figure;
pub use self::{benchmark::Benchmark, platform::Kind};
use self::{
    manifest::{Manifest, PlatformEntry, RunEntry, Skipped, Tracing},
    network::Network,
    platform::{Job, Platform},
};
use crate::{
    attach,
    cgroup::{Hierarchy, OwnedCgroup},
    lines::{self, LineRequest},
    plan::Plan,
    record::{self, Record, RecordInfo},
    signals::Signals,
};

/// What to study.
#[derive(Debug, Clone)]
pub struct Options {
    /// `None`: every platform that works here; the others are skipped with their reason.
    pub platforms: Option<Vec<Kind>>,
    pub benchmarks: Vec<Benchmark>,
    /// Each benchmark's length.
    pub seconds: u32,
    /// Where the records and the report go.
    pub dir: PathBuf,
    /// The traced kernel's image with DWARF, for the report.
    pub vmlinux: Option<PathBuf>,
    /// Why the seed study's line table is not counted ([`seed_lines`]' error), for the report.
    pub why_no_lines: Option<String>,
}

/// How a study ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every run was tried; `failed` of them failed.
    Done { failed: usize },
    /// Stopped by this signal; the completed runs' records are in the directory.
    Interrupted(&'static str),
}

/// Fails unless `dir` can take a study: an earlier study there is replaced only with `force`.
/// The study creates `dir` once its platforms are ready.
pub fn check_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if dir.join(manifest::FILE).exists() && !force {
        bail!("{} holds a study already; pass --force to replace it", dir.display());
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    Ok(())
}

/// The function of the seed study's line table: its body, or the function that holds it.
pub const SEED_LINES: &str = "is_skb_forwardable";

/// The lines to count when the study's network benchmark runs and none were asked for: those
/// of the function that holds [`SEED_LINES`]' body on this kernel (`__is_skb_forwardable`, a
/// static inline, on Linux 6.12: the exported wrapper never runs on veth's path), or its own.
/// An error says why this kernel cannot count them (no kprobes, no DWARF).
pub fn seed_lines(vmlinux: Option<&Path>) -> anyhow::Result<String> {
    attach::kprobe_pmu_type().map_err(anyhow::Error::msg)?;
    let request = LineRequest {
        functions: vec![SEED_LINES.to_owned()],
        vmlinux: vmlinux.map(Path::to_owned),
        source: None,
    };
    let plan = lines::plan(&request)?;
    Ok(plan.functions[0].function.body.clone().unwrap_or_else(|| SEED_LINES.to_owned()))
}

/// Runs the study with `plan` (made once, attached for each run) until every run was tried or
/// a signal stops it, then writes the report.
pub async fn run(options: &Options, plan: &Plan, signals: &mut Signals) -> anyhow::Result<Outcome> {
    let info = RecordInfo::new(plan);
    let mut manifest = Manifest {
        study_version: manifest::STUDY_VERSION,
        ktrace_version: env!("CARGO_PKG_VERSION").to_owned(),
        started: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        host: info.host.clone(),
        kernel_release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |r| r.trim().to_owned()),
        seconds: options.seconds,
        tracing: Tracing {
            why_no_lines: options.why_no_lines.clone(),
            ..Tracing::new(plan, &info)
        },
        platforms: Vec::new(),
        skipped: Vec::new(),
        benchmarks: options.benchmarks.clone(),
        runs: Vec::new(),
    };
    let study = Study { options, plan, info: &info, started: Instant::now() };
    let outcome = tokio::select! {
        done = study.run(&mut manifest) => done?,
        signal = signals.stop_signal() => Outcome::Interrupted(signal),
    };
    if let Outcome::Done { .. } = outcome {
        let report = report::write(&options.dir, options.vmlinux.as_deref())?;
        eprintln!(
            "ktrace: study: wrote {} and {} ({} figures, {} findings)",
            options.dir.join("report.md").display(),
            options.dir.join("report.json").display(),
            report.figures.files.len(),
            report.findings.len()
        );
    }
    Ok(outcome)
}

/// Makes the report of the study in `dir` again, from its files.
pub fn report_only(dir: &Path, vmlinux: Option<&Path>) -> anyhow::Result<()> {
    let report = report::write(dir, vmlinux)?;
    eprintln!(
        "ktrace: study: wrote {} and {} ({} figures) from {} records",
        dir.join("report.md").display(),
        dir.join("report.json").display(),
        report.figures.files.len(),
        report.study.runs.iter().filter(|r| r.record.is_some()).count()
    );
    Ok(())
}

struct Study<'a> {
    options: &'a Options,
    plan: &'a Plan,
    info: &'a RecordInfo,
    started: Instant,
}

impl Study<'_> {
    /// Prepares the platforms and runs every benchmark on each, keeping `manifest` and its
    /// file up to date after each run. Dropped at any await point, it leaves nothing behind.
    async fn run(&self, manifest: &mut Manifest) -> anyhow::Result<Outcome> {
        let hierarchy = Hierarchy::discover()?;
        let platforms = self.prepare(manifest).await?;
        let dir = &self.options.dir;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        manifest.write(dir)?;
        let prefix = format!("ktrace-study-{}", std::process::id());
        let scratch = scratch(&prefix)?;
        let (servers, _) = hierarchy.create(&format!("{prefix}-servers"))?;
        let runs: Vec<(&Platform, Benchmark)> = platforms
            .iter()
            .flat_map(|p| self.options.benchmarks.iter().map(move |&b| (p, b)))
            .collect();
        let mut progress = Progress::default();
        for (i, &(platform, benchmark)) in runs.iter().enumerate() {
            let kind = platform.kind();
            let step = format!("[{}/{}] {kind} {benchmark}", i + 1, runs.len());
            eprintln!("ktrace: study: {step}: running");
            let started = Instant::now();
            let name = format!("{prefix}-{kind}-{benchmark}");
            let result = self
                .run_one(&hierarchy, platform, benchmark, &name, scratch.path(), &servers)
                .await;
            let wall = started.elapsed();
            let (record, score, error) = match result {
                Ok((record, score)) => (Some(record), Some(score), None),
                Err(e) => (None, None, Some(format!("{e:#}"))),
            };
            let outcome = match (&score, &error) {
                (Some(score), _) => format!("{} {}", figure(*score), benchmark.unit()),
                (None, error) => format!("FAILED: {}", error.as_deref().unwrap_or_default()),
            };
            manifest.runs.push(RunEntry {
                platform: kind.to_string(),
                benchmark,
                record,
                score,
                unit: benchmark.unit().to_owned(),
                wall_secs: wall.as_secs_f64(),
                error,
            });
            manifest.write(&self.options.dir)?;
            progress.done(kind, wall);
            let left = progress.estimate(runs[i + 1..].iter().map(|(p, _)| p.kind()));
            eprintln!(
                "ktrace: study: {step}: {outcome} ({:.1} s); elapsed {}, about {} left",
                wall.as_secs_f64(),
                clock(self.started.elapsed()),
                clock(left)
            );
        }
        Ok(Outcome::Done { failed: manifest.runs.iter().filter(|r| r.error.is_some()).count() })
    }

    /// The platforms that can run: the ones asked for (an error if one cannot), or every one
    /// that works here (the others skipped with their reason).
    async fn prepare(&self, manifest: &mut Manifest) -> anyhow::Result<Vec<Platform>> {
        let asked = self.options.platforms.as_deref();
        let mut platforms = Vec::new();
        for &kind in asked.unwrap_or(&Kind::ALL) {
            match Platform::prepare(kind).await {
                Ok(platform) => {
                    eprintln!("ktrace: study: {kind}: {}", platform.describe());
                    manifest.platforms.push(PlatformEntry {
                        name: kind.to_string(),
                        description: platform.describe(),
                    });
                    platforms.push(platform);
                }
                Err(e) if asked.is_none() => {
                    eprintln!("ktrace: study: skipping {kind}: {e:#}");
                    manifest
                        .skipped
                        .push(Skipped { platform: kind.to_string(), reason: format!("{e:#}") });
                }
                Err(e) => return Err(e).with_context(|| format!("platform {kind}")),
            }
        }
        if platforms.is_empty() {
            bail!("no platform can run here");
        }
        Ok(platforms)
    }

    /// One run in the cgroup `name`: the record's file name and the benchmark's score.
    async fn run_one(
        &self,
        hierarchy: &Hierarchy,
        platform: &Platform,
        benchmark: Benchmark,
        name: &str,
        scratch: &Path,
        servers: &OwnedCgroup,
    ) -> anyhow::Result<(String, f64)> {
        let (cgroup, mut traced) = hierarchy.create(name)?;
        let label = format!("{}-{benchmark}", platform.kind());
        traced.label = label.clone();
        let run_dir = scratch.join(name);
        fs::create_dir(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let network = match benchmark {
            Benchmark::Network => Some(Network::start(name, platform.link(), servers).await?),
            _ => None,
        };
        let job = Job {
            name,
            cgroup: &cgroup,
            benchmark,
            seconds: self.options.seconds,
            scratch: &run_dir,
            network: network.as_ref(),
        };
        let limit = time_limit(self.options.seconds);
        let command = vec![format!("ktrace study: {benchmark} on {}", platform.kind())];
        let (output, report) = trace::trace_while(&traced, self.plan, command, async {
            tokio::time::timeout(limit, platform.run(&job))
                .await
                .map_err(|_| anyhow!("the run did not end within {} s", limit.as_secs()))?
        })
        .await?;
        let score = benchmark.score(&output).with_context(|| {
            format!("reading the score from the {benchmark} benchmark's output")
        })?;
        let file = format!("{label}.json");
        let record = Record::new(self.info.clone(), report);
        record::write(&self.options.dir.join(&file), &record, true)?;
        fs::remove_dir_all(&run_dir).with_context(|| format!("removing {}", run_dir.display()))?;
        Ok((file, score))
    }
}

/// A directory of its own for the runs' files, `<prefix>-XXXXXX` in /var/tmp (on disk, where
/// there is one) or else the temporary directory; removed with everything in it on drop.
pub(crate) fn scratch(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let var_tmp = Path::new("/var/tmp");
    let parent = if var_tmp.is_dir() { var_tmp.to_owned() } else { std::env::temp_dir() };
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a scratch directory in {}", parent.display()))
}

/// How long a run may take: the benchmark, a VM's boot and fileio's preparation under
/// emulation, with room to spare.
pub(crate) fn time_limit(seconds: u32) -> Duration {
    Duration::from_secs(u64::from(seconds) * 4 + 180)
}

/// Wall times of the completed runs, per platform, for the estimate of what remains.
#[derive(Default)]
struct Progress {
    walls: BTreeMap<Kind, Vec<Duration>>,
}

impl Progress {
    fn done(&mut self, kind: Kind, wall: Duration) {
        self.walls.entry(kind).or_default().push(wall);
    }

    /// The time `remaining` runs will take: each at its platform's mean so far, or at the mean
    /// of all runs for a platform that has not run yet.
    fn estimate(&self, remaining: impl Iterator<Item = Kind>) -> Duration {
        let mean = |walls: &[Duration]| walls.iter().sum::<Duration>() / walls.len().max(1) as u32;
        let all: Vec<Duration> = self.walls.values().flatten().copied().collect();
        remaining.map(|kind| self.walls.get(&kind).map_or_else(|| mean(&all), |w| mean(w))).sum()
    }
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_uses_each_platforms_own_pace() {
        let mut p = Progress::default();
        assert_eq!(p.estimate([Kind::Bare].into_iter()), Duration::ZERO);
        p.done(Kind::Bare, Duration::from_secs(2));
        p.done(Kind::Bare, Duration::from_secs(4));
        p.done(Kind::Qemu, Duration::from_secs(30));
        // bare 3 s each; runsc has not run: the mean of all, 12 s.
        let left = p.estimate([Kind::Bare, Kind::Qemu, Kind::Runsc].into_iter());
        assert_eq!(left, Duration::from_secs(3 + 30 + 12));
    }

    #[test]
    fn clocks_read_like_clocks() {
        assert_eq!(clock(Duration::from_secs(5)), "0:05");
        assert_eq!(clock(Duration::from_secs(125)), "2:05");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }
}
