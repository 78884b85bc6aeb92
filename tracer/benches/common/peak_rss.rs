//! The peak memory of a command, shared by the benches that report it.
use std::process::Command;

use anyhow::{Context as _, bail};

/// Runs `command` to its end; its peak resident set in MiB (`ru_maxrss` from wait4(2), the
/// kernel's high-water mark of that process, what /proc/PID/status calls VmHWM). Fails unless
/// it exits 0.
pub fn peak_rss_mib(command: &mut Command) -> anyhow::Result<f64> {
    let child = command.spawn().with_context(|| format!("starting {command:?}"))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers to a status and a rusage; the
    // Child handle is not waited on again.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    if pid < 0 {
        bail!("waiting for {command:?}: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{command:?} failed: wait status {status:#x}");
    }
    Ok(usage.ru_maxrss as f64 / 1024.0)
}
