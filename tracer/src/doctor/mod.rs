//! `gotrace doctor`: checks a Go environment for the faults that make Go on WSL2, in
//! containers and on plain Linux slow or broken while everything looks ready: a Windows
//! `go.exe` first on PATH, a foreign GOOS, a GOROOT that points nowhere, caches or the
//! project on a cross-OS filesystem, a CPU quota the Go runtime does not see.
//!
//! Facts are gathered first ([`facts`]: the only part that reads the machine or runs
//! anything, every command bounded in time and output), then judged ([`checks`]: pure,
//! tested on fixtures), then printed. `--build` traces a real `go build` ([`build`]).
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result};
use serde::Serialize;

pub mod build;
pub mod checks;
pub mod facts;
pub mod fscost;
pub mod wsl;

/// `gotrace doctor`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorConfig {
    /// The Go project to check.
    pub dir: PathBuf,
    pub json: bool,
    /// Trace `go build ./...` in `dir` (needs root).
    pub build: bool,
    /// A mountinfo file to use instead of /proc/self/mountinfo (fixtures).
    pub mountinfo: Option<PathBuf>,
}

/// A check's verdict. Only `Fail` makes doctor exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable: `go-binary`, `path-order`, `goos`, ... (docs/doctor.md lists them).
    pub id: &'static str,
    pub status: Status,
    /// What was found, in one line.
    pub summary: String,
    /// What to do, for anything not ok.
    pub fix: Option<String>,
    /// The facts behind the verdict, one per line.
    pub details: Vec<String>,
    /// What is true where a popular explanation is not, with its source.
    pub notes: Vec<String>,
}

impl Check {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id,
            status,
            summary: summary.into(),
            fix: None,
            details: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Check {
        self.details.push(d.into());
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Check {
        self.notes.push(n.into());
        self
    }
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: String,
    pub checks: Vec<Check>,
    /// The worst status of all checks.
    pub status: Status,
}

impl Report {
    pub fn new(dir: &Path, checks: Vec<Check>) -> Report {
        let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
        Report {
            dir: dir.display().to_string(),
            checks,
            status,
        }
    }

    /// Exit 1 when a check failed; warnings do not fail.
    pub fn exit_code(&self) -> ExitCode {
        if self.status == Status::Fail {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Runs doctor: gathers, judges, prints.
pub fn run(cfg: &DoctorConfig) -> Result<ExitCode> {
    let dir = std::fs::canonicalize(&cfg.dir)
        .with_context(|| format!("cannot check {}", cfg.dir.display()))?;
    anyhow::ensure!(
        dir.is_dir(),
        "cannot check {}: not a directory",
        dir.display()
    );
    if cfg.build {
        build::preflight()?;
    }
    let facts = facts::gather(&dir, cfg.mountinfo.as_deref())?;
    let mut all = checks::judge(&facts);
    if cfg.build {
        all.push(build::run(&dir, &facts)?);
    }
    let report = Report::new(&dir, all);
    let mut out = std::io::stdout().lock();
    if cfg.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&report).as_bytes())?;
    }
    out.flush()?;
    Ok(report.exit_code())
}

/// The text report: one line per check (status, id, what was found), then the fix and
/// the details indented under anything not ok. Everything quoted from the environment
/// (paths, variable values, a command's output) is made terminal-safe.
pub fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let safe = |s: &str| crate::export::text::terminal_safe(s).into_owned();
    let mut out = String::new();
    let _ = writeln!(out, "gotrace doctor: {}", safe(&report.dir));
    let width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &report.checks {
        let _ = writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            c.status.label(),
            c.id,
            safe(&c.summary)
        );
        let indent = " ".repeat(width + 8);
        let quiet = matches!(c.status, Status::Ok | Status::Skip);
        if !quiet {
            for d in &c.details {
                let _ = writeln!(out, "{indent}{}", safe(d));
            }
        }
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "{indent}fix: {}", safe(fix));
        }
        for n in &c.notes {
            let _ = writeln!(out, "{indent}note: {}", safe(n));
        }
    }
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let warnings = count(Status::Warn);
    let _ = writeln!(
        out,
        "{} failed, {warnings} warning{}, {} ok, {} info, {} skipped",
        count(Status::Fail),
        if warnings == 1 { "" } else { "s" },
        count(Status::Ok),
        count(Status::Info),
        count(Status::Skip),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_fails_the_run_and_a_warning_does_not() {
        let warn = Report::new(
            Path::new("/p"),
            vec![
                Check::new("a", Status::Ok, "x"),
                Check::new("b", Status::Warn, "y"),
            ],
        );
        assert_eq!(warn.status, Status::Warn);
        assert_eq!(warn.exit_code(), ExitCode::SUCCESS);
        let fail = Report::new(
            Path::new("/p"),
            vec![
                Check::new("a", Status::Fail, "x"),
                Check::new("b", Status::Warn, "y"),
            ],
        );
        assert_eq!(fail.exit_code(), ExitCode::from(1));
    }

    #[test]
    fn text_shows_fixes_and_details_and_escapes_what_it_quotes() {
        let report = Report::new(
            Path::new("/p"),
            vec![
                Check::new("goos", Status::Fail, "GOOS=windows\x1b[2J")
                    .fix("unset GOOS")
                    .detail("from the environment"),
                Check::new(
                    "proxy",
                    Status::Ok,
                    "GOPROXY=https://proxy.golang.org,direct",
                )
                .detail("hidden when ok"),
            ],
        );
        let text = render(&report);
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("fail  goos   GOOS=windows"), "{text}");
        assert!(text.contains("fix: unset GOOS"), "{text}");
        assert!(text.contains("from the environment"), "{text}");
        assert!(!text.contains("hidden when ok"), "{text}");
        assert!(
            text.ends_with("1 failed, 0 warnings, 1 ok, 0 info, 0 skipped\n"),
            "{text}"
        );
        let one = render(&Report::new(
            Path::new("/p"),
            vec![Check::new("a", Status::Warn, "x")],
        ));
        assert!(
            one.ends_with("0 failed, 1 warning, 0 ok, 0 info, 0 skipped\n"),
            "{one}"
        );
    }

    #[test]
    fn json_has_the_documented_fields() {
        let report = Report::new(
            Path::new("/p"),
            vec![Check::new("goos", Status::Fail, "GOOS=windows").fix("unset GOOS")],
        );
        let v: serde_json::Value = serde_json::to_value(&report).unwrap();
        let c = &v["checks"][0];
        for key in ["id", "status", "summary", "fix", "details"] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        assert_eq!(c["status"], "fail");
        assert_eq!(v["status"], "fail");
    }
}
