//! `ktrace top` and `ktrace run --live`: a live, top-style view of the syscalls, sampled kernel
//! functions and modules of each traced cgroup, one column group per cgroup.
//!
//! The collector (the session loop) sends one [`Update`] per interval through a channel: that
//! interval's report and the cumulative total, both ordinary [`Report`](crate::report::Report)s.
//! This module owns no counting: [`app`] turns reports into display rows (rate, total, share)
//! and holds the view state, [`render`] draws it, [`event`] maps keys to actions, and
//! [`terminal`] restores the terminal however the view ends. Built on ratatui and crossterm.
// Public for the benchmark (benches/tui.rs).
pub mod app;
pub mod event;
mod figures;
mod latency;
pub mod render;
mod terminal;

use std::{future::poll_fn, io, pin::Pin};

use anyhow::Context as _;
use crossterm::event::{Event, EventStream};
use futures_core::Stream as _;
use tokio::sync::mpsc;

use crate::session::Update;

use self::{
    app::{App, Control},
    event::action,
    render::{CHROME_ROWS, render},
    terminal::TerminalGuard,
};

/// Updates waiting for the view; the collector drops one rather than block when full.
const UPDATE_QUEUE: usize = 4;

/// The live view, until it runs.
pub struct LiveView {
    updates: mpsc::Receiver<Update>,
    app: App,
}

impl LiveView {
    /// A view of the cgroups labelled `cgroups` (in column order), and the sender that feeds
    /// it. `sampling_hz` is the `--sample` frequency, if sampling; `latency` adds the latency
    /// tab (`--latency`).
    pub fn new(
        cgroups: Vec<String>,
        sampling_hz: Option<u64>,
        latency: bool,
    ) -> (mpsc::Sender<Update>, Self) {
        let (sender, updates) = mpsc::channel(UPDATE_QUEUE);
        let app = App::new(cgroups, sampling_hz);
        let app = if latency { app.with_latency_tab() } else { app };
        (sender, Self { updates, app })
    }

    /// Takes over the terminal and shows the updates until the user quits (`Ok`), the
    /// collector goes away (`Ok`) or the terminal fails (`Err`). The terminal is restored on
    /// return, and also if this future is dropped early or a panic happens.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self { mut updates, mut app } = self;
        let mut guard = TerminalGuard::enter()?;
        let mut input = EventStream::new();
        loop {
            let size = guard.terminal.size().context("reading the terminal size")?;
            app.set_viewport_rows(usize::from(size.height.saturating_sub(CHROME_ROWS)));
            guard.terminal.draw(|frame| render(frame, &app)).context("drawing the live view")?;
            tokio::select! {
                update = updates.recv() => {
                    let Some(mut update) = update else { return Ok(()) };
                    // When the view fell behind only the newest update matters: its totals
                    // are cumulative.
                    while let Ok(newer) = updates.try_recv() {
                        update = newer;
                    }
                    app.update(update);
                }
                input = next_input(&mut input) => match input {
                    Some(Ok(Event::Key(key))) => {
                        let quit = action(app.mode, key).map(|a| app.handle(a));
                        if quit == Some(Control::Quit) {
                            return Ok(());
                        }
                    }
                    // A resize or anything else: the next round redraws.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e).context("reading keys from the terminal"),
                    None => return Ok(()),
                },
            }
        }
    }
}

/// The next terminal event; `None` once input has ended.
async fn next_input(events: &mut EventStream) -> Option<io::Result<Event>> {
    poll_fn(|cx| Pin::new(&mut *events).poll_next(cx)).await
}
