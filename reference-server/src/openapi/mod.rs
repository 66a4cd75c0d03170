//! The facade's OpenAPI document: `schemas/openapi.yaml` is the source of truth; it refers to
//! the JSON Schemas beside it, and the server serves it bundled into one self-contained
//! document at `/openapi.json`.
//!
//! The document is compiled into the binary, so what a build serves is what was tested.

pub use kit_formats::{bundle, yaml};

pub use bundle::{bundle, component_name, external_refs};

use serde_json::Value;
use std::sync::OnceLock;

/// `schemas/openapi.yaml` as written.
pub const SOURCE: &str = include_str!("../../../schemas/openapi.yaml");

/// The files of `schemas/` the document may refer to.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    (
        "chat-completion-chunk.schema.json",
        include_str!("../../../schemas/chat-completion-chunk.schema.json"),
    ),
    (
        "chat-completion.schema.json",
        include_str!("../../../schemas/chat-completion.schema.json"),
    ),
    (
        "dream.schema.json",
        include_str!("../../../schemas/dream.schema.json"),
    ),
    (
        "dream-stream-event.schema.json",
        include_str!("../../../schemas/dream-stream-event.schema.json"),
    ),
    (
        "embedding-response-base64.schema.json",
        include_str!("../../../schemas/embedding-response-base64.schema.json"),
    ),
    (
        "embedding-response.schema.json",
        include_str!("../../../schemas/embedding-response.schema.json"),
    ),
    (
        "error.schema.json",
        include_str!("../../../schemas/error.schema.json"),
    ),
    (
        "index.schema.json",
        include_str!("../../../schemas/index.schema.json"),
    ),
    (
        "index-list.schema.json",
        include_str!("../../../schemas/index-list.schema.json"),
    ),
    (
        "index-deleted.schema.json",
        include_str!("../../../schemas/index-deleted.schema.json"),
    ),
    (
        "index-item.schema.json",
        include_str!("../../../schemas/index-item.schema.json"),
    ),
    (
        "index-item-list.schema.json",
        include_str!("../../../schemas/index-item-list.schema.json"),
    ),
    (
        "index-item-deleted.schema.json",
        include_str!("../../../schemas/index-item-deleted.schema.json"),
    ),
    (
        "index-search-results.schema.json",
        include_str!("../../../schemas/index-search-results.schema.json"),
    ),
    (
        "model-list.schema.json",
        include_str!("../../../schemas/model-list.schema.json"),
    ),
    (
        "model.schema.json",
        include_str!("../../../schemas/model.schema.json"),
    ),
    (
        "response-deleted.schema.json",
        include_str!("../../../schemas/response-deleted.schema.json"),
    ),
    (
        "response-item-list.schema.json",
        include_str!("../../../schemas/response-item-list.schema.json"),
    ),
    (
        "response-stream-event.schema.json",
        include_str!("../../../schemas/response-stream-event.schema.json"),
    ),
    (
        "response.schema.json",
        include_str!("../../../schemas/response.schema.json"),
    ),
];

/// The crate version, plus `+<commit>` when the build knew its git commit.
pub fn service_version() -> String {
    match option_env!("REFSERVER_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            format!("{}+{commit}", env!("CARGO_PKG_VERSION"))
        }
        _ => env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// Parses and bundles [`SOURCE`].
pub fn build_document() -> Result<Value, String> {
    let mut doc = yaml::parse(SOURCE).map_err(|e| format!("schemas/openapi.yaml: {e}"))?;
    bundle(&mut doc, &mut |file| {
        let text = SCHEMA_FILES
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, text)| *text)
            .ok_or_else(|| "not among the schema files compiled in".to_owned())?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    })?;
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("x-service-version".into(), Value::String(service_version()));
    }
    Ok(doc)
}

/// The bundled document, built once.
pub fn document() -> Result<&'static Value, &'static str> {
    static DOC: OnceLock<Result<Value, String>> = OnceLock::new();
    DOC.get_or_init(build_document)
        .as_ref()
        .map_err(String::as_str)
}
