//! `--baseline OLD/latency.json`: the change of every percentile against an earlier run, per
//! scenario (matched by name).

use super::ScenarioReport;
use crate::error::HarnessError;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// One statistic, then and now.
#[derive(Debug, Clone, Serialize)]
pub struct PercentileChange {
    /// `latency.p95`, `ttft.p50`, …
    pub measure: String,
    /// The baseline's value, in ms.
    pub before_ms: f64,
    /// This run's, in ms.
    pub after_ms: f64,
    /// after - before, in ms.
    pub delta_ms: f64,
    /// The change relative to the baseline, in percent.
    pub delta_pct: f64,
    /// With `--fail-on-regression`: it grew past the threshold and out of the noise (the
    /// repeats of either run).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub regressed: bool,
    /// With `--fail-on-regression`: it grew past the threshold, but the runs' spreads
    /// overlap, so the growth may be noise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub within_noise: bool,
}

/// One scenario's changes.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioChange {
    /// The scenario.
    pub name: String,
    /// Its statistics, then and now.
    pub changes: Vec<PercentileChange>,
}

/// The comparison with a baseline run.
#[derive(Debug, Clone, Serialize)]
pub struct PercentileComparison {
    /// The baseline's run id.
    pub run_id: String,
    /// Per scenario present in both runs.
    pub scenarios: Vec<ScenarioChange>,
    /// Scenarios of this run the baseline does not have.
    pub new: Vec<String>,
    /// With `--fail-on-regression`: the growth, in percent, past which a percentile regressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_pct: Option<f64>,
    /// With `--fail-on-regression`: each regression, as `scenario: measure +x% (a → b ms)`.
    pub regressions: Vec<String>,
}

/// The lowest and highest value of `measure` over the repeats of a report (`repeats` of a
/// latency.json), if it was repeated.
fn range(repeats: &Value, scenario: &str, measure: &str) -> Option<(f64, f64)> {
    let m = repeats["scenarios"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == scenario)?["measures"]
        .as_array()?
        .iter()
        .find(|m| m["measure"] == measure)?
        .clone();
    Some((m["min_ms"].as_f64()?, m["max_ms"].as_f64()?))
}

/// Reads a `latency.json` (or the directory holding it).
pub fn read(path: &Path) -> Result<Value, HarnessError> {
    let file = if path.is_dir() {
        path.join("latency.json")
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| HarnessError::Io {
        context: format!("cannot read the baseline {}", file.display()),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        HarnessError::Usage(format!(
            "{}:{}:{}: the baseline is not JSON: {e}",
            file.display(),
            e.line(),
            e.column()
        ))
    })?;
    if value["kind"] != "latency" || !value["scenarios"].is_array() {
        return Err(HarnessError::Usage(format!(
            "{}: not a latency.json of conformance latency",
            file.display()
        )));
    }
    Ok(value)
}

/// Compares `now` with the baseline `old`. With a `threshold` (a share, 0.1 for 10%), a
/// percentile regressed when it grew by more than that and, where either run was repeated
/// (`now_repeats` is this run's spread as JSON), this run's lowest repeat is above the
/// baseline's highest: a growth inside the noise is named, not failed.
pub fn compare(
    old: &Value,
    now: &[ScenarioReport],
    now_repeats: &Value,
    threshold: Option<f64>,
) -> PercentileComparison {
    let mut regressions = Vec::new();
    let mut scenarios = Vec::new();
    let mut new = Vec::new();
    for s in now {
        let Some(before) = old["scenarios"]
            .as_array()
            .and_then(|list| list.iter().find(|o| o["name"] == s.name.as_str()))
        else {
            new.push(s.name.clone());
            continue;
        };
        let mut changes = Vec::new();
        for (series, dist) in [
            ("latency", &s.latency),
            ("ttft", &s.ttft),
            ("itl", &s.itl),
            ("tpot", &s.tpot),
        ] {
            let Some(dist) = dist else { continue };
            for (stat, after) in [
                ("p50", dist.p50_ms),
                ("p95", dist.p95_ms),
                ("p99", dist.p99_ms),
            ] {
                let Some(before) = before[series][format!("{stat}_ms")].as_f64() else {
                    continue;
                };
                let delta = after - before;
                let measure = format!("{series}.{stat}");
                let delta_pct = if before > 0.0 {
                    100.0 * delta / before
                } else {
                    0.0
                };
                let grew = threshold.is_some_and(|t| before > 0.0 && delta > t * before);
                let (_, before_high) =
                    range(&old["repeats"], &s.name, &measure).unwrap_or((before, before));
                let (after_low, _) =
                    range(now_repeats, &s.name, &measure).unwrap_or((after, after));
                let regressed = grew && after_low > before_high;
                if regressed {
                    regressions.push(format!(
                        "{}: {measure} {delta_pct:+.1}% ({before:.1} → {after:.1} ms)",
                        s.name
                    ));
                }
                changes.push(PercentileChange {
                    measure,
                    before_ms: before,
                    after_ms: after,
                    delta_ms: delta,
                    delta_pct,
                    regressed,
                    within_noise: grew && !regressed,
                });
            }
        }
        scenarios.push(ScenarioChange {
            name: s.name.clone(),
            changes,
        });
    }
    PercentileComparison {
        run_id: old["run_id"].as_str().unwrap_or_default().to_owned(),
        scenarios,
        new,
        threshold_pct: threshold.map(|t| 100.0 * t),
        regressions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::stats::Dist;
    use serde_json::json;

    fn dist(p50: f64, p95: f64) -> Dist {
        Dist {
            count: 10,
            min_ms: 1.0,
            mean_ms: p50,
            p50_ms: p50,
            p90_ms: p95,
            p95_ms: p95,
            p99_ms: p95,
            p999_ms: p95,
            max_ms: p95,
        }
    }

    #[test]
    fn a_growth_past_the_threshold_regresses_unless_the_repeats_overlap() {
        let old = json!({"kind": "latency", "run_id": "old", "scenarios": [
            {"name": "a", "latency": {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 20.0}}
        ]});
        let now = report("a", dist(10.5, 30.0));
        let c = compare(&old, std::slice::from_ref(&now), &Value::Null, Some(0.1));
        assert_eq!(
            c.regressions,
            vec![
                "a: latency.p95 +50.0% (20.0 → 30.0 ms)",
                "a: latency.p99 +50.0% (20.0 → 30.0 ms)"
            ]
        );
        assert!(
            !c.scenarios[0].changes[0].regressed,
            "p50 grew 5%, under the threshold"
        );
        // Repeats of this run reached down to 19 ms: the growth is within the noise.
        let spread = json!({"scenarios": [{"name": "a", "measures": [
            {"measure": "latency.p95", "min_ms": 19.0, "max_ms": 31.0}]}]});
        let c = compare(&old, std::slice::from_ref(&now), &spread, Some(0.1));
        assert_eq!(
            c.regressions,
            vec!["a: latency.p99 +50.0% (20.0 → 30.0 ms)"]
        );
        assert!(c.scenarios[0].changes[1].within_noise);
        // The baseline's own repeats count too.
        let mut old = old;
        old["repeats"] = json!({"scenarios": [{"name": "a", "measures": [
            {"measure": "latency.p99", "min_ms": 15.0, "max_ms": 35.0}]}]});
        let c = compare(&old, std::slice::from_ref(&now), &spread, Some(0.1));
        assert!(c.regressions.is_empty(), "{:?}", c.regressions);
        // Without the gate nothing is judged.
        let c = compare(&old, std::slice::from_ref(&now), &Value::Null, None);
        assert!(c.regressions.is_empty() && c.threshold_pct.is_none());
    }

    #[test]
    fn every_percentile_is_compared_by_scenario_name() {
        let old = json!({"kind": "latency", "run_id": "old", "scenarios": [
            {"name": "a", "latency": {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 20.0}, "ttft": null}
        ]});
        let now = [report("a", dist(12.0, 30.0))];
        let mut b = now[0].clone();
        b.name = "b".into();
        let c = compare(&old, &[now[0].clone(), b], &Value::Null, None);
        assert_eq!(c.new, vec!["b"]);
        let p95 = &c.scenarios[0].changes[1];
        assert_eq!(p95.measure, "latency.p95");
        assert!((p95.delta_ms - 10.0).abs() < 1e-9 && (p95.delta_pct - 50.0).abs() < 1e-9);
    }

    fn report(name: &str, latency: Dist) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            endpoint: "/v1/embeddings".into(),
            stream: false,
            idempotency_key: false,
            requests: 10,
            errors: 0,
            warmup_requests: 0,
            error_rate: 0.0,
            throughput_per_s: 1.0,
            goodput_per_s: 1.0,
            latency: Some(latency),
            ttft: None,
            itl: None,
            tpot: None,
            output_tokens_from: None,
            errors_by_kind: Default::default(),
            budgets: vec![],
            plots: crate::latency::Plots {
                latency: None,
                ttft: None,
                timeline: vec![],
            },
        }
    }
}
