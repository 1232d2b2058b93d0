//! The traced process: validating a --pid, launching a command, watching for its exit,
//! and the facts about it that /proc and its binary give.
pub mod buildinfo;
pub mod discover;
pub mod launch;

use std::{
    collections::{HashMap, HashSet},
    fs, io,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
use tokio::io::unix::AsyncFd;

/// Checks that `pid` names a live process and returns its tgid. A thread id is accepted
/// and mapped to its process (all threads are traced either way).
pub fn resolve_pid(pid: i32) -> Result<u32> {
    if pid <= 0 {
        bail!("invalid pid {pid}: must be a positive process id");
    }
    let status = match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!("no such process: {pid}"),
        Err(e) => return Err(e).with_context(|| format!("read /proc/{pid}/status")),
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .map(str::to_string)
    };
    if field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X')) {
        bail!("process {pid} has already exited (it is a zombie)");
    }
    let tgid: u32 = field("Tgid:")
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("no Tgid in /proc/{pid}/status"))?;
    let kthread = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat_kthread(&s));
    if kthread == Some(true) {
        let name = field("Name:").unwrap_or_default();
        bail!("process {pid} ({name}) is a kernel thread: it makes no system calls to trace");
    }
    Ok(tgid)
}

/// Is the process running (not gone, not a zombie)?
pub fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat_state(&stat))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// /proc/PID/cmdline is read up to this much (the kernel lets argv reach a quarter of
/// the stack limit: megabytes).
pub const CMDLINE_MAX: u64 = 1 << 20;

/// argv of a process, or empty when it cannot be read (exited, or a kernel thread); at
/// most [`CMDLINE_MAX`] bytes of it.
pub fn read_cmdline(pid: u32) -> Vec<String> {
    use std::io::Read as _;
    let mut raw = Vec::new();
    match fs::File::open(format!("/proc/{pid}/cmdline"))
        .and_then(|f| f.take(CMDLINE_MAX).read_to_end(&mut raw))
    {
        Ok(_) => parse_cmdline(&raw),
        Err(_) => Vec::new(),
    }
}

/// `f`'s answer, computed on a thread of its own, if it comes within `limit`. For reads
/// the traced process can hold up: its cmdline, mem and syscall files wait for locks of
/// its own (a thread faulting on a hung FUSE mapping holds its mmap lock), and the
/// caller must not wait with them. A read that never returns keeps only its thread.
pub fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("gotrace-proc".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(limit).ok()
}

pub use gotrace_model::event::parse_cmdline;

/// The short command name (comm) of a process.
pub fn read_comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The Go version of an executable: Some("go1.x") for a Go binary, None otherwise
/// (including when it cannot be read: a missing version is shown as "not a Go binary"
/// either way, and tracing does not depend on it).
pub fn go_version(exe: &Path) -> Option<String> {
    // Non-blocking, and refused unless regular (a FIFO would hold the open).
    go_version_of(&crate::context::procfs::open_regular(exe).ok()?)
}

/// The same for an executable already open.
pub fn go_version_of(exe: &fs::File) -> Option<String> {
    match buildinfo::read_go_buildinfo_file(exe) {
        Ok(Some(info)) => Some(info.version),
        _ => None,
    }
}

/// The executable of a running process, as a path that works from this mount namespace
/// (/proc/PID/exe opens the very file even when it was deleted or is in another root).
pub fn exe_of(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/exe"))
}

/// Every live descendant of `root` (children, grandchildren, ...), from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = read_ppid(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::from([root]);
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(c) {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Parent pid from /proc/PID/stat.
fn read_ppid(pid: u32) -> Option<u32> {
    parse_stat_ppid(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The fields of /proc/PID/stat after the comm, which may hold spaces and parentheses:
/// they start after the last ')'.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// The state letter (R, S, D, Z, T, ...) from /proc/PID/stat.
pub fn parse_stat_state(stat: &str) -> Option<char> {
    stat_fields(stat)?.next()?.chars().next()
}

/// Is this /proc/PID/stat a kernel thread's (PF_KTHREAD in its flags, the 9th field;
/// include/linux/sched.h)?
pub fn parse_stat_kthread(stat: &str) -> Option<bool> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let flags: u64 = stat_fields(stat)?.nth(6)?.parse().ok()?;
    Some(flags & PF_KTHREAD != 0)
}

/// The parent pid from /proc/PID/stat.
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    stat_fields(stat)?.nth(1)?.parse().ok()
}

/// A process file descriptor: becomes readable when the process exits, and cannot be
/// confused with a later process that reuses the pid.
pub struct PidFd {
    fd: AsyncFd<OwnedFd>,
    pid: u32,
}

impl PidFd {
    /// pidfd_open(2). Must be called inside the tokio runtime.
    pub fn open(pid: u32) -> Result<PidFd> {
        let target = rustix::process::Pid::from_raw(pid as i32)
            .with_context(|| format!("no such process: {pid}"))?;
        let fd = match rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => bail!("no such process: {pid}"),
            Err(e) => return Err(io::Error::from(e)).with_context(|| format!("pidfd_open({pid})")),
        };
        // SAFETY: the OwnedFd stays open and unchanged while the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register(fd) }
            .map_err(|e| e.into_parts().1)
            .context("register the pidfd")?;
        Ok(PidFd { fd, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Has the process exited (without waiting)?
    pub fn has_exited(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(self.fd.get_ref(), PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0) && fds[0].revents().contains(PollFlags::IN)
    }

    /// Waits for the process to exit.
    pub async fn exited(&self) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        guard.retain_ready();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_gives_up_on_a_read_that_does_not_return() {
        use std::time::{Duration, Instant};
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let start = Instant::now();
        // Blocks until the sender is dropped, after the wait is over.
        let got = within(Duration::from_millis(20), move || rx.recv().is_ok());
        assert_eq!(got, None);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        drop(tx);
        let me = std::process::id();
        let argv = within(Duration::from_secs(30), move || read_cmdline(me));
        assert!(argv.is_some_and(|a| !a.is_empty()));
    }

    #[test]
    fn kernel_threads_are_told_by_their_stat_flags() {
        // kthreadd on 6.18: flags 2129984 = 0x208040 (PF_KTHREAD | PF_NOFREEZE | ...).
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        // A process whose comm holds ") " cannot fool the parse: fields start after
        // the last ')'.
        let user = "77 (a) S 1 2 3 4) S 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0";
        assert_eq!(parse_stat_kthread(kthread), Some(true));
        assert_eq!(parse_stat_kthread(user), Some(false));
        assert_eq!(parse_stat_kthread("garbage"), None);
    }

    #[test]
    fn stat_parsing_survives_odd_comms() {
        assert_eq!(parse_stat_ppid("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parse_stat_ppid("42 (a) b) (c) R 99 1 1"), Some(99));
        assert_eq!(parse_stat_ppid("garbage"), None);
        assert_eq!(parse_stat_state("42 (a) b) (c) Z 99 1 1"), Some('Z'));
        assert_eq!(parse_cmdline(b"sh\0-c\0\0exit 3\0"), ["sh", "-c", "exit 3"]);
    }

    #[test]
    fn resolve_pid_rejects_bad_pids() {
        let e = resolve_pid(0).expect_err("pid 0");
        assert!(e.to_string().contains("invalid pid 0"), "{e}");
        let e = resolve_pid(-5).expect_err("negative pid");
        assert!(e.to_string().contains("invalid pid -5"), "{e}");
        // pid_max is at most 2^22, so this pid cannot exist.
        let e = resolve_pid(99_999_999).expect_err("missing pid");
        assert_eq!(e.to_string(), "no such process: 99999999");
    }

    #[test]
    fn resolve_pid_maps_threads_to_their_process() {
        let me = std::process::id();
        assert_eq!(resolve_pid(me as i32).expect("own pid"), me);
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tx.send(unsafe { libc::gettid() });
            let _ = done_rx.recv();
        });
        let tid = rx.recv().expect("tid");
        assert_ne!(tid as u32, me);
        assert_eq!(resolve_pid(tid).expect("live thread"), me);
        let _ = done_tx.send(());
        let _ = t.join();
    }

    #[test]
    fn descendants_finds_grandchildren() {
        use std::io::BufRead as _;
        // sh forks sleep and prints its pid: once the line is read, both exist.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the grandchild's pid");
        let grandchild: u32 = line.trim().parse().expect("a pid");
        let found = descendants(std::process::id());
        // Only this test's own child and grandchild are signalled: other tests run in
        // this process too, and their children are theirs.
        for p in [grandchild, child.id()] {
            // SAFETY: signalling the processes this test started.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        let _ = child.wait();
        assert!(
            found.contains(&child.id()),
            "child {} not in {found:?}",
            child.id()
        );
        assert!(
            found.contains(&grandchild),
            "grandchild {grandchild} not in {found:?}"
        );
    }
}
