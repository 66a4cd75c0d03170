//! The layer every request goes through (`envelope`) and its parts.

pub mod auth;
pub mod context;
pub mod drain;
pub mod envelope;
pub mod idempotency;
pub mod rate_limit;
pub mod shed;
pub mod v1;
