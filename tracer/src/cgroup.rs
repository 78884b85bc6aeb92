//! cgroup v2: find the mount, resolve what the user typed to a cgroup id, and create the
//! throwaway cgroup that `ktrace run` puts its command in.
//!
//! The id that `bpf_get_current_cgroup_id()` returns is the inode number of the cgroup's v2
//! directory, and a cgroup's level is its depth below the v2 root. On hybrid hosts (v1
//! controllers beside a v2 mount at /sys/fs/cgroup/unified) the v2 tree is the one that counts.
use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::MetadataExt as _,
    path::{Component, Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};

/// The cgroup v2 hierarchy, rooted at its mount point.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    root: PathBuf,
}

/// A resolved cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// What the user called it (the `--cgroup` argument, or the `run` cgroup's name).
    pub label: String,
    pub path: PathBuf,
    /// Inode of the directory: the id the kernel reports for tasks in this cgroup.
    pub id: u64,
    /// Depth below the v2 root; the root is 0.
    pub level: u32,
}

impl Hierarchy {
    /// Finds the cgroup v2 mount in /proc/self/mountinfo.
    pub fn discover() -> anyhow::Result<Self> {
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let root = cgroup2_mount(&mountinfo).ok_or_else(|| {
            anyhow!("no cgroup v2 mount found; mount one with `mount -t cgroup2 none /sys/fs/cgroup/unified`")
        })?;
        Ok(Self { root })
    }

    #[cfg(test)]
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Resolves an absolute path, a path relative to the mount (anything with a `/`), or a
    /// directory name that occurs exactly once in the tree.
    pub fn resolve(&self, spec: &str) -> anyhow::Result<Cgroup> {
        if spec.is_empty() {
            bail!("empty cgroup name");
        }
        let path = if spec.starts_with('/') {
            PathBuf::from(spec)
        } else if spec.contains('/') {
            self.root.join(spec)
        } else {
            self.find_unique(spec)?
        };
        self.cgroup_at(spec, &path)
    }

    /// Describes the cgroup at `path`, which must be a directory of this hierarchy.
    pub fn cgroup_at(&self, label: &str, path: &Path) -> anyhow::Result<Cgroup> {
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                anyhow!("cgroup `{label}` not found: {} does not exist", path.display())
            }
            _ => anyhow!("cgroup `{label}`: {}: {e}", path.display()),
        })?;
        if !meta.is_dir() {
            bail!("cgroup `{label}`: {} is not a directory", path.display());
        }
        let relative = path.strip_prefix(&self.root).map_err(|_| {
            anyhow!(
                "cgroup `{label}`: {} is not under the cgroup v2 mount {}",
                path.display(),
                self.root.display()
            )
        })?;
        let mut level = 0u32;
        for component in relative.components() {
            match component {
                Component::Normal(_) => level += 1,
                Component::CurDir => {}
                _ => bail!("cgroup `{label}`: {} must not contain `..`", path.display()),
            }
        }
        Ok(Cgroup { label: label.to_owned(), path: path.to_owned(), id: meta.ino(), level })
    }

    fn find_unique(&self, name: &str) -> anyhow::Result<PathBuf> {
        let mut found = Vec::new();
        find_dirs_named(&self.root, name, &mut found)
            .with_context(|| format!("searching {} for cgroup `{name}`", self.root.display()))?;
        match found.len() {
            0 => bail!("cgroup `{name}` not found under {}", self.root.display()),
            1 => Ok(found.remove(0)),
            _ => {
                found.sort();
                let list: Vec<_> = found.iter().map(|p| p.display().to_string()).collect();
                bail!("cgroup name `{name}` is ambiguous; give one of: {}", list.join(", "))
            }
        }
    }

    /// Creates a new, empty cgroup directly below the root. Fails if it already exists.
    pub fn create(&self, name: &str) -> anyhow::Result<(OwnedCgroup, Cgroup)> {
        let path = self.root.join(name);
        fs::create_dir(&path).with_context(|| format!("creating cgroup {}", path.display()))?;
        let owned = OwnedCgroup { path };
        let cgroup = self.cgroup_at(name, &owned.path)?;
        Ok((owned, cgroup))
    }
}

/// The mount point of the first cgroup2 file system in a mountinfo text.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // "36 35 98:0 / /sys/fs/cgroup/unified rw,relatime shared:6 - cgroup2 cgroup2 rw"
        let (mount, fs) = line.split_once(" - ")?;
        let fs_type = fs.split_whitespace().next()?;
        let mount_point = mount.split_whitespace().nth(4)?;
        (fs_type == "cgroup2").then(|| PathBuf::from(unescape_mountinfo(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo octal.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find_dirs_named(dir: &Path, name: &str, found: &mut Vec<PathBuf>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed while we walked: cgroups come and go.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        find_dirs_named(&path, name, found)?;
    }
    Ok(())
}

/// A cgroup ktrace created; dropping it kills whatever is still inside and removes it, so that
/// no exit path leaves a stray cgroup behind.
#[derive(Debug)]
pub struct OwnedCgroup {
    path: PathBuf,
}

impl OwnedCgroup {
    /// Opens `cgroup.procs` for writing; a process that writes "0" to it joins the cgroup.
    pub fn procs_file(&self) -> anyhow::Result<fs::File> {
        let procs = self.path.join("cgroup.procs");
        fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .with_context(|| format!("opening {}", procs.display()))
    }

    fn remove(&self) -> anyhow::Result<()> {
        kill_all(&self.path)?;
        // Children first: rmdir fails on a cgroup that still has child cgroups.
        let mut dirs = Vec::new();
        collect_dirs(&self.path, &mut dirs)?;
        for dir in dirs.iter().rev() {
            remove_when_empty(dir)?;
        }
        Ok(())
    }
}

impl Drop for OwnedCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("ktrace: warning: could not remove cgroup {}: {e:#}", self.path.display());
        }
    }
}

/// Kills every process in the cgroup and its descendants.
fn kill_all(path: &Path) -> anyhow::Result<()> {
    let kill = path.join("cgroup.kill");
    if kill.exists() {
        // Linux 5.14+: one write kills the whole subtree.
        fs::OpenOptions::new()
            .write(true)
            .open(&kill)
            .and_then(|mut f| f.write_all(b"1"))
            .with_context(|| format!("writing {}", kill.display()))?;
        return Ok(());
    }
    let mut dirs = Vec::new();
    collect_dirs(path, &mut dirs)?;
    for dir in dirs {
        for pid in fs::read_to_string(dir.join("cgroup.procs"))?
            .lines()
            .filter_map(|l| l.parse::<i32>().ok())
        {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    Ok(())
}

/// `path` and all cgroups below it, parents before children.
fn collect_dirs(path: &Path, dirs: &mut Vec<PathBuf>) -> io::Result<()> {
    dirs.push(path.to_owned());
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_dirs(&entry.path(), dirs)?;
        }
    }
    Ok(())
}

/// Removes a cgroup directory, waiting briefly for killed tasks to leave it (EBUSY).
fn remove_when_empty(dir: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Hierarchy) {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lxc/payload", "gvisor", "machine/vm1/gvisor", "a b/c"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("cgroup.procs"), "").unwrap();
        let hierarchy = Hierarchy::at(dir.path());
        (dir, hierarchy)
    }

    #[test]
    fn resolves_absolute_relative_and_unique_names() {
        let (dir, h) = tree();
        let abs = dir.path().join("lxc/payload");
        let by_abs = h.resolve(abs.to_str().unwrap()).unwrap();
        assert_eq!(by_abs.path, abs);
        assert_eq!(by_abs.level, 2);
        assert_eq!(by_abs.id, fs::metadata(&abs).unwrap().ino());

        assert_eq!(h.resolve("lxc/payload").unwrap().path, abs);
        assert_eq!(h.resolve("payload").unwrap().path, abs);
        assert_eq!(h.resolve("payload").unwrap().label, "payload");
        assert_eq!(h.resolve("lxc").unwrap().level, 1);
        assert_eq!(h.resolve("a b/c").unwrap().level, 2);
    }

    #[test]
    fn ambiguous_name_lists_every_candidate() {
        let (dir, h) = tree();
        let err = format!("{:#}", h.resolve("gvisor").unwrap_err());
        assert!(err.contains("ambiguous"), "{err}");
        assert!(err.contains(&dir.path().join("gvisor").display().to_string()), "{err}");
        assert!(
            err.contains(&dir.path().join("machine/vm1/gvisor").display().to_string()),
            "{err}"
        );
        // A path disambiguates.
        assert_eq!(h.resolve("machine/vm1/gvisor").unwrap().level, 3);
        assert_eq!(h.resolve("./gvisor").unwrap().level, 1);
    }

    #[test]
    fn missing_outside_and_non_directories_are_errors() {
        let (_dir, h) = tree();
        let missing = format!("{:#}", h.resolve("nope").unwrap_err());
        assert!(missing.contains("`nope` not found"), "{missing}");
        assert!(format!("{:#}", h.resolve("lxc/nope").unwrap_err()).contains("does not exist"));
        assert!(
            format!("{:#}", h.resolve("/tmp").unwrap_err())
                .contains("not under the cgroup v2 mount")
        );
        assert!(
            format!("{:#}", h.resolve("cgroup.procs/x").unwrap_err()).contains("cgroup.procs/x")
        );
        assert!(format!("{:#}", h.resolve("lxc/../gvisor").unwrap_err()).contains(".."));
        assert!(h.resolve("").is_err());
    }

    #[test]
    fn finds_the_cgroup2_mount_on_a_hybrid_host() {
        let mountinfo = "\
25 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
40 30 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(cgroup2_mount(mountinfo), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(cgroup2_mount("25 1 254:0 / / rw - ext4 /dev/vda rw\n"), None);
        let spaced = "40 30 0:35 / /mnt/my\\040cgroups rw shared:1 - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount(spaced), Some(PathBuf::from("/mnt/my cgroups")));
    }
}
