//! `cargo xtask bench`.
use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: &BenchArgs) -> Result<()> {
    bail!("bench: not written yet")
}
