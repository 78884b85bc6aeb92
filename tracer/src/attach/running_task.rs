//! Keeps the eBPF per-CPU cache of "which traced cgroups the running task is in" current:
//! invalidated on every task switch and whenever a task changes cgroup (see tracer-ebpf's
//! targets.rs). Attached before anything that counts, detached after.
use aya::Ebpf;

use super::object;

/// (program in tracer-ebpf, raw tracepoint it attaches to). cgroup_attach_task first: a
/// cache kept by task switches alone would miss moves.
const PROGRAMS: [(&str, &str); 2] =
    [("kt_cgroup_attach_task", "cgroup_attach_task"), ("kt_sched_switch", "sched_switch")];

pub fn attach(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    object::attach_raw_tracepoints(ebpf, &PROGRAMS)
}
