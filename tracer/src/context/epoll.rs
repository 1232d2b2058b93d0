//! What a process has registered with its epoll instances, from /proc: the kernel lists
//! each instance's registrations in the fdinfo of its fd ("tfd: N events: HEX ..."), so
//! registrations made before tracing began are known too.
use std::{fs, path::Path};

/// One fd registered with one epoll instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub epfd: u32,
    pub fd: u32,
    pub events: u32,
    /// "socket", "pipe", "eventfd", "anon", "device", "file".
    pub kind: String,
}

/// The (fd, events) lines of an epoll instance's fdinfo.
pub fn parse_epoll_fdinfo(text: &str) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("tfd:")?;
            let mut words = rest.split_whitespace();
            let fd = words.next()?.parse().ok()?;
            let events = match (words.next(), words.next()) {
                (Some("events:"), Some(hex)) => u32::from_str_radix(hex, 16).ok()?,
                _ => return None,
            };
            Some((fd, events))
        })
        .collect()
}

/// What an fd is, from its /proc link.
pub fn fd_kind(link: &str) -> &'static str {
    if link.starts_with("socket:[") {
        "socket"
    } else if link.starts_with("pipe:[") {
        "pipe"
    } else if link == "anon_inode:[eventfd]" {
        "eventfd"
    } else if link.starts_with("anon_inode:") {
        "anon"
    } else if link.starts_with("/dev/") {
        "device"
    } else {
        "file"
    }
}

/// Every registration of every epoll instance of `pid` (empty when unreadable).
pub fn registrations(proc_root: &Path, pid: u32) -> Vec<Registration> {
    let dir = proc_root.join(pid.to_string());
    let Ok(fds) = fs::read_dir(dir.join("fd")) else {
        return Vec::new();
    };
    let link = |fd: &str| {
        fs::read_link(dir.join("fd").join(fd))
            .ok()
            .map(|l| l.to_string_lossy().into_owned())
    };
    let mut out = Vec::new();
    for e in fds.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(epfd) = name.parse::<u32>() else {
            continue;
        };
        if link(&name).as_deref() != Some("anon_inode:[eventpoll]") {
            continue;
        }
        let Ok(info) = fs::read_to_string(dir.join("fdinfo").join(&name)) else {
            continue;
        };
        for (fd, events) in parse_epoll_fdinfo(&info) {
            let kind = link(&fd.to_string()).map(|l| fd_kind(&l)).unwrap_or("file");
            out.push(Registration {
                epfd,
                fd,
                events,
                kind: kind.to_string(),
            });
        }
    }
    out.sort_by_key(|r| (r.epfd, r.fd));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fdinfo_of_an_epoll_instance() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n\
tfd:        6 events:       19 data:                0  pos:0 ino:40e sdev:10\n\
tfd:       14 events: 8000201d data: 3fa3ea1982000001  pos:0 ino:36064 sdev:9\n";
        assert_eq!(parse_epoll_fdinfo(text), [(6, 0x19), (14, 0x8000_201d)]);
        assert!(parse_epoll_fdinfo("tfd: x events: 1\n").is_empty());
    }

    #[test]
    fn names_fd_kinds() {
        assert_eq!(fd_kind("socket:[221284]"), "socket");
        assert_eq!(fd_kind("pipe:[1]"), "pipe");
        assert_eq!(fd_kind("anon_inode:[eventfd]"), "eventfd");
        assert_eq!(fd_kind("anon_inode:[timerfd]"), "anon");
        assert_eq!(fd_kind("/dev/pts/0"), "device");
        assert_eq!(fd_kind("/tmp/x"), "file");
    }

    #[test]
    fn reads_a_live_epoll_instance() {
        // SAFETY: plain syscalls on fds this test owns.
        let (ep, efd) = unsafe {
            (
                libc::epoll_create1(libc::EPOLL_CLOEXEC),
                libc::eventfd(0, libc::EFD_CLOEXEC),
            )
        };
        assert!(ep >= 0 && efd >= 0);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: valid fds and event.
        assert_eq!(
            unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut ev) },
            0
        );
        let regs = registrations(Path::new("/proc"), std::process::id());
        // SAFETY: closing our own fds.
        unsafe {
            libc::close(efd);
            libc::close(ep);
        }
        let mine = regs
            .iter()
            .find(|r| r.epfd == ep as u32 && r.fd == efd as u32)
            .unwrap_or_else(|| panic!("{regs:?}"));
        assert_eq!(mine.kind, "eventfd");
        assert_eq!(mine.events & libc::EPOLLIN as u32, libc::EPOLLIN as u32);
    }
}
