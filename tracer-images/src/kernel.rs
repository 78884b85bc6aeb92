//! Debian distro kernels for guests: find the newest cloud kernel package of a series in the
//! apt archive, download it once with `apt-get download`, unpack it with `dpkg -x` and keep the
//! tree under `/var/cache/ktrace/kernels/<package>_<version>/`.
//!
//! A later run finds the unpacked tree by package version and downloads nothing. `apt-cache`
//! only reads the local package lists, so `apt-get update` runs only when they know no such
//! package at all (a fresh machine).
use std::{
    collections::HashMap,
    fmt, fs,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
};

use anyhow::{Context as _, bail, ensure};

use crate::output_of;

const CACHE: &str = "/var/cache/ktrace/kernels";

/// A kernel series: `6.12` or `6.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Debian 12's backported 6.12 kernel (kprobe.multi, fentry).
    V6_12,
    /// Debian 12's own 6.1 kernel: an older verifier and fewer BPF features.
    V6_1,
}

impl Series {
    pub const ALL: [Series; 2] = [Series::V6_12, Series::V6_1];

    /// `apt-cache search --names-only` pattern for this series' cloud kernel packages.
    fn package_pattern(self) -> &'static str {
        match self {
            Series::V6_12 => "^linux-image-6\\.12\\..*-cloud-amd64-unsigned$",
            Series::V6_1 => "^linux-image-6\\.1\\.0-.*-cloud-amd64-unsigned$",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Series::V6_12 => "6.12",
            Series::V6_1 => "6.1",
        }
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Series {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match Self::ALL.into_iter().find(|series| series.name() == s) {
            Some(series) => Ok(series),
            None => bail!("unknown kernel series `{s}`: 6.12 or 6.1"),
        }
    }
}

/// An unpacked kernel package.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub series: Series,
    /// `uname -r` of the kernel, e.g. `6.12.117+deb12-cloud-amd64`.
    pub release: String,
    /// The Debian package version, e.g. `6.12.117-1~deb12u1`; its source package has the same.
    pub version: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` inside the unpacked package.
    pub modules: PathBuf,
}

impl Kernel {
    /// The modules `names` and everything they depend on, dependencies first, as
    /// (name, uncompressed `.ko` bytes): busybox `insmod` cannot read compressed modules.
    /// Dependencies come from each module's own `depends=` modinfo, since an unpacked package has
    /// no `modules.dep` (depmod runs at install time).
    pub fn modules_with_deps(&self, names: &[&str]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut files = HashMap::new();
        index_modules(&self.modules.join("kernel"), &mut files)?;
        let mut loaded = Vec::new();
        for name in names {
            self.add_module(name, &files, &mut Vec::new(), &mut loaded)?;
        }
        Ok(loaded)
    }

    fn add_module(
        &self,
        name: &str,
        files: &HashMap<String, PathBuf>,
        chain: &mut Vec<String>,
        loaded: &mut Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<()> {
        let name = name.replace('-', "_");
        if loaded.iter().any(|(n, _)| *n == name) {
            return Ok(());
        }
        ensure!(!chain.contains(&name), "module dependency cycle: {chain:?} -> {name}");
        let Some(path) = files.get(&name) else {
            // Built into this kernel (CONFIG_...=y): nothing to load.
            let builtin =
                fs::read_to_string(self.modules.join("modules.builtin")).unwrap_or_default();
            ensure!(
                builtin.lines().any(|l| l.rsplit('/').next() == Some(&format!("{name}.ko"))),
                "no module {name} in {}",
                self.modules.display()
            );
            return Ok(());
        };
        let ko = read_module(path)?;
        chain.push(name.clone());
        for dep in depends(&ko) {
            self.add_module(&dep, files, chain, loaded)
                .with_context(|| format!("dependency of {name}"))?;
        }
        chain.pop();
        loaded.push((name, ko));
        Ok(())
    }
}

/// Maps module names (with `_` for `-`) to their files under `dir`.
fn index_modules(dir: &Path, files: &mut HashMap<String, PathBuf>) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        if path.is_dir() {
            index_modules(&path, files)?;
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && let Some((stem, _)) = name.split_once(".ko")
        {
            files.insert(stem.replace('-', "_"), path);
        }
    }
    Ok(())
}

/// A module's bytes, decompressed with the xz or zstd tool if the package compressed it.
fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    let tool = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        _ => return fs::read(path).with_context(|| format!("reading {}", path.display())),
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("running {tool} -dc {}", path.display()))?;
    ensure!(out.status.success(), "{tool} -dc {} failed: {}", path.display(), out.status);
    Ok(out.stdout)
}

/// The `depends=` list of a module's `.modinfo` section (NUL-separated `key=value` strings).
fn depends(ko: &[u8]) -> Vec<String> {
    ko.split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The newest kernel of `series`, downloaded and unpacked on first use.
pub fn fetch(series: Series) -> anyhow::Result<Kernel> {
    let package = newest_package(series)?;
    let version =
        output_of(Command::new("apt-cache").args(["show", "--no-all-versions", &package]))?
            .lines()
            .find_map(|l| l.strip_prefix("Version: "))
            .map(str::to_owned)
            .with_context(|| format!("no Version in `apt-cache show {package}`"))?;
    let dir = Path::new(CACHE).join(format!("{package}_{version}"));
    if !dir.is_dir() {
        eprintln!("ktrace: downloading Debian kernel {package} {version} into {CACHE}");
        download(&package, &version, &dir)?;
    }
    let modules_root = dir.join("lib/modules");
    let release = fs::read_dir(&modules_root)
        .with_context(|| format!("reading {}", modules_root.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .next()
        .with_context(|| format!("no kernel release under {}", modules_root.display()))?;
    let vmlinuz = dir.join(format!("boot/vmlinuz-{release}"));
    ensure!(vmlinuz.is_file(), "{} is missing", vmlinuz.display());
    Ok(Kernel { series, modules: modules_root.join(&release), release, version, vmlinuz })
}

/// Where ktrace looks for a kernel's DWARF image (`tracer/src/sources.rs`).
const DEBUG_CACHE: &str = "/var/cache/ktrace/debug";

/// The vmlinux with DWARF of `kernel`, from Debian's `linux-image-<release>-dbg` package
/// (about 320 MB); only the image is kept. Downloaded once.
pub fn fetch_debug_vmlinux(kernel: &Kernel) -> anyhow::Result<PathBuf> {
    let dir = Path::new(DEBUG_CACHE).join(&kernel.release);
    let vmlinux = dir.join("vmlinux");
    if vmlinux.is_file() {
        return Ok(vmlinux);
    }
    let package = format!("linux-image-{}-dbg", kernel.release);
    eprintln!("ktrace: downloading {package} for its vmlinux with DWARF");
    let staging = Path::new(DEBUG_CACHE).join(format!("{}.partial", kernel.release));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let deb = apt_download(&package, &staging)?;
    let image = format!("./usr/lib/debug/boot/vmlinux-{}", kernel.release);
    let status = Command::new("sh")
        .args(["-c", r#"dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "$3""#, "sh"])
        .arg(&deb)
        .arg(&staging)
        .arg(&image)
        .status()
        .context("unpacking the debug image")?;
    ensure!(status.success(), "extracting {image} from {} failed: {status}", deb.display());
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::rename(staging.join(&image), &vmlinux)
        .with_context(|| format!("moving the debug image to {}", vmlinux.display()))?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    Ok(vmlinux)
}

/// Where the tests find a kernel's source files (`ktrace --source`).
const SOURCE_CACHE: &str = "/var/cache/ktrace/source";

/// The source files the line tests show: `__is_skb_forwardable` and its wrapper
/// `is_skb_forwardable`.
const SOURCE_FILES: &[&str] = &["include/linux/netdevice.h", "net/core/dev.c"];

/// [`SOURCE_FILES`] of `kernel`, from Debian's `linux-source-<series>` package of the same
/// version (about 150 MB, downloaded once), in a tree of their own under the cache.
pub fn fetch_source_files(kernel: &Kernel) -> anyhow::Result<PathBuf> {
    let dir = Path::new(SOURCE_CACHE).join(&kernel.release);
    if SOURCE_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    let package = format!("linux-source-{}", kernel.series.name());
    eprintln!("xtask: downloading {package} {} for {}", kernel.version, SOURCE_FILES.join(", "));
    let staging = Path::new(SOURCE_CACHE).join(format!("{}.partial", kernel.release));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let deb = apt_download(&format!("{package}={}", kernel.version), &staging)?;
    // The package holds the tree as one tarball, /usr/src/linux-source-<series>.tar.xz.
    let top = format!("linux-source-{}", kernel.series.name());
    let status = Command::new("sh")
        .args([
            "-c",
            r#"deb=$1 top=$2 dir=$3; shift 3
               dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$top.tar.xz" | tar -xJ -C "$dir" "$@""#,
            "sh",
        ])
        .arg(&deb)
        .arg(&top)
        .arg(&staging)
        .args(SOURCE_FILES.iter().map(|f| format!("{top}/{f}")))
        .status()
        .context("unpacking the kernel source")?;
    ensure!(
        status.success(),
        "extracting {SOURCE_FILES:?} from {} failed: {status}",
        deb.display()
    );
    let _ = fs::remove_dir_all(&dir);
    fs::rename(staging.join(&top), &dir)
        .with_context(|| format!("moving the source files to {}", dir.display()))?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    // A debug disk made before lacks them.
    let _ = fs::remove_file(Path::new(DEBUG_CACHE).join(&kernel.release).join(DEBUG_DISK));
    Ok(dir)
}

/// The guest's debug disk, next to the DWARF image it holds.
const DEBUG_DISK: &str = "debug.ext4";

/// A read-only ext4 disk for the guest with `kernel`'s DWARF image where Debian puts it
/// (`boot/vmlinux-<release>`, the guest mounts the disk on /usr/lib/debug) and, if fetched,
/// its source files under `source/`; `None` until the image is fetched. Built once. A disk,
/// not an `--add`: unpacking 340 MB into the guest's memory took 40 s of every boot, a mount
/// reads only the pages the DWARF analysis touches.
pub fn debug_disk(kernel: &Kernel) -> anyhow::Result<Option<PathBuf>> {
    let dir = Path::new(DEBUG_CACHE).join(&kernel.release);
    let vmlinux = dir.join("vmlinux");
    let disk = dir.join(DEBUG_DISK);
    if !vmlinux.is_file() || disk.is_file() {
        return Ok(disk.is_file().then_some(disk));
    }
    eprintln!("xtask: writing {}", disk.display());
    let staging = dir.join("disk.partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(staging.join("boot"))
        .with_context(|| format!("creating {}", staging.display()))?;
    // A hard link: mke2fs copies the bytes into the disk anyway.
    fs::hard_link(&vmlinux, staging.join(format!("boot/vmlinux-{}", kernel.release)))
        .with_context(|| format!("linking {}", vmlinux.display()))?;
    let mut bytes = fs::metadata(&vmlinux)?.len();
    let source = Path::new(SOURCE_CACHE).join(&kernel.release);
    for file in SOURCE_FILES.iter().filter(|f| source.join(f).is_file()) {
        let to = staging.join("source").join(file);
        fs::create_dir_all(to.parent().expect("a file in a directory"))?;
        bytes += fs::copy(source.join(file), &to)
            .with_context(|| format!("copying {}", source.join(file).display()))?;
    }
    let partial = dir.join(format!("{DEBUG_DISK}.partial"));
    let _ = fs::remove_file(&partial);
    // Room for the file system's own structures, generously.
    let kib = (bytes + bytes / 8 + (32 << 20)) / 1024;
    let status = Command::new("mke2fs")
        .args(["-q", "-t", "ext4", "-O", "^has_journal", "-L", "ktrace-debug", "-d"])
        .arg(&staging)
        .arg(&partial)
        .arg(format!("{kib}k"))
        .status()
        .context("running mke2fs (package e2fsprogs)")?;
    ensure!(status.success(), "mke2fs for {} failed: {status}", disk.display());
    fs::rename(&partial, &disk).with_context(|| format!("renaming {}", partial.display()))?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    Ok(Some(disk))
}

/// The newest package matching the series, by the numbers in its name (6.12.117 > 6.12.99).
fn newest_package(series: Series) -> anyhow::Result<String> {
    let search = || {
        output_of(Command::new("apt-cache").args([
            "search",
            "--names-only",
            series.package_pattern(),
        ]))
        .map(|out| {
            out.lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect::<Vec<_>>()
        })
    };
    let mut names = search()?;
    if names.is_empty() {
        eprintln!("ktrace: no {series} kernel in the apt lists; running apt-get update");
        output_of(Command::new("apt-get").args(["update", "-qq"]))?;
        names = search()?;
    }
    names
        .into_iter()
        .max_by_key(|name| numbers(name))
        .with_context(|| format!("no package matches {}", series.package_pattern()))
}

/// The decimal numbers in `s`, in order: a version key for package names.
fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
}

/// `apt-get download SPEC` into `dir`; the .deb's path.
fn apt_download(spec: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    // Root downloads itself: apt's `_apt` sandbox user cannot write to the cache directory.
    let status = Command::new("apt-get")
        .args(["download", "-qq", "-o", "APT::Sandbox::User=root", spec])
        .current_dir(dir)
        .status()
        .with_context(|| format!("running apt-get download {spec}"))?;
    ensure!(status.success(), "apt-get download {spec} failed: {status}");
    fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {spec} left no .deb"))
}

/// Downloads and unpacks `package` into `dir`, atomically: the directory appears only complete.
fn download(package: &str, version: &str, dir: &Path) -> anyhow::Result<()> {
    let mut staging = dir.as_os_str().to_owned();
    staging.push(".partial");
    let staging = PathBuf::from(staging);
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let deb = apt_download(&format!("{package}={version}"), &staging)?;
    let tree = staging.join("tree");
    let status = Command::new("dpkg")
        .arg("-x")
        .args([&deb, &tree])
        .status()
        .with_context(|| format!("running dpkg -x {}", deb.display()))?;
    ensure!(status.success(), "dpkg -x {} failed: {status}", deb.display());
    fs::rename(&tree, dir)
        .with_context(|| format!("moving {} to {}", tree.display(), dir.display()))?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Series, depends, numbers};

    #[test]
    fn modinfo_depends_are_read() {
        let ko = b"\x7fELF...\0license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0";
        assert_eq!(depends(ko), ["virtio", "virtio_ring"]);
        assert!(depends(b"\0depends=\0name=veth\0").is_empty());
    }

    #[test]
    fn series_read_their_names() {
        assert_eq!("6.12".parse::<Series>().unwrap(), Series::V6_12);
        assert_eq!("6.1".parse::<Series>().unwrap().to_string(), "6.1");
        assert!("6.2".parse::<Series>().is_err());
    }

    #[test]
    fn package_names_order_by_their_numbers() {
        let newer = numbers("linux-image-6.12.117+deb12-cloud-amd64-unsigned");
        let older = numbers("linux-image-6.12.99+deb12-cloud-amd64-unsigned");
        assert!(newer > older);
        assert!(numbers("linux-image-6.1.0-56-cloud") > numbers("linux-image-6.1.0-9-cloud"));
    }
}
