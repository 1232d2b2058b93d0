//! The dashboard end to end: the real gotrace binary in a real terminal (tmux), tracing a
//! real Go workload, driven with keys, and the terminal sane again after q.
use std::{
    process::{Command, Stdio},
    time::Duration,
};

use gotrace_tests::{gotrace_bin, require_root, tmux::Tmux, workload, Killed};

#[test]
fn dashboard_shows_the_workload_answers_keys_and_restores_the_terminal() {
    if !require_root("dashboard_shows_the_workload_answers_keys_and_restores_the_terminal") {
        return;
    }
    // An HTTP server and client in one Go process: netpoll, files, timers.
    let target = Killed(
        Command::new(workload("demo"))
            .arg("-duration=60s")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the demo workload"),
    );
    let pid = target.0.id();
    let t = Tmux::start("gotrace-tui");
    t.wait_for(&["PROMPT>"], Duration::from_secs(10));
    t.keys(&[&format!("{} --pid {pid}", gotrace_bin().display()), "Enter"]);

    // Overview: header with the target, the attribution by cause, the syscall table.
    t.wait_for(
        &[
            &format!("pid {pid}"),
            "Where the time went",
            "netpoll",
            "epoll_pwait",
            // The Go version in the header.
            "go1.",
        ],
        Duration::from_secs(30),
    );

    // Views switch with numbers and tab; ? opens and closes the help.
    t.keys(&["2"]);
    t.wait_for(&["Syscalls ·", "calls/s"], Duration::from_secs(10));
    t.keys(&["4"]);
    t.wait_for(
        &["Threads ·", "Poller · epoll", "socket"],
        Duration::from_secs(10),
    );
    t.keys(&["3"]);
    t.wait_for(&["SIGCHLD lifecycle"], Duration::from_secs(10));
    // The overlay's own lines (the footer always shows "quit" and "pause"), and gone
    // again on the second ?.
    t.keys(&["?"]);
    t.wait_for(
        &["? or Esc closes", "pause the view (tracing goes on)"],
        Duration::from_secs(10),
    );
    t.keys(&["?"]);
    t.wait_gone("? or Esc closes", Duration::from_secs(10));
    t.keys(&["Tab"]);
    t.wait_for(
        &["Threads ·", "run-queue time outside syscalls"],
        Duration::from_secs(10),
    );
    t.keys(&["5"]);
    t.wait_for(&["┌ Log"], Duration::from_secs(10));

    // q leaves: the summary is printed after the terminal is restored, the prompt is back.
    t.keys(&["q"]);
    let s = t.wait_for(
        &[
            "PROMPT>",
            "where the time went",
            &format!("gotrace: pid {pid}"),
        ],
        Duration::from_secs(20),
    );
    assert!(s.contains("epoll_pwait"), "{s}");
    // Cooked mode again: these flags are on (raw mode turns them off: "-icanon", ...).
    t.keys(&[
        "stty -a | grep -oE '(^| )(icanon|echo|icrnl|opost)( |$)' | wc -l",
        "Enter",
    ]);
    let s = t.wait_for(&["\n4\nPROMPT>"], Duration::from_secs(10));
    assert!(s.trim_end().ends_with("PROMPT>"), "{s}");
    assert!(
        !s.contains("LIVE"),
        "the alternate screen is gone from the shell's view:\n{s}"
    );
    // The target keeps running after gotrace leaves: it was attached, not launched.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn dashboard_keeps_the_final_numbers_and_sigterm_restores_the_terminal() {
    if !require_root("dashboard_keeps_the_final_numbers_and_sigterm_restores_the_terminal") {
        return;
    }
    let t = Tmux::start("gotrace-tui-exit");
    t.wait_for(&["PROMPT>"], Duration::from_secs(10));
    // A launched workload that ends by itself after about 150 ms.
    let exact = workload("exact");
    t.keys(&[
        &format!("{} -- {} -n=1000", gotrace_bin().display(), exact.display()),
        "Enter",
    ]);
    // The dashboard says the target exited and stays up with the final numbers. All in
    // one wait: a capture can land while tmux is still applying a frame (the header of
    // the final one above the table of the one before, seen once under load).
    t.wait_for(
        &[
            "target exited with code 0",
            "these are the final numbers",
            "ENDED",
            "clock_nanosleep",
        ],
        Duration::from_secs(30),
    );
    // The workload's own output went to the log, not over the dashboard.
    t.keys(&["5"]);
    t.wait_for(&["output: done sleep-retries="], Duration::from_secs(10));
    // SIGTERM (as from a supervisor or `kill`) ends gotrace: the terminal comes back.
    let pid = Command::new("pgrep")
        // This test's gotrace: the other tests run gotrace on other workloads meanwhile.
        .args([
            "-n",
            "-f",
            &format!("{} -- {}", gotrace_bin().display(), exact.display()),
        ])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    assert!(!pid.is_empty(), "gotrace's pid not found");
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
    let s = t.wait_for(&["PROMPT>", "where the time went"], Duration::from_secs(20));
    assert!(
        s.contains("target exited with code 0"),
        "the summary after the dashboard:\n{s}"
    );
    t.keys(&[
        "stty -a | grep -oE '(^| )(icanon|echo|icrnl|opost)( |$)' | wc -l",
        "Enter",
    ]);
    let s = t.wait_for(&["\n4\nPROMPT>"], Duration::from_secs(10));
    assert!(s.trim_end().ends_with("PROMPT>"), "{s}");
}

#[test]
fn dashboard_names_the_call_a_stuck_program_is_in() {
    if !require_root("dashboard_names_the_call_a_stuck_program_is_in") {
        return;
    }
    let dir = gotrace_tests::scratch("tui-stuck");
    let fifo = dir.join("q.fifo");
    gotrace_tests::mkfifo(&fifo);
    let t = Tmux::start("gotrace-tui-stuck");
    t.wait_for(&["PROMPT>"], Duration::from_secs(10));
    let stuck = workload("stuck");
    t.keys(&[
        &format!(
            "{} -- {} -fifo {}",
            gotrace_bin().display(),
            stuck.display(),
            fifo.display()
        ),
        "Enter",
    ]);
    // The overview's alert names the call, what it waits on and the file, past a second.
    t.wait_for(
        &[
            "(stuck) in read for",
            "blocked: pipe",
            &format!("fd 3 {}", fifo.display()),
        ],
        Duration::from_secs(30),
    );
    // The log says it once, and the threads view lists it.
    t.keys(&["5"]);
    t.wait_for(&["still in progress:", "[pipe]"], Duration::from_secs(10));
    t.keys(&["4"]);
    t.wait_for(
        &["In a syscall now", "anon_pipe_read"],
        Duration::from_secs(10),
    );
    t.keys(&["q"]);
    let s = t.wait_for(
        &["PROMPT>", "in progress when tracing ended"],
        Duration::from_secs(20),
    );
    assert!(s.contains("[pipe]"), "{s}");
}
