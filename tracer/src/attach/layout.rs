//! Where the eBPF side finds a task's cgroup and its syscall ABI: offsets of fields of
//! `task_struct`, `css_set`, `cgroup` and `kernfs_node`, read from kernel BTF
//! (`/sys/kernel/btf/vmlinux`, `CONFIG_DEBUG_INFO_BTF`) and written into the eBPF global
//! `KERNEL_LAYOUT` (see tracer-ebpf's targets.rs, which reads a task's cgroups in one
//! snapshot through them), and how it casts an address to a task (see object.rs's
//! [`TaskCast`]).
//!
//! Field names differ between kernels: a cgroup's ancestors are `struct cgroup *ancestors[]`
//! since Linux 6.2 and `u64 ancestor_ids[]` (their ids) before. Each field's type is checked,
//! so that a kernel that changed one is refused here rather than misread.
use anyhow::{Context as _, bail, ensure};
use tracer_common::KernelLayout;

use super::object::TaskCast;
use crate::btf::{Btf, Inner, Member, Shape};

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// What every load of the object needs to know of the running kernel.
pub struct Kernel {
    pub layout: KernelLayout,
    pub task_cast: TaskCast,
}

/// The running kernel's layout and task cast.
pub fn read() -> anyhow::Result<Kernel> {
    let btf = vmlinux_btf()?;
    let layout = from_btf(&btf)
        .with_context(|| format!("finding task and cgroup fields in {VMLINUX_BTF}"))?;
    Ok(Kernel { layout, task_cast: task_cast(&btf) })
}

/// The `bpf_rdonly_cast` kfunc where the kernel has it (Linux 6.2+), else the helper.
fn task_cast(btf: &Btf) -> TaskCast {
    btf.functions.get("bpf_rdonly_cast").map_or(TaskCast::Helper, |&id| TaskCast::Kfunc(id))
}

/// The running kernel's BTF.
pub fn vmlinux_btf() -> anyhow::Result<Btf> {
    let data = std::fs::read(VMLINUX_BTF).with_context(|| {
        format!("reading {VMLINUX_BTF} (ktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF)")
    })?;
    Btf::parse(&data, None).with_context(|| format!("parsing {VMLINUX_BTF}"))
}

fn from_btf(btf: &Btf) -> anyhow::Result<KernelLayout> {
    let field = |structure: &str, member: &str, expected: Shape| -> anyhow::Result<u32> {
        let found = btf.member(structure, member)?;
        ensure!(
            found.shape == expected,
            "{structure}.{member} is {:?}, expected {expected:?}",
            found.shape
        );
        Ok(found.offset)
    };
    let (cgroup_ancestors, ancestors_are_ids) = match btf.member("cgroup", "ancestors") {
        Ok(Member { offset, shape: Shape::Array(0, Inner::Pointer) }) => (offset, 0),
        Ok(other) => bail!("cgroup.ancestors is {:?}, expected an array of pointers", other.shape),
        Err(_) => (field("cgroup", "ancestor_ids", Shape::Array(0, Inner::Int(8)))?, 1),
    };
    let thread_info = btf.member("task_struct", "thread_info")?;
    ensure!(thread_info.shape == Shape::Other, "task_struct.thread_info is not a structure");
    Ok(KernelLayout {
        task_cgroups: field("task_struct", "cgroups", Shape::Pointer)?,
        task_status: thread_info.offset + field("thread_info", "status", Shape::Int(4))?,
        css_set_dfl_cgrp: field("css_set", "dfl_cgrp", Shape::Pointer)?,
        cgroup_level: field("cgroup", "level", Shape::Int(4))?,
        cgroup_ancestors,
        ancestors_are_ids,
        cgroup_kn: field("cgroup", "kn", Shape::Pointer)?,
        kernfs_node_id: field("kernfs_node", "id", Shape::Int(8))?,
        task_struct_btf_id: btf.structure("task_struct")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_running_kernels_layout_when_it_has_btf() {
        let Ok(data) = std::fs::read(VMLINUX_BTF) else {
            eprintln!("skipped: no {VMLINUX_BTF} on this kernel");
            return;
        };
        let layout = from_btf(&Btf::parse(&data, None).unwrap()).unwrap();
        // thread_info is task_struct's first member on x86_64, flags and syscall_work first.
        assert_eq!(layout.task_status, 16);
        assert!(layout.task_cgroups > 0 && layout.cgroup_ancestors > layout.cgroup_level);
    }
}
