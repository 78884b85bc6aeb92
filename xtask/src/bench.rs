//! `cargo xtask bench`: the host's benchmarks (syscall counting, memory, the live view's
//! refresh), then the guest's (function counting), assembled into one Markdown report:
//! printed, written to target/bench/report.md and, with `--readme`, put between the markers
//! in README.md. Each benchmark with targets writes `<name>.md` and `<name>.tsv` (one line
//! per target: name, median, min, max, met): the host's under target/bench, the guest's as
//! `attach-<run>.md` in the guest's output directory. With `--runs N` every benchmark runs N
//! times (the guest's N times in one boot), the report adds each target's median per run
//! (its tables are the last run's), and a target counts as missed when more than half of the
//! runs missed it.
use std::{
    collections::{BTreeMap, BTreeSet},
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
    /// Run every benchmark N times (the guest's in one boot) and report each target per run.
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
    let mut refreshes = Vec::new();
    for run_number in 1..=args.runs {
        eprintln!("xtask: host benchmarks, run {run_number} of {}", args.runs);
        let mut targets = Targets::new();
        for name in HOST_BENCHES {
            targets.extend(host_bench(name, &dir)?);
        }
        runs.push(targets);
        refreshes.push(live_view_refresh()?);
    }
    let mut failures = Vec::new();
    let mut guest_figures = String::new();
    match vm::bench(args.runs) {
        Ok(out) => {
            for (run, targets) in runs.iter_mut().enumerate() {
                let figures = out.join(format!("attach-{}.md", run + 1));
                match read_targets(&figures.with_extension("tsv")) {
                    Ok(guest) => targets.extend(guest),
                    Err(e) => failures.push(format!("guest, run {}: {e:#}", run + 1)),
                }
                if let Ok(text) = fs::read_to_string(&figures) {
                    guest_figures = text;
                }
            }
        }
        Err(e) => failures.push(format!("guest: {e:#}")),
    }
    let mut missed = missed_in_most(&runs);
    missed.extend(failures);

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
    report += &live_view_section(&refreshes);
    if guest_figures.is_empty() {
        report += "## Function counting in the 6.12 guest (QEMU TCG)\n\n\
                   No figures: see the missed targets.\n\n";
    } else {
        report += &guest_figures;
        report += "\n";
    }
    if runs.len() > 1 {
        report += &spread_table(&runs);
    }
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
    if !tsv.exists() {
        outcome?;
        bail!("the {name} benchmark wrote no {}", tsv.display());
    }
    read_targets(&tsv)
}

/// The targets in a benchmark's .tsv file.
fn read_targets(tsv: &Path) -> anyhow::Result<Targets> {
    let text = fs::read_to_string(tsv).with_context(|| format!("reading {}", tsv.display()))?;
    parse_targets(&text).with_context(|| format!("reading {}", tsv.display()))
}

/// Lines of target, median, min, max and met ("yes" or "no"), tab-separated.
fn parse_targets(text: &str) -> anyhow::Result<Targets> {
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [target, median, _min, _max, met] = fields[..] else {
                bail!("not a target line: {line:?}");
            };
            let median = median.parse().with_context(|| format!("the median in {line:?}"))?;
            Ok((target.to_owned(), (median, met == "yes")))
        })
        .collect()
}

/// Every target named in any run, in order.
fn all_targets(runs: &[Targets]) -> BTreeSet<&String> {
    runs.iter().flat_map(|r| r.keys()).collect()
}

/// The targets missed in more than half of the runs (for an odd number of runs, those whose
/// median over the runs misses); a run without the target (its benchmark failed, which is
/// said apart) counts as no miss.
fn missed_in_most(runs: &[Targets]) -> Vec<String> {
    all_targets(runs)
        .into_iter()
        .filter(|&target| {
            let misses = runs.iter().filter(|r| r.get(target).is_some_and(|&(_, met)| !met));
            2 * misses.count() > runs.len()
        })
        .cloned()
        .collect()
}

/// Each target's median per run ("-" where a run lacks it), and their range.
fn spread_table(runs: &[Targets]) -> String {
    let mut text = format!("## Targets over {} runs\n\n| target |", runs.len());
    for n in 1..=runs.len() {
        let _ = write!(text, " run {n} |");
    }
    text += " min-max |\n|---|";
    text += &"---:|".repeat(runs.len() + 1);
    text += "\n";
    for target in all_targets(runs) {
        let _ = write!(text, "| {target} |");
        for run in runs {
            let _ = match run.get(target) {
                Some((median, _)) => write!(text, " {median:.2} |"),
                None => write!(text, " - |"),
            };
        }
        let medians = runs.iter().filter_map(|r| r.get(target).map(|&(m, _)| m));
        let (min, max) =
            medians.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), m| (lo.min(m), hi.max(m)));
        let _ = writeln!(text, " {min:.2}-{max:.2} |");
    }
    text + "\n"
}

/// Criterion's name for the live view's benchmark (tracer/benches/tui.rs).
const LIVE_VIEW_BENCH: &str = "top_refresh_40k_functions_4_cgroups";

/// One refresh of the live view, as criterion estimates it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Refresh {
    /// Median time, and its 95% confidence interval, in ms.
    median_ms: f64,
    low_ms: f64,
    high_ms: f64,
}

/// Runs the live view's benchmark (`cargo bench --bench tui`): its estimate of one refresh.
fn live_view_refresh() -> anyhow::Result<Refresh> {
    let estimates =
        workspace_file("target/criterion").join(LIVE_VIEW_BENCH).join("new/estimates.json");
    let _ = fs::remove_file(&estimates);
    // Few samples: one refresh takes tens of ms, and the figure is a guide, not a target.
    run(Command::new(env!("CARGO")).args([
        "bench",
        "-p",
        "tracer",
        "--bench",
        "tui",
        "--",
        "--noplot",
        "--sample-size",
        "20",
    ]))?;
    let text = fs::read_to_string(&estimates)
        .with_context(|| format!("reading {}", estimates.display()))?;
    parse_refresh(&text).with_context(|| format!("reading {}", estimates.display()))
}

/// The median and its confidence interval from criterion's estimates.json (in ns).
fn parse_refresh(estimates: &str) -> anyhow::Result<Refresh> {
    let json: serde_json::Value = serde_json::from_str(estimates)?;
    let median = &json["median"];
    let ms = |value: &serde_json::Value| {
        value.as_f64().map(|ns| ns / 1e6).context("no median in criterion's estimates")
    };
    Ok(Refresh {
        median_ms: ms(&median["point_estimate"])?,
        low_ms: ms(&median["confidence_interval"]["lower_bound"])?,
        high_ms: ms(&median["confidence_interval"]["upper_bound"])?,
    })
}

/// The live view's section: the last run's refresh, and each run's median. No target is set
/// for it: the figure is against the default 1 s interval.
fn live_view_section(refreshes: &[Refresh]) -> String {
    let Some(last) = refreshes.last() else { return String::new() };
    let mut text = format!(
        "## Live view on this host\n\n`cargo bench -p tracer --bench tui`: one refresh of \
         `ktrace top` (a 40,000-function x 4-cgroup update applied and drawn at 160x50) takes \
         {:.1} ms (criterion's median; 95% confidence {:.1}-{:.1} ms), {:.1}% of the default \
         1 s interval. No target is set for it.",
        last.median_ms,
        last.low_ms,
        last.high_ms,
        last.median_ms / 10.0
    );
    if refreshes.len() > 1 {
        let medians: Vec<String> =
            refreshes.iter().map(|r| format!("{:.1} ms", r.median_ms)).collect();
        let _ = write!(text, " Per run: {}.", medians.join(", "));
    }
    text + "\n\n"
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
        assert_eq!(missed_in_most(&[run(false, true)]), ["a"]);
        assert_eq!(missed_in_most(&[run(false, false), run(false, true), run(true, true)]), ["a"]);
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

    #[test]
    fn a_run_without_a_target_shows_a_dash_and_is_no_miss() {
        let host: Targets = [("host <= 1".to_owned(), (1.5, false))].into();
        let mut both = host.clone();
        both.insert("guest <= 1".to_owned(), (0.5, true));
        let runs = [both, host];
        assert_eq!(
            spread_table(&runs),
            "## Targets over 2 runs\n\n| target | run 1 | run 2 | min-max |\n\
             |---|---:|---:|---:|\n\
             | guest <= 1 | 0.50 | - | 0.50-0.50 |\n\
             | host <= 1 | 1.50 | 1.50 | 1.50-1.50 |\n\n"
        );
        assert_eq!(missed_in_most(&runs), ["host <= 1"]);
    }

    #[test]
    fn reads_a_benchmarks_target_lines() {
        let targets = parse_targets("a <= 1.10x\t1.050\t0.900\t1.300\tyes\nb\t2.000\t1\t3\tno\n");
        assert_eq!(
            targets.unwrap(),
            [("a <= 1.10x".to_owned(), (1.05, true)), ("b".to_owned(), (2.0, false))].into()
        );
        assert!(parse_targets("a\t1.0\tyes\n").is_err());
        assert!(parse_targets("a\tmany\t1\t2\tyes\n").is_err());
    }

    #[test]
    fn reports_criterions_median_refresh_in_ms() {
        // The shape of criterion's new/estimates.json, cut down.
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,
            "lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},
            "median":{"confidence_interval":{"confidence_level":0.95,
            "lower_bound":21500000.0,"upper_bound":23000000.0},"point_estimate":22000000.0,
            "standard_error":100000.0}}"#;
        let refresh = parse_refresh(estimates).unwrap();
        assert_eq!(refresh, Refresh { median_ms: 22.0, low_ms: 21.5, high_ms: 23.0 });
        assert!(parse_refresh(r#"{"mean":{}}"#).is_err());
        let other = Refresh { median_ms: 25.0, ..refresh };
        assert_eq!(
            live_view_section(&[other, refresh]),
            "## Live view on this host\n\n`cargo bench -p tracer --bench tui`: one refresh of \
             `ktrace top` (a 40,000-function x 4-cgroup update applied and drawn at 160x50) \
             takes 22.0 ms (criterion's median; 95% confidence 21.5-23.0 ms), 2.2% of the \
             default 1 s interval. No target is set for it. Per run: 25.0 ms, 22.0 ms.\n\n"
        );
    }
}
