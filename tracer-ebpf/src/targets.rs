//! Which traced cgroups the current task belongs to, and whether counting has started.
//!
//! The loader writes the targets into the `TARGETS` global before loading. A task belongs to a
//! target when its cgroup's ancestor at the target's level is the target (so descendants
//! count).
//!
//! The answer is one snapshot: the task's cgroup is read once (`task->cgroups->dfl_cgrp`; the
//! RCU read lock every tracing program runs under keeps that css_set and cgroup alive), and
//! every target is compared with that cgroup's ancestor at the target's level
//! (`cgroup->ancestors[level]->kn->id` on Linux 6.2+, `cgroup->ancestor_ids[level]` before).
//! Asking `bpf_get_current_ancestor_cgroup_id` once per target instead reads the task's
//! cgroup anew each time, and a task moved in between is counted in two cgroups or in none.
//! The loader finds the field offsets in kernel BTF and writes them into `KERNEL_LAYOUT`. Loads
//! of fixed fields go through the BTF-typed pointer of `bpf_get_current_task_btf` (Linux
//! 5.11), so the verifier checks each one against BTF (offsets in read-only globals are
//! constants to it) and a load through a bad pointer reads 0 instead of faulting; the
//! ancestor arrays, which BTF-typed loads cannot index, are read with
//! `bpf_probe_read_kernel`.
//!
//! The verifier walks every path through the loop over targets. The matches are therefore
//! accumulated without a branch per target: a branch would give it two paths per target, and
//! with the slot mask as a constant on each, 2^16 of them that it cannot merge.
//!
//! The answer costs about as much as the rest of a function counting hit, so it is cached per
//! CPU for the task running there, until the CPU switches tasks (`sched_switch`) or any task
//! changes cgroup (`cgroup_attach_task`). Between the `sched_switch` tracepoint and the
//! switch itself the outgoing task still runs: it must not fill the cache then, or the
//! incoming task would inherit its answer, so the tracepoint also records who is leaving.
//! Userspace attaches both tracepoints before anything that counts. The cache also keeps the
//! task's address, from which a syscall event reads the call's ABI without a helper call
//! ([`Current::task`]): with return thunks (x86's SRSO mitigation), a helper call costs as
//! much as the rest of a counting syscall event.
//!
//! Until userspace sets `CONTROL[ACTIVE]`, after everything is attached, no task matches and
//! nothing is cached: a half-attached set never produces numbers, and the check costs
//! nothing once answers are cached.
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use aya_ebpf::{
    bindings::bpf_pidns_info,
    bindings::task_struct,
    helpers::{
        bpf_get_current_task, bpf_get_current_task_btf, bpf_get_smp_processor_id,
        generated::{bpf_get_ns_current_pid_tgid, bpf_probe_read_kernel},
    },
    macros::{map, raw_tracepoint},
    maps::Array,
    programs::RawTracePointContext,
};
use aya_log_ebpf::warn;
use tracer_common::{
    CONTROL_ACTIVE, CgroupTarget, KernelLayout, MAX_CGROUPS, TASK_CAST_CALL, Targets, Tracer,
};

use crate::{
    bump, element,
    syscalls::{RunningSyscall, switched_out},
};

/// Read per slot (a whole copy would take 264 bytes of the 512-byte stack).
#[unsafe(no_mangle)]
static TARGETS: Targets = Targets {
    count: 0,
    _pad: 0,
    cgroups: [CgroupTarget { id: 0, level: 0, _pad: 0 }; MAX_CGROUPS],
    tracer: Tracer { pid_ns_dev: 0, pid_ns_ino: 0, tgid: 0, _pad: 0 },
};

/// Where a task's cgroup and syscall ABI are in the kernel's structures; the loader writes
/// the offsets it found in kernel BTF. A plain static, read a field at a time (see
/// [`task_status_offset`]), where `Global::load` would copy all of it.
#[unsafe(no_mangle)]
static KERNEL_LAYOUT: KernelLayout = KernelLayout {
    task_cgroups: 0,
    task_status: 0,
    css_set_dfl_cgrp: 0,
    cgroup_level: 0,
    cgroup_ancestors: 0,
    ancestors_are_ids: 0,
    cgroup_kn: 0,
    kernfs_node_id: 0,
    task_struct_btf_id: 0,
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

/// The cached answer for the task running on a CPU, and its syscall state, on a cache line of
/// its own.
#[repr(C, align(64))]
struct RunningTask {
    /// The task the last `sched_switch` on this CPU switched away from.
    leaving: u64,
    /// `CGROUP_MOVES + 1` from before the answer was computed; 0: no answer.
    tag: u64,
    matching: Matching,
    /// The address of the task the answer is for (see [`Current::task`]).
    task: u64,
    syscall: RunningSyscall,
}

/// The traced cgroups a task is in or below: bit i set for slot i in the low half, the lowest
/// slot (the only one, most of the time) in bits 32-62, and [`SEVERAL`] when there is more
/// than one. One word, so that the cache holds it in one load, and so that a syscall's entry
/// record keeps it (`SyscallEntry::matching`).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct Matching(u64);

impl RunningTask {
    const EMPTY: Self = Self {
        leaving: 0,
        tag: 0,
        matching: Matching::NONE,
        task: 0,
        syscall: RunningSyscall::EMPTY,
    };
}

/// This CPU's cache entry, if the cache covers it.
#[inline(always)]
fn running_task() -> Option<*mut RunningTask> {
    // SAFETY: the helper only reads the CPU number.
    let cpu = unsafe { bpf_get_smp_processor_id() } as usize;
    // Each CPU only touches its own entry.
    (cpu < CACHED_CPUS).then(|| element(&raw mut RUNNING_TASKS, cpu as u64))
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
        // SAFETY: as above.
        switched_out(unsafe { &raw mut (*running).syscall }, prev);
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

/// The bit of [`Matching`] set when the task is in more than one traced cgroup: worked out
/// once per answer, so that each event tells the common case, one slot, with one test.
const SEVERAL: u64 = 1 << 63;

impl Matching {
    const NONE: Self = Self(0);

    /// The word kept in a syscall's entry record.
    #[inline(always)]
    pub fn word(self) -> u64 {
        self.0
    }

    /// Back from [`Self::word`].
    #[inline(always)]
    pub fn from_word(word: u64) -> Self {
        Self(word)
    }

    #[inline(always)]
    fn slots(self) -> u32 {
        self.0 as u32
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.slots() == 0
    }

    /// Calls `f` with every slot.
    #[inline(always)]
    pub fn for_each(self, mut f: impl FnMut(u32)) {
        if self.0 & SEVERAL == 0 {
            if !self.is_empty() {
                f((self.0 >> 32) as u32);
            }
            return;
        }
        let slots = self.slots();
        for slot in 0..target_count() {
            if slots & (1 << slot) != 0 {
                f(slot);
            }
        }
    }
}

/// Slots in use in `TARGETS`.
#[inline(always)]
pub fn target_count() -> u32 {
    // SAFETY: TARGETS is a read-only global; volatile keeps the compiler from folding the
    // loader-written value to its compile-time default.
    unsafe { read_volatile(addr_of!(TARGETS.count)) }.min(MAX_CGROUPS as u32)
}

/// What an event knows of the task it runs for: its traced cgroups, from the CPU's cache
/// entry when that holds them.
///
/// It keeps the task's address, not the cache entry: a 6.1 verifier loses track of an
/// `Option` of the entry kept across the program, so callers ask for the entry again.
#[derive(Clone, Copy)]
pub struct Current {
    pub matching: Matching,
    /// The task's address, when known without a helper call; 0 when not.
    task: u64,
}

impl Current {
    /// Asks once per event.
    #[inline(always)]
    pub fn get() -> Self {
        // SAFETY: a global only ever added to; any value read is a valid generation.
        let tag = unsafe { read_volatile(addr_of!(CGROUP_MOVES.0)) } + 1;
        let Some(running) = running_task() else {
            return Self { matching: ask_kernel(), task: 0 };
        };
        // SAFETY: `running` is this CPU's entry, which only this CPU writes.
        unsafe {
            if (*running).tag == tag {
                return Self { matching: (*running).matching, task: (*running).task };
            }
        }
        if !active() {
            return Self { matching: Matching::NONE, task: 0 };
        }
        let matching = ask_kernel();
        // SAFETY: the helper only returns the current task's address.
        let current = unsafe { bpf_get_current_task() };
        // SAFETY: as above. The answer is written before the tag, so that an interrupt in
        // between finds no answer or a stale one.
        unsafe {
            if read_volatile(&raw const (*running).leaving) != current {
                write_volatile(&raw mut (*running).matching, matching);
                write_volatile(&raw mut (*running).task, current);
                write_volatile(&raw mut (*running).tag, tag);
            }
        }
        Self { matching, task: current }
    }

    /// The task, as a pointer the verifier knows to be a `task_struct`: cast from its cached
    /// address without a helper call where it can be. It may be untrusted, which is enough to
    /// read a field, but not to pass to a helper (see [`current_task`]).
    #[inline(always)]
    pub fn task(self) -> *mut task_struct {
        if self.task == 0 {
            return current_task();
        }
        let task: *mut task_struct;
        // SAFETY: the loader turns this call into `bpf_rdonly_cast(task, id)` or
        // `bpf_get_current_task_btf()` (see TASK_CAST_CALL); both return the current task,
        // clobber r1-r5 and touch no memory.
        unsafe {
            core::arch::asm!(
                "call {marker}",
                marker = const TASK_CAST_CALL,
                inout("r1") self.task => _,
                inout("r2") task_struct_btf_id() => _,
                lateout("r0") task,
                lateout("r3") _,
                lateout("r4") _,
                lateout("r5") _,
                options(nomem, nostack),
            );
        }
        task
    }
}

/// The syscall state of the task running on this CPU, if the cache covers the CPU.
#[inline(always)]
pub fn running_syscall() -> Option<*mut RunningSyscall> {
    // SAFETY: only a pointer into this CPU's entry is formed.
    running_task().map(|running| unsafe { &raw mut (*running).syscall })
}

/// The traced cgroups of the current task, from the cache when it holds them.
#[inline(always)]
pub fn matching() -> Matching {
    Current::get().matching
}

/// Whether userspace has turned counting on.
pub fn active() -> bool {
    CONTROL.get(CONTROL_ACTIVE).is_some_and(|&on| on != 0)
}

/// A pointer to a kernel object whose type the verifier knows from BTF.
pub type KernelObject = *const u8;

/// The current task, as a pointer the verifier knows to be a `task_struct`.
#[inline(always)]
pub fn current_task() -> *mut task_struct {
    // SAFETY: the helper only returns the current task's address.
    unsafe { bpf_get_current_task_btf() }
}

/// The loader-written field offsets.
#[inline(always)]
fn layout() -> KernelLayout {
    // SAFETY: a read-only global (see target_count).
    unsafe { read_volatile(addr_of!(KERNEL_LAYOUT)) }
}

/// The type id of `struct task_struct` in kernel BTF.
#[inline(always)]
fn task_struct_btf_id() -> u32 {
    // SAFETY: a read-only global (see target_count).
    unsafe { read_volatile(addr_of!(KERNEL_LAYOUT.task_struct_btf_id)) }
}

/// The offset of `task_struct.thread_info.status`, which every syscall event reads: one load.
#[inline(always)]
pub fn task_status_offset() -> u32 {
    // SAFETY: a read-only global (see target_count).
    unsafe { read_volatile(addr_of!(KERNEL_LAYOUT.task_status)) }
}

/// The value of the field at `offset` in the kernel object at `base`.
///
/// # Safety
///
/// `base` must be a BTF-typed pointer (the current task, or one loaded from it through this
/// function) and `offset` a [`KernelLayout`] field, so that the verifier checks the load
/// against BTF and turns it into one that reads 0 where the pointer is bad.
#[inline(always)]
pub unsafe fn field<T: Copy>(base: KernelObject, offset: u32) -> T {
    // SAFETY: as the function's contract says.
    unsafe { read_volatile(base.add(offset as usize).cast::<T>()) }
}

/// The traced cgroups of the current task, asked of the kernel in one snapshot; none for
/// ktrace's own threads, whose reads of the counters would otherwise count themselves.
#[inline(always)]
fn ask_kernel() -> Matching {
    if is_tracer() {
        return Matching::NONE;
    }
    let layout = layout();
    // SAFETY: BTF-typed loads along task->cgroups->dfl_cgrp, offsets from kernel BTF.
    let cgroup: KernelObject = unsafe {
        field(field(current_task().cast(), layout.task_cgroups), layout.css_set_dfl_cgrp)
    };
    if cgroup.is_null() {
        warn!(&(), "the current task's cgroup could not be read");
    }
    // SAFETY: as above.
    let level: i32 = unsafe { field(cgroup, layout.cgroup_level) };
    let (mut slots, mut lowest) = (0u32, 0u32);
    // Downwards, so that the last match is the lowest slot.
    for slot in (0..target_count()).rev() {
        // SAFETY: a read-only global (see target_count); `slot` is below MAX_CGROUPS.
        let target = unsafe { read_volatile(addr_of!(TARGETS.cgroups[slot as usize])) };
        // Deeper than the task's cgroup: its ancestor array does not reach that far.
        if target.level as i32 > level {
            continue;
        }
        let hit = equal(ancestor_id(cgroup, target.level, &layout), target.id);
        slots |= hit << slot;
        // lowest = if hit { slot } else { lowest }, without a branch.
        lowest ^= (lowest ^ slot) & hit.wrapping_neg();
    }
    // After the loop, so one branch (not one per target) for the verifier to walk.
    let several = if slots & slots.wrapping_sub(1) != 0 { SEVERAL } else { 0 };
    Matching(several | u64::from(lowest) << 32 | u64::from(slots))
}

/// Whether the current task is one of ktrace's threads. Asked in ktrace's pid namespace, so
/// that it holds wherever ktrace runs; a task outside that namespace is never ktrace.
#[inline(always)]
fn is_tracer() -> bool {
    // SAFETY: a read-only global (see target_count).
    let tracer = unsafe { read_volatile(addr_of!(TARGETS.tracer)) };
    let mut ids = bpf_pidns_info { pid: 0, tgid: 0 };
    // SAFETY: the helper writes at most `size_of::<bpf_pidns_info>()` bytes into `ids`.
    let found = unsafe {
        bpf_get_ns_current_pid_tgid(
            tracer.pid_ns_dev,
            tracer.pid_ns_ino,
            &raw mut ids,
            size_of::<bpf_pidns_info>() as u32,
        )
    };
    found == 0 && ids.tgid == tracer.tgid
}

/// The id of `cgroup`'s ancestor at `level`, which is at most `cgroup`'s own level.
///
/// The verifier lets BTF-typed loads reach into a flexible array only when its elements are
/// structures, and these are pointers or ids: so these loads are `bpf_probe_read_kernel`s.
#[inline(always)]
fn ancestor_id(cgroup: KernelObject, level: u32, layout: &KernelLayout) -> u64 {
    let at = cgroup as u64 + u64::from(layout.cgroup_ancestors) + u64::from(level) * 8;
    if layout.ancestors_are_ids != 0 {
        return read_kernel(at);
    }
    let kn: u64 = read_kernel(read_kernel::<u64>(at) + u64::from(layout.cgroup_kn));
    read_kernel(kn + u64::from(layout.kernfs_node_id))
}

/// The kernel's integer at `address`; 0 where there is none (the helper zeroes what it cannot
/// read), which is never a cgroup id. No branch on the helper's result: see the module docs.
#[inline(always)]
fn read_kernel<T: Default>(address: u64) -> T {
    let mut value = T::default();
    // SAFETY: the helper checks `address` and writes `size_of::<T>()` bytes to `value`,
    // zeroes on a fault; callers use it for integers, for which any bytes are a value.
    unsafe {
        bpf_probe_read_kernel(
            (&raw mut value).cast(),
            size_of::<T>() as u32,
            address as *const core::ffi::c_void,
        )
    };
    value
}

/// 1 when `a == b`, else 0, computed without a branch (see the module docs).
#[inline(always)]
fn equal(a: u64, b: u64) -> u32 {
    let differ = a ^ b;
    // `differ | -differ` has its top bit set exactly when `differ` is not 0. black_box keeps
    // the compiler from turning this back into a comparison, which BPF can only branch on.
    let same = core::hint::black_box(!(differ | differ.wrapping_neg()));
    (same >> 63) as u32
}
