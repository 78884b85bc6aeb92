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
use aya_ebpf::{Global, helpers::generated::bpf_this_cpu_ptr};
use tracer_common::PER_CPU_VARIABLE;

/// The preempt count's byte offset in its per-CPU variable; the loader writes it. Only read
/// with `--irq separate` or `exclude`, when the loader has also written in the variable.
#[unsafe(no_mangle)]
static PREEMPT_COUNT_OFFSET: Global<u32> = Global::new(0);

/// The preempt count's NMI nesting field.
const NMI_MASK: u32 = 0x00f0_0000;
/// Its hardirq nesting field.
const HARDIRQ_MASK: u32 = 0x000f_0000;
/// Set while a softirq is served (the rest of the softirq field counts `local_bh_disable`,
/// which is task context).
const SOFTIRQ_OFFSET: u32 = 0x100;

/// Whether the current function entry runs in interrupt context.
#[inline(always)]
pub fn in_interrupt() -> bool {
    preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET) != 0
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
