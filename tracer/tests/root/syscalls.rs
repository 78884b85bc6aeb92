//! Root tests of syscall counting and of what every trace promises: exact counts per
//! cgroup from `run` and `attach` (descendants in, siblings out, a task only while inside),
//! interval reports, nothing left attached however ktrace stops, and bad input refused in one
//! line. Each test owns its cgroups and workloads, so they run in parallel.
use std::{fs, path::Path, thread, time::Duration};

use anyhow::{Context as _, ensure};

use crate::support::{
    Ktrace, Test, TestCgroups, counts, expect_error, join_before_exec, ktrace, ktrace_command,
    last_report, loaded_bpf_ids, run_workload_in,
};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        ("run_counts_exactly_the_commands_syscalls", run_counts_exactly_the_commands_syscalls),
        ("run_exits_with_the_commands_status", run_exits_with_the_commands_status),
        ("run_execs_the_command_exactly_once", run_execs_the_command_exactly_once),
        ("run_keeps_the_commands_output_off_stdout", run_keeps_the_commands_output_off_stdout),
        ("run_outlives_a_closed_stdout", run_outlives_a_closed_stdout),
        ("attach_counts_descendants_but_not_siblings", attach_counts_descendants_but_not_siblings),
        ("attach_gives_each_cgroup_its_own_column", attach_gives_each_cgroup_its_own_column),
        ("a_task_is_counted_only_while_inside", a_task_is_counted_only_while_inside),
        (
            "ktrace_in_a_traced_cgroup_does_not_count_itself",
            ktrace_in_a_traced_cgroup_does_not_count_itself,
        ),
        ("attach_prints_interval_reports", attach_prints_interval_reports),
        ("nothing_stays_attached_after_deadline", || nothing_stays_attached(None)),
        ("nothing_stays_attached_after_sigterm", || nothing_stays_attached(Some(libc::SIGTERM))),
        ("nothing_stays_attached_after_sigint", || nothing_stays_attached(Some(libc::SIGINT))),
        (
            "unknown_or_ambiguous_cgroup_is_a_clean_error",
            unknown_or_ambiguous_cgroup_is_a_clean_error,
        ),
        ("a_vanished_cgroup_is_said_once_and_marked", a_vanished_cgroup_is_said_once_and_marked),
        ("the_v2_root_is_traced_only_as_a_slash", the_v2_root_is_traced_only_as_a_slash),
        ("a_cgroup_given_twice_is_refused", a_cgroup_given_twice_is_refused),
        ("unstartable_command_leaves_no_cgroup", unstartable_command_leaves_no_cgroup),
        ("existing_cgroup_name_is_refused", existing_cgroup_name_is_refused),
        ("non_root_user_is_told_to_use_root", non_root_user_is_told_to_use_root),
    ]
}

fn run_counts_exactly_the_commands_syscalls() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let name = format!("ktrace-test-run-{}", std::process::id());
    let (status, stdout, stderr) = ktrace(&[
        "run",
        "--name",
        &name,
        "--output",
        "json",
        "--",
        exe.to_str().unwrap(),
        "workload",
        "getppid=100000",
        "fchdir=7",
    ])?;
    ensure!(status.success(), "ktrace run failed: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    ensure!(report["scope"] == "total", "last report is the total: {report}");
    ensure!(
        counts(&report, "getppid", 0) == (100_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(counts(&report, "fchdir", 0) == (7, 7), "fchdir: {:?}", counts(&report, "fchdir", 0));
    ensure!(report["command"][1] == "workload", "command recorded: {}", report["command"]);
    let path = report["cgroups"][0]["path"].as_str().context("cgroup path")?;
    ensure!(path.ends_with(&name), "cgroup path {path}");
    ensure!(!Path::new(path).exists(), "run must remove its cgroup {path}");
    Ok(())
}

fn run_exits_with_the_commands_status() -> anyhow::Result<()> {
    let (status, _, stderr) = ktrace(&["run", "--", "sh", "-c", "exit 3"])?;
    ensure!(status.code() == Some(3), "exit 3 -> {status}\n{stderr}");
    let (status, _, stderr) = ktrace(&["run", "--", "sh", "-c", "kill -KILL $$"])?;
    ensure!(status.code() == Some(128 + libc::SIGKILL), "SIGKILL -> {status}\n{stderr}");
    Ok(())
}

/// ktrace looks the command up in PATH itself: a search in the child, after it joined the
/// cgroup, would be counted as one failed execve per PATH entry before the right one.
fn run_execs_the_command_exactly_once() -> anyhow::Result<()> {
    let output = std::process::Command::new(crate::support::ktrace_bin())
        .args(["run", "--output", "json", "--", "true"])
        .env("PATH", "/nonexistent-a:/nonexistent-b:/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .context("running ktrace")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "ktrace run -- true: {}\n{stderr}", output.status);
    let report = last_report(&String::from_utf8_lossy(&output.stdout))?;
    ensure!(counts(&report, "execve", 0) == (1, 0), "execve: {:?}", counts(&report, "execve", 0));
    let (status, _, stderr) = ktrace(&["run", "--", "ktrace-no-such-command"])?;
    ensure!(
        status.code() == Some(2) && stderr.contains("not found in PATH"),
        "missing command: {status}\n{stderr}"
    );
    Ok(())
}

/// stdout carries the reports only, in every format; the command's own output goes to stderr.
fn run_keeps_the_commands_output_off_stdout() -> anyhow::Result<()> {
    let chatty = "for i in 1 2 3; do echo chatty line $i; done; echo to stderr >&2";
    let (status, stdout, stderr) = ktrace(&["run", "-o", "json", "--", "sh", "-c", chatty])?;
    ensure!(status.success(), "{status}\n{stderr}");
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .with_context(|| format!("stdout holds a line that is not JSON: {line}"))?;
    }
    ensure!(stderr.contains("chatty line 3") && stderr.contains("to stderr"), "{stderr}");
    let (status, stdout, stderr) = ktrace(&["run", "-o", "csv", "--", "sh", "-c", chatty])?;
    ensure!(status.success(), "{status}\n{stderr}");
    let mut rows = csv::Reader::from_reader(stdout.as_bytes());
    let header = rows.headers()?.clone();
    ensure!(header.get(0) == Some("scope"), "csv header: {header:?}");
    for row in rows.records() {
        let row = row?;
        ensure!(row.len() == header.len(), "a csv row of another shape: {row:?}");
    }
    ensure!(!stdout.contains("chatty line 1"), "{stdout}");
    Ok(())
}

/// A reader that goes away does not end `run`: the command finishes, ktrace says the reports
/// were not delivered and exits with the command's status.
fn run_outlives_a_closed_stdout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let done = dir.path().join("done");
    let script = format!("sleep 1; touch {}; exit 7", done.display());
    let mut child =
        crate::support::ktrace_command(&["run", "-i", "0.1", "--", "sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
    // The reader goes away at once.
    drop(child.stdout.take());
    let output = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.code() == Some(7), "exit status {}:\n{stderr}", output.status);
    ensure!(done.exists(), "the command did not run to its end:\n{stderr}");
    ensure!(stderr.contains("reports since then were not delivered"), "{stderr}");
    ensure!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

fn attach_counts_descendants_but_not_siblings() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["target/child/grandchild", "sibling"]);
    let target = tree.path("target");
    let mut ktrace =
        Ktrace::spawn(&["attach", "--cgroup", target.to_str().unwrap(), "--output", "json"])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    // The sibling makes the same calls at the same time; none of them may be counted.
    let sibling = tree.path("sibling");
    let noise = thread::spawn(move || run_workload_in(&sibling, &["getppid=50000", "fchdir=9"]));
    run_workload_in(&target, &["getppid=20000"])?;
    run_workload_in(&tree.path("target/child/grandchild"), &["getppid=30000", "fchdir=5"])?;
    noise.join().expect("sibling workload")?;
    let report = ktrace.interrupt_for_report()?;
    ensure!(
        counts(&report, "getppid", 0) == (50_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(counts(&report, "fchdir", 0) == (5, 5), "fchdir: {:?}", counts(&report, "fchdir", 0));
    Ok(())
}

/// ktrace caches per CPU which traced cgroups the running task is in; a task that moves
/// itself, without a task switch in between, must be counted from the move on, and no
/// longer once it has left again.
fn a_task_is_counted_only_while_inside() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["target", "outside"]);
    let (target, outside) = (tree.path("target"), tree.path("outside"));
    let mut ktrace =
        Ktrace::spawn(&["attach", "--cgroup", target.to_str().unwrap(), "--output", "json"])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    let join = |dir: &Path| format!("join={}", dir.display());
    run_workload_in(
        &outside,
        &[
            "getppid=1000",
            &join(&target),
            "getppid=20000",
            "fchdir=3",
            &join(&outside),
            "getppid=4000",
            "fchdir=5",
        ],
    )?;
    let report = ktrace.interrupt_for_report()?;
    ensure!(
        counts(&report, "getppid", 0) == (20_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(counts(&report, "fchdir", 0) == (3, 3), "fchdir: {:?}", counts(&report, "fchdir", 0));
    Ok(())
}

/// ktrace inside the cgroup it traces: its own calls (reading the counters with bpf(2) every
/// interval, printing, waiting on its timers) are not the workload's.
fn ktrace_in_a_traced_cgroup_does_not_count_itself() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["home"]);
    let home = tree.path("home");
    let mut command =
        ktrace_command(&["attach", "--cgroup", home.to_str().unwrap(), "-o", "json", "-i", "0.05"]);
    let _procs = join_before_exec(&home, &mut command);
    let mut ktrace = Ktrace::spawn_command(command)?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&home, &["getppid=20000", "fchdir=3"])?;
    // Some intervals more, each read with bpf(2).
    thread::sleep(Duration::from_millis(300));
    let report = ktrace.interrupt_for_report()?;
    ensure!(counts(&report, "getppid", 0) == (20_000, 0), "{:?}", counts(&report, "getppid", 0));
    ensure!(counts(&report, "fchdir", 0) == (3, 3), "{:?}", counts(&report, "fchdir", 0));
    for own in ["bpf", "epoll_wait", "write"] {
        ensure!(counts(&report, own, 0) == (0, 0), "ktrace's own {own} calls were counted");
    }
    Ok(())
}

fn attach_gives_each_cgroup_its_own_column() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["a", "b"]);
    // One by path relative to the v2 mount, one by absolute path.
    let a = format!("{}/a", tree.name);
    let b = tree.path("b");
    let mut ktrace = Ktrace::spawn(&[
        "attach",
        "--cgroup",
        &a,
        "--cgroup",
        b.to_str().unwrap(),
        "-o",
        "json",
        "-d",
        "600",
    ])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&tree.path("a"), &["getppid=1000"])?;
    run_workload_in(&b, &["getppid=2000", "fchdir=3"])?;
    ktrace.signal(libc::SIGTERM);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "ktrace attach: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    ensure!(report["cgroups"][0]["label"] == a.as_str(), "labels: {}", report["cgroups"]);
    ensure!(
        counts(&report, "getppid", 0) == (1000, 0) && counts(&report, "getppid", 1) == (2000, 0),
        "getppid: {report}"
    );
    ensure!(
        counts(&report, "fchdir", 0) == (0, 0) && counts(&report, "fchdir", 1) == (3, 3),
        "fchdir: {report}"
    );
    Ok(())
}

/// `-i` reports every interval, the last partial one included, and they add up to the total
/// exactly: a workload that makes calls across many interval boundaries, three times over.
fn attach_prints_interval_reports() -> anyhow::Result<()> {
    for _ in 0..3 {
        let tree = TestCgroups::new(&[]);
        // By its unique directory name. The workload takes about 0.9 s: the deadline leaves it
        // room on a loaded emulated guest.
        let mut ktrace = Ktrace::spawn(&[
            "attach", "--cgroup", &tree.name, "-o", "json", "-i", "0.2", "-d", "3",
        ])?;
        ktrace.wait_for_stderr("stop with Ctrl-C")?;
        let steps = ["getppid=1000", "sleep-ms=70"].repeat(12);
        run_workload_in(&tree.base, &steps)?;
        let (status, stdout, stderr) = ktrace.finish()?;
        ensure!(status.success(), "ktrace attach: {status}\n{stderr}");
        let reports: Vec<serde_json::Value> =
            stdout.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
        let (intervals, totals): (Vec<_>, Vec<_>) =
            reports.iter().partition(|r| r["scope"] == "interval");
        ensure!(
            totals.len() == 1 && intervals.len() >= 14,
            "{} intervals, {} totals",
            intervals.len(),
            totals.len()
        );
        let interval_sum: u64 = intervals.iter().map(|r| counts(r, "getppid", 0).0).sum();
        let seconds: f64 = intervals.iter().filter_map(|r| r["duration_secs"].as_f64()).sum();
        ensure!(
            interval_sum == 12_000 && counts(totals[0], "getppid", 0).0 == 12_000,
            "intervals {interval_sum}, total {:?}",
            counts(totals[0], "getppid", 0)
        );
        let total_seconds = totals[0]["duration_secs"].as_f64().unwrap_or(0.0);
        ensure!(
            (seconds - total_seconds).abs() < 0.01,
            "intervals cover {seconds} s of a {total_seconds} s trace"
        );
        ensure!(stderr.contains("stopped by the -d deadline"), "{stderr}");
    }
    Ok(())
}

/// ktrace stops by its deadline (`None`) or by `signal`; afterwards none of the programs and
/// links it held may remain in the kernel.
fn nothing_stays_attached(signal: Option<i32>) -> anyhow::Result<()> {
    let tree = TestCgroups::new(&[]);
    let duration = if signal.is_some() { "600" } else { "1" };
    let mut ktrace =
        Ktrace::spawn(&["attach", "--cgroup", tree.base.to_str().unwrap(), "-d", duration])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    let (progs, links) = ktrace.bpf_ids()?;
    ensure!(
        progs.len() >= 2 && links.len() >= 2,
        "ktrace should hold its programs and links: {progs:?} {links:?}"
    );
    let (loaded_progs, loaded_links) = loaded_bpf_ids();
    ensure!(
        progs.iter().all(|p| loaded_progs.contains(p)),
        "programs {progs:?} not found among {loaded_progs:?}"
    );
    ensure!(
        links.iter().all(|l| loaded_links.contains(l)),
        "links {links:?} not found among {loaded_links:?}"
    );
    if let Some(sig) = signal {
        ktrace.signal(sig);
    }
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "ktrace: {status}\n{stderr}");
    ensure!(stdout.contains("TOTAL"), "the final table is printed: {stdout}");
    // Program and link release is asynchronous in the kernel (RCU); give it a moment.
    for _ in 0..50 {
        let (loaded_progs, loaded_links) = loaded_bpf_ids();
        let left: Vec<_> = progs.iter().filter(|p| loaded_progs.contains(p)).collect();
        let left_links: Vec<_> = links.iter().filter(|l| loaded_links.contains(l)).collect();
        if left.is_empty() && left_links.is_empty() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("programs {progs:?} / links {links:?} still loaded after ktrace exited")
}

fn unknown_or_ambiguous_cgroup_is_a_clean_error() -> anyhow::Result<()> {
    expect_error(&["attach", "--cgroup", "ktrace-no-such-cgroup-anywhere"], "not found")?;
    let tree = TestCgroups::new(&["x", "y"]);
    // A name unique to this test, twice in the tree.
    let twin = format!("twin-{}", tree.name);
    fs::create_dir(tree.path(&format!("x/{twin}")))?;
    fs::create_dir(tree.path(&format!("y/{twin}")))?;
    let stderr = expect_error(&["attach", "--cgroup", &twin], "ambiguous")?;
    for side in ["x", "y"] {
        let candidate = tree.path(&format!("{side}/{twin}"));
        ensure!(
            stderr.contains(candidate.to_str().unwrap()),
            "candidate {} not listed: {stderr}",
            candidate.display()
        );
    }
    Ok(())
}

/// A cgroup removed mid-trace used to show as silent zeros: now one line on stderr, and
/// `vanished_at` in every report after it, with the counts made before it exact.
fn a_vanished_cgroup_is_said_once_and_marked() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["gone", "stays"]);
    let (gone, stays) = (tree.path("gone"), tree.path("stays"));
    let mut ktrace = Ktrace::spawn(&[
        "attach",
        "--cgroup",
        gone.to_str().unwrap(),
        "--cgroup",
        stays.to_str().unwrap(),
        "-i",
        "0.2",
        "-o",
        "json",
        "-d",
        "600",
    ])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&gone, &["getppid=1000"])?;
    fs::remove_dir(&gone).context("removing the emptied cgroup")?;
    run_workload_in(&stays, &["getppid=2000"])?;
    // Several checks and intervals after the removal, each of which could repeat the message.
    thread::sleep(Duration::from_millis(800));
    ktrace.signal(libc::SIGTERM);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "ktrace attach: {status}\n{stderr}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("vanished")).collect();
    ensure!(said.len() == 1, "said once: {said:?}");
    ensure!(said[0].contains(&format!("({}, id ", gone.display())), "names it: {}", said[0]);
    let report = last_report(&stdout)?;
    let vanished_at = report["cgroups"][0]["vanished_at"].as_str();
    ensure!(vanished_at.is_some_and(|t| t.ends_with('Z')), "marked: {}", report["cgroups"]);
    ensure!(report["cgroups"][1].get("vanished_at").is_none(), "{}", report["cgroups"]);
    ensure!(
        counts(&report, "getppid", 0) == (1000, 0) && counts(&report, "getppid", 1) == (2000, 0),
        "getppid: {report}"
    );
    let intervals: Vec<serde_json::Value> =
        stdout.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let last_interval = &intervals[intervals.len() - 2];
    ensure!(last_interval["scope"] == "interval", "{last_interval}");
    ensure!(last_interval["cgroups"][0]["vanished_at"].is_string(), "{last_interval}");
    Ok(())
}

/// `./` (or `.`, or the mount path) used to trace every task on the host unannounced.
fn the_v2_root_is_traced_only_as_a_slash() -> anyhow::Result<()> {
    let mount = crate::support::cgroup2_root();
    for spelling in ["./", ".", mount.to_str().unwrap()] {
        expect_error(&["attach", "--cgroup", spelling, "-d", "0.1"], "is the cgroup v2 root")?;
    }
    let (status, _, stderr) = ktrace(&["attach", "--cgroup", "/", "-d", "0.1", "-o", "json"])?;
    ensure!(status.success(), "--cgroup /: {status}\n{stderr}");
    ensure!(stderr.contains("it traces every task on the host"), "{stderr}");
    Ok(())
}

/// `./x`, `x` and the full path used to give three columns counting the same tasks.
fn a_cgroup_given_twice_is_refused() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&[]);
    let relative = format!("./{}", tree.name);
    let full = tree.path("");
    let args = ["--cgroup", &relative, "--cgroup", &tree.name, "--cgroup", full.to_str().unwrap()];
    let stderr =
        expect_error(&[&["attach", "-d", "0.1"], &args[..]].concat(), "are the same cgroup")?;
    ensure!(
        stderr.contains(&format!("--cgroup {relative} and --cgroup {}", tree.name)),
        "names both spellings: {stderr}"
    );
    Ok(())
}

fn unstartable_command_leaves_no_cgroup() -> anyhow::Result<()> {
    let name = format!("ktrace-test-nocmd-{}", std::process::id());
    expect_error(
        &["run", "--name", &name, "--", "/nonexistent/ktrace-test-command"],
        "cannot start",
    )?;
    let path = crate::support::cgroup2_root().join(&name);
    ensure!(!path.exists(), "{} left behind", path.display());
    Ok(())
}

fn existing_cgroup_name_is_refused() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&[]);
    expect_error(&["run", "--name", &tree.name, "--", "true"], "File exists")?;
    ensure!(tree.base.exists(), "the existing cgroup must be left alone");
    Ok(())
}

fn non_root_user_is_told_to_use_root() -> anyhow::Result<()> {
    let (status, stdout, stderr) = crate::support::run_as_nobody(&["attach", "--cgroup", "/"])?;
    ensure!(status.code() == Some(2) && stdout.is_empty(), "as nobody: {status}\n{stderr}");
    ensure!(stderr.lines().count() == 1 && stderr.contains("needs root"), "{stderr}");
    Ok(())
}
