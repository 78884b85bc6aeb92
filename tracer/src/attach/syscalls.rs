//! Syscall counting with raw tracepoints on `sys_enter` and `sys_exit` (Linux 4.17+).
//! Works on kernels without kprobes or fentry: tracepoints are almost always built.
use anyhow::Context as _;
use aya::{Ebpf, maps::PerCpuArray};
use tracer_common::{SyscallStats, SyscallTable};

use super::object;
use crate::collect::SyscallCounts;

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

/// Syscall events whose task's entry record could not be read or created, since loading.
pub fn entry_failures(ebpf: &Ebpf) -> anyhow::Result<u64> {
    let map =
        ebpf.map("SYSCALL_STATS").context("map SYSCALL_STATS missing from the eBPF object")?;
    let stats: PerCpuArray<_, SyscallStats> =
        PerCpuArray::try_from(map).context("map SYSCALL_STATS")?;
    let per_cpu = stats.get(&0, 0).context("reading SYSCALL_STATS")?;
    Ok(per_cpu.iter().fold(0u64, |sum, s| sum.saturating_add(s.entry_failures)))
}
