//! The live dashboard: `sudo gotrace --pid PID` on a terminal.
//!
//! [`App`] holds all UI state and is pure: snapshots, log entries and keys go in,
//! [`Action`]s come out. [`render`] draws an `App` into a ratatui `Frame` and does no
//! I/O and reads no clock, so every screen is testable with `TestBackend`.
//! [`TerminalGuard`] and [`install_panic_hook`] put the terminal back on every way out.
//!
//! The session drives it (one task, `tokio::select!`), at the App's refresh rate:
//!
//! ```ignore
//! use crossterm::event::{Event as TermEvent, EventStream};
//! use futures_util::StreamExt as _;
//! use tracer::tui::{self, Action, App, LogEntry, LogKind, TerminalGuard};
//!
//! tui::install_panic_hook(); // once, before entering: a panic restores the terminal first
//! let (guard, mut terminal) = TerminalGuard::enter()?;
//! let mut app = App::new(4);
//! let mut keys = EventStream::new();
//! let mut tick = tokio::time::interval(app.refresh_interval());
//! tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
//! let reason = loop {
//!     tokio::select! {
//!         r = events.wait() => { /* drain into the analyzer; for notable records: */
//!             // app.push_log(LogEntry { ts_ns: ev_ts - analyzer.start_ns(), kind: LogKind::Syscall, text });
//!         }
//!         _ = tick.tick() => {
//!             analyzer.on_stats(probe.read_stats()?, probe.read_counters()?);
//!             app.on_snapshot(analyzer.snapshot(context::monotonic_ns()));
//!             terminal.draw(|f| tui::render(f, &app))?;
//!         }
//!         Some(ev) = keys.next() => match ev.context("read the terminal")? {
//!             TermEvent::Key(k) => {
//!                 match app.on_key(k) {
//!                     Action::Quit => break StopReason::Interrupted,
//!                     Action::Reset => analyzer.reset(), // whatever the session resets
//!                     Action::None => {}
//!                 }
//!                 terminal.draw(|f| tui::render(f, &app))?; // answer keys at once
//!             }
//!             TermEvent::Resize(..) => { terminal.draw(|f| tui::render(f, &app))?; }
//!             _ => {}
//!         },
//!         r = pidfd.exited() => {
//!             // Keep the dashboard up with the final numbers until the user quits.
//!             app.set_target_exited("exited with code 0".into());
//!         }
//!         _ = sigterm.recv() => break StopReason::Terminated, // the guard restores on drop
//!     }
//! };
//! drop(terminal);
//! drop(guard); // raw mode off, main screen back, cursor shown
//! print!("{summary}"); // after the terminal is restored
//! ```
//!
//! In raw mode Ctrl-C is a key, not SIGINT: [`App::on_key`] turns it into
//! [`Action::Quit`]. Log timestamps ([`LogEntry::ts_ns`]) are nanoseconds since the
//! trace began, as `Snapshot::duration_ns` is.
mod app;
pub mod dashboard;
mod format;
pub mod hosts;
mod panes;
mod terminal;
mod view;

#[cfg(test)]
mod tests;

pub use app::App;
pub use terminal::{install_panic_hook, TerminalGuard};
pub use view::render;

/// What the session should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Leave the dashboard (q, Ctrl-C).
    Quit,
    /// Reset the counters (r): the session starts the aggregates afresh.
    Reset,
}

/// A notable event for the log pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the trace began.
    pub ts_ns: u64,
    pub kind: LogKind,
    pub text: String,
}

/// What a log entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A slow syscall, with its cause.
    Syscall,
    Signal,
    /// Fork, exec, exit of a traced process.
    Process,
    /// A child's SIGCHLD lifecycle (exit, signal, reap).
    Child,
    /// Something gotrace itself warns about (lost records, ...).
    Warning,
}

impl LogKind {
    /// The label shown in the log, also matched by the filter.
    pub fn label(self) -> &'static str {
        match self {
            LogKind::Syscall => "syscall",
            LogKind::Signal => "signal",
            LogKind::Process => "process",
            LogKind::Child => "child",
            LogKind::Warning => "warning",
        }
    }
}

/// The dashboard's views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Overview,
    Syscalls,
    Signals,
    Threads,
    Log,
    /// The Go code that made the slow calls, by call site.
    GoCode,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Overview,
        View::Syscalls,
        View::Signals,
        View::Threads,
        View::Log,
        View::GoCode,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Syscalls => "Syscalls",
            View::Signals => "Signals & children",
            View::Threads => "Threads & poller",
            View::Log => "Log",
            View::GoCode => "Go code",
        }
    }

    /// The title when the full ones do not fit on one line.
    pub fn short_title(self) -> &'static str {
        match self {
            View::Signals => "Signals",
            View::Threads => "Threads",
            v => v.title(),
        }
    }

    fn index(self) -> usize {
        View::ALL.iter().position(|&v| v == self).unwrap_or(0)
    }

    fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// What the Go code view's call sites are sorted by (`s` cycles, `S` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteSort {
    /// Their time in all, most first.
    Time,
    /// Their calls, most first.
    Calls,
}

impl SiteSort {
    pub fn title(self) -> &'static str {
        match self {
            SiteSort::Time => "time",
            SiteSort::Calls => "calls",
        }
    }

    fn next(self) -> SiteSort {
        match self {
            SiteSort::Time => SiteSort::Calls,
            SiteSort::Calls => SiteSort::Time,
        }
    }
}

/// A column of the syscall table, to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Calls,
    Errors,
    Rate,
    Total,
    Avg,
    P50,
    P99,
    Max,
    OnCpu,
    Runq,
    Blocked,
}

impl SortKey {
    /// Column order, which `s` cycles through.
    pub const ALL: [SortKey; 12] = [
        SortKey::Name,
        SortKey::Calls,
        SortKey::Errors,
        SortKey::Rate,
        SortKey::Total,
        SortKey::Avg,
        SortKey::P50,
        SortKey::P99,
        SortKey::Max,
        SortKey::OnCpu,
        SortKey::Runq,
        SortKey::Blocked,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Name => "syscall",
            SortKey::Calls => "calls",
            SortKey::Errors => "errors",
            SortKey::Rate => "calls/s",
            SortKey::Total => "total",
            SortKey::Avg => "avg",
            SortKey::P50 => "p50",
            SortKey::P99 => "p99",
            SortKey::Max => "max",
            SortKey::OnCpu => "on-cpu",
            SortKey::Runq => "runq",
            SortKey::Blocked => "blocked",
        }
    }

    fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|&k| k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}
