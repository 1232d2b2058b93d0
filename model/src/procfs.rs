//! Plumbing shared by the context readers: where the real /proc and /sys are, reading
//! small kernel files, and the "flat keyed" `key value` files of cgroupfs.
//!
//! Every reader of these files takes its roots (`proc_root`, `sys_root`) as parameters so
//! that tests run on fixture trees in a temporary directory; [`proc_root`] and
//! [`sys_root`] are the real ones.
use std::{
    io,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context as _, Result};

/// The real procfs mount.
pub fn proc_root() -> &'static Path {
    Path::new("/proc")
}

/// The real sysfs mount.
pub fn sys_root() -> &'static Path {
    Path::new("/sys")
}

/// `<proc_root>/<pid>/<name>`.
pub fn pid_path(proc_root: &Path, pid: u32, name: &str) -> PathBuf {
    proc_root.join(pid.to_string()).join(name)
}

/// `<proc_root>/<pid>/task/<tid>/<name>`: one thread's file.
pub fn task_path(proc_root: &Path, pid: u32, tid: u32, name: &str) -> PathBuf {
    pid_path(proc_root, pid, "task")
        .join(tid.to_string())
        .join(name)
}

/// `abs` re-rooted under `root`: `under("/proc/7/root", "/sys/fs/cgroup")` is
/// `/proc/7/root/sys/fs/cgroup`. (`Path::join` with an absolute path would replace
/// `root` instead.) `..` components are kept as they are: callers pass kernel-made paths.
pub fn under(root: &Path, abs: &Path) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in abs.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            other => p.push(other),
        }
    }
    p
}

/// The most gotrace reads of one /proc, /sys or cgroup file: far more than any real one
/// holds (a mountinfo of 10,000 mounts is about 1.5 MiB).
pub const KERNEL_FILE_LIMIT: u64 = 4 << 20;

/// Opens a file whose path a traced process may control (its cgroup files are reached
/// through its own root, `/proc/PID/root`), so that it cannot hang or flood gotrace:
/// opened non-blocking (a FIFO's open would wait for a writer), and refused unless it is
/// a regular file (a FIFO, `/dev/zero`, a socket are not what the kernel puts there).
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Reads at most `limit` bytes of a file opened with [`open_regular`]; a longer one is
/// an error, not a truncated answer.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    open_regular(path)?.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(buf)
}

/// [`read_bounded`] with the kernel-file limit, as text.
pub fn read_kernel_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_bounded(path, KERNEL_FILE_LIMIT)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    read_kernel_text(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a file that may legitimately be absent (a controller file that a cgroup does
/// not have, say): `Ok(None)` when it does not exist, an error for any other failure.
pub fn read_text_if_exists(path: &Path) -> Result<Option<String>> {
    match read_kernel_text(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads and parses a file that may be absent: `Ok(None)` when it does not exist, an
/// error naming the file when it cannot be read or `parse` rejects its contents.
pub fn read_parsed<T>(path: &Path, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>> {
    match read_text_if_exists(path)? {
        None => Ok(None),
        Some(text) => parse(&text)
            .map(Some)
            .with_context(|| format!("malformed {}: {:?}", path.display(), text.trim())),
    }
}

/// The `key value` pairs of a "flat keyed" file such as cpu.stat
/// (Documentation/admin-guide/cgroup-v2.rst, "Interface Files": one `KEY VALUE` per
/// line). Lines without two fields are skipped.
pub fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        Some((fields.next()?, fields.next()?))
    })
}

/// The value of `key` in a flat keyed file, as a u64. `None` when the key is absent or
/// its value is not a u64.
pub fn flat_keyed_u64(text: &str, key: &str) -> Option<u64> {
    flat_keyed(text)
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// Test helpers: fixture trees in a temporary directory, child processes that are killed
/// when the test ends however it ends, and the root check for tests on the real kernel.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_reroots_absolute_paths() {
        assert_eq!(
            under(Path::new("/proc/7/root"), Path::new("/sys/fs/cgroup")),
            PathBuf::from("/proc/7/root/sys/fs/cgroup")
        );
        assert_eq!(under(Path::new("/x"), Path::new("/")), PathBuf::from("/x"));
        assert_eq!(
            under(Path::new("/x"), Path::new("a/./b")),
            PathBuf::from("/x/a/b")
        );
    }

    #[test]
    fn flat_keyed_values() {
        let text = "nr_periods 12\nnr_throttled 3\n\nbogus\nthrottled_time x\n";
        assert_eq!(flat_keyed_u64(text, "nr_periods"), Some(12));
        assert_eq!(flat_keyed_u64(text, "nr_throttled"), Some(3));
        assert_eq!(flat_keyed_u64(text, "throttled_time"), None);
        assert_eq!(flat_keyed_u64(text, "bogus"), None);
        assert_eq!(flat_keyed_u64(text, "missing"), None);
        assert_eq!(flat_keyed(text).count(), 3);
    }

    /// A scratch directory with `write` and `path`, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let d = std::env::temp_dir().join(format!("gotrace-procfs-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("scratch dir");
            Scratch(d)
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }

        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.path(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn optional_reads() {
        let t = Scratch::new();
        let f = t.write("a/b", "hello\n");
        assert_eq!(read_text_if_exists(&f).unwrap().as_deref(), Some("hello\n"));
        assert_eq!(read_text_if_exists(&t.path("a/missing")).unwrap(), None);
        // A directory is not a missing file: that is an error, and it names the path.
        let err = read_text_if_exists(&t.path("a")).unwrap_err();
        assert!(format!("{err:#}").contains(&t.path("a").display().to_string()));
        assert!(read_text(&t.path("nope")).is_err());
        let num = |s: &str| s.trim().parse::<u32>().ok();
        assert_eq!(read_parsed(&t.write("n", "42\n"), num).unwrap(), Some(42));
        assert_eq!(read_parsed(&t.path("missing"), num).unwrap(), None);
        let err = read_parsed(&f, num).unwrap_err();
        assert!(format!("{err:#}").contains("malformed"), "{err:#}");
        assert_eq!(
            pid_path(Path::new("/p"), 42, "cgroup"),
            PathBuf::from("/p/42/cgroup")
        );
    }
}
