//! A slow, read-only FUSE filesystem for root integration tests: every LOOKUP, GETATTR
//! and READ it serves takes a known time, so a test can make a traced program block in
//! real `openat`/`stat`/`read` syscalls for as long as it wants.
//!
//! The FUSE protocol is the `fuser` crate's. As root, fuser opens /dev/fuse and mounts
//! with mount(2) itself; it would run `fusermount3` only if mount(2) said EPERM. Drop
//! detaches the mount and aborts its connection in one umount2(MNT_DETACH | MNT_FORCE),
//! stops the server and removes the mountpoint.
//!
//! Nothing is cached away: entries and attributes have a zero TTL (the kernel then
//! asks again on every path walk and stat), and every open uses FOPEN_DIRECT_IO, so
//! every read(2) reaches the server. Requests are served concurrently: each delayed
//! request waits `delay` on its own thread, so N threads reading at once each see about
//! `delay`, not N times it.
use std::{
    ffi::{CString, OsStr},
    io,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard, Once,
    },
    time::{Duration, SystemTime},
};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request, Session, SessionACL,
};
use tracer::context::mounts::MountTable;

/// The filesystem type as /proc/self/mountinfo shows it: `fuse.<subtype>`.
pub const FSTYPE: &str = "fuse.slowfs";
/// The subtype, and the source mountinfo shows.
const NAME: &str = "slowfs";
/// Mountpoints are `$TMPDIR/gotrace-slowfs-<pid>-<n>`; the pid lets a later mount clean up
/// what a killed test process left behind.
const DIR_PREFIX: &str = "gotrace-slowfs-";
/// Entries and attributes are never cached.
const TTL: Duration = Duration::ZERO;

/// A mounted slow filesystem; unmounted when dropped (also on unwind).
pub struct SlowFs {
    mountpoint: PathBuf,
    delays: Arc<Delays>,
    session: Option<BackgroundSession>,
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
        let delays = Arc::new(Delays::default());
        let tree = Tree {
            files: files
                .iter()
                .map(|(n, c)| (n.to_string(), c.clone()))
                .collect(),
            time: SystemTime::now(),
        };
        let server = Server(Arc::new(Shared {
            tree,
            delay,
            delays: delays.clone(),
        }));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName(NAME.into()),
            // fuser hands MountOption::Subtype only to fusermount; its own mount(2) needs
            // the kernel's `subtype=` parameter (fs/fuse/inode.c, fuse_parse_param) for
            // mountinfo to say fuse.slowfs.
            MountOption::CUSTOM(format!("subtype={NAME}")),
            MountOption::RO,
            MountOption::NoSuid,
            MountOption::NoDev,
        ];
        // allow_other: the traced programs need not run as the mounting user.
        config.acl = SessionACL::All;
        // Session::new returns once the kernel's INIT is answered.
        match Session::new(server, &mountpoint, &config).and_then(Session::spawn) {
            Ok(session) => SlowFs {
                mountpoint,
                delays,
                session: Some(session),
            },
            Err(e) => {
                let _ = std::fs::remove_dir(&mountpoint);
                panic!(
                    "slowfs: mount at {} failed: {e} (needs root and FUSE)",
                    mountpoint.display()
                );
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
        // MNT_DETACH takes the mount out of the namespace at once, even while a process
        // has a file open in it. MNT_FORCE aborts the FUSE connection (fs/fuse/inode.c,
        // fuse_umount_begin): requests in flight fail with ENOTCONN instead of waiting
        // for their reply, later ones fail at once, and the session's read of /dev/fuse
        // fails with ENODEV, which ends its thread.
        let aborted = umount(&self.mountpoint, libc::MNT_DETACH | libc::MNT_FORCE);
        if let Err(e) = &aborted {
            eprintln!("slowfs: umount2({}) failed: {e}", self.mountpoint.display());
        }
        self.delays.stop();
        if let Some(session) = self.session.take() {
            // Joining a session whose connection is still alive would wait for its last
            // file to be closed: then let its thread go instead.
            if aborted.is_ok() {
                let _ = session.join();
            }
        }
        // Stopped, every delayed reply ends at once; with the session joined, no new one
        // starts.
        self.delays.wait_idle();
        if let Err(e) = std::fs::remove_dir(&self.mountpoint) {
            eprintln!("slowfs: cannot remove {}: {e}", self.mountpoint.display());
        }
    }
}

/// The fstype /proc/self/mountinfo shows for a mount exactly at `path`, if there is one
/// (the last one, if mounts are stacked there).
pub fn mounted_fstype(path: &Path) -> Option<String> {
    mount_table()
        .mounts
        .into_iter()
        .rfind(|m| m.mount_point == path)
        .map(|m| m.fstype)
}

fn mount_table() -> MountTable {
    MountTable::read_live(std::process::id()).unwrap_or_default()
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
    for m in mount_table().mounts {
        if m.fstype == FSTYPE && stale(&m.mount_point) {
            let _ = umount(&m.mount_point, libc::MNT_DETACH);
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

fn umount(p: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = CString::new(p.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: target is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::umount2(target.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The delayed replies in flight: Drop stops them (their sleep ends at once) and waits
/// until the last one is gone.
#[derive(Default)]
struct Delays {
    state: Mutex<DelayState>,
    cv: Condvar,
}

#[derive(Default)]
struct DelayState {
    stopped: bool,
    running: usize,
}

/// One delayed reply, counted from before its thread starts until it ends.
struct Running(Arc<Delays>);

impl Delays {
    fn lock(&self) -> MutexGuard<'_, DelayState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(self: &Arc<Self>) -> Running {
        self.lock().running += 1;
        Running(self.clone())
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.cv.notify_all();
    }

    /// Sleeps `d` unless stopped first; true if stopped.
    fn sleep(&self, d: Duration) -> bool {
        let (g, _) = self
            .cv
            .wait_timeout_while(self.lock(), d, |s| !s.stopped)
            .unwrap_or_else(|e| e.into_inner());
        g.stopped
    }

    fn wait_idle(&self) {
        let _g = self
            .cv
            .wait_while(self.lock(), |s| s.running > 0)
            .unwrap_or_else(|e| e.into_inner());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.lock().running -= 1;
        self.0.cv.notify_all();
    }
}

/// The root directory (inode 1) and its files: files[i] is inode i + 2.
struct Tree {
    files: Vec<(String, Vec<u8>)>,
    time: SystemTime,
}

impl Tree {
    fn file(&self, ino: INodeNo) -> Option<&[u8]> {
        let i = usize::try_from(ino.0.checked_sub(2)?).ok()?;
        self.files.get(i).map(|(_, c)| c.as_slice())
    }

    fn attr(&self, ino: INodeNo) -> Option<FileAttr> {
        let (size, kind, nlink) = if ino == INodeNo::ROOT {
            (0, FileType::Directory, 2)
        } else {
            (self.file(ino)?.len() as u64, FileType::RegularFile, 1)
        };
        Some(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            crtime: self.time,
            kind,
            perm: 0o555,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn lookup(&self, parent: INodeNo, name: &OsStr) -> Option<FileAttr> {
        if parent != INodeNo::ROOT {
            return None;
        }
        let i = self
            .files
            .iter()
            .position(|(n, _)| n.as_bytes() == name.as_bytes())?;
        self.attr(INodeNo(i as u64 + 2))
    }

    /// Up to `size` bytes from `offset`, or the errno for a node that is not a file.
    fn read(&self, ino: INodeNo, offset: u64, size: u32) -> Result<&[u8], Errno> {
        let Some(c) = self.file(ino) else {
            return Err(if ino == INodeNo::ROOT {
                Errno::EISDIR
            } else {
                Errno::ENOENT
            });
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(c.len());
        let end = start.saturating_add(size as usize).min(c.len());
        Ok(&c[start..end])
    }
}

struct Shared {
    tree: Tree,
    delay: Duration,
    delays: Arc<Delays>,
}

struct Server(Arc<Shared>);

impl Server {
    /// Answers with `answer` after the delay, on a thread of its own. A reply that is
    /// never answered (stopped, or the thread could not start) is answered EIO by fuser
    /// when it is dropped.
    fn later<R: Send + 'static>(&self, reply: R, answer: impl FnOnce(&Tree, R) + Send + 'static) {
        let shared = self.0.clone();
        let running = shared.delays.start();
        let _ = std::thread::Builder::new()
            .name("slowfs-delay".into())
            .spawn(move || {
                let _running = running;
                if !shared.delays.sleep(shared.delay) {
                    answer(&shared.tree, reply);
                }
            });
    }
}

impl Filesystem for Server {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.later(reply, move |t, reply| match t.lookup(parent, &name) {
            Some(attr) => reply.entry(&TTL, &attr, Generation(0)),
            None => reply.error(Errno::ENOENT),
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.later(reply, move |t, reply| match t.attr(ino) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        });
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.later(reply, move |t, reply| match t.read(ino, offset, size) {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(e),
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.0.tree.file(ino).is_some() {
            // Direct I/O: no page cache, every read(2) is a READ.
            reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
        } else if ino == INodeNo::ROOT {
            reply.error(Errno::EISDIR);
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino == INodeNo::ROOT {
            reply.opened(FileHandle(0), FopenFlags::empty());
        } else {
            reply.error(Errno::ENOTDIR);
        }
    }

    /// ".", "..", then the files, from entry `offset` on; each entry's offset is the
    /// index of the next one.
    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino != INodeNo::ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let dots = [".", ".."].map(|name| (name, INodeNo::ROOT, FileType::Directory));
        let files = self.0.tree.files.iter().enumerate();
        let files =
            files.map(|(i, (n, _))| (n.as_str(), INodeNo(i as u64 + 2), FileType::RegularFile));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (name, ino, kind)) in dots.into_iter().chain(files).enumerate().skip(skip) {
            if reply.add(ino, i as u64 + 1, kind, name) {
                break; // the reply is full
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let files = &self.0.tree.files;
        let blocks = files
            .iter()
            .map(|(_, c)| (c.len() as u64).div_ceil(4096))
            .sum();
        reply.statfs(blocks, 0, 0, files.len() as u64 + 1, 0, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }
}
