//! The pprof profile read by the real `go tool pprof`, from the Go toolchain
//! `cargo xtask setup` installs (or $GOTRACE_GO): the functions are charged their
//! syscall time and calls, inlined calls are frames of their own, and the labels say
//! which syscall and why.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
};

use gotrace_model::{
    export::pprof::{write_pprof, ProfileMeta, StackSample, NO_STACK},
    stack::Frame,
};

/// The Go toolchain: $GOTRACE_GO, else the one `cargo xtask setup` installs.
fn go_bin() -> PathBuf {
    let (go, origin) = match std::env::var_os("GOTRACE_GO") {
        Some(p) => (PathBuf::from(p), "$GOTRACE_GO"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/go-venv/bin/go"),
            "the toolchain `cargo xtask setup` installs",
        ),
    };
    assert!(
        go.is_file(),
        "NO GO TOOLCHAIN: {} ({origin}) is missing; run `cargo xtask setup` to install it, \
         or set GOTRACE_GO to a go binary",
        go.display()
    );
    go
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("gotrace-pprof-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `go tool pprof` printed.
struct Output {
    stdout: String,
    stderr: String,
}

/// Runs `go tool pprof ARGS FILE` offline, with its home, temp dir and working directory
/// in `dir`; fails on a non-zero exit.
fn pprof(dir: &Path, file: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(go_bin());
    cmd.arg("tool")
        .arg("pprof")
        .args(args)
        .arg(file)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .env("PPROF_TMPDIR", dir)
        .env("PPROF_BINARY_PATH", dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .env("GOFLAGS", "")
        .env_remove("PPROF_TOOLS");
    // This Go builds `go tool pprof` on first use: keep its build cache between runs
    // (HOME is the temp dir, so the default cache would be new every time), the one the
    // other tests' Go builds share.
    if std::env::var_os("GOCACHE").is_none() {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf();
        cmd.env("GOCACHE", workspace.join("target/go-cache"));
    }
    let out = cmd.output().expect("run go tool pprof");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    Output { stdout, stderr }
}

/// `pprof` that must print nothing on stderr (no warning about the profile).
fn pprof_quiet(dir: &Path, file: &Path, args: &[&str]) -> String {
    let out = pprof(dir, file, args);
    assert!(
        out.stderr.trim().is_empty(),
        "go tool pprof {args:?} warned:\n{}\n{}",
        out.stderr,
        out.stdout
    );
    out.stdout
}

fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame {
        function: function.into(),
        file: file.into(),
        line,
        inlined: false,
    }
}

fn inlined(function: &str, file: &str, line: u32) -> Frame {
    Frame {
        inlined: true,
        ..frame(function, file, line)
    }
}

const MS: u64 = 1_000_000;

fn samples() -> Vec<StackSample> {
    let save_index = vec![
        frame("syscall.Syscall", "/go/src/syscall/syscall_linux.go", 73),
        frame(
            "syscall.Fsync",
            "/go/src/syscall/zsyscall_linux_amd64.go",
            423,
        ),
        frame(
            "internal/poll.(*FD).Fsync",
            "/go/src/internal/poll/fd_fsync_posix.go",
            17,
        ),
        frame("os.(*File).Sync", "/go/src/os/file_posix.go", 174),
        frame("main.saveIndex", "/src/app/index.go", 40),
        frame("main.main", "/src/app/main.go", 12),
    ];
    let load_config = vec![
        frame("syscall.Syscall", "/go/src/syscall/syscall_linux.go", 73),
        frame(
            "syscall.read",
            "/go/src/syscall/zsyscall_linux_amd64.go",
            736,
        ),
        frame(
            "internal/poll.(*FD).Read",
            "/go/src/internal/poll/fd_unix.go",
            165,
        ),
        frame("os.(*File).Read", "/go/src/os/file.go", 124),
        inlined("main.readAll", "/src/app/config.go", 31),
        frame("main.loadConfig", "/src/app/config.go", 18),
        frame("main.main", "/src/app/main.go", 10),
    ];
    let sample = |frames: &Vec<Frame>, syscall: &str, cause: &str, goid, calls, ns| StackSample {
        frames: frames.clone(),
        syscall: syscall.into(),
        cause: cause.into(),
        goid,
        calls,
        ns,
    };
    vec![
        // Two halves of one stack and labels: pprof sees them summed.
        sample(&save_index, "fsync", "disk", Some(1), 2, 200 * MS),
        sample(&save_index, "fsync", "disk", Some(1), 1, 100 * MS),
        sample(&load_config, "read", "disk", Some(7), 5, 100 * MS),
        // No user stack.
        sample(&vec![], "futex", "run queue", None, 4, 50 * MS),
    ]
}

fn write(dir: &Path) -> PathBuf {
    let meta = ProfileMeta {
        start_unix_ns: 1_700_000_000_000_000_000,
        duration_ns: 5_000_000_000,
        comment: Some("gotrace of pid 4242".into()),
        binary: Some("/srv/app/indexer".into()),
    };
    let path = dir.join("trace.pb.gz");
    let f = std::fs::File::create(&path).expect("create");
    write_pprof(f, &meta, &samples()).expect("write_pprof");
    path
}

/// A value as pprof prints it with `-unit=ms` (or auto-scaled, for values between 1ms
/// and 1s): `400ms`, or `0`; counts have no unit.
fn value(s: &str) -> f64 {
    s.trim_end_matches("ms")
        .parse()
        .unwrap_or_else(|e| panic!("value {s:?}: {e}"))
}

/// `-top`'s rows: function to (flat, cum).
fn top(out: &str) -> HashMap<String, (f64, f64)> {
    let mut rows = HashMap::new();
    let mut in_table = false;
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() == Some(&"flat") {
            in_table = true;
            continue;
        }
        if !in_table || cols.len() < 6 {
            continue;
        }
        let name = cols[5..].join(" ");
        let prev = rows.insert(name.clone(), (value(cols[0]), value(cols[3])));
        assert!(prev.is_none(), "{name} twice in\n{out}");
    }
    assert!(in_table, "no table in\n{out}");
    rows
}

fn charged(rows: &HashMap<String, (f64, f64)>, function: &str, out: &str) -> (f64, f64) {
    *rows
        .get(function)
        .unwrap_or_else(|| panic!("{function} missing from\n{out}"))
}

/// One `-traces` entry: its labels, its value and its frames, innermost first.
#[derive(Debug, PartialEq)]
struct Trace {
    labels: Vec<(String, String)>,
    value: f64,
    frames: Vec<String>,
}

fn traces(out: &str) -> Vec<Trace> {
    let body = out
        .split_once("-----------+")
        .unwrap_or_else(|| panic!("no traces in\n{out}"))
        .1;
    body.split("-----------+")
        .filter_map(|block| {
            let mut t = Trace {
                labels: Vec::new(),
                value: 0.0,
                frames: Vec::new(),
            };
            // The first line is the rest of the separator.
            for line in block.lines().skip(1) {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                if t.frames.is_empty() {
                    if let Some((k, v)) = trimmed.split_once(":  ") {
                        t.labels.push((k.to_string(), v.trim().to_string()));
                        continue;
                    }
                    let (v, f) = trimmed.split_once("   ").expect("value and frame");
                    t.value = value(v);
                    t.frames.push(f.trim().to_string());
                } else {
                    t.frames.push(trimmed.to_string());
                }
            }
            (!t.frames.is_empty()).then_some(t)
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn labels(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `-tags`: label key to (value to total).
fn tags(out: &str) -> HashMap<String, HashMap<String, f64>> {
    let mut all: HashMap<String, HashMap<String, f64>> = HashMap::new();
    let mut key = None;
    for line in out.lines() {
        let line = line.trim();
        if let Some((k, _)) = line.split_once(": Total ") {
            key = Some(k.to_string());
            all.entry(k.to_string()).or_default();
        } else if let (Some(k), Some((v, name))) = (&key, line.split_once("): ")) {
            let v = v.split_once(" (").expect("value (percent)").0;
            all.get_mut(k)
                .expect("key")
                .insert(name.to_string(), value(v));
        }
    }
    all
}

#[test]
fn functions_are_charged_their_syscall_time() {
    let dir = TempDir::new("time");
    let file = write(&dir.0);
    let out = pprof_quiet(&dir.0, &file, &["-top", "-unit=ms"]);
    // The header: the binary's name, the comment, the default sample type, the duration.
    for want in [
        "File: indexer",
        "gotrace of pid 4242",
        "Type: time",
        "Duration: 5s",
        "Showing nodes accounting for 450ms, 100% of 450ms total",
    ] {
        assert!(out.contains(want), "{want:?} missing from\n{out}");
    }
    let rows = top(&out);
    let c = |f| charged(&rows, f, &out);
    assert_eq!(c("syscall.Syscall"), (400.0, 400.0));
    assert_eq!(c(NO_STACK), (50.0, 50.0));
    assert_eq!(c("main.saveIndex"), (0.0, 300.0));
    assert_eq!(c("os.(*File).Sync"), (0.0, 300.0));
    assert_eq!(c("main.loadConfig"), (0.0, 100.0));
    // The inlined call is a frame of its own.
    assert_eq!(c("main.readAll (inline)"), (0.0, 100.0));
    assert_eq!(c("main.main"), (0.0, 400.0));
    assert_eq!(rows.len(), 12, "{out}");

    // The same with -sample_index=time spelled out.
    let explicit = pprof_quiet(&dir.0, &file, &["-top", "-unit=ms", "-sample_index=time"]);
    assert_eq!(top(&explicit), rows);
}

#[test]
fn functions_are_charged_their_calls() {
    let dir = TempDir::new("calls");
    let file = write(&dir.0);
    let out = pprof_quiet(&dir.0, &file, &["-top", "-sample_index=calls"]);
    assert!(out.contains("Type: calls"), "{out}");
    assert!(
        out.contains("Showing nodes accounting for 12, 100% of 12 total"),
        "{out}"
    );
    let rows = top(&out);
    let c = |f| charged(&rows, f, &out);
    assert_eq!(c("syscall.Syscall"), (8.0, 8.0));
    assert_eq!(c(NO_STACK), (4.0, 4.0));
    // 2 + 1 calls: the two samples of one stack were summed.
    assert_eq!(c("main.saveIndex"), (0.0, 3.0));
    assert_eq!(c("main.loadConfig"), (0.0, 5.0));
    assert_eq!(c("main.readAll (inline)"), (0.0, 5.0));
}

#[test]
fn traces_show_whole_stacks_with_their_labels() {
    let dir = TempDir::new("traces");
    let file = write(&dir.0);
    let out = pprof_quiet(&dir.0, &file, &["-traces", "-unit=ms"]);
    let mut got = traces(&out);
    got.sort_by(|a, b| b.value.total_cmp(&a.value));
    let want = vec![
        Trace {
            labels: labels(&[("cause", "disk"), ("syscall", "fsync"), ("goid", "1")]),
            value: 300.0,
            frames: strings(&[
                "syscall.Syscall",
                "syscall.Fsync",
                "internal/poll.(*FD).Fsync",
                "os.(*File).Sync",
                "main.saveIndex",
                "main.main",
            ]),
        },
        Trace {
            labels: labels(&[("cause", "disk"), ("syscall", "read"), ("goid", "7")]),
            value: 100.0,
            frames: strings(&[
                "syscall.Syscall",
                "syscall.read",
                "internal/poll.(*FD).Read",
                "os.(*File).Read",
                "main.readAll (inline)",
                "main.loadConfig",
                "main.main",
            ]),
        },
        Trace {
            labels: labels(&[("cause", "run queue"), ("syscall", "futex")]),
            value: 50.0,
            frames: strings(&[NO_STACK]),
        },
    ];
    assert_eq!(got, want, "{out}");

    // Line numbers: the inlined call at its line in the function it was inlined into.
    let out = pprof_quiet(&dir.0, &file, &["-traces", "-lines"]);
    assert!(
        out.contains("main.readAll /src/app/config.go:31 (inline)\n             main.loadConfig /src/app/config.go:18\n"),
        "{out}"
    );
}

#[test]
fn labels_say_which_syscall_and_why() {
    let dir = TempDir::new("tags");
    let file = write(&dir.0);
    // Not with -unit=ms: pprof would print goid 1 as "1ms" (it gives a numeric label of
    // no known unit the output unit).
    let out = pprof_quiet(&dir.0, &file, &["-tags"]);
    let got = tags(&out);
    let map = |v: &[(&str, f64)]| -> HashMap<String, f64> {
        v.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        got["syscall"],
        map(&[("fsync", 300.0), ("read", 100.0), ("futex", 50.0)]),
        "{out}"
    );
    assert_eq!(
        got["cause"],
        map(&[("disk", 400.0), ("run queue", 50.0)]),
        "{out}"
    );
    assert_eq!(got["goid"], map(&[("1", 300.0), ("7", 100.0)]), "{out}");
    assert_eq!(got.len(), 3, "{out}");

    // Focusing on a syscall keeps only its stacks.
    let out = pprof_quiet(
        &dir.0,
        &file,
        &["-top", "-unit=ms", "-tagfocus=syscall=fsync"],
    );
    let rows = top(&out);
    assert_eq!(charged(&rows, "main.saveIndex", &out), (0.0, 300.0));
    assert!(!rows.contains_key("main.loadConfig"), "{out}");
    // And on a goroutine (pprof says it read 7 as a range, on stderr).
    let out = pprof(&dir.0, &file, &["-top", "-unit=ms", "-tagfocus=goid=7"]).stdout;
    let rows = top(&out);
    assert_eq!(charged(&rows, "main.loadConfig", &out), (0.0, 100.0));
    assert!(!rows.contains_key("main.saveIndex"), "{out}");
    // The syscall as the leaf of each stack.
    let out = pprof_quiet(&dir.0, &file, &["-top", "-unit=ms", "-tagleaf=syscall"]);
    let rows = top(&out);
    assert_eq!(charged(&rows, "fsync", &out), (300.0, 300.0));
    assert_eq!(charged(&rows, "read", &out), (100.0, 100.0));
    assert_eq!(charged(&rows, "futex", &out), (50.0, 50.0));
    assert_eq!(charged(&rows, "syscall.Syscall", &out), (0.0, 400.0));
}

#[test]
fn distinct_locations_at_address_zero_stay_distinct() {
    let dir = TempDir::new("lines");
    let at = |line: u32, ms: u64| StackSample {
        frames: vec![
            frame("main.work", "/src/app/main.go", line),
            frame("main.main", "/src/app/main.go", 3),
        ],
        syscall: "read".into(),
        cause: String::new(),
        goid: None,
        calls: 1,
        ns: ms * MS,
    };
    let path = dir.0.join("lines.pb.gz");
    let f = std::fs::File::create(&path).expect("create");
    write_pprof(f, &ProfileMeta::default(), &[at(10, 10), at(20, 20)]).expect("write_pprof");
    let out = pprof_quiet(&dir.0, &path, &["-top", "-unit=ms", "-lines"]);
    let rows = top(&out);
    assert_eq!(
        charged(&rows, "main.work /src/app/main.go:10", &out),
        (10.0, 10.0)
    );
    assert_eq!(
        charged(&rows, "main.work /src/app/main.go:20", &out),
        (20.0, 20.0)
    );
    let out = pprof_quiet(&dir.0, &path, &["-top", "-unit=ms"]);
    assert_eq!(charged(&top(&out), "main.work", &out), (30.0, 30.0));
}
