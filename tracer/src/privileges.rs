//! Checks up front that ktrace may load and attach eBPF programs, so that a user without them
//! gets one clear line instead of a verifier or EPERM error deep in the loader.
use std::fs;

use anyhow::{Context as _, bail};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Loading and attaching tracing programs needs CAP_BPF and CAP_PERFMON (Linux 5.8+), or
/// CAP_SYS_ADMIN.
pub fn check() -> anyhow::Result<()> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let effective = effective_caps(&status).context("no CapEff line in /proc/self/status")?;
    if !can_trace(effective) {
        bail!(
            "ktrace needs root: loading eBPF tracing programs requires CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); run it with sudo"
        );
    }
    Ok(())
}

fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

fn can_trace(caps: u64) -> bool {
    let has = |cap: u32| caps & (1 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_effective_capabilities() {
        let status = "Name:\tktrace\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_caps(status), Some(0x1ff_ffff_ffff));
        assert!(can_trace(0x1ff_ffff_ffff));
        assert!(can_trace(1 << CAP_SYS_ADMIN));
        assert!(can_trace((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!can_trace(1 << CAP_BPF));
        assert!(!can_trace(0));
    }
}
