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
use aya_ebpf::{Global, helpers::bpf_get_smp_processor_id};
use tracer_common::PreemptCount;

use crate::targets::{read_kernel, running_preempt_count_at};

/// The loader writes the addresses it found; all zero when it runs without `--irq separate`
/// or `exclude`, and then nothing here is called.
#[unsafe(no_mangle)]
static PREEMPT_COUNT: Global<PreemptCount> =
    Global::new(PreemptCount { per_cpu_offsets: 0, preempt_count: 0 });

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
