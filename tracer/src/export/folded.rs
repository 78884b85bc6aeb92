//! `--stacks FILE`: sampled kernel stacks in the folded format that flame graph tools read
//! (inferno, flamegraph.pl): one line per distinct stack, `root;...;leaf COUNT`, with the
//! cgroup as the root frame. Written atomically (see [`super::file`]).
//!
//! With `--irq separate` the stacks sampled in interrupt context have roots of their own, so
//! that a flame graph shows them beside the tasks' work, not inside it: `lxc_[irq]` for those
//! that came while a task of cgroup lxc ran, and `(interrupts)` for every one on the machine,
//! whoever ran (so it holds the `[irq]` stacks again, as the tables' (interrupts) column does).
use std::{
    collections::BTreeMap,
    io::{BufWriter, Write as _},
    path::Path,
};

use super::file;
use crate::{
    attach::IrqMode,
    report::{ALL_INTERRUPTS, CgroupInfo},
};

/// The root frame of each row of samples (as `IrqMode::rows` lays them out): the cgroups'
/// labels, then with `--irq separate` `LABEL [irq]` per cgroup and `(interrupts)`.
pub fn row_labels(cgroups: &[CgroupInfo], irq: IrqMode) -> Vec<String> {
    let tasks = cgroups.iter().map(|c| c.label.clone());
    if irq != IrqMode::Separate {
        return tasks.collect();
    }
    let interrupts = cgroups.iter().map(|c| format!("{} [irq]", c.label));
    tasks.chain(interrupts).chain([ALL_INTERRUPTS.to_owned()]).collect()
}

/// A frame name that cannot break the format: `;` separates frames, and the last space
/// separates the count.
pub fn frame_name(name: &str) -> String {
    name.chars().map(|c| if c == ';' || c.is_whitespace() { '_' } else { c }).collect()
}

pub fn write(path: &Path, stacks: &BTreeMap<String, u64>, force: bool) -> anyhow::Result<()> {
    file::write_atomically(path, force, |out| {
        let mut out = BufWriter::new(out);
        for (stack, n) in stacks {
            writeln!(out, "{stack} {n}")?;
        }
        out.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stacks.folded");
        let stacks = BTreeMap::from([
            ("lxc;do_syscall_64;ksys_write".to_owned(), 3),
            ("lxc;vfs_read".to_owned(), 1),
        ]);
        write(&path, &stacks, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "lxc;do_syscall_64;ksys_write 3\nlxc;vfs_read 1\n"
        );
        assert!(write(&path, &stacks, false).is_err());
        write(&path, &BTreeMap::from([("a".to_owned(), 1)]), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 1\n");
        // Nothing but the result is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn frame_names_cannot_break_lines() {
        assert_eq!(frame_name("my cgroup;x"), "my_cgroup_x");
    }

    #[test]
    fn interrupt_rows_get_roots_of_their_own() {
        let cgroups = crate::report::tests::info(&["lxc", "gvisor"]).cgroups;
        let roots = |irq| -> Vec<String> {
            row_labels(&cgroups, irq).iter().map(|l| frame_name(l)).collect()
        };
        assert_eq!(roots(IrqMode::Task), ["lxc", "gvisor"]);
        assert_eq!(roots(IrqMode::Exclude), ["lxc", "gvisor"]);
        assert_eq!(
            roots(IrqMode::Separate),
            ["lxc", "gvisor", "lxc_[irq]", "gvisor_[irq]", "(interrupts)"]
        );
    }
}
