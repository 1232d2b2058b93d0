//! `gotrace doctor` on real environments: a healthy Go module with the Go the xtask
//! installs, and environments with faults planted in them (a Windows `go` first on
//! PATH, a Go on a fixture Windows drive, GOOS=windows, a GOROOT that points nowhere,
//! the build cache and the project on a slow FUSE filesystem). `--build` traces a real
//! `go build` as root.
use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use gotrace_tests::{
    go_bin, gotrace_bin, scratch, slowfs::SlowFs, wait_with_timeout, workspace, QuotaCgroup, Run,
};
use serde_json::Value;

/// Doctor builds and runs a tiny program (the GOMAXPROCS probe); a cold build cache on
/// a loaded machine takes a while.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The directory holding the xtask's Go.
fn go_dir() -> PathBuf {
    go_bin().parent().expect("go has a directory").to_path_buf()
}

/// A small Go module in `dir`.
fn module(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("go.mod"),
        "module example.com/doctored\n\ngo 1.21\n",
    )
    .unwrap();
    std::fs::write(dir.join("main.go"), MAIN).unwrap();
}

const MAIN: &str = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n";

/// A clean environment for doctor: only what is given, plus a PATH and a HOME in the
/// scratch directory, and Go's directories set to places that exist.
struct Env {
    home: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(home: &Path) -> Env {
        std::fs::create_dir_all(home).unwrap();
        Env {
            home: home.to_path_buf(),
            vars: vec![
                (
                    "PATH".into(),
                    format!("{}:/usr/bin:/bin", go_dir().display()),
                ),
                ("HOME".into(), home.display().to_string()),
                // The workloads' warm build cache: the GOMAXPROCS probe builds fast.
                (
                    "GOCACHE".into(),
                    workspace().join("target/go-cache").display().to_string(),
                ),
                ("GOPATH".into(), home.join("go").display().to_string()),
            ],
        }
    }

    fn set(mut self, key: &str, value: impl Into<String>) -> Env {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    fn doctor(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(gotrace_bin());
        cmd.arg("doctor")
            .args(args)
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.home)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        wait_with_timeout(cmd.spawn().expect("spawn gotrace doctor"), TIMEOUT)
    }
}

/// Runs `doctor --json` and returns the run and the checks by id.
fn doctor_json(env: &Env, dir: &Path, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let run = env.doctor(&args);
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}\nstderr: {}",
            run.stdout, run.stderr
        )
    });
    (run, report)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().unwrap()
}

fn text(c: &Value) -> String {
    c.to_string()
}

/// A file named `go` that is a Windows program: a DOS header pointing at a PE header.
fn windows_go(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut pe = vec![0u8; 1024];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    pe[0x94..0x96].copy_from_slice(&240u16.to_le_bytes());
    pe[0x98..0x9a].copy_from_slice(&0x20bu16.to_le_bytes());
    let p = dir.join(name);
    std::fs::write(&p, pe).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_healthy_module_is_all_ok() {
    let root = scratch("doctor-healthy");
    let project = root.join("app");
    module(&project);
    let env = Env::new(&root.join("home"));
    let (run, report) = doctor_json(&env, &project, &[]);
    assert_eq!(run.code(), 0, "{report:#}\n{}", run.stderr);
    let has_quota = !text(check(&report, "cgroup")).contains("no CPU quota");
    for c in report["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let s = c["status"].as_str().unwrap();
        // A quota is the machine's business: doctor may describe it (info) and judge
        // GOMAXPROCS against it.
        if has_quota && matches!(id, "cgroup" | "gomaxprocs") {
            assert_ne!(s, "fail", "{c:#}");
            continue;
        }
        assert!(
            matches!(s, "ok" | "skip"),
            "{id} is {s} on a healthy module: {c:#}"
        );
    }
    // The Go was found and asked: its version and the probe's GOMAXPROCS are real.
    let version = gotrace_tests::go_version();
    assert!(
        text(check(&report, "go-binary")).contains(&version),
        "{report:#}"
    );
    assert!(
        text(check(&report, "gomaxprocs")).contains("GOMAXPROCS="),
        "{report:#}"
    );
    assert_eq!(status(&report, "wsl"), "skip");

    // The text report: one line per check and the tally.
    let run = env.doctor(&[project.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("gotrace doctor: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("0 failed, 0 warnings"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("ok ") || l.starts_with("skip ") || l.starts_with("info "))
            .count(),
        14,
        "{}",
        run.stdout
    );
}

#[test]
fn a_windows_go_first_on_path_fails_with_its_fix() {
    let root = scratch("doctor-windows-go");
    let project = root.join("app");
    module(&project);
    let winbin = root.join("winbin");
    windows_go(&winbin, "go");
    let env = Env::new(&root.join("home"));
    let path = format!("{}:{}:/usr/bin:/bin", winbin.display(), go_dir().display());
    let env = env.set("PATH", path);
    let (run, report) = doctor_json(&env, &project, &[]);
    assert_eq!(run.code(), 1, "{report:#}");
    expect(
        &report,
        "go-binary",
        "fail",
        "Windows program",
        "install Go for Linux",
    );
    // The Linux Go behind it is still asked: GOOS and GOROOT are judged.
    assert_eq!(status(&report, "goos"), "ok", "{report:#}");
    assert_eq!(status(&report, "goroot"), "ok", "{report:#}");
}

#[test]
fn a_go_on_a_windows_drive_before_the_linux_go_is_named() {
    let root = scratch("doctor-drive");
    let project = root.join("app");
    module(&project);
    // A fixture Windows drive: the machine's mounts plus WSL2's 9p mount of C: on a
    // directory of ours, holding a Windows go.exe.
    let drive = std::fs::canonicalize(&root).unwrap().join("c");
    let bin = drive.join("Program Files/Go/bin");
    windows_go(&bin, "go.exe");
    let mut mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.push_str(&format!(
        "9999 1 0:999 / {} rw,noatime - 9p C:\\134 rw,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000;symlinkroot=/mnt/,mmap,access=client,msize=262144,trans=virtio\n",
        drive.display().to_string().replace(' ', "\\040")
    ));
    let fixture = root.join("mountinfo");
    std::fs::write(&fixture, mountinfo).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", bin.display(), go_dir().display());
    let env = Env::new(&root.join("home")).set("PATH", path);
    let (run, report) = doctor_json(&env, &project, &["--mountinfo", fixture.to_str().unwrap()]);
    let order = check(&report, "path-order");
    assert_eq!(order["status"], "warn", "{order:#}");
    let details = text(order);
    assert!(
        details.contains("Program Files/Go/bin: go.exe"),
        "{order:#}"
    );
    assert!(
        order["fix"]
            .as_str()
            .unwrap()
            .contains("appendWindowsPath = false"),
        "{order:#}"
    );
    // The Linux Go is still the one that runs: go-binary is fine, and the run warns
    // without failing.
    assert_eq!(status(&report, "go-binary"), "ok", "{report:#}");
    assert_eq!(run.code(), 0, "{report:#}");
}

/// Plants one fault in the environment (`key=value`) and checks that doctor fails the
/// run, and the check `id` names it (`found`) with its fix (`fix`).
fn planted(name: &str, key: &str, value: &str, id: &str, found: &str, fix: &str) -> Value {
    let root = scratch(name);
    let project = root.join("app");
    module(&project);
    let env = Env::new(&root.join("home")).set(key, value);
    let (run, report) = doctor_json(&env, &project, &[]);
    assert_eq!(run.code(), 1, "{report:#}");
    expect(&report, id, "fail", found, fix);
    report
}

/// Asserts check `id`'s status, and that its summary and fix say what they must.
fn expect<'a>(report: &'a Value, id: &str, status: &str, found: &str, fix: &str) -> &'a Value {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{c:#}");
    assert!(c["summary"].as_str().unwrap().contains(found), "{c:#}");
    assert!(c["fix"].as_str().unwrap_or_default().contains(fix), "{c:#}");
    c
}

#[test]
fn goos_windows_fails_with_its_fix() {
    let report = planted(
        "doctor-goos",
        "GOOS",
        "windows",
        "goos",
        "GOOS=windows (from the environment)",
        "unset GOOS",
    );
    // The probe builds for this machine whatever GOOS says.
    assert_eq!(status(&report, "gomaxprocs"), "ok", "{report:#}");
}

#[test]
fn a_goroot_that_does_not_exist_fails_with_its_fix() {
    planted(
        "doctor-goroot",
        "GOROOT",
        "/nonexistent/go",
        "goroot",
        "/nonexistent/go does not exist",
        "unset GOROOT",
    );
}

#[test]
fn bad_proxy_settings_are_named() {
    let root = scratch("doctor-proxy");
    let project = root.join("app");
    module(&project);
    let env = Env::new(&root.join("home"))
        .set("GOPROXY", "off")
        .set("GO111MODULE", "off");
    let (run, report) = doctor_json(&env, &project, &[]);
    let c = check(&report, "proxy");
    assert_eq!(c["status"], "warn", "{c:#}");
    let s = c["summary"].as_str().unwrap();
    assert!(
        s.contains("GOPROXY=off") && s.contains("GO111MODULE=off"),
        "{c:#}"
    );
    assert_eq!(run.code(), 0, "warnings do not fail: {report:#}");
}

#[test]
fn a_missing_directory_is_a_one_line_error() {
    let env = Env::new(&scratch("doctor-missing").join("home"));
    let run = env.doctor(&["/nonexistent/project"]);
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("gotrace: cannot check /nonexistent/project"),
        "{}",
        run.stderr
    );
}

/// Files for a module on slowfs: go.mod, main.go and a few more sources to stat.
fn slow_module() -> Vec<(&'static str, Vec<u8>)> {
    let mut files = vec![
        ("go.mod", b"module example.com/slow\n\ngo 1.21\n".to_vec()),
        ("main.go", MAIN.as_bytes().to_vec()),
    ];
    for (name, body) in [
        ("a.go", "package main\n\nfunc a() int { return 1 }\n"),
        ("b.go", "package main\n\nfunc b() int { return 2 }\n"),
        ("c.go", "package main\n\nfunc c() int { return 3 }\n"),
    ] {
        files.push((name, body.as_bytes().to_vec()));
    }
    files
}

#[test]
fn the_cache_and_project_on_a_slow_filesystem_are_measured() {
    if !gotrace_tests::require_root("the_cache_and_project_on_a_slow_filesystem_are_measured") {
        return;
    }
    // Every stat and read there waits 2 ms: far past the local disk's microseconds.
    let fs = SlowFs::mount(&slow_module(), Duration::from_millis(2));
    let root = scratch("doctor-slowfs");
    let env = Env::new(&root.join("home")).set("GOCACHE", fs.path().display().to_string());
    let (run, report) = doctor_json(&env, fs.path(), &[]);
    assert_eq!(run.code(), 1, "{report:#}");
    let cache = check(&report, "gocache-fs");
    // Read-only, so it fails; and slow, measured.
    assert_eq!(cache["status"], "fail", "{cache:#}");
    assert!(text(cache).contains("not writable"), "{cache:#}");
    let project = check(&report, "project-fs");
    assert_eq!(project["status"], "warn", "{project:#}");
    let details = text(project);
    assert!(details.contains("on fuse ("), "{project:#}");
    let ratio: f64 = details
        .split("stat takes ")
        .nth(1)
        .and_then(|s| s.split('×').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no measured stat ratio: {project:#}"));
    // 2 ms against a local stat of a few µs; a loaded machine slows both.
    assert!(ratio >= 20.0, "{project:#}");
    assert!(
        project["fix"].as_str().unwrap().contains("Linux disk"),
        "{project:#}"
    );
    // Not a Windows drive: file watching still works through this machine.
    assert_eq!(status(&report, "inotify"), "info", "{report:#}");
    // The probe did not use the read-only cache, and still ran.
    assert_eq!(status(&report, "gomaxprocs"), "ok", "{report:#}");
}

#[test]
fn doctor_build_names_the_filesystem_of_the_sources() {
    if !gotrace_tests::require_root("doctor_build_names_the_filesystem_of_the_sources") {
        return;
    }
    // The sources on slowfs; the build cache on the local disk, fresh, so the compiler
    // reads every source.
    // 10 ms a call: the ~250 calls a build makes there wait well over the second past
    // which doctor calls a filesystem slow, however loaded the machine.
    let fs = SlowFs::mount(&slow_module(), Duration::from_millis(10));
    let root = scratch("doctor-build");
    let cache = root.join("cache");
    let env = Env::new(&root.join("home")).set("GOCACHE", cache.display().to_string());
    let (run, report) = doctor_json(&env, fs.path(), &["--build"]);
    let build = check(&report, "build");
    let all = text(build);
    assert!(
        build["summary"]
            .as_str()
            .unwrap()
            .starts_with("go build ./... succeeded"),
        "{build:#}\n{}",
        run.stderr
    );
    let mount = fs.path().display().to_string();
    assert!(all.contains(&format!("fs:fuse {mount}")), "{build:#}");
    assert!(all.contains("where the time went"), "{build:#}");
    assert_eq!(build["status"], "warn", "{build:#}");
    assert!(
        build["fix"].as_str().unwrap().contains("Linux disk"),
        "{build:#}"
    );
    // Slow is a warning, not a failure.
    assert_eq!(run.code(), 0, "{report:#}");
}

#[test]
fn a_quota_smaller_than_gomaxprocs_is_named_with_the_number_that_fits() {
    if !gotrace_tests::require_root(
        "a_quota_smaller_than_gomaxprocs_is_named_with_the_number_that_fits",
    ) {
        return;
    }
    // One CPU of quota; the Go runtime never picks fewer than 2 Ps by itself.
    let cg = QuotaCgroup::new("doctor", 100_000, 100_000);
    let root = scratch("doctor-quota");
    let project = root.join("app");
    module(&project);
    let env = Env::new(&root.join("home"));
    // doctor starts inside the cgroup, as a shell there would.
    let in_cgroup = |env: &Env| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
                cg.dir().display()
            ))
            .arg(gotrace_bin())
            .args(["doctor", "--json", project.to_str().unwrap()])
            .env_clear()
            .envs(env.vars.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let run = wait_with_timeout(cmd.spawn().expect("spawn sh"), TIMEOUT);
        let report: Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", run.stdout, run.stderr));
        report
    };
    let report = in_cgroup(&env);
    let cgroup = check(&report, "cgroup");
    assert!(
        cgroup["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{}: CPU quota 1.00 CPUs", cg.path())),
        "{cgroup:#}"
    );
    let g = check(&report, "gomaxprocs");
    let picked: u32 = g["summary"]
        .as_str()
        .unwrap()
        .split("GOMAXPROCS=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no GOMAXPROCS in {g:#}"));
    assert!(picked >= 2, "the runtime picks at least 2: {g:#}");
    assert_eq!(g["status"], "warn", "{g:#}");
    assert!(
        g["fix"].as_str().unwrap().contains("export GOMAXPROCS=1"),
        "{g:#}"
    );
    // The project says go 1.21: its programs ignore the quota whatever the toolchain.
    assert!(text(g).contains("go.mod says go1.21"), "{g:#}");

    // Following the fix makes the check pass.
    let report = in_cgroup(&env.set("GOMAXPROCS", "1"));
    let g = check(&report, "gomaxprocs");
    assert_eq!(g["status"], "ok", "{g:#}");
    assert!(
        g["summary"]
            .as_str()
            .unwrap()
            .contains("GOMAXPROCS=1 (GOMAXPROCS=1 in the environment)"),
        "{g:#}"
    );
}

#[test]
fn build_without_root_is_a_one_line_error() {
    if !gotrace_tests::require_root("build_without_root_is_a_one_line_error") {
        return;
    }
    // As nobody: doctor itself needs no root, --build does, and says so before checking.
    let root = scratch("doctor-noroot");
    let project = root.join("app");
    module(&project);
    let mut perms = std::fs::metadata(&root).unwrap().permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(&root, perms).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(gotrace_bin())
        .args(["doctor", "--build"])
        .arg(&project)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = wait_with_timeout(cmd.spawn().expect("setpriv"), TIMEOUT);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("needs root"), "{}", run.stderr);
}
