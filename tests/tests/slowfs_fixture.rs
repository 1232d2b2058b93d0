//! Root tests of the slow FUSE fixture (gotrace_tests::slowfs) itself: its delays reach
//! real syscalls, nothing is cached away, and the mount goes away with it.
use std::{
    io::Read,
    path::Path,
    time::{Duration, Instant},
};

use gotrace_tests::{
    require_root,
    slowfs::{mounted_fstype, SlowFs, FSTYPE},
};

const DELAY: Duration = Duration::from_millis(20);
const HELLO: &[u8] = b"hello from a slow filesystem\n";

fn big() -> Vec<u8> {
    (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect()
}

fn two_files() -> SlowFs {
    SlowFs::mount(&[("hello.txt", HELLO.to_vec()), ("big.bin", big())], DELAY)
}

#[test]
fn read_returns_contents_slowly() {
    if !require_root("read_returns_contents_slowly") {
        return;
    }
    let fs = two_files();
    for _ in 0..3 {
        let t = Instant::now();
        let got = std::fs::read(fs.path().join("hello.txt")).expect("read hello.txt");
        let took = t.elapsed();
        eprintln!("std::fs::read(hello.txt) took {took:?}");
        assert_eq!(got, HELLO);
        assert!(took >= DELAY, "read took only {took:?}");
    }
    assert_eq!(
        std::fs::read(fs.path().join("big.bin")).expect("read big.bin"),
        big()
    );
}

#[test]
fn metadata_is_slow_every_time() {
    if !require_root("metadata_is_slow_every_time") {
        return;
    }
    let fs = two_files();
    let p = fs.path().join("hello.txt");
    // Back to back: a zero TTL means no call is answered from the kernel's caches.
    for _ in 0..5 {
        let t = Instant::now();
        let m = std::fs::metadata(&p).expect("stat hello.txt");
        let took = t.elapsed();
        eprintln!("std::fs::metadata(hello.txt) took {took:?}");
        assert!(m.is_file());
        assert_eq!(m.len(), HELLO.len() as u64);
        assert!(took >= DELAY, "metadata took only {took:?}");
    }
    let t = Instant::now();
    let e = std::fs::metadata(fs.path().join("missing")).expect_err("no such file");
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(t.elapsed() >= DELAY, "a failed lookup is slow too");
}

#[test]
fn every_read_reaches_the_server() {
    if !require_root("every_read_reaches_the_server") {
        return;
    }
    let fs = two_files();
    let mut f = std::fs::File::open(fs.path().join("big.bin")).expect("open big.bin");
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    let mut times = Vec::new();
    loop {
        let t = Instant::now();
        let n = f.read(&mut buf).expect("read");
        let took = t.elapsed();
        if n == 0 {
            break;
        }
        times.push(took);
        got.extend_from_slice(&buf[..n]);
    }
    eprintln!(
        "{} reads of 4 KiB: min {:?} max {:?}",
        times.len(),
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
    assert_eq!(got, big());
    assert!(times.len() >= 16, "only {} reads", times.len());
    assert!(
        times.iter().all(|t| *t >= DELAY),
        "a read was fast (page cache?): {times:?}"
    );
}

#[test]
fn concurrent_requests_are_delayed_concurrently() {
    if !require_root("concurrent_requests_are_delayed_concurrently") {
        return;
    }
    let delay = Duration::from_millis(100);
    let fs = SlowFs::mount(&[("a", b"a".to_vec())], delay);
    let p = fs.path().join("a");
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(std::fs::read(&p).expect("read a"), b"a"));
        }
    });
    let took = t.elapsed();
    eprintln!("8 concurrent std::fs::read with a 100 ms delay took {took:?}");
    // Each read is 4 delayed requests (LOOKUP, GETATTR, READ, the READ at EOF), so served
    // one at a time 8 would take >= 3.2 s. Served concurrently it is about 5 delays: the
    // kernel lets one LOOKUP of a name run at a time, the others then revalidate at once.
    assert!(
        took >= delay && took < Duration::from_millis(2500),
        "took {took:?}"
    );
}

#[test]
fn listing_and_errors() {
    if !require_root("listing_and_errors") {
        return;
    }
    let fs = two_files();
    let mut names: Vec<String> = std::fs::read_dir(fs.path())
        .expect("read_dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "hello.txt"]);
    let root = std::fs::metadata(fs.path()).expect("stat root");
    assert!(root.is_dir());
    let e = std::fs::write(fs.path().join("hello.txt"), b"x").expect_err("read-only");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    let e = std::fs::File::create(fs.path().join("new")).expect_err("read-only");
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
}

#[test]
fn mounted_as_fuse_and_unmounted_on_drop() {
    if !require_root("mounted_as_fuse_and_unmounted_on_drop") {
        return;
    }
    let fs = two_files();
    let path = fs.path().to_path_buf();
    let fstype = mounted_fstype(&path).expect("the slowfs mount is in /proc/self/mountinfo");
    assert_eq!(fstype, FSTYPE);
    let t = Instant::now();
    drop(fs);
    eprintln!("drop took {:?}", t.elapsed());
    assert_eq!(mounted_fstype(&path), None, "still mounted after drop");
    assert!(!path.exists(), "mountpoint {} left behind", path.display());
}

#[test]
fn drop_does_not_hang_with_a_file_open_or_a_read_in_flight() {
    if !require_root("drop_does_not_hang_with_a_file_open_or_a_read_in_flight") {
        return;
    }
    let fs = SlowFs::mount(&[("a", vec![7; 8192])], Duration::from_millis(500));
    let path = fs.path().to_path_buf();
    let mut f = std::fs::File::open(path.join("a")).expect("open a");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let _ = tid_tx.send(unsafe { libc::gettid() });
        let mut buf = [0u8; 4096];
        let first = f.read(&mut buf).map(|n| n > 0);
        // Reads after the server is gone fail, they do not hang.
        let later = f.read(&mut buf);
        (first, later.map_err(|e| e.raw_os_error()))
    });
    // Dropped while the read waits for the server's answer.
    let tid = tid_rx.recv().expect("the reader's tid");
    gotrace_tests::wait_until("the read to be in flight", Duration::from_secs(10), || {
        gotrace_tests::thread_in_syscall(std::process::id(), tid as u32, libc::SYS_read)
    });
    let t = Instant::now();
    drop(fs);
    let took = t.elapsed();
    eprintln!("drop with a read in flight took {took:?}");
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
    let (first, later) = reader.join().expect("reader thread");
    eprintln!("in-flight read: {first:?}, later read: {later:?}");
    assert!(later.is_err(), "read on a dead mount returned {later:?}");
    assert_eq!(mounted_fstype(&path), None);
    assert!(!path.exists());
}

#[test]
fn a_panic_while_mounted_unmounts() {
    if !require_root("a_panic_while_mounted_unmounts") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let fs = two_files();
        tx.send(fs.path().to_path_buf()).unwrap();
        panic!("test panics while the filesystem is mounted");
    })
    .join();
    assert!(r.is_err());
    let path = rx.recv().expect("the thread mounted");
    assert_eq!(mounted_fstype(&path), None, "the mount outlived the panic");
    assert!(!Path::new(&path).exists());
}

#[test]
fn the_mount_of_a_killed_process_is_swept() {
    if !require_root("the_mount_of_a_killed_process_is_swept") {
        return;
    }
    // Children are the slowfs-child helper, built beside the tests.
    let bin = std::env::current_exe()
        .expect("the test binary")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from <profile>/deps")
        .join("slowfs-child");
    let child = |role: &str| {
        std::process::Command::new(&bin)
            .arg(role)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()))
    };
    let mut holder = child("hold");
    // The holder's first mountpoint: `$TMPDIR/gotrace-slowfs-<pid>-0`.
    let path = std::env::temp_dir().join(format!("gotrace-slowfs-{}-0", holder.id()));
    gotrace_tests::wait_until("the child's mount", Duration::from_secs(30), || {
        mounted_fstype(&path).is_some()
    });
    holder.kill().expect("kill the child");
    let _ = holder.wait();
    assert_eq!(
        mounted_fstype(&path).as_deref(),
        Some(FSTYPE),
        "a killed process leaves its mount behind"
    );
    // The first mount of another process sweeps it.
    let status = child("mount").wait().expect("wait for the child");
    assert!(status.success(), "the mounting child: {status}");
    assert_eq!(mounted_fstype(&path), None, "the stale mount was not swept");
    assert!(!path.exists(), "mountpoint {} left behind", path.display());
}
