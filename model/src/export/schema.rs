//! The NDJSON trace format (docs/json-schema.md). Every line is one JSON object with a
//! "type". The same types serialize and deserialize. Reading, they ignore fields they do
//! not know (docs/json-schema.md, "Versioning": fields may be added within a format), so
//! a newer trace of the same format stays readable; the tests read with [`parse_strict`],
//! which refuses them, so every field gotrace writes is in the documented schema.
use serde::{Deserialize, Serialize};

pub use crate::stack::Frame;

/// Changed only by an incompatible change (a field removed or renamed, its type or
/// meaning changed); readers refuse a format they do not know.
pub const FORMAT_VERSION: u32 = 1;

/// How a line's fields compare with the schema.
#[derive(Debug)]
pub struct FieldCheck {
    pub line: Line,
    /// Fields in the text the schema does not know, as paths
    /// (`poller.epoll.instances[0].surprise`).
    pub unknown: Vec<String>,
    /// Fields of the schema the text lacks (read as their default).
    pub missing: Vec<String>,
}

/// Reads a line and compares its fields with the schema's: what the schema read back
/// writes is what it knows.
pub fn check_fields(text: &str) -> Result<FieldCheck, serde_json::Error> {
    let have: serde_json::Value = serde_json::from_str(text)?;
    let line: Line = serde_json::from_value(have.clone())?;
    let known = serde_json::to_value(&line)?;
    let (mut unknown, mut missing) = (Vec::new(), Vec::new());
    compare_fields(&have, &known, "", &mut unknown);
    compare_fields(&known, &have, "", &mut missing);
    Ok(FieldCheck {
        line,
        unknown,
        missing,
    })
}

/// Reads a line as the tests do: a field the schema does not know is an error.
pub fn parse_strict(text: &str) -> Result<Line, String> {
    let c = check_fields(text).map_err(|e| e.to_string())?;
    if c.unknown.is_empty() {
        Ok(c.line)
    } else {
        Err(format!(
            "fields not in the schema: {}",
            c.unknown.join(", ")
        ))
    }
}

/// Paths of the object keys in `a` that `b` lacks at the same place.
fn compare_fields(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match b.get(key) {
                    Some(other) => compare_fields(value, other, &path, out),
                    None => out.push(path),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare_fields(x, y, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Header(Header),
    Syscall(SyscallLine),
    Process(ProcessLine),
    Signal(SignalLine),
    Child(ChildLine),
    /// Boxed: far larger than the event lines, and one per trace.
    Summary(Box<Summary>),
    /// The end of a host-wide trace (`--all`), in place of the summary: every process's.
    Hostwide(Box<Hostwide>),
}

/// The end of a host-wide trace: the machine's processes, each with its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hostwide {
    pub duration_ns: u64,
    /// Processes traced during the trace (those shown, and `not_kept`).
    pub traced: u64,
    /// Of those, the ones that exited (or stopped running Go) while traced.
    pub exited: u64,
    /// Go processes left untraced: every slot (`--max-processes`) was taken.
    pub untraced: u64,
    /// Exited processes whose summaries were not kept (the oldest, past a bound).
    pub not_kept: u64,
    /// The cgroup `--cgroup` limited the trace to.
    pub cgroup: Option<String>,
    pub lost_records: u64,
    /// Calls not counted: the kernel's per-process table was full.
    pub calls_not_counted: u64,
    /// Records that arrived but could not be decoded.
    pub bad_records: u64,
    /// By syscall time, most first.
    pub processes: Vec<HostProcess>,
}

/// One process of a host-wide trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostProcess {
    pub pid: u32,
    pub command: Vec<String>,
    /// It exited (or stopped running Go) before the trace ended.
    pub exited: bool,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub gotrace_version: String,
    pub target: TargetJson,
    pub kernel_release: String,
    pub go_version: Option<String>,
    /// RFC 3339 UTC.
    pub start_time: String,
    pub start_unix_ns: u64,
    pub slow_threshold_ns: u64,
    pub follow: bool,
    /// What this kernel lets gotrace trace, by feature name ("io_uring", "signals",
    /// "cgroup_throttle", ...). Absent in traces from before it existed.
    #[serde(default)]
    pub features: std::collections::BTreeMap<String, FeatureJson>,
}

/// A feature that depends on the kernel: on, or off and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureJson {
    pub on: bool,
    /// How it is traced on this kernel, or why it is not.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetJson {
    pub pid: u32,
    pub command: Vec<String>,
    /// Launched by gotrace (true) or attached to (false).
    pub launched: bool,
}

/// A syscall slower than the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallLine {
    /// Entry time, ns since the trace started.
    pub ts_ns: i64,
    pub pid: u32,
    pub tid: u32,
    pub nr: u32,
    pub name: String,
    pub duration_ns: u64,
    pub ret: i64,
    /// "ENOENT" etc. when the call failed.
    pub errno: Option<String>,
    pub args: [u64; 6],
    /// duration_ns split: on a CPU, waiting for one, asleep.
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub blocked_ns: u64,
    /// Of runq_ns, while the cgroup was throttled.
    pub runq_throttled_ns: u64,
    /// The largest part of its time: "cpu", "scheduler", "cgroup-throttle", or what it
    /// blocked on ("fs:fuse", "futex", "netpoll", ...); null when it has no split.
    pub cause: Option<String>,
    /// The goroutine that made it; null when the Go runtime made it on a thread's g0,
    /// when the program is not Go, or when the goroutine could not be read.
    #[serde(default)]
    pub goid: Option<u64>,
    /// Who made it in a Go program: "goroutine" or "runtime" (the scheduler, netpoller or
    /// sysmon on g0); absent when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Its user stack, innermost first, inlined calls as frames of their own; empty when
    /// stacks are off or none could be taken.
    #[serde(default)]
    pub stack: Vec<Frame>,
}

/// A syscall a traced thread was still in when tracing ended: a call that does not
/// return is never a syscall line, so this is how a hang shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InProgressJson {
    /// Entry time, ns since the trace started (negative: before it).
    pub ts_ns: i64,
    pub pid: u32,
    pub tid: u32,
    /// The thread's name.
    pub comm: String,
    pub nr: u32,
    pub name: String,
    /// Time in the call until tracing ended.
    pub elapsed_ns: u64,
    /// What the thread was doing at the end: "running", "runnable" or "blocked".
    pub state: String,
    pub args: [u64; 6],
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub blocked_ns: u64,
    pub runq_throttled_ns: u64,
    /// As a syscall line's.
    pub cause: Option<String>,
    /// The goroutine that made it; null when the Go runtime made it on a thread's g0,
    /// when the program is not Go, or when the goroutine could not be read.
    #[serde(default)]
    pub goid: Option<u64>,
    /// Who made it in a Go program: "goroutine" or "runtime" (the scheduler, netpoller or
    /// sysmon on g0); absent when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The thread's user stack where it waits, innermost first, inlined calls as frames of their own; empty when
    /// stacks are off or none could be taken.
    #[serde(default)]
    pub stack: Vec<Frame>,

    /// What it names: "fd 7 /mnt/c/src/x.go", a path, "epoll fd 4", "child 1234".
    pub detail: Option<String>,
    /// The kernel function it sleeps in ("pipe_read", "fuse_wait_answer").
    pub wchan: Option<String>,
    /// In the call since before tracing began: `ts_ns` is 0, `elapsed_ns` a lower
    /// bound, and the split is not known (zero).
    #[serde(default)]
    pub began_before_trace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessEventKind {
    Fork,
    Exec,
    Exit,
}

/// Process lifecycle of the target and its followed descendants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessLine {
    pub event: ProcessEventKind,
    /// ns since the trace started.
    pub ts_ns: i64,
    pub pid: u32,
    /// fork: the creating process.
    pub parent: Option<u32>,
    pub comm: String,
    /// exec: argv when it could be read.
    pub command: Option<Vec<String>>,
    /// exit: the exit code, or the signal that killed it.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalEventKind {
    Generate,
    Deliver,
}

/// A signal generated by or for a target, or delivered to one (SIGURG is only counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalLine {
    pub event: SignalEventKind,
    pub ts_ns: i64,
    pub signo: u32,
    pub name: String,
    /// generate: the sending process and thread (current); deliver: si_pid or null.
    pub sender_pid: Option<u32>,
    pub sender_tid: Option<u32>,
    pub sender_comm: Option<String>,
    /// The receiving process and thread.
    pub target_pid: u32,
    pub target_tid: u32,
    /// generate: "delivered" (queued), "ignored", "already_pending" (coalesced),
    /// "overflow_fail", "lose_info".
    pub result: Option<String>,
    /// deliver: "default", "ignore", "function".
    pub handler: Option<String>,
    pub si_code: i32,
    /// For SIGCHLD: the child.
    pub si_pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildEventKind {
    /// A child of a target exited.
    Exit,
    /// A target reaped a child with wait4/waitid.
    Reaped,
}

/// The SIGCHLD lifecycle: a child's exit and its reaping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildLine {
    pub event: ChildEventKind,
    pub ts_ns: i64,
    pub pid: u32,
    pub parent: u32,
    pub comm: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// exit: the parent's SIGCHLD disposition: "normal", "ignore" (SIG_IGN, auto-reaped,
    /// no SIGCHLD), "nocldwait" (SA_NOCLDWAIT, auto-reaped).
    pub disposition: Option<String>,
    /// reaped: the reaping thread and call.
    pub reaper_tid: Option<u32>,
    pub syscall: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSummary {
    pub signo: u32,
    pub name: String,
    pub generated: u64,
    pub delivered: u64,
    pub ignored: u64,
    pub already_pending: u64,
    pub senders: Vec<PidCount>,
    pub receivers: Vec<PidCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidCount {
    pub pid: u32,
    pub comm: Option<String>,
    pub count: u64,
}

/// exits = delivered + coalesced + ignored + undelivered + failed + not_sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigchldJson {
    pub exits: u64,
    pub generated: u64,
    pub delivered: u64,
    pub coalesced: u64,
    pub ignored: u64,
    pub undelivered: u64,
    pub failed: u64,
    pub not_sent: u64,
    pub reaped: u64,
    pub auto_reaped: u64,
    pub unreaped: u64,
    pub max_reap_latency_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyJson {
    /// "unreaped", "pipe_held", "undelivered", "coalesced", "ignored", "slow_reap".
    pub kind: String,
    /// The process the anomaly is about (the child, or the pipe's holder).
    pub pid: Option<u32>,
    /// The traced parent / reader.
    pub parent: Option<u32>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub duration_ns: u64,
    pub go_version: Option<String>,
    /// Records the kernel could not hand over (ring buffer full).
    pub lost_records: u64,
    /// Threads whose run-queue time outside syscalls found no room in the kernel's
    /// thread table. Absent in traces from before it existed.
    #[serde(default)]
    pub threads_untracked: u64,
    /// Calls not counted because another thread (its tid equal modulo 32,768) took their
    /// slot in the kernel's in-flight table while they were in it. Absent in traces from
    /// before it existed.
    #[serde(default)]
    pub slot_collisions: u64,
    /// Calls already in progress when tracing began (not counted).
    pub unmatched_exits: u64,
    pub total_calls: u64,
    pub total_errors: u64,
    pub total_ns: u64,
    /// Calls over the slow threshold.
    pub slow_calls: u64,
    /// The slowest of them, slowest first (at most 10).
    pub slowest: Vec<SyscallLine>,
    pub threads_created: u64,
    /// Records that arrived but could not be decoded.
    pub bad_records: u64,
    pub syscalls: Vec<SyscallSummary>,
    pub processes: Vec<ProcessSummary>,
    pub target_exit: Option<ExitJson>,
    /// Per signal, SIGURG excluded.
    pub signals: Vec<SignalSummary>,
    pub sigchld: SigchldJson,
    /// SIGURG generated: the Go runtime's asynchronous preemption.
    pub preemption_signals: u64,
    pub preemption_per_sec: f64,
    /// Most important first.
    pub anomalies: Vec<AnomalyJson>,
    /// Where the time went: syscall time and run-queue time outside syscalls, by cause,
    /// sorted; "idle" (runtime threads parked) last with share 0.
    pub attribution: Vec<CauseJson>,
    pub cgroup: Option<CgroupJson>,
    pub gomaxprocs: Option<u32>,
    pub effective_cpus: Option<f64>,
    pub gomaxprocs_exceeds_quota: bool,
    /// The text summary's pressure line (rendered from `psi`); kept for the readers
    /// written before `psi` existed.
    pub pressure: Option<String>,
    /// Pressure stall information of the target's cgroup, or of the system. Absent in
    /// traces from before it existed.
    #[serde(default)]
    pub psi: Option<PsiJson>,
    /// The machine's CPU steal time while tracing, as a share of its CPU time (0..1): the
    /// hypervisor running something else. Absent in traces from before it existed.
    #[serde(default)]
    pub cpu_steal_share: Option<f64>,
    pub filesystems: Vec<FsJson>,
    /// Run-queue time outside syscalls, per thread.
    pub threads: Vec<ThreadJson>,
    pub poller: PollerJson,
    /// Calls in progress when tracing ended, for at least the slow threshold, longest
    /// first.
    #[serde(default)]
    pub in_progress: Vec<InProgressJson>,
    /// In a Go program, the runtime's own blocked time on g0 (idle Ms, the netpoller,
    /// sysmon), by cause, kept out of `attribution`; each share is of this list's total.
    #[serde(default)]
    pub runtime_attribution: Vec<CauseJson>,
    /// The Go code that made the streamed slow calls: the call sites with the most time
    /// first, at most [`CALL_SITES_SHOWN`].
    #[serde(default)]
    pub call_sites: Vec<CallSiteJson>,
    /// Streamed calls at sites not in `call_sites`.
    #[serde(default)]
    pub call_sites_other_calls: u64,
}

/// Call sites a summary line lists.
pub const CALL_SITES_SHOWN: usize = 100;

/// A Go call site: the innermost frame outside the runtime, `syscall`, `os` and
/// `internal/*` of a streamed call made by a goroutine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSiteJson {
    pub function: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: u32,
    pub calls: u64,
    pub ns: u64,
    pub max_ns: u64,
    /// The calls' time by each call's cause, most first.
    pub causes: Vec<CauseNsJson>,
    /// The syscalls made there, by calls.
    pub syscalls: Vec<NameCountJson>,
    /// Distinct goroutines seen, and the first few ids.
    pub goroutines: u64,
    pub goids: Vec<u64>,
    /// The slowest call's stack, innermost first.
    pub stack: Vec<Frame>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CauseNsJson {
    pub cause: String,
    pub ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameCountJson {
    pub name: String,
    pub calls: u64,
}

/// Pressure stall information (PSI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiJson {
    /// "cgroup:<path>" (the target's cgroup v2) or "system" (/proc/pressure).
    pub source: String,
    /// Null when the kernel does not report that resource.
    pub cpu: Option<PsiResourceJson>,
    pub memory: Option<PsiResourceJson>,
    pub io: Option<PsiResourceJson>,
}

/// One resource's pressure: percentages of wall time some (at least one) or all
/// non-idle tasks were stalled on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiResourceJson {
    pub some_avg10: f64,
    pub some_avg60: f64,
    /// Null when the kernel has no `full` line for it (cpu before 5.13).
    pub full_avg10: Option<f64>,
    pub full_avg60: Option<f64>,
    /// Stall time while tracing; null when not known.
    pub some_stall_ns: Option<u64>,
    pub full_stall_ns: Option<u64>,
}

/// Which poller(s) the target really uses, and what they did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollerJson {
    /// "epoll", "io_uring", "both", "none".
    pub kind: String,
    pub epoll: EpollJson,
    pub io_uring: UringJson,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpollJson {
    pub instances: Vec<EpollInstanceJson>,
    /// 8-byte writes to the target's eventfds: in Go, netpollBreak waking the poller.
    pub wakeups: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpollInstanceJson {
    pub pid: u32,
    pub epfd: u32,
    pub waits: u64,
    /// Zero-timeout waits.
    pub polls: u64,
    /// Waits ended by their timeout.
    pub timeouts: u64,
    /// Waits ended by readiness.
    pub ready: u64,
    /// Events returned, in all.
    pub events: u64,
    pub errors: u64,
    /// Time blocked in waits that could block, and its percentiles.
    pub blocked_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// The longest of those waits. Absent in traces from before it existed.
    #[serde(default)]
    pub max_ns: u64,
    /// epoll_ctl ADDs seen.
    pub registrations: u64,
    /// Registered at the end: `[{"fd","kind","events"}]`, kind one of socket, pipe,
    /// eventfd, anon, device, other.
    pub fds: Vec<EpollFdJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpollFdJson {
    pub fd: u32,
    pub kind: String,
    pub events: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UringJson {
    pub ops: Vec<UringOpJson>,
    pub rings: Vec<UringRingJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UringOpJson {
    /// "READ", "WRITE", "NOP", ... (IORING_OP_*)
    pub opcode: String,
    pub code: u32,
    pub count: u64,
    pub errors: u64,
    /// Submit-to-complete latency.
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UringRingJson {
    pub pid: u32,
    pub submits: u64,
    pub completes: u64,
    /// Most requests in flight at once.
    pub max_queue_depth: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadJson {
    pub tid: u32,
    pub pid: u32,
    pub comm: String,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallSummary {
    pub name: String,
    pub nr: u32,
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub avg_ns: u64,
    pub max_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// total_ns split: on a CPU, waiting for one (scheduler or cgroup throttle), asleep.
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub blocked_ns: u64,
    /// This syscall's time by cause, sorted.
    pub causes: Vec<CauseJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CauseJson {
    pub cause: String,
    pub ns: u64,
    /// Of the non-idle total (0 for "idle"); the shares sum to 1 within rounding.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupJson {
    pub version: u32,
    pub path: String,
    pub cpu_quota_cpus: Option<f64>,
    pub memory_limit: Option<u64>,
    /// During the trace (cpu.stat deltas).
    pub throttled_ns: u64,
    pub nr_throttled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsJson {
    pub mount: String,
    pub fstype: String,
    /// "drvfs", "9p", "fuse", "ext4", ...
    pub kind: String,
    /// Calls that waited on it, and their wall time.
    pub calls: u64,
    pub ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSummary {
    pub pid: u32,
    pub parent: Option<u32>,
    pub comm: String,
    pub command: Vec<String>,
    pub exit: Option<ExitJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitJson {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}
