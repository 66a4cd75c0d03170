//! Reports read only the `RunResult`; each format is one module.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;
pub mod latest;
pub mod markdown;
pub(crate) mod md;
pub(crate) mod text;

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

/// Writes the chosen formats into `<dir>/<run_id>/` and returns the paths.
pub fn write(
    result: &RunResult,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, HarnessError> {
    let run_dir = dir.join(&result.run_id);
    std::fs::create_dir_all(&run_dir).map_err(|source| HarnessError::Io {
        context: format!("cannot create the report directory {}", run_dir.display()),
        source,
    })?;
    let mut written = Vec::new();
    for format in formats {
        let (name, text) = match format {
            Format::Json => ("report.json", json::render(result)),
            Format::Junit => ("junit.xml", junit::render(result)),
            Format::Md => ("report.md", markdown::render(result)),
            Format::Html => ("report.html", html::render(result)),
        };
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(|source| HarnessError::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })?;
        written.push(path);
    }
    latest::point(dir, &result.run_id)?;
    Ok(written)
}

/// A report directory's name, shared by `run`, `eval` and `latency`: the UTC time and a short
/// random suffix (`20261130T031658Z-35385b`).
pub fn new_run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}
