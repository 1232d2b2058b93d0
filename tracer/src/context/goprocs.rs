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
    os::unix::fs::{FileExt as _, MetadataExt as _},
    path::Path,
};

use anyhow::{bail, ensure, Context as _, Result};
use gotrace_model::{elf::Elf, gosym::ProcessMap};
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
        let elf = Elf::parse(&exe)
            .and_then(|elf| {
                ensure!(elf.is_64(), "not a 64-bit ELF file");
                Ok(elf)
            })
            .with_context(reading)?;
        let Some(vaddr) = elf.symbol(SYMBOL).with_context(reading)? else {
            return Ok(None);
        };
        let bias = if elf.is_pie() {
            let maps = ProcessMap::parse(&read_text(&pid_path(proc_root, pid, "maps"))?);
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
            little_endian: elf.is_little_endian(),
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

/// The start of the executable's first (lowest) mapping: the one of inode `ino`, and of
/// path `path` when given.
fn exe_mapping_start(maps: &ProcessMap, ino: u64, path: Option<&str>) -> Option<u64> {
    maps.mappings()
        .iter()
        .filter(|m| m.inode == ino && path.is_none_or(|p| m.path == p))
        .map(|m| m.start)
        .min()
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::procfs::testing::{workspace, ChildGuard, TempTree};
    use gotrace_model::elf::testing::{build_elf, build_elf_class, ET_DYN, ET_EXEC, SHDR64_SIZE};
    use std::{
        io::{BufRead as _, BufReader},
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
    fn exe_mappings() {
        let maps = ProcessMap::parse(
            "400000-401000 r-xp 00000000 fd:01 77 /bin/a\n\
             300000-301000 r--p 00000000 fd:01 77 /bin/other-link\n\
             500000-501000 r--p 00001000 fd:01 77 /bin/a\n",
        );
        assert_eq!(exe_mapping_start(&maps, 77, Some("/bin/a")), Some(0x400000));
        assert_eq!(exe_mapping_start(&maps, 77, None), Some(0x300000));
        assert_eq!(exe_mapping_start(&maps, 78, None), None);
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
        stripped[shoff + SHDR64_SIZE + 4] = 1;
        t.write("proc/7/exe", stripped);
        assert_eq!(gomaxprocs_runtime_in(&proc, 7).unwrap(), None);
        // Not ELF, cut short, or 32-bit: an error, and the environment is used.
        let symbols = [("runtime.gomaxprocs", 0x10)];
        let elf = build_elf(ET_EXEC, true, 0x400000, &symbols);
        let elf32 = build_elf_class(false, ET_EXEC, true, 0x400000, &symbols);
        for (pid, exe) in [
            (8, &b"#!/bin/sh\n"[..]),
            (9, &elf[..elf.len() - 1]),
            (10, &elf32[..]),
        ] {
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
        assert!(Elf::parse(&exe).unwrap().is_pie(), "a PIE is ET_DYN");
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
