//! A slow, read-only FUSE filesystem for root integration tests: every LOOKUP, GETATTR
//! and READ it serves takes a known time, so a test can make a traced program block in
//! real `openat`/`stat`/`read` syscalls for as long as it wants.
//!
//! It is a small hand-written FUSE protocol server (include/uapi/linux/fuse.h) on top of
//! libc only: no libfuse, no fusermount. As root it opens /dev/fuse and mounts with
//! mount(2) directly; Drop unmounts with umount2(MNT_DETACH), stops the server and
//! removes the mountpoint.
//!
//! Nothing is cached away: entries and attributes have a zero TTL (the kernel then
//! asks again on every path walk and stat), and every open uses FOPEN_DIRECT_IO, so
//! every read(2) reaches the server. Requests are served concurrently: each delayed
//! request waits `delay` on its own thread, so N threads reading at once each see about
//! `delay`, not N times it.
use std::{
    ffi::CString,
    fs::File,
    io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Condvar, Mutex, Once,
    },
    thread::JoinHandle,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The filesystem type as /proc/self/mountinfo shows it.
pub const FSTYPE: &str = "fuse.slowfs";
/// Mountpoints are `$TMPDIR/gotrace-slowfs-<pid>-<n>`; the pid lets a later mount clean up
/// what a killed test process left behind.
const DIR_PREFIX: &str = "gotrace-slowfs-";
/// How long mount() waits for the kernel's INIT to be answered.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A mounted slow filesystem; unmounted when dropped (also on unwind).
pub struct SlowFs {
    mountpoint: PathBuf,
    stop: Arc<Stop>,
    server: Option<JoinHandle<()>>,
    mounted: bool,
}

impl SlowFs {
    /// Mounts a read-only filesystem at a new temp directory `mountpoint` containing the
    /// given files (name -> contents) in its root; every LOOKUP/GETATTR (stat) and every
    /// READ is delayed by `delay`. Needs root. Panics if the mount fails.
    pub fn mount(files: &[(&str, Vec<u8>)], delay: Duration) -> SlowFs {
        for (name, _) in files {
            assert!(
                !name.is_empty() && *name != "." && *name != ".." && !name.contains(['/', '\0']),
                "slowfs: bad file name {name:?}"
            );
        }
        static SWEEP: Once = Once::new();
        SWEEP.call_once(sweep_stale);

        let mountpoint = new_mountpoint();
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect();
        let fuse = match File::options().read(true).write(true).open("/dev/fuse") {
            Ok(f) => OwnedFd::from(f), // std opens with O_CLOEXEC: no child inherits it
            Err(e) => {
                let _ = std::fs::remove_dir(&mountpoint);
                panic!("slowfs: cannot open /dev/fuse: {e}");
            }
        };
        set_nonblocking(fuse.as_fd());
        if let Err(e) = mount_fuse(fuse.as_raw_fd(), &mountpoint) {
            let _ = std::fs::remove_dir(&mountpoint);
            panic!(
                "slowfs: mount at {} failed: {e} (needs root and FUSE)",
                mountpoint.display()
            );
        }

        let (stop, stop_r) = Stop::new();
        let stop = Arc::new(stop);
        let (init_tx, init_rx) = mpsc::sync_channel(1);
        let server = {
            let stop = stop.clone();
            let fs = Fs::new(files, delay);
            std::thread::Builder::new()
                .name("slowfs".into())
                .spawn(move || serve(fuse, stop_r, &stop, &fs, init_tx))
                .expect("spawn slowfs server thread")
        };
        let fs = SlowFs {
            mountpoint,
            stop,
            server: Some(server),
            mounted: true,
        };
        match init_rx.recv_timeout(INIT_TIMEOUT) {
            Ok(()) => fs,
            Err(e) => {
                let at = fs.mountpoint.display().to_string();
                drop(fs);
                panic!("slowfs: the kernel's FUSE INIT for {at} was not answered: {e}");
            }
        }
    }

    /// The mountpoint.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        if self.mounted {
            // Detach first: the mount leaves the namespace at once, even if some process
            // still has a file open in it; that process is cut off when the server stops.
            if let Err(e) = umount_detach(&self.mountpoint) {
                eprintln!("slowfs: umount2({}) failed: {e}", self.mountpoint.display());
            }
            self.mounted = false;
        }
        // Stopping the server closes /dev/fuse, which aborts the connection: any request
        // still pending fails with ENOTCONN instead of hanging.
        self.stop.stop();
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
        if let Err(e) = std::fs::remove_dir(&self.mountpoint) {
            eprintln!("slowfs: cannot remove {}: {e}", self.mountpoint.display());
        }
    }
}

/// The fstype /proc/self/mountinfo shows for a mount exactly at `path`, if there is one
/// (the last one, if mounts are stacked there).
pub fn mounted_fstype(path: &Path) -> Option<String> {
    mounts()
        .into_iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| t)
        .next_back()
}

/// (mountpoint, fstype) of every mount in /proc/self/mountinfo.
fn mounts() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mountpoint = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            Some((
                PathBuf::from(unescape_mountinfo(mountpoint)),
                fstype.to_string(),
            ))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as \ooo octal escapes.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts and removes slowfs mountpoints of test processes that are gone (killed before
/// Drop could run): their mounts are dead ("Transport endpoint is not connected").
fn sweep_stale() {
    let tmp = std::env::temp_dir();
    let stale = |p: &Path| -> bool {
        if p.parent() != Some(tmp.as_path()) {
            return false;
        }
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|r| r.split('-').next())
        else {
            return false;
        };
        match pid.parse::<u32>() {
            Ok(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            Err(_) => false,
        }
    };
    for (p, fstype) in mounts() {
        if fstype == FSTYPE && stale(&p) {
            let _ = umount_detach(&p);
        }
    }
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let p = e.path();
            if stale(&p) {
                let _ = std::fs::remove_dir(&p);
            }
        }
    }
}

fn new_mountpoint() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let tmp = std::env::temp_dir();
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = tmp.join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return p,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("slowfs: cannot create {}: {e}", p.display()),
        }
    }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

fn mount_fuse(fd: i32, mountpoint: &Path) -> io::Result<()> {
    let target = cpath(mountpoint);
    let opts = CString::new(format!(
        "fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other"
    ))
    .unwrap();
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            c"slowfs".as_ptr(),
            target.as_ptr(),
            c"fuse.slowfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY,
            opts.as_ptr().cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn umount_detach(p: &Path) -> io::Result<()> {
    let target = cpath(p);
    // SAFETY: target is a valid NUL-terminated string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_nonblocking(fd: BorrowedFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Tells the server and its delayed replies to stop: a flag for the sleepers and a pipe
/// to wake the server's poll().
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
    wake: OwnedFd,
}

impl Stop {
    fn new() -> (Stop, OwnedFd) {
        let mut fds = [0i32; 2];
        // SAFETY: fds is a valid array of two ints.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert_eq!(r, 0, "slowfs: pipe2: {}", io::Error::last_os_error());
        // SAFETY: pipe2 just returned these two fds to us.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        (
            Stop {
                stopped: Mutex::new(false),
                cv: Condvar::new(),
                wake: w,
            },
            r,
        )
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
        // SAFETY: writing one byte from a valid buffer to our own pipe.
        unsafe { libc::write(self.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps `d` unless stopped first; true if stopped.
    fn sleep(&self, d: Duration) -> bool {
        let g = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *g
    }
}

// FUSE protocol (include/uapi/linux/fuse.h).
const FUSE_KERNEL_VERSION: u32 = 7;
const FUSE_MINOR: u32 = 31;
const FUSE_ROOT_ID: u64 = 1;
const FOPEN_DIRECT_IO: u32 = 1;
const IN_HEADER: usize = 40;
const OUT_HEADER: usize = 16;
const MAX_WRITE: u32 = 128 * 1024;
/// The kernel refuses reads of /dev/fuse smaller than the largest request it may send.
const BUF_SIZE: usize = MAX_WRITE as usize + 64 * 1024;

const FUSE_LOOKUP: u32 = 1;
const FUSE_FORGET: u32 = 2;
const FUSE_GETATTR: u32 = 3;
const FUSE_OPEN: u32 = 14;
const FUSE_READ: u32 = 15;
const FUSE_STATFS: u32 = 17;
const FUSE_RELEASE: u32 = 18;
const FUSE_FLUSH: u32 = 25;
const FUSE_INIT: u32 = 26;
const FUSE_OPENDIR: u32 = 27;
const FUSE_READDIR: u32 = 28;
const FUSE_RELEASEDIR: u32 = 29;
const FUSE_ACCESS: u32 = 34;
const FUSE_DESTROY: u32 = 38;
const FUSE_BATCH_FORGET: u32 = 42;

struct Fs {
    /// Node id of files[i] is i + 2 (1 is the root directory).
    files: Vec<(String, Vec<u8>)>,
    delay: Duration,
    time: (u64, u32),
}

impl Fs {
    fn new(files: Vec<(String, Vec<u8>)>, delay: Duration) -> Fs {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Fs {
            files,
            delay,
            time: (now.as_secs(), now.subsec_nanos()),
        }
    }

    fn file(&self, nodeid: u64) -> Option<&[u8]> {
        let i = usize::try_from(nodeid.checked_sub(2)?).ok()?;
        self.files.get(i).map(|(_, c)| c.as_slice())
    }

    /// fuse_attr of a node, or None if there is no such node.
    fn attr(&self, nodeid: u64, o: &mut Vec<u8>) -> Option<()> {
        let (size, mode, nlink) = if nodeid == FUSE_ROOT_ID {
            (0u64, libc::S_IFDIR | 0o555, 2u32)
        } else {
            (self.file(nodeid)?.len() as u64, libc::S_IFREG | 0o555, 1)
        };
        let (s, ns) = self.time;
        for v in [nodeid, size, size.div_ceil(512), s, s, s] {
            put64(o, v);
        }
        for v in [ns, ns, ns, mode, nlink, 0, 0, 0, 4096, 0] {
            put32(o, v);
        }
        Some(())
    }
}

fn put32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_ne_bytes());
}

fn put64(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_ne_bytes());
}

fn get32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap()))
}

fn get64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap()))
}

/// Writes one reply; errors (the request was interrupted, the connection is gone) are
/// nothing the server could do anything about.
fn reply(fd: BorrowedFd, unique: u64, result: Result<&[u8], i32>) {
    let (error, payload) = match result {
        Ok(p) => (0, p),
        Err(errno) => (-errno, &[][..]),
    };
    let mut o = Vec::with_capacity(OUT_HEADER + payload.len());
    put32(&mut o, (OUT_HEADER + payload.len()) as u32);
    put32(&mut o, error as u32);
    put64(&mut o, unique);
    o.extend_from_slice(payload);
    // SAFETY: writing a valid buffer to an fd we hold.
    unsafe { libc::write(fd.as_raw_fd(), o.as_ptr().cast(), o.len()) };
}

/// The server loop: reads requests until the connection goes away or Stop says so.
fn serve(fuse: OwnedFd, stop_r: OwnedFd, stop: &Stop, fs: &Fs, init_tx: mpsc::SyncSender<()>) {
    let mut buf = vec![0u8; BUF_SIZE];
    let fd = fuse.as_fd();
    std::thread::scope(|scope| loop {
        if stop.is_stopped() {
            break;
        }
        let mut pfd = [
            libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop_r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: pfd is a valid array of two pollfds.
        let r = unsafe { libc::poll(pfd.as_mut_ptr(), 2, 1000) };
        if r < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if pfd[1].revents != 0 {
            break;
        }
        if pfd[0].revents == 0 {
            continue;
        }
        // SAFETY: reading into a buffer we own, within its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            match io::Error::last_os_error().raw_os_error() {
                // Nothing queued after all, or the request was interrupted away.
                Some(libc::EAGAIN | libc::EINTR | libc::ENOENT) => continue,
                // ENODEV: unmounted, the connection is gone.
                _ => break,
            }
        }
        let req = &buf[..n as usize];
        if req.len() < IN_HEADER {
            continue;
        }
        let opcode = get32(req, 4);
        let unique = get64(req, 8);
        let nodeid = get64(req, 16);
        let arg = &req[IN_HEADER..];
        match opcode {
            FUSE_INIT => {
                let major = get32(arg, 0);
                if major < FUSE_KERNEL_VERSION {
                    reply(fd, unique, Err(libc::EPROTO));
                    continue;
                }
                let mut o = Vec::with_capacity(64);
                put32(&mut o, FUSE_KERNEL_VERSION);
                // A kernel with a newer major first sends INIT to learn ours.
                let minor = if major > FUSE_KERNEL_VERSION {
                    FUSE_MINOR
                } else {
                    get32(arg, 4).min(FUSE_MINOR)
                };
                put32(&mut o, minor);
                put32(&mut o, get32(arg, 8)); // max_readahead: as the kernel offers
                put32(&mut o, 0); // flags: no optional features
                o.extend_from_slice(&16u16.to_ne_bytes()); // max_background
                o.extend_from_slice(&12u16.to_ne_bytes()); // congestion_threshold
                put32(&mut o, MAX_WRITE);
                put32(&mut o, 1); // time_gran
                o.resize(64, 0); // max_pages, map_alignment, flags2, unused
                reply(fd, unique, Ok(&o));
                if major == FUSE_KERNEL_VERSION {
                    let _ = init_tx.try_send(());
                }
            }
            FUSE_LOOKUP | FUSE_GETATTR | FUSE_READ => {
                let name = arg.split(|&c| c == 0).next().unwrap_or_default().to_vec();
                let (offset, size) = (get64(arg, 8), get32(arg, 16));
                scope.spawn(move || {
                    if stop.sleep(fs.delay) {
                        return;
                    }
                    let mut o = Vec::new();
                    let res = match opcode {
                        FUSE_LOOKUP => lookup(fs, nodeid, &name, &mut o),
                        FUSE_GETATTR => {
                            put64(&mut o, 0); // attr_valid: never cache
                            put32(&mut o, 0);
                            put32(&mut o, 0);
                            fs.attr(nodeid, &mut o).ok_or(libc::ENOENT)
                        }
                        _ => match fs.file(nodeid) {
                            Some(c) => {
                                let start =
                                    usize::try_from(offset).unwrap_or(usize::MAX).min(c.len());
                                let end = start.saturating_add(size as usize).min(c.len());
                                o.extend_from_slice(&c[start..end]);
                                Ok(())
                            }
                            None => Err(if nodeid == FUSE_ROOT_ID {
                                libc::EISDIR
                            } else {
                                libc::ENOENT
                            }),
                        },
                    };
                    reply(fd, unique, res.map(|()| o.as_slice()));
                });
            }
            FUSE_OPEN => {
                let res = if fs.file(nodeid).is_some() {
                    Ok(open_out(FOPEN_DIRECT_IO))
                } else if nodeid == FUSE_ROOT_ID {
                    Err(libc::EISDIR)
                } else {
                    Err(libc::ENOENT)
                };
                reply(
                    fd,
                    unique,
                    res.as_ref().map(|o| o.as_slice()).map_err(|e| *e),
                );
            }
            FUSE_OPENDIR => {
                let res = if nodeid == FUSE_ROOT_ID {
                    Ok(open_out(0))
                } else {
                    Err(libc::ENOTDIR)
                };
                reply(
                    fd,
                    unique,
                    res.as_ref().map(|o| o.as_slice()).map_err(|e| *e),
                );
            }
            FUSE_READDIR => {
                let mut o = Vec::new();
                let res = readdir(fs, nodeid, get64(arg, 8), get32(arg, 16), &mut o);
                reply(fd, unique, res.map(|()| o.as_slice()));
            }
            FUSE_STATFS => {
                let mut o = Vec::with_capacity(80);
                let blocks: u64 = fs
                    .files
                    .iter()
                    .map(|(_, c)| (c.len() as u64).div_ceil(4096))
                    .sum();
                for v in [blocks, 0, 0, fs.files.len() as u64 + 1, 0] {
                    put64(&mut o, v);
                }
                for v in [4096, 255, 4096] {
                    put32(&mut o, v);
                }
                o.resize(80, 0);
                reply(fd, unique, Ok(&o));
            }
            FUSE_RELEASE | FUSE_RELEASEDIR | FUSE_FLUSH | FUSE_ACCESS | FUSE_DESTROY => {
                reply(fd, unique, Ok(&[]));
            }
            FUSE_FORGET | FUSE_BATCH_FORGET => {} // no reply
            // Everything else, INTERRUPT included (ENOSYS: the kernel stops sending them).
            _ => reply(fd, unique, Err(libc::ENOSYS)),
        }
    });
    // `fuse` is dropped here, after every delayed reply finished: closing /dev/fuse
    // aborts the connection.
}

fn open_out(flags: u32) -> Vec<u8> {
    let mut o = Vec::with_capacity(16);
    put64(&mut o, 0); // fh
    put32(&mut o, flags);
    put32(&mut o, 0);
    o
}

fn lookup(fs: &Fs, parent: u64, name: &[u8], o: &mut Vec<u8>) -> Result<(), i32> {
    if parent != FUSE_ROOT_ID {
        return Err(libc::ENOENT);
    }
    let i = fs
        .files
        .iter()
        .position(|(n, _)| n.as_bytes() == name)
        .ok_or(libc::ENOENT)?;
    let nodeid = i as u64 + 2;
    put64(o, nodeid);
    put64(o, 0); // generation
    put64(o, 0); // entry_valid: never cache the name...
    put64(o, 0); // attr_valid: ...nor the attributes
    put32(o, 0);
    put32(o, 0);
    fs.attr(nodeid, o).ok_or(libc::ENOENT)
}

/// fuse_dirent records from entry `offset` on (".", "..", then the files), as many as
/// fit in `size`; each record's `off` is the index of the next one.
fn readdir(fs: &Fs, nodeid: u64, offset: u64, size: u32, o: &mut Vec<u8>) -> Result<(), i32> {
    if nodeid != FUSE_ROOT_ID {
        return Err(libc::ENOTDIR);
    }
    let entries = [
        (FUSE_ROOT_ID, ".", libc::DT_DIR),
        (FUSE_ROOT_ID, "..", libc::DT_DIR),
    ]
    .into_iter()
    .chain(
        fs.files
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (i as u64 + 2, n.as_str(), libc::DT_REG)),
    );
    for (idx, (ino, name, typ)) in entries
        .enumerate()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
    {
        let len = (24 + name.len()).next_multiple_of(8);
        if o.len() + len > size as usize {
            break;
        }
        put64(o, ino);
        put64(o, idx as u64 + 1);
        put32(o, name.len() as u32);
        put32(o, u32::from(typ));
        o.extend_from_slice(name.as_bytes());
        o.resize(o.len().next_multiple_of(8), 0);
    }
    Ok(())
}
