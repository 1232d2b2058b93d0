//! Unwinding a Go stack without frame pointers, from the pcsp tables: at each frame
//! the return address is at `sp + sp_delta(pc)` and the caller's `sp` is 8 bytes
//! above it (amd64 and the other 64-bit targets whose `CALL` pushes the return
//! address; gotrace traces x86-64).
use super::{pclntab, Symbols};

/// Functions at the bottom of a stack (besides those flagged `TOPFRAME`).
const BOTTOM: &[&[u8]] = &[b"runtime.goexit", b"runtime.mstart", b"runtime.rt0_go"];

/// Unwinds the Go stack of a thread stopped at runtime address `pc` with stack
/// pointer `sp` (e.g. from `/proc/PID/task/TID/syscall`), reading the stack's words
/// with `read_word(runtime address)`.
///
/// Returns runtime addresses, innermost first: `pc`, then the return address of each
/// frame (so symbolize entries after the first at `pc - 1`, as [`Symbols::symbolize`]
/// does). At most `max_frames` addresses. It stops after `runtime.goexit`,
/// `runtime.mstart`, `runtime.rt0_go` or any function flagged top-of-stack, at a
/// function that writes SP arbitrarily (its frame size is unknown), when `pc` is not
/// in a Go function (the unknown address itself is returned only if it is the first),
/// when the pcsp table has no value, and when a word cannot be read. `bias` is the
/// executable's load bias (runtime = link-time + bias). The stack pointer strictly
/// grows from frame to frame, so the walk always ends.
pub fn unwind_go(
    symbols: &Symbols,
    bias: u64,
    pc: u64,
    sp: u64,
    mut read_word: impl FnMut(u64) -> Option<u64>,
    max_frames: usize,
) -> Vec<u64> {
    let mut out = Vec::new();
    if max_frames == 0 {
        return out;
    }
    out.push(pc);
    let Some(go) = symbols.go.as_ref() else {
        return out;
    };
    let (mut pc, mut sp) = (pc, sp);
    let mut innermost = true;
    while out.len() < max_frames {
        // A return address points after its call: look up the call itself.
        let lookup = if innermost { pc } else { pc.wrapping_sub(1) }.wrapping_sub(bias);
        let Some(f) = go.find(lookup) else {
            break;
        };
        if f.flag & (pclntab::FLAG_TOP_FRAME | pclntab::FLAG_SP_WRITE) != 0 {
            break;
        }
        if go.func_name(&f).is_some_and(|n| BOTTOM.contains(&n)) {
            break;
        }
        let Some(delta) = go.sp_delta(&f, lookup).and_then(|d| u64::try_from(d).ok()) else {
            break;
        };
        let Some(ra_at) = sp.checked_add(delta) else {
            break;
        };
        let Some(ra) = read_word(ra_at) else {
            break;
        };
        let Some(caller_sp) = ra_at.checked_add(8) else {
            break;
        };
        if ra == 0 || go.find(ra.wrapping_sub(1).wrapping_sub(bias)).is_none() {
            break;
        }
        out.push(ra);
        (pc, sp, innermost) = (ra, caller_sp, false);
    }
    out
}
