//! A writer for cpio archives in the "newc" format, the format the kernel unpacks an
//! initramfs from (and busybox `cpio -i` reads). Entries are owned by root with mtime 0, so the
//! same inputs give the same bytes; parent directories are added before their contents, and a
//! path added twice keeps its first content.
use std::{
    collections::BTreeSet,
    fs,
    hash::{DefaultHasher, Hash as _, Hasher as _},
    io::Write,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

enum Content {
    Dir,
    /// A host file, read when the archive is written (following symlinks).
    HostFile(PathBuf),
    Bytes(Vec<u8>),
    Symlink(String),
    CharDevice {
        major: u32,
        minor: u32,
    },
}

struct Entry {
    /// Guest path without the leading `/`.
    path: String,
    /// Permission bits.
    mode: u32,
    content: Content,
}

#[derive(Default)]
pub struct Archive {
    entries: Vec<Entry>,
    paths: BTreeSet<String>,
}

impl Archive {
    pub fn dir(&mut self, guest: &str, mode: u32) {
        self.push(guest, mode, Content::Dir);
    }

    /// Adds host file `host` at `guest` with the host file's permissions.
    pub fn host_file(&mut self, guest: &Path, host: &Path) -> anyhow::Result<()> {
        let meta = fs::metadata(host).with_context(|| format!("reading {}", host.display()))?;
        let guest =
            guest.to_str().with_context(|| format!("non-UTF-8 path {}", guest.display()))?;
        self.push(guest, meta.permissions().mode() & 0o7777, Content::HostFile(host.to_owned()));
        Ok(())
    }

    /// Adds host file or directory tree `host` at `guest`; symbolic links inside the tree stay
    /// links.
    pub fn host_tree(&mut self, guest: &Path, host: &Path) -> anyhow::Result<()> {
        let meta = fs::metadata(host).with_context(|| format!("reading {}", host.display()))?;
        if !meta.is_dir() {
            return self.host_file(guest, host);
        }
        let guest_str =
            guest.to_str().with_context(|| format!("non-UTF-8 path {}", guest.display()))?;
        self.dir(guest_str, meta.permissions().mode() & 0o7777);
        for entry in fs::read_dir(host).with_context(|| format!("listing {}", host.display()))? {
            let entry = entry.with_context(|| format!("listing {}", host.display()))?;
            let (guest, host) = (guest.join(entry.file_name()), entry.path());
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                let target = fs::read_link(&host)
                    .with_context(|| format!("reading the link {}", host.display()))?;
                let (guest, target) = (guest.to_str(), target.to_str());
                let (Some(guest), Some(target)) = (guest, target) else {
                    bail!("non-UTF-8 link {}", host.display());
                };
                self.symlink(guest, target);
            } else {
                self.host_tree(&guest, &host)?;
            }
        }
        Ok(())
    }

    pub fn bytes(&mut self, guest: &str, mode: u32, data: impl Into<Vec<u8>>) {
        self.push(guest, mode, Content::Bytes(data.into()));
    }

    pub fn symlink(&mut self, guest: &str, target: &str) {
        self.push(guest, 0o777, Content::Symlink(target.to_owned()));
    }

    pub fn char_device(&mut self, guest: &str, mode: u32, major: u32, minor: u32) {
        self.push(guest, mode, Content::CharDevice { major, minor });
    }

    fn push(&mut self, guest: &str, mode: u32, content: Content) {
        let path = guest.trim_start_matches('/').to_owned();
        if let Some((parent, _)) = path.rsplit_once('/')
            && !self.paths.contains(parent)
        {
            self.dir(parent, 0o755);
        }
        if self.paths.insert(path.clone()) {
            self.entries.push(Entry { path, mode, content });
        }
    }

    /// A key that changes when any input changes: paths, modes, inline contents, and for host
    /// files their identity, size and modification time (cheaper than reading them).
    pub fn input_key(&self) -> anyhow::Result<u64> {
        let mut h = DefaultHasher::new();
        for e in &self.entries {
            (&e.path, e.mode).hash(&mut h);
            match &e.content {
                Content::Dir => 0.hash(&mut h),
                Content::HostFile(p) => {
                    let m = fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
                    (p, m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()).hash(&mut h);
                }
                Content::Bytes(b) => b.hash(&mut h),
                Content::Symlink(t) => t.hash(&mut h),
                Content::CharDevice { major, minor } => (major, minor).hash(&mut h),
            }
        }
        Ok(h.finish())
    }

    pub fn write(&self, out: &mut impl Write) -> anyhow::Result<()> {
        for (ino, e) in (1..).zip(&self.entries) {
            let (kind, data, rdev) = match &e.content {
                Content::Dir => (S_IFDIR, Vec::new(), (0, 0)),
                Content::HostFile(p) => {
                    let data = fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                    (S_IFREG, data, (0, 0))
                }
                Content::Bytes(b) => (S_IFREG, b.clone(), (0, 0)),
                Content::Symlink(t) => (S_IFLNK, t.as_bytes().to_vec(), (0, 0)),
                Content::CharDevice { major, minor } => (S_IFCHR, Vec::new(), (*major, *minor)),
            };
            write_entry(out, ino, kind | e.mode, &e.path, &data, rdev)?;
        }
        write_entry(out, 0, 0, "TRAILER!!!", &[], (0, 0))?;
        Ok(())
    }
}

fn write_entry(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    name: &str,
    data: &[u8],
    (rdev_major, rdev_minor): (u32, u32),
) -> anyhow::Result<()> {
    let nlink = if mode & 0o170_000 == S_IFDIR { 2 } else { 1 };
    let size = u32::try_from(data.len()).with_context(|| format!("{name} is over 4 GiB"))?;
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize (with its NUL), check
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}\
         {rdev_major:08x}{rdev_minor:08x}{:08x}{:08x}",
        0,
        0,
        0,
        0,
        0,
        name.len() + 1,
        0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    pad(out, header.len() + name.len() + 1)?;
    out.write_all(data)?;
    pad(out, data.len())?;
    Ok(())
}

/// Pads to the 4-byte alignment newc requires after the name and after the data.
fn pad(out: &mut impl Write, written: usize) -> anyhow::Result<()> {
    out.write_all(&[0; 3][..(4 - written % 4) % 4])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Archive;

    #[test]
    fn links_in_a_tree_stay_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/busybox"), "binary").unwrap();
        std::os::unix::fs::symlink("busybox", dir.path().join("bin/sh")).unwrap();
        let mut archive = Archive::default();
        archive.host_tree(std::path::Path::new("/t"), dir.path()).unwrap();
        let mut out = Vec::new();
        archive.write(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("binary").count(), 1, "the link was archived as a copy");
        assert!(text.contains("t/bin/sh\0"), "{text}");
    }

    #[test]
    fn entries_are_aligned_and_parents_come_first() {
        let mut archive = Archive::default();
        archive.bytes("/etc/ktrace-vm/run", 0o644, "true\n");
        let mut out = Vec::new();
        archive.write(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        let names: Vec<_> = ["etc\0", "etc/ktrace-vm\0", "etc/ktrace-vm/run\0", "TRAILER!!!\0"]
            .iter()
            .map(|n| text.find(n).unwrap())
            .collect();
        assert!(names.is_sorted(), "{names:?}");
        assert_eq!(out.len() % 4, 0);
        assert_eq!(text.matches("070701").count(), 4);
    }
}
