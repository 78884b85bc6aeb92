//! Syscall latency percentiles (`--latency`), from the eBPF side's histograms.
//!
//! The kernel counts each timed call in a log-linear bucket of nanoseconds (see
//! [`tracer_common::latency_bucket`]: 32 buckets per power of two). Here every bucket's calls
//! are recorded at the bucket's midpoint into an [`hdrhistogram::Histogram`] (3 significant
//! digits), whose quantiles give the percentiles. A midpoint is within 1/64 (1.6%) of every
//! latency in its bucket and the histogram adds at most 0.1%, so every figure is within 1.7%
//! of a latency that was measured. Latencies of 68.7 s and more share the last bucket.
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tracer_common::{latency_bucket, latency_bucket_range};

/// The bound on the relative error of every latency figure, as a fraction.
pub const RELATIVE_ERROR: f64 = 0.017;

/// The latency of one syscall's timed calls in one cgroup over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Calls timed: entered and returned within the period.
    pub count: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    /// The histogram itself: `[lowest latency of the bucket in ns, calls]` for every bucket
    /// with calls, lowest first, so that readers can compute other percentiles or merge.
    pub buckets: Vec<[u64; 2]>,
}

impl Latency {
    /// The summary of calls per bucket; `None` when no call was timed.
    pub fn from_buckets(counts: &[u64]) -> Option<Self> {
        let buckets: Vec<[u64; 2]> = counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(bucket, &n)| [latency_bucket_range(bucket).0, n])
            .collect();
        Self::from_sparse(buckets)
    }

    /// The summary of `[lowest latency, calls]` buckets, as in [`Self::buckets`].
    pub fn from_sparse(buckets: Vec<[u64; 2]>) -> Option<Self> {
        let histogram = histogram(&buckets);
        (!histogram.is_empty()).then(|| Self {
            count: histogram.len(),
            p50_ns: histogram.value_at_quantile(0.5),
            p90_ns: histogram.value_at_quantile(0.9),
            p99_ns: histogram.value_at_quantile(0.99),
            p999_ns: histogram.value_at_quantile(0.999),
            max_ns: histogram.max(),
            buckets,
        })
    }

    /// The calls timed since `earlier`, a summary of the same cumulative histogram at an
    /// earlier time (`None`: nothing then); `None` when no call was timed since.
    pub fn since(&self, earlier: Option<&Self>) -> Option<Self> {
        let mut before = earlier.map_or(&[][..], |e| &e.buckets[..]).iter().peekable();
        let buckets = self
            .buckets
            .iter()
            .map(|&[low, n]| {
                // Both are sorted by `low`, and a bucket never loses calls.
                while before.next_if(|b| b[0] < low).is_some() {}
                let then = before.next_if(|b| b[0] == low).map_or(0, |b| b[1]);
                [low, n.saturating_sub(then)]
            })
            .filter(|&[_, n]| n > 0)
            .collect();
        Self::from_sparse(buckets)
    }

    /// The latency at quantile `q` (0 to 1), in ns.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        histogram(&self.buckets).value_at_quantile(q)
    }

    /// Calls per range between `edges_ns` (ascending): those under the first edge, then those
    /// from each edge to the next, and last those at or above the last edge. Exact when every
    /// edge is a bucket's lowest latency (as powers of two from 64 ns are); otherwise a bucket
    /// counts in the range where it starts.
    pub fn calls_between(&self, edges_ns: &[u64]) -> Vec<u64> {
        let mut calls = vec![0; edges_ns.len() + 1];
        for &[low, n] in &self.buckets {
            calls[edges_ns.partition_point(|&edge| edge <= low)] += n;
        }
        calls
    }

    /// The sum of the calls' latencies in ns, each taken at its bucket's midpoint: within
    /// 1.6% of the true sum.
    pub fn midpoint_sum_ns(&self) -> u128 {
        self.buckets.iter().map(|&[low, n]| u128::from(midpoint(low)) * u128::from(n)).sum()
    }
}

/// Above the last bucket's midpoint: every midpoint fits.
const HIGHEST_NS: u64 = 1 << 37;

/// The calls of `buckets` at their buckets' midpoints.
fn histogram(buckets: &[[u64; 2]]) -> Histogram<u64> {
    let mut histogram =
        Histogram::new_with_max(HIGHEST_NS, 3).expect("bounds and 3 significant digits are valid");
    for &[low, n] in buckets {
        histogram.saturating_record_n(midpoint(low), n);
    }
    histogram
}

/// The midpoint of the bucket holding latency `ns`.
fn midpoint(ns: u64) -> u64 {
    let (low, width) = latency_bucket_range(latency_bucket(ns));
    low + width / 2
}

/// `ns` for people: "850ns", "12.3us", "1.05ms", "2.50s".
pub fn human(ns: u64) -> String {
    let ns_f = ns as f64;
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.3}us", ns_f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.3}ms", ns_f / 1e6),
        _ => format!("{:.3}s", ns_f / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::{LATENCY_BUCKETS, LATENCY_SUB_BUCKETS};

    use super::*;

    #[test]
    fn buckets_are_contiguous_and_within_the_error_bound() {
        let mut next = 0;
        for bucket in 0..LATENCY_BUCKETS {
            let (low, width) = latency_bucket_range(bucket);
            assert_eq!(low, next, "bucket {bucket} starts where the previous ended");
            assert_eq!(latency_bucket(low), bucket);
            assert_eq!(latency_bucket(low + width - 1), bucket);
            let mid = (low + width / 2) as f64;
            assert!((mid - low as f64) / (low.max(1) as f64) <= 1.0 / 64.0, "bucket {bucket}");
            next = low + width;
        }
        assert_eq!(next, 1 << 36);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(2 * LATENCY_SUB_BUCKETS as u64 - 1), 63);
    }

    #[test]
    fn percentiles_of_a_known_mix() {
        // 900 calls of 200 ns, 90 of 1 ms, 10 of 10 ms.
        let mut counts = vec![0; LATENCY_BUCKETS];
        counts[latency_bucket(200)] = 900;
        counts[latency_bucket(1_000_000)] = 90;
        counts[latency_bucket(10_000_000)] = 10;
        let latency = Latency::from_buckets(&counts).unwrap();
        assert_eq!(latency.count, 1000);
        let near = |figure: u64, exact: f64| {
            assert!((figure as f64 - exact).abs() <= exact * RELATIVE_ERROR, "{figure} vs {exact}");
        };
        near(latency.p50_ns, 200.0);
        near(latency.p90_ns, 200.0);
        near(latency.p99_ns, 1e6);
        near(latency.p999_ns, 1e7);
        near(latency.max_ns, 1e7);
        near(latency.quantile_ns(0.95), 1e6);
        assert_eq!(latency.buckets.len(), 3);
        // Powers of two are bucket edges, so the counts between them are exact.
        assert_eq!(latency.calls_between(&[1 << 7, 1 << 8, 1 << 20, 1 << 24]), [0, 900, 90, 10, 0]);
        assert_eq!(latency.calls_between(&[]), [1000]);
        let sum = latency.midpoint_sum_ns() as f64;
        near(sum as u64, 900.0 * 200.0 + 90.0 * 1e6 + 10.0 * 1e7);
        assert_eq!(Latency::from_sparse(latency.buckets.clone()), Some(latency.clone()));
        assert_eq!(latency.since(None).as_ref(), Some(&latency));
        assert_eq!(latency.since(Some(&latency)), None);
        // Later: 5 more calls of 10 ms and 1 of 1 s.
        counts[latency_bucket(10_000_000)] += 5;
        counts[latency_bucket(1_000_000_000)] = 1;
        let later = Latency::from_buckets(&counts).unwrap();
        let since = later.since(Some(&latency)).unwrap();
        assert_eq!(since.count, 6);
        near(since.p50_ns, 1e7);
        near(since.max_ns, 1e9);
        assert_eq!(Latency::from_buckets(&[0; LATENCY_BUCKETS]), None);
        // The last bucket (68.7 s and more) stays within the histogram's range.
        counts[LATENCY_BUCKETS - 1] = 1;
        near(Latency::from_buckets(&counts).unwrap().max_ns, ((1u64 << 36) - (1 << 29)) as f64);
    }

    #[test]
    fn human_units() {
        assert_eq!(human(850), "850ns");
        assert_eq!(human(12_345), "12.345us");
        assert_eq!(human(1_050_000), "1.050ms");
        assert_eq!(human(2_500_000_000), "2.500s");
    }
}
