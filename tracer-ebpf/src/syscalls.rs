//! Syscall counting: raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+) add to a
//! per-CPU table per traced cgroup, indexed by syscall number, so a hit costs one array
//! lookup and one atomic add per matching cgroup.
use core::ptr::addr_of;

use aya_ebpf::{
    helpers::bpf_probe_read_kernel,
    macros::{map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use tracer_common::{MAX_CGROUPS, MAX_SYSCALLS, SyscallCount, SyscallTable};

use crate::{bump, targets::for_each_matching_slot};

/// One [`SyscallTable`] per cgroup slot, per CPU.
#[map]
static SYSCALLS: PerCpuArray<SyscallTable> = PerCpuArray::with_max_entries(MAX_CGROUPS as u32, 0);

/// A syscall failed when it returned an errno, i.e. -4095..=-1 (the kernel's IS_ERR_VALUE).
const MAX_ERRNO: i64 = 4095;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn kt_sys_enter(ctx: RawTracePointContext) -> i32 {
    // sys_enter(struct pt_regs *regs, long id)
    let nr: i64 = ctx.arg(1);
    for_each_matching_slot(|slot| {
        if let Some(count) = counter(slot, nr) {
            // SAFETY: `count` points into a live map value.
            bump(unsafe { &raw mut (*count).calls });
        }
    });
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
    for_each_matching_slot(|slot| {
        if let Some(count) = counter(slot, nr) {
            // SAFETY: `count` points into a live map value.
            bump(unsafe { &raw mut (*count).errors });
        }
    });
    0
}

/// The syscall number of the current syscall, from `regs->orig_ax` (what
/// `syscall_get_nr()` returns on x86_64).
fn syscall_nr(regs: *const aya_ebpf::bindings::pt_regs) -> Option<i64> {
    // SAFETY: bpf_probe_read_kernel checks the address; a fault yields Err, not a crash.
    let orig_ax = unsafe { bpf_probe_read_kernel(addr_of!((*regs).orig_rax)) }.ok()?;
    Some(orig_ax as i64)
}

/// The counter of syscall `nr` in `slot`'s table, or the slot's out-of-range counter.
#[inline(always)]
fn counter(slot: u32, nr: i64) -> Option<*mut SyscallCount> {
    let table = SYSCALLS.get_ptr_mut(slot)?;
    if !(0..MAX_SYSCALLS as i64).contains(&nr) {
        // SAFETY: `table` points into a live map value.
        return Some(unsafe { &raw mut (*table).out_of_range });
    }
    // The mask is applied to a value the compiler cannot see through: otherwise it drops the
    // mask as redundant with the check above, spills `nr`, and older verifiers (6.1) lose the
    // bound on the reloaded copy and reject the program.
    let index = core::hint::black_box(nr as usize) & (MAX_SYSCALLS - 1);
    // SAFETY: `table` points into a live map value; `index` is below MAX_SYSCALLS.
    Some(unsafe { &raw mut (*table).counts[index] })
}
