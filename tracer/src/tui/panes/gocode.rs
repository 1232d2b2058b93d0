//! The Go code view: the streamed slow calls by their Go call site (the innermost frame
//! outside the runtime, `syscall`, `os` and `internal/*`), sortable by time or calls,
//! and the selected site's stack, causes, syscalls and goroutines.
//!
//! Function names and paths come from the target's binary: each goes through
//! `terminal_safe` (an escape shows as `\x1b`) before it is cut to its width.
use gotrace_model::stack::{is_plumbing, Frame as StackFrame};
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Table, TableState, Wrap},
    Frame,
};

use super::{selectable, Ctx};
use crate::{
    analysis::callsites::CallSiteRow,
    export::text::terminal_safe,
    present::{format_count, format_ns},
    tui::{
        format::{
            bold, cause_color, dim, format_share, line_width, truncate, truncate_middle, width,
        },
        SiteSort,
    },
};

/// A column of the call site table besides the site itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Time,
    Calls,
    Max,
    Cause,
    Goroutines,
}

impl Col {
    /// Display order.
    const ALL: [Col; 5] = [Col::Time, Col::Calls, Col::Max, Col::Cause, Col::Goroutines];
    /// What stays when there is little room, most wanted first.
    const PRIORITY: [Col; 5] = [Col::Time, Col::Calls, Col::Cause, Col::Goroutines, Col::Max];

    fn width(self) -> u16 {
        match self {
            Col::Time | Col::Max => 9,
            Col::Calls => 8,
            Col::Cause => 14,
            Col::Goroutines => 10,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Col::Time => "time",
            Col::Calls => "calls",
            Col::Max => "max",
            Col::Cause => "top cause",
            Col::Goroutines => "goroutines",
        }
    }

    fn sorts(self, sort: SiteSort) -> bool {
        matches!(
            (self, sort),
            (Col::Time, SiteSort::Time) | (Col::Calls, SiteSort::Calls)
        )
    }
}

/// The site column never gets less than this while another column could go.
const SITE_MIN: u16 = 24;

/// The site's width and the columns that fit in `room`; the sort column always does.
fn fit_columns(room: u16, sort: SiteSort) -> (u16, Vec<Col>) {
    let mut budget = room.saturating_sub(SITE_MIN);
    let mut chosen = Vec::new();
    let sort_col = Col::ALL.into_iter().find(|c| c.sorts(sort));
    for c in sort_col.into_iter().chain(Col::PRIORITY) {
        if !chosen.contains(&c) && c.width() < budget {
            budget -= c.width() + 1;
            chosen.push(c);
        }
    }
    let used: u16 = chosen.iter().map(|c| c.width() + 1).sum();
    (
        room.saturating_sub(used),
        Col::ALL
            .into_iter()
            .filter(|c| chosen.contains(c))
            .collect(),
    )
}

fn sort_arrow(reverse: bool) -> &'static str {
    if reverse {
        "▲"
    } else {
        "▼"
    }
}

/// Rows the table keeps before the close-up gets any: borders, header and four sites.
const TABLE_MIN_HEIGHT: u16 = 7;

/// Width from which the stack and the rest of the close-up are side by side.
const SIDE_BY_SIDE_MIN_WIDTH: u16 = 100;

/// The call sites, and below them the selected one's stack and numbers.
pub fn gocode(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let rows = ctx.app.call_site_rows();
    if rows.is_empty() {
        table(frame, area, ctx, &rows, 0);
        return;
    }
    let selected = ctx.app.selected_site_index(&rows);
    // The table keeps a few rows; a close-up of less than two lines is left out.
    let detail_h = if area.height >= 30 { 18 } else { 10 };
    let detail_h = detail_h.min(area.height.saturating_sub(TABLE_MIN_HEIGHT));
    if detail_h < 4 {
        table(frame, area, ctx, &rows, selected);
        return;
    }
    // The table as tall as its rows (the close-up gets the rest), down to its minimum.
    let table_h = (rows.len().min(1_000) as u16 + 3).max(TABLE_MIN_HEIGHT);
    let [top, bottom] =
        Layout::vertical([Constraint::Max(table_h), Constraint::Min(detail_h)]).areas(area);
    table(frame, top, ctx, &rows, selected);
    let row = rows[selected.min(rows.len() - 1)];
    // The site in the title of the pane its stack is in.
    let title = |w: u16| {
        let mut spans = vec![Span::raw(" ")];
        spans.extend(site_spans(
            &row.site,
            (w as usize).saturating_sub(4),
            bold(),
        ));
        spans.push(Span::raw(" "));
        Line::from(spans)
    };
    if bottom.width >= SIDE_BY_SIDE_MIN_WIDTH {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(bottom);
        let block = Block::bordered().title(title(left.width)).title_bottom(
            Line::styled(" the stack of its slowest call, innermost first ", dim()).right_aligned(),
        );
        let inner = block.inner(left);
        frame.render_widget(block, left);
        let lines = stack_lines(row, inner.width as usize, inner.height as usize);
        frame.render_widget(Paragraph::new(lines), inner);
        let block = Block::bordered().title(" calls, causes, goroutines ");
        let inner = block.inner(right);
        frame.render_widget(block, right);
        let lines = facts_lines(row, inner.width as usize, true);
        frame.render_widget(Paragraph::new(lines), inner);
    } else {
        let block = Block::bordered().title(title(bottom.width)).title_bottom(
            Line::styled(
                " above: the stack of its slowest call, innermost first ",
                dim(),
            )
            .right_aligned(),
        );
        let inner = block.inner(bottom);
        frame.render_widget(block, bottom);
        let w = inner.width as usize;
        let mut lines = facts_lines(row, w, false);
        let room = (inner.height as usize).saturating_sub(lines.len());
        lines.extend(stack_lines(row, w, room));
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// The call site table in a bordered block, the selected row marked; or why it is empty.
fn table(frame: &mut Frame, area: Rect, ctx: &Ctx, rows: &[&CallSiteRow], selected: usize) {
    let app = ctx.app;
    let snap = ctx.snap;
    let sites = snap.call_sites.len();
    let mut title = vec![Span::raw(" Go code ")];
    if app.filter().is_empty() {
        title.push(Span::styled(
            format!(
                "· {} call site{} ",
                sites,
                if sites == 1 { "" } else { "s" }
            ),
            dim(),
        ));
    } else {
        title.push(Span::styled(
            format!("· \"{}\": {} of {sites} ", app.filter(), rows.len()),
            Style::new().fg(Color::Yellow),
        ));
    }
    let arrow = sort_arrow(app.site_sort_reverse);
    title.push(Span::styled(
        format!("· sorted by {} {arrow} ", app.site_sort.title()),
        dim(),
    ));
    if snap.call_sites_other > 0 {
        title.push(Span::styled(
            format!(
                "· {} calls at sites not kept ",
                format_count(snap.call_sites_other)
            ),
            dim(),
        ));
    }
    let block = Block::bordered().title(Line::from(title)).title_bottom(
        Line::styled(
            " site: the innermost frame outside runtime, syscall, os, internal ",
            dim(),
        )
        .right_aligned(),
    );
    if rows.is_empty() {
        let msg = if sites > 0 {
            format!(
                "no call site's function or file contains \"{}\"",
                app.filter()
            )
        } else if snap.target.go_version.is_none() {
            "no Go call sites: the target is not a Go binary".to_string()
        } else {
            "no slow call with a Go stack yet: goroutines' calls over --slow show here".to_string()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, dim()))
                .centered()
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    // One column goes to the selection mark.
    let (site_w, cols) = fit_columns(inner.width.saturating_sub(1), app.site_sort);
    let header = Row::new(
        [Line::from("function (file:line)")]
            .into_iter()
            .chain(cols.iter().map(|&c| {
                let t = if c.sorts(app.site_sort) {
                    format!("{}{arrow}", c.title())
                } else {
                    c.title().to_string()
                };
                match c {
                    Col::Cause => Line::from(t),
                    _ => Line::from(t).right_aligned(),
                }
            })),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let table_rows = rows.iter().map(|r| {
        let site = Line::from(site_spans(&r.site, site_w as usize, Style::new()));
        Row::new([site].into_iter().chain(cols.iter().map(|&c| cell(r, c))))
    });
    let widths = [Constraint::Length(site_w)]
        .into_iter()
        .chain(cols.iter().map(|c| Constraint::Length(c.width())));
    let table = selectable(Table::new(table_rows, widths).header(header).block(block));
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// "main.loadConfig (config.go:42)" in at most `w` columns: the function cut in its
/// middle before the file and line are, both made terminal-safe.
fn site_spans(site: &StackFrame, w: usize, style: Style) -> Vec<Span<'static>> {
    match site_parts(site, w) {
        (function, Some(place)) => vec![
            Span::styled(function, style),
            Span::raw(" "),
            Span::styled(place, dim()),
        ],
        (text, None) => vec![Span::styled(text, style)],
    }
}

/// A call site's short form in at most `w` columns, as [`site_spans`] has it.
pub fn site_text(site: &StackFrame, w: usize) -> String {
    match site_parts(site, w) {
        (function, Some(place)) => format!("{function} {place}"),
        (text, None) => text,
    }
}

/// The function, cut to leave room for "(file:line)" when that is worth it, and that
/// place; or the function alone.
fn site_parts(site: &StackFrame, w: usize) -> (String, Option<String>) {
    let function = terminal_safe(&site.function).into_owned();
    let base = site.file.rsplit('/').next().unwrap_or_default();
    let place = match (base.is_empty(), site.line) {
        (true, _) => return (truncate_middle(&function, w), None),
        (false, 0) => format!("({})", terminal_safe(base)),
        (false, n) => format!("({}:{n})", terminal_safe(base)),
    };
    let fn_room = w.saturating_sub(width(&place) + 1);
    // Too narrow for both: the function says more than its file.
    if fn_room < SITE_FUNCTION_MIN.min(width(&function)) {
        return (truncate_middle(&function, w), None);
    }
    (truncate_middle(&function, fn_room), Some(place))
}

/// Columns below which a site's function is not cut to keep its file and line whole.
const SITE_FUNCTION_MIN: usize = 12;

fn cell(r: &CallSiteRow, c: Col) -> Line<'static> {
    let right = |s: String| Line::from(s).right_aligned();
    match c {
        Col::Time => right(format_ns(r.ns)),
        Col::Calls => right(format_count(r.calls)),
        Col::Max => right(format_ns(r.max_ns)),
        Col::Goroutines => right(format_count(r.goroutines)),
        Col::Cause => match r.causes.first() {
            Some((cause, ns)) => {
                // The share when it fits beside the cause.
                let share = format_share(*ns as f64 / r.ns.max(1) as f64);
                let w = Col::Cause.width() as usize;
                let text = format!("{cause} {share}");
                let text = if width(&text) <= w {
                    text
                } else {
                    truncate(&cause.to_string(), w)
                };
                Line::styled(text, Style::new().fg(cause_color(cause)))
            }
            None => Line::styled("-", dim()),
        },
    }
}

/// Calls and time, causes, syscalls and goroutines of a site: one line each when
/// `tall`, else as few lines as that takes.
fn facts_lines(row: &CallSiteRow, w: usize, tall: bool) -> Vec<Line<'static>> {
    let calls = format!(
        "{} call{} · {} in all",
        format_count(row.calls),
        if row.calls == 1 { "" } else { "s" },
        format_ns(row.ns)
    );
    let max = format!(
        "max {} · avg {}",
        format_ns(row.max_ns),
        format_ns(row.ns / row.calls.max(1))
    );
    // On one line when it fits.
    let mut lines = if width(&calls) + 3 + width(&max) <= w {
        vec![Line::raw(format!("{calls} · {max}"))]
    } else {
        vec![Line::raw(truncate(&calls, w)), Line::raw(truncate(&max, w))]
    };
    if tall {
        lines.push(Line::styled("by cause:", dim()));
        for (cause, ns) in &row.causes {
            let share = format_share(*ns as f64 / row.ns.max(1) as f64);
            let text = format!(
                "{:<16} {:>10} {:>6}",
                cause.to_string(),
                format_ns(*ns),
                share
            );
            lines.push(Line::from(vec![
                Span::styled("  ■ ", Style::new().fg(cause_color(cause))),
                Span::raw(truncate(&text, w.saturating_sub(4))),
            ]));
        }
    } else {
        let mut spans = vec![Span::styled("causes ", dim())];
        for (cause, ns) in &row.causes {
            spans.push(Span::styled("■ ", Style::new().fg(cause_color(cause))));
            spans.push(Span::raw(format!("{cause} {}  ", format_ns(*ns))));
        }
        lines.push(cut(spans, w));
    }
    let syscalls: Vec<String> = row
        .syscalls
        .iter()
        .map(|(name, n)| format!("{name} ×{}", format_count(*n)))
        .collect();
    let syscalls = vec![
        Span::styled("syscalls ", dim()),
        Span::raw(syscalls.join(" · ")),
    ];
    let mut ids: Vec<String> = row.goids.iter().map(u64::to_string).collect();
    if row.goroutines > row.goids.len() as u64 {
        ids.push("…".into());
    }
    let goroutines = vec![
        Span::styled(
            format!(
                "{} goroutine{}: ",
                format_count(row.goroutines),
                if row.goroutines == 1 { "" } else { "s" }
            ),
            dim(),
        ),
        Span::raw(ids.join(" ")),
    ];
    if tall {
        lines.push(cut(syscalls, w));
        lines.push(cut(goroutines, w));
    } else {
        let mut spans = syscalls;
        spans.push(Span::styled(" · ", dim()));
        spans.extend(goroutines);
        lines.push(cut(spans, w));
    }
    lines
}

/// A line of spans cut to `w` columns, the last span ending in "…" when cut.
fn cut(spans: Vec<Span<'static>>, w: usize) -> Line<'static> {
    if line_width(&spans) <= w {
        return Line::from(spans);
    }
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let sw = width(&s.content);
        if used + sw <= w {
            used += sw;
            out.push(s);
            continue;
        }
        let room = w - used;
        if room > 0 {
            out.push(Span::styled(truncate(&s.content, room), s.style));
        }
        break;
    }
    Line::from(out)
}

/// The selected site's stack, innermost first, in at most `room` lines: the site's
/// frame marked, inlined frames said so. When it does not fit, the plumbing below the
/// site (runtime, syscall, os, internal/*) is folded into one line, then the frames
/// past the room are counted.
fn stack_lines(row: &CallSiteRow, w: usize, room: usize) -> Vec<Line<'static>> {
    if room == 0 {
        return Vec::new();
    }
    let stack = &row.stack;
    if stack.is_empty() {
        return vec![Line::styled(truncate("no stack kept", w), dim())];
    }
    let site = stack.iter().position(|f| {
        f.function == row.site.function && f.file == row.site.file && f.line == row.site.line
    });
    let mut lines = Vec::new();
    let mut from = 0;
    if let Some(at) = site.filter(|&at| stack.len() > room && at >= 2) {
        lines.push(Line::styled(
            truncate(
                &format!("  … {at} frames it called (runtime, syscall, os, internal)"),
                w,
            ),
            dim(),
        ));
        from = at;
    }
    let left = room - lines.len();
    let rest = stack.len() - from;
    let shown = if rest > left {
        left.saturating_sub(1)
    } else {
        rest
    };
    lines.extend(
        stack
            .iter()
            .enumerate()
            .skip(from)
            .take(shown)
            .map(|(i, f)| frame_line(f, w, Some(i) == site)),
    );
    if shown < rest && lines.len() < room {
        let more = rest - shown;
        lines.push(Line::styled(
            truncate(
                &format!("  … {more} more frame{}", if more == 1 { "" } else { "s" }),
                w,
            ),
            dim(),
        ));
    }
    lines
}

/// Cells below which a frame's file is left out rather than cut to nothing.
const PLACE_MIN: usize = 10;

/// "▸ main.loadConfig  /src/app/config.go:42 (inlined)": the function first, its place
/// cut in the middle (the file's name and line stay) when the line is too long.
fn frame_line(f: &StackFrame, w: usize, is_site: bool) -> Line<'static> {
    let mark = if is_site { "▸ " } else { "  " };
    let inlined = if f.inlined { " (inlined)" } else { "" };
    let function = terminal_safe(&f.function).into_owned();
    let place = match (f.file.is_empty(), f.line) {
        (true, _) => String::new(),
        (false, 0) => terminal_safe(&f.file).into_owned(),
        (false, n) => format!("{}:{n}", terminal_safe(&f.file)),
    };
    let avail = w.saturating_sub(width(mark) + width(inlined));
    let fn_w = width(&function);
    let place_w = width(&place);
    // The function first, in up to 3/5 of the line; the place gets what it leaves.
    let place_room = if place.is_empty() {
        0
    } else {
        place_w.min(avail.saturating_sub(fn_w.min(avail * 3 / 5) + 2))
    };
    // A few cells of a path say nothing: the function takes them.
    let place_room = if place_room < PLACE_MIN.min(place_w) {
        0
    } else {
        place_room
    };
    let fn_room = avail.saturating_sub(if place_room > 0 { place_room + 2 } else { 0 });
    let style = if is_site {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else if is_plumbing(&f.function) {
        dim()
    } else {
        Style::new()
    };
    let mut spans = vec![
        Span::styled(mark, Style::new().fg(Color::Cyan)),
        Span::styled(truncate_middle(&function, fn_room), style),
    ];
    if place_room > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(truncate_middle(&place, place_room), dim()));
    }
    if f.inlined {
        spans.push(Span::styled(inlined, Style::new().fg(Color::Yellow)));
    }
    cut(spans, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_room_and_keep_the_sort_column() {
        let (site_w, cols) = fit_columns(77, SiteSort::Time);
        let used: u16 = cols.iter().map(|c| c.width() + 1).sum::<u16>() + site_w;
        assert_eq!(used, 77, "{cols:?}");
        assert!(site_w >= SITE_MIN, "{site_w}");
        for c in [Col::Time, Col::Calls, Col::Cause] {
            assert!(cols.contains(&c), "{c:?} missing: {cols:?}");
        }
        let (site_w, cols) = fit_columns(157, SiteSort::Time);
        assert_eq!(cols, Col::ALL, "everything fits at 160 columns");
        assert!(site_w > 80, "{site_w}");
        let (_, cols) = fit_columns(40, SiteSort::Calls);
        assert_eq!(cols, [Col::Calls], "the sort column first: {cols:?}");
        let (site_w, cols) = fit_columns(5, SiteSort::Time);
        assert_eq!((site_w, cols), (5, vec![]), "tiny: just the site");
    }

    #[test]
    fn frames_fit_their_width_whatever_they_hold() {
        let f = StackFrame {
            function: "github.com/someone/project/internal/very/deep/package.(*Type).Method".into(),
            file: "/home/someone/src/github.com/someone/project/internal/very/deep/package/file.go"
                .into(),
            line: 1234,
            inlined: true,
        };
        for w in [0, 1, 5, 12, 30, 60, 200] {
            let line = frame_line(&f, w, true);
            assert!(line_width(&line.spans) <= w, "{w}: {line:?}");
        }
        let text = |l: Line| {
            l.spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        let t = text(frame_line(&f, 100, false));
        assert!(
            t.contains("file.go:1234") && t.ends_with(" (inlined)"),
            "{t}"
        );
        let wide = StackFrame {
            function: "main.界界界界界界界界界界界界".into(),
            file: "/src/界界界界界界.go".into(),
            line: 7,
            inlined: false,
        };
        for w in 0..40 {
            assert!(line_width(&frame_line(&wide, w, false).spans) <= w);
        }
        let hostile = StackFrame {
            function: "main.\u{1b}[31mred".into(),
            file: String::new(),
            line: 0,
            inlined: false,
        };
        let t = text(frame_line(&hostile, 80, false));
        assert!(t.contains("main.\\x1b[31mred"), "{t}");
        assert!(!t.chars().any(char::is_control), "{t:?}");
    }
}
