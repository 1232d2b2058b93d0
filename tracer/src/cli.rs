//! Command line -> a validated [`Config`]. Nothing runs until the arguments make sense.
use std::{
    ffi::OsString,
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{CommandFactory, Parser, Subcommand};
pub use clap_complete::Shell;

/// Shown at the end of `--help` and as the man page's EXAMPLES.
const EXAMPLES: &[&str] = &[
    "sudo gotrace --pid 1234",
    "sudo gotrace -- ./server --port 8080",
    "sudo gotrace --pid 1234 --duration 10 --no-tui --json trace.ndjson",
    "sudo gotrace --perfetto trace.json -- ./server",
    "sudo gotrace --pid 1234 --no-tui --prometheus :9464",
    "gotrace report trace.ndjson",
    "gotrace report before.ndjson after.ndjson",
    "gotrace doctor ~/src/app",
];

fn examples_help() -> String {
    let mut s = String::from("Examples:");
    for e in EXAMPLES {
        s.push_str("\n  ");
        s.push_str(e);
    }
    s
}

/// The raw command line.
#[derive(Debug, Parser)]
#[command(
    name = "gotrace",
    version,
    about = "Trace a Go program's syscalls with eBPF and say where its time goes",
    after_help = examples_help(),
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

    /// Trace every Go process on the machine: those running now and those that start
    /// a Go program later; one summary section and one set of metrics per process.
    #[arg(long)]
    pub all: bool,

    /// With --all: only the processes of this cgroup subtree (a directory under
    /// /sys/fs/cgroup, or a path as /proc/PID/cgroup shows it).
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// With --all: trace at most this many processes at once; the others are counted.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_processes: u32,

    /// With --all: keep an exited process's metrics this long, then drop them.
    #[arg(long, value_name = "TIME", default_value = "5m", value_parser = parse_duration)]
    pub forget_after: Duration,

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

    /// Also stream idle waits: parked threads' (futex waits without a timeout: an idle Go
    /// runtime thread) and the Go runtime's own waits for work on g0 (the netpoller's
    /// blocking polls, sysmon's sleeps) spent mostly asleep; by default they are only
    /// counted.
    #[arg(long)]
    pub stream_idle: bool,

    /// Do not take the user stacks of slow calls (no call sites, no goroutine stacks).
    #[arg(long)]
    pub no_stacks: bool,

    /// Streamed calls at least this long carry their user stack (e.g. 1ms, 0 for all):
    /// below it, a flood of streamed calls (--slow 0) would spend more on stacks than
    /// they tell.
    #[arg(long, value_name = "TIME", default_value = "1ms", value_parser = parse_duration)]
    pub stack_min: Duration,

    /// Write a pprof profile of syscall time by Go stack to PATH (gzipped profile.proto,
    /// for `go tool pprof`).
    #[arg(long, value_name = "PATH")]
    pub pprof: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. :9464, 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR", value_parser = crate::metrics::parse_listen_addr)]
    pub prometheus: Option<std::net::SocketAddr>,

    /// Dashboard refreshes per second.
    #[arg(long, value_name = "HZ", default_value_t = 4)]
    pub refresh: u32,

    /// Ring buffer size in KiB (a power of two, at least 4).
    #[arg(long, value_name = "KIB", default_value_t = 4096)]
    pub ring_kib: u32,

    /// Wait this long between attaching and checking the process is still there: the
    /// tests widen the few-millisecond window in which it can exit during attach.
    #[arg(long, value_name = "TIME", value_parser = parse_duration, hide = true)]
    pub attach_delay: Option<Duration>,

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
    /// Print the completion script for a shell; needs no root.
    ///
    /// bash loads it from ~/.local/share/bash-completion/completions/gotrace, zsh as
    /// _gotrace from a directory on $fpath, fish from ~/.config/fish/completions/gotrace.fish.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete gotrace in.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page into DIR instead: gotrace.1 and one per subcommand
    /// (gotrace-report.1, ...).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
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
    /// Print a shell's completion script.
    Completions(Shell),
    /// Print the man page, or write every page into a directory.
    Man { dir: Option<PathBuf> },
}

pub use gotrace_model::export::report::ReportConfig;

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// An already running process.
    Attach(u32),
    /// A command gotrace launches (argv[0] first).
    Launch(Vec<OsString>),
    /// Every Go process on the machine (--all).
    All(HostWide),
}

/// Host-wide mode's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostWide {
    /// Only the processes of this cgroup subtree.
    pub cgroup: Option<PathBuf>,
    /// Processes traced at once, at most.
    pub max_processes: u32,
    /// How long an exited process's metrics stay.
    pub forget_after: Duration,
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
    /// Take the user stacks of slow calls.
    pub stacks: bool,
    /// ... of those at least this long (ns).
    pub stack_min_ns: u64,
    /// The pprof profile file.
    pub pprof: Option<PathBuf>,
    /// Where `/metrics` is served.
    pub prometheus: Option<std::net::SocketAddr>,
    /// Held between attaching and the check that the process is still there (tests).
    pub attach_delay: Option<Duration>,
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
            Some(Sub::Completions(c)) => Ok(Invocation::Completions(c.shell)),
            Some(Sub::Man(m)) => Ok(Invocation::Man { dir: m.dir }),
            None => self.into_config(stdout_is_tty).map(Invocation::Trace),
        }
    }

    /// Checks the tracing arguments together; `stdout_is_tty` decides the default display.
    pub fn into_config(self, stdout_is_tty: bool) -> Result<Config, UsageError> {
        if self.all && (self.pid.is_some() || !self.command.is_empty()) {
            return Err(UsageError(
                "--all traces every Go process: give no --pid or command".into(),
            ));
        }
        if !self.all && self.cgroup.is_some() {
            return Err(UsageError("--cgroup needs --all".into()));
        }
        if self.max_processes == 0 {
            return Err(UsageError("--max-processes must be at least 1".into()));
        }
        if self.all && (self.perfetto.is_some() || self.pprof.is_some()) {
            return Err(UsageError(
                "--perfetto and --pprof are for one process tree, not --all".into(),
            ));
        }
        let target = match (self.pid, self.command.is_empty()) {
            _ if self.all => TargetSpec::All(HostWide {
                cgroup: self.cgroup.clone(),
                max_processes: self.max_processes,
                forget_after: self.forget_after,
            }),
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
        } && !self.all;
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
            stacks: !self.no_stacks,
            stack_min_ns: nanos(self.stack_min),
            pprof: self.pprof,
            prometheus: self.prometheus,
            attach_delay: self.attach_delay,
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

/// Writes `shell`'s completion script for gotrace.
pub fn write_completions(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Generator as _;
    let mut cmd = completable(&Args::command());
    cmd.set_bin_name("gotrace");
    cmd.build();
    shell.try_generate(&cmd, out)
}

/// The command line as the completion scripts describe it: `cmd` without its hidden
/// arguments and subcommands (`man`, test hooks), which clap_complete would offer like
/// any other, and without `-- CMD`, which zsh's script would take the first word for,
/// so that it never completed a subcommand's arguments. `cmd` must not be built yet:
/// --help and --version are added again when the copy is built.
fn completable(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned())
        .args_conflicts_with_subcommands(cmd.is_args_conflicts_with_subcommands_set())
        .args(
            cmd.get_arguments()
                .filter(|a| !a.is_hide_set() && !a.is_last_set())
                .cloned(),
        )
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(completable),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_owned());
    }
    out
}

/// gotrace's man pages, as (file name, roff): gotrace.1 first, then one per subcommand
/// (gotrace-report.1, ...), which gotrace.1 lists.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    use clap_mangen::{
        roff::{bold, roman, Roff},
        Man,
    };
    // Built first, so that every subcommand is named as its page (gotrace-report), and
    // --version stays among the options when the version is cleared below.
    let mut cmd = Args::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!("gotrace {}", cmd.get_version().unwrap_or_default());

    // gotrace.1: its examples get a section of their own instead of clap's EXTRA, and
    // the version is in the footer, not in a section.
    let main = cmd.clone().after_help(None::<&str>).version(None::<&str>);
    let man = Man::new(main).source(&source);
    let mut page = Vec::new();
    man.render(&mut page)?;
    let mut examples = Roff::new();
    examples.control("SH", ["EXAMPLES"]).control("nf", []);
    for e in EXAMPLES {
        examples.text([roman(*e)]);
    }
    examples.control("fi", []);
    page.extend_from_slice(examples.to_roff().as_bytes());
    let mut pages = vec![(man.get_filename(), page)];

    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = Man::new(sub.clone()).source(&source);
        let mut page = Vec::new();
        man.render(&mut page)?;
        let mut see_also = Roff::new();
        see_also
            .control("SH", ["SEE ALSO"])
            .text([bold("gotrace"), roman("(1)")]);
        page.extend_from_slice(see_also.to_roff().as_bytes());
        pages.push((man.get_filename(), page));
    }
    Ok(pages)
}

/// `gotrace man`: gotrace.1 on `out`, or, with `dir`, every page written into it.
pub fn write_man(dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<()> {
    let pages = man_pages()?;
    let Some(dir) = dir else {
        return out.write_all(&pages[0].1);
    };
    for (name, page) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, page).map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
        })?;
    }
    Ok(())
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
    fn completions_and_man_subcommands() {
        assert_eq!(
            invocation(&["completions", "bash"]),
            Ok(Invocation::Completions(Shell::Bash))
        );
        assert_eq!(
            invocation(&["completions", "fish"]),
            Ok(Invocation::Completions(Shell::Fish))
        );
        assert!(
            invocation(&["completions"]).is_err(),
            "the shell is required"
        );
        assert!(invocation(&["completions", "tcsh"]).is_err());
        assert!(
            invocation(&["--pid", "1", "completions", "zsh"]).is_err(),
            "no tracing options before it"
        );
        assert_eq!(invocation(&["man"]), Ok(Invocation::Man { dir: None }));
        assert_eq!(
            invocation(&["man", "--dir", "out"]),
            Ok(Invocation::Man {
                dir: Some("out".into())
            })
        );
        // After "--" they are commands to launch.
        let c = config(&["--", "completions", "bash"]).expect("valid");
        assert_eq!(
            c.target,
            TargetSpec::Launch(vec!["completions".into(), "bash".into()])
        );
        let c = config(&["--", "man", "ls"]).expect("valid");
        assert_eq!(
            c.target,
            TargetSpec::Launch(vec!["man".into(), "ls".into()])
        );
    }

    /// The long options and subcommand names `--help` does not show.
    fn hidden_names() -> Vec<String> {
        fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
            for a in cmd.get_arguments().filter(|a| a.is_hide_set()) {
                out.extend(a.get_long().map(|l| format!("--{l}")));
            }
            for s in cmd.get_subcommands() {
                if s.is_hide_set() {
                    out.push(s.get_name().to_string());
                } else {
                    walk(s, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&Args::command(), &mut out);
        out
    }

    /// Does `shell`'s completion script offer `name`, a subcommand or a long option?
    fn offers(shell: Shell, script: &str, name: &str) -> bool {
        match (shell, name.strip_prefix("--")) {
            // complete -c gotrace -n "..." -s p -l pid -d '...'
            (Shell::Fish, Some(long)) => script.contains(&format!(" -l {long} ")),
            _ => script
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|w| w == name),
        }
    }

    #[test]
    fn completions_offer_what_help_shows() {
        let hidden = hidden_names();
        assert!(hidden.iter().any(|h| h == "man"), "{hidden:?}");
        assert!(hidden.iter().any(|h| h == "--mountinfo"), "{hidden:?}");
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut script = Vec::new();
            write_completions(shell, &mut script).expect("generate");
            let script = String::from_utf8(script).expect("UTF-8");
            for want in [
                "--pid",
                "--perfetto",
                "--build",
                "report",
                "doctor",
                "completions",
            ] {
                assert!(offers(shell, &script, want), "{shell}: no {want}");
            }
            for h in &hidden {
                assert!(
                    !offers(shell, &script, h),
                    "{shell} completes the hidden {h}"
                );
            }
        }
    }

    #[test]
    fn man_pages_document_every_visible_subcommand() {
        let pages = man_pages().expect("render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "gotrace.1",
                "gotrace-report.1",
                "gotrace-doctor.1",
                "gotrace-completions.1"
            ]
        );
        let text = |i: usize| String::from_utf8(pages[i].1.clone()).expect("UTF-8");
        let main = text(0);
        assert!(main.contains(".TH gotrace 1 "), "{main}");
        assert!(main.contains(r"\fB\-p\fR, \fB\-\-pid\fR"), "{main}");
        for sub in ["report", "doctor", "completions"] {
            assert!(main.contains(&format!(r"gotrace\-{sub}(1)")), "{main}");
        }
        assert!(
            main.contains(".SH EXAMPLES\n.nf\nsudo gotrace \\-\\-pid 1234\n"),
            "{main}"
        );
        assert!(
            !main.contains(".SH EXTRA") && !main.contains(".SH VERSION"),
            "{main}"
        );
        assert!(
            main.contains(&format!("\"gotrace {}\"", env!("CARGO_PKG_VERSION"))),
            "{main}"
        );
        let doctor = text(2);
        assert!(doctor.contains(".TH gotrace-doctor 1 "), "{doctor}");
        assert!(doctor.contains(r"\fB\-\-build\fR"), "{doctor}");
        assert!(
            doctor.contains(".SH \"SEE ALSO\"\n\\fBgotrace\\fR(1)\n"),
            "{doctor}"
        );
        for (name, page) in &pages {
            let page = String::from_utf8_lossy(page);
            for h in hidden_names() {
                let roff = h.replace('-', r"\-");
                let shown = match h.starts_with("--") {
                    true => format!(r"\fB{roff}\fR"),
                    false => format!(r"gotrace\-{roff}("),
                };
                assert!(!page.contains(&shown), "{name} documents the hidden {h}");
            }
        }
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
        let all = "--all traces every Go process: give no --pid or command";
        assert_eq!(config(&["--all", "--pid", "1"]).unwrap_err(), all);
        assert_eq!(config(&["--all", "--", "ls"]).unwrap_err(), all);
        assert_eq!(
            config(&["--pid", "1", "--cgroup", "/sys/fs/cgroup"]).unwrap_err(),
            "--cgroup needs --all"
        );
        assert_eq!(
            config(&["--all", "--max-processes", "0"]).unwrap_err(),
            "--max-processes must be at least 1"
        );
        assert!(config(&["--all", "--pprof", "p.pb.gz"])
            .unwrap_err()
            .contains("not --all"));
    }

    #[test]
    fn all_mode() {
        let c = config(&[
            "--all",
            "--cgroup",
            "/sys/fs/cgroup/x",
            "--forget-after",
            "30s",
        ])
        .expect("--all");
        assert_eq!(
            c.target,
            TargetSpec::All(HostWide {
                cgroup: Some(PathBuf::from("/sys/fs/cgroup/x")),
                max_processes: 1024,
                forget_after: Duration::from_secs(30),
            })
        );
        assert!(
            !c.follow,
            "--all follows no children: each Go process is found itself"
        );
        // On a terminal, the dashboard (its process list).
        assert_eq!(c.display, Display::Live);
        let c = config(&["--all", "--max-processes", "3"]).expect("--all");
        assert!(
            matches!(c.target, TargetSpec::All(h) if h.max_processes == 3 && h.forget_after == Duration::from_secs(300))
        );
    }

    #[test]
    fn attach_delay_is_a_hidden_option() {
        assert_eq!(config(&["--pid", "1"]).expect("valid").attach_delay, None);
        let c = config(&["--pid", "1", "--attach-delay", "1500ms"]).expect("valid");
        assert_eq!(c.attach_delay, Some(Duration::from_millis(1500)));
        let help = <Args as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(!help.contains("attach-delay"), "{help}");
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
