//! `--output table`: aligned columns for people, one column group per cgroup.
use std::{
    io::{self, Write},
    time::Duration,
};

use crate::{
    attach::IrqMode,
    collect::{Overhead, rate},
    latency::{self, RELATIVE_ERROR},
    lines::{LineReport, describe_copies},
    report::{ALL_INTERRUPTS, FunctionReport, InInterrupts, Report, SampleReport, SampleTotalsRow},
};

const NAME_WIDTH: usize = 22;
const NR_WIDTH: usize = 5;
/// "  CALLS(12) CALLS/s(11) FAILED(10) BLOCKED(10)"
const GROUP_WIDTH: usize = 2 + 12 + 1 + 11 + 1 + 10 + 1 + 10;

pub fn write(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let cgroups = report.cgroups.len();
    writeln!(
        out,
        "Syscalls per cgroup, {} of {:.2} s from {} (kernel {})",
        report.scope.as_str(),
        report.duration_secs,
        report.start_time,
        report.kernel_release
    )?;
    group_labels(out, report, NAME_WIDTH + 1 + NR_WIDTH, GROUP_WIDTH, None)?;
    write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", "SYSCALL", "NR")?;
    for _ in 0..cgroups {
        write!(out, "  {:>12} {:>11} {:>10} {:>10}", "CALLS", "CALLS/s", "FAILED", "BLOCKED")?;
    }
    writeln!(out)?;
    let elapsed = report.duration();
    for row in &report.syscalls {
        let nr = row.nr.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned());
        write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", fit(&row.name, NAME_WIDTH), nr)?;
        for count in &row.counts {
            write!(
                out,
                "  {:>12} {:>11.1} {:>10} {:>10}",
                count.calls,
                rate(count.calls, elapsed),
                count.errors,
                count.blocked
            )?;
        }
        writeln!(out)?;
    }
    write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", "TOTAL", "")?;
    for total in &report.totals {
        write!(
            out,
            "  {:>12} {:>11.1} {:>10} {:>10}",
            total.calls,
            rate(total.calls, elapsed),
            total.errors,
            total.blocked
        )?;
    }
    writeln!(out)?;
    if report.rows_omitted > 0 {
        writeln!(out, "({} more syscalls not shown; TOTAL includes them)", report.rows_omitted)?;
    }
    for cgroup in &report.cgroups {
        if let Some(at) = &cgroup.vanished_at {
            writeln!(out, "(cgroup {} vanished at {at}: counted until then)", cgroup.label)?;
        }
    }
    writeln!(out)?;
    if report.syscalls.iter().any(|row| row.latency.is_some()) {
        write_latency(out, report)?;
    }
    if let Some(functions) = &report.kernel_functions {
        write_functions(out, report, functions)?;
    }
    if let Some(lines) = &report.kernel_lines {
        write_lines(out, report, lines)?;
    }
    if let Some(samples) = &report.kernel_samples {
        write_samples(out, report, samples)?;
    }
    Ok(())
}

/// "  TIMED(10)" and five latencies of 9.
const LATENCY_GROUP_WIDTH: usize = 2 + 10 + 5 * (1 + 9);

/// The latency section (`--latency`): percentiles of each syscall's timed calls per cgroup;
/// blank where a cgroup had no timed call of it.
fn write_latency(out: &mut impl Write, report: &Report) -> io::Result<()> {
    writeln!(
        out,
        "Syscall latency per cgroup, entry to return (blocking included), within {:.1}%",
        RELATIVE_ERROR * 100.0
    )?;
    group_labels(out, report, NAME_WIDTH + 1 + NR_WIDTH, LATENCY_GROUP_WIDTH, None)?;
    write!(out, "{:<NAME_WIDTH$} {:>NR_WIDTH$}", "SYSCALL", "NR")?;
    for _ in &report.cgroups {
        write!(out, "  {:>10}", "TIMED")?;
        for column in ["P50", "P90", "P99", "P99.9", "MAX"] {
            write!(out, " {column:>9}")?;
        }
    }
    writeln!(out)?;
    for row in &report.syscalls {
        let nr = row.nr.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned());
        let mut line = format!("{:<NAME_WIDTH$} {:>NR_WIDTH$}", fit(&row.name, NAME_WIDTH), nr);
        for cell in row.latency.iter().flatten() {
            match cell {
                Some(l) => {
                    line += &format!("  {:>10}", l.count);
                    for ns in [l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.max_ns] {
                        line += &format!(" {:>9}", latency::human(ns));
                    }
                }
                None => line += &" ".repeat(LATENCY_GROUP_WIDTH),
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out)
}

/// "  CALLS(12) CALLS/s(11)"
const COUNT_GROUP_WIDTH: usize = 2 + 12 + 1 + 11;
/// " IN IRQ(12)", after a cgroup's counts with `--irq separate`.
const IN_IRQ_WIDTH: usize = 1 + 12;

fn write_functions(
    out: &mut impl Write,
    report: &Report,
    functions: &FunctionReport,
) -> io::Result<()> {
    writeln!(
        out,
        "Kernel function entries, counted with {} ({} functions attached, {} skipped)",
        functions.backend, functions.attached, functions.skipped
    )?;
    interrupt_note(out, functions.irq, "CALLS")?;
    let separate = functions.irq == IrqMode::Separate;
    let row_header = format!("{:<FUNCTION_WIDTH$} {:<MODULE_WIDTH$}", "FUNCTION", "MODULE");
    count_headers(out, report, &row_header, "CALLS", separate)?;
    let elapsed = report.duration();
    for f in &functions.functions {
        let (name, module) = (fit(&f.name, FUNCTION_WIDTH), fit(&f.module, MODULE_WIDTH));
        write!(out, "{name:<FUNCTION_WIDTH$} {module:<MODULE_WIDTH$}")?;
        count_cells(out, elapsed, separate, &f.counts, &f.interrupts)?;
    }
    write!(out, "{:<LABEL_WIDTH$}", "TOTAL")?;
    let interrupts = functions.interrupt_totals();
    count_cells(out, elapsed, separate, &functions.totals, &interrupts)?;
    if functions.functions_omitted > 0 {
        writeln!(
            out,
            "({} more functions not shown; TOTAL includes them)",
            functions.functions_omitted
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Kernel modules: functions hit / functions attached, and entries")?;
    let group_width = COUNT_GROUP_WIDTH + if separate { IN_IRQ_WIDTH } else { 0 };
    group_labels(out, report, LABEL_WIDTH, group_width, separate.then_some(ALL_INTERRUPTS))?;
    write!(out, "{:<LABEL_WIDTH$}", "MODULE")?;
    for _ in &report.cgroups {
        write!(out, "  {:>12} {:>11}", "HIT/TRACED", "CALLS")?;
        if separate {
            write!(out, " {:>12}", "IN IRQ")?;
        }
    }
    if separate {
        write!(out, "  {:>12}", "CALLS")?;
    }
    writeln!(out)?;
    for m in &functions.modules {
        write!(out, "{:<LABEL_WIDTH$}", fit(&m.module, LABEL_WIDTH))?;
        for (c, (hit, n)) in m.hit.iter().zip(&m.counts).enumerate() {
            write!(out, "  {:>12} {n:>11}", format!("{hit}/{}", m.traced))?;
            if separate {
                write!(out, " {:>12}", m.interrupts.of_cgroup(c))?;
            }
        }
        if separate {
            write!(out, "  {:>12}", m.interrupts.of_machine())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "ktrace overhead: {}", overhead(&functions.overhead))?;
    writeln!(out)
}

/// What the interrupt columns of a section of counts mean; `unit` names its figures.
fn interrupt_note(out: &mut impl Write, irq: IrqMode, unit: &str) -> io::Result<()> {
    match irq {
        IrqMode::Separate => writeln!(
            out,
            "{unit} are in the cgroup's tasks; IN IRQ in interrupts (softirq, hardirq, NMI) while its task ran; {ALL_INTERRUPTS} all in interrupts on the machine, whoever ran"
        ),
        IrqMode::Exclude => {
            writeln!(out, "{unit} in interrupt context are left out (--irq exclude)")
        }
        IrqMode::Task => Ok(()),
    }
}

/// The cgroups' labels and the column headers of a section of counts: `row_header` over the
/// rows' labels, then per cgroup `unit`, its rate and with `separate` IN IRQ; with `separate`
/// then the machine's interrupts.
fn count_headers(
    out: &mut impl Write,
    report: &Report,
    row_header: &str,
    unit: &str,
    separate: bool,
) -> io::Result<()> {
    let group_width = COUNT_GROUP_WIDTH + if separate { IN_IRQ_WIDTH } else { 0 };
    group_labels(out, report, LABEL_WIDTH, group_width, separate.then_some(ALL_INTERRUPTS))?;
    write!(out, "{row_header}")?;
    for _ in &report.cgroups {
        write!(out, "  {unit:>12} {:>11}", format!("{unit}/s"))?;
        if separate {
            write!(out, " {:>12}", "IN IRQ")?;
        }
    }
    if separate {
        write!(out, "  {unit:>12}")?;
    }
    writeln!(out)
}

/// A row's figures under [`count_headers`]: per cgroup its count and rate and with `separate`
/// its IN IRQ, then the machine's interrupts.
fn count_cells(
    out: &mut dyn Write,
    elapsed: Duration,
    separate: bool,
    counts: &[u64],
    interrupts: &InInterrupts,
) -> io::Result<()> {
    for (c, &n) in counts.iter().enumerate() {
        write!(out, "  {n:>12} {:>11.1}", rate(n, elapsed))?;
        if separate {
            write!(out, " {:>12}", interrupts.of_cgroup(c))?;
        }
    }
    if separate {
        write!(out, "  {:>12}", interrupts.of_machine())?;
    }
    writeln!(out)
}

fn overhead(o: &Overhead) -> String {
    format!(
        "{} failed updates, {} unknown hits, {} recursion misses, BPF run time {}",
        o.failed_updates,
        o.unknown_function,
        o.recursion_misses,
        if o.run_count == 0 {
            "not measured (sysctl kernel.bpf_stats_enabled=1 to measure)".to_owned()
        } else {
            format!("{:.3} s over {} runs", o.run_time_ns as f64 / 1e9, o.run_count)
        }
    )
}

const LINE_WIDTH: usize = 6;
const SOURCE_WIDTH: usize = LABEL_WIDTH - LINE_WIDTH - 1;

/// The seed study's table: per source line of each function, its hits per cgroup.
fn write_lines(out: &mut impl Write, report: &Report, lines: &LineReport) -> io::Result<()> {
    writeln!(
        out,
        "Source lines, counted: hits where each line's code starts, summed over the function's \
         copies (kprobes at {} addresses{})",
        lines.probes,
        match lines.skipped.len() {
            0 => String::new(),
            n => format!(", {n} refused: their lines show - or count less"),
        }
    )?;
    interrupt_note(out, lines.irq, "HITS")?;
    let separate = lines.irq == IrqMode::Separate;
    let elapsed = report.duration();
    for f in &lines.functions {
        let function = &f.function;
        let (name, file, decl_line) = (&function.name, &function.file, function.decl_line);
        writeln!(out, "{name} ({file}:{decl_line}), {}", describe_copies(&f.copies))?;
        if let Some(body) = &function.body {
            writeln!(out, "note: most of {name}'s code is {body}, inlined into it")?;
        }
        let row_header = format!("{:<LINE_WIDTH$} {:<SOURCE_WIDTH$}", "LINE", "SOURCE");
        count_headers(out, report, &row_header, "HITS", separate)?;
        for line in &f.lines {
            let source = match &line.text {
                Some(text) => fit_start(text, SOURCE_WIDTH),
                None => fit(&format!("{file}:{}", line.line), SOURCE_WIDTH),
            };
            write!(out, "{:<LINE_WIDTH$} {source:<SOURCE_WIDTH$}", line.line)?;
            let hits = &line.hits;
            if line.probes > 0 {
                count_cells(out, elapsed, separate, &hits.counts, &hits.interrupts)?;
                continue;
            }
            for _ in &hits.counts {
                write!(out, "  {:>12} {:>11}", "-", "-")?;
                if separate {
                    write!(out, " {:>12}", "-")?;
                }
            }
            if separate {
                write!(out, "  {:>12}", "-")?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "ktrace overhead (line probes): {}", overhead(&lines.overhead))?;
    writeln!(out)
}

const FUNCTION_WIDTH: usize = 34;
const MODULE_WIDTH: usize = 12;
/// "  SAMPLES(10) SHARE(7)"
const SAMPLE_GROUP_WIDTH: usize = 2 + 10 + 1 + 7;
/// " IN IRQ(10)", after a cgroup's samples with `--irq separate`.
const SAMPLE_IN_IRQ_WIDTH: usize = 1 + 10;
const LABEL_WIDTH: usize = FUNCTION_WIDTH + 1 + MODULE_WIDTH;

fn write_samples(out: &mut impl Write, report: &Report, samples: &SampleReport) -> io::Result<()> {
    writeln!(
        out,
        "Kernel functions, sampled at {} Hz per CPU: SAMPLES are samples, not calls; SHARE is of the cgroup's kernel samples",
        samples.frequency_hz
    )?;
    let columns = SampleColumns { separate: samples.irq == IrqMode::Separate };
    match samples.irq {
        IrqMode::Separate => writeln!(
            out,
            "SAMPLES are in the cgroup's tasks; IN IRQ in interrupts (softirq, hardirq) while its task ran; {ALL_INTERRUPTS} all in interrupts on the machine, whoever ran"
        )?,
        IrqMode::Exclude => writeln!(
            out,
            "Samples in interrupt context are left out of the cgroups (--irq exclude)"
        )?,
        IrqMode::Task => {}
    }
    columns.labels(out, report)?;
    write!(out, "{:<FUNCTION_WIDTH$} {:<MODULE_WIDTH$}", "FUNCTION", "MODULE")?;
    columns.headers(out, report.cgroups.len())?;
    for f in &samples.functions {
        let (name, module) = (fit(&f.name, FUNCTION_WIDTH), fit(&f.module, MODULE_WIDTH));
        write!(out, "{name:<FUNCTION_WIDTH$} {module:<MODULE_WIDTH$}")?;
        columns.cells(out, &f.samples, Some(&f.share), &f.interrupts)?;
    }
    let totals = &samples.totals;
    write!(out, "{:<LABEL_WIDTH$}", "KERNEL SAMPLES")?;
    let kernel: Vec<u64> = totals.iter().map(|t| t.kernel).collect();
    columns.cells(out, &kernel, None, &samples.interrupt_totals())?;
    let estimate = |t: &SampleTotalsRow| format!("{:.2} s", t.kernel_secs_estimate);
    columns.total_line(out, "  est. kernel CPU time", totals.iter().map(estimate))?;
    if totals.iter().all(|t| t.ktrace_programs.is_some()) {
        write!(out, "{:<LABEL_WIDTH$}", "  in ktrace's own programs")?;
        let own: Vec<u64> = totals.iter().map(|t| t.ktrace_programs.unwrap_or(0)).collect();
        let share: Vec<f64> = totals.iter().map(|t| t.ktrace_share().unwrap_or(0.0)).collect();
        columns.cells(out, &own, Some(&share), &InInterrupts::default())?;
    }
    columns.total_line(out, "USER SAMPLES", totals.iter().map(|t| t.user.to_string()))?;
    if samples.lost() > 0 {
        write!(out, "{:<LABEL_WIDTH$}", "LOST (sample map full)")?;
        let lost: Vec<u64> = totals.iter().map(|t| t.lost).collect();
        columns.cells(out, &lost, None, &samples.interrupts_lost())?;
    }
    if samples.functions_omitted > 0 {
        writeln!(out, "({} more functions not shown)", samples.functions_omitted)?;
    }
    if let Some(clock) = &samples.clock {
        writeln!(out, "{}", clock.caveat())?;
    }
    writeln!(out)?;
    writeln!(out, "Kernel modules, sampled at {} Hz per CPU", samples.frequency_hz)?;
    columns.labels(out, report)?;
    write!(out, "{:<LABEL_WIDTH$}", "MODULE")?;
    columns.headers(out, report.cgroups.len())?;
    for m in &samples.modules {
        write!(out, "{:<LABEL_WIDTH$}", fit(&m.module, LABEL_WIDTH))?;
        columns.cells(out, &m.samples, Some(&m.share), &m.interrupts)?;
    }
    writeln!(out)
}

/// The columns of the sample tables: per cgroup SAMPLES and SHARE, and with `--irq separate`
/// IN IRQ, then one (interrupts) column.
struct SampleColumns {
    separate: bool,
}

impl SampleColumns {
    fn labels(&self, out: &mut impl Write, report: &Report) -> io::Result<()> {
        let width = SAMPLE_GROUP_WIDTH + if self.separate { SAMPLE_IN_IRQ_WIDTH } else { 0 };
        group_labels(out, report, LABEL_WIDTH, width, self.separate.then_some(ALL_INTERRUPTS))
    }

    fn headers(&self, out: &mut impl Write, cgroups: usize) -> io::Result<()> {
        for _ in 0..cgroups {
            write!(out, "  {:>10} {:>7}", "SAMPLES", "SHARE")?;
            if self.separate {
                write!(out, " {:>10}", "IN IRQ")?;
            }
        }
        if self.separate {
            write!(out, "  {:>12}", "SAMPLES")?;
        }
        writeln!(out)
    }

    /// One row's cells: its samples per cgroup, their shares if given (else blank), and
    /// with `--irq separate` the samples in interrupts per cgroup and on the machine (blank
    /// where not given).
    fn cells(
        &self,
        out: &mut impl Write,
        samples: &[u64],
        share: Option<&[f64]>,
        interrupts: &InInterrupts,
    ) -> io::Result<()> {
        let mut line = String::new();
        for (c, n) in samples.iter().enumerate() {
            line += &match share.and_then(|s| s.get(c)) {
                Some(share) => format!("  {n:>10} {:>6.1}%", share * 100.0),
                None => format!("  {n:>10} {:>7}", ""),
            };
            if self.separate {
                line += &format!(" {:>10}", cell(interrupts.in_interrupts.get(c)));
            }
        }
        if self.separate {
            line += &format!("  {:>12}", cell(interrupts.all_interrupts.as_ref()));
        }
        writeln!(out, "{}", line.trim_end())
    }

    /// A line of figures under the SAMPLES columns, e.g. the estimated CPU time.
    fn total_line(
        &self,
        out: &mut impl Write,
        label: &str,
        cells: impl Iterator<Item = String>,
    ) -> io::Result<()> {
        let mut line = format!("{label:<LABEL_WIDTH$}");
        for cell in cells {
            // Under the SAMPLES column; SHARE (and IN IRQ) stay empty.
            line += &format!("  {cell:>10} {:>7}", "");
            if self.separate {
                line += &" ".repeat(SAMPLE_IN_IRQ_WIDTH);
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// A figure, or blank where there is none.
fn cell(n: Option<&u64>) -> String {
    n.map(u64::to_string).unwrap_or_default()
}

fn group_labels(
    out: &mut impl Write,
    report: &Report,
    indent: usize,
    group_width: usize,
    trailing: Option<&str>,
) -> io::Result<()> {
    let mut labels = " ".repeat(indent);
    for cgroup in &report.cgroups {
        let label = fit(&cgroup.label, group_width - 2);
        labels += &format!("  {label:<w$}", w = group_width - 2);
    }
    if let Some(label) = trailing {
        labels += &format!("  {label:>12}");
    }
    writeln!(out, "{}", labels.trim_end())
}

/// Shortens `s` to `width` characters, keeping its start (the informative part of code).
fn fit_start(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let head: String = s.chars().take(width - 1).collect();
    format!("{head}…")
}

/// Shortens `s` to `width` characters, keeping its end (the informative part of a path).
fn fit(s: &str, width: usize) -> String {
    let chars = s.chars().count();
    if chars <= width {
        return s.to_owned();
    }
    let tail: String = s.chars().skip(chars - (width - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{counted, counted_apart, sample, sampled, sampled_apart};

    #[test]
    fn renders_groups_units_rows_and_totals() {
        let mut out = Vec::new();
        write(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
Syscalls per cgroup, total of 2.00 s from 1970-01-01T00:00:00.000Z (kernel 6.18.0-test)
                              lxc                                             gvisor
SYSCALL                   NR         CALLS     CALLS/s     FAILED    BLOCKED         CALLS     CALLS/s     FAILED    BLOCKED
getppid                  110        100000     50000.0          0          0             0         0.0          0          0
read                       0             5         2.5          2          0             2         1.0          0          0
fchdir                    81             0         0.0          0          0             3         1.5          3          0
TOTAL                               100005     50002.5          2          0             5         2.5          3          0

";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_vanished_cgroup_is_noted_under_the_syscalls() {
        let mut report = sample();
        report.cgroups[1].vanished_at = Some("2026-11-28T20:59:01.250Z".to_owned());
        let mut out = Vec::new();
        write(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let total = text.lines().position(|l| l.starts_with("TOTAL")).expect("a TOTAL line");
        assert_eq!(
            text.lines().nth(total + 1),
            Some("(cgroup gvisor vanished at 2026-11-28T20:59:01.250Z: counted until then)"),
            "{text}"
        );
    }

    #[test]
    fn renders_the_sampled_profile_after_the_syscalls() {
        let mut out = Vec::new();
        write(&mut out, &sampled()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let profile = &text[text.find("Kernel functions").expect("profile section")..];
        let expected = "\
Kernel functions, sampled at 999 Hz per CPU: SAMPLES are samples, not calls; SHARE is of the cgroup's kernel samples
                                                 lxc                 gvisor
FUNCTION                           MODULE           SAMPLES   SHARE     SAMPLES   SHARE
vfs_write                          vmlinux               30   75.0%           5   50.0%
ksys_write                         vmlinux                8   20.0%           5   50.0%
veth_xmit                          veth                   2    5.0%           0    0.0%
KERNEL SAMPLES                                           40                  10
  est. kernel CPU time                               0.04 s              0.01 s
  in ktrace's own programs                                0    0.0%           0    0.0%
USER SAMPLES                                             10                   0
Sampled with cpu-clock, a timer interrupt; this machine has no hardware cycle counter, as most VMs have none. Time spent with interrupts disabled is attributed to where they are re-enabled (_raw_spin_unlock_irqrestore, finish_task_switch).

Kernel modules, sampled at 999 Hz per CPU
                                                 lxc                 gvisor
MODULE                                              SAMPLES   SHARE     SAMPLES   SHARE
vmlinux                                                  38   95.0%          10  100.0%
veth                                                      2    5.0%           0    0.0%

";
        assert_eq!(profile, expected);
    }

    #[test]
    fn renders_samples_in_interrupts_beside_each_cgroup_and_for_the_machine() {
        let mut out = Vec::new();
        write(&mut out, &sampled_apart()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let profile = &text[text.find("Kernel functions").expect("profile section")..];
        let expected = "\
Kernel functions, sampled at 999 Hz per CPU: SAMPLES are samples, not calls; SHARE is of the cgroup's kernel samples
SAMPLES are in the cgroup's tasks; IN IRQ in interrupts (softirq, hardirq) while its task ran; (interrupts) all in interrupts on the machine, whoever ran
                                                 lxc                            gvisor                         (interrupts)
FUNCTION                           MODULE           SAMPLES   SHARE     IN IRQ     SAMPLES   SHARE     IN IRQ       SAMPLES
vfs_write                          vmlinux               30   75.0%          0           5   50.0%          0             0
ksys_write                         vmlinux                8   20.0%          0           5   50.0%          0             0
veth_xmit                          veth                   2    5.0%          0           0    0.0%          0             3
net_rx_action                      vmlinux                0    0.0%          6           0    0.0%          0             9
KERNEL SAMPLES                                           40                  6          10                  0            13
  est. kernel CPU time                               0.04 s                         0.01 s
  in ktrace's own programs                                0    0.0%                      0    0.0%
USER SAMPLES                                             10                              0
LOST (sample map full)                                    0                  1           0                  0             1
Sampled with cpu-clock, a timer interrupt; this machine has no hardware cycle counter, as most VMs have none. Time spent with interrupts disabled is attributed to where they are re-enabled (_raw_spin_unlock_irqrestore, finish_task_switch).

Kernel modules, sampled at 999 Hz per CPU
                                                 lxc                            gvisor                         (interrupts)
MODULE                                              SAMPLES   SHARE     IN IRQ     SAMPLES   SHARE     IN IRQ       SAMPLES
vmlinux                                                  38   95.0%          6          10  100.0%          0             9
veth                                                      2    5.0%          0           0    0.0%          0             3

";
        assert_eq!(profile, expected);
    }

    #[test]
    fn renders_counted_functions_and_module_coverage() {
        let mut out = Vec::new();
        write(&mut out, &counted()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let section = &text[text.find("Kernel function entries").expect("function section")..];
        let expected = "\
Kernel function entries, counted with kprobe-multi (3 functions attached, 1 skipped)
                                                 lxc                       gvisor
FUNCTION                           MODULE               CALLS     CALLS/s         CALLS     CALLS/s
vfs_write                          vmlinux                 10         5.0             0         0.0
veth_xmit                          veth                     0         0.0             7         3.5
TOTAL                                                      10         5.0             7         3.5

Kernel modules: functions hit / functions attached, and entries
                                                 lxc                       gvisor
MODULE                                             HIT/TRACED       CALLS    HIT/TRACED       CALLS
vmlinux                                                   1/2          10           0/2           0
veth                                                      0/1           0           1/1           7
ktrace overhead: 0 failed updates, 0 unknown hits, 2 recursion misses, BPF run time not measured (sysctl kernel.bpf_stats_enabled=1 to measure)

";
        assert_eq!(section, expected);
    }

    #[test]
    fn renders_the_line_table_per_function() {
        let report =
            Report { kernel_lines: Some(crate::lines::report::tests::report()), ..sample() };
        let mut out = Vec::new();
        write(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let section = &text[text.find("Source lines").expect("line section")..];
        let expected = "\
Source lines, counted: hits where each line's code starts, summed over the function's copies (kprobes at 4 addresses, 1 refused: their lines show - or count less)
__is_skb_forwardable (include/linux/netdevice.h:4063), 2 copies: inlined into __dev_forward_skb2, is_skb_forwardable
                                                 lxc                       gvisor
LINE   SOURCE                                            HITS      HITS/s          HITS      HITS/s
4070   if (!(dev->flags & IFF_UP))                         43        21.5             0         0.0
4073   include/linux/netdevice.h:4073                       -           -             -           -
4077   include/linux/netdevice.h:4077                      40        20.0             0         0.0
4083   include/linux/netdevice.h:4083                       5         2.5             0         0.0
ktrace overhead (line probes): 0 failed updates, 0 unknown hits, 0 recursion misses, BPF run time not measured (sysctl kernel.bpf_stats_enabled=1 to measure)

";
        assert_eq!(section, expected);
    }

    /// Line hits and module entries in interrupts get the functions' IN IRQ and
    /// `(interrupts)` columns.
    #[test]
    fn renders_interrupt_columns_of_lines_and_modules() {
        let report = Report {
            kernel_lines: Some(crate::lines::report::tests::report_apart()),
            ..counted_apart()
        };
        let mut out = Vec::new();
        write(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let modules = &text[text.find("Kernel modules").expect("module section")..];
        let modules = &modules[..modules.find("ktrace overhead").unwrap()];
        let expected = "\
Kernel modules: functions hit / functions attached, and entries
                                                 lxc                                    gvisor                                 (interrupts)
MODULE                                             HIT/TRACED       CALLS       IN IRQ    HIT/TRACED       CALLS       IN IRQ         CALLS
vmlinux                                                   1/3          10           40           0/3           0            0            81
veth                                                      0/1           0            0           1/1           7            2             2
";
        assert_eq!(modules, expected);
        let lines = &text[text.find("Source lines").expect("line section")..];
        let lines = &lines[..lines.find("ktrace overhead").unwrap()];
        let expected = "\
Source lines, counted: hits where each line's code starts, summed over the function's copies (kprobes at 4 addresses, 1 refused: their lines show - or count less)
HITS are in the cgroup's tasks; IN IRQ in interrupts (softirq, hardirq, NMI) while its task ran; (interrupts) all in interrupts on the machine, whoever ran
__is_skb_forwardable (include/linux/netdevice.h:4063), 2 copies: inlined into __dev_forward_skb2, is_skb_forwardable
                                                 lxc                                    gvisor                                 (interrupts)
LINE   SOURCE                                            HITS      HITS/s       IN IRQ          HITS      HITS/s       IN IRQ          HITS
4070   if (!(dev->flags & IFF_UP))                          4         2.0           30             0         0.0            2            56
4073   include/linux/netdevice.h:4073                       -           -            -             -           -            -             -
4077   include/linux/netdevice.h:4077                       0         0.0            0             0         0.0            0             0
4083   include/linux/netdevice.h:4083                       0         0.0            0             0         0.0            0             0
";
        assert_eq!(lines, expected);
    }

    #[test]
    fn long_labels_keep_their_end() {
        assert_eq!(fit("/sys/fs/cgroup/unified/machine.slice/vm1", 10), "…slice/vm1");
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit_start("if (!(dev->flags & IFF_UP))", 10), "if (!(dev…");
    }
}
