//! The dashboard as the session runs it: the terminal it owns (restored on drop), keys
//! and resizes, and the launched command's output read line by line.
use anyhow::{Context as _, Result};

use super::{
    hosts::{render_hosts, HostAction, Hosts},
    install_panic_hook, render, Action, App, LogEntry, TerminalGuard,
};

/// What a dashboard shows: a single process tree's [`App`], or host-wide mode's
/// [`Hosts`].
pub trait Screen {
    type Action;
    /// What a key that does nothing gives.
    const NONE: Self::Action;
    fn render(&self, frame: &mut ratatui::Frame);
    fn on_key(&mut self, key: crossterm::event::KeyEvent) -> Self::Action;
}

impl Screen for App {
    type Action = Action;
    const NONE: Action = Action::None;
    fn render(&self, frame: &mut ratatui::Frame) {
        render(frame, self);
    }
    fn on_key(&mut self, key: crossterm::event::KeyEvent) -> Action {
        App::on_key(self, key)
    }
}

impl Screen for Hosts {
    type Action = HostAction;
    const NONE: HostAction = HostAction::None;
    fn render(&self, frame: &mut ratatui::Frame) {
        render_hosts(frame, self);
    }
    fn on_key(&mut self, key: crossterm::event::KeyEvent) -> HostAction {
        Hosts::on_key(self, key)
    }
}

/// The dashboard: the terminal it owns, its state, keys, and the launched command's
/// output.
pub struct Dashboard<S: Screen = App> {
    pub app: S,
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    // Dropped last: restores the terminal.
    _guard: TerminalGuard,
}

pub type OutputLines = tokio::io::Lines<tokio::io::BufReader<tokio::net::unix::pipe::Receiver>>;

/// Lines of the launched command's output, when it is captured.
pub fn output_lines(fd: Option<std::os::fd::OwnedFd>) -> Result<Option<OutputLines>> {
    use tokio::io::AsyncBufReadExt as _;
    let Some(fd) = fd else { return Ok(None) };
    let rx =
        tokio::net::unix::pipe::Receiver::from_owned_fd(fd).context("read the command's output")?;
    Ok(Some(tokio::io::BufReader::new(rx).lines()))
}

impl Dashboard<App> {
    pub fn enter(refresh_hz: u32) -> Result<Dashboard> {
        Dashboard::with(App::new(refresh_hz))
    }

    /// Moves what was logged since into the dashboard's log.
    pub fn take_log(&mut self, log: &mut Option<Vec<LogEntry>>) {
        if let Some(log) = log.as_mut() {
            for e in log.drain(..) {
                self.app.push_log(e);
            }
        }
    }
}

impl<S: Screen> Dashboard<S> {
    /// Takes the terminal (restored when the dashboard is dropped) for `screen`.
    pub fn with(screen: S) -> Result<Dashboard<S>> {
        install_panic_hook();
        let (guard, terminal) = TerminalGuard::enter()?;
        Ok(Dashboard {
            app: screen,
            terminal,
            _guard: guard,
        })
    }

    pub fn draw(&mut self) -> Result<()> {
        let app = &self.app;
        self.terminal
            .draw(|f| app.render(f))
            .context("draw the dashboard")?;
        Ok(())
    }

    pub fn on_terminal_event(
        &mut self,
        ev: Option<std::io::Result<crossterm::event::Event>>,
    ) -> Result<S::Action> {
        let Some(ev) = ev else {
            return Ok(S::NONE);
        };
        match ev.context("read the terminal")? {
            crossterm::event::Event::Key(k) => {
                let action = self.app.on_key(k);
                self.draw()?;
                Ok(action)
            }
            crossterm::event::Event::Resize(..) => {
                self.draw()?;
                Ok(S::NONE)
            }
            _ => Ok(S::NONE),
        }
    }
}

/// The next terminal event, or never when there is no dashboard.
pub async fn next_terminal_event(
    keys: &mut Option<crossterm::event::EventStream>,
) -> Option<std::io::Result<crossterm::event::Event>> {
    use futures_util::StreamExt as _;
    match keys {
        Some(k) => k.next().await,
        None => std::future::pending().await,
    }
}

/// The next line of the launched command's output, or never.
pub async fn next_output_line(lines: &mut Option<OutputLines>) -> Option<String> {
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
