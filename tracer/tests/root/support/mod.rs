//! Helpers for the root tests: cgroups the test owns, processes placed in them, and a running
//! ktrace whose output and kernel objects the test can inspect.
pub mod workload;

use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _},
    os::{fd::AsRawFd as _, unix::process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};

/// A root test: `Ok` or what went wrong.
pub type Test = fn() -> anyhow::Result<()>;

pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether these tests run in the QEMU guest (emulated, so several times slower).
pub fn in_guest() -> bool {
    std::env::var_os("KTRACE_BIN").is_some()
}

/// The ktrace under test: `KTRACE_BIN` (set in the QEMU guest) or the one cargo built.
pub fn ktrace_bin() -> PathBuf {
    std::env::var_os("KTRACE_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ktrace")), PathBuf::from)
}

/// The ktrace under test with `args`.
pub fn ktrace_command(args: &[&str]) -> Command {
    let mut command = Command::new(ktrace_bin());
    command.args(args);
    command
}

/// This test binary, which doubles as the workload.
pub fn workload_cmd(specs: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg("workload").args(specs);
    cmd
}

pub fn cgroup2_root() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo
        .lines()
        .find_map(|l| {
            let (mount, fs) = l.split_once(" - ")?;
            let mount_point = mount.split_whitespace().nth(4)?;
            (fs.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .expect("a cgroup2 mount")
}

/// A cgroup subtree owned by one test, removed (processes killed first) on drop.
pub struct TestCgroups {
    pub base: PathBuf,
    /// The unique name of `base`, usable as a `--cgroup NAME`.
    pub name: String,
}

impl TestCgroups {
    /// Creates `<v2 root>/ktrace-test-<pid>-<n>` and the given relative subdirectories.
    pub fn new(subdirs: &[&str]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name =
            format!("ktrace-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let base = cgroup2_root().join(&name);
        fs::create_dir(&base).expect("create test cgroup");
        for sub in subdirs {
            fs::create_dir_all(base.join(sub)).expect("create test cgroup subdir");
        }
        Self { base, name }
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        if sub.is_empty() { self.base.clone() } else { self.base.join(sub) }
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        let _ = fs::write(self.base.join("cgroup.kill"), "1");
        let mut dirs = Vec::new();
        collect_dirs(&self.base, &mut dirs);
        for dir in dirs.iter().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_owned());
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
}

/// Starts `cmd` inside the cgroup at `path`, joining it before exec.
pub fn spawn_in(path: &Path, cmd: &mut Command) -> Child {
    let _procs = join_before_exec(path, cmd);
    cmd.spawn().expect("spawn workload")
}

/// Makes `cmd`, once spawned, join the cgroup at `path` before it execs. The returned file
/// must outlive the spawn.
pub fn join_before_exec(path: &Path, cmd: &mut Command) -> fs::File {
    let procs = fs::OpenOptions::new()
        .write(true)
        .open(path.join("cgroup.procs"))
        .expect("open cgroup.procs");
    let fd = procs.as_raw_fd();
    // SAFETY: write(2) is async-signal-safe; `procs` outlives spawn and is close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    procs
}

/// Waits for `child`, failing after `timeout` (the child is killed then).
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> anyhow::Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("process {} did not exit within {timeout:?}", child.id());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a workload to completion in the cgroup at `path` and checks that it succeeded.
pub fn run_workload_in(path: &Path, specs: &[&str]) -> anyhow::Result<()> {
    let mut child = spawn_in(path, &mut workload_cmd(specs));
    let status = wait_timeout(&mut child, Duration::from_secs(60))?;
    ensure!(status.success(), "workload {specs:?} failed: {status}");
    Ok(())
}

/// A `ktrace` process started in the background, with its output captured.
pub struct Ktrace {
    child: Child,
    stderr_lines: Vec<String>,
    stderr: BufReader<ChildStderr>,
}

impl Ktrace {
    pub fn spawn(args: &[&str]) -> anyhow::Result<Self> {
        Self::spawn_command(ktrace_command(args))
    }

    /// Starts `command` (from [`ktrace_command`], adjusted by the caller).
    pub fn spawn_command(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning ktrace")?;
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        Ok(Self { child, stderr_lines: Vec::new(), stderr })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Reads stderr until a line contains `needle` (ktrace prints its status lines there).
    pub fn wait_for_stderr(&mut self, needle: &str) -> anyhow::Result<()> {
        loop {
            let mut line = String::new();
            if self.stderr.read_line(&mut line)? == 0 {
                bail!(
                    "ktrace exited before printing `{needle}`; stderr:\n{}",
                    self.stderr_lines.join("")
                );
            }
            self.stderr_lines.push(line.clone());
            if line.contains(needle) {
                return Ok(());
            }
        }
    }

    /// Ids of the BPF programs and links ktrace holds open, from /proc/<pid>/fdinfo.
    pub fn bpf_ids(&self) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
        let (mut progs, mut links) = (Vec::new(), Vec::new());
        for entry in fs::read_dir(format!("/proc/{}/fdinfo", self.pid()))? {
            let Ok(info) = fs::read_to_string(entry?.path()) else {
                continue;
            };
            for line in info.lines() {
                let mut kv = line.splitn(2, ':').map(str::trim);
                match (kv.next(), kv.next().and_then(|v| v.parse().ok())) {
                    (Some("prog_id"), Some(id)) if !info.contains("link_type") => progs.push(id),
                    (Some("link_id"), Some(id)) => links.push(id),
                    _ => {}
                }
            }
        }
        progs.sort_unstable();
        progs.dedup();
        Ok((progs, links))
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for exit; returns the status, stdout and the whole stderr.
    /// Stops ktrace as Ctrl-C would and returns its last JSON report; it must exit 0.
    pub fn interrupt_for_report(self) -> anyhow::Result<serde_json::Value> {
        self.signal(libc::SIGINT);
        let (status, stdout, stderr) = self.finish()?;
        ensure!(status.success(), "ktrace: {status}\n{stderr}");
        last_report(&stdout)
    }

    pub fn finish(self) -> anyhow::Result<(ExitStatus, String, String)> {
        self.finish_within(Duration::from_secs(120))
    }

    /// `finish` for a ktrace that may take up to `timeout` (it is killed after that).
    pub fn finish_within(
        mut self,
        timeout: Duration,
    ) -> anyhow::Result<(ExitStatus, String, String)> {
        let mut stdout = self.child.stdout.take().expect("stdout");
        let reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let mut rest = String::new();
        let err_reader = thread::spawn(move || {
            let _ = self.stderr.read_to_string(&mut rest);
            rest
        });
        let status = wait_timeout(&mut self.child, timeout)?;
        let stdout = reader.join().expect("stdout reader");
        let stderr = self.stderr_lines.concat() + &err_reader.join().expect("stderr reader");
        Ok((status, stdout, stderr))
    }
}

/// Runs ktrace to completion.
pub fn ktrace(args: &[&str]) -> anyhow::Result<(ExitStatus, String, String)> {
    Ktrace::spawn(args)?.finish()
}

/// An error is one line on stderr and exit status 2.
pub fn expect_error(args: &[&str], needle: &str) -> anyhow::Result<String> {
    let (status, stdout, stderr) = ktrace(args)?;
    ensure!(status.code() == Some(2), "{args:?}: expected exit 2, got {status}\n{stderr}");
    ensure!(stdout.is_empty(), "{args:?}: nothing on stdout, got {stdout}");
    ensure!(
        stderr.lines().count() == 1 && stderr.contains(needle),
        "{args:?}: expected one line with `{needle}`:\n{stderr}"
    );
    Ok(stderr)
}

/// The last JSON document of a `--output json` stream.
pub fn last_report(stdout: &str) -> anyhow::Result<serde_json::Value> {
    let line = stdout.lines().last().context("no JSON output")?;
    serde_json::from_str(line).with_context(|| format!("parsing JSON report: {line}"))
}

/// (calls, errors) of `syscall` in column `column`, (0, 0) if absent.
pub fn counts(report: &serde_json::Value, syscall: &str, column: usize) -> (u64, u64) {
    report["syscalls"].as_array().into_iter().flatten().find(|row| row["name"] == syscall).map_or(
        (0, 0),
        |row| {
            let c = &row["counts"][column];
            (c["calls"].as_u64().unwrap_or(0), c["errors"].as_u64().unwrap_or(0))
        },
    )
}

/// Counted entries of kernel function `function` in column `column`, 0 if absent.
pub fn entries(report: &serde_json::Value, function: &str, column: usize) -> u64 {
    report["kernel_functions"]["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == function)
        .map_or(0, |f| f["counts"][column].as_u64().unwrap_or(0))
}

/// Ids of all BPF programs and links currently in the kernel.
pub fn loaded_bpf_ids() -> (Vec<u32>, Vec<u32>) {
    let progs = aya::programs::loaded_programs().filter_map(Result::ok).map(|p| p.id()).collect();
    let links = aya::programs::loaded_links().filter_map(Result::ok).map(|l| l.id()).collect();
    (progs, links)
}

/// Runs ktrace as user and group `nobody` with no capabilities.
pub fn run_as_nobody(args: &[&str]) -> anyhow::Result<(ExitStatus, String, String)> {
    let output = Command::new(ktrace_bin())
        .args(args)
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()
        .context("running ktrace as nobody")?;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// CPU time used by the cgroup's tasks so far (cgroup v2 `cpu.stat`, `usage_usec`).
pub fn cpu_usage(cgroup: &Path) -> anyhow::Result<Duration> {
    let stat = fs::read_to_string(cgroup.join("cpu.stat")).context("reading cpu.stat")?;
    let usec = stat
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .context("no usage_usec in cpu.stat")?
        .trim()
        .parse()?;
    Ok(Duration::from_micros(usec))
}
