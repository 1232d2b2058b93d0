//! The target's system facts (cgroup, throttling, GOMAXPROCS, pressure) for the
//! session, read on a thread of their own: reading them opens files the target controls,
//! and a read that never returns must not stop the event loop.
use std::time::Duration;

use crate::{analysis::SystemFacts, context, tracee};

/// The target's system facts (cgroup, throttling, GOMAXPROCS, pressure), read on a
/// thread of their own. Reading them opens files the target controls (its cgroup files
/// through /proc/PID/root), and a read that never returns (a FUSE file the target
/// mounted in its own namespace) must not stop the event loop: the loop asks, and takes
/// what has arrived; a reader that stops answering leaves the facts as last read.
pub struct SystemWatch {
    pub pid: u32,
    /// Calls in progress this long or longer are looked at (the slow threshold).
    pub slow_ns: u64,
    /// `go` for each request: the target is a Go program (its GOMAXPROCS is read).
    requests: Option<std::sync::mpsc::SyncSender<bool>>,
    answers: std::sync::mpsc::Receiver<SystemFacts>,
    /// When the unanswered request was made.
    pending: Option<std::time::Instant>,
    /// The reader's first answer, until the loop takes it.
    first: Option<SystemFacts>,
    /// That the reader stopped answering was said.
    stuck_said: bool,
    /// Readings are asked for at most this often (`facts` may be called more often).
    every: Duration,
    /// When the last reading was asked for.
    asked_at: Option<std::time::Instant>,
}

/// How long the end of a trace (and a launched command's first read) waits for facts.
const FACTS_WAIT: Duration = Duration::from_secs(1);
/// A reader that has not answered for this long is said to be stuck.
const FACTS_STUCK_AFTER: Duration = Duration::from_secs(2);

impl SystemWatch {
    /// Starts the reader; it reads the cgroup at once (a launched command's, before it
    /// runs: a short one may be gone before the loop's first look), waited for here
    /// for a second at most.
    pub fn new(pid: u32, slow_ns: u64) -> SystemWatch {
        SystemWatch::start(pid, slow_ns, true, move || {
            let mut reader = FactsReader::new(pid);
            move |go| reader.facts(go)
        })
    }

    /// The same without waiting for the first reading, and reading at most once every
    /// `every` (host-wide mode watches hundreds of processes: each reading opens a
    /// process's cgroup, mount and pressure files).
    pub fn spawn(pid: u32, slow_ns: u64, every: Duration) -> SystemWatch {
        let mut w = SystemWatch::start(pid, slow_ns, false, move || {
            let mut reader = FactsReader::new(pid);
            move |go| reader.facts(go)
        });
        w.every = every;
        w.asked_at = Some(std::time::Instant::now());
        w
    }

    /// The watch over the reader `make` builds on the watch's thread; `wait`: the first
    /// reading is waited for (a second at most).
    fn start<R>(
        pid: u32,
        slow_ns: u64,
        wait: bool,
        make: impl FnOnce() -> R + Send + 'static,
    ) -> SystemWatch
    where
        R: FnMut(bool) -> SystemFacts,
    {
        let (req_tx, req_rx) = std::sync::mpsc::sync_channel::<bool>(1);
        let (ans_tx, ans_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("gotrace-facts".into())
            .stack_size(256 * 1024)
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
            every: Duration::ZERO,
            asked_at: None,
        };
        if let Err(e) = spawned {
            eprintln!("gotrace: warning: cannot start the thread that reads the target's cgroup: {e}; those facts are off");
            w.stuck_said = true;
        } else if !wait {
        } else if let Ok(f) = w.answers.recv_timeout(FACTS_WAIT) {
            w.pending = None;
            w.first = Some(f);
        }
        w
    }

    /// The newest facts that arrived since the last call (None: none yet), and a new
    /// request when none is out.
    pub fn facts(&mut self, go: bool) -> Option<SystemFacts> {
        let mut newest = self.first.take();
        while let Ok(f) = self.answers.try_recv() {
            newest = Some(f);
            self.pending = None;
        }
        match self.pending {
            None if self.asked_at.is_some_and(|t| t.elapsed() < self.every) => {}
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
    pub fn final_facts(&mut self, go: bool) -> Option<SystemFacts> {
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
            self.asked_at = self.pending;
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
        // Exiting while it was read: its root (and so its cgroup files) may have gone
        // half way, leaving a limit unread. What was read while it lived stands.
        if !tracee::is_alive(self.pid) {
            return;
        }
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
    fn facts(&mut self, go: bool) -> SystemFacts {
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
        SystemFacts {
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

#[cfg(test)]
mod tests {
    use super::*;
    use SystemFacts;

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
        let mut w = SystemWatch::start(1, 0, true, move || {
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
        let mut w = SystemWatch::start(1, 0, true, move || {
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
