//! Output files (records, folded stacks, lcov tracefiles) are written whole or not at all:
//! into a temporary file in the target's directory, synced, then renamed onto the target. An
//! existing file is replaced only with `--force`. Files get the usual mode, 0666 less the
//! umask, so that a record root wrote can be compared by another user.
use std::{
    fs::{self, File, Permissions},
    io,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

/// Fails early, before anything is attached, if `path` could not be written at the end: it
/// is a directory or another non-file, it exists and may not be replaced, or its directory
/// does not exist or refuses new files (read-only, /proc), which creating the temporary file
/// there finds out.
pub fn check_target(path: &Path, force: bool) -> anyhow::Result<()> {
    if let Ok(meta) = fs::metadata(path) {
        if meta.is_dir() {
            bail!("cannot write {}: it is a directory", path.display());
        }
        if !meta.is_file() {
            bail!("cannot write {}: it is not a regular file", path.display());
        }
        if !force {
            bail!("{} exists; pass --force to replace it", path.display());
        }
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        bail!("cannot write {}: {} is not a directory", path.display(), dir.display());
    }
    tempfile::NamedTempFile::new_in(&dir).with_context(|| {
        format!("cannot write {}: no new file in {}", path.display(), dir.display())
    })?;
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
    // The temporary file is 0600; the target gets what a plain create would have given it.
    let mode = Permissions::from_mode(0o666 & !umask());
    write(tmp.as_file_mut())
        .and_then(|()| tmp.as_file().set_permissions(mode))
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    let persisted =
        if force { tmp.persist(path).map(drop) } else { tmp.persist_noclobber(path).map(drop) };
    persisted.map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))
}

/// This process's umask, from /proc/self/status (Linux 4.7+): umask(2) can only read it by
/// changing it, which would race with other threads creating files.
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
            u32::from_str_radix(line.trim(), 8).ok()
        })
        .unwrap_or(0o022)
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

    #[test]
    fn unwritable_targets_are_found_before_the_trace() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_target(dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("it is a directory"), "{err}");
        let err = check_target(Path::new("/dev/null"), true).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = check_target(Path::new("/proc/ktrace-record.json"), false).unwrap_err();
        assert!(format!("{err:#}").contains("no new file in /proc"), "{err:#}");
        // Nothing is left behind by the check.
        check_target(&dir.path().join("r.json"), false).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn files_get_the_mode_a_plain_create_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomically(&path, false, |f| f.write_all(b"{}")).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        assert_eq!(umask() & 0o700, 0, "a umask that hides files from their owner");
    }
}
