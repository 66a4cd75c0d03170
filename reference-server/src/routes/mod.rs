//! One module per resource, each with a `router()`.

pub mod chat;
pub mod compact;
pub mod dreams;
pub mod embed_cache;
pub mod embeddings;
pub mod health;
pub mod indexes;
pub mod input;
pub mod models;
pub mod openapi;
pub mod params;
pub mod responses;
pub mod socket;
pub mod table;
pub mod wire;

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A new object id such as `resp_3f2a…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}
