//! The terminal guard: raw mode and the alternate screen while the live view runs, and the
//! terminal given back on every way out. Dropping the guard restores it (quit, an error, a
//! signal that ends the trace and so drops the view); a panic hook restores it before the
//! panic message is printed, so that the message is readable and the shell usable.
use std::{
    io::{self, Stdout},
    panic::{self, PanicHookInfo},
    sync::Arc,
    thread,
};

use anyhow::Context as _;
use crossterm::{
    cursor::{Hide, Show},
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::{Terminal, backend::CrosstermBackend};

type PanicHook = Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    /// The hook that was in place before ours, put back on drop.
    previous_hook: PanicHook,
}

impl TerminalGuard {
    pub fn enter() -> anyhow::Result<Self> {
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))
            .context("opening the terminal for the live view")?;
        let previous_hook: PanicHook = Arc::from(panic::take_hook());
        let chained = Arc::clone(&previous_hook);
        panic::set_hook(Box::new(move |info| {
            restore();
            chained(info);
        }));
        // From here on the guard exists, so a failure below restores what was changed.
        let guard = Self { terminal, previous_hook };
        enable_raw_mode().context("switching the terminal to raw mode")?;
        execute!(io::stdout(), EnterAlternateScreen, Hide)
            .context("switching to the alternate screen")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        // Replacing the hook is not allowed while panicking; the process is ending then anyway.
        if !thread::panicking() {
            drop(panic::take_hook());
            let previous = Arc::clone(&self.previous_hook);
            panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor; harmless when repeated.
fn restore() {
    // Nothing useful can be done about a failure here: this runs on the way out.
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}
