//! What a graded answer is: the text and the function calls of one reply, read from a chat
//! completion or a Responses object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One reply, as graders see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The text (output text parts joined; empty when the reply is only calls).
    pub text: String,
    /// Function calls, in order.
    pub tool_calls: Vec<ToolCall>,
}

/// A function call in a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The function.
    pub name: String,
    /// Its arguments, as the JSON text sent.
    pub arguments: String,
}

impl Answer {
    /// A text-only answer.
    pub fn text(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            tool_calls: Vec::new(),
        }
    }

    /// The first choice of a chat completion, or why the body is not one.
    pub fn from_chat(body: &Value) -> Result<Self, String> {
        let message = body
            .get("choices")
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("message"))
            .ok_or("the body has no choices[0].message")?;
        let text = match message.get("content") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => return Err(format!("choices[0].message.content is {other}, not text")),
        };
        let mut tool_calls = Vec::new();
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function").ok_or("a tool call has no function")?;
            tool_calls.push(ToolCall {
                name: string(function, "name")?,
                arguments: string(function, "arguments")?,
            });
        }
        Ok(Self { text, tool_calls })
    }

    /// The output of a Responses object, or why the body is not one.
    pub fn from_responses(body: &Value) -> Result<Self, String> {
        let output = body
            .get("output")
            .and_then(Value::as_array)
            .ok_or("the body has no output list")?;
        let mut texts = Vec::new();
        let mut tool_calls = Vec::new();
        for item in output {
            match item.get("type").and_then(Value::as_str) {
                Some("message") => {
                    for part in item
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if part.get("type").and_then(Value::as_str) == Some("output_text") {
                            texts.push(string(part, "text")?);
                        }
                    }
                }
                Some("function_call") => tool_calls.push(ToolCall {
                    name: string(item, "name")?,
                    arguments: string(item, "arguments")?,
                }),
                _ => {}
            }
        }
        Ok(Self {
            text: texts.join(""),
            tool_calls,
        })
    }
}

fn string(value: &Value, key: &str) -> Result<String, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("`{key}` is missing or not text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_chat_text_and_calls() {
        let a = Answer::from_chat(&json!({"choices": [{"message": {"content": null,
            "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}]}));
        assert_eq!(
            a,
            Ok(Answer {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    name: "f".into(),
                    arguments: "{}".into()
                }]
            })
        );
        assert!(Answer::from_chat(&json!({"error": {}})).is_err());
    }

    #[test]
    fn reads_responses_output() {
        let a = Answer::from_responses(&json!({"output": [
            {"type": "reasoning"},
            {"type": "message", "content": [{"type": "output_text", "text": "a"}, {"type": "output_text", "text": "b"}]}
        ]}));
        assert_eq!(a.map(|a| a.text), Ok("ab".to_owned()));
        assert!(Answer::from_responses(&json!({"output": "x"})).is_err());
    }
}
