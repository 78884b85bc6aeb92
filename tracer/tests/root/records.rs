//! Root tests of records, `compare` and `serve`: exact counts from controlled workloads, saved
//! and compared, or scraped over loopback and parsed with a real Prometheus parser.
use std::{
    fs,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt as _,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};

use crate::support::{
    Ktrace, Test, TestCgroups, expect_error, in_guest, ktrace, ktrace_command, run_workload_in,
};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        ("records_of_two_cgroups_compare_exactly", records_of_two_cgroups_compare_exactly),
        (
            "existing_record_is_not_replaced_without_force",
            existing_record_is_not_replaced_without_force,
        ),
        ("compare_refuses_what_is_not_a_record", compare_refuses_what_is_not_a_record),
        (
            "records_keep_the_exit_and_compare_says_what_it_left_out",
            records_keep_the_exit_and_compare_says_what_it_left_out,
        ),
        ("serve_exposes_exact_counts_over_loopback", serve_exposes_exact_counts_over_loopback),
        ("serve_latency_histogram_counts_every_call", serve_latency_histogram_counts_every_call),
        (
            "serve_stays_cheap_and_answers_under_slow_clients",
            serve_stays_cheap_and_answers_under_slow_clients,
        ),
        ("guest_records_export_and_plot", guest_records_export_and_plot),
        ("guest_records_lines_render_in_genhtml", guest_records_lines_render_in_genhtml),
        ("guest_records_export_interrupt_context", guest_records_export_interrupt_context),
    ]
}

const GETPPID: u64 = 4321;
const FCHDIR: u64 = 17;

/// Starts `ktrace record -o FILE --cgroup PATH` and waits until it counts.
fn start_record(file: &Path, cgroup: &Path) -> anyhow::Result<Ktrace> {
    let mut k = Ktrace::spawn(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--cgroup",
        cgroup.to_str().unwrap(),
    ])?;
    k.wait_for_stderr("stop with Ctrl-C")?;
    Ok(k)
}

/// A record of `run` said nothing of how its command ended, and compare dropped a sampled
/// record's function table beside a syscalls-only one without a word.
fn records_keep_the_exit_and_compare_says_what_it_left_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (failed, sampled) = (dir.path().join("failed.json"), dir.path().join("sampled.json"));
    let (status, _, stderr) =
        ktrace(&["run", "--record", failed.to_str().unwrap(), "--", "sh", "-c", "exit 3"])?;
    ensure!(status.code() == Some(3), "exit 3 -> {status}\n{stderr}");
    let record: serde_json::Value = serde_json::from_str(&fs::read_to_string(&failed)?)?;
    ensure!(
        record["command_exit"] == serde_json::json!({"status": 3}),
        "{}",
        record["command_exit"]
    );
    let (status, _, stderr) = ktrace(&[
        "run",
        "--sample",
        "--record",
        sampled.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "kill -KILL $$",
    ])?;
    ensure!(status.code() == Some(128 + libc::SIGKILL), "SIGKILL -> {status}\n{stderr}");
    let record: serde_json::Value = serde_json::from_str(&fs::read_to_string(&sampled)?)?;
    ensure!(
        record["command_exit"] == serde_json::json!({"signal": 9}),
        "{}",
        record["command_exit"]
    );
    let (status, stdout, stderr) =
        ktrace(&["compare", failed.to_str().unwrap(), sampled.to_str().unwrap(), "-o", "json"])?;
    ensure!(status.success(), "compare: {status}\n{stderr}");
    let said = "ktrace: left out functions: sampled: sampled kernel functions (statistical \
                samples); failed: syscalls only";
    ensure!(stderr.contains(said), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout)?;
    ensure!(doc["left_out"][0]["section"] == "functions", "{}", doc["left_out"]);
    Ok(())
}

fn records_of_two_cgroups_compare_exactly() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["ppid", "chdir"]);
    let dir = tempfile::tempdir()?;
    let (ppid_file, chdir_file) = (dir.path().join("ppid.json"), dir.path().join("chdir.json"));
    let ppid = start_record(&ppid_file, &tree.path("ppid"))?;
    let chdir = start_record(&chdir_file, &tree.path("chdir"))?;
    run_workload_in(&tree.path("ppid"), &[&format!("getppid={GETPPID}")])?;
    run_workload_in(&tree.path("chdir"), &[&format!("fchdir={FCHDIR}")])?;
    for k in [ppid, chdir] {
        k.signal(libc::SIGINT);
        let (status, _, stderr) = k.finish()?;
        ensure!(status.success(), "ktrace record failed: {status}\n{stderr}");
        ensure!(stderr.contains("wrote the record"), "record written: {stderr}");
    }
    let record: serde_json::Value = serde_json::from_str(&fs::read_to_string(&ppid_file)?)?;
    ensure!(record["record_version"] == 1, "record_version: {}", record["record_version"]);
    ensure!(record["backends"]["syscalls"] == "raw_tracepoint", "backends: {}", record["backends"]);
    ensure!(record["kernel_build_id"].as_str().is_some_and(|id| !id.is_empty()), "build id");

    let (status, csv, stderr) = ktrace(&[
        "compare",
        ppid_file.to_str().unwrap(),
        chdir_file.to_str().unwrap(),
        "-o",
        "csv",
    ])?;
    ensure!(status.success(), "compare failed: {status}\n{stderr}");
    let rows: Vec<&str> = csv.lines().collect();
    for expected in [
        format!("syscall,calls,getppid,,ppid,{GETPPID},,,,ppid"),
        "syscall,calls,getppid,,chdir,0,0.0000,,,ppid".to_owned(),
        "syscall,calls,fchdir,,ppid,0,,,,chdir".to_owned(),
        format!("syscall,calls,fchdir,,chdir,{FCHDIR},,,,chdir"),
    ] {
        ensure!(rows.contains(&expected.as_str()), "no row `{expected}` in:\n{csv}");
    }
    let (status, table, _) =
        ktrace(&["compare", ppid_file.to_str().unwrap(), chdir_file.to_str().unwrap()])?;
    ensure!(status.success(), "compare table: {status}");
    let line = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap_or_default();
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    ensure!(
        words(line("getppid"))
            == ["getppid", &GETPPID.to_string(), "0", "0.00", "only", "in", "ppid"],
        "getppid row: {table}"
    );
    ensure!(
        words(line("fchdir")) == ["fchdir", "0", &FCHDIR.to_string(), "-", "only", "in", "chdir"],
        "fchdir row: {table}"
    );
    Ok(())
}

fn existing_record_is_not_replaced_without_force() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&[]);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("run.json");
    fs::write(&file, "keep me")?;
    expect_error(
        &[
            "record",
            "-o",
            file.to_str().unwrap(),
            "--cgroup",
            tree.base.to_str().unwrap(),
            "-d",
            "1",
        ],
        "exists; pass --force to replace it",
    )?;
    let name = format!("{}-run", tree.name);
    expect_error(
        &["run", "--name", &name, "--record", file.to_str().unwrap(), "--", "true"],
        "exists; pass --force to replace it",
    )?;
    ensure!(fs::read_to_string(&file)? == "keep me", "the record was replaced");
    ensure!(!tree.base.with_file_name(&name).exists(), "run left its cgroup behind");

    // With --force it is replaced, by a record.
    let (status, _, stderr) =
        ktrace(&["run", "--record", file.to_str().unwrap(), "--force", "--", "true"])?;
    ensure!(status.success(), "run --record --force: {status}\n{stderr}");
    let record: serde_json::Value = serde_json::from_str(&fs::read_to_string(&file)?)?;
    ensure!(record["command"][0] == "true", "command: {}", record["command"]);
    ensure!(fs::read_dir(dir.path())?.count() == 1, "a temporary file was left behind");
    Ok(())
}

fn compare_refuses_what_is_not_a_record() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("report.json");
    fs::write(&report, r#"{"schema_version": 1, "scope": "total"}"#)?;
    let future = dir.path().join("future.json");
    fs::write(&future, r#"{"record_version": 99}"#)?;
    let missing = dir.path().join("missing.json");
    let (report, future, missing) =
        (report.to_str().unwrap(), future.to_str().unwrap(), missing.to_str().unwrap());
    expect_error(&["compare", report, report], "not a ktrace record (no record_version)")?;
    expect_error(&["compare", future, report], "record_version 99 is not supported")?;
    expect_error(&["compare", missing, report], "No such file")?;
    Ok(())
}

fn serve_exposes_exact_counts_over_loopback() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["served"]);
    let cgroup = tree.path("served");
    let label = cgroup.to_str().unwrap();
    // A port that was free a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let listen = format!("127.0.0.1:{port}");
    let mut k = Ktrace::spawn(&["serve", "--listen", &listen, "--cgroup", label, "-i", "0.2"])?;
    k.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&cgroup, &[&format!("getppid={GETPPID}")])?;
    // The exposition is refreshed every 0.2 s: wait for the workload's calls to show.
    let deadline = Instant::now() + Duration::from_secs(15);
    let calls = loop {
        let scrape = scrape(&listen)?;
        let value = |metric: &str| {
            scrape.samples.iter().find_map(|s| {
                (s.metric == metric
                    && s.labels.get("cgroup") == Some(label)
                    && s.labels.get("syscall") == Some("getppid"))
                .then_some(match s.value {
                    prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
            })
        };
        match value("ktrace_syscalls_total") {
            Some(n) if n >= GETPPID as f64 || Instant::now() > deadline => {
                ensure!(value("ktrace_syscall_errors_total") == Some(0.0), "errors of getppid");
                break n;
            }
            _ if Instant::now() > deadline => bail!("no getppid counter for {label} in time"),
            _ => thread::sleep(Duration::from_millis(100)),
        }
    };
    ensure!(calls == GETPPID as f64, "ktrace_syscalls_total for getppid: {calls}, not {GETPPID}");
    k.signal(libc::SIGTERM);
    let (status, _, stderr) = k.finish()?;
    ensure!(status.success(), "ktrace serve: {status}\n{stderr}");
    ensure!(TcpStream::connect(&listen).is_err(), "still listening after exit");
    Ok(())
}

/// `serve --latency`: the getppid histogram of the cgroup, read by the real parser, has as
/// many calls as the counter, in cumulative buckets that end with all of them.
fn serve_latency_histogram_counts_every_call() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["timed"]);
    let cgroup = tree.path("timed");
    let label = cgroup.to_str().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let listen = format!("127.0.0.1:{port}");
    let mut k = Ktrace::spawn(&[
        "serve",
        "--latency",
        "--listen",
        &listen,
        "--cgroup",
        label,
        "-i",
        "0.2",
    ])?;
    k.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&cgroup, &[&format!("getppid={GETPPID}")])?;
    let getppid = |scrape: &prometheus_parse::Scrape, metric: &str| {
        scrape.samples.iter().find_map(|s| {
            (s.metric == metric
                && s.labels.get("cgroup") == Some(label)
                && s.labels.get("syscall") == Some("getppid"))
            .then(|| s.value.clone())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let scrape = loop {
        let scrape = scrape(&listen)?;
        match getppid(&scrape, "ktrace_syscall_latency_seconds_count") {
            Some(prometheus_parse::Value::Untyped(n)) if n >= GETPPID as f64 => break scrape,
            _ if Instant::now() > deadline => bail!("no getppid latency for {label} in time"),
            _ => thread::sleep(Duration::from_millis(100)),
        }
    };
    k.signal(libc::SIGTERM);
    let (status, _, stderr) = k.finish()?;
    ensure!(status.success(), "ktrace serve --latency: {status}\n{stderr}");
    let count = getppid(&scrape, "ktrace_syscall_latency_seconds_count");
    ensure!(count == Some(prometheus_parse::Value::Untyped(GETPPID as f64)), "count: {count:?}");
    // The parser reads `_total` samples of a counter family as untyped.
    let calls = getppid(&scrape, "ktrace_syscalls_total");
    ensure!(calls == Some(prometheus_parse::Value::Untyped(GETPPID as f64)), "calls: {calls:?}");
    let Some(prometheus_parse::Value::Histogram(buckets)) =
        getppid(&scrape, "ktrace_syscall_latency_seconds")
    else {
        bail!("no getppid latency histogram");
    };
    ensure!(
        buckets.windows(2).all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count),
        "buckets are cumulative: {buckets:?}"
    );
    let last = buckets.last().map(|b| (b.less_than, b.count));
    ensure!(last == Some((f64::INFINITY, GETPPID as f64)), "the +Inf bucket: {buckets:?}");
    // getppid does not block: nearly all calls return within 1 ms (2^20 ns).
    let under_1ms = buckets.iter().find(|b| b.less_than == (1u64 << 20) as f64 / 1e9);
    ensure!(
        under_1ms.is_some_and(|b| b.count >= 0.99 * GETPPID as f64),
        "getppid under 1.05 ms: {buckets:?}"
    );
    Ok(())
}

/// Clients that send half a request and stay, under a low file descriptor limit: ktrace
/// must neither spin on failing accepts nor log each one, must drop the slow clients, and a
/// real scrape must get through behind them.
fn serve_stays_cheap_and_answers_under_slow_clients() -> anyhow::Result<()> {
    const SLOW_CLIENTS: usize = 60;
    const FD_LIMIT: u64 = 64;
    let tree = TestCgroups::new(&["served"]);
    let cgroup = tree.path("served");
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = ktrace_command(&[
        "serve",
        "--listen",
        &listen,
        "--cgroup",
        cgroup.to_str().unwrap(),
        "-i",
        "0.2",
    ]);
    // SAFETY: setrlimit(2) is async-signal-safe and reads only the local `limit`.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: FD_LIMIT, rlim_max: FD_LIMIT };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let mut k = Ktrace::spawn_command(command)?;
    k.wait_for_stderr("stop with Ctrl-C")?;
    let slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut s = TcpStream::connect(&listen)?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")?;
            Ok(s)
        })
        .collect::<anyhow::Result<_>>()?;
    let cpu_before = cpu_time(k.pid())?;
    thread::sleep(Duration::from_secs(3));
    let cpu = cpu_time(k.pid())? - cpu_before;
    // A spinning accept loop takes most of the 3 s; the emulated guest runs ktrace's
    // periodic reads about 10x slower than the host.
    let budget = Duration::from_millis(if in_guest() { 1000 } else { 300 });
    ensure!(cpu < budget, "ktrace used {cpu:?} of CPU in 3 s of slow clients");
    // Queued behind the slow clients, which ktrace drops a few seconds after accepting them.
    let started = Instant::now();
    let scrape = loop {
        match scrape(&listen) {
            Ok(scrape) => break scrape,
            Err(e) if started.elapsed() > Duration::from_secs(40) => {
                k.signal(libc::SIGTERM);
                let (status, _, stderr) = k.finish()?;
                bail!(
                    "no answer within 40 s behind slow clients: {e:#}; ktrace {status}:\n{stderr}"
                )
            }
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    };
    ensure!(
        scrape.samples.iter().all(|s| s.metric.starts_with("ktrace_")),
        "an exposition of ktrace's"
    );
    drop(slow);
    k.signal(libc::SIGTERM);
    let (status, _, stderr) = k.finish()?;
    ensure!(status.success(), "ktrace serve: {status}\n{stderr}");
    let warnings = stderr.lines().filter(|l| l.contains("accepting a metrics connection")).count();
    ensure!(warnings <= 6, "{warnings} warnings about accepting:\n{stderr}");
    Ok(())
}

/// User plus system CPU time of process `pid` so far.
fn cpu_time(pid: i32) -> anyhow::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').context("malformed stat")?.1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Ok(Duration::from_millis(ticks * 1000 / per_second))
}

/// `GET /metrics` over a plain TCP connection, parsed with prometheus-parse.
fn scrape(addr: &str) -> anyhow::Result<prometheus_parse::Scrape> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP header end")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "status: {head}");
    ensure!(head.contains("application/openmetrics-text"), "content type: {head}");
    ensure!(body.ends_with("# EOF\n"), "an OpenMetrics exposition ends with # EOF: {body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .context("parsing the exposition")
}

/// `ktrace export --format lcov RECORD -o INFO`, which must succeed.
fn export_lcov(record: &Path, info: &Path) -> anyhow::Result<()> {
    let (status, _, stderr) = ktrace(&[
        "export",
        "--format",
        "lcov",
        record.to_str().unwrap(),
        "-o",
        info.to_str().unwrap(),
    ])?;
    ensure!(status.success(), "export {}: {status}\n{stderr}", record.display());
    Ok(())
}

/// Where `cargo xtask test` put the files the 6.12 guest's tests left; elsewhere `None`,
/// said on stderr.
fn guest_out() -> Option<std::ffi::OsString> {
    let out = std::env::var_os("KTRACE_GUEST_OUT");
    if out.is_none() {
        eprintln!("skipped: runs in `cargo xtask test`, after the guests made their records");
    }
    out
}

/// The network and file records the 6.12 guest made (functions.rs), on the host, which has
/// that kernel's DWARF: the lcov export renders with genhtml showing `net/` and `fs/` with
/// entered functions, and the comparison's figure shows both runs. `cargo xtask test` runs
/// this after the guests, naming their output directory in `KTRACE_GUEST_OUT`.
fn guest_records_export_and_plot() -> anyhow::Result<()> {
    let Some(out) = guest_out() else { return Ok(()) };
    let records = Path::new(&out).join("network-vs-file");
    let (net, file) = (records.join("net.json"), records.join("file.json"));
    ensure!(net.is_file() && file.is_file(), "the guest left no records in {}", records.display());
    let dir = tempfile::tempdir()?;
    for (record, hit_dir) in [(&net, "net/core"), (&file, "fs")] {
        let info = record.with_extension("info");
        let info = dir.path().join(info.file_name().context("file name")?);
        export_lcov(record, &info)?;
        let html = dir.path().join(hit_dir.replace('/', "_"));
        let genhtml =
            Command::new("genhtml").arg("--no-source").arg("-o").arg(&html).arg(&info).output()?;
        ensure!(genhtml.status.success(), "genhtml: {}", String::from_utf8_lossy(&genhtml.stderr));
        // genhtml's index row of a directory: its link, then "hit / total" of lines, then
        // of functions.
        let index = fs::read_to_string(html.join("index.html"))?;
        let row = index
            .split(&format!(">{hit_dir}</a>"))
            .nth(1)
            // Up to the next row's file cell (the coverage bar holds a table of its own).
            .and_then(|rest| rest.split("coverFile").next())
            .with_context(|| {
                format!("{hit_dir} missing from the report of {}", record.display())
            })?;
        let pairs: Vec<(u64, u64)> = row
            .split("\">")
            .filter_map(|cell| {
                let (hit, total) = cell.split('<').next()?.split_once(" / ")?;
                Some((hit.trim().parse().ok()?, total.trim().parse().ok()?))
            })
            .collect();
        ensure!(
            pairs.len() == 2 && pairs[1].0 > 0 && pairs[1].0 <= pairs[1].1,
            "{hit_dir} in the report of {}: functions hit / total {pairs:?}",
            record.display()
        );
    }
    // lcov's differential view: the file run against the network run as baseline.
    let diff = Command::new("genhtml")
        .arg("--no-source")
        .arg("--baseline-file")
        .arg(dir.path().join("net.info"))
        .arg("-o")
        .arg(dir.path().join("diff"))
        .arg(dir.path().join("file.info"))
        .output()?;
    ensure!(
        diff.status.success(),
        "genhtml --baseline-file: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let diff_index = fs::read_to_string(dir.path().join("diff/index.html"))?;
    ensure!(diff_index.contains(">fs</a>"), "the differential report lacks fs");
    let svg = dir.path().join("cmp.svg");
    let (status, table, stderr) = ktrace(&[
        "compare",
        net.to_str().unwrap(),
        file.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ])?;
    ensure!(status.success(), "compare: {status}\n{stderr}");
    ensure!(table.contains("Source directories"), "no directory section:\n{table}");
    let figure = fs::read_to_string(&svg)?;
    // Runs, directories and ticks as SVG text; the subtitle names the records.
    for text in ["net", "file", "net/core", "fs", "100%", "10¹"] {
        ensure!(figure.contains(&format!(">{text}</text>")), "{text} missing from the figure");
    }
    ensure!(figure.contains(">records net.json, file.json · kernel "), "no subtitle");
    Ok(())
}

/// The guest's line record (lines::lines_count_every_copy_exactly_per_cgroup) exported as an
/// lcov tracefile needs no DWARF; genhtml, run beside the kernel's source files, shows each
/// counted line's hits next to its text, as gcov's coverage did in the seed study.
fn guest_records_lines_render_in_genhtml() -> anyhow::Result<()> {
    let Some(out) = guest_out() else { return Ok(()) };
    let record = Path::new(&out).join("lines/net.json");
    ensure!(record.is_file(), "the guest left no line record at {}", record.display());
    let text: serde_json::Value = serde_json::from_str(&fs::read_to_string(&record)?)?;
    let release = text["kernel_release"].as_str().context("kernel_release")?;
    let source = Path::new("/var/cache/ktrace/source").join(release);
    ensure!(source.is_dir(), "no source files of {release} in {}", source.display());
    let dir = tempfile::tempdir()?;
    let info = dir.path().join("net.info");
    export_lcov(&record, &info)?;
    // The record's hits of the IFF_UP test, which the tracefile and genhtml must show.
    let function = text["kernel_lines"]["functions"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "__is_skb_forwardable"))
        .context("no __is_skb_forwardable in the record")?;
    let up = function["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["text"].as_str().is_some_and(|t| t.contains("IFF_UP"))))
        .context("no IFF_UP line in the record")?;
    let (line, hits) =
        (up["line"].as_u64().context("line")?, up["counts"][0].as_u64().context("hits")?);
    ensure!(hits > 0, "the IFF_UP line never ran: {up}");
    let tracefile = fs::read_to_string(&info)?;
    ensure!(
        tracefile.contains("SF:include/linux/netdevice.h\n")
            && tracefile.contains(&format!("DA:{line},{hits}\n")),
        "no DA:{line},{hits} for include/linux/netdevice.h in:\n{tracefile}"
    );
    let html = dir.path().join("html");
    let genhtml =
        Command::new("genhtml").current_dir(&source).arg("-o").arg(&html).arg(&info).output()?;
    ensure!(genhtml.status.success(), "genhtml: {}", String::from_utf8_lossy(&genhtml.stderr));
    // genhtml drops the directories all files share: the page may be linux/netdevice.h's.
    let page = ["include/linux/netdevice.h.gcov.html", "linux/netdevice.h.gcov.html"]
        .iter()
        .map(|p| html.join(p))
        .find(|p| p.is_file())
        .context("genhtml wrote no page for netdevice.h")?;
    // `<a name="4070"><span class="lineNum"> 4070 </span><span class="lineCov"> 42 : code`
    let page = fs::read_to_string(&page)?;
    let row = page
        .split(&format!("<a name=\"{line}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</a>").next())
        .with_context(|| format!("no line {line} on the page"))?;
    let shown: Option<u64> = row
        .split("\">")
        .nth(2)
        .and_then(|cell| cell.split(':').next())
        .and_then(|n| n.trim().parse().ok());
    ensure!(shown == Some(hits), "genhtml shows line {line} as {row}, not {hits} hits");
    ensure!(row.contains("IFF_UP"), "genhtml shows no source text at line {line}: {row}");
    Ok(())
}

/// The 6.12 guest's record of 50 pings over a veth pair with `--irq separate`
/// (functions.rs), exported on the host: `ip_rcv` ran only in interrupts, so the run's own
/// tracefile has it never entered, `--irq task` adds the at least 50 entries in interrupts
/// while the run was current, and `(interrupts)` has at least as many, rendered by genhtml.
fn guest_records_export_interrupt_context() -> anyhow::Result<()> {
    let Some(out) = guest_out() else { return Ok(()) };
    let record = Path::new(&out).join("interrupts").join("separate.json");
    ensure!(record.is_file(), "the guest left no record at {}", record.display());
    let dir = tempfile::tempdir()?;
    let export = |name: &str, args: &[&str]| -> anyhow::Result<(u64, std::path::PathBuf)> {
        let info = dir.path().join(format!("{name}.info"));
        let mut all = vec!["export", record.to_str().unwrap(), "-o", info.to_str().unwrap()];
        all.extend(args);
        let (status, _, stderr) = ktrace(&all)?;
        ensure!(status.success(), "export {args:?}: {status}\n{stderr}");
        let text = fs::read_to_string(&info)?;
        let entries = text
            .lines()
            .find_map(|l| l.strip_prefix("FNDA:")?.strip_suffix(",ip_rcv")?.parse().ok())
            .with_context(|| format!("no ip_rcv in the tracefile of {args:?}:\n{text}"))?;
        Ok((entries, info))
    };
    let (own, _) = export("own", &[])?;
    let (with_interrupts, _) = export("task", &["--irq", "task"])?;
    let (machine, info) = export("interrupts", &["--cgroup", "(interrupts)"])?;
    ensure!(
        own == 0 && with_interrupts >= 50 && machine >= with_interrupts,
        "ip_rcv: own {own}, with interrupts {with_interrupts}, machine {machine}"
    );
    let html = dir.path().join("html");
    let genhtml =
        Command::new("genhtml").arg("--no-source").arg("-o").arg(&html).arg(&info).output()?;
    ensure!(genhtml.status.success(), "genhtml: {}", String::from_utf8_lossy(&genhtml.stderr));
    let index = fs::read_to_string(html.join("index.html"))?;
    ensure!(index.contains(">net/ipv4</a>"), "net/ipv4 (ip_rcv) missing from the report");
    Ok(())
}
