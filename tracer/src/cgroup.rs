//! cgroup v2: find the mount, resolve what the user typed to a cgroup id, create the
//! throwaway cgroup that `ktrace run` puts its command in, and move processes that have no
//! cgroup of their own into one for a trace.
//!
//! What users type for `--cgroup` is a path, a container's, sandbox's or VM's name or id (or a
//! unique id prefix) as its runtime knows it (see [`crate::runtime`]), or a directory name
//! that occurs once in the v2 tree.
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

use crate::runtime::{self, Placement, Processes, Workload, WorkloadRef, cgroup_of};

/// The only spelling of `--cgroup` that names the v2 root: every task on the host.
pub const ROOT_SPEC: &str = "/";

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
    /// The container, sandbox or VM whose cgroup this is, when the user named one.
    pub workload: Option<WorkloadRef>,
}

/// What a `--cgroup` argument names.
#[derive(Debug, Clone)]
pub enum Found {
    Cgroup(Cgroup),
    /// A workload whose processes have no cgroup of their own (a gVisor sandbox in the v2
    /// root of a hybrid host): it can be traced only by moving them into one.
    Unplaced(Workload),
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

    /// The mount point.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves an absolute path, a path relative to the mount (anything with a `/`), a
    /// workload's name, id or unique id prefix, or a directory name that occurs exactly once
    /// in the tree. `Ok(None)`: nothing has that name (yet).
    pub fn lookup(&self, spec: &str, workloads: &[Workload]) -> anyhow::Result<Option<Found>> {
        if spec.is_empty() {
            bail!("empty cgroup name");
        }
        if let Some(path) = self.path_in_spec(spec) {
            if !path.exists() && path.starts_with(&self.root) {
                return Ok(None);
            }
            return self.cgroup_at(spec, &path).map(|c| Some(Found::Cgroup(c)));
        }
        let named = runtime::named(workloads, spec);
        let exact = named.first().is_some_and(|w| w.is_named(spec));
        let mut dirs = Vec::new();
        find_dirs_named(&self.root, spec, &mut dirs)
            .with_context(|| format!("searching {} for cgroup `{spec}`", self.root.display()))?;
        // A workload's own directory is the workload, not a second candidate.
        let cgroup_of_workload = |dir: &PathBuf| {
            named.iter().any(|w| w.placement.cgroup().is_some_and(|c| self.path_of(c) == *dir))
        };
        dirs.retain(|dir| !cgroup_of_workload(dir));
        dirs.sort();
        // An exact name or id, or a directory, before any id prefix.
        let workloads = if exact || dirs.is_empty() { named } else { Vec::new() };
        match (workloads.as_slice(), dirs.as_slice()) {
            ([], []) => Ok(None),
            ([workload], []) => self.workload_cgroup(workload),
            ([], [dir]) => self.cgroup_at(spec, dir).map(|c| Some(Found::Cgroup(c))),
            _ => {
                let list: Vec<String> = workloads
                    .iter()
                    .map(|w| format!("{} `{}` (id {})", w.runtime, w.name, w.id))
                    .chain(dirs.iter().map(|d| d.display().to_string()))
                    .collect();
                bail!("cgroup name `{spec}` is ambiguous; give one of: {}", list.join(", "))
            }
        }
    }

    /// [`Self::lookup`], where nothing found is an error.
    pub fn resolve(&self, spec: &str, workloads: &[Workload]) -> anyhow::Result<Found> {
        if let Some(path) = self.path_in_spec(spec) {
            // Says which directory is missing.
            return self.cgroup_at(spec, &path).map(Found::Cgroup);
        }
        if let Some(found) = self.lookup(spec, workloads)? {
            return Ok(found);
        }
        if let [workload] = runtime::named(workloads, spec).as_slice()
            && let Placement::None { why, fix } = &workload.placement
        {
            bail!("{} `{}` cannot be traced: {why}; {fix}", workload.runtime, workload.name);
        }
        bail!(
            "cgroup `{spec}` not found: no container, sandbox or VM of that name or id (see \
             `ktrace ps`) and no such directory under {}",
            self.root.display()
        )
    }

    /// The path a spec with a `/` (or `.`, `..`) gives: absolute, or relative to the mount;
    /// `/` alone is the v2 root.
    fn path_in_spec(&self, spec: &str) -> Option<PathBuf> {
        match spec {
            ROOT_SPEC => Some(self.root.clone()),
            _ if spec.starts_with('/') => Some(PathBuf::from(spec)),
            _ if spec.contains('/') || spec == "." || spec == ".." => Some(self.root.join(spec)),
            _ => None,
        }
    }

    /// The cgroup of a workload, labelled with its name; `None` for one with neither a cgroup
    /// nor a process (stopped: `--wait` waits for it to start).
    fn workload_cgroup(&self, workload: &Workload) -> anyhow::Result<Option<Found>> {
        Ok(match &workload.placement {
            Placement::Own { cgroup } => {
                let mut found = self.cgroup_at(&workload.name, &self.path_of(cgroup))?;
                found.workload = Some(workload.reference());
                Some(Found::Cgroup(found))
            }
            Placement::None { .. } if !workload.pids.is_empty() => {
                Some(Found::Unplaced(workload.clone()))
            }
            Placement::None { .. } => None,
        })
    }

    /// The directory of a cgroup path below the mount, e.g. `/web`.
    pub fn path_of(&self, cgroup: &str) -> PathBuf {
        self.root.join(cgroup.trim_start_matches('/'))
    }

    /// The cgroup that process `pid` is in, from its `0::` line, labelled `label`. Refused for
    /// the v2 root, which holds every process of the host.
    pub fn of_process(&self, proc: &Path, pid: u32, label: &str) -> anyhow::Result<Cgroup> {
        let path = cgroup_of(proc, pid).with_context(|| format!("no process with pid {pid}"))?;
        if path == "/" {
            bail!(
                "process {pid} is in the cgroup v2 root with every other process of the host, so \
                 its cgroup cannot tell it apart (runsc on hybrid hosts, and VMs, stay there); add \
                 --move to move it and its descendants into a cgroup of their own for the trace, \
                 or start it inside one with `ktrace run -- CMD`"
            );
        }
        self.cgroup_at(label, &self.path_of(&path))
    }

    /// Describes the cgroup at `path`, which must be a directory of this hierarchy. The v2
    /// root holds every task of the host: it is taken only when typed as `/`, never reached
    /// by accident (`./`, `.`, the mount path, a symlink to it).
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
        if label != ROOT_SPEC && self.is_root(&meta) {
            bail!(
                "cgroup `{label}` is the cgroup v2 root {}, which holds every task on the host; \
                 type `--cgroup /` to trace them all",
                self.root.display()
            );
        }
        Ok(Cgroup {
            label: label.to_owned(),
            path: path.to_owned(),
            id: meta.ino(),
            level,
            workload: None,
        })
    }

    /// Whether `meta` is the mount's own directory, however it was spelled.
    fn is_root(&self, meta: &fs::Metadata) -> bool {
        fs::metadata(&self.root)
            .is_ok_and(|root| (root.dev(), root.ino()) == (meta.dev(), meta.ino()))
    }

    /// Creates a new, empty cgroup directly below the root. Fails if it already exists.
    pub fn create(&self, name: &str) -> anyhow::Result<(OwnedCgroup, Cgroup)> {
        let path = self.root.join(name);
        fs::create_dir(&path).with_context(|| format!("creating cgroup {}", path.display()))?;
        let owned = OwnedCgroup { path };
        let cgroup = self.cgroup_at(name, &owned.path)?;
        Ok((owned, cgroup))
    }

    /// Moves the processes `roots` and all their descendants into a new cgroup `name` below
    /// the root, labelled `label`, for a trace. Children forked while the tree moves may start
    /// in the old cgroup, so the tree is walked again until a pass finds nobody left behind.
    pub fn move_into_new(
        &self,
        name: &str,
        label: &str,
        roots: &[u32],
        proc: &Path,
    ) -> anyhow::Result<(MovedProcesses, Cgroup)> {
        let path = self.root.join(name);
        fs::create_dir(&path).with_context(|| format!("creating cgroup {}", path.display()))?;
        // From here on, dropping it moves back whoever moved and removes the directory.
        let mut moved = MovedProcesses {
            procs: path.join("cgroup.procs"),
            path,
            hierarchy: self.clone(),
            origins: Vec::new(),
        };
        for _pass in 0..MOVE_PASSES {
            let tree = Processes::read(proc).trees(roots);
            let left_behind: Vec<u32> =
                tree.into_iter().filter(|p| !moved.origins.iter().any(|(m, _)| m == p)).collect();
            if left_behind.is_empty() {
                break;
            }
            for pid in left_behind {
                // Gone meanwhile: nothing to move, nothing to put back.
                let Some(origin) = cgroup_of(proc, pid) else { continue };
                match write_pid(&moved.procs, pid) {
                    Ok(()) => moved.origins.push((pid, origin)),
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("moving process {pid} into {}", moved.path.display())
                        });
                    }
                }
            }
        }
        if moved.origins.is_empty() {
            bail!("no process of {label} is left to move (pids {roots:?})");
        }
        let cgroup = self.cgroup_at(label, &moved.path)?;
        Ok((moved, cgroup))
    }
}

/// How often [`Hierarchy::move_into_new`] walks a process tree that keeps forking.
const MOVE_PASSES: usize = 10;

/// Processes ktrace moved into a cgroup of its own for a trace. Dropping it puts every
/// process in that cgroup back where it came from (one born meanwhile goes where its tree's
/// first process came from) and removes the cgroup.
#[derive(Debug)]
pub struct MovedProcesses {
    path: PathBuf,
    procs: PathBuf,
    hierarchy: Hierarchy,
    /// Each moved process and its cgroup before, below the mount (`/` for the root).
    origins: Vec<(u32, String)>,
}

impl MovedProcesses {
    /// How many processes were moved.
    pub fn count(&self) -> usize {
        self.origins.len()
    }

    /// Where the first process came from, below the mount.
    pub fn origin(&self) -> &str {
        self.origins.first().map_or("/", |(_, o)| o.as_str())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn move_back(&self) -> anyhow::Result<()> {
        let inside = fs::read_to_string(&self.procs)
            .with_context(|| format!("reading {}", self.procs.display()))?;
        for pid in inside.lines().filter_map(|l| l.parse::<u32>().ok()) {
            let origin =
                self.origins.iter().find(|(p, _)| *p == pid).map_or(self.origin(), |(_, o)| o);
            let mut back = self.hierarchy.path_of(origin).join("cgroup.procs");
            if !back.exists() {
                // Its old cgroup is gone: the first process's, or the root.
                back = self.hierarchy.path_of(self.origin()).join("cgroup.procs");
            }
            match write_pid(&back, pid) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    write_pid(&self.hierarchy.root.join("cgroup.procs"), pid).with_context(
                        || {
                            format!(
                                "moving process {pid} back to {} ({e}) or the root",
                                back.display()
                            )
                        },
                    )?;
                }
            }
        }
        remove_when_empty(&self.path)
    }
}

impl Drop for MovedProcesses {
    fn drop(&mut self) {
        if let Err(e) = self.move_back() {
            eprintln!(
                "ktrace: warning: could not move every process back out of {}: {e:#}",
                self.path.display()
            );
        }
    }
}

/// Moves process `pid` (all its threads) into the cgroup whose `cgroup.procs` is `procs`.
fn write_pid(procs: &Path, pid: u32) -> io::Result<()> {
    fs::OpenOptions::new().write(true).open(procs)?.write_all(pid.to_string().as_bytes())
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
    pub fn path(&self) -> &Path {
        &self.path
    }

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
pub fn remove_when_empty(dir: &Path) -> anyhow::Result<()> {
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

    /// Resolves `spec` where no runtime knows any workload.
    fn resolve(h: &Hierarchy, spec: &str) -> anyhow::Result<Cgroup> {
        match h.resolve(spec, &[])? {
            Found::Cgroup(c) => Ok(c),
            Found::Unplaced(w) => panic!("{w:?}"),
        }
    }

    fn workload(name: &str, id: &str, placement: Placement) -> Workload {
        Workload {
            runtime: runtime::Runtime::Runc,
            name: name.to_owned(),
            id: id.to_owned(),
            state: runtime::State::Running,
            pids: vec![4242],
            placement,
        }
    }

    fn own(cgroup: &str) -> Placement {
        Placement::Own { cgroup: cgroup.to_owned() }
    }

    #[test]
    fn workloads_resolve_to_their_cgroup_by_name_id_and_prefix() {
        let (dir, h) = tree();
        let web = workload("web", "0123abcd", own("/lxc/payload"));
        let workloads = [web.clone()];
        for spec in ["web", "0123abcd", "0123"] {
            let Found::Cgroup(c) = h.resolve(spec, &workloads).unwrap() else { panic!() };
            assert_eq!(c.path, dir.path().join("lxc/payload"));
            assert_eq!(c.label, "web", "labelled by the workload's name, not {spec}");
            assert_eq!(c.workload, Some(web.reference()));
        }
        // The workload's own directory is no second candidate.
        let named_like_its_dir = [workload("payload", "p1", own("/lxc/payload"))];
        assert!(matches!(h.resolve("payload", &named_like_its_dir), Ok(Found::Cgroup(_))));
        // A directory name beats an id prefix ("lxc" is both).
        let prefixed = [workload("db", "lxc77", own("/gvisor"))];
        let Found::Cgroup(c) = h.resolve("lxc", &prefixed).unwrap() else { panic!() };
        assert_eq!(c.path, dir.path().join("lxc"));
    }

    #[test]
    fn a_workload_and_another_directory_of_one_name_are_ambiguous() {
        let (dir, h) = tree();
        let workloads = [workload("c", "c", own("/lxc"))];
        let err = format!("{:#}", h.resolve("c", &workloads).unwrap_err());
        assert!(err.contains("ambiguous") && err.contains("runc `c` (id c)"), "{err}");
        assert!(err.contains(&dir.path().join("a b/c").display().to_string()), "{err}");
    }

    #[test]
    fn workloads_without_a_cgroup_are_unplaced_or_explained() {
        let (_dir, h) = tree();
        let none = || Placement::None { why: "in the root".into(), fix: "move it".into() };
        let running = [workload("gv", "gv", none())];
        assert!(matches!(h.resolve("gv", &running), Ok(Found::Unplaced(w)) if w.name == "gv"));
        let stopped = [Workload { pids: Vec::new(), ..workload("gv", "gv", none()) }];
        let err = format!("{:#}", h.resolve("gv", &stopped).unwrap_err());
        assert_eq!(err, "runc `gv` cannot be traced: in the root; move it");
        assert!(h.lookup("gv", &stopped).unwrap().is_none(), "--wait waits for it to start");
        // Nothing yet, which --wait waits for; a missing path waits too.
        assert!(h.lookup("later", &[]).unwrap().is_none());
        assert!(h.lookup("lxc/later", &[]).unwrap().is_none());
    }

    #[test]
    fn resolves_absolute_relative_and_unique_names() {
        let (dir, h) = tree();
        let abs = dir.path().join("lxc/payload");
        let by_abs = resolve(&h, abs.to_str().unwrap()).unwrap();
        assert_eq!(by_abs.path, abs);
        assert_eq!(by_abs.level, 2);
        assert_eq!(by_abs.id, fs::metadata(&abs).unwrap().ino());

        assert_eq!(resolve(&h, "lxc/payload").unwrap().path, abs);
        assert_eq!(resolve(&h, "payload").unwrap().path, abs);
        assert_eq!(resolve(&h, "payload").unwrap().label, "payload");
        assert_eq!(resolve(&h, "lxc").unwrap().level, 1);
        assert_eq!(resolve(&h, "a b/c").unwrap().level, 2);
    }

    #[test]
    fn ambiguous_name_lists_every_candidate() {
        let (dir, h) = tree();
        let err = format!("{:#}", resolve(&h, "gvisor").unwrap_err());
        assert!(err.contains("ambiguous"), "{err}");
        assert!(err.contains(&dir.path().join("gvisor").display().to_string()), "{err}");
        assert!(
            err.contains(&dir.path().join("machine/vm1/gvisor").display().to_string()),
            "{err}"
        );
        // A path disambiguates.
        assert_eq!(resolve(&h, "machine/vm1/gvisor").unwrap().level, 3);
        assert_eq!(resolve(&h, "./gvisor").unwrap().level, 1);
    }

    #[test]
    fn missing_outside_and_non_directories_are_errors() {
        let (_dir, h) = tree();
        let missing = format!("{:#}", resolve(&h, "nope").unwrap_err());
        assert!(missing.contains("`nope` not found"), "{missing}");
        assert!(format!("{:#}", resolve(&h, "lxc/nope").unwrap_err()).contains("does not exist"));
        assert!(
            format!("{:#}", resolve(&h, "/tmp").unwrap_err())
                .contains("not under the cgroup v2 mount")
        );
        assert!(
            format!("{:#}", resolve(&h, "cgroup.procs/x").unwrap_err()).contains("cgroup.procs/x")
        );
        assert!(format!("{:#}", resolve(&h, "lxc/../gvisor").unwrap_err()).contains(".."));
        assert!(resolve(&h, "").is_err());
    }

    /// `./` used to resolve to the v2 root and silently trace every task on the host.
    #[test]
    fn the_root_is_taken_only_when_typed_as_a_slash() {
        let (dir, h) = tree();
        let root = dir.path().to_str().unwrap().to_owned();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("lxc/up")).unwrap();
        let via_link = format!("{root}/lxc/up");
        for spec in ["./", ".", "./.", root.as_str(), &format!("{root}/"), &via_link] {
            let err = format!("{:#}", resolve(&h, spec).unwrap_err());
            assert_eq!(
                err,
                format!(
                    "cgroup `{spec}` is the cgroup v2 root {root}, which holds every task on the \
                     host; type `--cgroup /` to trace them all"
                )
            );
        }
        let all = resolve(&h, "/").unwrap();
        assert_eq!((all.path.as_path(), all.level, all.label.as_str()), (dir.path(), 0, "/"));
        assert!(resolve(&h, "//").is_err(), "only `/` itself names the root");
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
