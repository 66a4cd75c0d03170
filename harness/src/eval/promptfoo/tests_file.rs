//! A config's `tests`: inline, or `file://` CSV (one test per row: its columns are vars,
//! `__expected*` its assertions, `__description` its description), YAML or JSON (a list of
//! tests) and JSONL (a test per line).

use super::SuiteError;
use super::{error, line_of, resolve, Located, Test};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Every test of the config's `tests` value (`text` is the config's, for lines).
pub(super) fn tests(
    value: Option<&Value>,
    dir: &Path,
    file: &str,
    text: &str,
) -> Result<Vec<Located>, Vec<SuiteError>> {
    let items = match value {
        None => return Err(vec![error(file, 1, "the config has no `tests`".into())]),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Value::String(reference) => {
                let line = line_of(text, &reference);
                match resolve(dir, &reference) {
                    Some(path) => match from_file(&path) {
                        Ok(tests) => found.extend(tests),
                        Err(e) => errors.extend(e),
                    },
                    None => errors.push(error(
                        file,
                        line,
                        format!("a test is a mapping or a file:// reference, not {reference:?}"),
                    )),
                }
            }
            Value::Object(_) => {
                let line = item
                    .get("description")
                    .and_then(Value::as_str)
                    .map_or_else(|| line_of(text, "tests:"), |d| line_of(text, d));
                match serde_json::from_value::<Test>(item) {
                    Ok(test) => found.push(Located {
                        test,
                        file: file.to_owned(),
                        line,
                    }),
                    Err(e) => errors.push(error(file, line, format!("a test: {e}"))),
                }
            }
            other => errors.push(error(
                file,
                line_of(text, "tests:"),
                format!("a test is a mapping or a file:// reference, not {other}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

fn from_file(path: &Path) -> Result<Vec<Located>, Vec<SuiteError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![error(&file, 1, format!("cannot read the tests: {e}"))])?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let rows: Vec<(usize, Value)> = match ext {
        "csv" => csv_rows(&text, &file)?,
        "jsonl" => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map(|v| (i + 1, v))
                    .map_err(|e| vec![error(&file, i + 1, format!("not a test: {e}"))])
            })
            .collect::<Result<_, _>>()?,
        "yaml" | "yml" | "json" => match kit_formats::yaml::parse(&text) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| {
                    let line = item
                        .get("description")
                        .and_then(Value::as_str)
                        .map_or(1, |d| line_of(&text, d));
                    (line, item)
                })
                .collect(),
            Ok(_) => return Err(vec![error(&file, 1, "a tests file holds a list of tests".into())]),
            Err(e) => return Err(vec![error(&file, 1, e)]),
        },
        other => {
            return Err(vec![error(
                &file,
                1,
                format!("tests files of type .{other} are not supported (read: .csv, .yaml, .yml, .json, .jsonl)"),
            )])
        }
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (line, row) in rows {
        match serde_json::from_value::<Test>(row) {
            Ok(test) => found.push(Located {
                test,
                file: file.clone(),
                line,
            }),
            Err(e) => errors.push(error(&file, line, format!("a test: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// A CSV's rows as tests, each with its line.
fn csv_rows(text: &str, file: &str) -> Result<Vec<(usize, Value)>, Vec<SuiteError>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![error(file, 1, format!("not a CSV file: {e}"))])?
        .clone();
    if let Some(bad) = headers
        .iter()
        .find(|h| h.starts_with("__") && *h != "__description" && !h.starts_with("__expected"))
    {
        return Err(vec![error(
            file,
            1,
            format!("the column `{bad}` is not supported (read: vars, __expected…, __description)"),
        )]);
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line() as usize);
                errors.push(error(file, line, format!("not a CSV row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(1, |p| p.line() as usize);
        let mut vars = Map::new();
        let mut asserts = Vec::new();
        let mut description = None;
        for (header, cell) in headers.iter().zip(record.iter()) {
            if header == "__description" {
                description = Some(cell.to_owned());
            } else if header.starts_with("__expected") {
                if !cell.trim().is_empty() {
                    asserts.push(expected(cell));
                }
            } else {
                vars.insert(header.to_owned(), Value::String(cell.to_owned()));
            }
        }
        rows.push((
            line,
            json!({"description": description, "vars": vars, "assert": asserts}),
        ));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// An `__expected` cell as an assertion: `type: value` when it names an assertion type
/// (`grade:` is `llm-rubric`), else the text it must equal.
fn expected(cell: &str) -> Value {
    if let Some((kind, value)) = cell.split_once(':') {
        let kind = kind.trim();
        let base = kind.strip_prefix("not-").unwrap_or(kind);
        // `similar(0.8): text` gives its threshold in the cell.
        if let Some(threshold) = base
            .strip_prefix("similar(")
            .and_then(|t| t.strip_suffix(')'))
            .and_then(|t| t.trim().parse::<f64>().ok())
        {
            let kind = if kind.starts_with("not-") {
                "not-similar"
            } else {
                "similar"
            };
            return json!({"type": kind, "value": value.trim(), "threshold": threshold});
        }
        let known = super::assertions::READ.contains(&base)
            || [
                "grade",
                "similar",
                "contains-json",
                "javascript",
                "python",
                "fn",
                "webhook",
                "cost",
                "latency",
            ]
            .contains(&base);
        if known {
            let kind = if base == "grade" {
                kind.replace("grade", "llm-rubric")
            } else {
                kind.to_owned()
            };
            let value = value.trim();
            return if value.is_empty() {
                json!({"type": kind})
            } else {
                json!({"type": kind, "value": value})
            };
        }
    }
    if cell.trim() == "is-json" {
        return json!({"type": "is-json"});
    }
    json!({"type": "equals", "value": cell})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_cells_name_their_assertion_or_are_equals() {
        assert_eq!(
            expected("similar(0.8): The capital is Paris"),
            json!({"type": "similar", "value": "The capital is Paris", "threshold": 0.8})
        );
        assert_eq!(
            expected("similar: Paris"),
            json!({"type": "similar", "value": "Paris"})
        );
        assert_eq!(
            expected("contains: Paris"),
            json!({"type": "contains", "value": "Paris"})
        );
        assert_eq!(
            expected("not-icontains:x"),
            json!({"type": "not-icontains", "value": "x"})
        );
        assert_eq!(
            expected("grade: polite"),
            json!({"type": "llm-rubric", "value": "polite"})
        );
        assert_eq!(expected("is-json"), json!({"type": "is-json"}));
        assert_eq!(
            expected("Time: 10:30"),
            json!({"type": "equals", "value": "Time: 10:30"})
        );
        assert_eq!(
            expected("javascript: 1"),
            json!({"type": "javascript", "value": "1"})
        );
    }

    #[test]
    fn csv_rows_are_tests_at_their_lines() {
        let rows = csv_rows(
            "city,__expected,__description\nParis,contains: Paris,capital\n\"Rome\",Rome,\n",
            "t.csv",
        );
        let rows = rows.unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1["vars"]["city"], "Paris");
        assert_eq!(
            rows[1].1["assert"][0],
            json!({"type": "equals", "value": "Rome"})
        );
        let bad = csv_rows("q,__metric\nx,y\n", "t.csv");
        assert!(bad.is_err_and(|e| e[0].message.contains("__metric")));
    }
}
