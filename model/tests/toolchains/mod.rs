//! The Go toolchains the model's tests build their fixtures with: the `go` binaries
//! listed in `GOTRACE_GO_VERSIONS` (`:`-separated), else `<workspace>/.tools/go-*/bin/go`
//! (`cargo xtask setup` installs them). Shared by the test crates as `mod toolchains;`.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Go versions (major.minor) the tests must cover.
pub const REQUIRED: &[&str] = &["1.22", "1.24", "1.25", "1.26", "1.27"];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The `go` binaries to test with.
pub fn toolchain_paths() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("GOTRACE_GO_VERSIONS") {
        return list
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(workspace().join(".tools"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("go-"))
                .map(|e| e.path().join("bin/go"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `go` with a hermetic environment; `gopath` is the test's own.
pub fn go_command(go: &Path, gopath: &Path) -> Command {
    let mut cmd = Command::new(go);
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0")
        // The build cache the other tests' Go builds share (a fresh checkout builds the
        // standard library once per toolchain, not once per test crate).
        .env("GOCACHE", workspace().join("target/go-cache"))
        .env("GOPATH", gopath);
    cmd
}

/// `go env GOVERSION`: "go1.22.10".
pub fn go_version(go: &Path, gopath: &Path) -> Result<String, String> {
    let out = go_command(go, gopath)
        .args(["env", "GOVERSION"])
        .output()
        .map_err(|e| format!("run {}: {e}", go.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} env GOVERSION: {}",
            go.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// "go1.22.10" -> "1.22".
pub fn major_minor(version: &str) -> String {
    let v = version.trim_start_matches("go");
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Every toolchain with its version, or why the [`REQUIRED`] ones are not all there.
pub fn toolchains(gopath: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut toolchains = Vec::new();
    for p in toolchain_paths() {
        toolchains.push((go_version(&p, gopath)?, p));
    }
    let have: Vec<String> = toolchains.iter().map(|(v, _)| major_minor(v)).collect();
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|r| !have.iter().any(|h| h == r))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Go {} missing (found {have:?} from {}): run `cargo xtask setup` to install \
             the Go toolchains, or list `go` binaries in GOTRACE_GO_VERSIONS",
            missing.join(", "),
            if std::env::var_os("GOTRACE_GO_VERSIONS").is_some() {
                "GOTRACE_GO_VERSIONS".to_string()
            } else {
                workspace().join(".tools/go-*/bin/go").display().to_string()
            }
        ));
    }
    Ok(toolchains)
}
