//! The checks: pure judgements of [`Facts`], one function per check id, in the order
//! doctor prints them.
use std::path::Path;

use super::{
    facts::{go_minor, BinKind, Binary, DirFacts, Facts},
    fscost::Comparison,
    wsl::Wsl,
    Check, Status,
};
use crate::context::goprocs::{gomaxprocs_verdict, Verdict};

/// Every check, in order.
pub fn judge(f: &Facts) -> Vec<Check> {
    vec![
        go_binary(f),
        path_order(f),
        goos(f),
        goroot(f),
        dir_check(f, "gopath"),
        dir_check(f, "gocache-fs"),
        dir_check(f, "gomodcache-fs"),
        dir_check(f, "project-fs"),
        inotify(f),
        cgroup(f),
        gomaxprocs(f),
        cgo(f),
        wsl(f),
        proxy(f),
    ]
}

/// A setting as Go sees it: `go env` when it could be asked, else the environment.
fn setting<'a>(f: &'a Facts, key: &str) -> Option<&'a str> {
    f.go_env
        .as_ref()
        .ok()
        .and_then(|g| g.get(key))
        .or_else(|| f.env.get(key))
        .map(String::as_str)
}

/// Where a setting comes from: the environment, or Go's config file (`go env -w`).
fn origin(f: &Facts, key: &str) -> &'static str {
    if f.env.contains_key(key) {
        "the environment"
    } else if f.go_env_changed.as_ref().is_some_and(|c| c.contains(key)) {
        "go env -w (the GOENV file)"
    } else {
        "Go's configuration"
    }
}

/// How to clear a setting, wherever it was made.
fn unset(f: &Facts, key: &str) -> String {
    if f.env.contains_key(key) {
        format!("unset {key} (and remove it from your shell's startup files)")
    } else {
        format!("go env -u {key}")
    }
}

fn kind_text(b: &Binary) -> String {
    match &b.kind {
        BinKind::Native => format!("a Linux {} executable", std::env::consts::ARCH),
        BinKind::ForeignElf { machine } => format!("a Linux executable for {machine}"),
        BinKind::WindowsPe => "a Windows program (PE)".into(),
        BinKind::Script { interpreter } => format!("a script (#!{interpreter})"),
        BinKind::Unknown { why } => format!("not an executable ({why})"),
    }
}

const INSTALL_GO: &str = "install Go for Linux (https://go.dev/dl/, the linux archive for this machine) and put its bin directory first on PATH";

fn go_binary(f: &Facts) -> Check {
    const ID: &str = "go-binary";
    let Some(go) = &f.go else {
        let exe = f.path.iter().find_map(|e| e.go_exe.as_ref());
        let mut c = Check::new(ID, Status::Fail, "no go on PATH").fix(INSTALL_GO);
        if let Some(exe) = exe {
            c = c.detail(format!(
                "only a go.exe: {} ({}), which Linux tools do not run as go",
                exe.path.display(),
                kind_text(exe)
            ));
        }
        return c;
    };
    let place = go.fs.describe();
    let mut c = match &go.kind {
        BinKind::WindowsPe | BinKind::ForeignElf { .. } | BinKind::Unknown { .. } => Check::new(
            ID,
            Status::Fail,
            format!("{} is {}, on {place}", go.path.display(), kind_text(go)),
        )
        .fix(INSTALL_GO),
        BinKind::Script { .. } => match &f.toolchain {
            Some(t) if t.kind == BinKind::Native => Check::new(
                ID,
                Status::Ok,
                format!(
                    "{} is a wrapper for {} ({}, {})",
                    go.path.display(),
                    t.resolved.display(),
                    t.go_version.as_deref().unwrap_or("Go"),
                    t.fs.describe()
                ),
            ),
            Some(t) => Check::new(
                ID,
                Status::Fail,
                format!(
                    "{} runs {}, {}",
                    go.path.display(),
                    t.resolved.display(),
                    kind_text(t)
                ),
            )
            .fix(INSTALL_GO),
            None => Check::new(
                ID,
                Status::Warn,
                format!(
                    "{} is {}; go env could not name its toolchain",
                    go.path.display(),
                    kind_text(go)
                ),
            )
            .detail(f.go_env.as_ref().err().cloned().unwrap_or_default())
            .fix("run `go env GOROOT` and check that the wrapper runs a Linux Go"),
        },
        BinKind::Native => Check::new(
            ID,
            Status::Ok,
            format!(
                "{} ({}, {}, on {place})",
                go.resolved.display(),
                go.go_version.as_deref().unwrap_or("version unknown"),
                kind_text(go)
            ),
        ),
    };
    let real = f.toolchain.as_ref().unwrap_or(go);
    if c.status == Status::Ok && real.fs.remote {
        c.status = Status::Warn;
        c.summary
            .push_str(": the toolchain itself is on a remote filesystem");
        c = c
            .detail("every build reads the compiler, linker and standard library from it")
            .fix("install Go on the Linux disk (e.g. /usr/local/go)");
    }
    if let Some(exe) = f.path.iter().find_map(|e| e.go_exe.as_ref()) {
        c = c.detail(format!(
            "also on PATH: {} ({})",
            exe.path.display(),
            kind_text(exe)
        ));
    }
    if f.via_sudo {
        c = c.note(
            "doctor runs through sudo: this is the environment sudo passed (it resets PATH and drops GO* variables); run doctor as yourself, only --build needs root",
        );
    }
    let version = f
        .go_env
        .as_ref()
        .ok()
        .and_then(|g| g.get("GOVERSION").cloned())
        .or_else(|| real.go_version.clone());
    if c.status == Status::Ok && go_minor(version.as_ref()).is_some_and(|m| m >= 23) {
        c = c.note("os/exec waits for its children with pidfds since Go 1.23 (go.dev/issue/62654): a lost SIGCHLD does not hang exec.Cmd.Wait");
    }
    c
}

fn path_order(f: &Facts) -> Check {
    const ID: &str = "path-order";
    let linux_go = f
        .path
        .iter()
        .position(|e| e.go.as_ref().is_some_and(Binary::runnable));
    let before = &f.path[..linux_go.unwrap_or(f.path.len())];
    let windows: Vec<_> = before
        .iter()
        .filter(|e| e.place.as_ref().is_some_and(|p| p.windows_drive))
        .collect();
    let with_go: Vec<_> = windows
        .iter()
        .filter(|e| e.go.is_some() || e.go_exe.is_some())
        .collect();
    let all_windows = f
        .path
        .iter()
        .filter(|e| e.place.as_ref().is_some_and(|p| p.windows_drive))
        .count();
    let fix = "put the Linux Go's bin directory before any Windows drive on PATH (export PATH=/usr/local/go/bin:$PATH in ~/.profile); on WSL, `[interop] appendWindowsPath = false` in /etc/wsl.conf keeps the Windows PATH out";
    let mut c = if !with_go.is_empty() {
        let mut c = Check::new(
            ID,
            Status::Warn,
            format!(
                "a Windows Go comes before {} on PATH",
                linux_go
                    .map(|i| format!("the Linux Go ({})", f.path[i].dir.display()))
                    .unwrap_or_else(|| "any Linux Go".into())
            ),
        )
        .fix(fix);
        for e in with_go {
            let found = e.go.as_ref().or(e.go_exe.as_ref()).expect("filtered");
            c = c.detail(format!(
                "{}: {} ({})",
                e.dir.display(),
                found.path.file_name().unwrap_or_default().to_string_lossy(),
                kind_text(found)
            ));
        }
        c
    } else if !windows.is_empty() {
        Check::new(
            ID,
            Status::Info,
            format!(
                "{} Windows-drive entries come before the Linux Go: every command lookup through them crosses to Windows",
                windows.len()
            ),
        )
        .detail(
            windows
                .iter()
                .map(|e| e.dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
        .fix(fix)
    } else if linux_go.is_none() {
        Check::new(ID, Status::Skip, "no Linux Go on PATH to order against")
    } else {
        Check::new(
            ID,
            Status::Ok,
            format!(
                "the Linux Go comes before every Windows drive ({} PATH entries, {all_windows} on Windows drives)",
                f.path.len()
            ),
        )
    };
    if f.path.iter().any(|e| e.dir == Path::new(".")) {
        c = c.detail("PATH has an empty or `.` entry: the current directory is searched");
    }
    c
}

fn goos(f: &Facts) -> Check {
    const ID: &str = "goos";
    let goos = setting(f, "GOOS").unwrap_or("linux");
    let goarch = setting(f, "GOARCH").unwrap_or(f.host_arch);
    let target = format!("{goos}/{goarch}");
    if goos != "linux" {
        return Check::new(
            ID,
            Status::Fail,
            format!("GOOS={goos} (from {}): go build makes {target} programs that do not run here", origin(f, "GOOS")),
        )
        .detail("go run and go test fail with `exec format error`, and build tags select the wrong files")
        .fix(format!("{}; cross-compile with GOOS=... on the command line only when you mean to", unset(f, "GOOS")));
    }
    if goarch != f.host_arch {
        return Check::new(
            ID,
            Status::Warn,
            format!(
                "GOARCH={goarch} (from {}), this machine is {}",
                origin(f, "GOARCH"),
                f.host_arch
            ),
        )
        .fix(unset(f, "GOARCH"));
    }
    let mut c = Check::new(ID, Status::Ok, format!("{target}, this machine"));
    if let Some(changed) = &f.go_env_changed {
        if !changed.is_empty() {
            c = c.detail(format!(
                "settings changed from Go's defaults: {}",
                changed.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    c
}

fn has_runtime(root: &Path) -> bool {
    root.join("src/runtime").is_dir()
}

fn goroot(f: &Facts) -> Check {
    const ID: &str = "goroot";
    let fix_env = "unset GOROOT: the go command knows its own root";
    if let Some(env_root) = f.env.get("GOROOT") {
        let p = Path::new(env_root);
        if !p.is_dir() {
            return Check::new(
                ID,
                Status::Fail,
                format!("GOROOT={env_root} does not exist"),
            )
            .detail("go cannot find its standard library: every build fails")
            .fix(fix_env);
        }
        if !has_runtime(p) {
            return Check::new(
                ID,
                Status::Fail,
                format!("GOROOT={env_root} holds no src/runtime: not a Go installation"),
            )
            .fix(fix_env);
        }
    }
    let Ok(vars) = &f.go_env else {
        return match f.env.get("GOROOT") {
            Some(r) => Check::new(
                ID,
                Status::Ok,
                format!("GOROOT={r} holds a Go installation (no go to compare)"),
            ),
            None => Check::new(ID, Status::Skip, "no go to ask for its GOROOT"),
        };
    };
    let Some(root) = vars.get("GOROOT").filter(|r| !r.is_empty()) else {
        return Check::new(ID, Status::Warn, "go env names no GOROOT");
    };
    let root_path = std::fs::canonicalize(root).unwrap_or_else(|_| root.into());
    if !has_runtime(&root_path) {
        return Check::new(
            ID,
            Status::Fail,
            format!("GOROOT {root} holds no src/runtime"),
        )
        .fix(fix_env);
    }
    // The binary that runs should be the root's own bin/go.
    let binary = f.toolchain.as_ref().or(f.go_used.as_ref());
    match binary {
        Some(b) if !b.resolved.starts_with(&root_path) && f.env.contains_key("GOROOT") => {
            Check::new(
                ID,
                Status::Warn,
                format!(
                    "GOROOT={root} but the go that runs is {}: two Go installations are mixed",
                    b.resolved.display()
                ),
            )
            .detail("the compiler of one version builds the standard library of the other")
            .fix(fix_env)
        }
        _ => Check::new(ID, Status::Ok, format!("{root}, the go binary's own")),
    }
}

/// Past these, a filesystem measurably slows a build: a Go build stats each source
/// file of every package it builds and each build-cache entry it might reuse (tens of
/// thousands for a mid-sized module), and reads the files that changed. 50 µs more per
/// stat is a second more per 20,000 stats, every build, where a local disk's stat takes
/// 1-5 µs; 100 µs more per small read, likewise per 10,000 reads. The ratio keeps a
/// loaded local disk from counting as slow.
const SLOW_STAT_ADDED_NS: u64 = 50_000;
const SLOW_READ_ADDED_NS: u64 = 100_000;
const SLOW_RATIO: f64 = 5.0;

/// Whether the measurement says slow, and the sentence that says by how much.
fn cost_text(c: &Comparison) -> (bool, String) {
    let us = |ns: u64| format!("{:.0} µs", ns as f64 / 1000.0);
    let slow_stat = c.here.stat_ns.saturating_sub(c.local.stat_ns) >= SLOW_STAT_ADDED_NS
        && c.stat_ratio() >= SLOW_RATIO;
    let mut text = format!(
        "stat takes {:.0}× longer here than on {} ({}): {} against {}, median of {}",
        c.stat_ratio(),
        c.local_dir.display(),
        c.local_place,
        us(c.here.stat_ns),
        us(c.local.stat_ns),
        c.here.stats
    );
    let mut slow_read = false;
    if let (Some(here), Some(local), Some(ratio)) =
        (c.here.read_ns, c.local.read_ns, c.read_ratio())
    {
        slow_read = here.saturating_sub(local) >= SLOW_READ_ADDED_NS && ratio >= SLOW_RATIO;
        text.push_str(&format!(
            "; a 4 KiB read {ratio:.0}× ({} against {}, median of {})",
            us(here),
            us(local),
            c.here.reads
        ));
    }
    (slow_stat || slow_read, text)
}

fn dir_check(f: &Facts, id: &'static str) -> Check {
    let what = match id {
        "gopath" => "GOPATH",
        "gocache-fs" => "GOCACHE",
        "gomodcache-fs" => "GOMODCACHE",
        _ => "the project",
    };
    let Some(d) = f.dirs.get(id) else {
        return Check::new(
            id,
            Status::Skip,
            format!("{what}: not set and no HOME to default it from"),
        );
    };
    dir_verdict(id, what, d, f.wsl.flavour)
}

fn dir_verdict(id: &'static str, what: &str, d: &DirFacts, flavour: Wsl) -> Check {
    let path = d.path.display();
    let place = d
        .place
        .as_ref()
        .map(|p| p.describe())
        .unwrap_or_else(|| "an unknown filesystem".into());
    let mut c = Check::new(
        id,
        Status::Ok,
        format!(
            "{what} {path} on {place}{}",
            if d.exists { "" } else { ", not created yet" }
        ),
    );
    if id != "project-fs" {
        c = c.detail(format!("from {}", d.source));
    }
    if !d.writable {
        let status = match id {
            "gocache-fs" => Status::Fail,
            "project-fs" => Status::Info,
            _ => Status::Warn,
        };
        c.status = status;
        c.summary.push_str(": not writable");
        c = c.fix(match id {
            "gocache-fs" => "point GOCACHE at a writable directory on the Linux disk (go env -w GOCACHE=$HOME/.cache/go-build): go build needs a build cache",
            "gomodcache-fs" => "point GOMODCACHE at a writable directory on the Linux disk: module downloads fail",
            "gopath" => "point GOPATH at a writable directory: go install and module downloads fail",
            _ => "go build works; go mod tidy and go generate cannot write here",
        });
    }
    let Some(p) = d.place.as_ref().filter(|p| p.remote) else {
        return c;
    };
    let (slow, measured) = match &d.cost {
        Some(Ok(cmp)) => cost_text(cmp),
        Some(Err(e)) => (true, format!("could not be measured: {e}")),
        None => (false, String::new()),
    };
    if !measured.is_empty() {
        c = c.detail(measured);
    }
    let cross_os =
        p.windows_drive || (flavour != Wsl::None && matches!(p.kind.as_str(), "9p" | "virtiofs"));
    if cross_os || slow {
        c.status = c.status.max(Status::Warn);
        if cross_os {
            c = c.detail("a Windows drive: every stat crosses the VM boundary, and inode numbers are not stable, so the build cache misses files it has seen");
        }
        // A writable-cache failure's fix already says where to move it; a read-only
        // project's note gives way to the move.
        if c.fix.is_none() || id == "project-fs" {
            c.fix = None;
            c = c.fix(match id {
                "project-fs" => "move the project to the Linux disk (e.g. ~/src), and open it from Windows through \\\\wsl$ if you need to",
                "gocache-fs" => "go env -w GOCACHE=$HOME/.cache/go-build (on the Linux disk)",
                "gomodcache-fs" => "go env -w GOMODCACHE=$HOME/go/pkg/mod (on the Linux disk)",
                _ => "go env -w GOPATH=$HOME/go (on the Linux disk)",
            });
        }
        c = c.note("Go's file I/O is plain read/write/fsync syscalls on threads, not io_uring (go.dev/issue/31908): each slow operation blocks a thread; `sudo gotrace doctor --build` measures how long a build waits on it");
    } else if c.status == Status::Ok {
        c.status = Status::Info;
        c = c.detail(format!(
            "a {} filesystem, measured fast enough here",
            p.kind
        ));
    }
    c
}

fn inotify(f: &Facts) -> Check {
    const ID: &str = "inotify";
    let limit = f
        .inotify_max_user_watches
        .map(|n| format!("fs.inotify.max_user_watches = {n}"));
    let Some(p) = f.dirs.get("project-fs").and_then(|d| d.place.as_ref()) else {
        return Check::new(ID, Status::Skip, "the project's filesystem is unknown");
    };
    let mut c = if p.windows_drive || matches!(p.kind.as_str(), "9p" | "virtiofs") {
        Check::new(
            ID,
            Status::Warn,
            format!("the project is on {}: file watchers (gopls, air, fsnotify) get no events for changes made from Windows", p.kind),
        )
        .fix("move the project to the Linux disk")
        .note("WSL2 does not forward Windows-side changes to inotify on drvfs (github.com/microsoft/WSL/issues/4739)")
    } else if p.remote {
        Check::new(
            ID,
            Status::Info,
            format!(
                "the project is on {}: inotify sees only changes made through this machine",
                p.kind
            ),
        )
    } else {
        Check::new(
            ID,
            Status::Ok,
            format!("the project is on {}: file watchers work", p.kind),
        )
    };
    if let Some(l) = limit {
        c = c.detail(l);
    }
    c
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

fn cgroup(f: &Facts) -> Check {
    const ID: &str = "cgroup";
    match &f.cgroup {
        Ok(cg) => {
            let version = match cg.version {
                crate::context::cgroup::CgroupVersion::V1 => "v1",
                crate::context::cgroup::CgroupVersion::V2 => "v2",
            };
            let quota = cg
                .cpu_quota_cpus
                .map(|q| format!("CPU quota {q:.2} CPUs"))
                .unwrap_or_else(|| "no CPU quota".into());
            let memory = cg
                .memory_limit
                .map(|m| format!("memory limit {}", mib(m)))
                .unwrap_or_else(|| "no memory limit".into());
            let mut c = Check::new(
                ID,
                Status::Ok,
                format!("cgroup {version} {}: {quota}, {memory}", cg.path),
            )
            .detail(format!("{} CPUs online", f.online_cpus))
            .detail(format!("readable where the Go runtime reads it: {}", cg.cpu_stat_path.parent().unwrap_or(Path::new("?")).display()));
            if cg.cpu_quota_cpus.is_some() {
                c.status = Status::Info;
            }
            if cg.memory_limit.is_some() {
                c = c.detail("the Go runtime does not read the memory limit: set GOMEMLIMIT a little below it so the GC works before the OOM killer does");
            }
            c
        }
        Err(e) => Check::new(ID, Status::Warn, "cannot read this shell's cgroup limits")
            .detail(e.clone())
            .detail("the Go runtime reads the same files (/proc/self/cgroup, mountinfo, cpu.max or cpu.cfs_quota_us) to size GOMAXPROCS")
            .fix("check that /sys/fs/cgroup is mounted in this environment"),
    }
}

fn gomaxprocs(f: &Facts) -> Check {
    const ID: &str = "gomaxprocs";
    let probe = match &f.gomaxprocs {
        Ok(p) => p,
        Err(e) if f.go_used.is_none() => return Check::new(ID, Status::Skip, e.clone()),
        Err(e) => {
            return Check::new(
                ID,
                Status::Warn,
                "a Go program could not be built and run here",
            )
            .detail(e.clone())
            .fix("run `go run` on a hello-world program to see why")
        }
    };
    let quota = f.cgroup.as_ref().ok().and_then(|c| c.cpu_quota_cpus);
    let env = f
        .env
        .get("GOMAXPROCS")
        .map(|v| format!(" (GOMAXPROCS={v} in the environment)"))
        .unwrap_or_default();
    let toolchain = f
        .go_env
        .as_ref()
        .ok()
        .and_then(|g| go_minor(g.get("GOVERSION")));
    let language = probe.language.as_ref().map(|v| format!("go{v}"));
    let mut c = gomaxprocs_judgement(probe, quota, f.online_cpus, &env, toolchain);
    if let Some(l) = &language {
        c = c.detail(format!(
            "built at the project's language version ({l}), as its programs are"
        ));
    }
    // The language version decides the GODEBUG default: a go.mod at 1.24 or older keeps
    // containermaxprocs=0, so even a new toolchain ignores the quota.
    let old_language = go_minor(language.as_ref()).is_some_and(|m| m < 25);
    if quota.is_some() && toolchain.is_some_and(|m| m >= 25) && old_language {
        c = c.detail(format!(
            "go.mod says {}: its programs ignore the cgroup limit (GODEBUG containermaxprocs=0 is the default up to go 1.24); add `godebug containermaxprocs=1` to go.mod or raise its go line",
            language.unwrap_or_default()
        ));
    }
    if quota.is_some() {
        c = c.note("Go 1.25+ sizes GOMAXPROCS from the cgroup CPU limit, rounded up, at least 2 (go.dev/issue/73193)");
    }
    c
}

fn gomaxprocs_judgement(
    probe: &super::facts::GoMaxProcsProbe,
    quota: Option<f64>,
    online_cpus: usize,
    env: &str,
    toolchain: Option<u32>,
) -> Check {
    const ID: &str = "gomaxprocs";
    match gomaxprocs_verdict(probe.gomaxprocs, quota, online_cpus) {
        Verdict::Ok { effective_cpus } => Check::new(
            ID,
            Status::Ok,
            format!(
                "a Go program here runs GOMAXPROCS={}{env}, fitting {effective_cpus:.2} CPUs",
                probe.gomaxprocs
            ),
        )
        .detail(format!("runtime.NumCPU() = {}", probe.num_cpu)),
        Verdict::ExceedsQuota {
            gomaxprocs,
            effective_cpus,
        } => {
            let fit = (effective_cpus.ceil() as u32).max(1);
            Check::new(
                ID,
                Status::Warn,
                format!(
                    "a Go program here runs GOMAXPROCS={gomaxprocs}{env} on {effective_cpus:.2} CPUs of quota: its threads are throttled"
                ),
            )
            .detail("Ps beyond the quota make the cgroup use its CPU time early in each period and then wait out the rest")
            .fix(if toolchain.is_some_and(|m| m >= 25) {
                format!("export GOMAXPROCS={fit} (Go 1.25+ follows the quota but never goes below 2)")
            } else {
                format!("export GOMAXPROCS={fit}, or build with Go 1.25 or later, which follows the quota")
            })
        }
    }
}

/// Windows import libraries: `-l<name>` of these in cgo flags means a Windows toolchain.
const WINDOWS_LIBS: &[&str] = &[
    "ws2_32", "kernel32", "user32", "gdi32", "advapi32", "shell32", "ole32", "oleaut32", "winmm",
    "iphlpapi", "crypt32", "msvcrt", "ucrt", "comctl32", "comdlg32", "bcrypt", "ntdll", "secur32",
    "userenv", "dbghelp", "mswsock",
];

fn windows_libs(flags: &str) -> Vec<&str> {
    flags
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("-l"))
        .filter(|l| WINDOWS_LIBS.contains(&l.to_ascii_lowercase().as_str()))
        .collect()
}

fn cgo(f: &Facts) -> Check {
    const ID: &str = "cgo";
    let enabled = setting(f, "CGO_ENABLED").unwrap_or("1");
    let mut windows: Vec<String> = Vec::new();
    for key in ["CGO_LDFLAGS", "CGO_CFLAGS"] {
        for lib in windows_libs(setting(f, key).unwrap_or("")) {
            windows.push(format!("{key} links -l{lib}"));
        }
    }
    if !windows.is_empty() {
        let mut c = Check::new(ID, Status::Fail, "cgo flags name Windows libraries")
            .fix("remove the Windows -l flags from CGO_LDFLAGS/CGO_CFLAGS (go env -u, or unset)");
        for w in windows {
            c = c.detail(w);
        }
        return c;
    }
    if enabled != "1" {
        return Check::new(
            ID,
            Status::Ok,
            format!("cgo off (CGO_ENABLED={enabled}): pure Go builds need no C compiler"),
        );
    }
    let Some(cc) = &f.cc else {
        return Check::new(ID, Status::Skip, "no C compiler setting");
    };
    let Some(found) = &cc.found else {
        return Check::new(ID, Status::Warn, format!("cgo on but CC={} is not found", cc.command))
            .detail("packages that use cgo (os/user and net with the cgo resolver, sqlite drivers) fail to build")
            .fix("install a C compiler (apt install gcc), or export CGO_ENABLED=0");
    };
    let target = cc.target.as_deref().unwrap_or("target unknown");
    let windows_target = ["mingw", "windows", "msvc", "cygwin"]
        .iter()
        .any(|w| target.to_ascii_lowercase().contains(w));
    if matches!(found.kind, BinKind::WindowsPe) || windows_target {
        return Check::new(
            ID,
            Status::Fail,
            format!(
                "CC={} is a Windows toolchain: {} ({target})",
                cc.command,
                found.path.display()
            ),
        )
        .fix("install gcc for Linux (apt install gcc) and unset CC, or export CGO_ENABLED=0");
    }
    if !matches!(found.kind, BinKind::Native | BinKind::Script { .. }) {
        return Check::new(
            ID,
            Status::Fail,
            format!("CC={} is {}", cc.command, kind_text(found)),
        )
        .fix("install gcc for Linux (apt install gcc) and unset CC");
    }
    if !target.contains("linux") && cc.target.is_some() {
        return Check::new(
            ID,
            Status::Warn,
            format!("CC={} targets {target}, not Linux", cc.command),
        )
        .fix("unset CC, or point it at a compiler for this machine");
    }
    Check::new(
        ID,
        Status::Ok,
        format!(
            "cgo on, CC={} -> {} ({target})",
            cc.command,
            found.resolved.display()
        ),
    )
}

fn wsl(f: &Facts) -> Check {
    const ID: &str = "wsl";
    let w = &f.wsl;
    let name = match w.flavour {
        Wsl::None => {
            return Check::new(
                ID,
                Status::Skip,
                format!("not WSL (kernel {})", w.kernel_release),
            );
        }
        Wsl::Wsl1 => "WSL1",
        Wsl::Wsl2 => "WSL2",
    };
    let conf = w.conf.clone().unwrap_or_default();
    let mut c = Check::new(
        ID,
        Status::Ok,
        format!("{name}, kernel {}", w.kernel_release),
    )
    .detail(format!(
        "interop {}, the Windows PATH {}",
        if w.interop { "on" } else { "off" },
        if conf.appends_windows_path() {
            "appended to PATH"
        } else {
            "kept out of PATH"
        }
    ))
    .detail(format!(
        "Windows drives mounted {}",
        if conf.metadata() {
            "with metadata (Linux permissions kept)"
        } else {
            "without metadata: every file reads as 0777 and chmod does nothing"
        }
    ))
    .detail(match w.pid1.as_deref() {
        Some("systemd") => "systemd is PID 1".to_string(),
        Some(other) => format!("PID 1 is {other}, not systemd"),
        None => "PID 1 unknown".to_string(),
    });
    if w.conf.is_none() {
        c = c.detail("no /etc/wsl.conf: WSL's defaults apply");
    }
    if w.flavour == Wsl::Wsl1 {
        c.status = Status::Warn;
        c = c
            .detail("WSL1 emulates Linux syscalls on Windows: every file operation goes through Windows, and some (inotify, cgroups) are partial")
            .fix("wsl --set-version <distro> 2");
    }
    let windows_go_on_path = f.path.iter().any(|e| {
        e.place.as_ref().is_some_and(|p| p.windows_drive) && (e.go.is_some() || e.go_exe.is_some())
    });
    if conf.appends_windows_path() && windows_go_on_path {
        c.status = c.status.max(Status::Warn);
        c.summary.push_str(": the Windows PATH brings a Windows Go");
        c = c.fix("add `[interop]` / `appendWindowsPath = false` to /etc/wsl.conf, then `wsl --shutdown` from Windows");
    }
    c
}

/// A GOPROXY entry: `direct`, `off`, or a proxy URL.
fn proxy_entry_ok(e: &str) -> bool {
    matches!(e, "direct" | "off")
        || ["https://", "http://", "file://"]
            .iter()
            .any(|s| e.strip_prefix(s).is_some_and(|rest| !rest.is_empty()))
}

/// A GONOSUMDB/GOPRIVATE/GONOPROXY pattern list: comma-separated path globs; a glob
/// with an unclosed `[` is malformed (path.Match's ErrBadPattern).
fn bad_patterns(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            p.contains(char::is_whitespace) || p.matches('[').count() > p.matches(']').count()
        })
        .collect()
}

fn proxy(f: &Facts) -> Check {
    const ID: &str = "proxy";
    let mut problems: Vec<(Status, String, String)> = Vec::new();
    let goproxy = setting(f, "GOPROXY").unwrap_or("");
    if !goproxy.is_empty() {
        let entries: Vec<&str> = goproxy.split([',', '|']).map(str::trim).collect();
        if entries.first() == Some(&"off") {
            problems.push((
                Status::Warn,
                "GOPROXY=off: module downloads are refused".into(),
                unset(f, "GOPROXY"),
            ));
        }
        for e in entries.iter().filter(|e| !proxy_entry_ok(e)) {
            problems.push((
                Status::Fail,
                format!("GOPROXY entry {e:?} is neither a URL nor direct/off"),
                format!(
                    "fix GOPROXY (e.g. https://proxy.golang.org,direct) with {}",
                    unset(f, "GOPROXY")
                ),
            ));
        }
    }
    let goflags = setting(f, "GOFLAGS").unwrap_or("");
    for w in goflags.split_whitespace().filter(|w| !w.starts_with('-')) {
        problems.push((
            Status::Fail,
            format!("GOFLAGS holds {w:?}, not a flag: every go command fails"),
            unset(f, "GOFLAGS"),
        ));
    }
    match setting(f, "GO111MODULE").unwrap_or("") {
        "" | "on" | "auto" => {}
        "off" => problems.push((
            Status::Warn,
            "GO111MODULE=off: GOPATH mode, go.mod is ignored".into(),
            unset(f, "GO111MODULE"),
        )),
        other => problems.push((
            Status::Fail,
            format!("GO111MODULE={other:?} is not on, off or auto"),
            unset(f, "GO111MODULE"),
        )),
    }
    for key in ["GONOSUMDB", "GOPRIVATE", "GONOPROXY"] {
        for p in bad_patterns(setting(f, key).unwrap_or("")) {
            problems.push((
                Status::Warn,
                format!("{key} pattern {p:?} is malformed"),
                format!("fix {key}: comma-separated module path globs"),
            ));
        }
    }
    if setting(f, "GOSUMDB") == Some("off") {
        problems.push((
            Status::Info,
            "GOSUMDB=off: downloaded modules are not checked against the checksum database".into(),
            unset(f, "GOSUMDB"),
        ));
    }
    let shown = |k: &str| format!("{k}={}", setting(f, k).unwrap_or(""));
    let Some(worst) = problems.iter().map(|p| p.0).max() else {
        return Check::new(ID, Status::Ok, shown("GOPROXY"))
            .detail(shown("GOFLAGS"))
            .detail(shown("GO111MODULE"));
    };
    let mut c = Check::new(
        ID,
        worst,
        problems
            .iter()
            .map(|p| p.1.clone())
            .collect::<Vec<_>>()
            .join("; "),
    );
    let fixes: Vec<String> = problems
        .into_iter()
        .map(|p| p.2)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    c = c.fix(fixes.join("; "));
    c
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::doctor::{
        facts::{PathEntry, Place, WslFacts},
        fscost::Costs,
        wsl::WslConf,
    };

    fn place(kind: &str, mount: &str, windows: bool, remote: bool) -> Place {
        Place {
            mount_point: mount.into(),
            kind: kind.into(),
            windows_drive: windows,
            remote,
        }
    }

    fn bin(path: &str, kind: BinKind, fs: Place) -> Binary {
        Binary {
            path: path.into(),
            resolved: path.into(),
            kind,
            fs,
            go_version: Some("go1.27.3".into()),
        }
    }

    fn ext4() -> Place {
        place("ext4", "/", false, false)
    }

    fn drive() -> Place {
        place("drvfs", "/mnt/c", true, true)
    }

    /// A directory that holds src/runtime, made once per test process.
    fn fake_goroot() -> &'static str {
        static ROOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        ROOT.get_or_init(|| {
            let root =
                std::env::temp_dir().join(format!("gotrace-doctor-goroot-{}", std::process::id()));
            std::fs::create_dir_all(root.join("src/runtime")).unwrap();
            root.display().to_string()
        })
    }

    /// A healthy machine: Linux Go first, no quota, not WSL.
    fn healthy() -> Facts {
        let go = bin("/usr/local/go/bin/go", BinKind::Native, ext4());
        let dir = |p: &str| DirFacts {
            path: p.into(),
            source: "go env".into(),
            exists: true,
            place: Some(ext4()),
            writable: true,
            cost: None,
        };
        Facts {
            project: "/home/u/app".into(),
            project_go: None,
            env: vars(&[("PATH", "/usr/local/go/bin:/usr/bin"), ("HOME", "/home/u")]),
            path: vec![
                PathEntry {
                    dir: "/usr/local/go/bin".into(),
                    place: Some(ext4()),
                    go: Some(go.clone()),
                    go_exe: None,
                },
                PathEntry {
                    dir: "/usr/bin".into(),
                    place: Some(ext4()),
                    go: None,
                    go_exe: None,
                },
            ],
            go: Some(go.clone()),
            go_used: Some(go),
            toolchain: None,
            go_env: Ok(vars(&[
                ("GOOS", "linux"),
                ("GOARCH", crate::doctor::facts::host_goarch()),
                ("GOROOT", fake_goroot()),
                ("GOVERSION", "go1.27.3"),
                ("CGO_ENABLED", "0"),
                ("GOPROXY", "https://proxy.golang.org,direct"),
            ])),
            go_env_changed: Some(Default::default()),
            dirs: [
                ("gopath", dir("/home/u/go")),
                ("gocache-fs", dir("/home/u/.cache/go-build")),
                ("gomodcache-fs", dir("/home/u/go/pkg/mod")),
                ("project-fs", dir("/home/u/app")),
            ]
            .into_iter()
            .collect(),
            host_arch: crate::doctor::facts::host_goarch(),
            cgroup: Ok(crate::context::cgroup::CgroupInfo {
                version: crate::context::cgroup::CgroupVersion::V2,
                path: "/user.slice".into(),
                cpu_quota_cpus: None,
                memory_limit: None,
                cpu_stat_path: "/sys/fs/cgroup/user.slice/cpu.stat".into(),
            }),
            online_cpus: 2,
            gomaxprocs: Ok(super::super::facts::GoMaxProcsProbe {
                gomaxprocs: 2,
                num_cpu: 2,
                language: None,
            }),
            cc: None,
            wsl: WslFacts {
                flavour: Wsl::None,
                kernel_release: "6.18.0".into(),
                interop: false,
                conf: None,
                pid1: Some("systemd".into()),
            },
            via_sudo: false,
            inotify_max_user_watches: Some(65536),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check<'a>(all: &'a [Check], id: &str) -> &'a Check {
        all.iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    #[test]
    fn every_check_has_its_id_once() {
        let all = judge(&healthy());
        let ids: Vec<_> = all.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                "go-binary",
                "path-order",
                "goos",
                "goroot",
                "gopath",
                "gocache-fs",
                "gomodcache-fs",
                "project-fs",
                "inotify",
                "cgroup",
                "gomaxprocs",
                "cgo",
                "wsl",
                "proxy"
            ]
        );
    }

    #[test]
    fn a_windows_go_first_on_path_fails_and_names_the_fix() {
        let mut f = healthy();
        let win = bin("/mnt/c/Go/bin/go", BinKind::WindowsPe, drive());
        f.path.insert(
            0,
            PathEntry {
                dir: "/mnt/c/Go/bin".into(),
                place: Some(drive()),
                go: Some(win.clone()),
                go_exe: None,
            },
        );
        f.go = Some(win);
        f.wsl.flavour = Wsl::Wsl2;
        let all = judge(&f);
        let go = check(&all, "go-binary");
        assert_eq!(go.status, Status::Fail, "{go:?}");
        assert!(go.summary.contains("Windows program"), "{go:?}");
        assert!(go.fix.as_deref().unwrap().contains("install Go for Linux"));
        let order = check(&all, "path-order");
        assert_eq!(order.status, Status::Warn, "{order:?}");
        assert!(
            order.details.iter().any(|d| d.starts_with("/mnt/c/Go/bin")),
            "{order:?}"
        );
        let w = check(&all, "wsl");
        assert_eq!(w.status, Status::Warn, "{w:?}");
        assert!(w
            .fix
            .as_deref()
            .unwrap()
            .contains("appendWindowsPath = false"));
    }

    #[test]
    fn windows_drive_entries_after_the_linux_go_are_fine() {
        let mut f = healthy();
        f.path.push(PathEntry {
            dir: "/mnt/c/Windows/system32".into(),
            place: Some(drive()),
            go: None,
            go_exe: Some(bin(
                "/mnt/c/Windows/system32/go.exe",
                BinKind::WindowsPe,
                drive(),
            )),
        });
        let c = path_order(&f);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.summary.contains("1 on Windows drives"), "{c:?}");
    }

    #[test]
    fn a_foreign_goos_fails_and_says_where_it_was_set() {
        let mut f = healthy();
        f.env.insert("GOOS".into(), "windows".into());
        f.go_env
            .as_mut()
            .unwrap()
            .insert("GOOS".into(), "windows".into());
        let c = goos(&f);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("from the environment"), "{c:?}");
        assert!(c.fix.as_deref().unwrap().starts_with("unset GOOS"), "{c:?}");
        // Set with go env -w instead: the fix is go env -u.
        let mut f = healthy();
        f.go_env
            .as_mut()
            .unwrap()
            .insert("GOOS".into(), "windows".into());
        f.go_env_changed = Some(["GOOS".to_string()].into());
        let c = goos(&f);
        assert!(c.summary.contains("go env -w"), "{c:?}");
        assert!(
            c.fix.as_deref().unwrap().starts_with("go env -u GOOS"),
            "{c:?}"
        );
    }

    #[test]
    fn a_goroot_that_points_nowhere_fails() {
        let mut f = healthy();
        f.env.insert("GOROOT".into(), "/nonexistent/go".into());
        let c = goroot(&f);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.as_deref().unwrap().contains("unset GOROOT"));
    }

    fn comparison(here_stat: u64, here_read: u64) -> Comparison {
        Comparison {
            here: Costs {
                stat_ns: here_stat,
                stats: 300,
                read_ns: Some(here_read),
                reads: 100,
            },
            local: Costs {
                stat_ns: 2_000,
                stats: 300,
                read_ns: Some(5_000),
                reads: 100,
            },
            local_dir: "/usr/lib".into(),
            local_place: "ext4 (/)".into(),
        }
    }

    #[test]
    fn a_slow_remote_filesystem_warns_with_its_measured_cost() {
        let d = DirFacts {
            path: "/mnt/slow/cache".into(),
            source: "go env".into(),
            exists: true,
            place: Some(place("fuse", "/mnt/slow", false, true)),
            writable: true,
            cost: Some(Ok(comparison(82_000, 90_000))),
        };
        let c = dir_verdict("gocache-fs", "the build cache", &d, Wsl::None);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.details
                .iter()
                .any(|d| d.contains("stat takes 41× longer")),
            "{c:?}"
        );
        assert!(c.fix.is_some());
        // The same filesystem, fast: info only.
        let fast = DirFacts {
            cost: Some(Ok(comparison(4_000, 8_000))),
            ..d.clone()
        };
        assert_eq!(
            dir_verdict("gocache-fs", "x", &fast, Wsl::None).status,
            Status::Info
        );
        // A Windows drive warns whatever the numbers: inodes and inotify.
        let win = DirFacts {
            place: Some(drive()),
            ..fast
        };
        assert_eq!(
            dir_verdict("project-fs", "x", &win, Wsl::Wsl2).status,
            Status::Warn
        );
        // An unwritable build cache fails.
        let ro = DirFacts {
            writable: false,
            ..d
        };
        assert_eq!(
            dir_verdict("gocache-fs", "x", &ro, Wsl::None).status,
            Status::Fail
        );
    }

    #[test]
    fn the_project_on_a_windows_drive_loses_file_watching() {
        let mut f = healthy();
        f.dirs.get_mut("project-fs").unwrap().place = Some(drive());
        let c = inotify(&f);
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("gopls"));
        assert!(c.notes[0].contains("4739"));
    }

    #[test]
    fn gomaxprocs_over_the_quota_warns_with_the_number_that_fits() {
        let mut f = healthy();
        f.cgroup = Ok(crate::context::cgroup::CgroupInfo {
            version: crate::context::cgroup::CgroupVersion::V2,
            path: "/app".into(),
            cpu_quota_cpus: Some(1.5),
            memory_limit: Some(512 << 20),
            cpu_stat_path: "/sys/fs/cgroup/app/cpu.stat".into(),
        });
        f.online_cpus = 8;
        f.gomaxprocs = Ok(super::super::facts::GoMaxProcsProbe {
            gomaxprocs: 8,
            num_cpu: 8,
            language: Some("1.21".into()),
        });
        let c = gomaxprocs(&f);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.fix.as_deref().unwrap().contains("GOMAXPROCS=2 (Go 1.25+"),
            "{c:?}"
        );
        assert!(
            c.details.iter().any(|d| d.contains("go.mod says go1.21")),
            "{c:?}"
        );
        let cg = cgroup(&f);
        assert!(
            cg.summary
                .contains("CPU quota 1.50 CPUs, memory limit 512 MiB"),
            "{cg:?}"
        );
        assert!(c.notes[0].contains("73193"));
    }

    #[test]
    fn cgo_with_windows_libraries_or_compiler_fails() {
        let mut f = healthy();
        f.go_env
            .as_mut()
            .unwrap()
            .insert("CGO_ENABLED".into(), "1".into());
        f.go_env
            .as_mut()
            .unwrap()
            .insert("CGO_LDFLAGS".into(), "-O2 -lws2_32 -lm".into());
        let c = cgo(&f);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert_eq!(c.details, ["CGO_LDFLAGS links -lws2_32"]);
        let mut f = healthy();
        f.go_env
            .as_mut()
            .unwrap()
            .insert("CGO_ENABLED".into(), "1".into());
        f.cc = Some(crate::doctor::facts::CcFacts {
            command: "x86_64-w64-mingw32-gcc".into(),
            found: Some(bin(
                "/usr/bin/x86_64-w64-mingw32-gcc",
                BinKind::Native,
                ext4(),
            )),
            target: Some("x86_64-w64-mingw32".into()),
        });
        assert_eq!(cgo(&f).status, Status::Fail);
        f.cc.as_mut().unwrap().found = None;
        assert_eq!(cgo(&f).status, Status::Warn);
    }

    #[test]
    fn proxy_settings_that_break_downloads_are_named() {
        let mut f = healthy();
        let env = f.go_env.as_mut().unwrap();
        env.insert("GOPROXY".into(), "off".into());
        env.insert("GOFLAGS".into(), "-mod=mod vendor".into());
        env.insert("GO111MODULE".into(), "yes".into());
        env.insert("GOPRIVATE".into(), "example.com/[abc".into());
        let c = proxy(&f);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        for want in [
            "GOPROXY=off",
            "\"vendor\"",
            "GO111MODULE=\"yes\"",
            "GOPRIVATE pattern",
        ] {
            assert!(c.summary.contains(want), "{want}: {c:?}");
        }
        let mut f = healthy();
        f.go_env.as_mut().unwrap().insert(
            "GOPROXY".into(),
            "https://goproxy.io|https://proxy.golang.org,direct".into(),
        );
        assert_eq!(proxy(&f).status, Status::Ok);
        f.go_env
            .as_mut()
            .unwrap()
            .insert("GOPROXY".into(), "goproxy.io,direct".into());
        assert_eq!(proxy(&f).status, Status::Fail);
    }

    #[test]
    fn wsl_is_skipped_elsewhere_and_described_on_wsl() {
        let f = healthy();
        assert_eq!(wsl(&f).status, Status::Skip);
        let mut f = healthy();
        f.wsl = WslFacts {
            flavour: Wsl::Wsl2,
            kernel_release: "6.6.36.6-microsoft-standard-WSL2".into(),
            interop: true,
            conf: Some(WslConf {
                automount_options: Some("metadata".into()),
                append_windows_path: Some(false),
                ..WslConf::default()
            }),
            pid1: Some("systemd".into()),
        };
        let c = wsl(&f);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(
            c.details.iter().any(|d| d.contains("kept out of PATH")),
            "{c:?}"
        );
        assert!(
            c.details.iter().any(|d| d.contains("with metadata")),
            "{c:?}"
        );
        f.wsl.flavour = Wsl::Wsl1;
        assert_eq!(wsl(&f).status, Status::Warn);
    }

    #[test]
    fn a_healthy_machine_is_all_ok_or_skipped() {
        let all = judge(&healthy());
        for c in &all {
            assert!(
                matches!(c.status, Status::Ok | Status::Skip | Status::Info),
                "{c:?}"
            );
        }
    }
}
