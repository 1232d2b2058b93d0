//! Entering and leaving the dashboard's terminal mode, on every way out: the guard's
//! Drop on a normal return, an error (`?`) or SIGTERM (the session breaks out of its
//! loop and drops it), and the panic hook on a panic.
use std::{
    io::{self, Stdout, Write},
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{Context as _, Result};
use crossterm::{
    cursor::{Hide, Show},
    execute,
    terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen},
};
use ratatui::{backend::CrosstermBackend, Terminal};

/// Is the terminal in the dashboard's mode (raw, alternate screen, cursor hidden)?
/// Restoring twice, or when it never was entered, must write nothing: stdout may be a
/// pipe by then.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Holds the terminal in the dashboard's mode; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Raw mode, the alternate screen, the cursor hidden; and a ratatui terminal on
    /// stdout. If any step fails, what was done is undone before the error returns.
    pub fn enter() -> Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>)> {
        enable_raw_mode().context("put the terminal in raw mode")?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, an early return drops the guard, which restores.
        let guard = TerminalGuard { _private: () };
        execute!(io::stdout(), EnterAlternateScreen, Hide)
            .context("switch to the alternate screen")?;
        let mut terminal =
            Terminal::new(CrosstermBackend::new(io::stdout())).context("set up the terminal")?;
        terminal.clear().context("clear the terminal")?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leaves the dashboard's mode if it is on: main screen, cursor shown, raw mode off.
/// Safe to call any number of times, from anywhere (the panic hook does).
pub fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    // Best effort: there is nothing better to do with a failure on the way out.
    let _ = execute!(out, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Makes a panic restore the terminal before the previous hook prints the message, so
/// it lands on the normal screen, readable. Call once, before [`TerminalGuard::enter`].
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restoring_when_never_entered_does_nothing() {
        // No terminal here (tests run with stdout captured or piped): this must neither
        // fail nor write escape codes, and may be called again.
        assert!(
            !ACTIVE.load(Ordering::SeqCst),
            "no test enters the terminal"
        );
        restore_terminal();
        restore_terminal();
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }
}
