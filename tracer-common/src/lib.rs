//! Wire types shared by the eBPF programs and userspace.
//!
//! Everything here is `#[repr(C)]` with fixed-width fields and explicit padding, so that
//! the kernel side and userspace agree on layout byte for byte. Flags are `u32`, never
//! `bool`. Map and global names are constants: userspace never repeats a string literal.
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
}

/// Names of the read-only globals userspace sets before load.
pub mod globals {
    /// `u64`: syscalls at least this long (ns) are streamed as records.
    pub const SLOW_NS: &str = "SLOW_NS";
    /// `u32`: non-zero when children of targets become targets.
    pub const FOLLOW: &str = "FOLLOW";
    /// `u32`: byte offset of `task_struct.pid` (from the kernel's BTF).
    pub const TASK_PID_OFF: &str = "TASK_PID_OFF";
    /// `u32`: byte offset of `task_struct.tgid`.
    pub const TASK_TGID_OFF: &str = "TASK_TGID_OFF";
    /// `u32`: byte offset of `task_struct.exit_code`.
    pub const TASK_EXIT_CODE_OFF: &str = "TASK_EXIT_CODE_OFF";
}

/// Syscall numbers covered by the per-syscall maps (x86_64 uses < 512).
pub const MAX_SYSCALLS: u32 = 512;

/// Largest pid the target bitmap covers (the kernel's PID_MAX_LIMIT on 64-bit).
pub const MAX_PID: u32 = 4 * 1024 * 1024;
/// Words in the target bitmap.
pub const TARGET_WORDS: u32 = MAX_PID / 64;

/// Slots of in-flight syscall state. Threads whose tids collide modulo this are detected
/// (the slot stores the tid) and counted, never mixed up.
pub const INFLIGHT_SLOTS: u32 = 65536;

/// `Inflight::nr` of a slot that expects a return without an entry: a new task's first
/// return to user space (from fork/clone, or gotrace's own pre-exec wait) passes
/// sys_exit without having passed sys_enter. Such a return is not a call to count.
pub const INFLIGHT_NR_NEW_TASK: u32 = u32::MAX;

/// Counter indices in the COUNTERS map.
pub const COUNTER_LOST_RECORDS: u32 = 0;
/// A syscall exit with no matching entry (started before attach, or slot collision).
pub const COUNTER_UNMATCHED_EXITS: u32 = 1;
/// A syscall entry that found its slot held by another in-flight thread.
pub const COUNTER_SLOT_COLLISIONS: u32 = 2;
/// Number of counters.
pub const NUM_COUNTERS: u32 = 4;

/// Record kinds: the first `u32` of every ring-buffer record.
pub mod kind {
    /// [`crate::SyscallRecord`]
    pub const SYSCALL: u32 = 1;
    /// [`crate::ProcRecord`]: a new task (process or thread) of a target.
    pub const FORK: u32 = 2;
    /// [`crate::ProcRecord`]: a target task called execve successfully.
    pub const EXEC: u32 = 3;
    /// [`crate::ProcRecord`]: a target task exited.
    pub const EXIT: u32 = 4;
}

/// Flags of a [`ProcRecord`].
pub const PROC_FLAG_THREAD: u32 = 1;

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
    pub hist: [u64; HIST_BUCKETS],
}

impl SyscallStats {
    pub const ZERO: SyscallStats = SyscallStats {
        calls: 0,
        errors: 0,
        total_ns: 0,
        max_ns: 0,
        hist: [0; HIST_BUCKETS],
    };
}

/// A target thread inside a syscall.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Inflight {
    /// The owning thread; 0 when the slot is free.
    pub tid: u32,
    pub nr: u32,
    pub start_ns: u64,
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
}

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

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), made only of integers and integer arrays, with no
    // implicit padding (checked by the size assertions below), so every bit pattern is valid.
    unsafe impl aya::Pod for super::SyscallStats {}
    unsafe impl aya::Pod for super::Inflight {}
    unsafe impl aya::Pod for super::SyscallRecord {}
    unsafe impl aya::Pod for super::ProcRecord {}
}

// Layout is the wire contract: any change must be deliberate.
const _: () = assert!(core::mem::size_of::<SyscallStats>() == 32 + 8 * HIST_BUCKETS);
const _: () = assert!(core::mem::size_of::<Inflight>() == 16);
const _: () = assert!(core::mem::size_of::<SyscallRecord>() == 88);
const _: () = assert!(core::mem::size_of::<ProcRecord>() == 48);

#[cfg(test)]
mod tests {
    use super::*;

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
