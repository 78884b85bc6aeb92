//! Which traced cgroups the current task belongs to, and whether counting has started.
//!
//! The loader writes the targets into the `TARGETS` global before loading. A task belongs to a
//! target when its ancestor at the target's level is the target (so descendants count):
//! `bpf_get_current_ancestor_cgroup_id` in tracing programs needs Linux 5.10+ (5.7 for
//! perf_event programs).
//!
//! That helper costs as much as the rest of a function counting hit, so the answer is cached
//! per CPU for the task running there, until the CPU switches tasks (`sched_switch`) or any
//! task changes cgroup (`cgroup_attach_task`). Between the `sched_switch` tracepoint and the
//! switch itself the outgoing task still runs: it must not fill the cache then, or the
//! incoming task would inherit its answer, so the tracepoint also records who is leaving.
//! Userspace attaches both tracepoints before anything that counts.
//!
//! Until userspace sets `CONTROL[ACTIVE]`, after everything is attached, no task matches and
//! nothing is cached: a half-attached set never produces numbers, and the check costs
//! nothing once answers are cached.
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use aya_ebpf::{
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_task},
    macros::{map, raw_tracepoint},
    maps::{Array, PerCpuArray},
    programs::RawTracePointContext,
};
use tracer_common::{CONTROL_ACTIVE, CgroupTarget, MAX_CGROUPS, Targets};

use crate::bump;

#[unsafe(no_mangle)]
static TARGETS: Targets = Targets {
    count: 0,
    _pad: 0,
    cgroups: [CgroupTarget { id: 0, level: 0, _pad: 0 }; MAX_CGROUPS],
};

/// Bumped whenever a task moves to another cgroup: cached answers older than that are stale.
#[unsafe(no_mangle)]
static mut CGROUP_MOVES: u64 = 0;

/// Switches written by userspace at run time (see [`CONTROL_ACTIVE`]).
#[map]
static CONTROL: Array<u32> = Array::with_max_entries(1, 0);

/// The cached answer for the task running on a CPU.
#[repr(C)]
struct RunningTask {
    /// The task the last `sched_switch` on this CPU switched away from.
    leaving: u64,
    /// `CGROUP_MOVES + 1` from before the answer was computed; 0: no answer.
    tag: u64,
    matching: Matching,
}

/// The traced cgroups a task is in or below.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Matching {
    /// Bit i set: the cgroup of slot i.
    slots: u32,
    /// The lowest slot in `slots`: the only one, most of the time.
    first: u32,
}

#[map]
static RUNNING_TASK: PerCpuArray<RunningTask> = PerCpuArray::with_max_entries(1, 0);

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn kt_sched_switch(ctx: RawTracePointContext) -> i32 {
    // sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...)
    let prev: u64 = ctx.arg(1);
    if let Some(running) = RUNNING_TASK.get_ptr_mut(0) {
        // SAFETY: `running` points into a live map value. `leaving` first: an NMI in between
        // then either still finds the outgoing task's answer, or may not fill.
        unsafe {
            write_volatile(&raw mut (*running).leaving, prev);
            write_volatile(&raw mut (*running).tag, 0);
        }
    }
    0
}

#[raw_tracepoint(tracepoint = "cgroup_attach_task")]
pub fn kt_cgroup_attach_task(_ctx: RawTracePointContext) -> i32 {
    // Fires after the move has taken effect, so an answer computed before it is now stale.
    bump(addr_of_mut!(CGROUP_MOVES));
    0
}

/// Calls `f` with the slot of every traced cgroup that the current task is in or below.
#[inline(always)]
pub fn for_each_matching_slot(f: impl FnMut(u32)) {
    matching().for_each(f);
}

impl Matching {
    const NONE: Self = Self { slots: 0, first: 0 };

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.slots == 0
    }

    /// Calls `f` with every slot.
    #[inline(always)]
    pub fn for_each(self, mut f: impl FnMut(u32)) {
        if self.slots & self.slots.wrapping_sub(1) == 0 {
            if self.slots != 0 {
                f(self.first);
            }
            return;
        }
        // SAFETY: TARGETS is a read-only global; volatile keeps the compiler from folding the
        // loader-written value to its compile-time default.
        let count = unsafe { read_volatile(addr_of!(TARGETS.count)) };
        for slot in 0..MAX_CGROUPS as u32 {
            if slot >= count {
                break;
            }
            if self.slots & (1 << slot) != 0 {
                f(slot);
            }
        }
    }
}

/// The traced cgroups of the current task, from the cache when it holds them.
#[inline(always)]
pub fn matching() -> Matching {
    // SAFETY: a global only ever added to; any value read is a valid generation.
    let tag = unsafe { read_volatile(addr_of!(CGROUP_MOVES)) } + 1;
    let Some(running) = RUNNING_TASK.get_ptr_mut(0) else { return ask_kernel() };
    // SAFETY: `running` points into a live map value.
    unsafe {
        if read_volatile(&raw const (*running).tag) == tag {
            return read_volatile(&raw const (*running).matching);
        }
    }
    if !active() {
        return Matching::NONE;
    }
    let matching = ask_kernel();
    // SAFETY: the helper only returns the current task's address.
    let current = unsafe { bpf_get_current_task() };
    // SAFETY: `running` points into a live map value. The answer is written before the tag,
    // so that an interrupt in between finds no answer or a stale one.
    unsafe {
        if read_volatile(&raw const (*running).leaving) != current {
            write_volatile(&raw mut (*running).matching, matching);
            write_volatile(&raw mut (*running).tag, tag);
        }
    }
    matching
}

fn active() -> bool {
    CONTROL.get(CONTROL_ACTIVE).is_some_and(|&on| on != 0)
}

/// The traced cgroups of the current task, asked of the kernel.
#[inline(always)]
fn ask_kernel() -> Matching {
    // SAFETY: as in Matching::for_each.
    let count = unsafe { read_volatile(addr_of!(TARGETS.count)) } as usize;
    let mut matching = Matching::NONE;
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
            if matching.slots == 0 {
                matching.first = slot as u32;
            }
            matching.slots |= 1 << slot;
        }
    }
    matching
}
