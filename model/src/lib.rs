//! gotrace's model: what a trace is, independent of how it is collected.
//!
//! Data flows one way: the kernel's records are decoded into [`event`]s, the
//! [`analysis::Analyzer`] owns all state and answers with a [`analysis::Snapshot`], and
//! [`export`] renders snapshots (text summary, NDJSON, Perfetto) and reads traces back
//! (`report`); [`present`] words durations, counts, exit statuses and the like for both
//! the text summary and the dashboard. This crate needs no eBPF toolchain, no async
//! runtime and no terminal: the `tracer` crate collects (probe, session) and shows
//! (dashboard), and re-exports these modules under the same names.
pub mod analysis;
pub mod elf;
pub mod errno;
pub mod event;
pub mod export;
pub mod godwarf;
pub mod goruntime;
pub mod gosym;
pub mod harvest;
pub mod mounts;
pub mod present;
pub mod procfs;
pub mod stack;
pub mod syscalls;
pub mod time;
