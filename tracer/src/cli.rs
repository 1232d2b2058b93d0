//! Command line -> a validated [`Config`]. Nothing runs until the arguments make sense.
use std::{ffi::OsString, io::IsTerminal, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

/// The raw command line.
#[derive(Debug, Parser)]
#[command(
    name = "gotrace",
    version,
    about = "Trace a Go program's syscalls with eBPF and say where its time goes",
    after_help = "Examples:\n  sudo gotrace --pid 1234\n  sudo gotrace -- ./server --port 8080\n  sudo gotrace --pid 1234 --duration 10 --no-tui --json trace.ndjson\n  sudo gotrace --perfetto trace.json -- ./server\n  gotrace report trace.ndjson\n  gotrace report before.ndjson after.ndjson\n  gotrace doctor ~/src/app",
    // `gotrace report x` is the subcommand; `gotrace -- report` launches a program
    // named report; tracing options before `report` are an error, not ignored.
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub subcommand: Option<Sub>,

    /// Attach to a running process (all its threads).
    #[arg(short, long, value_name = "PID", allow_negative_numbers = true)]
    pub pid: Option<i64>,

    /// Also trace descendants (default for a launched command).
    #[arg(long, overrides_with = "no_follow")]
    pub follow: bool,

    /// Do not trace descendants.
    #[arg(long, overrides_with = "follow")]
    pub no_follow: bool,

    /// Stop after this long (e.g. 10, 10s, 500ms, 2m).
    #[arg(short, long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// No live dashboard: print the summary at the end (implied when stdout is not a terminal).
    #[arg(long)]
    pub no_tui: bool,

    /// Write the trace as NDJSON to PATH ("-" for stdout; a launched command's stdout
    /// then goes to stderr, and the text summary too).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write a timeline to PATH (Chrome trace JSON, for ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "PATH")]
    pub perfetto: Option<PathBuf>,

    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,

    /// Stream every syscall at least this slow as an event (e.g. 1ms, 250us, 0 for all).
    #[arg(long, value_name = "TIME", default_value = "1ms", value_parser = parse_duration)]
    pub slow: Duration,

    /// Report a child not reaped this long after its exit (a zombie).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_duration)]
    pub unreaped_after: Duration,

    /// Report a child reaped this long or more after its exit.
    #[arg(long, value_name = "TIME", default_value = "100ms", value_parser = parse_duration)]
    pub slow_reap: Duration,

    /// Also stream the slow waits of parked threads (futex waits without a timeout: an
    /// idle Go runtime thread); by default they are only counted.
    #[arg(long)]
    pub stream_idle: bool,

    /// Dashboard refreshes per second.
    #[arg(long, value_name = "HZ", default_value_t = 4)]
    pub refresh: u32,

    /// Ring buffer size in KiB (a power of two, at least 4).
    #[arg(long, value_name = "KIB", default_value_t = 4096)]
    pub ring_kib: u32,

    /// The command to launch and trace.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Subcommands; without one, gotrace traces.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print the summary of a saved trace (from --json), or compare two; needs no root.
    Report(ReportArgs),
    /// Check a Go environment (the go on PATH, GOOS, GOROOT, caches on slow or
    /// cross-OS filesystems, cgroup limits, WSL): what is wrong, why, and the fix.
    Doctor(DoctorArgs),
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The Go project to check (default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also run `go build ./...` in DIR under gotrace (needs root) and say where the
    /// build's time went, by filesystem and cause.
    #[arg(long)]
    pub build: bool,

    /// Read the mount table from FILE instead of /proc/self/mountinfo (fixtures).
    #[arg(long, value_name = "FILE", hide = true)]
    pub mountinfo: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The NDJSON trace; with a second one, compare them (A -> B).
    #[arg(value_name = "PATH", required = true, num_args = 1..=2)]
    pub paths: Vec<PathBuf>,

    /// Print the trace's summary line (NDJSON) instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Trace a process (needs root).
    Trace(Config),
    /// Read saved traces.
    Report(ReportConfig),
    /// Check a Go environment.
    Doctor(crate::doctor::DoctorConfig),
}

/// `gotrace report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    /// One trace, or two to compare.
    pub paths: Vec<PathBuf>,
    pub json: bool,
}

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// An already running process.
    Attach(u32),
    /// A command gotrace launches (argv[0] first).
    Launch(Vec<OsString>),
}

/// How results are shown while tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// The live dashboard on the terminal, the summary after it.
    Live,
    /// Only the summary at the end.
    Summary,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub target: TargetSpec,
    pub follow: bool,
    pub duration: Option<Duration>,
    pub display: Display,
    pub json: Option<PathBuf>,
    /// The Perfetto timeline file.
    pub perfetto: Option<PathBuf>,
    pub force: bool,
    pub slow_ns: u64,
    pub ring_bytes: u32,
    pub thresholds: crate::analysis::Thresholds,
    pub refresh_hz: u32,
    pub stream_idle: bool,
}

/// A usage error: exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Args {
    /// Checks the arguments together: a report, or a trace (see [`Args::into_config`]).
    pub fn into_invocation(self, stdout_is_tty: bool) -> Result<Invocation, UsageError> {
        match self.subcommand {
            Some(Sub::Report(r)) => {
                if r.json && r.paths.len() > 1 {
                    return Err(UsageError(
                        "report --json prints one trace's summary: give one PATH".into(),
                    ));
                }
                Ok(Invocation::Report(ReportConfig {
                    paths: r.paths,
                    json: r.json,
                }))
            }
            Some(Sub::Doctor(d)) => Ok(Invocation::Doctor(crate::doctor::DoctorConfig {
                dir: d.dir.unwrap_or_else(|| PathBuf::from(".")),
                json: d.json,
                build: d.build,
                mountinfo: d.mountinfo,
            })),
            None => self.into_config(stdout_is_tty).map(Invocation::Trace),
        }
    }

    /// Checks the tracing arguments together; `stdout_is_tty` decides the default display.
    pub fn into_config(self, stdout_is_tty: bool) -> Result<Config, UsageError> {
        let target = match (self.pid, self.command.is_empty()) {
            (Some(_), false) => {
                return Err(UsageError(
                    "give either --pid PID or -- CMD, not both".into(),
                ))
            }
            (None, true) => {
                return Err(UsageError(
                    "nothing to trace: give --pid PID or -- CMD [ARGS...]".into(),
                ))
            }
            (Some(pid), true) => {
                if pid <= 0 || pid > i64::from(i32::MAX) {
                    return Err(UsageError(format!(
                        "invalid pid {pid}: must be a positive process id"
                    )));
                }
                TargetSpec::Attach(pid as u32)
            }
            (None, false) => TargetSpec::Launch(self.command),
        };
        let follow = if self.follow {
            true
        } else if self.no_follow {
            false
        } else {
            matches!(target, TargetSpec::Launch(_))
        };
        if self.refresh == 0 || self.refresh > 60 {
            return Err(UsageError(format!(
                "--refresh {}: must be from 1 to 60 per second",
                self.refresh
            )));
        }
        if self.duration == Some(Duration::ZERO) {
            return Err(UsageError("--duration must be more than zero".into()));
        }
        let kib = self.ring_kib;
        if kib < 4 || !kib.is_power_of_two() || kib > 1024 * 1024 {
            return Err(UsageError(format!(
                "--ring-kib {kib}: must be a power of two from 4 to 1048576"
            )));
        }
        if let Some(p) = &self.perfetto {
            if p.as_os_str() == "-" {
                return Err(UsageError(
                    "--perfetto needs a file: stdout carries the summary".into(),
                ));
            }
            if self.json.as_deref().is_some_and(|j| same_file(j, p)) {
                return Err(UsageError(
                    "--json and --perfetto cannot write the same file".into(),
                ));
            }
        }
        let stdout_json = json_to_stdout(self.json.as_deref());
        let display = if self.no_tui || !stdout_is_tty || stdout_json {
            Display::Summary
        } else {
            Display::Live
        };
        Ok(Config {
            target,
            follow,
            duration: self.duration,
            display,
            json: self.json,
            perfetto: self.perfetto,
            force: self.force,
            slow_ns: nanos(self.slow),
            ring_bytes: kib * 1024,
            refresh_hz: self.refresh,
            stream_idle: self.stream_idle,
            thresholds: crate::analysis::Thresholds {
                unreaped_ns: nanos(self.unreaped_after),
                slow_reap_ns: nanos(self.slow_reap),
            },
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Parses "10" (seconds), "1.5s", "500ms", "250us", "100ns", "2m", "1h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 10s, 500ms, 250us)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "unknown time unit '{other}' in '{s}' (use ns, us, ms, s, m, h)"
            ))
        }
    };
    let ns = value * scale;
    if !ns.is_finite() || ns < 0.0 || ns > u64::MAX as f64 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_nanos(ns as u64))
}

/// Parses the process's command line.
pub fn parse() -> Result<Invocation, ParseOutcome> {
    let args = Args::try_parse().map_err(ParseOutcome::Clap)?;
    args.into_invocation(std::io::stdout().is_terminal())
        .map_err(ParseOutcome::Usage)
}

/// Why parsing did not give a Config.
#[derive(Debug)]
pub enum ParseOutcome {
    /// clap's own: --help, --version, or a malformed command line.
    Clap(clap::Error),
    Usage(UsageError),
}

/// `--json -`: the trace goes to stdout (and the summary, and a launched command's
/// stdout, go to stderr).
pub fn json_to_stdout(json: Option<&std::path::Path>) -> bool {
    json.is_some_and(|p| p.as_os_str() == "-")
}

/// Do two paths name one file, however they are spelled (`x` and `./x`, a symlinked
/// directory)? An existing file is known by its device and inode; one still to be
/// made, by its directory's canonical path and its name.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    let place = |p: &std::path::Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        Some((
            std::fs::canonicalize(dir).ok()?,
            p.file_name()?.to_os_string(),
        ))
    };
    match (place(a), place(b)) {
        (Some(pa), Some(pb)) => pa == pb,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(args: &[&str]) -> Result<Invocation, String> {
        let args = Args::try_parse_from(std::iter::once("gotrace").chain(args.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        args.into_invocation(true).map_err(|e| e.0)
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        match invocation(args)? {
            Invocation::Trace(c) => Ok(c),
            other => Err(format!("not a trace: {other:?}")),
        }
    }

    fn report(args: &[&str]) -> Result<ReportConfig, String> {
        match invocation(args)? {
            Invocation::Report(r) => Ok(r),
            other => Err(format!("not a report: {other:?}")),
        }
    }

    #[test]
    fn report_subcommand() {
        let r = report(&["report", "t.ndjson"]).expect("valid");
        assert_eq!(
            r,
            ReportConfig {
                paths: vec!["t.ndjson".into()],
                json: false
            }
        );
        let r = report(&["report", "a.ndjson", "b.ndjson"]).expect("valid");
        assert_eq!(
            r.paths,
            [PathBuf::from("a.ndjson"), PathBuf::from("b.ndjson")]
        );
        let r = report(&["report", "--json", "t.ndjson"]).expect("valid");
        assert!(r.json);
        let r = report(&["report", "t.ndjson", "--json"]).expect("valid");
        assert!(r.json);
        assert_eq!(
            report(&["report", "--json", "a", "b"]).unwrap_err(),
            "report --json prints one trace's summary: give one PATH"
        );
        assert!(report(&["report"])
            .unwrap_err()
            .contains("required arguments"));
        assert!(report(&["report", "a", "b", "c"]).is_err());
        assert!(
            report(&["report", "--pid", "1", "a"]).is_err(),
            "no tracing options in report"
        );
        assert!(
            invocation(&["--pid", "1", "report", "a"]).is_err(),
            "nor before it"
        );
    }

    #[test]
    fn report_does_not_take_a_command_named_report() {
        // After "--" it is the command to launch.
        let c = config(&["--", "report", "x"]).expect("valid");
        assert_eq!(
            c.target,
            TargetSpec::Launch(vec!["report".into(), "x".into()])
        );
        let c = config(&["--pid", "1"]).expect("valid");
        assert_eq!(c.target, TargetSpec::Attach(1));
    }

    #[test]
    fn perfetto_option() {
        let c =
            config(&["--pid", "1", "--perfetto", "t.json", "--json", "t.ndjson"]).expect("valid");
        assert_eq!(c.perfetto.as_deref(), Some(std::path::Path::new("t.json")));
        assert_eq!(c.display, Display::Live, "a file, not stdout");
        assert_eq!(config(&["--pid", "1"]).expect("valid").perfetto, None);
        assert_eq!(
            config(&["--pid", "1", "--perfetto", "-"]).unwrap_err(),
            "--perfetto needs a file: stdout carries the summary"
        );
        assert_eq!(
            config(&["--pid", "1", "--perfetto", "t", "--json", "t"]).unwrap_err(),
            "--json and --perfetto cannot write the same file"
        );
        // Spelled differently, the same file, existing or not.
        let dir = std::env::temp_dir().join(format!("gotrace-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let new = dir.join("same.x").display().to_string();
        let dotted = format!("{}/./same.x", dir.display());
        assert_eq!(
            config(&["--pid", "1", "--json", &new, "--perfetto", &dotted]).unwrap_err(),
            "--json and --perfetto cannot write the same file"
        );
        std::fs::write(dir.join("same.x"), "").expect("write");
        let linked = dir.join("link.x");
        let _ = std::fs::remove_file(&linked);
        std::fs::hard_link(dir.join("same.x"), &linked).expect("hard link");
        assert_eq!(
            config(&[
                "--pid",
                "1",
                "--json",
                &new,
                "--perfetto",
                &linked.display().to_string()
            ])
            .unwrap_err(),
            "--json and --perfetto cannot write the same file"
        );
        let other = dir.join("other.x").display().to_string();
        assert!(config(&["--pid", "1", "--json", &new, "--perfetto", &other]).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn attach_defaults() {
        let c = config(&["--pid", "42"]).expect("valid");
        assert_eq!(c.target, TargetSpec::Attach(42));
        assert!(!c.follow, "attach does not follow by default");
        assert_eq!(c.slow_ns, 1_000_000);
        assert_eq!(c.display, Display::Live);
        assert_eq!(c.ring_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn launch_follows_by_default() {
        let c = config(&["--", "ls", "-l"]).expect("valid");
        assert_eq!(c.target, TargetSpec::Launch(vec!["ls".into(), "-l".into()]));
        assert!(c.follow);
        let c = config(&["--no-follow", "--", "ls"]).expect("valid");
        assert!(!c.follow);
        let c = config(&["--follow", "--pid", "7"]).expect("valid");
        assert!(c.follow);
    }

    #[test]
    fn options_parse() {
        let c = config(&[
            "--pid",
            "1",
            "--duration",
            "2.5s",
            "--slow",
            "0",
            "--no-tui",
            "--json",
            "x.ndjson",
        ])
        .expect("valid");
        assert_eq!(c.duration, Some(Duration::from_millis(2500)));
        assert_eq!(c.slow_ns, 0);
        assert_eq!(c.display, Display::Summary);
        assert_eq!(c.json.as_deref(), Some(std::path::Path::new("x.ndjson")));
        let c = config(&["--pid", "1", "--json", "-"]).expect("valid");
        assert_eq!(
            c.display,
            Display::Summary,
            "JSON on stdout leaves no room for a live view"
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            config(&[]).unwrap_err(),
            "nothing to trace: give --pid PID or -- CMD [ARGS...]"
        );
        assert_eq!(
            config(&["--pid", "1", "--", "ls"]).unwrap_err(),
            "give either --pid PID or -- CMD, not both"
        );
        assert_eq!(
            config(&["--pid", "0"]).unwrap_err(),
            "invalid pid 0: must be a positive process id"
        );
        assert_eq!(
            config(&["--pid", "-3"]).unwrap_err(),
            "invalid pid -3: must be a positive process id"
        );
        assert_eq!(
            config(&["--pid", "1", "--duration", "0"]).unwrap_err(),
            "--duration must be more than zero"
        );
        assert!(config(&["--pid", "1", "--ring-kib", "3"])
            .unwrap_err()
            .contains("power of two"));
        assert!(config(&["--pid", "abc"]).is_err());
        assert!(config(&["--pid", "1", "--slow", "5 parsecs"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }
}
