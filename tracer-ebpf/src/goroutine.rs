//! Who made a call in a Go program: a goroutine (and its id), or the runtime on a
//! thread's g0. Read only for calls that are slow or block, never on the fast path.
//!
//! On amd64 a Go thread keeps its current `g` in TLS, at `fsbase - 8`. A goid of 0 is a
//! goroutine the runtime made for itself: the thread's g0, on which the runtime runs
//! (idle Ms, the netpoller, sysmon), or its gsignal.
use aya_ebpf::helpers::bpf_probe_read_user;
use tracer_common::{gkind, GoRuntime, Inflight};

use crate::{
    maps::{read_kernel_u64, GO_RUNTIMES},
    off,
};

/// The goroutine `task` (the current task, thread `tid`) is running: (`gkind::*`,
/// goid). `slot` is the thread's in-flight slot: its runtime goroutine, if known, is
/// taken from it and, when this finds one, kept in it (`Inflight::runtime_g`).
#[inline(always)]
pub fn identify(task: u64, tgid: u32, tid: u32, slot: &mut Inflight) -> (u32, u64) {
    let known = if slot.runtime_g_tid == tid {
        slot.runtime_g
    } else {
        0
    };
    match read_goroutine(task, tgid, known) {
        Some(Goroutine::Runtime(g)) => {
            if g != known {
                slot.runtime_g = g;
                slot.runtime_g_tid = tid;
            }
            (gkind::RUNTIME, 0)
        }
        Some(Goroutine::Program(goid)) => (gkind::GOROUTINE, goid),
        None => (gkind::UNKNOWN, 0),
    }
}

/// What a thread runs: a runtime goroutine (its address), or a goroutine of the program
/// (its goid).
enum Goroutine {
    Runtime(u64),
    Program(u64),
}

/// `known`: the thread's runtime goroutine, or 0.
#[inline(always)]
fn read_goroutine(task: u64, tgid: u32, known: u64) -> Option<Goroutine> {
    // A thread not yet seen on a runtime goroutine: is its process a Go program gotrace
    // knows, before reading anything of it.
    let mut layout = None;
    if known == 0 {
        layout = Some(go_runtime(tgid)?);
    }
    let fsbase = read_kernel_u64(task, off!(task_fsbase))?;
    let g = read_user_u64(fsbase.checked_sub(8)?)?;
    if g == 0 {
        // A thread the runtime has not set up (or a cgo thread outside Go).
        return None;
    }
    if g == known {
        return Some(Goroutine::Runtime(g));
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
        0 => Some(Goroutine::Runtime(g)),
        goid => Some(Goroutine::Program(goid)),
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
