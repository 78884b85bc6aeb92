//! `ktrace compare A.json B.json ...`: records side by side. Needs no privileges: it only reads
//! files.
//!
//! Every traced cgroup of every record is one column (a run), labelled by the record's label
//! (see [`labels`]: the file's stem, or the shortest path suffix that tells it from the other
//! files, or `--label`), or `label:cgroup` when the record has several cgroups. Per syscall, per kernel function and per
//! module the comparison shows each run's figure, its ratio to the first run and which runs
//! alone have it ("only in ..."). Function figures are exact entry counts when every record
//! counted functions, otherwise samples when every record sampled (labelled as such: samples
//! are statistical, never counts). Module coverage is functions hit / traceable functions
//! attached: the denominator is the set the kernel let ktrace attach, not every function of
//! the module. With the DWARF of a record's kernel (`--vmlinux`, or Debian's debug package in
//! its standard places) counted functions are also grouped by kernel source directory
//! (`net/core`, `fs`, ...), with the same coverage; without it, by module only. When every
//! record counted source lines (`--lines`), their hits are compared per line, in source order.
//! Records made with `--latency` add each syscall's p50 and p99 latency per run, in ns.
//! Records that all kept interrupt context apart (`--irq separate`) add two function
//! sections: the entries in interrupts while each run's cgroup ran, and those of the whole
//! machine (the `(interrupts)` column of the record the run is from).
//!
//! This module builds the [`Comparison`]; [`render`] writes it in each `--output` format and
//! [`plot`] draws it. They use this module, never the other way round.
pub mod labels;
pub mod plot;
pub mod render;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    rc::Rc,
};

use serde::Serialize;

use crate::{
    attach::IrqMode,
    collect::Count,
    kallsyms::CORE_KERNEL,
    latency::Latency,
    record::{self, Record},
    report::{
        CountedFunction, CountedModule, Hits, KernelRow, Report, SampledFunction, SampledModule,
    },
    sources::KernelSources,
};

/// One column: one cgroup of one record. The fields are in the order `--output json` writes
/// them (alphabetical).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub cgroup: String,
    pub duration_secs: f64,
    pub file: String,
    pub host: String,
    pub kernel_build_id: String,
    pub kernel_release: String,
    /// The column's label: the record's label, with `:cgroup` when it traced several.
    pub label: String,
}

/// What the figures of a section are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Syscall entries.
    Calls,
    /// Exact kernel function entries.
    Entries,
    /// Sampled: how often a timer interrupt found a task there.
    Samples,
    /// Exact source line hits.
    Hits,
    /// Syscall returns without an entry: calls turned away before they ran.
    Blocked,
    /// The median latency of a syscall's timed calls, in ns (`--latency`).
    #[serde(rename = "p50_ns")]
    P50Ns,
    /// The 99th percentile latency of a syscall's timed calls, in ns (`--latency`).
    #[serde(rename = "p99_ns")]
    P99Ns,
    /// Exact kernel function entries in interrupt context while the run's cgroup ran.
    #[serde(rename = "in_interrupts")]
    InInterrupts,
    /// Exact kernel function entries in interrupt context on the whole machine during the
    /// run's record, whoever was interrupted.
    #[serde(rename = "all_interrupts")]
    AllInterrupts,
    /// Samples in interrupt context while the run's cgroup ran.
    #[serde(rename = "samples_in_interrupts")]
    SamplesInInterrupts,
    /// Samples in interrupt context on the whole machine during the run's record.
    #[serde(rename = "samples_all_interrupts")]
    SamplesAllInterrupts,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calls => "calls",
            Self::Entries => "entries",
            Self::Samples => "samples",
            Self::Hits => "hits",
            Self::Blocked => "blocked",
            Self::P50Ns => "p50_ns",
            Self::P99Ns => "p99_ns",
            Self::InInterrupts => "in_interrupts",
            Self::AllInterrupts => "all_interrupts",
            Self::SamplesInInterrupts => "samples_in_interrupts",
            Self::SamplesAllInterrupts => "samples_all_interrupts",
        }
    }
}

/// One syscall, function or module across all runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// The module of a function row.
    pub module: Option<String>,
    /// One figure per run.
    pub values: Vec<u64>,
    /// Module rows of counted functions: (functions hit, traceable functions attached) per run.
    pub coverage: Option<Vec<(u64, u64)>>,
}

impl Row {
    /// `values[run] / values[0]`; `None` for the first run and when the first run has none.
    pub fn ratio(&self, run: usize) -> Option<f64> {
        let first = self.values[0];
        (run > 0 && first > 0).then(|| self.values[run] as f64 / first as f64)
    }

    /// The runs that have this item, when not all of them do.
    pub fn only_in(&self) -> Option<Vec<usize>> {
        let present: Vec<usize> = (0..self.values.len()).filter(|&i| self.values[i] > 0).collect();
        (!present.is_empty() && present.len() < self.values.len()).then_some(present)
    }

    fn total(&self) -> u64 {
        self.values.iter().fold(0u64, |s, &n| s.saturating_add(n))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub measure: Measure,
    /// Most (summed over runs) first.
    pub rows: Vec<Row>,
    /// Rows left out by `--top`.
    pub omitted: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub runs: Vec<Run>,
    pub syscalls: Section,
    /// Blocked syscalls; absent when no run has any.
    pub blocked: Option<Section>,
    /// Syscall latency percentiles (`--latency`); absent when no run timed calls.
    pub p50: Option<Section>,
    pub p99: Option<Section>,
    /// Absent when not every record has functions of the same kind.
    pub functions: Option<Section>,
    pub modules: Option<Section>,
    /// Counted functions by source directory, when every record's kernel has DWARF here.
    pub directories: Option<Section>,
    /// Counted functions in interrupt context, while the run's cgroup ran and on the whole
    /// machine, when every record kept it apart (`--irq separate`).
    pub in_interrupts: Option<Section>,
    pub all_interrupts: Option<Section>,
    /// The same by module.
    pub modules_in_interrupts: Option<Section>,
    pub modules_all_interrupts: Option<Section>,
    /// Counted source lines (`function:line`), when every record counted lines.
    pub lines: Option<Section>,
    /// Their hits in interrupt context, as for functions: when every record counted lines
    /// with `--irq separate`.
    pub lines_in_interrupts: Option<Section>,
    pub lines_all_interrupts: Option<Section>,
    /// Sections that some records have but the comparison leaves out, and why.
    pub left_out: Vec<LeftOut>,
}

/// A section the comparison leaves out, said on stderr and in every output but CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// `functions` (with the modules), `interrupts`, `lines`, `line interrupts` or
    /// `directories`.
    pub section: &'static str,
    pub why: String,
}

/// Reads the records at `paths` and compares them, labelled `given` (one per file) or by
/// [`labels::labels`]; `vmlinux` (or the standard debug locations per kernel release) places
/// counted functions in source directories.
pub fn load(
    paths: &[impl AsRef<Path>],
    given: &[String],
    top: Option<usize>,
    vmlinux: Option<&Path>,
) -> anyhow::Result<Comparison> {
    let paths: Vec<&Path> = paths.iter().map(AsRef::as_ref).collect();
    let read = paths.iter().map(|p| record::read(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let records: Vec<_> = labels::labels(&paths, given)?
        .into_iter()
        .zip(&paths)
        .zip(read)
        .map(|((label, path), record)| (label, path.display().to_string(), record))
        .collect();
    let mut comparison = compare(&records, top);
    if comparison.modules.as_ref().is_some_and(|m| m.measure == Measure::Entries)
        && let Some(sources) = kernel_sources(&records, vmlinux, &mut comparison.left_out)?
    {
        let sources: Vec<&KernelSources> = sources.iter().map(|s| &**s).collect();
        comparison.directories = Some(directories(&records, top, &sources)?);
    }
    for left in &comparison.left_out {
        eprintln!("ktrace: left out {}: {}", left.section, left.why);
    }
    Ok(comparison)
}

/// The DWARF of each record's kernel (`vmlinux`, or the standard place of its kernel
/// release), opened once per image. `None` (and why in `left_out`) when a record's kernel has
/// no DWARF here.
fn kernel_sources(
    records: &[(String, String, Record)],
    vmlinux: Option<&Path>,
    left_out: &mut Vec<LeftOut>,
) -> anyhow::Result<Option<Vec<Rc<KernelSources>>>> {
    let mut opened: BTreeMap<PathBuf, Rc<KernelSources>> = BTreeMap::new();
    let mut per_record = Vec::new();
    for (_, _, record) in records {
        let image = vmlinux
            .map(Path::to_owned)
            .or_else(|| KernelSources::find(&record.report.kernel_release));
        let Some(image) = image else {
            let release = &record.report.kernel_release;
            left_out.push(LeftOut {
                section: "directories",
                why: format!(
                    "no vmlinux with DWARF for kernel {release} (--vmlinux, or package \
                     linux-image-{release}-dbg): grouping by module only"
                ),
            });
            return Ok(None);
        };
        let sources = match opened.get(&image) {
            Some(sources) => Rc::clone(sources),
            None => Rc::new(KernelSources::open(&image)?),
        };
        opened.insert(image, Rc::clone(&sources));
        per_record.push(sources);
    }
    Ok(Some(per_record))
}

/// Counted functions of every run grouped by source directory: entries, and functions hit /
/// attached. `sources[i]` places the functions of `records[i]` (the DWARF of its kernel).
pub fn directories(
    records: &[(String, String, Record)],
    top: Option<usize>,
    sources: &[&KernelSources],
) -> anyhow::Result<Section> {
    // Each record's functions placed in directories, with its own kernel's DWARF.
    let mut placed: Vec<BTreeMap<String, String>> = Vec::new();
    for ((_, _, record), sources) in records.iter().zip(sources) {
        let f = record.report.kernel_functions.as_ref().expect("counted records");
        let names: Vec<&str> = f
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.module.as_str()))
            .chain(f.not_entered.iter().map(|f| (f.name.as_str(), f.module.as_str())))
            .filter(|&(_, module)| module == CORE_KERNEL)
            .map(|(name, _)| name)
            .collect();
        let locations = sources.locate(&names)?;
        placed.push(
            names
                .iter()
                .zip(locations)
                .filter_map(|(name, loc)| Some((name.to_string(), loc?.directory().to_owned())))
                .collect(),
        );
    }
    let table = Table { records, columns: &columns(records), top };
    Ok(table.section(Measure::Entries, |r, rec, c| {
        let f = rec.kernel_functions.as_ref().expect("counted records");
        // directory -> (entries, hit, attached)
        let mut dirs: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        let all = f
            .functions
            .iter()
            .map(|f| (&f.name, f.counts[c]))
            .chain(f.not_entered.iter().map(|f| (&f.name, 0)));
        for (name, n) in all {
            if let Some(dir) = placed[r].get(name) {
                let d = dirs.entry(dir).or_default();
                d.0 = d.0.saturating_add(n);
                d.1 += u64::from(n > 0);
                d.2 += 1;
            }
        }
        dirs.into_iter()
            .map(|(dir, (n, hit, attached))| ((dir.to_owned(), None), n, Some((hit, attached))))
            .collect()
    }))
}

/// Compares `(label, file, record)` triples.
pub fn compare(records: &[(String, String, Record)], top: Option<usize>) -> Comparison {
    let mut runs = Vec::new();
    for (record_label, file, record) in records {
        for cgroup in &record.report.cgroups {
            let label = match record.report.cgroups.len() {
                1 => record_label.clone(),
                _ => format!("{record_label}:{}", cgroup.label),
            };
            runs.push(Run {
                label,
                file: file.clone(),
                cgroup: cgroup.label.clone(),
                host: record.info.host.clone(),
                kernel_release: record.report.kernel_release.clone(),
                kernel_build_id: record.info.kernel_build_id.clone(),
                duration_secs: record.report.duration_secs,
            });
        }
    }
    let table = Table { records, columns: &columns(records), top };
    let syscall_section = |measure, figure: fn(&Count) -> u64| {
        table.section(measure, |_, rec, c| {
            rec.syscalls
                .iter()
                .filter(|s| figure(&s.counts[c]) > 0)
                .map(|s| ((s.name.clone(), None), figure(&s.counts[c]), None))
                .collect()
        })
    };
    let syscalls = syscall_section(Measure::Calls, |count| count.calls);
    let blocked = Some(syscall_section(Measure::Blocked, |count| count.blocked))
        .filter(|section| !section.rows.is_empty());
    let latency_section = |measure, figure: fn(&Latency) -> u64| {
        Some(table.section(measure, |_, rec, c| {
            rec.syscalls
                .iter()
                .filter_map(|s| {
                    let latency = s.latency.as_ref()?.get(c)?.as_ref()?;
                    Some(((s.name.clone(), None), figure(latency), None))
                })
                .collect()
        }))
        .filter(|section| !section.rows.is_empty())
    };
    let p50 = latency_section(Measure::P50Ns, |latency| latency.p50_ns);
    let p99 = latency_section(Measure::P99Ns, |latency| latency.p99_ns);
    let counted = records.iter().all(|(_, _, r)| r.report.kernel_functions.is_some());
    let sampled = records.iter().all(|(_, _, r)| r.report.kernel_samples.is_some());
    let (functions, modules) = if counted {
        let functions =
            table.kernel_section(Measure::Entries, counted_functions, |f, c| f.counts[c]);
        let modules = table.section(Measure::Entries, |_, rec, c| {
            counted_modules(rec)
                .iter()
                .map(|m| {
                    let coverage = (m.hit[c] as u64, m.traced as u64);
                    ((m.module.clone(), None), m.counts[c], Some(coverage))
                })
                .collect()
        });
        (Some(functions), Some(modules))
    } else if sampled {
        let functions =
            table.kernel_section(Measure::Samples, sampled_functions, |f, c| f.samples[c]);
        let modules = table.kernel_section(Measure::Samples, sampled_modules, |m, c| m.samples[c]);
        (Some(functions), Some(modules))
    } else {
        (None, None)
    };
    let mut left_out: Vec<LeftOut> = match functions {
        None => functions_left_out(records).into_iter().collect(),
        Some(_) => Vec::new(),
    };
    let mut interrupts = [None, None, None, None];
    match counted
        .then(|| irq_modes(records, |r| r.kernel_functions.as_ref().map(|f| f.irq)))
        .flatten()
    {
        Some(modes) if modes.iter().all(|(mode, _)| *mode == IrqMode::Separate) => {
            let measures = [Measure::InInterrupts, Measure::AllInterrupts];
            interrupts = table.interrupt_sections(measures, counted_functions, counted_modules);
        }
        Some(modes) => {
            left_out.extend(interrupts_left_out(&modes, ("interrupts", "function entries")));
        }
        None => {}
    }
    match (!counted && sampled)
        .then(|| irq_modes(records, |r| r.kernel_samples.as_ref().map(|s| s.irq)))
        .flatten()
    {
        Some(modes) if modes.iter().all(|(mode, _)| *mode == IrqMode::Separate) => {
            let measures = [Measure::SamplesInInterrupts, Measure::SamplesAllInterrupts];
            interrupts = table.interrupt_sections(measures, sampled_functions, sampled_modules);
        }
        Some(modes) => {
            left_out.extend(interrupts_left_out(&modes, ("interrupts", "kernel samples")));
        }
        None => {}
    }
    let [in_interrupts, all_interrupts, modules_in_interrupts, modules_all_interrupts] = interrupts;
    left_out.extend(lines_left_out(records));
    let counted_lines = records.iter().all(|(_, _, r)| r.report.kernel_lines.is_some());
    // A section of counted lines by `figure(hits, cgroup)`, in source order as the seed
    // study's table: by function, then line.
    let line_section = |measure, figure: fn(&Hits, usize) -> u64| {
        let mut lines = table.section(measure, |_, rec, c| {
            let report = rec.kernel_lines.as_ref().expect("all records counted lines");
            report
                .counted()
                .map(|(f, l)| {
                    ((format!("{}:{}", f.function.name, l.line), None), figure(&l.hits, c), None)
                })
                .collect()
        });
        lines.rows.sort_by_cached_key(|row| {
            let (function, line) = line_of(&row.name);
            (function.to_owned(), line)
        });
        lines
    };
    let lines = counted_lines.then(|| line_section(Measure::Hits, |h, c| h.counts[c]));
    let line_modes = irq_modes(records, |r| r.kernel_lines.as_ref().map(|l| l.irq));
    let lines_apart = match line_modes.filter(|_| counted_lines) {
        Some(modes) if modes.iter().all(|(mode, _)| *mode == IrqMode::Separate) => true,
        Some(modes) => {
            left_out.extend(interrupts_left_out(&modes, ("line interrupts", "line hits")));
            false
        }
        None => false,
    };
    let lines_in_interrupts =
        lines_apart.then(|| line_section(Measure::InInterrupts, |h, c| h.interrupts.of_cgroup(c)));
    let lines_all_interrupts =
        lines_apart.then(|| line_section(Measure::AllInterrupts, |h, _| h.interrupts.of_machine()));
    Comparison {
        runs,
        syscalls,
        blocked,
        p50,
        p99,
        functions,
        modules,
        directories: None,
        in_interrupts,
        all_interrupts,
        modules_in_interrupts,
        modules_all_interrupts,
        lines,
        lines_in_interrupts,
        lines_all_interrupts,
        left_out,
    }
}

/// Each `--irq` mode of the records with the labels of the records counted in it, in order of
/// first appearance; `None` when no record counted functions (or, with `mode_of` reading the
/// lines' mode, lines).
fn irq_modes(
    records: &[(String, String, Record)],
    mode_of: fn(&Report) -> Option<IrqMode>,
) -> Option<Vec<(IrqMode, Vec<&str>)>> {
    let mut modes: Vec<(IrqMode, Vec<&str>)> = Vec::new();
    for (label, _, record) in records {
        let Some(irq) = mode_of(&record.report) else { continue };
        match modes.iter_mut().find(|(mode, _)| *mode == irq) {
            Some((_, labels)) => labels.push(label),
            None => modes.push((irq, vec![label])),
        }
    }
    (!modes.is_empty()).then_some(modes)
}

/// Why interrupt context is not compared when the records counted it differently: in
/// `section` (`interrupts` of functions, `line interrupts`), where `figures` are what is
/// counted. Records that all charged it to the interrupted task (`--irq task`, and every
/// record from before `--irq`) or all left it out have nothing to say about it.
fn interrupts_left_out(
    modes: &[(IrqMode, Vec<&str>)],
    (section, figures): (&'static str, &str),
) -> Option<LeftOut> {
    (modes.len() > 1).then(|| {
        let parts: Vec<String> = modes
            .iter()
            .map(|(mode, labels)| format!("{}: --irq {mode}", labels.join(", ")))
            .collect();
        LeftOut {
            section,
            why: format!(
                "{}; {figures} in interrupt context are compared only when every record kept \
                 them apart (--irq separate), and the {figures} of these runs count \
                 different things (with task they include the interrupts that came while the \
                 cgroup ran)",
                parts.join("; ")
            ),
        }
    })
}

/// The function and line number of a lines section's row, named `function:line`.
pub(crate) fn line_of(name: &str) -> (&str, u32) {
    let (function, line) = name.rsplit_once(':').unwrap_or((name, ""));
    (function, line.parse().unwrap_or(0))
}

/// Why source lines are not compared when only some records counted them.
fn lines_left_out(records: &[(String, String, Record)]) -> Option<LeftOut> {
    let without: Vec<&str> = records
        .iter()
        .filter(|(_, _, r)| r.report.kernel_lines.is_none())
        .map(|(label, _, _)| label.as_str())
        .collect();
    (!without.is_empty() && without.len() < records.len()).then(|| LeftOut {
        section: "lines",
        why: format!(
            "{} counted no source lines; lines are compared only when every record counted them \
             (--lines)",
            without.join(", ")
        ),
    })
}

/// Why kernel functions are not compared although some record has them: counts and samples
/// do not compare, and a record without either has nothing to compare with.
fn functions_left_out(records: &[(String, String, Record)]) -> Option<LeftOut> {
    let with = |has: fn(&Report) -> bool| -> Vec<&str> {
        records.iter().filter(|(_, _, r)| has(&r.report)).map(|(l, _, _)| l.as_str()).collect()
    };
    let counted = with(|r| r.kernel_functions.is_some());
    let sampled = with(|r| r.kernel_samples.is_some() && r.kernel_functions.is_none());
    let neither = with(|r| r.kernel_samples.is_none() && r.kernel_functions.is_none());
    let mut parts = Vec::new();
    for (labels, what) in [
        (&counted, "counted kernel functions (exact entries)"),
        (&sampled, "sampled kernel functions (statistical samples)"),
        (&neither, "syscalls only"),
    ] {
        if !labels.is_empty() {
            parts.push(format!("{}: {what}", labels.join(", ")));
        }
    }
    (parts.len() > 1).then(|| LeftOut {
        section: "functions",
        why: format!(
            "{}; kernel functions and modules are compared only when every record counted them \
             or every record sampled them",
            parts.join("; ")
        ),
    })
}

/// (record, cgroup) of each run, in run order.
fn columns(records: &[(String, String, Record)]) -> Vec<(usize, usize)> {
    records
        .iter()
        .enumerate()
        .flat_map(|(r, (_, _, record))| (0..record.report.cgroups.len()).map(move |c| (r, c)))
        .collect()
}

/// (name, module) of a row.
type Key = (String, Option<String>);
/// One item of one run: its key, figure and (hit, attached) coverage for modules.
type Item = (Key, u64, Option<(u64, u64)>);

struct Table<'a> {
    records: &'a [(String, String, Record)],
    columns: &'a [(usize, usize)],
    top: Option<usize>,
}

impl Table<'_> {
    /// Lines up the items that `items(record index, its report, cgroup)` lists for every run.
    fn section(
        &self,
        measure: Measure,
        items: impl Fn(usize, &Report, usize) -> Vec<Item>,
    ) -> Section {
        let runs = self.columns.len();
        let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
        for (run, &(r, c)) in self.columns.iter().enumerate() {
            for ((name, module), value, coverage) in items(r, &self.records[r].2.report, c) {
                let row = rows.entry((name.clone(), module.clone())).or_insert_with(|| Row {
                    name,
                    module,
                    values: vec![0; runs],
                    coverage: None,
                });
                row.values[run] = value;
                if let Some(hit_attached) = coverage {
                    row.coverage.get_or_insert_with(|| vec![(0, 0); runs])[run] = hit_attached;
                }
            }
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            b.total().cmp(&a.total()).then_with(|| (&a.name, &a.module).cmp(&(&b.name, &b.module)))
        });
        let keep = self.top.unwrap_or(usize::MAX).min(rows.len());
        let omitted = rows.len() - keep;
        rows.truncate(keep);
        Section { measure, rows, omitted }
    }

    /// A section of the function or module rows that `rows` finds in every record, by
    /// `figure(row, cgroup)`. A function without a figure gets no row (with --irq separate, one
    /// entered or sampled in interrupts only has none in its tasks); a module always has one.
    fn kernel_section<R: KernelRow>(
        &self,
        measure: Measure,
        rows: fn(&Report) -> &[R],
        figure: fn(&R, usize) -> u64,
    ) -> Section {
        self.section(measure, |_, rec, c| {
            rows(rec)
                .iter()
                .filter_map(|row| {
                    let n = figure(row, c);
                    let (name, module) = row.key();
                    let key = || (name.to_owned(), module.map(str::to_owned));
                    (n > 0 || module.is_none()).then(|| (key(), n, None))
                })
                .collect()
        })
    }

    /// The sections of figures in interrupt context, measured `[in_cgroup, on_machine]`: the
    /// functions' while each run's cgroup ran and on the whole machine, then the modules'.
    fn interrupt_sections<F: KernelRow, M: KernelRow>(
        &self,
        [in_cgroup, on_machine]: [Measure; 2],
        functions: fn(&Report) -> &[F],
        modules: fn(&Report) -> &[M],
    ) -> [Option<Section>; 4] {
        [
            self.kernel_section(in_cgroup, functions, |f, c| f.interrupts().of_cgroup(c)),
            self.kernel_section(on_machine, functions, |f, _| f.interrupts().of_machine()),
            self.kernel_section(in_cgroup, modules, |m, c| m.interrupts().of_cgroup(c)),
            self.kernel_section(on_machine, modules, |m, _| m.interrupts().of_machine()),
        ]
        .map(Some)
    }
}

/// The counted functions of a record that [`compare`] found all records to have.
fn counted_functions(r: &Report) -> &[CountedFunction] {
    &r.kernel_functions.as_ref().expect("all records counted functions").functions
}

fn counted_modules(r: &Report) -> &[CountedModule] {
    &r.kernel_functions.as_ref().expect("all records counted functions").modules
}

/// The sampled functions of a record that [`compare`] found all records to have.
fn sampled_functions(r: &Report) -> &[SampledFunction] {
    &r.kernel_samples.as_ref().expect("all records sampled").functions
}

fn sampled_modules(r: &Report) -> &[SampledModule] {
    &r.kernel_samples.as_ref().expect("all records sampled").modules
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        attach::{Backend, IrqMode},
        collect::{Count, Overhead, SyscallCounts},
        record::tests::info as record_info,
        report::{
            CountedFunction, CountedModule, FunctionReport, InInterrupts, Kind, SampleReport,
            SampledFunction, SampledModule, SyscallRow,
            tests::{counting, info, period},
        },
    };

    /// Two counted records on the kernel of the cached debug image: `net` entered
    /// is_skb_forwardable 200 times, `file` vfs_write 7 times; both attached vfs_read too.
    #[test]
    fn counted_functions_are_grouped_by_source_directory() {
        let Some((release, _)) = std::fs::read_dir("/var/cache/ktrace/debug")
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.path().join("vmlinux").is_file())
            .and_then(|e| Some((e.file_name().into_string().ok()?, ())))
        else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, entered: &str, count: u64, not_entered: &str| {
            let targets = [(entered, "vmlinux"), (not_entered, "vmlinux"), ("vfs_read", "vmlinux")];
            let report =
                counting(&[name], &release, &targets, (&[vec![count, 0, 0]], IrqMode::Task));
            let path = dir.path().join(format!("{name}.json"));
            record::write(&path, &Record::new(record_info(), report), false).unwrap();
            path
        };
        let net = write("net", "is_skb_forwardable", 200, "vfs_write");
        let file = write("file", "vfs_write", 7, "is_skb_forwardable");
        let c = load(&[net, file], &[], None, None).unwrap();
        let dirs = c.directories.expect("directories with DWARF");
        let rows: Vec<_> = dirs
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.values.clone(), r.coverage.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                ("net/core", vec![200, 0], Some(vec![(1, 1), (0, 1)])),
                ("fs", vec![0, 7], Some(vec![(0, 2), (1, 2)])),
            ]
        );
    }
    /// A record of `cgroups` on host h1, kernel 6.12.0 (build ab12), 2 s long, with these
    /// syscalls (calls per cgroup) and nothing else.
    pub(crate) fn record(cgroups: &[&str], rows: &[(&str, &[u64])]) -> Record {
        let no_syscalls = vec![SyscallCounts::default(); cgroups.len()];
        let mut report = Report::new(&info(cgroups), period(2), &no_syscalls, None, None, None);
        report.kernel_release = "6.12.0".to_owned();
        report.syscalls = rows
            .iter()
            .map(|(name, calls)| SyscallRow {
                name: name.to_string(),
                nr: None,
                abi: None,
                counts: calls.iter().map(|&calls| Count { calls, errors: 0, blocked: 0 }).collect(),
                latency: None,
            })
            .collect();
        let mut record = Record::new(record_info(), report);
        record.info.host = "h1".to_owned();
        record.info.kernel_build_id = "ab12".to_owned();
        record
    }

    /// Counted functions (name, module, entries) and modules (name, attached, hit, entries)
    /// of one cgroup.
    fn counted(
        functions: &[(&str, &str, u64)],
        modules: &[(&str, usize, usize, u64)],
    ) -> FunctionReport {
        FunctionReport {
            kind: Kind::Counts,
            backend: Backend::KprobeMulti,
            attached: modules.iter().map(|m| m.1).sum(),
            skipped: 0,
            overhead: Overhead::default(),
            irq: IrqMode::Task,
            totals: vec![modules.iter().map(|m| m.3).sum()],
            in_interrupts_totals: Vec::new(),
            all_interrupts_total: None,
            functions: functions
                .iter()
                .map(|&(name, module, n)| CountedFunction {
                    name: name.to_owned(),
                    module: module.to_owned(),
                    counts: vec![n],
                    interrupts: InInterrupts::default(),
                })
                .collect(),
            functions_omitted: 0,
            modules: modules
                .iter()
                .map(|&(module, traced, hit, n)| CountedModule {
                    module: module.to_owned(),
                    traced,
                    hit: vec![hit],
                    counts: vec![n],
                    interrupts: InInterrupts::default(),
                })
                .collect(),
            not_entered: Vec::new(),
        }
    }

    /// net: getppid 1000, read 10, veth_xmit 40 and vfs_read 5 entries (veth 1 of 30 hit);
    /// disk: fchdir 17, read 20, vfs_read 15 and vfs_write 5 (vmlinux 2 of 100 hit).
    pub(crate) fn pair() -> Comparison {
        let mut net = record(&["ktrace-run-1"], &[("getppid", &[1000]), ("read", &[10])]);
        net.report.kernel_functions = Some(counted(
            &[("veth_xmit", "veth", 40), ("vfs_read", "vmlinux", 5)],
            &[("veth", 30, 1, 40), ("vmlinux", 100, 1, 5)],
        ));
        let mut disk = record(&["ktrace-run-2"], &[("fchdir", &[17]), ("read", &[20])]);
        disk.info.host = "h2".to_owned();
        disk.report.duration_secs = 4.5;
        disk.report.kernel_functions = Some(counted(
            &[("vfs_read", "vmlinux", 15), ("vfs_write", "vmlinux", 5)],
            &[("veth", 30, 0, 0), ("vmlinux", 100, 2, 20)],
        ));
        compare(
            &[
                ("net".to_owned(), "runs/net.json".to_owned(), net),
                ("disk".to_owned(), "runs/disk.json".to_owned(), disk),
            ],
            None,
        )
    }

    /// `d1/r.json` and `d2/r.json` were both labelled `r`, and "only in r" meant nothing.
    #[test]
    fn records_of_one_stem_get_labels_that_tell_them_apart() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = ["d1", "d2"]
            .iter()
            .map(|d| {
                std::fs::create_dir(dir.path().join(d)).unwrap();
                let path = dir.path().join(d).join("r.json");
                record::write(&path, &record(&["x"], &[("read", &[1])]), false).unwrap();
                path
            })
            .collect();
        let labels = |given: &[String]| {
            let c = load(&paths, given, None, None).unwrap();
            c.runs.iter().map(|r| r.label.clone()).collect::<Vec<_>>()
        };
        assert_eq!(labels(&[]), ["d1/r", "d2/r"]);
        assert_eq!(labels(&["old".to_owned(), "new".to_owned()]), ["old", "new"]);
    }

    #[test]
    fn counted_lines_are_compared_in_source_order() {
        use crate::lines::report::tests::report_of;
        let mut lxc = record(&["x"], &[]);
        lxc.report.kernel_lines = Some(report_of([200, 200, 8, 0, 0]));
        let mut gvisor = record(&["y"], &[]);
        gvisor.report.kernel_lines = Some(report_of([5, 5, 1, 0, 0]));
        let c = compare(
            &[
                ("lxc".to_owned(), "lxc.json".to_owned(), lxc),
                ("gvisor".to_owned(), "gvisor.json".to_owned(), gvisor.clone()),
            ],
            None,
        );
        let lines = c.lines.unwrap();
        assert_eq!(lines.measure, Measure::Hits);
        let rows: Vec<_> = lines.rows.iter().map(|r| (r.name.as_str(), r.values.clone())).collect();
        assert_eq!(
            rows,
            [
                ("__is_skb_forwardable:4070", vec![200, 5]),
                ("__is_skb_forwardable:4073", vec![0, 0]),
                ("__is_skb_forwardable:4077", vec![200, 5]),
                ("__is_skb_forwardable:4083", vec![8, 1])
            ]
        );
        assert_eq!(lines.rows[3].ratio(1), Some(0.125));
        // Not every record counted lines: no section.
        let none = compare(
            &[
                ("a".to_owned(), "a.json".to_owned(), gvisor),
                ("b".to_owned(), "b.json".to_owned(), record(&["z"], &[])),
            ],
            None,
        );
        assert_eq!(none.lines, None);
    }

    /// Line hits in interrupts are compared when every record kept them apart, and said to be
    /// left out when not.
    #[test]
    fn line_hits_in_interrupts_are_compared_when_every_record_kept_them_apart() {
        use crate::lines::report::tests::{report_apart, report_of};
        let run = |name: &str, lines| {
            let mut r = record(&[name], &[]);
            r.report.kernel_lines = Some(lines);
            (name.to_owned(), format!("{name}.json"), r)
        };
        // report_apart traced two cgroups; a record of one keeps the first.
        let one_cgroup = |mut lines: crate::lines::LineReport| {
            for l in lines.functions.iter_mut().flat_map(|f| &mut f.lines) {
                l.hits.counts.truncate(1);
                l.hits.interrupts.in_interrupts.truncate(1);
            }
            lines
        };
        let net = run("net", one_cgroup(report_apart()));
        let c = compare(&[net.clone(), net.clone()], None);
        let rows = |section: Option<Section>| -> Vec<(String, Vec<u64>)> {
            let section = section.expect("a section of line hits in interrupts");
            section.rows.iter().map(|r| (r.name.clone(), r.values.clone())).collect()
        };
        let first = "__is_skb_forwardable:4070".to_owned();
        assert_eq!(rows(c.lines.clone())[0], (first.clone(), vec![4, 4]));
        assert_eq!(rows(c.lines_in_interrupts)[0], (first.clone(), vec![30, 30]));
        assert_eq!(rows(c.lines_all_interrupts)[0], (first, vec![56, 56]));
        assert_eq!(c.left_out, []);
        let c = compare(&[net, run("task", report_of([1, 1, 1, 1, 0]))], None);
        assert_eq!((c.lines_in_interrupts, c.lines_all_interrupts), (None, None));
        assert_eq!(c.left_out[0].section, "line interrupts");
        assert!(c.left_out[0].why.starts_with("net: --irq separate; task: --irq task; line hits"));
    }

    #[test]
    fn rows_line_up_with_ratios_and_only_in() {
        let c = pair();
        let labels: Vec<_> = c.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["net", "disk"]);
        let rows: Vec<_> = c
            .syscalls
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.values.clone(), r.only_in()))
            .collect();
        assert_eq!(
            rows,
            [
                ("getppid", vec![1000, 0], Some(vec![0])),
                ("read", vec![10, 20], None),
                ("fchdir", vec![0, 17], Some(vec![1])),
            ]
        );
        assert_eq!(c.syscalls.rows[1].ratio(1), Some(2.0));
        assert_eq!(c.syscalls.rows[0].ratio(1), Some(0.0));
        assert_eq!(c.syscalls.rows[2].ratio(1), None);
        assert_eq!(c.syscalls.rows[1].ratio(0), None);
        let functions = c.functions.unwrap();
        assert_eq!(functions.measure, Measure::Entries);
        assert_eq!(functions.rows[0].name, "veth_xmit");
        assert_eq!(functions.rows[1].values, [5, 15]);
        let modules = c.modules.unwrap();
        assert_eq!(modules.rows[0].name, "veth");
        assert_eq!(modules.rows[0].coverage, Some(vec![(1, 30), (0, 30)]));
        assert_eq!(modules.rows[1].coverage, Some(vec![(1, 100), (2, 100)]));
    }

    #[test]
    fn blocked_syscalls_are_a_section_of_their_own() {
        let c = pair();
        assert_eq!(c.blocked, None, "no run has blocked calls");
        let mut gvisor = record(&["gvisor"], &[("getcwd", &[0]), ("read", &[5])]);
        gvisor.report.syscalls[0].counts[0].blocked = 12;
        gvisor.report.syscalls[1].counts[0].blocked = 1;
        let runc = record(&["runc"], &[("getcwd", &[12]), ("read", &[5])]);
        let c = compare(
            &[
                ("runc".to_owned(), "runc.json".to_owned(), runc),
                ("gvisor".to_owned(), "gvisor.json".to_owned(), gvisor),
            ],
            None,
        );
        // getcwd made no calls in gVisor: no zero row among the calls.
        let calls: Vec<_> =
            c.syscalls.rows.iter().map(|r| (r.name.as_str(), r.values.clone())).collect();
        assert_eq!(calls, [("getcwd", vec![12, 0]), ("read", vec![5, 5])]);
        let blocked = c.blocked.unwrap();
        assert_eq!(blocked.measure, Measure::Blocked);
        let rows: Vec<_> =
            blocked.rows.iter().map(|r| (r.name.as_str(), r.values.clone(), r.only_in())).collect();
        assert_eq!(
            rows,
            [("getcwd", vec![0, 12], Some(vec![1])), ("read", vec![0, 1], Some(vec![1]))]
        );
    }

    #[test]
    fn latency_percentiles_are_sections_with_ratios() {
        assert_eq!((pair().p50, pair().p99), (None, None), "no run timed calls");
        let timed = |buckets: Vec<[u64; 2]>| {
            let mut r = record(&["x"], &[("nanosleep", &[100]), ("read", &[5])]);
            r.report.syscalls[0].latency = Some(vec![Latency::from_sparse(buckets)]);
            r
        };
        // 100 sleeps: 99 of 1 ms and one of 10 ms, then all of 2 ms.
        let before = timed(vec![[1_000_000, 99], [10_000_000, 1]]);
        let after = timed(vec![[2_000_000, 100]]);
        let c = compare(
            &[
                ("before".to_owned(), "before.json".to_owned(), before),
                ("after".to_owned(), "after.json".to_owned(), after),
            ],
            None,
        );
        let (p50, p99) = (c.p50.unwrap(), c.p99.unwrap());
        assert_eq!((p50.measure, p99.measure), (Measure::P50Ns, Measure::P99Ns));
        // read was not timed, so it has no latency row.
        assert_eq!(p50.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["nanosleep"]);
        let near = |ratio: Option<f64>, exact: f64| {
            assert!(ratio.is_some_and(|r| (r - exact).abs() < exact * 0.04), "{ratio:?}");
        };
        near(p50.rows[0].ratio(1), 2.0);
        near(p99.rows[0].ratio(1), 2.0);
    }

    #[test]
    fn several_cgroups_give_a_column_each_and_top_cuts_rows() {
        let two = record(&["lxc", "gvisor"], &[("read", &[3, 4]), ("write", &[1, 0])]);
        let one = record(&["x"], &[("write", &[9])]);
        let c = compare(
            &[
                ("a".to_owned(), "a.json".to_owned(), two),
                ("b".to_owned(), "b.json".to_owned(), one),
            ],
            Some(1),
        );
        let labels: Vec<_> = c.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["a:lxc", "a:gvisor", "b"]);
        assert_eq!(c.syscalls.rows.len(), 1);
        assert_eq!(c.syscalls.rows[0].values, [1, 0, 9]);
        assert_eq!(c.syscalls.rows[0].only_in(), Some(vec![0, 2]));
        assert_eq!(c.syscalls.omitted, 1);
        assert_eq!(c.functions, None);
    }

    /// `counted(functions, modules)` as `--irq separate` counts it: each function of
    /// `interrupts` (name, in interrupts while the cgroup ran, on the whole machine).
    fn kept_apart(
        functions: &[(&str, &str, u64)],
        interrupts: &[(&str, u64, u64)],
    ) -> FunctionReport {
        let mut f = counted(functions, &[("vmlinux", 100, 1, 1)]);
        f.irq = IrqMode::Separate;
        for row in &mut f.functions {
            let &(_, in_interrupts, all) =
                interrupts.iter().find(|(name, ..)| *name == row.name).unwrap_or(&("", 0, 0));
            (row.interrupts.in_interrupts, row.interrupts.all_interrupts) =
                (vec![in_interrupts], Some(all));
        }
        let vmlinux = &mut f.modules[0];
        vmlinux.interrupts.in_interrupts = vec![interrupts.iter().map(|&(_, n, _)| n).sum()];
        vmlinux.interrupts.all_interrupts = Some(interrupts.iter().map(|&(_, _, n)| n).sum());
        f
    }

    /// Receive-path work in softirq while the sender ran, and the timer softirq, compared
    /// between runs; a record charging it to the task is not compared with them.
    #[test]
    fn interrupt_context_is_compared_when_every_record_kept_it_apart() {
        let run = |name: &str, functions, interrupts| {
            let mut r = record(&[name], &[]);
            r.report.kernel_functions = Some(kept_apart(functions, interrupts));
            (name.to_owned(), format!("{name}.json"), r)
        };
        let runc = run(
            "runc",
            &[
                ("getppid", "vmlinux", 10),
                ("ip_rcv", "vmlinux", 0),
                ("run_timer_softirq", "vmlinux", 0),
            ],
            &[("ip_rcv", 100, 100), ("run_timer_softirq", 1, 35)],
        );
        let gvisor = run(
            "gvisor",
            &[
                ("getppid", "vmlinux", 10),
                ("ip_rcv", "vmlinux", 0),
                ("run_timer_softirq", "vmlinux", 0),
            ],
            &[("ip_rcv", 50, 200), ("run_timer_softirq", 0, 70)],
        );
        let c = compare(&[runc.clone(), gvisor], None);
        let rows = |section: Option<Section>| -> Vec<(String, Vec<u64>, Option<f64>)> {
            let section = section.expect("a section of interrupt context");
            section.rows.iter().map(|r| (r.name.clone(), r.values.clone(), r.ratio(1))).collect()
        };
        assert_eq!(c.in_interrupts.as_ref().unwrap().measure, Measure::InInterrupts);
        assert_eq!(
            rows(c.in_interrupts),
            [
                ("ip_rcv".to_owned(), vec![100, 50], Some(0.5)),
                ("run_timer_softirq".to_owned(), vec![1, 0], Some(0.0)),
            ]
        );
        assert_eq!(c.all_interrupts.as_ref().unwrap().measure, Measure::AllInterrupts);
        assert_eq!(
            rows(c.all_interrupts),
            [
                ("ip_rcv".to_owned(), vec![100, 200], Some(2.0)),
                ("run_timer_softirq".to_owned(), vec![35, 70], Some(2.0)),
            ]
        );
        let modules = (rows(c.modules_in_interrupts), rows(c.modules_all_interrupts));
        assert_eq!(
            modules,
            (
                vec![("vmlinux".to_owned(), vec![101, 50], Some(50.0 / 101.0))],
                vec![("vmlinux".to_owned(), vec![135, 270], Some(2.0))]
            )
        );
        assert_eq!(c.left_out, []);
        let functions = c.functions.unwrap();
        assert_eq!(
            functions.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["getppid"],
            "no rows of task-context entries for functions entered in interrupts only"
        );

        let mut before_irq = record(&["lxc"], &[]);
        before_irq.report.kernel_functions = Some(counted(&[("ip_rcv", "vmlinux", 100)], &[]));
        let c = compare(&[runc, ("lxc".to_owned(), "lxc.json".to_owned(), before_irq)], None);
        assert_eq!((c.in_interrupts, c.all_interrupts), (None, None));
        assert_eq!((c.modules_in_interrupts, c.modules_all_interrupts), (None, None));
        assert_eq!(c.functions.unwrap().rows[0].values, [0, 100], "functions still compared");
        assert_eq!(
            c.left_out,
            [LeftOut {
                section: "interrupts",
                why: "runc: --irq separate; lxc: --irq task; function entries in interrupt \
                      context are compared only when every record kept them apart (--irq \
                      separate), and the function entries of these runs count different things \
                      (with task they include the interrupts that came while the cgroup ran)"
                    .to_owned()
            }]
        );
    }

    /// A counted record beside a sampled one lost its function tables without a word.
    #[test]
    fn sections_left_out_are_named_with_the_reason() {
        let mut counted_run = record(&["x"], &[("read", &[1])]);
        counted_run.report.kernel_functions = Some(counted(&[], &[]));
        let syscalls_only = record(&["y"], &[("read", &[2])]);
        let c = compare(
            &[
                ("guest".to_owned(), "guest.json".to_owned(), counted_run),
                ("host".to_owned(), "host.json".to_owned(), syscalls_only.clone()),
            ],
            None,
        );
        assert_eq!((c.functions, c.modules), (None, None));
        assert_eq!(
            c.left_out,
            [LeftOut {
                section: "functions",
                why: "guest: counted kernel functions (exact entries); host: syscalls only; \
                      kernel functions and modules are compared only when every record counted \
                      them or every record sampled them"
                    .to_owned()
            }]
        );
        let c = compare(
            &[
                ("a".to_owned(), "a.json".to_owned(), syscalls_only.clone()),
                ("b".to_owned(), "b.json".to_owned(), syscalls_only),
            ],
            None,
        );
        assert_eq!(c.left_out, [], "nothing to leave out where no record has functions");
    }

    /// Sampled records kept apart are compared in their tasks' samples (a function sampled in
    /// interrupts only gets no row there) and in their samples in interrupt context, per
    /// cgroup and for the machine; records sampled with different `--irq` modes are not.
    #[test]
    fn sampled_records_kept_apart_compare_task_and_interrupt_samples() {
        let run = |name: &str| {
            let mut r = record(&["lxc", "gvisor"], &[]);
            r.report.kernel_samples = crate::report::tests::sampled_apart().kernel_samples;
            (name.to_owned(), format!("{name}.json"), r)
        };
        let c = compare(&[run("a"), run("b")], None);
        let functions = c.functions.unwrap();
        let names: Vec<&str> = functions.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["vfs_write", "ksys_write", "veth_xmit"]);
        assert_eq!(functions.rows[0].values, [30, 5, 30, 5]);
        let rows = |section: Option<Section>, measure| -> Vec<(String, Vec<u64>)> {
            let section = section.expect("a section of interrupt context");
            assert_eq!(section.measure, measure);
            section.rows.iter().map(|r| (r.name.clone(), r.values.clone())).collect()
        };
        let named = |name: &str, values: &[u64]| (name.to_owned(), values.to_vec());
        assert_eq!(
            rows(c.in_interrupts, Measure::SamplesInInterrupts),
            [named("net_rx_action", &[6, 0, 6, 0])]
        );
        assert_eq!(
            rows(c.all_interrupts, Measure::SamplesAllInterrupts),
            [named("net_rx_action", &[9, 9, 9, 9]), named("veth_xmit", &[3, 3, 3, 3])]
        );
        assert_eq!(
            rows(c.modules_in_interrupts, Measure::SamplesInInterrupts)[0],
            named("vmlinux", &[6, 0, 6, 0])
        );
        assert_eq!(c.left_out, []);

        let mut task = record(&["lxc", "gvisor"], &[]);
        task.report.kernel_samples = crate::report::tests::sampled().kernel_samples;
        let c = compare(&[run("a"), ("t".to_owned(), "t.json".to_owned(), task)], None);
        assert_eq!((c.in_interrupts, c.all_interrupts), (None, None));
        assert_eq!(c.left_out.len(), 1, "{:?}", c.left_out);
        assert_eq!(c.left_out[0].section, "interrupts");
        assert!(c.left_out[0].why.starts_with("a: --irq separate; t: --irq task; kernel samples"));
    }

    #[test]
    fn sampled_functions_are_compared_as_samples_when_not_all_counted() {
        let samples = |n| {
            Some(SampleReport {
                kind: Kind::Samples,
                frequency_hz: 999,
                irq: IrqMode::Task,
                totals: Vec::new(),
                in_interrupts_totals: Vec::new(),
                all_interrupts_total: None,
                in_interrupts_lost: Vec::new(),
                all_interrupts_lost: None,
                functions: vec![SampledFunction {
                    name: "vfs_write".to_owned(),
                    module: "vmlinux".to_owned(),
                    samples: vec![n],
                    share: vec![1.0],
                    interrupts: InInterrupts::default(),
                }],
                modules: vec![SampledModule {
                    module: "vmlinux".to_owned(),
                    samples: vec![n],
                    share: vec![1.0],
                    interrupts: InInterrupts::default(),
                }],
                functions_omitted: 0,
                clock: None,
            })
        };
        let mut a = record(&["x"], &[]);
        a.report.kernel_samples = samples(8);
        a.report.kernel_functions = Some(counted(&[], &[]));
        let mut b = record(&["y"], &[]);
        b.report.kernel_samples = samples(2);
        let c = compare(
            &[("a".to_owned(), "a.json".to_owned(), a), ("b".to_owned(), "b.json".to_owned(), b)],
            None,
        );
        let functions = c.functions.unwrap();
        assert_eq!(functions.measure, Measure::Samples);
        assert_eq!(functions.rows[0].values, [8, 2]);
        assert_eq!(functions.rows[0].ratio(1), Some(0.25));
        assert_eq!(c.modules.unwrap().rows[0].coverage, None);
    }
}
