//! Syscall counting: raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+) add to a
//! per-CPU table per traced cgroup, indexed by ABI and syscall number, so a hit costs one
//! array lookup and one add per matching cgroup.
//!
//! For a task of a traced cgroup, `sys_enter` also notes a [`SyscallEntry`]. `sys_exit` counts
//! a failure where the entry counted the call (the same cgroups and row, even if the task
//! moved in between), and a return without an entry is a blocked call: the kernel turned it
//! away before `sys_enter`, as a seccomp filter does, or a ptrace tracer that skips or
//! emulates calls. Tasks outside traced cgroups leave after the cached cgroup check and pay
//! for none of this.
//!
//! The entry belongs to the task, so it lives in the task's local storage
//! (`BPF_MAP_TYPE_TASK_STORAGE`, Linux 5.11, freed with the task). A storage lookup costs
//! about as much as the rest of a hit, though, so while the task runs on a CPU its entry stays
//! in that CPU's running-task cache line (see targets.rs) instead: the task's first event
//! after it is switched in makes sure it has storage (and reads its entry from there), and
//! `sched_switch` moves the entry of a task switched out inside a call into its storage.
//! A call that does not block costs no storage lookup at all. This relies on syscall
//! tracepoint programs running with preemption disabled (as the kernel runs them, Linux 4.17
//! to 6.18): no switch can come between the reads and writes of one program run.
//!
//! With `--latency` (the load-time global `LATENCY`), the entry also notes the time
//! (`bpf_ktime_get_ns`), and the return adds one to the call's latency bucket in the
//! histogram of each cgroup slot the entry was counted in. Each CPU hands out its own
//! histograms from a preallocated per-CPU array (`SYSCALL_LATENCY`) on a (slot, syscall)'s
//! first timed return there, and finds them again through a per-CPU index (`LATENCY_INDEX`):
//! two array loads, which the verifier inlines, where a hash map keyed by (slot, syscall)
//! cost a helper call and a hash per return. Only `sys_exit` writes them, so handing out
//! needs no atomics (see [`add_one`]). Without it
//! the verifier drops the timing code as dead, so plain counting costs what it did. Only
//! entered calls are timed: a blocked return has no entry, and a call still in flight when
//! the trace ends has no return.
use core::ptr::{addr_of, write_volatile};

use aya_ebpf::{
    Global,
    bindings::{pt_regs, task_struct},
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel},
    macros::{btf_map, map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use aya_log_ebpf::{debug, warn};
use tracer_common::{
    Abi, ENTRY_INSIDE, ENTRY_NEW, ENTRY_RETURNED, LATENCY_HANDED_OUT, LatencyHistogram, LatencyKey,
    MAX_CGROUPS, SYSCALL_COUNTERS, SyscallCount, SyscallEntry, SyscallStats, SyscallTable,
    TS_COMPAT, counter_index, latency_bucket, latency_index_at,
};

use crate::{
    bump, element,
    targets::{Current, Matching, current_task, field, task_status_offset},
    task_storage::TaskStorage,
};

/// One [`SyscallTable`] per cgroup slot, per CPU.
#[map]
static SYSCALLS: PerCpuArray<SyscallTable> = PerCpuArray::with_max_entries(MAX_CGROUPS as u32, 0);

/// Events that could not be fully accounted, per CPU.
#[map]
static SYSCALL_STATS: PerCpuArray<SyscallStats> = PerCpuArray::with_max_entries(1, 0);

/// 1 when the loader asks for syscall latencies (`--latency`).
#[unsafe(no_mangle)]
static LATENCY: Global<u32> = Global::new(0);

/// Latency histograms, 8 KiB each, handed out per CPU in order; the loader sizes it with
/// `--latency` and to one entry without.
#[map]
static SYSCALL_LATENCY: PerCpuArray<LatencyHistogram> = PerCpuArray::with_max_entries(1, 0);

/// Per CPU, which (slot, syscall counter) each handed-out histogram belongs to, for
/// userspace; sized like `SYSCALL_LATENCY`.
#[map]
static LATENCY_KEYS: PerCpuArray<LatencyKey> = PerCpuArray::with_max_entries(1, 0);

/// Per CPU, at [`latency_index_at`]: 1 + the index of that pair's histogram in
/// `SYSCALL_LATENCY`, 0 while it has none; at [`LATENCY_HANDED_OUT`], the histograms handed out. The
/// loader sizes it with `--latency`.
#[map]
static LATENCY_INDEX: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Each traced task's record of the call it is in, while the task is not running.
#[btf_map]
static ENTRIES: TaskStorage<SyscallEntry> = TaskStorage::new();

/// The syscall entry of the task running on a CPU, kept in the CPU's running-task cache line.
#[repr(C)]
pub struct RunningSyscall {
    /// 1 when `entry` is the running task's: set by its first event since it was switched in,
    /// cleared at every switch. Only the running task has events on its CPU, so no task
    /// pointer (a helper call away) needs comparing.
    live: u64,
    entry: SyscallEntry,
}

impl RunningSyscall {
    pub const EMPTY: Self = Self {
        live: 0,
        entry: SyscallEntry { matching: 0, entry_ns: 0, counter: 0, state: ENTRY_NEW },
    };
}

/// A syscall failed when it returned an errno, i.e. -4095..=-1 (the kernel's IS_ERR_VALUE).
const MAX_ERRNO: i64 = 4095;

/// The counter index of a syscall whose number is out of range: the table's `out_of_range`.
const OUT_OF_RANGE: u32 = SYSCALL_COUNTERS as u32;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn kt_sys_enter(ctx: RawTracePointContext) -> i32 {
    let current = Current::get();
    let matching = current.matching;
    if matching.is_empty() {
        return 0;
    }
    // sys_enter(struct pt_regs *regs, long id)
    let counter = counter_of(ctx.arg(1), abi_of(current.task()));
    matching.for_each(|slot| {
        if let Some(count) = count_at(slot, counter) {
            // SAFETY: `count` points into a live map value.
            add_one(unsafe { &raw mut (*count).calls });
        }
    });
    // SAFETY: the helper only reads the clock.
    let entry_ns = if LATENCY.load() != 0 { unsafe { bpf_ktime_get_ns() } } else { 0 };
    let entry = SyscallEntry { matching: matching.word(), entry_ns, counter, state: ENTRY_INSIDE };
    remember(current, entry)
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn kt_sys_exit(ctx: RawTracePointContext) -> i32 {
    let current = Current::get();
    let matching = current.matching;
    if matching.is_empty() {
        return 0;
    }
    let Some(entry) = take_entry(current) else {
        return entry_failed();
    };
    if entry.state == ENTRY_INSIDE {
        let entered = Matching::from_word(entry.matching);
        if entered.word() != matching.word() {
            debug!(&(), "a task moved between cgroups in a syscall (counter {})", entry.counter);
        }
        if LATENCY.load() != 0 && entry.entry_ns != 0 {
            // SAFETY: the helper only reads the clock.
            let bucket = latency_bucket(unsafe { bpf_ktime_get_ns() }.wrapping_sub(entry.entry_ns));
            entered.for_each(|slot| record_latency(slot, entry.counter, bucket));
        }
        // sys_exit(struct pt_regs *regs, long ret)
        let ret: i64 = ctx.arg(1);
        if (-MAX_ERRNO..0).contains(&ret) {
            entered.for_each(|slot| {
                if let Some(count) = count_at(slot, entry.counter) {
                    // SAFETY: `count` points into a live map value.
                    add_one(unsafe { &raw mut (*count).errors });
                }
            });
        }
    } else if entry.state == ENTRY_RETURNED {
        let Some(nr) = syscall_nr(ctx.arg(0)) else { return 0 };
        let counter = counter_of(nr, abi_of(current.task()));
        matching.for_each(|slot| {
            if let Some(count) = count_at(slot, counter) {
                // SAFETY: `count` points into a live map value.
                add_one(unsafe { &raw mut (*count).blocked });
            }
        });
    }
    // Else a new record: the task's first return seen in a traced cgroup, from the clone
    // that made it or from a call it entered outside. Nothing to count.
    0
}

/// Adds one call to `bucket` of the latency histogram of `slot` and syscall `counter`.
#[inline(always)]
fn record_latency(slot: u32, counter: u32, bucket: usize) {
    let Some(histogram) = latency_histogram(slot, counter) else {
        latency_failed();
        return;
    };
    // SAFETY: `histogram` points into a live map value.
    add_one(element(unsafe { &raw mut (*histogram).buckets }, bucket as u64));
}

/// This CPU's histogram of `slot` and syscall `counter`, handed out on first use; `None`
/// when every histogram is taken.
#[inline(always)]
fn latency_histogram(slot: u32, counter: u32) -> Option<*mut LatencyHistogram> {
    let index = LATENCY_INDEX.get_ptr_mut(latency_index_at(slot, counter))?;
    // SAFETY: `index` points into this CPU's value of a live map, which only `sys_exit`
    // writes (see `add_one`); so do the pointers below.
    unsafe {
        if *index != 0 {
            return SYSCALL_LATENCY.get_ptr_mut(*index - 1);
        }
        let handed_out = LATENCY_INDEX.get_ptr_mut(LATENCY_HANDED_OUT)?;
        let next = *handed_out;
        let histogram = SYSCALL_LATENCY.get_ptr_mut(next)?;
        // Volatile, in this order: userspace reads a histogram's key only below the count
        // handed out, so the key must be written first.
        write_volatile(LATENCY_KEYS.get_ptr_mut(next)?, LatencyKey { slot, counter });
        write_volatile(handed_out, next + 1);
        *index = next + 1;
        Some(histogram)
    }
}

/// Adds one to a per-CPU counter of `SYSCALLS` or `SYSCALL_LATENCY`. A plain add, which costs
/// less than an atomic one: only the syscall tracepoint programs write these counters, and
/// they run with preemption disabled and never in interrupts, so nothing else on this CPU
/// writes one between the load and the store.
#[inline(always)]
fn add_one(counter: *mut u64) {
    // SAFETY: callers pass pointers into live per-CPU map values; see above for why no other
    // write comes in between.
    unsafe { *counter += 1 };
}

/// Keeps `entry` for the return of the current task's call; returns the program's result.
#[inline(always)]
fn remember(current: Current, entry: SyscallEntry) -> i32 {
    let Some(running) = current.syscall() else {
        // A CPU beyond the cache: straight to the task's storage.
        let Some(stored) = ENTRIES.get_or_create(current_task()) else { return entry_failed() };
        // SAFETY: `stored` is this task's own record, which only this task writes.
        unsafe { *stored = entry };
        return 0;
    };
    // SAFETY: `running` is this CPU's entry, which only this CPU writes (see the module docs).
    unsafe {
        if (*running).live == 0 {
            // The task's first event since it was switched in: it needs storage for
            // sched_switch to move the entry to, which must not allocate.
            if ENTRIES.get_or_create(current_task()).is_none() {
                return entry_failed();
            }
            (*running).live = 1;
        }
        (*running).entry = entry;
    }
    0
}

/// The running task's entry, marked as returned from; `None` if it could not be read.
#[inline(always)]
fn take_entry(current: Current) -> Option<SyscallEntry> {
    let Some(running) = current.syscall() else {
        return take_stored();
    };
    // SAFETY: as in `remember`.
    unsafe {
        if (*running).live != 0 {
            let entry = (*running).entry;
            (*running).entry.state = ENTRY_RETURNED;
            return Some(entry);
        }
        // The task's first event since it was switched in: its entry, if any, is in its
        // storage, and stays on this CPU from now on.
        let entry = take_stored()?;
        (*running).live = 1;
        (*running).entry = SyscallEntry { state: ENTRY_RETURNED, ..entry };
        Some(entry)
    }
}

/// The entry in the current task's storage, marked there as returned from.
#[inline(always)]
fn take_stored() -> Option<SyscallEntry> {
    let stored = ENTRIES.get_or_create(current_task())?;
    // SAFETY: `stored` is this task's own record, which only this task writes.
    unsafe {
        let entry = *stored;
        (*stored).state = ENTRY_RETURNED;
        Some(entry)
    }
}

/// At `sched_switch`, while `prev` is still the current task: moves the entry of a task
/// switched out inside a call into its storage (which its first event since it was switched
/// in made sure exists: nothing is allocated under the runqueue lock), and empties the CPU's
/// entry for the next task.
#[inline(always)]
pub fn switched_out(running: *mut RunningSyscall, prev: u64) {
    // SAFETY: `running` is this CPU's entry, which only this CPU writes.
    unsafe {
        if (*running).live != 0 && (*running).entry.state == ENTRY_INSIDE {
            let task = current_task();
            match ENTRIES.get(task).filter(|_| task as u64 == prev) {
                // `stored` is the outgoing task's own record, and that task is not running.
                Some(stored) => *stored = (*running).entry,
                None => {
                    entry_failed();
                }
            }
        }
        (*running).live = 0;
    }
}

/// The ABI of the current call of `task`.
#[inline(always)]
fn abi_of(task: *mut task_struct) -> Abi {
    // SAFETY: a BTF-typed load of task->thread_info.status, offset from kernel BTF.
    let status: u32 = unsafe { field(task.cast(), task_status_offset()) };
    if status & TS_COMPAT != 0 { Abi::I386 } else { Abi::X86_64 }
}

/// The counter index of syscall `nr` of `abi`.
#[inline(always)]
fn counter_of(nr: i64, abi: Abi) -> u32 {
    counter_index(abi, nr).map_or(OUT_OF_RANGE, |index| index as u32)
}

/// The syscall number of the current syscall, from `regs->orig_ax` (what
/// `syscall_get_nr()` returns on x86_64).
fn syscall_nr(regs: *const pt_regs) -> Option<i64> {
    // SAFETY: bpf_probe_read_kernel checks the address; a fault yields Err, not a crash.
    let orig_ax = unsafe { bpf_probe_read_kernel(addr_of!((*regs).orig_rax)) }.ok()?;
    Some(orig_ax as i64)
}

/// Counter `counter` of `slot`'s table.
#[inline(always)]
fn count_at(slot: u32, counter: u32) -> Option<*mut SyscallCount> {
    let Some(table) = SYSCALLS.get_ptr_mut(slot) else {
        warn!(&(), "no syscall table for slot {} in SYSCALLS", slot);
        return None;
    };
    if counter >= OUT_OF_RANGE {
        // SAFETY: `table` points into a live map value.
        return Some(unsafe { &raw mut (*table).out_of_range });
    }
    // SAFETY: `table` points into a live map value; `counter` is below SYSCALL_COUNTERS.
    Some(element(unsafe { &raw mut (*table).counts }, u64::from(counter)))
}

/// Counts a timed return that found no histogram: every one is taken (more syscalls timed
/// on this CPU than the loader made room for).
fn latency_failed() {
    if let Some(stats) = SYSCALL_STATS.get_ptr_mut(0) {
        // SAFETY: `stats` points into a live map value.
        bump(unsafe { &raw mut (*stats).latency_failures });
    }
    warn!(&(), "no latency histogram for a syscall (SYSCALL_LATENCY all taken)");
}

/// Counts a task whose entry record could not be read or created; returns the program's
/// result.
fn entry_failed() -> i32 {
    if let Some(stats) = SYSCALL_STATS.get_ptr_mut(0) {
        // SAFETY: `stats` points into a live map value.
        bump(unsafe { &raw mut (*stats).entry_failures });
    }
    warn!(&(), "no syscall entry record for the current task (task storage full or busy)");
    0
}
