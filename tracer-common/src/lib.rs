//! Types shared by ktrace's eBPF programs (`tracer-ebpf`) and its userspace (`tracer`).
//!
//! Everything here crosses the kernel boundary as raw bytes, so every type is `#[repr(C)]`,
//! `Copy`, free of `bool` and of hidden padding (padding is spelled out as fields).
//! With the `user` feature the types implement `aya::Pod` so userspace can read maps and
//! write globals.
#![no_std]

/// How many cgroups one ktrace session can trace side by side; each gets a slot.
pub const MAX_CGROUPS: usize = 16;

/// Size of the per-cgroup syscall table. x86_64 numbers end below 470 (kernel 6.18);
/// numbers at or above this land in [`SyscallTable::out_of_range`]. A power of two: the eBPF
/// side masks indexes with it.
pub const MAX_SYSCALLS: usize = 512;

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
}

/// Calls of one syscall and how many of them failed (returned -4095..=-1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallCount {
    pub calls: u64,
    pub errors: u64,
}

/// Per-CPU counts of one cgroup slot, indexed by syscall number.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallTable {
    pub counts: [SyscallCount; MAX_SYSCALLS],
    /// Calls whose number was negative or at least [`MAX_SYSCALLS`].
    pub out_of_range: SyscallCount,
}

impl Default for SyscallTable {
    fn default() -> Self {
        Self {
            counts: [SyscallCount::default(); MAX_SYSCALLS],
            out_of_range: SyscallCount::default(),
        }
    }
}

/// Capacity of the sample hash map: distinct (cgroup slot, kernel IP, stack) keys.
pub const MAX_SAMPLE_KEYS: u32 = 1 << 16;

/// Capacity of the kernel stack trace map used by `--stacks`.
pub const MAX_STACKS: u32 = 1 << 14;

/// No stack recorded (stacks off, or `bpf_get_stackid` failed).
pub const NO_STACK: i32 = -1;

/// A sampled kernel location of one cgroup slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    /// Kernel instruction pointer at the sample.
    pub ip: u64,
    pub slot: u32,
    /// Id in the stack trace map, or [`NO_STACK`].
    pub stack_id: i32,
}

/// Per-CPU sample totals of one cgroup slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleTotals {
    /// Samples taken while a task of the cgroup ran in the kernel.
    pub kernel: u64,
    /// Samples taken while a task of the cgroup ran in user space.
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

/// Index in the eBPF `CONTROL` array of the switch that turns function counting on once
/// every link is attached.
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
    unsafe impl aya::Pod for super::SampleKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SampleTotals {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FunctionStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FunctionChunk {}
}
