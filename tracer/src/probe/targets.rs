//! The target bitmap, shared with the programs through a mapping of the map's memory.
//!
//! The programs set and clear bits with atomic ORs and ANDs (a followed fork, an exit),
//! while userspace adds and removes processes. A read-modify-write through the map
//! syscalls would race them: a word read, a bit set by the kernel meanwhile, the word
//! written back without it. Through the mapping, userspace's updates are atomic
//! operations on the same memory, so no update of either side is lost.
use std::{
    io,
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use anyhow::{bail, Context as _, Result};
use aya::maps::MapData;
use tracer_common::{MAX_PID, TARGET_WORDS};

/// The TARGETS array's values, mapped read-write.
pub struct TargetSet {
    words: NonNull<AtomicU64>,
    len: usize,
    /// The map's file descriptor, held for the life of the mapping.
    _map: MapData,
}

// SAFETY: the mapping is shared memory accessed only through atomics; it lives as long
// as `TargetSet` does, whichever thread holds it.
unsafe impl Send for TargetSet {}
// SAFETY: as above: every access is an atomic operation.
unsafe impl Sync for TargetSet {}

impl TargetSet {
    /// Maps `map`, a BPF_F_MMAPABLE array of TARGET_WORDS u64 values.
    pub fn map(map: MapData) -> Result<TargetSet> {
        let len = TARGET_WORDS as usize;
        let bytes = len * size_of::<u64>();
        let fd = map.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's value area (offset 0, its size a
        // whole number of pages); the kernel checks the fd, size and flags.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error()).context("map the target bitmap");
        }
        let words = NonNull::new(ptr.cast::<AtomicU64>()).context("map the target bitmap")?;
        Ok(TargetSet {
            words,
            len,
            _map: map,
        })
    }

    fn word(&self, tgid: u32) -> Option<&AtomicU64> {
        let i = (tgid / 64) as usize;
        if tgid == 0 || tgid >= MAX_PID || i >= self.len {
            return None;
        }
        // SAFETY: `i` is within the mapping, which is valid, 8-byte aligned (page
        // aligned) and lives as long as `self`.
        Some(unsafe { &*self.words.as_ptr().add(i) })
    }

    /// Is `tgid` a target?
    pub fn contains(&self, tgid: u32) -> bool {
        self.word(tgid)
            .is_some_and(|w| w.load(Ordering::Relaxed) & bit(tgid) != 0)
    }

    /// Makes `tgid` a target.
    pub fn insert(&self, tgid: u32) -> Result<()> {
        let Some(w) = self.word(tgid) else {
            bail!("pid {tgid} is out of range");
        };
        w.fetch_or(bit(tgid), Ordering::SeqCst);
        Ok(())
    }

    /// Stops tracing `tgid` (nothing if it is out of range).
    pub fn remove(&self, tgid: u32) {
        if let Some(w) = self.word(tgid) {
            w.fetch_and(!bit(tgid), Ordering::SeqCst);
        }
    }
}

fn bit(tgid: u32) -> u64 {
    1u64 << (tgid % 64)
}

impl Drop for TargetSet {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe {
            libc::munmap(self.words.as_ptr().cast(), self.len * size_of::<u64>());
        }
    }
}
