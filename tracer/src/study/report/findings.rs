//! The report's prose, computed from its figures: findings (how the platforms compare, what
//! only one of them enters) and the limits of this study (what ktrace cannot see, given how
//! it traced and what ran).
use std::collections::BTreeMap;

use super::{BenchmarkSection, Footprint, GroupRow, Loaded, thousands};
use crate::study::benchmark::Benchmark;
use crate::study::manifest::{Manifest, Tracing};

/// Findings computed from the figures: what a reader would look for first.
pub(super) fn findings(
    manifest: &Manifest,
    benchmarks: &[BenchmarkSection],
    footprint: &[Footprint],
    loaded: &[Loaded],
) -> Vec<String> {
    let mut findings = Vec::new();
    // Performance relative to the first platform (bare, when it ran).
    if let Some(base) = manifest.platforms.first() {
        for &benchmark in &manifest.benchmarks {
            let score = |platform: &str| {
                manifest
                    .runs
                    .iter()
                    .find(|r| r.platform == platform && r.benchmark == benchmark)
                    .and_then(|r| r.score)
            };
            let Some(base_score) = score(&base.name).filter(|s| *s > 0.0) else { continue };
            let ratios: Vec<String> = manifest.platforms[1..]
                .iter()
                .filter_map(|p| Some(format!("{} {:.2}x", p.name, score(&p.name)? / base_score)))
                .collect();
            if !ratios.is_empty() {
                findings.push(format!(
                    "{benchmark} performance against {}: {}.",
                    base.name,
                    ratios.join(", ")
                ));
            }
        }
    }
    // Which platform's runs reach furthest into the host kernel.
    let what = if manifest.tracing.counted() { "enters" } else { "is sampled in" };
    for (b, &benchmark) in manifest.benchmarks.iter().enumerate() {
        let mut sizes: Vec<(&str, usize)> = footprint
            .iter()
            .filter_map(|f| Some((f.platform.as_str(), f.per_benchmark[b]?)))
            .collect();
        sizes.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        if let [(most, n), rest @ ..] = sizes.as_slice()
            && *n > 0
            && !rest.is_empty()
        {
            let others: Vec<String> =
                rest.iter().map(|(p, m)| format!("{p} {}", thousands(*m as u64))).collect();
            findings.push(format!(
                "{benchmark}: {most} {what} the most distinct host kernel functions ({}; {}).",
                thousands(*n as u64),
                others.join(", ")
            ));
        }
    }
    // Source directories and modules that one platform alone enters.
    for section in benchmarks {
        let alone = |rows: &[GroupRow]| -> BTreeMap<String, Vec<String>> {
            let mut by_platform: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for row in rows {
                let entered: Vec<usize> = match &row.coverage {
                    Some(cov) => (0..cov.len()).filter(|&i| cov[i].0 > 0).collect(),
                    None => (0..row.values.len()).filter(|&i| row.values[i] > 0).collect(),
                };
                if let [only] = entered.as_slice()
                    && section.platforms.len() > 1
                {
                    by_platform
                        .entry(section.platforms[*only].clone())
                        .or_default()
                        .push(row.name.clone());
                }
            }
            by_platform
        };
        let mut sets = vec![("module", alone(&section.modules))];
        if let Some(directories) = &section.directories {
            sets.push(("source directory", alone(directories)));
        }
        for (kind, by_platform) in sets {
            for (platform, names) in by_platform {
                let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
                let more = names.len().saturating_sub(shown.len());
                findings.push(format!(
                    "{}: only {platform} {what} {} {kind}{}: {}{}.",
                    section.benchmark,
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ));
            }
        }
    }
    // The seed study's line table in one sentence: how often each platform ran the first
    // counted line of each function (its first statement, e.g. the IFF_UP test).
    for section in benchmarks {
        let rows = section.lines.as_deref().unwrap_or_default();
        let mut seen: Vec<&str> = Vec::new();
        for row in rows {
            if seen.contains(&row.function.as_str()) {
                continue;
            }
            seen.push(&row.function);
            if row.values.iter().all(|&v| v == 0) {
                continue;
            }
            let per_platform: Vec<String> = section
                .platforms
                .iter()
                .zip(&row.values)
                .map(|(p, v)| format!("{p} {}", thousands(*v)))
                .collect();
            findings.push(format!(
                "{}: the first counted line of {} ({}) ran: {}.",
                section.benchmark,
                row.function,
                row.location,
                per_platform.join(", ")
            ));
        }
    }
    // Each platform's busiest syscall over all benchmarks.
    for platform in &manifest.platforms {
        let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
        let mut blocked = 0u64;
        for (_, _, record) in
            loaded.iter().flat_map(|l| &l.records).filter(|r| r.0 == platform.name)
        {
            for s in &record.report.syscalls {
                *calls.entry(&s.name).or_default() += s.counts[0].calls;
                blocked += s.counts[0].blocked;
            }
        }
        let total: u64 = calls.values().sum();
        if let Some((name, n)) = calls.iter().max_by_key(|(_, n)| **n)
            && total > 0
        {
            let blocked = match blocked {
                0 => String::new(),
                n => {
                    format!("; {} more were blocked before the host kernel ran them", thousands(n))
                }
            };
            findings.push(format!(
                "{}: {} distinct syscalls over all benchmarks; the busiest, {name}, makes {:.0}% \
                 of its {} calls{blocked}.",
                platform.name,
                calls.values().filter(|&&n| n > 0).count(),
                100.0 * *n as f64 / total as f64,
                thousands(total)
            ));
        }
    }
    findings
}

/// What this study's figures cannot show, from how it traced and what ran.
/// What ktrace cannot see in this study; `dwarf` says whether the kernel's DWARF was found,
/// `interrupts_apart` whether the runs kept interrupt context apart (`--irq separate`).
pub(super) fn limits(manifest: &Manifest, dwarf: bool, interrupts_apart: bool) -> Vec<String> {
    let t: &Tracing = &manifest.tracing;
    let mut limits = Vec::new();
    if t.counted() {
        limits.push(format!(
            "Function entries, not lines: ktrace counts how often each of the {} traceable \
             functions was entered ({}). Code the compiler inlined into its caller is \
             invisible to entry counts (Debian's 6.12 build inlines the seed's \
             is_skb_forwardable into __dev_forward_skb2){}, and gcov's branch coverage has no \
             counterpart.",
            thousands(t.function_targets as u64),
            t.functions.as_deref().unwrap_or("-"),
            match (t.lines.as_slice(), &t.why_no_lines) {
                ([], None) => String::new(),
                ([], Some(why)) => format!("; its lines were not counted either ({why})"),
                (lines, _) => format!(
                    "; only the lines of {} were counted line by line, in every copy",
                    lines.join(", ")
                ),
            }
        ));
        limits.push(
            "Coverage is functions hit / functions attached: notrace code, the kprobe \
             blacklist and ktrace's own deny list (BPF, RCU, tracing) are outside the \
             denominator. Module functions are left out of the lcov tracefiles (their DWARF \
             is in each module's own debug file)."
                .to_owned(),
        );
        if !dwarf {
            limits.push(format!(
                "No DWARF for kernel {0} was found, so functions are not grouped by source \
                 directory and there are no lcov tracefiles: make the report again with \
                 `ktrace study --report-only DIR --vmlinux PATH` (Debian: package \
                 linux-image-{0}-dbg).",
                manifest.kernel_release
            ));
        }
    } else if t.functions.is_some() {
        limits.push(format!(
            "Kernel functions are sampled, not counted: {}. A function appears only when a {} \
             Hz timer interrupt finds a task of the run in it, so short or rare code paths are \
             missed and the figures are samples, not entries; there is no coverage (functions \
             hit / attached) and there are no lcov tracefiles. Where the timer is a VM's \
             software clock, samples of code that runs with interrupts disabled land where \
             they are enabled again.",
            t.why_sampled.as_deref().unwrap_or("this kernel cannot trace functions"),
            t.sample_hz.unwrap_or_default()
        ));
    } else {
        limits.push("Only syscalls were traced: no kernel functions.".to_owned());
    }
    if let (false, Some(why)) = (t.counted(), &t.why_no_lines) {
        limits.push(format!(
            "No source lines were counted, so there is no line table of the seed's \
             is_skb_forwardable: {why}."
        ));
    }
    for platform in &manifest.platforms {
        let d = &platform.description;
        match platform.name.as_str() {
            "qemu" if d.contains("TCG") => limits.push(
                "qemu ran under TCG, software emulation: the guest's instructions are QEMU's \
                 own user-space work, so the host kernel sees QEMU's I/O, timer and futex \
                 syscalls but never arch/x86/kvm. With KVM, the guest's exits would run in the \
                 host's kvm module, and the VM would run several times faster."
                    .to_owned(),
            ),
            "runsc" => {
                if d.contains("ptrace platform") {
                    limits.push(
                        "runsc ran on gVisor's ptrace platform: the sentry stops the \
                         application at each of its syscalls (PTRACE_SYSEMU), so the host sees \
                         ptrace and wait4 instead of the application's calls, which are \
                         counted as blocked, per syscall: the host kernel never runs them. The \
                         systrap and KVM platforms take other paths into the host kernel."
                            .to_owned(),
                    );
                }
                if manifest.benchmarks.contains(&Benchmark::Network) {
                    limits.push(
                        "In runsc's network benchmark gVisor's own TCP/IP stack (netstack) \
                         does the TCP work inside the sandbox: the host kernel sees raw \
                         packets on the veth, not TCP."
                            .to_owned(),
                    );
                }
            }
            _ => {}
        }
    }
    limits.push(if interrupts_apart {
        let (kept, own) = if t.counted() { ("counted", "entries") } else { ("sampled", "samples") };
        format!(
            "Work in interrupt context (softirq network receive, transmit completion, timers) is \
             {kept} apart from each run's own {own}, but whom it served is not known: a packet \
             received while a run was current may be another container's."
        )
    } else {
        "Work in interrupt context (softirq network receive, transmit completion, timers) is \
         charged to whichever task the CPU was running, in the run's cgroup or not."
            .to_owned()
    });
    limits.push(
        "Each run covers the platform's start and stop as well as the benchmark: creating the \
         container, booting the sandbox or VM. The network benchmark's iperf3 server runs \
         outside the traced cgroups."
            .to_owned(),
    );
    limits
}
