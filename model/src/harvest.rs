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
    /// The process (host-wide mode); 0 for a traced tree's aggregate.
    pub tgid: u32,
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
            tgid: self.tgid,
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
    /// The process that made the calls.
    pub tgid: u32,
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
    /// Calls not counted because the per-process table was full (host-wide mode).
    pub proc_stats_full: u64,
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

impl Harvest {
    /// A host-wide harvest split by process, in one pass over it: each process's
    /// aggregates, threads, causes, pollers and calls in progress. The counters and the
    /// time are every part's. The facts read per process (system facts, epoll
    /// registrations, mounts, exited threads) are the caller's to add.
    pub fn into_processes(self) -> ProcessParts {
        let mut parts: HashMap<u32, Harvest> = HashMap::new();
        let empty = Harvest {
            now_ns: self.now_ns,
            counters: self.counters,
            ..Harvest::default()
        };
        for s in self.stats {
            part(&mut parts, &empty, s.tgid).stats.push(s);
        }
        let mut names = self.thread_names;
        for t in self.thread_stats {
            let p = part(&mut parts, &empty, t.tgid);
            if let Some(n) = names.remove(&t.tid) {
                p.thread_names.insert(t.tid, n);
            }
            p.thread_stats.push(t);
        }
        for c in self.causes {
            part(&mut parts, &empty, c.tgid).causes.push(c);
        }
        for e in self.poller.epoll {
            part(&mut parts, &empty, e.tgid).poller.epoll.push(e);
        }
        for e in self.poller.eventfds {
            part(&mut parts, &empty, e.0).poller.eventfds.push(e);
        }
        for r in self.poller.rings {
            part(&mut parts, &empty, r.tgid).poller.rings.push(r);
        }
        for o in self.poller.uring_ops {
            part(&mut parts, &empty, o.tgid).poller.uring_ops.push(o);
        }
        for c in self.in_progress {
            part(&mut parts, &empty, c.call.tgid).in_progress.push(c);
        }
        ProcessParts { parts, empty }
    }
}

/// A host-wide harvest split by process ([`Harvest::into_processes`]).
#[derive(Debug)]
pub struct ProcessParts {
    parts: HashMap<u32, Harvest>,
    /// What a process the harvest holds nothing of gets: the time and the counters.
    empty: Harvest,
}

impl ProcessParts {
    /// Process `tgid`'s part, taken out.
    pub fn take(&mut self, tgid: u32) -> Harvest {
        self.parts
            .remove(&tgid)
            .unwrap_or_else(|| self.empty.clone())
    }
}

/// `tgid`'s part of a split harvest, made from `empty` when it has none yet.
fn part<'a>(parts: &'a mut HashMap<u32, Harvest>, empty: &Harvest, tgid: u32) -> &'a mut Harvest {
    parts.entry(tgid).or_insert_with(|| empty.clone())
}

/// The `n` threads with the most run-queue time outside syscalls: (tgid, tid).
pub fn busiest(thread_stats: &[RawThreadStats], n: usize) -> Vec<(u32, u32)> {
    let mut v: Vec<&RawThreadStats> = thread_stats.iter().collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.runq_ns));
    v.into_iter().take(n).map(|t| (t.tgid, t.tid)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_gets_its_own_part_only() {
        let stats = |tgid, nr, calls| RawSyscallStats {
            tgid,
            nr,
            calls,
            ..Default::default()
        };
        let h = Harvest {
            stats: vec![stats(1, 0, 5), stats(2, 0, 7), stats(1, 39, 2)],
            thread_stats: vec![
                RawThreadStats {
                    tid: 10,
                    tgid: 1,
                    ..Default::default()
                },
                RawThreadStats {
                    tid: 20,
                    tgid: 2,
                    ..Default::default()
                },
            ],
            causes: vec![RawCause {
                tgid: 2,
                calls: 1,
                ..Default::default()
            }],
            poller: RawPoller {
                eventfds: vec![(1, 4, 9), (2, 5, 1)],
                ..Default::default()
            },
            thread_names: [(10, "a".to_string()), (20, "b".to_string())].into(),
            ..Default::default()
        };
        let mut parts = h.into_processes();
        let one = parts.take(1);
        assert_eq!(one.stats, vec![stats(1, 0, 5), stats(1, 39, 2)]);
        assert_eq!(one.thread_stats.len(), 1);
        assert_eq!(one.thread_stats[0].tid, 10);
        assert!(one.causes.is_empty());
        assert_eq!(one.poller.eventfds, vec![(1, 4, 9)]);
        assert_eq!(one.thread_names.len(), 1);
        let two = parts.take(2);
        assert_eq!(two.stats, vec![stats(2, 0, 7)]);
        assert_eq!(two.causes.len(), 1);
        assert_eq!(two.thread_names.get(&20).map(String::as_str), Some("b"));
        assert!(parts.parts.is_empty(), "no other process has a part");
        let three = parts.take(3);
        assert!(three.stats.is_empty() && three.thread_stats.is_empty());
    }
}
