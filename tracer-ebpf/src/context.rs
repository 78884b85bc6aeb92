//! Whether the CPU is serving an interrupt: hardirq, softirq or NMI, rather than running a
//! task. Work in interrupt context runs for whoever the packet, timer or completion belongs
//! to, yet `current` is whatever task it interrupted; `--irq` decides what happens to it.
//!
//! The kernel's preempt count says it exactly: x86 keeps it per CPU (`__preempt_count`, or
//! `pcpu_hot.preempt_count` on Linux 6.2 to 6.14), with a field per context. It is read here
//! with `bpf_probe_read_kernel` at `__per_cpu_offset[cpu]` plus the variable's per-CPU
//! address, which the loader finds in /proc/kallsyms and BTF (aya cannot resolve the
//! kernel's per-CPU symbols itself). The CPU's address is cached in its `RunningTask` entry,
//! so that a hit costs one read. Tracking the softirq and irq_handler tracepoints per CPU
//! instead would cost a program run per interrupt and still miss the timer and other APIC
//! vectors, which have no irq_handler event, and NMIs.
//!
//! The sampler asks another question: its program runs in the cpu-clock timer's own hardirq,
//! so what it asks is what that interrupt interrupted ([`interrupted_interrupt`]).
use aya_ebpf::{Global, helpers::bpf_get_smp_processor_id};
use tracer_common::{IRQ_EXCLUDE, IRQ_SEPARATE, IRQ_TASK, PreemptCount};

use crate::targets::{Matching, active, read_kernel, running_preempt_count_at};

/// How entries and samples in interrupt context are counted: one of `IRQ_*`; the loader
/// writes it.
#[unsafe(no_mangle)]
static IRQ_MODE: Global<u32> = Global::new(IRQ_TASK);

/// The loader writes the addresses it found; all zero when it runs without `--irq separate`
/// or `exclude`, and then nothing here is called.
#[unsafe(no_mangle)]
static PREEMPT_COUNT: Global<PreemptCount> =
    Global::new(PreemptCount { per_cpu_offsets: 0, preempt_count: 0 });

/// The preempt count's NMI nesting field.
const NMI_MASK: u32 = 0x00f0_0000;
/// Its hardirq nesting field.
const HARDIRQ_MASK: u32 = 0x000f_0000;
/// One hardirq level in that field.
const HARDIRQ_OFFSET: u32 = 0x0001_0000;
/// Set while a softirq is served (the rest of the softirq field counts `local_bh_disable`,
/// which is task context).
const SOFTIRQ_OFFSET: u32 = 0x100;

/// Where an event of a task in `matching` goes under `--irq`: `Some(true)` to the interrupt
/// rows, `Some(false)` to the task's rows, `None` nowhere (`exclude`). `interrupt` says
/// whether the event is in interrupt context; asked only when the mode needs it.
#[inline(always)]
pub fn interrupt_rows(matching: Matching, interrupt: impl FnOnce() -> bool) -> Option<bool> {
    match IRQ_MODE.load() {
        // Asked on every event: the machine's row counts whoever was interrupted.
        IRQ_SEPARATE => Some(interrupt() && active()),
        IRQ_EXCLUDE if !matching.is_empty() && interrupt() => None,
        _ => Some(false),
    }
}

/// Whether the current function entry runs in interrupt context.
#[inline(always)]
pub fn in_interrupt() -> bool {
    preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET) != 0
}

/// Whether the interrupt this program runs in came while the CPU served another one, for the
/// cpu-clock sampler: its hrtimer interrupt added one hardirq level, so a second one is an
/// interrupted hardirq handler (rare: most run with interrupts off), and `SOFTIRQ_OFFSET`
/// is a softirq being served (by ksoftirqd too, which serves them for others). Never an
/// NMI: a timer interrupt cannot come inside one.
#[inline(always)]
pub fn interrupted_interrupt() -> bool {
    let count = preempt_count();
    count & HARDIRQ_MASK >= 2 * HARDIRQ_OFFSET || count & SOFTIRQ_OFFSET != 0
}

/// This CPU's preempt count; 0 (task context) if it cannot be read.
#[inline(always)]
fn preempt_count() -> u32 {
    let addresses = PREEMPT_COUNT.load();
    let at = match running_preempt_count_at() {
        Some(cached) => {
            // SAFETY: `cached` is this CPU's entry, which only this CPU writes.
            let known = unsafe { *cached };
            if known != 0 {
                known
            } else {
                let at = this_cpus(&addresses);
                // SAFETY: as above.
                unsafe { *cached = at };
                at
            }
        }
        None => this_cpus(&addresses),
    };
    read_kernel::<u32>(at)
}

/// The address of this CPU's preempt count.
#[inline(always)]
fn this_cpus(addresses: &PreemptCount) -> u64 {
    // SAFETY: the helper only reads the CPU number.
    let cpu = u64::from(unsafe { bpf_get_smp_processor_id() });
    let offset = read_kernel::<u64>(addresses.per_cpu_offsets + cpu * 8);
    addresses.preempt_count.wrapping_add(offset)
}
