//! Benchmark of ktrace's memory on this host, run as root by `cargo xtask bench`: the peak
//! resident set of `ktrace attach` tracing 16 cgroups for a few seconds while a child in each
//! makes syscalls, with syscalls only, with `--sample` and with `--latency`, interleaved over
//! a few rounds. The guest half (`--all`, which needs kprobe.multi) is in benches/attach.rs.
//!
//! Most of the peak is passing: at the start, the kernel's BTF (5 MB) is parsed twice, once
//! for the kernel's layout and once by aya's loader; what stays is far less.
//!
//! The report is Markdown, printed and written to the file named by the first argument, with
//! the targets beside it as tab-separated lines (target, median, min, max, met) for `cargo
//! xtask bench` to compare runs; the exit status is 1 when the target is missed.
#[path = "common/peak_rss.rs"]
mod peak_rss;

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use tracer::cgroup::Hierarchy;

const CGROUPS: usize = 16;
const ROUNDS: usize = 3;
const SECONDS: &str = "3";
/// Issue 17's target for syscalls, and for syscalls with samples.
const TARGET_MIB: f64 = 32.0;
/// Set, to the cgroup directory to join, in the children that make syscalls until killed.
const WORKER: &str = "KTRACE_BENCH_WORKER_IN";

/// The configurations measured: their options, and whether the target applies.
const MODES: [(&str, &[&str], bool); 3] = [
    ("syscalls only", &[], true),
    ("--sample", &["--sample"], true),
    ("--latency", &["--latency"], false),
];

fn main() -> ExitCode {
    let result = match std::env::var_os(WORKER) {
        Some(dir) => work_in(Path::new(&dir)).map(|()| true),
        None => run(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("memory bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures and reports; false when the target is missed.
fn run() -> anyhow::Result<bool> {
    let out = std::env::args().nth(1).map(PathBuf::from);
    let hierarchy = Hierarchy::discover()?;
    let pid = std::process::id();
    let cgroups = (0..CGROUPS)
        .map(|i| hierarchy.create(&format!("ktrace-bench-memory-{pid}-{i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut workers = Workers(Vec::new());
    for (_, cgroup) in &cgroups {
        let worker = Command::new("/proc/self/exe")
            .env(WORKER, &cgroup.path)
            .spawn()
            .context("starting a worker")?;
        workers.0.push(worker);
    }
    let mut peaks = vec![Vec::new(); MODES.len()];
    for round in 0..ROUNDS {
        for i in 0..MODES.len() {
            let m = (i + round) % MODES.len();
            let mut ktrace = Command::new(env!("CARGO_BIN_EXE_ktrace"));
            ktrace.arg("attach").args(["-d", SECONDS]).args(MODES[m].1);
            for (_, cgroup) in &cgroups {
                ktrace.arg("--cgroup").arg(&cgroup.path);
            }
            ktrace.stdout(Stdio::null()).stderr(Stdio::null());
            peaks[m].push(peak_rss::peak_rss_mib(&mut ktrace)?);
        }
        eprintln!("memory bench: round {} of {ROUNDS} done", round + 1);
    }
    // The workers go before their cgroups.
    drop(workers);
    drop(cgroups);
    let mut text = format!(
        "## Memory on this host\n\nPeak resident set (`ru_maxrss`) of `ktrace attach` tracing \
         {CGROUPS} cgroups for {SECONDS} s, a child making syscalls in each; median of \
         {ROUNDS} interleaved runs [min-max].\n\n| configuration | peak RSS | target |\n\
         |---|---:|---|\n"
    );
    let mut met = true;
    let mut tsv = String::new();
    for ((name, _, targeted), mut peaks) in MODES.into_iter().zip(peaks) {
        peaks.sort_by(f64::total_cmp);
        let median = peaks[peaks.len() / 2];
        let verdict = match (targeted, median <= TARGET_MIB) {
            (false, _) => String::new(),
            (true, true) => format!("<= {TARGET_MIB} MiB: met"),
            (true, false) => format!("<= {TARGET_MIB} MiB: **missed**"),
        };
        met &= !targeted || median <= TARGET_MIB;
        if targeted {
            let _ = writeln!(
                tsv,
                "ktrace's peak RSS, {name}, <= {TARGET_MIB} MiB\t{median:.1}\t{:.1}\t{:.1}\t{}",
                peaks[0],
                peaks[peaks.len() - 1],
                if median <= TARGET_MIB { "yes" } else { "no" }
            );
        }
        let _ = writeln!(
            text,
            "| {name} | {median:.1} MiB [{:.1}-{:.1}] | {verdict} |",
            peaks[0],
            peaks[peaks.len() - 1]
        );
    }
    print!("{text}");
    if let Some(path) = out {
        write(&path, &text)?;
        write(&path.with_extension("tsv"), &tsv)?;
    }
    if !met {
        eprintln!("memory bench: missed target: ktrace's peak RSS <= {TARGET_MIB} MiB");
    }
    Ok(met)
}

/// In a worker: joins the cgroup at `dir`, then makes syscalls (getppid, and reads of a
/// /proc file, for a varied kernel profile) until killed.
fn work_in(dir: &Path) -> anyhow::Result<()> {
    fs::write(dir.join("cgroup.procs"), "0")
        .with_context(|| format!("moving a worker into {}", dir.display()))?;
    loop {
        for _ in 0..100 {
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
            fs::read("/proc/self/stat").context("reading /proc/self/stat")?;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The worker processes, killed and reaped when dropped.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.0 {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("report path without a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = tempfile::NamedTempFile::new_in(dir)?;
    fs::write(file.path(), text).with_context(|| format!("writing {}", path.display()))?;
    file.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
