//! Benchmark of syscall counting on this host, run as root by `cargo xtask bench`: the cost per
//! getppid(2) of a task in the traced cgroup and of one outside every traced cgroup, with
//!
//! - nothing attached,
//! - an empty raw tracepoint pair on `sys_enter` and `sys_exit`: the floor of the mechanism,
//!   what any counter built on these tracepoints pays before it does anything,
//! - ktrace counting syscalls (blocked-syscall accounting included: it is always on),
//! - ktrace `--latency`: the same, and a latency histogram per syscall,
//! - bpftrace counting the same per cgroup: calls and failures by syscall number, behind a
//!   `cgroup ==` filter, on the `raw_syscalls` tracepoints,
//! - bpftrace doing `--latency`'s job too: a start time per thread at `sys_enter`, a `hist()`
//!   per syscall at `sys_exit`.
//!
//! ktrace never counts its own process, which the bench is, so each loop runs in a child
//! process that joins the measured cgroup first; under ktrace, the bench checks that the
//! traced cgroup's getppid count (and with `--latency`, its histogram) grew by exactly the
//! calls the child made, and not at all while the child outside looped.
//!
//! The machine is shared and noisy, so every round attaches each configuration in turn (in
//! an order that rotates with the round) and times both tasks under it; the figures are
//! medians over the rounds, and each ratio is the median of the ratios within a round, so that
//! drift between rounds cancels out. The report is Markdown, printed and written to the file
//! named by the first argument, with the targets beside it as tab-separated lines (target,
//! median, min, max, met) for `cargo xtask bench` to compare runs; the exit status is 1 when a
//! target is missed, and the report says which.
//!
//! A configuration is one [`Setup`]: name, attach, and its place in `Setup::ALL` give it a
//! row (the rows of `--irq separate`, issue 16, go in this way).
//!
//! The kernel's clock on the programs (`bpf_stats`) then shows where the cost goes: ktrace's
//! pair, with and without `--latency`, beside the empty pair. And since no counter built on
//! these tracepoints adds less than the empty pair, the empty pair's added cost over
//! bpftrace's bounds the target against bpftrace from below: the report says when that bound
//! is above the target.
#[path = "common/probes.rs"]
mod probes;
#[path = "common/report.rs"]
mod report;

use std::{
    any::Any,
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::{BufRead as _, BufReader},
    os::fd::OwnedFd,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
};

use anyhow::{Context as _, bail};
use aya_obj::generated::{bpf_insn, bpf_prog_type};
use tracer::{
    attach::{
        Probes,
        raw::{self, LoadSpec},
    },
    cgroup::{Cgroup, Hierarchy},
    collect::{Snapshot, Syscall},
};
use tracer_common::Abi;

use probes::Counting;
use report::{Target, judge, median, spread, write_atomically};

const ROUNDS: usize = 9;
/// Loops per configuration, task and round, and calls per loop.
const SAMPLES: usize = 11;
const CALLS: u64 = 20_000;
const WARM_UP_CALLS: u64 = 10_000;
/// The getppid calls of one loop child: its warm-up and its timed loops.
const CHILD_CALLS: u64 = WARM_UP_CALLS + SAMPLES as u64 * CALLS;
/// Set, to the cgroup directory to join, in the child that runs a loop.
const LOOP_CHILD: &str = "KTRACE_BENCH_LOOP_IN";
const GETPPID: Syscall = Syscall { abi: Abi::X86_64, nr: libc::SYS_getppid as usize };

/// The targets of issue 17, as ratios within one run.
const COUNTING_OVER_FLOOR: f64 = 1.10;
const ADDED_COST_OVER_BPFTRACE: f64 = 0.35;
const OUTSIDE_OVER_FLOOR: f64 = 1.05;
/// Issue 15's: `--latency` adds at most 1.5x what plain counting adds per call.
const LATENCY_OVER_COUNTING: f64 = 1.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Nothing,
    EmptyPair,
    Ktrace,
    KtraceLatency,
    Bpftrace,
    BpftraceLatency,
}

impl Setup {
    const ALL: [Self; 6] = [
        Self::Nothing,
        Self::EmptyPair,
        Self::Ktrace,
        Self::KtraceLatency,
        Self::Bpftrace,
        Self::BpftraceLatency,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Nothing => "nothing attached",
            Self::EmptyPair => "empty raw tracepoint pair (the floor)",
            Self::Ktrace => "ktrace (blocked-syscall accounting always on)",
            Self::KtraceLatency => "ktrace --latency",
            Self::Bpftrace => "bpftrace, the same counts per cgroup",
            Self::BpftraceLatency => "bpftrace, the same counts and hist() per syscall",
        }
    }

    /// Attaches this configuration for `traced`; dropping the result detaches it.
    fn attach(self, traced: &Cgroup) -> anyhow::Result<Attached> {
        Ok(match self {
            Self::Nothing => Attached::Other(Box::new(())),
            Self::EmptyPair => Attached::Other(Box::new(empty_pair()?)),
            Self::Ktrace | Self::KtraceLatency => {
                let latency = self == Self::KtraceLatency;
                let counting = Counting { latency, ..Counting::default() };
                Attached::Ktrace(Box::new(probes::attach(traced, counting)?))
            }
            Self::Bpftrace | Self::BpftraceLatency => {
                Attached::Other(Box::new(Bpftrace::start(traced, self == Self::BpftraceLatency)?))
            }
        })
    }
}

/// An attached configuration, until dropped; ktrace's, whose counts the bench checks, apart.
enum Attached {
    Ktrace(Box<Probes>),
    Other(#[expect(dead_code, reason = "held only to be dropped, which detaches it")] Box<dyn Any>),
}

impl Attached {
    /// Runs a loop child in `traced` and one in `outside`: their ns per call. Under ktrace,
    /// checks that exactly the first child's calls were counted (and timed, with `--latency`).
    fn time_loops(&self, traced: &Cgroup, outside: &Cgroup) -> anyhow::Result<(f64, f64)> {
        let Self::Ktrace(probes) = self else {
            return Ok((loop_in(&traced.path)?, loop_in(&outside.path)?));
        };
        let before = probes.snapshot()?;
        let inside_ns = loop_in(&traced.path)?;
        let between = probes.snapshot()?;
        let outside_ns = loop_in(&outside.path)?;
        let after = probes.snapshot()?;
        check_counted(&between.since(&before), CHILD_CALLS, "the child in the traced cgroup")?;
        check_counted(&after.since(&between), 0, "the child outside")?;
        Ok((inside_ns, outside_ns))
    }
}

/// Fails unless slot 0 of `delta` has exactly `calls` getppid calls, and as many timed when
/// latencies are kept.
fn check_counted(delta: &Snapshot, calls: u64, made_by: &str) -> anyhow::Result<()> {
    let counted = delta.syscalls[0].get(GETPPID).calls;
    if counted != calls {
        bail!("ktrace counted {counted} getppid calls while {made_by} made {calls}");
    }
    if let Some(latency) = &delta.latency {
        let timed: u64 = latency[0].get(Some(GETPPID)).map_or(0, |buckets| buckets.iter().sum());
        if timed != calls {
            bail!("ktrace --latency timed {timed} getppid calls while {made_by} made {calls}");
        }
    }
    Ok(())
}

/// Per round, per setup (in `Setup::ALL` order): ns per call of the task in the traced cgroup
/// and of the task outside.
type Timings = Vec<[Option<(f64, f64)>; Setup::ALL.len()]>;

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(LOOP_CHILD) {
        return match loop_child(Path::new(&dir)) {
            Ok(ns) => {
                println!("{ns}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("syscall bench loop: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("syscall bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the rounds and reports; false when a target is missed.
fn run() -> anyhow::Result<bool> {
    let out = std::env::args().nth(1).map(PathBuf::from);
    let hierarchy = Hierarchy::discover()?;
    let pid = std::process::id();
    let (traced_dir, traced) = hierarchy.create(&format!("ktrace-bench-traced-{pid}"))?;
    let (outside_dir, outside) = hierarchy.create(&format!("ktrace-bench-outside-{pid}"))?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The loop children inherit the pinning.
    pin_to(cpus - 1)?;
    let timings = measure(&traced, &outside);
    let run_times = timings.is_ok().then(|| -> anyhow::Result<_> {
        let mut rows = run_times(&traced, &outside, false)?;
        rows.extend(run_times(&traced, &outside, true)?);
        Ok(rows)
    });
    drop((traced_dir, outside_dir));
    let mut report = report(&timings?, cpus);
    if let Some(run_times) = run_times {
        report.text += &run_times_table(&run_times?);
    }
    print!("{}", report.text);
    if let Some(path) = out {
        write_atomically(&path, &report.text)?;
        write_atomically(&path.with_extension("tsv"), &report.targets)?;
        eprintln!("syscall bench: wrote {}", path.display());
    }
    for missed in &report.missed {
        eprintln!("syscall bench: missed target: {missed}");
    }
    Ok(report.missed.is_empty())
}

fn measure(traced: &Cgroup, outside: &Cgroup) -> anyhow::Result<Timings> {
    let mut timings = Vec::new();
    for round in 0..ROUNDS {
        let mut this_round = [None; Setup::ALL.len()];
        for i in 0..Setup::ALL.len() {
            let s = (i + round) % Setup::ALL.len();
            let setup = Setup::ALL[s];
            let attached = setup.attach(traced)?;
            let times = attached
                .time_loops(traced, outside)
                .with_context(|| format!("timing under {}", setup.name()))?;
            drop(attached);
            this_round[s] = Some(times);
        }
        timings.push(this_round);
        eprintln!("syscall bench: round {} of {ROUNDS} done", round + 1);
    }
    Ok(timings)
}

/// The kernel's clock on each program (`kernel.bpf_stats_enabled`; it adds its own cost):
/// ns per run of ktrace's pair and the empty pair, attached side by side, while a child
/// loops in the traced cgroup and then one outside. Other tasks' syscalls run the programs
/// too, untraced, while the loops run. With `latency`, ktrace's pair is `--latency`'s (the
/// same programs, loaded with LATENCY=1), and only its rows are kept, named so.
fn run_times(
    traced: &Cgroup,
    outside: &Cgroup,
    latency: bool,
) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let _empty = empty_pair()?;
    let _ktrace = probes::attach(traced, Counting { latency, ..Counting::default() })?;
    fs::write(BPF_STATS, "1").context("enabling BPF run-time statistics")?;
    let stats = (|| {
        let before = program_stats()?;
        loop_in(&traced.path)?;
        let between = program_stats()?;
        loop_in(&outside.path)?;
        let after = program_stats()?;
        let per_run =
            |from: &BTreeMap<String, (u64, u64)>, to: &BTreeMap<String, (u64, u64)>, name: &str| {
                let ((ns0, n0), (ns1, n1)) = (from.get(name).copied()?, to.get(name).copied()?);
                Some((ns1 - ns0) as f64 / (n1 - n0).max(1) as f64)
            };
        Ok(PROGRAMS
            .iter()
            .filter(|name| !latency || name.starts_with("kt_sys_"))
            .filter_map(|&name| {
                Some((
                    if latency { format!("{name} with --latency") } else { name.to_owned() },
                    per_run(&before, &between, name)?,
                    per_run(&between, &after, name)?,
                ))
            })
            .collect())
    })();
    fs::write(BPF_STATS, "0").context("disabling BPF run-time statistics")?;
    stats
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";
/// The programs on sys_enter and sys_exit, as the kernel names them (15 characters at most).
const PROGRAMS: [&str; 4] = ["kt_bench_enter", "kt_sys_enter", "kt_bench_exit", "kt_sys_exit"];

/// (run time in ns, runs) of each of [`PROGRAMS`] loaded now.
fn program_stats() -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let mut stats = BTreeMap::new();
    for info in aya::programs::loaded_programs() {
        let info = info?;
        if let Some(name) = info.name_as_str().filter(|n| PROGRAMS.contains(n)) {
            stats.insert(name.to_owned(), (info.run_time().as_nanos() as u64, info.run_count()));
        }
    }
    Ok(stats)
}

fn run_times_table(run_times: &[(String, f64, f64)]) -> String {
    let mut text = String::from(
        "\nRun time per call by kernel.bpf_stats_enabled (its own clock reads included), \
         ktrace's and the empty programs attached side by side (ktrace's with --latency in a \
         second pass, beside the empty pair again):\n\n\
         | program | traced task looping | task outside looping |\n|---|---:|---:|\n",
    );
    for (name, traced, outside) in run_times {
        let _ = writeln!(text, "| {name} | {traced:.1} ns | {outside:.1} ns |");
    }
    text
}

/// Nanoseconds per getppid(2) of a child process in the cgroup at `dir` (see [`loop_child`]).
fn loop_in(dir: &Path) -> anyhow::Result<f64> {
    let output = Command::new("/proc/self/exe")
        .env(LOOP_CHILD, dir)
        .stderr(Stdio::inherit())
        .output()
        .context("running a loop child")?;
    if !output.status.success() {
        bail!("the loop child in {} failed: {}", dir.display(), output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().with_context(|| format!("the loop child's ns per call: {text:?}"))
}

/// In the loop child: joins the cgroup at `dir`, then makes [`CHILD_CALLS`] getppid calls:
/// the median ns per call of SAMPLES loops of CALLS calls, each timed by this thread's own
/// CPU clock, which stops while other tasks have the CPU (wall time here mostly measures the
/// neighbours).
fn loop_child(dir: &Path) -> anyhow::Result<f64> {
    join(dir)?;
    calls(WARM_UP_CALLS);
    let samples = (0..SAMPLES)
        .map(|_| {
            let start = thread_cpu_ns();
            calls(CALLS);
            (thread_cpu_ns() - start) as f64 / CALLS as f64
        })
        .collect();
    Ok(median(samples))
}

/// This thread's CPU time (user and kernel), in nanoseconds.
fn thread_cpu_ns() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime writes into it.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

fn calls(n: u64) {
    for _ in 0..n {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
}

/// Moves this process into the cgroup at `dir`.
fn join(dir: &Path) -> anyhow::Result<()> {
    fs::write(dir.join("cgroup.procs"), "0")
        .with_context(|| format!("moving the loop child into {}", dir.display()))
}

fn pin_to(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `cpu` is an online CPU's number.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is this thread; `set` is a valid cpu_set_t.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        bail!("pinning the bench to CPU {cpu}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// `r0 = 0; exit` on sys_enter and on sys_exit.
fn empty_pair() -> anyhow::Result<Vec<OwnedFd>> {
    // SAFETY: bpf_insn is plain old data.
    let mut insns: [bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K, dst r0, imm 0
    insns[1].code = 0x95; // BPF_JMP | BPF_EXIT
    let mut held = Vec::new();
    for (name, tracepoint) in [("kt_bench_enter", c"sys_enter"), ("kt_bench_exit", c"sys_exit")] {
        let spec = LoadSpec {
            name,
            prog_type: bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
            expected_attach_type: None,
            attach_btf_id: None,
        };
        let prog = raw::load(&spec, &insns)?;
        let link = raw::raw_tracepoint_open(&prog, tracepoint)
            .with_context(|| format!("attaching {name}"))?;
        held.extend([prog, link]);
    }
    Ok(held)
}

/// bpftrace counting calls and failures per syscall of one cgroup, and with `latency` a
/// histogram of each syscall's time, until dropped.
struct Bpftrace(Child);

impl Bpftrace {
    /// Starts bpftrace (in the bench's cgroup, so in neither measured one) and waits until
    /// its probes are attached. tracefs, whose event formats bpftrace reads, is mounted in a
    /// mount namespace of its own: the host's mounts stay as they are.
    fn start(traced: &Cgroup, latency: bool) -> anyhow::Result<Self> {
        let path = traced.path.display();
        let filter = format!("cgroup == cgroupid(\"{path}\")");
        let enter = format!("tracepoint:raw_syscalls:sys_enter /{filter}/");
        let exit = format!("tracepoint:raw_syscalls:sys_exit /{filter}");
        let failed = "args->ret < 0 && args->ret >= -4095";
        let probes = if latency {
            format!(
                "{enter} {{ @calls[args->id] = count(); @start[tid] = nsecs; }}
                 {exit}/ {{ if ({failed}) {{ @failed[args->id] = count(); }}
                 if (@start[tid]) {{ @latency[args->id] = hist(nsecs - @start[tid]);
                 delete(@start[tid]); }} }}"
            )
        } else {
            format!(
                "{enter} {{ @calls[args->id] = count(); }}
                 {exit} && {failed}/ {{ @failed[args->id] = count(); }}"
            )
        };
        let program = format!("BEGIN {{ printf(\"ready\\n\"); }} {probes}");
        let script = format!(
            "mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; \
             exec bpftrace -e '{program}'"
        );
        let mut child = Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting bpftrace (scripts/setup.sh installs it)")?;
        let stdout = child.stdout.take().context("bpftrace stdout")?;
        let mut bpftrace = Self(child);
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == "ready");
        if !ready {
            let status = bpftrace.0.wait()?;
            bail!("bpftrace exited before attaching its probes: {status}");
        }
        Ok(bpftrace)
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; SIGINT makes bpftrace detach and exit.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

struct Report {
    text: String,
    missed: Vec<String>,
    /// One line per target: name, median, min, max, "yes" or "no" (met).
    targets: String,
}

fn report(timings: &Timings, cpus: usize) -> Report {
    let index = |setup: Setup| Setup::ALL.iter().position(|&s| s == setup).expect("a setup");
    let rounds = |setup: Setup| -> Vec<(f64, f64)> {
        timings.iter().filter_map(|round| round[index(setup)]).collect()
    };
    let per_round =
        |f: &dyn Fn(usize) -> Option<f64>| -> Vec<f64> { (0..ROUNDS).filter_map(f).collect() };
    let at = |setup: Setup, round: usize| timings[round][index(setup)];
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "## Syscall counting on this host\n\nKernel {}, {cpus} CPUs, shared and noisy: ns per \
         getppid(2) by the thread's CPU clock, medians of {ROUNDS} interleaved rounds (each \
         the median of {SAMPLES} loops of {CALLS} calls); ratios are medians of the ratios \
         within each round (min-max over the rounds in brackets).\n",
        kernel.trim()
    );
    let _ = writeln!(
        text,
        "| configuration | in the traced cgroup | outside it | in / floor | outside / floor |"
    );
    let _ = writeln!(text, "|---|---:|---:|---:|---:|");
    for setup in Setup::ALL {
        let (inside, outside): (Vec<f64>, Vec<f64>) = rounds(setup).into_iter().unzip();
        let over_floor = |side: fn((f64, f64)) -> f64| {
            spread(per_round(&|r| Some(side(at(setup, r)?) / side(at(Setup::EmptyPair, r)?))), 2)
        };
        let _ = writeln!(
            text,
            "| {} | {:.1} | {:.1} | {} | {} |",
            setup.name(),
            median(inside),
            median(outside),
            over_floor(|t| t.0),
            over_floor(|t| t.1),
        );
    }
    let added = |setup: Setup, r: usize| Some(at(setup, r)?.0 - at(Setup::Nothing, r)?.0);
    let counting = per_round(&|r| Some(at(Setup::Ktrace, r)?.0 / at(Setup::EmptyPair, r)?.0));
    let outside = per_round(&|r| Some(at(Setup::Ktrace, r)?.1 / at(Setup::EmptyPair, r)?.1));
    let against_bpftrace =
        per_round(&|r| Some(added(Setup::Ktrace, r)? / added(Setup::Bpftrace, r)?));
    let latency_over_counting =
        per_round(&|r| Some(added(Setup::KtraceLatency, r)? / added(Setup::Ktrace, r)?));
    let added_ns = |setup: Setup| median(per_round(&|r| added(setup, r)));
    let _ = writeln!(
        text,
        "\nAdded cost per call in the traced cgroup, over nothing attached: empty pair {:.1} ns, \
         ktrace {:.1} ns, ktrace --latency {:.1} ns, bpftrace {:.1} ns, bpftrace with hist() \
         {:.1} ns. The same job with latencies costs bpftrace {} times its counting alone \
         (ktrace: {}); ktrace --latency adds {} of what bpftrace's hist() job adds.\n",
        added_ns(Setup::EmptyPair),
        added_ns(Setup::Ktrace),
        added_ns(Setup::KtraceLatency),
        added_ns(Setup::Bpftrace),
        added_ns(Setup::BpftraceLatency),
        spread(
            per_round(&|r| Some(added(Setup::BpftraceLatency, r)? / added(Setup::Bpftrace, r)?)),
            2
        ),
        spread(latency_over_counting.clone(), 2),
        spread(
            per_round(&|r| Some(
                added(Setup::KtraceLatency, r)? / added(Setup::BpftraceLatency, r)?
            )),
            2
        ),
    );
    // No counter on these tracepoints adds less than the empty pair: its share of
    // bpftrace's added cost is as low as ktrace's can go.
    let floor_over_bpftrace =
        per_round(&|r| Some(added(Setup::EmptyPair, r)? / added(Setup::Bpftrace, r)?));
    let floor_bound = median(floor_over_bpftrace.clone());
    let _ = writeln!(
        text,
        "The empty pair's added cost is {} of bpftrace's: the least any counter on these \
         tracepoints can reach, so the {ADDED_COST_OVER_BPFTRACE:.2}x target is {} on this \
         host.\n",
        spread(floor_over_bpftrace, 2),
        if floor_bound > ADDED_COST_OVER_BPFTRACE { "out of reach" } else { "within reach" }
    );
    let floor_note = if floor_bound > ADDED_COST_OVER_BPFTRACE {
        format!("the empty pair alone is {floor_bound:.2}: out of reach here")
    } else {
        String::new()
    };
    let target = |name: String, values: Vec<f64>, limit: f64, note: String| Target {
        name,
        values,
        limit,
        note,
    };
    let verdicts = judge(vec![
        target(
            format!("syscall counting <= {COUNTING_OVER_FLOOR:.2}x the empty pair (traced task)"),
            counting,
            COUNTING_OVER_FLOOR,
            String::new(),
        ),
        target(
            format!("ktrace's added cost <= {ADDED_COST_OVER_BPFTRACE:.2}x bpftrace's"),
            against_bpftrace,
            ADDED_COST_OVER_BPFTRACE,
            floor_note,
        ),
        target(
            format!("a task outside traced cgroups <= {OUTSIDE_OVER_FLOOR:.2}x the floor"),
            outside,
            OUTSIDE_OVER_FLOOR,
            String::new(),
        ),
        target(
            format!(
                "ktrace --latency's added cost <= {LATENCY_OVER_COUNTING:.2}x plain counting's"
            ),
            latency_over_counting,
            LATENCY_OVER_COUNTING,
            String::new(),
        ),
    ]);
    text += &verdicts.table;
    Report { text, missed: verdicts.missed, targets: verdicts.tsv }
}
