//! `conformance`: the harness binary; all logic is in the library.

fn main() -> std::process::ExitCode {
    harness::cli::main()
}
