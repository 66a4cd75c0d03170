//! The typed shapes of the polymorphic parts of chat and responses requests: messages, input
//! items, content, tools, tool choice and output formats. Both routes decode through here;
//! `decode` reports the full JSON path of the first field of the wrong type or value
//! (`messages[2].content[0].type`), and `input` turns the typed values into the engine's.
//!
//! Every field is optional at this level, so a missing one is found by the code that needs
//! it (and reported as missing, with its path) rather than by matching serde's message text.
//! Fields the engine does not read are not declared and stay as sent.

use crate::protocol::error::ApiError;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Decodes `value`, found at `param` (empty for the body), as `T`; a wrong type or value is a
/// 400 whose `param` is the full path of the field at fault.
pub fn decode<'v, T: Deserialize<'v>>(value: &'v Value, param: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = param.to_owned();
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                Segment::Map { key: name } | Segment::Enum { variant: name } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Segment::Unknown => path.push_str(if path.is_empty() { "?" } else { ".?" }),
            }
        }
        if path.is_empty() {
            path.push_str("body");
        }
        ApiError::invalid_type(&path, e.into_inner())
    })
}

/// A field that may be left out but, when present, must have its type: `null` is refused
/// (the documents type these fields without `null`).
fn non_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `content` (and a tool output): text, or a list of parts. `null` is read as absent.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A plain string.
    Text(String),
    /// Content parts.
    Parts(Vec<Part>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Content, E> {
                Ok(Content::Text(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(part) = seq.next_element::<Part>()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(ContentVisitor)
    }
}

/// One content part.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(expecting = "a content part object")]
pub struct Part {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<PartKind>,
    /// The text of a text part.
    pub text: Option<String>,
    /// The text of a refusal part (may be left out, never `null`).
    #[serde(default, deserialize_with = "non_null")]
    pub refusal: Option<String>,
}

/// The content part types either API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// Chat text.
    Text,
    /// Responses input text.
    InputText,
    /// Responses output text (an assistant turn sent back).
    OutputText,
    /// A refusal.
    Refusal,
    /// Chat image.
    ImageUrl,
    /// Responses image.
    InputImage,
    /// Chat audio.
    InputAudio,
    /// Chat file.
    File,
    /// Responses file.
    InputFile,
}

/// A chat message, of any role.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a message object")]
pub struct ChatMessage {
    /// `role`.
    pub role: Option<ChatRole>,
    /// `content`.
    pub content: Option<Content>,
    /// `name` (the function's, for the legacy `function` role).
    pub name: Option<String>,
    /// An assistant's `refusal` (declared so its type is checked; the engine does not read it).
    #[allow(dead_code)]
    pub refusal: Option<String>,
    /// An assistant's `tool_calls`.
    pub tool_calls: Option<Vec<ChatToolCall>>,
    /// A tool message's `tool_call_id`.
    pub tool_call_id: Option<String>,
}

/// The roles of chat messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// `system`
    System,
    /// `developer`
    Developer,
    /// `user`
    User,
    /// `assistant`
    Assistant,
    /// `tool`
    Tool,
    /// `function` (legacy)
    Function,
}

/// One of an assistant message's `tool_calls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a tool call object")]
pub struct ChatToolCall {
    /// `id`.
    pub id: Option<String>,
    /// `function`.
    pub function: Option<CalledFunction>,
}

/// The function of a chat tool call.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a function call object")]
pub struct CalledFunction {
    /// `name`.
    pub name: Option<String>,
    /// `arguments`, as a JSON string.
    pub arguments: Option<String>,
}

/// What every Responses input item has: its type (absent means a message) and an id.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "an input item object")]
pub struct ItemHead {
    /// `type` (may be left out for a message, never `null`).
    #[serde(rename = "type", default, deserialize_with = "non_null")]
    pub kind: Option<ItemKind>,
    /// `id`, if the caller gave one.
    pub id: Option<String>,
}

/// The Responses input item types this server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A message.
    Message,
    /// A function call the model made.
    FunctionCall,
    /// The output of a function call.
    FunctionCallOutput,
    /// Reasoning (carried, not read).
    Reasoning,
    /// A reference to an earlier item (carried, not read).
    ItemReference,
    /// A compacted conversation (`POST /v1/responses/compact`).
    Compaction,
}

/// A Responses message item.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageItem {
    /// `role`.
    pub role: Option<ItemRole>,
    /// `content`.
    pub content: Option<Content>,
}

/// The roles of Responses message items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemRole {
    /// `user`
    User,
    /// `assistant`
    Assistant,
    /// `system`
    System,
    /// `developer`
    Developer,
}

impl ItemRole {
    /// The role as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
            Self::Developer => "developer",
        }
    }
}

/// A Responses `function_call` item.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionCallItem {
    /// `call_id`.
    pub call_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `arguments`, as a JSON string.
    pub arguments: Option<String>,
}

/// A Responses `function_call_output` item.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionOutputItem {
    /// `call_id`.
    pub call_id: Option<String>,
    /// `output`: text or content parts.
    pub output: Option<Content>,
}

/// A chat tool: the definition nested under `function`. Keys of the other API's form are not
/// read (the documents allow other keys in a tool), so they are never refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a tool object")]
pub struct ChatTool {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<ToolKind>,
    /// The definition.
    pub function: Option<FunctionDef>,
}

/// A Responses tool: the definition's fields beside `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a tool object")]
pub struct ResponseTool {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<ToolKind>,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `strict`.
    pub strict: Option<bool>,
    /// `parameters`.
    pub parameters: Option<Map<String, Value>>,
}

impl ResponseTool {
    /// The definition beside `type`.
    pub fn definition(self) -> FunctionDef {
        FunctionDef {
            name: self.name,
            description: self.description,
            strict: self.strict,
            parameters: self.parameters,
        }
    }
}

/// The tool types this server offers the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// A function the caller runs.
    Function,
}

/// A function definition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a function definition object")]
pub struct FunctionDef {
    /// `name`.
    pub name: Option<String>,
    /// `description`: what the engine reads to decide whether a prompt is about the tool.
    pub description: Option<String>,
    #[allow(dead_code)]
    /// `strict`.
    pub strict: Option<bool>,
    /// `parameters`: a JSON Schema object.
    pub parameters: Option<Map<String, Value>>,
}

/// `tool_choice`: a mode, or a named function.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// `none`, `auto` or `required`.
    Mode(ChoiceMode),
    /// `{"type":"function", …}`.
    Named(NamedChoice),
}

impl<'de> Deserialize<'de> for Choice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ChoiceVisitor;
        impl<'de> Visitor<'de> for ChoiceVisitor {
            type Value = Choice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("none, auto, required or an object naming a function")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Choice, E> {
                ChoiceMode::deserialize(serde::de::value::StrDeserializer::<E>::new(s))
                    .map(Choice::Mode)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Choice, A::Error> {
                NamedChoice::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Choice::Named)
            }
        }
        d.deserialize_any(ChoiceVisitor)
    }
}

/// The string forms of `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceMode {
    /// Never call a tool.
    None,
    /// The model decides.
    Auto,
    /// Call at least one tool.
    Required,
}

/// `tool_choice` naming a function: chat nests the name under `function`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NamedChoice {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<ToolKind>,
    /// Responses' `name`.
    pub name: Option<String>,
    /// Chat's `function`.
    pub function: Option<NamedFunction>,
}

/// Chat's `{"name": …}` inside a named `tool_choice`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NamedFunction {
    /// `name`.
    pub name: Option<String>,
}

/// An output format: chat's `response_format` (schema nested under `json_schema`) or
/// Responses' `text.format` (flat).
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a format object")]
pub struct Format {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<FormatKind>,
    /// Chat's nested schema holder.
    pub json_schema: Option<SchemaHolder>,
    /// Responses' `name` (the schema's fields sit beside `type`).
    pub name: Option<String>,
    /// Responses' `description`.
    pub description: Option<String>,
    /// Responses' `strict`.
    pub strict: Option<bool>,
    /// Responses' `schema`.
    pub schema: Option<Map<String, Value>>,
}

impl Format {
    /// The named schema: nested under `json_schema` (chat), or beside `type`.
    pub fn holder(self, nested: bool) -> Option<SchemaHolder> {
        if nested {
            return self.json_schema;
        }
        Some(SchemaHolder {
            name: self.name,
            description: self.description,
            strict: self.strict,
            schema: self.schema,
        })
    }
}

/// The output format types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against a schema.
    JsonSchema,
}

/// A named JSON Schema.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a JSON schema format object")]
pub struct SchemaHolder {
    /// `name`.
    pub name: Option<String>,
    /// `description` (declared so its type is checked, like `strict`).
    #[allow(dead_code)]
    pub description: Option<String>,
    #[allow(dead_code)]
    /// `strict`.
    pub strict: Option<bool>,
    /// `schema`.
    pub schema: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param_of<T: for<'v> Deserialize<'v> + std::fmt::Debug>(v: Value) -> Option<String> {
        decode::<T>(&v, "x")
            .err()
            .and_then(|e| e.param().map(str::to_owned))
    }

    #[test]
    fn a_bad_field_is_named_by_its_full_path() {
        assert_eq!(
            param_of::<ChatMessage>(
                json!({"role": "user", "content": [{"type": "text"}, {"type": 5}]})
            ),
            Some("x.content[1].type".to_owned())
        );
        assert_eq!(
            param_of::<ChatMessage>(json!({"role": "robot"})),
            Some("x.role".to_owned())
        );
        assert_eq!(
            param_of::<ChatTool>(
                json!({"type": "function", "function": {"name": "f", "parameters": 3}})
            ),
            Some("x.function.parameters".to_owned())
        );
        assert_eq!(param_of::<ChatMessage>(json!("hi")), Some("x".to_owned()));
    }

    #[test]
    fn content_is_text_or_parts_and_nothing_else() {
        assert_eq!(
            decode::<Content>(&json!("hi"), "c").ok(),
            Some(Content::Text("hi".into()))
        );
        assert!(matches!(
            decode::<Content>(&json!([{"type": "input_text", "text": "a"}]), "c"),
            Ok(Content::Parts(p)) if p.len() == 1
        ));
        assert!(decode::<Content>(&json!(5), "c").is_err());
        assert!(decode::<Option<Content>>(&json!(null), "c").is_ok_and(|c| c.is_none()));
    }

    #[test]
    fn tool_choice_is_a_mode_or_a_named_function() {
        assert_eq!(
            decode::<Choice>(&json!("required"), "tool_choice").ok(),
            Some(Choice::Mode(ChoiceMode::Required))
        );
        assert!(matches!(
            decode::<Choice>(&json!({"type": "function", "name": "f"}), "tool_choice"),
            Ok(Choice::Named(NamedChoice { name: Some(n), .. })) if n == "f"
        ));
        assert!(decode::<Choice>(&json!("sometimes"), "tool_choice").is_err());
        assert!(decode::<Choice>(&json!(1), "tool_choice").is_err());
    }
}
