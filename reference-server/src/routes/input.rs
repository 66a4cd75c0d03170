//! Reads the polymorphic parts of chat and responses requests (messages, input items, tools,
//! tool choice, output format) into the engine's types, with errors that name the exact
//! JSON path at fault.

use crate::engine::{Conversation, ReplyFormat, ToolChoice, ToolSpec, Turn};
use crate::error::ApiError;
use serde_json::{json, Map, Value};

/// Most tools one request may offer (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;

/// Refuses an array parameter with more than `max` items.
pub fn check_count(value: &Value, param: &str, max: usize) -> Result<(), ApiError> {
    match value.as_array() {
        Some(items) if items.len() > max => Err(ApiError::too_many_items(param, items.len(), max)),
        _ => Ok(()),
    }
}

/// Joins the text of a `content` value: a string, or parts with `text`/`refusal`.
pub fn content_text(content: &Value, param: &str) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut texts = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let p = format!("{param}[{i}]");
                let Some(obj) = part.as_object() else {
                    return Err(ApiError::invalid_param(p, "Content parts must be objects."));
                };
                let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
                match kind {
                    "text" | "input_text" | "output_text" => match obj.get("text") {
                        Some(Value::String(t)) => texts.push(t.clone()),
                        _ => return Err(ApiError::missing_param(&format!("{p}.text"))),
                    },
                    "refusal" => {
                        if let Some(Value::String(t)) = obj.get("refusal") {
                            texts.push(t.clone());
                        }
                    }
                    // Media parts carry no text for this engine, but are valid input.
                    "image_url" | "input_image" | "input_audio" | "file" | "input_file" => {}
                    "" => return Err(ApiError::missing_param(&format!("{p}.type"))),
                    other => {
                        return Err(ApiError::invalid_param(
                            format!("{p}.type"),
                            format!("Invalid content part type '{other}'."),
                        ))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(ApiError::invalid_param(
            param,
            "Content must be a string or an array of content parts.",
        )),
    }
}

fn str_field<'v>(obj: &'v Map<String, Value>, key: &str, param: &str) -> Result<&'v str, ApiError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_param(
            format!("{param}.{key}"),
            format!("'{key}' must be a string."),
        )),
        None => Err(ApiError::missing_param(&format!("{param}.{key}"))),
    }
}

/// A field that, when present and not null, must be of one JSON type (fields this engine
/// ignores, such as a message's `name`, are still held to their type).
fn optional(
    obj: &Map<String, Value>,
    key: &str,
    param: &str,
    (is, what): (fn(&Value) -> bool, &str),
) -> Result<(), ApiError> {
    match obj.get(key) {
        Some(v) if !v.is_null() && !is(v) => Err(ApiError::invalid_param(
            format!("{param}.{key}"),
            format!("'{key}' must be {what}."),
        )),
        _ => Ok(()),
    }
}

const STRING: (fn(&Value) -> bool, &str) = (Value::is_string, "a string");
const BOOLEAN: (fn(&Value) -> bool, &str) = (Value::is_boolean, "a boolean");

/// The `id` an input item was sent with, if any (null is none).
fn item_id(obj: &Map<String, Value>, param: &str) -> Result<Option<String>, ApiError> {
    optional(obj, "id", param, STRING)?;
    Ok(obj.get("id").and_then(Value::as_str).map(str::to_owned))
}

/// Chat `messages` into a conversation.
pub fn chat_messages(messages: &Value) -> Result<Conversation, ApiError> {
    let Some(list) = messages.as_array() else {
        return Err(ApiError::invalid_param(
            "messages",
            "'messages' must be an array.",
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "'messages' must contain at least one message.",
        ));
    }
    let mut conversation = Conversation::default();
    for (i, message) in list.iter().enumerate() {
        let param = format!("messages[{i}]");
        let Some(obj) = message.as_object() else {
            return Err(ApiError::invalid_param(
                param,
                "Each message must be an object.",
            ));
        };
        let role = str_field(obj, "role", &param)?;
        optional(obj, "name", &param, STRING)?;
        optional(obj, "refusal", &param, STRING)?;
        let content = obj.get("content").unwrap_or(&Value::Null);
        let text = content_text(content, &format!("{param}.content"))?;
        match role {
            "system" | "developer" => conversation.instructions.push(text),
            "user" => {
                if content.is_null() {
                    return Err(ApiError::missing_param(&format!("{param}.content")));
                }
                conversation.turns.push(Turn::Message {
                    role: role.to_owned(),
                    text,
                });
            }
            "assistant" => {
                let calls = obj.get("tool_calls").and_then(Value::as_array);
                if content.is_null() && calls.is_none() {
                    return Err(ApiError::missing_param(&format!("{param}.content")));
                }
                if !text.is_empty() {
                    conversation.turns.push(Turn::Message {
                        role: role.to_owned(),
                        text,
                    });
                }
                for (j, call) in calls.into_iter().flatten().enumerate() {
                    let cp = format!("{param}.tool_calls[{j}]");
                    let call = call.as_object().ok_or_else(|| {
                        ApiError::invalid_param(cp.clone(), "Tool calls must be objects.")
                    })?;
                    let function = call
                        .get("function")
                        .and_then(Value::as_object)
                        .ok_or_else(|| ApiError::missing_param(&format!("{cp}.function")))?;
                    conversation.turns.push(Turn::ToolCall {
                        call_id: str_field(call, "id", &cp)?.to_owned(),
                        name: str_field(function, "name", &format!("{cp}.function"))?.to_owned(),
                        arguments: str_field(function, "arguments", &format!("{cp}.function"))?
                            .to_owned(),
                    });
                }
            }
            "tool" => conversation.turns.push(Turn::ToolOutput {
                call_id: str_field(obj, "tool_call_id", &param)?.to_owned(),
                output: text,
            }),
            "function" => conversation.turns.push(Turn::ToolOutput {
                call_id: str_field(obj, "name", &param)?.to_owned(),
                output: text,
            }),
            other => {
                return Err(ApiError::invalid_param(
                    format!("{param}.role"),
                    format!(
                    "Invalid role '{other}': expected system, developer, user, assistant or tool."
                ),
                ))
            }
        }
    }
    Ok(conversation)
}

/// Responses `input` into conversation turns, plus the items as stored (with ids).
pub fn response_input(
    input: Option<&Value>,
    conversation: &mut Conversation,
) -> Result<Vec<Value>, ApiError> {
    let mut stored = Vec::new();
    let items = match input {
        None | Some(Value::Null) => return Ok(stored),
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "input",
                "'input' must be a string or an array of input items.",
            ))
        }
    };
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let Some(obj) = item.as_object() else {
            return Err(ApiError::invalid_param(
                param,
                "Each input item must be an object.",
            ));
        };
        let kind = match obj.get("type") {
            None => "message",
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    format!("{param}.type"),
                    "'type' must be a string.",
                ))
            }
        };
        match kind {
            "message" => {
                let role = str_field(obj, "role", &param)?;
                if !matches!(role, "user" | "assistant" | "system" | "developer") {
                    return Err(ApiError::invalid_param(
                        format!("{param}.role"),
                        format!(
                            "Invalid role '{role}': expected user, assistant, system or developer."
                        ),
                    ));
                }
                let content = obj
                    .get("content")
                    .ok_or_else(|| ApiError::missing_param(&format!("{param}.content")))?;
                let text = content_text(content, &format!("{param}.content"))?;
                match role {
                    "system" | "developer" => conversation.instructions.push(text.clone()),
                    _ => conversation.turns.push(Turn::Message {
                        role: role.to_owned(),
                        text: text.clone(),
                    }),
                }
                let parts = match content {
                    Value::String(s) => {
                        let kind = if role == "assistant" {
                            "output_text"
                        } else {
                            "input_text"
                        };
                        json!([{ "type": kind, "text": s }])
                    }
                    other => other.clone(),
                };
                stored.push(json!({
                    "id": item_id(obj, &param)?.unwrap_or_else(|| super::new_id("msg")),
                    "type": "message",
                    "role": role,
                    "status": "completed",
                    "content": parts,
                }));
            }
            "function_call" => {
                conversation.turns.push(Turn::ToolCall {
                    call_id: str_field(obj, "call_id", &param)?.to_owned(),
                    name: str_field(obj, "name", &param)?.to_owned(),
                    arguments: str_field(obj, "arguments", &param)?.to_owned(),
                });
                stored.push(with_id(obj, "fc", &param)?);
            }
            "function_call_output" => {
                let output = obj
                    .get("output")
                    .ok_or_else(|| ApiError::missing_param(&format!("{param}.output")))?;
                conversation.turns.push(Turn::ToolOutput {
                    call_id: str_field(obj, "call_id", &param)?.to_owned(),
                    output: content_text(output, &format!("{param}.output"))?,
                });
                stored.push(with_id(obj, "fco", &param)?);
            }
            // Reasoning items and references carry nothing this engine reads.
            "reasoning" | "item_reference" => stored.push(with_id(obj, "item", &param)?),
            other => {
                return Err(ApiError::invalid_param(
                    format!("{param}.type"),
                    format!("Input item type '{other}' is not supported by this server."),
                ))
            }
        }
    }
    Ok(stored)
}

fn with_id(obj: &Map<String, Value>, prefix: &str, param: &str) -> Result<Value, ApiError> {
    let id = item_id(obj, param)?.unwrap_or_else(|| super::new_id(prefix));
    let mut item = obj.clone();
    item.insert("id".into(), json!(id));
    Ok(Value::Object(item))
}

fn check_function_name(name: &str, param: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            param,
            format!("Invalid function name '{name}': use 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'."),
        ))
    }
}

/// Chat `tools` (`{"type":"function","function":{…}}`) or Responses `tools` (flat).
pub fn tools(tools: Option<&Value>, nested: bool) -> Result<Vec<ToolSpec>, ApiError> {
    let list = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "tools",
                "'tools' must be an array.",
            ))
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let param = format!("tools[{i}]");
        let obj = tool.as_object().ok_or_else(|| {
            ApiError::invalid_param(param.clone(), "Each tool must be an object.")
        })?;
        let kind = str_field(obj, "type", &param)?;
        if kind != "function" {
            return Err(ApiError::invalid_param(
                format!("{param}.type"),
                format!("Tool type '{kind}' is not supported by this server; only 'function' is."),
            ));
        }
        let (def, def_param) = if nested {
            let f = obj
                .get("function")
                .and_then(Value::as_object)
                .ok_or_else(|| ApiError::missing_param(&format!("{param}.function")))?;
            (f, format!("{param}.function"))
        } else {
            (obj, param.clone())
        };
        let name = str_field(def, "name", &def_param)?;
        optional(def, "description", &def_param, STRING)?;
        optional(def, "strict", &def_param, BOOLEAN)?;
        check_function_name(name, &format!("{def_param}.name"))?;
        let parameters = match def.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    format!("{def_param}.parameters"),
                    "'parameters' must be a JSON Schema object.",
                ))
            }
        };
        out.push(ToolSpec {
            name: name.to_owned(),
            parameters,
        });
    }
    Ok(out)
}

/// `tool_choice` in either API's form; a named function must be among `tools`.
pub fn tool_choice(
    choice: Option<&Value>,
    tools: &[ToolSpec],
    nested: bool,
) -> Result<ToolChoice, ApiError> {
    let default = if tools.is_empty() {
        ToolChoice::None
    } else {
        ToolChoice::Auto
    };
    let parsed =
        match choice {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) => match s.as_str() {
                "none" => ToolChoice::None,
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                other => {
                    return Err(ApiError::invalid_param(
                        "tool_choice",
                        format!(
                    "Invalid tool_choice '{other}': expected none, auto, required or a function."
                ),
                    ))
                }
            },
            Some(Value::Object(obj)) => {
                let name = if nested {
                    obj.get("function").and_then(|f| f.get("name"))
                } else {
                    obj.get("name")
                };
                match (
                    obj.get("type").and_then(Value::as_str),
                    name.and_then(Value::as_str),
                ) {
                    (Some("function"), Some(name)) => ToolChoice::Named(name.to_owned()),
                    _ => return Err(ApiError::invalid_param(
                        "tool_choice",
                        "tool_choice objects must be {\"type\":\"function\", …} naming a function.",
                    )),
                }
            }
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "tool_choice",
                    "Invalid tool_choice.",
                ))
            }
        };
    match &parsed {
        ToolChoice::Required if tools.is_empty() => Err(ApiError::invalid_param(
            "tool_choice",
            "tool_choice 'required' needs at least one tool in 'tools'.",
        )),
        ToolChoice::Named(name) if !tools.iter().any(|t| &t.name == name) => {
            Err(ApiError::invalid_param(
                "tool_choice",
                format!("tool_choice names function '{name}', which is not in 'tools'."),
            ))
        }
        _ => Ok(parsed),
    }
}

/// Chat `response_format` (nested `json_schema`) or Responses `text.format` (flat).
pub fn reply_format(
    format: Option<&Value>,
    param: &str,
    nested: bool,
) -> Result<ReplyFormat, ApiError> {
    let obj = match format {
        None | Some(Value::Null) => return Ok(ReplyFormat::Text),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ApiError::invalid_param(
                param,
                format!("'{param}' must be an object."),
            ))
        }
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ReplyFormat::Text),
        Some("json_object") => Ok(ReplyFormat::JsonObject),
        Some("json_schema") => {
            let (holder, hp) = if nested {
                let h = obj
                    .get("json_schema")
                    .and_then(Value::as_object)
                    .ok_or_else(|| ApiError::missing_param(&format!("{param}.json_schema")))?;
                (h, format!("{param}.json_schema"))
            } else {
                (obj, param.to_owned())
            };
            str_field(holder, "name", &hp)?;
            optional(holder, "description", &hp, STRING)?;
            optional(holder, "strict", &hp, BOOLEAN)?;
            match holder.get("schema") {
                Some(s @ Value::Object(_)) => Ok(ReplyFormat::JsonSchema(s.clone())),
                Some(_) => Err(ApiError::invalid_param(
                    format!("{hp}.schema"),
                    "'schema' must be a JSON Schema object.",
                )),
                None if nested => Ok(ReplyFormat::JsonObject),
                None => Err(ApiError::missing_param(&format!("{hp}.schema"))),
            }
        }
        Some(other) => Err(ApiError::invalid_param(
            format!("{param}.type"),
            format!("Invalid format type '{other}': expected text, json_object or json_schema."),
        )),
        None => Err(ApiError::missing_param(&format!("{param}.type"))),
    }
}

/// A number parameter within `[lo, hi]`, if given.
pub fn check_range(value: Option<f64>, param: &str, lo: f64, hi: f64) -> Result<(), ApiError> {
    match value {
        Some(v) if !(lo..=hi).contains(&v) => Err(ApiError::out_of_range(param, v, lo, hi)),
        _ => Ok(()),
    }
}

/// `metadata`: at most 16 string pairs, keys up to 64 and values up to 512 characters.
pub fn check_metadata(metadata: Option<&Value>) -> Result<(), ApiError> {
    let obj = match metadata {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "metadata",
                "'metadata' must be an object.",
            ))
        }
    };
    if obj.len() > 16 {
        return Err(ApiError::invalid_param(
            "metadata",
            "'metadata' can have at most 16 pairs.",
        ));
    }
    for (k, v) in obj {
        let ok = k.chars().count() <= 64 && v.as_str().is_some_and(|s| s.chars().count() <= 512);
        if !ok {
            return Err(ApiError::invalid_param(
                format!("metadata.{k}"),
                "Metadata keys must be at most 64 characters and values strings of at most 512.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_split_instructions_and_turns() {
        let c = chat_messages(&json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        ]))
        .unwrap_or_default();
        assert_eq!(c.instructions, vec!["be brief"]);
        assert_eq!(c.turns.len(), 1);
    }

    #[test]
    fn ignored_fields_still_have_their_type() {
        let e = chat_messages(&json!([{"role": "user", "content": "x", "name": 5}])).err();
        assert_eq!(
            e.as_ref().and_then(ApiError::param),
            Some("messages[0].name")
        );
        assert!(chat_messages(&json!([{"role": "user", "content": "x", "name": null}])).is_ok());
    }

    #[test]
    fn bad_role_names_its_path() {
        let e = chat_messages(&json!([{"role": "robot", "content": "x"}])).err();
        assert_eq!(
            e.as_ref().and_then(ApiError::param),
            Some("messages[0].role")
        );
    }

    #[test]
    fn tool_output_needs_its_call_id() {
        let mut c = Conversation::default();
        let e = response_input(
            Some(&json!([{"type": "function_call_output", "output": "x"}])),
            &mut c,
        )
        .err();
        assert_eq!(
            e.as_ref().and_then(ApiError::param),
            Some("input[0].call_id")
        );
    }

    #[test]
    fn named_tool_choice_must_exist() {
        let tools = vec![ToolSpec {
            name: "a".into(),
            parameters: json!({}),
        }];
        assert!(tool_choice(
            Some(&json!({"type": "function", "name": "b"})),
            &tools,
            false
        )
        .is_err());
        assert_eq!(
            tool_choice(
                Some(&json!({"type": "function", "function": {"name": "a"}})),
                &tools,
                true
            )
            .ok(),
            Some(ToolChoice::Named("a".into()))
        );
    }

    #[test]
    fn bad_function_names_are_rejected() {
        let e = tools(
            Some(&json!([{"type": "function", "name": "has space"}])),
            false,
        )
        .err();
        assert_eq!(e.as_ref().and_then(ApiError::param), Some("tools[0].name"));
    }
}
