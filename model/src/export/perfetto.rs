//! A timeline for ui.perfetto.dev and chrome://tracing: Chrome trace event JSON
//! (the "JSON Object Format" of the Trace Event Format document).
//!
//! A track per thread, grouped by process: every streamed (slow) syscall is a complete
//! event ("X") on its thread, with its arguments, result and cause; signals are instant
//! events ("i") on the receiving thread; fork, exec and exit of followed processes are
//! process-scoped instants, and name the process tracks ("M"); run-queue and cgroup
//! throttling time are counter tracks ("C"). Times (`ts`, `dur`) are microseconds since
//! the trace started, the origin of the NDJSON `ts_ns`.
//!
//! Events are written as they come through a buffer, so memory stays bounded however
//! long the trace; [`PerfettoWriter::finish`] closes the document. A file that was not
//! finished (gotrace killed) is not valid JSON: the NDJSON trace is the one that
//! survives that.
use std::{
    collections::HashMap,
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use serde::Serialize;

use super::{
    ndjson,
    schema::{Header, Line, ProcessEventKind, SignalEventKind, Summary},
};
use crate::{
    analysis::{Analyzer, Attribution, Cause},
    event::Event,
    present::signal_name,
};

/// Creates `path` safely (mode 0600, no symlinks, no overwrite without `force`; see
/// [`super::create_output`]) and starts the document in it.
pub fn open(path: &Path, force: bool) -> anyhow::Result<PerfettoWriter> {
    Ok(PerfettoWriter::new(super::create_output(path, force)?))
}

/// The run-queue time in an attribution, and the part of it the cgroup's CPU quota
/// caused: the values [`PerfettoWriter::on_counters`] takes.
pub fn run_queue_ns(a: &Attribution) -> (u64, u64) {
    let of = |want: Cause| {
        a.causes
            .iter()
            .filter(|c| c.cause == want)
            .map(|c| c.ns)
            .sum::<u64>()
    };
    let throttled = of(Cause::CgroupThrottle);
    (of(Cause::Scheduler) + throttled, throttled)
}

/// One trace event. Fields a phase does not use are left out.
#[derive(Serialize)]
struct TraceEvent<'a, A: Serialize> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    ph: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u32>,
    /// Instant events: "t" thread, "p" process.
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    args: A,
}

/// The args of a syscall slice.
#[derive(Serialize)]
struct SyscallArgs<'a> {
    /// The argument registers, in hex: mostly pointers and flags, and exact where a
    /// JavaScript number would not be.
    args: [String; 6],
    ret: i64,
    errno: Option<&'a str>,
    cause: Option<&'a str>,
    on_cpu_ns: u64,
    runq_ns: u64,
    runq_throttled_ns: u64,
    blocked_ns: u64,
    /// The goroutine that made it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    goid: Option<u64>,
    /// "goroutine" or "runtime", when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    /// Its Go call site (`main.saveIndex (index.go:88)`), when it has a stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    call_site: Option<String>,
}

/// The args of a call still in progress when tracing ended.
#[derive(Serialize)]
struct InProgressArgs<'a> {
    in_progress: bool,
    args: [String; 6],
    state: &'a str,
    cause: Option<&'a str>,
    detail: Option<&'a str>,
    wchan: Option<&'a str>,
    on_cpu_ns: u64,
    runq_ns: u64,
    runq_throttled_ns: u64,
    blocked_ns: u64,
}

#[derive(Serialize)]
struct NameArg<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct CounterArg {
    /// Waiting time per second of trace, summed over threads: 1000 is one thread
    /// waiting all the time.
    ms_per_s: f64,
}

/// The last counter values of one process, to turn cumulative times into rates.
#[derive(Default)]
struct CounterState {
    ts_ns: u64,
    runq_ns: u64,
    throttled_ns: u64,
}

/// Writes the Chrome trace event JSON incrementally. Write errors are kept, writing
/// stops at the first, and [`PerfettoWriter::finish`] returns it.
pub struct PerfettoWriter<W: Write = File> {
    out: BufWriter<W>,
    /// Events written so far (a comma goes before every one but the first).
    events: u64,
    error: Option<io::Error>,
    named_threads: HashMap<u32, String>,
    named_processes: HashMap<u32, String>,
    counters: HashMap<u32, CounterState>,
}

impl<W: Write> PerfettoWriter<W> {
    pub fn new(out: W) -> PerfettoWriter<W> {
        let mut w = PerfettoWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            events: 0,
            error: None,
            named_threads: HashMap::new(),
            named_processes: HashMap::new(),
            counters: HashMap::new(),
        };
        w.raw(b"{\"traceEvents\":[\n");
        w
    }

    /// A decoded event; `start_ns` is the trace's time origin (`Snapshot.start_ns`),
    /// `cause` what most of a syscall's time went to (`Analyzer::call_cause`).
    pub fn on_event(&mut self, ev: &Event, start_ns: u64, cause: Option<&str>) {
        match ev {
            Event::Syscall(s) => {
                if let Line::Syscall(l) =
                    ndjson::syscall_line(s, start_ns, cause.map(str::to_string))
                {
                    let args = SyscallArgs {
                        args: l.args.map(|a| format!("{a:#x}")),
                        ret: l.ret,
                        errno: l.errno.as_deref(),
                        cause: l.cause.as_deref(),
                        on_cpu_ns: l.on_cpu_ns,
                        runq_ns: l.runq_ns,
                        runq_throttled_ns: l.runq_throttled_ns,
                        blocked_ns: l.blocked_ns,
                        goid: l.goid,
                        by: l.by.as_deref(),
                        call_site: crate::stack::call_site(&l.stack)
                            .filter(|_| l.by.as_deref() != Some("runtime"))
                            .map(crate::stack::Frame::short),
                    };
                    self.event(&TraceEvent {
                        name: &l.name,
                        cat: Some("syscall"),
                        ph: "X",
                        ts: Some(us(l.ts_ns)),
                        dur: Some(l.duration_ns as f64 / 1e3),
                        pid: l.pid,
                        tid: Some(l.tid),
                        s: None,
                        args,
                    });
                }
            }
            Event::SignalGenerate(s) | Event::SignalDeliver(s) => {
                let Some(Line::Signal(l)) = ndjson::signal_line(s, start_ns) else {
                    return;
                };
                let name = match (l.event, l.result.as_deref()) {
                    (SignalEventKind::Deliver, _) => format!("{} delivered", l.name),
                    (SignalEventKind::Generate, Some("already_pending")) => {
                        format!("{} coalesced", l.name)
                    }
                    (SignalEventKind::Generate, Some("delivered") | None) => {
                        format!("{} sent", l.name)
                    }
                    (SignalEventKind::Generate, Some(r)) => format!("{} {r}", l.name),
                };
                if l.event == SignalEventKind::Deliver {
                    // The receiver's comm.
                    self.name_thread(l.target_pid, l.target_tid, &s.comm, false);
                }
                self.instant(
                    &name,
                    "signal",
                    us(l.ts_ns),
                    l.target_pid,
                    Some(l.target_tid),
                    &l,
                );
            }
            Event::Fork(p) if p.thread => self.name_thread(p.tgid, p.pid, &p.comm, false),
            Event::Fork(_) | Event::Exec(_) | Event::Exit(_) => {
                let (kind, p) = match ev {
                    Event::Fork(p) if !p.thread => (ProcessEventKind::Fork, p.clone()),
                    Event::Exec(e) => (ProcessEventKind::Exec, e.as_proc()),
                    Event::Exit(p) if p.group_dead => (ProcessEventKind::Exit, p.clone()),
                    _ => return,
                };
                let p = &p;
                let Line::Process(l) = ndjson::process_line(kind, p, start_ns, None) else {
                    return;
                };
                let (name, pid) = match kind {
                    ProcessEventKind::Fork => {
                        (format!("fork {} ({})", l.pid, l.comm), p.parent_tgid)
                    }
                    ProcessEventKind::Exec => (format!("exec {}", l.comm), l.pid),
                    ProcessEventKind::Exit => (
                        format!("exit: {}", exit_words(l.exit_code, l.signal)),
                        l.pid,
                    ),
                };
                if kind != ProcessEventKind::Exit {
                    // A new process, or a new program in it: its track takes the name.
                    self.name_process(l.pid, &l.comm, true);
                    self.name_thread(l.pid, l.pid, &l.comm, true);
                }
                self.instant(&name, "process", us(l.ts_ns), pid, None, &l);
            }
            Event::ChildExit(p) => {
                if let Line::Child(l) = ndjson::child_exit_line(p, start_ns) {
                    let name = format!("child {} {}", l.pid, exit_words(l.exit_code, l.signal));
                    self.instant(&name, "child", us(l.ts_ns), l.parent, None, &l);
                }
            }
            Event::Wait(w) => {
                // Only calls that reaped a child make a line.
                if let Some(Line::Child(l)) = ndjson::child_reaped_line(w, start_ns) {
                    let name = format!("reaped {}", l.pid);
                    self.instant(&name, "child", us(l.ts_ns), l.parent, l.reaper_tid, &l);
                }
            }
            _ => {}
        }
    }

    /// Cumulative run-queue time of process `pid`'s threads at `ts_ns` (ns since the
    /// trace started), and the part of it spent throttled by the cgroup's CPU quota
    /// (see [`run_queue_ns`]). Each call adds one sample per counter track, the rate
    /// since the previous call, placed at the start of that interval.
    pub fn on_counters(&mut self, ts_ns: u64, pid: u32, runq_ns: u64, throttled_ns: u64) {
        let last = self.counters.entry(pid).or_default();
        let span = ts_ns.saturating_sub(last.ts_ns);
        if span == 0 {
            return;
        }
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / span as f64 * 1e3;
        let runq = rate(runq_ns, last.runq_ns);
        let throttled = rate(throttled_ns, last.throttled_ns);
        let at = last.ts_ns as f64 / 1e3;
        *last = CounterState {
            ts_ns,
            runq_ns,
            throttled_ns,
        };
        self.counter("run-queue", at, pid, runq);
        self.counter("cgroup-throttle", at, pid, throttled);
    }

    /// The counters at a refresh of the kernel's aggregates: the run-queue time of every
    /// traced thread, on the target's process track.
    pub fn on_refresh(&mut self, analyzer: &Analyzer, now_ns: u64) {
        let (runq, throttled) = run_queue_ns(&analyzer.attribution());
        self.on_counters(
            now_ns.saturating_sub(analyzer.start_ns()),
            analyzer.target().pid,
            runq,
            throttled,
        );
    }

    /// Names the tracks of the processes and threads the summary knows, ends the counter
    /// tracks, and closes the document with gotrace's metadata. Gives back the output.
    pub fn finish(mut self, header: &Header, summary: &Summary) -> io::Result<W> {
        for p in &summary.processes {
            self.name_process(p.pid, &p.comm, false);
            self.name_thread(p.pid, p.pid, &p.comm, false);
        }
        for t in &summary.threads {
            self.name_thread(t.pid, t.tid, &t.comm, false);
        }
        let ends: Vec<(u32, f64)> = self
            .counters
            .iter()
            .map(|(&pid, c)| (pid, c.ts_ns as f64 / 1e3))
            .collect();
        // Calls still in progress: slices up to the end, marked as such (the ones that hang).
        for p in &summary.in_progress {
            self.event(&TraceEvent {
                name: &p.name,
                cat: Some("syscall,in_progress"),
                ph: "X",
                ts: Some(us(p.ts_ns)),
                dur: Some(p.elapsed_ns as f64 / 1e3),
                pid: p.pid,
                tid: Some(p.tid),
                s: None,
                args: InProgressArgs {
                    in_progress: true,
                    args: p.args.map(|a| format!("{a:#x}")),
                    state: &p.state,
                    cause: p.cause.as_deref(),
                    detail: p.detail.as_deref(),
                    wchan: p.wchan.as_deref(),
                    on_cpu_ns: p.on_cpu_ns,
                    runq_ns: p.runq_ns,
                    runq_throttled_ns: p.runq_throttled_ns,
                    blocked_ns: p.blocked_ns,
                },
            });
        }
        for (pid, at) in ends {
            self.counter("run-queue", at, pid, 0.0);
            self.counter("cgroup-throttle", at, pid, 0.0);
        }
        let metadata = serde_json::json!({
            "producer": "gotrace",
            "gotrace_version": header.gotrace_version,
            "clock": "ts and dur in microseconds since the trace started (CLOCK_MONOTONIC); start_unix_ns anchors it",
            "start_time": header.start_time,
            "start_unix_ns": header.start_unix_ns,
            "kernel_release": header.kernel_release,
            "target_pid": header.target.pid,
            "command": header.target.command,
            "go_version": summary.go_version,
            "slow_threshold_ns": header.slow_threshold_ns,
            "duration_ns": summary.duration_ns,
            "slow_calls": summary.slow_calls,
            "lost_records": summary.lost_records,
        });
        self.raw(b"\n],\"displayTimeUnit\":\"ms\",\"metadata\":");
        if self.error.is_none() {
            if let Err(e) = serde_json::to_writer(&mut self.out, &metadata) {
                self.error = Some(e.into());
            }
        }
        self.raw(b"}\n");
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }

    fn instant<A: Serialize>(
        &mut self,
        name: &str,
        cat: &'static str,
        ts: f64,
        pid: u32,
        tid: Option<u32>,
        args: A,
    ) {
        self.event(&TraceEvent {
            name,
            cat: Some(cat),
            ph: "i",
            ts: Some(ts),
            dur: None,
            pid,
            // A process-scoped instant still names a thread: the process's main one.
            tid: Some(tid.unwrap_or(pid)),
            s: Some(if tid.is_some() { "t" } else { "p" }),
            args,
        });
    }

    fn counter(&mut self, name: &str, ts: f64, pid: u32, ms_per_s: f64) {
        self.event(&TraceEvent {
            name,
            cat: None,
            ph: "C",
            ts: Some(ts),
            dur: None,
            pid,
            tid: None,
            s: None,
            args: CounterArg {
                ms_per_s: (ms_per_s * 1000.0).round() / 1000.0,
            },
        });
    }

    /// Names a process track; `rename`: also when it already has another name (exec).
    fn name_process(&mut self, pid: u32, comm: &str, rename: bool) {
        if needs_name(&mut self.named_processes, pid, comm, rename) {
            self.metadata("process_name", pid, None, comm);
        }
    }

    /// Names a thread track; `rename` as for processes.
    fn name_thread(&mut self, pid: u32, tid: u32, comm: &str, rename: bool) {
        if needs_name(&mut self.named_threads, tid, comm, rename) {
            self.metadata("thread_name", pid, Some(tid), comm);
        }
    }

    fn metadata(&mut self, kind: &str, pid: u32, tid: Option<u32>, name: &str) {
        // ts is meaningless for metadata, but some importers want one.
        self.event(&TraceEvent {
            name: kind,
            cat: None,
            ph: "M",
            ts: Some(0.0),
            dur: None,
            pid,
            tid,
            s: None,
            args: NameArg { name },
        });
    }

    fn event<A: Serialize>(&mut self, ev: &TraceEvent<'_, A>) {
        if self.error.is_some() {
            return;
        }
        if self.events > 0 {
            self.raw(b",\n");
        }
        if let Err(e) = serde_json::to_writer(&mut self.out, ev) {
            self.error = Some(e.into());
        }
        self.events += 1;
    }

    fn raw(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }
}

/// Records `name` for track `id` when it should be written: the first name seen, or a
/// new one when `rename`.
fn needs_name(named: &mut HashMap<u32, String>, id: u32, name: &str, rename: bool) -> bool {
    if name.is_empty() {
        return false;
    }
    match named.get(&id) {
        Some(old) if !rename || old == name => false,
        _ => {
            named.insert(id, name.to_string());
            true
        }
    }
}

/// ns since the start -> the format's microseconds.
fn us(ts_ns: i64) -> f64 {
    ts_ns as f64 / 1e3
}

/// "code 0", "SIGKILL".
fn exit_words(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("code {c}"),
        (None, Some(s)) => signal_name(s),
        (None, None) => "exited".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::{
        analysis::{CauseShare, TargetInfo},
        event::{GenerateResult, Handler, ProcEvent, SignalEvent, SyscallEvent, WaitEvent},
        export::schema::ThreadJson,
    };

    const START: u64 = 1_000_000_000;

    fn proc_ev(pid: u32, tgid: u32, parent: u32, ts: u64, thread: bool, comm: &str) -> ProcEvent {
        ProcEvent {
            pid,
            tgid,
            parent_tgid: parent,
            ts_ns: START + ts,
            exit_code: 0,
            thread,
            group_dead: !thread,
            parent_ignores_sigchld: false,
            parent_nocldwait: false,
            comm: comm.into(),
        }
    }

    fn signal(sig: u32, result: Option<GenerateResult>, ts: u64) -> SignalEvent {
        SignalEvent {
            sig,
            result,
            handler: result.is_none().then_some(Handler::Function),
            sender_pid: 60,
            sender_tgid: 60,
            target_pid: 43,
            target_tgid: 42,
            group: true,
            si_code: crate::event::CLD_EXITED,
            si_pid: 60,
            si_status: 0,
            ts_ns: START + ts,
            comm: if result.is_some() {
                "child".into()
            } else {
                "app-worker".into()
            },
        }
    }

    fn header_and_summary() -> (Header, Summary) {
        let target = TargetInfo {
            pid: 42,
            command: vec!["./app".into()],
            go_version: Some("go1.27.3".into()),
            launched: true,
        };
        let facts = ndjson::HeaderFacts {
            kernel_release: "6.18".into(),
            start_unix_ns: 5,
            slow_threshold_ns: 1_000_000,
            follow: true,
            features: vec![],
        };
        let Line::Header(h) = ndjson::header_line(&target, &facts) else {
            panic!("not a header")
        };
        let a = Analyzer::new(target, START);
        let Line::Summary(mut s) = ndjson::summary_line(&a.snapshot(START + 2_000_000_000)) else {
            panic!("not a summary")
        };
        s.threads.push(ThreadJson {
            tid: 44,
            pid: 42,
            comm: "app-gc".into(),
            runq_ns: 1,
            runq_throttled_ns: 0,
        });
        (h, *s)
    }

    /// Feeds a little of everything; returns the parsed document.
    fn document() -> Value {
        let mut w = PerfettoWriter::new(Vec::new());
        let sleep = SyscallEvent {
            tid: 43,
            tgid: 42,
            nr: 230,
            start_ns: START + 2_000_000,
            duration_ns: 20_150_000,
            ret: 0,
            args: [1, 0, 0xc000_0123, 0, 0, u64::MAX],
            on_cpu_ns: 10_000,
            runq_ns: 40_000,
            blocked_ns: 20_100_000,
            gkind: tracer_common::gkind::GOROUTINE,
            goid: 41,
            stack: vec![
                crate::stack::Frame {
                    function: "syscall.Syscall".into(),
                    file: "/go/src/syscall/syscall_linux.go".into(),
                    line: 74,
                    inlined: false,
                },
                crate::stack::Frame {
                    function: "main.saveIndex".into(),
                    file: "/src/app/index.go".into(),
                    line: 88,
                    inlined: false,
                },
            ],
            ..Default::default()
        };
        let failed = SyscallEvent {
            tid: 42,
            nr: 2,
            start_ns: START + 30_000_000,
            duration_ns: 1_500_000,
            ret: -2,
            ..sleep.clone()
        };
        let mut exit = proc_ev(60, 60, 42, 41_000_000, false, "true");
        exit.exit_code = 3 << 8;
        let wait = WaitEvent {
            tid: 43,
            tgid: 42,
            nr: tracer_common::NR_WAIT4,
            ret: 60,
            options: 0,
            idtype: 0,
            id: -1,
            si_pid: 0,
            si_code: 0,
            ts_ns: START + 42_000_000,
            duration_ns: 5_000,
        };
        let events = [
            (
                Event::Exec(crate::event::ExecEvent {
                    pid: 42,
                    tgid: 42,
                    ts_ns: 1_000,
                    comm: "app".into(),
                    argv: vec!["app".into()],
                    argv_truncated: false,
                }),
                None,
            ),
            (Event::Fork(proc_ev(43, 42, 42, 1_500, true, "app")), None),
            (Event::Syscall(sleep), Some("sleep")),
            (Event::Syscall(failed), None),
            (
                Event::Fork(proc_ev(60, 60, 42, 40_000_000, false, "app")),
                None,
            ),
            (
                Event::Exec(crate::event::ExecEvent::from_proc(&proc_ev(
                    60, 60, 0, 40_500_000, false, "true",
                ))),
                None,
            ),
            (Event::Exit(exit.clone()), None),
            (Event::ChildExit(exit), None),
            (
                Event::SignalGenerate(signal(17, Some(GenerateResult::AlreadyPending), 41_100_000)),
                None,
            ),
            (Event::SignalDeliver(signal(17, None, 41_200_000)), None),
            (
                Event::SignalGenerate(signal(23, Some(GenerateResult::Delivered), 41_300_000)),
                None,
            ),
            (Event::Wait(wait), None),
            (Event::Eventfd { tgid: 42, fd: 3 }, None),
        ];
        for (ev, cause) in &events {
            w.on_event(ev, START, *cause);
        }
        w.on_counters(1_000_000_000, 42, 200_000_000, 50_000_000);
        w.on_counters(1_500_000_000, 42, 300_000_000, 50_000_000);
        w.on_counters(1_500_000_000, 42, 300_000_000, 50_000_000);
        finish(w)
    }

    /// Finishes a document; returns it parsed.
    fn finish(w: PerfettoWriter<Vec<u8>>) -> Value {
        let (h, s) = header_and_summary();
        let bytes = w.finish(&h, &s).expect("finish");
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
    }

    fn events<'a>(doc: &'a Value, ph: &str) -> Vec<&'a Value> {
        doc["traceEvents"]
            .as_array()
            .expect("traceEvents is an array")
            .iter()
            .filter(|e| e["ph"] == ph)
            .collect()
    }

    #[test]
    fn slow_syscalls_are_slices_on_their_thread() {
        let doc = document();
        assert_eq!(doc["displayTimeUnit"], "ms");
        let x = events(&doc, "X");
        assert_eq!(x.len(), 2, "{x:?}");
        let sleep = x[0];
        assert_eq!(sleep["name"], "clock_nanosleep");
        assert_eq!(sleep["cat"], "syscall");
        assert_eq!(
            (sleep["pid"].as_u64(), sleep["tid"].as_u64()),
            (Some(42), Some(43))
        );
        assert_eq!(sleep["ts"].as_f64(), Some(2_000.0), "µs since the start");
        assert_eq!(sleep["dur"].as_f64(), Some(20_150.0), "µs");
        let args = &sleep["args"];
        assert_eq!(args["args"][0], "0x1");
        assert_eq!(args["args"][2], "0xc0000123");
        assert_eq!(
            args["args"][5], "0xffffffffffffffff",
            "exact, not a rounded JS number"
        );
        assert_eq!(
            (args["ret"].as_i64(), &args["errno"], &args["cause"]),
            (Some(0), &Value::Null, &Value::from("sleep"))
        );
        assert_eq!(
            (
                args["on_cpu_ns"].as_u64(),
                args["runq_ns"].as_u64(),
                args["blocked_ns"].as_u64()
            ),
            (Some(10_000), Some(40_000), Some(20_100_000))
        );
        assert_eq!(
            (args["goid"].as_u64(), &args["by"], &args["call_site"]),
            (
                Some(41),
                &Value::from("goroutine"),
                &Value::from("main.saveIndex (index.go:88)")
            ),
            "the slice names its goroutine and its Go code"
        );
        let open = x[1];
        assert_eq!(
            (open["name"].as_str(), open["tid"].as_u64()),
            (Some("open"), Some(42))
        );
        assert_eq!(
            (open["args"]["ret"].as_i64(), open["args"]["errno"].as_str()),
            (Some(-2), Some("ENOENT"))
        );
        assert_eq!(open["dur"].as_f64(), Some(1_500.0));
    }

    #[test]
    fn signals_and_processes_are_instants() {
        let doc = document();
        let i = events(&doc, "i");
        let names: Vec<&str> = i.iter().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "exec app",
                "fork 60 (app)",
                "exec true",
                "exit: code 3",
                "child 60 code 3",
                "SIGCHLD coalesced",
                "SIGCHLD delivered",
                "reaped 60"
            ],
            "SIGURG is left out, as in the NDJSON"
        );
        let by_name = |n: &str| {
            *i.iter()
                .find(|e| e["name"] == n)
                .unwrap_or_else(|| panic!("no {n}"))
        };
        let delivered = by_name("SIGCHLD delivered");
        assert_eq!(
            (
                delivered["pid"].as_u64(),
                delivered["tid"].as_u64(),
                delivered["s"].as_str()
            ),
            (Some(42), Some(43), Some("t"))
        );
        assert_eq!(delivered["ts"].as_f64(), Some(41_200.0));
        assert_eq!(delivered["args"]["handler"], "function");
        assert_eq!(
            by_name("SIGCHLD coalesced")["args"]["result"],
            "already_pending"
        );
        let fork = by_name("fork 60 (app)");
        assert_eq!(
            (fork["pid"].as_u64(), fork["s"].as_str()),
            (Some(42), Some("p")),
            "on the parent's track"
        );
        let exit = by_name("exit: code 3");
        assert_eq!(
            (exit["pid"].as_u64(), exit["args"]["exit_code"].as_i64()),
            (Some(60), Some(3))
        );
        let reaped = by_name("reaped 60");
        assert_eq!(
            (reaped["tid"].as_u64(), reaped["args"]["syscall"].as_str()),
            (Some(43), Some("wait4"))
        );
    }

    #[test]
    fn tracks_are_named() {
        let doc = document();
        let m = events(&doc, "M");
        let named = |kind: &str, tid: Option<u64>| -> Vec<(u64, String)> {
            m.iter()
                .filter(|e| e["name"] == kind && (tid.is_none() || e["tid"].as_u64() == tid))
                .map(|e| {
                    (
                        e["pid"].as_u64().unwrap_or(0),
                        e["args"]["name"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        };
        assert_eq!(
            named("process_name", None),
            [
                (42, "app".to_string()),
                (60, "app".into()),
                (60, "true".into())
            ],
            "renamed by exec"
        );
        assert_eq!(
            named("thread_name", Some(43)),
            [(42, "app".to_string())],
            "from the thread's creation, once"
        );
        assert_eq!(
            named("thread_name", Some(44)),
            [(42, "app-gc".to_string())],
            "from the summary's threads"
        );
        assert_eq!(
            named("thread_name", Some(42)),
            [(42, "app".to_string())],
            "main threads from the summary's processes"
        );
        let meta = &doc["metadata"];
        assert_eq!(
            (meta["target_pid"].as_u64(), meta["go_version"].as_str()),
            (Some(42), Some("go1.27.3"))
        );
        assert_eq!(meta["command"][0], "./app");
    }

    #[test]
    fn counters_are_rates_over_each_interval() {
        let doc = document();
        let c: Vec<(String, f64, f64)> = events(&doc, "C")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_string(),
                    e["ts"].as_f64().unwrap_or(-1.0),
                    e["args"]["ms_per_s"].as_f64().unwrap_or(-1.0),
                )
            })
            .collect();
        let want = [
            // 200 ms waiting over the first second, 50 of them throttled.
            ("run-queue", 0.0, 200.0),
            ("cgroup-throttle", 0.0, 50.0),
            // 100 ms over the next half second, none throttled.
            ("run-queue", 1e6, 200.0),
            ("cgroup-throttle", 1e6, 0.0),
            // The tracks end where the last interval ended.
            ("run-queue", 1.5e6, 0.0),
            ("cgroup-throttle", 1.5e6, 0.0),
        ];
        let want: Vec<(String, f64, f64)> = want
            .iter()
            .map(|(n, t, v)| (n.to_string(), *t, *v))
            .collect();
        assert_eq!(c, want);
        assert!(events(&doc, "C").iter().all(|e| e["pid"] == 42));
    }

    #[test]
    fn run_queue_comes_from_the_attribution() {
        let a = Attribution {
            causes: vec![
                CauseShare {
                    cause: Cause::Sleep,
                    ns: 900,
                    share: 0.0,
                },
                CauseShare {
                    cause: Cause::Scheduler,
                    ns: 70,
                    share: 0.0,
                },
                CauseShare {
                    cause: Cause::CgroupThrottle,
                    ns: 30,
                    share: 0.0,
                },
            ],
            total_ns: 1_000,
            idle_ns: 0,
            ..Default::default()
        };
        assert_eq!(run_queue_ns(&a), (100, 30));
        assert_eq!(run_queue_ns(&Attribution::default()), (0, 0));
    }

    #[test]
    fn refreshes_read_the_analyzer() {
        let target = TargetInfo {
            pid: 42,
            ..Default::default()
        };
        let mut a = Analyzer::new(target, START);
        let threads = vec![crate::analysis::RawThreadStats {
            tid: 43,
            tgid: 42,
            runq_ns: 300_000_000,
            runq_throttled_ns: 100_000_000,
        }];
        a.on_time_split(threads, Vec::new(), START + 2_000_000_000);
        let mut w = PerfettoWriter::new(Vec::new());
        w.on_refresh(&a, START + 2_000_000_000);
        let doc = finish(w);
        let first: Vec<(String, f64)> = events(&doc, "C")
            .iter()
            .take(2)
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_string(),
                    e["args"]["ms_per_s"].as_f64().unwrap_or(-1.0),
                )
            })
            .collect();
        assert_eq!(
            first,
            [
                ("run-queue".to_string(), 150.0),
                ("cgroup-throttle".to_string(), 50.0)
            ]
        );
    }

    #[test]
    fn an_empty_trace_is_a_valid_document() {
        let doc = finish(PerfettoWriter::new(Vec::new()));
        assert!(doc["traceEvents"]
            .as_array()
            .is_some_and(|a| a.iter().all(|e| e["ph"] == "M")));
    }

    #[test]
    fn write_errors_are_reported_by_finish() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
        }
        let (h, s) = header_and_summary();
        let e = PerfettoWriter::new(Full)
            .finish(&h, &s)
            .expect_err("disk full");
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn open_creates_the_file_safely() {
        // create_output's rules (0600, no symlinks, no overwrite) are tested with it.
        let p = std::env::temp_dir().join(format!("gotrace-perfetto-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let (h, s) = header_and_summary();
        open(&p, false)
            .expect("a new file")
            .finish(&h, &s)
            .expect("finish");
        let doc: Value =
            serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("valid JSON");
        assert!(doc["traceEvents"].is_array());
        let e = open(&p, false).err().expect("it exists now");
        assert!(e.to_string().contains("already exists (use --force"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
