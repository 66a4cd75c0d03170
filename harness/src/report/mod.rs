//! Reports: each format of `run`'s report is one module; the `Report` trait gives `run`, `eval`
//! and `latency` one writer, and `latest` the pointer to the last run.

pub(crate) mod console;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod latest;
pub(crate) mod markdown;
pub(crate) mod md;

use crate::error::HarnessError;
use crate::result::RunResult;
use std::path::{Path, PathBuf};

/// A file report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `report.json`, described by `schemas/report.schema.json`.
    Json,
    /// `junit.xml` for CI test tabs.
    Junit,
    /// `report.md`, also fit for a CI step summary.
    Md,
    /// `report.html`, one self-contained page.
    Html,
}

/// How the document tools (`openapi diff`, `openapi validate`, `snapshot diff`) print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rendering {
    /// Plain text for terminals and logs.
    Text,
    /// One JSON document.
    Json,
    /// Markdown for pull requests and step summaries.
    #[value(name = "md")]
    Markdown,
}

/// What the one report writer needs of a command's result: `run`'s `RunResult`, `eval`'s
/// `Summary` and `latency`'s `LatencyReport` each give their run id, their verdict, and the
/// file of each format.
pub trait Report {
    /// The run's id: the name of its directory under the report directory.
    fn run_id(&self) -> &str;
    /// Whether every gate passed (exit 0).
    fn passed(&self) -> bool;
    /// The file `format` writes: its name in the run's directory, and its text.
    fn file(&self, format: Format) -> (&'static str, String);
    /// What the command prints when it ends: the summary for a terminal or a CI log.
    fn text(&self) -> String;
    /// Files written beside the reports whatever the formats (what a later merge reads).
    fn artifacts(&self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }
}

impl Report for RunResult {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn passed(&self) -> bool {
        !self.failed()
    }

    fn file(&self, format: Format) -> (&'static str, String) {
        match format {
            Format::Json => ("report.json", json::render(self)),
            Format::Junit => ("junit.xml", junit::render(self)),
            Format::Md => ("report.md", markdown::render(self)),
            Format::Html => ("report.html", html::render(self)),
        }
    }

    fn text(&self) -> String {
        console::render(self)
    }
}

/// The one report writer: the chosen formats of `report` into `<dir>/<run_id>/`, then
/// `<dir>/latest` pointed at it. Returns the paths written.
pub fn write(
    report: &dyn Report,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, HarnessError> {
    let written = write_into(report, &dir.join(report.run_id()), formats)?;
    latest::point(dir, report.run_id())?;
    Ok(written)
}

/// The chosen formats of `report` (and its artifacts) into `run_dir`, made if missing.
pub(crate) fn write_into(
    report: &dyn Report,
    run_dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, HarnessError> {
    std::fs::create_dir_all(run_dir).map_err(|source| HarnessError::Io {
        context: format!("cannot create the report directory {}", run_dir.display()),
        source,
    })?;
    let mut written = Vec::new();
    for format in formats {
        let (name, text) = report.file(*format);
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(|source| HarnessError::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })?;
        written.push(path);
    }
    for (name, bytes) in report.artifacts() {
        let path = run_dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| HarnessError::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
