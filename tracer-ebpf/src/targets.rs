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
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_task, bpf_get_smp_processor_id},
    macros::{map, raw_tracepoint},
    maps::Array,
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
/// On a cache line of its own: every hit on every CPU reads it.
#[unsafe(no_mangle)]
static mut CGROUP_MOVES: Generation = Generation(0);

#[repr(C, align(64))]
struct Generation(u64);

/// Switches written by userspace at run time (see [`CONTROL_ACTIVE`]).
#[map]
static CONTROL: Array<u32> = Array::with_max_entries(1, 0);

/// CPUs the cache covers; a task on a CPU beyond it is asked about every time.
const CACHED_CPUS: usize = 1024;

/// The cache: a global array indexed by CPU rather than a per-CPU map, since
/// `bpf_get_smp_processor_id` (inlined on x86_64 since Linux 6.10) is cheaper than a map
/// lookup and never fails.
#[unsafe(no_mangle)]
static mut RUNNING_TASKS: [RunningTask; CACHED_CPUS] = [RunningTask::EMPTY; CACHED_CPUS];

/// The cached answer for the task running on a CPU, on a cache line of its own.
#[repr(C, align(64))]
struct RunningTask {
    /// The task the last `sched_switch` on this CPU switched away from.
    leaving: u64,
    /// `CGROUP_MOVES + 1` from before the answer was computed; 0: no answer.
    tag: u64,
    matching: Matching,
}

/// The traced cgroups a task is in or below: bit i set for slot i in the low half, the lowest
/// slot (the only one, most of the time) in the high half. One word, so that the cache holds
/// it in one load.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct Matching(u64);

impl RunningTask {
    const EMPTY: Self = Self { leaving: 0, tag: 0, matching: Matching::NONE };
}

/// This CPU's cache entry, if the cache covers it.
#[inline(always)]
fn running_task() -> Option<*mut RunningTask> {
    // SAFETY: the helper only reads the CPU number.
    let cpu = unsafe { bpf_get_smp_processor_id() } as usize;
    // SAFETY: only a pointer is formed here; each CPU only touches its own entry.
    (cpu < CACHED_CPUS).then(|| unsafe { &raw mut RUNNING_TASKS[cpu] })
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn kt_sched_switch(ctx: RawTracePointContext) -> i32 {
    // sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...)
    let prev: u64 = ctx.arg(1);
    if let Some(running) = running_task() {
        // SAFETY: `running` is this CPU's entry, which only this CPU writes. `leaving` first:
        // an NMI in between then either still finds the outgoing task's answer, or may not
        // fill.
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
    // SAFETY: only a pointer is formed; the add is atomic.
    bump(unsafe { addr_of_mut!(CGROUP_MOVES.0) });
    0
}

/// Calls `f` with the slot of every traced cgroup that the current task is in or below.
#[inline(always)]
pub fn for_each_matching_slot(f: impl FnMut(u32)) {
    matching().for_each(f);
}

impl Matching {
    const NONE: Self = Self(0);

    #[inline(always)]
    fn slots(self) -> u32 {
        self.0 as u32
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.slots() == 0
    }

    /// The slot, when there is exactly one.
    #[inline(always)]
    fn single(self) -> Option<u64> {
        let slots = self.slots();
        (slots != 0 && slots & (slots - 1) == 0).then_some(self.0 >> 32)
    }

    /// Calls `f` with every slot.
    #[inline(always)]
    pub fn for_each(self, mut f: impl FnMut(u32)) {
        if let Some(slot) = self.single() {
            f(slot as u32);
            return;
        }
        let slots = self.slots();
        // SAFETY: TARGETS is a read-only global; volatile keeps the compiler from folding the
        // loader-written value to its compile-time default.
        let count = unsafe { read_volatile(addr_of!(TARGETS.count)) };
        for slot in 0..MAX_CGROUPS as u32 {
            if slot >= count {
                break;
            }
            if slots & (1 << slot) != 0 {
                f(slot);
            }
        }
    }
}

/// The traced cgroups of the current task, from the cache when it holds them.
#[inline(always)]
pub fn matching() -> Matching {
    // SAFETY: a global only ever added to; any value read is a valid generation.
    let tag = unsafe { read_volatile(addr_of!(CGROUP_MOVES.0)) } + 1;
    let Some(running) = running_task() else { return ask_kernel() };
    // SAFETY: `running` is this CPU's entry, which only this CPU writes.
    unsafe {
        if (*running).tag == tag {
            return (*running).matching;
        }
    }
    if !active() {
        return Matching::NONE;
    }
    let matching = ask_kernel();
    // SAFETY: the helper only returns the current task's address.
    let current = unsafe { bpf_get_current_task() };
    // SAFETY: as above. The answer is written before the tag, so that an interrupt in between
    // finds no answer or a stale one.
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
    let mut slots = 0u32;
    let mut first = 0u32;
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
            if slots == 0 {
                first = slot as u32;
            }
            slots |= 1 << slot;
        }
    }
    Matching(u64::from(first) << 32 | u64::from(slots))
}
