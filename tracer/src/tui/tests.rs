//! Screen tests: every view rendered through `TestBackend` and compared with insta
//! snapshots (the .snap files in snapshots/ are the screen text). All values are
//! synthetic and fixed, so no pid or time needs redacting. Also the shared fixtures of
//! the key-handling tests in app.rs.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gotrace_model::stack::Frame;
use ratatui::{backend::TestBackend, style::Color, Terminal};

use super::{render, App, LogEntry, LogKind, View};
use crate::{
    analysis::{
        Analyzer, Anomaly, Attribution, Cause, CgroupFacts, ExitStatus, FsRow, InProgress,
        KernelCounters, Preemption, RawSyscallStats, SigchldSummary, SignalCounts, Snapshot,
        SystemFacts, TargetInfo, ThreadRow, ThreadState,
    },
    event::{Event, ProcEvent, SyscallEvent},
};

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub trait KeyEventExt {
    fn shift(self) -> Self;
    fn ctrl(self) -> Self;
}

impl KeyEventExt for KeyEvent {
    fn shift(mut self) -> Self {
        self.modifiers |= KeyModifiers::SHIFT;
        self
    }
    fn ctrl(mut self) -> Self {
        self.modifiers |= KeyModifiers::CONTROL;
        self
    }
}

const PID: u32 = 4242;
const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn target() -> TargetInfo {
    TargetInfo {
        pid: PID,
        command: vec![
            "/srv/bin/api-server".into(),
            "--listen".into(),
            ":8080".into(),
        ],
        go_version: Some("go1.22.3".into()),
        launched: false,
    }
}

fn hist(values: &[(u64, u64)]) -> Vec<u64> {
    let mut h = vec![0; tracer_common::HIST_BUCKETS];
    for &(v, n) in values {
        h[tracer_common::hist_bucket(v)] += n;
    }
    h
}

/// One syscall: `calls` calls of `avg` ns, a few up to `max`, split on-CPU/runq/blocked.
fn stats(
    nr: u32,
    calls: u64,
    errors: u64,
    avg: u64,
    max: u64,
    split: (u64, u64, u64),
) -> RawSyscallStats {
    let total = calls * avg;
    let (c, r, b) = split;
    let parts = (c + r + b).max(1);
    RawSyscallStats {
        tgid: 0,
        nr,
        calls,
        errors,
        total_ns: total,
        max_ns: max,
        hist: hist(&[(avg, calls - calls / 50), (max, calls / 50)]),
        on_cpu_ns: total * c / parts,
        runq_ns: total * r / parts,
        runq_throttled_ns: total * r / parts / 2,
        blocked_ns: total * b / parts,
    }
}

/// A stack frame.
fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame {
        function: function.into(),
        file: file.into(),
        line,
        inlined: false,
    }
}

const GOROOT: &str = "/usr/local/go/src";

/// A goroutine's stack from the raw syscall up: `plumbing` (runtime, syscall, os,
/// internal/poll frames, each in GOROOT), then the program's own frames.
fn go_stack(plumbing: &[(&str, &str, u32)], code: Vec<Frame>) -> Vec<Frame> {
    let mut stack = vec![frame(
        "internal/runtime/syscall.Syscall6",
        &format!("{GOROOT}/internal/runtime/syscall/asm_linux_amd64.s"),
        36,
    )];
    stack.extend(
        plumbing
            .iter()
            .map(|(f, file, line)| frame(f, &format!("{GOROOT}/{file}"), *line)),
    );
    stack.extend(code);
    stack.push(frame(
        "runtime.goexit",
        &format!("{GOROOT}/runtime/asm_amd64.s"),
        1700,
    ));
    stack
}

/// A function name longer than any column.
pub const LONG_FUNCTION: &str = "github.com/example-org/platform-services/pkg/storage/replication/coordinator.(*ReplicationCoordinator).waitForQuorumAcknowledgementsFromAllReplicas";

/// A function name with a terminal escape in it (a binary's symbols are the target's).
pub const ESCAPE_FUNCTION: &str = "main.(*handler).\u{1b}[31mServeHTTP";

/// The Go code of the busy server: several call sites, the busiest reached through an
/// inlined frame, one with a very long function name, one with an escape in its name
/// and file.
fn busy_call_sites() -> Vec<crate::analysis::callsites::CallSiteRow> {
    use tracer_common::gkind;
    let fsync = [
        ("syscall.Syscall", "syscall/syscall_linux.go", 73),
        ("syscall.Fsync", "syscall/zsyscall_linux_amd64.go", 449),
        (
            "internal/poll.(*FD).Fsync.func1",
            "internal/poll/fd_fsync_posix.go",
            18,
        ),
        (
            "internal/poll.ignoringEINTR",
            "internal/poll/fd_posix.go",
            74,
        ),
        (
            "internal/poll.(*FD).Fsync",
            "internal/poll/fd_fsync_posix.go",
            17,
        ),
        ("os.(*File).Sync", "os/file_posix.go", 168),
    ];
    let read = [
        ("syscall.Syscall", "syscall/syscall_linux.go", 73),
        ("syscall.read", "syscall/zsyscall_linux_amd64.go", 736),
        ("internal/poll.(*FD).Read", "internal/poll/fd_unix.go", 165),
        ("os.(*File).Read", "os/file.go", 124),
    ];
    let mut save = go_stack(
        &fsync,
        vec![
            frame("main.(*Index).save", "/src/api/index.go", 88),
            frame("main.(*Index).flush", "/src/api/index.go", 120),
            frame("main.(*Server).handleWrite", "/src/api/server.go", 212),
            frame(
                "net/http.HandlerFunc.ServeHTTP",
                &format!("{GOROOT}/net/http/server.go"),
                2171,
            ),
            frame(
                "net/http.(*conn).serve",
                &format!("{GOROOT}/net/http/server.go"),
                2099,
            ),
        ],
    );
    // save is inlined into flush: the call site is the inlined frame.
    save[7].inlined = true;
    let load = go_stack(
        &read,
        vec![
            frame("main.loadConfig", "/src/api/config.go", 42),
            frame("main.(*Server).reload", "/src/api/server.go", 77),
        ],
    );
    let quorum = go_stack(
        &[("syscall.Syscall", "syscall/syscall_linux.go", 73)],
        vec![
            frame(
                LONG_FUNCTION,
                "/home/build/go/pkg/mod/github.com/example-org/platform-services@v1.42.0/pkg/storage/replication/coordinator/coordinator.go",
                1234,
            ),
            frame("main.(*Server).replicate", "/src/api/server.go", 301),
        ],
    );
    let hostile = go_stack(
        &read,
        vec![frame(
            ESCAPE_FUNCTION,
            "/src/api/\u{1b}]0;PWNED\u{7}handler.go",
            7,
        )],
    );
    let wait = go_stack(
        &[
            ("syscall.wait4", "syscall/zsyscall_linux_amd64.go", 1111),
            ("os.(*Process).pidfdWait", "os/pidfd_linux.go", 98),
            ("os.(*Process).wait", "os/exec_unix.go", 27),
        ],
        vec![
            frame(
                "os/exec.(*Cmd).Wait",
                &format!("{GOROOT}/os/exec/exec.go"),
                897,
            ),
            frame("main.gitStatus", "/src/api/git.go", 31),
        ],
    );
    let connect = go_stack(
        &[("syscall.connect", "syscall/zsyscall_linux_amd64.go", 1463)],
        vec![
            frame(
                "net.(*netFD).connect",
                &format!("{GOROOT}/net/fd_unix.go"),
                119,
            ),
            frame("main.dialUpstream", "/src/api/upstream.go", 55),
        ],
    );
    let mut sites = crate::analysis::callsites::CallSites::default();
    let mut add = |nr: u32, goid: u64, ns: u64, stack: &Vec<Frame>, cause: Cause| {
        let call = SyscallEvent {
            tid: PID + 1,
            tgid: PID,
            nr,
            duration_ns: ns,
            gkind: gkind::GOROUTINE,
            goid,
            stack: stack.clone(),
            ..Default::default()
        };
        sites.add(&call, Some(&cause));
    };
    for (i, goid) in [17, 18, 19, 23].into_iter().enumerate() {
        add(
            74,
            goid,
            (120 + 40 * i as u64) * MS,
            &save,
            Cause::Fs("ext4".into()),
        );
    }
    add(74, 17, 30 * MS, &save, Cause::Cpu);
    for i in 0..3 {
        add(0, 1, (900 + 100 * i) * MS, &load, Cause::Fs("fuse".into()));
    }
    for goid in 100..112u64 {
        add(202, goid, 8 * MS + goid * 10_000, &quorum, Cause::Futex);
    }
    add(0, 7, 64 * MS, &hostile, Cause::Pipe);
    add(61, 9, 340 * MS, &wait, Cause::ChildWait);
    for goid in [31, 32] {
        add(42, goid, 2 * MS, &connect, Cause::Socket);
    }
    add(42, 33, 3 * MS, &connect, Cause::Scheduler);
    // The runtime's own call is no call site.
    sites.add(
        &SyscallEvent {
            nr: 232,
            duration_ns: 5 * SEC,
            gkind: gkind::RUNTIME,
            stack: vec![frame("runtime.netpoll", "runtime/netpoll_epoll.go", 120)],
            ..Default::default()
        },
        Some(&Cause::Netpoll),
    );
    sites.rows()
}

/// PSI of one resource: `some_avg10` only.
fn psi(some_avg10: f64) -> crate::analysis::PsiResource {
    crate::analysis::PsiResource {
        some_avg10,
        ..Default::default()
    }
}

/// An empty trace: just started, nothing seen.
pub fn empty_snapshot() -> Snapshot {
    Analyzer::new(target(), 0).snapshot(0)
}

/// A busy Go server over `duration_ns`: syscalls, slow calls, children, signals, threads,
/// filesystems, a throttled cgroup with GOMAXPROCS over its quota.
pub fn snapshot_with(duration_ns: u64) -> Snapshot {
    let mut a = Analyzer::new(target(), 0);
    a.on_stats(
        vec![
            stats(202, 48_210, 1_020, 2_100 * 1_000, 120 * MS, (2, 3, 95)),
            stats(0, 120_400, 8_300, 9_800, 42 * MS, (30, 5, 65)),
            stats(1, 98_000, 0, 7_100, 3 * MS, (80, 10, 10)),
            stats(281, 22_000, 0, 31_000, 10 * MS, (5, 5, 90)),
            stats(257, 4_200, 310, 180_000, 25 * MS, (20, 5, 75)),
            stats(35, 310, 0, 1_050 * 1_000, 1_100 * MS, (0, 1, 99)),
            stats(110, 500_000, 0, 290, 140 * 1_000, (100, 0, 0)),
            stats(56, 42, 0, 61_000, 300 * 1_000, (0, 0, 0)),
        ],
        KernelCounters {
            lost_records: 0,
            unmatched_exits: 3,
            slot_collisions: 0,
            threads_untracked: 0,
            proc_stats_full: 0,
        },
    );
    for (i, (nr, d, ret)) in [
        (0u32, 41 * MS, 512i64),
        (202, 119 * MS, 0),
        (257, 24 * MS, -2),
        (0, 12 * MS, -11),
        (35, 1_090 * MS, 0),
    ]
    .into_iter()
    .enumerate()
    {
        a.on_event(&Event::Syscall(SyscallEvent {
            tid: PID + 1 + i as u32,
            tgid: PID,
            nr,
            start_ns: i as u64 * SEC,
            duration_ns: d,
            ret,
            ..Default::default()
        }));
    }
    let proc = |pid: u32, ts: u64, exit_code: u32| ProcEvent {
        pid,
        tgid: pid,
        parent_tgid: PID,
        ts_ns: ts,
        exit_code,
        thread: false,
        group_dead: true,
        parent_ignores_sigchld: false,
        parent_nocldwait: false,
        comm: "git".into(),
    };
    a.on_event(&Event::Fork(proc(5001, SEC, 0)));
    a.on_event(&Event::Exec(crate::event::ExecEvent::from_proc(&proc(
        5001,
        SEC + MS,
        0,
    ))));
    a.on_command(
        5001,
        vec!["git".into(), "status".into(), "--porcelain".into()],
    );
    a.on_event(&Event::Exit(proc(5001, 2 * SEC, 1 << 8)));
    a.on_event(&Event::Fork(proc(5002, 3 * SEC, 0)));
    a.on_event(&Event::Fork(ProcEvent {
        thread: true,
        ..proc(PID + 9, 3 * SEC, 0)
    }));
    // The poller: the runtime's eventfd and two sockets on one epoll instance.
    a.on_event(&Event::Eventfd { tgid: PID, fd: 4 });
    for (fd, class) in [
        (4, tracer_common::class::FS),
        (7, tracer_common::class::SOCKET),
        (9, tracer_common::class::SOCKET),
    ] {
        a.on_event(&Event::EpollCtl(crate::event::EpollCtlEvent {
            tid: PID,
            tgid: PID,
            epfd: 3,
            op: crate::analysis::poller::EPOLL_CTL_ADD,
            fd,
            events: 1,
            class,
            ret: 0,
            ts_ns: SEC,
        }));
    }
    let mut wait_hist = vec![0; tracer_common::HIST_BUCKETS];
    wait_hist[tracer_common::hist_bucket(2 * MS)] = 1_200;
    a.on_poller(crate::analysis::poller::RawPoller {
        epoll: vec![crate::analysis::poller::RawEpoll {
            tgid: PID,
            epfd: 3,
            waits: 22_000,
            polls: 14_000,
            timeouts: 2_000,
            ready: 6_000,
            events: 6_500,
            errors: 0,
            blocked_ns: 2_400 * MS,
            max_ns: 2 * MS,
            hist: wait_hist,
        }],
        eventfds: vec![(PID, 4, 310)],
        ..Default::default()
    });
    let mut s = a.snapshot(duration_ns);
    // One read stuck on the FUSE mount, a lock waiting for quota, a parked thread.
    let call = |tid, nr, duration_ns, runq_ns, runq_throttled_ns, blocked_ns| SyscallEvent {
        tid,
        tgid: PID,
        nr,
        duration_ns,
        runq_ns,
        runq_throttled_ns,
        blocked_ns,
        ..Default::default()
    };
    s.call_sites = busy_call_sites();
    s.call_sites_other = 3;
    // The stuck read is goroutine 1's, in loadConfig; the throttled futex the runtime's.
    let stuck_read = SyscallEvent {
        gkind: tracer_common::gkind::GOROUTINE,
        goid: 1,
        stack: s
            .call_sites
            .iter()
            .find(|c| c.site.function == "main.loadConfig")
            .map(|c| c.stack.clone())
            .unwrap_or_default(),
        ..call(PID + 3, 0, 4_900 * MS, 2 * MS, 0, 4_897 * MS)
    };
    let runtime_futex = SyscallEvent {
        gkind: tracer_common::gkind::RUNTIME,
        stack: vec![
            frame(
                "runtime.futex",
                "/usr/local/go/src/runtime/sys_linux_amd64.s",
                557,
            ),
            frame(
                "runtime.futexsleep",
                "/usr/local/go/src/runtime/os_linux.go",
                69,
            ),
            frame(
                "runtime.notesleep",
                "/usr/local/go/src/runtime/lock_futex.go",
                171,
            ),
        ],
        ..call(PID + 4, 202, 150 * MS, 120 * MS, 110 * MS, 30 * MS)
    };
    s.in_progress = vec![
        InProgress {
            comm: "gopls".into(),
            call: stuck_read,
            state: ThreadState::Blocked,
            detail: Some("fd 7 /mnt/cache/pkg/mod/golang.org/x/tools@v0.28.0.zip".into()),
            wchan: Some("fuse_wait_answer".into()),
            cause: Some(Cause::Fs("fuse".into())),
            began_before_trace: true,
        },
        InProgress {
            comm: "gopls".into(),
            call: runtime_futex,
            state: ThreadState::Runnable,
            detail: None,
            wchan: None,
            cause: Some(Cause::CgroupThrottle),
            began_before_trace: false,
        },
        InProgress {
            comm: "gopls".into(),
            call: call(PID + 1, 202, 40 * SEC, 0, 0, 40 * SEC),
            state: ThreadState::Blocked,
            detail: None,
            wchan: Some("futex_wait_queue".into()),
            cause: Some(Cause::Idle),
            began_before_trace: false,
        },
    ];
    s.attribution = Attribution::from_parts([
        (Cause::Fs("fuse".into()), 61 * SEC / 10),
        (Cause::CgroupThrottle, 22 * SEC / 10),
        (Cause::Futex, 9 * SEC / 10),
        (Cause::Cpu, 7 * SEC / 10),
        (Cause::Scheduler, 3 * SEC / 10),
        (Cause::Netpoll, SEC / 10),
        (Cause::Idle, 41 * SEC),
    ])
    .with_runtime([
        (Cause::Netpoll, 2 * SEC),
        (Cause::Idle, 4 * SEC),
        (Cause::Futex, 300 * MS),
    ]);
    s.recent_attribution = Attribution::from_parts([
        (Cause::CgroupThrottle, 900 * MS),
        (Cause::Fs("fuse".into()), 300 * MS),
        (Cause::Cpu, 120 * MS),
        (Cause::Idle, 4 * SEC),
    ]);
    s.syscall_causes.insert(
        0,
        Attribution::from_parts([
            (Cause::Fs("fuse".into()), 800 * MS),
            (Cause::Cpu, 350 * MS),
            (Cause::Scheduler, 30 * MS),
        ]),
    );
    s.filesystems = vec![
        FsRow {
            mount: "/mnt/cache".into(),
            fstype: "fuse.sshfs".into(),
            kind: "fuse".into(),
            calls: 9_120,
            ns: 61 * SEC / 10,
        },
        FsRow {
            mount: "/".into(),
            fstype: "ext4".into(),
            kind: "ext4".into(),
            calls: 310,
            ns: 40 * MS,
        },
    ];
    s.threads = (0..6u32)
        .map(|i| ThreadRow {
            tid: PID + i,
            pid: PID,
            comm: if i == 0 {
                "api-server".into()
            } else {
                format!("worker-{i}")
            },
            runq_ns: (900 - 140 * u64::from(i)) * MS,
            runq_throttled_ns: (400 - 60 * u64::from(i)) * MS,
        })
        .collect();
    s.system = SystemFacts {
        cgroup: Some(CgroupFacts {
            version: 2,
            path: "/kubepods.slice/kubepods-burstable.slice/api".into(),
            cpu_quota_cpus: Some(2.0),
            memory_limit: Some(512 << 20),
            throttled_ns: 2_200 * MS,
            nr_throttled: 87,
        }),
        gomaxprocs: Some(8),
        effective_cpus: Some(2.0),
        gomaxprocs_exceeds_quota: true,
        psi: Some(crate::analysis::Psi {
            source: "cgroup".into(),
            cpu: Some(psi(31.0)),
            memory: Some(psi(0.0)),
            io: Some(psi(2.1)),
        }),
        cpu_steal: Some(0.082),
    };
    s.sigchld = SigchldSummary {
        exits: 40,
        generated: 40,
        delivered: 31,
        coalesced: 8,
        ignored: 0,
        undelivered: 1,
        failed: 0,
        not_sent: 0,
        reaped: 39,
        auto_reaped: 0,
        unreaped: 1,
        max_reap_latency_ns: 340 * MS,
    };
    s.anomalies = vec![
        Anomaly::Unreaped {
            pid: 5002,
            parent: PID,
            comm: "git".into(),
            age_ns: 7 * SEC,
        },
        Anomaly::Coalesced {
            parent: PID,
            exits: 40,
            coalesced: 8,
        },
        Anomaly::Undelivered {
            parent: PID,
            count: 1,
        },
    ];
    s.signals = vec![
        SignalCounts {
            signo: 15,
            generated: 1,
            delivered: 1,
            senders: [(777, ("systemd".to_string(), 1))].into_iter().collect(),
            receivers: [(PID, 1)].into_iter().collect(),
            ..Default::default()
        },
        SignalCounts {
            signo: 17,
            generated: 40,
            delivered: 31,
            already_pending: 8,
            senders: [
                (5001, ("git".to_string(), 39)),
                (5002, ("git".to_string(), 1)),
            ]
            .into_iter()
            .collect(),
            receivers: [(PID, 40)].into_iter().collect(),
            ..Default::default()
        },
    ];
    s.preemption = Preemption {
        generated: 12_400,
        delivered: 12_390,
    };
    s
}

/// An app that has seen `n` refreshes (4 Hz) of the busy server, the last at 10 s, with
/// a varying load so rates and sparklines have a shape.
fn busy_app(n: u64) -> App {
    let mut app = App::new(4);
    let last = snapshot_with(10 * SEC);
    let mut acc = vec![0u64; last.syscalls.len()];
    for i in 1..=n {
        let mut s = last.clone();
        s.duration_ns = 10 * SEC - (n - i) * SEC / 4;
        for (j, r) in s.syscalls.iter_mut().enumerate() {
            if i == n {
                acc[j] = r.calls;
            } else {
                // Some of the final count per refresh, more when (i + j) % 5 is high.
                let part = last.syscalls[j].calls / (3 * n) * (1 + (i + j as u64) % 5);
                acc[j] = (acc[j] + part).min(r.calls);
            }
            r.calls = acc[j];
        }
        s.total_calls = s.syscalls.iter().map(|r| r.calls).sum();
        s.preemption.generated = last.preemption.generated * i / n;
        app.on_snapshot(s);
    }
    for (ts, kind, text) in [
        (
            1_020 * MS,
            LogKind::Process,
            "fork pid 5001 (git) from 4242",
        ),
        (
            1_021 * MS,
            LogKind::Process,
            "exec pid 5001: git status --porcelain",
        ),
        (
            2_000 * MS,
            LogKind::Child,
            "pid 5001 (git) exited with code 1; SIGCHLD delivered to tid 4243",
        ),
        (
            2_004 * MS,
            LogKind::Child,
            "pid 5001 reaped by tid 4242 (wait4) 4.0 ms after its exit",
        ),
        (
            3_500 * MS,
            LogKind::Syscall,
            "read 41.00 ms tid 4243 = 512 · blocked on fs:fuse (/mnt/cache)",
        ),
        (
            4_100 * MS,
            LogKind::Syscall,
            "futex 119.00 ms tid 4244 · run queue 80 ms (cgroup-throttle)",
        ),
        (
            5_000 * MS,
            LogKind::Signal,
            "SIGTERM from systemd[777] to 4242: delivered",
        ),
        (
            6_250 * MS,
            LogKind::Syscall,
            "openat 24.00 ms tid 4245 = -1 ENOENT · blocked on fs:fuse",
        ),
        (
            9_900 * MS,
            LogKind::Warning,
            "pid 5002 (git) exited 7.00 s ago and was never reaped",
        ),
    ] {
        app.push_log(LogEntry {
            ts_ns: ts,
            kind,
            text: text.into(),
        });
    }
    app
}

/// The screen as text.
fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| render(f, app)).expect("draw");
    t.backend().to_string()
}

fn show(app: &mut App, view: View) {
    let n = View::ALL.iter().position(|&v| v == view).expect("a view") + 1;
    app.on_key(key(KeyCode::Char(char::from(b'0' + n as u8))));
    assert_eq!(app.view(), view);
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn name(v: View) -> &'static str {
    match v {
        View::Overview => "overview",
        View::Syscalls => "syscalls",
        View::Signals => "signals",
        View::Threads => "threads",
        View::Log => "log",
        View::GoCode => "gocode",
    }
}

#[test]
fn every_view_of_a_busy_trace() {
    let mut app = busy_app(40);
    // Select read, so the syscalls view shows its causes and slowest calls.
    app.on_key(key(KeyCode::Down));
    for view in View::ALL {
        show(&mut app, view);
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("busy_{}_{w}x{h}", name(view)), screen(&app, w, h));
        }
    }
}

#[test]
fn every_view_of_an_empty_trace() {
    let mut app = App::new(4);
    app.on_snapshot(empty_snapshot());
    for view in View::ALL {
        show(&mut app, view);
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("empty_{}_{w}x{h}", name(view)), screen(&app, w, h));
        }
    }
}

#[test]
fn before_the_first_snapshot() {
    insta::assert_snapshot!("waiting_80x24", screen(&App::new(4), 80, 24));
}

#[test]
fn lost_records_are_prominent() {
    let mut app = busy_app(8);
    let mut s = snapshot_with(10 * SEC + SEC / 4);
    s.counters.lost_records = 123_456;
    s.bad_records = 2;
    app.on_snapshot(s);
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        insta::assert_snapshot!(format!("lost_records_{w}x{h}"), text);
    }
    // On the second line, white on red.
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    t.draw(|f| render(f, &app)).expect("draw");
    let buf = t.backend().buffer();
    let line: String = (0..80).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    let at = line
        .find("123,456 LOST RECORDS")
        .expect("lost records on line 2");
    let column = line[..at].chars().count() as u16;
    let cell = &buf[(column, 1)];
    assert_eq!((cell.fg, cell.bg), (Color::White, Color::Red), "{line}");
    assert!(
        app.log_entries()
            .any(|e| e.kind == LogKind::Warning && e.text.contains("123,456")),
        "the loss is logged too"
    );
}

#[test]
fn slot_collisions_are_shown_with_lost_records() {
    let mut app = busy_app(8);
    let mut s = snapshot_with(10 * SEC + SEC / 4);
    s.counters.lost_records = 5;
    s.counters.slot_collisions = 7;
    app.on_snapshot(s);
    let mut t = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
    t.draw(|f| render(f, &app)).expect("draw");
    let buf = t.backend().buffer();
    let line: String = (0..160).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    let lost = line.find("5 LOST RECORDS").expect("lost records on line 2");
    let at = line
        .find("7 CALLS LOST")
        .unwrap_or_else(|| panic!("slot collisions beside them: {line}"));
    assert!(lost < at, "{line}");
    assert!(line.contains("tid slot collisions: not counted"), "{line}");
    let column = line[..at].chars().count() as u16;
    let cell = &buf[(column, 1)];
    assert_eq!((cell.fg, cell.bg), (Color::White, Color::Red), "{line}");
}

#[test]
fn long_names_are_cut_not_wrapped() {
    let mut s = snapshot_with(10 * SEC);
    s.target.command = vec![
        "/opt/very/long/path/to/the/go/service/binary/named/something-quite-long".into(),
        "--config=/etc/something/deeply/nested/config-file-with-a-long-name.yaml".into(),
        "--verbose".into(),
    ];
    s.syscalls[2].name = "syscall_400_with_a_name_longer_than_any_column".into();
    s.syscalls[3].name = "syscall_400".into();
    s.threads[1].comm = "a-thread-name-of-thirty-two-chars!".into();
    s.processes[1].command = vec!["sh".into(), "-c".into(), "x".repeat(300)];
    s.in_progress[0].detail = Some(format!(
        "fd 7 /home/someone/{}/go/pkg/mod/golang.org/x/tools@v0.28.0.zip",
        "nested/".repeat(12)
    ));
    s.signals[0].senders = [(777, ("a-sender-with-a-very-long-comm-name".to_string(), 1))]
        .into_iter()
        .collect();
    let mut app = App::new(4);
    app.on_snapshot(s);
    for view in [View::Overview, View::Syscalls, View::Signals, View::Threads] {
        show(&mut app, view);
        let text = screen(&app, 80, 24);
        // Cut, not wrapped: each view cuts something (with …), and no long string's
        // end shows up anywhere (wrapping would put it on the next line).
        assert!(
            text.contains('…'),
            "{}: nothing was cut:\n{text}",
            name(view)
        );
        for tail in [
            "_longer_than_any_column",
            "something-quite-long",
            "config-file-with-a-long-name",
            "very-long-comm-name",
            "of-thirty-two-chars",
        ] {
            assert!(
                !text.contains(tail),
                "{}: {tail} wrapped:\n{text}",
                name(view)
            );
        }
        insta::assert_snapshot!(format!("long_names_{}_80x24", name(view)), text);
    }
    // Wide enough for the kernel function and the file: a long path loses its middle,
    // never the function before it nor the file's name at its end.
    show(&mut app, View::Threads);
    let text = screen(&app, 160, 48);
    let row = text
        .lines()
        .find(|l| l.contains("fuse_wait_answer"))
        .unwrap_or_else(|| panic!("the kernel function is shown whole:\n{text}"));
    assert!(row.contains("fd 7 /home/someone/…"), "{row}");
    assert!(row.contains("/x/tools@v0.28.0.zip"), "{row}");
    // The overview's alert too.
    show(&mut app, View::Overview);
    let text = screen(&app, 160, 48);
    let alert = text
        .lines()
        .find(|l| l.contains("! tid 4245"))
        .unwrap_or_else(|| panic!("the stuck call's alert:\n{text}"));
    assert!(
        alert.contains("fd 7 /home/") && alert.contains("/x/tools@v0.28.0.zip (see 4)"),
        "{alert}"
    );
}

#[test]
fn target_exit_banner_and_pause_badge() {
    let mut app = busy_app(8);
    let mut s = snapshot_with(10 * SEC + SEC / 4);
    s.target_exit = Some(ExitStatus::Signal(9));
    app.on_snapshot(s);
    app.set_target_exited("killed by SIGKILL after 10.25 s".into());
    insta::assert_snapshot!("target_exited_80x24", screen(&app, 80, 24));
    app.on_key(key(KeyCode::Char('p')));
    let text = screen(&app, 80, 24);
    assert!(
        text.lines().next().is_some_and(|l| l.contains("PAUSED")),
        "{text}"
    );
}

#[test]
fn help_overlay_and_filter_prompt() {
    let mut app = busy_app(8);
    app.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('/')));
    for c in "rea".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    let text = screen(&app, 80, 24);
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("filter: rea")),
        "{text}"
    );
    app.on_key(key(KeyCode::Enter));
    insta::assert_snapshot!("filtered_syscalls_80x24", screen(&app, 80, 24));
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = busy_app(8);
    for view in View::ALL {
        show(&mut app, view);
        for (w, h) in [
            (1, 1),
            (20, 5),
            (40, 12),
            (79, 23),
            (45, 30),
            (200, 14),
            (120, 60),
        ] {
            let _ = screen(&app, w, h);
        }
    }
    let text = screen(&app, 30, 8);
    assert!(text.contains("too small"), "{text}");
}

#[test]
fn what_the_target_controls_reaches_the_screen_escaped() {
    // argv, comm, a child's command and a log line, each with a terminal escape: an OSC
    // that retitles the window, a CSI through C1, a carriage return.
    let hostile = "x\u{1b}]0;PWNED\u{7}\u{9b}2J\r";
    let mut s = snapshot_with(10 * SEC);
    s.target.command = vec!["sh".into(), "-c".into(), hostile.into()];
    s.threads[1].comm = hostile.into();
    s.processes[1].command = vec![hostile.into()];
    let mut app = App::new(4);
    app.on_snapshot(s);
    app.push_log(LogEntry {
        ts_ns: SEC,
        kind: LogKind::Process,
        text: format!("exec pid 5001: {hostile}"),
    });
    for view in View::ALL {
        show(&mut app, view);
        let mut t = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
        t.draw(|f| render(f, &app)).expect("draw");
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(
                !cell.symbol().chars().any(char::is_control),
                "{view:?}: a control character reached a cell: {:?}",
                cell.symbol()
            );
        }
    }
}

#[test]
fn go_code_sorts_and_selects_call_sites() {
    let mut app = busy_app(8);
    show(&mut app, View::GoCode);
    let sites = |app: &App| {
        app.call_site_rows()
            .iter()
            .map(|r| r.site.function.clone())
            .collect::<Vec<_>>()
    };
    let by_time = sites(&app);
    assert_eq!(by_time.len(), 6, "{by_time:?}");
    assert_eq!(by_time[0], "main.loadConfig", "most time first");
    let ns: Vec<u64> = app.call_site_rows().iter().map(|r| r.ns).collect();
    assert!(ns.windows(2).all(|w| w[0] >= w[1]), "time descends: {ns:?}");
    let selected = |app: &App| {
        let rows = app.call_site_rows();
        rows[app.selected_site_index(&rows)].site.function.clone()
    };
    assert_eq!(
        selected(&app),
        "main.loadConfig",
        "the first row to begin with"
    );
    // j/k and the arrows move the selection, within the rows.
    app.on_key(key(KeyCode::Char('j')));
    app.on_key(key(KeyCode::Down));
    assert_eq!(selected(&app), by_time[2]);
    app.on_key(key(KeyCode::Char('k')));
    assert_eq!(selected(&app), by_time[1]);
    for _ in 0..20 {
        app.on_key(key(KeyCode::Down));
    }
    assert_eq!(selected(&app), by_time[5], "down at the bottom stays");
    app.on_key(key(KeyCode::Home));
    assert_eq!(selected(&app), by_time[0]);
    app.on_key(key(KeyCode::Up));
    assert_eq!(selected(&app), by_time[0], "up at the top stays");
    // s sorts the call sites by calls; the syscalls keep their own order.
    app.on_key(key(KeyCode::Char('j')));
    let picked = selected(&app);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(
        app.sort,
        super::SortKey::Total,
        "the syscall sort is untouched"
    );
    let calls: Vec<u64> = app.call_site_rows().iter().map(|r| r.calls).collect();
    assert!(
        calls.windows(2).all(|w| w[0] >= w[1]),
        "calls descend: {calls:?}"
    );
    assert_eq!(sites(&app)[0], LONG_FUNCTION, "12 calls, the most");
    assert_eq!(selected(&app), picked, "the selection follows its site");
    let text = screen(&app, 80, 24);
    assert!(text.contains("sorted by calls ▼"), "{text}");
    // S reverses; s again goes back to time, in its natural order.
    app.on_key(key(KeyCode::Char('S')).shift());
    let calls: Vec<u64> = app.call_site_rows().iter().map(|r| r.calls).collect();
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]),
        "calls ascend: {calls:?}"
    );
    assert!(screen(&app, 80, 24).contains("sorted by calls ▲"));
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(sites(&app), by_time);
    // The filter picks sites by function or file.
    app.on_key(key(KeyCode::Char('/')));
    for c in "server.go".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Enter));
    assert!(sites(&app).is_empty(), "only call sites' own files match");
    assert!(screen(&app, 80, 24).contains("no call site's function or file contains"));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('/')));
    for c in "INDEX".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Enter));
    assert_eq!(sites(&app), ["main.(*Index).save"]);
    app.on_key(key(KeyCode::Esc));
    // Elsewhere s sorts the syscalls and leaves the call sites be.
    show(&mut app, View::Syscalls);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(app.sort, super::SortKey::Avg);
    assert_eq!(app.site_sort, super::SiteSort::Time);
    // Nothing to select: nothing moves, nothing panics.
    let mut empty = App::new(4);
    empty.on_snapshot(empty_snapshot());
    show(&mut empty, View::GoCode);
    for k in [KeyCode::Down, KeyCode::End, KeyCode::Up, KeyCode::Char('s')] {
        empty.on_key(key(k));
    }
    assert!(empty.call_site_rows().is_empty());
}

#[test]
fn go_code_shows_the_stack_and_cuts_what_is_long() {
    let mut app = busy_app(8);
    show(&mut app, View::GoCode);
    // The busiest by time is loadConfig; the inlined save is the next.
    app.on_key(key(KeyCode::Down));
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        let site = text
            .lines()
            .find(|l| l.contains("▸ main.(*Index).save"))
            .unwrap_or_else(|| panic!("the site's frame is marked:\n{text}"));
        assert!(site.contains("(inlined)"), "{site}");
        assert!(text.contains("main.(*Index).flush"), "{text}");
        insta::assert_snapshot!(format!("gocode_inlined_{w}x{h}"), text);
    }
    // The long name: cut in the middle everywhere, nothing wrapped, nothing panics.
    while app
        .call_site_rows()
        .get(app.selected_site_index(&app.call_site_rows()))
        .is_some_and(|r| r.site.function != LONG_FUNCTION)
    {
        app.on_key(key(KeyCode::Down));
    }
    for (w, h) in [(80, 24), (160, 48), (40, 12), (100, 30), (61, 17)] {
        let text = screen(&app, w, h);
        assert!(
            !text.contains(LONG_FUNCTION),
            "{w}x{h}: shown whole:\n{text}"
        );
        if w >= 80 {
            assert!(text.contains("github.com/"), "{w}x{h}:\n{text}");
            assert!(
                text.contains("FromAllReplicas (coordinator.go:1234)"),
                "{w}x{h}: the tail stays:\n{text}"
            );
        }
    }
    insta::assert_snapshot!("gocode_long_name_80x24", screen(&app, 80, 24));
}

#[test]
fn go_code_escapes_what_the_binary_names() {
    let mut app = busy_app(8);
    show(&mut app, View::GoCode);
    while app
        .call_site_rows()
        .get(app.selected_site_index(&app.call_site_rows()))
        .is_some_and(|r| r.site.function != ESCAPE_FUNCTION)
    {
        app.on_key(key(KeyCode::Down));
    }
    for (w, h) in SIZES {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        t.draw(|f| render(f, &app)).expect("draw");
        for cell in t.backend().buffer().content() {
            assert!(
                !cell.symbol().chars().any(char::is_control),
                "{w}x{h}: a control character reached a cell: {:?}",
                cell.symbol()
            );
        }
        let text = t.backend().to_string();
        // Escaped where it can be read, as the text summary has it.
        assert!(
            text.contains("main.(*handler).\\x1b[31mServeHTTP"),
            "{w}x{h}:\n{text}"
        );
        assert!(
            text.contains("\\x1b]0;PWNED\\x07handler.go:7"),
            "{w}x{h}:\n{text}"
        );
    }
}

#[test]
fn calls_in_progress_name_their_goroutine_and_go_code() {
    let mut app = busy_app(8);
    show(&mut app, View::Threads);
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("4245") && l.contains("read"))
            .unwrap_or_else(|| panic!("{w}x{h}: the stuck read:\n{text}"));
        assert!(
            lines[at + 1].contains("↳ goroutine 1 at main.loadConfig (config.go:42)"),
            "{w}x{h}: its goroutine and call site under it:\n{text}"
        );
        if h > 24 {
            assert!(
                text.contains("↳ Go runtime (g0) at runtime.futex (sys_linux_amd64.s:557)"),
                "{w}x{h}: the runtime's own call:\n{text}"
            );
        }
    }
    // The overview's alert names them too, in the room the file leaves.
    show(&mut app, View::Overview);
    let text = screen(&app, 160, 48);
    let alert = text
        .lines()
        .find(|l| l.contains("! tid 4245"))
        .unwrap_or_else(|| panic!("the stuck call's alert:\n{text}"));
    assert!(
        alert.contains("goroutine 1 at main.loadConfig · fd 7 /mnt/cache/"),
        "{alert}"
    );
    assert!(alert.contains("tools@v0.28.0.zip (see 4)"), "{alert}");
}

mod hosts {
    //! Host-wide mode's process list: rendering, sorting, opening a process and going
    //! back.
    use super::*;
    use crate::{
        analysis::HostRow,
        tui::hosts::{render_hosts, HostAction, HostHeader, HostSort, Hosts},
    };

    fn row(pid: u32, comm: &str, syscall_ms: u64) -> HostRow {
        HostRow {
            pid,
            comm: comm.into(),
            go_version: Some("go1.22.3".into()),
            cgroup: Some(format!("/system.slice/{comm}.service")),
            calls: 1000,
            syscall_ns: syscall_ms * MS,
            blocked_share: 0.5,
            throttled_ns: 0,
            gomaxprocs: Some(8),
            cpu_quota: None,
            gomaxprocs_exceeds_quota: false,
            lost_sigchld: 0,
            exited: false,
        }
    }

    fn hosts() -> Hosts {
        let mut h = Hosts::new(1);
        let mut throttled = row(300, "batch", 20);
        throttled.throttled_ns = 900 * MS;
        throttled.cpu_quota = Some(2.0);
        throttled.gomaxprocs_exceeds_quota = true;
        let mut reaper = row(200, "reaper\u{1b}[2J", 50);
        reaper.lost_sigchld = 3;
        reaper.exited = true;
        h.on_rows(
            vec![row(100, "api", 700), reaper, throttled],
            HostHeader {
                traced: 2,
                untraced: 1,
                lost_records: 0,
                cgroup: None,
                duration_ns: 12 * SEC,
            },
        );
        h
    }

    fn screen(h: &Hosts, w: u16, height: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, height)).expect("test terminal");
        t.draw(|f| render_hosts(f, h)).expect("draw");
        t.backend().to_string()
    }

    fn pids(h: &Hosts) -> Vec<u32> {
        h.rows().iter().map(|r| r.pid).collect()
    }

    #[test]
    fn the_list_ranks_processes_and_each_sort_has_its_order() {
        let mut h = hosts();
        assert_eq!(pids(&h), [100, 200, 300], "by syscall time");
        h.on_key(key(KeyCode::Char('s')));
        assert_eq!(h.sort, HostSort::Blocked);
        // All equally blocked: then by syscall time.
        assert_eq!(pids(&h), [100, 200, 300]);
        h.on_key(key(KeyCode::Char('s')));
        assert_eq!((h.sort, pids(&h)[0]), (HostSort::Throttled, 300));
        h.on_key(key(KeyCode::Char('s')));
        assert_eq!((h.sort, pids(&h)[0]), (HostSort::Gomaxprocs, 300));
        h.on_key(key(KeyCode::Char('s')));
        assert_eq!((h.sort, pids(&h)[0]), (HostSort::LostSigchld, 200));
        h.on_key(key(KeyCode::Char('S')));
        assert_eq!(pids(&h).last(), Some(&200), "reversed");
    }

    #[test]
    fn the_list_on_screen() {
        let h = hosts();
        for (w, height) in SIZES {
            let s = screen(&h, w, height);
            assert!(s.contains("gotrace --all · 2 Go processes traced"), "{s}");
            assert!(s.contains("1 without a slot"), "{s}");
            assert!(
                !s.contains('\u{1b}'),
                "a comm's escape reaches the terminal: {s}"
            );
            let line = |pid: &str| {
                s.lines()
                    .position(|l| l.trim_start_matches(['"', '│', ' ']).starts_with(pid))
                    .unwrap_or_else(|| panic!("no row {pid}:\n{s}"))
            };
            assert!(
                line("100") < line("200") && line("200") < line("300"),
                "{s}"
            );
            let batch = &s.lines().nth(line("300")).unwrap();
            assert!(
                batch.contains(" 8/2.0 "),
                "GOMAXPROCS against the quota: {batch}"
            );
        }
        insta::assert_snapshot!("hosts_80x24", screen(&h, 80, 24));
    }

    #[test]
    fn enter_opens_a_process_and_esc_goes_back() {
        let mut h = hosts();
        h.on_key(key(KeyCode::Down));
        assert_eq!(h.on_key(key(KeyCode::Enter)), HostAction::None);
        assert_eq!(h.opened(), Some(200), "the selected row");
        h.on_snapshot(snapshot_with(10 * SEC));
        let s = screen(&h, 80, 24);
        assert!(
            s.contains("back to the process list (showing pid 200)"),
            "{s}"
        );
        assert!(s.contains("api-server"), "the process's own dashboard: {s}");
        // Keys go to its dashboard: r resets that process, / starts a filter that Esc
        // closes before Esc goes back.
        assert_eq!(h.on_key(key(KeyCode::Char('r'))), HostAction::Reset(200));
        h.on_key(key(KeyCode::Char('/')));
        h.on_key(key(KeyCode::Esc));
        assert_eq!(h.opened(), Some(200), "Esc closed the filter first");
        h.on_key(key(KeyCode::Esc));
        assert_eq!(h.opened(), None);
        assert_eq!(h.on_key(key(KeyCode::Char('q'))), HostAction::Quit);
        assert_eq!(h.on_key(key(KeyCode::Char('c')).ctrl()), HostAction::Quit);
    }

    #[test]
    fn an_empty_machine_says_what_will_happen() {
        let h = Hosts::new(1);
        let s = screen(&h, 80, 24);
        assert!(s.contains("no Go process traced yet"), "{s}");
        assert_eq!(h.opened(), None);
    }
}
