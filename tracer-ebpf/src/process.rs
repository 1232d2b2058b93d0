//! Process lifecycle of targets: new tasks (and, when following, new target processes),
//! exec, exit.
use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
        bpf_probe_read_kernel,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use tracer_common::{kind, ProcRecord, INFLIGHT_NR_NEW_TASK, INFLIGHT_SLOTS, PROC_FLAG_THREAD};

use crate::maps::{
    global_u32, is_target, lost_record, set_target, EVENTS, FOLLOW, INFLIGHT, TASK_EXIT_CODE_OFF,
    TASK_PID_OFF, TASK_TGID_OFF,
};

/// Reads an i32 field of a task_struct at an offset taken from the kernel's BTF.
#[inline(always)]
fn task_field(task: u64, off: u32) -> Option<u32> {
    // SAFETY: task is a task_struct pointer handed to us by the kernel, and the offset
    // comes from its BTF; bpf_probe_read_kernel checks the access anyway.
    unsafe { bpf_probe_read_kernel((task + off as u64) as *const u32) }.ok()
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    // The forking task is current; TP_PROTO is (struct task_struct *parent,
    // struct task_struct *child), include/trace/events/sched.h.
    let parent_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !is_target(parent_tgid) {
        return 0;
    }
    try_fork(&ctx, parent_tgid).unwrap_or(0)
}

fn try_fork(ctx: &RawTracePointContext, parent_tgid: u32) -> Option<i32> {
    let child: u64 = ctx.arg(1);
    let pid = task_field(child, global_u32(&TASK_PID_OFF))?;
    let tgid = task_field(child, global_u32(&TASK_TGID_OFF))?;
    let thread = tgid == parent_tgid;
    if !thread {
        if global_u32(&FOLLOW) == 0 {
            return None;
        }
        // Marked before the child first runs (this tracepoint fires in the parent, before
        // wake_up_new_task), so none of its syscalls are missed.
        set_target(tgid, true);
    }
    // The new task's first return to user space passes sys_exit with no sys_enter.
    if let Some(slot) = INFLIGHT.get_ptr_mut(pid % INFLIGHT_SLOTS) {
        // SAFETY: points into the INFLIGHT array; the child has not run yet.
        unsafe {
            (*slot).tid = pid;
            (*slot).nr = INFLIGHT_NR_NEW_TASK;
            (*slot).start_ns = 0;
        }
    }
    emit(
        kind::FORK,
        pid,
        tgid,
        parent_tgid,
        0,
        if thread { PROC_FLAG_THREAD } else { 0 },
    );
    Some(0)
}

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(_ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if !is_target(tgid) {
        return 0;
    }
    emit(kind::EXEC, pid_tgid as u32, tgid, 0, 0, 0);
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if !is_target(tgid) {
        return 0;
    }
    let pid = pid_tgid as u32;
    // SAFETY: bpf_get_current_task has no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let exit_code = task_field(task, global_u32(&TASK_EXIT_CODE_OFF)).unwrap_or(0);
    let thread = pid != tgid;
    emit(
        kind::EXIT,
        pid,
        tgid,
        0,
        exit_code,
        if thread { PROC_FLAG_THREAD } else { 0 },
    );
    if !thread {
        // The group leader is gone: its pid may be reused, so it stops being a target.
        set_target(tgid, false);
    }
    0
}

#[inline(always)]
fn emit(kind: u32, pid: u32, tgid: u32, parent_tgid: u32, exit_code: u32, flags: u32) {
    let Some(mut entry) = EVENTS.reserve::<ProcRecord>(0) else {
        lost_record();
        return;
    };
    entry.write(ProcRecord {
        kind,
        pid,
        tgid,
        parent_tgid,
        // SAFETY: no preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        exit_code,
        flags,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    });
    entry.submit(0);
}
