//! Signals and the SIGCHLD lifecycle of every child of a target:
//! exited -> SIGCHLD generated (with its result) -> delivered (to which thread) ->
//! reaped (by which call, how long after the exit).
//!
//! Records from different CPUs can arrive slightly out of order, and pids are reused, so
//! each child pid has a history of lifecycles and every event finds the lifecycle it
//! belongs to by time rather than by arrival.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::event::{
    GenerateResult, Handler, ProcEvent, SignalEvent, WaitEvent, CLD_DUMPED, CLD_EXITED, CLD_KILLED,
};

pub const SIGKILL: u32 = 9;
pub const SIGCHLD: u32 = 17;
/// The Go runtime's asynchronous preemption signal (runtime/signal_unix.go sigPreempt).
pub const SIGURG: u32 = 23;

/// How the parent's SIGCHLD was set when the child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A handler or the default: the parent must reap the child.
    Normal,
    /// SIG_IGN: the kernel reaps the child and sends no SIGCHLD at all.
    Ignore,
    /// SA_NOCLDWAIT: the kernel reaps the child; SIGCHLD is still sent.
    NoCldWait,
}

impl Disposition {
    pub fn auto_reaps(self) -> bool {
        self != Disposition::Normal
    }
}

/// One child's life, as far as it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildLife {
    pub pid: u32,
    pub parent: u32,
    pub comm: String,
    pub exit_ns: Option<u64>,
    /// Wait status as the kernel keeps it.
    pub exit_status: Option<u32>,
    pub disposition: Disposition,
    /// The SIGCHLD generated for this exit, and when.
    pub sigchld: Option<(GenerateResult, u64)>,
    /// The delivery of that SIGCHLD: (thread, when).
    pub delivered: Option<(u32, u64)>,
    /// The reap by a wait call: (thread, syscall nr, when).
    pub reaped: Option<(u32, u32, u64)>,
}

impl ChildLife {
    fn new(pid: u32) -> ChildLife {
        ChildLife {
            pid,
            parent: 0,
            comm: String::new(),
            exit_ns: None,
            exit_status: None,
            disposition: Disposition::Normal,
            sigchld: None,
            delivered: None,
            reaped: None,
        }
    }

    /// Could an event at `ts` belong to this life? (Its exit, if known, came first.)
    fn admits(&self, ts: u64) -> bool {
        self.exit_ns.is_none_or(|e| e <= ts)
    }

    /// How long after its exit the child was reaped.
    pub fn reap_latency_ns(&self) -> Option<u64> {
        match (self.exit_ns, self.reaped) {
            (Some(e), Some((_, _, r))) => Some(r.saturating_sub(e)),
            _ => None,
        }
    }

    /// What became of this exit's SIGCHLD: exactly one bucket per exited child, so the
    /// lifecycle arithmetic balances by construction.
    pub fn fate(&self) -> SigchldFate {
        if self.disposition == Disposition::Ignore {
            return SigchldFate::Ignored;
        }
        match self.sigchld.map(|(r, _)| r) {
            None => SigchldFate::NotSent,
            Some(GenerateResult::Ignored) => SigchldFate::Ignored,
            Some(GenerateResult::AlreadyPending) => SigchldFate::Coalesced,
            Some(GenerateResult::OverflowFail) | Some(GenerateResult::Other(_)) => {
                SigchldFate::Failed
            }
            Some(GenerateResult::Delivered) | Some(GenerateResult::LoseInfo) => {
                if self.delivered.is_some() {
                    SigchldFate::Delivered
                } else {
                    SigchldFate::Undelivered
                }
            }
        }
    }
}

/// What became of one child's SIGCHLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigchldFate {
    /// Queued and delivered to a thread of the parent.
    Delivered,
    /// Dropped: one was already pending, so the parent sees one signal for several exits.
    Coalesced,
    /// Never sent (parent has SIG_IGN) or dropped as ignored (SIG_DFL).
    Ignored,
    /// Queued, but not delivered by the end of the trace (blocked, or the parent is stuck).
    Undelivered,
    /// The queue was full.
    Failed,
    /// No SIGCHLD seen for this exit (a non-SIGCHLD exit signal, or lost records).
    NotSent,
}

/// Counters of one signal number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalCounts {
    pub signo: u32,
    pub generated: u64,
    pub delivered: u64,
    /// Generation results IGNORED, and deliveries to a SIG_IGN handler.
    pub ignored: u64,
    pub already_pending: u64,
    pub failed: u64,
    /// Sending process -> (comm, count).
    pub senders: BTreeMap<u32, (String, u64)>,
    /// Receiving process -> count.
    pub receivers: BTreeMap<u32, u64>,
    /// Senders and receivers left out of a brief copy ([`SignalTracker::signals_brief`]).
    pub senders_more: usize,
    pub receivers_more: usize,
}

/// Totals of the SIGCHLD lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigchldSummary {
    pub exits: u64,
    /// SIGCHLD generations for exits (any result).
    pub generated: u64,
    pub delivered: u64,
    pub coalesced: u64,
    pub ignored: u64,
    pub undelivered: u64,
    pub failed: u64,
    pub not_sent: u64,
    /// Reaped by a wait call of the parent, or by the kernel (auto-reap).
    pub reaped: u64,
    pub auto_reaped: u64,
    pub unreaped: u64,
    pub max_reap_latency_ns: u64,
}

/// A problem worth reading first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// Several exits, fewer SIGCHLDs: code that reaps one child per SIGCHLD misses some.
    Coalesced {
        parent: u32,
        exits: u64,
        coalesced: u64,
    },
    /// The parent ignores SIGCHLD: its children are reaped by the kernel; wait fails.
    Ignored { parent: u32, children: u64 },
    /// SIGCHLD was queued but never delivered.
    Undelivered { parent: u32, count: u64 },
    /// A child exited and was never reaped: a zombie.
    Unreaped {
        pid: u32,
        parent: u32,
        comm: String,
        age_ns: u64,
    },
    /// Children reaped long after their exit (one entry per parent; the slowest named).
    SlowReap {
        parent: u32,
        count: u64,
        pid: u32,
        comm: String,
        latency_ns: u64,
    },
    /// A wait for a child's output that cannot end: the child exited, but another process
    /// still holds the write end of a pipe the parent reads (os/exec Cmd.Wait hangs).
    PipeHeld {
        reader: u32,
        inode: u64,
        holder: u32,
        holder_command: String,
        exited_child: Option<(u32, String)>,
    },
}

/// A fact from /proc: `holder` has the write end of pipe `inode` that `reader` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeWriter {
    pub reader: u32,
    pub inode: u64,
    pub holder: u32,
    pub holder_command: String,
    /// The holder's parent pid now (1 or a subreaper once its own parent exited).
    pub holder_ppid: u32,
}

/// Thresholds for the anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A child not reaped this long after its exit is reported as unreaped.
    pub unreaped_ns: u64,
    /// A reap this long after the exit is reported as slow.
    pub slow_reap_ns: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            unreaped_ns: 1_000_000_000,
            slow_reap_ns: 100_000_000,
        }
    }
}

/// Preemption signals (SIGURG), counted apart from the signals a user cares about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preemption {
    pub generated: u64,
    pub delivered: u64,
}

#[derive(Debug, Default)]
pub struct SignalTracker {
    signals: BTreeMap<u32, SignalCounts>,
    preemption: Preemption,
    /// Child pid -> its lifecycles, oldest first.
    children: HashMap<u32, Vec<ChildLife>>,
    /// Order in which child pids were first seen, for stable output.
    order: Vec<u32>,
    pipe_writers: Vec<PipeWriter>,
    /// What the lives that can no longer change added up to.
    settled: Settled,
}

/// A life settles once nothing more can happen to it (exited, reaped, its SIGCHLD's fate
/// known) and this long has passed since its exit, for records that arrive late.
pub const SETTLE_AFTER_NS: u64 = 5_000_000_000;

/// The settled lives, folded: what the summary and the anomalies need of them, so that
/// neither goes over every child ever seen.
#[derive(Debug, Default)]
struct Settled {
    lives: u64,
    /// Their part of the lifecycle totals (none is undelivered, unsent or unreaped).
    summary: SigchldSummary,
    by_parent: HashMap<u32, ParentTally>,
    /// Parents with something to report (coalesced, ignored or slow reaps).
    notable: BTreeSet<u32>,
    /// Parents with exited children that were running at the last settle.
    parents: BTreeSet<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SlowestReap {
    latency_ns: u64,
    exit_ns: u64,
    pid: u32,
    comm: String,
}

impl SlowestReap {
    fn of(l: &ChildLife, latency_ns: u64) -> SlowestReap {
        SlowestReap {
            latency_ns,
            exit_ns: l.exit_ns.unwrap_or(0),
            pid: l.pid,
            comm: l.comm.clone(),
        }
    }

    /// Slower, or as slow and earlier.
    fn beats(&self, o: &SlowestReap) -> bool {
        (
            self.latency_ns,
            std::cmp::Reverse(self.exit_ns),
            std::cmp::Reverse(self.pid),
        ) > (
            o.latency_ns,
            std::cmp::Reverse(o.exit_ns),
            std::cmp::Reverse(o.pid),
        )
    }

    fn keep_slowest(slot: &mut Option<SlowestReap>, c: SlowestReap) {
        if slot.as_ref().is_none_or(|m| c.beats(m)) {
            *slot = Some(c);
        }
    }
}

#[derive(Debug, Default, Clone)]
struct ParentTally {
    exits: u64,
    coalesced: u64,
    ignored: u64,
    /// Always 0 once settled (see [`is_final`]).
    undelivered: u64,
    slow: u64,
    /// The slowest reap (the earliest exit of those as slow).
    slowest: Option<SlowestReap>,
    /// The latest exit: (pid, comm, exit ns).
    last_exit: Option<(u32, String, u64)>,
}

/// Is nothing more to happen to this life?
fn is_final(l: &ChildLife) -> bool {
    l.exit_ns.is_some()
        && (l.disposition.auto_reaps() || l.reaped.is_some())
        && !matches!(l.fate(), SigchldFate::Undelivered | SigchldFate::NotSent)
}

fn is_exit_code(si_code: i32) -> bool {
    matches!(si_code, CLD_EXITED | CLD_KILLED | CLD_DUMPED)
}

impl SignalTracker {
    fn lives(&mut self, pid: u32) -> &mut Vec<ChildLife> {
        if !self.children.contains_key(&pid) {
            self.order.push(pid);
        }
        self.children.entry(pid).or_default()
    }

    /// The lifecycle of `pid` an event at `ts` belongs to: the oldest one that could
    /// admit it and still lacks what `missing` tests for; a new one otherwise.
    fn life_for(
        &mut self,
        pid: u32,
        ts: u64,
        missing: impl Fn(&ChildLife) -> bool,
    ) -> &mut ChildLife {
        let lives = self.lives(pid);
        let idx = match lives.iter().position(|l| missing(l) && l.admits(ts)) {
            Some(i) => i,
            None => {
                lives.push(ChildLife::new(pid));
                lives.len() - 1
            }
        };
        &mut lives[idx]
    }

    pub fn on_child_exit(&mut self, p: &ProcEvent) {
        let lives = self.lives(p.tgid);
        // Events that arrived before this exit but came after it (reordering) left a
        // life without an exit; otherwise this is a new life (first, or pid reuse).
        let idx = match lives.iter().position(|l| {
            l.exit_ns.is_none()
                && [
                    l.sigchld.map(|s| s.1),
                    l.delivered.map(|d| d.1),
                    l.reaped.map(|r| r.2),
                ]
                .iter()
                .flatten()
                .all(|&t| t >= p.ts_ns)
        }) {
            Some(i) => i,
            None => {
                lives.push(ChildLife::new(p.tgid));
                lives.len() - 1
            }
        };
        let life = &mut lives[idx];
        life.parent = p.parent_tgid;
        life.comm = p.comm.clone();
        life.exit_ns = Some(p.ts_ns);
        life.exit_status = Some(p.exit_code);
        life.disposition = if p.parent_ignores_sigchld {
            Disposition::Ignore
        } else if p.parent_nocldwait {
            Disposition::NoCldWait
        } else {
            Disposition::Normal
        };
    }

    /// `receiver_is_target`: the receiving process is traced.
    pub fn on_generate(&mut self, s: &SignalEvent, receiver_is_target: bool) {
        let result = s.result.unwrap_or(GenerateResult::Delivered);
        if s.sig == SIGURG {
            self.preemption.generated += 1;
            return;
        }
        let c = self.signals.entry(s.sig).or_insert_with(|| SignalCounts {
            signo: s.sig,
            ..Default::default()
        });
        c.generated += 1;
        match result {
            GenerateResult::Ignored => c.ignored += 1,
            GenerateResult::AlreadyPending => c.already_pending += 1,
            GenerateResult::OverflowFail => c.failed += 1,
            _ => {}
        }
        let sender = c
            .senders
            .entry(s.sender_tgid)
            .or_insert_with(|| (s.comm.clone(), 0));
        sender.1 += 1;
        *c.receivers.entry(s.target_tgid).or_default() += 1;

        if s.sig == SIGCHLD && receiver_is_target && is_exit_code(s.si_code) && s.si_pid != 0 {
            let life = self.life_for(s.si_pid, s.ts_ns, |l| l.sigchld.is_none());
            life.sigchld = Some((result, s.ts_ns));
            if life.parent == 0 {
                life.parent = s.target_tgid;
            }
        }
    }

    pub fn on_deliver(&mut self, s: &SignalEvent) {
        // A group exit kills the other threads with a SIGKILL that was never generated
        // (kernel/signal.c get_signal, SEND_SIG_NOINFO): teardown, not a signal anyone sent.
        if s.sig == SIGKILL && s.si_code == 0 && s.si_pid == 0 {
            return;
        }
        if s.sig == SIGURG {
            self.preemption.delivered += 1;
            return;
        }
        let c = self.signals.entry(s.sig).or_insert_with(|| SignalCounts {
            signo: s.sig,
            ..Default::default()
        });
        c.delivered += 1;
        if s.handler == Some(Handler::Ignore) {
            c.ignored += 1;
        }
        if s.sig == SIGCHLD && is_exit_code(s.si_code) && s.si_pid != 0 {
            // The delivered siginfo is the one queued by this child's exit.
            let life = self.life_for(s.si_pid, s.ts_ns, |l| l.delivered.is_none());
            life.delivered = Some((s.target_pid, s.ts_ns));
        }
    }

    pub fn on_wait(&mut self, w: &WaitEvent) {
        let Some(child) = w.reaped() else { return };
        let life = self.life_for(child, w.ts_ns, |l| l.reaped.is_none());
        life.reaped = Some((w.tid, w.nr, w.ts_ns));
        if life.parent == 0 {
            life.parent = w.tgid;
        }
    }

    /// The latest /proc facts about pipes held open (replaces the previous ones).
    pub fn on_pipe_writers(&mut self, facts: Vec<PipeWriter>) {
        self.pipe_writers = facts;
    }

    /// Folds the lives that can no longer change into the totals (each refresh), so
    /// that what is read at each refresh follows the children still in motion.
    /// `running`: is a parent still running?
    pub fn settle(&mut self, now_ns: u64, th: Thresholds, running: impl Fn(u32) -> bool) {
        let mut emptied = false;
        for lives in self.children.values_mut() {
            let before = lives.len();
            let mut kept = Vec::with_capacity(before);
            for l in lives.drain(..) {
                if is_final(&l)
                    && now_ns.saturating_sub(l.exit_ns.unwrap_or(now_ns)) >= SETTLE_AFTER_NS
                {
                    self.settled.add(&l, now_ns, th);
                } else {
                    kept.push(l);
                }
            }
            *lives = kept;
            emptied |= lives.is_empty() && before > 0;
        }
        if emptied {
            self.children.retain(|_, lives| !lives.is_empty());
            let children = &self.children;
            self.order.retain(|p| children.contains_key(p));
        }
        self.settled.parents.retain(|&p| running(p));
    }

    /// How many lives have been settled, and how many are still open.
    pub fn life_counts(&self) -> (u64, usize) {
        (
            self.settled.lives,
            self.children.values().map(Vec::len).sum(),
        )
    }

    /// [`Self::signals`] with at most `n` senders and receivers each.
    pub fn signals_brief(&self, n: usize) -> Vec<SignalCounts> {
        self.signals
            .values()
            .map(|c| SignalCounts {
                senders: c
                    .senders
                    .iter()
                    .take(n)
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
                receivers: c.receivers.iter().take(n).map(|(k, v)| (*k, *v)).collect(),
                senders_more: c.senders.len().saturating_sub(n),
                receivers_more: c.receivers.len().saturating_sub(n),
                signo: c.signo,
                generated: c.generated,
                delivered: c.delivered,
                ignored: c.ignored,
                already_pending: c.already_pending,
                failed: c.failed,
            })
            .collect()
    }

    /// The lifecycles not settled yet, in the order children were first seen.
    pub fn children(&self) -> impl Iterator<Item = &ChildLife> {
        self.order
            .iter()
            .filter_map(|p| self.children.get(p))
            .flatten()
    }

    /// Parents whose children exited but are still alive: where a hang can be.
    pub fn parents_with_exited_children(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .children()
            .filter(|l| l.exit_ns.is_some() && l.parent != 0)
            .map(|l| l.parent)
            .chain(self.settled.parents.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn preemption(&self) -> Preemption {
        self.preemption
    }

    /// Per-signal counters, by signal number (SIGURG is in [`Self::preemption`]).
    pub fn signals(&self) -> Vec<SignalCounts> {
        self.signals.values().cloned().collect()
    }

    pub fn sigchld_summary(&self, now_ns: u64, th: Thresholds) -> SigchldSummary {
        let mut s = self.settled.summary.clone();
        for l in self.children() {
            s.add(l, now_ns, th);
        }
        s
    }

    /// The anomalies, most important first.
    pub fn anomalies(&self, now_ns: u64, th: Thresholds) -> Vec<Anomaly> {
        let mut out = Vec::new();
        // The open lives, then the settled ones' tallies, per parent.
        let mut per_parent: BTreeMap<u32, ParentTally> = BTreeMap::new();
        for l in self.children().filter(|l| l.exit_ns.is_some()) {
            per_parent.entry(l.parent).or_default().add(l, th);
        }
        for &parent in &self.settled.notable {
            per_parent.entry(parent).or_default();
        }
        for (parent, e) in per_parent.iter_mut() {
            if let Some(t) = self.settled.by_parent.get(parent) {
                e.merge(t);
            }
        }
        for l in self.children().filter(|l| is_unreaped(l, now_ns, th)) {
            out.push(Anomaly::Unreaped {
                pid: l.pid,
                parent: l.parent,
                comm: l.comm.clone(),
                age_ns: now_ns.saturating_sub(l.exit_ns.unwrap_or(now_ns)),
            });
        }
        for w in &self.pipe_writers {
            let exited_child = self
                .children()
                .filter(|l| l.parent == w.reader && l.exit_ns.is_some())
                .last()
                .map(|l| (l.pid, l.comm.clone()))
                .or_else(|| {
                    let t = self.settled.by_parent.get(&w.reader)?;
                    t.last_exit
                        .as_ref()
                        .map(|(pid, comm, _)| (*pid, comm.clone()))
                });
            // A live child of the reader writing to it is ordinary; a writer that
            // outlived the reader's exited child is what keeps a Cmd.Wait from returning.
            if exited_child.is_some() && w.holder_ppid != w.reader {
                out.push(Anomaly::PipeHeld {
                    reader: w.reader,
                    inode: w.inode,
                    holder: w.holder,
                    holder_command: w.holder_command.clone(),
                    exited_child,
                });
            }
        }
        for (&parent, e) in &per_parent {
            if e.undelivered > 0 {
                out.push(Anomaly::Undelivered {
                    parent,
                    count: e.undelivered,
                });
            }
            if e.coalesced > 0 {
                out.push(Anomaly::Coalesced {
                    parent,
                    exits: e.exits,
                    coalesced: e.coalesced,
                });
            }
            if e.ignored > 0 {
                out.push(Anomaly::Ignored {
                    parent,
                    children: e.ignored,
                });
            }
        }
        for (&parent, e) in &per_parent {
            if let Some(r) = e.slowest.clone() {
                out.push(Anomaly::SlowReap {
                    parent,
                    count: e.slow,
                    pid: r.pid,
                    comm: r.comm,
                    latency_ns: r.latency_ns,
                });
            }
        }
        out
    }
}

impl SigchldSummary {
    /// Counts one life in.
    fn add(&mut self, l: &ChildLife, now_ns: u64, th: Thresholds) {
        if l.sigchld.is_some() {
            self.generated += 1;
        }
        if l.exit_ns.is_none() {
            return;
        }
        self.exits += 1;
        match l.fate() {
            SigchldFate::Delivered => self.delivered += 1,
            SigchldFate::Coalesced => self.coalesced += 1,
            SigchldFate::Ignored => self.ignored += 1,
            SigchldFate::Undelivered => self.undelivered += 1,
            SigchldFate::Failed => self.failed += 1,
            SigchldFate::NotSent => self.not_sent += 1,
        }
        if l.disposition.auto_reaps() {
            self.auto_reaped += 1;
            self.reaped += 1;
        } else if l.reaped.is_some() {
            self.reaped += 1;
            self.max_reap_latency_ns = self
                .max_reap_latency_ns
                .max(l.reap_latency_ns().unwrap_or(0));
        } else if is_unreaped(l, now_ns, th) {
            self.unreaped += 1;
        }
    }
}

impl ParentTally {
    /// Counts one exited life in.
    fn add(&mut self, l: &ChildLife, th: Thresholds) {
        self.exits += 1;
        match l.fate() {
            SigchldFate::Coalesced => self.coalesced += 1,
            SigchldFate::Ignored if l.disposition == Disposition::Ignore => self.ignored += 1,
            SigchldFate::Undelivered => self.undelivered += 1,
            _ => {}
        }
        if let Some(lat) = l.reap_latency_ns().filter(|&lat| lat >= th.slow_reap_ns) {
            self.slow += 1;
            SlowestReap::keep_slowest(&mut self.slowest, SlowestReap::of(l, lat));
        }
        let exit_ns = l.exit_ns.unwrap_or(0);
        if self.last_exit.as_ref().is_none_or(|e| e.2 <= exit_ns) {
            self.last_exit = Some((l.pid, l.comm.clone(), exit_ns));
        }
    }

    fn merge(&mut self, o: &ParentTally) {
        self.exits += o.exits;
        self.coalesced += o.coalesced;
        self.ignored += o.ignored;
        self.undelivered += o.undelivered;
        self.slow += o.slow;
        if let Some(x) = &o.slowest {
            SlowestReap::keep_slowest(&mut self.slowest, x.clone());
        }
        if let Some(x) = &o.last_exit {
            if self.last_exit.as_ref().is_none_or(|m| x.2 > m.2) {
                self.last_exit = Some(x.clone());
            }
        }
    }
}

impl Settled {
    /// Folds one final life in (see [`is_final`]).
    /// (Such a life is reaped, so `now_ns` cannot make it unreaped.)
    fn add(&mut self, l: &ChildLife, now_ns: u64, th: Thresholds) {
        self.lives += 1;
        self.summary.add(l, now_ns, th);
        let t = self.by_parent.entry(l.parent).or_default();
        t.add(l, th);
        if t.coalesced + t.ignored + t.slow > 0 {
            self.notable.insert(l.parent);
        }
        if l.parent != 0 {
            self.parents.insert(l.parent);
        }
    }
}

fn is_unreaped(l: &ChildLife, now_ns: u64, th: Thresholds) -> bool {
    match l.exit_ns {
        Some(e) => {
            !l.disposition.auto_reaps()
                && l.reaped.is_none()
                && now_ns.saturating_sub(e) >= th.unreaped_ns
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: u32 = 100;

    fn exit(pid: u32, ts: u64) -> ProcEvent {
        ProcEvent {
            pid,
            tgid: pid,
            parent_tgid: PARENT,
            ts_ns: ts,
            exit_code: 0,
            thread: false,
            group_dead: true,
            parent_ignores_sigchld: false,
            parent_nocldwait: false,
            comm: format!("kid{pid}"),
        }
    }

    fn generate(child: u32, ts: u64, result: GenerateResult) -> SignalEvent {
        SignalEvent {
            sig: SIGCHLD,
            result: Some(result),
            handler: None,
            sender_pid: child,
            sender_tgid: child,
            target_pid: PARENT,
            target_tgid: PARENT,
            group: true,
            si_code: CLD_EXITED,
            si_pid: child,
            si_status: 0,
            ts_ns: ts,
            comm: format!("kid{child}"),
        }
    }

    fn deliver(child: u32, ts: u64) -> SignalEvent {
        SignalEvent {
            result: None,
            handler: Some(Handler::Function),
            target_pid: PARENT + 1,
            ..generate(child, ts, GenerateResult::Delivered)
        }
    }

    fn reap(child: u32, ts: u64) -> WaitEvent {
        WaitEvent {
            tid: PARENT,
            tgid: PARENT,
            nr: tracer_common::NR_WAIT4,
            ret: child as i64,
            options: 0,
            idtype: 0,
            id: -1,
            si_pid: 0,
            si_code: 0,
            ts_ns: ts,
            duration_ns: 10,
        }
    }

    fn balanced(s: &SigchldSummary) -> bool {
        s.exits == s.delivered + s.coalesced + s.ignored + s.undelivered + s.failed + s.not_sent
    }

    /// Many children of every kind: delivered, coalesced, slow to reap, ignored by a
    /// SIG_IGN parent, undelivered, never reaped, a pid reused.
    fn busy_history(t: &mut SignalTracker) {
        for pid in 1_000..4_000u32 {
            let ts = pid as u64 * 1_000_000;
            let mut e = exit(pid, ts);
            if pid % 7 == 0 {
                e.parent_tgid = PARENT + 7;
                e.parent_ignores_sigchld = true;
                t.on_child_exit(&e);
                t.on_generate(&generate(pid, ts + 1, GenerateResult::Ignored), true);
                continue;
            }
            t.on_child_exit(&e);
            let coalesced = pid % 5 == 0;
            let r = if coalesced {
                GenerateResult::AlreadyPending
            } else {
                GenerateResult::Delivered
            };
            t.on_generate(&generate(pid, ts + 1, r), true);
            if !coalesced && pid % 101 != 0 {
                t.on_deliver(&deliver(pid, ts + 2));
            }
            if pid % 211 != 0 {
                // Every 13th is reaped late.
                let late = if pid % 13 == 0 { 300_000_000 } else { 1_000 };
                t.on_wait(&reap(pid, ts + late));
            }
        }
        // The first pid again, a second life.
        t.on_child_exit(&exit(1_001, 5_000_000_000_000));
    }

    #[test]
    fn settled_lives_read_as_they_did_open() {
        let th = Thresholds::default();
        let now = 5_000_000_000_000 + 2 * SETTLE_AFTER_NS;
        let mut open = SignalTracker::default();
        busy_history(&mut open);
        let mut settled = SignalTracker::default();
        busy_history(&mut settled);
        // Settled twice: at a time that leaves the latest lives open, then later.
        settled.settle(3_000 * 1_000_000 + SETTLE_AFTER_NS, th, |_| true);
        let (done, left) = settled.life_counts();
        assert!(done > 1_000 && left > 1_000, "{done} settled, {left} open");
        settled.settle(now, th, |_| true);
        assert_eq!(
            settled.sigchld_summary(now, th),
            open.sigchld_summary(now, th)
        );
        assert_eq!(settled.anomalies(now, th), open.anomalies(now, th));
        assert_eq!(
            settled.parents_with_exited_children(),
            open.parents_with_exited_children()
        );
        // What stays open is what can still change: undelivered, unreaped, the new life.
        let (done, left) = settled.life_counts();
        let can_change = open.children().filter(|l| !is_final(l)).count();
        assert_eq!(left, can_change);
        assert_eq!(done as usize + left, open.children().count());
        assert!(left < 100, "{left} open");
        let s = open.sigchld_summary(now, th);
        assert!(
            s.coalesced > 0 && s.ignored > 0 && s.undelivered > 0 && s.unreaped > 0,
            "{s:?}"
        );
        assert!(
            open.anomalies(now, th)
                .iter()
                .any(|a| matches!(a, Anomaly::SlowReap { count, .. } if *count > 100)),
            "{:?}",
            open.anomalies(now, th)
        );
        // A parent that ended is no longer where a hang can be.
        settled.settle(now, th, |p| p != PARENT + 7);
        assert!(!settled
            .parents_with_exited_children()
            .contains(&(PARENT + 7)));
    }

    #[test]
    fn a_brief_copy_names_a_few_peers_and_counts_the_rest() {
        let mut t = SignalTracker::default();
        busy_history(&mut t);
        let full = t.signals();
        let brief = t.signals_brief(8);
        assert_eq!(full.len(), brief.len());
        let (f, b) = (&full[0], &brief[0]);
        assert!(f.senders.len() > 8);
        assert_eq!(b.senders.len(), 8);
        assert_eq!(b.senders_more, f.senders.len() - 8);
        assert_eq!(
            (b.generated, b.delivered, b.already_pending),
            (f.generated, f.delivered, f.already_pending)
        );
    }

    #[test]
    fn a_whole_lifecycle() {
        let mut t = SignalTracker::default();
        t.on_child_exit(&exit(7, 1_000));
        t.on_generate(&generate(7, 1_100, GenerateResult::Delivered), true);
        t.on_deliver(&deliver(7, 1_200));
        t.on_wait(&reap(7, 5_000));
        let s = t.sigchld_summary(10_000, Thresholds::default());
        assert_eq!(
            (s.exits, s.generated, s.delivered, s.reaped, s.unreaped),
            (1, 1, 1, 1, 0)
        );
        assert_eq!(s.max_reap_latency_ns, 4_000);
        assert!(balanced(&s));
        let life = t.children().next().expect("one child");
        assert_eq!(life.delivered, Some((PARENT + 1, 1_200)));
        assert_eq!(life.reaped, Some((PARENT, tracer_common::NR_WAIT4, 5_000)));
        assert!(t.anomalies(10_000, Thresholds::default()).is_empty());
    }

    #[test]
    fn coalescing_balances() {
        let mut t = SignalTracker::default();
        // 50 children exit while one SIGCHLD is pending: 1 queued, 49 coalesced, and
        // the one delivery names the first child.
        for pid in 1..=50 {
            t.on_child_exit(&exit(pid, pid as u64 * 10));
            let r = if pid == 1 {
                GenerateResult::Delivered
            } else {
                GenerateResult::AlreadyPending
            };
            t.on_generate(&generate(pid, pid as u64 * 10 + 1, r), true);
        }
        t.on_deliver(&deliver(1, 10_000));
        for pid in 1..=50 {
            t.on_wait(&reap(pid, 20_000));
        }
        let s = t.sigchld_summary(30_000, Thresholds::default());
        assert_eq!(
            (s.exits, s.delivered, s.coalesced, s.undelivered, s.reaped),
            (50, 1, 49, 0, 50)
        );
        assert!(balanced(&s), "{s:?}");
        let a = t.anomalies(30_000, Thresholds::default());
        assert_eq!(
            a,
            vec![Anomaly::Coalesced {
                parent: PARENT,
                exits: 50,
                coalesced: 49
            }]
        );
        let counts = &t.signals()[0];
        assert_eq!(
            (
                counts.signo,
                counts.generated,
                counts.delivered,
                counts.already_pending
            ),
            (SIGCHLD, 50, 1, 49)
        );
    }

    #[test]
    fn ignored_sigchld_means_auto_reaped() {
        let mut t = SignalTracker::default();
        for pid in [5, 6, 7] {
            t.on_child_exit(&ProcEvent {
                parent_ignores_sigchld: true,
                ..exit(pid, 100)
            });
        }
        let s = t.sigchld_summary(10_000_000_000, Thresholds::default());
        assert_eq!(
            (
                s.exits,
                s.generated,
                s.ignored,
                s.auto_reaped,
                s.reaped,
                s.unreaped
            ),
            (3, 0, 3, 3, 3, 0)
        );
        assert!(balanced(&s));
        assert_eq!(
            t.anomalies(10_000_000_000, Thresholds::default()),
            vec![Anomaly::Ignored {
                parent: PARENT,
                children: 3
            }]
        );
    }

    #[test]
    fn unreaped_and_undelivered() {
        let mut t = SignalTracker::default();
        t.on_child_exit(&exit(9, 1_000));
        t.on_generate(&generate(9, 1_001, GenerateResult::Delivered), true);
        // Not yet old enough.
        assert_eq!(
            t.sigchld_summary(500_000_000, Thresholds::default())
                .unreaped,
            0
        );
        let now = 3_000_000_000;
        let s = t.sigchld_summary(now, Thresholds::default());
        assert_eq!((s.unreaped, s.undelivered), (1, 1));
        assert!(balanced(&s));
        let a = t.anomalies(now, Thresholds::default());
        assert_eq!(
            a[0],
            Anomaly::Unreaped {
                pid: 9,
                parent: PARENT,
                comm: "kid9".into(),
                age_ns: now - 1_000
            }
        );
        assert!(a.contains(&Anomaly::Undelivered {
            parent: PARENT,
            count: 1
        }));
    }

    #[test]
    fn out_of_order_events_find_their_lifecycle() {
        let mut t = SignalTracker::default();
        // The reap and the delivery arrive before the exit record.
        t.on_wait(&reap(4, 3_000));
        t.on_deliver(&deliver(4, 2_000));
        t.on_generate(&generate(4, 1_500, GenerateResult::Delivered), true);
        t.on_child_exit(&exit(4, 1_000));
        let lives: Vec<_> = t.children().collect();
        assert_eq!(lives.len(), 1, "{lives:?}");
        assert_eq!(lives[0].reap_latency_ns(), Some(2_000));
        assert_eq!(lives[0].fate(), SigchldFate::Delivered);
    }

    #[test]
    fn pid_reuse_starts_a_new_lifecycle() {
        let mut t = SignalTracker::default();
        t.on_child_exit(&exit(4, 1_000));
        t.on_wait(&reap(4, 2_000));
        // The pid is reused by a new child that exits later and is never reaped.
        t.on_child_exit(&exit(4, 5_000));
        let lives: Vec<_> = t.children().collect();
        assert_eq!(lives.len(), 2);
        assert_eq!(lives[0].reaped.map(|r| r.2), Some(2_000));
        assert_eq!(lives[1].reaped, None);
        let s = t.sigchld_summary(5_000 + 2_000_000_000, Thresholds::default());
        assert_eq!((s.exits, s.reaped, s.unreaped), (2, 1, 1));
        // A late reap of the first life (reordered after the second exit) still lands
        // on a life that admits it.
        let mut t2 = SignalTracker::default();
        t2.on_child_exit(&exit(8, 1_000));
        t2.on_child_exit(&exit(8, 5_000));
        t2.on_wait(&reap(8, 2_000));
        let lives: Vec<_> = t2.children().collect();
        assert_eq!(lives[0].reaped.map(|r| r.2), Some(2_000));
        assert_eq!(lives[1].reaped, None);
    }

    #[test]
    fn slow_reaps_are_named() {
        let mut t = SignalTracker::default();
        t.on_child_exit(&exit(3, 0));
        t.on_wait(&reap(3, 250_000_000));
        let a = t.anomalies(1, Thresholds::default());
        assert_eq!(
            a,
            vec![Anomaly::SlowReap {
                parent: PARENT,
                count: 1,
                pid: 3,
                comm: "kid3".into(),
                latency_ns: 250_000_000
            }]
        );
        // Many slow reaps of one parent are one anomaly naming the slowest.
        t.on_child_exit(&exit(4, 0));
        t.on_wait(&reap(4, 400_000_000));
        t.on_child_exit(&exit(5, 0));
        t.on_wait(&reap(5, 1_000));
        let a = t.anomalies(1, Thresholds::default());
        assert_eq!(
            a,
            vec![Anomaly::SlowReap {
                parent: PARENT,
                count: 2,
                pid: 4,
                comm: "kid4".into(),
                latency_ns: 400_000_000
            }]
        );
    }

    #[test]
    fn sigurg_is_counted_apart() {
        let mut t = SignalTracker::default();
        let mut urg = generate(0, 1, GenerateResult::Delivered);
        urg.sig = SIGURG;
        urg.si_code = -6; // SI_TKILL
        for _ in 0..5 {
            t.on_generate(&urg, true);
        }
        t.on_deliver(&SignalEvent {
            handler: Some(Handler::Function),
            result: None,
            ..urg
        });
        assert_eq!(
            t.preemption(),
            Preemption {
                generated: 5,
                delivered: 1
            }
        );
        assert!(
            t.signals().is_empty(),
            "SIGURG must not crowd the signal table"
        );
    }

    #[test]
    fn pipe_held_after_the_child_exited() {
        let mut t = SignalTracker::default();
        t.on_child_exit(&exit(20, 1));
        t.on_wait(&reap(20, 2));
        t.on_pipe_writers(vec![
            PipeWriter {
                reader: PARENT,
                inode: 77,
                holder: 21,
                holder_command: "sleep 30".into(),
                holder_ppid: 1,
            },
            // A live direct child writing to its parent is ordinary.
            PipeWriter {
                reader: PARENT,
                inode: 78,
                holder: 22,
                holder_command: "cat".into(),
                holder_ppid: PARENT,
            },
        ]);
        let a = t.anomalies(3, Thresholds::default());
        assert_eq!(
            a,
            vec![Anomaly::PipeHeld {
                reader: PARENT,
                inode: 77,
                holder: 21,
                holder_command: "sleep 30".into(),
                exited_child: Some((20, "kid20".into())),
            }]
        );
    }
}
