//! `--prometheus`: a real Prometheus server (Debian's, installed by `cargo xtask setup`)
//! scrapes gotrace while it traces a Go program with exact syscall counts, and its HTTP
//! query API must return those counts, the program's labels, and a latency quantile
//! that is the program's sleep.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use gotrace_tests::{
    go_version,
    prometheus::{served_at, Prometheus},
    require_root, signal, wait_for_line, workload, Attached, Killed,
};

const T: Duration = Duration::from_secs(60);

fn start_exact(args: &[&str]) -> (Killed, BufReader<std::process::ChildStdout>) {
    let mut child: Child = Command::new(workload("exact"))
        .args(args)
        .args(["-wait-signal", "-linger"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the exact workload");
    let out = child.stdout.take().unwrap();
    let (reader, _) = wait_for_line(out, "ready", T);
    (Killed(child), reader)
}

#[test]
fn prometheus_scrapes_exact_counts() {
    if !require_root("prometheus_scrapes_exact_counts") {
        return;
    }
    let (w, mut out) = start_exact(&[
        "-goroutines",
        "2",
        "-n",
        "5000",
        "-sleeps",
        "12",
        "-sleep-ms",
        "10",
        "-enoent",
        "7",
    ]);
    let pid = w.0.id();
    let pid_s = pid.to_string();
    let g = Attached::start(&["--pid", &pid_s, "--no-tui", "--prometheus", "127.0.0.1:0"]);
    let gotrace_pid = g.child.id();
    let metrics = served_at(g.banner());
    let prom = Prometheus::start("prometheus-exact", metrics);
    signal(pid, libc::SIGUSR1);
    let mut done = String::new();
    while !done.starts_with("done") {
        done.clear();
        assert!(out.read_line(&mut done).unwrap() > 0, "the workload ended");
    }
    let retries: u64 = done
        .trim()
        .strip_prefix("done sleep-retries=")
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{done}"));

    let sel = |syscall: &str| format!("{{pid=\"{pid}\",syscall=\"{syscall}\"}}");
    let labels = prom.wait_for(
        &format!("gotrace_syscalls_total{}", sel("getppid")),
        "10000",
    );
    assert_eq!(labels["comm"], "exact", "{labels}");
    assert_eq!(labels["go_version"], go_version().as_str(), "{labels}");
    assert_eq!(labels["job"], "gotrace", "{labels}");
    assert!(
        labels["cgroup"]
            .as_str()
            .is_some_and(|c| c.starts_with('/')),
        "{labels}"
    );
    prom.wait_for(&format!("gotrace_syscalls_total{}", sel("open")), "7");
    prom.wait_for(&format!("gotrace_syscall_errors_total{}", sel("open")), "7");
    prom.wait_for(
        &format!("gotrace_syscall_errors_total{}", sel("getppid")),
        "0",
    );
    let sleeps = (12 + retries).to_string();
    prom.wait_for(
        &format!("gotrace_syscalls_total{}", sel("clock_nanosleep")),
        &sleeps,
    );
    // The histogram's count is the calls, and its median is the 10 ms sleep: the
    // bucket around it is (8.39 ms, 12.58 ms].
    prom.wait_for(
        &format!(
            "gotrace_syscall_duration_seconds_count{}",
            sel("clock_nanosleep")
        ),
        &sleeps,
    );
    prom.wait_for(
        &format!("gotrace_syscall_duration_seconds_bucket{{pid=\"{pid}\",syscall=\"getppid\",le=\"+Inf\"}}"),
        "10000",
    );
    if retries == 0 {
        let q = prom.query(&format!(
            "histogram_quantile(0.5, gotrace_syscall_duration_seconds_bucket{})",
            sel("clock_nanosleep")
        ));
        let median: f64 = q
            .first()
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no median: {q:?}"));
        eprintln!("median sleep from the histogram: {median} s");
        assert!(
            (0.008388607..=0.012582911).contains(&median) && (median - 0.010).abs() < 0.0025,
            "median sleep {median} s, slept 10 ms"
        );
    }
    // Where the time went: the sleeps, as the program's own.
    let sleep_time = prom.query(&format!(
        "gotrace_syscall_seconds_total{{pid=\"{pid}\",cause=\"sleep\",by=\"program\"}}"
    ));
    let secs: f64 = sleep_time
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no sleep time: {sleep_time:?}"));
    // Blocked from the switch-out to the timer's wakeup: a few µs under each 10 ms.
    assert!(
        (0.1..5.0).contains(&secs),
        "12 sleeps of 10 ms, {secs} s of sleep"
    );
    prom.wait_for("gotrace_traced_processes", "1");
    prom.wait_for("gotrace_lost_records_total", "0");
    // Only the traced process has series: not gotrace, not Prometheus.
    let pids = prom.query("count by (pid) (gotrace_syscalls_total)");
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(pids[0].0["pid"], pid_s.as_str(), "{pids:?}");
    assert!(prom
        .query(&format!("gotrace_syscalls_total{{pid=\"{gotrace_pid}\"}}"))
        .is_empty());

    signal(gotrace_pid, libc::SIGINT);
    let run = g.finish(T);
    assert!(run.status.success(), "{}", run.stderr);
    drop(w);
}
