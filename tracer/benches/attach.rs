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
//!    that function. The counting program's cost per hit is (d - c), the empty program's
//!    (b - a).
use std::{
    ffi::CString,
    fs,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use aya_obj::generated::{bpf_attach_type, bpf_insn, bpf_prog_type};
use tracer::{
    attach::{
        Backend, FunctionPlan, Probes,
        raw::{self, LoadSpec},
    },
    cgroup::{Cgroup, Hierarchy},
    functions::{Filter, Inventory, Target, select},
};

const ROUNDS: usize = 3;
const HIT_ROUNDS: usize = 5;
const CALLS: u64 = 100_000;

fn main() -> anyhow::Result<()> {
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
        let probes = Probes::attach(std::slice::from_ref(cgroup), None, Some(plan))?;
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

    // The loop runs in this process, moved into the traced cgroup.
    fs::write(cgroup.path.join("cgroup.procs"), "0").context("joining the bench cgroup")?;
    let getppid = all
        .iter()
        .find(|t| t.name == "__do_sys_getppid")
        .context("__do_sys_getppid is not traceable")?;
    let mut per_call: [Vec<f64>; 4] = Default::default();
    for _ in 0..HIT_ROUNDS {
        per_call[0].push(loop_ns());
        {
            let prog = empty_program()?;
            let name = CString::new(getppid.name.as_str())?;
            let _link = raw::kprobe_multi_link(&prog, &[(name, 0)])?;
            per_call[1].push(loop_ns());
        }
        {
            let _probes = Probes::attach(std::slice::from_ref(cgroup), None, None)?;
            per_call[2].push(loop_ns());
        }
        {
            let plan =
                FunctionPlan { backend: Backend::KprobeMulti, targets: vec![getppid.clone()] };
            let probes = Probes::attach(std::slice::from_ref(cgroup), None, Some(plan))?;
            per_call[3].push(loop_ns());
            let counted = probes.snapshot()?.functions.context("no function counts")?[0][0];
            anyhow::ensure!(counted == CALLS, "ktrace counted {counted} of {CALLS} calls");
        }
    }
    let [none, empty, syscalls, counting] = per_call.map(|mut v| median_f(&mut v));
    println!("getppid loop, ns per call (median of {HIT_ROUNDS} x {CALLS}):");
    println!("  nothing attached                    {none:>9.1}");
    println!("  empty program, kprobe.multi         {empty:>9.1}");
    println!("  ktrace, syscalls only               {syscalls:>9.1}");
    println!("  ktrace, syscalls + function count   {counting:>9.1}");
    let empty_hit = empty - none;
    let counting_hit = counting - syscalls;
    println!(
        "cost per hit: empty program {empty_hit:.1} ns, ktrace's counting program {counting_hit:.1} ns, ratio {:.2} (target <= 1.10)",
        counting_hit / empty_hit
    );
    Ok(())
}

/// Attach and detach time of one kprobe.multi link of an empty program on `targets`.
fn bare_link(targets: &[Target]) -> anyhow::Result<(Duration, Duration)> {
    let prog = empty_program()?;
    let pairs: Vec<(CString, u64)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| Ok((CString::new(t.name.as_str())?, i as u64)))
        .collect::<anyhow::Result<_>>()?;
    let start = Instant::now();
    let link = raw::kprobe_multi_link(&prog, &pairs).context("bare kprobe.multi link")?;
    let attach = start.elapsed();
    let start = Instant::now();
    drop(link);
    Ok((attach, start.elapsed()))
}

/// `r0 = 0; exit`, loaded for kprobe.multi.
fn empty_program() -> anyhow::Result<std::os::fd::OwnedFd> {
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
    raw::load(&spec, &insns)
}

/// Nanoseconds per getppid(2) over CALLS calls.
fn loop_ns() -> f64 {
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
