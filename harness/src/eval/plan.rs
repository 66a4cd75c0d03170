//! A small TOML plan of gates, for CI jobs that keep thresholds beside the pipeline rather
//! than in the suites:
//!
//! ```toml
//! min_accuracy = 0.8        # overall (a --min-accuracy flag wins)
//! max_error_rate = 0.05     # (a --max-error-rate flag wins)
//! [suites.arithmetic]
//! min_accuracy = 0.95       # replaces the suite file's own gate
//! ```

use super::case::Suite;
use crate::error::HarnessError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The gates of a plan.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatePlan {
    /// The overall accuracy gate.
    pub min_accuracy: Option<f64>,
    /// The errored-case gate.
    pub max_error_rate: Option<f64>,
    /// Per-suite gates, by suite name.
    #[serde(default)]
    pub suites: BTreeMap<String, SuiteGate>,
}

/// One suite's gate.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuiteGate {
    /// Its accuracy gate.
    pub min_accuracy: f64,
}

/// Reads the plan at `path`; errors name `file:line:column`.
pub fn load(path: &Path) -> Result<GatePlan, HarnessError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::Usage(format!("cannot read the plan {shown}: {e}")))?;
    parse(&shown, &text)
}

fn parse(file: &str, text: &str) -> Result<GatePlan, HarnessError> {
    let plan: GatePlan = toml::from_str(text)
        .map_err(|e| HarnessError::Usage(crate::text::toml_error(file, text, &e)))?;
    let check = |what: &str, value: Option<f64>| match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(HarnessError::Usage(format!(
            "{file}: {what} {v} is not between 0 and 1"
        ))),
        _ => Ok(()),
    };
    check("min_accuracy", plan.min_accuracy)?;
    check("max_error_rate", plan.max_error_rate)?;
    for (name, gate) in &plan.suites {
        check(
            &format!("suites.{name}.min_accuracy"),
            Some(gate.min_accuracy),
        )?;
    }
    Ok(plan)
}

/// Puts the plan's suite gates on the suites; a plan naming a suite that is not loaded is an
/// error (a typo must not silently drop a gate).
pub fn apply(plan: &GatePlan, file: &str, suites: &mut [Suite]) -> Result<(), HarnessError> {
    for (name, gate) in &plan.suites {
        let Some(suite) = suites.iter_mut().find(|s| &s.name == name) else {
            let known: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
            return Err(HarnessError::Usage(format!(
                "{file}: the plan gates suite {name:?}, which is not among the suites read ({})",
                known.join(", ")
            )));
        };
        suite.min_accuracy = Some(gate.min_accuracy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gates_and_locates_mistakes() {
        let plan = parse(
            "p.toml",
            "min_accuracy = 0.8\n[suites.math]\nmin_accuracy = 0.95\n",
        );
        assert_eq!(
            plan.ok().map(|p| (p.min_accuracy, p.suites.len())),
            Some((Some(0.8), 1))
        );
        let typo = parse("p.toml", "min_accuracy = 0.8\nmax_eror_rate = 0.1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(typo.starts_with("p.toml:2:1: "), "{typo}");
        let range = parse("p.toml", "[suites.math]\nmin_accuracy = 2\n").err();
        assert!(range.is_some_and(|e| e.to_string().contains("not between 0 and 1")));
    }

    #[test]
    fn a_plan_for_an_unknown_suite_is_refused() {
        let plan = GatePlan {
            suites: [("nope".to_owned(), SuiteGate { min_accuracy: 0.5 })].into(),
            ..GatePlan::default()
        };
        let mut suites = Vec::new();
        assert!(apply(&plan, "p.toml", &mut suites).is_err());
    }
}
