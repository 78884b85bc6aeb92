//! `--output csv`: tidy rows, one per (cgroup, syscall), with the report's metadata repeated on
//! every row so that rows of several runs or intervals can be concatenated and still be told
//! apart.
use std::io::{self, Write};

use crate::report::Report;

const HEADER: [&str; 13] = [
    "scope",
    "start_time",
    "duration_secs",
    "kernel_release",
    "ktrace_version",
    "command",
    "cgroup",
    "cgroup_path",
    "cgroup_id",
    "syscall",
    "nr",
    "calls",
    "errors",
];

pub fn write(out: &mut impl Write, report: &Report, header: bool) -> io::Result<()> {
    let mut csv = ::csv::Writer::from_writer(out);
    if header {
        csv.write_record(HEADER)?;
    }
    let command = report
        .command
        .as_ref()
        .map(|c| c.join(" "))
        .unwrap_or_default();
    for row in &report.syscalls {
        for (cgroup, count) in report.cgroups.iter().zip(&row.counts) {
            csv.write_record([
                report.scope.as_str(),
                &report.start_time,
                &format!("{:.3}", report.duration_secs),
                &report.kernel_release,
                report.ktrace_version,
                &command,
                &cgroup.label,
                &cgroup.path,
                &cgroup.id.to_string(),
                &row.name,
                &row.nr.map(|n| n.to_string()).unwrap_or_default(),
                &count.calls.to_string(),
                &count.errors.to_string(),
            ])?;
        }
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn tidy_rows_with_metadata() {
        let mut out = Vec::new();
        write(&mut out, &sample(), true).unwrap();
        let mut reader = ::csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
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
                "getppid",
                "110",
                "100000",
                "0"
            ]
        );
        assert_eq!(
            rows[5][6..],
            [
                "gvisor",
                "/sys/fs/cgroup/gvisor",
                "2",
                "fchdir",
                "81",
                "3",
                "3"
            ]
        );
    }
}
