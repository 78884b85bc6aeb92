//! The data every output format renders: one report per interval or for the whole run.
//!
//! Serialized as is for `--output json` and in records, and read back from records (see
//! `record`); the schema is documented in docs/json-schema.md and versioned by
//! `schema_version`.
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use syscalls::Sysno;
use tracer_common::Abi;

use crate::{
    attach::{Backend, IrqMode},
    cgroup::Cgroup,
    collect::{Count, Overhead, SampleCounts, Syscall, SyscallCounts, SyscallLatencies},
    functions::Target,
    latency::Latency,
    lines::LineReport,
    runtime::WorkloadRef,
    symbolize::KernelFunction,
};

pub const SCHEMA_VERSION: u32 = 1;

/// The name of the column of all entries in interrupt context on the machine, whoever was
/// interrupted (`--irq separate`), wherever a cgroup's name would stand.
pub const ALL_INTERRUPTS: &str = "(interrupts)";

/// What stays the same across the reports of one trace.
#[derive(Debug, Clone)]
pub struct TraceInfo {
    pub kernel_release: String,
    pub cgroups: Vec<CgroupInfo>,
    /// The command `ktrace run` ran, if any.
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupInfo {
    /// The name the user gave (or the cgroup `run` created); a workload's name.
    pub label: String,
    pub path: String,
    pub id: u64,
    /// The container, sandbox or VM this cgroup holds, when it was named or found by pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
    /// When ktrace found the cgroup gone (removed during the trace), RFC 3339 UTC: its counts
    /// end there. Absent while it exists, and in records of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vanished_at: Option<String>,
}

impl From<&Cgroup> for CgroupInfo {
    fn from(c: &Cgroup) -> Self {
        Self {
            label: c.label.clone(),
            path: c.path.display().to_string(),
            id: c.id,
            workload: c.workload.clone(),
            vanished_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The counts of one `-i` interval.
    Interval,
    /// The counts since tracing started.
    Total,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interval => "interval",
            Self::Total => "total",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub ktrace_version: String,
    pub kernel_release: String,
    pub scope: Scope,
    /// Start of the period this report covers, RFC 3339 UTC.
    pub start_time: String,
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The traced cgroups; every `counts` array below is in this order.
    pub cgroups: Vec<CgroupInfo>,
    /// All syscalls of each cgroup, including rows left out by `--top`.
    pub totals: Vec<Count>,
    /// Sorted by calls summed over cgroups, most first.
    pub syscalls: Vec<SyscallRow>,
    /// Rows left out by `--top`.
    pub rows_omitted: usize,
    /// The sampled kernel profile, with `--sample`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_samples: Option<SampleReport>,
    /// Counted kernel function entries, with `--functions`, `--module` or `--all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_functions: Option<FunctionReport>,
    /// Counted source line hits, with `--lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_lines: Option<LineReport>,
}

/// What the figures of a kernel function section are, written out in every report so that no
/// reader takes one for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Exact counts (of function entries).
    Counts,
    /// Samples: statistical, never counts.
    Samples,
}

/// Exact counts of kernel function entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionReport {
    /// Always [`Kind::Counts`]: every figure is a number of function entries.
    pub kind: Kind,
    pub backend: Backend,
    /// Functions attached, and functions that matched but could not be attached.
    pub attached: usize,
    pub skipped: usize,
    pub overhead: Overhead,
    /// What entries in interrupt context count for (`--irq`). Left out for `task`, which is
    /// what records from before `--irq` counted, so that those read and write back unchanged.
    #[serde(default = "IrqMode::before_irq", skip_serializing_if = "IrqMode::is_task")]
    pub irq: IrqMode,
    /// Entries of all attached functions, per cgroup (with `--irq separate`: in its tasks).
    pub totals: Vec<u64>,
    /// With `--irq separate`: entries in interrupts while the cgroup's task ran, per cgroup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_interrupts_totals: Vec<u64>,
    /// With `--irq separate`: entries in interrupt context on the whole machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_interrupts_total: Option<u64>,
    /// Functions entered at least once, most entries (summed over cgroups) first.
    pub functions: Vec<CountedFunction>,
    pub functions_omitted: usize,
    /// Per module: functions attached, functions hit per cgroup, entries per cgroup.
    pub modules: Vec<CountedModule>,
    /// In the total report only: the attached functions no traced cgroup entered. With
    /// `functions` this is the whole traced set, which coverage reports need as denominator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_entered: Vec<FunctionName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionName {
    pub name: String,
    pub module: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedFunction {
    pub name: String,
    pub module: String,
    pub counts: Vec<u64>,
    /// Entries in interrupt context; see [`FunctionReport::in_interrupts_totals`].
    #[serde(flatten)]
    pub interrupts: InInterrupts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedModule {
    pub module: String,
    pub traced: usize,
    /// Per cgroup: its functions its tasks entered.
    pub hit: Vec<usize>,
    /// Per cgroup: entries of its functions by the cgroup's tasks.
    pub counts: Vec<u64>,
    /// Entries of its functions in interrupt context; see
    /// [`FunctionReport::in_interrupts_totals`].
    #[serde(flatten)]
    pub interrupts: InInterrupts,
}

impl FunctionReport {
    /// The entries of all attached functions in interrupt context.
    pub fn interrupt_totals(&self) -> InInterrupts {
        InInterrupts {
            in_interrupts: self.in_interrupts_totals.clone(),
            all_interrupts: self.all_interrupts_total,
        }
    }

    /// `rows[row][i]` are the entries of `targets[i]`, a row per cgroup, and with
    /// `IrqMode::Separate` then one per cgroup in interrupts and one for the machine's
    /// interrupts; `attached[i]` says whether it is.
    pub fn new(
        backend: Backend,
        targets: &[Target],
        attached: &[bool],
        (rows, irq): (&[Vec<u64>], IrqMode),
        overhead: Overhead,
        top: Option<usize>,
        list_not_entered: bool,
    ) -> Self {
        let rows = CounterRows::split(rows, irq);
        let cgroups = rows.task.len();
        let mut functions = Vec::new();
        let mut not_entered = Vec::new();
        let mut modules: BTreeMap<&str, CountedModule> = BTreeMap::new();
        for (i, target) in targets.iter().enumerate().filter(|&(i, _)| attached[i]) {
            let Hits { counts: per_cgroup, interrupts } = rows.of(i);
            let module = modules.entry(&target.module).or_insert_with(|| CountedModule {
                module: target.module.clone(),
                traced: 0,
                hit: vec![0; cgroups],
                counts: vec![0; cgroups],
                interrupts: InInterrupts::zero(cgroups, irq),
            });
            module.traced += 1;
            for (c, &n) in per_cgroup.iter().enumerate() {
                module.hit[c] += usize::from(n > 0);
                module.counts[c] = module.counts[c].saturating_add(n);
            }
            module.interrupts.add(&interrupts);
            if per_cgroup.iter().all(|&n| n == 0) && interrupts.of_machine() == 0 {
                if list_not_entered {
                    not_entered.push(FunctionName {
                        name: target.name.clone(),
                        module: target.module.clone(),
                    });
                }
            } else {
                functions.push(CountedFunction {
                    name: target.name.clone(),
                    module: target.module.clone(),
                    counts: per_cgroup,
                    interrupts,
                });
            }
        }
        let sum = |c: &[u64]| c.iter().fold(0u64, |s, &n| s.saturating_add(n));
        functions.sort_by(|a, b| {
            (sum(&b.counts), b.interrupts.all_interrupts)
                .cmp(&(sum(&a.counts), a.interrupts.all_interrupts))
                .then_with(|| a.name.cmp(&b.name))
        });
        // Over every attached function, before --top cuts the list.
        let attached_sum = |row: &Vec<u64>| {
            row.iter()
                .zip(attached)
                .filter(|&(_, &a)| a)
                .fold(0u64, |s, (&n, _)| s.saturating_add(n))
        };
        let in_interrupts_totals = rows.in_interrupts.iter().map(attached_sum).collect();
        let all_interrupts_total = rows.machine.map(attached_sum);
        let functions_omitted = truncate(&mut functions, top);
        let mut modules: Vec<CountedModule> = modules.into_values().collect();
        modules.sort_by(|a, b| {
            (sum(&b.counts), b.interrupts.all_interrupts)
                .cmp(&(sum(&a.counts), a.interrupts.all_interrupts))
                .then_with(|| a.module.cmp(&b.module))
        });
        let totals = (0..cgroups)
            .map(|c| modules.iter().fold(0u64, |s, m| s.saturating_add(m.counts[c])))
            .collect();
        Self {
            kind: Kind::Counts,
            backend,
            attached: attached.iter().filter(|&&a| a).count(),
            skipped: attached.iter().filter(|&&a| !a).count(),
            overhead,
            irq,
            totals,
            in_interrupts_totals,
            all_interrupts_total,
            functions,
            functions_omitted,
            modules,
            not_entered,
        }
    }
}

/// Counter rows as the eBPF side lays them out for an [`IrqMode`] (see [`IrqMode::rows`]),
/// by context.
pub(crate) struct CounterRows<'a> {
    /// Per cgroup: its tasks' hits (with `IrqMode::Task`, also the interrupts while it ran).
    pub task: &'a [Vec<u64>],
    /// With `IrqMode::Separate`, per cgroup: hits in interrupts while its task ran.
    pub in_interrupts: &'a [Vec<u64>],
    /// With `IrqMode::Separate`: hits in interrupt context on the whole machine.
    pub machine: Option<&'a Vec<u64>>,
}

impl<'a> CounterRows<'a> {
    pub fn split(rows: &'a [Vec<u64>], irq: IrqMode) -> Self {
        let cgroups = if irq == IrqMode::Separate { rows.len() / 2 } else { rows.len() };
        let (task, interrupt_rows) = rows.split_at(cgroups);
        let (in_interrupts, machine) = interrupt_rows.split_at(interrupt_rows.len().min(cgroups));
        Self { task, in_interrupts, machine: machine.first() }
    }

    /// The hits of counter `i` in every row.
    pub fn of(&self, i: usize) -> Hits {
        let column = |rows: &[Vec<u64>]| -> Vec<u64> {
            rows.iter().map(|row| row.get(i).copied().unwrap_or(0)).collect()
        };
        Hits {
            counts: column(self.task),
            interrupts: InInterrupts {
                in_interrupts: column(self.in_interrupts),
                all_interrupts: self.machine.map(|row| row.get(i).copied().unwrap_or(0)),
            },
        }
    }
}

/// Exact hits of one counter (a source line, a copy of it), by context as
/// [`CountedFunction`] has its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hits {
    /// Per cgroup: by its tasks (with `--irq task`, also the interrupts while its task ran).
    pub counts: Vec<u64>,
    /// Hits in interrupt context.
    #[serde(flatten)]
    pub interrupts: InInterrupts,
}

impl Hits {
    /// No hits yet in `cgroups` cgroups, with the interrupt columns of `irq`.
    pub fn zero(cgroups: usize, irq: IrqMode) -> Self {
        Self { counts: vec![0; cgroups], interrupts: InInterrupts::zero(cgroups, irq) }
    }

    /// Whether it has a figure per cgroup of `cgroups` (and an interrupt figure per cgroup if
    /// any).
    pub fn fits(&self, cgroups: usize) -> bool {
        let in_interrupts = &self.interrupts.in_interrupts;
        self.counts.len() == cgroups && (in_interrupts.is_empty() || in_interrupts.len() == cgroups)
    }

    pub fn add(&mut self, other: &Self) {
        add_all(&mut self.counts, &other.counts);
        self.interrupts.add(&other.interrupts);
    }
}

/// The figures of a function, module or source line in interrupt context (hardirq, softirq,
/// NMI), kept apart from its tasks' with `--irq separate`: per cgroup those while a task of
/// the cgroup was current, and those of the whole machine, whoever was interrupted. Without
/// `--irq separate` it is empty and writes nothing; it is flattened into its row, so records
/// keep the keys `in_interrupts` and `all_interrupts`, and rows without them read as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InInterrupts {
    /// Per cgroup: in interrupts while a task of the cgroup was current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_interrupts: Vec<u64>,
    /// In interrupt context on the whole machine: the [`ALL_INTERRUPTS`] column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_interrupts: Option<u64>,
}

impl InInterrupts {
    /// None yet in `cgroups` cgroups: zeros with `IrqMode::Separate`, else empty.
    pub fn zero(cgroups: usize, irq: IrqMode) -> Self {
        let separate = irq == IrqMode::Separate;
        Self {
            in_interrupts: if separate { vec![0; cgroups] } else { Vec::new() },
            all_interrupts: separate.then_some(0),
        }
    }

    /// Those while a task of cgroup `c` was current; 0 where not kept apart.
    pub fn of_cgroup(&self, c: usize) -> u64 {
        self.in_interrupts.get(c).copied().unwrap_or(0)
    }

    /// Those of the whole machine; 0 where not kept apart.
    pub fn of_machine(&self) -> u64 {
        self.all_interrupts.unwrap_or(0)
    }

    /// Per cgroup, then the machine's (the [`ALL_INTERRUPTS`] column); nothing where not
    /// kept apart.
    pub fn columns(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_interrupts.iter().copied().chain(self.all_interrupts)
    }

    /// Each figure with its cgroup's index, then the machine's with `None`; nothing where not
    /// kept apart.
    pub fn by_cgroup(&self) -> impl Iterator<Item = (Option<usize>, u64)> + '_ {
        let cgroups = self.in_interrupts.iter().enumerate().map(|(c, &n)| (Some(c), n));
        cgroups.chain(self.all_interrupts.map(|n| (None, n)))
    }

    /// Adds `other`'s figures, where both have them.
    pub fn add(&mut self, other: &Self) {
        add_all(&mut self.in_interrupts, &other.in_interrupts);
        if let (Some(sum), Some(n)) = (&mut self.all_interrupts, other.all_interrupts) {
            *sum = sum.saturating_add(n);
        }
    }
}

/// A row of kernel functions or of modules, counted or sampled: what the views and sections
/// that treat the four alike read of it.
pub trait KernelRow {
    /// The function's name and `Some` module, or the module's name and `None`.
    fn key(&self) -> (&str, Option<&str>);
    fn interrupts(&self) -> &InInterrupts;
}

/// Implements [`KernelRow`] for a row type whose key `|row| ...` gives.
macro_rules! kernel_row {
    ($row:ty, |$r:ident| $key:expr) => {
        impl KernelRow for $row {
            fn key(&self) -> (&str, Option<&str>) {
                let $r = self;
                $key
            }

            fn interrupts(&self) -> &InInterrupts {
                &self.interrupts
            }
        }
    };
}

kernel_row!(CountedFunction, |f| (&f.name, Some(&f.module)));
kernel_row!(CountedModule, |m| (&m.module, None));
kernel_row!(SampledFunction, |f| (&f.name, Some(&f.module)));
kernel_row!(SampledModule, |m| (&m.module, None));

/// Adds `more` to `sums` element by element, saturating.
fn add_all(sums: &mut [u64], more: &[u64]) {
    for (sum, &n) in sums.iter_mut().zip(more) {
        *sum = sum.saturating_add(n);
    }
}

/// The period a report covers.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub scope: Scope,
    pub start: SystemTime,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallRow {
    /// Name in its ABI's table, `syscall_<nr>` if unknown, `(out of range)` for numbers
    /// outside the counting table; 32-bit calls are marked, e.g. `getpid (i386)`.
    pub name: String,
    pub nr: Option<u32>,
    /// `"i386"` for 32-bit calls (numbered from the i386 table); absent for x86_64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abi: Option<String>,
    pub counts: Vec<Count>,
    /// With `--latency`: per cgroup, the latency of the calls timed, `null` where none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Vec<Option<Latency>>>,
}

impl SyscallRow {
    /// Calls summed over cgroups, then blocked returns: the order of rows.
    fn weight(&self) -> (u64, u64) {
        self.counts.iter().fold((0u64, 0u64), |(calls, blocked), c| {
            (calls.saturating_add(c.calls), blocked.saturating_add(c.blocked))
        })
    }
}

impl Report {
    /// Builds a report from one [`SyscallCounts`] per traced cgroup (cumulative for
    /// [`Scope::Total`], a difference for [`Scope::Interval`]).
    pub fn new(
        info: &TraceInfo,
        period: Period,
        counts: &[SyscallCounts],
        kernel_samples: Option<SampleReport>,
        kernel_functions: Option<FunctionReport>,
        top: Option<usize>,
    ) -> Self {
        let mut seen: Vec<Syscall> =
            counts.iter().flat_map(|c| c.nonzero().map(|(syscall, _)| syscall)).collect();
        seen.sort_unstable();
        seen.dedup();
        let mut syscalls: Vec<SyscallRow> = seen
            .into_iter()
            .map(|syscall| SyscallRow {
                name: syscall_name(syscall),
                nr: Some(syscall.nr as u32),
                abi: (syscall.abi == Abi::I386).then(|| "i386".to_owned()),
                counts: counts.iter().map(|c| c.get(syscall)).collect(),
                latency: None,
            })
            .collect();
        if counts.iter().any(|c| !c.out_of_range().is_zero()) {
            syscalls.push(SyscallRow {
                name: "(out of range)".to_owned(),
                nr: None,
                abi: None,
                counts: counts.iter().map(SyscallCounts::out_of_range).collect(),
                latency: None,
            });
        }
        syscalls.sort_by(|a, b| b.weight().cmp(&a.weight()).then_with(|| a.name.cmp(&b.name)));
        let rows_omitted = truncate(&mut syscalls, top);
        Self {
            schema_version: SCHEMA_VERSION,
            ktrace_version: env!("CARGO_PKG_VERSION").to_owned(),
            kernel_release: info.kernel_release.clone(),
            scope: period.scope,
            start_time: humantime::format_rfc3339_millis(period.start).to_string(),
            duration_secs: period.duration.as_secs_f64(),
            command: info.command.clone(),
            cgroups: info.cgroups.clone(),
            totals: counts.iter().map(SyscallCounts::total).collect(),
            syscalls,
            rows_omitted,
            kernel_samples,
            kernel_functions,
            kernel_lines: None,
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_secs)
    }

    /// The report with every row's latency, from one [`SyscallLatencies`] per traced cgroup
    /// (`--latency`; cumulative or a difference, like the counts).
    pub fn with_latency(mut self, latencies: &[SyscallLatencies]) -> Self {
        for row in &mut self.syscalls {
            let syscall = row.syscall();
            row.latency = Some(
                latencies.iter().map(|l| l.get(syscall).and_then(Latency::from_buckets)).collect(),
            );
        }
        self
    }
}

impl SyscallRow {
    /// The syscall of this row; `None` for the calls out of range.
    fn syscall(&self) -> Option<Syscall> {
        let abi = if self.abi.as_deref() == Some("i386") { Abi::I386 } else { Abi::X86_64 };
        self.nr.map(|nr| Syscall { abi, nr: nr as usize })
    }
}

/// Keeps the first `top` rows; returns how many were dropped.
fn truncate<T>(rows: &mut Vec<T>, top: Option<usize>) -> usize {
    let keep = top.unwrap_or(usize::MAX).min(rows.len());
    let omitted = rows.len() - keep;
    rows.truncate(keep);
    omitted
}

/// A sampled kernel profile: statistical, so every figure is a number of samples, never a
/// count of calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleReport {
    /// Always [`Kind::Samples`], so that no reader mistakes these numbers for counts.
    pub kind: Kind,
    pub frequency_hz: u64,
    /// What samples in interrupt context count for (`--irq`). Left out for `task`, which is
    /// what records from before samples knew their context counted.
    #[serde(default = "IrqMode::before_irq", skip_serializing_if = "IrqMode::is_task")]
    pub irq: IrqMode,
    /// Per cgroup, in `cgroups` order (with `--irq separate`: its tasks' samples).
    pub totals: Vec<SampleTotalsRow>,
    /// With `--irq separate`: kernel samples in interrupts while the cgroup's task ran, per
    /// cgroup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_interrupts_totals: Vec<u64>,
    /// With `--irq separate`: kernel samples in interrupt context on the whole machine,
    /// whoever was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_interrupts_total: Option<u64>,
    /// With `--irq separate`: of `in_interrupts_totals`, the samples not recorded per
    /// function (the eBPF map was full), per cgroup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_interrupts_lost: Vec<u64>,
    /// With `--irq separate`: of `all_interrupts_total`, the samples not recorded per
    /// function, on the whole machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_interrupts_lost: Option<u64>,
    /// Most samples (summed over cgroups) first.
    pub functions: Vec<SampledFunction>,
    pub functions_omitted: usize,
    pub modules: Vec<SampledModule>,
    /// The event that took the samples, and what it cannot see. Absent in records of earlier
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<SampleClock>,
}

/// How the samples were taken. ktrace samples with `cpu-clock`, a timer interrupt: code that
/// runs with interrupts disabled is sampled where they are re-enabled
/// (`_raw_spin_unlock_irqrestore`, `finish_task_switch`), not where it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleClock {
    /// The perf event: always `cpu-clock`.
    pub event: String,
    /// Whether this machine has a hardware cycle counter that could sample inside
    /// interrupt-disabled code (a non-maskable interrupt); most VMs have none.
    pub hardware_cycles: bool,
}

impl SampleClock {
    /// The clock of ktrace's samples, on a machine with or without a hardware cycle counter.
    pub fn cpu_clock(hardware_cycles: bool) -> Self {
        Self { event: "cpu-clock".to_owned(), hardware_cycles }
    }

    /// What the clock hides, in one sentence for the reports.
    pub fn caveat(&self) -> String {
        let machine = if self.hardware_cycles {
            "this machine has a hardware cycle counter, which ktrace does not sample with"
        } else {
            "this machine has no hardware cycle counter, as most VMs have none"
        };
        format!(
            "Sampled with {}, a timer interrupt; {machine}. Time spent with interrupts disabled \
             is attributed to where they are re-enabled (_raw_spin_unlock_irqrestore, \
             finish_task_switch).",
            self.event
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleTotalsRow {
    /// Samples while a task of the cgroup ran in the kernel.
    pub kernel: u64,
    /// Samples while it ran in user space.
    pub user: u64,
    /// Kernel samples not recorded per function (the eBPF map was full).
    pub lost: u64,
    /// Kernel CPU time estimated from the samples: kernel / frequency.
    pub kernel_secs_estimate: f64,
    /// Kernel samples in ktrace's own BPF programs (`kt_*`, run in the traced tasks' syscalls):
    /// part of `kernel`, the sampled cost of tracing. Absent in records of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ktrace_programs: Option<u64>,
}

impl SampleTotalsRow {
    /// The share of kernel samples in ktrace's own programs, when known.
    pub fn ktrace_share(&self) -> Option<f64> {
        let own = self.ktrace_programs?;
        Some(if self.kernel == 0 { 0.0 } else { own as f64 / self.kernel as f64 })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledFunction {
    pub name: String,
    pub module: String,
    pub samples: Vec<u64>,
    /// samples / the cgroup's kernel samples: the estimated share of its kernel time.
    pub share: Vec<f64>,
    /// Samples in interrupt context; see [`SampleReport::in_interrupts_totals`].
    #[serde(flatten)]
    pub interrupts: InInterrupts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledModule {
    pub module: String,
    pub samples: Vec<u64>,
    pub share: Vec<f64>,
    /// Samples in interrupt context; see [`SampleReport::in_interrupts_totals`].
    #[serde(flatten)]
    pub interrupts: InInterrupts,
}

/// One row of samples (a cgroup's tasks, its interrupts, or the machine's): its totals and
/// its samples per kernel function.
pub type SampledRow = (SampleCounts, BTreeMap<KernelFunction, u64>);

impl SampleReport {
    /// The kernel samples in interrupt context.
    pub fn interrupt_totals(&self) -> InInterrupts {
        InInterrupts {
            in_interrupts: self.in_interrupts_totals.clone(),
            all_interrupts: self.all_interrupts_total,
        }
    }

    /// Of those, the samples not recorded per function (the sample map was full).
    pub fn interrupts_lost(&self) -> InInterrupts {
        InInterrupts {
            in_interrupts: self.in_interrupts_lost.clone(),
            all_interrupts: self.all_interrupts_lost,
        }
    }

    /// Kernel samples not recorded per function, in every row.
    pub fn lost(&self) -> u64 {
        let task = self.totals.iter().map(|t| t.lost);
        let interrupts = self.in_interrupts_lost.iter().copied().chain(self.all_interrupts_lost);
        task.chain(interrupts).fold(0, u64::saturating_add)
    }

    /// `rows[i]` holds row i's totals and its samples per kernel function, taken with
    /// `clock`: a row per cgroup, and with `IrqMode::Separate` then one per cgroup in
    /// interrupts and one for the machine's interrupts.
    pub fn new(
        frequency_hz: u64,
        clock: SampleClock,
        (rows, irq): (&[SampledRow], IrqMode),
        top: Option<usize>,
    ) -> Self {
        let cgroups = if irq == IrqMode::Separate { rows.len() / 2 } else { rows.len() };
        let per_cgroup = &rows[..cgroups];
        let machine = (irq == IrqMode::Separate).then(|| 2 * cgroups);
        let kernel: Vec<u64> = per_cgroup.iter().map(|(c, _)| c.kernel).collect();
        let share = |samples: &[u64]| -> Vec<f64> {
            samples
                .iter()
                .zip(&kernel)
                .map(|(&n, &k)| if k == 0 { 0.0 } else { n as f64 / k as f64 })
                .collect()
        };
        // Samples per row: the task rows, then with `--irq separate` the interrupt rows and
        // the machine's.
        let mut functions: BTreeMap<&KernelFunction, Vec<u64>> = BTreeMap::new();
        let mut modules: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (i, (_, by_function)) in rows.iter().enumerate() {
            for (function, &n) in by_function {
                functions.entry(function).or_insert_with(|| vec![0; rows.len()])[i] += n;
                modules.entry(&function.module).or_insert_with(|| vec![0; rows.len()])[i] += n;
            }
        }
        // The task rows, the interrupt rows and the machine's of one function or module.
        let split = |mut samples: Vec<u64>| {
            let interrupts = InInterrupts {
                in_interrupts: match machine {
                    Some(_) => samples[cgroups..2 * cgroups].to_vec(),
                    None => Vec::new(),
                },
                all_interrupts: machine.map(|m| samples[m]),
            };
            samples.truncate(cgroups);
            (share(&samples), samples, interrupts)
        };
        let busiest_first = |a: (&[u64], &InInterrupts), b: (&[u64], &InInterrupts)| {
            (b.0.iter().sum::<u64>(), b.1.all_interrupts)
                .cmp(&(a.0.iter().sum::<u64>(), a.1.all_interrupts))
        };
        let mut functions: Vec<SampledFunction> = functions
            .into_iter()
            .map(|(f, samples)| {
                let (share, samples, interrupts) = split(samples);
                SampledFunction {
                    name: f.name.clone(),
                    module: f.module.clone(),
                    samples,
                    share,
                    interrupts,
                }
            })
            .collect();
        functions.sort_by(|a, b| {
            busiest_first((&a.samples, &a.interrupts), (&b.samples, &b.interrupts))
                .then_with(|| a.name.cmp(&b.name))
        });
        let functions_omitted = truncate(&mut functions, top);
        let mut modules: Vec<SampledModule> = modules
            .into_iter()
            .map(|(m, samples)| {
                let (share, samples, interrupts) = split(samples);
                SampledModule { module: m.to_owned(), samples, share, interrupts }
            })
            .collect();
        modules.sort_by(|a, b| {
            busiest_first((&a.samples, &a.interrupts), (&b.samples, &b.interrupts))
                .then_with(|| a.module.cmp(&b.module))
        });
        let interrupt_rows = machine.map_or(&[][..], |m| &rows[cgroups..m]);
        Self {
            kind: Kind::Samples,
            frequency_hz,
            irq,
            totals: per_cgroup
                .iter()
                .map(|(c, by_function)| SampleTotalsRow {
                    kernel: c.kernel,
                    user: c.user,
                    lost: c.lost,
                    kernel_secs_estimate: c.kernel as f64 / frequency_hz as f64,
                    ktrace_programs: Some(
                        by_function
                            .iter()
                            .filter(|(f, _)| f.is_ktrace_program())
                            .map(|(_, &n)| n)
                            .sum(),
                    ),
                })
                .collect(),
            in_interrupts_totals: interrupt_rows.iter().map(|(c, _)| c.kernel).collect(),
            all_interrupts_total: machine.map(|m| rows[m].0.kernel),
            in_interrupts_lost: interrupt_rows.iter().map(|(c, _)| c.lost).collect(),
            all_interrupts_lost: machine.map(|m| rows[m].0.lost),
            functions,
            functions_omitted,
            modules,
            clock: Some(clock),
        }
    }
}

/// The name of `syscall` in its ABI's table; 32-bit calls marked as such.
fn syscall_name(syscall: Syscall) -> String {
    let nr = syscall.nr;
    match syscall.abi {
        Abi::X86_64 => Sysno::new(nr).map(|s| s.name().to_owned()),
        Abi::I386 => syscalls::x86::Sysno::new(nr).map(|s| format!("{} (i386)", s.name())),
    }
    .unwrap_or_else(|| match syscall.abi {
        Abi::X86_64 => format!("syscall_{nr}"),
        Abi::I386 => format!("syscall_{nr} (i386)"),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use tracer_common::{MAX_SYSCALLS, SyscallCount, SyscallTable};

    use super::*;

    pub(crate) fn counts(entries: &[(usize, u64, u64)]) -> SyscallCounts {
        let mut t = SyscallTable::default();
        for &(nr, calls, errors) in entries {
            t.counts[nr] = SyscallCount { calls, errors, blocked: 0 };
        }
        SyscallCounts::sum_per_cpu(&[t])
    }

    pub(crate) fn info(labels: &[&str]) -> TraceInfo {
        TraceInfo {
            kernel_release: "6.18.0-test".to_owned(),
            cgroups: labels
                .iter()
                .zip(1u64..)
                .map(|(l, id)| CgroupInfo {
                    label: l.to_string(),
                    path: format!("/sys/fs/cgroup/{l}"),
                    id,
                    workload: None,
                    vanished_at: None,
                })
                .collect(),
            command: None,
        }
    }

    pub(crate) fn period(secs: u64) -> Period {
        Period {
            scope: Scope::Total,
            start: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(secs),
        }
    }

    /// getppid (110) x 100000 in "lxc", read (0) x 7 with 2 failures in both.
    pub(crate) fn sample() -> Report {
        let lxc = counts(&[(110, 100_000, 0), (0, 5, 2)]);
        let gvisor = counts(&[(0, 2, 0), (81, 3, 3)]);
        Report::new(&info(&["lxc", "gvisor"]), period(2), &[lxc, gvisor], None, None, None)
    }

    fn function(name: &str, module: &str) -> KernelFunction {
        KernelFunction { name: name.to_owned(), module: module.to_owned() }
    }

    /// `sample()` plus a profile: lxc 40 kernel samples (vfs_write 30, veth_xmit 2, ...),
    /// gvisor 10 (vfs_write 5, ksys_write 5).
    pub(crate) fn sampled() -> Report {
        let totals =
            |kernel, user| SampleCounts { kernel, user, lost: 0, by_location: BTreeMap::new() };
        let lxc = BTreeMap::from([
            (function("vfs_write", "vmlinux"), 30),
            (function("ksys_write", "vmlinux"), 8),
            (function("veth_xmit", "veth"), 2),
        ]);
        let gvisor = BTreeMap::from([
            (function("vfs_write", "vmlinux"), 5),
            (function("ksys_write", "vmlinux"), 5),
        ]);
        let samples = SampleReport::new(
            999,
            SampleClock::cpu_clock(false),
            (&[(totals(40, 10), lxc), (totals(10, 0), gvisor)], IrqMode::Task),
            None,
        );
        Report { kernel_samples: Some(samples), ..sample() }
    }

    /// `sampled()` made with `--irq separate`: besides, net_rx_action sampled 6 times in
    /// interrupts while lxc ran and 9 times on the machine (with 3 in veth_xmit), and 1
    /// sample lost in interrupts while lxc ran, 1 on the machine.
    pub(crate) fn sampled_apart() -> Report {
        let totals = |kernel, user, lost| SampleCounts { kernel, user, lost, ..Default::default() };
        let lxc = BTreeMap::from([
            (function("vfs_write", "vmlinux"), 30),
            (function("ksys_write", "vmlinux"), 8),
            (function("veth_xmit", "veth"), 2),
        ]);
        let gvisor = BTreeMap::from([
            (function("vfs_write", "vmlinux"), 5),
            (function("ksys_write", "vmlinux"), 5),
        ]);
        let lxc_irq = BTreeMap::from([(function("net_rx_action", "vmlinux"), 6)]);
        let machine = BTreeMap::from([
            (function("net_rx_action", "vmlinux"), 9),
            (function("veth_xmit", "veth"), 3),
        ]);
        // Task rows, interrupt rows, the machine's.
        let rows = [
            (totals(40, 10, 0), lxc),
            (totals(10, 0, 0), gvisor),
            (totals(6, 0, 1), lxc_irq),
            (totals(0, 0, 0), BTreeMap::new()),
            (totals(13, 0, 1), machine),
        ];
        let clock = SampleClock::cpu_clock(false);
        let samples = SampleReport::new(999, clock, (&rows, IrqMode::Separate), None);
        Report { kernel_samples: Some(samples), ..sample() }
    }

    #[test]
    fn samples_in_interrupts_are_kept_apart_with_irq_separate() {
        let s = sampled_apart().kernel_samples.unwrap();
        assert_eq!(s.irq, IrqMode::Separate);
        let functions: Vec<_> = s
            .functions
            .iter()
            .map(|f| {
                let i = &f.interrupts;
                (f.name.as_str(), f.samples.clone(), i.in_interrupts.clone(), i.all_interrupts)
            })
            .collect();
        assert_eq!(
            functions,
            [
                ("vfs_write", vec![30, 5], vec![0, 0], Some(0)),
                ("ksys_write", vec![8, 5], vec![0, 0], Some(0)),
                ("veth_xmit", vec![2, 0], vec![0, 0], Some(3)),
                // Sampled in interrupts only: after every function with task samples.
                ("net_rx_action", vec![0, 0], vec![6, 0], Some(9)),
            ]
        );
        // Shares are of the cgroup's task-context kernel samples.
        assert_eq!(s.functions[0].share, [0.75, 0.5]);
        assert_eq!(s.functions[3].share, [0.0, 0.0]);
        let totals: Vec<_> = s.totals.iter().map(|t| (t.kernel, t.user)).collect();
        assert_eq!(totals, [(40, 10), (10, 0)]);
        assert_eq!((s.in_interrupts_lost.clone(), s.all_interrupts_lost), (vec![1, 0], Some(1)));
        assert_eq!(s.lost(), 2);
        assert_eq!((s.in_interrupts_totals, s.all_interrupts_total), (vec![6, 0], Some(13)));
        let modules: Vec<_> = s
            .modules
            .iter()
            .map(|m| (m.module.as_str(), m.samples.clone(), m.interrupts.columns().collect()))
            .collect::<Vec<(_, _, Vec<u64>)>>();
        assert_eq!(
            modules,
            [("vmlinux", vec![38, 10], vec![6, 0, 9]), ("veth", vec![2, 0], vec![0, 0, 3])]
        );
    }

    #[test]
    fn sample_records_from_before_irq_read_as_task() {
        let mut json = serde_json::to_value(sampled_apart().kernel_samples.unwrap()).unwrap();
        let object = json.as_object_mut().unwrap();
        let fields = [
            "irq",
            "in_interrupts_totals",
            "all_interrupts_total",
            "in_interrupts_lost",
            "all_interrupts_lost",
        ];
        for field in fields {
            object.remove(field);
        }
        for row in object["functions"].as_array_mut().unwrap() {
            row.as_object_mut().unwrap().retain(|k, _| !k.contains("interrupts"));
        }
        let s: SampleReport = serde_json::from_value(json).unwrap();
        assert_eq!(s.irq, IrqMode::Task);
        assert!(s.functions.iter().all(|f| f.interrupts.columns().next().is_none()));
        // And a report made with --irq task writes none of the new fields.
        let task = serde_json::to_value(sampled().kernel_samples.unwrap()).unwrap();
        assert!(task.get("irq").is_none() && task.get("all_interrupts_total").is_none(), "{task}");
        assert!(task["functions"][0].get("in_interrupts").is_none(), "{task}");
    }

    /// ktrace's own programs were listed as vmlinux functions, their cost not said.
    #[test]
    fn samples_in_ktraces_own_programs_are_a_share_of_the_kernel_samples() {
        let by_function = BTreeMap::from([
            (function("bpf_prog_47fe02895b516e1c_kt_sys_enter", "bpf"), 30),
            (function("bpf_prog_b02be16f26fd1743_kt_sys_exit", "bpf"), 10),
            (function("bpf_prog_0123456789abcdef_other_tool", "bpf"), 5),
            (function("do_syscall_64", "vmlinux"), 155),
        ]);
        let counts = SampleCounts { kernel: 200, ..Default::default() };
        let rows = [(counts, by_function)];
        let s = SampleReport::new(999, SampleClock::cpu_clock(false), (&rows, IrqMode::Task), None);
        assert_eq!(s.totals[0].ktrace_programs, Some(40));
        assert_eq!(s.totals[0].ktrace_share(), Some(0.2));
        assert_eq!(s.modules[1].module, "bpf");
        assert_eq!(s.modules[1].samples, [45]);
        let clock = s.clock.unwrap();
        assert_eq!((clock.event.as_str(), clock.hardware_cycles), ("cpu-clock", false));
        assert!(clock.caveat().contains("no hardware cycle counter"), "{}", clock.caveat());
    }

    #[test]
    fn sample_profile_ranks_functions_and_modules_by_samples() {
        let s = sampled().kernel_samples.unwrap();
        assert_eq!(s.kind, Kind::Samples);
        let functions: Vec<_> =
            s.functions.iter().map(|f| (f.name.as_str(), f.samples.clone())).collect();
        assert_eq!(
            functions,
            [("vfs_write", vec![30, 5]), ("ksys_write", vec![8, 5]), ("veth_xmit", vec![2, 0])]
        );
        assert_eq!(s.functions[0].share, [0.75, 0.5]);
        let modules: Vec<_> =
            s.modules.iter().map(|m| (m.module.as_str(), m.samples.clone())).collect();
        assert_eq!(modules, [("vmlinux", vec![38, 10]), ("veth", vec![2, 0])]);
        assert_eq!(s.totals[0].kernel_secs_estimate, 40.0 / 999.0);
        // --top cuts functions, not modules.
        let rows = [(
            SampleCounts { kernel: 3, ..Default::default() },
            BTreeMap::from([(function("a", "vmlinux"), 2), (function("b", "m"), 1)]),
        )];
        let top =
            SampleReport::new(999, SampleClock::cpu_clock(true), (&rows, IrqMode::Task), Some(1));
        assert_eq!((top.functions.len(), top.functions_omitted, top.modules.len()), (1, 1, 2));
    }

    fn target(name: &str, module: &str) -> Target {
        Target {
            name: name.to_owned(),
            module: module.to_owned(),
            btf_id: None,
            patch_sites: vec![],
        }
    }

    /// A total report of the cgroups `labels` on kernel `release` that counted every one of
    /// `targets` (name, module): `counts[cgroup][i]` entries of `targets[i]`.
    /// A report of `labels` on `release` that counted `targets`: `rows` as
    /// [`FunctionReport::new`] takes them.
    pub(crate) fn counting(
        labels: &[&str],
        release: &str,
        targets: &[(&str, &str)],
        rows: (&[Vec<u64>], IrqMode),
    ) -> Report {
        let targets: Vec<Target> =
            targets.iter().map(|&(name, module)| target(name, module)).collect();
        let attached = vec![true; targets.len()];
        let functions = FunctionReport::new(
            Backend::KprobeMulti,
            &targets,
            &attached,
            rows,
            Overhead::default(),
            None,
            true,
        );
        let no_syscalls = vec![SyscallCounts::default(); labels.len()];
        let report =
            Report::new(&info(labels), period(1), &no_syscalls, None, Some(functions), None);
        Report { kernel_release: release.to_owned(), ..report }
    }

    /// `sample()` plus counted functions: vfs_write 10/0, veth_xmit 0/7, ksys_write never
    /// entered, dev_queue_xmit skipped (not attached).
    pub(crate) fn counted() -> Report {
        let targets = [
            target("vfs_write", "vmlinux"),
            target("ksys_write", "vmlinux"),
            target("veth_xmit", "veth"),
            target("dev_queue_xmit", "vmlinux"),
        ];
        let counts = [vec![10, 0, 0, 0], vec![0, 0, 7, 0]];
        let overhead = Overhead { recursion_misses: 2, ..Default::default() };
        let functions = FunctionReport::new(
            Backend::KprobeMulti,
            &targets,
            &[true, true, true, false],
            (&counts, IrqMode::Task),
            overhead,
            None,
            true,
        );
        Report { kernel_functions: Some(functions), ..sample() }
    }

    /// `counted()` made with `--irq separate`: besides, ip_rcv entered 40 times in interrupts
    /// while lxc ran and 81 times on the machine; veth_xmit twice in interrupts while gvisor
    /// ran (and so twice on the machine).
    pub(crate) fn counted_apart() -> Report {
        let targets = [
            target("vfs_write", "vmlinux"),
            target("ksys_write", "vmlinux"),
            target("veth_xmit", "veth"),
            target("dev_queue_xmit", "vmlinux"),
            target("ip_rcv", "vmlinux"),
        ];
        // Task context of lxc and gvisor, interrupts while each ran, the machine's.
        let rows = [
            vec![10, 0, 0, 0, 0],
            vec![0, 0, 7, 0, 0],
            vec![0, 0, 0, 0, 40],
            vec![0, 0, 2, 0, 0],
            vec![0, 0, 2, 0, 81],
        ];
        let functions = FunctionReport::new(
            Backend::KprobeMulti,
            &targets,
            &[true, true, true, false, true],
            (&rows, IrqMode::Separate),
            Overhead::default(),
            None,
            true,
        );
        Report { kernel_functions: Some(functions), ..sample() }
    }

    #[test]
    fn interrupt_rows_are_kept_apart_with_irq_separate() {
        let targets = [target("getppid", "vmlinux"), target("net_rx", "vmlinux")];
        // Rows: task context of both cgroups, interrupts while each ran, the machine's.
        let rows = [vec![5, 0], vec![1, 0], vec![0, 3], vec![0, 0], vec![0, 9]];
        let f = FunctionReport::new(
            Backend::Fentry,
            &targets,
            &[true, true],
            (&rows, IrqMode::Separate),
            Overhead::default(),
            None,
            true,
        );
        let rows: Vec<_> = f
            .functions
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.counts.clone(),
                    r.interrupts.in_interrupts.clone(),
                    r.interrupts.all_interrupts,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("getppid", vec![5, 1], vec![0, 0], Some(0)),
                ("net_rx", vec![0, 0], vec![3, 0], Some(9))
            ]
        );
        assert_eq!(f.totals, [5, 1]);
        assert_eq!((f.in_interrupts_totals, f.all_interrupts_total), (vec![3, 0], Some(9)));
        let modules: Vec<_> = f
            .modules
            .iter()
            .map(|m| {
                (m.counts.clone(), m.interrupts.in_interrupts.clone(), m.interrupts.all_interrupts)
            })
            .collect();
        assert_eq!(modules, [(vec![5, 1], vec![3, 0], Some(9))]);
        assert!(f.not_entered.is_empty());
    }

    #[test]
    fn records_from_before_irq_read_as_task() {
        let mut json = serde_json::to_value(counted().kernel_functions.unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("irq");
        let f: FunctionReport = serde_json::from_value(json).unwrap();
        assert_eq!(f.irq, IrqMode::Task);
        assert!(f.functions.iter().all(
            |r| r.interrupts.in_interrupts.is_empty() && r.interrupts.all_interrupts.is_none()
        ));
    }

    #[test]
    fn counted_functions_and_module_coverage() {
        let f = counted().kernel_functions.unwrap();
        assert_eq!((f.kind, f.attached, f.skipped), (Kind::Counts, 3, 1));
        let rows: Vec<_> =
            f.functions.iter().map(|r| (r.name.as_str(), r.counts.clone())).collect();
        assert_eq!(rows, [("vfs_write", vec![10, 0]), ("veth_xmit", vec![0, 7])]);
        let modules: Vec<_> = f
            .modules
            .iter()
            .map(|m| (m.module.as_str(), m.traced, m.hit.clone(), m.counts.clone()))
            .collect();
        assert_eq!(
            modules,
            [("vmlinux", 2, vec![1, 0], vec![10, 0]), ("veth", 1, vec![0, 1], vec![0, 7])]
        );
        assert_eq!(f.totals, [10, 7]);
        let not_entered: Vec<_> =
            f.not_entered.iter().map(|n| (n.name.as_str(), n.module.as_str())).collect();
        assert_eq!(not_entered, [("ksys_write", "vmlinux")]);
        assert_eq!(f.overhead.recursion_misses, 2);
    }

    #[test]
    fn rows_are_named_sorted_and_aligned_with_cgroups() {
        let r = sample();
        let names: Vec<_> = r.syscalls.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["getppid", "read", "fchdir"]);
        let count = |calls, errors| Count { calls, errors, blocked: 0 };
        assert_eq!(r.syscalls[0].counts, [count(100_000, 0), Count::default()]);
        assert_eq!(r.syscalls[1].counts, [count(5, 2), count(2, 0)]);
        assert_eq!(r.totals, [count(100_005, 2), count(5, 3)]);
        assert_eq!(r.start_time, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn top_keeps_the_busiest_rows_and_counts_the_rest() {
        let r = Report::new(
            &info(&["a"]),
            period(1),
            &[counts(&[(1, 1, 0), (2, 9, 0), (3, 5, 0)])],
            None,
            None,
            Some(2),
        );
        assert_eq!(r.syscalls.iter().map(|s| s.nr).collect::<Vec<_>>(), [Some(2), Some(3)]);
        assert_eq!(r.rows_omitted, 1);
        assert_eq!(r.totals[0].calls, 15);
    }

    #[test]
    fn unknown_and_out_of_range_numbers_get_rows() {
        let mut t = SyscallTable::default();
        t.counts[511] = SyscallCount { calls: 1, errors: 1, blocked: 0 };
        t.out_of_range = SyscallCount { calls: 4, errors: 4, blocked: 0 };
        t.counts[MAX_SYSCALLS + 20] = SyscallCount { calls: 3, errors: 0, blocked: 0 };
        t.counts[MAX_SYSCALLS + 500] = SyscallCount { calls: 2, errors: 0, blocked: 0 };
        t.counts[79] = SyscallCount { calls: 0, errors: 0, blocked: 6 };
        let r = Report::new(
            &info(&["a"]),
            period(1),
            &[SyscallCounts::sum_per_cpu(&[t])],
            None,
            None,
            None,
        );
        let names: Vec<_> =
            r.syscalls.iter().map(|s| (s.name.as_str(), s.nr, s.abi.as_deref())).collect();
        assert_eq!(
            names,
            [
                ("(out of range)", None, None),
                ("getpid (i386)", Some(20), Some("i386")),
                ("syscall_500 (i386)", Some(500), Some("i386")),
                ("syscall_511", Some(511), None),
                // Only blocked: after every row with calls.
                ("getcwd", Some(79), None),
            ]
        );
    }
}
