//! Loading and attaching the eBPF programs, privilege and kernel checks, the ring-buffer
//! reader, and reads of the in-kernel aggregation maps.
pub mod btf;
pub mod kernel;
mod mapping;
mod proc_front;
mod targets;

use std::{
    io,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{
        Array, HashMap as AyaHashMap, MapData, PerCpuArray, PerCpuHashMap, ProgramArray, RingBuf,
    },
    programs::RawTracePoint,
    Ebpf, EbpfLoader,
};
use tokio::io::unix::AsyncFd;
use tracer_common::{
    globals, maps, programs, CauseFront, CauseKey, CauseStats, EpollFront, EpollStats, GoRuntime,
    Inflight, KernelOffsets, PollKey, ProcStats, ProcSyscallKey, SyscallStats, ThreadStats,
    UringCtx, UringOffsets, UringOpStats, CAUSE_FRONT_SLOTS, COUNTER_LOST_RECORDS,
    COUNTER_PROC_STATS_FULL, COUNTER_SLOT_COLLISIONS, COUNTER_THREADS_UNTRACKED,
    COUNTER_UNMATCHED_EXITS, EPOLL_FRONT_SLOTS, HIST_BUCKETS, INFLIGHT_NR_NEW_TASK, INFLIGHT_SLOTS,
    MAX_SYSCALLS, NUM_COUNTERS, THREAD_BLOCKED, THROTTLE_CFS_RQ, THROTTLE_TASK,
};

use crate::analysis::{
    poller::{RawEpoll, RawPoller, RawRing, RawUringOp},
    KernelCounters, RawCause, RawSyscallStats, RawThreadStats,
};

/// The eBPF object built by build.rs from tracer-ebpf.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// What the programs are told at load time.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Syscalls at least this long are streamed as records.
    pub slow_ns: u64,
    /// Children of targets become targets.
    pub follow: bool,
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub ring_bytes: u32,
    /// Stream idle waits too (parked threads', the Go runtime's waits for work on g0).
    pub stream_idle: bool,
    /// Streamed calls at least this long (ns) carry their user stack; `u64::MAX`: none.
    pub stack_min_ns: u64,
    /// Host-wide mode: per-process aggregates, and execs of other processes reported;
    /// `Some(n)` bounds the processes traced at once.
    pub hostwide: Option<u32>,
}

/// A map's size: `base`, or in host-wide mode room for `each` entries per process if
/// that is more.
fn per_process(opts: &ProbeOptions, base: u32, each: u32) -> u32 {
    opts.hostwide
        .map_or(base, |n| base.max(n.saturating_mul(each)))
}

/// Distinct syscalls PROC_SYSCALLS has room for per process and CPU (a Go program makes
/// 20 to 60).
const SYSCALLS_PER_PROCESS: u32 = 64;
/// PROC_SYSCALLS's entries at most, whatever the machine: its bucket array (16 bytes an
/// entry) is allocated at load, the entries as used.
const PROC_SYSCALLS_MAX: u32 = 1 << 20;

/// Capability bits (include/uapi/linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The floor for benchmarks: empty programs on raw_tp sys_enter and sys_exit, the
/// cost of the hooks alone; or on every raw tracepoint gotrace attaches on this kernel.
/// Detached when dropped.
pub struct Floor {
    _ebpf: Ebpf,
    hooks: Vec<&'static str>,
}

impl Floor {
    /// Empty programs on sys_enter and sys_exit; with `clock`, each reads the clock once
    /// (bpf_ktime_get_ns), as any tracer that times calls must. With `all`, the same
    /// empty (or clock) program is also attached to every other raw tracepoint gotrace
    /// attaches on this kernel (`kernel::plan`: the scheduler's switch and wakeups, the
    /// process lifecycle, signals, io_uring), one attachment per tracepoint as gotrace
    /// has; a tracepoint gotrace could do without that does not attach here is skipped
    /// (`hooks` says which were attached).
    pub fn attach(clock: bool, all: bool) -> Result<Floor> {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .map_err(|e| anyhow::anyhow!("{}", first_line(&e.to_string())))
            .context("load the eBPF object")?;
        let (enter, exit) = if clock {
            (programs::FLOOR_CLOCK_ENTER, programs::FLOOR_CLOCK_EXIT)
        } else {
            (programs::FLOOR_ENTER, programs::FLOOR_EXIT)
        };
        let mut hooks = vec!["sys_enter", "sys_exit"];
        attach_raw_tp(&mut ebpf, enter, "sys_enter")?;
        attach_raw_tp(&mut ebpf, exit, "sys_exit")?;
        if all {
            let btf = btf::Btf::from_sys_fs().context("read the kernel's BTF")?;
            let plan = kernel::plan(&btf, 0).context("choose gotrace's tracepoints")?;
            drop(btf);
            let core = plan.core.iter().map(|a| (a.tracepoint, true));
            let optional = plan
                .signals
                .iter()
                .chain(plan.uring.iter())
                .flatten()
                .map(|a| (a.tracepoint, false));
            // The program was loaded for sys_enter; a raw_tp program reading no argument
            // attaches to any raw tracepoint, and may be attached to several.
            let program: &mut RawTracePoint = ebpf
                .program_mut(enter)
                .with_context(|| format!("program {enter} missing from the eBPF object"))?
                .try_into()
                .with_context(|| format!("program {enter} is not a raw tracepoint"))?;
            for (tp, needed) in core.chain(optional) {
                if hooks.contains(&tp) {
                    continue;
                }
                match program.attach(tp) {
                    Ok(_) => hooks.push(tp),
                    Err(e) if needed => {
                        return Err(e).with_context(|| format!("attach to raw tracepoint {tp}"))
                    }
                    // gotrace goes on without an optional group that does not attach.
                    Err(_) => {}
                }
            }
        }
        Ok(Floor { _ebpf: ebpf, hooks })
    }

    /// The raw tracepoints the floor's programs are attached to.
    pub fn hooks(&self) -> &[&'static str] {
        &self.hooks
    }
}

/// Checks, before anything is loaded, that this process may load and attach tracing
/// programs and that the kernel has what gotrace needs. Each failure is one clear line.
pub fn preflight() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .context("no CapEff in /proc/self/status")?;
    let has = |cap: u32| cap_eff & (1u64 << cap) != 0;
    let admin = has(CAP_SYS_ADMIN);
    let mut missing = Vec::new();
    if !(admin || has(CAP_BPF)) {
        missing.push("CAP_BPF");
    }
    if !(admin || has(CAP_PERFMON)) {
        missing.push("CAP_PERFMON");
    }
    if !missing.is_empty() {
        let missing = missing.join(" and ");
        if unsafe_geteuid() == 0 {
            bail!("running as root but without {missing} (dropped from this process's capabilities): cannot load eBPF programs");
        }
        bail!("needs root to load eBPF programs ({missing} missing): run it with sudo");
    }
    if !std::path::Path::new(BTF_PATH).exists() {
        bail!("this kernel exposes no BTF ({BTF_PATH} is missing): gotrace needs a kernel built with CONFIG_DEBUG_INFO_BTF (Linux 5.15 or newer with BTF; WSL2 from 5.15.74)");
    }
    if !has_ring_buffer() {
        bail!("this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8+): gotrace needs Linux 5.15 or newer");
    }
    Ok(())
}

/// Can this kernel create a BPF ring buffer? Asked by creating the smallest one.
fn has_ring_buffer() -> bool {
    /// include/uapi/linux/bpf.h
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_MAP_TYPE_RINGBUF: u32 = 27;
    // The leading fields of union bpf_attr for BPF_MAP_CREATE; the kernel requires
    // the bytes it knows past them to be zero.
    let mut attr = [0u32; 18];
    attr[0] = BPF_MAP_TYPE_RINGBUF;
    // max_entries: the ring's size, a power of two and a multiple of the page size.
    // SAFETY: sysconf has no preconditions.
    attr[3] = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // SAFETY: bpf(2) reads `size_of_val(&attr)` bytes from a valid, initialised buffer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        // Only EINVAL says the map type is unknown; anything else (EPERM under a
        // restrictive policy, ENOMEM) is left to the load to explain.
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL);
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    true
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Loads one raw tracepoint program (through the verifier).
fn load_raw_tp<'a>(ebpf: &'a mut Ebpf, prog: &str) -> Result<&'a mut RawTracePoint> {
    let program: &mut RawTracePoint = ebpf
        .program_mut(prog)
        .with_context(|| format!("program {prog} missing from the eBPF object"))?
        .try_into()
        .with_context(|| format!("program {prog} is not a raw tracepoint"))?;
    program
        .load()
        .map_err(|e| anyhow::anyhow!("{}", verifier_summary(&e)))
        .with_context(|| format!("load program {prog}"))?;
    Ok(program)
}

/// Loads and attaches one raw tracepoint program.
fn attach_raw_tp(ebpf: &mut Ebpf, prog: &str, tp: &str) -> Result<()> {
    load_raw_tp(ebpf, prog)?
        .attach(tp)
        .with_context(|| format!("attach to raw tracepoint {tp}"))?;
    Ok(())
}

/// Loads sys_exit's tail call and puts it where sys_exit finds it, before sys_exit is
/// attached (tracer_common::maps::EXIT_DETAIL).
fn load_exit_detail(ebpf: &mut Ebpf) -> Result<()> {
    let prog = programs::SYS_EXIT_DETAIL;
    let fd = load_raw_tp(ebpf, prog)?
        .fd()
        .and_then(|fd| fd.try_clone().map_err(Into::into))
        .with_context(|| format!("program {prog}'s descriptor"))?;
    let map = ebpf
        .map_mut(maps::EXIT_DETAIL)
        .with_context(|| format!("map {} missing from the eBPF object", maps::EXIT_DETAIL))?;
    let mut array = ProgramArray::try_from(map)
        .with_context(|| format!("map {} is not a program array", maps::EXIT_DETAIL))?;
    array
        .set(0, &fd, 0)
        .with_context(|| format!("put {prog} in {}", maps::EXIT_DETAIL))
}

/// io_uring offsets, those this kernel has (kernel::plan uses a program only where the
/// offsets it reads exist).
fn uring_offsets(btf: &btf::Btf) -> UringOffsets {
    let off = |s: &str, m: &str| btf.member_offset(s, m).unwrap_or(0);
    UringOffsets {
        req_ctx: off("io_kiocb", "ctx"),
        req_opcode: off("io_kiocb", "opcode"),
        cqe_res: off("io_uring_cqe", "res"),
        _pad: 0,
    }
}

/// Offsets of the kernel struct fields the programs read, from the running kernel's BTF
/// (Rust eBPF gets no CO-RE relocations). Throttle detection is optional: kernels
/// without CFS group scheduling report no cgroup-throttle cause.
fn kernel_offsets(btf: &btf::Btf) -> Result<KernelOffsets> {
    let off = |s: &str, m: &str| {
        btf.member_offset(s, m)
            .with_context(|| format!("find {s}.{m} in the kernel's BTF"))
    };
    let mut o = KernelOffsets {
        task_pid: off("task_struct", "pid")?,
        task_tgid: off("task_struct", "tgid")?,
        task_exit_code: off("task_struct", "exit_code")?,
        task_real_parent: off("task_struct", "real_parent")?,
        task_sighand: off("task_struct", "sighand")?,
        sighand_action: off("sighand_struct", "action")?,
        ksigaction_size: btf
            .struct_size("k_sigaction")
            .context("size of k_sigaction")?,
        ksigaction_handler: off("k_sigaction", "sa.sa_handler")?,
        ksigaction_flags: off("k_sigaction", "sa.sa_flags")?,
        task_files: off("task_struct", "files")?,
        files_fdt: off("files_struct", "fdt")?,
        fdt_max_fds: off("fdtable", "max_fds")?,
        fdt_fd: off("fdtable", "fd")?,
        file_inode: off("file", "f_inode")?,
        inode_mode: off("inode", "i_mode")?,
        inode_sb: off("inode", "i_sb")?,
        sb_dev: off("super_block", "s_dev")?,
        task_fs: off("task_struct", "fs")?,
        fs_pwd_dentry: off("fs_struct", "pwd.dentry")?,
        dentry_sb: off("dentry", "d_sb")?,
        task_mm: off("task_struct", "mm")?,
        mm_arg_start: off("mm_struct", "arg_start")?,
        mm_arg_end: off("mm_struct", "arg_end")?,
        mm_exe_file: off("mm_struct", "exe_file")?,
        task_signal: off("task_struct", "signal")?,
        signal_live: off("signal_struct", "live")?,
        task_group_leader: off("task_struct", "group_leader")?,
        task_start_time: off("task_struct", "start_time")?,
        // Read only where sched_switch passes no prev_state (kernel::plan checks it).
        task_state: btf.member_offset("task_struct", "__state").unwrap_or(0),
        task_fsbase: off("task_struct", "thread.fsbase")?,
        ..Default::default()
    };
    if let Ok(t) = btf.member_offset("task_struct", "throttled") {
        o.throttle_mode = THROTTLE_TASK;
        o.task_throttled = t;
    } else if let (Ok(se), Ok(cfs)) = (
        btf.member_offset("task_struct", "se.cfs_rq"),
        btf.member_offset("cfs_rq", "throttle_count"),
    ) {
        o.throttle_mode = THROTTLE_CFS_RQ;
        o.task_se_cfs_rq = se;
        o.cfs_rq_throttle_count = cfs;
    }
    Ok(o)
}

/// Loaded and attached programs, and the maps userspace reads. Dropping it detaches
/// everything: links and maps are file descriptors owned by this process, so no
/// program outlives gotrace, whatever way it exits.
pub struct Probe {
    // Owns the programs and their links.
    _ebpf: Ebpf,
    targets: targets::TargetSet,
    inflight: Array<MapData, Inflight>,
    stats: PerCpuArray<MapData, SyscallStats>,
    proc_stats: AyaHashMap<MapData, ProcSyscallKey, ProcStats>,
    /// Host-wide mode's front for `proc_stats`, mapped.
    proc_front: Option<proc_front::ProcFrontView>,
    hostwide: bool,
    counters: PerCpuArray<MapData, u64>,
    thread_stats: AyaHashMap<MapData, u32, ThreadStats>,
    causes: PerCpuHashMap<MapData, CauseKey, CauseStats>,
    cause_front: PerCpuArray<MapData, CauseFront>,
    epoll: AyaHashMap<MapData, PollKey, EpollStats>,
    epoll_front: PerCpuArray<MapData, EpollFront>,
    eventfds: AyaHashMap<MapData, PollKey, u64>,
    uring_ctx: AyaHashMap<MapData, u64, UringCtx>,
    uring_ops: AyaHashMap<MapData, PollKey, UringOpStats>,
    go_runtimes: AyaHashMap<MapData, u32, GoRuntime>,
    /// What this kernel feeds and what it does not (kernel::plan).
    pub features: Vec<crate::analysis::KernelFeature>,
    events: Option<RingBuf<MapData>>,
    /// How throttling is recognised on this kernel (THROTTLE_*).
    pub throttle_mode: u32,
    /// How long load + attach took.
    pub attach_time: Duration,
}

impl Probe {
    /// Loads the programs with `opts` and attaches them. No process is a target yet.
    pub fn load(opts: &ProbeOptions) -> Result<Probe> {
        let started = Instant::now();
        bump_memlock_rlimit();
        // Parsed once: the kernel's BTF has some 130,000 types.
        let btf = btf::Btf::from_sys_fs().context("read the kernel's BTF")?;
        let offsets = kernel_offsets(&btf)?;
        let uring = uring_offsets(&btf);
        let plan = kernel::plan(&btf, offsets.throttle_mode)?;
        drop(btf);
        let follow: u32 = opts.follow.into();
        let hostwide = u32::from(opts.hostwide.is_some());
        // An entry per (process, syscall, CPU), for the CPUs a process's calls run on.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let proc_entries = opts.hostwide.map_or(1, |n| {
            n.saturating_mul(SYSCALLS_PER_PROCESS)
                .saturating_mul(cpus)
                .clamp(1, PROC_SYSCALLS_MAX)
        });
        // The front is indexed by CPU number: an entry for each possible CPU's.
        let possible = aya::util::nr_cpus().map_or(cpus, |n| n as u32);
        let front_slots = opts.hostwide.map_or(0, |n| proc_front::slots(n, possible));
        let front_entries = (front_slots * possible).max(1);
        let mut ebpf = EbpfLoader::new()
            .override_global(globals::HOSTWIDE, &hostwide, true)
            .map_max_entries(maps::PROC_SYSCALLS, proc_entries)
            .map_max_entries(maps::PROC_FRONT, front_entries)
            .override_global(globals::PROC_FRONT_SLOTS, &front_slots, true)
            .map_max_entries(maps::CAUSES, per_process(opts, 4096, 32))
            .map_max_entries(maps::EPOLL, per_process(opts, 1024, 2))
            .map_max_entries(maps::EVENTFDS, per_process(opts, 1024, 2))
            .map_max_entries(maps::URING_OPS, per_process(opts, 1024, 4))
            .override_global(globals::SLOW_NS, &opts.slow_ns, true)
            .override_global(globals::FOLLOW, &follow, true)
            .override_global(globals::STREAM_IDLE, &u32::from(opts.stream_idle), true)
            .override_global(globals::OFFSETS, &offsets, true)
            .override_global(globals::URING_OFFSETS, &uring, true)
            .override_global(globals::STACK_MIN_NS, &opts.stack_min_ns, true)
            .override_global(globals::WAKE_BYTES, &wake_bytes(opts.ring_bytes), true)
            .map_max_entries(maps::EVENTS, opts.ring_bytes)
            .load(EBPF_OBJECT)
            .map_err(|e| anyhow::anyhow!("{}", first_line(&e.to_string())))
            .context("load the eBPF programs")?;
        load_exit_detail(&mut ebpf)?;
        for a in &plan.core {
            attach_raw_tp(&mut ebpf, a.program, a.tracepoint)?;
        }
        let mut features = plan.features;
        // An optional group that fails to attach is off, with the kernel's reason; the
        // programs it did attach stay harmless (they only count for targets).
        for (group, name) in [
            (&plan.signals, kernel::feature::SIGNALS),
            (&plan.uring, kernel::feature::IO_URING),
        ] {
            let Some(group) = group else { continue };
            if let Err(e) = group
                .iter()
                .try_for_each(|a| attach_raw_tp(&mut ebpf, a.program, a.tracepoint))
            {
                if let Some(f) = features.iter_mut().find(|f| f.name == name) {
                    f.on = false;
                    f.detail = format!("{e:#}");
                }
            }
        }
        let targets = targets::TargetSet::map(take_array(&mut ebpf, maps::TARGETS)?)?;
        let inflight = take_map(&mut ebpf, maps::INFLIGHT)?;
        let stats = take_map(&mut ebpf, maps::SYSCALL_STATS)?;
        let proc_stats = take_map(&mut ebpf, maps::PROC_SYSCALLS)?;
        let front = take_array(&mut ebpf, maps::PROC_FRONT)?;
        let proc_front = if front_slots > 0 {
            Some(proc_front::ProcFrontView::map(front, front_entries)?)
        } else {
            None
        };
        let counters = take_map(&mut ebpf, maps::COUNTERS)?;
        let thread_stats = take_map(&mut ebpf, maps::THREAD_STATS)?;
        let causes = take_map(&mut ebpf, maps::CAUSES)?;
        let cause_front = take_map(&mut ebpf, maps::CAUSE_FRONT)?;
        let epoll = take_map(&mut ebpf, maps::EPOLL)?;
        let epoll_front = take_map(&mut ebpf, maps::EPOLL_FRONT)?;
        let eventfds = take_map(&mut ebpf, maps::EVENTFDS)?;
        let uring_ctx = take_map(&mut ebpf, maps::URING_CTX)?;
        let uring_ops = take_map(&mut ebpf, maps::URING_OPS)?;
        let go_runtimes = take_map(&mut ebpf, maps::GO_RUNTIMES)?;
        let events = Some(take_map(&mut ebpf, maps::EVENTS)?);
        Ok(Probe {
            _ebpf: ebpf,
            targets,
            inflight,
            stats,
            proc_stats,
            proc_front,
            hostwide: opts.hostwide.is_some(),
            counters,
            thread_stats,
            causes,
            cause_front,
            epoll,
            epoll_front,
            eventfds,
            uring_ctx,
            uring_ops,
            go_runtimes,
            features,
            events,
            throttle_mode: offsets.throttle_mode,
            attach_time: started.elapsed(),
        })
    }

    /// Is `tgid` traced (the target, or a descendant when following)?
    pub fn is_target(&self, tgid: u32) -> bool {
        self.targets.contains(tgid)
    }

    /// Makes `tgid` (all its threads) a target.
    pub fn add_target(&mut self, tgid: u32) -> Result<()> {
        self.targets.insert(tgid)
    }

    /// Stops tracing `tgid` (host-wide mode: it exited, or exec'd a program that is not
    /// Go). The programs may set or clear other bits of its word meanwhile: neither
    /// side's update is lost (see targets.rs).
    pub fn remove_target(&mut self, tgid: u32) {
        self.targets.remove(tgid);
    }

    /// Forgets what the kernel keeps of `tgid`, a process gone (or no longer traced) whose
    /// last figures were read: its per-process aggregates and causes, and its goroutine
    /// layout. A long host-wide trace would otherwise fill the maps.
    pub fn forget_process(&mut self, tgid: u32) {
        remove_keys!(self.proc_stats, |k: &ProcSyscallKey| k.tgid == tgid);
        if let Some(front) = &self.proc_front {
            front.release(tgid);
        }
        remove_keys!(self.causes, |k: &CauseKey| k.tgid == tgid);
        remove_keys!(self.epoll, |k: &PollKey| k.tgid == tgid);
        remove_keys!(self.eventfds, |k: &PollKey| k.tgid == tgid);
        remove_keys!(self.uring_ops, |k: &PollKey| k.tgid == tgid);
        let _ = self.go_runtimes.remove(&tgid);
    }

    /// Tells the programs where `tgid`, a Go program, keeps its goroutine ids; `None`
    /// forgets it (it exited, or exec'd something else).
    pub fn set_go_runtime(&mut self, tgid: u32, layout: Option<GoRuntime>) -> Result<()> {
        match layout {
            Some(l) => self
                .go_runtimes
                .insert(tgid, l, 0)
                .context("update the Go runtimes map"),
            None => {
                let _ = self.go_runtimes.remove(&tgid);
                Ok(())
            }
        }
    }

    /// Tells the programs that `tid` will next return from a syscall it entered before it
    /// was a target (a launched command's wait before exec), so that return is not
    /// taken for a call in progress at attach.
    pub fn expect_return(&mut self, tid: u32) -> Result<()> {
        // The launched child waits in read() before exec: asleep, not running.
        let slot = Inflight {
            tid,
            nr: INFLIGHT_NR_NEW_TASK,
            start_ns: 0,
            state: THREAD_BLOCKED,
            throttled: 0,
            state_ns: 0,
            on_cpu_ns: 0,
            runq_ns: 0,
            runq_throttled_ns: 0,
            blocked_ns: 0,
            goid_start_ns: 0,
            goid: 0,
            gkind: 0,
            runtime_g_tid: 0,
            runtime_g: 0,
            exit_class: 0,
            exit_dev: 0,
            exit_ns: 0,
            exit_nr: 0,
            _pad_nr: 0,
            _pad: [0; 1],
        };
        self.inflight
            .set(tid % INFLIGHT_SLOTS, slot, 0)
            .context("update the in-flight map")
    }

    /// Thread `tid`'s in-flight slot: the syscall it is in (`nr` below MAX_SYSCALLS), or
    /// none (`INFLIGHT_NR_NONE`; `start_ns` 0 when it has not entered one since
    /// tracing began). None when the slot holds another thread or none.
    pub fn in_flight(&self, tid: u32) -> Option<Inflight> {
        let slot = self.inflight.get(&(tid % INFLIGHT_SLOTS), 0).ok()?;
        (slot.tid == tid).then_some(slot)
    }

    /// The ring-buffer reader; can be taken once.
    pub fn take_events(&mut self) -> Result<EventReader> {
        let ring = self
            .events
            .take()
            .context("the event reader was already taken")?;
        // SAFETY: the RingBuf owns its map fd, which stays open and unchanged for as long
        // as the AsyncFd owns the RingBuf.
        let fd = unsafe { AsyncFd::register(ring) }
            .map_err(|e| e.into_parts().1)
            .context("register the ring buffer with the reactor")?;
        Ok(EventReader {
            fd,
            drained: tokio::time::Instant::now(),
        })
    }

    /// Per-syscall aggregates, summed over CPUs; only syscalls that were called. In
    /// host-wide mode, per process (`tgid` set); else the traced tree's (`tgid` 0).
    pub fn read_stats(&self) -> Result<Vec<RawSyscallStats>> {
        if self.hostwide {
            // Each (process, syscall)'s CPUs summed.
            let mut sums: std::collections::BTreeMap<(u32, u32), RawSyscallStats> =
                Default::default();
            let mut add = |tgid: u32, nr: u32, s: &SyscallStats| {
                let raw = sums.entry((tgid, nr)).or_insert_with(|| RawSyscallStats {
                    tgid,
                    nr,
                    hist: vec![0; HIST_BUCKETS],
                    ..Default::default()
                });
                add_stats(raw, s);
            };
            // A call is added to one of the two maps and never moves: each is read once.
            for (tgid, nr, s) in self.proc_front.iter().flat_map(|f| f.read()) {
                add(tgid, nr, &s);
            }
            for item in self.proc_stats.iter() {
                let (k, s) = item.context("read the per-process aggregates")?;
                add(k.tgid, k.nr, &s.stats);
            }
            return Ok(sums.into_values().filter(|s| s.calls > 0).collect());
        }
        let mut out = Vec::new();
        for nr in 0..MAX_SYSCALLS {
            let per_cpu = self
                .stats
                .get(&nr, 0)
                .with_context(|| format!("read the aggregate of syscall {nr}"))?;
            let mut sum = RawSyscallStats {
                nr,
                hist: vec![0; HIST_BUCKETS],
                ..Default::default()
            };
            for s in per_cpu.iter() {
                add_stats(&mut sum, s);
            }
            if sum.calls > 0 {
                out.push(sum);
            }
        }
        Ok(out)
    }

    /// Run-queue time outside syscalls, per thread.
    pub fn read_thread_stats(&self) -> Result<Vec<RawThreadStats>> {
        let mut out = Vec::new();
        for item in self.thread_stats.iter() {
            let (tid, s) = item.context("read the thread map")?;
            out.push(RawThreadStats {
                tid,
                tgid: s.tgid,
                runq_ns: s.runq_ns,
                runq_throttled_ns: s.runq_throttled_ns,
            });
        }
        Ok(out)
    }

    /// Forgets exited threads' entries in the thread table (their last figures were
    /// read): it holds 16,384 threads, and a long trace of a program that starts and
    /// ends threads would otherwise fill it.
    pub fn remove_thread_stats(&mut self, tids: &[u32]) {
        for tid in tids {
            // Absent (the thread never waited for a CPU outside a syscall) is fine.
            let _ = self.thread_stats.remove(tid);
        }
    }

    /// Calls that blocked, by (syscall, class, device), summed over CPUs: CAUSES and, when
    /// not host-wide, the entries taken in CAUSE_FRONT (a cause is in one map or both, each
    /// call in one). A traced tree's causes are the tree's: its processes' are summed.
    pub fn read_causes(&self) -> Result<Vec<RawCause>> {
        let mut sums: std::collections::HashMap<CauseKey, RawCause> = Default::default();
        let mut add = |k: &CauseKey, v: &CauseStats| {
            let k = CauseKey {
                tgid: if self.hostwide { k.tgid } else { 0 },
                ..*k
            };
            let c = sums.entry(k).or_insert_with(|| RawCause {
                tgid: k.tgid,
                nr: k.nr,
                class: k.class,
                dev: k.dev,
                gkind: k.gkind,
                calls: 0,
                wall_ns: 0,
                blocked_ns: 0,
            });
            c.calls += v.calls;
            c.wall_ns += v.wall_ns;
            c.blocked_ns += v.blocked_ns;
        };
        for item in self.causes.iter() {
            let (k, per_cpu) = item.context("read the cause map")?;
            per_cpu.iter().for_each(|v| add(&k, v));
        }
        if !self.hostwide {
            let front = front_entries(&self.cause_front, CAUSE_FRONT_SLOTS, "cause")?;
            for f in front.iter().filter(|f| f.stats.calls > 0) {
                add(&f.key, &f.stats);
            }
        }
        Ok(sums.into_values().collect())
    }

    /// The poller maps: epoll instances, eventfd writes, io_uring rings and opcodes.
    pub fn read_poller(&self) -> Result<RawPoller> {
        let mut p = RawPoller::default();
        // An instance's waits are in EPOLL, in EPOLL_FRONT (one CPU's each), or both.
        let mut epoll: std::collections::HashMap<PollKey, RawEpoll> = Default::default();
        let mut add = |k: &PollKey, s: &EpollStats| {
            let e = epoll.entry(*k).or_insert_with(|| RawEpoll {
                tgid: k.tgid,
                epfd: k.id,
                hist: vec![0; HIST_BUCKETS],
                ..Default::default()
            });
            e.waits += s.waits;
            e.polls += s.polls;
            e.timeouts += s.timeouts;
            e.ready += s.ready;
            e.events += s.events;
            e.errors += s.errors;
            e.blocked_ns += s.blocked_ns;
            e.max_ns = e.max_ns.max(s.max_ns);
            for (h, n) in e.hist.iter_mut().zip(s.hist) {
                *h += n;
            }
        };
        for item in self.epoll.iter() {
            let (k, s) = item.context("read the epoll map")?;
            add(&k, &s);
        }
        if !self.hostwide {
            let front = front_entries(&self.epoll_front, EPOLL_FRONT_SLOTS, "epoll")?;
            for f in front.iter().filter(|f| f.stats.waits > 0) {
                add(&f.key, &f.stats);
            }
        }
        p.epoll = epoll.into_values().collect();
        for item in self.eventfds.iter() {
            let (k, writes) = item.context("read the eventfd map")?;
            p.eventfds.push((k.tgid, k.id, writes));
        }
        for item in self.uring_ctx.iter() {
            let (_, c) = item.context("read the io_uring map")?;
            p.rings.push(RawRing {
                tgid: c.tgid,
                submits: c.submits,
                completes: c.completes,
                max_in_flight: c.max_in_flight,
            });
        }
        for item in self.uring_ops.iter() {
            let (k, s) = item.context("read the io_uring op map")?;
            p.uring_ops.push(RawUringOp {
                tgid: k.tgid,
                opcode: k.id,
                count: s.count,
                errors: s.errors,
                total_ns: s.total_ns,
                max_ns: s.max_ns,
                hist: s.hist.to_vec(),
            });
        }
        Ok(p)
    }

    /// The kernel-side counters, summed over CPUs.
    pub fn read_counters(&self) -> Result<KernelCounters> {
        let mut vals = [0u64; NUM_COUNTERS as usize];
        for (i, v) in vals.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .get(&(i as u32), 0)
                .context("read the kernel counters")?;
            *v = per_cpu.iter().sum();
        }
        Ok(KernelCounters {
            lost_records: vals[COUNTER_LOST_RECORDS as usize],
            unmatched_exits: vals[COUNTER_UNMATCHED_EXITS as usize],
            slot_collisions: vals[COUNTER_SLOT_COLLISIONS as usize],
            threads_untracked: vals[COUNTER_THREADS_UNTRACKED as usize],
            proc_stats_full: vals[COUNTER_PROC_STATS_FULL as usize],
        })
    }
}

/// Every CPU's copy of every entry of a front array (CAUSE_FRONT, EPOLL_FRONT), taken or
/// not.
fn front_entries<T: aya::Pod>(
    map: &PerCpuArray<MapData, T>,
    slots: u32,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for slot in 0..slots {
        let per_cpu = map
            .get(&slot, 0)
            .with_context(|| format!("read the {what} map"))?;
        out.extend(per_cpu.iter().copied());
    }
    Ok(out)
}

/// Removes the entries of a hash map (per-CPU or not) whose key matches `pred`.
macro_rules! remove_keys {
    ($map:expr, $pred:expr) => {{
        let keys: Vec<_> = $map.keys().filter_map(Result::ok).filter($pred).collect();
        for k in keys {
            // Gone meanwhile is fine.
            let _ = $map.remove(&k);
        }
    }};
}
use remove_keys;

/// Adds one kernel aggregate (one CPU's, or a process's) to `sum`.
fn add_stats(sum: &mut RawSyscallStats, s: &SyscallStats) {
    sum.calls += s.calls;
    sum.errors += s.errors;
    sum.total_ns += s.total_ns;
    sum.max_ns = sum.max_ns.max(s.max_ns);
    sum.on_cpu_ns += s.on_cpu_ns;
    sum.runq_ns += s.runq_ns;
    sum.runq_throttled_ns += s.runq_throttled_ns;
    sum.blocked_ns += s.blocked_ns;
    for (acc, v) in sum.hist.iter_mut().zip(s.hist.iter()) {
        *acc += v;
    }
}

/// An array map's own data, for a mapping of its values.
fn take_array(ebpf: &mut Ebpf, name: &str) -> Result<MapData> {
    match ebpf.take_map(name) {
        Some(aya::maps::Map::Array(data)) => Ok(data),
        _ => bail!("map {name} missing from the eBPF object, or not an array"),
    }
}

fn take_map<T>(ebpf: &mut Ebpf, name: &str) -> Result<T>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .take_map(name)
        .with_context(|| format!("map {name} missing from the eBPF object"))?;
    T::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// A verifier rejection carries the whole verifier log; keep the error to one line and
/// put the log where a developer can find it.
fn verifier_summary(e: &aya::programs::ProgramError) -> String {
    let text = e.to_string();
    if text.lines().count() > 1 {
        let path =
            std::env::temp_dir().join(format!("gotrace-verifier-{}.log", std::process::id()));
        let saved = write_new_private(&path, &text).is_ok();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        if saved {
            return format!(
                "the kernel's verifier refused it ({last}); full log in {}",
                path.display()
            );
        }
        return format!("the kernel's verifier refused it ({last})");
    }
    text
}

/// Writes `text` to a file that must not exist yet, readable by root only. gotrace runs
/// as root and the temp dir is everyone's: an existing file or a symlink planted there
/// (to /etc/passwd, say) is refused, never written through (O_CREAT | O_EXCL does not
/// follow a final symlink).
fn write_new_private(path: &std::path::Path, text: &str) -> io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; raise it where that applies.
fn bump_memlock_rlimit() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct; failure is harmless on kernels that
    // account BPF memory to the memory cgroup instead.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
}

/// How long a slow call's record may wait in the ring buffer: slow calls' records wake
/// gotrace only once a quarter of the buffer is used (WAKE_BYTES), and it drains the
/// buffer at least this often. Other records (processes, signals, waits) wake it at
/// once. Measured idle (attached to a sleeping process): 0.19% of a CPU without the
/// timer, 0.48% with a 50 ms one.
pub const DRAIN_EVERY: Duration = Duration::from_millis(250);

/// The fill at which slow calls' records wake gotrace: a quarter of the ring buffer,
/// which leaves three quarters for what arrives until it has drained.
fn wake_bytes(ring_bytes: u32) -> u64 {
    u64::from(ring_bytes / 4)
}

/// Reads records from the ring buffer as they arrive.
pub struct EventReader {
    fd: AsyncFd<RingBuf<MapData>>,
    drained: tokio::time::Instant,
}

impl EventReader {
    /// Waits until the kernel signals new records, or until DRAIN_EVERY has passed
    /// since the last drain (records that do not wake gotrace may be waiting).
    /// Readiness is cleared before the caller drains (the reactor is edge-triggered), so
    /// records that arrive while draining wake the next wait instead of being stranded.
    pub async fn wait(&mut self) -> io::Result<()> {
        let due = self.drained + DRAIN_EVERY;
        tokio::select! {
            guard = self.fd.readable_mut() => guard?.clear_ready(),
            () = tokio::time::sleep_until(due) => {}
        }
        Ok(())
    }

    /// Hands every record already in the buffer to `f`, without waiting.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        self.drained = tokio::time::Instant::now();
        let ring = self.fd.get_mut();
        let mut n = 0;
        while let Some(item) = ring.next() {
            f(&item);
            n += 1;
        }
        n
    }

    /// The ring buffer's file descriptor (for diagnostics).
    pub fn raw_fd(&self) -> i32 {
        self.fd.get_ref().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

    /// The name of the section `sym` is in.
    fn section_of<'a>(elf: &object::File<'a>, sym: &object::Symbol<'a, '_>) -> &'a str {
        sym.section_index()
            .and_then(|i| elf.section_by_index(i).ok())
            .and_then(|s| s.name().ok())
            .unwrap_or("")
    }

    /// The eBPF side cannot take its names from tracer_common (a program is named after
    /// its function, a global after its static), so this holds the two together: the
    /// embedded object has exactly the programs of tracer_common::programs, each a raw
    /// tracepoint program, and every global Probe::load sets, read-only and of the size
    /// userspace writes (aya refuses a size mismatch only at load, as root).
    #[test]
    fn the_object_has_exactly_the_named_programs_and_globals() {
        let elf = object::File::parse(EBPF_OBJECT)
            .unwrap_or_else(|e| panic!("parse the embedded eBPF object: {e}"));
        let mut found: Vec<&str> = elf
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.is_global())
            .filter(|s| section_of(&elf, s) != ".text")
            .map(|s| {
                let section = section_of(&elf, &s);
                let name = s.name().unwrap_or_else(|e| panic!("a symbol's name: {e}"));
                assert!(
                    section.starts_with("raw_tp/"),
                    "program {name} is in section {section}, not a raw tracepoint's"
                );
                name
            })
            .collect();
        found.sort_unstable();
        let mut named = programs::ALL.to_vec();
        named.sort_unstable();
        assert_eq!(
            found, named,
            "programs in the object vs tracer_common::programs"
        );

        let sizes = [
            (globals::SLOW_NS, size_of::<u64>()),
            (globals::FOLLOW, size_of::<u32>()),
            (globals::STREAM_IDLE, size_of::<u32>()),
            (globals::OFFSETS, size_of::<KernelOffsets>()),
            (globals::URING_OFFSETS, size_of::<UringOffsets>()),
            (globals::STACK_MIN_NS, size_of::<u64>()),
            (globals::HOSTWIDE, size_of::<u32>()),
            (globals::WAKE_BYTES, size_of::<u64>()),
            (globals::PROC_FRONT_SLOTS, size_of::<u32>()),
        ];
        assert_eq!(
            sizes.len(),
            globals::ALL.len(),
            "a global without a size here"
        );
        for name in globals::ALL {
            let size = sizes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, size)| *size)
                .unwrap_or_else(|| panic!("no size for global {name} here"));
            let sym = elf
                .symbol_by_name(name)
                .unwrap_or_else(|| panic!("global {name} missing from the eBPF object"));
            assert_eq!(
                section_of(&elf, &sym),
                ".rodata",
                "global {name} is not read-only"
            );
            assert_eq!(sym.size(), size as u64, "size of global {name}");
        }
    }

    #[test]
    fn the_verifier_log_is_never_written_through_a_planted_symlink() {
        let dir =
            std::env::temp_dir().join(format!("gotrace-verifier-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let planted = dir.join("log");
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        assert!(write_new_private(&planted, "verifier log").is_err());
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        // An existing file is not taken over either; a new one is 0600.
        assert!(write_new_private(&victim, "verifier log").is_err());
        let fresh = dir.join("fresh");
        write_new_private(&fresh, "verifier log").expect("a new file");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&fresh)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
