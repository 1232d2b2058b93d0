//! What the target's poller really does: which poller(s) it uses (the Go standard library
//! uses epoll, never io_uring), each epoll instance's waits and registered fds, netpoll
//! wakeups, and io_uring operations by opcode.
use std::collections::{BTreeMap, BTreeSet};

use super::percentile;

pub use crate::harvest::{RawEpoll, RawPoller, RawRing, RawUringOp};

/// Which poller(s) the process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollerKind {
    Epoll,
    IoUring,
    Both,
    None,
}

impl PollerKind {
    pub fn label(self) -> &'static str {
        match self {
            PollerKind::Epoll => "epoll",
            PollerKind::IoUring => "io_uring",
            PollerKind::Both => "both",
            PollerKind::None => "none",
        }
    }
}

/// An fd registered with an epoll instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredFd {
    pub fd: u32,
    /// "socket", "pipe", "eventfd", "file", "device", "anon".
    pub kind: String,
    pub events: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpollRow {
    pub pid: u32,
    pub epfd: u32,
    pub waits: u64,
    /// Zero-timeout waits (non-blocking polls).
    pub polls: u64,
    pub timeouts: u64,
    pub ready: u64,
    pub events: u64,
    pub errors: u64,
    pub blocked_ns: u64,
    /// Percentiles of the waits that could block, never more than their maximum.
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Registered now (ADD/MOD seen and no DEL), by fd.
    pub fds: Vec<RegisteredFd>,
    /// ADDs seen, including fds since removed.
    pub registrations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UringOpRow {
    pub pid: u32,
    pub opcode: u32,
    pub name: String,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

/// The poller view of a Snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerSummary {
    pub kind: PollerKind,
    pub epoll: Vec<EpollRow>,
    /// 8-byte writes to the process's eventfds: in Go, netpollBreak waking the poller.
    pub wakeups: u64,
    pub uring_ops: Vec<UringOpRow>,
    pub rings: Vec<RawRing>,
}

impl Default for PollerSummary {
    fn default() -> PollerSummary {
        PollerSummary {
            kind: PollerKind::None,
            epoll: Vec::new(),
            wakeups: 0,
            uring_ops: Vec::new(),
            rings: Vec::new(),
        }
    }
}

/// epoll_ctl ops (include/uapi/linux/eventpoll.h).
pub const EPOLL_CTL_ADD: u32 = 1;
pub const EPOLL_CTL_DEL: u32 = 2;
pub const EPOLL_CTL_MOD: u32 = 3;

/// Registrations seen through epoll_ctl records, and eventfds seen created.
#[derive(Debug, Default)]
pub struct PollerTracker {
    /// (tgid, epfd) -> fd -> (kind, events)
    registered: BTreeMap<(u32, u32), BTreeMap<u32, (String, u32)>>,
    adds: BTreeMap<(u32, u32), u64>,
    eventfds: BTreeSet<(u32, u32)>,
}

impl PollerTracker {
    /// A successful epoll_ctl of a target; `class` is tracer_common::class of the fd.
    pub fn on_ctl(&mut self, tgid: u32, epfd: u32, op: u32, fd: u32, events: u32, class: u32) {
        let kind = self.fd_kind(tgid, fd, class);
        let fds = self.registered.entry((tgid, epfd)).or_default();
        match op {
            EPOLL_CTL_ADD => {
                fds.insert(fd, (kind, events));
                *self.adds.entry((tgid, epfd)).or_default() += 1;
            }
            EPOLL_CTL_MOD => {
                fds.insert(fd, (kind, events));
            }
            EPOLL_CTL_DEL => {
                fds.remove(&fd);
            }
            _ => {}
        }
    }

    /// The registrations /proc shows for a process now (`(epfd, fd, events, kind)`): the
    /// truth for what is registered, including what was registered before tracing began.
    pub fn on_registrations(&mut self, tgid: u32, regs: &[(u32, u32, u32, String)]) {
        self.registered.retain(|(t, _), _| *t != tgid);
        for (epfd, fd, events, kind) in regs {
            self.registered
                .entry((tgid, *epfd))
                .or_default()
                .insert(*fd, (kind.clone(), *events));
        }
    }

    pub fn on_eventfd(&mut self, tgid: u32, fd: u32) {
        self.eventfds.insert((tgid, fd));
    }

    /// What an fd registered with epoll is. Regular files cannot be registered (EPERM),
    /// so a filesystem-class fd that was is an anonymous inode.
    fn fd_kind(&self, tgid: u32, fd: u32, class: u32) -> String {
        use tracer_common::class as c;
        if self.eventfds.contains(&(tgid, fd)) {
            return "eventfd".into();
        }
        match class {
            c::SOCKET => "socket",
            c::PIPE => "pipe",
            c::DEVICE => "device",
            // eventfd, timerfd, signalfd, epoll: anonymous inodes.
            c::FS | c::FS_CWD => "anon",
            _ => "other",
        }
        .into()
    }

    /// The summary. `syscalls` are the names of the syscalls the process made (to tell
    /// a poller that was set up but never waited on).
    pub fn summary(&self, raw: &RawPoller, syscalls: &BTreeSet<String>) -> PollerSummary {
        let uses_epoll = !raw.epoll.is_empty()
            || [
                "epoll_create",
                "epoll_create1",
                "epoll_wait",
                "epoll_pwait",
                "epoll_pwait2",
                "epoll_ctl",
            ]
            .iter()
            .any(|s| syscalls.contains(*s));
        let uses_uring = !raw.rings.is_empty()
            || !raw.uring_ops.is_empty()
            || ["io_uring_setup", "io_uring_enter"]
                .iter()
                .any(|s| syscalls.contains(*s));
        let kind = match (uses_epoll, uses_uring) {
            (true, true) => PollerKind::Both,
            (true, false) => PollerKind::Epoll,
            (false, true) => PollerKind::IoUring,
            (false, false) => PollerKind::None,
        };
        let mut epoll: Vec<EpollRow> = raw
            .epoll
            .iter()
            .map(|e| EpollRow {
                pid: e.tgid,
                epfd: e.epfd,
                waits: e.waits,
                polls: e.polls,
                timeouts: e.timeouts,
                ready: e.ready,
                events: e.events,
                errors: e.errors,
                blocked_ns: e.blocked_ns,
                p50_ns: percentile(&e.hist, e.max_ns, 0.5),
                p99_ns: percentile(&e.hist, e.max_ns, 0.99),
                max_ns: e.max_ns,
                fds: self.fds_of(e.tgid, e.epfd),
                registrations: self.adds.get(&(e.tgid, e.epfd)).copied().unwrap_or(0),
            })
            .collect();
        // Instances with registrations but no wait seen yet.
        for &(tgid, epfd) in self.registered.keys() {
            if !epoll.iter().any(|r| r.pid == tgid && r.epfd == epfd) {
                epoll.push(EpollRow {
                    pid: tgid,
                    epfd,
                    waits: 0,
                    polls: 0,
                    timeouts: 0,
                    ready: 0,
                    events: 0,
                    errors: 0,
                    blocked_ns: 0,
                    p50_ns: 0,
                    p99_ns: 0,
                    max_ns: 0,
                    fds: self.fds_of(tgid, epfd),
                    registrations: self.adds.get(&(tgid, epfd)).copied().unwrap_or(0),
                });
            }
        }
        epoll.sort_by(|a, b| b.waits.cmp(&a.waits).then(a.epfd.cmp(&b.epfd)));
        let mut uring_ops: Vec<UringOpRow> = raw
            .uring_ops
            .iter()
            .map(|o| UringOpRow {
                pid: o.tgid,
                opcode: o.opcode,
                name: uring_op_name(o.opcode),
                count: o.count,
                errors: o.errors,
                p50_ns: percentile(&o.hist, o.max_ns, 0.5),
                p99_ns: percentile(&o.hist, o.max_ns, 0.99),
                max_ns: o.max_ns,
            })
            .collect();
        uring_ops.sort_by(|a, b| b.count.cmp(&a.count).then(a.opcode.cmp(&b.opcode)));
        PollerSummary {
            kind,
            epoll,
            wakeups: raw.eventfds.iter().map(|e| e.2).sum(),
            uring_ops,
            rings: raw.rings.clone(),
        }
    }

    fn fds_of(&self, tgid: u32, epfd: u32) -> Vec<RegisteredFd> {
        self.registered
            .get(&(tgid, epfd))
            .map(|fds| {
                fds.iter()
                    .map(|(&fd, (kind, events))| RegisteredFd {
                        fd,
                        kind: kind.clone(),
                        events: *events,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// IORING_OP_* names (include/uapi/linux/io_uring.h).
pub fn uring_op_name(op: u32) -> String {
    const NAMES: [&str; 63] = [
        "NOP",
        "READV",
        "WRITEV",
        "FSYNC",
        "READ_FIXED",
        "WRITE_FIXED",
        "POLL_ADD",
        "POLL_REMOVE",
        "SYNC_FILE_RANGE",
        "SENDMSG",
        "RECVMSG",
        "TIMEOUT",
        "TIMEOUT_REMOVE",
        "ACCEPT",
        "ASYNC_CANCEL",
        "LINK_TIMEOUT",
        "CONNECT",
        "FALLOCATE",
        "OPENAT",
        "CLOSE",
        "FILES_UPDATE",
        "STATX",
        "READ",
        "WRITE",
        "FADVISE",
        "MADVISE",
        "SEND",
        "RECV",
        "OPENAT2",
        "EPOLL_CTL",
        "SPLICE",
        "PROVIDE_BUFFERS",
        "REMOVE_BUFFERS",
        "TEE",
        "SHUTDOWN",
        "RENAMEAT",
        "UNLINKAT",
        "MKDIRAT",
        "SYMLINKAT",
        "LINKAT",
        "MSG_RING",
        "FSETXATTR",
        "SETXATTR",
        "FGETXATTR",
        "GETXATTR",
        "SOCKET",
        "URING_CMD",
        "SEND_ZC",
        "SENDMSG_ZC",
        "READ_MULTISHOT",
        "WAITID",
        "FUTEX_WAIT",
        "FUTEX_WAKE",
        "FUTEX_WAITV",
        "FIXED_FD_INSTALL",
        "FTRUNCATE",
        "BIND",
        "LISTEN",
        "RECV_ZC",
        "EPOLL_WAIT",
        "READV_FIXED",
        "WRITEV_FIXED",
        "PIPE",
    ];
    match NAMES.get(op as usize) {
        Some(n) => (*n).to_string(),
        None => format!("OP_{op}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::{class, hist_bucket, HIST_BUCKETS};

    fn names(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verdicts() {
        let t = PollerTracker::default();
        let raw = RawPoller::default();
        assert_eq!(t.summary(&raw, &names(&["read"])).kind, PollerKind::None);
        assert_eq!(
            t.summary(&raw, &names(&["epoll_pwait"])).kind,
            PollerKind::Epoll
        );
        assert_eq!(
            t.summary(&raw, &names(&["io_uring_setup", "io_uring_enter"]))
                .kind,
            PollerKind::IoUring
        );
        assert_eq!(
            t.summary(&raw, &names(&["io_uring_enter", "epoll_ctl"]))
                .kind,
            PollerKind::Both
        );
    }

    #[test]
    fn registrations_follow_add_mod_del() {
        let mut t = PollerTracker::default();
        t.on_eventfd(10, 4);
        t.on_ctl(10, 3, EPOLL_CTL_ADD, 4, 1, class::FS);
        t.on_ctl(10, 3, EPOLL_CTL_ADD, 5, 1, class::SOCKET);
        t.on_ctl(10, 3, EPOLL_CTL_ADD, 6, 1, class::SOCKET);
        t.on_ctl(10, 3, EPOLL_CTL_MOD, 6, 5, class::SOCKET);
        t.on_ctl(10, 3, EPOLL_CTL_ADD, 7, 1, class::PIPE);
        t.on_ctl(10, 3, EPOLL_CTL_DEL, 7, 0, class::PIPE);
        let mut hist = vec![0; HIST_BUCKETS];
        hist[hist_bucket(1_000_000)] = 3;
        let raw = RawPoller {
            epoll: vec![RawEpoll {
                tgid: 10,
                epfd: 3,
                waits: 5,
                polls: 2,
                timeouts: 1,
                ready: 2,
                events: 7,
                errors: 0,
                blocked_ns: 3_000_000,
                max_ns: 1_000_000,
                hist,
            }],
            eventfds: vec![(10, 4, 9)],
            ..Default::default()
        };
        let s = t.summary(&raw, &BTreeSet::new());
        assert_eq!(s.kind, PollerKind::Epoll);
        assert_eq!(s.wakeups, 9);
        let e = &s.epoll[0];
        let fds: Vec<(u32, &str, u32)> = e
            .fds
            .iter()
            .map(|f| (f.fd, f.kind.as_str(), f.events))
            .collect();
        assert_eq!(fds, [(4, "eventfd", 1), (5, "socket", 1), (6, "socket", 5)]);
        assert_eq!(e.registrations, 4);
        // /proc's view replaces what the records built (it also knows older registrations).
        t.on_registrations(10, &[(3, 5, 1, "socket".into()), (3, 20, 1, "pipe".into())]);
        let s = t.summary(&raw, &BTreeSet::new());
        let fds: Vec<(u32, &str)> = s.epoll[0]
            .fds
            .iter()
            .map(|f| (f.fd, f.kind.as_str()))
            .collect();
        assert_eq!(fds, [(5, "socket"), (20, "pipe")]);
        assert!(
            e.p50_ns >= 1_000_000 && e.p50_ns <= 1_250_000,
            "{}",
            e.p50_ns
        );
    }

    /// A single 2 s wait lands in a bucket whose upper edge is 2^31 - 1 ns: the
    /// percentiles are the wait itself, never that edge.
    #[test]
    fn wait_percentiles_never_exceed_the_longest_wait() {
        let t = PollerTracker::default();
        let wait = 2_000_202_476;
        let mut hist = vec![0; HIST_BUCKETS];
        hist[hist_bucket(wait)] = 1;
        assert_eq!(
            tracer_common::hist_bucket_high(hist_bucket(wait)),
            2_147_483_647
        );
        let raw = RawPoller {
            epoll: vec![RawEpoll {
                tgid: 10,
                epfd: 4,
                waits: 1,
                timeouts: 1,
                blocked_ns: wait,
                max_ns: wait,
                hist,
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = &t.summary(&raw, &BTreeSet::new()).epoll[0];
        assert_eq!((e.p50_ns, e.p99_ns, e.max_ns), (wait, wait, wait));
    }

    #[test]
    fn opcode_names() {
        assert_eq!(uring_op_name(0), "NOP");
        assert_eq!(uring_op_name(22), "READ");
        assert_eq!(uring_op_name(62), "PIPE");
        assert_eq!(uring_op_name(200), "OP_200");
    }
}
