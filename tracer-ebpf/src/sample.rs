//! Sampled kernel profiles: a perf_event program on every CPU (software cpu-clock at the
//! user's frequency) records, for each traced cgroup whose task was interrupted in the kernel,
//! the kernel instruction pointer and optionally the kernel stack. Works on kernels without
//! kprobes or fentry; needs perf_event programs (Linux 4.9+).
//!
//! With `--irq separate` a sample that found the CPU serving an interrupt (see context.rs) goes
//! to the interrupt row of each traced cgroup whose task it interrupted, and to the machine's
//! interrupt row whoever it interrupted, as function entries do; `exclude` drops those of
//! traced tasks. User-space samples are task context.
use aya_ebpf::{
    Global,
    bindings::BPF_NOEXIST,
    macros::{map, perf_event},
    maps::{HashMap, PerCpuArray, StackTrace},
    programs::{PerfEventContext, tracing::StackIdContext as _},
};
use aya_log_ebpf::warn;
use tracer_common::{
    MAX_SAMPLE_KEYS, MAX_SAMPLE_ROWS, MAX_STACKS, NO_STACK, SampleKey, SampleTotals,
};

use crate::{
    bump,
    context::{interrupt_rows, interrupted_interrupt},
    targets::{matching, target_count},
};

/// 1 when the loader asks for kernel stacks (`--stacks`).
#[unsafe(no_mangle)]
static COLLECT_STACKS: Global<u32> = Global::new(0);

/// Kernel samples per (row, IP, stack). Preallocated: a full map refuses inserts (counted as
/// lost) instead of allocating in the sampling interrupt.
#[map]
static SAMPLES: HashMap<SampleKey, u64> = HashMap::with_max_entries(MAX_SAMPLE_KEYS, 0);

#[map]
static SAMPLE_TOTALS: PerCpuArray<SampleTotals> =
    PerCpuArray::with_max_entries(MAX_SAMPLE_ROWS as u32, 0);

#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

const EEXIST: i32 = 17;

/// x86_64 kernel addresses live in the upper canonical half.
const KERNEL_START: u64 = 0xffff_8000_0000_0000;

#[perf_event]
pub fn kt_sample(ctx: PerfEventContext) -> u32 {
    // SAFETY: the context of a perf_event program is a bpf_perf_event_data.
    let ip = unsafe { (*ctx.ctx).regs.rip };
    let matching = matching();
    if ip < KERNEL_START {
        matching.for_each(|slot| add(slot, Total::User));
        return 0;
    }
    let Some(interrupt) = interrupt_rows(matching, interrupted_interrupt) else { return 0 };
    if matching.is_empty() && !interrupt {
        return 0;
    }
    let stack_id = stack_id(&ctx);
    let sample = |row: u32| {
        add(row, Total::Kernel);
        if !record(&SampleKey { ip, slot: row, stack_id }) {
            add(row, Total::Lost);
        }
    };
    if !interrupt {
        matching.for_each(sample);
        return 0;
    }
    let slots = target_count();
    matching.for_each(|slot| sample(slots + slot));
    sample(2 * slots);
    0
}

#[derive(Clone, Copy)]
enum Total {
    Kernel,
    User,
    Lost,
}

/// Adds one to a total of row `row`.
#[inline(always)]
fn add(row: u32, total: Total) {
    let Some(totals) = SAMPLE_TOTALS.get_ptr_mut(row) else {
        warn!(&(), "no sample totals for row {} in SAMPLE_TOTALS", row);
        return;
    };
    // SAFETY: `totals` points into a live map value.
    let field = unsafe {
        match total {
            Total::Kernel => &raw mut (*totals).kernel,
            Total::User => &raw mut (*totals).user,
            Total::Lost => &raw mut (*totals).lost,
        }
    };
    bump(field);
}

fn stack_id(ctx: &PerfEventContext) -> i32 {
    if COLLECT_STACKS.load() == 0 {
        return NO_STACK;
    }
    // Flags 0: the kernel stack.
    ctx.get_stackid(&STACKS, 0).map_or(NO_STACK, |id| id as i32)
}

/// Adds one sample for `key`; false if the map is full.
#[inline(always)]
fn record(key: &SampleKey) -> bool {
    for _ in 0..2 {
        if let Some(count) = SAMPLES.get_ptr_mut(key) {
            bump(count);
            return true;
        }
        // A stack value, not `&1`, which the compiler would turn into a read-only map.
        let one: u64 = 1;
        match SAMPLES.insert(key, one, BPF_NOEXIST as u64) {
            Ok(()) => return true,
            // Another CPU inserted the key first: add to its entry on the second round.
            Err(e) if e == -EEXIST => continue,
            Err(_) => return false,
        }
    }
    false
}
