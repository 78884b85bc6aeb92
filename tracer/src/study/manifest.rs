//! `DIR/study.json`: what a study ran. The platforms with their versions and settings, the
//! platforms skipped and why, how the kernel was traced, and per run its benchmark score, wall
//! time and record file, or why it failed. It is rewritten after every run, so that the
//! completed runs of an interrupted study can still be reported; the report is made from it
//! and the records alone (`ktrace study --report-only DIR`), never from the live trace.
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::benchmark::Benchmark;
use crate::{export::file, plan::Plan, record::RecordInfo};

/// The file's name in the study's directory.
pub const FILE: &str = "study.json";
/// Version of the layout; bumped on any incompatible change.
pub const STUDY_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub study_version: u32,
    pub ktrace_version: String,
    /// When the study started, RFC 3339 UTC.
    pub started: String,
    pub host: String,
    /// The traced (host) kernel.
    pub kernel_release: String,
    /// Each benchmark's length.
    pub seconds: u32,
    pub tracing: Tracing,
    /// Platforms in the order they ran.
    pub platforms: Vec<PlatformEntry>,
    pub skipped: Vec<Skipped>,
    pub benchmarks: Vec<Benchmark>,
    pub runs: Vec<RunEntry>,
}

/// How the host kernel was traced in every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracing {
    /// Always: syscalls per cgroup from the raw syscall tracepoints.
    pub syscalls: String,
    /// `kprobe-multi`, `fentry` or `kprobe` when kernel functions were counted; `samples`
    /// when they were sampled because this kernel cannot trace functions; absent otherwise.
    pub functions: Option<String>,
    /// Functions selected for counting.
    pub function_targets: usize,
    /// Sampling frequency per CPU, when sampling.
    pub sample_hz: Option<u64>,
    /// Why functions were sampled rather than counted, when they were.
    pub why_sampled: Option<String>,
    /// Functions whose source lines were counted (`--lines`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Why the seed study's line table was not counted, when the network benchmark ran
    /// without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_no_lines: Option<String>,
}

impl Tracing {
    pub fn new(plan: &Plan, info: &RecordInfo) -> Self {
        Self {
            syscalls: info.backends.syscalls.to_owned(),
            functions: info.backends.functions.clone(),
            function_targets: info.function_targets,
            sample_hz: plan.sampling.map(|s| s.frequency_hz),
            why_sampled: plan.sampled_because.clone(),
            lines: plan
                .lines
                .iter()
                .flat_map(|l| l.functions.iter().map(|f| f.function.name.clone()))
                .collect(),
            why_no_lines: None,
        }
    }

    /// Whether kernel functions were counted exactly (not sampled).
    pub fn counted(&self) -> bool {
        self.functions.as_deref().is_some_and(|f| f != "samples")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformEntry {
    pub name: String,
    /// Versions and settings that shape the results.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub platform: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub platform: String,
    pub benchmark: Benchmark,
    /// The record's file name in the study's directory; absent when the run failed.
    pub record: Option<String>,
    /// The benchmark's figure, in `unit`.
    pub score: Option<f64>,
    pub unit: String,
    /// Wall time of the run: the platform's start, the benchmark and its stop.
    pub wall_secs: f64,
    /// Why the run failed.
    pub error: Option<String>,
}

impl Manifest {
    /// Writes `DIR/study.json` atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        file::write_atomically(&dir.join(FILE), true, |out| {
            serde_json::to_writer_pretty(&mut *out, self)?;
            writeln!(out)
        })
    }

    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE);
        let text = fs::read_to_string(&path).with_context(|| {
            format!("reading {} (is {} a study's directory?)", path.display(), dir.display())
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a ktrace study (not JSON)", path.display()))?;
        match value.get("study_version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(STUDY_VERSION) => {}
            Some(v) => bail!(
                "{}: study_version {v} is not supported (this ktrace reads {STUDY_VERSION})",
                path.display()
            ),
            None => bail!("{}: not a ktrace study (no study_version)", path.display()),
        }
        serde_json::from_value(value)
            .with_context(|| format!("{}: not a valid study", path.display()))
    }

    /// The run of `platform` and `benchmark` that produced a record, and the record's path.
    pub fn record(&self, dir: &Path, platform: &str, benchmark: Benchmark) -> Option<PathBuf> {
        self.runs
            .iter()
            .find(|r| r.platform == platform && r.benchmark == benchmark)
            .and_then(|r| r.record.as_ref())
            .map(|name| dir.join(name))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// bare and runsc x cpu and network on a kernel that counted 38,000 functions; runsc's
    /// network run failed.
    pub(crate) fn manifest() -> Manifest {
        let run = |platform: &str, benchmark, score: Option<f64>| RunEntry {
            platform: platform.to_owned(),
            benchmark,
            record: score.map(|_| format!("{platform}-{benchmark}.json")),
            score,
            unit: benchmark.unit().to_owned(),
            wall_secs: 3.5,
            error: score.is_none().then(|| "runsc run failed".to_owned()),
        };
        Manifest {
            study_version: STUDY_VERSION,
            ktrace_version: "0.1.0".to_owned(),
            started: "2026-11-28T18:00:00.000Z".to_owned(),
            host: "h".to_owned(),
            kernel_release: "6.12.0-test".to_owned(),
            seconds: 2,
            tracing: Tracing {
                syscalls: "raw_tracepoint".to_owned(),
                functions: Some("kprobe-multi".to_owned()),
                function_targets: 38_000,
                sample_hz: None,
                why_sampled: None,
                lines: Vec::new(),
                why_no_lines: None,
            },
            platforms: ["bare", "runsc"]
                .map(|name| PlatformEntry { name: name.to_owned(), description: "d".to_owned() })
                .to_vec(),
            skipped: vec![Skipped { platform: "qemu".to_owned(), reason: "not here".to_owned() }],
            benchmarks: vec![Benchmark::Cpu, Benchmark::Network],
            runs: vec![
                run("bare", Benchmark::Cpu, Some(2000.0)),
                run("bare", Benchmark::Network, Some(12.5)),
                run("runsc", Benchmark::Cpu, Some(1500.0)),
                run("runsc", Benchmark::Network, None),
            ],
        }
    }

    #[test]
    fn writes_and_reads_back_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest();
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        assert_eq!(
            m.record(dir.path(), "runsc", Benchmark::Cpu),
            Some(dir.path().join("runsc-cpu.json"))
        );
        assert_eq!(m.record(dir.path(), "runsc", Benchmark::Network), None);
        fs::write(dir.path().join(FILE), r#"{"study_version": 9}"#).unwrap();
        let err = format!("{:#}", Manifest::read(dir.path()).unwrap_err());
        assert!(err.ends_with("study_version 9 is not supported (this ktrace reads 1)"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = format!("{:#}", Manifest::read(empty.path()).unwrap_err());
        assert!(err.contains("a study's directory?"), "{err}");
    }
}
