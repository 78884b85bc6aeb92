//! The live view's keymap: what a key stands for in each [`Mode`], as an [`Action`] (pure, so
//! it is tested without a terminal).
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What keys do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing the filter text after `/`.
    Filter,
    /// The key help is shown over the view.
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextView,
    PreviousView,
    /// Rate, then total, then name; in the latency tab, each column in turn.
    CycleSortKey,
    /// All cgroups summed, then each cgroup's column in turn.
    CycleSortCgroup,
    /// 0: all cgroups summed; n: the n-th cgroup's column.
    SortCgroup(usize),
    StartFilter,
    FilterPush(char),
    FilterPop,
    /// Keep the filter and leave filter editing.
    FilterDone,
    /// Drop the filter.
    FilterClear,
    TogglePause,
    /// The latency tab's figures: of the last interval, or of all calls.
    ToggleWindow,
    Reset,
    ToggleHelp,
    Scroll(isize),
    ScrollPage(isize),
    ScrollTop,
    ScrollBottom,
}

/// The action a key stands for in `mode`, if any.
pub fn action(mode: Mode, key: KeyEvent) -> Option<Action> {
    // Key releases (reported by some terminals) must not act twice.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Action::Quit);
    }
    match mode {
        Mode::Filter => match key.code {
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Esc => Some(Action::FilterClear),
            KeyCode::Backspace => Some(Action::FilterPop),
            KeyCode::Char(c) => Some(Action::FilterPush(c)),
            _ => None,
        },
        // Any key closes the help; q still quits.
        Mode::Help => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            _ => Some(Action::ToggleHelp),
        },
        Mode::Normal => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Tab | KeyCode::Right => Some(Action::NextView),
            KeyCode::BackTab | KeyCode::Left => Some(Action::PreviousView),
            KeyCode::Char('s') => Some(Action::CycleSortKey),
            KeyCode::Char('c') => Some(Action::CycleSortCgroup),
            KeyCode::Char(d @ '0'..='9') => Some(Action::SortCgroup(d as usize - '0' as usize)),
            KeyCode::Char('/') => Some(Action::StartFilter),
            KeyCode::Esc => Some(Action::FilterClear),
            KeyCode::Char(' ') => Some(Action::TogglePause),
            KeyCode::Char('r') => Some(Action::Reset),
            KeyCode::Char('w') => Some(Action::ToggleWindow),
            KeyCode::Char('?') => Some(Action::ToggleHelp),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Scroll(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Scroll(1)),
            KeyCode::PageUp => Some(Action::ScrollPage(-1)),
            KeyCode::PageDown => Some(Action::ScrollPage(1)),
            KeyCode::Home => Some(Action::ScrollTop),
            KeyCode::End => Some(Action::ScrollBottom),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn letters_are_commands_except_while_typing_a_filter() {
        assert_eq!(action(Mode::Normal, key(KeyCode::Char('s'))), Some(Action::CycleSortKey));
        assert_eq!(action(Mode::Normal, key(KeyCode::Char('2'))), Some(Action::SortCgroup(2)));
        assert_eq!(action(Mode::Normal, key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(action(Mode::Filter, key(KeyCode::Char('q'))), Some(Action::FilterPush('q')));
        assert_eq!(action(Mode::Filter, key(KeyCode::Enter)), Some(Action::FilterDone));
        assert_eq!(action(Mode::Help, key(KeyCode::Char('s'))), Some(Action::ToggleHelp));
        assert_eq!(action(Mode::Normal, key(KeyCode::F(5))), None);
    }

    #[test]
    fn ctrl_c_quits_in_every_mode_and_releases_are_ignored() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [Mode::Normal, Mode::Filter, Mode::Help] {
            assert_eq!(action(mode, ctrl_c), Some(Action::Quit));
        }
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(action(Mode::Normal, release), None);
    }
}
