//! Whether the CPU is serving an interrupt: hardirq, softirq or NMI, rather than running a
//! task. Work in interrupt context runs for whoever the packet, timer or completion belongs
//! to, yet `current` is whatever task it interrupted; `--irq` decides what happens to it.
//!
//! The kernel's preempt count says it exactly: x86 keeps it per CPU (`__preempt_count`, or
//! `pcpu_hot.preempt_count` on Linux 6.2 to 6.14), with a field per context. It is read
//! straight from this CPU's copy of the variable, which `bpf_this_cpu_ptr` (Linux 5.10) finds
//! from a reference to the variable the loader writes in (see tracer-common's
//! `PER_CPU_VARIABLE`): one short helper and one load per hit, where reading it with
//! `bpf_probe_read_kernel` at `__per_cpu_offset[cpu]` plus the variable's address cost about
//! half a counting hit more. Tracking the softirq and irq_handler tracepoints per CPU instead
//! would cost a program run per interrupt and still miss the timer and other APIC vectors,
//! which have no irq_handler event, and NMIs.
//!
//! The sampler asks another question: its program runs in the cpu-clock timer's own hardirq,
//! so what it asks is what that interrupt interrupted ([`interrupted_interrupt`]).
use aya_ebpf::{Global, helpers::generated::bpf_this_cpu_ptr};
use tracer_common::{IRQ_EXCLUDE, IRQ_SEPARATE, IRQ_TASK, PER_CPU_VARIABLE};

use crate::targets::{Matching, active};

/// How entries and samples in interrupt context are counted: one of `IRQ_*`; the loader
/// writes it.
#[unsafe(no_mangle)]
static IRQ_MODE: Global<u32> = Global::new(IRQ_TASK);

/// The preempt count's byte offset in its per-CPU variable; the loader writes it. Only read
/// with `--irq separate` or `exclude`, when the loader has also written in the variable.
#[unsafe(no_mangle)]
static PREEMPT_COUNT_OFFSET: Global<u32> = Global::new(0);

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

/// This CPU's preempt count.
#[inline(always)]
fn preempt_count() -> u32 {
    // SAFETY: the loader has turned this constant into a reference to the per-CPU variable,
    // and the helper returns this CPU's copy of it, never null. The offset comes from kernel
    // BTF, and the verifier checks the load against the variable's type.
    unsafe {
        let variable = bpf_this_cpu_ptr(PER_CPU_VARIABLE as *const core::ffi::c_void);
        variable
            .cast::<u8>()
            .add(PREEMPT_COUNT_OFFSET.load() as usize)
            .cast::<u32>()
            .read_volatile()
    }
}
