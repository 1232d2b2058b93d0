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

/// Runs the attrib workload's `mode` (read, walk) over `dir` under gotrace.
fn trace_attrib(
    name: &str,
    mode: &str,
    dir: &std::path::Path,
    timeout: Duration,
) -> (gotrace_tests::Run, Vec<Line>) {
    let bin = workload("attrib").display().to_string();
    let mode_arg = format!("-mode={mode}");
    let dir_arg = format!("-dir={}", dir.display());
    let (run, lines) = trace_command(
        name,
        &[],
        &[&bin, &mode_arg, &dir_arg, "-rounds=2"],
        timeout,
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    (run, lines)
}

/// Runs the read workload over `dir` under gotrace.
fn trace_reads(name: &str, dir: &std::path::Path) -> (gotrace_tests::Run, Vec<Line>) {
    trace_attrib(name, "read", dir, Duration::from_secs(120))
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
    let (run, lines) = trace_reads("tmpfs", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let s = summary_of(&lines);
    // The positive control: the workload read every file on tmpfs, twice (2 x 12,388
    // bytes), and each of those reads was traced (a ReadFile is at least a read of the
    // data and one that sees EOF), so "nothing slow" below is a finding, not a miss.
    assert!(run.stdout.contains("read 24776 bytes"), "{}", run.stdout);
    let reads = s
        .syscalls
        .iter()
        .find(|r| r.name == "read")
        .unwrap_or_else(|| panic!("no read row: {:?}", s.syscalls));
    assert!(reads.calls >= 12, "{reads:?}");
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
    // A read may still be slow for want of a CPU (a loaded machine, a guest under TCG):
    // what tmpfs guarantees is that none of them waited on the filesystem.
    let blamed: Vec<_> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Syscall(c)
                if c.name == "read" && c.cause.as_deref().is_some_and(|k| k.starts_with("fs:")) =>
            {
                Some(c)
            }
            _ => None,
        })
        .collect();
    assert!(blamed.is_empty(), "slow reads blamed on tmpfs: {blamed:?}");
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

/// A source tree like a small Go module's: `packages` directories of `files` files each.
fn make_tree(root: &std::path::Path, packages: usize, files: usize) {
    for p in 0..packages {
        let dir = root.join(format!("pkg{p}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        for f in 0..files {
            let body = format!("package pkg{p}\n\n// file {f}\nfunc F{f}() int {{ return {f} }}\n");
            std::fs::write(dir.join(format!("f{f}.go")), body.repeat(8)).expect("write a file");
        }
    }
}

/// The time a trace spent blocked on filesystems of `kind`, and its row.
fn fs_row<'a>(
    s: &'a gotrace_tests::schema::Summary,
    kind: &str,
) -> Option<&'a gotrace_tests::schema::FsJson> {
    s.filesystems.iter().find(|f| f.kind == kind)
}

/// WSL2's /mnt/c is a 9p mount (`aname=drvfs`); this VM's kernel has no 9p, so the kernel
/// matrix's guests (Debian's kernels under QEMU, `cargo xtask test`) mount a real
/// virtio-9p share at $GOTRACE_9P_DIR and run this there.
#[test]
#[ignore = "needs a 9p mount: runs in the kernel matrix's guests (cargo xtask test)"]
fn a_build_like_walk_on_9p_is_the_filesystem_and_costs_more_than_tmpfs() {
    if !require_root("a_build_like_walk_on_9p_is_the_filesystem_and_costs_more_than_tmpfs") {
        return;
    }
    let mount = PathBuf::from(
        std::env::var_os("GOTRACE_9P_DIR").expect("GOTRACE_9P_DIR names no 9p mount in this guest"),
    );
    let tree_9p = mount.join(format!("tree-{}", std::process::id()));
    let tree_tmp = PathBuf::from(format!("/dev/shm/gotrace-tree-{}", std::process::id()));
    for t in [&tree_9p, &tree_tmp] {
        make_tree(t, 8, 25);
    }
    let walk = |name: &str, dir: &std::path::Path| {
        let (run, lines) = trace_attrib(name, "walk", dir, Duration::from_secs(300));
        assert!(run.stdout.contains("walked 400 files"), "{}", run.stdout);
        (run, lines)
    };
    let (run, lines) = walk("walk-9p", &tree_9p);
    let (_, tmp_lines) = walk("walk-tmpfs", &tree_tmp);
    let _ = std::fs::remove_dir_all(&tree_9p);
    let _ = std::fs::remove_dir_all(&tree_tmp);

    let s = summary_of(&lines);
    // The mount is named with its type, as a user would find it in /proc/mounts.
    let row =
        fs_row(s, "9p").unwrap_or_else(|| panic!("no 9p filesystem row: {:?}", s.filesystems));
    assert_eq!(row.mount, mount.display().to_string(), "{row:?}");
    assert_eq!(row.fstype, "9p", "{row:?}");
    // Every file was stat'ed, opened and read over 9p, twice: each of those calls
    // crossed to the host and back.
    assert!(row.calls >= 400, "{row:?}");
    for call in ["newfstatat", "openat", "read"] {
        let r = s
            .syscalls
            .iter()
            .find(|r| r.name == call)
            .unwrap_or_else(|| panic!("no {call} row"));
        assert!(
            r.causes.iter().any(|c| c.cause == "fs:9p"),
            "{call} causes: {:?}",
            r.causes
        );
    }
    assert!(
        s.attribution.iter().any(|c| c.cause == "fs:9p"),
        "where the time went: {:?}",
        s.attribution
    );
    assert!(run.stdout.contains("fs:9p"), "{}", run.stdout);

    // The same walk on tmpfs, in the same guest, waits on no filesystem as long.
    let tmp = summary_of(&tmp_lines);
    let tmp_ns = fs_row(tmp, "tmpfs").map_or(0, |r| r.ns);
    eprintln!(
        "walk of 400 files x2: 9p {} calls {} ns blocked; tmpfs {} ns blocked",
        row.calls, row.ns, tmp_ns
    );
    assert!(row.ns > tmp_ns, "9p {} ns, tmpfs {tmp_ns} ns", row.ns);
}
