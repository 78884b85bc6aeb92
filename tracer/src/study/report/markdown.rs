//! report.md: the report for people, as GitHub-flavoured Markdown, in the seed study's order:
//! the setup, performance, syscalls, host kernel functions per benchmark (by source directory,
//! by module, hottest functions, functions only some platforms enter), lcov tracefiles,
//! findings, and what ktrace cannot see. The figures are embedded where their numbers are.
use std::{
    fmt::Write as _,
    fs,
    io::{self, Write as _},
    path::Path,
};

use super::{
    BenchmarkSection, Figure, FunctionRow, GroupRow, InterruptShare, LineRow, StudyReport, figure,
    thousands,
};
use crate::{
    compare::{Measure, render::markdown_table},
    study::manifest::Tracing,
};

/// Writes report.md.
pub(super) fn render(out: &mut fs::File, r: &StudyReport) -> io::Result<()> {
    let s = &r.study;
    let names: Vec<&str> = s.platforms.iter().map(|p| p.name.as_str()).collect();
    let benchmark_names: Vec<&str> = s.benchmarks.iter().map(|b| b.name()).collect();
    writeln!(
        out,
        "# Host kernel footprint: {} x {}\n",
        names.join(", "),
        benchmark_names.join(", ")
    )?;
    writeln!(
        out,
        "`ktrace study` {} on {} (kernel {}), started {}; each benchmark ran {} s on one thread. \
         {}\n",
        r.ktrace_version,
        s.host,
        s.kernel_release,
        s.started,
        s.seconds,
        tracing_sentence(&s.tracing)
    )?;
    let rows: Vec<Vec<String>> =
        s.platforms.iter().map(|p| vec![p.name.clone(), p.description.clone()]).collect();
    markdown_table(out, &strings(&["PLATFORM", "WHAT RAN"]), &[false, false], &rows)?;
    for skipped in &s.skipped {
        writeln!(out, "\nSkipped {}: {}", skipped.platform, skipped.reason)?;
    }

    writeln!(out, "\n## Performance\n")?;
    let mut headers = strings(&["BENCHMARK", "UNIT"]);
    headers.extend(names.iter().map(|n| n.to_string()));
    let rows: Vec<Vec<String>> = s
        .benchmarks
        .iter()
        .map(|&b| {
            let mut row = vec![b.name().to_owned(), b.unit().to_owned()];
            row.extend(names.iter().map(|p| {
                match s.runs.iter().find(|r| r.platform == *p && r.benchmark == b) {
                    Some(run) => run.score.map_or_else(|| "failed".to_owned(), figure),
                    None => "-".to_owned(),
                }
            }));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(2, headers.len()), &rows)?;
    writeln!(out)?;
    for b in &s.benchmarks {
        writeln!(out, "- {b}: {}", b.describe())?;
    }
    for run in s.runs.iter().filter(|r| r.error.is_some()) {
        let error = run.error.as_deref().unwrap_or_default().replace('\n', " ");
        writeln!(out, "- {} {} failed: {error}", run.platform, run.benchmark)?;
    }

    writeln!(out, "\n## Syscalls\n")?;
    writeln!(
        out,
        "Distinct syscalls entered, their calls and failures, and the calls blocked: turned \
         away before they entered the host kernel (by a seccomp filter, or by gVisor's ptrace \
         platform, which runs the application's calls in its sentry instead).\n"
    )?;
    let headers = strings(&["PLATFORM", "BENCHMARK", "DISTINCT", "CALLS", "FAILED", "BLOCKED"]);
    let rows: Vec<Vec<String>> = r
        .syscalls
        .iter()
        .map(|x| {
            vec![
                x.platform.clone(),
                x.benchmark.to_string(),
                x.distinct.to_string(),
                thousands(x.calls),
                thousands(x.failed),
                thousands(x.blocked),
            ]
        })
        .collect();
    markdown_table(out, &headers, &right_after(2, headers.len()), &rows)?;
    if !r.syscalls_only_some.is_empty() {
        writeln!(out, "\n### Syscalls only some platforms make (calls, all benchmarks)\n")?;
        function_table(out, "SYSCALL", &names, &r.syscalls_only_some)?;
    }

    writeln!(out, "\n## Host kernel functions\n")?;
    let counted = s.tracing.counted();
    writeln!(
        out,
        "Distinct host kernel functions {} per run, and over all benchmarks:\n",
        if counted { "entered (counted)" } else { "seen in samples" }
    )?;
    let mut headers = strings(&["PLATFORM"]);
    headers.extend(benchmark_names.iter().map(|b| b.to_string()));
    headers.push("ALL".to_owned());
    let rows: Vec<Vec<String>> = r
        .footprint
        .iter()
        .map(|f| {
            let mut row = vec![f.platform.clone()];
            row.extend(
                f.per_benchmark.iter().map(|n| n.map_or("-".to_owned(), |n| thousands(n as u64))),
            );
            row.push(thousands(f.all as u64));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(1, headers.len()), &rows)?;
    if !r.interrupts.is_empty() {
        writeln!(out, "\n### Interrupt context")?;
        for measure in [Measure::Entries, Measure::Samples] {
            interrupt_table(out, measure, &r.interrupts)?;
        }
    }
    if let Some(why) = &r.figures.missing {
        writeln!(out, "\nNo figures: {why}.")?;
    }
    embed(out, r.figures.files.iter().filter(|f| f.benchmark.is_none()))?;
    for section in &r.benchmarks {
        render_benchmark(out, section)?;
        embed(out, r.figures.files.iter().filter(|f| f.benchmark == Some(section.benchmark)))?;
    }

    writeln!(out, "\n## Coverage reports (lcov)\n")?;
    match (&r.lcov.missing, r.lcov.files.as_slice()) {
        (Some(why), _) => writeln!(out, "None: {why}.")?,
        (None, []) => writeln!(out, "None: no run counted functions.")?,
        (None, files) => {
            writeln!(out, "One tracefile per platform, one test per benchmark:\n")?;
            for f in files {
                writeln!(out, "- [{f}]({f})")?;
            }
            writeln!(out, "\n```sh")?;
            for f in files {
                let stem = Path::new(f).file_stem().unwrap_or_default().to_string_lossy();
                writeln!(out, "genhtml --no-source -o html/{stem} {f}")?;
            }
            if let [base, rest @ ..] = files {
                let base_stem = Path::new(base).file_stem().unwrap_or_default().to_string_lossy();
                for f in rest {
                    let stem = Path::new(f).file_stem().unwrap_or_default().to_string_lossy();
                    writeln!(
                        out,
                        "genhtml --no-source --baseline-file {base} -o html/{stem}-vs-{base_stem} {f}"
                    )?;
                }
            }
            writeln!(out, "```")?;
            if !r.lcov.with_interrupts.is_empty() {
                writeln!(
                    out,
                    "\nThe same with the interrupts (softirq, hardirq, NMI) that came while each \
                     run ran, as `--irq task` would have counted them and the seed study's gcov \
                     did; that work is often not the run's own (a packet for its peer, a timer):\n"
                )?;
                for f in &r.lcov.with_interrupts {
                    writeln!(out, "- [{f}]({f})")?;
                }
            }
        }
    }

    writeln!(out, "\n## Findings\n")?;
    for finding in &r.findings {
        writeln!(out, "- {finding}")?;
    }
    writeln!(out, "\n## What ktrace cannot see here\n")?;
    for limit in &r.limits {
        writeln!(out, "- {limit}")?;
    }
    Ok(())
}

/// The figures' SVGs as images, each with a link to its PNG.
fn embed<'a>(out: &mut fs::File, figures: impl Iterator<Item = &'a Figure>) -> io::Result<()> {
    for f in figures {
        writeln!(out, "\n![{}]({}) ([PNG]({}))", f.shows, f.svg, f.png)?;
    }
    Ok(())
}

/// The runs whose shares are of `measure`, with what their figures are; nothing when none is.
fn interrupt_table(
    out: &mut fs::File,
    measure: Measure,
    shares: &[InterruptShare],
) -> io::Result<()> {
    let shares: Vec<&InterruptShare> = shares.iter().filter(|x| x.measure == measure).collect();
    if shares.is_empty() {
        return Ok(());
    }
    let (what, every) = match measure {
        Measure::Samples => (
            "Kernel samples (statistical, not counts) of each run's own tasks, and samples \
             taken in interrupts",
            "every sample taken in interrupt context",
        ),
        _ => (
            "Entries of the counted functions in each run's own tasks, and in interrupts",
            "every interrupt entry",
        ),
    };
    writeln!(
        out,
        "\n{what} (softirq, hardirq, NMI: packets received, timers, I/O completions) while one \
         of its tasks was current: work for whoever the packet or timer belongs to, kept out of \
         the run's own figures. SHARE is the interrupts' part of all that ran while the run was \
         current; MACHINE counts {every} during the run, whoever was interrupted.\n"
    )?;
    let headers = strings(&["PLATFORM", "BENCHMARK", "OWN", "IN INTERRUPTS", "SHARE", "MACHINE"]);
    let rows: Vec<Vec<String>> = shares
        .iter()
        .map(|x| {
            vec![
                x.platform.clone(),
                x.benchmark.to_string(),
                thousands(x.own),
                thousands(x.in_interrupts),
                format!("{:.1}%", x.share * 100.0),
                thousands(x.machine),
            ]
        })
        .collect();
    markdown_table(out, &headers, &right_after(2, headers.len()), &rows)
}

fn render_benchmark(out: &mut fs::File, section: &BenchmarkSection) -> io::Result<()> {
    let b = section.benchmark;
    let names: Vec<&str> = section.platforms.iter().map(String::as_str).collect();
    writeln!(out, "\n### {b}\n")?;
    if names.is_empty() {
        return writeln!(out, "No run of {b} completed.");
    }
    if let Some(directories) = &section.directories {
        writeln!(
            out,
            "By kernel source directory: functions hit / attached, and entries (the {} \
             directories with the most entries).\n",
            directories.len()
        )?;
        group_table(out, "DIRECTORY", &names, directories)?;
        writeln!(out)?;
    }
    let unit = if section.measure == "samples" { "samples" } else { "entries" };
    writeln!(
        out,
        "By module: {}{unit}.\n",
        if section.measure == "samples" { "" } else { "functions hit / attached, and " }
    )?;
    group_table(out, "MODULE", &names, &section.modules)?;
    writeln!(out, "\nHottest functions ({unit}):\n")?;
    function_table(out, "FUNCTION", &names, &section.hottest)?;
    if !section.only_in.is_empty() {
        writeln!(out, "\nHottest functions only some platforms enter ({unit}):\n")?;
        function_table(out, "FUNCTION", &names, &section.only_in)?;
    }
    if let Some(lines) = section.lines.as_deref().filter(|rows| !rows.is_empty()) {
        line_table(out, &names, lines)?;
    }
    Ok(())
}

/// The seed study's invocation-frequency table: each counted line's hits per platform.
fn line_table(out: &mut fs::File, platforms: &[&str], rows: &[LineRow]) -> io::Result<()> {
    let mut functions: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
    functions.dedup();
    // With interrupt context apart, a column per platform of the hits in interrupts while
    // its run ran: the receive path's work, not the run's own.
    let in_interrupts = rows.iter().any(|r| r.in_interrupts.is_some());
    writeln!(
        out,
        "\nSource lines of {} (hits, summed over the copies the compiler inlined; a line \
         runs once per hit, so lines in loops can exceed the function's calls{}):\n",
        functions.join(", "),
        if in_interrupts {
            "; in irq: hits in interrupts while the run ran, not the run's own work"
        } else {
            ""
        }
    )?;
    let texts = rows.iter().any(|r| r.text.is_some());
    let mut headers = strings(&["LINE"]);
    if texts {
        headers.push("SOURCE".to_owned());
    }
    let left = headers.len();
    headers.extend(platforms.iter().map(|p| p.to_string()));
    if in_interrupts {
        headers.extend(platforms.iter().map(|p| format!("{p} in irq")));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let location = if r.location.is_empty() { &r.function } else { &r.location };
            let mut row = vec![location.clone()];
            if texts {
                row.push(r.text.as_deref().map_or_else(String::new, |t| format!("`{}`", t.trim())));
            }
            row.extend(r.values.iter().map(|&v| thousands(v)));
            row.extend(r.in_interrupts.iter().flatten().map(|&v| thousands(v)));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(left, headers.len()), &cells)
}

fn group_table(
    out: &mut fs::File,
    item: &str,
    platforms: &[&str],
    rows: &[GroupRow],
) -> io::Result<()> {
    let coverage = rows.iter().any(|r| r.coverage.is_some());
    let mut headers = vec![item.to_owned()];
    if coverage {
        headers.extend(platforms.iter().map(|p| format!("{p} hit")));
    }
    headers.extend(platforms.iter().map(|p| p.to_string()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            if let Some(cov) = &r.coverage {
                row.extend(cov.iter().map(|&(hit, attached)| hit_of(hit, attached)));
            }
            row.extend(r.values.iter().map(|&v| thousands(v)));
            row
        })
        .collect();
    markdown_table(out, &headers, &right_after(1, headers.len()), &cells)
}

fn function_table(
    out: &mut fs::File,
    item: &str,
    platforms: &[&str],
    rows: &[FunctionRow],
) -> io::Result<()> {
    let modules = rows.iter().any(|r| r.module.is_some());
    let mut headers = vec![item.to_owned()];
    if modules {
        headers.push("MODULE".to_owned());
    }
    let left = headers.len();
    headers.extend(platforms.iter().map(|p| p.to_string()));
    headers.push("NOTE".to_owned());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            if modules {
                row.push(r.module.clone().unwrap_or_default());
            }
            row.extend(r.values.iter().map(|&v| thousands(v)));
            row.push(note(&r.only_in, platforms));
            row
        })
        .collect();
    let mut right = right_after(left, headers.len());
    *right.last_mut().expect("a NOTE column") = false;
    markdown_table(out, &headers, &right, &cells)
}

/// Which platforms have a row that not all have: "only in" the few, or "not in" the few.
fn note(only_in: &[String], platforms: &[&str]) -> String {
    if only_in.is_empty() {
        return String::new();
    }
    if only_in.len() * 2 <= platforms.len() {
        return format!("only in {}", only_in.join(", "));
    }
    let missing: Vec<&str> =
        platforms.iter().copied().filter(|p| !only_in.iter().any(|o| o == p)).collect();
    format!("not in {}", missing.join(", "))
}

fn tracing_sentence(t: &Tracing) -> String {
    match (t.counted(), &t.functions) {
        (true, Some(backend)) => format!(
            "Syscalls were counted per run, and entries of {} kernel functions with {backend}.",
            thousands(t.function_targets as u64)
        ),
        (false, Some(_)) => format!(
            "Syscalls were counted per run, and kernel functions sampled at {} Hz (samples, not \
             counts).",
            t.sample_hz.unwrap_or_default()
        ),
        (_, None) => "Syscalls were counted per run.".to_owned(),
    }
}

fn hit_of(hit: u64, attached: u64) -> String {
    let mut s = format!("{}/{}", thousands(hit), thousands(attached));
    if attached > 0 {
        let _ = write!(s, " ({:.1}%)", 100.0 * hit as f64 / attached as f64);
    }
    s
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Columns from `left` on are right-aligned.
fn right_after(left: usize, columns: usize) -> Vec<bool> {
    (0..columns).map(|i| i >= left).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_the_fewer_platforms() {
        let platforms = ["bare", "runc", "lxc", "runsc", "qemu"];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(note(&names(&["runsc"]), &platforms), "only in runsc");
        assert_eq!(note(&names(&["bare", "runc", "lxc", "runsc"]), &platforms), "not in qemu");
        assert_eq!(note(&[], &platforms), "");
    }
}
