//! Maps, read-only configuration globals, and the helpers every program shares.
use core::intrinsics::{atomic_and, atomic_or, AtomicOrdering};

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, ProgramArray, RingBuf},
    Global,
};
use tracer_common::{
    CauseFront, CauseKey, CauseStats, GoRuntime, Inflight, KernelOffsets, ProcFront, ProcStats,
    ProcSyscallKey, SyscallStats, ThreadStats, CAUSE_FRONT_SLOTS, COUNTER_LOST_RECORDS,
    COUNTER_SLOT_COLLISIONS, INFLIGHT_NR_NEW_TASK, INFLIGHT_SLOTS, MAX_SYSCALLS, NUM_COUNTERS,
    TARGET_WORDS,
};

/// Per-syscall aggregates (see tracer_common::maps::SYSCALL_STATS).
#[map]
pub static SYSCALL_STATS: PerCpuArray<SyscallStats> =
    PerCpuArray::with_max_entries(MAX_SYSCALLS, 0);

/// Records for userspace. Userspace may resize it before load.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);

/// Bitmap of target tgids. An ARRAY lookup is inlined by the verifier into a bounds
/// check and an address computation, so the non-target path costs no helper call.
/// Mappable: userspace sets and clears bits with atomic operations on the same memory
/// as the programs' (tracer/src/probe/targets.rs), so neither side loses the other's.
#[map]
pub static TARGETS: Array<u64> = Array::with_max_entries(TARGET_WORDS, BPF_F_MMAPABLE);

/// In-flight syscall per thread slot (tid % INFLIGHT_SLOTS).
#[map]
pub static INFLIGHT: Array<Inflight> = Array::with_max_entries(INFLIGHT_SLOTS, 0);

/// sys_exit's tail call, sys_exit_detail (see tracer_common::maps::EXIT_DETAIL); userspace
/// puts it here before attaching sys_exit.
#[map]
pub static EXIT_DETAIL: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// Threads whose slot another thread took (their tids are equal modulo INFLIGHT_SLOTS)
/// while they were in a syscall, or before a new task's first return: tid -> the slot's
/// `nr` then. Their next sys_exit finds the slot not theirs, and this tells it from the
/// return of a call that began before tracing. LRU: never full, and an entry whose
/// thread died before returning ages out.
#[map]
pub static EVICTED: LruHashMap<u32, u32> = LruHashMap::with_max_entries(4096, 0);

/// Run-queue time of target threads outside syscalls, by tid.
#[map]
pub static THREAD_STATS: HashMap<u32, ThreadStats> = HashMap::with_max_entries(16384, 0);

/// Calls that blocked, by (syscall, what they waited on, filesystem device).
#[map]
pub static CAUSES: PerCpuHashMap<CauseKey, CauseStats> = PerCpuHashMap::with_max_entries(4096, 0);

/// Causes of blocked calls, per CPU, in front of CAUSES when not host-wide: an entry is
/// taken by the first cause that lands on it and keeps it (see
/// tracer_common::maps::CAUSE_FRONT).
#[map]
pub static CAUSE_FRONT: PerCpuArray<CauseFront> =
    PerCpuArray::with_max_entries(CAUSE_FRONT_SLOTS, 0);

/// Targets that are Go programs of a known version: tgid -> where their goroutine is.
#[map]
pub static GO_RUNTIMES: HashMap<u32, GoRuntime> = HashMap::with_max_entries(16384, 0);

/// Host-wide mode's per-process aggregates (see tracer_common::maps::PROC_SYSCALLS), an
/// entry per (process, syscall, CPU): each is written by one CPU only, with programs on
/// a tracepoint running with preemption disabled, so plain adds are exact and no two
/// CPUs wait for the same cache line (measured: atomic adds to one entry shared by the
/// CPUs made a two-thread process's calls cost 2.3x what a traced tree's do). Unlike a
/// per-CPU map, only the CPUs a process ran its calls on get an entry: a per-CPU copy of
/// 1.3 KB for every CPU of a large machine, for every (process, syscall), would cost
/// hundreds of MB. Entries are allocated as used (BPF_F_NO_PREALLOC); userspace sizes
/// the map and removes a process's entries once it is forgotten.
#[map]
pub static PROC_SYSCALLS: HashMap<ProcSyscallKey, ProcStats> =
    HashMap::with_max_entries(1024 * 128, BPF_F_NO_PREALLOC);

/// Host-wide mode's front for PROC_SYSCALLS (see tracer_common::maps::PROC_FRONT):
/// PROC_FRONT_SLOTS entries per CPU, sized by userspace, which maps it to read the
/// entries and to release a forgotten process's. A call whose entry here holds its
/// (process, syscall) costs an array access instead of a hash lookup.
#[map]
pub static PROC_FRONT: Array<ProcFront> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// One zeroed aggregate (never written): what a new PROC_SYSCALLS entry starts from (it is
/// too large for the BPF stack).
#[map]
pub static ZERO_STATS: Array<ProcStats> = Array::with_max_entries(1, 0);

const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Per-CPU counters (tracer_common::COUNTER_*).
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_COUNTERS, 0);

// Read-only globals, set by userspace at load time (EbpfLoader::override_global, under
// the names in tracer_common::globals: each static's name is its symbol). `Global` reads
// them volatile, so the compiler cannot fold the defaults below in.
#[unsafe(no_mangle)]
pub static SLOW_NS: Global<u64> = Global::new(1_000_000);
#[unsafe(no_mangle)]
pub static FOLLOW: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static STREAM_IDLE: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static STACK_MIN_NS: Global<u64> = Global::new(u64::MAX);
#[unsafe(no_mangle)]
pub static HOSTWIDE: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static PROC_FRONT_SLOTS: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static WAKE_BYTES: Global<u64> = Global::new(0);
/// Kernel struct offsets from the running kernel's BTF (set by userspace at load).
#[unsafe(no_mangle)]
pub static OFFSETS: Global<KernelOffsets> = Global::new(KernelOffsets {
    task_pid: 0,
    task_tgid: 0,
    task_exit_code: 0,
    task_real_parent: 0,
    task_sighand: 0,
    sighand_action: 0,
    ksigaction_size: 0,
    ksigaction_handler: 0,
    ksigaction_flags: 0,
    task_files: 0,
    files_fdt: 0,
    fdt_max_fds: 0,
    fdt_fd: 0,
    file_inode: 0,
    inode_mode: 0,
    inode_sb: 0,
    sb_dev: 0,
    task_fs: 0,
    fs_pwd_dentry: 0,
    dentry_sb: 0,
    throttle_mode: 0,
    task_throttled: 0,
    task_se_cfs_rq: 0,
    cfs_rq_throttle_count: 0,
    task_mm: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    mm_exe_file: 0,
    task_signal: 0,
    signal_live: 0,
    task_group_leader: 0,
    task_start_time: 0,
    task_state: 0,
    task_fsbase: 0,
});

/// One field of OFFSETS, as set at load.
#[macro_export]
macro_rules! off {
    ($field:ident) => {
        $crate::global_field!($crate::maps::OFFSETS, $field)
    };
}

/// One field of a struct global, as set at load: a single volatile load. `Global::load`
/// reads the whole struct, and as its read is volatile none of the other fields' loads
/// can be dropped: `OFFSETS.load().task_tgid` is 34 loads. Measured with `load()`:
/// sys_exit grew from 2306 to 4823 instructions, and sched_switch, which runs on every
/// context switch of every process, from 335 to 531. aya-ebpf 0.2.1's `Global` has no
/// way to read one field, hence this.
#[macro_export]
macro_rules! global_field {
    ($global:path, $field:ident) => {{
        let value = $crate::maps::global_value(&$global);
        // SAFETY: `value` points to the global's value, which Global::new initialised and
        // which lives for the whole program; `addr_of!` makes no reference to it, and the
        // field is in bounds and aligned.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*value).$field)) }
    }};
}

/// Where a global's value is. `Global<T>` is `#[repr(transparent)]` over
/// `MaybeUninit<T>`, which has `T`'s layout.
#[inline(always)]
pub const fn global_value<T>(global: &'static Global<T>) -> *const T {
    core::ptr::from_ref(global).cast()
}

/// The submit flags of a frequent record (a slow call's): wake userspace only once
/// WAKE_BYTES wait in the ring buffer, which userspace also drains on a timer. Waking it
/// for each record costs the traced thread an irq_work and gotrace a wake-up.
#[inline(always)]
pub fn lazy_wakeup() -> u64 {
    const BPF_RB_AVAIL_DATA: u64 = 0;
    let at = WAKE_BYTES.load();
    if at == 0 {
        0
    } else if EVENTS.query(BPF_RB_AVAIL_DATA) >= at {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// The submit flags of any other record (a process's, a signal's, a wait's): wake
/// userspace now. The kernel's default wakes it only if the buffer was empty, and
/// records that did not wake it may be waiting.
#[inline(always)]
pub fn prompt_wakeup() -> u64 {
    if WAKE_BYTES.load() == 0 {
        0
    } else {
        BPF_RB_FORCE_WAKEUP
    }
}

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// Is this tgid traced? One inlined array access and a bit test.
#[inline(always)]
pub fn is_target(tgid: u32) -> bool {
    match TARGETS.get(tgid >> 6) {
        Some(word) => *word & (1u64 << (tgid & 63)) != 0,
        None => false,
    }
}

/// Adds (or, with `set == false`, removes) a tgid to the target set, atomically: other
/// CPUs may update other bits of the same word concurrently.
#[inline(always)]
pub fn set_target(tgid: u32, set: bool) {
    if let Some(word) = TARGETS.get_ptr_mut(tgid >> 6) {
        let bit = 1u64 << (tgid & 63);
        // SAFETY: `word` points into the map's value area, valid and 8-byte aligned for
        // the life of the program. core's Atomic types have no fetch_or on the BPF target,
        // so the intrinsic is used directly (it lowers to BPF_ATOMIC | BPF_OR).
        unsafe {
            if set {
                atomic_or::<u64, u64, { AtomicOrdering::Relaxed }>(word, bit);
            } else {
                atomic_and::<u64, u64, { AtomicOrdering::Relaxed }>(word, !bit);
            }
        }
    }
}

/// `slot` is about to be given to another thread. A call its owner is in is lost: it is
/// counted as a slot collision, and its return as neither a call nor an unmatched exit.
/// A new task's first return (no call) is not counted either way.
#[inline(always)]
pub fn evict(slot: &Inflight) {
    let (tid, nr) = (slot.tid, slot.nr);
    if tid == 0 {
        return;
    }
    if nr < MAX_SYSCALLS {
        bump(COUNTER_SLOT_COLLISIONS);
    } else if nr != INFLIGHT_NR_NEW_TASK {
        return;
    }
    let _ = EVICTED.insert(&tid, &nr, 0);
}

/// The thread's slot was taken from it (see [`evict`]): forgets that, once.
#[inline(always)]
pub fn was_evicted(tid: u32) -> bool {
    EVICTED.remove(&tid).is_ok()
}

/// The value of `key`, made from `zero` if it has none: one lookup for a key seen
/// before, the common case.
#[inline(always)]
pub fn get_or_insert<K, V>(map: &HashMap<K, V>, key: &K, zero: &V) -> Option<*mut V> {
    if let Some(v) = map.get_ptr_mut(key) {
        return Some(v);
    }
    // BPF_NOEXIST: if another CPU has just made the entry, it is kept (this insert fails,
    // and the lookup below finds it); if the map is full, the lookup fails.
    const BPF_NOEXIST: u64 = 1;
    let _ = map.insert(key, zero, BPF_NOEXIST);
    map.get_ptr_mut(key)
}

/// Thread `tid` runs a new program, or exits: the runtime goroutine its slot remembers
/// (`Inflight::runtime_g`) is no longer its own. Done for every task, traced or not: a
/// process becomes a target after its exec in host-wide mode, and a dead thread's tid
/// can come back in another process.
#[inline(always)]
pub fn forget_runtime_g(tid: u32) {
    if let Some(slot) = INFLIGHT.get_ptr_mut(tid % INFLIGHT_SLOTS) {
        // SAFETY: points into the INFLIGHT array; the slot's thread, if it is `tid`, is
        // the current task.
        unsafe {
            if (*slot).tid == tid && (*slot).runtime_g != 0 {
                (*slot).runtime_g = 0;
            }
        }
    }
}

/// Bumps a per-CPU counter.
#[inline(always)]
pub fn bump(counter: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(counter) {
        // SAFETY: per-CPU value; programs on a tracepoint run with preemption disabled,
        // so nothing else writes this CPU's copy meanwhile.
        unsafe { *c += 1 };
    }
}

/// Counts a record that could not be reserved: no loss is silent.
#[inline(always)]
pub fn lost_record() {
    bump(COUNTER_LOST_RECORDS);
}

/// A task's (pid, tgid): its tid and its process. One read where `tgid` follows `pid`
/// (as in every kernel's task_struct), else two. The sched hooks read them for every
/// wake-up and switch-in on the machine.
#[inline(always)]
pub fn task_ids(task: u64) -> Option<(u32, u32)> {
    let (pid, tgid) = (off!(task_pid), off!(task_tgid));
    if tgid == pid + 4 {
        let both = read_kernel_u64(task, pid)?;
        Some((both as u32, (both >> 32) as u32))
    } else {
        Some((read_kernel_u32(task, pid)?, read_kernel_u32(task, tgid)?))
    }
}

/// Reads a u32 of a kernel struct at `base + off`.
#[inline(always)]
pub fn read_kernel_u32(base: u64, off: u32) -> Option<u32> {
    // SAFETY: base is a kernel pointer handed to us by the kernel (or read from one) and
    // off comes from the kernel's BTF; bpf_probe_read_kernel checks the access anyway.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel((base + off as u64) as *const u32) }.ok()
}

/// Reads a u64 (or pointer) of a kernel struct at `base + off`.
#[inline(always)]
pub fn read_kernel_u64(base: u64, off: u32) -> Option<u64> {
    // SAFETY: as in read_kernel_u32.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel((base + off as u64) as *const u64) }.ok()
}

/// Reads a u8 of a kernel struct at `base + off`.
#[inline(always)]
pub fn read_kernel_u8(base: u64, off: u32) -> Option<u8> {
    // SAFETY: as in read_kernel_u32.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel((base + off as u64) as *const u8) }.ok()
}

/// Reads a u16 of a kernel struct at `base + off`.
#[inline(always)]
pub fn read_kernel_u16(base: u64, off: u32) -> Option<u16> {
    // SAFETY: as in read_kernel_u32.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel((base + off as u64) as *const u16) }.ok()
}

/// Stores a value so that neighbouring stores are not merged into a call to `memset`,
/// which the BPF backend emits as a byte-at-a-time loop (measured: +100 ns per syscall
/// when four u64 fields of the in-flight slot were zeroed that way).
#[inline(always)]
pub fn store<T>(field: &mut T, value: T) {
    // SAFETY: a valid, aligned, exclusive reference.
    unsafe { core::ptr::write_volatile(field, value) }
}
