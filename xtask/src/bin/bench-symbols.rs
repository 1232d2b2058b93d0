//! `bench-symbols`: loads the symbol tables of one executable once, as gotrace does for
//! a traced Go program (`gotrace_model::gosym::Symbols::load`), for `cargo xtask bench`.
//!
//! `bench-symbols PATH` prints one line on stdout:
//!
//! ```text
//! load_ms=41.2 rss_delta_kib=7012 peak_rss_delta_kib=7100 functions=15234 elf_symbols=0 pclntab_bytes=6815744 funcdata_bytes=0 heap_bytes=6815744 inline_trees=1 symbolize_all_ms=9.8 frames=15234 symbolize_mid_ms=14.1 frames_mid=19870
//! ```
//!
//! - `load_ms`: wall time of opening the file and `Symbols::load`.
//! - `rss_delta_kib`: VmRSS after the load minus before it (/proc/self/status): the
//!   memory the tables hold. `peak_rss_delta_kib`: the highest RSS during the load (VmHWM,
//!   reset just before it through /proc/self/clear_refs when the kernel allows) minus
//!   the RSS before it.
//! - `functions`, `elf_symbols`, `*_bytes`, `inline_trees`: `Symbols::stats()` and
//!   `Symbols::has_inline_trees()`.
//! - `symbolize_all_ms`: `Symbols::frames` at every function's entry address, once each
//!   (after the RSS readings); `frames`: the frames those lookups returned.
//!   `symbolize_mid_ms` and `frames_mid`: the same at the middle of every function, as
//!   a return address inside it is looked up (there inlined calls are expanded).
//!
//! One load per process, so the RSS figures are the load's alone. Built only with the
//! `symbols` feature: xtask itself does not depend on gotrace's model.
use std::{fs, hint::black_box, process::ExitCode, time::Instant};

use anyhow::{bail, Context as _, Result};
use gotrace_model::gosym::Symbols;

fn main() -> ExitCode {
    match measure() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-symbols: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        bail!("usage: bench-symbols PATH");
    };
    // Resetting the peak needs Linux 4.0; without it the peak is the process's so far.
    let _ = fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS")?;

    let t0 = Instant::now();
    let file = fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let symbols = Symbols::load(&file).with_context(|| format!("load {}", path.display()))?;
    drop(file);
    let load = t0.elapsed();

    let after = status_kib("VmRSS")?;
    let peak = status_kib("VmHWM")?;
    let stats = symbols.stats();

    let ranges: Vec<(u64, u64)> = symbols.functions().map(|f| (f.entry, f.end)).collect();
    let lookups = |pc: fn(&(u64, u64)) -> u64| {
        let t = Instant::now();
        let frames: usize = ranges
            .iter()
            .map(|r| black_box(symbols.frames(pc(r))).len())
            .sum();
        (t.elapsed(), frames)
    };
    let (symbolize, frames) = lookups(|&(entry, _)| entry);
    let (symbolize_mid, frames_mid) = lookups(|&(entry, end)| entry + (end - entry) / 2);

    println!(
        "load_ms={:.3} rss_delta_kib={} peak_rss_delta_kib={} functions={} elf_symbols={} \
         pclntab_bytes={} funcdata_bytes={} heap_bytes={} inline_trees={} \
         symbolize_all_ms={:.3} frames={frames} symbolize_mid_ms={:.3} frames_mid={frames_mid}",
        load.as_secs_f64() * 1e3,
        after.saturating_sub(before),
        peak.max(after).saturating_sub(before),
        stats.go_functions,
        stats.elf_symbols,
        stats.pclntab_bytes,
        stats.funcdata_bytes,
        stats.heap_bytes(),
        u8::from(symbols.has_inline_trees()),
        symbolize.as_secs_f64() * 1e3,
        symbolize_mid.as_secs_f64() * 1e3,
    );
    Ok(())
}

/// A `kB` field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| *k == field)
        .and_then(|(_, v)| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}
