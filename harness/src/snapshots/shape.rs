//! The normalised shape of an answer: what a deployment sends, without what changes from one
//! answer to the next. Keys are kept (sorted), values become their kind: enum-like strings are
//! kept, ids, timestamps, counts, vectors and free text are redacted to a placeholder, arrays
//! collapse to the distinct shapes of their items. Which key gets which treatment is the data
//! in [`RULES`], documented in the README.

use serde_json::{Map, Value};

/// What a value is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redact {
    /// `[id]`: any string.
    Id,
    /// `[timestamp]`: an integer or a string.
    Timestamp,
    /// `[count]`: an integer.
    Count,
    /// `[text]`: any string.
    Text,
    /// `[model]`: the model's name (chosen by the run, differs between deployments).
    Model,
    /// `[base64]`: a base64 string (a vector sent as `encoding_format: base64`).
    Base64,
}

impl Redact {
    fn placeholder(self) -> &'static str {
        match self {
            Self::Id => "[id]",
            Self::Timestamp => "[timestamp]",
            Self::Count => "[count]",
            Self::Text => "[text]",
            Self::Model => "[model]",
            Self::Base64 => "[base64]",
        }
    }
}

/// How a key is matched.
#[derive(Debug, Clone, Copy)]
pub enum KeyMatch {
    /// The key itself.
    Is(&'static str),
    /// Keys ending with this.
    EndsWith(&'static str),
}

impl KeyMatch {
    fn matches(self, key: &str) -> bool {
        match self {
            Self::Is(k) => key == k,
            Self::EndsWith(s) => key.ends_with(s),
        }
    }
}

/// The redaction rules, first match wins. A rule redacts only values of the kinds it names
/// (an `id` that is an object is walked, not redacted).
pub const RULES: &[(KeyMatch, Redact)] = &[
    (KeyMatch::Is("id"), Redact::Id),
    (KeyMatch::EndsWith("_id"), Redact::Id),
    (KeyMatch::Is("system_fingerprint"), Redact::Id),
    (KeyMatch::Is("encrypted_content"), Redact::Id),
    (KeyMatch::Is("created"), Redact::Timestamp),
    (KeyMatch::EndsWith("_at"), Redact::Timestamp),
    (KeyMatch::EndsWith("tokens"), Redact::Count),
    (KeyMatch::Is("sequence_number"), Redact::Count),
    (KeyMatch::Is("model"), Redact::Model),
    (KeyMatch::Is("owned_by"), Redact::Text),
    (KeyMatch::Is("embedding"), Redact::Base64),
    (KeyMatch::Is("content"), Redact::Text),
    (KeyMatch::Is("text"), Redact::Text),
    (KeyMatch::Is("delta"), Redact::Text),
    (KeyMatch::Is("message"), Redact::Text),
    (KeyMatch::Is("arguments"), Redact::Text),
    (KeyMatch::Is("refusal"), Redact::Text),
    (KeyMatch::Is("instructions"), Redact::Text),
    (KeyMatch::Is("summary"), Redact::Text),
];

/// An array of more numbers than this is a vector: `[f32 x N]`.
pub const VECTOR_MIN: usize = 8;

/// Strings kept as they are: short words of letters, digits and `_ . - :` (`chat.completion`,
/// `stop`, `assistant`, `response.output_text.delta`), the vocabulary of a wire format. A word
/// of 16 or more characters with a digit in it is a generated token (`conformance-a-3f9c…`),
/// not vocabulary.
fn enum_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-:".contains(c))
        && !s
            .split(|c: char| "_.-:".contains(c))
            .any(|w| w.len() >= 16 && w.bytes().any(|b| b.is_ascii_digit()))
}

fn rule_for(key: &str) -> Option<Redact> {
    RULES.iter().find(|(m, _)| m.matches(key)).map(|(_, r)| *r)
}

/// The shape of a JSON value.
pub fn shape(value: &Value) -> Value {
    shape_at(None, value)
}

fn shape_at(key: Option<&str>, value: &Value) -> Value {
    let rule = key.and_then(rule_for);
    match (rule, value) {
        (Some(Redact::Id | Redact::Text | Redact::Model), Value::String(_))
        | (Some(Redact::Timestamp), Value::String(_) | Value::Number(_))
        | (Some(Redact::Count), Value::Number(_)) => Value::String(rule_placeholder(rule)),
        (Some(Redact::Base64), Value::String(s)) => {
            Value::String(format!("[base64 x {}]", s.len()))
        }
        (_, Value::Null) => Value::Null,
        (_, Value::Bool(_)) => Value::String("[bool]".into()),
        (_, Value::Number(n)) => Value::String(if n.is_i64() || n.is_u64() {
            "[integer]".into()
        } else {
            "[number]".into()
        }),
        (_, Value::String(s)) if enum_like(s) => Value::String(s.clone()),
        (_, Value::String(_)) => Value::String("[text]".into()),
        (_, Value::Array(items)) => {
            if items.len() > VECTOR_MIN && items.iter().all(Value::is_number) {
                return Value::String(format!("[f32 x {}]", items.len()));
            }
            // The distinct shapes of the items, in order of first appearance.
            let mut shapes: Vec<Value> = Vec::new();
            for item in items {
                let s = shape_at(key, item);
                if !shapes.contains(&s) {
                    shapes.push(s);
                }
            }
            Value::Array(shapes)
        }
        (_, Value::Object(map)) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), shape_at(Some(k), &map[k]));
            }
            Value::Object(out)
        }
    }
}

fn rule_placeholder(rule: Option<Redact>) -> String {
    rule.map_or("[text]", Redact::placeholder).to_owned()
}

/// The shape of a stream of JSON events: the event kinds in order (a run of one kind written
/// once: how many deltas an answer takes is not its shape) and each kind's distinct shapes. A kind is the event's
/// `type`, or for untyped events (chat chunks) the `object` with the keys of the first
/// choice's delta.
pub fn stream_shape(events: &[Value]) -> Value {
    let mut order: Vec<Value> = Vec::new();
    let mut kinds: Map<String, Value> = Map::new();
    for e in events {
        let kind = event_kind(e);
        if order.last().and_then(Value::as_str) != Some(kind.as_str()) {
            order.push(Value::String(kind.clone()));
        }
        let s = shape(e);
        let entry = kinds
            .entry(kind)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(shapes) = entry {
            if !shapes.contains(&s) {
                shapes.push(s);
            }
        }
    }
    let mut sorted = Map::new();
    let mut names: Vec<String> = kinds.keys().cloned().collect();
    names.sort();
    for n in names {
        if let Some(v) = kinds.remove(&n) {
            sorted.insert(n, v);
        }
    }
    serde_json::json!({"events": order, "shapes": sorted})
}

fn event_kind(e: &Value) -> String {
    if let Some(t) = e["type"].as_str() {
        return t.to_owned();
    }
    let object = e["object"].as_str().unwrap_or("event");
    let delta = &e["choices"][0]["delta"];
    match delta.as_object() {
        Some(d) => {
            let mut keys: Vec<&str> = d
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.as_str())
                .collect();
            keys.sort_unstable();
            let finish = if e["choices"][0]["finish_reason"].is_string() {
                "+finish"
            } else {
                ""
            };
            format!("{object}{{{}}}{finish}", keys.join(","))
        }
        None if e["choices"].as_array().is_some_and(Vec::is_empty) => {
            format!("{object}{{usage}}")
        }
        None => object.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_tokens_are_not_vocabulary() {
        assert!(enum_like("response.output_text.delta"));
        assert!(enum_like("text-embedding-3-small"));
        assert!(!enum_like("conformance-a-3f9c0d1e2b3a4c5d6e7f8091a2b3c4d5"));
        assert!(!enum_like("Hello"));
    }

    #[test]
    fn a_chat_completion_keeps_its_vocabulary_and_loses_its_values() {
        let a = json!({
            "id": "chatcmpl-123", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_44709d6fcb",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello there, friend!", "refusal": null},
                 "logprobs": null, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": "Hi!", "refusal": null},
                 "logprobs": null, "finish_reason": "length"}
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
                      "prompt_tokens_details": {"cached_tokens": 0}}
        });
        let s = shape(&a);
        assert_eq!(
            s,
            json!({
                "choices": [
                    {"finish_reason": "stop", "index": "[integer]", "logprobs": null,
                     "message": {"content": "[text]", "refusal": null, "role": "assistant"}},
                    {"finish_reason": "length", "index": "[integer]", "logprobs": null,
                     "message": {"content": "[text]", "refusal": null, "role": "assistant"}}
                ],
                "created": "[timestamp]", "id": "[id]", "model": "[model]",
                "object": "chat.completion", "system_fingerprint": "[id]",
                "usage": {"completion_tokens": "[count]", "prompt_tokens": "[count]",
                          "prompt_tokens_details": {"cached_tokens": "[count]"}, "total_tokens": "[count]"}
            })
        );
        // Another answer to the same request: the same shape.
        let mut b = a.clone();
        b["id"] = json!("chatcmpl-999");
        b["created"] = json!(1_800_000_000);
        b["choices"][0]["message"]["content"] = json!("Something else entirely.");
        b["usage"]["total_tokens"] = json!(99);
        assert_eq!(shape(&b), s);
    }

    #[test]
    fn vectors_and_base64_keep_their_length_only() {
        let v = json!({"object": "list", "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]},
            {"object": "embedding", "index": 1, "embedding": [0.9, 0.2, -0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1]}
        ]});
        assert_eq!(
            shape(&v)["data"],
            json!([{"embedding": "[f32 x 9]", "index": "[integer]", "object": "embedding"}])
        );
        let b = json!({"embedding": "AAAAAA=="});
        assert_eq!(shape(&b), json!({"embedding": "[base64 x 8]"}));
    }

    #[test]
    fn a_type_change_and_a_new_key_change_the_shape() {
        let a = shape(&json!({"object": "list", "data": [], "has_more": false}));
        assert_ne!(
            a,
            shape(&json!({"object": "list", "data": [], "has_more": "no"}))
        );
        assert_ne!(
            a,
            shape(&json!({"object": "list", "data": [], "has_more": false, "x": 1}))
        );
        // Free text is not vocabulary; words of the wire format are.
        assert_eq!(shape(&json!("Hello, world")), json!("[text]"));
        assert_eq!(
            shape(&json!("response.output_text.delta")),
            json!("response.output_text.delta")
        );
    }

    #[test]
    fn a_stream_is_its_event_kinds_in_order_with_their_shapes() {
        let events = vec![
            json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress"}}),
            json!({"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "delta": "Hel"}),
            json!({"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "delta": "lo"}),
            json!({"type": "response.completed", "sequence_number": 3, "response": {"id": "resp_1", "status": "completed"}}),
        ];
        let s = stream_shape(&events);
        assert_eq!(
            s["events"],
            json!([
                "response.created",
                "response.output_text.delta",
                "response.completed"
            ])
        );
        assert_eq!(
            s["shapes"]["response.output_text.delta"],
            json!([{"delta": "[text]", "item_id": "[id]", "sequence_number": "[count]", "type": "response.output_text.delta"}])
        );
        // Chat chunks are named by what their delta carries.
        let chunks = vec![
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        ];
        assert_eq!(
            stream_shape(&chunks)["events"],
            json!([
                "chat.completion.chunk{content,role}",
                "chat.completion.chunk{content}",
                "chat.completion.chunk{}+finish"
            ])
        );
    }
}
