//! Semantic diff of two OpenAPI documents, classifying each change as breaking (for existing
//! clients) or not. Schemas are compared in the direction data flows: what a client sends
//! (request bodies, parameters) may only get looser, what it receives may only get richer.

use super::{resolve, METHODS};
use crate::report::Rendering;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Whether a change can break an existing client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Existing clients can fail.
    Breaking,
    /// Additive or loosening; listed as a note.
    NonBreaking,
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Breaking or not.
    pub severity: Severity,
    /// Stable rule id, e.g. `path.removed`.
    pub rule: &'static str,
    /// Where: `METHOD /path` and, for schemas, the field.
    pub location: String,
    /// What changed.
    pub detail: String,
}

/// The result of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Every change, breaking first.
    pub changes: Vec<Change>,
}

impl Diff {
    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.severity == Severity::Breaking)
    }

    /// Whether any change is breaking.
    pub fn has_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }
}

/// The diff as `rendering` asks.
pub fn render(diff: &Diff, rendering: Rendering) -> String {
    match rendering {
        Rendering::Text => text(diff),
        Rendering::Json => json(diff) + "\n",
        Rendering::Markdown => markdown(diff),
    }
}

/// Plain text for terminals and logs.
fn text(diff: &Diff) -> String {
    let mut out = String::new();
    for (severity, title) in [
        (Severity::Breaking, "breaking changes"),
        (Severity::NonBreaking, "non-breaking changes"),
    ] {
        let list: Vec<&Change> = diff
            .changes
            .iter()
            .filter(|c| c.severity == severity)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title} ({}):", list.len());
        for c in list {
            let _ = writeln!(out, "  {:<34} {}: {}", c.rule, c.location, c.detail);
        }
    }
    let breaking = diff.breaking().count();
    let _ = writeln!(
        out,
        "summary: {breaking} breaking, {} non-breaking",
        diff.changes.len() - breaking
    );
    out
}

/// JSON: `{"breaking": [...], "non_breaking": [...]}`.
fn json(diff: &Diff) -> String {
    let pick = |s: Severity| {
        diff.changes
            .iter()
            .filter(|c| c.severity == s)
            .collect::<Vec<_>>()
    };
    serde_json::to_string_pretty(&serde_json::json!({
        "breaking": pick(Severity::Breaking),
        "non_breaking": pick(Severity::NonBreaking),
    }))
    .unwrap_or_default()
}

/// Markdown for pull requests and step summaries.
fn markdown(diff: &Diff) -> String {
    let breaking = diff.breaking().count();
    let mut out = format!(
        "# OpenAPI diff: {}\n\n{breaking} breaking, {} non-breaking\n\n",
        if breaking > 0 {
            "BREAKING"
        } else {
            "compatible"
        },
        diff.changes.len() - breaking
    );
    if !diff.changes.is_empty() {
        out.push_str("| severity | rule | where | change |\n|---|---|---|---|\n");
        for c in &diff.changes {
            let sev = if c.severity == Severity::Breaking {
                "**breaking**"
            } else {
                "note"
            };
            // Locations and details come from the documents compared.
            let _ = writeln!(
                out,
                "| {sev} | `{}` | {} | {} |",
                c.rule,
                crate::report::md::code_cell(&c.location, 300),
                crate::report::md::cell(&c.detail, 500)
            );
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Request,
    Response,
}

struct Differ<'a> {
    base: &'a Value,
    cand: &'a Value,
    changes: Vec<Change>,
}

impl Differ<'_> {
    fn push(&mut self, severity: Severity, rule: &'static str, location: &str, detail: String) {
        self.changes.push(Change {
            severity,
            rule,
            location: location.to_owned(),
            detail,
        });
    }
}

/// Compares `base` (the old document) with `cand` (the new one).
pub fn diff(base: &Value, cand: &Value) -> Diff {
    let mut d = Differ {
        base,
        cand,
        changes: Vec::new(),
    };
    let empty = Map::new();
    let base_paths = base
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let cand_paths = cand
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (path, b_item) in base_paths {
        let Some(c_item) = cand_paths.get(path) else {
            d.push(
                Severity::Breaking,
                "path.removed",
                path,
                "the path is gone".into(),
            );
            continue;
        };
        let (b_item, c_item) = (resolve(base, b_item), resolve(cand, c_item));
        for method in METHODS {
            let loc = format!("{} {path}", method.to_uppercase());
            match (b_item.get(method), c_item.get(method)) {
                (Some(_), None) => d.push(
                    Severity::Breaking,
                    "operation.removed",
                    &loc,
                    "the method is gone".into(),
                ),
                (None, Some(_)) => d.push(
                    Severity::NonBreaking,
                    "operation.added",
                    &loc,
                    "new method".into(),
                ),
                (Some(b), Some(c)) => operation(&mut d, &loc, (b_item, b), (c_item, c)),
                (None, None) => {}
            }
        }
    }
    for path in cand_paths.keys().filter(|p| !base_paths.contains_key(*p)) {
        d.push(Severity::NonBreaking, "path.added", path, "new path".into());
    }
    d.changes.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.location.cmp(&b.location))
            .then(a.rule.cmp(b.rule))
    });
    Diff { changes: d.changes }
}

/// Parameters of an operation (path-level ones overridden by operation-level ones).
fn parameters<'a>(
    root: &'a Value,
    item: &'a Value,
    op: &'a Value,
) -> BTreeMap<(String, String), &'a Value> {
    let mut out = BTreeMap::new();
    for list in [item.get("parameters"), op.get("parameters")] {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            let p = resolve(root, p);
            if let (Some(name), Some(place)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) {
                out.insert((place.to_owned(), name.to_owned()), p);
            }
        }
    }
    out
}

fn required(v: &Value) -> bool {
    v.get("required") == Some(&Value::Bool(true))
}

/// The schema of the JSON media type of a body (or the first one).
fn body_schema(root: &Value, body: &Value) -> Option<Value> {
    let content = resolve(root, body).get("content")?.as_object()?;
    let media = content
        .iter()
        .find(|(k, _)| k.starts_with("application/json"))
        .or_else(|| content.iter().next())?
        .1;
    media.get("schema").cloned()
}

fn operation(
    d: &mut Differ<'_>,
    loc: &str,
    (b_item, b): (&Value, &Value),
    (c_item, c): (&Value, &Value),
) {
    let (base, cand) = (d.base, d.cand);
    let bp = parameters(base, b_item, b);
    let cp = parameters(cand, c_item, c);
    for ((place, name), p) in &bp {
        let at = format!("{loc} {place} parameter {name:?}");
        match cp.get(&(place.clone(), name.clone())) {
            None if required(p) => d.push(
                Severity::Breaking,
                "parameter.required-removed",
                &at,
                "a required parameter was removed".into(),
            ),
            None => d.push(
                Severity::NonBreaking,
                "parameter.removed",
                &at,
                "an optional parameter was removed".into(),
            ),
            Some(q) => {
                if !required(p) && required(q) {
                    d.push(
                        Severity::Breaking,
                        "parameter.became-required",
                        &at,
                        "the parameter is now required".into(),
                    );
                }
                if let (Some(bs), Some(cs)) = (p.get("schema"), q.get("schema")) {
                    schema(d, &at, bs, cs, Flow::Request, 0);
                }
            }
        }
    }
    for ((place, name), q) in &cp {
        if !bp.contains_key(&(place.clone(), name.clone())) {
            let at = format!("{loc} {place} parameter {name:?}");
            if required(q) {
                d.push(
                    Severity::Breaking,
                    "parameter.required-added",
                    &at,
                    "a new required parameter".into(),
                );
            } else {
                d.push(
                    Severity::NonBreaking,
                    "parameter.added",
                    &at,
                    "a new optional parameter".into(),
                );
            }
        }
    }
    let b_body = b.get("requestBody").map(|r| resolve(base, r));
    let c_body = c.get("requestBody").map(|r| resolve(cand, r));
    let at = format!("{loc} request body");
    let b_required = b_body.is_some_and(required);
    let c_required = c_body.is_some_and(required);
    if c_required && !b_required {
        d.push(
            Severity::Breaking,
            "request-body.became-required",
            &at,
            "the request body is now required".into(),
        );
    } else if b_required && !c_required {
        d.push(
            Severity::NonBreaking,
            "request-body.became-optional",
            &at,
            "the request body is now optional".into(),
        );
    }
    if let (Some(bb), Some(cb)) = (b_body, c_body) {
        if let (Some(bs), Some(cs)) = (body_schema(base, bb), body_schema(cand, cb)) {
            schema(d, &at, &bs, &cs, Flow::Request, 0);
        }
    }
    let empty = Map::new();
    let b_resp = b
        .get("responses")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let c_resp = c
        .get("responses")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (code, br) in b_resp {
        let at = format!("{loc} response {code}");
        match c_resp.get(code) {
            None if code.starts_with('2') => d.push(
                Severity::Breaking,
                "response.removed",
                &at,
                "a success response was removed".into(),
            ),
            None => d.push(
                Severity::NonBreaking,
                "response.removed",
                &at,
                "an error response was removed".into(),
            ),
            Some(cr) => {
                if let (Some(bs), Some(cs)) = (body_schema(base, br), body_schema(cand, cr)) {
                    schema(d, &at, &bs, &cs, Flow::Response, 0);
                }
            }
        }
    }
    for code in c_resp.keys().filter(|k| !b_resp.contains_key(*k)) {
        d.push(
            Severity::NonBreaking,
            "response.added",
            &format!("{loc} response {code}"),
            "a new response".into(),
        );
    }
}

/// Merges `allOf` parts into one view of properties, required names, types and enum.
struct View {
    types: BTreeSet<String>,
    properties: BTreeMap<String, Value>,
    required: BTreeSet<String>,
    enumeration: Option<Vec<Value>>,
    items: Option<Value>,
}

fn view(root: &Value, s: &Value, depth: usize) -> View {
    let s = resolve(root, s);
    let mut v = View {
        types: BTreeSet::new(),
        properties: BTreeMap::new(),
        required: BTreeSet::new(),
        enumeration: None,
        items: None,
    };
    match s.get("type") {
        Some(Value::String(t)) => {
            v.types.insert(t.clone());
        }
        Some(Value::Array(ts)) => v
            .types
            .extend(ts.iter().filter_map(Value::as_str).map(str::to_owned)),
        _ => {}
    }
    if s.get("nullable") == Some(&Value::Bool(true)) && !v.types.is_empty() {
        v.types.insert("null".into());
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        v.properties
            .extend(props.iter().map(|(k, p)| (k.clone(), p.clone())));
    }
    v.required.extend(
        s.get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    v.enumeration = s
        .get("enum")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| s.get("const").map(|c| vec![c.clone()]));
    v.items = s.get("items").cloned();
    if depth < 16 {
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = view(root, part, depth + 1);
            v.types.extend(p.types);
            v.properties.extend(p.properties);
            v.required.extend(p.required);
            v.enumeration = v.enumeration.or(p.enumeration);
            v.items = v.items.or(p.items);
        }
        // Alternatives (including 3.1's nullable idiom `anyOf: [X, {type: null}]`) are seen as
        // their union: a property is removed only when no branch has it any more, and a
        // property several branches define is the union of their definitions (`role: system`
        // in one branch, `role: user` in another). What is required in a union is unknown, so
        // alternatives add no required names.
        let mut alternatives: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for key in ["anyOf", "oneOf"] {
            for part in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                let p = view(root, part, depth + 1);
                v.types.extend(p.types);
                for (name, schema) in p.properties {
                    alternatives.entry(name).or_default().push(schema);
                }
                if let Some(values) = p.enumeration {
                    let merged = v.enumeration.get_or_insert_with(Vec::new);
                    merged.extend(
                        values
                            .into_iter()
                            .filter(|x| !merged.contains(x))
                            .collect::<Vec<_>>(),
                    );
                }
                v.items = v.items.or(p.items);
            }
        }
        for (name, mut schemas) in alternatives {
            if v.properties.contains_key(&name) {
                continue;
            }
            let merged = if schemas.len() == 1 {
                schemas.remove(0)
            } else {
                serde_json::json!({ "anyOf": schemas })
            };
            v.properties.insert(name, merged);
        }
    }
    v
}

fn schema(d: &mut Differ<'_>, at: &str, b: &Value, c: &Value, flow: Flow, depth: usize) {
    // Recursive schemas (trees, lists of themselves) stop here rather than loop.
    if depth > 12 {
        return;
    }
    let (bv, cv) = (view(d.base, b, 0), view(d.cand, c, 0));
    if !bv.types.is_empty() && !cv.types.is_empty() && bv.types != cv.types {
        // A client sends what the base allowed, so a request type may only widen; it reads
        // what the candidate sends, so a response type may only narrow.
        let safe = match flow {
            Flow::Request => cv.types.is_superset(&bv.types),
            Flow::Response => cv.types.is_subset(&bv.types),
        };
        let detail = format!("type {:?} -> {:?}", bv.types, cv.types);
        if safe {
            d.push(Severity::NonBreaking, "type.changed", at, detail);
        } else {
            d.push(Severity::Breaking, "type.changed", at, detail);
        }
    }
    // A request value that was free and now has a closed set of values refuses what clients
    // sent before; a response that narrows to a set is safe to read.
    if let (None, Some(ce)) = (&bv.enumeration, &cv.enumeration) {
        let shown: Vec<String> = ce.iter().map(Value::to_string).collect();
        let detail = format!("now limited to {}", shown.join(", "));
        match flow {
            Flow::Request => d.push(Severity::Breaking, "enum.introduced", at, detail),
            Flow::Response => d.push(Severity::NonBreaking, "enum.introduced", at, detail),
        }
    }
    if let (Some(be), Some(ce)) = (&bv.enumeration, &cv.enumeration) {
        for value in be.iter().filter(|x| !ce.contains(x)) {
            d.push(
                Severity::Breaking,
                "enum.value-removed",
                at,
                format!("enum value {value} removed"),
            );
        }
        for value in ce.iter().filter(|x| !be.contains(x)) {
            d.push(
                Severity::NonBreaking,
                "enum.value-added",
                at,
                format!("enum value {value} added"),
            );
        }
    }
    for (name, bp) in &bv.properties {
        let field = format!("{at} .{name}");
        match (cv.properties.get(name), flow) {
            (None, Flow::Response) => d.push(
                Severity::Breaking,
                "response.property-removed",
                &field,
                "a response property was removed".into(),
            ),
            (None, Flow::Request) => d.push(
                Severity::NonBreaking,
                "request.property-removed",
                &field,
                "a request property was removed".into(),
            ),
            (Some(cp), _) => schema(d, &field, bp, cp, flow, depth + 1),
        }
    }
    for (name, _) in cv
        .properties
        .iter()
        .filter(|(n, _)| !bv.properties.contains_key(*n))
    {
        let field = format!("{at} .{name}");
        match flow {
            Flow::Request if cv.required.contains(name) => d.push(
                Severity::Breaking,
                "request.required-property-added",
                &field,
                "a new required request property".into(),
            ),
            Flow::Request => d.push(
                Severity::NonBreaking,
                "request.property-added",
                &field,
                "a new optional request property".into(),
            ),
            Flow::Response => d.push(
                Severity::NonBreaking,
                "response.property-added",
                &field,
                "a new response property".into(),
            ),
        }
    }
    if flow == Flow::Request {
        for name in cv
            .required
            .iter()
            .filter(|n| !bv.required.contains(*n) && bv.properties.contains_key(*n))
        {
            d.push(
                Severity::Breaking,
                "request.property-became-required",
                &format!("{at} .{name}"),
                "an optional request property is now required".into(),
            );
        }
    }
    if let (Some(bi), Some(ci)) = (&bv.items, &cv.items) {
        schema(d, &format!("{at}[]"), bi, ci, flow, depth + 1);
    }
}

#[cfg(test)]
mod markdown_tests {
    use super::*;

    #[test]
    fn names_from_a_document_stay_text_in_markdown() {
        let changes = crate::report::md::hostile::TEXTS
            .iter()
            .map(|t| Change {
                severity: Severity::Breaking,
                rule: "path.removed",
                location: format!("GET /v1/{t}"),
                detail: (*t).to_owned(),
            })
            .collect();
        crate::report::md::hostile::assert_inert(&markdown(&Diff { changes }));
    }
}
