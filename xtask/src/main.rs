//! Developer tasks: `cargo xtask test` runs the whole suite, as CI does; `cargo xtask vm`
//! runs a command in a QEMU guest on a Debian kernel; `cargo xtask bench` measures what
//! ktrace costs, on this host and in the guest.
mod bench;
mod vm;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "ktrace developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Set up the machine (scripts/setup.sh), then run every test: unit tests and the root
    /// integration tests against this host's kernel, then the root integration tests in QEMU
    /// guests on Debian's 6.12 and 6.1 kernels.
    Test,
    /// Run a command as root in a QEMU guest booting a Debian kernel, with ktrace on its PATH.
    Vm(vm::VmArgs),
    /// Benchmark syscall counting on this host (cost per call against an empty raw
    /// tracepoint pair and bpftrace, --latency against bpftrace's hist()), ktrace's peak
    /// memory and the live view's refresh, then function counting in the 6.12 guest (--all
    /// attach and detach against a bare kprobe.multi link; per backend, the counting
    /// program's cost per hit against an empty program of the same kind, by loop time and by
    /// bpf_stats run time; --all's peak memory). One Markdown report, printed and in
    /// target/bench/report.md. Exits non-zero naming each missed target.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().task {
        Task::Test => test().map(|()| ExitCode::SUCCESS),
        Task::Vm(args) => vm::vm(args),
        Task::Bench(args) => bench::bench(&args),
    }
}

/// Runs the guest tests even when host tests fail, so one run shows all that is broken.
fn test() -> anyhow::Result<()> {
    run(Command::new("bash").arg(workspace_file("scripts/setup.sh")))?;
    // Formatting and lints first: they fail fast and say exactly where.
    run(Command::new(env!("CARGO")).args(["fmt", "--all", "--check"]))?;
    run(Command::new(env!("CARGO")).args([
        "clippy",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(&mut ebpf_clippy())?;
    vm::fetch_debug_image()?;
    // tracer-ebpf builds only for the BPF target; tracer/build.rs builds it.
    let host = run(Command::new(env!("CARGO")).args([
        "test",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--no-fail-fast",
    ]));
    let guests = vm::guest_tests();
    // What the 6.12 guest recorded (its records, its study), exported, plotted and reported
    // here, where that kernel's DWARF and source files are: the tests named `guest_records_*`.
    let guest_records = vm::guest_out_dir().and_then(|out| {
        run(Command::new(env!("CARGO"))
            .args(["test", "-p", "tracer", "--test", "root", "--", "guest_records_"])
            .env("KTRACE_GUEST_OUT", out))
    });
    let failures: Vec<String> = [host, guests, guest_records]
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Clippy over the eBPF crate, which builds only for the BPF target, with the nightly that
/// tracer/build.rs builds it with (the workspace lints, `undocumented_unsafe_blocks` among
/// them, apply).
fn ebpf_clippy() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "clippy", "-p", "tracer-ebpf", "--target", "bpfel-unknown-none"])
        .args(["-Z", "build-std=core", "--release", "--target-dir"])
        .arg(workspace_file("target/ebpf-clippy"))
        .args(["--", "-D", "warnings"]);
    // The toolchain cargo chose for xtask must not override the nightly.
    for key in ["RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTUP_TOOLCHAIN"] {
        cmd.env_remove(key);
    }
    cmd
}

/// Runs `cmd` with inherited stdio; fails unless it exits 0.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn workspace_file(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}
