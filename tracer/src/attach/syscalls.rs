//! Syscall counting with raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+).
//! Works on kernels without kprobes or fentry: tracepoints are almost always built.
use anyhow::Context as _;
use aya::{Ebpf, EbpfLoader, maps::PerCpuArray};
use tracer_common::{
    LATENCY_HANDED_OUT, LatencyHistogram, LatencyKey, SyscallStats, SyscallTable, latency_index_len,
};

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

/// Sets up syscall latency histograms for `slots` cgroups (`--latency`), or none: the maps
/// then have one entry each, so that no memory is spent on them.
pub fn configure_latency(loader: &mut EbpfLoader<'_>, slots: usize, latency: bool) {
    // The loader keeps a reference until it loads: a promoted constant outlives it.
    let enabled: &'static u32 = if latency { &1 } else { &0 };
    loader.override_global("LATENCY", enabled, true);
    let (histograms, index) = if latency {
        (slots.max(1) * LATENCY_SYSCALLS_PER_CGROUP, latency_index_len(slots.max(1)))
    } else {
        (1, 1)
    };
    loader.map_max_entries("SYSCALL_LATENCY", histograms as u32);
    loader.map_max_entries("LATENCY_KEYS", histograms as u32);
    loader.map_max_entries("LATENCY_INDEX", index as u32);
}

/// Cumulative latency histograms of slots 0..slots: each CPU's handed-out histograms, added
/// to the (slot, syscall) that CPU gave them to.
pub fn read_latency(ebpf: &Ebpf, slots: usize) -> anyhow::Result<Vec<SyscallLatencies>> {
    let index: PerCpuArray<_, u32> = object::map_as(ebpf, "LATENCY_INDEX")?;
    let keys: PerCpuArray<_, LatencyKey> = object::map_as(ebpf, "LATENCY_KEYS")?;
    let histograms: PerCpuArray<_, LatencyHistogram> = object::map_as(ebpf, "SYSCALL_LATENCY")?;
    let handed_out = index.get(&LATENCY_HANDED_OUT, 0).context("reading LATENCY_INDEX")?;
    let mut latencies = vec![SyscallLatencies::default(); slots];
    for i in 0..handed_out.iter().copied().max().unwrap_or(0) {
        let per_cpu_keys = keys.get(&i, 0).with_context(|| format!("reading LATENCY_KEYS[{i}]"))?;
        let per_cpu =
            histograms.get(&i, 0).with_context(|| format!("reading SYSCALL_LATENCY[{i}]"))?;
        for ((key, histogram), &handed) in per_cpu_keys.iter().zip(per_cpu.iter()).zip(&*handed_out)
        {
            if i < handed
                && let Some(latency) = latencies.get_mut(key.slot as usize)
            {
                latency.add_per_cpu(key.counter, std::slice::from_ref(histogram));
            }
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
