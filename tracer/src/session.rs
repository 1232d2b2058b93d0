//! One tracing session: prepare the target, load the probe, stream events into the
//! analyzer until the target exits (or time runs out, or the user stops it), then print
//! the summary and finish the NDJSON file.
use std::{ffi::OsString, io::Write, process::ExitCode, time::Duration};

use anyhow::{bail, Context as _, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::{
    analysis::{Analyzer, ExitStatus, TargetInfo},
    cli::{Config, Display, TargetSpec},
    context,
    event::{self, Event},
    export::{
        self, ndjson,
        schema::{Line, ProcessEventKind},
    },
    harvest,
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
    if let TargetSpec::All(host) = &cfg.target {
        let host = host.clone();
        return rt.block_on(crate::hostwide::trace(cfg, host));
    }
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
        TargetSpec::All(_) => bail!("host-wide mode has no root target"),
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
pub(crate) struct CreatedFiles {
    paths: Vec<std::path::PathBuf>,
}

impl CreatedFiles {
    pub(crate) fn add(&mut self, path: Option<&std::path::Path>) {
        if let Some(p) = path.filter(|p| p.as_os_str() != "-") {
            self.paths.push(p.to_path_buf());
        }
    }

    pub(crate) fn keep(&mut self) {
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
pub(crate) fn open_json(cfg: &Config) -> Result<Option<ndjson::NdjsonWriter>> {
    let Some(path) = &cfg.json else {
        return Ok(None);
    };
    if path.as_os_str() == "-" {
        return Ok(Some(ndjson::NdjsonWriter::new(Box::new(std::io::stdout()))));
    }
    let file = export::create_output(path, cfg.force)?;
    Ok(Some(ndjson::NdjsonWriter::new(Box::new(file))))
}

/// The signals that end a trace with its summary: SIGINT (Ctrl-C), SIGTERM, and SIGHUP:
/// a closed terminal (or ssh session) ends the trace as SIGTERM does, with the summary,
/// the NDJSON's last line, and a launched command stopped.
pub(crate) fn end_signals() -> Result<(Signal, Signal, Signal)> {
    Ok((
        signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
        signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
        signal(SignalKind::hangup()).context("install the SIGHUP handler")?,
    ))
}

/// Loads and attaches the programs as `cfg` asks, and says which kernel features are
/// off, with the kernel's reason.
pub(crate) fn load_probe(cfg: &Config, follow: bool, hostwide: Option<u32>) -> Result<Probe> {
    let probe = Probe::load(&ProbeOptions {
        slow_ns: cfg.slow_ns,
        follow,
        ring_bytes: cfg.ring_bytes,
        stream_idle: cfg.stream_idle,
        stack_min_ns: if cfg.stacks {
            cfg.stack_min_ns
        } else {
            u64::MAX
        },
        hostwide,
    })?;
    for f in probe.features.iter().filter(|f| !f.on) {
        eprintln!(
            "gotrace: {}",
            export::text::feature_off_text(&f.name, &f.detail)
        );
    }
    Ok(probe)
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
    let mut pprof_file = match &cfg.pprof {
        Some(p) => Some(export::create_output(p, cfg.force)?),
        None => None,
    };
    created.add(cfg.pprof.as_deref());
    // Bound before anything is attached: an address in use fails here.
    let metrics = match cfg.prometheus {
        Some(addr) => Some(crate::metrics::MetricsServer::start(addr)?),
        None => None,
    };

    // Before anything is attached: from the banner on, a signal ends the trace with its
    // summary, even one that arrives while it starts.
    let (mut sigint, mut sigterm, mut sighup) = end_signals()?;
    let mut probe = load_probe(&cfg, cfg.follow, None)?;

    // The trace's time origin: before the target becomes one, so no event precedes it.
    let start_ns = context::monotonic_ns();
    let start_unix_ns = context::unix_ns();
    let dashboard = cfg.display == Display::Live;
    let mut output: Option<std::os::fd::OwnedFd> = None;
    // A launched command's mounts and cgroup are read before it runs: a short one may
    // be gone before the loop's first look.
    let mut early: Option<(
        context::watch::SystemWatch,
        Option<context::mounts::MountTable>,
    )> = None;
    let pidfd = match prepared {
        Prepared::Attach { tgid } => {
            let pidfd = PidFd::open(tgid)?;
            probe.add_target(tgid)?;
            set_go_layout(&mut probe, tgid, info.go_version.as_deref(), false);
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
                context::watch::SystemWatch::new(pid, cfg.slow_ns),
                context::mounts::MountTable::read_live(pid).ok(),
            ));
            set_go_layout(&mut probe, pid, info.go_version.as_deref(), true);
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
    if let Some(m) = &metrics {
        eprintln!(
            "gotrace: serving metrics at http://{}/metrics",
            m.local_addr()
        );
    }
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
    if let Some(m) = &metrics {
        m.publish(analyzer.metrics_view(start_ns));
    }
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
            context::watch::SystemWatch::new(analyzer.target().pid, cfg.slow_ns),
            context::mounts::MountTable::read_live(analyzer.target().pid).ok(),
        ),
    };
    if let Some(m) = mounts {
        analyzer.on_mounts(m);
    }
    let mut events = probe.take_events()?;
    let deadline = cfg.duration.map(|d| tokio::time::Instant::now() + d);
    let mut dash = if dashboard {
        Some(tui::dashboard::Dashboard::enter(cfg.refresh_hz)?)
    } else {
        None
    };
    let mut keys = dash.as_ref().map(|_| crossterm::event::EventStream::new());
    let mut output_lines = tui::dashboard::output_lines(output.take())?;
    let mut tick = tokio::time::interval(match &dash {
        Some(d) => d.app.refresh_interval(),
        None => Duration::from_secs(1),
    });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Event lines reach the file within this, so a gotrace killed outright loses little.
    let mut flush_tick = tokio::time::interval(JSON_FLUSH_EVERY);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    // The programs' code (for stacks, and the goroutine layout of followed children): a
    // launched command's once it has exec'd (its exec record asks), an attached
    // process's now.
    let mut code_map = context::gocode::CodeMap::default();
    if !analyzer.target().launched {
        let pid = analyzer.target().pid;
        code_map.request(pid);
        if cfg.follow {
            for d in tracee::descendants(pid) {
                code_map.request(d);
            }
        }
    }
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
        code: code_map,
        stacks: cfg.stacks,
        held: std::collections::VecDeque::new(),
        profile: cfg
            .pprof
            .as_ref()
            .map(|_| export::pprof::Collector::default()),
        stuck_stacks: context::gocode::StuckStacks::default(),
    };
    let mut target_done = false;
    let mut last_pipe_scan: Option<std::time::Instant> = None;
    let reason = loop {
        tokio::select! {
            r = events.wait() => {
                r.context("wait for the ring buffer")?;
                events.drain(|b| sink.record(b));
                // Held records go on as soon as their code is read, not at the next
                // tick: a second's backlog handled at once would leave the ring buffer
                // undrained meanwhile.
                if !sink.held.is_empty() {
                    sink.take_code_news(&mut probe);
                }
                if let Some(d) = dash.as_mut() {
                    d.take_log(&mut sink.log);
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
                d.app.set_target_exited(crate::present::exit_text(sink.analyzer.target_exit()));
                d.take_log(&mut sink.log);
                d.app.on_snapshot(sink.analyzer.dashboard_snapshot(context::monotonic_ns()));
                d.draw()?;
            }
            key = tui::dashboard::next_terminal_event(&mut keys) => {
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
            line = tui::dashboard::next_output_line(&mut output_lines) => {
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
                    if let Some(m) = &metrics {
                        m.publish(sink.analyzer.metrics_view(context::monotonic_ns()));
                    }
                }
                if let Some(d) = dash.as_mut() {
                    // Once the target is gone the numbers are final: the snapshot made
                    // then stays, and the screen is only drawn again.
                    if !target_done {
                        d.take_log(&mut sink.log);
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
    sink.finish_code(&mut probe);
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
    let profile = sink.profile.take().map(|p| {
        let target = sink.analyzer.target();
        let meta = export::pprof::ProfileMeta {
            start_unix_ns: i64::try_from(start_unix_ns).unwrap_or(i64::MAX),
            duration_ns: i64::try_from(end_ns.saturating_sub(start_ns)).unwrap_or(i64::MAX),
            comment: Some(format!(
                "gotrace: syscall time by stack of {}",
                target.command_line()
            )),
            binary: target.command.first().cloned(),
        };
        (meta, p.samples())
    });
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
    let mut pprof_error = None;
    if let (Some(file), Some((meta, samples))) = (pprof_file.take(), profile) {
        pprof_error = export::pprof::write_pprof(file, &meta, &samples).err();
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
    if let (Some(e), Some(path)) = (pprof_error, &cfg.pprof) {
        bail!("writing {} failed: {e:#}", path.display());
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
fn refresh(
    probe: &mut Probe,
    analyzer: &mut Analyzer,
    watch: &mut context::watch::SystemWatch,
) -> Result<()> {
    let pid = watch.pid;
    // Exited threads' entries are read once more, then removed from the kernel's table.
    let exited = analyzer.take_exited_threads();
    let thread_stats = probe.read_thread_stats()?;
    let thread_names = harvest::busiest(&thread_stats, 32)
        .into_iter()
        .filter_map(|(pid, tid)| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .ok()
                .map(|c| (tid, c.trim_end().to_string()))
        })
        .collect();
    // Something was mounted since the table was read.
    let mounts = analyzer
        .has_unknown_devices()
        .then(|| context::mounts::MountTable::read_live(pid).ok())
        .flatten();
    let in_progress = context::inflight::calls_in_progress(
        &context::inflight::Before {
            in_progress: analyzer.in_progress(),
            traced_pids: analyzer
                .live_pids()
                .into_iter()
                .filter(|p| probe.is_target(*p))
                .collect(),
            start_ns: analyzer.start_ns(),
            mounts: mounts.as_ref().or(analyzer.mounts()),
        },
        |tid| probe.in_flight(tid),
        watch.slow_ns,
    );
    let go = analyzer.target().go_version.is_some();
    analyzer.harvest(harvest::Harvest {
        now_ns: context::monotonic_ns(),
        stats: probe.read_stats()?,
        counters: probe.read_counters()?,
        thread_stats,
        causes: probe.read_causes()?,
        exited: exited.clone(),
        poller: probe.read_poller()?,
        epoll_registrations: epoll_registrations(pid),
        mounts,
        thread_names,
        system: watch.facts(go),
        in_progress,
    });
    probe.remove_thread_stats(&exited);
    Ok(())
}

/// What /proc says is registered with the target's epoll instances, while it lives. A
/// process that is exiting has closed its fds before it is a zombie: a reading taken then
/// says nothing is registered, so it counts only if the process still lives after it.
fn epoll_registrations(pid: u32) -> Option<(u32, Vec<harvest::EpollRegistration>)> {
    if !tracee::is_alive(pid) {
        return None;
    }
    let regs = context::epoll::registrations(context::procfs::proc_root(), pid)
        .into_iter()
        .map(|r| (r.epfd, r.fd, r.events, r.kind))
        .collect();
    tracee::is_alive(pid).then_some((pid, regs))
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

/// Tells the programs where a Go program of `version` keeps its goroutine ids (the
/// per-version table's answer, at once; the background load of the process's code then
/// sets the DWARF's, and says so when neither knows this version). `before_exec`: the
/// program is the one a launched command is about to exec, so the layout outlives that
/// exec (any other exec removes it in the kernel).
pub(crate) fn set_go_layout(
    probe: &mut Probe,
    tgid: u32,
    version: Option<&str>,
    before_exec: bool,
) {
    let layout = version
        .map(gotrace_model::goruntime::layout)
        .and_then(Result::ok)
        .map(|l| tracer_common::GoRuntime {
            keep_at_exec: before_exec as u32,
            ..l
        });
    if let Err(e) = probe.set_go_runtime(tgid, layout) {
        eprintln!("gotrace: no goroutine ids for pid {tgid}: {e:#}");
    }
}

/// Tells the programs where a process whose code was just read keeps its goroutine ids
/// (or that it has none they know); a warning when there is none for a Go program.
pub(crate) fn apply_layout(probe: &mut Probe, news: &context::gocode::LoadNews) -> Option<String> {
    let (layout, why) = match &news.layout {
        Some(Ok(l)) => (Some(*l), None),
        Some(Err(why)) => (None, Some(why.clone())),
        // A load that could not read the program, or was given up, learnt nothing: the
        // layout set by its version when it was launched or attached stays. (After any
        // other exec there is none: the kernel removed it at the exec.)
        None if news.error.is_some() => return None,
        None => (None, None),
    };
    let set = probe.set_go_runtime(news.tgid, layout).err();
    why.or_else(|| set.map(|e| format!("{e:#}")))
        .map(|why| format!("no goroutine ids for pid {}: {why}", news.tgid))
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
    /// The traced programs' code, for stacks.
    code: context::gocode::CodeMap,
    /// Stacks are taken (not --no-stacks).
    stacks: bool,
    /// Records held, in order, while the code of a process whose call carries a stack is
    /// being read.
    held: std::collections::VecDeque<Event>,
    /// Syscall time by stack, for --pprof.
    profile: Option<export::pprof::Collector>,
    /// Stacks of calls in progress, by (tid, entry time): unwound once per call, off
    /// the loop.
    stuck_stacks: context::gocode::StuckStacks,
}

/// Records held at most while a process's code loads.
const HELD_MAX: usize = 65_536;

/// How long an exec's full argv (when the kernel's copy was cut) is waited for.
pub(crate) const CMDLINE_WAIT: Duration = Duration::from_millis(100);

/// How long the end of a trace waits for the stacks of calls in progress.
const UNWIND_WAIT: Duration = Duration::from_secs(1);

/// How often the NDJSON file is flushed (a flush with nothing buffered writes nothing).
pub(crate) const JSON_FLUSH_EVERY: Duration = Duration::from_millis(200);

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
        watch: &mut context::watch::SystemWatch,
        scan_pipes: bool,
    ) -> Result<()> {
        events.drain(|b| self.record(b));
        self.take_code_news(probe);
        if scan_pipes {
            check_pipes(self.analyzer);
        }
        refresh(probe, self.analyzer, watch)?;
        self.stuck_call_stacks();
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
        // A call whose stack waits for its program's code holds the stream (in order)
        // until that code is read, or given up.
        if !self.held.is_empty() || self.needs_code(&ev) {
            self.held.push_back(ev);
            // A flood while a load is slow: the oldest go on with their stacks unnamed
            // (their addresses stay), rather than memory growing without bound.
            while self.held.len() > HELD_MAX {
                if let Some(ev) = self.held.pop_front() {
                    self.handle(ev);
                }
            }
            return;
        }
        self.handle(ev);
    }

    fn needs_code(&self, ev: &Event) -> bool {
        matches!(ev, Event::Syscall(s) if !s.user_stack.pcs.is_empty() && self.code.is_loading(s.tgid))
    }

    /// Takes the code loads that finished: the programs learn where each Go program
    /// keeps its goroutine ids, and the held records go on.
    fn take_code_news(&mut self, probe: &mut Probe) {
        self.code.poll();
        for news in std::mem::take(&mut self.code.news) {
            if let Some(w) = apply_layout(probe, &news) {
                self.warn(w);
            }
            // The target's program, read after an exec (a load given up says nothing).
            if news.tgid == self.analyzer.target().pid
                && (news.go_version.is_some() || news.error.is_none())
            {
                self.analyzer.on_go_version(news.go_version.clone());
            }
            if let Some(e) = news.error {
                self.warn(format!("no symbols for pid {}: {e}", news.tgid));
            }
        }
        while let Some(front) = self.held.front() {
            if self.needs_code(front) {
                break;
            }
            if let Some(ev) = self.held.pop_front() {
                self.handle(ev);
            }
        }
    }

    /// At the end: waits (up to the load deadline) for the code still being read, then
    /// lets every held record through.
    fn finish_code(&mut self, probe: &mut Probe) {
        self.code.wait_loads(context::gocode::LOAD_DEADLINE);
        self.take_code_news(probe);
        while let Some(ev) = self.held.pop_front() {
            self.handle(ev);
        }
        // The unwinds this starts, and those already running, are waited for a moment:
        // the summary names the stuck calls' code.
        self.stuck_call_stacks();
        self.stuck_stacks.wait(UNWIND_WAIT);
        self.stuck_call_stacks();
    }

    /// A warning: on the dashboard's log, or on stderr.
    fn warn(&mut self, text: String) {
        let text = export::text::terminal_safe(&text).into_owned();
        match self.log.as_mut() {
            Some(log) => log.push(tui::LogEntry {
                ts_ns: context::monotonic_ns().saturating_sub(self.analyzer.start_ns()),
                kind: tui::LogKind::Warning,
                text,
            }),
            None => eprintln!("gotrace: {text}"),
        }
    }

    /// The stacks of the calls in progress for at least the slow threshold, unwound once
    /// per call from where /proc says the thread is, and given to the analyzer.
    fn stuck_call_stacks(&mut self) {
        if !self.stacks {
            return;
        }
        let mut stacks = Vec::new();
        let mut keep = std::collections::HashSet::new();
        for p in self.analyzer.in_progress() {
            let key = (p.call.tid, p.call.start_ns);
            keep.insert(key);
            // Once the process's code is known (until then, asked again next time).
            if let Some(code) = self.code.code(p.call.tgid) {
                if let Some(f) = self.stuck_stacks.get(key, p.call.tgid, &code) {
                    stacks.push((key, f.to_vec()));
                }
            }
        }
        self.stuck_stacks.retain(&keep);
        self.analyzer.on_in_progress_stacks(stacks);
    }

    fn handle(&mut self, mut ev: Event) {
        match &mut ev {
            Event::Syscall(s) => self.code.symbolize(s),
            Event::Exec(p) => self.code.request(p.tgid),
            Event::Exit(p) if p.group_dead => self.code.forget(p.tgid),
            _ => {}
        }
        let start = self.analyzer.start_ns();
        let mut command = None;
        if let Event::Exec(p) = &ev {
            // The kernel read argv at exec time; /proc only when it had to cut it (the
            // process may be gone by now: short-lived children often are).
            // Read on a thread of its own, and not waited for long: the process can
            // hold its cmdline up (see `tracee::within`).
            let argv = exec_argv(p);
            command = (!argv.is_empty()).then(|| argv.clone());
            self.analyzer.on_command(p.tgid, argv);
            // When the target runs a new program (a wrapper such as taskset or sh
            // exec'd it), its Go version comes with the load of its code just asked
            // for (`take_code_news`), read off the loop.
        }
        let cause = self.analyzer.on_event(&ev);
        if let (Some(profile), Event::Syscall(s)) = (self.profile.as_mut(), &ev) {
            profile.add(s, cause.as_ref());
        }
        let cause = cause.map(|c| c.to_string());
        if let Some(p) = self.perfetto.as_deref_mut() {
            p.on_event(&ev, start, cause.as_deref());
        }
        let line = event_line(&ev, start, cause, command);
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

/// An exec's argv: the kernel's copy, read at exec time; /proc only when the kernel had
/// to cut it (the process may be gone by now: short-lived children often are). Read on
/// a thread of its own, and not waited for long: the process can hold its cmdline up
/// (see `tracee::within`).
pub(crate) fn exec_argv(p: &event::ExecEvent) -> Vec<String> {
    if p.argv_truncated {
        let tgid = p.tgid;
        tracee::within(CMDLINE_WAIT, move || tracee::read_cmdline(tgid))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| p.argv.clone())
    } else {
        p.argv.clone()
    }
}

/// The NDJSON line of an event, if it has one: `cause` is a syscall's, `command` an
/// exec's argv.
pub(crate) fn event_line(
    ev: &Event,
    start: u64,
    cause: Option<String>,
    command: Option<Vec<String>>,
) -> Option<Line> {
    match ev {
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
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Tracing stopped but the launched command still runs: it belongs to this session, so
/// it is asked to stop (SIGTERM), given a moment, and reaped.
async fn stop_launched(pid: u32, pidfd: &PidFd) {
    if !pidfd.has_exited() {
        // Our own child's pid, which cannot have been reused: we have not reaped it.
        launch::signal(pid, rustix::process::Signal::TERM);
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
        // Our own unreaped child: its pid cannot have been reused.
        launch::signal(pid, rustix::process::Signal::TERM);
        let start = std::time::Instant::now();
        while launch::reap(pid).is_none() {
            if start.elapsed() > Duration::from_secs(2) {
                launch::signal(pid, rustix::process::Signal::KILL);
                launch::reap_blocking(pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A dashboard log entry for an NDJSON event line.
fn log_entry(line: &Line) -> Option<tui::LogEntry> {
    use crate::{
        export::schema::{ChildEventKind, SignalEventKind},
        present,
    };
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
            text: match (p.event, &p.command) {
                (ProcessEventKind::Exit, _) => format!(
                    "pid {} ({}) {}",
                    p.pid,
                    p.comm,
                    present::exit_text(ndjson::exit_status(p.exit_code, p.signal))
                ),
                (ProcessEventKind::Fork, _) => format!("fork pid {} ({})", p.pid, p.comm),
                (ProcessEventKind::Exec, Some(cmd)) => {
                    format!("exec pid {}: {}", p.pid, cmd.join(" "))
                }
                (ProcessEventKind::Exec, None) => format!("exec pid {} ({})", p.pid, p.comm),
            },
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
