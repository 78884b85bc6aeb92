//! Developer tasks: `cargo xtask test` runs the whole suite, as CI does.
use std::process::Command;

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
    /// integration tests against this host's kernel.
    Test,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test => test(),
    }
}

fn test() -> anyhow::Result<()> {
    run(Command::new("bash").arg(workspace_file("scripts/setup.sh")))?;
    // tracer-ebpf builds only for the BPF target; tracer/build.rs builds it.
    run(Command::new(env!("CARGO")).args([
        "test",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--no-fail-fast",
    ]))?;
    Ok(())
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
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}
