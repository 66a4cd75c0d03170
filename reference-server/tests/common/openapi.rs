//! Reading `schemas/openapi.yaml` as the server serves it, for tests that hold the server to it.

use serde_json::{Map, Value};

pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub fn doc() -> Value {
    reference_server::openapi::build_document().expect("schemas/openapi.yaml bundles")
}

/// Follows local `$ref`s.
pub fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    v
}

pub struct Op<'a> {
    pub path: String,
    pub method: &'static str,
    pub op: &'a Value,
}

impl Op<'_> {
    pub fn id(&self) -> &str {
        self.op["operationId"].as_str().unwrap_or("?")
    }
}

pub fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push(Op {
                    path: path.clone(),
                    method,
                    op,
                });
            }
        }
        // The WebSocket handshake is documented beside the HTTP operations, not among them
        // (a generator would send it as a plain GET), and is routed as a GET.
        if let Some(op) = item.pointer("/x-openresponses-websocket/handshake") {
            out.push(Op {
                path: path.clone(),
                method: "get",
                op,
            });
        }
    }
    out
}

/// A validator for `schema`, whose `#/components/...` references resolve in `doc`.
pub fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = match resolve(doc, schema) {
        Value::Object(m) => m.clone(),
        Value::Bool(true) => Map::new(),
        other => panic!("not a schema: {other}"),
    };
    root.insert("components".into(), doc["components"].clone());
    jsonschema::draft202012::new(&Value::Object(root)).expect("the schema compiles")
}

pub fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Each parsed `data:` of an SSE body, with its `event:` name.
pub fn sse_events(text: &str) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let mut event = None;
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = Some(e.trim().to_owned());
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
            }
        }
        if data.is_empty() {
            continue;
        }
        let data = data.join("\n");
        let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
        out.push((event, value));
    }
    out
}

/// How a `text/event-stream` media type describes its events, the OpenAPI 3.2 way: the event
/// schema (`itemSchema`), the schema of the JSON in `data` (`contentSchema`), and the
/// constant `data` that ends the stream.
pub struct Stream<'a> {
    pub item: &'a Value,
    pub content: &'a Value,
    pub end: &'a str,
}

pub fn stream<'a>(doc: &'a Value, media: &'a Value) -> Stream<'a> {
    let item = resolve(doc, &media["itemSchema"]);
    let alternatives = item["properties"]["data"]["anyOf"]
        .as_array()
        .expect("itemSchema.properties.data.anyOf");
    let end = alternatives
        .iter()
        .find_map(|a| a["const"].as_str())
        .expect("a const alternative that ends the stream");
    let content = alternatives
        .iter()
        .find(|a| a["contentMediaType"] == "application/json")
        .map(|a| &a["contentSchema"])
        .expect("a JSON alternative with contentSchema");
    Stream { item, content, end }
}

/// The SSE event as OpenAPI 3.2 models it, for validation against `itemSchema`.
pub fn event_object(event: &Option<String>, data: &Value) -> Value {
    let raw = match data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut object = serde_json::json!({ "data": raw });
    if let Some(name) = event {
        object["event"] = Value::String(name.clone());
    }
    object
}
