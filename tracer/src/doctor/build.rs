//! `gotrace doctor --build`: runs `go build -o /dev/null ./...` in the project under
//! gotrace itself (a child `gotrace --no-tui --json` launching the build, as the invoking
//! user under sudo) and reads where the build's time went from the trace's summary: the
//! measured answer to "why is my build slow on /mnt/c". `-o /dev/null` builds everything
//! and writes no binary into the project.
use std::{
    io::BufRead as _,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    facts::{run_bounded_as, Facts, Ran, ScratchDir},
    Check, Status,
};
use crate::{
    context::mounts::FsKind,
    export::schema::{Line, Summary},
};

const ID: &str = "build";
/// The longest build doctor waits for.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// `--build` needs root (it loads eBPF programs): say so before checking anything.
pub fn preflight() -> Result<()> {
    crate::probe::preflight().context("doctor --build traces the build")
}

/// Traces `go build ./...` in `dir` and judges where its time went.
pub fn run(dir: &Path, facts: &Facts) -> Result<Check> {
    let Some(go) = facts.go_used.as_ref() else {
        return Ok(Check::new(
            ID,
            Status::Skip,
            "no runnable go on PATH to build with",
        ));
    };
    let scratch = ScratchDir::new().context("make a scratch directory for the trace")?;
    let trace = scratch.path().join("build.ndjson");
    let me = std::env::current_exe().context("find the gotrace binary")?;
    let mut cmd = Command::new(me);
    cmd.current_dir(dir)
        .arg("--no-tui")
        .arg("--json")
        .arg(&trace)
        .arg("--")
        .arg(&go.path)
        .args(["build", "-o", "/dev/null", "./..."]);
    let started = Instant::now();
    // gotrace runs as root; it launches the build as the invoking user itself.
    let ran = run_bounded_as(cmd, BUILD_TIMEOUT, false).context("run gotrace on go build")?;
    let wall = started.elapsed();
    let summary = match last_summary(&trace) {
        Ok(s) => s,
        Err(e) => bail!(
            "{}; the trace is unreadable: {e:#}",
            ran.failure("gotrace", BUILD_TIMEOUT)
        ),
    };
    Ok(judge(&summary, &ran, wall))
}

/// The summary line at the end of a trace.
fn last_summary(path: &Path) -> Result<Summary> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut last = None;
    for line in std::io::BufReader::new(file).lines() {
        last = Some(line?);
    }
    let last = last.context("the trace is empty")?;
    match serde_json::from_str::<Line>(&last)? {
        Line::Summary(s) => Ok(*s),
        _ => bail!("the trace has no summary"),
    }
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

/// Judges a traced build: where its threads waited, by filesystem and by cause.
pub fn judge(s: &Summary, ran: &Ran, wall: Duration) -> Check {
    let exit = s.target_exit.as_ref().and_then(|e| e.code);
    let outcome = match exit {
        Some(0) => "succeeded".to_string(),
        Some(code) => format!("failed (exit {code})"),
        None => "did not finish".to_string(),
    };
    // Waits under a millisecond in all are noise, not a finding.
    let mut fss: Vec<_> = s.filesystems.iter().filter(|f| f.ns >= 1_000_000).collect();
    fss.sort_by_key(|f| std::cmp::Reverse(f.ns));
    let remote_ns: u64 = fss
        .iter()
        .filter(|f| FsKind::from_fstype(&f.kind).is_remote())
        .map(|f| f.ns)
        .sum();
    let wall_ns = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX).max(1);
    let mut summary = format!("go build ./... {outcome} in {:.2} s", wall.as_secs_f64());
    let top = fss.first();
    if let Some(top) = top {
        summary.push_str(&format!(
            "; its threads waited longest on {} at {} ({} over {} calls)",
            top.kind,
            top.mount,
            secs(top.ns),
            top.calls
        ));
    } else {
        summary.push_str("; no filesystem held it up");
    }
    // Slow: waits on remote filesystems add up to a tenth of the build's wall time (the
    // build's threads wait in parallel: this is how many of them wait on average), or to
    // a second.
    let slow = remote_ns > 0 && (remote_ns >= 1_000_000_000 || remote_ns * 10 >= wall_ns);
    let status = if exit.is_some_and(|c| c != 0) || slow {
        Status::Warn
    } else {
        Status::Ok
    };
    let mut c = Check::new(ID, status, summary);
    for f in fss.iter().take(5) {
        c = c.detail(format!(
            "fs:{} {}: {} calls, {} waited",
            f.kind,
            f.mount,
            f.calls,
            secs(f.ns)
        ));
    }
    let causes: Vec<String> = s
        .attribution
        .iter()
        .filter(|a| a.cause != "idle" && a.ns > 0)
        .take(6)
        .map(|a| format!("{} {} ({:.0}%)", a.cause, secs(a.ns), a.share * 100.0))
        .collect();
    if !causes.is_empty() {
        c = c.detail(format!("where the time went: {}", causes.join(", ")));
    }
    c = c.detail(format!(
        "{} syscalls, {} slow; {} processes",
        s.total_calls,
        s.slow_calls,
        s.processes.len()
    ));
    if s.lost_records > 0 {
        c = c.detail(format!(
            "{} records lost: the figures are a lower bound",
            s.lost_records
        ));
    }
    if s.slot_collisions > 0 {
        c = c.detail(crate::export::text::slot_collisions_text(s.slot_collisions));
    }
    if exit.is_some_and(|code| code != 0) {
        let err = String::from_utf8_lossy(&ran.stderr);
        if let Some(line) = err
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("gotrace:"))
        {
            c = c.detail(format!("go build said: {line}"));
        }
    }
    if remote_ns > 0 {
        c = c.detail(format!(
            "waits on remote filesystems add up to {:.0}% of the build's wall time",
            remote_ns as f64 * 100.0 / wall_ns as f64
        ));
    }
    if slow {
        c = c.fix("move what the build reads (the project, GOCACHE, GOMODCACHE) to the Linux disk");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_trace_lost_is_said() {
        let fixture = include_str!("../../../tests/fixtures/exact-a.ndjson");
        let last = fixture.lines().last().expect("a summary line");
        let Ok(Line::Summary(mut s)) = serde_json::from_str::<Line>(last) else {
            panic!("the fixture ends with its summary")
        };
        s.lost_records = 4;
        s.slot_collisions = 2;
        let ran = Ran {
            status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let c = judge(&s, &ran, Duration::from_secs(3));
        assert!(
            c.details
                .contains(&"4 records lost: the figures are a lower bound".to_string()),
            "{:?}",
            c.details
        );
        assert!(
            c.details
                .iter()
                .any(|d| d.starts_with("2 calls were not counted")),
            "{:?}",
            c.details
        );
    }
}
