//! `cargo xtask bench`: gotrace's overhead, measured side by side with its peers and
//! against the limit (the floors: what any tracer on the same hooks pays) on one machine,
//! in one go: every configuration once per repetition, in a rotated order, and medians
//! with their spread (docs/benchmarks.md). Targets are reported met or not met.
//!
//! - The floors (the `bench-floor` helper, `tracer::probe::Floor`): empty raw_tp programs
//!   on sys_enter/sys_exit (the sys-hooks floor), or on every raw tracepoint gotrace
//!   attaches on this kernel (sys_enter/exit, sched_switch, sched_wakeup(_new), the
//!   process and signal hooks, io_uring's: the all-hooks floor); each also with one clock
//!   read per hook. gotrace's added cost is reported as a multiple of each floor's.
//! - Workload S (tests/workloads/bench_syscalls): goroutines issuing getppid with
//!   RawSyscall; it reports its own ns per syscall. Run untraced, under gotrace, with
//!   each of the four floors, untraced while gotrace traces another process, and under
//!   bpftrace, perf trace, strace.
//! - Workload H (tests/workloads/bench_http): a net/http server on loopback under a fixed
//!   closed-loop load from an untraced client process, measured as CPU per request: per
//!   run a fresh server is warmed by one client run, then the server's CPU (its threads'
//!   schedstat) over one measured client run is divided by the requests served; gotrace's
//!   own CPU over the same window too (throughput and p99 for reference). Untraced, the
//!   sys floor, the all-hooks floor with and without a clock read, gotrace --pid, and
//!   gotrace --pid with bpf_stats on (only for the per-program breakdown of where the
//!   added ns per request go: bpf_stats' own timing would bias the CPU figures). At least
//!   7 repetitions unless --quick. Also gotrace's idle CPU: attached to a sleeping
//!   process, its CPU over a few seconds.
//! - Every gotrace run: wall time and gotrace's CPU time to its "tracing pid" line (the
//!   attach: BTF parse, verifier), peak RSS, lost records.
//! - Streaming: paced S under `gotrace --slow 0` at doubling rates until records are lost.
//! - Slow calls: S sleeping (`-sleep 2ms`), every sleep streamed with its goroutine and
//!   user stack: the workload's and gotrace's CPU time per call, untraced, gotrace
//!   attached with nothing streamed (`--slow 1s`), with `--no-stacks`, with stacks.
//! - Symbols: `Symbols::load` of the `go` command binary (a large Go program), by the
//!   `bench-symbols` helper in fresh processes: load time and the RSS it adds.
//! - Host-wide (`gotrace --all`): 200 idle Go processes (fewer when memory is short) kept
//!   in a cgroup of their own, and workload S beside them: S untraced, untraced while
//!   `gotrace --pid` traces another, under `gotrace --pid`, under `gotrace --all`, and
//!   untraced under `gotrace --all --cgroup` of the idle ones. In each --all run:
//!   gotrace's CPU idle and while S runs, its VmRSS and VmHWM, the time to GET /metrics,
//!   the time from a new Go process's spawn to its `gotrace_process_info` on /metrics,
//!   lost records, and S's calls counted.
//!
//! Output: a table on stdout, target/bench/bench.json, and (full runs) docs/benchmarks.md.
use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    fmt::Write as _,
    fs,
    io::{self, BufRead as _, BufReader, Read, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::{build_release, build_workload, cargo, root, setup, step, works, SetupNeeds};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Repetitions of every configuration, interleaved in a rotated order
    /// [default: 5; 1 with --quick]; workload H runs at least 7 unless --quick
    #[arg(long)]
    reps: Option<usize>,
    /// Smoke test: 1 repetition, smaller N, shorter H and streaming steps; leaves
    /// docs/benchmarks.md alone unless --write-doc.
    #[arg(long)]
    quick: bool,
    /// Rewrite docs/benchmarks.md even with --quick or --only.
    #[arg(long)]
    write_doc: bool,
    /// Measure only these parts (repeatable or comma-separated): s = workload S with its
    /// peers, the floors and the not-traced process, h = workload H (CPU per request
    /// against the floors, the per-program breakdown, gotrace's idle CPU), stream = the
    /// --slow 0 rate sweep,
    /// slow = the cost per streamed slow call (with and without stacks), symbols = loading
    /// the go command's symbol tables, hostwide = gotrace --all among 200 idle Go
    /// processes (S's cost, gotrace's CPU and RSS, /metrics, new processes picked up).
    #[arg(long, value_enum, value_delimiter = ',', ignore_case = true)]
    only: Vec<Part>,
    /// Before each run, wait up to SECS for others' eBPF tracing programs (another gotrace,
    /// a test run) to be detached; runs that start with them anyway are flagged
    /// [default: 10; 0 with --quick]
    #[arg(long, value_name = "SECS")]
    settle: Option<f64>,
}

#[derive(clap::ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
enum Part {
    S,
    H,
    Stream,
    Slow,
    Symbols,
    Hostwide,
}

/// Workload H's load, requests per second: about a third of what one of this machine's
/// CPUs serves, so that the server keeps up with it traced and on a loaded machine.
const H_RATE: f64 = 8_000.0;

/// Workload H's fewest repetitions (but with --quick).
const H_MIN_REPS: usize = 7;

/// Sizes and durations of one bench run.
#[derive(Serialize, Debug, Clone)]
struct Plan {
    reps: usize,
    quick: bool,
    parts: Vec<Part>,
    goroutines: u32,
    /// getppid calls per goroutine in workload S.
    s_calls: u64,
    /// ... under perf trace and strace, which are two orders of magnitude slower.
    peer_calls: u64,
    /// Repetitions of workload H: at least 7 (its CPU per request needs them), but
    /// with --quick.
    h_reps: usize,
    http_conns: u32,
    /// The client's pace, requests per second in all: a fixed load, the same whatever
    /// the server's speed (a closed loop sends more when the server is faster, and a
    /// server answers a fuller queue with fewer wake-ups per request, which hides part
    /// of a tracer's cost).
    http_rate: f64,
    /// The measured client run.
    http_secs: f64,
    /// The client run that warms each fresh server first.
    http_warmup_secs: f64,
    /// How long gotrace's idle CPU is measured: attached to a sleeping process, and in
    /// the host-wide part tracing the idle processes.
    idle_secs: f64,
    stream_secs: f64,
    stream_start_rate: f64,
    stream_max_steps: u32,
    /// Sleeps of the slow-call workload (one goroutine).
    slow_sleeps: u64,
    /// The length of each, ms.
    slow_sleep_ms: u64,
    /// Before each run, how long to wait (s) for others' tracing programs to go.
    settle_secs: f64,
    /// Idle Go processes beside S in the host-wide part (fewer if memory is short).
    hw_idle: usize,
    /// GETs of /metrics timed per --all run.
    hw_scrapes: usize,
    /// Short-lived Go processes started per --all run to time their pickup (S is one more).
    hw_pickups: usize,
}

impl Plan {
    fn new(args: &BenchArgs) -> Result<Plan> {
        let reps = args.reps.unwrap_or(if args.quick { 1 } else { 5 });
        if reps == 0 {
            bail!("--reps must be at least 1");
        }
        let parts = if args.only.is_empty() {
            vec![
                Part::S,
                Part::H,
                Part::Stream,
                Part::Slow,
                Part::Symbols,
                Part::Hostwide,
            ]
        } else {
            args.only.clone()
        };
        let q = args.quick;
        let settle = args.settle.unwrap_or(if q { 0.0 } else { 10.0 });
        if !(0.0..=3600.0).contains(&settle) {
            bail!("--settle must be between 0 and 3600 seconds");
        }
        Ok(Plan {
            reps,
            quick: q,
            parts,
            goroutines: 2,
            s_calls: if q { 200_000 } else { 1_000_000 },
            peer_calls: if q { 10_000 } else { 50_000 },
            h_reps: if q { reps } else { reps.max(H_MIN_REPS) },
            http_conns: 16,
            http_rate: H_RATE,
            http_secs: if q { 1.0 } else { 3.0 },
            http_warmup_secs: if q { 0.2 } else { 0.5 },
            idle_secs: if q { 2.0 } else { 5.0 },
            stream_secs: if q { 0.5 } else { 2.0 },
            stream_start_rate: 100_000.0,
            stream_max_steps: 10,
            slow_sleeps: if q { 200 } else { 1_000 },
            slow_sleep_ms: 2,
            settle_secs: settle,
            hw_idle: HW_IDLE,
            hw_scrapes: 20,
            hw_pickups: if q { 5 } else { 10 },
        })
    }

    fn wants(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }

    /// Each full run rewrites the doc; partial and quick runs only when asked.
    fn writes_doc(&self, args: &BenchArgs) -> bool {
        args.write_doc || (!self.quick && args.only.is_empty())
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let plan = Plan::new(args)?;
    if !crate::is_root() {
        bail!("the bench loads eBPF programs and mounts tracefs: run it as root (sudo cargo xtask bench)");
    }
    become_subreaper();
    let tools = prepare(&plan)?;
    let mut obs = Observations::default();
    if plan.wants(Part::S) {
        measure_s(&tools, &plan, &mut obs)?;
    }
    if plan.wants(Part::H) {
        measure_h(&tools, &plan, &mut obs)?;
    }
    if plan.wants(Part::Stream) {
        obs.stream = Some(measure_stream(&tools, &plan, &mut obs)?);
    }
    if plan.wants(Part::Slow) {
        measure_slow(&tools, &plan, &mut obs)?;
    }
    if plan.wants(Part::Symbols) {
        measure_symbols(&tools, &plan, &mut obs)?;
    }
    if plan.wants(Part::Hostwide) {
        measure_hostwide(&tools, &plan, &mut obs)?;
    }
    let report = Report::new(&plan, machine(), obs);
    let table = render(&report);
    println!("{table}");

    let dir = root().join("target/bench");
    let json = dir.join("bench.json");
    let text = serde_json::to_string_pretty(&report).context("serialize the bench report")?;
    fs::write(&json, text + "\n").with_context(|| format!("write {}", json.display()))?;
    eprintln!("xtask: bench results in {}", json.display());
    if plan.writes_doc(args) {
        let doc = root().join("docs/benchmarks.md");
        fs::write(&doc, render_doc(&report, &table))
            .with_context(|| format!("write {}", doc.display()))?;
        eprintln!("xtask: rewrote {}", doc.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Preparation: packages, builds, tracefs, peers.

/// What the measurements run.
struct Tools {
    gotrace: PathBuf,
    floor: PathBuf,
    /// xtask's bench-symbols helper.
    symbols: PathBuf,
    s: PathBuf,
    h: PathBuf,
    /// target/bench/tmp: NDJSON traces and peers' output files.
    scratch: PathBuf,
    /// Why a peer is not there, when installing the peers failed.
    install_error: Option<String>,
}

/// The peers and the Debian packages they come from.
const PEER_PACKAGES: [(&str, &str); 3] = [
    ("bpftrace", "bpftrace"),
    ("perf", "linux-perf"),
    ("strace", "strace"),
];

/// bpftool tells whether others' tracing programs are loaded during a run.
const BPFTOOL: (&str, &str) = ("bpftool", "bpftool");

fn prepare(plan: &Plan) -> Result<Tools> {
    let needs = SetupNeeds {
        debian: if plan.wants(Part::S) {
            [&PEER_PACKAGES[..], &[BPFTOOL]].concat()
        } else {
            vec![BPFTOOL]
        },
    };
    // Missing peers are reported in the table, not fatal: retry without them.
    let (envs, install_error) = match setup(&needs) {
        Ok(envs) => (envs, None),
        Err(e) => {
            eprintln!("xtask: installing the peers failed: {e:#}");
            (setup(&SetupNeeds::default())?, Some(format!("{e:#}")))
        }
    };
    let gotrace = build_release()?;
    step("building the bench's helpers (bench-floor, bench-symbols)");
    crate::run(
        cargo()
            .current_dir(root())
            .args([
                "build",
                "--release",
                "-p",
                "xtask",
                "--features",
                "floor,symbols",
            ])
            .args(["--bin", "bench-floor", "--bin", "bench-symbols"])
            .envs(envs),
    )?;
    step("building the bench workloads (bench_syscalls, bench_http)");
    let s = build_workload("bench_syscalls")?;
    let h = build_workload("bench_http")?;
    let scratch = root().join("target/bench/tmp");
    fs::create_dir_all(&scratch).with_context(|| format!("create {}", scratch.display()))?;
    if plan.wants(Part::S) {
        // bpftrace and perf trace need it; if it cannot be mounted, their checks say why.
        if let Err(e) = ensure_mounted("tracefs", "/sys/kernel/tracing") {
            eprintln!("xtask: bench: {e:#}");
        }
    }
    Ok(Tools {
        gotrace,
        floor: root().join("target/release/bench-floor"),
        symbols: root().join("target/release/bench-symbols"),
        s,
        h,
        scratch,
        install_error,
    })
}

/// Mounts `fstype` at `path` unless /proc/mounts already has it there. Returns whether
/// it mounted it.
fn ensure_mounted(fstype: &str, path: &str) -> Result<bool> {
    if mount_points(fstype)?.iter().any(|p| p == Path::new(path)) {
        return Ok(false);
    }
    step(&format!("mounting {fstype} at {path} (the peers need it)"));
    crate::run(Command::new("mount").args(["-t", fstype, "nodev", path]))?;
    Ok(true)
}

/// Where filesystems of type `fstype` are mounted (/proc/mounts), in its order.
fn mount_points(fstype: &str) -> Result<Vec<PathBuf>> {
    let mounts = fs::read_to_string("/proc/mounts").context("read /proc/mounts")?;
    Ok(mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().skip(1);
            let (point, t) = (f.next()?, f.next()?);
            (t == fstype).then(|| PathBuf::from(point))
        })
        .collect())
}

/// Whether a peer can run here: Err(reason) when it cannot. A tiny run of the peer's
/// S configuration is the test; perf gets debugfs mounted and a second try.
fn peer_check(tools: &Tools, plan: &Plan, config: SConfig) -> Result<(), String> {
    let Some(program) = config.program() else {
        return Ok(());
    };
    if works("sh", &["-c", &format!("command -v {program}")]).is_none() {
        return Err(match &tools.install_error {
            Some(e) => format!("{program} not installed ({e})"),
            None => format!("{program} not installed"),
        });
    }
    let attempt = || run_s(tools, plan, config, 1_000).map(|_| ());
    match attempt() {
        Ok(()) => Ok(()),
        Err(e) if config == SConfig::PerfTrace => {
            match ensure_mounted("debugfs", "/sys/kernel/debug") {
                Ok(true) => attempt().map_err(|e| format!("{e:#}")),
                Ok(false) => Err(format!("{e:#}")),
                Err(m) => Err(format!("{e:#}; mounting debugfs: {m:#}")),
            }
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

// ---------------------------------------------------------------------------------------
// Workload S.

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum SConfig {
    Untraced,
    Floor,
    FloorClock,
    FloorAll,
    FloorAllClock,
    Gotrace,
    GotraceOther,
    Bpftrace,
    PerfTrace,
    Strace,
}

const S_CONFIGS: [SConfig; 10] = [
    SConfig::Untraced,
    SConfig::Floor,
    SConfig::FloorClock,
    SConfig::FloorAll,
    SConfig::FloorAllClock,
    SConfig::Gotrace,
    SConfig::GotraceOther,
    SConfig::Bpftrace,
    SConfig::PerfTrace,
    SConfig::Strace,
];

/// bpftrace doing what gotrace's summary does: per-syscall counts and latency histograms
/// for the target (`-c` sets cpid).
const BPFTRACE_SCRIPT: &str =
    "tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @start[tid] = nsecs; } \
tracepoint:raw_syscalls:sys_exit /pid == cpid && @start[tid]/ { @calls[args->id] = count(); \
@lat[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]); }";

impl SConfig {
    fn label(self) -> &'static str {
        match self {
            SConfig::Untraced => "untraced",
            SConfig::Floor => "floor (empty raw_tp enter+exit)",
            SConfig::FloorClock => "floor + a clock read per hook",
            SConfig::FloorAll => "floor (empty raw_tp on every hook)",
            SConfig::FloorAllClock => "floor on every hook + a clock read",
            SConfig::Gotrace => "gotrace (summary, defaults)",
            SConfig::GotraceOther => "untraced, gotrace tracing another",
            SConfig::Bpftrace => "bpftrace (count + hist)",
            SConfig::PerfTrace => "perf trace -s",
            SConfig::Strace => "strace -f -c",
        }
    }

    /// The floor's (clock, all hooks), for floors.
    fn floor(self) -> Option<Floor> {
        match self {
            SConfig::Floor => Some(Floor::SYS),
            SConfig::FloorClock => Some(Floor::SYS_CLOCK),
            SConfig::FloorAll => Some(Floor::ALL),
            SConfig::FloorAllClock => Some(Floor::ALL_CLOCK),
            _ => None,
        }
    }

    /// The peer's program, for peers.
    fn program(self) -> Option<&'static str> {
        match self {
            SConfig::Bpftrace => Some("bpftrace"),
            SConfig::PerfTrace => Some("perf"),
            SConfig::Strace => Some("strace"),
            _ => None,
        }
    }

    /// Calls per goroutine: perf trace and strace get fewer (the per-call figure does not
    /// depend on it).
    fn calls(self, plan: &Plan) -> u64 {
        match self {
            SConfig::PerfTrace | SConfig::Strace => plan.peer_calls,
            _ => plan.s_calls,
        }
    }
}

/// The argv of workload S; paced at `rate` calls/s (all goroutines) when given.
fn s_argv(tools: &Tools, plan: &Plan, calls: u64, rate: Option<f64>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        tools.s.clone().into(),
        "-n".into(),
        calls.to_string().into(),
        "-goroutines".into(),
        plan.goroutines.to_string().into(),
    ];
    if let Some(r) = rate {
        argv.extend(["-rate".into(), format!("{r:.0}").into()]);
    }
    argv
}

/// What one run of workload S measured.
struct SOutcome {
    ns_per_syscall: f64,
    /// The CPU time its threads spent per call (cpu_ns_per_syscall=).
    cpu_ns_per_syscall: f64,
    /// gotrace's own figures, when gotrace ran.
    gotrace: Option<GotraceRun>,
    /// The hooks a floor attached, when a floor ran.
    floor_hooks: Option<Vec<String>>,
}

/// One run of workload S under `config`.
fn run_s(tools: &Tools, plan: &Plan, config: SConfig, calls: u64) -> Result<SOutcome> {
    let argv = s_argv(tools, plan, calls, None);
    let ns = s_figures;
    let outcome = |(ns_per_syscall, cpu_ns_per_syscall), gotrace| SOutcome {
        ns_per_syscall,
        cpu_ns_per_syscall,
        gotrace,
        floor_hooks: None,
    };
    let plain = |cmd: &mut Command| -> Result<SOutcome> {
        Ok(outcome(ns(&output(cmd, RUN_TIMEOUT)?)?, None))
    };
    if let Some(floor) = config.floor() {
        let guard = FloorGuard::attach(&tools.floor, floor.clock, floor.all)?;
        let mut o = plain(&mut command(&argv))?;
        o.floor_hooks = Some(guard.hooks.clone());
        return Ok(o);
    }
    match config {
        SConfig::Untraced => plain(&mut command(&argv)),
        SConfig::Floor | SConfig::FloorClock | SConfig::FloorAll | SConfig::FloorAllClock => {
            unreachable!("floors are run above")
        }
        SConfig::Gotrace => {
            let json = tools.scratch.join("s.ndjson");
            let (out, g) = gotrace_launch(tools, &[], &json, &argv)?;
            Ok(outcome(ns(&out)?, Some(g)))
        }
        SConfig::GotraceOther => {
            let sleeper = sleeper()?;
            let json = tools.scratch.join("other.ndjson");
            let (out, g) = gotrace_attached(tools, sleeper.pid(), &json, |_| {
                output(&mut command(&argv), RUN_TIMEOUT)
            })?;
            Ok(outcome(ns(&out)?, Some(g)))
        }
        SConfig::Bpftrace => {
            let line = command_line(&argv)?;
            plain(&mut peer(
                "bpftrace",
                &["-e", BPFTRACE_SCRIPT, "-c", &line],
                None,
            ))
        }
        SConfig::PerfTrace => plain(&mut peer(
            "perf",
            &["trace", "-s", "-o"],
            Some((&tools.scratch.join("perf-trace.txt"), &argv)),
        )),
        SConfig::Strace => plain(&mut peer(
            "strace",
            &["-f", "-c", "-o"],
            Some((&tools.scratch.join("strace.txt"), &argv)),
        )),
    }
}

/// Workload S's own figures: the `ns_per_syscall=` (wall) and `cpu_ns_per_syscall=`
/// (its threads' CPU time) of its line.
fn s_figures(out: &str) -> Result<(f64, f64)> {
    let kv = Kv::find(out, "ns_per_syscall")?;
    Ok((kv.get("ns_per_syscall")?, kv.get("cpu_ns_per_syscall")?))
}

/// Starts a workload that waits for its standard input to close (`-wait-stdin`), and
/// waits until it says so.
fn start_waiting(argv: &[OsString]) -> Result<Running> {
    let mut w = Running::spawn(command(argv).stdin(Stdio::piped()))?;
    w.wait_line(WAITING_LINE, ATTACH_TIMEOUT)?;
    Ok(w)
}

/// Closes the standard input of workload S started waiting: its loops run. Its ns per
/// syscall, once it has ended.
fn s_release(mut w: Running) -> Result<(f64, f64)> {
    drop(w.child.stdin.take());
    s_figures(&w.finish(RUN_TIMEOUT)?.stdout)
}

/// A peer's command line: `program args [FILE -- argv]`.
fn peer(program: &str, args: &[&str], file_then_argv: Option<(&Path, &[OsString])>) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if let Some((file, argv)) = file_then_argv {
        cmd.arg(file).arg("--").args(argv);
    }
    cmd
}

/// Every S configuration once per repetition, in a rotated order.
fn measure_s(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<()> {
    let mut configs = Vec::new();
    for config in S_CONFIGS {
        match peer_check(tools, plan, config) {
            Ok(()) => configs.push(config),
            Err(reason) => {
                eprintln!("xtask: bench: {} cannot run: {reason}", config.label());
                obs.s_notes.insert(config, format!("cannot run: {reason}"));
            }
        }
    }
    for rep in 0..plan.reps {
        for config in rotated(&configs, rep) {
            let calls = config.calls(plan);
            let watch = obs.before_run(plan);
            match run_s(tools, plan, config, calls) {
                Ok(SOutcome {
                    ns_per_syscall: ns,
                    gotrace: g,
                    floor_hooks,
                    ..
                }) => {
                    progress(
                        plan.reps,
                        rep,
                        "S",
                        config.label(),
                        &format!("{ns:.1} ns/syscall"),
                    );
                    obs.after_run(watch, Part::S, config.label());
                    obs.s.entry(config).or_default().push(ns);
                    obs.note_floor(config.floor(), floor_hooks);
                    if let Some(g) = g {
                        let role = if config == SConfig::Gotrace {
                            Role::Traced
                        } else {
                            Role::Other
                        };
                        obs.gotrace.push((role, g));
                    }
                }
                // A peer failing once is reported; gotrace or the baseline failing is fatal.
                Err(e) if config.program().is_some() => {
                    eprintln!("xtask: bench: {} failed: {e:#}", config.label());
                    obs.s_notes
                        .insert(config, format!("failed in rep {}: {e:#}", rep + 1));
                }
                Err(e) => return Err(e.context(format!("workload S, {}", config.label()))),
            }
        }
    }
    Ok(())
}

fn rotated<T: Copy>(items: &[T], rep: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        let k = rep % v.len();
        v.rotate_left(k);
    }
    v
}

/// A progress line: repetition `rep` (from 0) of `reps`.
fn progress(reps: usize, rep: usize, part: &str, label: &str, value: &str) {
    eprintln!(
        "xtask: bench rep {}/{reps} {part} {label:<36} {value}",
        rep + 1,
    );
}

// ---------------------------------------------------------------------------------------
// The floors.

/// A floor (the `bench-floor` helper): empty raw_tp programs on sys_enter/sys_exit, or
/// on every raw tracepoint gotrace attaches (`all`); with `clock`, each reads the clock
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Floor {
    clock: bool,
    all: bool,
}

impl Floor {
    const SYS: Floor = Floor {
        clock: false,
        all: false,
    };
    const SYS_CLOCK: Floor = Floor {
        clock: true,
        all: false,
    };
    const ALL: Floor = Floor {
        clock: false,
        all: true,
    };
    const ALL_CLOCK: Floor = Floor {
        clock: true,
        all: true,
    };
}

/// gotrace's added cost as a multiple of each floor's added cost (None: that floor was
/// not run, or its added cost was not above zero).
#[derive(Serialize, Debug, Default, Clone, Copy, PartialEq)]
struct FloorMultiples {
    /// Empty programs on sys_enter/sys_exit.
    sys: Option<f64>,
    /// ... each with a clock read.
    sys_clock: Option<f64>,
    /// Empty programs on every hook gotrace attaches.
    all: Option<f64>,
    /// ... each with a clock read.
    all_clock: Option<f64>,
}

impl FloorMultiples {
    /// `added` against each floor's added cost.
    fn of(added: Option<f64>, floors: [Option<f64>; 4]) -> FloorMultiples {
        let [sys, sys_clock, all, all_clock] = floors.map(|f| multiple(added, f));
        FloorMultiples {
            sys,
            sys_clock,
            all,
            all_clock,
        }
    }

    fn is_empty(&self) -> bool {
        *self == FloorMultiples::default()
    }
}

/// `added` / `floor_added`, when the floor's added cost is above zero (else it is noise).
fn multiple(added: Option<f64>, floor_added: Option<f64>) -> Option<f64> {
    added
        .zip(floor_added)
        .filter(|(_, f)| *f > 0.0)
        .map(|(a, f)| a / f)
}

// ---------------------------------------------------------------------------------------
// Workload H.

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum HConfig {
    Untraced,
    Floor,
    FloorAll,
    FloorAllClock,
    Gotrace,
    /// gotrace with bpf_stats on: only for where the added ns go, per program.
    GotraceStats,
}

const H_CONFIGS: [HConfig; 6] = [
    HConfig::Untraced,
    HConfig::Floor,
    HConfig::FloorAll,
    HConfig::FloorAllClock,
    HConfig::Gotrace,
    HConfig::GotraceStats,
];

impl HConfig {
    fn label(self) -> &'static str {
        match self {
            HConfig::Untraced => "untraced",
            HConfig::Floor => "floor (empty raw_tp enter+exit)",
            HConfig::FloorAll => "floor (empty raw_tp on every hook)",
            HConfig::FloorAllClock => "floor on every hook + a clock read",
            HConfig::Gotrace => "gotrace --pid (summary, defaults)",
            HConfig::GotraceStats => "gotrace --pid, bpf_stats on",
        }
    }

    fn floor(self) -> Option<Floor> {
        match self {
            HConfig::Floor => Some(Floor::SYS),
            HConfig::FloorAll => Some(Floor::ALL),
            HConfig::FloorAllClock => Some(Floor::ALL_CLOCK),
            _ => None,
        }
    }
}

/// One run of workload H: one measured client run against a fresh, warmed server.
#[derive(Serialize, Debug, Clone)]
struct HRun {
    /// Requests served in the measured client run (the client's `requests=`).
    requests: u64,
    /// Requests that failed (counted nowhere else).
    errors: f64,
    /// The server's CPU time over the measured run (its threads' schedstat, before the
    /// client starts and after it ends), ns per request.
    server_cpu_ns: f64,
    /// The client's CPU time (wait4: its whole run), ns per request.
    client_cpu_ns: f64,
    /// gotrace's own CPU time over the same window as the server's, ns per request.
    gotrace_cpu_ns: Option<f64>,
    /// For reference: what the client saw.
    rps: f64,
    p99_us: f64,
    /// With bpf_stats on: what each of gotrace's programs ran over the window.
    programs: Option<Vec<ProgDelta>>,
}

/// What one client run of workload H reported.
struct ClientRun {
    rps: f64,
    p99_us: f64,
    requests: u64,
    errors: f64,
    /// wait4's user + system time of the client, seconds.
    cpu_secs: f64,
}

/// After a client run, before the server's CPU is read: the server closes the client's
/// connections (each measured window has one client's connections, opened and closed).
const H_QUIET: Duration = Duration::from_millis(50);

/// One client run against `url`: `secs` of closed-loop load, all of it counted.
fn h_client(tools: &Tools, plan: &Plan, url: &str, secs: f64) -> Result<ClientRun> {
    let ms = |s: f64| format!("{}ms", (s * 1000.0).round() as u64);
    let done = Running::spawn(
        Command::new(&tools.h)
            .args(["-mode", "client", "-url", url])
            .args(["-c", &plan.http_conns.to_string()])
            .args(["-rate", &plan.http_rate.to_string()])
            .args(["-duration", &ms(secs)])
            .args(["-warmup", "0s"])
            .stdin(Stdio::null()),
    )?
    .finish(RUN_TIMEOUT)?;
    let kv = Kv::find(&done.stdout, "rps")?;
    let requests = kv.get("requests")?;
    if requests < 1.0 {
        bail!("the client served no request");
    }
    Ok(ClientRun {
        rps: kv.get("rps")?,
        p99_us: kv.get("p99_us")?,
        requests: requests as u64,
        errors: kv.get("errors")?,
        cpu_secs: done.cpu_secs,
    })
}

/// What one H run measured, and what ran beside it.
struct HOutcome {
    run: HRun,
    gotrace: Option<GotraceRun>,
    floor_hooks: Option<Vec<String>>,
}

/// One run of workload H: a fresh server; the floor attached or gotrace attached to it
/// (if any); one client run to warm it; then one measured client run.
fn run_h(tools: &Tools, plan: &Plan, config: HConfig) -> Result<HOutcome> {
    let mut server = Running::spawn(
        Command::new(&tools.h)
            .args(["-mode", "server", "-addr", "127.0.0.1:0"])
            .stdin(Stdio::null()),
    )?;
    let (_, line) = server.wait_line("listening=", Duration::from_secs(10))?;
    let url = format!("http://{}/", line.trim().trim_start_matches("listening="));
    let server_pid = server.pid();
    // `gotrace`: its pid, when it traces the server; `stats`: the programs there were
    // before it started, when bpf_stats are to time its own.
    let measured = |gotrace: Option<u32>, stats: Option<&BTreeSet<u32>>| -> Result<HRun> {
        if plan.http_warmup_secs > 0.0 {
            h_client(tools, plan, &url, plan.http_warmup_secs).context("the warm-up run")?;
        }
        thread::sleep(H_QUIET);
        let timing = match gotrace.zip(stats) {
            Some((pid, before)) => Some(ProgTiming::start(pid, before)?),
            None => None,
        };
        let server_start = threads_cpu_secs(server_pid)?;
        let gotrace_start = gotrace.map(threads_cpu_secs).transpose()?;
        let c = h_client(tools, plan, &url, plan.http_secs)?;
        thread::sleep(H_QUIET);
        let server_end = threads_cpu_secs(server_pid)?;
        let gotrace_end = gotrace.map(threads_cpu_secs).transpose()?;
        let programs = timing.map(ProgTiming::finish).transpose()?;
        let per_request = |secs: f64| secs * 1e9 / c.requests as f64;
        Ok(HRun {
            requests: c.requests,
            errors: c.errors,
            server_cpu_ns: per_request(server_end - server_start),
            client_cpu_ns: per_request(c.cpu_secs),
            gotrace_cpu_ns: gotrace_start
                .zip(gotrace_end)
                .map(|(start, end)| per_request(end - start)),
            rps: c.rps,
            p99_us: c.p99_us,
            programs,
        })
    };
    if let Some(floor) = config.floor() {
        let guard = FloorGuard::attach(&tools.floor, floor.clock, floor.all)?;
        let run = measured(None, None)?;
        return Ok(HOutcome {
            run,
            gotrace: None,
            floor_hooks: Some(guard.hooks.clone()),
        });
    }
    match config {
        HConfig::Untraced => Ok(HOutcome {
            run: measured(None, None)?,
            gotrace: None,
            floor_hooks: None,
        }),
        HConfig::Gotrace | HConfig::GotraceStats => {
            let before = if config == HConfig::GotraceStats {
                Some(prog_ids().context("list the eBPF programs before gotrace")?)
            } else {
                None
            };
            let json = tools.scratch.join("h.ndjson");
            let (run, g) = gotrace_attached(tools, server_pid, &json, |pid| {
                measured(Some(pid), before.as_ref())
            })?;
            Ok(HOutcome {
                run,
                gotrace: Some(g),
                floor_hooks: None,
            })
        }
        HConfig::Floor | HConfig::FloorAll | HConfig::FloorAllClock => {
            unreachable!("floors are run above")
        }
    }
}

/// gotrace's idle CPU: attached to a sleeping process.
#[derive(Serialize, Debug, Clone, Copy)]
struct IdleRun {
    /// The window, s.
    secs: f64,
    /// gotrace's CPU time in it, ms.
    cpu_ms: f64,
    /// ... as a share of one CPU, percent.
    pct: f64,
}

/// From gotrace's "tracing pid" line to the idle window: the end of attaching.
const IDLE_SETTLE: Duration = Duration::from_millis(250);

const IDLE_LABEL: &str = "gotrace idle (--pid of a sleep)";

/// gotrace attached to a sleeping `sleep`: its CPU time over `plan.idle_secs`, from a
/// moment after its "tracing pid" line.
fn run_idle(tools: &Tools, plan: &Plan) -> Result<(IdleRun, GotraceRun)> {
    let sleeper = sleeper()?;
    let json = tools.scratch.join("idle.ndjson");
    gotrace_attached(tools, sleeper.pid(), &json, |pid| {
        idle_window(pid, plan.idle_secs)
    })
}

/// gotrace (`pid`) left alone: its CPU time over `secs`, from IDLE_SETTLE on.
fn idle_window(pid: u32, secs: f64) -> Result<IdleRun> {
    thread::sleep(IDLE_SETTLE);
    let (at, start) = (Instant::now(), threads_cpu_secs(pid)?);
    thread::sleep(Duration::from_secs_f64(secs));
    let end = threads_cpu_secs(pid)?;
    let secs = at.elapsed().as_secs_f64();
    Ok(IdleRun {
        secs,
        cpu_ms: (end - start) * 1e3,
        pct: idle_pct(end - start, secs),
    })
}

/// CPU seconds over wall seconds, as a percentage of one CPU.
fn idle_pct(cpu_secs: f64, wall_secs: f64) -> f64 {
    if wall_secs > 0.0 {
        100.0 * cpu_secs / wall_secs
    } else {
        0.0
    }
}

/// A process that sleeps until killed (when dropped).
fn sleeper() -> Result<Running> {
    Running::spawn(Command::new("sleep").arg("100000").stdin(Stdio::null()))
}

/// Every H configuration once per repetition (at least H_MIN_REPS but with --quick), in
/// a rotated order, then gotrace's idle CPU once.
fn measure_h(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<()> {
    let reps = plan.h_reps;
    let mut configs = H_CONFIGS.to_vec();
    for rep in 0..reps {
        for config in rotated(&configs, rep) {
            let watch = obs.before_run(plan);
            match run_h(tools, plan, config) {
                Ok(o) => {
                    let r = &o.run;
                    let gotrace = r
                        .gotrace_cpu_ns
                        .map_or_else(String::new, |g| format!(" (gotrace {:.2} µs)", g / 1e3));
                    progress(
                        reps,
                        rep,
                        "H",
                        config.label(),
                        &format!(
                            "{:.2} µs CPU/request{gotrace}, {:.0} req/s, p99 {:.0} µs, {} errors",
                            r.server_cpu_ns / 1e3,
                            r.rps,
                            r.p99_us,
                            r.errors
                        ),
                    );
                    obs.after_run(watch, Part::H, config.label());
                    obs.note_floor(config.floor(), o.floor_hooks);
                    if let Some(g) = o.gotrace {
                        obs.gotrace.push((Role::Traced, g));
                    }
                    obs.h.entry(config).or_default().push(o.run);
                }
                // The breakdown is extra: without it, the rest stands.
                Err(e) if config == HConfig::GotraceStats => {
                    eprintln!("xtask: bench: {} failed: {e:#}", config.label());
                    obs.h_notes.insert(
                        config,
                        format!("failed in rep {} (not run again): {e:#}", rep + 1),
                    );
                    configs.retain(|&c| c != config);
                }
                Err(e) => return Err(e.context(format!("workload H, {}", config.label()))),
            }
        }
        let watch = obs.before_run(plan);
        let (idle, g) = run_idle(tools, plan).context("gotrace's idle CPU")?;
        progress(
            reps,
            rep,
            "H",
            IDLE_LABEL,
            &format!(
                "{:.3}% of a CPU ({:.1} ms in {:.1} s)",
                idle.pct, idle.cpu_ms, idle.secs
            ),
        );
        obs.after_run(watch, Part::H, IDLE_LABEL);
        obs.gotrace.push((Role::Other, g));
        obs.idle.push(idle);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bpf_stats: where the added ns go, per program.

/// bpf_stats on (each program's run count and run time) for as long as it lives, then
/// as before. By BPF_ENABLE_STATS (Linux 5.8+): on while its file descriptor is open,
/// so even a bench killed midway leaves them off; else by the kernel.bpf_stats_enabled
/// sysctl, set back to its previous value when dropped (whatever way the run ends, but
/// for a kill).
struct BpfStats {
    fd: Option<libc::c_int>,
    /// The sysctl's previous value, when it was written.
    restore: Option<String>,
}

const BPF_STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> Result<BpfStats> {
        /// include/uapi/linux/bpf.h: enum bpf_cmd, enum bpf_stats_type.
        const BPF_ENABLE_STATS: libc::c_long = 32;
        const BPF_STATS_RUN_TIME: u32 = 0;
        // union bpf_attr's enable_stats: { __u32 type; }, the rest zero.
        let attr = [BPF_STATS_RUN_TIME, 0u32];
        // SAFETY: bpf(2) reads `size_of_val(&attr)` bytes from a valid, initialised buffer.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_ENABLE_STATS,
                attr.as_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        if fd >= 0 {
            return Ok(BpfStats {
                fd: Some(fd as libc::c_int),
                restore: None,
            });
        }
        let why = io::Error::last_os_error();
        let before = fs::read_to_string(BPF_STATS_SYSCTL)
            .with_context(|| format!("BPF_ENABLE_STATS failed ({why}); read {BPF_STATS_SYSCTL}"))?;
        fs::write(BPF_STATS_SYSCTL, "1").with_context(|| {
            format!("BPF_ENABLE_STATS failed ({why}); write {BPF_STATS_SYSCTL}")
        })?;
        Ok(BpfStats {
            fd: None,
            restore: Some(before.trim().to_string()),
        })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            // SAFETY: the fd was returned by the kernel to this guard, which alone owns it.
            unsafe { libc::close(fd) };
        }
        if let Some(before) = self.restore.take() {
            if let Err(e) = fs::write(BPF_STATS_SYSCTL, &before) {
                eprintln!("xtask: bench: could not set {BPF_STATS_SYSCTL} back to {before}: {e}");
            }
        }
    }
}

/// One program as `bpftool -j prog show` lists it.
#[derive(Debug, Clone, PartialEq)]
struct ProgInfo {
    id: u32,
    name: String,
    /// 0 when bpftool shows none (it leaves them out while bpf_stats never counted).
    run_time_ns: u64,
    run_cnt: u64,
    /// The processes holding it, when bpftool can tell (built with skeletons).
    pids: Option<Vec<u32>>,
}

/// What one of gotrace's programs ran over a window.
#[derive(Serialize, Debug, Clone, PartialEq)]
struct ProgDelta {
    name: String,
    /// The raw tracepoints it is attached to.
    hooks: String,
    runs: u64,
    run_time_ns: u64,
}

/// gotrace's program names (tracer_common::programs, but the floor's).
const GOTRACE_PROGRAMS: [&str; 18] = [
    "sys_enter",
    "sys_exit",
    "sched_switch",
    "sched_switch_state",
    "sched_wakeup",
    "sched_wakeup_new",
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "sched_process_exit_live",
    "signal_generate",
    "signal_deliver",
    "io_uring_create",
    "io_uring_submit_req",
    "io_uring_submit_sqe_user_data",
    "io_uring_complete",
    "io_uring_complete_res",
    "io_uring_complete_user_data",
];

/// The kernel keeps a program's name to 15 bytes (BPF_OBJ_NAME_LEN); bpftool shows the
/// full name only when the program has BTF function info.
const BPF_NAME_LEN: usize = 15;

/// Is `shown` (maybe cut to 15 bytes) the name of one of gotrace's programs?
fn is_gotrace_program(shown: &str) -> bool {
    GOTRACE_PROGRAMS
        .iter()
        .any(|&n| n == shown || (shown.len() == BPF_NAME_LEN && n.starts_with(shown)))
}

/// The programs in `bpftool -j prog show`'s output.
fn parse_progs(json: &str) -> Result<Vec<ProgInfo>> {
    let v: serde_json::Value = serde_json::from_str(json).context("bpftool prog show: not JSON")?;
    let list = v
        .as_array()
        .context("bpftool prog show: not a JSON array")?;
    let u64_of = |p: &serde_json::Value, k: &str| p.get(k).and_then(|x| x.as_u64());
    list.iter()
        .map(|p| {
            let id = u64_of(p, "id").context("bpftool prog show: a program without an id")?;
            Ok(ProgInfo {
                id: u32::try_from(id).context("bpftool prog show: an id out of range")?,
                name: p
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_string(),
                run_time_ns: u64_of(p, "run_time_ns").unwrap_or(0),
                run_cnt: u64_of(p, "run_cnt").unwrap_or(0),
                pids: p.get("pids").and_then(|l| l.as_array()).map(|l| {
                    l.iter()
                        .filter_map(|e| u64_of(e, "pid").and_then(|n| u32::try_from(n).ok()))
                        .collect()
                }),
            })
        })
        .collect()
}

/// The raw tracepoints of each program, from `bpftool -j link show`'s raw_tracepoint
/// links: program id -> tracepoint names.
fn parse_raw_tp_links(json: &str) -> Result<BTreeMap<u32, Vec<String>>> {
    let v: serde_json::Value = serde_json::from_str(json).context("bpftool link show: not JSON")?;
    let list = v
        .as_array()
        .context("bpftool link show: not a JSON array")?;
    let mut hooks: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for l in list {
        if l.get("type").and_then(|t| t.as_str()) != Some("raw_tracepoint") {
            continue;
        }
        let prog = l
            .get("prog_id")
            .and_then(|p| p.as_u64())
            .and_then(|p| u32::try_from(p).ok());
        let tp = l.get("tp_name").and_then(|t| t.as_str());
        if let (Some(prog), Some(tp)) = (prog, tp) {
            hooks.entry(prog).or_default().push(tp.to_string());
        }
    }
    Ok(hooks)
}

/// gotrace's programs among `progs`: named as one of gotrace's, loaded since `before`
/// was listed, and held by process `gotrace`, as far as that can be told: by the
/// programs its file descriptors refer to (`held`, when /proc tells), and by bpftool's
/// `pids` (when it is built to list them). Another gotrace, a test run, may have the
/// same programs loaded.
fn select_gotrace_programs(
    progs: &[ProgInfo],
    gotrace: u32,
    before: &BTreeSet<u32>,
    held: &BTreeSet<u32>,
) -> Vec<ProgInfo> {
    progs
        .iter()
        .filter(|p| !before.contains(&p.id) && is_gotrace_program(&p.name))
        .filter(|p| held.is_empty() || held.contains(&p.id))
        .filter(|p| p.pids.as_ref().is_none_or(|pids| pids.contains(&gotrace)))
        .cloned()
        .collect()
}

/// The program a BPF file descriptor refers to, from its /proc/PID/fdinfo/FD: a
/// program's and a link's both have a `prog_id:` line.
fn parse_fdinfo_prog_id(fdinfo: &str) -> Option<u32> {
    fdinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == "prog_id").then(|| value.trim().parse().ok())?
    })
}

/// The programs process `pid` holds file descriptors of (itself or through links); empty
/// if /proc cannot tell.
fn prog_ids_held_by(pid: u32) -> BTreeSet<u32> {
    let dir = format!("/proc/{pid}/fdinfo");
    let Ok(entries) = fs::read_dir(&dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| parse_fdinfo_prog_id(&text))
        .collect()
}

/// Each program of `before` over the window to `after` (matched by id).
fn prog_deltas(
    before: &[ProgInfo],
    after: &[ProgInfo],
    hooks: &BTreeMap<u32, Vec<String>>,
) -> Vec<ProgDelta> {
    before
        .iter()
        .filter_map(|b| {
            let a = after.iter().find(|a| a.id == b.id)?;
            Some(ProgDelta {
                name: a.name.clone(),
                hooks: hooks
                    .get(&b.id)
                    .map_or_else(|| "?".to_string(), |h| h.join(" ")),
                runs: a.run_cnt.saturating_sub(b.run_cnt),
                run_time_ns: a.run_time_ns.saturating_sub(b.run_time_ns),
            })
        })
        .collect()
}

fn bpftool_json(args: &[&str]) -> Result<String> {
    output(
        Command::new(BPFTOOL.0)
            .arg("-j")
            .args(args)
            .stdin(Stdio::null()),
        Duration::from_secs(30),
    )
}

/// The ids of the programs loaded now.
fn prog_ids() -> Result<BTreeSet<u32>> {
    Ok(parse_progs(&bpftool_json(&["prog", "show"])?)?
        .into_iter()
        .map(|p| p.id)
        .collect())
}

/// gotrace's programs timed by bpf_stats, from `start` to `finish`.
struct ProgTiming {
    _stats: BpfStats,
    before: Vec<ProgInfo>,
    hooks: BTreeMap<u32, Vec<String>>,
}

impl ProgTiming {
    /// bpf_stats on, and gotrace's programs (process `gotrace`; `before`: the programs
    /// loaded before it started) as they are now.
    fn start(gotrace: u32, before: &BTreeSet<u32>) -> Result<ProgTiming> {
        let stats = BpfStats::enable()?;
        let progs = parse_progs(&bpftool_json(&["prog", "show"])?)?;
        let held = prog_ids_held_by(gotrace);
        let mine = select_gotrace_programs(&progs, gotrace, before, &held);
        if mine.is_empty() {
            bail!("bpftool prog show lists none of gotrace's programs");
        }
        let hooks = parse_raw_tp_links(&bpftool_json(&["link", "show"])?)?;
        Ok(ProgTiming {
            _stats: stats,
            before: mine,
            hooks,
        })
    }

    /// What each ran since `start`; bpf_stats back as they were.
    fn finish(self) -> Result<Vec<ProgDelta>> {
        let after = parse_progs(&bpftool_json(&["prog", "show"])?)?;
        Ok(prog_deltas(&self.before, &after, &self.hooks))
    }
}

// ---------------------------------------------------------------------------------------
// Streaming: every syscall through the ring buffer (--slow 0).

#[derive(Serialize, Debug, Clone)]
struct StreamStep {
    /// Calls/s asked of the workload (all goroutines).
    target_rate: f64,
    /// Calls/s the workload reached.
    workload_rate: f64,
    /// Records gotrace consumed (summary.slow_calls).
    records: u64,
    duration_ns: u64,
    /// records / duration.
    records_per_s: f64,
    lost_records: u64,
    /// 2 when the first attempt lost records and the step was run again (this is the
    /// second): one loss can be a moment of contention.
    attempts: u32,
}

#[derive(Serialize, Debug, Clone)]
struct Stream {
    secs_per_step: f64,
    steps: Vec<StreamStep>,
    /// The highest records/s of a step with no loss.
    best_zero_loss_per_s: Option<f64>,
    /// The first step that lost records.
    loss_began: Option<StreamStep>,
    /// Why the sweep stopped.
    stopped: String,
}

fn stream_step(tools: &Tools, plan: &Plan, rate: f64) -> Result<(StreamStep, GotraceRun)> {
    let calls = (rate * plan.stream_secs / f64::from(plan.goroutines)).ceil() as u64;
    let argv = s_argv(tools, plan, calls.max(1), Some(rate));
    let json = tools.scratch.join("stream.ndjson");
    let (out, g) = gotrace_launch(tools, &["--slow", "0"], &json, &argv)?;
    let workload_rate = Kv::find(&out, "rate")?.get("rate")?;
    let step = StreamStep {
        target_rate: rate,
        workload_rate,
        records: g.summary.slow_calls,
        duration_ns: g.summary.duration_ns,
        records_per_s: g.summary.slow_calls as f64 / (g.summary.duration_ns.max(1) as f64 / 1e9),
        lost_records: g.summary.lost_records,
        attempts: 1,
    };
    Ok((step, g))
}

/// One rate of the sweep; run again once if it lost records.
fn stream_rate(
    tools: &Tools,
    plan: &Plan,
    obs: &mut Observations,
    rate: f64,
) -> Result<StreamStep> {
    let mut attempt = 1;
    loop {
        let watch = obs.before_run(plan);
        let (mut s, g) = stream_step(tools, plan, rate)
            .with_context(|| format!("streaming at {}", fmt_rate(rate)))?;
        eprintln!(
            "xtask: bench stream {:>10} asked: workload {:>10}, {:>10} records/s, {} lost",
            fmt_rate(rate),
            fmt_rate(s.workload_rate),
            fmt_rate(s.records_per_s),
            s.lost_records
        );
        obs.after_run(watch, Part::Stream, "paced S, --slow 0");
        obs.gotrace.push((Role::Streaming, g));
        s.attempts = attempt;
        if s.lost_records == 0 || attempt == 2 {
            return Ok(s);
        }
        attempt += 1;
    }
}

/// Paced S at doubling rates until records are lost (twice in a row) or the workload
/// cannot go faster.
fn measure_stream(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<Stream> {
    let mut steps = Vec::new();
    let mut rate = plan.stream_start_rate;
    let mut loss_began = None;
    let mut stopped = None;
    for _ in 0..plan.stream_max_steps {
        let s = stream_rate(tools, plan, obs, rate)?;
        steps.push(s.clone());
        if s.lost_records > 0 {
            stopped = Some(format!("records were lost at {} asked", fmt_rate(rate)));
            loss_began = Some(s);
            break;
        }
        if s.workload_rate < 0.9 * rate {
            stopped = Some(format!(
                "the workload could not go faster ({} of {} asked)",
                fmt_rate(s.workload_rate),
                fmt_rate(rate)
            ));
            break;
        }
        rate *= 2.0;
    }
    let best = steps
        .iter()
        .filter(|s| s.lost_records == 0)
        .map(|s| s.records_per_s)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    Ok(Stream {
        secs_per_step: plan.stream_secs,
        steps,
        best_zero_loss_per_s: best,
        loss_began,
        stopped: stopped
            .unwrap_or_else(|| format!("reached the last step ({})", fmt_rate(rate / 2.0))),
    })
}

// ---------------------------------------------------------------------------------------
// Slow calls: each one streamed with its goroutine and user stack.

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum SlowConfig {
    Untraced,
    /// The floors of H (the workload's sleeps are blocked calls: each passes every
    /// scheduler hook).
    FloorAll,
    FloorAllClock,
    /// Traced with a threshold no sleep reaches: the hooks' cost without streaming.
    GotraceNoneStreamed,
    /// The same with bpf_stats on: only for where the added ns go, per program.
    GotraceStats,
    GotraceNoStacks,
    Gotrace,
}

const SLOW_CONFIGS: [SlowConfig; 7] = [
    SlowConfig::Untraced,
    SlowConfig::FloorAll,
    SlowConfig::FloorAllClock,
    SlowConfig::GotraceNoneStreamed,
    SlowConfig::GotraceStats,
    SlowConfig::GotraceNoStacks,
    SlowConfig::Gotrace,
];

/// gotrace's --slow in the slow-call part: every sleep is over it.
const SLOW_THRESHOLD: &str = "1ms";
/// ... and for the run where nothing is streamed.
const NO_SLOW_THRESHOLD: &str = "1s";

/// What workload S says on stderr once it waits for its standard input to close.
const WAITING_LINE: &str = "waiting for standard input";

impl SlowConfig {
    fn label(self) -> &'static str {
        match self {
            SlowConfig::Untraced => "untraced",
            SlowConfig::FloorAll => "floor (empty raw_tp on every hook)",
            SlowConfig::FloorAllClock => "floor on every hook + a clock read",
            SlowConfig::GotraceNoneStreamed => "gotrace --slow 1s (none streamed)",
            SlowConfig::GotraceStats => "gotrace --slow 1s, bpf_stats on",
            SlowConfig::GotraceNoStacks => "gotrace --no-stacks",
            SlowConfig::Gotrace => "gotrace (stacks, default)",
        }
    }

    /// gotrace's arguments beyond --pid; None when untraced.
    fn gotrace_args(self) -> Option<&'static [&'static str]> {
        match self {
            SlowConfig::Untraced | SlowConfig::FloorAll | SlowConfig::FloorAllClock => None,
            SlowConfig::GotraceNoneStreamed | SlowConfig::GotraceStats => {
                Some(&["--slow", NO_SLOW_THRESHOLD])
            }
            SlowConfig::GotraceNoStacks => Some(&["--slow", SLOW_THRESHOLD, "--no-stacks"]),
            SlowConfig::Gotrace => Some(&["--slow", SLOW_THRESHOLD]),
        }
    }

    /// Does gotrace stream every sleep (Some), and with its stack (true)?
    fn streams(self) -> Option<bool> {
        match self {
            SlowConfig::Untraced
            | SlowConfig::FloorAll
            | SlowConfig::FloorAllClock
            | SlowConfig::GotraceNoneStreamed
            | SlowConfig::GotraceStats => None,
            SlowConfig::GotraceNoStacks => Some(false),
            SlowConfig::Gotrace => Some(true),
        }
    }

    fn floor(self) -> Option<Floor> {
        match self {
            SlowConfig::FloorAll => Some(Floor::ALL),
            SlowConfig::FloorAllClock => Some(Floor::ALL_CLOCK),
            _ => None,
        }
    }
}

/// One run of the slow-call workload.
#[derive(Serialize, Debug, Clone)]
struct SlowRun {
    /// The workload's CPU time from the start of its sleeps to its exit, µs per sleep.
    workload_cpu_us: f64,
    /// Its wall time per sleep (its own ns_per_syscall), µs.
    wall_us: f64,
    traced: Option<SlowTraced>,
    /// With bpf_stats on: what each of gotrace's programs ran over the sleeps.
    programs: Option<Vec<ProgDelta>>,
}

/// What gotrace did in a traced run of the slow-call workload.
#[derive(Serialize, Debug, Clone, Copy)]
struct SlowTraced {
    /// gotrace's CPU time from its "tracing pid" line to the workload's last line, ms.
    gotrace_cpu_ms: f64,
    /// Its CPU time over its whole life (attaching and the summary included), ms.
    gotrace_total_cpu_ms: f64,
    maxrss_kib: u64,
    /// summary.slow_calls: every call streamed (the sleeps and the Go runtime's own).
    streamed: u64,
    /// `syscall` lines of nanosleep by a goroutine: the workload's sleeps.
    sleeps_streamed: u64,
    /// ... of those, with a stack.
    sleeps_with_stack: u64,
    /// nanosleep calls that failed (the summary's table): sleeps a signal cut short
    /// (the Go runtime's preemption signal), possibly under the threshold.
    sleeps_interrupted: u64,
    lost_records: u64,
}

impl SlowTraced {
    fn gotrace_us_per_call(&self) -> f64 {
        self.gotrace_cpu_ms * 1e3 / self.streamed.max(1) as f64
    }

    /// Was every sleep streamed (but those a signal cut short), with its stack exactly
    /// when `stacks`, and nothing lost?
    fn complete(&self, sleeps: u64, stacks: bool) -> bool {
        let stacks_ok = if stacks {
            self.sleeps_with_stack == self.sleeps_streamed
        } else {
            self.sleeps_with_stack == 0
        };
        self.lost_records == 0
            && self.sleeps_streamed + self.sleeps_interrupted >= sleeps
            && stacks_ok
    }
}

fn slow_argv(tools: &Tools, plan: &Plan) -> Vec<OsString> {
    vec![
        tools.s.clone().into(),
        "-goroutines".into(),
        "1".into(),
        "-n".into(),
        plan.slow_sleeps.to_string().into(),
        "-sleep".into(),
        format!("{}ms", plan.slow_sleep_ms).into(),
        "-wait-stdin".into(),
    ]
}

/// One run: the workload is started and waits; gotrace (if any) attaches to it; then the
/// workload's standard input is closed and it sleeps, and both are timed by their CPU.
fn run_slow(tools: &Tools, plan: &Plan, config: SlowConfig) -> Result<SlowRun> {
    // Held until the run ends.
    let _floor = config
        .floor()
        .map(|f| FloorGuard::attach(&tools.floor, f.clock, f.all))
        .transpose()?;
    let before = if config == SlowConfig::GotraceStats {
        Some(prog_ids().context("list the eBPF programs before gotrace")?)
    } else {
        None
    };
    let mut w = start_waiting(&slow_argv(tools, plan))?;
    let json = tools.scratch.join("slow.ndjson");
    let mut g = match config.gotrace_args() {
        None => None,
        Some(extra) => {
            let pid = w.pid().to_string();
            let args = [&["--pid", &pid], extra].concat();
            let mut g = Running::spawn(&mut gotrace_cmd(tools, &args, &json))?;
            wait_attached(&mut g)?;
            Some(g)
        }
    };
    let timing = match (g.as_ref(), before.as_ref()) {
        (Some(g), Some(before)) => Some(ProgTiming::start(g.pid(), before)?),
        _ => None,
    };
    let g_start = g.as_ref().map(|g| threads_cpu_secs(g.pid())).transpose()?;
    let w_start = threads_cpu_secs(w.pid())?;
    // Start the sleeps.
    drop(w.child.stdin.take());
    let (_, line) = w.wait_line("ns_per_syscall=", RUN_TIMEOUT)?;
    let g_end = g.as_ref().map(|g| threads_cpu_secs(g.pid())).transpose()?;
    let programs = timing.map(ProgTiming::finish).transpose()?;
    let w_done = w.finish(RUN_TIMEOUT)?;
    let sleeps = plan.slow_sleeps as f64;
    let traced = match (g.take(), g_start.zip(g_end)) {
        (Some(g), Some((start, end))) => {
            // gotrace ends by itself once its target has exited.
            let g_done = g.finish(ATTACH_TIMEOUT)?;
            let lines = count_sleep_lines(&json)?;
            let summary = read_summary(&json)?;
            fs::remove_file(&json).with_context(|| format!("remove {}", json.display()))?;
            Some(SlowTraced {
                gotrace_cpu_ms: (end - start) * 1e3,
                gotrace_total_cpu_ms: g_done.cpu_secs * 1e3,
                maxrss_kib: g_done.maxrss_kib,
                streamed: summary.slow_calls,
                sleeps_streamed: lines.sleeps,
                sleeps_with_stack: lines.with_stack,
                sleeps_interrupted: lines.interrupted,
                lost_records: summary.lost_records,
            })
        }
        _ => None,
    };
    Ok(SlowRun {
        workload_cpu_us: (w_done.cpu_secs - w_start) * 1e6 / sleeps,
        wall_us: s_figures(&line)?.0 / 1e3,
        traced,
        programs,
    })
}

/// The workload's sleeps among a trace's `syscall` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct SleepLines {
    /// nanosleep calls made by a goroutine (the Go runtime's own are made on g0).
    sleeps: u64,
    /// ... with a non-empty stack.
    with_stack: u64,
    /// The summary's failed nanosleep calls.
    interrupted: u64,
}

fn count_sleep_lines(path: &Path) -> Result<SleepLines> {
    let f = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut counts = SleepLines::default();
    for line in BufReader::new(f).lines() {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        counts.add(&line);
    }
    Ok(counts)
}

impl SleepLines {
    fn add(&mut self, line: &str) {
        if line.starts_with(r#"{"type":"summary""#) {
            self.add_summary(line);
        }
        if !line.starts_with(r#"{"type":"syscall""#) {
            return;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        let by_goroutine = v.get("goid").is_some_and(|g| !g.is_null());
        if v.get("name").and_then(|n| n.as_str()) != Some("nanosleep") || !by_goroutine {
            return;
        }
        self.sleeps += 1;
        if v.get("stack")
            .and_then(|s| s.as_array())
            .is_some_and(|s| !s.is_empty())
        {
            self.with_stack += 1;
        }
    }

    fn add_summary(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        let nanosleep = v.get("syscalls").and_then(|s| s.as_array()).and_then(|s| {
            s.iter()
                .find(|c| c.get("name").and_then(|n| n.as_str()) == Some("nanosleep"))
        });
        self.interrupted = nanosleep
            .and_then(|c| c.get("errors"))
            .and_then(|e| e.as_u64())
            .unwrap_or(0);
    }
}

fn measure_slow(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<()> {
    for rep in 0..plan.reps {
        for config in rotated(&SLOW_CONFIGS, rep) {
            let watch = obs.before_run(plan);
            let run = run_slow(tools, plan, config)
                .with_context(|| format!("slow calls, {}", config.label()))?;
            let gotrace = run.traced.map_or_else(String::new, |t| {
                format!(
                    "; gotrace {:.1} ms CPU, {} streamed ({} sleeps, {} with a stack, {} cut short), {} lost",
                    t.gotrace_cpu_ms,
                    t.streamed,
                    t.sleeps_streamed,
                    t.sleeps_with_stack,
                    t.sleeps_interrupted,
                    t.lost_records
                )
            });
            progress(
                plan.reps,
                rep,
                "slow",
                config.label(),
                &format!("{:.2} µs CPU per sleep{gotrace}", run.workload_cpu_us),
            );
            obs.after_run(watch, Part::Slow, config.label());
            obs.slow.entry(config).or_default().push(run);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Symbols: loading the symbol tables of a large Go binary.

/// A `go` command binary to load.
#[derive(Serialize, Debug, Clone)]
struct GoBinary {
    label: &'static str,
    /// The Go that built it (the toolchain's own GOVERSION).
    go_version: String,
    path: PathBuf,
    file_bytes: u64,
    /// The budget is judged on this one.
    primary: bool,
}

/// The Go toolchain before 1.26's table layout (funcdata apart from `.gopclntab`), whose
/// `go` command is also loaded when setup installed it.
const OLDER_GO: &str = "1.25";

/// The `go` command of the Go setup installs, and of the older Go when it is installed
/// (else a note says why not).
fn go_binaries() -> Result<(Vec<GoBinary>, Vec<String>)> {
    let primary = go_binary(&crate::go_bin(), "go command (setup's Go)", true)
        .context("find the go command binary")?;
    let mut binaries = vec![primary];
    let mut notes = Vec::new();
    let tools = crate::go_bin()
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let older = fs::read_dir(&tools).ok().and_then(|dir| {
        dir.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("go-{OLDER_GO}.")))
        })
    });
    match older.map(|dir| go_binary(&dir.join("bin/go"), "go command (Go 1.25)", false)) {
        Some(Ok(b)) => binaries.push(b),
        Some(Err(e)) => notes.push(format!("the Go {OLDER_GO} go command: {e:#}")),
        None => notes.push(format!(
            "no Go {OLDER_GO} in {} (cargo xtask setup installs it)",
            tools.display()
        )),
    }
    Ok((binaries, notes))
}

/// The `go` command binary of the toolchain `go` (which may be a wrapper script):
/// GOROOT/bin/go.
fn go_binary(go: &Path, label: &'static str, primary: bool) -> Result<GoBinary> {
    let out = Command::new(go)
        .args(["env", "GOROOT", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("run {} env", go.display()))?;
    if !out.status.success() {
        bail!("{} env failed ({})", go.display(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().map(str::trim);
    let (Some(goroot), Some(version)) = (lines.next(), lines.next()) else {
        bail!("{} env printed no GOROOT and GOVERSION", go.display());
    };
    let path = Path::new(goroot).join("bin/go");
    let mut magic = [0u8; 4];
    fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .with_context(|| format!("read {}", path.display()))?;
    if magic != *b"\x7fELF" {
        bail!("{} is not an ELF executable", path.display());
    }
    Ok(GoBinary {
        label,
        go_version: version.to_string(),
        file_bytes: fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        path,
        primary,
    })
}

/// One load, in a fresh bench-symbols process.
#[derive(Serialize, Debug, Clone, Copy)]
struct SymbolsRun {
    load_ms: f64,
    rss_delta_kib: f64,
    peak_rss_delta_kib: f64,
    functions: u64,
    elf_symbols: u64,
    pclntab_bytes: u64,
    funcdata_bytes: u64,
    symbolize_all_ms: f64,
    symbolize_mid_ms: f64,
    frames_mid: u64,
}

impl SymbolsRun {
    fn parse(out: &str) -> Result<SymbolsRun> {
        let kv = Kv::find(out, "load_ms")?;
        let n = |k: &str| kv.get(k).map(|v| v as u64);
        Ok(SymbolsRun {
            load_ms: kv.get("load_ms")?,
            rss_delta_kib: kv.get("rss_delta_kib")?,
            peak_rss_delta_kib: kv.get("peak_rss_delta_kib")?,
            functions: n("functions")?,
            elf_symbols: n("elf_symbols")?,
            pclntab_bytes: n("pclntab_bytes")?,
            funcdata_bytes: n("funcdata_bytes")?,
            symbolize_all_ms: kv.get("symbolize_all_ms")?,
            symbolize_mid_ms: kv.get("symbolize_mid_ms")?,
            frames_mid: n("frames_mid")?,
        })
    }
}

fn measure_symbols(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<()> {
    let (binaries, notes) = go_binaries()?;
    for n in &notes {
        eprintln!("xtask: bench: symbols: {n}");
    }
    obs.symbols_notes = notes;
    let mut runs: Vec<Vec<SymbolsRun>> = vec![Vec::new(); binaries.len()];
    let order: Vec<usize> = (0..binaries.len()).collect();
    for rep in 0..plan.reps {
        for i in rotated(&order, rep) {
            let b = &binaries[i];
            let watch = obs.before_run(plan);
            let out = output(
                Command::new(&tools.symbols)
                    .arg(&b.path)
                    .stdin(Stdio::null()),
                RUN_TIMEOUT,
            )
            .and_then(|out| SymbolsRun::parse(&out))
            .with_context(|| format!("symbols, {}", b.path.display()))?;
            progress(
                plan.reps,
                rep,
                "symbols",
                b.label,
                &format!(
                    "{:.1} ms, +{:.1} MiB RSS (peak +{:.1} MiB)",
                    out.load_ms,
                    out.rss_delta_kib / 1024.0,
                    out.peak_rss_delta_kib / 1024.0
                ),
            );
            obs.after_run(watch, Part::Symbols, b.label);
            runs[i].push(out);
        }
    }
    obs.symbols = binaries.into_iter().zip(runs).collect();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Host-wide: gotrace --all among many idle Go processes.

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum HwConfig {
    Untraced,
    /// S untraced while gotrace --pid traces a sleeping process (S's GotraceOther).
    GotraceOther,
    /// gotrace --pid of S (S waits until it is attached).
    GotracePid,
    /// gotrace --all: S, the idle processes and any other Go process are traced.
    All,
    /// gotrace --all --cgroup of the idle processes' cgroup: S is not traced.
    AllCgroup,
}

const HW_CONFIGS: [HwConfig; 5] = [
    HwConfig::Untraced,
    HwConfig::GotraceOther,
    HwConfig::GotracePid,
    HwConfig::All,
    HwConfig::AllCgroup,
];

impl HwConfig {
    fn label(self) -> &'static str {
        match self {
            HwConfig::Untraced => "untraced",
            HwConfig::GotraceOther => "untraced, gotrace --pid of another",
            HwConfig::GotracePid => "gotrace --pid of S",
            HwConfig::All => "gotrace --all (S and the idle)",
            HwConfig::AllCgroup => "untraced, --all --cgroup of the idle",
        }
    }
}

/// Idle Go processes beside S (fewer when memory is short: the part says so).
const HW_IDLE: usize = 200;
/// The idle processes may take at most this share of the memory available.
const HW_MEM_SHARE: f64 = 0.5;
/// The budgets: S's added ns under --all against under --pid; gotrace's VmHWM; each GET
/// of /metrics; each new process's time to /metrics.
const HW_ALL_X_PID: f64 = 1.10;
const HW_RSS_MIB: f64 = 128.0;
const HW_SCRAPE_MS: f64 = 50.0;
const HW_PICKUP_MS: f64 = 100.0;
/// A process --all does not trace: its added ns may differ from that of one beside
/// `gotrace --pid` of another by the larger of the two configurations' ranges, and at
/// least by this share of the untraced median.
const HW_NOISE_SHARE: f64 = 0.05;
/// How often /metrics is polled for a new process.
const HW_POLL: Duration = Duration::from_millis(10);
/// A new process not on /metrics by then is counted as missed.
const HW_PICKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The idle processes' cgroup (made under the cgroup2 mount, else a v1 hierarchy's).
const HW_CGROUP: &str = "gotrace-bench-idle";

/// An idle Go process, and a short-lived one: workload S making one getppid once its
/// standard input is closed.
fn idle_argv(tools: &Tools) -> Vec<OsString> {
    let mut argv = vec![tools.s.clone().into_os_string()];
    argv.extend(["-n", "1", "-goroutines", "1", "-wait-stdin"].map(OsString::from));
    argv
}

/// Workload S started waiting (`-wait-stdin`): loops of `calls` getppid.
fn s_waiting_argv(tools: &Tools, plan: &Plan) -> Vec<OsString> {
    let mut argv = s_argv(tools, plan, plan.s_calls, None);
    argv.push("-wait-stdin".into());
    argv
}

/// What the idle processes were.
#[derive(Serialize, Debug, Clone)]
struct CrowdFacts {
    asked: usize,
    started: usize,
    /// Why fewer than asked.
    fewer: Option<String>,
    /// The first one's VmRSS once it waits, KiB; theirs summed, MiB.
    rss_kib_each: u64,
    rss_mib_all: f64,
    /// MemAvailable before they started, MiB.
    mem_available_mib: f64,
    /// Their cgroup's directory, or why there is none (then --all --cgroup is not run).
    cgroup: Option<PathBuf>,
    cgroup_error: Option<String>,
}

/// The idle Go processes: workload S waiting to read its standard input, one pipe for
/// all of them that is never written. Killed (SIGKILL, and with the bench by
/// PR_SET_PDEATHSIG) and reaped when dropped; their cgroup removed then.
struct Crowd {
    children: Vec<std::process::Child>,
    /// The pipe's write end: closed once they are dead.
    _stdin: io::PipeWriter,
    cgroup: Option<PathBuf>,
}

impl Crowd {
    /// Starts `asked` idle processes, or as many as take HW_MEM_SHARE of the memory
    /// available (by the first one's RSS).
    fn start(tools: &Tools, asked: usize) -> Result<(Crowd, CrowdFacts)> {
        let mem_available_kib = kib_field(
            &fs::read_to_string("/proc/meminfo").context("read /proc/meminfo")?,
            "MemAvailable",
        )
        .context("no MemAvailable in /proc/meminfo")?;
        let (reader, writer) = io::pipe().context("make a pipe")?;
        let (cgroup, cgroup_error) = match make_cgroup() {
            Ok(dir) => (Some(dir), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        let mut crowd = Crowd {
            children: Vec::new(),
            _stdin: writer,
            cgroup,
        };
        let first = crowd.spawn(tools, &reader)?;
        let rss_kib_each = status_kib(first, "VmRSS")?;
        let fit = (mem_available_kib as f64 * HW_MEM_SHARE / rss_kib_each.max(1) as f64) as usize;
        let count = asked.min(fit.max(1));
        let fewer = (count < asked).then(|| {
            format!(
                "{asked} would need {:.0} MiB ({rss_kib_each} KiB each) of {:.0} MiB available; {count} take at most {:.0}% of it",
                (asked as u64 * rss_kib_each) as f64 / 1024.0,
                mem_available_kib as f64 / 1024.0,
                HW_MEM_SHARE * 100.0
            )
        });
        while crowd.children.len() < count {
            crowd.spawn(tools, &reader)?;
        }
        let rss_all_kib: u64 = crowd
            .pids()
            .into_iter()
            .map(|p| status_kib(p, "VmRSS"))
            .sum::<Result<u64>>()?;
        let facts = CrowdFacts {
            asked,
            started: count,
            fewer,
            rss_kib_each,
            rss_mib_all: rss_all_kib as f64 / 1024.0,
            mem_available_mib: mem_available_kib as f64 / 1024.0,
            cgroup: crowd.cgroup.clone(),
            cgroup_error,
        };
        Ok((crowd, facts))
    }

    /// One more idle process, once it says it waits; moved into the cgroup.
    fn spawn(&mut self, tools: &Tools, stdin: &io::PipeReader) -> Result<u32> {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = command(&idle_argv(tools));
        cmd.stdin(stdin.try_clone().context("duplicate the pipe")?)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: prctl with plain integers is async-signal-safe: it may run between fork
        // and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", tools.s.display()))?;
        let pid = child.id();
        let stderr = child.stderr.take();
        self.children.push(child);
        // Its first line, or nothing if it ended (its stderr then closes).
        let mut line = String::new();
        if let Some(e) = stderr {
            BufReader::new(e)
                .read_line(&mut line)
                .with_context(|| format!("read idle process {pid}'s stderr"))?;
        }
        if !line.contains(WAITING_LINE) {
            bail!(
                "idle process {pid} (of {}) did not wait: {:?}",
                self.children.len(),
                line.trim()
            );
        }
        if let Some(dir) = &self.cgroup {
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string())
                .with_context(|| format!("move {pid} into {}", procs.display()))?;
        }
        Ok(pid)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(std::process::Child::id).collect()
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        if let Some(dir) = &self.cgroup {
            // Emptied a moment after its last process is reaped.
            let removed = (0..40).any(|_| {
                fs::remove_dir(dir).is_ok() || {
                    thread::sleep(Duration::from_millis(50));
                    false
                }
            });
            if !removed {
                eprintln!("xtask: bench: could not remove {}", dir.display());
            }
        }
    }
}

/// A new cgroup for the idle processes: under the cgroup2 mount, else under a v1
/// hierarchy's.
fn make_cgroup() -> Result<PathBuf> {
    let base = mount_points("cgroup2")?
        .into_iter()
        .chain(mount_points("cgroup")?)
        .next()
        .context("no cgroup filesystem is mounted")?;
    let dir = base.join(format!("{HW_CGROUP}-{}", std::process::id()));
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// GET `path` from `addr` over a new TCP connection, HTTP/1.0: the body of a 200.
fn http_get(addr: &str, path: &str) -> Result<String> {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .context("set a read timeout")?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .with_context(|| format!("send GET {path} to {addr}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("read GET {path} from {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path} from {addr}: no end of headers"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET {path} from {addr}: {status}");
    }
    Ok(body.to_string())
}

/// The value of an unlabelled sample of a Prometheus exposition (`name 12`).
fn metric_value(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The pids of the `gotrace_process_info` samples. A label value's quotes are escaped,
/// so `pid="` after `{` or `,` is the label.
fn info_pids(body: &str) -> BTreeSet<u32> {
    body.lines()
        .filter_map(|l| l.strip_prefix("gotrace_process_info{"))
        .filter_map(|labels| {
            let at = if labels.starts_with("pid=\"") {
                0
            } else {
                labels.find(",pid=\"")? + 1
            };
            labels[at + 5..].split('"').next()?.parse().ok()
        })
        .collect()
}

/// The fields of --all's end-of-trace `hostwide` NDJSON line the bench reads.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
struct HostwideFacts {
    traced: u64,
    exited: u64,
    untraced: u64,
    lost_records: u64,
    calls_not_counted: u64,
    bad_records: u64,
}

/// The line, with its processes' syscall counts.
#[derive(Deserialize)]
struct HostwideLine {
    #[serde(flatten)]
    facts: HostwideFacts,
    processes: Vec<HostProcessCalls>,
}

#[derive(Deserialize)]
struct HostProcessCalls {
    pid: u32,
    summary: ProcessCalls,
}

#[derive(Deserialize)]
struct ProcessCalls {
    syscalls: Vec<SyscallCalls>,
}

#[derive(Deserialize)]
struct SyscallCalls {
    name: String,
    calls: u64,
}

impl HostwideLine {
    /// The calls of `syscall` counted for process `pid`: None if it is not listed, 0 if
    /// it is but that syscall is not.
    fn calls(&self, pid: u32, syscall: &str) -> Option<u64> {
        let p = self.processes.iter().find(|p| p.pid == pid)?;
        Some(
            p.summary
                .syscalls
                .iter()
                .filter(|s| s.name == syscall)
                .map(|s| s.calls)
                .sum(),
        )
    }
}

/// gotrace --all with /metrics on a free port, attached.
struct AllTrace {
    g: Running,
    /// Where /metrics is served (host:port).
    addr: String,
    attach: Attach,
    /// "(N now)" on its banner: the Go processes it traced then.
    at_banner: u64,
    json: PathBuf,
}

impl AllTrace {
    fn start(tools: &Tools, cgroup: Option<&Path>, json: PathBuf) -> Result<AllTrace> {
        let mut args = vec!["--all", "--prometheus", "127.0.0.1:0"];
        let cgroup = cgroup.map(|c| c.to_string_lossy().into_owned());
        if let Some(c) = &cgroup {
            args.extend(["--cgroup", c]);
        }
        let mut g = Running::spawn(&mut gotrace_cmd(tools, &args, &json))?;
        let (_, line) = g.wait_line("gotrace: serving metrics at http://", ATTACH_TIMEOUT)?;
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split("/metrics").next())
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .with_context(|| format!("no address in gotrace's line: {}", line.trim()))?;
        let (attach, banner) = wait_banner(&mut g, "gotrace: tracing every Go process")?;
        let at_banner = banner
            .split(" (")
            .nth(1)
            .and_then(|rest| rest.split(" now)").next())
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("no \"(N now)\" in gotrace's line: {}", banner.trim()))?;
        Ok(AllTrace {
            g,
            addr,
            attach,
            at_banner,
            json,
        })
    }

    fn scrape(&self) -> Result<String> {
        http_get(&self.addr, "/metrics")
    }

    /// Runs `f` on it; a failure comes with gotrace's last lines (it may have ended).
    fn within<T>(&mut self, f: impl FnOnce(&AllTrace) -> Result<T>) -> Result<T> {
        f(self).map_err(|e| match self.g.last_words() {
            words if words.is_empty() => e,
            words => e.context(format!("gotrace's last lines{words}")),
        })
    }

    /// Polls /metrics every HW_POLL until a GET lists every one of `pids`: the time from
    /// `since` to that GET's end, ms; None if not by `timeout`. The last body too.
    fn wait_listed(
        &self,
        pids: &[u32],
        since: Instant,
        timeout: Duration,
    ) -> Result<(Option<f64>, String)> {
        loop {
            let body = self.scrape()?;
            let listed = info_pids(&body);
            if pids.iter().all(|p| listed.contains(p)) {
                return Ok((Some(since.elapsed().as_secs_f64() * 1e3), body));
            }
            if since.elapsed() >= timeout {
                return Ok((None, body));
            }
            thread::sleep(HW_POLL);
        }
    }

    /// Waits until /metrics lists every idle process: the time since the banner, ms.
    fn wait_crowd(&self, crowd: &Crowd) -> Result<f64> {
        let pids = crowd.pids();
        let (ms, body) = self.wait_listed(&pids, Instant::now(), ATTACH_TIMEOUT)?;
        ms.ok_or_else(|| {
            let listed = info_pids(&body);
            anyhow!(
                "after {ATTACH_TIMEOUT:?}, /metrics lists {} of the {} idle processes ({} processes in all)",
                pids.iter().filter(|p| listed.contains(p)).count(),
                pids.len(),
                listed.len()
            )
        })
    }

    /// SIGTERM; its end and its end-of-trace line.
    fn end(self) -> Result<(Finished, HostwideLine)> {
        self.g.signal(libc::SIGTERM);
        let done = self.g.finish(RUN_TIMEOUT)?;
        let line: HostwideLine = read_last_line(&self.json, "hostwide")?;
        fs::remove_file(&self.json).with_context(|| format!("remove {}", self.json.display()))?;
        Ok((done, line))
    }
}

/// One gotrace --all run tracing S among the idle processes.
#[derive(Serialize, Debug, Clone)]
struct AllRun {
    attach: Attach,
    at_banner: u64,
    /// From the banner until /metrics listed every idle process, ms.
    all_listed_ms: f64,
    /// gotrace_traced_processes and the processes listed, at the timed GETs.
    traced: Option<u64>,
    listed: u64,
    /// gotrace's CPU while all of them idle.
    idle: IdleRun,
    /// Each timed GET of /metrics, ms; the body of the last.
    scrape_ms: Vec<f64>,
    body_bytes: u64,
    body_lines: u64,
    /// gotrace's VmRSS and VmHWM after the idle window and the GETs, KiB.
    idle_rss_kib: u64,
    idle_hwm_kib: u64,
    /// S's loops: their wall time, gotrace's CPU over it.
    busy_ms: f64,
    busy_cpu_ms: f64,
    /// From spawn to a GET that listed it, ms: S first, then each short-lived process
    /// (None: not listed within HW_PICKUP_TIMEOUT).
    pickup_ms: Vec<Option<f64>>,
    /// At the end, before SIGTERM: VmRSS and VmHWM, KiB; gotrace_lost_records_total.
    end_rss_kib: u64,
    end_hwm_kib: u64,
    lost_records_metrics: Option<u64>,
    /// wait4 on gotrace: user + system CPU over its whole run, s; ru_maxrss, KiB.
    cpu_secs: f64,
    maxrss_kib: u64,
    end: HostwideFacts,
    /// S's getppid calls: counted (the end-of-trace line; None: S not in it), and made.
    s_counted: Option<u64>,
    s_made: u64,
}

/// One gotrace --all --cgroup run of the idle processes' cgroup, S outside it.
#[derive(Serialize, Debug, Clone)]
struct CgroupRun {
    attach: Attach,
    at_banner: u64,
    /// Processes /metrics listed once every idle one was in, and whether S was ever
    /// listed (it should not be).
    listed: u64,
    s_listed: bool,
    /// gotrace's CPU while only the idle processes are traced; its VmRSS and VmHWM
    /// after that, KiB.
    idle: IdleRun,
    idle_rss_kib: u64,
    idle_hwm_kib: u64,
    end: HostwideFacts,
    maxrss_kib: u64,
}

/// What one host-wide run measured.
struct HwOutcome {
    /// S's wall and CPU ns per syscall.
    ns_per_syscall: (f64, f64),
    all: Option<AllRun>,
    cgroup: Option<CgroupRun>,
}

fn run_hw(tools: &Tools, plan: &Plan, crowd: &Crowd, config: HwConfig) -> Result<HwOutcome> {
    let plain = |ns_per_syscall| HwOutcome {
        ns_per_syscall,
        all: None,
        cgroup: None,
    };
    let figures = |o: SOutcome| (o.ns_per_syscall, o.cpu_ns_per_syscall);
    match config {
        HwConfig::Untraced => Ok(plain(figures(run_s(
            tools,
            plan,
            SConfig::Untraced,
            plan.s_calls,
        )?))),
        HwConfig::GotraceOther => Ok(plain(figures(run_s(
            tools,
            plan,
            SConfig::GotraceOther,
            plan.s_calls,
        )?))),
        HwConfig::GotracePid => {
            let w = start_waiting(&s_waiting_argv(tools, plan))?;
            let json = tools.scratch.join("hostwide-pid.ndjson");
            let (ns, _) = gotrace_attached(tools, w.pid(), &json, |_| s_release(w))?;
            Ok(plain(ns))
        }
        HwConfig::All => run_all(tools, plan, crowd),
        HwConfig::AllCgroup => run_all_cgroup(tools, plan, crowd),
    }
}

/// gotrace --all: every idle process listed; gotrace's CPU idle; the timed GETs; S,
/// picked up, then run; the short-lived processes picked up one after the other; the end.
fn run_all(tools: &Tools, plan: &Plan, crowd: &Crowd) -> Result<HwOutcome> {
    let mut t = AllTrace::start(tools, None, tools.scratch.join("hostwide-all.ndjson"))?;
    let (mut run, ns, s_pid) = t.within(|t| all_measured(t, tools, plan, crowd))?;
    let (done, line) = t.end()?;
    run.cpu_secs = done.cpu_secs;
    run.maxrss_kib = done.maxrss_kib;
    run.s_counted = line.calls(s_pid, "getppid");
    run.end = line.facts;
    Ok(HwOutcome {
        ns_per_syscall: ns,
        all: Some(run),
        cgroup: None,
    })
}

/// What run_all measures while gotrace runs: the run (but for what its end tells), S's
/// ns per syscall and S's pid.
fn all_measured(
    t: &AllTrace,
    tools: &Tools,
    plan: &Plan,
    crowd: &Crowd,
) -> Result<(AllRun, (f64, f64), u32)> {
    let pid = t.g.pid();
    let all_listed_ms = t.wait_crowd(crowd)?;
    let idle = idle_window(pid, plan.idle_secs)?;

    let mut scrape_ms = Vec::new();
    let mut body = String::new();
    for _ in 0..plan.hw_scrapes {
        let at = Instant::now();
        body = t.scrape()?;
        scrape_ms.push(at.elapsed().as_secs_f64() * 1e3);
    }
    let idle_rss_kib = status_kib(pid, "VmRSS")?;
    let idle_hwm_kib = status_kib(pid, "VmHWM")?;

    let w = start_waiting(&s_waiting_argv(tools, plan))?;
    let s_pid = w.pid();
    let mut pickup_ms = vec![t.wait_listed(&[s_pid], w.spawned, HW_PICKUP_TIMEOUT)?.0];
    // Its code is read meanwhile: the loops then run alone.
    thread::sleep(IDLE_SETTLE);
    let (busy_at, busy_start) = (Instant::now(), threads_cpu_secs(pid)?);
    let ns = s_release(w)?;
    let busy_cpu = threads_cpu_secs(pid)? - busy_start;
    let busy_ms = busy_at.elapsed().as_secs_f64() * 1e3;

    for _ in 0..plan.hw_pickups {
        let w = start_waiting(&idle_argv(tools))?;
        pickup_ms.push(t.wait_listed(&[w.pid()], w.spawned, HW_PICKUP_TIMEOUT)?.0);
        s_release(w)?;
    }

    let lost_records_metrics = metric_value(&t.scrape()?, "gotrace_lost_records_total");
    let run = AllRun {
        attach: t.attach,
        at_banner: t.at_banner,
        all_listed_ms,
        traced: metric_value(&body, "gotrace_traced_processes").map(|v| v as u64),
        listed: info_pids(&body).len() as u64,
        idle,
        scrape_ms,
        body_bytes: body.len() as u64,
        body_lines: body.lines().count() as u64,
        idle_rss_kib,
        idle_hwm_kib,
        busy_ms,
        busy_cpu_ms: busy_cpu * 1e3,
        pickup_ms,
        end_rss_kib: status_kib(pid, "VmRSS")?,
        end_hwm_kib: status_kib(pid, "VmHWM")?,
        lost_records_metrics: lost_records_metrics.map(|v| v as u64),
        // Filled in from its end.
        cpu_secs: 0.0,
        maxrss_kib: 0,
        end: HostwideFacts::default(),
        s_counted: None,
        s_made: plan.s_calls * u64::from(plan.goroutines),
    };
    Ok((run, ns, s_pid))
}

/// gotrace --all --cgroup of the idle processes: once they are all listed, gotrace's CPU
/// while they idle; then S, outside the cgroup, is started, left the pickup's time and
/// more, checked not listed, and run.
fn run_all_cgroup(tools: &Tools, plan: &Plan, crowd: &Crowd) -> Result<HwOutcome> {
    let dir = crowd
        .cgroup
        .as_deref()
        .context("the idle processes have no cgroup")?;
    let json = tools.scratch.join("hostwide-cgroup.ndjson");
    let mut t = AllTrace::start(tools, Some(dir), json)?;
    let (mut run, ns) = t.within(|t| {
        t.wait_crowd(crowd)?;
        let pid = t.g.pid();
        let idle = idle_window(pid, plan.idle_secs)?;
        let idle_rss_kib = status_kib(pid, "VmRSS")?;
        let idle_hwm_kib = status_kib(pid, "VmHWM")?;
        let w = start_waiting(&s_waiting_argv(tools, plan))?;
        thread::sleep(IDLE_SETTLE);
        let listed = info_pids(&t.scrape()?);
        let s_listed = listed.contains(&w.pid());
        let ns = s_release(w)?;
        let run = CgroupRun {
            attach: t.attach,
            at_banner: t.at_banner,
            listed: listed.len() as u64,
            s_listed,
            idle,
            idle_rss_kib,
            idle_hwm_kib,
            // Filled in from its end.
            end: HostwideFacts::default(),
            maxrss_kib: 0,
        };
        Ok((run, ns))
    })?;
    let (done, line) = t.end()?;
    run.end = line.facts;
    run.maxrss_kib = done.maxrss_kib;
    Ok(HwOutcome {
        ns_per_syscall: ns,
        all: None,
        cgroup: Some(run),
    })
}

/// The idle processes started once; then every host-wide configuration once per
/// repetition, in a rotated order. A failed --all run is reported, not fatal.
fn measure_hostwide(tools: &Tools, plan: &Plan, obs: &mut Observations) -> Result<()> {
    step(&format!(
        "host-wide: starting {} idle Go processes",
        plan.hw_idle
    ));
    let (crowd, facts) = Crowd::start(tools, plan.hw_idle)?;
    eprintln!(
        "xtask: bench: host-wide: {} idle Go processes, {} KiB RSS each, {:.0} MiB in all{}{}",
        facts.started,
        facts.rss_kib_each,
        facts.rss_mib_all,
        facts
            .cgroup
            .as_ref()
            .map_or_else(String::new, |c| format!(", in {}", c.display())),
        facts
            .fewer
            .as_ref()
            .map_or_else(String::new, |f| format!(" (fewer than asked: {f})")),
    );
    let mut configs = HW_CONFIGS.to_vec();
    if let Some(e) = &facts.cgroup_error {
        eprintln!("xtask: bench: host-wide: no cgroup for the idle processes: {e}");
        configs.retain(|&c| c != HwConfig::AllCgroup);
        obs.hw_notes.insert(
            HwConfig::AllCgroup,
            format!("cannot run: no cgroup for the idle processes: {e}"),
        );
    }
    obs.hw_crowd = Some(facts);
    for rep in 0..plan.reps {
        for config in rotated(&configs, rep) {
            let watch = obs.before_run(plan);
            match run_hw(tools, plan, &crowd, config) {
                Ok(o) => {
                    progress(plan.reps, rep, "hostwide", config.label(), &hw_progress(&o));
                    obs.after_run(watch, Part::Hostwide, config.label());
                    obs.hw.entry(config).or_default().push(o.ns_per_syscall.0);
                    obs.hw_cpu
                        .entry(config)
                        .or_default()
                        .push(o.ns_per_syscall.1);
                    obs.hw_all.extend(o.all);
                    obs.hw_cgroup.extend(o.cgroup);
                }
                Err(e) if matches!(config, HwConfig::All | HwConfig::AllCgroup) => {
                    eprintln!("xtask: bench: {} failed: {e:#}", config.label());
                    let note = obs.hw_notes.entry(config).or_default();
                    if !note.is_empty() {
                        note.push_str("; ");
                    }
                    let _ = write!(note, "failed in rep {}: {e:#}", rep + 1);
                }
                Err(e) => return Err(e.context(format!("host-wide, {}", config.label()))),
            }
        }
    }
    drop(crowd);
    Ok(())
}

/// A host-wide run's progress line.
fn hw_progress(o: &HwOutcome) -> String {
    let mut s = format!(
        "{:.1} ns/syscall ({:.1} CPU)",
        o.ns_per_syscall.0, o.ns_per_syscall.1
    );
    if let Some(a) = &o.all {
        let picked: Vec<f64> = a.pickup_ms.iter().flatten().copied().collect();
        let _ = write!(
            s,
            "; {} listed, idle {:.3}% CPU, VmHWM {:.1} MiB, GET /metrics max {:.1} ms ({} KiB), pickup max {}, {} lost, getppid counted {} of {}",
            a.listed,
            a.idle.pct,
            a.end_hwm_kib as f64 / 1024.0,
            a.scrape_ms.iter().copied().fold(0.0, f64::max),
            a.body_bytes / 1024,
            match picked.iter().copied().reduce(f64::max) {
                Some(m) if picked.len() == a.pickup_ms.len() => format!("{m:.0} ms"),
                _ => format!(
                    "{} of {} not listed",
                    a.pickup_ms.len() - picked.len(),
                    a.pickup_ms.len()
                ),
            },
            a.end.lost_records,
            a.s_counted.map_or_else(|| "none".into(), fmt_count),
            fmt_count(a.s_made),
        );
    }
    if let Some(c) = &o.cgroup {
        let _ = write!(
            s,
            "; {} listed, idle {:.3}% CPU, VmHWM {:.1} MiB, S listed: {}, {} lost",
            c.listed,
            c.idle.pct,
            c.idle_hwm_kib as f64 / 1024.0,
            if c.s_listed { "YES" } else { "no" },
            c.end.lost_records
        );
    }
    s
}

// ---------------------------------------------------------------------------------------
// gotrace runs.

/// Attaching: wall time from spawn to the "tracing pid" line, and gotrace's own figure.
#[derive(Serialize, Debug, Clone, Copy)]
struct Attach {
    wall_ms: f64,
    reported_ms: f64,
    /// gotrace's CPU time when the line arrived (process_cpu_secs): what attaching
    /// cost it (the BTF parse, the verifier). None if it could not be read.
    cpu_ms: Option<f64>,
}

/// The fields of gotrace's NDJSON summary line the bench reads.
#[derive(Deserialize, Serialize, Debug, Clone, Copy)]
struct SummaryFacts {
    lost_records: u64,
    slow_calls: u64,
    duration_ns: u64,
}

/// What one gotrace run told about itself.
#[derive(Serialize, Debug, Clone, Copy)]
struct GotraceRun {
    attach: Attach,
    /// wait4's ru_maxrss: gotrace's peak RSS (for a launch, the larger of it and the
    /// workload it reaped, a few MiB).
    maxrss_kib: u64,
    summary: SummaryFacts,
}

/// Which gotrace runs count for which figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Tracing S or H at default settings.
    Traced,
    /// Tracing a sleeping process (while S runs beside it, or idle).
    Other,
    /// --slow 0.
    Streaming,
}

const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn gotrace_cmd(tools: &Tools, extra: &[&str], json: &Path) -> Command {
    let mut cmd = Command::new(&tools.gotrace);
    cmd.args(["--no-tui", "--force", "--json"])
        .arg(json)
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// gotrace launches `argv` and traces it to its end; returns gotrace's stdout (the
/// workload's output, then the summary).
fn gotrace_launch(
    tools: &Tools,
    extra: &[&str],
    json: &Path,
    argv: &[OsString],
) -> Result<(String, GotraceRun)> {
    let mut g = Running::spawn(gotrace_cmd(tools, extra, json).arg("--").args(argv))?;
    let attach = wait_attached(&mut g)?;
    let done = g.finish(RUN_TIMEOUT)?;
    Ok((done.stdout, gotrace_run(attach, done.maxrss_kib, json)?))
}

/// gotrace attaches to `pid`; `during` runs once it is attached, given gotrace's pid;
/// then gotrace is sent SIGTERM and its summary is read.
fn gotrace_attached<T>(
    tools: &Tools,
    pid: u32,
    json: &Path,
    during: impl FnOnce(u32) -> Result<T>,
) -> Result<(T, GotraceRun)> {
    let mut g = Running::spawn(&mut gotrace_cmd(tools, &["--pid", &pid.to_string()], json))?;
    let attach = wait_attached(&mut g)?;
    let value = during(g.pid())?;
    g.signal(libc::SIGTERM);
    let done = g.finish(RUN_TIMEOUT)?;
    Ok((value, gotrace_run(attach, done.maxrss_kib, json)?))
}

fn wait_attached(g: &mut Running) -> Result<Attach> {
    wait_banner(g, "gotrace: tracing pid").map(|(attach, _)| attach)
}

/// Waits for gotrace's line saying it is attached (the line has `needle`): the attach's
/// figures, and the line.
fn wait_banner(g: &mut Running, needle: &str) -> Result<(Attach, String)> {
    let (at, line) = g.wait_line(needle, ATTACH_TIMEOUT)?;
    let cpu_ms = process_cpu_secs(g.pid()).ok().map(|s| s * 1e3);
    let reported_ms = line
        .split("attached in ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.trim().parse::<f64>().ok())
        .with_context(|| format!("no \"attached in M ms\" in gotrace's line: {}", line.trim()))?;
    let attach = Attach {
        wall_ms: at.duration_since(g.spawned).as_secs_f64() * 1e3,
        reported_ms,
        cpu_ms,
    };
    Ok((attach, line))
}

fn gotrace_run(attach: Attach, maxrss_kib: u64, json: &Path) -> Result<GotraceRun> {
    let summary = read_summary(json)?;
    // Streaming traces are large: do not leave them behind.
    fs::remove_file(json).with_context(|| format!("remove {}", json.display()))?;
    Ok(GotraceRun {
        attach,
        maxrss_kib,
        summary,
    })
}

/// The summary line: the last line of gotrace's NDJSON.
fn read_summary(path: &Path) -> Result<SummaryFacts> {
    read_last_line(path, "summary")
}

/// The last line of gotrace's NDJSON, of type `kind` (`summary`; `hostwide` for --all).
fn read_last_line<T: serde::de::DeserializeOwned>(path: &Path, kind: &str) -> Result<T> {
    let value = last_json_line(path)?;
    if value.get("type").and_then(|t| t.as_str()) != Some(kind) {
        bail!("the last line of {} is not the {kind} line", path.display());
    }
    serde_json::from_value(value)
        .with_context(|| format!("read the {kind} line of {}", path.display()))
}

/// The last non-empty line of a file, as JSON. Read from the end (streaming traces are
/// large), a MiB first, then more until the line's start is in (--all's last line holds
/// every process's summary).
fn last_json_line(path: &Path) -> Result<serde_json::Value> {
    let mut f = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut tail_len: u64 = 1 << 20;
    loop {
        let start = len.saturating_sub(tail_len);
        f.seek(SeekFrom::Start(start))
            .with_context(|| format!("seek in {}", path.display()))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)
            .with_context(|| format!("read {}", path.display()))?;
        let tail = String::from_utf8_lossy(&tail);
        let text = tail.trim_end();
        let last = match text.rfind('\n') {
            Some(i) => &text[i + 1..],
            None if start == 0 => text,
            // The line may start before the tail.
            None => {
                tail_len *= 4;
                continue;
            }
        };
        if last.trim().is_empty() {
            bail!("{} is empty", path.display());
        }
        return serde_json::from_str(last)
            .with_context(|| format!("the last line of {} is not JSON", path.display()));
    }
}

// ---------------------------------------------------------------------------------------
// Processes.

/// A child whose stdout and stderr are read to the end by two threads, which also hand
/// over each line, with the time it arrived, for `wait_line`. Killed (SIGKILL) and reaped
/// if dropped before `finish`.
struct Running {
    child: std::process::Child,
    name: String,
    spawned: Instant,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
    readers: Vec<JoinHandle<String>>,
    reaped: bool,
}

/// How a `Running` ended.
struct Finished {
    stdout: String,
    maxrss_kib: u64,
    /// wait4's user + system CPU time (its threads, and its reaped children), seconds.
    cpu_secs: f64,
}

impl Running {
    fn spawn(cmd: &mut Command) -> Result<Running> {
        let name = Path::new(cmd.get_program())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spawned = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", cmd.get_program().to_string_lossy()))?;
        let (tx, lines) = mpsc::channel();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(read_lines(out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(read_lines(err, tx));
        }
        Ok(Running {
            child,
            name,
            spawned,
            lines,
            seen: Vec::new(),
            readers,
            reaped: false,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: libc::c_int) {
        if !self.reaped {
            // SAFETY: kill on our own child, not yet reaped, so its pid is still its own.
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        }
    }

    /// Waits for a line (stdout or stderr) containing `needle`: when it arrived, and the line.
    fn wait_line(&mut self, needle: &str, timeout: Duration) -> Result<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.contains(needle) => return Ok((at, line)),
                Ok((_, line)) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let words = self.last_words();
                    bail!(
                        "{} printed no {needle:?} within {timeout:?}{words}",
                        self.name
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let words = self.last_words();
                    bail!("{} ended before printing {needle:?}{words}", self.name)
                }
            }
        }
    }

    /// The last lines it printed, for an error message.
    fn last_words(&mut self) -> String {
        self.seen.extend(self.lines.try_iter().map(|(_, l)| l));
        last_words(self.seen.iter().map(String::as_str))
    }

    /// Waits (at most `timeout`, then SIGKILL) for it to end; fails unless it exited 0.
    fn finish(mut self, timeout: Duration) -> Result<Finished> {
        let (status, rusage) = self.reap(timeout)?;
        let mut texts = std::mem::take(&mut self.readers)
            .into_iter()
            .map(|r| r.join().unwrap_or_default());
        let stdout = texts.next().unwrap_or_default();
        let stderr = texts.next().unwrap_or_default();
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            // Errors go to stderr; some programs only have stdout.
            let said = if stderr.trim().is_empty() {
                &stdout
            } else {
                &stderr
            };
            let words = last_words(said.lines());
            bail!("{} failed ({}){words}", self.name, describe_status(status));
        }
        Ok(Finished {
            stdout,
            maxrss_kib: u64::try_from(rusage.ru_maxrss).unwrap_or(0),
            cpu_secs: timeval_secs(rusage.ru_utime) + timeval_secs(rusage.ru_stime),
        })
    }

    /// wait4 with its resource usage; SIGKILL after `timeout`.
    fn reap(&mut self, timeout: Duration) -> Result<(libc::c_int, libc::rusage)> {
        let pid = self.child.id() as libc::pid_t;
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: rusage is plain data; all-zero is a valid value.
            let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 on our own unreaped child, with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut rusage) };
            if r == pid {
                self.reaped = true;
                if killed {
                    bail!("{} did not finish within {timeout:?} (killed)", self.name);
                }
                return Ok((status, rusage));
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    self.reaped = true;
                    return Err(e).with_context(|| format!("wait for {}", self.name));
                }
            }
            if !killed && Instant::now() >= deadline {
                self.signal(libc::SIGKILL);
                killed = true;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// ": " and the last two non-empty lines, for an error message (nothing if none).
fn last_words<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.len() {
        0 => String::new(),
        n => format!(": {}", lines[n.saturating_sub(2)..].join(" / ")),
    }
}

/// Reads `r` to the end, sending each line as it comes; returns all of it.
fn read_lines(
    r: impl Read + Send + 'static,
    tx: mpsc::Sender<(Instant, String)>,
) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut all = String::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    all.push_str(&line);
                    let _ = tx.send((Instant::now(), line));
                }
            }
        }
        all
    })
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// Runs a command to its end (at most `timeout`); its stdout, or an error with its last
/// words unless it exited 0.
fn output(cmd: &mut Command, timeout: Duration) -> Result<String> {
    Ok(Running::spawn(cmd)?.finish(timeout)?.stdout)
}

fn command(argv: &[OsString]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null());
    cmd
}

/// argv as one string for `bpftrace -c`, which splits it at spaces.
fn command_line(argv: &[OsString]) -> Result<String> {
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(w) = words.iter().find(|w| w.contains(char::is_whitespace)) {
        bail!("bpftrace -c cannot pass {w:?}: it has whitespace");
    }
    Ok(words.join(" "))
}

/// Holds the floor (xtask's bench-floor helper) until dropped.
struct FloorGuard {
    helper: Option<Running>,
    /// The raw tracepoints it attached to.
    hooks: Vec<String>,
}

/// What bench-floor prints once attached, before the hooks.
const FLOOR_ATTACHED: &str = "floor attached";

impl FloorGuard {
    /// `clock`: the floor with a clock read per hook; `all`: on every hook gotrace
    /// attaches, not only sys_enter/sys_exit.
    fn attach(helper: &Path, clock: bool, all: bool) -> Result<FloorGuard> {
        let mut cmd = Command::new(helper);
        if clock {
            cmd.arg("clock");
        }
        if all {
            cmd.arg("all");
        }
        let mut r = Running::spawn(cmd.stdin(Stdio::piped()))?;
        let (_, line) = r.wait_line(FLOOR_ATTACHED, ATTACH_TIMEOUT)?;
        let hooks = parse_floor_line(&line);
        Ok(FloorGuard {
            helper: Some(r),
            hooks,
        })
    }
}

/// The hooks on bench-floor's `floor attached: HOOK...` line.
fn parse_floor_line(line: &str) -> Vec<String> {
    line.split_once(FLOOR_ATTACHED)
        .map(|(_, rest)| rest.trim_start_matches(':'))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

impl Drop for FloorGuard {
    fn drop(&mut self) {
        if let Some(mut r) = self.helper.take() {
            // Its stdin closing is its signal to detach and exit.
            drop(r.child.stdin.take());
            if let Err(e) = r.finish(Duration::from_secs(10)) {
                eprintln!("xtask: bench: the floor helper: {e:#}");
            }
        }
    }
}

/// `key=value` pairs of the first output line that has `key=`.
struct Kv(BTreeMap<String, f64>);

impl Kv {
    fn find(text: &str, key: &str) -> Result<Kv> {
        let prefix = format!("{key}=");
        let line = text
            .lines()
            .find(|l| l.split_whitespace().any(|w| w.starts_with(&prefix)))
            .with_context(|| format!("no `{prefix}` line in the workload's output"))?;
        Ok(Kv(line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()))
    }

    fn get(&self, key: &str) -> Result<f64> {
        self.0
            .get(key)
            .copied()
            .ok_or_else(|| anyhow!("no number for `{key}` in the workload's line"))
    }
}

// ---------------------------------------------------------------------------------------
// Results.

#[derive(Default)]
struct Observations {
    s: BTreeMap<SConfig, Vec<f64>>,
    /// Why a configuration has no (or fewer) results.
    s_notes: BTreeMap<SConfig, String>,
    h: BTreeMap<HConfig, Vec<HRun>>,
    /// Why an H configuration has fewer results.
    h_notes: BTreeMap<HConfig, String>,
    /// gotrace attached to a sleeping process.
    idle: Vec<IdleRun>,
    /// The hooks the every-hook floors attached (bench-floor's line).
    floor_hooks: Option<Vec<String>>,
    gotrace: Vec<(Role, GotraceRun)>,
    stream: Option<Stream>,
    slow: BTreeMap<SlowConfig, Vec<SlowRun>>,
    /// Each binary loaded, with its runs.
    symbols: Vec<(GoBinary, Vec<SymbolsRun>)>,
    /// Why a binary was not loaded.
    symbols_notes: Vec<String>,
    /// Host-wide: S's ns per syscall by configuration, and why one has fewer.
    hw: BTreeMap<HwConfig, Vec<f64>>,
    /// The same runs' CPU ns per syscall.
    hw_cpu: BTreeMap<HwConfig, Vec<f64>>,
    hw_notes: BTreeMap<HwConfig, String>,
    /// The --all runs, the --all --cgroup runs, the idle processes.
    hw_all: Vec<AllRun>,
    hw_cgroup: Vec<CgroupRun>,
    hw_crowd: Option<CrowdFacts>,
    /// Runs per (part, configuration), and how many of them were disturbed.
    runs: BTreeMap<(Part, &'static str), RunCount>,
}

#[derive(Serialize, Debug, Default, Clone, Copy)]
struct RunCount {
    runs: usize,
    disturbed: usize,
    /// The most of the machine's CPU time others used during one of these runs, percent.
    max_others_cpu_pct: f64,
}

/// Others may use at most this share of the machine's CPUs before or during a run.
const OTHERS_CPU_LIMIT: f64 = 0.10;

/// One run's watch for disturbance: what was seen before it, and the CPU clock at its start.
struct Watch {
    before: Option<String>,
    clock: Option<CpuClock>,
}

impl Observations {
    /// Keeps the hooks an every-hook floor attached.
    fn note_floor(&mut self, floor: Option<Floor>, hooks: Option<Vec<String>>) {
        if floor.is_some_and(|f| f.all) {
            if let Some(h) = hooks {
                self.floor_hooks = Some(h);
            }
        }
    }

    /// Before a run: waits (up to the plan's settle time) until the machine is quiet: no
    /// eBPF tracing programs of others attached (another gotrace, a test run: they put
    /// every process's syscalls on the slow path) and others using little CPU.
    fn before_run(&self, plan: &Plan) -> Watch {
        let settle = Duration::from_secs_f64(plan.settle_secs);
        let deadline = Instant::now() + settle;
        let mut told = false;
        let before = loop {
            let noise = noise_now();
            if noise.is_none() || Instant::now() >= deadline {
                break noise;
            }
            if let Some(n) = noise.as_ref().filter(|_| !told) {
                eprintln!("xtask: bench: {n}; waiting up to {settle:?} for quiet");
                told = true;
            }
            thread::sleep(Duration::from_millis(250));
        };
        Watch {
            before,
            clock: CpuClock::now(),
        }
    }

    /// After a successful run: counts it, disturbed if it was not quiet before, or others
    /// used more than their share of the CPUs during it.
    fn after_run(&mut self, watch: Watch, part: Part, label: &'static str) {
        reap_orphans();
        let others = watch.clock.as_ref().and_then(CpuClock::others_share);
        let during = others
            .filter(|&o| o > OTHERS_CPU_LIMIT)
            .map(|o| format!("others used {:.0}% of the CPUs during the run", o * 100.0));
        let count = self.runs.entry((part, label)).or_default();
        count.runs += 1;
        count.max_others_cpu_pct = count.max_others_cpu_pct.max(others.unwrap_or(0.0) * 100.0);
        if let Some(why) = watch.before.or(during) {
            count.disturbed += 1;
            eprintln!("xtask: bench: disturbed run ({part:?} {label}): {why}");
        }
    }
}

/// Makes the bench the subreaper of its descendants: those that their parent leaves
/// unreaped (perf trace does so with its workload) come back to the bench, so their CPU
/// time counts as the bench's, not as others'.
fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!(
            "xtask: bench: cannot become a subreaper ({}): the CPU time of orphaned workloads will count as others'",
            io::Error::last_os_error()
        );
    }
}

/// Reaps the descendants orphaned to the bench. Only between runs, when the bench has no
/// child of its own left to wait for.
fn reap_orphans() {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid out-pointer.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}

/// What disturbs the machine now, if anything: others' tracing programs, or others'
/// CPU use over half a second (the bench runs nothing meanwhile).
fn noise_now() -> Option<String> {
    if let Some(n) = foreign_tracers().filter(|&n| n > 0) {
        return Some(format!(
            "{n} eBPF tracing attachments of others (another gotrace or a test run?)"
        ));
    }
    let clock = CpuClock::now();
    thread::sleep(Duration::from_millis(500));
    clock
        .and_then(|c| c.others_share())
        .filter(|&o| o > OTHERS_CPU_LIMIT)
        .map(|o| format!("others use {:.0}% of the CPUs", o * 100.0))
}

/// CPU time spent by the whole machine, and by the bench with its reaped children.
struct CpuClock {
    at: Instant,
    /// user + nice + system of all CPUs (/proc/stat), seconds. Interrupt time is left
    /// out: loopback networking is accounted there, whoever causes it.
    machine_busy: f64,
    /// getrusage of the bench and of its reaped children (and theirs), seconds.
    ours: f64,
}

impl CpuClock {
    fn now() -> Option<CpuClock> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(3)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(CpuClock {
            at: Instant::now(),
            machine_busy: ticks.iter().sum::<f64>() / hz.max(1.0),
            ours: rusage_secs(libc::RUSAGE_SELF) + rusage_secs(libc::RUSAGE_CHILDREN),
        })
    }

    /// The share of the machine's CPU time (0..1) that others used since `self`.
    fn others_share(&self) -> Option<f64> {
        let now = CpuClock::now()?;
        let capacity = now.at.duration_since(self.at).as_secs_f64()
            * thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let others = (now.machine_busy - self.machine_busy) - (now.ours - self.ours);
        (capacity > 0.0).then(|| (others / capacity).max(0.0))
    }
}

/// User + system CPU seconds of getrusage(`who`).
fn rusage_secs(who: libc::c_int) -> f64 {
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage with a valid `who` and a valid out-pointer.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0.0;
    }
    timeval_secs(ru.ru_utime) + timeval_secs(ru.ru_stime)
}

fn timeval_secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// CPU time (s) the live threads of `pid` have used so far: the sum of the first field
/// of /proc/PID/task/*/schedstat (ns on a CPU), or, without schedstat, /proc/PID/stat's
/// utime + stime (clock ticks, which also count exited threads). For a process whose
/// threads all live to its end, the difference to wait4's user + system time at its end
/// is what it used in between: the kernel makes those two add up to the same runtime.
fn threads_cpu_secs(pid: u32) -> Result<f64> {
    // Kernels without CONFIG_SCHED_INFO have no schedstat.
    if !Path::new("/proc/self/schedstat").exists() {
        return stat_cpu_secs(pid);
    }
    let dir = format!("/proc/{pid}/task");
    let tasks = fs::read_dir(&dir).with_context(|| format!("read {dir}"))?;
    let mut ns = 0u64;
    for task in tasks {
        let path = task
            .with_context(|| format!("read {dir}"))?
            .path()
            .join("schedstat");
        match fs::read_to_string(&path) {
            Ok(text) => {
                ns += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .with_context(|| format!("{}: {text:?}", path.display()))?;
            }
            // A thread that just exited.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        }
    }
    Ok(ns as f64 / 1e9)
}

/// CPU time (s) process `pid` has used so far, its exited threads' included: the larger
/// of its live threads' schedstat (ns, but not the threads that ended) and
/// /proc/PID/stat's utime + stime (all its threads, but in clock ticks).
fn process_cpu_secs(pid: u32) -> Result<f64> {
    Ok(threads_cpu_secs(pid)?.max(stat_cpu_secs(pid)?))
}

/// utime + stime of /proc/PID/stat, seconds.
fn stat_cpu_secs(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let ticks = parse_stat_cpu_ticks(&stat).with_context(|| format!("parse {path}"))?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / hz.max(1.0))
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line; the command name, in
/// parentheses, may hold spaces and parentheses.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// How many eBPF programs are attached to tracing hooks on the machine (None: bpftool
/// cannot tell): links (raw_tp, fentry, ...) and perf-event attachments (tracepoints,
/// kprobes). Both are gone as soon as their owner exits, unlike the programs themselves,
/// which the kernel frees a little later. Called between runs, when the bench has none.
fn foreign_tracers() -> Option<usize> {
    let links = works("bpftool", &["link", "show"])?;
    let perf = works("bpftool", &["perf", "show"])?;
    let tracing_links = links.lines().filter(|l| {
        let mut w = l.split_whitespace();
        w.next().is_some_and(|id| id.ends_with(':'))
            && matches!(
                w.next(),
                Some("raw_tracepoint" | "tracing" | "perf_event" | "kprobe_multi" | "uprobe_multi")
            )
    });
    let perf_attached = perf.lines().filter(|l| l.starts_with("pid "));
    Some(tracing_links.count() + perf_attached.count())
}

/// Median and range of the repetitions.
#[derive(Serialize, Debug, Clone)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    values: Vec<f64>,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            values: values.to_vec(),
        })
    }
}

#[derive(Serialize, Debug)]
struct Machine {
    date: String,
    kernel: String,
    cpu: String,
    nproc: usize,
    mem_gib: f64,
    gotrace_commit: String,
    /// Versions of gotrace's peers ("not installed" when absent).
    peers: BTreeMap<String, String>,
}

/// The value of a `Name: value` line (/proc/cpuinfo, /proc/meminfo, /proc/PID/status).
fn colon_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Name:   1234 kB` line's KiB (/proc/meminfo, /proc/PID/status).
fn kib_field(text: &str, name: &str) -> Option<u64> {
    colon_field(text, name)?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `field` (VmRSS, VmHWM) of /proc/`pid`/status, KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    kib_field(&text, field).with_context(|| format!("no {field} in {path}"))
}

fn machine() -> Machine {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let field = colon_field;
    let mem_kib = kib_field(&read("/proc/meminfo"), "MemTotal").unwrap_or(0) as f64;
    let first_line = |prog: &str, args: &[&str]| {
        works(prog, args).and_then(|o| o.lines().next().map(|l| l.trim().to_string()))
    };
    let commit = first_line(
        "git",
        &[
            "-C",
            &root().to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .unwrap_or_else(|| "unknown".into());
    let dirty = works(
        "git",
        &["-C", &root().to_string_lossy(), "status", "--porcelain"],
    )
    .is_some_and(|s| !s.trim().is_empty());
    let peers = [
        ("bpftrace", vec!["--version"]),
        ("perf", vec!["--version"]),
        ("strace", vec!["-V"]),
    ]
    .into_iter()
    .map(|(p, args)| {
        let v = first_line(p, &args).unwrap_or_else(|| "not installed".into());
        (p.to_string(), v)
    })
    .collect();
    Machine {
        date: first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
        nproc: thread::available_parallelism().map_or(0, |n| n.get()),
        mem_gib: mem_kib / (1024.0 * 1024.0),
        gotrace_commit: if dirty {
            format!("{commit} (with uncommitted changes)")
        } else {
            commit
        },
        peers,
    }
}

#[derive(Serialize, Debug)]
struct SRow {
    config: SConfig,
    label: &'static str,
    calls_per_goroutine: u64,
    ns_per_syscall: Option<Spread>,
    x_untraced: Option<f64>,
    added_ns: Option<f64>,
    /// added_ns / the sys-hooks floor's added_ns.
    x_floor: Option<f64>,
    /// added_ns / each floor's added_ns (not for untraced and the floors).
    x_floors: FloorMultiples,
    note: Option<String>,
}

#[derive(Serialize, Debug)]
struct HRow {
    config: HConfig,
    label: &'static str,
    /// The server's CPU time per request, µs.
    server_cpu_us: Option<Spread>,
    /// Against untraced (medians).
    x_untraced: Option<f64>,
    /// µs per request against untraced (medians).
    added_us: Option<f64>,
    /// gotrace's own CPU time per request, µs.
    gotrace_cpu_us: Option<Spread>,
    /// The client's CPU time per request (its whole run), µs.
    client_cpu_us: Option<Spread>,
    /// ... against untraced (medians).
    client_added_us: Option<f64>,
    /// For reference: the client's throughput and latency.
    rps: Option<Spread>,
    p99_us: Option<Spread>,
    /// Requests per measured run.
    requests: Option<Spread>,
    /// Failed requests, summed over the runs.
    errors: f64,
    note: Option<String>,
    runs: Vec<HRun>,
}

/// Workload H's results.
#[derive(Serialize, Debug)]
struct HReport {
    reps: usize,
    rows: Vec<HRow>,
    /// gotrace's added server CPU per request as a multiple of each floor's (sys_clock
    /// is not run on H).
    x_floors: FloorMultiples,
    /// Where the added ns per request go, from the runs with bpf_stats on.
    programs: Option<ProgramBreakdown>,
}

/// Where gotrace's added ns per unit of work (H's request, a sleep of the slow-call
/// part) go: its programs, timed by bpf_stats, summed over the runs with bpf_stats on.
/// The programs run for every process (a non-target's syscalls and switches leave
/// early), so this is their whole cost, the client's share included.
#[derive(Serialize, Debug)]
struct ProgramBreakdown {
    /// "request" or "sleep".
    unit: &'static str,
    runs: usize,
    units: u64,
    /// The costliest first.
    programs: Vec<ProgramRow>,
    total_ns_per_unit: f64,
    /// The traced process's added CPU per unit (its runs without bpf_stats, against
    /// untraced, medians), ns; and who that is ("server", "workload").
    added_ns: Option<f64>,
    traced: &'static str,
    /// ... in the runs with bpf_stats on (their timing included).
    added_ns_stats: Option<f64>,
    /// H's client's added CPU per request (without bpf_stats), ns.
    added_client_ns: Option<f64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct ProgramRow {
    program: String,
    /// The raw tracepoints it is attached to.
    hooks: String,
    runs_per_unit: f64,
    ns_per_run: f64,
    ns_per_unit: f64,
}

impl ProgramBreakdown {
    /// The programs of H's `runs` (those with bpf_stats), per request.
    fn of(runs: &[HRun]) -> Option<ProgramBreakdown> {
        let timed: Vec<(u64, &[ProgDelta])> = runs
            .iter()
            .filter_map(|r| r.programs.as_deref().map(|p| (r.requests, p)))
            .collect();
        ProgramBreakdown::sum("request", "server", &timed)
    }

    /// The programs of `timed` runs, each (its units of work, its programs), summed by
    /// program and hook.
    fn sum(
        unit: &'static str,
        traced: &'static str,
        timed: &[(u64, &[ProgDelta])],
    ) -> Option<ProgramBreakdown> {
        let units: u64 = timed.iter().map(|(n, _)| n).sum();
        if timed.is_empty() || units == 0 {
            return None;
        }
        let mut sums: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for d in timed.iter().flat_map(|(_, p)| p.iter()) {
            let e = sums.entry((d.name.clone(), d.hooks.clone())).or_default();
            e.0 += d.runs;
            e.1 += d.run_time_ns;
        }
        let n = units as f64;
        let mut programs: Vec<ProgramRow> = sums
            .into_iter()
            .map(|((program, hooks), (count, ns))| ProgramRow {
                program,
                hooks,
                runs_per_unit: count as f64 / n,
                ns_per_run: if count > 0 {
                    ns as f64 / count as f64
                } else {
                    0.0
                },
                ns_per_unit: ns as f64 / n,
            })
            .collect();
        programs.sort_by(|a, b| b.ns_per_unit.total_cmp(&a.ns_per_unit));
        Some(ProgramBreakdown {
            unit,
            runs: timed.len(),
            units,
            total_ns_per_unit: programs.iter().map(|p| p.ns_per_unit).sum(),
            programs,
            added_ns: None,
            traced,
            added_ns_stats: None,
            added_client_ns: None,
        })
    }
}

#[derive(Serialize, Debug, Default)]
struct GotraceFacts {
    runs_default: usize,
    /// Lost records summed over the default-settings runs tracing S and H.
    lost_records_default: Option<u64>,
    maxrss_mib_default: Option<f64>,
    maxrss_mib_streaming: Option<f64>,
    attach_wall_ms: Option<Spread>,
    attach_reported_ms: Option<Spread>,
    /// gotrace's CPU time at its "tracing pid" line.
    attach_cpu_ms: Option<Spread>,
    /// Attached to a sleeping process: gotrace's CPU, percent of one CPU.
    idle_pct: Option<Spread>,
    idle_runs: Vec<IdleRun>,
}

#[derive(Serialize, Debug)]
struct Target {
    name: &'static str,
    value: String,
    /// None: not measured in this run, or not measurable (said in `value`).
    pass: Option<bool>,
}

/// Runs that others disturbed: their eBPF tracing programs were attached when it started,
/// or they used more than OTHERS_CPU_LIMIT of the CPUs before or during it.
#[derive(Serialize, Debug)]
struct Disturbance {
    runs: usize,
    disturbed: usize,
    /// false: bpftool is missing, others' tracing programs could not be seen.
    tracing_checked: bool,
    by_config: Vec<ConfigDisturbance>,
}

#[derive(Serialize, Debug)]
struct ConfigDisturbance {
    part: Part,
    config: &'static str,
    #[serde(flatten)]
    count: RunCount,
}

/// The slow-call part's results.
#[derive(Serialize, Debug)]
struct SlowReport {
    sleeps: u64,
    sleep_ms: u64,
    threshold: &'static str,
    rows: Vec<SlowRow>,
    /// The workload's added µs per sleep, from medians: traced with nothing streamed
    /// minus untraced (the hooks on every call), streamed without stacks minus that,
    /// with stacks minus without.
    hooks_us: Option<f64>,
    streaming_us: Option<f64>,
    stack_workload_us: Option<f64>,
    /// gotrace's µs per streamed call, with stacks minus without (medians).
    stack_gotrace_us: Option<f64>,
    /// Every traced run streamed every sleep, with a stack exactly when stacks were on,
    /// and lost nothing.
    complete: Option<bool>,
    /// `hooks_us` as a multiple of each floor's added µs per sleep (only the all-hooks
    /// floors are run here).
    x_floors: FloorMultiples,
    /// Where the added ns per sleep go, from the runs with bpf_stats on.
    programs: Option<ProgramBreakdown>,
}

#[derive(Serialize, Debug)]
struct SlowRow {
    config: SlowConfig,
    label: &'static str,
    runs: Vec<SlowRun>,
    workload_cpu_us: Option<Spread>,
    /// Against untraced (medians), per sleep.
    added_us: Option<f64>,
    /// The same per streamed call (the sleeps and the runtime's own slow calls).
    added_us_per_streamed: Option<f64>,
    wall_us: Option<Spread>,
    /// Only where every sleep is streamed.
    gotrace_us_per_call: Option<Spread>,
    /// gotrace's CPU time from attached to the workload's end, ms.
    gotrace_cpu_ms: Option<Spread>,
    streamed: Option<Spread>,
    /// Where every sleep is streamed: the fewest sleeps streamed in one run, the most
    /// cut short by a signal, and the runs that failed the check (SlowTraced::complete).
    min_sleeps_streamed: Option<u64>,
    max_sleeps_interrupted: Option<u64>,
    incomplete_runs: Option<usize>,
    lost_records: Option<u64>,
    maxrss_mib: Option<f64>,
}

/// One binary's symbol-table loads.
#[derive(Serialize, Debug)]
struct SymbolsRow {
    binary: GoBinary,
    functions: u64,
    elf_symbols: u64,
    pclntab_bytes: u64,
    funcdata_bytes: u64,
    load_ms: Option<Spread>,
    rss_delta_mib: Option<Spread>,
    peak_rss_delta_mib: Option<Spread>,
    /// Symbols::frames per function, at its entry and at its middle, ns (medians).
    lookup_entry_ns: Option<f64>,
    lookup_mid_ns: Option<f64>,
    /// Frames the lookups at the middles returned (inlined calls expanded).
    frames_mid: u64,
    runs: Vec<SymbolsRun>,
}

#[derive(Serialize, Debug)]
struct Report {
    machine: Machine,
    plan: Plan,
    s: Vec<SRow>,
    h: Option<HReport>,
    /// The hooks the every-hook floors attached.
    floor_hooks: Option<Vec<String>>,
    gotrace: GotraceFacts,
    stream: Option<Stream>,
    slow: Option<SlowReport>,
    symbols: Vec<SymbolsRow>,
    symbols_notes: Vec<String>,
    hostwide: Option<HostwideReport>,
    targets: Vec<Target>,
    disturbance: Disturbance,
}

impl Report {
    fn new(plan: &Plan, machine: Machine, obs: Observations) -> Report {
        let s = if plan.wants(Part::S) {
            s_rows(plan, &obs)
        } else {
            Vec::new()
        };
        let h = plan.wants(Part::H).then(|| h_report(plan, &obs));
        let gotrace = gotrace_facts(&obs);
        let slow = plan.wants(Part::Slow).then(|| slow_report(plan, &obs));
        let symbols = symbols_rows(&obs);
        let mut targets = targets(&s, h.as_ref(), &gotrace);
        if plan.wants(Part::Slow) {
            targets.push(slow_target(slow.as_ref()));
        }
        if plan.wants(Part::Symbols) {
            targets.extend(symbols_targets(&symbols));
        }
        let hostwide = plan
            .wants(Part::Hostwide)
            .then(|| hostwide_report(plan, &obs));
        if plan.wants(Part::Hostwide) {
            targets.extend(hostwide_targets(hostwide.as_ref()));
        }
        let disturbance = Disturbance {
            runs: obs.runs.values().map(|r| r.runs).sum(),
            disturbed: obs.runs.values().map(|r| r.disturbed).sum(),
            tracing_checked: foreign_tracers().is_some(),
            by_config: obs
                .runs
                .iter()
                .map(|(&(part, config), &count)| ConfigDisturbance {
                    part,
                    config,
                    count,
                })
                .collect(),
        };
        Report {
            disturbance,
            machine,
            plan: plan.clone(),
            s,
            h,
            floor_hooks: obs.floor_hooks,
            gotrace,
            stream: obs.stream,
            slow,
            symbols,
            symbols_notes: obs.symbols_notes,
            hostwide,
            targets,
        }
    }
}

fn s_rows(plan: &Plan, obs: &Observations) -> Vec<SRow> {
    let median = |c: SConfig| obs.s.get(&c).and_then(|v| Spread::of(v)).map(|s| s.median);
    let base = median(SConfig::Untraced);
    let added = |c: SConfig| median(c).zip(base).map(|(m, b)| m - b);
    let floors = [
        added(SConfig::Floor),
        added(SConfig::FloorClock),
        added(SConfig::FloorAll),
        added(SConfig::FloorAllClock),
    ];
    S_CONFIGS
        .iter()
        .map(|&config| {
            let spread = obs.s.get(&config).and_then(|v| Spread::of(v));
            let m = spread.as_ref().map(|s| s.median);
            let added = m.zip(base).map(|(m, b)| m - b);
            let x_floor = match config {
                SConfig::Untraced | SConfig::Floor => None,
                _ => multiple(added, floors[0]),
            };
            let x_floors = if config == SConfig::Untraced || config.floor().is_some() {
                FloorMultiples::default()
            } else {
                FloorMultiples::of(added, floors)
            };
            SRow {
                config,
                label: config.label(),
                calls_per_goroutine: config.calls(plan),
                x_untraced: m.zip(base).map(|(m, b)| m / b),
                added_ns: added.filter(|_| config != SConfig::Untraced),
                x_floor,
                x_floors,
                ns_per_syscall: spread,
                note: obs.s_notes.get(&config).cloned(),
            }
        })
        .collect()
}

impl SRow {
    /// gotrace and bpftrace, whose cost compares with the floors (perf trace and strace
    /// work otherwise).
    fn compares_with_floors(&self) -> bool {
        matches!(
            self.config,
            SConfig::Gotrace | SConfig::GotraceOther | SConfig::Bpftrace
        )
    }
}

fn h_report(plan: &Plan, obs: &Observations) -> HReport {
    let runs = |c: HConfig| obs.h.get(&c).map_or(&[][..], Vec::as_slice);
    let spread = |c: HConfig, f: &dyn Fn(&HRun) -> Option<f64>| {
        Spread::of(&runs(c).iter().filter_map(f).collect::<Vec<_>>())
    };
    let server = |c: HConfig| spread(c, &|r| Some(r.server_cpu_ns / 1e3));
    let client = |c: HConfig| spread(c, &|r| Some(r.client_cpu_ns / 1e3));
    let median = |s: Option<Spread>| s.map(|s| s.median);
    let base = median(server(HConfig::Untraced));
    let client_base = median(client(HConfig::Untraced));
    let added = |c: HConfig| median(server(c)).zip(base).map(|(m, b)| m - b);
    let client_added = |c: HConfig| median(client(c)).zip(client_base).map(|(m, b)| m - b);
    let rows: Vec<HRow> = H_CONFIGS
        .iter()
        .map(|&config| {
            let server_cpu_us = server(config);
            let m = server_cpu_us.as_ref().map(|s| s.median);
            let not_base = config != HConfig::Untraced;
            HRow {
                config,
                label: config.label(),
                x_untraced: m.zip(base).map(|(m, b)| m / b),
                added_us: added(config).filter(|_| not_base),
                server_cpu_us,
                gotrace_cpu_us: spread(config, &|r| r.gotrace_cpu_ns.map(|g| g / 1e3)),
                client_cpu_us: client(config),
                client_added_us: client_added(config).filter(|_| not_base),
                rps: spread(config, &|r| Some(r.rps)),
                p99_us: spread(config, &|r| Some(r.p99_us)),
                requests: spread(config, &|r| Some(r.requests as f64)),
                errors: runs(config).iter().map(|r| r.errors).sum(),
                note: obs.h_notes.get(&config).cloned(),
                runs: runs(config).to_vec(),
            }
        })
        .collect();
    let floors = [
        added(HConfig::Floor),
        None,
        added(HConfig::FloorAll),
        added(HConfig::FloorAllClock),
    ];
    let programs = ProgramBreakdown::of(runs(HConfig::GotraceStats)).map(|mut p| {
        p.added_ns = added(HConfig::Gotrace).map(|a| a * 1e3);
        p.added_ns_stats = added(HConfig::GotraceStats).map(|a| a * 1e3);
        p.added_client_ns = client_added(HConfig::Gotrace).map(|a| a * 1e3);
        p
    });
    HReport {
        reps: plan.h_reps,
        rows,
        x_floors: FloorMultiples::of(added(HConfig::Gotrace), floors),
        programs,
    }
}

fn slow_report(plan: &Plan, obs: &Observations) -> SlowReport {
    let spread = |runs: &[SlowRun], f: &dyn Fn(&SlowRun) -> Option<f64>| {
        Spread::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let runs = |c: SlowConfig| obs.slow.get(&c).map_or(&[][..], Vec::as_slice);
    let median_cpu =
        |c: SlowConfig| spread(runs(c), &|r| Some(r.workload_cpu_us)).map(|s| s.median);
    let base = median_cpu(SlowConfig::Untraced);
    let rows: Vec<SlowRow> = SLOW_CONFIGS
        .iter()
        .map(|&config| {
            let runs = runs(config);
            let traced: Vec<&SlowTraced> = runs.iter().filter_map(|r| r.traced.as_ref()).collect();
            let streams = config.streams();
            let streamed = spread(runs, &|r| r.traced.map(|t| t.streamed as f64));
            let added = median_cpu(config)
                .zip(base)
                .filter(|_| config != SlowConfig::Untraced)
                .map(|(m, b)| m - b);
            let of_streaming = |f: fn(&SlowTraced) -> u64| {
                streams.and_then(|_| traced.iter().map(|t| f(t)).reduce(u64::min))
            };
            SlowRow {
                config,
                label: config.label(),
                workload_cpu_us: spread(runs, &|r| Some(r.workload_cpu_us)),
                added_us_per_streamed: added
                    .zip(streamed.as_ref())
                    .filter(|(_, s)| streams.is_some() && s.median > 0.0)
                    .map(|(a, s)| a * plan.slow_sleeps as f64 / s.median),
                added_us: added,
                wall_us: spread(runs, &|r| Some(r.wall_us)),
                gotrace_us_per_call: spread(runs, &|r| {
                    r.traced
                        .filter(|_| streams.is_some())
                        .map(|t| t.gotrace_us_per_call())
                }),
                gotrace_cpu_ms: spread(runs, &|r| r.traced.map(|t| t.gotrace_cpu_ms)),
                streamed,
                min_sleeps_streamed: of_streaming(|t| t.sleeps_streamed),
                max_sleeps_interrupted: streams
                    .and_then(|_| traced.iter().map(|t| t.sleeps_interrupted).max()),
                incomplete_runs: streams.filter(|_| !traced.is_empty()).map(|stacks| {
                    traced
                        .iter()
                        .filter(|t| !t.complete(plan.slow_sleeps, stacks))
                        .count()
                }),
                lost_records: (!traced.is_empty())
                    .then(|| traced.iter().map(|t| t.lost_records).sum()),
                maxrss_mib: traced
                    .iter()
                    .map(|t| t.maxrss_kib)
                    .max()
                    .map(|k| k as f64 / 1024.0),
                runs: runs.to_vec(),
            }
        })
        .collect();
    let row = |c: SlowConfig| rows.iter().find(|r| r.config == c);
    let median = |c: SlowConfig, f: fn(&SlowRow) -> &Option<Spread>| {
        row(c).and_then(|r| f(r).as_ref().map(|s| s.median))
    };
    let diff = |a: SlowConfig, b: SlowConfig, f: fn(&SlowRow) -> &Option<Spread>| {
        median(a, f).zip(median(b, f)).map(|(a, b)| a - b)
    };
    let cpu: fn(&SlowRow) -> &Option<Spread> = |r| &r.workload_cpu_us;
    let streaming: Vec<&SlowRow> = rows
        .iter()
        .filter(|r| r.config.streams().is_some())
        .collect();
    let complete = streaming
        .iter()
        .map(|r| {
            r.incomplete_runs
                .filter(|_| !r.runs.is_empty())
                .map(|n| n == 0)
        })
        .collect::<Option<Vec<bool>>>()
        .map(|all| all.iter().all(|&ok| ok));
    let hooks_us = diff(SlowConfig::GotraceNoneStreamed, SlowConfig::Untraced, cpu);
    let floor = |c: SlowConfig| diff(c, SlowConfig::Untraced, cpu);
    let floors = [
        None,
        None,
        floor(SlowConfig::FloorAll),
        floor(SlowConfig::FloorAllClock),
    ];
    let timed: Vec<(u64, &[ProgDelta])> = runs(SlowConfig::GotraceStats)
        .iter()
        .filter_map(|r| r.programs.as_deref().map(|p| (plan.slow_sleeps, p)))
        .collect();
    let programs = ProgramBreakdown::sum("sleep", "workload", &timed).map(|mut p| {
        p.added_ns = hooks_us.map(|a| a * 1e3);
        p.added_ns_stats =
            diff(SlowConfig::GotraceStats, SlowConfig::Untraced, cpu).map(|a| a * 1e3);
        p
    });
    SlowReport {
        sleeps: plan.slow_sleeps,
        sleep_ms: plan.slow_sleep_ms,
        threshold: SLOW_THRESHOLD,
        x_floors: FloorMultiples::of(hooks_us, floors),
        programs,
        hooks_us,
        streaming_us: diff(
            SlowConfig::GotraceNoStacks,
            SlowConfig::GotraceNoneStreamed,
            cpu,
        ),
        stack_workload_us: diff(SlowConfig::Gotrace, SlowConfig::GotraceNoStacks, cpu),
        stack_gotrace_us: diff(SlowConfig::Gotrace, SlowConfig::GotraceNoStacks, |r| {
            &r.gotrace_us_per_call
        }),
        complete,
        rows,
    }
}

fn symbols_rows(obs: &Observations) -> Vec<SymbolsRow> {
    obs.symbols
        .iter()
        .map(|(binary, runs)| {
            let spread =
                |f: fn(&SymbolsRun) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>());
            let last = runs.last();
            let fact = |f: fn(&SymbolsRun) -> u64| last.map_or(0, f);
            let lookups = fact(|r| r.functions + r.elf_symbols).max(1) as f64;
            SymbolsRow {
                binary: binary.clone(),
                functions: fact(|r| r.functions),
                elf_symbols: fact(|r| r.elf_symbols),
                pclntab_bytes: fact(|r| r.pclntab_bytes),
                funcdata_bytes: fact(|r| r.funcdata_bytes),
                load_ms: spread(|r| r.load_ms),
                rss_delta_mib: spread(|r| r.rss_delta_kib / 1024.0),
                peak_rss_delta_mib: spread(|r| r.peak_rss_delta_kib / 1024.0),
                lookup_entry_ns: spread(|r| r.symbolize_all_ms).map(|s| s.median * 1e6 / lookups),
                lookup_mid_ns: spread(|r| r.symbolize_mid_ms).map(|s| s.median * 1e6 / lookups),
                frames_mid: fact(|r| r.frames_mid),
                runs: runs.clone(),
            }
        })
        .collect()
}

/// One host-wide configuration: S's ns per syscall.
#[derive(Serialize, Debug)]
struct HwRow {
    config: HwConfig,
    label: &'static str,
    ns_per_syscall: Option<Spread>,
    x_untraced: Option<f64>,
    added_ns: Option<f64>,
    /// The same runs' CPU ns per syscall (S's threads' CPU time), and the median added.
    cpu_ns_per_syscall: Option<Spread>,
    cpu_added_ns: Option<f64>,
    note: Option<String>,
}

/// The host-wide part's results.
#[derive(Serialize, Debug)]
struct HostwideReport {
    reps: usize,
    calls_per_goroutine: u64,
    idle: Option<CrowdFacts>,
    rows: Vec<HwRow>,
    /// S's added ns under --all over its added ns under --pid (medians): wall time, and
    /// its threads' CPU time (the budget's: what each call costs S, not counting the
    /// time the traced idle processes and gotrace took the CPUs from it).
    all_x_pid: Option<f64>,
    all_x_pid_cpu: Option<f64>,
    /// Not traced: S's added ns under --all --cgroup minus beside --pid of another
    /// (medians), and the noise allowed (the larger of the two configurations' ranges,
    /// at least HW_NOISE_SHARE of the untraced median).
    not_traced_diff_ns: Option<f64>,
    noise_ns: Option<f64>,
    /// Over the --all runs.
    attach_wall_ms: Option<Spread>,
    attach_reported_ms: Option<Spread>,
    attach_cpu_ms: Option<Spread>,
    at_banner: Option<Spread>,
    all_listed_ms: Option<Spread>,
    listed: Option<Spread>,
    idle_pct: Option<Spread>,
    busy_cpu_ms: Option<Spread>,
    busy_pct: Option<Spread>,
    cpu_secs: Option<Spread>,
    /// The most over the --all runs, MiB.
    idle_rss_mib: Option<f64>,
    idle_hwm_mib: Option<f64>,
    end_rss_mib: Option<f64>,
    end_hwm_mib: Option<f64>,
    /// Every timed GET of every --all run, ms; the last body of each run.
    scrape_ms: Option<Spread>,
    body_kib: Option<Spread>,
    body_lines: Option<Spread>,
    /// Every new process listed, ms; how many were started, and not listed in time.
    pickup_ms: Option<Spread>,
    pickups: usize,
    pickups_missed: usize,
    /// Summed over the --all and --all --cgroup runs' end-of-trace lines, and over
    /// /metrics at the end of the --all runs.
    lost_records: Option<u64>,
    lost_records_metrics: Option<u64>,
    calls_not_counted: Option<u64>,
    bad_records: Option<u64>,
    /// Every --all run counted every getppid of S.
    s_counted_ok: Option<bool>,
    /// --all --cgroup: the most processes listed; S never listed; gotrace's CPU while
    /// only the idle processes are traced; its VmHWM (the most).
    cgroup_listed: Option<u64>,
    cgroup_ok: Option<bool>,
    cgroup_idle_pct: Option<Spread>,
    cgroup_hwm_mib: Option<f64>,
    runs: Vec<AllRun>,
    cgroup_runs: Vec<CgroupRun>,
}

fn hostwide_report(plan: &Plan, obs: &Observations) -> HostwideReport {
    let spread_of = |c: HwConfig| obs.hw.get(&c).and_then(|v| Spread::of(v));
    let median = |c: HwConfig| spread_of(c).map(|s| s.median);
    let range = |c: HwConfig| spread_of(c).map(|s| s.max - s.min);
    let base = median(HwConfig::Untraced);
    let added = |c: HwConfig| median(c).zip(base).map(|(m, b)| m - b);
    let cpu_spread = |c: HwConfig| obs.hw_cpu.get(&c).and_then(|v| Spread::of(v));
    let cpu_median = |c: HwConfig| cpu_spread(c).map(|s| s.median);
    let cpu_added = |c: HwConfig| {
        cpu_median(c)
            .zip(cpu_median(HwConfig::Untraced))
            .map(|(m, b)| m - b)
    };
    let rows: Vec<HwRow> = HW_CONFIGS
        .iter()
        .map(|&config| {
            let spread = spread_of(config);
            let m = spread.as_ref().map(|s| s.median);
            HwRow {
                config,
                label: config.label(),
                x_untraced: m.zip(base).map(|(m, b)| m / b),
                added_ns: added(config).filter(|_| config != HwConfig::Untraced),
                ns_per_syscall: spread,
                cpu_ns_per_syscall: cpu_spread(config),
                cpu_added_ns: cpu_added(config).filter(|_| config != HwConfig::Untraced),
                note: obs.hw_notes.get(&config).cloned(),
            }
        })
        .collect();
    let noise_ns = base.map(|b| {
        [range(HwConfig::GotraceOther), range(HwConfig::AllCgroup)]
            .into_iter()
            .flatten()
            .fold(HW_NOISE_SHARE * b, f64::max)
    });
    let runs = &obs.hw_all;
    let cg = &obs.hw_cgroup;
    let over = |f: &dyn Fn(&AllRun) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>());
    let most_mib = |f: fn(&AllRun) -> u64| runs.iter().map(f).max().map(|k| k as f64 / 1024.0);
    let pickups: Vec<Option<f64>> = runs.iter().flat_map(|r| r.pickup_ms.clone()).collect();
    let ends = || runs.iter().map(|r| &r.end).chain(cg.iter().map(|c| &c.end));
    let any_trace = !runs.is_empty() || !cg.is_empty();
    let sum = |f: fn(&HostwideFacts) -> u64| any_trace.then(|| ends().map(f).sum::<u64>());
    HostwideReport {
        reps: plan.reps,
        calls_per_goroutine: plan.s_calls,
        idle: obs.hw_crowd.clone(),
        all_x_pid: multiple(added(HwConfig::All), added(HwConfig::GotracePid)),
        all_x_pid_cpu: multiple(cpu_added(HwConfig::All), cpu_added(HwConfig::GotracePid)),
        not_traced_diff_ns: added(HwConfig::AllCgroup)
            .zip(added(HwConfig::GotraceOther))
            .map(|(a, o)| a - o),
        noise_ns,
        rows,
        attach_wall_ms: over(&|r| r.attach.wall_ms),
        attach_reported_ms: over(&|r| r.attach.reported_ms),
        attach_cpu_ms: Spread::of(
            &runs
                .iter()
                .filter_map(|r| r.attach.cpu_ms)
                .collect::<Vec<_>>(),
        ),
        at_banner: over(&|r| r.at_banner as f64),
        all_listed_ms: over(&|r| r.all_listed_ms),
        listed: over(&|r| r.listed as f64),
        idle_pct: over(&|r| r.idle.pct),
        busy_cpu_ms: over(&|r| r.busy_cpu_ms),
        busy_pct: over(&|r| idle_pct(r.busy_cpu_ms, r.busy_ms)),
        cpu_secs: over(&|r| r.cpu_secs),
        idle_rss_mib: most_mib(|r| r.idle_rss_kib),
        idle_hwm_mib: most_mib(|r| r.idle_hwm_kib),
        end_rss_mib: most_mib(|r| r.end_rss_kib),
        end_hwm_mib: most_mib(|r| r.end_hwm_kib.max(r.idle_hwm_kib)),
        scrape_ms: Spread::of(
            &runs
                .iter()
                .flat_map(|r| r.scrape_ms.iter().copied())
                .collect::<Vec<_>>(),
        ),
        body_kib: over(&|r| r.body_bytes as f64 / 1024.0),
        body_lines: over(&|r| r.body_lines as f64),
        pickup_ms: Spread::of(&pickups.iter().flatten().copied().collect::<Vec<_>>()),
        pickups: pickups.len(),
        pickups_missed: pickups.iter().filter(|p| p.is_none()).count(),
        lost_records: sum(|e| e.lost_records),
        lost_records_metrics: (!runs.is_empty()).then(|| {
            runs.iter()
                .map(|r| r.lost_records_metrics.unwrap_or(0))
                .sum()
        }),
        calls_not_counted: sum(|e| e.calls_not_counted),
        bad_records: sum(|e| e.bad_records),
        s_counted_ok: (!runs.is_empty())
            .then(|| runs.iter().all(|r| r.s_counted == Some(r.s_made))),
        cgroup_listed: cg.iter().map(|c| c.listed).max(),
        cgroup_ok: (!cg.is_empty()).then(|| cg.iter().all(|c| !c.s_listed)),
        cgroup_idle_pct: Spread::of(&cg.iter().map(|c| c.idle.pct).collect::<Vec<_>>()),
        cgroup_hwm_mib: cg
            .iter()
            .map(|c| c.idle_hwm_kib.max(c.maxrss_kib))
            .max()
            .map(|k| k as f64 / 1024.0),
        runs: runs.clone(),
        cgroup_runs: cg.clone(),
    }
}

impl HostwideReport {
    /// The row of `config`.
    fn row(&self, config: HwConfig) -> Option<&HwRow> {
        self.rows.iter().find(|x| x.config == config)
    }
}

/// The host-wide budgets.
fn hostwide_targets(r: Option<&HostwideReport>) -> Vec<Target> {
    let cpu_added = |c: HwConfig| r.and_then(|r| r.row(c)).and_then(|x| x.cpu_added_ns);
    let traced = r
        .and_then(|r| r.listed.as_ref())
        .map_or_else(String::new, |l| format!(", {:.0} traced", l.max));
    let cgroup_broken = r.and_then(|r| r.cgroup_ok) == Some(false);
    vec![
        target(
            "hostwide: S added CPU, --all <= 1.10x --pid's",
            r.and_then(|r| r.all_x_pid_cpu)
                .zip(cpu_added(HwConfig::All).zip(cpu_added(HwConfig::GotracePid)))
                .map(|(x, (a, p))| (format!("{x:.2}x ({a:+.0} / {p:+.0} ns)"), x <= HW_ALL_X_PID)),
        ),
        target(
            "hostwide: not traced (--cgroup) = --pid other's",
            r.and_then(|r| r.not_traced_diff_ns.zip(r.noise_ns))
                .map(|(d, n)| {
                    let value = if cgroup_broken {
                        format!("{d:+.1} ns, but S was traced")
                    } else {
                        format!("{d:+.1} ns (noise {n:.1} ns)")
                    };
                    (value, d <= n && !cgroup_broken)
                }),
        ),
        target(
            "hostwide: gotrace VmHWM < 128 MiB",
            r.and_then(|r| match (r.end_hwm_mib, r.cgroup_hwm_mib) {
                (Some(a), Some(c)) => Some(a.max(c)),
                (a, c) => a.or(c),
            })
            .map(|m| (format!("max {m:.1} MiB{traced}"), m < HW_RSS_MIB)),
        ),
        target(
            "hostwide: GET /metrics < 50 ms",
            r.and_then(|r| r.scrape_ms.as_ref()).map(|s| {
                (
                    format!("max {:.1} ms (median {:.1})", s.max, s.median),
                    s.max < HW_SCRAPE_MS,
                )
            }),
        ),
        target(
            "hostwide: new Go process on /metrics <= 100 ms",
            r.filter(|r| r.pickups > 0).map(|r| match &r.pickup_ms {
                Some(p) if r.pickups_missed == 0 => (
                    format!("max {:.0} ms (median {:.0})", p.max, p.median),
                    p.max <= HW_PICKUP_MS,
                ),
                _ => (
                    format!("{} of {} not listed", r.pickups_missed, r.pickups),
                    false,
                ),
            }),
        ),
        target(
            "hostwide: zero lost records, --all",
            r.and_then(|r| r.lost_records)
                .map(|n| (n.to_string(), n == 0)),
        ),
        target(
            "hostwide: every getppid of S counted, --all",
            r.and_then(|r| r.s_counted_ok).map(|ok| {
                let value = if ok { "yes" } else { "no (see host-wide)" };
                (value.to_string(), ok)
            }),
        ),
    ]
}

fn gotrace_facts(obs: &Observations) -> GotraceFacts {
    let of = |roles: &[Role]| -> Vec<&GotraceRun> {
        obs.gotrace
            .iter()
            .filter(|(r, _)| roles.contains(r))
            .map(|(_, g)| g)
            .collect()
    };
    let mib = |runs: &[&GotraceRun]| {
        runs.iter()
            .map(|g| g.maxrss_kib)
            .max()
            .map(|k| k as f64 / 1024.0)
    };
    let traced = of(&[Role::Traced]);
    let default = of(&[Role::Traced, Role::Other]);
    GotraceFacts {
        runs_default: default.len(),
        lost_records_default: (!traced.is_empty())
            .then(|| traced.iter().map(|g| g.summary.lost_records).sum()),
        maxrss_mib_default: mib(&default),
        maxrss_mib_streaming: mib(&of(&[Role::Streaming])),
        attach_wall_ms: Spread::of(&default.iter().map(|g| g.attach.wall_ms).collect::<Vec<_>>()),
        attach_reported_ms: Spread::of(
            &default
                .iter()
                .map(|g| g.attach.reported_ms)
                .collect::<Vec<_>>(),
        ),
        attach_cpu_ms: Spread::of(
            &default
                .iter()
                .filter_map(|g| g.attach.cpu_ms)
                .collect::<Vec<_>>(),
        ),
        idle_pct: Spread::of(&obs.idle.iter().map(|i| i.pct).collect::<Vec<_>>()),
        idle_runs: obs.idle.clone(),
    }
}

/// A target: its value and whether it is met, or "not measured".
fn target(name: &'static str, measured: Option<(String, bool)>) -> Target {
    match measured {
        Some((value, pass)) => Target {
            name,
            value,
            pass: Some(pass),
        },
        None => Target {
            name,
            value: "not measured".into(),
            pass: None,
        },
    }
}

/// A target of the form "added cost <= k x a floor's", from the multiple and the two
/// added costs: not measurable when the floor's added cost is not above zero (noise).
fn x_floor_target(
    name: &'static str,
    x: Option<f64>,
    added: Option<f64>,
    floor_added: Option<f64>,
    limit: f64,
    unit: &str,
    extra: &str,
) -> Target {
    match (added, floor_added) {
        (Some(a), Some(f)) if f <= 0.0 => Target {
            name,
            value: format!("added {a:.1} {unit}, floor added {f:.1} {unit} (<= 0: noise)"),
            pass: None,
        },
        _ => target(
            name,
            x.map(|x| (format!("{x:.2}x floor{extra}"), x <= limit)),
        ),
    }
}

/// The targets: S against its sys-hooks floor, H per request against untraced and the
/// all-hooks floor, gotrace's own CPU (per request, idle, to attach), and its records
/// and memory.
fn targets(s: &[SRow], h: Option<&HReport>, g: &GotraceFacts) -> Vec<Target> {
    let srow = |c: SConfig| s.iter().find(|r| r.config == c);
    let s_added = |c: SConfig| srow(c).and_then(|r| r.added_ns);
    let other_x_untraced = srow(SConfig::GotraceOther)
        .and_then(|r| r.x_untraced)
        .map_or_else(String::new, |x| format!(" ({x:.2}x untraced)"));
    let hrow = |c: HConfig| h.and_then(|h| h.rows.iter().find(|r| r.config == c));
    let h_added = |c: HConfig| hrow(c).and_then(|r| r.added_us);
    let gotrace_h = hrow(HConfig::Gotrace);
    vec![
        x_floor_target(
            "S: gotrace added <= 1.7x sys-hooks floor's",
            srow(SConfig::Gotrace).and_then(|r| r.x_floor),
            s_added(SConfig::Gotrace),
            s_added(SConfig::Floor),
            1.7,
            "ns",
            "",
        ),
        x_floor_target(
            "S: not traced, added <= 1.15x sys-hooks floor's",
            srow(SConfig::GotraceOther).and_then(|r| r.x_floor),
            s_added(SConfig::GotraceOther),
            s_added(SConfig::Floor),
            1.15,
            "ns",
            &other_x_untraced,
        ),
        target(
            "H: server CPU/request <= 1.05x untraced",
            gotrace_h
                .and_then(|r| r.x_untraced)
                .map(|x| (format!("{x:.3}x"), x <= 1.05)),
        ),
        x_floor_target(
            "H: gotrace added <= 1.5x all-hooks floor's",
            h.and_then(|h| h.x_floors.all),
            h_added(HConfig::Gotrace),
            h_added(HConfig::FloorAll),
            1.5,
            "µs",
            "",
        ),
        target(
            "H: gotrace's own CPU <= 2 µs per request",
            gotrace_h
                .and_then(|r| r.gotrace_cpu_us.as_ref())
                .map(|c| (format!("{:.2} µs", c.median), c.median <= 2.0)),
        ),
        target(
            "gotrace idle <= 0.5% of a CPU",
            g.idle_pct
                .as_ref()
                .map(|i| (format!("{:.3}%", i.median), i.median <= 0.5)),
        ),
        target(
            "attach CPU < 0.3 s",
            g.attach_cpu_ms
                .as_ref()
                .map(|a| (format!("max {:.0} ms", a.max), a.max < 300.0)),
        ),
        target(
            "zero lost records, S and H, default settings",
            g.lost_records_default.map(|n| (n.to_string(), n == 0)),
        ),
        target(
            "gotrace peak RSS <= 64 MiB",
            g.maxrss_mib_default
                .map(|m| (format!("{m:.1} MiB"), m <= 64.0)),
        ),
        target(
            "attached within 1 s",
            g.attach_wall_ms
                .as_ref()
                .map(|a| (format!("max {:.0} ms", a.max), a.max <= 1000.0)),
        ),
    ]
}

/// The slow-call part's check: its figures are about what they say.
fn slow_target(r: Option<&SlowReport>) -> Target {
    target(
        "slow calls: all sleeps streamed, stacks, 0 lost",
        r.and_then(|r| r.complete).map(|ok| {
            let value = if ok {
                "yes"
            } else {
                "no (see the slow-call lines)"
            };
            (value.to_string(), ok)
        }),
    )
}

/// The symbol-table budgets, on the go command of setup's Go.
const SYMBOLS_LOAD_MS: f64 = 150.0;
const SYMBOLS_RSS_MIB: f64 = 20.0;

fn symbols_targets(rows: &[SymbolsRow]) -> Vec<Target> {
    let row = rows.iter().find(|r| r.binary.primary);
    vec![
        target(
            "go binary's symbols load in < 150 ms",
            row.and_then(|r| r.load_ms.as_ref())
                .map(|l| (format!("max {:.1} ms", l.max), l.max < SYMBOLS_LOAD_MS)),
        ),
        target(
            "go binary's symbols add < 20 MiB RSS",
            row.and_then(|r| r.rss_delta_mib.as_ref().zip(r.peak_rss_delta_mib.as_ref()))
                .map(|(rss, peak)| {
                    (
                        format!("max {:.1} MiB (peak {:.1})", rss.max, peak.max),
                        rss.max < SYMBOLS_RSS_MIB && peak.max < SYMBOLS_RSS_MIB,
                    )
                }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

/// "median [min .. max]" with `digits` decimals.
fn fmt_spread(s: &Spread, digits: usize) -> String {
    format!(
        "{:.digits$} [{:.digits$} .. {:.digits$}]",
        s.median, s.min, s.max
    )
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn render(r: &Report) -> String {
    let mut o = String::new();
    let m = &r.machine;
    let _ = writeln!(
        o,
        "gotrace bench · {} · kernel {} · {} · {} CPUs · {} rep{} (median [min .. max])",
        m.date,
        m.kernel,
        m.cpu,
        m.nproc,
        r.plan.reps,
        if r.plan.reps == 1 { "" } else { "s" }
    );
    if r.plan.wants(Part::S) || r.plan.wants(Part::H) {
        let _ = writeln!(
            o,
            "\nfloors: empty raw_tp programs (bench-floor) on sys_enter + sys_exit (sys hooks), or on every hook gotrace attaches here (all hooks: {}); \"+ clock\": one bpf_ktime_get_ns per hook",
            r.floor_hooks
                .as_ref()
                .map_or_else(|| "not run".to_string(), |h| h.join(" "))
        );
    }
    if !r.s.is_empty() {
        render_s(&mut o, r);
    }
    if let Some(h) = &r.h {
        render_h(&mut o, &r.plan, h);
    }
    if [Part::S, Part::H, Part::Stream]
        .iter()
        .any(|&p| r.plan.wants(p))
    {
        render_gotrace(&mut o, r);
    }
    if let Some(s) = &r.stream {
        render_stream(&mut o, s);
    }
    if let Some(s) = &r.slow {
        render_slow(&mut o, s);
    }
    if !r.symbols.is_empty() || !r.symbols_notes.is_empty() {
        render_symbols(&mut o, r);
    }
    if let Some(h) = &r.hostwide {
        render_hostwide(&mut o, &r.plan, h);
    }
    render_disturbance(&mut o, &r.disturbance);
    let _ = writeln!(o, "\n{:<52} {:<28} met?", "targets", "value");
    for t in &r.targets {
        let verdict = match t.pass {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "n/a",
        };
        let _ = writeln!(o, "  {:<50} {:<28} {verdict}", t.name, t.value);
    }
    o.lines().map(|l| l.trim_end().to_string() + "\n").collect()
}

fn render_disturbance(o: &mut String, d: &Disturbance) {
    if !d.tracing_checked {
        let _ = writeln!(
            o,
            "\nnote: bpftool is missing: others' eBPF tracing programs could not be seen"
        );
    }
    if d.disturbed == 0 {
        let _ = writeln!(
            o,
            "\nno run was disturbed (others' eBPF tracing attached, or others using more than {:.0}% of the CPUs)",
            OTHERS_CPU_LIMIT * 100.0
        );
        return;
    }
    let _ = writeln!(
        o,
        "\nwarning: {} of {} runs were disturbed: others' eBPF tracing programs were attached \
         when they started (every process's syscalls pay for them), or others used more than \
         {:.0}% of the CPUs; their figures are less reliable:",
        d.disturbed,
        d.runs,
        OTHERS_CPU_LIMIT * 100.0
    );
    for c in d.by_config.iter().filter(|c| c.count.disturbed > 0) {
        let _ = writeln!(
            o,
            "  {:?} {}: {} of {} (others' CPU up to {:.0}%)",
            c.part, c.config, c.count.disturbed, c.count.runs, c.count.max_others_cpu_pct
        );
    }
}

fn render_s(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "\nworkload S: {} goroutines x N getppid (RawSyscall); the workload's own ns per syscall",
        r.plan.goroutines
    );
    let _ = writeln!(
        o,
        "  {:<34} {:>9}  {:<30} {:>10} {:>9} {:>8}",
        "config", "N", "ns/syscall", "x untraced", "added ns", "x floor"
    );
    for row in &r.s {
        let value = match (&row.ns_per_syscall, &row.note) {
            (Some(s), _) => fmt_spread(s, 1),
            (None, Some(n)) => n.clone(),
            (None, None) => "not measured".into(),
        };
        let _ = writeln!(
            o,
            "  {:<34} {:>9}  {:<30} {:>10} {:>9} {:>8}",
            row.label,
            fmt_count(row.calls_per_goroutine),
            value,
            fmt_opt(row.x_untraced, |x| format!("{x:.2}")),
            fmt_opt(row.added_ns, |a| format!("{a:+.1}")),
            fmt_opt(row.x_floor, |x| format!("{x:.2}")),
        );
        if let (Some(_), Some(n)) = (&row.ns_per_syscall, &row.note) {
            let _ = writeln!(o, "      note: {n}");
        }
    }
    let added = |c: SConfig| r.s.iter().find(|x| x.config == c).and_then(|x| x.added_ns);
    if let (Some(f), Some(fc), Some(g)) = (
        added(SConfig::Floor),
        added(SConfig::FloorClock),
        added(SConfig::Gotrace),
    ) {
        let _ = writeln!(
            o,
            "  the two clock reads a timing tracer needs per call add {:+.1} ns to the floor; gotrace adds {:+.1} ns beyond the floor + clock",
            fc - f,
            g - fc
        );
    }
    let multiples: Vec<&SRow> =
        r.s.iter()
            .filter(|row| row.compares_with_floors() && !row.x_floors.is_empty())
            .collect();
    if !multiples.is_empty() {
        let _ = writeln!(
            o,
            "  {:<40} {:>9} {:>11} {:>9} {:>11}",
            "added ns as a multiple of each floor's:",
            "sys hooks",
            "sys + clock",
            "all hooks",
            "all + clock"
        );
        let x = |v: Option<f64>| fmt_opt(v, |x| format!("{x:.2}x"));
        for row in multiples {
            let m = &row.x_floors;
            let _ = writeln!(
                o,
                "    {:<38} {:>9} {:>11} {:>9} {:>11}",
                row.label,
                x(m.sys),
                x(m.sys_clock),
                x(m.all),
                x(m.all_clock)
            );
        }
    }
}

fn render_h(o: &mut String, p: &Plan, h: &HReport) {
    let _ = writeln!(
        o,
        "\nworkload H: net/http on loopback, {} keep-alive connections paced to {} requests/s in all from an untraced client; per run a fresh server, warmed by a {:.1} s client run, then one {:.1} s client run measured; CPU per request served; {} rep{}",
        p.http_conns,
        fmt_count(p.http_rate as u64),
        p.http_warmup_secs,
        p.http_secs,
        h.reps,
        if h.reps == 1 { "" } else { "s" }
    );
    let spread = |v: &Option<Spread>, digits| {
        v.as_ref()
            .map_or_else(|| "-".into(), |s| fmt_spread(s, digits))
    };
    let _ = writeln!(
        o,
        "  {:<34} {:<26} {:>10} {:>9}  {:<24}",
        "config", "server CPU µs/request", "x untraced", "added µs", "gotrace CPU µs/request"
    );
    for row in &h.rows {
        let value = match (&row.server_cpu_us, &row.note) {
            (Some(s), _) => fmt_spread(s, 2),
            (None, Some(n)) => n.clone(),
            (None, None) => "not measured".into(),
        };
        let _ = writeln!(
            o,
            "  {:<34} {:<26} {:>10} {:>9}  {:<24}",
            row.label,
            value,
            fmt_opt(row.x_untraced, |x| format!("{x:.3}")),
            fmt_opt(row.added_us, |a| format!("{a:+.2}")),
            spread(&row.gotrace_cpu_us, 2),
        );
        if let (Some(_), Some(n)) = (&row.server_cpu_us, &row.note) {
            let _ = writeln!(o, "      note: {n}");
        }
    }
    let _ = writeln!(
        o,
        "  {:<34} {:<26} {:<22} {:<24} {:>6}",
        "for reference", "req/s", "p99 µs", "client CPU µs/request", "errors"
    );
    for row in h.rows.iter().filter(|r| !r.runs.is_empty()) {
        let _ = writeln!(
            o,
            "  {:<34} {:<26} {:<22} {:<24} {:>6}",
            row.label,
            spread(&row.rps, 0),
            spread(&row.p99_us, 0),
            spread(&row.client_cpu_us, 2),
            row.errors,
        );
    }
    let x = |v: Option<f64>| fmt_opt(v, |x| format!("{x:.2}x"));
    let _ = writeln!(
        o,
        "  gotrace's added server CPU per request as a multiple of each floor's: {} sys hooks, {} all hooks, {} all hooks + clock",
        x(h.x_floors.sys),
        x(h.x_floors.all),
        x(h.x_floors.all_clock)
    );
    if let Some(b) = &h.programs {
        render_programs(o, b);
    }
}

/// Where the added ns per unit go: gotrace's programs under bpf_stats.
fn render_programs(o: &mut String, b: &ProgramBreakdown) {
    let unit = b.unit;
    let _ = writeln!(
        o,
        "  where the added ns per {unit} go: gotrace's programs under bpf_stats ({} run{}, {} {unit}s; a program runs for every process, a non-target leaving early):",
        b.runs,
        if b.runs == 1 { "" } else { "s" },
        fmt_count(b.units)
    );
    let short = if unit == "request" { "req" } else { unit };
    let _ = writeln!(
        o,
        "    {:<24} {:<20} {:>9} {:>9} {:>9}",
        "program",
        "hooks",
        format!("runs/{short}"),
        "ns/run",
        format!("ns/{short}")
    );
    for p in &b.programs {
        let _ = writeln!(
            o,
            "    {:<24} {:<20} {:>9.2} {:>9.1} {:>9.1}",
            p.program, p.hooks, p.runs_per_unit, p.ns_per_run, p.ns_per_unit
        );
    }
    let _ = writeln!(
        o,
        "    {:<24} {:<20} {:>9} {:>9} {:>9.1}",
        "all programs", "", "", "", b.total_ns_per_unit
    );
    let ns = |v: Option<f64>| fmt_opt(v, |n| format!("{n:+.0} ns"));
    let client = b
        .added_client_ns
        .map(|c| format!(", client {}", ns(Some(c))))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "    gotrace's added CPU per {unit}: {} {} (with bpf_stats on: {}){client}; {} minus all programs: {} (hook dispatch, cache effects; the programs' time includes other processes' early exits)",
        b.traced,
        ns(b.added_ns),
        ns(b.added_ns_stats),
        b.traced,
        ns(b.added_ns.map(|a| a - b.total_ns_per_unit)),
    );
}

fn render_gotrace(o: &mut String, r: &Report) {
    let g = &r.gotrace;
    let _ = writeln!(
        o,
        "\ngotrace itself ({} runs at default settings)",
        g.runs_default
    );
    let _ = writeln!(
        o,
        "  lost records (S, H):          {}",
        g.lost_records_default
            .map_or_else(|| "-".into(), |n| n.to_string())
    );
    let _ = writeln!(
        o,
        "  peak RSS:                     {} (streaming with --slow 0: {})",
        fmt_opt(g.maxrss_mib_default, |m| format!("{m:.1} MiB")),
        fmt_opt(g.maxrss_mib_streaming, |m| format!("{m:.1} MiB"))
    );
    let ms = |s: &Option<Spread>| s.as_ref().map_or_else(|| "-".into(), |s| fmt_spread(s, 0));
    let _ = writeln!(
        o,
        "  spawn to \"tracing pid\" line:  {} ms",
        ms(&g.attach_wall_ms)
    );
    let _ = writeln!(
        o,
        "  \"attached in M ms\":           {} ms",
        ms(&g.attach_reported_ms)
    );
    let _ = writeln!(
        o,
        "  CPU to attach (at that line): {} ms",
        ms(&g.attach_cpu_ms)
    );
    if r.plan.wants(Part::H) {
        let _ = writeln!(
            o,
            "  idle (--pid of a sleep):      {} % of a CPU ({:.1} s each)",
            g.idle_pct
                .as_ref()
                .map_or_else(|| "-".into(), |s| fmt_spread(s, 3)),
            r.plan.idle_secs
        );
    }
}

fn render_stream(o: &mut String, s: &Stream) {
    let _ = writeln!(
        o,
        "\nstreaming every syscall (--slow 0 --json FILE, default ring buffer), paced S, {:.1} s per step",
        s.secs_per_step
    );
    let _ = writeln!(
        o,
        "  {:>12} {:>12} {:>14} {:>12} {:>12} {:>6}",
        "asked", "workload", "records", "records/s", "lost", "tries"
    );
    for st in &s.steps {
        let _ = writeln!(
            o,
            "  {:>12} {:>12} {:>14} {:>12} {:>12} {:>6}",
            fmt_rate(st.target_rate),
            fmt_rate(st.workload_rate),
            fmt_count(st.records),
            fmt_rate(st.records_per_s),
            fmt_count(st.lost_records),
            st.attempts
        );
    }
    let _ = writeln!(
        o,
        "  highest rate with zero loss: {}; {}",
        fmt_opt(s.best_zero_loss_per_s, |r| format!(
            "{} records",
            fmt_rate(r)
        )),
        match &s.loss_began {
            Some(l) => format!(
                "loss began at {} asked ({} records/s, {} lost, in both tries)",
                fmt_rate(l.target_rate),
                fmt_rate(l.records_per_s),
                fmt_count(l.lost_records)
            ),
            None => format!("no loss seen: {}", s.stopped),
        }
    );
}

fn render_slow(o: &mut String, s: &SlowReport) {
    let _ = writeln!(
        o,
        "\nslow calls: 1 goroutine x {} nanosleep of {} ms, gotrace --pid --slow {} (every sleep streamed); CPU time per call",
        fmt_count(s.sleeps),
        s.sleep_ms,
        s.threshold
    );
    let _ = writeln!(
        o,
        "  {:<34} {:<28} {:>9}  {:<24} {:<24}",
        "config", "workload µs/sleep", "added µs", "wall µs/sleep", "gotrace µs/streamed"
    );
    let spread = |v: &Option<Spread>, digits| {
        v.as_ref()
            .map_or_else(|| "-".into(), |s| fmt_spread(s, digits))
    };
    let count = |n: Option<u64>| n.map_or_else(|| "-".into(), fmt_count);
    for row in &s.rows {
        let _ = writeln!(
            o,
            "  {:<34} {:<28} {:>9}  {:<24} {:<24}",
            row.label,
            spread(&row.workload_cpu_us, 2),
            fmt_opt(row.added_us, |a| format!("{a:+.2}")),
            spread(&row.wall_us, 0),
            spread(&row.gotrace_us_per_call, 2),
        );
    }
    for row in &s.rows {
        let Some(stacks) = row.config.streams() else {
            continue;
        };
        let check = match row.incomplete_runs {
            Some(0) => "ok in every run".to_string(),
            Some(n) => format!("FAILED in {n} run(s)"),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "  {}: {} calls streamed per run, {} lost, peak RSS {}; added per streamed call {} µs",
            row.label,
            spread(&row.streamed, 0),
            count(row.lost_records),
            fmt_opt(row.maxrss_mib, |m| format!("{m:.1} MiB")),
            fmt_opt(row.added_us_per_streamed, |a| format!("{a:+.2}")),
        );
        let _ = writeln!(
            o,
            "      check: each sleep streamed (>= {} lines a run; a signal cut <= {} short), {}: {check}",
            count(row.min_sleeps_streamed),
            count(row.max_sleeps_interrupted),
            if stacks {
                "each with its stack"
            } else {
                "none with a stack"
            },
        );
    }
    if let (Some(h), Some(st), Some(k)) = (s.hooks_us, s.streaming_us, s.stack_workload_us) {
        let _ = writeln!(
            o,
            "  in the workload, per sleep: {h:+.2} µs traced but not streamed, {st:+.2} µs more to stream it without its stack, {k:+.2} µs more for the stack"
        );
    }
    if let Some(g) = s.stack_gotrace_us {
        let _ = writeln!(
            o,
            "  in gotrace, the stack adds {g:+.2} µs per streamed call (stacks minus --no-stacks)"
        );
    }
    if !s.x_floors.is_empty() {
        let x = |m: Option<f64>| fmt_opt(m, |m| format!("{m:.2}x"));
        let _ = writeln!(
            o,
            "  traced but not streamed, as a multiple of each floor's added CPU per sleep (each sleep a blocked call through every scheduler hook): {} all hooks, {} all hooks + clock",
            x(s.x_floors.all),
            x(s.x_floors.all_clock)
        );
    }
    if let Some(b) = &s.programs {
        render_programs(o, b);
    }
}

fn render_symbols(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "\nsymbols: Symbols::load of a go command binary, one load per fresh process (bench-symbols); budget < {SYMBOLS_LOAD_MS:.0} ms, < {SYMBOLS_RSS_MIB:.0} MiB RSS"
    );
    let _ = writeln!(
        o,
        "  {:<34} {:>9} {:>10} {:>9}  {:<20} {:<20} {:>9} {:>12}",
        "binary",
        "file MiB",
        "functions",
        "held MiB",
        "load ms",
        "RSS added MiB",
        "peak MiB",
        "ns/lookup"
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for row in &r.symbols {
        let b = &row.binary;
        let _ = writeln!(
            o,
            "  {:<34} {:>9.1} {:>10} {:>9.1}  {:<20} {:<20} {:>9} {:>12}",
            format!("{} {}", b.go_version, b.label),
            mib(b.file_bytes),
            fmt_count(row.functions),
            mib(row.pclntab_bytes + row.funcdata_bytes),
            row.load_ms
                .as_ref()
                .map_or_else(|| "-".into(), |s| fmt_spread(s, 1)),
            row.rss_delta_mib
                .as_ref()
                .map_or_else(|| "-".into(), |s| fmt_spread(s, 1)),
            fmt_opt(row.peak_rss_delta_mib.as_ref().map(|s| s.max), |m| format!(
                "{m:.1}"
            )),
            match (row.lookup_entry_ns, row.lookup_mid_ns) {
                (Some(e), Some(m)) => format!("{e:.0} / {m:.0}"),
                _ => "-".into(),
            },
        );
    }
    if !r.symbols.is_empty() {
        let _ = writeln!(
            o,
            "  held: .gopclntab (+ the funcdata blob before Go 1.26); peak: the most RSS added during a load; ns/lookup: Symbols::frames at each function's entry / middle"
        );
    }
    for n in &r.symbols_notes {
        let _ = writeln!(o, "  note: {n}");
    }
}

fn render_hostwide(o: &mut String, p: &Plan, r: &HostwideReport) {
    let idle = r.idle.as_ref();
    let _ = writeln!(
        o,
        "\nhost-wide (gotrace --all): {} idle Go processes (bench_syscalls -wait-stdin, {}) beside workload S ({} goroutines x {} getppid, started waiting and released once traced); {} rep{}",
        idle.map_or(0, |i| i.started),
        idle.map_or_else(
            || "-".into(),
            |i| format!(
                "{} KiB RSS each, {:.0} MiB in all, {}",
                i.rss_kib_each,
                i.rss_mib_all,
                i.cgroup.as_ref().map_or_else(
                    || "no cgroup".to_string(),
                    |c| format!("in cgroup {}", c.display())
                )
            )
        ),
        p.goroutines,
        fmt_count(r.calls_per_goroutine),
        r.reps,
        if r.reps == 1 { "" } else { "s" }
    );
    if let Some(f) = idle.and_then(|i| i.fewer.as_ref()) {
        let _ = writeln!(o, "  note: fewer idle processes than asked: {f}");
    }
    let _ = writeln!(
        o,
        "  {:<36} {:<30} {:>10} {:>9}   {:<30} {:>9}",
        "config", "ns/syscall", "x untraced", "added ns", "CPU ns/syscall", "added"
    );
    for row in &r.rows {
        let value = match (&row.ns_per_syscall, &row.note) {
            (Some(s), _) => fmt_spread(s, 1),
            (None, Some(n)) => n.clone(),
            (None, None) => "not measured".into(),
        };
        let _ = writeln!(
            o,
            "  {:<36} {:<30} {:>10} {:>9}   {:<30} {:>9}",
            row.label,
            value,
            fmt_opt(row.x_untraced, |x| format!("{x:.2}")),
            fmt_opt(row.added_ns, |a| format!("{a:+.1}")),
            row.cpu_ns_per_syscall
                .as_ref()
                .map_or_else(|| "-".into(), |s| fmt_spread(s, 1)),
            fmt_opt(row.cpu_added_ns, |a| format!("{a:+.1}")),
        );
        if let (Some(_), Some(n)) = (&row.ns_per_syscall, &row.note) {
            let _ = writeln!(o, "      note: {n}");
        }
    }
    let added = |c: HwConfig| r.row(c).and_then(|x| x.added_ns);
    let cpu_added = |c: HwConfig| r.row(c).and_then(|x| x.cpu_added_ns);
    let ns = |v: Option<f64>| fmt_opt(v, |n| format!("{n:+.1} ns"));
    let _ = writeln!(
        o,
        "  traced: S's added CPU ns per call under --all {} against under --pid {}: {} (budget <= {HW_ALL_X_PID:.2}x); in wall time {} against {}: {}",
        ns(cpu_added(HwConfig::All)),
        ns(cpu_added(HwConfig::GotracePid)),
        fmt_opt(r.all_x_pid_cpu, |x| format!("{x:.2}x")),
        ns(added(HwConfig::All)),
        ns(added(HwConfig::GotracePid)),
        fmt_opt(r.all_x_pid, |x| format!("{x:.2}x")),
    );
    let _ = writeln!(
        o,
        "  not traced: S's added ns under --all --cgroup {} against beside --pid of another {}: {} (budget: within noise, {}: the larger range of the two, at least {:.0}% of untraced)",
        ns(added(HwConfig::AllCgroup)),
        ns(added(HwConfig::GotraceOther)),
        ns(r.not_traced_diff_ns),
        fmt_opt(r.noise_ns, |n| format!("{n:.1} ns")),
        HW_NOISE_SHARE * 100.0,
    );
    let spread = |v: &Option<Spread>, digits| {
        v.as_ref()
            .map_or_else(|| "-".into(), |s| fmt_spread(s, digits))
    };
    let mib = |v: Option<f64>| fmt_opt(v, |m| format!("{m:.1} MiB"));
    let _ = writeln!(
        o,
        "  gotrace --all ({} run{}; median [min .. max], RSS the most):",
        r.runs.len(),
        if r.runs.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        o,
        "    attach: banner {} ms after spawn (\"attached in\" {} ms, CPU {} ms), {} Go processes at the banner; every idle one on /metrics {} ms after it",
        spread(&r.attach_wall_ms, 0),
        spread(&r.attach_reported_ms, 0),
        spread(&r.attach_cpu_ms, 0),
        spread(&r.at_banner, 0),
        spread(&r.all_listed_ms, 0),
    );
    let _ = writeln!(
        o,
        "    CPU: idle {} % of a CPU ({:.1} s, {} processes listed); while S ran {} ms ({} % of a CPU); whole run (utime + stime) {} s",
        spread(&r.idle_pct, 3),
        p.idle_secs,
        spread(&r.listed, 0),
        spread(&r.busy_cpu_ms, 1),
        spread(&r.busy_pct, 1),
        spread(&r.cpu_secs, 2),
    );
    let _ = writeln!(
        o,
        "    RSS: after the idle window and the GETs VmRSS {}, VmHWM {}; at the end VmRSS {}, VmHWM {} (budget < {HW_RSS_MIB:.0} MiB)",
        mib(r.idle_rss_mib),
        mib(r.idle_hwm_mib),
        mib(r.end_rss_mib),
        mib(r.end_hwm_mib),
    );
    let _ = writeln!(
        o,
        "    GET /metrics (HTTP/1.0, a new connection each, {} per run): {} ms (budget < {HW_SCRAPE_MS:.0} ms); body {} KiB, {} lines",
        p.hw_scrapes,
        spread(&r.scrape_ms, 1),
        spread(&r.body_kib, 0),
        spread(&r.body_lines, 0),
    );
    let _ = writeln!(
        o,
        "    a new Go process on /metrics (from its spawn to a GET listing it, every {} ms): {} ms over {} (S and {} short-lived ones per run), {} not listed within {:?} (budget <= {HW_PICKUP_MS:.0} ms)",
        HW_POLL.as_millis(),
        spread(&r.pickup_ms, 0),
        r.pickups,
        p.hw_pickups,
        r.pickups_missed,
        HW_PICKUP_TIMEOUT,
    );
    let count = |n: Option<u64>| n.map_or_else(|| "-".into(), fmt_count);
    let _ = writeln!(
        o,
        "    lost records: {} (end-of-trace lines of --all and --all --cgroup; /metrics at the end of --all: {}); calls not counted (per-process table full): {}; undecodable records: {}",
        count(r.lost_records),
        count(r.lost_records_metrics),
        count(r.calls_not_counted),
        count(r.bad_records),
    );
    let counted: Vec<String> = r
        .runs
        .iter()
        .map(|a| {
            format!(
                "{} of {}",
                a.s_counted.map_or_else(|| "none".into(), fmt_count),
                fmt_count(a.s_made)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "    S's getppid calls counted (end-of-trace line): {}",
        if counted.is_empty() {
            "-".into()
        } else {
            counted.join(", ")
        }
    );
    if !r.cgroup_runs.is_empty() {
        let s_listed = r.cgroup_runs.iter().filter(|c| c.s_listed).count();
        let _ = writeln!(
            o,
            "  gotrace --all --cgroup ({} run{}): at most {} processes listed (the idle ones only); idle {} % of a CPU ({:.1} s); VmHWM {}; S listed in {} of them",
            r.cgroup_runs.len(),
            if r.cgroup_runs.len() == 1 { "" } else { "s" },
            count(r.cgroup_listed),
            spread(&r.cgroup_idle_pct, 3),
            p.idle_secs,
            mib(r.cgroup_hwm_mib),
            s_listed,
        );
    }
}

fn render_doc(r: &Report, table: &str) -> String {
    let m = &r.machine;
    let p = &r.plan;
    let peers: Vec<String> = m.peers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!(
        r#"# Benchmarks

Written by `cargo xtask bench` ({date}); every full run rewrites this file. The same
numbers, with every repetition's value, are in `target/bench/bench.json`.

## Machine

- kernel {kernel}, CPU {cpu}, {nproc} CPUs (nproc), {mem:.1} GiB
- gotrace at {commit}
- peers: {peers}

## Results

```text
{table}```

## What is measured

Everything runs in one go on one machine: each repetition runs every configuration once,
in an order rotated from one repetition to the next, and the table shows the median with
the range (min .. max) over {reps} repetitions ({h_reps} for workload H: it runs at least
{h_min} but with `--quick`). Nothing is pinned to a CPU. The machine has {nproc} CPUs, so
anything else running at the same time (another build, another test run) shows up as
spread.

- **The floors** (the limit): what any tracer on the same hooks pays, held attached by
  the `bench-floor` helper (`tracer::probe::Floor`) while the workload runs untraced.
  **sys hooks**: empty raw_tp programs on `sys_enter` and `sys_exit`; **all hooks**: the
  same empty program also attached to every other raw tracepoint gotrace attaches on
  this kernel (as `tracer::probe::kernel::plan` chooses them: `sched_switch`,
  `sched_wakeup`, `sched_wakeup_new`, `sched_process_fork`/`exec`/`exit`,
  `signal_generate`/`deliver`, and io_uring's where gotrace uses them; the `floors:` line
  above the tables lists them); **+ clock**: each program calls `bpf_ktime_get_ns` once,
  the least a tracer that times calls does. gotrace's added cost (against untraced,
  medians) is reported as a multiple of each floor's added cost.
- **Workload S** (`tests/workloads/bench_syscalls`): {g} goroutines each issue N `getppid`
  calls with `syscall.RawSyscall` and time their own loop; the workload prints its ns per
  syscall (per goroutine: loop wall time / calls, averaged over goroutines). Configurations:
  untraced; **gotrace** (`gotrace --no-tui --json FILE -- S`, summary mode at default
  settings); the four floors (sys hooks, sys hooks + clock, all hooks, all hooks +
  clock); **untraced while gotrace traces another process**
  (`gotrace --pid` on a sleeping `sleep`, attached before S starts); **bpftrace** with
  the same aggregation as gotrace's summary (per-syscall count and latency histogram for
  the target pid, `bpftrace -e '...' -c S`); **`perf trace -s -- S`**; **`strace -f -c
  -- S`**. perf trace and strace run S with N = {peer_n} per goroutine instead of
  {n}, as they are orders of magnitude slower; the workload reports ns per call, so their
  figures compare directly with the others without any scaling.
- **added ns** is the configuration's median minus the untraced median; **x floor** is
  that divided by the sys-hooks floor's added ns, and the lines under the table divide
  it by each floor's. The floor is not small: any program on the `sys_enter`/`sys_exit`
  tracepoints sends every syscall of every process through the kernel's slow syscall
  path, whatever the program does.
- **Workload H** (`tests/workloads/bench_http`): a net/http server on 127.0.0.1 answering
  a small JSON document, loaded by a client process (the same binary, `-mode client`,
  never traced) with {conns} concurrent keep-alive connections paced to {rate} requests
  per second in all (an open loop: each connection sends on its own schedule, at once
  when it is behind it). A fixed load, the same in every configuration: a closed loop
  would send more to a faster server, and a server with a fuller queue answers more
  requests per wake-up, which hides part of a tracer's per-wake-up cost. Each run starts a fresh server, attaches the floor or gotrace
  (`--pid`) to it, warms it with one {hw} s client run, then measures one {hs} s client
  run (both with `-warmup 0`). **server CPU µs/request** is the server's CPU time over
  the measured run (the sum of its threads' `/proc/PID/task/*/schedstat`, ns, read
  before the client starts and {quiet_ms} ms after it ends, once the server has closed
  its connections) divided by the requests the client reports; the eBPF programs run
  in the threads that hit the hooks, so the cost of those hit in the server is in it.
  **gotrace CPU µs/request** is gotrace's own CPU time (its threads' schedstat) over
  the same window, per request. Configurations: untraced, the sys-hooks floor, the
  all-hooks floor with and without the clock read, gotrace `--pid` at default
  settings, and gotrace `--pid` with **bpf_stats** on, which is only there to say where
  the added ns per request go: `bpf_stats` times every program run (two clock reads
  each), which would bias the CPU figures of the run it is on, so the targets use the
  run without it. requests/s, p99 latency and the client's CPU per request (`wait4`,
  its whole run) are for reference: on a {nproc}-CPU machine throughput moves by ±15%
  from run to run, CPU per request much less.
- **Where the added ns go**: in the bpf_stats runs, bpf_stats is turned on
  (`BPF_ENABLE_STATS`, on while the bench holds its file descriptor; else the
  `kernel.bpf_stats_enabled` sysctl, set back afterwards) just before the measured client
  run, and `bpftool -j prog show` is read just before and after it. gotrace's programs are
  those named as gotrace's, loaded after gotrace started and held by it (the programs
  its file descriptors refer to, `/proc/PID/fdinfo`, and bpftool's `pids` where it lists
  them); each is labelled with the raw tracepoint it is attached to (`bpftool -j link
  show`). Per program: runs per request, ns per run, ns per request, summed over the
  bpf_stats runs. A program runs for every process that hits its hook (a non-target's
  syscalls and switches leave early), so their total includes the client's and others'
  share; the server's added CPU minus it is what the hooks' dispatch and cache effects
  cost.
- **gotrace itself**: lost records are read from the `--json` summary line of every run
  tracing S or H at default settings; peak RSS is `ru_maxrss` from `wait4` on gotrace
  (for a launch this is the larger of gotrace and the workload it reaped, which is a few
  MiB); attach time is the wall time from spawning gotrace to its `tracing pid` line,
  next to the `attached in M ms` it reports; **CPU to attach** is gotrace's CPU time when
  that line arrives (the larger of its threads' schedstat and `/proc/PID/stat`'s utime +
  stime, which counts threads that ended): parsing the kernel's BTF, loading the
  programs through the verifier, attaching. **idle** is gotrace attached with `--pid` to
  a sleeping `sleep`: its CPU time over {idle} s, from {idle_settle_ms} ms after its
  `tracing pid` line, as a share of one CPU; once per H repetition.
- **Targets** (the table's last lines; met, NOT MET, or n/a when not measured or when
  the floor's added cost is lost in noise): on S, gotrace's added ns ≤ 1.7x the
  sys-hooks floor's, and a process gotrace does not trace (gotrace tracing another)
  ≤ 1.15x it; on H, the server's CPU per request ≤ 1.05x untraced, gotrace's added CPU
  per request ≤ 1.5x the all-hooks floor's, and gotrace's own CPU ≤ 2 µs per request
  (medians); idle ≤ 0.5% of a CPU (median); CPU to attach < 0.3 s (every run); and
  zero lost records, peak RSS ≤ 64 MiB, attached within 1 s.
- **Streaming**: paced S (`-rate`) under `gotrace --slow 0 --json FILE -- S`, so every
  syscall goes through the ring buffer and into the NDJSON file, at rates doubling from
  {start} for {ss} s each, until a rate loses records or the workload cannot reach the
  rate asked. A rate that loses records is run once more (one loss can be a moment of
  contention); the sweep stops when both tries lost. records/s is the summary's
  `slow_calls / duration_ns`.
- **Slow calls**: workload S with `-goroutines 1 -n {slow_n_arg} -sleep {slow_ms}ms`: one
  goroutine calls `syscall.Nanosleep` for {slow_ms} ms, {slow_n} times. Traced, every sleep
  is a slow call that gotrace streams (`--slow {slow_threshold}`): its goroutine id read
  in the kernel, its user stack taken by `bpf_get_stack` in the `sys_exit` program,
  then symbolized from the binary's `.gopclntab` and written as an NDJSON line.
  Configurations: untraced; H's two all-hooks floors (each sleep, and each of the
  runtime's waits around it, is a blocked call that passes every scheduler hook: the
  floors bound what any tracer of those hooks costs per blocked call); gotrace attached
  with `--pid` and **`--slow {no_slow}`**, so that nothing is streamed (the cost of being
  traced at all), and the same with bpf_stats on (where that cost goes, per program and
  per sleep, as for H); **gotrace `--no-stacks`**
  (goroutine ids still read); **gotrace** with stacks (the default). The bench starts
  the workload with `-wait-stdin`, attaches gotrace, then closes the workload's standard
  input to start the sleeps; untraced runs start the same way. **workload µs/sleep** is
  the workload's CPU time (user + system) from that start to its exit (`wait4`'s rusage
  at the end minus its threads' `/proc/PID/task/*/schedstat` at the start), per sleep:
  the eBPF programs run in the workload's threads, so their cost is in it; **added** is
  against the untraced median, and the line under the table splits it (medians): traced
  but not streamed, then streaming without the stack, then the stack.
  **gotrace µs/streamed** is gotrace's own CPU time (its threads' schedstat) from its
  `tracing pid` line to the workload's last line, divided by the summary's `slow_calls`,
  the calls it streamed: reading records, symbolizing stacks, writing NDJSON, and its
  periodic work meanwhile (a few ms of CPU per second when nothing is streamed). The
  streamed calls are the sleeps and about as many of the Go runtime's own waits of a
  millisecond or more, made on a thread's g0 (sysmon's timed futex waits: it wakes with
  each sleep), also streamed with their stacks; "added per streamed call" divides the
  workload's added time by them. Every streaming run's NDJSON is checked: each sleep is
  a `syscall` line made by a goroutine, with a stack exactly when stacks are on, and no
  record was lost. A sleep that a signal cut short (the Go runtime's preemption signal,
  a few per run; the summary's failed `nanosleep` calls) may be under the threshold and
  not streamed: the check allows as many. **wall µs/sleep** is the workload's own loop
  time per sleep.
- **Symbols**: the `bench-symbols` helper loads the symbol tables of the `go` command
  binary of the Go that `cargo xtask setup` installs (`$(go env GOROOT)/bin/go`, a large
  Go program; and of Go {older_go}'s, whose tables are laid out as before Go 1.26, when
  installed) with `gotrace_model::gosym::Symbols::load`, as gotrace does for a traced
  program: one load per fresh process, {reps} times each. **load ms** is the wall time of
  opening the file and loading; **RSS added** is VmRSS after the load minus before it
  (`/proc/self/status`); **peak** is the highest VmHWM minus that RSS before (the peak
  is reset first through `/proc/self/clear_refs`); **held** is what the tables keep
  (`Symbols::stats`). **ns/lookup** is `Symbols::frames` once at every function's entry,
  and once at its middle, where inlined calls are expanded, per function. The file is
  in the page cache after the first run. The budgets are a load under
  {symbols_ms:.0} ms and under {symbols_mib:.0} MiB of added RSS, peak included.
- **Host-wide** (`gotrace --all`): {hw_idle} idle Go processes (workload S with `-n 1
  -goroutines 1 -wait-stdin`, their standard input one pipe that is never written: each
  waits in `read`; fewer if {hw_idle} would take more than {hw_mem:.0}% of the memory
  available, and the table says so) stay up for the whole part, in a cgroup made for
  them (under the cgroup2 mount, else a v1 hierarchy). Workload S runs beside them
  ({g} goroutines x {n} getppid), started with `-wait-stdin` and released once what
  traces it is attached, so its loops are timed alone. Configurations: untraced;
  untraced while `gotrace --pid` traces a sleeping `sleep` (as in S); `gotrace --pid` of
  S; **`gotrace --all`**, tracing S, the idle processes and any other Go process on the
  machine (S is released {settle_ms} ms after /metrics lists it); and **`gotrace --all
  --cgroup`** of the idle processes' cgroup, so S is not traced (checked: /metrics does
  not list it {settle_ms} ms after it started); that run also takes gotrace's CPU over
  {idle} s and its VmRSS and VmHWM while it traces the idle processes alone (no other Go
  process of the machine). Budgets: S's added ns under `--all` at
  most {all_x:.2}x its added ns under `--pid`; a process `--all` does not trace pays no
  more than one beside `gotrace --pid` of another, within noise (the larger of the two
  configurations' ranges over the repetitions, and at least {noise:.0}% of the untraced
  median). Each `--all` run (with `--prometheus 127.0.0.1:0`, its address read from the
  banner) waits until /metrics lists every idle process (`gotrace_process_info{{pid=...}}`),
  then measures gotrace's CPU over {idle} s (its threads' schedstat), GETs /metrics
  {scrapes} times (HTTP/1.0, a new TCP connection each, timed from connect to the end of
  the body) and reads its VmRSS and VmHWM (`/proc/PID/status`); then runs S (gotrace's CPU
  over S's loops) and {pickups} short-lived Go processes one after the other, each (and S)
  timed from its spawn (fork and exec included) to the end of the first GET that lists it,
  polling every {poll_ms} ms; at the end VmRSS, VmHWM and `gotrace_lost_records_total`,
  then SIGTERM, gotrace's user + system time (`wait4`) and its end-of-trace `hostwide`
  NDJSON line: lost records, calls not counted, and S's getppid calls counted against the
  calls it made. Budgets: VmHWM under {rss:.0} MiB, every GET under {scrape:.0} ms, every
  new process listed within {pickup:.0} ms, zero lost records. Every process the part
  starts is killed when it ends.
- **Disturbance**: before each run the bench waits (up to `--settle`, {settle} s) until no
  one else's eBPF program is attached to a tracing hook (`bpftool link show`,
  `bpftool perf show`: another gotrace or a test run would slow every process's
  syscalls) and others use less than {limit:.0}% of the CPUs (`/proc/stat` less the
  bench's own `getrusage`, over half a second). A run is counted as disturbed under the
  table when it started without that quiet, or when others used more than that during it.

## What was tried

Kept, with what it measured (on the machine above, medians):

- **sys_exit's rare paths out of line.** Classifying a blocked or slow call
  (`classify`), streaming it (`emit_slow`) and the poller's bookkeeping
  (`poller::on_exit`) are BPF-to-BPF calls instead of inlined code. The verifier took
  220 ms of the kernel's time on sys_exit (of 260 ms to attach); with them out of line it
  takes 100 to 150 ms, and gotrace attaches in about 150 ms instead of 270. A call that
  finishes fast never reaches them, so its cost is unchanged.
- **Held records go on as soon as their code is read.** While a process's code loads,
  the stream is held (in order) so that stacks can be named; it used to be let go at the
  next tick, and a second's backlog handled at once left the ring buffer undrained: at
  200,000 calls/s under `--slow 0`, 17,000 to 26,000 records were lost per run. Let go
  after each drain of the ring buffer, none are.
- **Stacks from `--stack-min` (1 ms) up, and named once.** `bpf_get_stack` on every call
  and its frames in every NDJSON line cost more than a flood of fast calls tells: at
  400,000 calls/s, stacks on every call (`--stack-min 0`) lose 300,000 records of
  800,000 where the default loses none. A process's named stacks are kept by their
  addresses, so a stack seen again is not decoded again.
- **One field of a global at a time** (`global_field!`): reading the whole offsets
  global made sys_exit 4,823 instructions instead of 2,306, and sched_switch 531 instead
  of 335.
- **A slow call's record wakes gotrace only once a quarter of the ring buffer waits**
  (`lazy_wakeup`; gotrace also drains it every 250 ms, and other records wake it at
  once). A Go server idling between requests ends hundreds of netpoll and futex waits a
  second past the slow threshold; with a wake-up for each, gotrace's own CPU was 4.2 to
  4.6 µs per request at H's 8,000 requests/s (3.6% of a CPU), and 1.25 µs without
  (three interleaved runs each). The server's side (an irq_work per record) is below
  H's noise.
- **Host-wide mode's per-process entry per CPU** (`PROC_SYSCALLS` keyed by process,
  syscall and CPU, plain adds): one entry per (process, syscall) updated with atomic
  adds from both CPUs made S's added cost under `--all` 1.98x its cost under `--pid`;
  the per-CPU entries bring it to about 1.1x. What was left is the hash lookup itself
  (a per-CPU array indexed by process slot and syscall would need a histogram per
  (slot, syscall, CPU) allocated up front, about 1 GB for 1,024 processes), and once
  sys_exit's tail call made both modes about 45 ns cheaper per call, that lookup was a
  larger share: `--all` read 1.16x to 1.40x `--pid` in three runs.
- **A per-CPU front before the per-process hash** (`PROC_FRONT`, up to 1,024 entries
  per CPU in sets of four, mapped into gotrace). Taken first come, first served, it
  did not help in the host-wide bench: the 200 idle processes filled it before S
  started, and S's calls all went to the hash (1.30x, seven runs). Taken only by a busy
  (process, syscall), 256 calls within a second on a CPU, it holds S's getppid after its
  first 255 calls. sys_exit per run (bpf_stats, S alone, five interleaved rounds):
  `--all` 89 to 128 ns with the hash alone, 80 to 117 with the front, `--pid` 78 to 110;
  in the host-wide part of the bench, `--all` 0.86x `--pid` (seven runs).
- **Fewer reads at a call's first sleep.** A goroutine is told by its goid alone (g0
  and gsignal are made without one, so reading `g.m.g0` to compare was redundant), and
  each thread's slot remembers the runtime goroutine it was last seen on: a wait on g0
  (an idle M, the netpoller, sysmon: most of a Go program's waits) reads only `g`, with
  no goid read and no lookup of the process's layout. The scheduler hooks read a task's
  pid and tgid in one read. sched_switch under H: 359 to 455 ns per run before, 286 to
  307 after (bpf_stats, four interleaved pairs of runs); in the full bench, 259 ns per
  run before, 207 and 210 in two runs after. sched_wakeup and sys_exit did not move.
- **The Go runtime's idle waits are counted, not streamed.** A paced net/http server (H)
  ended about 800 waits a second past the 1 ms threshold on its threads' g0: the
  netpoller's blocking poll in the scheduler and sysmon's timed sleep while every P is
  idle, each streamed with its user stack. They are aggregated now, as a parked
  thread's wait is (`--stream-idle` streams them; one mostly spent waiting for a CPU is
  still streamed). sys_exit under H: 2.55 to 2.19 times sys_enter's time per request
  (medians of four interleaved runs each), about 350 ns per request less.
- **Per-CPU fronts for causes and epoll waits.** A blocked call's cause, and an epoll
  instance's waits, go to a small per-CPU array (`CAUSE_FRONT`, `EPOLL_FRONT`) whose
  entry is taken by the first key that lands on it and never changes hands, so a reader
  sums the array and the hash behind it and counts each call once; a key whose entry is
  taken goes to the hash, as before. Outside host-wide mode only (an entry would
  outlive its process). sys_exit under H: causes 2.16 to 1.96 times sys_enter's time
  (five interleaved runs; about 220 ns per request), epoll waits 1.92 to 1.87 (ten;
  about 60 ns, and epoll counts are now exact: two CPUs updating one hash entry could
  lose one). Over the day's three changes, gotrace's programs under H went from 4.87 to
  4.20 times sys_enter's time per request (about 580 ns per request less; five
  interleaved pairs of runs).

- **sys_exit's paths kept few for the verifier.** Asking up front whether a call is a
  wait or a poller call left the syscall number a known constant on each side of each
  comparison, and the verifier followed every such constant as a path of its own
  through classification, the cause and the slow record; so it did with each class
  `classify` can return. Asked where it is needed, and with the class read back from
  the thread's slot (a value read from a map is one unknown value), sys_exit is 65,000
  instructions verified, against 99,000 before the three changes above and 150,000 with
  them as first written (`verified_insns` of bpf_prog_info); gotrace attached in 205 ms
  (median of eight interleaved runs) against 228 before them.

- **sys_exit split in two by a tail call.** sys_exit now counts the call and stops there
  unless it blocked, was slow, or is a wait or poller call; those it hands to
  sys_exit_detail with `bpf_tail_call`, the syscall and its return time left in the
  thread's slot. The verifier checks each program on its own and follows none of
  sys_exit's paths into the second: 6,900 instructions verified for sys_exit and 17,300
  for sys_exit_detail, 24,200 in all against 65,000. gotrace's CPU to attach went from
  201 ms to 116 ms (medians of ten interleaved runs; 165-223 before, 92-124 after). The
  tail call is a direct jump on x86-64 (a constant index into a one-entry array); it is
  paid only by the calls that go on to the second part.

How these were measured: bpf_stats under H (`kernel.bpf_stats_enabled`), each program's
time per request divided by sys_enter's in the same run. sys_enter's code did not change,
and this VM's drift from run to run moves every program's time together, by up to 30%;
the ratios move by about 5%.

Tried, and not kept:

- `account_cause` out of line as well: the verifier's time stayed at 100 to 150 ms, and a
  blocked call would pay a call more.
- Skipping the read of a call's argument registers when it only blocked and its number
  alone says what it waited on (a sleep, a poll): the verifier then explored sys_exit's
  paths twice, with the arguments and without, and gotrace took 230 to 320 ms to attach
  instead of 140 to 155 (interleaved runs), to save one 64-byte read per blocked sleep.
- The EPOLL hash keyed per CPU as well, so that two CPUs would not update one entry:
  sys_exit 2.20 times sys_enter's time against 2.19 (four interleaved runs). The cost
  was the hash lookup, not a shared cache line; the per-CPU front above removes it.

What the numbers say cannot go:

- **The clock.** Two `bpf_ktime_get_ns` per call (enter and exit) cost as much as, or
  more than, the empty hooks themselves here ("+ clock" rows): a tracer that times
  every call cannot be under about twice the sys-hooks floor on this machine, so S's
  1.7x-of-the-floor target is out of reach by construction; gotrace's own work beyond
  floor + clock is the figure to watch.
- **H's load is paced, not a closed loop.** A closed loop sends more requests to a
  faster server, and a server with a fuller queue answers more requests per wake-up, so
  each configuration measured a different load. Paced at 8,000 requests/s, every
  configuration serves the same load, with the context switches and wake-ups per
  request of a server that is not saturated: where the scheduler hooks and the
  blocked-call path run. It did not make H quieter: run to run, a fresh server's CPU
  per request still moves by 15% or more on this machine.
- **Where H's added CPU goes**: the per-program table under H. sys_enter and sys_exit run
  for every syscall of every process (a process not traced leaves after one array
  lookup); the scheduler's hooks once per context switch. By feature, each removed in a
  build of its own (bpf_stats, five interleaved runs, in ns per request at sys_enter's
  880): the exact per-call aggregates (count, errors, histogram, the split) about 245; a
  blocked or slow call's path (its argument registers, its classification, its cause,
  the poller's count, streaming the slow ones) about 340, of which the cause 60 and the
  epoll count 60; the wake-up's bookkeeping (a sleep becomes a wait for a CPU) about
  165; reading the goroutine at a call's first sleep about 190. What is left is the
  clock and the thread's state at each hook, which the floor + clock rows price. Each is
  a part of what gotrace reports: exact counts, the on-CPU, run-queue and blocked split,
  the cause, the goroutine. Against the floors, H cannot tell them apart: in three full
  runs on this day the all-hooks floor with a clock read added +0.6, +3.3 and +8.0 µs
  of server CPU per request, gotrace +4.7, +3.2 and +4.6 (1.08x to 1.11x the untraced
  server's CPU): the floors' own spread is as large as what gotrace adds. The
  per-program table (bpf_stats) is the stable measure: 4.3 to 4.6 µs per request in
  those runs, of which the floor with its clock reads is about 2.9 (from H's earlier
  full runs) and the parts above the rest.
- **Next**: run-queue time could come from the kernel's own per-task `run_delay`
  (sched_info, read at a sleep and at the call's return) instead of the wake-up hooks,
  taking their bookkeeping and dispatch out (about 165 ns per request here, and the
  cache line a waker's CPU takes from the sleeper's); it changes how the split is
  built, and needs checking on every supported kernel.
- **Blocked calls on idle CPUs.** The slow-call part is all blocked calls (each sleep
  comes with about ten syscalls of the Go runtime, most of them waits, and eight
  context switches and four wake-ups): there the hooks run on CPUs that were idle, and
  what a program touches is not in the cache. Even empty programs on every hook cost
  the workload 2.5 to 6 µs per sleep, and gotrace's sched_wakeup, which reads the woken
  task's ids, one bit of the target set, the thread's slot and the clock, takes about
  500 ns per run there against 170 under H. A timing tracer has to touch the thread's
  state at each of these hooks; gotrace's added CPU per sleep is 1.7x to 4.4x the
  all-hooks floor's (two runs).

## Reproduce

```sh
sudo cargo xtask bench                  # this file and target/bench/bench.json (a few minutes)
sudo cargo xtask bench --quick          # smoke test: 1 repetition, small N; leaves this file alone
sudo cargo xtask bench --only s --reps 9   # only workload S (also: h, stream, slow, symbols, hostwide)
```

The bench installs what is missing (Debian packages `bpftrace`, `linux-perf`, `strace`,
`bpftool`), builds gotrace (release), the `bench-floor` and `bench-symbols` helpers and the Go workloads, and mounts
tracefs at /sys/kernel/tracing (and debugfs, if perf trace needs it) when they are not
mounted. A peer that cannot run is listed with the reason.
"#,
        date = m.date,
        kernel = m.kernel,
        cpu = m.cpu,
        nproc = m.nproc,
        mem = m.mem_gib,
        commit = m.gotrace_commit,
        peers = peers.join(", "),
        table = table,
        reps = p.reps,
        h_reps = p.h_reps,
        h_min = H_MIN_REPS,
        quiet_ms = H_QUIET.as_millis(),
        idle = p.idle_secs,
        idle_settle_ms = IDLE_SETTLE.as_millis(),
        g = p.goroutines,
        n = fmt_count(p.s_calls),
        peer_n = fmt_count(p.peer_calls),
        conns = p.http_conns,
        rate = fmt_count(p.http_rate as u64),
        hs = p.http_secs,
        hw = p.http_warmup_secs,
        start = fmt_rate(p.stream_start_rate),
        ss = p.stream_secs,
        settle = p.settle_secs,
        limit = OTHERS_CPU_LIMIT * 100.0,
        slow_n = fmt_count(p.slow_sleeps),
        slow_n_arg = p.slow_sleeps,
        slow_ms = p.slow_sleep_ms,
        slow_threshold = SLOW_THRESHOLD,
        no_slow = NO_SLOW_THRESHOLD,
        older_go = OLDER_GO,
        symbols_ms = SYMBOLS_LOAD_MS,
        symbols_mib = SYMBOLS_RSS_MIB,
        hw_idle = p.hw_idle,
        hw_mem = HW_MEM_SHARE * 100.0,
        settle_ms = IDLE_SETTLE.as_millis(),
        all_x = HW_ALL_X_PID,
        noise = HW_NOISE_SHARE * 100.0,
        scrapes = p.hw_scrapes,
        pickups = p.hw_pickups,
        poll_ms = HW_POLL.as_millis(),
        rss = HW_RSS_MIB,
        scrape = HW_SCRAPE_MS,
        pickup = HW_PICKUP_MS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let args = BenchArgs {
            reps: Some(3),
            quick: false,
            write_doc: false,
            only: Vec::new(),
            settle: None,
        };
        Plan::new(&args).expect("a valid plan")
    }

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("values");
        assert_eq!(s.median, 2.5);
        assert_eq!(s.values, vec![4.0, 1.0, 2.0, 3.0]);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn workload_lines_are_found_among_other_output() {
        let out =
            "Attaching 2 probes...\nns_per_syscall=275.3 calls=2000000 rate=7e6\n@calls[39]: 1\n";
        let kv = Kv::find(out, "ns_per_syscall").expect("the line");
        assert_eq!(kv.get("ns_per_syscall").expect("a number"), 275.3);
        assert_eq!(kv.get("rate").expect("a number"), 7e6);
        assert!(kv.get("p99_us").is_err());
        assert!(Kv::find("nothing here\n", "rps").is_err());
    }

    #[test]
    fn rotation_moves_the_first_config_each_rep() {
        assert_eq!(rotated(&[1, 2, 3], 0), vec![1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), vec![2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 4), vec![2, 3, 1]);
        assert!(rotated::<u8>(&[], 2).is_empty());
    }

    #[test]
    fn numbers_are_formatted_for_the_table() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1_000), "1,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_rate(800_000.0), "800 k/s");
        assert_eq!(fmt_rate(1_600_000.0), "1.60 M/s");
        assert_eq!(last_words(["a", "", "b", "c "].into_iter()), ": b / c");
        assert_eq!(last_words(std::iter::empty()), "");
    }

    #[test]
    fn added_cost_is_compared_with_the_floor() {
        let mut obs = Observations::default();
        obs.s.insert(SConfig::Untraced, vec![300.0, 310.0, 290.0]);
        obs.s.insert(SConfig::Floor, vec![400.0, 410.0, 390.0]);
        obs.s.insert(SConfig::Gotrace, vec![450.0]);
        obs.s.insert(SConfig::GotraceOther, vec![420.0]);
        obs.s_notes
            .insert(SConfig::Strace, "cannot run: strace not installed".into());
        let rows = s_rows(&plan(), &obs);
        let row = |c| rows.iter().find(|r| r.config == c).expect("a row");
        assert_eq!(row(SConfig::Floor).added_ns, Some(100.0));
        assert_eq!(row(SConfig::Gotrace).x_floor, Some(1.5));
        assert_eq!(row(SConfig::Gotrace).x_untraced, Some(1.5));
        assert!(row(SConfig::Strace).ns_per_syscall.is_none());
        let t = targets(&rows, None, &GotraceFacts::default());
        assert_eq!(t[0].pass, Some(true), "1.5x <= 1.7x");
        assert_eq!(t[1].pass, Some(false), "1.2x > 1.15x");
        assert_eq!(t[2].pass, None, "H not measured");
    }

    #[test]
    fn a_floor_lost_in_noise_gives_no_verdict() {
        let mut obs = Observations::default();
        obs.s.insert(SConfig::Untraced, vec![300.0]);
        obs.s.insert(SConfig::Floor, vec![299.0]);
        obs.s.insert(SConfig::Gotrace, vec![320.0]);
        let rows = s_rows(&plan(), &obs);
        let t = targets(&rows, None, &GotraceFacts::default());
        assert_eq!(t[0].pass, None);
        assert!(t[0].value.contains("noise"), "{}", t[0].value);
    }

    #[test]
    fn s_added_cost_is_a_multiple_of_each_floor() {
        let mut obs = Observations::default();
        obs.s.insert(SConfig::Untraced, vec![100.0]);
        obs.s.insert(SConfig::Floor, vec![200.0]);
        obs.s.insert(SConfig::FloorClock, vec![225.0]);
        obs.s.insert(SConfig::FloorAll, vec![250.0]);
        obs.s.insert(SConfig::FloorAllClock, vec![300.0]);
        obs.s.insert(SConfig::Gotrace, vec![400.0]);
        let rows = s_rows(&plan(), &obs);
        let row = |c| rows.iter().find(|r| r.config == c).expect("a row");
        assert_eq!(
            row(SConfig::Gotrace).x_floors,
            FloorMultiples {
                sys: Some(3.0),
                sys_clock: Some(2.4),
                all: Some(2.0),
                all_clock: Some(1.5),
            }
        );
        assert_eq!(row(SConfig::Gotrace).x_floor, Some(3.0));
        assert!(
            row(SConfig::FloorAll).x_floors.is_empty(),
            "a floor against floors"
        );
        assert_eq!(
            row(SConfig::FloorAll).x_floor,
            Some(1.5),
            "against the sys floor"
        );
        assert!(row(SConfig::Untraced).x_floors.is_empty());
        let table = render(&Report::new(&plan(), machine(), obs));
        if std::env::var_os("BENCH_SHOW_TABLE").is_some() {
            eprintln!("{table}");
        }
        assert!(
            table.contains("added ns as a multiple of each floor's"),
            "{table}"
        );
        assert!(table.contains("3.00x"), "{table}");
    }

    #[test]
    fn a_multiple_needs_a_floor_above_zero() {
        assert_eq!(multiple(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(multiple(Some(3.0), Some(0.0)), None);
        assert_eq!(multiple(Some(3.0), Some(-1.0)), None);
        assert_eq!(multiple(None, Some(2.0)), None);
        assert_eq!(multiple(Some(3.0), None), None);
        assert_eq!(idle_pct(0.01, 5.0), 0.2);
        assert_eq!(idle_pct(1.0, 0.0), 0.0);
    }

    fn h_run(server_ns: f64, gotrace_ns: Option<f64>) -> HRun {
        HRun {
            requests: 1000,
            errors: 0.0,
            server_cpu_ns: server_ns,
            client_cpu_ns: 20_000.0,
            gotrace_cpu_ns: gotrace_ns,
            rps: 10_000.0,
            p99_us: 900.0,
            programs: None,
        }
    }

    #[test]
    fn h_is_cpu_per_request_against_untraced_and_the_floors() {
        let mut obs = Observations::default();
        obs.h.insert(
            HConfig::Untraced,
            vec![
                h_run(40_000.0, None),
                h_run(39_000.0, None),
                h_run(41_000.0, None),
            ],
        );
        obs.h.insert(HConfig::Floor, vec![h_run(40_500.0, None)]);
        obs.h.insert(HConfig::FloorAll, vec![h_run(41_000.0, None)]);
        obs.h
            .insert(HConfig::FloorAllClock, vec![h_run(41_200.0, None)]);
        obs.h.insert(
            HConfig::Gotrace,
            vec![
                h_run(41_400.0, Some(1_500.0)),
                h_run(41_600.0, Some(1_700.0)),
            ],
        );
        let h = h_report(&plan(), &obs);
        assert_eq!(h.reps, H_MIN_REPS, "at least 7 but with --quick");
        let row = |c| h.rows.iter().find(|r| r.config == c).expect("a row");
        let g = row(HConfig::Gotrace);
        assert_eq!(g.server_cpu_us.as_ref().map(|s| s.median), Some(41.5));
        assert!((g.added_us.expect("added") - 1.5).abs() < 1e-9);
        assert!((g.x_untraced.expect("x") - 41.5 / 40.0).abs() < 1e-9);
        assert_eq!(g.gotrace_cpu_us.as_ref().map(|s| s.median), Some(1.6));
        assert!(row(HConfig::Untraced).added_us.is_none());
        assert!(row(HConfig::GotraceStats).server_cpu_us.is_none());
        let close = |v: Option<f64>, want: f64| (v.expect("a multiple") - want).abs() < 1e-9;
        assert!(close(h.x_floors.sys, 3.0));
        assert!(close(h.x_floors.all, 1.5));
        assert!(close(h.x_floors.all_clock, 1.25));
        assert_eq!(h.x_floors.sys_clock, None, "not run on H");
        assert!(h.programs.is_none(), "no bpf_stats run");

        let t = targets(&[], Some(&h), &GotraceFacts::default());
        let verdict = |name: &str| {
            t.iter()
                .find(|t| t.name.starts_with(name))
                .unwrap_or_else(|| panic!("no target {name}"))
        };
        assert_eq!(
            verdict("H: server CPU").pass,
            Some(true),
            "1.0375x <= 1.05x"
        );
        assert_eq!(verdict("H: gotrace added").pass, Some(true), "1.5x <= 1.5x");
        assert_eq!(verdict("H: gotrace's own CPU").pass, Some(true), "1.6 µs");
        assert_eq!(verdict("gotrace idle").pass, None, "not measured");
        assert!(t.iter().all(|t| !t.name.contains("throughput")));

        obs.h.insert(HConfig::FloorAll, vec![h_run(39_000.0, None)]);
        let h = h_report(&plan(), &obs);
        let t = targets(&[], Some(&h), &GotraceFacts::default());
        let floor = t
            .iter()
            .find(|t| t.name.starts_with("H: gotrace added"))
            .expect("the target");
        assert_eq!(floor.pass, None, "the floor under untraced: noise");
        assert!(floor.value.contains("noise"), "{}", floor.value);
    }

    #[test]
    fn own_cpu_idle_and_attach_targets() {
        let g = GotraceFacts {
            idle_pct: Spread::of(&[0.2, 0.7, 0.3]),
            attach_cpu_ms: Spread::of(&[120.0, 310.0]),
            ..GotraceFacts::default()
        };
        let t = targets(&[], None, &g);
        let find = |n: &str| t.iter().find(|t| t.name.starts_with(n)).expect("a target");
        assert_eq!(find("gotrace idle").pass, Some(true), "median 0.3%");
        assert_eq!(
            find("attach CPU").pass,
            Some(false),
            "one attach took 310 ms"
        );
        assert_eq!(find("attach CPU").value, "max 310 ms");
    }

    #[test]
    fn the_floor_line_lists_its_hooks() {
        assert_eq!(
            parse_floor_line("floor attached: sys_enter sys_exit sched_switch\n"),
            vec!["sys_enter", "sys_exit", "sched_switch"]
        );
        assert!(parse_floor_line("floor attached\n").is_empty());
        assert!(parse_floor_line("something else").is_empty());
    }

    #[test]
    fn gotrace_programs_are_told_by_name_even_cut_short() {
        assert!(is_gotrace_program("sys_enter"));
        assert!(is_gotrace_program("sched_process_e"), "cut to 15 bytes");
        assert!(is_gotrace_program("sched_switch_state"));
        assert!(
            !is_gotrace_program("sched_process"),
            "a short prefix is another name"
        );
        assert!(!is_gotrace_program("floor_enter"));
        assert!(!is_gotrace_program(""));
    }

    const PROGS_BEFORE: &str = r#"[
        {"id":7,"type":"raw_tracepoint","name":"sys_enter","tag":"aa","gpl_compatible":true},
        {"id":40,"type":"raw_tracepoint","name":"sys_enter","tag":"aa","gpl_compatible":true,
         "run_time_ns":1000,"run_cnt":10},
        {"id":41,"type":"raw_tracepoint","name":"sched_process_e","tag":"bb","gpl_compatible":true,
         "run_time_ns":50,"run_cnt":1},
        {"id":42,"type":"raw_tracepoint","name":"floor_enter","tag":"cc","gpl_compatible":true},
        {"id":43,"type":"kprobe","name":"sys_exit","tag":"dd","gpl_compatible":true,
         "pids":[{"pid":999,"comm":"other"}]}
    ]"#;

    const PROGS_AFTER: &str = r#"[
        {"id":7,"type":"raw_tracepoint","name":"sys_enter","tag":"aa","gpl_compatible":true,
         "run_time_ns":999999,"run_cnt":9999},
        {"id":40,"type":"raw_tracepoint","name":"sys_enter","tag":"aa","gpl_compatible":true,
         "run_time_ns":301000,"run_cnt":4010},
        {"id":41,"type":"raw_tracepoint","name":"sched_process_e","tag":"bb","gpl_compatible":true,
         "run_time_ns":50,"run_cnt":1}
    ]"#;

    const LINKS: &str = r#"[
        {"id":1,"type":"raw_tracepoint","prog_id":40,"tp_name":"sys_enter"},
        {"id":2,"type":"raw_tracepoint","prog_id":41,"tp_name":"sched_process_exit"},
        {"id":3,"type":"perf_event","prog_id":7},
        {"id":4,"type":"raw_tracepoint","prog_id":42,"tp_name":"sys_enter"},
        {"id":5,"type":"raw_tracepoint","prog_id":42,"tp_name":"sched_switch"}
    ]"#;

    #[test]
    fn bpftool_json_gives_gotraces_programs_over_a_window() {
        let before = parse_progs(PROGS_BEFORE).expect("programs");
        assert_eq!(before.len(), 5);
        assert_eq!(
            (before[0].run_time_ns, before[0].run_cnt),
            (0, 0),
            "stats never on"
        );
        assert_eq!(before[1].run_cnt, 10);
        assert_eq!(before[4].pids, Some(vec![999]));
        assert_eq!(before[0].pids, None);

        // Program 7 was there before gotrace started; 42 is not gotrace's; 43 is held by
        // another process.
        let earlier: BTreeSet<u32> = [7].into_iter().collect();
        let ids = |v: &[ProgInfo]| v.iter().map(|p| p.id).collect::<Vec<_>>();
        let mine = select_gotrace_programs(&before, 1234, &earlier, &BTreeSet::new());
        assert_eq!(ids(&mine), vec![40, 41]);
        // Where /proc tells which programs gotrace holds, only those.
        let held: BTreeSet<u32> = [40, 42].into_iter().collect();
        let held_only = select_gotrace_programs(&before, 1234, &earlier, &held);
        assert_eq!(ids(&held_only), vec![40]);

        let hooks = parse_raw_tp_links(LINKS).expect("links");
        assert_eq!(hooks[&42], vec!["sys_enter", "sched_switch"]);
        assert!(!hooks.contains_key(&7), "not a raw tracepoint link");

        let after = parse_progs(PROGS_AFTER).expect("programs");
        let deltas = prog_deltas(&mine, &after, &hooks);
        assert_eq!(
            deltas,
            vec![
                ProgDelta {
                    name: "sys_enter".into(),
                    hooks: "sys_enter".into(),
                    runs: 4000,
                    run_time_ns: 300_000,
                },
                ProgDelta {
                    name: "sched_process_e".into(),
                    hooks: "sched_process_exit".into(),
                    runs: 0,
                    run_time_ns: 0,
                },
            ]
        );
        assert!(parse_progs("not json").is_err());
        assert!(parse_progs("{}").is_err());
        assert!(parse_progs("[]").expect("none").is_empty());
    }

    #[test]
    fn a_bpf_fdinfo_names_its_program() {
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nprog_type:\t17\n\
                    prog_jited:\t1\nprog_tag:\t0123456789abcdef\nmemlock:\t4096\n\
                    prog_id:\t40\nrun_time_ns:\t0\nrun_cnt:\t0\n";
        assert_eq!(parse_fdinfo_prog_id(prog), Some(40));
        let link = "pos:\t0\nflags:\t02000000\nlink_type:\traw_tracepoint\nlink_id:\t3\n\
                    prog_tag:\t0123456789abcdef\nprog_id:\t41\n";
        assert_eq!(parse_fdinfo_prog_id(link), Some(41));
        assert_eq!(
            parse_fdinfo_prog_id("pos:\t0\nflags:\t02\nmnt_id:\t25\n"),
            None
        );
        assert_eq!(parse_fdinfo_prog_id("prog_id:\tx\n"), None);
    }

    #[test]
    fn the_program_breakdown_sums_the_bpf_stats_runs() {
        let delta = |name: &str, runs, ns| ProgDelta {
            name: name.into(),
            hooks: name.into(),
            runs,
            run_time_ns: ns,
        };
        let mut a = h_run(42_000.0, Some(1_000.0));
        a.programs = Some(vec![
            delta("sys_enter", 8000, 400_000),
            delta("sched_switch", 0, 0),
        ]);
        let mut b = h_run(42_000.0, Some(1_000.0));
        b.requests = 3000;
        b.programs = Some(vec![delta("sys_enter", 24_000, 1_600_000)]);
        let c = h_run(42_000.0, Some(1_000.0));
        let p = ProgramBreakdown::of(&[a, b, c]).expect("a breakdown");
        assert_eq!(
            (p.runs, p.units, p.unit),
            (2, 4000, "request"),
            "only the runs with bpf_stats"
        );
        assert_eq!(p.programs[0].program, "sys_enter", "the costliest first");
        assert_eq!(p.programs[0].runs_per_unit, 8.0);
        assert_eq!(p.programs[0].ns_per_run, 62.5);
        assert_eq!(p.programs[0].ns_per_unit, 500.0);
        assert_eq!(p.programs[1].ns_per_run, 0.0, "no run, no division by zero");
        assert_eq!(p.total_ns_per_unit, 500.0);
        assert!(ProgramBreakdown::of(&[h_run(1.0, None)]).is_none());
    }

    #[test]
    fn the_table_shows_h_per_request_the_breakdown_and_the_verdicts() {
        let mut obs = Observations::default();
        obs.h.insert(HConfig::Untraced, vec![h_run(40_000.0, None)]);
        obs.h.insert(HConfig::Floor, vec![h_run(40_500.0, None)]);
        obs.h.insert(HConfig::FloorAll, vec![h_run(41_000.0, None)]);
        obs.h
            .insert(HConfig::FloorAllClock, vec![h_run(41_200.0, None)]);
        obs.h
            .insert(HConfig::Gotrace, vec![h_run(41_500.0, Some(1_600.0))]);
        let mut stats = h_run(41_800.0, Some(1_650.0));
        stats.programs = Some(vec![ProgDelta {
            name: "sys_exit".into(),
            hooks: "sys_exit".into(),
            runs: 8000,
            run_time_ns: 640_000,
        }]);
        obs.h.insert(HConfig::GotraceStats, vec![stats]);
        obs.idle.push(IdleRun {
            secs: 5.0,
            cpu_ms: 6.0,
            pct: 0.12,
        });
        obs.floor_hooks = Some(vec!["sys_enter".into(), "sched_switch".into()]);
        let report = Report::new(&plan(), machine(), obs);
        let table = render(&report);
        if std::env::var_os("BENCH_SHOW_TABLE").is_some() {
            eprintln!("{table}");
        }
        for want in [
            "server CPU µs/request",
            "41.50 [41.50 .. 41.50]",
            "1.60 [1.60 .. 1.60]",
            "3.00x sys hooks, 1.50x all hooks, 1.25x all hooks + clock",
            "sys_exit",
            "640.0",
            "server minus all programs: +860 ns",
            "all hooks: sys_enter sched_switch",
            "0.120 [0.120 .. 0.120] % of a CPU",
            "met?",
        ] {
            assert!(table.contains(want), "no {want:?} in\n{table}");
        }
        assert!(
            !table.contains("PASS") && !table.contains("loss"),
            "{table}"
        );
        let json = serde_json::to_string(&report).expect("the report as JSON");
        assert!(json.contains("\"server_cpu_us\"") && json.contains("\"x_floors\""));
        assert!(json.contains("\"ns_per_unit\""));
    }

    #[test]
    fn workload_h_runs_at_least_seven_times_but_quick() {
        let args = |quick, reps| BenchArgs {
            reps,
            quick,
            write_doc: false,
            only: Vec::new(),
            settle: None,
        };
        let p = Plan::new(&args(false, None)).expect("a plan");
        assert_eq!((p.reps, p.h_reps), (5, 7));
        let p = Plan::new(&args(false, Some(9))).expect("a plan");
        assert_eq!((p.reps, p.h_reps), (9, 9));
        let p = Plan::new(&args(true, None)).expect("a plan");
        assert_eq!((p.reps, p.h_reps, p.idle_secs), (1, 1, 2.0));
    }

    #[test]
    fn cpu_ticks_are_read_past_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(32));
        assert_eq!(parse_stat_cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn sleeps_are_the_goroutines_nanosleep_lines() {
        let mut n = SleepLines::default();
        for line in [
            r#"{"type":"header","format":1}"#,
            r#"{"type":"syscall","name":"nanosleep","goid":1,"stack":[{"function":"main.sleeps"}]}"#,
            r#"{"type":"syscall","name":"nanosleep","goid":1,"stack":[]}"#,
            r#"{"type":"syscall","name":"nanosleep","goid":null,"by":"runtime","stack":[{"function":"runtime.usleep"}]}"#,
            r#"{"type":"syscall","name":"futex","goid":null,"stack":[]}"#,
            r#"{"type":"syscall","name":"nanosleep","#,
            r#"{"type":"summary","slow_calls":5,"syscalls":[{"name":"futex","errors":7},{"name":"nanosleep","errors":2}]}"#,
        ] {
            n.add(line);
        }
        assert_eq!(
            n,
            SleepLines {
                sleeps: 2,
                with_stack: 1,
                interrupted: 2,
            }
        );
    }

    #[test]
    fn the_symbols_helpers_line_is_read() {
        let out = "load_ms=5.017 rss_delta_kib=5440 peak_rss_delta_kib=6588 functions=16170 \
                   elf_symbols=1 pclntab_bytes=5566152 funcdata_bytes=0 heap_bytes=5566189 \
                   inline_trees=1 symbolize_all_ms=4.542 frames=16170 symbolize_mid_ms=7.5 \
                   frames_mid=20801\n";
        let r = SymbolsRun::parse(out).expect("the line");
        assert_eq!(r.load_ms, 5.017);
        assert_eq!(
            (r.functions, r.elf_symbols, r.frames_mid),
            (16170, 1, 20801)
        );
        assert_eq!(r.peak_rss_delta_kib, 6588.0);
        assert!(SymbolsRun::parse("load_ms=5\n").is_err());
    }

    fn slow_run(cpu: f64, traced: Option<(f64, u64, u64, u64)>) -> SlowRun {
        SlowRun {
            workload_cpu_us: cpu,
            wall_us: 2100.0,
            traced: traced.map(|(ms, streamed, sleeps, with_stack)| SlowTraced {
                gotrace_cpu_ms: ms,
                gotrace_total_cpu_ms: ms + 100.0,
                maxrss_kib: 40 << 10,
                streamed,
                sleeps_streamed: sleeps,
                sleeps_with_stack: with_stack,
                sleeps_interrupted: 0,
                lost_records: 0,
            }),
            programs: None,
        }
    }

    #[test]
    fn slow_calls_cost_against_untraced_and_without_stacks() {
        let p = plan();
        let n = p.slow_sleeps;
        let mut obs = Observations::default();
        obs.slow.insert(
            SlowConfig::Untraced,
            vec![slow_run(10.0, None), slow_run(12.0, None)],
        );
        obs.slow.insert(
            SlowConfig::GotraceNoneStreamed,
            vec![slow_run(11.5, Some((5.0, 0, 0, 0)))],
        );
        obs.slow.insert(
            SlowConfig::Gotrace,
            vec![slow_run(15.0, Some((40.0, 2 * n, n, n)))],
        );
        obs.slow.insert(
            SlowConfig::GotraceNoStacks,
            vec![slow_run(13.0, Some((20.0, 2 * n, n, 0)))],
        );
        let r = slow_report(&p, &obs);
        let row = |c| r.rows.iter().find(|x| x.config == c).expect("a row");
        assert_eq!(row(SlowConfig::Untraced).added_us, None);
        assert_eq!(row(SlowConfig::Gotrace).added_us, Some(4.0));
        assert_eq!(row(SlowConfig::Gotrace).added_us_per_streamed, Some(2.0));
        assert_eq!(
            row(SlowConfig::Gotrace)
                .gotrace_us_per_call
                .as_ref()
                .map(|s| s.median),
            Some(40.0 * 1e3 / (2 * n) as f64)
        );
        let none = row(SlowConfig::GotraceNoneStreamed);
        assert!(none.gotrace_us_per_call.is_none() && none.incomplete_runs.is_none());
        assert_eq!(
            (r.hooks_us, r.streaming_us, r.stack_workload_us),
            (Some(0.5), Some(1.5), Some(2.0))
        );
        assert_eq!(r.complete, Some(true));
        assert_eq!(slow_target(Some(&r)).pass, Some(true));
        assert!(
            r.x_floors.is_empty() && r.programs.is_none(),
            "no floor, no bpf_stats"
        );

        // The floors, and a run with bpf_stats: the hooks' cost against the floors', and
        // where it goes per sleep.
        obs.slow
            .insert(SlowConfig::FloorAll, vec![slow_run(11.25, None)]);
        obs.slow
            .insert(SlowConfig::FloorAllClock, vec![slow_run(12.0, None)]);
        let mut stats = slow_run(11.6, Some((5.0, 0, 0, 0)));
        stats.programs = Some(vec![ProgDelta {
            name: "sched_switch".into(),
            hooks: "sched_switch".into(),
            runs: 4 * n,
            run_time_ns: 1_000 * n,
        }]);
        obs.slow.insert(SlowConfig::GotraceStats, vec![stats]);
        let r = slow_report(&p, &obs);
        assert_eq!(
            (r.x_floors.all, r.x_floors.all_clock),
            (Some(2.0), Some(0.5))
        );
        let b = r.programs.as_ref().expect("a breakdown per sleep");
        assert_eq!((b.unit, b.units, b.total_ns_per_unit), ("sleep", n, 1000.0));
        assert_eq!(b.programs[0].runs_per_unit, 4.0);
        assert_eq!(b.added_ns, Some(500.0));
        let mut table = String::new();
        render_slow(&mut table, &r);
        assert!(
            table.contains("2.00x all hooks, 0.50x all hooks + clock"),
            "{table}"
        );
        assert!(
            table.contains("ns/sleep") && table.contains("workload +500 ns"),
            "{table}"
        );
        assert_eq!(
            r.complete,
            Some(true),
            "floors and stats are not streaming runs"
        );

        // A sleep without its stack, with stacks on: the figures are not what they say.
        obs.slow.insert(
            SlowConfig::Gotrace,
            vec![slow_run(15.0, Some((40.0, 2 * n, n, n - 1)))],
        );
        assert_eq!(slow_report(&p, &obs).complete, Some(false));
        obs.slow.remove(&SlowConfig::GotraceNoStacks);
        assert_eq!(slow_report(&p, &obs).complete, None);
        assert_eq!(slow_target(None).pass, None);
    }

    #[test]
    fn a_sleep_cut_short_by_a_signal_need_not_be_streamed() {
        let mut t = slow_run(1.0, Some((1.0, 10, 9, 9))).traced.expect("traced");
        assert!(!t.complete(10, true));
        t.sleeps_interrupted = 1;
        assert!(t.complete(10, true));
        assert!(!t.complete(10, false), "stacks taken with --no-stacks");
        t.lost_records = 1;
        assert!(!t.complete(10, true));
    }

    #[test]
    fn symbol_budgets_are_judged_on_the_primary_binary() {
        let run = |ms, kib| SymbolsRun {
            load_ms: ms,
            rss_delta_kib: kib,
            peak_rss_delta_kib: kib + 1024.0,
            functions: 100,
            elf_symbols: 0,
            pclntab_bytes: 1 << 20,
            funcdata_bytes: 0,
            symbolize_all_ms: 0.1,
            symbolize_mid_ms: 0.2,
            frames_mid: 120,
        };
        let binary = |primary| GoBinary {
            label: "go command",
            go_version: "go1.27.3".into(),
            path: PathBuf::from("/go/bin/go"),
            file_bytes: 16 << 20,
            primary,
        };
        let mut obs = Observations {
            symbols: vec![
                (binary(true), vec![run(5.0, 5000.0), run(7.0, 5100.0)]),
                (binary(false), vec![run(500.0, 50000.0)]),
            ],
            ..Observations::default()
        };
        let rows = symbols_rows(&obs);
        assert_eq!(rows[0].lookup_entry_ns, Some(1000.0));
        let t = symbols_targets(&rows);
        assert_eq!((t[0].pass, t[1].pass), (Some(true), Some(true)));
        assert_eq!(t[0].value, "max 7.0 ms");
        obs.symbols[0].1.push(run(5.0, 19.5 * 1024.0));
        let t = symbols_targets(&symbols_rows(&obs));
        assert_eq!(t[1].pass, Some(false), "the peak is over 20 MiB");
        assert_eq!(symbols_targets(&[])[0].pass, None);
    }

    #[test]
    fn metrics_are_read_from_the_exposition() {
        let body = "# TYPE gotrace_process_info gauge\n\
gotrace_process_info{pid=\"42\",comm=\"a\\\",pid=\\\"7\",cgroup=\"/\",go_version=\"go1.27.3\"} 1\n\
gotrace_process_info{comm=\"b\",pid=\"43\"} 1\n\
gotrace_syscalls_total{pid=\"44\",syscall=\"read\"} 3\n\
gotrace_lost_records_total 0\n\
gotrace_traced_processes 201\n\
gotrace_traced_processes_extra 5\n\
# EOF\n";
        assert_eq!(
            info_pids(body).into_iter().collect::<Vec<_>>(),
            vec![42, 43],
            "an escaped pid in a value is not a label"
        );
        assert_eq!(metric_value(body, "gotrace_traced_processes"), Some(201.0));
        assert_eq!(metric_value(body, "gotrace_lost_records_total"), Some(0.0));
        assert_eq!(metric_value(body, "gotrace_untraced_processes_total"), None);
    }

    #[test]
    fn the_last_line_is_read_however_long() {
        let path = std::env::temp_dir().join(format!("bench-last-line-{}", std::process::id()));
        let long = "x".repeat(3 << 20);
        let text = format!(
            "{{\"type\":\"header\"}}\n{{\"type\":\"hostwide\",\"traced\":3,\"exited\":1,\"untraced\":0,\"lost_records\":0,\"calls_not_counted\":0,\"bad_records\":0,\"pad\":\"{long}\",\"processes\":[{{\"pid\":9,\"summary\":{{\"syscalls\":[{{\"name\":\"getppid\",\"calls\":400}}]}}}}]}}\n\n"
        );
        fs::write(&path, text).expect("write the file");
        let line: HostwideLine = read_last_line(&path, "hostwide").expect("the line");
        assert_eq!(line.facts.traced, 3);
        assert_eq!(line.calls(9, "getppid"), Some(400));
        assert_eq!(line.calls(9, "read"), Some(0));
        assert_eq!(line.calls(10, "getppid"), None);
        assert!(read_summary(&path).is_err(), "not a summary");
        fs::write(
            &path,
            "{\"type\":\"summary\",\"lost_records\":1,\"slow_calls\":2,\"duration_ns\":3}\n",
        )
        .expect("write the file");
        assert_eq!(read_summary(&path).expect("the summary").slow_calls, 2);
        let _ = fs::remove_file(&path);
    }

    fn all_run(hwm_mib: u64, scrape_ms: f64, pickup_ms: Option<f64>) -> AllRun {
        let attach = Attach {
            wall_ms: 900.0,
            reported_ms: 300.0,
            cpu_ms: Some(400.0),
        };
        AllRun {
            attach,
            at_banner: 203,
            all_listed_ms: 20.0,
            traced: Some(203),
            listed: 203,
            idle: IdleRun {
                secs: 5.0,
                cpu_ms: 50.0,
                pct: 1.0,
            },
            scrape_ms: vec![scrape_ms, 5.0, 6.0],
            body_bytes: 900 << 10,
            body_lines: 9000,
            idle_rss_kib: 40 << 10,
            idle_hwm_kib: 45 << 10,
            busy_ms: 100.0,
            busy_cpu_ms: 10.0,
            pickup_ms: vec![Some(30.0), pickup_ms],
            end_rss_kib: 41 << 10,
            end_hwm_kib: hwm_mib << 10,
            lost_records_metrics: Some(0),
            cpu_secs: 1.5,
            maxrss_kib: hwm_mib << 10,
            end: HostwideFacts::default(),
            s_counted: Some(400_000),
            s_made: 400_000,
        }
    }

    #[test]
    fn hostwide_is_judged_against_pid_and_its_budgets() {
        let p = plan();
        let mut obs = Observations::default();
        obs.hw.insert(HwConfig::Untraced, vec![100.0, 110.0, 90.0]);
        obs.hw
            .insert(HwConfig::GotraceOther, vec![140.0, 150.0, 145.0]);
        obs.hw.insert(HwConfig::GotracePid, vec![300.0]);
        obs.hw.insert(HwConfig::All, vec![315.0]);
        obs.hw
            .insert(HwConfig::AllCgroup, vec![150.0, 149.0, 151.0]);
        // S's CPU time: the budget's figure.
        for (config, ns) in [
            (HwConfig::Untraced, 95.0),
            (HwConfig::GotraceOther, 130.0),
            (HwConfig::GotracePid, 295.0),
            (HwConfig::All, 305.0),
            (HwConfig::AllCgroup, 131.0),
        ] {
            obs.hw_cpu.insert(config, vec![ns]);
        }
        obs.hw_all = vec![all_run(50, 12.0, Some(60.0)), all_run(60, 7.0, Some(80.0))];
        obs.hw_cgroup = vec![CgroupRun {
            attach: obs.hw_all[0].attach,
            at_banner: 200,
            listed: 200,
            s_listed: false,
            idle: obs.hw_all[0].idle,
            idle_rss_kib: 30 << 10,
            idle_hwm_kib: 31 << 10,
            end: HostwideFacts::default(),
            maxrss_kib: 40 << 10,
        }];
        let r = hostwide_report(&p, &obs);
        assert_eq!(r.all_x_pid, Some(1.075), "+215 against +200 ns");
        assert_eq!(r.all_x_pid_cpu, Some(1.05), "+210 against +200 ns of CPU");
        assert_eq!(r.not_traced_diff_ns, Some(5.0));
        assert_eq!(r.noise_ns, Some(10.0), "the --pid other's range");
        assert_eq!(r.end_hwm_mib, Some(60.0));
        assert_eq!(r.scrape_ms.as_ref().map(|s| s.max), Some(12.0));
        assert_eq!((r.pickups, r.pickups_missed), (4, 0));
        assert_eq!(r.lost_records, Some(0));
        let t = hostwide_targets(Some(&r));
        assert!(t.iter().all(|t| t.pass == Some(true)), "{t:?}");
        assert!(t.iter().all(|t| t.name.len() <= 50), "{t:?}");

        obs.hw_all[1].pickup_ms[1] = None;
        obs.hw_all[1].end.lost_records = 3;
        obs.hw_all[1].s_counted = Some(399_999);
        obs.hw_cgroup[0].s_listed = true;
        obs.hw_cpu.insert(HwConfig::All, vec![330.0]);
        let r = hostwide_report(&p, &obs);
        let t = hostwide_targets(Some(&r));
        let find = |n: &str| t.iter().find(|t| t.name.starts_with(n)).expect("a target");
        assert_eq!(find("hostwide: S added").pass, Some(false), "1.175x");
        assert_eq!(
            find("hostwide: not traced").pass,
            Some(false),
            "S was traced"
        );
        assert_eq!(find("hostwide: new Go").pass, Some(false));
        assert_eq!(find("hostwide: new Go").value, "1 of 4 not listed");
        assert_eq!(find("hostwide: zero lost").pass, Some(false));
        assert_eq!(find("hostwide: every getppid").pass, Some(false));
        assert!(hostwide_targets(None).iter().all(|t| t.pass.is_none()));

        let args = BenchArgs {
            reps: Some(3),
            quick: false,
            write_doc: false,
            only: vec![Part::Hostwide],
            settle: None,
        };
        let p = Plan::new(&args).expect("a plan");
        let table = render(&Report::new(&p, machine(), obs));
        if std::env::var_os("BENCH_SHOW_TABLE").is_some() {
            eprintln!("{table}");
        }
        for want in [
            "host-wide (gotrace --all)",
            "gotrace --all (S and the idle)",
            "S listed in 1 of them",
            "399,999 of 400,000",
            "hostwide: GET /metrics < 50 ms",
        ] {
            assert!(table.contains(want), "no {want:?} in\n{table}");
        }
    }

    fn machine() -> Machine {
        Machine {
            date: "2026-01-01 00:00 UTC".into(),
            kernel: "6.1".into(),
            cpu: "cpu".into(),
            nproc: 2,
            mem_gib: 1.0,
            gotrace_commit: "abc".into(),
            peers: BTreeMap::new(),
        }
    }

    #[test]
    fn the_doc_describes_the_new_parts() {
        let report = Report::new(&plan(), machine(), Observations::default());
        let table = render(&report);
        let doc = render_doc(&report, &table);
        assert!(table.contains("slow calls: 1 goroutine x 1,000 nanosleep of 2 ms"));
        assert!(doc.contains("- **Slow calls**") && doc.contains("- **Symbols**"));
        assert!(doc.contains("- **Host-wide**") && doc.contains("`gotrace_process_info{pid=...}`"));
        assert!(doc.contains("--slow 1s"), "the none-streamed configuration");
        assert!(doc.contains("-n 1000 -sleep 2ms"));
        assert!(!table.contains("ok in every run"), "nothing was checked");
        assert!(doc.contains("- **The floors**") && doc.contains("- **Where the added ns go**"));
        assert!(
            doc.contains("at least\n7 but with `--quick`"),
            "H's repetitions"
        );
        if std::env::var_os("BENCH_SHOW_TABLE").is_some() {
            eprintln!("{doc}");
        }
    }
}
