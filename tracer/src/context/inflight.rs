//! What a thread that is in a syscall right now is waiting on, from /proc: the call's
//! arguments (`task/TID/syscall`), the path it names (read from its memory), the file
//! behind a descriptor (the fd link and fdinfo's `mnt_id`; never the file itself, which
//! may be the one that hangs), the cwd, and the kernel function it sleeps in (`wchan`).
//!
//! The kernel says which call a thread is in and how long it has been there; this says
//! on what, in the terms of the kernel's own classifier (`tracer_common::class`).
use std::{
    fs,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use tracer_common::{class, futex_parks, nr, waits_on, Inflight, Waits};

use crate::analysis::{InProgress, ThreadState};

use super::{
    mounts::{FsKind, MountTable},
    procfs::{pid_path, task_path},
};

/// A call's number and argument registers, as `/proc/PID/task/TID/syscall` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcCall {
    pub nr: u32,
    pub args: [u64; 6],
}

/// Parses `task/TID/syscall`: "NR ARG1 .. ARG6 SP PC" (hex arguments) while in a call;
/// "running" or "-1 SP PC" otherwise.
pub fn parse_syscall(text: &str) -> Option<ProcCall> {
    let mut f = text.split_ascii_whitespace();
    let nr = f.next()?.parse().ok()?;
    let mut args = [0u64; 6];
    for a in &mut args {
        *a = u64::from_str_radix(f.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some(ProcCall { nr, args })
}

/// The call thread `tid` of process `pid` is in, if it is in one.
pub fn read_syscall(proc_root: &Path, pid: u32, tid: u32) -> Option<ProcCall> {
    let path = task_path(proc_root, pid, tid, "syscall");
    parse_syscall(&fs::read_to_string(path).ok()?)
}

/// The kernel function a sleeping thread waits in (`fuse_wait_answer`, `pipe_read`).
pub fn wchan(proc_root: &Path, pid: u32, tid: u32) -> Option<String> {
    let path = task_path(proc_root, pid, tid, "wchan");
    let w = fs::read_to_string(path).ok()?;
    let w = w.trim();
    (!w.is_empty() && w != "0").then(|| w.to_string())
}

/// The argument registers holding a path-based call's (dirfd, path): dirfd is None for
/// the calls relative to the cwd.
fn path_args(n: u32) -> Option<(Option<usize>, usize)> {
    use nr::*;
    match n {
        OPEN | CREAT | STAT | LSTAT | ACCESS | READLINK | MKDIR | UNLINK | RMDIR | RENAME
        | LINK | CHDIR | TRUNCATE | CHMOD | CHOWN | EXECVE => Some((None, 0)),
        OPENAT | OPENAT2 | NEWFSTATAT | STATX | MKDIRAT | UNLINKAT | RENAMEAT | RENAMEAT2
        | READLINKAT | FCHMODAT | FACCESSAT | FACCESSAT2 | UTIMENSAT | EXECVEAT => {
            Some((Some(0), 1))
        }
        _ => None,
    }
}

/// `AT_FDCWD` as a register holds it.
const AT_FDCWD: u64 = -100i64 as u64;
const PATH_MAX: usize = 4096;

/// How long the path argument of a call in progress is waited for.
const MEM_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The NUL-terminated string at `addr` in the memory of process `pid`, read on a thread
/// of its own (a read of another process's memory waits for its mmap lock: see
/// `tracee::within`), or None if it does not come within [`MEM_WAIT`].
fn read_c_string(proc_root: &Path, pid: u32, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let root = proc_root.to_path_buf();
    crate::tracee::within(MEM_WAIT, move || read_c_string_now(&root, pid, addr)).flatten()
}

fn read_c_string_now(proc_root: &Path, pid: u32, addr: u64) -> Option<String> {
    let mem = fs::File::open(pid_path(proc_root, pid, "mem")).ok()?;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PATH_MAX {
        // Read up to the page's end: the next page may not be mapped.
        let n = (4096 - (at % 4096) as usize).min(PATH_MAX - out.len());
        let mut buf = vec![0u8; n];
        let got = mem.read_at(&mut buf, at).ok().filter(|g| *g > 0)?;
        if let Some(end) = buf[..got].iter().position(|b| *b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..got]);
        at += got as u64;
    }
    None
}

/// What `/proc/PID/fd/N` links to: a path, or "pipe:[INODE]", "socket:[INODE]",
/// "anon_inode:[eventpoll]".
pub fn fd_link(proc_root: &Path, pid: u32, fd: u64) -> Option<String> {
    let link = fs::read_link(pid_path(proc_root, pid, "fd").join(fd.to_string())).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// The mount id of the file behind a descriptor (fdinfo's `mnt_id`).
pub fn fd_mount_id(proc_root: &Path, pid: u32, fd: u64) -> Option<u32> {
    let info = fs::read_to_string(pid_path(proc_root, pid, "fdinfo").join(fd.to_string())).ok()?;
    let id = super::procfs::flat_keyed(&info)
        .find(|(k, _)| *k == "mnt_id:")
        .and_then(|(_, v)| v.parse().ok());
    id
}

/// What a call in progress waits on: a `tracer_common::class`, the filesystem's kernel
/// device for the file classes, and what it names (a path, a descriptor's file, a child).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Waiting {
    pub class: u32,
    pub dev: u32,
    pub detail: Option<String>,
}

/// Classifies call `c` of process `pid`, the way the kernel classifies a returning call
/// (`tracer-ebpf`'s classify), from what /proc shows while it is still in progress.
pub fn classify(proc_root: &Path, pid: u32, c: &ProcCall, mounts: Option<&MountTable>) -> Waiting {
    let simple = |class| Waiting {
        class,
        ..Waiting::default()
    };
    match waits_on(c.nr) {
        Waits::Futex if futex_parks(c.nr, &c.args) => simple(class::FUTEX_IDLE),
        Waits::Futex => simple(class::FUTEX),
        Waits::Poll => Waiting {
            detail: matches!(c.nr, nr::EPOLL_WAIT | nr::EPOLL_PWAIT | nr::EPOLL_PWAIT2)
                .then(|| format!("epoll fd {}", c.args[0])),
            ..simple(class::NETPOLL)
        },
        Waits::Child => Waiting {
            detail: Some(match c.args[0] as i64 as i32 {
                -1 => "any child".to_string(),
                p if c.nr == nr::WAIT4 && p > 0 => format!("child {p}"),
                _ if c.nr == nr::WAITID && c.args[0] == 1 => format!("child {}", c.args[1]),
                _ => "a child".to_string(),
            }),
            ..simple(class::CHILD_WAIT)
        },
        Waits::Nanosleep => simple(class::NANOSLEEP),
        Waits::Sleep => simple(class::SLEEP),
        Waits::Fd => classify_fd(proc_root, pid, c.args[0], mounts),
        Waits::Open | Waits::Exec | Waits::Stat(_) | Waits::Statx | Waits::Path => {
            classify_path(proc_root, pid, c, mounts)
        }
        Waits::Other => simple(class::OTHER),
    }
}

fn classify_fd(proc_root: &Path, pid: u32, fd: u64, mounts: Option<&MountTable>) -> Waiting {
    let Some(link) = fd_link(proc_root, pid, fd) else {
        return Waiting {
            class: class::OTHER,
            ..Waiting::default()
        };
    };
    let detail = Some(format!("fd {fd} {link}"));
    let class_dev = if link.starts_with("pipe:") {
        (class::PIPE, 0)
    } else if link.starts_with("socket:") {
        (class::SOCKET, 0)
    } else if link.starts_with("anon_inode:") || !link.starts_with('/') {
        (class::OTHER, 0)
    } else {
        let mount = mounts.and_then(|m| {
            let id = fd_mount_id(proc_root, pid, fd)?;
            m.mounts.iter().find(|x| x.mount_id == id)
        });
        match mount {
            Some(m) if matches!(m.fstype.as_str(), "devtmpfs" | "devpts") => (class::DEVICE, 0),
            // A named pipe or a device node on a local filesystem. Only local files are
            // looked at: a stat on a FUSE or network file asks its server, which may be
            // the very thing that hangs.
            Some(m) if !FsKind::is_remote(&m.kind()) => {
                use std::os::unix::fs::FileTypeExt;
                let path = pid_path(proc_root, pid, "fd").join(fd.to_string());
                match fs::metadata(path).map(|md| md.file_type()) {
                    Ok(t) if t.is_fifo() => (class::PIPE, 0),
                    Ok(t) if t.is_socket() => (class::SOCKET, 0),
                    Ok(t) if t.is_char_device() => (class::DEVICE, 0),
                    _ => (class::FS, m.kernel_dev()),
                }
            }
            Some(m) => (class::FS, m.kernel_dev()),
            None => (class::OTHER, 0),
        }
    };
    Waiting {
        class: class_dev.0,
        dev: class_dev.1,
        detail,
    }
}

fn classify_path(proc_root: &Path, pid: u32, c: &ProcCall, mounts: Option<&MountTable>) -> Waiting {
    let cwd = fs::read_link(pid_path(proc_root, pid, "cwd")).ok();
    let named = path_args(c.nr).and_then(|(dirfd, path)| {
        let p = PathBuf::from(read_c_string(proc_root, pid, c.args[path])?);
        if p.is_absolute() {
            return Some(p);
        }
        let base = match dirfd.map(|d| c.args[d]) {
            None | Some(AT_FDCWD) => cwd.clone()?,
            Some(fd) => PathBuf::from(fd_link(proc_root, pid, fd)?),
        };
        Some(base.join(p))
    });
    // The kernel files a path-based call under the cwd's filesystem when it cannot tell
    // better; with the path in hand, its mount is known.
    let (class, place) = match &named {
        Some(p) => (class::FS, Some(p.as_path())),
        None => (class::FS_CWD, cwd.as_deref()),
    };
    let dev = place
        .and_then(|p| mounts?.by_path(p))
        .map(|m| m.kernel_dev());
    Waiting {
        class: if dev.is_some() { class } else { class::OTHER },
        dev: dev.unwrap_or(0),
        detail: named.map(|p| p.display().to_string()),
    }
}

/// Most threads looked at per refresh: enough for any Go program, bounded for a runaway.
const IN_PROGRESS_MAX_THREADS: usize = 4096;

/// What [`calls_in_progress`] needs to know from the last refresh.
pub struct Before<'a> {
    /// The calls in progress then (what /proc said of each is not asked again).
    pub in_progress: &'a [InProgress],
    /// The traced processes alive (children seen but not followed are not traced:
    /// their threads have no slots).
    pub traced_pids: Vec<u32>,
    /// When tracing began (CLOCK_MONOTONIC).
    pub start_ns: u64,
    /// The target's mount table, to name the filesystem a call waits on.
    pub mounts: Option<&'a MountTable>,
}

/// The calls the traced threads are in now, merged from the kernel's in-flight slots
/// (`slot_of`) and /proc: those in progress for `min_ns` or more, and what /proc says
/// they wait on. A thread that has not entered a syscall since tracing
/// began but is in one has been in it since before: its call is taken from /proc, and
/// its length is at least the trace's.
pub fn calls_in_progress(
    was: &Before<'_>,
    slot_of: impl Fn(u32) -> Option<Inflight>,
    min_ns: u64,
) -> Vec<InProgress> {
    use tracer_common::{INFLIGHT_NR_NONE, MAX_SYSCALLS};
    let proc = super::procfs::proc_root();
    let now = super::monotonic_ns();
    let mut out = Vec::new();
    let mut looked = 0;
    // What /proc said of each call at the last refresh: a call that goes on is not
    // looked up again (a program with many parked threads would cost a file read each)
    // once /proc has seen it asleep. Seen on a CPU or in the run queue, as a call just
    // entered under load can be, /proc has neither its arguments nor where it sleeps.
    let known: std::collections::HashMap<(u32, u64), &InProgress> = was
        .in_progress
        .iter()
        .filter(|p| p.wchan.is_some())
        .map(|p| ((p.call.tid, p.call.start_ns), p))
        .collect();
    for &pid in &was.traced_pids {
        let Ok(tasks) = std::fs::read_dir(pid_path(proc, pid, "task")) else {
            continue;
        };
        for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            looked += 1;
            if looked > IN_PROGRESS_MAX_THREADS {
                return out;
            }
            let slot = slot_of(tid);
            let mut p = match slot {
                Some(s) if s.nr < MAX_SYSCALLS => InProgress::from_slot(&s, pid, now),
                // Not seen entering a call since tracing began (a slot the scheduler
                // hooks started, or none at all).
                Some(s) if s.nr == INFLIGHT_NR_NONE && s.start_ns == 0 => {
                    InProgress::before_trace(tid, pid, was.start_ns, now)
                }
                None => InProgress::before_trace(tid, pid, was.start_ns, now),
                Some(_) => continue,
            };
            if p.call.duration_ns < min_ns {
                continue;
            }
            if let Some(k) = known
                .get(&(tid, p.call.start_ns))
                .filter(|k| k.began_before_trace == p.began_before_trace)
                .filter(|k| p.began_before_trace || k.call.nr == p.call.nr)
            {
                p.call.nr = k.call.nr;
                p.call.args = k.call.args;
                p.call.class = k.call.class;
                p.call.dev = k.call.dev;
                p.detail = k.detail.clone();
                p.wchan = k.wchan.clone();
                p.comm = k.comm.clone();
                if p.began_before_trace {
                    p.state = k.state;
                }
                out.push(p);
                continue;
            }
            // A call seen for the first time: what /proc says of it.
            let call = read_syscall(proc, pid, tid);
            if p.began_before_trace {
                let Some(c) = call else { continue };
                // It may have entered a call just now: then the next refresh has it.
                if slot_of(tid).is_some_and(|s| s.nr < MAX_SYSCALLS) {
                    continue;
                }
                p.call.nr = c.nr;
                let state = std::fs::read_to_string(task_path(proc, pid, tid, "stat"))
                    .ok()
                    .and_then(|s| crate::tracee::parse_stat_state(&s));
                p.state = match state {
                    Some('R') => ThreadState::Running,
                    _ => ThreadState::Blocked,
                };
            }
            // /proc shows the arguments while the thread is still in the same call.
            if let Some(c) = call.filter(|c| c.nr == p.call.nr) {
                let w = classify(proc, pid, &c, was.mounts);
                p.call.args = c.args;
                p.call.class = w.class;
                p.call.dev = w.dev;
                p.detail = w.detail;
            }
            if p.state == ThreadState::Blocked {
                p.wchan = wchan(proc, pid, tid);
            }
            p.comm = std::fs::read_to_string(task_path(proc, pid, tid, "comm"))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::procfs::testing::TempTree;

    #[test]
    fn parses_the_syscall_file() {
        let c = parse_syscall("0 0x7 0xc000123000 0x1000 0x0 0x0 0x0 0x7ffd1 0x4a2b3c\n")
            .expect("in a call");
        assert_eq!(c.nr, 0);
        assert_eq!(c.args, [7, 0xc000123000, 0x1000, 0, 0, 0]);
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd1 0x4a2b3c\n"), None);
        assert_eq!(parse_syscall("202 0x1 0x80\n"), None, "truncated");
    }

    fn mounts() -> MountTable {
        MountTable::from_mountinfo(
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
             30 22 0:5 / /dev rw - devtmpfs udev rw\n\
             41 22 0:45 / /mnt/slow rw - fuse.slowfs slowfs rw\n",
        )
    }

    /// A fake /proc/PID with fd links and fdinfo for each (fd, link, mnt_id).
    fn proc_with_fds(fds: &[(u32, &str, u32)], cwd: &str) -> TempTree {
        let t = TempTree::new("inflight");
        t.mkdir("7/fd");
        for (fd, link, mnt) in fds {
            std::os::unix::fs::symlink(link, t.path(&format!("7/fd/{fd}"))).expect("symlink");
            t.write(
                &format!("7/fdinfo/{fd}"),
                format!("pos:\t0\nflags:\t02\nmnt_id:\t{mnt}\nino:\t12\n"),
            );
        }
        std::os::unix::fs::symlink(cwd, t.path("7/cwd")).expect("symlink");
        t
    }

    fn call(nr: u32, args: [u64; 6]) -> ProcCall {
        ProcCall { nr, args }
    }

    #[test]
    fn a_read_is_filed_under_what_its_descriptor_is() {
        let t = proc_with_fds(
            &[
                (3, "/mnt/slow/big.bin", 41),
                (4, "pipe:[9001]", 12),
                (5, "socket:[9002]", 8),
                (6, "/dev/ttyS0", 30),
                (7, "anon_inode:[eventfd]", 13),
                (8, "/home/u/notes.txt", 22),
            ],
            "/home/u",
        );
        let m = mounts();
        let read = |fd| {
            classify(
                &t.root,
                7,
                &call(nr::READ, [fd, 0, 4096, 0, 0, 0]),
                Some(&m),
            )
        };
        let fuse = read(3);
        assert_eq!(
            (fuse.class, fuse.dev),
            (class::FS, crate::context::mounts::kernel_dev(0, 45))
        );
        assert_eq!(fuse.detail.as_deref(), Some("fd 3 /mnt/slow/big.bin"));
        assert_eq!(read(4).class, class::PIPE);
        assert_eq!(read(4).detail.as_deref(), Some("fd 4 pipe:[9001]"));
        assert_eq!(read(5).class, class::SOCKET);
        assert_eq!(read(6).class, class::DEVICE);
        assert_eq!(read(7).class, class::OTHER);
        assert_eq!(read(8).dev, crate::context::mounts::kernel_dev(8, 1));
        assert_eq!(read(99).class, class::OTHER, "a descriptor already closed");
        // A named pipe on a local filesystem: its link is a path, its type a FIFO.
        let fifo = t.path("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("cstring");
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink(&fifo, t.path("7/fd/9")).expect("symlink");
        t.write("7/fdinfo/9", "pos:\t0\nflags:\t02\nmnt_id:\t22\n");
        assert_eq!(read(9).class, class::PIPE, "{:?}", read(9));
        let no_mounts = classify(&t.root, 7, &call(nr::READ, [3, 0, 1, 0, 0, 0]), None);
        assert_eq!(no_mounts.class, class::OTHER);
    }

    #[test]
    fn waits_that_name_no_file() {
        let t = proc_with_fds(&[], "/");
        let m = mounts();
        let of = |nr, args| classify(&t.root, 7, &call(nr, args), Some(&m));
        // FUTEX_WAIT_PRIVATE without a timeout: a parked thread; with one, a wait.
        assert_eq!(
            of(nr::FUTEX, [0xc0001, 0x80, 0, 0, 0, 0]).class,
            class::FUTEX_IDLE
        );
        assert_eq!(
            of(nr::FUTEX, [0xc0001, 0x80, 0, 0x7ffd, 0, 0]).class,
            class::FUTEX
        );
        let poll = of(nr::EPOLL_PWAIT, [4, 0x7ffd, 128, u64::MAX, 0, 0]);
        assert_eq!(
            (poll.class, poll.detail.as_deref()),
            (class::NETPOLL, Some("epoll fd 4"))
        );
        let wait = of(nr::WAIT4, [1234, 0, 0, 0, 0, 0]);
        assert_eq!(
            (wait.class, wait.detail.as_deref()),
            (class::CHILD_WAIT, Some("child 1234"))
        );
        let any = of(nr::WAIT4, [-1i64 as u64, 0, 0, 0, 0, 0]);
        assert_eq!(any.detail.as_deref(), Some("any child"));
        assert_eq!(
            of(nr::CLOCK_NANOSLEEP, [1, 0, 0, 0, 0, 0]).class,
            class::SLEEP
        );
        assert_eq!(of(nr::NANOSLEEP, [0; 6]).class, class::NANOSLEEP);
        assert_eq!(of(39, [0; 6]).class, class::OTHER);
    }

    #[test]
    fn a_path_call_without_its_memory_falls_back_to_the_cwd() {
        // The fixture has no mem file: the path cannot be read.
        let t = proc_with_fds(&[], "/mnt/slow/src");
        let m = mounts();
        let w = classify(
            &t.root,
            7,
            &call(nr::OPENAT, [AT_FDCWD, 0x1000, 0, 0, 0, 0]),
            Some(&m),
        );
        assert_eq!(
            (w.class, w.dev),
            (class::FS_CWD, crate::context::mounts::kernel_dev(0, 45))
        );
        assert_eq!(w.detail, None);
    }

    #[test]
    fn a_path_call_names_its_path_from_the_processs_memory() {
        // This process's own memory, through the real /proc: a relative path is resolved
        // against the cwd, an absolute one taken as it is.
        let pid = std::process::id();
        let m = mounts();
        let rel = std::ffi::CString::new("some/file.go").expect("cstring");
        let c = call(nr::OPENAT, [AT_FDCWD, rel.as_ptr() as u64, 0, 0, 0, 0]);
        let w = classify(Path::new("/proc"), pid, &c, Some(&m));
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            w.detail.as_deref(),
            Some(cwd.join("some/file.go").display().to_string().as_str())
        );
        assert_eq!(w.class, class::FS);
        let abs = std::ffi::CString::new("/mnt/slow/x/y.go").expect("cstring");
        let c = call(nr::STAT, [abs.as_ptr() as u64, 0, 0, 0, 0, 0]);
        let w = classify(Path::new("/proc"), pid, &c, Some(&m));
        assert_eq!(w.detail.as_deref(), Some("/mnt/slow/x/y.go"));
        assert_eq!(w.dev, crate::context::mounts::kernel_dev(0, 45));
    }
}
