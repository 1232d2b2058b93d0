//! Empty programs on the same hooks, for `cargo xtask bench`: the cost of the hook alone,
//! the floor that gotrace's own cost is measured against. Never attached by gotrace.
use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::raw_tracepoint, programs::RawTracePointContext};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor_enter(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn floor_exit(_ctx: RawTracePointContext) -> i32 {
    0
}

/// The floor plus one clock read per hook: the least a tracer that times each call does.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor_clock_enter(_ctx: RawTracePointContext) -> i32 {
    clock()
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn floor_clock_exit(_ctx: RawTracePointContext) -> i32 {
    clock()
}

/// Reads the clock, and returns 0 in a way the compiler cannot see through.
#[inline(always)]
fn clock() -> i32 {
    // SAFETY: no preconditions.
    let t = unsafe { bpf_ktime_get_ns() };
    (t == u64::MAX) as i32
}
