//! Text generation and tool decisions, shared by `/v1/responses` and `/v1/chat/completions`.

use serde_json::{json, Value};

/// One turn of a conversation, in API-neutral form.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Turn {
    /// A message; `role` is user, assistant, system or developer.
    Message {
        /// Who spoke.
        role: String,
        /// The text parts joined.
        text: String,
    },
    /// A tool call the assistant made earlier.
    ToolCall {
        /// Links the call to its output.
        call_id: String,
        /// The function name.
        name: String,
        /// JSON arguments as a string.
        arguments: String,
    },
    /// The caller's result for a tool call.
    ToolOutput {
        /// The call it answers.
        call_id: String,
        /// The output text.
        output: String,
    },
}

/// Everything the engine reads.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Conversation {
    /// `instructions` / system / developer text.
    pub instructions: Vec<String>,
    /// The turns, oldest first.
    pub turns: Vec<Turn>,
}

pub use super::tool_pick::ToolSpec;

/// The caller's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// Never call a tool.
    None,
    /// Call a tool when the prompt is about one (see `tool_pick`).
    #[default]
    Auto,
    /// Always call a tool.
    Required,
    /// Call this function.
    Named(String),
}

/// The shape asked for the answer text.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ReplyFormat {
    /// Plain text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against this schema.
    JsonSchema(Value),
}

/// What the engine answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// An assistant message with this text.
    Text(String),
    /// A call of `name` with JSON `arguments`.
    Call {
        /// Function name.
        name: String,
        /// JSON arguments as a string.
        arguments: String,
    },
}

/// A decision with its token accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to send.
    pub decision: Decision,
    /// Tokens read.
    pub input_tokens: usize,
}

impl Conversation {
    /// Tokens the conversation counts for: every text plus a small per-turn overhead,
    /// as chat formats spend a few tokens on role markers.
    pub fn input_tokens(&self) -> usize {
        let texts = self
            .instructions
            .iter()
            .map(|t| super::tokens::count(t) + 3);
        let turns = self.turns.iter().map(|t| match t {
            Turn::Message { text, .. } => super::tokens::count(text) + 3,
            Turn::ToolCall {
                name, arguments, ..
            } => super::tokens::count(name) + super::tokens::count(arguments) + 3,
            Turn::ToolOutput { output, .. } => super::tokens::count(output) + 3,
        });
        texts.chain(turns).sum::<usize>().max(1)
    }

    /// Whether a tool call with `call_id` is among the turns.
    pub fn has_call(&self, call_id: &str) -> bool {
        self.turns
            .iter()
            .any(|t| matches!(t, Turn::ToolCall { call_id: c, .. } if c == call_id))
    }

    fn last_user_text(&self) -> Option<&str> {
        self.turns.iter().rev().find_map(|t| match t {
            Turn::Message { role, text } if role == "user" => Some(text.as_str()),
            _ => None,
        })
    }

    fn user_turns(&self) -> usize {
        self.turns
            .iter()
            .filter(|t| matches!(t, Turn::Message { role, .. } if role == "user"))
            .count()
    }
}

/// Decides the answer to `conversation`.
pub fn reply(
    conversation: &Conversation,
    tools: &[ToolSpec],
    choice: &ToolChoice,
    format: &ReplyFormat,
) -> Reply {
    let input_tokens = conversation.input_tokens();
    let prompt = conversation.last_user_text().unwrap_or_default();
    let answered_tool = matches!(conversation.turns.last(), Some(Turn::ToolOutput { .. }));
    if !answered_tool {
        if let Some(tool) = pick_tool(tools, choice, prompt) {
            let arguments = super::json_gen::generate(&tool.parameters, prompt).to_string();
            return Reply {
                decision: Decision::Call {
                    name: tool.name.clone(),
                    arguments,
                },
                input_tokens,
            };
        }
    }
    let text = answer_text(conversation, prompt);
    let text = match format {
        ReplyFormat::Text => text,
        ReplyFormat::JsonObject => json!({ "answer": text }).to_string(),
        ReplyFormat::JsonSchema(schema) => super::json_gen::generate(schema, prompt).to_string(),
    };
    Reply {
        decision: Decision::Text(text),
        input_tokens,
    }
}

fn pick_tool<'t>(tools: &'t [ToolSpec], choice: &ToolChoice, prompt: &str) -> Option<&'t ToolSpec> {
    let mentioned = || super::tool_pick::about(tools, prompt);
    match choice {
        ToolChoice::None => None,
        ToolChoice::Auto => mentioned(),
        ToolChoice::Required => mentioned().or(tools.first()),
        ToolChoice::Named(name) => tools.iter().find(|t| &t.name == name),
    }
}

fn answer_text(conversation: &Conversation, prompt: &str) -> String {
    if let Some(Turn::ToolOutput { call_id, output }) = conversation.turns.last() {
        let name = conversation
            .turns
            .iter()
            .find_map(|t| match t {
                Turn::ToolCall {
                    call_id: c, name, ..
                } if c == call_id => Some(name.as_str()),
                _ => None,
            })
            .unwrap_or("tool");
        return format!("The {name} tool returned: {output}");
    }
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return "I received your message.".to_owned();
    }
    if let Some(sum) = arithmetic(prompt) {
        return sum;
    }
    let turns = conversation.user_turns();
    if turns > 1 {
        format!("You said: {prompt} (turn {turns} of our conversation)")
    } else {
        format!("You said: {prompt}")
    }
}

/// Answers the first `a op b` in the prompt, so eval suites have something exact to grade.
fn arithmetic(prompt: &str) -> Option<String> {
    let spaced: String = prompt
        .chars()
        .flat_map(|c| {
            if "+-*/×?".contains(c) {
                vec![' ', c, ' ']
            } else {
                vec![c]
            }
        })
        .collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    for w in words.windows(3) {
        let (Ok(a), Ok(b)) = (w[0].parse::<i64>(), w[2].parse::<i64>()) else {
            continue;
        };
        let result = match w[1] {
            "+" | "plus" => a.checked_add(b),
            "-" | "minus" => a.checked_sub(b),
            "*" | "×" | "x" | "times" => a.checked_mul(b),
            "/" if b != 0 && a % b == 0 => Some(a / b),
            _ => None,
        }?;
        return Some(format!("{a} {} {b} = {result}.", w[1]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Conversation {
        Conversation {
            instructions: vec![],
            turns: vec![Turn::Message {
                role: "user".into(),
                text: text.into(),
            }],
        }
    }

    #[test]
    fn echoes_plain_prompts() {
        let r = reply(&user("hello"), &[], &ToolChoice::Auto, &ReplyFormat::Text);
        assert_eq!(r.decision, Decision::Text("You said: hello".into()));
    }

    #[test]
    fn does_arithmetic() {
        let r = reply(
            &user("What is 12 * 3?"),
            &[],
            &ToolChoice::Auto,
            &ReplyFormat::Text,
        );
        assert_eq!(r.decision, Decision::Text("12 * 3 = 36.".into()));
    }

    #[test]
    fn calls_a_tool_named_in_the_prompt() {
        let tools = [ToolSpec {
            name: "get_weather".into(),
            description: None,
            parameters: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        }];
        let r = reply(
            &user("Use get_weather for Paris"),
            &tools,
            &ToolChoice::Auto,
            &ReplyFormat::Text,
        );
        assert_eq!(
            r.decision,
            Decision::Call {
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }
        );
        let none = reply(
            &user("Use get_weather"),
            &tools,
            &ToolChoice::None,
            &ReplyFormat::Text,
        );
        assert!(matches!(none.decision, Decision::Text(_)));
    }

    #[test]
    fn answers_a_tool_output() {
        let mut c = user("weather?");
        c.turns.push(Turn::ToolCall {
            call_id: "c1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        });
        c.turns.push(Turn::ToolOutput {
            call_id: "c1".into(),
            output: "sunny".into(),
        });
        let r = reply(&c, &[], &ToolChoice::Required, &ReplyFormat::Text);
        assert_eq!(
            r.decision,
            Decision::Text("The get_weather tool returned: sunny".into())
        );
    }
}
