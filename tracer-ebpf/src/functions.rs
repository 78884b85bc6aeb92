//! Kernel function entry counting, per traced cgroup.
//!
//! Counters live in per-CPU chunks of [`FUNCTION_CHUNK`] counters, chunk `slot * chunks +
//! index / FUNCTION_CHUNK`: no hash lookup per hit on the mass-attach path, and few lookups
//! for userspace to read them all. The function index comes from the address of the hit
//! looked up in `IP_TABLE` (kprobe.multi, whose own cookie lookup is a binary search), from
//! the attach cookie (kprobe perf links, Linux 5.15+, where it is a plain load), or is an
//! immediate the loader writes into each load (fentry, one program load per function). Nothing
//! is counted until userspace turns counting on (see targets.rs).
//!
//! With `--irq separate` the counters have a row of chunks per slot for entries in task
//! context, one per slot for entries in interrupt context while a task of that cgroup was
//! current, and one row for every entry in interrupt context (see tracer-common's `IRQ_TASK`).
use aya_ebpf::{
    EbpfContext as _, Global,
    helpers::bpf_get_attach_cookie,
    macros::{fentry, kprobe, map},
    maps::{Array, PerCpuArray},
    programs::{FEntryContext, ProbeContext},
};
use aya_log_ebpf::warn;
use tracer_common::{FENTRY_INDEX, FUNCTION_CHUNK, FunctionChunk, FunctionStats, IpSlot, ip_find};

use crate::{
    bump,
    context::{in_interrupt, interrupt_rows},
    targets::{matching, target_count},
};

/// Chunks of counters per cgroup slot; the loader writes it.
#[unsafe(no_mangle)]
static FUNCTION_CHUNKS: Global<u32> = Global::new(0);

/// Slots in `IP_TABLE` minus one (a power of two minus one); the loader writes it.
#[unsafe(no_mangle)]
static IP_TABLE_MASK: Global<u32> = Global::new(0);

/// Entry counts in chunks; the loader sizes it to rows x chunks.
#[map]
static FUNCTION_COUNTS: PerCpuArray<FunctionChunk> = PerCpuArray::with_max_entries(1, 0);

/// Address after a function's `call __fentry__` -> its index (see [`IpSlot`]); the loader
/// sizes and fills it.
#[map]
static IP_TABLE: Array<IpSlot> = Array::with_max_entries(1, 0);

/// Hits that could not be counted, per CPU.
#[map]
static FUNCTION_STATS: PerCpuArray<FunctionStats> = PerCpuArray::with_max_entries(1, 0);

/// Entry of a function attached with kprobe.multi: `regs->ip` is the address after the
/// function's `call __fentry__`.
#[kprobe]
pub fn kt_func_multi(ctx: ProbeContext) -> u32 {
    let index = || {
        // SAFETY: the context of a kprobe program is the traced function's pt_regs.
        let ip = unsafe { (*ctx.regs).rip };
        (ip, index_at(ip))
    };
    on_entry(index);
    0
}

/// Entry of a function attached with a kprobe perf link; cookie = index.
#[kprobe]
pub fn kt_func_kprobe(ctx: ProbeContext) -> u32 {
    let index = || {
        // SAFETY: the helper only reads the cookie of the current link.
        let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
        (cookie, Some(cookie))
    };
    on_entry(index);
    0
}

/// Entry of a function attached with fentry (one load per function). The section name is a
/// placeholder: the loader sets the real target per load, and writes the function's index in
/// place of [`FENTRY_INDEX`].
#[fentry(function = "ktrace_placeholder")]
pub fn kt_func_fentry(_ctx: FEntryContext) -> u32 {
    let index = || {
        let mut index = FENTRY_INDEX;
        // An empty asm that the compiler must assume changes the register keeps the constant
        // as one load the loader can find, rather than folded into the arithmetic on the index
        // (black_box would too, through a stack store and load on every hit).
        // SAFETY: no instruction at all.
        unsafe { core::arch::asm!("/* {0} */", inout(reg) index, options(pure, nomem, nostack)) };
        (index, Some(index))
    };
    on_entry(index);
    0
}

/// Counts one entry of the function `index()` names if the current task is traced, or, with
/// `--irq separate`, if it runs in interrupt context: the cheap cgroup check first, most hits
/// come from untraced tasks. `index()` also gives what it looked the function up by, for the
/// diagnostic when it is not found.
#[inline(always)]
fn on_entry(index: impl FnOnce() -> (u64, Option<u64>)) {
    let matching = matching();
    let Some(interrupt) = interrupt_rows(matching, in_interrupt) else { return };
    if matching.is_empty() && !interrupt {
        return;
    }
    let index = match index() {
        (_, Some(index)) => index,
        (key, None) => {
            uncounted(Uncounted::UnknownFunction);
            warn!(&(), "a function hit at {:x} is not in ktrace's function table", key);
            return;
        }
    };
    if !interrupt {
        matching.for_each(|slot| count(index, slot));
        return;
    }
    let slots = target_count();
    matching.for_each(|slot| count(index, slots + slot));
    count(index, 2 * slots);
}

/// The index of the function whose `IP_TABLE` key is `ip`.
#[inline(always)]
fn index_at(ip: u64) -> Option<u64> {
    ip_find(ip, IP_TABLE_MASK.load(), |pos| IP_TABLE.get(pos).copied()).map(u64::from)
}

/// Adds one to function `index`'s counter in row `row`.
#[inline(always)]
fn count(index: u64, row: u32) {
    let chunks = u64::from(FUNCTION_CHUNKS.load());
    let (chunk, offset) = (index / FUNCTION_CHUNK as u64, index % FUNCTION_CHUNK as u64);
    add_one(u64::from(row) * chunks + chunk, offset);
}

/// Adds one to counter `offset` of chunk `chunk`.
///
/// A plain add, not an atomic one: a counter is never written by two runs at once on one
/// CPU. kprobe and kprobe.multi handlers run with preemption disabled, and `bpf_prog_active`
/// skips a run nested in another (an interrupt's). An fentry program may be preempted
/// (migration is disabled only), but each counts its one function (index), and the
/// trampoline skips a run of a program already running on that CPU (`prog->active`, Linux
/// 5.12+; on 5.11 a hit could be lost there), so no other run writes its counters meanwhile.
#[inline(always)]
fn add_one(chunk: u64, offset: u64) {
    let Some(counts) = FUNCTION_COUNTS.get_ptr_mut(chunk as u32) else {
        uncounted(Uncounted::FailedUpdate);
        warn!(&(), "no function counters in chunk {} of FUNCTION_COUNTS", chunk);
        return;
    };
    // SAFETY: `counts` points into a live map value; `offset` is below FUNCTION_CHUNK; see
    // above for why nothing else writes the counter meanwhile.
    unsafe { (*counts).counts[offset as usize % FUNCTION_CHUNK] += 1 };
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
