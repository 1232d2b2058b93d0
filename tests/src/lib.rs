//! Helpers for gotrace's integration tests: building the Go workloads, running the real
//! `gotrace` binary, reading what it wrote. Root tests load real eBPF programs into the
//! running kernel and trace real processes; nothing of the kernel side is mocked.
use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

pub use tracer::export::schema::{self, Line};

pub mod prometheus;
pub mod slowfs;
pub mod tmux;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The gotrace binary under test: $GOTRACE_BIN where the tests run away from Cargo (the
/// kernel matrix's guests), else the copy Cargo built for these tests, `gotrace-under-test`
/// (its `main` is `tracer::command::main`, as the `gotrace` binary's). Cargo builds a
/// package's binaries before its integration tests and puts them in the profile
/// directory, the parent of the tests' `deps/` (the path `CARGO_BIN_EXE_gotrace-under-test`
/// names in a test crate): never a stale `target/debug/gotrace` from an earlier build.
pub fn gotrace_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GOTRACE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let p = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <profile>/deps")
        .join("gotrace-under-test");
    assert!(
        p.exists(),
        "no {}: run the integration tests with cargo test (or cargo xtask test)",
        p.display()
    );
    p
}

/// The Go toolchain: $GOTRACE_GO, else the one `cargo xtask setup` installs.
pub fn go_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GOTRACE_GO") {
        return PathBuf::from(p);
    }
    let p = workspace().join(".tools/go-venv/bin/go");
    assert!(
        p.exists(),
        "NO GO TOOLCHAIN: {} is missing; `cargo xtask setup` installs it",
        p.display()
    );
    p
}

/// The Go version the workloads were built with ("go1.27.3"): $GOTRACE_GO_VERSION where
/// there is no Go to ask (the kernel matrix's guests), else `go env GOVERSION`.
pub fn go_version() -> String {
    if let Ok(v) = std::env::var("GOTRACE_GO_VERSION") {
        return v;
    }
    let out = Command::new(go_bin())
        .args(["env", "GOVERSION"])
        .output()
        .expect("go env GOVERSION");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// True when running as root. Root tests call this first: without root they fail loudly,
/// unless GOTRACE_SKIP_ROOT_TESTS=1, in which case they print that they were skipped.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("GOTRACE_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
        // Written to the process's stderr, not through eprintln!, which the test harness
        // captures and shows only for failures: a skip must be seen.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: needs root to load eBPF programs (GOTRACE_SKIP_ROOT_TESTS=1) ***\n"
        );
        return false;
    }
    panic!("ROOT TEST {test} CANNOT RUN: it loads eBPF programs and needs root. Run `sudo cargo xtask test`, or set GOTRACE_SKIP_ROOT_TESTS=1 to skip root tests on purpose.");
}

/// The exact workload's sleeps a signal cut short (each resumed: one clock_nanosleep call
/// more), from the "done sleep-retries=N" line it prints; `output` holds it (a launched
/// command's output comes first in gotrace's stdout).
pub fn sleep_retries(output: &str) -> u64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix("done sleep-retries="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no \"done sleep-retries=N\" line in:\n{output}"))
}

/// Builds tests/workloads/<name> once per test process; returns the binary.
pub fn workload(name: &str) -> PathBuf {
    // In the kernel matrix's guests there is no Go: `cargo xtask test` built every
    // workload beforehand and put it at the same path.
    if std::env::var_os("GOTRACE_PREBUILT_WORKLOADS").is_some() {
        let out = workspace().join("target/workloads").join(name);
        assert!(
            out.exists(),
            "GOTRACE_PREBUILT_WORKLOADS is set but {} is missing",
            out.display()
        );
        return out;
    }
    workload_built(name, &go_bin(), &[], "")
}

/// Builds tests/workloads/<name> with the Go toolchain `go` and extra `go build` flags,
/// once per test process, into target/workloads/<name><tag>; returns the binary.
pub fn workload_built(name: &str, go: &Path, flags: &[&str], tag: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{name}{tag}");
    if let Some(p) = built.get(&key) {
        return p.clone();
    }
    let out_dir = workspace().join("target/workloads");
    let out = out_dir.join(&key);
    std::fs::create_dir_all(&out_dir).expect("create target/workloads");
    let status = Command::new(go)
        .args(["build", "-o"])
        .arg(&out)
        .args(flags)
        .arg(format!("./{name}"))
        .current_dir(workspace().join("tests/workloads"))
        .env("GOCACHE", workspace().join("target/go-cache"))
        .env("GOPATH", workspace().join("target/go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .status()
        .expect("run go build");
    assert!(
        status.success(),
        "{} build {flags:?} ./{name} failed",
        go.display()
    );
    built.insert(key, out.clone());
    out
}

/// The Go toolchains `cargo xtask setup` installs side by side: (version, go binary),
/// from $GOTRACE_GO_VERSIONS (`:`-separated) or else .tools/go-*/bin/go, oldest first.
pub fn go_toolchains() -> Vec<(String, PathBuf)> {
    let paths: Vec<PathBuf> = match std::env::var_os("GOTRACE_GO_VERSIONS") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => std::fs::read_dir(workspace().join(".tools"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("go-"))
                    .map(|e| e.path().join("bin/go"))
                    .filter(|p| p.exists())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut found: Vec<(String, PathBuf)> = paths
        .into_iter()
        .map(|go| {
            let out = Command::new(&go)
                .args(["env", "GOVERSION"])
                .env("GOTOOLCHAIN", "local")
                .output()
                .unwrap_or_else(|e| {
                    panic!("{}: {e}; `cargo xtask setup` installs it", go.display())
                });
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(!v.is_empty(), "{} gives no version", go.display());
            (v, go)
        })
        .collect();
    let minor = |v: &str| {
        v.trim_start_matches("go1.")
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0)
    };
    found.sort_by_key(|(v, _)| minor(v));
    found
}

/// A fresh scratch directory under target/.
pub fn scratch(name: &str) -> PathBuf {
    let d = workspace()
        .join("target/test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// What a finished gotrace run left.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The process's peak resident memory, when it was waited for with wait4.
    pub max_rss_kib: Option<u64>,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            max_rss_kib: None,
        }
    }
}

/// A v1 cpu cgroup with a CFS quota, removed on drop (its processes are killed first).
pub struct QuotaCgroup {
    dir: PathBuf,
}

impl QuotaCgroup {
    pub fn new(name: &str, quota_us: u64, period_us: u64) -> QuotaCgroup {
        let dir = PathBuf::from(format!(
            "/sys/fs/cgroup/cpu/gotrace-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("CANNOT CREATE a v1 cpu cgroup at {}: {e}", dir.display()));
        std::fs::write(dir.join("cpu.cfs_period_us"), period_us.to_string()).expect("set period");
        std::fs::write(dir.join("cpu.cfs_quota_us"), quota_us.to_string()).expect("set quota");
        QuotaCgroup { dir }
    }

    pub fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .expect("move into the cgroup");
    }

    /// The cgroup's directory in the cpu hierarchy.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn throttled_ns(&self) -> u64 {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).expect("cpu.stat");
        stat.lines()
            .find_map(|l| l.strip_prefix("throttled_time "))
            .and_then(|v| v.trim().parse().ok())
            .expect("throttled_time in cpu.stat")
    }

    /// The cgroup's path in its hierarchy, as /proc/PID/cgroup shows it.
    pub fn path(&self) -> String {
        format!(
            "/{}",
            self.dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        )
    }
}

impl Drop for QuotaCgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: killing what this test put in its own cgroup.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        // rmdir succeeds once the killed processes are gone.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits until `cond` holds, checking every 10 ms; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a thread of process `pid` is blocked in syscall `nr` now: the first field of
/// /proc/PID/task/TID/syscall is the number of the call a sleeping thread is in
/// ("running" while on a CPU).
pub fn in_syscall(pid: u32, nr: i64) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        t.file_name()
            .to_str()
            .and_then(|tid| tid.parse().ok())
            .is_some_and(|tid| thread_in_syscall(pid, tid, nr))
    })
}

/// Whether thread `tid` of process `pid` is blocked in syscall `nr` now (see
/// [`in_syscall`]).
pub fn thread_in_syscall(pid: u32, tid: u32, nr: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
        == Some(nr)
}

/// Sends `sig` to a process the test started.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Runs gotrace to completion (killing it after `timeout`).
pub fn gotrace(args: &[&str], timeout: Duration) -> Run {
    let child = gotrace_cmd(args).spawn().expect("spawn gotrace");
    wait_with_timeout(child, timeout)
}

/// A gotrace command with piped output, ready to spawn. It starts with the default
/// action for the signals that end gotrace, whatever this test process inherited: a
/// test run as a shell's background job ignores SIGINT, which gotrace would inherit, and
/// a SIGINT sent before gotrace's own handlers are in place would then be lost.
pub fn gotrace_cmd(args: &[&str]) -> Command {
    use std::os::unix::process::CommandExt as _;
    let mut c = Command::new(gotrace_bin());
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        c.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    c
}

/// Waits for a child with piped stdout/stderr, killing it after `timeout`.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Run {
    let out = Collected::start(child.stdout.take().expect("piped stdout"));
    let err = Collected::start(child.stderr.take().expect("piped stderr"));
    let start = Instant::now();
    let pid = child.id() as libc::pid_t;
    let (status, max_rss_kib) = loop {
        let mut raw = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our unreaped child; status and usage point to valid memory.
        let r = unsafe { libc::wait4(pid, &mut raw, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            use std::os::unix::process::ExitStatusExt as _;
            break (ExitStatus::from_raw(raw), usage.ru_maxrss as u64);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let s = child.wait().expect("wait");
            panic!(
                "timed out after {timeout:?} (killed: {s}); stderr so far:\n{}",
                err.so_far()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The pipes close when the last process holding them exits: one that outlives
    // gotrace (a launched command it failed to stop) is a failure, said, not a hang.
    let (stdout, stderr) = (out.finish(), err.finish());
    Run {
        status,
        stdout: stdout.unwrap_or_else(|partial| {
            panic!("gotrace exited ({status}) but something it started still holds its stdout:\n{partial}")
        }),
        stderr: stderr.unwrap_or_else(|partial| {
            panic!("gotrace exited ({status}) but something it started still holds its stderr:\n{partial}")
        }),
        max_rss_kib: Some(max_rss_kib),
    }
}

/// A pipe read to its end on a thread of its own; what was read is available before
/// the end too.
pub struct Collected {
    buf: std::sync::Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Collected {
    pub fn start(mut r: impl Read + Send + 'static) -> Collected {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(());
        });
        Collected { buf, done }
    }

    pub fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Everything, once the pipe's writers are all gone (within 10 s of gotrace's exit);
    /// else what was read.
    pub fn finish(&self) -> Result<String, String> {
        match self.done.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => Ok(self.so_far()),
            Err(_) => Err(self.so_far()),
        }
    }
}

/// Reads lines from a child's stderr until one contains `needle`; returns the reader
/// (to keep the pipe open) and everything read.
pub fn wait_for_line<R: Read>(r: R, needle: &str, timeout: Duration) -> (BufReader<R>, String) {
    let mut reader = BufReader::new(r);
    let start = Instant::now();
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read line");
        seen.push_str(&line);
        if line.contains(needle) {
            return (reader, seen);
        }
        assert!(n > 0, "stream ended before {needle:?}; got:\n{seen}");
        assert!(
            start.elapsed() < timeout,
            "no {needle:?} within {timeout:?}; got:\n{seen}"
        );
    }
}

/// Runs `gotrace --no-tui --json FILE OPTS -- CMD...` to completion (killed after
/// `timeout`), with FILE in a fresh scratch directory named after `name`; returns the run
/// and the trace it wrote.
pub fn trace_command(
    name: &str,
    opts: &[&str],
    cmd: &[&str],
    timeout: Duration,
) -> (Run, Vec<Line>) {
    let json = scratch(name).join("trace.ndjson");
    let json_s = json.display().to_string();
    let mut args = vec!["--no-tui", "--json", json_s.as_str()];
    args.extend_from_slice(opts);
    args.push("--");
    args.extend_from_slice(cmd);
    let run = gotrace(&args, timeout);
    let lines = read_trace(&json);
    (run, lines)
}

/// Parses an NDJSON trace with the typed schema (unknown fields are errors: every field
/// gotrace writes is in the schema).
pub fn read_trace(path: &Path) -> Vec<Line> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            schema::parse_strict(l)
                .unwrap_or_else(|e| panic!("line {} of {}: {e}\n{l}", i + 1, path.display()))
        })
        .collect()
}

/// The summary line of a trace (which must be the last line).
pub fn summary_of(lines: &[Line]) -> &schema::Summary {
    match lines.last() {
        Some(Line::Summary(s)) => s,
        other => panic!("last line is not the summary: {other:?}"),
    }
}

/// A syscall's row in a summary.
pub fn row<'a>(s: &'a schema::Summary, name: &str) -> &'a schema::SyscallSummary {
    s.syscalls
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {name} row in the summary; rows: {:?}",
                s.syscalls.iter().map(|r| &r.name).collect::<Vec<_>>()
            )
        })
}

/// The row of the text summary's syscall table for `name`, split in columns.
pub fn text_row<'a>(summary: &'a str, name: &str) -> Vec<&'a str> {
    summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} row in:\n{summary}"))
        .split_whitespace()
        .collect()
}

/// A gotrace started in the background that has attached (it printed "tracing pid").
pub struct Attached {
    pub child: Child,
    stderr: std::thread::JoinHandle<String>,
    seen: String,
}

impl Attached {
    /// Spawns gotrace with `args` and waits until it is tracing.
    pub fn start(args: &[&str]) -> Attached {
        let mut child = gotrace_cmd(args).spawn().expect("spawn gotrace");
        let stderr = child.stderr.take().expect("piped stderr");
        let (mut reader, seen) =
            wait_for_line(stderr, "gotrace: tracing pid", Duration::from_secs(30));
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            rest
        });
        Attached {
            child,
            stderr,
            seen,
        }
    }

    /// What gotrace printed on stderr before it was tracing.
    pub fn banner(&self) -> &str {
        &self.seen
    }

    /// Waits for gotrace to finish (killing it after `timeout`).
    pub fn finish(mut self, timeout: Duration) -> Run {
        let mut out = self.child.stdout.take().expect("piped stdout");
        let t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("gotrace did not finish within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let rest = self.stderr.join().unwrap_or_default();
        Run {
            status,
            stdout: t.join().unwrap_or_default(),
            stderr: format!("{}{rest}", self.seen),
            max_rss_kib: None,
        }
    }
}

/// A child process killed and reaped on drop, however the test ends.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes a named pipe (FIFO) at `path`; returns `path` as a string.
pub fn mkfifo(path: &Path) -> String {
    let s = path.display().to_string();
    let c = std::ffi::CString::new(s.clone()).expect("a path without NUL");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {s}");
    s
}

/// Names of gotrace's programs currently loaded in the kernel (bpftool prog show).
pub fn loaded_gotrace_programs() -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("bpftool (installed by `cargo xtask setup` for the tests) must run");
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let progs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    // The kernel keeps 15 characters of a program's name; bpftool shows the whole name
    // from the program's BTF when it has it.
    let ours = |n: &str| n == "sys_enter" || n == "sys_exit" || n.starts_with("sched_process_");
    progs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
                .filter(|n| ours(n))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Panics if gotrace's programs are still loaded 5 s after the last gotrace ended.
pub fn assert_nothing_left_behind() {
    // The kernel frees a program after an RCU grace period once its last fd is closed,
    // so a just-exited gotrace's programs can be listed for a moment.
    let mut left = Vec::new();
    for _ in 0..50 {
        left = loaded_gotrace_programs();
        if left.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("eBPF programs left behind: {left:?}");
}

/// Every streamed call's time is split whole: on a CPU, waiting for one, blocked.
pub fn assert_splits_add_up(lines: &[Line]) {
    for l in lines {
        if let Line::Syscall(c) = l {
            let parts = c.on_cpu_ns + c.runq_ns + c.blocked_ns;
            assert!(
                parts.abs_diff(c.duration_ns) <= 1_000,
                "the split of a {} call does not add up to its {} ns: {c:?}",
                c.name,
                c.duration_ns
            );
        }
    }
}
