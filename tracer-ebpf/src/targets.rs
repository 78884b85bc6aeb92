//! Which traced cgroups the current task belongs to.
//!
//! The loader writes the targets into the `TARGETS` global before loading. A task belongs to a
//! target when its ancestor at the target's level is the target (so descendants count):
//! `bpf_get_current_ancestor_cgroup_id` in tracing programs needs Linux 5.10+ (5.7 for
//! perf_event programs).
use core::ptr::{addr_of, read_volatile};

use aya_ebpf::helpers::bpf_get_current_ancestor_cgroup_id;
use tracer_common::{CgroupTarget, MAX_CGROUPS, Targets};

#[unsafe(no_mangle)]
static TARGETS: Targets = Targets {
    count: 0,
    _pad: 0,
    cgroups: [CgroupTarget { id: 0, level: 0, _pad: 0 }; MAX_CGROUPS],
};

/// Calls `f` with the slot of every traced cgroup that the current task is in or below.
#[inline(always)]
pub fn for_each_matching_slot(mut f: impl FnMut(u32)) {
    // SAFETY: TARGETS is a read-only global; volatile keeps the compiler from folding the
    // loader-written value to its compile-time default.
    let count = unsafe { read_volatile(addr_of!(TARGETS.count)) } as usize;
    for slot in 0..MAX_CGROUPS {
        if slot >= count {
            break;
        }
        // SAFETY: as above; `slot` is below MAX_CGROUPS.
        let target = unsafe { read_volatile(addr_of!(TARGETS.cgroups[slot])) };
        // SAFETY: the helper only reads the current task's cgroup; a level deeper than the
        // task's own yields 0, which is never a cgroup id.
        let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(target.level as i32) };
        if ancestor == target.id {
            f(slot as u32);
        }
    }
}
