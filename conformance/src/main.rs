//! `conformance`: the command line of the conformance kit. Its modules only turn arguments
//! into the library's configurations and call it; the work is in the `harness` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
