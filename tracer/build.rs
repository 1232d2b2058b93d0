//! Builds the eBPF programs (tracer-ebpf) for bpfel-unknown-none with aya-build; the
//! object lands in OUT_DIR and is embedded by `include_bytes_aligned!`.
use std::path::Path;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let root = Path::new(&manifest_dir)
        .parent()
        .context("tracer has no parent directory")?
        .join("tracer-ebpf");
    let root_dir = root.to_str().context("tracer-ebpf path is not UTF-8")?;
    let package = aya_build::Package {
        name: "tracer-ebpf",
        root_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::default())
}
