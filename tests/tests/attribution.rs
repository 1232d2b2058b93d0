//! Root tests of latency attribution on the real kernel: a real cgroup v1 CPU quota,
//! real CPU contention, a real slow FUSE filesystem.
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use gotrace_tests::{
    read_trace, require_root, schema::Summary, scratch, summary_of, wait_for_line, workload,
    Attached, Line, QuotaCgroup,
};

/// Starts the attrib workload waiting for SIGUSR1.
fn start_waiting(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, std::io::BufReader<std::process::ChildStdout>) {
    let mut c = Command::new(workload("attrib"));
    c.args(args)
        .arg("-wait-signal")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("start attrib");
    let out = child.stdout.take().expect("stdout");
    let (reader, _) = wait_for_line(out, "ready", Duration::from_secs(20));
    (child, reader)
}

fn go(pid: u32) {
    // SAFETY: signalling the workload this test started.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
}

fn share(s: &Summary, cause: &str) -> f64 {
    s.attribution
        .iter()
        .find(|c| c.cause == cause)
        .map(|c| c.share)
        .unwrap_or(0.0)
}

fn assert_shares_sum_to_one(s: &Summary) {
    let sum: f64 = s.attribution.iter().map(|c| c.share).sum();
    assert!(
        (sum - 1.0).abs() < 0.002,
        "shares sum to {sum}: {:?}",
        s.attribution
    );
}

/// Traces the waiting workload `child` (attach mode) until it exits.
fn trace_attached(name: &str, child: &mut Child) -> (gotrace_tests::Run, Vec<Line>) {
    let json = scratch(name).join("trace.ndjson");
    let pid = child.id();
    let g = Attached::start(&[
        "--no-tui",
        "--json",
        &json.display().to_string(),
        "--pid",
        &pid.to_string(),
    ]);
    go(pid);
    let status = child.wait().expect("wait workload");
    assert!(status.success(), "workload failed: {status}");
    let run = g.finish(Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = read_trace(&json);
    gotrace_tests::assert_splits_add_up(&lines);
    (run, lines)
}

#[test]
fn cgroup_quota_throttling_is_the_top_cause() {
    if !require_root("cgroup_quota_throttling_is_the_top_cause") {
        return;
    }
    // 10% of one CPU.
    let cg = QuotaCgroup::new("throttle", 10_000, 100_000);
    let (mut child, _out) = start_waiting(&["-mode=cpu", "-seconds=3"], &[]);
    cg.add(child.id());
    let before = cg.throttled_ns();
    let (run, lines) = trace_attached("throttle", &mut child);
    let measured = cg.throttled_ns() - before;
    let s = summary_of(&lines);
    // Throttling is the top cause; on a loaded machine the wait for a CPU while the
    // quota lasts (the scheduler) can come first, and only it. The workload's signal
    // goroutine waits in futex the whole run (os/signal's signal_recv).
    let causes: Vec<&str> = s.attribution.iter().map(|c| c.cause.as_str()).collect();
    let throttle = s
        .attribution
        .iter()
        .find(|c| c.cause == "cgroup-throttle")
        .unwrap_or_else(|| panic!("no cgroup-throttle: {:?}\n{}", s.attribution, run.stdout));
    assert!(
        causes.first() == Some(&"cgroup-throttle")
            || causes.get(..2) == Some(&["scheduler", "cgroup-throttle"][..]),
        "causes in order: {causes:?}\n{}",
        run.stdout
    );
    assert!(throttle.share > 0.2, "{:?}", s.attribution);
    assert_shares_sum_to_one(s);
    let c = s.cgroup.as_ref().expect("cgroup facts");
    assert_eq!((c.version, c.path.as_str()), (1, cg.path().as_str()));
    assert!(
        c.cpu_quota_cpus.is_some_and(|q| (q - 0.1).abs() < 1e-6),
        "{c:?}"
    );
    let diff = (c.throttled_ns as f64 - measured as f64).abs();
    assert!(
        measured > 0 && diff <= 0.10 * measured as f64,
        "throttled {} ns, cpu.stat says {measured} ns",
        c.throttled_ns
    );
    assert!(c.nr_throttled > 0);
    assert!(run.stdout.contains("cgroup-throttle"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("cgroup v1 {} · 0.10 CPUs · throttled", cg.path())),
        "{}",
        run.stdout
    );
}

#[test]
fn gomaxprocs_over_the_quota_is_flagged() {
    if !require_root("gomaxprocs_over_the_quota_is_flagged") {
        return;
    }
    // One CPU's worth of quota.
    let cg = QuotaCgroup::new("gomaxprocs", 100_000, 100_000);
    let (mut child, _out) = start_waiting(&["-mode=cpu", "-seconds=1"], &[("GOMAXPROCS", "8")]);
    cg.add(child.id());
    let (run, lines) = trace_attached("gomaxprocs", &mut child);
    let s = summary_of(&lines);
    assert_eq!(s.gomaxprocs, Some(8), "GOMAXPROCS read from the runtime");
    assert!(s.gomaxprocs_exceeds_quota, "{s:?}");
    assert!(
        s.effective_cpus.is_some_and(|e| (e - 1.0).abs() < 1e-6),
        "{:?}",
        s.effective_cpus
    );
    assert!(
        run.stdout
            .contains("warning: GOMAXPROCS=8 but only 1.00 CPUs"),
        "{}",
        run.stdout
    );
}

/// A shell busy loop pinned to CPU 0, killed on drop.
struct BusyLoop(Child);

impl BusyLoop {
    fn on_cpu0() -> BusyLoop {
        BusyLoop(
            Command::new("taskset")
                .args(["-c", "0", "sh", "-c", "while :; do :; done"])
                .spawn()
                .expect("taskset (util-linux) runs a busy loop"),
        )
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cpu_contention_is_the_scheduler() {
    if !require_root("cpu_contention_is_the_scheduler") {
        return;
    }
    let _busy = [BusyLoop::on_cpu0(), BusyLoop::on_cpu0()];
    let json = scratch("scheduler").join("trace.ndjson");
    let bin = workload("attrib").display().to_string();
    let run = gotrace_tests::gotrace(
        &[
            "--no-tui",
            "--json",
            &json.display().to_string(),
            "--",
            "taskset",
            "-c",
            "0",
            &bin,
            "-mode=cpu",
            "-seconds=2",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let lines = read_trace(&json);
    let s = summary_of(&lines);
    assert_eq!(
        s.attribution[0].cause, "scheduler",
        "{:?}\n{}",
        s.attribution, run.stdout
    );
    assert!(s.attribution[0].share > 0.5, "{:?}", s.attribution);
    assert!(
        share(s, "cgroup-throttle") < 0.01,
        "no quota, no throttling: {:?}",
        s.attribution
    );
    assert_shares_sum_to_one(s);
    assert!(
        s.threads.iter().any(|t| t.runq_ns > 500_000_000),
        "a thread waited for CPU 0: {:?}",
        s.threads
    );
}
