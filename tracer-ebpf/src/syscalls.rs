//! Syscall counting: raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+) add to a
//! per-CPU table per traced cgroup, indexed by ABI and syscall number, so a hit costs one
//! array lookup and one atomic add per matching cgroup.
//!
//! For a task of a traced cgroup, `sys_enter` also leaves a [`SyscallEntry`] in the task's
//! local storage. `sys_exit` counts a failure where the entry counted the call (the same
//! cgroups and row, even if the task moved in between), and a return without an entry is a
//! blocked call: the kernel turned it away before `sys_enter`, as a seccomp filter does, or a
//! ptrace tracer that skips or emulates calls. Tasks outside traced cgroups leave after the
//! cached cgroup check and pay for none of this.
use core::ptr::addr_of;

use aya_ebpf::{
    bindings::{pt_regs, task_struct},
    helpers::bpf_probe_read_kernel,
    macros::{btf_map, map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use tracer_common::{
    Abi, ENTRY_INSIDE, ENTRY_RETURNED, MAX_CGROUPS, SYSCALL_COUNTERS, SyscallCount, SyscallEntry,
    SyscallStats, SyscallTable, TS_COMPAT, counter_index,
};

use crate::{
    bump,
    targets::{Matching, current_task, field, layout, matching},
    task_storage::TaskStorage,
};

/// One [`SyscallTable`] per cgroup slot, per CPU.
#[map]
static SYSCALLS: PerCpuArray<SyscallTable> = PerCpuArray::with_max_entries(MAX_CGROUPS as u32, 0);

/// Events that could not be fully accounted, per CPU.
#[map]
static SYSCALL_STATS: PerCpuArray<SyscallStats> = PerCpuArray::with_max_entries(1, 0);

/// Each traced task's record of the call it is in.
#[btf_map]
static ENTRIES: TaskStorage<SyscallEntry> = TaskStorage::new();

/// A syscall failed when it returned an errno, i.e. -4095..=-1 (the kernel's IS_ERR_VALUE).
const MAX_ERRNO: i64 = 4095;

/// The counter index of a syscall whose number is out of range: the table's `out_of_range`.
const OUT_OF_RANGE: u32 = SYSCALL_COUNTERS as u32;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn kt_sys_enter(ctx: RawTracePointContext) -> i32 {
    let matching = matching();
    if matching.is_empty() {
        return 0;
    }
    let task = current_task();
    // sys_enter(struct pt_regs *regs, long id)
    let counter = counter_of(ctx.arg(1), abi_of(task));
    matching.for_each(|slot| {
        if let Some(count) = count_at(slot, counter) {
            // SAFETY: `count` points into a live map value.
            bump(unsafe { &raw mut (*count).calls });
        }
    });
    let Some(entry) = ENTRIES.get_or_create(task) else {
        return entry_failed();
    };
    // SAFETY: `entry` is this task's own record, which only this task writes.
    unsafe {
        (*entry).matching = matching.word();
        (*entry).counter = counter;
        (*entry).state = ENTRY_INSIDE;
    }
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn kt_sys_exit(ctx: RawTracePointContext) -> i32 {
    let matching = matching();
    if matching.is_empty() {
        return 0;
    }
    let task = current_task();
    let Some(entry) = ENTRIES.get_or_create(task) else {
        return entry_failed();
    };
    // SAFETY: `entry` is this task's own record, which only this task writes.
    let (state, entered, counter) =
        unsafe { ((*entry).state, Matching::from_word((*entry).matching), (*entry).counter) };
    // SAFETY: as above.
    unsafe { (*entry).state = ENTRY_RETURNED };
    if state == ENTRY_INSIDE {
        // sys_exit(struct pt_regs *regs, long ret)
        let ret: i64 = ctx.arg(1);
        if (-MAX_ERRNO..0).contains(&ret) {
            entered.for_each(|slot| {
                if let Some(count) = count_at(slot, counter) {
                    // SAFETY: `count` points into a live map value.
                    bump(unsafe { &raw mut (*count).errors });
                }
            });
        }
    } else if state == ENTRY_RETURNED {
        let Some(nr) = syscall_nr(ctx.arg(0)) else { return 0 };
        let counter = counter_of(nr, abi_of(task));
        matching.for_each(|slot| {
            if let Some(count) = count_at(slot, counter) {
                // SAFETY: `count` points into a live map value.
                bump(unsafe { &raw mut (*count).blocked });
            }
        });
    }
    // Else a new record: the task's first return seen in a traced cgroup, from the clone
    // that made it or from a call it entered outside. Nothing to count.
    0
}

/// The ABI of the current call of `task`.
#[inline(always)]
fn abi_of(task: *mut task_struct) -> Abi {
    // SAFETY: a BTF-typed load of task->thread_info.status, offset from kernel BTF.
    let status: u32 = unsafe { field(task.cast(), layout().task_status) };
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
    let table = SYSCALLS.get_ptr_mut(slot)?;
    if counter >= OUT_OF_RANGE {
        // SAFETY: `table` points into a live map value.
        return Some(unsafe { &raw mut (*table).out_of_range });
    }
    // The mask is applied to a value the compiler cannot see through: otherwise it drops the
    // mask as redundant with the check above, spills the index, and older verifiers (6.1)
    // lose the bound on the reloaded copy and reject the program.
    let index = core::hint::black_box(counter as usize) & (SYSCALL_COUNTERS - 1);
    // SAFETY: `table` points into a live map value; `index` is below SYSCALL_COUNTERS.
    Some(unsafe { &raw mut (*table).counts[index] })
}

/// Counts a task whose entry record could not be read or created; returns the program's
/// result.
fn entry_failed() -> i32 {
    if let Some(stats) = SYSCALL_STATS.get_ptr_mut(0) {
        // SAFETY: `stats` points into a live map value.
        bump(unsafe { &raw mut (*stats).entry_failures });
    }
    0
}
