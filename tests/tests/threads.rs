//! Root tests of the kernel's thread table (run-queue time outside syscalls, per thread):
//! exited threads are pruned from it, and threads that find no room are counted and
//! said. One gotrace at a time, so the table read with bpftool is this test's.
use std::{
    io::{BufRead as _, BufReader},
    process::Command,
    sync::Mutex,
    time::{Duration, Instant},
};

use gotrace_tests::{
    gotrace_cmd, read_trace, require_root, scratch, summary_of, wait_with_timeout,
};

static SERIAL: Mutex<()> = Mutex::new(());

const WORKLOAD: &str = env!("CARGO_BIN_EXE_threads-workload");

/// Entries in the loaded THREAD_STATS map (the one gotrace running now).
fn thread_table_entries() -> usize {
    let out = Command::new("bpftool")
        .args(["map", "dump", "name", "THREAD_STATS", "-j"])
        .output()
        .expect("run bpftool");
    assert!(
        out.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn exited_threads_are_pruned_so_waves_of_them_never_fill_the_table() {
    if !require_root("exited_threads_are_pruned_so_waves_of_them_never_fill_the_table") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("thread-waves");
    let json = dir.join("trace.ndjson");
    let (json_s, dir_s) = (json.display().to_string(), dir.display().to_string());
    // Three waves of 10,000 threads: 30,000 in all, more than the table's 16,384.
    let mut child = gotrace_cmd(&[
        "--no-tui", "--json", &json_s, "--", WORKLOAD, "waves", "3", "10000", &dir_s,
    ])
    .spawn()
    .expect("spawn gotrace");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    for w in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line)
            .expect("read the workload's output");
        assert_eq!(line.trim(), format!("wave {w}"));
        // The wave's threads are gone: at its next refresh gotrace empties their entries.
        let started = Instant::now();
        loop {
            let n = thread_table_entries();
            if n < 1000 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{n} entries left after wave {w}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::write(dir.join(format!("go-{w}")), "").expect("open the gate");
    }
    let mut stdout = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut stdout);
    let status = child.wait().expect("wait for gotrace");
    assert_eq!(status.code(), Some(0), "{stdout}");
    let s = summary_of(&read_trace(&json)).clone();
    assert_eq!(s.threads_untracked, 0, "{stdout}");
    assert!(s.threads_created >= 30_000, "{}", s.threads_created);
    assert!(!stdout.contains("thread table"), "{stdout}");
}

#[test]
fn threads_that_find_no_room_are_counted_and_said() {
    if !require_root("threads_that_find_no_room_are_counted_and_said") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("thread-table-full");
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    // 17,000 threads alive at once: more than the table holds.
    let child = gotrace_cmd(&[
        "--no-tui", "--json", &json_s, "--", WORKLOAD, "alive", "17000",
    ])
    .spawn()
    .expect("spawn gotrace");
    let run = wait_with_timeout(child, Duration::from_secs(180));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary_of(&read_trace(&json)).clone();
    assert!(
        s.threads_untracked >= 17_000 - 16_384,
        "{} untracked",
        s.threads_untracked
    );
    assert!(
        run.stdout
            .contains("found no room in the kernel's thread table"),
        "{}",
        run.stdout
    );
}

/// kernel.pid_max raised to at least `min` while it lives, then put back.
struct PidMax(Option<String>);

impl PidMax {
    fn at_least(min: u64) -> PidMax {
        const PATH: &str = "/proc/sys/kernel/pid_max";
        let old = std::fs::read_to_string(PATH).expect("read pid_max");
        if old.trim().parse::<u64>().expect("pid_max is a number") >= min {
            return PidMax(None);
        }
        std::fs::write(PATH, min.to_string()).expect("raise pid_max");
        PidMax(Some(old))
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write("/proc/sys/kernel/pid_max", old.trim());
        }
    }
}

/// Two threads whose tids are equal modulo 32,768 share a slot of the kernel's in-flight
/// table (machines with a pid_max above that: systemd sets 4,194,304). The call the first
/// was in when the second took the slot is lost: counted as a slot collision, not as a
/// call in progress when tracing began, and said in the summary.
#[test]
fn calls_lost_to_slot_collisions_are_counted_apart_and_said() {
    if !require_root("calls_lost_to_slot_collisions_are_counted_apart_and_said") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _pid_max = PidMax::at_least(2 * 32_768 + 1_000);
    let dir = scratch("slot-collisions");
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    const PAIRS: u64 = 3;
    let pairs = PAIRS.to_string();
    let mut cmd = gotrace_cmd(&[
        "--no-tui", "--json", &json_s, "--", WORKLOAD, "collide", &pairs,
    ]);
    // Launched as root, not as the user who ran sudo: it picks tids through ns_last_pid.
    cmd.env_remove("SUDO_UID").env_remove("SUDO_GID");
    let run = wait_with_timeout(cmd.spawn().expect("spawn gotrace"), Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("collided {PAIRS}")),
        "{}",
        run.stdout
    );
    let s = summary_of(&read_trace(&json)).clone();
    assert_eq!(
        (s.slot_collisions, s.unmatched_exits),
        (PAIRS, 0),
        "(slot collisions, unmatched exits)\n{}",
        run.stdout
    );
    // Each pair's sleeps: the first thread's (lost), the main thread's and the second
    // thread's (counted).
    let sleeps = gotrace_tests::row(&s, "clock_nanosleep").calls;
    assert_eq!(sleeps, 2 * PAIRS, "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "warning: {PAIRS} calls were not counted: another thread took their slot in the kernel's in-flight table"
        )),
        "{}",
        run.stdout
    );
}
