//! Compatibility evidence: a committed expectation per third-party server (every check's
//! outcome, and for each failure what the check expected and why that is a true deviation
//! from OpenAI's documented API), compared with a run's `report.json`, and rendered as the
//! table in `docs/compatibility.md`.

use crate::error::HarnessError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a server is expected to do, check by check (`cases/compat/<server>.toml`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The server and its version, as installed by `scripts/compat.sh`.
    pub server: String,
    /// How it is run (for the reader).
    pub setup: String,
    /// Every check of the run, by id.
    pub checks: BTreeMap<String, Expected>,
}

/// One check's expected outcome.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `passed`, `failed`, `precondition_failed`, `errored` or `skipped`.
    pub outcome: String,
    /// For a failure: what the check expected (the report's `expected`), numbers masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For a failure or a skip: why it is a true deviation (or why the check cannot apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A difference between a run and its expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    /// The check.
    pub id: String,
    /// What changed.
    pub what: String,
}

/// The outcomes that need a reason.
fn needs_why(outcome: &str) -> bool {
    outcome != "passed"
}

/// What a check expected, with the parts that vary between runs (numbers, generated ids)
/// masked, so a changed reason is a changed check and not a changed id.
pub(crate) fn mask(text: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        // Generated ids are long or digit-heavy (resp_0a1b…, base64); names such as
        // "embedding-response-base64" are neither.
        let digits = word.chars().filter(char::is_ascii_digit).count();
        let generated = word.len() >= 32 || (word.len() >= 12 && digits >= 4);
        if generated {
            out.push_str("<id>");
        } else {
            let mut last_digit = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('#');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Reads an expectation file.
pub fn load(path: &str) -> Result<Expectation, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io {
        context: format!("cannot read {path}"),
        source,
    })?;
    let expectation: Expectation = toml::from_str(&text)
        .map_err(|e| HarnessError::Usage(crate::text::toml_error(path, &text, &e)))?;
    for (id, e) in &expectation.checks {
        let known = [
            "passed",
            "failed",
            "precondition_failed",
            "errored",
            "skipped",
        ];
        if !known.contains(&e.outcome.as_str()) {
            return Err(HarnessError::Usage(format!(
                "{path}: {id}: outcome {:?} is not one of {known:?}",
                e.outcome
            )));
        }
        if needs_why(&e.outcome)
            && e.why
                .as_deref()
                .is_none_or(|w| w.trim().is_empty() || w.trim() == "TODO")
        {
            return Err(HarnessError::Usage(format!(
                "{path}: {id} is expected to be {} but says no `why` (why is it a true deviation?)",
                e.outcome
            )));
        }
    }
    Ok(expectation)
}

/// Reads a `report.json`.
pub fn load_report(path: &str) -> Result<Value, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io {
        context: format!("cannot read {path}"),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| HarnessError::Usage(format!("{path} is not a JSON report: {e}")))
}

/// One check of a report, as compared.
struct Observed {
    id: String,
    outcome: String,
    /// What the check expected, masked (numbers and ids as `#`).
    expected: Option<String>,
    /// What the check saw instead, unmasked: shown with a changed outcome, so a CI log says
    /// why (a transport error, a new status) without the report at hand.
    seen: Option<String>,
}

/// Each check in a report.
fn observed(report: &Value) -> Vec<Observed> {
    report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| Observed {
                    id: c["id"].as_str().unwrap_or("?").to_owned(),
                    outcome: c["status"].as_str().unwrap_or("?").to_owned(),
                    expected: c["expected"].as_str().map(mask),
                    seen: c["seen"].as_str().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every way `report` differs from `expectation`: a check that changed outcome or reason, a
/// check the expectation does not know, and an expected check the run did not have.
pub fn compare(expectation: &Expectation, report: &Value) -> Vec<VerdictChange> {
    let mut diffs = Vec::new();
    let seen = observed(report);
    if seen.is_empty() {
        diffs.push(VerdictChange {
            id: "-".into(),
            what: "the report has no checks".into(),
        });
    }
    for Observed {
        id,
        outcome,
        expected,
        seen: saw,
    } in &seen
    {
        let Some(want) = expectation.checks.get(id) else {
            diffs.push(VerdictChange {
                id: id.clone(),
                what: format!("new check, {outcome}; add it to the expectation"),
            });
            continue;
        };
        if want.outcome != *outcome {
            diffs.push(VerdictChange {
                id: id.clone(),
                what: match saw {
                    Some(saw) => format!(
                        "expected {}, got {outcome}: {}",
                        want.outcome,
                        crate::text::clean(saw, 300)
                    ),
                    None => format!("expected {}, got {outcome}", want.outcome),
                },
            });
        } else if matches!(
            outcome.as_str(),
            "failed" | "precondition_failed" | "errored"
        ) && want.expected != *expected
        {
            diffs.push(VerdictChange {
                id: id.clone(),
                what: format!(
                    "fails for another reason: expected {:?}, now {:?}",
                    want.expected.as_deref().unwrap_or(""),
                    expected.as_deref().unwrap_or("")
                ),
            });
        }
    }
    for id in expectation.checks.keys() {
        if !seen.iter().any(|s| s.id == *id) {
            diffs.push(VerdictChange {
                id: id.clone(),
                what: "expected in the run, but it did not run".into(),
            });
        }
    }
    diffs
}

/// An expectation that matches `report`, keeping the `why` of checks whose outcome and
/// reason did not change (new reasons get `why = "TODO"`, which `load` refuses).
pub fn from_report(previous: Option<&Expectation>, server: &str, report: &Value) -> Expectation {
    let mut checks = BTreeMap::new();
    for Observed {
        id,
        outcome,
        expected,
        ..
    } in observed(report)
    {
        let old = previous.and_then(|p| p.checks.get(&id));
        let expected = expected.filter(|_| outcome != "passed" && outcome != "skipped");
        let why = if needs_why(&outcome) {
            Some(
                old.filter(|o| o.outcome == outcome && o.expected == expected)
                    .and_then(|o| o.why.clone())
                    .unwrap_or_else(|| "TODO".into()),
            )
        } else {
            None
        };
        checks.insert(
            id,
            Expected {
                outcome,
                expected,
                why,
            },
        );
    }
    Expectation {
        server: previous.map_or_else(|| server.to_owned(), |p| p.server.clone()),
        setup: previous.map_or_else(String::new, |p| p.setup.clone()),
        checks,
    }
}

fn cell(outcome: &str) -> &'static str {
    match outcome {
        "passed" => "pass",
        "failed" => "**FAIL**",
        "precondition_failed" => "prec",
        "errored" => "err",
        "skipped" => "skip",
        _ => "?",
    }
}

/// The Markdown table of checks by server, with every failure's reason below it.
pub fn render(expectations: &[(String, Expectation)]) -> String {
    let mut out = String::from(
        "# Compatibility of third-party servers\n\n\
         Generated by `scripts/compat.sh` from `cases/compat/*.toml`, which the script checks\n\
         against a fresh `conformance run --profile open-responses` of each server; do not edit.\n\n",
    );
    for (name, e) in expectations {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in e.checks.values() {
            *counts.entry(c.outcome.as_str()).or_default() += 1;
        }
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = writeln!(
            out,
            "- **{name}**: {} — {}; run as: {}",
            e.server,
            summary.join(", "),
            e.setup
        );
    }
    let mut ids: Vec<&String> = expectations
        .iter()
        .flat_map(|(_, e)| e.checks.keys())
        .collect();
    ids.sort();
    ids.dedup();
    let _ = write!(out, "\n| check |");
    for (name, _) in expectations {
        let _ = write!(out, " {name} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in expectations {
        out.push_str("---|");
    }
    out.push('\n');
    for id in &ids {
        let _ = write!(out, "| `{id}` |");
        for (_, e) in expectations {
            let _ = write!(
                out,
                " {} |",
                e.checks.get(*id).map_or("—", |c| cell(&c.outcome))
            );
        }
        out.push('\n');
    }
    for (name, e) in expectations {
        let _ = writeln!(out, "\n## {name}: why each check does not pass\n");
        let mut any = false;
        for (id, c) in e.checks.iter().filter(|(_, c)| c.outcome != "passed") {
            any = true;
            let _ = writeln!(
                out,
                "- `{id}` ({}): {}",
                c.outcome.replace('_', " "),
                c.why.as_deref().unwrap_or("")
            );
        }
        if !any {
            out.push_str("Every check passes.\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expectation(checks: &[(&str, &str, Option<&str>)]) -> Expectation {
        Expectation {
            server: "s 1.0".into(),
            setup: "s serve".into(),
            checks: checks
                .iter()
                .map(|(id, outcome, expected)| {
                    (
                        (*id).to_owned(),
                        Expected {
                            outcome: (*outcome).into(),
                            expected: expected.map(str::to_owned),
                            why: (*outcome != "passed").then(|| "because".into()),
                        },
                    )
                })
                .collect(),
        }
    }

    fn report(checks: &[(&str, &str, Option<&str>)]) -> Value {
        json!({"checks": checks.iter().map(|(id, status, expected)| {
            let mut c = json!({"id": id, "status": status});
            if let Some(e) = expected { c["expected"] = json!(e); }
            c
        }).collect::<Vec<_>>()})
    }

    #[test]
    fn numbers_and_generated_ids_are_masked() {
        assert_eq!(
            mask("previous_response_id \"resp_0a1b2c3d4e5f6789\" echoed, 64 floats"),
            "previous_response_id \"<id>\" echoed, # floats"
        );
        assert_eq!(
            mask("schemas/embedding-response-base64.schema.json"),
            "schemas/embedding-response-base#.schema.json"
        );
    }

    #[test]
    fn a_changed_outcome_says_what_the_check_saw() {
        let e = expectation(&[("a.x", "precondition_failed", Some("# vectors"))]);
        let r = json!({"checks": [{"id": "a.x", "status": "errored", "expected": "a response",
            "seen": "request to http://h/v1/embeddings failed: connection closed before message completed"}]});
        let d = compare(&e, &r);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            d[0].what,
            "expected precondition_failed, got errored: request to http://h/v1/embeddings failed: \
             connection closed before message completed"
        );
    }

    #[test]
    fn a_matching_run_has_no_differences() {
        let e = expectation(&[("a.x", "passed", None), ("a.y", "failed", Some("HTTP #"))]);
        let r = report(&[("a.x", "passed", None), ("a.y", "failed", Some("HTTP 200"))]);
        assert!(compare(&e, &r).is_empty());
    }

    #[test]
    fn new_failures_passes_reasons_and_checks_are_differences() {
        let e = expectation(&[
            ("a.x", "passed", None),
            ("a.y", "failed", Some("HTTP #")),
            ("a.z", "failed", Some("x")),
            ("a.gone", "passed", None),
        ]);
        let r = report(&[
            ("a.x", "failed", Some("y")),
            ("a.y", "failed", Some("a JSON body")),
            ("a.z", "passed", None),
            ("a.new", "passed", None),
        ]);
        let d = compare(&e, &r);
        let ids: Vec<&str> = d.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a.x", "a.y", "a.z", "a.new", "a.gone"], "{d:?}");
    }

    #[test]
    fn an_empty_report_never_matches() {
        assert_eq!(compare(&expectation(&[]), &json!({"checks": []})).len(), 1);
    }

    #[test]
    fn regenerating_keeps_reasons_that_still_hold() {
        let e = expectation(&[
            ("a.y", "failed", Some("HTTP #")),
            ("a.z", "failed", Some("x")),
        ]);
        let r = report(&[
            ("a.y", "failed", Some("HTTP 500")),
            ("a.z", "failed", Some("w")),
        ]);
        let next = from_report(Some(&e), "s", &r);
        assert_eq!(next.checks["a.y"].why.as_deref(), Some("because"));
        assert_eq!(next.checks["a.z"].why.as_deref(), Some("TODO"));
    }
}
