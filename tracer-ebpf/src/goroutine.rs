//! Who made a call in a Go program: a goroutine (and its id), or the runtime on a
//! thread's g0. Read only for calls that are slow or block, never on the fast path.
//!
//! On amd64 a Go thread keeps its current `g` in TLS, at `fsbase - 8`. A goid of 0 is a
//! goroutine the runtime made for itself: the thread's g0, on which the runtime runs
//! (idle Ms, the netpoller, sysmon), or its gsignal.
use aya_ebpf::helpers::bpf_probe_read_user;
use tracer_common::{gkind, GoRuntime};

use crate::{
    maps::{read_kernel_u64, GO_RUNTIMES},
    off,
};

/// The goroutine `task` (the current task) is running: (`gkind::*`, goid).
/// `runtime_g` is the thread's runtime goroutine if known (its slot's, see
/// `Inflight::runtime_g`), and is set when this finds one.
#[inline(always)]
pub fn identify(task: u64, tgid: u32, runtime_g: &mut u64) -> (u32, u64) {
    read_goroutine(task, tgid, runtime_g).unwrap_or((gkind::UNKNOWN, 0))
}

#[inline(always)]
fn read_goroutine(task: u64, tgid: u32, runtime_g: &mut u64) -> Option<(u32, u64)> {
    // A thread not yet seen on a runtime goroutine: is its process a Go program gotrace
    // knows, before reading anything of it.
    let mut layout = None;
    if *runtime_g == 0 {
        layout = Some(go_runtime(tgid)?);
    }
    let fsbase = read_kernel_u64(task, off!(task_fsbase))?;
    let g = read_user_u64(fsbase.checked_sub(8)?)?;
    if g == 0 {
        // A thread the runtime has not set up (or a cgo thread outside Go).
        return None;
    }
    if g == *runtime_g {
        return Some((gkind::RUNTIME, 0));
    }
    let layout = match layout {
        Some(l) => l,
        None => go_runtime(tgid)?,
    };
    // The runtime's own goroutines (each thread's g0, on which the scheduler, the
    // netpoller and idle Ms run, and its gsignal) are made by `malg`, which gives them no
    // goid: only `newproc1` (and the extra Ms' curg for cgo callbacks) assign one. So goid
    // 0 is g0 or gsignal, with no need to read `g.m.g0` to compare.
    match read_user_u64(g + layout.g_goid as u64)? {
        0 => {
            *runtime_g = g;
            Some((gkind::RUNTIME, 0))
        }
        goid => Some((gkind::GOROUTINE, goid)),
    }
}

/// Where the Go program `tgid` keeps its goroutine ids, if gotrace knows.
#[inline(always)]
fn go_runtime(tgid: u32) -> Option<GoRuntime> {
    // SAFETY: a plain lookup; the value is copied out at once.
    unsafe { GO_RUNTIMES.get(&tgid) }.copied()
}

#[inline(always)]
fn read_user_u64(addr: u64) -> Option<u64> {
    // SAFETY: bpf_probe_read_user checks the access; a bad address is an error.
    unsafe { bpf_probe_read_user(addr as *const u64) }.ok()
}
