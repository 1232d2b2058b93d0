//! All the dashboard's state, and what keys do to it. No terminal, no clock: the
//! session feeds snapshots and log entries, keys come in as crossterm `KeyEvent`s.
use std::{
    collections::{BTreeMap, VecDeque},
    time::Duration,
};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use gotrace_model::stack::Frame;

use super::{Action, LogEntry, LogKind, SiteSort, SortKey, View};
use crate::{
    analysis::{callsites::CallSiteRow, Snapshot, SyscallRow},
    present::{exit_text, format_count},
};

/// How many log entries are kept; older ones fall off.
pub const LOG_CAPACITY: usize = 10_000;
/// How many snapshots of history are kept for rates and sparklines.
pub const HISTORY_CAPACITY: usize = 600;
/// Rows moved by PageUp / PageDown.
const PAGE: usize = 10;

/// The cumulative counters of one snapshot, for rates.
#[derive(Debug, Clone)]
struct Sample {
    seq: u64,
    duration_ns: u64,
    total_calls: u64,
    slow_calls: u64,
    preempted: u64,
    calls: BTreeMap<u32, u64>,
}

/// Rates over the last second or so of (visible) history.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub calls: Option<f64>,
    pub slow: Option<f64>,
    pub preempted: Option<f64>,
    per_syscall: BTreeMap<u32, f64>,
}

impl Rates {
    /// Calls per second of one syscall.
    pub fn of(&self, nr: u32) -> Option<f64> {
        self.per_syscall.get(&nr).copied()
    }
}

/// What the view shows while paused: the snapshot, history and log as they were. The
/// limits are sequence numbers: what came at or after them is hidden.
#[derive(Debug, Clone, Copy)]
struct Freeze {
    sample_limit: u64,
    log_limit: u64,
}

/// The dashboard's state. See the module documentation for how a session drives it.
#[derive(Debug)]
pub struct App {
    refresh_hz: u32,
    pub(super) view: View,
    /// The snapshot on screen (frozen while paused).
    shown: Option<Snapshot>,
    /// The newest snapshot, when it arrived while paused.
    pending: Option<Snapshot>,
    freeze: Option<Freeze>,
    samples: VecDeque<Sample>,
    next_seq: u64,
    pub(super) sort: SortKey,
    pub(super) sort_reverse: bool,
    /// The selected syscall, by number, so it stays selected as rows reorder.
    selected_nr: Option<u32>,
    pub(super) thread_sel: usize,
    pub(super) signals_scroll: usize,
    pub(super) site_sort: SiteSort,
    pub(super) site_sort_reverse: bool,
    /// The selected call site, so it stays selected as rows reorder.
    selected_site: Option<Frame>,
    log: VecDeque<LogEntry>,
    /// Entries ever pushed: the sequence number of the next one.
    log_pushed: u64,
    /// Entries scrolled back from the newest; 0 follows the log.
    pub(super) log_scroll: usize,
    /// The applied filter (syscall names, log text), lowercase.
    filter: String,
    /// The filter being typed, while `/` is active.
    input: Option<String>,
    pub(super) help: bool,
    exited: Option<String>,
    /// Lost records already reported in the log; None right after a reset.
    lost_seen: Option<u64>,
    /// When the last lost-records warning was logged.
    lost_logged_ns: Option<u64>,
}

impl App {
    /// `refresh_hz`: how often the session calls [`App::on_snapshot`] (rates are taken
    /// over about a second of snapshots).
    pub fn new(refresh_hz: u32) -> App {
        App {
            refresh_hz: refresh_hz.max(1),
            view: View::Overview,
            shown: None,
            pending: None,
            freeze: None,
            samples: VecDeque::new(),
            next_seq: 0,
            sort: SortKey::Total,
            sort_reverse: false,
            selected_nr: None,
            thread_sel: 0,
            signals_scroll: 0,
            site_sort: SiteSort::Time,
            site_sort_reverse: false,
            selected_site: None,
            log: VecDeque::new(),
            log_pushed: 0,
            log_scroll: 0,
            filter: String::new(),
            input: None,
            help: false,
            exited: None,
            lost_seen: Some(0),
            lost_logged_ns: None,
        }
    }

    /// The period between snapshots.
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(1) / self.refresh_hz
    }

    /// A new snapshot: shown at once, or kept for later while paused. History (rates,
    /// sparklines) is recorded either way, so nothing is missing after a pause.
    pub fn on_snapshot(&mut self, snap: Snapshot) {
        self.record(&snap);
        self.note_lost_records(&snap);
        if self.freeze.is_some() {
            self.pending = Some(snap);
        } else {
            self.shown = Some(snap);
        }
    }

    /// A notable event for the log; the oldest fall off past [`LOG_CAPACITY`].
    pub fn push_log(&mut self, e: LogEntry) {
        // Scrolled back: keep the same entries on screen as new ones arrive.
        if self.log_scroll > 0 && self.freeze.is_none() && self.log_matches(&e) {
            self.log_scroll += 1;
        }
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(e);
        self.log_pushed += 1;
    }

    /// The target is gone: say so above everything, and keep the final numbers.
    pub fn set_target_exited(&mut self, msg: String) {
        self.exited = Some(msg);
    }

    /// The snapshot on screen.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.shown.as_ref()
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn paused(&self) -> bool {
        self.freeze.is_some()
    }

    /// The applied filter.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The filter being typed, while editing.
    pub fn filter_input(&self) -> Option<&str> {
        self.input.as_deref()
    }

    /// The banner text once the target exited.
    pub fn exit_banner(&self) -> Option<String> {
        if let Some(m) = &self.exited {
            return Some(m.clone());
        }
        self.shown
            .as_ref()
            .and_then(|s| s.target_exit)
            .map(|e| exit_text(Some(e)))
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
            return Action::Quit;
        }
        if self.input.is_some() {
            self.edit_filter(key.code, ctrl);
            return Action::None;
        }
        if self.help {
            match key.code {
                KeyCode::Char('q') => return Action::Quit,
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => self.help = false,
                _ => {}
            }
            return Action::None;
        }
        if ctrl {
            return Action::None;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('r') => {
                self.reset();
                return Action::Reset;
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => self.toggle_pause(),
            KeyCode::Tab => self.view = self.view.next(),
            KeyCode::BackTab => self.view = self.view.prev(),
            KeyCode::Char(c @ '1'..='9') => {
                if let Some(&v) = View::ALL.get(c as usize - '1' as usize) {
                    self.view = v;
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(PAGE as isize)),
            KeyCode::PageDown => self.move_by(PAGE as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX),
            // The Go code view sorts its call sites; the others, the syscalls.
            KeyCode::Char('s') if self.view == View::GoCode => {
                self.site_sort = self.site_sort.next();
                self.site_sort_reverse = false;
            }
            KeyCode::Char('S') if self.view == View::GoCode => {
                self.site_sort_reverse = !self.site_sort_reverse;
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.sort_reverse = false;
            }
            KeyCode::Char('S') => self.sort_reverse = !self.sort_reverse,
            KeyCode::Char('/') => self.input = Some(self.filter.clone()),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => self.apply_filter(String::new()),
            _ => {}
        }
        Action::None
    }

    fn edit_filter(&mut self, code: KeyCode, ctrl: bool) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        match code {
            KeyCode::Enter => {
                let text = std::mem::take(input);
                self.input = None;
                self.apply_filter(text);
            }
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if ctrl => input.clear(),
            KeyCode::Char(c) if !ctrl => input.push(c),
            _ => {}
        }
    }

    fn apply_filter(&mut self, text: String) {
        self.filter = text.trim().to_lowercase();
        self.log_scroll = 0;
        self.thread_sel = 0;
    }

    fn toggle_pause(&mut self) {
        if self.freeze.take().is_some() {
            if let Some(s) = self.pending.take() {
                self.shown = Some(s);
            }
            return;
        }
        self.freeze = Some(Freeze {
            sample_limit: self.next_seq,
            log_limit: self.log_pushed,
        });
    }

    /// After `r`: the session restarts its counters, so history no longer adds up.
    fn reset(&mut self) {
        self.samples.clear();
        self.lost_seen = None;
        self.lost_logged_ns = None;
        if self.freeze.take().is_some() {
            if let Some(s) = self.pending.take() {
                self.shown = Some(s);
            }
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.view {
            View::Overview | View::Syscalls => {
                let rows = self.syscall_rows();
                if rows.is_empty() {
                    return;
                }
                let at = self.selected_index(&rows);
                let to = step(at, delta, rows.len());
                self.selected_nr = Some(rows[to].nr);
            }
            View::GoCode => {
                let rows = self.call_site_rows();
                if rows.is_empty() {
                    return;
                }
                let at = self.selected_site_index(&rows);
                let to = step(at, delta, rows.len());
                self.selected_site = Some(rows[to].site.clone());
            }
            View::Threads => {
                let n = self.shown.as_ref().map_or(0, |s| s.threads.len());
                self.thread_sel = step(self.thread_sel, delta, n.max(1));
            }
            View::Signals => {
                let n = self
                    .shown
                    .as_ref()
                    .map_or(0, |s| s.anomalies.len() + s.signals.len());
                self.signals_scroll = step(self.signals_scroll, delta, n.max(1));
            }
            // Up goes back in time: the scroll counts entries back from the newest.
            View::Log => {
                let n = self.log_entries().count();
                let back = step(self.log_scroll, delta.saturating_neg(), n.max(1));
                self.log_scroll = back;
            }
        }
    }

    /// The syscall rows on screen: filtered, then sorted by the sort column.
    pub fn syscall_rows(&self) -> Vec<&SyscallRow> {
        let Some(snap) = self.shown.as_ref() else {
            return Vec::new();
        };
        let mut rows: Vec<&SyscallRow> = snap
            .syscalls
            .iter()
            .filter(|r| self.filter.is_empty() || r.name.to_lowercase().contains(&self.filter))
            .collect();
        let rates = self.rates();
        let key = self.sort;
        rows.sort_by(|a, b| {
            let ord = match key {
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Rate => {
                    let (ra, rb) = (rates.of(a.nr).unwrap_or(0.0), rates.of(b.nr).unwrap_or(0.0));
                    rb.total_cmp(&ra)
                }
                _ => sort_value(b, key).cmp(&sort_value(a, key)),
            };
            let ord = if self.sort_reverse {
                ord.reverse()
            } else {
                ord
            };
            ord.then(b.total_ns.cmp(&a.total_ns)).then(a.nr.cmp(&b.nr))
        });
        rows
    }

    /// Where the selection is among `rows` (the first row when nothing is selected or
    /// the selected syscall is filtered out).
    pub fn selected_index(&self, rows: &[&SyscallRow]) -> usize {
        self.selected_nr
            .and_then(|nr| rows.iter().position(|r| r.nr == nr))
            .unwrap_or(0)
    }

    /// The call sites on screen: those whose function or file contains the filter,
    /// sorted by time or calls.
    pub fn call_site_rows(&self) -> Vec<&CallSiteRow> {
        let Some(snap) = self.shown.as_ref() else {
            return Vec::new();
        };
        let mut rows: Vec<&CallSiteRow> = snap
            .call_sites
            .iter()
            .filter(|r| {
                self.filter.is_empty()
                    || r.site.function.to_lowercase().contains(&self.filter)
                    || r.site.file.to_lowercase().contains(&self.filter)
            })
            .collect();
        rows.sort_by(|a, b| {
            let ord = match self.site_sort {
                SiteSort::Time => b.ns.cmp(&a.ns),
                SiteSort::Calls => b.calls.cmp(&a.calls),
            };
            let ord = if self.site_sort_reverse {
                ord.reverse()
            } else {
                ord
            };
            ord.then(b.ns.cmp(&a.ns))
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.site.cmp(&b.site))
        });
        rows
    }

    /// Where the selected call site is among `rows` (the first row when nothing is
    /// selected or the selected site is gone or filtered out).
    pub fn selected_site_index(&self, rows: &[&CallSiteRow]) -> usize {
        self.selected_site
            .as_ref()
            .and_then(|site| rows.iter().position(|r| &r.site == site))
            .unwrap_or(0)
    }

    /// History as the view sees it: everything, or up to the pause.
    fn visible_samples(&self) -> impl DoubleEndedIterator<Item = &Sample> + '_ {
        let limit = self.freeze.map_or(u64::MAX, |f| f.sample_limit);
        self.samples.iter().filter(move |s| s.seq < limit)
    }

    /// Rates over the last `refresh_hz` snapshots (about a second).
    pub fn rates(&self) -> Rates {
        let window: Vec<&Sample> = self
            .visible_samples()
            .rev()
            .take(self.refresh_hz as usize + 1)
            .collect();
        let (Some(now), Some(then)) = (window.first(), window.last()) else {
            return Rates::default();
        };
        let dt = now.duration_ns.saturating_sub(then.duration_ns);
        if dt == 0 {
            return Rates::default();
        }
        let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 * 1e9 / dt as f64;
        Rates {
            calls: Some(per_sec(now.total_calls, then.total_calls)),
            slow: Some(per_sec(now.slow_calls, then.slow_calls)),
            preempted: Some(per_sec(now.preempted, then.preempted)),
            per_syscall: now
                .calls
                .iter()
                .map(|(&nr, &c)| (nr, per_sec(c, then.calls.get(&nr).copied().unwrap_or(0))))
                .collect(),
        }
    }

    /// Calls per second of syscall `nr` (all syscalls when None) between consecutive
    /// snapshots, oldest first, at most `points` of them.
    pub fn rate_history(&self, nr: Option<u32>, points: usize) -> Vec<u64> {
        let samples: Vec<&Sample> = self.visible_samples().collect();
        let calls = |s: &Sample| match nr {
            Some(nr) => s.calls.get(&nr).copied().unwrap_or(0),
            None => s.total_calls,
        };
        let series: Vec<u64> = samples
            .windows(2)
            .map(|w| {
                let dt = w[1].duration_ns.saturating_sub(w[0].duration_ns);
                if dt == 0 {
                    return 0;
                }
                (calls(w[1]).saturating_sub(calls(w[0])) as f64 * 1e9 / dt as f64).round() as u64
            })
            .collect();
        series[series.len().saturating_sub(points)..].to_vec()
    }

    /// The log entries the view shows (up to the pause, filtered), oldest first.
    pub fn log_entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + '_ {
        let first_seq = self.log_pushed - self.log.len() as u64;
        let limit = self.freeze.map_or(u64::MAX, |f| f.log_limit);
        self.log
            .iter()
            .enumerate()
            .filter(move |(i, _)| first_seq + (*i as u64) < limit)
            .map(|(_, e)| e)
            .filter(|e| self.log_matches(e))
    }

    /// Entries in the log, before filtering.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    fn log_matches(&self, e: &LogEntry) -> bool {
        self.filter.is_empty()
            || e.kind.label() == self.filter
            || e.text.to_lowercase().contains(&self.filter)
    }

    fn record(&mut self, snap: &Snapshot) {
        // A shorter trace than the last one means the counters started again.
        if self
            .samples
            .back()
            .is_some_and(|s| snap.duration_ns < s.duration_ns)
        {
            self.samples.clear();
        }
        if self.samples.len() == HISTORY_CAPACITY {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            seq: self.next_seq,
            duration_ns: snap.duration_ns,
            total_calls: snap.total_calls,
            slow_calls: snap.slow_calls,
            preempted: snap.preemption.generated,
            calls: snap.syscalls.iter().map(|r| (r.nr, r.calls)).collect(),
        });
        self.next_seq += 1;
    }

    /// Lost records go into the log too, at most once a second.
    fn note_lost_records(&mut self, snap: &Snapshot) {
        let lost = snap.counters.lost_records;
        let Some(seen) = self.lost_seen else {
            self.lost_seen = Some(lost);
            return;
        };
        let recently = self
            .lost_logged_ns
            .is_some_and(|t| snap.duration_ns < t + 1_000_000_000);
        if lost > seen && !recently {
            self.lost_seen = Some(lost);
            self.lost_logged_ns = Some(snap.duration_ns);
            self.push_log(LogEntry {
                ts_ns: snap.duration_ns,
                kind: LogKind::Warning,
                text: format!(
                    "{} more records lost (ring buffer full; {} in all): event lists are incomplete, counts stay exact",
                    format_count(lost - seen),
                    format_count(lost)
                ),
            });
        }
    }
}

/// The value a numeric column sorts by.
fn sort_value(r: &SyscallRow, key: SortKey) -> u64 {
    match key {
        SortKey::Calls => r.calls,
        SortKey::Errors => r.errors,
        SortKey::Total => r.total_ns,
        SortKey::Avg => r.avg_ns,
        SortKey::P50 => r.p50_ns,
        SortKey::P99 => r.p99_ns,
        SortKey::Max => r.max_ns,
        SortKey::OnCpu => r.on_cpu_ns,
        SortKey::Runq => r.runq_ns,
        SortKey::Blocked => r.blocked_ns,
        SortKey::Name | SortKey::Rate => 0,
    }
}

/// `at + delta`, kept within `0..len`.
fn step(at: usize, delta: isize, len: usize) -> usize {
    let max = len.saturating_sub(1);
    if delta < 0 {
        at.min(max).saturating_sub(delta.unsigned_abs())
    } else {
        at.saturating_add(delta as usize).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::tests::{key, snapshot_with, KeyEventExt as _};

    #[test]
    fn views_switch_with_tab_and_numbers() {
        let mut app = App::new(4);
        assert_eq!(app.view(), View::Overview);
        for want in [
            View::Syscalls,
            View::Signals,
            View::Threads,
            View::Log,
            View::GoCode,
            View::Overview,
        ] {
            assert_eq!(app.on_key(key(KeyCode::Tab)), Action::None);
            assert_eq!(app.view(), want);
        }
        app.on_key(key(KeyCode::BackTab));
        assert_eq!(app.view(), View::GoCode);
        for (c, want) in [
            ('1', View::Overview),
            ('2', View::Syscalls),
            ('3', View::Signals),
            ('4', View::Threads),
            ('5', View::Log),
            ('6', View::GoCode),
        ] {
            app.on_key(key(KeyCode::Char(c)));
            assert_eq!(app.view(), want, "key {c}");
        }
        app.on_key(key(KeyCode::Char('9')));
        assert_eq!(app.view(), View::GoCode, "no view 9: nothing changes");
    }

    #[test]
    fn sort_cycles_through_every_column_and_reverses() {
        let mut app = App::new(4);
        app.on_snapshot(snapshot_with(1_000_000_000));
        assert_eq!(app.sort, SortKey::Total);
        let names = |app: &App| {
            app.syscall_rows()
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&app)[0], "futex", "largest total first");
        let mut seen = vec![app.sort];
        for _ in 0..SortKey::ALL.len() - 1 {
            app.on_key(key(KeyCode::Char('s')));
            seen.push(app.sort);
        }
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(
            app.sort,
            SortKey::Total,
            "back to the start after every column"
        );
        assert_eq!(seen.len(), SortKey::ALL.len());
        for k in SortKey::ALL {
            assert!(seen.contains(&k), "{k:?} never reached");
        }
        while app.sort != SortKey::Name {
            app.on_key(key(KeyCode::Char('s')));
        }
        let by_name = names(&app);
        let mut sorted = by_name.clone();
        sorted.sort();
        assert_eq!(by_name, sorted, "names ascend");
        app.on_key(key(KeyCode::Char('S')).shift());
        assert!(app.sort_reverse);
        sorted.reverse();
        assert_eq!(names(&app), sorted, "S reverses");
        app.on_key(key(KeyCode::Char('s')));
        assert!(
            !app.sort_reverse,
            "a new column starts in its natural order"
        );
        assert_eq!(app.sort, SortKey::Calls);
        let calls: Vec<u64> = app.syscall_rows().iter().map(|r| r.calls).collect();
        assert!(
            calls.windows(2).all(|w| w[0] >= w[1]),
            "calls descend: {calls:?}"
        );
    }

    #[test]
    fn selection_stays_in_bounds_and_follows_the_syscall() {
        let mut app = App::new(4);
        app.on_snapshot(snapshot_with(1_000_000_000));
        let n = app.syscall_rows().len();
        assert!(n > 3, "fixture has rows");
        app.on_key(key(KeyCode::Up));
        assert_eq!(
            app.selected_index(&app.syscall_rows()),
            0,
            "up at the top stays"
        );
        for _ in 0..n + 5 {
            app.on_key(key(KeyCode::Char('j')));
        }
        assert_eq!(
            app.selected_index(&app.syscall_rows()),
            n - 1,
            "down at the bottom stays"
        );
        app.on_key(key(KeyCode::Char('k')));
        assert_eq!(app.selected_index(&app.syscall_rows()), n - 2);
        app.on_key(key(KeyCode::Home));
        assert_eq!(app.selected_index(&app.syscall_rows()), 0);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.selected_index(&app.syscall_rows()), (n - 1).min(PAGE));
        app.on_key(key(KeyCode::End));
        let last = app.syscall_rows()[n - 1].nr;
        // Re-sorting moves the row; the selection goes with it.
        app.on_key(key(KeyCode::Char('S')));
        let rows = app.syscall_rows();
        assert_eq!(rows[app.selected_index(&rows)].nr, last);
        assert_eq!(app.selected_index(&rows), 0);
        // Other views move their own cursor, bounded by their own rows.
        app.on_key(key(KeyCode::Char('4')));
        for _ in 0..50 {
            app.on_key(key(KeyCode::Down));
        }
        let threads = app.snapshot().map_or(0, |s| s.threads.len());
        assert_eq!(app.thread_sel, threads - 1);
        // An empty app moves nothing and does not panic.
        let mut empty = App::new(4);
        for v in ['1', '2', '3', '4', '5', '6'] {
            empty.on_key(key(KeyCode::Char(v)));
            empty.on_key(key(KeyCode::Down));
            empty.on_key(key(KeyCode::Up));
            empty.on_key(key(KeyCode::End));
        }
    }

    #[test]
    fn filter_is_typed_applied_and_cancelled() {
        let mut app = App::new(4);
        app.on_snapshot(snapshot_with(1_000_000_000));
        app.push_log(LogEntry {
            ts_ns: 1,
            kind: LogKind::Syscall,
            text: "read 12 ms fs:fuse".into(),
        });
        app.push_log(LogEntry {
            ts_ns: 2,
            kind: LogKind::Signal,
            text: "SIGTERM from kill[77]".into(),
        });
        app.on_key(key(KeyCode::Char('/')));
        assert_eq!(app.filter_input(), Some(""));
        for c in "READq".chars() {
            // While typing, letters are text: q does not quit, 2 does not switch views.
            assert_eq!(app.on_key(key(KeyCode::Char(c))), Action::None);
        }
        app.on_key(key(KeyCode::Backspace));
        assert_eq!(app.filter_input(), Some("READ"));
        assert_eq!(app.filter(), "", "not applied before Enter");
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.filter_input(), None);
        assert_eq!(app.filter(), "read");
        let names: Vec<String> = app.syscall_rows().iter().map(|r| r.name.clone()).collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| n.contains("read")),
            "{names:?}"
        );
        let log: Vec<&str> = app.log_entries().map(|e| e.text.as_str()).collect();
        assert_eq!(log, ["read 12 ms fs:fuse"]);
        // Esc while typing keeps the applied filter.
        app.on_key(key(KeyCode::Char('/')));
        app.on_key(key(KeyCode::Char('x')));
        app.on_key(key(KeyCode::Esc));
        assert_eq!((app.filter(), app.filter_input()), ("read", None));
        // A kind name selects that kind.
        app.on_key(key(KeyCode::Char('/')));
        app.on_key(key(KeyCode::Char('u')).ctrl());
        for c in "signal".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Enter));
        let log: Vec<&str> = app.log_entries().map(|e| e.text.as_str()).collect();
        assert_eq!(log, ["SIGTERM from kill[77]"]);
        // Esc outside editing clears it.
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.filter(), "");
        assert_eq!(app.log_entries().count(), 2);
    }

    #[test]
    fn pause_freezes_the_view_while_snapshots_arrive() {
        let mut app = App::new(4);
        app.on_snapshot(snapshot_with(1_000_000_000));
        app.push_log(LogEntry {
            ts_ns: 1,
            kind: LogKind::Process,
            text: "before".into(),
        });
        app.on_key(key(KeyCode::Char('p')));
        assert!(app.paused());
        let frozen = app.snapshot().cloned();
        let frozen_rates = app.rate_history(None, 100);
        app.on_snapshot(snapshot_with(2_000_000_000));
        app.on_snapshot(snapshot_with(3_000_000_000));
        app.push_log(LogEntry {
            ts_ns: 2,
            kind: LogKind::Process,
            text: "during".into(),
        });
        assert_eq!(
            app.snapshot().cloned(),
            frozen,
            "the view keeps the frozen snapshot"
        );
        assert_eq!(app.rate_history(None, 100), frozen_rates, "and its history");
        assert_eq!(app.log_entries().count(), 1, "and its log");
        app.on_key(key(KeyCode::Char('p')));
        assert!(!app.paused());
        assert_eq!(
            app.snapshot().map(|s| s.duration_ns),
            Some(3_000_000_000),
            "the newest at once"
        );
        assert_eq!(
            app.rate_history(None, 100).len(),
            2,
            "history was kept while paused"
        );
        assert_eq!(app.log_entries().count(), 2);
        // Paused before anything arrived: nothing shows until resumed.
        let mut early = App::new(4);
        early.on_key(key(KeyCode::Char('p')));
        early.on_snapshot(snapshot_with(1_000_000_000));
        early.on_snapshot(snapshot_with(2_000_000_000));
        assert!(early.snapshot().is_none());
        assert!(early.rate_history(None, 10).is_empty());
        early.on_key(key(KeyCode::Char('p')));
        assert_eq!(early.rate_history(None, 10).len(), 1);
    }

    #[test]
    fn help_toggles_and_swallows_keys() {
        let mut app = App::new(4);
        app.on_key(key(KeyCode::Char('?')));
        assert!(app.help);
        app.on_key(key(KeyCode::Tab));
        assert_eq!(
            app.view(),
            View::Overview,
            "keys other than close/quit do nothing under help"
        );
        app.on_key(key(KeyCode::Char('?')));
        assert!(!app.help);
        app.on_key(key(KeyCode::Char('?')));
        app.on_key(key(KeyCode::Esc));
        assert!(!app.help);
        app.on_key(key(KeyCode::Char('?')));
        assert_eq!(
            app.on_key(key(KeyCode::Char('q'))),
            Action::Quit,
            "q quits from help too"
        );
    }

    #[test]
    fn quit_and_reset_are_actions() {
        let mut app = App::new(4);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(app.on_key(key(KeyCode::Char('c')).ctrl()), Action::Quit);
        app.on_key(key(KeyCode::Char('/')));
        assert_eq!(
            app.on_key(key(KeyCode::Char('c')).ctrl()),
            Action::Quit,
            "Ctrl-C quits while typing"
        );
        let mut app = App::new(4);
        app.on_snapshot(snapshot_with(1_000_000_000));
        app.on_snapshot(snapshot_with(2_000_000_000));
        app.on_key(key(KeyCode::Char('p')));
        assert_eq!(app.on_key(key(KeyCode::Char('r'))), Action::Reset);
        assert!(!app.paused(), "a reset shows its effect");
        assert!(
            app.rate_history(None, 10).is_empty(),
            "history starts again"
        );
        assert!(app.rates().calls.is_none());
        assert_eq!(app.on_key(key(KeyCode::Char('x'))), Action::None);
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(
            app.on_key(release),
            Action::None,
            "key releases are not presses"
        );
    }

    #[test]
    fn rates_come_from_history() {
        let mut app = App::new(2);
        assert_eq!(app.refresh_interval(), Duration::from_millis(500));
        let mut s = snapshot_with(1_000_000_000);
        app.on_snapshot(s.clone());
        assert!(app.rates().calls.is_none(), "one snapshot has no rate");
        for i in 2..=4u64 {
            s.duration_ns = i * 500_000_000 + 500_000_000;
            s.total_calls += 100;
            s.syscalls[0].calls += 50;
            app.on_snapshot(s.clone());
        }
        let r = app.rates();
        // Two intervals of 0.5 s with 100 calls each.
        assert_eq!(r.calls, Some(200.0));
        assert_eq!(r.of(s.syscalls[0].nr), Some(100.0));
        assert_eq!(app.rate_history(None, 10), [200, 200, 200]);
        assert_eq!(app.rate_history(Some(s.syscalls[0].nr), 2), [100, 100]);
        // A trace that starts again (shorter) restarts history.
        app.on_snapshot(snapshot_with(100));
        assert!(app.rates().calls.is_none());
    }

    #[test]
    fn the_log_is_a_bounded_ring_and_scrolling_holds_still() {
        let mut app = App::new(4);
        for i in 0..LOG_CAPACITY as u64 + 5 {
            app.push_log(LogEntry {
                ts_ns: i,
                kind: LogKind::Syscall,
                text: format!("e{i}"),
            });
        }
        assert_eq!(app.log_len(), LOG_CAPACITY);
        assert_eq!(
            app.log_entries().next().map(|e| e.ts_ns),
            Some(5),
            "oldest fell off"
        );
        app.on_key(key(KeyCode::Char('5')));
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.log_scroll, 2);
        app.push_log(LogEntry {
            ts_ns: 0,
            kind: LogKind::Syscall,
            text: "new".into(),
        });
        assert_eq!(app.log_scroll, 3, "the same entries stay on screen");
        app.on_key(key(KeyCode::End));
        assert_eq!(app.log_scroll, 0, "End follows the newest again");
        app.on_key(key(KeyCode::Home));
        assert_eq!(app.log_scroll, LOG_CAPACITY - 1);
    }

    #[test]
    fn lost_records_are_logged_once_a_second_at_most() {
        let mut app = App::new(4);
        let mut s = snapshot_with(1_000_000_000);
        s.counters.lost_records = 10;
        app.on_snapshot(s.clone());
        s.duration_ns += 250_000_000;
        s.counters.lost_records = 20;
        app.on_snapshot(s.clone());
        s.duration_ns += 1_000_000_000;
        app.on_snapshot(s.clone());
        let texts: Vec<&str> = app.log_entries().map(|e| e.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[0].starts_with("10 more records lost"), "{texts:?}");
        assert!(
            texts[1].starts_with("10 more records lost") && texts[1].contains("20 in all"),
            "{texts:?}"
        );
        assert!(app.log_entries().all(|e| e.kind == LogKind::Warning));
    }

    #[test]
    fn target_exit_banner() {
        let mut app = App::new(4);
        assert_eq!(app.exit_banner(), None);
        let mut s = snapshot_with(1_000_000_000);
        s.target_exit = Some(crate::analysis::ExitStatus::Code(3));
        app.on_snapshot(s);
        assert_eq!(app.exit_banner().as_deref(), Some("exited with code 3"));
        app.set_target_exited("exited with code 3 after 2.00 s".into());
        assert_eq!(
            app.exit_banner().as_deref(),
            Some("exited with code 3 after 2.00 s")
        );
    }
}
