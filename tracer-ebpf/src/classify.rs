//! What a blocked syscall waited on: a file on some filesystem (by device), a pipe, a
//! socket, a futex, the poller, a child, a sleep. Only called for calls that blocked or
//! were slow, so its pointer chasing stays off the common path.
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_user};
use tracer_common::class;

use crate::{
    maps::{read_kernel_u16, read_kernel_u32, read_kernel_u64},
    off,
};

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const READ: u32 = 0;
const WRITE: u32 = 1;
const OPEN: u32 = 2;
const STAT: u32 = 4;
const FSTAT: u32 = 5;
const LSTAT: u32 = 6;
const POLL: u32 = 7;
const LSEEK: u32 = 8;
const IOCTL: u32 = 16;
const PREAD64: u32 = 17;
const PWRITE64: u32 = 18;
const READV: u32 = 19;
const WRITEV: u32 = 20;
const ACCESS: u32 = 21;
const SELECT: u32 = 23;
const NANOSLEEP: u32 = 35;
const SENDFILE: u32 = 40;
const WAIT4: u32 = 61;
const FLOCK: u32 = 73;
const FSYNC: u32 = 74;
const FDATASYNC: u32 = 75;
const TRUNCATE: u32 = 76;
const FTRUNCATE: u32 = 77;
const GETDENTS: u32 = 78;
const CHDIR: u32 = 80;
const RENAME: u32 = 82;
const MKDIR: u32 = 83;
const RMDIR: u32 = 84;
const CREAT: u32 = 85;
const LINK: u32 = 86;
const UNLINK: u32 = 87;
const SYMLINK: u32 = 88;
const READLINK: u32 = 89;
const CHMOD: u32 = 90;
const CHOWN: u32 = 92;
const FUTEX: u32 = 202;
const GETDENTS64: u32 = 217;
const CLOCK_NANOSLEEP: u32 = 230;
const EPOLL_WAIT: u32 = 232;
const WAITID: u32 = 247;
const OPENAT: u32 = 257;
const MKDIRAT: u32 = 258;
const NEWFSTATAT: u32 = 262;
const UNLINKAT: u32 = 263;
const RENAMEAT: u32 = 264;
const READLINKAT: u32 = 267;
const FCHMODAT: u32 = 268;
const FACCESSAT: u32 = 269;
const PSELECT6: u32 = 270;
const PPOLL: u32 = 271;
const SPLICE: u32 = 275;
const SYNC_FILE_RANGE: u32 = 277;
const UTIMENSAT: u32 = 280;
const EPOLL_PWAIT: u32 = 281;
const FALLOCATE: u32 = 285;
const PREADV: u32 = 295;
const PWRITEV: u32 = 296;
const RENAMEAT2: u32 = 316;
const COPY_FILE_RANGE: u32 = 326;
const PREADV2: u32 = 327;
const PWRITEV2: u32 = 328;
const STATX: u32 = 332;
const OPENAT2: u32 = 437;
const FACCESSAT2: u32 = 439;
const EPOLL_PWAIT2: u32 = 441;
const FUTEX_WAITV: u32 = 449;
const FUTEX_WAIT: u32 = 455;

// include/uapi/linux/stat.h
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFCHR: u16 = 0o020000;
const S_IFIFO: u16 = 0o010000;

/// (class, dev) of a returning call. `args` are its argument registers.
#[inline(always)]
pub fn classify(nr: u32, ret: i64, args: &[u64; 6]) -> (u32, u32) {
    match nr {
        FUTEX => {
            // FUTEX_WAIT (0) or FUTEX_WAIT_BITSET (9) with no timeout: parked for good.
            let cmd = args[1] & 0x7f;
            if (cmd == 0 || cmd == 9) && args[3] == 0 {
                (class::FUTEX_IDLE, 0)
            } else {
                (class::FUTEX, 0)
            }
        }
        FUTEX_WAITV | FUTEX_WAIT => (class::FUTEX, 0),
        EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 | POLL | PPOLL | SELECT | PSELECT6 => {
            (class::NETPOLL, 0)
        }
        WAIT4 | WAITID => (class::CHILD_WAIT, 0),
        NANOSLEEP => (class::NANOSLEEP, 0),
        CLOCK_NANOSLEEP => (class::SLEEP, 0),
        READ | WRITE | PREAD64 | PWRITE64 | READV | WRITEV | PREADV | PWRITEV | PREADV2
        | PWRITEV2 | FSYNC | FDATASYNC | FTRUNCATE | FALLOCATE | SYNC_FILE_RANGE | LSEEK
        | GETDENTS | GETDENTS64 | FLOCK | IOCTL | FSTAT | SENDFILE | SPLICE | COPY_FILE_RANGE => {
            file_class(args[0] as u32)
        }
        OPEN | OPENAT | OPENAT2 | CREAT => {
            if ret >= 0 {
                file_class(ret as u32)
            } else {
                cwd_class()
            }
        }
        STATX if ret == 0 => match statx_dev(args[4]) {
            Some(dev) => (class::FS, dev),
            None => cwd_class(),
        },
        STAT | LSTAT if ret == 0 => stat_dev(args[1])
            .map(|d| (class::FS, d))
            .unwrap_or_else(cwd_class),
        NEWFSTATAT if ret == 0 => stat_dev(args[2])
            .map(|d| (class::FS, d))
            .unwrap_or_else(cwd_class),
        STAT | LSTAT | NEWFSTATAT | STATX | ACCESS | FACCESSAT | FACCESSAT2 | READLINK
        | READLINKAT | MKDIR | MKDIRAT | UNLINK | UNLINKAT | RMDIR | RENAME | RENAMEAT
        | RENAMEAT2 | LINK | SYMLINK | CHDIR | TRUNCATE | CHMOD | FCHMODAT | CHOWN | UTIMENSAT => {
            cwd_class()
        }
        _ => (class::OTHER, 0),
    }
}

/// The class of an open file descriptor of the current task.
#[inline(always)]
pub fn file_class(fd: u32) -> (u32, u32) {
    // SAFETY: no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let Some(inode) = file_inode(task, fd) else {
        return (class::OTHER, 0);
    };
    let mode = read_kernel_u16(inode, off!(inode_mode)).unwrap_or(0) & S_IFMT;
    match mode {
        S_IFIFO => (class::PIPE, 0),
        S_IFSOCK => (class::SOCKET, 0),
        S_IFCHR => (class::DEVICE, 0),
        _ => match read_kernel_u64(inode, off!(inode_sb))
            .and_then(|sb| read_kernel_u32(sb, off!(sb_dev)))
        {
            Some(dev) => (class::FS, dev),
            None => (class::OTHER, 0),
        },
    }
}

/// current->files->fdt->fd[fd]->f_inode
#[inline(always)]
fn file_inode(task: u64, fd: u32) -> Option<u64> {
    let files = read_kernel_u64(task, off!(task_files))?;
    let fdt = read_kernel_u64(files, off!(files_fdt))?;
    let max = read_kernel_u32(fdt, off!(fdt_max_fds))?;
    if fd >= max {
        return None;
    }
    let array = read_kernel_u64(fdt, off!(fdt_fd))?;
    let file = read_kernel_u64(array + (fd as u64) * 8, 0)?;
    if file == 0 {
        return None;
    }
    read_kernel_u64(file, off!(file_inode))
}

/// A path-based call without a device of its own: the filesystem of the cwd, which is
/// where relative paths (a build's) lead.
#[inline(always)]
fn cwd_class() -> (u32, u32) {
    // SAFETY: no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let dev = read_kernel_u64(task, off!(task_fs))
        .and_then(|fs| read_kernel_u64(fs, off!(fs_pwd_dentry)))
        .and_then(|dentry| read_kernel_u64(dentry, off!(dentry_sb)))
        .and_then(|sb| read_kernel_u32(sb, off!(sb_dev)));
    match dev {
        Some(d) => (class::FS_CWD, d),
        None => (class::OTHER, 0),
    }
}

/// struct statx (include/uapi/linux/stat.h): stx_dev_major at 136, stx_dev_minor at 140.
#[inline(always)]
fn statx_dev(buf: u64) -> Option<u32> {
    if buf == 0 {
        return None;
    }
    // SAFETY: a user buffer the call just filled; bpf_probe_read_user checks it.
    let (major, minor) = unsafe {
        (
            bpf_probe_read_user((buf + 136) as *const u32).ok()?,
            bpf_probe_read_user((buf + 140) as *const u32).ok()?,
        )
    };
    Some((major << 20) | minor)
}

/// struct stat's st_dev (offset 0 on x86_64) in the new_encode_dev format
/// (include/linux/kdev_t.h) -> the kernel's MKDEV.
#[inline(always)]
fn stat_dev(buf: u64) -> Option<u32> {
    if buf == 0 {
        return None;
    }
    // SAFETY: a user buffer the call just filled; bpf_probe_read_user checks it.
    let dev: u64 = unsafe { bpf_probe_read_user(buf as *const u64).ok()? };
    let major = ((dev >> 8) & 0xfff) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    Some((major << 20) | minor)
}
