//! Root tests of the poller view: what a process really uses to wait for I/O.
use std::time::Duration;

use gotrace_tests::{
    assert_splits_add_up, require_root, summary_of, trace_command, workload, Line, Run,
};

fn traced(name: &str, cmd: &[&str]) -> (Run, Vec<Line>) {
    let (run, lines) = trace_command(name, &[], cmd, Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    assert_splits_add_up(&lines);
    (run, lines)
}

/// Wait percentiles come from histogram buckets, whose upper edges can be far above any
/// wait seen: they are clamped to the longest one the kernel recorded.
fn assert_percentiles_within_the_longest_wait(e: &gotrace_tests::schema::EpollInstanceJson) {
    assert!(
        e.max_ns > 0 && e.max_ns <= e.blocked_ns,
        "the longest wait is one of the waits: {e:?}"
    );
    assert!(e.p50_ns <= e.p99_ns && e.p99_ns <= e.max_ns, "{e:?}");
}

#[test]
fn go_http_server_under_load_uses_epoll() {
    if !require_root("go_http_server_under_load_uses_epoll") {
        return;
    }
    // An HTTP server and a client on loopback, in one Go process, for 2 s.
    let demo = workload("demo").display().to_string();
    let (run, lines) = traced("http", &[&demo, "-duration=2s"]);
    let s = summary_of(&lines);
    let p = &s.poller;
    assert_eq!(p.kind, "epoll", "{p:?}");
    assert!(p.io_uring.ops.is_empty() && p.io_uring.rings.is_empty());
    let e = p
        .epoll
        .instances
        .iter()
        .max_by_key(|e| e.waits)
        .expect("an epoll instance");
    assert!(e.waits > 100, "epoll waits: {e:?}");
    // Every wait counted, once: the instances' waits are the epoll_pwait calls.
    let waits: u64 = p.epoll.instances.iter().map(|e| e.waits).sum();
    let calls: u64 = s
        .syscalls
        .iter()
        .filter(|r| r.name.starts_with("epoll_") && r.name.contains("wait"))
        .map(|r| r.calls)
        .sum();
    assert_eq!(waits, calls, "epoll waits against epoll_*wait calls: {p:?}");
    assert!(e.ready > 10 && e.events >= e.ready, "{e:?}");
    assert!(e.p99_ns >= e.p50_ns);
    assert_percentiles_within_the_longest_wait(e);
    // The listening socket and the keep-alive connections are registered at the end,
    // with the runtime's eventfd.
    let sockets = e.fds.iter().filter(|f| f.kind == "socket").count();
    assert!(sockets >= 2, "listening + connection sockets: {:?}", e.fds);
    assert!(e.fds.iter().any(|f| f.kind == "eventfd"), "{:?}", e.fds);
    assert!(e.registrations >= 3, "{e:?}");
    assert!(
        p.epoll.wakeups > 0,
        "netpoll wakeups through the eventfd: {:?}",
        p.epoll
    );
    assert!(run.stdout.contains("poller: epoll ("), "{}", run.stdout);
}

#[test]
fn io_uring_ops_are_counted_per_opcode() {
    if !require_root("io_uring_ops_are_counted_per_opcode") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_uring-workload");
    let (run, lines) = traced("uring", &[bin]);
    assert!(
        run.stdout.contains("completed 97 failed 1"),
        "{}",
        run.stdout
    );
    let s = summary_of(&lines);
    let p = &s.poller;
    assert_eq!(p.kind, "io_uring", "{p:?}");
    let op = |name: &str| {
        p.io_uring
            .ops
            .iter()
            .find(|o| o.opcode == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", p.io_uring.ops))
    };
    assert_eq!((op("NOP").count, op("NOP").errors), (64, 0));
    assert_eq!(
        (op("READ").count, op("READ").errors),
        (33, 1),
        "32 reads and one of a bad fd"
    );
    assert!(op("READ").p50_ns > 0 && op("READ").p99_ns >= op("READ").p50_ns);
    let ring = p.io_uring.rings.first().expect("the ring");
    assert_eq!((ring.submits, ring.completes), (97, 97));
    assert!(
        ring.max_queue_depth >= 2 && ring.max_queue_depth <= 32,
        "{ring:?}"
    );
    assert!(p.epoll.instances.is_empty(), "no epoll: {:?}", p.epoll);
}

#[test]
fn go_file_io_and_sleeps_use_epoll_for_timers_only() {
    if !require_root("go_file_io_and_sleeps_use_epoll_for_timers_only") {
        return;
    }
    let attrib = workload("attrib").display().to_string();
    let (run, lines) = traced("files", &[&attrib, "-mode=files"]);
    let s = summary_of(&lines);
    let p = &s.poller;
    // What it really does: the Go runtime sleeps on timers through the netpoller, so
    // epoll is used, but no socket or file is ever registered: only its eventfd.
    assert_eq!(p.kind, "epoll", "{p:?}");
    assert!(p.io_uring.ops.is_empty());
    let fds: Vec<&str> = p
        .epoll
        .instances
        .iter()
        .flat_map(|e| &e.fds)
        .map(|f| f.kind.as_str())
        .collect();
    assert_eq!(fds, ["eventfd"], "{:?}", p.epoll);
    let e = &p.epoll.instances[0];
    assert!(e.timeouts >= 5, "the five sleeps end by timeout: {e:?}");
    assert_percentiles_within_the_longest_wait(e);
    assert!(
        run.stdout.contains("epoll, for timers only"),
        "{}",
        run.stdout
    );
}
