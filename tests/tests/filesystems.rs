//! Root tests of filesystem attribution: a real slow FUSE filesystem made by the test
//! (every lookup, stat and read delayed 20 ms), and the same reads on tmpfs.
use std::{path::PathBuf, time::Duration};

use gotrace_tests::{require_root, summary_of, trace_command, workload, Line};

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.txt", vec![b'a'; 8192]),
        ("b.txt", vec![b'b'; 4096]),
        ("c.txt", vec![b'c'; 100]),
    ]
}

/// Runs the read workload over `dir` under gotrace.
fn trace_reads(name: &str, dir: &std::path::Path) -> (gotrace_tests::Run, Vec<Line>) {
    let bin = workload("attrib").display().to_string();
    let dir_arg = format!("-dir={}", dir.display());
    let (run, lines) = trace_command(
        name,
        &[],
        &[&bin, "-mode=read", &dir_arg, "-rounds=2"],
        Duration::from_secs(120),
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    (run, lines)
}

#[test]
fn slow_fuse_reads_are_the_filesystem() {
    if !require_root("slow_fuse_reads_are_the_filesystem") {
        return;
    }
    let fs = gotrace_tests::slowfs::SlowFs::mount(&files(), Duration::from_millis(20));
    let (run, lines) = trace_reads("fuse", fs.path());
    let s = summary_of(&lines);
    let read = s
        .syscalls
        .iter()
        .find(|r| r.name == "read")
        .expect("read row");
    let fuse = read
        .causes
        .iter()
        .find(|c| c.cause == "fs:fuse")
        .unwrap_or_else(|| panic!("read causes: {:?}", read.causes));
    assert!(fuse.share >= 0.9, "reads on FUSE: {:?}", read.causes);
    let row = s
        .filesystems
        .iter()
        .find(|f| f.kind == "fuse")
        .unwrap_or_else(|| panic!("{:?}", s.filesystems));
    assert_eq!(row.mount, fs.path().display().to_string());
    assert!(row.ns >= 20_000_000 * 6, "{row:?}");
    assert!(run.stdout.contains("fs:fuse"), "{}", run.stdout);
    // The slow reads were streamed with their cause.
    assert!(
        lines.iter().any(|l| matches!(l, Line::Syscall(c) if c.name == "read" && c.cause.as_deref() == Some("fs:fuse"))),
        "no slow read line with cause fs:fuse"
    );
}

#[test]
fn the_same_reads_on_tmpfs_show_no_slow_filesystem() {
    if !require_root("the_same_reads_on_tmpfs_show_no_slow_filesystem") {
        return;
    }
    let dir = PathBuf::from(format!("/dev/shm/gotrace-tmpfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir on /dev/shm");
    for (name, data) in files() {
        std::fs::write(dir.join(name), data).expect("write");
    }
    let (_run, lines) = trace_reads("tmpfs", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let s = summary_of(&lines);
    assert!(
        !s.attribution
            .iter()
            .any(|c| c.cause.starts_with("fs:") && c.share > 0.05),
        "{:?}",
        s.attribution
    );
    assert!(
        !s.filesystems.iter().any(|f| f.ns > 10_000_000),
        "no slow filesystem: {:?}",
        s.filesystems
    );
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Syscall(c) if c.name == "read")),
        "no slow reads on tmpfs"
    );
}

#[test]
fn a_program_run_from_a_slow_filesystem_is_that_filesystem() {
    if !require_root("a_program_run_from_a_slow_filesystem_is_that_filesystem") {
        return;
    }
    // `true` itself, on the slow FUSE filesystem: its execve waits on the lookup of its
    // path and on reading it in (the loader and libc come from the root filesystem).
    let program = std::fs::read("/bin/true").expect("read /bin/true");
    let fs = gotrace_tests::slowfs::SlowFs::mount(&[("true", program)], Duration::from_millis(20));
    let bin = fs.path().join("true").display().to_string();
    let (run, lines) = trace_command("exec-fuse", &[], &[&bin], Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let s = summary_of(&lines);
    let execve = s
        .syscalls
        .iter()
        .find(|r| r.name == "execve")
        .unwrap_or_else(|| panic!("no execve row: {}", run.stdout));
    assert!(execve.blocked_ns >= 20_000_000, "{execve:?}");
    let fuse = execve
        .causes
        .iter()
        .find(|c| c.cause == "fs:fuse")
        .unwrap_or_else(|| panic!("execve causes: {:?}", execve.causes));
    assert!(fuse.share >= 0.5, "execve causes: {:?}", execve.causes);
}
