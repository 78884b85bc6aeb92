//! Loading ktrace's eBPF object and attaching its programs, one file per mechanism.
//!
//! One object holds every program and map; the loader sizes the maps of mechanisms that are
//! not used to one entry, so that an unused profile costs no kernel memory. Dropping
//! [`Probes`] closes every link and program: nothing stays attached.
mod backend;
mod diagnostics;
mod functions;
mod interrupts;
mod ip_table;
mod layout;
mod lines;
mod object;
pub mod raw;
mod running_task;
mod sample;
mod syscalls;
mod verifier;

use std::os::unix::fs::MetadataExt as _;

use anyhow::{Context as _, bail};
use aya::{Ebpf, EbpfLoader, maps::Array};
use tracer_common::{
    CONTROL_ACTIVE, CgroupTarget, KernelLayout, MAX_CGROUPS, PreemptCount, Targets, Tracer,
};

pub use self::{
    backend::{Backend, choose as choose_backend, kprobe_pmu_type, load_spec},
    diagnostics::Diagnostics,
    functions::FunctionCounter,
    interrupts::{Interrupts, IrqMode, preempt_count},
    lines::SkippedProbe,
    sample::{DEFAULT_FREQUENCY_HZ, Sampling, hardware_cycles, validate_frequency},
    syscalls::LATENCY_SYSCALLS_PER_CGROUP,
};
use self::{ip_table::IpTable, lines::LineCounter, object::Object};
use crate::{
    cgroup::Cgroup,
    collect::{Overhead, Snapshot},
    functions::Target,
    lines::Probe,
};

/// Kernel functions to count and how.
#[derive(Debug, Clone)]
pub struct FunctionPlan {
    pub backend: Backend,
    /// A function's index here is the index of its counter (and its kprobe attach cookie).
    pub targets: Vec<Target>,
}

/// Everything ktrace attached for one trace. Fields drop in order: the function and line
/// links before the programs and links the object holds.
pub struct Probes {
    functions: Option<FunctionCounter>,
    lines: Option<LineCounter>,
    ebpf: Ebpf,
    slots: usize,
    /// Counter chunks per slot: the function targets' counters, then the line probes'.
    chunks: usize,
    latency: bool,
    sampling: Option<Sampling>,
    /// What entries and samples in interrupt context count for, which decides their rows.
    irq: IrqMode,
    diagnostics: Option<diagnostics::Printer>,
}

impl Probes {
    /// Loads the object with `cgroups` as targets and attaches the syscall counter (timing
    /// calls too with `latency`) and, if asked, the sampler, the function counter and the line
    /// probes, which count entries and samples in interrupt context as `interrupts` says;
    /// counting starts once all are attached.
    pub fn attach(
        cgroups: &[Cgroup],
        latency: bool,
        sampling: Option<Sampling>,
        functions: Option<FunctionPlan>,
        lines: &[Probe],
        interrupts: Interrupts,
        diagnostics: Diagnostics,
    ) -> anyhow::Result<Self> {
        let targets = targets(cgroups)?;
        let kernel = layout::read()?;
        let collect_stacks = u32::from(sampling.is_some_and(|s| s.stacks));
        let function_targets = functions.as_ref().map_or(0, |f| f.targets.len());
        let counting = functions.is_some() || !lines.is_empty();
        let chunks = functions::chunks(function_targets + lines.len());
        let function_chunks = if counting { chunks as u32 } else { 0 };
        let ip_table = functions
            .as_ref()
            .filter(|plan| plan.backend.finds_index_by_address())
            .map(|plan| IpTable::for_targets(&plan.targets))
            .transpose()?;
        let ip_table_mask = ip_table.as_ref().map_or(0, IpTable::mask);
        // Line probes share the function counters and their rows.
        let Interrupts { mode: irq, preempt_count } = interrupts;
        let irq_mode = irq.global();
        let mut loader = loader(&kernel.layout, diagnostics);
        loader
            .override_global("TARGETS", &targets, true)
            .override_global("COLLECT_STACKS", &collect_stacks, true)
            .override_global("FUNCTION_CHUNKS", &function_chunks, true)
            .override_global("IP_TABLE_MASK", &ip_table_mask, true)
            .override_global("IRQ_MODE", &irq_mode, true)
            .override_global("PREEMPT_COUNT_OFFSET", &preempt_count.offset, true);
        if counting {
            let rows = irq.rows(cgroups.len()).max(1) as u32;
            loader.map_max_entries("FUNCTION_COUNTS", function_chunks * rows);
        }
        if let Some(table) = &ip_table {
            loader.map_max_entries("IP_TABLE", table.len());
        }
        if sampling.is_none() {
            loader.map_max_entries("SAMPLES", 1);
        }
        if collect_stacks == 0 {
            loader.map_max_entries("STACKS", 1);
        }
        syscalls::configure_latency(&mut loader, cgroups.len(), latency);
        let object = Object::new(kernel.task_cast, &preempt_count)?;
        let mut ebpf = object.load(&mut loader)?;
        if let Some(table) = &ip_table {
            table.write(&ebpf)?;
        }
        running_task::attach(&mut ebpf)?;
        syscalls::attach(&mut ebpf)?;
        if let Some(sampling) = sampling {
            sample::attach(&mut ebpf, sampling)?;
        }
        let functions = functions
            .map(|plan| {
                let unlocated = ip_table.map(|t| t.unlocated).unwrap_or_default();
                FunctionCounter::attach(&object, &mut ebpf, plan, irq, &unlocated)
            })
            .transpose()?;
        let lines = (!lines.is_empty())
            .then(|| LineCounter::attach(&object, &ebpf, function_targets, lines, irq))
            .transpose()?;
        let diagnostics = (diagnostics == Diagnostics::Stderr)
            .then(|| diagnostics::Printer::start(&mut ebpf))
            .transpose()?;
        activate(&mut ebpf)?;
        Ok(Self {
            functions,
            lines,
            ebpf,
            slots: cgroups.len(),
            chunks,
            latency,
            sampling,
            irq,
            diagnostics,
        })
    }

    /// Which function backends work on this kernel, tried on `probe` with a throwaway load
    /// of the object (counting inactive, so nothing is counted).
    pub fn probe_backends(probe: &Target) -> anyhow::Result<Vec<(Backend, Result<(), String>)>> {
        let kernel = layout::read()?;
        // No preempt count: the programs are loaded with `--irq task`, which never reads it.
        let object = Object::new(kernel.task_cast, &PreemptCount::default())?;
        let ebpf = object.load(&mut loader(&kernel.layout, Diagnostics::Off))?;
        Ok(backend::probe_all(&object, &ebpf, probe))
    }

    pub fn functions(&self) -> Option<&FunctionCounter> {
        self.functions.as_ref()
    }

    pub fn function_overhead(&self) -> anyhow::Result<Option<Overhead>> {
        self.functions.as_ref().map(|f| f.overhead(&self.ebpf)).transpose()
    }

    /// The line probes that could not be attached, and what their entries in interrupt
    /// context counted for; `None` when not counting lines.
    pub fn line_probes(&self) -> Option<(&[SkippedProbe], IrqMode)> {
        self.lines.as_ref().map(|l| (l.skipped.as_slice(), l.irq))
    }

    pub fn line_overhead(&self) -> anyhow::Result<Option<Overhead>> {
        self.lines.as_ref().map(|l| l.overhead(&self.ebpf)).transpose()
    }

    /// Syscall entries and returns whose blocked or failed status could not be recorded
    /// (the task's entry record could not be read or created), since attaching.
    pub fn syscall_entry_failures(&self) -> anyhow::Result<u64> {
        Ok(syscalls::stats(&self.ebpf)?.entry_failures)
    }

    /// Timed syscall returns whose latency could not be recorded, since attaching.
    pub fn syscall_latency_failures(&self) -> anyhow::Result<u64> {
        Ok(syscalls::stats(&self.ebpf)?.latency_failures)
    }

    /// Prints what the eBPF side logged since the last call, with [`Diagnostics::Stderr`].
    pub fn print_diagnostics(&mut self) {
        if let Some(printer) = &mut self.diagnostics {
            printer.print();
        }
    }

    pub fn sampling(&self) -> Option<Sampling> {
        self.sampling
    }

    /// What entries and samples in interrupt context count for.
    pub fn irq(&self) -> IrqMode {
        self.irq
    }

    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let syscalls = syscalls::read(&self.ebpf, self.slots)?;
        let samples = self
            .sampling
            .map(|_| sample::read(&self.ebpf, self.irq.rows(self.slots)))
            .transpose()?;
        let functions = self
            .functions
            .as_ref()
            .map(|f| f.read(&self.ebpf, self.slots, self.chunks))
            .transpose()?;
        let lines =
            self.lines.as_ref().map(|l| l.read(&self.ebpf, self.slots, self.chunks)).transpose()?;
        let latency =
            self.latency.then(|| syscalls::read_latency(&self.ebpf, self.slots)).transpose()?;
        Ok(Snapshot { syscalls, samples, functions, lines, latency })
    }

    /// The frames of a kernel stack recorded by the sampler, innermost first.
    pub fn stack(&self, stack_id: i32) -> anyhow::Result<Vec<u64>> {
        sample::stack(&self.ebpf, stack_id)
    }
}

/// A loader of ktrace's object with what every load needs: the kernel's layout, what the eBPF
/// side logs, and task storage allowed (aya creates the map but has no type for it; only the
/// programs use it).
fn loader(kernel_layout: &KernelLayout, diagnostics: Diagnostics) -> EbpfLoader<'_> {
    let mut loader = EbpfLoader::new();
    loader.override_global("KERNEL_LAYOUT", kernel_layout, true).allow_unsupported_maps();
    diagnostics::configure(&mut loader, diagnostics);
    loader
}

/// Turns counting on: nothing counts before, so a half-attached set never produces numbers.
fn activate(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let mut control: Array<_, u32> = object::map_mut_as(ebpf, "CONTROL")?;
    control.set(CONTROL_ACTIVE, 1, 0).context("turning counting on")
}

/// ktrace's own process, as the eBPF side recognises it.
fn tracer() -> anyhow::Result<Tracer> {
    let path = "/proc/self/ns/pid";
    let ns = std::fs::metadata(path).with_context(|| format!("reading {path}"))?;
    Ok(Tracer { pid_ns_dev: ns.dev(), pid_ns_ino: ns.ino(), tgid: std::process::id(), _pad: 0 })
}

/// The load-time `TARGETS` global for these cgroups, slot i = cgroups[i].
fn targets(cgroups: &[Cgroup]) -> anyhow::Result<Targets> {
    if cgroups.len() > MAX_CGROUPS {
        bail!("at most {MAX_CGROUPS} cgroups can be traced at once, {} given", cgroups.len());
    }
    let mut targets =
        Targets { count: cgroups.len() as u32, tracer: tracer()?, ..Default::default() };
    for (slot, cgroup) in targets.cgroups.iter_mut().zip(cgroups) {
        *slot = CgroupTarget { id: cgroup.id, level: cgroup.level, _pad: 0 };
    }
    Ok(targets)
}
