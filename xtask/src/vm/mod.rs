//! Guest-kernel harness: run a command as root inside a QEMU guest that boots a Debian distro
//! kernel, with ktrace on its PATH. The host kernel lacks kprobes and fentry; these guests
//! have them, and the 6.1 guest is the oldest kernel ktrace supports.
//!
//! - `tracer_images::kernel` fetches and caches the kernel packages,
//! - [`binaries`] builds the static ktrace and tests,
//! - [`initramfs`] makes the guest's root file system (with `tracer_images::cpio`),
//! - [`qemu`] boots it and decides the verdict.
mod binaries;
mod initramfs;
mod qemu;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use tracer_images::kernel::{self, Series};

use self::qemu::{Outcome, Verdict};

/// Exit statuses of `cargo xtask vm` when the command's own status is unknown.
const EXIT_TIMED_OUT: u8 = 124;
const EXIT_CRASHED: u8 = 125;

#[derive(Args)]
#[command(after_help = "\
Exits with the command's status; 124 if the guest timed out, 125 if its kernel crashed.

Examples:
  cargo xtask vm -- ktrace run -- true
  cargo xtask vm --kernel 6.1 --add load.sh -- sh load.sh
  cargo xtask vm -- ktrace-root-tests --list")]
pub struct VmArgs {
    /// Kernel series to boot: Debian 12's newest 6.12 or 6.1 cloud kernel.
    #[arg(long, value_name = "6.12|6.1", default_value = "6.12")]
    kernel: Series,
    /// Copy a host file or directory into the guest, at /root/<name> by default; a relative
    /// GUEST_PATH is under /root, the command's working directory. Repeatable.
    #[arg(long, value_name = "PATH[:GUEST_PATH]")]
    add: Vec<String>,
    /// Seconds before the guest is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// The command to run in the guest, as root, in /root.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// `cargo xtask vm`.
pub fn vm(args: VmArgs) -> anyhow::Result<ExitCode> {
    let adds = args.add.iter().map(|a| parse_add(a)).collect::<anyhow::Result<Vec<_>>>()?;
    let bins = binaries::build_static()?;
    let guest = Guest::prepare(args.kernel, &bins)?;
    let outcome = guest.run(&args.command, &adds, Duration::from_secs(args.timeout))?;
    Ok(match outcome.verdict {
        Verdict::Exited(code) => {
            if code != 0 {
                print_tail(&outcome);
            }
            ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
        }
        Verdict::Crashed(_) => ExitCode::from(EXIT_CRASHED),
        Verdict::TimedOut(_) => ExitCode::from(EXIT_TIMED_OUT),
    })
}

/// The `root` integration tests in a guest on every kernel series; fails naming each kernel
/// whose tests failed and the failed tests.
pub fn guest_tests() -> anyhow::Result<()> {
    let bins = binaries::build_static()?;
    let failures: Vec<String> = Series::ALL
        .into_iter()
        .filter_map(|series| match root_tests_on(series, &bins) {
            Ok(failure) => failure,
            Err(e) => Some(format!("the {} kernel: {e:#}", series.name())),
        })
        .collect();
    ensure!(failures.is_empty(), "guest tests failed on:\n  {}", failures.join("\n  "));
    Ok(())
}

/// Runs the `root` tests on `series`; `Some` describes a failure.
fn root_tests_on(series: Series, bins: &binaries::Static) -> anyhow::Result<Option<String>> {
    let guest = Guest::prepare(series, bins)?;
    let command = [initramfs::GUEST_ROOT_TESTS.to_owned()];
    // The suite takes about 5 minutes alone on an idle host; a loaded one doubles that.
    let outcome = guest.run(&command, &[], Duration::from_secs(1200))?;
    let release = &guest.kernel.release;
    Ok(match &outcome.verdict {
        Verdict::Exited(0) => None,
        Verdict::Exited(code) => {
            print_tail(&outcome);
            let mut failure = format!("{release}: tests exited {code}");
            for name in &outcome.failed_tests {
                failure += &format!("\n    FAILED {name}");
            }
            Some(failure)
        }
        other => Some(format!("{release}: {other}")),
    })
}

/// Where the files the root tests left in the 6.12 guest end up on the host.
pub fn guest_out_dir() -> anyhow::Result<PathBuf> {
    Ok(out_dir(&kernel::fetch(Series::V6_12)?))
}

/// Where the files a command left in the guest's $KTRACE_OUT end up, per kernel.
fn out_dir(kernel: &kernel::Kernel) -> PathBuf {
    crate::workspace_file("target/guest/out").join(&kernel.release)
}

/// The 6.12 guest kernel's vmlinux with DWARF, which the source-location and line tests read,
/// and the source files the line tests show.
pub fn fetch_debug_image() -> anyhow::Result<()> {
    let kernel = kernel::fetch(Series::V6_12)?;
    let vmlinux = kernel::fetch_debug_vmlinux(&kernel)?;
    eprintln!("xtask: kernel debug image {}", vmlinux.display());
    let source = kernel::fetch_source_files(&kernel)?;
    eprintln!("xtask: kernel source files in {}", source.display());
    Ok(())
}

/// `cargo xtask bench`: the `attach` benchmark in the 6.12 guest, whose kernel has
/// kprobe.multi, `runs` times in one boot. Returns the directory where each run left its
/// report and targets, `attach-<run>.md` and `attach-<run>.tsv`; an error when a run did not
/// finish (a missed target is no error: the .tsv says it).
pub fn bench(runs: u32) -> anyhow::Result<PathBuf> {
    let bins = binaries::build_static()?;
    let bench = binaries::build_static_bench()?;
    let guest = Guest::prepare(Series::V6_12, &bins)?;
    // busybox sh. The bench exits 1 when it missed a target, 2 when it failed.
    let numbers: Vec<String> = (1..=runs).map(|n| n.to_string()).collect();
    let script = format!(
        "for n in {}; do /root/attach-bench \"$KTRACE_OUT/attach-$n.md\"; status=$?; \
         [ $status -le 1 ] || exit $status; done",
        numbers.join(" ")
    );
    let command = ["sh".to_owned(), "-c".to_owned(), script];
    let adds = [(bench, PathBuf::from("/root/attach-bench"))];
    let outcome = guest.run(&command, &adds, Duration::from_secs(1200) * runs)?;
    if outcome.verdict != Verdict::Exited(0) {
        print_tail(&outcome);
        bail!("the benchmark did not finish: {}", outcome.verdict);
    }
    Ok(out_dir(&guest.kernel))
}

/// A kernel and its base initramfs, ready to boot.
struct Guest {
    kernel: kernel::Kernel,
    initramfs: PathBuf,
    /// The kernel's DWARF image and sources, once `cargo xtask test` fetched them.
    debug_disk: Option<PathBuf>,
}

impl Guest {
    fn prepare(series: Series, bins: &binaries::Static) -> anyhow::Result<Self> {
        let kernel = kernel::fetch(series)?;
        let initramfs = initramfs::base(&kernel, bins)
            .with_context(|| format!("building the initramfs for {}", kernel.release))?;
        let debug_disk = kernel::debug_disk(&kernel)
            .with_context(|| format!("building the debug disk for {}", kernel.release))?;
        Ok(Self { kernel, initramfs, debug_disk })
    }

    fn run(
        &self,
        command: &[String],
        adds: &[(PathBuf, PathBuf)],
        timeout: Duration,
    ) -> anyhow::Result<Outcome> {
        let nonce = nonce();
        let run_archive = self.initramfs.with_file_name(format!("run-{nonce}.cpio"));
        initramfs::run_archive(&run_archive, command, &nonce, adds)?;
        let outbox = self.initramfs.with_file_name(format!("out-{nonce}.img"));
        fs::File::create(&outbox)
            .and_then(|f| f.set_len(OUTBOX_BYTES))
            .with_context(|| format!("creating {}", outbox.display()))?;
        eprintln!("xtask: booting {} to run {command:?}", self.kernel.release);
        let outcome = qemu::Boot {
            vmlinuz: &self.kernel.vmlinuz,
            initramfs: &self.initramfs,
            run_archive: &run_archive,
            nonce: &nonce,
            outbox: &outbox,
            debug_disk: self.debug_disk.as_deref(),
            timeout,
        }
        .run();
        let _ = std::fs::remove_file(&run_archive);
        let unpacked = unpack_outbox(&outbox, &out_dir(&self.kernel));
        let _ = std::fs::remove_file(&outbox);
        unpacked?;
        let outcome = outcome.with_context(|| format!("booting {}", self.kernel.release))?;
        let boot = outcome.boot.map_or("-".to_owned(), |b| format!("{:.1} s", b.as_secs_f64()));
        eprintln!(
            "xtask: {}: {} (boot to command {boot}, total {:.1} s)",
            self.kernel.release,
            outcome.verdict,
            outcome.total.as_secs_f64()
        );
        if !matches!(outcome.verdict, Verdict::Exited(_)) {
            print_tail(&outcome);
        }
        Ok(outcome)
    }
}

/// Size of the disk the guest hands files back on (sparse on the host).
const OUTBOX_BYTES: u64 = 64 << 20;

/// Unpacks the tar stream the guest wrote onto `image` into `dir` (emptied first); an image
/// the guest left blank leaves `dir` empty.
fn unpack_outbox(image: &Path, dir: &Path) -> anyhow::Result<()> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut head = [0u8; 512];
    fs::File::open(image)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .with_context(|| format!("reading {}", image.display()))?;
    if head.iter().all(|&b| b == 0) {
        return Ok(());
    }
    let status = Command::new("tar")
        .arg("-xf")
        .arg(image)
        .arg("-C")
        .arg(dir)
        .status()
        .context("running tar")?;
    ensure!(status.success(), "unpacking the guest's files from {}: {status}", image.display());
    Ok(())
}

fn print_tail(outcome: &Outcome) {
    eprintln!("xtask: last {} console lines:", outcome.tail.len());
    for line in &outcome.tail {
        eprintln!("  | {line}");
    }
}

/// `PATH[:GUEST_PATH]` as (host path, guest path); the guest path defaults to /root/<name>.
fn parse_add(spec: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (host, guest) = match spec.split_once(':') {
        Some((host, guest)) => (Path::new(host), Path::new("/root").join(guest)),
        None => {
            let name = Path::new(spec)
                .file_name()
                .with_context(|| format!("--add {spec}: no file name"))?;
            (Path::new(spec), Path::new("/root").join(name))
        }
    };
    ensure!(host.exists(), "--add {spec}: {} does not exist", host.display());
    Ok((host.to_owned(), guest))
}

/// A value no command output can guess, for the verdict line.
fn nonce() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse_add;

    #[test]
    fn add_defaults_to_root_and_keeps_absolute_guest_paths() {
        let (host, guest) = parse_add("/etc/hostname").unwrap();
        assert_eq!(
            (host.as_path(), guest.as_path()),
            (Path::new("/etc/hostname"), Path::new("/root/hostname"))
        );
        let (_, guest) = parse_add("/etc/hostname:/etc/h").unwrap();
        assert_eq!(guest, Path::new("/etc/h"));
        let (_, guest) = parse_add("/etc/hostname:sub/h").unwrap();
        assert_eq!(guest, Path::new("/root/sub/h"));
    }
}
