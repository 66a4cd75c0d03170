//! The models the server offers, as `GET /v1/models` shows them: built from the configuration
//! once, when the app is built, so state does not reach into the routes for it.

use crate::config::{Config, ModelConfig};
use serde_json::{json, Value};

/// One model as the wire shows it.
pub fn model_object(m: &ModelConfig) -> Value {
    json!({
        "id": m.id,
        "object": "model",
        "created": m.created,
        "owned_by": m.owned_by,
    })
}

/// The list body for `config`, serialised once when the app is built.
pub fn list_body(config: &Config) -> bytes::Bytes {
    let data: Vec<Value> = config.models.iter().map(model_object).collect();
    bytes::Bytes::from(json!({ "object": "list", "data": data }).to_string())
}
