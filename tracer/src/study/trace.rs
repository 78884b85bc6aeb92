//! Where the study meets the tracer, in one function: trace one cgroup while a future runs,
//! and keep the total report for a record. The plan (syscalls always; kernel functions counted
//! or sampled) is made once for the whole study; each run attaches and detaches it, so that
//! each record covers exactly its run.
use std::future::Future;

use crate::{
    attach::Diagnostics,
    cgroup::Cgroup,
    export::Format,
    plan::Plan,
    report::Report,
    session::{Options, Session, Sink},
};

/// Traces `cgroup` with `plan` while `work` runs; `work`'s output and the total report, which
/// names the run `command`. Nothing is printed.
pub async fn trace_while<T>(
    cgroup: &Cgroup,
    plan: &Plan,
    command: Vec<String>,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Report)> {
    // Printed nowhere (Sink::Silent): only the record's fields matter.
    let options = Options {
        interval: None,
        format: Format::Json,
        top: None,
        stacks: None,
        force: false,
        outlive_stdout: false,
        diagnostics: Diagnostics::Off,
    };
    let session =
        Session::attach(std::slice::from_ref(cgroup), Some(command), options, plan.clone())?;
    session.trace_until(Sink::Silent, work).await
}
