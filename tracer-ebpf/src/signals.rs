//! Signals sent by or to targets: signal_generate (with its result: delivered, ignored,
//! already pending = coalesced, ...) and signal_deliver. Signals are rare next to
//! syscalls, so each is a record; userspace builds the SIGCHLD lifecycle from them.
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use tracer_common::{handler, kind, SignalRecord};

use crate::{
    maps::{is_target, lost_record, read_kernel_u32, read_kernel_u64, task_ids, EVENTS},
    off,
};

/// The fields of a kernel_siginfo that matter here. Its layout is the ABI's
/// (include/uapi/asm-generic/siginfo.h): si_signo, si_errno, si_code, then the union at 16
/// whose _kill/_sigchld members start with si_pid (16), si_uid (20), and for SIGCHLD
/// si_status (24).
#[inline(always)]
fn siginfo(info: u64) -> (i32, u32, i32) {
    // SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are not pointers.
    if info <= 1 {
        return (0, 0, 0);
    }
    let code = read_kernel_u32(info, 8).unwrap_or(0) as i32;
    let pid = read_kernel_u32(info, 16).unwrap_or(0);
    let status = read_kernel_u32(info, 24).unwrap_or(0) as i32;
    (code, pid, status)
}

#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn signal_generate(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
    // int result), in the sender's context.
    let pid_tgid = bpf_get_current_pid_tgid();
    let sender_tgid = (pid_tgid >> 32) as u32;
    let task: u64 = ctx.arg(2);
    let Some((target_pid, target_tgid)) = task_ids(task) else {
        return 0;
    };
    if !is_target(sender_tgid) && !is_target(target_tgid) {
        return 0;
    }
    let (si_code, si_pid, si_status) = siginfo(ctx.arg(1));
    emit(SignalRecord {
        kind: kind::SIGNAL_GENERATE,
        sig: ctx.arg::<u64>(0) as u32,
        result: ctx.arg::<u64>(4) as i32,
        handler: 0,
        sender_pid: pid_tgid as u32,
        sender_tgid,
        target_pid,
        target_tgid,
        group: (ctx.arg::<u64>(3) as u32 != 0) as u32,
        si_code,
        si_pid,
        si_status,
        // SAFETY: no preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    });
    0
}

#[raw_tracepoint(tracepoint = "signal_deliver")]
pub fn signal_deliver(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(int sig, struct kernel_siginfo *info, struct k_sigaction *ka), in the
    // receiving thread's context.
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if !is_target(tgid) {
        return 0;
    }
    let (si_code, si_pid, si_status) = siginfo(ctx.arg(1));
    let ka: u64 = ctx.arg(2);
    let h = match read_kernel_u64(ka, off!(ksigaction_handler)) {
        Some(0) => handler::DEFAULT,
        Some(1) => handler::IGNORE,
        _ => handler::FUNCTION,
    };
    emit(SignalRecord {
        kind: kind::SIGNAL_DELIVER,
        sig: ctx.arg::<u64>(0) as u32,
        result: 0,
        handler: h,
        sender_pid: si_pid,
        sender_tgid: 0,
        target_pid: pid_tgid as u32,
        target_tgid: tgid,
        group: 0,
        si_code,
        si_pid,
        si_status,
        // SAFETY: no preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    });
    0
}

#[inline(always)]
fn emit(rec: SignalRecord) {
    match EVENTS.reserve::<SignalRecord>(0) {
        Some(mut entry) => {
            entry.write(rec);
            entry.submit(crate::maps::prompt_wakeup());
        }
        None => lost_record(),
    }
}
