//! Kernel function entry counting, per traced cgroup.
//!
//! Counters live in per-CPU chunks of [`FUNCTION_CHUNK`] counters, chunk `slot * chunks +
//! index / FUNCTION_CHUNK`: no hash lookup per hit on the mass-attach path, and few lookups
//! for userspace to read them all. The function index comes from the attach
//! cookie (kprobe.multi: Linux 5.18+; kprobe perf links: 5.15+) or, for fentry, which has one
//! program load per function, from the function's address (`bpf_get_func_ip`, 5.15+).
//! Nothing is counted until userspace sets `CONTROL[ACTIVE]`, after every link is attached,
//! so a half-attached set never produces numbers.
use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_attach_cookie, bpf_get_func_ip},
    macros::{fentry, kprobe, map},
    maps::{Array, HashMap, PerCpuArray},
    programs::{FEntryContext, ProbeContext},
};
use tracer_common::{CONTROL_ACTIVE, FUNCTION_CHUNK, FunctionChunk, FunctionStats};

use crate::{bump, targets::for_each_matching_slot};

/// Number of target functions; the loader writes it.
#[unsafe(no_mangle)]
static FUNCTION_COUNT: u32 = 0;

/// Entry counts in chunks; the loader sizes it to slots x chunks.
#[map]
static FUNCTION_COUNTS: PerCpuArray<FunctionChunk> = PerCpuArray::with_max_entries(1, 0);

/// Function address -> index, for fentry.
#[map]
static FUNCTION_INDEX: HashMap<u64, u32> = HashMap::with_max_entries(1, 0);

/// Switches written by userspace at run time (see [`CONTROL_ACTIVE`]).
#[map]
static CONTROL: Array<u32> = Array::with_max_entries(1, 0);

/// Hits that could not be counted, per CPU.
#[map]
static FUNCTION_STATS: PerCpuArray<FunctionStats> = PerCpuArray::with_max_entries(1, 0);

/// Entry of a function attached with kprobe.multi or a kprobe perf link; cookie = index.
#[kprobe]
pub fn kt_func_cookie(ctx: ProbeContext) -> u32 {
    if active() {
        // SAFETY: the helper only reads the cookie of the current link.
        let index = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
        count(index, Increment::Plain);
    }
    0
}

/// Entry of a function attached with fentry (one load per function). The section name is a
/// placeholder: the loader sets the real target per load.
#[fentry(function = "ktrace_placeholder")]
pub fn kt_func_fentry(ctx: FEntryContext) -> u32 {
    if active() {
        // SAFETY: the helper only reads the traced function's address.
        let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
        // SAFETY: the value is copied out immediately.
        match unsafe { FUNCTION_INDEX.get(&ip) } {
            Some(&index) => count(u64::from(index), Increment::Atomic),
            None => uncounted(Uncounted::UnknownFunction),
        }
    }
    0
}

fn active() -> bool {
    CONTROL.get(CONTROL_ACTIVE).is_some_and(|&on| on != 0)
}

/// How a counter is incremented. kprobe and kprobe.multi programs never run nested or
/// preempted on one CPU (their handlers run with preemption disabled, and `bpf_prog_active`
/// skips a nested run), so a plain add to the per-CPU counter cannot lose a hit, and costs
/// less; fentry programs run preemptible (migration disabled only) and need the atomic add.
#[derive(Clone, Copy)]
enum Increment {
    Plain,
    Atomic,
}

#[inline(always)]
fn count(index: u64, increment: Increment) {
    // SAFETY: a read-only global, see targets.rs.
    let functions = u64::from(unsafe { read_volatile(addr_of!(FUNCTION_COUNT)) });
    if index >= functions {
        uncounted(Uncounted::UnknownFunction);
        return;
    }
    let chunks = functions.div_ceil(FUNCTION_CHUNK as u64);
    let (chunk, offset) = (index / FUNCTION_CHUNK as u64, (index % FUNCTION_CHUNK as u64) as usize);
    for_each_matching_slot(|slot| {
        match FUNCTION_COUNTS.get_ptr_mut((u64::from(slot) * chunks + chunk) as u32) {
            Some(counts) => {
                // SAFETY: `counts` points into a live map value; `offset` is below
                // FUNCTION_CHUNK.
                let counter = unsafe { &raw mut (*counts).counts[offset] };
                match increment {
                    // SAFETY: as above; see `Increment` for why nothing writes it meanwhile.
                    Increment::Plain => unsafe { *counter += 1 },
                    Increment::Atomic => bump(counter),
                }
            }
            None => uncounted(Uncounted::FailedUpdate),
        }
    });
}

#[derive(Clone, Copy)]
enum Uncounted {
    FailedUpdate,
    UnknownFunction,
}

/// Records a hit that could not be counted in this CPU's stats.
#[inline(always)]
fn uncounted(why: Uncounted) {
    let Some(stats) = FUNCTION_STATS.get_ptr_mut(0) else { return };
    // SAFETY: `stats` points into a live map value.
    let field = unsafe {
        match why {
            Uncounted::FailedUpdate => &raw mut (*stats).failed_updates,
            Uncounted::UnknownFunction => &raw mut (*stats).unknown_function,
        }
    };
    bump(field);
}
