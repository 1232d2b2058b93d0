//! The views and the panes they are made of. Each pane reads the [`Ctx`] and draws
//! into its area; none keeps state.
mod gocode;
mod log;
mod signals;
mod syscalls;
mod threads;

use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, HighlightSpacing, Paragraph, Table},
    Frame,
};

pub use self::{
    gocode::{gocode, site_text},
    log::log,
    signals::signals,
    syscalls::syscalls,
    threads::{poller_verdict, threads},
};
use super::{
    app::{App, Rates},
    format::{cause_bar, cause_color, dim, format_bytes, format_share, truncate},
};
use crate::{
    analysis::{Attribution, Cause, Snapshot, SyscallRow, RECENT_WINDOW_NS},
    present::{format_count, format_ns, pressure_text},
};

/// What every pane may read, computed once per frame.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub snap: &'a Snapshot,
    /// The syscall rows on screen (filtered, sorted).
    pub rows: Vec<&'a SyscallRow>,
    /// Index of the selected row in `rows`.
    pub selected: usize,
    pub rates: Rates,
}

/// One red line: "! TEXT" cut to fit, then `more` (where to look) dimmed.
fn alert(frame: &mut Frame, area: Rect, text: &str, more: &str) {
    let w = alert_room(area, more);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("! ", crate::tui::format::alarm()),
            Span::styled(truncate(text, w), crate::tui::format::alarm()),
            Span::styled(more.to_string(), dim()),
        ])),
        area,
    );
}

/// The cells an alert's text has before `more`.
fn alert_room(area: Rect, more: &str) -> usize {
    (area.width as usize).saturating_sub(2 + crate::tui::format::width(more))
}

/// Table columns of these widths, then one taking the rest.
fn columns(widths: &[u16]) -> Vec<Constraint> {
    widths
        .iter()
        .map(|&w| Constraint::Length(w))
        .chain([Constraint::Min(0)])
        .collect()
}

/// A table whose selected row shows reversed, behind a "›" mark.
fn selectable(table: Table<'_>) -> Table<'_> {
    table
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("›")
        .highlight_spacing(HighlightSpacing::Always)
}

/// Room for the bottom row of the overview (children and signals, the log).
const OVERVIEW_BOTTOM_MIN_HEIGHT: u16 = 34;
/// Room for the system pane beside "where the time went".
const SYSTEM_PANE_MIN_WIDTH: u16 = 120;
const SYSTEM_PANE_WIDTH: u16 = 48;

/// Where the time went, the syscalls, and (given room) children, signals and the log.
pub fn overview(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let roomy = area.height >= OVERVIEW_BOTTOM_MIN_HEIGHT;
    let side = area.width >= SYSTEM_PANE_MIN_WIDTH;
    let top_h = match (side, roomy) {
        (true, _) => 7,
        (false, true) => 5 + ctx.snap.filesystems.len().min(2) as u16,
        (false, false) => 5,
    } + u16::from(ctx.snap.attribution.runtime_ns > 0);
    let alert = !roomy && !ctx.snap.anomalies.is_empty();
    let stuck = ctx.snap.stuck();
    let [top, stuck_area, alert_area, table, bottom] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Length(u16::from(stuck.is_some())),
        Constraint::Length(u16::from(alert)),
        Constraint::Min(5),
        Constraint::Length(if roomy { area.height / 4 + 1 } else { 0 }),
    ])
    .areas(area);
    if side {
        let [left, right] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(SYSTEM_PANE_WIDTH)])
                .areas(top);
        time_pane(frame, left, ctx.snap);
        system_pane(frame, right, ctx.snap);
    } else {
        time_pane(frame, top, ctx.snap);
    }
    if let Some(p) = stuck {
        threads::stuck_line(frame, stuck_area, p);
    }
    if alert {
        signals::alert_line(frame, alert_area, ctx.snap);
    }
    syscalls::table(frame, table, ctx);
    if roomy {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        signals::summary_pane(frame, left, ctx);
        log::log_pane(frame, right, ctx.app, " Recent events ");
    }
}

/// Labels of the two bars.
const BAR_LABEL_WIDTH: usize = 11;
/// Room for the total after a bar.
const BAR_TOTAL_WIDTH: usize = 11;

/// "Where the time went": the attribution by cause, whole run and recent, then the
/// filesystems waited on as far as there is room.
fn time_pane(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered()
        .title(" Where the time went ")
        .title(Span::styled(" share of traced time by cause ", dim()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let bar_w = (inner.width as usize).saturating_sub(BAR_LABEL_WIDTH + BAR_TOTAL_WIDTH);
    let recent_label = format!("last {} s", RECENT_WINDOW_NS / 1_000_000_000);
    let mut lines = vec![
        bar_line(
            "whole run",
            &snap.attribution,
            bar_w,
            "nothing attributed yet: no syscall time split by cause",
        ),
        bar_line(
            &recent_label,
            &snap.recent_attribution,
            bar_w,
            "nothing in this window",
        ),
        legend(&snap.attribution),
    ];
    if snap.attribution.runtime_ns > 0 {
        lines.push(runtime_line(&snap.attribution));
    }
    let fs_lines = (inner.height as usize).saturating_sub(lines.len());
    if fs_lines > 0 && snap.filesystems.is_empty() {
        lines.push(Line::styled(
            format!(
                " {:<w$}no filesystem waited on yet",
                "fs",
                w = BAR_LABEL_WIDTH - 1
            ),
            dim(),
        ));
    }
    for fs in snap.filesystems.iter().take(fs_lines) {
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<w$}", "fs", w = BAR_LABEL_WIDTH - 1), dim()),
            Span::raw(format!(
                "{} ({}, {}): {} in {} calls",
                truncate(&fs.mount, 40),
                fs.fstype,
                fs.kind,
                format_ns(fs.ns),
                format_count(fs.calls)
            )),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn bar_line(label: &str, a: &Attribution, bar_w: usize, empty: &str) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!(" {label:<w$} ", w = BAR_LABEL_WIDTH - 2),
        dim(),
    )];
    if a.total_ns == 0 {
        spans.push(Span::styled(empty.to_string(), dim()));
        return Line::from(spans);
    }
    spans.extend(cause_bar(a, bar_w).spans);
    spans.push(Span::raw(format!(
        " {:>w$}",
        format_ns(a.total_ns),
        w = BAR_TOTAL_WIDTH - 1
    )));
    Line::from(spans)
}

/// Every cause with its colour, share and time; idle apart, as it is no cause of delay.
fn legend(a: &Attribution) -> Line<'static> {
    let mut spans = vec![Span::raw(" ".repeat(BAR_LABEL_WIDTH))];
    for c in a.causes.iter().filter(|c| c.cause != Cause::Idle) {
        spans.push(Span::styled("■ ", Style::new().fg(cause_color(&c.cause))));
        spans.push(Span::raw(format!(
            "{} {} {}  ",
            c.cause,
            format_share(c.share),
            format_ns(c.ns)
        )));
    }
    if a.idle_ns > 0 {
        spans.push(Span::styled(
            format!(
                "(idle {}: parked runtime threads, not counted)",
                format_ns(a.idle_ns)
            ),
            dim(),
        ));
    }
    Line::from(spans)
}

/// The Go runtime's own waits on g0 (idle Ms, the netpoller, sysmon), by cause: apart
/// from the shares above, as no goroutine waited on them.
fn runtime_line(a: &Attribution) -> Line<'static> {
    let mut spans = vec![Span::styled(" Go runtime (g0, apart): ", dim())];
    for (i, c) in a.runtime.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", dim()));
        }
        spans.push(Span::styled("■ ", Style::new().fg(cause_color(&c.cause))));
        spans.push(Span::raw(format!("{} {}", c.cause, format_ns(c.ns))));
    }
    Line::from(spans)
}

/// The target's CPUs, cgroup and pressure, in full.
fn system_pane(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered().title(" System ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let sys = &snap.system;
    let mut lines = vec![Line::from(super::view::gomaxprocs_verdict(snap))];
    match &sys.cgroup {
        Some(c) => {
            lines.push(Line::raw(truncate(
                &format!("cgroup v{} {}", c.version, c.path),
                w,
            )));
            let quota = c.cpu_quota_cpus.map_or_else(
                || "no CPU quota".to_string(),
                |q| format!("CPU quota {q:.1}"),
            );
            let mem = c.memory_limit.map_or_else(
                || "no memory limit".to_string(),
                |m| format!("memory {}", format_bytes(m)),
            );
            lines.push(Line::raw(format!("{quota} · {mem}")));
            lines.push(Line::raw(format!(
                "throttled {} in {} periods",
                format_ns(c.throttled_ns),
                format_count(c.nr_throttled)
            )));
        }
        None => lines.push(Line::styled("cgroup: not known yet", dim())),
    }
    // Before PSI, which the pane may have no room left for.
    if let Some(s) = sys.cpu_steal.filter(|s| *s >= 0.005) {
        lines.push(Line::styled(
            truncate(&format!("CPU steal {:.1}% (hypervisor)", s * 100.0), w),
            crate::tui::format::alarm(),
        ));
    }
    for f in snap.kernel_features.iter().filter(|f| !f.on) {
        lines.push(Line::styled(
            truncate(&format!("{} not traced on this kernel", f.name), w),
            crate::tui::format::alarm(),
        ));
    }
    if let Some(p) = &sys.psi {
        let text = format!("PSI {}", pressure_text(p));
        lines.push(Line::raw(truncate(&text, w)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
