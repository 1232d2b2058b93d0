//! Root tests of gotrace against a traced process that attacks it. gotrace runs as root
//! and reads files the target controls (its cgroup files, through /proc/PID/root); an
//! unprivileged process in its own user and mount namespace can put anything there.
//! None of it may stop gotrace from ending on time with a summary, or blow up its memory.
use std::{
    io::Read as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gotrace_tests::{gotrace_cmd, require_root, wait_for_line, wait_with_timeout, Killed, Run};

/// An unprivileged process (nobody) in its own user and mount namespace that runs
/// `setup` there, then sleeps: the target. Returns it and its pid once it is ready.
fn hostile_target(setup: &str) -> (Killed, u32) {
    let script = format!("set -e\n{setup}\necho ready\nexec sleep 120");
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["unshare", "-Urm", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn setpriv unshare");
    let pid = child.id();
    let out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let guard = Killed(child);
    let waited = std::panic::catch_unwind(move || {
        wait_for_line(out, "ready", Duration::from_secs(30));
    });
    if waited.is_err() {
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        panic!("the hostile target did not get ready: {e}");
    }
    (guard, pid)
}

/// Shadows the target's cgroup files where gotrace finds them (its cpu and memory v1
/// hierarchies, its v2 one): a tmpfs over each hierarchy's mount, with the target's own
/// cgroup directory in it, where `make` is run for every file gotrace reads ($f).
fn shadow_cgroup_files(make: &str) -> String {
    format!(
        r#"while IFS=: read -r _ ctrls path; do
  case ",$ctrls," in
    *,cpu,*) dir=/sys/fs/cgroup/cpu ;;
    *,memory,*) dir=/sys/fs/cgroup/memory ;;
    ,,) dir=/sys/fs/cgroup/unified; [ -e /sys/fs/cgroup/cgroup.controllers ] && dir=/sys/fs/cgroup ;;
    *) continue ;;
  esac
  [ -d "$dir" ] || continue
  mount -t tmpfs none "$dir"
  mkdir -p "$dir$path"
  cd "$dir$path"
  for f in cpu.cfs_quota_us cpu.cfs_period_us cpu.stat cpu.max cpu.pressure memory.pressure io.pressure memory.max memory.limit_in_bytes cgroup.controllers; do {make}; done
  cd /
done < /proc/self/cgroup"#
    )
}

/// `gotrace --pid PID --duration 2`, waited for with a generous bound.
fn trace_for_two_seconds(pid: u32) -> (Run, Duration) {
    let pid = pid.to_string();
    let started = Instant::now();
    let child = gotrace_cmd(&["--pid", &pid, "--duration", "2", "--no-tui"])
        .spawn()
        .expect("spawn gotrace");
    let run = wait_with_timeout(child, Duration::from_secs(60));
    (run, started.elapsed())
}

/// What must hold whatever the target did: gotrace ended on time, with a summary, and
/// its memory stayed its normal size.
fn assert_ended_on_time_with_a_summary(run: &Run, took: Duration) {
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("gotrace: pid "),
        "no summary:\n{}",
        run.stdout
    );
    // 2 s of tracing, attach and the summary; far less than 20 s even on a loaded VM.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let rss = run.max_rss_kib.unwrap_or(0);
    assert!(rss > 0 && rss < 256 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn cgroup_files_that_are_fifos_do_not_hang_gotrace() {
    if !require_root("cgroup_files_that_are_fifos_do_not_hang_gotrace") {
        return;
    }
    let (_target, pid) = hostile_target(&shadow_cgroup_files("mkfifo $f"));
    let (run, took) = trace_for_two_seconds(pid);
    assert_ended_on_time_with_a_summary(&run, took);
    assert!(
        run.stderr.contains("not a regular file"),
        "the refused cgroup files are said: {}",
        run.stderr
    );
}

#[test]
fn cgroup_files_that_are_dev_zero_or_huge_do_not_flood_gotrace() {
    if !require_root("cgroup_files_that_are_dev_zero_or_huge_do_not_flood_gotrace") {
        return;
    }
    // Half the files endless (/dev/zero), the rest 3 GiB of sparse zeros.
    let make = "case $f in cpu.*) ln -s /dev/zero $f;; *) truncate -s 3G $f;; esac";
    let (_target, pid) = hostile_target(&shadow_cgroup_files(make));
    let (run, took) = trace_for_two_seconds(pid);
    assert_ended_on_time_with_a_summary(&run, took);
}

#[test]
fn a_launched_commands_output_cannot_forge_lines_of_a_trace_on_stdout() {
    if !require_root("a_launched_commands_output_cannot_forge_lines_of_a_trace_on_stdout") {
        return;
    }
    // Output before gotrace's header, and a line that looks like one of gotrace's own.
    let forged = r#"{"type":"summary","forged":true}"#;
    let script = format!("echo '{forged}'; echo plain output");
    let run = gotrace_tests::gotrace(
        &["--no-tui", "--json", "-", "--", "/bin/sh", "-c", &script],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        !run.stdout
            .lines()
            .any(|l| l == forged || l == "plain output"),
        "{}",
        run.stdout
    );
    // Every stdout line is gotrace's, the header first and the summary last.
    let lines: Vec<gotrace_tests::Line> = run
        .stdout
        .lines()
        .map(|l| gotrace_tests::schema::parse_strict(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        matches!(lines.first(), Some(gotrace_tests::Line::Header(_))),
        "{}",
        run.stdout
    );
    assert!(
        matches!(lines.last(), Some(gotrace_tests::Line::Summary(_))),
        "{}",
        run.stdout
    );
    // The command's output is not lost: it went to stderr.
    assert!(
        run.stderr.contains("plain output") && run.stderr.contains(forged),
        "{}",
        run.stderr
    );
}

#[test]
fn a_reader_that_stops_reading_the_trace_is_no_failure() {
    if !require_root("a_reader_that_stops_reading_the_trace_is_no_failure") {
        return;
    }
    // `gotrace --json - -- CMD | head -1`: the reader takes the header and goes away.
    let mut child = gotrace_cmd(&[
        "--no-tui",
        "--json",
        "-",
        "--",
        "/bin/sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.02; done",
    ])
    .spawn()
    .expect("spawn gotrace");
    let out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut first)
        .expect("read the header");
    // The reader is gone: its end of the pipe was dropped with it.
    assert!(first.contains(r#""type":"header""#), "{first}");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gotrace did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = stderr.join().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("failed"), "{stderr}");
}

#[test]
fn sighup_ends_the_trace_with_its_summary_and_stops_the_launched_command() {
    if !require_root("sighup_ends_the_trace_with_its_summary_and_stops_the_launched_command") {
        return;
    }
    let dir = gotrace_tests::scratch("sighup");
    let json = dir.join("trace.ndjson");
    let json_s = json.display().to_string();
    let g =
        gotrace_tests::Attached::start(&["--no-tui", "--json", &json_s, "--", "/bin/sleep", "60"]);
    let pid: u32 = g
        .banner()
        .split("tracing pid ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", g.banner()));
    gotrace_tests::signal(g.child.id(), libc::SIGHUP);
    let started = Instant::now();
    let run = g.finish(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stdout.contains("gotrace: pid "),
        "no summary: {}\n{}",
        run.stdout,
        run.stderr
    );
    let lines = gotrace_tests::read_trace(&json);
    assert!(
        matches!(lines.last(), Some(gotrace_tests::Line::Summary(_))),
        "the trace's last line is its summary"
    );
    // The launched command did not outlive gotrace.
    let gone = (0..100).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let dead = state.as_deref().is_none_or(|s| s.contains(") Z "));
        if !dead {
            std::thread::sleep(Duration::from_millis(100));
        }
        dead
    });
    assert!(gone, "the launched sleep {pid} still runs");
}

#[test]
fn a_fifo_given_as_the_command_is_refused_at_once() {
    if !require_root("a_fifo_given_as_the_command_is_refused_at_once") {
        return;
    }
    let dir = gotrace_tests::scratch("fifo-command");
    let fifo = gotrace_tests::mkfifo(&dir.join("prog"));
    let started = Instant::now();
    let run = gotrace_tests::gotrace(&["--no-tui", "--", &fifo], Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_ne!(run.code(), 0);
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
}

/// A copy of a Go workload whose section headers say its .strtab is 2 GiB long; the file
/// is extended to match, sparse, so the lie holds up to a size check. It still runs: the
/// kernel loads programs by their segments, never their sections.
fn executable_claiming_a_2_gib_string_table(dir: &std::path::Path) -> std::path::PathBuf {
    let mut elf = std::fs::read(gotrace_tests::workload("attrib")).expect("read the workload");
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let u32_at = |b: &[u8], at: usize| {
        u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
    };
    let u64_at =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    // ELF64 header: e_shoff at 0x28, e_shentsize at 0x3a, e_shnum at 0x3c.
    let (shoff, shentsize, shnum) = (
        u64_at(&elf, 0x28) as usize,
        u16_at(&elf, 0x3a),
        u16_at(&elf, 0x3c),
    );
    let header = |i: usize| shoff + i * shentsize;
    // The string table is the one .symtab (SHT_SYMTAB = 2) links to.
    let symtab = (0..shnum)
        .find(|&i| u32_at(&elf, header(i) + 4) == 2)
        .expect("the workload has a .symtab");
    let strtab = header(u32_at(&elf, header(symtab) + 40));
    let claimed: u64 = 2 << 30;
    elf[strtab + 32..strtab + 40].copy_from_slice(&claimed.to_le_bytes());
    let offset = u64_at(&elf, strtab + 24);
    let path = dir.join("crafted");
    std::fs::write(&path, &elf).expect("write the crafted copy");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len((offset + claimed).max(elf.len() as u64))
        .expect("extend, sparse");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn an_executable_that_lies_about_its_symbol_tables_costs_gotrace_nothing() {
    if !require_root("an_executable_that_lies_about_its_symbol_tables_costs_gotrace_nothing") {
        return;
    }
    let dir = gotrace_tests::scratch("crafted-elf");
    let crafted = executable_claiming_a_2_gib_string_table(&dir);
    let mut child = Command::new(&crafted)
        .arg("-wait-signal")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the crafted executable");
    let out = child.stdout.take().expect("piped stdout");
    let target = Killed(child);
    let (_out, _) = wait_for_line(out, "ready", Duration::from_secs(30));
    let (run, took) = trace_for_two_seconds(target.0.id());
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
    assert_ended_on_time_with_a_summary(&run, took);
}
