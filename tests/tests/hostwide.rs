//! `--all`: gotrace traces every Go process of the machine (or of one cgroup subtree):
//! those running when it starts and those that exec a Go program later. Workloads with
//! exact syscall counts must each be picked up, counted exactly and labelled; a process
//! that is not Go, one outside the `--cgroup` subtree and one beyond `--max-processes`
//! must not be traced; an exited one's series stay for `--forget-after`, then go.
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{mpsc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use gotrace_tests::{
    assert_nothing_left_behind, go_version, gotrace, gotrace_bin, gotrace_cmd,
    prometheus::{http_get, samples, served_at, Prometheus, Sample},
    read_trace, require_root, scratch, signal,
    tmux::Tmux,
    workload, Collected, Killed, Line, Run,
};

/// How long any one wait may take: CI runs these on a loaded 2-core VM.
const T: Duration = Duration::from_secs(90);

/// Each `exact` workload sleeps this many times, this long (clock_nanosleep).
const SLEEPS: u64 = 5;
const SLEEP_MS: u64 = 20;

/// Every test here runs a `gotrace --all`, which would trace the other tests' workloads
/// (and their Prometheus, a Go program) and take their slots, and `all_mode_bad_input`
/// counts the gotrace programs loaded in the kernel: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// One scrape of gotrace's `/metrics`.
struct Scrape {
    body: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The value of the first `name` sample carrying all of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
            .map(|s| s.value)
    }

    /// The value of process `pid`'s `name` series for `syscall`.
    fn syscall(&self, name: &str, pid: u32, syscall: &str) -> Option<f64> {
        self.value(name, &[("pid", &pid.to_string()), ("syscall", syscall)])
    }

    /// The value of the unlabelled series `name`.
    fn gauge(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels.is_empty())
            .map(|s| s.value)
    }

    /// Whether any series carries `pid`.
    fn has_pid(&self, pid: u32) -> bool {
        let pid = pid.to_string();
        self.samples.iter().any(|s| s.label("pid") == pid)
    }

    /// The `gotrace_process_info` series.
    fn infos(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == "gotrace_process_info")
            .collect()
    }

    fn info(&self, pid: u32) -> Option<&Sample> {
        let pid = pid.to_string();
        self.infos().into_iter().find(|s| s.label("pid") == pid)
    }
}

/// A `gotrace --all` running in the background; killed on drop.
struct Gotrace {
    child: Child,
    stdout: Collected,
    stderr: Collected,
    /// Its line `gotrace: tracing every Go process (N now), ...`.
    banner: String,
    metrics: Option<SocketAddr>,
}

impl Gotrace {
    /// Spawns gotrace with `args` and waits for its banner (and, with --prometheus, the
    /// address of its metrics).
    fn start(args: &[&str]) -> Gotrace {
        let mut child = gotrace_cmd(args).spawn().expect("spawn gotrace");
        let stdout = Collected::start(child.stdout.take().expect("piped stdout"));
        let stderr = Collected::start(child.stderr.take().expect("piped stderr"));
        let serves = args.contains(&"--prometheus");
        let start = Instant::now();
        loop {
            let err = stderr.so_far();
            let banner = err
                .lines()
                .find(|l| l.starts_with("gotrace: tracing every Go process"));
            let served = err.contains("gotrace: serving metrics at http://");
            if let Some(banner) = banner {
                if served || !serves {
                    let banner = banner.to_string();
                    let metrics = serves.then(|| served_at(&err));
                    return Gotrace {
                        child,
                        stdout,
                        stderr,
                        banner,
                        metrics,
                    };
                }
            }
            if let Some(status) = child.try_wait().expect("try_wait gotrace") {
                panic!(
                    "gotrace {args:?} exited ({status}) before it was tracing; stderr:\n{}",
                    stderr.so_far()
                );
            }
            if start.elapsed() > T {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "gotrace {args:?} was not tracing within {T:?}; stderr:\n{}",
                    stderr.so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// N of the banner's "(N now)" (after the cgroup, if any): the Go processes traced
    /// from the start.
    fn now(&self) -> u64 {
        self.banner
            .split_once(" now)")
            .and_then(|(head, _)| head.rsplit_once('('))
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no \"(N now)\" in the banner: {:?}", self.banner))
    }

    fn metrics_addr(&self) -> SocketAddr {
        self.metrics.expect("gotrace was started with --prometheus")
    }

    /// GET /metrics; a failure is said with gotrace's stderr.
    fn scrape(&self) -> Scrape {
        match http_get(self.metrics_addr(), "/metrics") {
            Ok((200, body)) => Scrape {
                samples: samples(&body),
                body,
            },
            other => panic!(
                "GET http://{}/metrics: {other:?}\n--- gotrace's stderr ---\n{}",
                self.metrics_addr(),
                self.stderr.so_far()
            ),
        }
    }

    /// For an assertion's message: gotrace's stderr and the /metrics body `body`
    /// (without its comments and histogram buckets, which would bury the rest).
    fn context(&self, body: &str) -> String {
        let series: Vec<&str> = body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
            .collect();
        format!(
            "\n--- gotrace's stderr ---\n{}\n--- its /metrics (comments and buckets left out) ---\n{}\n",
            self.stderr.so_far(),
            series.join("\n")
        )
    }

    /// [`Gotrace::context`] with a fresh scrape, for the waits on Prometheus.
    fn context_now(&self) -> String {
        let body = match http_get(self.metrics_addr(), "/metrics") {
            Ok((_, body)) => body,
            Err(e) => format!("(GET /metrics failed: {e})"),
        };
        self.context(&body)
    }

    /// Scrapes /metrics until `cond` holds; panics naming `what` after `T` (or at once
    /// when gotrace no longer answers: [`Gotrace::scrape`]).
    fn wait(&self, what: &str, mut cond: impl FnMut(&Scrape) -> bool) -> Scrape {
        let start = Instant::now();
        loop {
            let m = self.scrape();
            if cond(&m) {
                return m;
            }
            assert!(
                start.elapsed() < T,
                "waited {T:?} for {what}{}",
                self.context(&m.body)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops gotrace as Ctrl-C does and waits for it to finish.
    fn stop(mut self) -> Run {
        signal(self.pid(), libc::SIGINT);
        let start = Instant::now();
        let status: ExitStatus = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait gotrace") {
                break s;
            }
            assert!(
                start.elapsed() < T,
                "gotrace did not stop within {T:?} of SIGINT; stderr:\n{}",
                self.stderr.so_far()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            status,
            stdout: self.stdout.finish().unwrap_or_else(|s| s),
            stderr: self.stderr.finish().unwrap_or_else(|s| s),
            max_rss_kib: None,
        }
    }
}

impl Drop for Gotrace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `exact` workload that printed "ready" and waits for SIGUSR1; killed on drop.
struct Exact {
    proc: Killed,
    lines: mpsc::Receiver<String>,
    goroutines: u64,
    n: u64,
    enoent: u64,
}

impl Exact {
    /// `goroutines` × `n` getppid calls, `enoent` failing open calls, [`SLEEPS`] sleeps
    /// of [`SLEEP_MS`]; with `linger` it sleeps until killed afterwards, else it exits.
    fn start(goroutines: u64, n: u64, enoent: u64, linger: bool) -> Exact {
        let mut cmd = Command::new(workload("exact"));
        cmd.args(["-goroutines", &goroutines.to_string()])
            .args(["-n", &n.to_string()])
            .args(["-enoent", &enoent.to_string()])
            .args(["-sleeps", &SLEEPS.to_string()])
            .args(["-sleep-ms", &SLEEP_MS.to_string()])
            .arg("-wait-signal");
        if linger {
            cmd.arg("-linger");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the exact workload");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let w = Exact {
            proc: Killed(child),
            lines,
            goroutines,
            n,
            enoent,
        };
        w.expect_line("ready");
        w
    }

    fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    /// The workload's next line starting with `prefix` (waited for up to `T`).
    fn expect_line(&self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            let left = T.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(e) => panic!(
                    "exact workload {}: no {prefix:?} line within {T:?} ({e})",
                    self.pid()
                ),
            }
        }
    }

    /// Sends SIGUSR1: the workload does its work.
    fn go(&self) {
        signal(self.pid(), libc::SIGUSR1);
    }

    /// Waits for the end of the work; returns the extra clock_nanosleep calls that
    /// signals caused (the workload's "done sleep-retries=R").
    fn done(&self) -> u64 {
        let done = self.expect_line("done");
        done.strip_prefix("done sleep-retries=")
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or_else(|| panic!("exact workload {}: {done:?}", self.pid()))
    }

    fn getppid(&self) -> u64 {
        self.goroutines * self.n
    }
}

/// A v1 cpu cgroup without a quota, removed on drop (its processes killed first).
struct CpuCgroup {
    dir: PathBuf,
}

impl CpuCgroup {
    fn new(name: &str) -> CpuCgroup {
        let dir = PathBuf::from(format!(
            "/sys/fs/cgroup/cpu/gotrace-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("CANNOT CREATE a v1 cpu cgroup at {}: {e}", dir.display()));
        CpuCgroup { dir }
    }

    fn procs(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("move {pid} into {}: {e}", self.dir.display()));
        assert!(
            self.procs().contains(&pid),
            "{pid} is not in {}/cgroup.procs after the move: {:?}",
            self.dir.display(),
            self.procs()
        );
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        for p in self.procs() {
            // SAFETY: kill(2) of what this test put in its own cgroup.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        // rmdir succeeds once the killed processes are gone.
        let start = Instant::now();
        while std::fs::remove_dir(&self.dir).is_err() && start.elapsed() < T {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// getppid on x86_64.
const NR_GETPPID: Option<u32> = Some(110);

/// What the running gotrace's kernel maps hold of one process's calls (of syscall `nr`,
/// or of all): its entries in host-wide mode's per-CPU front (PROC_FRONT) and in the
/// hash behind it (PROC_SYSCALLS), and the calls they count, read from the maps the
/// gotrace of pid `gotrace` holds.
#[derive(Debug, Default)]
struct KernelEntries {
    front_entries: u64,
    front_calls: u64,
    hash_entries: u64,
    hash_calls: u64,
}

impl KernelEntries {
    fn of(gotrace: u32, pid: u32, nr: Option<u32>) -> KernelEntries {
        use aya::maps::{Array, HashMap, Map};
        use tracer_common::{maps, ProcFront, ProcStats, ProcSyscallKey};
        let ours = |tgid: u32, sc: u32| tgid == pid && nr.is_none_or(|n| n == sc);
        let mut k = KernelEntries::default();
        let front: Array<_, ProcFront> =
            Array::try_from(Map::Array(loaded_map(gotrace, maps::PROC_FRONT))).expect("PROC_FRONT");
        for i in 0..front.len() {
            let e = front.get(&i, 0).expect("read PROC_FRONT");
            if e.key != 0 && ours((e.key >> 32) as u32, e.key as u32) {
                k.front_entries += 1;
                k.front_calls += e.stats.calls;
            }
        }
        let hash: HashMap<_, ProcSyscallKey, ProcStats> =
            HashMap::try_from(Map::HashMap(loaded_map(gotrace, maps::PROC_SYSCALLS)))
                .expect("PROC_SYSCALLS");
        for item in hash.iter() {
            let (key, v) = item.expect("read PROC_SYSCALLS");
            if ours(key.tgid, key.nr) {
                k.hash_entries += 1;
                k.hash_calls += v.stats.calls;
            }
        }
        k
    }
}

/// The map called `name` that process `owner` (a gotrace) holds open, found through
/// its fds (/proc/PID/fdinfo names each one's map id): not another gotrace's, such as
/// one a previous test ran whose maps the kernel has not freed yet.
fn loaded_map(owner: u32, name: &str) -> aya::maps::MapData {
    let dir = format!("/proc/{owner}/fdinfo");
    let ids = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("map_id:"))
                .and_then(|id| id.trim().parse::<u32>().ok())
        });
    for id in ids {
        let Ok(info) = aya::maps::MapInfo::from_id(id) else {
            continue;
        };
        // The kernel keeps 15 characters of a name.
        if info.name_as_str() == Some(name) {
            return aya::maps::MapData::from_id(id)
                .unwrap_or_else(|e| panic!("open map {name} (id {id}): {e}"));
        }
    }
    panic!("gotrace (pid {owner}) holds no map {name}")
}

fn assert_clean_stop(run: &Run) {
    assert!(
        run.status.success(),
        "gotrace did not exit 0 after SIGINT ({}); stderr:\n{}\nstdout:\n{}",
        run.status,
        run.stderr,
        run.stdout
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Two `exact` workloads running before gotrace starts and one started after: each is
/// picked up, and a real Prometheus scraping gotrace has each one's exact counts under
/// its own pid, with its labels; a process that is not Go has no series.
#[test]
fn all_mode_gives_prometheus_exact_counts_per_process() {
    if !require_root("all_mode_gives_prometheus_exact_counts_per_process") {
        return;
    }
    let _serial = serial();
    // Asked before gotrace starts: `go` is a Go program too.
    let gover = go_version();
    let mut workloads = vec![
        Exact::start(2, 3000, 3, true),
        Exact::start(3, 5000, 5, true),
    ];
    let not_go = Killed(
        Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("start sleep"),
    );
    let g = Gotrace::start(&["--all", "--no-tui", "--prometheus", "127.0.0.1:0"]);
    assert!(
        g.now() >= 2,
        "two Go workloads ran before gotrace started, banner: {:?}{}",
        g.banner,
        g.context_now()
    );
    let prom = Prometheus::start("hostwide-exact", g.metrics_addr());
    // Picked up from its exec of a Go program, not from the scan at the start.
    workloads.push(Exact::start(4, 2500, 4, true));

    let ctx = || g.context_now();
    let mut retries = Vec::new();
    for w in &workloads {
        let pid = w.pid();
        let info = prom.wait_for_with(&format!("gotrace_process_info{{pid=\"{pid}\"}}"), "1", ctx);
        let labelled = |labels: &serde_json::Value| {
            assert_eq!(labels["comm"], "exact", "pid {pid}: {labels}{}", ctx());
            assert_eq!(
                labels["go_version"],
                gover.as_str(),
                "pid {pid}: {labels}{}",
                ctx()
            );
            assert_eq!(labels["job"], "gotrace", "pid {pid}: {labels}{}", ctx());
            assert!(
                labels["cgroup"]
                    .as_str()
                    .is_some_and(|c| c.starts_with('/')),
                "pid {pid}: no cgroup path: {labels}{}",
                ctx()
            );
        };
        labelled(&info);
        w.go();
        let r = w.done();
        retries.push((pid, r));

        let sel = |syscall: &str| format!("{{pid=\"{pid}\",syscall=\"{syscall}\"}}");
        let labels = prom.wait_for_with(
            &format!("gotrace_syscalls_total{}", sel("getppid")),
            &w.getppid().to_string(),
            ctx,
        );
        labelled(&labels);
        prom.wait_for_with(
            &format!("gotrace_syscall_errors_total{}", sel("getppid")),
            "0",
            ctx,
        );
        // open(2), not openat: exact.go calls it on a missing path, and neither Go's
        // runtime nor its os package ever does.
        let enoent = w.enoent.to_string();
        prom.wait_for_with(
            &format!("gotrace_syscalls_total{}", sel("open")),
            &enoent,
            ctx,
        );
        prom.wait_for_with(
            &format!("gotrace_syscall_errors_total{}", sel("open")),
            &enoent,
            ctx,
        );
        let sleeps = (SLEEPS + r).to_string();
        prom.wait_for_with(
            &format!("gotrace_syscalls_total{}", sel("clock_nanosleep")),
            &sleeps,
            ctx,
        );
        prom.wait_for_with(
            &format!(
                "gotrace_syscall_duration_seconds_bucket{{pid=\"{pid}\",syscall=\"clock_nanosleep\",le=\"+Inf\"}}"
            ),
            &sleeps,
            ctx,
        );
    }

    // The median of one workload's sleeps, from the histogram, is its 20 ms sleep: the
    // bucket around it is (2^24 - 1 ns, 1.5 × 2^24 - 1 ns] = (16.78 ms, 25.17 ms]. A
    // sleep a signal interrupted is two shorter calls, so a workload without retries.
    match retries.iter().find(|(_, r)| *r == 0) {
        Some((pid, _)) => {
            let sel = format!("{{pid=\"{pid}\",syscall=\"clock_nanosleep\"}}");
            let q = prom.query(&format!(
                "histogram_quantile(0.5, gotrace_syscall_duration_seconds_bucket{sel})"
            ));
            let median: f64 = q
                .first()
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| panic!("no median for pid {pid}: {q:?}{}", ctx()));
            eprintln!("median sleep of pid {pid} from the histogram: {median} s");
            let buckets = prom.query(&format!("gotrace_syscall_duration_seconds_bucket{sel}"));
            assert!(
                median > 0.016777215 && median <= 0.025165823,
                "median sleep {median} s, slept {SLEEP_MS} ms; buckets: {buckets:?}{}",
                ctx()
            );
        }
        None => eprintln!(
            "\n*** NO MEDIAN CHECK: every workload's sleeps were interrupted: {retries:?} ***\n"
        ),
    }

    // At least the three workloads (Prometheus is a Go program too).
    let start = Instant::now();
    loop {
        let traced = prom.query("gotrace_traced_processes");
        let n = traced
            .first()
            .and_then(|(_, v)| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if n >= 3.0 {
            break;
        }
        assert!(
            start.elapsed() < T,
            "gotrace_traced_processes: waited {T:?} for >= 3; last {traced:?}{}",
            ctx()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Neither the process that is not Go nor gotrace (Rust) has a series, in Prometheus
    // or on /metrics, though every workload's counts are complete by now.
    let m = g.scrape();
    for (what, pid) in [("sleep 600", not_go.0.id()), ("gotrace", g.pid())] {
        let series = prom.query(&format!("{{pid=\"{pid}\"}}"));
        assert!(
            series.is_empty(),
            "{what} (pid {pid}) is not a Go program, yet Prometheus has {series:?}{}",
            g.context(&m.body)
        );
        assert!(
            !m.has_pid(pid),
            "{what} (pid {pid}) is not a Go program, yet /metrics has it{}",
            g.context(&m.body)
        );
    }

    drop(prom);
    let run = g.stop();
    assert_clean_stop(&run);
    drop(workloads);
    drop(not_go);
}

/// `--all --cgroup DIR`: the workload moved into a v1 cpu cgroup is traced, with exact
/// counts; the one left outside, working at the same time, never appears.
#[test]
fn all_mode_cgroup_limits_to_the_subtree() {
    if !require_root("all_mode_cgroup_limits_to_the_subtree") {
        return;
    }
    let _serial = serial();
    // Asked before gotrace starts: `go` is a Go program too.
    let gover = go_version();
    let cg = CpuCgroup::new("hostwide");
    let cg_dir = cg.dir.clone();
    let inside = Exact::start(2, 4000, 6, true);
    let outside = Exact::start(3, 3000, 2, true);
    cg.add(inside.pid());
    let (pin, pout) = (inside.pid(), outside.pid());

    let dir = cg_dir.display().to_string();
    let g = Gotrace::start(&[
        "--all",
        "--cgroup",
        &dir,
        "--no-tui",
        "--prometheus",
        "127.0.0.1:0",
    ]);
    assert!(
        g.banner.contains("in cgroup"),
        "the banner does not name the cgroup: {:?}{}",
        g.banner,
        g.context_now()
    );
    assert_eq!(
        g.now(),
        1,
        "one Go process is in {dir} when gotrace starts; banner: {:?}{}",
        g.banner,
        g.context_now()
    );

    let context = |g: &Gotrace, m: &Scrape| g.context(&m.body);
    let outside_absent = |g: &Gotrace, m: &Scrape| {
        assert!(
            !m.has_pid(pout),
            "pid {pout} is outside {dir}, yet /metrics has it{}",
            context(g, m)
        );
    };
    let m = g.wait(&format!("pid {pin} (in {dir}) to be picked up"), |m| {
        m.info(pin).is_some()
    });
    outside_absent(&g, &m);
    let info = m.info(pin).expect("just waited for it");
    assert_eq!(info.label("comm"), "exact", "{info:?}{}", context(&g, &m));
    assert_eq!(
        info.label("go_version"),
        gover,
        "{info:?}{}",
        context(&g, &m)
    );

    // Both work: the one outside makes the same calls, and must still not be counted.
    inside.go();
    outside.go();
    let r = inside.done();
    outside.done();
    let want = [
        ("gotrace_syscalls_total", "getppid", inside.getppid()),
        ("gotrace_syscalls_total", "open", inside.enoent),
        ("gotrace_syscall_errors_total", "open", inside.enoent),
        ("gotrace_syscalls_total", "clock_nanosleep", SLEEPS + r),
    ];
    let m = g.wait(&format!("the exact counts of pid {pin}"), |m| {
        want.iter()
            .all(|&(name, sc, v)| m.syscall(name, pin, sc) == Some(v as f64))
    });
    // The counts of the one inside are complete: had the one outside been traced, its
    // own would be there too.
    outside_absent(&g, &m);
    let infos: Vec<&str> = m.infos().iter().map(|s| s.label("pid")).collect();
    assert_eq!(
        infos,
        [pin.to_string().as_str()],
        "only the process in {dir} is traced{}",
        context(&g, &m)
    );
    assert_eq!(
        m.gauge("gotrace_traced_processes"),
        Some(1.0),
        "{}",
        context(&g, &m)
    );

    let run = g.stop();
    assert_clean_stop(&run);
    drop(inside);
    drop(outside);
    drop(cg);
    assert!(
        !cg_dir.exists(),
        "the test's cgroup {} could not be removed",
        cg_dir.display()
    );
}

/// `--all --max-processes 2` with three Go workloads: at most two are traced, the
/// others are counted as without a slot, on /metrics and in the summary.
#[test]
fn all_mode_counts_processes_without_a_slot() {
    if !require_root("all_mode_counts_processes_without_a_slot") {
        return;
    }
    let _serial = serial();
    let workloads = [
        Exact::start(1, 1000, 1, true),
        Exact::start(1, 2000, 2, true),
        Exact::start(1, 3000, 3, true),
    ];
    let g = Gotrace::start(&[
        "--all",
        "--max-processes",
        "2",
        "--no-tui",
        "--prometheus",
        "127.0.0.1:0",
    ]);
    // Other Go processes of the machine may take slots too: what holds whatever they
    // are is that no more than two are traced and that the three workloads are among
    // the traced and the counted.
    let m = g.wait(
        "gotrace_untraced_processes_total >= 1, and traced + untraced >= 3",
        |m| {
            let untraced = m.gauge("gotrace_untraced_processes_total").unwrap_or(0.0);
            let traced = m.gauge("gotrace_traced_processes").unwrap_or(0.0);
            untraced >= 1.0 && traced + untraced >= 3.0
        },
    );
    let infos = m.infos();
    assert!(
        infos.len() <= 2,
        "{} processes traced with --max-processes 2{}",
        infos.len(),
        g.context(&m.body)
    );
    assert!(
        m.gauge("gotrace_traced_processes")
            .is_some_and(|n| n <= 2.0),
        "gotrace_traced_processes above --max-processes 2{}",
        g.context(&m.body)
    );

    // A slot frees when a traced process exits: a workload left waiting is taken then.
    let traced: Vec<&Exact> = workloads
        .iter()
        .filter(|w| m.info(w.pid()).is_some())
        .collect();
    let waiting: Vec<u32> = workloads
        .iter()
        .filter(|w| m.info(w.pid()).is_none())
        .map(Exact::pid)
        .collect();
    match (traced.first(), waiting.is_empty()) {
        (Some(first), false) => {
            let gone = first.pid();
            signal(gone, libc::SIGKILL);
            g.wait("a waiting workload takes the freed slot", |m| {
                waiting.iter().any(|&p| m.info(p).is_some())
            });
        }
        // Other Go processes of this machine hold the slots: nothing of ours to free.
        _ => eprintln!(
            "all_mode_counts_processes_without_a_slot: no workload of this test holds a slot; the freed-slot check did not run"
        ),
    }

    let run = g.stop();
    assert_clean_stop(&run);
    // "... · 3 processes (0 exited), 1 without a slot · ..."
    let without_a_slot = run.stdout.lines().find_map(|l| {
        let before = l
            .split(" without a slot")
            .next()
            .filter(|b| b.len() < l.len())?;
        before
            .rsplit(' ')
            .next()?
            .replace(',', "")
            .parse::<u64>()
            .ok()
    });
    assert!(
        without_a_slot.is_some_and(|n| n >= 1),
        "the summary does not count the processes without a slot:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    drop(workloads);
}

fn assert_one_line(run: &Run, code: i32, what: &str, has: &[&str]) {
    assert_eq!(
        run.code(),
        code,
        "{what}: exit code; stderr:\n{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "{what}: one line on stderr:\n{}",
        run.stderr
    );
    let line = run.stderr.trim_end();
    assert!(line.starts_with("gotrace: "), "{what}: {line}");
    for h in has {
        assert!(line.contains(h), "{what}: no {h:?} in {line:?}");
    }
    assert!(run.stdout.is_empty(), "{what}: stdout:\n{}", run.stdout);
    assert!(
        !line.contains("panicked") && !line.contains("backtrace"),
        "{what}: {line}"
    );
}

/// `--all` with a target, `--cgroup` without `--all`, and a cgroup that does not exist:
/// one line on stderr, exit 2 for usage errors and 1 for the missing cgroup, and no
/// gotrace program left in the kernel.
#[test]
fn all_mode_bad_input() {
    if !require_root("all_mode_bad_input") {
        return;
    }
    let _serial = serial();
    let me = std::process::id().to_string();
    let t = Duration::from_secs(60);

    let run = gotrace(&["--all", "--pid", &me, "--no-tui"], t);
    assert_one_line(&run, 2, "--all --pid", &["--all"]);
    assert_nothing_left_behind();

    let run = gotrace(&["--all", "--no-tui", "--", "/bin/true"], t);
    assert_one_line(&run, 2, "--all -- /bin/true", &["--all"]);
    assert_nothing_left_behind();

    // With a --pid, so the usage error can only be the --cgroup's (without one gotrace
    // would refuse to run for want of a target).
    let run = gotrace(&["--cgroup", "/sys/fs/cgroup", "--pid", &me, "--no-tui"], t);
    assert_one_line(&run, 2, "--cgroup without --all", &["--cgroup", "--all"]);
    assert_nothing_left_behind();

    let missing = "/sys/fs/cgroup/no-such-group-xyz";
    let run = gotrace(&["--all", "--cgroup", missing, "--no-tui"], t);
    assert_one_line(
        &run,
        1,
        "a cgroup that does not exist",
        &["no cgroup", missing],
    );
    assert_nothing_left_behind();
}

/// `--all --forget-after 5s`: an exited workload's series stay on /metrics from its
/// exit for the forget time, then go.
#[test]
fn all_mode_forgets_exited_processes() {
    if !require_root("all_mode_forgets_exited_processes") {
        return;
    }
    let _serial = serial();
    // Longer than the "~2 s" it could be: the series must be seen between the exit
    // and the forgetting, and a loaded VM can stall a test thread for a second.
    // Longer still for the reads of the kernel's maps in between.
    const FORGET: Duration = Duration::from_secs(8);
    let mut w = Exact::start(2, 2000, 2, false);
    let pid = w.pid();
    let g = Gotrace::start(&[
        "--all",
        "--forget-after",
        "8s",
        "--no-tui",
        "--prometheus",
        "127.0.0.1:0",
    ]);
    g.wait(&format!("pid {pid} to be picked up"), |m| {
        m.info(pid).is_some()
    });
    w.go();

    // Until it has exited, its series never go.
    let start = Instant::now();
    let exited_at = loop {
        if let Some(status) = w.proc.0.try_wait().expect("try_wait exact") {
            assert!(status.success(), "the exact workload failed: {status}");
            break Instant::now();
        }
        let m = g.scrape();
        assert!(
            m.info(pid).is_some(),
            "pid {pid}'s series went while it was still running{}",
            g.context(&m.body)
        );
        assert!(
            start.elapsed() < T,
            "the exact workload did not finish within {T:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = w.done();

    // Right after the exit they are still there, and its counts are complete.
    let m = g.scrape();
    assert!(
        m.info(pid).is_some(),
        "pid {pid}'s series went at once when it exited, not after --forget-after{}",
        g.context(&m.body)
    );
    let want = [
        ("gotrace_syscalls_total", "getppid", w.getppid()),
        ("gotrace_syscall_errors_total", "open", w.enoent),
        ("gotrace_syscalls_total", "clock_nanosleep", SLEEPS + r),
    ];
    g.wait(&format!("the exact counts of exited pid {pid}"), |m| {
        assert!(
            m.info(pid).is_some(),
            "pid {pid}'s series went before its counts were complete{}",
            g.context(&m.body)
        );
        want.iter()
            .all(|&(name, sc, v)| m.syscall(name, pid, sc) == Some(v as f64))
    });
    // In the kernel, its getppid calls are split between the hash and the per-CPU front
    // before it, each call in one of them: a (process, syscall) takes a front entry
    // once it is busy (256 calls within a second on a CPU: it makes 2 x 2,000 in a
    // tight loop), so its first calls are in the hash. Together, exactly the calls made.
    let held = KernelEntries::of(g.pid(), pid, NR_GETPPID);
    eprintln!("pid {pid}'s getppid in the kernel: {held:?}");
    assert!(
        g.scrape().info(pid).is_some(),
        "pid {pid} was forgotten before its kernel entries were read: the test was too slow"
    );
    assert!(
        held.front_entries >= 1 && held.hash_entries >= 1,
        "pid {pid}'s getppid is not in both PROC_FRONT and PROC_SYSCALLS: {held:?}"
    );
    assert_eq!(
        held.front_calls + held.hash_calls,
        w.getppid(),
        "pid {pid}'s getppid calls in PROC_FRONT + PROC_SYSCALLS: {held:?}"
    );

    // Then every series of the pid goes.
    let forget_by = Duration::from_secs(30);
    let start = Instant::now();
    loop {
        let m = g.scrape();
        if !m.has_pid(pid) {
            break;
        }
        assert!(
            start.elapsed() < forget_by,
            "pid {pid}'s series are still there {forget_by:?} after it exited, with --forget-after 5s{}",
            g.context(&m.body)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone_after = exited_at.elapsed();
    eprintln!("pid {pid}'s series went {gone_after:?} after it exited");
    // And its kernel entries went with them: none left in either map, of any syscall.
    let left = KernelEntries::of(g.pid(), pid, None);
    assert_eq!(
        left.front_entries + left.hash_entries,
        0,
        "pid {pid} is forgotten, yet the kernel keeps {left:?}"
    );
    // gotrace saw the exit a little before this test did: a margin for that lag.
    assert!(
        gone_after >= FORGET - Duration::from_secs(2),
        "pid {pid}'s series went {gone_after:?} after it exited, with --forget-after 5s"
    );

    let run = g.stop();
    assert_clean_stop(&run);
}

/// `--all` on a terminal: the dashboard opens on the process list, Enter opens a
/// process's own dashboard, Esc goes back, q prints the summary and restores the
/// terminal.
#[test]
fn all_mode_dashboard_lists_processes_and_opens_one() {
    if !require_root("all_mode_dashboard_lists_processes_and_opens_one") {
        return;
    }
    let _serial = serial();
    let w = Exact::start(2, 3000, 3, true);
    let pid = w.pid().to_string();
    let t = Tmux::start("gotrace-all-tui");
    t.wait_for(&["PROMPT>"], T);
    t.keys(&[&format!("{} --all", gotrace_bin().display()), "Enter"]);
    // The list's keys in its footer. Whatever is asserted on one screen is waited for
    // together: a capture can land while tmux is still applying a frame.
    t.wait_for(
        &["gotrace --all", "Go process", "SYSCALLS", "enter open"],
        T,
    );
    // The workload's row: its pid and command.
    let row = |s: &str| {
        s.lines()
            .find(|l| {
                l.trim_start_matches(['│', ' '])
                    .starts_with(&format!("{pid} "))
            })
            .map(str::to_string)
    };
    t.wait_until(
        T,
        Tmux::visible,
        |s| row(s).is_some_and(|line| line.contains("exact")),
        || format!("no row for pid {pid} naming its command"),
    );
    w.go();
    w.done();
    // Other Go processes of the machine may be listed too: Enter opens the selected
    // one; Esc and j move on until the workload's own dashboard is open.
    let mut opened = String::new();
    for _ in 0..64 {
        t.keys(&["Enter"]);
        // What the pane shows now: the scrollback may hold an earlier process's.
        let s = t.wait_until(
            T,
            Tmux::visible,
            |s| s.contains("back to the process list (showing pid "),
            || "Enter opened no process".to_string(),
        );
        if s.contains(&format!("showing pid {pid})")) {
            opened = s;
            break;
        }
        t.keys(&["Escape"]);
        t.wait_gone("back to the process list", T);
        t.keys(&["j"]);
    }
    assert!(!opened.is_empty(), "never opened pid {pid} with Enter");
    // Its own dashboard, with its exact calls once a tick has read them.
    t.wait_until(
        T,
        Tmux::visible,
        |s| {
            s.contains(&format!("pid {pid}"))
                && s.contains("getppid")
                && s.contains("Where the time went")
        },
        || format!("pid {pid}'s dashboard never showed its getppid calls"),
    );
    t.keys(&["Escape"]);
    t.wait_gone("back to the process list", T);
    t.wait_for(&["SYSCALLS"], T);
    t.keys(&["q"]);
    let s = t.wait_for(
        &[
            "PROMPT>",
            "gotrace: every Go process",
            &format!("── pid {pid} ──"),
        ],
        T,
    );
    assert!(s.contains("getppid"), "{s}");
    t.keys(&[
        "stty -a | grep -oE '(^| )(icanon|echo|icrnl|opost)( |$)' | wc -l",
        "Enter",
    ]);
    t.wait_for(&["\n4\nPROMPT>"], T);
    drop(w);
}

/// `--all --json`: every line is in the schema, the trace ends with the `hostwide` line
/// holding each process's summary with its exact counts, and `report` reads it back as
/// gotrace printed it.
#[test]
fn all_mode_json_ends_with_every_process_and_report_reads_it() {
    if !require_root("all_mode_json_ends_with_every_process_and_report_reads_it") {
        return;
    }
    let _serial = serial();
    let w = Exact::start(2, 2500, 4, true);
    let dir = scratch("hostwide-json");
    let json = dir.join("all.ndjson");
    let json_arg = json.display().to_string();
    let g = Gotrace::start(&[
        "--all",
        "--no-tui",
        "--json",
        &json_arg,
        "--prometheus",
        "127.0.0.1:0",
    ]);
    g.wait("the workload is picked up", |m| m.info(w.pid()).is_some());
    w.go();
    let retries = w.done();
    g.wait("its getppid calls are counted", |m| {
        m.syscall("gotrace_syscalls_total", w.pid(), "getppid") == Some(w.getppid() as f64)
    });
    let run = g.stop();
    assert_clean_stop(&run);

    let lines = read_trace(&json);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("the trace starts with its header: {:?}", lines.first());
    };
    assert_eq!(
        (h.target.pid, h.target.command.as_slice()),
        (0, &["--all".to_string()][..])
    );
    let Some(Line::Hostwide(end)) = lines.last() else {
        panic!("the trace ends with the hostwide line: {:?}", lines.last());
    };
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|l| !matches!(l, Line::Header(_) | Line::Summary(_) | Line::Hostwide(_))),
        "one header, one end"
    );
    let p = end
        .processes
        .iter()
        .find(|p| p.pid == w.pid())
        .unwrap_or_else(|| panic!("pid {} not in the hostwide line: {end:?}", w.pid()));
    let calls = |name: &str| {
        p.summary
            .syscalls
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.calls, s.errors))
    };
    assert_eq!(calls("getppid"), Some((w.getppid(), 0)));
    assert_eq!(calls("open"), Some((4, 4)));
    assert_eq!(
        calls("clock_nanosleep").map(|c| c.0),
        Some(SLEEPS + retries)
    );
    assert_eq!(p.summary.go_version.as_deref(), Some(go_version().as_str()));
    assert!(!p.exited, "it still runs");
    assert!(end.traced >= 1 && end.untraced == 0, "{end:?}");

    // report prints what gotrace printed at the end.
    let report = Command::new(gotrace_bin())
        .args(["report", &json_arg])
        .output()
        .expect("run gotrace report");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success(), "report: {report:?}");
    assert_eq!(text, run.stdout, "report's text is the live summary");
    assert!(text.contains(&format!("── pid {} ──", w.pid())), "{text}");
    // --json: the hostwide line as written.
    let report = Command::new(gotrace_bin())
        .args(["report", "--json", &json_arg])
        .output()
        .expect("run gotrace report --json");
    let last = std::fs::read_to_string(&json)
        .expect("read the trace")
        .lines()
        .last()
        .map(str::to_string)
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&report.stdout).trim_end(), last);
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}
