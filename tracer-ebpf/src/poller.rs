//! What the target's poller does: epoll instances (waits, what ended them, the fds
//! registered), the netpoll wakeups through an eventfd, and io_uring rings (submissions
//! and completions by opcode, their latency, queue depth). Waits and completions are
//! aggregated here; only epoll_ctl and eventfd creation are records.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user},
    macros::{map, raw_tracepoint},
    maps::{HashMap, PerCpuArray},
    programs::RawTracePointContext,
    Global,
};
use tracer_common::{
    epoll_front_slot, hist_bucket, kind, EpollCtlRecord, EpollFront, EpollStats, PollKey,
    ProcRecord, UringCtx, UringOffsets, UringOpStats, UringReq, EPOLL_FRONT_SLOTS, HIST_BUCKETS,
};

use crate::{
    classify::file_class,
    maps::{
        get_or_insert, is_target, lost_record, read_kernel_u32, read_kernel_u64, read_kernel_u8,
        EVENTS, HOSTWIDE,
    },
};

#[map]
pub static EPOLL: HashMap<PollKey, EpollStats> = HashMap::with_max_entries(1024, 0);
/// Waits per epoll instance, per CPU, in front of EPOLL when not host-wide: an entry is
/// taken by the first instance that lands on it and keeps it (see
/// tracer_common::maps::EPOLL_FRONT). Each CPU counts its own waits, so no count is lost
/// to two CPUs updating one entry; under H it saves about 60 ns per request
/// (docs/benchmarks.md).
#[map]
pub static EPOLL_FRONT: PerCpuArray<EpollFront> =
    PerCpuArray::with_max_entries(EPOLL_FRONT_SLOTS, 0);
#[map]
pub static EVENTFDS: HashMap<PollKey, u64> = HashMap::with_max_entries(1024, 0);
#[map]
pub static URING_CTX: HashMap<u64, UringCtx> = HashMap::with_max_entries(256, 0);
#[map]
pub static URING_REQS: HashMap<u64, UringReq> = HashMap::with_max_entries(16384, 0);
#[map]
pub static URING_OPS: HashMap<PollKey, UringOpStats> = HashMap::with_max_entries(1024, 0);

/// Zeroed values to insert from: they are too large for the 512-byte BPF stack.
static EPOLL_ZERO: EpollStats = EpollStats::ZERO;
static URING_OP_ZERO: UringOpStats = UringOpStats::ZERO;

/// io_uring struct offsets from the running kernel's BTF (set by userspace at load).
#[unsafe(no_mangle)]
pub static URING_OFFSETS: Global<UringOffsets> = Global::new(UringOffsets {
    req_ctx: 0,
    req_opcode: 0,
    cqe_res: 0,
    _pad: 0,
});

macro_rules! uoff {
    ($field:ident) => {
        $crate::global_field!($crate::poller::URING_OFFSETS, $field)
    };
}

// x86_64 syscall numbers.
pub const WRITE: u32 = 1;
pub const EPOLL_WAIT: u32 = 232;
pub const EPOLL_CTL: u32 = 233;
pub const EPOLL_PWAIT: u32 = 281;
pub const EVENTFD: u32 = 284;
pub const EVENTFD2: u32 = 290;
pub const EPOLL_PWAIT2: u32 = 441;

/// Is this syscall one the poller code wants to see return?
#[inline(always)]
pub fn wants(nr: u32, ret: i64) -> bool {
    matches!(
        nr,
        EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 | EPOLL_CTL | EVENTFD | EVENTFD2
    ) || (nr == WRITE && ret == 8)
}

/// A returning poller syscall of a target. Out of line, as `classify` is
/// (docs/benchmarks.md).
#[inline(never)]
pub fn on_exit(pid_tgid: u64, nr: u32, ret: i64, args: &[u64; 6], duration: u64) {
    let tgid = (pid_tgid >> 32) as u32;
    match nr {
        EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 => epoll_wait(tgid, nr, ret, args, duration),
        EPOLL_CTL => epoll_ctl(pid_tgid, ret, args),
        EVENTFD | EVENTFD2 if ret >= 0 => {
            let key = PollKey {
                tgid,
                id: ret as u32,
            };
            let _ = EVENTFDS.insert(&key, &0, 0);
            emit_eventfd(tgid, ret as u32);
        }
        WRITE => {
            // An 8-byte write to an eventfd: a wakeup of whoever polls it (for Go, the
            // netpoller being woken by netpollBreak).
            let key = PollKey {
                tgid,
                id: args[0] as u32,
            };
            if let Some(n) = EVENTFDS.get_ptr_mut(&key) {
                // SAFETY: a value of the map; concurrent writers only lose a count.
                unsafe { *n += 1 };
            }
        }
        _ => {}
    }
}

#[inline(always)]
fn epoll_wait(tgid: u32, nr: u32, ret: i64, args: &[u64; 6], duration: u64) {
    let key = PollKey {
        tgid,
        id: args[0] as u32,
    };
    // epoll_wait/epoll_pwait take a timeout in ms (arg 3); epoll_pwait2 a timespec
    // pointer (NULL: forever).
    let poll_only = if nr == EPOLL_PWAIT2 {
        args[3] != 0 && {
            // SAFETY: a user pointer; bpf_probe_read_user checks it.
            let ts: [i64; 2] =
                unsafe { bpf_probe_read_user(args[3] as *const [i64; 2]) }.unwrap_or([1, 0]);
            ts[0] == 0 && ts[1] == 0
        }
    } else {
        args[3] as i32 == 0
    };
    let Some(s) = epoll_front(&key).or_else(|| get_or_insert(&EPOLL, &key, &EPOLL_ZERO)) else {
        return;
    };
    let bucket = hist_bucket(duration);
    // SAFETY: a value of a map: in EPOLL_FRONT, this CPU's own; in EPOLL (host-wide mode,
    // or an instance that found its front entry taken), a process's waits on one instance
    // from several CPUs can race and lose a count, never corrupt.
    unsafe {
        (*s).waits += 1;
        if ret < 0 {
            (*s).errors += 1;
        } else if ret > 0 {
            (*s).ready += 1;
            (*s).events += ret as u64;
        } else if !poll_only {
            (*s).timeouts += 1;
        }
        if poll_only {
            (*s).polls += 1;
        } else {
            (*s).blocked_ns += duration;
            if duration > (*s).max_ns {
                (*s).max_ns = duration;
            }
            if bucket < HIST_BUCKETS {
                (*s).hist[bucket] += 1;
            }
        }
    }
}

/// The instance's entry in EPOLL_FRONT, if it is its own or free (taken now); None in
/// host-wide mode. Only this CPU writes its copy, so the counts are exact.
#[inline(always)]
fn epoll_front(key: &PollKey) -> Option<*mut EpollStats> {
    if HOSTWIDE.load() != 0 {
        return None;
    }
    let f = EPOLL_FRONT.get_ptr_mut(epoll_front_slot(key))?;
    // SAFETY: a per-CPU value; tracepoint programs run with preemption disabled, so only
    // this program writes this CPU's copy meanwhile.
    let f = unsafe { &mut *f };
    if f.stats.waits == 0 {
        f.key = *key;
    }
    if f.key != *key {
        return None;
    }
    Some(core::ptr::addr_of_mut!(f.stats))
}

#[inline(always)]
fn epoll_ctl(pid_tgid: u64, ret: i64, args: &[u64; 6]) {
    let fd = args[2] as u32;
    // SAFETY: a user pointer (struct epoll_event: u32 events first); checked by the helper.
    let events: u32 = if args[3] != 0 {
        unsafe { bpf_probe_read_user(args[3] as *const u32) }.unwrap_or(0)
    } else {
        0
    };
    let (class, _) = file_class(fd);
    let Some(mut entry) = EVENTS.reserve::<EpollCtlRecord>(0) else {
        lost_record();
        return;
    };
    entry.write(EpollCtlRecord {
        kind: kind::EPOLL_CTL,
        tid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        epfd: args[0] as u32,
        op: args[1] as u32,
        fd,
        events,
        class,
        ret,
        // SAFETY: no preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
    });
    entry.submit(crate::maps::prompt_wakeup());
}

#[inline(always)]
fn emit_eventfd(tgid: u32, fd: u32) {
    let Some(mut entry) = EVENTS.reserve::<ProcRecord>(0) else {
        lost_record();
        return;
    };
    entry.write(ProcRecord {
        kind: kind::EVENTFD,
        pid: tgid,
        tgid,
        parent_tgid: 0,
        // SAFETY: no preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        exit_code: fd,
        flags: 0,
        comm: [0; 16],
    });
    entry.submit(crate::maps::prompt_wakeup());
}

#[raw_tracepoint(tracepoint = "io_uring_create")]
pub fn io_uring_create(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(int fd, void *ctx, u32 sq_entries, u32 cq_entries, u32 flags), in the
    // creating task.
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if is_target(tgid) {
        let ring: u64 = ctx.arg(1);
        let _ = URING_CTX.insert(
            &ring,
            &UringCtx {
                tgid,
                ..UringCtx::default()
            },
            0,
        );
    }
    0
}

/// The ring's state if it belongs to a target; a ring created before tracing began is
/// adopted when a target submits to it.
#[inline(always)]
fn ring_of(ring: u64, adopt: bool) -> Option<*mut UringCtx> {
    if let Some(c) = URING_CTX.get_ptr_mut(&ring) {
        return Some(c);
    }
    if !adopt {
        return None;
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !is_target(tgid) {
        return None;
    }
    let _ = URING_CTX.insert(
        &ring,
        &UringCtx {
            tgid,
            ..UringCtx::default()
        },
        0,
    );
    URING_CTX.get_ptr_mut(&ring)
}

#[raw_tracepoint(tracepoint = "io_uring_submit_req")]
pub fn io_uring_submit_req(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct io_kiocb *req) (Debian's 6.12, 6.18); attached to
    // io_uring_submit_sqe(struct io_kiocb *req, bool force_nonblock) where that is the
    // name (Debian's 6.1). A request is known by its io_kiocb until it completes. Which
    // variant fits is read from the kernel's BTF (probe::kernel).
    let req: u64 = ctx.arg(0);
    if let Some(ring) = read_kernel_u64(req, uoff!(req_ctx)) {
        let opcode = read_kernel_u8(req, uoff!(req_opcode)).unwrap_or(0) as u32;
        submit(ring, opcode, req);
    }
    0
}

#[raw_tracepoint(tracepoint = "io_uring_submit_sqe")]
pub fn io_uring_submit_sqe_user_data(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(void *ctx, void *req, u8 opcode, u64 user_data, u32 flags,
    // bool force_nonblock, bool sq_thread) (5.15), whose io_uring_complete passes no
    // request: a request is known by its user_data.
    submit(ctx.arg(0), ctx.arg::<u64>(2) as u8 as u32, ctx.arg(3));
    0
}

/// A request submitted to `ring`, known as `key` until it completes.
#[inline(always)]
fn submit(ring: u64, opcode: u32, key: u64) {
    let Some(c) = ring_of(ring, true) else {
        return;
    };
    // SAFETY: a value of URING_CTX; races between CPUs only blur the depth figures.
    let tgid = unsafe {
        (*c).submits += 1;
        (*c).in_flight += 1;
        if (*c).in_flight > (*c).max_in_flight {
            (*c).max_in_flight = (*c).in_flight;
        }
        (*c).tgid
    };
    // SAFETY: no preconditions.
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    let _ = URING_REQS.insert(
        &key,
        &UringReq {
            ts_ns,
            tgid,
            opcode,
        },
        0,
    );
}

#[raw_tracepoint(tracepoint = "io_uring_complete")]
pub fn io_uring_complete(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct io_ring_ctx *ctx, void *req, struct io_uring_cqe *cqe) (6.18); runs
    // in whatever context completes the request.
    let cqe: u64 = ctx.arg(2);
    let res = read_kernel_u32(cqe, uoff!(cqe_res)).unwrap_or(0) as i32;
    complete(ctx.arg(0), ctx.arg(1), res);
    0
}

#[raw_tracepoint(tracepoint = "io_uring_complete")]
pub fn io_uring_complete_res(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(void *ctx, void *req, u64 user_data, int res, unsigned cflags, u64 extra1,
    // u64 extra2) (Debian's 6.1 and 6.12).
    complete(ctx.arg(0), ctx.arg(1), ctx.arg::<u64>(3) as i32);
    0
}

#[raw_tracepoint(tracepoint = "io_uring_complete")]
pub fn io_uring_complete_user_data(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(void *ctx, u64 user_data, int res, unsigned cflags) (5.15).
    complete(ctx.arg(0), ctx.arg(1), ctx.arg::<u64>(2) as i32);
    0
}

/// A request of `ring`, known as `key` since its submission, completed with `res`.
#[inline(always)]
fn complete(ring: u64, key: u64, res: i32) {
    let Some(c) = ring_of(ring, false) else {
        return;
    };
    // SAFETY: a value of URING_CTX.
    unsafe {
        (*c).completes += 1;
        (*c).in_flight = (*c).in_flight.saturating_sub(1);
    }
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: the value is copied out before the entry is removed below.
    let submitted = unsafe { URING_REQS.get(&key) }.copied();
    let (tgid, opcode, latency) = match submitted {
        Some(r) => (r.tgid, r.opcode, now.saturating_sub(r.ts_ns)),
        // SAFETY: a value of URING_CTX.
        None => (unsafe { (*c).tgid }, 0xff, 0),
    };
    let _ = URING_REQS.remove(&key);
    let key = PollKey { tgid, id: opcode };
    let Some(s) = get_or_insert(&URING_OPS, &key, &URING_OP_ZERO) else {
        return;
    };
    let bucket = hist_bucket(latency);
    // SAFETY: a value of the map; races only lose counts.
    unsafe {
        (*s).count += 1;
        if res < 0 {
            (*s).errors += 1;
        }
        (*s).total_ns += latency;
        if latency > (*s).max_ns {
            (*s).max_ns = latency;
        }
        if bucket < HIST_BUCKETS {
            (*s).hist[bucket] += 1;
        }
    }
}
