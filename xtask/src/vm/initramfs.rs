//! The guest's root file system, as two cpio archives:
//!
//! - the base initramfs, one per kernel: busybox with its applet links, `/init`
//!   (scripts/guest/init), the static ktrace and `root` test binaries, the host's benchmarks
//!   and container runtimes with their libraries, and the kernel modules the tests need. It is
//!   cached under `target/guest/initramfs/`, named by a key over its inputs (host files by
//!   identity, size and mtime), and written only when that key is new;
//! - a small per-run archive with the command, a nonce for the verdict line, and the `--add`
//!   files, which the guest reads from a read-only virtio disk, so a new command does not touch
//!   the base.
use std::{
    fs,
    hash::{DefaultHasher, Hash as _, Hasher as _},
    io::{BufWriter, Write as _},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;
use tracer_images::{cpio::Archive, kernel::Kernel, output_of, program};

use super::binaries;
use crate::workspace_file;

const INIT: &str = include_str!("../../../scripts/guest/init");

/// Where ktrace and the `root` tests live in the guest.
pub const GUEST_KTRACE: &str = "/bin/ktrace";
pub const GUEST_ROOT_TESTS: &str = "/bin/ktrace-root-tests";

/// Modules for the tests: veth pairs and overlay mounts, and virtio_blk for the disks that
/// bring the per-run archive in and the command's files back out.
const MODULES: &[&str] = &["veth", "overlay", "virtio_pci", "virtio_blk"];

/// Host programs for the guest: the workloads' benchmarks, the container runtimes, and tmux
/// for the live view's tests of function counting.
const HOST_PROGRAMS: &[&str] = &["sysbench", "iperf3", "fio", "runc", "runsc", "ip", "tmux"];
/// glibc's C.UTF-8 locale (Debian's libc-bin), for tmux.
const UTF8_LOCALE: &str = "/usr/lib/locale/C.utf8";

/// The base initramfs for `kernel`, built if its inputs changed since the last build.
pub fn base(kernel: &Kernel, bins: &binaries::Static) -> anyhow::Result<PathBuf> {
    let mut archive = Archive::default();
    for dir in ["/dev", "/proc", "/sys", "/mnt", "/run", "/etc/ktrace-vm"] {
        archive.dir(dir, 0o755);
    }
    archive.dir("/tmp", 0o1777);
    archive.dir("/root", 0o700);
    // runc and runsc keep their state under /run (runsc: /var/run).
    archive.symlink("/var/run", "/run");
    // The kernel opens /dev/console for pid 1 before /init can mount devtmpfs.
    archive.char_device("/dev/console", 0o600, 5, 1);
    archive.bytes("/init", 0o755, INIT);
    archive.bytes(
        "/etc/passwd",
        0o644,
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    archive.bytes("/etc/group", 0o644, "root:x:0:\nnogroup:x:65534:\n");

    let busybox = Path::new("/bin/busybox");
    archive.host_file(busybox, busybox)?;
    // `--list-full` gives each applet's usual path, e.g. `bin/sh`, `usr/sbin/chroot`.
    for applet in output_of(Command::new(busybox).arg("--list-full"))?.lines() {
        archive.symlink(applet, "/bin/busybox");
    }

    archive.host_file(Path::new(GUEST_KTRACE), &bins.ktrace)?;
    archive.host_file(Path::new(GUEST_ROOT_TESTS), &bins.root_tests)?;
    for name in HOST_PROGRAMS {
        for path in program::with_libraries(&program::find(name)?)? {
            archive.host_file(&path, &path)?;
        }
    }
    // tmux refuses to start without a UTF-8 locale; glibc's C.UTF-8 is this directory.
    let locale = Path::new(UTF8_LOCALE);
    archive.host_tree(locale, locale)?;

    let modules = kernel.modules_with_deps(MODULES)?;
    let order: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    archive.bytes("/etc/ktrace-vm/modules", 0o644, order.join("\n") + "\n");
    for (name, ko) in modules {
        archive.bytes(&format!("/lib/modules/{name}.ko"), 0o644, ko);
    }

    let dir = workspace_file("target/guest/initramfs");
    let key = input_key(&archive)?;
    let path = dir.join(format!("{}-{key:016x}.cpio", kernel.release));
    if path.is_file() {
        return Ok(path);
    }
    eprintln!("xtask: writing {}", path.display());
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    remove_stale(&dir, &kernel.release)?;
    write_atomically(&path, &archive)?;
    Ok(path)
}

/// The archive's input key, combined with the xtask executable's identity: this code decides
/// the image's layout, so a rebuilt xtask rebuilds the image.
fn input_key(archive: &Archive) -> anyhow::Result<u64> {
    let xtask = std::env::current_exe().context("locating the xtask executable")?;
    let meta = fs::metadata(&xtask).with_context(|| format!("reading {}", xtask.display()))?;
    let mut h = DefaultHasher::new();
    (archive.input_key()?, meta.len(), meta.mtime(), meta.mtime_nsec()).hash(&mut h);
    Ok(h.finish())
}

/// Writes the per-run archive: `/etc/ktrace-vm/run` (the command as a shell script),
/// `/etc/ktrace-vm/nonce` and the `--add` files as (host path, guest path).
pub fn run_archive(
    path: &Path,
    command: &[String],
    nonce: &str,
    adds: &[(PathBuf, PathBuf)],
) -> anyhow::Result<()> {
    let mut archive = Archive::default();
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    let script = format!("export KTRACE_BIN={GUEST_KTRACE}\nexec {}\n", words.join(" "));
    archive.bytes("/etc/ktrace-vm/run", 0o644, script);
    archive.bytes("/etc/ktrace-vm/nonce", 0o644, nonce);
    for (host, guest) in adds {
        archive.host_tree(guest, host)?;
    }
    write_atomically(path, &archive)?;
    // A disk is whole 512-byte sectors: QEMU would cut off a shorter tail.
    let file = fs::OpenOptions::new().write(true).open(path)?;
    let len = file.metadata()?.len();
    file.set_len(len.next_multiple_of(512)).with_context(|| format!("padding {}", path.display()))
}

fn write_atomically(path: &Path, archive: &Archive) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let file =
        fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    archive.write(&mut out).with_context(|| format!("writing {}", partial.display()))?;
    out.flush().with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("renaming {}", partial.display()))
}

/// Removes earlier images of this kernel: only the newest inputs matter.
fn remove_stale(dir: &Path, release: &str) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.strip_prefix(release).is_some_and(|rest| rest.starts_with('-')) {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// `word` as one POSIX shell word.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
