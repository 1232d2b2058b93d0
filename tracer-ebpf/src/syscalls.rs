//! raw_tp sys_enter / sys_exit: per-syscall aggregates for every call of a target, and a
//! record for each call slower than SLOW_NS.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use tracer_common::{
    hist_bucket, kind, SyscallRecord, WaitRecord, NR_WAIT4, NR_WAITID, COUNTER_SLOT_COLLISIONS, COUNTER_UNMATCHED_EXITS,
    HIST_BUCKETS, INFLIGHT_NR_NEW_TASK, INFLIGHT_SLOTS, MAX_SYSCALLS, NR_EXIT, NR_EXIT_GROUP,
};

use crate::maps::{
    bump, global_u64, is_target, lost_record, EVENTS, INFLIGHT, SLOW_NS, SYSCALL_STATS,
};

/// Offset of r10 in x86_64 `struct pt_regs` (arch/x86/include/asm/ptrace.h): the 8 words
/// from here are r10, r9, r8, ax, cx, dx, si, di, which hold the six syscall arguments
/// (di, si, dx, r10, r8, r9).
const PT_REGS_R10: usize = 56;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target((pid_tgid >> 32) as u32) {
        return 0;
    }
    try_sys_enter(&ctx, pid_tgid as u32).unwrap_or(0)
}

fn try_sys_enter(ctx: &RawTracePointContext, tid: u32) -> Option<i32> {
    // sys_enter's TP_PROTO is (struct pt_regs *regs, long id).
    let id: i64 = ctx.arg(1);
    if id < 0 || id >= MAX_SYSCALLS as i64 {
        return None;
    }
    let nr = id as u32;
    if nr == NR_EXIT || nr == NR_EXIT_GROUP {
        // These never reach sys_exit: count them now.
        account(nr, 0, 0);
        return None;
    }
    let slot = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS)?;
    // SAFETY: `slot` points into the INFLIGHT array's value area, valid while the program
    // runs; a racing writer can only be another thread with a colliding tid, which the
    // tid check at exit detects.
    unsafe {
        let owner = (*slot).tid;
        if owner != 0 && owner != tid {
            bump(COUNTER_SLOT_COLLISIONS);
        }
        (*slot).tid = tid;
        (*slot).nr = nr;
        (*slot).start_ns = bpf_ktime_get_ns();
    }
    Some(0)
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target((pid_tgid >> 32) as u32) {
        return 0;
    }
    try_sys_exit(&ctx, pid_tgid).unwrap_or(0)
}

fn try_sys_exit(ctx: &RawTracePointContext, pid_tgid: u64) -> Option<i32> {
    let tid = pid_tgid as u32;
    let slot = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS)?;
    // SAFETY: as in try_sys_enter.
    let (nr, start) = unsafe {
        if (*slot).tid != tid {
            // Entered before we attached, or the slot was taken by a colliding tid.
            bump(COUNTER_UNMATCHED_EXITS);
            return None;
        }
        (*slot).tid = 0;
        ((*slot).nr, (*slot).start_ns)
    };
    if nr == INFLIGHT_NR_NEW_TASK {
        return None;
    }
    let now = unsafe { bpf_ktime_get_ns() };
    let duration = now.saturating_sub(start);
    // sys_exit's TP_PROTO is (struct pt_regs *regs, long ret).
    let ret: i64 = ctx.arg(1);
    let failed = (-4095..0).contains(&ret);
    account(nr, duration, failed as u64);

    if duration >= global_u64(&SLOW_NS) {
        emit_slow(pid_tgid, nr, start, duration, ret, ctx.arg(0));
    }
    if nr == NR_WAIT4 || nr == NR_WAITID {
        emit_wait(pid_tgid, nr, now, duration, ret, ctx.arg(0));
    }
    Some(0)
}

/// The argument registers of a returning syscall (di, si, dx, r10, r8, r9), as the call
/// returns (for all but execve and rt_sigreturn, the arguments it was given).
#[inline(always)]
fn syscall_args(regs: u64) -> [u64; 6] {
    // SAFETY: regs is the kernel's struct pt_regs pointer passed to the tracepoint;
    // bpf_probe_read_kernel checks the access.
    let w: [u64; 8] = unsafe {
        bpf_probe_read_kernel((regs as usize + PT_REGS_R10) as *const [u64; 8])
    }
    .unwrap_or([0; 8]);
    [w[7], w[6], w[5], w[0], w[2], w[1]]
}

/// A wait call's return: who was reaped, by which call. waitid reports the child in the
/// siginfo it fills in (user memory), not in its return value.
#[inline(always)]
fn emit_wait(pid_tgid: u64, nr: u32, now: u64, duration: u64, ret: i64, regs: u64) {
    let args = syscall_args(regs);
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
    entry.submit(0);
}

/// Adds one call to the per-CPU aggregate of `nr`.
#[inline(always)]
fn account(nr: u32, duration: u64, failed: u64) {
    let Some(stats) = SYSCALL_STATS.get_ptr_mut(nr) else {
        return;
    };
    let bucket = hist_bucket(duration);
    // SAFETY: per-CPU value, and tracepoint programs run with preemption disabled, so
    // plain read-modify-writes cannot interleave with another writer.
    unsafe {
        (*stats).calls += 1;
        (*stats).errors += failed;
        (*stats).total_ns += duration;
        if duration > (*stats).max_ns {
            (*stats).max_ns = duration;
        }
        if bucket < HIST_BUCKETS {
            (*stats).hist[bucket] += 1;
        }
    }
}

#[inline(always)]
fn emit_slow(pid_tgid: u64, nr: u32, start: u64, duration: u64, ret: i64, regs: u64) {
    let Some(mut entry) = EVENTS.reserve::<SyscallRecord>(0) else {
        lost_record();
        return;
    };
    entry.write(SyscallRecord {
        kind: kind::SYSCALL,
        tid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        nr,
        start_ns: start,
        duration_ns: duration,
        ret,
        args: syscall_args(regs),
    });
    entry.submit(0);
}
