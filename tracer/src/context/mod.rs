//! Facts about the system, as data: kernel release, clocks.

pub mod cgroup;
pub mod goprocs;
pub use gotrace_model::mounts;
pub mod pressure;
pub mod procfs;
pub mod steal;
pub mod watch;

pub mod epoll;
pub mod gocode;
pub mod inflight;
pub mod pipes;

/// The running kernel's release (uname -r).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns reads.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Unix time in ns.
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub use gotrace_model::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
        assert!(!kernel_release().is_empty());
    }
}
