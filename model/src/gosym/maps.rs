//! A process's memory map (`/proc/PID/maps`), to turn a runtime address into the file
//! it came from and the address the symbol tables use.

/// One line of `/proc/PID/maps`: `start-end perms offset dev inode path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address (inclusive).
    pub start: u64,
    /// End address (exclusive); `end > start`.
    pub end: u64,
    /// `r`, `w`, `x` and `p`/`s`, as the kernel prints them (`r-xp`).
    pub perms: String,
    /// Offset in the file of the byte mapped at `start`.
    pub offset: u64,
    /// `major:minor` of the file's device, as printed (hex).
    pub dev: String,
    /// The file's inode, 0 for anonymous mappings.
    pub inode: u64,
    /// The file's path (` (deleted)` included when the kernel adds it), a pseudo-name
    /// (`[vdso]`, `[heap]`, `[stack]`), or empty for an anonymous mapping.
    pub path: String,
}

impl Mapping {
    /// Is the mapping executable?
    pub fn is_exec(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }

    /// Is this a file (a path starting with `/`) rather than an anonymous mapping or a
    /// kernel pseudo-mapping?
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/')
    }

    /// The file offset of runtime address `addr` (which should lie in the mapping).
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.start).wrapping_add(self.offset)
    }

    /// The path without the kernel's ` (deleted)` suffix.
    pub fn path_undeleted(&self) -> &str {
        strip_deleted(&self.path)
    }

    fn parse(line: &str) -> Option<Mapping> {
        let mut rest = line.trim_start();
        let mut field = || -> Option<&str> {
            let s = rest.trim_start();
            let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
            let (f, r) = s.split_at(end);
            rest = r;
            (!f.is_empty()).then_some(f)
        };
        let range = field()?;
        let perms = field()?.to_string();
        let offset = u64::from_str_radix(field()?, 16).ok()?;
        let dev = field()?.to_string();
        let inode = field()?.parse().ok()?;
        // The path is the rest of the line (it may hold spaces), after the padding.
        let path = rest.trim_start().trim_end_matches('\n').to_string();
        let (start, end) = range.split_once('-')?;
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        (end > start).then_some(Mapping {
            start,
            end,
            perms,
            offset,
            dev,
            inode,
            path,
        })
    }
}

/// Where a runtime address lies: the mapping's path and the file offset (for a file),
/// or just the mapping's name (`[vdso]`, anonymous memory) with the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location<'a> {
    /// The mapping's path or pseudo-name; empty for anonymous memory.
    pub path: &'a str,
    /// For a file, the file offset of the address; otherwise the address itself.
    pub offset: u64,
    /// Is `path` a file (so `offset` is a file offset)?
    pub is_file: bool,
}

/// A process's mappings, sorted by address, not overlapping (as the kernel lists them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessMap {
    mappings: Vec<Mapping>,
}

impl ProcessMap {
    /// Parses the text of `/proc/PID/maps`. Lines that do not parse are skipped; the
    /// result is sorted by start address.
    pub fn parse(maps: &str) -> ProcessMap {
        let mut mappings: Vec<Mapping> = maps.lines().filter_map(Mapping::parse).collect();
        mappings.sort_by_key(|m| m.start);
        ProcessMap { mappings }
    }

    /// All mappings, sorted by start address.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The mapping holding runtime address `addr`.
    pub fn find(&self, addr: u64) -> Option<&Mapping> {
        let i = self.mappings.partition_point(|m| m.start <= addr);
        let m = self.mappings.get(i.checked_sub(1)?)?;
        (addr < m.end).then_some(m)
    }

    /// Where `addr` lies, for printing an address without a symbol
    /// (`0x1f20 in /usr/lib/libfoo.so`).
    pub fn locate(&self, addr: u64) -> Option<Location<'_>> {
        let m = self.find(addr)?;
        Some(if m.is_file() {
            Location {
                path: &m.path,
                offset: m.file_offset(addr),
                is_file: true,
            }
        } else {
            Location {
                path: &m.path,
                offset: addr,
                is_file: false,
            }
        })
    }

    /// The load bias of the executable at `exe_path`: runtime address = link-time
    /// address + bias (modulo 2^64). For a non-PIE executable (`is_pie` false) it is 0.
    /// For a PIE it is the start of the executable's lowest mapping of file offset 0
    /// minus `lowest_load_vaddr` rounded down to the page; `None` when the executable
    /// is not mapped. `exe_path` matches with or without the kernel's ` (deleted)`.
    pub fn exe_bias(&self, exe_path: &str, lowest_load_vaddr: u64, is_pie: bool) -> Option<u64> {
        if !is_pie {
            return Some(0);
        }
        let want = strip_deleted(exe_path);
        let start = self
            .mappings
            .iter()
            .filter(|m| m.offset == 0 && m.path_undeleted() == want)
            .map(|m| m.start)
            .min()?;
        Some(start.wrapping_sub(lowest_load_vaddr & !(page_size() - 1)))
    }
}

/// [`ProcessMap::exe_bias`] on the text of `/proc/PID/maps`.
pub fn exe_bias(maps: &str, exe_path: &str, lowest_load_vaddr: u64, is_pie: bool) -> Option<u64> {
    ProcessMap::parse(maps).exe_bias(exe_path, lowest_load_vaddr, is_pie)
}

fn strip_deleted(path: &str) -> &str {
    path.strip_suffix(" (deleted)").unwrap_or(path)
}

/// The system page size (a power of two).
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n)
        .ok()
        .filter(|n| n.is_power_of_two())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
5581a2400000-5581a2400000 r--p 00000000 00:00 0\n\
555555400000-5555554d3000 r-xp 00000000 fd:01 1234                       /tmp/my prog\n\
5555554d3000-5555555e0000 r--p 000d3000 fd:01 1234                       /tmp/my prog\n\
7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n\
7f1000000000-7f1000028000 r--p 00000000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
7f1000028000-7f10001bd000 r-xp 00028000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
7ffd1000000-7ffd1002000 r-xp 00000000 00:00 0                          [vdso]\n\
garbage line\n\
";

    #[test]
    fn parses_maps_and_skips_bad_lines() {
        let m = ProcessMap::parse(MAPS);
        // The empty range and the garbage line are dropped.
        assert_eq!(m.mappings().len(), 6);
        let exe = m.find(0x555555400100).unwrap();
        assert_eq!(exe.path, "/tmp/my prog");
        assert!(exe.is_exec());
        assert_eq!(exe.inode, 1234);
        assert_eq!(m.find(0x7f0000000010).unwrap().path, "");
        assert!(m.find(0x10).is_none());
        assert!(m.find(0x5555554d3000 + 0x10d000).is_none());
        let libc = m.locate(0x7f1000028010).unwrap();
        assert_eq!(
            libc,
            Location {
                path: "/usr/lib/x86_64-linux-gnu/libc.so.6",
                offset: 0x28010,
                is_file: true
            }
        );
        let vdso = m.locate(0x7ffd1000010).unwrap();
        assert_eq!(
            (vdso.path, vdso.offset, vdso.is_file),
            ("[vdso]", 0x7ffd1000010, false)
        );
    }

    #[test]
    fn one_line_at_a_time() {
        let m = ProcessMap::parse(
            "55d0c8a00000-55d0c8a21000 r--p 00000000 fd:01 1835037                    /usr/bin/my prog",
        );
        assert_eq!(
            m.mappings(),
            [Mapping {
                start: 0x55d0_c8a0_0000,
                end: 0x55d0_c8a2_1000,
                perms: "r--p".into(),
                offset: 0,
                dev: "fd:01".into(),
                inode: 1_835_037,
                path: "/usr/bin/my prog".into(),
            }]
        );
        for anon in [
            "7ffd1000-7ffd2000 rw-p 00000000 00:00 0 ",
            "7ffd1000-7ffd2000 rw-p 00000000 00:00 0",
        ] {
            let m = ProcessMap::parse(anon);
            let [m] = m.mappings() else {
                panic!("{anon:?}: {m:?}");
            };
            assert_eq!((m.inode, m.path.as_str()), (0, ""));
        }
        for bad in [
            "",
            "zz-1 r--p 0 0:0 0",
            "1000 r--p 0 0:0 0",
            "1-2 r--p 0 0:0 x",
        ] {
            assert_eq!(ProcessMap::parse(bad).mappings(), [], "{bad:?}");
        }
    }

    #[test]
    fn bias() {
        let m = ProcessMap::parse(MAPS);
        assert_eq!(
            m.exe_bias("/tmp/my prog", 0x400000, true),
            Some(0x555555000000)
        );
        assert_eq!(
            m.exe_bias("/tmp/my prog (deleted)", 0x400000, true),
            Some(0x555555000000)
        );
        assert_eq!(m.exe_bias("/tmp/other", 0x400000, true), None);
        assert_eq!(m.exe_bias("/tmp/other", 0x400000, false), Some(0));
        assert_eq!(
            exe_bias(MAPS, "/tmp/my prog", 0, true),
            Some(0x555555400000)
        );
    }
}
