//! gotrace: an eBPF runtime tracer for Go programs.
//!
//! Data flows one way: probe (kernel) -> event::decode -> analysis::Analyzer ->
//! Snapshot -> export (text, NDJSON). Only `session` does I/O around the analyzer.
pub mod analysis;
pub mod cli;
pub mod context;
pub mod doctor;
pub mod errno;
pub mod event;
pub mod export;
pub mod probe;
pub mod session;
pub mod syscalls;
pub mod tracee;
pub mod tui;

pub use session::run;
