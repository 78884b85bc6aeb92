//! The `ktrace` binary: parses the command line ([`cli`]) and runs each command with the
//! library's own inputs.
mod cli;

use std::{
    io::{self, IsTerminal as _, Write as _},
    path::Path,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser as _;

use tracer::{
    cgroup::{Cgroup, Hierarchy},
    child, compare, coverage,
    export::{Format, file},
    figure, plan, privileges, ps,
    record::{self, Record, RecordInfo},
    runtime::{self, Roots},
    serve,
    session::{Options, Session, Sink, is_broken_pipe},
    signals::{self, Signals},
    study,
    target::{self, Targets},
    tui::LiveView,
    workload,
};

use self::cli::{
    AttachArgs, Cli, Command, CompareArgs, ExportArgs, ExportFormat, ExportIrqArg, OutputArgs,
    PsArgs, RecordArgs, RunArgs, ServeArgs, StudyArgs,
};

/// Exit status for every error of ktrace's own (bad input, missing privileges, ...).
const EXIT_ERROR: u8 = 2;
/// How often the live view refreshes without -i.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How often `serve` refreshes its metrics without -i.
const SERVE_INTERVAL: Duration = Duration::from_secs(1);

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

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // Reads files only: nothing to stop cleanly, so Ctrl-C keeps its default.
    match &cli.command {
        Command::Compare(args) => return compare(args),
        Command::Export(args) => return export(args),
        Command::Ps(args) => return ps(args),
        Command::Study(StudyArgs { report_only: Some(dir), vmlinux, .. }) => {
            study::report_only(dir, vmlinux.as_deref())?;
            return Ok(0);
        }
        _ => {}
    }
    // Before anything is attached, so that an early Ctrl-C still ends in a clean exit.
    let signals = Signals::new()?;
    match cli.command {
        Command::Attach(args) => attach(args, false, signals).await,
        Command::Run(args) => run(args, signals).await,
        Command::Top(args) => attach(args, true, signals).await,
        Command::Record(args) => record(args, signals).await,
        Command::Serve(args) => serve(args, signals).await,
        Command::Study(args) => run_study(args, signals).await,
        Command::Compare(_) | Command::Export(_) | Command::Ps(_) => {
            unreachable!("handled above")
        }
    }
}

/// `attach`, or with `live` `top`: the same trace, shown in the live view.
async fn attach(mut args: AttachArgs, live: bool, mut signals: Signals) -> anyhow::Result<u8> {
    let live = live && wants_live_view(&mut args.output);
    let request = args.trace.request();
    let Some((targets, session, _)) = attach_cgroups(
        &args.target.request(),
        args.output.options(&args.trace),
        &request,
        &mut signals,
    )
    .await?
    else {
        return Ok(0);
    };
    announce(args.target.duration);
    let deadline = deadline(args.target.duration);
    let (sink, view) = sink(live, &targets.cgroups, &request);
    let (stopped_by, _) = session
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

/// `record`: `attach` printing the total as a table, then saving it as a record.
async fn record(args: RecordArgs, mut signals: Signals) -> anyhow::Result<u8> {
    file::check_target(&args.output, args.trace.profile.force)?;
    let options = args.trace.options(None, Format::Table, None);
    let request = args.trace.request();
    let Some((_targets, session, info)) =
        attach_cgroups(&args.target.request(), options, &request, &mut signals).await?
    else {
        return Ok(0);
    };
    announce(args.target.duration);
    let deadline = deadline(args.target.duration);
    let (stopped_by, total) = session
        .trace_until(Sink::Print, async {
            tokio::select! {
                () = deadline => Ok("the -d deadline"),
                sig = signals.stop_signal() => Ok(sig),
            }
        })
        .await?;
    eprintln!("ktrace: stopped by {stopped_by}");
    save(&args.output, &Record::new(info, total), args.trace.profile.force)?;
    Ok(0)
}

/// `serve`: `attach` with the cumulative totals of every interval served as metrics.
async fn serve(args: ServeArgs, mut signals: Signals) -> anyhow::Result<u8> {
    // Bound before anything is attached, so that a port in use leaves nothing to undo.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let interval = args.interval.unwrap_or(SERVE_INTERVAL);
    let options = args.trace.options(Some(interval), Format::Table, None);
    let request = args.trace.request();
    let Some((_targets, session, _)) =
        attach_cgroups(&args.target.request(), options, &request, &mut signals).await?
    else {
        return Ok(0);
    };
    eprintln!(
        "ktrace: serving metrics on http://{}/metrics, refreshed every {:.1} s",
        listener.local_addr().context("reading the listening address")?,
        interval.as_secs_f64()
    );
    announce(args.target.duration);
    let deadline = deadline(args.target.duration);
    // The session's cumulative totals, sent as to the live view.
    let (totals, updates) = tokio::sync::mpsc::channel(4);
    let (stopped_by, _) = session
        .trace_until(Sink::Live(totals), async {
            tokio::select! {
                () = deadline => Ok("the -d deadline"),
                sig = signals.stop_signal() => Ok(sig),
                served = serve::run(listener, updates) => match served? {},
            }
        })
        .await?;
    eprintln!("ktrace: stopped by {stopped_by}");
    Ok(0)
}

/// `study`: every platform x benchmark, traced and reported.
async fn run_study(args: StudyArgs, mut signals: Signals) -> anyhow::Result<u8> {
    privileges::check()?;
    study::check_dir(&args.output, args.force)?;
    let mut request = args.request();
    let mut options = args.options();
    if args.seed_lines() {
        match study::seed_lines(args.vmlinux.as_deref()) {
            Ok(function) => request.lines.functions.push(function),
            Err(e) => {
                eprintln!("ktrace: study: no line table of {}: {e:#}", study::SEED_LINES);
                options.why_no_lines = Some(format!("{e:#}"));
            }
        }
    }
    let Some(mut plan) = plan::make(&request)? else {
        return Ok(0);
    };
    // Said once for the study, not once per run.
    for note in plan.notes.drain(..) {
        eprintln!("{note}");
    }
    match study::run(&options, &plan, &mut signals).await? {
        study::Outcome::Done { failed: 0 } => Ok(0),
        study::Outcome::Done { failed } => {
            eprintln!("ktrace: study: {failed} runs failed (see the report)");
            Ok(1)
        }
        study::Outcome::Interrupted(signal) => {
            eprintln!(
                "ktrace: study: interrupted by {signal}; the completed runs' records are in {0} \
                 (`ktrace study --report-only {0}` reports them)",
                options.dir.display()
            );
            Ok(128 + signals::number(signal))
        }
    }
}

/// `compare`: needs no privileges, only the record files.
fn compare(args: &CompareArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.plot {
        figure::check_target(path, args.force)?;
    }
    let comparison = compare::load(&args.records, &args.labels, args.top, args.vmlinux.as_deref())?;
    if let Some(path) = &args.plot {
        compare::plot::plot(path, &comparison, args.force)?;
        eprintln!("ktrace: wrote {}", path.display());
    }
    let mut out = io::stdout().lock();
    compare::render::write(&mut out, &comparison, args.output.into())
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    Ok(0)
}

/// `ps`: reads state files only; what it cannot read (not root) it cannot list.
fn ps(args: &PsArgs) -> anyhow::Result<u8> {
    let hierarchy = Hierarchy::discover()?;
    if privileges::check().is_err() {
        eprintln!("ktrace: not root: runtimes' state files may be unreadable, and so not listed");
    }
    let workloads = runtime::discover(&Roots::host(hierarchy.root()));
    let mut out = io::stdout().lock();
    ps::write(&mut out, &workloads, args.output.into())
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    Ok(0)
}

fn export(args: &ExportArgs) -> anyhow::Result<u8> {
    let ExportFormat::Lcov = args.format;
    if let Some(path) = &args.output {
        file::check_target(path, args.force)?;
    }
    let record = record::read(&args.record)?;
    // A tracefile is a few MB at most: built whole, then written whole.
    let mut tracefile = Vec::new();
    let summary = coverage::export_lcov(
        &record,
        args.cgroup.as_deref(),
        args.irq.map(ExportIrqArg::mode),
        args.vmlinux.as_deref(),
        &mut tracefile,
    )?;
    match &args.output {
        Some(path) => file::write_atomically(path, args.force, |f| f.write_all(&tracefile))?,
        None => {
            let mut out = io::stdout().lock();
            out.write_all(&tracefile).and_then(|()| out.flush()).context("writing to stdout")?;
        }
    }
    eprintln!(
        "ktrace: {} functions in the tracefile, {} entered; {} counted lines, {} of them run; \
         left out: {} module functions (their DWARF is in the module's debug file), {} without \
         line information",
        summary.functions,
        summary.entered,
        summary.lines,
        summary.lines_hit,
        summary.module_functions,
        summary.without_source
    );
    if summary.lines_of_tasks > 0 {
        eprintln!(
            "ktrace: {} counted lines left out: the record has their task context only (made \
             before ktrace kept lines' interrupt context apart), and the tracefile counts \
             interrupt context",
            summary.lines_of_tasks
        );
    }
    Ok(0)
}

/// Makes the plan, resolves the cgroups (waiting for them with `--wait`, until a stop signal)
/// and attaches the plan: what attach, top, record and serve share. `None` after `--dry-run`
/// or a stop signal while waiting. The [`RecordInfo`] names what was attached; dropping the
/// [`Targets`] after the trace puts moved processes back.
async fn attach_cgroups(
    target: &target::Request,
    options: Options,
    request: &plan::Request,
    signals: &mut Signals,
) -> anyhow::Result<Option<(Targets, Session, RecordInfo)>> {
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let Some(plan) = plan::make(request)? else {
        return Ok(None);
    };
    let targets = tokio::select! {
        targets = target::resolve(&hierarchy, target) => targets?,
        sig = signals.stop_signal() => {
            eprintln!("ktrace: stopped by {sig} before anything was traced");
            return Ok(None);
        }
    };
    let info = RecordInfo::new(&plan);
    let session = Session::attach(&targets.cgroups, None, options, plan)?;
    for c in &targets.cgroups {
        eprintln!(
            "ktrace: counting syscalls of cgroup {} ({}, id {})",
            c.label,
            c.path.display(),
            c.id
        );
    }
    Ok(Some((targets, session, info)))
}

fn announce(duration: Option<Duration>) {
    eprintln!(
        "ktrace: tracing {}; stop with Ctrl-C",
        duration.map_or_else(
            || "until stopped".to_owned(),
            |d| format!("for {:.1} s", d.as_secs_f64())
        )
    );
}

/// Completes after `-d`; without it, never.
async fn deadline(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn save(path: &Path, record: &Record, force: bool) -> anyhow::Result<()> {
    record::write(path, record, force)?;
    eprintln!("ktrace: wrote the record {}", path.display());
    Ok(())
}

async fn run(mut args: RunArgs, mut signals: Signals) -> anyhow::Result<u8> {
    let live = args.live && wants_live_view(&mut args.output);
    if let Some(path) = &args.record {
        file::check_target(path, args.trace.profile.force)?;
    }
    let phase_seconds = args.command.is_empty().then(workload::phase_seconds).transpose()?;
    privileges::check()?;
    let hierarchy = Hierarchy::discover()?;
    let request = args.trace.request();
    let Some(plan) = plan::make(&request)? else {
        return Ok(0);
    };
    let info = RecordInfo::new(&plan);
    let name = args.name.clone().unwrap_or_else(|| format!("ktrace-run-{}", std::process::id()));
    let (owned, cgroup) = hierarchy.create(&name)?;
    if let Some(seconds) = phase_seconds {
        let phases = workload::Phases::create(&hierarchy, &name, seconds)?;
        eprintln!(
            "ktrace: running the built-in workload in cgroup {}: {} s per phase, each in a cgroup \
             of its own",
            cgroup.path.display(),
            phases.seconds()
        );
        return run_phases(&args, live, &phases, plan, info, signals).await;
    }
    let argv = args.command;
    let label: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    // The command goes on when stdout's reader goes away; its status is still ktrace's.
    let options = Options { outlive_stdout: true, ..args.output.options(&args.trace) };
    let session =
        Session::attach(std::slice::from_ref(&cgroup), Some(label.clone()), options, plan)?;
    // In the live view the command's output would scribble over the screen: it is kept in an
    // unnamed file and shown once the view is gone.
    let output = if live {
        Some(tempfile::tempfile().context("creating a file for the command's output")?)
    } else {
        None
    };
    // runc and friends would put the container in a cgroup of their own beside the run's.
    let view = runtime::creates_its_own_cgroup(&argv).then(|| {
        eprintln!(
            "ktrace: `{}` makes its container's cgroup at the top of the v2 tree: the command \
             sees cgroup {} as the v2 mount, so that the container lands inside it",
            label.join(" "),
            cgroup.path.display()
        );
        hierarchy.root()
    });
    let mut child = child::spawn_in(&owned, view, &argv, output.as_ref())?;
    eprintln!(
        "ktrace: running `{}` in cgroup {} (id {})",
        label.join(" "),
        cgroup.path.display(),
        cgroup.id
    );
    let (sink, view) = sink(live, std::slice::from_ref(&cgroup), &request);
    let (status, total) = session
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
    if let Some(mut output) = output {
        show_output(&mut output, &label.join(" "))?;
    }
    if let Some(path) = &args.record {
        save(path, &Record::of_command(info, total, status), args.trace.profile.force)?;
    }
    Ok(child::exit_code(status))
}

/// `run` without a command: the built-in workload's phases, one column each; 128+signal when a
/// signal (or quitting the live view) stopped them.
async fn run_phases(
    args: &RunArgs,
    live: bool,
    phases: &workload::Phases,
    plan: plan::Plan,
    info: RecordInfo,
    mut signals: Signals,
) -> anyhow::Result<u8> {
    let cgroups = phases.cgroups();
    let label = vec![workload::LABEL.to_owned()];
    // As with a command: the phases go on when stdout's reader goes away.
    let options = Options { outlive_stdout: true, ..args.output.options(&args.trace) };
    let session = Session::attach(&cgroups, Some(label), options, plan)?;
    let (sink, view) = sink(live, &cgroups, &args.trace.request());
    let (stopped_by, total) = session
        .trace_until(sink, async {
            tokio::select! {
                done = phases.run() => done.map(|()| None),
                signal = signals.stop_signal() => Ok(Some(signal)),
                shown = show(view) => shown.map(|()| Some("SIGINT")),
            }
        })
        .await?;
    if let Some(signal) = stopped_by {
        eprintln!("ktrace: the built-in workload was stopped by {signal}");
    }
    if let Some(path) = &args.record {
        save(path, &Record::new(info, total), args.trace.profile.force)?;
    }
    Ok(stopped_by.map_or(0, |signal| 128 + signals::number(signal)))
}

/// Copies what the command wrote while the live view was up to stderr, if anything.
fn show_output(output: &mut std::fs::File, command: &str) -> anyhow::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut text = Vec::new();
    output
        .seek(SeekFrom::Start(0))
        .and_then(|_| output.read_to_end(&mut text))
        .context("reading the command's output")?;
    if !text.is_empty() {
        eprintln!("ktrace: output of `{command}`:");
        io::stderr().write_all(&text).context("writing to stderr")?;
    }
    Ok(())
}

/// Whether to show the live view that was asked for: only on a terminal. Elsewhere the reports
/// are printed every interval, as `attach -i` does. Either way the interval defaults to
/// [`LIVE_INTERVAL`].
fn wants_live_view(output: &mut OutputArgs) -> bool {
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
fn sink(live: bool, cgroups: &[Cgroup], request: &plan::Request) -> (Sink, Option<LiveView>) {
    if !live {
        return (Sink::Print, None);
    }
    let labels = cgroups.iter().map(|c| c.label.clone()).collect();
    let hz = request.sampling.map(|s| s.frequency_hz);
    let (sender, view) = LiveView::new(labels, hz, request.latency);
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
