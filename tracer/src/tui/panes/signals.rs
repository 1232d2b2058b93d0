//! Signals and children: the SIGCHLD lifecycle, live anomalies, per-signal counts, and
//! preemption (SIGURG) apart, as it is the Go runtime at work rather than a problem.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Table, Wrap},
    Frame,
};

use super::Ctx;
use crate::{
    analysis::{SigchldSummary, SignalCounts, Snapshot},
    present::{anomaly_message, format_count, format_ns, per_sec, signal_name},
    tui::format::{alarm, dim, format_rate, truncate},
};

/// Width of the lifecycle pane.
const LIFECYCLE_WIDTH: u16 = 34;

/// The signals view: lifecycle and anomalies side by side, the signal table below.
pub fn signals(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let [top, bottom] = Layout::vertical([
        Constraint::Length(13.max(area.height / 2)),
        Constraint::Min(4),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(LIFECYCLE_WIDTH), Constraint::Min(0)]).areas(top);
    let s = ctx.snap;
    frame.render_widget(
        Paragraph::new(lifecycle_lines(&s.sigchld))
            .block(Block::bordered().title(" SIGCHLD lifecycle ")),
        left,
    );
    let anomalies = Block::bordered().title(Line::from(vec![
        Span::raw(" Anomalies "),
        if s.anomalies.is_empty() {
            Span::styled("· none ", dim())
        } else {
            Span::styled(format!("· {} ", s.anomalies.len()), alarm())
        },
    ]));
    let text = if s.anomalies.is_empty() {
        vec![Line::styled(no_anomaly_text(&s.sigchld), dim())]
    } else {
        s.anomalies
            .iter()
            .map(|a| {
                Line::from(vec![
                    Span::styled("! ", alarm()),
                    Span::raw(anomaly_message(a)),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .scroll((ctx.app.signals_scroll.min(u16::MAX as usize) as u16, 0))
            .block(anomalies),
        right,
    );
    signal_table(frame, bottom, ctx);
}

fn no_anomaly_text(c: &SigchldSummary) -> &'static str {
    if c.exits == 0 {
        "no child has exited yet"
    } else {
        "every child that exited was signalled and reaped in time"
    }
}

fn lifecycle_lines(c: &SigchldSummary) -> Vec<Line<'static>> {
    let row = |label: &str, n: u64, bad: bool| {
        let style = if bad && n > 0 { alarm() } else { Style::new() };
        Line::from(vec![
            Span::raw(format!("{label:<20}")),
            Span::styled(format!("{:>10}", format_count(n)), style),
        ])
    };
    vec![
        row("children exited", c.exits, false),
        row("SIGCHLD generated", c.generated, false),
        row("  delivered", c.delivered, false),
        row("  coalesced", c.coalesced, true),
        row("  ignored", c.ignored, false),
        row("  undelivered", c.undelivered, true),
        row("  not sent, failed", c.not_sent + c.failed, true),
        row("reaped", c.reaped, false),
        row("  by the kernel", c.auto_reaped, false),
        row("unreaped (zombies)", c.unreaped, true),
        Line::from(vec![
            Span::raw(format!("{:<20}", "slowest reap")),
            Span::raw(format!("{:>10}", format_ns(c.max_reap_latency_ns))),
        ]),
    ]
}

/// "preemption (SIGURG): 1,234 · 45.0/s · ..." on its own line.
fn preemption_line(ctx: &Ctx) -> Line<'static> {
    let p = ctx.snap.preemption;
    if p.generated == 0 {
        return Line::styled("preemption (SIGURG): none yet", dim());
    }
    let rate = ctx
        .rates
        .preempted
        .unwrap_or_else(|| per_sec(p.generated, ctx.snap.duration_ns));
    Line::from(vec![
        Span::styled(
            "preemption (SIGURG) ",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "{} sent, {} delivered · {}/s",
            format_count(p.generated),
            format_count(p.delivered),
            format_rate(rate)
        )),
        Span::styled(
            " · the Go runtime preempting long-running goroutines, not an error",
            dim(),
        ),
    ])
}

fn senders(c: &SignalCounts, w: usize) -> String {
    let senders: Vec<String> = c
        .senders
        .iter()
        .map(|(pid, (comm, n))| format!("{}[{pid}]×{n}", truncate(comm, 16)))
        .collect();
    let mut receivers: Vec<String> = c.receivers.keys().map(|p| p.to_string()).collect();
    let mut senders = senders;
    for (list, more) in [
        (&mut senders, c.senders_more),
        (&mut receivers, c.receivers_more),
    ] {
        if more > 0 {
            list.push(format!("+{more}"));
        }
    }
    truncate(
        &format!("{} → {}", senders.join(", "), receivers.join(", ")),
        w,
    )
}

/// One row per signal, preemption first.
fn signal_table(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let block = Block::bordered().title(" Signals ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [pre, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(preemption_line(ctx)), pre);
    let s = ctx.snap;
    if s.signals.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no other signal seen yet", dim())),
            table_area,
        );
        return;
    }
    let widths = [10, 10, 10, 8, 10, 7];
    let fixed: u16 = widths.iter().map(|w| w + 1).sum();
    let who_w = table_area.width.saturating_sub(fixed) as usize;
    let header = Row::new(
        [
            "signal",
            "generated",
            "delivered",
            "ignored",
            "coalesced",
            "failed",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == 0 {
                Line::from(*t)
            } else {
                Line::from(*t).right_aligned()
            }
        })
        .chain([Line::from("senders → receivers")]),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.signals.iter().map(|c| {
        let n = |v: u64, bad: bool| {
            let style = if bad && v > 0 { alarm() } else { Style::new() };
            Line::styled(format_count(v), style).right_aligned()
        };
        Row::new([
            Line::raw(signal_name(c.signo as i32)),
            n(c.generated, false),
            n(c.delivered, false),
            n(c.ignored, false),
            n(c.already_pending, true),
            n(c.failed, true),
            Line::raw(senders(c, who_w)),
        ])
    });
    let constraints = super::columns(&widths);
    frame.render_widget(Table::new(rows, constraints).header(header), table_area);
}

/// The overview's pane: lifecycle in a line, anomalies, signals, preemption.
pub fn summary_pane(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let s = ctx.snap;
    let c = &s.sigchld;
    let w = area.width.saturating_sub(2) as usize;
    let mut lines = vec![Line::raw(format!(
        "exited {} · delivered {} · coalesced {} · reaped {} · unreaped {} · slowest reap {}",
        format_count(c.exits),
        format_count(c.delivered),
        format_count(c.coalesced),
        format_count(c.reaped),
        format_count(c.unreaped),
        format_ns(c.max_reap_latency_ns)
    ))];
    if s.anomalies.is_empty() {
        lines.push(Line::styled(no_anomaly_text(c), dim()));
    }
    for a in &s.anomalies {
        lines.push(Line::from(vec![
            Span::styled("! ", alarm()),
            Span::raw(truncate(&anomaly_message(a), w.saturating_sub(2))),
        ]));
    }
    let signals: Vec<String> = s
        .signals
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                signal_name(c.signo as i32),
                format_count(c.generated)
            )
        })
        .collect();
    if signals.is_empty() {
        lines.push(Line::styled("signals: none yet", dim()));
    } else {
        lines.push(Line::raw(truncate(
            &format!("signals: {}", signals.join(" · ")),
            w,
        )));
    }
    lines.push(preemption_line(ctx));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Children & signals ")),
        area,
    );
}

/// One line over the overview's table when anomalies exist and the children pane has
/// no room.
pub fn alert_line(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let Some(first) = snap.anomalies.first() else {
        return;
    };
    let more = if snap.anomalies.len() > 1 {
        format!(" (+{} more, see 3)", snap.anomalies.len() - 1)
    } else {
        String::new()
    };
    super::alert(frame, area, &anomaly_message(first), &more);
}
