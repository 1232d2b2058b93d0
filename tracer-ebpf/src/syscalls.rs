//! raw_tp sys_enter / sys_exit: per-syscall aggregates for every call of a target, and a
//! record for each call slower than SLOW_NS.
use core::intrinsics::{atomic_xchg, AtomicOrdering};

use aya_ebpf::{
    bindings::BPF_F_USER_STACK,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_smp_processor_id, bpf_get_stack,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
    EbpfContext,
};
use tracer_common::{
    cause_front_slot, class, gkind, hist_bucket, kind, proc_front_key, proc_front_set, CauseKey,
    CauseStats, Inflight, ProcFront, ProcSyscallKey, SyscallRecord, SyscallStats, WaitRecord,
    COUNTER_LOST_RECORDS, COUNTER_PROC_STATS_FULL, COUNTER_UNMATCHED_EXITS, HIST_BUCKETS,
    INFLIGHT_NR_NEW_TASK, INFLIGHT_NR_NONE, INFLIGHT_SLOTS, MAX_SYSCALLS, NR_EXIT, NR_EXIT_GROUP,
    NR_WAIT4, NR_WAITID, PROC_FRONT_BURST_CALLS, PROC_FRONT_BURST_NS, PROC_FRONT_WAYS, STACK_DEPTH,
    THREAD_RUNNING,
};

use crate::{
    classify::classify,
    goroutine,
    maps::{
        bump, evict, get_or_insert, is_target, lazy_wakeup, lost_record, store, was_evicted,
        CAUSES, CAUSE_FRONT, EVENTS, EXIT_DETAIL, HOSTWIDE, INFLIGHT, PROC_FRONT, PROC_FRONT_SLOTS,
        PROC_SYSCALLS, SLOW_NS, STACK_MIN_NS, STREAM_IDLE, SYSCALL_STATS, ZERO_STATS,
    },
    poller,
    sched::close_stretch,
};

/// Offset of r10 in x86_64 `struct pt_regs` (arch/x86/include/asm/ptrace.h): the 8 words
/// from here are r10, r9, r8, ax, cx, dx, si, di, which hold the six syscall arguments
/// (di, si, dx, r10, r8, r9).
const PT_REGS_R10: usize = 56;
/// Offset of sp in x86_64 `struct pt_regs`.
const PT_REGS_SP: usize = 152;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target((pid_tgid >> 32) as u32) {
        return 0;
    }
    try_sys_enter(&ctx, pid_tgid).unwrap_or(0)
}

fn try_sys_enter(ctx: &RawTracePointContext, pid_tgid: u64) -> Option<i32> {
    let tid = pid_tgid as u32;
    // sys_enter's TP_PROTO is (struct pt_regs *regs, long id).
    let id: i64 = ctx.arg(1);
    if id < 0 || id >= MAX_SYSCALLS as i64 {
        return None;
    }
    let nr = id as u32;
    if nr == NR_EXIT || nr == NR_EXIT_GROUP {
        // These never reach sys_exit: count them now.
        account((pid_tgid >> 32) as u32, nr, &Split::default(), 0, 0);
        return None;
    }
    let slot = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS)?;
    // SAFETY: `slot` points into the INFLIGHT array's value area, valid while the program
    // runs; a racing writer can only be another thread with a colliding tid, which the
    // tid check at exit detects.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid {
        evict(slot);
        slot.tid = tid;
        slot.runtime_g = 0;
    }
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    store(&mut slot.nr, nr);
    store(&mut slot.start_ns, now);
    store(&mut slot.state, THREAD_RUNNING);
    store(&mut slot.throttled, 0);
    store(&mut slot.state_ns, now);
    store(&mut slot.on_cpu_ns, 0);
    store(&mut slot.runq_ns, 0);
    store(&mut slot.runq_throttled_ns, 0);
    store(&mut slot.blocked_ns, 0);
    Some(0)
}

/// Where one call's time went.
#[derive(Default)]
struct Split {
    duration: u64,
    on_cpu: u64,
    runq: u64,
    runq_throttled: u64,
    blocked: u64,
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target((pid_tgid >> 32) as u32) {
        return 0;
    }
    if try_sys_exit(&ctx, pid_tgid) == Some(Exit::Detail) {
        // SAFETY: the context is this program's own; index 0 is sys_exit_detail.
        unsafe { EXIT_DETAIL.tail_call(&ctx, 0) };
        // Only a missing program returns here (userspace sets it before attaching): the
        // call's cause and record are lost, and said to be.
        bump(COUNTER_LOST_RECORDS);
    }
    0
}

/// What sys_exit has left to do for a call once it is counted.
#[derive(PartialEq, Eq)]
enum Exit {
    Done,
    /// The call blocked, was slow, or is a wait or poller call: sys_exit_detail has the
    /// rest.
    Detail,
}

fn try_sys_exit(ctx: &RawTracePointContext, pid_tgid: u64) -> Option<Exit> {
    let tid = pid_tgid as u32;
    let slot = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS)?;
    // SAFETY: as in try_sys_enter.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid || slot.nr >= MAX_SYSCALLS {
        if slot.tid == tid && slot.nr == INFLIGHT_NR_NEW_TASK {
            // A new task's first return to user space: no call to count.
            slot.nr = INFLIGHT_NR_NONE;
        } else if !was_evicted(tid) {
            // Entered before we attached. (A call whose slot a colliding tid took was
            // counted as a slot collision when it was taken.)
            bump(COUNTER_UNMATCHED_EXITS);
        }
        return None;
    }
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let nr = slot.nr;
    // The last stretch: on a CPU, as the thread runs (or where it was last seen, if a
    // switch-in was missed).
    close_stretch(slot, now);
    let split = split_of(slot, now);
    slot.nr = INFLIGHT_NR_NONE;
    slot.state = THREAD_RUNNING;

    // sys_exit's TP_PROTO is (struct pt_regs *regs, long ret).
    let ret: i64 = ctx.arg(1);
    let failed = (-4095..0).contains(&ret);
    account((pid_tgid >> 32) as u32, nr, &split, failed as u64, now);

    let slow = split.duration >= SLOW_NS.load();
    if split.blocked > 0 || slow || is_wait(nr) || poller::wants(nr, ret) {
        slot.exit_nr = nr;
        slot.exit_ns = now;
        return Some(Exit::Detail);
    }
    Some(Exit::Done)
}

/// The time split of the call in `slot`, which returned at `now`.
#[inline(always)]
fn split_of(slot: &Inflight, now: u64) -> Split {
    Split {
        duration: now.saturating_sub(slot.start_ns),
        on_cpu: slot.on_cpu_ns,
        runq: slot.runq_ns,
        runq_throttled: slot.runq_throttled_ns,
        blocked: slot.blocked_ns,
    }
}

#[inline(always)]
fn is_wait(nr: u32) -> bool {
    nr == NR_WAIT4 || nr == NR_WAITID
}

/// The rest of sys_exit, as its tail call (see tracer_common::maps::EXIT_DETAIL): the cause
/// of a call that blocked, the record of a slow one, waits and the poller. What sys_exit
/// found is read back from the thread's slot, as unknown values: none of sys_exit's paths
/// is followed into here. As one program, the verifier went through 65,000 instructions;
/// as two, 6,900 of sys_exit and 17,300 of this (gotrace's CPU to attach: 116 ms instead
/// of 201, medians of 10).
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_detail(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    exit_detail(&ctx, pid_tgid).unwrap_or(0)
}

fn exit_detail(ctx: &RawTracePointContext, pid_tgid: u64) -> Option<i32> {
    let tid = pid_tgid as u32;
    let slot = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS)?;
    // SAFETY: as in try_sys_enter.
    let slot = unsafe { &mut *slot };
    if slot.tid != tid {
        return None;
    }
    let nr = slot.exit_nr;
    if nr >= MAX_SYSCALLS {
        return None;
    }
    let start = slot.start_ns;
    let now = slot.exit_ns;
    let split = split_of(slot, now);
    // Who made the call, if its first sleep found out.
    let known_goroutine = (slot.goid_start_ns == start).then_some((slot.gkind, slot.goid));
    let ret: i64 = ctx.arg(1);
    let slow = split.duration >= SLOW_NS.load();
    let regs: u64 = ctx.arg(0);
    let args = syscall_args(regs);
    // Which numbers are waits and poller calls is asked where it is needed, not once up
    // front: each comparison leaves `nr` a known constant on one side, and asked before
    // the rest, every such constant was a path of its own for the verifier through
    // classify, the cause and the slow record.
    let (cls, dev) = if split.blocked > 0 || slow {
        classify(nr, ret, &args)
    } else {
        (class::NONE, 0)
    };
    store(&mut slot.exit_class, cls);
    store(&mut slot.exit_dev, dev);
    // SAFETY: fields of the thread's slot, just written.
    let (cls, dev) = unsafe {
        (
            core::ptr::read_volatile(&slot.exit_class),
            core::ptr::read_volatile(&slot.exit_dev),
        )
    };
    let gk = known_goroutine.map_or(gkind::UNKNOWN, |(k, _)| k);
    if split.blocked > 0 {
        let key = CauseKey {
            tgid: (pid_tgid >> 32) as u32,
            nr,
            class: cls,
            dev,
            gkind: gk,
        };
        account_cause(&key, &split);
    }
    if slow && (STREAM_IDLE.load() != 0 || !idle_wait(cls, gk, split.blocked, split.duration)) {
        let who = known_goroutine.unwrap_or_else(|| {
            // SAFETY: no preconditions.
            let task = unsafe { bpf_get_current_task() };
            goroutine::identify(task, (pid_tgid >> 32) as u32, tid, slot)
        });
        let call = Call {
            pid_tgid,
            nr,
            start,
            ret,
            args,
            cls,
            dev,
            who,
        };
        emit_slow(ctx, regs, &call, &split);
    }
    if is_wait(nr) {
        emit_wait(pid_tgid, nr, now, split.duration, ret, &args);
    }
    if poller::wants(nr, ret) {
        poller::on_exit(pid_tgid, nr, ret, &args, split.duration);
    }
    Some(0)
}

/// A wait that is aggregated but not news (streamed only with `--stream-idle`): a parked
/// thread's (an idle Go M, a futex wait without a timeout), or the Go runtime's own wait
/// for work on a thread's g0 (the netpoller's blocking poll in the scheduler, sysmon's
/// sleep while every P is idle: a futex wait with a timeout) that was mostly spent
/// asleep. Go servers end hundreds of each a second; one the scheduler made late (most
/// of it waiting for a CPU) is streamed.
#[inline(always)]
fn idle_wait(cls: u32, gk: u32, blocked: u64, duration: u64) -> bool {
    cls == class::FUTEX_IDLE
        || (gk == gkind::RUNTIME
            && (cls == class::NETPOLL || cls == class::FUTEX)
            && blocked >= duration / 2)
}

/// Adds a call that blocked to its cause: in CAUSE_FRONT if its entry there is its own or
/// free (not host-wide: one program or tree, whose causes are summed), else in CAUSES.
/// Measured under H (a net/http server, about three blocked calls per request): the
/// front saves about 220 ns per request (docs/benchmarks.md). Out of line: inlined, the
/// verifier went through 6,000 more instructions.
#[inline(never)]
fn account_cause(key: &CauseKey, split: &Split) {
    if HOSTWIDE.load() == 0 {
        let slot = cause_front_slot(key.nr, key.class, key.dev, key.gkind);
        if let Some(f) = CAUSE_FRONT.get_ptr_mut(slot) {
            // SAFETY: a per-CPU value; tracepoint programs run with preemption disabled,
            // so only this program writes this CPU's copy meanwhile.
            let f = unsafe { &mut *f };
            if f.stats.calls == 0 {
                f.key = CauseKey { tgid: 0, ..*key };
            }
            let k = &f.key;
            if (k.nr, k.class, k.dev, k.gkind) == (key.nr, key.class, key.dev, key.gkind) {
                f.stats.calls += 1;
                f.stats.wall_ns += split.duration;
                f.stats.blocked_ns += split.blocked;
                return;
            }
        }
    }
    if let Some(c) = CAUSES.get_ptr_mut(key) {
        // SAFETY: a per-CPU value; tracepoint programs run with preemption disabled.
        unsafe {
            (*c).calls += 1;
            (*c).wall_ns += split.duration;
            (*c).blocked_ns += split.blocked;
        }
        return;
    }
    let fresh = CauseStats {
        calls: 1,
        wall_ns: split.duration,
        blocked_ns: split.blocked,
    };
    let _ = CAUSES.insert(key, &fresh, 0);
}

/// The argument registers of a returning syscall (di, si, dx, r10, r8, r9), as the call
/// returns (for all but execve and rt_sigreturn, the arguments it was given).
#[inline(always)]
fn syscall_args(regs: u64) -> [u64; 6] {
    // SAFETY: regs is the kernel's struct pt_regs pointer passed to the tracepoint;
    // bpf_probe_read_kernel checks the access.
    let w: [u64; 8] =
        unsafe { bpf_probe_read_kernel((regs as usize + PT_REGS_R10) as *const [u64; 8]) }
            .unwrap_or([0; 8]);
    [w[7], w[6], w[5], w[0], w[2], w[1]]
}

/// A wait call's return: who was reaped, by which call. waitid reports the child in the
/// siginfo it fills in (user memory), not in its return value.
#[inline(always)]
fn emit_wait(pid_tgid: u64, nr: u32, now: u64, duration: u64, ret: i64, args: &[u64; 6]) {
    let (idtype, id, options, mut si_pid, mut si_code) = if nr == NR_WAIT4 {
        (0, args[0] as i64, args[2] as u32, 0, 0)
    } else {
        (args[0] as u32, args[1] as i64, args[3] as u32, 0u32, 0i32)
    };
    if nr == NR_WAITID && ret == 0 && args[2] != 0 {
        // siginfo_t: si_code at 8, si_pid at 16.
        // SAFETY: a user pointer the call just wrote to; bpf_probe_read_user checks it.
        unsafe {
            si_code = bpf_probe_read_user((args[2] + 8) as *const i32).unwrap_or(0);
            si_pid = bpf_probe_read_user((args[2] + 16) as *const u32).unwrap_or(0);
        }
    }
    let Some(mut entry) = EVENTS.reserve::<WaitRecord>(0) else {
        lost_record();
        return;
    };
    entry.write(WaitRecord {
        kind: kind::WAIT,
        tid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        nr,
        ret,
        options,
        idtype,
        id,
        si_pid,
        si_code,
        ts_ns: now,
        duration_ns: duration,
    });
    entry.submit(crate::maps::prompt_wakeup());
}

/// Adds one call to the aggregate of `nr`: per CPU, or in host-wide mode per process.
#[inline(always)]
fn account(tgid: u32, nr: u32, split: &Split, failed: u64, now: u64) {
    if HOSTWIDE.load() != 0 {
        account_process(tgid, nr, split, failed, now);
        return;
    }
    let Some(stats) = SYSCALL_STATS.get_ptr_mut(nr) else {
        return;
    };
    // SAFETY: per-CPU value, and tracepoint programs run with preemption disabled, so
    // plain read-modify-writes cannot interleave with another writer.
    unsafe { add(stats, split, failed) };
}

/// Adds one call to an aggregate.
///
/// # Safety
/// `stats` points to a map value that only this CPU writes while the program runs.
#[inline(always)]
unsafe fn add(stats: *mut tracer_common::SyscallStats, split: &Split, failed: u64) {
    let bucket = hist_bucket(split.duration);
    // SAFETY: as the caller promises.
    unsafe {
        (*stats).calls += 1;
        (*stats).errors += failed;
        (*stats).total_ns += split.duration;
        if split.duration > (*stats).max_ns {
            (*stats).max_ns = split.duration;
        }
        (*stats).on_cpu_ns += split.on_cpu;
        (*stats).runq_ns += split.runq;
        (*stats).runq_throttled_ns += split.runq_throttled;
        (*stats).blocked_ns += split.blocked;
        if bucket < HIST_BUCKETS {
            (*stats).hist[bucket] += 1;
        }
    }
}

/// Host-wide mode: adds one call to its process's aggregate of `nr` on this CPU: in the
/// PROC_FRONT entry of its set that holds this (process, syscall), an array access; else
/// in PROC_SYSCALLS, a hash lookup, until the (process, syscall) is busy and its set has
/// a free entry to take. `now` 0: a call that never returns (exit), never busy.
#[inline(always)]
fn account_process(tgid: u32, nr: u32, split: &Split, failed: u64, now: u64) {
    // SAFETY: no preconditions.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let slots = PROC_FRONT_SLOTS.load();
    let key = proc_front_key(tgid, nr);
    let set = cpu
        .wrapping_mul(slots)
        .wrapping_add(proc_front_set(tgid, nr, slots));
    let mut free: Option<*mut ProcFront> = None;
    for way in 0..PROC_FRONT_WAYS {
        let Some(f) = PROC_FRONT.get_ptr_mut(set + way) else {
            break;
        };
        // SAFETY: `f` points to an entry of this CPU's. Its stats are written only by
        // this CPU's programs, which run one at a time (tracepoint programs run with
        // preemption disabled); userspace reads them, and releases the key once the
        // process is forgotten (it has exited: it makes no more calls).
        let held = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*f).key)) };
        if held == key {
            // SAFETY: as above.
            unsafe { add(core::ptr::addr_of_mut!((*f).stats), split, failed) };
            return;
        }
        if held == 0 && free.is_none() {
            free = Some(f);
        }
    }
    let key = ProcSyscallKey { tgid, nr, cpu };
    let Some(zero) = ZERO_STATS.get(0) else {
        return;
    };
    // Only this CPU writes this key: a new entry replaces no other's.
    let Some(entry) = get_or_insert(&PROC_SYSCALLS, &key, zero) else {
        bump(COUNTER_PROC_STATS_FULL);
        return;
    };
    // SAFETY: the entry's only writer is this CPU, whose programs run one at a time
    // (tracepoint programs run with preemption disabled), as with a per-CPU map.
    let entry = unsafe { &mut *entry };
    if now != 0 {
        if now.wrapping_sub(entry.burst_start_ns) > PROC_FRONT_BURST_NS {
            entry.burst_start_ns = now;
            entry.burst_calls = 0;
        }
        entry.burst_calls += 1;
        if entry.burst_calls >= PROC_FRONT_BURST_CALLS {
            if let Some(f) = free {
                take_proc_front(f, proc_front_key(tgid, nr), split, failed);
                return;
            }
        }
    }
    // SAFETY: as above.
    unsafe { add(&mut entry.stats, split, failed) };
}

/// Gives the free PROC_FRONT entry `f` to `key`, with one call in: its stats are zeroed
/// (a released entry keeps its last owner's) and its key written last, with a full
/// barrier, so a reader that sees the key sees the stats that go with it. The calls
/// counted in PROC_SYSCALLS so far stay there (readers sum both). Out of line: a process
/// takes an entry at most once per (syscall, CPU).
#[inline(never)]
fn take_proc_front(f: *mut ProcFront, key: u64, split: &Split, failed: u64) {
    let Some(zero) = ZERO_STATS.get_ptr(0) else {
        return;
    };
    // SAFETY: `f` is a free entry of this CPU's (see account_process): no other writer
    // meanwhile, and no reader uses its stats until its key is set.
    unsafe {
        let stats = core::ptr::addr_of_mut!((*f).stats);
        let size = core::mem::size_of::<SyscallStats>() as u32;
        if aya_ebpf::helpers::generated::bpf_probe_read_kernel(stats.cast(), size, zero.cast()) != 0
        {
            return;
        }
        add(stats, split, failed);
        atomic_xchg::<u64, { AtomicOrdering::SeqCst }>(core::ptr::addr_of_mut!((*f).key), key);
    }
}

/// A slow call's identity, as its record states it.
struct Call {
    pid_tgid: u64,
    nr: u32,
    start: u64,
    ret: i64,
    args: [u64; 6],
    cls: u32,
    dev: u32,
    /// (`gkind::*`, goid)
    who: (u32, u64),
}

/// Streams a slow call, with its user stack when it took at least STACK_MIN_NS. The record is written
/// field by field in place: at 672 bytes it cannot be built on the 512-byte BPF stack.
/// Out of line, as `classify` is: the verifier checks it once, not on every path of
/// sys_exit that reaches it.
#[inline(never)]
fn emit_slow(ctx: &RawTracePointContext, regs: u64, call: &Call, split: &Split) {
    let Some(mut entry) = EVENTS.reserve::<SyscallRecord>(0) else {
        lost_record();
        return;
    };
    let r = entry.as_mut_ptr();
    // SAFETY: `r` points to the reserved record, valid and exclusively ours until it is
    // submitted; every field is written below before the submit.
    unsafe {
        (*r).kind = kind::SYSCALL;
        (*r).tid = call.pid_tgid as u32;
        (*r).tgid = (call.pid_tgid >> 32) as u32;
        (*r).nr = call.nr;
        (*r).start_ns = call.start;
        (*r).duration_ns = split.duration;
        (*r).ret = call.ret;
        (*r).args = call.args;
        (*r).on_cpu_ns = split.on_cpu;
        (*r).runq_ns = split.runq;
        (*r).runq_throttled_ns = split.runq_throttled;
        (*r).blocked_ns = split.blocked;
        (*r).class = call.cls;
        (*r).dev = call.dev;
        (*r).gkind = call.who.0;
        (*r).goid = call.who.1;
        (*r).stack_len = 0;
        (*r).user_sp = 0;
        (*r).sp_word = 0;
        if split.duration >= STACK_MIN_NS.load() {
            let sp: u64 =
                bpf_probe_read_kernel((regs as usize + PT_REGS_SP) as *const u64).unwrap_or(0);
            (*r).user_sp = sp;
            (*r).sp_word = bpf_probe_read_user(sp as *const u64).unwrap_or(0);
            let stack = core::ptr::addr_of_mut!((*r).stack);
            let got = bpf_get_stack(
                ctx.as_ptr(),
                stack.cast(),
                (STACK_DEPTH * 8) as u32,
                BPF_F_USER_STACK as u64,
            );
            if got > 0 {
                (*r).stack_len = (got as u32 / 8).min(STACK_DEPTH as u32);
            }
        }
    }
    entry.submit(lazy_wakeup());
}
