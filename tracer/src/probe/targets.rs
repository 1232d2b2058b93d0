//! The target bitmap, shared with the programs through a mapping of the map's memory.
//!
//! The programs set and clear bits with atomic ORs and ANDs (a followed fork, an exit),
//! while userspace adds and removes processes. A read-modify-write through the map
//! syscalls would race them: a word read, a bit set by the kernel meanwhile, the word
//! written back without it. Through the mapping, userspace's updates are atomic
//! operations on the same memory, so no update of either side is lost.
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Result};
use aya::maps::MapData;
use tracer_common::{MAX_PID, TARGET_WORDS};

use super::mapping::Mapping;

/// The TARGETS array's values, mapped read-write.
pub struct TargetSet {
    words: Mapping,
}

impl TargetSet {
    /// Maps `map`, a BPF_F_MMAPABLE array of TARGET_WORDS u64 values.
    pub fn map(map: MapData) -> Result<TargetSet> {
        let bytes = TARGET_WORDS as usize * size_of::<u64>();
        Ok(TargetSet {
            words: Mapping::new(map, bytes, "the target bitmap")?,
        })
    }

    fn word(&self, tgid: u32) -> Option<&AtomicU64> {
        let i = (tgid / 64) as usize;
        if tgid == 0 || tgid >= MAX_PID || (i + 1) * size_of::<u64>() > self.words.len() {
            return None;
        }
        // SAFETY: word `i` is within the mapping, which is valid, page aligned and lives
        // as long as `self`; it is only accessed atomically.
        Some(unsafe { &*self.words.as_ptr().cast::<AtomicU64>().add(i) })
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
