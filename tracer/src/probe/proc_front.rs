//! Host-wide mode's PROC_FRONT, mapped: the per-CPU entries in front of PROC_SYSCALLS
//! (tracer_common::maps::PROC_FRONT).
//!
//! A CPU's programs take a free entry for a busy (process, syscall) and add that
//! process's calls of it there; userspace reads the entries and releases a process's once the
//! process is forgotten. An entry's key is written last when it is taken (with a full
//! barrier) and read first here, so the stats read go with the key; a released entry's
//! stats are zeroed by whoever takes it next, so userspace never writes them.
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use aya::maps::MapData;
use tracer_common::{ProcFront, SyscallStats};

use super::mapping::Mapping;

/// Entries per CPU at most, and at least (a power of two each, at least
/// PROC_FRONT_WAYS).
const SLOTS_MAX: u32 = 1024;
const SLOTS_MIN: u32 = 16;
const _: () = assert!(SLOTS_MIN >= tracer_common::PROC_FRONT_WAYS);
/// The memory the front may take, all CPUs together.
const BUDGET_BYTES: usize = 16 << 20;

/// PROC_FRONT's entries per CPU for a trace of up to `processes` processes on a machine
/// of `cpus` possible CPUs: room for each process's usual syscalls, within the budget.
pub fn slots(processes: u32, cpus: u32) -> u32 {
    let mut slots = processes
        .saturating_mul(super::SYSCALLS_PER_PROCESS)
        .clamp(SLOTS_MIN, SLOTS_MAX)
        .next_power_of_two();
    while slots > SLOTS_MIN
        && slots as usize * cpus as usize * size_of::<ProcFront>() > BUDGET_BYTES
    {
        slots /= 2;
    }
    slots
}

/// The mapped PROC_FRONT.
pub struct ProcFrontView {
    mem: Mapping,
}

impl ProcFrontView {
    /// Maps `map`, a BPF_F_MMAPABLE array of `entries` ProcFront values.
    pub fn map(map: MapData, entries: u32) -> Result<ProcFrontView> {
        let bytes = entries as usize * size_of::<ProcFront>();
        Ok(ProcFrontView {
            mem: Mapping::new(map, bytes, "the per-process syscall front")?,
        })
    }

    /// The entries mapped.
    fn entries(&self) -> usize {
        self.mem.len() / size_of::<ProcFront>()
    }

    fn entry(&self, i: usize) -> *mut ProcFront {
        debug_assert!(i < self.entries());
        // SAFETY: entry `i` is within the mapping (array values are laid out back to back,
        // each 8-byte aligned as ProcFront's size is a multiple of 8).
        unsafe { self.mem.as_ptr().cast::<ProcFront>().add(i) }
    }

    fn key(&self, i: usize) -> &AtomicU64 {
        // SAFETY: `key` is the entry's first field, 8-byte aligned; both sides access it
        // atomically.
        unsafe { AtomicU64::from_ptr(std::ptr::addr_of_mut!((*self.entry(i)).key)) }
    }

    /// Every taken entry: (tgid, syscall, the calls of it on one CPU).
    pub fn read(&self) -> Vec<(u32, u32, SyscallStats)> {
        let mut out = Vec::new();
        for i in 0..self.entries() {
            let key = self.key(i).load(Ordering::Acquire);
            if key == 0 {
                continue;
            }
            // SAFETY: within the mapping; the entry's CPU may be adding to the stats
            // meanwhile (each field is an aligned u64, read whole), as when a per-CPU
            // map is read.
            let stats =
                unsafe { std::ptr::read_volatile(std::ptr::addr_of!((*self.entry(i)).stats)) };
            out.push(((key >> 32) as u32, key as u32, stats));
        }
        out
    }

    /// Frees `tgid`'s entries: its calls there are no longer counted.
    pub fn release(&self, tgid: u32) {
        for i in 0..self.entries() {
            let key = self.key(i);
            let k = key.load(Ordering::Relaxed);
            if k != 0 && (k >> 32) as u32 == tgid {
                key.store(0, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_make_room_for_the_processes_within_the_budget() {
        // A trace of one process on a small machine: the floor.
        assert_eq!(slots(0, 2), SLOTS_MIN);
        // 200 processes want far more than the cap.
        assert_eq!(slots(200, 2), SLOTS_MAX);
        // A large machine gets fewer entries per CPU, still a power of two.
        let s = slots(200, 256);
        assert!(s.is_power_of_two() && s < SLOTS_MAX, "{s}");
        assert!(s as usize * 256 * size_of::<ProcFront>() <= BUDGET_BYTES);
        // The floor holds even past the budget.
        assert_eq!(slots(200, 1 << 16), SLOTS_MIN);
    }
}
