//! What gotrace writes (the text summary, NDJSON, Perfetto) and reads back (`report`).
//! The words for durations, counts, signals and the like come from `crate::present`.
pub mod ndjson;
pub mod perfetto;
pub mod pprof;
pub mod prometheus;
pub mod report;
pub mod schema;
pub mod text;

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use anyhow::{bail, Context as _, Result};

/// Creates an output file safely when running as root: mode 0600, never through a
/// symlink, and an existing file is kept unless `force`. With `force` an existing file
/// is replaced, never written into: it is unlinked and a new one made (O_EXCL), so a
/// hard link to it elsewhere keeps its old contents and no old mode survives.
pub fn create_output(path: &Path, force: bool) -> Result<File> {
    if force
        && path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_file())
    {
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .create_new(true);
    match opts.open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                bail!(
                    "{} is a symlink: refusing to write through it",
                    path.display()
                );
            }
            if force {
                // Something not a regular file (a directory, a FIFO), or one made again
                // between the unlink and the create.
                bail!("{} exists and is not a regular file", path.display());
            }
            bail!(
                "{} already exists (use --force to overwrite it)",
                path.display()
            )
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            bail!(
                "{} is a symlink: refusing to write through it",
                path.display()
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_files_are_created_safely() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gotrace-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("t.ndjson");
        let _ = std::fs::remove_file(&p);
        drop(create_output(&p, false).expect("new file"));
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = create_output(&p, false).expect_err("exists");
        assert!(e.to_string().contains("already exists (use --force"), "{e}");
        // --force replaces: a hard link to the old file keeps its contents, and the new
        // file is 0600 whatever the old one's mode was.
        std::fs::write(&p, "old trace").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let hard = dir.join("hard.ndjson");
        let _ = std::fs::remove_file(&hard);
        std::fs::hard_link(&p, &hard).expect("hard link");
        {
            use std::io::Write as _;
            let mut f = create_output(&p, true).expect("forced");
            f.write_all(b"new trace").expect("write");
        }
        assert_eq!(std::fs::read_to_string(&hard).expect("read"), "old trace");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new trace");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = dir.join("link.ndjson");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&p, &link).expect("symlink");
        for force in [false, true] {
            let e = create_output(&link, force).expect_err("symlink");
            assert!(e.to_string().contains("is a symlink"), "{e}");
        }
        let e = create_output(Path::new("/nonexistent-dir/x.ndjson"), false).expect_err("no dir");
        assert!(
            format!("{e:#}").starts_with("cannot write /nonexistent-dir/x.ndjson"),
            "{e:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
