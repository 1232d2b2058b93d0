//! How gotrace words things for people: durations, counts, rates, signal names, exit
//! statuses, anomalies, pressure and the poller. The text summary and the dashboard both
//! say these through here, from the model's own types, so one function words each thing
//! and the two read alike. (The summary renders from the NDJSON types, as `report` does
//! for a saved trace; it converts them back to these types first, see `export::ndjson`.)
use std::{collections::BTreeMap, fmt::Write as _};

use crate::analysis::{poller::PollerSummary, Anomaly, ExitStatus, Psi};

/// A duration for people: "512 ns", "12.3 µs", "1.20 ms", "3.04 s", "2m05s".
pub fn format_ns(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else if ns < 60_000_000_000 {
        format!("{:.2} s", f / 1e9)
    } else {
        let s = ns / 1_000_000_000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A count with thousands separators: 1234567 -> "1,234,567".
pub fn format_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Events per second over a duration, rounded to 0.1; 0 over no time.
pub fn per_sec(n: u64, duration_ns: u64) -> f64 {
    if duration_ns == 0 {
        return 0.0;
    }
    (n as f64 * 1e9 / duration_ns as f64 * 10.0).round() / 10.0
}

/// The highest signal number (`_NSIG`, include/uapi/asm-generic/signal.h); 32 and up are
/// the real-time signals, numbered as the kernel numbers them (glibc keeps 32 and 33 for
/// itself and calls 34 SIGRTMIN).
const SIGRTMAX: i32 = 64;

/// "SIGKILL", "SIGRT34"; "signal 99" for a number no signal has.
pub fn signal_name(sig: i32) -> String {
    // Linux's numbering on x86 and arm64 (include/uapi/asm-generic/signal.h).
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let named = usize::try_from(sig)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| NAMES.get(i));
    match named {
        Some(n) => (*n).to_string(),
        None if (32..=SIGRTMAX).contains(&sig) => format!("SIGRT{sig}"),
        None => format!("signal {sig}"),
    }
}

/// How a process ended: "exited with code 0", "killed by SIGKILL"; "exited" when it is
/// gone but how is not known (it was not ours to wait for, or a trace left it out).
pub fn exit_text(status: Option<ExitStatus>) -> String {
    match status {
        Some(ExitStatus::Code(c)) => format!("exited with code {c}"),
        Some(ExitStatus::Signal(s)) => format!("killed by {}", signal_name(s)),
        None => "exited".into(),
    }
}

/// What an anomaly means, in one sentence a user can act on.
pub fn anomaly_message(a: &Anomaly) -> String {
    match a {
        Anomaly::Coalesced { parent, exits, coalesced } => format!(
            "{coalesced} SIGCHLD coalesced: {exits} children of pid {parent} exited but it was signalled {} time{}; code that reaps one child per SIGCHLD misses the rest (reap in a loop until wait says none are left)",
            exits - coalesced,
            if exits - coalesced == 1 { "" } else { "s" }
        ),
        Anomaly::Ignored { parent, children } => format!(
            "pid {parent} ignores SIGCHLD (SIG_IGN): {children} child{} auto-reaped by the kernel, no SIGCHLD sent, and wait calls fail with ECHILD",
            if *children == 1 { " was" } else { "ren were" }
        ),
        Anomaly::Undelivered { parent, count } => format!(
            "{count} SIGCHLD queued for pid {parent} never delivered (blocked, or no thread could take it)"
        ),
        Anomaly::Unreaped { pid, parent, comm, age_ns } => format!(
            "child pid {pid} ({comm}) exited {} ago and was never reaped by pid {parent}: a zombie",
            format_ns(*age_ns)
        ),
        Anomaly::SlowReap { parent, count, pid, comm, latency_ns } => {
            if *count == 1 {
                format!("child pid {pid} ({comm}) was reaped by pid {parent} {} after it exited", format_ns(*latency_ns))
            } else {
                format!(
                    "{count} children of pid {parent} were reaped late, the slowest (pid {pid}, {comm}) {} after it exited",
                    format_ns(*latency_ns)
                )
            }
        }
        Anomaly::PipeHeld { reader, inode, holder, holder_command, exited_child } => {
            let child = exited_child
                .as_ref()
                .map(|(p, c)| format!(" after its child pid {p} ({c}) exited"))
                .unwrap_or_default();
            format!(
                "pid {reader} waits on pipe:[{inode}]{child}, but pid {holder} ({holder_command}) still holds it open for writing: an os/exec Cmd.Wait will not return until that process exits or closes it"
            )
        }
    }
}

/// PSI in one line: "cpu some 5.6% · memory some 4.3%, full 3.7% · io some 0.6% (avg10,
/// cgroup:/app); stalled while tracing: cpu 1.20 s · memory 12.0 ms". `full` is shown
/// where it is not zero, the stall time where it is known and not zero.
pub fn pressure_text(p: &Psi) -> String {
    let resources = [("cpu", &p.cpu), ("memory", &p.memory), ("io", &p.io)];
    let averages: Vec<String> = resources
        .iter()
        .filter_map(|(name, r)| {
            let r = r.as_ref()?;
            let full = r
                .full_avg10
                .filter(|f| *f > 0.0)
                .map(|f| format!(", full {f:.1}%"))
                .unwrap_or_default();
            Some(format!("{name} some {:.1}%{full}", r.some_avg10))
        })
        .collect();
    if averages.is_empty() {
        return format!("not reported ({})", p.source);
    }
    let stalls: Vec<String> = resources
        .iter()
        .filter_map(|(name, r)| {
            let ns = r.as_ref()?.some_stall_ns.filter(|ns| *ns > 0)?;
            Some(format!("{name} {}", format_ns(ns)))
        })
        .collect();
    let mut out = format!("{} (avg10, {})", averages.join(" · "), p.source);
    if !stalls.is_empty() {
        let _ = write!(out, "; stalled while tracing: {}", stalls.join(" · "));
    }
    out
}

/// One line per epoll instance (the first `max_epoll`) and one for its registered fds,
/// the netpoll wakeups, one per io_uring opcode (the first `max_ops`) and per ring.
pub fn poller_lines(p: &PollerSummary, max_epoll: usize, max_ops: usize) -> Vec<String> {
    let mut out = Vec::new();
    for e in p.epoll.iter().take(max_epoll) {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &e.fds {
            *kinds.entry(f.kind.as_str()).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        out.push(format!(
            "epoll fd {} (pid {}): {} waits ({} polls) · {} ready, {} timed out · {} events · blocked {} (p50 {}, p99 {})",
            e.epfd,
            e.pid,
            format_count(e.waits),
            format_count(e.polls),
            format_count(e.ready),
            format_count(e.timeouts),
            format_count(e.events),
            format_ns(e.blocked_ns),
            format_ns(e.p50_ns),
            format_ns(e.p99_ns),
        ));
        // On a line of its own: the counts above grow, and a narrow pane cuts a line.
        out.push(format!(
            "  fds: {}",
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            }
        ));
    }
    if p.wakeups > 0 {
        out.push(format!(
            "netpoll wakeups (eventfd writes): {}",
            format_count(p.wakeups)
        ));
    }
    for op in p.uring_ops.iter().take(max_ops) {
        out.push(format!(
            "io_uring {:<12} {:>10} ops {:>6} errors · p50 {} · p99 {} · max {}",
            op.name,
            format_count(op.count),
            format_count(op.errors),
            format_ns(op.p50_ns),
            format_ns(op.p99_ns),
            format_ns(op.max_ns)
        ));
    }
    for r in &p.rings {
        out.push(format!(
            "io_uring ring (pid {}): {} submitted, {} completed, max queue depth {}",
            r.tgid, r.submits, r.completes, r.max_in_flight
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{
        poller::{EpollRow, PollerKind, RawRing, RegisteredFd, UringOpRow},
        PsiResource,
    };

    #[test]
    fn durations_change_unit_at_each_boundary() {
        assert_eq!(format_ns(0), "0 ns");
        assert_eq!(format_ns(999), "999 ns");
        assert_eq!(format_ns(1_000), "1.0 µs");
        assert_eq!(format_ns(12_345), "12.3 µs");
        assert_eq!(format_ns(999_949), "999.9 µs");
        assert_eq!(format_ns(1_000_000), "1.00 ms");
        assert_eq!(format_ns(1_204_000), "1.20 ms");
        assert_eq!(format_ns(999_994_999), "999.99 ms");
        assert_eq!(format_ns(1_000_000_000), "1.00 s");
        assert_eq!(format_ns(3_040_000_000), "3.04 s");
        assert_eq!(format_ns(59_990_000_000), "59.99 s");
        assert_eq!(format_ns(60_000_000_000), "1m00s");
        assert_eq!(format_ns(125_000_000_000), "2m05s");
        assert_eq!(
            format_ns(125_999_999_999),
            "2m05s",
            "minutes cut, not rounded"
        );
        assert_eq!(format_ns(3_600_000_000_000), "60m00s");
    }

    #[test]
    fn counts_get_a_separator_every_three_digits() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(12_345), "12,345");
        assert_eq!(format_count(123_456), "123,456");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn rates_are_rounded_to_a_tenth_and_zero_over_no_time() {
        assert_eq!(per_sec(0, 0), 0.0);
        assert_eq!(per_sec(5, 0), 0.0);
        assert_eq!(per_sec(10, 1_000_000_000), 10.0);
        assert_eq!(per_sec(1, 3_000_000_000), 0.3);
        assert_eq!(per_sec(3, 2_000_000_000), 1.5);
    }

    #[test]
    fn signals_are_named_and_unknown_numbers_said_as_numbers() {
        assert_eq!(signal_name(1), "SIGHUP");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(17), "SIGCHLD");
        assert_eq!(signal_name(23), "SIGURG");
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(32), "SIGRT32");
        assert_eq!(signal_name(34), "SIGRT34");
        assert_eq!(signal_name(64), "SIGRT64");
        assert_eq!(signal_name(65), "signal 65");
        assert_eq!(signal_name(0), "signal 0");
        assert_eq!(signal_name(-1), "signal -1");
    }

    #[test]
    fn every_exit_status_has_one_wording() {
        assert_eq!(exit_text(Some(ExitStatus::Code(0))), "exited with code 0");
        assert_eq!(exit_text(Some(ExitStatus::Code(7))), "exited with code 7");
        assert_eq!(
            exit_text(Some(ExitStatus::Code(255))),
            "exited with code 255"
        );
        assert_eq!(exit_text(Some(ExitStatus::Signal(9))), "killed by SIGKILL");
        assert_eq!(exit_text(Some(ExitStatus::Signal(15))), "killed by SIGTERM");
        assert_eq!(exit_text(Some(ExitStatus::Signal(34))), "killed by SIGRT34");
        assert_eq!(
            exit_text(Some(ExitStatus::Signal(99))),
            "killed by signal 99"
        );
        assert_eq!(exit_text(None), "exited");
    }

    #[test]
    fn anomalies_read_as_sentences() {
        let say = |a: Anomaly| anomaly_message(&a);
        assert_eq!(
            say(Anomaly::Coalesced { parent: 10, exits: 5, coalesced: 4 }),
            "4 SIGCHLD coalesced: 5 children of pid 10 exited but it was signalled 1 time; code that reaps one child per SIGCHLD misses the rest (reap in a loop until wait says none are left)"
        );
        assert!(say(Anomaly::Coalesced {
            parent: 10,
            exits: 5,
            coalesced: 2
        })
        .contains("signalled 3 times;"));
        assert_eq!(
            say(Anomaly::Ignored { parent: 10, children: 1 }),
            "pid 10 ignores SIGCHLD (SIG_IGN): 1 child was auto-reaped by the kernel, no SIGCHLD sent, and wait calls fail with ECHILD"
        );
        assert!(say(Anomaly::Ignored {
            parent: 10,
            children: 3
        })
        .contains("3 children were auto-reaped"));
        assert_eq!(
            say(Anomaly::Undelivered {
                parent: 10,
                count: 2
            }),
            "2 SIGCHLD queued for pid 10 never delivered (blocked, or no thread could take it)"
        );
        assert_eq!(
            say(Anomaly::Unreaped {
                pid: 11,
                parent: 10,
                comm: "git".into(),
                age_ns: 7_000_000_000
            }),
            "child pid 11 (git) exited 7.00 s ago and was never reaped by pid 10: a zombie"
        );
        assert_eq!(
            say(Anomaly::SlowReap {
                parent: 10,
                count: 1,
                pid: 11,
                comm: "git".into(),
                latency_ns: 1_500_000
            }),
            "child pid 11 (git) was reaped by pid 10 1.50 ms after it exited"
        );
        assert_eq!(
            say(Anomaly::SlowReap {
                parent: 10,
                count: 3,
                pid: 11,
                comm: "git".into(),
                latency_ns: 1_500_000
            }),
            "3 children of pid 10 were reaped late, the slowest (pid 11, git) 1.50 ms after it exited"
        );
        assert_eq!(
            say(Anomaly::PipeHeld {
                reader: 10,
                inode: 4242,
                holder: 12,
                holder_command: "sleep 60".into(),
                exited_child: Some((11, "sh".into())),
            }),
            "pid 10 waits on pipe:[4242] after its child pid 11 (sh) exited, but pid 12 (sleep 60) still holds it open for writing: an os/exec Cmd.Wait will not return until that process exits or closes it"
        );
    }

    #[test]
    fn pressure_shows_full_and_stalls_only_when_not_zero() {
        let r = |some: f64, full: Option<f64>, stall: Option<u64>| PsiResource {
            some_avg10: some,
            full_avg10: full,
            full_avg60: full,
            some_stall_ns: stall,
            ..Default::default()
        };
        let psi = Psi {
            source: "cgroup:/app".into(),
            cpu: Some(r(12.34, None, Some(250_000_000))),
            memory: Some(r(4.26, Some(3.67), Some(0))),
            io: Some(r(0.0, Some(0.0), None)),
        };
        assert_eq!(
            pressure_text(&psi),
            "cpu some 12.3% · memory some 4.3%, full 3.7% · io some 0.0% (avg10, cgroup:/app); stalled while tracing: cpu 250.00 ms"
        );
        let only_cpu = Psi {
            source: "system".into(),
            cpu: Some(r(5.6, None, None)),
            memory: None,
            io: None,
        };
        assert_eq!(pressure_text(&only_cpu), "cpu some 5.6% (avg10, system)");
        let none = Psi {
            source: "system".into(),
            cpu: None,
            memory: None,
            io: None,
        };
        assert_eq!(pressure_text(&none), "not reported (system)");
    }

    #[test]
    fn poller_lines_cover_epoll_wakeups_opcodes_and_rings() {
        assert!(poller_lines(&PollerSummary::default(), 4, 8).is_empty());
        let fd = |fd: u32, kind: &str| RegisteredFd {
            fd,
            kind: kind.into(),
            events: 1,
        };
        let epoll = |epfd: u32, fds: Vec<RegisteredFd>| EpollRow {
            pid: 7,
            epfd,
            waits: 12_345,
            polls: 10,
            timeouts: 3,
            ready: 12_000,
            events: 13_000,
            errors: 0,
            blocked_ns: 2_500_000_000,
            p50_ns: 1_500,
            p99_ns: 2_000_000,
            max_ns: 9_000_000,
            fds,
            registrations: 4,
        };
        let p = PollerSummary {
            kind: PollerKind::Both,
            epoll: vec![
                epoll(4, vec![fd(5, "socket"), fd(6, "eventfd"), fd(7, "socket")]),
                epoll(9, vec![]),
            ],
            wakeups: 1_234,
            uring_ops: vec![UringOpRow {
                pid: 7,
                opcode: 22,
                name: "READ".into(),
                count: 1_000,
                errors: 2,
                p50_ns: 800,
                p99_ns: 40_000,
                max_ns: 1_000_000,
            }],
            rings: vec![RawRing {
                tgid: 7,
                submits: 1_001,
                completes: 1_000,
                max_in_flight: 16,
            }],
        };
        assert_eq!(
            poller_lines(&p, usize::MAX, usize::MAX),
            [
                "epoll fd 4 (pid 7): 12,345 waits (10 polls) · 12,000 ready, 3 timed out · 13,000 events · blocked 2.50 s (p50 1.5 µs, p99 2.00 ms)",
                "  fds: 1 eventfd, 2 socket",
                "epoll fd 9 (pid 7): 12,345 waits (10 polls) · 12,000 ready, 3 timed out · 13,000 events · blocked 2.50 s (p50 1.5 µs, p99 2.00 ms)",
                "  fds: none",
                "netpoll wakeups (eventfd writes): 1,234",
                "io_uring READ              1,000 ops      2 errors · p50 800 ns · p99 40.0 µs · max 1.00 ms",
                "io_uring ring (pid 7): 1001 submitted, 1000 completed, max queue depth 16",
            ]
        );
        let cut = poller_lines(&p, 1, 0);
        assert_eq!(cut.len(), 4, "{cut:#?}");
        assert!(cut[0].starts_with("epoll fd 4 "), "{cut:#?}");
        assert!(cut[3].starts_with("io_uring ring "), "{cut:#?}");
    }
}
