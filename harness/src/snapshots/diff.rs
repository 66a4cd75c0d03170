//! The differences between two shapes, as lines a reviewer reads: a key added or removed, a
//! value whose kind changed, an event kind that appeared or went missing.

use serde_json::Value;

/// Each difference between `was` and `now`, one line each, by path.
pub fn differences(was: &Value, now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", was, now, &mut out, false);
    out
}

/// Whether `v` is a stream's shape: its event kinds and their shapes.
fn is_stream(v: &Value) -> bool {
    v["events"].is_array() && v["shapes"].is_object()
}

/// A stream's differences: event kinds that appeared or went missing, or the same kinds in
/// another order; then each kind's shapes.
fn stream(path: &str, was: &Value, now: &Value, out: &mut Vec<String>) {
    let kinds = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|k| k.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (kinds(was), kinds(now));
    let before = out.len();
    for k in b.iter().filter(|k| !a.contains(k)) {
        out.push(format!("new event type {k}"));
    }
    for k in a.iter().filter(|k| !b.contains(k)) {
        out.push(format!("missing event type {k}"));
    }
    if out.len() == before && a != b {
        out.push(format!(
            "event order changed: was {}, now {}",
            a.join(" "),
            b.join(" ")
        ));
    }
    walk(
        &join(path, "shapes"),
        &was["shapes"],
        &now["shapes"],
        out,
        true,
    );
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "an array".into(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// `event_kinds`: under `shapes`, the first level of keys are event kinds, reported as such
/// (the event-type lines above already named them).
fn walk(path: &str, was: &Value, now: &Value, out: &mut Vec<String>, event_kinds: bool) {
    match (was, now) {
        (a, b) if is_stream(a) && is_stream(b) => stream(path, a, b, out),
        (Value::Object(a), Value::Object(b)) => {
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                if !event_kinds {
                    out.push(format!("added key {}: {}", join(path, k), kind_of(&b[k])));
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                if !event_kinds {
                    out.push(format!(
                        "removed key {} (was {})",
                        join(path, k),
                        kind_of(&a[k])
                    ));
                }
            }
            for (k, av) in a {
                if let Some(bv) = b.get(k) {
                    walk(&join(path, k), av, bv, out, false);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() == 1 && b.len() == 1 {
                walk(&format!("{path}[]"), &a[0], &b[0], out, false);
            } else if a.len() == b.len() {
                for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{path}[{i}]"), av, bv, out, false);
                }
            } else if a != b {
                out.push(format!(
                    "{path}: {} item shape(s), now {}: was {}, now {}",
                    a.len(),
                    b.len(),
                    crate::target::excerpt(&Value::Array(a.clone()).to_string(), 200),
                    crate::target::excerpt(&Value::Array(b.clone()).to_string(), 200)
                ));
            }
        }
        (a, b) if a != b => out.push(format!(
            "{}: was {}, now {}",
            if path.is_empty() { "(the body)" } else { path },
            kind_of(a),
            kind_of(b)
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_removed_and_changed_keys_are_named_by_path() {
        let was = json!({"a": "[integer]", "b": {"c": "[text]", "d": null}, "e": ["x"]});
        let now = json!({"a": "[text]", "b": {"c": "[text]", "f": "[bool]"}, "e": ["y"]});
        let d = differences(&was, &now);
        assert_eq!(
            d,
            vec![
                "a: was \"[integer]\", now \"[text]\"",
                "added key b.f: \"[bool]\"",
                "removed key b.d (was null)",
                "e[]: was \"x\", now \"y\"",
            ]
        );
        assert!(differences(&was, &was).is_empty());
    }

    #[test]
    fn streams_report_new_and_missing_event_types() {
        let was = json!({"events": ["a", "b", "c"], "shapes": {"a": [{}], "b": [{}], "c": [{}]}});
        let now = json!({"events": ["a", "x", "b"], "shapes": {"a": [{}], "b": [{}], "x": [{}]}});
        assert_eq!(
            differences(&was, &now),
            vec!["new event type x", "missing event type c"]
        );
        let reordered =
            json!({"events": ["b", "a", "c"], "shapes": {"a": [{}], "b": [{}], "c": [{}]}});
        assert_eq!(
            differences(&was, &reordered),
            vec!["event order changed: was a b c, now b a c"]
        );
        // As recorded: under the document's `stream` key, beside status and media type.
        let doc =
            |s: &Value| json!({"status": 200, "media_type": "text/event-stream", "stream": s});
        assert_eq!(
            differences(&doc(&was), &doc(&now)),
            vec!["new event type x", "missing event type c"]
        );
    }
}
