//! A small QEMU VM standing in for Firecracker (which is not packaged for Debian): one vCPU,
//! no firmware devices beyond the machine's own (`-nodefaults`), Debian's 6.12 cloud kernel
//! (the one the test guests run, downloaded once with `apt-get download`) booted directly with
//! an initramfs holding the study's root file system, the virtio modules and an `/init`
//! (vm-init.sh) that runs the benchmark and powers off. File I/O goes to an ext4 disk image of
//! the run's own (virtio-blk), the network benchmark through a tap device in the server's
//! namespace (virtio-net).
//!
//! The machine is QEMU's `pc`, not `-M microvm`, Firecracker's closer sibling: without HPET or
//! ACPI timers, a microvm kernel under TCG fails to calibrate its clocks on a busy host and
//! never reaches /init. The host side of a VM is the QEMU process and its threads, all in the
//! run's cgroup. QEMU uses KVM where `/dev/kvm` works (tried by booting the kernel, not by
//! version checks) and TCG, software emulation, where it does not: then the host kernel never
//! enters `arch/x86/kvm`, and the guest runs several times slower.
use std::{
    ffi::{OsStr, OsString},
    fs,
    hash::{DefaultHasher, Hash as _, Hasher as _},
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};
use tracer_images::{
    cpio::Archive,
    kernel::{self, Kernel, Series},
    program,
};

use super::{Job, output};
use crate::study::{
    network::{self, Network},
    rootfs,
};

const INIT: &str = include_str!("vm-init.sh");
/// The virtio block and network drivers (the kernel builds virtio-pci and ext4 in).
const MODULES: &[&str] = &["virtio_blk", "virtio_net"];
/// The guest's memory and the benchmark disk's size: room for sysbench's 64 MiB of files.
const MEMORY_MB: u32 = 512;
const DISK_BYTES: u64 = 256 << 20;
/// How long the KVM probe waits for the kernel's first line.
const KVM_PROBE: Duration = Duration::from_secs(10);
/// The kernel's command line: quiet, so that the serial console carries little but the
/// benchmark's output; a panic ends QEMU (`panic=-1` with `-no-reboot`).
const APPEND: &str = "console=ttyS0 rdinit=/init quiet loglevel=1 panic=-1";
const BEGIN: &str = "KTRACE-STUDY-BEGIN";
const END: &str = "KTRACE-STUDY-END ";

/// How QEMU runs the guest's instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Accel {
    Kvm,
    /// Software emulation, and why KVM was not used.
    Tcg(String),
}

#[derive(Debug)]
pub struct Qemu {
    qemu: PathBuf,
    version: String,
    kernel: Kernel,
    initramfs: PathBuf,
    accel: Accel,
}

impl Qemu {
    pub async fn prepare() -> anyhow::Result<Self> {
        let qemu = program::find("qemu-system-x86_64")?;
        program::find("mkfs.ext4")?;
        let version = super::first_line(&qemu, &["--version"])?;
        let kernel = kernel::fetch(Series::V6_12).context("the microVM's kernel")?;
        let initramfs = initramfs(&kernel, &rootfs::prepare()?)?;
        let accel = probe_kvm(&qemu, &kernel).await?;
        Ok(Self { qemu, version, kernel, initramfs, accel })
    }

    pub fn describe(&self) -> String {
        let accel = match &self.accel {
            Accel::Kvm => "KVM".to_owned(),
            Accel::Tcg(why) => format!("TCG software emulation ({why})"),
        };
        format!(
            "{}, pc machine, 1 vCPU, {MEMORY_MB} MiB, {accel}; guest kernel {}; virtio-blk ext4 \
             disk, virtio-net over a tap",
            self.version, self.kernel.release
        )
    }

    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        let disk = job.scratch.join("disk.img");
        make_disk(&disk)?;
        let mut script = String::new();
        if job.network.is_some() {
            let address = format!("{}/{}", network::CLIENT, network::PREFIX);
            script += &format!("ip addr add {address} dev eth0\nip link set eth0 up\n");
        }
        script += &job.script(rootfs::BENCH_DIR);
        let initrd = job.scratch.join("initrd.cpio");
        run_initrd(&self.initramfs, &script, &initrd)?;
        let console = output(
            job.cgroup,
            &self.command_line(&disk, &initrd, job.network),
            &format!("the microVM ({} benchmark)", job.benchmark),
        )
        .await?;
        benchmark_output(&console)
    }

    fn command_line(&self, disk: &Path, initrd: &Path, network: Option<&Network>) -> Vec<OsString> {
        let mut drive = std::ffi::OsString::from("id=disk,format=raw,if=none,file=");
        drive.push(disk);
        let accel = match self.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg(_) => "tcg",
        };
        let memory = MEMORY_MB.to_string();
        let mut args: Vec<&OsStr> = [
            self.qemu.as_os_str(),
            "-M".as_ref(),
            "pc".as_ref(),
            "-accel".as_ref(),
            accel.as_ref(),
            "-cpu".as_ref(),
            "max".as_ref(),
            "-m".as_ref(),
            memory.as_ref(),
            "-smp".as_ref(),
            "1".as_ref(),
            "-nodefaults".as_ref(),
            "-no-user-config".as_ref(),
            "-display".as_ref(),
            "none".as_ref(),
            "-no-reboot".as_ref(),
            "-serial".as_ref(),
            "stdio".as_ref(),
            "-kernel".as_ref(),
            self.kernel.vmlinuz.as_os_str(),
            "-initrd".as_ref(),
            initrd.as_os_str(),
            "-append".as_ref(),
            APPEND.as_ref(),
            "-drive".as_ref(),
            drive.as_os_str(),
            "-device".as_ref(),
            "virtio-blk-pci,drive=disk".as_ref(),
        ]
        .into();
        let tap = format!("tap,id=net,ifname={},script=no,downscript=no", network::TAP);
        if network.is_some() {
            // QEMU opens the tap in the server's namespace, where it was created.
            args.extend::<[&OsStr; 4]>([
                "-netdev".as_ref(),
                tap.as_ref(),
                "-device".as_ref(),
                "virtio-net-pci,netdev=net".as_ref(),
            ]);
        }
        super::command_line(network, &args)
    }
}

/// The cached initramfs for `kernel`: the study's root file system, `/init` and the virtio
/// modules, built when its inputs are new.
fn initramfs(kernel: &Kernel, rootfs: &Path) -> anyhow::Result<PathBuf> {
    let mut key = DefaultHasher::new();
    (rootfs, &kernel.release, MODULES, INIT).hash(&mut key);
    let path = Path::new(rootfs::CACHE).join(format!(
        "initramfs-{}-{:016x}.cpio",
        kernel.release,
        key.finish()
    ));
    if path.is_file() {
        return Ok(path);
    }
    eprintln!("ktrace: study: building the microVM's initramfs {}", path.display());
    let mut archive = Archive::default();
    for entry in fs::read_dir(rootfs).with_context(|| format!("listing {}", rootfs.display()))? {
        let entry = entry.with_context(|| format!("listing {}", rootfs.display()))?;
        archive.host_tree(&Path::new("/").join(entry.file_name()), &entry.path())?;
    }
    archive.bytes("/init", 0o755, INIT);
    let modules = kernel.modules_with_deps(MODULES)?;
    let order: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    archive.bytes("/etc/ktrace-study/modules", 0o644, order.join("\n") + "\n");
    for (name, ko) in modules {
        archive.bytes(&format!("/lib/modules/{name}.ko"), 0o644, ko);
    }
    let mut file = tempfile::NamedTempFile::new_in(rootfs::CACHE)
        .with_context(|| format!("creating a file in {}", rootfs::CACHE))?;
    let mut out = std::io::BufWriter::new(file.as_file_mut());
    archive.write(&mut out)?;
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    drop(out);
    file.persist(&path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The run's initrd: the cached initramfs followed by a small archive with the run's script;
/// the kernel unpacks both, one after the other.
fn run_initrd(initramfs: &Path, script: &str, to: &Path) -> anyhow::Result<()> {
    fs::copy(initramfs, to).with_context(|| format!("copying {}", initramfs.display()))?;
    let mut archive = Archive::default();
    archive.bytes("/etc/ktrace-study/run.sh", 0o644, script);
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(to)
        .with_context(|| format!("opening {}", to.display()))?;
    archive.write(&mut file).with_context(|| format!("writing {}", to.display()))
}

/// A fresh ext4 disk image of [`DISK_BYTES`], fully initialised on the host so that the
/// guest does not spend the benchmark doing it.
fn make_disk(path: &Path) -> anyhow::Result<()> {
    fs::File::create(path)
        .and_then(|f| f.set_len(DISK_BYTES))
        .with_context(|| format!("creating {}", path.display()))?;
    let mkfs = program::find("mkfs.ext4")?;
    tracer_images::output_of(
        std::process::Command::new(mkfs)
            .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
            .arg(path),
    )
    .map(drop)
}

/// What the run's script printed, between the marker lines of vm-init.sh; an error when the
/// VM stopped early or the script failed.
fn benchmark_output(console: &str) -> anyhow::Result<String> {
    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let last = |n: usize| lines[lines.len().saturating_sub(n)..].join("\n  ");
    let Some(begin) = lines.iter().position(|l| l.ends_with(BEGIN)) else {
        bail!("the microVM did not start the benchmark; its console ended with:\n  {}", last(10));
    };
    let Some(end) = lines.iter().position(|l| l.contains(END)) else {
        bail!("the microVM stopped before the benchmark finished:\n  {}", last(10));
    };
    let code = lines[end].split(END).nth(1).unwrap_or_default().trim();
    if code != "0" {
        bail!("the benchmark failed in the microVM (exit status {code}):\n  {}", last(10));
    }
    Ok(lines[begin + 1..end].join("\n"))
}

/// Whether QEMU can run the kernel with KVM: boots it and waits for its first console line.
/// On hosts whose /dev/kvm exists but cannot run a guest (nested virtualisation without
/// support), QEMU aborts or the guest never prints.
async fn probe_kvm(qemu: &Path, kernel: &Kernel) -> anyhow::Result<Accel> {
    if !Path::new("/dev/kvm").exists() {
        return Ok(Accel::Tcg("no /dev/kvm".to_owned()));
    }
    let mut child = Command::new(qemu)
        .args(["-M", "pc", "-accel", "kvm", "-cpu", "max", "-m", "256", "-smp", "1"])
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
        .args(["-serial", "stdio", "-kernel"])
        .arg(&kernel.vmlinuz)
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let mut lines = BufReader::new(child.stdout.take().context("qemu stdout")?).lines();
    let booted = tokio::time::timeout(KVM_PROBE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("Linux version") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if booted {
        return Ok(Accel::Kvm);
    }
    let _ = child.start_kill();
    let out = child.wait_with_output().await.context("waiting for qemu")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr.lines().find(|l| l.contains("error")).unwrap_or("the guest never printed");
    Ok(Accel::Tcg(format!("KVM does not work here: {}", why.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_output_lies_between_the_markers() {
        let console = "[    0.5] random: crng init done\r\nKTRACE-STUDY-BEGIN\r\n\
                       events per second: 600.5\r\nKTRACE-STUDY-END 0\r\n";
        assert_eq!(benchmark_output(console).unwrap(), "events per second: 600.5");
        let failed = "KTRACE-STUDY-BEGIN\nsh: sysbench: not found\nKTRACE-STUDY-END 127\n";
        let err = format!("{:#}", benchmark_output(failed).unwrap_err());
        assert!(err.starts_with("the benchmark failed in the microVM (exit status 127)"), "{err}");
        assert!(err.contains("sysbench: not found"), "{err}");
        let panicked = "Kernel panic - not syncing: VFS\n";
        assert!(format!("{:#}", benchmark_output(panicked).unwrap_err()).contains("Kernel panic"));
    }
}
