//! ktrace: count host kernel activity per cgroup, live, with eBPF.
mod attach;
mod cgroup;
mod child;
mod cli;
mod collect;
mod export;
mod privileges;
mod report;
mod session;
mod signals;
mod symbolize;
mod workload;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;

use crate::{
    cgroup::Hierarchy,
    cli::{AttachArgs, Cli, Command, RunArgs},
    session::Session,
    signals::Signals,
};

/// Exit status for every error of ktrace's own (bad input, missing privileges, ...).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result =
        runtime.context("starting the tokio runtime").and_then(|rt| rt.block_on(dispatch(cli)));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ktrace: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // Before anything is attached, so that an early Ctrl-C still ends in a clean exit.
    let signals = Signals::new()?;
    match cli.command {
        Command::Attach(args) => attach(args, signals).await,
        Command::Run(args) => run(args, signals).await,
    }
}

async fn attach(args: AttachArgs, mut signals: Signals) -> anyhow::Result<u8> {
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let cgroups = args
        .cgroups
        .iter()
        .map(|spec| hierarchy.resolve(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let session = Session::attach(&cgroups, None, &args.output, &args.profile)?;
    for c in &cgroups {
        eprintln!(
            "ktrace: counting syscalls of cgroup {} ({}, id {})",
            c.label,
            c.path.display(),
            c.id
        );
    }
    eprintln!(
        "ktrace: tracing {}; stop with Ctrl-C",
        args.duration.map_or_else(
            || "until stopped".to_owned(),
            |d| format!("for {:.1} s", d.as_secs_f64())
        )
    );
    let deadline = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let stopped_by = session
        .trace_until(async {
            tokio::select! {
                () = deadline => Ok("the -d deadline"),
                sig = signals.stop_signal() => Ok(sig),
            }
        })
        .await?;
    eprintln!("ktrace: stopped by {stopped_by}");
    Ok(0)
}

async fn run(args: RunArgs, mut signals: Signals) -> anyhow::Result<u8> {
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let (argv, label) = if args.command.is_empty() {
        (workload::default_command(), vec![workload::LABEL.to_owned()])
    } else {
        let label = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        (args.command, label)
    };
    let name = args.name.unwrap_or_else(|| format!("ktrace-run-{}", std::process::id()));
    let (owned, cgroup) = hierarchy.create(&name)?;
    let session = Session::attach(
        std::slice::from_ref(&cgroup),
        Some(label.clone()),
        &args.output,
        &args.profile,
    )?;
    let mut child = child::spawn_in(&owned, &argv)?;
    eprintln!(
        "ktrace: running `{}` in cgroup {} (id {})",
        label.join(" "),
        cgroup.path.display(),
        cgroup.id
    );
    let status = session.trace_until(signals.relay_until_exit(&mut child)).await?;
    eprintln!("ktrace: command exited with {status}");
    Ok(child::exit_code(status))
}
