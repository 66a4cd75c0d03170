//! Our compaction item: the turns a compacted window carries, sealed into one opaque string
//! (`encrypted_content`) and unsealed when the item comes back as input. The engine owns the
//! format, so the input decoder and the compaction route both depend on it, not on each other.

use super::Turn;
use base64::Engine as _;
use serde_json::{json, Value};

/// Marks our sealed conversations (and their version).
const SEAL: &str = "refserver-compaction-v1.";

/// The turns as our compaction item carries them.
pub fn seal(turns: &[Turn]) -> String {
    let list: Vec<Value> = turns
        .iter()
        .map(|t| match t {
            Turn::Message { role, text } => json!({"m": [role, text]}),
            Turn::ToolCall {
                call_id,
                name,
                arguments,
            } => json!({"c": [call_id, name, arguments]}),
            Turn::ToolOutput { call_id, output } => json!({"o": [call_id, output]}),
        })
        .collect();
    let json = Value::Array(list).to_string();
    format!(
        "{SEAL}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// The turns a compaction item of ours carries; `None` for anything else.
pub fn unseal(content: &str) -> Option<Vec<Turn>> {
    let body = content.strip_prefix(SEAL)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    let list: Vec<Value> = serde_json::from_slice(&bytes).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    list.iter()
        .map(|t| {
            if let Some([role, body]) = t["m"].as_array().map(Vec::as_slice) {
                Some(Turn::Message {
                    role: text(role)?,
                    text: text(body)?,
                })
            } else if let Some([id, name, args]) = t["c"].as_array().map(Vec::as_slice) {
                Some(Turn::ToolCall {
                    call_id: text(id)?,
                    name: text(name)?,
                    arguments: text(args)?,
                })
            } else if let Some([id, out]) = t["o"].as_array().map(Vec::as_slice) {
                Some(Turn::ToolOutput {
                    call_id: text(id)?,
                    output: text(out)?,
                })
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_conversation_opens_to_the_same_turns_and_nothing_else_opens() {
        let turns = vec![
            Turn::Message {
                role: "user".into(),
                text: "é ✓ hi".into(),
            },
            Turn::ToolCall {
                call_id: "c1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
            },
            Turn::ToolOutput {
                call_id: "c1".into(),
                output: "21".into(),
            },
            Turn::Message {
                role: "assistant".into(),
                text: "done".into(),
            },
        ];
        assert_eq!(unseal(&seal(&turns)), Some(turns));
        assert_eq!(unseal("gAAAAABpM0Yj-...="), None);
        assert_eq!(unseal(&format!("{SEAL}not base64!")), None);
    }
}
