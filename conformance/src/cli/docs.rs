//! The commands about documents and recordings: `openapi`, `compat`, `snapshot`.

use clap::Subcommand;
use harness::{HarnessError, Rendering};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub(super) enum OpenapiCommand {
    /// Check the structure of an OpenAPI 3.0 or 3.1 document (file or URL, YAML or JSON).
    Validate {
        /// The document.
        file: String,
        /// Also check every example against its schema (parameters, headers, bodies, and each
        /// event of a text/event-stream example against x-sse-data-schema).
        #[arg(long)]
        examples: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Rendering,
    },
    /// List the changes from --base to --cand; exit 1 when any is breaking.
    Diff {
        /// The old document (file or URL).
        #[arg(long)]
        base: String,
        /// The new document (file or URL).
        #[arg(long)]
        cand: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Rendering,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotCommand {
    /// List the shape differences between two recordings (say, a vendor and the reference
    /// server, or last month's and today's); exit 1 when they differ.
    Diff {
        /// The first recording.
        a: PathBuf,
        /// The second recording.
        b: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Rendering,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum CompatCommand {
    /// Exit 1 when the report differs from the expectation (a new failure, a new pass, a
    /// changed reason, a check added or gone).
    Check {
        /// The expectation, e.g. cases/compat/llmsim.toml.
        #[arg(long)]
        expect: String,
        /// The run's report.json.
        #[arg(long)]
        report: String,
        /// Rewrite the expectation from the report instead (reasons that still hold are kept;
        /// new ones are "TODO" until a person writes why each is a true deviation).
        #[arg(long)]
        update: bool,
    },
    /// Print docs/compatibility.md from expectations, one column per file.
    Render {
        /// Expectation files, in column order.
        #[arg(long, required = true)]
        expect: Vec<String>,
    },
}

pub(super) async fn openapi_command(command: OpenapiCommand) -> Result<ExitCode, HarnessError> {
    match command {
        OpenapiCommand::Validate {
            file,
            examples,
            format,
        } => {
            let doc = harness::openapi::load(&file).await?;
            let mut findings = harness::openapi::validate(&doc);
            if examples {
                findings.extend(harness::openapi::validate_examples(&doc));
            }
            out!(
                "{}",
                harness::openapi::render_findings(&file, &doc, &findings, format)
            );
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        OpenapiCommand::Diff { base, cand, format } => {
            let (b, c) = (
                harness::openapi::load(&base).await?,
                harness::openapi::load(&cand).await?,
            );
            let diff = harness::openapi::diff(&b, &c);
            out!("{}", harness::openapi::render_diff(&diff, format));
            Ok(if diff.has_breaking() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

pub(super) fn compat_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_owned(), |s| s.to_string_lossy().into_owned())
}

pub(super) fn compat_command(command: CompatCommand) -> Result<ExitCode, HarnessError> {
    use harness::compat;
    match command {
        CompatCommand::Check {
            expect,
            report,
            update: true,
        } => {
            let previous = std::fs::read_to_string(&expect)
                .ok()
                .and_then(|t| toml::from_str::<compat::Expectation>(&t).ok());
            let next = compat::from_report(
                previous.as_ref(),
                &compat_name(&expect),
                &compat::load_report(&report)?,
            );
            let text = toml::to_string_pretty(&next)
                .map_err(|e| HarnessError::Usage(format!("cannot write {expect}: {e}")))?;
            std::fs::write(&expect, text).map_err(|source| HarnessError::Io {
                context: format!("cannot write {expect}"),
                source,
            })?;
            outln!("{expect}: rewritten from {report}; write a `why` for every TODO");
            Ok(ExitCode::SUCCESS)
        }
        CompatCommand::Check { expect, report, .. } => {
            let expectation = compat::load(&expect)?;
            let diffs = compat::compare(&expectation, &compat::load_report(&report)?);
            for d in &diffs {
                outln!("{}: {}: {}", compat_name(&expect), d.id, d.what);
            }
            outln!(
                "{}: {} against {expect}",
                compat_name(&expect),
                match diffs.len() {
                    0 => "every verdict as expected".to_owned(),
                    n => kit_formats::plural(n, "difference", "differences"),
                }
            );
            Ok(if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        CompatCommand::Render { expect } => {
            let mut all = Vec::new();
            for path in &expect {
                all.push((compat_name(path), compat::load(path)?));
            }
            out!("{}", compat::render(&all));
            Ok(ExitCode::SUCCESS)
        }
    }
}
