//! Benchmark of the live view (`ktrace top`): one refresh, i.e. an update with an interval
//! report and a total report of 40,000 sampled kernel functions x 4 cgroups applied to the
//! `App`, then the frame rendered into ratatui's `TestBackend` at 160x50.

use std::{
    collections::BTreeMap,
    hint::black_box,
    time::{Duration, SystemTime},
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ratatui::{Terminal, backend::TestBackend};
use tracer_common::{SyscallCount, SyscallTable};

use tracer::{
    attach::IrqMode,
    collect::{SampleCounts, SyscallCounts},
    report::{CgroupInfo, Period, Report, SampleClock, SampleReport, Scope, TraceInfo},
    session::Update,
    symbolize::KernelFunction,
    tui::{
        app::{App, Control},
        event::Action,
        render::render,
    },
};

const FUNCTIONS: usize = 40_000;
const CGROUPS: usize = 4;
const MODULES: usize = 60;

/// A report of `FUNCTIONS` sampled functions spread over `MODULES` modules and 300 syscalls,
/// for `CGROUPS` cgroups; `scale` multiplies every count (interval vs total).
fn report(scope: Scope, duration: Duration, scale: u64) -> Report {
    let info = TraceInfo {
        kernel_release: "bench".to_owned(),
        cgroups: (0..CGROUPS)
            .map(|i| CgroupInfo {
                label: format!("container-{i}"),
                path: format!("/sys/fs/cgroup/container-{i}"),
                id: i as u64 + 1,
                workload: None,
                vanished_at: None,
            })
            .collect(),
        command: None,
    };
    let syscalls: Vec<SyscallCounts> = (0..CGROUPS)
        .map(|c| {
            let mut table = SyscallTable::default();
            for nr in 0..300 {
                let calls = scale * ((nr * 7 + c * 13) % 1000 + 1) as u64;
                table.counts[nr] = SyscallCount { calls, errors: calls / 10, blocked: 0 };
            }
            SyscallCounts::sum_per_cpu(&[table])
        })
        .collect();
    let per_cgroup: Vec<(SampleCounts, BTreeMap<KernelFunction, u64>)> = (0..CGROUPS)
        .map(|c| {
            let by_function: BTreeMap<KernelFunction, u64> = (0..FUNCTIONS)
                .map(|f| {
                    let function = KernelFunction {
                        name: format!("kernel_function_{f}"),
                        module: if f % 10 == 0 {
                            format!("module_{}", f % MODULES)
                        } else {
                            "vmlinux".to_owned()
                        },
                    };
                    (function, scale * ((f * 31 + c * 17) % 5000 + 1) as u64)
                })
                .collect();
            let kernel = by_function.values().sum();
            (
                SampleCounts { kernel, user: kernel / 4, lost: 0, by_location: BTreeMap::new() },
                by_function,
            )
        })
        .collect();
    let rows = (&per_cgroup[..], IrqMode::Task);
    let samples = SampleReport::new(999, SampleClock::cpu_clock(false), rows, None);
    let period = Period { scope, start: SystemTime::UNIX_EPOCH, duration };
    Report::new(&info, period, &syscalls, Some(samples), None, None)
}

fn refresh(c: &mut Criterion) {
    let interval = report(Scope::Interval, Duration::from_secs(1), 1);
    let total = report(Scope::Total, Duration::from_secs(60), 60);
    let labels = total.cgroups.iter().map(|c| c.label.clone()).collect();
    let mut app = App::new(labels, Some(999));
    // The busiest view: the functions (Tab once from the syscalls).
    assert_eq!(app.handle(Action::NextView), Control::Continue);
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).expect("a test terminal");
    c.bench_function("top_refresh_40k_functions_4_cgroups", |b| {
        b.iter_batched(
            || Update { interval: interval.clone(), total: total.clone() },
            |update| {
                app.update(black_box(update));
                terminal.draw(|frame| render(frame, &app)).expect("drawing into memory");
            },
            BatchSize::LargeInput,
        )
    });
    // What was measured really showed the functions.
    let screen = format!("{:?}", terminal.backend().buffer());
    assert!(screen.contains("kernel_function_"), "functions were drawn");
}

criterion_group!(benches, refresh);
criterion_main!(benches);
