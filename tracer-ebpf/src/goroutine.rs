//! Who made a call in a Go program: a goroutine (and its id), or the runtime on a
//! thread's g0. Read only for calls that are slow or block, never on the fast path.
//!
//! On amd64 a Go thread keeps its current `g` in TLS, at `fsbase - 8`; `g.m.g0` is the
//! thread's scheduler goroutine, on which the runtime runs (idle Ms, the netpoller,
//! sysmon). A goid of 0 is a goroutine the runtime made for itself (g0, gsignal).
use aya_ebpf::helpers::bpf_probe_read_user;
use tracer_common::{gkind, GoRuntime};

use crate::{
    maps::{read_kernel_u64, GO_RUNTIMES},
    off,
};

/// The goroutine `task` (the current task) is running: (`gkind::*`, goid).
#[inline(always)]
pub fn identify(task: u64, tgid: u32) -> (u32, u64) {
    // SAFETY: a plain lookup; the value is copied out at once.
    let Some(rt) = (unsafe { GO_RUNTIMES.get(&tgid) }).copied() else {
        return (gkind::UNKNOWN, 0);
    };
    read_goroutine(task, &rt).unwrap_or((gkind::UNKNOWN, 0))
}

#[inline(always)]
fn read_goroutine(task: u64, rt: &GoRuntime) -> Option<(u32, u64)> {
    let fsbase = read_kernel_u64(task, off!(task_fsbase))?;
    let g = read_user_u64(fsbase.checked_sub(8)?)?;
    if g == 0 {
        // A thread the runtime has not set up (or a cgo thread outside Go).
        return None;
    }
    let m = read_user_u64(g + rt.g_m as u64)?;
    let g0 = read_user_u64(m + rt.m_g0 as u64)?;
    if g == g0 {
        return Some((gkind::RUNTIME, 0));
    }
    match read_user_u64(g + rt.g_goid as u64)? {
        0 => Some((gkind::RUNTIME, 0)),
        goid => Some((gkind::GOROUTINE, goid)),
    }
}

#[inline(always)]
fn read_user_u64(addr: u64) -> Option<u64> {
    // SAFETY: bpf_probe_read_user checks the access; a bad address is an error.
    unsafe { bpf_probe_read_user(addr as *const u64) }.ok()
}
