//! Where the time went: every traced thread's time inside syscalls, and its run-queue
//! time outside them, split by cause (docs/architecture.md).
//!
//! wall = on_cpu + runq + blocked. On-CPU time inside a syscall is the kernel working
//! for the program (`cpu`). Run-queue time is `scheduler`, or `cgroup-throttle` when the
//! thread was taken off the CPU because its cgroup ran out of quota. Blocked time is
//! given the cause of what was waited on: `fs:<kind>` for files (the kind from the mount:
//! drvfs, 9p, fuse, nfs, ext4, ...), `futex`, `netpoll`, `child-wait`, `sleep`, `pipe`,
//! `socket`, `device`, `other`. `idle` is a Go runtime thread parked with nothing to do
//! (a futex wait without timeout, the runtime's own nanosleep): reported, but not a
//! cause of latency, so it is left out of the shares.
use std::fmt;

/// A cause of time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    Cpu,
    Scheduler,
    CgroupThrottle,
    /// A filesystem, by kind label ("fuse", "drvfs", "ext4", ...).
    Fs(String),
    Futex,
    Netpoll,
    ChildWait,
    Sleep,
    Pipe,
    Socket,
    Device,
    Other,
    Idle,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Cpu => f.write_str("cpu"),
            Cause::Scheduler => f.write_str("scheduler"),
            Cause::CgroupThrottle => f.write_str("cgroup-throttle"),
            Cause::Fs(kind) => write!(f, "fs:{kind}"),
            Cause::Futex => f.write_str("futex"),
            Cause::Netpoll => f.write_str("netpoll"),
            Cause::ChildWait => f.write_str("child-wait"),
            Cause::Sleep => f.write_str("sleep"),
            Cause::Pipe => f.write_str("pipe"),
            Cause::Socket => f.write_str("socket"),
            Cause::Device => f.write_str("device"),
            Cause::Other => f.write_str("other"),
            Cause::Idle => f.write_str("idle"),
        }
    }
}

/// One cause's time and its share of the non-idle total.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseShare {
    pub cause: Cause,
    pub ns: u64,
    /// Of the non-idle total; 0 for idle.
    pub share: f64,
}

/// Time split by cause, sorted by time, idle last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribution {
    pub causes: Vec<CauseShare>,
    /// Sum over non-idle causes.
    pub total_ns: u64,
    pub idle_ns: u64,
    /// In a Go program, the runtime's own blocked time on its threads' g0 (idle Ms, the
    /// netpoller, sysmon), by cause: kept apart from the program's, so it is in neither
    /// `causes` nor the shares; each share here is of `runtime_ns`.
    pub runtime: Vec<CauseShare>,
    pub runtime_ns: u64,
}

impl Attribution {
    /// Builds the shares from raw (cause, ns) pairs; repeated causes are added up.
    pub fn from_parts(parts: impl IntoIterator<Item = (Cause, u64)>) -> Attribution {
        let mut sums: std::collections::BTreeMap<Cause, u64> = std::collections::BTreeMap::new();
        for (c, ns) in parts {
            if ns > 0 {
                *sums.entry(c).or_default() += ns;
            }
        }
        let idle_ns = sums.remove(&Cause::Idle).unwrap_or(0);
        let total_ns: u64 = sums.values().sum();
        let mut causes: Vec<CauseShare> = sums
            .into_iter()
            .map(|(cause, ns)| CauseShare {
                cause,
                ns,
                share: if total_ns > 0 {
                    ns as f64 / total_ns as f64
                } else {
                    0.0
                },
            })
            .collect();
        causes.sort_by(|a, b| b.ns.cmp(&a.ns).then_with(|| a.cause.cmp(&b.cause)));
        if idle_ns > 0 {
            causes.push(CauseShare {
                cause: Cause::Idle,
                ns: idle_ns,
                share: 0.0,
            });
        }
        Attribution {
            causes,
            total_ns,
            idle_ns,
            runtime: Vec::new(),
            runtime_ns: 0,
        }
    }

    /// With the Go runtime's own time, by cause, kept apart.
    pub fn with_runtime(mut self, parts: impl IntoIterator<Item = (Cause, u64)>) -> Attribution {
        let mut sums: std::collections::BTreeMap<Cause, u64> = std::collections::BTreeMap::new();
        for (c, ns) in parts {
            if ns > 0 {
                *sums.entry(c).or_default() += ns;
            }
        }
        let total: u64 = sums.values().sum();
        let mut runtime: Vec<CauseShare> = sums
            .into_iter()
            .map(|(cause, ns)| CauseShare {
                cause,
                ns,
                share: ns as f64 / total.max(1) as f64,
            })
            .collect();
        runtime.sort_by(|a, b| b.ns.cmp(&a.ns).then_with(|| a.cause.cmp(&b.cause)));
        self.runtime = runtime;
        self.runtime_ns = total;
        self
    }

    /// The largest non-idle cause.
    pub fn top(&self) -> Option<&CauseShare> {
        self.causes.first().filter(|c| c.cause != Cause::Idle)
    }

    /// The difference `self - earlier` (both cumulative), for "the last few seconds".
    pub fn since(&self, earlier: &Attribution) -> Attribution {
        let before = |c: &Cause| {
            earlier
                .causes
                .iter()
                .find(|x| &x.cause == c)
                .map(|x| x.ns)
                .unwrap_or(0)
        };
        let before_runtime = |c: &Cause| {
            earlier
                .runtime
                .iter()
                .find(|x| &x.cause == c)
                .map(|x| x.ns)
                .unwrap_or(0)
        };
        Attribution::from_parts(
            self.causes
                .iter()
                .map(|c| (c.cause.clone(), c.ns.saturating_sub(before(&c.cause)))),
        )
        .with_runtime(self.runtime.iter().map(|c| {
            (
                c.cause.clone(),
                c.ns.saturating_sub(before_runtime(&c.cause)),
            )
        }))
    }
}

/// A thread's time, for the threads view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    pub tid: u32,
    pub pid: u32,
    pub comm: String,
    /// Run-queue time outside syscalls (waiting for a CPU while running user code).
    pub runq_ns: u64,
    pub runq_throttled_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one_and_idle_stays_out() {
        let a = Attribution::from_parts([
            (Cause::CgroupThrottle, 600),
            (Cause::Scheduler, 100),
            (Cause::Fs("fuse".into()), 300),
            (Cause::Idle, 5_000),
            (Cause::Scheduler, 0),
        ]);
        assert_eq!(a.total_ns, 1_000);
        assert_eq!(a.idle_ns, 5_000);
        let names: Vec<String> = a.causes.iter().map(|c| c.cause.to_string()).collect();
        assert_eq!(names, ["cgroup-throttle", "fs:fuse", "scheduler", "idle"]);
        let sum: f64 = a.causes.iter().map(|c| c.share).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert_eq!(
            a.top().map(|c| c.cause.clone()),
            Some(Cause::CgroupThrottle)
        );
        let later = Attribution::from_parts([
            (Cause::CgroupThrottle, 700),
            (Cause::Scheduler, 400),
            (Cause::Fs("fuse".into()), 300),
        ]);
        let d = later.since(&a);
        assert_eq!(d.total_ns, 400);
        assert_eq!(d.top().map(|c| c.cause.clone()), Some(Cause::Scheduler));
        assert_eq!(Attribution::default().top(), None);
    }
}
