//! Output files (records, folded stacks, lcov tracefiles) are written whole or not at all:
//! into a temporary file in the target's directory, synced, then renamed onto the target. An
//! existing file is replaced only with `--force`.
use std::{
    fs::File,
    io,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

/// Fails early, before anything is attached, if `path` could not be written at the end: it
/// exists and may not be replaced, or its directory does not exist.
pub fn check_target(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        bail!("cannot write {}: {} is not a directory", path.display(), dir.display());
    }
    Ok(())
}

/// Writes `path` with `write`, atomically; replaces an existing file only if `force`.
pub fn write_atomically(
    path: &Path,
    force: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> anyhow::Result<()> {
    let dir = directory_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    write(tmp.as_file_mut())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    let persisted =
        if force { tmp.persist(path).map(drop) } else { tmp.persist_noclobber(path).map(drop) };
    persisted.map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))
}

fn directory_of(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
}

#[cfg(test)]
mod tests {
    use std::{fs, io::Write as _};

    use super::*;

    #[test]
    fn writes_whole_files_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomically(&path, false, |f| f.write_all(b"one\n")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\n");
        assert!(check_target(&path, false).unwrap_err().to_string().contains("--force"));
        assert!(write_atomically(&path, false, |f| f.write_all(b"two\n")).is_err());
        check_target(&path, true).unwrap();
        write_atomically(&path, true, |f| f.write_all(b"two\n")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        // A failed write leaves neither a partial target nor a temporary file.
        let failed = dir.path().join("failed.txt");
        assert!(write_atomically(&failed, false, |_| Err(io::Error::other("disk full"))).is_err());
        assert!(!failed.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/x");
        assert!(
            check_target(&missing, false).unwrap_err().to_string().contains("is not a directory")
        );
    }
}
