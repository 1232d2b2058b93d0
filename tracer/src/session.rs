//! One tracing session: prepare the target, load the probe, stream events into the
//! analyzer until the target exits (or time runs out, or the user stops it), then print
//! the summary and finish the NDJSON file.
use std::{ffi::OsString, io::Write, process::ExitCode, time::Duration};

use anyhow::{bail, Context as _, Result};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    analysis::{Analyzer, ExitStatus, InProgress, TargetInfo, ThreadState},
    cli::{Config, Display, TargetSpec},
    context,
    event::{self, Event},
    export::{
        self, ndjson,
        schema::{Line, ProcessEventKind},
    },
    probe::{self, Probe, ProbeOptions},
    tracee::{self, launch, PidFd},
    tui,
};

/// Why tracing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    TargetExited,
    Duration,
    /// Ctrl-C: SIGINT, or the dashboard's q.
    Interrupted,
    /// SIGTERM or SIGHUP (the signal).
    Terminated(i32),
}

impl StopReason {
    /// gotrace's exit code when it stopped a launched command that was still running:
    /// what a shell reports for a command ended that way (`time` and `strace` pass
    /// on 130 after Ctrl-C), and `timeout`'s 124 when the time given ran out.
    fn exit_code_when_cut_short(self) -> u8 {
        match self {
            StopReason::Interrupted => 128 + libc::SIGINT as u8,
            StopReason::Terminated(sig) => (128 + sig).clamp(0, 255) as u8,
            StopReason::Duration => 124,
            StopReason::TargetExited => 0,
        }
    }
}

/// Runs a session to completion. The returned code is 0 for an attached process. For a
/// launched command it is the command's own exit code (128 + signal when a signal killed
/// it), as `time` and `strace` do; when gotrace stopped it first, see
/// [`StopReason::exit_code_when_cut_short`].
pub fn run(cfg: Config) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(trace(cfg))
}

/// The root target, prepared before anything is loaded.
enum Prepared {
    Attach {
        tgid: u32,
    },
    Launch {
        program: std::path::PathBuf,
        argv: Vec<OsString>,
        user: Option<launch::User>,
    },
}

fn prepare(cfg: &Config) -> Result<(Prepared, TargetInfo)> {
    match &cfg.target {
        TargetSpec::Attach(pid) => {
            let tgid = tracee::resolve_pid(*pid as i32)?;
            if tgid != *pid {
                eprintln!("gotrace: {pid} is a thread of process {tgid}: tracing the process");
            }
            let info = TargetInfo {
                pid: tgid,
                command: tracee::read_cmdline(tgid),
                go_version: tracee::go_version(&tracee::exe_of(tgid)),
                launched: false,
            };
            Ok((Prepared::Attach { tgid }, info))
        }
        TargetSpec::Launch(argv) => {
            let user = launch::invoking_user()?;
            let path_var = std::env::var_os("PATH");
            let program = launch::resolve_program(&argv[0], path_var.as_deref())?;
            let info = TargetInfo {
                pid: 0,
                command: argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                go_version: tracee::go_version(&program),
                launched: true,
            };
            Ok((
                Prepared::Launch {
                    program,
                    argv: argv.clone(),
                    user,
                },
                info,
            ))
        }
    }
}

/// Output files this run made, removed on drop unless kept.
#[derive(Default)]
struct CreatedFiles {
    paths: Vec<std::path::PathBuf>,
}

impl CreatedFiles {
    fn add(&mut self, path: Option<&std::path::Path>) {
        if let Some(p) = path.filter(|p| p.as_os_str() != "-") {
            self.paths.push(p.to_path_buf());
        }
    }

    fn keep(&mut self) {
        self.paths.clear();
    }
}

impl Drop for CreatedFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where the NDJSON goes.
fn open_json(cfg: &Config) -> Result<Option<ndjson::NdjsonWriter>> {
    let Some(path) = &cfg.json else {
        return Ok(None);
    };
    if path.as_os_str() == "-" {
        return Ok(Some(ndjson::NdjsonWriter::new(Box::new(std::io::stdout()))));
    }
    let file = export::create_output(path, cfg.force)?;
    Ok(Some(ndjson::NdjsonWriter::new(Box::new(file))))
}

async fn trace(cfg: Config) -> Result<ExitCode> {
    probe::preflight()?;
    let (prepared, mut info) = prepare(&cfg)?;
    // Opened before anything is loaded, so an unwritable path fails at once; removed
    // again if tracing never starts, so a failed attach leaves no empty file behind
    // for the next run to refuse.
    let mut created = CreatedFiles::default();
    let mut json = open_json(&cfg)?;
    if json.is_some() {
        created.add(cfg.json.as_deref());
    }
    let mut perfetto = match &cfg.perfetto {
        Some(p) => Some(export::perfetto::open(p, cfg.force)?),
        None => None,
    };
    created.add(cfg.perfetto.as_deref());

    // Before anything is attached: from the banner on, a signal ends the trace with its
    // summary, even one that arrives while it starts.
    let mut sigint = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    // A closed terminal (or ssh session) ends the trace as SIGTERM does: with the
    // summary, the NDJSON's last line, and a launched command stopped.
    let mut sighup = signal(SignalKind::hangup()).context("install the SIGHUP handler")?;
    let mut probe = Probe::load(&ProbeOptions {
        slow_ns: cfg.slow_ns,
        follow: cfg.follow,
        ring_bytes: cfg.ring_bytes,
        stream_idle: cfg.stream_idle,
    })?;

    // The trace's time origin: before the target becomes one, so no event precedes it.
    for f in probe.features.iter().filter(|f| !f.on) {
        eprintln!(
            "gotrace: {}",
            export::text::feature_off_text(&f.name, &f.detail)
        );
    }
    let start_ns = context::monotonic_ns();
    let start_unix_ns = context::unix_ns();
    let dashboard = cfg.display == Display::Live;
    let mut output: Option<std::os::fd::OwnedFd> = None;
    // A launched command's mounts and cgroup are read before it runs: a short one may
    // be gone before the loop's first look.
    let mut early: Option<(SystemWatch, Option<context::mounts::MountTable>)> = None;
    let pidfd = match prepared {
        Prepared::Attach { tgid } => {
            let pidfd = PidFd::open(tgid)?;
            probe.add_target(tgid)?;
            if cfg.follow {
                for d in tracee::descendants(tgid) {
                    probe.add_target(d)?;
                }
            }
            // --attach-delay (hidden): the tests widen the few-millisecond window in
            // which the process can exit during attach.
            if let Some(d) = cfg.attach_delay {
                std::thread::sleep(d);
            }
            if pidfd.has_exited() {
                bail!("process {tgid} exited during attach");
            }
            pidfd
        }
        Prepared::Launch {
            program,
            argv,
            user,
        } => {
            // The dashboard owns the terminal: the command's output goes to its log.
            let capture = if dashboard {
                Some(launch::Capture::pipe()?)
            } else {
                None
            };
            let paused = launch::spawn_paused(
                &program,
                &argv,
                user.as_ref(),
                capture.as_ref().map(|c| &c.0),
                crate::cli::json_to_stdout(cfg.json.as_deref()),
            )?;
            if let Some((c, rd)) = capture {
                drop(c);
                output = Some(rd);
            }
            let pid = paused.pid();
            // Opened while the child waits, so the pid cannot be reused under us.
            let pidfd = PidFd::open(pid);
            // Read before the child is traced: its wait for the release must stay short.
            wait_in_read(pid);
            early = Some((
                SystemWatch::new(pid, cfg.slow_ns),
                context::mounts::MountTable::read_live(pid).ok(),
            ));
            if let Err(e) = probe
                .expect_return(pid)
                .and_then(|()| probe.add_target(pid))
            {
                // Dropping `paused` closes its pipe: the child exits without exec.
                drop(paused);
                launch::reap(pid);
                return Err(e);
            }
            let pidfd = pidfd?;
            paused.release()?;
            info.pid = pid;
            pidfd
        }
    };
    eprintln!(
        "gotrace: tracing pid {} ({}){}, attached in {} ms; Ctrl-C to stop",
        info.pid,
        export::text::terminal_safe(&info.command_line()),
        if cfg.follow {
            " and its descendants"
        } else {
            ""
        },
        probe.attach_time.as_millis()
    );
    // Tracing has begun: what the files get from here on is the user's.
    created.keep();
    let launched_pid = info.launched.then_some(info.pid);
    // Until tracing ends as it should, an error that ends it early stops the command too.
    let mut left_running = LeftRunning(launched_pid);
    let mut analyzer = Analyzer::new(info, start_ns);
    analyzer.set_thresholds(cfg.thresholds);
    analyzer.on_kernel_features(probe.features.clone());
    let mut json_error: Option<std::io::Error> = None;
    let facts = ndjson::HeaderFacts {
        kernel_release: context::kernel_release(),
        start_unix_ns,
        slow_threshold_ns: cfg.slow_ns,
        follow: cfg.follow,
        features: probe.features.clone(),
    };
    let header = ndjson::header_line(analyzer.target(), &facts);
    if let Some(w) = json.as_mut() {
        if let Err(e) = w.write(&header).and_then(|()| w.flush()) {
            json_error = Some(e);
        }
    }
    let (mut watch, mounts) = match early {
        Some(e) => e,
        None => (
            SystemWatch::new(analyzer.target().pid, cfg.slow_ns),
            context::mounts::MountTable::read_live(analyzer.target().pid).ok(),
        ),
    };
    if let Some(m) = mounts {
        analyzer.on_mounts(m);
    }
    let mut events = probe.take_events()?;
    let deadline = cfg.duration.map(|d| tokio::time::Instant::now() + d);
    let mut dash = if dashboard {
        Some(Dashboard::enter(cfg.refresh_hz)?)
    } else {
        None
    };
    let mut keys = dash.as_ref().map(|_| crossterm::event::EventStream::new());
    let mut output_lines = output_lines(output.take())?;
    let mut tick = tokio::time::interval(match &dash {
        Some(d) => d.app.refresh_interval(),
        None => Duration::from_secs(1),
    });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Event lines reach the file within this, so a gotrace killed outright loses little.
    let mut flush_tick = tokio::time::interval(JSON_FLUSH_EVERY);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut sink = Sink {
        analyzer: &mut analyzer,
        json: json.as_mut(),
        json_error: &mut json_error,
        // The dashboard hides what went to stderr: what this kernel cannot trace is its
        // first log line.
        log: dash.as_ref().map(|_| {
            probe
                .features
                .iter()
                .filter(|f| !f.on)
                .map(|f| tui::LogEntry {
                    ts_ns: 0,
                    kind: tui::LogKind::Warning,
                    text: export::text::feature_off_text(&f.name, &f.detail),
                })
                .collect()
        }),
        perfetto: perfetto.as_mut(),
        stuck_logged: std::collections::HashSet::new(),
    };
    let mut target_done = false;
    let mut last_pipe_scan: Option<std::time::Instant> = None;
    let reason = loop {
        tokio::select! {
            r = events.wait() => {
                r.context("wait for the ring buffer")?;
                events.drain(|b| sink.record(b));
                if let Some(d) = dash.as_mut() {
                    d.take_log(&mut sink);
                }
            }
            r = pidfd.exited(), if !target_done => {
                r.context("wait for the target's exit")?;
                let Some(d) = dash.as_mut() else { break StopReason::TargetExited };
                // The dashboard keeps the final numbers on screen until the user quits.
                target_done = true;
                sink.catch_up(&mut events, &mut probe, &mut watch, true)?;
                if let Some(pid) = launched_pid {
                    if let Some(status) = launch::reap(pid) {
                        sink.analyzer.on_target_exit(ExitStatus::from_wait_status(status as u32));
                    }
                }
                d.app.set_target_exited(match sink.analyzer.target_exit() {
                    Some(ExitStatus::Code(c)) => format!("exited with code {c}"),
                    Some(ExitStatus::Signal(sig)) => format!("killed by signal {sig}"),
                    None => "exited".into(),
                });
                d.take_log(&mut sink);
                d.app.on_snapshot(sink.analyzer.dashboard_snapshot(context::monotonic_ns()));
                d.draw()?;
            }
            key = next_terminal_event(&mut keys) => {
                let Some(d) = dash.as_mut() else { continue };
                match d.on_terminal_event(key)? {
                    tui::Action::Quit => break StopReason::Interrupted,
                    tui::Action::Reset => {
                        sink.analyzer.reset(context::monotonic_ns());
                        d.app.on_snapshot(sink.analyzer.dashboard_snapshot(context::monotonic_ns()));
                        d.draw()?;
                    }
                    tui::Action::None => {}
                }
            }
            line = next_output_line(&mut output_lines) => {
                if let (Some(d), Some(line)) = (dash.as_mut(), line) {
                    let ts = context::monotonic_ns().saturating_sub(sink.analyzer.start_ns());
                    d.app.push_log(tui::LogEntry { ts_ns: ts, kind: tui::LogKind::Process, text: format!("output: {line}") });
                }
            }
            _ = sigint.recv() => break StopReason::Interrupted,
            _ = sigterm.recv() => break StopReason::Terminated(libc::SIGTERM),
            _ = sighup.recv() => break StopReason::Terminated(libc::SIGHUP),
            _ = sleep_until(deadline) => break StopReason::Duration,
            _ = flush_tick.tick(), if sink.json.is_some() => sink.flush_json(),
            _ = tick.tick() => {
                sink.flush_json();
                if !target_done {
                    // Scanning every process's fds for held pipes is not for every tick.
                    let scan = last_pipe_scan.is_none_or(|t| t.elapsed() >= PIPE_SCAN_EVERY);
                    if scan {
                        last_pipe_scan = Some(std::time::Instant::now());
                    }
                    sink.catch_up(&mut events, &mut probe, &mut watch, scan)?;
                }
                if let Some(d) = dash.as_mut() {
                    // Once the target is gone the numbers are final: the snapshot made
                    // then stays, and the screen is only drawn again.
                    if !target_done {
                        d.take_log(&mut sink);
                        d.app.on_snapshot(sink.analyzer.dashboard_snapshot(context::monotonic_ns()));
                    }
                    d.draw()?;
                }
            }
        }
    };
    // Everything the kernel produced up to now, then the final aggregates.
    if !target_done {
        sink.catch_up(&mut events, &mut probe, &mut watch, true)?;
    } else {
        // Nothing is in progress in processes that are gone.
        sink.analyzer.on_in_progress(Vec::new());
    }
    // The cgroup's throttling counters are read once more, up to the end (or the
    // target's last moment).
    let go = sink.analyzer.target().go_version.is_some();
    if let Some(facts) = watch.final_facts(go) {
        sink.analyzer.on_system(facts);
    }
    let end_ns = context::monotonic_ns();
    drop(events);
    drop(probe);
    // The terminal is restored before anything else is printed.
    drop(dash);

    if let Some(pid) = launched_pid {
        if reason == StopReason::TargetExited || target_done {
            if let Some(status) = launch::reap(pid) {
                sink.analyzer
                    .on_target_exit(ExitStatus::from_wait_status(status as u32));
            }
        }
    }
    let snapshot = sink.analyzer.snapshot(end_ns);
    let summary_line = ndjson::summary_line(&snapshot);
    let summary = match (&header, &summary_line) {
        (Line::Header(h), Line::Summary(s)) => export::text::render(h, s),
        _ => String::new(),
    };
    // The NDJSON's last line first: a terminal that is gone (SIGHUP) fails the text's
    // write, and must not cost the file its summary.
    if let Some(w) = json.as_mut() {
        if let Err(e) = w.write(&summary_line).and_then(|()| w.flush()) {
            json_error.get_or_insert(e);
        }
    }
    let stdout_taken = crate::cli::json_to_stdout(cfg.json.as_deref());
    let written = if stdout_taken {
        std::io::stderr().write_all(summary.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(summary.as_bytes()).and_then(|()| out.flush())
    };
    // Nobody reads it any more (a closed pipe, a hung-up terminal): not an error.
    if let Err(e) = written {
        if !matches!(e.raw_os_error(), Some(libc::EPIPE | libc::EIO)) {
            return Err(e).context("write the summary");
        }
    }
    let mut perfetto_error = None;
    if let (Some(p), Line::Header(h), Line::Summary(s)) = (perfetto, &header, &summary_line) {
        perfetto_error = p.finish(h, s).err();
    }
    left_running.0 = None;
    let mut cut_short = false;
    if let Some(pid) = launched_pid {
        if reason != StopReason::TargetExited && !target_done {
            stop_launched(pid, &pidfd).await;
            cut_short = true;
        }
    }
    if let Some(e) = json_error {
        // `--json -` read by something that stopped reading (`| head -1`): it has what
        // it wanted, and that is no failure.
        if !(stdout_taken && e.kind() == std::io::ErrorKind::BrokenPipe) {
            let path = cfg
                .json
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            bail!("writing {path} failed: {}", launch::strip_os_error(&e));
        }
    }
    if let (Some(e), Some(path)) = (perfetto_error, &cfg.perfetto) {
        bail!(
            "writing {} failed: {}",
            path.display(),
            launch::strip_os_error(&e)
        );
    }
    Ok(match (launched_pid, snapshot.target_exit) {
        (Some(_), _) if cut_short => ExitCode::from(reason.exit_code_when_cut_short()),
        (Some(_), Some(ExitStatus::Code(c))) => ExitCode::from(c.clamp(0, 255) as u8),
        (Some(_), Some(ExitStatus::Signal(s))) => ExitCode::from((128 + s).clamp(0, 255) as u8),
        _ => ExitCode::SUCCESS,
    })
}

/// Reads the kernel's aggregates and the system facts into the analyzer.
fn refresh(probe: &mut Probe, analyzer: &mut Analyzer, watch: &mut SystemWatch) -> Result<()> {
    let now = context::monotonic_ns();
    analyzer.on_stats(probe.read_stats()?, probe.read_counters()?);
    // Exited threads' entries are read once more, then removed from the kernel's table.
    let exited = analyzer.take_exited_threads();
    analyzer.on_time_split(probe.read_thread_stats()?, probe.read_causes()?, now);
    analyzer.retire_threads(&exited);
    probe.remove_thread_stats(&exited);
    analyzer.on_poller(probe.read_poller()?);
    if tracee::is_alive(watch.pid) {
        let regs: Vec<(u32, u32, u32, String)> =
            context::epoll::registrations(context::procfs::proc_root(), watch.pid)
                .into_iter()
                .map(|r| (r.epfd, r.fd, r.events, r.kind))
                .collect();
        analyzer.on_epoll_registrations(watch.pid, &regs);
    }
    if analyzer.has_unknown_devices() {
        // Something was mounted since the table was read.
        if let Ok(m) = context::mounts::MountTable::read_live(watch.pid) {
            analyzer.on_mounts(m);
        }
    }
    let names = analyzer
        .busiest_threads(32)
        .into_iter()
        .filter_map(|(pid, tid)| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .ok()
                .map(|c| (tid, c.trim_end().to_string()))
        })
        .collect();
    analyzer.on_thread_names(names);
    let go = analyzer.target().go_version.is_some();
    if let Some(facts) = watch.facts(go) {
        analyzer.on_system(facts);
    }
    let calls = in_progress(probe, analyzer, watch.slow_ns);
    analyzer.on_in_progress(calls);
    Ok(())
}

/// Waits (a second at most) until the launched child waits in read() for its release:
/// marked before it gets there, that read would be taken for one of the target's calls.
fn wait_in_read(pid: u32) {
    let proc = context::procfs::proc_root();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while context::inflight::read_syscall(proc, pid, pid).map(|c| c.nr)
        != Some(tracer_common::nr::READ)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Most threads looked at per refresh: enough for any Go program, bounded for a runaway.
const IN_PROGRESS_MAX_THREADS: usize = 4096;

/// The calls the traced threads are in now, those in progress for `min_ns` or more, and
/// what /proc says they wait on. A thread that has not entered a syscall since tracing
/// began but is in one has been in it since before: its call is taken from /proc, and
/// its length is at least the trace's.
fn in_progress(probe: &Probe, analyzer: &Analyzer, min_ns: u64) -> Vec<InProgress> {
    use context::inflight;
    use tracer_common::{INFLIGHT_NR_NONE, MAX_SYSCALLS};
    let proc = context::procfs::proc_root();
    let now = context::monotonic_ns();
    let mut out = Vec::new();
    let mut looked = 0;
    // What /proc said of each call at the last refresh: a call that goes on is not
    // looked up again (a program with many parked threads would cost a file read each)
    // once /proc has seen it asleep. Seen on a CPU or in the run queue, as a call just
    // entered under load can be, /proc has neither its arguments nor where it sleeps.
    let known: std::collections::HashMap<(u32, u64), &InProgress> = analyzer
        .in_progress()
        .iter()
        .filter(|p| p.wchan.is_some())
        .map(|p| ((p.call.tid, p.call.start_ns), p))
        .collect();
    // Children seen but not followed are not traced: their threads have no slots.
    for pid in analyzer
        .live_pids()
        .into_iter()
        .filter(|p| probe.is_target(*p))
    {
        let Ok(tasks) = std::fs::read_dir(context::procfs::pid_path(proc, pid, "task")) else {
            continue;
        };
        for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            looked += 1;
            if looked > IN_PROGRESS_MAX_THREADS {
                return out;
            }
            let slot = probe.in_flight(tid);
            let mut p = match slot {
                Some(s) if s.nr < MAX_SYSCALLS => InProgress::from_slot(&s, pid, now),
                // Not seen entering a call since tracing began (a slot the scheduler
                // hooks started, or none at all).
                Some(s) if s.nr == INFLIGHT_NR_NONE && s.start_ns == 0 => {
                    InProgress::before_trace(tid, pid, analyzer.start_ns(), now)
                }
                None => InProgress::before_trace(tid, pid, analyzer.start_ns(), now),
                Some(_) => continue,
            };
            if p.call.duration_ns < min_ns {
                continue;
            }
            if let Some(k) = known
                .get(&(tid, p.call.start_ns))
                .filter(|k| k.began_before_trace == p.began_before_trace)
                .filter(|k| p.began_before_trace || k.call.nr == p.call.nr)
            {
                p.call.nr = k.call.nr;
                p.call.args = k.call.args;
                p.call.class = k.call.class;
                p.call.dev = k.call.dev;
                p.detail = k.detail.clone();
                p.wchan = k.wchan.clone();
                p.comm = k.comm.clone();
                if p.began_before_trace {
                    p.state = k.state;
                }
                out.push(p);
                continue;
            }
            // A call seen for the first time: what /proc says of it.
            let call = inflight::read_syscall(proc, pid, tid);
            if p.began_before_trace {
                let Some(c) = call else { continue };
                // It may have entered a call just now: then the next refresh has it.
                if probe.in_flight(tid).is_some_and(|s| s.nr < MAX_SYSCALLS) {
                    continue;
                }
                p.call.nr = c.nr;
                let state =
                    std::fs::read_to_string(context::procfs::task_path(proc, pid, tid, "stat"))
                        .ok()
                        .and_then(|s| tracee::parse_stat_state(&s));
                p.state = match state {
                    Some('R') => ThreadState::Running,
                    _ => ThreadState::Blocked,
                };
            }
            // /proc shows the arguments while the thread is still in the same call.
            if let Some(c) = call.filter(|c| c.nr == p.call.nr) {
                let w = inflight::classify(proc, pid, &c, analyzer.mounts());
                p.call.args = c.args;
                p.call.class = w.class;
                p.call.dev = w.dev;
                p.detail = w.detail;
            }
            if p.state == ThreadState::Blocked {
                p.wchan = inflight::wchan(proc, pid, tid);
            }
            p.comm = std::fs::read_to_string(context::procfs::task_path(proc, pid, tid, "comm"))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
            out.push(p);
        }
    }
    out
}

/// The target's system facts (cgroup, throttling, GOMAXPROCS, pressure), read on a
/// thread of their own. Reading them opens files the target controls (its cgroup files
/// through /proc/PID/root), and a read that never returns (a FUSE file the target
/// mounted in its own namespace) must not stop the event loop: the loop asks, and takes
/// what has arrived; a reader that stops answering leaves the facts as last read.
struct SystemWatch {
    pid: u32,
    /// Calls in progress this long or longer are looked at (the slow threshold).
    slow_ns: u64,
    /// `go` for each request: the target is a Go program (its GOMAXPROCS is read).
    requests: Option<std::sync::mpsc::SyncSender<bool>>,
    answers: std::sync::mpsc::Receiver<crate::analysis::SystemFacts>,
    /// When the unanswered request was made.
    pending: Option<std::time::Instant>,
    /// The reader's first answer, until the loop takes it.
    first: Option<crate::analysis::SystemFacts>,
    /// That the reader stopped answering was said.
    stuck_said: bool,
}

/// How long the end of a trace (and a launched command's first read) waits for facts.
const FACTS_WAIT: Duration = Duration::from_secs(1);
/// A reader that has not answered for this long is said to be stuck.
const FACTS_STUCK_AFTER: Duration = Duration::from_secs(2);

impl SystemWatch {
    /// Starts the reader; it reads the cgroup at once (a launched command's, before it
    /// runs: a short one may be gone before the loop's first look), waited for here
    /// for a second at most.
    fn new(pid: u32, slow_ns: u64) -> SystemWatch {
        SystemWatch::start(pid, slow_ns, move || {
            let mut reader = FactsReader::new(pid);
            move |go| reader.facts(go)
        })
    }

    /// The watch over the reader `make` builds on the watch's thread.
    fn start<R>(pid: u32, slow_ns: u64, make: impl FnOnce() -> R + Send + 'static) -> SystemWatch
    where
        R: FnMut(bool) -> crate::analysis::SystemFacts,
    {
        let (req_tx, req_rx) = std::sync::mpsc::sync_channel::<bool>(1);
        let (ans_tx, ans_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("gotrace-facts".into())
            .spawn(move || {
                let mut read = make();
                if ans_tx.send(read(false)).is_err() {
                    return;
                }
                for go in req_rx {
                    if ans_tx.send(read(go)).is_err() {
                        return;
                    }
                }
            });
        let mut w = SystemWatch {
            pid,
            slow_ns,
            requests: spawned.is_ok().then_some(req_tx),
            answers: ans_rx,
            pending: Some(std::time::Instant::now()),
            first: None,
            stuck_said: false,
        };
        if let Err(e) = spawned {
            eprintln!("gotrace: warning: cannot start the thread that reads the target's cgroup: {e}; those facts are off");
            w.stuck_said = true;
        } else if let Ok(f) = w.answers.recv_timeout(FACTS_WAIT) {
            w.pending = None;
            w.first = Some(f);
        }
        w
    }

    /// The newest facts that arrived since the last call (None: none yet), and a new
    /// request when none is out.
    fn facts(&mut self, go: bool) -> Option<crate::analysis::SystemFacts> {
        let mut newest = self.first.take();
        while let Ok(f) = self.answers.try_recv() {
            newest = Some(f);
            self.pending = None;
        }
        match self.pending {
            None => {
                self.ask(go);
            }
            Some(since) if since.elapsed() > FACTS_STUCK_AFTER => self.say_stuck(),
            Some(_) => {}
        }
        newest
    }

    /// The facts as they are now, for the end of the trace: asked for and waited for
    /// (a second or two at most). None when the reader does not answer.
    fn final_facts(&mut self, go: bool) -> Option<crate::analysis::SystemFacts> {
        let deadline = std::time::Instant::now() + 2 * FACTS_WAIT;
        // An answer to a request made before now is not the last word: ask again once
        // it is in.
        let mut asked_now = false;
        loop {
            if self.pending.is_none() {
                if !self.ask(go) {
                    return None;
                }
                asked_now = true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(f) => {
                    self.pending = None;
                    if asked_now {
                        return Some(f);
                    }
                }
                Err(_) => {
                    self.say_stuck();
                    return None;
                }
            }
        }
    }

    fn ask(&mut self, go: bool) -> bool {
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|r| r.try_send(go).is_ok());
        if sent {
            self.pending = Some(std::time::Instant::now());
        }
        sent
    }

    fn say_stuck(&mut self) {
        if !self.stuck_said {
            self.stuck_said = true;
            eprintln!("gotrace: warning: reading the target's cgroup and system facts has not finished for {} s (a file the target controls does not answer): they stay as last read", FACTS_STUCK_AFTER.as_secs());
        }
    }
}

/// Reads the system facts; lives on the SystemWatch's thread.
struct FactsReader {
    pid: u32,
    cgroup: Option<context::cgroup::CgroupInfo>,
    baseline: Option<context::cgroup::CpuThrottle>,
    /// The last reading: the cgroup is read through /proc/PID/root, gone with the process.
    last: Option<context::cgroup::CpuThrottle>,
    gomaxprocs: Option<u32>,
    gomaxprocs_reader: context::goprocs::GoMaxProcsReader,
    /// The cgroup's cpu.stat, open: readable after the process is gone.
    throttle: Option<context::cgroup::ThrottleReader>,
    /// The machine's CPU time when tracing began, for the steal share.
    cpu_ticks: Option<context::steal::CpuTicks>,
    /// PSI when tracing began, to count the stall time while tracing from.
    psi_baseline: context::pressure::PressureSet,
    /// The last PSI reading while the process lived.
    psi: Option<crate::analysis::Psi>,
    /// The target's cgroup files were refused (and that was said).
    cgroup_refused: bool,
}

/// Was this read refused because the file was not what the kernel makes (see
/// context::procfs::open_regular)?
fn refused_as_untrusted(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
    })
}

impl FactsReader {
    fn new(pid: u32) -> FactsReader {
        let mut w = FactsReader {
            pid,
            cgroup: None,
            baseline: None,
            last: None,
            gomaxprocs: None,
            gomaxprocs_reader: Default::default(),
            throttle: None,
            psi_baseline: context::pressure::read_pressure_live(pid),
            psi: None,
            cgroup_refused: false,
            cpu_ticks: context::steal::read_cpu_ticks(context::procfs::proc_root()),
        };
        w.psi = psi_facts(&w.psi_baseline, &w.psi_baseline);
        w.read_cgroup();
        w
    }

    fn read_cgroup(&mut self) {
        // An exited process is shown in the root cgroup (kernel/cgroup/cgroup.c,
        // cgroup_exit): keep what was read while it lived.
        if !tracee::is_alive(self.pid) {
            return;
        }
        let info = match context::cgroup::read_cgroup_live(self.pid) {
            Ok(info) => info,
            Err(e) => {
                // A file that is not what the kernel puts there (a FIFO, a device, a
                // huge file: the target can shadow its cgroup files in its own mount
                // namespace) turns the cgroup facts off, said once; tracing goes on.
                if refused_as_untrusted(&e) && !self.cgroup_refused {
                    self.cgroup_refused = true;
                    eprintln!(
                        "gotrace: warning: the target's cgroup facts are off: {}",
                        crate::export::text::terminal_safe(&format!("{e:#}"))
                    );
                }
                return;
            }
        };
        let moved = self
            .cgroup
            .as_ref()
            .is_none_or(|c| c.path != info.path || c.cpu_stat_path != info.cpu_stat_path);
        if moved {
            self.throttle = context::cgroup::ThrottleReader::open(&info).ok();
            self.baseline = self.throttle.as_ref().and_then(|t| t.read().ok());
            self.last = self.baseline;
        }
        self.cgroup = Some(info);
    }

    /// `go`: the target is a Go program (its GOMAXPROCS can be read).
    fn facts(&mut self, go: bool) -> crate::analysis::SystemFacts {
        use context::cgroup::CgroupVersion;
        self.read_cgroup();
        self.read_psi();
        if go && tracee::is_alive(self.pid) {
            // Keep the last value read while the process lived.
            if let Some(g) = self
                .gomaxprocs_reader
                .read(context::procfs::proc_root(), self.pid)
            {
                self.gomaxprocs = Some(g.value);
            }
        }
        let online = context::cgroup::online_cpus();
        let quota = self.cgroup.as_ref().and_then(|c| c.cpu_quota_cpus);
        let effective = quota.map(|q| q.min(online as f64)).unwrap_or(online as f64);
        let exceeds = self.gomaxprocs.is_some_and(|g| {
            matches!(
                context::goprocs::gomaxprocs_verdict(g, quota, online),
                context::goprocs::Verdict::ExceedsQuota { .. }
            )
        });
        if let Some(now) = self.throttle.as_ref().and_then(|t| t.read().ok()) {
            self.last = Some(now);
        }
        let cgroup = self.cgroup.as_ref().map(|c| {
            let now = self.last.unwrap_or_default();
            let base = self.baseline.unwrap_or_default();
            crate::analysis::CgroupFacts {
                version: if c.version == CgroupVersion::V1 { 1 } else { 2 },
                path: c.path.clone(),
                cpu_quota_cpus: c.cpu_quota_cpus,
                memory_limit: c.memory_limit,
                throttled_ns: now.throttled_ns.saturating_sub(base.throttled_ns),
                nr_throttled: now.nr_throttled.saturating_sub(base.nr_throttled),
            }
        });
        let cpu_steal = self.cpu_ticks.and_then(|base| {
            context::steal::read_cpu_ticks(context::procfs::proc_root())?.steal_since(&base)
        });
        crate::analysis::SystemFacts {
            cpu_steal,
            cgroup,
            gomaxprocs: self.gomaxprocs,
            effective_cpus: Some(effective),
            gomaxprocs_exceeds_quota: exceeds,
            psi: self.psi.clone(),
        }
    }

    /// PSI as it is now, while the process lives: an exited one is no longer in its
    /// cgroup, and what would be read is the system's.
    fn read_psi(&mut self) {
        if !tracee::is_alive(self.pid) {
            return;
        }
        let now = context::pressure::read_pressure_live(self.pid);
        if let Some(psi) = psi_facts(&now, &self.psi_baseline) {
            self.psi = Some(psi);
        }
    }
}

/// PSI facts from a reading, the stall times counted from `base` (a reading of the same
/// source when tracing began; from another source they are not known). None when the
/// reading has no resource at all (no PSI on this kernel).
fn psi_facts(
    now: &context::pressure::PressureSet,
    base: &context::pressure::PressureSet,
) -> Option<crate::analysis::Psi> {
    use context::pressure::Pressure;
    let same = now.source == base.source;
    let resource = |r: &Option<Pressure>, b: &Option<Pressure>| {
        let r = r.as_ref()?;
        let b = b.as_ref().filter(|_| same);
        // PSI totals are in µs.
        let stall = |now_us: u64, base_us: Option<u64>| {
            base_us.map(|b| now_us.saturating_sub(b).saturating_mul(1_000))
        };
        Some(crate::analysis::PsiResource {
            some_avg10: r.some.avg10,
            some_avg60: r.some.avg60,
            full_avg10: r.full.map(|f| f.avg10),
            full_avg60: r.full.map(|f| f.avg60),
            some_stall_ns: stall(r.some.total_us, b.map(|b| b.some.total_us)),
            full_stall_ns: r
                .full
                .and_then(|f| stall(f.total_us, b.and_then(|b| b.full).map(|bf| bf.total_us))),
        })
    };
    let psi = crate::analysis::Psi {
        source: now.source.clone(),
        cpu: resource(&now.cpu, &base.cpu),
        memory: resource(&now.memory, &base.memory),
        io: resource(&now.io, &base.io),
    };
    (psi.cpu.is_some() || psi.memory.is_some() || psi.io.is_some()).then_some(psi)
}

/// Asks /proc who holds the pipes of traced parents whose children exited: the fact
/// behind a hung os/exec Cmd.Wait. Only runs when there is such a parent.
fn check_pipes(analyzer: &mut Analyzer) {
    let readers = analyzer.hang_candidates();
    if readers.is_empty() {
        return;
    }
    let facts = context::pipes::foreign_writers(context::procfs::proc_root(), &readers)
        .into_iter()
        .map(|w| crate::analysis::PipeWriter {
            reader: w.reader,
            inode: w.inode,
            holder: w.holder,
            holder_command: w.holder_command,
            holder_ppid: w.holder_ppid,
        })
        .collect();
    analyzer.on_pipe_writers(facts);
}

/// Where decoded records go: the analyzer, and the NDJSON file when there is one.
struct Sink<'a> {
    analyzer: &'a mut Analyzer,
    json: Option<&'a mut ndjson::NdjsonWriter>,
    json_error: &'a mut Option<std::io::Error>,
    /// Notable events for the dashboard's log, when there is a dashboard.
    log: Option<Vec<tui::LogEntry>>,
    perfetto: Option<&'a mut export::perfetto::PerfettoWriter>,
    /// The calls in progress already logged as stuck (tid, entry time).
    stuck_logged: std::collections::HashSet<(u32, u64)>,
}

/// How often the NDJSON file is flushed (a flush with nothing buffered writes nothing).
const JSON_FLUSH_EVERY: Duration = Duration::from_millis(200);

/// How often the tick asks /proc who holds the pipes of a parent whose child exited.
const PIPE_SCAN_EVERY: Duration = Duration::from_secs(2);

impl Sink<'_> {
    /// Brings the analyzer up to date: the records waiting in the ring buffer, the
    /// kernel's aggregates and the system facts, /proc's pipe holders when `scan_pipes`,
    /// and the timeline's counters.
    fn catch_up(
        &mut self,
        events: &mut probe::EventReader,
        probe: &mut Probe,
        watch: &mut SystemWatch,
        scan_pipes: bool,
    ) -> Result<()> {
        events.drain(|b| self.record(b));
        if scan_pipes {
            check_pipes(self.analyzer);
        }
        refresh(probe, self.analyzer, watch)?;
        if let Some(p) = self.perfetto.as_deref_mut() {
            p.on_refresh(self.analyzer, context::monotonic_ns());
        }
        self.log_stuck_calls();
        Ok(())
    }

    /// A log line, once, for each call that has been in progress for a second.
    fn log_stuck_calls(&mut self) {
        let Some(log) = self.log.as_mut() else { return };
        let start = self.analyzer.start_ns();
        let go = self.analyzer.target().go_version.is_some();
        for p in self.analyzer.in_progress() {
            if !p.stuck(go) || !self.stuck_logged.insert((p.call.tid, p.call.start_ns)) {
                continue;
            }
            let line = ndjson::in_progress_json(p, start);
            log.push(tui::LogEntry {
                ts_ns: context::monotonic_ns().saturating_sub(start),
                kind: tui::LogKind::Syscall,
                text: format!(
                    "still in progress: {}",
                    export::text::in_progress_text(&line).trim_start()
                ),
            });
        }
    }

    fn record(&mut self, bytes: &[u8]) {
        let ev = match event::decode(bytes) {
            Ok(ev) => ev,
            Err(_) => {
                self.analyzer.on_bad_record();
                return;
            }
        };
        let start = self.analyzer.start_ns();
        let mut command = None;
        if let Event::Exec(p) = &ev {
            // The kernel read argv at exec time; /proc only when it had to cut it (the
            // process may be gone by now: short-lived children often are).
            let argv = if p.argv_truncated {
                Some(tracee::read_cmdline(p.tgid))
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| p.argv.clone())
            } else {
                p.argv.clone()
            };
            command = (!argv.is_empty()).then(|| argv.clone());
            self.analyzer.on_command(p.tgid, argv);
            if p.tgid == self.analyzer.target().pid {
                // The target ran a new program (a wrapper such as taskset or sh exec'd it).
                self.analyzer
                    .on_go_version(tracee::go_version(&tracee::exe_of(p.tgid)));
            }
        }
        let cause = self.analyzer.on_event(&ev).map(|c| c.to_string());
        if let Some(p) = self.perfetto.as_deref_mut() {
            p.on_event(&ev, start, cause.as_deref());
        }
        let line = match &ev {
            Event::Syscall(s) => Some(ndjson::syscall_line(s, start, cause)),
            Event::SignalGenerate(s) | Event::SignalDeliver(s) => ndjson::signal_line(s, start),
            Event::ChildExit(p) => Some(ndjson::child_exit_line(p, start)),
            Event::Wait(w) => ndjson::child_reaped_line(w, start),
            Event::Fork(p) if !p.thread => {
                Some(ndjson::process_line(ProcessEventKind::Fork, p, start, None))
            }
            Event::Exec(p) => Some(ndjson::process_line(
                ProcessEventKind::Exec,
                &p.as_proc(),
                start,
                command,
            )),
            Event::Exit(p) if p.group_dead => {
                Some(ndjson::process_line(ProcessEventKind::Exit, p, start, None))
            }
            _ => None,
        };
        if let (Some(log), Some(line)) = (self.log.as_mut(), line.as_ref()) {
            if let Some(e) = log_entry(line) {
                log.push(e);
            }
        }
        if let (Some(w), Some(line)) = (self.json.as_mut(), line) {
            if self.json_error.is_none() {
                if let Err(e) = w.write(&line) {
                    *self.json_error = Some(e);
                }
            }
        }
    }

    fn flush_json(&mut self) {
        if let Some(w) = self.json.as_mut() {
            if self.json_error.is_none() {
                if let Err(e) = w.flush() {
                    *self.json_error = Some(e);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Tracing stopped but the launched command still runs: it belongs to this session, so
/// it is asked to stop (SIGTERM), given a moment, and reaped.
async fn stop_launched(pid: u32, pidfd: &PidFd) {
    if !pidfd.has_exited() {
        // SAFETY: kill on our own child's pid, which cannot have been reused: we have not
        // reaped it.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let _ = tokio::time::timeout(Duration::from_secs(2), pidfd.exited()).await;
    }
    if launch::reap(pid).is_none() {
        eprintln!(
            "gotrace: the launched command (pid {pid}) did not stop on SIGTERM; leaving it running"
        );
    }
}

/// A launched command that an error return would leave running: stopped when dropped
/// (SIGTERM, two seconds, then SIGKILL) and reaped, unless emptied first.
struct LeftRunning(Option<u32>);

impl Drop for LeftRunning {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        // SAFETY: kill on our own unreaped child: its pid cannot have been reused.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let start = std::time::Instant::now();
        while launch::reap(pid).is_none() {
            if start.elapsed() > Duration::from_secs(2) {
                // SAFETY: as above.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                let mut status = 0;
                // SAFETY: waitpid on our own child with a valid status pointer.
                unsafe { libc::waitpid(pid as i32, &mut status, 0) };
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The dashboard: the terminal it owns, its state, keys, and the launched command's
/// output.
struct Dashboard {
    app: tui::App,
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    // Dropped last: restores the terminal.
    _guard: tui::TerminalGuard,
}

type OutputLines = tokio::io::Lines<tokio::io::BufReader<tokio::net::unix::pipe::Receiver>>;

/// Lines of the launched command's output, when it is captured.
fn output_lines(fd: Option<std::os::fd::OwnedFd>) -> Result<Option<OutputLines>> {
    use tokio::io::AsyncBufReadExt as _;
    let Some(fd) = fd else { return Ok(None) };
    let rx =
        tokio::net::unix::pipe::Receiver::from_owned_fd(fd).context("read the command's output")?;
    Ok(Some(tokio::io::BufReader::new(rx).lines()))
}

impl Dashboard {
    fn enter(refresh_hz: u32) -> Result<Dashboard> {
        tui::install_panic_hook();
        let (guard, terminal) = tui::TerminalGuard::enter()?;
        Ok(Dashboard {
            app: tui::App::new(refresh_hz),
            terminal,
            _guard: guard,
        })
    }

    fn draw(&mut self) -> Result<()> {
        let app = &self.app;
        self.terminal
            .draw(|f| tui::render(f, app))
            .context("draw the dashboard")?;
        Ok(())
    }

    fn take_log(&mut self, sink: &mut Sink<'_>) {
        if let Some(log) = sink.log.as_mut() {
            for e in log.drain(..) {
                self.app.push_log(e);
            }
        }
    }

    fn on_terminal_event(
        &mut self,
        ev: Option<std::io::Result<crossterm::event::Event>>,
    ) -> Result<tui::Action> {
        let Some(ev) = ev else {
            return Ok(tui::Action::None);
        };
        match ev.context("read the terminal")? {
            crossterm::event::Event::Key(k) => {
                let action = self.app.on_key(k);
                self.draw()?;
                Ok(action)
            }
            crossterm::event::Event::Resize(..) => {
                self.draw()?;
                Ok(tui::Action::None)
            }
            _ => Ok(tui::Action::None),
        }
    }
}

/// The next terminal event, or never when there is no dashboard.
async fn next_terminal_event(
    keys: &mut Option<crossterm::event::EventStream>,
) -> Option<std::io::Result<crossterm::event::Event>> {
    use futures_util::StreamExt as _;
    match keys {
        Some(k) => k.next().await,
        None => std::future::pending().await,
    }
}

/// The next line of the launched command's output, or never.
async fn next_output_line(lines: &mut Option<OutputLines>) -> Option<String> {
    let Some(l) = lines.as_mut() else {
        return std::future::pending().await;
    };
    match l.next_line().await {
        Ok(Some(line)) => Some(line),
        // The command closed its output: stop reading it.
        _ => {
            *lines = None;
            None
        }
    }
}

/// A dashboard log entry for an NDJSON event line.
fn log_entry(line: &Line) -> Option<tui::LogEntry> {
    use crate::export::schema::{ChildEventKind, SignalEventKind};
    let ts = |t: i64| u64::try_from(t).unwrap_or(0);
    Some(match line {
        // Parked runtime threads and the poller waiting for work are not news.
        Line::Syscall(c) if matches!(c.cause.as_deref(), Some("idle" | "netpoll")) => return None,
        Line::Syscall(c) => tui::LogEntry {
            ts_ns: ts(c.ts_ns),
            kind: tui::LogKind::Syscall,
            text: export::text::slow_call_text(c),
        },
        Line::Signal(sg) => {
            let what = match sg.event {
                SignalEventKind::Generate => format!(
                    "{} from {}[{}] to {}: {}",
                    sg.name,
                    sg.sender_comm.as_deref().unwrap_or("?"),
                    sg.sender_pid.unwrap_or(0),
                    sg.target_pid,
                    sg.result.as_deref().unwrap_or("?")
                ),
                SignalEventKind::Deliver => {
                    format!("{} delivered to tid {}", sg.name, sg.target_tid)
                }
            };
            tui::LogEntry {
                ts_ns: ts(sg.ts_ns),
                kind: tui::LogKind::Signal,
                text: what,
            }
        }
        Line::Process(p) => tui::LogEntry {
            ts_ns: ts(p.ts_ns),
            kind: tui::LogKind::Process,
            text: match (&p.command, p.exit_code, p.signal) {
                (Some(cmd), _, _) => format!("{:?} pid {}: {}", p.event, p.pid, cmd.join(" ")),
                (None, Some(c), _) => format!("{:?} pid {} ({}) code {c}", p.event, p.pid, p.comm),
                (None, None, Some(sig)) => {
                    format!("{:?} pid {} ({}) signal {sig}", p.event, p.pid, p.comm)
                }
                _ => format!("{:?} pid {} ({})", p.event, p.pid, p.comm),
            }
            .to_lowercase(),
        },
        Line::Child(c) => tui::LogEntry {
            ts_ns: ts(c.ts_ns),
            kind: tui::LogKind::Child,
            text: match c.event {
                ChildEventKind::Exit => format!(
                    "child pid {} ({}) of {} exited{}",
                    c.pid,
                    c.comm.as_deref().unwrap_or("?"),
                    c.parent,
                    c.disposition
                        .as_deref()
                        .filter(|d| *d != "normal")
                        .map(|d| format!(", parent SIGCHLD: {d}"))
                        .unwrap_or_default()
                ),
                ChildEventKind::Reaped => format!(
                    "child pid {} reaped by tid {} ({})",
                    c.pid,
                    c.reaper_tid.unwrap_or(0),
                    c.syscall.as_deref().unwrap_or("?")
                ),
            },
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::SystemFacts;

    /// Facts told apart by their GOMAXPROCS.
    fn facts(n: u32) -> SystemFacts {
        SystemFacts {
            gomaxprocs: Some(n),
            ..Default::default()
        }
    }

    #[test]
    fn a_reader_that_stops_answering_holds_up_neither_the_loop_nor_the_end() {
        // The reader answers its first read, then hangs as a read of a file the target
        // serves itself (FUSE in its own mount namespace) would.
        let (_keep, hang) = std::sync::mpsc::channel::<()>();
        let mut calls = 0;
        let mut w = SystemWatch::start(1, 0, move || {
            move |_go| {
                calls += 1;
                if calls > 1 {
                    let _ = hang.recv();
                }
                facts(calls)
            }
        });
        assert_eq!(w.facts(true).and_then(|f| f.gomaxprocs), Some(1));
        // Each refresh returns at once, with nothing new.
        for _ in 0..5 {
            let t = std::time::Instant::now();
            assert!(w.facts(true).is_none());
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "{:?}",
                t.elapsed()
            );
        }
        // The end waits a bounded time, then goes on with the facts as last read.
        let t = std::time::Instant::now();
        assert!(w.final_facts(true).is_none());
        let took = t.elapsed();
        assert!(took < 2 * FACTS_WAIT + Duration::from_secs(1), "{took:?}");
        assert!(w.stuck_said);
    }

    #[test]
    fn the_end_gets_a_reading_asked_for_at_the_end() {
        let mut calls = 0;
        let mut w = SystemWatch::start(1, 0, move || {
            move |_go| {
                calls += 1;
                facts(calls)
            }
        });
        // The first reading, then one asked for by this refresh, arriving in its time.
        assert_eq!(w.facts(true).and_then(|f| f.gomaxprocs), Some(1));
        // The end does not take that older answer: it asks again and waits for it.
        let last = w.final_facts(true).and_then(|f| f.gomaxprocs);
        assert_eq!(last, Some(3));
        assert!(!w.stuck_said);
    }

    #[test]
    fn psi_is_kept_as_numbers_with_the_stall_while_tracing() {
        use context::pressure::{parse_pressure, PressureSet};
        let set = |source: &str, cpu: &str, memory: Option<&str>| PressureSet {
            cpu: parse_pressure(cpu),
            memory: memory.and_then(parse_pressure),
            io: None,
            source: source.into(),
        };
        // cpu as before 5.13: no full line.
        let base = set(
            "cgroup:/app",
            "some avg10=1.00 avg60=0.50 avg300=0.10 total=1000\n",
            Some("some avg10=0.00 avg60=0.00 avg300=0.00 total=50\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=20\n"),
        );
        let now = set(
            "cgroup:/app",
            "some avg10=12.34 avg60=3.21 avg300=0.50 total=251000\n",
            Some("some avg10=4.26 avg60=2.44 avg300=1.50 total=3050\nfull avg10=3.67 avg60=2.23 avg300=1.35 total=1020\n"),
        );
        let psi = psi_facts(&now, &base).expect("PSI");
        assert_eq!(psi.source, "cgroup:/app");
        let cpu = psi.cpu.expect("cpu");
        assert_eq!((cpu.some_avg10, cpu.some_avg60), (12.34, 3.21));
        assert_eq!((cpu.full_avg10, cpu.full_avg60), (None, None));
        assert_eq!(
            (cpu.some_stall_ns, cpu.full_stall_ns),
            (Some(250_000_000), None)
        );
        let memory = psi.memory.expect("memory");
        assert_eq!(
            (memory.full_avg10, memory.full_avg60),
            (Some(3.67), Some(2.23))
        );
        assert_eq!(
            (memory.some_stall_ns, memory.full_stall_ns),
            (Some(3_000_000), Some(1_000_000))
        );
        assert_eq!(psi.io, None, "not reported");
        // Read from elsewhere than at the start (the system's): no stall time to give.
        let moved = PressureSet {
            source: "system".into(),
            ..now.clone()
        };
        let psi = psi_facts(&moved, &base).expect("PSI");
        assert_eq!(psi.cpu.and_then(|c| c.some_stall_ns), None);
        assert_eq!(psi.cpu.map(|c| c.some_avg10), Some(12.34));
        // No PSI on this kernel.
        assert_eq!(psi_facts(&set("system", "", None), &base), None);
    }
}
