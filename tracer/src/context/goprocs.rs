//! The Go program's GOMAXPROCS, and whether it asks for more parallelism than the CPUs
//! its cgroup allows: a Go program whose GOMAXPROCS exceeds its CPU quota burns the quota
//! early in each period and is then throttled (the `cgroup-throttle` cause).
//!
//! The value that counts is the runtime's, `runtime.gomaxprocs` (an int32), read from the
//! live process: the environment only says what the program was started with, and a
//! program may call `runtime.GOMAXPROCS(n)` (or, since Go 1.25, the runtime may follow
//! the cgroup limit itself). The variable is found through the executable's ELF symbol
//! table (`.symtab`, which Go keeps unless linked with `-s`) and read at its address,
//! moved by the load bias for a PIE, through /proc/PID/mem.
use std::{
    fs::File,
    io::{Read, Seek},
    os::unix::fs::{FileExt as _, MetadataExt as _},
    path::Path,
};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use object::{
    elf::{FileHeader64, SectionHeader64, Sym64, ET_DYN, PT_LOAD, SHN_UNDEF, SHT_SYMTAB},
    read::elf::{FileHeader as _, ProgramHeader as _, SectionHeader as _, Sym as _},
    Endian as _, Endianness, ReadCache, ReadRef as _,
};
use serde::Serialize;

use super::procfs::{pid_path, proc_root, read_text};

/// Where a GOMAXPROCS value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GoMaxProcsSource {
    /// Read from the running program's memory: what the scheduler uses.
    Runtime,
    /// The GOMAXPROCS environment variable the program was started with.
    Environment,
    /// Neither: assumed by the caller (say, the Go default), not observed.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GoMaxProcs {
    pub value: u32,
    pub source: GoMaxProcsSource,
}

/// GOMAXPROCS in a NUL-separated environment block (/proc/PID/environ), as the Go runtime
/// reads it: the first `GOMAXPROCS=` entry, a decimal number above zero (anything else
/// is ignored by the runtime, and here gives `None`).
pub fn parse_gomaxprocs_env(environ: &[u8]) -> Option<u32> {
    let value = environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"GOMAXPROCS="))?;
    let value: u32 = std::str::from_utf8(value).ok()?.parse().ok()?;
    (value > 0 && value <= i32::MAX as u32).then_some(value)
}

/// GOMAXPROCS from the environment process `pid` was started with.
pub fn gomaxprocs_env(proc_root: &Path, pid: u32) -> Option<u32> {
    parse_gomaxprocs_env(&std::fs::read(pid_path(proc_root, pid, "environ")).ok()?)
}

/// The runtime's GOMAXPROCS of the live process `pid`. `Ok(None)` when its executable has
/// no `runtime.gomaxprocs` symbol (not Go, or stripped); an error when it cannot be read
/// (no permission to read the process's memory, the process gone, a malformed ELF, or a
/// runtime that has not set it yet).
pub fn gomaxprocs_runtime(pid: u32) -> Result<Option<u32>> {
    gomaxprocs_runtime_in(proc_root(), pid)
}

/// [`gomaxprocs_runtime`] with the /proc root as a parameter.
pub fn gomaxprocs_runtime_in(proc_root: &Path, pid: u32) -> Result<Option<u32>> {
    match RuntimeGoMaxProcs::locate(proc_root, pid)? {
        Some(var) => var.read().map(Some),
        None => Ok(None),
    }
}

/// The runtime's `gomaxprocs` variable in a live process, located once (the ELF symbol
/// lookup reads the executable's symbol table) and then read as often as wanted.
#[derive(Debug)]
pub struct RuntimeGoMaxProcs {
    pid: u32,
    mem: File,
    mem_path: std::path::PathBuf,
    addr: u64,
    little_endian: bool,
}

impl RuntimeGoMaxProcs {
    /// Finds the variable; `Ok(None)` when the executable has no such symbol (stripped,
    /// or not Go).
    pub fn locate(proc_root: &Path, pid: u32) -> Result<Option<RuntimeGoMaxProcs>> {
        const SYMBOL: &str = "runtime.gomaxprocs";
        let exe_link = pid_path(proc_root, pid, "exe");
        // Opening the magic link gives the very file that was executed, even if it has
        // since been replaced or deleted.
        let exe =
            File::open(&exe_link).with_context(|| format!("opening {}", exe_link.display()))?;
        let reading = || format!("reading {}", exe_link.display());
        let mut elf = Exe::parse(&exe).with_context(reading)?;
        let Some(vaddr) = elf.symbol(SYMBOL).with_context(reading)? else {
            return Ok(None);
        };
        let bias = if elf.is_pie() {
            let maps = read_text(&pid_path(proc_root, pid, "maps"))?;
            let ino = exe.metadata()?.ino();
            // The path is compared too when the link reads (it does for a real /proc):
            // maps shows the same d_path, " (deleted)" included.
            let path = std::fs::read_link(&exe_link).ok();
            let path = path.as_ref().map(|p| p.to_string_lossy());
            let start = exe_mapping_start(&maps, ino, path.as_deref())
                .with_context(|| format!("no mapping of the executable in pid {pid}'s maps"))?;
            let lowest = elf
                .lowest_load_vaddr()
                .with_context(reading)?
                .context("a PIE without PT_LOAD segments")?;
            start
                .checked_sub(lowest & !(page_size() - 1))
                .context("the executable is mapped below its first segment")?
        } else {
            0
        };
        let addr = vaddr
            .checked_add(bias)
            .context("symbol address overflows")?;
        let mem_path = pid_path(proc_root, pid, "mem");
        let mem =
            File::open(&mem_path).with_context(|| format!("opening {}", mem_path.display()))?;
        Ok(Some(RuntimeGoMaxProcs {
            pid,
            mem,
            mem_path,
            addr,
            little_endian: elf.endian.is_little_endian(),
        }))
    }

    /// The variable's current value.
    pub fn read(&self) -> Result<u32> {
        let mut raw = [0u8; 4];
        self.mem
            .read_exact_at(&mut raw, self.addr)
            .with_context(|| {
                format!(
                    "reading runtime.gomaxprocs at {:#x} in {}",
                    self.addr,
                    self.mem_path.display()
                )
            })?;
        let value = if self.little_endian {
            i32::from_le_bytes(raw)
        } else {
            i32::from_be_bytes(raw)
        };
        match u32::try_from(value) {
            Ok(v) if v > 0 => Ok(v),
            _ => bail!(
                "runtime.gomaxprocs of pid {} is {value}: the Go runtime has not set it up yet",
                self.pid
            ),
        }
    }
}

/// The program's GOMAXPROCS: the runtime's value when it can be read, else the
/// environment's; `None` when neither is known.
pub fn read_gomaxprocs(proc_root: &Path, pid: u32) -> Option<GoMaxProcs> {
    GoMaxProcsReader::default().read(proc_root, pid)
}

/// [`read_gomaxprocs`] for a process read again and again: the runtime's variable is
/// located once per executable (finding it reads the binary's symbol table), and again
/// only when the process runs another one.
#[derive(Debug, Default)]
pub struct GoMaxProcsReader {
    /// The executable (dev, inode) and its variable, if it has one.
    var: Option<((u64, u64), Option<RuntimeGoMaxProcs>)>,
    /// The executable whose lookup failed, and how often: a file that cannot be read
    /// (or is crafted to be expensive) is not read again at every refresh.
    failed: Option<((u64, u64), u32)>,
}

/// Lookups of one executable that may fail (the process was exec'ing, say) before it
/// is given up.
const LOCATE_TRIES: u32 = 3;

impl GoMaxProcsReader {
    pub fn read(&mut self, proc_root: &Path, pid: u32) -> Option<GoMaxProcs> {
        let exe = std::fs::metadata(pid_path(proc_root, pid, "exe"))
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if let Some(exe) = exe {
            let tries = match self.failed {
                Some((known, n)) if known == exe => n,
                _ => 0,
            };
            if self.var.as_ref().is_none_or(|(known, _)| *known != exe) && tries < LOCATE_TRIES {
                // An error (the process just exec'd, say) is tried again next time, a
                // few times.
                match RuntimeGoMaxProcs::locate(proc_root, pid) {
                    Ok(var) => self.var = Some((exe, var)),
                    Err(_) => {
                        self.var = None;
                        self.failed = Some((exe, tries + 1));
                    }
                }
            }
        }
        let found = |value, source| GoMaxProcs { value, source };
        let runtime = self
            .var
            .as_ref()
            .and_then(|(_, v)| v.as_ref())
            .and_then(|v| v.read().ok());
        match runtime {
            Some(v) => Some(found(v, GoMaxProcsSource::Runtime)),
            None => gomaxprocs_env(proc_root, pid).map(|v| found(v, GoMaxProcsSource::Environment)),
        }
    }
}

/// Whether GOMAXPROCS fits the CPUs the program may use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Verdict {
    Ok {
        effective_cpus: f64,
    },
    /// More Ps than whole CPUs available: the threads running Go code contend for less
    /// CPU than the scheduler believes it has (throttling under a quota, run-queue waits
    /// without one).
    ExceedsQuota {
        gomaxprocs: u32,
        effective_cpus: f64,
    },
}

/// Judges GOMAXPROCS against the CPUs available: the quota when there is one, never more
/// than the online CPUs. It exceeds them when above the effective CPUs rounded up (a
/// quota of 1.5 CPUs fits GOMAXPROCS 2, not 3).
pub fn gomaxprocs_verdict(
    gomaxprocs: u32,
    cpu_quota_cpus: Option<f64>,
    online_cpus: usize,
) -> Verdict {
    let online = online_cpus.max(1) as f64;
    let effective_cpus = match cpu_quota_cpus {
        Some(q) if q.is_finite() && q > 0.0 => q.min(online),
        _ => online,
    };
    if f64::from(gomaxprocs) > effective_cpus.ceil() {
        Verdict::ExceedsQuota {
            gomaxprocs,
            effective_cpus,
        }
    } else {
        Verdict::Ok { effective_cpus }
    }
}

/// One line of /proc/PID/maps (man 5 proc_pid_maps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub inode: u64,
    /// The file, `[heap]`-like pseudo names, or empty for anonymous mappings.
    pub path: String,
}

/// Parses `start-end perms offset dev inode   path`; `None` when malformed. The path is
/// the rest of the line (it may contain spaces).
pub fn parse_maps_line(line: &str) -> Option<MapsEntry> {
    let mut f = line.splitn(6, ' ');
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?.to_string();
    let offset = u64::from_str_radix(f.next()?, 16).ok()?;
    let _dev = f.next()?;
    let inode = f.next()?.parse().ok()?;
    let path = f.next().unwrap_or_default().trim_start().to_string();
    Some(MapsEntry {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        perms,
        offset,
        inode,
        path,
    })
}

/// The start of the executable's first (lowest) mapping: the one of inode `ino`, and of
/// path `path` when given.
fn exe_mapping_start(maps: &str, ino: u64, path: Option<&str>) -> Option<u64> {
    maps.lines()
        .filter_map(parse_maps_line)
        .filter(|m| m.inode == ino && path.is_none_or(|p| m.path == p))
        .map(|m| m.start)
        .min()
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

// The executable, read with `object` through a cache that reads a range at a time. The file
// is the traced program's and may be crafted: every size it states is bounded before a
// range of that size is read, and the symbol tables are read a chunk at a time, the cache
// emptied between chunks, never whole.

/// An ELF64 executable: its header, copied out of the cache so that the cache can be
/// emptied.
struct Exe<R: Read + Seek> {
    data: ReadCache<R>,
    header: FileHeader64<Endianness>,
    endian: Endianness,
}

impl<R: Read + Seek> Exe<R> {
    fn parse(src: R) -> Result<Exe<R>> {
        let data = ReadCache::new(src);
        let header = *FileHeader64::<Endianness>::parse(&data).context("not a 64-bit ELF file")?;
        let endian = header.endian()?;
        Ok(Exe {
            data,
            header,
            endian,
        })
    }

    fn is_pie(&self) -> bool {
        self.header.e_type(self.endian) == ET_DYN
    }

    /// `len` bytes at `offset`. The cache checks the range against the file's size before
    /// allocating: a corrupt header must not make us allocate gigabytes.
    fn bytes(&self, offset: u64, len: u64) -> Result<&[u8]> {
        self.data.read_bytes_at(offset, len).map_err(|()| {
            anyhow!("cannot read ELF range {offset:#x}+{len:#x}: past the end of the file, or unreadable")
        })
    }

    /// `object` reads a header table in one read: a crafted count must not make that
    /// gigabytes. An unreadable count fails again, with `object`'s message, when the table
    /// is read.
    fn check_count(count: object::Result<usize>, what: &str) -> Result<()> {
        if let Ok(count) = count {
            ensure!(
                count as u64 <= MAX_HEADERS,
                "{count} {what} headers: not a real executable"
            );
        }
        Ok(())
    }

    /// The lowest p_vaddr of the PT_LOAD segments.
    fn lowest_load_vaddr(&self) -> Result<Option<u64>> {
        let (h, e) = (&self.header, self.endian);
        Self::check_count(h.phnum(e, &self.data), "program")?;
        let phdrs = h
            .program_headers(e, &self.data)
            .context("program headers")?;
        Ok(phdrs
            .iter()
            .filter(|p| p.p_type(e) == PT_LOAD)
            .map(|p| p.p_vaddr(e))
            .min())
    }

    /// The value (link-time virtual address) of the defined symbol `name` in .symtab;
    /// `None` without a .symtab or without the symbol.
    fn symbol(&mut self, name: &str) -> Result<Option<u64>> {
        let (h, e) = (&self.header, self.endian);
        Self::check_count(h.shnum(e, &self.data), "section")?;
        let sections = h
            .section_headers(e, &self.data)
            .context("section headers")?;
        let Some(symtab) = sections
            .iter()
            .find(|s| s.sh_type(e) == SHT_SYMTAB)
            .copied()
        else {
            return Ok(None);
        };
        let strtab = *sections
            .get(symtab.sh_link(e) as usize)
            .context(".symtab links to no section")?;
        let entsize = symtab.sh_entsize(e);
        ensure!(
            entsize == 0 || entsize == SYM_SIZE as u64,
            ".symtab entries of {entsize} bytes"
        );
        // Real tables are tens of MiB at most, and both are read a chunk at a time.
        let range = |what: &str, s: &SectionHeader64<Endianness>| {
            let size = s.sh_size(e);
            ensure!(
                size <= MAX_SYMBOL_TABLE,
                "{what} claims {size} bytes, more than any real one ({MAX_SYMBOL_TABLE})"
            );
            s.file_range(e)
                .with_context(|| format!("{what} has no file data"))
        };
        let (str_off, str_size) = range(".strtab", &strtab)?;
        let (sym_off, sym_size) = range(".symtab", &symtab)?;
        let mut wanted = name.as_bytes().to_vec();
        wanted.push(0);
        // Where `name` stands in .strtab: a symbol is named by an offset into it (which
        // may point into the tail of a longer name, so every occurrence counts).
        let names = self.occurrences(str_off, str_size, &wanted)?;
        if names.is_empty() {
            return Ok(None);
        }
        let per_chunk = READ_CHUNK / SYM_SIZE;
        let count = usize::try_from(sym_size / SYM_SIZE as u64)?;
        let mut at = 0;
        while at < count {
            let n = per_chunk.min(count - at);
            let offset = sym_off.saturating_add((at * SYM_SIZE) as u64);
            let syms: &[Sym64<Endianness>] = self.data.read_slice_at(offset, n).map_err(|()| {
                anyhow!(".symtab at {offset:#x}: past the end of the file, or unreadable")
            })?;
            let found = syms
                .iter()
                .find(|s| {
                    names.binary_search(&u64::from(s.st_name(e))).is_ok()
                        && s.st_shndx(e) != SHN_UNDEF
                })
                .map(|s| s.st_value(e));
            self.data.clear();
            if found.is_some() {
                return Ok(found);
            }
            at += n;
        }
        Ok(None)
    }

    /// The offsets (from `offset`, sorted) at which `needle` stands in the `size` bytes
    /// at `offset`, read a chunk at a time; at most [`MAX_OCCURRENCES`].
    fn occurrences(&mut self, offset: u64, size: u64, needle: &[u8]) -> Result<Vec<u64>> {
        let mut found = Vec::new();
        let overlap = needle.len() as u64 - 1;
        let mut at = 0u64;
        while at < size {
            let len = (READ_CHUNK as u64).min(size - at);
            let buf = self.bytes(offset.saturating_add(at), len)?;
            for (i, w) in buf.windows(needle.len()).enumerate() {
                if w == needle {
                    ensure!(
                        found.len() < MAX_OCCURRENCES,
                        "the symbol name stands more than {MAX_OCCURRENCES} times in .strtab"
                    );
                    found.push(at + i as u64);
                }
            }
            self.data.clear();
            if at + len >= size {
                break;
            }
            // The next chunk starts where a name cut at this one's end would.
            at += len - overlap.min(len - 1);
        }
        Ok(found)
    }
}

/// The size of an ELF64 symbol, the only .symtab entry size accepted.
const SYM_SIZE: usize = size_of::<Sym64<Endianness>>();
/// More headers than any real executable has (Go binaries have a few dozen sections).
const MAX_HEADERS: u64 = 1 << 16;
/// How much of a symbol table is read at a time.
const READ_CHUNK: usize = 1 << 20;
/// Larger than the symbol and string tables of any real executable (a 200 MB Go
/// binary's are about 20 and 60 MB).
const MAX_SYMBOL_TABLE: u64 = 512 << 20;
/// A name that stands this often in .strtab is a crafted file.
const MAX_OCCURRENCES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::procfs::testing::{workspace, ChildGuard, TempTree};
    use std::{
        io::{BufRead as _, BufReader, Cursor},
        path::PathBuf,
        process::{Command, Stdio},
        sync::Mutex,
    };

    fn from_runtime(value: u32) -> Option<GoMaxProcs> {
        let source = GoMaxProcsSource::Runtime;
        Some(GoMaxProcs { value, source })
    }

    fn from_env(value: u32) -> Option<GoMaxProcs> {
        let source = GoMaxProcsSource::Environment;
        Some(GoMaxProcs { value, source })
    }

    #[test]
    fn env_values() {
        assert_eq!(
            parse_gomaxprocs_env(b"HOME=/root\0GOMAXPROCS=3\0PATH=/bin\0"),
            Some(3)
        );
        assert_eq!(parse_gomaxprocs_env(b"GOMAXPROCS=12"), Some(12));
        // The first one counts, as for the runtime's getenv.
        assert_eq!(
            parse_gomaxprocs_env(b"GOMAXPROCS=2\0GOMAXPROCS=4\0"),
            Some(2)
        );
        for ignored in [
            &b"HOME=/root\0"[..],
            b"",
            b"GOMAXPROCS=\0",
            b"GOMAXPROCS=0\0",
            b"GOMAXPROCS=-1\0",
            b"GOMAXPROCS= 3\0",
            b"GOMAXPROCS=three\0",
            b"XGOMAXPROCS=3\0",
            b"GOMAXPROCS=\xff\0",
            b"GOMAXPROCS=99999999999\0",
        ] {
            assert_eq!(parse_gomaxprocs_env(ignored), None, "{ignored:?}");
        }
        let t = TempTree::new("goprocs-env");
        t.write("proc/9/environ", b"A=1\0GOMAXPROCS=7\0");
        assert_eq!(gomaxprocs_env(&t.path("proc"), 9), Some(7));
        assert_eq!(gomaxprocs_env(&t.path("proc"), 10), None);
    }

    #[test]
    fn verdicts() {
        let ok = |e| Verdict::Ok { effective_cpus: e };
        let over = |g, e| Verdict::ExceedsQuota {
            gomaxprocs: g,
            effective_cpus: e,
        };
        assert_eq!(gomaxprocs_verdict(2, None, 2), ok(2.0));
        assert_eq!(gomaxprocs_verdict(8, None, 2), over(8, 2.0));
        assert_eq!(gomaxprocs_verdict(1, Some(0.5), 8), ok(0.5));
        assert_eq!(gomaxprocs_verdict(2, Some(0.5), 8), over(2, 0.5));
        assert_eq!(gomaxprocs_verdict(2, Some(1.5), 8), ok(1.5));
        assert_eq!(gomaxprocs_verdict(3, Some(1.5), 8), over(3, 1.5));
        // A quota above the machine is capped by the online CPUs.
        assert_eq!(gomaxprocs_verdict(4, Some(16.0), 4), ok(4.0));
        assert_eq!(gomaxprocs_verdict(5, Some(16.0), 4), over(5, 4.0));
        // Nonsense inputs do not panic.
        assert_eq!(gomaxprocs_verdict(1, Some(f64::NAN), 0), ok(1.0));
        assert_eq!(gomaxprocs_verdict(1, Some(-1.0), 1), ok(1.0));
    }

    #[test]
    fn maps_lines() {
        let m = parse_maps_line(
            "55d0c8a00000-55d0c8a21000 r--p 00000000 fd:01 1835037                    /usr/bin/my prog",
        )
        .unwrap();
        assert_eq!(
            m,
            MapsEntry {
                start: 0x55d0_c8a0_0000,
                end: 0x55d0_c8a2_1000,
                perms: "r--p".into(),
                offset: 0,
                inode: 1_835_037,
                path: "/usr/bin/my prog".into(),
            }
        );
        let anon = parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!((anon.inode, anon.path.as_str()), (0, ""));
        assert!(parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0").is_some());
        for bad in [
            "",
            "zz-1 r--p 0 0:0 0",
            "1000 r--p 0 0:0 0",
            "1-2 r--p 0 0:0 x",
        ] {
            assert_eq!(parse_maps_line(bad), None, "{bad:?}");
        }
        let maps = "400000-401000 r-xp 00000000 fd:01 77 /bin/a\n\
                    300000-301000 r--p 00000000 fd:01 77 /bin/other-link\n\
                    500000-501000 r--p 00001000 fd:01 77 /bin/a\n";
        assert_eq!(exe_mapping_start(maps, 77, Some("/bin/a")), Some(0x400000));
        assert_eq!(exe_mapping_start(maps, 77, None), Some(0x300000));
        assert_eq!(exe_mapping_start(maps, 78, None), None);
    }

    /// A minimal ELF64 file: one PT_LOAD segment at `load_vaddr`, and a .symtab with
    /// `symbols` (name, value; a value of 0 makes an undefined symbol).
    fn build_elf(e_type: u16, little: bool, load_vaddr: u64, symbols: &[(&str, u64)]) -> Vec<u8> {
        fn put(buf: &mut [u8], at: usize, little: bool, v: u64, n: usize) {
            let b = if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            let b = if little { &b[..n] } else { &b[8 - n..] };
            buf[at..at + n].copy_from_slice(b);
        }
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; SYM_SIZE]; // symbol 0 is the null symbol
        for (name, value) in symbols {
            let mut sym = vec![0u8; SYM_SIZE];
            put(&mut sym, 0, little, strtab.len() as u64, 4);
            put(&mut sym, 6, little, if *value == 0 { 0 } else { 1 }, 2);
            put(&mut sym, 8, little, *value, 8);
            put(&mut sym, 16, little, 4, 8);
            symtab.extend(sym);
            strtab.extend(name.as_bytes());
            strtab.push(0);
        }
        let phoff = EHDR_SIZE;
        let strtab_off = phoff + PHDR_SIZE;
        let symtab_off = strtab_off + strtab.len();
        let shoff = symtab_off + symtab.len();
        let mut f = vec![0u8; shoff + 3 * SHDR_SIZE];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = if little { 1 } else { 2 };
        f[6] = 1; // EV_CURRENT
        put(&mut f, 16, little, u64::from(e_type), 2);
        put(&mut f, 32, little, phoff as u64, 8);
        put(&mut f, 40, little, shoff as u64, 8);
        put(&mut f, 54, little, PHDR_SIZE as u64, 2);
        put(&mut f, 56, little, 1, 2);
        put(&mut f, 58, little, SHDR_SIZE as u64, 2);
        put(&mut f, 60, little, 3, 2);
        put(&mut f, phoff, little, u64::from(PT_LOAD), 4);
        put(&mut f, phoff + 16, little, load_vaddr, 8);
        f[strtab_off..symtab_off].copy_from_slice(&strtab);
        f[symtab_off..shoff].copy_from_slice(&symtab);
        // Sections: 0 null, 1 .symtab (linked to 2), 2 .strtab.
        let sh1 = shoff + SHDR_SIZE;
        put(&mut f, sh1 + 4, little, u64::from(SHT_SYMTAB), 4);
        put(&mut f, sh1 + 24, little, symtab_off as u64, 8);
        put(&mut f, sh1 + 32, little, symtab.len() as u64, 8);
        put(&mut f, sh1 + 40, little, 2, 4);
        put(&mut f, sh1 + 56, little, SYM_SIZE as u64, 8);
        let sh2 = shoff + 2 * SHDR_SIZE;
        put(&mut f, sh2 + 4, little, 3, 4);
        put(&mut f, sh2 + 24, little, strtab_off as u64, 8);
        put(&mut f, sh2 + 32, little, strtab.len() as u64, 8);
        f
    }

    const ET_EXEC: u16 = 2;
    const EHDR_SIZE: usize = 64;
    const PHDR_SIZE: usize = 56;
    const SHDR_SIZE: usize = 64;

    /// An executable in memory.
    fn parse(bytes: &[u8]) -> Result<Exe<Cursor<&[u8]>>> {
        Exe::parse(Cursor::new(bytes))
    }

    #[test]
    fn elf_symbols() {
        let syms = [
            ("runtime.GOMAXPROCS", 0x1000),
            ("runtime.gomaxprocs", 0x5040),
            ("undef", 0),
        ];
        for little in [true, false] {
            let bytes = build_elf(ET_EXEC, little, 0x400000, &syms);
            let mut elf = parse(&bytes).unwrap();
            assert_eq!(elf.endian.is_little_endian(), little);
            assert!(!elf.is_pie());
            assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
            assert_eq!(elf.symbol("runtime.GOMAXPROCS").unwrap(), Some(0x1000));
            // A prefix of a name is not the name; undefined symbols do not count.
            assert_eq!(elf.symbol("runtime.gomax").unwrap(), None);
            assert_eq!(elf.symbol("undef").unwrap(), None);
            assert_eq!(elf.lowest_load_vaddr().unwrap(), Some(0x400000));
        }
        // No sections at all (as if stripped of everything): no symbol, no error.
        let mut bare = build_elf(ET_EXEC, true, 0, &syms);
        bare[60..62].copy_from_slice(&[0, 0]);
        bare[40..48].copy_from_slice(&[0; 8]);
        assert_eq!(
            parse(&bare).unwrap().symbol("runtime.gomaxprocs").unwrap(),
            None
        );
    }

    #[test]
    fn symbol_tables_are_read_in_chunks_and_implausible_ones_refused() {
        // The wanted name straddles the first chunk's end of .strtab; a tail of a longer
        // name ("xruntime.gomaxprocs") comes first and is no match for its own symbol.
        let long = "x".repeat(READ_CHUNK - 7);
        let syms = [(long.as_str(), 0x10), ("runtime.gomaxprocs", 0x5040)];
        let bytes = build_elf(ET_EXEC, true, 0x400000, &syms);
        let mut elf = parse(&bytes).unwrap();
        assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
        // Many symbols: .symtab spans several chunks.
        let names: Vec<String> = (0..50_000).map(|i| format!("pkg.f{i}")).collect();
        let mut many: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 0x10)).collect();
        many.push(("runtime.gomaxprocs", 0x7777));
        let bytes = build_elf(ET_EXEC, true, 0x400000, &many);
        const { assert!(50_000 * SYM_SIZE > READ_CHUNK) };
        assert_eq!(
            parse(&bytes).unwrap().symbol("runtime.gomaxprocs").unwrap(),
            Some(0x7777)
        );
        // A .strtab that claims 2 GiB (section 2's sh_size, at 32 in its header) is
        // refused before anything is read or allocated.
        let mut crafted = build_elf(ET_EXEC, true, 0x400000, &syms);
        let shoff = u64::from_le_bytes(crafted[40..48].try_into().unwrap()) as usize;
        let size_at = shoff + 2 * SHDR_SIZE + 32;
        crafted[size_at..size_at + 8].copy_from_slice(&(2u64 << 30).to_le_bytes());
        let e = format!(
            "{:#}",
            parse(&crafted)
                .unwrap()
                .symbol("runtime.gomaxprocs")
                .unwrap_err()
        );
        assert!(e.contains(".strtab claims 2147483648 bytes"), "{e}");
    }

    #[test]
    fn malformed_elf_is_an_error_not_a_panic() {
        let good = build_elf(ET_EXEC, true, 0x400000, &[("runtime.gomaxprocs", 0x5040)]);
        assert!(parse(b"#!/bin/sh\n").is_err());
        assert!(parse(&[0u8; 64]).is_err());
        let mut class32 = good.clone();
        class32[4] = 1;
        assert!(parse(&class32).is_err());
        // Every truncation either fails cleanly or still finds the symbol.
        for len in 0..good.len() {
            if let Ok(mut elf) = parse(&good[..len]) {
                let _ = elf.symbol("runtime.gomaxprocs");
                let _ = elf.lowest_load_vaddr();
            }
        }
        // Absurd offsets and sizes.
        let mut huge = good.clone();
        huge[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&huge).unwrap().symbol("x").is_err());
        let mut tiny_entries = good.clone();
        tiny_entries[58..60].copy_from_slice(&8u16.to_le_bytes());
        assert!(parse(&tiny_entries).unwrap().symbol("x").is_err());
        // Extended numbering (e_shnum 0): section 0's sh_size says a million sections,
        // refused before the table is read.
        let mut many = good.clone();
        many[60..62].copy_from_slice(&[0, 0]);
        let shoff = u64::from_le_bytes(many[40..48].try_into().unwrap()) as usize;
        many[shoff + 32..shoff + 40].copy_from_slice(&(1u64 << 20).to_le_bytes());
        let e = format!("{:#}", parse(&many).unwrap().symbol("x").unwrap_err());
        assert!(e.contains("1048576 section headers"), "{e}");
        // A .symtab whose entries are not ELF64 symbols.
        let mut odd_entries = good;
        let entsize_at = shoff + SHDR_SIZE + 56;
        odd_entries[entsize_at..entsize_at + 8].copy_from_slice(&32u64.to_le_bytes());
        assert!(parse(&odd_entries).unwrap().symbol("x").is_err());
    }

    /// A fake process: exe (a built ELF), maps, and mem (a sparse file with the value
    /// at the address the symbol should be read from).
    fn fake_process(t: &TempTree, pid: u32, e_type: u16, map_start: u64, read_at: u64, value: i32) {
        let exe = t.write(
            &format!("proc/{pid}/exe"),
            build_elf(e_type, true, 0x400000, &[("runtime.gomaxprocs", 0x4a_5040)]),
        );
        let ino = std::fs::metadata(&exe).unwrap().ino();
        t.write(
            &format!("proc/{pid}/maps"),
            format!(
                "{map_start:x}-{:x} r--p 00000000 fd:01 {ino} /opt/prog\n\
                 {:x}-{:x} r-xp 00010000 fd:01 {ino} /opt/prog\n",
                map_start + 0x1000,
                map_start + 0x1000,
                map_start + 0x2000
            ),
        );
        let mem = File::create(t.path(&format!("proc/{pid}/mem"))).unwrap();
        mem.write_all_at(&value.to_le_bytes(), read_at).unwrap();
    }

    #[test]
    fn fixture_runtime_values() {
        let t = TempTree::new("goprocs-runtime");
        let proc = t.path("proc");
        // Not PIE: read at the symbol's address.
        fake_process(&t, 1, ET_EXEC, 0x400000, 0x4a_5040, 6);
        assert_eq!(gomaxprocs_runtime_in(&proc, 1).unwrap(), Some(6));
        // PIE linked at 0x400000, loaded at 0x1000400000: moved by the difference. (Real
        // PIEs load higher, but mem is a sparse file here, and file systems cap its size.)
        fake_process(&t, 2, ET_DYN, 0x10_0040_0000, 0x10_004a_5040, 3);
        assert_eq!(gomaxprocs_runtime_in(&proc, 2).unwrap(), Some(3));
        t.write("proc/2/environ", b"GOMAXPROCS=9\0");
        assert_eq!(read_gomaxprocs(&proc, 2), from_runtime(3));
        // A runtime that has not started yet: an error, and the environment is used.
        fake_process(&t, 3, ET_EXEC, 0x400000, 0x4a_5040, 0);
        assert!(gomaxprocs_runtime_in(&proc, 3).is_err());
        t.write("proc/3/environ", b"GOMAXPROCS=9\0");
        assert_eq!(read_gomaxprocs(&proc, 3), from_env(9));
        // Not Go: no symbol.
        t.write(
            "proc/4/exe",
            build_elf(ET_EXEC, true, 0x400000, &[("main", 0x401000)]),
        );
        assert_eq!(gomaxprocs_runtime_in(&proc, 4).unwrap(), None);
        assert_eq!(read_gomaxprocs(&proc, 4), None);
        // A PIE with no mapping of its file.
        fake_process(&t, 5, ET_DYN, 0x10_0040_0000, 0, 1);
        t.write("proc/5/maps", "1000-2000 r--p 00000000 00:00 0\n");
        assert!(gomaxprocs_runtime_in(&proc, 5).is_err());
        // No process.
        assert!(gomaxprocs_runtime_in(&proc, 6).is_err());
        // Stripped: no .symtab (its section made SHT_PROGBITS), so no symbol.
        let mut stripped = build_elf(ET_EXEC, true, 0x400000, &[("runtime.gomaxprocs", 0x10)]);
        let shoff = u64::from_le_bytes(stripped[40..48].try_into().unwrap()) as usize;
        stripped[shoff + SHDR_SIZE + 4] = 1;
        t.write("proc/7/exe", stripped);
        assert_eq!(gomaxprocs_runtime_in(&proc, 7).unwrap(), None);
        // Not ELF, or cut short: an error, and the environment is used.
        let elf = build_elf(ET_EXEC, true, 0x400000, &[("runtime.gomaxprocs", 0x10)]);
        for (pid, exe) in [(8, &b"#!/bin/sh\n"[..]), (9, &elf[..elf.len() - 1])] {
            t.write(&format!("proc/{pid}/exe"), exe);
            t.write(&format!("proc/{pid}/environ"), b"GOMAXPROCS=4\0");
            let e = gomaxprocs_runtime_in(&proc, pid).unwrap_err();
            assert!(format!("{e:#}").contains("reading"), "{e:#}");
            assert_eq!(read_gomaxprocs(&proc, pid), from_env(4));
        }
    }

    /// This test binary: an ELF with a .symtab (Rust keeps one), not Go.
    #[test]
    fn this_process_is_not_go() {
        assert_eq!(gomaxprocs_runtime(std::process::id()).unwrap(), None);
    }

    /// The Go toolchain: $GOTRACE_GO, else the one `cargo xtask setup` installs.
    fn go_toolchain() -> PathBuf {
        if let Some(p) = std::env::var_os("GOTRACE_GO") {
            return PathBuf::from(p);
        }
        let p = workspace().join(".tools/go-venv/bin/go");
        assert!(
            p.exists(),
            "NO GO TOOLCHAIN: $GOTRACE_GO is not set and {} does not exist; \
             `cargo xtask setup` installs it",
            p.display()
        );
        p
    }

    /// Builds tests/workloads/gomaxprocs with `flags` into target/context-tests.
    fn build_gomaxprocs(variant: &str, flags: &[&str]) -> PathBuf {
        // One build at a time: the tests run in parallel.
        static BUILD: Mutex<()> = Mutex::new(());
        let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        let ws = workspace();
        let out = ws
            .join("target/context-tests")
            .join(format!("gomaxprocs-{variant}"));
        let status = Command::new(go_toolchain())
            .arg("build")
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg("./gomaxprocs")
            .current_dir(ws.join("tests/workloads"))
            .env("GOCACHE", ws.join("target/go-cache"))
            .env("GOPATH", ws.join("target/go-path"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env("CGO_ENABLED", "0")
            .status()
            .expect("run go build");
        assert!(status.success(), "go build {flags:?} ./gomaxprocs failed");
        out
    }

    /// Starts the workload and waits for its "ready N"; returns it and N.
    fn start(bin: &Path, gomaxprocs_env: Option<&str>, args: &[&str]) -> (ChildGuard, u32) {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdout(Stdio::piped())
            .env_remove("GOMAXPROCS");
        if let Some(v) = gomaxprocs_env {
            cmd.env("GOMAXPROCS", v);
        }
        let mut child = ChildGuard(cmd.spawn().expect("start the gomaxprocs workload"));
        let stdout = child.0.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read ready line");
        let n = line
            .strip_prefix("ready ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        (child, n)
    }

    fn check_runtime_values(bin: &Path) {
        let (child, reported) = start(bin, Some("3"), &[]);
        assert_eq!(reported, 3);
        assert_eq!(gomaxprocs_runtime(child.pid()).unwrap(), Some(3));
        assert_eq!(gomaxprocs_env(proc_root(), child.pid()), Some(3));

        let (child, reported) = start(bin, None, &["-set", "5"]);
        assert_eq!(reported, 5);
        assert_eq!(gomaxprocs_runtime(child.pid()).unwrap(), Some(5));
        assert_eq!(gomaxprocs_env(proc_root(), child.pid()), None);
        assert_eq!(read_gomaxprocs(proc_root(), child.pid()), from_runtime(5));
    }

    /// Real Go programs, built the default way (a static non-PIE executable).
    #[test]
    fn real_go_program() {
        let bin = build_gomaxprocs("exe", &[]);
        check_runtime_values(&bin);
    }

    /// Real Go programs built as PIEs: the load bias has to be applied.
    #[test]
    fn real_go_program_pie() {
        let bin = build_gomaxprocs("pie", &["-buildmode=pie"]);
        let exe = File::open(&bin).unwrap();
        assert!(Exe::parse(&exe).unwrap().is_pie(), "a PIE is ET_DYN");
        check_runtime_values(&bin);
    }

    /// A stripped Go program has no symbol: Ok(None), and the environment is the answer.
    #[test]
    fn real_go_program_stripped() {
        let bin = build_gomaxprocs("stripped", &["-ldflags=-s -w"]);
        let (child, reported) = start(&bin, Some("2"), &[]);
        assert_eq!(reported, 2);
        assert_eq!(gomaxprocs_runtime(child.pid()).unwrap(), None);
        assert_eq!(read_gomaxprocs(proc_root(), child.pid()), from_env(2));
    }
}
