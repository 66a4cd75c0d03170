//! `conformance ci`: what a CI job does with a run's reports (the pull-request comment).

use clap::Subcommand;
use harness::ci::{self, Commented, PullRequest};
use harness::HarnessError;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub(super) enum CiCommand {
    /// Add a run's Markdown report to the job's step summary (GITHUB_STEP_SUMMARY) and its
    /// headline to the step's outputs (GITHUB_OUTPUT): kind, passed, report-dir, and score
    /// (run), accuracy (eval) or p95-ms (latency). Without those variables, prints them.
    Summary {
        /// The run directory (reports/latest, or reports/<run-id>).
        #[arg(long)]
        report: PathBuf,
    },
    /// Write a run's Markdown report as the pull request's comment: created on the first run,
    /// edited on the next (one comment per report kind, found by a hidden marker). Reads
    /// GITHUB_API_URL, GITHUB_REPOSITORY and GITHUB_EVENT_PATH as GitHub Actions sets them;
    /// outside a pull request it does nothing.
    Comment {
        /// The run directory (reports/latest, or reports/<run-id>) with report.md, eval.md or
        /// latency.md.
        #[arg(long)]
        report: PathBuf,
        /// The environment variable holding the token (it needs `pull-requests: write`).
        #[arg(long, default_value = "GITHUB_TOKEN")]
        token_env: String,
    },
}

pub(super) async fn ci_command(command: CiCommand) -> Result<ExitCode, HarnessError> {
    match command {
        CiCommand::Summary { report } => {
            let (_, markdown) = ci::markdown_report(&report)?;
            let mut outputs = ci::outputs(&report)?;
            outputs.push(("report-dir", report.display().to_string()));
            let lines: String = outputs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            match (var("GITHUB_STEP_SUMMARY"), var("GITHUB_OUTPUT")) {
                (Some(summary), Some(output)) => {
                    append(&summary, &format!("{markdown}\n"))?;
                    append(&output, &lines)?;
                    outln!(
                        "step summary and outputs written: {}",
                        lines.trim().replace('\n', ", ")
                    );
                }
                _ => out!("{lines}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        CiCommand::Comment { report, token_env } => {
            let (kind, markdown) = ci::markdown_report(&report)?;
            let Some(pr) = PullRequest::from_env(std::env::vars())? else {
                outln!("not a pull request (GITHUB_EVENT_PATH names none): no comment");
                return Ok(ExitCode::SUCCESS);
            };
            let token = std::env::var(&token_env)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    HarnessError::Usage(format!(
                        "{token_env} is not set: give the job's token (with pull-requests: write)"
                    ))
                })?;
            let done = ci::comment(&pr, token.trim(), kind, &markdown).await?;
            let (verb, id) = match done {
                Commented::Created(id) => ("created", id),
                Commented::Updated(id) => ("updated", id),
            };
            outln!(
                "{verb} the {kind} comment {id} on {}#{}",
                pr.repository,
                pr.number
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A variable set and not empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Appends `text` to the file GitHub Actions named.
fn append(path: &str, text: &str) -> Result<(), HarnessError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| HarnessError::Io {
            context: format!("cannot write {path}"),
            source,
        })
}
