//! Go code attribution: each slow or stuck call names the goroutine that made it and its
//! Go stack (functions, files, lines, inlined calls as frames of their own), as the
//! program's own runtime sees them; the runtime's waits on g0 are kept apart; and the
//! pprof profile opens in the real `go tool pprof`.
use std::{
    collections::HashMap,
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use gotrace_tests::{
    go_bin, go_toolchains, gotrace_cmd, in_syscall, mkfifo, read_trace, require_root,
    schema::Frame, schema::SyscallLine, scratch, summary_of, wait_until, wait_with_timeout,
    workload, workload_built, Killed, Line, Run,
};
use serde::Deserialize;

/// What the workload printed of itself just before a call, on the call's own line.
#[derive(Debug, Deserialize)]
struct Site {
    site: String,
    goid: u64,
    frames: Vec<Frame>,
}

/// The frames of a stack from its call site out (the Go plumbing under it dropped).
fn from_call_site(stack: &[Frame]) -> &[Frame] {
    let at = stack
        .iter()
        .position(|f| !tracer::stack::is_plumbing(&f.function))
        .unwrap_or(stack.len());
    &stack[at..]
}

/// Runs `gostacks 3` built as `bin` under gotrace; returns the run, the trace and what
/// the program said of its own calls.
fn trace_workers(name: &str, bin: &Path, extra: &[&str]) -> (Run, Vec<Line>, Vec<Site>) {
    let dir = scratch(name);
    let json = dir.join("trace.ndjson");
    let sites = dir.join("sites.json");
    let json_s = json.display().to_string();
    let mut args = vec!["--no-tui", "--json", &json_s, "--slow", "5ms"];
    args.extend_from_slice(extra);
    let bin_s = bin.display().to_string();
    args.extend(["--", &bin_s, "3"]);
    let child = gotrace_cmd(&args)
        .env("GOSTACKS_OUT", &sites)
        .spawn()
        .expect("spawn gotrace");
    let run = wait_with_timeout(child, Duration::from_secs(120));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = read_trace(&json);
    let sites: Vec<Site> = std::fs::read_to_string(&sites)
        .expect("the workload's sites")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a site line"))
        .collect();
    assert_eq!(sites.len(), 18, "3 workers × 3 rounds × 2 sites: {sites:?}");
    (run, lines, sites)
}

/// Every call the program reported is in the trace, made by the goroutine it said, with
/// the stack it saw from its call site out.
fn check_sites(what: &str, lines: &[Line], sites: &[Site], stderr: &str) {
    let calls: Vec<&SyscallLine> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c) => Some(c),
            _ => None,
        })
        .collect();
    let mut matched: HashMap<(u64, &str), usize> = HashMap::new();
    for site in sites {
        let syscall = match site.site.as_str() {
            "pause" => "nanosleep",
            "readSlow" => "read",
            other => panic!("unknown site {other}"),
        };
        let mine: Vec<&&SyscallLine> = calls
            .iter()
            .filter(|c| c.goid == Some(site.goid) && c.name == syscall)
            .collect();
        assert!(
            !mine.is_empty(),
            "{what}: no {syscall} line of goroutine {} (at least 15 ms each, over --slow 5ms); goroutines seen: {:?}\ngotrace's stderr:\n{stderr}",
            site.goid,
            calls.iter().map(|c| (c.name.as_str(), c.goid, c.by.as_deref())).collect::<Vec<_>>()
        );
        for c in &mine {
            assert_eq!(c.by.as_deref(), Some("goroutine"), "{what}: {c:?}");
            assert_eq!(
                from_call_site(&c.stack),
                site.frames.as_slice(),
                "{what}: goroutine {}'s {syscall}: gotrace's stack (left) against the program's own runtime.CallersFrames (right); whole stack: {:#?}\ngotrace's stderr:\n{stderr}",
                site.goid,
                c.stack
            );
        }
        *matched.entry((site.goid, syscall)).or_default() += 1;
    }
    // Three goroutines, each with both sites.
    assert_eq!(matched.len(), 6, "{what}: {matched:?}");
}

/// The workload's own frames are named as it names them, whichever way it was built.
#[test]
fn slow_calls_name_their_goroutine_and_go_stack() {
    if !require_root("slow_calls_name_their_goroutine_and_go_stack") {
        return;
    }
    let go = go_bin();
    for (tag, flags) in [
        ("", &[][..]),
        ("-stripped", &["-ldflags=-s -w"][..]),
        ("-pie", &["-buildmode=pie"][..]),
    ] {
        let bin = workload_built("gostacks", &go, flags, tag);
        let (run, lines, sites) = trace_workers(&format!("gocode{tag}"), &bin, &[]);
        check_sites(&format!("gostacks{tag}"), &lines, &sites, &run.stderr);
        // The runtime's own waits (sysmon's sleeps, idle Ms) are said to be its own.
        let runtime_calls = lines
            .iter()
            .filter(|l| matches!(l, Line::Syscall(c) if c.by.as_deref() == Some("runtime")))
            .count();
        let s = summary_of(&lines);
        // The call-site table has both of the program's sites, with their goroutines.
        for (function, syscall) in [("main.pause", "nanosleep"), ("main.readSlow", "read")] {
            let row = s
                .call_sites
                .iter()
                .find(|r| r.function == function)
                .unwrap_or_else(|| {
                    panic!("gostacks{tag}: no {function} call site: {:?}", s.call_sites)
                });
            assert_eq!(row.goroutines, 3, "gostacks{tag}: {row:?}");
            assert!(row.calls >= 3, "gostacks{tag}: {row:?}");
            assert_eq!(row.syscalls[0].name, syscall, "{row:?}");
            assert!(row.file.ends_with("gostacks/main.go"), "{row:?}");
            assert!(
                row.stack.iter().any(|f| f.function == "main.worker"),
                "{row:?}"
            );
        }
        assert!(
            run.stdout.contains("Go code: call sites")
                && run.stdout.contains("main.pause (main.go:"),
            "gostacks{tag}: the text summary has no call-site table:\n{}",
            run.stdout
        );
        let slowest = s
            .slowest
            .iter()
            .find(|c| c.by.as_deref() == Some("goroutine"));
        assert!(slowest.is_some() || runtime_calls > 0, "{:?}", s.slowest);
    }
}

/// `--no-stacks` takes no stacks; goroutine ids still come.
#[test]
fn no_stacks_still_names_goroutines() {
    if !require_root("no_stacks_still_names_goroutines") {
        return;
    }
    let bin = workload("gostacks");
    // Stacks off, or taken only for calls longer than any of the workload's.
    for (name, flags) in [
        ("gocode-nostacks", &["--no-stacks"][..]),
        ("gocode-stackmin", &["--stack-min", "1h"][..]),
    ] {
        let (_, lines, sites) = trace_workers(name, &bin, flags);
        let goids: Vec<u64> = sites.iter().map(|s| s.goid).collect();
        let mut named = 0;
        for l in &lines {
            if let Line::Syscall(c) = l {
                assert!(c.stack.is_empty(), "{flags:?}: {c:?}");
                if let Some(g) = c.goid {
                    if goids.contains(&g) {
                        named += 1;
                    }
                }
            }
        }
        assert!(
            named >= 6,
            "{flags:?}: {named} calls named with the workers' goroutines"
        );
        assert!(summary_of(&lines).call_sites.is_empty(), "{flags:?}");
    }
}

/// The goroutine layout and the .gopclntab reader hold for every Go version gotrace
/// claims to know, built by that version's own toolchain.
#[test]
fn every_known_go_version_is_read() {
    if !require_root("every_known_go_version_is_read") {
        return;
    }
    let toolchains = go_toolchains();
    let versions: Vec<&str> = toolchains.iter().map(|(v, _)| v.as_str()).collect();
    for want in ["go1.22", "go1.24", "go1.25", "go1.26", "go1.27"] {
        assert!(
            versions.iter().any(|v| v.starts_with(&format!("{want}."))),
            "NO {want} TOOLCHAIN among {versions:?}: `cargo xtask setup` installs them side by side"
        );
    }
    for (version, go) in &toolchains {
        let bin = workload_built("gostacks", go, &[], &format!("-{version}"));
        let (run, lines, sites) = trace_workers(&format!("gocode-{version}"), &bin, &[]);
        assert!(
            !run.stderr.contains("no goroutine ids"),
            "{version}: {}",
            run.stderr
        );
        check_sites(version, &lines, &sites, &run.stderr);
    }
}

/// `gostacks stuck FIFO`, started by `start`: waits until its main goroutine is in the
/// read, then asks it (SIGUSR1) for its own traceback of that goroutine: (goid, frames
/// from the call site out), from the runtime's text ("main.readFd(...)" marks an
/// inlined call).
fn own_traceback(pid: u32, out: &Path) -> (u64, Vec<Frame>) {
    // The main goroutine's thread (not always the main thread: the scheduler may have
    // moved it) blocks in read(2), the only read the program makes.
    wait_until(
        "the workload blocks in read",
        Duration::from_secs(30),
        || in_syscall(pid, 0),
    );
    // SAFETY: kill(2) with a live child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let mut text = String::new();
    wait_until("the workload's traceback", Duration::from_secs(30), || {
        text = std::fs::read_to_string(out).unwrap_or_default();
        text.contains("traceback")
    });
    let v: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    let tb = v["traceback"].as_str().expect("traceback").to_string();
    let block = tb
        .split("\n\n")
        .find(|b| b.contains("main.blockInRead"))
        .unwrap_or_else(|| panic!("no goroutine in main.blockInRead:\n{tb}"));
    let mut lines = block.lines();
    let head = lines.next().expect("goroutine line");
    let goid: u64 = head
        .split_whitespace()
        .nth(1)
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    let mut frames = Vec::new();
    let rest: Vec<&str> = lines.collect();
    for pair in rest.chunks(2) {
        let [func, at] = pair else { break };
        if func.starts_with("created by") {
            break;
        }
        let inlined = func.ends_with("(...)");
        let function = func[..func.rfind('(').unwrap_or(func.len())].to_string();
        let at = at.trim();
        let at = at.split(" +0x").next().unwrap_or(at);
        let (file, line) = at.rsplit_once(':').expect("file:line");
        frames.push(Frame {
            function,
            file: file.to_string(),
            line: line.parse().expect("line"),
            inlined,
        });
    }
    let frames = from_call_site(&frames).to_vec();
    assert!(
        frames
            .first()
            .is_some_and(|f| f.function == "main.readFd" && f.inlined),
        "the runtime's traceback has no inlined main.readFd: {frames:?}\n{tb}"
    );
    (goid, frames)
}

/// The frames gotrace shows must begin with the runtime's own (the traceback stops at
/// main.main; gotrace goes on into runtime.main).
fn assert_stack_starts_with(what: &str, gotrace: &[Frame], own: &[Frame]) {
    let from = from_call_site(gotrace);
    assert!(
        from.len() >= own.len() && &from[..own.len()] == own,
        "{what}: gotrace's stack {from:#?}\nagainst the runtime's traceback {own:#?}"
    );
}

/// A goroutine stuck in a read is named with its function, its inlined call and its
/// goroutine while traced; once released, its slow read carries the same stack.
#[test]
fn a_stuck_read_names_its_goroutine_and_stack() {
    if !require_root("a_stuck_read_names_its_goroutine_and_stack") {
        return;
    }
    let dir = scratch("gocode-stuck");
    let fifo = mkfifo(&dir.join("in.fifo"));
    let out = dir.join("own.json");
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let bin = workload("gostacks").display().to_string();
    let child = gotrace_cmd(&[
        "--no-tui", "--json", &json_s, "--slow", "5ms", "--", &bin, "stuck", &fifo,
    ])
    .env("GOSTACKS_OUT", &out)
    .spawn()
    .expect("spawn gotrace");
    let gotrace_pid = child.id();
    // A failed wait below must not leave gotrace and its command running.
    let mut guard = StopOnPanic(vec![gotrace_pid]);
    let pid = child_of(gotrace_pid);
    guard.0.push(pid);
    let (goid, own) = own_traceback(pid, &out);
    // Release it: the read returns, slow, with its stack; the program exits.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .and_then(|mut f| f.write_all(b"x"))
        .expect("write the fifo");
    let run = wait_with_timeout(child, Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = read_trace(&json);
    let read = lines
        .iter()
        .find_map(|l| match l {
            Line::Syscall(c) if c.name == "read" && c.goid == Some(goid) => Some(c),
            _ => None,
        })
        .unwrap_or_else(|| {
            let reads: Vec<String> = lines
                .iter()
                .filter_map(|l| match l {
                    Line::Syscall(c) if c.name == "read" => {
                        Some(format!("goid {:?} by {:?} ret {}", c.goid, c.by, c.ret))
                    }
                    _ => None,
                })
                .collect();
            panic!(
                "no read line of goroutine {goid}; the reads: {reads:?}\n{}",
                run.stderr
            )
        });
    assert_stack_starts_with("the released read", &read.stack, &own);
    assert!(
        run.stdout
            .contains(&format!("goroutine {goid} at main.readFd (main.go:")),
        "the slowest calls do not name the goroutine and the call site:\n{}",
        run.stdout
    );
}

/// A read stuck before gotrace attached is named with its function (its goroutine is
/// not known: it did not block while traced).
#[test]
fn a_read_stuck_before_attach_is_named_with_its_function() {
    if !require_root("a_read_stuck_before_attach_is_named_with_its_function") {
        return;
    }
    let dir = scratch("gocode-attach");
    let fifo = mkfifo(&dir.join("in.fifo"));
    let out = dir.join("own.json");
    let target = Killed(
        Command::new(workload("gostacks"))
            .args(["stuck", &fifo])
            .env("GOSTACKS_OUT", &out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the workload"),
    );
    let pid = target.0.id();
    let (_, own) = own_traceback(pid, &out);
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let pid_s = pid.to_string();
    let child = gotrace_cmd(&[
        "--no-tui",
        "--json",
        &json_s,
        "--pid",
        &pid_s,
        "--duration",
        "2",
    ])
    .spawn()
    .expect("spawn gotrace");
    let run = wait_with_timeout(child, Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary_of(&read_trace(&json)).clone();
    let read = s
        .in_progress
        .iter()
        .find(|p| p.name == "read" && p.pid == pid)
        .unwrap_or_else(|| panic!("the read is not in progress: {:?}", s.in_progress));
    assert!(read.began_before_trace, "{read:?}");
    assert_stack_starts_with("the read stuck before attach", &read.stack, &own);
    assert!(
        run.stdout.contains("at main.readFd (main.go:"),
        "the summary does not name the stuck call's code:\n{}",
        run.stdout
    );
    drop(target);
}

/// Kills these processes if the test panics before it reaps them (gotrace first, which
/// on SIGTERM stops its command and exits with its summary).
struct StopOnPanic(Vec<u32>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for &pid in &self.0 {
                // SAFETY: kill(2) has no memory preconditions.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
        }
    }
}

/// The pid of gotrace's launched command (a child of `parent` running gostacks), once it
/// has exec'd.
fn child_of(parent: u32) -> u32 {
    let mut found = 0;
    wait_until(
        "gotrace launches the command",
        Duration::from_secs(30),
        || {
            found = std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .find(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    // "pid (comm) state ppid ...": the fields after the last ')'.
                    let ppid = stat
                        .rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                        .and_then(|p| p.parse::<u32>().ok());
                    ppid == Some(parent)
                        && std::fs::read_link(format!("/proc/{pid}/exe"))
                            .is_ok_and(|e| e.to_string_lossy().contains("gostacks"))
                })
                .unwrap_or(0);
            found != 0
        },
    );
    found
}

/// `go tool pprof` (the real one) reads the profile and charges the program's functions
/// their time, the inlined call as a frame of its own.
#[test]
fn the_pprof_profile_opens_in_go_tool_pprof() {
    if !require_root("the_pprof_profile_opens_in_go_tool_pprof") {
        return;
    }
    let dir = scratch("gocode-pprof");
    let profile = dir.join("trace.pb.gz");
    let profile_s = profile.display().to_string();
    let bin = workload("gostacks");
    let (_, lines, _) = trace_workers("gocode-pprof-run", &bin, &["--pprof", &profile_s]);
    let top = pprof(&dir, &["-top", "-sample_index=time", &profile_s]);
    let cum = |function: &str| -> f64 {
        let line = top
            .lines()
            .find(|l| l.trim_end().ends_with(function))
            .unwrap_or_else(|| panic!("{function} is not in pprof -top:\n{top}"));
        // flat flat% sum% cum cum% name
        let cum = line.split_whitespace().nth(3).expect("cum column");
        ms(cum)
    };
    // Three goroutines × three 20 ms sleeps, and three reads of at least 15 ms each.
    assert!(cum("main.pause") >= 150.0, "{top}");
    assert!(cum("main.readSlow") >= 100.0, "{top}");
    // The trace's own total for those calls is what pprof charges them.
    let traced_ms: f64 = lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c) if c.stack.iter().any(|f| f.function == "main.pause") => {
                Some(c.duration_ns as f64 / 1e6)
            }
            _ => None,
        })
        .sum();
    assert!(
        (cum("main.pause") - traced_ms).abs() <= traced_ms * 0.02 + 1.0,
        "pprof {} ms against the trace's {traced_ms} ms",
        cum("main.pause")
    );
    let tags = pprof(&dir, &["-tags", &profile_s]);
    assert!(
        tags.contains("nanosleep") && tags.contains("goid"),
        "{tags}"
    );
}

fn pprof(dir: &Path, args: &[&str]) -> String {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let out = Command::new(go_bin())
        .args(["tool", "pprof"])
        .args(args)
        .env("HOME", &home)
        .env("PPROF_TMPDIR", &home)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env(
            "GOCACHE",
            gotrace_tests::workspace().join("target/go-cache"),
        )
        .output()
        .expect("run go tool pprof");
    assert!(
        out.status.success(),
        "go tool pprof {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// "1.23s", "150ms", "980us" -> ms.
fn ms(v: &str) -> f64 {
    let (num, unit) = v
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| v.split_at(i))
        .unwrap_or((v, ""));
    let n: f64 = num.parse().unwrap_or_else(|_| panic!("{v}"));
    match unit {
        "s" => n * 1e3,
        "ms" => n,
        "us" | "µs" => n / 1e3,
        "ns" => n / 1e6,
        "min" => n * 60e3,
        "hrs" => n * 3600e3,
        _ => panic!("unit of {v}"),
    }
}

/// Traces bench_http's server for 4 s (with `extra` options) while a client sends it a
/// request every 20 ms: its NDJSON lines and gotrace's stdout.
fn trace_go_server(tag: &str, extra: &[&str]) -> (Vec<Line>, String) {
    let dir = scratch(tag);
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let bin = workload("bench_http").display().to_string();
    let mut args = vec!["--no-tui", "--json", &json_s, "--duration", "4"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", &bin, "-mode", "server"]);
    let mut child = gotrace_cmd(&args).spawn().expect("spawn gotrace");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut s);
        s
    });
    let (mut reader, seen) =
        gotrace_tests::wait_for_line(stdout, "listening=", Duration::from_secs(30));
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut s);
        s
    });
    let addr = seen
        .lines()
        .find_map(|l| l.strip_prefix("listening="))
        .expect("the server's address")
        .trim()
        .to_string();
    // A request every 20 ms until the trace ends: the netpoller's waits end and begin
    // again, as a lightly loaded server's do.
    let client = std::thread::spawn(move || {
        let mut served = 0;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            if let Ok(mut c) = std::net::TcpStream::connect(&addr) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                let mut body = Vec::new();
                if c.write_all(req.as_bytes()).is_ok()
                    && std::io::Read::read_to_end(&mut c, &mut body).is_ok()
                    && body.starts_with(b"HTTP/1.1 200")
                {
                    served += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    });
    let mut gotrace = Killed(child);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = gotrace.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gotrace did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let served = client.join().expect("client");
    assert!(served >= 10, "{served} requests served");
    assert!(
        matches!(status.code(), Some(0 | 124)),
        "{status}\n{stdout}\n{stderr}"
    );
    (read_trace(&json), stdout)
}

/// The runtime's waits for work on g0 that were spent asleep: its netpoller's blocking
/// polls, sysmon's timed sleeps.
fn runtime_idle_waits(lines: &[Line]) -> Vec<&SyscallLine> {
    lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c)
                if c.by.as_deref() == Some("runtime")
                    && matches!(c.name.as_str(), "epoll_pwait" | "epoll_wait" | "futex")
                    && c.blocked_ns >= c.duration_ns / 2 =>
            {
                Some(c)
            }
            _ => None,
        })
        .collect()
}

/// A Go server's threads wait in the kernel for the runtime (the netpoller, idle Ms
/// parked, sysmon): that is the runtime's time, kept out of the program's, and counted
/// but not streamed.
#[test]
fn a_go_servers_own_waits_are_runtime_time() {
    if !require_root("a_go_servers_own_waits_are_runtime_time") {
        return;
    }
    let (lines, stdout) = trace_go_server("gocode-server", &[]);
    let s = summary_of(&lines).clone();
    let runtime_ns: u64 = s.runtime_attribution.iter().map(|c| c.ns).sum();
    // Three seconds of a lightly loaded server: its netpoller waits for most of them.
    assert!(
        runtime_ns >= 1_000_000_000,
        "the runtime's own waits: {:?}; the program's: {:?}",
        s.runtime_attribution,
        s.attribution
    );
    assert!(
        s.runtime_attribution.iter().any(|c| c.cause == "netpoll"),
        "{:?}",
        s.runtime_attribution
    );
    let program_waits: u64 = s
        .attribution
        .iter()
        .filter(|c| c.cause == "netpoll" || c.cause == "idle")
        .map(|c| c.ns)
        .sum();
    assert!(
        program_waits < runtime_ns / 10,
        "netpoll and idle waits left in the program's time: {:?} (runtime's: {:?})",
        s.attribution,
        s.runtime_attribution
    );
    assert!(
        stdout.contains("the Go runtime's own waits on g0"),
        "{stdout}"
    );
    let streamed = runtime_idle_waits(&lines);
    assert!(
        streamed.is_empty(),
        "the runtime's idle waits are counted, not streamed (without --stream-idle): {streamed:#?}"
    );
}

/// `--stream-idle` streams them: each request ends a netpoll wait of up to 20 ms.
#[test]
fn stream_idle_streams_the_runtimes_idle_waits() {
    if !require_root("stream_idle_streams_the_runtimes_idle_waits") {
        return;
    }
    let (lines, _) = trace_go_server("gocode-server-idle", &["--stream-idle"]);
    let streamed = runtime_idle_waits(&lines);
    assert!(
        streamed.iter().any(|c| c.name != "futex"),
        "no netpoll wait of the runtime streamed with --stream-idle: {} idle waits streamed",
        streamed.len()
    );
}
