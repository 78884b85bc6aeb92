//! `--output csv`: tidy rows, one per (cgroup, syscall) and, with `--sample`, per (cgroup,
//! kernel function) and (cgroup, module); with `--lines`, per (cgroup, source line); with
//! `--irq separate` also per (cgroup, function) in interrupts, and per function for the
//! machine's interrupts (cgroup `(interrupts)`). The report's metadata is repeated on every
//! row, so rows of several runs or intervals can be concatenated and still be told apart.
use std::io::{self, Write};

use crate::{
    kallsyms::CORE_KERNEL,
    report::{ALL_INTERRUPTS, Report},
};

const HEADER: [&str; 20] = [
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
/// Hits of a source line of a kernel function (`name`), counted; in the `calls` column.
const LINE_COUNTS: &str = "line";

pub fn write(out: &mut impl Write, report: &Report, header: bool) -> io::Result<()> {
    let mut csv = ::csv::Writer::from_writer(out);
    if header {
        csv.write_record(HEADER)?;
    }
    let command = report.command.as_ref().map(|c| c.join(" ")).unwrap_or_default();
    let duration = format!("{:.3}", report.duration_secs);
    // `None`: the machine's interrupts rather than a cgroup.
    let mut row = |cgroup: Option<usize>, kind: &str, fields: [String; 10]| -> io::Result<()> {
        let (label, path, id) = match cgroup {
            Some(i) => {
                let c = &report.cgroups[i];
                (c.label.as_str(), c.path.as_str(), c.id.to_string())
            }
            None => (ALL_INTERRUPTS, "", String::new()),
        };
        let [name, module, nr, calls, errors, samples, share, blocked, file, line] = fields;
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
            row(Some(i), SYSCALL, fields)?;
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
                row(Some(i), FUNCTION_COUNTS, fields(n))?;
            }
            for (i, &n) in f.in_interrupts.iter().enumerate() {
                row(Some(i), FUNCTION_IN_INTERRUPTS, fields(n))?;
            }
            if let Some(n) = f.all_interrupts {
                row(None, FUNCTION_IN_INTERRUPTS, fields(n))?;
            }
        }
    }
    if let Some(lines) = &report.kernel_lines {
        for f in &lines.functions {
            for line in &f.lines {
                for (i, n) in line.counts.iter().enumerate() {
                    let fields = [
                        f.name.clone(),
                        CORE_KERNEL.to_owned(),
                        String::new(),
                        // A line no probe counts has no figure.
                        if line.probes == 0 { String::new() } else { n.to_string() },
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        f.file.clone(),
                        line.line.to_string(),
                    ];
                    row(Some(i), LINE_COUNTS, fields)?;
                }
            }
        }
    }
    if let Some(samples) = &report.kernel_samples {
        for f in &samples.functions {
            for (i, (n, share)) in f.samples.iter().zip(&f.share).enumerate() {
                let fields = [
                    f.name.clone(),
                    f.module.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    n.to_string(),
                    format!("{share:.6}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ];
                row(Some(i), FUNCTION_SAMPLES, fields)?;
            }
        }
        for m in &samples.modules {
            for (i, (n, share)) in m.samples.iter().zip(&m.share).enumerate() {
                let fields = [
                    m.module.clone(),
                    m.module.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    n.to_string(),
                    format!("{share:.6}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ];
                row(Some(i), MODULE_SAMPLES, fields)?;
            }
        }
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{counted, sample, sampled};

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
                ""
            ]
        );
        let module_rows: Vec<_> = rows.iter().filter(|r| r[9] == "module_samples").collect();
        assert_eq!(
            module_rows[0][9..],
            ["module_samples", "vmlinux", "vmlinux", "", "", "", "38", "0.950000", "", "", ""]
        );
    }
}
