//! The figures of host kernel activity, built from plain numbers: per group (source directory
//! or module) for one benchmark or one comparison, and the overview of a whole study.
use super::{
    chart::{Axis, Bar, BarChart, Panel, Series},
    palette::Palette,
};

/// Groups drawn at most; the rest are counted in a note.
pub const MAX_GROUPS: usize = 20;

/// What the groups of a [`Coverage`] figure are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Kernel source directories (`net/core`, `fs`), placed with the kernel's DWARF.
    SourceDirectory,
    /// Modules (`vmlinux`, `kvm`, `veth`).
    Module,
}

impl Grouping {
    fn noun(self) -> &'static str {
        match self {
            Self::SourceDirectory => "source directory",
            Self::Module => "module",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::SourceDirectory => "source directories",
            Self::Module => "modules",
        }
    }
}

/// How the runs saw kernel functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Every entry counted (kprobe.multi, fentry or kprobe): exact.
    Counted,
    /// perf samples of kernel IPs: statistical, never counts.
    Sampled,
}

impl Measure {
    fn describe(self) -> &'static str {
        match self {
            Self::Counted => "function entries counted (exact)",
            Self::Sampled => "kernel samples (statistical, not counts)",
        }
    }
}

/// What the bars of a [`Coverage`] figure compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    /// The study's platforms running this benchmark.
    Benchmark(String),
    /// Records side by side, as `ktrace compare` reads them: their file names.
    Records(Vec<String>),
}

/// One group (a directory, module or benchmark) with one figure per run, `None` where a run
/// has nothing to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Group<T> {
    pub name: String,
    /// In the order of the figure's runs.
    pub runs: Vec<Option<T>>,
}

/// Counted functions of one run in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Functions entered at least once.
    pub entered: u64,
    /// Functions ktrace attached there: the denominator of coverage.
    pub attached: u64,
    /// Entries of all of them.
    pub entries: u64,
    /// Their entries in interrupt context while the run's tasks were current (`--irq
    /// separate`): work that came in while the run ran, not the run's own. `None` where the
    /// run did not keep it apart.
    pub in_interrupts: Option<u64>,
}

/// The groups of a [`Coverage`] figure, counted or sampled.
#[derive(Debug, Clone, PartialEq)]
pub enum Groups {
    /// `None`: nothing attached in that group, or the run did not happen.
    Counted(Vec<Group<Counted>>),
    /// Samples per group; `None`: the run did not happen.
    Sampled(Vec<Group<u64>>),
}

/// Input of [`coverage`].
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub compared: Compared,
    /// The platforms (or run labels) in legend order; each group has one figure per run.
    pub runs: Vec<String>,
    /// The traced kernel's release (several joined with ", " when records differ).
    pub kernel_release: String,
    pub grouping: Grouping,
    pub groups: Groups,
}

/// Input of [`overview`].
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// The platforms in legend order.
    pub runs: Vec<String>,
    pub kernel_release: String,
    pub measure: Measure,
    /// Per benchmark, per platform: the distinct host kernel functions it entered (counted)
    /// or that samples found (sampled); `None` where the platform did not run it.
    pub benchmarks: Vec<Group<u64>>,
}

/// Per group, one bar per run: counted, the share of attached functions entered and the
/// entries (log scale); sampled, the samples (log scale). The [`MAX_GROUPS`] groups with the
/// most functions entered (or samples) are drawn, most first; a note counts the others.
pub fn coverage(input: &Coverage, palette: &Palette) -> BarChart {
    let grouping = input.grouping;
    let title = match &input.compared {
        Compared::Benchmark(b) => {
            format!("Host kernel functions per {}: {b} benchmark", grouping.noun())
        }
        Compared::Records(_) => format!("Host kernel functions per {}", grouping.noun()),
    };
    let compared = match &input.compared {
        Compared::Benchmark(_) => format!("platforms {}", input.runs.join(", ")),
        Compared::Records(files) => format!("records {}", files.join(", ")),
    };
    let (measure, names, panels, totals) = match &input.groups {
        Groups::Counted(groups) => {
            (Measure::Counted, names(groups), counted_panels(groups), totals(groups, |c| c.entered))
        }
        Groups::Sampled(groups) => {
            (Measure::Sampled, names(groups), sampled_panels(groups), totals(groups, |&n| n))
        }
    };
    let notes = match measure {
        Measure::Counted => vec![format!(
            "Coverage is functions entered / functions ktrace attached in the {} (the attached \
             set, not every function of it).",
            grouping.noun()
        )],
        Measure::Sampled => Vec::new(),
    };
    let mut chart = BarChart {
        title,
        subtitle: subtitle(&compared, &input.kernel_release, measure),
        series: series(&input.runs, palette),
        groups: names,
        panels,
        absent: match measure {
            Measure::Counted => "not attached",
            Measure::Sampled => "not run",
        }
        .to_owned(),
        notes,
    };
    keep_largest(&mut chart, &totals, grouping.plural(), measure);
    chart
}

/// Per benchmark, one bar per platform: how many distinct host kernel functions it entered
/// (or samples found).
pub fn overview(input: &Overview, palette: &Palette) -> BarChart {
    let (title, heading) = match input.measure {
        Measure::Counted => {
            ("Distinct host kernel functions entered, per benchmark", "Distinct functions entered")
        }
        Measure::Sampled => (
            "Distinct host kernel functions in samples, per benchmark",
            "Distinct functions sampled",
        ),
    };
    BarChart {
        title: title.to_owned(),
        subtitle: subtitle(
            &format!("platforms {}", input.runs.join(", ")),
            &input.kernel_release,
            input.measure,
        ),
        series: series(&input.runs, palette),
        groups: names(&input.benchmarks),
        panels: vec![Panel {
            heading: heading.to_owned(),
            axis: Axis::Count,
            bars: input
                .benchmarks
                .iter()
                .map(|b| b.runs.iter().map(|n| n.map_or(Bar::Absent, Bar::count)).collect())
                .collect(),
        }],
        absent: "not run".to_owned(),
        notes: Vec::new(),
    }
}

/// Counted runs: the share of attached functions entered, and entries on a log axis; with
/// interrupt context kept apart, its entries while the run ran on a log axis too.
fn counted_panels(groups: &[Group<Counted>]) -> Vec<Panel> {
    let bars = |bar: fn(&Counted) -> Bar| {
        groups
            .iter()
            .map(|g| {
                g.runs
                    .iter()
                    .map(|c| match c {
                        Some(c) if c.attached > 0 => bar(c),
                        _ => Bar::Absent,
                    })
                    .collect()
            })
            .collect()
    };
    let interrupts =
        groups.iter().flat_map(|g| g.runs.iter().flatten()).any(|c| c.in_interrupts.is_some());
    let in_interrupts = interrupts.then(|| Panel {
        heading: "Entries in interrupts while the run ran (log scale)".to_owned(),
        axis: Axis::Log10,
        bars: bars(|c| c.in_interrupts.map_or(Bar::Absent, Bar::count)),
    });
    [
        Panel {
            heading: "Functions entered, % of those attached".to_owned(),
            axis: Axis::Percent,
            bars: bars(|c| Bar::share(c.entered, c.attached)),
        },
        Panel {
            heading: "Function entries (log scale)".to_owned(),
            axis: Axis::Log10,
            bars: bars(|c| Bar::count(c.entries)),
        },
    ]
    .into_iter()
    .chain(in_interrupts)
    .collect()
}

/// Sampled runs: samples on a log axis.
fn sampled_panels(groups: &[Group<u64>]) -> Vec<Panel> {
    vec![Panel {
        heading: "Kernel samples (log scale)".to_owned(),
        axis: Axis::Log10,
        bars: groups
            .iter()
            .map(|g| g.runs.iter().map(|s| s.map_or(Bar::Absent, Bar::count)).collect())
            .collect(),
    }]
}

/// Each group's `figure` summed over its runs.
fn totals<T>(groups: &[Group<T>], figure: impl Fn(&T) -> u64) -> Vec<u64> {
    groups
        .iter()
        .map(|g| g.runs.iter().flatten().fold(0u64, |sum, t| sum.saturating_add(figure(t))))
        .collect()
}

fn subtitle(compared: &str, kernel_release: &str, measure: Measure) -> String {
    format!("{compared} · kernel {kernel_release} · {}", measure.describe())
}

fn series(runs: &[String], palette: &Palette) -> Vec<Series> {
    runs.iter().map(|name| Series { name: name.clone(), colour: palette.colour(name) }).collect()
}

fn names<T>(groups: &[Group<T>]) -> Vec<String> {
    groups.iter().map(|g| g.name.clone()).collect()
}

/// Orders the groups by `total`, most first (ties keep their order), keeps [`MAX_GROUPS`] and
/// says how many were left out.
fn keep_largest(chart: &mut BarChart, total: &[u64], plural: &str, measure: Measure) {
    let mut order: Vec<usize> = (0..chart.groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(total[g]));
    order.truncate(MAX_GROUPS);
    let omitted = chart.groups.len() - order.len();
    chart.groups = order.iter().map(|&g| chart.groups[g].clone()).collect();
    for panel in &mut chart.panels {
        panel.bars = order.iter().map(|&g| panel.bars[g].clone()).collect();
    }
    if omitted > 0 {
        let most = match measure {
            Measure::Counted => "functions entered",
            Measure::Sampled => "samples",
        };
        chart.notes.push(format!(
            "The {MAX_GROUPS} {plural} with the most {most} are shown; {omitted} more are not."
        ));
    }
}
