//! `--output table`: aligned columns for people, one column group per cgroup.
use std::io::{self, Write};

use crate::{collect::rate, report::Report};

const NAME_WIDTH: usize = 22;
const NR_WIDTH: usize = 5;
/// "  CALLS(12)  CALLS/s(11)  FAILED(10)"
const GROUP_WIDTH: usize = 2 + 12 + 1 + 11 + 1 + 10;

pub fn write(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let cgroups = report.cgroups.len();
    writeln!(
        out,
        "Syscalls per cgroup, {} of {:.2} s from {} (kernel {})",
        report.scope.as_str(),
        report.duration_secs,
        report.start_time,
        report.kernel_release
    )?;
    let mut labels = " ".repeat(NAME_WIDTH + 1 + NR_WIDTH);
    for cgroup in &report.cgroups {
        let label = fit(&cgroup.label, GROUP_WIDTH - 2);
        labels += &format!("  {label:<w$}", w = GROUP_WIDTH - 2);
    }
    writeln!(out, "{}", labels.trim_end())?;
    write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", "SYSCALL", "NR")?;
    for _ in 0..cgroups {
        write!(out, "  {:>12} {:>11} {:>10}", "CALLS", "CALLS/s", "FAILED")?;
    }
    writeln!(out)?;
    let elapsed = report.duration();
    for row in &report.syscalls {
        let nr = row
            .nr
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".to_owned());
        write!(
            out,
            "{:<NAME_WIDTH$} {:>NR_WIDTH$}",
            fit(&row.name, NAME_WIDTH),
            nr
        )?;
        for count in &row.counts {
            write!(
                out,
                "  {:>12} {:>11.1} {:>10}",
                count.calls,
                rate(count.calls, elapsed),
                count.errors
            )?;
        }
        writeln!(out)?;
    }
    write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", "TOTAL", "")?;
    for total in &report.totals {
        write!(
            out,
            "  {:>12} {:>11.1} {:>10}",
            total.calls,
            rate(total.calls, elapsed),
            total.errors
        )?;
    }
    writeln!(out)?;
    if report.rows_omitted > 0 {
        writeln!(
            out,
            "({} more syscalls not shown; TOTAL includes them)",
            report.rows_omitted
        )?;
    }
    writeln!(out)
}

/// Shortens `s` to `width` characters, keeping its end (the informative part of a path).
fn fit(s: &str, width: usize) -> String {
    let chars = s.chars().count();
    if chars <= width {
        return s.to_owned();
    }
    let tail: String = s.chars().skip(chars - (width - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn renders_groups_units_rows_and_totals() {
        let mut out = Vec::new();
        write(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
Syscalls per cgroup, total of 2.00 s from 1970-01-01T00:00:00.000Z (kernel 6.18.0-test)
                              lxc                                  gvisor
SYSCALL                   NR         CALLS     CALLS/s     FAILED         CALLS     CALLS/s     FAILED
getppid                  110        100000     50000.0          0             0         0.0          0
read                       0             5         2.5          2             2         1.0          0
fchdir                    81             0         0.0          0             3         1.5          3
TOTAL                               100005     50002.5          2             5         2.5          3

";
        assert_eq!(text, expected);
    }

    #[test]
    fn long_labels_keep_their_end() {
        assert_eq!(
            fit("/sys/fs/cgroup/unified/machine.slice/vm1", 10),
            "…slice/vm1"
        );
        assert_eq!(fit("short", 10), "short");
    }
}
