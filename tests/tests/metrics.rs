//! `--prometheus`: a real Prometheus server (Debian's, installed by `cargo xtask setup`)
//! scrapes gotrace while it traces a Go program with exact syscall counts, and its HTTP
//! query API must return those counts, the program's labels, and a latency quantile
//! that is the program's sleep.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use gotrace_tests::{
    go_version, require_root, scratch, signal, wait_for_line, workload, Attached, Killed,
};

const T: Duration = Duration::from_secs(60);

/// A GET over HTTP/1.0: (status, body).
fn http_get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<(u32, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server on a loopback port, scraping `target` every second; killed and
/// its data removed on drop.
struct Prometheus {
    child: Killed,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    fn start(name: &str, target: SocketAddr) -> Prometheus {
        let bin = which("prometheus").expect(
            "prometheus (Debian's package, installed by `cargo xtask setup` for the tests) must be on PATH",
        );
        let dir = scratch(name);
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: gotrace\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // Prometheus cannot say which port it took for :0: a free one is picked here,
        // and another if it was taken in between.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut child = Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start prometheus");
            let stderr = child.stderr.take().unwrap();
            // Its log, for a failure's message; read so it never blocks on a full pipe.
            let log = std::thread::spawn(move || {
                let mut s = String::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    s.push_str(&line);
                    s.push('\n');
                }
                s
            });
            let started = std::time::Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let log = log.join().unwrap_or_default();
                    if log.contains("address already in use") {
                        break;
                    }
                    panic!("prometheus exited ({status}):\n{log}");
                }
                if http_get(addr, "/-/ready").is_ok_and(|(code, _)| code == 200) {
                    return Prometheus {
                        child: Killed(child),
                        addr,
                        dir,
                    };
                }
                assert!(
                    started.elapsed() < T,
                    "prometheus was not ready within {T:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free port for prometheus after 5 tries");
    }

    /// An instant query's result vector: (labels, value).
    fn query(&self, q: &str) -> Vec<(serde_json::Value, String)> {
        let (code, body) = match http_get(self.addr, &format!("/api/v1/query?query={}", encode(q)))
        {
            Ok(r) => r,
            Err(_) => return Vec::new(),
        };
        assert_eq!(code, 200, "query {q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("query JSON");
        v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["metric"].clone(),
                            r["value"][1].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until query `q` has one result equal to `want`; returns its labels.
    fn wait_for(&self, q: &str, want: &str) -> serde_json::Value {
        let mut last = Vec::new();
        let start = std::time::Instant::now();
        loop {
            last = self.query(q);
            if let [(labels, v)] = last.as_slice() {
                if v == want {
                    return labels.clone();
                }
            }
            assert!(
                start.elapsed() < T,
                "{q}: waited {T:?} for {want}; last result {last:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}

/// The address gotrace said it serves metrics at.
fn served_at(banner: &str) -> SocketAddr {
    banner
        .lines()
        .find_map(|l| l.strip_prefix("gotrace: serving metrics at http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in:\n{banner}"))
}

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
