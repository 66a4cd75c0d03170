//! Builds a JSON value that validates against a JSON Schema, deterministically. Used for
//! structured outputs (`json_schema` response formats) and for function-call arguments.

use serde_json::{json, Map, Value};

/// How deep `$ref` chains and nesting may go before the generator stops adding optional parts.
const MAX_DEPTH: usize = 12;

/// A value that satisfies `schema`. `hint` (the user's text) seeds string values so that
/// different prompts give different, but repeatable, documents.
pub fn generate(schema: &Value, hint: &str) -> Value {
    Generator { root: schema, hint }.value(schema, "value", 0)
}

struct Generator<'a> {
    root: &'a Value,
    hint: &'a str,
}

impl Generator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut current = schema;
        for _ in 0..MAX_DEPTH {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return current;
            };
            let Some(pointer) = reference.strip_prefix('#') else {
                return current;
            };
            match self.root.pointer(pointer) {
                Some(target) => current = target,
                None => return current,
            }
        }
        current
    }

    fn value(&self, schema: &Value, name: &str, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                // Prefer a non-null branch: a null answer tells the caller nothing.
                let pick = options
                    .iter()
                    .find(|o| self.resolve(o).get("type") != Some(&json!("null")))
                    .or(options.first());
                if let Some(pick) = pick {
                    return self.value(pick, name, depth + 1);
                }
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for part in all {
                if let Value::Object(o) = self.value(part, name, depth + 1) {
                    merged.extend(o);
                }
            }
            return Value::Object(merged);
        }
        match type_of(schema) {
            "object" => self.object(schema, depth),
            "array" => self.array(schema, name, depth),
            "string" => self.string(schema, name),
            "integer" => json!(number_in(schema, true) as i64),
            "number" => json!(number_in(schema, false)),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => json!(self.hint_word(name)),
        }
    }

    fn object(&self, schema: &Value, depth: usize) -> Value {
        let mut out = Map::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                out.insert(key.clone(), self.value(sub, key, depth + 1));
            }
        }
        Value::Object(out)
    }

    fn array(&self, schema: &Value, name: &str, depth: usize) -> Value {
        let min = schema
            .get("minItems")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        let max = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let count = min.min(max) as usize;
        let items = schema
            .get("items")
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        let mut out: Vec<Value> = Vec::with_capacity(count);
        for i in 0..count {
            let mut v = self.value(&items, name, depth + 1);
            if schema.get("uniqueItems") == Some(&json!(true)) {
                if let Value::String(s) = &mut v {
                    s.push_str(&format!("-{i}"));
                } else if let Some(n) = v.as_i64() {
                    v = json!(n + i as i64);
                }
            }
            out.push(v);
        }
        Value::Array(out)
    }

    fn string(&self, schema: &Value, name: &str) -> Value {
        let base = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => "2024-01-01T00:00:00Z".to_owned(),
            Some("date") => "2024-01-01".to_owned(),
            Some("time") => "00:00:00Z".to_owned(),
            Some("email") => "user@example.com".to_owned(),
            Some("uri") | Some("url") => "https://example.com/".to_owned(),
            Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
            _ => self.hint_word(name),
        };
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        let mut s = base;
        while s.chars().count() < min {
            s.push('x');
        }
        if let Some(max) = max {
            s = s.chars().take(max).collect();
        }
        Value::String(s)
    }

    /// A capitalised word from the prompt (a likely place or name), else the field name.
    fn hint_word(&self, name: &str) -> String {
        self.hint
            .split(|c: char| !c.is_alphanumeric())
            .skip(1)
            .find(|w| w.chars().next().is_some_and(char::is_uppercase))
            .map(str::to_owned)
            .unwrap_or_else(|| name.to_owned())
    }
}

fn type_of(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "",
    }
}

fn number_in(schema: &Value, integer: bool) -> f64 {
    let min = schema.get("minimum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMinimum")
            .and_then(Value::as_f64)
            .map(|m| m + 1.0)
    });
    let max = schema.get("maximum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMaximum")
            .and_then(Value::as_f64)
            .map(|m| m - 1.0)
    });
    let mut n = match (min, max) {
        (Some(lo), _) => lo,
        (None, Some(hi)) => hi.min(1.0),
        (None, None) => 1.0,
    };
    if integer {
        n = n.ceil();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_required_properties_with_matching_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 3},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}
            },
            "required": ["location", "unit"]
        });
        let v = generate(&schema, "What is the weather in Paris?");
        assert_eq!(v["location"], "Paris");
        assert_eq!(v["unit"], "celsius");
        assert_eq!(v["days"], 3);
        assert_eq!(v["tags"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn follows_local_refs_and_nullable_unions() {
        let schema = json!({
            "$defs": {"p": {"type": "object", "properties": {"n": {"type": ["string", "null"]}}}},
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/p"}}
        });
        let v = generate(&schema, "hi");
        assert!(v["p"]["n"].is_string());
    }
}
