//! The log of notable events: slow syscalls with their cause, signals, process and child
//! lifecycle, gotrace's own warnings. Newest at the bottom, like `tail -f`.
use ratatui::{
    layout::Rect,
    style::{Color, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use crate::{
    present::format_count,
    tui::{
        app::App,
        format::{dim, format_offset, truncate, width},
        LogEntry, LogKind,
    },
};

fn kind_style(k: LogKind) -> Style {
    Style::new().fg(match k {
        LogKind::Syscall => Color::Yellow,
        LogKind::Signal => Color::Magenta,
        LogKind::Process => Color::Cyan,
        LogKind::Child => Color::Blue,
        LogKind::Warning => Color::Red,
    })
}

fn entry_line(e: &LogEntry, w: usize) -> Line<'static> {
    let ts = format_offset(e.ts_ns);
    let kind = format!("{:<8}", e.kind.label());
    let room = w.saturating_sub(width(&ts) + kind.len() + 3);
    Line::from(vec![
        Span::styled(format!("{ts:>10} "), dim()),
        Span::styled(kind, kind_style(e.kind)),
        Span::raw(" "),
        Span::raw(truncate(&e.text, room)),
    ])
}

/// The log view.
pub fn log(frame: &mut Frame, area: Rect, app: &App) {
    log_pane(frame, area, app, " Log ");
}

/// The log, filtered and scrolled, in a bordered pane titled `title`.
pub fn log_pane(frame: &mut Frame, area: Rect, app: &App, title: &str) {
    let entries: Vec<&LogEntry> = app.log_entries().collect();
    let mut spans = vec![Span::raw(title.to_string())];
    spans.push(Span::styled(
        format!("· {} entries ", format_count(app.log_len() as u64)),
        dim(),
    ));
    if !app.filter().is_empty() {
        spans.push(Span::styled(
            format!(
                "· \"{}\": {} ",
                app.filter(),
                format_count(entries.len() as u64)
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    if app.log_scroll > 0 {
        spans.push(Span::styled(
            format!("· {} back, End follows ", app.log_scroll),
            Style::new().fg(Color::Yellow),
        ));
    }
    let block = Block::bordered().title(Line::from(spans));
    let inner = block.inner(area);
    if entries.is_empty() {
        let msg = if app.log_len() == 0 {
            "nothing notable yet: slow syscalls, signals and process events appear here"
        } else {
            "no entry matches the filter"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, dim())).block(block), area);
        return;
    }
    let end = entries
        .len()
        .saturating_sub(app.log_scroll.min(entries.len() - 1));
    let start = end.saturating_sub(inner.height as usize);
    let lines: Vec<Line> = entries[start..end]
        .iter()
        .map(|e| entry_line(e, inner.width as usize))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
