//! `gotrace report`: reads NDJSON traces back (no root needed), prints the summary that
//! gotrace printed live, or compares two traces side by side.
//!
//! A trace is read line by line, so its size does not matter; only the header, the
//! summary, and small aggregates of the event lines are kept. What a reader may meet:
//! - a trace cut short (gotrace was killed): at most its last line is incomplete (it is
//!   left out, and the message says so) and there is no summary. `report` then prints what the
//!   event lines show (the streamed slow calls, processes, signals) and exits 1 with one
//!   line saying the summary is missing; `--json` and comparing refuse such a trace;
//! - a file that is not a trace, or a trace of a newer format: one line, exit 1.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs::File,
    io::{self, BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{anyhow, bail, Context as _, Result};

use super::{
    ndjson::exit_status,
    schema::{
        CallSiteJson, CauseJson, Header, Hostwide, Line, Summary, SyscallSummary, FORMAT_VERSION,
    },
    text,
};
use crate::present::{exit_text, format_count, format_ns};

/// `gotrace report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    /// One trace, or two to compare.
    pub paths: Vec<std::path::PathBuf>,
    pub json: bool,
}

/// The longest line a trace may have. A header is a few hundred bytes plus the target's
/// argv, which the kernel bounds (ARG_MAX, a quarter of the stack limit: 2 MiB by
/// default) and JSON escaping can make up to six times longer; event lines are smaller.
/// A longer line is not gotrace's, and reading stops there: memory stays bounded.
const MAX_LINE_BYTES: u64 = 64 << 20;

/// What a trace file holds.
#[derive(Debug, Clone)]
pub struct Trace {
    pub path: PathBuf,
    pub header: Header,
    /// None when the trace was cut before its end (gotrace was killed).
    pub summary: Option<Box<Summary>>,
    /// The summary line as the file has it, for `--json` (a host-wide trace's
    /// `hostwide` line).
    pub summary_line: Option<String>,
    /// A host-wide trace's end: every process's summary (`summary` is then None).
    pub hostwide: Option<Box<Hostwide>>,
    /// Event lines (between the header and the summary), by type.
    pub events: EventCounts,
    /// The last line was incomplete (and was left out): the file was cut while it was
    /// being written.
    pub truncated_last_line: bool,
    /// What the event lines say, for a trace without a summary.
    pub streamed: Streamed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub syscalls: u64,
    pub processes: u64,
    pub signals: u64,
    pub children: u64,
}

impl EventCounts {
    pub fn total(&self) -> u64 {
        self.syscalls + self.processes + self.signals + self.children
    }
}

/// Aggregates of the event lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streamed {
    /// The streamed (slow) calls per syscall name.
    pub syscalls: BTreeMap<String, SlowCalls>,
    /// The latest event time, ns since the start: how far the trace got.
    pub last_ts_ns: i64,
    /// Processes with lifecycle lines: pid -> (comm, how it ended).
    pub processes: BTreeMap<u32, (String, Option<String>)>,
    /// Signal lines per signal name and event ("SIGCHLD generate").
    pub signals: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowCalls {
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
}

/// Reads a trace written by `gotrace --json`.
pub fn read_trace(path: &Path) -> Result<Trace> {
    let file = File::open(path).map_err(|e| read_error(path, e))?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let shown = path.display();
    let not_trace = |why: String| anyhow!("{shown} is not a gotrace trace: {why}");

    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut buf)
        .map_err(|e| read_error(path, e))?;
    let header = parse_header(&buf).map_err(|why| match why {
        HeaderError::Newer(n) => anyhow!(
            "{shown} uses trace format {n}; this gotrace reads format {FORMAT_VERSION}: upgrade gotrace"
        ),
        HeaderError::Cut => anyhow!("{shown} ends inside its header line: the trace was cut before anything was recorded"),
        HeaderError::Not(why) => not_trace(why),
    })?;

    let mut t = Trace {
        path: path.to_path_buf(),
        header,
        summary: None,
        summary_line: None,
        hostwide: None,
        events: EventCounts::default(),
        truncated_last_line: false,
        streamed: Streamed::default(),
    };
    let mut number = 1u64;
    loop {
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let whole = buf.last() == Some(&b'\n');
        if !whole && n as u64 >= MAX_LINE_BYTES {
            return Err(not_trace(format!(
                "line {number} is longer than {} MiB, more than any of gotrace's",
                MAX_LINE_BYTES >> 20
            )));
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(s) => s.trim(),
            Err(_) if !whole => {
                t.truncated_last_line = true;
                break;
            }
            Err(_) => return Err(not_trace(format!("line {number} is not UTF-8 text"))),
        };
        if text.is_empty() {
            continue;
        }
        let line: Line = match serde_json::from_str(text) {
            Ok(l) => l,
            // Cut while it was being written: the file ends without its newline.
            Err(_) if !whole => {
                t.truncated_last_line = true;
                break;
            }
            Err(e) => return Err(not_trace(format!("line {number}: {}", json_error(&e)))),
        };
        if t.summary.is_some() || t.hostwide.is_some() {
            return Err(not_trace(format!(
                "line {number} follows the summary, which ends a trace (two traces joined?)"
            )));
        }
        match line {
            Line::Header(_) => {
                return Err(not_trace(format!(
                    "line {number} is a second header (two traces joined?)"
                )))
            }
            Line::Summary(s) => {
                t.summary = Some(s);
                t.summary_line = Some(text.to_string());
            }
            Line::Hostwide(w) => {
                t.hostwide = Some(w);
                t.summary_line = Some(text.to_string());
            }
            other => t.count(&other),
        }
    }
    Ok(t)
}

/// "cannot read PATH: No such file or directory". A trace gotrace wrote as root is
/// readable by root only (0600), which `report`, run without sudo, meets first.
fn read_error(path: &Path, e: io::Error) -> anyhow::Error {
    let e = if e.kind() == io::ErrorKind::PermissionDenied {
        let why = crate::errno::strip_os_error(&e);
        io::Error::new(e.kind(), format!("{why} (gotrace creates its files readable by their owner only: use sudo, or chown the file)"))
    } else {
        e
    };
    anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
}

enum HeaderError {
    Newer(u64),
    Cut,
    Not(String),
}

fn parse_header(buf: &[u8]) -> Result<Header, HeaderError> {
    let whole = buf.last() == Some(&b'\n');
    let text = String::from_utf8_lossy(buf);
    let text = text.trim();
    if text.is_empty() {
        return Err(HeaderError::Not("it is empty".into()));
    }
    if text.starts_with("{\"traceEvents\"") || text.starts_with("[{\"") && text.contains("\"ph\"") {
        return Err(HeaderError::Not(
            "it is a Chrome/Perfetto timeline (open it in ui.perfetto.dev); report reads the NDJSON of --json".into(),
        ));
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) if !whole && buf.len() as u64 >= MAX_LINE_BYTES => {
            return Err(HeaderError::Not(format!(
                "its first line is longer than {} MiB, more than any header",
                MAX_LINE_BYTES >> 20
            )))
        }
        Err(_) if !whole && text.starts_with("{\"type\":\"header\"") => {
            return Err(HeaderError::Cut)
        }
        Err(e) => {
            return Err(HeaderError::Not(format!(
                "its first line is not JSON ({})",
                json_error(&e)
            )))
        }
    };
    if value.get("type").and_then(|t| t.as_str()) != Some("header") {
        return Err(HeaderError::Not(
            "its first line is not a gotrace header".into(),
        ));
    }
    match value.get("format").and_then(|f| f.as_u64()) {
        Some(n) if n > u64::from(FORMAT_VERSION) => return Err(HeaderError::Newer(n)),
        Some(n) if n >= 1 => {}
        _ => {
            return Err(HeaderError::Not(
                "its header has no valid format number".into(),
            ))
        }
    }
    match serde_json::from_value::<Line>(value) {
        Ok(Line::Header(h)) => Ok(h),
        Ok(_) => Err(HeaderError::Not(
            "its first line is not a gotrace header".into(),
        )),
        Err(e) => Err(HeaderError::Not(format!(
            "its header does not match format {FORMAT_VERSION} ({})",
            json_error(&e)
        ))),
    }
}

/// serde_json's message without its position: lines are counted by the reader.
fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    msg.strip_suffix(&suffix).unwrap_or(&msg).to_string()
}

impl Trace {
    fn count(&mut self, line: &Line) {
        let s = &mut self.streamed;
        match line {
            Line::Syscall(c) => {
                self.events.syscalls += 1;
                s.last_ts_ns = s.last_ts_ns.max(c.ts_ns);
                let e = s.syscalls.entry(c.name.clone()).or_default();
                e.calls += 1;
                e.errors += u64::from(c.errno.is_some());
                e.total_ns += c.duration_ns;
                e.max_ns = e.max_ns.max(c.duration_ns);
            }
            Line::Process(p) => {
                self.events.processes += 1;
                s.last_ts_ns = s.last_ts_ns.max(p.ts_ns);
                let entry = s
                    .processes
                    .entry(p.pid)
                    .or_insert_with(|| (p.comm.clone(), None));
                entry.0 = p.comm.clone();
                if p.event == super::schema::ProcessEventKind::Exit {
                    entry.1 = Some(exit_text(exit_status(p.exit_code, p.signal)));
                }
            }
            Line::Signal(g) => {
                self.events.signals += 1;
                s.last_ts_ns = s.last_ts_ns.max(g.ts_ns);
                let event = match g.event {
                    super::schema::SignalEventKind::Generate => "generated",
                    super::schema::SignalEventKind::Deliver => "delivered",
                };
                *s.signals.entry(format!("{} {event}", g.name)).or_default() += 1;
            }
            Line::Child(c) => {
                self.events.children += 1;
                s.last_ts_ns = s.last_ts_ns.max(c.ts_ns);
            }
            Line::Header(_) | Line::Summary(_) | Line::Hostwide(_) => {}
        }
    }
}

/// The text summary of a trace: what gotrace printed live at its end; for a trace
/// without a summary, what its event lines show.
pub fn render_report(t: &Trace) -> String {
    match (&t.summary, &t.hostwide) {
        (Some(s), _) => text::render(&t.header, s),
        (None, Some(w)) => text::render_hostwide(&t.header, w),
        (None, None) => render_partial(t),
    }
}

/// A trace cut before its summary: the header, and the streamed calls, processes and
/// signals its event lines show.
fn render_partial(t: &Trace) -> String {
    let h = &t.header;
    let s = &t.streamed;
    let mut o = String::new();
    let go = h.go_version.as_deref().unwrap_or("not a Go binary");
    let _ = writeln!(
        o,
        "gotrace: pid {} ({}) · {go} · started {} · cut short after {}: no summary",
        h.target.pid,
        command_line(h),
        h.start_time,
        format_ns(s.last_ts_ns.max(0) as u64)
    );
    let _ = writeln!(
        o,
        "the trace ends before its summary (gotrace was killed?); below is what its {} event line{} show{}",
        format_count(t.events.total()),
        if t.events.total() == 1 { "" } else { "s" },
        if t.events.total() == 1 { "s" } else { "" },
    );
    if !s.syscalls.is_empty() {
        let _ = writeln!(
            o,
            "\nstreamed calls (only those at or over {}; the full table is in the summary)",
            format_ns(h.slow_threshold_ns)
        );
        let name_w = s.syscalls.keys().map(|n| n.len()).max().unwrap_or(7).max(7);
        let _ = writeln!(
            o,
            "{:<name_w$} {:>12} {:>9} {:>10} {:>10}",
            "syscall", "calls", "errors", "total", "max"
        );
        let mut rows: Vec<(&String, &SlowCalls)> = s.syscalls.iter().collect();
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
        for (name, c) in rows {
            let _ = writeln!(
                o,
                "{name:<name_w$} {:>12} {:>9} {:>10} {:>10}",
                format_count(c.calls),
                format_count(c.errors),
                format_ns(c.total_ns),
                format_ns(c.max_ns)
            );
        }
    }
    if !s.processes.is_empty() {
        let _ = writeln!(o, "\nprocesses");
        for (pid, (comm, end)) in &s.processes {
            let _ = writeln!(
                o,
                "  {pid:<8} {comm}: {}",
                end.as_deref().unwrap_or("running when the trace ends")
            );
        }
    }
    if !s.signals.is_empty() {
        let _ = writeln!(o, "\nsignals");
        for (what, n) in &s.signals {
            let _ = writeln!(o, "  {what}: {}", format_count(*n));
        }
    }
    o
}

fn command_line(h: &Header) -> String {
    if h.target.command.is_empty() {
        "?".into()
    } else {
        h.target.command.join(" ")
    }
}

/// Two traces side by side: the overall numbers, every syscall (calls, total, p99), and
/// where the time went, each with its change from A to B.
pub fn render_compare(a: &Trace, b: &Trace) -> Result<String> {
    if let Some(t) = [a, b].into_iter().find(|t| t.hostwide.is_some()) {
        bail!(
            "{} is a trace of every Go process (--all): compare takes traces of one process",
            t.path.display()
        );
    }
    let (Some(sa), Some(sb)) = (&a.summary, &b.summary) else {
        let cut = if a.summary.is_none() { a } else { b };
        bail!(
            "{} has no summary (the trace was cut short): cannot compare it",
            cut.path.display()
        );
    };
    let mut o = String::new();
    let _ = writeln!(o, "gotrace report: A -> B");
    for (tag, t, s) in [("A", a, sa), ("B", b, sb)] {
        let h = &t.header;
        let _ = writeln!(
            o,
            "  {tag}: {} · pid {} ({}) · {} · {} · traced {}",
            t.path.display(),
            h.target.pid,
            command_line(h),
            s.go_version.as_deref().unwrap_or("not a Go binary"),
            h.start_time,
            format_ns(s.duration_ns)
        );
    }

    let _ = writeln!(
        o,
        "\n{:<16} {:>12} {:>12} {:>12} {:>8}",
        "", "A", "B", "Δ", "Δ%"
    );
    let overall: [(&str, u64, u64, bool); 7] = [
        ("traced", sa.duration_ns, sb.duration_ns, true),
        ("syscalls", sa.total_calls, sb.total_calls, false),
        ("errors", sa.total_errors, sb.total_errors, false),
        ("in syscalls", sa.total_ns, sb.total_ns, true),
        ("slow calls", sa.slow_calls, sb.slow_calls, false),
        ("lost records", sa.lost_records, sb.lost_records, false),
        (
            "slot collisions",
            sa.slot_collisions,
            sb.slot_collisions,
            false,
        ),
    ];
    for (what, x, y, is_time) in overall {
        let _ = writeln!(
            o,
            "{what:<16} {:>12} {:>12} {:>12} {:>8}",
            amount(x, is_time),
            amount(y, is_time),
            delta(x, y, is_time),
            change(Some(x), Some(y))
        );
    }

    render_syscall_deltas(&mut o, sa, sb);
    render_cause_deltas(&mut o, &sa.attribution, &sb.attribution);
    render_call_site_deltas(&mut o, sa, sb);
    Ok(o)
}

/// Call sites compared: the Go code whose streamed calls took the most time in either.
fn render_call_site_deltas(o: &mut String, sa: &Summary, sb: &Summary) {
    let key = |c: &CallSiteJson| (c.function.clone(), c.file.clone(), c.line);
    let mut keys: Vec<(String, String, u32)> = sa
        .call_sites
        .iter()
        .chain(&sb.call_sites)
        .map(key)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return;
    }
    let find = |s: &Summary, k: &(String, String, u32)| {
        s.call_sites
            .iter()
            .find(|c| &key(c) == k)
            .map(|c| (c.calls, c.ns))
    };
    type Row = (
        (String, String, u32),
        Option<(u64, u64)>,
        Option<(u64, u64)>,
    );
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|k| {
            let (x, y) = (find(sa, &k), find(sb, &k));
            (k, x, y)
        })
        .collect();
    let ns = |v: &Option<(u64, u64)>| v.map_or(0, |v| v.1);
    rows.sort_by(|x, y| {
        (ns(&y.1).max(ns(&y.2)))
            .cmp(&ns(&x.1).max(ns(&x.2)))
            .then(x.0.cmp(&y.0))
    });
    let _ = writeln!(
        o,
        "\n{:<44} {:>8} {:>8} {:>10} {:>10} {:>11} {:>8}",
        "Go call site (slow calls)", "calls A", "calls B", "time A", "time B", "Δ", "Δ%"
    );
    const SHOWN: usize = 15;
    for ((function, file, line), x, y) in rows.iter().take(SHOWN) {
        let site = crate::stack::Frame {
            function: function.clone(),
            file: file.clone(),
            line: *line,
            inlined: false,
        }
        .short();
        let site = super::text::terminal_safe(&site).into_owned();
        let calls = |v: &Option<(u64, u64)>| v.map_or("-".to_string(), |v| format_count(v.0));
        let time = |v: &Option<(u64, u64)>| v.map_or("-".to_string(), |v| format_ns(v.1));
        let _ = writeln!(
            o,
            "{site:<44} {:>8} {:>8} {:>10} {:>10} {:>11} {:>8}",
            calls(x),
            calls(y),
            time(x),
            time(y),
            delta(ns(x), ns(y), true),
            change(x.map(|v| v.1), y.map(|v| v.1))
        );
    }
    if rows.len() > SHOWN {
        let _ = writeln!(o, "and {} more call sites", rows.len() - SHOWN);
    }
}

fn render_syscall_deltas(o: &mut String, sa: &Summary, sb: &Summary) {
    let mut names: Vec<&str> = sa
        .syscalls
        .iter()
        .chain(&sb.syscalls)
        .map(|r| r.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let find = |s: &'_ Summary, n: &str| s.syscalls.iter().find(|r| r.name == n).cloned();
    let mut rows: Vec<(&str, Option<SyscallSummary>, Option<SyscallSummary>)> = names
        .into_iter()
        .map(|n| (n, find(sa, n), find(sb, n)))
        .collect();
    let total = |r: &Option<SyscallSummary>| r.as_ref().map_or(0, |r| r.total_ns);
    rows.sort_by(|x, y| {
        (total(&y.1).max(total(&y.2)))
            .cmp(&total(&x.1).max(total(&x.2)))
            .then(x.0.cmp(y.0))
    });
    if rows.is_empty() {
        o.push_str("\nno syscalls in either trace\n");
        return;
    }
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(7).max(7);
    let _ = writeln!(
        o,
        "\n{:<name_w$} {:>10} {:>10} {:>9} {:>10} {:>10} {:>11} {:>8} {:>10} {:>10} {:>11}",
        "syscall",
        "calls A",
        "calls B",
        "Δ",
        "total A",
        "total B",
        "Δ",
        "Δ%",
        "p99 A",
        "p99 B",
        "Δ"
    );
    for (name, x, y) in &rows {
        let get = |r: &Option<SyscallSummary>, f: fn(&SyscallSummary) -> u64| r.as_ref().map(f);
        let cells = |f: fn(&SyscallSummary) -> u64, is_time: bool| {
            let (p, q) = (get(x, f), get(y, f));
            let show = |v: Option<u64>| v.map_or("-".to_string(), |v| amount(v, is_time));
            (
                show(p),
                show(q),
                delta(p.unwrap_or(0), q.unwrap_or(0), is_time),
                change(p, q),
            )
        };
        let (ca, cb, cd, _) = cells(|r| r.calls, false);
        let (ta, tb, td, tp) = cells(|r| r.total_ns, true);
        let (pa, pb, pd, _) = cells(|r| r.p99_ns, true);
        let _ = writeln!(
            o,
            "{name:<name_w$} {ca:>10} {cb:>10} {cd:>9} {ta:>10} {tb:>10} {td:>11} {tp:>8} {pa:>10} {pb:>10} {pd:>11}"
        );
    }
}

fn render_cause_deltas(o: &mut String, a: &[CauseJson], b: &[CauseJson]) {
    let mut causes: Vec<&str> = a.iter().chain(b).map(|c| c.cause.as_str()).collect();
    causes.sort_unstable();
    causes.dedup();
    if causes.is_empty() {
        return;
    }
    let find = |v: &'_ [CauseJson], c: &str| v.iter().find(|x| x.cause == c).cloned();
    let ns = |v: &Option<CauseJson>| v.as_ref().map_or(0, |x| x.ns);
    let mut rows: Vec<(&str, Option<CauseJson>, Option<CauseJson>)> = causes
        .into_iter()
        .map(|c| (c, find(a, c), find(b, c)))
        .collect();
    // As in the summary: by time, idle (not a cause of latency) last.
    rows.sort_by(|x, y| {
        (x.0 == "idle")
            .cmp(&(y.0 == "idle"))
            .then((ns(&y.1).max(ns(&y.2))).cmp(&ns(&x.1).max(ns(&x.2))))
            .then(x.0.cmp(y.0))
    });
    let _ = writeln!(
        o,
        "\n{:<20} {:>10} {:>6} {:>10} {:>6} {:>11} {:>8}",
        "where the time went", "A", "share", "B", "share", "Δ", "Δ share"
    );
    for (cause, x, y) in &rows {
        let idle = *cause == "idle";
        let share = |v: &Option<CauseJson>| match v {
            Some(c) if !idle => format!("{:.1}%", c.share * 100.0),
            _ => "-".into(),
        };
        let time = |v: &Option<CauseJson>| v.as_ref().map_or("-".to_string(), |c| format_ns(c.ns));
        let dshare = if idle {
            String::new()
        } else {
            let of = |v: &Option<CauseJson>| v.as_ref().map_or(0.0, |c| c.share);
            format!("{:+.1} pp", (of(y) - of(x)) * 100.0)
        };
        let _ = writeln!(
            o,
            "{cause:<20} {:>10} {:>6} {:>10} {:>6} {:>11} {:>8}",
            time(x),
            share(x),
            time(y),
            share(y),
            delta(ns(x), ns(y), true),
            dshare
        );
    }
}

/// A count or a duration.
fn amount(v: u64, is_time: bool) -> String {
    if is_time {
        format_ns(v)
    } else {
        format_count(v)
    }
}

/// "+1.20 ms", "-3", "0".
fn delta(a: u64, b: u64, is_time: bool) -> String {
    let sign = match b.cmp(&a) {
        std::cmp::Ordering::Greater => "+",
        std::cmp::Ordering::Less => "-",
        std::cmp::Ordering::Equal => "",
    };
    format!("{sign}{}", amount(a.abs_diff(b), is_time))
}

/// The relative change: "+12.3%", "new" (only in B), "gone" (only in A).
fn change(a: Option<u64>, b: Option<u64>) -> String {
    match (a, b) {
        (None | Some(0), Some(b)) if b > 0 => "new".into(),
        (Some(a), None) if a > 0 => "gone".into(),
        (Some(a), Some(b)) if a == b && a > 0 => "0.0%".into(),
        (Some(a), Some(b)) if a > 0 => format!("{:+.1}%", (b as f64 - a as f64) / a as f64 * 100.0),
        _ => String::new(),
    }
}

/// `gotrace report PATH [PATH2] [--json]`. Exit 0; 1 when the trace has no summary (what
/// its event lines show is printed all the same). Errors are returned.
pub fn run(cfg: &ReportConfig) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    // A trace from elsewhere may carry anything in its argv and comm fields.
    let print = |out: &mut io::StdoutLock<'_>, s: &str| {
        out.write_all(text::terminal_safe(s).as_bytes())
            .and_then(|()| out.flush())
            .context("write the report")
    };
    match cfg.paths.as_slice() {
        [a, b] => {
            let (a, b) = (read_trace(a)?, read_trace(b)?);
            warn_cut(&a);
            warn_cut(&b);
            print(&mut out, &render_compare(&a, &b)?)?;
            Ok(ExitCode::SUCCESS)
        }
        [path] => {
            let t = read_trace(path)?;
            let shown = path.display();
            match (&t.summary_line, cfg.json) {
                (Some(line), true) => {
                    warn_cut(&t);
                    print(&mut out, &format!("{line}\n"))?;
                    Ok(ExitCode::SUCCESS)
                }
                (Some(_), false) => {
                    warn_cut(&t);
                    print(&mut out, &render_report(&t))?;
                    Ok(ExitCode::SUCCESS)
                }
                (None, true) => bail!(
                    "{shown} has no summary (the trace was cut short): nothing to print as JSON"
                ),
                (None, false) if t.events.total() == 0 => {
                    bail!("{shown} has no summary and no events (the trace was cut short): nothing to report")
                }
                (None, false) => {
                    print(&mut out, &render_report(&t))?;
                    eprintln!(
                        "gotrace: {shown} has no summary (the trace was cut short{}): shown is what its event lines say",
                        if t.truncated_last_line { ", and its last line is incomplete" } else { "" }
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        _ => bail!("give one trace to report, or two to compare"),
    }
}

fn warn_cut(t: &Trace) {
    if t.truncated_last_line {
        eprintln!(
            "gotrace: warning: the last line of {} is incomplete (cut while it was written) and was left out",
            t.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real traces of tests/workloads/exact (written by `gotrace --json`): A with the
    /// defaults (5 sleeps, 100,000 getppid, 7 failing opens), B with 3 sleeps of 30 ms,
    /// 40,000 getppid and 2 failing opens.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name)
    }

    fn fixture_text(name: &str) -> String {
        std::fs::read_to_string(fixture(name)).expect("read fixture")
    }

    #[test]
    fn a_complete_trace_with_a_huge_argv_in_its_header_is_read() {
        // A target started with 1.9 MB of arguments (the kernel allows 2 MiB).
        let text = fixture_text("exact-a.ndjson");
        let (first, rest) = text.split_once('\n').expect("a header line");
        let mut header: serde_json::Value = serde_json::from_str(first).expect("header JSON");
        let args: Vec<String> = (0..1900)
            .map(|i| format!("{i:04}{}", "a".repeat(996)))
            .collect();
        header["target"]["command"] = serde_json::json!(args);
        let big = format!("{header}\n{rest}");
        assert!(big.split('\n').next().map_or(0, str::len) > 1_900_000);
        let p = scratch("huge-argv.ndjson", big.as_bytes());
        let t = read_trace(&p).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(t.header.target.command.len(), 1900);
        assert!(t.summary.is_some(), "the summary is read too");
    }

    #[test]
    fn a_line_longer_than_any_of_gotraces_is_refused_not_read_whole() {
        let text = fixture_text("exact-a.ndjson");
        let (first, _) = text.split_once('\n').expect("a header line");
        // 80 MiB without a newline after the header: read to the bound, then refused.
        let mut data = format!("{first}\n").into_bytes();
        data.extend(std::iter::repeat_n(b'x', 80 << 20));
        let p = scratch("endless-line.ndjson", &data);
        let e = format!("{:#}", read_trace(&p).expect_err("refused"));
        assert!(e.contains("line 2 is longer than 64 MiB"), "{e}");
        let _ = std::fs::remove_file(&p);
    }

    /// A scratch file with `content`.
    fn scratch(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gotrace-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write scratch file");
        p
    }

    fn error_of(path: &Path) -> String {
        format!("{:#}", read_trace(path).expect_err("should not read"))
    }

    #[test]
    fn a_whole_trace_reads_back() {
        let t = read_trace(&fixture("exact-a.ndjson")).expect("read");
        assert_eq!(t.header.format, FORMAT_VERSION);
        assert!(t.header.target.launched);
        assert_eq!(
            t.events,
            EventCounts {
                syscalls: 32,
                processes: 2,
                signals: 3,
                children: 0
            }
        );
        assert!(!t.truncated_last_line);
        let s = t.summary.as_deref().expect("summary");
        let sleep = s
            .syscalls
            .iter()
            .find(|r| r.name == "clock_nanosleep")
            .expect("clock_nanosleep row");
        assert_eq!(sleep.calls, 5);
        assert_eq!(
            t.streamed.syscalls.get("clock_nanosleep").map(|c| c.calls),
            Some(5)
        );
        // The text is the live one: rendered from the same header and summary.
        assert_eq!(render_report(&t), text::render(&t.header, s));
        assert!(render_report(&t).contains("clock_nanosleep"));
        // --json gives the summary line exactly as written.
        let last = fixture_text("exact-a.ndjson")
            .lines()
            .last()
            .map(str::to_string);
        assert_eq!(t.summary_line, last);
    }

    #[test]
    fn a_trace_cut_short_is_summarised_from_its_events() {
        let full = fixture_text("exact-a.ndjson");
        let lines: Vec<&str> = full.lines().collect();
        // gotrace killed while writing line 20: no summary, and half a line at the end.
        let mut cut = lines[..19].join("\n");
        cut.push('\n');
        cut.push_str(&lines[19][..lines[19].len() / 2]);
        let p = scratch("cut.ndjson", cut.as_bytes());
        let t = read_trace(&p).expect("a cut trace is still read");
        assert!(t.truncated_last_line);
        assert!(t.summary.is_none() && t.summary_line.is_none());
        assert_eq!(t.events.total(), 18, "the whole lines after the header");
        let text = render_report(&t);
        assert!(
            text.starts_with(&format!("gotrace: pid {} (", t.header.target.pid)),
            "{text}"
        );
        assert!(text.contains("no summary"), "{text}");
        assert!(
            text.contains("streamed calls (only those at or over 1.00 ms"),
            "{text}"
        );
        assert!(text.lines().any(|l| l.starts_with("nanosleep ")), "{text}");

        // Cut exactly at a line's end: nothing is incomplete, the summary is still missing.
        let p = scratch(
            "cut-at-line.ndjson",
            format!("{}\n", lines[..10].join("\n")).as_bytes(),
        );
        let t = read_trace(&p).expect("read");
        assert!(!t.truncated_last_line && t.summary.is_none());
        assert_eq!(t.events.total(), 9);

        // Only half a header: nothing was recorded.
        let p = scratch("cut-header.ndjson", &lines[0].as_bytes()[..40]);
        assert_eq!(
            error_of(&p),
            format!(
                "{} ends inside its header line: the trace was cut before anything was recorded",
                p.display()
            )
        );
    }

    #[test]
    fn what_is_not_a_trace_is_said_in_one_line() {
        let missing = Path::new("/nonexistent/t.ndjson");
        let e = error_of(missing);
        assert!(
            e.starts_with("cannot read /nonexistent/t.ndjson: No such file or directory"),
            "{e}"
        );
        let not = |name: &str, content: &str, why: &str| {
            let p = scratch(name, content.as_bytes());
            assert_eq!(
                error_of(&p),
                format!("{} is not a gotrace trace: {why}", p.display())
            );
        };
        not("empty.ndjson", "", "it is empty");
        not(
            "text.ndjson",
            "hello\n",
            "its first line is not JSON (expected value)",
        );
        not(
            "timeline.json",
            "{\"traceEvents\":[\n{\"ph\":\"X\"}\n]}\n",
            "it is a Chrome/Perfetto timeline (open it in ui.perfetto.dev); report reads the NDJSON of --json",
        );
        not(
            "other.ndjson",
            "{\"level\":\"info\",\"msg\":\"hi\"}\n",
            "its first line is not a gotrace header",
        );
        let full = fixture_text("exact-a.ndjson");
        let lines: Vec<&str> = full.lines().collect();
        not(
            "headless.ndjson",
            &format!("{}\n", lines[1]),
            "its first line is not a gotrace header",
        );
        not(
            "two-headers.ndjson",
            &format!("{}\n{}\n{}\n", lines[0], lines[1], lines[0]),
            "line 3 is a second header (two traces joined?)",
        );
        not(
            "after-summary.ndjson",
            &format!("{full}{}\n", lines[1]),
            &format!(
                "line {} follows the summary, which ends a trace (two traces joined?)",
                lines.len() + 1
            ),
        );
        not(
            "garbled.ndjson",
            &format!("{}\n{{\"type\":\"syscall\"}}\n{}\n", lines[0], lines[1]),
            "line 2: missing field `ts_ns`",
        );
        not("unknown-type.ndjson", &format!("{}\n{{\"type\":\"gc\"}}\n", lines[0]), "line 2: unknown variant `gc`, expected one of `header`, `syscall`, `process`, `signal`, `child`, `summary`, `hostwide`");
        // A renamed field is an incompatible change: it takes a new format number.
        let renamed = lines[0].replace("\"slow_threshold_ns\":", "\"slow_threshold\":");
        not(
            "renamed-field.ndjson",
            &format!("{renamed}\n"),
            "its header does not match format 1 (missing field `slow_threshold_ns`)",
        );
        not(
            "format-0.ndjson",
            &format!("{}\n", lines[0].replace("\"format\":1", "\"format\":0")),
            "its header has no valid format number",
        );
    }

    /// Fields a later gotrace added within format 1, in the header, an event line and
    /// the summary (at its top and nested): read, and ignored.
    #[test]
    fn a_newer_trace_of_the_same_format_is_read() {
        let full = fixture_text("exact-a.ndjson");
        let added = |line: &str, at: &str| -> String {
            assert!(line.contains(at), "{at} in {line}");
            line.replacen(at, &format!("{at}\"added_later\":{{\"n\":[1,2]}},"), 1)
        };
        let mut syscall_seen = false;
        let newer: Vec<String> = full
            .lines()
            .map(|l| {
                if l.starts_with("{\"type\":\"header\",") {
                    added(&added(l, "{\"type\":\"header\","), "\"target\":{")
                } else if l.starts_with("{\"type\":\"syscall\",") && !syscall_seen {
                    syscall_seen = true;
                    added(l, "{\"type\":\"syscall\",")
                } else if l.starts_with("{\"type\":\"summary\",") {
                    let l = added(l, "{\"type\":\"summary\",");
                    added(&added(&l, "\"poller\":{"), "\"syscalls\":[{")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(syscall_seen, "the fixture has syscall lines");
        for l in newer.iter().filter(|l| l.contains("added_later")) {
            let c = super::super::schema::check_fields(l).expect("JSON");
            assert!(
                !c.unknown.is_empty() && c.unknown.iter().all(|p| p.ends_with("added_later")),
                "{:?}",
                c.unknown
            );
        }
        let p = scratch("newer-same-format.ndjson", newer.join("\n").as_bytes());
        let t = read_trace(&p).unwrap_or_else(|e| panic!("{e:#}"));
        let old = read_trace(&fixture("exact-a.ndjson")).expect("read");
        assert_eq!(t.header, old.header);
        assert_eq!(t.summary, old.summary);
        assert_eq!(t.events, old.events);
        assert_eq!(render_report(&t), render_report(&old));
    }

    #[test]
    fn a_newer_format_asks_for_an_upgrade() {
        // A newer header may have fields this gotrace does not know: the version is
        // checked first.
        let full = fixture_text("exact-a.ndjson").replacen(
            "\"format\":1,",
            "\"format\":2,\"new_field\":true,",
            1,
        );
        let p = scratch("v2.ndjson", full.as_bytes());
        assert_eq!(
            error_of(&p),
            format!(
                "{} uses trace format 2; this gotrace reads format 1: upgrade gotrace",
                p.display()
            )
        );
    }

    #[test]
    fn two_traces_compare_with_deltas() {
        let a = read_trace(&fixture("exact-a.ndjson")).expect("A");
        let b = read_trace(&fixture("exact-b.ndjson")).expect("B");
        let text = render_compare(&a, &b).expect("compare");
        let row = |name: &str| -> Vec<String> {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no {name} row in\n{text}"))
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        assert!(
            text.contains("  A: ")
                && text.contains("exact-a.ndjson")
                && text.contains("exact-b.ndjson"),
            "{text}"
        );
        assert_eq!(row("clock_nanosleep")[1..4], ["5", "3", "-2"], "{text}");
        assert_eq!(
            row("getppid")[1..4],
            ["100,000", "40,000", "-60,000"],
            "{text}"
        );
        assert_eq!(row("getppid")[10], "-66.0%", "{text}");
        assert_eq!(row("open")[1..4], ["7", "2", "-5"], "{text}");
        assert_eq!(
            row("syscalls")[1..4],
            ["100,402", "40,301", "-60,101"],
            "{text}"
        );
        assert!(text.contains("where the time went"), "{text}");
        assert_eq!(row("slot")[1..5], ["collisions", "0", "0", "0"], "{text}");
        let sleep = row("sleep");
        assert_eq!(sleep.last().map(String::as_str), Some("pp"), "{text}");
        let idle = row("idle");
        assert_eq!(
            (idle[3].as_str(), idle[6].as_str(), idle.len()),
            ("-", "-", 9),
            "idle has no shares: {text}"
        );
        // A trace compared with itself changes nothing.
        let same = render_compare(&a, &a).expect("compare");
        assert!(
            same.lines()
                .filter(|l| l.starts_with("clock_nanosleep"))
                .all(|l| l.contains(" 0 ") && !l.contains('+')),
            "{same}"
        );
    }

    #[test]
    fn call_sites_compare() {
        use super::super::schema::CallSiteJson;
        let site = |function: &str, line: u32, calls: u64, ns: u64| CallSiteJson {
            function: function.into(),
            file: "/src/app/index.go".into(),
            line,
            calls,
            ns,
            max_ns: ns,
            causes: Vec::new(),
            syscalls: Vec::new(),
            goroutines: 1,
            goids: vec![1],
            stack: Vec::new(),
        };
        let mut a = read_trace(&fixture("exact-a.ndjson")).expect("A");
        let mut b = read_trace(&fixture("exact-b.ndjson")).expect("B");
        let before = render_compare(&a, &b).expect("compare");
        assert!(
            !before.contains("Go call site"),
            "old traces have none: {before}"
        );
        a.summary.as_mut().expect("summary").call_sites = vec![
            site("main.saveIndex", 88, 10, 300_000_000),
            site("main.loadConfig", 42, 2, 5_000_000),
        ];
        b.summary.as_mut().expect("summary").call_sites = vec![
            site("main.saveIndex", 88, 4, 100_000_000),
            site("main.flush\x1b[2J", 7, 1, 1_000_000),
        ];
        let text = render_compare(&a, &b).expect("compare");
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} row in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        let save = line("main.saveIndex (index.go:88)");
        assert_eq!(save[2..4], ["10", "4"], "{text}");
        assert_eq!(save.last(), Some(&"-66.7%"), "{text}");
        let load = line("main.loadConfig (index.go:42)");
        assert_eq!(load[2..4], ["2", "-"], "{text}");
        // A name from the traced binary is escaped.
        assert!(
            !text.contains('\x1b') && text.contains("main.flush"),
            "{text}"
        );
    }

    #[test]
    fn a_cut_trace_cannot_be_compared() {
        let full = fixture_text("exact-b.ndjson");
        let cut: Vec<&str> = full.lines().take(5).collect();
        let p = scratch("cut-b.ndjson", format!("{}\n", cut.join("\n")).as_bytes());
        let a = read_trace(&fixture("exact-a.ndjson")).expect("A");
        let b = read_trace(&p).expect("B");
        let e = render_compare(&a, &b).expect_err("no summary");
        assert_eq!(
            e.to_string(),
            format!(
                "{} has no summary (the trace was cut short): cannot compare it",
                p.display()
            )
        );
    }

    #[test]
    fn deltas_read_well() {
        assert_eq!(delta(5, 3, false), "-2");
        assert_eq!(delta(3, 1_003, false), "+1,000");
        assert_eq!(delta(7, 7, false), "0");
        assert_eq!(delta(1_000_000, 2_200_000, true), "+1.20 ms");
        assert_eq!(change(Some(100), Some(150)), "+50.0%");
        assert_eq!(change(Some(100), Some(0)), "-100.0%");
        assert_eq!(change(None, Some(3)), "new");
        assert_eq!(change(Some(3), None), "gone");
        assert_eq!(change(Some(0), Some(0)), "");
        assert_eq!(change(Some(5), Some(5)), "0.0%");
    }
}
