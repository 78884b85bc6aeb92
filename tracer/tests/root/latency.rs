//! `--latency`: syscall latency percentiles per cgroup, from workloads whose calls take known
//! times: nanosleep of 1 ms and 10 ms, and getppid, which does not block.
use std::{fs, path::Path};

use anyhow::{Context as _, ensure};
use tracer::latency::{Latency, RELATIVE_ERROR};

use crate::support::{Ktrace, Test, TestCgroups, counts, last_report, run_workload_in};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![("latency_percentiles_per_cgroup", latency_percentiles_per_cgroup)]
}

/// The latency of `syscall` in column `column`, if it has one.
fn latency(report: &serde_json::Value, syscall: &str, column: usize) -> anyhow::Result<Latency> {
    let row = report["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|row| row["name"] == syscall)
        .with_context(|| format!("no {syscall} row: {report}"))?;
    serde_json::from_value(row["latency"][column].clone())
        .with_context(|| format!("latency of {syscall} in column {column}: {row}"))
}

/// A child makes 200 nanosleep(1 ms), 200 nanosleep(10 ms) and 10,000 getppid, timing each
/// of its sleeps itself; a sibling, traced in its own column, sleeps 50 ms ten times. Every
/// call is timed exactly once, in its own cgroup, and the percentiles ktrace reports are those
/// of the sleeps the child measured, within the stated error: the test holds on a loaded
/// machine, where sleepers wake late, since it compares with how late they actually woke.
fn latency_percentiles_per_cgroup() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["child", "sibling"]);
    let (child, sibling) = (tree.path("child"), tree.path("sibling"));
    let dir = tempfile::tempdir()?;
    let timings = dir.path().join("sleeps");
    let mut ktrace = Ktrace::spawn(&[
        "attach",
        "--latency",
        "--cgroup",
        child.to_str().unwrap(),
        "--cgroup",
        sibling.to_str().unwrap(),
        "-o",
        "json",
    ])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(
        &child,
        &[
            &format!("timings={}", timings.display()),
            "nanosleep-1ms=200",
            "nanosleep-10ms=200",
            "getppid=10000",
        ],
    )?;
    run_workload_in(&sibling, &["nanosleep-50ms=10"])?;
    ktrace.signal(libc::SIGINT);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "ktrace attach --latency: {status}\n{stderr}");
    ensure!(!stderr.contains("could not be recorded"), "calls went untimed:\n{stderr}");
    let report = last_report(&stdout)?;
    let measured = MeasuredSleeps::read(&timings)?;
    check_percentiles(&report, &measured).with_context(|| format!("ktrace's stderr:\n{stderr}"))
}

/// The child's sleeps as it measured them, from its first clock read before nanosleep to the
/// one after: each holds the kernel's entry-to-return time of that call, so ktrace's figure at
/// any rank is at most the child's at that rank, plus the stated error.
pub struct MeasuredSleeps {
    /// In ns, shortest first.
    pub sorted_ns: Vec<u64>,
}

impl MeasuredSleeps {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading the child's sleep times from {}", path.display()))?;
        let mut sorted_ns = text
            .lines()
            .map(|line| line.parse::<u64>().with_context(|| format!("a sleep time: {line:?}")))
            .collect::<anyhow::Result<Vec<u64>>>()?;
        sorted_ns.sort_unstable();
        Ok(Self { sorted_ns })
    }

    /// The sleep at quantile `q`, ranked as HdrHistogram ranks: the ceil(q * n)-th shortest.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        let rank = ((q * self.sorted_ns.len() as f64).ceil() as usize).max(1);
        self.sorted_ns[rank - 1]
    }

    /// Checks ktrace's figure at quantile `q`, shown to within `rounding_ns`: never above the
    /// child's sleep of the same rank by more than the stated error, since the child's span
    /// holds the kernel's; and, unless `q` is in a `tail`, not below it by more than the error
    /// and [`measurement_slack_ns`]. In a tail a single sleep the child was preempted around
    /// can stand far above ktrace's time for it, so there only the first bound holds.
    pub fn check(
        &self,
        q: f64,
        reported_ns: f64,
        rounding_ns: f64,
        tail: bool,
    ) -> anyhow::Result<()> {
        let child = self.quantile_ns(q) as f64;
        let high = child * (1.0 + RELATIVE_ERROR) + rounding_ns;
        let low = if tail {
            0.0
        } else {
            child * (1.0 - RELATIVE_ERROR) - measurement_slack_ns()? as f64 - rounding_ns
        };
        ensure!(
            (low..=high).contains(&reported_ns),
            "quantile {q}: ktrace {} ms, the child measured {} ms (allowed {} to {} ms)",
            reported_ns / 1e6,
            child / 1e6,
            low / 1e6,
            high / 1e6
        );
        Ok(())
    }
}

/// How much shorter than the child's measurement ktrace's time of a sleep may be beyond the
/// stated error: the clock reads, the syscall's way in and out, and a preemption between
/// them. Under QEMU's software emulation (TCG, the test guests) every instruction is slower
/// and timer interrupts come late: the child's p90 sleep was 1.3 ms longer than ktrace's on
/// 6.1 (measured), so there the slack is 3 ms, still below the 9 ms between the two groups.
pub fn measurement_slack_ns() -> anyhow::Result<u64> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
    Ok(if cpuinfo.contains("QEMU TCG CPU") { 3_000_000 } else { 100_000 })
}

/// The assertions of [`latency_percentiles_per_cgroup`] on its report.
fn check_percentiles(report: &serde_json::Value, measured: &MeasuredSleeps) -> anyhow::Result<()> {
    ensure!(counts(report, "nanosleep", 0) == (400, 0), "nanosleep calls: {report}");
    ensure!(counts(report, "getppid", 0) == (10_000, 0), "getppid calls: {report}");
    ensure!(
        measured.sorted_ns.len() == 400,
        "the child measured {} sleeps",
        measured.sorted_ns.len()
    );
    let sleeps = latency(report, "nanosleep", 0)?;
    // 410 would mean the sibling's sleeps were timed in the child's histogram.
    ensure!(sleeps.count == 400, "timed nanosleeps of the child: {}", sleeps.count);
    let ms = |ns: u64| ns as f64 / 1e6;
    // p25 and p75 lie amid the 1 ms and the 10 ms sleeps; p90 and the max in the tail.
    for (q, tail, at_least_ms) in [(0.25, false, 1.0), (0.75, false, 10.0), (0.9, true, 10.0)] {
        let reported = sleeps.quantile_ns(q);
        measured.check(q, reported as f64, 0.0, tail).context("nanosleep")?;
        // No sleep returns early, and no bucket's midpoint falls below 1 ms or 10 ms when the
        // bucket holds that.
        ensure!(ms(reported) >= at_least_ms, "nanosleep quantile {q}: {reported} ns");
    }
    measured.check(1.0, sleeps.max_ns as f64, 0.0, true).context("nanosleep max")?;
    ensure!(
        ms(sleeps.max_ns) >= 10.0,
        "nanosleep max {} ms, expected 10 ms or more",
        ms(sleeps.max_ns)
    );
    let getppid = latency(report, "getppid", 0)?;
    ensure!(getppid.count == 10_000, "timed getppid calls: {}", getppid.count);
    ensure!(ms(getppid.p99_ns) < 1.0, "getppid p99 {} ms, expected under 1 ms", ms(getppid.p99_ns));

    ensure!(counts(report, "nanosleep", 1) == (10, 0), "the sibling's nanosleep calls: {report}");
    let sibling_sleeps = latency(report, "nanosleep", 1)?;
    ensure!(
        sibling_sleeps.count == 10 && ms(sibling_sleeps.p50_ns) >= 49.0,
        "the sibling's sleeps: {sibling_sleeps:?}"
    );
    ensure!(
        report["syscalls"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|row| row["name"] != "getppid" || row["latency"][1].is_null()),
        "the sibling made no getppid, so it has no getppid latency: {report}"
    );
    Ok(())
}
