//! Who holds which pipe, from /proc: the fact behind "Cmd.Wait hangs because a
//! grandchild still holds the output pipe".
use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
};

/// One end of a pipe as a process holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeEnd {
    pub pid: u32,
    pub fd: u32,
    pub inode: u64,
    /// Opened for writing (O_WRONLY or O_RDWR).
    pub write: bool,
}

/// "pipe:[12345]" -> 12345.
pub fn parse_pipe_link(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

/// The "flags:" line of /proc/PID/fdinfo/FD (octal) -> opened for writing?
pub fn parse_fdinfo_write(fdinfo: &str) -> Option<bool> {
    let flags = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))?
        .trim();
    let flags = u32::from_str_radix(flags, 8).ok()?;
    Some(matches!(flags & 0o3, 0o1 | 0o2))
}

/// Every pipe end `pid` holds (empty when it cannot be read).
pub fn pipe_ends(proc_root: &Path, pid: u32) -> Vec<PipeEnd> {
    let dir = proc_root.join(pid.to_string());
    let Ok(fds) = fs::read_dir(dir.join("fd")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in fds.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Some(inode) = fs::read_link(e.path())
            .ok()
            .and_then(|l| l.to_str().and_then(parse_pipe_link))
        else {
            continue;
        };
        let write = fs::read_to_string(dir.join("fdinfo").join(fd.to_string()))
            .ok()
            .and_then(|s| parse_fdinfo_write(&s))
            .unwrap_or(false);
        out.push(PipeEnd {
            pid,
            fd,
            inode,
            write,
        });
    }
    out
}

/// A process other than the reader that holds the write end of a pipe the reader reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignWriter {
    pub reader: u32,
    pub inode: u64,
    pub holder: u32,
    pub holder_ppid: u32,
    /// argv joined, or the comm.
    pub holder_command: String,
}

/// For each reader, the pipes it reads whose write end some other process holds.
/// Scans every process once.
pub fn foreign_writers(proc_root: &Path, readers: &[u32]) -> Vec<ForeignWriter> {
    let mut read_by: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut own_writes: HashSet<(u32, u64)> = HashSet::new();
    for &r in readers {
        for end in pipe_ends(proc_root, r) {
            if end.write {
                own_writes.insert((r, end.inode));
            } else {
                read_by.entry(end.inode).or_default().push(r);
            }
        }
    }
    if read_by.is_empty() {
        return Vec::new();
    }
    let Ok(procs) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in procs.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let mut seen = HashSet::new();
        for end in pipe_ends(proc_root, pid).into_iter().filter(|e| e.write) {
            let Some(readers_of) = read_by.get(&end.inode) else {
                continue;
            };
            for &reader in readers_of {
                if reader == pid
                    || own_writes.contains(&(reader, end.inode))
                    || !seen.insert((reader, end.inode))
                {
                    continue;
                }
                out.push(ForeignWriter {
                    reader,
                    inode: end.inode,
                    holder: pid,
                    holder_ppid: read_ppid(proc_root, pid).unwrap_or(0),
                    holder_command: command_of(proc_root, pid),
                });
            }
        }
    }
    out.sort_by_key(|w| (w.reader, w.inode, w.holder));
    out
}

fn read_ppid(proc_root: &Path, pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    crate::tracee::parse_stat_ppid(&stat)
}

fn command_of(proc_root: &Path, pid: u32) -> String {
    let dir = proc_root.join(pid.to_string());
    if let Ok(raw) = fs::read(dir.join("cmdline")) {
        let args = crate::tracee::parse_cmdline(&raw);
        if !args.is_empty() {
            return args.join(" ");
        }
    }
    fs::read_to_string(dir.join("comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_links_and_flags() {
        assert_eq!(parse_pipe_link("pipe:[4242]"), Some(4242));
        assert_eq!(parse_pipe_link("socket:[1]"), None);
        assert_eq!(parse_pipe_link("/dev/null"), None);
        assert_eq!(
            parse_fdinfo_write("pos:\t0\nflags:\t02000001\nmnt_id:\t15\n"),
            Some(true)
        );
        assert_eq!(
            parse_fdinfo_write("pos:\t0\nflags:\t02000000\n"),
            Some(false)
        );
        assert_eq!(parse_fdinfo_write("flags:\t0100002\n"), Some(true));
        assert_eq!(parse_fdinfo_write("nothing"), None);
    }

    #[test]
    fn finds_a_process_holding_our_pipe_open() {
        // This test process reads a pipe whose write end a `sleep` child holds (as a
        // grandchild holds a Cmd's stdout pipe).
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .stdout(unsafe {
                // SAFETY: fds[1] is a valid fd we own; the Stdio takes it over.
                <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1])
            })
            .spawn()
            .expect("spawn sleep");
        // spawn returns once the exec is past its point of no return, before the kernel
        // has set up the new argv: until then cmdline is empty and the holder shows by its
        // comm. Looked for once it is a `sleep 10` through and through.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while crate::tracee::read_cmdline(child.id()) != ["sleep", "10"]
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let me = std::process::id();
        let found = foreign_writers(Path::new("/proc"), &[me]);
        let _ = child.kill();
        let _ = child.wait();
        // SAFETY: closing our read end.
        unsafe { libc::close(fds[0]) };
        let w = found
            .iter()
            .find(|w| w.holder == child.id())
            .unwrap_or_else(|| panic!("sleep not found in {found:?}"));
        assert_eq!(w.reader, me);
        assert_eq!(w.holder_ppid, me);
        assert_eq!(w.holder_command, "sleep 10");
    }
}
