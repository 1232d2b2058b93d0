//! The syscall table (sortable, filterable, columns chosen by the room there is) and the
//! syscalls view: the table and a close-up of the selected syscall.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Sparkline, Table, TableState},
    Frame,
};

use super::{selectable, Ctx};
use crate::{
    analysis::SyscallRow,
    errno,
    present::{format_count, format_ns},
    tui::{
        format::{alarm, cause_bar, dim, format_rate, format_share, split_bar, truncate, width},
        SortKey,
    },
};

/// A column of the table: a sortable one, or the split bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Key(SortKey),
    Split,
}

/// What stays when there is little room, most wanted first (the name always does).
const PRIORITY: [Col; 12] = [
    Col::Key(SortKey::Calls),
    Col::Key(SortKey::Total),
    Col::Key(SortKey::P99),
    Col::Key(SortKey::Rate),
    Col::Key(SortKey::Avg),
    Col::Key(SortKey::Errors),
    Col::Key(SortKey::Max),
    Col::Split,
    Col::Key(SortKey::P50),
    Col::Key(SortKey::Blocked),
    Col::Key(SortKey::Runq),
    Col::Key(SortKey::OnCpu),
];

const NAME: Col = Col::Key(SortKey::Name);

impl Col {
    /// Every column in display order: the sort keys', then the split.
    fn display() -> impl Iterator<Item = Col> {
        SortKey::ALL.into_iter().map(Col::Key).chain([Col::Split])
    }

    fn width(self) -> u16 {
        match self {
            Col::Key(SortKey::Name) => 0,
            Col::Key(SortKey::Calls) => 11,
            Col::Key(SortKey::Errors | SortKey::Rate) => 8,
            Col::Split => 10,
            Col::Key(_) => 9,
        }
    }

    fn key(self) -> Option<SortKey> {
        match self {
            Col::Key(k) => Some(k),
            Col::Split => None,
        }
    }

    fn title(self) -> &'static str {
        self.key().map_or("split", SortKey::title)
    }
}

const NAME_MIN: u16 = 12;
const NAME_MAX: u16 = 24;

/// The name's width and the columns that fit in `room`; the sort column always does.
fn fit_columns(room: u16, name_ideal: u16, sort: SortKey) -> (u16, Vec<Col>) {
    let name_ideal = name_ideal.clamp(7, NAME_MAX);
    let mut budget = room.saturating_sub(NAME_MIN.min(name_ideal));
    let mut chosen = Vec::new();
    let sort_col = Some(Col::Key(sort)).filter(|c| *c != NAME);
    for c in sort_col.into_iter().chain(PRIORITY) {
        if !chosen.contains(&c) && c.width() < budget {
            budget -= c.width() + 1;
            chosen.push(c);
        }
    }
    let used: u16 = chosen.iter().map(|c| c.width() + 1).sum();
    let name_w = room.saturating_sub(used).min(name_ideal);
    (
        name_w,
        Col::display()
            .filter(|c| *c == NAME || chosen.contains(c))
            .collect(),
    )
}

/// The syscall table in a bordered block, the selected row marked.
pub fn table(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let app = ctx.app;
    let mut title = vec![Span::raw(" Syscalls ")];
    let kinds = ctx.snap.syscalls.len();
    if app.filter().is_empty() {
        title.push(Span::styled(format!("· {kinds} kinds "), dim()));
    } else {
        title.push(Span::styled(
            format!("· \"{}\": {} of {kinds} ", app.filter(), ctx.rows.len()),
            Style::new().fg(Color::Yellow),
        ));
    }
    let arrow = sort_arrow(app.sort, app.sort_reverse);
    title.push(Span::styled(
        format!("· sorted by {} {arrow} ", app.sort.title()),
        dim(),
    ));
    let block = Block::bordered().title(Line::from(title)).title_bottom(
        Line::styled(" split: █ on-CPU ▒ run queue ░ blocked ", dim()).right_aligned(),
    );
    if ctx.rows.is_empty() {
        let msg = if kinds == 0 {
            "no syscalls seen yet".to_string()
        } else {
            format!("no syscall name contains \"{}\"", app.filter())
        };
        frame.render_widget(
            Paragraph::new(Line::styled(msg, dim()))
                .centered()
                .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    let name_ideal = ctx.rows.iter().map(|r| width(&r.name)).max().unwrap_or(7) as u16 + 1;
    // One column goes to the selection mark.
    let (name_w, cols) = fit_columns(inner.width.saturating_sub(1), name_ideal, app.sort);
    let header = Row::new(cols.iter().map(|&c| {
        let t = if c.key() == Some(app.sort) {
            format!("{}{arrow}", c.title())
        } else {
            c.title().to_string()
        };
        match c {
            NAME | Col::Split => Line::from(t),
            _ => Line::from(t).right_aligned(),
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = ctx
        .rows
        .iter()
        .map(|r| Row::new(cols.iter().map(|&c| cell(r, c, name_w as usize, ctx))));
    let widths = cols
        .iter()
        .map(|&c| Constraint::Length(if c == NAME { name_w } else { c.width() }));
    let table = selectable(Table::new(rows, widths).header(header).block(block));
    let mut state = TableState::default().with_selected(Some(ctx.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn sort_arrow(key: SortKey, reverse: bool) -> &'static str {
    // Names ascend, numbers descend, unless reversed.
    if (key == SortKey::Name) != reverse {
        "▲"
    } else {
        "▼"
    }
}

fn cell(r: &SyscallRow, c: Col, name_w: usize, ctx: &Ctx) -> Line<'static> {
    let right = |s: String| Line::from(s).right_aligned();
    let split_known = r.on_cpu_ns + r.runq_ns + r.blocked_ns > 0;
    let part = |ns: u64| {
        if split_known {
            right(format_ns(ns))
        } else {
            Line::styled("-", dim()).right_aligned()
        }
    };
    let Col::Key(key) = c else {
        return split_bar(
            r.on_cpu_ns,
            r.runq_ns,
            r.blocked_ns,
            Col::Split.width() as usize,
        );
    };
    match key {
        SortKey::Name => Line::raw(truncate(&r.name, name_w)),
        SortKey::Calls => right(format_count(r.calls)),
        SortKey::Errors if r.errors > 0 => {
            Line::styled(format_count(r.errors), alarm()).right_aligned()
        }
        SortKey::Errors => Line::styled("0", dim()).right_aligned(),
        SortKey::Rate => right(
            ctx.rates
                .of(r.nr)
                .map_or_else(|| "-".to_string(), format_rate),
        ),
        SortKey::Total => right(format_ns(r.total_ns)),
        SortKey::Avg => right(format_ns(r.avg_ns)),
        SortKey::P50 => right(format_ns(r.p50_ns)),
        SortKey::P99 => right(format_ns(r.p99_ns)),
        SortKey::Max => right(format_ns(r.max_ns)),
        SortKey::OnCpu => part(r.on_cpu_ns),
        SortKey::Runq => part(r.runq_ns),
        SortKey::Blocked => part(r.blocked_ns),
    }
}

/// Width from which the close-up is two panes side by side.
const SIDE_BY_SIDE_MIN_WIDTH: u16 = 100;

/// The table, and below it the selected syscall: calls/s over time, its split, its
/// causes and its slowest calls.
pub fn syscalls(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let detail_h = if area.height >= 30 { 14 } else { 8 };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(detail_h)]).areas(area);
    table(frame, top, ctx);
    let Some(row) = ctx.rows.get(ctx.selected) else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "the selected syscall's history and details appear here",
                dim(),
            ))
            .block(Block::bordered()),
            bottom,
        );
        return;
    };
    if bottom.width >= SIDE_BY_SIDE_MIN_WIDTH {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        history_pane(frame, left, row, ctx);
        detail_pane(frame, right, row, ctx);
    } else {
        let [left, right] =
            Layout::vertical([Constraint::Length(detail_h / 2), Constraint::Min(0)]).areas(bottom);
        history_pane(frame, left, row, ctx);
        detail_pane(frame, right, row, ctx);
    }
}

/// Calls per second of the selected syscall, one bar per snapshot.
fn history_pane(frame: &mut Frame, area: Rect, row: &SyscallRow, ctx: &Ctx) {
    let block = Block::bordered().title(format!(" {} · calls/s ", truncate(&row.name, 30)));
    let inner = block.inner(area);
    let points = ctx.app.rate_history(Some(row.nr), inner.width as usize);
    let max = points.iter().copied().max().unwrap_or(0);
    let now = ctx
        .rates
        .of(row.nr)
        .map_or_else(|| "-".to_string(), format_rate);
    let block = block.title_bottom(
        Line::styled(
            format!(
                " now {now}/s · peak {}/s · {} snapshots ",
                format_count(max),
                points.len()
            ),
            dim(),
        )
        .right_aligned(),
    );
    frame.render_widget(block, area);
    if points.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("history builds up with each refresh", dim())),
            inner,
        );
        return;
    }
    frame.render_widget(
        Sparkline::default()
            .data(&points)
            .max(max.max(1))
            .style(Style::new().fg(Color::Cyan)),
        inner,
    );
}

/// Latencies, the time split, causes and the slowest calls of the selected syscall.
fn detail_pane(frame: &mut Frame, area: Rect, row: &SyscallRow, ctx: &Ctx) {
    let block = Block::bordered().title(format!(" {} (nr {}) ", truncate(&row.name, 30), row.nr));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let err_share = if row.calls > 0 {
        row.errors as f64 / row.calls as f64
    } else {
        0.0
    };
    let mut lines = vec![Line::raw(format!(
        "{} calls · {} errors ({}) · avg {} · p50 {} · p99 {} · max {}",
        format_count(row.calls),
        format_count(row.errors),
        format_share(err_share),
        format_ns(row.avg_ns),
        format_ns(row.p50_ns),
        format_ns(row.p99_ns),
        format_ns(row.max_ns)
    ))];
    let split = row.on_cpu_ns + row.runq_ns + row.blocked_ns;
    if split > 0 {
        let share = |ns: u64| format_share(ns as f64 / split as f64);
        let mut spans = split_bar(row.on_cpu_ns, row.runq_ns, row.blocked_ns, 20).spans;
        spans.push(Span::raw(format!(
            " on-CPU {} · run queue {} · blocked {}",
            share(row.on_cpu_ns),
            share(row.runq_ns),
            share(row.blocked_ns)
        )));
        lines.push(Line::from(spans));
    } else {
        lines.push(Line::styled(
            "on-CPU / run queue / blocked: not measured yet",
            dim(),
        ));
    }
    if let Some(a) = ctx
        .snap
        .syscall_causes
        .get(&row.nr)
        .filter(|a| a.total_ns > 0)
    {
        let mut spans = vec![Span::styled("causes ", dim())];
        spans.extend(cause_bar(a, (inner.width as usize).saturating_sub(7)).spans);
        lines.push(Line::from(spans));
    }
    let slowest: Vec<_> = ctx
        .snap
        .slowest
        .iter()
        .map(|s| &s.call)
        .filter(|e| e.nr == row.nr)
        .collect();
    if slowest.is_empty() {
        lines.push(Line::styled(
            "no call of it among the slowest streamed",
            dim(),
        ));
    } else {
        lines.push(Line::styled("slowest calls:", dim()));
        for e in slowest {
            let ret = match e.errno() {
                Some(n) => format!("-1 {}", errno::display(n)),
                None => e.ret.to_string(),
            };
            lines.push(Line::raw(format!(
                "  {:>9}  tid {:<8} = {ret}",
                format_ns(e.duration_ns),
                e.tid
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_room_and_keep_the_sort_column() {
        let (name_w, cols) = fit_columns(77, 10, SortKey::Total);
        let used: u16 = cols
            .iter()
            .filter(|c| **c != NAME)
            .map(|c| c.width() + 1)
            .sum::<u16>()
            + name_w;
        assert!(used <= 77, "{used} {cols:?}");
        assert_eq!(cols[0], NAME);
        for k in [SortKey::Calls, SortKey::Total, SortKey::P99] {
            assert!(cols.contains(&Col::Key(k)), "{k:?} missing: {cols:?}");
        }
        assert!(!cols.contains(&Col::Key(SortKey::OnCpu)), "{cols:?}");
        let (_, cols) = fit_columns(77, 10, SortKey::OnCpu);
        assert!(
            cols.contains(&Col::Key(SortKey::OnCpu)),
            "the sort column is shown: {cols:?}"
        );
        let (name_w, cols) = fit_columns(157, 24, SortKey::Total);
        assert_eq!(
            cols.len(),
            Col::display().count(),
            "everything fits at 160 columns"
        );
        assert_eq!(name_w, NAME_MAX);
        let (name_w, cols) = fit_columns(5, 30, SortKey::Total);
        assert_eq!((name_w, cols), (5, vec![NAME]), "tiny: just the name");
    }
}
