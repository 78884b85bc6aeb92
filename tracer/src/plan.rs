//! Deciding what to trace before anything is attached: which kernel functions and with which
//! backend (`--functions`, `--module`, `--all`, `--exclude`, `--backend`), which source lines
//! (`--lines`), whether to sample, what entries in interrupt context count for (`--irq`), and
//! `--dry-run`, which prints the plan instead.
use std::io::{self, Write as _};

use anyhow::{Context as _, bail};

use crate::{
    attach::{
        Backend, DEFAULT_FREQUENCY_HZ, FunctionPlan, Interrupts, IrqMode, Probes, Sampling,
        choose_backend, preempt_count,
    },
    functions::{Filter, Inventory, Matcher, Selection, select},
    lines::{self, LinePlan, LineRequest},
};

/// What the user asked to trace besides syscalls.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Sample kernel functions (`--sample`, `--stacks`).
    pub sampling: Option<Sampling>,
    /// Time syscalls too (`--latency`).
    pub latency: bool,
    /// The kernel functions to count.
    pub functions: Filter,
    /// The backend to count them with (`--backend`); `None` lets ktrace choose.
    pub backend: Option<Backend>,
    /// The source lines to count (`--lines`).
    pub lines: LineRequest,
    /// What function entries, line hits and samples in interrupt context count for (`--irq`);
    /// `None` separates them where the kernel lets ktrace tell, and says so where it does not.
    pub irq: Option<IrqMode>,
    /// Print the plan instead of tracing (`--dry-run`).
    pub dry_run: bool,
}

/// What a trace attaches besides the syscall counter.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub sampling: Option<Sampling>,
    /// Time syscalls too (`--latency`).
    pub latency: bool,
    pub functions: Option<FunctionPlan>,
    /// When functions are sampled because they cannot be counted: the ones asked for.
    pub sampled_functions: Option<Matcher>,
    /// And why they cannot be counted on this kernel.
    pub sampled_because: Option<String>,
    /// Source lines to count (`--lines`).
    pub lines: Option<LinePlan>,
    /// What counted function entries, line hits and samples in interrupt context count for.
    pub interrupts: Interrupts,
    /// What the plan fell back to, said on stderr once the trace's options are checked, so
    /// that bad input still gets one line.
    pub notes: Vec<String>,
}

/// Builds the plan. With `--dry-run` it prints the plan and returns `None`.
pub fn make(request: &Request) -> anyhow::Result<Option<Plan>> {
    let mut plan = Plan { sampling: request.sampling, latency: request.latency, ..Plan::default() };
    let filter = &request.functions;
    let wants_lines = !request.lines.functions.is_empty();
    plan.lines = wants_lines.then(|| lines::plan(&request.lines)).transpose()?;
    if filter.is_empty() {
        match (&plan.lines, request.dry_run) {
            (None, true) => bail!(
                "--dry-run shows the plan for --functions, --module, --all or --lines; none was given"
            ),
            (Some(lines), true) => {
                print_line_plan(lines).context("writing the plan to stdout")?;
                return Ok(None);
            }
            (Some(lines), false) => announce_lines(lines),
            (None, false) => {}
        }
        // Line hits and samples know their context; syscalls alone have nothing to split.
        if plan.lines.is_some() || plan.sampling.is_some() {
            plan.interrupts = interrupts(request.irq, &mut plan.notes)?;
        }
        return Ok(Some(plan));
    }
    let selection = match Inventory::read() {
        Ok(inventory) => select(&inventory, filter)?,
        Err(e) => return fallback(plan, request, &format!("{e:#}")),
    };
    let probe =
        selection.targets.iter().find(|t| t.btf_id.is_some()).unwrap_or(&selection.targets[0]);
    let available = Probes::probe_backends(probe)?;
    let choice = match request.backend {
        None => choose_backend(&available, &selection.targets),
        Some(backend) => match available.iter().find(|(b, _)| *b == backend) {
            Some((_, Ok(()))) => Some((backend, "asked for with --backend".to_owned())),
            Some((_, Err(why))) => {
                bail!("--backend {backend} does not work on this kernel: {why}")
            }
            None => unreachable!("every backend is probed"),
        },
    };
    if request.dry_run {
        print_plan(&selection, &available, choice.as_ref())
            .and_then(|()| plan.lines.as_ref().map_or(Ok(()), print_line_plan))
            .context("writing the plan to stdout")?;
        return Ok(None);
    }
    let Some((backend, why)) = choice else {
        let reasons: Vec<String> = available
            .iter()
            .filter_map(|(b, r)| r.as_ref().err().map(|e| format!("{b}: {e}")))
            .collect();
        return fallback(plan, request, &reasons.join("; "));
    };
    eprintln!(
        "ktrace: counting {} kernel functions with {backend} ({why})",
        selection.targets.len()
    );
    plan.interrupts = interrupts(request.irq, &mut plan.notes)?;
    plan.functions = Some(FunctionPlan { backend, targets: selection.targets });
    if let Some(lines) = &plan.lines {
        announce_lines(lines);
    }
    Ok(Some(plan))
}

fn announce_lines(lines: &LinePlan) {
    for line in lines.describe() {
        eprintln!("{line}");
    }
}

/// The line plan for `--dry-run`: per function its copies, and per copy where each probe goes
/// and which lines start there.
fn print_line_plan(plan: &LinePlan) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "line probes: {} (DWARF of {} read in {:.2} s)",
        plan.probes.len(),
        plan.vmlinux.display(),
        plan.analysis.as_secs_f64()
    )?;
    for (f, planned) in plan.functions.iter().enumerate() {
        let function = &planned.function;
        writeln!(
            out,
            "lines of {} ({}:{}): {} lines in {}",
            function.name,
            function.file,
            function.decl_line,
            planned.lines.len(),
            lines::describe_copies(&planned.copies)
        )?;
        if let Some(body) = &function.body {
            writeln!(out, "  most of its code is {body}, inlined into it")?;
        }
        for (c, copy) in planned.copies.iter().enumerate() {
            match &copy.call_site {
                Some(site) => writeln!(out, "  {} (call at {site})", copy.describe())?,
                None => writeln!(out, "  {}", copy.describe())?,
            }
            for probe in plan.probes.iter().filter(|p| p.function == f && p.copy == c) {
                let lines: Vec<String> = probe.lines.iter().map(u32::to_string).collect();
                write!(
                    out,
                    "    {}+{:#x}  lines {}",
                    probe.symbol,
                    probe.offset,
                    lines.join(", ")
                )?;
                match &probe.unprobeable {
                    Some(why) => writeln!(out, "  (cannot be probed: {why})")?,
                    None => writeln!(out)?,
                }
            }
        }
    }
    Ok(())
}

/// The `--irq` mode and where the preempt counts are for it. Asked for explicitly, a mode
/// this kernel cannot give is an error; by default ktrace falls back to charging the
/// interrupted task and says so in `notes`.
fn interrupts(asked: Option<IrqMode>, notes: &mut Vec<String>) -> anyhow::Result<Interrupts> {
    let mode = asked.unwrap_or(IrqMode::Separate);
    if !mode.needs_preempt_count() {
        return Ok(Interrupts { mode, ..Interrupts::default() });
    }
    match preempt_count() {
        Ok(preempt_count) => Ok(Interrupts { mode, preempt_count }),
        Err(e) if asked.is_some() => {
            Err(e.context(format!("--irq {mode} cannot tell interrupt context on this kernel")))
        }
        Err(e) => {
            notes.push(format!(
                "ktrace: interrupt context cannot be told apart on this kernel ({e:#}): function entries, line hits and samples in interrupts are charged to the interrupted task (as --irq task)"
            ));
            Ok(Interrupts::default())
        }
    }
}

/// No way to count functions here. `--backend auto` samples them instead and says so; a
/// backend the user chose is an error.
fn fallback(mut plan: Plan, request: &Request, why: &str) -> anyhow::Result<Option<Plan>> {
    if request.backend.is_some() || request.dry_run {
        bail!("kernel functions cannot be counted on this kernel: {why}");
    }
    plan.sampled_functions = Some(Matcher::new(&request.functions)?);
    plan.sampled_because = Some(why.to_owned());
    // Sampled instead, so that the samples know their context.
    plan.interrupts = interrupts(request.irq, &mut plan.notes)?;
    let sampling = *plan
        .sampling
        .get_or_insert(Sampling { frequency_hz: DEFAULT_FREQUENCY_HZ, stacks: false });
    eprintln!("ktrace: kernel functions cannot be counted on this kernel: {why}");
    eprintln!(
        "ktrace: sampling the kernel functions asked for at {} Hz instead: their figures are samples, not counts",
        sampling.frequency_hz
    );
    Ok(Some(plan))
}

fn print_plan(
    selection: &Selection,
    available: &[(Backend, Result<(), String>)],
    choice: Option<&(Backend, String)>,
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "functions matched: {}",
        selection.targets.len() + selection.excluded.values().sum::<usize>()
    )?;
    writeln!(out, "functions to trace: {}", selection.targets.len())?;
    for (why, n) in &selection.excluded {
        writeln!(out, "excluded: {n} {}", why.describe())?;
    }
    for (backend, result) in available {
        match result {
            Ok(()) => writeln!(out, "backend {backend}: works")?,
            Err(e) => writeln!(out, "backend {backend}: unavailable: {e}")?,
        }
    }
    match choice {
        Some((backend, why)) => writeln!(out, "would use: {backend} ({why})")?,
        None => writeln!(
            out,
            "would use: none (no backend works); --backend auto would sample instead"
        )?,
    }
    for target in &selection.targets {
        writeln!(out, "  {} [{}]", target.name, target.module)?;
    }
    Ok(())
}
