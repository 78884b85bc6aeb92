//! Boots a kernel under QEMU, streams its serial console to stdout, and turns what happened
//! into a [`Verdict`].
//!
//! QEMU runs with TCG (software emulation): the development and CI machines are themselves
//! VMs whose /dev/kvm exists but fails on the first guest instruction (nested KVM is not
//! supported there; QEMU aborts with "failed to set MSR"), and TCG boots a Debian kernel to
//! `/init` in about 1.5 s anyway. The guest has no network device (`-nodefaults`).
use std::{
    collections::VecDeque,
    fmt,
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// How a guest run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `/init` printed the verdict line: the command exited with this status.
    Exited(i32),
    /// The kernel panicked, or QEMU ended without a verdict line.
    Crashed(String),
    /// The timeout passed; QEMU was killed.
    TimedOut(Duration),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Exited(code) => write!(f, "command exited {code}"),
            Verdict::Crashed(why) => write!(f, "guest CRASHED: {why}"),
            Verdict::TimedOut(after) => write!(f, "guest TIMED OUT after {} s", after.as_secs()),
        }
    }
}

/// The result of one boot.
pub struct Outcome {
    pub verdict: Verdict,
    /// The last console lines, for failure reports.
    pub tail: Vec<String>,
    /// Console lines that say a test failed (`test NAME ... FAILED`).
    pub failed_tests: Vec<String>,
    /// From starting QEMU to `/init` starting the command.
    pub boot: Option<Duration>,
    pub total: Duration,
}

/// Guest memory for a run whose archive has `archive` bytes, in MiB: 1 GiB for the tests,
/// and twice the archive on top, since the guest unpacks it into its root file system, a
/// tmpfs limited to half the memory (a 340 MB debug vmlinux did not fit in 1 GiB).
fn memory_mib(archive: u64) -> u64 {
    1024 + 2 * archive.div_ceil(1 << 20)
}

/// Console lines kept for failure reports.
const TAIL_LINES: usize = 30;

pub struct Boot<'a> {
    pub vmlinuz: &'a Path,
    pub initramfs: &'a Path,
    /// The per-run cpio archive, the guest's first (read-only) virtio disk: fw_cfg, read a
    /// byte per I/O port access, took minutes for a 20 MB `--add` under TCG.
    pub run_archive: &'a Path,
    /// The nonce in the verdict line `KTRACE-VM-EXIT[<nonce>]: <status>`, so that no output of
    /// the command can pass for it.
    pub nonce: &'a str,
    /// A raw disk image, the guest's second virtio disk, that it writes its output files onto
    /// as a tar stream.
    pub outbox: &'a Path,
    /// The kernel's DWARF image and source files on a read-only ext4 disk, the third, which
    /// the guest mounts on /usr/lib/debug.
    pub debug_disk: Option<&'a Path>,
    pub timeout: Duration,
}

impl Boot<'_> {
    pub fn run(&self) -> anyhow::Result<Outcome> {
        let mut run = std::ffi::OsString::from("format=raw,if=virtio,readonly=on,file=");
        run.push(self.run_archive);
        let mut outbox = std::ffi::OsString::from("format=raw,if=virtio,file=");
        outbox.push(self.outbox);
        let memory = memory_mib(
            std::fs::metadata(self.run_archive)
                .with_context(|| format!("reading {}", self.run_archive.display()))?
                .len(),
        );
        let mut cmd = Command::new("qemu-system-x86_64");
        // Two vCPUs, but emulated by one host thread: with multi-threaded TCG a vCPU can run
        // a stale translation of kernel text another vCPU just patched (attaching a
        // tracepoint flips static keys with int3), and the guest dies with "Oops: int3" in
        // syscall_exit_to_user_mode_prepare (seen on 6.12 with tests attaching in parallel).
        cmd.args(["-accel", "tcg,thread=single", "-cpu", "max", "-smp", "2"])
            .args(["-m", &memory.to_string()])
            .args(["-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot"])
            .arg("-kernel")
            .arg(self.vmlinuz)
            .arg("-initrd")
            .arg(self.initramfs)
            .arg("-drive")
            .arg(run)
            .arg("-drive")
            .arg(outbox)
            // panic=-1 reboots at once on a panic, and -no-reboot turns that into QEMU's exit.
            .args(["-append", "console=ttyS0 quiet panic=-1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(disk) = self.debug_disk {
            let mut drive = std::ffi::OsString::from("format=raw,if=virtio,readonly=on,file=");
            drive.push(disk);
            cmd.arg("-drive").arg(drive);
        }
        let start = Instant::now();
        let mut qemu =
            cmd.spawn().context("starting qemu-system-x86_64 (scripts/setup.sh installs it)")?;
        let stdout = qemu.stdout.take().context("qemu stdout")?;
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                buf.clear();
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = start + self.timeout;
        let marker = format!("KTRACE-VM-EXIT[{}]: ", self.nonce);
        let mut console = Console::default();
        let mut verdict = None;
        while verdict.is_none() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match lines.recv_timeout(left) {
                Ok(line) => {
                    verdict = parse_verdict(&line, &marker);
                    console.push(line, start.elapsed());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = qemu.wait().context("waiting for qemu")?;
                    verdict = Some(Verdict::Crashed(match &console.panic {
                        Some(panic) => format!("kernel panic: {panic}"),
                        None => format!("QEMU exited ({status}) without a verdict line"),
                    }));
                }
            }
        }
        let verdict = match verdict {
            Some(Verdict::Exited(code)) => {
                // The guest powers off right after the verdict line; the rest is its shutdown.
                let _ = wait_or_kill(&mut qemu, Duration::from_secs(10));
                Verdict::Exited(code)
            }
            Some(crashed) => crashed,
            None => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                Verdict::TimedOut(self.timeout)
            }
        };
        Ok(Outcome {
            verdict,
            tail: console.tail.into(),
            failed_tests: console.failed_tests,
            boot: console.boot,
            total: start.elapsed(),
        })
    }
}

/// What the console showed so far; every line is also printed to stdout.
#[derive(Default)]
struct Console {
    tail: VecDeque<String>,
    failed_tests: Vec<String>,
    panic: Option<String>,
    boot: Option<Duration>,
}

impl Console {
    fn push(&mut self, line: String, at: Duration) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
        if self.boot.is_none() && line.starts_with("ktrace-vm: running the command") {
            self.boot = Some(at);
        }
        if self.panic.is_none() && line.contains("Kernel panic") {
            self.panic = Some(line.clone());
        }
        if let Some(name) = failed_test(&line) {
            self.failed_tests.push(name);
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// The test a libtest line `test NAME ... FAILED` reports failed. The guest's console is a
/// terminal, so the status may be coloured.
fn failed_test(line: &str) -> Option<String> {
    let (name, status) = line.strip_prefix("test ")?.split_once(" ... ")?;
    (strip_ansi(status).trim() == "FAILED").then(|| name.trim().to_owned())
}

/// `s` without ANSI escape sequences (`ESC [ ... final byte`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| ('@'..='~').contains(c) && *c != '[');
        } else {
            out.push(c);
        }
    }
    out
}

/// The verdict in `line`, which may follow output of the command that lacked a final newline.
fn parse_verdict(line: &str, marker: &str) -> Option<Verdict> {
    let (_, code) = line.split_once(marker)?;
    code.trim().parse().ok().map(Verdict::Exited)
}

fn wait_or_kill(child: &mut std::process::Child, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Verdict, failed_test, memory_mib, parse_verdict};

    #[test]
    fn memory_grows_with_the_archive() {
        assert_eq!(memory_mib(512), 1026);
        assert_eq!(memory_mib(340 << 20), 1704);
    }

    #[test]
    fn failed_tests_are_found_in_coloured_output() {
        let line = "test attach_prints_interval_reports     ... \x1b[31mFAILED\x1b[0m";
        assert_eq!(failed_test(line).as_deref(), Some("attach_prints_interval_reports"));
        assert_eq!(failed_test("test a ... \x1b[32mok\x1b[0m"), None);
        assert_eq!(failed_test("test b ... FAILED").as_deref(), Some("b"));
    }

    #[test]
    fn verdict_needs_the_nonce() {
        let marker = "KTRACE-VM-EXIT[abc]: ";
        assert_eq!(parse_verdict("KTRACE-VM-EXIT[abc]: 3", marker), Some(Verdict::Exited(3)));
        assert_eq!(
            parse_verdict("no newlineKTRACE-VM-EXIT[abc]: 0", marker),
            Some(Verdict::Exited(0))
        );
        assert_eq!(parse_verdict("KTRACE-VM-EXIT[xyz]: 0", marker), None);
    }
}
