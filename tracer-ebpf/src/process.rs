//! Process lifecycle of targets: new tasks (and, when following, new target processes),
//! exec, exit.
use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
        bpf_probe_read_user_buf,
    },
    macros::{map, raw_tracepoint},
    maps::LruHashMap,
    programs::RawTracePointContext,
};
use tracer_common::{
    kind, ExecRecord, ProcRecord, EXEC_ARGS_MAX, INFLIGHT_NR_NEW_TASK, INFLIGHT_SLOTS,
    PROC_FLAG_GROUP_DEAD, PROC_FLAG_PARENT_NOCLDWAIT, PROC_FLAG_PARENT_SIGCHLD_IGN,
    PROC_FLAG_THREAD, THREAD_RUNQ,
};

use crate::{
    maps::{
        evict, forget_runtime_g, is_target, lost_record, read_kernel_u32, read_kernel_u64,
        set_target, task_ids, EVENTS, FOLLOW, GO_RUNTIMES, HOSTWIDE, INFLIGHT,
    },
    off,
};

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
    let (pid, tgid) = task_ids(child)?;
    let thread = tgid == parent_tgid;
    if !thread {
        if FOLLOW.load() == 0 {
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
            if (*slot).tid != pid {
                evict(&*slot);
            }
            (*slot).tid = pid;
            (*slot).nr = INFLIGHT_NR_NEW_TASK;
            (*slot).start_ns = 0;
            // A new task is runnable until it first runs.
            (*slot).state = THREAD_RUNQ;
            (*slot).throttled = 0;
            (*slot).state_ns = bpf_ktime_get_ns();
            (*slot).runtime_g = 0;
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
    // A new program: its runtime goroutines are not the old one's. (The thread that
    // execs has the process's tid by now; exec ended the others.)
    forget_runtime_g(pid_tgid as u32);
    if !is_target(tgid) {
        // Host-wide mode: the process may run a Go program now; userspace checks.
        if HOSTWIDE.load() != 0 {
            emit(kind::CANDIDATE, pid_tgid as u32, tgid, 0, 0, 0);
        }
        return 0;
    }
    forget_go_layout(tgid);
    emit_exec(pid_tgid as u32, tgid);
    0
}

/// A target runs a new program: the goroutine layout of the old one no longer applies
/// (gotrace sets the new one's once it has read it), but for the layout of the program
/// a launched command is about to exec, which outlives that one exec.
#[inline(always)]
fn forget_go_layout(tgid: u32) {
    let Some(layout) = GO_RUNTIMES.get_ptr_mut(&tgid) else {
        return;
    };
    // SAFETY: a value of the map; only this exec and userspace write it.
    unsafe {
        if (*layout).keep_at_exec != 0 {
            (*layout).keep_at_exec = 0;
            return;
        }
    }
    let _ = GO_RUNTIMES.remove(&tgid);
}

/// The EXEC record, with the new program's argv read from its memory.
#[inline(always)]
fn emit_exec(pid: u32, tgid: u32) {
    let Some(mut entry) = EVENTS.reserve::<ExecRecord>(0) else {
        lost_record();
        return;
    };
    // SAFETY: bpf_get_current_task has no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let mm = read_kernel_u64(task, off!(task_mm)).unwrap_or(0);
    let start = read_kernel_u64(mm, off!(mm_arg_start)).unwrap_or(0);
    let end = read_kernel_u64(mm, off!(mm_arg_end)).unwrap_or(0);
    let total = end.saturating_sub(start);
    let ptr = entry.as_mut_ptr();
    // SAFETY: `ptr` is the reserved record, valid until submit; fields are written one by
    // one, and argv goes straight into the record (it is too large for the BPF stack).
    unsafe {
        (*ptr).kind = kind::EXEC;
        (*ptr).pid = pid;
        (*ptr).tgid = tgid;
        (*ptr).ts_ns = bpf_ktime_get_ns();
        (*ptr).args_total = total;
        (*ptr).comm = bpf_get_current_comm().unwrap_or([0; 16]);
        let n = (total as usize).min(EXEC_ARGS_MAX);
        let args = &mut (*ptr).args;
        let ok = n > 0 && bpf_probe_read_user_buf(start as *const u8, &mut args[..n]).is_ok();
        (*ptr).args_len = if ok { n as u32 } else { 0 };
    }
    entry.submit(crate::maps::prompt_wakeup());
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(ctx: RawTracePointContext) -> i32 {
    // The exiting task is current; TP_PROTO is (struct task_struct *p, bool group_dead)
    // since Linux 6.16 (include/trace/events/sched.h).
    let group_dead = ctx.arg::<u64>(1) & 0xff != 0;
    process_exit(|_, _| group_dead);
    0
}

/// The same for kernels whose sched_process_exit passes only the task (before 6.16):
/// do_exit has already counted this thread out of `signal->live` (kernel/exit.c), so the
/// group is dead once `live` is 0. When a whole group exits at once (exit_group), every
/// thread that reaches the tracepoint after the last decrement sees 0: the first of them
/// is the one reported, the others are found in GROUP_DEAD.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit_live(_ctx: RawTracePointContext) -> i32 {
    process_exit(|task, tgid| {
        let live = read_kernel_u64(task, off!(task_signal))
            .and_then(|signal| read_kernel_u32(signal, off!(signal_live)));
        if live != Some(0) {
            return false;
        }
        let leader = read_kernel_u64(task, off!(task_group_leader)).unwrap_or(0);
        let key = ProcessKey {
            tgid,
            _pad: 0,
            start_ns: read_kernel_u64(leader, off!(task_start_time)).unwrap_or(0),
        };
        // BPF_NOEXIST: only the first thread to get here inserts.
        GROUP_DEAD.insert(&key, &1, 1).is_ok()
    });
    0
}

/// One process for good: its tgid and its leader's start time.
#[repr(C)]
pub struct ProcessKey {
    tgid: u32,
    _pad: u32,
    start_ns: u64,
}

/// Processes whose death was reported (sched_process_exit_live).
#[map]
static GROUP_DEAD: LruHashMap<ProcessKey, u8> = LruHashMap::with_max_entries(4096, 0);

/// An exiting thread; `group_dead(task, tgid)` tells whether it ends its process.
#[inline(always)]
fn process_exit(group_dead: impl FnOnce(u64, u32) -> bool) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let pid = pid_tgid as u32;
    // SAFETY: bpf_get_current_task has no preconditions.
    let task = unsafe { bpf_get_current_task() };
    forget_runtime_g(pid);
    let group_dead = group_dead(task, tgid);
    let target = is_target(tgid);
    if !target && !group_dead {
        return;
    }
    let exit_code = read_kernel_u32(task, off!(task_exit_code)).unwrap_or(0);
    if target {
        let mut flags = if pid != tgid { PROC_FLAG_THREAD } else { 0 };
        if group_dead {
            flags |= PROC_FLAG_GROUP_DEAD;
            // The process is gone: its pid may be reused, so it stops being a target.
            set_target(tgid, false);
        }
        emit(kind::EXIT, pid, tgid, 0, exit_code, flags);
    }
    if group_dead {
        child_exit(task, tgid, exit_code);
    }
}

/// SIGCHLD is what a thread group's death means to its parent: when the parent is a
/// target, report the exit with the parent's SIGCHLD disposition, which decides whether
/// a SIGCHLD is sent at all (kernel/signal.c, do_notify_parent).
#[inline(always)]
fn child_exit(task: u64, tgid: u32, exit_code: u32) -> Option<()> {
    let parent = read_kernel_u64(task, off!(task_real_parent))?;
    let parent_tgid = read_kernel_u32(parent, off!(task_tgid))?;
    if !is_target(parent_tgid) {
        return None;
    }
    let mut flags = 0;
    if let Some(sighand) = read_kernel_u64(parent, off!(task_sighand)) {
        // action[SIGCHLD - 1]
        let action =
            sighand + off!(sighand_action) as u64 + (SIGCHLD - 1) * off!(ksigaction_size) as u64;
        let handler = read_kernel_u64(action, off!(ksigaction_handler)).unwrap_or(0);
        let sa_flags = read_kernel_u64(action, off!(ksigaction_flags)).unwrap_or(0);
        if handler == SIG_IGN {
            flags |= PROC_FLAG_PARENT_SIGCHLD_IGN;
        }
        if sa_flags & SA_NOCLDWAIT != 0 {
            flags |= PROC_FLAG_PARENT_NOCLDWAIT;
        }
    }
    emit(kind::CHILD_EXIT, tgid, tgid, parent_tgid, exit_code, flags);
    Some(())
}

const SIGCHLD: u64 = 17;
/// include/uapi/asm-generic/signal-defs.h
const SIG_IGN: u64 = 1;
const SA_NOCLDWAIT: u64 = 2;

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
    entry.submit(crate::maps::prompt_wakeup());
}
