//! `ktrace export --format lcov RUN.json`: kernel function coverage of one traced cgroup as an
//! lcov tracefile, for genhtml's per-directory report and lcov's diffs between platforms.
//!
//! The traced set (every function ktrace attached, entered or not, from the record) is the
//! denominator. Each function is placed in its source file with the DWARF of the traced kernel's
//! vmlinux (`--vmlinux`, or Debian's debug package in its standard places). Module functions
//! are left out: their DWARF lives in each module's own debug file. Lines counted with
//! `--lines` carry their file and number in the record and need no DWARF here; lines that no
//! probe counted are left out rather than shown as never run.
use std::{io::Write, path::Path};

use anyhow::{Context as _, bail};

use crate::{
    export::lcov::{self, CoveredFunction, CoveredLine},
    kallsyms::CORE_KERNEL,
    lines::LineReport,
    record::Record,
    report::FunctionReport,
    sources::{KernelSources, SourceLocation},
};

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
}

/// Writes the lcov tracefile of `cgroup` (required when the record traced several) to `out`.
pub fn export_lcov(
    record: &Record,
    cgroup: Option<&str>,
    vmlinux: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let report = &record.report;
    let column = match (cgroup, report.cgroups.as_slice()) {
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

/// Writes the lcov tracefile of the record's cgroup `column` to `out`: counted functions,
/// placed with `sources` (the DWARF of the record's kernel; required for them), and counted
/// lines. A record with neither gives an empty tracefile.
pub fn write_lcov(
    record: &Record,
    column: usize,
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
    let lines: Vec<CoveredLine> = report
        .kernel_lines
        .iter()
        .flat_map(LineReport::counted)
        .map(|(f, l)| CoveredLine { file: &f.file, line: l.line, hits: l.counts[column] })
        .collect();
    summary.lines = lines.len();
    summary.lines_hit = lines.iter().filter(|l| l.hits > 0).count();
    lcov::write(out, &report.cgroups[column].label, &covered, &lines)
        .context("writing the tracefile")?;
    Ok(summary)
}

/// The counted vmlinux functions of `column` with their entries and source locations, placed
/// with `sources`; module functions are counted in `summary`.
fn locate<'a>(
    functions: &'a FunctionReport,
    column: usize,
    sources: &KernelSources,
    summary: &mut Summary,
) -> anyhow::Result<Vec<(&'a str, u64, Option<SourceLocation>)>> {
    let entered =
        functions.functions.iter().map(|f| (f.name.as_str(), f.module.as_str(), f.counts[column]));
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

    /// A record of two cgroups on `release`: `net` entered is_skb_forwardable 200 times, `file`
    /// entered vfs_write 7 times; vfs_read and veth_xmit [veth] were attached, not entered.
    fn record_of(release: &str) -> Record {
        let targets = [
            ("is_skb_forwardable", "vmlinux"),
            ("vfs_write", "vmlinux"),
            ("vfs_read", "vmlinux"),
            ("veth_xmit", "veth"),
        ];
        let counts = [vec![200, 0, 0, 0], vec![0, 7, 0, 0]];
        let report = counting(&["net", "file"], release, &targets, &counts);
        Record::new(record::tests::info(), report)
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

        let err = export_lcov(&record, None, Some(&vmlinux), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("choose one with --cgroup (net, file)"), "{err:#}");

        let mut tracefile = Vec::new();
        let summary = export_lcov(&record, Some("file"), None, &mut tracefile).unwrap();
        assert_eq!(
            summary,
            Summary {
                functions: 3,
                entered: 1,
                module_functions: 1,
                without_source: 0,
                lines: 0,
                lines_hit: 0
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
