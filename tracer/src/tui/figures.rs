//! The figures behind one view (syscalls, functions or modules): per item and cgroup, the last
//! interval's count, the cumulative total and the display-side baseline that a reset sets;
//! turned into sorted, filtered rows of rate, total and share.
//!
//! A reset never touches the kernel's counters (they are never deleted on read): it only
//! remembers the totals at that moment and subtracts them from then on.
use std::{collections::HashMap, time::Duration};

use crate::collect::rate;

/// Which cgroup's figures a sort looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Summed over all cgroups.
    All,
    /// One cgroup, by its position in `--cgroup` order.
    Cgroup(usize),
}

/// What rows are sorted by: busiest first for rates and totals, A to Z for names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Rate(Column),
    Total(Column),
    Name,
}

/// One item's figures in one cgroup, as shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Per second in the last interval.
    pub rate: f64,
    /// Since tracing started or since the last reset.
    pub total: u64,
    /// `total` over everything the cgroup did in this view in the same time (0 when it did nothing).
    pub share: f64,
}

#[derive(Debug)]
struct Item {
    label: String,
    interval: Vec<u64>,
    total: Vec<u64>,
    baseline: Vec<u64>,
}

impl Item {
    fn shown_total(&self, cgroup: usize) -> u64 {
        self.total[cgroup].saturating_sub(self.baseline[cgroup])
    }

    fn sort_key(&self, sort: SortColumn) -> u64 {
        let of = |column: Column, value: &dyn Fn(usize) -> u64| match column {
            Column::All => (0..self.total.len()).fold(0u64, |sum, i| sum.saturating_add(value(i))),
            Column::Cgroup(i) => value(i),
        };
        match sort {
            SortColumn::Rate(column) => of(column, &|i| self.interval[i]),
            SortColumn::Total(column) => of(column, &|i| self.shown_total(i)),
            SortColumn::Name => 0,
        }
    }
}

#[derive(Debug)]
pub struct Figures {
    cgroups: usize,
    /// In order of first appearance; never removed, so that indices stay valid.
    items: Vec<Item>,
    index: HashMap<String, usize>,
    /// Per cgroup: everything it did in this view (all calls, all kernel samples).
    totals: Vec<u64>,
    baseline_totals: Vec<u64>,
}

impl Figures {
    pub fn new(cgroups: usize) -> Self {
        Self {
            cgroups,
            items: Vec::new(),
            index: HashMap::new(),
            totals: vec![0; cgroups],
            baseline_totals: vec![0; cgroups],
        }
    }

    /// Starts taking one update: every count is zero until set again, so an item missing from
    /// the new reports shows nothing rather than stale figures.
    pub fn start_update(&mut self, totals: impl IntoIterator<Item = u64>) {
        for item in &mut self.items {
            item.interval.fill(0);
            item.total.fill(0);
        }
        self.totals.fill(0);
        for (slot, total) in self.totals.iter_mut().zip(totals) {
            *slot = total;
        }
    }

    /// Sets `label`'s cumulative counts, one per cgroup.
    pub fn set_total(&mut self, label: &str, counts: impl IntoIterator<Item = u64>) {
        let item = self.item_mut(label);
        for (slot, n) in item.total.iter_mut().zip(counts) {
            *slot = n;
        }
    }

    /// Sets `label`'s counts of the last interval, one per cgroup.
    pub fn set_interval(&mut self, label: &str, counts: impl IntoIterator<Item = u64>) {
        let item = self.item_mut(label);
        for (slot, n) in item.interval.iter_mut().zip(counts) {
            *slot = n;
        }
    }

    fn item_mut(&mut self, label: &str) -> &mut Item {
        let i = match self.index.get(label) {
            Some(&i) => i,
            None => {
                self.items.push(Item {
                    label: label.to_owned(),
                    interval: vec![0; self.cgroups],
                    total: vec![0; self.cgroups],
                    baseline: vec![0; self.cgroups],
                });
                self.index.insert(label.to_owned(), self.items.len() - 1);
                self.items.len() - 1
            }
        };
        &mut self.items[i]
    }

    /// Makes the current totals the new zero.
    pub fn reset(&mut self) {
        for item in &mut self.items {
            item.baseline.clone_from(&item.total);
        }
        self.baseline_totals.clone_from(&self.totals);
    }

    /// Indices of the items to show: active since the baseline or in the last interval, whose
    /// label contains `filter`, in `sort` order (ties by name).
    pub fn rows(&self, sort: SortColumn, filter: &str) -> Vec<usize> {
        let mut rows: Vec<(u64, usize)> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                (0..self.cgroups).any(|c| item.interval[c] > 0 || item.shown_total(c) > 0)
                    && item.label.contains(filter)
            })
            .map(|(i, item)| (item.sort_key(sort), i))
            .collect();
        rows.sort_unstable_by(|(ka, a), (kb, b)| {
            kb.cmp(ka).then_with(|| self.items[*a].label.cmp(&self.items[*b].label))
        });
        rows.into_iter().map(|(_, i)| i).collect()
    }

    pub fn label(&self, item: usize) -> &str {
        &self.items[item].label
    }

    /// `item`'s cells, one per cgroup; `interval` is the length of the last interval.
    pub fn cells(&self, item: usize, interval: Duration) -> impl Iterator<Item = Cell> + '_ {
        let item = &self.items[item];
        (0..self.cgroups).map(move |c| {
            let total = item.shown_total(c);
            let all = self.totals[c].saturating_sub(self.baseline_totals[c]);
            Cell {
                rate: rate(item.interval[c], interval),
                total,
                share: if all == 0 { 0.0 } else { total as f64 / all as f64 },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cgroups: getppid 30 (10 this interval) in a; read 5 in a, 20 in b; fchdir 20 in b.
    fn figures() -> Figures {
        let mut f = Figures::new(2);
        f.start_update([35, 40]);
        f.set_total("getppid", [30, 0]);
        f.set_total("read", [5, 20]);
        f.set_total("fchdir", [0, 20]);
        f.set_interval("getppid", [10, 0]);
        f.set_interval("fchdir", [0, 4]);
        f
    }

    fn labels(f: &Figures, rows: &[usize]) -> Vec<String> {
        rows.iter().map(|&i| f.label(i).to_owned()).collect()
    }

    #[test]
    fn sorts_by_rate_total_name_and_one_cgroup() {
        let f = figures();
        let sorted = |sort| labels(&f, &f.rows(sort, ""));
        // Rate ties (read 0) fall back to names.
        assert_eq!(sorted(SortColumn::Rate(Column::All)), ["getppid", "fchdir", "read"]);
        assert_eq!(sorted(SortColumn::Rate(Column::Cgroup(1))), ["fchdir", "getppid", "read"]);
        assert_eq!(sorted(SortColumn::Total(Column::All)), ["getppid", "read", "fchdir"]);
        assert_eq!(sorted(SortColumn::Total(Column::Cgroup(1))), ["fchdir", "read", "getppid"]);
        assert_eq!(sorted(SortColumn::Name), ["fchdir", "getppid", "read"]);
    }

    #[test]
    fn filter_keeps_labels_containing_the_text() {
        let f = figures();
        assert_eq!(labels(&f, &f.rows(SortColumn::Name, "d")), ["fchdir", "getppid", "read"]);
        assert_eq!(labels(&f, &f.rows(SortColumn::Name, "ppid")), ["getppid"]);
        assert!(f.rows(SortColumn::Name, "xyz").is_empty());
    }

    #[test]
    fn cells_give_rate_total_and_share_of_the_cgroup() {
        let f = figures();
        let getppid = f.rows(SortColumn::Name, "getppid")[0];
        let cells: Vec<Cell> = f.cells(getppid, Duration::from_millis(500)).collect();
        assert_eq!(
            cells,
            [
                Cell { rate: 20.0, total: 30, share: 30.0 / 35.0 },
                Cell { rate: 0.0, total: 0, share: 0.0 }
            ]
        );
    }

    #[test]
    fn reset_subtracts_a_baseline_and_hides_idle_items() {
        let mut f = figures();
        f.reset();
        // Only rows active in the last interval remain, with zero totals.
        assert_eq!(labels(&f, &f.rows(SortColumn::Name, "")), ["fchdir", "getppid"]);
        f.start_update([36, 40]);
        f.set_total("getppid", [30, 0]);
        f.set_total("read", [6, 20]);
        f.set_total("fchdir", [0, 20]);
        f.set_interval("read", [1, 0]);
        assert_eq!(labels(&f, &f.rows(SortColumn::Name, "")), ["read"]);
        let read = f.rows(SortColumn::Name, "")[0];
        let cells: Vec<Cell> = f.cells(read, Duration::from_secs(1)).collect();
        assert_eq!(
            cells,
            [Cell { rate: 1.0, total: 1, share: 1.0 }, Cell { rate: 0.0, total: 0, share: 0.0 }]
        );
    }
}
