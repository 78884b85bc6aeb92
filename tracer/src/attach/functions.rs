//! Counting kernel function entries with the chosen backend, in stages as retsnoop does it:
//! load -> attach every target (skipping, with the reason, those that fail) -> activate
//! (only once everything is attached) -> read.
use std::{
    collections::HashSet,
    ffi::CString,
    io::{self, Write as _},
    ops::Range,
    os::fd::OwnedFd,
    time::Instant,
};

use anyhow::{Context as _, bail};
use aya::{Ebpf, maps::PerCpuArray};
use tracer_common::{FUNCTION_CHUNK, FunctionChunk, FunctionStats};

use super::{
    FunctionPlan,
    backend::{Backend, kprobe_pmu_type, load_spec},
    interrupts::IrqMode,
    object::{self, Object},
    raw::{self, ProgramStats},
    verifier::Rejection,
};
use crate::{
    collect::{self, Overhead},
    functions::Target,
};

/// A target that could not be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub target: Target,
    pub error: String,
}

pub struct FunctionCounter {
    pub backend: Backend,
    pub targets: Vec<Target>,
    /// What entries in interrupt context count for, which decides the rows of counters.
    pub irq: IrqMode,
    pub skipped: Vec<Skipped>,
    programs: Vec<OwnedFd>,
    links: Vec<OwnedFd>,
}

/// Number of counter chunks per cgroup slot for `counters` counters (functions, then lines).
pub fn chunks(counters: usize) -> usize {
    counters.div_ceil(FUNCTION_CHUNK).max(1)
}

impl FunctionCounter {
    /// Attaches the plan's targets with its backend, except those at the `unlocated` indexes
    /// (no address to find them by), which are skipped; `irq` is what the object was loaded to
    /// count entries in interrupt context for. Fails only if nothing attaches.
    pub fn attach(
        object: &Object,
        ebpf: &mut Ebpf,
        plan: FunctionPlan,
        irq: IrqMode,
        unlocated: &[usize],
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let FunctionPlan { backend, targets } = plan;
        let skipped = unlocated
            .iter()
            .map(|&i| Skipped {
                target: targets[i].clone(),
                error: "no address in /proc/kallsyms".to_owned(),
            })
            .collect();
        let mut counter =
            Self { backend, targets, irq, skipped, programs: Vec::new(), links: Vec::new() };
        let unlocated: HashSet<usize> = unlocated.iter().copied().collect();
        let code = raw::instructions(object, ebpf, load_spec(backend, None).name)?;
        let insns = &code.insns;
        match backend {
            Backend::KprobeMulti => counter.attach_kprobe_multi(insns, &unlocated)?,
            Backend::Fentry => counter.attach_fentry(insns, &unlocated),
            Backend::Kprobe => counter.attach_kprobes(insns, &unlocated)?,
        }
        let attached = counter.attached();
        if attached == 0 {
            let first = counter
                .skipped
                .first()
                .map(|s| format!(": {} ({})", s.target.name, s.error))
                .unwrap_or_default();
            bail!("no function could be attached with {backend}{first}");
        }
        eprintln!(
            "ktrace: attached {attached} of {} functions with {backend} in {:.2} s{}",
            counter.targets.len(),
            started.elapsed().as_secs_f64(),
            if counter.skipped.is_empty() {
                String::new()
            } else {
                format!(", skipped {}", counter.skipped.len())
            }
        );
        for s in counter.skipped.iter().take(10) {
            eprintln!(
                "ktrace:   skipped {} [{}] ({backend}): {}",
                s.target.name, s.target.module, s.error
            );
        }
        if counter.skipped.len() > 10 {
            eprintln!("ktrace:   ... and {} more skipped", counter.skipped.len() - 10);
        }
        Ok(counter)
    }

    pub fn attached(&self) -> usize {
        self.targets.len() - self.skipped.len()
    }

    /// One link for everything; if the kernel refuses the whole set, halves it until the
    /// functions it refuses are isolated and skipped.
    fn attach_kprobe_multi(
        &mut self,
        insns: &[aya_obj::generated::bpf_insn],
        unlocated: &HashSet<usize>,
    ) -> anyhow::Result<()> {
        let prog = raw::load(&load_spec(Backend::KprobeMulti, None), insns)
            .map_err(Rejection::reported)?;
        let entries: Vec<(CString, usize)> = (0..self.targets.len())
            .filter(|i| !unlocated.contains(i))
            .map(|i| Ok((CString::new(self.targets[i].name.as_str())?, i)))
            .collect::<anyhow::Result<_>>()?;
        let mut pending = vec![entries.as_slice()];
        while let Some(set) = pending.pop() {
            match raw::kprobe_multi_link(&prog, set.iter().map(|(name, _)| name.as_c_str())) {
                Ok(link) => self.links.push(link),
                Err(e) if set.len() == 1 => {
                    let target = self.targets[set[0].1].clone();
                    self.skipped.push(Skipped {
                        target,
                        error: format!("BPF_LINK_CREATE kprobe_multi: {e}"),
                    });
                }
                Err(_) => {
                    let (a, b) = set.split_at(set.len() / 2);
                    pending.extend([a, b]);
                }
            }
        }
        self.programs.push(prog);
        Ok(())
    }

    /// One program load and link per function; the program finds its index by the
    /// function's address in IP_TABLE.
    fn attach_fentry(
        &mut self,
        insns: &[aya_obj::generated::bpf_insn],
        unlocated: &HashSet<usize>,
    ) {
        self.attach_each(unlocated, |_, target| {
            let id = target
                .btf_id
                .context("no vmlinux BTF id (module functions need kprobe-multi or kprobe)")?;
            let prog = raw::load(&load_spec(Backend::Fentry, Some(id)), insns)?;
            let link = raw::tracing_link(&prog).context("BPF_LINK_CREATE fentry")?;
            Ok((Some(prog), link))
        });
    }

    /// One kprobe perf event per function, all linked to one program with cookie = index.
    /// The link holds its perf event, so only the link is kept.
    fn attach_kprobes(
        &mut self,
        insns: &[aya_obj::generated::bpf_insn],
        unlocated: &HashSet<usize>,
    ) -> anyhow::Result<()> {
        let pmu = kprobe_pmu_type().map_err(anyhow::Error::msg)?;
        let prog =
            raw::load(&load_spec(Backend::Kprobe, None), insns).map_err(Rejection::reported)?;
        self.attach_each(unlocated, |i, target| {
            let name = CString::new(target.name.as_str())?;
            let event = raw::kprobe_event(pmu, &name, 0).context("perf_event_open kprobe")?;
            let link = raw::perf_event_link(&prog, &event, i as u64)
                .context("BPF_LINK_CREATE perf_event")?;
            Ok((None, link))
        });
        self.programs.push(prog);
        Ok(())
    }

    /// Attaches the targets one at a time, but for the `unlocated` ones (already skipped):
    /// `attach_one(index, target)` returns the program it loaded, if any, and the link. A
    /// target that fails is skipped with the reason.
    fn attach_each(
        &mut self,
        unlocated: &HashSet<usize>,
        mut attach_one: impl FnMut(usize, &Target) -> anyhow::Result<(Option<OwnedFd>, OwnedFd)>,
    ) {
        let mut progress = Progress::new(self.targets.len());
        for i in 0..self.targets.len() {
            progress.tick(i, self.skipped.len());
            if unlocated.contains(&i) {
                continue;
            }
            match attach_one(i, &self.targets[i]) {
                Ok((program, link)) => {
                    self.programs.extend(program);
                    self.links.push(link);
                }
                Err(e) => self
                    .skipped
                    .push(Skipped { target: self.targets[i].clone(), error: format!("{e:#}") }),
            }
        }
        progress.done();
    }

    /// Cumulative entry counts: `[row][function index]`, rows as [`IrqMode::rows`] says;
    /// `chunks` per row, as laid out.
    pub fn read(&self, ebpf: &Ebpf, slots: usize, chunks: usize) -> anyhow::Result<Vec<Vec<u64>>> {
        read_counters(ebpf, self.irq.rows(slots), chunks, 0..self.targets.len())
    }

    pub fn overhead(&self, ebpf: &Ebpf) -> anyhow::Result<Overhead> {
        overhead(ebpf, &self.programs)
    }
}

/// Cumulative counts of the counters in `counters`, `[slot][counter - counters.start]`, of a
/// layout of `chunks` chunks per slot.
pub fn read_counters(
    ebpf: &Ebpf,
    slots: usize,
    chunks: usize,
    counters: Range<usize>,
) -> anyhow::Result<Vec<Vec<u64>>> {
    let counts: PerCpuArray<_, FunctionChunk> = object::map_as(ebpf, "FUNCTION_COUNTS")?;
    let (first, last) = (counters.start / FUNCTION_CHUNK, counters.end.div_ceil(FUNCTION_CHUNK));
    (0..slots)
        .map(|slot| {
            let per_cpu = (first..last)
                .map(|chunk| counts.get(&((slot * chunks + chunk) as u32), 0))
                .collect::<Result<Vec<_>, _>>()
                .context("reading FUNCTION_COUNTS")?;
            let per_cpu: Vec<&[FunctionChunk]> = per_cpu.iter().map(|c| &c[..]).collect();
            let sums = collect::sum_function_chunks(&per_cpu, (last - first) * FUNCTION_CHUNK);
            let skip = counters.start - first * FUNCTION_CHUNK;
            Ok(sums[skip..skip + counters.len()].to_vec())
        })
        .collect()
}

/// The hits that could not be counted (shared by every program that adds to the function
/// counters) and the run-time statistics of `programs`.
pub fn overhead(ebpf: &Ebpf, programs: &[OwnedFd]) -> anyhow::Result<Overhead> {
    let stats: PerCpuArray<_, FunctionStats> = object::map_as(ebpf, "FUNCTION_STATS")?;
    let mut overhead = Overhead::sum_per_cpu(&stats.get(&0, 0)?);
    for prog in programs {
        let ProgramStats { recursion_misses, run_time_ns, run_count, .. } =
            raw::program_stats(prog)?;
        overhead.recursion_misses += recursion_misses;
        overhead.run_time_ns += run_time_ns;
        overhead.run_count += run_count;
    }
    Ok(overhead)
}

/// "attached N of M" on stderr, at most ten times a run, for one-by-one backends.
struct Progress {
    total: usize,
    step: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self { total, step: (total / 10).max(100) }
    }

    fn tick(&mut self, done: usize, skipped: usize) {
        if done > 0 && done.is_multiple_of(self.step) {
            eprint!("\rktrace: attached {} of {} (skipped {skipped})", done - skipped, self.total);
            let _ = io::stderr().flush();
        }
    }

    fn done(&self) {
        if self.total >= self.step {
            eprintln!();
        }
    }
}
