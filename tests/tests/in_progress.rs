//! A call that never returns is never a slow-call line: gotrace reports the calls the
//! threads are still in, with what they wait on, when tracing ends.
use std::time::Duration;

use gotrace_tests::{
    mkfifo, require_root, schema::InProgressJson, schema::Summary, scratch, summary_of,
    trace_command, workload, Killed, Line,
};

/// The trace's in-progress calls that are not parked runtime threads.
fn busy(s: &Summary) -> Vec<&InProgressJson> {
    s.in_progress
        .iter()
        .filter(|p| p.cause.as_deref() != Some("idle"))
        .collect()
}

#[test]
fn a_read_on_a_pipe_nobody_writes_is_named_with_its_file() {
    if !require_root("a_read_on_a_pipe_nobody_writes_is_named_with_its_file") {
        return;
    }
    let dir = scratch("stuck-fifo");
    let fifo = dir.join("requests.fifo");
    mkfifo(&fifo);
    let bin = workload("stuck").display().to_string();
    let fifo_s = fifo.display().to_string();
    let timeline = dir.join("timeline.json");
    let timeline_s = timeline.display().to_string();
    let (run, lines) = trace_command(
        "stuck-fifo-trace",
        &["--duration", "2", "--perfetto", &timeline_s],
        &[&bin, "-fifo", &fifo_s],
        Duration::from_secs(60),
    );
    assert!(
        run.stdout.contains("blocking"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let s = summary_of(&lines);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("no header")
    };
    let b = busy(s);
    let read = b
        .first()
        .unwrap_or_else(|| panic!("nothing in progress: {:?}", s.in_progress));
    assert_eq!(read.name, "read", "{b:?}");
    assert_eq!(read.pid, h.target.pid);
    assert_eq!(read.state, "blocked", "{read:?}");
    assert_eq!(read.cause.as_deref(), Some("pipe"), "{read:?}");
    let fd = read.args[0];
    assert_eq!(
        read.detail.as_deref(),
        Some(format!("fd {fd} {fifo_s}").as_str()),
        "{read:?}"
    );
    // It began before the last second of a two-second trace and was still going.
    assert!(read.elapsed_ns >= 1_000_000_000, "{read:?}");
    assert!(read.elapsed_ns <= s.duration_ns + 1_000_000, "{read:?}");
    assert!(
        read.blocked_ns * 10 >= read.elapsed_ns * 9,
        "a read that waits is blocked: {read:?}"
    );
    let split = read.on_cpu_ns + read.runq_ns + read.blocked_ns;
    assert!(
        split.abs_diff(read.elapsed_ns) < 1_000,
        "the split adds up: {read:?}"
    );
    assert!(
        read.wchan.as_deref().is_some_and(|w| w.contains("pipe")),
        "{read:?}"
    );
    // Never a slow-call line: it did not return. (The same thread's earlier calls, the
    // runtime's start-up reads, may be slow on a loaded machine.)
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Syscall(c) if c.tid == read.tid && c.ts_ns == read.ts_ns)),
        "the read was streamed as if it had returned"
    );
    // On the timeline, a slice up to the end, marked as in progress.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&timeline).expect("timeline")).expect("JSON");
    let slice = doc["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["cat"] == "syscall,in_progress" && e["tid"].as_u64() == Some(read.tid.into()))
        .unwrap_or_else(|| panic!("no in-progress slice for tid {}", read.tid));
    assert_eq!(slice["name"], "read");
    assert_eq!(slice["args"]["detail"], format!("fd {fd} {fifo_s}"));
    assert_eq!(slice["dur"].as_f64(), Some(read.elapsed_ns as f64 / 1e3));
    // The text summary leads with it and counts the parked runtime threads.
    let text = &run.stdout;
    let at = text
        .find("in progress when tracing ended")
        .unwrap_or_else(|| panic!("{text}"));
    let section = &text[at..];
    let first = section.lines().nth(1).expect("a call line");
    assert!(
        first.contains("read") && first.contains("[pipe]") && first.contains(&fifo_s),
        "{section}"
    );
    assert!(
        !section.lines().nth(1).unwrap_or("").contains("[idle]"),
        "{section}"
    );
}

#[test]
fn an_open_that_hangs_on_fuse_is_the_filesystem_with_its_path() {
    if !require_root("an_open_that_hangs_on_fuse_is_the_filesystem_with_its_path") {
        return;
    }
    // Every lookup and read waits 8 s, longer than the trace: the open's path walk hangs.
    // (The command, left running by gotrace, holds the test's output pipe until then.)
    let fs = gotrace_tests::slowfs::SlowFs::mount(
        &[("module.zip", vec![7u8; 8192])],
        Duration::from_secs(8),
    );
    let file = fs.path().join("module.zip").display().to_string();
    let bin = workload("stuck").display().to_string();
    let (run, lines) = trace_command(
        "stuck-fuse",
        &["--duration", "2"],
        &[&bin, "-file", &file],
        Duration::from_secs(60),
    );
    let s = summary_of(&lines);
    let b = busy(s);
    let open = b
        .first()
        .unwrap_or_else(|| panic!("nothing in progress: {:?}\n{}", s.in_progress, run.stdout));
    assert_eq!(open.name, "openat", "{b:?}");
    assert_eq!(open.cause.as_deref(), Some("fs:fuse"), "{open:?}");
    assert_eq!(open.state, "blocked", "{open:?}");
    assert!(open.elapsed_ns >= 1_000_000_000, "{open:?}");
    // The path, read from the process's memory while the call was in progress.
    assert_eq!(open.detail.as_deref(), Some(file.as_str()), "{open:?}");
    assert!(open.wchan.is_some(), "{open:?}");
    assert!(
        run.stdout.contains(&format!("[fs:fuse]  {file}")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_process_already_stuck_when_gotrace_attaches_is_named() {
    if !require_root("a_process_already_stuck_when_gotrace_attaches_is_named") {
        return;
    }
    let dir = scratch("stuck-attach");
    let fifo = dir.join("jobs.fifo");
    mkfifo(&fifo);
    let fifo_s = fifo.display().to_string();
    let mut child = std::process::Command::new(workload("stuck"))
        .args(["-fifo", &fifo_s])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start stuck");
    let out = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let (_out, _) = gotrace_tests::wait_for_line(out, "blocking", Duration::from_secs(20));
    // In its read of the FIFO before gotrace attaches.
    gotrace_tests::wait_until(
        "the workload to block in read",
        Duration::from_secs(20),
        || gotrace_tests::in_syscall(child.0.id(), libc::SYS_read),
    );
    let pid = child.0.id().to_string();
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let run = gotrace_tests::gotrace(
        &[
            "--no-tui",
            "--json",
            &json_s,
            "--duration",
            "1",
            "--pid",
            &pid,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = gotrace_tests::read_trace(&json);
    let s = summary_of(&lines);
    let b = busy(s);
    let read = b
        .iter()
        .find(|p| p.name == "read")
        .unwrap_or_else(|| panic!("no read in progress: {:?}", s.in_progress));
    assert!(read.began_before_trace, "{read:?}");
    assert_eq!(read.ts_ns, 0, "{read:?}");
    assert!(
        read.elapsed_ns >= 900_000_000,
        "at least the trace: {read:?}"
    );
    assert_eq!(read.state, "blocked", "{read:?}");
    assert_eq!(read.cause.as_deref(), Some("pipe"), "{read:?}");
    assert_eq!(
        read.detail.as_deref(),
        Some(format!("fd {} {fifo_s}", read.args[0]).as_str()),
        "{read:?}"
    );
    assert!(
        run.stdout.contains(">1."),
        "shown as a lower bound: {}",
        run.stdout
    );
}

#[test]
fn a_process_that_finishes_leaves_nothing_in_progress() {
    if !require_root("a_process_that_finishes_leaves_nothing_in_progress") {
        return;
    }
    let bin = workload("exact").display().to_string();
    let (run, lines) = trace_command(
        "stuck-none",
        &[],
        &[&bin, "-n", "100"],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let s = summary_of(&lines);
    assert!(s.in_progress.is_empty(), "{:?}", s.in_progress);
    assert!(!run.stdout.contains("in progress when tracing ended"));
}

#[test]
fn a_followed_child_is_looked_at_and_one_not_followed_is_not() {
    if !require_root("a_followed_child_is_looked_at_and_one_not_followed_is_not") {
        return;
    }
    let dir = scratch("stuck-children");
    let fifo = mkfifo(&dir.join("wait.fifo"));
    // The shell waits on the FIFO; its child sleeps (a length no other test uses, to find
    // and stop it after; its output away from the test's pipe, which it would hold open).
    let script = format!("sleep 30.4242 >/dev/null 2>&1 & exec 3<>{fifo}; read -u 3 x");
    for follow in [true, false] {
        let opts: &[&str] = if follow {
            &["--duration", "1.5"]
        } else {
            &["--duration", "1.5", "--no-follow"]
        };
        let (run, lines) = trace_command(
            if follow {
                "children-followed"
            } else {
                "children-not-followed"
            },
            opts,
            &["bash", "-c", &script],
            Duration::from_secs(60),
        );
        let _ = std::process::Command::new("pkill")
            .args(["-f", "sleep 30.4242"])
            .status();
        let Some(Line::Header(h)) = lines.first() else {
            panic!("no header: {}", run.stderr)
        };
        let s = summary_of(&lines);
        let shell = s.in_progress.iter().find(|p| p.pid == h.target.pid);
        assert_eq!(
            shell.map(|p| (p.name.as_str(), p.cause.as_deref())),
            Some(("read", Some("pipe"))),
            "{:?}",
            s.in_progress
        );
        let child: Vec<_> = s
            .in_progress
            .iter()
            .filter(|p| p.pid != h.target.pid)
            .collect();
        if follow {
            assert!(
                child
                    .iter()
                    .any(|p| p.name == "clock_nanosleep" && p.cause.as_deref() == Some("sleep")),
                "the followed child's sleep: {:?}",
                s.in_progress
            );
        } else {
            assert!(
                child.is_empty(),
                "a child not traced is not looked at: {child:?}"
            );
        }
    }
}
