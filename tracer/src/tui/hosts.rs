//! Host-wide mode's dashboard (`--all` on a terminal): the machine's traced Go
//! processes in a sortable list; Enter opens one in the dashboard of a single process
//! (every view, as `--pid` shows it), Esc goes back to the list.
//!
//! [`Hosts`] is pure like [`App`]: rows, snapshots and keys go in, [`HostAction`]s
//! come out, and [`render_hosts`] draws it without I/O.
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use super::{
    format::{bold, dim, format_share, truncate},
    view::{defuse, render_in},
    Action, App,
};
use crate::{
    analysis::{HostRow, Snapshot},
    export::text::terminal_safe,
    present::{format_count, format_ns},
};

/// The facts above the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostHeader {
    /// Processes traced now.
    pub traced: u64,
    /// Go processes left without a slot.
    pub untraced: u64,
    pub lost_records: u64,
    /// The `--cgroup` subtree.
    pub cgroup: Option<String>,
    pub duration_ns: u64,
}

/// The list's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSort {
    SyscallTime,
    Blocked,
    Throttled,
    /// GOMAXPROCS over the CPU quota first, then by how far over.
    Gomaxprocs,
    LostSigchld,
}

impl HostSort {
    const ALL: [HostSort; 5] = [
        HostSort::SyscallTime,
        HostSort::Blocked,
        HostSort::Throttled,
        HostSort::Gomaxprocs,
        HostSort::LostSigchld,
    ];

    pub fn title(self) -> &'static str {
        match self {
            HostSort::SyscallTime => "syscall time",
            HostSort::Blocked => "blocked share",
            HostSort::Throttled => "throttled",
            HostSort::Gomaxprocs => "GOMAXPROCS verdict",
            HostSort::LostSigchld => "lost SIGCHLDs",
        }
    }

    fn next(self) -> HostSort {
        let i = HostSort::ALL.iter().position(|s| *s == self).unwrap_or(0);
        HostSort::ALL[(i + 1) % HostSort::ALL.len()]
    }

    /// Most first.
    fn key(self, r: &HostRow) -> (u64, u64) {
        match self {
            HostSort::SyscallTime => (r.syscall_ns, 0),
            HostSort::Blocked => ((r.blocked_share * 1e6) as u64, r.syscall_ns),
            HostSort::Throttled => (r.throttled_ns, r.syscall_ns),
            HostSort::Gomaxprocs => {
                let over = match (r.gomaxprocs, r.cpu_quota) {
                    (Some(g), Some(q)) if q > 0.0 => (f64::from(g) / q * 1000.0) as u64,
                    _ => 0,
                };
                (u64::from(r.gomaxprocs_exceeds_quota), over)
            }
            HostSort::LostSigchld => (r.lost_sigchld, r.syscall_ns),
        }
    }
}

/// What the session should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAction {
    None,
    Quit,
    /// Reset the counters of this process (r in its dashboard).
    Reset(u32),
}

/// The state of host-wide mode's dashboard.
#[derive(Debug)]
pub struct Hosts {
    refresh_hz: u32,
    rows: Vec<HostRow>,
    header: HostHeader,
    pub(super) sort: HostSort,
    pub(super) reverse: bool,
    /// The selected process, by pid, so it stays selected as rows reorder.
    selected: Option<u32>,
    /// The process opened, with its dashboard.
    open: Option<(u32, App)>,
}

/// Rows a page key moves by.
const PAGE: usize = 10;

impl Hosts {
    /// `refresh_hz`: how often the session gives rows and snapshots.
    pub fn new(refresh_hz: u32) -> Hosts {
        Hosts {
            refresh_hz,
            rows: Vec::new(),
            header: HostHeader::default(),
            sort: HostSort::SyscallTime,
            reverse: false,
            selected: None,
            open: None,
        }
    }

    /// The processes as they are now.
    pub fn on_rows(&mut self, rows: Vec<HostRow>, header: HostHeader) {
        self.rows = rows;
        self.header = header;
    }

    /// The process whose dashboard is open.
    pub fn opened(&self) -> Option<u32> {
        self.open.as_ref().map(|(pid, _)| *pid)
    }

    /// A snapshot of the opened process.
    pub fn on_snapshot(&mut self, snap: Snapshot) {
        if let Some((_, app)) = self.open.as_mut() {
            app.on_snapshot(snap);
        }
    }

    /// The opened process's dashboard.
    pub fn app(&self) -> Option<&App> {
        self.open.as_ref().map(|(_, a)| a)
    }

    /// The rows in the list's order.
    pub fn rows(&self) -> Vec<&HostRow> {
        let mut rows: Vec<&HostRow> = self.rows.iter().collect();
        let sort = self.sort;
        rows.sort_by(|a, b| {
            sort.key(b)
                .cmp(&sort.key(a))
                .then_with(|| a.pid.cmp(&b.pid))
        });
        if self.reverse {
            rows.reverse();
        }
        rows
    }

    /// The selected row's index in [`Hosts::rows`].
    pub fn selected_index(&self, rows: &[&HostRow]) -> usize {
        self.selected
            .and_then(|pid| rows.iter().position(|r| r.pid == pid))
            .unwrap_or(0)
    }

    pub fn on_key(&mut self, key: KeyEvent) -> HostAction {
        if key.kind == KeyEventKind::Release {
            return HostAction::None;
        }
        if let Some((pid, app)) = self.open.as_mut() {
            let pid = *pid;
            // Esc goes back once the dashboard has nothing of its own to close.
            let idle = app.filter_input().is_none() && !app.help && app.filter().is_empty();
            if idle && matches!(key.code, KeyCode::Esc | KeyCode::Backspace) {
                self.open = None;
                return HostAction::None;
            }
            return match app.on_key(key) {
                Action::Quit => HostAction::Quit,
                Action::Reset => HostAction::Reset(pid),
                Action::None => HostAction::None,
            };
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl {
            return if matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
                HostAction::Quit
            } else {
                HostAction::None
            };
        }
        match key.code {
            KeyCode::Char('q') => return HostAction::Quit,
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(PAGE as isize)),
            KeyCode::PageDown => self.move_by(PAGE as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX),
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.reverse = false;
            }
            KeyCode::Char('S') => self.reverse = !self.reverse,
            KeyCode::Enter => {
                let rows = self.rows();
                if let Some(r) = rows.get(self.selected_index(&rows)) {
                    let pid = r.pid;
                    self.selected = Some(pid);
                    self.open = Some((pid, App::new(self.refresh_hz)));
                }
            }
            _ => {}
        }
        HostAction::None
    }

    fn move_by(&mut self, by: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_index(&rows) as isize;
        let to = at.saturating_add(by).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[to].pid);
    }
}

/// Draws host-wide mode's dashboard: a pure function of `hosts`.
pub fn render_hosts(frame: &mut Frame, hosts: &Hosts) {
    let area = frame.area();
    if let Some((pid, app)) = &hosts.open {
        let [body, back] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        render_in(frame, body, app);
        let line = Line::from(vec![
            Span::styled(" esc", bold()),
            Span::styled(
                format!(" back to the process list (showing pid {pid})"),
                dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), back);
        defuse(frame.buffer_mut());
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, hosts);
    render_list(frame, body, hosts);
    let mut spans = Vec::new();
    for (k, what) in [
        ("q", "quit"),
        ("j/k", "move"),
        ("enter", "open"),
        ("s/S", "sort"),
    ] {
        spans.push(Span::styled(format!(" {k}"), bold()));
        spans.push(Span::styled(format!(" {what} "), dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), footer);
    defuse(frame.buffer_mut());
}

fn render_header(frame: &mut Frame, area: Rect, hosts: &Hosts) {
    let h = &hosts.header;
    let w = area.width as usize;
    let mut first = vec![
        Span::styled(" gotrace --all ", bold()),
        Span::raw(format!(
            "· {} Go process{} traced{} · {}",
            format_count(h.traced),
            if h.traced == 1 { "" } else { "es" },
            h.cgroup
                .as_deref()
                .map(|c| format!(" in cgroup {}", terminal_safe(c)))
                .unwrap_or_default(),
            format_ns(h.duration_ns)
        )),
    ];
    let warn = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
    if h.untraced > 0 {
        first.push(Span::styled(
            format!(" · {} without a slot", format_count(h.untraced)),
            warn,
        ));
    }
    if h.lost_records > 0 {
        first.push(Span::styled(
            format!(" · {} lost records", format_count(h.lost_records)),
            warn,
        ));
    }
    let second = Line::styled(
        truncate(
            &format!(
                " sorted by {}{}",
                hosts.sort.title(),
                if hosts.reverse { ", reversed" } else { "" }
            ),
            w,
        ),
        dim(),
    );
    frame.render_widget(Paragraph::new(vec![Line::from(first), second]), area);
}

fn render_list(frame: &mut Frame, area: Rect, hosts: &Hosts) {
    let block = Block::bordered().title(" processes ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = hosts.rows();
    let w = inner.width as usize;
    let mut lines = vec![Line::styled(
        truncate(
            &columns([
                "PID",
                "COMMAND",
                "GO",
                "SYSCALLS",
                "BLOCKED",
                "THROTTLED",
                "GOMAXPROCS",
                "LOST",
                "CGROUP",
            ]),
            w,
        ),
        bold(),
    )];
    if rows.is_empty() {
        lines.push(Line::styled(
            "no Go process traced yet: one that starts is picked up within 100 ms",
            dim(),
        ));
    }
    let selected = hosts.selected_index(&rows);
    let visible = (inner.height as usize).saturating_sub(1);
    let skip = selected.saturating_sub(visible.saturating_sub(1));
    for (i, r) in rows.iter().enumerate().skip(skip).take(visible) {
        // GOMAXPROCS against the quota in CPUs, when there is one.
        let gomaxprocs = match (r.gomaxprocs, r.cpu_quota) {
            (Some(g), Some(q)) => format!("{g}/{q:.1}"),
            (Some(g), None) => g.to_string(),
            (None, _) => "-".into(),
        };
        let text = columns([
            &r.pid.to_string(),
            &terminal_safe(&r.comm),
            r.go_version.as_deref().unwrap_or("-"),
            &format_ns(r.syscall_ns),
            &format_share(r.blocked_share),
            &format_ns(r.throttled_ns),
            &gomaxprocs,
            &r.lost_sigchld.to_string(),
            &format!(
                "{}{}",
                terminal_safe(r.cgroup.as_deref().unwrap_or("-")),
                if r.exited { " (exited)" } else { "" }
            ),
        ]);
        let mut style = Style::new();
        if r.gomaxprocs_exceeds_quota || r.lost_sigchld > 0 {
            style = style.fg(Color::Red);
        }
        if r.exited {
            style = dim();
        }
        if i == selected {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::styled(truncate(&text, w), style));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A row of the list: each column cut to its width (numbers to the right), the cgroup
/// last with the rest of the line. 76 columns before the cgroup: an 80-column terminal
/// shows every figure.
fn columns(c: [&str; 9]) -> String {
    format!(
        "{:>7} {:<12} {:<9} {:>10} {:>7} {:>9} {:>10} {:>4} {}",
        truncate(c[0], 7),
        truncate(c[1], 12),
        truncate(c[2], 9),
        truncate(c[3], 10),
        truncate(c[4], 7),
        truncate(c[5], 9),
        truncate(c[6], 10),
        truncate(c[7], 4),
        c[8]
    )
}
