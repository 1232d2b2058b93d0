//! The target's cgroup and its CPU and memory limits, on cgroup v1 and v2 (a hybrid
//! machine has both: each controller is on one of them). The CPU limit and the
//! throttling counters tell `cgroup-throttle` apart from plain `scheduler` run-queue
//! time (docs/architecture.md).
//!
//! Where the files are: /proc/PID/cgroup gives the cgroup's path in each hierarchy,
//! relative to the hierarchy's root as the reader's cgroup namespace sees it (man 7
//! cgroups); mountinfo gives where each hierarchy is mounted and which part of it (the
//! mount's root, also shown relative to the reader's cgroup namespace). The target's own
//! mount table is searched first, through /proc/PID/root, so that a target in a container
//! with its own mounts is handled; then ours.
//!
//! CFS bandwidth (Documentation/scheduler/sched-bwc.rst): a cgroup may use `quota` µs of
//! CPU every `period` µs. A parent's quota limits all of its descendants together, so the
//! effective limit is the smallest along the path to the hierarchy's root.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::Serialize;

use super::{
    mounts::{Mount, MountTable},
    procfs::{self, flat_keyed_u64, pid_path, proc_root, read_parsed, read_text, sys_root, under},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// CFS bandwidth throttling counters of one cgroup (cpu.stat), cumulative since the
/// cgroup was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CpuThrottle {
    /// Enforcement periods that have elapsed while the cgroup had runnable tasks.
    pub nr_periods: u64,
    /// Periods in which the cgroup ran out of quota.
    pub nr_throttled: u64,
    /// Total time the cgroup's tasks were held back, in ns.
    pub throttled_ns: u64,
}

/// A target's cgroup and its limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CgroupInfo {
    /// The hierarchy the cpu controller is on.
    pub version: CgroupVersion,
    /// The cgroup's path in that hierarchy, e.g. `/user.slice/app.service`.
    pub path: String,
    /// The effective CPU limit in CPUs (quota / period, 0.5 = half a CPU): the smallest
    /// over the cgroup and its ancestors. `None`: no limit.
    pub cpu_quota_cpus: Option<f64>,
    /// The effective memory limit in bytes, the smallest over the cgroup and its
    /// ancestors. `None`: no limit, or no memory controller mounted.
    pub memory_limit: Option<u64>,
    /// The cpu.stat to watch for throttling: the one of the cgroup whose quota is the
    /// effective limit (an ancestor's quota throttles the ancestor, and only its own
    /// cpu.stat counts that), else the cgroup's own.
    pub cpu_stat_path: PathBuf,
}

/// One line of /proc/PID/cgroup: `hierarchy-ID:controller-list:cgroup-path`. The v2
/// line is `0::/path`; v1 named hierarchies list `name=...` as a controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcCgroupLine {
    pub hierarchy_id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parses /proc/PID/cgroup; malformed lines are skipped. Cgroup names may contain `:`,
/// so only the first two colons separate fields.
pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroupLine> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ':');
            let hierarchy_id = f.next()?.parse().ok()?;
            let controllers = f
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            let path = f.next().filter(|p| p.starts_with('/'))?.to_string();
            Some(ProcCgroupLine {
                hierarchy_id,
                controllers,
                path,
            })
        })
        .collect()
}

/// A CFS bandwidth setting: `quota_us` of CPU time every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuBandwidth {
    /// `None`: unlimited (`max` in v2, `-1` in v1).
    pub quota_us: Option<u64>,
    pub period_us: u64,
}

impl CpuBandwidth {
    /// From v1's cpu.cfs_quota_us (-1 = unlimited) and cpu.cfs_period_us.
    pub fn from_v1(quota_us: i64, period_us: u64) -> CpuBandwidth {
        CpuBandwidth {
            quota_us: u64::try_from(quota_us).ok(),
            period_us,
        }
    }

    /// The limit in CPUs; `None` when unlimited (or a zero period, which the kernel
    /// refuses anyway).
    pub fn cpus(&self) -> Option<f64> {
        let quota = self.quota_us?;
        (self.period_us > 0).then(|| quota as f64 / self.period_us as f64)
    }
}

/// Parses v2's cpu.max: `$MAX $PERIOD`, `$MAX` being `max` or µs
/// (Documentation/admin-guide/cgroup-v2.rst, "CPU Interface Files").
pub fn parse_cpu_max(text: &str) -> Option<CpuBandwidth> {
    let mut f = text.split_ascii_whitespace();
    let quota_us = match f.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    let period_us = f.next()?.parse().ok()?;
    f.next().is_none().then_some(CpuBandwidth {
        quota_us,
        period_us,
    })
}

/// Parses v1's cpu.stat (flat keyed; throttled_time in ns). Newer kernels add
/// nr_bursts and burst_time, which are ignored.
pub fn parse_cpu_stat_v1(text: &str) -> Option<CpuThrottle> {
    Some(CpuThrottle {
        nr_periods: flat_keyed_u64(text, "nr_periods")?,
        nr_throttled: flat_keyed_u64(text, "nr_throttled")?,
        throttled_ns: flat_keyed_u64(text, "throttled_time")?,
    })
}

/// Parses v2's cpu.stat (flat keyed; throttled_usec in µs). The throttling keys appear
/// only where the cpu controller is enabled; without them nothing can throttle the
/// cgroup, so they count as zero. `None` when it is not a cpu.stat at all (no
/// usage_usec, which the cgroup core always writes).
pub fn parse_cpu_stat_v2(text: &str) -> Option<CpuThrottle> {
    flat_keyed_u64(text, "usage_usec")?;
    let get = |key| flat_keyed_u64(text, key).unwrap_or(0);
    Some(CpuThrottle {
        nr_periods: get("nr_periods"),
        nr_throttled: get("nr_throttled"),
        throttled_ns: get("throttled_usec").saturating_mul(1000),
    })
}

/// Parses a memory limit: v1's memory.limit_in_bytes or v2's memory.max. `Some(None)`
/// is unlimited: `max` (v2), or a value so large no machine has it. v1 shows "no limit"
/// as `PAGE_COUNTER_MAX` pages in bytes, 9223372036854771712 with 4 KiB pages and
/// another number with other page sizes, so anything from 2^62 up counts as unlimited.
fn parse_memory_limit(text: &str) -> Option<Option<u64>> {
    const UNLIMITED_FROM: u64 = 1 << 62;
    match text.trim() {
        "max" => Some(None),
        v => {
            let bytes: u64 = v.parse().ok()?;
            Some((bytes < UNLIMITED_FROM).then_some(bytes))
        }
    }
}

/// A cgroup's directory (readable from here), and the directory of the hierarchy mount
/// it was found under: limits are looked up from `dir` up to `top`.
struct CgroupDir {
    dir: PathBuf,
    top: PathBuf,
}

/// Finds the directory of `cgroup_path` in the hierarchy whose mounts `is_hierarchy`
/// picks. `None` when no such mount holds it.
fn find_cgroup_dir(
    proc_root: &Path,
    pid: u32,
    cgroup_path: &str,
    is_hierarchy: impl Fn(&Mount) -> bool,
) -> Option<CgroupDir> {
    let cgroup_path = Path::new(cgroup_path);
    // The target's mounts (it may be in a container with its own), then ours.
    for who in [pid.to_string(), "self".to_string()] {
        let proc_dir = proc_root.join(&who);
        // A table we cannot read (self in a fixture tree, a process gone) is no answer.
        let Ok(text) = procfs::read_kernel_text(&proc_dir.join("mountinfo")) else {
            continue;
        };
        let fs_root = proc_dir.join("root");
        let table = MountTable::from_mountinfo(&text);
        // Later mounts hide earlier ones on the same point: try them first.
        for m in table.mounts.iter().rev().filter(|m| is_hierarchy(m)) {
            // A mount of a sub-hierarchy (root /docker/abc) holds only paths below it.
            let Ok(rel) = cgroup_path.strip_prefix(&m.root) else {
                continue;
            };
            let top = under(&fs_root, &m.mount_point);
            let dir = under(&top, rel);
            if dir.is_dir() {
                return Some(CgroupDir { dir, top });
            }
        }
    }
    None
}

impl CgroupDir {
    /// The smallest limit set on the cgroup or an ancestor up to the mount, with the
    /// directory that sets it; of equal limits the deepest. `limit` reads one
    /// directory's limit (`None`: unlimited, or no such file there).
    fn tightest<T: PartialOrd>(
        &self,
        limit: impl Fn(&Path) -> Result<Option<T>>,
    ) -> Result<Option<(T, PathBuf)>> {
        let mut best: Option<(T, PathBuf)> = None;
        for dir in self
            .dir
            .ancestors()
            .take_while(|d| d.starts_with(&self.top))
        {
            if let Some(v) = limit(dir)? {
                if best.as_ref().is_none_or(|(b, _)| v < *b) {
                    best = Some((v, dir.to_path_buf()));
                }
            }
        }
        Ok(best)
    }

    /// The effective CPU limit and the cpu.stat to watch (see [`CgroupInfo`]).
    fn cpu(&self, limit: impl Fn(&Path) -> Result<Option<f64>>) -> Result<(Option<f64>, PathBuf)> {
        Ok(match self.tightest(limit)? {
            Some((cpus, dir)) => (Some(cpus), dir.join("cpu.stat")),
            None => (None, self.dir.join("cpu.stat")),
        })
    }

    /// The effective memory limit, read from `file` in each directory.
    fn memory_limit(&self, file: &str) -> Result<Option<u64>> {
        let limit = |dir: &Path| Ok(read_parsed(&dir.join(file), parse_memory_limit)?.flatten());
        Ok(self.tightest(limit)?.map(|(bytes, _)| bytes))
    }
}

/// A v1 directory's CPU limit in CPUs.
fn cpu_limit_v1(dir: &Path) -> Result<Option<f64>> {
    let int = |t: &str| t.trim().parse::<i64>().ok();
    let quota = read_parsed(&dir.join("cpu.cfs_quota_us"), int)?;
    let period = read_parsed(&dir.join("cpu.cfs_period_us"), int)?;
    Ok(match (quota, period) {
        (Some(q), Some(p)) => u64::try_from(p)
            .ok()
            .and_then(|p| CpuBandwidth::from_v1(q, p).cpus()),
        _ => None,
    })
}

/// A v2 directory's CPU limit in CPUs. The root cgroup has no cpu.max.
fn cpu_limit_v2(dir: &Path) -> Result<Option<f64>> {
    Ok(read_parsed(&dir.join("cpu.max"), parse_cpu_max)?.and_then(|b| b.cpus()))
}

/// The lines of `<proc_root>/<pid>/cgroup`.
fn read_proc_cgroup(proc_root: &Path, pid: u32) -> Result<Vec<ProcCgroupLine>> {
    Ok(parse_proc_cgroup(&read_text(&pid_path(
        proc_root, pid, "cgroup",
    ))?))
}

/// The v2 line (`0::/path`).
fn v2_line(lines: &[ProcCgroupLine]) -> Option<&ProcCgroupLine> {
    lines.iter().find(|l| l.hierarchy_id == 0)
}

/// The v1 line of `controller`, if that controller is on a v1 hierarchy.
fn v1_line<'a>(lines: &'a [ProcCgroupLine], controller: &str) -> Option<&'a ProcCgroupLine> {
    lines
        .iter()
        .find(|l| l.hierarchy_id != 0 && l.controllers.iter().any(|c| c == controller))
}

/// The v1 hierarchy mount of `controller`: fstype cgroup, the controller a superblock
/// option (`rw,cpu,cpuacct`).
fn is_v1_mount_of(controller: &str) -> impl Fn(&Mount) -> bool + '_ {
    move |m| m.fstype == "cgroup" && m.has_super_flag(controller)
}

fn is_v2_mount(m: &Mount) -> bool {
    m.fstype == "cgroup2"
}

/// A cgroup v2 directory: where to read it from here, and its path in the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup2Dir {
    pub dir: PathBuf,
    pub path: String,
}

/// The target's cgroup v2 directory, whatever controllers are on v2. On a hybrid machine
/// it exists (for PSI, say) even when the cpu controller is on v1. `Ok(None)` when there
/// is no v2 line in /proc/PID/cgroup or no cgroup2 mount holds it.
pub fn cgroup2_dir(proc_root: &Path, pid: u32) -> Result<Option<Cgroup2Dir>> {
    let lines = read_proc_cgroup(proc_root, pid)?;
    Ok(v2_line(&lines).and_then(|v2| {
        let d = find_cgroup_dir(proc_root, pid, &v2.path, is_v2_mount)?;
        Some(Cgroup2Dir {
            dir: d.dir,
            path: v2.path.clone(),
        })
    }))
}

/// The cgroup of process `pid` and its limits. v1 when the cpu controller is on a v1
/// hierarchy, else v2.
pub fn read_cgroup(proc_root: &Path, pid: u32) -> Result<CgroupInfo> {
    let lines = read_proc_cgroup(proc_root, pid)?;
    let not_mounted = |what: &str, path: &str| {
        anyhow!("no mounted {what} hierarchy holds cgroup {path} of pid {pid}")
    };
    if let Some(cpu) = v1_line(&lines, "cpu") {
        let d = find_cgroup_dir(proc_root, pid, &cpu.path, is_v1_mount_of("cpu"))
            .ok_or_else(|| not_mounted("cgroup v1 cpu", &cpu.path))?;
        let (cpu_quota_cpus, cpu_stat_path) = d.cpu(cpu_limit_v1)?;
        // The memory controller has its own hierarchy and path; it may be absent.
        let memory_dir = v1_line(&lines, "memory")
            .and_then(|mem| find_cgroup_dir(proc_root, pid, &mem.path, is_v1_mount_of("memory")));
        let memory_limit = match memory_dir {
            Some(md) => md.memory_limit("memory.limit_in_bytes")?,
            None => None,
        };
        return Ok(CgroupInfo {
            version: CgroupVersion::V1,
            path: cpu.path.clone(),
            cpu_quota_cpus,
            memory_limit,
            cpu_stat_path,
        });
    }
    let Some(v2) = v2_line(&lines) else {
        bail!("pid {pid} has neither a v1 cpu cgroup nor a v2 cgroup");
    };
    let d = find_cgroup_dir(proc_root, pid, &v2.path, is_v2_mount)
        .ok_or_else(|| not_mounted("cgroup2", &v2.path))?;
    let (cpu_quota_cpus, cpu_stat_path) = d.cpu(cpu_limit_v2)?;
    Ok(CgroupInfo {
        version: CgroupVersion::V2,
        path: v2.path.clone(),
        cpu_quota_cpus,
        memory_limit: d.memory_limit("memory.max")?,
        cpu_stat_path,
    })
}

/// [`read_cgroup`] on the real /proc.
pub fn read_cgroup_live(pid: u32) -> Result<CgroupInfo> {
    read_cgroup(proc_root(), pid)
}

/// A cgroup's cpu.stat held open: read again after the process has exited (its
/// /proc/PID/root path is gone by then, the cgroup is not), the counters include the
/// throttling up to its last moment.
#[derive(Debug)]
pub struct ThrottleReader {
    file: std::fs::File,
    version: CgroupVersion,
}

impl ThrottleReader {
    pub fn open(info: &CgroupInfo) -> Result<ThrottleReader> {
        let file = procfs::open_regular(&info.cpu_stat_path)
            .with_context(|| format!("opening {}", info.cpu_stat_path.display()))?;
        Ok(ThrottleReader {
            file,
            version: info.version,
        })
    }

    /// The counters now (cgroupfs files are generated anew on a read from offset 0).
    pub fn read(&self) -> Result<CpuThrottle> {
        use std::os::unix::fs::FileExt as _;
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        loop {
            let n = self
                .file
                .read_at(&mut buf[len..], len as u64)
                .context("reading cpu.stat")?;
            if n == 0 {
                break;
            }
            len += n;
            if len == buf.len() {
                // A real cpu.stat is a few hundred bytes.
                if len as u64 >= procfs::KERNEL_FILE_LIMIT {
                    bail!(
                        "cpu.stat is larger than {} bytes",
                        procfs::KERNEL_FILE_LIMIT
                    );
                }
                buf.resize(buf.len() * 2, 0);
            }
        }
        let text = String::from_utf8_lossy(&buf[..len]);
        let parsed = match self.version {
            CgroupVersion::V1 => parse_cpu_stat_v1(&text),
            CgroupVersion::V2 => parse_cpu_stat_v2(&text),
        };
        parsed.with_context(|| format!("malformed cpu.stat: {:?}", text.trim()))
    }
}

/// Counts the CPUs in a kernel CPU list such as `0-3,8,10-11`
/// (Documentation/admin-guide/cputopology.rst).
pub fn parse_cpu_list(text: &str) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    text.split(',').try_fold(0usize, |n, range| {
        let (lo, hi) = match range.split_once('-') {
            Some((lo, hi)) => (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?),
            None => {
                let cpu = range.parse::<usize>().ok()?;
                (cpu, cpu)
            }
        };
        n.checked_add(hi.checked_sub(lo)? + 1)
    })
}

/// Online CPUs from `<sys_root>/devices/system/cpu/online`.
pub fn online_cpus_in(sys_root: &Path) -> Option<usize> {
    let text = procfs::read_kernel_text(&sys_root.join("devices/system/cpu/online")).ok()?;
    parse_cpu_list(&text).filter(|&n| n > 0)
}

/// The number of online CPUs (at least 1): from sysfs, else sysconf.
pub fn online_cpus() -> usize {
    online_cpus_in(sys_root()).unwrap_or_else(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        usize::try_from(n).unwrap_or(1).max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The throttling counters of `info`'s cgroup now.
    fn read_throttle(info: &CgroupInfo) -> Result<CpuThrottle> {
        ThrottleReader::open(info)?.read()
    }
    use crate::context::procfs::testing::{require_root, ChildGuard, TempCgroup, TempTree};
    use std::{
        process::Command,
        time::{Duration, Instant},
    };

    /// This machine's shape: a hybrid, with cpu and cpuacct on separate v1 hierarchies.
    const PROC_CGROUP_HYBRID: &str =
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/aaaf\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    /// systemd's usual v1 layout, cpu and cpuacct co-mounted.
    const PROC_CGROUP_V1: &str =
        "12:memory:/app\n11:cpu,cpuacct:/app/web\n1:name=systemd:/app\n0::/app\n";
    const PROC_CGROUP_V2: &str = "0::/user.slice/app.service\n";

    /// Where systemd mounts the v1 hierarchies (a hybrid: cgroup2 at unified).
    const MOUNTINFO_V1: &str = "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
        31 27 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n\
        33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    const MOUNTINFO_V2: &str = "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
        30 27 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

    const CPU_STAT_V1: &str =
        "nr_periods 120\nnr_throttled 30\nthrottled_time 1500000000\nnr_bursts 0\nburst_time 0\n";
    const CPU_STAT_V2: &str = "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 50\nnr_throttled 7\nthrottled_usec 350000\nnr_bursts 0\nburst_usec 0\n";
    /// A v2 cgroup without the cpu controller: no bandwidth keys.
    const CPU_STAT_V2_NO_CONTROLLER: &str = "usage_usec 123\nuser_usec 100\nsystem_usec 23\n";

    #[test]
    fn proc_cgroup_lines() {
        let lines = parse_proc_cgroup(PROC_CGROUP_HYBRID);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            ProcCgroupLine {
                hierarchy_id: 9,
                controllers: vec!["name=systemd".into()],
                path: "/".into()
            }
        );
        assert_eq!(v1_line(&lines, "cpu").unwrap().hierarchy_id, 1);
        assert_eq!(v1_line(&lines, "memory").unwrap().path, "/process_api/aaaf");
        let v1 = parse_proc_cgroup(PROC_CGROUP_V1);
        assert_eq!(v1_line(&v1, "cpu").unwrap().path, "/app/web");
        assert_eq!(v1_line(&v1, "cpuacct").unwrap().hierarchy_id, 11);
        let v2 = parse_proc_cgroup(PROC_CGROUP_V2);
        assert_eq!(v2[0].hierarchy_id, 0);
        assert!(v2[0].controllers.is_empty());
        assert!(v1_line(&v2, "cpu").is_none());
        // Colons in cgroup names; bad lines skipped.
        let odd = parse_proc_cgroup("0::/a:b:c\nx:cpu:/\n5:cpu\n3:cpu:relative\n");
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].path, "/a:b:c");
    }

    #[test]
    fn cpu_max_and_bandwidth() {
        let half = parse_cpu_max("50000 100000\n").unwrap();
        assert_eq!(
            half,
            CpuBandwidth {
                quota_us: Some(50000),
                period_us: 100000
            }
        );
        assert_eq!(half.cpus(), Some(0.5));
        let max = parse_cpu_max("max 100000\n").unwrap();
        assert_eq!(max.quota_us, None);
        assert_eq!(max.cpus(), None);
        assert_eq!(parse_cpu_max("250000 100000").unwrap().cpus(), Some(2.5));
        for bad in ["", "max", "50000", "-1 100000", "a 100000", "1 2 3", "1 x"] {
            assert_eq!(parse_cpu_max(bad), None, "{bad:?}");
        }
        assert_eq!(CpuBandwidth::from_v1(-1, 100000).cpus(), None);
        assert_eq!(CpuBandwidth::from_v1(150000, 100000).cpus(), Some(1.5));
        assert_eq!(CpuBandwidth::from_v1(1000, 0).cpus(), None);
    }

    #[test]
    fn cpu_stat_v1_and_v2() {
        assert_eq!(
            parse_cpu_stat_v1(CPU_STAT_V1),
            Some(CpuThrottle {
                nr_periods: 120,
                nr_throttled: 30,
                throttled_ns: 1_500_000_000
            })
        );
        assert_eq!(
            parse_cpu_stat_v2(CPU_STAT_V2),
            Some(CpuThrottle {
                nr_periods: 50,
                nr_throttled: 7,
                throttled_ns: 350_000_000
            })
        );
        assert_eq!(
            parse_cpu_stat_v2(CPU_STAT_V2_NO_CONTROLLER),
            Some(CpuThrottle::default())
        );
        // A v2 file is not a v1 one, and garbage is neither.
        assert_eq!(parse_cpu_stat_v1(CPU_STAT_V2), None);
        assert_eq!(
            parse_cpu_stat_v1("nr_periods 1\nnr_throttled x\nthrottled_time 0"),
            None
        );
        assert_eq!(parse_cpu_stat_v2(""), None);
        assert_eq!(parse_cpu_stat_v2("hello world"), None);
        // No overflow on absurd values.
        let huge = format!("usage_usec 1\nthrottled_usec {}\n", u64::MAX);
        assert_eq!(parse_cpu_stat_v2(&huge).unwrap().throttled_ns, u64::MAX);
    }

    #[test]
    fn memory_limits() {
        assert_eq!(parse_memory_limit("max\n"), Some(None));
        assert_eq!(parse_memory_limit("9223372036854771712\n"), Some(None));
        // The 64 KiB-page spelling of "no limit".
        assert_eq!(parse_memory_limit("9223372036854710272"), Some(None));
        assert_eq!(parse_memory_limit("536870912\n"), Some(Some(512 << 20)));
        assert_eq!(parse_memory_limit("-1"), None);
        assert_eq!(parse_memory_limit(""), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list(""), Some(0));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(parse_cpu_list("0,,1"), None);
        let t = TempTree::new("cpulist");
        t.write("sys/devices/system/cpu/online", "0-5\n");
        assert_eq!(online_cpus_in(&t.path("sys")), Some(6));
        assert_eq!(online_cpus_in(&t.path("nosys")), None);
        assert!(online_cpus() >= 1);
    }

    const PID: u32 = 4242;

    /// A fixture tree with process PID's /proc/PID/cgroup and mountinfo.
    fn fixture(name: &str, proc_cgroup: &str, mountinfo: &str) -> TempTree {
        let t = TempTree::new(name);
        t.write(&format!("proc/{PID}/cgroup"), proc_cgroup);
        t.write(&format!("proc/{PID}/mountinfo"), mountinfo);
        t
    }

    /// Writes a file under the target's root in the fixture: `proc/PID/root/<abs>`.
    fn target_file(t: &TempTree, abs: &str, contents: &str) {
        t.write(&format!("proc/{PID}/root{abs}"), contents);
    }

    fn v1_quota(t: &TempTree, dir: &str, quota: i64) {
        target_file(t, &format!("{dir}/cpu.cfs_quota_us"), &format!("{quota}\n"));
        target_file(t, &format!("{dir}/cpu.cfs_period_us"), "100000\n");
    }

    #[test]
    fn fixture_v1_with_smaller_ancestor_quota() {
        let t = fixture("cgroup-v1", PROC_CGROUP_V1, MOUNTINFO_V1);
        let cpu = "/sys/fs/cgroup/cpu,cpuacct";
        v1_quota(&t, cpu, -1);
        // The parent allows half a CPU, the cgroup itself 1.5: half a CPU it is.
        v1_quota(&t, &format!("{cpu}/app"), 50000);
        v1_quota(&t, &format!("{cpu}/app/web"), 150000);
        target_file(&t, &format!("{cpu}/app/cpu.stat"), CPU_STAT_V1);
        target_file(
            &t,
            &format!("{cpu}/app/web/cpu.stat"),
            "nr_periods 1\nnr_throttled 0\nthrottled_time 0\n",
        );
        let mem = "/sys/fs/cgroup/memory";
        target_file(
            &t,
            &format!("{mem}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        target_file(
            &t,
            &format!("{mem}/app/memory.limit_in_bytes"),
            "1073741824\n",
        );

        let info = read_cgroup(&t.path("proc"), PID).unwrap();
        assert_eq!(info.version, CgroupVersion::V1);
        assert_eq!(info.path, "/app/web");
        assert_eq!(info.cpu_quota_cpus, Some(0.5));
        assert_eq!(info.memory_limit, Some(1 << 30));
        assert_eq!(
            info.cpu_stat_path,
            t.path(&format!("proc/{PID}/root{cpu}/app/cpu.stat"))
        );
        assert_eq!(read_throttle(&info).unwrap().nr_throttled, 30);

        // Unlimited all the way up: no quota, the cgroup's own cpu.stat.
        v1_quota(&t, &format!("{cpu}/app"), -1);
        v1_quota(&t, &format!("{cpu}/app/web"), -1);
        let info = read_cgroup(&t.path("proc"), PID).unwrap();
        assert_eq!(info.cpu_quota_cpus, None);
        assert!(info.cpu_stat_path.ends_with("app/web/cpu.stat"));
        assert_eq!(read_throttle(&info).unwrap().nr_periods, 1);
        // Held open, cpu.stat is read anew each time, also once its path is gone (the
        // process exited: /proc/PID/root with it).
        let reader = ThrottleReader::open(&info).unwrap();
        std::fs::write(
            &info.cpu_stat_path,
            "nr_periods 9\nnr_throttled 4\nthrottled_time 7000\n",
        )
        .unwrap();
        let gone = info.cpu_stat_path.with_file_name("gone");
        std::fs::rename(&info.cpu_stat_path, &gone).unwrap();
        assert_eq!(reader.read().unwrap().nr_throttled, 4);
        std::fs::rename(&gone, &info.cpu_stat_path).unwrap();

        // The cgroup v2 directory exists too on this hybrid.
        t.mkdir(&format!("proc/{PID}/root/sys/fs/cgroup/unified/app"));
        let v2 = cgroup2_dir(&t.path("proc"), PID).unwrap().unwrap();
        assert_eq!(v2.path, "/app");
        assert!(v2.dir.ends_with("sys/fs/cgroup/unified/app"));

        // A malformed limit file is an error that names it.
        target_file(&t, &format!("{cpu}/app/cpu.cfs_quota_us"), "lots\n");
        let err = format!("{:#}", read_cgroup(&t.path("proc"), PID).unwrap_err());
        assert!(
            err.contains("cpu.cfs_quota_us") && err.contains("malformed"),
            "{err}"
        );
    }

    #[test]
    fn fixture_v2_with_smaller_ancestor_quota() {
        let t = fixture("cgroup-v2", PROC_CGROUP_V2, MOUNTINFO_V2);
        let root = "/sys/fs/cgroup";
        // The root cgroup has a cpu.stat but no cpu.max nor memory.max.
        target_file(&t, &format!("{root}/cpu.stat"), CPU_STAT_V2_NO_CONTROLLER);
        target_file(&t, &format!("{root}/user.slice/cpu.max"), "100000 100000\n");
        target_file(&t, &format!("{root}/user.slice/memory.max"), "max\n");
        target_file(&t, &format!("{root}/user.slice/cpu.stat"), CPU_STAT_V2);
        let leaf = format!("{root}/user.slice/app.service");
        target_file(&t, &format!("{leaf}/cpu.max"), "200000 100000\n");
        target_file(&t, &format!("{leaf}/memory.max"), "536870912\n");
        target_file(&t, &format!("{leaf}/cpu.stat"), CPU_STAT_V2_NO_CONTROLLER);

        let info = read_cgroup(&t.path("proc"), PID).unwrap();
        assert_eq!(info.version, CgroupVersion::V2);
        assert_eq!(info.path, "/user.slice/app.service");
        assert_eq!(info.cpu_quota_cpus, Some(1.0));
        assert_eq!(info.memory_limit, Some(512 << 20));
        assert!(info.cpu_stat_path.ends_with("user.slice/cpu.stat"));
        assert_eq!(
            read_throttle(&info).unwrap(),
            CpuThrottle {
                nr_periods: 50,
                nr_throttled: 7,
                throttled_ns: 350_000_000
            }
        );
        // The leaf is the tightest now.
        target_file(&t, &format!("{leaf}/cpu.max"), "25000 100000\n");
        let info = read_cgroup(&t.path("proc"), PID).unwrap();
        assert_eq!(info.cpu_quota_cpus, Some(0.25));
        assert!(info.cpu_stat_path.ends_with("app.service/cpu.stat"));
    }

    /// A container: its mount table has only its own overlay root, so the cgroup is found
    /// through ours (`self`), where the hierarchy is mounted at a sub-tree (root
    /// `/docker/abc`), as a container runtime does.
    #[test]
    fn fixture_container_uses_our_mounts_and_mount_roots() {
        let t = fixture(
            "cgroup-container",
            "0::/docker/abc\n",
            "587 540 0:52 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n",
        );
        t.write(
            "proc/self/mountinfo",
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
             30 27 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        t.write("proc/self/root/sys/fs/cgroup/cpu.max", "150000 100000\n");
        t.write("proc/self/root/sys/fs/cgroup/cpu.stat", CPU_STAT_V2);
        let info = read_cgroup(&t.path("proc"), PID).unwrap();
        assert_eq!(info.version, CgroupVersion::V2);
        assert_eq!(info.cpu_quota_cpus, Some(1.5));
        assert_eq!(info.memory_limit, None);
        assert_eq!(
            info.cpu_stat_path,
            t.path("proc/self/root/sys/fs/cgroup/cpu.stat")
        );
        assert_eq!(read_throttle(&info).unwrap().nr_throttled, 7);

        // Not under the mount's root: not found, and the error says what was looked for.
        t.write(&format!("proc/{PID}/cgroup"), "0::/elsewhere\n");
        let err = format!("{:#}", read_cgroup(&t.path("proc"), PID).unwrap_err());
        assert!(
            err.contains("cgroup2") && err.contains("/elsewhere"),
            "{err}"
        );
        assert_eq!(cgroup2_dir(&t.path("proc"), PID).unwrap(), None);
        // No such process.
        assert!(read_cgroup(&t.path("proc"), PID + 1).is_err());
    }

    /// On this machine, as root: a real v1 cpu cgroup with half a CPU, a child cgroup
    /// without a quota of its own under it, and a busy process in the child, which the
    /// parent's quota throttles.
    #[test]
    fn real_v1_cpu_quota() {
        require_root("context::cgroup::tests::real_v1_cpu_quota");
        let base = Path::new("/sys/fs/cgroup/cpu");
        assert!(
            base.join("cpu.cfs_quota_us").exists(),
            "CANNOT CREATE A V1 CPU CGROUP: {} has no cpu.cfs_quota_us (no cgroup v1 cpu \
             controller with CFS bandwidth is mounted there)",
            base.display()
        );
        let name = format!("gotrace-test-{}", std::process::id());
        let parent = TempCgroup::create(base.join(&name));
        parent.write("cpu.cfs_period_us", "100000");
        parent.write("cpu.cfs_quota_us", "50000");
        let leaf = TempCgroup::create(parent.dir.join("leaf"));
        // Declared after the cgroups: dropped (killed) before they are removed.
        let child = ChildGuard(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("spawn a busy shell"),
        );
        leaf.add(child.pid());

        let info = read_cgroup_live(child.pid()).unwrap();
        assert_eq!(info.version, CgroupVersion::V1);
        assert_eq!(info.path, format!("/{name}/leaf"));
        assert_eq!(info.cpu_quota_cpus, Some(0.5));
        assert!(
            info.cpu_stat_path
                .ends_with(format!("sys/fs/cgroup/cpu/{name}/cpu.stat")),
            "{}",
            info.cpu_stat_path.display()
        );

        let deadline = Instant::now() + Duration::from_secs(10);
        let throttle = loop {
            let t = read_throttle(&info).unwrap();
            if t.nr_throttled > 0 && t.throttled_ns > 0 {
                break t;
            }
            assert!(Instant::now() < deadline, "never throttled: {t:?}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(throttle.nr_periods >= throttle.nr_throttled, "{throttle:?}");

        // This process's own cgroup reads too (the hybrid's memory hierarchy included).
        let me = read_cgroup_live(std::process::id()).unwrap();
        assert_eq!(me.version, CgroupVersion::V1);
        read_throttle(&me).unwrap();
    }
}
