//! Command line -> a validated [`Config`]. Nothing runs until the arguments make sense.
use std::{ffi::OsString, io::IsTerminal, path::PathBuf, time::Duration};

use clap::Parser;

/// The raw command line.
#[derive(Debug, Parser)]
#[command(
    name = "gotrace",
    version,
    about = "Trace a Go program's syscalls with eBPF and say where its time goes",
    after_help = "Examples:\n  sudo gotrace --pid 1234\n  sudo gotrace -- ./server --port 8080\n  sudo gotrace --pid 1234 --duration 10 --no-tui --json trace.ndjson"
)]
pub struct Args {
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

    /// No live view: print the summary at the end (implied when stdout is not a terminal).
    #[arg(long)]
    pub no_tui: bool,

    /// Write the trace as NDJSON to PATH ("-" for stdout).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

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

    /// Ring buffer size in KiB (a power of two, at least 4).
    #[arg(long, value_name = "KIB", default_value_t = 4096)]
    pub ring_kib: u32,

    /// The command to launch and trace.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
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
    /// A live status line on the terminal, the summary at the end.
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
    pub force: bool,
    pub slow_ns: u64,
    pub ring_bytes: u32,
    pub thresholds: crate::analysis::Thresholds,
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
    /// Checks the arguments together; `stdout_is_tty` decides the default display.
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
        if self.duration == Some(Duration::ZERO) {
            return Err(UsageError("--duration must be more than zero".into()));
        }
        let kib = self.ring_kib;
        if kib < 4 || !kib.is_power_of_two() || kib > 1024 * 1024 {
            return Err(UsageError(format!(
                "--ring-kib {kib}: must be a power of two from 4 to 1048576"
            )));
        }
        let stdout_json = self.json.as_deref() == Some(std::path::Path::new("-"));
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
            force: self.force,
            slow_ns: nanos(self.slow),
            ring_bytes: kib * 1024,
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

/// Parses the process's command line into a Config.
pub fn parse() -> Result<Config, ParseOutcome> {
    let args = Args::try_parse().map_err(ParseOutcome::Clap)?;
    args.into_config(std::io::stdout().is_terminal())
        .map_err(ParseOutcome::Usage)
}

/// Why parsing did not give a Config.
#[derive(Debug)]
pub enum ParseOutcome {
    /// clap's own: --help, --version, or a malformed command line.
    Clap(clap::Error),
    Usage(UsageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let args = Args::try_parse_from(std::iter::once("gotrace").chain(args.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        args.into_config(true).map_err(|e| e.0)
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
