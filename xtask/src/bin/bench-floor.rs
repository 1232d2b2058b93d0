//! `bench-floor`: holds gotrace's floor for `cargo xtask bench`: empty raw_tp programs on
//! sys_enter and sys_exit (`tracer::probe::Floor`), the cost of the hooks alone.
//!
//! Arguments, in any order: `clock`: each program also reads the clock once (the least
//! a tracer that times each call does); `all`: the same program is also attached to
//! every other raw tracepoint gotrace attaches on this kernel (the scheduler's switch
//! and wakeups, the process lifecycle, signals, io_uring), the cost of all its hooks.
//!
//! Prints `floor attached: HOOK...` (the raw tracepoints attached) on stdout once they
//! are attached, keeps them attached until its standard input closes (so they never
//! outlive the bench that started it), then detaches them and exits. Built only with the
//! `floor` feature: it links the tracer library, whose build needs the eBPF toolchain
//! that `cargo xtask setup` installs.
use std::{io::Read as _, process::ExitCode};

use anyhow::{bail, Context as _, Result};

fn main() -> ExitCode {
    match hold() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hold() -> Result<()> {
    let (mut clock, mut all) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "clock" => clock = true,
            "all" => all = true,
            other => bail!("unknown argument {other:?} (expected `clock` and/or `all`)"),
        }
    }
    let floor = tracer::probe::Floor::attach(clock, all).context("attach the floor programs")?;
    println!("floor attached: {}", floor.hooks().join(" "));
    let mut sink = Vec::new();
    std::io::stdin()
        .read_to_end(&mut sink)
        .context("wait for standard input to close")?;
    drop(floor);
    Ok(())
}
