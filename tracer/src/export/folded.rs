//! `--stacks FILE`: sampled kernel stacks in the folded format that flame graph tools read
//! (inferno, flamegraph.pl): one line per distinct stack, `root;...;leaf COUNT`, with the
//! cgroup as the root frame. Written to a temporary file and renamed, so a reader never sees
//! a truncated file.
use std::{collections::BTreeMap, io::Write as _, path::Path};

use anyhow::{Context as _, bail};

/// Fails early, before anything is attached, if `path` exists and may not be replaced.
pub fn check_target(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    Ok(())
}

/// A frame name that cannot break the format: `;` separates frames, and the last space
/// separates the count.
pub fn frame_name(name: &str) -> String {
    name.chars().map(|c| if c == ';' || c.is_whitespace() { '_' } else { c }).collect()
}

pub fn write(path: &Path, stacks: &BTreeMap<String, u64>, force: bool) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    for (stack, n) in stacks {
        writeln!(tmp, "{stack} {n}")
            .with_context(|| format!("writing {}", tmp.path().display()))?;
    }
    tmp.as_file().sync_all().context("syncing the stacks file")?;
    let persisted =
        if force { tmp.persist(path).map(drop) } else { tmp.persist_noclobber(path).map(drop) };
    persisted.map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))
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
        assert!(check_target(&path, false).is_err());
        assert!(write(&path, &stacks, false).is_err());
        check_target(&path, true).unwrap();
        write(&path, &BTreeMap::from([("a".to_owned(), 1)]), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 1\n");
        // Nothing but the result is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn frame_names_cannot_break_lines() {
        assert_eq!(frame_name("my cgroup;x"), "my_cgroup_x");
    }
}
