//! How a `text/event-stream` media type describes its events.
//!
//! OpenAPI 3.2 describes each event with `itemSchema`: an object with `data` (a string),
//! `event`, `id` and `retry`; JSON carried in `data` is described by
//! `contentMediaType: application/json` with `contentSchema`, and a plain terminator such as
//! `[DONE]` by a `const` alternative. JSON Schema treats `contentSchema` as an annotation, so
//! it is applied here by hand. Older documents are read too: the private
//! `x-sse-data-schema`/`x-sse-terminator` pair, and OpenAI's convention of putting the schema
//! of one event's data in `schema`.

use super::resolve;
use super::schemas::DocSchemas;
use serde_json::{json, Value};

/// What a document says about each event of a stream.
#[derive(Debug, Default)]
pub struct EventSchema<'d> {
    /// The schema of the event object (3.2 `itemSchema`).
    item: Option<&'d Value>,
    /// Schemas of the JSON in `data`: one of them must accept it.
    data: Vec<&'d Value>,
    /// `data` values that are constants rather than JSON (`[DONE]`).
    constants: Vec<String>,
}

impl<'d> EventSchema<'d> {
    /// The description in media type object `media`, if it has one.
    pub fn of(doc: &'d Value, media: &'d Value) -> Option<Self> {
        if let Some(item) = media.get("itemSchema") {
            let item = resolve(doc, item);
            let mut found = Self {
                item: Some(item),
                ..Self::default()
            };
            found.read_item(doc, item, 0);
            return Some(found);
        }
        if let Some(data) = media.get("x-sse-data-schema") {
            let end = media["x-sse-terminator"].as_str().unwrap_or("[DONE]");
            return Some(Self {
                item: None,
                data: vec![data],
                constants: vec![end.to_owned()],
            });
        }
        let schema = media.get("schema")?;
        (resolve(doc, schema)["type"] != "string").then(|| Self {
            item: None,
            data: vec![schema],
            constants: vec!["[DONE]".to_owned()],
        })
    }

    /// Reads `data` of an event schema and of its alternatives.
    fn read_item(&mut self, doc: &'d Value, item: &'d Value, depth: usize) {
        if depth > 8 {
            return;
        }
        if let Some(data) = item.get("properties").and_then(|p| p.get("data")) {
            self.read_data(doc, resolve(doc, data), depth);
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for branch in item[key].as_array().into_iter().flatten() {
                self.read_item(doc, resolve(doc, branch), depth + 1);
            }
        }
    }

    /// Reads the schema of `data`: a content schema, a constant, or alternatives of those.
    fn read_data(&mut self, doc: &'d Value, data: &'d Value, depth: usize) {
        if depth > 8 {
            return;
        }
        if let Some(content) = data.get("contentSchema") {
            self.data.push(content);
        }
        if let Some(Value::String(c)) = data.get("const") {
            self.constants.push(c.clone());
        }
        for key in ["oneOf", "anyOf"] {
            for branch in data[key].as_array().into_iter().flatten() {
                self.read_data(doc, resolve(doc, branch), depth + 1);
            }
        }
    }

    /// Why an event named `event` with `data` does not match (empty when it does).
    pub fn problems(
        &self,
        schemas: &mut DocSchemas<'_>,
        event: Option<&str>,
        data: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(item) = self.item {
            let mut object = json!({ "data": data });
            if let Some(name) = event {
                object["event"] = json!(name);
            }
            problems.extend(schemas.problems(item, &object));
        }
        if self.constants.iter().any(|c| c == data) || self.data.is_empty() {
            return problems;
        }
        let Ok(value) = serde_json::from_str::<Value>(data) else {
            problems.push("data is not JSON".to_owned());
            return problems;
        };
        let mut first: Option<Vec<String>> = None;
        for schema in &self.data {
            let found = schemas.problems(schema, &value);
            if found.is_empty() {
                return problems;
            }
            first.get_or_insert(found);
        }
        problems.extend(first.unwrap_or_default());
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"openapi": "3.2.0", "components": {"schemas": {
            "Chunk": {"type": "object", "required": ["id"]}}}})
    }

    #[test]
    fn reads_the_item_schema_of_openapi_3_2() {
        let d = doc();
        let media = json!({"itemSchema": {"type": "object", "required": ["data"],
            "properties": {"data": {"anyOf": [{"const": "[DONE]"},
                {"contentMediaType": "application/json",
                 "contentSchema": {"$ref": "#/components/schemas/Chunk"}}]}}}});
        let e = EventSchema::of(&d, &media).unwrap_or_default();
        let mut s = DocSchemas::new(&d);
        assert!(e.problems(&mut s, None, "{\"id\":\"a\"}").is_empty());
        assert!(e.problems(&mut s, None, "[DONE]").is_empty());
        assert!(
            !e.problems(&mut s, None, "{}").is_empty(),
            "content schema applied"
        );
        assert!(
            !e.problems(&mut s, None, "nope").is_empty(),
            "data must be JSON"
        );
    }

    #[test]
    fn reads_the_older_forms() {
        let d = doc();
        let private = json!({"schema": {"type": "string"},
            "x-sse-data-schema": {"$ref": "#/components/schemas/Chunk"}});
        let e = EventSchema::of(&d, &private).unwrap_or_default();
        let mut s = DocSchemas::new(&d);
        assert!(!e.problems(&mut s, None, "{}").is_empty());
        assert!(e.problems(&mut s, None, "[DONE]").is_empty());
        let described = json!({"schema": {"type": "string"}});
        assert!(EventSchema::of(&d, &described).is_none());
    }
}
