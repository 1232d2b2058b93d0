//! The frame: header, tabs, the current view, the footer, and the help overlay.
use ratatui::{
    layout::{Constraint, Flex, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Tabs},
    Frame,
};

use super::{
    app::{App, Rates},
    format::{alarm, bold, dim, format_bytes, format_rate, line_width, truncate, width},
    panes::{self, Ctx},
    View,
};
use crate::{
    analysis::Snapshot,
    present::{format_count, format_ns, pressure_text},
};

/// Below this the dashboard only says it needs more room.
const MIN_WIDTH: u16 = 40;
const MIN_HEIGHT: u16 = 12;

/// Draws the dashboard: a pure function of `app` (no I/O, no clock).
pub fn render(frame: &mut Frame, app: &App) {
    render_in(frame, frame.area(), app);
}

/// Draws the dashboard into `area` of the frame (host-wide mode keeps a line below it).
pub fn render_in(frame: &mut Frame, area: Rect, app: &App) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = Paragraph::new(vec![
            Line::from("terminal too small"),
            Line::from(format!(
                "{}x{}: gotrace needs {MIN_WIDTH}x{MIN_HEIGHT}, 80x24 is best",
                area.width, area.height
            )),
        ]);
        frame.render_widget(msg, area);
        return;
    }
    let banner = app.exit_banner();
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(3 + u16::from(banner.is_some())),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let rates = app.rates();
    let snap = app.snapshot();
    render_header(frame, header, app, snap, &rates, banner.as_deref());
    render_tabs(frame, tabs, app, snap);
    match snap {
        Some(snap) => {
            let rows = app.syscall_rows();
            let ctx = Ctx {
                app,
                snap,
                selected: app.selected_index(&rows),
                rows,
                rates,
            };
            match app.view() {
                View::Overview => panes::overview(frame, body, &ctx),
                View::Syscalls => panes::syscalls(frame, body, &ctx),
                View::Signals => panes::signals(frame, body, &ctx),
                View::Threads => panes::threads(frame, body, &ctx),
                View::Log => panes::log(frame, body, app),
                View::GoCode => panes::gocode(frame, body, &ctx),
            }
        }
        None => {
            let waiting = Paragraph::new(Line::styled(
                "waiting for the first numbers from the kernel…",
                dim(),
            ))
            .centered()
            .block(Block::bordered());
            frame.render_widget(waiting, body);
        }
    }
    render_footer(frame, footer, app);
    if app.help {
        render_help(frame, area);
    }
    defuse(frame.buffer_mut());
}

/// Nothing reaches the terminal as a control character: the screen shows what the
/// target controls (its argv, its threads' comm, paths), and ratatui writes a cell's
/// text as it is, so an ESC there would be obeyed by the terminal. Each becomes U+FFFD,
/// one cell wide like the cell it is in, so the layout stays as drawn.
pub(super) fn defuse(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(char::is_control) {
            let shown: String = cell
                .symbol()
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            cell.set_symbol(&shown);
        }
    }
}

fn render_header(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snap: Option<&Snapshot>,
    rates: &Rates,
    banner: Option<&str>,
) {
    let w = area.width as usize;
    let badge = if app.paused() {
        Span::styled(
            " PAUSED ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    } else if banner.is_some() {
        Span::styled(" ENDED ", Style::new().fg(Color::Black).bg(Color::Yellow))
    } else {
        Span::styled(" ● LIVE ", Style::new().fg(Color::Green))
    };
    let mut lines = vec![
        identity_line(snap, w.saturating_sub(width(&badge.content))),
        rates_line(snap, rates),
        system_line(snap),
    ];
    if let Some(msg) = banner {
        let text = format!(" ■ target {msg} · these are the final numbers · q quits ");
        lines.push(Line::styled(
            format!("{:<w$}", truncate(&text, w)),
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
    let badge_w = width(&badge.content) as u16;
    let badge_area = Rect {
        x: area.right().saturating_sub(badge_w),
        width: badge_w.min(area.width),
        height: 1,
        ..area
    };
    frame.render_widget(Paragraph::new(Line::from(badge)), badge_area);
}

/// gotrace · pid · command · Go version · uptime, the command cut to what is left.
fn identity_line(snap: Option<&Snapshot>, room: usize) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            " gotrace ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
    ];
    let Some(s) = snap else {
        spans.push(Span::styled("starting…", dim()));
        return Line::from(spans);
    };
    spans.push(Span::styled(format!("pid {}", s.target.pid), bold()));
    let go = match &s.target.go_version {
        Some(v) => Span::raw(format!(" · {v}")),
        None => Span::styled(" · not a Go binary", dim()),
    };
    let up = Span::raw(format!(" · up {}", format_ns(s.duration_ns)));
    let fixed = line_width(&spans) + width(&go.content) + width(&up.content) + 2;
    let cmd = truncate(&s.target.command_line(), room.saturating_sub(fixed).max(8));
    spans.push(Span::raw(" "));
    spans.push(Span::styled(cmd, Style::new().fg(Color::Cyan)));
    spans.push(go);
    spans.push(up);
    Line::from(spans)
}

/// Lost records first (loud when any), then event rates.
fn rates_line(snap: Option<&Snapshot>, rates: &Rates) -> Line<'static> {
    let Some(s) = snap else {
        return Line::default();
    };
    let mut spans = Vec::new();
    // What the kernel could not hand over: loud, before anything else.
    for (n, what, note) in [
        (
            s.counters.lost_records,
            "LOST RECORDS",
            "ring buffer full: event lists incomplete, counts exact",
        ),
        (
            s.counters.slot_collisions,
            "CALLS LOST",
            "tid slot collisions: not counted",
        ),
        (
            s.counters.threads_untracked,
            "THREADS UNTRACKED",
            "thread table full",
        ),
    ] {
        if n > 0 {
            spans.push(Span::styled(
                format!(" !! {} {what} ", format_count(n)),
                Style::new()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(format!(" {note} · "), alarm()));
        }
    }
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_string(), format_rate);
    spans.push(Span::raw(format!(
        " {} calls/s · {} slow/s · {} preempt/s · {} calls, {} errors, {} in syscalls",
        rate(rates.calls),
        rate(rates.slow),
        rate(rates.preempted),
        format_count(s.total_calls),
        format_count(s.total_errors),
        format_ns(s.total_ns),
    )));
    if s.counters.lost_records == 0 {
        spans.push(Span::styled(" · 0 lost", dim()));
    }
    if s.bad_records > 0 {
        spans.push(Span::styled(
            format!(" · {} undecodable records", format_count(s.bad_records)),
            alarm(),
        ));
    }
    Line::from(spans)
}

/// The GOMAXPROCS verdict, the cgroup, pressure.
fn system_line(snap: Option<&Snapshot>) -> Line<'static> {
    let Some(s) = snap else {
        return Line::default();
    };
    let mut spans = vec![Span::raw(" ")];
    spans.extend(gomaxprocs_verdict(s));
    let sys = &s.system;
    match &sys.cgroup {
        Some(c) => {
            let quota = c.cpu_quota_cpus.map_or_else(
                || "no CPU quota".to_string(),
                |q| format!("quota {q:.1} CPUs"),
            );
            spans.push(Span::raw(format!(" · cgroup v{} {quota}", c.version)));
            if let Some(m) = c.memory_limit {
                spans.push(Span::raw(format!(", memory {}", format_bytes(m))));
            }
            let style = if c.throttled_ns > 0 {
                alarm()
            } else {
                Style::new()
            };
            spans.push(Span::styled(
                format!(
                    ", throttled {} ({}×)",
                    format_ns(c.throttled_ns),
                    format_count(c.nr_throttled)
                ),
                style,
            ));
        }
        None => spans.push(Span::styled(" · cgroup: not known yet", dim())),
    }
    spans.push(Span::raw(format!(
        " · poller {}",
        super::panes::poller_verdict(&s.poller)
    )));
    if let Some(p) = &sys.psi {
        spans.push(Span::styled(format!(" · PSI {}", pressure_text(p)), dim()));
    }
    Line::from(spans)
}

/// "GOMAXPROCS 8 > 2.0 CPUs" (bad), "GOMAXPROCS 4 ≤ 8.0 CPUs" (fine), or what is known.
pub(super) fn gomaxprocs_verdict(s: &Snapshot) -> Vec<Span<'static>> {
    let sys = &s.system;
    match (sys.gomaxprocs, sys.effective_cpus) {
        (Some(g), Some(c)) if sys.gomaxprocs_exceeds_quota => vec![Span::styled(
            format!("✗ GOMAXPROCS {g} > {c:.1} CPUs allowed: expect CPU throttling"),
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        )],
        (Some(g), Some(c)) => vec![Span::styled(
            format!("✓ GOMAXPROCS {g} ≤ {c:.1} CPUs"),
            Style::new().fg(Color::Green),
        )],
        (Some(g), None) => vec![Span::raw(format!("GOMAXPROCS {g}"))],
        (None, _) if s.target.go_version.is_some() => {
            vec![Span::styled("GOMAXPROCS: not known yet", dim())]
        }
        (None, Some(c)) => vec![Span::raw(format!("{c:.1} CPUs"))],
        (None, None) => vec![Span::styled("CPUs: not known yet", dim())],
    }
}

fn render_tabs(frame: &mut Frame, area: Rect, app: &App, snap: Option<&Snapshot>) {
    let anomalies = snap.map_or(0, |s| s.anomalies.len());
    let titles = |title: fn(View) -> &'static str| -> Vec<Line> {
        View::ALL
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut spans = vec![
                    Span::styled(format!("{}", i + 1), bold()),
                    Span::raw(format!(" {}", title(v))),
                ];
                if v == View::Signals && anomalies > 0 {
                    spans.push(Span::styled(format!(" !{anomalies}"), alarm()));
                }
                Line::from(spans)
            })
            .collect()
    };
    // Each title has a space either side and a divider between: the short titles when
    // the full ones do not fit, so every view's number stays on screen.
    let full = titles(View::title);
    let full_w: usize = full.iter().map(|l| line_width(&l.spans) + 3).sum::<usize>() - 1;
    let titles = if full_w <= area.width as usize {
        full
    } else {
        titles(View::short_title)
    };
    let tabs = Tabs::new(titles)
        .select(app.view().index())
        .style(dim())
        .highlight_style(
            Style::new()
                .fg(Color::Black)
                .bg(Color::White)
                .add_modifier(Modifier::BOLD),
        )
        .divider("│");
    frame.render_widget(tabs, area);
}

fn render_footer(frame: &mut Frame, area: Rect, app: &App) {
    let line = match app.filter_input() {
        Some(input) => Line::from(vec![
            Span::styled(" filter: ", bold()),
            Span::raw(input.to_string()),
            Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled("   Enter apply · Esc cancel · Ctrl-U clear", dim()),
        ]),
        None => {
            let mut spans = Vec::new();
            for (k, what) in [
                ("q", "quit"),
                ("p", if app.paused() { "resume" } else { "pause" }),
                ("tab", "view"),
                ("j/k", "move"),
                ("s/S", "sort"),
                ("/", "filter"),
                ("r", "reset"),
                ("?", "help"),
            ] {
                spans.push(Span::styled(format!(" {k}"), bold()));
                spans.push(Span::styled(format!(" {what} "), dim()));
            }
            if !app.filter().is_empty() {
                spans.push(Span::styled(
                    format!(" filter \"{}\" (Esc clears)", app.filter()),
                    Style::new().fg(Color::Yellow),
                ));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit (the summary is printed after)"),
    ("p, space", "pause the view (tracing goes on)"),
    ("tab, shift-tab", "next / previous view"),
    (
        "1 … 6",
        "overview, syscalls, signals, threads, log, Go code",
    ),
    ("↑ ↓, j k", "move the selection, scroll"),
    ("PgUp PgDn", "move by 10"),
    ("g G, Home End", "first / last (End follows the log)"),
    ("s", "sort by the next column (syscalls, Go code)"),
    ("S", "reverse the sort"),
    ("/", "filter syscall names, Go code and log text"),
    ("Esc", "clear the filter"),
    ("r", "reset the counters"),
    ("?", "this help"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<15}"), bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(
        " split bars: █ on a CPU  ▒ waiting for a CPU  ░ blocked",
        dim(),
    ));
    lines.push(Line::styled(
        " p99 = X: 99% of calls took at most X (within 25%)",
        dim(),
    ));
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = 68.min(area.width);
    let [popup] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" keys ")
                .title_bottom(Line::from(" ? or Esc closes ").right_aligned()),
        ),
        popup,
    );
}
