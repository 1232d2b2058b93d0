//! gotrace's eBPF programs. Kept small and boring: every program first drops
//! non-target processes with one bitmap test, then updates per-CPU aggregates, and
//! only reserves ring-buffer space for what is rare (slow calls, process lifecycle).
#![no_std]
#![no_main]
// BPF has atomic or/and instructions but core's Atomic types do not expose them here.
#![feature(core_intrinsics)]
#![expect(
    internal_features,
    reason = "core::intrinsics::atomic_or for the target bitmap"
)]

mod classify;
mod floor;
mod goroutine;
mod maps;
mod poller;
mod process;
mod sched;
mod signals;
mod syscalls;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: eBPF programs cannot panic at runtime; the verifier rejects any path that
    // reaches here, so this is never executed.
    unsafe { core::hint::unreachable_unchecked() }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
