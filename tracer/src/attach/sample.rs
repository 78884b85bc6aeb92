//! Sampled kernel profiles: the `kt_sample` perf_event program on a software cpu-clock event
//! per online CPU, at the user's frequency. Needs perf_event programs (Linux 4.9+), not
//! kprobes: it is the function-level view on kernels that forbid function tracing.
//!
//! cpu-clock is a timer interrupt (an hrtimer): it cannot fire while a CPU runs with
//! interrupts disabled, so that time is sampled where interrupts come back on
//! (`_raw_spin_unlock_irqrestore`, `finish_task_switch`). Only a hardware cycle counter, whose
//! overflow is a non-maskable interrupt, samples inside; [`hardware_cycles`] says whether this
//! machine has one (VMs often have none), and reports say which case they are.
use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::{HashMap, PerCpuArray, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use aya_obj::generated::{PERF_FLAG_FD_CLOEXEC, perf_event_attr, perf_hw_id, perf_type_id};
use tracer_common::{SampleKey, SampleTotals};

use super::object;
use crate::collect::SampleCounts;

const MAX_SAMPLE_RATE: &str = "/proc/sys/kernel/perf_event_max_sample_rate";

/// `--sample` without a frequency, and the frequency of functions sampled because they cannot
/// be counted: an odd rate, so that sampling does not run in lockstep with periodic work.
pub const DEFAULT_FREQUENCY_HZ: u64 = 999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub frequency_hz: u64,
    /// Record kernel stacks too (`--stacks`).
    pub stacks: bool,
}

/// Checks a sampling frequency against the kernel's limit before anything is attached.
pub fn validate_frequency(hz: u64) -> anyhow::Result<()> {
    if hz == 0 {
        bail!("--sample frequency must be at least 1 Hz");
    }
    let max: u64 = std::fs::read_to_string(MAX_SAMPLE_RATE)
        .with_context(|| format!("reading {MAX_SAMPLE_RATE}"))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {MAX_SAMPLE_RATE}"))?;
    if hz > max {
        bail!("--sample {hz} Hz is above the kernel's limit of {max} Hz ({MAX_SAMPLE_RATE})");
    }
    Ok(())
}

pub fn attach(ebpf: &mut Ebpf, sampling: Sampling) -> anyhow::Result<()> {
    let program: &mut PerfEvent = object::program_mut(ebpf, "kt_sample")?;
    program.load().map_err(|e| super::verifier::load_error("kt_sample", e))?;
    let cpus = online_cpus().map_err(|(path, e)| anyhow::anyhow!("reading {path}: {e}"))?;
    for cpu in cpus {
        program
            .attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Frequency(sampling.frequency_hz),
                false,
            )
            .with_context(|| format!("attaching kt_sample to the cpu-clock event of CPU {cpu}"))?;
    }
    Ok(())
}

/// Whether a hardware cycle counter can be opened for sampling on CPU 0: `false` where the
/// machine exposes no PMU (most VMs; `perf_event_open` fails with ENOENT). Tried, not guessed.
pub fn hardware_cycles() -> bool {
    // SAFETY: perf_event_attr is plain old data, and all zeros is its "nothing set".
    let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = perf_type_id::PERF_TYPE_HARDWARE as u32;
    attr.size = size_of::<perf_event_attr>() as u32;
    attr.config = perf_hw_id::PERF_COUNT_HW_CPU_CYCLES as u64;
    attr.__bindgen_anon_1.sample_freq = DEFAULT_FREQUENCY_HZ;
    attr.set_freq(1);
    attr.set_disabled(1);
    // SAFETY: `attr` is a valid perf_event_attr of the size it states, alive for the call;
    // pid -1 with cpu 0 is a system-wide event on one CPU, group -1 is none.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, &raw const attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` is the descriptor perf_event_open just returned, closed once here.
    unsafe { libc::close(fd as i32) };
    true
}

/// Cumulative samples of rows 0..rows (as `IrqMode::rows` says).
pub fn read(ebpf: &Ebpf, rows: usize) -> anyhow::Result<Vec<SampleCounts>> {
    let totals: PerCpuArray<_, SampleTotals> = object::map_as(ebpf, "SAMPLE_TOTALS")?;
    let mut counts: Vec<SampleCounts> = (0..rows as u32)
        .map(|row| {
            let per_cpu =
                totals.get(&row, 0).with_context(|| format!("reading SAMPLE_TOTALS[{row}]"))?;
            Ok(SampleCounts::sum_per_cpu(&per_cpu))
        })
        .collect::<anyhow::Result<_>>()?;
    let samples: HashMap<_, SampleKey, u64> = object::map_as(ebpf, "SAMPLES")?;
    for entry in samples.iter() {
        let (key, n) = entry.context("reading SAMPLES")?;
        if let Some(row) = counts.get_mut(key.slot as usize) {
            row.by_location.insert((key.ip, key.stack_id), n);
        }
    }
    Ok(counts)
}

/// The frames of stack `stack_id`, innermost first.
pub fn stack(ebpf: &Ebpf, stack_id: i32) -> anyhow::Result<Vec<u64>> {
    let stacks: StackTraceMap<_> = object::map_as(ebpf, "STACKS")?;
    let id = u32::try_from(stack_id).with_context(|| format!("invalid stack id {stack_id}"))?;
    let trace = stacks.get(&id, 0).with_context(|| format!("reading STACKS[{id}]"))?;
    Ok(trace.frames().iter().map(|f| f.ip).collect())
}
