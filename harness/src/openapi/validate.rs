//! Structural validation of OpenAPI 3.0 and 3.1 documents: the parts that tools and clients
//! rely on (version, info, paths, operations, responses, parameters, local `$ref`s).

use super::schemas::DocSchemas;
use super::sse::EventSchema;
use super::{resolve, METHODS};
use crate::report::Rendering;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;

/// The findings on the document at `file` as `rendering` asks: JSON is the list; text and
/// Markdown a line per finding and a closing count.
pub fn render(file: &str, doc: &Value, findings: &[Finding], rendering: Rendering) -> String {
    use std::fmt::Write as _;
    if rendering == Rendering::Json {
        return serde_json::to_string_pretty(findings).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{file}#{}: {}", f.pointer, f.message);
    }
    let paths = doc["paths"].as_object().map_or(0, |p| p.len());
    let _ = writeln!(
        out,
        "{file}: OpenAPI {} with {paths} paths, {} problems",
        doc["openapi"].as_str().unwrap_or("?"),
        findings.len()
    );
    out
}

/// One problem, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where, as a JSON pointer (`/paths/~1v1~1models/get`).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

struct Validator<'a> {
    root: &'a Value,
    findings: Vec<Finding>,
    operation_ids: HashSet<String>,
}

impl Validator<'_> {
    fn report(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            pointer: pointer.into(),
            message: message.into(),
        });
    }
}

/// Every structural problem of `doc`; empty means valid.
pub fn validate(doc: &Value) -> Vec<Finding> {
    let mut v = Validator {
        root: doc,
        findings: Vec::new(),
        operation_ids: HashSet::new(),
    };
    let Some(obj) = doc.as_object() else {
        v.report("", "the document is not an object");
        return v.findings;
    };
    let version = obj.get("openapi").and_then(Value::as_str).unwrap_or("");
    // 3.2 keeps 3.1's rules for what is checked here (and adds `itemSchema`).
    let is_31 = version.starts_with("3.1.") || version.starts_with("3.2.");
    if !(version.starts_with("3.0.") || is_31) {
        v.report(
            "/openapi",
            format!(
                "expected \"3.0.x\", \"3.1.x\" or \"3.2.x\", found {}",
                obj.get("openapi")
                    .map_or("nothing".into(), Value::to_string)
            ),
        );
    }
    match obj.get("info") {
        Some(info) => {
            for key in ["title", "version"] {
                if !info.get(key).is_some_and(Value::is_string) {
                    v.report(format!("/info/{key}"), "required string is missing");
                }
            }
        }
        None => v.report("/info", "required object is missing"),
    }
    match obj.get("paths") {
        Some(Value::Object(paths)) => {
            for (path, item) in paths {
                check_path(&mut v, path, item, is_31);
            }
        }
        Some(_) => v.report("/paths", "must be an object"),
        None if is_31 && (obj.contains_key("webhooks") || obj.contains_key("components")) => {}
        None => v.report("/paths", "required object is missing"),
    }
    check_refs(&mut v, doc, String::new());
    v.findings
}

fn check_path(v: &mut Validator<'_>, path: &str, item: &Value, is_31: bool) {
    let base = format!("/paths/{}", escape(path));
    if !path.starts_with('/') {
        v.report(&base, "path keys must start with '/'");
    }
    let item = resolve(v.root, item);
    let templated: Vec<String> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect();
    let shared = item
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for method in METHODS {
        let Some(op) = item.get(method) else { continue };
        let at = format!("{base}/{method}");
        if let Some(id) = op.get("operationId").and_then(Value::as_str) {
            if !v.operation_ids.insert(id.to_owned()) {
                v.report(
                    format!("{at}/operationId"),
                    format!("operationId {id:?} is used twice"),
                );
            }
        }
        match op.get("responses") {
            Some(Value::Object(responses)) => {
                if responses.is_empty() && !is_31 {
                    v.report(
                        format!("{at}/responses"),
                        "at least one response is required",
                    );
                }
                for (code, response) in responses {
                    let valid_code = code == "default"
                        || (code.len() == 3
                            && code.starts_with(['1', '2', '3', '4', '5'])
                            && (code[1..].chars().all(|c| c.is_ascii_digit())
                                || &code[1..] == "XX"));
                    if !valid_code {
                        v.report(
                            format!("{at}/responses/{}", escape(code)),
                            "response keys are 'default', a status code or 1XX..5XX",
                        );
                    }
                    let response = resolve(v.root, response);
                    if !response.get("description").is_some_and(Value::is_string) {
                        v.report(
                            format!("{at}/responses/{}/description", escape(code)),
                            "required string is missing",
                        );
                    }
                }
            }
            Some(_) => v.report(format!("{at}/responses"), "must be an object"),
            None if is_31 => {}
            None => v.report(format!("{at}/responses"), "required object is missing"),
        }
        let own = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let mut path_params = HashSet::new();
        for (i, p) in shared.iter().chain(own.iter()).enumerate() {
            let p = resolve(v.root, p);
            let (Some(name), Some(location)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                v.report(
                    format!("{at}/parameters/{i}"),
                    "a parameter needs a string name and in",
                );
                continue;
            };
            if !["query", "header", "path", "cookie"].contains(&location) {
                v.report(
                    format!("{at}/parameters/{i}/in"),
                    format!("{location:?} is not query, header, path or cookie"),
                );
            }
            if location == "path" {
                if p.get("required") != Some(&Value::Bool(true)) {
                    v.report(
                        format!("{at}/parameters/{i}"),
                        format!("path parameter {name:?} must be required: true"),
                    );
                }
                path_params.insert(name.to_owned());
            }
            // An operation parameter overrides a path-level one with the same name and place.
            if i >= shared.len() && !seen.insert((name.to_owned(), location.to_owned())) {
                v.report(
                    format!("{at}/parameters/{i}"),
                    format!("parameter {name:?} in {location} is declared twice"),
                );
            }
        }
        for name in &templated {
            if !path_params.contains(name) {
                v.report(
                    &at,
                    format!("path template {{{name}}} has no path parameter"),
                );
            }
        }
    }
}

fn check_refs(v: &mut Validator<'_>, value: &Value, pointer: String) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                if let Some(target) = r.strip_prefix('#') {
                    if v.root.pointer(target).is_none() {
                        v.report(format!("{pointer}/$ref"), format!("{r} does not resolve"));
                    }
                }
            }
            for (k, child) in map {
                check_refs(v, child, format!("{pointer}/{}", escape(k)));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                check_refs(v, child, format!("{pointer}/{i}"));
            }
        }
        _ => {}
    }
}

/// Every example of `doc` (parameters, headers, request and response bodies; for
/// `text/event-stream`, each event against `itemSchema` and its data against `contentSchema`) that its schema refuses,
/// and every example marked `x-invalid: true` that its schema accepts. Shared components are
/// reported once, where they are defined.
pub fn validate_examples(doc: &Value) -> Vec<Finding> {
    let mut e = Examples {
        doc,
        schemas: DocSchemas::new(doc),
        findings: Vec::new(),
        seen: HashSet::new(),
    };
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let (item, at) = e.follow(item, format!("/paths/{}", escape(path)));
        e.parameters(item, &at);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{at}/{method}");
            e.parameters(op, &at);
            if let Some(body) = op.get("requestBody") {
                let (body, at) = e.follow(body, format!("{at}/requestBody"));
                e.content(&body["content"], format!("{at}/content"));
            }
            for (code, response) in op["responses"].as_object().into_iter().flatten() {
                let (response, at) = e.follow(response, format!("{at}/responses/{}", escape(code)));
                if !e.seen.insert(at.clone()) {
                    continue;
                }
                for (name, header) in response["headers"].as_object().into_iter().flatten() {
                    let (header, hat) = e.follow(header, format!("{at}/headers/{}", escape(name)));
                    e.examples(header, &header["schema"], None, hat);
                }
                e.content(&response["content"], format!("{at}/content"));
            }
        }
    }
    e.findings
}

struct Examples<'d> {
    doc: &'d Value,
    schemas: DocSchemas<'d>,
    findings: Vec<Finding>,
    /// Places already checked (shared components are checked once).
    seen: HashSet<String>,
}

impl<'d> Examples<'d> {
    /// `value`, or what its `$ref` points to, with the pointer of where it is written.
    fn follow(&self, value: &'d Value, at: String) -> (&'d Value, String) {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with('#') => (resolve(self.doc, value), r[1..].to_owned()),
            _ => (value, at),
        }
    }

    /// The `parameters` of a path item or operation written at `at`.
    fn parameters(&mut self, holder: &'d Value, at: &str) {
        for (i, p) in holder["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.parameter(p, format!("{at}/parameters/{i}"));
        }
    }

    fn parameter(&mut self, p: &'d Value, at: String) {
        let (p, at) = self.follow(p, at);
        if self.seen.insert(at.clone()) {
            self.examples(p, &p["schema"], None, at);
        }
    }

    fn content(&mut self, content: &'d Value, at: String) {
        for (media, m) in content.as_object().into_iter().flatten() {
            let at = format!("{at}/{}", escape(media));
            let events = (media == "text/event-stream")
                .then(|| EventSchema::of(self.doc, m))
                .flatten();
            self.examples(m, &m["schema"], events.as_ref(), at);
        }
    }

    /// Checks `holder.example` and each `holder.examples.*.value`.
    fn examples(
        &mut self,
        holder: &'d Value,
        schema: &'d Value,
        events: Option<&EventSchema<'d>>,
        at: String,
    ) {
        if schema.is_null() && events.is_none() {
            return;
        }
        let mut all: Vec<(String, &Value, bool)> = Vec::new();
        if let Some(v) = holder.get("example") {
            all.push((format!("{at}/example"), v, false));
        }
        for (name, ex) in holder["examples"].as_object().into_iter().flatten() {
            let (ex, ex_at) = self.follow(ex, format!("{at}/examples/{}", escape(name)));
            if let Some(v) = ex.get("value") {
                all.push((format!("{ex_at}/value"), v, ex["x-invalid"] == true));
            }
        }
        for (at, value, invalid) in all {
            let mut problems = if schema.is_null() {
                Vec::new()
            } else {
                self.schemas.problems(schema, value)
            };
            if let (Some(events), Some(text)) = (events, value.as_str()) {
                let all = sse_events(text);
                if all.is_empty() {
                    problems.push("the stream example has no events".to_owned());
                }
                for (i, (name, data)) in all.iter().enumerate() {
                    problems.extend(
                        events
                            .problems(&mut self.schemas, name.as_deref(), data)
                            .into_iter()
                            .map(|p| format!("event {i}: {p}")),
                    );
                }
            }
            match (invalid, problems.is_empty()) {
                (false, false) => self.findings.push(Finding {
                    pointer: at,
                    message: format!(
                        "the example does not match its schema: {}",
                        problems
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                }),
                (true, true) => self.findings.push(Finding {
                    pointer: at,
                    message: "the example is marked x-invalid but its schema accepts it".into(),
                }),
                _ => {}
            }
        }
    }
}

/// The `event:` name and `data:` of each event in an SSE text.
fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    let field = |l: &str, name: &str| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(|d| d.strip_prefix(' ').unwrap_or(d).to_owned())
    };
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let data: Vec<String> = block.lines().filter_map(|l| field(l, "data")).collect();
            let event = block.lines().find_map(|l| field(l, "event"));
            (!data.is_empty()).then(|| (event, data.join("\n")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(paths: Value) -> Value {
        json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths})
    }

    #[test]
    fn a_minimal_document_is_valid() {
        let d = doc(json!({"/a/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}}}}}));
        assert_eq!(validate(&d), vec![]);
    }

    #[test]
    fn examples_are_checked_against_their_schemas() {
        let d = json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/a/{id}": {"post": {
                "parameters": [{"name": "id", "in": "path", "required": true,
                    "schema": {"type": "integer"}, "examples": {"bad": {"value": "x"}}}],
                "requestBody": {"content": {"application/json": {
                    "schema": {"type": "object", "required": ["q"]},
                    "examples": {"ok": {"value": {"q": 1}}, "refused": {"x-invalid": true, "value": {}},
                                 "wrongly_refused": {"x-invalid": true, "value": {"q": 2}}}}}},
                "responses": {
                    "200": {"$ref": "#/components/responses/R"},
                    "201": {"$ref": "#/components/responses/R"},
                    "202": {"description": "s", "content": {"text/event-stream": {
                        "schema": {"type": "string"},
                        "x-sse-data-schema": {"type": "object", "required": ["id"]},
                        "example": "data: {\"id\":1}\n\ndata: {}\n\ndata: [DONE]\n\n"}}}
                }}}},
            "components": {"responses": {"R": {"description": "r", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"n": {"type": "integer", "nullable": true}}},
                "example": {"n": "seven"}}}}}}
        });
        let found: Vec<String> = validate_examples(&d)
            .iter()
            .map(|f| format!("{} {}", f.pointer, f.message))
            .collect();
        let all = found.join("\n");
        assert_eq!(found.len(), 4, "{all}");
        assert!(all.contains("/parameters/0/examples/bad/value"), "{all}");
        assert!(
            all.contains("wrongly_refused/value the example is marked x-invalid"),
            "{all}"
        );
        assert!(
            all.contains("/components/responses/R/content/application~1json/example"),
            "{all}"
        );
        assert!(all.contains("event 1:"), "{all}");
    }

    #[test]
    fn finds_each_structural_problem() {
        let d = json!({"openapi": "2.0", "paths": {"a": {"get": {
            "operationId": "x",
            "responses": {"20": {"description": "bad code"}, "404": {"$ref": "#/components/responses/Nope"}}}},
            "/b/{id}": {"post": {"operationId": "x", "responses": {"200": {}}}}}});
        let messages: Vec<String> = validate(&d)
            .iter()
            .map(|f| format!("{} {}", f.pointer, f.message))
            .collect();
        let all = messages.join("\n");
        for expected in [
            "/openapi expected",
            "/info required",
            "/paths/a path keys",
            "/responses/20 response keys",
            "Nope does not resolve",
            "operationId \"x\" is used twice",
            "{id} has no path parameter",
            "/responses/200/description required",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }
}
