//! `ktrace export --format lcov RUN.json`: kernel function coverage of one traced cgroup as an
//! lcov tracefile, for genhtml's per-directory report and lcov's diffs between platforms.
//!
//! The traced set (every function ktrace attached, entered or not, from the record) is the
//! denominator. Each function is placed in its source file with the DWARF of the traced kernel's
//! vmlinux (`--vmlinux`, or Debian's debug package in its standard places). Module functions
//! are left out: their DWARF lives in each module's own debug file. Lines counted with
//! `--lines` carry their file and number in the record and need no DWARF here; lines that no
//! probe counted are left out rather than shown as never run.
//!
//! A record made with `--irq separate` (the default) has a cgroup's own entries apart from
//! those in interrupt context: a tracefile counts the cgroup's own, or with them the
//! interrupts that came while its task ran (what `--irq task` would have counted), or all
//! interrupt context of the machine (the `(interrupts)` column); counted lines likewise.
use std::{io::Write, path::Path};

use anyhow::{Context as _, bail};

use crate::{
    attach::IrqMode,
    export::lcov::{self, CoveredFunction, CoveredLine},
    kallsyms::CORE_KERNEL,
    lines::LineReport,
    record::Record,
    report::{ALL_INTERRUPTS, CountedFunction, FunctionReport, Hits},
    sources::{KernelSources, SourceLocation},
};

/// The entries a tracefile counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The traced cgroup at this index, as recorded: with `--irq separate` or `exclude` its
    /// tasks' own entries, with `task` also the interrupts that came while its task ran.
    Cgroup(usize),
    /// The cgroup's own entries and those in interrupts while its task ran, from a record
    /// made with `--irq separate`: what `--irq task` would have counted.
    CgroupWithInterrupts(usize),
    /// Every entry in interrupt context on the machine, whoever was interrupted.
    AllInterrupts,
}

impl Column {
    /// The column `cgroup` (a label, or `(interrupts)`; required when the record traced
    /// several) names in `record`, with interrupt context as `irq` asks: `task` adds the
    /// interrupts that came while the cgroup ran, `exclude` leaves them out; `None` takes the
    /// record as it is.
    pub fn choose(
        record: &Record,
        cgroup: Option<&str>,
        irq: Option<IrqMode>,
    ) -> anyhow::Result<Self> {
        let cgroups = &record.report.cgroups;
        // Functions and lines of one trace count interrupt context alike; records from before
        // lines did kept it apart for functions only.
        let report = &record.report;
        let recorded = (report.kernel_functions.as_ref().map(|f| f.irq))
            .or(report.kernel_lines.as_ref().map(|l| l.irq));
        if cgroup == Some(ALL_INTERRUPTS) {
            if recorded != Some(IrqMode::Separate) {
                bail!(
                    "the record has no {ALL_INTERRUPTS} column: only records of counted functions \
                     or lines made with --irq separate (the default) keep interrupt context apart"
                );
            }
            if irq.is_some() {
                bail!(
                    "--irq chooses what a cgroup's tracefile counts; {ALL_INTERRUPTS} is all interrupt context"
                );
            }
            return Ok(Self::AllInterrupts);
        }
        let index = match (cgroup, cgroups.as_slice()) {
            (None, [_]) => 0,
            (None, many) => bail!(
                "the record traced {} cgroups; choose one with --cgroup ({})",
                many.len(),
                many.iter().map(|c| c.label.as_str()).collect::<Vec<_>>().join(", ")
            ),
            (Some(label), all) => all
                .iter()
                .position(|c| c.label == label)
                .with_context(|| format!("the record has no cgroup `{label}`"))?,
        };
        match (irq, recorded) {
            (None, _) | (Some(IrqMode::Exclude), Some(IrqMode::Separate | IrqMode::Exclude)) => {
                Ok(Self::Cgroup(index))
            }
            (Some(IrqMode::Task), Some(IrqMode::Task)) => Ok(Self::Cgroup(index)),
            (Some(IrqMode::Task), Some(IrqMode::Separate)) => Ok(Self::CgroupWithInterrupts(index)),
            (Some(IrqMode::Separate), _) => bail!(
                "--irq separate makes no single tracefile: choose task (the cgroup's entries and \
                 the interrupts while it ran), exclude (its own) or --cgroup '{ALL_INTERRUPTS}'"
            ),
            (Some(asked), None) => bail!(
                "--irq {asked} applies to counted functions and lines, and the record has neither"
            ),
            (Some(asked), Some(recorded)) => bail!(
                "the record was made with --irq {recorded}, which {}; it cannot give --irq {asked}",
                match recorded {
                    IrqMode::Task => "charged interrupt context to the interrupted task",
                    _ => "left interrupt context out",
                }
            ),
        }
    }

    /// The test name of the tracefile.
    fn label(self, record: &Record) -> &str {
        match self {
            Self::Cgroup(c) | Self::CgroupWithInterrupts(c) => &record.report.cgroups[c].label,
            Self::AllInterrupts => ALL_INTERRUPTS,
        }
    }

    /// The entries of `f` this column counts.
    fn entries(self, f: &CountedFunction) -> u64 {
        match self {
            Self::Cgroup(c) => f.counts[c],
            Self::CgroupWithInterrupts(c) => f.counts[c].saturating_add(f.interrupts.of_cgroup(c)),
            Self::AllInterrupts => f.interrupts.of_machine(),
        }
    }

    /// The hits of a counted line this column counts; `None` where the record has no figure
    /// for it: lines recorded before they kept interrupt context apart.
    fn hits(self, h: &Hits) -> Option<u64> {
        match self {
            Self::Cgroup(c) => Some(h.counts[c]),
            Self::CgroupWithInterrupts(c) => {
                h.interrupts.in_interrupts.get(c).map(|n| h.counts[c].saturating_add(*n))
            }
            Self::AllInterrupts => h.interrupts.all_interrupts,
        }
    }
}

/// What the export left out, for the user to know.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub functions: usize,
    pub entered: usize,
    pub module_functions: usize,
    pub without_source: usize,
    /// Lines counted with `--lines`, and how many of them ran.
    pub lines: usize,
    pub lines_hit: usize,
    /// Counted lines left out because the record has their task context only (made before
    /// lines kept interrupt context apart) and the tracefile counts interrupt context.
    pub lines_of_tasks: usize,
}

/// Writes the lcov tracefile of `cgroup` (required when the record traced several, or
/// `(interrupts)`), with interrupt context as `irq` asks (see [`Column::choose`]), to `out`.
pub fn export_lcov(
    record: &Record,
    cgroup: Option<&str>,
    irq: Option<IrqMode>,
    vmlinux: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let report = &record.report;
    let column = Column::choose(record, cgroup, irq)?;
    if report.kernel_functions.is_none() && report.kernel_lines.is_none() {
        bail!(
            "the record has no counted kernel functions or lines (record with --functions, \
             --module, --all or --lines on a kernel that can trace functions)"
        );
    }
    // Functions are placed in source files with the kernel's DWARF; counted lines carry theirs.
    let sources = match &report.kernel_functions {
        None => None,
        Some(_) => {
            let vmlinux = match vmlinux {
                Some(path) => path.to_owned(),
                None => KernelSources::find(&report.kernel_release).with_context(|| {
                    format!(
                        "no vmlinux with DWARF for kernel {0}: pass --vmlinux (Debian: package linux-image-{0}-dbg)",
                        report.kernel_release
                    )
                })?,
            };
            Some(KernelSources::open(&vmlinux)?)
        }
    };
    write_lcov(record, column, sources.as_ref(), out)
}

/// Writes the lcov tracefile of the record's `column` to `out`: counted functions, placed
/// with `sources` (the DWARF of the record's kernel; required for them), and counted lines.
/// A record with neither gives an empty tracefile.
pub fn write_lcov(
    record: &Record,
    column: Column,
    sources: Option<&KernelSources>,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let report = &record.report;
    let mut summary = Summary::default();
    let located = match (&report.kernel_functions, sources) {
        (Some(functions), Some(sources)) => locate(functions, column, sources, &mut summary)?,
        (Some(_), None) => bail!("counted functions need the kernel's DWARF to be placed"),
        (None, _) => Vec::new(),
    };
    let covered: Vec<CoveredFunction> = located
        .iter()
        .filter_map(|(name, count, location)| {
            Some(CoveredFunction { name, count: *count, location: location.as_ref()? })
        })
        .collect();
    summary.functions = covered.len();
    summary.entered = covered.iter().filter(|f| f.count > 0).count();
    summary.without_source = located.len() - covered.len();
    let mut lines = Vec::new();
    for (f, l) in report.kernel_lines.iter().flat_map(LineReport::counted) {
        match column.hits(&l.hits) {
            Some(hits) => lines.push(CoveredLine { file: &f.function.file, line: l.line, hits }),
            None => summary.lines_of_tasks += 1,
        }
    }
    summary.lines = lines.len();
    summary.lines_hit = lines.iter().filter(|l| l.hits > 0).count();
    lcov::write(out, column.label(record), &covered, &lines).context("writing the tracefile")?;
    Ok(summary)
}

/// The counted vmlinux functions with their entries in `column` and their source locations,
/// placed with `sources`; module functions are counted in `summary`.
fn locate<'a>(
    functions: &'a FunctionReport,
    column: Column,
    sources: &KernelSources,
    summary: &mut Summary,
) -> anyhow::Result<Vec<(&'a str, u64, Option<SourceLocation>)>> {
    let entered =
        functions.functions.iter().map(|f| (f.name.as_str(), f.module.as_str(), column.entries(f)));
    let not_entered = functions.not_entered.iter().map(|f| (f.name.as_str(), f.module.as_str(), 0));
    let core: Vec<(&str, u64)> = entered
        .chain(not_entered)
        .filter(|&(_, module, _)| {
            let core = module == CORE_KERNEL;
            summary.module_functions += usize::from(!core);
            core
        })
        .map(|(name, _, count)| (name, count))
        .collect();
    let names: Vec<&str> = core.iter().map(|&(name, _)| name).collect();
    let locations = sources.locate(&names)?;
    Ok(core.into_iter().zip(locations).map(|((name, count), at)| (name, count, at)).collect())
}

#[cfg(test)]
mod tests {
    use std::{fs, process::Command};

    use super::*;
    use crate::{record, report::tests::counting};

    /// The cached debug image of the 6.12 guest kernel, which `cargo xtask test` fetches.
    fn debug_image() -> Option<(String, std::path::PathBuf)> {
        let dir = fs::read_dir("/var/cache/ktrace/debug")
            .ok()?
            .flatten()
            .find(|e| e.path().join("vmlinux").is_file())?;
        Some((dir.file_name().into_string().ok()?, dir.path().join("vmlinux")))
    }

    const TARGETS: [(&str, &str); 4] = [
        ("is_skb_forwardable", "vmlinux"),
        ("vfs_write", "vmlinux"),
        ("vfs_read", "vmlinux"),
        ("veth_xmit", "veth"),
    ];

    /// A record of two cgroups on `release`: `net` entered is_skb_forwardable 200 times, `file`
    /// entered vfs_write 7 times; vfs_read and veth_xmit [veth] were attached, not entered.
    fn record_of(release: &str) -> Record {
        let counts = [vec![200, 0, 0, 0], vec![0, 7, 0, 0]];
        let report = counting(&["net", "file"], release, &TARGETS, (&counts, IrqMode::Task));
        Record::new(record::tests::info(), report)
    }

    /// `record_of` made with `--irq separate`: besides, is_skb_forwardable was entered 3 times
    /// in interrupts while `net` ran and 5 times in all interrupts, vfs_read 9 times in
    /// interrupts while nothing traced ran.
    fn kept_apart(release: &str) -> Record {
        let rows = [
            vec![200, 0, 0, 0],
            vec![0, 7, 0, 0],
            vec![3, 0, 0, 0],
            vec![0, 0, 0, 0],
            vec![5, 0, 9, 0],
        ];
        let report = counting(&["net", "file"], release, &TARGETS, (&rows, IrqMode::Separate));
        Record::new(record::tests::info(), report)
    }

    /// What each `--cgroup` and `--irq` of `ktrace export` count, and the clear refusals.
    #[test]
    fn interrupt_context_is_exported_as_asked() {
        let separate = kept_apart("6.12.0");
        let choose = |record: &Record, cgroup, irq| {
            Column::choose(record, cgroup, irq).map_err(|e| format!("{e:#}"))
        };
        assert_eq!(choose(&separate, Some("file"), None), Ok(Column::Cgroup(1)));
        assert_eq!(choose(&separate, Some("net"), Some(IrqMode::Exclude)), Ok(Column::Cgroup(0)));
        assert_eq!(
            choose(&separate, Some("net"), Some(IrqMode::Task)),
            Ok(Column::CgroupWithInterrupts(0))
        );
        assert_eq!(choose(&separate, Some("(interrupts)"), None), Ok(Column::AllInterrupts));
        let entries = |column: Column| -> Vec<u64> {
            let f = separate.report.kernel_functions.as_ref().unwrap();
            f.functions.iter().map(|f| column.entries(f)).collect()
        };
        // Functions entered: is_skb_forwardable, vfs_write, vfs_read (in interrupts only).
        assert_eq!(entries(Column::Cgroup(0)), [200, 0, 0]);
        assert_eq!(entries(Column::CgroupWithInterrupts(0)), [203, 0, 0]);
        assert_eq!(entries(Column::AllInterrupts), [5, 0, 9]);

        let err = choose(&separate, Some("(interrupts)"), Some(IrqMode::Task)).unwrap_err();
        assert!(err.contains("(interrupts) is all interrupt context"), "{err}");
        let err = choose(&separate, Some("net"), Some(IrqMode::Separate)).unwrap_err();
        assert!(err.starts_with("--irq separate makes no single tracefile"), "{err}");
        let task = record_of("6.12.0");
        assert_eq!(choose(&task, Some("net"), Some(IrqMode::Task)), Ok(Column::Cgroup(0)));
        let err = choose(&task, Some("(interrupts)"), None).unwrap_err();
        assert!(err.starts_with("the record has no (interrupts) column"), "{err}");
        let err = choose(&task, Some("net"), Some(IrqMode::Exclude)).unwrap_err();
        assert_eq!(
            err,
            "the record was made with --irq task, which charged interrupt context to the \
             interrupted task; it cannot give --irq exclude"
        );
    }

    /// Counted lines in a tracefile count what its column counts, as functions do; lines of
    /// a record from before lines kept interrupt context apart are left out of interrupt
    /// tracefiles and counted in the summary.
    #[test]
    fn counted_lines_follow_the_tracefiles_column() {
        use crate::lines::report::tests::{report, report_apart};
        let lines_only = |lines| {
            let no_syscalls = vec![crate::collect::SyscallCounts::default(); 2];
            let info = crate::report::tests::info(&["net", "idle"]);
            let period = crate::report::tests::period(1);
            let report = crate::report::Report {
                kernel_lines: Some(lines),
                ..crate::report::Report::new(&info, period, &no_syscalls, None, None, None)
            };
            Record::new(record::tests::info(), report)
        };
        let export = |record: &Record, cgroup, irq| {
            let mut tracefile = Vec::new();
            let summary = export_lcov(record, cgroup, irq, None, &mut tracefile).unwrap();
            let text = String::from_utf8(tracefile).unwrap();
            let first = text.lines().find(|l| l.starts_with("DA:4070,")).map(str::to_owned);
            (first, summary.lines, summary.lines_of_tasks)
        };
        let apart = lines_only(report_apart());
        let first = |hits: &str| Some(format!("DA:4070,{hits}"));
        assert_eq!(export(&apart, Some("net"), None), (first("4"), 3, 0));
        assert_eq!(export(&apart, Some("net"), Some(IrqMode::Task)), (first("34"), 3, 0));
        assert_eq!(export(&apart, Some("idle"), Some(IrqMode::Task)), (first("2"), 3, 0));
        assert_eq!(export(&apart, Some("(interrupts)"), None), (first("56"), 3, 0));
        // Made with functions kept apart, before lines were: lines count task context only.
        let rows = vec![Vec::new(); 5];
        let mut before = counting(&["net", "idle"], "6.12.0", &[], (&rows, IrqMode::Separate));
        before.kernel_lines = Some(report());
        let mut before = Record::new(record::tests::info(), before);
        let column = Column::choose(&before, Some("(interrupts)"), None).unwrap();
        // Its functions (none here) would need DWARF; its lines do not.
        before.report.kernel_functions = None;
        let summary = write_lcov(&before, column, None, &mut Vec::new()).unwrap();
        assert_eq!((summary.lines, summary.lines_of_tasks), (0, 3));
    }

    /// The tracefile of the machine's interrupt context, placed and rendered by genhtml.
    #[test]
    fn exports_interrupt_context_that_genhtml_renders() {
        let Some((release, vmlinux)) = debug_image() else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let record = kept_apart(&release);
        let mut tracefile = Vec::new();
        let summary =
            export_lcov(&record, Some("(interrupts)"), None, Some(&vmlinux), &mut tracefile)
                .unwrap();
        assert_eq!((summary.functions, summary.entered), (3, 2));
        let interrupts = String::from_utf8(tracefile).unwrap();
        assert!(interrupts.starts_with("TN:_interrupts_\n"), "{interrupts}");
        for entered in ["FNDA:5,is_skb_forwardable\n", "FNDA:9,vfs_read\n", "FNDA:0,vfs_write\n"] {
            assert!(interrupts.contains(entered), "{entered} in\n{interrupts}");
        }
        let mut tracefile = Vec::new();
        export_lcov(&record, Some("net"), Some(IrqMode::Task), Some(&vmlinux), &mut tracefile)
            .unwrap();
        let net = String::from_utf8(tracefile).unwrap();
        assert!(net.starts_with("TN:net\n") && net.contains("FNDA:203,is_skb_forwardable\n"));
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("interrupts.info");
        fs::write(&info, &interrupts).unwrap();
        let out = Command::new("genhtml")
            .args(["--no-source", "-o"])
            .arg(dir.path().join("html"))
            .arg(&info)
            .output()
            .expect("genhtml (lcov) installed by scripts/setup.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn exports_a_record_that_genhtml_renders_by_directory() {
        let Some((release, vmlinux)) = debug_image() else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        record::write(&path, &record_of(&release), false).unwrap();
        let record = record::read(&path).unwrap();

        let err = export_lcov(&record, None, None, Some(&vmlinux), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("choose one with --cgroup (net, file)"), "{err:#}");

        let mut tracefile = Vec::new();
        let summary = export_lcov(&record, Some("file"), None, None, &mut tracefile).unwrap();
        assert_eq!(
            summary,
            Summary {
                functions: 3,
                entered: 1,
                module_functions: 1,
                without_source: 0,
                lines: 0,
                lines_hit: 0,
                lines_of_tasks: 0
            }
        );
        let text = String::from_utf8(tracefile).unwrap();
        assert!(text.starts_with("TN:file\n"), "{text}");
        assert!(
            text.contains("SF:fs/read_write.c\n") && text.contains("FNDA:7,vfs_write\n"),
            "{text}"
        );
        assert!(
            text.contains("SF:net/core/dev.c\n") && text.contains("FNDA:0,is_skb_forwardable\n"),
            "{text}"
        );
        assert!(!text.contains("veth_xmit"), "module functions are left out:\n{text}");

        let info = dir.path().join("file.info");
        fs::write(&info, &text).unwrap();
        let html = dir.path().join("html");
        let out = Command::new("genhtml")
            .arg("--no-source")
            .arg("-o")
            .arg(&html)
            .arg(&info)
            .output()
            .expect("genhtml (lcov) installed by scripts/setup.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let index = fs::read_to_string(html.join("index.html")).unwrap();
        assert!(
            index.contains(">fs</a>") && index.contains(">net/core</a>"),
            "directories missing from the report"
        );
    }
}
