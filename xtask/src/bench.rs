//! `cargo xtask bench`: the host's benchmarks (syscall counting, memory), then the guest's
//! (function counting), assembled into one Markdown report: printed, written to
//! target/bench/report.md and, with `--readme`, put between the markers in README.md. Each
//! host benchmark writes `<name>.md` and `<name>.tsv` (one line per target: name, median,
//! min, max, met) under target/bench; with `--runs N` the host benchmarks run N times, the
//! report adds each target's median per run (its tables are the last run's), and a host
//! target counts as missed when more than half of the runs missed it.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::Path,
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context as _, bail};

use crate::{run, vm, workspace_file};

/// The host benchmarks, in the order they run and report.
const HOST_BENCHES: [&str; 2] = ["syscalls", "memory"];
const README_BEGIN: &str = "<!-- cargo xtask bench --readme: begin -->";
const README_END: &str = "<!-- cargo xtask bench --readme: end -->";

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Run the host benchmarks N times (the guest's once) and report each target per run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    runs: u32,
    /// Also replace README.md's benchmark block (between its markers) with the report.
    #[arg(long)]
    readme: bool,
}

/// A target's median in one run, and whether it was met.
type Targets = BTreeMap<String, (f64, bool)>;

pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = workspace_file("target/bench");
    let mut runs: Vec<Targets> = Vec::new();
    for run_number in 1..=args.runs {
        eprintln!("xtask: host benchmarks, run {run_number} of {}", args.runs);
        let mut targets = Targets::new();
        for name in HOST_BENCHES {
            targets.extend(host_bench(name, &dir)?);
        }
        runs.push(targets);
    }
    let (guest_figures, guest_missed) = match vm::bench() {
        Ok(found) => found,
        Err(e) => (String::new(), vec![format!("guest: {e:#}")]),
    };
    let mut missed = missed_in_most(&runs);
    missed.extend(guest_missed);

    let mut report = format!(
        "# ktrace benchmarks\n\n`cargo xtask bench{}` on {}, {:.0} min in all.\n\n",
        if args.runs > 1 { format!(" --runs {}", args.runs) } else { String::new() },
        today()?,
        started.elapsed().as_secs_f64() / 60.0
    );
    for name in HOST_BENCHES {
        let path = dir.join(format!("{name}.md"));
        report +=
            &fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        report += "\n";
    }
    if runs.len() > 1 {
        report += &spread_table(&runs);
    }
    let _ = write!(
        report,
        "## Function counting in the 6.12 guest (QEMU TCG)\n\n```text\n{}```\n\n",
        if guest_figures.is_empty() {
            "(no figures: see the missed targets)\n"
        } else {
            &guest_figures
        }
    );
    if missed.is_empty() {
        report += "Every target met.\n";
    } else {
        report += "Missed targets:\n\n";
        for target in &missed {
            let _ = writeln!(report, "- {target}");
        }
    }
    print!("{report}");
    write_atomically(&dir.join("report.md"), &report)?;
    if args.readme {
        let readme = workspace_file("README.md");
        let text = fs::read_to_string(&readme).context("reading README.md")?;
        write_atomically(&readme, &with_block(&text, &report)?)?;
        eprintln!("xtask: README.md's benchmark block replaced");
    }
    for target in &missed {
        eprintln!("xtask: missed target: {target}");
    }
    Ok(if missed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs the host benchmark `name` (it exits 1 on a missed target, which its .tsv says too);
/// its targets.
fn host_bench(name: &str, dir: &Path) -> anyhow::Result<Targets> {
    let tsv = dir.join(format!("{name}.tsv"));
    let _ = fs::remove_file(&tsv);
    let outcome = run(Command::new(env!("CARGO"))
        .args(["bench", "-p", "tracer", "--bench", name, "--"])
        .arg(dir.join(format!("{name}.md"))));
    let Ok(text) = fs::read_to_string(&tsv) else {
        outcome?;
        bail!("the {name} benchmark wrote no {}", tsv.display());
    };
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [target, median, _min, _max, met] = fields[..] else {
                bail!("{}: not a target line: {line:?}", tsv.display());
            };
            let median = median.parse().with_context(|| format!("{}: {line:?}", tsv.display()))?;
            Ok((target.to_owned(), (median, met == "yes")))
        })
        .collect()
}

/// The host targets missed in more than half of the runs (for an odd number of runs, those
/// whose median over the runs misses), named.
fn missed_in_most(runs: &[Targets]) -> Vec<String> {
    let Some(first) = runs.first() else { return Vec::new() };
    first
        .keys()
        .filter(|&target| {
            let misses = runs.iter().filter(|r| r.get(target).is_some_and(|&(_, met)| !met));
            2 * misses.count() > runs.len()
        })
        .map(|target| format!("host: {target}"))
        .collect()
}

/// Each target's median per run, and their range.
fn spread_table(runs: &[Targets]) -> String {
    let mut text = format!("## Targets over {} runs\n\n| target |", runs.len());
    for n in 1..=runs.len() {
        let _ = write!(text, " run {n} |");
    }
    text += " min-max |\n|---|";
    text += &"---:|".repeat(runs.len() + 1);
    text += "\n";
    for target in runs[0].keys() {
        let medians: Vec<f64> =
            runs.iter().filter_map(|r| r.get(target).map(|&(m, _)| m)).collect();
        let _ = write!(text, "| {target} |");
        for median in &medians {
            let _ = write!(text, " {median:.2} |");
        }
        let min = medians.iter().copied().fold(f64::INFINITY, f64::min);
        let max = medians.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(text, " {min:.2}-{max:.2} |");
    }
    text + "\n"
}

/// `readme` with the text between its markers replaced by `report`, headings moved two levels
/// down to sit below README's own.
fn with_block(readme: &str, report: &str) -> anyhow::Result<String> {
    let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
        bail!("README.md lacks the markers {README_BEGIN} and {README_END}");
    };
    if end < begin {
        bail!("README.md's benchmark markers are in the wrong order");
    }
    let block: String = report
        .lines()
        .map(|line| if line.starts_with('#') { format!("##{line}\n") } else { format!("{line}\n") })
        .collect();
    Ok(format!("{}{README_BEGIN}\n{block}{}", &readme[..begin], &readme[end..]))
}

fn today() -> anyhow::Result<String> {
    let output = Command::new("date").arg("+%Y-%m-%d %H:%M").output().context("running date")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_block_between_the_markers() {
        let readme = format!("intro\n{README_BEGIN}\nold figures\n{README_END}\nafter\n");
        let new = with_block(&readme, "# ktrace benchmarks\n\n| a | b |\n").unwrap();
        assert_eq!(
            new,
            format!(
                "intro\n{README_BEGIN}\n### ktrace benchmarks\n\n| a | b |\n{README_END}\nafter\n"
            )
        );
        assert!(with_block("no markers", "x").is_err());
    }

    #[test]
    fn a_target_is_missed_when_most_runs_miss_it() {
        let run = |a: bool, b: bool| -> Targets {
            [("a".to_owned(), (1.0, a)), ("b".to_owned(), (1.0, b))].into()
        };
        assert_eq!(missed_in_most(&[run(false, true)]), ["host: a"]);
        assert_eq!(
            missed_in_most(&[run(false, false), run(false, true), run(true, true)]),
            ["host: a"]
        );
    }

    #[test]
    fn tabulates_each_targets_median_per_run_and_their_range() {
        let run = |a: f64, b: f64| -> Targets {
            [("a <= 1".to_owned(), (a, a <= 1.0)), ("b <= 2".to_owned(), (b, b <= 2.0))].into()
        };
        assert_eq!(
            spread_table(&[run(1.0, 2.5), run(0.9, 2.0), run(1.1, 1.5)]),
            "## Targets over 3 runs\n\n| target | run 1 | run 2 | run 3 | min-max |\n\
             |---|---:|---:|---:|---:|\n\
             | a <= 1 | 1.00 | 0.90 | 1.10 | 0.90-1.10 |\n\
             | b <= 2 | 2.50 | 2.00 | 1.50 | 1.50-2.50 |\n\n"
        );
    }
}
