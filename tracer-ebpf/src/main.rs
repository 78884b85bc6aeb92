//! ktrace's eBPF programs: syscall counting and sampled kernel profiles, per traced cgroup.
//!
//! Every program first asks which traced cgroups the current task belongs to
//! ([`targets`]); counters are per-CPU and only ever added to, userspace sums and diffs them.
#![no_std]
#![no_main]
// atomic_xadd: the BPF target has no compare-and-swap, so core's AtomicU64 offers no
// fetch_add, but the instruction set does have an atomic add.
#![expect(internal_features, reason = "core_intrinsics for atomic_xadd")]
#![feature(core_intrinsics)]
// BPF inline assembly, for `element`.
#![feature(asm_experimental_arch)]

mod context;
mod functions;
mod sample;
mod syscalls;
mod targets;
mod task_storage;

use core::intrinsics::{AtomicOrdering, atomic_xadd};

/// Adds one to a counter in a map value. Atomic although the maps are mostly per-CPU: a
/// preemptible kernel can switch tasks between a plain load and store, and both hits must land.
#[inline(always)]
fn bump(counter: *mut u64) {
    // SAFETY: callers pass pointers into live, 8-byte aligned map values that are only
    // written through atomics.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, 1) };
}

/// Element `index % N` of `array`, N a power of two. The verifier must know that an index into
/// a map value or global array is in bounds; a mask the compiler can see is dropped as
/// redundant with an earlier check, and older verifiers (6.1) do not carry that check's bound
/// over to the index, so the mask is computed where the compiler cannot see it (as
/// `black_box` would, but without a stack store and load on every event).
#[inline(always)]
fn element<T, const N: usize>(array: *mut [T; N], index: u64) -> *mut T {
    const { assert!(N.is_power_of_two()) };
    let mut masked = index;
    // SAFETY: one ALU instruction on two registers; no memory, no stack, no flags.
    unsafe {
        core::arch::asm!(
            "{0} &= {1}",
            inout(reg) masked,
            in(reg) N as u64 - 1,
            options(pure, nomem, nostack)
        );
    }
    array.cast::<T>().wrapping_add(masked as usize)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
