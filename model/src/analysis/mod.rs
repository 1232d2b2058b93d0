//! Aggregation of everything the probe saw into a [`Snapshot`]. The analyzer is the
//! single owner of trace state; it does no I/O: kernel aggregates, decoded events and
//! facts about the system are all fed to it as data.
pub mod attribution;
pub mod callsites;
pub mod poller;
pub mod signals;

use std::collections::BTreeMap;

use tracer_common::{class, hist_bucket_high, Inflight, THREAD_BLOCKED, THREAD_RUNQ};

use crate::{
    event::{Event, ProcEvent, SyscallEvent},
    syscalls,
};
pub use attribution::{Attribution, Cause, CauseShare, ThreadRow};
pub use signals::{Anomaly, PipeWriter, Preemption, SigchldSummary, SignalCounts, Thresholds};
// The kernel's side of the interface: defined with the harvest, used here by name.
pub use crate::harvest::{KernelCounters, RawCause, RawSyscallStats, RawThreadStats};

/// What is known of the traced process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInfo {
    pub pid: u32,
    /// argv, as far as it could be read.
    pub command: Vec<String>,
    /// The Go version from the binary's .go.buildinfo; None when not a Go binary.
    pub go_version: Option<String>,
    /// Launched by gotrace (true) or attached to (false).
    pub launched: bool,
}

impl TargetInfo {
    /// The command as one line for display.
    pub fn command_line(&self) -> String {
        if self.command.is_empty() {
            return "?".into();
        }
        self.command.join(" ")
    }
}

/// How the root target ended, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit(code)
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl ExitStatus {
    /// From a wait status as the kernel stores it in task_struct.exit_code.
    pub fn from_wait_status(status: u32) -> ExitStatus {
        let sig = (status & 0x7f) as i32;
        if sig == 0 {
            ExitStatus::Code(((status >> 8) & 0xff) as i32)
        } else {
            ExitStatus::Signal(sig)
        }
    }
}

/// A row of the syscall table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRow {
    pub nr: u32,
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub avg_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// The split of `total_ns`: on a CPU, waiting for one, asleep.
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub blocked_ns: u64,
}

/// A process seen during the trace: the target and, when following, its descendants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// Creating process, for processes created while traced.
    pub parent: Option<u32>,
    pub comm: String,
    /// Full argv when it could be read after exec.
    pub command: Vec<String>,
    /// Monotonic ns of creation (if seen) and exit (if seen).
    pub started_ns: Option<u64>,
    pub exited_ns: Option<u64>,
    pub execs: u32,
    pub exit: Option<ExitStatus>,
}

/// Everything a view or exporter needs, computed from the analyzer's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub target: TargetInfo,
    /// Trace length so far (or in all, at the end).
    pub duration_ns: u64,
    /// Monotonic ns when tracing began (the origin of event times).
    pub start_ns: u64,
    /// Sorted by total time, then calls, descending.
    pub syscalls: Vec<SyscallRow>,
    pub total_calls: u64,
    pub total_errors: u64,
    pub total_ns: u64,
    /// Calls over the slow threshold that were streamed.
    pub slow_calls: u64,
    /// The slowest streamed calls, slowest first, each with its cause.
    pub slowest: Vec<SlowCall>,
    /// In pid order; the dashboard's snapshot holds only the running ones and the
    /// latest to end (see [`Analyzer::dashboard_snapshot`]).
    pub processes: Vec<ProcessInfo>,
    /// Every process seen, and those still running (whatever `processes` holds).
    pub processes_seen: usize,
    pub processes_running: usize,
    pub threads_created: u64,
    pub counters: KernelCounters,
    /// Records that arrived but could not be decoded.
    pub bad_records: u64,
    pub target_exit: Option<ExitStatus>,
    /// Per signal number, SIGURG excluded.
    pub signals: Vec<SignalCounts>,
    /// SIGURG: the Go runtime's preemption signal.
    pub preemption: Preemption,
    pub sigchld: SigchldSummary,
    /// Children's lifecycle problems, most important first.
    pub anomalies: Vec<Anomaly>,
    /// Where the time went, over the whole trace.
    pub attribution: Attribution,
    /// The same over the last few seconds.
    pub recent_attribution: Attribution,
    /// Filesystems the target waited on.
    pub filesystems: Vec<FsRow>,
    /// Per-thread run-queue time outside syscalls, most first (in the dashboard's
    /// snapshot, the exited threads only down to the busiest [`RETIRED_SHOWN`]).
    pub threads: Vec<ThreadRow>,
    /// cgroup, GOMAXPROCS and pressure facts about the target.
    pub system: SystemFacts,
    /// Each syscall's time by cause.
    pub syscall_causes: BTreeMap<u32, Attribution>,
    /// Which poller(s) the target uses, and what they do.
    pub poller: poller::PollerSummary,
    /// Calls traced threads were in when last looked at, longest first.
    pub in_progress: Vec<InProgress>,
    /// What this kernel lets gotrace trace.
    pub kernel_features: Vec<KernelFeature>,
    /// Streamed calls by Go call site, most time first (goroutines' calls with a stack).
    pub call_sites: Vec<callsites::CallSiteRow>,
    /// Calls at sites past the table's size.
    pub call_sites_other: u64,
}

/// One process in host-wide mode's process list.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub pid: u32,
    pub comm: String,
    pub go_version: Option<String>,
    pub cgroup: Option<String>,
    pub calls: u64,
    /// Time in syscalls.
    pub syscall_ns: u64,
    /// The share of that time asleep (0 to 1).
    pub blocked_share: f64,
    /// Its cgroup's throttled time while traced.
    pub throttled_ns: u64,
    pub gomaxprocs: Option<u32>,
    pub cpu_quota: Option<f64>,
    pub gomaxprocs_exceeds_quota: bool,
    /// Children's exits whose SIGCHLD was lost: coalesced with a pending one, never
    /// delivered, or failed.
    pub lost_sigchld: u64,
    /// It exited (or stopped running Go).
    pub exited: bool,
}

/// What a thread was doing when it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    /// On a CPU.
    Running,
    /// Runnable, waiting for a CPU.
    Runnable,
    /// Asleep.
    Blocked,
}

impl std::fmt::Display for ThreadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ThreadState::Running => "running",
            ThreadState::Runnable => "runnable",
            ThreadState::Blocked => "blocked",
        })
    }
}

/// A syscall a traced thread was still in when it was looked at. A call that does not
/// return never reaches the slow-call stream: this is how a hang shows.
#[derive(Debug, Clone, PartialEq)]
pub struct InProgress {
    pub comm: String,
    /// The call so far: `duration_ns` is its time until it was looked at, split as a
    /// finished call's is; `ret` is 0; `args`, `class` and `dev` are what /proc showed.
    pub call: SyscallEvent,
    pub state: ThreadState,
    /// What it names: "fd 7 /mnt/c/src/x.go", a path, "epoll fd 4", "child 1234".
    pub detail: Option<String>,
    /// The kernel function it sleeps in.
    pub wchan: Option<String>,
    /// The largest part of its time so far (as [`Analyzer::call_cause`]).
    pub cause: Option<Cause>,
    /// In the call since before tracing began: `start_ns` is the trace's start and
    /// `duration_ns` a lower bound; the split is not known.
    pub began_before_trace: bool,
}

/// A call in progress this long, not an idle wait, is worth a line of its own.
pub const STUCK_NS: u64 = 1_000_000_000;

impl Snapshot {
    /// The calls in progress that are not the runtime waiting for work, longest first.
    pub fn busy_in_progress(&self) -> impl Iterator<Item = &InProgress> {
        let go = self.target.go_version.is_some();
        self.in_progress.iter().filter(move |p| !p.runtime_wait(go))
    }

    /// The longest of them worth an alert (see [`InProgress::stuck`]).
    pub fn stuck(&self) -> Option<&InProgress> {
        let go = self.target.go_version.is_some();
        self.in_progress.iter().find(|p| p.stuck(go))
    }
}

impl InProgress {
    /// In progress for [`STUCK_NS`] or more, and not the Go runtime waiting for work: in
    /// a Go program every futex wait is the runtime's (an idle M, sysmon or the timer
    /// thread asleep); goroutines block in the scheduler, not in the kernel.
    pub fn stuck(&self, go: bool) -> bool {
        self.call.duration_ns >= STUCK_NS && !self.runtime_wait(go)
    }

    /// A runtime thread waiting for work: parked (idle), or, in a Go program, any futex
    /// wait.
    pub fn runtime_wait(&self, go: bool) -> bool {
        match &self.cause {
            Some(Cause::Idle) => true,
            Some(Cause::Futex) => go,
            _ => false,
        }
    }

    /// The call in the kernel's in-flight slot of a thread of `tgid`, looked at at
    /// `now_ns`: the stretch in its current state counts up to now.
    pub fn from_slot(slot: &Inflight, tgid: u32, now_ns: u64) -> InProgress {
        let mut call = SyscallEvent {
            tid: slot.tid,
            tgid,
            nr: slot.nr,
            start_ns: slot.start_ns,
            duration_ns: now_ns.saturating_sub(slot.start_ns),
            on_cpu_ns: slot.on_cpu_ns,
            runq_ns: slot.runq_ns,
            runq_throttled_ns: slot.runq_throttled_ns,
            blocked_ns: slot.blocked_ns,
            ..Default::default()
        };
        if slot.goid_start_ns == slot.start_ns {
            // Its first sleep found out who made it.
            call.gkind = slot.gkind;
            call.goid = slot.goid;
        }
        let stretch = now_ns.saturating_sub(slot.state_ns);
        let state = match slot.state {
            THREAD_RUNQ => {
                call.runq_ns += stretch;
                if slot.throttled != 0 {
                    call.runq_throttled_ns += stretch;
                }
                ThreadState::Runnable
            }
            THREAD_BLOCKED => {
                call.blocked_ns += stretch;
                ThreadState::Blocked
            }
            _ => {
                call.on_cpu_ns += stretch;
                ThreadState::Running
            }
        };
        InProgress {
            comm: String::new(),
            call,
            state,
            detail: None,
            wchan: None,
            cause: None,
            began_before_trace: false,
        }
    }

    /// A call thread `tid` of `tgid` has been in since before tracing began at
    /// `trace_start_ns` (its number comes from /proc).
    pub fn before_trace(tid: u32, tgid: u32, trace_start_ns: u64, now_ns: u64) -> InProgress {
        InProgress {
            comm: String::new(),
            call: SyscallEvent {
                tid,
                tgid,
                start_ns: trace_start_ns,
                duration_ns: now_ns.saturating_sub(trace_start_ns),
                ..Default::default()
            },
            state: ThreadState::Blocked,
            detail: None,
            wchan: None,
            cause: None,
            began_before_trace: true,
        }
    }
}

/// Time the target spent waiting on one filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRow {
    pub mount: String,
    pub fstype: String,
    /// The cause label: "fuse", "drvfs", "ext4", ...
    pub kind: String,
    /// Calls that waited on it.
    pub calls: u64,
    /// Their wall time.
    pub ns: u64,
}

/// Facts about where the target runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemFacts {
    pub cgroup: Option<CgroupFacts>,
    /// The runtime's GOMAXPROCS (Go targets).
    pub gomaxprocs: Option<u32>,
    /// CPUs the target can use: the cgroup quota, else the online CPUs.
    pub effective_cpus: Option<f64>,
    /// GOMAXPROCS exceeds the CPUs the quota allows.
    pub gomaxprocs_exceeds_quota: bool,
    /// Pressure stall information of the target's cgroup, or of the system.
    pub psi: Option<Psi>,
    /// The machine's CPU steal time since tracing began, as a share of its CPU time
    /// (0..1): a hypervisor running something else (context::steal).
    pub cpu_steal: Option<f64>,
}

/// Pressure stall information (PSI, Documentation/accounting/psi.rst): how much of the
/// time tasks waited for CPU, memory or IO.
#[derive(Debug, Clone, PartialEq)]
pub struct Psi {
    /// `cgroup:<path in the v2 hierarchy>`, or `system` (/proc/pressure).
    pub source: String,
    /// None when the kernel does not report that resource.
    pub cpu: Option<PsiResource>,
    pub memory: Option<PsiResource>,
    pub io: Option<PsiResource>,
}

/// One resource's pressure. `some`: at least one task stalled on it; `full`: all non-idle
/// tasks at once. Averages are percentages of wall time over the last 10 and 60 s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiResource {
    pub some_avg10: f64,
    pub some_avg60: f64,
    /// None when the kernel has no `full` line for it (cpu before 5.13).
    pub full_avg10: Option<f64>,
    pub full_avg60: Option<f64>,
    /// Stall time while tracing (growth of the kernel's `total`); None when there is no
    /// reading from the start of the trace of the same source to count from.
    pub some_stall_ns: Option<u64>,
    pub full_stall_ns: Option<u64>,
}

/// Something gotrace traces that depends on what the kernel offers: on, or off with the
/// reason (probe::kernel decides; shown once in every output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFeature {
    /// "io_uring", "signals", "cgroup_throttle", ...
    pub name: String,
    pub on: bool,
    /// How it is traced on this kernel, or why it is not.
    pub detail: String,
}

/// The target's cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupFacts {
    /// 1 or 2.
    pub version: u32,
    pub path: String,
    pub cpu_quota_cpus: Option<f64>,
    pub memory_limit: Option<u64>,
    /// Throttling during the trace (deltas of cpu.stat).
    pub throttled_ns: u64,
    pub nr_throttled: u64,
}

/// A slow call with what its time went to, decided once, when it arrived (see
/// [`Analyzer::on_event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SlowCall {
    pub call: SyscallEvent,
    pub cause: Option<Cause>,
}

/// How many of the slowest calls the snapshot keeps.
pub const SLOWEST_KEPT: usize = 10;

/// Percentile `q` (0..=1) of a histogram: the upper edge of the bucket holding the q-th
/// call, clamped to the observed maximum. So "p99 = X" reads "99% of calls took at most
/// X", over-stating by at most a bucket's width (25%), never under-stating.
pub fn percentile(hist: &[u64], max_ns: u64, q: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (idx, &n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return hist_bucket_high(idx).min(max_ns);
        }
    }
    max_ns
}

/// (cause, ns) parts of some time.
type CauseParts = Vec<(Cause, u64)>;

/// The single owner of trace state.
#[derive(Debug, Default)]
pub struct Analyzer {
    target: TargetInfo,
    start_ns: u64,
    stats: Vec<RawSyscallStats>,
    counters: KernelCounters,
    slow_calls: u64,
    slowest: Vec<SlowCall>,
    call_sites: callsites::CallSites,
    processes: BTreeMap<u32, ProcessInfo>,
    threads_created: u64,
    bad_records: u64,
    target_exit: Option<ExitStatus>,
    signals: signals::SignalTracker,
    thresholds: Thresholds,
    thread_stats: Vec<RawThreadStats>,
    causes: Vec<RawCause>,
    /// As read from the kernel, before the reset baselines are taken off.
    raw_stats: Vec<RawSyscallStats>,
    raw_threads: Vec<RawThreadStats>,
    raw_causes: Vec<RawCause>,
    mounts: Option<crate::mounts::MountTable>,
    thread_names: std::collections::HashMap<u32, String>,
    system: SystemFacts,
    poller: poller::PollerTracker,
    raw_poller: poller::RawPoller,
    /// Kernel aggregates at the last reset (they are cumulative in the kernel).
    base_stats: Vec<RawSyscallStats>,
    base_threads: std::collections::HashMap<u32, RawThreadStats>,
    base_causes: Vec<RawCause>,
    /// (monotonic ns, cumulative attribution) at each kernel read, for the recent view.
    history: std::collections::VecDeque<(u64, Attribution)>,
    in_progress: Vec<InProgress>,
    kernel_features: Vec<KernelFeature>,
    /// Traced threads that exited since the kernel's thread table was last pruned.
    exited_threads: Vec<u32>,
    /// The last run-queue figures of exited threads, whose kernel entries are gone.
    retired: RetiredThreads,
    /// Processes alive as far as the events tell (an index of `processes`).
    live: std::collections::BTreeSet<u32>,
    /// The latest processes to end, newest last (at most [`ENDED_SHOWN`]).
    ended: std::collections::VecDeque<u32>,
    /// What the kernel's thread table held at the last read.
    live_threads: Vec<RawThreadStats>,
}

/// Ended processes the dashboard lists beside the running ones.
pub const ENDED_SHOWN: usize = 100;
/// Running processes the dashboard lists (in pid order).
pub const LIVE_SHOWN: usize = 1_000;
/// Senders and receivers of each signal the dashboard names.
pub const PEERS_SHOWN: usize = 8;
/// Exited threads the dashboard lists beside the living ones (the busiest).
pub const RETIRED_SHOWN: usize = 100;

/// Exited threads' last run-queue figures (since any reset): all of them for the final
/// summary, their sums and the busiest for each refresh, which never goes over them all.
#[derive(Debug, Default)]
struct RetiredThreads {
    all: Vec<ThreadRow>,
    runq_ns: u64,
    runq_throttled_ns: u64,
    /// The busiest, most first, at most [`RETIRED_SHOWN`].
    top: Vec<ThreadRow>,
}

impl RetiredThreads {
    fn add(&mut self, t: ThreadRow) {
        self.runq_ns += t.runq_ns;
        self.runq_throttled_ns += t.runq_throttled_ns;
        let pos = self.top.partition_point(|x| x.runq_ns >= t.runq_ns);
        if pos < RETIRED_SHOWN {
            self.top.insert(pos, t.clone());
            self.top.truncate(RETIRED_SHOWN);
        }
        self.all.push(t);
    }
}

/// How far back "recent" attribution looks.
pub const RECENT_WINDOW_NS: u64 = 5_000_000_000;

impl Analyzer {
    /// `start_ns`: CLOCK_MONOTONIC when tracing began.
    pub fn new(target: TargetInfo, start_ns: u64) -> Analyzer {
        let mut processes = BTreeMap::new();
        processes.insert(
            target.pid,
            ProcessInfo {
                pid: target.pid,
                parent: None,
                comm: target
                    .command
                    .first()
                    .map(|c| base_name(c))
                    .unwrap_or_default(),
                command: target.command.clone(),
                started_ns: None,
                exited_ns: None,
                execs: 0,
                exit: None,
            },
        );
        Analyzer {
            live: [target.pid].into_iter().collect(),
            target,
            start_ns,
            processes,
            ..Default::default()
        }
    }

    /// What `/metrics` shows of the traced process (the root target; with --follow its
    /// tree's aggregates, which the kernel keeps summed), now.
    pub fn metrics(&self, now_ns: u64) -> crate::export::prometheus::ProcessMetrics {
        use crate::export::prometheus::{ProcessMetrics, SyscallMetrics};
        let attribution = self.attribution();
        let mut seconds_by_cause: Vec<(&'static str, String, u64)> = attribution
            .causes
            .iter()
            .map(|c| ("program", c.cause.to_string(), c.ns))
            .collect();
        if attribution.idle_ns > 0 {
            seconds_by_cause.push(("program", Cause::Idle.to_string(), attribution.idle_ns));
        }
        seconds_by_cause.extend(
            attribution
                .runtime
                .iter()
                .map(|c| ("runtime", c.cause.to_string(), c.ns)),
        );
        let sigchld = self.signals.sigchld_summary(now_ns, self.thresholds);
        let cgroup = self.system.cgroup.as_ref();
        ProcessMetrics {
            pid: self.target.pid,
            comm: self
                .processes
                .get(&self.target.pid)
                .map(|p| p.comm.clone())
                .unwrap_or_default(),
            cgroup: cgroup.map(|c| c.path.clone()).unwrap_or_default(),
            go_version: self.target.go_version.clone().unwrap_or_default(),
            syscalls: self
                .stats
                .iter()
                .filter(|s| s.calls > 0)
                .map(|s| SyscallMetrics {
                    name: syscalls::display_name(s.nr).into_owned(),
                    calls: s.calls,
                    errors: s.errors,
                    total_ns: s.total_ns,
                    hist: s.hist.clone(),
                })
                .collect(),
            seconds_by_cause,
            throttled_ns: cgroup.map(|c| c.throttled_ns),
            gomaxprocs: self.system.gomaxprocs,
            cpu_quota_cores: cgroup.and_then(|c| c.cpu_quota_cpus),
            sigchld: vec![
                ("delivered", sigchld.delivered),
                ("coalesced", sigchld.coalesced),
                ("ignored", sigchld.ignored),
                ("undelivered", sigchld.undelivered),
                ("failed", sigchld.failed),
                ("not_sent", sigchld.not_sent),
            ],
            unreaped_children: sigchld.unreaped,
        }
    }

    /// The process's row in host-wide mode's process list, now.
    pub fn host_row(&self, now_ns: u64) -> HostRow {
        let total: u64 = self.stats.iter().map(|s| s.total_ns).sum();
        let blocked: u64 = self.stats.iter().map(|s| s.blocked_ns).sum();
        let sigchld = self.signals.sigchld_summary(now_ns, self.thresholds);
        let cgroup = self.system.cgroup.as_ref();
        HostRow {
            pid: self.target.pid,
            comm: self
                .processes
                .get(&self.target.pid)
                .map(|p| p.comm.clone())
                .unwrap_or_default(),
            go_version: self.target.go_version.clone(),
            cgroup: cgroup.map(|c| c.path.clone()),
            calls: self.stats.iter().map(|s| s.calls).sum(),
            syscall_ns: total,
            blocked_share: if total > 0 {
                blocked as f64 / total as f64
            } else {
                0.0
            },
            throttled_ns: cgroup.map_or(0, |c| c.throttled_ns),
            gomaxprocs: self.system.gomaxprocs,
            cpu_quota: cgroup.and_then(|c| c.cpu_quota_cpus),
            gomaxprocs_exceeds_quota: self.system.gomaxprocs_exceeds_quota,
            lost_sigchld: sigchld.coalesced + sigchld.undelivered + sigchld.failed,
            exited: self.target_exited(),
        }
    }

    /// Everything `/metrics` shows, now.
    pub fn metrics_view(&self, now_ns: u64) -> crate::export::prometheus::MetricsView {
        crate::export::prometheus::MetricsView {
            processes: vec![self.metrics(now_ns)],
            lost_records: self.counters.lost_records,
            slot_collisions: self.counters.slot_collisions,
            traced: u64::from(!self.target_exited()),
            untraced: 0,
        }
    }

    /// The root target.
    pub fn target(&self) -> &TargetInfo {
        &self.target
    }

    /// Monotonic ns when tracing began.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// Has the root target exited?
    pub fn target_exited(&self) -> bool {
        self.target_exit.is_some()
    }

    /// How the root target ended, if it has.
    pub fn target_exit(&self) -> Option<ExitStatus> {
        self.target_exit
    }

    /// A record that could not be decoded.
    pub fn on_bad_record(&mut self) {
        self.bad_records += 1;
    }

    /// Takes one event. For a syscall, returns its cause: the one every output shows
    /// for it (the NDJSON line, the timeline, the summary's slowest calls).
    pub fn on_event(&mut self, ev: &Event) -> Option<Cause> {
        match ev {
            Event::Syscall(s) => return self.on_slow_syscall(s),
            Event::Fork(p) => self.on_fork(p),
            Event::Exec(p) => self.on_exec(p),
            Event::Exit(p) => self.on_exit(p),
            Event::ChildExit(p) => self.signals.on_child_exit(p),
            Event::SignalGenerate(s) => {
                let receiver_traced = self.processes.contains_key(&s.target_tgid);
                self.signals.on_generate(s, receiver_traced);
            }
            Event::SignalDeliver(s) => self.signals.on_deliver(s),
            Event::Wait(w) => self.signals.on_wait(w),
            Event::EpollCtl(e) => {
                if e.ret == 0 {
                    self.poller
                        .on_ctl(e.tgid, e.epfd, e.op, e.fd, e.events, e.class);
                }
            }
            Event::Eventfd { tgid, fd } => self.poller.on_eventfd(*tgid, *fd),
            // The session's to act on: not the traced processes' news.
            Event::Candidate { .. } => {}
        }
        None
    }

    /// Sets the anomaly thresholds.
    pub fn set_thresholds(&mut self, t: Thresholds) {
        self.thresholds = t;
    }

    /// Traced processes whose children exited while they live on: where /proc should be
    /// asked about pipes still held open (see [`Analyzer::on_pipe_writers`]).
    pub fn hang_candidates(&self) -> Vec<u32> {
        self.signals
            .parents_with_exited_children()
            .into_iter()
            .filter(|p| self.processes.get(p).is_some_and(|i| i.exit.is_none()))
            .collect()
    }

    /// Facts from /proc: pipes the candidates read that other processes hold open.
    pub fn on_pipe_writers(&mut self, facts: Vec<PipeWriter>) {
        self.signals.on_pipe_writers(facts);
    }

    fn on_slow_syscall(&mut self, s: &SyscallEvent) -> Option<Cause> {
        self.slow_calls += 1;
        let cause = self.call_cause(s);
        self.call_sites.add(s, cause.as_ref());
        // A parked runtime thread's long wait is not a slow call anyone is waiting on.
        if cause == Some(Cause::Idle) {
            return cause;
        }
        if self.slowest.len() < SLOWEST_KEPT
            || self
                .slowest
                .last()
                .is_some_and(|l| s.duration_ns > l.call.duration_ns)
        {
            let pos = self
                .slowest
                .partition_point(|x| x.call.duration_ns >= s.duration_ns);
            self.slowest.insert(
                pos,
                SlowCall {
                    call: s.clone(),
                    cause: cause.clone(),
                },
            );
            self.slowest.truncate(SLOWEST_KEPT);
        }
        cause
    }

    fn on_fork(&mut self, p: &ProcEvent) {
        if p.thread {
            self.threads_created += 1;
            return;
        }
        self.live.insert(p.tgid);
        self.processes.insert(
            p.tgid,
            ProcessInfo {
                pid: p.tgid,
                parent: Some(p.parent_tgid),
                comm: p.comm.clone(),
                command: Vec::new(),
                started_ns: Some(p.ts_ns),
                exited_ns: None,
                execs: 0,
                exit: None,
            },
        );
    }

    fn on_exec(&mut self, p: &crate::event::ExecEvent) {
        let proc = self.process_entry(p.tgid, &p.comm);
        proc.execs += 1;
        proc.comm = p.comm.clone();
    }

    fn on_exit(&mut self, p: &ProcEvent) {
        self.exited_threads.push(p.pid);
        // A process ends with the last of its threads.
        if !p.group_dead {
            return;
        }
        let status = ExitStatus::from_wait_status(p.exit_code);
        let proc = self.process_entry(p.tgid, &p.comm);
        proc.exited_ns = Some(p.ts_ns);
        proc.exit = Some(status);
        self.ended(p.tgid);
        if p.tgid == self.target.pid {
            self.target_exit = Some(status);
        }
    }

    /// `pid` is no longer running.
    fn ended(&mut self, pid: u32) {
        if self.live.remove(&pid) {
            // A pid used again ends again: listed once, as its latest.
            self.ended.retain(|&p| p != pid);
            self.ended.push_back(pid);
            if self.ended.len() > ENDED_SHOWN {
                self.ended.pop_front();
            }
        }
    }

    fn process_entry(&mut self, tgid: u32, comm: &str) -> &mut ProcessInfo {
        let live = &mut self.live;
        self.processes.entry(tgid).or_insert_with(|| {
            live.insert(tgid);
            ProcessInfo {
                pid: tgid,
                parent: None,
                comm: comm.to_string(),
                command: Vec::new(),
                started_ns: None,
                exited_ns: None,
                execs: 0,
                exit: None,
            }
        })
    }

    /// A process's argv, read from /proc by the caller after an exec.
    pub fn on_command(&mut self, tgid: u32, argv: Vec<String>) {
        if argv.is_empty() {
            return;
        }
        if tgid == self.target.pid {
            self.target.command = argv.clone();
        }
        if let Some(p) = self.processes.get_mut(&tgid) {
            p.command = argv;
        }
    }

    /// The root target's Go version after it ran a new program.
    pub fn on_go_version(&mut self, v: Option<String>) {
        self.target.go_version = v;
    }

    /// The root target's exit, as reaped or observed by the caller (authoritative over
    /// the exit record, which a full ring buffer could have dropped).
    pub fn on_target_exit(&mut self, status: ExitStatus) {
        self.target_exit = Some(status);
        if let Some(p) = self.processes.get_mut(&self.target.pid) {
            p.exit = Some(status);
        }
        self.ended(self.target.pid);
    }

    /// The latest kernel aggregates (they are cumulative: each read replaces the last).
    pub fn on_stats(&mut self, stats: Vec<RawSyscallStats>, counters: KernelCounters) {
        self.raw_stats = stats;
        self.stats = self
            .raw_stats
            .iter()
            .map(|s| match self.base_stats.iter().find(|b| b.nr == s.nr) {
                Some(b) => s.minus(b),
                None => s.clone(),
            })
            .filter(|s| s.calls > 0)
            .collect();
        self.counters = counters;
    }

    /// Starts the counts afresh from now (the dashboard's `r`): syscall aggregates,
    /// causes, run-queue times, slow calls and signals. Lost records stay counted.
    pub fn reset(&mut self, now_ns: u64) {
        self.base_stats = self.raw_stats.clone();
        self.base_threads = self
            .raw_threads
            .iter()
            .map(|t| (t.tid, t.clone()))
            .collect();
        self.retired = RetiredThreads::default();
        self.base_causes = self.raw_causes.clone();
        self.stats.clear();
        self.thread_stats.clear();
        self.causes.clear();
        self.start_ns = now_ns;
        self.slow_calls = 0;
        self.slowest.clear();
        self.threads_created = 0;
        self.signals = signals::SignalTracker::default();
        self.history.clear();
    }

    /// Threads that exited since the last call: their kernel table entries can go, once
    /// their last figures are in (see [`Analyzer::retire_threads`]).
    pub fn take_exited_threads(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.exited_threads)
    }

    /// Keeps the last figures of the exited threads `tids` (from the latest
    /// [`Analyzer::on_time_split`]): their kernel entries are about to be removed, which
    /// keeps the kernel's thread table for the living.
    pub fn retire_threads(&mut self, tids: &[u32]) {
        let gone: std::collections::HashSet<u32> = tids.iter().copied().collect();
        let (retired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.live_threads)
            .into_iter()
            .partition(|t| gone.contains(&t.tid));
        self.live_threads = live;
        self.thread_stats.retain(|t| !gone.contains(&t.tid));
        for t in retired {
            let t = self.since_reset(&t);
            let comm = self.thread_names.get(&t.tid).cloned().unwrap_or_default();
            self.retired.add(ThreadRow {
                tid: t.tid,
                pid: t.tgid,
                comm,
                runq_ns: t.runq_ns,
                runq_throttled_ns: t.runq_throttled_ns,
            });
        }
    }

    /// A thread's figures since the last reset.
    fn since_reset(&self, t: &RawThreadStats) -> RawThreadStats {
        match self.base_threads.get(&t.tid) {
            Some(b) => RawThreadStats {
                runq_ns: t.runq_ns.saturating_sub(b.runq_ns),
                runq_throttled_ns: t.runq_throttled_ns.saturating_sub(b.runq_throttled_ns),
                ..t.clone()
            },
            None => t.clone(),
        }
    }

    /// The latest per-thread run-queue times and blocked-call causes (cumulative) of the
    /// threads the kernel's table holds, read at `now_ns`; also remembered for the recent
    /// view. Threads retired earlier are kept apart (see [`Analyzer::retire_threads`]).
    pub fn on_time_split(
        &mut self,
        threads: Vec<RawThreadStats>,
        causes: Vec<RawCause>,
        now_ns: u64,
    ) {
        self.thread_stats = threads.iter().map(|t| self.since_reset(t)).collect();
        self.live_threads = threads.clone();
        let live = &self.live;
        self.signals
            .settle(now_ns, self.thresholds, |p| live.contains(&p));
        self.causes =
            causes
                .iter()
                .map(|c| {
                    match self.base_causes.iter().find(|b| {
                        (b.nr, b.class, b.dev, b.gkind) == (c.nr, c.class, c.dev, c.gkind)
                    }) {
                        Some(b) => RawCause {
                            calls: c.calls.saturating_sub(b.calls),
                            wall_ns: c.wall_ns.saturating_sub(b.wall_ns),
                            blocked_ns: c.blocked_ns.saturating_sub(b.blocked_ns),
                            ..c.clone()
                        },
                        None => c.clone(),
                    }
                })
                .filter(|c| c.calls > 0)
                .collect();
        self.raw_threads = threads;
        self.raw_causes = causes;
        let a = self.attribution();
        self.history.push_back((now_ns, a));
        while self.history.len() > 2
            && self
                .history
                .get(1)
                .is_some_and(|(t, _)| now_ns.saturating_sub(*t) >= RECENT_WINDOW_NS)
        {
            self.history.pop_front();
        }
    }

    /// The poller maps (cumulative).
    pub fn on_poller(&mut self, raw: poller::RawPoller) {
        self.raw_poller = raw;
    }

    /// A process's epoll registrations as /proc shows them now.
    pub fn on_epoll_registrations(&mut self, tgid: u32, regs: &[(u32, u32, u32, String)]) {
        self.poller.on_registrations(tgid, regs);
    }

    /// The target's mounts (its own mount namespace), to name filesystems by device.
    pub fn on_mounts(&mut self, mounts: crate::mounts::MountTable) {
        self.mounts = Some(mounts);
    }

    /// Are there devices the mount table does not know (mounted since it was read)?
    pub fn has_unknown_devices(&self) -> bool {
        self.causes.iter().any(|c| {
            matches!(c.class, class::FS | class::FS_CWD)
                && self
                    .mounts
                    .as_ref()
                    .is_none_or(|m| m.by_dev(c.dev).is_none())
        })
    }

    /// Thread names (tid -> comm), for the threads view.
    pub fn on_thread_names(&mut self, names: std::collections::HashMap<u32, String>) {
        self.thread_names = names;
    }

    /// Takes everything read at one refresh, in the order the parts depend on each
    /// other: the kernel's aggregates, then the exited threads' retirement, the poller,
    /// the /proc facts, and last the calls in progress (whose causes need the rest).
    pub fn harvest(&mut self, h: crate::harvest::Harvest) {
        self.on_stats(h.stats, h.counters);
        self.on_time_split(h.thread_stats, h.causes, h.now_ns);
        self.retire_threads(&h.exited);
        self.on_poller(h.poller);
        if let Some((tgid, regs)) = &h.epoll_registrations {
            self.on_epoll_registrations(*tgid, regs);
        }
        if let Some(m) = h.mounts {
            self.on_mounts(m);
        }
        self.on_thread_names(h.thread_names);
        if let Some(facts) = h.system {
            self.on_system(facts);
        }
        self.on_in_progress(h.in_progress);
    }

    /// cgroup, GOMAXPROCS and pressure facts.
    /// What this kernel lets gotrace trace (probe::kernel), once at start.
    pub fn on_kernel_features(&mut self, features: Vec<KernelFeature>) {
        self.kernel_features = features;
    }

    pub fn on_system(&mut self, facts: SystemFacts) {
        self.system = facts;
    }

    /// The traced processes still alive (as far as the events tell).
    pub fn live_pids(&self) -> Vec<u32> {
        self.live.iter().copied().collect()
    }

    /// The target's mount table, once read.
    pub fn mounts(&self) -> Option<&crate::mounts::MountTable> {
        self.mounts.as_ref()
    }

    /// The calls in progress at the last look, longest first.
    pub fn in_progress(&self) -> &[InProgress] {
        &self.in_progress
    }

    /// The calls traced threads are in now (see [`InProgress`]).
    /// The calls in progress now, as the kernel's slots and /proc show them; the
    /// analyzer gives each its cause.
    /// The user stacks of calls in progress, by (tid, entry time), as unwound from where
    /// the threads wait.
    pub fn on_in_progress_stacks(&mut self, stacks: Vec<((u32, u64), Vec<crate::stack::Frame>)>) {
        for (key, frames) in stacks {
            if let Some(p) = self
                .in_progress
                .iter_mut()
                .find(|p| (p.call.tid, p.call.start_ns) == key)
            {
                p.call.stack = frames;
            }
        }
    }

    pub fn on_in_progress(&mut self, mut calls: Vec<InProgress>) {
        for p in &mut calls {
            p.cause = self.in_progress_cause(p);
        }
        calls.sort_by(|a, b| {
            b.call
                .duration_ns
                .cmp(&a.call.duration_ns)
                .then(a.call.tid.cmp(&b.call.tid))
        });
        self.in_progress = calls;
    }

    /// The cause of a call in progress: as a finished call's, or for one that began
    /// before tracing (no split), what it waits on if it waits.
    fn in_progress_cause(&self, p: &InProgress) -> Option<Cause> {
        if p.began_before_trace {
            (p.state == ThreadState::Blocked)
                .then(|| self.cause_of(p.call.class, p.call.dev, p.call.gkind))
        } else {
            self.call_cause(&p.call)
        }
    }

    /// The cause of the blocked time of calls of one class on one device.
    /// `gkind`: who made the call, when known (tracer_common::gkind). A goroutine's own
    /// futex wait or nanosleep is its wait, never the runtime's idling.
    fn cause_of(&self, cls: u32, dev: u32, gkind: u32) -> Cause {
        let goroutine = gkind == tracer_common::gkind::GOROUTINE;
        match cls {
            class::FS | class::FS_CWD => match self.mounts.as_ref().and_then(|m| m.by_dev(dev)) {
                Some(m) => Cause::Fs(m.kind().label()),
                None => Cause::Other,
            },
            class::PIPE => Cause::Pipe,
            class::SOCKET => Cause::Socket,
            class::DEVICE => Cause::Device,
            class::FUTEX => Cause::Futex,
            class::FUTEX_IDLE if goroutine => Cause::Futex,
            class::FUTEX_IDLE => Cause::Idle,
            class::NETPOLL => Cause::Netpoll,
            class::CHILD_WAIT => Cause::ChildWait,
            // Go calls nanosleep only for the runtime's own usleep (sysmon, spinning);
            // a Go program's time.Sleep waits on a timer (futex or epoll). A goroutine
            // known to have made it called it itself (syscall.Nanosleep).
            class::NANOSLEEP if self.target.go_version.is_some() && !goroutine => Cause::Idle,
            class::NANOSLEEP | class::SLEEP => Cause::Sleep,
            _ => Cause::Other,
        }
    }

    /// What one call's time went to, by its largest part: on a CPU, waiting for a CPU
    /// (the scheduler or the cgroup's quota) or what it blocked on. None for a call with
    /// no split (it began before gotrace attached).
    fn call_cause(&self, s: &SyscallEvent) -> Option<Cause> {
        let parts = [
            (s.blocked_ns, None),
            (s.runq_throttled_ns, Some(Cause::CgroupThrottle)),
            (
                s.runq_ns.saturating_sub(s.runq_throttled_ns),
                Some(Cause::Scheduler),
            ),
            (s.on_cpu_ns, Some(Cause::Cpu)),
        ];
        // The first of equal parts wins: blocked before waiting before running.
        let (ns, cause) = parts
            .into_iter()
            .reduce(|best, p| if p.0 > best.0 { p } else { best })?;
        if ns == 0 {
            return None;
        }
        Some(cause.unwrap_or_else(|| self.cause_of(s.class, s.dev, s.gkind)))
    }

    /// (cause, ns) parts of the time of the syscalls `nr` selects (all when None).
    /// Time by cause: the program's (and, when not known to be the runtime's, anyone's),
    /// and the Go runtime's own blocked time on g0.
    fn time_parts(&self, nr: Option<u32>) -> (CauseParts, CauseParts) {
        let mut parts = Vec::new();
        let mut runtime = Vec::new();
        let mut blocked_total = 0;
        for s in self.stats.iter().filter(|s| nr.is_none_or(|n| n == s.nr)) {
            parts.push((Cause::Cpu, s.on_cpu_ns));
            parts.push((
                Cause::Scheduler,
                s.runq_ns.saturating_sub(s.runq_throttled_ns),
            ));
            parts.push((Cause::CgroupThrottle, s.runq_throttled_ns));
            blocked_total += s.blocked_ns;
        }
        let mut classified = 0;
        for c in self.causes.iter().filter(|c| nr.is_none_or(|n| n == c.nr)) {
            let part = (self.cause_of(c.class, c.dev, c.gkind), c.blocked_ns);
            if c.gkind == tracer_common::gkind::RUNTIME {
                runtime.push(part);
            } else {
                parts.push(part);
            }
            classified += c.blocked_ns;
        }
        // Blocked time the kernel could not file under a cause (its map was full).
        parts.push((Cause::Other, blocked_total.saturating_sub(classified)));
        if nr.is_none() {
            let (mut runq, mut throttled) = (self.retired.runq_ns, self.retired.runq_throttled_ns);
            for t in &self.thread_stats {
                runq += t.runq_ns;
                throttled += t.runq_throttled_ns;
            }
            parts.push((Cause::Scheduler, runq.saturating_sub(throttled)));
            parts.push((Cause::CgroupThrottle, throttled));
        }
        (parts, runtime)
    }

    /// Where the time went: syscall time and run-queue time outside syscalls, by cause;
    /// the Go runtime's own waits apart.
    pub fn attribution(&self) -> Attribution {
        let (parts, runtime) = self.time_parts(None);
        Attribution::from_parts(parts).with_runtime(runtime)
    }

    /// One syscall's time by cause.
    pub fn syscall_attribution(&self, nr: u32) -> Attribution {
        let (parts, runtime) = self.time_parts(Some(nr));
        Attribution::from_parts(parts).with_runtime(runtime)
    }

    fn filesystems(&self) -> Vec<FsRow> {
        let mut rows: BTreeMap<String, FsRow> = BTreeMap::new();
        for c in self
            .causes
            .iter()
            .filter(|c| matches!(c.class, class::FS | class::FS_CWD))
        {
            let (mount, fstype, kind) = match self.mounts.as_ref().and_then(|m| m.by_dev(c.dev)) {
                Some(m) => (
                    m.mount_point.display().to_string(),
                    m.fstype.clone(),
                    m.kind().label(),
                ),
                None => (
                    format!("dev {}:{}", c.dev >> 20, c.dev & 0xfffff),
                    "?".into(),
                    "?".into(),
                ),
            };
            let row = rows.entry(mount.clone()).or_insert(FsRow {
                mount,
                fstype,
                kind,
                calls: 0,
                ns: 0,
            });
            row.calls += c.calls;
            row.ns += c.wall_ns;
        }
        let mut v: Vec<FsRow> = rows.into_values().collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.ns));
        v
    }

    /// The living threads, then the exited ones: all of them, or the busiest.
    fn threads(&self, retired: &[ThreadRow]) -> Vec<ThreadRow> {
        let mut v: Vec<ThreadRow> = self
            .thread_stats
            .iter()
            .map(|t| ThreadRow {
                tid: t.tid,
                pid: t.tgid,
                comm: self.thread_names.get(&t.tid).cloned().unwrap_or_default(),
                runq_ns: t.runq_ns,
                runq_throttled_ns: t.runq_throttled_ns,
            })
            .chain(retired.iter().cloned())
            .collect();
        v.sort_by(|a, b| b.runq_ns.cmp(&a.runq_ns).then(a.tid.cmp(&b.tid)));
        v
    }

    /// Everything, for the summary and the exports.
    pub fn snapshot(&self, now_ns: u64) -> Snapshot {
        self.snapshot_of(
            now_ns,
            self.processes.values().cloned().collect(),
            self.threads(&self.retired.all),
            self.signals.signals(),
        )
    }

    /// What the dashboard shows at each refresh, at a cost that follows what is running
    /// rather than everything ever seen: the running processes (up to
    /// [`LIVE_SHOWN`]) and the latest to end, the living threads and the busiest exited
    /// ones, a few senders and receivers of each signal. The totals are whole.
    pub fn dashboard_snapshot(&self, now_ns: u64) -> Snapshot {
        let processes = self
            .live
            .iter()
            .take(LIVE_SHOWN)
            .chain(self.ended.iter().rev().filter(|p| !self.live.contains(p)))
            .filter_map(|p| self.processes.get(p).cloned())
            .collect();
        self.snapshot_of(
            now_ns,
            processes,
            self.threads(&self.retired.top),
            self.signals.signals_brief(PEERS_SHOWN),
        )
    }

    fn snapshot_of(
        &self,
        now_ns: u64,
        processes: Vec<ProcessInfo>,
        threads: Vec<ThreadRow>,
        signals: Vec<SignalCounts>,
    ) -> Snapshot {
        let mut syscalls: Vec<SyscallRow> = self
            .stats
            .iter()
            .filter(|s| s.calls > 0)
            .map(|s| SyscallRow {
                nr: s.nr,
                name: syscalls::display_name(s.nr).into_owned(),
                calls: s.calls,
                errors: s.errors,
                total_ns: s.total_ns,
                avg_ns: s.total_ns / s.calls,
                p50_ns: percentile(&s.hist, s.max_ns, 0.50),
                p99_ns: percentile(&s.hist, s.max_ns, 0.99),
                max_ns: s.max_ns,
                on_cpu_ns: s.on_cpu_ns,
                runq_ns: s.runq_ns,
                blocked_ns: s.blocked_ns,
            })
            .collect();
        syscalls.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then(b.calls.cmp(&a.calls))
                .then(a.nr.cmp(&b.nr))
        });
        Snapshot {
            target: self.target.clone(),
            duration_ns: now_ns.saturating_sub(self.start_ns),
            start_ns: self.start_ns,
            total_calls: syscalls.iter().map(|r| r.calls).sum(),
            total_errors: syscalls.iter().map(|r| r.errors).sum(),
            total_ns: syscalls.iter().map(|r| r.total_ns).sum(),
            syscalls,
            slow_calls: self.slow_calls,
            slowest: self.slowest.clone(),
            processes,
            processes_seen: self.processes.len(),
            processes_running: self.live.len(),
            threads_created: self.threads_created,
            counters: self.counters,
            bad_records: self.bad_records,
            target_exit: self.target_exit,
            signals,
            preemption: self.signals.preemption(),
            sigchld: self.signals.sigchld_summary(now_ns, self.thresholds),
            anomalies: self.signals.anomalies(now_ns, self.thresholds),
            attribution: self.attribution(),
            recent_attribution: match (self.history.front(), self.history.back()) {
                (Some((_, old)), Some((_, new))) if self.history.len() > 1 => new.since(old),
                _ => self.attribution(),
            },
            filesystems: self.filesystems(),
            threads,
            system: self.system.clone(),
            poller: self.poller.summary(
                &self.raw_poller,
                &self
                    .stats
                    .iter()
                    .filter(|s| s.calls > 0)
                    .map(|s| syscalls::display_name(s.nr).into_owned())
                    .collect(),
            ),
            in_progress: self.in_progress.clone(),
            kernel_features: self.kernel_features.clone(),
            call_sites: self.call_sites.rows(),
            call_sites_other: self.call_sites.other_calls,
            syscall_causes: self
                .stats
                .iter()
                .filter(|s| s.calls > 0)
                .map(|s| (s.nr, self.syscall_attribution(s.nr)))
                .collect(),
        }
    }
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use tracer_common::{hist_bucket, HIST_BUCKETS};

    use super::*;

    /// A kernel histogram of `values`.
    pub(crate) fn hist_of(values: &[u64]) -> Vec<u64> {
        let mut h = vec![0; HIST_BUCKETS];
        for &v in values {
            h[hist_bucket(v)] += 1;
        }
        h
    }

    #[test]
    fn percentiles_never_understate() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let h = hist_of(&values);
        let max = 1_000_000;
        let p50 = percentile(&h, max, 0.5);
        let p99 = percentile(&h, max, 0.99);
        assert!((500_000..=625_000).contains(&p50), "p50 {p50}");
        assert!((990_000..=1_000_000).contains(&p99), "p99 {p99}");
        assert_eq!(percentile(&h, max, 1.0), max);
        assert_eq!(percentile(&vec![0; HIST_BUCKETS], 0, 0.5), 0);
    }

    #[test]
    fn percentile_of_identical_values_is_that_value() {
        let h = hist_of(&[1_060_000; 50]);
        assert_eq!(percentile(&h, 1_060_000, 0.5), 1_060_000);
        assert_eq!(percentile(&h, 1_060_000, 0.99), 1_060_000);
    }

    #[test]
    fn snapshot_sorts_by_total_time_and_names_syscalls() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 10,
                ..Default::default()
            },
            1_000,
        );
        let row = |nr, calls, total| RawSyscallStats {
            nr,
            calls,
            errors: 1,
            total_ns: total,
            max_ns: total,
            hist: hist_of(&[total]),
            ..Default::default()
        };
        a.on_stats(
            vec![row(0, 5, 100), row(35, 2, 5_000), row(110, 0, 0)],
            KernelCounters::default(),
        );
        let s = a.snapshot(11_000);
        assert_eq!(s.duration_ns, 10_000);
        let names: Vec<&str> = s.syscalls.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["nanosleep", "read"]);
        assert_eq!((s.total_calls, s.total_errors, s.total_ns), (7, 2, 5_100));
        assert_eq!(s.syscalls[0].avg_ns, 2_500);
    }

    #[test]
    fn attribution_arithmetic_on_a_synthetic_timeline() {
        use crate::mounts::{kernel_dev, MountTable};
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 10,
                go_version: Some("go1.27.3".into()),
                ..Default::default()
            },
            0,
        );
        a.on_mounts(MountTable::from_mountinfo(
            "30 1 0:51 / /mnt/slow rw,nosuid - fuse.slowfs slowfs rw,user_id=0\n\
             31 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
        ));
        // read: 100 ms in all = 5 on CPU + 15 waiting for a CPU (10 of it throttled) + 80
        // blocked, 70 of it on the FUSE mount and 10 the map could not file.
        // futex: 1 s parked without a timeout (idle) + 1 ms on CPU.
        let read = RawSyscallStats {
            nr: 0,
            calls: 4,
            total_ns: 100,
            on_cpu_ns: 5,
            runq_ns: 15,
            runq_throttled_ns: 10,
            blocked_ns: 80,
            max_ns: 40,
            hist: hist_of(&[25; 4]),
            ..Default::default()
        };
        let futex = RawSyscallStats {
            nr: 202,
            calls: 1,
            total_ns: 1_001,
            on_cpu_ns: 1,
            blocked_ns: 1_000,
            max_ns: 1_001,
            hist: hist_of(&[1_001]),
            ..Default::default()
        };
        a.on_stats(vec![read, futex], KernelCounters::default());
        a.on_time_split(
            // 200 ns waiting for a CPU outside syscalls, 150 of it throttled.
            vec![RawThreadStats {
                tid: 11,
                tgid: 10,
                runq_ns: 200,
                runq_throttled_ns: 150,
            }],
            vec![
                RawCause {
                    tgid: 0,
                    nr: 0,
                    class: class::FS,
                    dev: kernel_dev(0, 51),
                    gkind: 0,
                    calls: 3,
                    wall_ns: 90,
                    blocked_ns: 70,
                },
                RawCause {
                    tgid: 0,
                    nr: 202,
                    class: class::FUTEX_IDLE,
                    dev: 0,
                    gkind: 0,
                    calls: 1,
                    wall_ns: 1_001,
                    blocked_ns: 1_000,
                },
            ],
            1,
        );
        let att = a.attribution();
        let ns = |c: Cause| {
            att.causes
                .iter()
                .find(|x| x.cause == c)
                .map(|x| x.ns)
                .unwrap_or(0)
        };
        assert_eq!(ns(Cause::Cpu), 6);
        assert_eq!(ns(Cause::Scheduler), 5 + 50);
        assert_eq!(ns(Cause::CgroupThrottle), 10 + 150);
        assert_eq!(ns(Cause::Fs("fuse".into())), 70);
        assert_eq!(
            ns(Cause::Other),
            10,
            "blocked time the kernel could not file"
        );
        assert_eq!(att.idle_ns, 1_000);
        assert_eq!(
            att.total_ns,
            6 + 55 + 160 + 70 + 10,
            "idle is left out of the total"
        );
        assert_eq!(
            att.top().map(|c| c.cause.clone()),
            Some(Cause::CgroupThrottle)
        );
        let shares: f64 = att.causes.iter().map(|c| c.share).sum();
        assert!((shares - 1.0).abs() < 1e-9);
        // Per syscall: read's time, by cause.
        let r = a.syscall_attribution(0);
        assert_eq!(r.total_ns, 100);
        assert_eq!(
            r.top().map(|c| c.cause.clone()),
            Some(Cause::Fs("fuse".into()))
        );
        let fs = a.snapshot(1).filesystems;
        assert_eq!(fs.len(), 1);
        assert_eq!(
            (
                fs[0].mount.as_str(),
                fs[0].kind.as_str(),
                fs[0].calls,
                fs[0].ns
            ),
            ("/mnt/slow", "fuse", 3, 90)
        );
    }

    #[test]
    fn reset_starts_the_counts_afresh() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 10,
                ..Default::default()
            },
            0,
        );
        let row = |calls, total| RawSyscallStats {
            nr: 0,
            calls,
            errors: 0,
            total_ns: total,
            max_ns: 50,
            hist: hist_of(&[total]),
            ..Default::default()
        };
        a.on_stats(
            vec![row(5, 100)],
            KernelCounters {
                lost_records: 2,
                ..Default::default()
            },
        );
        a.on_time_split(
            vec![RawThreadStats {
                tid: 11,
                tgid: 10,
                runq_ns: 40,
                runq_throttled_ns: 0,
            }],
            vec![],
            1_000,
        );
        a.reset(2_000);
        assert!(a.snapshot(2_000).syscalls.is_empty());
        a.on_stats(
            vec![row(8, 160)],
            KernelCounters {
                lost_records: 3,
                ..Default::default()
            },
        );
        a.on_time_split(
            vec![RawThreadStats {
                tid: 11,
                tgid: 10,
                runq_ns: 70,
                runq_throttled_ns: 0,
            }],
            vec![],
            3_000,
        );
        let s = a.snapshot(3_000);
        assert_eq!((s.syscalls[0].calls, s.syscalls[0].total_ns), (3, 60));
        assert_eq!(s.duration_ns, 1_000, "since the reset");
        assert_eq!(s.threads[0].runq_ns, 30);
        assert_eq!(s.counters.lost_records, 3, "lost records are never reset");
    }

    #[test]
    fn slowest_keeps_the_top_ten_in_order() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 1,
                ..Default::default()
            },
            0,
        );
        for d in [5u64, 50, 1, 30, 7, 99, 2, 3, 4, 60, 70, 80, 6] {
            a.on_event(&Event::Syscall(SyscallEvent {
                tid: 1,
                tgid: 1,
                nr: 0,
                start_ns: 0,
                duration_ns: d,
                ret: 0,
                args: [0; 6],
                ..Default::default()
            }));
        }
        let s = a.snapshot(0);
        let d: Vec<u64> = s.slowest.iter().map(|e| e.call.duration_ns).collect();
        assert_eq!(d, [99, 80, 70, 60, 50, 30, 7, 6, 5, 4]);
        assert_eq!(s.slow_calls, 13);
    }

    #[test]
    fn a_call_is_named_by_the_largest_part_of_its_time() {
        let a = Analyzer::new(
            TargetInfo {
                pid: 1,
                ..Default::default()
            },
            0,
        );
        let call = |on_cpu_ns, runq_ns, runq_throttled_ns, blocked_ns| SyscallEvent {
            nr: 230,
            class: class::SLEEP,
            on_cpu_ns,
            runq_ns,
            runq_throttled_ns,
            blocked_ns,
            ..Default::default()
        };
        let cause = |s: SyscallEvent| a.call_cause(&s);
        assert_eq!(cause(call(10, 5, 0, 20_000_000)), Some(Cause::Sleep));
        // A sleep preempted before it slept, runnable until its timer fired.
        assert_eq!(cause(call(10, 20_000_000, 0, 0)), Some(Cause::Scheduler));
        assert_eq!(
            cause(call(10, 20_000_000, 15_000_000, 0)),
            Some(Cause::CgroupThrottle),
            "15 ms of the 20 waiting for quota"
        );
        assert_eq!(
            cause(call(10, 20_000_000, 5_000_000, 0)),
            Some(Cause::Scheduler)
        );
        assert_eq!(cause(call(9_000, 10, 0, 100)), Some(Cause::Cpu));
        assert_eq!(
            cause(call(0, 0, 0, 0)),
            None,
            "no split: began before attach"
        );
        assert_eq!(
            cause(call(7, 7, 0, 7)),
            Some(Cause::Sleep),
            "ties go to blocked"
        );
    }

    #[test]
    fn a_call_in_progress_is_stuck_past_a_second_unless_the_runtime_waits() {
        let p = |duration_ns, cause| InProgress {
            comm: "app".into(),
            call: SyscallEvent {
                duration_ns,
                ..Default::default()
            },
            state: ThreadState::Blocked,
            detail: None,
            wchan: None,
            cause: Some(cause),
            began_before_trace: false,
        };
        assert!(p(STUCK_NS, Cause::Pipe).stuck(true));
        assert!(!p(STUCK_NS - 1, Cause::Pipe).stuck(true));
        assert!(!p(10 * STUCK_NS, Cause::Idle).stuck(false));
        // A futex wait is the Go runtime's own (sysmon, the timer thread); in a C program
        // it is a lock.
        assert!(!p(10 * STUCK_NS, Cause::Futex).stuck(true));
        assert!(p(10 * STUCK_NS, Cause::Futex).stuck(false));
        assert!(p(STUCK_NS, Cause::Fs("fuse".into())).stuck(true));
    }

    #[test]
    fn exited_threads_keep_their_run_queue_time_after_their_kernel_entries_go() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 100,
                ..Default::default()
            },
            0,
        );
        let t = |tid, runq_ns| RawThreadStats {
            tid,
            tgid: 100,
            runq_ns,
            runq_throttled_ns: 0,
        };
        a.on_time_split(vec![t(100, 5), t(101, 7)], Vec::new(), 1);
        a.on_event(&Event::Exit(ProcEvent {
            pid: 101,
            tgid: 100,
            thread: true,
            ..Default::default()
        }));
        // The refresh: the exited thread's entry is read once more, then retired.
        let exited = a.take_exited_threads();
        assert_eq!(exited, [101]);
        a.on_time_split(vec![t(100, 6), t(101, 9)], Vec::new(), 2);
        a.retire_threads(&exited);
        assert!(a.take_exited_threads().is_empty());
        // The kernel no longer holds 101; its time is still counted, once.
        a.on_time_split(vec![t(100, 8)], Vec::new(), 3);
        let snap = a.snapshot(4);
        let runq = |tid| {
            snap.threads
                .iter()
                .filter(|r| r.tid == tid)
                .map(|r| r.runq_ns)
                .sum::<u64>()
        };
        assert_eq!((runq(100), runq(101)), (8, 9));
        a.on_time_split(vec![t(100, 8)], Vec::new(), 5);
        assert_eq!(
            a.snapshot(6)
                .threads
                .iter()
                .filter(|r| r.tid == 101)
                .count(),
            1
        );
    }

    #[test]
    fn process_lifecycle_is_tracked() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 100,
                command: vec!["/bin/app".into()],
                ..Default::default()
            },
            0,
        );
        let p = |pid, tgid, parent, thread: bool, exit_code| ProcEvent {
            pid,
            tgid,
            parent_tgid: parent,
            ts_ns: 7,
            exit_code,
            thread,
            group_dead: !thread,
            parent_ignores_sigchld: false,
            parent_nocldwait: false,
            comm: "app".into(),
        };
        a.on_event(&Event::Fork(p(101, 100, 100, true, 0)));
        a.on_event(&Event::Fork(p(200, 200, 100, false, 0)));
        a.on_event(&Event::Exec(crate::event::ExecEvent {
            pid: 200,
            tgid: 200,
            ts_ns: 7,
            comm: "app".into(),
            argv: vec!["ls".into()],
            argv_truncated: false,
        }));
        a.on_command(200, vec!["ls".into(), "-l".into()]);
        a.on_event(&Event::Exit(p(200, 200, 0, false, 2 << 8)));
        assert!(!a.target_exited());
        a.on_event(&Event::Exit(p(100, 100, 0, false, 9)));
        let s = a.snapshot(0);
        assert_eq!(s.threads_created, 1);
        assert_eq!(s.target_exit, Some(ExitStatus::Signal(9)));
        let child = s
            .processes
            .iter()
            .find(|p| p.pid == 200)
            .expect("child listed");
        assert_eq!(child.parent, Some(100));
        assert_eq!(child.command, ["ls", "-l"]);
        assert_eq!(child.exit, Some(ExitStatus::Code(2)));
        assert_eq!(child.execs, 1);
    }

    #[test]
    fn the_dashboards_snapshot_follows_what_runs_not_all_that_ran() {
        let mut a = Analyzer::new(
            TargetInfo {
                pid: 100,
                ..Default::default()
            },
            0,
        );
        let p = |pid: u32, ts_ns: u64| ProcEvent {
            pid,
            tgid: pid,
            parent_tgid: 100,
            ts_ns,
            group_dead: true,
            comm: format!("kid{pid}"),
            ..Default::default()
        };
        let t = |tid, runq_ns| RawThreadStats {
            tid,
            tgid: tid,
            runq_ns,
            runq_throttled_ns: runq_ns / 4,
        };
        // 5,000 short-lived children, each a thread of its own with run-queue time, in
        // refreshes of 50; 10 more still running.
        let mut ts = 1;
        for wave in 0..100u32 {
            let pids: Vec<u32> = (0..50).map(|i| 1_000 + wave * 50 + i).collect();
            for &pid in &pids {
                ts += 1;
                a.on_event(&Event::Fork(p(pid, ts)));
                a.on_event(&Event::Exit(p(pid, ts + 1)));
            }
            let exited = a.take_exited_threads();
            a.on_time_split(
                pids.iter().map(|&pid| t(pid, pid as u64)).collect(),
                Vec::new(),
                ts,
            );
            a.retire_threads(&exited);
        }
        for pid in 9_000..9_010 {
            a.on_event(&Event::Fork(p(pid, ts)));
        }
        a.on_time_split(vec![t(100, 1), t(9_000, 2)], Vec::new(), ts);
        let full = a.snapshot(ts);
        let dash = a.dashboard_snapshot(ts);
        assert_eq!(full.processes.len(), 5_011);
        assert_eq!((dash.processes_seen, dash.processes_running), (5_011, 11));
        assert_eq!(dash.processes.len(), 11 + ENDED_SHOWN);
        // Running first, in pid order, then the latest to end.
        assert!(dash.processes[..11].iter().all(|p| p.exit.is_none()));
        assert_eq!(dash.processes[11].pid, 5_999);
        assert_eq!(full.threads.len(), 5_002);
        assert_eq!(dash.threads.len(), 2 + RETIRED_SHOWN);
        // The busiest exited threads are the ones shown, and every figure adds up alike.
        assert_eq!(dash.threads[0].tid, 5_999);
        assert_eq!(dash.attribution, full.attribution);
        let runq: u64 = full.threads.iter().map(|t| t.runq_ns).sum();
        assert_eq!(runq, (1_000..6_000u64).sum::<u64>() + 3);
        assert_eq!(a.live_pids().len(), 11);
    }
}
