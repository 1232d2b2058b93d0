//! Threads (run-queue time outside syscalls: waiting for a CPU while running Go code)
//! and the processes seen.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Table, TableState},
    Frame,
};

use super::{columns, selectable, Ctx};
use crate::{
    analysis::{
        poller::{PollerKind, PollerSummary},
        InProgress, ProcessInfo, STUCK_NS,
    },
    present::{exit_text, format_count, format_ns},
    tui::format::{alarm, cause_color, dim, truncate, truncate_middle, width},
};

const COMM_WIDTH: u16 = 16;
/// Kernel functions a call sleeps in: "anon_pipe_read", "futex_wait_queue", "ep_poll".
const WCHAN_WIDTH: u16 = 18;

pub fn threads(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let procs = ctx.snap.processes.len().min(1_000) as u16;
    let procs_h = (procs + 3).min(area.height / 3).max(4);
    let poller = poller_lines(&ctx.snap.poller);
    let poller_h = (poller.len() as u16 + 2).min(area.height / 4).max(3);
    let busy = ctx.snap.busy_in_progress().count().min(1_000) as u16;
    let now_h = (busy.max(1) + 3).min(area.height / 4).max(4);
    let [now, top, middle, bottom] = Layout::vertical([
        Constraint::Length(now_h),
        Constraint::Min(5),
        Constraint::Length(poller_h),
        Constraint::Length(procs_h),
    ])
    .areas(area);
    in_progress_table(frame, now, ctx);
    thread_table(frame, top, ctx);
    let title = Line::from(vec![
        Span::raw(" Poller "),
        Span::styled(format!("· {} ", poller_verdict(&ctx.snap.poller)), dim()),
    ]);
    frame.render_widget(
        Paragraph::new(poller).block(Block::bordered().title(title)),
        middle,
    );
    process_table(frame, bottom, ctx);
}

/// "epoll (14 fds)", "io_uring (97 ops)", "both", "none": which poller the target uses.
pub fn poller_verdict(p: &PollerSummary) -> String {
    let fds: usize = p.epoll.iter().map(|e| e.fds.len()).sum();
    let ops: u64 = p.uring_ops.iter().map(|o| o.count).sum();
    match p.kind {
        PollerKind::Epoll => format!("epoll ({fds} fds registered)"),
        PollerKind::IoUring => format!("io_uring ({} ops)", format_count(ops)),
        PollerKind::Both => format!("epoll ({fds} fds) and io_uring ({} ops)", format_count(ops)),
        PollerKind::None => "none seen".into(),
    }
}

/// One line per epoll instance and io_uring opcode, as the text summary has them.
fn poller_lines(p: &PollerSummary) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = crate::present::poller_lines(p, usize::MAX, usize::MAX)
        .into_iter()
        .map(Line::raw)
        .collect();
    if out.is_empty() {
        out.push(Line::styled(
            "no epoll wait and no io_uring operation seen yet",
            dim(),
        ));
    }
    out
}

/// What each thread is doing now: the calls in progress for the slow threshold or more,
/// longest first; parked runtime threads are counted in the title.
fn in_progress_table(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let s = ctx.snap;
    let idle = s.in_progress.len() - s.busy_in_progress().count();
    let title = Line::from(vec![
        Span::raw(" In a syscall now "),
        Span::styled(
            format!(
                "· longest first · {idle} runtime thread{} waiting for work ",
                if idle == 1 { "" } else { "s" }
            ),
            dim(),
        ),
    ]);
    let block = Block::bordered().title(title);
    if s.busy_in_progress().next().is_none() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "no thread has been in one call for the slow threshold",
                dim(),
            ))
            .centered()
            .block(block),
            area,
        );
        return;
    }
    // The kernel function a call sleeps in has a column of its own, before the file it
    // is on: a long path is cut in its middle, and never pushes the function off.
    // On a narrow screen the call and its cause come first; those two columns are left
    // out rather than squeezed to a few letters.
    let inner = block.inner(area).width;
    let widths = [8, COMM_WIDTH, 16, 10, 9, 16, WCHAN_WIDTH];
    let fixed: u16 = widths.iter().map(|w| w + 1).sum();
    let on_w = inner.saturating_sub(fixed) as usize;
    let cols = if on_w >= 12 { widths.len() + 1 } else { 6 };
    let header = Row::new(
        [
            Line::from("tid"),
            Line::from("comm"),
            Line::from("syscall"),
            Line::from("for").right_aligned(),
            Line::from("state"),
            Line::from("cause"),
            Line::from("sleeps in"),
            Line::from("on"),
        ]
        .into_iter()
        .take(cols),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.busy_in_progress().map(|p| {
        let for_ = elapsed_text(p);
        Row::new(
            [
                Line::raw(p.call.tid.to_string()),
                Line::raw(truncate(&p.comm, COMM_WIDTH as usize)),
                Line::raw(crate::syscalls::display_name(p.call.nr).into_owned()),
                if p.call.duration_ns >= STUCK_NS {
                    Line::styled(for_, alarm()).right_aligned()
                } else {
                    Line::raw(for_).right_aligned()
                },
                Line::raw(p.state.to_string()),
                match &p.cause {
                    Some(c) => Line::styled(c.to_string(), Style::new().fg(cause_color(c))),
                    None => Line::raw(""),
                },
                Line::raw(truncate(
                    p.wchan.as_deref().unwrap_or(""),
                    WCHAN_WIDTH as usize,
                )),
                Line::raw(truncate_middle(p.detail.as_deref().unwrap_or(""), on_w)),
            ]
            .into_iter()
            .take(cols),
        )
    });
    let constraints = columns(&widths[..cols - 1]);
    frame.render_widget(
        Table::new(rows, constraints).header(header).block(block),
        area,
    );
}

/// How long a call has been in progress; ">" when it began before tracing did.
fn elapsed_text(p: &InProgress) -> String {
    let at_least = if p.began_before_trace { ">" } else { "" };
    format!("{at_least}{}", format_ns(p.call.duration_ns))
}

/// "! tid 4242 (exact) in read for 4.90 s, blocked: pipe · fd 3 /tmp/ff (see 4)"
pub fn stuck_line(frame: &mut Frame, area: Rect, p: &InProgress) {
    let mut text = format!(
        "tid {} ({}) in {} for {}, {}",
        p.call.tid,
        p.comm,
        crate::syscalls::display_name(p.call.nr),
        elapsed_text(p),
        p.state
    );
    if let Some(c) = &p.cause {
        text.push_str(&format!(": {c}"));
    }
    const MORE: &str = " (see 4)";
    if let Some(d) = &p.detail {
        // The file's name is at the end of a long path: cut its middle.
        let room = super::alert_room(area, MORE).saturating_sub(width(&text) + 3);
        text.push_str(" · ");
        text.push_str(&truncate_middle(d, room.max(12)));
    }
    super::alert(frame, area, &text, MORE);
}

fn thread_table(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let s = ctx.snap;
    let title = Line::from(vec![
        Span::raw(" Threads "),
        Span::styled(
            format!(
                "· {} · {} created while tracing · run-queue time outside syscalls ",
                s.threads.len(),
                format_count(s.threads_created)
            ),
            dim(),
        ),
    ]);
    let block = Block::bordered().title(title);
    if s.threads.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no per-thread numbers yet", dim()))
                .centered()
                .block(block),
            area,
        );
        return;
    }
    let widths = [8, 8, COMM_WIDTH, 10, 10];
    let bar_w = block
        .inner(area)
        .width
        .saturating_sub(widths.iter().map(|w| w + 1).sum::<u16>() + 1) as usize;
    let max = s
        .threads
        .iter()
        .map(|t| t.runq_ns)
        .max()
        .unwrap_or(0)
        .max(1);
    let header = Row::new([
        Line::from("tid"),
        Line::from("pid"),
        Line::from("comm"),
        Line::from("runq").right_aligned(),
        Line::from("throttled").right_aligned(),
        Line::from("▒ run queue  █ of it throttled"),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.threads.iter().map(|t| {
        let total = (t.runq_ns as f64 / max as f64 * bar_w as f64).round() as usize;
        let throttled = if t.runq_ns > 0 {
            (t.runq_throttled_ns as f64 / t.runq_ns as f64 * total as f64).round() as usize
        } else {
            0
        };
        let throttled = throttled.min(total);
        let comm = if t.comm.is_empty() {
            "?".to_string()
        } else {
            truncate(&t.comm, COMM_WIDTH as usize)
        };
        Row::new([
            Line::raw(t.tid.to_string()),
            Line::raw(t.pid.to_string()),
            Line::raw(comm),
            Line::raw(format_ns(t.runq_ns)).right_aligned(),
            if t.runq_throttled_ns > 0 {
                Line::styled(format_ns(t.runq_throttled_ns), alarm()).right_aligned()
            } else {
                Line::styled("0", dim()).right_aligned()
            },
            Line::from(vec![
                Span::styled("█".repeat(throttled), Style::new().fg(Color::Red)),
                Span::styled(
                    "▒".repeat(total - throttled),
                    Style::new().fg(Color::Yellow),
                ),
            ]),
        ])
    });
    let constraints = columns(&widths);
    let table = selectable(Table::new(rows, constraints).header(header).block(block));
    let mut state =
        TableState::default().with_selected(Some(ctx.app.thread_sel.min(s.threads.len() - 1)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn process_state(p: &ProcessInfo) -> Line<'static> {
    match p.exit {
        None => Line::styled("running", Style::new().fg(Color::Green)),
        Some(e @ crate::analysis::ExitStatus::Code(0)) => Line::styled(exit_text(Some(e)), dim()),
        Some(e) => Line::styled(exit_text(Some(e)), alarm()),
    }
}

fn process_table(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let s = ctx.snap;
    // The dashboard's snapshot holds the running processes and the latest to end.
    let shown = if s.processes.len() < s.processes_seen {
        format!(", {} shown", s.processes.len())
    } else {
        String::new()
    };
    let block = Block::bordered().title(Line::from(vec![
        Span::raw(" Processes "),
        Span::styled(
            format!(
                "· {} seen, {} running{shown} ",
                s.processes_seen, s.processes_running
            ),
            dim(),
        ),
    ]));
    let widths = [8, 8, 22];
    let cmd_w = block
        .inner(area)
        .width
        .saturating_sub(widths.iter().map(|w| w + 1).sum::<u16>()) as usize;
    let header = Row::new(["pid", "parent", "state", "command"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.processes.iter().map(|p| {
        let cmd = if p.command.is_empty() {
            p.comm.clone()
        } else {
            p.command.join(" ")
        };
        Row::new([
            Line::raw(p.pid.to_string()),
            Line::raw(
                p.parent
                    .map_or_else(|| "-".to_string(), |pp| pp.to_string()),
            ),
            process_state(p),
            Line::raw(truncate(&cmd, cmd_w)),
        ])
    });
    let constraints = columns(&widths);
    frame.render_widget(
        Table::new(rows, constraints).header(header).block(block),
        area,
    );
}
