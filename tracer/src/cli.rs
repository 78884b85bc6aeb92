//! The command line (clap derive), and its translation into the library's own inputs: a
//! [`plan::Request`], [`session::Options`], an output format. Only the binary knows clap.
use std::{ffi::OsString, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracer::{
    attach::{Backend, DEFAULT_FREQUENCY_HZ, Diagnostics, IrqMode, Sampling},
    compare, export,
    functions::Filter,
    lines::LineRequest,
    plan, ps, serve, session,
    study::{self, Benchmark, Kind},
    target,
};

const EXAMPLES: &str = "\
Examples:
  sudo ktrace run                                  built-in CPU, memory, file I/O and network benchmarks
  sudo ktrace run -- sysbench cpu run              trace one command in a fresh cgroup
  sudo ktrace run -o json -- ./my-benchmark > run.json
  sudo ktrace ps                                   containers, sandboxes and VMs, and their cgroups
  sudo ktrace attach --cgroup gvisor -d 10         trace a container by name, or a cgroup, for 10 s
  sudo ktrace attach --pid 4242 --move             a process in the v2 root (a VM), moved for the trace
  sudo ktrace attach --cgroup web --wait           from the container's start: run `runc create web` next
  sudo ktrace run -- runc run web                  the container (runc's cgroup lands in the run's)
  sudo ktrace attach --cgroup lxc --cgroup gvisor -i 1   one column per cgroup, a table every second
  sudo ktrace attach --cgroup system.slice/docker-1234.scope -o csv > counts.csv
  sudo ktrace run --sample --stacks write.folded -- dd if=/dev/zero of=/dev/null count=1M
  sudo ktrace top --cgroup lxc --cgroup gvisor --sample   live view, side by side
  sudo ktrace run --live -- make -j8               live view while the command runs
  sudo ktrace run --functions 'vfs_*' --module veth -- iperf3 -c 10.0.0.2
  sudo ktrace run --lines __is_skb_forwardable --source ~/linux -- ping -c 5 10.0.0.2
  sudo ktrace attach --cgroup lxc --all --dry-run  what --all would attach, and how
  sudo ktrace record -o lxc.json --cgroup lxc -d 60 --sample   save the totals as a record
  sudo ktrace run --record build.json -- make -j8
  ktrace compare lxc.json gvisor.json -o markdown  side by side, no root needed
  sudo ktrace serve --cgroup lxc --cgroup gvisor   Prometheus metrics on 127.0.0.1:9435
  sudo ktrace study -o out                         every platform x benchmark, with a report";

const STUDY_EXAMPLES: &str = "\
Examples:
  sudo ktrace study -o out                         every platform that works here, all benchmarks
  sudo ktrace study --platforms bare,runc,runsc --benchmarks cpu,network --seconds 2 -o out
  sudo ktrace study --sample -o out                sample kernel functions instead of counting
  ktrace study --report-only out --vmlinux vmlinux-6.12   the report again, with the kernel's DWARF

Files in DIR:
  <platform>-<benchmark>.json   one record per run (see `ktrace record`)
  study.json                    what ran: platforms, versions, scores, failures
  report.md, report.json        the report; lcov/<platform>.info with counted functions and DWARF";

/// Count host kernel activity per cgroup (container, VM, command), live, with eBPF.
///
/// ktrace counts every syscall made by the tasks of one or more cgroup v2 directories
/// (descendants included), with how many of them failed, and prints a frequency table. With
/// --sample it adds a sampled profile of the kernel functions those tasks run.
#[derive(Debug, Parser)]
#[command(name = "ktrace", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace existing cgroups until -d expires or Ctrl-C / SIGTERM.
    #[command(after_help = EXAMPLES)]
    Attach(AttachArgs),
    /// Run a command in a fresh cgroup and trace it until it exits.
    ///
    /// The command joins the new cgroup before it execs, so nothing it does escapes. Without a
    /// command, runs the built-in default workload: short CPU, memory, file I/O (sysbench) and
    /// network (iperf3 over a private veth pair) benchmarks, each in a cgroup of its own below
    /// the run's, so each gets a column; KTRACE_WORKLOAD_SECONDS sets their length (1-3600,
    /// default 3). ktrace exits with the command's exit status (128+signal if stopped) and
    /// removes the cgroup.
    #[command(after_help = EXAMPLES)]
    Run(RunArgs),
    /// Watch existing cgroups live, top-style, until q, -d, Ctrl-C or SIGTERM.
    ///
    /// Tabs show syscalls, sampled kernel functions and modules (those two with --sample); one
    /// column group per cgroup with the rate in the last interval, the total since start and
    /// the share of the cgroup's total. -i sets the refresh interval (default 1 s). Keys: Tab
    /// views, s sort key, c or 0-9 sort cgroup, / filter, space pause, r reset totals, ? help,
    /// q quit. The totals are printed on exit. When stdout is not a terminal, prints a report
    /// every interval instead, as `attach -i` does. With counted functions or lines and --irq
    /// separate (the default), a function's, module's or line's figures in interrupt context
    /// are a row of their own, "NAME [irq]", with one more column, (interrupts), for those of
    /// the whole machine.
    #[command(after_help = EXAMPLES)]
    Top(AttachArgs),
    /// Trace existing cgroups like attach, then save the totals as a record file.
    ///
    /// A record is the JSON report plus what a comparison needs: host, kernel release and
    /// build id, backends, function targets (docs/json-schema.md, "Records"). It is written
    /// atomically; an existing file is replaced only with --force.
    #[command(after_help = EXAMPLES)]
    Record(RecordArgs),
    /// Compare records side by side: per syscall, kernel function and module. Needs no root.
    ///
    /// One column per record, or per cgroup of a record with several ("label:cgroup"); the
    /// figures of each, their ratio to the first and "only in" for items that some runs lack.
    #[command(after_help = EXAMPLES)]
    Compare(CompareArgs),
    /// Export a record for other tools: an lcov tracefile of kernel function coverage.
    ///
    /// Each counted function is placed in its source file with the DWARF of the traced kernel
    /// (--vmlinux, or Debian's linux-image-<release>-dbg in its standard places); genhtml
    /// renders the tracefile into a per-directory report (`genhtml --no-source -o html
    /// run.info`), and lcov diffs two platforms' tracefiles. Needs no root. From a record made
    /// with --irq separate (the default) a cgroup's tracefile counts its tasks' own entries;
    /// `--irq task` adds the interrupts that came while it ran, and `--cgroup '(interrupts)'`
    /// exports the machine's interrupt context.
    Export(ExportArgs),
    /// List the containers, sandboxes and VMs on this host, with the cgroup ktrace traces.
    ///
    /// Reads the runtimes' state files (runc, crun, runsc, Docker, Podman, containerd, LXC,
    /// libvirt, systemd-nspawn, the Firecracker jailer) and finds bare QEMU and Firecracker
    /// processes; no daemon is asked. The cgroup is where the processes really are (the `0::`
    /// line of /proc/PID/cgroup). For a workload without a cgroup v2 directory of its own (a
    /// gVisor sandbox in the v2 root of a hybrid host) it says why and what to do. The NAME
    /// column is what `--cgroup` takes.
    #[command(after_help = EXAMPLES)]
    Ps(PsArgs),
    /// Trace existing cgroups and serve the counters as Prometheus metrics (GET /metrics).
    ///
    /// Counters per cgroup and syscall (calls, errors), per counted kernel function and per
    /// sampled kernel function, refreshed every -i seconds (default 1), until -d, Ctrl-C or
    /// SIGTERM.
    #[command(after_help = EXAMPLES)]
    Serve(ServeArgs),
    /// Run every platform x benchmark, each traced in a cgroup of its own, and report.
    ///
    /// Platforms: a bare process, runc and LXC containers, a gVisor (runsc) sandbox and a small
    /// QEMU VM (KVM where it works, else TCG); benchmarks: sysbench cpu, memory and fileio,
    /// and iperf3 over a private veth or tap link (198.18.2.0/30, in namespaces of their own).
    /// ktrace builds what they need itself (an OCI root file system from busybox and the
    /// benchmarks; the VM's Debian kernel and initramfs), cached in /var/cache/ktrace/study.
    /// Each run is traced from the platform's start to its end: syscalls, and kernel
    /// functions counted (--all by default) or, where this kernel cannot trace functions,
    /// sampled. The report compares performance, syscalls, kernel coverage per source
    /// directory and module, and the hottest functions, and says what ktrace cannot see.
    /// Ctrl-C stops the study and removes every container, VM, namespace and cgroup it
    /// started. Exit status 1 if some runs failed, 128+signal if interrupted.
    #[command(after_help = STUDY_EXAMPLES)]
    Study(StudyArgs),
}

/// The cgroups to trace and for how long, for commands that trace existing cgroups.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// cgroup to trace: a container's, sandbox's or VM's name or id (or unique id prefix, see
    /// `ktrace ps`), an absolute path, a path relative to the cgroup v2 mount, or a directory
    /// name that is unique in the v2 tree; `/` alone is the v2 root, every task on the host.
    /// Repeat for one column each. A named sandbox whose
    /// processes are in the v2 root is moved into a cgroup of its own for the trace.
    #[arg(short, long = "cgroup", value_name = "NAME|PATH", required_unless_present = "pids")]
    pub cgroups: Vec<String>,

    /// Trace the cgroup of process PID (and so its descendants). Repeatable. A process in
    /// the cgroup v2 root is refused unless --move is given.
    #[arg(short, long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,

    /// Move a --pid that is in the cgroup v2 root, with its descendants, into a new cgroup
    /// for the trace; they go back, and the cgroup is removed, when the trace ends.
    #[arg(long = "move", requires = "pids")]
    pub move_processes: bool,

    /// Wait for --cgroup names that do not exist yet (a container about to start), then
    /// trace them from their first syscall where the runtime allows (`runc create`).
    #[arg(long)]
    pub wait: bool,

    /// Stop after this many seconds (default: until Ctrl-C or SIGTERM).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
}

impl TargetArgs {
    /// The cgroups to trace, as the library takes them.
    pub fn request(&self) -> target::Request {
        target::Request {
            cgroups: self.cgroups.clone(),
            pids: self.pids.clone(),
            wait: self.wait,
            move_processes: self.move_processes,
        }
    }
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Write the record to FILE.
    #[arg(short, long = "output", value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Records written by `ktrace record` or `ktrace run --record`; the first is the baseline
    /// of the ratios.
    #[arg(value_name = "RECORD", num_args = 2.., required = true)]
    pub records: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = CompareFormat::Table)]
    pub output: CompareFormat,

    /// Label of a record's columns, one per RECORD in their order (default: the file's stem,
    /// or the shortest path suffix that tells equal stems apart, e.g. `d1/r` and `d2/r`).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,

    /// Show only the N rows with the most (summed over runs) of each section.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Kernel image with DWARF, to group counted functions by source directory (default:
    /// Debian's debug package of each record's kernel in its standard places).
    #[arg(long, value_name = "PATH")]
    pub vmlinux: Option<PathBuf>,

    /// Also draw the comparison as a figure, FILE.svg or FILE.png (twice the size, for
    /// print): per source directory (per module without DWARF) each run's share of attached
    /// functions entered and its entries; for sampled records, samples per module.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// Replace an existing --plot file.
    #[arg(long, requires = "plot")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A record written by `ktrace record` or `ktrace run --record` with counted functions.
    #[arg(value_name = "RECORD")]
    pub record: PathBuf,

    /// Export format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Lcov)]
    pub format: ExportFormat,

    /// The traced cgroup to export, by label; needed when the record traced several. With a
    /// record made with --irq separate (the default), '(interrupts)' exports every function
    /// entry and line hit in interrupt context on the machine, whoever was interrupted.
    #[arg(long, value_name = "LABEL")]
    pub cgroup: Option<String>,

    /// What the cgroup's tracefile counts of interrupt context (softirq, hardirq, NMI), from
    /// a record made with --irq separate: exclude (the default) counts its tasks' own entries,
    /// task adds the interrupts that came while its task ran, as --irq task would have
    /// counted; for counted functions and lines alike.
    #[arg(long, value_enum, value_name = "MODE")]
    pub irq: Option<ExportIrqArg>,

    /// Kernel image with DWARF of the traced kernel (default: the standard debug locations).
    #[arg(long, value_name = "PATH")]
    pub vmlinux: Option<PathBuf>,

    /// Write to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Replace an existing output file.
    #[arg(long, requires = "output")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PsFormat::Table)]
    pub output: PsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsFormat {
    /// Aligned columns, then why each workload without a cgroup has none.
    Table,
    /// One JSON array of workloads (docs/json-schema.md, "Workloads").
    Json,
}

impl From<PsFormat> for ps::Format {
    fn from(format: PsFormat) -> Self {
        match format {
            PsFormat::Table => Self::Table,
            PsFormat::Json => Self::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// lcov tracefile: function records per source file.
    Lcov,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to serve /metrics on. The default is loopback only; to let another
    /// host scrape, bind its address explicitly.
    #[arg(long, value_name = "ADDR:PORT", default_value = serve::DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Refresh the counters every this many seconds (default 1).
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub interval: Option<Duration>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Platforms to compare, comma-separated: bare, runc, lxc, runsc, qemu (firecracker is
    /// not driven yet). Default: every one that works here; the others are skipped with their
    /// reason.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub platforms: Option<Vec<Kind>>,

    /// Benchmarks, comma-separated: cpu, memory, fileio, network.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "cpu,memory,fileio,network"
    )]
    pub benchmarks: Vec<Benchmark>,

    /// Length of each benchmark, in seconds.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub seconds: u32,

    /// Directory for the records and the report (created if needed).
    #[arg(short = 'o', long = "output", value_name = "DIR", default_value = "ktrace-study")]
    pub output: PathBuf,

    /// Replace an earlier study in DIR.
    #[arg(long)]
    pub force: bool,

    /// Also sample kernel functions HZ times per second per CPU (default 999). Alone, it
    /// replaces the default --all: functions are sampled, not counted.
    #[arg(long, value_name = "HZ", num_args = 0..=1, default_missing_value = "999")]
    pub sample: Option<u64>,

    /// Make the report of the study in DIR again from its files, running nothing (e.g. on a
    /// host that has the DWARF of a guest's kernel). Needs no root.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["platforms", "sample", "force"])]
    pub report_only: Option<PathBuf>,

    /// Kernel image with DWARF of the traced kernel, for coverage per source directory, the
    /// lcov tracefiles and --lines (default: Debian's debug package in its standard places).
    #[arg(long, value_name = "PATH")]
    pub vmlinux: Option<PathBuf>,

    /// Count the hits of every source line of kernel FUNCTION in every run (repeatable; see
    /// `ktrace run --help`). Default, when the network benchmark runs and the kernel has
    /// kprobes and its DWARF: the seed study's line table, the lines of the function that
    /// holds is_skb_forwardable's body (__is_skb_forwardable on Linux 6.12). `--lines none`
    /// counts no lines.
    #[arg(long = "lines", value_name = "FUNCTION", conflicts_with = "report_only")]
    pub lines: Vec<String>,

    /// Kernel source tree, to show the text of each line counted with --lines.
    #[arg(long, value_name = "DIR", conflicts_with = "report_only")]
    pub source: Option<PathBuf>,

    #[command(flatten)]
    pub functions: FunctionArgs,
}

impl StudyArgs {
    /// What to plan for: every function (--all, sampled where the kernel cannot count them)
    /// unless the options say otherwise.
    pub fn request(&self) -> plan::Request {
        let f = &self.functions;
        let chosen = self.sample.is_some() || !f.functions.is_empty() || !f.modules.is_empty();
        plan::Request {
            sampling: self.sample.map(|frequency_hz| Sampling { frequency_hz, stacks: false }),
            latency: false,
            functions: Filter {
                patterns: f.functions.clone(),
                modules: f.modules.clone(),
                all: f.all || !chosen,
                exclude: f.exclude.clone(),
            },
            backend: f.backend.backend(),
            irq: f.irq.map(IrqArg::mode),
            lines: LineRequest {
                functions: self.lines.iter().filter(|f| *f != "none").cloned().collect(),
                vmlinux: self.vmlinux.clone(),
                source: self.source.clone(),
            },
            dry_run: f.dry_run,
        }
    }

    /// Whether the study counts the seed study's line table unless told otherwise: no
    /// --lines given and the network benchmark runs.
    pub fn seed_lines(&self) -> bool {
        self.lines.is_empty() && self.benchmarks.contains(&Benchmark::Network)
    }

    /// What to study.
    pub fn options(&self) -> study::Options {
        study::Options {
            platforms: self.platforms.clone(),
            benchmarks: self.benchmarks.clone(),
            seconds: self.seconds,
            dir: self.output.clone(),
            vmlinux: self.vmlinux.clone(),
            why_no_lines: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Name of the cgroup to create under the v2 mount (default: ktrace-run-<pid>).
    #[arg(long, value_name = "NAME", value_parser = parse_cgroup_name)]
    pub name: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub trace: TraceArgs,

    /// Show the live view of `ktrace top` while the command runs (refreshed every -i seconds,
    /// default 1); the report is printed when it exits. q passes a Ctrl-C on to the command.
    #[arg(long)]
    pub live: bool,

    /// Also save the totals as a record file (see `ktrace record`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// The command to run; omit it for the built-in default workload.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Also print the counts of each interval of this many seconds.
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub interval: Option<Duration>,

    /// Output format on stdout; status lines always go to stderr.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Show only the N syscalls with the most calls.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

impl OutputArgs {
    /// The options of a session that prints as these arguments say.
    pub fn options(&self, trace: &TraceArgs) -> session::Options {
        trace.options(self.interval, self.output.into(), self.top)
    }
}

/// What to trace besides syscalls, shared by every command that traces.
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,

    #[command(flatten)]
    pub functions: FunctionArgs,

    #[command(flatten)]
    pub lines: LineArgs,
    /// Also time every syscall from entry to return (blocking included) and report p50, p90,
    /// p99, p99.9 and max per syscall and cgroup (log-linear histograms, within 1.7%). Kernel
    /// memory: 1 MiB per traced cgroup and CPU, preallocated (128 syscalls per cgroup).
    #[arg(long)]
    pub latency: bool,

    /// Also print ktrace's own eBPF diagnostics on stderr: hits it could not count, and why.
    #[arg(short, long)]
    pub verbose: bool,
}

impl TraceArgs {
    /// What to plan for.
    pub fn request(&self) -> plan::Request {
        let f = &self.functions;
        plan::Request {
            sampling: self.profile.sampling(),
            latency: self.latency,
            functions: Filter {
                patterns: f.functions.clone(),
                modules: f.modules.clone(),
                all: f.all,
                exclude: f.exclude.clone(),
            },
            backend: f.backend.backend(),
            irq: f.irq.map(IrqArg::mode),
            lines: self.lines.request(),
            dry_run: f.dry_run,
        }
    }

    /// The options of a session that prints every `interval` in `format`, cut to `top` rows.
    pub fn options(
        &self,
        interval: Option<Duration>,
        format: export::Format,
        top: Option<usize>,
    ) -> session::Options {
        session::Options {
            interval,
            format,
            top,
            stacks: self.profile.stacks.clone(),
            force: self.profile.force,
            outlive_stdout: false,
            diagnostics: if self.verbose { Diagnostics::Stderr } else { Diagnostics::Off },
        }
    }
}

/// A sampled profile of kernel functions: works where function tracing is forbidden, but its
/// figures are samples (statistical), never counts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Kernel profile (sampled)")]
pub struct ProfileArgs {
    /// Sample the kernel instruction pointer of the traced cgroups' tasks HZ times per second
    /// per CPU (default 999) and report samples per kernel function and module.
    #[arg(long, value_name = "HZ", num_args = 0..=1, default_missing_value = "999")]
    pub sample: Option<u64>,

    /// Also record kernel stacks and write them to FILE as folded stacks (flame graph input:
    /// `inferno-flamegraph FILE > out.svg`), rooted at the cgroup's label; with --irq separate
    /// those sampled in interrupts are rooted at LABEL_[irq] (while its task ran) and
    /// (interrupts) (all of the machine's). Implies --sample.
    #[arg(long, value_name = "FILE")]
    pub stacks: Option<PathBuf>,

    /// Replace an existing output file (--stacks, the record).
    #[arg(long)]
    pub force: bool,
}

impl ProfileArgs {
    pub fn sampling(&self) -> Option<Sampling> {
        let frequency_hz = self.sample.or(self.stacks.as_ref().map(|_| DEFAULT_FREQUENCY_HZ))?;
        Some(Sampling { frequency_hz, stacks: self.stacks.is_some() })
    }
}

/// Exact counts of kernel function entries: needs a kernel that allows function tracing
/// (kprobe.multi, fentry or kprobes).
#[derive(Debug, Args)]
#[command(next_help_heading = "Kernel functions (counted)")]
pub struct FunctionArgs {
    /// Count entries of the kernel functions matching GLOB, e.g. 'vfs_*' (repeatable).
    #[arg(long = "functions", value_name = "GLOB")]
    pub functions: Vec<String>,

    /// Count every traceable function of kernel module NAME, e.g. kvm or veth (repeatable).
    #[arg(long = "module", value_name = "NAME")]
    pub modules: Vec<String>,

    /// Count every traceable kernel function (about 39,000 on Debian's 6.12 kernel).
    #[arg(long)]
    pub all: bool,

    /// Leave out the functions matching GLOB (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// How to attach. auto tries each mechanism on this kernel and picks fentry for up to 32
    /// functions, kprobe-multi for more, kprobe as the fallback; where none works it samples
    /// instead (see --sample) and says so.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,

    /// What entries in interrupt context (hardirq, softirq, NMI: packets received, timers,
    /// I/O completions) count for. They run for whoever the work belongs to, not for the task
    /// they interrupted. separate (the default): each cgroup's columns count its tasks' own
    /// entries, its IN IRQ column the entries in interrupts while one of its tasks ran, and
    /// one (interrupts) column those of the whole machine; task: charge them to the
    /// interrupted task, as before --irq existed; exclude: leave them out. Line hits
    /// (--lines) and kernel samples (--sample) count the same way, and --stacks roots
    /// interrupt-context stacks at LABEL_[irq] and (interrupts).
    #[arg(long, value_enum, value_name = "MODE")]
    pub irq: Option<IrqArg>,

    /// Print the plan (functions matched, excluded and why, which backends work, which would
    /// be used; with --lines the copies and probe addresses) and exit without attaching
    /// anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Source lines to count, and where their DWARF and text are.
#[derive(Debug, Args)]
pub struct LineArgs {
    /// Count the hits of every source line of kernel FUNCTION per cgroup, in its out-of-line
    /// body and in every copy the compiler inlined elsewhere, with a kprobe where each line's
    /// code starts (repeatable). Needs the running kernel's DWARF (--vmlinux) and kprobes.
    #[arg(long = "lines", value_name = "FUNCTION")]
    pub lines: Vec<String>,

    /// The running kernel's image with DWARF, for --lines (default: Debian's
    /// linux-image-<release>-dbg in its standard places).
    #[arg(long, value_name = "PATH", requires = "lines")]
    pub vmlinux: Option<PathBuf>,

    /// Kernel source tree, to show the text of each line counted with --lines.
    #[arg(long, value_name = "DIR", requires = "lines")]
    pub source: Option<PathBuf>,
}

impl LineArgs {
    pub fn request(&self) -> LineRequest {
        LineRequest {
            functions: self.lines.clone(),
            vmlinux: self.vmlinux.clone(),
            source: self.source.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IrqArg {
    Separate,
    Task,
    Exclude,
}

impl IrqArg {
    pub fn mode(self) -> IrqMode {
        match self {
            Self::Separate => IrqMode::Separate,
            Self::Task => IrqMode::Task,
            Self::Exclude => IrqMode::Exclude,
        }
    }
}

/// `--irq` of `export`: a tracefile counts interrupt context with the cgroup or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportIrqArg {
    Task,
    Exclude,
}

impl ExportIrqArg {
    pub fn mode(self) -> IrqMode {
        match self {
            Self::Task => IrqMode::Task,
            Self::Exclude => IrqMode::Exclude,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Auto,
    KprobeMulti,
    Fentry,
    Kprobe,
}

impl BackendArg {
    /// The forced backend; `None` for auto.
    pub fn backend(self) -> Option<Backend> {
        match self {
            Self::Auto => None,
            Self::KprobeMulti => Some(Backend::KprobeMulti),
            Self::Fentry => Some(Backend::Fentry),
            Self::Kprobe => Some(Backend::Kprobe),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON document per report (JSON Lines with -i); schema in docs/json-schema.md.
    Json,
    /// One row per (cgroup, syscall), with the metadata repeated on every row.
    Csv,
}

impl From<OutputFormat> for export::Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Table => Self::Table,
            OutputFormat::Json => Self::Json,
            OutputFormat::Csv => Self::Csv,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Aligned columns for people.
    Table,
    /// GitHub-flavoured Markdown tables, for reports and issues.
    Markdown,
    /// One row per (item, run).
    Csv,
    /// One document with every section.
    Json,
}

impl From<CompareFormat> for compare::render::Format {
    fn from(format: CompareFormat) -> Self {
        match format {
            CompareFormat::Table => Self::Table,
            CompareFormat::Markdown => Self::Markdown,
            CompareFormat::Csv => Self::Csv,
            CompareFormat::Json => Self::Json,
        }
    }
}

/// The shortest interval or duration accepted: shorter ones round to nothing (1e-10 s is 0
/// ns, which no timer can tick at) or would be all overhead.
const MIN_SECONDS: f64 = 0.001;

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("`{s}`: must be a positive number of seconds"));
    }
    if secs < MIN_SECONDS {
        return Err(format!("`{s}`: must be at least {MIN_SECONDS} seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

fn parse_cgroup_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('/') || s == "." || s == ".." {
        return Err(format!("`{s}`: a cgroup name is one non-empty path component"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_reject_nonsense() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("x").is_err());
        assert!(parse_seconds("1e-10").is_err());
        assert_eq!(parse_seconds("0.001"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn run_takes_the_command_after_double_dash() {
        let cli = Cli::try_parse_from(["ktrace", "run", "-o", "json", "--", "ls", "-l"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert_eq!(run.command, ["ls", "-l"]);
        assert_eq!(run.output.output, OutputFormat::Json);
    }

    #[test]
    fn sample_frequency_defaults_and_stacks_imply_sampling() {
        let profile = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["ktrace", "attach", "--cgroup", "x"], args].concat())
                .unwrap();
            let Command::Attach(attach) = cli.command else { panic!("not attach") };
            attach.trace.profile.sampling()
        };
        assert_eq!(profile(&[]), None);
        assert_eq!(profile(&["--sample"]), Some(Sampling { frequency_hz: 999, stacks: false }));
        assert_eq!(
            profile(&["--sample", "49"]),
            Some(Sampling { frequency_hz: 49, stacks: false })
        );
        assert_eq!(
            profile(&["--stacks", "s.folded"]),
            Some(Sampling { frequency_hz: 999, stacks: true })
        );
    }

    #[test]
    fn top_takes_the_options_of_attach_and_run_has_a_live_view() {
        let cli =
            Cli::try_parse_from(["ktrace", "top", "-c", "a", "-c", "b", "-i", "0.5", "--sample"])
                .unwrap();
        let Command::Top(top) = cli.command else { panic!("not top") };
        assert_eq!(top.target.cgroups, ["a", "b"]);
        assert_eq!(top.output.interval, Some(Duration::from_millis(500)));
        assert_eq!(
            top.trace.profile.sampling(),
            Some(Sampling { frequency_hz: 999, stacks: false })
        );
        assert!(Cli::try_parse_from(["ktrace", "top"]).is_err());
        let cli =
            Cli::try_parse_from(["ktrace", "run", "--live", "--top", "5", "--", "ls"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert!(run.live);
        assert_eq!(run.output.top, Some(5));
    }

    #[test]
    fn record_writes_to_its_output_and_compare_needs_two_records() {
        let cli = Cli::try_parse_from([
            "ktrace", "record", "-o", "a.json", "-c", "x", "-d", "2", "--sample", "--force",
        ])
        .unwrap();
        let Command::Record(record) = cli.command else { panic!("not record") };
        assert_eq!(record.output, PathBuf::from("a.json"));
        assert_eq!(record.target.cgroups, ["x"]);
        assert!(record.trace.profile.force);
        assert!(Cli::try_parse_from(["ktrace", "record", "-c", "x"]).is_err());
        let cli = Cli::try_parse_from(["ktrace", "run", "--record", "r.json", "--", "ls"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert_eq!(run.record, Some(PathBuf::from("r.json")));
        let cli = Cli::try_parse_from(["ktrace", "compare", "a.json", "b.json", "-o", "markdown"])
            .unwrap();
        let Command::Compare(compare) = cli.command else { panic!("not compare") };
        assert_eq!(compare.output, CompareFormat::Markdown);
        assert!(Cli::try_parse_from(["ktrace", "compare", "a.json"]).is_err());
    }

    #[test]
    fn serve_binds_loopback_by_default() {
        let cli = Cli::try_parse_from(["ktrace", "serve", "-c", "x"]).unwrap();
        let Command::Serve(serve) = cli.command else { panic!("not serve") };
        assert_eq!(serve.listen, "127.0.0.1:9435".parse().unwrap());
        assert!(serve.listen.ip().is_loopback());
    }

    #[test]
    fn attach_requires_a_cgroup() {
        assert!(Cli::try_parse_from(["ktrace", "attach"]).is_err());
        assert!(parse_cgroup_name("a/b").is_err());
    }

    #[test]
    fn study_takes_lists_and_checks_names() {
        let cli = Cli::try_parse_from([
            "ktrace",
            "study",
            "--platforms",
            "bare,runsc",
            "--benchmarks",
            "cpu,network",
            "--seconds",
            "2",
            "--sample",
            "-o",
            "out",
        ])
        .unwrap();
        let Command::Study(study) = cli.command else { panic!("not study") };
        assert_eq!(study.platforms, Some(vec![Kind::Bare, Kind::Runsc]));
        assert_eq!(study.benchmarks, [Benchmark::Cpu, Benchmark::Network]);
        let request = study.request();
        assert_eq!((study.seconds, request.functions.all), (2, false));
        assert_eq!(request.sampling, Some(Sampling { frequency_hz: 999, stacks: false }));
        let Command::Study(defaults) = Cli::try_parse_from(["ktrace", "study"]).unwrap().command
        else {
            panic!("not study")
        };
        assert_eq!(defaults.platforms, None);
        assert_eq!(defaults.benchmarks, Benchmark::ALL);
        assert!(defaults.request().functions.all, "--all by default");
        let err = Cli::try_parse_from(["ktrace", "study", "--platforms", "docker"]).unwrap_err();
        assert!(err.to_string().contains("unknown platform `docker`"), "{err}");
        assert!(Cli::try_parse_from(["ktrace", "study", "--seconds", "0"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
