//! Loading ktrace's eBPF object and attaching its programs, one file per mechanism.
pub mod syscalls;

use anyhow::bail;
use tracer_common::{CgroupTarget, MAX_CGROUPS, Targets};

use crate::cgroup::Cgroup;

/// The eBPF object that tracer/build.rs built from tracer-ebpf.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// The load-time `TARGETS` global for these cgroups, slot i = cgroups[i].
fn targets(cgroups: &[Cgroup]) -> anyhow::Result<Targets> {
    if cgroups.len() > MAX_CGROUPS {
        bail!(
            "at most {MAX_CGROUPS} cgroups can be traced at once, {} given",
            cgroups.len()
        );
    }
    let mut targets = Targets {
        count: cgroups.len() as u32,
        ..Default::default()
    };
    for (slot, cgroup) in targets.cgroups.iter_mut().zip(cgroups) {
        *slot = CgroupTarget {
            id: cgroup.id,
            level: cgroup.level,
            _pad: 0,
        };
    }
    Ok(targets)
}
