//! A real terminal for the dashboard's tests: a tmux session, driven with keys and read
//! back with capture-pane.
use std::{
    process::Command,
    time::{Duration, Instant},
};

/// A tmux session running a plain shell, killed on drop.
pub struct Tmux {
    name: String,
}

impl Tmux {
    pub fn start(name: &str) -> Tmux {
        let name = format!("{name}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "48"])
            .args([
                "env",
                "PS1=PROMPT> ",
                "TERM=xterm-256color",
                "bash",
                "--norc",
                "--noprofile",
            ])
            .status()
            .expect("tmux (installed by `cargo xtask setup` for the tests) must run");
        assert!(ok.success(), "tmux new-session failed");
        Tmux { name }
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(ok.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-S", "-300", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane shows now, without its scrollback.
    pub fn visible(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the visible pane no longer shows `needle`.
    pub fn wait_gone(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(
            timeout,
            Self::visible,
            |s| !s.contains(needle),
            || format!("screen still shows {needle:?}"),
        )
    }

    /// Waits until the screen contains every one of `needles`.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> String {
        self.wait_until(
            timeout,
            Self::screen,
            |s| needles.iter().all(|n| s.contains(n)),
            || format!("screen never showed {needles:?}"),
        )
    }

    /// Captures with `capture` until `done` holds; returns the capture that did.
    pub fn wait_until(
        &self,
        timeout: Duration,
        capture: fn(&Tmux) -> String,
        done: impl Fn(&str) -> bool,
        what: impl Fn() -> String,
    ) -> String {
        let start = Instant::now();
        loop {
            let s = capture(self);
            if done(&s) {
                return s;
            }
            assert!(start.elapsed() < timeout, "{}:\n{s}", what());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}
