//! Builds a JSON value that validates against a JSON Schema, deterministically. Used for
//! structured outputs (`json_schema` response formats) and for function-call arguments.

use super::plausible;
use serde_json::{json, Map, Value};

/// How deep `$ref` chains and nesting may go before the generator stops adding optional parts.
const MAX_DEPTH: usize = 12;

/// A value that satisfies `schema`. `hint` (the user's text) seeds string values so that
/// different prompts give different, but repeatable, documents.
pub fn generate(schema: &Value, hint: &str) -> Value {
    Generator { root: schema, hint }.value(schema, "value", "", 0)
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

    /// A value for `schema` at `path` (a JSON pointer; its last part is `name`).
    fn value(&self, schema: &Value, name: &str, path: &str, depth: usize) -> Value {
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
                    return self.value(pick, name, path, depth + 1);
                }
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for part in all {
                if let Value::Object(o) = self.value(part, name, path, depth + 1) {
                    merged.extend(o);
                }
            }
            return Value::Object(merged);
        }
        let seed = plausible::seed(self.hint, path);
        match type_of(schema) {
            "object" => self.object(schema, path, depth),
            "array" => self.array(schema, name, path, depth),
            "string" => self.string(schema, name, seed),
            "integer" => json!(number_in(schema, name, seed, true) as i64),
            "number" => json!(number_in(schema, name, seed, false)),
            "boolean" => json!(!seed.is_multiple_of(3)),
            "null" => Value::Null,
            _ => json!(self.text_for(name, seed)),
        }
    }

    fn object(&self, schema: &Value, path: &str, depth: usize) -> Value {
        let mut out = Map::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                let child = format!("{path}/{key}");
                out.insert(key.clone(), self.value(sub, key, &child, depth + 1));
            }
        }
        Value::Object(out)
    }

    fn array(&self, schema: &Value, name: &str, path: &str, depth: usize) -> Value {
        let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        // Two items when the bounds allow: a list of one hides a client's list handling.
        let count = min.max(2).min(max).max(min.min(max)) as usize;
        let items = schema
            .get("items")
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        let unique = schema.get("uniqueItems") == Some(&json!(true));
        let mut out: Vec<Value> = Vec::with_capacity(count);
        for i in 0..count {
            let mut v = self.value(&items, name, &format!("{path}/{i}"), depth + 1);
            if unique && out.contains(&v) {
                if let Value::String(s) = &mut v {
                    s.push_str(&format!(" {}", i + 1));
                } else if let Some(n) = v.as_i64() {
                    v = json!(n + i as i64);
                }
            }
            out.push(v);
        }
        Value::Array(out)
    }

    fn string(&self, schema: &Value, name: &str, seed: u64) -> Value {
        let base = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => format!(
                "2024-{:02}-{:02}T{:02}:{:02}:00Z",
                1 + seed % 12,
                1 + (seed >> 8) % 28,
                8 + (seed >> 16) % 10,
                15 * ((seed >> 24) % 4)
            ),
            Some("date") => format!("2024-{:02}-{:02}", 1 + seed % 12, 1 + (seed >> 8) % 28),
            Some("time") => format!("{:02}:{:02}:00Z", 8 + seed % 10, 15 * ((seed >> 8) % 4)),
            Some("email") => plausible::string("email", seed).unwrap_or_default(),
            Some("uri") | Some("url") => plausible::string("url", seed).unwrap_or_default(),
            Some("uuid") => format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                seed >> 32,
                (seed >> 16) & 0xffff,
                seed & 0xfff,
                (seed >> 12) & 0xfff,
                seed & 0xffff_ffff_ffff
            ),
            _ => self.text_for(name, seed),
        };
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        let mut s = base;
        while s.chars().count() < min {
            s.push_str(if s.is_empty() { "sample" } else { " sample" });
        }
        if let Some(max) = max {
            s = s.chars().take(max).collect();
        }
        Value::String(s)
    }

    /// Text for a string field called `name`: the prompt's place or name for a place-like
    /// field, the prompt itself for a query-like one, an ordinary value for a name that says
    /// what it holds, else the prompt's first capitalised word or a plain word.
    fn text_for(&self, name: &str, seed: u64) -> String {
        let lower = name.to_ascii_lowercase();
        let place_like = [
            "location",
            "city",
            "place",
            "destination",
            "origin",
            "region",
            "where",
        ]
        .iter()
        .any(|w| lower.contains(w));
        if place_like {
            if let Some(word) = self.capitalised() {
                return word.to_owned();
            }
        }
        let query_like = [
            "query", "question", "prompt", "search", "topic", "subject", "keywords", "text",
            "message",
        ]
        .iter()
        .any(|w| lower.contains(w));
        if query_like && !self.hint.trim().is_empty() {
            return self.hint.trim().chars().take(80).collect();
        }
        plausible::string(name, seed)
            .or_else(|| self.capitalised().map(str::to_owned))
            .unwrap_or_else(|| plausible::word(seed))
    }

    /// The first run of capitalised words in the prompt after its first word (a likely place
    /// or name): `San Francisco` in "What's the weather like in San Francisco?".
    fn capitalised(&self) -> Option<&str> {
        let mut words = self
            .hint
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| (w, w.chars().next().is_some_and(char::is_uppercase)))
            .skip(1)
            .peekable();
        // Word slices point into `hint`, so a run is the text from its first word to its last.
        let base = self.hint.as_ptr() as usize;
        let offset = |w: &str| w.as_ptr() as usize - base;
        while let Some((first, upper)) = words.next() {
            if !upper {
                continue;
            }
            let start = offset(first);
            let mut end = start + first.len();
            while let Some((next, true)) = words.peek().copied() {
                // Only words joined by one space: "Paris, Lyon" is two names.
                if self.hint.get(end..offset(next)) != Some(" ") {
                    break;
                }
                end = offset(next) + next.len();
                words.next();
            }
            return self.hint.get(start..end);
        }
        None
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

fn number_in(schema: &Value, name: &str, seed: u64, integer: bool) -> f64 {
    // An exclusive bound moves in by one for integers and by a hair for numbers.
    let step = if integer { 1.0 } else { 1e-6 };
    let min = schema.get("minimum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMinimum")
            .and_then(Value::as_f64)
            .map(|m| if integer { m.floor() + step } else { m + step })
    });
    let max = schema.get("maximum").and_then(Value::as_f64).or_else(|| {
        schema
            .get("exclusiveMaximum")
            .and_then(Value::as_f64)
            .map(|m| if integer { m.ceil() - step } else { m - step })
    });
    let multiple_of = schema.get("multipleOf").and_then(Value::as_f64);
    plausible::number(name, seed, integer, min, max, multiple_of)
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
        assert!((3..=12).contains(&v["days"].as_i64().unwrap_or(0)), "{v}");
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

    #[test]
    fn values_are_plausible_and_valid() {
        // The bounds a zod `z.number().int()` schema carries, names that say what they hold.
        let safe = 9_007_199_254_740_991_i64;
        let schema = json!({
            "type": "object",
            "properties": {
                "party_size": {"type": "integer", "minimum": -safe, "maximum": safe},
                "name": {"type": "string"},
                "email": {"type": "string"},
                "price": {"type": "number", "exclusiveMinimum": 0},
                "when": {"type": "string", "format": "date-time"},
                "id": {"type": "string", "format": "uuid"},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "notes": {"type": "array", "items": {"type": "string"}, "maxItems": 5, "uniqueItems": true},
                "step": {"type": "integer", "multipleOf": 15, "minimum": 1}
            },
            "required": ["party_size", "name", "email", "price"],
            "additionalProperties": false
        });
        let prompt = "Book a table for dinner in Lisbon";
        let v = generate(&schema, prompt);
        let size = v["party_size"].as_i64().unwrap_or(0);
        assert!((1..=12).contains(&size), "{v}");
        let name = v["name"].as_str().unwrap_or_default();
        assert!(name.contains(' ') && name != "name", "{v}");
        assert!(v["email"].as_str().is_some_and(|e| e.contains('@')), "{v}");
        assert!(
            v["price"].as_f64().is_some_and(|p| p > 0.0 && p < 1000.0),
            "{v}"
        );
        assert_eq!(v["notes"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["step"].as_i64().map(|s| s % 15), Some(0));
        let validator = jsonschema::validator_for(&schema);
        let Ok(validator) = validator else {
            panic!("schema compiles")
        };
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{v}: {errors:?}");
        assert_eq!(generate(&schema, prompt), v, "deterministic");
        assert_ne!(
            generate(&schema, "Another prompt entirely"),
            v,
            "derived from the prompt"
        );
    }

    #[test]
    fn a_place_is_the_prompts_run_of_capitalised_words() {
        let schema = json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]});
        for (prompt, place) in [
            ("What's the weather like in San Francisco?", "San Francisco"),
            ("Use get_weather for Paris", "Paris"),
            ("Weather in Paris, Lyon and Nice", "Paris"),
            ("Is it raining in New  York", "New"),
        ] {
            assert_eq!(generate(&schema, prompt)["location"], place, "{prompt}");
        }
    }
}
