//! The `gotrace` binary: command line -> run -> exit code.
use std::process::ExitCode;

use tracer::cli::{self, ParseOutcome};

fn main() -> ExitCode {
    let cfg = match cli::parse() {
        Ok(cfg) => cfg,
        Err(ParseOutcome::Clap(e)) => {
            if !e.use_stderr() {
                // --help, --version
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, not clap's usage block.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("gotrace: {first} (see gotrace --help)");
            return ExitCode::from(2);
        }
        Err(ParseOutcome::Usage(e)) => {
            eprintln!("gotrace: {e}");
            return ExitCode::from(2);
        }
    };
    match tracer::run(cfg) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("gotrace: {}", without_os_error_codes(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// "No such file or directory (os error 2)" reads better without the number.
fn without_os_error_codes(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" (os error ") {
        out.push_str(&rest[..i]);
        match rest[i..].find(')') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}
