//! `ktrace serve`: the live counters as Prometheus metrics, so that an existing Prometheus
//! gathers a fleet of hosts. `GET /metrics` answers in the OpenMetrics text format
//! (prometheus-client's encoder), which Prometheus scrapes natively.
//!
//! The session hands the cumulative total to [`run`] every `-i` interval (default 1 s); the
//! exposition is rendered once per interval and every scrape in between gets the same text,
//! so scrapes never touch the eBPF maps and cost no more than a copy. Every figure is a counter
//! since tracing started (ktrace never resets the kernel's counters), labelled by the cgroup's
//! label as given with `--cgroup`.
//!
//! With `--latency`, `ktrace_syscall_latency_seconds` is a histogram per cgroup and syscall
//! whose `le` bounds are powers of two nanoseconds, 256 ns to 2^36 ns (68.7 s): each is an edge
//! of the kernel's buckets, so every cumulative count is exact, except that a call of exactly
//! 2^k ns counts above `le` = 2^k ns rather than at it. `_count` is the calls timed, and
//! `_sum` is approximate: each call is taken at its bucket's midpoint (within 1.6%).
use std::{borrow::Cow, convert::Infallible, ops::RangeInclusive, sync::Arc, time::Duration};

use anyhow::Context as _;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header::CONTENT_TYPE,
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter},
    registry::{Registry, Unit},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch},
    time::Instant,
};

use crate::{
    collect::Count,
    lines::{LineFunction, LineReport},
    report::{ALL_INTERRUPTS, Report, SyscallRow},
    session::Update,
};

/// What `ktrace serve` binds to without `--listen`: loopback only, since the counters say what
/// runs on the host.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9435";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a client may take to send a request's headers; also how long a kept-alive
/// connection may sit idle. Scrapers send theirs at once; a client that trickles them
/// (slowloris) would otherwise hold a connection forever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any one connection is served, whatever it does.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once at most; more wait in the kernel's backlog until one closes.
const MAX_CONNECTIONS: usize = 64;
/// File descriptors kept free for the trace itself (reading the eBPF maps opens files), so
/// that clients can never take the last ones.
const FD_RESERVE: u64 = 16;
/// After a failed accept (out of file descriptors, say), the next one waits this long at
/// first, doubling up to [`MAX_ACCEPT_PAUSE`]: retrying at once would spin.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning about failed accepts per this period; the rest are counted.
const WARNING_PERIOD: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` on `listener` from the latest total in `updates`. Returns only on an
/// error, or when the session stops sending updates.
pub async fn run(
    listener: TcpListener,
    mut updates: mpsc::Receiver<Update>,
) -> anyhow::Result<Infallible> {
    let (latest, scrapes) = watch::channel(Arc::new(exposition(None)?));
    let slots = Arc::new(Semaphore::new(connection_limit()));
    let mut pause = AcceptPause::default();
    let mut warnings = RateLimited::new(WARNING_PERIOD);
    loop {
        tokio::select! {
            update = updates.recv() => {
                let update = update.context("the trace stopped sending counters")?;
                latest.send_replace(Arc::new(exposition(Some(Arc::new(update.total)))?));
            }
            (accepted, slot) = accept(&listener, &slots, pause.until) => match accepted {
                Ok(stream) => {
                    pause.reset();
                    tokio::spawn(serve_connection(stream, scrapes.clone(), slot));
                }
                // Out of file descriptors and the like: this scrape fails, a later one may not.
                Err(e) => {
                    pause.lengthen();
                    if let Some(suppressed) = warnings.allow(Instant::now()) {
                        let also = match suppressed {
                            0 => String::new(),
                            n => format!(" ({n} more since the last warning)"),
                        };
                        eprintln!("ktrace: warning: accepting a metrics connection: {e}{also}");
                    }
                }
            }
        }
    }
}

/// How many connections to serve at once: [`MAX_CONNECTIONS`], or fewer when the file
/// descriptor limit leaves less than that beside the ones in use and [`FD_RESERVE`]; one at
/// least.
fn connection_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into `limit`, which lives through the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return MAX_CONNECTIONS;
    }
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64);
    let spare = limit.rlim_cur.saturating_sub(open).saturating_sub(FD_RESERVE);
    usize::try_from(spare).unwrap_or(usize::MAX).clamp(1, MAX_CONNECTIONS)
}

/// Waits for the pause after a failed accept and for a free connection slot, then accepts.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    not_before: Instant,
) -> (std::io::Result<TcpStream>, OwnedSemaphorePermit) {
    tokio::time::sleep_until(not_before).await;
    let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
    (listener.accept().await.map(|(stream, _)| stream), slot)
}

/// Answers the requests of one connection, holding its `slot` until it closes.
async fn serve_connection(
    stream: TcpStream,
    scrapes: watch::Receiver<Arc<String>>,
    _slot: OwnedSemaphorePermit,
) {
    let service = service_fn(move |request| {
        let body = scrapes.borrow().clone();
        async move { Ok::<_, Infallible>(respond(&request, &body)) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    // A client that goes away mid-answer, or overstays, is its own problem.
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
}

/// When the accept loop may accept again: at once, or after a pause that doubles with each
/// failure in a row.
#[derive(Debug)]
struct AcceptPause {
    until: Instant,
    length: Duration,
}

impl Default for AcceptPause {
    fn default() -> Self {
        Self { until: Instant::now(), length: Duration::ZERO }
    }
}

impl AcceptPause {
    fn lengthen(&mut self) {
        self.length = (self.length * 2).clamp(FIRST_ACCEPT_PAUSE, MAX_ACCEPT_PAUSE);
        self.until = Instant::now() + self.length;
    }

    fn reset(&mut self) {
        self.length = Duration::ZERO;
    }
}

/// Lets one event through per period and counts the ones it holds back.
#[derive(Debug)]
struct RateLimited {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn new(period: Duration) -> Self {
        Self { period, last: None, suppressed: 0 }
    }

    /// `Some(events held back since the last one let through)` if this one may pass.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now < last + self.period) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

fn respond(request: &Request<Incoming>, metrics: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, OPENMETRICS, metrics.to_owned()),
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n".to_owned()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "ktrace serves /metrics\n".to_owned()),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response from valid parts")
}

/// The OpenMetrics text of `report`; without one (before the first interval), the metric
/// families with no samples.
pub fn exposition(report: Option<Arc<Report>>) -> anyhow::Result<String> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Counters(report)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .context("encoding the metrics")?;
    Ok(text)
}

/// A metric's labels besides `cgroup`: the report's own strings, or a number written out.
type Labels<'a> = Vec<(&'static str, Cow<'a, str>)>;
/// One item of a report (a syscall, a function): its labels and its figure per cgroup, then
/// for interrupt context the machine's, labelled `(interrupts)`.
type Item<'a> = (Labels<'a>, Vec<u64>);

/// One metric family: a counter per cgroup for each item of a report.
struct Family {
    name: &'static str,
    help: &'static str,
    /// The report's items, in the report's order.
    items: for<'a> fn(&'a Report) -> Vec<Item<'a>>,
}

const FAMILIES: [Family; 11] = [
    Family {
        name: "ktrace_syscalls",
        help: "Syscall entries by tasks of the cgroup or below it.",
        items: |report| syscalls(report, |count| count.calls),
    },
    Family {
        name: "ktrace_syscall_errors",
        help: "Syscalls of the cgroup that returned an error (-4095..-1).",
        items: |report| syscalls(report, |count| count.errors),
    },
    Family {
        name: "ktrace_syscalls_blocked",
        help: "Syscalls of the cgroup that returned without entering: rejected by seccomp, or \
               skipped or emulated by a ptrace tracer (gVisor).",
        items: |report| syscalls(report, |count| count.blocked),
    },
    Family {
        name: "ktrace_function_entries",
        help: "Exact entries of a counted kernel function by tasks of the cgroup.",
        items: |report| {
            let functions = report.kernel_functions.iter().flat_map(|f| &f.functions);
            functions.map(|f| (function_labels(&f.name, &f.module), f.counts.clone())).collect()
        },
    },
    Family {
        name: "ktrace_function_entries_in_interrupts",
        help: "Exact entries of a counted kernel function in interrupt context (softirq, \
               hardirq, NMI) while a task of the cgroup was current, and as cgroup \
               (interrupts) on the whole machine (--irq separate).",
        items: |report| {
            let functions = report.kernel_functions.iter().flat_map(|f| &f.functions);
            functions
                .map(|f| (function_labels(&f.name, &f.module), f.interrupts.columns().collect()))
                .collect()
        },
    },
    Family {
        name: "ktrace_kernel_samples",
        help: "Kernel samples (not calls) that found a task of the cgroup in this function.",
        items: |report| {
            let functions = report.kernel_samples.iter().flat_map(|s| &s.functions);
            functions.map(|f| (function_labels(&f.name, &f.module), f.samples.clone())).collect()
        },
    },
    Family {
        name: "ktrace_kernel_samples_in_interrupts",
        help: "Kernel samples (not calls) in this function in interrupt context (softirq, \
               hardirq) while a task of the cgroup was current, and as cgroup (interrupts) on \
               the whole machine (--irq separate).",
        items: |report| {
            let functions = report.kernel_samples.iter().flat_map(|s| &s.functions);
            functions
                .map(|f| (function_labels(&f.name, &f.module), f.interrupts.columns().collect()))
                .collect()
        },
    },
    Family {
        name: "ktrace_kernel_samples_lost",
        help: "Kernel samples of the cgroup's tasks that no ktrace_kernel_samples series holds: \
               ktrace's sample map was full.",
        items: |report| {
            let samples = report.kernel_samples.iter();
            samples.map(|s| (Vec::new(), s.totals.iter().map(|t| t.lost).collect())).collect()
        },
    },
    Family {
        name: "ktrace_kernel_samples_lost_in_interrupts",
        help: "Kernel samples in interrupt context that no ktrace_kernel_samples_in_interrupts \
               series holds (ktrace's sample map was full): while a task of the cgroup was \
               current, and as cgroup (interrupts) on the whole machine (--irq separate).",
        items: |report| {
            let samples = report.kernel_samples.iter();
            samples.map(|s| (Vec::new(), s.interrupts_lost().columns().collect())).collect()
        },
    },
    Family {
        name: "ktrace_line_hits",
        help: "Exact hits of a source line of a kernel function (--lines) by tasks of the cgroup, summed over its inlined copies.",
        items: |report| {
            let lines = report.kernel_lines.iter().flat_map(LineReport::counted);
            lines.map(|(f, l)| (line_labels(f, l.line), l.hits.counts.clone())).collect()
        },
    },
    Family {
        name: "ktrace_line_hits_in_interrupts",
        help: "Exact hits of a source line of a kernel function (--lines) in interrupt context \
               (softirq, hardirq, NMI) while a task of the cgroup was current, and as cgroup \
               (interrupts) on the whole machine (--irq separate).",
        items: |report| {
            let lines = report.kernel_lines.iter().flat_map(LineReport::counted);
            lines
                .map(|(f, l)| (line_labels(f, l.line), l.hits.interrupts.columns().collect()))
                .collect()
        },
    },
];

const LATENCY_NAME: &str = "ktrace_syscall_latency";
const LATENCY_HELP: &str = "Syscalls of the cgroup timed from entry to return (--latency); le \
                            bounds are powers of two ns, exact; _sum takes each call at its \
                            bucket's midpoint, within 1.6%.";
/// The powers of two, in ns, of the latency histogram's `le` bounds: 256 ns to 68.7 s.
const LATENCY_BOUND_POWERS: RangeInclusive<u32> = 8..=36;

/// Encodes one latency histogram per cgroup for every syscall row timed (`--latency`); a
/// cgroup without a timed call of the syscall gets an empty one, as counters get zeros.
/// Without `--latency` there is no such family.
fn encode_latency(encoder: &mut DescriptorEncoder, report: &Report) -> Result<(), std::fmt::Error> {
    if report.syscalls.iter().all(|row| row.latency.is_none()) {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        LATENCY_NAME,
        LATENCY_HELP,
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    let edges_ns: Vec<u64> = LATENCY_BOUND_POWERS.map(|power| 1 << power).collect();
    let bounds = edges_ns.iter().map(|&ns| ns as f64 / 1e9).chain([f64::INFINITY]);
    for row in &report.syscalls {
        let Some(latencies) = &row.latency else { continue };
        for (cgroup, latency) in report.cgroups.iter().zip(latencies) {
            let (calls, sum_ns) = match latency {
                Some(latency) => (latency.calls_between(&edges_ns), latency.midpoint_sum_ns()),
                None => (vec![0; edges_ns.len() + 1], 0),
            };
            let count = calls.iter().sum();
            let buckets: Vec<(f64, u64)> = bounds.clone().zip(calls).collect();
            let labels = [("cgroup", cgroup.label.as_str()), ("syscall", row.name.as_str())];
            metric.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                sum_ns as f64 / 1e9,
                count,
                &buckets,
                None,
            )?;
        }
    }
    Ok(())
}

/// The syscall rows of `report`, with one `figure` of their counts.
fn syscalls(report: &Report, figure: fn(&Count) -> u64) -> Vec<Item<'_>> {
    let item = |row: &SyscallRow| row.counts.iter().map(figure).collect();
    report
        .syscalls
        .iter()
        .map(|row| (vec![("syscall", row.name.as_str().into())], item(row)))
        .collect()
}

fn function_labels<'a>(name: &'a str, module: &'a str) -> Labels<'a> {
    vec![("function", name.into()), ("module", module.into())]
}

fn line_labels(function: &LineFunction, line: u32) -> Labels<'_> {
    vec![
        ("function", function.function.name.as_str().into()),
        ("file", function.function.file.as_str().into()),
        ("line", line.to_string().into()),
    ]
}

/// Encodes a report's counters in the report's order, so the exposition is stable.
#[derive(Debug)]
struct Counters(Option<Arc<Report>>);

impl Collector for Counters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &FAMILIES {
            let counter_type = ConstCounter::new(0u64).metric_type();
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, counter_type)?;
            let Some(report) = &self.0 else { continue };
            let columns = report.cgroups.iter().map(|c| c.label.as_str()).chain([ALL_INTERRUPTS]);
            for (labels, figures) in (family.items)(report) {
                for (cgroup, figure) in columns.clone().zip(figures) {
                    let labels: Labels<'_> = [("cgroup", cgroup.into())]
                        .into_iter()
                        .chain(labels.iter().cloned())
                        .collect();
                    ConstCounter::new(figure).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        match &self.0 {
            Some(report) => encode_latency(&mut encoder, report),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        latency::{Latency, RELATIVE_ERROR},
        report::tests::{counted, counted_apart, sampled, sampled_apart},
    };

    #[test]
    fn exposition_has_every_counter_per_cgroup() {
        let report = Report {
            kernel_samples: sampled().kernel_samples,
            kernel_lines: Some(crate::lines::report::tests::report()),
            ..counted()
        };
        assert_eq!(
            exposition(Some(Arc::new(report))).unwrap(),
            r#"# HELP ktrace_syscalls Syscall entries by tasks of the cgroup or below it.
# TYPE ktrace_syscalls counter
ktrace_syscalls_total{cgroup="lxc",syscall="getppid"} 100000
ktrace_syscalls_total{cgroup="gvisor",syscall="getppid"} 0
ktrace_syscalls_total{cgroup="lxc",syscall="read"} 5
ktrace_syscalls_total{cgroup="gvisor",syscall="read"} 2
ktrace_syscalls_total{cgroup="lxc",syscall="fchdir"} 0
ktrace_syscalls_total{cgroup="gvisor",syscall="fchdir"} 3
# HELP ktrace_syscall_errors Syscalls of the cgroup that returned an error (-4095..-1).
# TYPE ktrace_syscall_errors counter
ktrace_syscall_errors_total{cgroup="lxc",syscall="getppid"} 0
ktrace_syscall_errors_total{cgroup="gvisor",syscall="getppid"} 0
ktrace_syscall_errors_total{cgroup="lxc",syscall="read"} 2
ktrace_syscall_errors_total{cgroup="gvisor",syscall="read"} 0
ktrace_syscall_errors_total{cgroup="lxc",syscall="fchdir"} 0
ktrace_syscall_errors_total{cgroup="gvisor",syscall="fchdir"} 3
# HELP ktrace_syscalls_blocked Syscalls of the cgroup that returned without entering: rejected by seccomp, or skipped or emulated by a ptrace tracer (gVisor).
# TYPE ktrace_syscalls_blocked counter
ktrace_syscalls_blocked_total{cgroup="lxc",syscall="getppid"} 0
ktrace_syscalls_blocked_total{cgroup="gvisor",syscall="getppid"} 0
ktrace_syscalls_blocked_total{cgroup="lxc",syscall="read"} 0
ktrace_syscalls_blocked_total{cgroup="gvisor",syscall="read"} 0
ktrace_syscalls_blocked_total{cgroup="lxc",syscall="fchdir"} 0
ktrace_syscalls_blocked_total{cgroup="gvisor",syscall="fchdir"} 0
# HELP ktrace_function_entries Exact entries of a counted kernel function by tasks of the cgroup.
# TYPE ktrace_function_entries counter
ktrace_function_entries_total{cgroup="lxc",function="vfs_write",module="vmlinux"} 10
ktrace_function_entries_total{cgroup="gvisor",function="vfs_write",module="vmlinux"} 0
ktrace_function_entries_total{cgroup="lxc",function="veth_xmit",module="veth"} 0
ktrace_function_entries_total{cgroup="gvisor",function="veth_xmit",module="veth"} 7
# HELP ktrace_function_entries_in_interrupts Exact entries of a counted kernel function in interrupt context (softirq, hardirq, NMI) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_function_entries_in_interrupts counter
# HELP ktrace_kernel_samples Kernel samples (not calls) that found a task of the cgroup in this function.
# TYPE ktrace_kernel_samples counter
ktrace_kernel_samples_total{cgroup="lxc",function="vfs_write",module="vmlinux"} 30
ktrace_kernel_samples_total{cgroup="gvisor",function="vfs_write",module="vmlinux"} 5
ktrace_kernel_samples_total{cgroup="lxc",function="ksys_write",module="vmlinux"} 8
ktrace_kernel_samples_total{cgroup="gvisor",function="ksys_write",module="vmlinux"} 5
ktrace_kernel_samples_total{cgroup="lxc",function="veth_xmit",module="veth"} 2
ktrace_kernel_samples_total{cgroup="gvisor",function="veth_xmit",module="veth"} 0
# HELP ktrace_kernel_samples_in_interrupts Kernel samples (not calls) in this function in interrupt context (softirq, hardirq) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_kernel_samples_in_interrupts counter
# HELP ktrace_kernel_samples_lost Kernel samples of the cgroup's tasks that no ktrace_kernel_samples series holds: ktrace's sample map was full.
# TYPE ktrace_kernel_samples_lost counter
ktrace_kernel_samples_lost_total{cgroup="lxc"} 0
ktrace_kernel_samples_lost_total{cgroup="gvisor"} 0
# HELP ktrace_kernel_samples_lost_in_interrupts Kernel samples in interrupt context that no ktrace_kernel_samples_in_interrupts series holds (ktrace's sample map was full): while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_kernel_samples_lost_in_interrupts counter
# HELP ktrace_line_hits Exact hits of a source line of a kernel function (--lines) by tasks of the cgroup, summed over its inlined copies.
# TYPE ktrace_line_hits counter
ktrace_line_hits_total{cgroup="lxc",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4070"} 43
ktrace_line_hits_total{cgroup="gvisor",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4070"} 0
ktrace_line_hits_total{cgroup="lxc",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4077"} 40
ktrace_line_hits_total{cgroup="gvisor",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4077"} 0
ktrace_line_hits_total{cgroup="lxc",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4083"} 5
ktrace_line_hits_total{cgroup="gvisor",function="__is_skb_forwardable",file="include/linux/netdevice.h",line="4083"} 0
# HELP ktrace_line_hits_in_interrupts Exact hits of a source line of a kernel function (--lines) in interrupt context (softirq, hardirq, NMI) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_line_hits_in_interrupts counter
# EOF
"#
        );
    }

    /// Interrupt context per cgroup and, as cgroup `(interrupts)`, for the machine, read by a
    /// real Prometheus parser.
    #[test]
    fn interrupt_context_is_a_counter_per_cgroup_and_for_the_machine() {
        let report = Report {
            kernel_lines: Some(crate::lines::report::tests::report_apart()),
            ..counted_apart()
        };
        let text = exposition(Some(Arc::new(report))).unwrap();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("the real parser reads it");
        let ip_rcv: Vec<(&str, f64)> = scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "ktrace_function_entries_in_interrupts_total"
                    && s.labels.get("function") == Some("ip_rcv")
            })
            .map(|s| match s.value {
                // The parser reads a counter's `_total` sample as untyped.
                prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => {
                    (s.labels.get("cgroup").unwrap_or(""), n)
                }
                _ => ("not a number", 0.0),
            })
            .collect();
        assert_eq!(ip_rcv, [("lxc", 40.0), ("gvisor", 0.0), ("(interrupts)", 81.0)]);
        let sampled = exposition(Some(Arc::new(Report {
            kernel_samples: sampled_apart().kernel_samples,
            ..counted_apart()
        })))
        .unwrap();
        let sampled = prometheus_parse::Scrape::parse(sampled.lines().map(|l| Ok(l.to_owned())))
            .expect("the real parser reads it");
        let lost: Vec<(&str, &str, f64)> = sampled
            .samples
            .iter()
            .filter(|s| s.metric.starts_with("ktrace_kernel_samples_lost"))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => {
                    (s.metric.as_str(), s.labels.get("cgroup").unwrap_or(""), n)
                }
                _ => ("not a number", "", 0.0),
            })
            .collect();
        assert_eq!(
            lost,
            [
                ("ktrace_kernel_samples_lost_total", "lxc", 0.0),
                ("ktrace_kernel_samples_lost_total", "gvisor", 0.0),
                ("ktrace_kernel_samples_lost_in_interrupts_total", "lxc", 1.0),
                ("ktrace_kernel_samples_lost_in_interrupts_total", "gvisor", 0.0),
                ("ktrace_kernel_samples_lost_in_interrupts_total", "(interrupts)", 1.0),
            ]
        );
        let first_line: Vec<(&str, f64)> = scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "ktrace_line_hits_in_interrupts_total"
                    && s.labels.get("line") == Some("4070")
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => {
                    (s.labels.get("cgroup").unwrap_or(""), n)
                }
                _ => ("not a number", 0.0),
            })
            .collect();
        assert_eq!(first_line, [("lxc", 30.0), ("gvisor", 2.0), ("(interrupts)", 56.0)]);
        assert!(
            text.contains("ktrace_function_entries_total{cgroup=\"lxc\",function=\"ip_rcv\",module=\"vmlinux\"} 0\n"),
            "task context stays per cgroup:\n{text}"
        );
        assert!(!text.contains("ktrace_function_entries_total{cgroup=\"(interrupts)\""), "{text}");
    }

    /// Samples in interrupt context per cgroup and, as cgroup `(interrupts)`, for the machine,
    /// read by a real Prometheus parser.
    #[test]
    fn samples_in_interrupts_are_a_counter_per_cgroup_and_for_the_machine() {
        let text = exposition(Some(Arc::new(sampled_apart()))).unwrap();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("the real parser reads it");
        let net_rx = |metric: &str| -> Vec<(String, f64)> {
            let samples = scrape.samples.iter().filter(|s| {
                s.metric == metric && s.labels.get("function") == Some("net_rx_action")
            });
            samples
                .map(|s| match s.value {
                    // The parser reads a counter's `_total` sample as untyped.
                    prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => {
                        (s.labels.get("cgroup").unwrap_or("").to_owned(), n)
                    }
                    _ => ("not a number".to_owned(), 0.0),
                })
                .collect()
        };
        let expected = [("lxc", 6.0), ("gvisor", 0.0), ("(interrupts)", 9.0)];
        assert_eq!(
            net_rx("ktrace_kernel_samples_in_interrupts_total"),
            expected.map(|(c, n)| (c.to_owned(), n))
        );
        let task = [("lxc".to_owned(), 0.0), ("gvisor".to_owned(), 0.0)];
        assert_eq!(net_rx("ktrace_kernel_samples_total"), task);
    }

    #[test]
    fn latency_histogram_is_cumulative_at_powers_of_two() {
        let mut report = counted();
        // lxc: 900 getppid of 200 ns and 100 of 1 ms; gvisor timed none.
        let getppid = Latency::from_sparse(vec![[200, 900], [1_000_000, 100]]);
        report.syscalls[0].latency = Some(vec![getppid, None]);
        report.syscalls[1].latency = Some(vec![None, None]);
        let text = exposition(Some(Arc::new(report))).unwrap();
        assert!(text.contains("# UNIT ktrace_syscall_latency_seconds seconds\n"), "{text}");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("the real parser reads it");
        let sample = |name: &str, cgroup: &str, syscall: &str| {
            let found = scrape.samples.iter().find(|s| {
                s.metric == name
                    && s.labels.get("cgroup") == Some(cgroup)
                    && s.labels.get("syscall") == Some(syscall)
            });
            found
                .unwrap_or_else(|| panic!("no {name} of {cgroup} {syscall}:\n{text}"))
                .value
                .clone()
        };
        let prometheus_parse::Value::Histogram(buckets) =
            sample("ktrace_syscall_latency_seconds", "lxc", "getppid")
        else {
            panic!("not a histogram:\n{text}")
        };
        // Calls under 2^power ns.
        let at = |power: i32| {
            let le = 2f64.powi(power) / 1e9;
            let bucket = buckets.iter().find(|b| (b.less_than - le).abs() <= le * 1e-9);
            bucket.unwrap_or_else(|| panic!("no le {le}:\n{text}")).count
        };
        assert_eq!(buckets.len(), LATENCY_BOUND_POWERS.count() + 1);
        assert_eq!((at(8), at(19), at(20), at(36)), (900.0, 900.0, 1000.0, 1000.0));
        let last = buckets.last().map(|b| (b.less_than, b.count));
        assert_eq!(last, Some((f64::INFINITY, 1000.0)));
        let count = sample("ktrace_syscall_latency_seconds_count", "lxc", "getppid");
        assert_eq!(count, prometheus_parse::Value::Untyped(1000.0));
        let prometheus_parse::Value::Untyped(sum) =
            sample("ktrace_syscall_latency_seconds_sum", "lxc", "getppid")
        else {
            panic!("no sum:\n{text}")
        };
        assert!((sum - 0.10018).abs() < 0.10018 * RELATIVE_ERROR, "sum {sum}");
        let empty = sample("ktrace_syscall_latency_seconds_count", "gvisor", "read");
        assert_eq!(empty, prometheus_parse::Value::Untyped(0.0));
        // fchdir was not timed, so it has no histogram.
        assert!(!text.contains(r#"syscall="fchdir",le"#), "{text}");
    }

    #[test]
    fn failed_accepts_pause_longer_and_warn_once_per_period() {
        let mut pause = AcceptPause::default();
        let lengths: Vec<Duration> = (0..9)
            .map(|_| {
                pause.lengthen();
                pause.length
            })
            .collect();
        assert_eq!(lengths[0], FIRST_ACCEPT_PAUSE);
        assert_eq!(lengths[1], FIRST_ACCEPT_PAUSE * 2);
        assert_eq!(lengths[8], MAX_ACCEPT_PAUSE);
        pause.reset();
        pause.lengthen();
        assert_eq!(pause.length, FIRST_ACCEPT_PAUSE);

        let start = Instant::now();
        let mut warnings = RateLimited::new(Duration::from_secs(10));
        assert_eq!(warnings.allow(start), Some(0));
        assert_eq!(warnings.allow(start + Duration::from_secs(1)), None);
        assert_eq!(warnings.allow(start + Duration::from_secs(9)), None);
        assert_eq!(warnings.allow(start + Duration::from_secs(10)), Some(2));
        assert_eq!(warnings.allow(start + Duration::from_secs(11)), None);
    }

    #[test]
    fn before_the_first_interval_the_families_are_empty() {
        assert_eq!(
            exposition(None).unwrap(),
            "\
# HELP ktrace_syscalls Syscall entries by tasks of the cgroup or below it.
# TYPE ktrace_syscalls counter
# HELP ktrace_syscall_errors Syscalls of the cgroup that returned an error (-4095..-1).
# TYPE ktrace_syscall_errors counter
# HELP ktrace_syscalls_blocked Syscalls of the cgroup that returned without entering: rejected by seccomp, or skipped or emulated by a ptrace tracer (gVisor).
# TYPE ktrace_syscalls_blocked counter
# HELP ktrace_function_entries Exact entries of a counted kernel function by tasks of the cgroup.
# TYPE ktrace_function_entries counter
# HELP ktrace_function_entries_in_interrupts Exact entries of a counted kernel function in interrupt context (softirq, hardirq, NMI) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_function_entries_in_interrupts counter
# HELP ktrace_kernel_samples Kernel samples (not calls) that found a task of the cgroup in this function.
# TYPE ktrace_kernel_samples counter
# HELP ktrace_kernel_samples_in_interrupts Kernel samples (not calls) in this function in interrupt context (softirq, hardirq) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_kernel_samples_in_interrupts counter
# HELP ktrace_kernel_samples_lost Kernel samples of the cgroup's tasks that no ktrace_kernel_samples series holds: ktrace's sample map was full.
# TYPE ktrace_kernel_samples_lost counter
# HELP ktrace_kernel_samples_lost_in_interrupts Kernel samples in interrupt context that no ktrace_kernel_samples_in_interrupts series holds (ktrace's sample map was full): while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_kernel_samples_lost_in_interrupts counter
# HELP ktrace_line_hits Exact hits of a source line of a kernel function (--lines) by tasks of the cgroup, summed over its inlined copies.
# TYPE ktrace_line_hits counter
# HELP ktrace_line_hits_in_interrupts Exact hits of a source line of a kernel function (--lines) in interrupt context (softirq, hardirq, NMI) while a task of the cgroup was current, and as cgroup (interrupts) on the whole machine (--irq separate).
# TYPE ktrace_line_hits_in_interrupts counter
# EOF
"
        );
    }
}
