//! Root tests of the SIGCHLD lifecycle and signal accounting, on real Go programs
//! (tests/workloads/sigchld).
use std::time::{Duration, Instant};

use gotrace_tests::{
    read_trace, require_root, schema::ChildEventKind, scratch, summary_of, trace_command, workload,
    Attached, Line, Run,
};

/// Traces the sigchld workload with its `args`, gotrace getting `opts`.
fn sigchld_run(name: &str, opts: &[&str], args: &[&str]) -> (Run, Vec<Line>) {
    let bin = workload("sigchld").display().to_string();
    let mut cmd = vec![bin.as_str()];
    cmd.extend_from_slice(args);
    trace_command(name, opts, &cmd, Duration::from_secs(60))
}

fn balanced(s: &gotrace_tests::schema::SigchldJson) -> bool {
    s.exits == s.delivered + s.coalesced + s.ignored + s.undelivered + s.failed + s.not_sent
}

fn proc_state(pid: u32) -> Option<char> {
    tracer::tracee::parse_stat_state(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[test]
fn coalesced_sigchld_is_reported_and_balances() {
    if !require_root("coalesced_sigchld_is_reported_and_balances") {
        return;
    }
    let dir = scratch("coalesce");
    let json = dir.join("trace.ndjson");
    let bin = workload("sigchld").display().to_string();
    let g = Attached::start(&[
        "--no-tui",
        "--json",
        &json.display().to_string(),
        "--",
        &bin,
        "-mode=notify",
        "-children=50",
    ]);
    let pid: u32 = g
        .banner()
        .split("tracing pid ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", g.banner()));
    // The parent stops itself right after releasing its 50 children; they exit while it
    // is stopped, so their SIGCHLDs pile up on one pending signal.
    let start = Instant::now();
    while proc_state(pid) != Some('T') {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the workload never stopped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Its children exit while it is stopped: the trace shows their exits, none reaped
    // since. Two are enough for SIGCHLDs to coalesce (one pending, the next finds it so);
    // three leave a margin. Not all 50, and with time to spare: under emulation on a
    // loaded machine, fifty Go runtimes starting at once take tens of seconds to get to
    // their exit.
    gotrace_tests::wait_until("children to exit", Duration::from_secs(180), || {
        unreaped_exits(&json, pid) >= 3
    });
    // SAFETY: sending SIGCONT to the workload this test started.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    let run = g.finish(Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("reaped 50 notified"), "{}", run.stdout);
    let lines = read_trace(&json);
    let s = summary_of(&lines);
    let c = &s.sigchld;

    // Every child that ran the workload's child mode was seen exiting. (Go's syscall
    // package may add one short-lived child of its own to probe CLONE_PIDFD.)
    let execed: Vec<u32> = s
        .processes
        .iter()
        .filter(|p| p.command.iter().any(|a| a == "-mode=child"))
        .map(|p| p.pid)
        .collect();
    assert_eq!(execed.len(), 50, "children that ran: {:?}", s.processes);
    let exited: Vec<u32> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Child(ch) if ch.event == gotrace_tests::schema::ChildEventKind::Exit => {
                Some(ch.pid)
            }
            _ => None,
        })
        .collect();
    for p in &execed {
        assert!(exited.contains(p), "exit of child {p} not seen");
    }
    assert!(c.exits == 50 || c.exits == 51, "exits {c:?}");
    assert!(
        balanced(c),
        "exits = delivered + coalesced + ignored + undelivered + failed + not_sent: {c:?}"
    );
    assert!(
        c.coalesced > 0,
        "no coalescing although the parent was stopped: {c:?}"
    );
    assert!(c.delivered >= 1, "{c:?}");
    assert_eq!(c.undelivered, 0, "{c:?}");
    assert_eq!(c.reaped, c.exits, "every child reaped: {c:?}");
    assert_eq!(c.unreaped, 0, "{c:?}");
    let sigchld = s
        .signals
        .iter()
        .find(|x| x.name == "SIGCHLD")
        .expect("SIGCHLD row");
    assert!(sigchld.already_pending >= c.coalesced, "{sigchld:?}");
    assert!(
        s.anomalies.iter().any(|a| a.kind == "coalesced"),
        "{:?}",
        s.anomalies
    );
    assert!(run.stdout.contains("SIGCHLD coalesced"), "{}", run.stdout);
}

#[test]
fn ignored_sigchld_means_auto_reaped_children() {
    if !require_root("ignored_sigchld_means_auto_reaped_children") {
        return;
    }
    let (run, lines) = sigchld_run("ignore", &[], &["-mode=ignore", "-children=3"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("wait errors 3"),
        "the workload saw ECHILD: {}",
        run.stdout
    );
    let s = summary_of(&lines);
    let c = &s.sigchld;
    assert!(c.ignored >= 3 && c.auto_reaped >= 3, "{c:?}");
    assert!(balanced(c), "{c:?}");
    assert_eq!(c.unreaped, 0, "{c:?}");
    let a = s
        .anomalies
        .iter()
        .find(|a| a.kind == "ignored")
        .unwrap_or_else(|| panic!("{:?}", s.anomalies));
    assert!(
        a.message.contains("ignores SIGCHLD (SIG_IGN)"),
        "{}",
        a.message
    );
    let ignored_exits = lines
        .iter()
        .filter(|l| matches!(l, Line::Child(ch) if ch.disposition.as_deref() == Some("ignore")))
        .count();
    assert!(
        ignored_exits >= 3,
        "child exit lines with disposition ignore: {ignored_exits}"
    );
}

#[test]
fn a_child_never_reaped_is_named() {
    if !require_root("a_child_never_reaped_is_named") {
        return;
    }
    let (run, lines) = sigchld_run("noreap", &[], &["-mode=noreap"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let child: u32 = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("child "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no child pid in {}", run.stdout));
    let s = summary_of(&lines);
    assert_eq!(s.sigchld.unreaped, 1, "{:?}", s.sigchld);
    let a = s
        .anomalies
        .iter()
        .find(|a| a.kind == "unreaped")
        .unwrap_or_else(|| panic!("{:?}", s.anomalies));
    assert_eq!(a.pid, Some(child), "{a:?}");
    assert!(
        a.message.contains(&format!("child pid {child} (true)")),
        "{}",
        a.message
    );
    assert!(
        run.stdout
            .contains(&format!("child pid {child} (true) exited")),
        "{}",
        run.stdout
    );
}

#[test]
fn cmd_wait_hang_names_the_grandchild() {
    if !require_root("cmd_wait_hang_names_the_grandchild") {
        return;
    }
    let (run, lines) = sigchld_run("hang", &["--duration", "3"], &["-mode=hang"]);
    // The launched workload was still hung when the duration ended: 124, as timeout.
    assert_eq!(run.code(), 124, "{}\n{}", run.stdout, run.stderr);
    let s = summary_of(&lines);
    let a = s
        .anomalies
        .iter()
        .find(|a| a.kind == "pipe_held")
        .unwrap_or_else(|| panic!("{:?}\n{}", s.anomalies, run.stdout));
    let holder = a.pid.expect("holder pid");
    let cmdline = std::fs::read(format!("/proc/{holder}/cmdline")).unwrap_or_default();
    // SAFETY: the holder is the workload's `sleep 30`; stop it.
    unsafe { libc::kill(holder as i32, libc::SIGKILL) };
    assert_eq!(
        String::from_utf8_lossy(&cmdline).replace('\0', " ").trim(),
        "sleep 30",
        "holder {holder}"
    );
    assert!(
        a.message.contains("(sleep 30) still holds it open"),
        "{}",
        a.message
    );
    assert!(
        a.message.contains("(sh) exited"),
        "the exited child is named: {}",
        a.message
    );
    assert!(
        run.stdout.contains("Cmd.Wait will not return"),
        "{}",
        run.stdout
    );
}

#[test]
fn preemption_signals_are_counted_apart() {
    if !require_root("preemption_signals_are_counted_apart") {
        return;
    }
    let (run, lines) = sigchld_run("busy", &[], &["-mode=busy", "-seconds=2"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary_of(&lines);
    assert!(
        s.preemption_signals >= 10,
        "SIGURG preemptions: {}",
        s.preemption_signals
    );
    assert!(s.preemption_per_sec > 0.0);
    assert!(
        !s.signals.iter().any(|x| x.signo == 23),
        "SIGURG listed with user signals: {:?}",
        s.signals
    );
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Signal(x) if x.signo == 23)),
        "SIGURG lines in the trace"
    );
    assert!(run.stdout.contains("preemption (SIGURG"), "{}", run.stdout);
}

/// Children of `parent` the trace so far shows exited and not reaped.
fn unreaped_exits(json: &std::path::Path, parent: u32) -> usize {
    let text = std::fs::read_to_string(json).unwrap_or_default();
    let mut open = std::collections::HashSet::new();
    // Only whole lines: the last one may be half written.
    for l in text.lines().filter(|l| l.ends_with('}')) {
        if let Ok(Line::Child(c)) = serde_json::from_str::<Line>(l) {
            if c.parent != parent {
                continue;
            }
            match c.event {
                ChildEventKind::Exit => open.insert(c.pid),
                ChildEventKind::Reaped => open.remove(&c.pid),
            };
        }
    }
    open.len()
}
