//! ktrace's eBPF programs.
//!
//! Syscall counting: raw tracepoints on `sys_enter` and `sys_exit` (kernel 4.17+ for
//! `bpf_raw_tracepoint_open`, 5.10+ for `bpf_get_current_ancestor_cgroup_id` in tracing
//! programs) add to a per-CPU table per traced cgroup slot. The table is an array indexed by
//! syscall number, so a hit costs one array lookup and one atomic add per matching slot.
#![no_std]
#![no_main]
// atomic_xadd: the BPF target has no compare-and-swap, so core's AtomicU64 offers no
// fetch_add, but the instruction set does have an atomic add.
#![expect(internal_features, reason = "core_intrinsics for atomic_xadd")]
#![feature(core_intrinsics)]

use core::{
    intrinsics::{AtomicOrdering, atomic_xadd},
    ptr::{addr_of, read_volatile},
};

use aya_ebpf::{
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_probe_read_kernel},
    macros::{map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use tracer_common::{CgroupTarget, MAX_CGROUPS, MAX_SYSCALLS, SyscallCount, SyscallTable, Targets};

/// Which cgroups to count; overridden by the loader before the program is loaded.
#[unsafe(no_mangle)]
static TARGETS: Targets = Targets {
    count: 0,
    _pad: 0,
    cgroups: [CgroupTarget {
        id: 0,
        level: 0,
        _pad: 0,
    }; MAX_CGROUPS],
};

/// One [`SyscallTable`] per cgroup slot, per CPU.
#[map]
static SYSCALLS: PerCpuArray<SyscallTable> = PerCpuArray::with_max_entries(MAX_CGROUPS as u32, 0);

/// A syscall failed when it returned an errno, i.e. -4095..=-1 (the kernel's IS_ERR_VALUE).
const MAX_ERRNO: i64 = 4095;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn kt_sys_enter(ctx: RawTracePointContext) -> i32 {
    // sys_enter(struct pt_regs *regs, long id)
    let nr: i64 = ctx.arg(1);
    // SAFETY: `counter` returns a pointer into a live map value.
    for_each_matching_slot(|table| bump(unsafe { &raw mut (*counter(table, nr)).calls }));
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn kt_sys_exit(ctx: RawTracePointContext) -> i32 {
    // sys_exit(struct pt_regs *regs, long ret)
    let ret: i64 = ctx.arg(1);
    if !(-MAX_ERRNO..0).contains(&ret) {
        return 0;
    }
    let Some(nr) = syscall_nr(ctx.arg(0)) else {
        return 0;
    };
    // SAFETY: `counter` returns a pointer into a live map value.
    for_each_matching_slot(|table| bump(unsafe { &raw mut (*counter(table, nr)).errors }));
    0
}

/// The syscall number of the current syscall, from `regs->orig_ax` (what
/// `syscall_get_nr()` returns on x86_64).
fn syscall_nr(regs: *const aya_ebpf::bindings::pt_regs) -> Option<i64> {
    // SAFETY: bpf_probe_read_kernel checks the address; a fault yields Err, not a crash.
    let orig_ax = unsafe { bpf_probe_read_kernel(addr_of!((*regs).orig_rax)) }.ok()?;
    Some(orig_ax as i64)
}

/// Calls `f` with the table of every traced cgroup that the current task is in or below.
#[inline(always)]
fn for_each_matching_slot(mut f: impl FnMut(*mut SyscallTable)) {
    // SAFETY: TARGETS is a read-only global; volatile keeps the compiler from folding the
    // loader-written value to its compile-time default.
    let count = unsafe { read_volatile(addr_of!(TARGETS.count)) } as usize;
    for slot in 0..MAX_CGROUPS {
        if slot >= count {
            break;
        }
        // SAFETY: as above; `slot` is below MAX_CGROUPS.
        let target = unsafe { read_volatile(addr_of!(TARGETS.cgroups[slot])) };
        // SAFETY: the helper only reads the current task's cgroup; a level deeper than the
        // task's own yields 0, which is never a cgroup id.
        let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(target.level as i32) };
        if ancestor == target.id {
            if let Some(table) = SYSCALLS.get_ptr_mut(slot as u32) {
                f(table);
            }
        }
    }
}

/// The counter of syscall `nr` in `table`, or the out-of-range counter.
#[inline(always)]
fn counter(table: *mut SyscallTable, nr: i64) -> *mut SyscallCount {
    // SAFETY: `table` points into a live map value; the index is bounds-checked.
    unsafe {
        match usize::try_from(nr) {
            Ok(nr) if nr < MAX_SYSCALLS => addr_of!((*table).counts[nr]).cast_mut(),
            _ => addr_of!((*table).out_of_range).cast_mut(),
        }
    }
}

/// Adds one to a counter. Atomic although the table is per-CPU: a preemptible kernel can
/// switch tasks between a plain load and store, and both tasks' hits must land.
#[inline(always)]
fn bump(counter: *mut u64) {
    // SAFETY: `counter` points into a live, 8-byte aligned map value that is only written
    // through atomics.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, 1) };
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
