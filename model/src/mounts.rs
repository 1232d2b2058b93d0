//! A process's mount table, from /proc/PID/mountinfo, and the kind of filesystem behind
//! a device or path: the `fs:<kind>` cause of blocked time (docs/architecture.md).
//!
//! Parsed by hand on purpose, rather than with a procfs crate: fields are split on single
//! spaces (an empty source is a field, not a gap), every `\ooo` escape is undone in the
//! root, mount point, type and source (WSL's Windows drive is `C:\134`, a space `\040`),
//! and drvfs is told from plain 9p and virtiofs by its options and mount point.
//!
//! Format (Documentation/filesystems/proc.rst, "/proc/<pid>/mountinfo"):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//! ```
//!
//! (1) mount id, (2) parent id, (3) st_dev major:minor, (4) root of the mount within its
//! filesystem, (5) mount point relative to the process's root, (6) per-mount options,
//! (7) zero or more optional fields (`shared:N`, `master:N`, ...), (8) a lone `-`,
//! (9) filesystem type (`type.subtype` for FUSE), (10) source, (11) superblock options.
//!
//! Fields are separated by single spaces; the kernel escapes space, tab, newline and
//! backslash inside root, mount point, type and source as `\ooo` octal (fs/proc_namespace.c,
//! `mangle()`), so `/mnt/my disk` reads `/mnt/my\040disk` and WSL's `C:\` reads `C:\134`.
use std::{
    ffi::OsString,
    os::unix::ffi::{OsStrExt as _, OsStringExt as _},
    path::{Path, PathBuf},
};

use anyhow::Result;
use serde::{Serialize, Serializer};

use super::procfs::{pid_path, proc_root, read_text};

/// One line of mountinfo, unescaped. The two option lists are kept as the kernel prints
/// them (commas inside option values are escaped, so splitting on `,` is safe); use
/// [`Mount::option`] and [`Mount::has_super_flag`] to look inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted (`/` unless a bind mount of a
    /// subtree, or a cgroup mount of a sub-hierarchy).
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root directory.
    pub mount_point: PathBuf,
    pub mount_options: String,
    /// With its subtype for FUSE: `fuse.sshfs`.
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

/// What kind of filesystem a mount is, as far as blocking time is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FsKind {
    /// Windows drives under WSL: fstype `drvfs` (WSL1), 9p with `aname=drvfs` (WSL2), or
    /// virtiofs at `/mnt/<letter>` (newer WSL).
    Drvfs,
    NineP,
    Virtiofs,
    /// `fuse`, `fuseblk` and `fuse.<subtype>` (sshfs, rclone, ...).
    Fuse,
    /// `nfs` and `nfs4`.
    Nfs,
    /// `cifs` and `smb3`.
    Cifs,
    Overlay,
    Ext4,
    Xfs,
    Btrfs,
    Tmpfs,
    Proc,
    Sysfs,
    /// cgroup v1 and cgroup2.
    Cgroup,
    /// Any other fstype, as the kernel names it.
    Other(String),
}

impl FsKind {
    /// The kind named by an fstype alone. Drvfs needs more than the fstype (the options
    /// and mount point); [`Mount::kind`] knows it.
    pub fn from_fstype(fstype: &str) -> FsKind {
        match fstype {
            "drvfs" => FsKind::Drvfs,
            "9p" => FsKind::NineP,
            "virtiofs" => FsKind::Virtiofs,
            // fusectl is FUSE's control filesystem, not a FUSE mount: it falls to Other.
            "fuse" | "fuseblk" => FsKind::Fuse,
            t if t.starts_with("fuse.") => FsKind::Fuse,
            "nfs" | "nfs4" => FsKind::Nfs,
            "cifs" | "smb3" => FsKind::Cifs,
            // Old Ubuntu kernels called it overlayfs.
            "overlay" | "overlayfs" => FsKind::Overlay,
            "ext4" => FsKind::Ext4,
            "xfs" => FsKind::Xfs,
            "btrfs" => FsKind::Btrfs,
            "tmpfs" => FsKind::Tmpfs,
            "proc" => FsKind::Proc,
            "sysfs" => FsKind::Sysfs,
            "cgroup" | "cgroup2" => FsKind::Cgroup,
            other => FsKind::Other(other.to_string()),
        }
    }

    /// Filesystems whose files live on another machine, in another OS or in another
    /// process: every operation may cross that boundary.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            FsKind::Drvfs
                | FsKind::NineP
                | FsKind::Virtiofs
                | FsKind::Fuse
                | FsKind::Nfs
                | FsKind::Cifs
        )
    }

    /// The label used in reports, as in the cause `fs:<label>`.
    pub fn label(&self) -> String {
        match self {
            FsKind::Drvfs => "drvfs",
            FsKind::NineP => "9p",
            FsKind::Virtiofs => "virtiofs",
            FsKind::Fuse => "fuse",
            FsKind::Nfs => "nfs",
            FsKind::Cifs => "cifs",
            FsKind::Overlay => "overlay",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Tmpfs => "tmpfs",
            FsKind::Proc => "proc",
            FsKind::Sysfs => "sysfs",
            FsKind::Cgroup => "cgroup",
            FsKind::Other(fstype) => fstype,
        }
        .to_string()
    }
}

/// Serialized as its label.
impl Serialize for FsKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl Mount {
    /// The kernel-internal device number of the mounted filesystem (see [`kernel_dev`]).
    pub fn kernel_dev(&self) -> u32 {
        kernel_dev(self.major, self.minor)
    }

    /// The unescaped value of option `key` (written `key=value`), looked up in the
    /// superblock options, then in the per-mount options.
    pub fn option(&self, key: &str) -> Option<String> {
        [&self.super_options, &self.mount_options]
            .into_iter()
            .flat_map(|opts| opts.split(','))
            .find_map(|opt| {
                let (k, v) = opt.split_once('=')?;
                (k == key).then(|| String::from_utf8_lossy(&unescape(v)).into_owned())
            })
    }

    /// Whether the superblock options contain the bare flag `name` (`cpu` in
    /// `rw,cpu,cpuacct`; `cpu` does not match `cpuacct` nor `cpu=1`).
    pub fn has_super_flag(&self, name: &str) -> bool {
        self.super_options.split(',').any(|opt| opt == name)
    }

    /// The kind of filesystem, with the WSL rules for drvfs (below).
    pub fn kind(&self) -> FsKind {
        match FsKind::from_fstype(&self.fstype) {
            // WSL2 mounts Windows drives with the 9p client; the Plan 9 "attach name"
            // (aname) says it is a drvfs share: `aname=drvfs;path=C:\;uid=1000;...`.
            FsKind::NineP if self.option("aname").is_some_and(|a| is_drvfs_aname(&a)) => {
                FsKind::Drvfs
            }
            // Newer WSL can serve drives over virtiofs; only the mount point gives it away.
            FsKind::Virtiofs if is_drive_mount_point(&self.mount_point) => FsKind::Drvfs,
            kind => kind,
        }
    }
}

/// `drvfs`, or `drvfs;` followed by drvfs's own `;`-separated settings.
fn is_drvfs_aname(aname: &str) -> bool {
    aname == "drvfs" || aname.starts_with("drvfs;")
}

/// `/mnt/<one letter>`, where WSL mounts Windows drives.
fn is_drive_mount_point(mount_point: &Path) -> bool {
    match mount_point.as_os_str().as_bytes() {
        [rest @ .., letter] => rest == b"/mnt/" && letter.is_ascii_alphabetic(),
        [] => false,
    }
}

/// The kernel-internal `dev_t` (what `inode->i_sb->s_dev` holds, and what eBPF programs
/// read): `MKDEV(ma, mi) = (ma << MINORBITS) | mi` with `MINORBITS` 20
/// (include/linux/kdev_t.h). This is not the userspace `st_dev` encoding of glibc's
/// `makedev`. Majors are 12 bits and minors 20 bits; wider values are truncated, as the
/// kernel does.
pub fn kernel_dev(major: u32, minor: u32) -> u32 {
    const MINORBITS: u32 = 20;
    const MINORMASK: u32 = (1 << MINORBITS) - 1;
    (major << MINORBITS) | (minor & MINORMASK)
}

/// Undoes the kernel's `\ooo` escapes. A backslash not followed by three octal digits
/// (at most `\377`) is kept as it is.
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                u8::try_from(v).ok()
            });
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

fn unescape_path(field: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn unescape_string(field: &str) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

/// Parses one mountinfo line; `None` when it is malformed.
pub fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    // Single spaces separate the fields; an empty source (mount(2) with "") shows as an
    // empty field, which splitting on runs of whitespace would lose.
    let mut f = line.trim_end_matches(['\n', '\r']).split(' ');
    let mount_id = f.next()?.parse().ok()?;
    let parent_id = f.next()?.parse().ok()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
    let root = unescape_path(f.next()?);
    let mount_point = unescape_path(f.next()?);
    let mount_options = f.next()?.to_string();
    // Optional fields: zero or more, ended by a lone "-".
    f.by_ref().find(|field| *field == "-")?;
    let fstype = unescape_string(f.next().filter(|t| !t.is_empty())?);
    let source = unescape_string(f.next()?);
    let super_options = f.next().unwrap_or_default().to_string();
    Some(Mount {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        fstype,
        source,
        super_options,
    })
}

/// A process's mounts, in mountinfo order (the order they were attached, roughly).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
}

impl MountTable {
    /// Parses mountinfo text. Malformed lines are skipped: a table with the lines that
    /// parse is more useful than none.
    pub fn from_mountinfo(text: &str) -> MountTable {
        MountTable {
            mounts: text.lines().filter_map(parse_mountinfo_line).collect(),
        }
    }

    /// Reads `<proc_root>/<pid>/mountinfo`.
    pub fn read(proc_root: &Path, pid: u32) -> Result<MountTable> {
        let text = read_text(&pid_path(proc_root, pid, "mountinfo"))?;
        Ok(MountTable::from_mountinfo(&text))
    }

    /// [`MountTable::read`] on the real /proc.
    pub fn read_live(pid: u32) -> Result<MountTable> {
        MountTable::read(proc_root(), pid)
    }

    /// The mount of the filesystem whose kernel-internal device number is `kernel_dev`
    /// (see [`kernel_dev`]). Bind mounts share a device: the one that mounts the whole
    /// filesystem (root `/`) is preferred, else the first.
    pub fn by_dev(&self, kernel_dev: u32) -> Option<&Mount> {
        let mut same_dev = self.mounts.iter().filter(|m| m.kernel_dev() == kernel_dev);
        let first = same_dev.next()?;
        Some(
            std::iter::once(first)
                .chain(same_dev)
                .find(|m| m.root == Path::new("/"))
                .unwrap_or(first),
        )
    }

    /// The mount that holds `path` (absolute, already resolved: no symlinks or `..`): the
    /// one with the longest mount point that is a prefix of `path` on component
    /// boundaries (`/mnt/c` holds `/mnt/c/x`, not `/mnt/cd`). Of mounts stacked on the
    /// same point, the later wins, as it hides the earlier. This does not model a mount
    /// over a parent directory hiding mounts below it (rare, and mountinfo alone cannot
    /// always tell).
    pub fn by_path(&self, path: &Path) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| path.starts_with(&m.mount_point))
            // max_by_key returns the last of equal maxima: the later mount.
            .max_by_key(|m| m.mount_point.components().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WSL2: a Windows drive over 9p (source `C:\` escaped as `C:\134`).
    const WSL2_C: &str = r"98 87 0:58 / /mnt/c rw,noatime - 9p C:\134 rw,dirsync,aname=drvfs;path=C:\;uid=1000;gid=1000;symlinkroot=/mnt/,mmap,access=client,msize=262144,trans=virtio";
    /// WSL2's own 9p share of the WSL distro plumbing, not a Windows drive.
    const WSL2_WSLG: &str = "120 87 0:70 / /mnt/wslg/distro ro,relatime - 9p none ro,aname=mnt/wslg/distro,mmap,trans=fd,rfd=4,wfd=4";
    /// WSL1: the drvfs filesystem itself.
    const WSL1_C: &str = "12 1 0:26 / /mnt/c rw,noatime shared:7 - drvfs C:\\134 rw,case=off";
    const VIRTIOFS_D: &str = "130 87 0:80 / /mnt/d rw,relatime - virtiofs drvfsD rw";
    const VIRTIOFS_SHARE: &str = "131 87 0:81 / /srv/share rw,relatime - virtiofs myfs rw";
    const OVERLAY_ROOT: &str = "587 540 0:52 / / rw,relatime master:290 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/123/diff,workdir=/var/lib/docker/overlay2/123/work";
    const SSHFS: &str = "200 27 0:90 / /home/me/remote rw,nosuid,nodev,relatime shared:300 - fuse.sshfs me@host:/srv rw,user_id=1000,group_id=1000";
    const NFS4: &str = "210 27 0:91 / /net/data rw,relatime shared:310 - nfs4 server:/export/data rw,vers=4.2,rsize=1048576,wsize=1048576,hard,proto=tcp,addr=10.0.0.2";
    const TMPFS: &str =
        "25 24 0:23 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,size=24684092k";
    /// A path with a space (escaped \040) and an empty source field.
    const SPACEY: &str = r"220 27 0:92 / /mnt/my\040disk rw - tmpfs  rw";

    fn one(line: &str) -> Mount {
        parse_mountinfo_line(line).unwrap_or_else(|| panic!("does not parse: {line}"))
    }

    #[test]
    fn proc_rst_example() {
        let m = one(
            "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        );
        assert_eq!(
            m,
            Mount {
                mount_id: 36,
                parent_id: 35,
                major: 98,
                minor: 0,
                root: "/mnt1".into(),
                mount_point: "/mnt/parent".into(),
                mount_options: "rw,noatime".into(),
                fstype: "ext3".into(),
                source: "/dev/root".into(),
                super_options: "rw,errors=continue".into(),
            }
        );
        // ext3 is not ext4 in reports, though the ext4 driver serves it.
        assert_eq!(m.kind(), FsKind::Other("ext3".into()));
        assert_eq!(m.kind().label(), "ext3");
        assert_eq!(m.kernel_dev(), 98 << 20);
    }

    #[test]
    fn wsl2_drive_is_drvfs() {
        let m = one(WSL2_C);
        assert_eq!(m.fstype, "9p");
        assert_eq!(m.source, r"C:\");
        assert_eq!(m.mount_point, Path::new("/mnt/c"));
        assert_eq!(
            m.option("aname").as_deref(),
            Some(r"drvfs;path=C:\;uid=1000;gid=1000;symlinkroot=/mnt/")
        );
        assert_eq!(m.kind(), FsKind::Drvfs);
        assert_eq!(m.kind().label(), "drvfs");
        // Other 9p shares stay 9p.
        assert_eq!(one(WSL2_WSLG).kind(), FsKind::NineP);
        assert_eq!(one(WSL2_WSLG).kind().label(), "9p");
        // aname given as a mount option (as `mount -o` shows it) counts too.
        let mut moved = m.clone();
        moved.mount_options = "rw,aname=drvfs".into();
        moved.super_options = "rw".into();
        assert_eq!(moved.kind(), FsKind::Drvfs);
        // An aname that merely starts with "drvfs" is something else.
        moved.mount_options = "rw,aname=drvfsX".into();
        assert_eq!(moved.kind(), FsKind::NineP);
    }

    #[test]
    fn wsl1_drvfs() {
        let m = one(WSL1_C);
        assert_eq!(m.fstype, "drvfs");
        assert_eq!(m.kind(), FsKind::Drvfs);
    }

    #[test]
    fn virtiofs_is_drvfs_only_on_drive_letters() {
        assert_eq!(one(VIRTIOFS_D).kind(), FsKind::Drvfs);
        assert_eq!(one(VIRTIOFS_SHARE).kind(), FsKind::Virtiofs);
        assert_eq!(one(VIRTIOFS_SHARE).kind().label(), "virtiofs");
        for (mp, drive) in [
            ("/mnt/Z", true),
            ("/mnt/cd", false),
            ("/mnt/", false),
            ("/mnt/1", false),
            ("/media/c", false),
            ("/x/mnt/c", false),
        ] {
            assert_eq!(is_drive_mount_point(Path::new(mp)), drive, "{mp}");
        }
    }

    #[test]
    fn container_and_network_filesystems() {
        let overlay = one(OVERLAY_ROOT);
        assert_eq!(overlay.mount_point, Path::new("/"));
        assert_eq!(overlay.kind(), FsKind::Overlay);
        assert_eq!(overlay.kind().label(), "overlay");
        assert_eq!(
            overlay.option("upperdir").as_deref(),
            Some("/var/lib/docker/overlay2/123/diff")
        );

        let sshfs = one(SSHFS);
        assert_eq!(sshfs.fstype, "fuse.sshfs");
        assert_eq!(sshfs.source, "me@host:/srv");
        assert_eq!(sshfs.kind().label(), "fuse");

        let nfs = one(NFS4);
        assert_eq!(nfs.kind(), FsKind::Nfs);
        assert_eq!(nfs.option("vers").as_deref(), Some("4.2"));

        let tmp = one(TMPFS);
        assert_eq!((tmp.major, tmp.minor), (0, 23));
        assert_eq!(tmp.kind().label(), "tmpfs");
    }

    #[test]
    fn fstype_labels() {
        for (fstype, label) in [
            ("fuse", "fuse"),
            ("fuseblk", "fuse"),
            ("fuse.rclone", "fuse"),
            ("fusectl", "fusectl"),
            ("nfs", "nfs"),
            ("nfs4", "nfs"),
            ("cifs", "cifs"),
            ("smb3", "cifs"),
            ("overlayfs", "overlay"),
            ("xfs", "xfs"),
            ("btrfs", "btrfs"),
            ("proc", "proc"),
            ("sysfs", "sysfs"),
            ("cgroup", "cgroup"),
            ("cgroup2", "cgroup"),
            ("devtmpfs", "devtmpfs"),
            ("zfs", "zfs"),
        ] {
            assert_eq!(FsKind::from_fstype(fstype).label(), label, "{fstype}");
        }
        assert_eq!(serde_json::to_string(&FsKind::Drvfs).unwrap(), "\"drvfs\"");
    }

    #[test]
    fn escapes_and_empty_fields() {
        let m = one(SPACEY);
        assert_eq!(m.mount_point, Path::new("/mnt/my disk"));
        assert_eq!(m.source, "");
        assert_eq!(m.fstype, "tmpfs");
        assert_eq!(m.super_options, "rw");
        assert_eq!(unescape(r"a\011b\012c\134d"), b"a\tb\nc\\d");
        // Not escapes: kept as they are.
        assert_eq!(unescape(r"C:\"), br"C:\");
        assert_eq!(unescape(r"\12"), br"\12");
        assert_eq!(unescape(r"\400"), br"\400");
        assert_eq!(unescape(r"\09x"), br"\09x");
        // Non-UTF-8 bytes survive in paths.
        assert_eq!(unescape_path(r"/a\377").as_os_str().as_bytes(), b"/a\xff");
    }

    #[test]
    fn malformed_lines() {
        for bad in [
            "",
            "36",
            "x 35 98:0 / / rw - ext4 /dev/root rw",
            "36 35 98 / / rw - ext4 /dev/root rw",
            "36 35 98:x / / rw - ext4 /dev/root rw",
            // No separator.
            "36 35 98:0 / / rw master:1 ext4 /dev/root rw",
            // Nothing after the separator.
            "36 35 98:0 / / rw -",
            "36 35 98:0 / / rw - ext4",
        ] {
            assert_eq!(parse_mountinfo_line(bad), None, "{bad:?}");
        }
        // Super options missing: still a mount.
        assert!(parse_mountinfo_line("36 35 98:0 / / rw - ext4 /dev/root").is_some());
        let table = MountTable::from_mountinfo(&format!("garbage\n{TMPFS}\n\n{NFS4}\n"));
        assert_eq!(table.mounts.len(), 2);
    }

    #[test]
    fn kernel_dev_encoding() {
        assert_eq!(kernel_dev(0, 0), 0);
        assert_eq!(kernel_dev(254, 0), 254 << 20);
        assert_eq!(kernel_dev(8, 1), 0x0080_0001);
        assert_eq!(kernel_dev(0, 23), 23);
        // Minors wider than 20 bits are masked.
        assert_eq!(kernel_dev(1, 1 << 20), 1 << 20);
    }

    fn table() -> MountTable {
        MountTable::from_mountinfo(
            &[
                "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
                "22 27 0:21 / /proc rw - proc proc rw",
                TMPFS,
                WSL2_C,
                "99 27 254:0 /srv/data /data rw - ext4 /dev/vda rw",
                // Mounted over /mnt/c later: hides the drive.
                "140 98 0:95 / /mnt/c rw - tmpfs tmpfs rw",
                NFS4,
            ]
            .join("\n"),
        )
    }

    #[test]
    fn lookup_by_path() {
        let t = table();
        let fs_of = |p: &str| t.by_path(Path::new(p)).map(|m| m.fstype.as_str());
        assert_eq!(fs_of("/"), Some("ext4"));
        assert_eq!(fs_of("/home/me"), Some("ext4"));
        assert_eq!(fs_of("/proc/self/status"), Some("proc"));
        assert_eq!(fs_of("/proc"), Some("proc"));
        assert_eq!(fs_of("/procx"), Some("ext4"));
        assert_eq!(fs_of("/mnt/c/Users"), Some("tmpfs"));
        assert_eq!(fs_of("/mnt/cd"), Some("ext4"));
        assert_eq!(fs_of("/net/data/x"), Some("nfs4"));
        assert_eq!(fs_of("relative/path"), None);
        assert_eq!(MountTable::default().by_path(Path::new("/")), None);
    }

    #[test]
    fn lookup_by_dev() {
        let t = table();
        // /dev/vda is mounted twice (/ and a bind of /srv/data); the whole-fs one wins.
        let vda = t.by_dev(kernel_dev(254, 0)).unwrap();
        assert_eq!(vda.mount_point, Path::new("/"));
        assert_eq!(t.by_dev(kernel_dev(0, 58)).unwrap().kind(), FsKind::Drvfs);
        assert_eq!(t.by_dev(kernel_dev(0, 91)).unwrap().kind().label(), "nfs");
        assert!(t.by_dev(kernel_dev(1, 1)).is_none());
        // Only a bind mount of a subtree: it is still found.
        let bind_only =
            MountTable::from_mountinfo("99 27 254:0 /srv/data /data rw - ext4 /dev/vda rw");
        assert_eq!(
            bind_only.by_dev(kernel_dev(254, 0)).unwrap().mount_point,
            Path::new("/data")
        );
    }

    /// The real mount table of this process.
    #[test]
    fn this_machine() {
        let t = MountTable::read_live(std::process::id()).unwrap();
        assert!(!t.mounts.is_empty());
        let root = t.by_path(Path::new("/")).expect("a mount at /");
        assert_eq!(root.mount_point, Path::new("/"));
        let proc = t.by_path(Path::new("/proc/self/status")).expect("/proc");
        assert_eq!(proc.kind(), FsKind::Proc);
        // The device of /proc, as the kernel numbers it, finds the same filesystem.
        assert_eq!(t.by_dev(proc.kernel_dev()).unwrap().kind(), FsKind::Proc);
        // stat(2) gives /proc's device in the userspace encoding; re-encoded the kernel's
        // way it finds /proc too.
        let meta = std::fs::metadata("/proc").unwrap();
        let dev = std::os::unix::fs::MetadataExt::dev(&meta);
        let kdev = kernel_dev(libc::major(dev), libc::minor(dev));
        assert_eq!(t.by_dev(kdev).unwrap().kind(), FsKind::Proc);
        // Every line of the real file parses.
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(t.mounts.len(), text.lines().count());
    }
}
