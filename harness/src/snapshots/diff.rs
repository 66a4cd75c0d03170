//! The differences between two shapes, as lines a reviewer reads: a key added or removed, a
//! value whose kind changed, an event kind that appeared or went missing.

use serde_json::Value;

/// Each difference between `was` and `now`, one line each, by path.
pub fn differences(was: &Value, now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    // A stream's shape: compare its event kinds as such first.
    if let (Some(a), Some(b)) = (was["events"].as_array(), now["events"].as_array()) {
        if was.get("shapes").is_some() && now.get("shapes").is_some() {
            let kind = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let a_kinds: Vec<String> = a.iter().map(kind).collect();
            let b_kinds: Vec<String> = b.iter().map(kind).collect();
            for k in b_kinds.iter().filter(|k| !a_kinds.contains(k)) {
                out.push(format!("new event type {k}"));
            }
            for k in a_kinds.iter().filter(|k| !b_kinds.contains(k)) {
                out.push(format!("missing event type {k}"));
            }
            if out.is_empty() && a != b {
                out.push(format!(
                    "event order changed: was {}, now {}",
                    list(a),
                    list(b)
                ));
            }
            walk("shapes", &was["shapes"], &now["shapes"], &mut out, true);
            return out;
        }
    }
    walk("", was, now, &mut out, false);
    out
}

fn list(items: &[Value]) -> String {
    items
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
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
    }
}
