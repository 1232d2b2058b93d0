//! `gotrace_model::goruntime::layout_from_dwarf` against Go's own reading of the same
//! DWARF: the workload `tests/workloads/gostacks` is built with every Go toolchain found,
//! normally and with `-ldflags=-s -w`, and the offsets gotrace reads off each build are
//! compared with what `tests/workloads/dwarfoffsets` (`debug/elf` + `debug/dwarf`, built
//! by the same toolchain) prints, and with the per-version table.
//!
//! Toolchains: the `go` binaries listed in `GOTRACE_GO_VERSIONS` (`:`-separated), else
//! `<workspace>/.tools/go-*/bin/go`. Go 1.22, 1.24, 1.25, 1.26 and 1.27 must be among
//! them (`cargo xtask setup` installs them).
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use gotrace_model::{elf::Elf, goruntime};
use serde::Deserialize;
use toolchains::workspace;
use tracer_common::GoRuntime;

mod toolchains;

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("godwarf")
}

fn go_command(go: &Path) -> Command {
    toolchains::go_command(go, &scratch().join("gopath"))
}

/// Builds the package `pkg` of the module in `dir` with `go` and `flags` into `out`.
fn build(go: &Path, dir: &Path, pkg: &str, flags: &[&str], out: &Path) -> Result<(), String> {
    let res = go_command(go)
        .current_dir(dir)
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(pkg)
        .output()
        .map_err(|e| format!("run {}: {e}", go.display()))?;
    if !res.status.success() {
        return Err(format!(
            "{} build {pkg} {flags:?}: {}",
            go.display(),
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    Ok(())
}

/// What `dwarfoffsets` prints.
#[derive(Debug, Deserialize)]
struct Oracle {
    dwarf: bool,
    g_goid: u32,
}

fn ask(oracle: &Path, binary: &Path) -> Result<Oracle, String> {
    let out = Command::new(oracle)
        .arg(binary)
        .output()
        .map_err(|e| format!("run {}: {e}", oracle.display()))?;
    if !out.status.success() {
        return Err(format!(
            "dwarfoffsets {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "dwarfoffsets {}: {e}: {:?}",
            binary.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// One toolchain's builds: the workload with and without DWARF, and the oracle.
struct Builds {
    version: String,
    normal: PathBuf,
    stripped: PathBuf,
    oracle: PathBuf,
}

fn build_all(go: &Path, version: &str) -> Result<Builds, String> {
    let bin = scratch().join("bin");
    let workloads = workspace().join("tests/workloads");
    let b = Builds {
        version: version.to_string(),
        normal: bin.join(format!("gostacks-{version}")),
        stripped: bin.join(format!("gostacks-{version}-stripped")),
        oracle: bin.join(format!("dwarfoffsets-{version}")),
    };
    build(go, &workloads, "./gostacks", &[], &b.normal)?;
    build(
        go,
        &workloads,
        "./gostacks",
        &["-ldflags=-s -w"],
        &b.stripped,
    )?;
    build(go, &workloads, "./dwarfoffsets", &[], &b.oracle)?;
    Ok(b)
}

/// The layout gotrace reads off `path`'s DWARF, and how long that took.
fn from_dwarf(path: &Path) -> (anyhow::Result<Option<GoRuntime>>, std::time::Duration) {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let t = Instant::now();
    let got = Elf::parse(&f).and_then(|elf| goruntime::layout_from_dwarf(&elf));
    (got, t.elapsed())
}

#[test]
fn dwarf_layouts_match_go_and_the_table() {
    let toolchains =
        toolchains::toolchains(&scratch().join("gopath")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(scratch().join("bin")).expect("create the scratch directory");
    let builds: Vec<Builds> = std::thread::scope(|s| {
        let handles: Vec<_> = toolchains
            .iter()
            .map(|(v, go)| s.spawn(move || build_all(go, v)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("build thread")
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    });

    let mut failures = Vec::new();
    for b in &builds {
        let v = &b.version;
        // With DWARF: what Go's debug/dwarf reads, and what the table says.
        let oracle = ask(&b.oracle, &b.normal).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(oracle.dwarf, "{v}: the normal build has no DWARF");
        let want = GoRuntime {
            g_goid: oracle.g_goid,
            keep_at_exec: 0,
        };
        let (got, took) = from_dwarf(&b.normal);
        eprintln!("{v}: the DWARF lookup took {took:?}");
        match got {
            Ok(Some(l)) if l == want => {}
            other => failures.push(format!("{v}: debug/dwarf says {want:?}, gotrace {other:?}")),
        }
        match goruntime::layout(v) {
            Ok(table) if table == want => {}
            other => failures.push(format!(
                "{v}: debug/dwarf says {want:?}, the table {other:?}"
            )),
        }
        let elf_file = File::open(&b.normal).expect("open the build");
        let elf = Elf::parse(&elf_file).expect("parse the build");
        match goruntime::layout_for(&elf, Some(v)) {
            Ok(l) if l == want => {}
            other => failures.push(format!("{v}: layout_for says {other:?}, not {want:?}")),
        }

        // Without DWARF: none read, so the table answers.
        let oracle = ask(&b.oracle, &b.stripped).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(!oracle.dwarf, "{v}: the -s -w build has DWARF");
        match from_dwarf(&b.stripped).0 {
            Ok(None) => {}
            other => failures.push(format!("{v} -s -w: DWARF gives {other:?}, not None")),
        }
        let elf_file = File::open(&b.stripped).expect("open the build");
        let elf = Elf::parse(&elf_file).expect("parse the build");
        let table = goruntime::layout(v);
        if goruntime::layout_for(&elf, Some(v)) != table || table.as_ref() != Ok(&want) {
            failures.push(format!(
                "{v} -s -w: layout_for says {:?}, the table {table:?}, debug/dwarf (of the \
                 normal build) {want:?}",
                goruntime::layout_for(&elf, Some(v))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
