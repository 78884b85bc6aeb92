//! The trace loop shared by every command that traces: a report every `-i` interval, then the
//! total once the stop condition (a deadline, a signal, the traced command's exit, quitting the
//! live view) is met. Interval reports go to a [`Sink`]: stdout, or as [`Update`]s to the live
//! view or to `serve`.
use std::{
    collections::{BTreeMap, HashSet},
    fs,
    future::Future,
    os::unix::fs::MetadataExt as _,
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use tokio::{
    sync::mpsc,
    time::{Interval, MissedTickBehavior},
};
use tracer_common::NO_STACK;

use crate::{
    attach::{
        Diagnostics, LATENCY_SYSCALLS_PER_CGROUP, Probes, hardware_cycles, validate_frequency,
    },
    cgroup::Cgroup,
    collect::{SampleCounts, Snapshot},
    export::{Format, Printer, file, folded},
    functions::Matcher,
    kallsyms::CORE_KERNEL,
    lines::{LinePlan, LineReport},
    plan::Plan,
    report::{FunctionReport, Period, Report, SampleClock, SampleReport, Scope, TraceInfo},
    symbolize::{KernelFunction, KernelSymbols},
};

/// What the session sends to the live view or to `serve` once per interval: that interval's
/// report and the cumulative total since tracing started. Totals come from the kernel's cumulative counters rather than
/// from adding intervals up, so a missed update loses no counts.
#[derive(Debug, Clone)]
pub struct Update {
    pub interval: Report,
    pub total: Report,
}

/// Where the reports of each interval go. The total at the end is printed unless silent.
pub enum Sink {
    /// Printed in the `--output` format.
    Print,
    /// Sent with the cumulative total to the live view (which shows them instead) or `serve`.
    Live(mpsc::Sender<Update>),
    /// Nothing is printed, not even the total: the caller keeps it (`ktrace study` saves
    /// each run as a record).
    Silent,
}

/// How a session reports what it traces.
#[derive(Debug, Clone)]
pub struct Options {
    /// Also report every interval of this length (`-i`).
    pub interval: Option<Duration>,
    /// How reports are printed (`--output`).
    pub format: Format,
    /// Print only the N rows with the most of each section (`--top`); records keep every row.
    pub top: Option<usize>,
    /// Write the sampled kernel stacks of the whole trace here, as folded stacks (`--stacks`).
    pub stacks: Option<PathBuf>,
    /// Replace an existing stacks file (`--force`).
    pub force: bool,
    /// Keep tracing when stdout's reader goes away (`run`: its command goes on, and ktrace
    /// exits with its status); otherwise a closed stdout ends the trace.
    pub outlive_stdout: bool,
    /// Where ktrace's own eBPF diagnostics go (`-v`: stderr).
    pub diagnostics: Diagnostics,
}

pub struct Session {
    probes: Probes,
    /// Present when sampling: one symbolizer for the whole trace.
    symbols: Option<KernelSymbols>,
    /// Sampled functions are limited to these when sampling stands in for counting.
    sampled_functions: Option<Matcher>,
    /// The source lines counted, whose probes are in `probes`.
    lines: Option<LinePlan>,
    info: TraceInfo,
    options: Options,
    /// How samples are taken on this machine.
    clock: SampleClock,
}

impl Session {
    /// Checks the options, then attaches what `plan` says to `cgroups`; counting starts now.
    pub fn attach(
        cgroups: &[Cgroup],
        command: Option<Vec<String>>,
        options: Options,
        plan: Plan,
    ) -> anyhow::Result<Self> {
        if let Some(sampling) = plan.sampling {
            validate_frequency(sampling.frequency_hz)?;
        }
        if let Some(path) = &options.stacks {
            file::check_target(path, options.force)?;
        }
        for note in &plan.notes {
            eprintln!("{note}");
        }
        let symbols = plan.sampling.map(|_| KernelSymbols::running_kernel()).transpose()?;
        let sampled_functions = plan.sampled_functions;
        let lines = plan.lines;
        let line_probes = lines.as_ref().map_or(&[][..], |l| &l.probes);
        let probes = Probes::attach(
            cgroups,
            plan.latency,
            plan.sampling,
            plan.functions,
            line_probes,
            plan.interrupts,
            options.diagnostics,
        )?;
        let info = TraceInfo {
            kernel_release: kernel_release(),
            cgroups: cgroups.iter().map(Into::into).collect(),
            command,
        };
        let clock = SampleClock::cpu_clock(plan.sampling.is_some() && hardware_cycles());
        Ok(Self { probes, symbols, sampled_functions, lines, info, options, clock })
    }

    /// Sends interval reports to `sink` until `stop` completes, then prints the total; returns
    /// `stop`'s output and the total with every row (whatever `--top` says), for a record.
    /// Printed intervals end with the partial one before the stop, so that they add up to the
    /// total exactly. Everything is detached before it returns.
    pub async fn trace_until<T>(
        mut self,
        sink: Sink,
        stop: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<(T, Report)> {
        let mut out = Output { printer: Printer::new(self.options.format), closed: false };
        let start = Mark { snapshot: None, at: SystemTime::now(), at_instant: Instant::now() };
        let mut ticker = self.options.interval.map(|period| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        let mut last = start.clone();
        let mut presence = tokio::time::interval(PRESENCE_CHECK);
        presence.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                outcome = &mut stop => break outcome,
                _ = presence.tick() => self.note_vanished(&start),
                () = tick(&mut ticker) => {
                    self.note_vanished(&start);
                    self.probes.print_diagnostics();
                    let now = Mark::take(&self.probes)?;
                    let report = self.interval(&now, &last)?;
                    match &sink {
                        Sink::Print => self.print(&mut out, &report)?,
                        Sink::Silent => {}
                        // Closed: `run` goes on after its view was quit.
                        Sink::Live(view) if view.is_closed() => {}
                        Sink::Live(view) => {
                            let total = self.total(&now, &start, self.options.top)?;
                            // A full queue drops this update rather than stall the collector;
                            // the next update's cumulative total loses nothing.
                            let _ = view.try_send(Update { interval: report, total });
                        }
                    }
                    last = now;
                }
            }
        };
        self.note_vanished(&start);
        self.probes.print_diagnostics();
        let end = Mark::take(&self.probes)?;
        let entry_failures = self.probes.syscall_entry_failures()?;
        if entry_failures > 0 {
            eprintln!(
                "ktrace: {entry_failures} syscall entries or returns could not be recorded \
                 (task storage full or busy): failed and blocked counts may miss as many"
            );
        }
        let latency_failures = self.probes.syscall_latency_failures()?;
        if latency_failures > 0 {
            eprintln!(
                "ktrace: {latency_failures} syscall latencies could not be recorded (no room \
                 for their histograms: {LATENCY_SYSCALLS_PER_CGROUP} distinct syscalls per \
                 traced cgroup): latency counts may miss as many"
            );
        }
        if ticker.is_some() && matches!(sink, Sink::Print) {
            let report = self.interval(&end, &last)?;
            self.print(&mut out, &report)?;
        }
        let report = self.total(&end, &start, None)?;
        match (&sink, self.options.top) {
            (Sink::Silent, _) => {}
            (_, Some(_)) => {
                let shown = self.total(&end, &start, self.options.top)?;
                self.print(&mut out, &shown)?;
            }
            (_, None) => self.print(&mut out, &report)?,
        }
        if out.closed {
            eprintln!("ktrace: stdout was closed: the reports since then were not delivered");
        }
        let snapshot = end.snapshot.expect("taken");
        if let (Some(path), Some(samples)) = (self.options.stacks.clone(), &snapshot.samples) {
            let stacks = self.folded_stacks(samples)?;
            folded::write(&path, &stacks, self.options.force)?;
            eprintln!("ktrace: wrote {} folded kernel stacks to {}", stacks.len(), path.display());
        }
        if self.probes.functions().is_some() || self.lines.is_some() {
            // Detaching thousands of functions, or kprobes, takes a while: say how long.
            let detaching = Instant::now();
            drop(self.probes);
            eprintln!("ktrace: detached in {:.2} s", detaching.elapsed().as_secs_f64());
        }
        Ok((outcome?, report))
    }

    /// Marks the traced cgroups that are gone (removed, or replaced by a new directory of the
    /// same name, which is not traced), saying so once on stderr: every report from then on
    /// carries `vanished_at`, so that their zeros are not read as silence.
    fn note_vanished(&mut self, start: &Mark) {
        for cgroup in self.info.cgroups.iter_mut().filter(|c| c.vanished_at.is_none()) {
            if fs::metadata(&cgroup.path).is_ok_and(|m| m.ino() == cgroup.id) {
                continue;
            }
            let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            eprintln!(
                "ktrace: cgroup {} ({}, id {}) vanished at {at}, {:.1} s into the trace: it is \
                 counted no further",
                cgroup.label,
                cgroup.path,
                cgroup.id,
                start.at_instant.elapsed().as_secs_f64()
            );
            cgroup.vanished_at = Some(at);
        }
    }

    /// The report of the interval from `last` to `now`.
    fn interval(&mut self, now: &Mark, last: &Mark) -> anyhow::Result<Report> {
        let now_snapshot = now.snapshot.as_ref().expect("taken");
        let delta = match &last.snapshot {
            Some(before) => now_snapshot.since(before),
            None => now_snapshot.clone(),
        };
        let duration = now.at_instant.saturating_duration_since(last.at_instant);
        let period = Period { scope: Scope::Interval, start: last.at, duration };
        self.report(period, &delta, self.options.top)
    }

    /// The report of everything from `start` to `now`.
    fn total(&mut self, now: &Mark, start: &Mark, top: Option<usize>) -> anyhow::Result<Report> {
        let duration = now.at_instant.saturating_duration_since(start.at_instant);
        let period = Period { scope: Scope::Total, start: start.at, duration };
        self.report(period, now.snapshot.as_ref().expect("taken"), top)
    }

    /// Prints `report` unless stdout was closed. A closed stdout ends the trace, unless the
    /// session outlives it (`run`, whose command goes on): then it is said once at the end.
    fn print(&self, out: &mut Output, report: &Report) -> anyhow::Result<()> {
        if out.closed {
            return Ok(());
        }
        match out.printer.print(report) {
            Err(e) if self.options.outlive_stdout && is_broken_pipe(&e) => {
                out.closed = true;
                Ok(())
            }
            result => result,
        }
    }

    fn report(
        &mut self,
        period: Period,
        snapshot: &Snapshot,
        top: Option<usize>,
    ) -> anyhow::Result<Report> {
        let kernel_samples = match (&snapshot.samples, self.probes.sampling()) {
            (Some(samples), Some(sampling)) => {
                let rows = samples
                    .iter()
                    .map(|s| Ok((s.clone(), self.by_function(s)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let (clock, irq) = (self.clock.clone(), self.probes.irq());
                Some(SampleReport::new(sampling.frequency_hz, clock, (&rows, irq), top))
            }
            _ => None,
        };
        let kernel_functions = match (&snapshot.functions, self.probes.functions()) {
            (Some(counts), Some(counter)) => {
                let skipped: HashSet<&str> =
                    counter.skipped.iter().map(|s| s.target.name.as_str()).collect();
                let attached: Vec<bool> =
                    counter.targets.iter().map(|t| !skipped.contains(t.name.as_str())).collect();
                let overhead = self.probes.function_overhead()?.unwrap_or_default();
                Some(FunctionReport::new(
                    counter.backend,
                    &counter.targets,
                    &attached,
                    (counts, counter.irq),
                    overhead,
                    top,
                    period.scope == Scope::Total,
                ))
            }
            _ => None,
        };
        let kernel_lines = match (&snapshot.lines, &self.lines, self.probes.line_probes()) {
            (Some(counts), Some(plan), Some((skipped, irq))) => {
                let overhead = self.probes.line_overhead()?.unwrap_or_default();
                Some(LineReport::new(plan, (counts, irq), skipped, overhead))
            }
            _ => None,
        };
        let report = Report {
            kernel_lines,
            ..Report::new(
                &self.info,
                period,
                &snapshot.syscalls,
                kernel_samples,
                kernel_functions,
                top,
            )
        };
        Ok(match &snapshot.latency {
            Some(latency) => report.with_latency(latency),
            None => report,
        })
    }

    fn by_function(
        &mut self,
        samples: &SampleCounts,
    ) -> anyhow::Result<BTreeMap<KernelFunction, u64>> {
        let symbols = self.symbols.as_mut().expect("sampling sessions have symbols");
        let by_ip = samples.by_ip();
        let ips: Vec<u64> = by_ip.keys().copied().collect();
        let mut by_function = BTreeMap::new();
        let wanted = |f: &KernelFunction| {
            self.sampled_functions.as_ref().is_none_or(|m| m.matches(&f.name, &f.module))
        };
        for (function, n) in symbols.functions(&ips)?.into_iter().zip(by_ip.values()) {
            if wanted(&function) {
                *by_function.entry(function).or_default() += n;
            }
        }
        Ok(by_function)
    }

    /// Folded stacks ("cgroup;outer;...;inner count") of the whole trace, a row's under its
    /// label (see [`folded::row_labels`]).
    fn folded_stacks(&mut self, samples: &[SampleCounts]) -> anyhow::Result<BTreeMap<String, u64>> {
        let symbols = self.symbols.as_mut().expect("sampling sessions have symbols");
        let mut frames_of: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
        let mut folded = BTreeMap::new();
        let labels = folded::row_labels(&self.info.cgroups, self.probes.irq());
        for (label, counts) in labels.iter().zip(samples) {
            for (&(ip, stack_id), &n) in &counts.by_location {
                let ips = if stack_id == NO_STACK {
                    vec![ip]
                } else {
                    match frames_of.get(&stack_id) {
                        Some(frames) => frames.clone(),
                        None => {
                            let frames = self.probes.stack(stack_id)?;
                            frames_of.insert(stack_id, frames.clone());
                            frames
                        }
                    }
                };
                let mut line = folded::frame_name(label);
                for function in symbols.functions(&ips)?.iter().rev() {
                    line.push(';');
                    line += &folded::frame_name(&match function.module.as_str() {
                        CORE_KERNEL => function.name.clone(),
                        module => format!("{}_[{module}]", function.name),
                    });
                }
                *folded.entry(line).or_default() += n;
            }
        }
        Ok(folded)
    }
}

/// How often the traced cgroups are checked for removal: a removal is dated to within this.
const PRESENCE_CHECK: Duration = Duration::from_millis(250);

/// Where stdout's reports go, and whether its reader went away.
struct Output {
    printer: Printer,
    closed: bool,
}

/// A point of the trace: the cumulative counters then (none at the start, when every counter
/// is zero), and when it was.
#[derive(Clone)]
struct Mark {
    snapshot: Option<Snapshot>,
    at: SystemTime,
    at_instant: Instant,
}

impl Mark {
    fn take(probes: &Probes) -> anyhow::Result<Self> {
        let snapshot = probes.snapshot()?;
        // Timed after the read, so that building the reports counts towards the next period.
        Ok(Self { snapshot: Some(snapshot), at: SystemTime::now(), at_instant: Instant::now() })
    }
}

/// Whether `e` is a write to a pipe or socket whose reader has gone away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// `uname -r` of the running kernel.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
