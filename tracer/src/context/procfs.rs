//! Plumbing shared by the context readers (the model crate's `procfs`: where the real
//! /proc and /sys are, bounded non-blocking reads of small kernel files, cgroupfs's
//! "flat keyed" files), and the fixtures the readers' tests build.
pub use gotrace_model::procfs::*;

#[cfg(test)]
pub(crate) mod testing {
    use std::{
        path::{Path, PathBuf},
        process::Child,
        sync::atomic::{AtomicU32, Ordering},
    };

    /// A directory under the system temp dir, removed (with everything in it) on drop.
    pub struct TempTree {
        pub root: PathBuf,
    }

    impl TempTree {
        pub fn new(name: &str) -> TempTree {
            static N: AtomicU32 = AtomicU32::new(0);
            let root = std::env::temp_dir().join(format!(
                "gotrace-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("create temp tree");
            TempTree { root }
        }

        /// `root/rel`.
        pub fn path(&self, rel: &str) -> PathBuf {
            self.root.join(rel.trim_start_matches('/'))
        }

        /// Writes `root/rel`, creating its parent directories; returns its path.
        pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let p = self.path(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("create fixture dir");
            }
            std::fs::write(&p, contents).expect("write fixture file");
            p
        }

        /// Creates the directory `root/rel` (and its parents); returns its path.
        pub fn mkdir(&self, rel: &str) -> PathBuf {
            let p = self.path(rel);
            std::fs::create_dir_all(&p).expect("create fixture dir");
            p
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    /// A child process killed and reaped on drop, so a failing test leaves nothing behind.
    pub struct ChildGuard(pub Child);

    impl ChildGuard {
        pub fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A real cgroup directory made for a test, removed on drop. Declare the
    /// [`ChildGuard`]s of the processes moved into it after it, so they die first: a
    /// cgroup with processes cannot be removed.
    pub struct TempCgroup {
        pub dir: PathBuf,
    }

    impl TempCgroup {
        /// Creates `dir`; panics saying why when it cannot.
        pub fn create(dir: PathBuf) -> TempCgroup {
            if let Err(e) = std::fs::create_dir(&dir) {
                panic!("CANNOT CREATE THE TEST CGROUP {}: {e}", dir.display());
            }
            TempCgroup { dir }
        }

        /// Writes a control file of the cgroup; panics saying which when it cannot.
        pub fn write(&self, file: &str, value: &str) {
            let p = self.dir.join(file);
            if let Err(e) = std::fs::write(&p, value) {
                panic!("CANNOT WRITE {value:?} TO {}: {e}", p.display());
            }
        }

        /// Moves a process into the cgroup.
        pub fn add(&self, pid: u32) {
            self.write("cgroup.procs", &pid.to_string());
        }
    }

    impl Drop for TempCgroup {
        fn drop(&mut self) {
            // The last process may take a moment to leave after it is reaped.
            for _ in 0..100 {
                if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            eprintln!(
                "warning: could not remove test cgroup {}",
                self.dir.display()
            );
        }
    }

    /// Tests on the real kernel that need root call this first: it fails loudly, never
    /// skips, when not root.
    pub fn require_root(test: &str) {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "ROOT TEST {test} CANNOT RUN: it needs root (euid is {euid}). Run the tests as root."
        );
    }

    /// The workspace root (the tracer crate's parent).
    pub fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tracer crate has a parent directory")
            .to_path_buf()
    }
}
