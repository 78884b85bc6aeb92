//! The signals that stop a trace (`attach`) or that ktrace relays to its command (`run`).
use std::process::ExitStatus;

use anyhow::Context as _;
use tokio::{
    process::Child,
    signal::unix::{Signal, SignalKind, signal},
};

/// SIGINT, SIGTERM and SIGHUP, caught for the whole run. Registered before anything is attached, so a
/// signal that arrives early is handled instead of killing ktrace half-way.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
            hangup: signal(SignalKind::hangup()).context("installing a SIGHUP handler")?,
        })
    }

    /// Waits for the child to exit, passing SIGTERM, SIGHUP and SIGINT on to it. A Ctrl-C typed
    /// at the terminal already reached the child (same foreground process group), so SIGINT is
    /// relayed only when ktrace is not in the terminal's foreground.
    pub async fn relay_until_exit(&mut self, child: &mut Child) -> anyhow::Result<ExitStatus> {
        loop {
            let relayed = tokio::select! {
                status = child.wait() => return status.context("waiting for the command"),
                _ = self.interrupt.recv() => (!in_terminal_foreground()).then_some(libc::SIGINT),
                _ = self.terminate.recv() => Some(libc::SIGTERM),
                _ = self.hangup.recv() => Some(libc::SIGHUP),
            };
            if let (Some(sig), Some(pid)) = (relayed, child.id()) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid as i32, sig) };
            }
        }
    }

    /// Waits for SIGINT or SIGTERM (SIGHUP too) and names it.
    pub async fn stop_signal(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}

/// The number of a signal [`Signals::stop_signal`] names, for the exit status 128 + number.
pub fn number(name: &str) -> u8 {
    match name {
        "SIGINT" => libc::SIGINT as u8,
        "SIGTERM" => libc::SIGTERM as u8,
        _ => libc::SIGHUP as u8,
    }
}

fn in_terminal_foreground() -> bool {
    // SAFETY: plain syscalls on fd 0 without pointers.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}
