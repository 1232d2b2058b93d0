//! Host-wide mode (`--all`): every Go process on the machine, each with an analyzer of
//! its own. The processes running at start are found by a scan of /proc, those that
//! exec a Go program later from the kernel's exec records; each is checked off the
//! event loop (`tracee::discover`). The kernel keeps every process's aggregates apart
//! (PROC_SYSCALLS, CAUSES by tgid); one read of the maps per tick is split among the
//! analyzers. A process that exits keeps its metrics for `--forget-after`, then the
//! kernel's entries for it are removed; its summary stays for the end of the trace.
use std::{
    collections::{BTreeMap, HashSet},
    io::Write,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{
    analysis::{Analyzer, TargetInfo},
    cli::{Config, Display, HostWide},
    context,
    event::{self, Event},
    export::{
        self, ndjson,
        schema::{HostProcess, Hostwide, Line},
    },
    harvest,
    probe::{self, Probe},
    session::{self, CreatedFiles},
    tracee::{
        self,
        discover::{self, Discovery, Found},
    },
    tui::{
        dashboard::{next_terminal_event, Dashboard},
        hosts::{HostAction, HostHeader, Hosts},
    },
};

/// How long the start waits for the checks of the processes running then.
const SCAN_WAIT: Duration = Duration::from_secs(10);
/// How often the kernel's aggregates are read and the metrics published.
const TICK: Duration = Duration::from_secs(1);
/// How often newly found processes are taken in (exec records ask for checks).
const PICKUP_EVERY: Duration = Duration::from_millis(20);
/// Exited processes whose summaries are kept for the end, at most.
const EXITED_KEPT: usize = 1024;
/// How often each process's cgroup, GOMAXPROCS and pressure are read.
const FACTS_EVERY: Duration = Duration::from_secs(5);
/// How long a process's mount table is waited for (it is read from its /proc).
const MOUNTS_WAIT: Duration = Duration::from_millis(200);

/// One traced process.
struct Traced {
    analyzer: Analyzer,
    /// Its cgroup, GOMAXPROCS and pressure, read on a thread of their own; dropped once
    /// the process is gone.
    watch: Option<context::watch::SystemWatch>,
    /// When it exited (or stopped running Go).
    exited_at: Option<Instant>,
    /// Its kernel entries were removed and its metrics dropped (`--forget-after`).
    forgotten: bool,
}

/// The processes of a host-wide trace.
struct Host {
    procs: BTreeMap<u32, Traced>,
    /// Exited processes replaced by a new process with their pid, oldest first.
    past: Vec<Traced>,
    /// Summaries dropped past EXITED_KEPT.
    not_kept: u64,
    /// Go processes found when every slot was taken: (pid, start time), each once.
    untraced: HashSet<(u32, u64)>,
    /// Those of them that may still run, asked about again when a slot frees.
    waiting: Vec<u32>,
    max: u32,
    forget_after: Duration,
    start_ns: u64,
    slow_ns: u64,
    thresholds: crate::analysis::Thresholds,
    features: Vec<crate::analysis::KernelFeature>,
    code: context::gocode::CodeMap,
    counters: harvest::KernelCounters,
    bad_records: u64,
    /// Warnings held while the dashboard owns the terminal, printed after it.
    held_warnings: Option<Vec<String>>,
    /// Checks were asked for since the last look at their answers (a check can be done
    /// before the loop looks: `Discovery::pending` no longer counts it).
    asked: bool,
}

impl Host {
    /// A warning: on stderr, or after the dashboard.
    fn warn(&mut self, text: String) {
        let text = export::text::terminal_safe(&text).into_owned();
        match self.held_warnings.as_mut() {
            Some(held) => held.push(text),
            None => eprintln!("gotrace: {text}"),
        }
    }

    /// The rows of the dashboard's process list, and the facts above it.
    fn rows(&self) -> (Vec<crate::analysis::HostRow>, HostHeader) {
        let now = context::monotonic_ns();
        let rows = self
            .procs
            .values()
            .filter(|t| !t.forgotten)
            .map(|t| {
                let mut r = t.analyzer.host_row(now);
                r.exited |= t.exited_at.is_some();
                r
            })
            .collect();
        let header = HostHeader {
            traced: self.live() as u64,
            untraced: self.untraced.len() as u64,
            lost_records: self.counters.lost_records,
            cgroup: None,
            duration_ns: now.saturating_sub(self.start_ns),
        };
        (rows, header)
    }

    fn live(&self) -> usize {
        self.procs
            .values()
            .filter(|t| t.exited_at.is_none())
            .count()
    }

    /// Takes in a process found to be Go: traced when a slot is free, counted if not.
    fn take(&mut self, f: Found, probe: &mut Probe) {
        if let Some(t) = self.procs.get(&f.pid) {
            if t.exited_at.is_none() {
                return;
            }
            // A new process with a traced one's pid: the old one's kernel entries go
            // (its last second of counts with them, when it was not read yet).
            probe.forget_process(f.pid);
            if let Some(old) = self.procs.remove(&f.pid) {
                self.past.push(old);
            }
        }
        if self.live() >= self.max as usize {
            self.untraced.insert((f.pid, f.start_time));
            if !self.waiting.contains(&f.pid) {
                self.waiting.push(f.pid);
            }
            return;
        }
        if let Err(e) = probe.add_target(f.pid) {
            self.warn(format!("cannot trace pid {}: {e:#}", f.pid));
            return;
        }
        session::set_go_layout(probe, f.pid, Some(&f.go_version), false);
        self.code.request(f.pid);
        let pid = f.pid;
        let command = tracee::within(session::CMDLINE_WAIT, move || tracee::read_cmdline(pid))
            .unwrap_or_default();
        let mut analyzer = Analyzer::new(
            TargetInfo {
                pid,
                command,
                go_version: Some(f.go_version),
                launched: false,
            },
            self.start_ns,
        );
        analyzer.set_thresholds(self.thresholds);
        analyzer.on_kernel_features(self.features.clone());
        if let Some(Ok(m)) = tracee::within(MOUNTS_WAIT, move || {
            context::mounts::MountTable::read_live(pid)
        }) {
            analyzer.on_mounts(m);
        }
        self.procs.insert(
            pid,
            Traced {
                analyzer,
                watch: Some(context::watch::SystemWatch::spawn(
                    pid,
                    self.slow_ns,
                    FACTS_EVERY,
                )),
                exited_at: None,
                forgotten: false,
            },
        );
    }

    /// The process `tgid` is gone, or no longer runs Go: it stops being traced.
    fn ended(&mut self, tgid: u32, probe: &mut Probe) {
        if let Some(t) = self.procs.get_mut(&tgid) {
            if t.exited_at.is_none() {
                t.exited_at = Some(Instant::now());
                probe.remove_target(tgid);
                self.code.forget(tgid);
            }
        }
    }

    /// The analyzer an event belongs to.
    fn owner(&self, ev: &Event) -> Option<u32> {
        let tgid = match ev {
            Event::Syscall(s) => s.tgid,
            Event::Fork(p) | Event::Exit(p) => p.tgid,
            Event::Exec(e) => e.tgid,
            Event::ChildExit(p) => p.parent_tgid,
            Event::SignalGenerate(s) => {
                if self.procs.contains_key(&s.target_tgid) {
                    s.target_tgid
                } else {
                    s.sender_tgid
                }
            }
            Event::SignalDeliver(s) => s.target_tgid,
            Event::Wait(w) => w.tgid,
            Event::EpollCtl(e) => e.tgid,
            Event::Eventfd { tgid, .. } => *tgid,
            Event::Candidate { .. } => return None,
        };
        self.procs.contains_key(&tgid).then_some(tgid)
    }

    /// One record from the kernel.
    fn record(
        &mut self,
        bytes: &[u8],
        probe: &mut Probe,
        discovery: &mut Discovery,
        json: &mut Json,
    ) {
        let mut ev = match event::decode(bytes) {
            Ok(ev) => ev,
            Err(_) => {
                self.bad_records += 1;
                return;
            }
        };
        if let Event::Candidate { tgid } = ev {
            discovery.request(tgid);
            self.asked = true;
            return;
        }
        let Some(tgid) = self.owner(&ev) else { return };
        let mut command = None;
        match &mut ev {
            Event::Syscall(s) => self.code.symbolize(s),
            // Its new program is read (and, if it is not Go, it stops being traced:
            // see `take_code_news`).
            Event::Exec(p) => {
                self.code.request(p.tgid);
                let argv = session::exec_argv(p);
                command = (!argv.is_empty()).then(|| argv.clone());
                if let Some(t) = self.procs.get_mut(&tgid) {
                    t.analyzer.on_command(p.tgid, argv);
                }
            }
            _ => {}
        }
        let start = self.start_ns;
        let Some(t) = self.procs.get_mut(&tgid) else {
            return;
        };
        let cause = t.analyzer.on_event(&ev).map(|c| c.to_string());
        if let Event::Exit(p) = &ev {
            if p.group_dead && p.tgid == tgid {
                self.ended(tgid, probe);
            }
        }
        if let Some(line) = session::event_line(&ev, start, cause, command) {
            json.write(&line);
        }
    }

    /// Code loads that finished: goroutine layouts, and processes whose new program is
    /// not Go.
    fn take_code_news(&mut self, probe: &mut Probe) {
        self.code.poll();
        for news in std::mem::take(&mut self.code.news) {
            if let Some(w) = session::apply_layout(probe, &news) {
                self.warn(w);
            }
            if news.go_version.is_none() && news.error.is_none() {
                // It exec'd a program that is not Go.
                self.ended(news.tgid, probe);
            } else if let Some(t) = self.procs.get_mut(&news.tgid) {
                if news.go_version.is_some() {
                    t.analyzer.on_go_version(news.go_version);
                }
            }
        }
    }

    /// Reads the kernel's aggregates once and gives each process its part; processes
    /// gone without a word (their exit record lost) are found here too; those past
    /// `--forget-after` are forgotten.
    fn refresh(&mut self, probe: &mut Probe) -> Result<()> {
        for (&pid, t) in self.procs.iter_mut() {
            if t.exited_at.is_none() && !tracee::is_alive(pid) {
                t.exited_at = Some(Instant::now());
            }
        }
        let gone: Vec<u32> = self
            .procs
            .iter()
            .filter(|(_, t)| t.exited_at.is_some() && t.watch.is_some())
            .map(|(&pid, _)| pid)
            .collect();
        for pid in gone {
            probe.remove_target(pid);
            self.code.forget(pid);
        }
        let thread_stats = probe.read_thread_stats()?;
        let thread_names = harvest::busiest(&thread_stats, 32)
            .into_iter()
            .filter_map(|(pid, tid)| {
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                    .ok()
                    .map(|c| (tid, c.trim_end().to_string()))
            })
            .collect();
        self.counters = probe.read_counters()?;
        let all = harvest::Harvest {
            now_ns: context::monotonic_ns(),
            stats: probe.read_stats()?,
            counters: self.counters,
            thread_stats,
            causes: probe.read_causes()?,
            exited: Vec::new(),
            poller: probe.read_poller()?,
            epoll_registrations: None,
            mounts: None,
            thread_names,
            system: None,
            in_progress: Vec::new(),
        };
        let mut parts = all.into_processes();
        let mut exited_threads = Vec::new();
        for (&pid, t) in self.procs.iter_mut().filter(|(_, t)| !t.forgotten) {
            let mut h = parts.take(pid);
            h.exited = t.analyzer.take_exited_threads();
            exited_threads.extend_from_slice(&h.exited);
            if let Some(w) = t.watch.as_mut() {
                h.system = w.facts(true);
            }
            if t.exited_at.is_none() {
                h.in_progress = context::inflight::calls_in_progress(
                    &context::inflight::Before {
                        in_progress: t.analyzer.in_progress(),
                        traced_pids: vec![pid],
                        start_ns: self.start_ns,
                        mounts: t.analyzer.mounts(),
                    },
                    |tid| probe.in_flight(tid),
                    self.slow_ns,
                );
            }
            t.analyzer.harvest(h);
            if t.exited_at.is_some() {
                // Its last facts are in: the reader's thread ends.
                t.watch = None;
            }
        }
        probe.remove_thread_stats(&exited_threads);
        let forget: Vec<u32> = self
            .procs
            .iter()
            .filter(|(_, t)| !t.forgotten)
            .filter(|(_, t)| {
                t.exited_at
                    .is_some_and(|e| e.elapsed() >= self.forget_after)
            })
            .map(|(&pid, _)| pid)
            .collect();
        for pid in forget {
            probe.forget_process(pid);
            if let Some(t) = self.procs.get_mut(&pid) {
                t.forgotten = true;
            }
        }
        self.bound_kept();
        Ok(())
    }

    /// Go processes left without a slot are checked again (and taken) once slots free.
    fn retry_waiting(&mut self, discovery: &mut Discovery) {
        let free = (self.max as usize).saturating_sub(self.live());
        if free == 0 || self.waiting.is_empty() {
            return;
        }
        let n = free.min(self.waiting.len());
        for pid in self.waiting.drain(..n) {
            discovery.request(pid);
        }
        self.asked = true;
    }

    /// Keeps at most EXITED_KEPT exited processes' summaries (the latest to exit).
    fn bound_kept(&mut self) {
        let forgotten = self.procs.values().filter(|t| t.forgotten).count() + self.past.len();
        let mut over = forgotten.saturating_sub(EXITED_KEPT);
        while over > 0 && !self.past.is_empty() {
            self.past.remove(0);
            self.not_kept += 1;
            over -= 1;
        }
        if over > 0 {
            let mut oldest: Vec<(Instant, u32)> = self
                .procs
                .iter()
                .filter(|(_, t)| t.forgotten)
                .filter_map(|(&pid, t)| Some((t.exited_at?, pid)))
                .collect();
            oldest.sort();
            for (_, pid) in oldest.into_iter().take(over) {
                self.procs.remove(&pid);
                self.not_kept += 1;
            }
        }
    }

    /// What `/metrics` shows now.
    fn metrics_view(&self) -> export::prometheus::MetricsView {
        let now = context::monotonic_ns();
        export::prometheus::MetricsView {
            processes: self
                .procs
                .values()
                .filter(|t| !t.forgotten)
                .map(|t| t.analyzer.metrics(now))
                .collect(),
            lost_records: self.counters.lost_records,
            slot_collisions: self.counters.slot_collisions,
            traced: self.live() as u64,
            untraced: self.untraced.len() as u64,
        }
    }

    /// The end of the trace: every process's summary, by syscall time.
    fn hostwide(&self, end_ns: u64, cgroup: Option<String>) -> Hostwide {
        let mut processes: Vec<HostProcess> = self
            .past
            .iter()
            .chain(self.procs.values())
            .filter_map(|t| {
                let Line::Summary(s) = ndjson::summary_line(&t.analyzer.snapshot(end_ns)) else {
                    return None;
                };
                Some(HostProcess {
                    pid: t.analyzer.target().pid,
                    command: t.analyzer.target().command.clone(),
                    exited: t.exited_at.is_some(),
                    summary: *s,
                })
            })
            .collect();
        processes.sort_by_key(|p| std::cmp::Reverse(p.summary.total_ns));
        let traced = processes.len() as u64 + self.not_kept;
        Hostwide {
            duration_ns: end_ns.saturating_sub(self.start_ns),
            traced,
            exited: processes.iter().filter(|p| p.exited).count() as u64 + self.not_kept,
            untraced: self.untraced.len() as u64,
            not_kept: self.not_kept,
            cgroup,
            lost_records: self.counters.lost_records,
            calls_not_counted: self.counters.proc_stats_full,
            bad_records: self.bad_records,
            processes,
        }
    }
}

/// Gives the dashboard the processes as they are now (and the opened one's snapshot),
/// and draws it.
fn show(d: &mut Dashboard<Hosts>, host: &Host, cgroup: Option<&str>) -> Result<()> {
    let (rows, mut header) = host.rows();
    header.cgroup = cgroup.map(str::to_string);
    d.app.on_rows(rows, header);
    if let Some(t) = d.app.opened().and_then(|pid| host.procs.get(&pid)) {
        d.app
            .on_snapshot(t.analyzer.dashboard_snapshot(context::monotonic_ns()));
    }
    d.draw()
}

/// The NDJSON file, when there is one; its first error is kept.
struct Json {
    writer: Option<ndjson::NdjsonWriter>,
    error: Option<std::io::Error>,
}

impl Json {
    fn write(&mut self, line: &Line) {
        if let (Some(w), None) = (self.writer.as_mut(), self.error.as_ref()) {
            if let Err(e) = w.write(line) {
                self.error = Some(e);
            }
        }
    }

    fn flush(&mut self) {
        if let (Some(w), None) = (self.writer.as_mut(), self.error.as_ref()) {
            if let Err(e) = w.flush() {
                self.error = Some(e);
            }
        }
    }
}

/// Runs a host-wide trace to its end (Ctrl-C, a signal, or `--duration`).
pub async fn trace(cfg: Config, hw: HostWide) -> Result<ExitCode> {
    probe::preflight()?;
    let filter = hw
        .cgroup
        .as_deref()
        .map(discover::CgroupFilter::resolve)
        .transpose()?;
    let mut created = CreatedFiles::default();
    let mut json = Json {
        writer: session::open_json(&cfg)?,
        error: None,
    };
    if json.writer.is_some() {
        created.add(cfg.json.as_deref());
    }
    let metrics = match cfg.prometheus {
        Some(addr) => Some(crate::metrics::MetricsServer::start(addr)?),
        None => None,
    };
    let (mut sigint, mut sigterm, mut sighup) = session::end_signals()?;
    let mut probe = session::load_probe(&cfg, false, Some(hw.max_processes))?;
    let start_ns = context::monotonic_ns();
    let start_unix_ns = context::unix_ns();
    // Execs are reported from here on: a process that starts during the scan is found
    // either way.
    let mut discovery = Discovery::new(filter.clone());
    let own = std::process::id();
    for pid in discover::all_pids().into_iter().filter(|&p| p != own) {
        discovery.request(pid);
    }
    discovery.wait(SCAN_WAIT);
    let mut host = Host {
        procs: BTreeMap::new(),
        past: Vec::new(),
        not_kept: 0,
        untraced: HashSet::new(),
        waiting: Vec::new(),
        max: hw.max_processes,
        forget_after: hw.forget_after,
        start_ns,
        slow_ns: cfg.slow_ns,
        thresholds: cfg.thresholds,
        features: probe.features.clone(),
        code: context::gocode::CodeMap::default(),
        counters: harvest::KernelCounters::default(),
        bad_records: 0,
        held_warnings: None,
        asked: false,
    };
    for f in discovery.poll() {
        host.take(f, &mut probe);
    }
    if let Some(m) = &metrics {
        m.publish(host.metrics_view());
        eprintln!(
            "gotrace: serving metrics at http://{}/metrics",
            m.local_addr()
        );
    }
    let cgroup = filter.as_ref().map(|f| f.display());
    eprintln!(
        "gotrace: tracing every Go process{} ({} now), attached in {} ms; Ctrl-C to stop",
        cgroup
            .as_deref()
            .map(|c| format!(" in cgroup {}", export::text::terminal_safe(c)))
            .unwrap_or_default(),
        host.live(),
        probe.attach_time.as_millis()
    );
    created.keep();
    let facts = ndjson::HeaderFacts {
        kernel_release: context::kernel_release(),
        start_unix_ns,
        slow_threshold_ns: cfg.slow_ns,
        follow: false,
        features: probe.features.clone(),
    };
    let header = ndjson::header_line(
        &TargetInfo {
            pid: 0,
            command: vec!["--all".into()],
            go_version: None,
            launched: false,
        },
        &facts,
    );
    json.write(&header);
    json.flush();

    let mut events = probe.take_events()?;
    let deadline = cfg.duration.map(|d| tokio::time::Instant::now() + d);
    let mut dash = if cfg.display == Display::Live {
        host.held_warnings = Some(Vec::new());
        let mut d = Dashboard::with(Hosts::new(1))?;
        let (rows, mut header) = host.rows();
        header.cgroup = cgroup.clone();
        d.app.on_rows(rows, header);
        d.draw()?;
        Some(d)
    } else {
        None
    };
    let mut keys = dash.as_ref().map(|_| crossterm::event::EventStream::new());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut pickup = tokio::time::interval(PICKUP_EVERY);
    pickup.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut flush_tick = tokio::time::interval(session::JSON_FLUSH_EVERY);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            r = events.wait() => {
                r.context("wait for the ring buffer")?;
                events.drain(|b| host.record(b, &mut probe, &mut discovery, &mut json));
            }
            _ = pickup.tick(), if host.asked || discovery.pending() > 0 => {
                // Checks still running are looked at again on the next pickup tick.
                host.asked = discovery.pending() > 0;
                let found = discovery.poll();
                let any = !found.is_empty();
                for f in found {
                    host.take(f, &mut probe);
                }
                if any {
                    if let Some(m) = &metrics {
                        m.publish(host.metrics_view());
                    }
                }
            }
            _ = tick.tick() => {
                for f in discovery.poll() {
                    host.take(f, &mut probe);
                }
                events.drain(|b| host.record(b, &mut probe, &mut discovery, &mut json));
                host.take_code_news(&mut probe);
                host.refresh(&mut probe)?;
                host.retry_waiting(&mut discovery);
                if let Some(m) = &metrics {
                    m.publish(host.metrics_view());
                }
                json.flush();
                if let Some(d) = dash.as_mut() {
                    show(d, &host, cgroup.as_deref())?;
                }
            }
            key = next_terminal_event(&mut keys) => {
                let Some(d) = dash.as_mut() else { continue };
                let opened = d.app.opened();
                match d.on_terminal_event(key)? {
                    HostAction::Quit => break,
                    HostAction::Reset(pid) => {
                        if let Some(t) = host.procs.get_mut(&pid) {
                            t.analyzer.reset(context::monotonic_ns());
                        }
                        show(d, &host, cgroup.as_deref())?;
                    }
                    HostAction::None => {
                        if d.app.opened() != opened {
                            show(d, &host, cgroup.as_deref())?;
                        }
                    }
                }
            }
            _ = flush_tick.tick(), if json.writer.is_some() => json.flush(),
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
            _ = session::sleep_until(deadline) => break,
        }
    }
    events.drain(|b| host.record(b, &mut probe, &mut discovery, &mut json));
    host.code.wait_loads(context::gocode::LOAD_DEADLINE);
    host.take_code_news(&mut probe);
    host.refresh(&mut probe)?;
    let end_ns = context::monotonic_ns();
    drop(events);
    drop(probe);
    // The terminal is restored before anything else is printed.
    drop(dash);
    for w in host.held_warnings.take().unwrap_or_default() {
        eprintln!("gotrace: {w}");
    }

    let hostwide = host.hostwide(end_ns, cgroup);
    let text = match &header {
        Line::Header(h) => export::text::render_hostwide(h, &hostwide),
        _ => String::new(),
    };
    json.write(&Line::Hostwide(Box::new(hostwide)));
    json.flush();
    let stdout_taken = crate::cli::json_to_stdout(cfg.json.as_deref());
    let written = if stdout_taken {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    if let Err(e) = written {
        if !matches!(e.raw_os_error(), Some(libc::EPIPE | libc::EIO)) {
            return Err(e).context("write the summary");
        }
    }
    if let Some(e) = json.error {
        if !(stdout_taken && e.kind() == std::io::ErrorKind::BrokenPipe) {
            let path = cfg
                .json
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            bail!(
                "writing {path} failed: {}",
                crate::tracee::launch::strip_os_error(&e)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
