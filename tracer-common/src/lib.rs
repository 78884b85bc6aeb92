//! Types shared by ktrace's eBPF programs (`tracer-ebpf`) and its userspace (`tracer`).
//!
//! Everything here crosses the kernel boundary as raw bytes, so every type is `#[repr(C)]`,
//! `Copy`, free of `bool` and of hidden padding (padding is spelled out as fields).
//! With the `user` feature the types implement `aya::Pod` so userspace can read maps and
//! write globals.
#![no_std]

/// How many cgroups one ktrace session can trace side by side; each gets a slot.
pub const MAX_CGROUPS: usize = 16;

/// Syscall numbers one ABI's part of the per-cgroup syscall table holds. x86_64 and i386
/// numbers end below 470 (kernel 6.18); numbers at or above this land in
/// [`SyscallTable::out_of_range`]. A power of two: the eBPF side masks indexes with it.
pub const MAX_SYSCALLS: usize = 512;

/// The syscall ABIs ktrace tells apart, in the order of their parts of [`SyscallTable`]: a
/// 64-bit call (`syscall`), or a 32-bit one (`int 0x80`, or any call of a 32-bit program),
/// which the kernel numbers from the i386 table and runs with `TS_COMPAT` set in the task's
/// `thread_info.status`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Abi {
    X86_64 = 0,
    I386 = 1,
}

impl Abi {
    pub const ALL: [Self; 2] = [Self::X86_64, Self::I386];
}

/// Counters in one cgroup's [`SyscallTable::counts`]: [`MAX_SYSCALLS`] per [`Abi`].
pub const SYSCALL_COUNTERS: usize = MAX_SYSCALLS * Abi::ALL.len();

/// Index of syscall `nr` of `abi` in [`SyscallTable::counts`]; `None` when `nr` is out of range.
#[inline(always)]
pub fn counter_index(abi: Abi, nr: i64) -> Option<usize> {
    (0..MAX_SYSCALLS as i64).contains(&nr).then(|| abi as usize * MAX_SYSCALLS + nr as usize)
}

/// `TS_COMPAT` in x86's `thread_info.status`: a 32-bit syscall is running (the kernel's
/// `in_ia32_syscall()`). A #define, so not in BTF; unchanged since Linux 2.6.
pub const TS_COMPAT: u32 = 0x0002;

const _: () = assert!(MAX_SYSCALLS.is_power_of_two() && FUNCTION_CHUNK.is_power_of_two());

/// A cgroup to count, as the eBPF side sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupTarget {
    /// cgroup v2 id: the inode number of the cgroup's directory.
    pub id: u64,
    /// Depth below the v2 root (the root is level 0). A task belongs to this target when its
    /// ancestor at this level has this id, which counts descendants too.
    pub level: u32,
    pub _pad: u32,
}

/// The load-time configuration, written into the eBPF global `TARGETS` by the loader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// Number of slots in use in `cgroups`.
    pub count: u32,
    pub _pad: u32,
    pub cgroups: [CgroupTarget; MAX_CGROUPS],
    /// ktrace itself, whose threads are never counted, even inside a traced cgroup.
    pub tracer: Tracer,
}

/// ktrace's process as its own pid namespace numbers it, which is how
/// `bpf_get_ns_current_pid_tgid` asks: the namespace is `/proc/self/ns/pid`'s device and inode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracer {
    pub pid_ns_dev: u64,
    pub pid_ns_ino: u64,
    pub tgid: u32,
    pub _pad: u32,
}

/// Calls of one syscall, how many of them failed (returned -4095..=-1), and how many returns
/// came without an entry: calls the kernel rejected before its `sys_enter` tracepoint, which
/// a seccomp filter does, or a ptrace tracer that skips or emulates the call (gVisor's ptrace
/// platform). `errors <= calls` always; a blocked call is not among the calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallCount {
    pub calls: u64,
    pub errors: u64,
    pub blocked: u64,
}

/// Per-CPU counts of one cgroup slot, indexed by [`counter_index`]. 24 KiB: per-CPU map
/// values are limited to 32 KiB.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallTable {
    pub counts: [SyscallCount; SYSCALL_COUNTERS],
    /// Calls whose number was negative or at least [`MAX_SYSCALLS`].
    pub out_of_range: SyscallCount,
}

const _: () = assert!(size_of::<SyscallTable>() <= 32 << 10);

impl Default for SyscallTable {
    fn default() -> Self {
        Self {
            counts: [SyscallCount::default(); SYSCALL_COUNTERS],
            out_of_range: SyscallCount::default(),
        }
    }
}

/// What `sys_enter` leaves for `sys_exit` in the task's local storage (one per task, freed
/// with it), for tasks of traced cgroups: that the task is inside a counted call, and where
/// that call was counted, so that the return is counted in the same cgroups and row even if
/// the task moved in between.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallEntry {
    /// The traced cgroup slots the call was counted in (the eBPF side's `Matching` word).
    pub matching: u64,
    /// `bpf_ktime_get_ns()` at the entry with `--latency`, else 0.
    pub entry_ns: u64,
    /// The call's [`counter_index`], or [`SYSCALL_COUNTERS`] when out of range.
    pub counter: u32,
    /// One of `ENTRY_*`.
    pub state: u32,
}

/// [`SyscallEntry::state`] of a record just created: nothing seen yet. A new task's first
/// event is the return from the clone that made it, which has no entry of its own.
pub const ENTRY_NEW: u32 = 0;
/// Inside a call whose entry was counted.
pub const ENTRY_INSIDE: u32 = 1;
/// Between calls: a return now had no entry, so the call was blocked.
pub const ENTRY_RETURNED: u32 = 2;

/// Per-CPU counts of syscall events that could not be fully accounted.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallStats {
    /// The task's [`SyscallEntry`] could not be read or created (no memory, or task storage
    /// busy on the CPU): the call's failure or blocked return may be missing.
    pub entry_failures: u64,
    /// A timed return whose latency histogram could not be created (`--latency`).
    pub latency_failures: u64,
}

/// Syscall latency histograms (`--latency`): log-linear buckets of nanoseconds, as
/// HdrHistogram lays them out. Below 2 × [`LATENCY_SUB_BUCKETS`] ns every nanosecond has its
/// bucket; above, each power of two [2^p, 2^(p+1)) is cut into [`LATENCY_SUB_BUCKETS`] equal
/// buckets of width 2^(p-5). A bucket's midpoint is therefore within 1/64 (1.6%) of every
/// value in it. Latencies of 2^36 ns (68.7 s) and more all land in the last bucket.
pub const LATENCY_SUB_BITS: u32 = 5;
pub const LATENCY_SUB_BUCKETS: usize = 1 << LATENCY_SUB_BITS;
/// Buckets per histogram: 32 for each power of two up to 2^36 ns. A power of two: the eBPF
/// side masks indexes with it.
pub const LATENCY_BUCKETS: usize = 1024;

const _: () = assert!(LATENCY_BUCKETS.is_power_of_two());

/// The bucket of a latency of `ns` nanoseconds. Written without `leading_zeros`, which the
/// BPF target has no instruction for.
#[inline(always)]
pub fn latency_bucket(ns: u64) -> usize {
    if ns < 2 * LATENCY_SUB_BUCKETS as u64 {
        return ns as usize;
    }
    // p = floor(log2(ns)), by halving the search range.
    let (mut p, mut rest) = (0u32, ns);
    for shift in [32, 16, 8, 4, 2, 1] {
        if rest >> shift != 0 {
            rest >>= shift;
            p += shift;
        }
    }
    let sub = (ns >> (p - LATENCY_SUB_BITS)) as usize & (LATENCY_SUB_BUCKETS - 1);
    let bucket = (p - LATENCY_SUB_BITS + 1) as usize * LATENCY_SUB_BUCKETS + sub;
    if bucket < LATENCY_BUCKETS { bucket } else { LATENCY_BUCKETS - 1 }
}

/// The lowest latency, in nanoseconds, of bucket `bucket`, and the bucket's width.
pub fn latency_bucket_range(bucket: usize) -> (u64, u64) {
    if bucket < 2 * LATENCY_SUB_BUCKETS {
        return (bucket as u64, 1);
    }
    let shift = (bucket / LATENCY_SUB_BUCKETS - 1) as u32;
    let sub = (bucket % LATENCY_SUB_BUCKETS) as u64;
    ((LATENCY_SUB_BUCKETS as u64 + sub) << shift, 1 << shift)
}

/// Where one histogram of the eBPF `SYSCALL_LATENCY` array belongs (its `LATENCY_KEYS`
/// entry): a cgroup slot and a syscall's [`counter_index`] (or [`SYSCALL_COUNTERS`] when out
/// of range).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LatencyKey {
    pub slot: u32,
    pub counter: u32,
}

/// Where the eBPF `LATENCY_INDEX` keeps the number of histograms its CPU has handed out.
pub const LATENCY_HANDED_OUT: u32 = 0;

/// Where the eBPF `LATENCY_INDEX` keeps the histogram of `slot` and syscall `counter` (a
/// [`LatencyKey`]'s fields).
#[inline(always)]
pub fn latency_index_at(slot: u32, counter: u32) -> u32 {
    1 + slot * (SYSCALL_COUNTERS as u32 + 1) + counter
}

/// Entries of the eBPF `LATENCY_INDEX` for `slots` cgroup slots.
pub fn latency_index_len(slots: usize) -> usize {
    1 + slots * (SYSCALL_COUNTERS + 1)
}

/// Per-CPU calls per latency bucket (see [`latency_bucket`]). 8 KiB.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub buckets: [u64; LATENCY_BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { buckets: [0; LATENCY_BUCKETS] }
    }
}

/// Field offsets of the kernel structures that say which cgroups a task is in, and whether
/// it runs a 32-bit syscall; the loader reads them from kernel BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLayout {
    /// `task_struct.cgroups` (the task's `struct css_set *`).
    pub task_cgroups: u32,
    /// `task_struct.thread_info.status` (x86: `thread_info` is the first member).
    pub task_status: u32,
    /// `css_set.dfl_cgrp`: the task's cgroup in the v2 hierarchy.
    pub css_set_dfl_cgrp: u32,
    /// `cgroup.level` (an `int`).
    pub cgroup_level: u32,
    /// `cgroup.ancestors` (Linux 6.2+, `struct cgroup *[]`) or `cgroup.ancestor_ids` (up to
    /// 6.1, `u64[]`): indexed by level, the cgroup itself at its own level.
    pub cgroup_ancestors: u32,
    /// 1 when `cgroup_ancestors` holds ids (`ancestor_ids`), 0 when cgroup pointers.
    pub ancestors_are_ids: u32,
    /// `cgroup.kn`: the cgroup's directory, whose `kernfs_node.id` is the cgroup id.
    pub cgroup_kn: u32,
    /// `kernfs_node.id`.
    pub kernfs_node_id: u32,
    /// The type id of `struct task_struct` in kernel BTF, for the call at [`TASK_CAST_CALL`].
    pub task_struct_btf_id: u32,
}

/// Capacity of the sample hash map: distinct (cgroup slot, kernel IP, stack) keys.
pub const MAX_SAMPLE_KEYS: u32 = 1 << 16;

/// Capacity of the kernel stack trace map used by `--stacks`.
pub const MAX_STACKS: u32 = 1 << 14;

/// No stack recorded (stacks off, or `bpf_get_stackid` failed).
pub const NO_STACK: i32 = -1;

/// Rows of sample totals: with [`IRQ_SEPARATE`], a task row per cgroup slot, an interrupt row
/// per slot and the machine's interrupt row, as the function counters have them.
pub const MAX_SAMPLE_ROWS: usize = 2 * MAX_CGROUPS + 1;

/// A sampled kernel location of one row (a cgroup slot, or with [`IRQ_SEPARATE`] one of the
/// interrupt rows: see [`MAX_SAMPLE_ROWS`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    /// Kernel instruction pointer at the sample.
    pub ip: u64,
    /// The row.
    pub slot: u32,
    /// Id in the stack trace map, or [`NO_STACK`].
    pub stack_id: i32,
}

/// Per-CPU sample totals of one row (see [`MAX_SAMPLE_ROWS`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleTotals {
    /// Samples taken while a task of the cgroup ran in the kernel (in an interrupt row: while
    /// the CPU served an interrupt).
    pub kernel: u64,
    /// Samples taken while a task of the cgroup ran in user space (never in interrupt rows).
    pub user: u64,
    /// Kernel samples that could not be recorded because the sample map was full.
    pub lost: u64,
}

/// Function counters come in per-CPU chunks of this many, so that userspace reads tens of
/// thousands of counters with a few hundred lookups.
pub const FUNCTION_CHUNK: usize = 512;

/// One chunk of function entry counters of one cgroup slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionChunk {
    pub counts: [u64; FUNCTION_CHUNK],
}

impl Default for FunctionChunk {
    fn default() -> Self {
        Self { counts: [0; FUNCTION_CHUNK] }
    }
}

/// How function entries and kernel samples in interrupt context are counted (`--irq`), the
/// eBPF global `IRQ_MODE`. With [`IRQ_SEPARATE`], the function counters and the sample totals
/// have three rows of slots: the task-context row of each traced cgroup, then its
/// interrupt-context row ("in interrupts while this cgroup ran"), then one row for all
/// interrupt-context entries (or samples) of the machine.
pub const IRQ_TASK: u32 = 0;
/// Entries in interrupt context are not counted.
pub const IRQ_EXCLUDE: u32 = 1;
/// Entries in interrupt context are counted apart (see [`IRQ_TASK`]).
pub const IRQ_SEPARATE: u32 = 2;

/// Where this CPU's preempt count is, which says whether it serves an interrupt: a field of
/// a per-CPU variable of the kernel, which the eBPF side reaches with `bpf_this_cpu_ptr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreemptCount {
    /// The variable's type id in kernel BTF (a VAR): `__preempt_count`, or `pcpu_hot` on
    /// Linux 6.2 to 6.14. The loader writes it into the loads of [`PER_CPU_VARIABLE`].
    pub variable: u32,
    /// The count's byte offset in the variable: 0, or that of `pcpu_hot.preempt_count`.
    pub offset: u32,
}

/// The constant the eBPF side loads where it means the per-CPU variable of
/// [`PreemptCount`]. aya cannot resolve kernel symbols (libbpf's `__ksym` externs), so the
/// loader rewrites each `ld_imm64` of this value into a reference to the variable's BTF id
/// (`BPF_PSEUDO_BTF_ID`), which the kernel resolves at load. Unlikely to occur otherwise:
/// "ktracepc" in ASCII.
pub const PER_CPU_VARIABLE: u64 = 0x6b74_7261_6365_7063;

/// The helper number the eBPF side calls where it turns the address of the task running on
/// its CPU, cached with that task's answer, back into a BTF-typed `task_struct` pointer
/// (`call 0x6b74636b`, "ktck"; no helper has such a number). The loader rewrites each such
/// call into the `bpf_rdonly_cast` kfunc (Linux 6.2+), which the verifier turns into a plain
/// move: the syscall path then reads the task's ABI without a helper call, which costs about
/// 25 ns on a kernel with return thunks (x86's SRSO and retbleed mitigations). Kernels without
/// the kfunc get `bpf_get_current_task_btf` in its place, which returns the same task.
pub const TASK_CAST_CALL: i32 = 0x6b74_636b;

/// Index in the eBPF `CONTROL` array of the switch that turns counting (syscalls, samples,
/// functions) on once everything is attached.
pub const CONTROL_ACTIVE: u32 = 0;

/// Per-CPU counts of function hits that could not be counted.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// The counter array had no entry for the (cgroup, function) index.
    pub failed_updates: u64,
    /// A hit whose function index (cookie or address) was not one of ktrace's targets.
    pub unknown_function: u64,
}

/// Where the function counting programs find a function's index: an open-addressing table
/// (linear probing) in an eBPF array, keyed by the address right after the function's
/// `call __fentry__` (its ftrace patch site + 5). That is what a kprobe.multi program reads
/// as `regs->ip` (x86_64 ftrace saves the call's return address there), so a hit costs a
/// multiply and a few inlined array lookups instead of `bpf_get_attach_cookie`, which
/// binary-searches the link's addresses and cost more than the rest of the program together
/// (see `cargo xtask bench`).
///
/// Userspace takes the patch sites from ftrace (Linux 6.5+). Older kernels list only
/// function addresses, and the call sits at the address or 4 bytes later, behind an
/// `endbr64` (IBT builds, not every function): userspace then stores both keys. Neither can
/// be another function's key: functions are more than 4 bytes apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpSlot {
    /// The key; 0 marks an empty slot (no kernel address is 0).
    pub ip: u64,
    /// Index of the function in ktrace's target list.
    pub index: u32,
    pub _pad: u32,
}

/// The constant the fentry counting program loads as its function's index: one program load
/// per function, so the loader writes each load's index in its place (see [`PER_CPU_VARIABLE`]
/// for the form) and a hit looks nothing up. "ktracefx" in ASCII.
pub const FENTRY_INDEX: u64 = 0x6b74_7261_6365_6678;

/// Size of x86_64's `call __fentry__`.
pub const FENTRY_CALL_SIZE: u64 = 5;

/// Size of the `endbr64` that may precede it.
pub const ENDBR_SIZE: u64 = 4;

/// A lookup gives up after this many slots; userspace grows the table until every key is
/// found within it.
pub const IP_TABLE_MAX_PROBES: u32 = 32;

/// Home slot of `ip` in a table of `mask + 1` slots: Fibonacci hashing, taking the product's
/// upper half so that the low bits, alike in aligned addresses, do not decide the slot.
#[inline(always)]
pub fn ip_home(ip: u64, mask: u32) -> u32 {
    (ip.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32 & mask
}

/// The index stored for `ip`, probing at most [`IP_TABLE_MAX_PROBES`] slots; `slot_at`
/// reads a slot. Shared by the eBPF lookup and userspace's check of the table it built.
#[inline(always)]
pub fn ip_find(ip: u64, mask: u32, mut slot_at: impl FnMut(u32) -> Option<IpSlot>) -> Option<u32> {
    let mut pos = ip_home(ip, mask);
    let mut slot = slot_at(pos)?;
    // The first probe hits most of the time: kept out of the loop for the eBPF hot path.
    if slot.ip == ip {
        return Some(slot.index);
    }
    for _ in 1..IP_TABLE_MAX_PROBES {
        if slot.ip == 0 {
            return None;
        }
        pos = pos.wrapping_add(1) & mask;
        slot = slot_at(pos)?;
        if slot.ip == ip {
            return Some(slot.index);
        }
    }
    None
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all these types are repr(C), Copy, made only of integers, with explicit padding,
    // so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::CgroupTarget {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Targets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallCount {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallTable {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LatencyKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LatencyHistogram {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::KernelLayout {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SampleKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SampleTotals {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FunctionStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FunctionChunk {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::IpSlot {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PreemptCount {}
}
