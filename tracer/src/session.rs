//! The trace loop shared by `attach` and `run`: a report every `-i` interval, then the total
//! once the stop condition (a deadline, a signal, the traced command's exit) is met.
use std::{
    collections::BTreeMap,
    future::Future,
    time::{Instant, SystemTime},
};

use tokio::time::{Interval, MissedTickBehavior};
use tracer_common::NO_STACK;

use crate::{
    attach::{Probes, Snapshot, validate_frequency},
    cgroup::Cgroup,
    cli::{OutputArgs, ProfileArgs},
    collect::SampleCounts,
    export::{Printer, folded},
    report::{Period, Report, SampleReport, Scope, TraceInfo},
    symbolize::{CORE_KERNEL, KernelFunction, KernelSymbols},
};

pub struct Session<'a> {
    probes: Probes,
    /// Present when sampling: one symbolizer for the whole trace.
    symbols: Option<KernelSymbols>,
    info: TraceInfo,
    output: &'a OutputArgs,
    profile: &'a ProfileArgs,
}

impl<'a> Session<'a> {
    /// Checks the options, then attaches to `cgroups`; counting starts now.
    pub fn attach(
        cgroups: &[Cgroup],
        command: Option<Vec<String>>,
        output: &'a OutputArgs,
        profile: &'a ProfileArgs,
    ) -> anyhow::Result<Self> {
        let sampling = profile.sampling();
        if let Some(sampling) = sampling {
            validate_frequency(sampling.frequency_hz)?;
        }
        if let Some(path) = &profile.stacks {
            folded::check_target(path, profile.force)?;
        }
        let symbols = sampling.map(|_| KernelSymbols::running_kernel()).transpose()?;
        let probes = Probes::attach(cgroups, sampling)?;
        let info = TraceInfo {
            kernel_release: kernel_release(),
            cgroups: cgroups.iter().map(Into::into).collect(),
            command,
        };
        Ok(Self { probes, symbols, info, output, profile })
    }

    /// Prints interval reports until `stop` completes, then the total; returns `stop`'s output.
    /// Dropping the session afterwards detaches everything.
    pub async fn trace_until<T>(
        mut self,
        stop: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let mut printer = Printer::new(self.output.output);
        let start = SystemTime::now();
        let started = Instant::now();
        let mut ticker = self.output.interval.map(|period| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        let mut previous: Option<(Snapshot, SystemTime, Instant)> = None;
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                outcome = &mut stop => break outcome,
                () = tick(&mut ticker) => {
                    let now = self.probes.snapshot()?;
                    let (delta, since, since_instant) = match &previous {
                        Some((before, at, at_instant)) => (difference(&now, before), *at, *at_instant),
                        None => (now.clone(), start, started),
                    };
                    let period = Period { scope: Scope::Interval, start: since, duration: since_instant.elapsed() };
                    printer.print(&self.report(period, &delta)?)?;
                    previous = Some((now, SystemTime::now(), Instant::now()));
                }
            }
        };
        let total = self.probes.snapshot()?;
        let period = Period { scope: Scope::Total, start, duration: started.elapsed() };
        printer.print(&self.report(period, &total)?)?;
        if let (Some(path), Some(samples)) = (&self.profile.stacks, &total.samples) {
            let stacks = self.folded_stacks(samples)?;
            folded::write(path, &stacks, self.profile.force)?;
            eprintln!("ktrace: wrote {} folded kernel stacks to {}", stacks.len(), path.display());
        }
        outcome
    }

    fn report(&mut self, period: Period, snapshot: &Snapshot) -> anyhow::Result<Report> {
        let kernel_samples = match (&snapshot.samples, self.probes.sampling()) {
            (Some(samples), Some(sampling)) => {
                let per_cgroup = samples
                    .iter()
                    .map(|s| Ok((s.clone(), self.by_function(s)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Some(SampleReport::new(sampling.frequency_hz, &per_cgroup, self.output.top))
            }
            _ => None,
        };
        Ok(Report::new(&self.info, period, &snapshot.syscalls, kernel_samples, self.output.top))
    }

    fn by_function(
        &mut self,
        samples: &SampleCounts,
    ) -> anyhow::Result<BTreeMap<KernelFunction, u64>> {
        let symbols = self.symbols.as_mut().expect("sampling sessions have symbols");
        let by_ip = samples.by_ip();
        let ips: Vec<u64> = by_ip.keys().copied().collect();
        let mut by_function = BTreeMap::new();
        for (function, n) in symbols.functions(&ips)?.into_iter().zip(by_ip.values()) {
            *by_function.entry(function).or_default() += n;
        }
        Ok(by_function)
    }

    /// Folded stacks ("cgroup;outer;...;inner count") of the whole trace.
    fn folded_stacks(&mut self, samples: &[SampleCounts]) -> anyhow::Result<BTreeMap<String, u64>> {
        let symbols = self.symbols.as_mut().expect("sampling sessions have symbols");
        let mut frames_of: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
        let mut folded = BTreeMap::new();
        for (cgroup, counts) in self.info.cgroups.iter().zip(samples) {
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
                let mut line = folded::frame_name(&cgroup.label);
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

/// The counters of the period between two cumulative snapshots.
fn difference(now: &Snapshot, before: &Snapshot) -> Snapshot {
    Snapshot {
        syscalls: now.syscalls.iter().zip(&before.syscalls).map(|(n, b)| n.since(b)).collect(),
        samples: now
            .samples
            .as_ref()
            .zip(before.samples.as_ref())
            .map(|(now, before)| now.iter().zip(before).map(|(n, b)| n.since(b)).collect()),
    }
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
