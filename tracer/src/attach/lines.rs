//! Counting hits of source lines (`--lines`): one kprobe perf event at `symbol+offset` for
//! every address where a counted line starts (see `lines/`), each linked to the kprobe
//! function-counting program with its counter's index as attach cookie. A line probe is one
//! more counter after the functions' in the same per-CPU chunks, so no eBPF code is specific
//! to lines, and a line's hits in interrupt context are counted as a function's entries are
//! (`--irq`). Needs the kprobe PMU (CONFIG_KPROBES) and attach cookies (Linux 5.15+).
use std::{ffi::CString, io, os::fd::OwnedFd, time::Instant};

use anyhow::{Context as _, bail};
use aya::Ebpf;

use super::{
    backend::{Backend, kprobe_pmu_type, load_spec},
    functions::{overhead, read_counters},
    interrupts::IrqMode,
    object::Object,
    raw,
};
use crate::{collect::Overhead, lines::Probe};

/// A probe that could not be attached, by index into the plan's probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedProbe {
    pub probe: usize,
    pub error: String,
}

pub struct LineCounter {
    /// Counter index of the first probe: the function targets come first.
    base: usize,
    probes: usize,
    /// What entries in interrupt context count for, which decides the rows of counters.
    pub irq: IrqMode,
    pub skipped: Vec<SkippedProbe>,
    program: OwnedFd,
    links: Vec<OwnedFd>,
}

impl LineCounter {
    /// Attaches a kprobe at every probe the plan could place, counting into counters
    /// `base..base + probes.len()` of the rows `irq` lays out. Fails only if none attaches.
    pub fn attach(
        object: &Object,
        ebpf: &Ebpf,
        base: usize,
        probes: &[Probe],
        irq: IrqMode,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let pmu = kprobe_pmu_type()
            .map_err(|why| anyhow::anyhow!("--lines needs kprobes on this kernel: {why}"))?;
        let spec = load_spec(Backend::Kprobe, None);
        let code = raw::instructions(object, ebpf, spec.name)?;
        let program = raw::load(&spec, &code.insns)?;
        let mut counter = Self {
            base,
            probes: probes.len(),
            irq,
            skipped: Vec::new(),
            program,
            links: Vec::new(),
        };
        for (i, probe) in probes.iter().enumerate() {
            match counter.attach_one(pmu, i, probe) {
                Ok(link) => counter.links.push(link),
                Err(error) => counter.skipped.push(SkippedProbe { probe: i, error }),
            }
        }
        let attached = counter.links.len();
        if attached == 0 {
            let first = counter.skipped.first().map(|s| {
                let p = &probes[s.probe];
                format!(": {}+{:#x} ({})", p.symbol, p.offset, s.error)
            });
            bail!("no line probe could be attached{}", first.unwrap_or_default());
        }
        eprintln!(
            "ktrace: attached {attached} of {} line probes with kprobes in {:.2} s",
            probes.len(),
            started.elapsed().as_secs_f64()
        );
        for s in &counter.skipped {
            let p = &probes[s.probe];
            eprintln!(
                "ktrace:   skipped the probe at {}+{:#x} (lines {:?}): {}",
                p.symbol, p.offset, p.lines, s.error
            );
        }
        Ok(counter)
    }

    fn attach_one(&self, pmu: u32, i: usize, probe: &Probe) -> Result<OwnedFd, String> {
        if let Some(why) = &probe.unprobeable {
            return Err(why.clone());
        }
        let symbol = CString::new(probe.symbol.as_str()).map_err(|e| e.to_string())?;
        let event = raw::kprobe_event(pmu, &symbol, probe.offset)
            .map_err(|e| format!("perf_event_open kprobe: {}", refusal(&e)))?;
        raw::perf_event_link(&self.program, &event, (self.base + i) as u64)
            .map_err(|e| format!("BPF_LINK_CREATE perf_event: {e}"))
    }

    /// Cumulative hits: `[row][probe]`, rows as [`IrqMode::rows`] says for `slots` cgroups;
    /// `chunks` per row, as laid out.
    pub fn read(&self, ebpf: &Ebpf, slots: usize, chunks: usize) -> anyhow::Result<Vec<Vec<u64>>> {
        read_counters(ebpf, self.irq.rows(slots), chunks, self.base..self.base + self.probes)
    }

    /// The counting program's statistics, with the losses shared with function counting.
    pub fn overhead(&self, ebpf: &Ebpf) -> anyhow::Result<Overhead> {
        overhead(ebpf, std::slice::from_ref(&self.program)).context("reading line probe statistics")
    }
}

/// What the kernel's answer to a kprobe at `symbol+offset` means.
fn refusal(e: &io::Error) -> String {
    let meaning = match e.raw_os_error() {
        Some(libc::EILSEQ) => "not an instruction boundary",
        Some(libc::ENOENT) => "no such symbol in the running kernel",
        Some(libc::EADDRNOTAVAIL) => "the symbol is not unique",
        Some(libc::EINVAL) => "the kernel does not allow probes there (kprobe blacklist, notrace)",
        _ => return e.to_string(),
    };
    format!("{meaning} ({e})")
}
