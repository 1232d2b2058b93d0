//! Root tests: the real gotrace binary loads its eBPF programs into this kernel and
//! traces real Go programs whose syscalls are known exactly.
use std::{
    io::BufRead,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gotrace_tests::{
    gotrace, read_trace, require_root, row, schema::ProcessEventKind, scratch, signal,
    sleep_retries, summary_of, text_row, wait_for_line, workload, Attached, Line,
};

const GOROUTINES: u64 = 4;
const PER_GOROUTINE: u64 = 25_000;
const SLEEPS: u64 = 5;
const SLEEP_MS: u64 = 20;
const ENOENT: u64 = 7;

fn exact_args() -> Vec<String> {
    vec![
        format!("-goroutines={GOROUTINES}"),
        format!("-n={PER_GOROUTINE}"),
        format!("-sleeps={SLEEPS}"),
        format!("-sleep-ms={SLEEP_MS}"),
        format!("-enoent={ENOENT}"),
    ]
}

/// Checks the counts the exact workload makes, in the NDJSON summary and the text.
/// `workload_output` holds the workload's "done" line.
fn check_exact_counts(stdout: &str, lines: &[Line], workload_output: &str) {
    let retries = sleep_retries(workload_output);
    let s = summary_of(lines);
    let getppid = row(s, "getppid");
    assert_eq!(getppid.calls, GOROUTINES * PER_GOROUTINE, "getppid calls");
    assert_eq!(getppid.errors, 0, "getppid errors");
    let open = row(s, "open");
    assert_eq!(
        (open.calls, open.errors),
        (ENOENT, ENOENT),
        "open calls/errors (ENOENT)"
    );
    assert_eq!(s.lost_records, 0, "lost records");
    let sleep = row(s, "clock_nanosleep");
    let want_ns = SLEEP_MS * 1_000_000;
    assert_eq!(
        sleep.calls,
        SLEEPS + retries,
        "clock_nanosleep calls ({retries} interrupted and resumed)"
    );
    assert!(
        sleep.total_ns >= SLEEPS * want_ns,
        "total {}",
        sleep.total_ns
    );
    assert!(sleep.max_ns < want_ns * 50, "max {}", sleep.max_ns);

    // The text summary says the same.
    let r = text_row(stdout, "getppid");
    assert_eq!((r[1], r[2]), ("100,000", "0"), "text getppid row: {r:?}");
    let r = text_row(stdout, "open");
    assert_eq!((r[1], r[2]), ("7", "7"), "text open row: {r:?}");
    let r = text_row(stdout, "clock_nanosleep");
    assert_eq!(
        r[1],
        (SLEEPS + retries).to_string(),
        "text clock_nanosleep row: {r:?}"
    );

    // Each sleep's time is filed once: asleep (its cause), waiting for a CPU or on one,
    // adding up to its total, with nothing left unclassified.
    let parts: u64 = sleep.causes.iter().map(|c| c.ns).sum();
    assert_eq!(
        parts, sleep.total_ns,
        "clock_nanosleep's time by cause: {:?}",
        sleep.causes
    );
    let asleep = sleep.causes.iter().find(|c| c.cause == "sleep");
    assert_eq!(
        asleep.map(|c| c.ns),
        Some(sleep.blocked_ns),
        "clock_nanosleep's blocked time by cause: {:?}",
        sleep.causes
    );

    if retries > 0 {
        // A sleep split by a signal is two calls, each shorter than the requested time.
        return;
    }
    assert!(
        sleep.p50_ns >= want_ns,
        "p50 {} < requested {want_ns}",
        sleep.p50_ns
    );
    assert!(
        sleep.avg_ns >= want_ns,
        "avg {} < requested {want_ns}",
        sleep.avg_ns
    );
    assert!(sleep.max_ns >= want_ns, "max {}", sleep.max_ns);
    // Every sleep is over the 1 ms threshold, so each was streamed as a syscall line.
    let slow_sleeps: Vec<_> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c) if c.name == "clock_nanosleep" => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        slow_sleeps.len() as u64,
        SLEEPS,
        "streamed clock_nanosleep records"
    );
    for c in &slow_sleeps {
        assert!(
            c.duration_ns >= want_ns,
            "a streamed sleep took {} ns",
            c.duration_ns
        );
        assert_eq!(c.ret, 0);
        assert_eq!(c.args[0], 1, "clock id CLOCK_MONOTONIC in arg 0");
    }
}

#[test]
fn launch_counts_exactly() {
    if !require_root("launch_counts_exactly") {
        return;
    }
    let exact = workload("exact");
    let dir = scratch("launch-exact");
    let json = dir.join("trace.ndjson");
    let mut args = vec![
        "--no-tui".to_string(),
        "--json".into(),
        json.display().to_string(),
        "--".into(),
    ];
    args.push(exact.display().to_string());
    args.extend(exact_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = gotrace(&args, Duration::from_secs(60));
    assert_eq!(
        run.code(),
        0,
        "gotrace failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );

    let lines = read_trace(&json);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("first line is not the header: {:?}", lines.first())
    };
    assert_eq!(h.format, 1);
    assert!(h.target.launched);
    assert_eq!(h.target.command[0], exact.display().to_string());
    assert_eq!(
        h.go_version.as_deref(),
        Some(gotrace_tests::go_version().as_str())
    );
    assert_eq!(h.slow_threshold_ns, 1_000_000);
    check_exact_counts(&run.stdout, &lines, &run.stdout);
    let s = summary_of(&lines);
    assert_eq!(s.go_version, h.go_version);
    assert_eq!(
        s.target_exit.as_ref().and_then(|e| e.code),
        Some(0),
        "target exit"
    );
    assert_eq!(
        s.unmatched_exits, 0,
        "a launched target has no call in progress at start"
    );
    // execve is the first thing the launched process does, and it is seen.
    assert_eq!(row(s, "execve").calls, 1);

    // The workload's own "done" shares stdout with the summary.
    let first = run
        .stdout
        .lines()
        .find(|l| l.starts_with("gotrace: "))
        .unwrap_or_default();
    assert!(
        first.starts_with(&format!("gotrace: pid {} (", h.target.pid))
            && first.contains(&gotrace_tests::go_version()),
        "summary header: {first}"
    );
    assert!(first.ends_with("0 lost records"), "summary header: {first}");
    assert!(
        run.stdout.contains("target exited with code 0"),
        "{}",
        run.stdout
    );
}

/// Starts the exact workload waiting for SIGUSR1; returns it once it said "ready".
fn start_waiting_exact(
    extra: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(workload("exact"))
        .args(exact_args())
        .arg("-wait-signal")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start exact");
    let out = child.stdout.take().expect("stdout");
    let (reader, _) = wait_for_line(out, "ready", Duration::from_secs(20));
    (child, reader)
}

/// A workload killed when the test ends, whatever way it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Running, not gone and not a zombie.
fn alive(pid: u32) -> bool {
    tracer::tracee::is_alive(pid)
}

#[test]
fn attach_counts_exactly_and_ends_when_the_target_exits() {
    if !require_root("attach_counts_exactly_and_ends_when_the_target_exits") {
        return;
    }
    let (mut target, mut out) = start_waiting_exact(&[]);
    let pid = target.id();
    let dir = scratch("attach-exact");
    let json = dir.join("trace.ndjson");
    let g = Attached::start(&[
        "--no-tui",
        "--json",
        &json.display().to_string(),
        "--pid",
        &pid.to_string(),
    ]);
    assert!(
        g.banner().contains(&format!("tracing pid {pid} (")),
        "{}",
        g.banner()
    );
    signal(pid, libc::SIGUSR1);
    let status = target.wait().expect("wait target");
    assert!(status.success(), "workload failed: {status}");
    let run = g.finish(Duration::from_secs(60));
    assert_eq!(run.code(), 0, "gotrace exit: {}", run.stderr);
    let mut workload_output = String::new();
    std::io::Read::read_to_string(&mut out, &mut workload_output).expect("workload output");
    let lines = read_trace(&json);
    check_exact_counts(&run.stdout, &lines, &workload_output);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("no header")
    };
    assert!(!h.target.launched);
    assert_eq!(h.target.pid, pid);
    assert!(
        h.target.command[0].ends_with("exact"),
        "{:?}",
        h.target.command
    );
    let s = summary_of(&lines);
    assert_eq!(
        s.target_exit.as_ref().and_then(|e| e.code),
        Some(0),
        "exit code from the kernel's exit record"
    );
}

#[test]
fn two_gotraces_on_one_target_both_count_exactly() {
    if !require_root("two_gotraces_on_one_target_both_count_exactly") {
        return;
    }
    let (mut target, mut out) = start_waiting_exact(&[]);
    let pid = target.id().to_string();
    let dir = scratch("two-on-one");
    let jsons = [dir.join("a.ndjson"), dir.join("b.ndjson")];
    let gs: Vec<Attached> = jsons
        .iter()
        .map(|j| {
            Attached::start(&[
                "--no-tui",
                "--json",
                &j.display().to_string(),
                "--pid",
                &pid,
            ])
        })
        .collect();
    signal(target.id(), libc::SIGUSR1);
    let status = target.wait().expect("wait target");
    assert!(status.success(), "workload failed: {status}");
    let mut workload_output = String::new();
    std::io::Read::read_to_string(&mut out, &mut workload_output).expect("workload output");
    for (g, json) in gs.into_iter().zip(&jsons) {
        let run = g.finish(Duration::from_secs(60));
        assert_eq!(run.code(), 0, "gotrace exit: {}", run.stderr);
        check_exact_counts(&run.stdout, &read_trace(json), &workload_output);
    }
}

#[test]
fn sigterm_ends_with_a_summary_and_leaves_the_target_running() {
    if !require_root("sigterm_ends_with_a_summary_and_leaves_the_target_running") {
        return;
    }
    let (target, mut out) = start_waiting_exact(&["-linger"]);
    let _target = KillOnDrop(target);
    let pid = _target.0.id();
    let dir = scratch("sigterm");
    let json = dir.join("trace.ndjson");
    let g = Attached::start(&[
        "--no-tui",
        "--json",
        &json.display().to_string(),
        "--pid",
        &pid.to_string(),
    ]);
    signal(pid, libc::SIGUSR1);
    let mut line = String::new();
    out.read_line(&mut line).expect("read done");
    assert!(line.starts_with("done"), "{line}");
    signal(g.child.id(), libc::SIGTERM);
    let run = g.finish(Duration::from_secs(60));
    assert_eq!(run.code(), 0, "gotrace exit after SIGTERM: {}", run.stderr);
    let lines = read_trace(&json);
    check_exact_counts(&run.stdout, &lines, &line);
    assert_eq!(
        summary_of(&lines).target_exit,
        None,
        "the target did not exit"
    );
    assert!(
        alive(pid),
        "an attached target keeps running after gotrace stops"
    );
}

#[test]
fn duration_stops_tracing() {
    if !require_root("duration_stops_tracing") {
        return;
    }
    let (target, _out) = start_waiting_exact(&["-linger"]);
    let target = KillOnDrop(target);
    let target = &target.0;
    let started = Instant::now();
    let run = gotrace(
        &[
            "--no-tui",
            "--duration",
            "1s",
            "--pid",
            &target.id().to_string(),
        ],
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    let first = run.stdout.lines().next().unwrap_or_default();
    let traced: f64 = first
        .split("traced ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no trace length in {first}"));
    assert!((1.0..2.0).contains(&traced), "traced about 1 s: {first}");
    assert!(alive(target.id()));
}

#[test]
fn launch_follows_children_through_os_exec() {
    if !require_root("launch_follows_children_through_os_exec") {
        return;
    }
    let spawner = workload("spawner");
    let dir = scratch("follow");
    let json = dir.join("trace.ndjson");
    let run = gotrace(
        &[
            "--no-tui",
            "--json",
            &json.display().to_string(),
            "--",
            &spawner.display().to_string(),
            "-children=3",
            "-child-calls=1000",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = read_trace(&json);
    let s = summary_of(&lines);
    // Only the children call getppid: 3 x 1000, all seen because they were followed.
    assert_eq!(row(s, "getppid").calls, 3000, "children's getppid calls");
    // The root's exec and each child's.
    assert_eq!(row(s, "execve").calls, 4, "execve calls");
    // Go >= 1.23 waits for children with a pidfd and waitid(P_PIDFD).
    assert!(
        row(s, "waitid").calls >= 3,
        "waitid calls: {}",
        row(s, "waitid").calls
    );
    let Some(Line::Header(h)) = lines.first() else {
        panic!("no header")
    };
    // Go's syscall package may also fork a child that exits at once, without exec, to
    // probe CLONE_PIDFD support (syscall/exec_linux.go): a real child, reported as such.
    let children: Vec<_> = s
        .processes
        .iter()
        .filter(|p| p.pid != h.target.pid)
        .collect();
    let execed: Vec<_> = children.iter().filter(|p| !p.command.is_empty()).collect();
    assert_eq!(
        execed.len(),
        3,
        "children that ran a program: {:?}",
        s.processes
    );
    assert!(children.len() <= 4, "children: {:?}", s.processes);
    for c in &children {
        assert_eq!(c.parent, Some(h.target.pid), "{c:?}");
        assert!(c.exit.is_some(), "every child exited: {c:?}");
    }
    for c in &execed {
        assert_eq!(c.parent, Some(h.target.pid), "{c:?}");
        assert_eq!(c.exit.as_ref().and_then(|e| e.code), Some(3), "{c:?}");
        assert_eq!(
            c.command.get(1).map(String::as_str),
            Some("-child"),
            "{c:?}"
        );
    }
    let count = |k: ProcessEventKind| {
        lines
            .iter()
            .filter(|l| matches!(l, Line::Process(p) if p.event == k && p.pid != h.target.pid))
            .count()
    };
    assert_eq!(count(ProcessEventKind::Exec), 3, "exec lines");
    assert_eq!(count(ProcessEventKind::Fork), children.len(), "fork lines");
    assert_eq!(count(ProcessEventKind::Exit), children.len(), "exit lines");
    assert!(
        run.stdout
            .contains(&format!("child processes ({})", children.len())),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout
            .matches("-child -child-calls=1000 (parent")
            .count(),
        3,
        "{}",
        run.stdout
    );
}

#[test]
fn no_follow_leaves_children_untraced() {
    if !require_root("no_follow_leaves_children_untraced") {
        return;
    }
    let spawner = workload("spawner");
    let run = gotrace(
        &[
            "--no-tui",
            "--no-follow",
            "--",
            &spawner.display().to_string(),
            "-children=2",
            "-child-calls=500",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("getppid ")),
        "children were traced without --follow:\n{}",
        run.stdout
    );
    let r = text_row(&run.stdout, "execve");
    assert_eq!(r[1], "1", "only the root's execve: {r:?}");
}

#[test]
fn launched_command_exit_code_is_passed_on() {
    if !require_root("launched_command_exit_code_is_passed_on") {
        return;
    }
    let run = gotrace(
        &["--no-tui", "--", "sh", "-c", "exit 7"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code(), 7, "{}", run.stderr);
    assert!(run.stdout.contains("not a Go binary"), "{}", run.stdout);
    assert!(
        run.stdout.contains("target exited with code 7"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_command_still_running_when_the_duration_ends_exits_124_like_timeout() {
    if !require_root("a_command_still_running_when_the_duration_ends_exits_124_like_timeout") {
        return;
    }
    let run = gotrace(
        &["--no-tui", "--duration", "1", "--", "sleep", "600"],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 124, "{}", run.stderr);
    // The summary is whole, and says the command was still running.
    assert!(run.stdout.contains("clock_nanosleep"), "{}", run.stdout);
    assert!(!run.stdout.contains("target exited"), "{}", run.stdout);
}

#[test]
fn a_command_launched_through_sudo_runs_as_the_invoking_user() {
    if !require_root("a_command_launched_through_sudo_runs_as_the_invoking_user") {
        return;
    }
    // What sudo leaves in the environment for the user who ran it.
    let child = gotrace_tests::gotrace_cmd(&[
        "--no-tui",
        "--",
        "sh",
        "-c",
        "echo ids $(id -u) $(id -g) home=$HOME user=$USER",
    ])
    .env("SUDO_UID", "65534")
    .env("SUDO_GID", "65534")
    .env("SUDO_USER", "nobody")
    .spawn()
    .expect("spawn gotrace");
    let run = gotrace_tests::wait_with_timeout(child, Duration::from_secs(30));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("ids "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    // nobody's passwd entry gives its name and home.
    assert!(
        line.starts_with("ids 65534 65534 home=/nonexistent user=nobody"),
        "{line}"
    );
}
