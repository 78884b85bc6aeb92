//! Aggregation of the eBPF counters: pure functions over cumulative snapshots.
//!
//! The kernel side only ever adds, per CPU; `attach` reads the maps as they are and the sums
//! over CPUs are taken here. Userspace never resets or deletes on read: an interval's figures
//! are the difference of two cumulative snapshots ([`Snapshot::since`]).
use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use tracer_common::{
    Abi, FUNCTION_CHUNK, FunctionChunk, FunctionStats, LATENCY_BUCKETS, LatencyHistogram,
    MAX_SYSCALLS, SYSCALL_COUNTERS, SampleTotals, SyscallTable,
};

/// Cumulative counters of every traced cgroup, in `--cgroup` order.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub syscalls: Vec<SyscallCounts>,
    /// Present when sampling.
    pub samples: Option<Vec<SampleCounts>>,
    /// Present when counting functions: `[slot][function index]`.
    pub functions: Option<Vec<Vec<u64>>>,
    /// Present when counting lines: `[slot][probe index]`.
    pub lines: Option<Vec<Vec<u64>>>,
    /// Present with `--latency`.
    pub latency: Option<Vec<SyscallLatencies>>,
}

impl Snapshot {
    /// The counters of the period between `earlier` and `self` (both cumulative).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            syscalls: self
                .syscalls
                .iter()
                .zip(&earlier.syscalls)
                .map(|(n, e)| n.since(e))
                .collect(),
            samples: self
                .samples
                .as_ref()
                .zip(earlier.samples.as_ref())
                .map(|(now, then)| now.iter().zip(then).map(|(n, e)| n.since(e)).collect()),
            functions: self.functions.as_ref().zip(earlier.functions.as_ref()).map(counters_since),
            lines: self.lines.as_ref().zip(earlier.lines.as_ref()).map(counters_since),
            latency: self
                .latency
                .as_ref()
                .zip(earlier.latency.as_ref())
                .map(|(now, then)| now.iter().zip(then).map(|(n, e)| n.since(e)).collect()),
        }
    }
}

/// `[slot][counter]` now minus then.
fn counters_since((now, then): (&Vec<Vec<u64>>, &Vec<Vec<u64>>)) -> Vec<Vec<u64>> {
    now.iter()
        .zip(then)
        .map(|(n, e)| n.iter().zip(e).map(|(n, e)| n.saturating_sub(*e)).collect())
        .collect()
}

/// Calls of a syscall, how many of them failed, and how many were blocked: returned without
/// having entered (see [`tracer_common::SyscallCount`]). `errors <= calls`; `blocked` is
/// separate from both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub calls: u64,
    pub errors: u64,
    /// Absent from records written before blocked returns were counted.
    #[serde(default)]
    pub blocked: u64,
}

impl Count {
    pub fn saturating_add(self, other: Self) -> Self {
        Self {
            calls: self.calls.saturating_add(other.calls),
            errors: self.errors.saturating_add(other.errors),
            blocked: self.blocked.saturating_add(other.blocked),
        }
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        Self {
            calls: self.calls.saturating_sub(other.calls),
            errors: self.errors.saturating_sub(other.errors),
            blocked: self.blocked.saturating_sub(other.blocked),
        }
    }

    pub fn is_zero(self) -> bool {
        self == Self::default()
    }
}

impl From<tracer_common::SyscallCount> for Count {
    fn from(c: tracer_common::SyscallCount) -> Self {
        Self { calls: c.calls, errors: c.errors, blocked: c.blocked }
    }
}

/// A syscall as the kernel numbers it: the ABI whose table it is in, and its number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Syscall {
    pub abi: Abi,
    pub nr: usize,
}

impl Syscall {
    /// The syscall counted at `index` of a [`SyscallTable`].
    fn at(index: usize) -> Self {
        Self { abi: Abi::ALL[index / MAX_SYSCALLS], nr: index % MAX_SYSCALLS }
    }

    fn index(self) -> Option<usize> {
        tracer_common::counter_index(self.abi, self.nr as i64)
    }
}

/// Cumulative syscall counts of one traced cgroup, summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallCounts {
    /// Indexed like [`SyscallTable::counts`].
    counts: Vec<Count>,
    out_of_range: Count,
}

impl Default for SyscallCounts {
    fn default() -> Self {
        Self { counts: vec![Count::default(); SYSCALL_COUNTERS], out_of_range: Count::default() }
    }
}

impl SyscallCounts {
    /// Sums one slot's per-CPU tables.
    pub fn sum_per_cpu(tables: &[SyscallTable]) -> Self {
        let mut sum = Self::default();
        for table in tables {
            for (total, &count) in sum.counts.iter_mut().zip(&table.counts) {
                *total = total.saturating_add(count.into());
            }
            sum.out_of_range = sum.out_of_range.saturating_add(table.out_of_range.into());
        }
        sum
    }

    /// What happened between `earlier` and `self` (both cumulative).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(&now, &then)| now.saturating_sub(then))
                .collect(),
            out_of_range: self.out_of_range.saturating_sub(earlier.out_of_range),
        }
    }

    /// Every syscall seen at least once, and its count.
    pub fn nonzero(&self) -> impl Iterator<Item = (Syscall, Count)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_zero())
            .map(|(index, &c)| (Syscall::at(index), c))
    }

    pub fn get(&self, syscall: Syscall) -> Count {
        syscall.index().and_then(|i| self.counts.get(i)).copied().unwrap_or_default()
    }

    /// Calls whose number was outside the table (negative or too large).
    pub fn out_of_range(&self) -> Count {
        self.out_of_range
    }

    pub fn total(&self) -> Count {
        self.counts.iter().fold(self.out_of_range, |sum, &c| sum.saturating_add(c))
    }
}

/// Cumulative latency histograms of one traced cgroup's syscalls, summed over CPUs: calls
/// per bucket of [`tracer_common::latency_bucket`], for each syscall timed at least once.
/// The key is the syscall's [`SyscallTable`] index, `None` for the calls out of range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallLatencies {
    histograms: BTreeMap<Option<Syscall>, Vec<u64>>,
}

impl SyscallLatencies {
    /// Adds one CPU's histogram of the syscall at `counter` (a [`SyscallTable`] index, or
    /// [`SYSCALL_COUNTERS`] for the calls out of range).
    pub fn add_per_cpu(&mut self, counter: u32, per_cpu: &[LatencyHistogram]) {
        let syscall = (counter < SYSCALL_COUNTERS as u32).then(|| Syscall::at(counter as usize));
        let sums = self.histograms.entry(syscall).or_insert_with(|| vec![0; LATENCY_BUCKETS]);
        for histogram in per_cpu {
            for (sum, &n) in sums.iter_mut().zip(&histogram.buckets) {
                *sum = sum.saturating_add(n);
            }
        }
    }

    /// Calls per bucket of `syscall` (`None`: the calls out of range); `None` if never timed.
    pub fn get(&self, syscall: Option<Syscall>) -> Option<&[u64]> {
        self.histograms.get(&syscall).map(Vec::as_slice)
    }

    /// What happened between `earlier` and `self` (both cumulative).
    pub fn since(&self, earlier: &Self) -> Self {
        let histograms = self
            .histograms
            .iter()
            .map(|(syscall, now)| {
                let delta = match earlier.histograms.get(syscall) {
                    Some(then) => now.iter().zip(then).map(|(n, e)| n.saturating_sub(*e)).collect(),
                    None => now.clone(),
                };
                (*syscall, delta)
            })
            .collect();
        Self { histograms }
    }
}

/// Events per second; 0 for an empty interval.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Cumulative kernel samples of one traced cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleCounts {
    pub kernel: u64,
    pub user: u64,
    /// Kernel samples the eBPF side could not record (its map was full).
    pub lost: u64,
    /// Samples per (kernel IP, stack id).
    pub by_location: BTreeMap<(u64, i32), u64>,
}

impl SampleCounts {
    /// Sums one slot's per-CPU totals; the samples per location come from another map.
    pub fn sum_per_cpu(totals: &[SampleTotals]) -> Self {
        totals.iter().fold(Self::default(), |sum, t| Self {
            kernel: sum.kernel.saturating_add(t.kernel),
            user: sum.user.saturating_add(t.user),
            lost: sum.lost.saturating_add(t.lost),
            by_location: BTreeMap::new(),
        })
    }

    /// What happened between `earlier` and `self` (both cumulative).
    pub fn since(&self, earlier: &Self) -> Self {
        let by_location = self
            .by_location
            .iter()
            .filter_map(|(loc, &now)| {
                let delta = now.saturating_sub(earlier.by_location.get(loc).copied().unwrap_or(0));
                (delta > 0).then_some((*loc, delta))
            })
            .collect();
        Self {
            kernel: self.kernel.saturating_sub(earlier.kernel),
            user: self.user.saturating_sub(earlier.user),
            lost: self.lost.saturating_sub(earlier.lost),
            by_location,
        }
    }

    /// Samples per kernel IP, stacks merged.
    pub fn by_ip(&self) -> BTreeMap<u64, u64> {
        let mut by_ip = BTreeMap::new();
        for (&(ip, _), &n) in &self.by_location {
            let sum: &mut u64 = by_ip.entry(ip).or_default();
            *sum = sum.saturating_add(n);
        }
        by_ip
    }
}

/// Entry counts of one slot's `functions` functions: `per_cpu[chunk]` holds one chunk's
/// counters on every CPU; they are summed over CPUs and laid end to end.
pub fn sum_function_chunks(per_cpu: &[&[FunctionChunk]], functions: usize) -> Vec<u64> {
    let mut sums = vec![0u64; per_cpu.len() * FUNCTION_CHUNK];
    for (chunk, cpus) in per_cpu.iter().enumerate() {
        for cpu in *cpus {
            for (sum, &n) in sums[chunk * FUNCTION_CHUNK..].iter_mut().zip(&cpu.counts) {
                *sum = sum.saturating_add(n);
            }
        }
    }
    sums.truncate(functions);
    sums
}

/// ktrace's own cost and losses while counting functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overhead {
    /// Hits whose counter could not be found (should stay 0).
    pub failed_updates: u64,
    /// Hits from a function that is not one of the targets (should stay 0).
    pub unknown_function: u64,
    /// Runs the kernel skipped because the program was already running on that CPU.
    pub recursion_misses: u64,
    /// Total run time of the counting programs; 0 unless `sysctl kernel.bpf_stats_enabled=1`.
    pub run_time_ns: u64,
    pub run_count: u64,
}

impl Overhead {
    /// The eBPF side's per-CPU losses summed; the programs' statistics are added by the caller.
    pub fn sum_per_cpu(stats: &[FunctionStats]) -> Self {
        stats.iter().fold(Self::default(), |sum, s| Self {
            failed_updates: sum.failed_updates.saturating_add(s.failed_updates),
            unknown_function: sum.unknown_function.saturating_add(s.unknown_function),
            ..sum
        })
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::SyscallCount;

    use super::*;

    fn table(entries: &[(usize, u64, u64)]) -> SyscallTable {
        let mut t = SyscallTable::default();
        for &(nr, calls, errors) in entries {
            t.counts[nr] = SyscallCount { calls, errors, blocked: 0 };
        }
        t
    }

    fn x86_64(nr: usize) -> Syscall {
        Syscall { abi: Abi::X86_64, nr }
    }

    fn count(calls: u64, errors: u64) -> Count {
        Count { calls, errors, blocked: 0 }
    }

    #[test]
    fn sums_cpus_and_finds_nonzero_entries() {
        let mut cpu1 = table(&[(110, 5, 0), (0, 1, 1)]);
        cpu1.out_of_range = SyscallCount { calls: 2, errors: 2, blocked: 1 };
        let cpu2 = table(&[(110, 7, 1)]);
        let sum = SyscallCounts::sum_per_cpu(&[cpu1, cpu2]);
        assert_eq!(sum.get(x86_64(110)), count(12, 1));
        assert_eq!(
            sum.nonzero().collect::<Vec<_>>(),
            [(x86_64(0), count(1, 1)), (x86_64(110), count(12, 1))]
        );
        assert_eq!(sum.out_of_range(), Count { calls: 2, errors: 2, blocked: 1 });
        assert_eq!(sum.total(), Count { calls: 15, errors: 4, blocked: 1 });
    }

    #[test]
    fn i386_calls_and_blocked_returns_have_their_own_counters() {
        let mut cpu = table(&[(20, 3, 0)]);
        // i386 getpid is 20 as well; x86_64 79 (getcwd) blocked 5 times.
        cpu.counts[MAX_SYSCALLS + 20] = SyscallCount { calls: 7, errors: 0, blocked: 0 };
        cpu.counts[79] = SyscallCount { calls: 0, errors: 0, blocked: 5 };
        let sum = SyscallCounts::sum_per_cpu(&[cpu]);
        let i386_getpid = Syscall { abi: Abi::I386, nr: 20 };
        assert_eq!(sum.get(i386_getpid), count(7, 0));
        assert_eq!(sum.get(x86_64(20)), count(3, 0));
        assert_eq!(
            sum.nonzero().collect::<Vec<_>>(),
            [
                (x86_64(20), count(3, 0)),
                (x86_64(79), Count { calls: 0, errors: 0, blocked: 5 }),
                (i386_getpid, count(7, 0))
            ]
        );
        assert_eq!(sum.get(Syscall { abi: Abi::I386, nr: MAX_SYSCALLS }), Count::default());
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let sum = SyscallCounts::sum_per_cpu(&[table(&[(1, u64::MAX, 0)]), table(&[(1, 3, 0)])]);
        assert_eq!(sum.get(x86_64(1)).calls, u64::MAX);
        // A counter that went backwards (a map recreated) yields 0, not a huge number.
        let before = SyscallCounts::sum_per_cpu(&[table(&[(1, 10, 4)])]);
        let after = SyscallCounts::sum_per_cpu(&[table(&[(1, 3, 0)])]);
        assert_eq!(after.since(&before).get(x86_64(1)), Count::default());
    }

    #[test]
    fn interval_is_the_difference_of_snapshots() {
        let t0 = SyscallCounts::sum_per_cpu(&[table(&[(39, 100, 0), (80, 4, 4)])]);
        let t1 = SyscallCounts::sum_per_cpu(&[table(&[(39, 250, 0), (80, 4, 4), (2, 1, 0)])]);
        let delta = t1.since(&t0);
        assert_eq!(
            delta.nonzero().collect::<Vec<_>>(),
            [(x86_64(2), count(1, 0)), (x86_64(39), count(150, 0))]
        );
    }

    #[test]
    fn sample_intervals_and_ip_totals() {
        let earlier = SampleCounts {
            kernel: 10,
            user: 4,
            lost: 0,
            by_location: BTreeMap::from([((0xa, -1), 6), ((0xb, 3), 4)]),
        };
        let now = SampleCounts {
            kernel: 25,
            user: 4,
            lost: 1,
            by_location: BTreeMap::from([((0xa, -1), 6), ((0xb, 3), 10), ((0xb, 7), 8)]),
        };
        let delta = now.since(&earlier);
        assert_eq!((delta.kernel, delta.user, delta.lost), (15, 0, 1));
        assert_eq!(delta.by_location, BTreeMap::from([((0xb, 3), 6), ((0xb, 7), 8)]));
        assert_eq!(now.by_ip(), BTreeMap::from([(0xa, 6), (0xb, 18)]));
    }

    #[test]
    fn per_cpu_sums_of_samples_functions_and_losses() {
        let totals = |kernel, user, lost| SampleTotals { kernel, user, lost };
        let sum = SampleCounts::sum_per_cpu(&[totals(3, 1, 0), totals(u64::MAX, 2, 1)]);
        assert_eq!((sum.kernel, sum.user, sum.lost), (u64::MAX, 3, 1));
        let chunk = |first: u64, last: u64| {
            let mut c = FunctionChunk { counts: [0; FUNCTION_CHUNK] };
            c.counts[0] = first;
            c.counts[FUNCTION_CHUNK - 1] = last;
            c
        };
        // Two chunks on two CPUs; only the first FUNCTION_CHUNK + 1 functions are targets.
        let (first, second) = ([chunk(1, 2), chunk(10, 20)], [chunk(5, 0), chunk(0, 7)]);
        let counts = sum_function_chunks(&[&first, &second], FUNCTION_CHUNK + 1);
        assert_eq!(counts.len(), FUNCTION_CHUNK + 1);
        assert_eq!((counts[0], counts[FUNCTION_CHUNK - 1], counts[FUNCTION_CHUNK]), (11, 22, 5));
        let stats =
            |failed_updates, unknown_function| FunctionStats { failed_updates, unknown_function };
        let overhead = Overhead::sum_per_cpu(&[stats(1, 0), stats(2, 5)]);
        assert_eq!((overhead.failed_updates, overhead.unknown_function), (3, 5));
    }

    #[test]
    fn snapshots_differ_per_cgroup_and_function() {
        let snapshot = |calls: u64, samples: u64, entries: Vec<u64>| Snapshot {
            syscalls: vec![SyscallCounts::sum_per_cpu(&[table(&[(1, calls, 0)])])],
            samples: Some(vec![SampleCounts { kernel: samples, ..Default::default() }]),
            functions: Some(vec![entries.clone()]),
            lines: Some(vec![entries]),
            latency: None,
        };
        let delta = snapshot(10, 7, vec![5, 9]).since(&snapshot(4, 2, vec![5, 3]));
        assert_eq!(delta.syscalls[0].get(x86_64(1)).calls, 6);
        assert_eq!(delta.samples.unwrap()[0].kernel, 5);
        assert_eq!(delta.functions, Some(vec![vec![0, 6]]));
        assert_eq!(delta.lines, Some(vec![vec![0, 6]]));
    }

    #[test]
    fn latency_histograms_sum_cpus_and_differ_per_bucket() {
        let histogram = |buckets: &[(usize, u64)]| {
            let mut h = LatencyHistogram::default();
            for &(bucket, n) in buckets {
                h.buckets[bucket] = n;
            }
            h
        };
        let mut earlier = SyscallLatencies::default();
        earlier.add_per_cpu(110, &[histogram(&[(3, 1)]), histogram(&[(3, 2), (900, 1)])]);
        let mut now = SyscallLatencies::default();
        now.add_per_cpu(110, &[histogram(&[(3, 4)]), histogram(&[(3, 2), (900, 1)])]);
        now.add_per_cpu(SYSCALL_COUNTERS as u32, &[histogram(&[(70, 5)])]);
        assert_eq!(now.get(Some(x86_64(110))).unwrap()[3], 6);
        let delta = now.since(&earlier);
        let getppid = delta.get(Some(x86_64(110))).unwrap();
        assert_eq!((getppid[3], getppid[900], getppid.iter().sum::<u64>()), (3, 0, 3));
        assert_eq!(delta.get(None).unwrap()[70], 5);
        assert_eq!(delta.get(Some(x86_64(1))), None);
    }

    #[test]
    fn rate_per_second() {
        assert_eq!(rate(300, Duration::from_millis(1500)), 200.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }
}
