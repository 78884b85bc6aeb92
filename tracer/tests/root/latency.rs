//! `--latency`: syscall latency percentiles per cgroup, from workloads whose calls take known
//! times: nanosleep of 1 ms and 10 ms, and getppid, which does not block.
use anyhow::{Context as _, ensure};
use tracer::latency::Latency;

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

/// A child makes 200 nanosleep(1 ms), 200 nanosleep(10 ms) and 10,000 getppid; a sibling,
/// traced in its own column, sleeps 50 ms ten times. Every call is timed exactly once, in its
/// own cgroup, and the percentiles fall where the sleeps put them. The bounds allow for the
/// scheduler waking a sleeper late (timer slack is 50 us; see [`wakeup_tolerance_ms`]).
fn latency_percentiles_per_cgroup() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["child", "sibling"]);
    let (child, sibling) = (tree.path("child"), tree.path("sibling"));
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
    run_workload_in(&child, &["nanosleep-1ms=200", "nanosleep-10ms=200", "getppid=10000"])?;
    run_workload_in(&sibling, &["nanosleep-50ms=10"])?;
    ktrace.signal(libc::SIGINT);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "ktrace attach --latency: {status}\n{stderr}");
    ensure!(!stderr.contains("could not be recorded"), "calls went untimed:\n{stderr}");
    let report = last_report(&stdout)?;
    check_percentiles(&report).with_context(|| format!("ktrace's stderr:\n{stderr}"))
}

/// How late, in ms, the p25 (1 ms) and p75 (10 ms) sleeps may return. On real or
/// hardware-virtualized CPUs, 0.3 and 1.5 ms. Under QEMU's software emulation (TCG, the test
/// guests) the emulated timer wakes sleepers late: p25 was 1.5 ms on 6.12 and 2.5 ms on 6.1
/// (measured), so there the bounds stay below the other group's: 3 and 10 ms.
fn wakeup_tolerance_ms() -> anyhow::Result<(f64, f64)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
    Ok(if cpuinfo.contains("QEMU TCG CPU") { (3.0, 10.0) } else { (0.3, 1.5) })
}

/// The assertions of [`latency_percentiles_per_cgroup`] on its report.
fn check_percentiles(report: &serde_json::Value) -> anyhow::Result<()> {
    ensure!(counts(report, "nanosleep", 0) == (400, 0), "nanosleep calls: {report}");
    ensure!(counts(report, "getppid", 0) == (10_000, 0), "getppid calls: {report}");
    let sleeps = latency(report, "nanosleep", 0)?;
    // 410 would mean the sibling's sleeps were timed in the child's histogram.
    ensure!(sleeps.count == 400, "timed nanosleeps of the child: {}", sleeps.count);
    let ms = |ns: u64| ns as f64 / 1e6;
    let (late_1ms, late_10ms) = wakeup_tolerance_ms()?;
    let p25 = ms(sleeps.quantile_ns(0.25));
    ensure!(
        (1.0..=1.0 + late_1ms).contains(&p25),
        "nanosleep p25 {p25} ms, expected 1 to {} ms",
        1.0 + late_1ms
    );
    let p75 = ms(sleeps.quantile_ns(0.75));
    ensure!(
        (10.0..=10.0 + late_10ms).contains(&p75),
        "nanosleep p75 {p75} ms, expected 10 to {} ms",
        10.0 + late_10ms
    );
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
