//! A document's schemas as plain JSON Schema, compiled on first use.
//!
//! Schemas are first turned into plain JSON Schema (`nullable`, boolean `exclusiveMinimum`):
//! 3.0 documents need it, and 3.1 documents still carry leftover `nullable: true` (OpenAI's
//! official one has over a hundred) whose intent is plain. The converted `components` are
//! registered once as a resource, and each compiled schema refers into it, so a large
//! document (OpenAI's: 2,000 schemas) is indexed once rather than once per schema.

use super::resolve;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Where the document's converted `components` are registered.
const COMPONENTS: &str = "urn:conformance:openapi-components";

/// The schemas of one document.
pub struct DocSchemas<'d> {
    doc: &'d Value,
    /// The converted `components`, indexed once.
    registry: Result<jsonschema::Registry<'static>, String>,
    cache: HashMap<String, Result<jsonschema::Validator, String>>,
}

impl<'d> DocSchemas<'d> {
    /// Prepares `doc`: converts and indexes its components; no schema is compiled yet.
    pub fn new(doc: &'d Value) -> Self {
        let components = serde_json::json!({
            "components": to_json_schema(doc.get("components").unwrap_or(&Value::Null))
        });
        let registry = jsonschema::Registry::new()
            .draft(jsonschema::Draft::Draft202012)
            .add(COMPONENTS, components)
            .and_then(|b| b.prepare())
            .map_err(|e| format!("the document's components cannot be indexed: {e}"));
        Self {
            doc,
            registry,
            cache: HashMap::new(),
        }
    }

    fn validator(&mut self, schema: &Value) -> Result<&jsonschema::Validator, String> {
        let schema = resolve(self.doc, schema);
        let registry = self.registry.as_ref().map_err(Clone::clone)?;
        self.cache
            .entry(schema.to_string())
            .or_insert_with(|| {
                let root = match to_json_schema(schema) {
                    Value::Object(m) => Value::Object(m),
                    Value::Bool(true) => Value::Object(Map::new()),
                    other => return Err(format!("not a schema: {other}")),
                };
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .with_registry(registry)
                    .build(&into_registry(root))
                    .map_err(|e| format!("the document's schema does not compile: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Why `value` is not valid against `schema` (empty when it is), each as
    /// `message at /pointer`. A union discriminated by `type` is narrowed to its branch first.
    pub fn problems(&mut self, schema: &Value, value: &Value) -> Vec<String> {
        let schema = narrow(self.doc, schema, value);
        match self.validator(schema) {
            Ok(v) => v
                .iter_errors(value)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    // The messages quote the instance, which may be a whole response.
                    let message = crate::target::excerpt(&e.to_string(), 160);
                    format!("{message} at {}", if path.is_empty() { "/" } else { &path })
                })
                .collect(),
            Err(e) => vec![e],
        }
    }
}

/// `schema` with its `#/components/...` references pointing into the registered components.
fn into_registry(schema: Value) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) if r.starts_with("#/components/") => {
                        let target = format!("{COMPONENTS}{r}");
                        (k, Value::String(target))
                    }
                    (_, v) => (k, into_registry(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(into_registry).collect()),
        other => other,
    }
}

/// For a union (`anyOf`/`oneOf`) discriminated by `type`, the branch whose `type` is the
/// value's, so a failure names the faulty field rather than "valid under none of the
/// schemas" (OpenAI's stream events and output items are such unions).
fn narrow<'a>(doc: &'a Value, schema: &'a Value, value: &Value) -> &'a Value {
    let resolved = resolve(doc, schema);
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return schema;
    };
    let branches = resolved
        .get("anyOf")
        .or_else(|| resolved.get("oneOf"))
        .and_then(Value::as_array);
    let matching: Vec<&Value> = branches
        .into_iter()
        .flatten()
        .filter(|b| {
            let t = &resolve(doc, b)["properties"]["type"];
            t["const"] == kind
                || t["enum"]
                    .as_array()
                    .is_some_and(|e| e.len() == 1 && e[0] == kind)
        })
        .collect();
    match matching.as_slice() {
        [only] => narrow(doc, only, value),
        _ => schema,
    }
}

/// An OpenAPI schema (tree) in plain JSON Schema terms: `nullable: true` admits null, boolean
/// `exclusiveMinimum`/`exclusiveMaximum` become numbers.
pub fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        Value::Object(m) => {
            let mut out: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| *k != "nullable")
                .map(|(k, x)| (k.clone(), to_json_schema(x)))
                .collect();
            for (flag, bound) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if let Some(Value::Bool(b)) = m.get(flag) {
                    out.remove(flag);
                    if *b {
                        if let Some(limit) = out.remove(bound) {
                            out.insert(flag.into(), limit);
                        }
                    }
                }
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                match out.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        out.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    _ => {
                        let inner = Value::Object(out);
                        return serde_json::json!({"anyOf": [inner, {"type": "null"}]});
                    }
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_30_nullable_and_exclusive_bounds_become_json_schema() {
        let s = to_json_schema(&json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": true, "enum": ["x"]},
                "b": {"$ref": "#/x", "nullable": true},
                "c": {"type": "number", "minimum": 0, "exclusiveMinimum": true}
            }
        }));
        assert_eq!(s["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(s["properties"]["a"]["enum"], json!(["x", null]));
        assert_eq!(s["properties"]["b"]["anyOf"][1], json!({"type": "null"}));
        assert_eq!(
            s["properties"]["c"],
            json!({"type": "number", "exclusiveMinimum": 0})
        );
    }
}
