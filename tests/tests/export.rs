//! Exports and replay: a trace written by gotrace is read back by `gotrace report` (which
//! needs no root) and says what gotrace said live; traces stopped by SIGTERM end with
//! their summary, traces of a killed gotrace can still be read; the Perfetto timeline
//! shows the slow calls of a known workload on the right thread; output files are created
//! safely. Root tests trace real Go programs (tests/workloads/exact).
use std::{
    io::BufRead,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use gotrace_tests::{
    gotrace, gotrace_bin, read_trace, require_root, scratch, signal, sleep_retries, summary_of,
    wait_for_line, workload, Attached, Line, Run,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

/// The exact workload's defaults: 5 clock_nanosleep calls of 20 ms on one goroutine.
const SLEEPS: usize = 5;
const SLEEP_US: f64 = 20_000.0;

/// The summary gotrace printed live: from its first line to the end of stdout (the
/// launched workload's own output comes first).
fn summary_part(stdout: &str) -> &str {
    let at = stdout
        .match_indices("gotrace: pid ")
        .find(|(i, _)| *i == 0 || stdout.as_bytes()[i - 1] == b'\n')
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    &stdout[at..]
}

fn report(args: &[&str]) -> Run {
    let mut full = vec!["report"];
    full.extend_from_slice(args);
    gotrace(&full, T)
}

/// Exactly one line on stderr, equal to `want`, and exit `code`.
fn assert_one_line(run: &Run, code: i32, want: &str) {
    assert_eq!(
        run.stderr,
        format!("{want}\n"),
        "stderr (exit {})",
        run.code()
    );
    assert_eq!(run.code(), code, "exit code; stderr: {}", run.stderr);
}

/// Traces the exact workload launched with `args`; returns gotrace's run and the trace.
fn trace_exact(name: &str, extra: &[&str], args: &[&str]) -> (Run, PathBuf) {
    let dir = scratch(name);
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let exact = workload("exact").display().to_string();
    let mut full = vec!["--no-tui", "--json", &json_s];
    full.extend_from_slice(extra);
    full.push("--");
    full.push(&exact);
    full.extend_from_slice(args);
    let run = gotrace(&full, T);
    assert_eq!(
        run.code(),
        0,
        "gotrace failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    (run, json)
}

#[test]
fn report_prints_what_gotrace_printed_live() {
    if !require_root("report_prints_what_gotrace_printed_live") {
        return;
    }
    let (live, json) = trace_exact("report-live", &[], &[]);
    let path = json.display().to_string();
    let run = report(&[&path]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""), "report failed");
    assert_eq!(
        run.stdout,
        summary_part(&live.stdout),
        "report differs from the live summary"
    );

    // --json gives the summary line as written.
    let run = report(&["--json", &path]);
    assert_eq!(
        (run.code(), run.stderr.as_str()),
        (0, ""),
        "report --json failed"
    );
    let text = std::fs::read_to_string(&json).expect("read trace");
    let last = text.lines().last().expect("a last line");
    assert_eq!(run.stdout, format!("{last}\n"));
    let back = gotrace_tests::schema::parse_strict(run.stdout.trim_end()).expect("a typed line");
    assert!(matches!(back, Line::Summary(_)), "{back:?}");
}

/// A trace of format 1 from a later gotrace, with fields this one does not know in its
/// header, an event line and its summary (at its top and nested), reads as it was
/// written; the same trace marked format 2 is refused in one line.
#[test]
fn report_reads_fields_it_does_not_know_and_refuses_another_format() {
    if !require_root("report_reads_fields_it_does_not_know_and_refuses_another_format") {
        return;
    }
    let (live, json) = trace_exact("report-newer", &[], &[]);
    let text = std::fs::read_to_string(&json).expect("read trace");
    let add = |line: &str, at: &str| -> String {
        assert!(line.contains(at), "no {at} in {line}");
        line.replacen(at, &format!("{at}\"added_later\":{{\"n\":[1,2]}},"), 1)
    };
    let mut syscall_lines = 0;
    let newer: Vec<String> = text
        .lines()
        .map(
            |l| match serde_json::from_str::<Value>(l).expect("JSON")["type"].as_str() {
                Some("header") => add(l, "{\"type\":\"header\","),
                Some("syscall") => {
                    syscall_lines += 1;
                    add(l, "{\"type\":\"syscall\",")
                }
                Some("summary") => add(&add(l, "{\"type\":\"summary\","), "\"poller\":{"),
                _ => l.to_string(),
            },
        )
        .collect();
    assert!(
        syscall_lines > 0,
        "the exact workload's sleeps are streamed"
    );
    let newer_path = json.with_file_name("newer.ndjson");
    std::fs::write(&newer_path, newer.join("\n") + "\n").expect("write");
    let path = newer_path.display().to_string();
    let run = report(&[&path]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""), "report failed");
    assert_eq!(
        run.stdout,
        summary_part(&live.stdout),
        "report differs from the live summary"
    );

    let v2 = json.with_file_name("format-2.ndjson");
    let v2_text = newer
        .join("\n")
        .replacen("\"format\":1,", "\"format\":2,", 1);
    std::fs::write(&v2, v2_text + "\n").expect("write");
    let v2 = v2.display().to_string();
    let run = report(&[&v2]);
    assert_one_line(
        &run,
        1,
        &format!("gotrace: {v2} uses trace format 2; this gotrace reads format 1: upgrade gotrace"),
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn report_compares_two_traces() {
    if !require_root("report_compares_two_traces") {
        return;
    }
    let (_, a) = trace_exact("compare-a", &[], &[]);
    let (_, b) = trace_exact("compare-b", &[], &["-sleeps=3", "-n=10000", "-enoent=2"]);
    let run = report(&[&a.display().to_string(), &b.display().to_string()]);
    assert_eq!(
        (run.code(), run.stderr.as_str()),
        (0, ""),
        "compare failed:\n{}",
        run.stdout
    );
    let row = |name: &str| -> Vec<&str> {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in:\n{}", run.stdout))
            .split_whitespace()
            .collect()
    };
    assert_eq!(
        row("clock_nanosleep")[1..4],
        ["5", "3", "-2"],
        "{}",
        run.stdout
    );
    assert_eq!(
        row("getppid")[1..4],
        ["100,000", "40,000", "-60,000"],
        "{}",
        run.stdout
    );
    assert!(
        row("getppid")[10].starts_with('-') && row("getppid")[10].ends_with('%'),
        "{}",
        run.stdout
    );
    assert_eq!(row("open")[1..4], ["7", "2", "-5"], "{}", run.stdout);
    assert!(run.stdout.contains("where the time went"), "{}", run.stdout);
    assert!(
        row("sleep").last() == Some(&"pp"),
        "per-cause share deltas: {}",
        run.stdout
    );
}

/// Starts the exact workload waiting for SIGUSR1, with -linger: it keeps running after
/// its work. Returns it and its stdout once it said "ready".
fn start_lingering_exact() -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(workload("exact"))
        .args(["-wait-signal", "-linger"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start exact");
    let out = child.stdout.take().expect("stdout");
    let (reader, _) = wait_for_line(out, "ready", Duration::from_secs(20));
    (child, reader)
}

/// Attaches gotrace (with `extra` options) to a lingering exact workload and lets it do
/// its work; returns both, the workload still running.
fn attach_and_work(json: &Path, extra: &[&str]) -> (std::process::Child, Attached) {
    let (target, mut out) = start_lingering_exact();
    let pid = target.id().to_string();
    let json_s = json.display().to_string();
    let mut args = vec!["--no-tui", "--json", &json_s, "--pid", &pid];
    args.extend_from_slice(extra);
    let g = Attached::start(&args);
    signal(target.id(), libc::SIGUSR1);
    let mut line = String::new();
    out.read_line(&mut line).expect("read done");
    assert!(line.starts_with("done"), "{line}");
    (target, g)
}

#[test]
fn sigterm_mid_trace_ends_the_file_with_its_summary() {
    if !require_root("sigterm_mid_trace_ends_the_file_with_its_summary") {
        return;
    }
    let dir = scratch("export-sigterm");
    let json = dir.join("trace.ndjson");
    let (mut target, g) = attach_and_work(&json, &[]);
    // The target still runs: gotrace is stopped in the middle of its trace.
    signal(g.child.id(), libc::SIGTERM);
    let live = g.finish(T);
    let _ = target.kill();
    let _ = target.wait();
    assert_eq!(live.code(), 0, "gotrace after SIGTERM: {}", live.stderr);
    let lines = read_trace(&json);
    let s = summary_of(&lines);
    assert_eq!(s.target_exit, None, "the target was still running");
    let run = report(&[&json.display().to_string()]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""));
    assert_eq!(run.stdout, summary_part(&live.stdout));
}

#[test]
fn sigkill_leaves_a_trace_report_can_read() {
    if !require_root("sigkill_leaves_a_trace_report_can_read") {
        return;
    }
    let dir = scratch("export-sigkill");
    let json = dir.join("trace.ndjson");
    let (mut target, mut g) = attach_and_work(&json, &[]);
    // Killed once the workload's slow sleeps have reached the file.
    gotrace_tests::wait_until("the sleeps in the trace", Duration::from_secs(30), || {
        std::fs::read_to_string(&json)
            .is_ok_and(|t| t.matches("\"name\":\"clock_nanosleep\"").count() >= SLEEPS)
    });
    signal(g.child.id(), libc::SIGKILL);
    let _ = g.child.wait();
    let _ = target.kill();
    let _ = target.wait();

    // Every line but at most the last one is whole; there is no summary.
    let text = std::fs::read_to_string(&json).expect("read trace");
    let lines: Vec<&str> = text.lines().collect();
    let whole = if text.ends_with('\n') {
        lines.len()
    } else {
        lines.len() - 1
    };
    let mut streamed = 0;
    for (i, l) in lines[..whole].iter().enumerate() {
        let line: Line = gotrace_tests::schema::parse_strict(l)
            .unwrap_or_else(|e| panic!("line {}: {e}\n{l}", i + 1));
        assert!(
            !matches!(line, Line::Summary(_)),
            "a killed gotrace wrote no summary"
        );
        if matches!(&line, Line::Syscall(c) if c.name == "clock_nanosleep") {
            streamed += 1;
        }
    }
    let Ok(Line::Header(h)) = gotrace_tests::schema::parse_strict(lines[0]) else {
        panic!("no header: {}", lines[0])
    };

    // Documented: report shows what the event lines say, and exits 1 saying the summary
    // is missing.
    let path = json.display().to_string();
    let run = report(&[&path]);
    assert_one_line(
        &run,
        1,
        &format!("gotrace: {path} has no summary (the trace was cut short): shown is what its event lines say"),
    );
    assert!(
        run.stdout
            .starts_with(&format!("gotrace: pid {} (", h.target.pid)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("no summary"), "{}", run.stdout);
    let sleeps: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("clock_nanosleep "))
        .unwrap_or_else(|| panic!("no clock_nanosleep row:\n{}", run.stdout))
        .split_whitespace()
        .collect();
    // As many as the file streamed: SLEEPS, and one more per sleep a signal cut short
    // (the workload resumes it, a call of its own), which its output says only at the end.
    assert!(streamed >= SLEEPS, "{streamed} sleeps streamed");
    assert_eq!(
        sleeps[1],
        streamed.to_string(),
        "the streamed sleeps: {sleeps:?}"
    );
    assert_one_line(
        &report(&["--json", &path]),
        1,
        &format!(
            "gotrace: {path} has no summary (the trace was cut short): nothing to print as JSON"
        ),
    );

    // Cut inside a line, as a kill while writing leaves it: the whole lines are read.
    let cut = dir.join("cut.ndjson");
    std::fs::write(&cut, &text[..text.len() - 10]).expect("write");
    let cut_s = cut.display().to_string();
    let run = report(&[&cut_s]);
    assert_one_line(
        &run,
        1,
        &format!("gotrace: {cut_s} has no summary (the trace was cut short, and its last line is incomplete): shown is what its event lines say"),
    );
}

/// The `X` events named `name` in a Perfetto document.
fn slices<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
    doc["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == name)
        .collect()
}

#[test]
fn perfetto_shows_slow_calls_on_their_thread() {
    if !require_root("perfetto_shows_slow_calls_on_their_thread") {
        return;
    }
    let dir = scratch("perfetto");
    let timeline = dir.join("trace.json");
    let (run, json) = trace_exact(
        "perfetto-ndjson",
        &["--perfetto", &timeline.display().to_string()],
        &[],
    );
    let mode = std::fs::metadata(&timeline)
        .expect("timeline written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let doc: Value = serde_json::from_slice(&std::fs::read(&timeline).expect("read"))
        .expect("the timeline is valid JSON");
    assert_eq!(doc["displayTimeUnit"], "ms");

    let lines = read_trace(&json);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("no header")
    };
    let pid = u64::from(h.target.pid);
    assert_eq!(doc["metadata"]["target_pid"].as_u64(), Some(pid));
    let streamed: Vec<_> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c) if c.name == "clock_nanosleep" => Some(c),
            _ => None,
        })
        .collect();
    // A sleep a signal cut short is two calls (the workload says how many were): each
    // part is streamed if it is over the slow threshold.
    let retries = sleep_retries(&run.stdout) as usize;
    assert!(
        (SLEEPS..=SLEEPS + retries).contains(&streamed.len()),
        "clock_nanosleep lines in the NDJSON: {} ({retries} sleeps cut short)",
        streamed.len()
    );

    let sleeps = slices(&doc, "clock_nanosleep");
    assert_eq!(sleeps.len(), streamed.len(), "{sleeps:?}");
    for s in &sleeps {
        let dur = s["dur"].as_f64().expect("dur");
        let least = if retries == 0 { SLEEP_US } else { 1_000.0 };
        assert!(
            dur >= least,
            "a 20 ms sleep lasts {dur} µs ({retries} cut short)"
        );
        assert_eq!(s["pid"].as_u64(), Some(pid));
        // A sleep is filed under sleep; one preempted before it slept and left runnable
        // until its timer fired (a loaded machine) is filed under the scheduler.
        let part = |k: &str| s["args"][k].as_u64().expect("split in args");
        let want = if part("blocked_ns") >= part("runq_ns") {
            "sleep"
        } else {
            "scheduler"
        };
        assert_eq!(s["args"]["cause"], want, "{s}");
        assert_eq!(s["args"]["args"][0], "0x1", "CLOCK_MONOTONIC");
        // The same call as an NDJSON line: same thread, same start, same length.
        let ts = s["ts"].as_f64().expect("ts");
        let same = streamed
            .iter()
            .find(|c| (c.ts_ns as f64 / 1e3 - ts).abs() < 0.01)
            .unwrap_or_else(|| panic!("no NDJSON line starts at {ts} µs"));
        assert_eq!(s["tid"].as_u64(), Some(u64::from(same.tid)), "{s}");
        assert!((same.duration_ns as f64 / 1e3 - dur).abs() < 0.01, "{s}");
    }
    let events = doc["traceEvents"].as_array().expect("array");
    assert!(
        events.iter().any(|e| e["ph"] == "M"
            && e["name"] == "process_name"
            && e["pid"].as_u64() == Some(pid)),
        "the target's track is named"
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "C" && e["name"] == "run-queue" && e["pid"].as_u64() == Some(pid)),
        "a run-queue counter track"
    );
    assert!(
        events.iter().any(|e| e["ph"] == "i"
            && e["name"] == "exit: code 0"
            && e["pid"].as_u64() == Some(pid)),
        "the target's exit"
    );
}

#[test]
fn perfetto_file_is_created_safely() {
    if !require_root("perfetto_file_is_created_safely") {
        return;
    }
    let dir = scratch("perfetto-safety");
    let me = std::process::id().to_string();
    let kept = dir.join("kept.json");
    std::fs::write(&kept, "keep me").expect("write");
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&kept, &link).expect("symlink");
    let l = link.display().to_string();
    assert_one_line(
        &gotrace(
            &[
                "--no-tui",
                "--duration",
                "5s",
                "--force",
                "--perfetto",
                &l,
                "--pid",
                &me,
            ],
            T,
        ),
        1,
        &format!("gotrace: {l} is a symlink: refusing to write through it"),
    );
    let k = kept.display().to_string();
    assert_one_line(
        &gotrace(
            &[
                "--no-tui",
                "--duration",
                "5s",
                "--perfetto",
                &k,
                "--pid",
                &me,
            ],
            T,
        ),
        1,
        &format!("gotrace: {k} already exists (use --force to overwrite it)"),
    );
    assert_eq!(
        std::fs::read_to_string(&kept).expect("read"),
        "keep me",
        "an existing file was touched"
    );
    // With --force it is replaced (and a regular file stays one).
    let run = gotrace(&["--no-tui", "--force", "--perfetto", &k, "--", "true"], T);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&kept).expect("read")).expect("valid JSON");
    assert!(doc["traceEvents"].is_array());
}

fn unprivileged_dir() -> PathBuf {
    std::env::temp_dir().join(format!("gotrace-report-unpriv-{}", std::process::id()))
}

/// gotrace where an unprivileged user can run it, and a copy of `file` it can read.
fn unprivileged_copy(file: &Path) -> (String, String) {
    let dir = unprivileged_dir();
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let copy = |from: &Path, name: &str, mode: u32| {
        let to = dir.join(name);
        std::fs::copy(from, &to).expect("copy");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).expect("chmod");
        to.display().to_string()
    };
    (
        copy(&gotrace_bin(), "gotrace", 0o755),
        copy(file, "trace.ndjson", 0o644),
    )
}

fn fixture(name: &str) -> PathBuf {
    gotrace_tests::workspace().join("tests/fixtures").join(name)
}

#[test]
fn report_needs_no_root() {
    let fixture = fixture("exact-a.ndjson");
    let lines = read_trace(&fixture);
    let (Some(Line::Header(h)), Some(Line::Summary(s))) = (lines.first(), lines.last()) else {
        panic!("the fixture is a whole trace")
    };
    let want = tracer::export::text::render(h, s);
    // SAFETY: geteuid has no preconditions.
    let run: Run = if unsafe { libc::geteuid() } == 0 {
        // As nobody: no capabilities, no preflight.
        let (bin, trace) = unprivileged_copy(&fixture);
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                &bin,
                "report",
                &trace,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run setpriv")
            .into()
    } else {
        report(&[&fixture.display().to_string()])
    };
    let _ = std::fs::remove_dir_all(unprivileged_dir());
    assert_eq!(
        (run.code(), run.stderr.as_str()),
        (0, ""),
        "report as an ordinary user"
    );
    assert_eq!(run.stdout, want);
}

#[test]
fn report_refuses_bad_input_in_one_line() {
    let dir = scratch("report-bad-input");
    let write = |name: &str, content: &str| {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        p.display().to_string()
    };
    let missing = dir.join("missing.ndjson").display().to_string();
    assert_one_line(
        &report(&[&missing]),
        1,
        &format!("gotrace: cannot read {missing}: No such file or directory"),
    );
    let text = write("notes.txt", "hello world\n");
    assert_one_line(
        &report(&[&text]),
        1,
        &format!(
            "gotrace: {text} is not a gotrace trace: its first line is not JSON (expected value)"
        ),
    );
    let full = std::fs::read_to_string(fixture("exact-a.ndjson")).expect("fixture");
    let newer = write(
        "newer.ndjson",
        &full.replacen("\"format\":1,", "\"format\":2,", 1),
    );
    assert_one_line(
        &report(&[&newer]),
        1,
        &format!(
            "gotrace: {newer} uses trace format 2; this gotrace reads format 1: upgrade gotrace"
        ),
    );
    let fixture_b = fixture("exact-b.ndjson").display().to_string();
    assert_one_line(
        &report(&[&fixture_b, &newer]),
        1,
        &format!(
            "gotrace: {newer} uses trace format 2; this gotrace reads format 1: upgrade gotrace"
        ),
    );
    // Usage errors exit 2.
    for args in [
        &[][..],
        &["a", "b", "c"][..],
        &["--json", "a", "b"][..],
        &["--pid", "1", "a"][..],
    ] {
        let run = report(args);
        assert_eq!(
            (run.code(), run.stderr.lines().count()),
            (2, 1),
            "report {args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
}
