//! `--irq`: what happens to kernel function entries and kernel samples in interrupt context
//! (hardirq, softirq, NMI). Such work runs for whoever the packet, timer or I/O completion
//! belongs to, but the task it interrupted is `current`: counted as usual, a veth receive path
//! in NET_RX softirq is charged to the sending container, and an idle container collects timer
//! and RCU work.
//!
//! The eBPF side tells interrupt context apart by the CPU's preempt count (tracer-ebpf's
//! context.rs); this module finds where that is in kernel BTF: the per-CPU variable
//! `__preempt_count`, or on Linux 6.2 to 6.14 the `preempt_count` field of `pcpu_hot`. The
//! kernel resolves that variable by name among its symbols when it loads the programs, which
//! holds data symbols only with `CONFIG_KALLSYMS_ALL` (distribution kernels have it): a
//! variable in BTF but not in /proc/kallsyms cannot be used.
use std::{
    fmt,
    fs::File,
    io::{BufRead as _, BufReader},
};

use anyhow::{Context as _, bail};
use tracer_common::{IRQ_EXCLUDE, IRQ_SEPARATE, IRQ_TASK, PreemptCount};

use super::layout;
use crate::{btf::Btf, kallsyms};

const KALLSYMS: &str = "/proc/kallsyms";

/// What counted entries (of functions and of line probes, which share their counters) and
/// kernel samples in interrupt context count for, and where the eBPF side reads whether a CPU
/// is in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupts {
    pub mode: IrqMode,
    /// Where the CPUs' preempt counts are; zero with `IrqMode::Task`, which needs none.
    pub preempt_count: PreemptCount,
}

impl Default for Interrupts {
    /// Everything charged to the task that was current: needs nothing of the kernel.
    fn default() -> Self {
        Self { mode: IrqMode::Task, preempt_count: PreemptCount::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IrqMode {
    /// Task-context entries per cgroup as usual; interrupt-context entries apart, per cgroup
    /// that was interrupted and for the whole machine.
    Separate,
    /// Every entry charged to the task that was current, interrupted or not.
    Task,
    /// Entries in interrupt context not counted.
    Exclude,
}

impl fmt::Display for IrqMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Separate => "separate",
            Self::Task => "task",
            Self::Exclude => "exclude",
        })
    }
}

impl IrqMode {
    /// What records from before `--irq` counted: everything charged to the current task.
    pub fn before_irq() -> Self {
        Self::Task
    }

    pub fn is_task(&self) -> bool {
        *self == Self::Task
    }

    /// The eBPF global `IRQ_MODE`.
    pub fn global(self) -> u32 {
        match self {
            Self::Separate => IRQ_SEPARATE,
            Self::Task => IRQ_TASK,
            Self::Exclude => IRQ_EXCLUDE,
        }
    }

    /// Rows of function counters or sample totals for `slots` traced cgroups (see
    /// tracer-common's `IRQ_TASK`): with `Separate`, task rows, then interrupt rows, then the
    /// machine's.
    pub fn rows(self, slots: usize) -> usize {
        match self {
            Self::Separate => 2 * slots + 1,
            Self::Task | Self::Exclude => slots,
        }
    }

    /// Whether the eBPF side reads the preempt count in this mode.
    pub fn needs_preempt_count(self) -> bool {
        self != Self::Task
    }
}

/// Where the running kernel keeps each CPU's preempt count, from its BTF, if the kernel can
/// resolve it for the eBPF side.
pub fn preempt_count() -> anyhow::Result<PreemptCount> {
    // kallsyms first: where neither variable is listed, kernel BTF (5 MB) need not be read.
    let listed = in_kallsyms(&VARIABLES)?;
    if listed.is_empty() {
        bail!(
            "neither __preempt_count nor pcpu_hot is in {KALLSYMS} (a kernel without \
             CONFIG_KALLSYMS_ALL), so the kernel cannot resolve the preempt count for ktrace's \
             programs"
        );
    }
    let (name, found) = preempt_count_in(&layout::vmlinux_btf()?)?;
    if !listed.contains(&name) {
        bail!(
            "{name} is in kernel BTF but not in {KALLSYMS} (a kernel without \
             CONFIG_KALLSYMS_ALL), so the kernel cannot resolve it for ktrace's programs"
        );
    }
    Ok(found)
}

/// The per-CPU variables that hold the preempt count, by kernel version.
const VARIABLES: [&str; 2] = ["__preempt_count", "pcpu_hot"];

/// Which of the core kernel symbols `names` kallsyms lists. Read line by line, not whole: a
/// freed buffer of its size raises glibc's mmap threshold, and the attach's large buffers
/// then stay on the heap.
fn in_kallsyms(names: &[&'static str]) -> anyhow::Result<Vec<&'static str>> {
    let file = File::open(KALLSYMS).with_context(|| format!("opening {KALLSYMS}"))?;
    let mut listed = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {KALLSYMS}"))?;
        for symbol in kallsyms::symbols(&line).filter(|s| s.module == kallsyms::CORE_KERNEL) {
            listed.extend(names.iter().find(|&&name| name == symbol.name));
        }
    }
    Ok(listed)
}

/// The per-CPU variable that holds the preempt count, and where.
fn preempt_count_in(btf: &Btf) -> anyhow::Result<(&'static str, PreemptCount)> {
    if let Some(variable) = btf.variable("__preempt_count") {
        return Ok(("__preempt_count", PreemptCount { variable, offset: 0 }));
    }
    let Some(variable) = btf.variable("pcpu_hot") else {
        bail!("neither __preempt_count nor pcpu_hot is a per-CPU variable in kernel BTF");
    };
    let field = btf.member("pcpu_hot", "preempt_count")?;
    Ok(("pcpu_hot", PreemptCount { variable, offset: field.offset }))
}
