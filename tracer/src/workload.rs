//! The built-in default workload of `ktrace run` without a command: short CPU, memory, file
//! I/O and network microbenchmarks (sysbench, iperf3), as in the seed study.
use std::ffi::OsString;

const SCRIPT: &str = include_str!("workload/default.sh");

/// How reports name the built-in workload.
pub const LABEL: &str = "(built-in default workload)";

/// The argv that runs the workload.
pub fn default_command() -> Vec<OsString> {
    ["sh", "-c", SCRIPT, "ktrace-default-workload"].into_iter().map(OsString::from).collect()
}
