//! The `gotrace` binary.
fn main() -> std::process::ExitCode {
    tracer::command::main()
}
