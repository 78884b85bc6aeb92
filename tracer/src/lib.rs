//! ktrace: count host kernel activity per cgroup (container, sandbox, VM), live, with eBPF.
//!
//! The `ktrace` binary (`main.rs`, with its command line in `cli.rs`) is a thin front that
//! turns arguments into this library's own inputs ([`plan::Request`], [`session::Options`],
//! [`export::Format`], ...); everything else lives here so that benchmarks can drive the same
//! code.
pub mod attach;
pub mod btf;
pub mod cgroup;
pub mod child;
pub mod collect;
pub mod compare;
pub mod coverage;
pub mod export;
pub mod figure;
pub mod functions;
pub mod kallsyms;
pub mod latency;
pub mod lines;
pub mod plan;
pub mod privileges;
pub mod ps;
pub mod record;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod session;
pub mod signals;
pub mod sources;
pub mod study;
pub mod symbolize;
pub mod target;
pub mod tui;
pub mod workload;
