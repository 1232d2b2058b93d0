//! The text summary, rendered from the NDJSON header and summary: what gotrace prints
//! live and what `gotrace report` prints from a saved trace are the same text.
use std::fmt::Write as _;

use super::{
    ndjson::exit_status,
    schema::{ExitJson, Frame, Header, Hostwide, InProgressJson, PollerJson, Summary, SyscallLine},
};
use crate::{
    analysis::{poller::PollerSummary, Psi},
    present::{exit_text, format_count, format_ns, poller_lines, pressure_text},
};

/// Renders the end-of-trace summary.
/// The end of a host-wide trace: the table of processes, then each one's summary.
pub fn render_hostwide(h: &Header, w: &Hostwide) -> String {
    let mut o = String::new();
    let n = w.processes.len() as u64 + w.not_kept;
    let _ = writeln!(
        o,
        "gotrace: every Go process{} · traced {} · {} process{} ({} exited), {} without a slot · {} lost record{}",
        w.cgroup
            .as_deref()
            .map(|c| format!(" in cgroup {}", terminal_safe(c)))
            .unwrap_or_default(),
        format_ns(w.duration_ns),
        format_count(n),
        if n == 1 { "" } else { "es" },
        format_count(w.exited),
        format_count(w.untraced),
        format_count(w.lost_records),
        if w.lost_records == 1 { "" } else { "s" },
    );
    if w.untraced > 0 {
        let _ = writeln!(
            o,
            "warning: {} Go process{} found no slot and {} not traced (raise --max-processes)",
            format_count(w.untraced),
            if w.untraced == 1 { "" } else { "es" },
            if w.untraced == 1 { "was" } else { "were" },
        );
    }
    if w.calls_not_counted > 0 {
        let _ = writeln!(
            o,
            "warning: {} calls were not counted: the kernel's per-process table was full",
            format_count(w.calls_not_counted)
        );
    }
    if w.bad_records > 0 {
        let _ = writeln!(
            o,
            "warning: {} records could not be decoded",
            format_count(w.bad_records)
        );
    }
    if w.not_kept > 0 {
        let _ = writeln!(
            o,
            "note: the summaries of {} exited processes are not shown (only the latest are kept)",
            format_count(w.not_kept)
        );
    }
    let _ = writeln!(
        o,
        "\n{:>8}  {:<20} {:<10} {:>12} {:>10} {:>10} {:>9}  CGROUP",
        "PID", "COMMAND", "GO", "SYSCALL TIME", "THROTTLED", "GOMAXPROCS", "ANOMALIES"
    );
    for p in &w.processes {
        let s = &p.summary;
        let comm = p
            .command
            .first()
            .map(|c| c.rsplit('/').next().unwrap_or(c).to_string())
            .unwrap_or_else(|| "?".into());
        let gomaxprocs = match (s.gomaxprocs, s.gomaxprocs_exceeds_quota) {
            (Some(g), true) => format!("{g} > quota"),
            (Some(g), false) => g.to_string(),
            (None, _) => "-".into(),
        };
        let _ = writeln!(
            o,
            "{:>8}  {:<20} {:<10} {:>12} {:>10} {:>10} {:>9}  {}{}",
            p.pid,
            terminal_safe(&comm),
            s.go_version.as_deref().unwrap_or("-"),
            format_ns(s.total_ns),
            s.cgroup
                .as_ref()
                .map_or("-".into(), |c| format_ns(c.throttled_ns)),
            gomaxprocs,
            s.anomalies.len(),
            s.cgroup
                .as_ref()
                .map_or(std::borrow::Cow::Borrowed("-"), |c| terminal_safe(&c.path)),
            if p.exited { " (exited)" } else { "" },
        );
    }
    for p in &w.processes {
        let mut ph = h.clone();
        ph.target.pid = p.pid;
        ph.target.command = p.command.clone();
        ph.target.launched = false;
        ph.go_version = p.summary.go_version.clone();
        let _ = writeln!(o, "\n── pid {} ──", p.pid);
        o.push_str(&render(&ph, &p.summary));
    }
    o
}

pub fn render(h: &Header, s: &Summary) -> String {
    let mut o = String::new();
    let go = s.go_version.as_deref().unwrap_or("not a Go binary");
    let lost = s.lost_records;
    let command = if h.target.command.is_empty() {
        "?".to_string()
    } else {
        h.target.command.join(" ")
    };
    let collisions = if s.slot_collisions > 0 {
        let n = s.slot_collisions;
        format!(
            " · {} call{} lost to slot collisions",
            format_count(n),
            if n == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "gotrace: pid {} ({command}) · {go} · traced {} · {} lost record{}{collisions}",
        h.target.pid,
        format_ns(s.duration_ns),
        format_count(lost),
        if lost == 1 { "" } else { "s" }
    );
    if let Some(exit) = &s.target_exit {
        let _ = writeln!(o, "target {}", exit_json_text(exit));
    }
    render_system(&mut o, s);
    for (name, f) in h.features.iter().filter(|(_, f)| !f.on) {
        let _ = writeln!(o, "{}", feature_off_text(name, &f.detail));
    }
    if lost > 0 {
        let _ = writeln!(
            o,
            "warning: {} records were lost (ring buffer full): the event lists are incomplete; the table below is not affected (try --ring-kib or a higher --slow)",
            format_count(lost)
        );
    }
    if s.slot_collisions > 0 {
        let _ = writeln!(o, "warning: {}", slot_collisions_text(s.slot_collisions));
    }
    o.push('\n');

    render_attribution(&mut o, s);
    render_in_progress(&mut o, s);
    render_table(&mut o, s);
    render_syscall_causes(&mut o, s);
    render_slowest(&mut o, h, s);
    render_call_sites(&mut o, h, s);
    render_processes(&mut o, h, s);
    render_children(&mut o, s);
    render_signals(&mut o, s);
    render_poller(&mut o, &s.poller);

    if s.threads_created > 0 {
        let _ = writeln!(o, "\nthreads created while tracing: {}", s.threads_created);
    }
    if s.unmatched_exits > 0 {
        let _ = writeln!(
            o,
            "\nnote: {} call{} already in progress when tracing began {} not counted",
            s.unmatched_exits,
            if s.unmatched_exits == 1 { "" } else { "s" },
            if s.unmatched_exits == 1 { "is" } else { "are" }
        );
    }
    if s.threads_untracked > 0 {
        let _ = writeln!(
            o,
            "warning: {}",
            threads_untracked_text(s.threads_untracked)
        );
    }
    if s.bad_records > 0 {
        let _ = writeln!(o, "warning: {} records could not be decoded", s.bad_records);
    }
    terminal_safe(&o).into_owned()
}

fn render_table(o: &mut String, s: &Summary) {
    if s.syscalls.is_empty() {
        o.push_str("no syscalls seen\n");
        return;
    }
    let name_w = s
        .syscalls
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        o,
        "{:<name_w$} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>6}",
        "syscall", "calls", "errors", "total", "avg", "p50", "p99", "max", "time%"
    );
    for r in &s.syscalls {
        let share = if s.total_ns > 0 {
            100.0 * r.total_ns as f64 / s.total_ns as f64
        } else {
            0.0
        };
        let _ = writeln!(
            o,
            "{:<name_w$} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>5.1}%",
            r.name,
            format_count(r.calls),
            format_count(r.errors),
            format_ns(r.total_ns),
            format_ns(r.avg_ns),
            format_ns(r.p50_ns),
            format_ns(r.p99_ns),
            format_ns(r.max_ns),
            share
        );
    }
    let _ = writeln!(
        o,
        "{:<name_w$} {:>12} {:>9} {:>10}",
        "total",
        format_count(s.total_calls),
        format_count(s.total_errors),
        format_ns(s.total_ns)
    );
}

fn render_slowest(o: &mut String, h: &Header, s: &Summary) {
    if s.slowest.is_empty() {
        return;
    }
    // The count is of the calls that reached gotrace: a lost record may have been one.
    let lost = if s.lost_records > 0 {
        format!(
            "; {} records were lost, so there were more",
            format_count(s.lost_records)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "\nslowest calls ({} received at or over {}{lost})",
        format_count(s.slow_calls),
        format_ns(h.slow_threshold_ns)
    );
    for e in &s.slowest {
        let _ = writeln!(o, "  {}", slow_call_text(e));
    }
}

/// "12.34 ms  futex            tid 14921    = -1 ETIMEDOUT  [futex]"
pub fn slow_call_text(e: &SyscallLine) -> String {
    let ret = match &e.errno {
        Some(n) => format!("-1 {n}"),
        None => e.ret.to_string(),
    };
    let cause = e
        .cause
        .as_deref()
        .map(|c| format!("  [{c}]"))
        .unwrap_or_default();
    format!(
        "{:>10}  {:<16} tid {:<8} = {ret}{cause}{}",
        format_ns(e.duration_ns),
        e.name,
        e.tid,
        who_text(e.goid, e.by.as_deref(), &e.stack)
    )
}

/// "  goroutine 41 at main.saveIndex (index.go:88)", "  runtime (g0)", or nothing.
fn who_text(goid: Option<u64>, by: Option<&str>, stack: &[Frame]) -> String {
    let mut t = String::new();
    match (goid, by) {
        (Some(g), _) => {
            let _ = write!(t, "  goroutine {g}");
        }
        (None, Some("runtime")) => t.push_str("  Go runtime (g0)"),
        _ => {}
    }
    if by != Some("runtime") {
        if let Some(site) = crate::stack::call_site(stack) {
            let _ = write!(t, " at {}", terminal_safe(&site.short()));
        }
    }
    t
}

/// The Go code that made the streamed calls, by call site.
fn render_call_sites(o: &mut String, h: &Header, s: &Summary) {
    if s.call_sites.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "
Go code: call sites of the calls at or over {}, by time (goroutines' calls; the runtime's own apart)",
        format_ns(h.slow_threshold_ns)
    );
    for c in s.call_sites.iter().take(10) {
        let site = crate::stack::Frame {
            function: c.function.clone(),
            file: c.file.clone(),
            line: c.line,
            inlined: false,
        };
        let causes: Vec<String> = c
            .causes
            .iter()
            .take(2)
            .map(|x| format!("{} {}", x.cause, format_ns(x.ns)))
            .collect();
        let calls: Vec<String> = c
            .syscalls
            .iter()
            .take(3)
            .map(|x| format!("{}×{}", x.name, format_count(x.calls)))
            .collect();
        let _ = writeln!(
            o,
            "  {:>10} {:>7} calls  {}  [{}]  {}  {} goroutine{}",
            format_ns(c.ns),
            format_count(c.calls),
            terminal_safe(&site.short()),
            causes.join(", "),
            calls.join(" "),
            c.goroutines,
            if c.goroutines == 1 { "" } else { "s" }
        );
    }
    if s.call_sites.len() > 10 || s.call_sites_other_calls > 0 {
        let more = s.call_sites.len().saturating_sub(10);
        let _ = writeln!(
            o,
            "  and {more} more site{} ({} more calls at sites not listed)",
            if more == 1 { "" } else { "s" },
            format_count(s.call_sites_other_calls)
        );
    }
}

/// The calls threads were still in at the end: what a hung program waits on. Parked
/// runtime threads are counted, not listed.
fn render_in_progress(o: &mut String, s: &Summary) {
    // In a Go program every futex wait is the runtime's own (an idle M, sysmon, the
    // timer thread): goroutines block in the scheduler, not in the kernel.
    let go = s.go_version.is_some();
    let (idle, busy): (Vec<_>, Vec<_>) =
        s.in_progress
            .iter()
            .partition(|p| match (p.by.as_deref(), p.cause.as_deref()) {
                (Some("runtime"), _) => true,
                (Some("goroutine"), _) => false,
                (_, Some("idle")) => true,
                (_, Some("futex")) => go,
                _ => false,
            });
    if busy.is_empty() {
        return;
    }
    let _ = writeln!(o, "in progress when tracing ended (longest first)");
    for p in busy {
        let _ = writeln!(o, "  {}", in_progress_text(p));
    }
    if !idle.is_empty() {
        let _ = writeln!(
            o,
            "  and {} runtime thread{} waiting for work (futex or nanosleep)",
            idle.len(),
            if idle.len() == 1 { "" } else { "s" }
        );
    }
    o.push('\n');
}

/// "4.90 s  read             tid 1234     blocked  [pipe]  fd 3 /tmp/f  (pipe_read)"
pub fn in_progress_text(p: &InProgressJson) -> String {
    // Since before tracing began: at least this long.
    let at_least = if p.began_before_trace { ">" } else { "" };
    let mut line = format!(
        "{:>10}  {:<16} tid {:<8} {:<8}",
        format!("{at_least}{}", format_ns(p.elapsed_ns)),
        p.name,
        p.tid,
        p.state
    );
    if let Some(c) = &p.cause {
        let _ = write!(line, " [{c}]");
    }
    if let Some(d) = &p.detail {
        let _ = write!(line, "  {d}");
    }
    if let Some(w) = &p.wchan {
        let _ = write!(line, "  ({w})");
    }
    line.push_str(&who_text(p.goid, p.by.as_deref(), &p.stack));
    line
}

fn render_processes(o: &mut String, h: &Header, s: &Summary) {
    let children: Vec<_> = s
        .processes
        .iter()
        .filter(|p| p.pid != h.target.pid)
        .collect();
    if children.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nchild processes ({})", children.len());
    for p in children {
        let cmd = if p.command.is_empty() {
            p.comm.clone()
        } else {
            p.command.join(" ")
        };
        let parent = p
            .parent
            .map(|pp| format!(" (parent {pp})"))
            .unwrap_or_default();
        let state = match &p.exit {
            Some(e) => exit_json_text(e),
            None => "still running".into(),
        };
        let _ = writeln!(o, "  {:<8} {cmd}{parent}: {state}", p.pid);
    }
}

/// The cgroup line, the GOMAXPROCS verdict and pressure, under the header.
fn render_system(o: &mut String, s: &Summary) {
    if let Some(c) = &s.cgroup {
        let quota = c
            .cpu_quota_cpus
            .map(|q| format!("{q:.2} CPUs"))
            .unwrap_or_else(|| "no CPU limit".into());
        let mem = c
            .memory_limit
            .map(|m| format!(" · memory {} MiB", m / (1024 * 1024)))
            .unwrap_or_default();
        let thr = if c.nr_throttled > 0 {
            format!(
                " · throttled {} in {} periods",
                format_ns(c.throttled_ns),
                format_count(c.nr_throttled)
            )
        } else {
            " · not throttled".into()
        };
        let _ = writeln!(o, "cgroup v{} {} · {quota}{mem}{thr}", c.version, c.path);
    }
    if let Some(g) = s.gomaxprocs {
        let eff = s
            .effective_cpus
            .map(|e| format!("{e:.2}"))
            .unwrap_or_else(|| "?".into());
        if s.gomaxprocs_exceeds_quota {
            let _ = writeln!(
                o,
                "warning: GOMAXPROCS={g} but only {eff} CPUs are available to this cgroup: the Go scheduler runs more threads than the quota allows, and they wait (set GOMAXPROCS to the quota, or use a Go that sizes it from the cgroup)"
            );
        } else {
            let _ = writeln!(o, "GOMAXPROCS={g} · {eff} CPUs available: ok");
        }
    }
    // A trace from before `psi` existed has only the text.
    if let Some(p) = s
        .psi
        .as_ref()
        .map(|p| pressure_text(&Psi::from(p)))
        .or_else(|| s.pressure.clone())
    {
        let _ = writeln!(o, "pressure: {p}");
    }
    if let Some(line) = steal_text(s.cpu_steal_share) {
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(o, "poller: {}", poller_verdict(&s.poller));
}

/// `s` made safe to print on a terminal: control characters other than newline and tab
/// (C0, DEL, and the C1 range that some terminals also obey) become visible escapes
/// (`\x1b`, `\u{9b}`), so that what a traced process controls (its argv, its comm, a
/// path) cannot move the cursor, retitle the window or feed the terminal a command.
/// Idempotent: what it returns has nothing left to escape. JSON output keeps the exact
/// bytes instead (serde escapes them as JSON does).
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// What the kernel's full thread table cost (tracer_common::COUNTER_THREADS_UNTRACKED).
pub fn threads_untracked_text(n: u64) -> String {
    format!(
        "{} thread{} found no room in the kernel's thread table (16,384 threads alive at once): their run-queue time outside syscalls is not counted",
        format_count(n),
        if n == 1 { "" } else { "s" }
    )
}

/// What a slot collision costs, in one line.
pub fn slot_collisions_text(n: u64) -> String {
    format!(
        "{} call{} not counted: another thread took {} slot in the kernel's in-flight table mid-call (tids equal modulo {})",
        format_count(n),
        if n == 1 { " was" } else { "s were" },
        if n == 1 { "its" } else { "their" },
        format_count(u64::from(tracer_common::INFLIGHT_SLOTS))
    )
}

/// "this kernel: io_uring is not traced (...)": a feature the kernel cannot feed.
pub fn feature_off_text(name: &str, detail: &str) -> String {
    format!("this kernel: {name} is not traced ({detail})")
}

/// Below this, CPU steal is not worth a line.
const STEAL_WORTH_A_LINE: f64 = 0.005;

/// "cpu steal 13.2%: ..." when the hypervisor took a noticeable share of the CPUs.
pub fn steal_text(share: Option<f64>) -> Option<String> {
    let share = share.filter(|s| *s >= STEAL_WORTH_A_LINE)?;
    Some(format!(
        "cpu steal {:.1}%: the hypervisor ran something else for that share of this VM's CPU time; a thread that loses its CPU this way looks, from inside, as if it were running (on-CPU time)",
        share * 100.0
    ))
}

/// "epoll (14 fds registered, 12 sockets); no io_uring", and the like.
pub fn poller_verdict(p: &PollerJson) -> String {
    let fds: Vec<&str> = p
        .epoll
        .instances
        .iter()
        .flat_map(|e| &e.fds)
        .map(|f| f.kind.as_str())
        .collect();
    let sockets = fds.iter().filter(|k| **k == "socket").count();
    let ops: u64 = p.io_uring.ops.iter().map(|o| o.count).sum();
    match p.kind.as_str() {
        "epoll" if !fds.is_empty() && fds.iter().all(|k| *k == "eventfd") => {
            "epoll, for timers only (nothing registered but the runtime's eventfd); no io_uring"
                .into()
        }
        "epoll" => format!(
            "epoll ({} fds registered, {sockets} sockets); no io_uring",
            fds.len()
        ),
        "io_uring" => format!("io_uring ({ops} ops completed); no epoll"),
        "both" => format!(
            "both epoll ({} fds registered) and io_uring ({ops} ops completed)",
            fds.len()
        ),
        _ => "none (no epoll, no io_uring)".into(),
    }
}

/// "poller": epoll instances and io_uring operations.
fn render_poller(o: &mut String, p: &PollerJson) {
    let p = PollerSummary::from(p);
    if p.epoll.is_empty() && p.uring_ops.is_empty() {
        return;
    }
    let _ = writeln!(o, "\npoller");
    for line in poller_lines(&p, 4, 8) {
        let _ = writeln!(o, "  {line}");
    }
}

/// "where the time went": the causes of syscall time and of run-queue time outside
/// syscalls, with their shares.
fn render_attribution(o: &mut String, s: &Summary) {
    if s.attribution.is_empty() {
        return;
    }
    let total: u64 = s
        .attribution
        .iter()
        .filter(|c| c.cause != "idle")
        .map(|c| c.ns)
        .sum();
    let _ = writeln!(
        o,
        "where the time went ({} in syscalls and waiting for a CPU)",
        format_ns(total)
    );
    for c in s.attribution.iter().take(8) {
        if c.cause == "idle" {
            let _ = writeln!(
                o,
                "  {:<18} {:>10}         (runtime threads parked with nothing to do; not a cause)",
                c.cause,
                format_ns(c.ns)
            );
            continue;
        }
        let bar = "█".repeat((c.share * 30.0).round() as usize);
        let _ = writeln!(
            o,
            "  {:<18} {:>10} {:>5.1}%  {bar}",
            c.cause,
            format_ns(c.ns),
            c.share * 100.0
        );
    }
    if !s.runtime_attribution.is_empty() {
        let parts: Vec<String> = s
            .runtime_attribution
            .iter()
            .take(4)
            .map(|c| format!("{} {}", c.cause, format_ns(c.ns)))
            .collect();
        let _ = writeln!(
            o,
            "  the Go runtime's own waits on g0 (not in the shares): {}",
            parts.join(" · ")
        );
    }
    if !s.filesystems.is_empty() {
        let _ = writeln!(o, "  filesystems waited on:");
        for f in s.filesystems.iter().take(5) {
            let _ = writeln!(
                o,
                "    {:<24} {:<10} {:>8} calls {:>10}",
                f.mount,
                format!("fs:{}", f.kind),
                format_count(f.calls),
                format_ns(f.ns)
            );
        }
    }
    o.push('\n');
}

/// The top syscalls' time split (on CPU / run queue / blocked) and causes.
fn render_syscall_causes(o: &mut String, s: &Summary) {
    let top: Vec<_> = s
        .syscalls
        .iter()
        .filter(|r| r.on_cpu_ns + r.runq_ns + r.blocked_ns > 0)
        .take(5)
        .collect();
    if top.is_empty() {
        return;
    }
    let _ = writeln!(o, "\ntop syscalls by cause");
    for r in top {
        let causes = r
            .causes
            .iter()
            .take(3)
            .map(|c| {
                if c.cause == "idle" {
                    format!("idle {}", format_ns(c.ns))
                } else {
                    format!("{} {:.0}%", c.cause, c.share * 100.0)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "  {:<16} on-cpu {:>9} · run-queue {:>9} · blocked {:>9} · {causes}",
            r.name,
            format_ns(r.on_cpu_ns),
            format_ns(r.runq_ns),
            format_ns(r.blocked_ns)
        );
    }
}

/// "children": the SIGCHLD lifecycle, anomalies first.
fn render_children(o: &mut String, s: &Summary) {
    let c = &s.sigchld;
    if c.exits == 0 && s.anomalies.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nchildren (SIGCHLD lifecycle)");
    for a in &s.anomalies {
        let _ = writeln!(o, "  ! {}", a.message);
    }
    let _ = writeln!(
        o,
        "  exited {} · SIGCHLD delivered {} · coalesced {} · ignored {} · undelivered {}{} · reaped {}{} · unreaped {} · slowest reap {}",
        c.exits,
        c.delivered,
        c.coalesced,
        c.ignored,
        c.undelivered,
        if c.not_sent + c.failed > 0 { format!(" · not sent {}", c.not_sent + c.failed) } else { String::new() },
        c.reaped,
        if c.auto_reaped > 0 { format!(" ({} by the kernel)", c.auto_reaped) } else { String::new() },
        c.unreaped,
        format_ns(c.max_reap_latency_ns),
    );
}

/// "signals": one row per signal number; SIGURG (preemption) on a line of its own.
fn render_signals(o: &mut String, s: &Summary) {
    if s.signals.is_empty() && s.preemption_signals == 0 {
        return;
    }
    let _ = writeln!(o, "\nsignals");
    if !s.signals.is_empty() {
        let _ = writeln!(
            o,
            "  {:<10} {:>10} {:>10} {:>8} {:>10}  senders -> receivers",
            "signal", "generated", "delivered", "ignored", "coalesced"
        );
    }
    for c in &s.signals {
        let senders: Vec<String> = c
            .senders
            .iter()
            .take(3)
            .map(|p| {
                format!(
                    "{}[{}]×{}",
                    p.comm.as_deref().unwrap_or("?"),
                    p.pid,
                    p.count
                )
            })
            .collect();
        let more = if c.senders.len() > 3 {
            format!(" +{}", c.senders.len() - 3)
        } else {
            String::new()
        };
        let receivers: Vec<String> = c
            .receivers
            .iter()
            .take(3)
            .map(|p| p.pid.to_string())
            .collect();
        let _ = writeln!(
            o,
            "  {:<10} {:>10} {:>10} {:>8} {:>10}  {}{more} -> {}",
            c.name,
            format_count(c.generated),
            format_count(c.delivered),
            format_count(c.ignored),
            format_count(c.already_pending),
            senders.join(", "),
            receivers.join(", ")
        );
    }
    if s.preemption_signals > 0 {
        let _ = writeln!(
            o,
            "  preemption (SIGURG, the Go runtime's async preemption): {} ({}/s)",
            format_count(s.preemption_signals),
            s.preemption_per_sec
        );
    }
}

/// A trace's exit status in `present`'s words.
fn exit_json_text(e: &ExitJson) -> String {
    exit_text(exit_status(e.code, e.signal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        analysis::{Analyzer, KernelCounters, RawSyscallStats, Snapshot, TargetInfo},
        export::{
            ndjson,
            schema::{HostProcess, Line},
        },
    };

    /// The text of a snapshot, through the NDJSON types as the live path does.
    fn text(s: &Snapshot, slow_ns: u64) -> String {
        let facts = ndjson::HeaderFacts {
            kernel_release: "6.18".into(),
            start_unix_ns: 0,
            slow_threshold_ns: slow_ns,
            follow: false,
            features: s.kernel_features.clone(),
        };
        let (Line::Header(h), Line::Summary(sum)) = (
            ndjson::header_line(&s.target, &facts),
            ndjson::summary_line(s),
        ) else {
            panic!("header and summary lines")
        };
        render(&h, &sum)
    }

    fn snapshot() -> Snapshot {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 7,
                command: vec!["./app".into()],
                go_version: Some("go1.27.3".into()),
                launched: false,
            },
            0,
        );
        let hist = |v: u64| {
            let mut h = vec![0; tracer_common::HIST_BUCKETS];
            h[tracer_common::hist_bucket(v)] = 1;
            h
        };
        a.on_stats(
            vec![
                RawSyscallStats {
                    nr: 110,
                    calls: 4000,
                    errors: 0,
                    total_ns: 1_000_000,
                    max_ns: 300,
                    hist: hist(250),
                    ..Default::default()
                },
                RawSyscallStats {
                    nr: 35,
                    calls: 5,
                    errors: 0,
                    total_ns: 10_500_000,
                    max_ns: 2_200_000,
                    hist: hist(2_100_000),
                    ..Default::default()
                },
            ],
            KernelCounters {
                lost_records: 0,
                unmatched_exits: 2,
                slot_collisions: 0,
                threads_untracked: 0,
                proc_stats_full: 0,
            },
        );
        a.snapshot(2_000_000_000)
    }

    #[test]
    fn a_feature_this_kernel_cannot_feed_gets_one_line_and_one_on_does_not() {
        let mut s = snapshot();
        s.kernel_features = vec![
            crate::analysis::KernelFeature {
                name: "io_uring".into(),
                on: false,
                detail: "this kernel has no io_uring tracepoints (CONFIG_IO_URING off?)".into(),
            },
            crate::analysis::KernelFeature {
                name: "signals".into(),
                on: true,
                detail: "signal_generate + signal_deliver".into(),
            },
        ];
        let out = text(&s, 1_000_000);
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("this kernel:"))
            .collect();
        assert_eq!(
            lines,
            ["this kernel: io_uring is not traced (this kernel has no io_uring tracepoints (CONFIG_IO_URING off?))"],
            "{out}"
        );
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert!(matches!(
            terminal_safe("plain\ttext\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        let hostile = "sh -c exit\u{1b}]0;PWNED\u{7}\u{9b}31m\r\u{7f}";
        let safe = terminal_safe(hostile);
        assert_eq!(safe, "sh -c exit\\x1b]0;PWNED\\x07\\u{9b}31m\\x0d\\x7f");
        assert!(!safe.chars().any(|c| c.is_control()));
        assert_eq!(terminal_safe(&safe), safe, "idempotent");
        // In the summary, where argv and comm are printed.
        let mut snap = snapshot();
        snap.target.command = vec!["sh".into(), "-c".into(), hostile.into()];
        let out = text(&snap, 1_000_000);
        assert!(out.contains("\\x1b]0;PWNED"), "{out}");
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{out:?}"
        );
    }

    #[test]
    fn cpu_steal_gets_a_line_from_half_a_percent() {
        assert_eq!(steal_text(None), None);
        assert_eq!(steal_text(Some(0.004)), None);
        let line = steal_text(Some(0.132)).expect("a line");
        assert!(
            line.starts_with("cpu steal 13.2%: the hypervisor"),
            "{line}"
        );
    }

    #[test]
    fn hostwide_has_the_table_then_each_process() {
        let s = snapshot();
        let facts = ndjson::HeaderFacts {
            kernel_release: "6.1.0".into(),
            start_unix_ns: 0,
            slow_threshold_ns: 1_000_000,
            follow: false,
            features: Vec::new(),
        };
        let (Line::Header(h), Line::Summary(sum)) = (
            ndjson::header_line(&s.target, &facts),
            ndjson::summary_line(&s),
        ) else {
            panic!("header and summary lines")
        };
        let process = |pid: u32, total_ns: u64, exited: bool| {
            let mut summary = (*sum).clone();
            summary.total_ns = total_ns;
            HostProcess {
                pid,
                command: vec![format!("/srv/app{pid}"), "-x".into()],
                exited,
                summary,
            }
        };
        let w = Hostwide {
            duration_ns: 2_000_000_000,
            traced: 3,
            exited: 1,
            untraced: 2,
            not_kept: 0,
            cgroup: Some("/kubepods/\x1bpod".into()),
            lost_records: 0,
            calls_not_counted: 5,
            bad_records: 0,
            processes: vec![process(11, 9_000_000, false), process(12, 1_000_000, true)],
        };
        let out = render_hostwide(&h, &w);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("gotrace: every Go process in cgroup /kubepods/"),
            "{out}"
        );
        assert!(!out.contains('\x1b'), "escaped: {out}");
        assert!(
            lines[0].contains("2 processes (1 exited), 2 without a slot"),
            "{out}"
        );
        assert!(
            out.contains("warning: 2 Go processes found no slot"),
            "{out}"
        );
        assert!(out.contains("warning: 5 calls were not counted"), "{out}");
        let row = |pid: &str| {
            lines
                .iter()
                .position(|l| l.split_whitespace().next() == Some(pid))
                .unwrap_or_else(|| panic!("no row for {pid}:\n{out}"))
        };
        assert!(row("11") < row("12"), "ranked by syscall time:\n{out}");
        assert!(lines[row("12")].ends_with("(exited)"), "{out}");
        assert!(lines[row("11")].contains("app11"), "{out}");
        // Then each process's own summary, in the same order.
        let a = out.find("── pid 11 ──").expect("section 11");
        let b = out.find("── pid 12 ──").expect("section 12");
        assert!(a < b, "{out}");
        assert!(
            out[a..].contains("gotrace: pid 11 (/srv/app11 -x)"),
            "{out}"
        );
    }

    #[test]
    fn summary_has_header_table_and_notes() {
        let out = text(&snapshot(), 1_000_000);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "gotrace: pid 7 (./app) · go1.27.3 · traced 2.00 s · 0 lost records"
        );
        let table = lines
            .iter()
            .position(|l| l.starts_with("syscall "))
            .expect("table header");
        assert!(
            lines[table + 1].starts_with("nanosleep"),
            "sorted by total time:\n{out}"
        );
        assert!(
            lines[table + 2].starts_with("getppid") && lines[table + 2].contains("4,000"),
            "{out}"
        );
        assert!(
            out.contains("poller: none (no epoll, no io_uring)"),
            "{out}"
        );
        assert!(
            out.contains("note: 2 calls already in progress when tracing began are not counted"),
            "{out}"
        );
        assert!(!out.contains("warning"), "{out}");
    }

    #[test]
    fn lost_records_are_loud() {
        let mut s = snapshot();
        s.counters.lost_records = 12;
        let out = text(&s, 1_000_000);
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .ends_with("12 lost records"),
            "{out}"
        );
        assert!(out.contains("warning: 12 records were lost"), "{out}");
    }

    #[test]
    fn slot_collisions_are_said_apart_from_calls_in_progress_at_the_start() {
        let mut s = snapshot();
        s.counters.slot_collisions = 3;
        let out = text(&s, 1_000_000);
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .ends_with("· 0 lost records · 3 calls lost to slot collisions"),
            "{out}"
        );
        assert!(
            out.contains("warning: 3 calls were not counted: another thread took their slot in the kernel's in-flight table mid-call (tids equal modulo 32,768)"),
            "{out}"
        );
        assert!(
            out.contains("note: 2 calls already in progress when tracing began are not counted"),
            "{out}"
        );
        s.counters.slot_collisions = 1;
        assert!(
            text(&s, 1_000_000)
                .contains("warning: 1 call was not counted: another thread took its slot"),
            "{out}"
        );
    }

    #[test]
    fn pressure_is_rendered_from_the_numbers() {
        use crate::export::schema::{PsiJson, PsiResourceJson};
        let r = |some: f64, full: Option<f64>, stall: Option<u64>| PsiResourceJson {
            some_avg10: some,
            some_avg60: 0.0,
            full_avg10: full,
            full_avg60: full,
            some_stall_ns: stall,
            full_stall_ns: None,
        };
        let psi = PsiJson {
            source: "cgroup:/app".into(),
            cpu: Some(r(12.34, None, Some(250_000_000))),
            memory: Some(r(4.26, Some(3.67), Some(0))),
            io: Some(r(0.0, Some(0.0), None)),
        };
        assert_eq!(
            pressure_text(&Psi::from(&psi)),
            "cpu some 12.3% · memory some 4.3%, full 3.7% · io some 0.0% (avg10, cgroup:/app); stalled while tracing: cpu 250.00 ms"
        );
        // The summary renders it; a trace from before `psi` existed has only the text.
        let mut s = snapshot();
        s.system.psi = Some(crate::analysis::Psi {
            source: "system".into(),
            cpu: Some(crate::analysis::PsiResource {
                some_avg10: 5.6,
                ..Default::default()
            }),
            memory: None,
            io: None,
        });
        let out = text(&s, 1_000_000);
        assert!(
            out.contains("\npressure: cpu some 5.6% (avg10, system)\n"),
            "{out}"
        );
        let facts = ndjson::HeaderFacts {
            kernel_release: "6.18".into(),
            start_unix_ns: 0,
            slow_threshold_ns: 1_000_000,
            follow: false,
            features: vec![],
        };
        let (Line::Header(h), Line::Summary(mut old)) = (
            ndjson::header_line(&s.target, &facts),
            ndjson::summary_line(&s),
        ) else {
            panic!("header and summary lines")
        };
        assert_eq!(
            old.pressure.as_deref(),
            Some("cpu some 5.6% (avg10, system)"),
            "the text is in the JSON too"
        );
        old.psi = None;
        old.pressure = Some("cpu 5.6% · memory 0.0% · io 0.6% (some, avg10, cgroup:/)".into());
        assert!(
            render(&h, &old)
                .contains("\npressure: cpu 5.6% · memory 0.0% · io 0.6% (some, avg10, cgroup:/)\n"),
            "{}",
            render(&h, &old)
        );
    }

    #[test]
    fn not_a_go_binary_is_said() {
        let mut s = snapshot();
        s.target.go_version = None;
        assert!(text(&s, 0).contains("· not a Go binary ·"));
    }

    #[test]
    fn exits_are_said_as_the_dashboard_says_them() {
        let mut s = snapshot();
        s.target_exit = Some(crate::analysis::ExitStatus::Signal(9));
        let out = text(&s, 1_000_000);
        assert_eq!(
            out.lines().nth(1),
            Some("target killed by SIGKILL"),
            "{out}"
        );
        s.target_exit = Some(crate::analysis::ExitStatus::Code(3));
        let out = text(&s, 1_000_000);
        assert_eq!(
            out.lines().nth(1),
            Some("target exited with code 3"),
            "{out}"
        );
    }
}
