//! The live view's state: which view, sort, filter and mode are chosen, the figures of each
//! view, and what each action does to them. No terminal here, so all of it is unit-tested.
use std::time::Duration;

use crate::{
    attach::{Backend, IrqMode},
    kallsyms::CORE_KERNEL,
    lines::{LineCount, LineFunction, LineReport},
    report::{ALL_INTERRUPTS, FunctionReport, Hits, InInterrupts, KernelRow, SampleReport},
    session::Update,
};

use super::{
    event::{Action, Mode},
    figures::{Column, Figures, SortColumn},
    latency::LatencyTab,
};

/// The tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Syscalls,
    Functions,
    Modules,
    /// Source lines counted with `--lines`.
    Lines,
    /// Syscall latency percentiles, only with `--latency`.
    Latency,
}

impl View {
    pub const ALL: [Self; 5] =
        [Self::Syscalls, Self::Functions, Self::Modules, Self::Lines, Self::Latency];

    pub fn title(self) -> &'static str {
        match self {
            Self::Syscalls => "Syscalls",
            Self::Functions => "Functions",
            Self::Modules => "Modules",
            Self::Lines => "Lines",
            Self::Latency => "Latency",
        }
    }
}

/// ktrace's own cost and losses, shown in the footer. A figure ktrace does not have in this
/// trace (no sampling, no function counting, BPF stats off) shows as "n/a", never as 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overhead {
    /// Kernel samples the eBPF sample map had no room for, all cgroups (with `--sample`).
    pub lost_samples: Option<u64>,
    pub attached_functions: Option<u64>,
    pub failed_updates: Option<u64>,
    pub recursion_misses: Option<u64>,
    pub bpf_run_time: Option<Duration>,
}

/// What the event loop does after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Quit,
}

#[derive(Debug)]
pub struct App {
    pub(super) cgroups: Vec<String>,
    /// The sampling frequency with `--sample`.
    pub(super) sampling_hz: Option<u64>,
    /// The backend counting kernel functions, once an update says so.
    pub(super) counting: Option<Backend>,
    /// Whether counted functions, lines or samples keep interrupt context apart (`--irq
    /// separate`): the functions, modules and lines views then have `[irq]` rows and an
    /// `(interrupts)` column.
    pub(super) interrupts: bool,
    /// Whether the functions and modules views' figures (counted or sampled) keep it apart.
    pub(super) profile_apart: bool,
    pub(super) view: View,
    pub(super) mode: Mode,
    pub(super) sort: SortColumn,
    pub(super) filter: String,
    /// Collection goes on while paused; the newest update waits here.
    pub(super) paused: bool,
    pending: Option<Update>,
    syscalls: Figures,
    functions: Figures,
    modules: Figures,
    lines: Figures,
    /// Whether an update carried counted source lines.
    pub(super) counting_lines: bool,
    /// With `--latency`.
    pub(super) latency: Option<LatencyTab>,
    /// Updates applied so far; 0 until the first interval ends.
    pub(super) updates: u64,
    /// Length of the last interval.
    pub(super) interval: Duration,
    /// Since tracing started, as of the last applied update.
    pub(super) elapsed: Duration,
    /// `elapsed` at the last reset.
    pub(super) reset_at: Option<Duration>,
    pub(super) overhead: Overhead,
    /// The shown items of the current view, in order.
    pub(super) rows: Vec<usize>,
    /// Index in `rows` of the first row on screen.
    pub(super) scroll: usize,
    /// How many rows fit on screen (for page up/down), set by the event loop.
    viewport_rows: usize,
}

impl App {
    pub fn new(cgroups: Vec<String>, sampling_hz: Option<u64>) -> Self {
        let n = cgroups.len();
        Self {
            cgroups,
            sampling_hz,
            counting: None,
            interrupts: false,
            profile_apart: false,
            view: View::Syscalls,
            mode: Mode::Normal,
            sort: SortColumn::Rate(Column::All),
            filter: String::new(),
            paused: false,
            pending: None,
            syscalls: Figures::new(n),
            functions: Figures::new(n),
            modules: Figures::new(n),
            lines: Figures::new(n),
            counting_lines: false,
            latency: None,
            updates: 0,
            interval: Duration::ZERO,
            elapsed: Duration::ZERO,
            reset_at: None,
            overhead: Overhead::default(),
            rows: Vec::new(),
            scroll: 0,
            viewport_rows: 1,
        }
    }

    /// The same app with the latency tab (`--latency`).
    pub fn with_latency_tab(self) -> Self {
        Self { latency: Some(LatencyTab::default()), ..self }
    }

    /// The tabs shown, in order.
    pub(super) fn views(&self) -> impl Iterator<Item = View> {
        let latency = self.latency.is_some();
        View::ALL.into_iter().filter(move |&v| v != View::Latency || latency)
    }

    /// The figures of the current count view. The latency tab has its own rows
    /// ([`Self::latency_tab`]); its counts are the syscalls'.
    pub(super) fn figures(&self) -> &Figures {
        match self.view {
            View::Syscalls | View::Latency => &self.syscalls,
            View::Functions => &self.functions,
            View::Modules => &self.modules,
            View::Lines => &self.lines,
        }
    }

    /// The latency tab, while it is the current view.
    pub(super) fn latency_tab(&self) -> Option<&LatencyTab> {
        self.latency.as_ref().filter(|_| self.view == View::Latency)
    }

    fn latency_tab_mut(&mut self) -> Option<&mut LatencyTab> {
        self.latency.as_mut().filter(|_| self.view == View::Latency)
    }

    /// The view `by` tabs to the right of the current one, wrapping around.
    fn step(&self, by: isize) -> View {
        let views: Vec<View> = self.views().collect();
        let at = views.iter().position(|&v| v == self.view).unwrap_or(0);
        views[(at as isize + by).rem_euclid(views.len() as isize) as usize]
    }

    pub fn set_viewport_rows(&mut self, rows: usize) {
        self.viewport_rows = rows.max(1);
    }

    /// Takes a collector update; while paused it is kept for later and the display stays.
    pub fn update(&mut self, update: Update) {
        if self.paused {
            self.pending = Some(update);
        } else {
            self.apply(update);
        }
    }

    fn apply(&mut self, Update { interval, total }: Update) {
        self.interval = interval.duration();
        self.elapsed = total.duration();
        self.syscalls.start_update(total.totals.iter().map(|c| c.calls));
        for row in &total.syscalls {
            self.syscalls.set_total(&row.name, row.counts.iter().map(|c| c.calls));
            if row.counts.iter().any(|c| c.blocked > 0) {
                self.syscalls.set_total(&blocked(&row.name), row.counts.iter().map(|c| c.blocked));
            }
        }
        for row in &interval.syscalls {
            self.syscalls.set_interval(&row.name, row.counts.iter().map(|c| c.calls));
            if row.counts.iter().any(|c| c.blocked > 0) {
                let blocked_counts = row.counts.iter().map(|c| c.blocked);
                self.syscalls.set_interval(&blocked(&row.name), blocked_counts);
            }
        }
        let function_irq = total.kernel_functions.as_ref().map(|f| f.irq);
        let line_irq = total.kernel_lines.as_ref().map(|l| l.irq);
        let sample_irq = total.kernel_samples.as_ref().map(|s| s.irq);
        self.profile_apart = function_irq.or(sample_irq) == Some(IrqMode::Separate);
        if !self.interrupts && function_irq.or(line_irq).or(sample_irq) == Some(IrqMode::Separate) {
            self.interrupts = true;
            self.functions = Figures::new(self.cgroups.len() + 1);
            self.modules = Figures::new(self.cgroups.len() + 1);
            self.lines = Figures::new(self.cgroups.len() + 1);
        }
        // Counted functions, when ktrace counts them, take the views; samples otherwise.
        if let (Some(total), Some(interval)) = (&total.kernel_functions, &interval.kernel_functions)
        {
            self.counting = Some(total.backend);
            let while_current = entries_while_current(total);
            self.apply_profile(
                [&while_current, &while_current],
                [counted_functions(total), counted_functions(interval)],
                [counted_modules(total), counted_modules(interval)],
            );
            if self.interrupts {
                let functions = [&total.functions[..], &interval.functions];
                self.apply_interrupts(functions, [&total.modules, &interval.modules]);
            }
        } else if let (Some(total), Some(interval)) =
            (&total.kernel_samples, &interval.kernel_samples)
        {
            let while_current = samples_while_current(total);
            self.apply_profile(
                [&while_current, &while_current],
                [sampled_functions(total), sampled_functions(interval)],
                [sampled_modules(total), sampled_modules(interval)],
            );
            if self.profile_apart {
                let functions = [&total.functions[..], &interval.functions];
                self.apply_interrupts(functions, [&total.modules, &interval.modules]);
            }
            self.overhead.lost_samples = Some(total.lost());
        }
        if let (Some(total), Some(interval)) = (&total.kernel_lines, &interval.kernel_lines) {
            self.counting_lines = true;
            self.apply_lines(total, interval);
        }
        if let Some(tab) = &mut self.latency {
            tab.update(&interval, &total);
        }
        if let Some(functions) = &total.kernel_functions {
            let o = &functions.overhead;
            self.overhead.attached_functions = Some(functions.attached as u64);
            self.overhead.failed_updates = Some(o.failed_updates + o.unknown_function);
            self.overhead.recursion_misses = Some(o.recursion_misses);
            // Measured only while kernel.bpf_stats_enabled is on.
            self.overhead.bpf_run_time =
                (o.run_count > 0).then(|| Duration::from_nanos(o.run_time_ns));
        }
        self.updates += 1;
        self.refresh_rows();
    }

    /// Fills the functions and modules views from `[total, interval]` rows of (name, module,
    /// figure per cgroup) and (module, figure per cgroup); `[functions, modules]` totals are
    /// the shares' denominators.
    fn apply_profile<'a>(
        &mut self,
        [function_totals, module_totals]: [&[u64]; 2],
        [total_functions, interval_functions]: [impl Iterator<Item = (&'a str, &'a str, &'a [u64])>;
            2],
        [total_modules, interval_modules]: [impl Iterator<Item = (&'a str, &'a [u64])>; 2],
    ) {
        self.functions.start_update(function_totals.iter().copied());
        self.modules.start_update(module_totals.iter().copied());
        // One buffer for all labels: no allocation per function and update.
        let mut label = String::new();
        for (name, module, figures) in total_functions {
            self.functions
                .set_total(function_label(&mut label, name, module), figures.iter().copied());
        }
        for (name, module, figures) in interval_functions {
            self.functions
                .set_interval(function_label(&mut label, name, module), figures.iter().copied());
        }
        for (module, figures) in total_modules {
            self.modules.set_total(module, figures.iter().copied());
        }
        for (module, figures) in interval_modules {
            self.modules.set_interval(module, figures.iter().copied());
        }
    }

    /// The functions and modules views' `[irq]` rows from `[total, interval]` rows of
    /// counted or sampled functions and modules: each one's entries or samples in interrupts
    /// while each cgroup's task ran and, in the `(interrupts)` column, on the whole machine.
    fn apply_interrupts<F: KernelRow, M: KernelRow>(
        &mut self,
        [total_functions, interval_functions]: [&[F]; 2],
        [total_modules, interval_modules]: [&[M]; 2],
    ) {
        let mut label = String::new();
        for f in in_interrupts(total_functions) {
            self.functions.set_total(in_interrupts_label(&mut label, f), f.interrupts().columns());
        }
        for f in in_interrupts(interval_functions) {
            let label = in_interrupts_label(&mut label, f);
            self.functions.set_interval(label, f.interrupts().columns());
        }
        for m in in_interrupts(total_modules) {
            self.modules.set_total(in_interrupts_label(&mut label, m), m.interrupts().columns());
        }
        for m in in_interrupts(interval_modules) {
            self.modules.set_interval(in_interrupts_label(&mut label, m), m.interrupts().columns());
        }
    }

    /// The labels of the current view's column groups: the cgroups, and in the functions,
    /// modules and lines views with interrupt context apart, `(interrupts)`.
    pub(super) fn column_labels(&self) -> impl Iterator<Item = &str> {
        let machine = self.interrupts
            && match self.view {
                View::Functions | View::Modules => self.profile_apart,
                View::Lines => true,
                _ => false,
            };
        self.cgroups.iter().map(String::as_str).chain(machine.then_some(ALL_INTERRUPTS))
    }

    /// Fills the lines view: one row per counted line, labelled `function:line text`, and
    /// with interrupt context apart an `[irq]` row for each line hit in interrupts; shares are
    /// of all the cgroup's line hits while its task was current (and the machine's in
    /// interrupts).
    fn apply_lines(&mut self, total: &LineReport, interval: &LineReport) {
        let mut sums = Hits::zero(self.cgroups.len(), total.irq);
        for (_, l) in total.counted() {
            sums.add(&l.hits);
        }
        self.lines.start_update(while_current(&sums.counts, &sums.interrupts));
        let in_interrupts = |l: &&LineCount| l.hits.interrupts.of_machine() > 0;
        for (f, l) in total.counted() {
            self.lines.set_total(&line_label(f, l), l.hits.counts.iter().copied());
            if in_interrupts(&l) {
                self.lines.set_total(&(line_label(f, l) + IRQ_MARK), l.hits.interrupts.columns());
            }
        }
        for (f, l) in interval.counted() {
            self.lines.set_interval(&line_label(f, l), l.hits.counts.iter().copied());
            if in_interrupts(&l) {
                let label = line_label(f, l) + IRQ_MARK;
                self.lines.set_interval(&label, l.hits.interrupts.columns());
            }
        }
    }

    /// Applies a key's action.
    pub fn handle(&mut self, action: Action) -> Control {
        match action {
            Action::Quit => return Control::Quit,
            Action::NextView => self.switch_view(self.step(1)),
            Action::PreviousView => self.switch_view(self.step(-1)),
            Action::CycleSortKey => {
                match self.latency_tab_mut() {
                    Some(tab) => tab.cycle_sort(),
                    None => {
                        self.sort = match self.sort {
                            SortColumn::Rate(column) => SortColumn::Total(column),
                            SortColumn::Total(_) => SortColumn::Name,
                            SortColumn::Name => SortColumn::Rate(Column::All),
                        }
                    }
                }
                self.refresh_rows();
            }
            Action::CycleSortCgroup => {
                let next = match self.sort_cgroup() {
                    Column::All => Column::Cgroup(0),
                    Column::Cgroup(i) if i + 1 < self.cgroups.len() => Column::Cgroup(i + 1),
                    Column::Cgroup(_) => Column::All,
                };
                self.sort_by_cgroup(next);
            }
            Action::SortCgroup(0) => self.sort_by_cgroup(Column::All),
            Action::SortCgroup(n) if n <= self.cgroups.len() => {
                self.sort_by_cgroup(Column::Cgroup(n - 1));
            }
            Action::SortCgroup(_) => {}
            Action::StartFilter => self.mode = Mode::Filter,
            Action::FilterPush(c) => {
                self.filter.push(c);
                self.refresh_rows();
            }
            Action::FilterPop => {
                self.filter.pop();
                self.refresh_rows();
            }
            Action::FilterDone => self.mode = Mode::Normal,
            Action::FilterClear => {
                self.mode = Mode::Normal;
                self.filter.clear();
                self.refresh_rows();
            }
            Action::ToggleWindow => {
                if let Some(tab) = self.latency_tab_mut() {
                    tab.toggle_window();
                }
                self.refresh_rows();
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                if let Some(update) = self.pending.take().filter(|_| !self.paused) {
                    self.apply(update);
                }
            }
            Action::Reset => {
                // The reset is "now": counts collected while paused belong before it.
                if let Some(update) = self.pending.take() {
                    self.apply(update);
                }
                for figures in
                    [&mut self.syscalls, &mut self.functions, &mut self.modules, &mut self.lines]
                {
                    figures.reset();
                }
                if let Some(tab) = &mut self.latency {
                    tab.reset();
                }
                self.reset_at = Some(self.elapsed);
                self.refresh_rows();
            }
            Action::ToggleHelp => {
                self.mode = if self.mode == Mode::Help { Mode::Normal } else { Mode::Help };
            }
            Action::Scroll(by) => self.scroll_to(self.scroll.saturating_add_signed(by)),
            Action::ScrollPage(by) => {
                let by = by.saturating_mul(self.viewport_rows as isize);
                self.scroll_to(self.scroll.saturating_add_signed(by));
            }
            Action::ScrollTop => self.scroll_to(0),
            Action::ScrollBottom => {
                self.scroll_to(self.rows.len().saturating_sub(self.viewport_rows));
            }
        }
        Control::Continue
    }

    /// The cgroup the current sort looks at (all of them for a sort by name); in the latency
    /// tab, the cgroup whose rows are shown.
    pub(super) fn sort_cgroup(&self) -> Column {
        if let Some(tab) = self.latency_tab() {
            return tab.cgroup;
        }
        match self.sort {
            SortColumn::Rate(column) | SortColumn::Total(column) => column,
            SortColumn::Name => Column::All,
        }
    }

    fn sort_by_cgroup(&mut self, column: Column) {
        if let Some(tab) = self.latency_tab_mut() {
            tab.cgroup = column;
            self.refresh_rows();
            return;
        }
        self.sort = match self.sort {
            SortColumn::Total(_) => SortColumn::Total(column),
            SortColumn::Rate(_) | SortColumn::Name => SortColumn::Rate(column),
        };
        self.refresh_rows();
    }

    fn switch_view(&mut self, view: View) {
        self.view = view;
        self.scroll = 0;
        self.refresh_rows();
    }

    fn scroll_to(&mut self, row: usize) {
        self.scroll = row.min(self.rows.len().saturating_sub(1));
    }

    fn refresh_rows(&mut self) {
        self.rows = match self.latency_tab() {
            Some(tab) => tab.rows(&self.filter),
            None => self.figures().rows(self.sort, &self.filter),
        };
        self.scroll_to(self.scroll);
    }
}

/// (name, module, entries per cgroup) of each counted function.
/// The syscalls view's row of `syscall`'s blocked returns, beside its row of calls.
fn blocked(syscall: &str) -> String {
    format!("{syscall} [blocked]")
}

fn counted_functions(r: &FunctionReport) -> impl Iterator<Item = (&str, &str, &[u64])> {
    r.functions.iter().map(|f| (f.name.as_str(), f.module.as_str(), f.counts.as_slice()))
}

/// With `--irq separate`, per cgroup everything counted while its task was current (its own
/// entries and the interrupts that came meanwhile), then all interrupts of the machine: the
/// shares' denominators of the functions view.
fn entries_while_current(r: &FunctionReport) -> Vec<u64> {
    while_current(&r.totals, &r.interrupt_totals())
}

/// The same of kernel samples; without `--irq separate`, each cgroup's kernel samples.
fn samples_while_current(r: &SampleReport) -> Vec<u64> {
    let kernel: Vec<u64> = r.totals.iter().map(|t| t.kernel).collect();
    while_current(&kernel, &r.interrupt_totals())
}

/// Per cgroup its own figure and those in interrupts while its task ran, then the machine's.
fn while_current(own: &[u64], interrupts: &InInterrupts) -> Vec<u64> {
    (own.iter().enumerate())
        .map(|(c, &n)| n.saturating_add(interrupts.of_cgroup(c)))
        .chain(interrupts.all_interrupts)
        .collect()
}

/// The mark of a functions or lines view row of entries or hits in interrupt context.
pub(super) const IRQ_MARK: &str = " [irq]";

/// The rows with figures in interrupt context on the machine.
fn in_interrupts<R: KernelRow>(rows: &[R]) -> impl Iterator<Item = &R> {
    rows.iter().filter(|r| r.interrupts().of_machine() > 0)
}

/// The functions or modules view's row of a function's or module's figures in interrupt
/// context, beside its row of those in tasks.
fn in_interrupts_label<'a>(buf: &'a mut String, row: &impl KernelRow) -> &'a str {
    match row.key() {
        (name, Some(module)) => {
            function_label(buf, name, module);
        }
        (module, None) => {
            buf.clear();
            buf.push_str(module);
        }
    }
    buf.push_str(IRQ_MARK);
    buf
}

fn counted_modules(r: &FunctionReport) -> impl Iterator<Item = (&str, &[u64])> {
    r.modules.iter().map(|m| (m.module.as_str(), m.counts.as_slice()))
}

/// (name, module, samples per cgroup) of each sampled function.
fn sampled_functions(r: &SampleReport) -> impl Iterator<Item = (&str, &str, &[u64])> {
    r.functions.iter().map(|f| (f.name.as_str(), f.module.as_str(), f.samples.as_slice()))
}

fn sampled_modules(r: &SampleReport) -> impl Iterator<Item = (&str, &[u64])> {
    r.modules.iter().map(|m| (m.module.as_str(), m.samples.as_slice()))
}

/// `function:line text`, or `function:line` without the source.
fn line_label(f: &LineFunction, l: &LineCount) -> String {
    match &l.text {
        Some(text) => format!("{}:{} {text}", f.function.name, l.line),
        None => format!("{}:{}", f.function.name, l.line),
    }
}

/// `name` for the core kernel, `name [module]` for a module's function, written into `buf`.
fn function_label<'a>(buf: &'a mut String, name: &str, module: &str) -> &'a str {
    buf.clear();
    buf.push_str(name);
    if module != CORE_KERNEL {
        buf.push_str(" [");
        buf.push_str(module);
        buf.push(']');
    }
    buf
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::report::{
        Report,
        tests::{counted, counted_apart, sample, sampled, sampled_apart},
    };

    /// An update whose interval is `interval` (2 s long) and whose total is `total`.
    pub(in crate::tui) fn update(interval: Report, total: Report) -> Update {
        Update { interval, total }
    }

    fn shown(app: &App) -> Vec<&str> {
        app.rows.iter().map(|&i| app.figures().label(i)).collect()
    }

    /// lxc: getppid 100000, read 5; gvisor: read 2, fchdir 3 (2 s, see `report::tests`).
    pub(in crate::tui) fn app_with_sample() -> App {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], Some(999));
        app.update(update(sampled(), sampled()));
        app
    }

    #[test]
    fn an_update_fills_every_view() {
        let mut app = app_with_sample();
        assert_eq!(shown(&app), ["getppid", "read", "fchdir"]);
        app.handle(Action::NextView);
        assert_eq!(app.view, View::Functions);
        assert_eq!(shown(&app), ["vfs_write", "ksys_write", "veth_xmit [veth]"]);
        app.handle(Action::NextView);
        assert_eq!(shown(&app), ["vmlinux", "veth"]);
        app.handle(Action::NextView);
        assert_eq!(app.view, View::Lines);
        app.handle(Action::NextView);
        assert_eq!(app.view, View::Syscalls);
        app.handle(Action::PreviousView);
        assert_eq!(app.view, View::Lines);
        assert_eq!(app.overhead.lost_samples, Some(0));
    }

    #[test]
    fn counted_functions_take_the_views_and_fill_the_overhead() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(counted(), counted()));
        assert_eq!(app.counting, Some(Backend::KprobeMulti));
        app.handle(Action::NextView);
        assert_eq!(shown(&app), ["vfs_write", "veth_xmit [veth]"]);
        app.handle(Action::NextView);
        assert_eq!(shown(&app), ["vmlinux", "veth"]);
        let o = &app.overhead;
        assert_eq!(
            (o.attached_functions, o.failed_updates, o.recursion_misses),
            (Some(3), Some(0), Some(2))
        );
        assert_eq!((o.bpf_run_time, o.lost_samples), (None, None));
    }

    /// Samples in interrupt context get the same rows and column as counted entries.
    #[test]
    fn samples_in_interrupts_get_rows_and_a_column_of_their_own() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], Some(999));
        app.update(update(sampled_apart(), sampled_apart()));
        app.handle(Action::NextView);
        assert_eq!(app.column_labels().collect::<Vec<_>>(), ["lxc", "gvisor", "(interrupts)"]);
        assert_eq!(
            shown(&app),
            [
                "vfs_write",
                "net_rx_action [irq]",
                "ksys_write",
                "veth_xmit [veth] [irq]",
                "veth_xmit [veth]"
            ]
        );
        let cells = |row: usize| -> Vec<(u64, f64)> {
            let cells = app.figures().cells(app.rows[row], app.interval);
            cells.map(|c| (c.total, c.share)).collect()
        };
        // lxc: 40 kernel samples of its own and 6 in interrupts; gvisor 10; the machine 13.
        assert_eq!(cells(1), [(6, 6.0 / 46.0), (0, 0.0), (9, 9.0 / 13.0)]);
        assert_eq!(cells(0), [(30, 30.0 / 46.0), (5, 5.0 / 10.0), (0, 0.0)]);
        // One lost in interrupts while lxc ran, one on the machine.
        assert_eq!(app.overhead.lost_samples, Some(2));
        app.handle(Action::NextView);
        assert_eq!(shown(&app), ["vmlinux", "vmlinux [irq]", "veth [irq]", "veth"]);
    }

    /// `[irq]` rows and the `(interrupts)` column, with shares of everything counted while
    /// each cgroup's task was current, in the functions and modules views.
    #[test]
    fn interrupt_context_gets_rows_and_a_column_of_its_own() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(counted_apart(), counted_apart()));
        assert_eq!(app.column_labels().collect::<Vec<_>>(), ["lxc", "gvisor"]);
        app.handle(Action::NextView);
        assert_eq!(app.column_labels().collect::<Vec<_>>(), ["lxc", "gvisor", "(interrupts)"]);
        assert_eq!(
            shown(&app),
            ["ip_rcv [irq]", "vfs_write", "veth_xmit [veth]", "veth_xmit [veth] [irq]"]
        );
        let cells = |row: usize| -> Vec<(u64, f64)> {
            let cells = app.figures().cells(app.rows[row], app.interval);
            cells.map(|c| (c.total, c.share)).collect()
        };
        // lxc: 10 entries of its own and 40 in interrupts; gvisor 7 and 2; the machine 83.
        assert_eq!(cells(0), [(40, 40.0 / 50.0), (0, 0.0), (81, 81.0 / 83.0)]);
        assert_eq!(cells(1), [(10, 10.0 / 50.0), (0, 0.0), (0, 0.0)]);
        assert_eq!(cells(3), [(0, 0.0), (2, 2.0 / 9.0), (2, 2.0 / 83.0)]);
        app.handle(Action::NextView);
        assert_eq!(app.column_labels().collect::<Vec<_>>(), ["lxc", "gvisor", "(interrupts)"]);
        assert_eq!(shown(&app), ["vmlinux [irq]", "vmlinux", "veth", "veth [irq]"]);
        let cells = |row: usize| -> Vec<(u64, f64)> {
            let cells = app.figures().cells(app.rows[row], app.interval);
            cells.map(|c| (c.total, c.share)).collect()
        };
        // vmlinux: lxc 10 of its own and 40 in interrupts, the machine 81 of 83; veth: gvisor
        // 7 of its own and 2 in interrupts, the machine 2.
        assert_eq!(cells(0), [(40, 40.0 / 50.0), (0, 0.0), (81, 81.0 / 83.0)]);
        assert_eq!(cells(1), [(10, 10.0 / 50.0), (0, 0.0), (0, 0.0)]);
        assert_eq!(cells(3), [(0, 0.0), (2, 2.0 / 9.0), (2, 2.0 / 83.0)]);
    }

    #[test]
    fn counted_lines_fill_the_lines_view_in_hits() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        let counted =
            Report { kernel_lines: Some(crate::lines::report::tests::report()), ..sample() };
        app.update(update(counted.clone(), counted));
        assert!(app.counting_lines);
        app.handle(Action::PreviousView);
        assert_eq!(app.view, View::Lines);
        // The refused line is not shown; the others by hits, then name.
        assert_eq!(
            shown(&app),
            [
                "__is_skb_forwardable:4070 if (!(dev->flags & IFF_UP))",
                "__is_skb_forwardable:4077",
                "__is_skb_forwardable:4083"
            ]
        );
        let first = app.rows[0];
        let cells: Vec<_> = app.figures().cells(first, app.interval).collect();
        assert_eq!((cells[0].total, cells[0].share), (43, 43.0 / 88.0));
        assert_eq!(app.column_labels().count(), 2);
    }

    /// With `--irq separate` a line hit in interrupts gets an `[irq]` row, and the view an
    /// `(interrupts)` column.
    #[test]
    fn line_hits_in_interrupts_get_rows_and_a_column_of_their_own() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        let counted =
            Report { kernel_lines: Some(crate::lines::report::tests::report_apart()), ..sample() };
        app.update(update(counted.clone(), counted));
        app.handle(Action::PreviousView);
        assert_eq!(app.view, View::Lines);
        assert_eq!(app.column_labels().collect::<Vec<_>>(), ["lxc", "gvisor", "(interrupts)"]);
        let first = "__is_skb_forwardable:4070 if (!(dev->flags & IFF_UP))";
        // Lines without hits in the trace are not shown.
        assert_eq!(shown(&app), [format!("{first} [irq]"), first.to_owned()]);
        let cells = |row: usize| -> Vec<(u64, f64)> {
            let cells = app.figures().cells(app.rows[row], app.interval);
            cells.map(|c| (c.total, c.share)).collect()
        };
        // lxc: 4 hits of its own and 30 in interrupts; gvisor 0 and 2; the machine 56.
        assert_eq!(cells(0), [(30, 30.0 / 34.0), (2, 1.0), (56, 1.0)]);
        assert_eq!(cells(1), [(4, 4.0 / 34.0), (0, 0.0), (0, 0.0)]);
    }

    #[test]
    fn sort_keys_and_cgroup_columns_cycle() {
        let mut app = app_with_sample();
        assert_eq!(app.sort, SortColumn::Rate(Column::All));
        app.handle(Action::CycleSortCgroup);
        assert_eq!(app.sort, SortColumn::Rate(Column::Cgroup(0)));
        app.handle(Action::SortCgroup(2));
        assert_eq!(app.sort, SortColumn::Rate(Column::Cgroup(1)));
        // gvisor: fchdir 3, read 2, getppid 0.
        assert_eq!(shown(&app), ["fchdir", "read", "getppid"]);
        app.handle(Action::CycleSortCgroup);
        assert_eq!(app.sort, SortColumn::Rate(Column::All));
        app.handle(Action::SortCgroup(3));
        assert_eq!(app.sort, SortColumn::Rate(Column::All), "no third cgroup");
        app.handle(Action::CycleSortKey);
        assert_eq!(app.sort, SortColumn::Total(Column::All));
        app.handle(Action::CycleSortKey);
        assert_eq!(app.sort, SortColumn::Name);
        assert_eq!(shown(&app), ["fchdir", "getppid", "read"]);
        app.handle(Action::CycleSortKey);
        assert_eq!(app.sort, SortColumn::Rate(Column::All));
    }

    #[test]
    fn filter_is_typed_kept_and_cleared() {
        let mut app = app_with_sample();
        app.handle(Action::StartFilter);
        assert_eq!(app.mode, Mode::Filter);
        for c in "ea".chars() {
            app.handle(Action::FilterPush(c));
        }
        assert_eq!(shown(&app), ["read"]);
        app.handle(Action::FilterPop);
        assert_eq!(shown(&app), ["getppid", "read"]);
        app.handle(Action::FilterPush('x'));
        assert!(shown(&app).is_empty());
        app.handle(Action::FilterDone);
        assert_eq!((app.mode, app.filter.as_str()), (Mode::Normal, "ex"));
        app.handle(Action::FilterClear);
        assert_eq!(shown(&app), ["getppid", "read", "fchdir"]);
    }

    #[test]
    fn pause_freezes_the_display_but_keeps_the_newest_update() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(sample(), sample()));
        app.handle(Action::TogglePause);
        let mut later = sample();
        later.syscalls.retain(|r| r.name == "fchdir");
        app.update(update(later.clone(), later));
        assert_eq!((app.updates, shown(&app)), (1, vec!["getppid", "read", "fchdir"]));
        app.handle(Action::TogglePause);
        assert_eq!((app.updates, shown(&app)), (2, vec!["fchdir"]));
    }

    #[test]
    fn reset_zeroes_totals_on_screen_only() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        app.update(update(sample(), sample()));
        app.handle(Action::Reset);
        assert_eq!(app.reset_at, Some(Duration::from_secs(2)));
        let getppid = app.rows[0];
        let totals: Vec<u64> =
            app.figures().cells(getppid, app.interval).map(|c| c.total).collect();
        assert_eq!(totals, [0, 0]);
        // The next cumulative total counts from the reset: 100000 + 250 - 100000.
        let mut total = sample();
        total.syscalls[0].counts[0].calls += 250;
        total.totals[0].calls += 250;
        app.update(update(sample(), total));
        let cells: Vec<_> = app.figures().cells(getppid, app.interval).collect();
        assert_eq!((cells[0].total, cells[0].share), (250, 1.0));
    }

    #[test]
    fn blocked_returns_get_rows_of_their_own() {
        let mut app = App::new(vec!["lxc".into(), "gvisor".into()], None);
        let mut report = sample();
        // gvisor: fchdir 3 calls, and 4 returns that never entered.
        report.syscalls[2].counts[1].blocked = 4;
        app.update(update(report.clone(), report));
        assert_eq!(shown(&app), ["getppid", "read", "fchdir [blocked]", "fchdir"]);
        let blocked = app.rows[2];
        let totals: Vec<u64> =
            app.figures().cells(blocked, app.interval).map(|c| c.total).collect();
        assert_eq!(totals, [0, 4]);
    }

    #[test]
    fn scrolling_stays_within_the_rows() {
        let mut app = app_with_sample();
        app.set_viewport_rows(2);
        app.handle(Action::Scroll(-1));
        assert_eq!(app.scroll, 0);
        app.handle(Action::ScrollPage(1));
        assert_eq!(app.scroll, 2);
        app.handle(Action::Scroll(5));
        assert_eq!(app.scroll, 2);
        app.handle(Action::ScrollBottom);
        assert_eq!(app.scroll, 1);
        app.handle(Action::ScrollTop);
        assert_eq!(app.scroll, 0);
    }

    #[test]
    fn quit_and_help() {
        let mut app = app_with_sample();
        app.handle(Action::ToggleHelp);
        assert_eq!(app.mode, Mode::Help);
        app.handle(Action::ToggleHelp);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.handle(Action::Quit), Control::Quit);
    }
}
