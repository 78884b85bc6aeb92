//! `--output csv`: tidy rows, one per (cgroup, syscall) and, with `--sample`, per (cgroup,
//! kernel function) and (cgroup, module); with `--lines`, per (cgroup, source line); with
//! `--irq separate` also per (cgroup, function or module) in interrupts, counted or sampled,
//! and per function or module for the machine's interrupts (cgroup `(interrupts)`). The report's metadata is repeated on every
//! row, so rows of several runs or intervals can be concatenated and still be told apart.
//! With `--latency`, syscall rows carry the timed calls' percentiles in integer nanoseconds.
use std::io::{self, Write};

use crate::{
    kallsyms::CORE_KERNEL,
    latency::Latency,
    report::{ALL_INTERRUPTS, Report},
};

const HEADER: [&str; 26] = [
    "scope",
    "start_time",
    "duration_secs",
    "kernel_release",
    "ktrace_version",
    "command",
    "cgroup",
    "cgroup_path",
    "cgroup_id",
    "kind",
    "name",
    "module",
    "nr",
    "calls",
    "errors",
    "samples",
    "share",
    // New columns go last, so that readers of the earlier ones by position still work.
    "blocked",
    "file",
    "line",
    // With `--latency`: empty where the row's calls were not timed.
    "timed",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p99_9_ns",
    "max_ns",
];

/// What a row describes; `*_samples` rows carry samples, never counts.
const SYSCALL: &str = "syscall";
/// Entries of a kernel function, counted; in the `calls` column.
const FUNCTION_COUNTS: &str = "function";
/// Entries in interrupt context, counted: while the cgroup's task ran, or on the whole
/// machine for the cgroup [`ALL_INTERRUPTS`].
const FUNCTION_IN_INTERRUPTS: &str = "function_in_interrupts";
const FUNCTION_SAMPLES: &str = "function_samples";
const MODULE_SAMPLES: &str = "module_samples";
/// Samples in interrupt context, as [`FUNCTION_IN_INTERRUPTS`] says; in the `samples` column,
/// with no share.
const FUNCTION_SAMPLES_IN_INTERRUPTS: &str = "function_samples_in_interrupts";
const MODULE_SAMPLES_IN_INTERRUPTS: &str = "module_samples_in_interrupts";
/// Hits of a source line of a kernel function (`name`), counted; in the `calls` column.
const LINE_COUNTS: &str = "line";
/// Hits of a source line in interrupt context, counted, as [`FUNCTION_IN_INTERRUPTS`].
const LINE_IN_INTERRUPTS: &str = "line_in_interrupts";

pub fn write(out: &mut impl Write, report: &Report, header: bool) -> io::Result<()> {
    let mut csv = ::csv::Writer::from_writer(out);
    if header {
        csv.write_record(HEADER)?;
    }
    let command = report.command.as_ref().map(|c| c.join(" ")).unwrap_or_default();
    let duration = format!("{:.3}", report.duration_secs);
    // `None`: the machine's interrupts rather than a cgroup.
    let mut row = |cgroup: Option<usize>,
                   kind: &str,
                   fields: [String; 10],
                   latency: Option<&Latency>|
     -> io::Result<()> {
        let (label, path, id) = match cgroup {
            Some(i) => {
                let c = &report.cgroups[i];
                (c.label.as_str(), c.path.as_str(), c.id.to_string())
            }
            None => (ALL_INTERRUPTS, "", String::new()),
        };
        let [name, module, nr, calls, errors, samples, share, blocked, file, line] = fields;
        let [timed, p50, p90, p99, p99_9, max] = latency_fields(latency);
        csv.write_record([
            report.scope.as_str(),
            &report.start_time,
            &duration,
            &report.kernel_release,
            &report.ktrace_version,
            &command,
            label,
            path,
            &id,
            kind,
            &name,
            &module,
            &nr,
            &calls,
            &errors,
            &samples,
            &share,
            &blocked,
            &file,
            &line,
            &timed,
            &p50,
            &p90,
            &p99,
            &p99_9,
            &max,
        ])
        .map_err(io::Error::from)
    };
    for syscall in &report.syscalls {
        for (i, count) in syscall.counts.iter().enumerate() {
            let nr = syscall.nr.map(|n| n.to_string()).unwrap_or_default();
            let fields = [
                syscall.name.clone(),
                String::new(),
                nr,
                count.calls.to_string(),
                count.errors.to_string(),
                String::new(),
                String::new(),
                count.blocked.to_string(),
                String::new(),
                String::new(),
            ];
            let latency = syscall.latency.as_ref().and_then(|cells| cells.get(i)?.as_ref());
            row(Some(i), SYSCALL, fields, latency)?;
        }
    }
    if let Some(functions) = &report.kernel_functions {
        for f in &functions.functions {
            let fields = |n: u64| {
                [
                    f.name.clone(),
                    f.module.clone(),
                    String::new(),
                    n.to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            };
            for (i, &n) in f.counts.iter().enumerate() {
                row(Some(i), FUNCTION_COUNTS, fields(n), None)?;
            }
            for (c, n) in f.interrupts.by_cgroup() {
                row(c, FUNCTION_IN_INTERRUPTS, fields(n), None)?;
            }
        }
    }
    if let Some(lines) = &report.kernel_lines {
        for f in &lines.functions {
            for line in &f.lines {
                let fields = |n: u64| {
                    [
                        f.function.name.clone(),
                        CORE_KERNEL.to_owned(),
                        String::new(),
                        // A line no probe counts has no figure.
                        if line.probes == 0 { String::new() } else { n.to_string() },
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        f.function.file.clone(),
                        line.line.to_string(),
                    ]
                };
                let hits = &line.hits;
                for (i, &n) in hits.counts.iter().enumerate() {
                    row(Some(i), LINE_COUNTS, fields(n), None)?;
                }
                for (c, n) in hits.interrupts.by_cgroup() {
                    row(c, LINE_IN_INTERRUPTS, fields(n), None)?;
                }
            }
        }
    }
    if let Some(samples) = &report.kernel_samples {
        // The fields of a row of `name` in `module` with `n` samples and that share.
        let fields = |name: &str, module: &str, n: u64, share: Option<f64>| {
            [
                name.to_owned(),
                module.to_owned(),
                String::new(),
                String::new(),
                String::new(),
                n.to_string(),
                share.map(|s| format!("{s:.6}")).unwrap_or_default(),
                String::new(),
                String::new(),
                String::new(),
            ]
        };
        for f in &samples.functions {
            for (i, (&n, &share)) in f.samples.iter().zip(&f.share).enumerate() {
                row(Some(i), FUNCTION_SAMPLES, fields(&f.name, &f.module, n, Some(share)), None)?;
            }
            for (c, n) in f.interrupts.by_cgroup() {
                let fields = fields(&f.name, &f.module, n, None);
                row(c, FUNCTION_SAMPLES_IN_INTERRUPTS, fields, None)?;
            }
        }
        for m in &samples.modules {
            for (i, (&n, &share)) in m.samples.iter().zip(&m.share).enumerate() {
                row(Some(i), MODULE_SAMPLES, fields(&m.module, &m.module, n, Some(share)), None)?;
            }
            for (c, n) in m.interrupts.by_cgroup() {
                let fields = fields(&m.module, &m.module, n, None);
                row(c, MODULE_SAMPLES_IN_INTERRUPTS, fields, None)?;
            }
        }
    }
    csv.flush()
}

/// The latency columns: calls timed and percentiles in ns, or all empty.
fn latency_fields(latency: Option<&Latency>) -> [String; 6] {
    match latency {
        Some(l) => {
            [l.count, l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.max_ns].map(|n| n.to_string())
        }
        None => Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        latency::RELATIVE_ERROR,
        report::tests::{counted, sample, sampled},
    };

    fn rows(report: &Report) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        write(&mut out, report, true).unwrap();
        let mut reader = ::csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
        reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
    }

    #[test]
    fn tidy_rows_with_metadata() {
        let rows = rows(&sample());
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows[0],
            [
                "total",
                "1970-01-01T00:00:00.000Z",
                "2.000",
                "6.18.0-test",
                env!("CARGO_PKG_VERSION"),
                "",
                "lxc",
                "/sys/fs/cgroup/lxc",
                "1",
                "syscall",
                "getppid",
                "",
                "110",
                "100000",
                "0",
                "",
                "",
                "0",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                ""
            ]
        );
        assert_eq!(
            rows[5][6..],
            [
                "gvisor",
                "/sys/fs/cgroup/gvisor",
                "2",
                "syscall",
                "fchdir",
                "",
                "81",
                "3",
                "3",
                "",
                "",
                "0",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                ""
            ]
        );
    }

    #[test]
    fn counted_functions_fill_the_calls_column() {
        let rows = rows(&counted());
        let functions: Vec<_> =
            rows.iter().filter(|r| r[9] == "function").map(|r| r[6..15].to_vec()).collect();
        assert_eq!(functions.len(), 4);
        assert_eq!(
            functions[1],
            [
                "gvisor",
                "/sys/fs/cgroup/gvisor",
                "2",
                "function",
                "vfs_write",
                "vmlinux",
                "",
                "0",
                ""
            ]
        );
        assert_eq!(
            functions[3],
            ["gvisor", "/sys/fs/cgroup/gvisor", "2", "function", "veth_xmit", "veth", "", "7", ""]
        );
    }

    #[test]
    fn line_rows_name_the_function_file_and_line() {
        let report =
            Report { kernel_lines: Some(crate::lines::report::tests::report()), ..sample() };
        let rows = rows(&report);
        let lines: Vec<_> = rows
            .iter()
            .filter(|r| r[9] == "line" && r[6] == "lxc")
            .map(|r| (r[10].as_str(), r[13].as_str(), r[18].as_str(), r[19].as_str()))
            .collect();
        let file = "include/linux/netdevice.h";
        assert_eq!(
            lines,
            [
                ("__is_skb_forwardable", "43", file, "4070"),
                ("__is_skb_forwardable", "", file, "4073"),
                ("__is_skb_forwardable", "40", file, "4077"),
                ("__is_skb_forwardable", "5", file, "4083")
            ]
        );
        assert!(!rows.iter().any(|r| r[9] == "line_in_interrupts"));
    }

    #[test]
    fn line_rows_in_interrupts_with_irq_separate() {
        let report =
            Report { kernel_lines: Some(crate::lines::report::tests::report_apart()), ..sample() };
        let rows = rows(&report);
        let first_line: Vec<_> = rows
            .iter()
            .filter(|r| r[19] == "4070")
            .map(|r| (r[9].as_str(), r[6].as_str(), r[13].as_str()))
            .collect();
        assert_eq!(
            first_line,
            [
                ("line", "lxc", "4"),
                ("line", "gvisor", "0"),
                ("line_in_interrupts", "lxc", "30"),
                ("line_in_interrupts", "gvisor", "2"),
                ("line_in_interrupts", ALL_INTERRUPTS, "56"),
            ]
        );
    }

    #[test]
    fn sampled_rows_are_marked_as_samples() {
        let rows = rows(&sampled());
        let function_rows: Vec<_> = rows.iter().filter(|r| r[9] == "function_samples").collect();
        assert_eq!(
            function_rows[0][6..],
            [
                "lxc",
                "/sys/fs/cgroup/lxc",
                "1",
                "function_samples",
                "vfs_write",
                "vmlinux",
                "",
                "",
                "",
                "30",
                "0.750000",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                ""
            ]
        );
        let module_rows: Vec<_> = rows.iter().filter(|r| r[9] == "module_samples").collect();
        assert_eq!(
            module_rows[0][9..20],
            ["module_samples", "vmlinux", "vmlinux", "", "", "", "38", "0.950000", "", "", ""]
        );
        assert!(module_rows[0][20..].iter().all(String::is_empty), "not timed: {module_rows:?}");
    }

    #[test]
    fn timed_syscalls_carry_percentiles_in_whole_nanoseconds() {
        let mut report = sample();
        // lxc: 900 getppid of 200 ns and 100 of 1 ms; gvisor timed none.
        let getppid = Latency::from_sparse(vec![[200, 900], [1_000_000, 100]]).unwrap();
        report.syscalls[0].latency = Some(vec![Some(getppid.clone()), None]);
        let mut out = Vec::new();
        write(&mut out, &report, true).unwrap();
        let mut reader = ::csv::Reader::from_reader(out.as_slice());
        let header = reader.headers().unwrap().clone();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<_> = reader.records().map(Result::unwrap).collect();
        let getppid_rows: Vec<_> = rows.iter().filter(|r| &r[10] == "getppid").collect();
        let ns = |row: &::csv::StringRecord, name: &str| row[column(name)].parse::<u64>().unwrap();
        let lxc = getppid_rows[0];
        assert_eq!(&lxc[6], "lxc");
        assert_eq!(ns(lxc, "timed"), 1000);
        assert_eq!(ns(lxc, "p50_ns"), getppid.p50_ns);
        assert_eq!(ns(lxc, "p90_ns"), getppid.p90_ns);
        assert_eq!(ns(lxc, "p99_ns"), getppid.p99_ns);
        assert_eq!(ns(lxc, "p99_9_ns"), getppid.p999_ns);
        assert_eq!(ns(lxc, "max_ns"), getppid.max_ns);
        // 200 ns and 1 ms, each within the stated bound.
        let near =
            |figure: u64, exact: f64| (figure as f64 - exact).abs() <= exact * RELATIVE_ERROR;
        assert!(near(ns(lxc, "p50_ns"), 200.0) && near(ns(lxc, "p99_ns"), 1e6), "{lxc:?}");
        let gvisor = getppid_rows[1];
        assert_eq!(&gvisor[6], "gvisor");
        assert!(gvisor.iter().skip(column("timed")).all(str::is_empty), "{gvisor:?}");
    }
}
