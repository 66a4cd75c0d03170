//! The machine-readable report.

use crate::run::RunResult;

/// Pretty JSON of the whole result.
pub fn render(result: &RunResult) -> String {
    serde_json::to_string_pretty(result)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise the report: {e}\"}}"))
}
