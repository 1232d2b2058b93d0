//! Finding the Go processes of the machine for `--all`: which processes a `--cgroup`
//! filter takes, every pid there is now, and the check of one process (is its executable
//! a Go program?), run off the event loop.
//!
//! gotrace runs as root and the processes are untrusted. A check reads the process's
//! /proc files and its executable, and any of these reads can be held up: an executable
//! on a hung FUSE filesystem stalls open, stat and read for as long as its server likes.
//! So checks run on a few worker threads (3), each under a deadline (1 s). A check past
//! its deadline is given up (its pid is dropped) and its thread is left to finish on its
//! own while a replacement takes its place. There are never more than 3 + 8 threads,
//! stuck or not: once that many are stuck, the queued checks wait until one of them
//! comes back. Every file is read bounded in size.
//!
//! The verdict is kept per executable file (device, inode, size and mtime), so that the
//! 200 processes of one binary cost one read of it, also when they are checked at the
//! same time: a check that finds its executable being read by another worker waits for
//! that read's verdict without taking up a worker.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    fs,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Component, Path, PathBuf},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{anyhow, Result};

use super::{exe_of, go_version, parse_stat_kthread, parse_stat_state};
use crate::context::{
    cgroup::parse_proc_cgroup,
    mounts::{Mount, MountTable},
    procfs::{self, pid_path, proc_root},
};

/// /proc/PID/stat is read up to this much: 52 numbers and a comm of at most 64 bytes
/// take well under 1 KiB.
const STAT_MAX: u64 = 4 << 10;

/// /proc/PID/cgroup is read up to this much: a line per hierarchy, each path at most
/// PATH_MAX (4 KiB), and a v1 machine has about a dozen hierarchies.
const CGROUP_MAX: u64 = 256 << 10;

/// Verdicts kept, one per executable file; the oldest go first.
const VERDICTS_MAX: usize = 4096;

/// Checks waiting for a worker at most; requests beyond are dropped (only when the
/// workers are all stuck and processes keep starting).
const QUEUE_MAX: usize = 1 << 16;

/// How often [`Discovery::wait`] looks for checks past their deadline.
const WAIT_TICK: Duration = Duration::from_millis(25);

/// Which processes `--all --cgroup PATH` takes: a cgroup subtree.
#[derive(Debug, Clone)]
pub struct CgroupFilter {
    hierarchy: Hierarchy,
    /// The cgroup's path in its hierarchy, as /proc/PID/cgroup shows it: absolute,
    /// without `.`, `..` or empty components.
    path: PathBuf,
}

/// The hierarchy a [`CgroupFilter`]'s cgroup is in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hierarchy {
    /// The unified (v2) hierarchy: the `0::` line of /proc/PID/cgroup.
    V2,
    /// A v1 hierarchy, by the superblock options of its mount (`rw,cpu,cpuacct`,
    /// `rw,xattr,name=systemd`): its line of /proc/PID/cgroup is the one whose
    /// controllers are all among them. A controller is in one hierarchy only, so no
    /// other line has them.
    V1 { options: Vec<String> },
}

impl Hierarchy {
    fn of(mount: &Mount) -> Hierarchy {
        if mount.fstype == "cgroup2" {
            Hierarchy::V2
        } else {
            Hierarchy::V1 {
                options: mount
                    .super_options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            }
        }
    }
}

fn is_cgroup_mount(m: &Mount) -> bool {
    m.fstype == "cgroup2" || m.fstype == "cgroup"
}

impl CgroupFilter {
    /// Resolves PATH: either a directory under a cgroup mount (v2 `cgroup2`, or a v1
    /// hierarchy such as `/sys/fs/cgroup/cpu,cpuacct/foo`; symbolic links such as
    /// `/sys/fs/cgroup/cpu` are followed), or a cgroup path as /proc/PID/cgroup shows it
    /// (`/system.slice/foo.service`), looked up under the v2 mounts first, then under
    /// each v1 hierarchy's. The mounts are this process's, from /proc/self/mountinfo.
    /// The error is one line, `no cgroup PATH: why`.
    pub fn resolve(path: &Path) -> Result<CgroupFilter> {
        let mountinfo =
            procfs::read_kernel_text(Path::new("/proc/self/mountinfo")).map_err(|e| {
                anyhow!(
                    "no cgroup {}: cannot read /proc/self/mountinfo: {e}",
                    path.display()
                )
            })?;
        resolve_in(path, &MountTable::from_mountinfo(&mountinfo))
    }

    /// Is a process whose /proc/PID/cgroup reads `proc_cgroup` in the subtree? Its line
    /// of the filter's hierarchy is looked at (`0::/a/b` for v2; for v1 the line of the
    /// same controllers, `4:cpu,cpuacct:/a/b`, or of the same name, `1:name=systemd:/a/b`),
    /// and its path must be the filter's or below it, component by component (`/a/bc` is
    /// not below `/a/b`; `/` holds every path). A path that starts above the root
    /// (`/../x`: a process outside gotrace's cgroup namespace) is in no subtree, and a
    /// process without a line of the hierarchy is not in it either.
    pub fn contains(&self, proc_cgroup: &str) -> bool {
        // Cgroup names cannot hold a newline (kernel/cgroup/cgroup.c, cgroup_mkdir: "do
        // not accept '\n' to prevent making /proc/<pid>/cgroup unparsable"), so a process
        // cannot forge a line by naming a cgroup.
        let lines = parse_proc_cgroup(proc_cgroup);
        let line = match &self.hierarchy {
            Hierarchy::V2 => lines
                .iter()
                .find(|l| l.hierarchy_id == 0 && l.controllers.is_empty()),
            Hierarchy::V1 { options } => lines.iter().find(|l| {
                l.hierarchy_id != 0
                    && !l.controllers.is_empty()
                    && l.controllers.iter().all(|c| options.contains(c))
            }),
        };
        line.is_some_and(|l| {
            let p = Path::new(&l.path);
            !p.components().any(|c| c == Component::ParentDir) && p.starts_with(&self.path)
        })
    }

    /// The cgroup as the user should read it: its path relative to its hierarchy's root,
    /// such as `/system.slice/foo.service`.
    pub fn display(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// [`CgroupFilter::resolve`] with the mounts given.
fn resolve_in(path: &Path, mounts: &MountTable) -> Result<CgroupFilter> {
    let no = |why: &str| anyhow!("no cgroup {}: {why}", path.display());
    // A directory under a cgroup mount. Its path in the hierarchy is the mount's root
    // (the part of the hierarchy mounted there) joined with the rest of the path.
    if let Ok(real) = fs::canonicalize(path) {
        if let Some(m) = mounts.by_path(&real).filter(|m| is_cgroup_mount(m)) {
            if !real.is_dir() {
                return Err(no("not a directory"));
            }
            let rel = real
                .strip_prefix(&m.mount_point)
                .map_err(|_| no("not under its cgroup mount"))?;
            return Ok(CgroupFilter {
                hierarchy: Hierarchy::of(m),
                path: normal(&m.root.join(rel)),
            });
        }
    }
    // A cgroup path, as /proc/PID/cgroup shows it.
    if !path.has_root() {
        return Err(no(
            "not a directory under a cgroup mount, nor a cgroup path (those start with /)",
        ));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(no("a cgroup path has no . or .. in it"));
    }
    let path_in_hierarchy = normal(path);
    let v2 = mounts.mounts.iter().filter(|m| m.fstype == "cgroup2");
    let v1 = mounts.mounts.iter().filter(|m| m.fstype == "cgroup");
    let cgroup_mounts: Vec<&Mount> = v2.rev().chain(v1.rev()).collect();
    if cgroup_mounts.is_empty() {
        return Err(no("no cgroup filesystem is mounted"));
    }
    // Later mounts hide earlier ones on the same point: they come first (each kind's
    // mounts are reversed). A mount of part of a hierarchy (root /docker/abc) holds
    // only the paths below its root.
    for m in cgroup_mounts {
        let Ok(rel) = path_in_hierarchy.strip_prefix(&m.root) else {
            continue;
        };
        if m.mount_point.join(rel).is_dir() {
            return Ok(CgroupFilter {
                hierarchy: Hierarchy::of(m),
                path: path_in_hierarchy,
            });
        }
    }
    Err(no(
        "not a directory under a cgroup mount, nor a cgroup in any mounted hierarchy",
    ))
}

/// `path` rebuilt from its root and normal components: `/a//b/` is `/a/b`.
fn normal(path: &Path) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.extend(path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    }));
    p
}

/// Every process on the machine now (the numeric entries of /proc), ascending. Empty
/// when /proc cannot be read.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir(proc_root()) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&pid| pid > 0)
        .collect();
    pids.sort_unstable();
    pids
}

/// A process found to be a Go program (in the filter's cgroup, when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pid: u32,
    /// The Go toolchain version of its executable, such as "go1.23.4".
    pub go_version: String,
    /// Its start time (field 22 of /proc/PID/stat, in clock ticks after boot): a later
    /// process that reuses the pid has another.
    pub start_time: u64,
}

/// The start time from /proc/PID/stat (field 22; the fields after the comm start after
/// its last ')', and the state is field 3).
fn parse_stat_start_time(stat: &str) -> Option<u64> {
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .nth(22 - 3)?
        .parse()
        .ok()
}

/// How many threads check processes, and for how long.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Threads checking processes (when none is stuck).
    workers: usize,
    /// Threads given up on that are replaced; beyond, the checks wait for one of them
    /// (threads in all: `workers + max_stuck` at most).
    max_stuck: usize,
    /// How long a check may take before it is given up.
    deadline: Duration,
}

const TUNING: Tuning = Tuning {
    workers: 3,
    max_stuck: 8,
    deadline: Duration::from_secs(1),
};

/// An executable file, as its stat tells it. Size and mtime are part of it so that a
/// binary rewritten in place is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ExeKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl ExeKey {
    fn of(meta: &fs::Metadata) -> ExeKey {
        ExeKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// What is known of an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// A worker is reading it; checks of other processes of it wait for the verdict.
    Reading,
    /// Its read passed the deadline: the processes of it are not checked again until
    /// that read comes back (a file on a hung filesystem costs one stuck thread).
    GaveUp,
    /// Its Go version, or `None`: not a Go program, or not readable.
    Known(Option<String>),
}

/// The verdicts, at most [`VERDICTS_MAX`]: the oldest entry goes first.
#[derive(Debug, Default)]
struct Verdicts {
    map: HashMap<ExeKey, Verdict>,
    /// The keys of `map`, oldest first.
    order: VecDeque<ExeKey>,
}

impl Verdicts {
    fn get(&self, key: &ExeKey) -> Option<&Verdict> {
        self.map.get(key)
    }

    fn set(&mut self, key: ExeKey, verdict: Verdict) {
        if self.map.insert(key, verdict).is_none() {
            self.order.push_back(key);
            while self.map.len() > VERDICTS_MAX {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                self.map.remove(&old);
            }
        }
    }
}

/// The check a worker is doing.
#[derive(Debug)]
struct Check {
    started: Instant,
    /// The executable this check is reading (and others may wait for).
    reading: Option<ExeKey>,
}

/// A process waiting for the verdict on its executable.
#[derive(Debug, Clone, Copy)]
struct Parked {
    pid: u32,
    start_time: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Pids to check, in the order asked, each once.
    queue: VecDeque<u32>,
    queued: HashSet<u32>,
    /// The checks running, by worker.
    checks: HashMap<u64, Check>,
    /// Workers whose check was given up and has not come back.
    abandoned: HashSet<u64>,
    /// Workers not given up on (idle or checking).
    live: usize,
    /// Workers given up on whose check has not come back (`abandoned.len()`).
    stuck: usize,
    next_worker: u64,
    verdicts: Verdicts,
    /// Processes waiting for the verdict on an executable another worker reads.
    parked: HashMap<ExeKey, Vec<Parked>>,
    parked_count: usize,
    /// Go processes found since the last poll.
    found: Vec<Found>,
    /// Executables read (how well the verdicts are reused).
    reads: u64,
    /// The [`Discovery`] is gone: workers leave.
    closed: bool,
}

impl State {
    fn pending(&self) -> usize {
        self.queue.len() + self.checks.len() + self.parked_count
    }

    /// Ends worker `id`'s check with its answer; false when the worker is to leave (it
    /// was given up on, and a replacement has taken its place).
    fn finish(&mut self, id: u64, found: Option<Found>, tuning: Tuning) -> bool {
        if self.abandoned.remove(&id) {
            // The pid was dropped when the check was given up: its answer is not wanted.
            self.stuck = self.stuck.saturating_sub(1);
            if self.closed || self.live >= tuning.workers {
                return false;
            }
            self.live += 1;
        } else {
            self.checks.remove(&id);
            self.found.extend(found);
        }
        true
    }
}

/// Called first in every check with its pid; tests use it to hold a check up as a hung
/// filesystem would.
type Hook = Box<dyn Fn(u32) + Send + Sync>;

struct Shared {
    filter: Option<CgroupFilter>,
    tuning: Tuning,
    state: Mutex<State>,
    /// Signalled when a check is queued: idle workers wait on it.
    work: Condvar,
    /// Signalled when a check ends: [`Discovery::wait`] waits on it.
    done: Condvar,
    hook: Option<Hook>,
}

/// What a check read of a process before it needs a verdict.
struct Seen {
    start_time: u64,
    /// Its executable, open: the verdict is for this very file, even if the process has
    /// exec'd another since.
    exe: fs::File,
    key: ExeKey,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere does not stop
        // the checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives up the checks past their deadline and keeps enough workers.
    fn supervise(self: &Arc<Self>, st: &mut State) {
        let now = Instant::now();
        let late: Vec<u64> = st
            .checks
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.started) >= self.tuning.deadline)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            let Some(check) = st.checks.remove(&id) else {
                continue;
            };
            st.abandoned.insert(id);
            st.live = st.live.saturating_sub(1);
            st.stuck += 1;
            if let Some(key) = check.reading {
                st.verdicts.set(key, Verdict::GaveUp);
                if let Some(parked) = st.parked.remove(&key) {
                    st.parked_count = st.parked_count.saturating_sub(parked.len());
                }
            }
        }
        self.fill(st);
    }

    /// Starts workers while there is work, fewer than [`Tuning::workers`] are live, and
    /// the threads left behind leave room.
    fn fill(self: &Arc<Self>, st: &mut State) {
        let t = self.tuning;
        while !st.closed
            && !st.queue.is_empty()
            && st.live < t.workers
            && st.live + st.stuck < t.workers + t.max_stuck
        {
            let id = st.next_worker;
            let shared = Arc::clone(self);
            match std::thread::Builder::new()
                .name("gotrace-discover".into())
                .spawn(move || shared.work(id))
            {
                Ok(_) => {
                    st.next_worker += 1;
                    st.live += 1;
                }
                // Out of threads: the next request, poll or wait tries again.
                Err(_) => break,
            }
        }
    }

    /// A worker: checks queued pids until the [`Discovery`] is dropped, or until it was
    /// given up on and is not needed any more.
    fn work(self: Arc<Self>, id: u64) {
        let mut st = self.lock();
        loop {
            if st.closed {
                st.live = st.live.saturating_sub(1);
                return;
            }
            let Some(pid) = st.queue.pop_front() else {
                st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            st.queued.remove(&pid);
            st.checks.insert(
                id,
                Check {
                    started: Instant::now(),
                    reading: None,
                },
            );
            drop(st);
            let found = self.check(id, pid);
            st = self.lock();
            let stay = st.finish(id, found, self.tuning);
            self.done.notify_all();
            if !stay {
                return;
            }
        }
    }

    /// Checks `pid` as worker `id`: its Go version when it is a Go process (in the
    /// cgroup), else `None`; also `None` when it waits for another worker's read of
    /// its executable (that read answers for it).
    fn check(&self, id: u64, pid: u32) -> Option<Found> {
        let seen = self.look(pid)?;
        let found = |go_version: String| Found {
            pid,
            go_version,
            start_time: seen.start_time,
        };
        let mut st = self.lock();
        if st.abandoned.contains(&id) {
            // Given up while it looked: the pid is dropped, and the file is not read by
            // a thread already counted as stuck.
            return None;
        }
        match st.verdicts.get(&seen.key) {
            Some(Verdict::Known(version)) => return version.clone().map(found),
            Some(Verdict::GaveUp) => return None,
            Some(Verdict::Reading) => {
                st.parked.entry(seen.key).or_default().push(Parked {
                    pid,
                    start_time: seen.start_time,
                });
                st.parked_count += 1;
                return None;
            }
            None => {}
        }
        st.verdicts.set(seen.key, Verdict::Reading);
        if let Some(c) = st.checks.get_mut(&id) {
            c.reading = Some(seen.key);
        }
        st.reads += 1;
        drop(st);

        // The file already open, through our own fd, rather than /proc/PID/exe again:
        // that may be another binary by now, and the verdict is for this one.
        // `go_version` opens non-blocking, refuses what is not a regular file, and reads
        // only the ELF headers and the build info, a bounded range at a time.
        let version = go_version(Path::new(&format!(
            "/proc/self/fd/{}",
            seen.exe.as_raw_fd()
        )));

        let mut st = self.lock();
        // Kept even when this check was given up: the file did answer, late.
        st.verdicts.set(seen.key, Verdict::Known(version.clone()));
        if let Some(parked) = st.parked.remove(&seen.key) {
            st.parked_count = st.parked_count.saturating_sub(parked.len());
            if let Some(v) = &version {
                st.found.extend(parked.into_iter().map(|p| Found {
                    pid: p.pid,
                    go_version: v.clone(),
                    start_time: p.start_time,
                }));
            }
        }
        version.map(found)
    }

    /// Reads what is needed of process `pid` before its verdict: its stat, its cgroup
    /// (with a filter), and its executable, opened. `None` when it is not a candidate:
    /// gone, a zombie, a kernel thread (no executable), outside the cgroup, or its files
    /// unreadable.
    fn look(&self, pid: u32) -> Option<Seen> {
        if let Some(hook) = &self.hook {
            hook(pid);
        }
        let stat = procfs::read_bounded(&pid_path(proc_root(), pid, "stat"), STAT_MAX).ok()?;
        let stat = String::from_utf8_lossy(&stat);
        if parse_stat_kthread(&stat) != Some(false)
            || parse_stat_state(&stat).is_none_or(|s| s == 'Z' || s == 'X')
        {
            return None;
        }
        let start_time = parse_stat_start_time(&stat)?;
        if let Some(filter) = &self.filter {
            let text =
                procfs::read_bounded(&pid_path(proc_root(), pid, "cgroup"), CGROUP_MAX).ok()?;
            if !filter.contains(&String::from_utf8_lossy(&text)) {
                return None;
            }
        }
        let exe = procfs::open_regular(&exe_of(pid)).ok()?;
        let key = ExeKey::of(&exe.metadata().ok()?);
        Some(Seen {
            start_time,
            exe,
            key,
        })
    }
}

/// Checks processes off the event loop: which are Go programs. Never blocks its caller:
/// the reads are done by worker threads, and the caller only takes a lock they hold for
/// no more than a few map operations.
pub struct Discovery {
    shared: Arc<Shared>,
}

impl Discovery {
    /// Checks of every process, or with a filter only of the processes in its cgroup
    /// subtree. No thread is started before the first request.
    pub fn new(filter: Option<CgroupFilter>) -> Discovery {
        Discovery::build(filter, TUNING, None)
    }

    fn build(filter: Option<CgroupFilter>, tuning: Tuning, hook: Option<Hook>) -> Discovery {
        Discovery {
            shared: Arc::new(Shared {
                filter,
                tuning,
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                done: Condvar::new(),
                hook,
            }),
        }
    }

    /// Queues a check of `pid` (never blocks). A pid already queued is queued once;
    /// gotrace's own pid is not checked (it is not a Go program to trace).
    pub fn request(&mut self, pid: u32) {
        if pid == 0 || pid == std::process::id() {
            return;
        }
        let mut st = self.shared.lock();
        if st.queue.len() < QUEUE_MAX && st.queued.insert(pid) {
            st.queue.push_back(pid);
            self.shared.work.notify_one();
        }
        self.shared.supervise(&mut st);
    }

    /// The checks finished since the last poll, Go processes (in the cgroup) only, in
    /// the order they finished; never blocks. A pid requested again while its first
    /// check ran can be reported twice.
    pub fn poll(&mut self) -> Vec<Found> {
        let mut st = self.shared.lock();
        self.shared.supervise(&mut st);
        std::mem::take(&mut st.found)
    }

    /// Checks queued or running (a check given up is not counted).
    pub fn pending(&self) -> usize {
        let mut st = self.shared.lock();
        self.shared.supervise(&mut st);
        st.pending()
    }

    /// Blocks until every queued check is done or given up, or `timeout` passed.
    pub fn wait(&mut self, timeout: Duration) {
        let end = Instant::now().checked_add(timeout);
        let mut st = self.shared.lock();
        loop {
            self.shared.supervise(&mut st);
            if st.pending() == 0 {
                return;
            }
            let now = Instant::now();
            let slice = match end {
                Some(end) if now >= end => return,
                Some(end) => (end - now).min(WAIT_TICK),
                None => WAIT_TICK,
            };
            st = self
                .shared
                .done
                .wait_timeout(st, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Discovery {
    /// Idle workers leave now; a stuck one when its read comes back.
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.queue.clear();
        st.queued.clear();
        self.shared.work.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::procfs::testing::{workspace, ChildGuard, TempTree};
    use std::process::{Command, Stdio};

    fn v1(options: &str, path: &str) -> CgroupFilter {
        CgroupFilter {
            hierarchy: Hierarchy::V1 {
                options: options.split(',').map(str::to_string).collect(),
            },
            path: PathBuf::from(path),
        }
    }

    fn v2(path: &str) -> CgroupFilter {
        CgroupFilter {
            hierarchy: Hierarchy::V2,
            path: PathBuf::from(path),
        }
    }

    #[test]
    fn v2_subtrees_are_matched_by_component() {
        let f = v2("/a/b");
        assert!(f.contains("0::/a/b\n"));
        assert!(f.contains("0::/a/b/c/d\n"));
        assert!(f.contains("0::/a/b/"));
        assert!(!f.contains("0::/a/bc\n"), "/a/bc is not below /a/b");
        assert!(!f.contains("0::/a\n"));
        assert!(!f.contains("0::/\n"));
        assert!(!f.contains(""));
        assert!(!f.contains("garbage\n"));
        // A v1 line with the same path is not the v2 one.
        assert!(!f.contains("4:cpu,cpuacct:/a/b\n"));
        // A cgroup removed while a process is in it (a zombie's) reads " (deleted)".
        assert!(v2("/a").contains("0::/a/b (deleted)\n"));
        // The root holds every path, but not one outside gotrace's cgroup namespace.
        let root = v2("/");
        assert!(root.contains("0::/\n"));
        assert!(root.contains("0::/system.slice/foo.service\n"));
        assert!(!root.contains("0::/../../x\n"));
        // Cgroup names may hold ':'; only the first two separate fields.
        assert!(v2("/a:b").contains("0::/a:b/c\n"));
        assert!(!v2("/a").contains("0::/a:b/c\n"));
    }

    #[test]
    fn v1_subtrees_are_matched_by_the_line_of_their_hierarchy() {
        // A hybrid machine: v1 controllers, name=systemd, and the unified hierarchy.
        let hybrid = "12:pids:/user.slice\n\
                      4:cpu,cpuacct:/a/b/c\n\
                      3:cpuset:/x\n\
                      1:name=systemd:/system.slice/foo.service\n\
                      0::/system.slice/foo.service\n";
        assert!(v1("rw,cpu,cpuacct", "/a/b").contains(hybrid));
        assert!(v1("rw,relatime,cpu,cpuacct", "/a/b/c").contains(hybrid));
        assert!(!v1("rw,cpu,cpuacct", "/a/bc").contains(hybrid));
        assert!(v1("rw,cpu,cpuacct", "/").contains(hybrid));
        // The cpuset line, not the cpu one, answers for the cpuset hierarchy.
        assert!(!v1("rw,cpuset", "/a/b").contains(hybrid));
        assert!(v1("rw,cpuset", "/x").contains(hybrid));
        // A named hierarchy.
        let systemd = v1("rw,xattr,name=systemd", "/system.slice");
        assert!(systemd.contains(hybrid));
        assert!(!v1("rw,xattr,name=systemd", "/user.slice").contains(hybrid));
        // A hierarchy the process has no line of (memory is not listed).
        assert!(!v1("rw,memory", "/").contains(hybrid));
        // `cpu` alone is another hierarchy than `cpu,cpuacct` (on machines that mount
        // each controller on its own).
        let split = "2:cpuacct:/other\n1:cpu:/a/b\n0::/\n";
        assert!(v1("rw,cpu", "/a").contains(split));
        assert!(!v1("rw,cpuacct", "/a").contains(split));
        // A v1 filter never takes the v2 line.
        assert!(!v1("rw", "/").contains("0::/a\n"));
    }

    /// A tree of cgroup mounts in a temporary directory, and its mount table:
    /// `cg2` (v2, the whole hierarchy), `sub` (v2, mounting only /docker/abc),
    /// `v1/cpu,cpuacct` (with the symbolic link `v1/cpu` to it) and `v1/systemd`.
    fn fixture() -> (TempTree, PathBuf, MountTable) {
        let tree = TempTree::new("discover-cgroups");
        let root = fs::canonicalize(&tree.root).expect("canonical temp dir");
        for dir in [
            "cg2/a/b",
            "cg2/only2",
            "sub/k",
            "v1/cpu,cpuacct/x/y",
            "v1/systemd/user.slice",
        ] {
            tree.mkdir(dir);
        }
        tree.write("cg2/a/cgroup.procs", "");
        std::os::unix::fs::symlink("cpu,cpuacct", root.join("v1/cpu")).expect("symlink");
        let r = root.display();
        let mountinfo = format!(
            "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
             30 22 0:26 / {r}/cg2 rw - cgroup2 cgroup2 rw,nsdelegate\n\
             31 22 0:27 / {r}/v1/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             32 22 0:28 / {r}/v1/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
             33 22 0:26 /docker/abc {r}/sub rw - cgroup2 cgroup2 rw\n"
        );
        (tree, root, MountTable::from_mountinfo(&mountinfo))
    }

    #[test]
    fn resolve_takes_directories_under_cgroup_mounts() {
        let (_tree, root, mounts) = fixture();
        let f = resolve_in(&root.join("cg2/a/b"), &mounts).expect("v2 directory");
        assert_eq!(
            (f.hierarchy.clone(), f.display()),
            (Hierarchy::V2, "/a/b".into())
        );
        assert!(f.contains("0::/a/b/c\n") && !f.contains("0::/a/bc\n"));
        // The mount point itself is the hierarchy's root.
        let f = resolve_in(&root.join("cg2"), &mounts).expect("v2 root");
        assert_eq!(f.display(), "/");
        // Through the symbolic link, to the v1 hierarchy of cpu and cpuacct.
        let f = resolve_in(&root.join("v1/cpu/x"), &mounts).expect("v1 directory");
        assert_eq!(f.display(), "/x");
        assert!(f.contains("4:cpu,cpuacct:/x/y\n0::/\n"));
        assert!(!f.contains("4:cpu,cpuacct:/y\n0::/x\n"));
        // A mount of part of a hierarchy: paths are the hierarchy's, not the mount's.
        let f = resolve_in(&root.join("sub/k"), &mounts).expect("v2 sub-mount");
        assert_eq!(f.display(), "/docker/abc/k");
    }

    #[test]
    fn resolve_takes_cgroup_paths_v2_first() {
        let (_tree, _root, mounts) = fixture();
        let f = resolve_in(Path::new("/a/b"), &mounts).expect("v2 path");
        assert_eq!(
            (f.hierarchy.clone(), f.display()),
            (Hierarchy::V2, "/a/b".into())
        );
        let f = resolve_in(Path::new("//a/b/"), &mounts).expect("v2 path, odd slashes");
        assert_eq!(f.display(), "/a/b");
        let f = resolve_in(Path::new("/"), &mounts).expect("the root");
        assert_eq!(
            (f.hierarchy.clone(), f.display()),
            (Hierarchy::V2, "/".into())
        );
        // Only in a v1 hierarchy.
        let f = resolve_in(Path::new("/x/y"), &mounts).expect("v1 path");
        assert!(
            matches!(&f.hierarchy, Hierarchy::V1 { options } if options.iter().any(|o| o == "cpuacct"))
        );
        assert_eq!(f.display(), "/x/y");
        let f = resolve_in(Path::new("/user.slice"), &mounts).expect("named v1 path");
        assert!(f.contains("1:name=systemd:/user.slice/u\n0::/\n"));
        // Below the root of a mount of part of the hierarchy.
        let f = resolve_in(Path::new("/docker/abc/k"), &mounts).expect("path in a sub-mount");
        assert_eq!(f.display(), "/docker/abc/k");
    }

    #[test]
    fn resolve_errors_are_one_line() {
        let (_tree, root, mounts) = fixture();
        let file = root.join("cg2/a/cgroup.procs");
        let cases: [(PathBuf, &str); 5] = [
            ("/nope".into(), "nor a cgroup in any mounted hierarchy"),
            ("/a/../a".into(), "no . or .."),
            ("no-such-relative/x".into(), "those start with /"),
            (file.clone(), "not a directory"),
            // A directory that is not under a cgroup mount, nor a cgroup path.
            (root.join("v1"), "nor a cgroup in any mounted hierarchy"),
        ];
        for (path, why) in cases {
            let e = resolve_in(&path, &mounts).expect_err(&path.display().to_string());
            let msg = format!("{e:#}");
            assert!(
                msg.starts_with(&format!("no cgroup {}: ", path.display())) && msg.contains(why),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "{msg:?}");
        }
        let e = resolve_in(Path::new("/a"), &MountTable::default()).expect_err("no mounts");
        assert_eq!(
            format!("{e:#}"),
            "no cgroup /a: no cgroup filesystem is mounted"
        );
        // On the real machine.
        let e = CgroupFilter::resolve(Path::new("/gotrace-no-such-cgroup/x"))
            .expect_err("a cgroup that does not exist");
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("no cgroup /gotrace-no-such-cgroup/x: "),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg:?}");
    }

    /// A filter of this process's own cgroup on the real machine, from the first line of
    /// /proc/self/cgroup that resolves; `None` (said on stderr) when none does.
    fn own_filter() -> Option<CgroupFilter> {
        let own = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        let found = parse_proc_cgroup(&own)
            .iter()
            .find_map(|l| CgroupFilter::resolve(Path::new(&l.path)).ok());
        if found.is_none() {
            eprintln!("no cgroup of this process is mounted here ({own:?}): not checked");
        }
        found
    }

    #[test]
    fn own_cgroup_resolves_and_contains_this_process() {
        let Some(f) = own_filter() else { return };
        let own = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        assert!(f.contains(&own), "{f:?} does not contain {own:?}");
    }

    #[test]
    fn start_time_is_field_22() {
        let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_start_time(kthreadd), Some(5));
        let odd = "7 (a) b) S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat_start_time(odd), Some(12345));
        assert_eq!(parse_stat_start_time("7 (a) S 1 2"), None);
        assert_eq!(parse_stat_start_time("garbage"), None);
    }

    #[test]
    fn all_pids_lists_this_process_in_order() {
        let pids = all_pids();
        assert!(pids.contains(&std::process::id()), "{pids:?}");
        assert!(pids.windows(2).all(|w| w[0] < w[1]), "not ascending");
    }

    #[test]
    fn discovery_is_send() {
        fn send<T: Send>() {}
        send::<Discovery>();
    }

    fn sleeper() -> ChildGuard {
        ChildGuard(
            Command::new("sleep")
                .arg("60")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep"),
        )
    }

    #[test]
    fn processes_that_are_not_go_are_not_found() {
        let mut d = Discovery::new(None);
        // gotrace itself (here: the test binary, a Rust program) is never checked.
        d.request(std::process::id());
        assert_eq!(d.pending(), 0);
        let child = sleeper();
        d.request(child.pid());
        // pid_max is at most 2^22: no such process.
        d.request(99_999_999);
        // A kernel thread, when this pid namespace shows one.
        let kthread = all_pids().into_iter().find(|&p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| parse_stat_kthread(&s))
                == Some(true)
        });
        match kthread {
            Some(k) => d.request(k),
            None => eprintln!("no kernel thread visible in this pid namespace: not checked"),
        }
        d.wait(Duration::from_secs(30));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.poll(), []);
        // The sleep binary was read; the others had no executable to read.
        assert_eq!(d.shared.lock().reads, 1);
    }

    /// Holds up the checks of the pids in `hung` until opened, as a hung filesystem would.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        hung: HashSet<u32>,
    }

    impl Gate {
        fn hook(self: &Arc<Self>) -> Hook {
            let gate = Arc::clone(self);
            Box::new(move |pid| {
                if gate.hung.contains(&pid) {
                    let mut open = gate.open.lock().unwrap_or_else(PoisonError::into_inner);
                    while !*open {
                        open = gate
                            .opened
                            .wait(open)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
            })
        }

        fn release(&self) {
            *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
            self.opened.notify_all();
        }
    }

    #[test]
    fn hung_checks_are_given_up_and_the_stuck_threads_bounded() {
        // Pids above pid_max (2^22) that hang, and one that does not exist.
        let (h1, h2, h3, none) = (5_000_001, 5_000_002, 5_000_003, 99_999_999);
        let gate = Arc::new(Gate {
            hung: HashSet::from([h1, h2, h3]),
            ..Gate::default()
        });
        let tuning = Tuning {
            workers: 1,
            max_stuck: 2,
            deadline: Duration::from_millis(100),
        };
        let mut d = Discovery::build(None, tuning, Some(gate.hook()));
        let threads = |d: &Discovery| {
            let st = d.shared.lock();
            (st.live, st.stuck)
        };

        // The only worker hangs on h1; a replacement checks the next pid.
        d.request(h1);
        d.request(none);
        d.wait(Duration::from_secs(10));
        assert_eq!(d.pending(), 0, "the check after a hung one did not run");
        assert_eq!(threads(&d), (1, 1));

        // Two more hang: the second one leaves no room for a replacement (1 worker + 2
        // stuck at most), and the next check waits.
        d.request(h2);
        d.request(h3);
        d.request(none);
        d.wait(Duration::from_secs(1));
        assert_eq!(d.pending(), 1, "the last check should wait for a thread");
        assert_eq!(threads(&d), (0, 3));

        // The stuck reads come back: one thread rejoins and checks the rest, the others
        // leave; nothing of the given-up pids is reported.
        gate.release();
        d.wait(Duration::from_secs(10));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.poll(), []);
        let deadline = Instant::now() + Duration::from_secs(10);
        while threads(&d) != (1, 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(threads(&d), (1, 0));
    }

    #[test]
    fn a_read_given_up_drops_the_processes_waiting_for_it() {
        let mut d = Discovery::new(None);
        let key = ExeKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
        };
        {
            let mut st = d.shared.lock();
            st.live = 1;
            st.checks.insert(
                7,
                Check {
                    started: Instant::now() - Duration::from_secs(5),
                    reading: Some(key),
                },
            );
            st.verdicts.set(key, Verdict::Reading);
            st.parked.insert(
                key,
                vec![Parked {
                    pid: 101,
                    start_time: 1,
                }],
            );
            st.parked_count = 1;
            assert_eq!(st.pending(), 2);
        }
        assert_eq!(d.pending(), 0);
        {
            let mut st = d.shared.lock();
            assert_eq!(st.verdicts.get(&key), Some(&Verdict::GaveUp));
            assert_eq!((st.live, st.stuck), (0, 1));
            // The read comes back late: its verdict is kept, its pid not reported.
            assert!(st.finish(7, None, TUNING));
            st.verdicts.set(key, Verdict::Known(Some("go1.0".into())));
            assert_eq!((st.live, st.stuck), (1, 0));
        }
        assert_eq!(d.poll(), []);
    }

    #[test]
    fn verdicts_are_bounded_oldest_first() {
        let mut v = Verdicts::default();
        let key = |ino| ExeKey {
            dev: 1,
            ino,
            size: 0,
            mtime: (0, 0),
        };
        for ino in 0..VERDICTS_MAX as u64 + 10 {
            v.set(key(ino), Verdict::Known(None));
        }
        assert_eq!(v.map.len(), VERDICTS_MAX);
        assert_eq!(v.order.len(), VERDICTS_MAX);
        assert_eq!(v.get(&key(9)), None);
        assert!(v.get(&key(10)).is_some());
        // Replacing a verdict does not add a key.
        v.set(key(10), Verdict::GaveUp);
        assert_eq!(v.order.len(), VERDICTS_MAX);
    }

    /// Builds `package main` sleeping a minute with the workspace's Go, into `tree`.
    /// `None` (said on stderr) when there is no Go toolchain.
    fn go_sleeper(tree: &TempTree) -> Option<(PathBuf, String)> {
        let go = workspace().join(".tools/go-venv/bin/go");
        if !go.exists() {
            eprintln!(
                "SKIPPED: no Go toolchain at {} (cargo xtask setup installs it): \
                 finding a real Go process not checked",
                go.display()
            );
            return None;
        }
        let go_cmd = || {
            let mut c = Command::new(&go);
            c.current_dir(&tree.root)
                .env("GOTOOLCHAIN", "local")
                .env("GOWORK", "off")
                .env("CGO_ENABLED", "0")
                .env("GOPATH", tree.path("gopath"))
                // The build cache the other tests' Go builds share (see
                // model/tests/toolchains).
                .env("GOCACHE", workspace().join("target/go-cache"));
            c
        };
        tree.write(
            "main.go",
            "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Minute) }\n",
        );
        let bin = tree.path("sleeper");
        let out = go_cmd()
            .args(["build", "-o"])
            .arg(&bin)
            .arg("main.go")
            .output()
            .expect("run go build");
        assert!(
            out.status.success(),
            "go build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = go_cmd()
            .args(["env", "GOVERSION"])
            .output()
            .expect("run go env");
        assert!(out.status.success(), "go env GOVERSION failed");
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some((bin, version))
    }

    fn start_time_of(pid: u32) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
        parse_stat_start_time(&stat).expect("start time")
    }

    #[test]
    fn go_processes_are_found_with_their_version_reading_the_binary_once() {
        let tree = TempTree::new("discover-go");
        let Some((bin, version)) = go_sleeper(&tree) else {
            return;
        };
        let spawn = || {
            ChildGuard(
                Command::new(&bin)
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("start the Go program"),
            )
        };
        // spawn returns after the exec: /proc/PID/exe is the Go binary already.
        let gos: Vec<ChildGuard> = (0..3).map(|_| spawn()).collect();
        let not_go = sleeper();
        let mut want: Vec<Found> = gos
            .iter()
            .map(|c| Found {
                pid: c.pid(),
                go_version: version.clone(),
                start_time: start_time_of(c.pid()),
            })
            .collect();
        want.sort_by_key(|f| f.pid);

        let own = own_filter();
        let mut d = Discovery::new(own.clone());
        for c in gos.iter().chain([&not_go]) {
            d.request(c.pid());
        }
        d.wait(Duration::from_secs(30));
        assert_eq!(d.pending(), 0);
        let mut got = d.poll();
        got.sort_by_key(|f| f.pid);
        assert_eq!(got, want);
        // One read of the Go binary for three processes (the other is sleep's).
        assert_eq!(d.shared.lock().reads, 2);
        // Asked again: answered from the verdicts.
        d.request(gos[0].pid());
        d.wait(Duration::from_secs(30));
        let first: Vec<Found> = want
            .iter()
            .filter(|f| f.pid == gos[0].pid())
            .cloned()
            .collect();
        assert_eq!(d.poll(), first);
        assert_eq!(d.shared.lock().reads, 2);

        // A cgroup they are not in.
        if let Some(own) = own {
            let elsewhere = CgroupFilter {
                path: PathBuf::from("/gotrace-no-such-cgroup"),
                ..own
            };
            let mut d = Discovery::new(Some(elsewhere));
            for c in &gos {
                d.request(c.pid());
            }
            d.wait(Duration::from_secs(30));
            assert_eq!(d.pending(), 0);
            assert_eq!(d.poll(), []);
            assert_eq!(
                d.shared.lock().reads,
                0,
                "read an executable outside the cgroup"
            );
        }
    }
}
