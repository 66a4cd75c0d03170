//! The shipped eval suites (`cases/evals/`), built into the binary so that `conformance eval`
//! works from any directory: they are used when no `--cases` is given and the current
//! directory has no `cases/evals/`.

use super::case::{self, Api, Suite};
use crate::error::HarnessError;

/// The suites, by file name, as shipped.
const SUITES: [(&str, &str); 5] = [
    (
        "arithmetic.jsonl",
        include_str!("../../../cases/evals/arithmetic.jsonl"),
    ),
    (
        "conversation.jsonl",
        include_str!("../../../cases/evals/conversation.jsonl"),
    ),
    (
        "instructions.jsonl",
        include_str!("../../../cases/evals/instructions.jsonl"),
    ),
    (
        "structured.jsonl",
        include_str!("../../../cases/evals/structured.jsonl"),
    ),
    (
        "tools.jsonl",
        include_str!("../../../cases/evals/tools.jsonl"),
    ),
];

/// How reports name the built-in suites.
pub const LABEL: &str = "the built-in suites, as shipped in cases/evals/";

/// The built-in suites, each named `built-in:<file>` in messages.
pub fn load(api: Option<Api>) -> Result<Vec<Suite>, HarnessError> {
    SUITES
        .iter()
        .map(|(name, text)| {
            case::parse(&format!("built-in:{name}"), text, &case::Reading::api(api)).map_err(
                |errors| {
                    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    HarnessError::Usage(shown.join("\n"))
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_suite_is_built_in_and_reads() {
        let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .count()
            });
        assert_eq!(
            shipped.ok(),
            Some(super::SUITES.len()),
            "a suite was added to cases/evals/ but not here"
        );
        let suites = super::load(None).map_err(|e| e.to_string());
        assert_eq!(suites.map(|s| s.len()), Ok(super::SUITES.len()));
    }
}
