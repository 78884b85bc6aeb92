//! Loading ktrace's eBPF object and attaching its programs, one file per mechanism.
//!
//! One object holds every program and map; the loader sizes the maps of mechanisms that are
//! not used to one entry, so that an unused profile costs no kernel memory. Dropping
//! [`Probes`] closes every link and program: nothing stays attached.
mod sample;
mod syscalls;

use anyhow::{Context as _, bail};
use aya::{Ebpf, EbpfLoader};
use tracer_common::{CgroupTarget, MAX_CGROUPS, Targets};

pub use self::sample::{Sampling, validate_frequency};
use crate::{
    cgroup::Cgroup,
    collect::{SampleCounts, SyscallCounts},
};

/// The eBPF object that tracer/build.rs built from tracer-ebpf.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// Cumulative counters of every traced cgroup, in `--cgroup` order.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub syscalls: Vec<SyscallCounts>,
    /// Present when sampling.
    pub samples: Option<Vec<SampleCounts>>,
}

/// Everything ktrace attached for one trace.
pub struct Probes {
    ebpf: Ebpf,
    slots: usize,
    sampling: Option<Sampling>,
}

impl Probes {
    /// Loads the object with `cgroups` as targets and attaches the syscall counter and, if
    /// asked, the sampler.
    pub fn attach(cgroups: &[Cgroup], sampling: Option<Sampling>) -> anyhow::Result<Self> {
        let targets = targets(cgroups)?;
        let collect_stacks = u32::from(sampling.is_some_and(|s| s.stacks));
        let mut loader = EbpfLoader::new();
        loader.override_global("TARGETS", &targets, true).override_global(
            "COLLECT_STACKS",
            &collect_stacks,
            true,
        );
        if sampling.is_none() {
            loader.map_max_entries("SAMPLES", 1);
        }
        if collect_stacks == 0 {
            loader.map_max_entries("STACKS", 1);
        }
        let mut ebpf = loader.load(OBJECT).context("loading ktrace's eBPF object")?;
        syscalls::attach(&mut ebpf)?;
        if let Some(sampling) = sampling {
            sample::attach(&mut ebpf, sampling)?;
        }
        Ok(Self { ebpf, slots: cgroups.len(), sampling })
    }

    pub fn sampling(&self) -> Option<Sampling> {
        self.sampling
    }

    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let syscalls = syscalls::read(&self.ebpf, self.slots)?;
        let samples = self.sampling.map(|_| sample::read(&self.ebpf, self.slots)).transpose()?;
        Ok(Snapshot { syscalls, samples })
    }

    /// The frames of a kernel stack recorded by the sampler, innermost first.
    pub fn stack(&self, stack_id: i32) -> anyhow::Result<Vec<u64>> {
        sample::stack(&self.ebpf, stack_id)
    }
}

/// The load-time `TARGETS` global for these cgroups, slot i = cgroups[i].
fn targets(cgroups: &[Cgroup]) -> anyhow::Result<Targets> {
    if cgroups.len() > MAX_CGROUPS {
        bail!("at most {MAX_CGROUPS} cgroups can be traced at once, {} given", cgroups.len());
    }
    let mut targets = Targets { count: cgroups.len() as u32, ..Default::default() };
    for (slot, cgroup) in targets.cgroups.iter_mut().zip(cgroups) {
        *slot = CgroupTarget { id: cgroup.id, level: cgroup.level, _pad: 0 };
    }
    Ok(targets)
}
