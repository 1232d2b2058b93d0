//! The harvest: everything gotrace reads at one refresh, handed to the analyzer at once
//! ([`crate::analysis::Analyzer::harvest`]). The raw types are the kernel's aggregates
//! as the probe reads them (summed over CPUs, decoded from the maps' layouts in
//! tracer-common); the rest are facts the session reads from /proc for the same moment.
//! The probe fills these; the analyzer is their only reader.
use std::collections::HashMap;

use crate::{
    analysis::{InProgress, SystemFacts},
    mounts::MountTable,
};

/// One syscall's aggregate, summed over CPUs, as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSyscallStats {
    pub nr: u32,
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// Counts per bucket of tracer_common's histogram scheme.
    pub hist: Vec<u64>,
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
    pub blocked_ns: u64,
}

impl RawSyscallStats {
    /// `self - base`, for counts since a reset (the maximum cannot be taken back: it
    /// stays the maximum since tracing began).
    pub fn minus(&self, base: &RawSyscallStats) -> RawSyscallStats {
        RawSyscallStats {
            nr: self.nr,
            calls: self.calls.saturating_sub(base.calls),
            errors: self.errors.saturating_sub(base.errors),
            total_ns: self.total_ns.saturating_sub(base.total_ns),
            max_ns: self.max_ns,
            hist: self
                .hist
                .iter()
                .zip(base.hist.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            on_cpu_ns: self.on_cpu_ns.saturating_sub(base.on_cpu_ns),
            runq_ns: self.runq_ns.saturating_sub(base.runq_ns),
            runq_throttled_ns: self
                .runq_throttled_ns
                .saturating_sub(base.runq_throttled_ns),
            blocked_ns: self.blocked_ns.saturating_sub(base.blocked_ns),
        }
    }
}

/// Run-queue time of one thread outside syscalls, as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawThreadStats {
    pub tid: u32,
    pub tgid: u32,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
}

/// Calls of one syscall that blocked on one (class, device), as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCause {
    pub nr: u32,
    /// tracer_common::class
    pub class: u32,
    pub dev: u32,
    /// tracer_common::gkind: who made the calls.
    pub gkind: u32,
    pub calls: u64,
    pub wall_ns: u64,
    pub blocked_ns: u64,
}

/// Kernel-side counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Records the programs could not reserve in the ring buffer.
    pub lost_records: u64,
    /// Syscall exits without a matching entry (in flight when tracing began).
    pub unmatched_exits: u64,
    /// Calls lost because another thread (tid equal modulo INFLIGHT_SLOTS) took their
    /// in-flight slot: neither counted nor streamed, and not among `unmatched_exits`.
    pub slot_collisions: u64,
    /// Threads whose run-queue time outside syscalls found no room in the kernel's
    /// thread table (that time is not counted).
    pub threads_untracked: u64,
}

/// Waits on one epoll instance, as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEpoll {
    pub tgid: u32,
    pub epfd: u32,
    pub waits: u64,
    pub polls: u64,
    pub timeouts: u64,
    pub ready: u64,
    pub events: u64,
    pub errors: u64,
    pub blocked_ns: u64,
    /// The longest wait that could block.
    pub max_ns: u64,
    pub hist: Vec<u64>,
}

/// An io_uring instance, as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRing {
    pub tgid: u32,
    pub submits: u64,
    pub completes: u64,
    pub max_in_flight: u32,
}

/// Completions of one opcode, as read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawUringOp {
    pub tgid: u32,
    pub opcode: u32,
    pub count: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub hist: Vec<u64>,
}

/// Everything the kernel aggregated about pollers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPoller {
    pub epoll: Vec<RawEpoll>,
    /// (tgid, eventfd, 8-byte writes)
    pub eventfds: Vec<(u32, u32, u64)>,
    pub rings: Vec<RawRing>,
    pub uring_ops: Vec<RawUringOp>,
}

/// One fd registered on an epoll instance, from /proc: (epfd, fd, events, what the fd
/// is).
pub type EpollRegistration = (u32, u32, u32, String);

/// Everything read at one refresh, for [`crate::analysis::Analyzer::harvest`].
#[derive(Debug, Clone, Default)]
pub struct Harvest {
    /// When it was read (CLOCK_MONOTONIC).
    pub now_ns: u64,
    pub stats: Vec<RawSyscallStats>,
    pub counters: KernelCounters,
    pub thread_stats: Vec<RawThreadStats>,
    pub causes: Vec<RawCause>,
    /// Threads that had exited when the analyzer was last asked
    /// ([`crate::analysis::Analyzer::take_exited_threads`]): their final figures are in
    /// `thread_stats`, and they are retired after it.
    pub exited: Vec<u32>,
    pub poller: RawPoller,
    /// The target's epoll registrations from /proc (pid, (epfd, fd, events, kind)),
    /// while it lives.
    pub epoll_registrations: Option<(u32, Vec<EpollRegistration>)>,
    /// A fresh mount table, when something was mounted since the last one.
    pub mounts: Option<MountTable>,
    /// Names (comm) of the busiest threads, by tid.
    pub thread_names: HashMap<u32, String>,
    /// The system facts (cgroup, GOMAXPROCS, pressure), when a new reading arrived.
    pub system: Option<SystemFacts>,
    /// The calls in progress now.
    pub in_progress: Vec<InProgress>,
}

/// The `n` threads with the most run-queue time outside syscalls: (tgid, tid).
pub fn busiest(thread_stats: &[RawThreadStats], n: usize) -> Vec<(u32, u32)> {
    let mut v: Vec<&RawThreadStats> = thread_stats.iter().collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.runq_ns));
    v.into_iter().take(n).map(|t| (t.tgid, t.tid)).collect()
}
