//! NDJSON: a header line, event lines as they happen, a summary line at the end.
use std::io::{self, BufWriter, Write};

use super::schema::{
    AnomalyJson, CallSiteJson, CauseJson, CauseNsJson, CgroupJson, ChildEventKind, ChildLine,
    EpollFdJson, EpollInstanceJson, EpollJson, ExitJson, FeatureJson, FsJson, Header,
    InProgressJson, Line, NameCountJson, PidCount, PollerJson, ProcessEventKind, ProcessLine,
    ProcessSummary, PsiJson, PsiResourceJson, SigchldJson, SignalEventKind, SignalLine,
    SignalSummary, Summary, SyscallLine, SyscallSummary, TargetJson, ThreadJson, UringJson,
    UringOpJson, UringRingJson, CALL_SITES_SHOWN, FORMAT_VERSION,
};
use crate::{
    analysis::{
        callsites::CallSiteRow,
        poller::{EpollRow, PollerKind, PollerSummary, RawRing, RegisteredFd, UringOpRow},
        signals::SIGURG,
        Anomaly, Attribution, ExitStatus, InProgress, Psi, PsiResource, Snapshot, TargetInfo,
    },
    errno,
    event::{GenerateResult, Handler, ProcEvent, SignalEvent, SyscallEvent, WaitEvent},
    present::{anomaly_message, per_sec, pressure_text, signal_name},
    syscalls,
};
use tracer_common::gkind;

/// Trace-wide facts for the header line.
#[derive(Debug, Clone)]
pub struct HeaderFacts {
    pub kernel_release: String,
    pub start_unix_ns: u64,
    pub slow_threshold_ns: u64,
    pub follow: bool,
    pub features: Vec<crate::analysis::KernelFeature>,
}

pub fn header_line(target: &TargetInfo, facts: &HeaderFacts) -> Line {
    Line::Header(Header {
        format: FORMAT_VERSION,
        gotrace_version: env!("CARGO_PKG_VERSION").to_string(),
        target: TargetJson {
            pid: target.pid,
            command: target.command.clone(),
            launched: target.launched,
        },
        kernel_release: facts.kernel_release.clone(),
        go_version: target.go_version.clone(),
        start_time: crate::time::rfc3339(facts.start_unix_ns),
        start_unix_ns: facts.start_unix_ns,
        slow_threshold_ns: facts.slow_threshold_ns,
        follow: facts.follow,
        features: facts
            .features
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    FeatureJson {
                        on: f.on,
                        detail: f.detail.clone(),
                    },
                )
            })
            .collect(),
    })
}

fn rel(ts: u64, start: u64) -> i64 {
    ts as i64 - start as i64
}

/// A slow syscall; `cause` names what it waited on (from the analyzer, which knows the
/// mounts), None when it did not block.
pub fn syscall_line(ev: &SyscallEvent, start_ns: u64, cause: Option<String>) -> Line {
    Line::Syscall(syscall_fields(ev, start_ns, cause))
}

fn syscall_fields(ev: &SyscallEvent, start_ns: u64, cause: Option<String>) -> SyscallLine {
    SyscallLine {
        ts_ns: rel(ev.start_ns, start_ns),
        pid: ev.tgid,
        tid: ev.tid,
        nr: ev.nr,
        name: syscalls::display_name(ev.nr).into_owned(),
        duration_ns: ev.duration_ns,
        ret: ev.ret,
        errno: ev.errno().map(errno::display),
        args: ev.args,
        on_cpu_ns: ev.on_cpu_ns,
        runq_ns: ev.runq_ns,
        blocked_ns: ev.blocked_ns,
        runq_throttled_ns: ev.runq_throttled_ns,
        cause,
        goid: ev.goroutine(),
        by: who(ev),
        stack: ev.stack.clone(),
    }
}

/// "goroutine" or "runtime" for a call of a Go program whose maker is known.
fn who(ev: &SyscallEvent) -> Option<String> {
    match ev.gkind {
        gkind::GOROUTINE => Some("goroutine".into()),
        gkind::RUNTIME => Some("runtime".into()),
        _ => None,
    }
}

/// A call in progress as the summary line has it.
pub fn in_progress_json(p: &InProgress, start_ns: u64) -> InProgressJson {
    let c = &p.call;
    InProgressJson {
        ts_ns: rel(c.start_ns, start_ns),
        pid: c.tgid,
        tid: c.tid,
        comm: p.comm.clone(),
        nr: c.nr,
        name: syscalls::display_name(c.nr).into_owned(),
        elapsed_ns: c.duration_ns,
        state: p.state.to_string(),
        args: c.args,
        on_cpu_ns: c.on_cpu_ns,
        runq_ns: c.runq_ns,
        blocked_ns: c.blocked_ns,
        runq_throttled_ns: c.runq_throttled_ns,
        cause: p.cause.as_ref().map(|c| c.to_string()),
        detail: p.detail.clone(),
        wchan: p.wchan.clone(),
        began_before_trace: p.began_before_trace,
        goid: c.goroutine(),
        by: who(c),
        stack: c.stack.clone(),
    }
}

fn exit_json(s: ExitStatus) -> ExitJson {
    match s {
        ExitStatus::Code(c) => ExitJson {
            code: Some(c),
            signal: None,
        },
        ExitStatus::Signal(s) => ExitJson {
            code: None,
            signal: Some(s),
        },
    }
}

/// The inverse of `exit_json`, for what is rendered from a trace: the code if there is
/// one, else the signal; None when the line has neither.
pub fn exit_status(code: Option<i32>, signal: Option<i32>) -> Option<ExitStatus> {
    match (code, signal) {
        (Some(c), _) => Some(ExitStatus::Code(c)),
        (None, Some(s)) => Some(ExitStatus::Signal(s)),
        (None, None) => None,
    }
}

/// A process line; `command` is the argv read after an exec, when available.
pub fn process_line(
    kind: ProcessEventKind,
    ev: &ProcEvent,
    start_ns: u64,
    command: Option<Vec<String>>,
) -> Line {
    let exit = (kind == ProcessEventKind::Exit)
        .then(|| exit_json(ExitStatus::from_wait_status(ev.exit_code)));
    Line::Process(ProcessLine {
        event: kind,
        ts_ns: rel(ev.ts_ns, start_ns),
        pid: ev.tgid,
        parent: (kind == ProcessEventKind::Fork).then_some(ev.parent_tgid),
        comm: ev.comm.clone(),
        command,
        exit_code: exit.as_ref().and_then(|e| e.code),
        signal: exit.as_ref().and_then(|e| e.signal),
    })
}

/// A signal line; None for SIGURG, which is only counted (it can arrive hundreds of
/// times a second in a CPU-bound Go program).
pub fn signal_line(ev: &SignalEvent, start_ns: u64) -> Option<Line> {
    if ev.sig == SIGURG {
        return None;
    }
    let generate = ev.result.is_some();
    Some(Line::Signal(SignalLine {
        event: if generate {
            SignalEventKind::Generate
        } else {
            SignalEventKind::Deliver
        },
        ts_ns: rel(ev.ts_ns, start_ns),
        signo: ev.sig,
        name: signal_name(ev.sig as i32),
        sender_pid: if generate {
            Some(ev.sender_tgid)
        } else {
            (ev.si_pid != 0).then_some(ev.si_pid)
        },
        sender_tid: generate.then_some(ev.sender_pid),
        sender_comm: generate.then(|| ev.comm.clone()),
        target_pid: ev.target_tgid,
        target_tid: ev.target_pid,
        result: ev.result.map(|r| {
            match r {
                GenerateResult::Delivered => "delivered",
                GenerateResult::Ignored => "ignored",
                GenerateResult::AlreadyPending => "already_pending",
                GenerateResult::OverflowFail => "overflow_fail",
                GenerateResult::LoseInfo => "lose_info",
                GenerateResult::Other(_) => "other",
            }
            .to_string()
        }),
        handler: ev.handler.map(|h| {
            match h {
                Handler::Default => "default",
                Handler::Ignore => "ignore",
                Handler::Function => "function",
            }
            .to_string()
        }),
        si_code: ev.si_code,
        si_pid: (ev.si_pid != 0).then_some(ev.si_pid),
    }))
}

/// A child's exit (a ChildExit event).
pub fn child_exit_line(ev: &ProcEvent, start_ns: u64) -> Line {
    let exit = exit_json(ExitStatus::from_wait_status(ev.exit_code));
    let disposition = if ev.parent_ignores_sigchld {
        "ignore"
    } else if ev.parent_nocldwait {
        "nocldwait"
    } else {
        "normal"
    };
    Line::Child(ChildLine {
        event: ChildEventKind::Exit,
        ts_ns: rel(ev.ts_ns, start_ns),
        pid: ev.tgid,
        parent: ev.parent_tgid,
        comm: Some(ev.comm.clone()),
        exit_code: exit.code,
        signal: exit.signal,
        disposition: Some(disposition.into()),
        reaper_tid: None,
        syscall: None,
    })
}

/// A reap by a wait call; None when the call reaped nothing.
pub fn child_reaped_line(ev: &WaitEvent, start_ns: u64) -> Option<Line> {
    let pid = ev.reaped()?;
    Some(Line::Child(ChildLine {
        event: ChildEventKind::Reaped,
        ts_ns: rel(ev.ts_ns, start_ns),
        pid,
        parent: ev.tgid,
        comm: None,
        exit_code: None,
        signal: None,
        disposition: None,
        reaper_tid: Some(ev.tid),
        syscall: Some(syscalls::display_name(ev.nr).into_owned()),
    }))
}

/// A short machine name for an anomaly.
fn anomaly_kind(a: &Anomaly) -> &'static str {
    match a {
        Anomaly::Coalesced { .. } => "coalesced",
        Anomaly::Ignored { .. } => "ignored",
        Anomaly::Undelivered { .. } => "undelivered",
        Anomaly::Unreaped { .. } => "unreaped",
        Anomaly::SlowReap { .. } => "slow_reap",
        Anomaly::PipeHeld { .. } => "pipe_held",
    }
}

fn anomaly_json(a: &Anomaly) -> AnomalyJson {
    let (pid, parent) = match a {
        Anomaly::Coalesced { parent, .. }
        | Anomaly::Ignored { parent, .. }
        | Anomaly::Undelivered { parent, .. } => (None, Some(*parent)),
        Anomaly::Unreaped { pid, parent, .. } | Anomaly::SlowReap { pid, parent, .. } => {
            (Some(*pid), Some(*parent))
        }
        Anomaly::PipeHeld { reader, holder, .. } => (Some(*holder), Some(*reader)),
    };
    AnomalyJson {
        kind: anomaly_kind(a).into(),
        pid,
        parent,
        message: anomaly_message(a),
    }
}

/// The summary line.
pub fn summary_line(s: &Snapshot) -> Line {
    let psi = s.system.psi.as_ref().map(psi_json);
    Line::Summary(Box::new(Summary {
        duration_ns: s.duration_ns,
        go_version: s.target.go_version.clone(),
        lost_records: s.counters.lost_records,
        threads_untracked: s.counters.threads_untracked,
        slot_collisions: s.counters.slot_collisions,
        unmatched_exits: s.counters.unmatched_exits,
        total_calls: s.total_calls,
        total_errors: s.total_errors,
        total_ns: s.total_ns,
        slow_calls: s.slow_calls,
        slowest: s
            .slowest
            .iter()
            .map(|e| {
                syscall_fields(
                    &e.call,
                    s.start_ns,
                    e.cause.as_ref().map(ToString::to_string),
                )
            })
            .collect(),
        threads_created: s.threads_created,
        bad_records: s.bad_records,
        syscalls: s
            .syscalls
            .iter()
            .map(|r| SyscallSummary {
                name: r.name.clone(),
                nr: r.nr,
                calls: r.calls,
                errors: r.errors,
                total_ns: r.total_ns,
                avg_ns: r.avg_ns,
                max_ns: r.max_ns,
                p50_ns: r.p50_ns,
                p99_ns: r.p99_ns,
                on_cpu_ns: r.on_cpu_ns,
                runq_ns: r.runq_ns,
                blocked_ns: r.blocked_ns,
                causes: s
                    .syscall_causes
                    .get(&r.nr)
                    .map(causes_json)
                    .unwrap_or_default(),
            })
            .collect(),
        processes: s
            .processes
            .iter()
            .map(|p| ProcessSummary {
                pid: p.pid,
                parent: p.parent,
                comm: p.comm.clone(),
                command: p.command.clone(),
                exit: p.exit.map(exit_json),
            })
            .collect(),
        target_exit: s.target_exit.map(exit_json),
        signals: s
            .signals
            .iter()
            .map(|c| SignalSummary {
                signo: c.signo,
                name: signal_name(c.signo as i32),
                generated: c.generated,
                delivered: c.delivered,
                ignored: c.ignored,
                already_pending: c.already_pending,
                senders: c
                    .senders
                    .iter()
                    .map(|(&pid, (comm, count))| PidCount {
                        pid,
                        comm: Some(comm.clone()),
                        count: *count,
                    })
                    .collect(),
                receivers: c
                    .receivers
                    .iter()
                    .map(|(&pid, &count)| PidCount {
                        pid,
                        comm: None,
                        count,
                    })
                    .collect(),
            })
            .collect(),
        sigchld: SigchldJson {
            exits: s.sigchld.exits,
            generated: s.sigchld.generated,
            delivered: s.sigchld.delivered,
            coalesced: s.sigchld.coalesced,
            ignored: s.sigchld.ignored,
            undelivered: s.sigchld.undelivered,
            failed: s.sigchld.failed,
            not_sent: s.sigchld.not_sent,
            reaped: s.sigchld.reaped,
            auto_reaped: s.sigchld.auto_reaped,
            unreaped: s.sigchld.unreaped,
            max_reap_latency_ns: s.sigchld.max_reap_latency_ns,
        },
        preemption_signals: s.preemption.generated,
        preemption_per_sec: per_sec(s.preemption.generated, s.duration_ns),
        anomalies: s.anomalies.iter().map(anomaly_json).collect(),
        attribution: causes_json(&s.attribution),
        cgroup: s.system.cgroup.as_ref().map(|c| CgroupJson {
            version: c.version,
            path: c.path.clone(),
            cpu_quota_cpus: c.cpu_quota_cpus,
            memory_limit: c.memory_limit,
            throttled_ns: c.throttled_ns,
            nr_throttled: c.nr_throttled,
        }),
        gomaxprocs: s.system.gomaxprocs,
        effective_cpus: s.system.effective_cpus,
        gomaxprocs_exceeds_quota: s.system.gomaxprocs_exceeds_quota,
        // The text of the numbers as written, so that it is what `report` says of them.
        pressure: psi.as_ref().map(|p| pressure_text(&Psi::from(p))),
        psi,
        cpu_steal_share: s
            .system
            .cpu_steal
            .map(|x| (x * 10_000.0).round() / 10_000.0),
        filesystems: s
            .filesystems
            .iter()
            .map(|f| FsJson {
                mount: f.mount.clone(),
                fstype: f.fstype.clone(),
                kind: f.kind.clone(),
                calls: f.calls,
                ns: f.ns,
            })
            .collect(),
        threads: s
            .threads
            .iter()
            .map(|t| ThreadJson {
                tid: t.tid,
                pid: t.pid,
                comm: t.comm.clone(),
                runq_ns: t.runq_ns,
                runq_throttled_ns: t.runq_throttled_ns,
            })
            .collect(),
        poller: poller_json(&s.poller),
        in_progress: s
            .in_progress
            .iter()
            .map(|p| in_progress_json(p, s.start_ns))
            .collect(),
        runtime_attribution: s
            .attribution
            .runtime
            .iter()
            .map(|c| CauseJson {
                cause: c.cause.to_string(),
                ns: c.ns,
                share: (c.share * 10_000.0).round() / 10_000.0,
            })
            .collect(),
        call_sites: s
            .call_sites
            .iter()
            .take(CALL_SITES_SHOWN)
            .map(call_site_json)
            .collect(),
        call_sites_other_calls: s.call_sites_other
            + s.call_sites
                .iter()
                .skip(CALL_SITES_SHOWN)
                .map(|r| r.calls)
                .sum::<u64>(),
    }))
}

fn call_site_json(r: &CallSiteRow) -> CallSiteJson {
    CallSiteJson {
        function: r.site.function.clone(),
        file: r.site.file.clone(),
        line: r.site.line,
        calls: r.calls,
        ns: r.ns,
        max_ns: r.max_ns,
        causes: r
            .causes
            .iter()
            .map(|(c, ns)| CauseNsJson {
                cause: c.to_string(),
                ns: *ns,
            })
            .collect(),
        syscalls: r
            .syscalls
            .iter()
            .map(|(name, calls)| NameCountJson {
                name: name.clone(),
                calls: *calls,
            })
            .collect(),
        goroutines: r.goroutines,
        goids: r.goids.clone(),
        stack: r.stack.clone(),
    }
}

/// Pressure stall information as the summary line has it.
pub fn psi_json(p: &Psi) -> PsiJson {
    // The kernel prints the averages with two decimals.
    let avg = |v: f64| (v * 100.0).round() / 100.0;
    let resource = |r: &Option<crate::analysis::PsiResource>| {
        r.map(|r| PsiResourceJson {
            some_avg10: avg(r.some_avg10),
            some_avg60: avg(r.some_avg60),
            full_avg10: r.full_avg10.map(avg),
            full_avg60: r.full_avg60.map(avg),
            some_stall_ns: r.some_stall_ns,
            full_stall_ns: r.full_stall_ns,
        })
    };
    PsiJson {
        source: p.source.clone(),
        cpu: resource(&p.cpu),
        memory: resource(&p.memory),
        io: resource(&p.io),
    }
}

/// The poller facts as the summary line has them.
pub fn poller_json(p: &PollerSummary) -> PollerJson {
    PollerJson {
        kind: p.kind.label().into(),
        epoll: EpollJson {
            instances: p
                .epoll
                .iter()
                .map(|e| EpollInstanceJson {
                    pid: e.pid,
                    epfd: e.epfd,
                    waits: e.waits,
                    polls: e.polls,
                    timeouts: e.timeouts,
                    ready: e.ready,
                    events: e.events,
                    errors: e.errors,
                    blocked_ns: e.blocked_ns,
                    p50_ns: e.p50_ns,
                    p99_ns: e.p99_ns,
                    max_ns: e.max_ns,
                    registrations: e.registrations,
                    fds: e
                        .fds
                        .iter()
                        .map(|f| EpollFdJson {
                            fd: f.fd,
                            kind: f.kind.clone(),
                            events: f.events,
                        })
                        .collect(),
                })
                .collect(),
            wakeups: p.wakeups,
        },
        io_uring: UringJson {
            ops: p
                .uring_ops
                .iter()
                .map(|o| UringOpJson {
                    opcode: o.name.clone(),
                    code: o.opcode,
                    count: o.count,
                    errors: o.errors,
                    p50_ns: o.p50_ns,
                    p99_ns: o.p99_ns,
                    max_ns: o.max_ns,
                })
                .collect(),
            rings: p
                .rings
                .iter()
                .map(|r| UringRingJson {
                    pid: r.tgid,
                    submits: r.submits,
                    completes: r.completes,
                    max_queue_depth: r.max_in_flight,
                })
                .collect(),
        },
    }
}

// Back from the JSON to the model, so that the text summary, which renders from the
// JSON types (`report` has nothing else), words them with the dashboard's functions.

impl From<&PsiResourceJson> for PsiResource {
    fn from(r: &PsiResourceJson) -> PsiResource {
        PsiResource {
            some_avg10: r.some_avg10,
            some_avg60: r.some_avg60,
            full_avg10: r.full_avg10,
            full_avg60: r.full_avg60,
            some_stall_ns: r.some_stall_ns,
            full_stall_ns: r.full_stall_ns,
        }
    }
}

impl From<&PsiJson> for Psi {
    fn from(p: &PsiJson) -> Psi {
        Psi {
            source: p.source.clone(),
            cpu: p.cpu.as_ref().map(PsiResource::from),
            memory: p.memory.as_ref().map(PsiResource::from),
            io: p.io.as_ref().map(PsiResource::from),
        }
    }
}

impl From<&PollerJson> for PollerSummary {
    /// A kind this version does not know reads as none. The JSON keeps no pid per
    /// io_uring opcode (0 here).
    fn from(p: &PollerJson) -> PollerSummary {
        let kind = [PollerKind::Epoll, PollerKind::IoUring, PollerKind::Both]
            .into_iter()
            .find(|k| k.label() == p.kind)
            .unwrap_or(PollerKind::None);
        PollerSummary {
            kind,
            epoll: p
                .epoll
                .instances
                .iter()
                .map(|e| EpollRow {
                    pid: e.pid,
                    epfd: e.epfd,
                    waits: e.waits,
                    polls: e.polls,
                    timeouts: e.timeouts,
                    ready: e.ready,
                    events: e.events,
                    errors: e.errors,
                    blocked_ns: e.blocked_ns,
                    p50_ns: e.p50_ns,
                    p99_ns: e.p99_ns,
                    max_ns: e.max_ns,
                    fds: e
                        .fds
                        .iter()
                        .map(|f| RegisteredFd {
                            fd: f.fd,
                            kind: f.kind.clone(),
                            events: f.events,
                        })
                        .collect(),
                    registrations: e.registrations,
                })
                .collect(),
            wakeups: p.epoll.wakeups,
            uring_ops: p
                .io_uring
                .ops
                .iter()
                .map(|o| UringOpRow {
                    pid: 0,
                    opcode: o.code,
                    name: o.opcode.clone(),
                    count: o.count,
                    errors: o.errors,
                    p50_ns: o.p50_ns,
                    p99_ns: o.p99_ns,
                    max_ns: o.max_ns,
                })
                .collect(),
            rings: p
                .io_uring
                .rings
                .iter()
                .map(|r| RawRing {
                    tgid: r.pid,
                    submits: r.submits,
                    completes: r.completes,
                    max_in_flight: r.max_queue_depth,
                })
                .collect(),
        }
    }
}

fn causes_json(a: &Attribution) -> Vec<CauseJson> {
    a.causes
        .iter()
        .map(|c| CauseJson {
            cause: c.cause.to_string(),
            ns: c.ns,
            share: (c.share * 10_000.0).round() / 10_000.0,
        })
        .collect()
}

/// Writes lines through a buffer. Event lines are flushed in batches by the caller
/// ([`NdjsonWriter::flush`]); the summary is flushed at once.
pub struct NdjsonWriter {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl NdjsonWriter {
    pub fn new(out: Box<dyn Write + Send>) -> NdjsonWriter {
        NdjsonWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
        }
    }

    pub fn write(&mut self, line: &Line) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analyzer, KernelCounters, RawSyscallStats};

    /// A Write that a test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_round_trip_through_the_typed_schema() {
        let target = TargetInfo {
            pid: 42,
            command: vec!["./app".into(), "-x".into()],
            go_version: Some("go1.27.3".into()),
            launched: true,
        };
        let mut a = Analyzer::new(target.clone(), 1_000);
        let ev = SyscallEvent {
            tid: 43,
            tgid: 42,
            nr: 257,
            start_ns: 3_000,
            duration_ns: 2_000_000,
            ret: -2,
            args: [1, 2, 3, 4, 5, 6],
            ..Default::default()
        };
        a.on_event(&crate::event::Event::Syscall(ev.clone()));
        a.on_stats(
            vec![RawSyscallStats {
                nr: 257,
                calls: 3,
                errors: 1,
                total_ns: 2_100_000,
                max_ns: 2_000_000,
                hist: vec![0; tracer_common::HIST_BUCKETS],
                ..Default::default()
            }],
            KernelCounters {
                lost_records: 5,
                unmatched_exits: 1,
                slot_collisions: 2,
                threads_untracked: 0,
                proc_stats_full: 0,
            },
        );
        a.on_target_exit(ExitStatus::Code(3));
        let facts = HeaderFacts {
            kernel_release: "6.18".into(),
            start_unix_ns: 0,
            slow_threshold_ns: 1_000_000,
            follow: true,
            features: vec![],
        };
        let proc_ev = ProcEvent {
            pid: 50,
            tgid: 50,
            parent_tgid: 42,
            ts_ns: 4_000,
            exit_code: 9,
            thread: false,
            group_dead: true,
            parent_ignores_sigchld: false,
            parent_nocldwait: false,
            comm: "child".into(),
        };
        let sig = SignalEvent {
            sig: 17,
            result: Some(GenerateResult::AlreadyPending),
            handler: None,
            sender_pid: 50,
            sender_tgid: 50,
            target_pid: 42,
            target_tgid: 42,
            group: true,
            si_code: crate::event::CLD_EXITED,
            si_pid: 50,
            si_status: 0,
            ts_ns: 4_100,
            comm: "child".into(),
        };
        let wait = WaitEvent {
            tid: 43,
            tgid: 42,
            nr: tracer_common::NR_WAIT4,
            ret: 50,
            options: 0,
            idtype: 0,
            id: -1,
            si_pid: 0,
            si_code: 0,
            ts_ns: 4_500,
            duration_ns: 10,
        };
        let mut urg = sig.clone();
        urg.sig = 23;
        assert_eq!(
            signal_line(&urg, 1_000),
            None,
            "SIGURG is counted, not listed"
        );
        let lines = vec![
            header_line(&target, &facts),
            syscall_line(&ev, 1_000, Some("fs:ext4".into())),
            process_line(ProcessEventKind::Fork, &proc_ev, 1_000, None),
            process_line(ProcessEventKind::Exit, &proc_ev, 1_000, None),
            child_exit_line(&proc_ev, 1_000),
            signal_line(&sig, 1_000).expect("SIGCHLD line"),
            child_reaped_line(&wait, 1_000).expect("a reap"),
            summary_line(&a.snapshot(5_000)),
        ];
        let buf = Shared::default();
        let mut w = NdjsonWriter::new(Box::new(buf.clone()));
        for l in &lines {
            w.write(l).expect("write");
        }
        w.flush().expect("flush");
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
        let back: Vec<Line> = text
            .lines()
            .map(|l| {
                let c = super::super::schema::check_fields(l).expect(l);
                // Every field written is in the schema, and none is left out.
                assert!(c.unknown.is_empty() && c.missing.is_empty(), "{c:?}");
                c.line
            })
            .collect();
        assert_eq!(back, lines);
        assert!(
            text.starts_with("{\"type\":\"header\",\"format\":1,"),
            "{text}"
        );
        let Line::Syscall(s) = &back[1] else {
            panic!("not a syscall line")
        };
        assert_eq!(
            (s.ts_ns, s.name.as_str(), s.errno.as_deref()),
            (2_000, "openat", Some("ENOENT"))
        );
        let Line::Process(p) = &back[3] else {
            panic!("not a process line")
        };
        assert_eq!((p.exit_code, p.signal), (None, Some(9)));
        let Line::Signal(sl) = &back[5] else {
            panic!("not a signal line")
        };
        assert_eq!(
            (sl.name.as_str(), sl.result.as_deref(), sl.si_pid),
            ("SIGCHLD", Some("already_pending"), Some(50))
        );
        let Line::Child(c) = &back[6] else {
            panic!("not a child line")
        };
        assert_eq!(
            (c.event, c.syscall.as_deref(), c.reaper_tid),
            (ChildEventKind::Reaped, Some("wait4"), Some(43))
        );
        let Line::Summary(sum) = &back[7] else {
            panic!("not a summary")
        };
        assert_eq!((sum.lost_records, sum.duration_ns), (5, 4_000));
        assert_eq!((sum.slot_collisions, sum.unmatched_exits), (2, 1));
        assert_eq!(
            sum.target_exit,
            Some(ExitJson {
                code: Some(3),
                signal: None
            })
        );
    }

    #[test]
    fn psi_poller_and_exits_come_back_from_the_json_as_they_went() {
        let psi = Psi {
            source: "cgroup:/app".into(),
            cpu: Some(PsiResource {
                some_avg10: 5.6,
                some_avg60: 4.12,
                full_avg10: None,
                full_avg60: None,
                some_stall_ns: Some(1_200_000),
                full_stall_ns: None,
            }),
            memory: Some(PsiResource {
                some_avg10: 4.26,
                some_avg60: 3.0,
                full_avg10: Some(3.67),
                full_avg60: Some(1.05),
                some_stall_ns: None,
                full_stall_ns: Some(5),
            }),
            io: None,
        };
        assert_eq!(Psi::from(&psi_json(&psi)), psi);

        let poller = PollerSummary {
            kind: PollerKind::Both,
            epoll: vec![EpollRow {
                pid: 7,
                epfd: 4,
                waits: 100,
                polls: 3,
                timeouts: 2,
                ready: 95,
                events: 120,
                errors: 1,
                blocked_ns: 5_000_000,
                p50_ns: 1_000,
                p99_ns: 90_000,
                max_ns: 200_000,
                fds: vec![RegisteredFd {
                    fd: 5,
                    kind: "socket".into(),
                    events: 0x2001,
                }],
                registrations: 2,
            }],
            wakeups: 12,
            uring_ops: vec![UringOpRow {
                // The JSON keeps no pid per opcode.
                pid: 0,
                opcode: 22,
                name: "READ".into(),
                count: 10,
                errors: 1,
                p50_ns: 800,
                p99_ns: 4_000,
                max_ns: 9_000,
            }],
            rings: vec![RawRing {
                tgid: 7,
                submits: 11,
                completes: 10,
                max_in_flight: 4,
            }],
        };
        assert_eq!(PollerSummary::from(&poller_json(&poller)), poller);
        for kind in [
            PollerKind::Epoll,
            PollerKind::IoUring,
            PollerKind::Both,
            PollerKind::None,
        ] {
            let p = PollerSummary {
                kind,
                ..Default::default()
            };
            assert_eq!(PollerSummary::from(&poller_json(&p)).kind, kind);
        }
        let mut newer = poller_json(&PollerSummary::default());
        newer.kind = "kqueue".into();
        assert_eq!(PollerSummary::from(&newer).kind, PollerKind::None);

        for status in [
            ExitStatus::Code(0),
            ExitStatus::Code(3),
            ExitStatus::Signal(9),
        ] {
            let j = exit_json(status);
            assert_eq!(exit_status(j.code, j.signal), Some(status));
        }
        assert_eq!(exit_status(Some(1), Some(9)), Some(ExitStatus::Code(1)));
        assert_eq!(exit_status(None, None), None);
    }

    #[test]
    fn the_documented_example_is_valid() {
        let doc = include_str!("../../../docs/json-schema.md");
        let block = doc
            .split("```json\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("docs/json-schema.md has a json example");
        // Each field in it is in the schema, and each field of the schema is in it.
        let lines: Vec<Line> = block
            .lines()
            .map(|l| {
                let c =
                    super::super::schema::check_fields(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                assert!(
                    c.unknown.is_empty() && c.missing.is_empty(),
                    "unknown {:?}, missing {:?}: {l}",
                    c.unknown,
                    c.missing
                );
                c.line
            })
            .collect();
        assert!(matches!(lines.first(), Some(Line::Header(h)) if h.format == FORMAT_VERSION));
        let Some(Line::Summary(s)) = lines.last() else {
            panic!("the example ends with a summary")
        };
        assert_eq!(
            s.pressure,
            s.psi.as_ref().map(|p| pressure_text(&Psi::from(p))),
            "pressure is psi's text"
        );
    }

    #[test]
    fn unknown_fields_are_ignored_by_readers_and_refused_by_the_schema_check() {
        let l = header_line(
            &TargetInfo::default(),
            &HeaderFacts {
                kernel_release: "6.18".into(),
                start_unix_ns: 0,
                slow_threshold_ns: 1_000_000,
                follow: false,
                features: vec![],
            },
        );
        let text = serde_json::to_string(&l).expect("JSON");
        let newer = text.replacen("\"follow\":", "\"surprise\":true,\"follow\":", 1);
        assert_eq!(serde_json::from_str::<Line>(&newer).expect("read"), l);
        assert_eq!(
            super::super::schema::parse_strict(&newer),
            Err("fields not in the schema: surprise".to_string())
        );
        assert_eq!(super::super::schema::parse_strict(&text), Ok(l));
    }
}
