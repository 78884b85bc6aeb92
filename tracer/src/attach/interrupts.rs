//! `--irq`: what happens to kernel function entries and kernel samples in interrupt context
//! (hardirq, softirq, NMI). Such work runs for whoever the packet, timer or I/O completion belongs to, but the
//! task it interrupted is `current`: counted as usual, a veth receive path in NET_RX softirq
//! is charged to the sending container, and an idle container collects timer and RCU work.
//!
//! The eBPF side tells interrupt context apart by the CPU's preempt count (tracer-ebpf's
//! context.rs); this module finds where that is: `__per_cpu_offset` and the per-CPU variable
//! in /proc/kallsyms (which lists data symbols with `CONFIG_KALLSYMS_ALL`, as distribution
//! kernels have it), and on Linux 6.2 to 6.14, where the count is a field of `pcpu_hot`, the
//! field's offset in kernel BTF.
use std::fmt;

use anyhow::{Context as _, bail};
use tracer_common::{IRQ_EXCLUDE, IRQ_SEPARATE, IRQ_TASK, PreemptCount};

use super::layout;
use crate::kallsyms;

const KALLSYMS: &str = "/proc/kallsyms";

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

/// What `--irq` decided for a trace, and what the eBPF side needs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupts {
    pub mode: IrqMode,
    /// Where the CPUs' preempt counts are; zero with `IrqMode::Task`, which needs none.
    pub preempt_count: PreemptCount,
}

impl Default for Interrupts {
    /// Everything charged to the interrupted task, which needs no preempt count.
    fn default() -> Self {
        Self { mode: IrqMode::Task, preempt_count: PreemptCount::default() }
    }
}

/// Where the running kernel keeps each CPU's preempt count.
pub fn preempt_count() -> anyhow::Result<PreemptCount> {
    let text = std::fs::read_to_string(KALLSYMS).with_context(|| format!("reading {KALLSYMS}"))?;
    let address = |name: &str| {
        kallsyms::symbols(&text)
            .find(|s| s.name == name && s.module == kallsyms::CORE_KERNEL)
            .map(|s| s.address)
    };
    let Some(per_cpu_offsets) = address("__per_cpu_offset").filter(|&a| a != 0) else {
        bail!(
            "no __per_cpu_offset address in {KALLSYMS} (a kernel without CONFIG_KALLSYMS_ALL, \
             or addresses hidden by kernel.kptr_restrict)"
        );
    };
    let preempt_count = match (address("__preempt_count"), address("pcpu_hot")) {
        (Some(count), _) => count,
        (None, Some(hot)) => {
            let btf = layout::vmlinux_btf()?;
            let field = btf.member("pcpu_hot", "preempt_count")?;
            hot + u64::from(field.offset)
        }
        (None, None) => bail!("neither __preempt_count nor pcpu_hot in {KALLSYMS}"),
    };
    Ok(PreemptCount { per_cpu_offsets, preempt_count })
}
