//! The command line: each command's flags and their translation into one of the library's
//! configurations live in a module of their own; flag rules are clap attributes. This module
//! holds the command list, parses, and maps errors to exit codes.

/// `print!` to stdout, but a closed stdout (`conformance … | head`) ends the output quietly
/// instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!`, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod ci;
mod docs;
mod eval;
mod latency;
mod options;
mod progress;
mod run;

use docs::{CompatCommand, OpenapiCommand, SnapshotCommand};
use eval::EvalArgs;
use latency::LatencyArgs;
use run::{ProfileArg, RunArgs};

use clap::{Parser, Subcommand};
use harness::HarnessError;
use harness::Profile;
use std::process::ExitCode;

/// The conformance kit: checks that an OpenAI-compatible API is compatible, check by check.
#[derive(Debug, Parser)]
#[command(
    name = "conformance",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CONFORMANCE_GIT_COMMIT_SHOWN"), ")"),
    about,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the checks against a target (default: the embedded reference server).
    #[command(
        after_help = "Examples:\n  conformance run\n  OPENAI_API_KEY=... conformance run --target https://api.example.com/v1 --profile openai-core --json > verdicts.json"
    )]
    Run(Box<RunArgs>),
    /// Ask JSONL eval suites of a target, grade the answers, and gate on accuracy.
    #[command(
        after_help = "Examples:\n  conformance eval --min-accuracy 0.7\n  conformance eval --target https://api.example.com/v1 --model gpt-4o-mini --cases 'evals/*.jsonl' --baseline latest --fail-on-regression\n  conformance eval --compare targets.toml --fail-if-worse production\n  conformance eval --cases promptfooconfig.yaml --compare promptfooconfig.yaml"
    )]
    #[command(args_conflicts_with_subcommands = true)]
    Eval(Box<EvalArgs>),
    /// Load a target, measure latency (TTFT, ITL, percentiles) and gate on SLO budgets.
    #[command(
        after_help = "Examples:\n  conformance latency --duration 10s\n  conformance latency --target https://api.example.com/v1 --slo slo.toml --rate 20 --duration 2m --baseline latest --fail-on-regression"
    )]
    #[command(args_conflicts_with_subcommands = true)]
    Latency(Box<LatencyArgs>),
    /// Validate OpenAPI documents, or find breaking changes between two of them.
    #[command(
        subcommand,
        after_help = "Examples:\n  conformance openapi validate openapi.yaml --examples\n  conformance openapi diff --base old.yaml --cand new.yaml --format md"
    )]
    Openapi(OpenapiCommand),
    /// Compare a run's report.json with a server's expected verdicts, or render the table.
    #[command(
        subcommand,
        after_help = "Example:\n  conformance compat check --expect cases/compat/llmsim.toml --report reports/latest/report.json"
    )]
    Compat(CompatCommand),
    /// Report to a CI system: the pull request's comment of a run's report.
    #[command(
        subcommand,
        after_help = "Example (GitHub Actions, after a run):\n  conformance ci comment --report reports/latest"
    )]
    Ci(ci::CiCommand),
    /// Compare two recordings of shapes (`run --snapshots DIR`).
    #[command(
        subcommand,
        after_help = "Example:\n  conformance snapshot diff cases/snapshots/reference-server shapes/"
    )]
    Snapshot(SnapshotCommand),
    /// Print a completion script for a shell.
    #[command(
        after_help = "Examples:\n  conformance completions bash > ~/.local/share/bash-completion/completions/conformance\n  conformance completions zsh > \"${fpath[1]}/_conformance\"\n  conformance completions fish > ~/.config/fish/completions/conformance.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the check catalogue.
    #[command(after_help = "Example:\n  conformance list --profile openai-core")]
    List {
        /// Only checks of this profile and narrower ones.
        #[arg(long, value_enum, default_value = "facade")]
        profile: ProfileArg,
    },
}

/// Parses the arguments, runs the command, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance: {e}");
            e.exit_code()
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, HarnessError> {
    match cli.command {
        Command::List { profile } => {
            let profile: Profile = profile.into();
            for c in harness::catalogue().iter().filter(|c| c.profile <= profile) {
                outln!("{:<44} {:<12} {}", c.id, c.profile.name(), c.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "conformance",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::run_command(*args).await,
        Command::Eval(args) => eval::eval_command(*args).await,
        Command::Latency(args) => latency::latency_command(*args).await,
        Command::Openapi(command) => docs::openapi_command(command).await,
        Command::Compat(command) => docs::compat_command(command),
        Command::Ci(command) => ci::ci_command(command).await,
        Command::Snapshot(SnapshotCommand::Diff { a, b, format }) => {
            let diffs = harness::snapshots::diff_dirs(&a, &b).map_err(HarnessError::Usage)?;
            out!("{}", harness::snapshots::render(&a, &b, &diffs, format));
            Ok(if diffs.iter().any(|d| d.status != "same") {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
