//! Threads (run-queue time outside syscalls: waiting for a CPU while running Go code)
//! and the processes seen.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph, Row, Table, TableState},
    Frame,
};

use super::{columns, selectable, site_text, Ctx};
use crate::{
    analysis::{
        poller::{PollerKind, PollerSummary},
        InProgress, ProcessInfo, STUCK_NS,
    },
    event::SyscallEvent,
    present::{exit_text, format_count, format_ns},
    tui::format::{alarm, cause_color, dim, truncate, truncate_middle, width},
};

const COMM_WIDTH: u16 = 16;
/// Kernel functions a call sleeps in: "anon_pipe_read", "futex_wait_queue", "ep_poll".
const WCHAN_WIDTH: u16 = 18;

pub fn threads(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let procs = ctx.snap.processes.len().min(1_000) as u16;
    let mut procs_h = (procs + 3).min(area.height / 3).max(4);
    let poller = poller_lines(&ctx.snap.poller);
    let poller_h = (poller.len() as u16 + 2).min(area.height / 4).max(3);
    // A call with a known goroutine or Go call site takes a second line for them; the
    // longest call's two lines show whatever the height, taken from the processes.
    let busy_lines = |p: &InProgress| 1 + u16::from(go_text(&p.call, usize::MAX).is_some());
    let busy: u16 = ctx
        .snap
        .busy_in_progress()
        .take(1_000)
        .map(busy_lines)
        .sum();
    let first = ctx.snap.busy_in_progress().next().map_or(1, busy_lines);
    let now_h = (busy.max(1) + 3).min(area.height / 4).max(3 + first);
    let over = (now_h + 5 + poller_h + procs_h).saturating_sub(area.height);
    procs_h = procs_h.saturating_sub(over).max(4);
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
    // The goroutine and Go call site go on a second line under the row, from the comm
    // column on: a cell of its own would leave no room at 80 columns.
    let body = block.inner(area);
    let indent = widths[0] + 1;
    // After the "↳ " mark.
    let go_w = (body.width.saturating_sub(indent) as usize).saturating_sub(2);
    let mut go_lines = Vec::new();
    let mut y = body.y + 1;
    let rows = s.busy_in_progress().map(|p| {
        let for_ = elapsed_text(p);
        let go = go_text(&p.call, go_w);
        let height = 1 + u16::from(go.is_some());
        if let Some(go) = go {
            go_lines.push((y + 1, go));
        }
        y = y.saturating_add(height);
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
        .height(height)
    });
    let constraints = columns(&widths[..cols - 1]);
    frame.render_widget(
        Table::new(rows, constraints).header(header).block(block),
        area,
    );
    for (y, go) in go_lines {
        if y >= body.bottom() || body.width <= indent {
            break;
        }
        let line = Line::from(vec![Span::styled("↳ ", dim()), Span::raw(go)]);
        let at = Rect {
            x: body.x + indent,
            y,
            width: body.width - indent,
            height: 1,
        };
        frame.render_widget(Paragraph::new(line), at);
    }
}

/// Who made a call and where in the Go code, when known, in at most `w` columns:
/// "goroutine 41 at main.loadConfig (config.go:42)", "Go runtime (g0) at
/// runtime.futex (os_linux.go:88)". A long function is cut in its middle; names from
/// the binary are made terminal-safe.
fn go_text(call: &SyscallEvent, w: usize) -> Option<String> {
    let who = if call.by_runtime() {
        Some("Go runtime (g0)".to_string())
    } else {
        call.goroutine().map(|g| format!("goroutine {g}"))
    };
    let site = gotrace_model::stack::call_site(&call.stack);
    Some(match (who, site) {
        (None, None) => return None,
        (Some(who), None) => truncate(&who, w),
        (None, Some(site)) => format!("at {}", site_text(site, w.saturating_sub(3))),
        (Some(who), Some(site)) => {
            let room = w.saturating_sub(width(&who) + 4);
            if room >= GO_SITE_MIN {
                format!("{who} at {}", site_text(site, room))
            } else {
                truncate(&who, w)
            }
        }
    })
}

/// Columns a call site needs to say anything after "goroutine N at".
const GO_SITE_MIN: usize = 12;

/// How long a call has been in progress; ">" when it began before tracing did.
fn elapsed_text(p: &InProgress) -> String {
    let at_least = if p.began_before_trace { ">" } else { "" };
    format!("{at_least}{}", format_ns(p.call.duration_ns))
}

/// Cells the goroutine and call site need in the stuck line to say anything.
const GO_MIN_ROOM: usize = 20;

/// "! tid 4242 (exact) in read for 4.90 s, blocked: pipe · goroutine 1 at main.main
/// (main.go:44) · fd 3 /tmp/ff (see 4)"
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
    // The file's name is at the end of a long path: cut its middle. The file comes
    // first; the goroutine and Go call site get what room it leaves.
    let mut room = super::alert_room(area, MORE).saturating_sub(width(&text));
    let detail = p.detail.as_ref().map(|d| {
        let d = truncate_middle(d, room.saturating_sub(3).max(12));
        room = room.saturating_sub(width(&d) + 3);
        d
    });
    if room >= GO_MIN_ROOM {
        if let Some(go) = go_text(&p.call, room - 3) {
            text.push_str(" · ");
            text.push_str(&go);
        }
    }
    if let Some(d) = detail {
        text.push_str(" · ");
        text.push_str(&d);
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
