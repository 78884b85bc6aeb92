//! Containers, sandboxes and VMs by name, with real runtimes on this host: runc containers,
//! runsc (gVisor, ptrace platform) sandboxes and a QEMU process. Inside each container runs
//! this test binary as its workload, so the counts are known exactly.
//!
//! What a gVisor workload shows on the host: the sentry intercepts the application's
//! syscalls with PTRACE_SYSEMU, which skips the `sys_enter` tracepoint but not `sys_exit`.
//! So the application's own syscalls are never counted as calls but as blocked: `fchdir=M`
//! inside the sandbox is exactly M blocked `fchdir`s with 0 calls and 0 failures (the sentry
//! itself never calls fchdir).
//!
//! In the QEMU guests (pure cgroup v2, where runc makes the cgroups the hybrid host cannot
//! show) the runc tests run with `--no-pivot`, as runc cannot pivot_root off an initramfs;
//! runsc cannot run from one at all and QEMU is not in the guest, so those tests skip there.
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use crate::support::{
    Ktrace, Test, TestCgroups, cgroup2_root, counts, ktrace, last_report, run_workload_in,
    spawn_in, workload_cmd,
};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        ("ps_lists_runc_and_runsc_workloads_by_name", ps_lists_runc_and_runsc_workloads_by_name),
        ("runc_container_is_traced_by_name", runc_container_is_traced_by_name),
        ("runsc_sandbox_is_moved_traced_and_put_back", runsc_sandbox_is_moved_traced_and_put_back),
        ("wait_traces_a_runc_container_from_create", wait_traces_a_runc_container_from_create),
        ("run_counts_a_runc_container", run_counts_a_runc_container),
        ("run_counts_a_runsc_sandbox", run_counts_a_runsc_sandbox),
        (
            "pid_traces_its_cgroup_or_moves_it_from_the_root",
            pid_traces_its_cgroup_or_moves_it_from_the_root,
        ),
        ("qemu_is_traced_by_pid", qemu_is_traced_by_pid),
        ("lxc_container_is_traced_by_name", lxc_container_is_traced_by_name),
    ]
}

/// runsc flags that work on this host (platforms.md): ptrace, no network.
const RUNSC: [&str; 2] = ["--platform=ptrace", "--network=none"];

/// Whether `/` is the initramfs (the QEMU guests), which runtimes cannot pivot_root off.
fn on_initramfs() -> bool {
    fs::read_to_string("/proc/self/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.starts_with("rootfs / ")))
}

/// runc's flags for `create` and `run` here.
fn runc_flags() -> &'static [&'static str] {
    if on_initramfs() { &["--no-pivot"] } else { &[] }
}

/// Whether `runtime` can run containers here; says why not otherwise.
fn can_run(runtime: &str) -> bool {
    let usable = match runtime {
        "runsc" => !on_initramfs(),
        "qemu-system-x86_64" | "lxc-create" => {
            Command::new(runtime).arg("--version").output().is_ok()
        }
        _ => true,
    };
    if !usable {
        eprintln!("skipped: {runtime} cannot run here (it runs on the host)");
    }
    usable
}

/// A unique container name for this test process.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("kt-{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// An OCI bundle whose root holds this test binary and the libraries it loads, running
/// `root workload SPECS...`; removed on drop.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(specs: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("ktrace-bundle-").tempdir()?;
        let rootfs = dir.path().join("rootfs");
        let exe = std::env::current_exe()?;
        copy_into(&rootfs, &exe, Path::new("/bin/root"))?;
        for library in libraries(&exe)? {
            copy_into(&rootfs, &library, &library)?;
        }
        let status = Command::new("runc").arg("spec").current_dir(dir.path()).status()?;
        ensure!(status.success(), "runc spec failed: {status}");
        let config_path = dir.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&fs::read(&config_path)?)?;
        config["process"]["terminal"] = false.into();
        config["root"]["readonly"] = false.into();
        let args: Vec<&str> = ["/bin/root", "workload"].iter().chain(specs).copied().collect();
        config["process"]["args"] = args.into();
        fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        Ok(Self { dir })
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 temp path")
    }
}

/// The shared libraries and the loader `ldd` lists for `exe`; none in the guests, whose test
/// binary is static and which have no ldd.
fn libraries(exe: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let Ok(out) = Command::new("ldd").arg(exe).output() else {
        return Ok(Vec::new());
    };
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect())
}

/// Puts `source` at `inside` in `rootfs`: a hard link where possible (the test binary is
/// large), else a copy.
fn copy_into(rootfs: &Path, source: &Path, inside: &Path) -> anyhow::Result<()> {
    let target = rootfs.join(inside.strip_prefix("/")?);
    fs::create_dir_all(target.parent().context("no parent")?)?;
    let source = fs::canonicalize(source)?;
    if fs::hard_link(&source, &target).is_err() {
        fs::copy(&source, &target)
            .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    }
    Ok(())
}

/// A container of runc or runsc, killed and deleted on drop.
struct Container {
    runtime: &'static str,
    name: String,
}

impl Container {
    /// `RUNTIME [flags] create --bundle BUNDLE NAME`: set up, its program not started.
    fn create(runtime: &'static str, bundle: &Bundle, name: &str) -> anyhow::Result<Self> {
        let container = Self { runtime, name: name.to_owned() };
        let no_pivot = if runtime == "runc" { runc_flags() } else { &[] };
        let status = container
            .command()
            .arg("create")
            .args(no_pivot)
            .args(["--bundle", bundle.path(), name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()?;
        ensure!(status.success(), "{runtime} create {name}: {status}");
        Ok(container)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(self.runtime);
        if self.runtime == "runsc" {
            command.args(RUNSC);
        }
        command
    }

    fn start(&self) -> anyhow::Result<()> {
        let status = self.command().args(["start", &self.name]).status()?;
        ensure!(status.success(), "{} start {}: {status}", self.runtime, self.name);
        Ok(())
    }

    /// Waits until the container's program has exited.
    fn wait_stopped(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let out = self.command().args(["state", &self.name]).output()?;
            let state: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if state["status"] == "stopped" {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        bail!("{} container {} did not stop", self.runtime, self.name)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.command().args(["kill", &self.name, "KILL"]).stderr(Stdio::null()).status();
        let _ =
            self.command().args(["delete", "--force", &self.name]).stderr(Stdio::null()).status();
    }
}

/// The traced cgroup `column` of a report: (label, workload).
fn cgroup_of_report(report: &Value, column: usize) -> (String, Value) {
    let c = &report["cgroups"][column];
    (c["label"].as_str().unwrap_or_default().to_owned(), c["workload"].clone())
}

/// The cgroups that the ktrace with pid `ktrace` made for processes it moved
/// (`ktrace-move-<ktrace pid>-<pid>`) and that are still there.
fn moved_dirs(ktrace: i32) -> Vec<String> {
    let prefix = format!("ktrace-move-{ktrace}-");
    fs::read_dir(cgroup2_root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn ps_lists_runc_and_runsc_workloads_by_name() -> anyhow::Result<()> {
    if !can_run("runsc") {
        return Ok(());
    }
    let bundle = Bundle::new(&["getppid=1"])?;
    let (runc_name, runsc_name) = (unique("ps-runc"), unique("ps-runsc"));
    let _runc = Container::create("runc", &bundle, &runc_name)?;
    let _runsc = Container::create("runsc", &bundle, &runsc_name)?;
    let (status, stdout, stderr) = ktrace(&["ps", "-o", "json"])?;
    ensure!(status.success(), "ktrace ps: {status}\n{stderr}");
    let all: Vec<Value> = serde_json::from_str(&stdout)?;
    let find = |name: &str| all.iter().find(|w| w["name"] == name).cloned();
    let runc = find(&runc_name).with_context(|| format!("{runc_name} not listed: {stdout}"))?;
    ensure!(runc["runtime"] == "runc" && runc["state"] == "created", "{runc}");
    ensure!(runc["cgroup"] == format!("/{runc_name}"), "runc makes /<id>: {runc}");
    let runsc = find(&runsc_name).with_context(|| format!("{runsc_name} not listed: {stdout}"))?;
    ensure!(runsc["runtime"] == "runsc" && runsc["state"] == "created", "{runsc}");
    ensure!(runsc["pids"].as_array().is_some_and(|p| p.len() == 2), "sandbox and gofer: {runsc}");
    ensure!(runsc.get("cgroup").is_none(), "runsc is in the v2 root here: {runsc}");
    ensure!(runsc["why"].as_str().is_some_and(|w| w.contains("cgroup v1")), "{runsc}");
    // The table explains it in one line.
    let (_, table, _) = ktrace(&["ps"])?;
    ensure!(
        table.lines().any(|l| l.starts_with(&format!("runsc `{runsc_name}` has no cgroup"))),
        "{table}"
    );
    Ok(())
}

/// A container started while ktrace traces it by name, beside a second container making the
/// same calls that must not be counted.
fn runc_container_is_traced_by_name() -> anyhow::Result<()> {
    let bundle = Bundle::new(&["getppid=30000", "fchdir=7"])?;
    let (name, other) = (unique("web"), unique("other"));
    let web = Container::create("runc", &bundle, &name)?;
    let noise = Container::create("runc", &bundle, &other)?;
    let mut trace = Ktrace::spawn(&["attach", "--cgroup", &name, "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    web.start()?;
    noise.start()?;
    web.wait_stopped()?;
    noise.wait_stopped()?;
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    let (label, workload) = cgroup_of_report(&report, 0);
    ensure!(label == name, "labelled by the container's name: {label}");
    ensure!(workload["runtime"] == "runc" && workload["id"] == name.as_str(), "{workload}");
    ensure!(
        counts(&report, "getppid", 0) == (30_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(counts(&report, "fchdir", 0).1 == 7, "fchdir: {:?}", counts(&report, "fchdir", 0));
    Ok(())
}

fn runsc_sandbox_is_moved_traced_and_put_back() -> anyhow::Result<()> {
    if !can_run("runsc") {
        return Ok(());
    }
    let bundle = Bundle::new(&["getppid=1000", "fchdir=13"])?;
    let name = unique("gvisor");
    let sandbox = Container::create("runsc", &bundle, &name)?;
    let mut trace = Ktrace::spawn(&["attach", "--cgroup", &name, "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    let ktrace_pid = trace.pid();
    ensure!(moved_dirs(ktrace_pid).len() == 1, "no cgroup for the move");
    sandbox.start()?;
    sandbox.wait_stopped()?;
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach: {status}\n{stderr}");
    ensure!(stderr.contains("has no cgroup v2 directory of its own; moved its"), "{stderr}");
    let report = last_report(&stdout)?;
    let (label, workload) = cgroup_of_report(&report, 0);
    ensure!(label == name && workload["runtime"] == "runsc", "{label} {workload}");
    ensure!(fchdir_blocked(&report) == ((0, 0), 13), "fchdir: {:?}", fchdir_blocked(&report));
    ensure!(moved_dirs(ktrace_pid).is_empty(), "the move's cgroup is left behind");
    Ok(())
}

fn wait_traces_a_runc_container_from_create() -> anyhow::Result<()> {
    let bundle = Bundle::new(&["getppid=20000", "fchdir=5"])?;
    let name = unique("later");
    let mut trace = Ktrace::spawn(&["attach", "--cgroup", &name, "--wait", "-o", "json"])?;
    trace.wait_for_stderr("waiting for")?;
    let container = Container::create("runc", &bundle, &name)?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    container.start()?;
    container.wait_stopped()?;
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach --wait: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    ensure!(cgroup_of_report(&report, 0).0 == name, "{}", report["cgroups"]);
    // Counting starts as soon as the cgroup appears, so whatever runc's init does after that
    // is counted too, as far as ktrace attached in time: its fchdir calls all succeed, so the
    // failed ones are exactly the container's; and runc's init calls getppid twice (its
    // parent check), which the slow guests count and this host, attaching after `runc
    // create` returned, does not.
    let getppid = counts(&report, "getppid", 0).0;
    ensure!((20_000..=20_002).contains(&getppid), "getppid: {getppid}");
    ensure!(counts(&report, "fchdir", 0).1 == 5, "fchdir: {:?}", counts(&report, "fchdir", 0));
    // A stop signal while waiting ends it cleanly, having traced nothing.
    let mut idle = Ktrace::spawn(&["attach", "--cgroup", &unique("never"), "--wait"])?;
    idle.wait_for_stderr("waiting for")?;
    idle.signal(libc::SIGTERM);
    let (status, _, stderr) = idle.finish()?;
    ensure!(
        status.success() && stderr.contains("before anything was traced"),
        "{status}\n{stderr}"
    );
    Ok(())
}

/// `ktrace run -- runc run`: the report of one container making N getppid and M failing
/// fchdir calls, minus the report of the same container making none, is exactly N and M.
fn run_counts_a_runc_container() -> anyhow::Result<()> {
    let run = |specs: &[&str]| -> anyhow::Result<Value> {
        let bundle = Bundle::new(specs)?;
        let name = unique("run");
        let _cleanup = Container { runtime: "runc", name: name.clone() };
        let mut argv = vec!["run", "-o", "json", "--", "runc", "run"];
        argv.extend(runc_flags());
        argv.extend(["--bundle", bundle.path(), &name]);
        let (status, stdout, stderr) = ktrace(&argv)?;
        ensure!(status.success(), "ktrace run -- runc run: {status}\n{stderr}");
        ensure!(stderr.contains("so that the container lands inside it"), "{stderr}");
        last_report(&stdout)
    };
    let busy = run(&["getppid=40000", "fchdir=11"])?;
    let idle = run(&["getppid=0"])?;
    let (busy_getppid, idle_getppid) =
        (counts(&busy, "getppid", 0).0, counts(&idle, "getppid", 0).0);
    ensure!(busy_getppid - idle_getppid == 40_000, "getppid {busy_getppid} - {idle_getppid}");
    let (busy_fchdir, idle_fchdir) = (counts(&busy, "fchdir", 0).1, counts(&idle, "fchdir", 0).1);
    ensure!(busy_fchdir - idle_fchdir == 11, "failed fchdir {busy_fchdir} - {idle_fchdir}");
    // The bind mount stayed in the command's namespace.
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    ensure!(!mountinfo.contains("ktrace-run-"), "the cgroup view leaked: {mountinfo}");
    Ok(())
}

fn run_counts_a_runsc_sandbox() -> anyhow::Result<()> {
    if !can_run("runsc") {
        return Ok(());
    }
    let bundle = Bundle::new(&["getppid=1000", "fchdir=17"])?;
    let name = unique("run-gv");
    let _cleanup = Container { runtime: "runsc", name: name.clone() };
    let mut argv = vec!["run", "-o", "json", "--", "runsc"];
    argv.extend(RUNSC);
    argv.extend(["run", "--bundle", bundle.path(), &name]);
    let (status, stdout, stderr) = ktrace(&argv)?;
    ensure!(status.success(), "ktrace run -- runsc run: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    ensure!(fchdir_blocked(&report) == ((0, 0), 17), "fchdir: {:?}", fchdir_blocked(&report));
    Ok(())
}

/// (calls, errors) and blocked calls of `fchdir` in the first column.
fn fchdir_blocked(report: &serde_json::Value) -> ((u64, u64), u64) {
    let row = report["syscalls"].as_array().into_iter().flatten().find(|r| r["name"] == "fchdir");
    let blocked = row.and_then(|r| r["counts"][0]["blocked"].as_u64()).unwrap_or(0);
    (counts(report, "fchdir", 0), blocked)
}

/// `--pid` of a process in a cgroup traces that cgroup (a sibling's calls are not counted);
/// in the v2 root it is refused, and with `--move` moved, counted and put back.
fn pid_traces_its_cgroup_or_moves_it_from_the_root() -> anyhow::Result<()> {
    let tree = TestCgroups::new(&["target", "sibling"]);
    let fifos = tempfile::tempdir()?;
    let fifo = |name: &str| -> anyhow::Result<String> {
        let path = fifos.path().join(name);
        let c = std::ffi::CString::new(path.to_str().context("path")?)?;
        // SAFETY: `c` is a NUL-terminated path.
        ensure!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0, "mkfifo {}", path.display());
        Ok(path.display().to_string())
    };
    let release = |path: &str| fs::write(path, b"go");

    // In a cgroup of its own.
    let go = fifo("go")?;
    let mut child = Reaped(spawn_in(
        &tree.path("target"),
        &mut workload_cmd(&[&format!("wait={go}"), "getppid=25000"]),
    ));
    let pid = child.0.id().to_string();
    let mut trace = Ktrace::spawn(&["attach", "--pid", &pid, "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&tree.path("sibling"), &["getppid=9000"])?;
    release(&go)?;
    ensure!(child.0.wait()?.success(), "workload failed");
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach --pid: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    ensure!(cgroup_of_report(&report, 0).0 == format!("pid:{pid}"), "{}", report["cgroups"]);
    ensure!(
        report["cgroups"][0]["path"] == tree.path("target").display().to_string(),
        "{}",
        report["cgroups"]
    );
    ensure!(
        counts(&report, "getppid", 0) == (25_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );

    // In the v2 root.
    let (go, done) = (fifo("go-root")?, fifo("done-root")?);
    let mut child = Reaped(spawn_in(
        &cgroup2_root(),
        &mut workload_cmd(&[&format!("wait={go}"), "getppid=35000", &format!("wait={done}")]),
    ));
    let pid = child.0.id().to_string();
    let (status, _, stderr) = ktrace(&["attach", "--pid", &pid, "-d", "1"])?;
    ensure!(status.code() == Some(2), "a pid in the root is refused: {status}\n{stderr}");
    ensure!(stderr.lines().count() == 1 && stderr.contains("--move"), "{stderr}");
    let mut trace = Ktrace::spawn(&["attach", "--pid", &pid, "--move", "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    let ktrace_pid = trace.pid();
    release(&go)?;
    // Its calls are made once it waits on `done`, where it stays until the trace has ended
    // and moved it back.
    let done_writer = reader_waits_on(&done)?;
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach --pid --move: {status}\n{stderr}");
    let back = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    drop(done_writer);
    ensure!(child.0.wait()?.success(), "workload failed");
    ensure!(back.lines().any(|l| l == "0::/"), "moved back to the root: {back}");
    let report = last_report(&stdout)?;
    ensure!(
        counts(&report, "getppid", 0) == (35_000, 0),
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(moved_dirs(ktrace_pid).is_empty(), "the move's cgroup is left behind");
    Ok(())
}

/// Waits until a process opens the FIFO at `path` for reading, and returns the FIFO opened
/// for writing: closing it lets the reader go on.
fn reader_waits_on(path: &str) -> anyhow::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Without a reader, a non-blocking open for writing fails with ENXIO.
        match fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path) {
            Ok(writer) => return Ok(writer),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).with_context(|| format!("waiting for a reader of {path}")),
        }
    }
}

/// A QEMU process (no guest: `-M none -S`, its monitor on stdin) in the v2 root, listed by
/// `ps` under its `-name`, traced by `--pid --move` while a monitor command makes it read.
fn qemu_is_traced_by_pid() -> anyhow::Result<()> {
    if !can_run("qemu-system-x86_64") {
        return Ok(());
    }
    let name = unique("qemu");
    let mut qemu = Reaped(
        Command::new("qemu-system-x86_64")
            .args(["-M", "none", "-S", "-nodefaults", "-display", "none", "-monitor", "stdio"])
            .args(["-name", &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("starting qemu-system-x86_64")?,
    );
    let pid = qemu.0.id().to_string();
    fs::write(cgroup2_root().join("cgroup.procs"), &pid)?;
    thread::sleep(Duration::from_millis(300));
    let (_, stdout, _) = ktrace(&["ps", "-o", "json"])?;
    let all: Vec<Value> = serde_json::from_str(&stdout)?;
    let listed = all
        .iter()
        .find(|w| w["id"] == pid.as_str())
        .with_context(|| format!("QEMU {pid} not listed"))?;
    ensure!(listed["runtime"] == "qemu" && listed["name"] == name.as_str(), "{listed}");
    let mut trace = Ktrace::spawn(&["attach", "--pid", &pid, "--move", "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    let ktrace_pid = trace.pid();
    let stdin = qemu.0.stdin.as_mut().context("QEMU's stdin")?;
    stdin.write_all(b"info status\n")?;
    thread::sleep(Duration::from_millis(300));
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach --pid QEMU --move: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    let (label, workload) = cgroup_of_report(&report, 0);
    ensure!(label == name && workload["runtime"] == "qemu", "{label} {workload}");
    ensure!(
        counts(&report, "read", 0).0 >= 1,
        "the monitor command was read: {:?}",
        counts(&report, "read", 0)
    );
    let back = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    ensure!(back.lines().any(|l| l == "0::/"), "QEMU moved back to the root: {back}");
    ensure!(moved_dirs(ktrace_pid).is_empty(), "the move's cgroup is left behind");
    Ok(())
}

/// A child process killed and reaped on drop, so that a failed test leaves none behind (a
/// workload blocked on its FIFO, a QEMU).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An LXC container (busybox template, no network), removed on drop.
struct Lxc {
    name: String,
}

impl Drop for Lxc {
    fn drop(&mut self) {
        let _ =
            Command::new("lxc-stop").args(["-k", "-n", &self.name]).stderr(Stdio::null()).status();
        let _ = Command::new("lxc-destroy").args(["-n", &self.name]).stderr(Stdio::null()).status();
        // lxc-start parks its monitor in an `lxc.pivot` cgroup of every hierarchy and leaves
        // it behind; removed once empty (rmdir refuses otherwise), so the test leaves nothing.
        for hierarchy in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = fs::remove_dir(hierarchy.path().join("lxc.pivot"));
        }
    }
}

/// `lxc-attach` runs the workload inside a running LXC container, which `ps` lists and
/// `--cgroup NAME` finds at `lxc.payload.NAME`; a second container's calls are not counted.
fn lxc_container_is_traced_by_name() -> anyhow::Result<()> {
    if !can_run("lxc-create") {
        return Ok(());
    }
    let config = tempfile::NamedTempFile::new()?;
    fs::write(config.path(), "lxc.net.0.type = empty\n")?;
    let start = |name: &str| -> anyhow::Result<Lxc> {
        let lxc = Lxc { name: name.to_owned() };
        let config = config.path().to_str().context("config path")?;
        let created = Command::new("lxc-create")
            .args(["-n", name, "-t", "busybox", "-f", config])
            .stdout(Stdio::null())
            .status()?;
        ensure!(created.success(), "lxc-create {name}: {created}");
        // The busybox template binds the host's /lib and /usr/lib: the binary is enough.
        let rootfs = PathBuf::from(format!("/var/lib/lxc/{name}/rootfs"));
        copy_into(&rootfs, &std::env::current_exe()?, Path::new("/bin/ktrace-root"))?;
        let started = Command::new("lxc-start").args(["-n", name]).status()?;
        ensure!(started.success(), "lxc-start {name}: {started}");
        Ok(lxc)
    };
    let attach = |name: &str, specs: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("lxc-attach")
            .args(["-n", name, "--", "/bin/ktrace-root", "workload"])
            .args(specs)
            .status()?;
        ensure!(status.success(), "lxc-attach {name}: {status}");
        Ok(())
    };
    let (name, other) = (unique("lxc"), unique("lxc-other"));
    let _lxc = start(&name)?;
    let _other = start(&other)?;
    let (_, stdout, _) = ktrace(&["ps", "-o", "json"])?;
    let all: Vec<Value> = serde_json::from_str(&stdout)?;
    let listed =
        all.iter().find(|w| w["name"] == name.as_str()).context("LXC container not listed")?;
    ensure!(
        listed["runtime"] == "lxc" && listed["cgroup"] == format!("/lxc.payload.{name}"),
        "{listed}"
    );
    let mut trace = Ktrace::spawn(&["attach", "--cgroup", &name, "-o", "json"])?;
    trace.wait_for_stderr("stop with Ctrl-C")?;
    attach(&other, &["getppid=5000"])?;
    attach(&name, &["getppid=15000", "fchdir=3"])?;
    trace.signal(libc::SIGINT);
    let (status, stdout, stderr) = trace.finish()?;
    ensure!(status.success(), "ktrace attach --cgroup LXC: {status}\n{stderr}");
    let report = last_report(&stdout)?;
    let (label, workload) = cgroup_of_report(&report, 0);
    ensure!(label == name && workload["runtime"] == "lxc", "{label} {workload}");
    ensure!(
        counts(&report, "getppid", 0).0 == 15_000,
        "getppid: {:?}",
        counts(&report, "getppid", 0)
    );
    ensure!(counts(&report, "fchdir", 0).1 == 3, "fchdir: {:?}", counts(&report, "fchdir", 0));
    Ok(())
}
