//! Turns the polymorphic parts of chat and responses requests (messages, input items, tools,
//! tool choice, output format), decoded through the typed shapes of `wire`, into the engine's
//! types; every error names the exact JSON path at fault.

use super::wire::{
    decode, ChatMessage, ChatRole, ChatTool, Choice, ChoiceMode, Content, Format, FormatKind,
    FunctionCallItem, FunctionDef, FunctionOutputItem, ItemHead, ItemKind, ItemRole, MessageItem,
    PartKind, ResponseTool, ToolKind,
};
use crate::engine::{Conversation, ReplyFormat, ToolChoice, ToolSpec, Turn};
use crate::protocol::error::ApiError;
use serde_json::{json, Value};

/// Most tools one request may offer (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;

/// Refuses an array parameter with more than `max` items.
pub fn check_count(value: &Value, param: &str, max: usize) -> Result<(), ApiError> {
    match value.as_array() {
        Some(items) if items.len() > max => Err(ApiError::too_many_items(param, items.len(), max)),
        _ => Ok(()),
    }
}

/// Joins the text of `content`: the string, or the `text`/`refusal` of its parts.
fn content_text(content: Option<&Content>, param: &str) -> Result<String, ApiError> {
    let parts = match content {
        None => return Ok(String::new()),
        Some(Content::Text(s)) => return Ok(s.clone()),
        Some(Content::Parts(parts)) => parts,
    };
    let mut texts = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part.kind {
            Some(PartKind::Text | PartKind::InputText | PartKind::OutputText) => match &part.text {
                Some(t) => texts.push(t.clone()),
                None => return Err(ApiError::missing_param(&format!("{param}[{i}].text"))),
            },
            Some(PartKind::Refusal) => texts.extend(part.refusal.iter().cloned()),
            // Media parts carry no text for this engine, but are valid input.
            Some(
                PartKind::ImageUrl
                | PartKind::InputImage
                | PartKind::InputAudio
                | PartKind::File
                | PartKind::InputFile,
            ) => {}
            None => return Err(ApiError::missing_param(&format!("{param}[{i}].type"))),
        }
    }
    Ok(texts.join("\n"))
}

/// A field the request must have, or the 400 naming its path.
fn required<T>(value: Option<T>, param: &str, key: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing_param(&format!("{param}.{key}")))
}

/// Chat `messages` into a conversation.
pub fn chat_messages(messages: &Value) -> Result<Conversation, ApiError> {
    let list: Vec<ChatMessage> = decode(messages, "messages")?;
    if list.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "'messages' must contain at least one message.",
        ));
    }
    let mut conversation = Conversation::default();
    for (i, message) in list.into_iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = required(message.role, &param, "role")?;
        let content_param = format!("{param}.content");
        let text = content_text(message.content.as_ref(), &content_param)?;
        match role {
            ChatRole::System | ChatRole::Developer => conversation.instructions.push(text),
            ChatRole::User => {
                required(message.content.as_ref(), &param, "content")?;
                conversation.turns.push(Turn::Message {
                    role: "user".to_owned(),
                    text,
                });
            }
            ChatRole::Assistant => {
                if message.content.is_none() && message.tool_calls.is_none() {
                    return Err(ApiError::missing_param(&content_param));
                }
                if !text.is_empty() {
                    conversation.turns.push(Turn::Message {
                        role: "assistant".to_owned(),
                        text,
                    });
                }
                for (j, call) in message.tool_calls.into_iter().flatten().enumerate() {
                    let cp = format!("{param}.tool_calls[{j}]");
                    let call_id = required(call.id, &cp, "id")?;
                    let function = required(call.function, &cp, "function")?;
                    let fp = format!("{cp}.function");
                    conversation.turns.push(Turn::ToolCall {
                        call_id,
                        name: required(function.name, &fp, "name")?,
                        arguments: required(function.arguments, &fp, "arguments")?,
                    });
                }
            }
            ChatRole::Tool => {
                let call_id = required(message.tool_call_id, &param, "tool_call_id")?;
                if !conversation.has_call(&call_id) {
                    return Err(ApiError::invalid_param(
                        &param,
                        format!("Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'; no tool call has the id '{call_id}'."),
                    ));
                }
                conversation.turns.push(Turn::ToolOutput {
                    call_id,
                    output: text,
                })
            }
            ChatRole::Function => conversation.turns.push(Turn::ToolOutput {
                call_id: required(message.name, &param, "name")?,
                output: text,
            }),
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
        let head: ItemHead = decode(item, &param)?;
        match head.kind.unwrap_or(ItemKind::Message) {
            ItemKind::Message => {
                let message: MessageItem = decode(item, &param)?;
                let role = required(message.role, &param, "role")?;
                let content = required(message.content.as_ref(), &param, "content")?;
                let text = content_text(Some(content), &format!("{param}.content"))?;
                match role {
                    ItemRole::System | ItemRole::Developer => conversation.instructions.push(text),
                    ItemRole::User | ItemRole::Assistant => {
                        conversation.turns.push(Turn::Message {
                            role: role.name().to_owned(),
                            text,
                        })
                    }
                }
                let parts = match content {
                    Content::Text(s) => {
                        let kind = if role == ItemRole::Assistant {
                            "output_text"
                        } else {
                            "input_text"
                        };
                        json!([{ "type": kind, "text": s }])
                    }
                    Content::Parts(_) => item.get("content").cloned().unwrap_or(Value::Null),
                };
                stored.push(json!({
                    "id": head.id.unwrap_or_else(|| super::new_id("msg")),
                    "type": "message",
                    "role": role.name(),
                    "status": "completed",
                    "content": parts,
                }));
            }
            ItemKind::FunctionCall => {
                let call: FunctionCallItem = decode(item, &param)?;
                conversation.turns.push(Turn::ToolCall {
                    call_id: required(call.call_id, &param, "call_id")?,
                    name: required(call.name, &param, "name")?,
                    arguments: required(call.arguments, &param, "arguments")?,
                });
                stored.push(with_id(item, head.id, "fc"));
            }
            ItemKind::FunctionCallOutput => {
                let output: FunctionOutputItem = decode(item, &param)?;
                let text = content_text(
                    Some(required(output.output.as_ref(), &param, "output")?),
                    &format!("{param}.output"),
                )?;
                let call_id = required(output.call_id, &param, "call_id")?;
                // An output answers a call of this conversation (its input, or the chain of
                // `previous_response_id`), as OpenAI requires.
                if !conversation.has_call(&call_id) {
                    return Err(ApiError::invalid_param(
                        format!("{param}.call_id"),
                        format!(
                            "No tool call found for function call output with call_id {call_id}."
                        ),
                    ));
                }
                conversation.turns.push(Turn::ToolOutput {
                    call_id,
                    output: text,
                });
                stored.push(with_id(item, head.id, "fco"));
            }
            ItemKind::Compaction => {
                let sealed = item.get("encrypted_content").and_then(Value::as_str);
                let Some(turns) = sealed.and_then(crate::engine::compaction::unseal) else {
                    return Err(ApiError::invalid_encrypted_content(format!(
                        "{param}.encrypted_content"
                    )));
                };
                // The compaction holds the whole conversation up to it, the user messages
                // listed before it included: it replaces them, so nothing is said twice.
                conversation.turns = turns;
                stored.push(with_id(item, head.id, "cmp"));
            }
            // Reasoning items and references carry nothing this engine reads.
            ItemKind::Reasoning | ItemKind::ItemReference => {
                stored.push(with_id(item, head.id, "item"))
            }
        }
    }
    Ok(stored)
}

/// The item as sent, with its id (the caller's, or a new one).
fn with_id(item: &Value, id: Option<String>, prefix: &str) -> Value {
    let mut item = item.clone();
    if let Some(obj) = item.as_object_mut() {
        obj.insert(
            "id".into(),
            Value::String(id.unwrap_or_else(|| super::new_id(prefix))),
        );
    }
    item
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
    // Each API's form is read alone: the other's keys are not this API's and are left alone.
    let list: Vec<(Option<ToolKind>, Option<FunctionDef>)> = match (tools, nested) {
        (None, _) => Vec::new(),
        (Some(v), true) => decode::<Option<Vec<ChatTool>>>(v, "tools")?
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.kind, t.function))
            .collect(),
        (Some(v), false) => decode::<Option<Vec<ResponseTool>>>(v, "tools")?
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.kind, Some(t.definition())))
            .collect(),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, (kind, definition)) in list.into_iter().enumerate() {
        let param = format!("tools[{i}]");
        // `function` is the only kind; any other is refused by `decode` naming `type`.
        required(kind, &param, "type")?;
        let def_param = if nested {
            format!("{param}.function")
        } else {
            param.clone()
        };
        let def = required(definition, &param, "function")?;
        let name = required(def.name, &def_param, "name")?;
        check_function_name(&name, &format!("{def_param}.name"))?;
        let parameters = def.parameters.map_or_else(
            || json!({"type": "object", "properties": {}}),
            Value::Object,
        );
        out.push(ToolSpec {
            name,
            description: def.description,
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
    let choice = choice
        .map(|v| decode::<Option<Choice>>(v, "tool_choice"))
        .transpose()?
        .flatten();
    let parsed = match choice {
        None if tools.is_empty() => ToolChoice::None,
        None => ToolChoice::Auto,
        Some(Choice::Mode(ChoiceMode::None)) => ToolChoice::None,
        Some(Choice::Mode(ChoiceMode::Auto)) => ToolChoice::Auto,
        Some(Choice::Mode(ChoiceMode::Required)) => ToolChoice::Required,
        Some(Choice::Named(named)) => {
            required(named.kind, "tool_choice", "type")?;
            let name = if nested {
                let function = required(named.function, "tool_choice", "function")?;
                required(function.name, "tool_choice.function", "name")?
            } else {
                required(named.name, "tool_choice", "name")?
            };
            ToolChoice::Named(name)
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
    let Some(format) = format
        .map(|v| decode::<Option<Format>>(v, param))
        .transpose()?
        .flatten()
    else {
        return Ok(ReplyFormat::Text);
    };
    match required(format.kind, param, "type")? {
        FormatKind::Text => Ok(ReplyFormat::Text),
        FormatKind::JsonObject => Ok(ReplyFormat::JsonObject),
        FormatKind::JsonSchema => {
            let (holder, hp) = if nested {
                (
                    required(format.holder(true), param, "json_schema")?,
                    format!("{param}.json_schema"),
                )
            } else {
                (format.holder(false).unwrap_or_default(), param.to_owned())
            };
            required(holder.name, &hp, "name")?;
            match holder.schema {
                Some(schema) => Ok(ReplyFormat::JsonSchema(Value::Object(schema))),
                // Chat allows a schema-less json_schema format: any JSON object.
                None if nested => Ok(ReplyFormat::JsonObject),
                None => Err(ApiError::missing_param(&format!("{hp}.schema"))),
            }
        }
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
    fn a_tool_is_read_in_its_own_api_form_only() {
        // Schemathesis found these schema-valid tools refused: each API's document allows
        // other keys in a tool, so the other API's keys must not be type-checked.
        let responses = json!([{"type": "function", "name": "f", "function": [-16927, null]}]);
        let t = tools(Some(&responses), false).unwrap_or_default();
        assert_eq!(t.first().map(|t| t.name.as_str()), Some("f"));
        let chat =
            json!([{"type": "function", "function": {"name": "g"}, "name": 5, "strict": "x"}]);
        let t = tools(Some(&chat), true).unwrap_or_default();
        assert_eq!(t.first().map(|t| t.name.as_str()), Some("g"));
        let bad = json!([{"type": "function", "name": 7}]);
        let e = tools(Some(&bad), false).err();
        assert_eq!(e.as_ref().and_then(ApiError::param), Some("tools[0].name"));
        let bad = json!([{"type": "function", "function": {"name": 7}}]);
        let e = tools(Some(&bad), true).err();
        assert_eq!(
            e.as_ref().and_then(ApiError::param),
            Some("tools[0].function.name")
        );
    }

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
    fn a_tool_output_must_answer_a_call_of_the_conversation() {
        let call =
            json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"});
        let answer =
            |id: &str| json!({"type": "function_call_output", "call_id": id, "output": "x"});
        let param = |input: Value, c: &mut Conversation| {
            response_input(Some(&input), c)
                .err()
                .and_then(|e| e.param().map(str::to_owned))
        };
        let mut c = Conversation::default();
        assert_eq!(param(json!([call.clone(), answer("c1")]), &mut c), None);
        let mut c = Conversation::default();
        assert_eq!(
            param(json!([call.clone(), answer("c2")]), &mut c).as_deref(),
            Some("input[1].call_id")
        );
        let mut c = Conversation::default();
        assert_eq!(
            param(json!([answer("c1"), call]), &mut c).as_deref(),
            Some("input[0].call_id"),
            "the call must come first"
        );
        // The call may be in the earlier turns (a `previous_response_id` chain).
        let mut c = Conversation::default();
        c.turns.push(Turn::ToolCall {
            call_id: "c9".into(),
            name: "f".into(),
            arguments: "{}".into(),
        });
        assert_eq!(param(json!([answer("c9")]), &mut c), None);

        let chat = |messages: Value| {
            chat_messages(&messages)
                .err()
                .and_then(|e| e.param().map(str::to_owned))
        };
        let asked = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
        let user = json!({"role": "user", "content": "hi"});
        assert_eq!(
            chat(json!([user, asked, {"role": "tool", "tool_call_id": "t1", "content": "ok"}])),
            None
        );
        assert_eq!(
            chat(json!([user, asked, {"role": "tool", "tool_call_id": "t2", "content": "ok"}]))
                .as_deref(),
            Some("messages[2]")
        );
        assert_eq!(
            chat(json!([user, {"role": "tool", "tool_call_id": "t1", "content": "ok"}])).as_deref(),
            Some("messages[1]")
        );
    }

    #[test]
    fn a_wrong_type_deep_in_an_item_is_named_by_its_full_path() {
        let param = |input: Value| {
            let mut c = Conversation::default();
            response_input(Some(&input), &mut c)
                .err()
                .and_then(|e| e.param().map(str::to_owned))
        };
        assert_eq!(
            param(json!([{"role": "user", "content": [{"type": "input_text", "text": 5}]}])),
            Some("input[0].content[0].text".to_owned())
        );
        assert_eq!(
            param(json!(["x", {"type": "function_call", "call_id": "c", "name": "f"}])),
            Some("input[0]".to_owned())
        );
        assert_eq!(
            param(json!([{"type": "function_call", "call_id": "c", "name": "f"}])),
            Some("input[0].arguments".to_owned())
        );
        assert_eq!(
            param(json!([{"type": "computer_call"}])),
            Some("input[0].type".to_owned())
        );
        assert_eq!(
            param(json!([{"role": "user", "content": "hi", "id": 7}])),
            Some("input[0].id".to_owned())
        );
        let chat = tools(
            Some(&json!([{"type": "function", "function": {"name": "f", "parameters": []}}])),
            true,
        )
        .err();
        assert_eq!(
            chat.as_ref().and_then(ApiError::param),
            Some("tools[0].function.parameters")
        );
        let format = reply_format(
            Some(&json!({"type": "json_schema", "json_schema": {"name": "n", "strict": "yes"}})),
            "response_format",
            true,
        )
        .err();
        assert_eq!(
            format.as_ref().and_then(ApiError::param),
            Some("response_format.json_schema.strict")
        );
    }

    #[test]
    fn named_tool_choice_must_exist() {
        let tools = vec![ToolSpec {
            name: "a".into(),
            description: None,
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
