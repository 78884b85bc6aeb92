//! The study's report, made from `study.json` and the records alone, so that it can be made
//! again elsewhere (`ktrace study --report-only DIR`, e.g. on the host that has the DWARF of a
//! guest's kernel): `report.md` for people, in the seed study's order, and `report.json` with
//! the same figures for programs. When functions were counted and the traced kernel's DWARF is
//! at hand, also one lcov tracefile per platform under `lcov/` for genhtml. The figures
//! (`figures`) are drawn next to report.md, which embeds them.
//!
//! Sections: performance per platform and benchmark; syscalls (distinct, calls, failed,
//! blocked) and the syscalls only some platforms make; host kernel functions entered (or
//! sampled) per platform and benchmark; per benchmark, coverage by kernel source directory and
//! by module, the hottest functions side by side and those only one platform enters; findings
//! computed from these numbers; and what ktrace cannot see in this study.
mod figures;
mod findings;
mod markdown;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write as _,
    path::Path,
};

use anyhow::Context as _;
use serde::Serialize;

pub use self::figures::{Figure, Figures};
use super::{benchmark::Benchmark, manifest::Manifest};
use crate::{
    attach::IrqMode,
    compare::{self, Comparison, Measure, Row},
    coverage::{self, Column},
    export::file,
    record::{self, Record},
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
    /// Per run that kept interrupt context apart (`--irq separate`, the default where the
    /// kernel lets ktrace tell): its counted entries, or its kernel samples where functions were
    /// sampled, in task and in interrupt context.
    pub interrupts: Vec<InterruptShare>,
    pub benchmarks: Vec<BenchmarkSection>,
    /// The overview, then each benchmark's coverage per source directory and module.
    pub figures: Figures,
    pub lcov: Lcov,
    pub findings: Vec<String>,
    /// What ktrace cannot see in this study.
    pub limits: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SyscallSummary {
    pub platform: String,
    pub benchmark: Benchmark,
    /// Syscalls entered at least once.
    pub distinct: usize,
    pub calls: u64,
    pub failed: u64,
    /// Returns without an entry: calls a seccomp filter turned away or a ptrace tracer
    /// (gVisor's ptrace platform) kept from the host kernel; not among `calls`.
    pub blocked: u64,
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

/// A run's counted function entries, or its kernel samples, by context. Interrupt work runs
/// for whoever the packet, timer or I/O belongs to: `share` says how much of what ran while the
/// run was current was such work, kept out of its own figures.
#[derive(Debug, Serialize)]
pub struct InterruptShare {
    pub platform: String,
    pub benchmark: Benchmark,
    /// `entries` (counted: exact) or `samples` (where functions were sampled: statistical).
    pub measure: Measure,
    /// Entries, or kernel samples, in the run's own tasks.
    pub own: u64,
    /// Those in interrupts while one of its tasks was current.
    pub in_interrupts: u64,
    /// `in_interrupts` over `own + in_interrupts` (0 when both are 0).
    pub share: f64,
    /// Those in interrupts on the whole machine during the run, whoever was interrupted.
    pub machine: u64,
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
    /// Hits of each counted source line, when every run of this benchmark counted lines
    /// (`--lines`; by default the seed study's table, in the network benchmark).
    pub lines: Option<Vec<LineRow>>,
}

/// One source line of a function counted with `--lines`: the seed study's
/// invocation-frequency table, one column per platform.
#[derive(Debug, Serialize)]
pub struct LineRow {
    pub function: String,
    /// `file:line` in the kernel tree.
    pub location: String,
    /// The line's text, when traced with `--source`.
    pub text: Option<String>,
    /// Per platform: hits, summed over the function's inlined copies (with `--irq separate`,
    /// in the run's own tasks).
    pub values: Vec<u64>,
    /// Per platform: hits in interrupts while the run ran, when every run kept them apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_interrupts: Option<Vec<u64>>,
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
    /// directory: the entries and line hits of the run's own tasks.
    pub files: Vec<String>,
    /// One more per platform whose runs kept interrupt context apart (`--irq separate`):
    /// with the interrupts that came while the run ran, which `--irq task` would have
    /// counted (and the seed study's gcov did: it counts every execution).
    pub with_interrupts: Vec<String>,
    /// Why there are none, when there are none.
    pub missing: Option<String>,
}

/// A study's runs of one benchmark, read back.
struct Loaded {
    benchmark: Benchmark,
    /// (platform, record file, record), in platform order.
    records: Vec<(String, String, Record)>,
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
    // Every run traced the same kernel: its DWARF is read once.
    let sources = dwarf.as_deref().map(KernelSources::open).transpose()?;
    let comparisons = loaded
        .iter()
        .map(|l| {
            let mut c = compare::compare(&l.records, None);
            if let Some(sources) = &sources {
                let per_record = vec![sources; l.records.len()];
                c.directories = Some(compare::directories(&l.records, None, &per_record)?);
            }
            Ok(c)
        })
        .collect::<anyhow::Result<Vec<Comparison>>>()?;
    let lcov = match (&sources, counted) {
        (_, false) => Lcov {
            missing: Some("kernel functions were not counted".to_owned()),
            ..Lcov::default()
        },
        (None, true) => Lcov {
            missing: Some(format!(
                "no vmlinux with DWARF for kernel {0}: pass --vmlinux (Debian: package \
                 linux-image-{0}-dbg)",
                manifest.kernel_release
            )),
            ..Lcov::default()
        },
        (Some(sources), true) => write_lcov(dir, &manifest, &loaded, sources)?,
    };
    let benchmarks: Vec<BenchmarkSection> =
        loaded.iter().zip(&comparisons).map(|(l, c)| section(l, c)).collect();
    let syscalls = syscall_summaries(&loaded);
    let footprint = footprint(&manifest, &loaded);
    let interrupts = interrupt_shares(&loaded);
    let figures = figures::write(dir, &manifest, &footprint, &loaded, &comparisons)?;
    let report = StudyReport {
        report_version: REPORT_VERSION,
        ktrace_version: env!("CARGO_PKG_VERSION"),
        findings: findings::findings(&manifest, &benchmarks, &footprint, &loaded),
        limits: findings::limits(&manifest, sources.is_some(), !interrupts.is_empty()),
        syscalls_only_some: syscalls_only_some(&manifest, &loaded),
        study: manifest,
        syscalls,
        footprint,
        interrupts,
        benchmarks,
        figures,
        lcov,
    };
    file::write_atomically(&dir.join("report.json"), true, |out| {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)
    })?;
    file::write_atomically(&dir.join("report.md"), true, |out| markdown::render(out, &report))?;
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

/// Per platform (in the order they ran), per benchmark.
fn syscall_summaries(loaded: &[Loaded]) -> Vec<SyscallSummary> {
    let mut summaries = Vec::new();
    for l in loaded {
        for (platform, _, record) in &l.records {
            let counts = || record.report.syscalls.iter().map(|s| s.counts[0]);
            summaries.push(SyscallSummary {
                platform: platform.clone(),
                benchmark: l.benchmark,
                distinct: counts().filter(|c| c.calls > 0).count(),
                calls: counts().map(|c| c.calls).sum(),
                failed: counts().map(|c| c.errors).sum(),
                blocked: counts().map(|c| c.blocked).sum(),
            });
        }
    }
    let order = platform_order(loaded);
    summaries.sort_by_key(|s| order.iter().position(|p| *p == s.platform));
    summaries
}

/// The platforms in the order they ran, as each benchmark's records list them: rows per
/// benchmark sorted by it (stably) come per platform, benchmarks in order.
fn platform_order(loaded: &[Loaded]) -> Vec<&str> {
    loaded.iter().flat_map(|l| l.records.iter().map(|r| r.0.as_str())).collect()
}

fn syscalls_only_some(manifest: &Manifest, loaded: &[Loaded]) -> Vec<FunctionRow> {
    let platforms: Vec<&str> = manifest.platforms.iter().map(|p| p.name.as_str()).collect();
    let mut calls: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (platform, record) in loaded.iter().flat_map(|l| l.records.iter().map(|r| (&r.0, &r.2))) {
        let column = platforms.iter().position(|p| p == platform).expect("a study platform");
        for syscall in &record.report.syscalls {
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

/// Per platform (in the order they ran), per benchmark: the runs that kept interrupt context
/// apart (`--irq separate`).
fn interrupt_shares(loaded: &[Loaded]) -> Vec<InterruptShare> {
    let mut shares: Vec<InterruptShare> = loaded
        .iter()
        .flat_map(|l| {
            l.records
                .iter()
                .filter_map(|(platform, _, record)| interrupt_share(platform, l.benchmark, record))
        })
        .collect();
    let order = platform_order(loaded);
    shares.sort_by_key(|s| order.iter().position(|p| *p == s.platform));
    shares
}

/// The share of a run that kept interrupt context apart: of its counted entries where it
/// counted functions, else of its kernel samples.
fn interrupt_share(
    platform: &str,
    benchmark: Benchmark,
    record: &Record,
) -> Option<InterruptShare> {
    let report = &record.report;
    let (measure, irq, own, in_interrupts, machine) =
        match (&report.kernel_functions, &report.kernel_samples) {
            (Some(f), _) => (
                Measure::Entries,
                f.irq,
                f.totals.first().copied(),
                &f.in_interrupts_totals,
                f.all_interrupts_total,
            ),
            (None, Some(s)) => (
                Measure::Samples,
                s.irq,
                s.totals.first().map(|t| t.kernel),
                &s.in_interrupts_totals,
                s.all_interrupts_total,
            ),
            (None, None) => return None,
        };
    let machine = machine.filter(|_| irq == IrqMode::Separate)?;
    let own = own.unwrap_or(0);
    let in_interrupts = in_interrupts.first().copied().unwrap_or(0);
    let current = own.saturating_add(in_interrupts);
    Some(InterruptShare {
        platform: platform.to_owned(),
        benchmark,
        measure,
        own,
        in_interrupts,
        share: if current == 0 { 0.0 } else { in_interrupts as f64 / current as f64 },
        machine,
    })
}

fn functions_seen(record: &Record) -> Vec<&str> {
    match (&record.report.kernel_functions, &record.report.kernel_samples) {
        (Some(f), _) => {
            f.functions.iter().filter(|f| f.counts[0] > 0).map(|f| f.name.as_str()).collect()
        }
        (None, Some(s)) => {
            s.functions.iter().filter(|f| f.samples[0] > 0).map(|f| f.name.as_str()).collect()
        }
        (None, None) => Vec::new(),
    }
}

fn section(loaded: &Loaded, c: &Comparison) -> BenchmarkSection {
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
        benchmark: loaded.benchmark,
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
        lines: c.lines.as_ref().map(|section| {
            line_rows(loaded, &section.rows, c.lines_in_interrupts.as_ref().map(|s| &s.rows[..]))
        }),
        platforms,
    }
}

/// The compared lines (`function:line`) with their file and text from the records, and their
/// hits in interrupts from `in_interrupts` (the section of the same rows).
fn line_rows(loaded: &Loaded, rows: &[Row], in_interrupts: Option<&[Row]>) -> Vec<LineRow> {
    let counted: Vec<_> = loaded
        .records
        .iter()
        .filter_map(|(_, _, r)| r.report.kernel_lines.as_ref())
        .flat_map(|lines| lines.counted())
        .collect();
    rows.iter()
        .map(|row| {
            let (function, line) = compare::line_of(&row.name);
            let found = counted.iter().find(|(f, l)| f.function.name == function && l.line == line);
            LineRow {
                function: function.to_owned(),
                location: found
                    .map_or_else(String::new, |(f, l)| format!("{}:{}", f.function.file, l.line)),
                text: found.and_then(|(_, l)| l.text.clone()),
                values: row.values.clone(),
                in_interrupts: in_interrupts.map(|rows| {
                    let same = rows.iter().find(|r| r.name == row.name);
                    same.map_or_else(|| vec![0; row.values.len()], |r| r.values.clone())
                }),
            }
        })
        .collect()
}

/// One tracefile per platform: each benchmark's counted functions and lines as a test of its
/// own; and where the runs kept interrupt context apart, one with it (see [`Lcov`]).
fn write_lcov(
    dir: &Path,
    manifest: &Manifest,
    loaded: &[Loaded],
    sources: &KernelSources,
) -> anyhow::Result<Lcov> {
    let lcov_dir = dir.join("lcov");
    fs::create_dir_all(&lcov_dir).with_context(|| format!("creating {}", lcov_dir.display()))?;
    let mut lcov = Lcov::default();
    for platform in &manifest.platforms {
        let records: Vec<&Record> = (loaded.iter().flat_map(|l| &l.records))
            .filter(|r| r.0 == platform.name)
            .map(|r| &r.2)
            .collect();
        let apart = records.iter().all(|r| kept_interrupts_apart(r));
        for (column, suffix, files) in [
            (Some(Column::Cgroup(0)), "", &mut lcov.files),
            (
                apart.then_some(Column::CgroupWithInterrupts(0)),
                "-with-interrupts",
                &mut lcov.with_interrupts,
            ),
        ] {
            let Some(column) = column else { continue };
            let mut tracefile = Vec::new();
            for record in &records {
                coverage::write_lcov(record, column, Some(sources), &mut tracefile)?;
            }
            if tracefile.is_empty() {
                continue;
            }
            let name = format!("lcov/{}{suffix}.info", platform.name);
            file::write_atomically(&dir.join(&name), true, |f| f.write_all(&tracefile))?;
            files.push(name);
        }
    }
    Ok(lcov)
}

/// Whether the run counted functions (or lines) with interrupt context apart.
fn kept_interrupts_apart(record: &Record) -> bool {
    let report = &record.report;
    let irq = (report.kernel_functions.as_ref().map(|f| f.irq))
        .or(report.kernel_lines.as_ref().map(|l| l.irq));
    irq == Some(IrqMode::Separate)
}

/// A benchmark's score as reports print it: whole numbers from 100 on, else three
/// significant digits (58.6, 0.140, 0.00412).
pub(crate) fn figure(value: f64) -> String {
    if value >= 100.0 {
        return thousands(value.round() as u64);
    }
    if value <= 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let decimals = (2 - value.log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        figure::tests::{Figure, png_size},
        study::manifest::tests::manifest,
    };

    /// A counted record of one cgroup: syscalls (name, calls, errors, blocked), entered functions
    /// (name, module, entries) and functions attached but not entered.
    fn record(
        label: &str,
        syscalls: &[(&str, u64, u64, u64)],
        entered: &[(&str, &str, u64)],
        not_entered: &[&str],
    ) -> serde_json::Value {
        let modules: BTreeSet<&str> = entered.iter().map(|f| f.1).collect();
        json!({
            "record_version": 1, "host": "h", "kernel_release": "6.12.0-test",
            "kernel_build_id": "x", "duration_secs": 2.0,
            "cgroups": [{"label": label, "path": format!("/sys/fs/cgroup/{label}"), "id": 1}],
            "backends": {"syscalls": "raw_tracepoint", "functions": "kprobe-multi"},
            "function_targets": entered.len() + not_entered.len(),
            "schema_version": 1, "ktrace_version": "0.1.0", "scope": "total",
            "start_time": "2026-11-28T12:00:00.000Z", "totals": [], "rows_omitted": 0,
            "syscalls": syscalls.iter().map(|(name, calls, errors, blocked)|
                json!({"name": name, "nr": null,
                       "counts": [{"calls": calls, "errors": errors, "blocked": blocked}]})).collect::<Vec<_>>(),
            "kernel_functions": {
                "kind": "counts", "backend": "kprobe-multi", "attached": entered.len() + not_entered.len(),
                "skipped": 0, "totals": [], "functions_omitted": 0,
                "overhead": {"failed_updates": 0, "unknown_function": 0, "recursion_misses": 0,
                             "run_time_ns": 0, "run_count": 0},
                "functions": entered.iter().map(|(name, module, n)|
                    json!({"name": name, "module": module, "counts": [n]})).collect::<Vec<_>>(),
                "modules": modules.iter().map(|m| {
                    let mine: Vec<_> = entered.iter().filter(|f| f.1 == *m).collect();
                    json!({"module": m, "traced": mine.len() + usize::from(*m == "vmlinux") * not_entered.len(),
                           "hit": [mine.len()], "counts": [mine.iter().map(|f| f.2).sum::<u64>()]})
                }).collect::<Vec<_>>(),
                "not_entered": not_entered.iter().map(|n| json!({"name": n, "module": "vmlinux"})).collect::<Vec<_>>(),
            }
        })
    }

    /// report.md of the study in `dir`, failing on the first of `lines` it lacks.
    fn report_md_with(dir: &Path, lines: &[&str]) -> String {
        let md = fs::read_to_string(dir.join("report.md")).unwrap();
        for line in lines {
            assert!(md.lines().any(|l| l == *line), "report.md lacks `{line}`:\n{md}");
        }
        md
    }

    fn report_json(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
    }

    /// Bare's network run, counted with --irq separate: 30 entries in interrupts while it ran
    /// (schedule 5, veth_xmit 25), 90 on the machine (schedule 20, veth_xmit 70).
    fn bare_network() -> serde_json::Value {
        let mut network = record(
            "bare-network",
            &[("write", 100, 0, 0), ("connect", 1, 0, 0)],
            &[("schedule", "vmlinux", 20), ("veth_xmit", "veth", 40)],
            &["do_mmap", "ptrace_request"],
        );
        let functions = &mut network["kernel_functions"];
        functions["irq"] = json!("separate");
        functions["totals"] = json!([60]);
        functions["in_interrupts_totals"] = json!([30]);
        functions["all_interrupts_total"] = json!(90);
        for (i, (in_interrupts, all)) in [(5, 20), (25, 70)].into_iter().enumerate() {
            functions["functions"][i]["in_interrupts"] = json!([in_interrupts]);
            functions["functions"][i]["all_interrupts"] = json!(all);
        }
        // Modules in name order: veth, vmlinux.
        for (i, (in_interrupts, all)) in [(25, 70), (5, 20)].into_iter().enumerate() {
            functions["modules"][i]["in_interrupts"] = json!([in_interrupts]);
            functions["modules"][i]["all_interrupts"] = json!(all);
        }
        network
    }

    /// The study of `manifest()`: bare and runsc, cpu and network; runsc's network run failed.
    fn study() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: serde_json::Value| {
            fs::write(dir.path().join(name), value.to_string()).unwrap();
        };
        write(
            "bare-cpu.json",
            record(
                "bare-cpu",
                &[("mmap", 10, 0, 0), ("openat", 4, 1, 0)],
                &[("schedule", "vmlinux", 50), ("do_mmap", "vmlinux", 10)],
                &["veth_xmit_fake", "ptrace_request"],
            ),
        );
        write("bare-network.json", bare_network());
        write(
            "runsc-cpu.json",
            record(
                "runsc-cpu",
                &[
                    ("ptrace", 300, 0, 0),
                    ("wait4", 150, 0, 0),
                    ("mmap", 5, 0, 0),
                    ("getpid", 0, 0, 40),
                ],
                &[
                    ("schedule", "vmlinux", 900),
                    ("ptrace_request", "vmlinux", 300),
                    ("do_mmap", "vmlinux", 2),
                ],
                &[],
            ),
        );
        manifest().write(dir.path()).unwrap();
        dir
    }

    #[test]
    fn the_report_comes_from_the_manifest_and_records_alone() {
        let dir = study();
        let r = write(dir.path(), None).unwrap();
        let syscalls: Vec<_> = r
            .syscalls
            .iter()
            .map(|s| (s.platform.as_str(), s.benchmark, s.distinct, s.calls, s.failed, s.blocked))
            .collect();
        // runsc's getpid calls were all blocked (the sentry ran them): not a distinct syscall.
        assert_eq!(
            syscalls,
            [
                ("bare", Benchmark::Cpu, 2, 14, 1, 0),
                ("bare", Benchmark::Network, 2, 101, 0, 0),
                ("runsc", Benchmark::Cpu, 3, 455, 0, 40),
            ]
        );
        let only_some: Vec<_> = r
            .syscalls_only_some
            .iter()
            .map(|s| (s.name.as_str(), s.values.clone(), s.only_in.clone()))
            .collect();
        assert_eq!(only_some[0], ("ptrace", vec![0, 300], vec!["runsc".to_owned()]));
        assert!(!only_some.iter().any(|s| s.0 == "mmap"), "both platforms make mmap calls");
        let footprint: Vec<_> = r
            .footprint
            .iter()
            .map(|f| (f.platform.as_str(), f.per_benchmark.clone(), f.all))
            .collect();
        assert_eq!(
            footprint,
            [("bare", vec![Some(2), Some(2)], 3), ("runsc", vec![Some(3), None], 3)]
        );
        let interrupts: Vec<_> = r
            .interrupts
            .iter()
            .map(|i| (i.platform.as_str(), i.benchmark, i.measure, i.own, i.in_interrupts, i.share))
            .collect();
        assert_eq!(
            interrupts,
            [("bare", Benchmark::Network, Measure::Entries, 60, 30, 30.0 / 90.0)]
        );
        assert_eq!(r.interrupts[0].machine, 90);
        assert!(
            r.limits.iter().any(|l| l.contains("is counted apart from each run's own entries")),
            "{:#?}",
            r.limits
        );
        let cpu = &r.benchmarks[0];
        assert_eq!(
            (cpu.platforms.clone(), cpu.measure),
            (vec!["bare".to_owned(), "runsc".to_owned()], "entries")
        );
        let hottest: Vec<_> =
            cpu.hottest.iter().map(|f| (f.name.as_str(), f.values.clone())).collect();
        assert_eq!(
            hottest,
            [
                ("schedule", vec![50, 900]),
                ("ptrace_request", vec![0, 300]),
                ("do_mmap", vec![10, 2])
            ]
        );
        assert_eq!(cpu.only_in.len(), 1);
        assert_eq!(cpu.only_in[0].only_in, ["runsc"]);
        assert_eq!(cpu.directories.as_ref().map(Vec::len), None, "no DWARF for 6.12.0-test");
        assert_eq!(cpu.modules[0].coverage, Some(vec![(2, 4), (3, 3)]));
        assert!(
            r.lcov.files.is_empty()
                && r.lcov.missing.as_deref().is_some_and(|m| m.contains("no vmlinux with DWARF"))
        );
        for finding in [
            "cpu performance against bare: runsc 0.75x.",
            "cpu: runsc enters the most distinct host kernel functions (3; bare 2).",
            "runsc: 3 distinct syscalls over all benchmarks; the busiest, ptrace, makes 66% of its 455 calls; 40 more were blocked before the host kernel ran them.",
        ] {
            assert!(r.findings.iter().any(|f| f == finding), "no `{finding}` in {:#?}", r.findings);
        }
        assert!(
            r.limits.iter().any(|l| l.starts_with("No DWARF for kernel 6.12.0-test")),
            "{:#?}",
            r.limits
        );
        report_md_with(
            dir.path(),
            &[
                "| cpu | events/s | 2,000 | 1,500 |",
                "| runsc | cpu | 3 | 455 | 0 | 40 |",
                "| network | Gbit/s | 12.5 | failed |",
                "- runsc network failed: runsc run failed",
                "| ptrace | 0 | 300 | only in runsc |",
                "| vmlinux | 2/4 (50.0%) | 3/3 (100.0%) | 60 | 1,202 |",
                "| bare | network | 60 | 30 | 33.3% | 90 |",
            ],
        );
        let json = report_json(dir.path());
        assert_eq!(json["report_version"], 1);
        assert_eq!(json["syscalls"][2]["blocked"], 40);
    }

    /// Runs whose functions were sampled with interrupt context apart give the share from their
    /// kernel samples, labelled as samples; a run sampled without it (`--irq task`) gives none.
    #[test]
    fn sampled_runs_give_the_interrupt_share_in_samples() {
        let dir = study();
        // (file, irq, kernel samples of its tasks, in interrupts while current, machine's).
        for (file, irq, own, in_interrupts, machine) in [
            ("bare-cpu.json", "task", 500, 0, 0),
            ("bare-network.json", "separate", 300, 100, 350),
            ("runsc-cpu.json", "separate", 900, 0, 12),
        ] {
            let path = dir.path().join(file);
            let mut record: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            record["kernel_functions"].take();
            record["kernel_samples"] = json!({
                "kind": "samples", "frequency_hz": 999,
                "totals": [{"kernel": own, "user": 7, "lost": 0, "kernel_secs_estimate": 0.3}],
                "functions": [{"name": "schedule", "module": "vmlinux", "samples": [own],
                               "share": [1.0]}],
                "functions_omitted": 0,
                "modules": [{"module": "vmlinux", "samples": [own], "share": [1.0]}],
            });
            if irq == "separate" {
                let samples = &mut record["kernel_samples"];
                samples["irq"] = json!(irq);
                samples["in_interrupts_totals"] = json!([in_interrupts]);
                samples["all_interrupts_total"] = json!(machine);
                samples["in_interrupts_lost"] = json!([0]);
                samples["all_interrupts_lost"] = json!(0);
            }
            fs::write(&path, record.to_string()).unwrap();
        }
        let mut manifest = manifest();
        manifest.tracing.functions = Some("samples".to_owned());
        manifest.tracing.sample_hz = Some(999);
        manifest.write(dir.path()).unwrap();
        let r = write(dir.path(), None).unwrap();
        let interrupts: Vec<_> = r
            .interrupts
            .iter()
            .map(|i| {
                (i.platform.as_str(), i.benchmark, i.measure, i.own, i.in_interrupts, i.machine)
            })
            .collect();
        assert_eq!(
            interrupts,
            [
                ("bare", Benchmark::Network, Measure::Samples, 300, 100, 350),
                ("runsc", Benchmark::Cpu, Measure::Samples, 900, 0, 12),
            ]
        );
        assert_eq!((r.interrupts[0].share, r.interrupts[1].share), (0.25, 0.0));
        assert!(
            r.limits.iter().any(|l| l.contains("is sampled apart from each run's own samples")),
            "{:#?}",
            r.limits
        );
        let md = report_md_with(
            dir.path(),
            &[
                "| bare | network | 300 | 100 | 25.0% | 350 |",
                "| runsc | cpu | 900 | 0 | 0.0% | 12 |",
            ],
        );
        assert!(md.contains("\nKernel samples (statistical, not counts) of each run's own tasks"));
        assert!(md.contains("MACHINE counts every sample taken in interrupt context"));
        assert!(!md.contains("Entries of the counted functions"), "{md}");
        let json = report_json(dir.path());
        assert_eq!(json["interrupts"][0]["measure"], "samples");
    }

    /// Lines counted in every run of a benchmark make the seed's table in its section, a
    /// finding and the line of limits that says which functions were counted line by line.
    #[test]
    fn counted_lines_make_the_seeds_table() {
        use crate::lines::report::tests::report_of;
        let dir = study();
        for (file, hits) in
            [("bare-cpu.json", [200, 200, 8, 0, 0]), ("runsc-cpu.json", [5, 5, 1, 0, 0])]
        {
            let path = dir.path().join(file);
            let mut record: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            record["kernel_lines"] = serde_json::to_value(report_of(hits)).unwrap();
            fs::write(&path, record.to_string()).unwrap();
        }
        let mut manifest = manifest();
        manifest.tracing.lines = vec!["__is_skb_forwardable".to_owned()];
        manifest.write(dir.path()).unwrap();
        let r = write(dir.path(), None).unwrap();
        let rows: Vec<_> = r.benchmarks[0]
            .lines
            .iter()
            .flatten()
            .map(|l| (l.location.as_str(), l.text.as_deref(), l.values.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "include/linux/netdevice.h:4070",
                    Some("if (!(dev->flags & IFF_UP))"),
                    vec![200, 5]
                ),
                ("include/linux/netdevice.h:4073", None, vec![0, 0]),
                ("include/linux/netdevice.h:4077", None, vec![200, 5]),
                ("include/linux/netdevice.h:4083", None, vec![8, 1]),
            ]
        );
        // Only bare's network run has a record, without lines: no table there.
        assert!(r.benchmarks[1].lines.is_none());
        let finding = "cpu: the first counted line of __is_skb_forwardable \
                       (include/linux/netdevice.h:4070) ran: bare 200, runsc 5.";
        assert!(r.findings.iter().any(|f| f == finding), "{:#?}", r.findings);
        assert!(
            r.limits
                .iter()
                .any(|l| l.contains("only the lines of __is_skb_forwardable were counted")),
            "{:#?}",
            r.limits
        );
        report_md_with(
            dir.path(),
            &[
                "| LINE | SOURCE | bare | runsc |",
                "| include/linux/netdevice.h:4070 | `if (!(dev->flags & IFF_UP))` | 200 | 5 |",
                "| include/linux/netdevice.h:4083 |  | 8 | 1 |",
            ],
        );
    }

    /// Lines counted with interrupt context apart in every run get their hits in interrupts
    /// beside the table's own.
    #[test]
    fn the_seeds_table_has_line_hits_in_interrupts() {
        use crate::lines::report::tests::report_apart_of;
        let dir = study();
        for (file, task, in_interrupts) in [
            ("bare-cpu.json", [4, 4, 0, 0, 0], [200, 200, 8, 0, 0]),
            ("runsc-cpu.json", [0; 5], [5, 5, 1, 0, 0]),
        ] {
            let path = dir.path().join(file);
            let mut record: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            let lines = report_apart_of([task, in_interrupts, in_interrupts]);
            record["kernel_lines"] = serde_json::to_value(lines).unwrap();
            fs::write(&path, record.to_string()).unwrap();
        }
        let r = write(dir.path(), None).unwrap();
        let first = &r.benchmarks[0].lines.as_ref().unwrap()[0];
        assert_eq!((&first.values, &first.in_interrupts), (&vec![4, 0], &Some(vec![200, 5])));
        report_md_with(
            dir.path(),
            &[
                "| LINE | SOURCE | bare | runsc | bare in irq | runsc in irq |",
                "| include/linux/netdevice.h:4070 | `if (!(dev->flags & IFF_UP))` | 4 | 0 | 200 | 5 |",
            ],
        );
    }

    /// The overview and each benchmark's per-module figure (no DWARF: no directories), drawn
    /// from the report's numbers, embedded in report.md and listed in report.json.
    #[test]
    fn figures_are_drawn_and_embedded() {
        let dir = study();
        let r = write(dir.path(), None).unwrap();
        let drawn: Vec<_> =
            r.figures.files.iter().map(|f| (f.benchmark, f.svg.as_str(), f.png.as_str())).collect();
        assert_eq!(
            drawn,
            [
                (None, "overview.svg", "overview.png"),
                (Some(Benchmark::Cpu), "cpu-modules.svg", "cpu-modules.png"),
                (Some(Benchmark::Network), "network-modules.svg", "network-modules.png"),
            ]
        );
        let read = |file: &str| Figure::parse(&fs::read_to_string(dir.path().join(file)).unwrap());
        let overview = read("overview.svg");
        overview.check_layout();
        // Distinct functions entered: runsc's network run failed, so it has no bar.
        let expected = [("bare", "cpu", "2"), ("runsc", "cpu", "3"), ("bare", "network", "2")];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(p, b, v)| (0, p.to_owned(), b.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(overview.values(), expected);
        let cpu = read("cpu-modules.svg");
        assert!(cpu.has_text(
            "platforms bare, runsc · kernel 6.12.0-test · function entries counted (exact)"
        ));
        // Each platform keeps its colour in every figure.
        assert_eq!(cpu.legend_colour("runsc"), overview.legend_colour("runsc"));
        // The network run kept interrupt context apart: a third panel of its modules' entries
        // in interrupts while it ran; the cpu runs did not, and have two.
        let network = read("network-modules.svg");
        network.check_layout();
        let heading = "Entries in interrupts while the run ran (log scale)";
        assert!(network.has_text(heading) && !cpu.has_text(heading));
        let in_interrupts: Vec<_> =
            network.values().into_iter().filter(|(panel, ..)| *panel == 2).collect();
        let expected: Vec<_> = [("veth", "25"), ("vmlinux", "5")]
            .iter()
            .map(|&(m, v)| (2, "bare".to_owned(), m.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(in_interrupts, expected);
        let png = fs::read(dir.path().join("cpu-modules.png")).unwrap();
        assert_eq!(png_size(&png).0, (cpu.width * 2.0) as u32);
        let md = fs::read_to_string(dir.path().join("report.md")).unwrap();
        let overview_line = "![Distinct host kernel functions per platform and benchmark](overview.svg) ([PNG](overview.png))";
        let cpu_line = "![Host kernel functions per module: cpu benchmark](cpu-modules.svg) ([PNG](cpu-modules.png))";
        let at = |line: &str| {
            md.lines().position(|l| l == line).unwrap_or_else(|| panic!("no `{line}` in\n{md}"))
        };
        assert!(at(overview_line) < at("### cpu") && at("### cpu") < at(cpu_line), "{md}");
        // Made again (--report-only): the figures are replaced, not refused.
        write(dir.path(), None).unwrap();
    }

    /// With the traced kernel's DWARF, one tracefile per platform of its own entries and, for
    /// a platform whose runs all kept interrupt context apart, one with the interrupts that
    /// came while they ran.
    #[test]
    fn lcov_tracefiles_with_and_without_interrupts() {
        let Some(vmlinux) = fs::read_dir("/var/cache/ktrace/debug").ok().and_then(|dirs| {
            dirs.flatten().map(|d| d.path().join("vmlinux")).find(|p| p.is_file())
        }) else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let dir = study();
        // bare's cpu run kept interrupt context apart too, and none came.
        let path = dir.path().join("bare-cpu.json");
        let mut cpu: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        cpu["kernel_functions"]["irq"] = json!("separate");
        fs::write(&path, cpu.to_string()).unwrap();
        let r = write(dir.path(), Some(&vmlinux)).unwrap();
        assert_eq!(r.lcov.files, ["lcov/bare.info", "lcov/runsc.info"]);
        assert_eq!(r.lcov.with_interrupts, ["lcov/bare-with-interrupts.info"]);
        let read = |file: &str| fs::read_to_string(dir.path().join(file)).unwrap();
        let test = |text: &str, name: &str| -> String {
            let start = text.find(&format!("TN:{name}\n")).expect("the run's test");
            let end = text[start + 1..].find("TN:").map_or(text.len(), |e| start + 1 + e);
            text[start..end].to_owned()
        };
        let own = test(&read("lcov/bare.info"), "bare_network");
        let with = test(&read("lcov/bare-with-interrupts.info"), "bare_network");
        assert!(own.contains("FNDA:20,schedule\n"), "{own}");
        assert!(with.contains("FNDA:25,schedule\n"), "{with}");
        let md = read("report.md");
        assert!(md.contains("- [lcov/bare-with-interrupts.info](lcov/bare-with-interrupts.info)"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(figure(1926.62), "1,927");
        assert_eq!(figure(58.63), "58.6");
        assert_eq!(figure(1.7940157985), "1.79");
        assert_eq!(figure(0.14), "0.140");
        assert_eq!(figure(0.0041234), "0.00412");
        assert_eq!(figure(0.0), "0");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
