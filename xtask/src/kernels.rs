//! The kernel matrix: gotrace's core integration tests inside Debian's own kernels,
//! booted under QEMU. Each kernel package is downloaded with `apt-get download` and
//! unpacked into target/ (never installed on the host); the guest boots from an initramfs
//! of busybox, gotrace, the test binaries (with the shared libraries they load) and the
//! prebuilt Go workloads, each at the path it has here, so the tests run unchanged. A
//! host folder is shared as virtio-9p, which the guest mounts with the kernel's own
//! modules: a real 9p filesystem, as WSL2's /mnt/c is.
//!
//! One guest per kernel, no retries. Each guest's console is kept in
//! target/kernels/<release>/console.log; the results are read from it.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{BufWriter, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{root, run, TestTotals};

/// A kernel of the matrix: the Debian package that names it (a metapackage that
/// depends on the current image package of that series).
pub struct Kernel {
    /// Short name, for `--kernels` and the report.
    pub name: &'static str,
    pub package: &'static str,
}

/// Debian 12's stock kernel and the 6.12 LTS it also ships.
pub const KERNELS: [Kernel; 2] = [
    Kernel {
        name: "6.1",
        package: "linux-image-amd64",
    },
    Kernel {
        name: "6.12",
        package: "linux-image-6.12-amd64",
    },
];

/// The tests that run in every guest: (test binary, test names). These are the
/// capabilities a kernel can break: exact counts in launch and attach mode, following
/// children, the SIGCHLD lifecycle, slow calls with their split, a stuck call, io_uring,
/// the feature lines, reads on a real 9p mount, and host-wide mode's per-process counts.
const GUEST_TESTS: &[(&str, &[&str])] = &[
    (
        "trace",
        &[
            "launch_counts_exactly",
            "attach_counts_exactly_and_ends_when_the_target_exits",
            "launch_follows_children_through_os_exec",
            "sigterm_ends_with_a_summary_and_leaves_the_target_running",
        ],
    ),
    (
        "signals",
        &[
            "coalesced_sigchld_is_reported_and_balances",
            "ignored_sigchld_means_auto_reaped_children",
            "a_child_never_reaped_is_named",
        ],
    ),
    ("export", &["perfetto_shows_slow_calls_on_their_thread"]),
    (
        "in_progress",
        &[
            "a_read_on_a_pipe_nobody_writes_is_named_with_its_file",
            "a_process_already_stuck_when_gotrace_attaches_is_named",
        ],
    ),
    ("poller", &["io_uring_ops_are_counted_per_opcode"]),
    (
        "gocode",
        &[
            "no_stacks_still_names_goroutines",
            "a_stuck_read_names_its_goroutine_and_stack",
        ],
    ),
    (
        "kernel",
        &["the_header_says_which_variant_each_tracepoint_got_and_what_is_off"],
    ),
    (
        "hostwide",
        &[
            "all_mode_counts_processes_without_a_slot",
            "all_mode_forgets_exited_processes",
        ],
    ),
    (
        "filesystems",
        &[
            "the_same_reads_on_tmpfs_show_no_slow_filesystem",
            "a_build_like_walk_on_9p_is_the_filesystem_and_costs_more_than_tmpfs",
        ],
    ),
];

/// Modules the guest loads, in an order that satisfies their dependencies where the
/// kernel builds them as modules (virtio is built in on 6.12, a module on 6.1).
const MODULES: [&str; 10] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
];

/// How long one guest may take, boot to power-off, before it is stopped and failed. A
/// guard against a hang, not a speed test: the guests emulate every instruction (TCG) and
/// share the host's CPUs with the host's own tests (which build the workloads with seven
/// Go toolchains), so a quiet run takes about 170 s and a loaded one over twice that.
const GUEST_TIMEOUT: Duration = Duration::from_secs(900);

/// What one kernel's run came to.
pub struct KernelResult {
    pub kernel: String,
    pub totals: TestTotals,
    /// Why tests failed or did not run, one line each.
    pub problems: Vec<String>,
    pub console: PathBuf,
    /// What the failed tests printed (libtest's `---- name stdout ----` sections), bounded.
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

/// Which kernels `--kernels` names: "host" (none), "all", or a comma list of names.
pub fn select(spec: &str) -> Result<Vec<&'static Kernel>> {
    match spec {
        "host" => Ok(Vec::new()),
        "all" => Ok(KERNELS.iter().collect()),
        list => list
            .split(',')
            .map(|name| {
                KERNELS
                    .iter()
                    .find(|k| k.name == name.trim())
                    .with_context(|| {
                        format!(
                            "--kernels: no kernel {name:?} (host, all, or a list of: {})",
                            KERNELS.map(|k| k.name).join(", ")
                        )
                    })
            })
            .collect(),
    }
}

fn kernels_dir() -> PathBuf {
    root().join("target/kernels")
}

/// The image package a metapackage stands for now ("linux-image-6.1.0-57-amd64").
fn image_package(meta: &str) -> Result<String> {
    let depends = |update: bool| -> Result<Option<String>> {
        if update {
            run(Command::new("apt-get").args(["update", "-qq"]))?;
        }
        let out = Command::new("apt-cache")
            .args(["depends", "--no-recommends", "--no-suggests", meta])
            .stderr(Stdio::null())
            .output()
            .context("run apt-cache depends")?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        }))
    };
    match depends(false)? {
        Some(p) => Ok(p),
        None => depends(true)?.with_context(|| format!("apt knows no package {meta}")),
    }
}

/// Downloads and unpacks the kernel package once; returns (unpacked tree, release).
fn unpack_kernel(k: &Kernel) -> Result<(PathBuf, String)> {
    let package = image_package(k.package)?;
    let tree = kernels_dir().join("unpacked").join(&package);
    if !tree.join("boot").exists() {
        let debs = kernels_dir().join("debs");
        fs::create_dir_all(&debs).context("create target/kernels/debs")?;
        eprintln!("xtask: downloading {package} ({})", k.package);
        run(Command::new("apt-get")
            .args(["download", "-qq", "-o", "APT::Sandbox::User=root", &package])
            .current_dir(&debs))?;
        let deb = fs::read_dir(&debs)?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
            .with_context(|| format!("apt-get download left no {package}_*.deb"))?;
        let partial = tree.with_extension("partial");
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial)?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
        fs::rename(&partial, &tree).context("move the unpacked kernel into place")?;
        let _ = fs::remove_file(&deb);
    }
    let release = fs::read_dir(tree.join("lib/modules"))
        .context("the kernel package has no lib/modules")?
        .flatten()
        .find_map(|e| e.file_name().to_str().map(str::to_string))
        .context("no release under lib/modules")?;
    Ok((tree, release))
}

/// A module's bytes, decompressed (Debian's 6.12 ships them xz-compressed, and busybox's
/// insmod hands the kernel the bytes as they are).
fn module_bytes(tree: &Path, release: &str, name: &str) -> Result<Option<Vec<u8>>> {
    let modules = tree.join("lib/modules").join(release);
    let mut stack = vec![modules.join("kernel")];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir)
            .with_context(|| format!("read {}", dir.display()))?
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let file = e.file_name().to_string_lossy().into_owned();
            if file == format!("{name}.ko") {
                return Ok(Some(fs::read(&p)?));
            }
            if file == format!("{name}.ko.xz") {
                let out = Command::new("xz")
                    .arg("-dc")
                    .arg(&p)
                    .output()
                    .context("run xz (xz-utils)")?;
                if !out.status.success() {
                    bail!("xz -dc {} failed", p.display());
                }
                return Ok(Some(out.stdout));
            }
        }
    }
    Ok(None)
}

/// A newc cpio archive (the initramfs format, Documentation/driver-api/early-userspace/
/// buffer-format.rst), written entry by entry; parent directories come first.
struct Cpio {
    out: BufWriter<fs::File>,
    dirs: BTreeSet<String>,
    ino: u32,
}

impl Cpio {
    fn create(path: &Path) -> Result<Cpio> {
        let f = fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        Ok(Cpio {
            out: BufWriter::new(f),
            dirs: BTreeSet::new(),
            ino: 1,
        })
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<()> {
        let name = name.trim_start_matches('/');
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            u32::try_from(data.len()).context("a file over 4 GiB in the initramfs")?,
            0,
            0,
            0,
            0,
            u32::try_from(name.len() + 1)?,
            0,
        ];
        let mut hdr = String::from("070701");
        for f in fields {
            hdr.push_str(&format!("{f:08x}"));
        }
        self.out.write_all(hdr.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name.len() + 1)?;
        self.out.write_all(data)?;
        self.pad(data.len())?;
        Ok(())
    }

    fn pad(&mut self, len: usize) -> Result<()> {
        let n = (4 - len % 4) % 4;
        self.out.write_all(&[0; 3][..n])?;
        Ok(())
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return Ok(());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        self.dirs.insert(path.to_string());
        self.entry(path, 0o040755, &[])
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        if let Some((parent, _)) = path.trim_matches('/').rsplit_once('/') {
            self.dir(parent)?;
        }
        self.entry(path, 0o100000 | mode, data)
    }

    fn finish(mut self) -> Result<()> {
        self.entry("TRAILER!!!", 0, &[])?;
        self.out.flush()?;
        Ok(())
    }
}

/// The shared libraries (and the loader) an ELF binary needs, as `ldd` resolves them.
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(bin).output().context("run ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || !out.status.success() {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// An executable without its debug information: the initramfs lives in the guest's RAM.
fn stripped(bin: &Path, scratch: &Path) -> Result<Vec<u8>> {
    let name = bin.file_name().context("a binary without a name")?;
    let out = scratch.join(name);
    run(Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(bin))?;
    let data = fs::read(&out)?;
    let _ = fs::remove_file(&out);
    Ok(data)
}

/// What the guests need from the host build: gotrace, the test binaries, the workloads.
pub struct Payload {
    pub gotrace: PathBuf,
    /// Test binary name ("trace") -> its executable.
    pub tests: BTreeMap<String, PathBuf>,
    /// Other binaries the tests run, at their paths here (workloads, helpers).
    pub extra: Vec<PathBuf>,
    pub go_version: String,
}

/// The test executables Cargo built for gotrace-tests, by test name.
pub fn test_executables(envs: &[(String, String)]) -> Result<BTreeMap<String, PathBuf>> {
    let out = crate::cargo()
        .current_dir(root())
        .args([
            "test",
            "-p",
            "gotrace-tests",
            "--tests",
            "--no-run",
            "--message-format=json",
        ])
        .envs(envs.iter().cloned())
        .stderr(Stdio::inherit())
        .output()
        .context("cargo test --no-run")?;
    if !out.status.success() {
        bail!("cargo test --no-run failed");
    }
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let kinds = &v["target"]["kind"];
        let is_test = kinds
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x == "test"));
        if let (true, Some(name), Some(exe)) = (
            is_test,
            v["target"]["name"].as_str(),
            v["executable"].as_str(),
        ) {
            map.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    Ok(map)
}

/// The guest's /init: mounts, modules, the 9p share, then each test binary in turn.
/// Nothing is mounted over /tmp: the payload sits at its host paths, which may be
/// under /tmp (a checkout there), and the initramfs is already in RAM.
fn init_script(payload: &Payload, modules: &[&str]) -> String {
    let mut s = String::from(
        r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sbin /usr/bin /usr/sbin /mnt/9p
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ip link set lo up 2>/dev/null
echo "gotrace-guest: kernel $(uname -r)"
"#,
    );
    for m in modules {
        s.push_str(&format!(
            "insmod /modules/{m}.ko || echo \"gotrace-guest: insmod {m} failed\"\n"
        ));
    }
    s.push_str(&format!(
        r#"if mount -t 9p -o trans=virtio,version=9p2000.L share /mnt/9p; then
  echo "gotrace-guest: 9p mounted"; export GOTRACE_9P_DIR=/mnt/9p
else
  echo "gotrace-guest: 9p NOT mounted"
fi
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root RUST_BACKTRACE=1
export GOTRACE_BIN={gotrace} GOTRACE_PREBUILT_WORKLOADS=1 GOTRACE_GO_VERSION={go}
cd /root
"#,
        gotrace = payload.gotrace.display(),
        go = payload.go_version,
    ));
    for (bin, names) in GUEST_TESTS {
        s.push_str(&format!(
            "echo \"gotrace-guest: run {bin}\"\n/tests/{bin} --exact --test-threads=1 --include-ignored {}\necho \"gotrace-guest: exit {bin} $?\"\n",
            names.join(" ")
        ));
    }
    s.push_str("echo \"gotrace-guest: done\"\nsync\npoweroff -f\n");
    s
}

/// Builds one kernel's initramfs; returns its path.
fn build_initramfs(
    dir: &Path,
    tree: &Path,
    release: &str,
    payload: &Payload,
) -> Result<(PathBuf, Vec<&'static str>)> {
    let path = dir.join("initramfs.cpio");
    let scratch = dir.join("strip");
    fs::create_dir_all(&scratch)?;
    let mut cpio = Cpio::create(&path)?;
    let busybox = fs::read("/bin/busybox").context("read /bin/busybox (busybox-static)")?;
    cpio.file("/bin/busybox", 0o755, &busybox)?;

    let mut modules = Vec::new();
    for m in MODULES {
        if let Some(bytes) = module_bytes(tree, release, m)? {
            cpio.file(&format!("/modules/{m}.ko"), 0o644, &bytes)?;
            modules.push(m);
        }
    }

    let mut binaries: Vec<(String, PathBuf)> = vec![(
        payload.gotrace.display().to_string(),
        payload.gotrace.clone(),
    )];
    for (bin, _) in GUEST_TESTS {
        let exe = payload
            .tests
            .get(*bin)
            .with_context(|| format!("no test binary {bin} was built"))?;
        binaries.push((format!("/tests/{bin}"), exe.clone()));
    }
    for p in &payload.extra {
        binaries.push((p.display().to_string(), p.clone()));
    }
    let mut libs = BTreeSet::new();
    for (at, bin) in &binaries {
        libs.extend(shared_libraries(bin)?);
        cpio.file(at, 0o755, &stripped(bin, &scratch)?)?;
    }
    for lib in libs {
        // Read through symlinks: the loader's path is one on Debian.
        let data = fs::read(&lib).with_context(|| format!("read {}", lib.display()))?;
        cpio.file(&lib.display().to_string(), 0o755, &data)?;
    }
    cpio.file("/init", 0o755, init_script(payload, &modules).as_bytes())?;
    cpio.finish()?;
    let _ = fs::remove_dir_all(&scratch);
    Ok((path, modules))
}

/// Boots one kernel with its initramfs and waits for it to power off (or the timeout).
fn boot(vmlinuz: &Path, initramfs: &Path, share: &Path, console: &Path) -> Result<bool> {
    let log = fs::File::create(console).with_context(|| format!("create {}", console.display()))?;
    let mut child = Command::new("qemu-system-x86_64")
        // Two vCPUs on one host thread: with multi-threaded TCG, guests were seen stuck
        // for minutes (soft lockups in syscall_trace_enter, both vCPUs) while programs
        // were attached or detached, which patches kernel text that another vCPU runs.
        .args(["-accel", "tcg,thread=single", "-m", "2048", "-smp", "2"])
        .args([
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 panic=-1 quiet rdinit=/init"])
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=share,security_model=none",
            share.display()
        ))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start qemu-system-x86_64")?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        if start.elapsed() > GUEST_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads a guest's console: libtest's per-test lines and totals, and the harness's marks.
fn results(console: &str, finished: bool) -> (TestTotals, Vec<String>) {
    let mut totals = TestTotals::default();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        totals.add_line(line);
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, verdict)) = rest.rsplit_once(" ... ") {
                seen.insert(name.to_string());
                if verdict.starts_with("FAILED") {
                    problems.push(format!("{name}: FAILED"));
                }
            }
        }
        if let Some(m) = line.strip_prefix("gotrace-guest: ") {
            if m.contains("failed") || m.contains("NOT mounted") {
                problems.push(m.to_string());
            }
        }
    }
    for (bin, names) in GUEST_TESTS {
        for name in *names {
            if !seen.contains(*name) {
                totals.failed += 1;
                problems.push(format!("{bin}::{name}: did not run"));
            }
        }
    }
    if !finished {
        problems.push(format!(
            "the guest did not power off within {} s",
            GUEST_TIMEOUT.as_secs()
        ));
    } else if !console.contains("gotrace-guest: done") {
        problems.push("the guest stopped before its tests were done".into());
    }
    (totals, problems)
}

/// The most lines of one failed test's output the report repeats from a console.
const FAILURE_LINES: usize = 40;

/// What each failed test printed, from libtest's `---- name stdout ----` sections, so the
/// report says why without the console (which CI does not keep).
fn failure_output(console: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        let section = line.starts_with("---- ") && line.ends_with(" ----");
        let ends = section || line == "failures:" || line.starts_with("test result:");
        if ends {
            if let Some(lines) = current.take() {
                out.push(bounded(&lines));
            }
        }
        if section {
            current = Some(vec![line]);
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current {
        out.push(bounded(&lines));
    }
    out
}

fn bounded(lines: &[&str]) -> String {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let lines = &lines[..end];
    let mut s = lines[..lines.len().min(FAILURE_LINES)].join("\n");
    if lines.len() > FAILURE_LINES {
        s.push_str(&format!(
            "\n({} more lines in the console)",
            lines.len() - FAILURE_LINES
        ));
    }
    s
}

/// Runs the guest tests on one kernel.
pub fn run_kernel(k: &Kernel, payload: &Payload) -> Result<KernelResult> {
    let started = Instant::now();
    let (tree, release) = unpack_kernel(k)?;
    let dir = kernels_dir().join(&release);
    fs::create_dir_all(&dir)?;
    let (initramfs, _) = build_initramfs(&dir, &tree, &release, payload)?;
    let share = dir.join("9p-share");
    let _ = fs::remove_dir_all(&share);
    fs::create_dir_all(&share)?;
    fs::set_permissions(&share, fs::Permissions::from_mode(0o777))?;
    let vmlinuz = tree.join("boot").join(format!("vmlinuz-{release}"));
    let console = dir.join("console.log");
    eprintln!(
        "xtask: booting {release} under QEMU (TCG); its console: {}",
        console.display()
    );
    let finished = boot(&vmlinuz, &initramfs, &share, &console)?;
    let text = String::from_utf8_lossy(&fs::read(&console).unwrap_or_default()).into_owned();
    let (mut totals, problems) = results(&text, finished);
    let failures = failure_output(&text);
    if !problems.is_empty() && totals.failed == 0 {
        totals.failed += 1;
    }
    let _ = fs::remove_file(&initramfs);
    Ok(KernelResult {
        kernel: release,
        totals,
        problems,
        console,
        failures,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_chosen_by_name() {
        assert!(select("host").map(|v| v.is_empty()).unwrap_or(false));
        assert_eq!(select("all").map(|v| v.len()).unwrap_or(0), KERNELS.len());
        let some = select("6.12").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            some.iter().map(|k| k.package).collect::<Vec<_>>(),
            ["linux-image-6.12-amd64"]
        );
        let e = select("6.1,5.4")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("\"5.4\""), "{e}");
    }

    #[test]
    fn a_console_gives_results_and_names_what_did_not_run() {
        let mut console =
            String::from("gotrace-guest: kernel 6.1.0-57-amd64\r\ngotrace-guest: 9p mounted\r\n");
        for (_, names) in GUEST_TESTS {
            for n in *names {
                console.push_str(&format!("test {n} ... ok\r\n"));
            }
        }
        console.push_str("test result: ok. 14 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\r\ngotrace-guest: done\r\n");
        let (t, problems) = results(&console, true);
        assert_eq!((t.passed, t.failed), (14, 0));
        assert!(problems.is_empty(), "{problems:?}");

        // A failed test, one that never ran, a guest that hung.
        let console = console
            .replacen(
                "launch_counts_exactly ... ok",
                "launch_counts_exactly ... FAILED",
                1,
            )
            .replacen("test a_child_never_reaped_is_named ... ok\r\n", "", 1)
            .replace("gotrace-guest: 9p mounted", "gotrace-guest: 9p NOT mounted")
            .replace("gotrace-guest: done\r\n", "");
        let (t, problems) = results(&console, false);
        assert_eq!(t.failed, 1, "the missing test counts as failed");
        let all = problems.join("\n");
        assert!(all.contains("launch_counts_exactly: FAILED"), "{all}");
        assert!(
            all.contains("signals::a_child_never_reaped_is_named: did not run"),
            "{all}"
        );
        assert!(all.contains("9p NOT mounted"), "{all}");
        assert!(all.contains("did not power off"), "{all}");
    }

    #[test]
    fn a_failed_tests_output_is_repeated_from_the_console() {
        let mut console = String::from(
            "test a ... FAILED\r\ntest b ... ok\r\n\r\nfailures:\r\n\r\n\
             ---- a stdout ----\r\nthread 'a' panicked at tests/x.rs:1:2:\r\nno slow reads\r\n\r\n",
        );
        console.push_str("---- c stdout ----\r\n");
        for i in 0..100 {
            console.push_str(&format!("line {i}\r\n"));
        }
        console.push_str(
            "\r\nfailures:\r\n    a\r\n    c\r\n\r\ntest result: FAILED. 1 passed; 2 failed\r\n",
        );
        let f = failure_output(&console);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            f[0],
            "---- a stdout ----\nthread 'a' panicked at tests/x.rs:1:2:\nno slow reads"
        );
        assert!(f[1].starts_with("---- c stdout ----\nline 0\n"), "{}", f[1]);
        assert!(f[1].ends_with("(61 more lines in the console)"), "{}", f[1]);
        assert!(failure_output("test a ... ok\r\ntest result: ok.").is_empty());
    }

    #[test]
    fn cpio_entries_are_newc_and_four_byte_aligned() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("a.cpio");
        let mut c = Cpio::create(&path).unwrap_or_else(|e| panic!("{e:#}"));
        c.file("/a/b/c.txt", 0o644, b"hello")
            .unwrap_or_else(|e| panic!("{e:#}"));
        c.finish().unwrap_or_else(|e| panic!("{e:#}"));
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(data.len() % 4, 0);
        // Parents first: a, a/b, then the file, then the trailer.
        let names: Vec<String> = {
            let mut out = Vec::new();
            let mut pos = 0;
            while pos + 110 <= data.len() {
                assert_eq!(&data[pos..pos + 6], b"070701");
                let field = |i: usize| {
                    let s = std::str::from_utf8(&data[pos + 6 + 8 * i..pos + 14 + 8 * i])
                        .unwrap_or("0");
                    usize::from_str_radix(s, 16).unwrap_or(0)
                };
                let (size, namesize) = (field(6), field(11));
                let name = String::from_utf8_lossy(&data[pos + 110..pos + 110 + namesize - 1])
                    .into_owned();
                pos += (110 + namesize).div_ceil(4) * 4;
                pos += size.div_ceil(4) * 4;
                out.push(name);
            }
            out
        };
        assert_eq!(names, ["a", "a/b", "a/b/c.txt", "TRAILER!!!"]);
    }
}
