//! Where a Go program keeps what gotrace reads in it while it runs: the offset of
//! `runtime.g.goid`.
//!
//! [`layout_for`] takes it from the binary's own DWARF first ([`layout_from_dwarf`],
//! read by [`crate::godwarf`]): right for whichever Go built it, with no table to keep
//! up. A binary without DWARF (built with `-ldflags=-w` or `-s`, or stripped) gets it
//! from the per-version table below ([`layout`]), which holds the amd64 offsets read off
//! each toolchain's DWARF (`debug/dwarf` on a program built by it; the tests check the
//! table and [`layout_from_dwarf`] against the DWARF of the same workload built by each
//! installed Go):
//!
//! | Go        | g.goid |
//! |-----------|--------|
//! | 1.21–1.22 | 152    |
//! | 1.23–1.24 | 160    |
//! | 1.25–1.27 | 152    |
//!
//! (`goid` moved 8 bytes later in 1.23, and back in 1.25.) Without DWARF, a version
//! outside the table is refused, not guessed: a wrong offset would name the wrong
//! goroutine.
use tracer_common::GoRuntime;

use crate::{
    elf::{Elf, Source},
    godwarf,
};

/// The oldest and newest minor versions the table knows.
pub const KNOWN_MINORS: std::ops::RangeInclusive<u32> = 21..=27;

/// The layout the DWARF of `elf` describes; `None` when it has no DWARF or no
/// `runtime.g` type. An error when the DWARF cannot be read or describes `runtime.g`
/// without `goid`, or with an offset that does not fit.
pub fn layout_from_dwarf<S: Source + ?Sized>(
    elf: &Elf<'_, S>,
) -> anyhow::Result<Option<GoRuntime>> {
    let Some(o) = godwarf::runtime_offsets(elf)? else {
        return Ok(None);
    };
    let fit = |n: u64| u32::try_from(n).map_err(|_| anyhow::anyhow!("offset {n} out of range"));
    Ok(Some(GoRuntime {
        g_goid: fit(o.g_goid)?,
        keep_at_exec: 0,
    }))
}

/// The layout of the Go program `elf`, whose build info names Go `version` (`None`
/// when it could not be read): from its DWARF when it has some, else from the table
/// for `version`. DWARF that cannot be read is passed over for the table (and named in
/// the error when the table has no answer either).
pub fn layout_for<S: Source + ?Sized>(
    elf: &Elf<'_, S>,
    version: Option<&str>,
) -> Result<GoRuntime, String> {
    let dwarf = match layout_from_dwarf(elf) {
        Ok(Some(l)) => return Ok(l),
        Ok(None) => None,
        Err(e) => Some(format!("{e:#}")),
    };
    let table = match version {
        Some(v) => layout(v),
        None => Err("no Go version in its build info".to_string()),
    };
    table.map_err(|why| match dwarf {
        Some(bad) => format!("{why}; and its DWARF cannot be read: {bad}"),
        None => format!("{why}, and it has no DWARF describing runtime.g"),
    })
}

/// The layout of Go `version` ("go1.23.9", "go1.27rc1", "go1.22") by the table, or why
/// not.
pub fn layout(version: &str) -> Result<GoRuntime, String> {
    let minor =
        minor_version(version).ok_or_else(|| format!("cannot read the Go version {version:?}"))?;
    let g_goid = match minor {
        21 | 22 => 152,
        23 | 24 => 160,
        25..=27 => 152,
        _ => {
            return Err(format!(
                "{version}: gotrace knows the goroutine layout of Go 1.{} to 1.{} only",
                KNOWN_MINORS.start(),
                KNOWN_MINORS.end()
            ))
        }
    };
    Ok(GoRuntime {
        g_goid,
        keep_at_exec: 0,
    })
}

/// The minor version of "go1.N[.P|rcK|betaK][ suffix]".
pub fn minor_version(version: &str) -> Option<u32> {
    let rest = version.strip_prefix("go1.")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(layout("go1.22.10").unwrap().g_goid, 152);
        assert_eq!(layout("go1.23.9").unwrap().g_goid, 160);
        assert_eq!(layout("go1.24.11").unwrap().g_goid, 160);
        assert_eq!(layout("go1.25rc1").unwrap().g_goid, 152);
        assert_eq!(layout("go1.27.3 X:nocoverageredesign").unwrap().g_goid, 152);
        assert_eq!(
            layout("go1.21.13").unwrap(),
            GoRuntime {
                g_goid: 152,
                keep_at_exec: 0
            }
        );
        let refused = layout("go1.20.7").unwrap_err();
        assert!(refused.contains("1.21 to 1.27"), "{refused}");
        assert!(layout("go1.28").is_err());
        assert!(layout("devel +abc").is_err());
        assert_eq!(minor_version("go1.9"), Some(9));
        assert_eq!(minor_version("go2"), None);
    }
}
