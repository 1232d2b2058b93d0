//! Where a target thread's time goes while it is in a syscall (and, for run-queue time,
//! outside one): on a CPU, runnable but waiting for one (scheduler or cgroup throttling),
//! or asleep. sched_switch ends a running stretch and starts a waiting one; sched_wakeup
//! turns a sleep into a wait for a CPU; the next switch-in ends the wait.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use tracer_common::{
    Inflight, ThreadStats, COUNTER_THREADS_UNTRACKED, INFLIGHT_NR_NONE, INFLIGHT_SLOTS,
    MAX_SYSCALLS, THREAD_BLOCKED, THREAD_RUNNING, THREAD_RUNQ, THROTTLE_CFS_RQ, THROTTLE_TASK,
};

use crate::{
    goroutine,
    maps::{
        bump, evict, is_target, read_kernel_u32, read_kernel_u64, read_kernel_u8, store, task_ids,
        INFLIGHT, THREAD_STATS,
    },
    off,
};

#[inline(always)]
fn in_syscall(slot: &Inflight) -> bool {
    slot.nr < MAX_SYSCALLS
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next,
    // unsigned int prev_state) since Linux 5.18; prev is current.
    on_switch(&ctx, |_| ctx.arg::<u64>(3) as u32);
    0
}

/// The same for kernels whose sched_switch passes no `prev_state` (before 5.18): the
/// tracepoint itself read `prev->__state` at this point (include/trace/events/sched.h).
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch_state(ctx: RawTracePointContext) -> i32 {
    on_switch(&ctx, |prev| {
        read_kernel_u32(prev, off!(task_state)).unwrap_or(0)
    });
    0
}

/// A context switch: `prev_state(prev)` is the state the switched-out task leaves in.
#[inline(always)]
fn on_switch(ctx: &RawTracePointContext, prev_state: impl FnOnce(u64) -> u32) {
    let prev = bpf_get_current_pid_tgid();
    let mut now = 0;
    if is_target((prev >> 32) as u32) {
        // SAFETY: no preconditions.
        now = unsafe { bpf_ktime_get_ns() };
        let preempt = ctx.arg::<u64>(0) & 0xff != 0;
        let task: u64 = ctx.arg(1);
        switch_out(prev, task, preempt, prev_state(task), now);
    }
    let next: u64 = ctx.arg(2);
    let Some((tid, next_tgid)) = task_ids(next) else {
        return;
    };
    if is_target(next_tgid) {
        if now == 0 {
            // SAFETY: no preconditions.
            now = unsafe { bpf_ktime_get_ns() };
        }
        switch_in(tid, next_tgid, now);
    }
}

/// Was this task taken off the CPU because its cgroup ran out of CPU quota?
#[inline(always)]
fn throttled(task: u64) -> bool {
    match off!(throttle_mode) {
        THROTTLE_TASK => read_kernel_u8(task, off!(task_throttled)).unwrap_or(0) != 0,
        THROTTLE_CFS_RQ => {
            read_kernel_u64(task, off!(task_se_cfs_rq))
                .and_then(|cfs_rq| read_kernel_u32(cfs_rq, off!(cfs_rq_throttle_count)))
                .unwrap_or(0)
                != 0
        }
        _ => false,
    }
}

#[inline(always)]
fn switch_out(pid_tgid: u64, task: u64, preempt: bool, prev_state: u32, now: u64) {
    let tid = pid_tgid as u32;
    let Some(slot) = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS) else {
        return;
    };
    // SAFETY: points into the INFLIGHT array; only this thread's own programs and its
    // wakers write its slot, and a waker only acts on a sleeping thread.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid {
        // A thread not seen yet (or whose slot a colliding tid took): start following
        // its time from here.
        evict(slot);
        store(&mut slot.tid, tid);
        store(&mut slot.nr, INFLIGHT_NR_NONE);
        store(&mut slot.start_ns, 0);
        store(&mut slot.state, THREAD_RUNNING);
        store(&mut slot.state_ns, now);
        store(&mut slot.on_cpu_ns, 0);
        store(&mut slot.runq_ns, 0);
        store(&mut slot.runq_throttled_ns, 0);
        store(&mut slot.blocked_ns, 0);
        store(&mut slot.runtime_g, 0);
    }
    // Normally the thread was running; a state still RUNQ or BLOCKED means a switch-in
    // was missed, and the stretch goes where the thread was last seen.
    close_stretch(slot, now);
    if preempt || prev_state == 0 {
        // Still runnable (TASK_RUNNING): preempted, yielded, or throttled.
        slot.state = THREAD_RUNQ;
        slot.throttled = throttled(task) as u32;
    } else {
        slot.state = THREAD_BLOCKED;
        slot.throttled = 0;
        if in_syscall(slot) && slot.goid_start_ns != slot.start_ns {
            // The call's first sleep: who made it, for the call in progress and for its
            // return (the thread is current here, so its TLS is readable).
            let (gkind, goid) = goroutine::identify(task, (pid_tgid >> 32) as u32, tid, slot);
            slot.goid_start_ns = slot.start_ns;
            slot.gkind = gkind;
            slot.goid = goid;
        }
    }
}

/// Ends the thread's current stretch at `now`: within a syscall, its time goes to the
/// part its state says (on a CPU, waiting for one, or asleep), so the parts always add
/// up to the call's length.
#[inline(always)]
pub fn close_stretch(slot: &mut Inflight, now: u64) {
    if in_syscall(slot) {
        let d = now.saturating_sub(slot.state_ns);
        if slot.state == THREAD_RUNQ {
            slot.runq_ns += d;
            if slot.throttled != 0 {
                slot.runq_throttled_ns += d;
            }
        } else if slot.state == THREAD_BLOCKED {
            slot.blocked_ns += d;
        } else {
            slot.on_cpu_ns += d;
        }
    }
    slot.state_ns = now;
}

#[inline(always)]
fn switch_in(tid: u32, tgid: u32, now: u64) {
    let Some(slot) = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS) else {
        return;
    };
    // SAFETY: as in switch_out.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid {
        return;
    }
    if slot.state == THREAD_RUNQ && !in_syscall(slot) {
        // Run-queue time outside syscalls.
        let d = now.saturating_sub(slot.state_ns);
        let thr = if slot.throttled != 0 { d } else { 0 };
        add_thread_runq(tid, tgid, d, thr);
    }
    // Within a syscall: a wait for a CPU ends; or a sleep whose wakeup was not seen
    // (e.g. before attach) ends, and counts as blocked.
    close_stretch(slot, now);
    slot.state = THREAD_RUNNING;
    slot.throttled = 0;
}

/// Run-queue time outside syscalls, per thread.
#[inline(always)]
fn add_thread_runq(tid: u32, tgid: u32, d: u64, thr: u64) {
    if let Some(s) = THREAD_STATS.get_ptr_mut(&tid) {
        // SAFETY: a value of the hash map; a thread is switched in on one CPU at a time.
        unsafe {
            (*s).runq_ns += d;
            (*s).runq_throttled_ns += thr;
        }
        return;
    }
    let fresh = ThreadStats {
        tgid,
        _pad: 0,
        runq_ns: d,
        runq_throttled_ns: thr,
    };
    if THREAD_STATS.insert(&tid, &fresh, 0).is_err() {
        // The table is full: userspace prunes exited threads, so only this many live
        // ones fill it. Counted, and said, never silent.
        bump(COUNTER_THREADS_UNTRACKED);
    }
}

#[raw_tracepoint(tracepoint = "sched_wakeup")]
pub fn sched_wakeup(ctx: RawTracePointContext) -> i32 {
    wakeup(ctx.arg(0));
    0
}

#[raw_tracepoint(tracepoint = "sched_wakeup_new")]
pub fn sched_wakeup_new(ctx: RawTracePointContext) -> i32 {
    wakeup(ctx.arg(0));
    0
}

/// TP_PROTO(struct task_struct *p): p is runnable again; a sleep ends, a wait for a CPU
/// begins.
#[inline(always)]
fn wakeup(task: u64) {
    let Some((tid, tgid)) = task_ids(task) else {
        return;
    };
    if !is_target(tgid) {
        return;
    }
    let Some(slot) = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS) else {
        return;
    };
    // SAFETY: as in switch_out; the woken thread is asleep, so it is not writing its slot.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid || slot.state != THREAD_BLOCKED {
        return;
    }
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    close_stretch(slot, now);
    slot.state = THREAD_RUNQ;
    slot.throttled = 0;
}
