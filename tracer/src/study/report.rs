//! The study's report, made from `study.json` and the records alone, so that it can be made
//! again elsewhere (`ktrace study --report-only DIR`, e.g. on the host that has the DWARF of a
//! guest's kernel): `report.md` for people, in the seed study's order, and `report.json` with
//! the same figures for programs. When functions were counted and the traced kernel's DWARF is
//! at hand, also one lcov tracefile per platform under `lcov/` for genhtml.
//!
//! Sections: performance per platform and benchmark; syscalls (distinct, calls, failed) and
//! the syscalls only some platforms make; host kernel functions entered (or sampled) per
//! platform and benchmark; per benchmark, coverage by kernel source directory and by module,
//! the hottest functions side by side and those only one platform enters; findings computed
//! from these numbers; and what ktrace cannot see in this study.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    io::{self, Write as _},
    path::Path,
};

use anyhow::Context as _;
use serde::Serialize;

use super::{
    benchmark::Benchmark,
    manifest::{Manifest, Tracing},
};
use crate::{
    compare::{self, Comparison, Measure, Row, markdown_table},
    coverage,
    export::file,
    record::{self, RecordView},
    sources::KernelSources,
};

/// Version of report.json's layout.
pub const REPORT_VERSION: u32 = 1;
const TOP_FUNCTIONS: usize = 15;
const TOP_ONLY_IN: usize = 10;
const TOP_DIRECTORIES: usize = 25;
const TOP_MODULES: usize = 15;
const TOP_SYSCALLS: usize = 30;

/// Everything report.md shows, as report.json carries it.
#[derive(Debug, Serialize)]
pub struct StudyReport {
    pub report_version: u32,
    pub ktrace_version: &'static str,
    /// study.json as the report read it: platforms, runs and their scores, how it traced.
    pub study: Manifest,
    pub syscalls: Vec<SyscallSummary>,
    /// Syscalls some platforms make and others never do: calls summed over benchmarks.
    pub syscalls_only_some: Vec<FunctionRow>,
    /// Host kernel functions entered (counted) or seen in samples, per platform.
    pub footprint: Vec<Footprint>,
    pub benchmarks: Vec<BenchmarkSection>,
    pub lcov: Lcov,
    pub findings: Vec<String>,
    /// What ktrace cannot see in this study.
    pub limits: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SyscallSummary {
    pub platform: String,
    pub benchmark: Benchmark,
    pub distinct: usize,
    pub calls: u64,
    pub failed: u64,
    /// Returns without a counted entry: calls seccomp rejected or a ptrace tracer (gVisor's
    /// ptrace platform) kept from the host kernel. Absent until records carry them.
    pub blocked: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Footprint {
    pub platform: String,
    /// Distinct functions per benchmark, in `study.benchmarks` order; absent where the run
    /// failed.
    pub per_benchmark: Vec<Option<usize>>,
    /// Distinct functions over all benchmarks.
    pub all: usize,
}

#[derive(Debug, Serialize)]
pub struct BenchmarkSection {
    pub benchmark: Benchmark,
    /// The columns: platforms with a record of this benchmark.
    pub platforms: Vec<String>,
    /// `entries` (counted) or `samples`.
    pub measure: &'static str,
    /// Counted functions by kernel source directory, with the DWARF of the traced kernel.
    pub directories: Option<Vec<GroupRow>>,
    pub modules: Vec<GroupRow>,
    pub hottest: Vec<FunctionRow>,
    /// The hottest functions that only some platforms enter.
    pub only_in: Vec<FunctionRow>,
}

#[derive(Debug, Serialize)]
pub struct GroupRow {
    pub name: String,
    /// Per platform: functions hit and functions attached, when counted.
    pub coverage: Option<Vec<(u64, u64)>>,
    /// Per platform: entries or samples.
    pub values: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct FunctionRow {
    pub name: String,
    pub module: Option<String>,
    pub values: Vec<u64>,
    /// The platforms that have it, when not all do.
    pub only_in: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Lcov {
    /// One tracefile per platform, one test (TN) per benchmark, relative to the study's
    /// directory.
    pub files: Vec<String>,
    /// Why there are none, when there are none.
    pub missing: Option<String>,
}

/// A study's runs of one benchmark, read back.
struct Loaded {
    benchmark: Benchmark,
    /// (platform, record file, record), in platform order.
    records: Vec<(String, String, RecordView)>,
}

/// Makes the report of the study in `dir`: reads study.json and the records, writes
/// report.md, report.json and the lcov tracefiles. `vmlinux` is the traced kernel's image with
/// DWARF (default: Debian's debug package in its standard places).
pub fn write(dir: &Path, vmlinux: Option<&Path>) -> anyhow::Result<StudyReport> {
    let manifest = Manifest::read(dir)?;
    let loaded = load(dir, &manifest)?;
    let counted = manifest.tracing.counted();
    let dwarf = match (counted, vmlinux) {
        (false, _) => None,
        (true, Some(path)) => Some(path.to_owned()),
        (true, None) => KernelSources::find(&manifest.kernel_release),
    };
    let comparisons = loaded
        .iter()
        .map(|l| {
            let mut c = compare::compare(&l.records, None);
            if let Some(vmlinux) = &dwarf {
                c.directories = compare::directories(&l.records, None, Some(vmlinux))?;
            }
            Ok(c)
        })
        .collect::<anyhow::Result<Vec<Comparison>>>()?;
    let lcov = match (&dwarf, counted) {
        (_, false) => Lcov {
            files: Vec::new(),
            missing: Some("kernel functions were not counted".to_owned()),
        },
        (None, true) => Lcov {
            files: Vec::new(),
            missing: Some(format!(
                "no vmlinux with DWARF for kernel {0}: pass --vmlinux (Debian: package \
                 linux-image-{0}-dbg)",
                manifest.kernel_release
            )),
        },
        (Some(vmlinux), true) => write_lcov(dir, &manifest, &loaded, vmlinux)?,
    };
    let benchmarks: Vec<BenchmarkSection> =
        loaded.iter().zip(&comparisons).map(|(l, c)| section(l.benchmark, c)).collect();
    let syscalls = syscall_summaries(&loaded);
    let footprint = footprint(&manifest, &loaded);
    let report = StudyReport {
        report_version: REPORT_VERSION,
        ktrace_version: env!("CARGO_PKG_VERSION"),
        findings: findings(&manifest, &benchmarks, &footprint, &loaded),
        limits: limits(&manifest, dwarf.is_some()),
        syscalls_only_some: syscalls_only_some(&manifest, &loaded),
        study: manifest,
        syscalls,
        footprint,
        benchmarks,
        lcov,
    };
    file::write_atomically(&dir.join("report.json"), true, |out| {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)
    })?;
    file::write_atomically(&dir.join("report.md"), true, |out| render(out, &report))?;
    Ok(report)
}

/// The records of every completed run, grouped by benchmark.
fn load(dir: &Path, manifest: &Manifest) -> anyhow::Result<Vec<Loaded>> {
    manifest
        .benchmarks
        .iter()
        .map(|&benchmark| {
            let mut records = Vec::new();
            for platform in &manifest.platforms {
                let Some(path) = manifest.record(dir, &platform.name, benchmark) else {
                    continue;
                };
                let record = record::read(&path)?;
                let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                records.push((platform.name.clone(), file, record));
            }
            Ok(Loaded { benchmark, records })
        })
        .collect()
}

fn syscall_summaries(loaded: &[Loaded]) -> Vec<SyscallSummary> {
    let mut summaries = Vec::new();
    for l in loaded {
        for (platform, _, record) in &l.records {
            let counts = || record.syscalls.iter().map(|s| s.counts[0]);
            summaries.push(SyscallSummary {
                platform: platform.clone(),
                benchmark: l.benchmark,
                distinct: counts().filter(|c| c.calls > 0 || c.errors > 0).count(),
                calls: counts().map(|c| c.calls).sum(),
                failed: counts().map(|c| c.errors).sum(),
                blocked: None,
            });
        }
    }
    summaries.sort_by(|a, b| (&a.platform, a.benchmark).cmp(&(&b.platform, b.benchmark)));
    summaries
}

fn syscalls_only_some(manifest: &Manifest, loaded: &[Loaded]) -> Vec<FunctionRow> {
    let platforms: Vec<&str> = manifest.platforms.iter().map(|p| p.name.as_str()).collect();
    let mut calls: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (platform, record) in loaded.iter().flat_map(|l| l.records.iter().map(|r| (&r.0, &r.2))) {
        let column = platforms.iter().position(|p| p == platform).expect("a study platform");
        for syscall in &record.syscalls {
            calls.entry(&syscall.name).or_insert_with(|| vec![0; platforms.len()])[column] +=
                syscall.counts[0].calls;
        }
    }
    let mut rows: Vec<FunctionRow> = calls
        .into_iter()
        .filter(|(_, values)| values.contains(&0))
        .map(|(name, values)| FunctionRow {
            name: name.to_owned(),
            module: None,
            only_in: present(&platforms, &values),
            values,
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.values.iter().sum::<u64>()));
    rows.truncate(TOP_SYSCALLS);
    rows
}

/// The names of the columns with a figure above zero.
fn present(columns: &[impl AsRef<str>], values: &[u64]) -> Vec<String> {
    columns
        .iter()
        .zip(values)
        .filter(|(_, v)| **v > 0)
        .map(|(c, _)| c.as_ref().to_owned())
        .collect()
}

/// Distinct functions per platform and benchmark: entered when counted, seen when sampled.
fn footprint(manifest: &Manifest, loaded: &[Loaded]) -> Vec<Footprint> {
    manifest
        .platforms
        .iter()
        .map(|p| {
            let mut all: BTreeSet<&str> = BTreeSet::new();
            let per_benchmark = loaded
                .iter()
                .map(|l| {
                    let (_, _, record) = l.records.iter().find(|r| r.0 == p.name)?;
                    let names = functions_seen(record);
                    let n = names.len();
                    all.extend(names);
                    Some(n)
                })
                .collect();
            Footprint { platform: p.name.clone(), per_benchmark, all: all.len() }
        })
        .collect()
}

fn functions_seen(record: &RecordView) -> Vec<&str> {
    match (&record.kernel_functions, &record.kernel_samples) {
        (Some(f), _) => {
            f.functions.iter().filter(|f| f.counts[0] > 0).map(|f| f.name.as_str()).collect()
        }
        (None, Some(s)) => {
            s.functions.iter().filter(|f| f.samples[0] > 0).map(|f| f.name.as_str()).collect()
        }
        (None, None) => Vec::new(),
    }
}

fn section(benchmark: Benchmark, c: &Comparison) -> BenchmarkSection {
    let platforms: Vec<String> = c.runs.iter().map(|r| r.label.clone()).collect();
    let groups = |rows: &[Row], top: usize| -> Vec<GroupRow> {
        rows.iter()
            .take(top)
            .map(|r| GroupRow {
                name: r.name.clone(),
                coverage: r.coverage.clone(),
                values: r.values.clone(),
            })
            .collect()
    };
    let function_row = |r: &Row| FunctionRow {
        name: r.name.clone(),
        module: r.module.clone(),
        values: r.values.clone(),
        only_in: r
            .only_in()
            .map_or_else(Vec::new, |runs| runs.iter().map(|&i| platforms[i].clone()).collect()),
    };
    let functions = c.functions.as_ref().map_or(&[][..], |s| &s.rows[..]);
    BenchmarkSection {
        benchmark,
        measure: c.functions.as_ref().map_or(Measure::Entries, |s| s.measure).as_str(),
        directories: c.directories.as_ref().map(|d| groups(&d.rows, TOP_DIRECTORIES)),
        modules: c.modules.as_ref().map_or_else(Vec::new, |m| groups(&m.rows, TOP_MODULES)),
        hottest: functions.iter().take(TOP_FUNCTIONS).map(function_row).collect(),
        only_in: functions
            .iter()
            .filter(|r| r.only_in().is_some())
            .take(TOP_ONLY_IN)
            .map(function_row)
            .collect(),
        platforms,
    }
}

/// One tracefile per platform: each benchmark's counted functions as a test of its own.
fn write_lcov(
    dir: &Path,
    manifest: &Manifest,
    loaded: &[Loaded],
    vmlinux: &Path,
) -> anyhow::Result<Lcov> {
    let lcov_dir = dir.join("lcov");
    fs::create_dir_all(&lcov_dir).with_context(|| format!("creating {}", lcov_dir.display()))?;
    let mut files = Vec::new();
    for platform in &manifest.platforms {
        let mut tracefile = Vec::new();
        for (_, _, record) in
            loaded.iter().flat_map(|l| &l.records).filter(|r| r.0 == platform.name)
        {
            coverage::export_lcov(record, None, Some(vmlinux), &mut tracefile)?;
        }
        if tracefile.is_empty() {
            continue;
        }
        let name = format!("lcov/{}.info", platform.name);
        file::write_atomically(&dir.join(&name), true, |f| f.write_all(&tracefile))?;
        files.push(name);
    }
    Ok(Lcov { files, missing: None })
}

/// Findings computed from the figures: what a reader would look for first.
fn findings(
    manifest: &Manifest,
    benchmarks: &[BenchmarkSection],
    footprint: &[Footprint],
    loaded: &[Loaded],
) -> Vec<String> {
    let mut findings = Vec::new();
    // Performance relative to the first platform (bare, when it ran).
    if let Some(base) = manifest.platforms.first() {
        for &benchmark in &manifest.benchmarks {
            let score = |platform: &str| {
                manifest
                    .runs
                    .iter()
                    .find(|r| r.platform == platform && r.benchmark == benchmark)
                    .and_then(|r| r.score)
            };
            let Some(base_score) = score(&base.name).filter(|s| *s > 0.0) else { continue };
            let ratios: Vec<String> = manifest.platforms[1..]
                .iter()
                .filter_map(|p| Some(format!("{} {:.2}x", p.name, score(&p.name)? / base_score)))
                .collect();
            if !ratios.is_empty() {
                findings.push(format!(
                    "{benchmark} performance against {}: {}.",
                    base.name,
                    ratios.join(", ")
                ));
            }
        }
    }
    // Which platform's runs reach furthest into the host kernel.
    let what = if manifest.tracing.counted() { "enters" } else { "is sampled in" };
    for (b, &benchmark) in manifest.benchmarks.iter().enumerate() {
        let mut sizes: Vec<(&str, usize)> = footprint
            .iter()
            .filter_map(|f| Some((f.platform.as_str(), f.per_benchmark[b]?)))
            .collect();
        sizes.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        if let [(most, n), rest @ ..] = sizes.as_slice()
            && *n > 0
            && !rest.is_empty()
        {
            let others: Vec<String> =
                rest.iter().map(|(p, m)| format!("{p} {}", thousands(*m as u64))).collect();
            findings.push(format!(
                "{benchmark}: {most} {what} the most distinct host kernel functions ({}; {}).",
                thousands(*n as u64),
                others.join(", ")
            ));
        }
    }
    // Source directories and modules that one platform alone enters.
    for section in benchmarks {
        let alone = |rows: &[GroupRow]| -> BTreeMap<String, Vec<String>> {
            let mut by_platform: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for row in rows {
                let entered: Vec<usize> = match &row.coverage {
                    Some(cov) => (0..cov.len()).filter(|&i| cov[i].0 > 0).collect(),
                    None => (0..row.values.len()).filter(|&i| row.values[i] > 0).collect(),
                };
                if let [only] = entered.as_slice()
                    && section.platforms.len() > 1
                {
                    by_platform
                        .entry(section.platforms[*only].clone())
                        .or_default()
                        .push(row.name.clone());
                }
            }
            by_platform
        };
        let mut sets = vec![("module", alone(&section.modules))];
        if let Some(directories) = &section.directories {
            sets.push(("source directory", alone(directories)));
        }
        for (kind, by_platform) in sets {
            for (platform, names) in by_platform {
                let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
                let more = names.len().saturating_sub(shown.len());
                findings.push(format!(
                    "{}: only {platform} enters {} {kind}{} {}{}.",
                    section.benchmark,
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ));
            }
        }
    }
    // Each platform's busiest syscall over all benchmarks.
    for platform in &manifest.platforms {
        let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, _, record) in
            loaded.iter().flat_map(|l| &l.records).filter(|r| r.0 == platform.name)
        {
            for s in &record.syscalls {
                *calls.entry(&s.name).or_default() += s.counts[0].calls;
            }
        }
        let total: u64 = calls.values().sum();
        if let Some((name, n)) = calls.iter().max_by_key(|(_, n)| **n)
            && total > 0
        {
            findings.push(format!(
                "{}: {} distinct syscalls over all benchmarks; the busiest, {name}, makes {:.0}% \
                 of its {} calls.",
                platform.name,
                calls.values().filter(|&&n| n > 0).count(),
                100.0 * *n as f64 / total as f64,
                thousands(total)
            ));
        }
    }
    findings
}

/// What this study's figures cannot show, from how it traced and what ran.
fn limits(manifest: &Manifest, dwarf: bool) -> Vec<String> {
    let t: &Tracing = &manifest.tracing;
    let mut limits = Vec::new();
    if t.counted() {
        limits.push(format!(
            "Function entries, not lines: ktrace counts how often each of the {} traceable \
             functions was entered ({}). Code the compiler inlined into its caller is \
             invisible (Debian's 6.12 build inlines the seed's is_skb_forwardable into \
             __dev_forward_skb2), and gcov's line and branch coverage have no counterpart.",
            thousands(t.function_targets as u64),
            t.functions.as_deref().unwrap_or("-")
        ));
        limits.push(
            "Coverage is functions hit / functions attached: notrace code, the kprobe \
             blacklist and ktrace's own deny list (BPF, RCU, tracing) are outside the \
             denominator. Module functions are left out of the lcov tracefiles (their DWARF \
             is in each module's own debug file)."
                .to_owned(),
        );
        if !dwarf {
            limits.push(format!(
                "No DWARF for kernel {0} was found, so functions are not grouped by source \
                 directory and there are no lcov tracefiles: make the report again with \
                 `ktrace study --report-only DIR --vmlinux PATH` (Debian: package \
                 linux-image-{0}-dbg).",
                manifest.kernel_release
            ));
        }
    } else if t.functions.is_some() {
        limits.push(format!(
            "Kernel functions are sampled, not counted: {}. A function appears only when a {} \
             Hz timer interrupt finds a task of the run in it, so short or rare code paths are \
             missed and the figures are samples, not entries; there is no coverage (functions \
             hit / attached) and there are no lcov tracefiles. Where the timer is a VM's \
             software clock, samples of code that runs with interrupts disabled land where \
             they are enabled again.",
            t.why_sampled.as_deref().unwrap_or("this kernel cannot trace functions"),
            t.sample_hz.unwrap_or_default()
        ));
    } else {
        limits.push("Only syscalls were traced: no kernel functions.".to_owned());
    }
    for platform in &manifest.platforms {
        let d = &platform.description;
        match platform.name.as_str() {
            "qemu" if d.contains("TCG") => limits.push(
                "qemu ran under TCG, software emulation: the guest's instructions are QEMU's \
                 own user-space work, so the host kernel sees QEMU's I/O, timer and futex \
                 syscalls but never arch/x86/kvm. With KVM, the guest's exits would run in the \
                 host's kvm module, and the VM would run several times faster."
                    .to_owned(),
            ),
            "runsc" if d.contains("ptrace platform") => limits.push(
                "runsc ran on gVisor's ptrace platform: the sentry stops the application at \
                 each of its syscalls (PTRACE_SYSEMU), so the host sees ptrace and wait4 \
                 instead of the application's calls; those calls skip the sys_enter \
                 tracepoint. The systrap and KVM platforms take other paths into the host \
                 kernel."
                    .to_owned(),
            ),
            _ => {}
        }
    }
    limits.push(
        "Work in interrupt context (softirq network receive, transmit completion, timers) is \
         charged to whichever task the CPU was running, in the run's cgroup or not."
            .to_owned(),
    );
    limits.push(
        "Each run covers the platform's start and stop as well as the benchmark: creating the \
         container, booting the sandbox or VM. The network benchmark's iperf3 server runs \
         outside the traced cgroups."
            .to_owned(),
    );
    limits
}

/// report.md.
fn render(out: &mut fs::File, r: &StudyReport) -> io::Result<()> {
    let s = &r.study;
    let names: Vec<&str> = s.platforms.iter().map(|p| p.name.as_str()).collect();
    let benchmark_names: Vec<&str> = s.benchmarks.iter().map(|b| b.name()).collect();
    writeln!(
        out,
        "# Host kernel footprint: {} x {}\n",
        names.join(", "),
        benchmark_names.join(", ")
    )?;
    writeln!(
        out,
        "`ktrace study` {} on {} (kernel {}), started {}; each benchmark ran {} s on one thread. \
         {}\n",
        r.ktrace_version,
        s.host,
        s.kernel_release,
        s.started,
        s.seconds,
        tracing_sentence(&s.tracing)
    )?;
    let rows: Vec<Vec<String>> =
        s.platforms.iter().map(|p| vec![p.name.clone(), p.description.clone()]).collect();
    markdown_table(out, &strings(&["PLATFORM", "WHAT RAN"]), &[false, false], &rows)?;
    for skipped in &s.skipped {
        writeln!(out, "\nSkipped {}: {}", skipped.platform, skipped.reason)?;
    }

    writeln!(out, "\n## Performance\n")?;
    let mut headers = strings(&["BENCHMARK", "UNIT"]);
    headers.extend(names.iter().map(|n| n.to_string()));
    let rows: Vec<Vec<String>> = s
        .benchmarks
        .iter()
        .map(|&b| {
            let mut row = vec![b.name().to_owned(), b.unit().to_owned()];
            row.extend(names.iter().map(|p| {
                match s.runs.iter().find(|r| r.platform == *p && r.benchmark == b) {
                    Some(run) => run.score.map_or_else(|| "failed".to_owned(), score),
                    None => "-".to_owned(),
                }
            }));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(2, headers.len()), &rows)?;
    writeln!(out)?;
    for b in &s.benchmarks {
        writeln!(out, "- {b}: {}", b.describe())?;
    }
    for run in s.runs.iter().filter(|r| r.error.is_some()) {
        let error = run.error.as_deref().unwrap_or_default().replace('\n', " ");
        writeln!(out, "- {} {} failed: {error}", run.platform, run.benchmark)?;
    }

    writeln!(out, "\n## Syscalls\n")?;
    let blocked = r.syscalls.iter().any(|x| x.blocked.is_some());
    let mut headers = strings(&["PLATFORM", "BENCHMARK", "DISTINCT", "CALLS", "FAILED"]);
    if blocked {
        headers.push("BLOCKED".to_owned());
    }
    let rows: Vec<Vec<String>> = r
        .syscalls
        .iter()
        .map(|x| {
            let mut row = vec![
                x.platform.clone(),
                x.benchmark.to_string(),
                x.distinct.to_string(),
                thousands(x.calls),
                thousands(x.failed),
            ];
            if blocked {
                row.push(x.blocked.map_or_else(|| "-".to_owned(), thousands));
            }
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(2, headers.len()), &rows)?;
    if !r.syscalls_only_some.is_empty() {
        writeln!(out, "\n### Syscalls only some platforms make (calls, all benchmarks)\n")?;
        function_table(out, "SYSCALL", &names, &r.syscalls_only_some)?;
    }

    writeln!(out, "\n## Host kernel functions\n")?;
    let counted = s.tracing.counted();
    writeln!(
        out,
        "Distinct host kernel functions {} per run, and over all benchmarks:\n",
        if counted { "entered (counted)" } else { "seen in samples" }
    )?;
    let mut headers = strings(&["PLATFORM"]);
    headers.extend(benchmark_names.iter().map(|b| b.to_string()));
    headers.push("ALL".to_owned());
    let rows: Vec<Vec<String>> = r
        .footprint
        .iter()
        .map(|f| {
            let mut row = vec![f.platform.clone()];
            row.extend(
                f.per_benchmark.iter().map(|n| n.map_or("-".to_owned(), |n| thousands(n as u64))),
            );
            row.push(thousands(f.all as u64));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(1, headers.len()), &rows)?;
    for section in &r.benchmarks {
        render_benchmark(out, section)?;
    }

    writeln!(out, "\n## Coverage reports (lcov)\n")?;
    match (&r.lcov.missing, r.lcov.files.as_slice()) {
        (Some(why), _) => writeln!(out, "None: {why}.")?,
        (None, []) => writeln!(out, "None: no run counted functions.")?,
        (None, files) => {
            writeln!(out, "One tracefile per platform, one test per benchmark:\n")?;
            for f in files {
                writeln!(out, "- [{f}]({f})")?;
            }
            writeln!(out, "\n```sh")?;
            for f in files {
                let stem = Path::new(f).file_stem().unwrap_or_default().to_string_lossy();
                writeln!(out, "genhtml --no-source -o html/{stem} {f}")?;
            }
            if let [base, rest @ ..] = files {
                let base_stem = Path::new(base).file_stem().unwrap_or_default().to_string_lossy();
                for f in rest {
                    let stem = Path::new(f).file_stem().unwrap_or_default().to_string_lossy();
                    writeln!(
                        out,
                        "genhtml --no-source --baseline-file {base} -o html/{stem}-vs-{base_stem} {f}"
                    )?;
                }
            }
            writeln!(out, "```")?;
        }
    }

    writeln!(out, "\n## Findings\n")?;
    for finding in &r.findings {
        writeln!(out, "- {finding}")?;
    }
    writeln!(out, "\n## What ktrace cannot see here\n")?;
    for limit in &r.limits {
        writeln!(out, "- {limit}")?;
    }
    Ok(())
}

fn render_benchmark(out: &mut fs::File, section: &BenchmarkSection) -> io::Result<()> {
    let b = section.benchmark;
    let names: Vec<&str> = section.platforms.iter().map(String::as_str).collect();
    writeln!(out, "\n### {b}\n")?;
    if names.is_empty() {
        return writeln!(out, "No run of {b} completed.");
    }
    if let Some(directories) = &section.directories {
        writeln!(
            out,
            "By kernel source directory: functions hit / attached, and entries (the {} \
             directories with the most entries).\n",
            directories.len()
        )?;
        group_table(out, "DIRECTORY", &names, directories)?;
        writeln!(out)?;
    }
    let unit = if section.measure == "samples" { "samples" } else { "entries" };
    writeln!(
        out,
        "By module: {}{unit}.\n",
        if section.measure == "samples" { "" } else { "functions hit / attached, and " }
    )?;
    group_table(out, "MODULE", &names, &section.modules)?;
    writeln!(out, "\nHottest functions ({unit}):\n")?;
    function_table(out, "FUNCTION", &names, &section.hottest)?;
    if !section.only_in.is_empty() {
        writeln!(out, "\nHottest functions only some platforms enter ({unit}):\n")?;
        function_table(out, "FUNCTION", &names, &section.only_in)?;
    }
    Ok(())
}

fn group_table(
    out: &mut fs::File,
    item: &str,
    platforms: &[&str],
    rows: &[GroupRow],
) -> io::Result<()> {
    let coverage = rows.iter().any(|r| r.coverage.is_some());
    let mut headers = vec![item.to_owned()];
    if coverage {
        headers.extend(platforms.iter().map(|p| format!("{p} hit")));
    }
    headers.extend(platforms.iter().map(|p| p.to_string()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            if let Some(cov) = &r.coverage {
                row.extend(cov.iter().map(|&(hit, attached)| hit_of(hit, attached)));
            }
            row.extend(r.values.iter().map(|&v| thousands(v)));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(1, headers.len()), &cells)
}

fn function_table(
    out: &mut fs::File,
    item: &str,
    platforms: &[&str],
    rows: &[FunctionRow],
) -> io::Result<()> {
    let modules = rows.iter().any(|r| r.module.is_some());
    let mut headers = vec![item.to_owned()];
    if modules {
        headers.push("MODULE".to_owned());
    }
    let left = headers.len();
    headers.extend(platforms.iter().map(|p| p.to_string()));
    headers.push("NOTE".to_owned());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            if modules {
                row.push(r.module.clone().unwrap_or_default());
            }
            row.extend(r.values.iter().map(|&v| thousands(v)));
            row.push(if r.only_in.is_empty() {
                String::new()
            } else {
                format!("only in {}", r.only_in.join(", "))
            });
            row
        })
        .collect();
    let mut right = right_after(left, headers.len());
    *right.last_mut().expect("a NOTE column") = false;
    markdown_table(out, &headers, &right, &cells)
}

fn tracing_sentence(t: &Tracing) -> String {
    match (t.counted(), &t.functions) {
        (true, Some(backend)) => format!(
            "Syscalls were counted per run, and entries of {} kernel functions with {backend}.",
            thousands(t.function_targets as u64)
        ),
        (false, Some(_)) => format!(
            "Syscalls were counted per run, and kernel functions sampled at {} Hz (samples, not \
             counts).",
            t.sample_hz.unwrap_or_default()
        ),
        (_, None) => "Syscalls were counted per run.".to_owned(),
    }
}

/// A benchmark score: whole numbers from 100 on, else three significant digits or so.
fn score(value: f64) -> String {
    match value {
        v if v >= 100.0 => thousands(v.round() as u64),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// `n` with thousands separators: 1,234,567.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn hit_of(hit: u64, attached: u64) -> String {
    let mut s = format!("{}/{}", thousands(hit), thousands(attached));
    if attached > 0 {
        let _ = write!(s, " ({:.1}%)", 100.0 * hit as f64 / attached as f64);
    }
    s
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Columns from `left` on are right-aligned.
fn right_after(left: usize, columns: usize) -> Vec<bool> {
    (0..columns).map(|i| i >= left).collect()
}
