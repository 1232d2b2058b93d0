//! Launching the command to trace: forked paused, made a target, then released to exec,
//! so not one of its syscalls is missed. Under sudo it runs as the invoking user.
use std::{
    ffi::{CString, OsStr, OsString},
    io,
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::ffi::{OsStrExt, OsStringExt},
    },
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

/// Whom the command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
    pub home: Option<PathBuf>,
    pub groups: Vec<u32>,
}

/// The user who ran `sudo gotrace`, when gotrace runs as root through sudo: the command
/// then runs as that user, as it would without gotrace. None otherwise.
pub fn invoking_user() -> Result<Option<User>> {
    // SAFETY: geteuid has no preconditions.
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let (Ok(uid), Ok(gid)) = (std::env::var("SUDO_UID"), std::env::var("SUDO_GID")) else {
        return Ok(None);
    };
    let uid: u32 = uid
        .parse()
        .with_context(|| format!("SUDO_UID is not a uid: {uid:?}"))?;
    let gid: u32 = gid
        .parse()
        .with_context(|| format!("SUDO_GID is not a gid: {gid:?}"))?;
    if uid == 0 {
        return Ok(None);
    }
    let (name, home) = passwd_entry(uid);
    let groups = match &name {
        Some(n) => group_list(n, gid),
        None => vec![gid],
    };
    Ok(Some(User {
        uid,
        gid,
        name,
        home,
        groups,
    }))
}

/// Name and home directory of a uid from the passwd database.
fn passwd_entry(uid: u32) -> (Option<String>, Option<PathBuf>) {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data that getpwuid_r fills in.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the sizes given; getpwuid_r only writes into
    // `pw` and `buf`.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return (None, None);
    }
    // SAFETY: on success pw_name and pw_dir point to NUL-terminated strings inside `buf`.
    let (name, dir) = unsafe {
        (
            std::ffi::CStr::from_ptr(pw.pw_name),
            std::ffi::CStr::from_ptr(pw.pw_dir),
        )
    };
    (
        Some(name.to_string_lossy().into_owned()),
        Some(PathBuf::from(OsStr::from_bytes(dir.to_bytes()))),
    )
}

/// Supplementary groups of a user (getgrouplist), always including `gid`.
fn group_list(name: &str, gid: u32) -> Vec<u32> {
    let Ok(cname) = CString::new(name) else {
        return vec![gid];
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let want = n;
        // SAFETY: `groups` has room for `n` entries; getgrouplist writes at most that and
        // updates `n` with the real count.
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            return groups;
        }
        if n <= want {
            return vec![gid];
        }
    }
}

/// Finds the program like execvp would, so that a missing command is reported before
/// anything is loaded.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        bail!("cannot execute an empty command");
    }
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        check_executable(&p).with_context(|| format!("cannot execute '{shown}'"))?;
        return Ok(p);
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut denied = None;
    for dir in std::env::split_paths(path_var) {
        let candidate = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
        .join(program);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied = Some(e),
            Err(_) => {}
        }
    }
    match denied {
        Some(e) => Err(e).with_context(|| format!("cannot execute '{shown}'")),
        None => bail!("cannot execute '{shown}': command not found"),
    }
}

fn check_executable(p: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "is a directory",
        ));
    }
    rustix::fs::access(p, rustix::fs::Access::EXEC_OK).map_err(io::Error::from)
}

/// A forked child waiting for [`Paused::release`] before it execs.
pub struct Paused {
    pid: u32,
    go: OwnedFd,
    exec_error: OwnedFd,
    shown: String,
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(io::Error::from)
}

fn cstring(b: &[u8], what: &str) -> Result<CString> {
    CString::new(b).with_context(|| format!("{what} contains a NUL byte"))
}

/// Forks a child that will exec `program` with `argv` (argv[0] included) once released.
/// Everything the child needs is prepared before the fork, because after it only
/// async-signal-safe calls are allowed.
/// Where a launched command's standard streams go when they do not stay on the
/// terminal (the dashboard owns it): stdin from /dev/null, stdout and stderr into `out`.
pub struct Capture {
    pub out: OwnedFd,
    pub null: OwnedFd,
}

impl Capture {
    /// A pipe for the command's output; returns the capture and the read end.
    pub fn pipe() -> Result<(Capture, OwnedFd)> {
        let (rd, wr) = cloexec_pipe().context("create the output pipe")?;
        let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
        Ok((
            Capture {
                out: wr,
                null: null.into(),
            },
            rd,
        ))
    }
}

/// Forks the command, paused before its exec until [`Paused::release`]. Its output goes
/// into `capture` when given; else, with `stdout_to_stderr` (the trace goes to gotrace's
/// stdout), its stdout goes to gotrace's stderr, so it can neither mix into nor forge
/// lines of the trace.
pub fn spawn_paused(
    program: &Path,
    argv: &[OsString],
    user: Option<&User>,
    capture: Option<&Capture>,
    stdout_to_stderr: bool,
) -> Result<Paused> {
    let redirect = capture.map(|c| (c.null.as_raw_fd(), c.out.as_raw_fd()));
    let shown = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let c_program = cstring(program.as_os_str().as_bytes(), "the program path")?;
    let c_args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes(), "an argument"))
        .collect::<Result<_>>()?;
    let mut arg_ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());

    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    if let Some(u) = user {
        let mut set = |k: &str, v: OsString| {
            env.retain(|(key, _)| key != k);
            env.push((k.into(), v));
        };
        if let Some(name) = &u.name {
            set("USER", name.into());
            set("LOGNAME", name.into());
        }
        if let Some(home) = &u.home {
            set("HOME", home.clone().into_os_string());
        }
    }
    let c_env: Vec<CString> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    let groups: Vec<libc::gid_t> = user.map(|u| u.groups.clone()).unwrap_or_default();
    let ids = user.map(|u| (u.uid, u.gid));

    let (go_rd, go_wr) = cloexec_pipe().context("create a pipe")?;
    let (err_rd, err_wr) = cloexec_pipe().context("create a pipe")?;

    // SAFETY: fork is sound here because the child only calls async-signal-safe functions
    // (read, write, setgroups, setgid, setuid, sigaction via signal, execve, _exit) on
    // memory prepared above, and never returns into Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        // Child.
        // SAFETY: see above; every pointer refers to data prepared before the fork.
        unsafe {
            let fail = |err_fd: i32| -> ! {
                let e = *libc::__errno_location();
                let bytes = e.to_ne_bytes();
                libc::write(err_fd, bytes.as_ptr().cast(), 4);
                libc::_exit(127)
            };
            let mut b = 0u8;
            loop {
                let n = libc::read(go_rd.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
                if n == 1 {
                    break;
                }
                if n == 0 || *libc::__errno_location() != libc::EINTR {
                    // gotrace went away before releasing us.
                    libc::_exit(127);
                }
            }
            if let Some((uid, gid)) = ids {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    fail(err_wr.as_raw_fd());
                }
            }
            if let Some((null, out)) = redirect {
                if libc::dup2(null, 0) < 0 || libc::dup2(out, 1) < 0 || libc::dup2(out, 2) < 0 {
                    fail(err_wr.as_raw_fd());
                }
            } else if stdout_to_stderr && libc::dup2(2, 1) < 0 {
                fail(err_wr.as_raw_fd());
            }
            // Rust ignores SIGPIPE; the command must get the default back.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::execve(c_program.as_ptr(), arg_ptrs.as_ptr(), env_ptrs.as_ptr());
            fail(err_wr.as_raw_fd());
        }
    }
    drop(go_rd);
    drop(err_wr);
    Ok(Paused {
        pid: pid as u32,
        go: go_wr,
        exec_error: err_rd,
        shown,
    })
}

impl Paused {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the child exec, and reports whether the exec worked.
    pub fn release(self) -> Result<u32> {
        match rustix::io::write(&self.go, &[1u8]) {
            Ok(1) => {}
            Ok(_) => bail!("release the launched command: nothing written"),
            Err(e) => return Err(io::Error::from(e)).context("release the launched command"),
        }
        drop(self.go);
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match rustix::io::read(&self.exec_error, &mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        if got == 0 {
            // EOF: the pipe was closed by a successful exec.
            return Ok(self.pid);
        }
        // Our own child, which exits right after reporting.
        reap_blocking(self.pid);
        let err = io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
        bail!("cannot execute '{}': {}", self.shown, strip_os_error(&err))
    }
}

pub use gotrace_model::errno::strip_os_error;

/// Sends `sig` to one of our own children (a pid we have not reaped, so not reused).
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Waits for one of our own children to exit and reaps it.
pub fn reap_blocking(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    }
}

/// Reaps a child that has exited; returns its wait status.
pub fn reap(pid: u32) -> Option<i32> {
    let pid = rustix::process::Pid::from_raw(pid as i32)?;
    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
        Ok(Some((_, status))) => Some(status.as_raw()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_programs_on_path() {
        let p = resolve_program(
            OsStr::new("sh"),
            Some(OsStr::new("/nonexistent:/bin:/usr/bin")),
        )
        .expect("sh is on PATH");
        assert!(p.ends_with("sh"), "{p:?}");
        let e = resolve_program(OsStr::new("no-such-command-xyz"), Some(OsStr::new("/bin")))
            .expect_err("missing command");
        assert_eq!(
            e.to_string(),
            "cannot execute 'no-such-command-xyz': command not found"
        );
        let plain = std::env::temp_dir().join(format!("gotrace-noexec-{}", std::process::id()));
        std::fs::write(&plain, "not a program").expect("write temp file");
        let e = resolve_program(plain.as_os_str(), None).expect_err("not executable");
        let _ = std::fs::remove_file(&plain);
        assert!(format!("{e:#}").contains("Permission denied"), "{e:#}");
        let e = resolve_program(OsStr::new("/no/such/file"), None).expect_err("missing file");
        assert!(format!("{e:#}").contains("No such file"), "{e:#}");
    }

    #[test]
    fn paused_child_runs_only_when_released() {
        let dir = std::env::temp_dir().join(format!("gotrace-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let marker = dir.join("ran");
        let script = format!("touch {}", marker.display());
        let argv: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
        let paused = spawn_paused(Path::new("/bin/sh"), &argv, None, None, false).expect("fork");
        // Held: blocked reading its release pipe, not yet sh.
        let syscall = format!("/proc/{}/syscall", paused.pid());
        let read_nr = libc::SYS_read.to_string();
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&syscall)
            .is_ok_and(|s| s.split_whitespace().next() == Some(&read_nr))
        {
            assert!(
                start.elapsed().as_secs() < 10,
                "the paused child never waited"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!marker.exists(), "the child ran before it was released");
        let pid = paused.release().expect("exec");
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
        assert!(marker.exists(), "the released child did not run");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn captured_output_arrives_on_the_pipe() {
        use std::io::Read;
        let (capture, rd) = Capture::pipe().expect("pipe");
        let argv: Vec<OsString> = vec![
            "sh".into(),
            "-c".into(),
            "echo out; echo err >&2; cat".into(),
        ];
        let paused =
            spawn_paused(Path::new("/bin/sh"), &argv, None, Some(&capture), false).expect("fork");
        drop(capture);
        let pid = paused.release().expect("exec");
        let mut text = String::new();
        std::fs::File::from(rd)
            .read_to_string(&mut text)
            .expect("read");
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
        // stdin was /dev/null, so cat ended at once.
        assert_eq!(text, "out\nerr\n");
    }

    #[test]
    fn exec_failure_is_reported() {
        let argv: Vec<OsString> = vec!["x".into()];
        // A directory passes no exec: execve fails with EACCES in the child.
        let paused = spawn_paused(Path::new("/"), &argv, None, None, false).expect("fork");
        let e = paused.release().expect_err("exec of a directory must fail");
        assert_eq!(e.to_string(), "cannot execute 'x': Permission denied");
    }
}
