//! Pressure stall information (PSI): how much of the time tasks waited for CPU, memory or
//! IO, for the target's cgroup when cgroup v2 tracks it, else system-wide.
//!
//! Format (Documentation/accounting/psi.rst):
//!
//! ```text
//! some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! ```
//!
//! `some`: at least one task was stalled; `full`: all non-idle tasks were at once. avgN
//! are percentages of wall time over the last N seconds; total is the cumulative stall
//! time in µs. The `full` line of cpu exists since 5.13 (system-wide it is always zero);
//! older kernels print `some` only.
//!
//! Parsed by hand on purpose, rather than with a procfs crate: a file without a `full`
//! line (cpu before 5.13, and some cgroups' files) is read as `full` absent, not as an
//! error, and every number is taken from its `key=value` pair, whatever the order.
use std::path::Path;

use serde::Serialize;

use super::{cgroup::cgroup2_dir, procfs::proc_root};

/// One PSI line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// One resource's pressure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pressure {
    pub some: PsiLine,
    pub full: Option<PsiLine>,
}

/// CPU, memory and IO pressure. A resource is `None` when its file is missing or
/// unreadable (a kernel without PSI, or booted with psi=0, where reads fail with
/// EOPNOTSUPP) or malformed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PressureSet {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
    /// Where it was read: `cgroup:<path in the v2 hierarchy>`, or `system` for
    /// /proc/pressure.
    pub source: String,
}

/// Parses one line: `some avg10=0.12 avg60=0.00 avg300=0.00 total=123`, keys in any
/// order, all four required. Returns the kind (`some` or `full`) with it.
pub fn parse_psi_line(line: &str) -> Option<(&str, PsiLine)> {
    let mut fields = line.split_ascii_whitespace();
    let kind = fields.next()?;
    let (mut avg10, mut avg60, mut avg300, mut total_us) = (None, None, None, None);
    for field in fields {
        let (key, value) = field.split_once('=')?;
        match key {
            "avg10" => avg10 = Some(parse_avg(value)?),
            "avg60" => avg60 = Some(parse_avg(value)?),
            "avg300" => avg300 = Some(parse_avg(value)?),
            "total" => total_us = Some(value.parse().ok()?),
            // Keys a later kernel may add.
            _ => {}
        }
    }
    Some((
        kind,
        PsiLine {
            avg10: avg10?,
            avg60: avg60?,
            avg300: avg300?,
            total_us: total_us?,
        },
    ))
}

/// A percentage: finite and not negative (Rust would also accept "NaN" and "inf").
fn parse_avg(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// Parses a pressure file. `None` without a valid `some` line, or with a malformed line.
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let (mut some, mut full) = (None, None);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_psi_line(line)? {
            ("some", psi) => some = Some(psi),
            ("full", psi) => full = Some(psi),
            _ => return None,
        }
    }
    Some(Pressure { some: some?, full })
}

/// Reads and parses one pressure file; `None` for every failure (see [`PressureSet`]).
fn read_one(path: &Path) -> Option<Pressure> {
    parse_pressure(&crate::context::procfs::read_kernel_text(path).ok()?)
}

/// The files of cpu, memory and io pressure: in /proc/pressure, in a cgroup v2 directory.
const SYSTEM_FILES: [&str; 3] = ["cpu", "memory", "io"];
const CGROUP_FILES: [&str; 3] = ["cpu.pressure", "memory.pressure", "io.pressure"];

/// Reads the cpu, memory and io `files` in `dir`.
fn read_set(dir: &Path, files: [&str; 3], source: String) -> PressureSet {
    let [cpu, memory, io] = files.map(|f| read_one(&dir.join(f)));
    PressureSet {
        cpu,
        memory,
        io,
        source,
    }
}

/// System-wide pressure, from `<proc_root>/pressure/{cpu,memory,io}`.
pub fn read_system_pressure(proc_root: &Path) -> PressureSet {
    read_set(&proc_root.join("pressure"), SYSTEM_FILES, "system".into())
}

/// Pressure of a cgroup v2 directory (`cpu.pressure` and the others); `path` is its path
/// in the hierarchy, for [`PressureSet::source`].
pub fn read_cgroup_pressure(dir: &Path, path: &str) -> PressureSet {
    read_set(dir, CGROUP_FILES, format!("cgroup:{path}"))
}

/// The pressure on process `pid`: its cgroup v2 directory's when it has pressure files
/// (PSI is kept for every v2 cgroup, even on a hybrid machine whose controllers are all
/// on v1), else system-wide.
pub fn read_pressure(proc_root: &Path, pid: u32) -> PressureSet {
    if let Ok(Some(cg)) = cgroup2_dir(proc_root, pid) {
        let set = read_cgroup_pressure(&cg.dir, &cg.path);
        if set.cpu.is_some() || set.memory.is_some() || set.io.is_some() {
            return set;
        }
    }
    read_system_pressure(proc_root)
}

/// [`read_pressure`] on the real /proc.
pub fn read_pressure_live(pid: u32) -> PressureSet {
    read_pressure(proc_root(), pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::procfs::testing::{require_root, ChildGuard, TempCgroup, TempTree};
    use std::process::Command;

    const CPU: &str = "some avg10=0.12 avg60=0.00 avg300=1.50 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    /// Before 5.13, cpu had no full line.
    const CPU_OLD: &str = "some avg10=9.48 avg60=4.53 avg300=5.60 total=88353481\n";
    const MEMORY: &str = "some avg10=4.26 avg60=2.44 avg300=1.50 total=17273868\nfull avg10=3.67 avg60=2.23 avg300=1.35 total=14715775\n";

    fn line(avg10: f64, avg60: f64, avg300: f64, total_us: u64) -> PsiLine {
        PsiLine {
            avg10,
            avg60,
            avg300,
            total_us,
        }
    }

    #[test]
    fn parses_psi() {
        assert_eq!(
            parse_pressure(CPU),
            Some(Pressure {
                some: line(0.12, 0.0, 1.5, 123),
                full: Some(line(0.0, 0.0, 0.0, 0)),
            })
        );
        assert_eq!(
            parse_pressure(CPU_OLD),
            Some(Pressure {
                some: line(9.48, 4.53, 5.6, 88_353_481),
                full: None
            })
        );
        assert_eq!(
            parse_pressure(MEMORY).unwrap().full.unwrap().total_us,
            14_715_775
        );
        // Key order does not matter; unknown keys are ignored.
        assert_eq!(
            parse_psi_line("some total=5 avg300=3 avg60=2 avg10=1 avg900=4"),
            Some(("some", line(1.0, 2.0, 3.0, 5)))
        );
    }

    #[test]
    fn rejects_malformed_psi() {
        for bad in [
            "",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0",
            "some avg10=0.12 avg60=0.00 avg300=0.00",
            "some avg10=x avg60=0.00 avg300=0.00 total=1",
            "some avg10=NaN avg60=0.00 avg300=0.00 total=1",
            "some avg10=-1 avg60=0.00 avg300=0.00 total=1",
            "some avg10=0.1 avg60=0.00 avg300=0.00 total=-1",
            "some avg10 avg60=0.00 avg300=0.00 total=1",
            "some avg10=0.1 avg60=0.00 avg300=0.00 total=1\nhalf avg10=0.1 avg60=0.00 avg300=0.00 total=1",
        ] {
            assert_eq!(parse_pressure(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fixture_cgroup_then_system() {
        let t = TempTree::new("pressure");
        let proc = t.path("proc");
        t.write("proc/pressure/cpu", CPU_OLD);
        t.write("proc/pressure/memory", MEMORY);
        // No io file: a resource this kernel does not report.
        t.write("proc/7/cgroup", "1:cpu:/\n0::/app\n");
        t.write(
            "proc/7/mountinfo",
            "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        // The cgroup directory exists but has no pressure files: system-wide.
        t.mkdir("proc/7/root/sys/fs/cgroup/unified/app");
        let sys = read_pressure(&proc, 7);
        assert_eq!(sys.source, "system");
        assert_eq!(sys.cpu.unwrap().some.total_us, 88_353_481);
        assert!(sys.memory.is_some());
        assert_eq!(sys.io, None);

        t.write("proc/7/root/sys/fs/cgroup/unified/app/cpu.pressure", CPU);
        t.write(
            "proc/7/root/sys/fs/cgroup/unified/app/io.pressure",
            "garbage\n",
        );
        let cg = read_pressure(&proc, 7);
        assert_eq!(cg.source, "cgroup:/app");
        assert_eq!(cg.cpu.unwrap().some.total_us, 123);
        assert_eq!(cg.memory, None);
        assert_eq!(cg.io, None);

        // No such process: system-wide. No PSI at all: all None, no error.
        assert_eq!(read_pressure(&proc, 8).source, "system");
        let none = read_system_pressure(&t.path("nowhere"));
        assert_eq!((none.cpu, none.memory, none.io), (None, None, None));
    }

    /// The real PSI files of this machine, system-wide and for a process in a cgroup v2
    /// directory made for the test (root).
    #[test]
    fn this_machine() {
        let sys = read_system_pressure(proc_root());
        if Path::new("/proc/pressure/cpu").exists() {
            let cpu = sys.cpu.expect("/proc/pressure/cpu parses");
            assert!(cpu.some.avg10 <= 100.0);
            assert!(sys.memory.is_some() && sys.io.is_some(), "{sys:?}");
        } else {
            eprintln!("this kernel has no /proc/pressure: checked it reads as None");
            assert_eq!(sys.cpu, None);
        }

        let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists())
            .expect("NO CGROUP V2 MOUNT at /sys/fs/cgroup/unified or /sys/fs/cgroup");
        if !unified.join("cpu.pressure").exists() {
            eprintln!(
                "{} has no cpu.pressure: no per-cgroup PSI to check",
                unified.display()
            );
            return;
        }
        require_root("context::pressure::tests::this_machine");
        let name = format!("gotrace-test-psi-{}", std::process::id());
        let cg = TempCgroup::create(unified.join(&name));
        let child = ChildGuard(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        cg.add(child.pid());
        let set = read_pressure_live(child.pid());
        assert_eq!(set.source, format!("cgroup:/{name}"));
        assert!(
            set.cpu.is_some() && set.memory.is_some() && set.io.is_some(),
            "{set:?}"
        );
    }
}
