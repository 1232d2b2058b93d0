//! What a filesystem costs a Go build, measured on the spot: the median time of `stat`
//! and of a small read (open, read 4 KiB, close) there, against the same on the local
//! disk. A Go build stats every source file of every package and every build-cache
//! entry it might reuse, and reads each that changed: those two operations are what a
//! slow filesystem makes slow.
//!
//! Read-only: it stats what is already there and reads the first 4 KiB of regular
//! files; nothing is created in the user's directories. Each measurement has a budget
//! (a few hundred operations or one second, whichever comes first) and a deadline: a
//! filesystem that does not answer (a hung NFS server) is reported as such instead of
//! hanging doctor.
use std::{
    io::Read as _,
    path::{Path, PathBuf},
    sync::mpsc,
    time::{Duration, Instant},
};

use super::facts::place_of;
use crate::context::{mounts::MountTable, procfs::open_regular};

/// At most this many stats and reads per measurement...
const MAX_STATS: usize = 300;
const MAX_READS: usize = 100;
/// ...and no more than this long for each kind.
const BUDGET: Duration = Duration::from_secs(1);
/// A filesystem that has not answered this long after the budget is reported as hung.
const DEADLINE: Duration = Duration::from_secs(5);
/// How many directory entries are sampled.
const ENTRIES: usize = 64;

/// Medians of one directory's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    pub stat_ns: u64,
    pub stats: usize,
    /// `None` when there was no regular file to read.
    pub read_ns: Option<u64>,
    pub reads: usize,
}

/// The local directory measured for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub dir: PathBuf,
    /// Its filesystem (`ext4 (/)`).
    pub place: String,
    pub costs: Result<Costs, String>,
}

impl Reference {
    /// A directory full of small files on a local filesystem: the system's libraries
    /// or configuration, on what holds `/`.
    pub fn pick(mounts: &MountTable) -> Reference {
        let dir = ["/usr/lib", "/usr/share", "/etc", "/"]
            .iter()
            .map(PathBuf::from)
            .find(|d| d.is_dir() && place_of(d, mounts).is_some_and(|p| !p.remote))
            .unwrap_or_else(|| PathBuf::from("/"));
        let place = place_of(&dir, mounts)
            .map(|p| p.describe())
            .unwrap_or_default();
        Reference {
            costs: measure(&dir),
            dir,
            place,
        }
    }
}

/// A remote directory against the local reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub here: Costs,
    pub local: Costs,
    pub local_dir: PathBuf,
    pub local_place: String,
}

impl Comparison {
    /// How many times longer a stat takes here (1.0 when the local one took no
    /// measurable time).
    pub fn stat_ratio(&self) -> f64 {
        ratio(self.here.stat_ns, self.local.stat_ns)
    }

    pub fn read_ratio(&self) -> Option<f64> {
        Some(ratio(self.here.read_ns?, self.local.read_ns?))
    }
}

fn ratio(here: u64, local: u64) -> f64 {
    here as f64 / local.max(1) as f64
}

/// Measures `dir` and compares it with the reference.
pub fn compare(dir: &Path, reference: &Reference) -> Result<Comparison, String> {
    let local = reference
        .costs
        .clone()
        .map_err(|e| format!("the local reference {}: {e}", reference.dir.display()))?;
    Ok(Comparison {
        here: measure(dir)?,
        local,
        local_dir: reference.dir.clone(),
        local_place: reference.place.clone(),
    })
}

/// Measures one directory, on its own thread, within [`DEADLINE`] past the budget.
pub fn measure(dir: &Path) -> Result<Costs, String> {
    let (tx, rx) = mpsc::channel();
    let d = dir.to_path_buf();
    std::thread::Builder::new()
        .name("doctor-fscost".into())
        .spawn(move || {
            let _ = tx.send(sample(&d));
        })
        .map_err(|e| format!("cannot start a measurement: {e}"))?;
    // Two budgets (stats, reads) plus listing the directory.
    match rx.recv_timeout(BUDGET * 2 + DEADLINE) {
        Ok(r) => r,
        // The thread stays blocked in the kernel; it holds nothing doctor needs.
        Err(_) => Err(format!(
            "the filesystem did not answer within {} s",
            (BUDGET * 2 + DEADLINE).as_secs()
        )),
    }
}

fn sample(dir: &Path) -> Result<Costs, String> {
    let mut entries = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    let listing =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for e in listing.flatten().take(ENTRIES) {
        // d_type from the listing: no stat of its own.
        if e.file_type().is_ok_and(|t| t.is_file()) {
            files.push(e.path());
        }
        entries.push(e.path());
    }
    let mut stat_times = timed(MAX_STATS, &entries, |p| {
        let _ = std::fs::symlink_metadata(p);
    });
    let mut read_times = timed(MAX_READS, &files, |p| {
        let mut buf = [0u8; 4096];
        if let Ok(mut f) = open_regular(p) {
            let _ = f.read(&mut buf);
        }
    });
    Ok(Costs {
        stats: stat_times.len(),
        stat_ns: median(&mut stat_times).unwrap_or(0),
        reads: read_times.len(),
        read_ns: median(&mut read_times),
    })
}

/// Times `op` round-robin over `paths`, up to `max` times or [`BUDGET`].
fn timed(max: usize, paths: &[PathBuf], op: impl Fn(&Path)) -> Vec<u64> {
    let start = Instant::now();
    let mut times = Vec::with_capacity(max);
    for p in paths
        .iter()
        .cycle()
        .take(if paths.is_empty() { 0 } else { max })
    {
        let t = Instant::now();
        op(p);
        times.push(t.elapsed().as_nanos() as u64);
        if start.elapsed() > BUDGET {
            break;
        }
    }
    times
}

fn median(v: &mut [u64]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_measured_with_both_operations() {
        let costs = measure(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(costs.stats > 10, "{costs:?}");
        assert!(costs.reads > 0 && costs.read_ns.is_some(), "{costs:?}");
        assert!(costs.stat_ns > 0, "{costs:?}");
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_zero() {
        assert!(measure(Path::new("/nonexistent/gotrace")).is_err());
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut []), None);
        let c = Comparison {
            here: Costs {
                stat_ns: 41_000,
                stats: 300,
                read_ns: Some(90_000),
                reads: 100,
            },
            local: Costs {
                stat_ns: 1_000,
                stats: 300,
                read_ns: Some(3_000),
                reads: 100,
            },
            local_dir: "/usr/lib".into(),
            local_place: "ext4 (/)".into(),
        };
        assert_eq!(c.stat_ratio(), 41.0);
        assert_eq!(c.read_ratio(), Some(30.0));
    }
}
