//! Wire types shared by the eBPF programs and userspace.
//!
//! Everything here is `#[repr(C)]` with fixed-width fields and explicit padding, so that
//! the kernel side and userspace agree on layout byte for byte. Flags are `u32`, never
//! `bool`. Map, program and global names are constants: userspace never repeats a string
//! literal.
#![no_std]

/// Names of the maps, as userspace looks them up.
pub mod maps {
    /// Per-CPU array of [`crate::SyscallStats`], indexed by syscall number.
    pub const SYSCALL_STATS: &str = "SYSCALL_STATS";
    /// Ring buffer of records ([`crate::SyscallRecord`], [`crate::ProcRecord`]).
    pub const EVENTS: &str = "EVENTS";
    /// Array of `u64` words: the bitmap of target tgids (bit `tgid % 64` of word `tgid / 64`).
    pub const TARGETS: &str = "TARGETS";
    /// Array of [`crate::Inflight`], indexed by `tid % INFLIGHT_SLOTS`.
    pub const INFLIGHT: &str = "INFLIGHT";
    /// Per-CPU array of `u64` counters, indexed by the `COUNTER_*` constants.
    pub const COUNTERS: &str = "COUNTERS";
    /// Hash of tid -> [`crate::ThreadStats`].
    pub const THREAD_STATS: &str = "THREAD_STATS";
    /// Per-CPU hash of [`crate::CauseKey`] -> [`crate::CauseStats`].
    pub const CAUSES: &str = "CAUSES";
    /// Per-CPU array of [`crate::CauseFront`], [`crate::CAUSE_FRONT_SLOTS`] entries: when
    /// not host-wide, a blocked call's cause is added here if its entry
    /// ([`crate::cause_front_slot`]) holds that cause or none yet (an array access, no
    /// hash), else to CAUSES. An entry, once taken, is never given to another cause, so
    /// a reader sums both maps and counts each call once.
    pub const CAUSE_FRONT: &str = "CAUSE_FRONT";
    /// Per-CPU array of [`crate::EpollFront`], [`crate::EPOLL_FRONT_SLOTS`] entries, in
    /// front of EPOLL when not host-wide, as CAUSE_FRONT is in front of CAUSES (entry:
    /// [`crate::epoll_front_slot`]).
    pub const EPOLL_FRONT: &str = "EPOLL_FRONT";
    /// Hash of [`crate::PollKey`] (tgid, epoll fd) -> [`crate::EpollStats`].
    pub const EPOLL: &str = "EPOLL";
    /// Hash of [`crate::PollKey`] (tgid, eventfd) -> u64 writes (netpoll wakeups in Go).
    pub const EVENTFDS: &str = "EVENTFDS";
    /// Hash of io_ring_ctx pointer -> [`crate::UringCtx`], for rings of targets.
    pub const URING_CTX: &str = "URING_CTX";
    /// Hash of a request (its io_kiocb pointer, or its user_data where the kernel
    /// completes without naming the io_kiocb) -> [`crate::UringReq`]: submitted, not yet
    /// completed.
    pub const URING_REQS: &str = "URING_REQS";
    /// Hash of [`crate::PollKey`] (tgid, opcode) -> [`crate::UringOpStats`].
    pub const URING_OPS: &str = "URING_OPS";
    /// Hash of tgid -> [`crate::GoRuntime`]: the targets known to be Go programs of a
    /// version whose `runtime.g` layout gotrace knows.
    pub const GO_RUNTIMES: &str = "GO_RUNTIMES";
    /// Hash of [`crate::ProcSyscallKey`] (tgid, syscall, CPU) -> [`crate::ProcStats`]:
    /// the per-process aggregates of host-wide mode (`HOSTWIDE`), one entry per CPU the
    /// process made the call on (each written by its CPU only); readers sum the CPUs.
    pub const PROC_SYSCALLS: &str = "PROC_SYSCALLS";
    /// Array of [`crate::ProcFront`], `PROC_FRONT_SLOTS` (the global) entries per CPU,
    /// CPU `c`'s at `c * PROC_FRONT_SLOTS`, mappable: in host-wide mode a call is added
    /// to its process's entry here when one of its set ([`crate::proc_front_set`]) holds
    /// its (process, syscall), else to PROC_SYSCALLS; a free entry of the set is taken
    /// once the (process, syscall) is busy ([`crate::PROC_FRONT_BURST_CALLS`]). An entry
    /// is taken by its CPU's programs and released only by userspace, once its process
    /// is forgotten; a reader sums both maps and counts each call once.
    pub const PROC_FRONT: &str = "PROC_FRONT";
    /// Program array of one entry: [`crate::programs::SYS_EXIT_DETAIL`], which sys_exit
    /// tail-calls. Two programs verify in far fewer steps than one: the verifier follows
    /// each path through the first part into the second, and a tail call starts afresh.
    pub const EXIT_DETAIL: &str = "EXIT_DETAIL";
}

/// Names of the programs, as userspace loads them: each is the name of its function in
/// tracer-ebpf (the program macros take no other name), and a test in the tracer crate
/// checks that the object has exactly these programs.
pub mod programs {
    /// raw_tp sys_enter: the start of a target's syscall.
    pub const SYS_ENTER: &str = "sys_enter";
    /// raw_tp sys_exit: its end and the aggregates.
    pub const SYS_EXIT: &str = "sys_exit";
    /// sys_exit's tail call (not attached: loaded into [`crate::maps::EXIT_DETAIL`]) for
    /// a call that blocked, was slow, or is a wait or poller call: its cause, its record,
    /// the poller's figures.
    pub const SYS_EXIT_DETAIL: &str = "sys_exit_detail";
    /// raw_tp sched_switch, reading `prev_state` from its argument (Linux 5.18+).
    pub const SCHED_SWITCH: &str = "sched_switch";
    /// raw_tp sched_switch, reading `prev_state` from the task (older kernels).
    pub const SCHED_SWITCH_STATE: &str = "sched_switch_state";
    /// raw_tp sched_wakeup.
    pub const SCHED_WAKEUP: &str = "sched_wakeup";
    /// raw_tp sched_wakeup_new.
    pub const SCHED_WAKEUP_NEW: &str = "sched_wakeup_new";
    /// raw_tp sched_process_fork.
    pub const SCHED_PROCESS_FORK: &str = "sched_process_fork";
    /// raw_tp sched_process_exec.
    pub const SCHED_PROCESS_EXEC: &str = "sched_process_exec";
    /// raw_tp sched_process_exit, reading its `group_dead` argument (Linux 6.16+).
    pub const SCHED_PROCESS_EXIT: &str = "sched_process_exit";
    /// raw_tp sched_process_exit, telling group death from `signal->live`.
    pub const SCHED_PROCESS_EXIT_LIVE: &str = "sched_process_exit_live";
    /// raw_tp signal_generate.
    pub const SIGNAL_GENERATE: &str = "signal_generate";
    /// raw_tp signal_deliver.
    pub const SIGNAL_DELIVER: &str = "signal_deliver";
    /// raw_tp io_uring_create.
    pub const IO_URING_CREATE: &str = "io_uring_create";
    /// raw_tp io_uring_submit_req, or io_uring_submit_sqe where it passes the io_kiocb.
    pub const IO_URING_SUBMIT_REQ: &str = "io_uring_submit_req";
    /// raw_tp io_uring_submit_sqe where it passes the user_data (5.15).
    pub const IO_URING_SUBMIT_SQE_USER_DATA: &str = "io_uring_submit_sqe_user_data";
    /// raw_tp io_uring_complete, reading the result from the cqe.
    pub const IO_URING_COMPLETE: &str = "io_uring_complete";
    /// raw_tp io_uring_complete, reading its `res` argument.
    pub const IO_URING_COMPLETE_RES: &str = "io_uring_complete_res";
    /// raw_tp io_uring_complete, naming requests by user_data (5.15).
    pub const IO_URING_COMPLETE_USER_DATA: &str = "io_uring_complete_user_data";
    /// An empty program on sys_enter, for benchmarks (never attached by gotrace).
    pub const FLOOR_ENTER: &str = "floor_enter";
    /// An empty program on sys_exit, for benchmarks.
    pub const FLOOR_EXIT: &str = "floor_exit";
    /// [`FLOOR_ENTER`] plus one clock read.
    pub const FLOOR_CLOCK_ENTER: &str = "floor_clock_enter";
    /// [`FLOOR_EXIT`] plus one clock read.
    pub const FLOOR_CLOCK_EXIT: &str = "floor_clock_exit";

    /// Every program in the object.
    pub const ALL: [&str; 23] = [
        SYS_ENTER,
        SYS_EXIT,
        SYS_EXIT_DETAIL,
        SCHED_SWITCH,
        SCHED_SWITCH_STATE,
        SCHED_WAKEUP,
        SCHED_WAKEUP_NEW,
        SCHED_PROCESS_FORK,
        SCHED_PROCESS_EXEC,
        SCHED_PROCESS_EXIT,
        SCHED_PROCESS_EXIT_LIVE,
        SIGNAL_GENERATE,
        SIGNAL_DELIVER,
        IO_URING_CREATE,
        IO_URING_SUBMIT_REQ,
        IO_URING_SUBMIT_SQE_USER_DATA,
        IO_URING_COMPLETE,
        IO_URING_COMPLETE_RES,
        IO_URING_COMPLETE_USER_DATA,
        FLOOR_ENTER,
        FLOOR_EXIT,
        FLOOR_CLOCK_ENTER,
        FLOOR_CLOCK_EXIT,
    ];
}

/// Names of the read-only globals userspace sets before load: each is the name of an
/// `aya_ebpf::Global` static in tracer-ebpf (its symbol), checked by a test in the tracer
/// crate.
pub mod globals {
    /// `u64`: syscalls at least this long (ns) are streamed as records.
    pub const SLOW_NS: &str = "SLOW_NS";
    /// `u32`: non-zero when children of targets become targets.
    pub const FOLLOW: &str = "FOLLOW";
    /// `u32`: non-zero to stream idle waits too (parked threads' futex waits without a
    /// timeout, the Go runtime's waits for work on g0); by default they are only
    /// aggregated.
    pub const STREAM_IDLE: &str = "STREAM_IDLE";
    /// [`crate::KernelOffsets`]: where the programs find kernel struct fields.
    pub const OFFSETS: &str = "OFFSETS";
    /// [`crate::UringOffsets`].
    pub const URING_OFFSETS: &str = "URING_OFFSETS";
    /// `u64`: streamed calls at least this long (ns) carry their user stack (`u64::MAX`:
    /// none do).
    pub const STACK_MIN_NS: &str = "STACK_MIN_NS";
    /// `u32`: non-zero in host-wide mode (`--all`): syscall aggregates are kept per
    /// process (PROC_SYSCALLS), and an exec by a process that is not a target is
    /// reported (`kind::CANDIDATE`), so userspace can tell whether it now runs Go.
    pub const HOSTWIDE: &str = "HOSTWIDE";
    /// `u64`: a slow call's record wakes userspace only once this many bytes wait in the
    /// ring buffer (0: every record wakes it); userspace drains it on a timer too
    /// (EventReader). A wake-up per record cost the traced server's threads and gotrace
    /// tens of µs each.
    pub const WAKE_BYTES: &str = "WAKE_BYTES";
    /// `u32`: PROC_FRONT's entries per CPU (a power of two; 0 when not host-wide).
    pub const PROC_FRONT_SLOTS: &str = "PROC_FRONT_SLOTS";

    /// Every global userspace sets.
    pub const ALL: [&str; 9] = [
        SLOW_NS,
        FOLLOW,
        STREAM_IDLE,
        OFFSETS,
        URING_OFFSETS,
        STACK_MIN_NS,
        HOSTWIDE,
        WAKE_BYTES,
        PROC_FRONT_SLOTS,
    ];
}

/// Syscall numbers covered by the per-syscall maps (x86_64 uses < 512).
pub const MAX_SYSCALLS: u32 = 512;

/// Largest pid the target bitmap covers (the kernel's PID_MAX_LIMIT on 64-bit).
pub const MAX_PID: u32 = 4 * 1024 * 1024;
/// Words in the target bitmap.
pub const TARGET_WORDS: u32 = MAX_PID / 64;

/// Byte offsets of the kernel struct fields the programs read, from the running kernel's
/// BTF (Rust eBPF gets no CO-RE relocations). 0 where a field does not exist; the
/// programs check the `*_mode` fields before using optional ones.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_exit_code: u32,
    pub task_real_parent: u32,
    pub task_sighand: u32,
    pub sighand_action: u32,
    pub ksigaction_size: u32,
    pub ksigaction_handler: u32,
    pub ksigaction_flags: u32,
    /// task_struct.files -> files_struct.fdt -> fdtable.{max_fds, fd}
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    /// file.f_inode -> inode.{i_mode, i_sb} -> super_block.s_dev
    pub file_inode: u32,
    pub inode_mode: u32,
    pub inode_sb: u32,
    pub sb_dev: u32,
    /// task_struct.fs -> fs_struct.pwd.dentry -> dentry.d_sb
    pub task_fs: u32,
    pub fs_pwd_dentry: u32,
    pub dentry_sb: u32,
    /// How to tell a throttled task: THROTTLE_* below.
    pub throttle_mode: u32,
    /// THROTTLE_TASK: task_struct.throttled (bool).
    pub task_throttled: u32,
    /// THROTTLE_CFS_RQ: task_struct.se.cfs_rq -> cfs_rq.throttle_count.
    pub task_se_cfs_rq: u32,
    pub cfs_rq_throttle_count: u32,
    /// task_struct.mm -> mm_struct.{arg_start, arg_end}: a new program's argv.
    pub task_mm: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// mm_struct.exe_file: the program an execve loaded.
    pub mm_exe_file: u32,
    /// task_struct.signal -> signal_struct.live: threads not yet exiting. Kernels whose
    /// sched_process_exit passes no `group_dead` tell the last thread by `live == 0`.
    pub task_signal: u32,
    pub signal_live: u32,
    /// task_struct.group_leader -> task_struct.start_time: with the tgid, names one
    /// process for good (a tgid alone is reused).
    pub task_group_leader: u32,
    pub task_start_time: u32,
    /// task_struct.__state: kernels whose sched_switch passes no `prev_state` (< 5.18).
    pub task_state: u32,
    /// task_struct.thread.fsbase (x86_64): a thread's TLS base, where a Go thread keeps
    /// its current goroutine (`g` at fsbase - 8).
    pub task_fsbase: u32,
}

/// Offsets for io_uring (0 when the kernel has no io_uring).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringOffsets {
    /// io_kiocb.ctx
    pub req_ctx: u32,
    /// io_kiocb.opcode (u8)
    pub req_opcode: u32,
    /// io_uring_cqe.res (i32)
    pub cqe_res: u32,
    pub _pad: u32,
}

/// Throttling cannot be told (no CFS group scheduling in BTF).
pub const THROTTLE_UNKNOWN: u32 = 0;
/// Task-based throttling (Linux 6.18+): a throttled task has task_struct.throttled set
/// when it is switched out on its way back to user space.
pub const THROTTLE_TASK: u32 = 1;
/// Older kernels: the task's cfs_rq (or an ancestor) is throttled: throttle_count > 0.
pub const THROTTLE_CFS_RQ: u32 = 2;

/// Slots of in-flight syscall state. Threads whose tids collide modulo this are detected
/// (the slot stores the tid) and counted, never mixed up: a call whose slot another
/// thread took is a slot collision, not an unmatched exit.
pub const INFLIGHT_SLOTS: u32 = 32768;

/// `Inflight::nr` of a slot that expects a return without an entry: a new task's first
/// return to user space (from fork/clone, or gotrace's own pre-exec wait) passes
/// sys_exit without having passed sys_enter. Such a return is not a call to count.
pub const INFLIGHT_NR_NEW_TASK: u32 = u32::MAX;

/// Counter indices in the COUNTERS map.
pub const COUNTER_LOST_RECORDS: u32 = 0;
/// A syscall exit with no matching entry: the call began before tracing did.
pub const COUNTER_UNMATCHED_EXITS: u32 = 1;
/// A call lost because another thread (its tid equal modulo INFLIGHT_SLOTS) took its
/// in-flight slot while it was in it: it is neither counted nor streamed.
pub const COUNTER_SLOT_COLLISIONS: u32 = 2;
/// A thread whose run-queue time found no room in THREAD_STATS (its time is lost).
pub const COUNTER_THREADS_UNTRACKED: u32 = 3;
/// A call of a process that found no room in PROC_SYSCALLS (host-wide mode): it is not
/// counted.
pub const COUNTER_PROC_STATS_FULL: u32 = 4;
/// Number of counters.
pub const NUM_COUNTERS: u32 = 5;

/// Record kinds: the first `u32` of every ring-buffer record.
pub mod kind {
    /// [`crate::SyscallRecord`]
    pub const SYSCALL: u32 = 1;
    /// [`crate::ProcRecord`]: a new task (process or thread) of a target.
    pub const FORK: u32 = 2;
    /// [`crate::ExecRecord`]: a target task called execve successfully.
    pub const EXEC: u32 = 3;
    /// [`crate::ProcRecord`]: a target task exited.
    pub const EXIT: u32 = 4;
    /// [`crate::ProcRecord`]: a child of a target exited (its whole thread group).
    pub const CHILD_EXIT: u32 = 5;
    /// [`crate::SignalRecord`]: a signal was generated by or for a target.
    pub const SIGNAL_GENERATE: u32 = 6;
    /// [`crate::SignalRecord`]: a signal was delivered to a target thread.
    pub const SIGNAL_DELIVER: u32 = 7;
    /// [`crate::WaitRecord`]: a target returned from wait4 or waitid.
    pub const WAIT: u32 = 8;
    /// [`crate::EpollCtlRecord`]: a target registered, changed or removed an fd.
    pub const EPOLL_CTL: u32 = 9;
    /// [`crate::ProcRecord`]-shaped: a target created an eventfd (pid = tgid, exit_code = fd).
    pub const EVENTFD: u32 = 10;
    /// [`crate::ProcRecord`]: host-wide mode only: a process that is not a target
    /// called execve successfully (it may now run a Go program).
    pub const CANDIDATE: u32 = 11;
}

/// Flags of a [`ProcRecord`].
pub const PROC_FLAG_THREAD: u32 = 1;
/// EXIT: the last task of the thread group (the process is gone).
pub const PROC_FLAG_GROUP_DEAD: u32 = 2;
/// CHILD_EXIT: the parent's SIGCHLD handler is SIG_IGN (the child is reaped by the kernel
/// and no SIGCHLD is sent, kernel/signal.c do_notify_parent).
pub const PROC_FLAG_PARENT_SIGCHLD_IGN: u32 = 4;
/// CHILD_EXIT: the parent's SIGCHLD has SA_NOCLDWAIT (auto-reaped, SIGCHLD still sent).
pub const PROC_FLAG_PARENT_NOCLDWAIT: u32 = 8;

/// x86_64 numbers of the wait calls whose returns are streamed.
pub const NR_WAIT4: u32 = nr::WAIT4;
/// See [`NR_WAIT4`].
pub const NR_WAITID: u32 = nr::WAITID;

/// signal_generate results (include/trace/events/signal.h, enum trace_signal_result).
pub mod signal_result {
    pub const DELIVERED: i32 = 0;
    pub const IGNORED: i32 = 1;
    pub const ALREADY_PENDING: i32 = 2;
    pub const OVERFLOW_FAIL: i32 = 3;
    pub const LOSE_INFO: i32 = 4;
}

/// SignalRecord::handler for deliveries.
pub mod handler {
    pub const DEFAULT: u32 = 0;
    pub const IGNORE: u32 = 1;
    pub const FUNCTION: u32 = 2;
}

/// `exit` and `exit_group` never return, so they are counted at entry (x86_64 numbers).
pub const NR_EXIT: u32 = 60;
/// See [`NR_EXIT`].
pub const NR_EXIT_GROUP: u32 = 231;

// ---------------------------------------------------------------------------------------
// Latency histogram: log2 with 4 linear sub-buckets per power of two.
//
// Values 0..=3 get their own bucket. A value v >= 4 with most significant bit m (m >= 2)
// lands in bucket 4*(m-1) + the two bits below the msb, so each power of two is split
// in four and a bucket's width is at most 25% of its lower bound. Values of 2^40 ns
// (about 18 minutes) and more share the last bucket.
// ---------------------------------------------------------------------------------------

/// Highest most-significant-bit with buckets of its own.
pub const HIST_MAX_MSB: u32 = 39;
/// Number of histogram buckets: 4 per power of two up to 2^40, then one open-ended.
pub const HIST_BUCKETS: usize = 4 * HIST_MAX_MSB as usize + 1;

/// Index of the most significant set bit of `v` (`v` must be non-zero).
///
/// A binary search rather than `leading_zeros`, which the BPF backend expands into a
/// long bit-smearing sequence.
#[inline(always)]
pub fn msb(mut v: u64) -> u32 {
    let mut r = 0;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        r += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        r += 2;
    }
    if v >= 1 << 1 {
        r += 1;
    }
    r
}

/// Histogram bucket of a duration in ns.
#[inline(always)]
pub fn hist_bucket(v: u64) -> usize {
    if v < 4 {
        return v as usize;
    }
    let m = msb(v);
    if m > HIST_MAX_MSB {
        return HIST_BUCKETS - 1;
    }
    let sub = (v >> (m - 2)) & 3;
    (4 * (m - 1) + sub as u32) as usize
}

/// Smallest value that lands in bucket `idx`.
pub fn hist_bucket_low(idx: usize) -> u64 {
    if idx < 4 {
        return idx as u64;
    }
    let m = (idx / 4) as u32 + 1;
    let sub = (idx % 4) as u64;
    (4 + sub) << (m - 2)
}

/// Largest value that lands in bucket `idx` (the last bucket is open-ended).
pub fn hist_bucket_high(idx: usize) -> u64 {
    if idx + 1 >= HIST_BUCKETS {
        return u64::MAX;
    }
    hist_bucket_low(idx + 1) - 1
}

// ---------------------------------------------------------------------------------------
// Maps' values
// ---------------------------------------------------------------------------------------

/// Aggregate of one syscall number on one CPU. Updated for every call of a target.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SyscallStats {
    pub calls: u64,
    /// Returns in -4095..=-1 (the kernel's error range).
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// The split of total_ns: on a CPU, runnable but waiting for one (and of that, while
    /// the cgroup was throttled), and asleep.
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
    pub blocked_ns: u64,
    pub hist: [u64; HIST_BUCKETS],
}

impl SyscallStats {
    pub const ZERO: SyscallStats = SyscallStats {
        calls: 0,
        errors: 0,
        total_ns: 0,
        max_ns: 0,
        on_cpu_ns: 0,
        runq_ns: 0,
        runq_throttled_ns: 0,
        blocked_ns: 0,
        hist: [0; HIST_BUCKETS],
    };
}

/// A target thread's state: the syscall it is in, and where its time goes meanwhile.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Inflight {
    /// The owning thread; 0 when the slot was never used.
    pub tid: u32,
    /// The syscall in progress, or INFLIGHT_NR_NONE / INFLIGHT_NR_NEW_TASK.
    pub nr: u32,
    pub start_ns: u64,
    /// THREAD_RUNNING, THREAD_RUNQ or THREAD_BLOCKED, since `state_ns`.
    pub state: u32,
    /// The current run-queue wait is due to cgroup throttling.
    pub throttled: u32,
    pub state_ns: u64,
    /// Within the current syscall.
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
    pub blocked_ns: u64,
    /// The goroutine of the call that started at `goid_start_ns`, taken when it first
    /// blocked (for a Go target): its `goid`, and a `gkind::*`. A slot whose
    /// `goid_start_ns` is not `start_ns` holds no goroutine for the current call (it is
    /// not reset at each entry, which would cost every call a store).
    pub goid_start_ns: u64,
    pub goid: u64,
    pub gkind: u32,
    /// The thread `runtime_g` was read on: it holds only for that thread (a colliding
    /// tid taking the slot while it was being read cannot inherit it).
    pub runtime_g_tid: u32,
    /// The runtime goroutine (g0 or gsignal: goid 0) this thread was last seen on, once
    /// read; 0 if none yet. A call made on it is the runtime's without reading its goid
    /// or looking the process's layout up: most of a Go program's waits are its
    /// runtime's (idle Ms, the netpoller, sysmon). Reset when the slot changes hands, at
    /// the thread's creation, at any exec and when the thread exits (traced or not: a
    /// reused tid must not inherit it).
    pub runtime_g: u64,
    /// The class and device sys_exit_detail found for the returning call, written and
    /// read back at once: the verifier follows each constant `classify` can return as a
    /// path of its own through all that follows, and a value read from a map is one
    /// unknown value (without it, the verifier went through 21,500 instructions of
    /// sys_exit_detail, not 17,300).
    pub exit_class: u32,
    pub exit_dev: u32,
    /// What sys_exit hands to sys_exit_detail, its tail call, for a call that blocked, was
    /// slow, or is a wait or poller call: the syscall and when it returned (the rest of
    /// the call is in the fields above, and its result in the tracepoint's arguments).
    pub exit_ns: u64,
    pub exit_nr: u32,
    pub _pad_nr: u32,
    /// Slots are written on every syscall by the CPU the thread runs on. The map's values
    /// are only 8-byte aligned, so 64 bytes of state could share a cache line with the
    /// next thread's slot and bounce between CPUs on every call (measured: +150 ns per
    /// syscall). 128 bytes keep each slot's line its own.
    pub _pad: [u64; 1],
}

/// Who made a call, in a Go program (`gkind` of records and in-flight slots).
pub mod gkind {
    /// Not known: not a Go program, a Go version whose layout gotrace does not know, or
    /// the goroutine could not be read.
    pub const UNKNOWN: u32 = 0;
    /// A goroutine of the program, `goid` set.
    pub const GOROUTINE: u32 = 1;
    /// The Go runtime on a thread's g0 (scheduler, netpoller, sysmon) or signal stack.
    pub const RUNTIME: u32 = 2;
}

/// GO_RUNTIMES value: where a Go version keeps what the programs read, only the goid (the
/// runtime's own goroutines, a thread's g0 and gsignal, have goid 0: nothing else is
/// needed to tell them apart).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoRuntime {
    /// Offset of `goid` in `runtime.g`.
    pub g_goid: u32,
    /// Nonzero: the layout is the program a launched command is about to exec, and
    /// outlives that one exec (which clears the flag). Else an exec of the process
    /// removes it at once: the new program's layout is not the old one's, and gotrace
    /// sets it once it has read the new program.
    pub keep_at_exec: u32,
}

/// `Inflight::nr` of a thread not in a syscall.
pub const INFLIGHT_NR_NONE: u32 = u32::MAX - 1;
/// Thread states.
pub const THREAD_RUNNING: u32 = 0;
pub const THREAD_RUNQ: u32 = 1;
pub const THREAD_BLOCKED: u32 = 2;

/// Run-queue time of a thread outside syscalls (THREAD_STATS map, keyed by tid).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ThreadStats {
    pub tgid: u32,
    pub _pad: u32,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
}

/// What a syscall that blocked was waiting on (CAUSES map key, and slow records).
pub mod class {
    /// Did not block (or not classified).
    pub const NONE: u32 = 0;
    /// A file on the filesystem with device `dev`.
    pub const FS: u32 = 1;
    /// A path-based call that failed or gave no device: `dev` is the cwd's filesystem.
    pub const FS_CWD: u32 = 2;
    pub const PIPE: u32 = 3;
    pub const SOCKET: u32 = 4;
    /// A character device (tty, /dev/null, ...).
    pub const DEVICE: u32 = 5;
    pub const FUTEX: u32 = 6;
    /// FUTEX_WAIT without a timeout: a parked thread (for Go, an idle M).
    pub const FUTEX_IDLE: u32 = 7;
    /// epoll/poll/select.
    pub const NETPOLL: u32 = 8;
    pub const CHILD_WAIT: u32 = 9;
    /// nanosleep (for Go, the runtime's own usleep).
    pub const NANOSLEEP: u32 = 10;
    /// clock_nanosleep.
    pub const SLEEP: u32 = 11;
    pub const OTHER: u32 = 12;
}

/// x86_64 syscall numbers gotrace classifies (arch/x86/entry/syscalls/syscall_64.tbl).
pub mod nr {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const OPEN: u32 = 2;
    pub const STAT: u32 = 4;
    pub const FSTAT: u32 = 5;
    pub const LSTAT: u32 = 6;
    pub const POLL: u32 = 7;
    pub const LSEEK: u32 = 8;
    pub const IOCTL: u32 = 16;
    pub const PREAD64: u32 = 17;
    pub const PWRITE64: u32 = 18;
    pub const READV: u32 = 19;
    pub const WRITEV: u32 = 20;
    pub const ACCESS: u32 = 21;
    pub const SELECT: u32 = 23;
    pub const NANOSLEEP: u32 = 35;
    pub const SENDFILE: u32 = 40;
    pub const WAIT4: u32 = 61;
    pub const FLOCK: u32 = 73;
    pub const FSYNC: u32 = 74;
    pub const FDATASYNC: u32 = 75;
    pub const TRUNCATE: u32 = 76;
    pub const FTRUNCATE: u32 = 77;
    pub const GETDENTS: u32 = 78;
    pub const CHDIR: u32 = 80;
    pub const RENAME: u32 = 82;
    pub const MKDIR: u32 = 83;
    pub const RMDIR: u32 = 84;
    pub const CREAT: u32 = 85;
    pub const LINK: u32 = 86;
    pub const UNLINK: u32 = 87;
    pub const SYMLINK: u32 = 88;
    pub const READLINK: u32 = 89;
    pub const CHMOD: u32 = 90;
    pub const CHOWN: u32 = 92;
    pub const FUTEX: u32 = 202;
    pub const GETDENTS64: u32 = 217;
    pub const CLOCK_NANOSLEEP: u32 = 230;
    pub const EPOLL_WAIT: u32 = 232;
    pub const WAITID: u32 = 247;
    pub const OPENAT: u32 = 257;
    pub const MKDIRAT: u32 = 258;
    pub const NEWFSTATAT: u32 = 262;
    pub const UNLINKAT: u32 = 263;
    pub const RENAMEAT: u32 = 264;
    pub const READLINKAT: u32 = 267;
    pub const FCHMODAT: u32 = 268;
    pub const FACCESSAT: u32 = 269;
    pub const PSELECT6: u32 = 270;
    pub const PPOLL: u32 = 271;
    pub const SPLICE: u32 = 275;
    pub const SYNC_FILE_RANGE: u32 = 277;
    pub const UTIMENSAT: u32 = 280;
    pub const EPOLL_PWAIT: u32 = 281;
    pub const FALLOCATE: u32 = 285;
    pub const PREADV: u32 = 295;
    pub const PWRITEV: u32 = 296;
    pub const RENAMEAT2: u32 = 316;
    pub const COPY_FILE_RANGE: u32 = 326;
    pub const PREADV2: u32 = 327;
    pub const PWRITEV2: u32 = 328;
    pub const STATX: u32 = 332;
    pub const OPENAT2: u32 = 437;
    pub const FACCESSAT2: u32 = 439;
    pub const EPOLL_PWAIT2: u32 = 441;
    pub const FUTEX_WAITV: u32 = 449;
    pub const FUTEX_WAIT: u32 = 455;
    pub const EXECVE: u32 = 59;
    pub const EXECVEAT: u32 = 322;
}

/// What a syscall can wait on, as far as its number tells: the kernel classifies a
/// returning call by it, and gotrace a call still in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waits {
    /// futex(2): a lock, a condition, or (see [`futex_parks`]) a parked thread.
    Futex,
    /// epoll, poll and select.
    Poll,
    /// wait4 and waitid.
    Child,
    /// nanosleep (for Go, the runtime's own usleep).
    Nanosleep,
    /// clock_nanosleep.
    Sleep,
    /// I/O on the file descriptor in the first argument.
    Fd,
    /// execve, execveat: loading a program (its file, once it returns).
    Exec,
    /// open: the new descriptor names the file.
    Open,
    /// stat, lstat, newfstatat: the `struct stat` buffer is this argument.
    Stat(u8),
    /// statx: the buffer is the fifth argument.
    Statx,
    /// Another call on a path.
    Path,
    Other,
}

/// See [`Waits`].
#[inline(always)]
pub fn waits_on(n: u32) -> Waits {
    use nr::*;
    match n {
        FUTEX | FUTEX_WAITV | FUTEX_WAIT => Waits::Futex,
        EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 | POLL | PPOLL | SELECT | PSELECT6 => Waits::Poll,
        WAIT4 | WAITID => Waits::Child,
        NANOSLEEP => Waits::Nanosleep,
        CLOCK_NANOSLEEP => Waits::Sleep,
        READ | WRITE | PREAD64 | PWRITE64 | READV | WRITEV | PREADV | PWRITEV | PREADV2
        | PWRITEV2 | FSYNC | FDATASYNC | FTRUNCATE | FALLOCATE | SYNC_FILE_RANGE | LSEEK
        | GETDENTS | GETDENTS64 | FLOCK | IOCTL | FSTAT | SENDFILE | SPLICE | COPY_FILE_RANGE => {
            Waits::Fd
        }
        OPEN | OPENAT | OPENAT2 | CREAT => Waits::Open,
        EXECVE | EXECVEAT => Waits::Exec,
        STAT | LSTAT => Waits::Stat(1),
        NEWFSTATAT => Waits::Stat(2),
        STATX => Waits::Statx,
        ACCESS | FACCESSAT | FACCESSAT2 | READLINK | READLINKAT | MKDIR | MKDIRAT | UNLINK
        | UNLINKAT | RMDIR | RENAME | RENAMEAT | RENAMEAT2 | LINK | SYMLINK | CHDIR | TRUNCATE
        | CHMOD | FCHMODAT | CHOWN | UTIMENSAT => Waits::Path,
        _ => Waits::Other,
    }
}

/// A futex(2) call that parks the thread for good: FUTEX_WAIT (0) or FUTEX_WAIT_BITSET
/// (9) with no timeout (for Go, an idle M). futex_waitv and futex_wait (the new calls)
/// are never taken for parking.
#[inline(always)]
pub fn futex_parks(n: u32, args: &[u64; 6]) -> bool {
    let cmd = args[1] & 0x7f;
    n == nr::FUTEX && (cmd == 0 || cmd == 9) && args[3] == 0
}

/// A (process, number) key: an epoll fd, an eventfd, an io_uring opcode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PollKey {
    pub tgid: u32,
    pub id: u32,
}

/// EPOLL_FRONT's entries: a power of two (a Go program has one epoll instance).
pub const EPOLL_FRONT_SLOTS: u32 = 1 << EPOLL_FRONT_BITS;
const EPOLL_FRONT_BITS: u32 = 4;

/// EPOLL_FRONT value: the waits on one epoll instance, on one CPU, in front of EPOLL (see
/// tracer_common::maps::EPOLL_FRONT). `stats.waits == 0`: not taken yet.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EpollFront {
    pub key: PollKey,
    pub stats: EpollStats,
}

/// The EPOLL_FRONT entry an epoll instance may take.
#[inline(always)]
pub fn epoll_front_slot(key: &PollKey) -> u32 {
    (key.tgid.wrapping_mul(0x9E37_79B1) ^ key.id.wrapping_mul(0x85EB_CA77))
        >> (32 - EPOLL_FRONT_BITS)
}

/// Waits on one epoll instance.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EpollStats {
    pub waits: u64,
    /// Waits with a zero timeout: polls that never block.
    pub polls: u64,
    /// Waits that ended by their timeout (returned 0 events).
    pub timeouts: u64,
    /// Waits that returned events.
    pub ready: u64,
    pub events: u64,
    pub errors: u64,
    /// Time in waits that could block.
    pub blocked_ns: u64,
    /// The longest of them: percentiles read from `hist` are clamped to it.
    pub max_ns: u64,
    /// Their durations (tracer_common histogram).
    pub hist: [u64; HIST_BUCKETS],
}

impl EpollStats {
    pub const ZERO: EpollStats = EpollStats {
        waits: 0,
        polls: 0,
        timeouts: 0,
        ready: 0,
        events: 0,
        errors: 0,
        blocked_ns: 0,
        max_ns: 0,
        hist: [0; HIST_BUCKETS],
    };
}

/// An io_uring instance of a target.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct UringCtx {
    pub tgid: u32,
    pub in_flight: u32,
    pub max_in_flight: u32,
    pub _pad: u32,
    pub submits: u64,
    pub completes: u64,
}

/// A submitted io_uring request.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct UringReq {
    pub ts_ns: u64,
    pub tgid: u32,
    pub opcode: u32,
}

/// Completions of one io_uring opcode.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UringOpStats {
    pub count: u64,
    /// Completions with res < 0.
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub hist: [u64; HIST_BUCKETS],
}

impl UringOpStats {
    pub const ZERO: UringOpStats = UringOpStats {
        count: 0,
        errors: 0,
        total_ns: 0,
        max_ns: 0,
        hist: [0; HIST_BUCKETS],
    };
}

/// epoll_ctl by a target (EPOLL_CTL record).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpollCtlRecord {
    pub kind: u32,
    pub tid: u32,
    pub tgid: u32,
    pub epfd: u32,
    /// EPOLL_CTL_ADD 1, DEL 2, MOD 3.
    pub op: u32,
    pub fd: u32,
    /// The registered events mask (EPOLLIN, EPOLLOUT, EPOLLET, ...).
    pub events: u32,
    /// What fd is (`class`: SOCKET, PIPE, FS (a file, or an anon inode such as eventfd), ...).
    pub class: u32,
    pub ret: i64,
    pub ts_ns: u64,
}

/// CAUSES map key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CauseKey {
    /// The process that made the calls.
    pub tgid: u32,
    pub nr: u32,
    pub class: u32,
    /// Kernel device number (MKDEV: major << 20 | minor) for FS classes, else 0.
    pub dev: u32,
    /// The `gkind::*` of who made the calls: goroutine time and the Go runtime's own
    /// waits are kept apart.
    pub gkind: u32,
}

/// PROC_SYSCALLS map key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProcSyscallKey {
    pub tgid: u32,
    pub nr: u32,
    /// The CPU whose calls the entry holds.
    pub cpu: u32,
}

/// PROC_FRONT value: one process's calls of one syscall on one CPU, in front of
/// PROC_SYSCALLS (see tracer_common::maps::PROC_FRONT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ProcFront {
    /// [`proc_front_key`] of the entry's (process, syscall); 0: free. Written last when
    /// the entry is taken (with `stats` zeroed and the first call in), and read first.
    pub key: u64,
    pub stats: SyscallStats,
}

/// A (process, syscall)'s PROC_FRONT key: never 0, as a process's tgid is not.
#[inline(always)]
pub fn proc_front_key(tgid: u32, nr: u32) -> u64 {
    (u64::from(tgid) << 32) | u64::from(nr)
}

/// PROC_FRONT is set-associative: a (process, syscall) may take any of the
/// PROC_FRONT_WAYS entries of its set.
pub const PROC_FRONT_WAYS: u32 = 4;

/// The first PROC_FRONT entry of the set, among a CPU's `slots` (a power of two, at
/// least PROC_FRONT_WAYS), where a (process, syscall) may take an entry.
#[inline(always)]
pub fn proc_front_set(tgid: u32, nr: u32, slots: u32) -> u32 {
    let h = tgid.wrapping_mul(0x9E37_79B1) ^ nr.wrapping_mul(0x85EB_CA77);
    (h ^ (h >> 16)) & slots.wrapping_sub(1) & !(PROC_FRONT_WAYS - 1)
}

/// A (process, syscall) takes a PROC_FRONT entry once it makes this many calls within
/// PROC_FRONT_BURST_NS on one CPU: an idle process's calls stay in PROC_SYSCALLS, and
/// the front is kept for the busy ones that pay for its hash lookup.
pub const PROC_FRONT_BURST_CALLS: u64 = 256;
pub const PROC_FRONT_BURST_NS: u64 = 1_000_000_000;

/// PROC_SYSCALLS map value: a (process, syscall)'s calls on one CPU, and how many were
/// made since `burst_start_ns` (the start of the current PROC_FRONT_BURST_NS window).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ProcStats {
    pub stats: SyscallStats,
    pub burst_start_ns: u64,
    pub burst_calls: u64,
}

/// CAUSE_FRONT's entries: a power of two.
pub const CAUSE_FRONT_SLOTS: u32 = 1 << CAUSE_FRONT_BITS;
const CAUSE_FRONT_BITS: u32 = 7;

/// CAUSE_FRONT value: the calls that blocked on one cause, on one CPU, in front of CAUSES
/// (see tracer_common::maps::CAUSE_FRONT). `stats.calls == 0`: not taken yet.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CauseFront {
    pub key: CauseKey,
    pub _pad: u32,
    pub stats: CauseStats,
}

/// The CAUSE_FRONT entry a cause may take (the process is not part of it: the front is
/// used only when one program or tree is traced, whose causes are summed).
#[inline(always)]
pub fn cause_front_slot(nr: u32, class: u32, dev: u32, gkind: u32) -> u32 {
    let h = nr.wrapping_mul(0x9E37_79B1)
        ^ class.wrapping_mul(0x85EB_CA77)
        ^ gkind.wrapping_mul(0xC2B2_AE3D)
        ^ dev.wrapping_mul(0x27D4_EB2F);
    h >> (32 - CAUSE_FRONT_BITS)
}

/// CAUSES map value: the calls that blocked on one cause.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CauseStats {
    pub calls: u64,
    pub wall_ns: u64,
    pub blocked_ns: u64,
}

// ---------------------------------------------------------------------------------------
// Ring-buffer records
// ---------------------------------------------------------------------------------------

/// A syscall that took at least `SLOW_NS`. Arguments are the registers as the call
/// returned, which for all but a few calls (execve, rt_sigreturn) are those it was given.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRecord {
    pub kind: u32,
    pub tid: u32,
    pub tgid: u32,
    pub nr: u32,
    /// CLOCK_MONOTONIC (bpf_ktime_get_ns) at entry.
    pub start_ns: u64,
    pub duration_ns: u64,
    pub ret: i64,
    pub args: [u64; 6],
    pub on_cpu_ns: u64,
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
    pub blocked_ns: u64,
    /// What it waited on (`class`), and the filesystem's device for FS classes.
    pub class: u32,
    pub dev: u32,
    /// Who made it (`gkind::*`), and the goroutine's id for `gkind::GOROUTINE`.
    pub gkind: u32,
    /// Frames in `stack` (0 when stacks are off or none could be taken).
    pub stack_len: u32,
    pub goid: u64,
    /// The user stack pointer as the call returned, and the word it points at: the return
    /// address of a frameless leaf function (Go's `Syscall6`), which a frame-pointer walk
    /// skips.
    pub user_sp: u64,
    pub sp_word: u64,
    /// The user stack, innermost first (the instruction after the syscall, then return
    /// addresses), as a frame-pointer walk found it.
    pub stack: [u64; STACK_DEPTH],
}

/// Frames a slow call's record carries.
pub const STACK_DEPTH: usize = 64;

/// Process lifecycle of a target task.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcRecord {
    pub kind: u32,
    /// The task (for FORK: the new task).
    pub pid: u32,
    pub tgid: u32,
    /// FORK: tgid of the creating process; otherwise 0.
    pub parent_tgid: u32,
    /// CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
    /// EXIT: the task's exit_code (wait status encoding); otherwise 0.
    pub exit_code: u32,
    pub flags: u32,
    pub comm: [u8; 16],
}

/// Bytes of argv an EXEC record carries (NUL-separated, as in /proc/PID/cmdline).
pub const EXEC_ARGS_MAX: usize = 512;

/// A target ran a new program. Its argv is read in the kernel at exec time, because a
/// short-lived process is gone before /proc could be asked.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub kind: u32,
    pub pid: u32,
    pub tgid: u32,
    /// Bytes of `args` filled in.
    pub args_len: u32,
    pub ts_ns: u64,
    /// The whole argv's length (more than args_len when it was cut).
    pub args_total: u64,
    pub comm: [u8; 16],
    pub args: [u8; EXEC_ARGS_MAX],
}

/// A signal generated (by or for a target) or delivered (to a target thread).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalRecord {
    pub kind: u32,
    pub sig: u32,
    /// GENERATE: the signal_generate result (`signal_result`); DELIVER: 0.
    pub result: i32,
    /// DELIVER: the handler kind (`handler`); GENERATE: 0.
    pub handler: u32,
    /// The sending task (GENERATE: current; DELIVER: from siginfo, or 0).
    pub sender_pid: u32,
    pub sender_tgid: u32,
    /// The receiving task.
    pub target_pid: u32,
    pub target_tgid: u32,
    /// GENERATE: sent to the whole thread group (1) or one thread (0).
    pub group: u32,
    /// siginfo si_code (e.g. CLD_EXITED for SIGCHLD, SI_TKILL for tgkill).
    pub si_code: i32,
    /// siginfo si_pid: for SIGCHLD, the child.
    pub si_pid: u32,
    /// siginfo si_status: for SIGCHLD, the exit code or signal.
    pub si_status: i32,
    pub ts_ns: u64,
    /// The current task's comm (GENERATE: the sender; DELIVER: the receiver).
    pub comm: [u8; 16],
}

/// A target's return from wait4 / waitid.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitRecord {
    pub kind: u32,
    pub tid: u32,
    pub tgid: u32,
    pub nr: u32,
    pub ret: i64,
    /// The options argument (WNOHANG, WNOWAIT, WEXITED, ...).
    pub options: u32,
    /// waitid: idtype (P_PID, P_PGID, P_ALL, P_PIDFD); wait4: 0.
    pub idtype: u32,
    /// wait4: the pid argument; waitid: the id argument (a pid or a pidfd).
    pub id: i64,
    /// waitid: si_pid and si_code from the returned siginfo (0 when none).
    pub si_pid: u32,
    pub si_code: i32,
    /// CLOCK_MONOTONIC ns at return.
    pub ts_ns: u64,
    pub duration_ns: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), made only of integers and integer arrays, with no
    // implicit padding (checked by the size assertions below), so every bit pattern is valid.
    unsafe impl aya::Pod for super::SyscallStats {}
    unsafe impl aya::Pod for super::ProcStats {}
    unsafe impl aya::Pod for super::ProcFront {}
    unsafe impl aya::Pod for super::Inflight {}
    unsafe impl aya::Pod for super::SyscallRecord {}
    unsafe impl aya::Pod for super::ProcRecord {}
    unsafe impl aya::Pod for super::SignalRecord {}
    unsafe impl aya::Pod for super::WaitRecord {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::ThreadStats {}
    unsafe impl aya::Pod for super::CauseKey {}
    unsafe impl aya::Pod for super::ProcSyscallKey {}
    unsafe impl aya::Pod for super::CauseStats {}
    unsafe impl aya::Pod for super::CauseFront {}
    unsafe impl aya::Pod for super::EpollFront {}
    unsafe impl aya::Pod for super::PollKey {}
    unsafe impl aya::Pod for super::EpollStats {}
    unsafe impl aya::Pod for super::UringCtx {}
    unsafe impl aya::Pod for super::UringReq {}
    unsafe impl aya::Pod for super::UringOpStats {}
    unsafe impl aya::Pod for super::EpollCtlRecord {}
    unsafe impl aya::Pod for super::UringOffsets {}
    unsafe impl aya::Pod for super::ExecRecord {}
    unsafe impl aya::Pod for super::GoRuntime {}
}

// Layout is the wire contract: any change must be deliberate.
const _: () = assert!(core::mem::size_of::<SyscallStats>() == 64 + 8 * HIST_BUCKETS);
const _: () =
    assert!(core::mem::size_of::<ProcFront>() == 8 + core::mem::size_of::<SyscallStats>());
const _: () =
    assert!(core::mem::size_of::<ProcStats>() == core::mem::size_of::<SyscallStats>() + 16);
const _: () = assert!(core::mem::size_of::<Inflight>() == 128);
const _: () = assert!(core::mem::size_of::<SyscallRecord>() == 160 + 8 * STACK_DEPTH);
const _: () = assert!(core::mem::size_of::<GoRuntime>() == 8);
const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 136);
const _: () = assert!(core::mem::size_of::<ThreadStats>() == 24);
const _: () = assert!(core::mem::size_of::<CauseKey>() == 20);
const _: () = assert!(core::mem::size_of::<ProcSyscallKey>() == 12);
const _: () = assert!(core::mem::size_of::<CauseStats>() == 24);
const _: () = assert!(core::mem::size_of::<EpollStats>() == 64 + 8 * HIST_BUCKETS);
const _: () = assert!(core::mem::size_of::<UringOpStats>() == 32 + 8 * HIST_BUCKETS);
const _: () = assert!(core::mem::size_of::<UringCtx>() == 32);
const _: () = assert!(core::mem::size_of::<EpollCtlRecord>() == 48);
const _: () = assert!(core::mem::size_of::<UringOffsets>() == 16);
const _: () = assert!(core::mem::size_of::<ExecRecord>() == 48 + EXEC_ARGS_MAX);
const _: () = assert!(core::mem::size_of::<ProcRecord>() == 48);
const _: () = assert!(core::mem::size_of::<SignalRecord>() == 72);
const _: () = assert!(core::mem::size_of::<WaitRecord>() == 64);

#[cfg(test)]
mod tests {
    use super::*;

    /// The causes a Go program blocks on most each have a CAUSE_FRONT entry of their own
    /// (a collision is still counted exactly, in CAUSES, at a hash lookup's cost).
    #[test]
    fn a_go_programs_usual_causes_do_not_share_a_front_entry() {
        use gkind::{GOROUTINE, RUNTIME};
        let usual = [
            (nr::FUTEX, class::FUTEX_IDLE, 0, RUNTIME),
            (nr::FUTEX, class::FUTEX, 0, RUNTIME),
            (nr::FUTEX, class::FUTEX_IDLE, 0, GOROUTINE),
            (nr::FUTEX, class::FUTEX, 0, GOROUTINE),
            (nr::EPOLL_PWAIT, class::NETPOLL, 0, RUNTIME),
            (nr::NANOSLEEP, class::NANOSLEEP, 0, RUNTIME),
            (nr::NANOSLEEP, class::NANOSLEEP, 0, GOROUTINE),
            (nr::READ, class::SOCKET, 0, GOROUTINE),
            (nr::WRITE, class::SOCKET, 0, GOROUTINE),
            (nr::READ, class::PIPE, 0, GOROUTINE),
            (nr::WRITE, class::PIPE, 0, GOROUTINE),
            (24, class::OTHER, 0, RUNTIME), // sched_yield
            (nr::WAIT4, class::CHILD_WAIT, 0, GOROUTINE),
            (nr::READ, class::FS, 8 << 20 | 1, GOROUTINE),
            (nr::OPENAT, class::FS, 8 << 20 | 1, GOROUTINE),
            (nr::FSYNC, class::FS, 8 << 20 | 1, GOROUTINE),
            (nr::PREAD64, class::FS, 8 << 20 | 1, GOROUTINE),
            (nr::NEWFSTATAT, class::FS, 8 << 20 | 1, GOROUTINE),
            (nr::EPOLL_WAIT, class::NETPOLL, 0, RUNTIME),
            (nr::CLOCK_NANOSLEEP, class::NANOSLEEP, 0, GOROUTINE),
            (7, class::NETPOLL, 0, GOROUTINE), // poll
        ];
        let slot = |k: (u32, u32, u32, u32)| cause_front_slot(k.0, k.1, k.2, k.3);
        for (i, a) in usual.iter().enumerate() {
            assert!(slot(*a) < CAUSE_FRONT_SLOTS);
            for b in &usual[..i] {
                assert_ne!(slot(*a), slot(*b), "{a:?} and {b:?} share an entry");
            }
        }
    }

    #[test]
    fn msb_matches_leading_zeros() {
        for shift in 0..64 {
            for v in [
                1u64 << shift,
                (1u64 << shift) | 1,
                (1u64 << shift).wrapping_mul(3),
            ] {
                if v == 0 {
                    continue;
                }
                assert_eq!(msb(v), 63 - v.leading_zeros(), "msb({v})");
            }
        }
    }

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        for idx in 0..HIST_BUCKETS - 1 {
            let lo = hist_bucket_low(idx);
            let hi = hist_bucket_high(idx);
            assert!(lo <= hi, "bucket {idx}: {lo} > {hi}");
            assert_eq!(hist_bucket(lo), idx, "low edge of {idx}");
            assert_eq!(hist_bucket(hi), idx, "high edge of {idx}");
            assert_eq!(hist_bucket(hi + 1), idx + 1, "past the high edge of {idx}");
            // Width is at most a quarter of the lower bound (from 4 upwards).
            if lo >= 4 {
                assert!(
                    (hi - lo + 1) * 4 <= lo,
                    "bucket {idx} too wide: {lo}..={hi}"
                );
            }
        }
        assert_eq!(hist_bucket(u64::MAX), HIST_BUCKETS - 1);
        assert_eq!(hist_bucket(1 << 40), HIST_BUCKETS - 1);
        assert_eq!(hist_bucket((1 << 40) - 1), HIST_BUCKETS - 2);
    }
}
