//! gotrace: an eBPF runtime tracer for Go programs.
//!
//! Data flows one way: probe (kernel) -> event::decode -> analysis::Analyzer ->
//! Snapshot -> export (text, NDJSON). Only `session` does I/O around the analyzer.
pub mod cli;
pub mod command;
pub mod context;
pub mod doctor;
pub mod hostwide;
pub mod metrics;
pub mod probe;
pub mod session;
pub mod tracee;
pub mod tui;

pub use gotrace_model::{analysis, errno, event, export, harvest, present, stack, syscalls};
pub use session::run;
