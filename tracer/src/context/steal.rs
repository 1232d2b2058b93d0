//! CPU steal time: how long the hypervisor ran something else while this machine's CPUs
//! had work (a VM: WSL2, a cloud instance, a Firecracker guest). The guest cannot see it
//! per task: a thread that loses its virtual CPU this way looks, from inside, as if it
//! were running. So it is reported for the machine, next to what gotrace attributes.
//!
//! From the aggregate `cpu` line of /proc/stat (Documentation/filesystems/proc.rst):
//! `cpu user nice system idle iowait irq softirq steal guest guest_nice`, in USER_HZ
//! ticks.
use std::path::Path;

use super::procfs::read_text;

/// The machine's CPU time so far, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// user + nice + system + idle + iowait + irq + softirq + steal.
    pub total: u64,
    pub steal: u64,
}

impl CpuTicks {
    /// The steal share of the CPU time between `earlier` and `self` (0..1); None when no
    /// time passed.
    pub fn steal_since(&self, earlier: &CpuTicks) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }
}

/// Parses /proc/stat's aggregate `cpu` line. Kernels before 2.6.11 have no steal field:
/// steal is then 0.
pub fn parse_proc_stat(text: &str) -> Option<CpuTicks> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    // guest and guest_nice are already counted in user and nice.
    let total = v.iter().take(8).sum();
    Some(CpuTicks {
        total,
        steal: v.get(7).copied().unwrap_or(0),
    })
}

/// Reads `<proc_root>/stat`.
pub fn read_cpu_ticks(proc_root: &Path) -> Option<CpuTicks> {
    parse_proc_stat(&read_text(&proc_root.join("stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_a_share_of_the_cpu_time_between_two_readings() {
        let a = parse_proc_stat(
            "cpu  1000 0 500 8000 100 0 20 380 0 0\ncpu0 500 0 250 4000 50 0 10 190 0 0\nintr 1\n",
        )
        .expect("parses");
        assert_eq!(
            a,
            CpuTicks {
                total: 10_000,
                steal: 380
            }
        );
        let b = parse_proc_stat("cpu  1100 0 550 8700 100 0 20 530 0 0\n").expect("parses");
        // 1,000 ticks passed, 150 of them stolen.
        assert_eq!(b.steal_since(&a), Some(0.15));
        assert_eq!(a.steal_since(&a), None, "no time passed");
        assert_eq!(a.steal_since(&b), None, "counters do not run backwards");
        // An old kernel without the steal field.
        let old = parse_proc_stat("cpu  1 2 3 4\n").expect("parses");
        assert_eq!(
            old,
            CpuTicks {
                total: 10,
                steal: 0
            }
        );
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn reads_this_machines_counters() {
        let t = read_cpu_ticks(Path::new("/proc")).expect("/proc/stat");
        assert!(t.total > 0 && t.steal <= t.total, "{t:?}");
    }
}
