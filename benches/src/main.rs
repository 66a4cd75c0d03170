//! `check-budgets`: reads the estimates criterion wrote (`target/criterion/<group>/<name>/new/
//! estimates.json`) and checks every budget of `benches/budgets.toml`, each a ratio of a
//! benchmark to its baseline measured in the same run. Exit 0 when all hold, 1 on a breach or
//! a benchmark without a measurement, 2 on a bad budgets file.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Budget {
    /// `group/name` of the benchmark.
    bench: String,
    /// `group/name` of its baseline.
    baseline: String,
    /// The most `bench / baseline` may be.
    max_ratio: f64,
    /// Why the budget is what it is.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Budgets {
    budget: Vec<Budget>,
}

/// The median time of a benchmark, in ns, from criterion's last run.
fn median(criterion: &Path, id: &str) -> Result<f64, String> {
    let file = criterion.join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("no measurement of {id} ({}: {e})", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    value["median"]["point_estimate"]
        .as_f64()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("{}: no median", file.display()))
}

fn load(path: &Path) -> Result<Vec<Budget>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let budgets: Budgets = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        });
        format!("{}:{line}: {}", path.display(), e.message())
    })?;
    for b in &budgets.budget {
        if !(b.max_ratio.is_finite() && b.max_ratio > 0.0) || b.why.trim().is_empty() {
            return Err(format!(
                "{}: the budget of {} needs a ratio above 0 and a reason",
                path.display(),
                b.bench
            ));
        }
    }
    Ok(budgets.budget)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut budgets = PathBuf::from("benches/budgets.toml");
    let mut criterion = PathBuf::from("target/criterion");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--budgets", Some(v)) => budgets = v.into(),
            ("--criterion", Some(v)) => criterion = v.into(),
            _ => {
                eprintln!("usage: check-budgets [--budgets FILE] [--criterion DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let list = match load(&budgets) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    println!(
        "{:<36} {:<28} {:>10} {:>10} {:>7} {:>7}",
        "bench", "baseline", "bench ns", "base ns", "ratio", "budget"
    );
    for b in &list {
        match (
            median(&criterion, &b.bench),
            median(&criterion, &b.baseline),
        ) {
            (Ok(t), Ok(base)) => {
                let ratio = t / base;
                let ok = ratio <= b.max_ratio;
                if !ok {
                    failed += 1;
                }
                println!(
                    "{:<36} {:<28} {:>10.0} {:>10.0} {:>7.2} {:>7.2} {}",
                    b.bench,
                    b.baseline,
                    t,
                    base,
                    ratio,
                    b.max_ratio,
                    if ok { "ok" } else { "OVER BUDGET" }
                );
            }
            (Err(e), _) | (_, Err(e)) => {
                failed += 1;
                println!("{:<36} {e}", b.bench);
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} budgets not met", list.len());
        ExitCode::from(1)
    } else {
        println!("every budget met ({})", list.len());
        ExitCode::SUCCESS
    }
}
