//! Bundling: a document whose `$ref`s point into other files (`model.schema.json`,
//! `response.schema.json#/$defs/Usage`) becomes one self-contained document, each file
//! inlined once under `components/schemas` and every reference rewritten to point there.
//!
//! `$id` and `$schema` of the inlined files are dropped: an `$id` would move the base URI of
//! the `#/$defs/...` references inside the file, which tools that resolve pointers from the
//! document root (every OpenAPI tool) would then get wrong.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The file part of every non-local `$ref` in `value` (`a.json#/x` gives `a.json`).
pub fn external_refs(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, &mut out);
    out
}

fn collect(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(file) = map.get("$ref").and_then(Value::as_str).and_then(file_part) {
                out.insert(file.to_owned());
            }
            map.values().for_each(|v| collect(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// The relative file a reference points into; absolute URLs are left alone (never fetched).
fn file_part(reference: &str) -> Option<&str> {
    let file = reference.split('#').next().unwrap_or("");
    (!file.is_empty() && !file.contains("://")).then_some(file)
}

/// The component name for a file: `chat-completion-chunk.schema.json` gives
/// `ChatCompletionChunk`.
pub fn component_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base
        .strip_suffix(".schema.json")
        .or_else(|| base.strip_suffix(".json"))
        .or_else(|| base.strip_suffix(".yaml"))
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(base);
    stem.split(['-', '_', '.'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}

struct Bundler<'a> {
    load: &'a mut dyn FnMut(&str) -> Result<Value, String>,
    /// file -> component name, for every file seen.
    names: BTreeMap<String, String>,
    /// Files still to inline.
    pending: Vec<String>,
}

impl Bundler<'_> {
    fn name_for(&mut self, file: &str) -> Result<String, String> {
        if let Some(name) = self.names.get(file) {
            return Ok(name.clone());
        }
        let name = component_name(file);
        if let Some((other, _)) = self.names.iter().find(|(_, n)| **n == name) {
            return Err(format!(
                "{file} and {other} would both be inlined as components/schemas/{name}"
            ));
        }
        self.names.insert(file.to_owned(), name.clone());
        self.pending.push(file.to_owned());
        Ok(name)
    }

    /// Rewrites the references in `value`; `inside` names the component being inlined, whose
    /// local references (`#/$defs/X`) move with it.
    fn rewrite(&mut self, value: &mut Value, inside: Option<&str>) -> Result<(), String> {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get_mut("$ref") {
                    let fragment = reference
                        .split_once('#')
                        .map_or(String::new(), |(_, f)| f.to_owned());
                    if let Some(file) = file_part(reference).map(str::to_owned) {
                        let name = self.name_for(&file)?;
                        *reference = format!("#/components/schemas/{name}{fragment}");
                    } else if let (Some(name), true) = (inside, reference.starts_with('#')) {
                        *reference = format!("#/components/schemas/{name}{fragment}");
                    }
                }
                for v in map.values_mut() {
                    self.rewrite(v, inside)?;
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.rewrite(v, inside)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Inlines every file `doc` references, loading each with `load` (given the reference's file
/// part as written). Fails on a file that cannot be loaded or on two files that would take
/// the same component name, or one already taken in the document.
pub fn bundle(
    doc: &mut Value,
    load: &mut dyn FnMut(&str) -> Result<Value, String>,
) -> Result<(), String> {
    let mut b = Bundler {
        load,
        names: BTreeMap::new(),
        pending: Vec::new(),
    };
    b.rewrite(doc, None)?;
    let mut inlined = Vec::new();
    while let Some(file) = b.pending.pop() {
        let name = b.names.get(&file).cloned().unwrap_or_default();
        let mut schema = (b.load)(&file).map_err(|e| format!("{file}: {e}"))?;
        if let Value::Object(map) = &mut schema {
            map.remove("$id");
            map.remove("$schema");
        }
        b.rewrite(&mut schema, Some(&name))?;
        inlined.push((name, schema));
    }
    if inlined.is_empty() {
        return Ok(());
    }
    let root = doc.as_object_mut().ok_or("the document is not an object")?;
    let components = root
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("components is not an object")?;
    let schemas = components
        .entry("schemas")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("components/schemas is not an object")?;
    inlined.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, schema) in inlined {
        if schemas.contains_key(&name) {
            return Err(format!(
                "components/schemas/{name} is already defined in the document"
            ));
        }
        schemas.insert(name, schema);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(name: &str) -> Result<Value, String> {
        match name {
            "a.schema.json" => Ok(json!({
                "$id": "https://x/a", "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"b": {"$ref": "#/$defs/B"}, "c": {"$ref": "other-thing.json"}},
                "$defs": {"B": {"type": "string"}}
            })),
            "other-thing.json" => Ok(json!({"type": "integer"})),
            _ => Err("no such file".into()),
        }
    }

    #[test]
    fn inlines_files_and_rewrites_local_and_cross_file_references() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": "a.schema.json"}}}}}}}},
            "components": {"schemas": {"Local": {"$ref": "a.schema.json#/$defs/B"}, "Keep": {"$ref": "#/components/schemas/Local"}}}
        });
        bundle(&mut doc, &mut files).unwrap();
        let s = &doc["components"]["schemas"];
        assert_eq!(
            doc.pointer("/paths/~1x/get/responses/200/content/application~1json/schema/$ref"),
            Some(&json!("#/components/schemas/A"))
        );
        assert_eq!(s["Local"]["$ref"], "#/components/schemas/A/$defs/B");
        assert_eq!(s["Keep"]["$ref"], "#/components/schemas/Local");
        assert_eq!(
            s["A"]["properties"]["b"]["$ref"],
            "#/components/schemas/A/$defs/B"
        );
        assert_eq!(
            s["A"]["properties"]["c"]["$ref"],
            "#/components/schemas/OtherThing"
        );
        assert_eq!(s["OtherThing"]["type"], "integer");
        assert!(s["A"].get("$id").is_none() && s["A"].get("$schema").is_none());
        assert!(external_refs(&doc).is_empty());
    }

    #[test]
    fn absolute_urls_are_left_alone() {
        let mut doc = json!({"x": {"$ref": "https://example.com/s.json#/a"}});
        assert!(external_refs(&doc).is_empty());
        bundle(&mut doc, &mut files).unwrap();
        assert_eq!(doc["x"]["$ref"], "https://example.com/s.json#/a");
    }

    #[test]
    fn missing_files_and_name_clashes_are_errors() {
        let mut doc = json!({"x": {"$ref": "nope.json"}});
        assert!(bundle(&mut doc, &mut files)
            .unwrap_err()
            .contains("nope.json"));
        let mut doc = json!({"x": {"$ref": "a.schema.json"}, "components": {"schemas": {"A": {}}}});
        assert!(bundle(&mut doc, &mut files)
            .unwrap_err()
            .contains("already defined"));
        let mut doc = json!({"x": {"$ref": "a.schema.json"}, "y": {"$ref": "dir/a.json"}});
        assert!(bundle(&mut doc, &mut |_| Ok(json!({})))
            .unwrap_err()
            .contains("both"));
    }

    #[test]
    fn names_are_camel_case_stems() {
        assert_eq!(
            component_name("chat-completion-chunk.schema.json"),
            "ChatCompletionChunk"
        );
        assert_eq!(component_name("../x/error.json"), "Error");
    }
}
