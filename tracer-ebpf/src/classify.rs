//! What a blocked syscall waited on: a file on some filesystem (by device), a pipe, a
//! socket, a futex, the poller, a child, a sleep. Only called for calls that blocked or
//! were slow, so its pointer chasing stays off the common path.
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_user};
use tracer_common::{class, futex_parks, waits_on, Waits};

use crate::{
    maps::{read_kernel_u16, read_kernel_u32, read_kernel_u64},
    off,
};

// include/uapi/linux/stat.h
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFCHR: u16 = 0o020000;
const S_IFIFO: u16 = 0o010000;

/// (class, dev) of a returning call. `args` are its argument registers.
///
/// Out of line (a BPF-to-BPF call): only blocked and slow calls come here, and inlined
/// into sys_exit it doubled the verifier's time on it (docs/benchmarks.md).
#[inline(never)]
pub fn classify(nr: u32, ret: i64, args: &[u64; 6]) -> (u32, u32) {
    match waits_on(nr) {
        Waits::Futex if futex_parks(nr, args) => (class::FUTEX_IDLE, 0),
        Waits::Futex => (class::FUTEX, 0),
        Waits::Poll => (class::NETPOLL, 0),
        Waits::Child => (class::CHILD_WAIT, 0),
        Waits::Nanosleep => (class::NANOSLEEP, 0),
        Waits::Sleep => (class::SLEEP, 0),
        Waits::Fd => file_class(args[0] as u32),
        Waits::Open if ret >= 0 => file_class(ret as u32),
        // A new program: its time went to reading it in (and the loader), from the
        // filesystem it lives on.
        Waits::Exec if ret == 0 => exe_class(),
        // A successful stat names the file's device in the buffer it filled.
        Waits::Statx if ret == 0 => match statx_dev(args[4]) {
            Some(dev) => (class::FS, dev),
            None => cwd_class(),
        },
        Waits::Stat(arg) if ret == 0 => stat_dev(args[(arg & 3) as usize])
            .map(|d| (class::FS, d))
            .unwrap_or_else(cwd_class),
        // Failed opens and stats, and other path-based calls: the cwd's filesystem, which
        // is where a relative path (go build's usual case) is looked up.
        Waits::Open | Waits::Exec | Waits::Statx | Waits::Stat(_) | Waits::Path => cwd_class(),
        Waits::Other => (class::OTHER, 0),
    }
}

#[inline(always)]
pub fn file_class(fd: u32) -> (u32, u32) {
    // SAFETY: no preconditions.
    let task = unsafe { bpf_get_current_task() };
    match file_inode(task, fd) {
        Some(inode) => inode_class(inode),
        None => (class::OTHER, 0),
    }
}

/// The program the current task runs: current->mm->exe_file->f_inode.
#[inline(always)]
fn exe_class() -> (u32, u32) {
    // SAFETY: no preconditions.
    let task = unsafe { bpf_get_current_task() };
    let inode = read_kernel_u64(task, off!(task_mm))
        .filter(|mm| *mm != 0)
        .and_then(|mm| read_kernel_u64(mm, off!(mm_exe_file)))
        .filter(|f| *f != 0)
        .and_then(|f| read_kernel_u64(f, off!(file_inode)));
    match inode {
        Some(inode) => inode_class(inode),
        None => (class::OTHER, 0),
    }
}

/// A pipe, a socket, a character device, or a file on the filesystem with device `dev`.
#[inline(always)]
fn inode_class(inode: u64) -> (u32, u32) {
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
