//! Syscall counting with raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+).
//! Works on kernels without kprobes or fentry: tracepoints are almost always built.
use anyhow::Context as _;
use aya::{
    Ebpf, EbpfLoader,
    maps::{PerCpuArray, PerCpuHashMap},
};
use tracer_common::{LatencyHistogram, LatencyKey, SyscallStats, SyscallTable};

use super::object;
use crate::collect::{SyscallCounts, SyscallLatencies};

/// (program in tracer-ebpf, raw tracepoint it attaches to)
const PROGRAMS: [(&str, &str); 2] = [("kt_sys_enter", "sys_enter"), ("kt_sys_exit", "sys_exit")];

pub fn attach(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    object::attach_raw_tracepoints(ebpf, &PROGRAMS)
}

/// Cumulative counts of slots 0..slots.
pub fn read(ebpf: &Ebpf, slots: usize) -> anyhow::Result<Vec<SyscallCounts>> {
    let tables: PerCpuArray<_, SyscallTable> = object::map_as(ebpf, "SYSCALLS")?;
    (0..slots as u32)
        .map(|slot| {
            let per_cpu =
                tables.get(&slot, 0).with_context(|| format!("reading SYSCALLS[{slot}]"))?;
            Ok(SyscallCounts::sum_per_cpu(&per_cpu))
        })
        .collect()
}

/// Distinct syscalls timed per traced cgroup, on average, that `--latency` has room for: the
/// histograms are preallocated, 8 KiB per CPU each, so 1 MiB per cgroup and CPU. A process
/// uses a few dozen distinct syscalls; the cgroups share the room.
pub const LATENCY_SYSCALLS_PER_CGROUP: usize = 128;

/// Sets up syscall latency histograms for `slots` cgroups (`--latency`), or none: the map
/// then has one entry, so that no memory is spent on it.
pub fn configure_latency(loader: &mut EbpfLoader<'_>, slots: usize, latency: bool) {
    // The loader keeps a reference until it loads: a promoted constant outlives it.
    let enabled: &'static u32 = if latency { &1 } else { &0 };
    loader.override_global("LATENCY", enabled, true);
    let histograms = if latency { slots.max(1) * LATENCY_SYSCALLS_PER_CGROUP } else { 1 };
    loader.map_max_entries("SYSCALL_LATENCY", histograms as u32);
}

/// Cumulative latency histograms of slots 0..slots.
pub fn read_latency(ebpf: &Ebpf, slots: usize) -> anyhow::Result<Vec<SyscallLatencies>> {
    let map: PerCpuHashMap<_, LatencyKey, LatencyHistogram> =
        object::map_as(ebpf, "SYSCALL_LATENCY")?;
    let mut latencies = vec![SyscallLatencies::default(); slots];
    for entry in map.iter() {
        let (key, per_cpu) = entry.context("reading SYSCALL_LATENCY")?;
        if let Some(latency) = latencies.get_mut(key.slot as usize) {
            latency.add_per_cpu(key.counter, &per_cpu);
        }
    }
    Ok(latencies)
}

/// The eBPF side's syscall losses since loading, summed over CPUs.
pub fn stats(ebpf: &Ebpf) -> anyhow::Result<SyscallStats> {
    let stats: PerCpuArray<_, SyscallStats> = object::map_as(ebpf, "SYSCALL_STATS")?;
    let per_cpu = stats.get(&0, 0).context("reading SYSCALL_STATS")?;
    Ok(per_cpu.iter().fold(SyscallStats::default(), |sum, s| SyscallStats {
        entry_failures: sum.entry_failures.saturating_add(s.entry_failures),
        latency_failures: sum.latency_failures.saturating_add(s.latency_failures),
    }))
}
