//! `cargo xtask install`: gotrace, its man pages and its shell completions under a prefix,
//! where man, bash-completion, zsh and fish look for them. The pages and the completion
//! scripts are made by the binary being installed (`gotrace man`, `gotrace completions`),
//! so they always describe it. Every file is replaced atomically (written beside its
//! destination, then renamed over it): a running gotrace, or a shell loading its
//! completions, never sees half a file, and installing again is harmless.
use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _, Result};

#[derive(clap::Args)]
pub struct InstallArgs {
    /// Install into PREFIX/bin, PREFIX/share/man/man1 and PREFIX/share's completion
    /// directories.
    #[arg(long, value_name = "DIR", default_value = "/usr/local")]
    pub prefix: PathBuf,
    /// Install this gotrace binary instead of building one (release).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

/// Where the binary goes, under the prefix.
const BIN: &str = "bin/gotrace";
/// Where the man pages go.
const MAN1: &str = "share/man/man1";
/// Each shell's completion script: `gotrace completions SHELL` -> where it goes.
const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "share/bash-completion/completions/gotrace"),
    ("zsh", "share/zsh/site-functions/_gotrace"),
    ("fish", "share/fish/vendor_completions.d/gotrace.fish"),
];

pub fn run(args: &InstallArgs) -> Result<()> {
    let prefix = std::path::absolute(&args.prefix)
        .with_context(|| format!("--prefix {}", args.prefix.display()))?;
    // Before a release build of minutes, not after it.
    check_writable(&prefix)?;
    let binary = match &args.binary {
        Some(b) => std::path::absolute(b).with_context(|| format!("--binary {}", b.display()))?,
        None => {
            crate::setup(&crate::SetupNeeds::default())?;
            crate::build_release()?
        }
    };
    for path in install(&binary, &prefix)? {
        println!("installed {}", path.display());
    }
    Ok(())
}

/// The directories an install writes to.
fn directories(prefix: &Path) -> Vec<PathBuf> {
    let parent = |file: &str| prefix.join(file).parent().map(Path::to_path_buf);
    let mut dirs: Vec<PathBuf> = parent(BIN).into_iter().collect();
    dirs.push(prefix.join(MAN1));
    dirs.extend(COMPLETIONS.iter().filter_map(|(_, to)| parent(to)));
    dirs
}

/// Creates the install's directories and checks that files can be made in each.
fn check_writable(prefix: &Path) -> Result<()> {
    for dir in directories(prefix) {
        let probe = dir.join(format!(".gotrace-install-probe.{}", std::process::id()));
        let _ = fs::remove_file(&probe);
        let made = fs::create_dir_all(&dir).and_then(|()| {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .map(drop)
        });
        if let Err(e) = made {
            let hint = match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    "; install as root (sudo cargo xtask install) or into a prefix of your own \
                     (--prefix ~/.local)"
                }
                _ => "",
            };
            bail!("cannot write to {}: {e}{hint}", dir.display());
        }
        let _ = fs::remove_file(&probe);
    }
    Ok(())
}

/// Installs `binary` and what it generates under `prefix`; returns the files installed,
/// the binary first. Everything is generated before anything is replaced.
pub fn install(binary: &Path, prefix: &Path) -> Result<Vec<PathBuf>> {
    let version = output(binary, &["--version"])?;
    let version = String::from_utf8_lossy(&version);
    if !version.starts_with("gotrace ") {
        bail!(
            "{} is not gotrace: --version printed {:?}",
            binary.display(),
            version.trim()
        );
    }
    crate::step(&format!(
        "installing {} from {} into {}",
        version.trim(),
        binary.display(),
        prefix.display()
    ));

    let mut files: Vec<(PathBuf, Vec<u8>)> = man_pages(binary)?
        .into_iter()
        .map(|(name, page)| (prefix.join(MAN1).join(name), page))
        .collect();
    for (shell, to) in COMPLETIONS {
        files.push((prefix.join(to), output(binary, &["completions", shell])?));
    }

    let bin = prefix.join(BIN);
    replace(&bin, 0o755, |out| {
        let mut from =
            fs::File::open(binary).with_context(|| format!("open {}", binary.display()))?;
        io::copy(&mut from, out).with_context(|| format!("read {}", binary.display()))?;
        Ok(())
    })?;
    let mut installed = vec![bin];
    for (path, content) in files {
        replace(&path, 0o644, |out| Ok(out.write_all(&content)?))?;
        installed.push(path);
    }
    Ok(installed)
}

/// `binary man --dir`: every page, as (file name, roff), in name order.
fn man_pages(binary: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    // A new directory of our own (never one that is already there: /tmp is shared).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("gotrace-man.{}.{nanos}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let pages = output(binary, &["man", "--dir", &dir.display().to_string()]).and_then(|_| {
        let mut pages = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("a man page named {}", path.display()))?
                .to_string();
            pages.push((name, fs::read(&path)?));
        }
        pages.sort();
        Ok(pages)
    });
    let _ = fs::remove_dir_all(&dir);
    let pages = pages?;
    if !pages.iter().any(|(name, _)| name == "gotrace.1") {
        bail!("`{} man` wrote no gotrace.1", binary.display());
    }
    Ok(pages)
}

/// What `binary args` prints on stdout; an error with its stderr when it fails.
fn output(binary: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let shown = format!("{} {}", binary.display(), args.join(" "));
    let out = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Replaces `path` with what `write` writes, with permissions `mode`: written to a
/// temporary file in the same directory, then renamed over `path`.
fn replace(path: &Path, mode: u32, write: impl FnOnce(&mut fs::File) -> Result<()>) -> Result<()> {
    let dir = path.parent().context("a file to install has a directory")?;
    let name = path
        .file_name()
        .context("a file to install has a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.install.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| -> Result<()> {
        fs::create_dir_all(dir)?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        write(&mut file)?;
        // The umask may have taken bits off.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("install {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = crate::root()
            .join("target/test-scratch")
            .join(format!("xtask-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("create scratch dir");
        d
    }

    /// Every file under `dir`, relative to it, with its permission bits.
    fn tree(dir: &Path) -> Vec<(String, u32)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
            for e in fs::read_dir(dir).expect("read dir") {
                let path = e.expect("entry").path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let mode = fs::metadata(&path).expect("stat").permissions().mode();
                    let rel = path.strip_prefix(root).expect("under root");
                    out.push((rel.display().to_string(), mode & 0o7777));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    /// A stand-in for gotrace that answers what install asks of it.
    fn fake_gotrace(dir: &Path) -> PathBuf {
        let bin = dir.join("fake-gotrace");
        fs::write(
            &bin,
            r#"#!/bin/sh
case "$1" in
--version) echo "gotrace 9.9.9" ;;
man) [ "$2" = --dir ] || exit 2
     echo main > "$3/gotrace.1"; echo report > "$3/gotrace-report.1" ;;
completions) echo "completion for $2" ;;
*) exit 2 ;;
esac
"#,
        )
        .expect("write");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o700)).expect("chmod");
        bin
    }

    #[test]
    fn installs_the_layout_and_again_over_it() {
        let dir = scratch("install-layout");
        let bin = fake_gotrace(&dir);
        let prefix = dir.join("prefix");
        let want_files = [
            ("bin/gotrace", 0o755),
            ("share/bash-completion/completions/gotrace", 0o644),
            ("share/fish/vendor_completions.d/gotrace.fish", 0o644),
            ("share/man/man1/gotrace-report.1", 0o644),
            ("share/man/man1/gotrace.1", 0o644),
            ("share/zsh/site-functions/_gotrace", 0o644),
        ]
        .map(|(p, m)| (p.to_string(), m));
        let want_order = [
            "bin/gotrace",
            "share/man/man1/gotrace-report.1",
            "share/man/man1/gotrace.1",
            "share/bash-completion/completions/gotrace",
            "share/zsh/site-functions/_gotrace",
            "share/fish/vendor_completions.d/gotrace.fish",
        ]
        .map(|p| prefix.join(p));
        for round in ["first", "again"] {
            check_writable(&prefix).expect("writable");
            let installed = install(&bin, &prefix).expect("install");
            assert_eq!(installed, want_order, "{round}");
            assert_eq!(
                tree(&prefix),
                want_files,
                "{round}: nothing else left behind"
            );
            let read = |p: &str| fs::read_to_string(prefix.join(p)).expect("read");
            assert_eq!(read("bin/gotrace"), fs::read_to_string(&bin).expect("read"));
            assert_eq!(read("share/man/man1/gotrace.1"), "main\n");
            assert_eq!(
                read("share/zsh/site-functions/_gotrace"),
                "completion for zsh\n"
            );
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn replace_swaps_whole_files() {
        let dir = scratch("install-replace");
        let path = dir.join("f");
        fs::write(&path, "old").expect("write");
        let before = fs::File::open(&path).expect("open");
        replace(&path, 0o640, |f| Ok(f.write_all(b"new")?)).expect("replace");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(tree(&dir), [("f".to_string(), 0o640)]);
        // An open reader keeps the file it opened.
        assert_eq!(io::read_to_string(before).expect("read"), "old");
        // A failed write leaves the old file and no temporary one.
        let err = replace(&path, 0o644, |_| bail!("no space")).expect_err("fails");
        assert_eq!(
            format!("{err:#}"),
            format!("install {}: no space", path.display())
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(tree(&dir), [("f".to_string(), 0o640)]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_prefix_is_refused_before_anything_is_built() {
        let dir = scratch("install-unwritable");
        let file = dir.join("file");
        fs::write(&file, "").expect("write");
        let err = check_writable(&file.join("prefix")).expect_err("not a directory");
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot write to {}: Not a directory (os error 20)",
                file.join("prefix/bin").display()
            )
        );
        // A broken binary installs nothing.
        let prefix = dir.join("prefix");
        let err = install(&file, &prefix).expect_err("not a program");
        assert!(format!("{err:#}").starts_with("run "), "{err:#}");
        assert!(!prefix.exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
