//! Root tests of kernel function counting (`--functions`, `--module`, `--all`, `--backend`).
//!
//! Counting needs kprobe.multi, fentry or kprobes: these tests run in the QEMU guests
//! (`cargo xtask test`). On a kernel without function tracing (this project's CI host) the
//! counting tests say so and pass without running, and the fallback test runs instead. They
//! run one at a time ([`one_at_a_time`]), as do the line tests (lines.rs), which set kprobes.
use std::{
    fs,
    sync::{Mutex, MutexGuard},
    thread,
};

use anyhow::{Context as _, ensure};
use aya::programs::links::LinkType;

use crate::support::{
    Ktrace, Test, TestCgroups, entries, expect_error, ktrace, last_report, loaded_bpf_ids,
    run_workload_in,
};

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        (
            "functions_fall_back_to_samples_without_function_tracing",
            functions_fall_back_to_samples_without_function_tracing,
        ),
        ("kprobe_multi_counts_exact_entries_per_cgroup", || {
            counts_exact_entries_per_cgroup("kprobe-multi")
        }),
        ("fentry_counts_exact_entries_per_cgroup", || counts_exact_entries_per_cgroup("fentry")),
        ("kprobe_counts_exact_entries_per_cgroup", || counts_exact_entries_per_cgroup("kprobe")),
        (
            "unknown_function_or_module_is_a_clean_error",
            unknown_function_or_module_is_a_clean_error,
        ),
        (
            "dry_run_prints_the_plan_and_attaches_nothing",
            dry_run_prints_the_plan_and_attaches_nothing,
        ),
        ("all_functions_attach_count_and_detach", all_functions_attach_count_and_detach),
        ("nothing_stays_attached_after_sigkill", nothing_stays_attached_after_sigkill),
        ("network_functions_only_in_the_network_run", network_functions_only_in_the_network_run),
        ("irq_work_is_kept_apart_from_tasks", irq_work_is_kept_apart_from_tasks),
        ("irq_modes_keep_task_context_counts_exact", irq_modes_keep_task_context_counts_exact),
        ("missing_tracefs_and_debugfs_are_mounted", missing_tracefs_and_debugfs_are_mounted),
    ]
}

/// Function tracing is kernel-wide state: ftrace's enabled functions, the kprobe list, and the
/// links a dry run must not add to. The tests of this module attach functions or check that
/// state, so they run one at a time (each holds this for its whole run); the other tests,
/// which count syscalls and samples, still run beside them.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static FUNCTION_TRACING: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one still gets its turn.
    FUNCTION_TRACING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The syscall entry points the workload's getppid and fchdir calls go through.
const GETPPID: &str = "__do_sys_getppid";
const FCHDIR: &str = "__x64_sys_fchdir";

/// The function backends that work on this kernel, asked of ktrace itself (`--dry-run`). A
/// kernel whose ftrace function list is readable must have at least one: there an empty
/// answer fails the test instead of skipping it. Debian's 6.12 kernel must have all three.
pub fn working_backends() -> anyhow::Result<Vec<String>> {
    let tree = TestCgroups::new(&[]);
    let (status, stdout, stderr) = ktrace(&[
        "attach",
        "--cgroup",
        tree.base.to_str().unwrap(),
        "--functions",
        GETPPID,
        "--dry-run",
    ])?;
    let working: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("backend ")?.strip_suffix(": works"))
        .map(str::to_owned)
        .collect();
    let ftrace_readable = fs::File::open("/sys/kernel/tracing/available_filter_functions").is_ok();
    ensure!(
        status.success() || !ftrace_readable,
        "ftrace lists functions here, yet ktrace cannot plan:\n{stdout}{stderr}"
    );
    ensure!(
        !working.is_empty() || !ftrace_readable,
        "ftrace lists functions here, yet no backend works:\n{stdout}"
    );
    if fs::read_to_string("/proc/sys/kernel/osrelease")?.starts_with("6.12") {
        ensure!(
            working.len() == 3,
            "Debian 6.12 supports every backend, ktrace found {working:?}:\n{stdout}"
        );
    }
    Ok(working)
}

pub(crate) fn can_count_functions() -> anyhow::Result<bool> {
    Ok(!working_backends()?.is_empty())
}

/// Skips (with the reason) unless `backend` works on this kernel.
fn backend_works(backend: &str) -> anyhow::Result<bool> {
    let works = working_backends()?.iter().any(|b| b == backend);
    if !works {
        eprintln!(
            "skipped: backend {backend} does not work on this kernel (ktrace --dry-run says why)"
        );
    }
    Ok(works)
}

macro_rules! needs_function_tracing {
    () => {
        if !can_count_functions()? {
            eprintln!("skipped: this kernel cannot trace functions (runs in the QEMU guests)");
            return Ok(());
        }
    };
}

fn functions_fall_back_to_samples_without_function_tracing() -> anyhow::Result<()> {
    if can_count_functions()? {
        eprintln!("skipped: this kernel can trace functions; the fallback is tested on the host");
        return Ok(());
    }
    let tree = TestCgroups::new(&[]);
    let cgroup = tree.base.to_str().unwrap();
    let mut ktrace =
        Ktrace::spawn(&["attach", "--cgroup", cgroup, "--functions", "vfs_*", "-o", "json"])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    run_workload_in(&tree.base, &["write-null-ms=500"])?;
    ktrace.signal(libc::SIGINT);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "{status}\n{stderr}");
    ensure!(
        stderr.contains("cannot be counted on this kernel")
            && stderr.contains("samples, not counts"),
        "{stderr}"
    );
    let report = last_report(&stdout)?;
    ensure!(report.get("kernel_functions").is_none(), "no counts may be claimed: {report}");
    let samples = &report["kernel_samples"];
    ensure!(samples["kind"] == "samples", "{samples}");
    let names: Vec<&str> = samples["functions"]
        .as_array()
        .context("functions")?
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    ensure!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("vfs_")),
        "only vfs_* functions: {names:?}"
    );
    // A backend the user insists on is an error, not a fallback.
    expect_error(
        &["attach", "--cgroup", cgroup, "--functions", "vfs_*", "--backend", "kprobe-multi"],
        "cannot be counted",
    )?;
    Ok(())
}

fn counts_exact_entries_per_cgroup(backend: &str) -> anyhow::Result<()> {
    if !backend_works(backend)? {
        return Ok(());
    }
    let tree = TestCgroups::new(&["target/child", "sibling"]);
    let target = tree.path("target");
    let mut ktrace = Ktrace::spawn(&[
        "attach",
        "--cgroup",
        target.to_str().unwrap(),
        "--functions",
        GETPPID,
        "--functions",
        FCHDIR,
        "--backend",
        backend,
        "-o",
        "json",
    ])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    let sibling = tree.path("sibling");
    let noise = thread::spawn(move || run_workload_in(&sibling, &["getppid=30000", "fchdir=30"]));
    run_workload_in(&target, &["getppid=10000"])?;
    run_workload_in(&tree.path("target/child"), &["getppid=2345", "fchdir=17"])?;
    noise.join().expect("sibling")?;
    ktrace.signal(libc::SIGTERM);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "{status}\n{stderr}");
    let report = last_report(&stdout)?;
    let functions = &report["kernel_functions"];
    ensure!(functions["kind"] == "counts" && functions["backend"] == backend, "{functions}");
    ensure!(functions["attached"] == 2 && functions["skipped"] == 0, "{functions}");
    let count = |name: &str| entries(&report, name, 0);
    ensure!(
        count(GETPPID) == 12_345,
        "{GETPPID}: {} (expected 12345)\n{functions}",
        count(GETPPID)
    );
    ensure!(count(FCHDIR) == 17, "{FCHDIR}: {} (expected 17)", count(FCHDIR));
    let overhead = &functions["overhead"];
    ensure!(overhead["failed_updates"] == 0 && overhead["unknown_function"] == 0, "{overhead}");
    Ok(())
}

/// A host that booted without tracefs (and debugfs, where the kprobe blacklist is): ktrace
/// mounts them, says so, and counts as if they had been there.
fn missing_tracefs_and_debugfs_are_mounted() -> anyhow::Result<()> {
    needs_function_tracing!();
    // Inner mounts first: tracefs also appears under debugfs.
    for dir in ["/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/kernel/debug"] {
        let path = std::ffi::CString::new(dir)?;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
    ensure!(
        !std::path::Path::new("/sys/kernel/tracing/available_filter_functions").exists(),
        "tracefs is still mounted"
    );
    let exe = std::env::current_exe()?;
    let (status, stdout, stderr) = ktrace(&[
        "run",
        "--functions",
        GETPPID,
        "-o",
        "json",
        "--",
        exe.to_str().unwrap(),
        "workload",
        "getppid=1234",
    ])?;
    ensure!(status.success(), "{status}\n{stderr}");
    ensure!(
        stderr.contains("mounted tracefs at /sys/kernel/tracing")
            && stderr.contains("mounted debugfs at /sys/kernel/debug"),
        "ktrace must say what it mounted:\n{stderr}"
    );
    let report = last_report(&stdout)?;
    let entries = report["kernel_functions"]["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == GETPPID)
        .map(|f| f["counts"][0].clone());
    ensure!(entries == Some(1234.into()), "{GETPPID} entries: {entries:?}\n{stderr}");
    Ok(())
}

fn unknown_function_or_module_is_a_clean_error() -> anyhow::Result<()> {
    needs_function_tracing!();
    let tree = TestCgroups::new(&[]);
    let cgroup = tree.base.to_str().unwrap();
    expect_error(
        &["attach", "--cgroup", cgroup, "--functions", "ktrace_no_such_function_*"],
        "matches no function",
    )?;
    expect_error(
        &["attach", "--cgroup", cgroup, "--module", "ktrace_no_such_module"],
        "--module ktrace_no_such_module",
    )?;
    expect_error(&["attach", "--cgroup", cgroup, "--functions", "bpf_map_*"], "deny list")?;
    Ok(())
}

fn dry_run_prints_the_plan_and_attaches_nothing() -> anyhow::Result<()> {
    needs_function_tracing!();
    let tree = TestCgroups::new(&[]);
    let before = function_links();
    let (status, stdout, stderr) = ktrace(&[
        "attach",
        "--cgroup",
        tree.base.to_str().unwrap(),
        "--functions",
        "vfs_*",
        "--exclude",
        "vfs_read*",
        "--dry-run",
    ])?;
    ensure!(status.success(), "{status}\n{stderr}");
    ensure!(
        stdout.contains("would use: fentry") || stdout.contains("would use: kprobe-multi"),
        "{stdout}"
    );
    ensure!(
        stdout.contains("  vfs_write [vmlinux]") && !stdout.contains("  vfs_read [vmlinux]"),
        "{stdout}"
    );
    ensure!(stdout.contains("matched --exclude"), "{stdout}");
    let after = function_links();
    ensure!(
        after.iter().all(|l| before.contains(l)),
        "dry run left links: {before:?} -> {after:?}"
    );
    Ok(())
}

/// Ids of the kprobe.multi and fentry (tracing) links in the kernel. Only this module's tests,
/// which run one at a time, make such links; the syscall and sampling tests beside them make
/// raw tracepoint and perf event links.
fn function_links() -> Vec<u32> {
    aya::programs::loaded_links()
        .filter_map(Result::ok)
        .filter(|l| matches!(l.link_type(), Ok(LinkType::KProbeMulti | LinkType::Tracing)))
        .map(|l| l.id())
        .collect()
}

/// `--all`: at least 35,000 functions on the 6.12 guest kernel with kprobe.multi, an exact
/// count among them, and a clean kernel afterwards.
fn all_functions_attach_count_and_detach() -> anyhow::Result<()> {
    // One at a time, 40,000 functions take minutes to attach under emulation.
    if !backend_works("kprobe-multi")? {
        return Ok(());
    }
    let tree = TestCgroups::new(&[]);
    let mut ktrace = Ktrace::spawn(&[
        "attach",
        "--cgroup",
        tree.base.to_str().unwrap(),
        "--all",
        "--backend",
        "kprobe-multi",
        "-o",
        "json",
    ])?;
    ktrace.wait_for_stderr("stop with Ctrl-C")?;
    let (progs, links) = ktrace.bpf_ids()?;
    run_workload_in(&tree.base, &["getppid=5000"])?;
    ktrace.signal(libc::SIGINT);
    let (status, stdout, stderr) = ktrace.finish()?;
    ensure!(status.success(), "{status}\n{stderr}");
    let functions = last_report(&stdout)?["kernel_functions"].clone();
    let attached = functions["attached"].as_u64().context("attached")?;
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")?;
    if release.starts_with("6.12") {
        ensure!(attached >= 35_000, "only {attached} functions attached on {release}");
    }
    let getppid =
        functions["functions"].as_array().into_iter().flatten().find(|f| f["name"] == GETPPID);
    ensure!(getppid.is_some_and(|f| f["counts"][0] == 5000), "{GETPPID} under --all: {getppid:?}");
    assert_clean_kernel(&progs, &links)
}

fn nothing_stays_attached_after_sigkill() -> anyhow::Result<()> {
    needs_function_tracing!();
    let tree = TestCgroups::new(&[]);
    for backend in working_backends()? {
        let backend = backend.as_str();
        let mut ktrace = Ktrace::spawn(&[
            "attach",
            "--cgroup",
            tree.base.to_str().unwrap(),
            "--functions",
            "vfs_*",
            "--backend",
            backend,
        ])?;
        ktrace.wait_for_stderr("stop with Ctrl-C")?;
        let (progs, links) = ktrace.bpf_ids()?;
        ensure!(!links.is_empty(), "{backend}: no links held");
        ktrace.signal(libc::SIGKILL);
        let _ = ktrace.finish()?;
        assert_clean_kernel(&progs, &links)
            .with_context(|| format!("after SIGKILL with {backend}"))?;
    }
    Ok(())
}

/// A shell script that pings `pings` times, every `interval`, over a veth pair between two
/// network namespaces of its own (`198.18.<subnet>.1` to `.2`; names tagged `tag` and the
/// shell's pid), then removes them. The echo requests and replies are received in NET_RX
/// softirq. Uses iproute2's ip (the guest's busybox ip has no netns).
pub(crate) fn ping_over_veth(tag: char, subnet: u8, pings: u32, interval: &str) -> String {
    format!(
        r#"set -e
ip=/usr/bin/ip a=kt{tag}-a-$$ b=kt{tag}-b-$$
$ip netns add $a; $ip netns add $b
trap '$ip netns del $a; $ip netns del $b' EXIT
$ip link add k{tag}a$$ netns $a type veth peer name k{tag}b$$ netns $b
$ip -n $a addr add 198.18.{subnet}.1/30 dev k{tag}a$$; $ip -n $b addr add 198.18.{subnet}.2/30 dev k{tag}b$$
$ip -n $a link set k{tag}a$$ up; $ip -n $b link set k{tag}b$$ up
nsenter --net=/var/run/netns/$a ping -c {pings} -i {interval} -W 2 198.18.{subnet}.2 >/dev/null"#
    )
}

/// The ping flood of the interrupt-context tests: 50 pings on 198.18.10.0/30.
pub(crate) fn ping_flood() -> String {
    ping_over_veth('i', 10, 50, "0.02")
}

/// The receive path runs in softirq: with the default `--irq separate` it is counted in
/// interrupts while the run's task was current and in the machine's `(interrupts)`, never in
/// the run's task context; the timer softirq is never in a task column. With `--irq task`
/// the receive path is charged to the run's task, as before `--irq` existed, and `compare`
/// will not set the two records' interrupt context side by side.
fn irq_work_is_kept_apart_from_tasks() -> anyhow::Result<()> {
    needs_function_tracing!();
    if !std::path::Path::new("/usr/bin/ip").exists() {
        eprintln!("skipped: no iproute2 ip here (the guests have it)");
        return Ok(());
    }
    const RECEIVE: &str = "ip_rcv";
    const TIMERS: &str = "run_timer_softirq";
    let flood = ping_flood();
    let dir = tempfile::tempdir()?;
    let record = |irq: &str| dir.path().join(format!("{irq}.json"));
    let run = |irq: &str| -> anyhow::Result<serde_json::Value> {
        let record = record(irq);
        let args = [
            "run",
            "--record",
            record.to_str().unwrap(),
            "--irq",
            irq,
            "--functions",
            RECEIVE,
            "--functions",
            TIMERS,
            "-o",
            "json",
            "--",
            "sh",
            "-c",
            &flood,
        ];
        let (status, stdout, stderr) = ktrace(&args)?;
        ensure!(status.success(), "--irq {irq}: {status}\n{stderr}");
        Ok(last_report(&stdout)?["kernel_functions"].clone())
    };
    let function = |report: &serde_json::Value, name: &str| {
        report["functions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let separate = run("separate")?;
    ensure!(separate["irq"] == "separate", "{separate}");
    let receive = function(&separate, RECEIVE);
    // 50 echo requests and 50 replies cross the pair (a reply lost under emulation aside).
    let (task, in_interrupts, all) = (
        receive["counts"][0].as_u64().unwrap_or(u64::MAX),
        receive["in_interrupts"][0].as_u64().unwrap_or(0),
        receive["all_interrupts"].as_u64().unwrap_or(0),
    );
    ensure!(
        task == 0 && in_interrupts >= 50 && all >= in_interrupts,
        "{RECEIVE}: task {task}, in interrupts {in_interrupts}, machine {all}\n{separate}"
    );
    let timers = function(&separate, TIMERS);
    ensure!(
        timers["counts"].as_array().is_none_or(|c| c.iter().all(|n| n == 0)),
        "{TIMERS} in a task column:\n{separate}"
    );
    ensure!(
        separate["all_interrupts_total"].as_u64() >= Some(all),
        "all_interrupts_total:\n{separate}"
    );
    let task = run("task")?;
    ensure!(task.get("irq").is_none() && task.get("all_interrupts_total").is_none(), "{task}");
    let receive = function(&task, RECEIVE);
    ensure!(
        receive["counts"][0].as_u64() >= Some(50) && receive.get("in_interrupts").is_none(),
        "--irq task charges the receive path to the interrupted task:\n{task}"
    );
    let excluded = run("exclude")?;
    ensure!(
        function(&excluded, RECEIVE).is_null() && excluded["totals"][0] == 0,
        "--irq exclude counts nothing of the receive path:\n{excluded}"
    );
    let (separate, task) = (record("separate"), record("task"));
    let (status, stdout, stderr) =
        ktrace(&["compare", separate.to_str().unwrap(), task.to_str().unwrap(), "-o", "json"])?;
    ensure!(status.success(), "compare: {status}\n{stderr}");
    let comparison: serde_json::Value = serde_json::from_str(&stdout)?;
    ensure!(
        comparison["left_out"][0]["section"] == "interrupts"
            && comparison.get("in_interrupts").is_none(),
        "records of different --irq modes compared in interrupt context:\n{stdout}"
    );
    // In the guests, the record goes back to the host, whose DWARF of this kernel exports
    // its interrupt context (records::guest_records_export_interrupt_context).
    if let Some(out) = std::env::var_os("KTRACE_OUT") {
        let out = std::path::Path::new(&out).join("interrupts");
        fs::create_dir_all(&out)?;
        fs::copy(&separate, out.join("separate.json"))?;
    }
    Ok(())
}

/// A child's getppid and fchdir calls run in task context: every `--irq` mode counts them
/// exactly.
fn irq_modes_keep_task_context_counts_exact() -> anyhow::Result<()> {
    needs_function_tracing!();
    let exe = std::env::current_exe()?;
    for irq in ["separate", "task", "exclude"] {
        let (status, stdout, stderr) = ktrace(&[
            "run",
            "--irq",
            irq,
            "--functions",
            GETPPID,
            "--functions",
            FCHDIR,
            "-o",
            "json",
            "--",
            exe.to_str().unwrap(),
            "workload",
            "getppid=2345",
            "fchdir=17",
        ])?;
        ensure!(status.success(), "--irq {irq}: {status}\n{stderr}");
        let functions = last_report(&stdout)?["kernel_functions"].clone();
        let count = |name: &str| {
            functions["functions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["name"] == name)
                .map_or(0, |f| f["counts"][0].as_u64().unwrap_or(0))
        };
        // `task` is left out of reports, as records from before --irq have it.
        let reported = functions["irq"].as_str().unwrap_or("task");
        ensure!(
            (count(GETPPID), count(FCHDIR)) == (2345, 17) && reported == irq,
            "--irq {irq}: getppid {}, fchdir {} (expected 2345, 17)\n{functions}",
            count(GETPPID),
            count(FCHDIR)
        );
    }
    Ok(())
}

/// Writes and removes a 1 MiB file.
const FILE_RUN: &str = "dd if=/dev/zero of=/root/ktrace-file-$$ bs=4096 count=256 2>/dev/null; rm /root/ktrace-file-$$";

/// The seed study's network finding, live: a network run over veth forwards packets through
/// `__dev_forward_skb2` and veth's functions, a file run does not; the file run writes. (The
/// study's `is_skb_forwardable` is inlined into `__dev_forward_skb2` in Debian's 6.12 build:
/// function-entry tracing cannot see inlined calls, so the test counts its caller.)
fn network_functions_only_in_the_network_run() -> anyhow::Result<()> {
    needs_function_tracing!();
    if !std::path::Path::new("/usr/bin/ip").exists() {
        eprintln!("skipped: no iproute2 ip here (the guests have it)");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let functions =
        ["--functions", "__dev_forward_skb2", "--functions", "vfs_write", "--module", "veth"];
    let network_run = ping_over_veth('n', 0, 20, "0.05");
    for (name, script) in [("net", network_run.as_str()), ("file", FILE_RUN)] {
        let record = dir.path().join(format!("{name}.json"));
        let mut args = vec!["run", "--record", record.to_str().unwrap()];
        args.extend(functions);
        args.extend(["--", "sh", "-c", script]);
        let (status, _, stderr) = ktrace(&args)?;
        ensure!(status.success(), "{name} run: {status}\n{stderr}");
    }
    let net = dir.path().join("net.json");
    let file = dir.path().join("file.json");
    let (status, csv, stderr) =
        ktrace(&["compare", net.to_str().unwrap(), file.to_str().unwrap(), "-o", "csv"])?;
    ensure!(status.success(), "compare: {status}\n{stderr}");
    // section,measure,name,module,run,value,ratio_to_first,hit,attached,only_in
    let value = |function: &str, run: &str| -> Option<(u64, String)> {
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f[0] == "function" && f[2] == function && f[4] == run)
            .map(|f| (f[5].parse().unwrap_or(0), f[9].to_owned()))
    };
    // At least the 20 echo requests cross the pair (replies and ARP add more, unless a reply is
    // lost under emulation).
    let (forwarded, only_in) = value("__dev_forward_skb2", "net")
        .context("__dev_forward_skb2 missing from the comparison")?;
    ensure!(
        forwarded >= 20 && only_in == "net",
        "__dev_forward_skb2 in net: {forwarded}, only in `{only_in}`\n{csv}"
    );
    ensure!(
        value("__dev_forward_skb2", "file").is_some_and(|(n, _)| n == 0),
        "__dev_forward_skb2 in file:\n{csv}"
    );
    ensure!(
        value("veth_xmit", "net").is_some_and(|(n, o)| n >= 20 && o == "net"),
        "veth_xmit:\n{csv}"
    );
    ensure!(value("vfs_write", "file").is_some_and(|(n, _)| n >= 256), "vfs_write in file:\n{csv}");
    // In the guests, the records go back to the host, whose DWARF of this kernel turns them
    // into coverage reports and figures (records::guest_records_export_and_plot).
    if let Some(out) = std::env::var_os("KTRACE_OUT") {
        let dir = std::path::Path::new(&out).join("network-vs-file");
        fs::create_dir_all(&dir)?;
        fs::copy(&net, dir.join("net.json"))?;
        fs::copy(&file, dir.join("file.json"))?;
    }
    Ok(())
}

/// None of `progs`/`links` remains, ftrace has no function enabled and no kprobe is set.
pub fn assert_clean_kernel(progs: &[u32], links: &[u32]) -> anyhow::Result<()> {
    for _ in 0..100 {
        let (loaded_progs, loaded_links) = loaded_bpf_ids();
        let ftrace =
            fs::read_to_string("/sys/kernel/tracing/enabled_functions").unwrap_or_default();
        let kprobes = fs::read_to_string("/sys/kernel/debug/kprobes/list").unwrap_or_default();
        let clean = progs.iter().all(|p| !loaded_progs.contains(p))
            && links.iter().all(|l| !loaded_links.contains(l))
            && ftrace.trim().is_empty()
            && kprobes.trim().is_empty();
        if clean {
            return Ok(());
        }
        thread::sleep(std::time::Duration::from_millis(100));
    }
    let ftrace = fs::read_to_string("/sys/kernel/tracing/enabled_functions").unwrap_or_default();
    anyhow::bail!(
        "kernel not clean: {} enabled_functions lines; programs {progs:?}, links {links:?}",
        ftrace.lines().count()
    )
}
