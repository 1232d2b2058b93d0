//! What doctor reads off the machine before judging it: the environment, the `go` (and
//! `go.exe`) on every PATH entry and what kind of file each is, `go env`, the filesystems
//! of the Go directories with their measured cost, the cgroup limits, the GOMAXPROCS a Go
//! program started here picks, the C compiler, WSL's settings.
//!
//! Everything here is bounded: files are read with a size limit, every command runs with
//! a deadline and a cap on its output, in its own process group (killed whole on
//! timeout), as the invoking user when doctor runs as root through sudo.
use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read as _,
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::Result;

use super::{fscost, wsl};
use crate::context::{
    cgroup::{self, CgroupInfo},
    mounts::{FsKind, MountTable},
    procfs::read_bounded,
};

/// What a file found on PATH is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinKind {
    /// An ELF executable for this machine's architecture.
    Native,
    /// An ELF for another architecture (`machine`: Go's GOARCH name, or the e_machine).
    ForeignElf { machine: String },
    /// A Windows PE executable (`MZ`).
    WindowsPe,
    /// A `#!` script; `interpreter` is the `#!` line's command.
    Script { interpreter: String },
    /// Anything else (empty, unreadable, another format).
    Unknown { why: String },
}

/// A file found on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    /// As found: `<PATH entry>/<name>`.
    pub path: PathBuf,
    /// With symlinks resolved.
    pub resolved: PathBuf,
    pub kind: BinKind,
    /// The filesystem it is on.
    pub fs: Place,
    /// The Go version it was built with (its `.go.buildinfo`), for a Go binary.
    pub go_version: Option<String>,
}

impl Binary {
    /// Whether doctor may run it to ask it things: a native ELF or a script (a wrapper
    /// such as a version manager's shim). A Windows or foreign binary is never run.
    pub fn runnable(&self) -> bool {
        matches!(self.kind, BinKind::Native | BinKind::Script { .. })
    }
}

/// Where a path lives: the mount that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub mount_point: PathBuf,
    /// `drvfs`, `9p`, `fuse`, `ext4`, ... (the tracer's `fs:<kind>` labels).
    pub kind: String,
    /// A Windows drive (drvfs, 9p with `aname=drvfs`, virtiofs at /mnt/<letter>).
    pub windows_drive: bool,
    /// A filesystem whose every operation may cross a VM or network boundary: a Windows
    /// drive, 9p, virtiofs, FUSE, NFS, CIFS.
    pub remote: bool,
}

impl Place {
    pub fn describe(&self) -> String {
        format!("{} ({})", self.kind, self.mount_point.display())
    }
}

/// One PATH entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    pub dir: PathBuf,
    pub place: Option<Place>,
    /// `go` in it, if any.
    pub go: Option<Binary>,
    /// `go.exe` in it, if any.
    pub go_exe: Option<Binary>,
}

/// A Go directory (GOPATH, GOCACHE, GOMODCACHE, the project) and its filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct DirFacts {
    pub path: PathBuf,
    /// Where the path came from (`go env`, the environment, Go's default).
    pub source: String,
    pub exists: bool,
    /// The nearest existing ancestor's place (the directory itself when it exists).
    pub place: Option<Place>,
    pub writable: bool,
    /// The measured cost of stat and small reads there against the local disk; `None`
    /// when not measured (a local filesystem).
    pub cost: Option<Result<fscost::Comparison, String>>,
}

/// What a tiny Go program started here reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoMaxProcsProbe {
    pub gomaxprocs: u32,
    pub num_cpu: u32,
    /// The language version it was built at: the project's `go` line (which decides
    /// GODEBUG defaults such as containermaxprocs), when the toolchain is new enough.
    pub language: Option<String>,
}

/// The C toolchain cgo would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcFacts {
    /// `go env CC` (or `gcc`).
    pub command: String,
    pub found: Option<Binary>,
    /// `CC -dumpmachine`: the target triple.
    pub target: Option<String>,
}

/// WSL's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WslFacts {
    pub flavour: wsl::Wsl,
    pub kernel_release: String,
    /// The binfmt_misc handler that runs Windows programs is registered.
    pub interop: bool,
    pub conf: Option<wsl::WslConf>,
    /// PID 1's command name (`systemd`, `init`).
    pub pid1: Option<String>,
}

/// Everything doctor knows.
#[derive(Debug, Clone)]
pub struct Facts {
    pub project: PathBuf,
    /// The `go` line of the project's go.mod (`1.21`, `1.24.0`).
    pub project_go: Option<String>,
    /// The environment variables that matter (GO*, CGO_*, CC, PATH, HOME).
    pub env: BTreeMap<String, String>,
    pub path: Vec<PathEntry>,
    /// The `go` the shell runs: the first on PATH.
    pub go: Option<Binary>,
    /// The Go doctor asked (`go env`): the first runnable `go` on PATH.
    pub go_used: Option<Binary>,
    /// When `go_used` is a script: `$GOROOT/bin/go`, the binary it ends up running.
    pub toolchain: Option<Binary>,
    /// `go env -json`, or why it could not be read.
    pub go_env: Result<BTreeMap<String, String>, String>,
    /// `go env -changed` (Go 1.23+): the settings that differ from Go's defaults.
    pub go_env_changed: Option<BTreeSet<String>>,
    /// GOPATH, GOCACHE, GOMODCACHE, the project; keyed by check id.
    pub dirs: BTreeMap<&'static str, DirFacts>,
    /// This machine's GOARCH.
    pub host_arch: &'static str,
    pub cgroup: Result<CgroupInfo, String>,
    pub online_cpus: usize,
    pub gomaxprocs: Result<GoMaxProcsProbe, String>,
    pub cc: Option<CcFacts>,
    pub wsl: WslFacts,
    /// Doctor runs as root through sudo: the environment checked is the one sudo passed.
    pub via_sudo: bool,
    /// The inotify watch limit (fs.inotify.max_user_watches).
    pub inotify_max_user_watches: Option<u64>,
}

/// The environment variables doctor looks at.
const ENV_KEYS: &[&str] = &[
    "PATH",
    "HOME",
    "CC",
    "GOOS",
    "GOARCH",
    "GOROOT",
    "GOPATH",
    "GOCACHE",
    "GOMODCACHE",
    "GOENV",
    "GOFLAGS",
    "GOPROXY",
    "GONOSUMDB",
    "GONOPROXY",
    "GOPRIVATE",
    "GOSUMDB",
    "GO111MODULE",
    "GOTOOLCHAIN",
    "GOMAXPROCS",
    "CGO_ENABLED",
    "CGO_CFLAGS",
    "CGO_LDFLAGS",
    "XDG_CACHE_HOME",
];

/// How long `go env` may take (it reads go.env and the module's go.mod).
const GO_ENV_TIMEOUT: Duration = Duration::from_secs(30);
/// How long building and running the GOMAXPROCS probe may take (a cold build cache
/// compiles the runtime package first).
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long `CC -dumpmachine` may take.
const CC_TIMEOUT: Duration = Duration::from_secs(10);
/// Files doctor reads whole (wsl.conf, a go.env): far larger than any real one.
const SMALL_FILE_LIMIT: u64 = 256 << 10;

/// Gathers the facts for a project directory (already canonical).
pub fn gather(project: &Path, mountinfo: Option<&Path>) -> Result<Facts> {
    let mounts = match mountinfo {
        Some(p) => {
            let text = read_bounded(p, crate::context::procfs::KERNEL_FILE_LIMIT)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            MountTable::from_mountinfo(&String::from_utf8_lossy(&text))
        }
        None => MountTable::read_live(std::process::id())?,
    };
    let env: BTreeMap<String, String> = ENV_KEYS
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    let path = path_entries(env.get("PATH").map(String::as_str).unwrap_or(""), &mounts);
    let go = path.iter().find_map(|e| e.go.clone());
    let go_used = path
        .iter()
        .filter_map(|e| e.go.as_ref())
        .find(|b| b.runnable())
        .cloned();
    let go_env = match &go_used {
        Some(g) => go_env(&g.path, project),
        None => Err("no runnable go on PATH".to_string()),
    };
    let go_env_changed = match (&go_used, &go_env) {
        (Some(g), Ok(vars)) if go_minor(vars.get("GOVERSION")).is_some_and(|m| m >= 23) => {
            go_env_changed(&g.path, project)
        }
        _ => None,
    };
    let toolchain = match (&go_used, &go_env) {
        (Some(g), Ok(vars)) if matches!(g.kind, BinKind::Script { .. }) => vars
            .get("GOROOT")
            .map(|r| Path::new(r).join("bin/go"))
            .filter(|p| p.exists())
            .map(|p| binary(&p, &mounts)),
        _ => None,
    };
    let dirs = go_dirs(project, &env, go_env.as_ref().ok(), &mounts);
    let self_pid = std::process::id();
    let cgroup = cgroup::read_cgroup_live(self_pid).map_err(|e| format!("{e:#}"));
    let project_go = read_small(&project.join("go.mod")).and_then(|m| go_directive(&m));
    let toolchain_minor = go_env
        .as_ref()
        .ok()
        .and_then(|v| go_minor(v.get("GOVERSION")));
    // The project's language version, unless the toolchain is older than it (it would
    // refuse to build, and GOTOOLCHAIN=local forbids fetching another).
    let language = project_go
        .clone()
        .filter(|v| go_minor(Some(&format!("go{v}"))) <= toolchain_minor);
    let gomaxprocs = match &go_used {
        Some(g) => gomaxprocs_probe(&g.path, &dirs, language),
        None => Err("no runnable go on PATH".to_string()),
    };
    let cc = cc_facts(&env, go_env.as_ref().ok(), &path, &mounts);
    let release = crate::context::kernel_release();
    let wsl = WslFacts {
        flavour: wsl::flavour(&release),
        interop: ["WSLInterop", "WSLInterop-late"]
            .iter()
            .any(|h| Path::new("/proc/sys/fs/binfmt_misc").join(h).exists()),
        conf: read_small(Path::new("/etc/wsl.conf")).map(|t| wsl::parse_wsl_conf(&t)),
        pid1: read_small(Path::new("/proc/1/comm")).map(|s| s.trim().to_string()),
        kernel_release: release,
    };
    Ok(Facts {
        project: project.to_path_buf(),
        project_go,
        env,
        path,
        go,
        go_used,
        toolchain,
        go_env,
        go_env_changed,
        dirs,
        host_arch: host_goarch(),
        cgroup,
        online_cpus: cgroup::online_cpus(),
        gomaxprocs,
        cc,
        wsl,
        via_sudo: matches!(crate::tracee::launch::invoking_user(), Ok(Some(_))),
        inotify_max_user_watches: read_small(Path::new("/proc/sys/fs/inotify/max_user_watches"))
            .and_then(|s| s.trim().parse().ok()),
    })
}

/// A small file's text, or None.
fn read_small(path: &Path) -> Option<String> {
    read_bounded(path, SMALL_FILE_LIMIT)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The version of a go.mod's `go` directive (`go 1.21` -> `1.21`).
pub fn go_directive(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|l| {
        let v = l.split("//").next()?.trim().strip_prefix("go")?;
        // `go 1.21`, not `godebug ...`.
        let v = v.strip_prefix([' ', '\t'])?.trim();
        (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then(|| v.to_string())
    })
}

/// The minor version of `go1.N[.x]`.
pub fn go_minor(version: Option<&String>) -> Option<u32> {
    let v = version?.strip_prefix("go1.")?;
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// This machine's architecture as Go names it.
pub fn host_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Go's GOARCH for an ELF e_machine.
fn goarch_of_machine(machine: u16) -> Option<&'static str> {
    use object::elf;
    Some(match machine {
        elf::EM_X86_64 => "amd64",
        elf::EM_AARCH64 => "arm64",
        elf::EM_386 => "386",
        elf::EM_ARM => "arm",
        elf::EM_RISCV => "riscv64",
        elf::EM_PPC64 => "ppc64le",
        elf::EM_S390 => "s390x",
        elf::EM_LOONGARCH => "loong64",
        _ => return None,
    })
}

/// What kind of executable `head` (a file's first bytes) starts.
pub fn classify(head: &[u8]) -> BinKind {
    use object::{read::elf::FileHeader as _, FileKind};
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        return BinKind::Script {
            interpreter: String::from_utf8_lossy(line).trim().to_string(),
        };
    }
    let machine = match FileKind::parse(head) {
        Ok(FileKind::Elf64) => object::elf::FileHeader64::<object::Endianness>::parse(head)
            .ok()
            .and_then(|h| Some(h.e_machine(h.endian().ok()?))),
        Ok(FileKind::Elf32) => object::elf::FileHeader32::<object::Endianness>::parse(head)
            .ok()
            .and_then(|h| Some(h.e_machine(h.endian().ok()?))),
        Ok(FileKind::Pe32 | FileKind::Pe64) => return BinKind::WindowsPe,
        // A DOS stub whose PE header lies past what was read is still a Windows program.
        _ if head.starts_with(b"MZ") => return BinKind::WindowsPe,
        Ok(other) => {
            return BinKind::Unknown {
                why: format!("{other:?}"),
            }
        }
        Err(_) if head.is_empty() => {
            return BinKind::Unknown {
                why: "empty file".into(),
            }
        }
        Err(_) => {
            return BinKind::Unknown {
                why: "not an executable format".into(),
            }
        }
    };
    let Some(machine) = machine else {
        return BinKind::Unknown {
            why: "malformed ELF header".into(),
        };
    };
    match goarch_of_machine(machine) {
        Some(arch) if arch == host_goarch() => BinKind::Native,
        Some(arch) => BinKind::ForeignElf {
            machine: arch.to_string(),
        },
        None => BinKind::ForeignElf {
            machine: format!("e_machine {machine}"),
        },
    }
}

/// The first 4 KiB of a file (enough for an ELF header and a PE's NT headers), read
/// non-blocking and refused unless it is a regular file.
fn head_of(path: &Path) -> Result<Vec<u8>, String> {
    let mut head = Vec::with_capacity(4096);
    crate::context::procfs::open_regular(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    Ok(head)
}

/// Where `path` lives: its nearest existing ancestor's mount.
pub fn place_of(path: &Path, mounts: &MountTable) -> Option<Place> {
    let resolved = path
        .ancestors()
        .find_map(|p| std::fs::canonicalize(p).ok())?;
    place_in(mounts, &resolved)
}

/// The place of a resolved path in a mount table.
pub fn place_in(mounts: &MountTable, resolved: &Path) -> Option<Place> {
    let m = mounts.by_path(resolved)?;
    let kind = m.kind();
    Some(Place {
        mount_point: m.mount_point.clone(),
        kind: kind.label(),
        windows_drive: kind == FsKind::Drvfs,
        remote: kind.is_remote(),
    })
}

/// Describes an executable file found at `path`.
pub fn binary(path: &Path, mounts: &MountTable) -> Binary {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let kind = match head_of(&resolved) {
        Ok(head) => classify(&head),
        Err(why) => BinKind::Unknown { why },
    };
    let go_version = matches!(kind, BinKind::Native)
        .then(|| crate::tracee::go_version(&resolved))
        .flatten();
    Binary {
        fs: place_of(&resolved, mounts).unwrap_or(Place {
            mount_point: PathBuf::from("?"),
            kind: "unknown".into(),
            windows_drive: false,
            remote: false,
        }),
        path: path.to_path_buf(),
        resolved,
        kind,
        go_version,
    }
}

/// An executable regular file (or a symlink to one) at `path`.
fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Every PATH entry with its place and the `go`/`go.exe` in it.
pub fn path_entries(path_var: &str, mounts: &MountTable) -> Vec<PathEntry> {
    path_var
        .split(':')
        // An empty entry means the current directory, as in the shell.
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| {
            let dir = PathBuf::from(d);
            let find = |name: &str| {
                let p = dir.join(name);
                executable(&p).then(|| binary(&p, mounts))
            };
            PathEntry {
                place: place_of(&dir, mounts).filter(|_| dir.exists()),
                go: find("go"),
                go_exe: find("go.exe"),
                dir,
            }
        })
        .collect()
}

/// The first runnable `name` on PATH (as the shell finds it).
fn which(name: &str, path: &[PathEntry], mounts: &MountTable) -> Option<Binary> {
    if name.contains('/') {
        let p = Path::new(name);
        return executable(p).then(|| binary(p, mounts));
    }
    path.iter()
        .map(|e| e.dir.join(name))
        .find(|p| executable(p))
        .map(|p| binary(&p, mounts))
}

/// A finished command's status and (capped) output.
#[derive(Debug)]
pub struct Ran {
    /// `None` when it was killed at its deadline.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Why it did not succeed, in one line.
    pub fn failure(&self, what: &str, timeout: Duration) -> String {
        match self.status {
            None => format!("{what} did not finish in {} s", timeout.as_secs()),
            Some(s) => {
                let err = String::from_utf8_lossy(&self.stderr);
                let first = err.lines().map(str::trim).find(|l| !l.is_empty());
                match first {
                    Some(line) => format!("{what} failed: {line}"),
                    None => format!("{what} failed ({s})"),
                }
            }
        }
    }
}

/// Most bytes kept of a command's stdout and stderr.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// Runs `cmd` with a deadline: stdin empty, output captured up to [`OUTPUT_LIMIT`], in
/// its own process group, which is killed whole at the deadline. As root through sudo,
/// it runs as the invoking user.
pub fn run_bounded(cmd: Command, timeout: Duration) -> std::io::Result<Ran> {
    run_bounded_as(cmd, timeout, true)
}

/// [`run_bounded`], keeping doctor's own user when `as_invoking_user` is false.
pub fn run_bounded_as(
    mut cmd: Command,
    timeout: Duration,
    as_invoking_user: bool,
) -> std::io::Result<Ran> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if as_invoking_user {
        if let Ok(Some(user)) = crate::tracee::launch::invoking_user() {
            cmd.uid(user.uid).gid(user.gid);
        }
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let capture = |r: Option<Box<dyn std::io::Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(r) = r {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.take(OUTPUT_LIMIT).read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        rx
    };
    let out = capture(child.stdout.take().map(|s| Box::new(s) as _));
    let err = capture(child.stderr.take().map(|s| Box::new(s) as _));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = match done_rx.recv_timeout(timeout) {
        Ok(status) => Some(status?),
        Err(_) => {
            // The process group the child leads (process_group(0) above).
            if let Some(group) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = done_rx.recv();
            None
        }
    };
    // A grandchild outside the group may still hold a pipe open: do not wait for it.
    let grace = Duration::from_secs(2);
    Ok(Ran {
        status,
        stdout: out.recv_timeout(grace).unwrap_or_default(),
        stderr: err.recv_timeout(grace).unwrap_or_default(),
    })
}

/// A `go` command with the settings doctor always adds: no toolchain download
/// (GOTOOLCHAIN=local: doctor makes no network calls).
fn go_command(go: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(go);
    cmd.current_dir(dir).env("GOTOOLCHAIN", "local");
    cmd
}

/// `go env -json` as a map.
fn go_env(go: &Path, dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = go_command(go, dir);
    cmd.args(["env", "-json"]);
    let ran = run_bounded(cmd, GO_ENV_TIMEOUT).map_err(|e| format!("cannot run go env: {e}"))?;
    if !ran.ok() {
        return Err(ran.failure("go env", GO_ENV_TIMEOUT));
    }
    serde_json::from_slice(&ran.stdout).map_err(|e| format!("go env -json: {e}"))
}

/// `go env -changed -json`: the names of the settings that differ from the defaults.
fn go_env_changed(go: &Path, dir: &Path) -> Option<BTreeSet<String>> {
    let mut cmd = go_command(go, dir);
    cmd.args(["env", "-changed", "-json"]);
    let ran = run_bounded(cmd, GO_ENV_TIMEOUT).ok().filter(Ran::ok)?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&ran.stdout).ok()?;
    let mut keys: BTreeSet<String> = map.into_keys().collect();
    // doctor itself sets GOTOOLCHAIN=local for its own go commands.
    keys.remove("GOTOOLCHAIN");
    Some(keys)
}

/// GOPATH, GOCACHE, GOMODCACHE and the project, each with its filesystem, whether it is
/// writable, and, on a remote filesystem, its measured cost.
fn go_dirs(
    project: &Path,
    env: &BTreeMap<String, String>,
    go_env: Option<&BTreeMap<String, String>>,
    mounts: &MountTable,
) -> BTreeMap<&'static str, DirFacts> {
    let home = env.get("HOME").map(PathBuf::from);
    // Go's own defaults, for when `go env` cannot be asked.
    let default = |key: &str| -> Option<PathBuf> {
        let gopath = || home.as_ref().map(|h| h.join("go"));
        match key {
            "GOPATH" => gopath(),
            "GOMODCACHE" => env
                .get("GOPATH")
                .and_then(|p| p.split(':').next().map(PathBuf::from))
                .or_else(gopath)
                .map(|p| p.join("pkg/mod")),
            "GOCACHE" => env
                .get("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".cache")))
                .map(|c| c.join("go-build")),
            _ => None,
        }
    };
    let lookup = |key: &str| -> Option<(PathBuf, String)> {
        if let Some(v) = go_env.and_then(|g| g.get(key)).filter(|v| !v.is_empty()) {
            return Some((first_list_entry(v), "go env".into()));
        }
        if let Some(v) = env.get(key).filter(|v| !v.is_empty()) {
            return Some((first_list_entry(v), "environment".into()));
        }
        default(key).map(|p| (p, "Go's default".into()))
    };
    let mut dirs = BTreeMap::new();
    let mut reference: Option<fscost::Reference> = None;
    for (id, key) in [
        ("gopath", "GOPATH"),
        ("gocache-fs", "GOCACHE"),
        ("gomodcache-fs", "GOMODCACHE"),
        ("project-fs", ""),
    ] {
        let found = if key.is_empty() {
            Some((project.to_path_buf(), "the directory checked".into()))
        } else {
            lookup(key)
        };
        let Some((path, source)) = found else {
            continue;
        };
        let exists = path.is_dir();
        let place = place_of(&path, mounts);
        let writable = writable(&path);
        let cost = place.as_ref().filter(|p| p.remote).map(|_| {
            let reference = reference.get_or_insert_with(|| fscost::Reference::pick(mounts));
            let measured = if exists {
                path.clone()
            } else {
                path.ancestors()
                    .find(|p| p.is_dir())
                    .unwrap_or(&path)
                    .to_path_buf()
            };
            fscost::compare(&measured, reference)
        });
        dirs.insert(
            id,
            DirFacts {
                path,
                source,
                exists,
                place,
                writable,
                cost,
            },
        );
    }
    dirs
}

/// GOPATH may be a list; Go uses its first entry for downloads and installs.
fn first_list_entry(v: &str) -> PathBuf {
    PathBuf::from(v.split(':').next().unwrap_or(v))
}

/// Whether the directory (or, when it does not exist yet, its nearest existing
/// ancestor, where Go would create it) is writable by the user doctor checks for.
fn writable(path: &Path) -> bool {
    let Some(existing) = path.ancestors().find(|p| p.exists()) else {
        return false;
    };
    // access() answers for the real uid: the user who runs doctor. A read-only mount
    // says no even to root.
    rustix::fs::access(existing, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Builds and runs a program that prints the GOMAXPROCS and NumCPU the Go runtime picks
/// here, with the user's GOMAXPROCS and GODEBUG (which change it) and nothing else that
/// could make it build for another machine.
fn gomaxprocs_probe(
    go: &Path,
    dirs: &BTreeMap<&'static str, DirFacts>,
    language: Option<String>,
) -> Result<GoMaxProcsProbe, String> {
    const PROGRAM: &str = "package main\n\nimport \"runtime\"\n\nfunc main() {\n\tprintln(\"gomaxprocs\", runtime.GOMAXPROCS(0), runtime.NumCPU())\n}\n";
    let tmp = ScratchDir::new().map_err(|e| format!("cannot make a scratch directory: {e}"))?;
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    write("main.go", PROGRAM)?;
    if let Some(v) = &language {
        write(
            "go.mod",
            &format!("module gotrace.doctor/probe\n\ngo {v}\n"),
        )?;
    }
    tmp.hand_to_invoking_user();
    let mut cmd = go_command(go, tmp.path());
    cmd.args(["run", "main.go"])
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .env("GOWORK", "off")
        .env_remove("GOOS")
        .env_remove("GOARCH");
    // The user's build cache, unless it is not writable or slow: then a fresh one.
    let cache_usable = dirs
        .get("gocache-fs")
        .is_some_and(|d| d.writable && d.place.as_ref().is_some_and(|p| !p.remote));
    if !cache_usable {
        cmd.env("GOCACHE", tmp.path().join("cache"));
    }
    let ran = run_bounded(cmd, PROBE_TIMEOUT).map_err(|e| format!("cannot run go run: {e}"))?;
    if !ran.ok() {
        return Err(ran.failure("go run (the GOMAXPROCS probe)", PROBE_TIMEOUT));
    }
    // println writes to stderr.
    let text = String::from_utf8_lossy(&ran.stderr);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("gomaxprocs "))
        .ok_or_else(|| format!("the GOMAXPROCS probe printed {:?}", text.trim()))?;
    let mut nums = line.split_whitespace().map(str::parse::<u32>);
    match (nums.next(), nums.next()) {
        (Some(Ok(gomaxprocs)), Some(Ok(num_cpu))) => Ok(GoMaxProcsProbe {
            gomaxprocs,
            num_cpu,
            language,
        }),
        _ => Err(format!("the GOMAXPROCS probe printed {line:?}")),
    }
}

/// A private temporary directory, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> std::io::Result<ScratchDir> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = std::env::temp_dir();
        for n in 0..100u32 {
            let p = base.join(format!("gotrace-doctor-{}-{n}", std::process::id()));
            // create, not create_all: an existing path (planted or stale) is never used.
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => return Ok(ScratchDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free name in the temp directory"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// As root through sudo, commands run as the invoking user: give them the directory
    /// and what is in it.
    fn hand_to_invoking_user(&self) {
        if let Ok(Some(user)) = crate::tracee::launch::invoking_user() {
            for p in std::iter::once(self.0.clone()).chain(
                std::fs::read_dir(&self.0)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            ) {
                let _ = std::os::unix::fs::lchown(&p, Some(user.uid), Some(user.gid));
            }
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The C compiler cgo would run, and what it targets.
fn cc_facts(
    env: &BTreeMap<String, String>,
    go_env: Option<&BTreeMap<String, String>>,
    path: &[PathEntry],
    mounts: &MountTable,
) -> Option<CcFacts> {
    let command = go_env
        .and_then(|g| g.get("CC"))
        .or_else(|| env.get("CC"))
        .filter(|c| !c.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "gcc".to_string());
    let program = command.split_whitespace().next()?.to_string();
    let found = which(&program, path, mounts);
    let target = found.as_ref().filter(|b| b.runnable()).and_then(|b| {
        let mut cmd = Command::new(&b.path);
        cmd.arg("-dumpmachine");
        let ran = run_bounded(cmd, CC_TIMEOUT).ok().filter(Ran::ok)?;
        let t = String::from_utf8_lossy(&ran.stdout).trim().to_string();
        (!t.is_empty()).then_some(t)
    });
    Some(CcFacts {
        command,
        found,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf64(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16] = 2; // ET_EXEC
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20] = 1;
        h[52] = 64; // e_ehsize
        h
    }

    /// A minimal PE: DOS header with e_lfanew at 0x3c, then "PE\0\0" and a COFF header
    /// for AMD64 with an optional header of the PE32+ kind.
    fn pe64() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        b[0x94..0x96].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader
        b[0x98..0x9a].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+ magic
        b
    }

    #[test]
    fn executables_are_told_apart_by_their_headers() {
        let native = match host_goarch() {
            "arm64" => object::elf::EM_AARCH64,
            _ => object::elf::EM_X86_64,
        };
        let foreign = if native == object::elf::EM_X86_64 {
            object::elf::EM_AARCH64
        } else {
            object::elf::EM_X86_64
        };
        assert_eq!(classify(&elf64(native)), BinKind::Native);
        assert!(matches!(
            classify(&elf64(foreign)),
            BinKind::ForeignElf { .. }
        ));
        assert_eq!(classify(&pe64()), BinKind::WindowsPe);
        assert_eq!(classify(b"MZ\x90\0"), BinKind::WindowsPe, "a truncated PE");
        assert_eq!(
            classify(b"#!/usr/bin/env python3\nimport go\n"),
            BinKind::Script {
                interpreter: "/usr/bin/env python3".into()
            }
        );
        assert!(matches!(classify(b""), BinKind::Unknown { .. }));
        assert!(matches!(classify(b"hello"), BinKind::Unknown { .. }));
    }

    /// Mount tables as WSL shows them (abridged from real ones).
    const WSL1: &str = "2 0 0:2 / / rw,noatime - lxfs rootfs rw\n\
        12 2 0:26 / /mnt/c rw,noatime shared:7 - drvfs C:\\134 rw,case=off\n";
    const WSL2_9P: &str = "87 82 8:32 / / rw,relatime - ext4 /dev/sdc rw,discard,errors=remount-ro\n\
        98 87 0:58 / /mnt/c rw,noatime - 9p C:\\134 rw,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000;symlinkroot=/mnt/,mmap,access=client,msize=262144,trans=virtio\n\
        120 87 0:70 / /mnt/wslg/distro ro,relatime - 9p none ro,aname=mnt/wslg/distro,mmap,trans=fd,rfd=4,wfd=4\n";
    const WSL2_VIRTIOFS: &str = "87 82 8:32 / / rw,relatime - ext4 /dev/sdc rw\n\
        130 87 0:80 / /mnt/d rw,relatime - virtiofs drvfsD rw\n";

    #[test]
    fn windows_drives_are_found_in_every_wsl_mount_table() {
        for (name, table, drive, kind) in [
            ("WSL1", WSL1, "/mnt/c/Users/u/go", "drvfs"),
            ("WSL2 9p", WSL2_9P, "/mnt/c/Users/u/go", "drvfs"),
            ("WSL2 virtiofs", WSL2_VIRTIOFS, "/mnt/d/src/app", "drvfs"),
        ] {
            let mounts = MountTable::from_mountinfo(table);
            let p = place_in(&mounts, Path::new(drive)).unwrap();
            assert!(p.windows_drive && p.remote, "{name}: {p:?}");
            assert_eq!(p.kind, kind, "{name}");
            let home = place_in(&mounts, Path::new("/home/u/src")).unwrap();
            assert!(!home.windows_drive && !home.remote, "{name}: {home:?}");
        }
        // WSLg's own 9p share is remote, but not a Windows drive.
        let mounts = MountTable::from_mountinfo(WSL2_9P);
        let wslg = place_in(&mounts, Path::new("/mnt/wslg/distro/x")).unwrap();
        assert!(wslg.remote && !wslg.windows_drive, "{wslg:?}");
        assert_eq!(wslg.kind, "9p");
    }

    #[test]
    fn the_go_directive_is_read_from_go_mod() {
        let m = "// comment\nmodule example.com/x\n\ngodebug default=go1.21\ngo 1.24.0 // pinned\ntoolchain go1.25.1\n";
        assert_eq!(go_directive(m).as_deref(), Some("1.24.0"));
        assert_eq!(go_directive("module x\n"), None);
        assert_eq!(go_directive("module x\ngo\n"), None);
    }

    #[test]
    fn go_versions_give_their_minor() {
        let v = |s: &str| go_minor(Some(&s.to_string()));
        assert_eq!(v("go1.22.10"), Some(22));
        assert_eq!(v("go1.27.3"), Some(27));
        assert_eq!(v("go1.25rc1"), Some(25));
        assert_eq!(v("devel go1.26-abc"), None);
        assert_eq!(go_minor(None), None);
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_its_children() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & echo started; wait"]);
        let t = std::time::Instant::now();
        let ran = run_bounded(cmd, Duration::from_millis(300)).unwrap();
        assert!(ran.status.is_none());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(ran
            .failure("sh", Duration::from_secs(1))
            .contains("did not finish"));
    }

    #[test]
    fn a_commands_output_is_captured_and_its_failure_named() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo out; echo 'go: cannot find GOROOT directory' >&2; exit 2",
        ]);
        let ran = run_bounded(cmd, Duration::from_secs(30)).unwrap();
        assert!(!ran.ok());
        assert_eq!(ran.stdout, b"out\n");
        assert_eq!(
            ran.failure("go env", Duration::from_secs(30)),
            "go env failed: go: cannot find GOROOT directory"
        );
    }
}
