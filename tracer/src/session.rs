//! The trace loop shared by `attach` and `run`: a report every `-i` interval, then the total
//! once the stop condition (a deadline, a signal, the traced command's exit) is met.
use std::{
    future::Future,
    time::{Instant, SystemTime},
};

use tokio::time::{Interval, MissedTickBehavior};

use crate::{
    attach::syscalls::SyscallCounter,
    cgroup::Cgroup,
    cli::OutputArgs,
    collect::SyscallCounts,
    export::Printer,
    report::{Report, Scope, TraceInfo},
};

pub struct Session<'a> {
    counter: SyscallCounter,
    info: TraceInfo,
    output: &'a OutputArgs,
}

impl<'a> Session<'a> {
    /// Attaches the syscall counter to `cgroups`; counting starts now.
    pub fn attach(
        cgroups: &[Cgroup],
        command: Option<Vec<String>>,
        output: &'a OutputArgs,
    ) -> anyhow::Result<Self> {
        let counter = SyscallCounter::attach(cgroups)?;
        let info = TraceInfo {
            kernel_release: kernel_release(),
            cgroups: cgroups.iter().map(Into::into).collect(),
            command,
        };
        Ok(Self {
            counter,
            info,
            output,
        })
    }

    /// Prints interval reports until `stop` completes, then the total; returns `stop`'s output.
    /// Dropping the session afterwards detaches everything.
    pub async fn trace_until<T>(
        self,
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
        let mut previous = (
            vec![SyscallCounts::default(); self.info.cgroups.len()],
            start,
            started,
        );
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                outcome = &mut stop => break outcome,
                () = tick(&mut ticker) => {
                    let now = self.counter.snapshot()?;
                    let delta: Vec<_> = now.iter().zip(&previous.0).map(|(n, p)| n.since(p)).collect();
                    let report = Report::new(&self.info, Scope::Interval, previous.1, previous.2.elapsed(), &delta, self.output.top);
                    printer.print(&report)?;
                    previous = (now, SystemTime::now(), Instant::now());
                }
            }
        };
        let total = self.counter.snapshot()?;
        printer.print(&Report::new(
            &self.info,
            Scope::Total,
            start,
            started.elapsed(),
            &total,
            self.output.top,
        ))?;
        outcome
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
