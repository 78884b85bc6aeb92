//! The root file system of the study's containers and microVM, built from host packages:
//! busybox-static as `/bin/sh` and its applets, sysbench and iperf3 with the libraries and
//! loader they load (at the paths they ask for, so they run unchanged), `/etc/passwd` with
//! root, and an empty `/bench` where file I/O runs. About 20 MB.
//!
//! It is built once per set of inputs into `/var/cache/ktrace/study/rootfs-<key>/`, the key
//! covering each input file's identity, size and modification time, so an upgraded package
//! gives a new one. Every run gets its own writable copy: two containers sharing one would
//! break each other's `sysbench fileio prepare/cleanup`.
use std::{
    collections::BTreeSet,
    fs,
    hash::{DefaultHasher, Hash as _, Hasher as _},
    os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;
use tracer_images::{output_of, program};

/// Where the study keeps what it builds.
pub const CACHE: &str = "/var/cache/ktrace/study";
/// Programs the benchmarks run.
const PROGRAMS: &[&str] = &["sysbench", "iperf3"];
/// busybox-static: the shell and the tools of the platforms' scripts and of the VM's /init.
const BUSYBOX: &str = "/bin/busybox";
/// Changes whenever the layout below changes, so that older caches are not used.
const LAYOUT: u32 = 1;
/// Where file I/O runs, inside the root.
pub const BENCH_DIR: &str = "/bench";

/// The cached root file system, built first if its inputs changed.
pub fn prepare() -> anyhow::Result<PathBuf> {
    let mut files = BTreeSet::new();
    for name in PROGRAMS {
        files.extend(program::with_libraries(&program::find(name)?)?);
    }
    files.extend(program::with_libraries(Path::new(BUSYBOX))?);
    let dir = Path::new(CACHE).join(format!("rootfs-{:016x}", key(&files)?));
    if dir.is_dir() {
        return Ok(dir);
    }
    eprintln!("ktrace: study: building the container root file system {}", dir.display());
    fs::create_dir_all(CACHE).with_context(|| format!("creating {CACHE}"))?;
    // Built beside its final place and renamed, so a reader never sees half of it.
    let staging = tempfile::Builder::new()
        .prefix(".rootfs-")
        .tempdir_in(CACHE)
        .with_context(|| format!("creating a directory in {CACHE}"))?;
    build(staging.path(), &files)?;
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting the permissions of {}", staging.path().display()))?;
    match fs::rename(staging.path(), &dir) {
        Ok(()) => {}
        // Another study built the same one meanwhile.
        Err(_) if dir.is_dir() => {}
        Err(e) => return Err(e).with_context(|| format!("renaming to {}", dir.display())),
    }
    Ok(dir)
}

/// A key over the layout and each file's identity, size and modification time.
fn key(files: &BTreeSet<PathBuf>) -> anyhow::Result<u64> {
    let mut h = DefaultHasher::new();
    LAYOUT.hash(&mut h);
    for file in files {
        let m = fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
        (file, m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()).hash(&mut h);
    }
    Ok(h.finish())
}

fn build(root: &Path, files: &BTreeSet<PathBuf>) -> anyhow::Result<()> {
    for dir in ["proc", "sys", "dev", "tmp", "root", "etc", "bench"] {
        fs::create_dir_all(root.join(dir))
            .with_context(|| format!("creating {}", root.join(dir).display()))?;
    }
    for file in files {
        let inside = root.join(file.strip_prefix("/").unwrap_or(file));
        if let Some(parent) = inside.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        // fs::copy follows links (libraries are mostly links to versioned files) and keeps
        // the permission bits.
        fs::copy(file, &inside)
            .with_context(|| format!("copying {} to {}", file.display(), inside.display()))?;
    }
    // `--list-full` gives each applet's usual path, e.g. `bin/sh`, `usr/sbin/chroot`.
    for applet in output_of(Command::new(BUSYBOX).arg("--list-full"))?.lines() {
        let link = root.join(applet);
        if link.exists() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        symlink(BUSYBOX, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .and_then(|()| fs::write(root.join("etc/group"), "root:x:0:\n"))
        .context("writing /etc/passwd and /etc/group")?;
    Ok(())
}

/// Copies the tree at `from` to `to` (which must not exist), keeping links and permissions.
pub fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.is_symlink() {
        let target =
            fs::read_link(from).with_context(|| format!("reading the link {}", from.display()))?;
        return symlink(&target, to).with_context(|| format!("linking {}", to.display()));
    }
    if !meta.is_dir() {
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
        return Ok(());
    }
    fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    fs::set_permissions(to, meta.permissions())
        .with_context(|| format!("setting the permissions of {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry.with_context(|| format!("listing {}", from.display()))?;
        copy(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a root file system from this host's packages into a temporary directory and
    /// runs its sysbench with its own loader, as a container would.
    #[test]
    fn the_root_runs_its_own_sysbench() {
        let mut files = BTreeSet::new();
        let sysbench = program::find("sysbench").unwrap();
        files.extend(program::with_libraries(&sysbench).unwrap());
        files.extend(program::with_libraries(Path::new(BUSYBOX)).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        build(&root, &files).unwrap();
        assert!(root.join("bin/sh").is_symlink() && root.join("bench").is_dir());
        let copied = dir.path().join("copy");
        copy(&root, &copied).unwrap();
        assert_eq!(fs::read_link(copied.join("bin/sh")).unwrap(), Path::new(BUSYBOX));
        // The copy's loader with the copy's libraries only.
        let inside = |p: &Path| copied.join(p.strip_prefix("/").unwrap());
        let loader = files.iter().find(|f| f.to_string_lossy().contains("ld-linux")).unwrap();
        let lib_dirs: BTreeSet<String> =
            files.iter().filter_map(|f| Some(inside(f.parent()?).display().to_string())).collect();
        let out = Command::new(inside(loader))
            .arg("--library-path")
            .arg(lib_dirs.into_iter().collect::<Vec<_>>().join(":"))
            .arg(inside(&sysbench))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("sysbench"));
    }
}
