//! The data every output format renders: one report per interval or for the whole run.
//!
//! Serialized as is for `--output json`; the schema is documented in docs/json-schema.md and
//! versioned by `schema_version`.
use std::time::{Duration, SystemTime};

use serde::Serialize;
use syscalls::Sysno;

use crate::{
    cgroup::Cgroup,
    collect::{Count, SyscallCounts},
};

pub const SCHEMA_VERSION: u32 = 1;

/// What stays the same across the reports of one trace.
#[derive(Debug, Clone)]
pub struct TraceInfo {
    pub kernel_release: String,
    pub cgroups: Vec<CgroupInfo>,
    /// The command `ktrace run` ran, if any.
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupInfo {
    /// The name the user gave (or the cgroup `run` created).
    pub label: String,
    pub path: String,
    pub id: u64,
}

impl From<&Cgroup> for CgroupInfo {
    fn from(c: &Cgroup) -> Self {
        Self {
            label: c.label.clone(),
            path: c.path.display().to_string(),
            id: c.id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The counts of one `-i` interval.
    Interval,
    /// The counts since tracing started.
    Total,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interval => "interval",
            Self::Total => "total",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub ktrace_version: &'static str,
    pub kernel_release: String,
    pub scope: Scope,
    /// Start of the period this report covers, RFC 3339 UTC.
    pub start_time: String,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The traced cgroups; every `counts` array below is in this order.
    pub cgroups: Vec<CgroupInfo>,
    /// All syscalls of each cgroup, including rows left out by `--top`.
    pub totals: Vec<Count>,
    /// Sorted by calls summed over cgroups, most first.
    pub syscalls: Vec<SyscallRow>,
    /// Rows left out by `--top`.
    pub rows_omitted: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyscallRow {
    /// Name in this architecture's table, `syscall_<nr>` if unknown, `(out of range)` for
    /// numbers outside the counting table.
    pub name: String,
    pub nr: Option<u32>,
    pub counts: Vec<Count>,
}

impl SyscallRow {
    fn total_calls(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.calls))
    }
}

impl Report {
    /// Builds a report from one [`SyscallCounts`] per traced cgroup (cumulative for
    /// [`Scope::Total`], a difference for [`Scope::Interval`]).
    pub fn new(
        info: &TraceInfo,
        scope: Scope,
        start: SystemTime,
        duration: Duration,
        counts: &[SyscallCounts],
        top: Option<usize>,
    ) -> Self {
        let mut nrs: Vec<usize> = counts
            .iter()
            .flat_map(|c| c.nonzero().map(|(nr, _)| nr))
            .collect();
        nrs.sort_unstable();
        nrs.dedup();
        let mut syscalls: Vec<SyscallRow> = nrs
            .into_iter()
            .map(|nr| SyscallRow {
                name: syscall_name(nr),
                nr: Some(nr as u32),
                counts: counts.iter().map(|c| c.get(nr)).collect(),
            })
            .collect();
        if counts.iter().any(|c| !c.out_of_range().is_zero()) {
            syscalls.push(SyscallRow {
                name: "(out of range)".to_owned(),
                nr: None,
                counts: counts.iter().map(SyscallCounts::out_of_range).collect(),
            });
        }
        syscalls.sort_by(|a, b| {
            b.total_calls()
                .cmp(&a.total_calls())
                .then_with(|| a.name.cmp(&b.name))
        });
        let keep = top.unwrap_or(usize::MAX).min(syscalls.len());
        let rows_omitted = syscalls.len() - keep;
        syscalls.truncate(keep);
        Self {
            schema_version: SCHEMA_VERSION,
            ktrace_version: env!("CARGO_PKG_VERSION"),
            kernel_release: info.kernel_release.clone(),
            scope,
            start_time: humantime::format_rfc3339_millis(start).to_string(),
            duration_secs: duration.as_secs_f64(),
            command: info.command.clone(),
            cgroups: info.cgroups.clone(),
            totals: counts.iter().map(SyscallCounts::total).collect(),
            syscalls,
            rows_omitted,
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_secs)
    }
}

fn syscall_name(nr: usize) -> String {
    Sysno::new(nr).map_or_else(|| format!("syscall_{nr}"), |s| s.name().to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use tracer_common::{SyscallCount, SyscallTable};

    use super::*;

    pub(crate) fn counts(entries: &[(usize, u64, u64)]) -> SyscallCounts {
        let mut t = SyscallTable::default();
        for &(nr, calls, errors) in entries {
            t.counts[nr] = SyscallCount { calls, errors };
        }
        SyscallCounts::sum_per_cpu(&[t])
    }

    pub(crate) fn info(labels: &[&str]) -> TraceInfo {
        TraceInfo {
            kernel_release: "6.18.0-test".to_owned(),
            cgroups: labels
                .iter()
                .zip(1u64..)
                .map(|(l, id)| CgroupInfo {
                    label: l.to_string(),
                    path: format!("/sys/fs/cgroup/{l}"),
                    id,
                })
                .collect(),
            command: None,
        }
    }

    /// getppid (110) x 100000 in "lxc", read (0) x 7 with 2 failures in both.
    pub(crate) fn sample() -> Report {
        let lxc = counts(&[(110, 100_000, 0), (0, 5, 2)]);
        let gvisor = counts(&[(0, 2, 0), (81, 3, 3)]);
        Report::new(
            &info(&["lxc", "gvisor"]),
            Scope::Total,
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(2),
            &[lxc, gvisor],
            None,
        )
    }

    #[test]
    fn rows_are_named_sorted_and_aligned_with_cgroups() {
        let r = sample();
        let names: Vec<_> = r.syscalls.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["getppid", "read", "fchdir"]);
        assert_eq!(
            r.syscalls[0].counts,
            [
                Count {
                    calls: 100_000,
                    errors: 0
                },
                Count::default()
            ]
        );
        assert_eq!(
            r.syscalls[1].counts,
            [
                Count {
                    calls: 5,
                    errors: 2
                },
                Count {
                    calls: 2,
                    errors: 0
                }
            ]
        );
        assert_eq!(
            r.totals,
            [
                Count {
                    calls: 100_005,
                    errors: 2
                },
                Count {
                    calls: 5,
                    errors: 3
                }
            ]
        );
        assert_eq!(r.start_time, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn top_keeps_the_busiest_rows_and_counts_the_rest() {
        let r = Report::new(
            &info(&["a"]),
            Scope::Total,
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(1),
            &[counts(&[(1, 1, 0), (2, 9, 0), (3, 5, 0)])],
            Some(2),
        );
        assert_eq!(
            r.syscalls.iter().map(|s| s.nr).collect::<Vec<_>>(),
            [Some(2), Some(3)]
        );
        assert_eq!(r.rows_omitted, 1);
        assert_eq!(r.totals[0].calls, 15);
    }

    #[test]
    fn unknown_and_out_of_range_numbers_get_rows() {
        let mut t = SyscallTable::default();
        t.counts[511] = SyscallCount {
            calls: 1,
            errors: 1,
        };
        t.out_of_range = SyscallCount {
            calls: 4,
            errors: 4,
        };
        let r = Report::new(
            &info(&["a"]),
            Scope::Total,
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(1),
            &[SyscallCounts::sum_per_cpu(&[t])],
            None,
        );
        let names: Vec<_> = r.syscalls.iter().map(|s| (s.name.as_str(), s.nr)).collect();
        assert_eq!(
            names,
            [("(out of range)", None), ("syscall_511", Some(511))]
        );
    }
}
