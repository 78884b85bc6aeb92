//! The `ktrace` command line: parses arguments and dispatches to the library.

use std::{
    io::{self, IsTerminal as _},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser as _;

use tracer::{
    cgroup::{Cgroup, Hierarchy},
    child, cli,
    cli::{AttachArgs, Cli, Command, ProfileArgs, RunArgs},
    plan, privileges,
    session::{Session, Sink},
    signals::Signals,
    tui::LiveView,
    workload,
};

/// Exit status for every error of ktrace's own (bad input, missing privileges, ...).
const EXIT_ERROR: u8 = 2;
/// How often the live view refreshes without -i.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result =
        runtime.context("starting the tokio runtime").and_then(|rt| rt.block_on(dispatch(cli)));
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`ktrace ... | head`): not an error worth a message.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ktrace: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // Before anything is attached, so that an early Ctrl-C still ends in a clean exit.
    let signals = Signals::new()?;
    match cli.command {
        Command::Attach(args) => attach(args, false, signals).await,
        Command::Run(args) => run(args, signals).await,
        Command::Top(args) => attach(args, true, signals).await,
    }
}

/// `attach`, or with `live` `top`: the same trace, shown in the live view.
async fn attach(mut args: AttachArgs, live: bool, mut signals: Signals) -> anyhow::Result<u8> {
    let live = live && wants_live_view(&mut args.output);
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let cgroups = args
        .cgroups
        .iter()
        .map(|spec| hierarchy.resolve(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Some(plan) = plan::make(&args.profile, &args.functions)? else {
        return Ok(0);
    };
    let session = Session::attach(&cgroups, None, &args.output, &args.profile, plan)?;
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
    let (sink, view) = sink(live, &cgroups, &args.profile);
    let stopped_by = session
        .trace_until(sink, async {
            tokio::select! {
                () = deadline => Ok("the -d deadline"),
                sig = signals.stop_signal() => Ok(sig),
                shown = show(view) => shown.map(|()| "quitting the live view"),
            }
        })
        .await?;
    eprintln!("ktrace: stopped by {stopped_by}");
    Ok(0)
}

async fn run(mut args: RunArgs, mut signals: Signals) -> anyhow::Result<u8> {
    let live = args.live && wants_live_view(&mut args.output);
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let (argv, label) = if args.command.is_empty() {
        (workload::default_command(), vec![workload::LABEL.to_owned()])
    } else {
        let label = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        (args.command, label)
    };
    let Some(plan) = plan::make(&args.profile, &args.functions)? else {
        return Ok(0);
    };
    let name = args.name.unwrap_or_else(|| format!("ktrace-run-{}", std::process::id()));
    let (owned, cgroup) = hierarchy.create(&name)?;
    let session = Session::attach(
        std::slice::from_ref(&cgroup),
        Some(label.clone()),
        &args.output,
        &args.profile,
        plan,
    )?;
    let mut child = child::spawn_in(&owned, &argv)?;
    eprintln!(
        "ktrace: running `{}` in cgroup {} (id {})",
        label.join(" "),
        cgroup.path.display(),
        cgroup.id
    );
    let (sink, view) = sink(live, std::slice::from_ref(&cgroup), &args.profile);
    let status = session
        .trace_until(sink, async {
            if let Some(view) = view {
                tokio::select! {
                    status = signals.relay_until_exit(&mut child) => return status,
                    shown = view.run() => match shown {
                        Ok(()) => {
                            interrupt(&child);
                            eprintln!(
                                "ktrace: live view closed: passed Ctrl-C (SIGINT) on to the \
                                 command; waiting for it to exit"
                            );
                        }
                        Err(e) => eprintln!(
                            "ktrace: warning: live view failed: {e:#}; tracing until the \
                             command exits"
                        ),
                    },
                }
            }
            signals.relay_until_exit(&mut child).await
        })
        .await?;
    eprintln!("ktrace: command exited with {status}");
    Ok(child::exit_code(status))
}

/// Whether to show the live view that was asked for: only on a terminal. Elsewhere the reports
/// are printed every interval, as `attach -i` does. Either way the interval defaults to
/// [`LIVE_INTERVAL`].
fn wants_live_view(output: &mut cli::OutputArgs) -> bool {
    let interval = *output.interval.get_or_insert(LIVE_INTERVAL);
    let terminal = io::stdout().is_terminal();
    if !terminal {
        eprintln!(
            "ktrace: stdout is not a terminal: printing a report every {:.1} s instead of the \
             live view",
            interval.as_secs_f64()
        );
    }
    terminal
}

/// Where the interval reports go, and the live view that shows them, if `live`.
fn sink(live: bool, cgroups: &[Cgroup], profile: &ProfileArgs) -> (Sink, Option<LiveView>) {
    if !live {
        return (Sink::Print, None);
    }
    let labels = cgroups.iter().map(|c| c.label.clone()).collect();
    let (sender, view) = LiveView::new(labels, profile.sampling().map(|s| s.frequency_hz));
    (Sink::Live(sender), Some(view))
}

/// Runs the live view until the user quits it; without one, never completes.
async fn show(view: Option<LiveView>) -> anyhow::Result<()> {
    match view {
        Some(view) => view.run().await,
        None => std::future::pending().await,
    }
}

/// Passes a Ctrl-C on to `run`'s command, as the terminal would have without the live view
/// (which reads Ctrl-C as a key).
fn interrupt(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
    }
}
