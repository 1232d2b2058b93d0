//! What gotrace writes: the text summary, NDJSON, and the shared formatting helpers.
pub mod ndjson;
pub mod perfetto;
pub mod report;
pub mod schema;
pub mod text;

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use anyhow::{bail, Context as _, Result};

use crate::analysis::Anomaly;

/// A short machine name for an anomaly.
pub fn anomaly_kind(a: &Anomaly) -> &'static str {
    match a {
        Anomaly::Coalesced { .. } => "coalesced",
        Anomaly::Ignored { .. } => "ignored",
        Anomaly::Undelivered { .. } => "undelivered",
        Anomaly::Unreaped { .. } => "unreaped",
        Anomaly::SlowReap { .. } => "slow_reap",
        Anomaly::PipeHeld { .. } => "pipe_held",
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

/// Creates an output file safely when running as root: mode 0600, never through a
/// symlink, and an existing file is kept unless `force`. With `force` an existing file
/// is replaced, never written into: it is unlinked and a new one made (O_EXCL), so a
/// hard link to it elsewhere keeps its old contents and no old mode survives.
pub fn create_output(path: &Path, force: bool) -> Result<File> {
    if force
        && path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_file())
    {
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .create_new(true);
    match opts.open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                bail!(
                    "{} is a symlink: refusing to write through it",
                    path.display()
                );
            }
            if force {
                // Something not a regular file (a directory, a FIFO), or one made again
                // between the unlink and the create.
                bail!("{} exists and is not a regular file", path.display());
            }
            bail!(
                "{} already exists (use --force to overwrite it)",
                path.display()
            )
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            bail!(
                "{} is a symlink: refusing to write through it",
                path.display()
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(format_ns(0), "0 ns");
        assert_eq!(format_ns(999), "999 ns");
        assert_eq!(format_ns(12_345), "12.3 µs");
        assert_eq!(format_ns(1_204_000), "1.20 ms");
        assert_eq!(format_ns(3_040_000_000), "3.04 s");
        assert_eq!(format_ns(125_000_000_000), "2m05s");
    }

    #[test]
    fn counts_get_separators() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1_234_567), "1,234,567");
    }

    #[test]
    fn output_files_are_created_safely() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gotrace-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("t.ndjson");
        let _ = std::fs::remove_file(&p);
        drop(create_output(&p, false).expect("new file"));
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = create_output(&p, false).expect_err("exists");
        assert!(e.to_string().contains("already exists (use --force"), "{e}");
        // --force replaces: a hard link to the old file keeps its contents, and the new
        // file is 0600 whatever the old one's mode was.
        std::fs::write(&p, "old trace").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let hard = dir.join("hard.ndjson");
        let _ = std::fs::remove_file(&hard);
        std::fs::hard_link(&p, &hard).expect("hard link");
        {
            use std::io::Write as _;
            let mut f = create_output(&p, true).expect("forced");
            f.write_all(b"new trace").expect("write");
        }
        assert_eq!(std::fs::read_to_string(&hard).expect("read"), "old trace");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new trace");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = dir.join("link.ndjson");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&p, &link).expect("symlink");
        for force in [false, true] {
            let e = create_output(&link, force).expect_err("symlink");
            assert!(e.to_string().contains("is a symlink"), "{e}");
        }
        let e = create_output(Path::new("/nonexistent-dir/x.ndjson"), false).expect_err("no dir");
        assert!(
            format!("{e:#}").starts_with("cannot write /nonexistent-dir/x.ndjson"),
            "{e:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
