//! Drawing the live view: pure functions from an [`App`] to a ratatui frame, so that tests
//! render into a `TestBackend` and compare cells.
//!
//! ```text
//! ktrace top   Syscalls | Functions | Modules | Lines                         (title, tabs)
//! sort: rate, all cgroups   filter: get   3 of 40 rows                        (status)
//!                             lxc                             gvisor          (cgroup labels)
//! SYSCALL                  CALLS/s        CALLS  SHARE    CALLS/s ...         (column names)
//! getppid                  50000.0       100000 100.0%        0.0 ...         (rows)
//! syscalls: raw tracepoints | functions: sampled at 999 Hz | elapsed 00:00:02 (backend, time)
//! overhead: lost samples 0 | attached functions n/a | ...      ? help  q quit (ktrace's cost)
//! ```
use std::time::Duration;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Wrap},
};

use super::{
    app::{App, IRQ_MARK, View},
    event::Mode,
    figures::{Column, SortColumn},
    latency::{self, Window},
};

/// Narrowest name column.
const NAME_MIN: usize = 20;
/// Widest name column: wide terminals put the figures next to the names, not at the far edge.
const NAME_MAX: usize = 48;
/// "  RATE(11) TOTAL(12) SHARE(6)"
const GROUP_WIDTH: usize = 2 + 11 + 1 + 12 + 1 + 6;
/// Lines around the rows: title, status, two header lines, two footer lines.
pub const CHROME_ROWS: u16 = 6;
/// Shortest terminal that shows at least three rows.
pub const MIN_HEIGHT: u16 = CHROME_ROWS + 3;

/// Narrowest terminal that fits a name column and one column group per cgroup.
pub fn min_width(cgroups: usize) -> u16 {
    u16::try_from(NAME_MIN + cgroups * GROUP_WIDTH).unwrap_or(u16::MAX)
}

pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let columns = app.column_labels().count();
    let mut width = min_width(columns);
    if app.view == View::Latency {
        width = width.max(latency::MIN_WIDTH as u16);
    }
    let height = MIN_HEIGHT;
    if area.width < width || area.height < height {
        let message = format!(
            "terminal too small: ktrace top needs at least {width}x{height}, this one is {}x{}; \
             enlarge it or press q to quit",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(message).wrap(Wrap { trim: true }), area);
        return;
    }
    let [title, status, header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(2),
    ])
    .areas(area);
    frame.render_widget(title_line(app), title);
    frame.render_widget(status_line(app), status);
    let name_width = (usize::from(area.width) - columns * GROUP_WIDTH).min(NAME_MAX);
    match (body_message(app), app.latency_tab()) {
        (Some(message), _) => frame.render_widget(Line::from(message), body),
        (None, Some(tab)) => {
            let (width, rows) = (usize::from(area.width), usize::from(body.height));
            let lines = latency::row_lines(tab, &app.rows, app.scroll, rows, width, &app.cgroups);
            frame.render_widget(Paragraph::new(latency::header_lines(width, &app.cgroups)), header);
            frame.render_widget(Paragraph::new(lines), body);
        }
        (None, None) => {
            frame.render_widget(Paragraph::new(header_lines(app, name_width)), header);
            frame.render_widget(Paragraph::new(row_lines(app, name_width, body.height)), body);
        }
    }
    frame.render_widget(Paragraph::new(footer_lines(app)), footer);
    if app.mode == Mode::Help {
        help(frame, area);
    }
}

fn title_line(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled("ktrace top", Style::new().add_modifier(Modifier::BOLD))];
    spans.push(Span::raw("   "));
    for (i, view) in app.views().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" | "));
        }
        let style = if view == app.view {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(view.title(), style));
    }
    if app.paused {
        spans.push(Span::styled("   PAUSED", Style::new().add_modifier(Modifier::BOLD)));
    }
    Line::from(spans)
}

fn status_line(app: &App) -> Line<'static> {
    let by = |column: Column| match column {
        Column::All => "all cgroups".to_owned(),
        Column::Cgroup(i) => app.cgroups[i].clone(),
    };
    let sort = match (app.latency_tab(), app.sort) {
        (Some(tab), _) => {
            let window = match tab.window {
                Window::Interval => "last interval",
                Window::Total if app.reset_at.is_some() => "since the reset",
                Window::Total => "all",
            };
            format!("{}   rows of: {}   calls: {window}", tab.sort.title(), by(tab.cgroup))
        }
        (None, SortColumn::Rate(column)) => format!("rate, {}", by(column)),
        (None, SortColumn::Total(column)) => format!("total, {}", by(column)),
        (None, SortColumn::Name) => "name".to_owned(),
    };
    let filter = match app.mode {
        Mode::Filter => format!("   filter: {}_", app.filter),
        _ if !app.filter.is_empty() => format!("   filter: {}", app.filter),
        _ => String::new(),
    };
    Line::from(format!("sort: {sort}{filter}   {} rows", app.rows.len()))
}

/// Instead of rows: why there are none to show.
fn body_message(app: &App) -> Option<String> {
    let profile = app.sampling_hz.is_some() || app.counting.is_some();
    if app.view == View::Lines && !app.counting_lines {
        Some("no line data: start with --lines FUNCTION".to_owned())
    } else if matches!(app.view, View::Functions | View::Modules) && !profile {
        Some("no kernel function data: start with --sample, --functions or --module".to_owned())
    } else if app.updates == 0 {
        Some("waiting for the first interval...".to_owned())
    } else {
        None
    }
}

fn header_lines(app: &App, name_width: usize) -> Vec<Line<'static>> {
    let (rate, total) = match app.counting {
        Some(_) => ("CALLS/s", "CALLS"),
        None => ("SAMPLES/s", "SAMPLES"),
    };
    let (name, rate, total) = match app.view {
        // The latency tab draws its own header.
        View::Syscalls | View::Latency => ("SYSCALL", "CALLS/s", "CALLS"),
        View::Functions => ("FUNCTION [MODULE]", rate, total),
        View::Modules => ("MODULE", rate, total),
        View::Lines => ("FUNCTION:LINE SOURCE", "HITS/s", "HITS"),
    };
    let mut labels = " ".repeat(name_width);
    let mut columns = format!("{name:<name_width$}");
    for label in app.column_labels() {
        labels += &format!("  {:<w$}", fit_end(label, GROUP_WIDTH - 2), w = GROUP_WIDTH - 2);
        columns += &format!("  {rate:>11} {total:>12} {:>6}", "SHARE");
    }
    let bold = Style::new().add_modifier(Modifier::BOLD);
    vec![Line::styled(labels, bold), Line::styled(columns, bold)]
}

fn row_lines(app: &App, name_width: usize, height: u16) -> Vec<Line<'static>> {
    let figures = app.figures();
    app.rows
        .iter()
        .skip(app.scroll)
        .take(usize::from(height))
        .map(|&item| {
            let mut line =
                format!("{:<name_width$}", fit_label(figures.label(item), name_width - 1));
            for cell in figures.cells(item, app.interval) {
                line += &format!(
                    "  {:>11.1} {:>12} {:>5.1}%",
                    cell.rate,
                    cell.total,
                    cell.share * 100.0
                );
            }
            Line::from(line)
        })
        .collect()
}

fn footer_lines(app: &App) -> Vec<Line<'static>> {
    let mut backend = "syscalls: raw tracepoints".to_owned();
    if let Some(counting) = app.counting {
        backend += &format!(" | functions: counted with {counting}");
        if app.interrupts {
            backend += ", [irq] in interrupts";
        }
    } else if let Some(hz) = app.sampling_hz {
        backend += &format!(" | functions: sampled at {hz} Hz");
    }
    backend += &format!(" | elapsed {}", clock(app.elapsed));
    if let Some(at) = app.reset_at {
        backend += &format!(" | totals since {}", clock(at));
    }
    let o = &app.overhead;
    let count = |n: Option<u64>| n.map_or_else(|| "n/a".to_owned(), |n| n.to_string());
    let overhead = format!(
        "overhead: lost samples {} | attached functions {} | failed updates {} | \
         recursion misses {} | BPF run time {}   ? help  q quit",
        count(o.lost_samples),
        count(o.attached_functions),
        count(o.failed_updates),
        count(o.recursion_misses),
        o.bpf_run_time.map_or_else(|| "n/a".to_owned(), |t| format!("{:.3} s", t.as_secs_f64())),
    );
    vec![Line::from(backend), Line::from(overhead)]
}

const HELP: &[&str] = &[
    "Tab / Right, Shift-Tab / Left   next / previous view",
    "s        sort by rate, total, name (latency: timed, p50 .. max, name)",
    "c        sort by the next cgroup's column (latency: its rows only)",
    "0-9      sort by all cgroups (0) or cgroup N (latency: its rows)",
    "/        filter by substring (Enter keeps, Esc clears)",
    "space    pause the display (collection goes on)",
    "r        reset totals to zero (on screen only)",
    "w        latency of the last interval or of all calls",
    "Up/Down, PgUp/PgDn, Home/End   scroll",
    "?        close this help",
    "q        quit",
];

fn help(frame: &mut Frame, area: Rect) {
    let width = HELP.iter().map(|l| l.len()).max().unwrap_or(0) as u16 + 4;
    let height = HELP.len() as u16 + 2;
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = HELP.iter().map(|&l| Line::from(format!(" {l}"))).collect();
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" keys ")), popup);
}

/// hh:mm:ss.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Shortens `s` to `width` characters, keeping its start (function names).
pub(super) fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        s.chars().take(width.saturating_sub(1)).chain(['~']).collect()
    }
}

/// Shortens a row's label to `width` characters, keeping the mark of an interrupt-context row.
fn fit_label(label: &str, width: usize) -> String {
    match label.strip_suffix(IRQ_MARK) {
        Some(name) => fit(name, width.saturating_sub(IRQ_MARK.len())) + IRQ_MARK,
        None => fit(label, width),
    }
}

/// Shortens `s` to `width` characters, keeping its end (the informative part of a path).
pub(super) fn fit_end(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        s.to_owned()
    } else {
        ['~'].into_iter().chain(s.chars().skip(n + 1 - width)).collect()
    }
}

#[cfg(test)]
mod tests {
    use ratatui::{Terminal, backend::TestBackend};

    use super::*;
    use crate::{
        report::tests::{counted, counted_apart, sample},
        tui::{
            app::tests::{app_with_sample, update},
            event::Action,
        },
    };

    /// The screen as lines of text, trailing blanks trimmed.
    fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| render(frame, app)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
                line.trim_end().to_owned()
            })
            .collect()
    }

    #[test]
    fn syscalls_view_shows_rate_total_and_share_per_cgroup() {
        let app = app_with_sample();
        // lxc: getppid 100000, read 5 (2 failed) of 100005; gvisor: read 2, fchdir 3 of 5; 2 s.
        let expected = [
            "ktrace top   Syscalls | Functions | Modules | Lines",
            "sort: rate, all cgroups   3 rows",
            "                      lxc                              gvisor",
            "SYSCALL                   CALLS/s        CALLS  SHARE      CALLS/s        CALLS  SHARE",
            "getppid                   50000.0       100000 100.0%          0.0            0   0.0%",
            "read                          2.5            5   0.0%          1.0            2  40.0%",
            "fchdir                        0.0            0   0.0%          1.5            3  60.0%",
            "",
            "",
            "",
            "syscalls: raw tracepoints | functions: sampled at 999 Hz | elapsed 00:00:02",
            "overhead: lost samples 0 | attached functions n/a | failed updates n/a | recursion mis",
        ];
        assert_eq!(draw(&app, 86, 12), expected);
        // A wide terminal keeps the figures next to the names.
        let wide = draw(&app, 160, 12);
        assert_eq!(wide[4], format!("{:<48}{}", "getppid", &expected[4][20..]));
    }

    #[test]
    fn functions_view_names_modules_and_counts_samples() {
        let mut app = app_with_sample();
        app.handle(Action::NextView);
        app.handle(Action::SortCgroup(2));
        let screen = draw(&app, 86, 12);
        assert_eq!(screen[1], "sort: rate, gvisor   3 rows");
        assert_eq!(
            &screen[3..7],
            [
                "FUNCTION [MODULE]       SAMPLES/s      SAMPLES  SHARE    SAMPLES/s      SAMPLES  SHARE",
                "ksys_write                    4.0            8  20.0%          2.5            5  50.0%",
                "vfs_write                    15.0           30  75.0%          2.5            5  50.0%",
                "veth_xmit [veth]              1.0            2   5.0%          0.0            0   0.0%",
            ]
        );
    }

    #[test]
    fn without_sampling_the_function_views_say_how_to_get_them() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(sample(), sample()));
        app.handle(Action::NextView);
        let screen = draw(&app, 86, 12);
        assert_eq!(screen[2], "");
        assert_eq!(
            screen[4],
            "no kernel function data: start with --sample, --functions or --module"
        );
        assert_eq!(screen[10], "syscalls: raw tracepoints | elapsed 00:00:02");
        assert!(screen[11].starts_with("overhead: lost samples n/a | "), "{}", screen[11]);
    }

    #[test]
    fn counted_functions_show_without_sampling_as_calls() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(counted(), counted()));
        app.handle(Action::NextView);
        let screen = draw(&app, 86, 12);
        assert_eq!(
            &screen[3..6],
            [
                "FUNCTION [MODULE]         CALLS/s        CALLS  SHARE      CALLS/s        CALLS  SHARE",
                "vfs_write                     5.0           10 100.0%          0.0            0   0.0%",
                "veth_xmit [veth]              0.0            0   0.0%          3.5            7 100.0%",
            ]
        );
        app.handle(Action::NextView);
        app.handle(Action::NextView);
        assert_eq!(draw(&app, 86, 12)[4], "no line data: start with --lines FUNCTION");
    }

    #[test]
    fn interrupt_context_shows_as_irq_rows_and_an_interrupts_column() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(counted_apart(), counted_apart()));
        app.handle(Action::NextView);
        let screen = draw(&app, 119, 12);
        assert_eq!(
            &screen[2..8],
            [
                "                      lxc                              gvisor                           (interrupts)",
                "FUNCTION [MODULE]         CALLS/s        CALLS  SHARE      CALLS/s        CALLS  SHARE      CALLS/s        CALLS  SHARE",
                "ip_rcv [irq]                 20.0           40  80.0%          0.0            0   0.0%         40.5           81  97.6%",
                "vfs_write                     5.0           10  20.0%          0.0            0   0.0%          0.0            0   0.0%",
                "veth_xmit [veth]              0.0            0   0.0%          3.5            7  77.8%          0.0            0   0.0%",
                "veth_xmit [v~ [irq]           0.0            0   0.0%          1.0            2  22.2%          1.0            2   2.4%",
            ]
        );
        assert_eq!(
            screen[10],
            "syscalls: raw tracepoints | functions: counted with kprobe-multi, [irq] in interrupts | elapsed 00:00:02"
        );
        // The extra column needs the room of one more cgroup.
        let small = draw(&app, 118, 12).join(" ");
        assert!(
            small.starts_with("terminal too small: ktrace top needs at least 119x9"),
            "{small}"
        );
    }

    #[test]
    fn filter_pause_and_reset_show_in_the_status_lines() {
        let mut app = app_with_sample();
        app.handle(Action::StartFilter);
        app.handle(Action::FilterPush('a'));
        app.handle(Action::TogglePause);
        let screen = draw(&app, 86, 12);
        assert_eq!(screen[0], "ktrace top   Syscalls | Functions | Modules | Lines   PAUSED");
        assert_eq!(screen[1], "sort: rate, all cgroups   filter: a_   1 rows");
        assert_eq!(screen[4].split_whitespace().next(), Some("read"));
        assert_eq!(screen[5], "");
        app.handle(Action::FilterDone);
        app.handle(Action::Reset);
        let screen = draw(&app, 86, 12);
        assert_eq!(screen[1], "sort: rate, all cgroups   filter: a   1 rows");
        assert!(screen[4].starts_with("read                          2.5            0   0.0%"));
        assert_eq!(
            draw(&app, 120, 12)[10],
            "syscalls: raw tracepoints | functions: sampled at 999 Hz | elapsed 00:00:02 | \
             totals since 00:00:02"
        );
    }

    #[test]
    fn latency_tab_shows_one_row_per_cgroup_and_syscall() {
        let (interval, total) = crate::tui::latency::tests::reports();
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None).with_latency_tab();
        app.update(update(interval, total));
        app.handle(Action::PreviousView);
        app.handle(Action::ToggleWindow);
        let screen = draw(&app, 100, 12);
        assert_eq!(
            &screen[..7],
            [
                "ktrace top   Syscalls | Functions | Modules | Lines | Latency",
                "sort: p99   rows of: all cgroups   calls: all   3 rows",
                "",
                "SYSCALL                     CGROUP           TIMED       P50       P90       P99     P99.9       MAX",
                "read                        gvisor               4  49.840ms  49.840ms  49.840ms  49.840ms  49.840ms",
                "read                        lxc                 10   2.016ms   2.016ms   2.016ms   2.016ms   2.016ms",
                "getppid                     lxc                100     300ns     300ns     300ns     300ns     300ns",
            ]
        );
        // Only lxc's rows, by calls timed.
        app.handle(Action::SortCgroup(1));
        for _ in 0..4 {
            app.handle(Action::CycleSortKey);
        }
        let screen = draw(&app, 100, 12);
        assert_eq!(screen[1], "sort: timed   rows of: lxc   calls: all   2 rows");
        assert_eq!(&screen[4][..8], "getppid ");
        // Too narrow for the tab, though not for the count views.
        assert!(
            draw(&app, 90, 12)[0].starts_with("terminal too small: ktrace top needs at least 92x9")
        );
        app.handle(Action::NextView);
        assert_eq!(
            draw(&app, 90, 12)[0],
            "ktrace top   Syscalls | Functions | Modules | Lines | Latency"
        );
    }

    #[test]
    fn a_small_terminal_gets_a_message_instead_of_a_table() {
        let app = app_with_sample();
        let message = |width, height| draw(&app, width, height).join(" ").trim().to_owned();
        assert_eq!(
            message(85, 12),
            "terminal too small: ktrace top needs at least 86x9, this one is 85x12; enlarge it or \
             press q to quit"
        );
        assert!(message(86, 8).contains("this one is 86x8"));
        assert!(message(86, 9).starts_with("ktrace top   Syscalls"));
    }

    #[test]
    fn help_is_drawn_over_the_view() {
        let mut app = app_with_sample();
        app.handle(Action::ToggleHelp);
        let screen = draw(&app, 86, 14);
        let help: Vec<&String> = screen.iter().filter(|l| l.contains("reset totals")).collect();
        assert_eq!(help.len(), 1);
        assert!(
            help[0].contains("│ r        reset totals to zero (on screen only)"),
            "{}",
            help[0]
        );
        assert!(screen.iter().any(|l| l.contains("┌ keys ")), "{screen:#?}");
    }

    #[test]
    fn long_names_are_shortened() {
        assert_eq!(fit("kernel_function", 8), "kernel_~");
        assert_eq!(fit("read", 8), "read");
        assert_eq!(fit_label("kernel_function [irq]", 14), "kernel_~ [irq]");
        assert_eq!(fit_end("system.slice/docker-1.scope", 10), "~r-1.scope");
        assert_eq!(clock(Duration::from_secs(3723)), "01:02:03");
    }
}
