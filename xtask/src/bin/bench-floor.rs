//! `bench-floor`: holds gotrace's floor for `cargo xtask bench`: empty raw_tp programs on
//! sys_enter and sys_exit (`tracer::probe::Floor`), the cost of the hooks alone.
//!
//! With the argument `clock`, each program also reads the clock once: the least a tracer
//! that times each call does.
//!
//! Prints `floor attached` on stdout once they are attached, keeps them attached until
//! its standard input closes (so they never outlive the bench that started it), then
//! detaches them and exits. Built only with the `floor` feature: it links the tracer
//! library, whose build needs the eBPF toolchain that `cargo xtask setup` installs.
use std::{io::Read as _, process::ExitCode};

use anyhow::{Context as _, Result};

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
    let clock = std::env::args().nth(1).as_deref() == Some("clock");
    let floor = tracer::probe::Floor::attach(clock).context("attach the floor programs")?;
    println!("floor attached");
    let mut sink = Vec::new();
    std::io::stdin()
        .read_to_end(&mut sink)
        .context("wait for standard input to close")?;
    drop(floor);
    Ok(())
}
