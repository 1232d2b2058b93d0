//! gotrace itself (its `main` is `tracer::command::main`), built by Cargo for the
//! integration tests, which run it as `CARGO_BIN_EXE_gotrace-under-test`: never a stale
//! `target/debug/gotrace` left from an earlier build.
fn main() -> std::process::ExitCode {
    tracer::command::main()
}
