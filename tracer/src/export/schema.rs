//! The NDJSON trace format (docs/json-schema.md). Every line is one JSON object with a
//! "type". The same types serialize and deserialize, with unknown fields refused, so the
//! documented schema is the tested one.
use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; readers refuse newer formats.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Header(Header),
    Syscall(SyscallLine),
    Process(ProcessLine),
    Summary(Summary),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetJson {
    pub pid: u32,
    pub command: Vec<String>,
    /// Launched by gotrace (true) or attached to (false).
    pub launched: bool,
}

/// A syscall slower than the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub duration_ns: u64,
    pub go_version: Option<String>,
    /// Records the kernel could not hand over (ring buffer full).
    pub lost_records: u64,
    /// Calls already in progress when tracing began (not counted).
    pub unmatched_exits: u64,
    pub total_calls: u64,
    pub total_errors: u64,
    pub total_ns: u64,
    /// Calls over the slow threshold.
    pub slow_calls: u64,
    pub threads_created: u64,
    pub syscalls: Vec<SyscallSummary>,
    pub processes: Vec<ProcessSummary>,
    pub target_exit: Option<ExitJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSummary {
    pub pid: u32,
    pub parent: Option<u32>,
    pub comm: String,
    pub command: Vec<String>,
    pub exit: Option<ExitJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitJson {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}
