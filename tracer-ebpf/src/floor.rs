//! Empty programs on the same hooks, for `cargo xtask bench`: the cost of the hook alone,
//! the floor that gotrace's own cost is measured against. Never attached by gotrace.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor_enter(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn floor_exit(_ctx: RawTracePointContext) -> i32 {
    0
}
