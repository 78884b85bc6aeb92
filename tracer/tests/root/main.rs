//! Root integration tests against the live kernel: exact syscall counts from workloads these
//! tests control, run through the real `ktrace` binary.
//!
//! A custom harness (libtest-mimic) so that this binary is also its own workload:
//! `root workload getppid=N fchdir=M` makes exactly N getppid calls and M failing fchdir
//! calls. The same binary runs inside the QEMU guests (`KTRACE_BIN` names ktrace there).
mod functions;
mod latency;
mod lines;
mod records;
mod runtimes;
mod sampling;
mod study;
mod support;
mod syscall_accounting;
mod syscalls;
mod tui;

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("workload") {
        return support::workload::run(&argv[2..]);
    }
    let args = Arguments::from_args();
    let needs_root = support::euid() != 0;
    if needs_root {
        eprintln!(
            "root integration tests need root (they load eBPF programs and create cgroups): ignored"
        );
    }
    let shared = syscalls::all()
        .into_iter()
        .chain(sampling::all())
        .chain(tui::all())
        .chain(records::all())
        .chain(runtimes::all())
        .chain(study::all())
        .chain(syscall_accounting::all())
        .chain(latency::all());
    let trials = shared
        .map(|test| (test, false))
        .chain(
            functions::all()
                .into_iter()
                .chain(study::counting())
                .chain(lines::all())
                .chain(tui::counting())
                .map(|test| (test, true)),
        )
        .map(|((name, f), one_at_a_time)| {
            Trial::test(name, move || {
                let _alone = one_at_a_time.then(functions::one_at_a_time);
                f().map_err(|e| format!("{e:#}").into())
            })
            .with_ignored_flag(needs_root)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
