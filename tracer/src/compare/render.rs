//! The four renderings of a [`Comparison`]: aligned table, Markdown, tidy CSV and JSON.
use std::io::{self, Write};

use serde::Serialize;

use super::{Comparison, LeftOut, Measure, Row, Run, Section};
use crate::latency::RELATIVE_ERROR;

/// Version of the `--output json` layout of a comparison.
pub const COMPARE_VERSION: u32 = 1;

/// The renderings of a comparison ([`write`]): aligned columns, GitHub-flavoured Markdown,
/// tidy CSV rows and one JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

/// Writes `c` to `out` in `format`.
pub fn write(out: &mut impl Write, c: &Comparison, format: Format) -> io::Result<()> {
    match format {
        Format::Table => write_text(out, c, false),
        Format::Markdown => write_text(out, c, true),
        Format::Csv => write_csv(out, c),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &Document::new(c))?;
            writeln!(out)
        }
    }
}

/// A section as cells, shared by the table and the Markdown rendering.
struct Grid {
    title: String,
    headers: Vec<String>,
    /// Whether each column is right-aligned (the numbers).
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
    omitted: usize,
}

fn write_text(out: &mut impl Write, c: &Comparison, markdown: bool) -> io::Result<()> {
    let mut grids = vec![runs_grid(c)];
    grids.push(section_grid(c, &c.syscalls, "Syscalls", "SYSCALL"));
    if let Some(blocked) = &c.blocked {
        grids.push(section_grid(c, blocked, "Blocked syscalls", "SYSCALL"));
    }
    for latency in [&c.p50, &c.p99].into_iter().flatten() {
        grids.push(section_grid(c, latency, "Syscall latency", "SYSCALL"));
    }
    if let Some(functions) = &c.functions {
        grids.push(section_grid(c, functions, "Kernel functions", "FUNCTION"));
    }
    if let Some(in_interrupts) = &c.in_interrupts {
        grids.push(section_grid(c, in_interrupts, "Kernel functions in interrupts", "FUNCTION"));
    }
    if let Some(all_interrupts) = &c.all_interrupts {
        grids.push(section_grid(c, all_interrupts, "Kernel functions in interrupts", "FUNCTION"));
    }
    if let Some(modules) = &c.modules {
        grids.push(section_grid(c, modules, "Modules", "MODULE"));
    }
    for modules in [&c.modules_in_interrupts, &c.modules_all_interrupts].into_iter().flatten() {
        grids.push(section_grid(c, modules, "Modules in interrupts", "MODULE"));
    }
    if let Some(directories) = &c.directories {
        grids.push(section_grid(c, directories, "Source directories", "DIRECTORY"));
    }
    if let Some(lines) = &c.lines {
        grids.push(section_grid(c, lines, "Source lines", LINE_ITEM));
    }
    for lines in [&c.lines_in_interrupts, &c.lines_all_interrupts].into_iter().flatten() {
        grids.push(section_grid(c, lines, "Source lines in interrupts", LINE_ITEM));
    }
    for (i, grid) in grids.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        if markdown { write_markdown(out, grid) } else { write_aligned(out, grid) }?;
    }
    for left in &c.left_out {
        writeln!(out, "\nLeft out {}: {}", left.section, left.why)?;
    }
    Ok(())
}

fn runs_grid(c: &Comparison) -> Grid {
    let headers = ["RUN", "FILE", "CGROUP", "HOST", "KERNEL", "BUILD ID", "SECONDS"];
    Grid {
        title: "Runs".to_owned(),
        headers: headers.map(str::to_owned).to_vec(),
        right: headers.map(|h| h == "SECONDS").to_vec(),
        rows: c
            .runs
            .iter()
            .map(|r| {
                vec![
                    r.label.clone(),
                    r.file.clone(),
                    r.cgroup.clone(),
                    r.host.clone(),
                    r.kernel_release.clone(),
                    r.kernel_build_id.clone(),
                    format!("{:.2}", r.duration_secs),
                ]
            })
            .collect(),
        omitted: 0,
    }
}

/// What a row of a section of source lines names.
const LINE_ITEM: &str = "FUNCTION:LINE";

fn section_grid(c: &Comparison, section: &Section, what: &str, item: &str) -> Grid {
    let first = &c.runs[0].label;
    let counted = if item == LINE_ITEM { "hits" } else { "entries" };
    let coverage = section.rows.iter().any(|r| r.coverage.is_some());
    let title = match (section.measure, coverage) {
        (Measure::Calls, _) => format!("{what}: calls per run, ratio to {first}"),
        (Measure::Entries, false) => format!("{what}: counted entries per run, ratio to {first}"),
        (Measure::Entries, true) => format!(
            "{what}: functions hit / traceable functions attached (the denominator is the \
             attached set), and counted entries per run, ratio to {first}"
        ),
        (Measure::Samples, _) => {
            format!("{what}: samples per run (sampled, not counts), ratio to {first}")
        }
        (Measure::Hits, _) => format!("{what}: counted hits per run, ratio to {first}"),
        (Measure::Blocked, _) => format!(
            "{what}: returns without an entry per run (turned away before they ran: seccomp, \
             ptrace), ratio to {first}"
        ),
        (Measure::InInterrupts, _) => format!(
            "{what} (softirq, hardirq, NMI) while the run's cgroup ran: counted {counted} per \
             run, ratio to {first}"
        ),
        (Measure::AllInterrupts, _) => format!(
            "{what} on the whole machine, whoever ran ((interrupts), the same for every cgroup \
             of a record): counted {counted} per run, ratio to {first}"
        ),
        (Measure::SamplesInInterrupts, _) => format!(
            "{what} (softirq, hardirq) while the run's cgroup ran: samples per run (sampled, \
             not counts), ratio to {first}"
        ),
        (Measure::SamplesAllInterrupts, _) => format!(
            "{what} on the whole machine, whoever ran ((interrupts), the same for every cgroup \
             of a record): samples per run (sampled, not counts), ratio to {first}"
        ),
        (Measure::P50Ns | Measure::P99Ns, _) => format!(
            "{what}: {} in ns per run (within {:.1}%), ratio to {first}",
            if section.measure == Measure::P50Ns { "p50" } else { "p99" },
            RELATIVE_ERROR * 100.0
        ),
    };
    let has_module = section.rows.iter().any(|r| r.module.is_some());
    let mut headers = vec![item.to_owned()];
    if has_module {
        headers.push("MODULE".to_owned());
    }
    let left = headers.len();
    if coverage {
        headers.extend(c.runs.iter().map(|r| format!("{} hit", r.label)));
    }
    headers.extend(c.runs.iter().map(|r| r.label.clone()));
    // Labels that are paths (`d1/r`) are bracketed, so that the ratio still reads as one.
    let term = |label: &str| match label.contains('/') {
        true => format!("({label})"),
        false => label.to_owned(),
    };
    headers.extend(c.runs[1..].iter().map(|r| format!("{}/{}", term(&r.label), term(first))));
    headers.push("NOTE".to_owned());
    let right = (0..headers.len()).map(|i| i >= left && i + 1 < headers.len()).collect();
    let rows = section
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.name.clone()];
            if has_module {
                cells.push(row.module.clone().unwrap_or_default());
            }
            if let Some(coverage) = &row.coverage {
                cells.extend(coverage.iter().map(|(hit, attached)| format!("{hit}/{attached}")));
            }
            cells.extend(row.values.iter().map(u64::to_string));
            cells.extend(
                (1..c.runs.len())
                    .map(|i| row.ratio(i).map_or("-".to_owned(), |r| format!("{r:.2}"))),
            );
            cells.push(note(c, row));
            cells
        })
        .collect();
    Grid { title, headers, right, rows, omitted: section.omitted }
}

fn note(c: &Comparison, row: &Row) -> String {
    row.only_in().map_or_else(String::new, |runs| {
        let labels: Vec<&str> = runs.iter().map(|&i| c.runs[i].label.as_str()).collect();
        format!("only in {}", labels.join(", "))
    })
}

fn write_aligned(out: &mut impl Write, grid: &Grid) -> io::Result<()> {
    writeln!(out, "{}", grid.title)?;
    let widths: Vec<usize> = (0..grid.headers.len())
        .map(|i| {
            grid.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([grid.headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for cells in std::iter::once(&grid.headers).chain(&grid.rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&grid.right)
            .map(
                |((cell, &w), &right)| {
                    if right { format!("{cell:>w$}") } else { format!("{cell:<w$}") }
                },
            )
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if grid.omitted > 0 {
        writeln!(out, "({} more rows left out by --top)", grid.omitted)?;
    }
    Ok(())
}

fn write_markdown(out: &mut impl Write, grid: &Grid) -> io::Result<()> {
    writeln!(out, "### {}\n", grid.title)?;
    markdown_table(out, &grid.headers, &grid.right, &grid.rows)?;
    if grid.omitted > 0 {
        writeln!(out, "\n{} more rows left out by `--top`.", grid.omitted)?;
    }
    Ok(())
}

/// A GitHub-flavoured Markdown table; `right[i]` right-aligns column i (the numbers).
pub(crate) fn markdown_table(
    out: &mut impl Write,
    headers: &[String],
    right: &[bool],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let escape = |s: &str| s.replace('|', "\\|");
    let row = |cells: &[String]| {
        format!("| {} |", cells.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "))
    };
    writeln!(out, "{}", row(headers))?;
    let rule: Vec<&str> = right.iter().map(|&r| if r { "---:" } else { "---" }).collect();
    writeln!(out, "| {} |", rule.join(" | "))?;
    for cells in rows {
        writeln!(out, "{}", row(cells))?;
    }
    Ok(())
}

/// Tidy rows: one per (section, item, run).
fn write_csv(out: &mut impl Write, c: &Comparison) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "section",
        "measure",
        "name",
        "module",
        "run",
        "value",
        "ratio_to_first",
        "hit",
        "attached",
        "only_in",
    ])?;
    let sections = [
        ("syscall", Some(&c.syscalls)),
        ("blocked", c.blocked.as_ref()),
        ("latency", c.p50.as_ref()),
        ("latency", c.p99.as_ref()),
        ("function", c.functions.as_ref()),
        ("function", c.in_interrupts.as_ref()),
        ("function", c.all_interrupts.as_ref()),
        ("module", c.modules.as_ref()),
        ("module", c.modules_in_interrupts.as_ref()),
        ("module", c.modules_all_interrupts.as_ref()),
        ("directory", c.directories.as_ref()),
        ("line", c.lines.as_ref()),
        ("line", c.lines_in_interrupts.as_ref()),
        ("line", c.lines_all_interrupts.as_ref()),
    ];
    for (name, section) in sections {
        let Some(section) = section else { continue };
        for row in &section.rows {
            let only_in = row.only_in().map_or_else(String::new, |runs| {
                runs.iter().map(|&i| c.runs[i].label.as_str()).collect::<Vec<_>>().join(";")
            });
            for (i, run) in c.runs.iter().enumerate() {
                let (hit, attached) =
                    row.coverage.as_ref().map_or((String::new(), String::new()), |cov| {
                        (cov[i].0.to_string(), cov[i].1.to_string())
                    });
                w.write_record([
                    name,
                    section.measure.as_str(),
                    &row.name,
                    row.module.as_deref().unwrap_or(""),
                    &run.label,
                    &row.values[i].to_string(),
                    &row.ratio(i).map_or_else(String::new, |r| format!("{r:.4}")),
                    &hit,
                    &attached,
                    &only_in,
                ])?;
            }
        }
    }
    w.flush()
}

/// `--output json`: one document. Its fields are declared in the order version 1 writes them,
/// which is alphabetical.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    all_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked: Option<SectionDocument<'a>>,
    compare_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    directories: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    functions: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "<[LeftOut]>::is_empty")]
    left_out: &'a [LeftOut],
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines_all_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines_in_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules_all_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules_in_interrupts: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50: Option<SectionDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99: Option<SectionDocument<'a>>,
    runs: &'a [Run],
    syscalls: SectionDocument<'a>,
}

#[derive(Serialize)]
struct SectionDocument<'a> {
    measure: Measure,
    rows: Vec<RowDocument<'a>>,
    rows_omitted: usize,
}

/// A row; `hit` and `attached` for module and directory rows of counted functions, `only_in`
/// when not every run has the row.
#[derive(Serialize)]
struct RowDocument<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    attached: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hit: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    only_in: Option<Vec<&'a str>>,
    ratios: Vec<Option<f64>>,
    values: &'a [u64],
}

impl<'a> Document<'a> {
    fn new(c: &'a Comparison) -> Self {
        let section = |s: &'a Section| SectionDocument {
            measure: s.measure,
            rows: s.rows.iter().map(|row| RowDocument::new(c, row)).collect(),
            rows_omitted: s.omitted,
        };
        Self {
            all_interrupts: c.all_interrupts.as_ref().map(section),
            blocked: c.blocked.as_ref().map(section),
            compare_version: COMPARE_VERSION,
            directories: c.directories.as_ref().map(section),
            functions: c.functions.as_ref().map(section),
            in_interrupts: c.in_interrupts.as_ref().map(section),
            left_out: &c.left_out,
            lines: c.lines.as_ref().map(section),
            lines_all_interrupts: c.lines_all_interrupts.as_ref().map(section),
            lines_in_interrupts: c.lines_in_interrupts.as_ref().map(section),
            modules: c.modules.as_ref().map(section),
            modules_all_interrupts: c.modules_all_interrupts.as_ref().map(section),
            modules_in_interrupts: c.modules_in_interrupts.as_ref().map(section),
            p50: c.p50.as_ref().map(section),
            p99: c.p99.as_ref().map(section),
            runs: &c.runs,
            syscalls: section(&c.syscalls),
        }
    }
}

impl<'a> RowDocument<'a> {
    fn new(c: &'a Comparison, row: &'a Row) -> Self {
        let coverage = |part: fn(&(u64, u64)) -> u64| {
            row.coverage.as_ref().map(|runs| runs.iter().map(part).collect())
        };
        Self {
            attached: coverage(|&(_, attached)| attached),
            hit: coverage(|&(hit, _)| hit),
            module: row.module.as_deref(),
            name: &row.name,
            only_in: row
                .only_in()
                .map(|runs| runs.into_iter().map(|i| c.runs[i].label.as_str()).collect()),
            ratios: (0..row.values.len()).map(|i| row.ratio(i)).collect(),
            values: &row.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compare::tests::pair;

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        write(&mut out, &pair(), format).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Ratio headers of path labels read `(d2/r)/(d1/r)`, not `d2/r/d1/r`.
    #[test]
    fn ratio_headers_bracket_path_labels() {
        let mut c = pair();
        c.runs[0].label = "d1/r".to_owned();
        c.runs[1].label = "d2/r".to_owned();
        let mut out = Vec::new();
        write(&mut out, &c, Format::Table).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("SYSCALL  d1/r  d2/r  (d2/r)/(d1/r)  NOTE"), "{text}");
    }

    /// A section left out is said in the table, the Markdown and the JSON document.
    #[test]
    fn sections_left_out_are_said() {
        let mut c = pair();
        let why = "no vmlinux with DWARF for kernel 6.12.0".to_owned();
        c.left_out.push(LeftOut { section: "directories", why });
        for format in [Format::Table, Format::Markdown] {
            let mut out = Vec::new();
            write(&mut out, &c, format).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.ends_with("\nLeft out directories: no vmlinux with DWARF for kernel 6.12.0\n"),
                "{text}"
            );
        }
        let mut out = Vec::new();
        write(&mut out, &c, Format::Json).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc["left_out"],
            json!([{"section": "directories", "why": "no vmlinux with DWARF for kernel 6.12.0"}])
        );
        assert_eq!(Document::new(&pair()).left_out, [], "absent when nothing is left out");
    }

    /// The interrupt sections are titled for what they count, a `function` row of their own
    /// measure in CSV, and keys of their own in JSON.
    #[test]
    fn interrupt_sections_are_rendered_in_every_format() {
        let mut c = pair();
        let functions = c.functions.clone().unwrap();
        c.in_interrupts = Some(Section { measure: Measure::InInterrupts, ..functions.clone() });
        c.all_interrupts = Some(Section { measure: Measure::AllInterrupts, ..functions });
        let render = |format| {
            let mut out = Vec::new();
            write(&mut out, &c, format).unwrap();
            String::from_utf8(out).unwrap()
        };
        let table = render(Format::Table);
        for title in [
            "Kernel functions in interrupts (softirq, hardirq, NMI) while the run's cgroup ran: \
             counted entries per run, ratio to net\nFUNCTION   MODULE   net  disk  disk/net  NOTE\n",
            "Kernel functions in interrupts on the whole machine, whoever ran ((interrupts), the \
             same for every cgroup of a record): counted entries per run, ratio to net\n",
        ] {
            assert!(table.contains(title), "{table}");
        }
        let csv = render(Format::Csv);
        assert!(csv.contains("\nfunction,in_interrupts,veth_xmit,veth,net,40,,,,net\n"), "{csv}");
        assert!(csv.contains("\nfunction,all_interrupts,vfs_read,vmlinux,disk,15,3.0000,,,\n"));
        let doc: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(doc["in_interrupts"]["measure"], "in_interrupts");
        assert_eq!(doc["all_interrupts"]["rows"][1]["values"], json!([5, 15]));
        assert!(Document::new(&pair()).in_interrupts.is_none(), "absent without --irq separate");
    }

    #[test]
    fn table() {
        assert_eq!(
            render(Format::Table),
            "\
Runs
RUN   FILE            CGROUP        HOST  KERNEL  BUILD ID  SECONDS
net   runs/net.json   ktrace-run-1  h1    6.12.0  ab12         2.00
disk  runs/disk.json  ktrace-run-2  h2    6.12.0  ab12         4.50

Syscalls: calls per run, ratio to net
SYSCALL   net  disk  disk/net  NOTE
getppid  1000     0      0.00  only in net
read       10    20      2.00
fchdir      0    17         -  only in disk

Kernel functions: counted entries per run, ratio to net
FUNCTION   MODULE   net  disk  disk/net  NOTE
veth_xmit  veth      40     0      0.00  only in net
vfs_read   vmlinux    5    15      3.00
vfs_write  vmlinux    0     5         -  only in disk

Modules: functions hit / traceable functions attached (the denominator is the attached set), \
and counted entries per run, ratio to net
MODULE   net hit  disk hit  net  disk  disk/net  NOTE
veth        1/30      0/30   40     0      0.00  only in net
vmlinux    1/100     2/100    5    20      4.00
"
        );
    }

    #[test]
    fn markdown() {
        assert_eq!(
            render(Format::Markdown),
            "\
### Runs

| RUN | FILE | CGROUP | HOST | KERNEL | BUILD ID | SECONDS |
| --- | --- | --- | --- | --- | --- | ---: |
| net | runs/net.json | ktrace-run-1 | h1 | 6.12.0 | ab12 | 2.00 |
| disk | runs/disk.json | ktrace-run-2 | h2 | 6.12.0 | ab12 | 4.50 |

### Syscalls: calls per run, ratio to net

| SYSCALL | net | disk | disk/net | NOTE |
| --- | ---: | ---: | ---: | --- |
| getppid | 1000 | 0 | 0.00 | only in net |
| read | 10 | 20 | 2.00 |  |
| fchdir | 0 | 17 | - | only in disk |

### Kernel functions: counted entries per run, ratio to net

| FUNCTION | MODULE | net | disk | disk/net | NOTE |
| --- | --- | ---: | ---: | ---: | --- |
| veth_xmit | veth | 40 | 0 | 0.00 | only in net |
| vfs_read | vmlinux | 5 | 15 | 3.00 |  |
| vfs_write | vmlinux | 0 | 5 | - | only in disk |

### Modules: functions hit / traceable functions attached (the denominator is the attached set), \
and counted entries per run, ratio to net

| MODULE | net hit | disk hit | net | disk | disk/net | NOTE |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
| veth | 1/30 | 0/30 | 40 | 0 | 0.00 | only in net |
| vmlinux | 1/100 | 2/100 | 5 | 20 | 4.00 |  |
"
        );
    }

    #[test]
    fn csv() {
        assert_eq!(
            render(Format::Csv),
            "\
section,measure,name,module,run,value,ratio_to_first,hit,attached,only_in
syscall,calls,getppid,,net,1000,,,,net
syscall,calls,getppid,,disk,0,0.0000,,,net
syscall,calls,read,,net,10,,,,
syscall,calls,read,,disk,20,2.0000,,,
syscall,calls,fchdir,,net,0,,,,disk
syscall,calls,fchdir,,disk,17,,,,disk
function,entries,veth_xmit,veth,net,40,,,,net
function,entries,veth_xmit,veth,disk,0,0.0000,,,net
function,entries,vfs_read,vmlinux,net,5,,,,
function,entries,vfs_read,vmlinux,disk,15,3.0000,,,
function,entries,vfs_write,vmlinux,net,0,,,,disk
function,entries,vfs_write,vmlinux,disk,5,,,,disk
module,entries,veth,,net,40,,1,30,net
module,entries,veth,,disk,0,0.0000,0,30,net
module,entries,vmlinux,,net,5,,1,100,
module,entries,vmlinux,,disk,20,4.0000,2,100,
"
        );
    }

    #[test]
    fn json() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        let run = |label: &str, cgroup: &str, host: &str, secs: f64| {
            json!({"label": label, "file": format!("runs/{label}.json"), "cgroup": cgroup,
                   "host": host, "kernel_release": "6.12.0", "kernel_build_id": "ab12",
                   "duration_secs": secs})
        };
        let expected = json!({
            "compare_version": 1,
            "runs": [run("net", "ktrace-run-1", "h1", 2.0), run("disk", "ktrace-run-2", "h2", 4.5)],
            "syscalls": {"measure": "calls", "rows_omitted": 0, "rows": [
                {"name": "getppid", "values": [1000, 0], "ratios": [null, 0.0], "only_in": ["net"]},
                {"name": "read", "values": [10, 20], "ratios": [null, 2.0]},
                {"name": "fchdir", "values": [0, 17], "ratios": [null, null], "only_in": ["disk"]},
            ]},
            "functions": {"measure": "entries", "rows_omitted": 0, "rows": [
                {"name": "veth_xmit", "module": "veth", "values": [40, 0], "ratios": [null, 0.0],
                 "only_in": ["net"]},
                {"name": "vfs_read", "module": "vmlinux", "values": [5, 15], "ratios": [null, 3.0]},
                {"name": "vfs_write", "module": "vmlinux", "values": [0, 5], "ratios": [null, null],
                 "only_in": ["disk"]},
            ]},
            "modules": {"measure": "entries", "rows_omitted": 0, "rows": [
                {"name": "veth", "values": [40, 0], "hit": [1, 0], "attached": [30, 30],
                 "ratios": [null, 0.0], "only_in": ["net"]},
                {"name": "vmlinux", "values": [5, 20], "hit": [1, 2], "attached": [100, 100],
                 "ratios": [null, 4.0]},
            ]},
        });
        assert_eq!(v, expected);
    }
}
