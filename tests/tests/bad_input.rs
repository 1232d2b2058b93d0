//! Bad input gets one clear line on stderr and a non-zero exit (2 for usage errors),
//! never a panic or a backtrace, and leaves no eBPF program behind.
use std::{
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use gotrace_tests::{
    assert_nothing_left_behind, gotrace, gotrace_bin, loaded_gotrace_programs, require_root,
    scratch, Run,
};

/// These tests count gotrace's programs in the kernel, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(30);

/// Exactly one line on stderr, equal to `want`; nothing on stdout; exit `code`.
fn assert_one_line(run: &Run, code: i32, want: &str) {
    assert_eq!(
        run.stderr,
        format!("{want}\n"),
        "stderr (exit {})",
        run.code()
    );
    assert_eq!(run.code(), code, "exit code; stderr: {}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("backtrace"));
}

#[test]
fn usage_errors_exit_2() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_one_line(
        &gotrace(&[], T),
        2,
        "gotrace: nothing to trace: give --pid PID or -- CMD [ARGS...]",
    );
    assert_one_line(
        &gotrace(&["--pid", "0"], T),
        2,
        "gotrace: invalid pid 0: must be a positive process id",
    );
    assert_one_line(
        &gotrace(&["--pid", "1", "--", "ls"], T),
        2,
        "gotrace: give either --pid PID or -- CMD, not both",
    );
    let run = gotrace(&["--pid", "abc"], T);
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("gotrace: invalid value 'abc' for '--pid <PID>'"),
        "{}",
        run.stderr
    );
    let run = gotrace(&["--bogus"], T);
    assert_eq!(
        (run.code(), run.stderr.lines().count()),
        (2, 1),
        "{}",
        run.stderr
    );
}

#[test]
fn no_such_pid() {
    if !require_root("no_such_pid") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Above the kernel's PID_MAX_LIMIT (2^22), so it can never exist.
    assert_one_line(
        &gotrace(&["--pid", "99999999"], T),
        1,
        "gotrace: no such process: 99999999",
    );
}

#[test]
fn a_metrics_address_in_use_is_one_line_and_nothing_loaded() {
    if !require_root("a_metrics_address_in_use_is_one_line_and_nothing_loaded") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = gotrace_tests::Killed(Command::new("sleep").arg("600").spawn().expect("sleep"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let pid = target.0.id().to_string();
    assert_one_line(
        &gotrace(&["--pid", &pid, "--no-tui", "--prometheus", &addr], T),
        1,
        &format!("gotrace: --prometheus: cannot listen on {addr}: Address already in use"),
    );
    assert_nothing_left_behind();
    assert_one_line(
        &gotrace(&["--pid", &pid, "--prometheus", "nowhere:80"], T),
        2,
        "gotrace: invalid value 'nowhere:80' for '--prometheus <ADDR>': 'nowhere:80' is not a listen address (try :9464, 127.0.0.1:9464 or [::1]:9464) (see gotrace --help)",
    );
}

#[test]
fn a_kernel_thread_is_refused_in_one_line() {
    if !require_root("a_kernel_thread_is_refused_in_one_line") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // pid 2 is kthreadd, the parent of every kernel thread.
    assert_one_line(
        &gotrace(&["--pid", "2", "--duration", "1"], T),
        1,
        "gotrace: process 2 (kthreadd) is a kernel thread: it makes no system calls to trace",
    );
    assert_nothing_left_behind();
}

#[test]
fn pid_that_exits_during_attach() {
    if !require_root("pid_that_exits_during_attach") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut short = Command::new("sleep").arg("0.3").spawn().expect("sleep");
    let pid = short.id().to_string();
    // --attach-delay widens the few-millisecond window between "the process is there"
    // and "the programs are attached and it is a target".
    let child =
        gotrace_tests::gotrace_cmd(&["--no-tui", "--attach-delay", "1500ms", "--pid", &pid])
            .spawn()
            .expect("spawn");
    // Positive control: while gotrace waits in the widened window its programs are
    // loaded, and the check below can see them.
    std::thread::sleep(Duration::from_millis(900));
    let loaded = loaded_gotrace_programs();
    assert!(
        loaded.len() >= 5,
        "gotrace's programs should be loaded now: {loaded:?}"
    );
    let run = gotrace_tests::wait_with_timeout(child, T);
    let _ = short.wait();
    assert_one_line(
        &run,
        1,
        &format!("gotrace: process {pid} exited during attach"),
    );
    assert_nothing_left_behind();
}

#[test]
fn a_failed_attach_leaves_no_output_file_behind() {
    if !require_root("a_failed_attach_leaves_no_output_file_behind") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = gotrace_tests::scratch("failed-attach");
    let (json, perfetto) = (dir.join("t.ndjson"), dir.join("t.json"));
    let (json_s, perfetto_s) = (json.display().to_string(), perfetto.display().to_string());
    // The target outlives gotrace's start (its files are made then), then exits in the
    // attach window --attach-delay holds open.
    let mut target = Command::new("sleep").arg("2").spawn().expect("sleep");
    let pid = target.id().to_string();
    let child = gotrace_tests::gotrace_cmd(&[
        "--no-tui",
        "--attach-delay",
        "6s",
        "--pid",
        &pid,
        "--json",
        &json_s,
        "--perfetto",
        &perfetto_s,
    ])
    .spawn()
    .expect("spawn");
    let run = gotrace_tests::wait_with_timeout(child, T);
    let _ = target.wait();
    assert_one_line(
        &run,
        1,
        &format!("gotrace: process {pid} exited during attach"),
    );
    assert!(!json.exists() && !perfetto.exists(), "files left behind");
    assert_nothing_left_behind();
}

#[test]
fn commands_that_cannot_run() {
    if !require_root("commands_that_cannot_run") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_one_line(
        &gotrace(&["--no-tui", "--", "no-such-command-gotrace"], T),
        1,
        "gotrace: cannot execute 'no-such-command-gotrace': command not found",
    );
    assert_one_line(
        &gotrace(&["--no-tui", "--", "/nonexistent/prog"], T),
        1,
        "gotrace: cannot execute '/nonexistent/prog': No such file or directory",
    );
    let dir = scratch("cannot-run");
    let plain = dir.join("plain");
    std::fs::write(&plain, "no execute bit").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let p = plain.display().to_string();
    assert_one_line(
        &gotrace(&["--no-tui", "--", &p], T),
        1,
        &format!("gotrace: cannot execute '{p}': Permission denied"),
    );
    // Executable but not a program: found, forked, and execve itself fails, after the
    // programs were loaded. They must be gone again.
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, [0u8, 1, 2, 3, 4, 5, 6, 7]).expect("write");
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let g = garbage.display().to_string();
    assert_one_line(
        &gotrace(&["--no-tui", "--", &g], T),
        1,
        &format!("gotrace: cannot execute '{g}': Exec format error"),
    );
    assert_nothing_left_behind();
}

/// Copies gotrace where an unprivileged user can run it.
fn world_executable_gotrace() -> String {
    let dir = std::env::temp_dir().join(format!("gotrace-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let bin = dir.join("gotrace");
    std::fs::copy(gotrace_bin(), &bin).expect("copy gotrace");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin.display().to_string()
}

fn run_as(prefix: &[&str], args: &[&str]) -> Run {
    let out = Command::new(prefix[0])
        .args(&prefix[1..])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    out.into()
}

#[test]
fn without_privileges() {
    if !require_root("without_privileges") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin = world_executable_gotrace();
    let me = std::process::id().to_string();
    // An ordinary user.
    let run = run_as(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &bin,
        ],
        &["--no-tui", "--pid", &me],
    );
    assert_one_line(
        &run,
        1,
        "gotrace: needs root to load eBPF programs (CAP_BPF and CAP_PERFMON missing): run it with sudo",
    );
    // root, but with the capabilities dropped (as in a restricted container).
    let run = run_as(
        &[
            "setpriv",
            "--bounding-set=-bpf,-perfmon,-sys_admin",
            "--inh-caps=-all",
            &bin,
        ],
        &["--no-tui", "--pid", &me],
    );
    assert_one_line(
        &run,
        1,
        "gotrace: running as root but without CAP_BPF and CAP_PERFMON (dropped from this process's capabilities): cannot load eBPF programs",
    );
}

#[test]
fn unwritable_json_path() {
    if !require_root("unwritable_json_path") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id().to_string();
    assert_one_line(
        &gotrace(
            &[
                "--no-tui",
                "--json",
                "/nonexistent-dir/t.ndjson",
                "--pid",
                &me,
            ],
            T,
        ),
        1,
        "gotrace: cannot write /nonexistent-dir/t.ndjson: No such file or directory",
    );
    assert_one_line(
        &gotrace(&["--no-tui", "--json", "/proc/version", "--pid", &me], T),
        1,
        "gotrace: /proc/version already exists (use --force to overwrite it)",
    );
    let dir = scratch("unwritable");
    let target = dir.join("real.ndjson");
    std::fs::write(&target, "keep me").expect("write");
    let link = dir.join("link.ndjson");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let l = link.display().to_string();
    assert_one_line(
        &gotrace(&["--no-tui", "--force", "--json", &l, "--pid", &me], T),
        1,
        &format!("gotrace: {l} is a symlink: refusing to write through it"),
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "keep me",
        "the symlink's target was touched"
    );
    assert_nothing_left_behind();
}

/// Processes whose argv holds `arg`.
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
        })
        .collect()
}

/// Waits (up to 10 s) until no process has `arg` in its argv.
fn assert_no_process_with_arg(arg: &str) {
    let start = std::time::Instant::now();
    loop {
        let left = processes_with_arg(arg);
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes left running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGINT, SIGTERM and SIGHUP at each moment of gotrace's start (at once, while its
/// programs are loaded but not yet attached, once tracing) end it on time with its
/// summary, leave no program in the kernel and no launched command behind.
#[test]
fn signals_at_any_moment_of_startup_end_gotrace_cleanly() {
    if !require_root("signals_at_any_moment_of_startup_end_gotrace_cleanly") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let arg = format!("{}", 900_000 + std::process::id() % 99_999);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // At once: before or while gotrace sets itself up.
        let child = gotrace_tests::gotrace_cmd(&["--no-tui", "--", "sleep", &arg])
            .spawn()
            .expect("spawn gotrace");
        gotrace_tests::signal(child.id(), sig);
        let run = gotrace_tests::wait_with_timeout(child, T);
        // Before its handlers are in place the signal's default action ends it, which
        // is all right: nothing is attached or launched yet.
        let by_the_signal = std::os::unix::process::ExitStatusExt::signal(&run.status) == Some(sig);
        // Once the command is launched, gotrace stops it and passes on 128 + the signal.
        assert!(
            run.code() == 0 || run.code() == 128 + sig || by_the_signal,
            "signal {sig} at once: {:?}\n{}",
            run.status,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_no_process_with_arg(&arg);
        // Also before the next part: the programs it counts must be the next gotrace's.
        assert_nothing_left_behind();

        // While attaching: the programs are loaded, --attach-delay holds the attach.
        let target = gotrace_tests::Killed(Command::new("sleep").arg(&arg).spawn().expect("sleep"));
        let target_pid = target.0.id().to_string();
        let child = gotrace_tests::gotrace_cmd(&[
            "--no-tui",
            "--attach-delay",
            "1500ms",
            "--pid",
            &target_pid,
        ])
        .spawn()
        .expect("spawn gotrace");
        // Its handlers are installed before its programs are loaded.
        let start = std::time::Instant::now();
        while loaded_gotrace_programs().len() < 5 {
            assert!(start.elapsed() < T, "gotrace's programs never loaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        gotrace_tests::signal(child.id(), sig);
        let run = gotrace_tests::wait_with_timeout(child, T);
        assert_eq!(
            run.code(),
            0,
            "signal {sig} while attaching: {}",
            run.stderr
        );
        assert!(run.stdout.contains("syscall"), "no summary: {}", run.stdout);
        drop(target);
        assert_nothing_left_behind();

        // Once tracing: the launched command is stopped with it.
        let g = gotrace_tests::Attached::start(&["--no-tui", "--", "sleep", &arg]);
        gotrace_tests::signal(g.child.id(), sig);
        let run = g.finish(T);
        // As a shell reports a command ended by that signal (130 after Ctrl-C).
        assert_eq!(
            run.code(),
            128 + sig,
            "signal {sig} while tracing: {}",
            run.stderr
        );
        assert!(run.stdout.contains("syscall"), "no summary: {}", run.stdout);
        assert_no_process_with_arg(&arg);
        assert_nothing_left_behind();
    }
}

/// A trace file on a filesystem that fills up: gotrace says so in one line and exits 1,
/// the summary on stdout is whole, and what reached the file reads as a cut trace.
#[test]
fn a_full_disk_ends_with_a_clear_error_and_a_readable_file() {
    if !require_root("a_full_disk_ends_with_a_clear_error_and_a_readable_file") {
        return;
    }
    let dir = scratch("full-disk");
    let c = std::ffi::CString::new(dir.display().to_string()).expect("path");
    // SAFETY: mount(2) of a fresh tmpfs on a directory this test made; NUL-terminated
    // strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=128k".as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
    struct Unmount(std::ffi::CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            // SAFETY: umount2(2) of the tmpfs mounted above.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _unmount = Unmount(c);
    let json = dir.join("trace.ndjson");
    let bin = gotrace_tests::workload("exact").display().to_string();
    let run = gotrace(
        &[
            "--no-tui",
            "--slow",
            "0",
            "--json",
            &json.display().to_string(),
            "--",
            &bin,
            "-goroutines=2",
            "-n=5000",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            format!(
                "gotrace: writing {} failed: No space left on device",
                json.display()
            )
            .as_str()
        ),
        "{}",
        run.stderr
    );
    let getppid = gotrace_tests::text_row(&run.stdout, "getppid");
    assert_eq!(getppid.get(1).copied(), Some("10,000"), "{}", run.stdout);
    let report = Command::new(gotrace_bin())
        .arg("report")
        .arg(&json)
        .output()
        .expect("gotrace report");
    let (out, err) = (
        String::from_utf8_lossy(&report.stdout),
        String::from_utf8_lossy(&report.stderr),
    );
    assert_eq!(report.status.code(), Some(1), "{err}");
    assert!(err.contains("has no summary"), "{err}");
    assert!(out.contains("event lines show"), "{out}");
    assert!(!err.contains("panicked"), "{err}");
}
