//! The `gotrace` command: command line -> run -> exit code. The binary is a call of
//! [`main`]; so is the copy the integration tests build for themselves.
use std::process::ExitCode;

use crate::cli::{self, Invocation, ParseOutcome};

/// gotrace's whole `main`.
pub fn main() -> ExitCode {
    let invocation = match cli::parse() {
        Ok(i) => i,
        Err(ParseOutcome::Clap(e)) => {
            if !e.use_stderr() {
                // --help, --version
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, not clap's usage block.
            let rendered = e.render().to_string();
            eprintln!("gotrace: {} (see gotrace --help)", first_line(&rendered));
            return ExitCode::from(2);
        }
        Err(ParseOutcome::Usage(e)) => {
            eprintln!("gotrace: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match invocation {
        Invocation::Trace(cfg) => crate::run(cfg),
        // Reads files only: no root, no preflight.
        Invocation::Report(r) => crate::export::report::run(&r),
        // Needs no root, except for --build.
        Invocation::Doctor(d) => crate::doctor::run(&d),
        // Generated from the command line's definition: no root, no preflight.
        Invocation::Completions(shell) => print_with(|out| cli::write_completions(shell, out)),
        Invocation::Man { dir } => print_with(|out| cli::write_man(dir.as_deref(), out)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // An error may quote what the target controls (its argv, a path).
            let msg = crate::errno::without_os_error_codes(&format!("{e:#}"));
            eprintln!("gotrace: {}", crate::export::text::terminal_safe(&msg));
            ExitCode::from(1)
        }
    }
}

/// Runs `write` on a locked, buffered stdout and flushes it.
fn print_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// clap's message in one line: "the following required arguments were not provided:"
/// is followed by the arguments on the next line.
fn first_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match (first.strip_suffix(':'), lines.next()) {
        (Some(head), Some(what)) if !what.starts_with("Usage:") => format!("{head}: {what}"),
        _ => first.to_string(),
    }
}
