//! The JSON Schemas of `schemas/`, compiled once and embedded in the binary so a run needs
//! no files beside it.

use serde_json::Value;
use std::collections::HashMap;

/// Every schema the checks use, by short name (the file name without `.schema.json`).
pub const SOURCES: &[(&str, &str)] = &[
    ("error", include_str!("../../schemas/error.schema.json")),
    ("model", include_str!("../../schemas/model.schema.json")),
    (
        "model-list",
        include_str!("../../schemas/model-list.schema.json"),
    ),
    (
        "embedding-response",
        include_str!("../../schemas/embedding-response.schema.json"),
    ),
    (
        "embedding-response-base64",
        include_str!("../../schemas/embedding-response-base64.schema.json"),
    ),
    (
        "chat-completion",
        include_str!("../../schemas/chat-completion.schema.json"),
    ),
    (
        "chat-completion-chunk",
        include_str!("../../schemas/chat-completion-chunk.schema.json"),
    ),
    (
        "response",
        include_str!("../../schemas/response.schema.json"),
    ),
    (
        "response-stream-event",
        include_str!("../../schemas/response-stream-event.schema.json"),
    ),
    (
        "response-deleted",
        include_str!("../../schemas/response-deleted.schema.json"),
    ),
    (
        "response-item-list",
        include_str!("../../schemas/response-item-list.schema.json"),
    ),
    ("index", include_str!("../../schemas/index.schema.json")),
    (
        "index-list",
        include_str!("../../schemas/index-list.schema.json"),
    ),
    (
        "index-deleted",
        include_str!("../../schemas/index-deleted.schema.json"),
    ),
    (
        "index-item",
        include_str!("../../schemas/index-item.schema.json"),
    ),
    (
        "index-item-list",
        include_str!("../../schemas/index-item-list.schema.json"),
    ),
    (
        "index-item-deleted",
        include_str!("../../schemas/index-item-deleted.schema.json"),
    ),
    (
        "index-search-results",
        include_str!("../../schemas/index-search-results.schema.json"),
    ),
    ("dream", include_str!("../../schemas/dream.schema.json")),
    (
        "dream-stream-event",
        include_str!("../../schemas/dream-stream-event.schema.json"),
    ),
    ("report", include_str!("../../schemas/report.schema.json")),
];

/// Compiled validators.
pub struct Schemas {
    validators: HashMap<&'static str, jsonschema::Validator>,
}

impl Schemas {
    /// Compiles every embedded schema.
    pub fn load() -> Result<Self, String> {
        let mut validators = HashMap::new();
        for (name, text) in SOURCES {
            let schema: Value = serde_json::from_str(text)
                .map_err(|e| format!("schema {name} is not JSON: {e}"))?;
            let validator = jsonschema::draft202012::new(&schema)
                .map_err(|e| format!("schema {name} does not compile: {e}"))?;
            validators.insert(*name, validator);
        }
        Ok(Self { validators })
    }

    /// The problems of `instance` against schema `name`, as `path: message` lines (at most 5).
    pub fn problems(&self, name: &str, instance: &Value) -> Vec<String> {
        let Some(validator) = self.validators.get(name) else {
            return vec![format!("no schema named {name}")];
        };
        validator
            .iter_errors(instance)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                format!(
                    "{}: {e}",
                    if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path
                    }
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles() {
        assert!(Schemas::load().is_ok());
    }

    #[test]
    fn the_error_schema_wants_all_four_keys() {
        let s = Schemas::load().unwrap();
        assert!(s
            .problems(
                "error",
                &json!({"error": {"message": "m", "type": "t", "param": null, "code": null}})
            )
            .is_empty());
        let p = s.problems("error", &json!({"error": {"message": "m", "type": "t"}}));
        assert!(p.iter().any(|l| l.contains("param")), "{p:?}");
    }

    /// Open Responses labels assistant output messages with a `phase` (its compliance suite's
    /// "response-output-phase-schema"): a response that carries them is a valid response.
    #[test]
    fn output_messages_may_carry_a_phase() {
        let s = Schemas::load().unwrap();
        let message = |id: &str, phase: &str| {
            json!({"id": id, "type": "message", "status": "completed", "role": "assistant", "phase": phase,
                   "content": [{"type": "output_text", "text": "four", "annotations": [], "logprobs": []}]})
        };
        let response = json!({
            "id": "resp_1", "object": "response", "created_at": 1764967971, "completed_at": 1764967972,
            "status": "completed", "incomplete_details": null, "model": "m", "previous_response_id": null,
            "instructions": null, "error": null, "tools": [], "tool_choice": "auto", "truncation": "disabled",
            "parallel_tool_calls": true, "text": {"format": {"type": "text"}}, "top_p": 1, "presence_penalty": 0,
            "frequency_penalty": 0, "top_logprobs": 0, "temperature": 1, "reasoning": {"effort": null, "summary": null},
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
            "max_output_tokens": null, "max_tool_calls": null, "store": true, "background": false,
            "service_tier": "default", "metadata": {}, "safety_identifier": null, "prompt_cache_key": null,
            "output": [message("msg_1", "commentary"), message("msg_2", "final_answer")],
        });
        assert_eq!(s.problems("response", &response), Vec::<String>::new());
    }
}
