//! ktrace's probes as the benches attach them: for one traced cgroup, without sampling and
//! without diagnostics, so that each bench says only what it counts.
use tracer::{
    attach::{Diagnostics, FunctionPlan, Interrupts, Probes},
    cgroup::Cgroup,
    lines::Probe,
};

/// What a bench counts besides syscalls; the default is syscalls alone.
#[derive(Default)]
pub struct Counting<'a> {
    /// Time syscalls too (`--latency`).
    pub latency: bool,
    pub functions: Option<FunctionPlan>,
    pub lines: &'a [Probe],
    pub interrupts: Interrupts,
}

/// Attaches ktrace's probes for `cgroup`, counting what `counting` says; dropping the result
/// detaches them.
pub fn attach(cgroup: &Cgroup, counting: Counting<'_>) -> anyhow::Result<Probes> {
    let Counting { latency, functions, lines, interrupts } = counting;
    Probes::attach(
        std::slice::from_ref(cgroup),
        latency,
        None,
        functions,
        lines,
        interrupts,
        Diagnostics::Off,
    )
}
