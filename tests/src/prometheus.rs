//! What the `--prometheus` tests share: a real Prometheus server (Debian's package,
//! installed by `cargo xtask setup`) scraping gotrace, its HTTP query API, a plain
//! HTTP GET of gotrace's own `/metrics`, and a reader of the exposition text.
//!
//! The exposition reader is written here rather than taken from a crate: the one crate
//! the product uses, `prometheus-client`, only encodes, and a test's reader must not
//! share code with the encoder it checks.
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{scratch, Killed};

/// How long a wait on Prometheus may take: CI runs on a loaded 2-core VM.
const T: Duration = Duration::from_secs(60);

/// A GET over HTTP/1.0: (status, body).
pub fn http_get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<(u32, String)> {
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
pub fn encode(q: &str) -> String {
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
pub struct Prometheus {
    child: Killed,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    pub fn start(name: &str, target: SocketAddr) -> Prometheus {
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
            let started = Instant::now();
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
    pub fn query(&self, q: &str) -> Vec<(serde_json::Value, String)> {
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
    pub fn wait_for(&self, q: &str, want: &str) -> serde_json::Value {
        self.wait_for_with(q, want, String::new)
    }

    /// As [`Prometheus::wait_for`], with `context()` (gotrace's stderr, its `/metrics`)
    /// added to the message of a wait that timed out.
    pub fn wait_for_with(
        &self,
        q: &str,
        want: &str,
        context: impl Fn() -> String,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let last = self.query(q);
            if let [(labels, v)] = last.as_slice() {
                if v == want {
                    return labels.clone();
                }
            }
            assert!(
                start.elapsed() < T,
                "{q}: waited {T:?} for {want}; last result {last:?}{}",
                context()
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

/// `cmd` on $PATH.
pub fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}

/// The address gotrace said it serves metrics at.
pub fn served_at(banner: &str) -> SocketAddr {
    banner
        .lines()
        .find_map(|l| l.strip_prefix("gotrace: serving metrics at http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in:\n{banner}"))
}

/// One sample line of the text exposition format: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, "" when the sample has none.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// The samples of an exposition text (comments and blank lines skipped). Panics, naming
/// the line, on one that is not a sample: what gotrace serves must all read.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            sample(l).unwrap_or_else(|| panic!("not an exposition sample line: {l:?}\nin:\n{text}"))
        })
        .collect()
}

/// Reads one sample line; label values are unescaped (`\\`, `\"`, `\n`, the text
/// format's only escapes).
fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches([' ', ',']);
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after_key.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.trim().to_string(), value);
            inner = &after_key[end + 1..];
        }
    }
    // A timestamp may follow the value.
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_with_escaped_labels() {
        let text = "# TYPE gotrace_syscalls counter\n\
            gotrace_syscalls_total{pid=\"42\",comm=\"a\\\"b,c}\\\\\\n\",syscall=\"read\"} 3\n\
            gotrace_syscall_duration_seconds_bucket{le=\"+Inf\",pid=\"42\"} 3 1700000000000\n\
            gotrace_traced_processes 1\n\n";
        let s = samples(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].name, "gotrace_syscalls_total");
        assert_eq!(s[0].label("comm"), "a\"b,c}\\\n");
        assert_eq!(s[0].label("syscall"), "read");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].label("le"), "+Inf");
        assert_eq!(s[1].label("pid"), "42");
        assert_eq!(s[2].name, "gotrace_traced_processes");
        assert!(s[2].labels.is_empty());
        assert_eq!(s[2].value, 1.0);
        assert_eq!(s[2].label("pid"), "");
    }

    #[test]
    fn rejects_what_is_not_a_sample() {
        assert_eq!(sample("gotrace_x{pid=\"1\" 3"), None);
        assert_eq!(sample("gotrace_x{pid=\"1} 3"), None);
        assert_eq!(sample("gotrace_x nope"), None);
    }
}
