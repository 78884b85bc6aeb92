//! Benchmark of kernel function counting, run in the Debian 6.12 guest by `cargo xtask bench`
//! (it needs kprobe.multi, which this project's host kernel lacks). Ratios matter under TCG,
//! not absolute times; each configuration runs several times, interleaved, and medians are
//! compared.
//!
//! 1. `--all` with kprobe.multi: ktrace's whole attach (object load, syscall tracepoints, one
//!    kprobe.multi link for every traceable function, activation) and detach, against a bare
//!    kprobe.multi link of an empty program on the same function list.
//! 2. Cost per hit: a loop of getppid(2) in a traced cgroup, whose path crosses
//!    `__do_sys_getppid`, with (a) nothing attached, (b) an empty program on that function
//!    via kprobe.multi, (c) ktrace counting syscalls only, (d) ktrace counting syscalls and
//!    that function with kprobe.multi, (e) the same with fentry, and, when the kernel's DWARF
//!    is at hand (the guest mounts it), (f) ktrace counting a source line of that function
//!    (`--lines`: a kprobe at `__do_sys_getppid+offset`), once as the jump the kprobe
//!    optimizer patches in and once as the int3 breakpoint it starts as
//!    (`debug.kprobes-optimization` off). A counting program's cost per hit is its
//!    configuration minus (c), the empty program's (b - a), each the median of per-round
//!    differences. (g) is (d) with `--irq separate`, which reads the CPU's preempt count on
//!    every hit; it adds (g - d).
//! 3. The empty program, a floor program (one per-CPU add, nothing else) and ktrace's, attached
//!    together and timed by the kernel (`bpf_stats_enabled`).
//! 4. The peak memory of `ktrace attach --all` (the `ktrace` on the guest's PATH).
//!
//! A missed target is said on a `missed target:` line, and the exit status is then 1.
#[path = "common/peak_rss.rs"]
mod peak_rss;

use std::{
    ffi::CString,
    fs,
    os::fd::{AsRawFd as _, OwnedFd},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use tracer::{
    attach::{
        Backend, Diagnostics, FunctionPlan, Interrupts, IrqMode, Probes, preempt_count,
        raw::{self, LoadSpec},
    },
    cgroup::{Cgroup, Hierarchy},
    functions::{Filter, Inventory, Target, select},
    lines::{self, LineRequest, Probe},
};

const ROUNDS: usize = 3;
const HIT_ROUNDS: usize = 9;
const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";
/// The programs on getppid's kprobe.multi, as the kernel names them (15 characters at most).
const KPROBE_MULTI_PROGRAMS: [&str; 3] = ["kt_bench_empty", "kt_bench_floor", "kt_func_multi"];
const CALLS: u64 = 100_000;
/// Whether the kernel may turn kprobes into jumps (optprobes).
const KPROBE_OPTIMIZATION: &str = "/proc/sys/debug/kprobes-optimization";
const KPROBE_LIST: &str = "/sys/kernel/debug/kprobes/list";
/// Set in the child that runs the getppid loop: ktrace never counts its own process, which
/// the bench is, so the loop runs in a child process in the same cgroup.
const LOOP_CHILD: &str = "KTRACE_BENCH_LOOP";

fn main() -> anyhow::Result<()> {
    if std::env::var_os(LOOP_CHILD).is_some() {
        println!("{}", getppid_loop_ns());
        return Ok(());
    }
    let hierarchy = Hierarchy::discover()?;
    let (owned, cgroup) = hierarchy.create("ktrace-bench")?;
    let result = run(&cgroup);
    // Leave the cgroup before it is removed (removal kills what is inside).
    let root = cgroup.path.parent().context("cgroup without parent")?;
    fs::write(root.join("cgroup.procs"), "0").context("leaving the bench cgroup")?;
    drop(owned);
    result
}

fn run(cgroup: &Cgroup) -> anyhow::Result<()> {
    let mut missed = Vec::new();
    let inventory = Inventory::read()?;
    let all = select(&inventory, &Filter { all: true, ..Filter::default() })?.targets;
    println!("kernel {}", fs::read_to_string("/proc/sys/kernel/osrelease")?.trim());
    println!("--all: {} functions\n", all.len());

    let mut bare = (Vec::new(), Vec::new());
    let mut ktrace = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (attach, detach) = bare_link(&all)?;
        bare.0.push(attach);
        bare.1.push(detach);
        let plan = FunctionPlan { backend: Backend::KprobeMulti, targets: all.clone() };
        let start = Instant::now();
        let probes = Probes::attach(
            std::slice::from_ref(cgroup),
            false,
            None,
            Some(plan),
            &[],
            Interrupts::default(),
            Diagnostics::Off,
        )?;
        ktrace.0.push(start.elapsed());
        let start = Instant::now();
        drop(probes);
        ktrace.1.push(start.elapsed());
    }
    let (bare_attach, bare_detach, kt_attach, kt_detach) =
        (median(&mut bare.0), median(&mut bare.1), median(&mut ktrace.0), median(&mut ktrace.1));
    println!(
        "attach --all   bare link {:>7.2} s   ktrace {:>7.2} s   ratio {:.2} (target <= 1.2, ktrace <= 10 s)",
        secs(bare_attach),
        secs(kt_attach),
        secs(kt_attach) / secs(bare_attach)
    );
    println!(
        "detach --all   bare link {:>7.2} s   ktrace {:>7.2} s   (target ktrace <= 5 s)\n",
        secs(bare_detach),
        secs(kt_detach)
    );
    if secs(kt_attach) / secs(bare_attach) > 1.2 || secs(kt_attach) > 10.0 {
        missed.push("attach --all <= 1.2x the bare link and <= 10 s");
    }
    if secs(kt_detach) > 5.0 {
        missed.push("detach --all <= 5 s");
    }
    let all_rss = peak_rss::peak_rss_mib(
        Command::new("ktrace")
            .arg("attach")
            .arg("--cgroup")
            .arg(&cgroup.path)
            .args(["--all", "-d", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    println!("peak RSS of ktrace attach --all -d 2 (one cgroup): {all_rss:.1} MiB\n");

    // The loop runs in a child of this process, which is moved into the traced cgroup.
    fs::write(cgroup.path.join("cgroup.procs"), "0").context("joining the bench cgroup")?;
    let getppid = all
        .iter()
        .find(|t| t.name == "__do_sys_getppid")
        .context("__do_sys_getppid is not traceable")?;
    let preempt_count = preempt_count()?;
    let separate = Interrupts { mode: IrqMode::Separate, preempt_count };
    let getppid_plan = |backend| FunctionPlan { backend, targets: vec![getppid.clone()] };
    let line = line_probe(cgroup, &getppid.name)?;
    let count = |plan: Option<FunctionPlan>,
                 line: &[Probe],
                 interrupts: Interrupts|
     -> anyhow::Result<f64> {
        let probes = Probes::attach(
            std::slice::from_ref(cgroup),
            false,
            None,
            plan,
            line,
            interrupts,
            Diagnostics::Off,
        )?;
        let optimizing = !line.is_empty() && fs::read_to_string(KPROBE_OPTIMIZATION)?.trim() == "1";
        anyhow::ensure!(!optimizing || optimized()?, "the line kprobe was not optimized");
        let ns = loop_ns();
        let snapshot = probes.snapshot()?;
        let counted = snapshot.functions.or(snapshot.lines).context("no counts")?[0][0];
        anyhow::ensure!(counted == CALLS, "ktrace counted {counted} of {CALLS} calls");
        Ok(ns)
    };
    // Per round, side by side: nothing, empty program, ktrace syscalls, ktrace + function
    // (kprobe.multi, fentry), ktrace + a line (optimized kprobe, int3 kprobe).
    let mut rounds = Vec::new();
    for _ in 0..HIT_ROUNDS {
        let none = loop_ns();
        let empty = {
            let prog = empty_program()?;
            let name = CString::new(getppid.name.as_str())?;
            let _link = raw::kprobe_multi_link(&prog, [name.as_c_str()])?;
            loop_ns()
        };
        let syscalls = {
            let _probes = Probes::attach(
                std::slice::from_ref(cgroup),
                false,
                None,
                None,
                &[],
                Interrupts::default(),
                Diagnostics::Off,
            )?;
            loop_ns()
        };
        let task = Interrupts::default();
        let multi = count(Some(getppid_plan(Backend::KprobeMulti)), &[], task)?;
        let fentry = count(Some(getppid_plan(Backend::Fentry)), &[], task)?;
        let (jump, int3) = match &line {
            Some(probe) => {
                let jump = count(None, std::slice::from_ref(probe), task)?;
                fs::write(KPROBE_OPTIMIZATION, "0").context("turning kprobe optimization off")?;
                let int3 = count(None, std::slice::from_ref(probe), task);
                fs::write(KPROBE_OPTIMIZATION, "1")?;
                (jump, int3?)
            }
            None => (f64::NAN, f64::NAN),
        };
        let separate = count(Some(getppid_plan(Backend::KprobeMulti)), &[], separate)?;
        rounds.push([none, empty, syscalls, multi, fentry, jump, int3, separate]);
    }
    let column = |i: usize| median_f(&mut rounds.iter().map(|r| r[i]).collect::<Vec<_>>());
    println!("getppid loop, ns per call (median of {HIT_ROUNDS} rounds x {CALLS} calls):");
    println!("  nothing attached                           {:>9.1}", column(0));
    println!("  empty program, kprobe.multi                {:>9.1}", column(1));
    println!("  ktrace, syscalls only                      {:>9.1}", column(2));
    println!("  ktrace, syscalls + function, kprobe.multi  {:>9.1}", column(3));
    println!("  ktrace, syscalls + function, fentry        {:>9.1}", column(4));
    println!("  ktrace, syscalls + line, optimized kprobe  {:>9.1}", column(5));
    println!("  ktrace, syscalls + line, int3 kprobe       {:>9.1}", column(6));
    println!("  ... kprobe.multi with --irq separate       {:>9.1}", column(7));
    // Differences within a round, so that drift between rounds cancels out.
    let hit = |i: usize, base: usize| {
        median_f(&mut rounds.iter().map(|r| r[i] - r[base]).collect::<Vec<_>>())
    };
    let empty_hit = hit(1, 0);
    let counting_hit = hit(3, 2);
    println!(
        "cost per hit (medians of the rounds' differences): empty program {empty_hit:.1} ns, ktrace's counting program {counting_hit:.1} ns, ratio {:.2} (target <= 1.10)",
        counting_hit / empty_hit
    );
    if counting_hit / empty_hit > 1.10 {
        missed.push("function counting per hit <= 1.10x the empty program (kprobe.multi)");
    }
    println!(
        "cost per hit of ktrace's counting: kprobe.multi {counting_hit:.1} ns, fentry {:.1} ns, line kprobe (optimized) {:.1} ns, line kprobe (int3) {:.1} ns",
        hit(4, 2),
        hit(5, 2),
        hit(6, 2)
    );
    let irq_hit = hit(7, 3);
    println!(
        "--irq separate adds {irq_hit:.1} ns per hit, ratio {:.2} to the counting program's hit (target <= 1.10)",
        (counting_hit + irq_hit) / counting_hit
    );

    // The kernel's own clock on the programs, attached together to the same function: less
    // noisy than differences of loop times. The floor program adds one to a per-CPU counter
    // and nothing else; no program that also tells cgroups and functions apart can cost less.
    let name = CString::new(getppid.name.as_str())?;
    let empty = empty_program()?;
    let _empty_link = raw::kprobe_multi_link(&empty, [name.as_c_str()])?;
    let (floor, _floor_map) = floor_program()?;
    let _floor_link = raw::kprobe_multi_link(&floor, [name.as_c_str()])?;
    let probes = Probes::attach(
        std::slice::from_ref(cgroup),
        false,
        None,
        Some(getppid_plan(Backend::KprobeMulti)),
        &[],
        Interrupts::default(),
        Diagnostics::Off,
    )?;
    fs::write(BPF_STATS, "1").context("enabling BPF run-time statistics")?;
    loop_ns();
    fs::write(BPF_STATS, "0")?;
    let mut run_ns = Vec::new();
    for info in aya::programs::loaded_programs() {
        let info = info?;
        if let Some(name) = info.name_as_str().filter(|n| KPROBE_MULTI_PROGRAMS.contains(n))
            && info.run_count() > 0
        {
            run_ns.push((
                name.to_owned(),
                info.run_time().as_nanos() as f64 / info.run_count() as f64,
            ));
        }
    }
    drop(probes);
    let ns_of = |name: &str| run_ns.iter().find(|(n, _)| n == name).map(|&(_, ns)| ns);
    let empty_ns = ns_of("kt_bench_empty").context("no run time of the empty program")?;
    println!(
        "run time per hit by kernel.bpf_stats_enabled, over the empty program's {empty_ns:.1} ns:"
    );
    for (name, ns) in &run_ns {
        let added = ns - empty_ns;
        println!(
            "  {name:<16} {ns:>7.1} ns   {added:>+6.1} ns   ratio {:.2} to the loop's empty-program hit",
            (empty_hit + added) / empty_hit
        );
    }
    for target in &missed {
        println!("missed target: {target}");
    }
    if !missed.is_empty() {
        bail!("{} targets missed", missed.len());
    }
    Ok(())
}

/// A line probe inside `function` past its entry (there a kprobe goes through ftrace) that
/// the kprobe optimizer turns into a jump (not every site allows it), from the running
/// kernel's DWARF; `None`, said on stdout, without that DWARF or such a site.
fn line_probe(cgroup: &Cgroup, function: &str) -> anyhow::Result<Option<Probe>> {
    let request = LineRequest { functions: vec![function.to_owned()], ..LineRequest::default() };
    let plan = match lines::plan(&request) {
        Ok(plan) => plan,
        Err(e) => {
            println!("no line probe measured: {e:#}\n");
            return Ok(None);
        }
    };
    for probe in plan.probes.into_iter().filter(|p| p.offset > 0 && p.unprobeable.is_none()) {
        let _probes = Probes::attach(
            std::slice::from_ref(cgroup),
            false,
            None,
            None,
            std::slice::from_ref(&probe),
            Interrupts::default(),
            Diagnostics::Off,
        )?;
        if optimized()? {
            println!(
                "line probe: {}+{:#x} (lines {:?} of {function}), optimized\n",
                probe.symbol, probe.offset, probe.lines
            );
            return Ok(Some(probe));
        }
    }
    println!("no line probe measured: the optimizer patched no line of {function}\n");
    Ok(None)
}

/// Waits (up to 10 s: it waits for an RCU tasks grace period) until the kprobe optimizer has
/// turned the line probe into a jump; whether it did.
fn optimized() -> anyhow::Result<bool> {
    for _ in 0..1000 {
        let list = fs::read_to_string(KPROBE_LIST).context("reading the kprobe list")?;
        if list.lines().any(|l| l.contains("[OPTIMIZED]")) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(false)
}

/// Attach and detach time of one kprobe.multi link of an empty program on `targets`.
fn bare_link(targets: &[Target]) -> anyhow::Result<(Duration, Duration)> {
    let prog = empty_program()?;
    let names: Vec<CString> =
        targets.iter().map(|t| CString::new(t.name.as_str())).collect::<Result<_, _>>()?;
    let start = Instant::now();
    let link = raw::kprobe_multi_link(&prog, names.iter().map(CString::as_c_str))
        .context("bare kprobe.multi link")?;
    let attach = start.elapsed();
    let start = Instant::now();
    drop(link);
    Ok((attach, start.elapsed()))
}

/// `r0 = 0; exit`, loaded for kprobe.multi.
fn empty_program() -> anyhow::Result<OwnedFd> {
    // SAFETY: bpf_insn is plain old data.
    let mut insns: [bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K, dst r0, imm 0
    insns[1].code = 0x95; // BPF_JMP | BPF_EXIT
    let spec = LoadSpec {
        name: "kt_bench_empty",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_KPROBE,
        expected_attach_type: Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI),
        attach_btf_id: None,
    };
    Ok(raw::load(&spec, &insns)?)
}

/// A program that adds one to the first counter of a one-entry per-CPU array it owns, loaded
/// for kprobe.multi; the map is returned with it.
fn floor_program() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let map = raw::create_per_cpu_array(4, 8, 1).context("creating the floor program's map")?;
    let insn = |code: u8, dst: u8, src: u8, off: i16, imm: i32| {
        // SAFETY: bpf_insn is plain old data.
        let mut insn: bpf_insn = unsafe { std::mem::zeroed() };
        insn.code = code;
        insn.set_dst_reg(dst);
        insn.set_src_reg(src);
        insn.off = off;
        insn.imm = imm;
        insn
    };
    let insns = [
        insn(0xb7, 1, 0, 0, 0),               // r1 = 0
        insn(0x63, 10, 1, -4, 0),             // *(u32 *)(r10 - 4) = r1
        insn(0xbf, 2, 10, 0, 0),              // r2 = r10
        insn(0x07, 2, 0, 0, -4),              // r2 += -4
        insn(0x18, 1, 1, 0, map.as_raw_fd()), // r1 = map (BPF_PSEUDO_MAP_FD)
        insn(0, 0, 0, 0, 0),                  //   (second half of the 64-bit load)
        insn(0x85, 0, 0, 0, 1),               // call bpf_map_lookup_elem
        insn(0x15, 0, 0, 3, 0),               // if r0 == 0 goto +3
        insn(0x79, 1, 0, 0, 0),               // r1 = *(u64 *)(r0 + 0)
        insn(0x07, 1, 0, 0, 1),               // r1 += 1
        insn(0x7b, 0, 1, 0, 0),               // *(u64 *)(r0 + 0) = r1
        insn(0xb7, 0, 0, 0, 0),               // r0 = 0
        insn(0x95, 0, 0, 0, 0),               // exit
    ];
    let spec = LoadSpec {
        name: "kt_bench_floor",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_KPROBE,
        expected_attach_type: Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI),
        attach_btf_id: None,
    };
    Ok((raw::load(&spec, &insns)?, map))
}

/// Nanoseconds per getppid(2) over CALLS calls.
/// ns per call of the getppid loop, run in a child process (see [`LOOP_CHILD`]).
fn loop_ns() -> f64 {
    let output = std::process::Command::new("/proc/self/exe")
        .env(LOOP_CHILD, "1")
        .output()
        .expect("running the getppid loop in a child");
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("the child's ns per call")
}

fn getppid_loop_ns() -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
