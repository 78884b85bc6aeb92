//! The latency tab, shown with `--latency`: one row per traced cgroup and syscall with the
//! calls timed and their p50, p90, p99, p99.9 and max, for the last interval or for all calls
//! since the start (or the last reset), sorted by any of those columns.
//!
//! The tab keeps its own state, apart from the count views' [`Figures`](super::figures): a
//! row here is a (syscall, cgroup) pair rather than a syscall with a column group per cgroup,
//! since six figures per cgroup would not fit beside each other. A reset subtracts the
//! cumulative histograms of that moment bucket by bucket ([`Latency::since`]), so the
//! percentiles since a reset are as exact as any others. The drawing of the tab's rows is here
//! too; the frame around it (tabs, status, footer) is [`render`](super::render)'s.
use std::collections::HashMap;

use ratatui::{
    style::{Modifier, Style},
    text::Line,
};

use crate::{
    latency::{self, Latency},
    report::Report,
};

use super::{
    figures::Column,
    render::{fit, fit_end},
};

/// Which timed calls the figures are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Those that returned in the last interval.
    Interval,
    /// All since tracing started, or since the last reset.
    Total,
}

/// The column rows are sorted by: most or longest first, syscall names A to Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencySort {
    Timed,
    P50,
    P90,
    P99,
    P999,
    Max,
    Name,
}

impl LatencySort {
    const ALL: [Self; 7] =
        [Self::Timed, Self::P50, Self::P90, Self::P99, Self::P999, Self::Max, Self::Name];

    pub fn title(self) -> &'static str {
        match self {
            Self::Timed => "timed",
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P99 => "p99",
            Self::P999 => "p99.9",
            Self::Max => "max",
            Self::Name => "name",
        }
    }

    /// The next column to the right, wrapping around.
    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|&s| s == self).expect("every column is in ALL");
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The figure sorted by; `None` (no timed call) sorts last.
    fn key(self, latency: Option<&Latency>) -> Option<u64> {
        let l = latency?;
        match self {
            Self::Timed => Some(l.count),
            Self::P50 => Some(l.p50_ns),
            Self::P90 => Some(l.p90_ns),
            Self::P99 => Some(l.p99_ns),
            Self::P999 => Some(l.p999_ns),
            Self::Max => Some(l.max_ns),
            Self::Name => None,
        }
    }
}

/// One syscall in one cgroup.
#[derive(Debug)]
struct Entry {
    syscall: String,
    cgroup: usize,
    interval: Option<Latency>,
    /// Cumulative, as the collector sent it.
    total: Option<Latency>,
    /// `total` at the last reset.
    baseline: Option<Latency>,
    /// `total` since `baseline`: what the total window shows.
    shown_total: Option<Latency>,
}

impl Entry {
    fn latency(&self, window: Window) -> Option<&Latency> {
        match window {
            Window::Interval => self.interval.as_ref(),
            Window::Total => self.shown_total.as_ref(),
        }
    }
}

#[derive(Debug)]
pub struct LatencyTab {
    pub(super) window: Window,
    pub(super) sort: LatencySort,
    /// The cgroup whose rows are shown, or all.
    pub(super) cgroup: Column,
    /// In order of first appearance; never removed, so that indices stay valid.
    entries: Vec<Entry>,
    index: HashMap<(String, usize), usize>,
}

impl Default for LatencyTab {
    fn default() -> Self {
        Self {
            window: Window::Interval,
            sort: LatencySort::P99,
            cgroup: Column::All,
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl LatencyTab {
    /// Takes one update's reports; a pair missing from them shows nothing rather than stale
    /// figures.
    pub fn update(&mut self, interval: &Report, total: &Report) {
        for entry in &mut self.entries {
            (entry.interval, entry.total) = (None, None);
        }
        for row in &total.syscalls {
            for (cgroup, latency) in row.latency.iter().flatten().enumerate() {
                if let Some(latency) = latency {
                    self.entry_mut(&row.name, cgroup).total = Some(latency.clone());
                }
            }
        }
        for row in &interval.syscalls {
            for (cgroup, latency) in row.latency.iter().flatten().enumerate() {
                if let Some(latency) = latency {
                    self.entry_mut(&row.name, cgroup).interval = Some(latency.clone());
                }
            }
        }
        for entry in &mut self.entries {
            // Subtracting rebuilds the HdrHistogram: only after a reset.
            entry.shown_total = match &entry.baseline {
                None => entry.total.clone(),
                Some(baseline) => entry.total.as_ref().and_then(|t| t.since(Some(baseline))),
            };
        }
    }

    fn entry_mut(&mut self, syscall: &str, cgroup: usize) -> &mut Entry {
        let i = *self.index.entry((syscall.to_owned(), cgroup)).or_insert_with(|| {
            self.entries.push(Entry {
                syscall: syscall.to_owned(),
                cgroup,
                interval: None,
                total: None,
                baseline: None,
                shown_total: None,
            });
            self.entries.len() - 1
        });
        &mut self.entries[i]
    }

    /// Makes the current totals the new zero.
    pub fn reset(&mut self) {
        for entry in &mut self.entries {
            entry.baseline.clone_from(&entry.total);
            entry.shown_total = None;
        }
    }

    pub fn toggle_window(&mut self) {
        self.window = match self.window {
            Window::Interval => Window::Total,
            Window::Total => Window::Interval,
        };
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
    }

    /// Indices of the rows to show: pairs with calls timed in either window, of the chosen
    /// cgroup, whose syscall contains `filter`; in sort order, ties by syscall and cgroup.
    pub fn rows(&self, filter: &str) -> Vec<usize> {
        let mut rows: Vec<(Option<u64>, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                (e.interval.is_some() || e.shown_total.is_some())
                    && e.syscall.contains(filter)
                    && (self.cgroup == Column::All || self.cgroup == Column::Cgroup(e.cgroup))
            })
            .map(|(i, e)| (self.sort.key(e.latency(self.window)), i))
            .collect();
        rows.sort_unstable_by(|(ka, a), (kb, b)| {
            let (a, b) = (&self.entries[*a], &self.entries[*b]);
            kb.cmp(ka).then_with(|| (&a.syscall, a.cgroup).cmp(&(&b.syscall, b.cgroup)))
        });
        rows.into_iter().map(|(_, i)| i).collect()
    }

    /// The syscall, cgroup position and latency in the current window of row `i`.
    pub fn row(&self, i: usize) -> (&str, usize, Option<&Latency>) {
        let e = &self.entries[i];
        (&e.syscall, e.cgroup, e.latency(self.window))
    }
}

/// "TIMED" and five figures of up to "999.999ms".
const FIGURES_WIDTH: usize = 12 + 5 * 10;
/// Narrowest syscall and cgroup columns.
const NAME_MIN: usize = 20;
const CGROUP_MIN: usize = 10;
/// Narrowest terminal that fits the tab.
pub const MIN_WIDTH: usize = NAME_MIN + CGROUP_MIN + FIGURES_WIDTH;

/// The widths of the syscall and cgroup columns in a terminal `width` wide (at least
/// [`MIN_WIDTH`]): the cgroup column as wide as its longest label allows.
fn name_widths(width: usize, cgroups: &[String]) -> (usize, usize) {
    let room = width.saturating_sub(FIGURES_WIDTH);
    let longest = cgroups.iter().map(|c| c.chars().count() + 2).max().unwrap_or(0);
    let cgroup = longest.clamp(CGROUP_MIN, room.saturating_sub(NAME_MIN).max(CGROUP_MIN));
    (room.saturating_sub(cgroup).clamp(NAME_MIN, 48), cgroup)
}

/// The column names.
pub fn header_lines(width: usize, cgroups: &[String]) -> Vec<Line<'static>> {
    let (name, cgroup) = name_widths(width, cgroups);
    let columns = format!(
        "{:<name$}{:<cgroup$}{:>12}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "SYSCALL", "CGROUP", "TIMED", "P50", "P90", "P99", "P99.9", "MAX"
    );
    vec![Line::raw(""), Line::styled(columns, Style::new().add_modifier(Modifier::BOLD))]
}

/// Rows `rows[scroll..]`, as many as `height` allows; "-" where nothing was timed.
pub fn row_lines(
    tab: &LatencyTab,
    rows: &[usize],
    scroll: usize,
    height: usize,
    width: usize,
    cgroups: &[String],
) -> Vec<Line<'static>> {
    let (name, cgroup_width) = name_widths(width, cgroups);
    rows.iter()
        .skip(scroll)
        .take(height)
        .map(|&i| {
            let (syscall, cgroup, latency) = tab.row(i);
            let mut line = format!(
                "{:<name$}{:<cgroup_width$}",
                fit(syscall, name - 1),
                fit_end(&cgroups[cgroup], cgroup_width - 1)
            );
            match latency {
                Some(l) => {
                    line += &format!("{:>12}", l.count);
                    for ns in [l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.max_ns] {
                        line += &format!("{:>10}", latency::human(ns));
                    }
                }
                None => line += &format!("{:>12}{}", 0, format!("{:>10}", "-").repeat(5)),
            }
            Line::raw(line)
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use tracer_common::{LATENCY_BUCKETS, latency_bucket};

    use super::*;
    use crate::report::tests::sample;

    fn latency(calls: &[(u64, u64)]) -> Option<Latency> {
        let mut counts = vec![0; LATENCY_BUCKETS];
        for &(ns, n) in calls {
            counts[latency_bucket(ns)] += n;
        }
        Latency::from_buckets(&counts)
    }

    /// lxc: getppid 100 x 300 ns, read 10 x 2 ms; gvisor: read 4 x 50 ms. The interval has
    /// lxc's getppid only.
    pub(in crate::tui) fn reports() -> (Report, Report) {
        let mut total = sample();
        total.syscalls[0].latency = Some(vec![latency(&[(300, 100)]), None]);
        total.syscalls[1].latency =
            Some(vec![latency(&[(2_000_000, 10)]), latency(&[(50_000_000, 4)])]);
        let mut interval = sample();
        interval.syscalls[0].latency = Some(vec![latency(&[(300, 40)]), None]);
        (interval, total)
    }

    fn shown(tab: &LatencyTab) -> Vec<(&str, usize)> {
        tab.rows("").into_iter().map(|i| tab.row(i)).map(|(s, c, _)| (s, c)).collect()
    }

    #[test]
    fn rows_are_pairs_sorted_by_the_chosen_column_in_the_chosen_window() {
        let mut tab = LatencyTab::default();
        let (interval, total) = reports();
        tab.update(&interval, &total);
        // The interval: only getppid has figures; the others sort after it.
        assert_eq!((tab.window, tab.sort), (Window::Interval, LatencySort::P99));
        assert_eq!(shown(&tab), [("getppid", 0), ("read", 0), ("read", 1)]);
        assert_eq!(tab.row(tab.rows("")[0]).2.unwrap().count, 40);
        tab.toggle_window();
        assert_eq!(shown(&tab), [("read", 1), ("read", 0), ("getppid", 0)]);
        for _ in 0..3 {
            tab.cycle_sort();
        }
        assert_eq!(tab.sort, LatencySort::Name);
        assert_eq!(shown(&tab), [("getppid", 0), ("read", 0), ("read", 1)]);
        tab.cycle_sort();
        assert_eq!(tab.sort, LatencySort::Timed);
        assert_eq!(shown(&tab), [("getppid", 0), ("read", 0), ("read", 1)]);
        tab.cgroup = Column::Cgroup(1);
        assert_eq!(shown(&tab), [("read", 1)]);
        tab.cgroup = Column::All;
        assert_eq!(tab.rows("ppid").len(), 1);
    }

    #[test]
    fn a_reset_shows_only_calls_timed_after_it() {
        let mut tab = LatencyTab::default();
        tab.toggle_window();
        let (interval, mut total) = reports();
        tab.update(&interval, &total);
        tab.reset();
        let idle = sample();
        tab.update(&idle, &total);
        assert!(shown(&tab).is_empty(), "nothing timed since the reset");
        // Then lxc's read takes 1 s once.
        total.syscalls[1].latency.as_mut().unwrap()[0] =
            latency(&[(2_000_000, 10), (1_000_000_000, 1)]);
        tab.update(&idle, &total);
        let rows = tab.rows("");
        let (syscall, cgroup, l) = tab.row(rows[0]);
        let l = l.unwrap();
        assert_eq!((syscall, cgroup, l.count, rows.len()), ("read", 0, 1, 1));
        assert!(l.p50_ns.abs_diff(1_000_000_000) <= 17_000_000, "{l:?}");
    }

    #[test]
    fn lines_give_human_units_and_dashes() {
        let mut tab = LatencyTab::default();
        let (interval, total) = reports();
        tab.update(&interval, &total);
        let cgroups = ["lxc".to_owned(), "gvisor".to_owned()];
        let lines = row_lines(&tab, &tab.rows(""), 0, 10, MIN_WIDTH, &cgroups);
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        let header = header_lines(MIN_WIDTH, &cgroups)[1].to_string();
        assert_eq!(
            [header.as_str(), &text[0], &text[2]],
            [
                "SYSCALL             CGROUP           TIMED       P50       P90       P99     P99.9       MAX",
                "getppid             lxc                 40     300ns     300ns     300ns     300ns     300ns",
                "read                gvisor               0         -         -         -         -         -",
            ]
        );
    }
}
